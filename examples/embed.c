/* The README's example: create a machine, map memory, print maps, tear down. */
#include <aspace/aspace.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>

int main(void)
{
	struct as_machine *m;
	struct as_mm *mm;
	struct as_machine_stats st;

	if (as_machine_new(NULL, &m) != 0) /* 1 GiB of simulated RAM */
		return 1;
	if (as_mm_new(m, &mm) != 0) /* an empty space, as after exec */
		return 1;
	long addr = as_syscall(mm, SYS_mmap, 0, 1 << 20, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
	printf("mmap: %#lx\n", addr); /* 0x7ffff7eff000, where Linux puts it */
	as_mm_write_maps(mm, stdout); /* /proc/PID/maps, byte for byte */
	as_mm_put(mm);                /* exit: every frame goes back */
	as_machine_drain(m);
	as_machine_get_stats(m, &st);
	printf("free frames: %llu of %llu\n", (unsigned long long)st.free_frames,
	       (unsigned long long)st.total_frames);
	as_machine_free(m);
	return 0;
}
