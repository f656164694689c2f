/*
 * The region-changing system calls: mprotect, mlock/mlock2/munlock,
 * mlockall/munlockall, madvise, msync, mincore. Every expected value here
 * was first observed on the host kernel (Linux 6.18 x86-64, run under
 * setarch -R, unprivileged where RLIMIT_MEMLOCK matters) with small probe
 * programs making the same calls at the same addresses.
 */
#include "testlib.h"
#include <aspace/mman.h>

#include "mm/mm.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG 4096ull
#define BASE 0x200000000ull
#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)

#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#define CAP_IPC_LOCK_BIT (1ull << 14)

static long sc(struct as_mm *mm, long nr, uint64_t a, uint64_t b, uint64_t c)
{
	return as_syscall(mm, nr, a, b, c, 0, 0, 0);
}

/* mmap(addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | extra). */
static uint64_t map_at(struct as_mm *mm, uint64_t addr, uint64_t len, int prot, int extra)
{
	long r = as_syscall(mm, SYS_mmap, addr, len, (uint64_t)prot,
			    (uint64_t)(PA | MAP_FIXED_NOREPLACE | extra), (uint64_t)-1, 0);

	assert_int_equal(r, (long)addr);
	return addr;
}

__attribute__((noinline)) static char *text_of(struct as_mm *mm, int (*writer)(struct as_mm *, FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(writer(mm, f), 0);
	fclose(f);
	return buf;
}

/* The maps lines of the space but the [vsyscall] line. */
static void assert_maps(struct as_mm *mm, const char *expected)
{
	char *text = text_of(mm, as_mm_write_maps), got[4096];
	char *gate = strstr(text, "ffffffffff600000-");

	bool found = gate != NULL;

	if (gate)
		*gate = 0;
	snprintf(got, sizeof(got), "%s", text);
	free(text);
	assert_true(found);
	assert_string_equal(got, expected);
}

/* The VmFlags of the region starting at start, as smaps prints them ("rd wr ... "). */
static void assert_vmflags(struct as_mm *mm, uint64_t start, const char *expected)
{
	char *text = text_of(mm, as_mm_write_smaps), head[64], got[256] = "(no region)", *p;

	snprintf(head, sizeof(head), "\n%08" PRIx64 "-", start);
	p = strncmp(text, head + 1, strlen(head + 1)) == 0 ? text : strstr(text, head);
	if (p)
		p = strstr(p, "VmFlags: ");
	if (p)
		sscanf(p + strlen("VmFlags: "), "%255[^\n]", got);
	free(text);
	assert_string_equal(got, expected);
}

static struct as_mm_counters counters(struct as_mm *mm)
{
	struct as_mm_counters c;

	as_mm_get_counters(mm, &c);
	return c;
}

static void touch(struct as_mm *mm, uint64_t addr, uint64_t len)
{
	for (uint64_t a = addr; a < addr + len; a += PG)
		assert_int_equal(as_write(mm, a, "x", 1, NULL), 0);
}

static void end_test(struct as_machine *m, struct as_mm *mm)
{
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static struct as_mm *new_space(struct as_machine *m)
{
	struct as_mm *mm;

	assert_int_equal(as_mm_new(m, &mm), 0);
	return mm;
}

/* ---- mprotect ---- */

static void test_mprotect_args(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 4 * PG, PROT_READ, 0);

	/* Both growth directions at once is checked first, then alignment, then len 0. */
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP), -EINVAL);
	assert_int_equal(sc(mm, SYS_mprotect, a + 1, PG, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP), -EINVAL);
	assert_int_equal(sc(mm, SYS_mprotect, a + 1, 0, 0x10), -EINVAL);
	assert_int_equal(sc(mm, SYS_mprotect, a, 0, 0x10), 0);
	assert_int_equal(sc(mm, SYS_mprotect, a, 0, PROT_GROWSUP | PROT_GROWSDOWN), -EINVAL);
	/* Wrap-around before unknown prot bits. */
	assert_int_equal(sc(mm, SYS_mprotect, a, -4096ull, 0x10), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, a, -1ull, 0x10), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, a, -4096ull, PROT_READ), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, 0x10), -EINVAL);
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, PROT_SEM | PROT_READ), 0);
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, 0x80000000ull), -EINVAL);
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, (1ull << 32) | PROT_READ), -EINVAL);
	/* Unknown prot bits before the region lookup. */
	assert_int_equal(sc(mm, SYS_mprotect, a - PG, PG, PROT_READ), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, a - PG, 2 * PG, 0x10), -EINVAL);
	/* x86-64 has no VM_GROWSUP; an unmapped start is -ENOMEM first. */
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, PROT_READ | PROT_GROWSUP), -EINVAL);
	assert_int_equal(sc(mm, SYS_mprotect, a - PG, PG, PROT_READ | PROT_GROWSUP), -ENOMEM);
	/* PROT_GROWSDOWN wants a VM_GROWSDOWN region somewhere in the range. */
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, PROT_READ | PROT_GROWSDOWN), -EINVAL);
	assert_int_equal(sc(mm, SYS_mprotect, a - PG, PG, PROT_READ | PROT_GROWSDOWN), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, a - PG, 2 * PG, PROT_READ | PROT_GROWSDOWN), -EINVAL);
	/* Beyond the user address space. */
	assert_int_equal(sc(mm, SYS_mprotect, 0x7ffffffff000ull, 0x10000, PROT_READ), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, 0xffff800000000000ull, PG, PROT_READ), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, 0xfffffffffffff000ull, PG, PROT_READ), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, 0xfffffffffffff000ull, 2 * PG, PROT_READ), -ENOMEM);
	assert_maps(mm, "200000000-200004000 r--p 00000000 00:00 0 \n");
	end_test(m, mm);
}

static void test_mprotect_split_merge_holes(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 4 * PG, PROT_READ, 0);
	struct as_mm_counters c;

	/* A range inside one region splits it in three ... */
	assert_int_equal(sc(mm, SYS_mprotect, a + PG, PG, RW), 0);
	assert_maps(mm, "200000000-200001000 r--p 00000000 00:00 0 \n"
			"200001000-200002000 rw-p 00000000 00:00 0 \n"
			"200002000-200004000 r--p 00000000 00:00 0 \n");
	c = counters(mm);
	assert_int_equal(c.map_count, 3);
	assert_int_equal(c.total_vm, 4);
	assert_int_equal(c.data_vm, 1);
	/* ... and changing it back merges all three again. */
	assert_int_equal(sc(mm, SYS_mprotect, a + PG, PG, PROT_READ), 0);
	assert_maps(mm, "200000000-200004000 r--p 00000000 00:00 0 \n");
	assert_int_equal(counters(mm).data_vm, 0);

	/* A hole: the part before it changes, then -ENOMEM. */
	assert_int_equal(sc(mm, SYS_munmap, a + 2 * PG, PG, 0), 0);
	assert_int_equal(sc(mm, SYS_mprotect, a, 4 * PG, PROT_READ | PROT_EXEC), -ENOMEM);
	assert_maps(mm, "200000000-200002000 r-xp 00000000 00:00 0 \n"
			"200003000-200004000 r--p 00000000 00:00 0 \n");
	c = counters(mm);
	assert_int_equal(c.exec_vm, 2);
	assert_int_equal(c.total_vm, 3);
	assert_int_equal(sc(mm, SYS_mprotect, a, 5 * PG, PROT_READ), -ENOMEM);
	assert_maps(mm, "200000000-200002000 r--p 00000000 00:00 0 \n"
			"200003000-200004000 r--p 00000000 00:00 0 \n");
	assert_int_equal(counters(mm).exec_vm, 0);
	end_test(m, mm);
}

static void test_mprotect_growsdown(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE + 16 * PG, 4 * PG, PROT_READ, MAP_GROWSDOWN);

	assert_int_equal(counters(mm).stack_vm, 4);
	/* The range is extended down to the start of the stack region. */
	assert_int_equal(sc(mm, SYS_mprotect, a + 2 * PG, PG, RW | PROT_GROWSDOWN), 0);
	assert_maps(mm, "200010000-200013000 rw-p 00000000 00:00 0 \n"
			"200013000-200014000 r--p 00000000 00:00 0 \n");
	/* A start in the gap below is moved up to the region's start. */
	assert_int_equal(sc(mm, SYS_mprotect, a - 2 * PG, 3 * PG, PROT_READ | PROT_GROWSDOWN), 0);
	assert_maps(mm, "200010000-200011000 r--p 00000000 00:00 0 \n"
			"200011000-200013000 rw-p 00000000 00:00 0 \n"
			"200013000-200014000 r--p 00000000 00:00 0 \n");
	assert_int_equal(sc(mm, SYS_mprotect, a - 2 * PG, 2 * PG, PROT_READ | PROT_GROWSDOWN), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, a - 2 * PG, 2 * PG, PROT_READ), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, a + PG, PG, RW | PROT_GROWSUP), -EINVAL);
	assert_int_equal(counters(mm).stack_vm, 4);
	end_test(m, mm);
}

/* VM_ACCOUNT: charged when a private region becomes writable, given back while it has no page. */
static void test_mprotect_commit_accounting(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 4 * PG, PROT_READ, 0);

	assert_vmflags(mm, a, "rd mr mw me ");
	assert_int_equal(counters(mm).committed_pages, 0);
	assert_int_equal(sc(mm, SYS_mprotect, a, 4 * PG, RW), 0);
	assert_vmflags(mm, a, "rd wr mr mw me ac ");
	assert_int_equal(counters(mm).committed_pages, 4);
	assert_int_equal(sc(mm, SYS_mprotect, a, 2 * PG, PROT_READ), 0);
	assert_vmflags(mm, a, "rd mr mw me ");
	assert_vmflags(mm, a + 2 * PG, "rd wr mr mw me ac ");
	assert_int_equal(counters(mm).committed_pages, 2);
	assert_int_equal(sc(mm, SYS_munmap, a, 4 * PG, 0), 0);
	assert_int_equal(counters(mm).committed_pages, 0);

	/* A region with an anonymous page keeps its charge when it turns read-only. */
	map_at(mm, a, 4 * PG, RW, 0);
	touch(mm, a, PG);
	assert_int_equal(sc(mm, SYS_mprotect, a, 2 * PG, PROT_READ), 0);
	assert_vmflags(mm, a, "rd mr mw me ac ");
	assert_int_equal(counters(mm).committed_pages, 4);
	assert_int_equal(sc(mm, SYS_mprotect, a, 2 * PG, RW), 0);
	assert_maps(mm, "200000000-200004000 rw-p 00000000 00:00 0 \n");
	assert_vmflags(mm, a, "rd wr mr mw me ac ");
	assert_int_equal(counters(mm).committed_pages, 4);
	assert_int_equal(sc(mm, SYS_munmap, a, 4 * PG, 0), 0);

	/* MAP_NORESERVE regions are never charged. */
	map_at(mm, a, 4 * PG, RW, MAP_NORESERVE);
	assert_int_equal(sc(mm, SYS_mprotect, a, 2 * PG, PROT_READ), 0);
	assert_int_equal(sc(mm, SYS_mprotect, a, 2 * PG, RW), 0);
	assert_vmflags(mm, a, "rd wr mr mw me nr ");
	assert_int_equal(counters(mm).committed_pages, 0);
	end_test(m, mm);
}

/* The entries follow the rights; exclusive anonymous pages become writable without a fault. */
static void test_mprotect_ptes(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 4 * PG, RW, 0), flt;
	struct as_fault f;
	char c;
	unsigned char vec[1];

	touch(mm, a, PG);
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, PROT_READ), 0);
	assert_int_equal(as_write(mm, a, "y", 1, &f), -EFAULT);
	assert_int_equal(f.signo, SIGSEGV);
	assert_int_equal(f.code, SEGV_ACCERR);
	assert_int_equal(as_read(mm, a, &c, 1, NULL), 0);
	assert_int_equal(c, 'x');
	/* Writable again: the page is this space's alone, so no fault is needed. */
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, RW), 0);
	flt = counters(mm).min_flt;
	assert_int_equal(as_write(mm, a, "z", 1, NULL), 0);
	assert_int_equal(counters(mm).min_flt, flt);

	/* PROT_NONE: no access, but the page stays resident. */
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, PROT_NONE), 0);
	assert_int_equal(as_read(mm, a, &c, 1, &f), -EFAULT);
	assert_int_equal(f.code, SEGV_ACCERR);
	map_at(mm, BASE + 64 * PG, PG, RW, 0);
	assert_int_equal(sc(mm, SYS_mincore, a, PG, BASE + 64 * PG), 0);
	assert_int_equal(as_read(mm, BASE + 64 * PG, vec, 1, NULL), 0);
	assert_int_equal(vec[0], 1);
	assert_int_equal(sc(mm, SYS_mprotect, a, PG, RW), 0);
	flt = counters(mm).min_flt;
	assert_int_equal(as_read(mm, a, &c, 1, NULL), 0);
	assert_int_equal(c, 'z');
	assert_int_equal(as_write(mm, a, "w", 1, NULL), 0);
	assert_int_equal(counters(mm).min_flt, flt);
	assert_int_equal(counters(mm).rss_anon, 2);
	end_test(m, mm);
}

/* A right without its MAY bit (a read-only shared file, here made by hand): -EACCES after the regions before. */
static void test_mprotect_eacces(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 2 * PG, PROT_READ, 0);

	map_at(mm, a + 2 * PG, 2 * PG, PROT_READ | PROT_EXEC, 0);
	vma_lookup(&mm->tree, a + 2 * PG)->flags &= ~VM_MAYWRITE;
	assert_int_equal(sc(mm, SYS_mprotect, a, 4 * PG, RW), -EACCES);
	assert_maps(mm, "200000000-200002000 rw-p 00000000 00:00 0 \n"
			"200002000-200004000 r-xp 00000000 00:00 0 \n");
	assert_int_equal(sc(mm, SYS_mprotect, a, 4 * PG, PROT_READ | PROT_EXEC), 0);
	assert_maps(mm, "200000000-200002000 r-xp 00000000 00:00 0 \n"
			"200002000-200004000 r-xp 00000000 00:00 0 \n");
	end_test(m, mm);
}

/* Sealed regions (mseal, made by hand): no mprotect at all, no discarding advice on read-only memory. */
static void test_sealed(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 4 * PG, PROT_READ, 0);
	uint64_t b = map_at(mm, BASE + 8 * PG, 4 * PG, RW, 0);

	vma_lookup(&mm->tree, a)->flags |= VM_SEALED;
	vma_lookup(&mm->tree, b)->flags |= VM_SEALED;
	assert_int_equal(sc(mm, SYS_mprotect, a, 4 * PG, PROT_READ), -EPERM);
	assert_int_equal(sc(mm, SYS_mprotect, a, 4 * PG, RW), -EPERM);
	assert_int_equal(sc(mm, SYS_madvise, a, 4 * PG, MADV_DONTNEED), -EPERM);
	assert_int_equal(sc(mm, SYS_madvise, b, 4 * PG, MADV_DONTNEED), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 4 * PG, MADV_RANDOM), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 4 * PG, MADV_WILLNEED), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 4 * PG, MADV_DONTFORK), -EPERM);
	assert_int_equal(sc(mm, SYS_mlock, a, 4 * PG, 0), 0);
	assert_vmflags(mm, a, "rd mr mw me lo rr sl ");
	assert_vmflags(mm, b, "rd wr mr mw me ac sl ");
	/* Unseal by hand so that the space can be torn down like any other. */
	vma_lookup(&mm->tree, a)->flags &= ~VM_SEALED;
	vma_lookup(&mm->tree, b)->flags &= ~VM_SEALED;
	end_test(m, mm);
}

/*
 * A locked read-only region made writable is faulted in for writing at
 * once. On a kernel without the zero page (this host: pvm_no_zero_page=1)
 * mlock's read faults gave it pages of its own already, which mprotect
 * makes writable in place: a write then needs no fault.
 */
static void test_mprotect_locked_becomes_writable(void **state)
{
	struct as_machine_config cfg;
	struct as_machine *m;
	struct as_mm *mm;
	uint64_t a, flt;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = 32 << 20;
	cfg.zero_page = 0;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	mm = new_space(m);
	a = map_at(mm, BASE, 4 * PG, PROT_READ, 0);
	assert_int_equal(sc(mm, SYS_mlock, a, 4 * PG, 0), 0);
	assert_int_equal(counters(mm).rss_anon, 4);
	assert_int_equal(sc(mm, SYS_mprotect, a, 4 * PG, RW), 0);
	assert_vmflags(mm, a, "rd wr mr mw me lo ac ");
	assert_int_equal(counters(mm).rss_anon, 4);
	flt = counters(mm).min_flt;
	touch(mm, a, 4 * PG);
	assert_int_equal(counters(mm).min_flt, flt);
	end_test(m, mm);
}

static void test_mprotect_rlimit_data(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 256 * PG, PROT_READ, 0);

	assert_int_equal(as_mm_setrlimit(mm, RLIMIT_DATA, 64 * PG, RLIM_INFINITY), 0);
	assert_int_equal(sc(mm, SYS_mprotect, a, 256 * PG, RW), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mprotect, a, 2 * PG, RW), 0);
	assert_maps(mm, "200000000-200002000 rw-p 00000000 00:00 0 \n"
			"200002000-200100000 r--p 00000000 00:00 0 \n");
	assert_int_equal(counters(mm).data_vm, 2);
	end_test(m, mm);
}

/* ---- mlock ---- */

static void test_mlock_args(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);
	struct as_mm_counters c;

	assert_int_equal(sc(mm, SYS_mlock2, a, PG, 2), -EINVAL);
	assert_int_equal(sc(mm, SYS_mlock2, a + 1, PG, 2), -EINVAL);
	assert_int_equal(sc(mm, SYS_mlock2, a, PG, (uint64_t)-1), -EINVAL);
	/* The start is rounded down and the length grows by as much. */
	assert_int_equal(sc(mm, SYS_mlock, a + 100, PG, 0), 0);
	assert_maps(mm, "200000000-200002000 rw-p 00000000 00:00 0 \n"
			"200002000-200010000 rw-p 00000000 00:00 0 \n");
	c = counters(mm);
	assert_int_equal(c.locked_vm, 2);
	assert_int_equal(c.rss_anon, 2); /* faulted in */
	assert_int_equal(sc(mm, SYS_munlock, a + 100, 1, 0), 0);
	assert_maps(mm, "200000000-200001000 rw-p 00000000 00:00 0 \n"
			"200001000-200002000 rw-p 00000000 00:00 0 \n"
			"200002000-200010000 rw-p 00000000 00:00 0 \n");
	assert_int_equal(counters(mm).locked_vm, 1);
	/* Length 0 is fine anywhere; an unmapped start is -ENOMEM. */
	assert_int_equal(sc(mm, SYS_mlock, a, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_mlock, a + 1, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_mlock, a - PG, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_mlock, a - PG, PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mlock, a - PG, 2 * PG, 0), -ENOMEM);
	/* A length that rounds up to 0 locks nothing and succeeds. */
	assert_int_equal(sc(mm, SYS_mlock, a, -1ull, 0), 0);
	/* Huge lengths: over RLIMIT_MEMLOCK first (unprivileged), wrap-around for munlock. */
	assert_int_equal(sc(mm, SYS_mlock, a, -4096ull, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mlock, a, -8192ull, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mlock, a, 1ull << 62, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_munlock, a, -1ull, 0), 0);
	assert_int_equal(sc(mm, SYS_munlock, a, -8192ull, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_munlock, a, 1ull << 62, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_munlock, a - PG, PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_munlock, a - PG, 2 * PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_munlock, 0x7ffffffff000ull, PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mlock, 0xfffffffffffff000ull, PG, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mlock, 0xffffffffffffff00ull, PG, 0), -EINVAL);
	/* The munlock that ran into the end of the mapping unlocked what it passed. */
	assert_int_equal(counters(mm).locked_vm, 0);
	assert_maps(mm, "200000000-200010000 rw-p 00000000 00:00 0 \n");
	end_test(m, mm);
}

static void test_mlock_onfault_split_merge(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);
	struct as_mm_counters c;

	assert_int_equal(sc(mm, SYS_mlock2, a + 2 * PG, 2 * PG, MLOCK_ONFAULT), 0);
	assert_vmflags(mm, a, "rd wr mr mw me ac ");
	assert_vmflags(mm, a + 2 * PG, "rd wr mr mw me lo lf ac ");
	assert_vmflags(mm, a + 4 * PG, "rd wr mr mw me ac ");
	c = counters(mm);
	assert_int_equal(c.locked_vm, 2);
	assert_int_equal(c.rss_anon, 0); /* lock-on-fault faults nothing in */
	/* Locking again without ONFAULT: the pages already locked are not counted twice. */
	assert_int_equal(sc(mm, SYS_mlock2, a + 2 * PG, 4 * PG, 0), 0);
	assert_maps(mm, "200000000-200002000 rw-p 00000000 00:00 0 \n"
			"200002000-200006000 rw-p 00000000 00:00 0 \n"
			"200006000-200010000 rw-p 00000000 00:00 0 \n");
	assert_vmflags(mm, a + 2 * PG, "rd wr mr mw me lo ac ");
	c = counters(mm);
	assert_int_equal(c.locked_vm, 4);
	assert_int_equal(c.rss_anon, 4);
	assert_int_equal(sc(mm, SYS_munlock, a, 16 * PG, 0), 0);
	assert_maps(mm, "200000000-200010000 rw-p 00000000 00:00 0 \n");
	assert_int_equal(counters(mm).locked_vm, 0);
	end_test(m, mm);
}

static void test_mlock_holes_and_prot_none(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);
	struct as_mm_counters c;

	/* A hole: the regions before it stay locked, nothing is faulted in. */
	assert_int_equal(sc(mm, SYS_munmap, a + 4 * PG, PG, 0), 0);
	assert_int_equal(sc(mm, SYS_mlock, a, 8 * PG, 0), -ENOMEM);
	assert_maps(mm, "200000000-200004000 rw-p 00000000 00:00 0 \n"
			"200005000-200010000 rw-p 00000000 00:00 0 \n");
	c = counters(mm);
	assert_int_equal(c.locked_vm, 4);
	assert_int_equal(c.rss_anon, 0);
	assert_int_equal(sc(mm, SYS_munlock, a, 8 * PG, 0), -ENOMEM);
	assert_int_equal(counters(mm).locked_vm, 0);

	/* PROT_NONE: locked all the same, but faulting it in fails: -ENOMEM. */
	assert_int_equal(sc(mm, SYS_mprotect, a + PG, PG, PROT_NONE), 0);
	assert_int_equal(sc(mm, SYS_mlock, a, 2 * PG, 0), -ENOMEM);
	assert_maps(mm, "200000000-200001000 rw-p 00000000 00:00 0 \n"
			"200001000-200002000 ---p 00000000 00:00 0 \n"
			"200002000-200004000 rw-p 00000000 00:00 0 \n"
			"200005000-200010000 rw-p 00000000 00:00 0 \n");
	assert_vmflags(mm, a, "rd wr mr mw me lo ac ");
	/* It had no page when it lost its rights, so it gave its commit charge back. */
	assert_vmflags(mm, a + PG, "mr mw me lo ");
	c = counters(mm);
	assert_int_equal(c.locked_vm, 2);
	assert_int_equal(c.rss_anon, 1); /* the page before the PROT_NONE region */
	assert_int_equal(sc(mm, SYS_mlock, a + PG, PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_munlock, a, 4 * PG, 0), 0);
	/* Lock-on-fault needs no fault-in, so PROT_NONE doesn't matter. */
	assert_int_equal(sc(mm, SYS_mlock2, a, 2 * PG, MLOCK_ONFAULT), 0);
	assert_int_equal(sc(mm, SYS_munlock, a, 4 * PG, 0), 0);
	assert_int_equal(counters(mm).locked_vm, 0);
	end_test(m, mm);
}

static void test_mlock_rlimit(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 4096 * PG, RW, 0);

	/* RLIMIT_MEMLOCK is 8 MiB = 2048 pages. */
	assert_int_equal(sc(mm, SYS_mlock2, a, 2048 * PG, MLOCK_ONFAULT), 0);
	assert_int_equal(counters(mm).locked_vm, 2048);
	assert_int_equal(sc(mm, SYS_mlock, a, 2049 * PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mlock, a + 2048 * PG, PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mlock, a + 1024 * PG, 2048 * PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mlock, a + 1024 * PG, 2049 * PG, 0), -ENOMEM);
	/* Already locked pages are not counted again: relocking the same range fits. */
	assert_int_equal(sc(mm, SYS_mlock2, a, 2048 * PG, MLOCK_ONFAULT), 0);
	assert_int_equal(sc(mm, SYS_munlock, a, 4096 * PG, 0), 0);
	/* MAP_LOCKED and mlockall(MCL_FUTURE) mappings over the limit: -EAGAIN. */
	assert_int_equal(as_syscall(mm, SYS_mmap, BASE + 8192 * PG, 2049 * PG, PROT_READ,
				    PA | MAP_FIXED_NOREPLACE | MAP_LOCKED, (uint64_t)-1, 0), -EAGAIN);
	assert_int_equal(sc(mm, SYS_mlockall, MCL_FUTURE | MCL_ONFAULT, 0, 0), 0);
	assert_int_equal(as_syscall(mm, SYS_mmap, BASE + 8192 * PG, 2049 * PG, PROT_READ,
				    PA | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0), -EAGAIN);
	assert_int_equal(sc(mm, SYS_munlockall, 0, 0, 0), 0);
	/* CAP_IPC_LOCK lifts the limit. */
	assert_int_equal(as_mm_set_caps(mm, CAP_IPC_LOCK_BIT), 0);
	assert_int_equal(sc(mm, SYS_mlock2, a, 4096 * PG, MLOCK_ONFAULT), 0);
	assert_int_equal(counters(mm).locked_vm, 4096);
	assert_int_equal(sc(mm, SYS_munlockall, 0, 0, 0), 0);
	assert_int_equal(as_mm_set_caps(mm, 0), 0);
	/* A zero limit without CAP_IPC_LOCK: EPERM, after the flags are checked. */
	assert_int_equal(as_mm_setrlimit(mm, RLIMIT_MEMLOCK, 0, 8 << 20), 0);
	assert_int_equal(sc(mm, SYS_mlock, a, 0, 0), -EPERM);
	assert_int_equal(sc(mm, SYS_mlock2, a, PG, 2), -EINVAL);
	assert_int_equal(sc(mm, SYS_mlockall, 0, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mlockall, MCL_FUTURE, 0, 0), -EPERM);
	assert_int_equal(sc(mm, SYS_munlock, a, PG, 0), 0);
	assert_int_equal(sc(mm, SYS_munlockall, 0, 0, 0), 0);
	assert_int_equal(counters(mm).locked_vm, 0);
	end_test(m, mm);
}

static void test_mlockall(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);
	struct as_mm_counters c;

	assert_int_equal(sc(mm, SYS_mlockall, 0, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mlockall, MCL_ONFAULT, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mlockall, 8, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mlockall, MCL_ONFAULT | 8, 0, 0), -EINVAL);
	/* MCL_CURRENT: everything is locked and faulted in. */
	assert_int_equal(sc(mm, SYS_mlockall, MCL_CURRENT, 0, 0), 0);
	assert_vmflags(mm, a, "rd wr mr mw me lo ac ");
	c = counters(mm);
	assert_int_equal(c.locked_vm, 16);
	assert_int_equal(c.rss_anon, 16);
	/* MCL_FUTURE alone leaves the current regions as they are. */
	assert_int_equal(sc(mm, SYS_mlockall, MCL_FUTURE | MCL_ONFAULT, 0, 0), 0);
	assert_vmflags(mm, a, "rd wr mr mw me lo ac ");
	map_at(mm, BASE + 64 * PG, 16 * PG, RW, 0);
	assert_vmflags(mm, BASE + 64 * PG, "rd wr mr mw me lo lf ac ");
	c = counters(mm);
	assert_int_equal(c.locked_vm, 32);
	assert_int_equal(c.rss_anon, 16);
	/* munlockall clears everything, def_flags included. */
	assert_int_equal(sc(mm, SYS_munlockall, 0, 0, 0), 0);
	assert_vmflags(mm, a, "rd wr mr mw me ac ");
	assert_vmflags(mm, BASE + 64 * PG, "rd wr mr mw me ac ");
	map_at(mm, BASE + 128 * PG, 16 * PG, PROT_READ, 0);
	assert_vmflags(mm, BASE + 128 * PG, "rd mr mw me ");
	assert_int_equal(counters(mm).locked_vm, 0);
	/* MCL_CURRENT | MCL_ONFAULT: lock-on-fault everywhere, nothing faulted in. */
	assert_int_equal(sc(mm, SYS_mlockall, MCL_CURRENT | MCL_ONFAULT, 0, 0), 0);
	assert_vmflags(mm, BASE + 128 * PG, "rd mr mw me lo lf ");
	c = counters(mm);
	assert_int_equal(c.locked_vm, 48);
	assert_int_equal(c.rss_anon, 16);
	assert_int_equal(sc(mm, SYS_munlockall, 0, 0, 0), 0);
	/* MCL_CURRENT needs total_vm within RLIMIT_MEMLOCK. */
	assert_int_equal(as_mm_setrlimit(mm, RLIMIT_MEMLOCK, 32 * PG, 8 << 20), 0);
	assert_int_equal(sc(mm, SYS_mlockall, MCL_CURRENT | MCL_ONFAULT, 0, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mlockall, MCL_FUTURE, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_munlockall, 0, 0, 0), 0);
	assert_int_equal(counters(mm).locked_vm, 0);
	end_test(m, mm);
}

/* ---- madvise ---- */

static const int valid_advice[] = { 0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				    17, 18, 19, 20, 21, 22, 23, 24, 25, 102, 103 };

static bool is_valid_advice(int b)
{
	for (size_t i = 0; i < sizeof(valid_advice) / sizeof(valid_advice[0]); i++)
		if (valid_advice[i] == b)
			return true;
	return false;
}

static void test_madvise_args(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);

	/* Every advice this kernel knows, on a fresh private region: only REMOVE and COLLAPSE refuse. */
	for (int b = -2; b < 130; b++) {
		long want = !is_valid_advice(b) ? -EINVAL : (b == MADV_REMOVE || b == MADV_COLLAPSE) ? -EINVAL : 0;

		if (sc(mm, SYS_madvise, a, 8 * PG, (uint64_t)b) != want)
			fail_msg("advice %d: %ld, want %ld", b, sc(mm, SYS_madvise, a, 8 * PG, (uint64_t)b), want);
	}
	/* The advice left its flags: SEQUENTIAL, NOHUGEPAGE and the guard mark stayed. */
	assert_vmflags(mm, a, "rd wr mr mw me gu sr ac nh ");
	assert_maps(mm, "200000000-200008000 rw-p 00000000 00:00 0 \n"
			"200008000-200010000 rw-p 00000000 00:00 0 \n");
	/* Nothing mapped at all: every known advice is -ENOMEM. */
	for (int b = -2; b < 130; b++) {
		long want = is_valid_advice(b) ? -ENOMEM : -EINVAL;

		assert_int_equal(sc(mm, SYS_madvise, BASE + (1ull << 29), 2 * PG, (uint64_t)b), want);
	}
	assert_int_equal(sc(mm, SYS_madvise, a + 1, PG, 999), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a + 1, PG, MADV_NORMAL), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, 0, MADV_NORMAL), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 0, 999), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a + 1000 * PG, 0, MADV_NORMAL), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, -1ull, MADV_NORMAL), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, -4096ull, MADV_NORMAL), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, -a, MADV_NORMAL), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, -a - PG, MADV_NORMAL), -ENOMEM);
	assert_int_equal(sc(mm, SYS_madvise, a, -a - PG - 1, MADV_NORMAL), -ENOMEM);
	/* No CONFIG_MEMORY_FAILURE on this kernel: unknown advice. */
	assert_int_equal(sc(mm, SYS_madvise, a, 1, MADV_HWPOISON), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, 1, MADV_SOFT_OFFLINE), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, 0x7ffffffff000ull, PG, MADV_NORMAL), -ENOMEM);
	assert_int_equal(sc(mm, SYS_madvise, 0xffff800000000000ull, PG, MADV_NORMAL), -ENOMEM);
	assert_int_equal(sc(mm, SYS_madvise, 0xfffffffffffff000ull, PG, MADV_NORMAL), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, 0xfffffffffffff000ull, PG, MADV_POPULATE_READ), -EINVAL);
	end_test(m, mm);
}

static void test_madvise_holes(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);

	touch(mm, a, 16 * PG);
	assert_int_equal(sc(mm, SYS_munmap, a + 4 * PG, PG, 0), 0);
	/* A hole is -ENOMEM after the rest was advised; REMOVE and COLLAPSE refuse a region first. */
	for (size_t i = 0; i < sizeof(valid_advice) / sizeof(valid_advice[0]); i++) {
		int b = valid_advice[i];
		long want = (b == MADV_REMOVE || b == MADV_COLLAPSE) ? -EINVAL : -ENOMEM;

		if (b == MADV_DONTNEED || b == MADV_FREE || b == MADV_DONTNEED_LOCKED || b == MADV_PAGEOUT)
			continue;
		if (sc(mm, SYS_madvise, a, 8 * PG, (uint64_t)b) != want)
			fail_msg("advice %d: want %ld", b, want);
		/* Starting in the hole. */
		if (sc(mm, SYS_madvise, a + 4 * PG, 2 * PG, (uint64_t)b) != want)
			fail_msg("advice %d from the hole: want %ld", b, want);
	}
	/* DONTNEED zaps both sides of the hole and still says -ENOMEM (GUARD_INSTALL zapped them too). */
	touch(mm, a, 4 * PG);
	touch(mm, a + 5 * PG, 3 * PG);
	assert_int_equal(counters(mm).rss_anon, 15);
	assert_int_equal(sc(mm, SYS_madvise, a, 8 * PG, MADV_DONTNEED), -ENOMEM);
	assert_int_equal(counters(mm).rss_anon, 8);
	end_test(m, mm);
}

static void test_madvise_flags_split_merge(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);

	assert_int_equal(sc(mm, SYS_madvise, a + PG, 2 * PG, MADV_RANDOM), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 2 * PG, 2 * PG, MADV_SEQUENTIAL), 0);
	assert_maps(mm, "200000000-200001000 rw-p 00000000 00:00 0 \n"
			"200001000-200002000 rw-p 00000000 00:00 0 \n"
			"200002000-200004000 rw-p 00000000 00:00 0 \n"
			"200004000-200010000 rw-p 00000000 00:00 0 \n");
	assert_vmflags(mm, a + PG, "rd wr mr mw me rr ac ");
	assert_vmflags(mm, a + 2 * PG, "rd wr mr mw me sr ac ");
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_NORMAL), 0);
	assert_maps(mm, "200000000-200010000 rw-p 00000000 00:00 0 \n");

	assert_int_equal(sc(mm, SYS_madvise, a + PG, PG, MADV_DONTFORK), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 2 * PG, PG, MADV_WIPEONFORK), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 3 * PG, PG, MADV_DONTDUMP), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 4 * PG, PG, MADV_HUGEPAGE), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 5 * PG, PG, MADV_NOHUGEPAGE), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 6 * PG, PG, MADV_MERGEABLE), 0);
	/* A guard range marks its whole region, without a split. */
	assert_int_equal(sc(mm, SYS_madvise, a + 7 * PG, PG, MADV_GUARD_INSTALL), 0);
	assert_vmflags(mm, a, "rd wr mr mw me ac ");
	assert_vmflags(mm, a + PG, "rd wr mr mw me dc ac ");
	assert_vmflags(mm, a + 2 * PG, "rd wr mr mw me ac wf ");
	assert_vmflags(mm, a + 3 * PG, "rd wr mr mw me ac dd ");
	assert_vmflags(mm, a + 4 * PG, "rd wr mr mw me ac hg ");
	assert_vmflags(mm, a + 5 * PG, "rd wr mr mw me ac nh ");
	assert_vmflags(mm, a + 6 * PG, "rd wr mr mw me ac mg ");
	assert_vmflags(mm, a + 7 * PG, "rd wr mr mw me gu ac ");
	assert_int_equal(counters(mm).map_count, 8);
	/* Undoing merges what became alike; the guard mark doesn't stop a merge. */
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_DOFORK), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_KEEPONFORK), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_DODUMP), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_UNMERGEABLE), 0);
	assert_maps(mm, "200000000-200004000 rw-p 00000000 00:00 0 \n"
			"200004000-200005000 rw-p 00000000 00:00 0 \n"
			"200005000-200006000 rw-p 00000000 00:00 0 \n"
			"200006000-200010000 rw-p 00000000 00:00 0 \n");
	assert_int_equal(sc(mm, SYS_madvise, a + 5 * PG, PG, MADV_HUGEPAGE), 0);
	assert_maps(mm, "200000000-200004000 rw-p 00000000 00:00 0 \n"
			"200004000-200006000 rw-p 00000000 00:00 0 \n"
			"200006000-200010000 rw-p 00000000 00:00 0 \n");
	assert_int_equal(sc(mm, SYS_madvise, a + 4 * PG, 2 * PG, MADV_NOHUGEPAGE), 0);
	assert_vmflags(mm, a + 4 * PG, "rd wr mr mw me ac nh ");
	assert_int_equal(counters(mm).map_count, 3);
	end_test(m, mm);
}

/*
 * The guard mark is sticky (Linux's VM_STICKY): a region merged with a
 * marked one is marked, whichever side carried the mark. The merge itself
 * (vma_ops.c) must carry the mark of the regions it absorbs.
 */
static void test_madvise_guard_sticky(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);

	assert_int_equal(sc(mm, SYS_madvise, a + 6 * PG, PG, MADV_MERGEABLE), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 7 * PG, PG, MADV_GUARD_INSTALL), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_UNMERGEABLE), 0);
	assert_maps(mm, "200000000-200010000 rw-p 00000000 00:00 0 \n");
	assert_vmflags(mm, a, "rd wr mr mw me gu ac ");
	assert_int_equal(sc(mm, SYS_munmap, a, 16 * PG, 0), 0);

	/* mprotect: a marked region and its neighbour made alike merge, marked. */
	map_at(mm, a, 4 * PG, RW, 0);
	map_at(mm, a + 4 * PG, 4 * PG, PROT_READ, 0);
	assert_int_equal(sc(mm, SYS_madvise, a, PG, MADV_GUARD_INSTALL), 0);
	assert_int_equal(sc(mm, SYS_mprotect, a + 4 * PG, 4 * PG, RW), 0);
	assert_maps(mm, "200000000-200008000 rw-p 00000000 00:00 0 \n");
	assert_vmflags(mm, a, "rd wr mr mw me gu ac ");
	end_test(m, mm);
}

/* The mincore vector of 4 pages at a, as a string of '0' and '1'. */
static const char *mincore4(struct as_mm *mm, uint64_t a, uint64_t vec)
{
	static char out[5];
	unsigned char v[4];

	assert_int_equal(sc(mm, SYS_mincore, a, 4 * PG, vec), 0);
	assert_int_equal(as_read(mm, vec, v, 4, NULL), 0);
	for (int i = 0; i < 4; i++)
		out[i] = (char)('0' + (v[i] & 1));
	out[4] = 0;
	return out;
}

/*
 * can_do_mincore: a file region shows its page cache only to the file's
 * owner (or CAP_FOWNER) or a process that may write the file (mode bits,
 * CAP_DAC_OVERRIDE); anyone else sees every page resident.
 */
static void test_mincore_file_ids(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m), *child;
	char path[] = "/tmp/aspace-ids-XXXXXX";
	int fd = mkstemp(path);
	uint32_t me = (uint32_t)geteuid(), grp = (uint32_t)getegid();
	uint64_t vec = map_at(mm, BASE, PG, RW, 0), a;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 4 * PG), 0); /* holes: nothing cached */
	assert_int_equal(fchmod(fd, 0600), 0);
	a = (uint64_t)as_syscall(mm, SYS_mmap, 0, 4 * PG, PROT_READ, MAP_PRIVATE, (uint64_t)fd, 0);
	assert_true(a < (1ull << 47));
	assert_string_equal(mincore4(mm, a, vec), "0000");
	assert_int_equal(as_mm_set_ids(mm, me + 1, grp + 1), 0);
	assert_string_equal(mincore4(mm, a, vec), "1111");
	assert_int_equal(as_mm_set_caps(mm, 1ull << MM_CAP_FOWNER), 0);
	assert_string_equal(mincore4(mm, a, vec), "0000");
	assert_int_equal(as_mm_set_caps(mm, 1ull << MM_CAP_DAC_OVERRIDE), 0);
	assert_string_equal(mincore4(mm, a, vec), "0000");
	assert_int_equal(as_mm_set_caps(mm, 0), 0);
	assert_int_equal(fchmod(fd, 0602), 0); /* others may write */
	assert_string_equal(mincore4(mm, a, vec), "0000");
	assert_int_equal(fchmod(fd, 0620), 0); /* the group may write, mm is not in it */
	assert_string_equal(mincore4(mm, a, vec), "1111");
	assert_int_equal(as_mm_set_ids(mm, me + 1, grp), 0);
	assert_string_equal(mincore4(mm, a, vec), "0000");
	/* fork keeps the identity. */
	assert_int_equal(as_mm_set_ids(mm, me + 1, grp + 1), 0);
	assert_int_equal(as_mm_fork(mm, &child), 0);
	assert_string_equal(mincore4(child, a, vec), "1111");
	as_mm_put(child);
	close(fd);
	end_test(m, mm);
}

/* prctl(PR_SET_THP_DISABLE) as Linux 6.18 takes it, and what it does to MADV_COLLAPSE. */
static void test_prctl_thp_disable(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m), *child;
	uint64_t a = map_at(mm, BASE, 4 << 20, RW, 0);

	(void)state;
	touch(mm, a, PG);
	assert_int_equal(sc(mm, SYS_madvise, a, 2 << 20, MADV_COLLAPSE), 0);
	assert_int_equal(sc(mm, SYS_prctl, PR_GET_THP_DISABLE, 0, 0), 0);
	/* Flags only when disabling, and only PR_THP_DISABLE_EXCEPT_ADVISED (2); no arg4/arg5. */
	assert_int_equal(sc(mm, SYS_prctl, PR_SET_THP_DISABLE, 1, 4), -EINVAL);
	assert_int_equal(sc(mm, SYS_prctl, PR_SET_THP_DISABLE, 0, 2), -EINVAL);
	assert_int_equal(as_syscall(mm, SYS_prctl, PR_SET_THP_DISABLE, 1, 0, 1, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_prctl, PR_GET_THP_DISABLE, 1, 0), -EINVAL);
	/* Except where advised: a forced collapse is advice enough. */
	assert_int_equal(sc(mm, SYS_prctl, PR_SET_THP_DISABLE, 1, 2), 0);
	assert_int_equal(sc(mm, SYS_prctl, PR_GET_THP_DISABLE, 0, 0), 3);
	assert_int_equal(sc(mm, SYS_madvise, a, 2 << 20, MADV_COLLAPSE), 0);
	/* Altogether: not even that; fork keeps the switch. */
	assert_int_equal(sc(mm, SYS_prctl, PR_SET_THP_DISABLE, 7, 0), 0);
	assert_int_equal(sc(mm, SYS_prctl, PR_GET_THP_DISABLE, 0, 0), 1);
	assert_int_equal(sc(mm, SYS_madvise, a, 2 << 20, MADV_COLLAPSE), -EINVAL);
	assert_int_equal(as_mm_fork(mm, &child), 0);
	assert_int_equal(sc(child, SYS_prctl, PR_GET_THP_DISABLE, 0, 0), 1);
	assert_int_equal(sc(child, SYS_madvise, a, 2 << 20, MADV_COLLAPSE), -EINVAL);
	as_mm_put(child);
	assert_int_equal(sc(mm, SYS_prctl, PR_SET_THP_DISABLE, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_prctl, PR_GET_THP_DISABLE, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 2 << 20, MADV_COLLAPSE), 0);
	/* Options that are not the address space's are not modelled. */
	assert_int_equal(sc(mm, SYS_prctl, PR_SET_NAME, 0, 0), -ENOSYS);
	end_test(m, mm);
}

static void test_madvise_locked_and_dontneed(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);
	char c = 1;

	touch(mm, a, 16 * PG);
	assert_int_equal(sc(mm, SYS_mlock, a + 4 * PG, 4 * PG, 0), 0);
	/* DONTNEED zaps the first region, then refuses the locked one. */
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_DONTNEED), -EINVAL);
	assert_int_equal(counters(mm).rss_anon, 12);
	assert_int_equal(as_read(mm, a, &c, 1, NULL), 0);
	assert_int_equal(c, 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_FREE), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_COLD), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_PAGEOUT), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_WILLNEED), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_REMOVE), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a + 8 * PG, 8 * PG, MADV_REMOVE), -EINVAL);
	/* GUARD_INSTALL marks the first region, then refuses the locked one. */
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_GUARD_INSTALL), -EINVAL);
	assert_vmflags(mm, a, "rd wr mr mw me gu ac ");
	assert_vmflags(mm, a + 4 * PG, "rd wr mr mw me lo ac ");
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_GUARD_REMOVE), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_COLLAPSE), -EINVAL);
	/* DONTNEED_LOCKED drops locked pages too; the regions stay locked. */
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_DONTNEED_LOCKED), 0);
	assert_int_equal(counters(mm).rss_anon, 0);
	assert_int_equal(counters(mm).locked_vm, 4);
	end_test(m, mm);
}

/* MADV_FREE keeps the pages mapped with their data until memory runs short. */
static void test_madvise_free(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0), flt;
	char c = 0;

	touch(mm, a, 16 * PG);
	assert_int_equal(sc(mm, SYS_madvise, a, 8 * PG, MADV_FREE), 0);
	assert_int_equal(counters(mm).rss_anon, 16);
	assert_int_equal(as_read(mm, a, &c, 1, NULL), 0);
	assert_int_equal(c, 'x');
	flt = counters(mm).min_flt;
	assert_int_equal(as_write(mm, a + PG, "y", 1, NULL), 0);
	assert_int_equal(counters(mm).min_flt, flt);
	/* Only private anonymous memory can be freed lazily; a locked region refuses. */
	assert_int_equal(sc(mm, SYS_mlock, a + 12 * PG, PG, 0), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 8 * PG, 8 * PG, MADV_FREE), -EINVAL);
	assert_int_equal(counters(mm).rss_anon, 16);
	end_test(m, mm);
}

/* The smaps field `name` of the region starting at start, in kB. */
static uint64_t smaps_kb(struct as_mm *mm, uint64_t start, const char *name)
{
	char *text = text_of(mm, as_mm_write_smaps), head[64], *p;
	unsigned long long kb = ~0ull;

	snprintf(head, sizeof(head), "%08" PRIx64 "-", start);
	p = strstr(text, head);
	if (p)
		p = strstr(p, name);
	if (p)
		sscanf(p + strlen(name), " %llu", &kb);
	free(text);
	assert_true(kb != ~0ull);
	return kb;
}

/*
 * A copy-on-write fault on a page still in a per-CPU batch (not on the
 * LRU yet) drains the batches first, when at most three references hold
 * the page (wp_can_reuse_anon_folio): the other region's MADV_FREE'd page
 * becomes LazyFree. Filling the lru_add batch (31 new pages) moves the
 * page to the LRU first, and a page three spaces share is not looked at.
 */
static void test_cow_off_lru_drains(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m), *child, *child2;
	uint64_t b = map_at(mm, BASE + 64 * PG, 40 * PG, RW, 0);

	(void)state;
	for (int round = 0; round < 3; round++) {
		uint64_t a = map_at(mm, BASE + (uint64_t)round * 4 * PG, 2 * PG, RW, 0);

		touch(mm, a + PG, PG);
		assert_int_equal(sc(mm, SYS_madvise, a + PG, PG, MADV_FREE), 0); /* drains, then batches */
		assert_int_equal(sc(mm, SYS_madvise, a, PG, MADV_DONTNEED), 0);
		touch(mm, a, PG); /* a new page: in the lru_add batch */
		if (round == 1)
			touch(mm, b, 40 * PG); /* 40 more new pages: the batch fills and moves */
		assert_int_equal(as_mm_fork(mm, &child), 0);
		if (round == 2)
			assert_int_equal(as_mm_fork(mm, &child2), 0);
		assert_int_equal(smaps_kb(mm, a, "LazyFree:"), 0);
		touch(mm, a, PG); /* copy-on-write */
		assert_int_equal(smaps_kb(mm, a, "LazyFree:"), round == 0 ? 4 : 0);
		as_mm_put(child);
		if (round == 2)
			as_mm_put(child2);
		as_machine_drain(m);
		assert_int_equal(sc(mm, SYS_madvise, b, 40 * PG, MADV_DONTNEED), 0);
	}
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* No swap: PAGEOUT drops only pages MADV_FREE made lazily freeable; COLD clears the referenced state. */
static void test_madvise_pageout_cold(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 64 * PG, RW, 0);
	char c[2];

	touch(mm, a, 64 * PG);
	assert_int_equal(sc(mm, SYS_madvise, a, 32 * PG, MADV_FREE), 0);
	/* 31 pages fill the lazy-free batch and move; the 32nd waits, as on the kernel. */
	assert_int_equal(smaps_kb(mm, a, "LazyFree:"), 124);
	assert_int_equal(sc(mm, SYS_madvise, a, 64 * PG, MADV_PAGEOUT), 0);
	assert_int_equal(smaps_kb(mm, a, "Rss:"), 128);
	assert_int_equal(smaps_kb(mm, a, "LazyFree:"), 0);
	assert_int_equal(counters(mm).rss_anon, 32);
	assert_int_equal(as_read(mm, a, &c[0], 1, NULL), 0);
	assert_int_equal(as_read(mm, a + 40 * PG, &c[1], 1, NULL), 0);
	assert_memory_equal(c, "\0x", 2);
	assert_int_equal(sc(mm, SYS_munmap, a, 64 * PG, 0), 0);

	map_at(mm, a, 64 * PG, RW, 0);
	touch(mm, a, 64 * PG);
	assert_int_equal(smaps_kb(mm, a, "Referenced:"), 256);
	assert_int_equal(sc(mm, SYS_madvise, a, 64 * PG, MADV_COLD), 0);
	assert_int_equal(smaps_kb(mm, a, "Referenced:"), 0);
	assert_int_equal(smaps_kb(mm, a, "Rss:"), 256);
	end_test(m, mm);
}

/* MAP_DROPPABLE memory is never locked, and keeps its wipe-on-fork and no-dump marks. */
static void test_droppable(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = BASE;

	assert_int_equal(as_syscall(mm, SYS_mmap, a, 4 * PG, RW, 0x08 | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
				    (uint64_t)-1, 0), (long)a);
	assert_int_equal(sc(mm, SYS_mlock, a, 4 * PG, 0), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 4 * PG, MADV_KEEPONFORK), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, 4 * PG, MADV_DODUMP), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, 4 * PG, MADV_MERGEABLE), 0);
	assert_vmflags(mm, a, "rd wr mr mw me nr wf dd dp ");
	assert_int_equal(counters(mm).locked_vm, 0);
	assert_int_equal(counters(mm).rss_anon, 4); /* mlock faulted it in all the same */
	end_test(m, mm);
}

static void test_madvise_populate(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, PROT_READ, 0), w, rss;

	assert_int_equal(sc(mm, SYS_mprotect, a + 4 * PG, 4 * PG, PROT_NONE), 0);
	/* Read faults up to the PROT_NONE region, then -EINVAL. */
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_POPULATE_READ), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, 4 * PG, MADV_POPULATE_WRITE), -EINVAL);
	/* Past the end of the mapping: the mapped part is faulted in, then -ENOMEM. */
	assert_int_equal(sc(mm, SYS_madvise, a + 8 * PG, 16 * PG, MADV_POPULATE_READ), -ENOMEM);
	assert_int_equal(sc(mm, SYS_madvise, a + 20 * PG, 16 * PG, MADV_POPULATE_READ), -ENOMEM);
	assert_int_equal(sc(mm, SYS_madvise, a - PG, 2 * PG, MADV_POPULATE_READ), -ENOMEM);
	assert_int_equal(sc(mm, SYS_madvise, a + 4 * PG, 2 * PG, MADV_POPULATE_READ), -EINVAL);
	/* Lock-on-fault doesn't stop an explicit populate. */
	assert_int_equal(sc(mm, SYS_mlock2, a + 8 * PG, 2 * PG, MLOCK_ONFAULT), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 8 * PG, 4 * PG, MADV_POPULATE_READ), 0);
	/* Write population allocates private pages. */
	w = map_at(mm, BASE + 64 * PG, 8 * PG, RW, 0);
	rss = counters(mm).rss_anon;
	assert_int_equal(sc(mm, SYS_madvise, w, 8 * PG, MADV_POPULATE_WRITE), 0);
	assert_int_equal(counters(mm).rss_anon, rss + 8);
	end_test(m, mm);
}

static void test_madvise_collapse(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm = new_space(m);
	const uint64_t H = 2ull << 20;
	uint64_t a = map_at(mm, BASE, 4 * H, RW, 0);

	/* No anonymous page yet: not eligible. */
	assert_int_equal(sc(mm, SYS_madvise, a, 2 * H, MADV_COLLAPSE), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, PG, MADV_COLLAPSE), -EINVAL);
	touch(mm, a, PG);
	/* A 2 MiB block without a page fails the call. */
	assert_int_equal(sc(mm, SYS_madvise, a, 4 * H, MADV_COLLAPSE), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a + 2 * H, H, MADV_COLLAPSE), -EINVAL);
	/* No whole block in the range: nothing to do. */
	assert_int_equal(sc(mm, SYS_madvise, a + 2 * H, PG, MADV_COLLAPSE), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, H, MADV_COLLAPSE), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, 2 * H, MADV_NOHUGEPAGE), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, H, MADV_COLLAPSE), -EINVAL);
	/* A region without an aligned 2 MiB block. */
	map_at(mm, BASE + 16 * H + PG, H, RW, 0);
	touch(mm, BASE + 16 * H + PG, PG);
	assert_int_equal(sc(mm, SYS_madvise, BASE + 16 * H + PG, H, MADV_COLLAPSE), -EINVAL);
	end_test(m, mm);
}

/* A split refused at vm.max_map_count: -ENOMEM for mprotect and mlock, -EAGAIN for madvise. */
static void test_max_map_count(void **state)
{
	struct as_machine_config cfg;
	struct as_machine *m;
	struct as_mm *mm;
	uint64_t a;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = 32 << 20;
	cfg.max_map_count = 10;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	mm = new_space(m);
	a = map_at(mm, BASE, 16 * PG, RW, 0);
	for (int i = 0; i < 8; i++)
		map_at(mm, BASE + (64 + 2 * i) * PG, PG, RW, 0);
	assert_int_equal(counters(mm).map_count, 9);
	/* Three-way split with room for one: the first split stays, then -ENOMEM. */
	assert_int_equal(sc(mm, SYS_mprotect, a + PG, PG, PROT_READ), -ENOMEM);
	assert_int_equal(counters(mm).map_count, 10);
	/* No change needed: no merge either. */
	assert_int_equal(sc(mm, SYS_mprotect, a, 16 * PG, RW), 0);
	assert_int_equal(counters(mm).map_count, 10);
	assert_int_equal(sc(mm, SYS_mlock, a + PG, PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_munlock, a, 16 * PG, 0), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + PG, PG, MADV_DONTFORK), -EAGAIN);
	assert_int_equal(sc(mm, SYS_madvise, a + 15 * PG, PG, MADV_RANDOM), -EAGAIN);
	assert_int_equal(sc(mm, SYS_madvise, a, 16 * PG, MADV_DOFORK), 0);
	/* Page advice needs no split. */
	assert_int_equal(sc(mm, SYS_madvise, a + 5 * PG, PG, MADV_DONTNEED), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 5 * PG, PG, MADV_GUARD_INSTALL), 0);
	assert_int_equal(counters(mm).locked_vm, 0);
	end_test(m, mm);
}

/* ---- msync ---- */

static void test_msync(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);

	assert_int_equal(sc(mm, SYS_msync, a, PG, 8), -EINVAL);
	assert_int_equal(sc(mm, SYS_msync, a + 1, PG, 8), -EINVAL);
	assert_int_equal(sc(mm, SYS_msync, a + 1, PG, MS_ASYNC | MS_SYNC), -EINVAL);
	assert_int_equal(sc(mm, SYS_msync, a + 1, PG, MS_SYNC), -EINVAL);
	assert_int_equal(sc(mm, SYS_msync, a, PG, MS_ASYNC | MS_SYNC), -EINVAL);
	assert_int_equal(sc(mm, SYS_msync, a, -1ull, MS_SYNC), 0);
	assert_int_equal(sc(mm, SYS_msync, a, -4096ull, MS_SYNC), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a, -a, MS_SYNC), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a, -a - PG, MS_SYNC), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a - PG, 0, MS_SYNC), 0);
	assert_int_equal(sc(mm, SYS_msync, a, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_msync, a, PG, 0), 0);
	assert_int_equal(sc(mm, SYS_msync, a, 16 * PG, MS_INVALIDATE), 0);
	assert_int_equal(sc(mm, SYS_msync, a - PG, 2 * PG, MS_ASYNC), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a - PG, 2 * PG, MS_SYNC), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a - PG, 2 * PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a - PG, PG, MS_SYNC), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a + 15 * PG, 2 * PG, MS_SYNC), -ENOMEM);
	/* MS_INVALIDATE refuses locked memory; the hole before it doesn't stop the walk. */
	assert_int_equal(sc(mm, SYS_mlock, a + 4 * PG, PG, 0), 0);
	assert_int_equal(sc(mm, SYS_msync, a, 16 * PG, MS_INVALIDATE), -EBUSY);
	assert_int_equal(sc(mm, SYS_msync, a, 16 * PG, MS_SYNC | MS_INVALIDATE), -EBUSY);
	assert_int_equal(sc(mm, SYS_msync, a, 16 * PG, MS_SYNC), 0);
	assert_int_equal(sc(mm, SYS_munmap, a + 2 * PG, PG, 0), 0);
	assert_int_equal(sc(mm, SYS_msync, a, 16 * PG, MS_SYNC | MS_INVALIDATE), -EBUSY);
	assert_int_equal(sc(mm, SYS_msync, a, 16 * PG, MS_ASYNC | MS_INVALIDATE), -EBUSY);
	/* Plain MS_ASYNC gives up at the hole. */
	assert_int_equal(sc(mm, SYS_msync, a, 16 * PG, MS_ASYNC), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a, 16 * PG, MS_SYNC), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a + 5 * PG, 16 * PG, MS_SYNC), -ENOMEM);
	assert_int_equal(sc(mm, SYS_msync, a + 5 * PG, 11 * PG, MS_SYNC), 0);
	end_test(m, mm);
}

/* ---- mincore ---- */

static void test_mincore(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0);
	uint64_t vec = map_at(mm, BASE + 16384 * PG, 4 * PG, RW, 0);
	unsigned char v[20], want[20] = { 0, 1, 0, 1 };
	char c;

	assert_int_equal(sc(mm, SYS_mincore, a + 1, PG, vec), -EINVAL);
	assert_int_equal(sc(mm, SYS_mincore, a + 1, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mincore, a, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_mincore, a - PG, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_mincore, a, PG, 0), -EFAULT);
	assert_int_equal(sc(mm, SYS_mincore, a - PG, PG, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mincore, a - PG, PG, vec), -ENOMEM);
	/* The vector must lie below the top of the user address space. */
	assert_int_equal(sc(mm, SYS_mincore, a, PG, 0xffff800000000000ull), -EFAULT);
	assert_int_equal(sc(mm, SYS_mincore, a, PG, 0x7ffffffff000ull), -EFAULT);
	assert_int_equal(sc(mm, SYS_mincore, a, 2 * PG, 0x7fffffffefffull), -EFAULT);
	/* ... and so must the range. */
	assert_int_equal(sc(mm, SYS_mincore, a, -1ull, vec), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mincore, a, 0x800000000000ull - a, vec), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mincore, 0x7ffffffff000ull, 0, vec), 0);
	assert_int_equal(sc(mm, SYS_mincore, 0x800000000000ull, 0, vec), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mincore, 0xfffffffffffff000ull, 0, vec), -ENOMEM);

	/* Written, read (the zero page), PROT_NONE with a page, a guard page: 1 1 1 0. */
	touch(mm, a + PG, PG);
	assert_int_equal(as_read(mm, a + 3 * PG, &c, 1, NULL), 0);
	assert_int_equal(sc(mm, SYS_mprotect, a + 3 * PG, PG, PROT_NONE), 0);
	assert_int_equal(sc(mm, SYS_madvise, a + 5 * PG, PG, MADV_GUARD_INSTALL), 0);
	memset(v, 0xff, sizeof(v));
	assert_int_equal(as_write(mm, vec, v, sizeof(v), NULL), 0);
	assert_int_equal(sc(mm, SYS_mincore, a, 16 * PG - 100, vec), 0);
	assert_int_equal(as_read(mm, vec, v, sizeof(v), NULL), 0);
	want[16] = 0xff;
	want[17] = 0xff;
	want[18] = 0xff;
	want[19] = 0xff;
	assert_memory_equal(v, want, sizeof(v));
	/* A hole: the entries before it are stored, then -ENOMEM. */
	memset(v, 0xff, sizeof(v));
	assert_int_equal(as_write(mm, vec, v, sizeof(v), NULL), 0);
	assert_int_equal(sc(mm, SYS_munmap, a + 8 * PG, PG, 0), 0);
	assert_int_equal(sc(mm, SYS_mincore, a, 16 * PG, vec), -ENOMEM);
	assert_int_equal(as_read(mm, vec, v, sizeof(v), NULL), 0);
	for (int i = 8; i < 20; i++)
		want[i] = 0xff;
	assert_memory_equal(v, want, sizeof(v));
	/* A vector that ends in unwritable memory: what fits is stored, then -EFAULT. */
	assert_int_equal(sc(mm, SYS_munmap, a, 16 * PG, 0), 0);
	map_at(mm, a, 8192 * PG, RW, 0);
	assert_int_equal(sc(mm, SYS_munmap, vec + PG, 3 * PG, 0), 0);
	memset(v, 0xee, sizeof(v));
	assert_int_equal(as_write(mm, vec + PG - 10, v, 10, NULL), 0);
	assert_int_equal(sc(mm, SYS_mincore, a, 8192 * PG, vec + PG - 10), -EFAULT);
	assert_int_equal(as_read(mm, vec + PG - 10, v, 10, NULL), 0);
	assert_memory_equal(v, "\0\0\0\0\0\0\0\0\0\0", 10);
	assert_int_equal(sc(mm, SYS_mprotect, vec, PG, PROT_READ), 0);
	assert_int_equal(sc(mm, SYS_mincore, a, PG, vec), -EFAULT);
	/* The walk comes before the copy. */
	assert_int_equal(sc(mm, SYS_mincore, a + 8192 * PG, PG, vec), -ENOMEM);
	end_test(m, mm);
}

/* ---- out of memory ---- */

enum op { OP_MPROTECT, OP_MLOCK, OP_MADVISE, OP_GUARD, OP_MINCORE, OP_POPULATE, NR_OPS };

/*
 * Set up a space with a 16-page region (4 pages written) and a vector
 * page, then run one operation with the fail_nth-th allocation failing
 * (0: none). *allocs gets the allocations the operation attempted.
 */
static long run_op(struct as_machine *m, enum op op, uint64_t fail_nth, struct as_mm **out,
		   uint64_t *allocs)
{
	struct as_mm *mm = new_space(m);
	uint64_t a = map_at(mm, BASE, 16 * PG, RW, 0), before;
	long r;

	map_at(mm, BASE + 64 * PG, PG, RW, 0);
	touch(mm, a, 4 * PG);
	before = as_machine_alloc_count(m);
	as_machine_fail_nth(m, fail_nth);
	switch (op) {
	case OP_MPROTECT:
		r = sc(mm, SYS_mprotect, a + PG, 2 * PG, PROT_READ);
		break;
	case OP_MLOCK:
		r = sc(mm, SYS_mlock, a + 2 * PG, 4 * PG, 0);
		break;
	case OP_MADVISE:
		r = sc(mm, SYS_madvise, a + PG, 2 * PG, MADV_DONTFORK);
		break;
	case OP_GUARD:
		r = sc(mm, SYS_madvise, a + 8 * PG, 2 * PG, MADV_GUARD_INSTALL);
		break;
	case OP_MINCORE:
		r = sc(mm, SYS_mincore, a, 16 * PG, BASE + 64 * PG + 8);
		break;
	default:
		r = sc(mm, SYS_madvise, a, 16 * PG, MADV_POPULATE_WRITE);
		break;
	}
	as_machine_fail_nth(m, 0);
	*allocs = as_machine_alloc_count(m) - before;
	*out = mm;
	return r;
}

/*
 * Fail each allocation an operation makes in turn: the result is what
 * Linux gives when memory runs out there (a split: -ENOMEM, or madvise's
 * -EAGAIN; faulting in: mlock's -EAGAIN, populate's -ENOMEM; the vector
 * copy: -EFAULT), the space stays consistent and nothing leaks.
 */
static void test_failure_injection(void **state)
{
	static const long oom[NR_OPS][2] = {
		[OP_MPROTECT] = { -ENOMEM, -ENOMEM }, [OP_MLOCK] = { -ENOMEM, -EAGAIN },
		[OP_MADVISE] = { -EAGAIN, -EAGAIN },  [OP_GUARD] = { -ENOMEM, -ENOMEM },
		[OP_MINCORE] = { -EFAULT, -EFAULT },  [OP_POPULATE] = { -ENOMEM, -ENOMEM },
	};
	struct as_machine *m = t_machine_new(32);
	struct as_mm *mm;

	for (int op = 0; op < NR_OPS; op++) {
		uint64_t n, unused;
		long r;

		assert_int_equal(run_op(m, op, 0, &mm, &n), 0);
		as_mm_put(mm);
		t_assert_machine_clean(m);
		for (uint64_t i = 1; i <= n; i++) {
			r = run_op(m, op, i, &mm, &unused);
			if (r != 0 && r != oom[op][0] && r != oom[op][1])
				fail_msg("op %d, allocation %" PRIu64 " of %" PRIu64 " failed: %ld", op, i, n, r);
			assert_int_equal(as_mm_check(mm, stderr), 0);
			as_mm_put(mm);
			t_assert_machine_clean(m);
		}
	}
	as_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mprotect_args),
		cmocka_unit_test(test_mprotect_split_merge_holes),
		cmocka_unit_test(test_mprotect_growsdown),
		cmocka_unit_test(test_mprotect_commit_accounting),
		cmocka_unit_test(test_mprotect_ptes),
		cmocka_unit_test(test_mprotect_eacces),
		cmocka_unit_test(test_sealed),
		cmocka_unit_test(test_mprotect_locked_becomes_writable),
		cmocka_unit_test(test_mprotect_rlimit_data),
		cmocka_unit_test(test_mlock_args),
		cmocka_unit_test(test_mlock_onfault_split_merge),
		cmocka_unit_test(test_mlock_holes_and_prot_none),
		cmocka_unit_test(test_mlock_rlimit),
		cmocka_unit_test(test_mlockall),
		cmocka_unit_test(test_madvise_args),
		cmocka_unit_test(test_madvise_holes),
		cmocka_unit_test(test_madvise_flags_split_merge),
		cmocka_unit_test(test_madvise_guard_sticky),
		cmocka_unit_test(test_madvise_locked_and_dontneed),
		cmocka_unit_test(test_madvise_free),
		cmocka_unit_test(test_cow_off_lru_drains),
		cmocka_unit_test(test_madvise_pageout_cold),
		cmocka_unit_test(test_droppable),
		cmocka_unit_test(test_madvise_populate),
		cmocka_unit_test(test_madvise_collapse),
		cmocka_unit_test(test_max_map_count),
		cmocka_unit_test(test_msync),
		cmocka_unit_test(test_mincore),
		cmocka_unit_test(test_prctl_thp_disable),
		cmocka_unit_test(test_mincore_file_ids),
		cmocka_unit_test(test_failure_injection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
