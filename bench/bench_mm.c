/*
 * Address-space benchmarks through the public API: demand-zero and COW
 * faults, TLB hits, mmap+munmap pairs at 1,000 and 1,000,000 regions, and
 * fork+exit of spaces with 256 MiB and 1 GiB touched. Prints a table; no
 * assertions (run with `make bench`).
 */
#include <aspace/aspace.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static struct as_machine *machine(uint64_t ram, uint64_t max_map_count, int zero_page)
{
	struct as_machine_config cfg;
	struct as_machine *m;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = ram;
	cfg.max_map_count = max_map_count;
	cfg.zero_page = zero_page;
	cfg.prefault = 1;
	if (as_machine_new(&cfg, &m) != 0) {
		fprintf(stderr, "bench: cannot create a machine\n");
		exit(1);
	}
	return m;
}

static long map(struct as_mm *mm, uint64_t addr, uint64_t len, int prot, int flags)
{
	return as_syscall(mm, SYS_mmap, addr, len, (uint64_t)prot, (uint64_t)flags, (uint64_t)-1, 0);
}

static void bench_faults(void)
{
	const uint64_t pages = 65536; /* 256 MiB */
	struct as_machine *m = machine(2ull << 30, 65530, 1);
	struct as_mm *mm, *child;
	struct as_tlb *tlb;
	double t0, t;
	long a;
	volatile uint64_t sink = 0;

	as_mm_new(m, &mm);
	a = map(mm, 0, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	t0 = now_ns();
	for (uint64_t i = 0; i < pages; i++)
		as_write(mm, (uint64_t)a + i * 4096, "x", 1, NULL);
	t = now_ns() - t0;
	printf("%-44s %10.1f ns\n", "demand-zero write fault (as_write, 1 byte)", t / pages);

	as_mm_fork(mm, &child);
	t0 = now_ns();
	for (uint64_t i = 0; i < pages; i++)
		as_write(child, (uint64_t)a + i * 4096, "y", 1, NULL);
	t = now_ns() - t0;
	printf("%-44s %10.1f ns\n", "COW copy fault after fork (as_write)", t / pages);
	t0 = now_ns();
	for (uint64_t i = 0; i < pages; i++)
		as_write(mm, (uint64_t)a + i * 4096, "z", 1, NULL);
	t = now_ns() - t0;
	printf("%-44s %10.1f ns\n", "COW reuse fault (sole owner, as_write)", t / pages);
	as_mm_put(child);

	as_tlb_new(mm, &tlb);
	{
		const uint64_t n = 50000000;
		void *p;

		for (uint64_t i = 0; i < 64; i++)
			as_tlb_translate(tlb, (uint64_t)a + i * 4096, PROT_READ, &p, NULL);
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++) {
			as_tlb_translate(tlb, (uint64_t)a + (i & 63) * 4096 + 8, PROT_READ, &p, NULL);
			sink += *(volatile uint64_t *)p;
		}
		t = now_ns() - t0;
		printf("%-44s %10.2f ns\n", "TLB hit + 8-byte read (as_tlb_translate)", t / n);
		t0 = now_ns();
		for (uint64_t i = 0; i < n / 10; i++) {
			uint64_t v;

			as_read(mm, (uint64_t)a + (i & 63) * 4096 + 8, &v, 8, NULL);
			sink += v;
		}
		t = now_ns() - t0;
		printf("%-44s %10.2f ns\n", "8-byte read through as_read (page walk)", t / (n / 10));
	}
	as_tlb_free(tlb);
	as_mm_put(mm);
	as_machine_free(m);
	(void)sink;
}

/* One mmap+munmap pair in a space holding `regions` regions. */
static double pair_cost(uint64_t regions)
{
	struct as_machine *m = machine(256ull << 20, regions + 100, 1);
	struct as_mm *mm;
	const int iters = 200000;
	double t0, t;

	as_mm_new(m, &mm);
	/* Alternate protections so that neighbours don't merge. */
	for (uint64_t i = 0; i < regions; i++)
		map(mm, 0x100000000ull + i * 8192, 4096, (i & 1) ? PROT_READ : PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
	t0 = now_ns();
	for (int i = 0; i < iters; i++) {
		long a = map(mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

		as_syscall(mm, SYS_munmap, (uint64_t)a, 4096, 0, 0, 0, 0);
	}
	t = (now_ns() - t0) / iters;
	as_mm_put(mm);
	as_machine_free(m);
	return t;
}

static void bench_region_scaling(void)
{
	double small = pair_cost(1000), big = pair_cost(1000000);

	printf("%-44s %10.1f ns\n", "mmap+munmap pair, 1,000 regions", small);
	printf("%-44s %10.1f ns\n", "mmap+munmap pair, 1,000,000 regions", big);
	printf("%-44s %10.2f (required <= 2)\n", "ratio", big / small);
}

static void bench_fork_exit(uint64_t bytes, const char *label)
{
	struct as_machine *m = machine(bytes + (512ull << 20), 65530, 1);
	struct as_mm *mm, *child;
	const int iters = 5;
	double t0, t;
	long a;

	as_mm_new(m, &mm);
	a = map(mm, 0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE);
	(void)a;
	t0 = now_ns();
	for (int i = 0; i < iters; i++) {
		as_mm_fork(mm, &child);
		as_mm_put(child);
	}
	t = (now_ns() - t0) / iters;
	printf("fork+exit, %-33s %10.2f ms (%.1f ns/page)\n", label, t / 1e6, t / (bytes / 4096));
	as_mm_put(mm);
	as_machine_free(m);
}

int main(void)
{
	printf("aspace benchmarks (release build; compare MACHINE.md's kernel figures)\n\n");
	bench_faults();
	bench_region_scaling();
	bench_fork_exit(256ull << 20, "256 MiB touched");
	bench_fork_exit(1ull << 30, "1 GiB touched");
	return 0;
}
