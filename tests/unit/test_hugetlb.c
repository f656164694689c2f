/*
 * hugetlbfs (src/mm/hugetlb.c): anonymous MAP_HUGETLB mappings over a
 * simulated pool — the flag encoding, alignment and placement, the
 * reservation at mmap (ENOMEM, MAP_NORESERVE), SIGBUS without a page, the
 * huge page rules of munmap/mprotect/madvise/mremap/mlock, maps and
 * smaps, fork. The side-by-side tests (tests/diff/test_regress_hugetlb.c)
 * check the same rules against the host kernel with its pool of 0.
 */
#include "testlib.h"

#include <aspace/mman.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)
#define HUGE (2ull << 20)

static long sc(struct as_mm *mm, long nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return as_syscall(mm, nr, a, b, c, d, e, 0);
}

static long hmap(struct as_mm *mm, uint64_t addr, uint64_t len, uint64_t flags)
{
	return as_syscall(mm, SYS_mmap, addr, len, RW, flags | MAP_HUGETLB, (uint64_t)-1, 0);
}

/* A machine of 64 MiB with `pages` huge pages of 2 MiB (and 1 GiB pages if huge_1g). */
static struct as_machine *machine(uint64_t pages, int huge_1g)
{
	struct as_machine_config cfg;
	struct as_machine *m;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = huge_1g ? 2ull << 30 : 64ull << 20;
	cfg.nr_hugepages_2m = pages;
	cfg.hugepages_1g = huge_1g;
	cfg.nr_hugepages_1g = huge_1g ? 1 : 0;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	return m;
}

static char *text(struct as_mm *mm, bool smaps)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(smaps ? as_mm_write_smaps(mm, f) : as_mm_write_maps(mm, f), 0);
	fclose(f);
	return buf;
}

static void done(struct as_machine *m, struct as_mm *mm)
{
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* The flag encoding, the length rounding, the arguments refused. */
static void test_flags_and_alignment(void **state)
{
	struct as_machine *m = machine(0, 0);
	struct as_mm *mm;
	char *t;
	long r;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	/* No pool: only MAP_NORESERVE maps; 4 KiB rounds up to a huge page, aligned. */
	assert_int_equal(hmap(mm, 0, 0x1000, PA), -ENOMEM);
	r = hmap(mm, 0, 0x1000, PA | MAP_NORESERVE);
	assert_true(r > 0 && !(r & (HUGE - 1)));
	t = text(mm, false);
	assert_non_null(strstr(t, "rw-p 00000000 00:11 "));
	assert_non_null(strstr(t, "/anon_hugepage (deleted)"));
	free(t);
	t = text(mm, true);
	assert_non_null(strstr(t, "Size:               2048 kB\nKernelPageSize:     2048 kB\n"
				  "MMUPageSize:        2048 kB\nRss:                   0 kB\n"));
	assert_non_null(strstr(t, "VmFlags: rd wr mr mw me de nr ht \n"));
	free(t);
	/* Sizes: 2 MiB by name, 1 GiB absent here, others unknown. */
	assert_true(hmap(mm, 0, 0x1000, PA | MAP_NORESERVE | MAP_HUGE_2MB) > 0);
	assert_int_equal(hmap(mm, 0, 0x1000, PA | MAP_NORESERVE | MAP_HUGE_1GB), -EINVAL);
	assert_int_equal(hmap(mm, 0, 0x1000, PA | MAP_NORESERVE | (12u << 26)), -EINVAL);
	/* A length that rounds past the top; growsdown; a type hugetlbfs can't take. */
	assert_int_equal(hmap(mm, 0, (uint64_t)-4096, PA | MAP_NORESERVE), -EINVAL);
	assert_int_equal(hmap(mm, 0, 0x1000, PA | MAP_NORESERVE | MAP_GROWSDOWN), -EINVAL);
	assert_int_equal(hmap(mm, 0, 0x1000, MAP_DROPPABLE | MAP_ANONYMOUS | MAP_NORESERVE), -EINVAL);
	/* MAP_FIXED must be aligned; a hint is rounded up; the offset must be aligned. */
	assert_int_equal(hmap(mm, 0x40001000, 0x1000, PA | MAP_NORESERVE | MAP_FIXED), -EINVAL);
	assert_int_equal(hmap(mm, 0x40001000, 0x1000, PA | MAP_NORESERVE), 0x40200000);
	assert_int_equal(as_syscall(mm, SYS_mmap, 0, 0x1000, RW, PA | MAP_HUGETLB | MAP_NORESERVE,
				    (uint64_t)-1, 0x1000), -EINVAL);
	assert_true(as_syscall(mm, SYS_mmap, 0, 0x1000, RW, PA | MAP_HUGETLB | MAP_NORESERVE,
			       (uint64_t)-1, HUGE) > 0);
	done(m, mm);
}

/* Splits only at huge page boundaries; the calls that refuse hugetlb regions. */
static void test_region_rules(void **state)
{
	struct as_machine *m = machine(0, 0);
	struct as_mm *mm;
	struct as_fault f = { 0 };
	unsigned char vec[2] = { 1, 1 };
	char c;
	uint64_t a;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	a = (uint64_t)hmap(mm, 0x40000000, 2 * HUGE, PA | MAP_NORESERVE | MAP_FIXED);
	assert_int_equal(a, 0x40000000);
	assert_int_equal(sc(mm, SYS_mprotect, a, 0x1000, PROT_READ, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_munmap, a + 0x1000, 0x1000, 0, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mprotect, a, HUGE, PROT_READ, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_mprotect, a, HUGE, RW, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, HUGE, MADV_FREE, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a + 0x1000, 0x1000, MADV_DONTNEED, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, 0x1000, MADV_DONTNEED, 0, 0), 0);
	assert_int_equal(sc(mm, SYS_madvise, a, HUGE, MADV_WIPEONFORK, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_madvise, a, HUGE, MADV_POPULATE_READ, 0, 0), -EFAULT);
	/* mremap: no growth, aligned addresses, lengths rounded up (so this is a no-op). */
	assert_int_equal(sc(mm, SYS_mremap, a, HUGE, 2 * HUGE, MREMAP_MAYMOVE, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mremap, a + 0x1000, 0x1000, 0x1000, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mremap, a, 0x175000, 0x9c000, MREMAP_MAYMOVE, 0), (long)a);
	assert_int_equal(sc(mm, SYS_mremap, a, 2 * HUGE, 0x1000, 0, 0), (long)a);
	/* mlock can't fault the pages in; mincore sees none; a read is SIGBUS. */
	assert_int_equal(sc(mm, SYS_mlock, a, 0x1000, 0, 0, 0), -ENOMEM);
	assert_int_equal(sc(mm, SYS_mmap, 0x10000000, 0x1000, RW, PA | MAP_FIXED, (uint64_t)-1), 0x10000000);
	assert_int_equal(as_write(mm, 0x10000000, vec, 2, NULL), 0);
	assert_int_equal(sc(mm, SYS_mincore, a, 0x2000, 0x10000000, 0, 0), 0);
	assert_int_equal(as_read(mm, 0x10000000, vec, 2, NULL), 0);
	assert_int_equal(vec[0] | vec[1], 0);
	assert_int_equal(as_read(mm, a + 0x1234, &c, 1, &f), -EFAULT);
	assert_int_equal(f.signo, SIGBUS);
	assert_int_equal(f.code, BUS_ADRERR);
	assert_int_equal(f.addr, a + 0x1234);
	done(m, mm);
}

/* The pool: reservations at mmap, given back with the mapping; NORESERVE takes none. */
static void test_reservations(void **state)
{
	struct as_machine *m = machine(2, 0);
	struct as_mm *mm, *child;
	struct as_fault f = { 0 };
	char c;
	long a, b;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	a = hmap(mm, 0, 2 * HUGE, PA);
	assert_true(a > 0);
	assert_int_equal(hmap(mm, 0, HUGE, PA), -ENOMEM);
	assert_int_equal(hmap(mm, 0, HUGE, MAP_SHARED | MAP_ANONYMOUS), -ENOMEM);
	/* Every page free is reserved: a MAP_NORESERVE mapping maps but can't fault. */
	b = hmap(mm, 0, HUGE, PA | MAP_NORESERVE);
	assert_true(b > 0);
	assert_int_equal(as_read(mm, (uint64_t)b, &c, 1, &f), -EFAULT);
	assert_int_equal(f.signo, SIGBUS);
	/* The reservation goes with the file: a fork's region shares it. */
	assert_int_equal(as_mm_fork(mm, &child), 0);
	assert_int_equal(sc(mm, SYS_munmap, (uint64_t)a, 2 * HUGE, 0, 0, 0), 0);
	assert_int_equal(hmap(mm, 0, HUGE, PA), -ENOMEM);
	as_mm_put(child);
	assert_true(hmap(mm, 0, 2 * HUGE, MAP_SHARED | MAP_ANONYMOUS) > 0);
	/* A failed MAP_FIXED reservation leaves the old range unmapped, as Linux's ->mmap failure. */
	assert_int_equal(hmap(mm, (uint64_t)b, HUGE, PA | MAP_FIXED), -ENOMEM);
	assert_int_equal(sc(mm, SYS_munmap, (uint64_t)b, HUGE, 0, 0, 0), 0);
	assert_int_equal(as_read(mm, (uint64_t)b, &c, 1, &f), -EFAULT);
	assert_int_equal(f.signo, SIGSEGV);
	done(m, mm);
}

/* mlockall(MCL_CURRENT) skips a region it can't fault in and populates the next (ignore_errors). */
static void test_populate_skips_failing_region(void **state)
{
	struct as_machine *m = machine(0, 0);
	struct as_mm *mm;
	char *t;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(hmap(mm, 0x40000000, HUGE, PA | MAP_NORESERVE | MAP_FIXED), 0x40000000);
	assert_int_equal(sc(mm, SYS_mmap, 0x40400000, 0x2000, RW, PA | MAP_FIXED, (uint64_t)-1), 0x40400000);
	assert_int_equal(sc(mm, SYS_mlockall, MCL_CURRENT, 0, 0, 0, 0), 0);
	t = text(mm, true);
	assert_non_null(strstr(t, "40400000-40402000 rw-p 00000000 00:00 0 \nSize:                  8 kB\n"
				  "KernelPageSize:        4 kB\nMMUPageSize:           4 kB\n"
				  "Rss:                   8 kB\n"));
	free(t);
	done(m, mm);
}

/* Failing each allocation of a hugetlb mmap in turn: -ENOMEM, no reservation or object left. */
static void test_mmap_failure_sweep(void **state)
{
	struct as_machine *m = machine(1, 0);
	struct as_mm *mm;
	bool done_all = false;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	for (uint64_t n = 1; n < 64 && !done_all; n++) {
		long r;

		as_machine_fail_nth(m, n);
		r = hmap(mm, 0, HUGE, PA);
		as_machine_fail_nth(m, 0);
		if (r > 0) {
			done_all = true;
			assert_int_equal(sc(mm, SYS_munmap, (uint64_t)r, HUGE, 0, 0, 0), 0);
		} else {
			assert_int_equal(r, -ENOMEM);
		}
		assert_int_equal(as_mm_check(mm, stderr), 0);
		t_assert_machine_ok(m);
		/* The reservation came back: the pool's one page can be reserved again. */
		r = hmap(mm, 0, HUGE, PA);
		assert_true(r > 0);
		assert_int_equal(sc(mm, SYS_munmap, (uint64_t)r, HUGE, 0, 0, 0), 0);
	}
	assert_true(done_all);
	done(m, mm);
}

/* 1 GiB pages where the machine has them; config validation. */
static void test_1g_and_config(void **state)
{
	struct as_machine_config cfg;
	struct as_machine *m;
	struct as_mm *mm;
	long r;

	(void)state;
	as_machine_config_init(&cfg);
	cfg.ram_bytes = 64ull << 20;
	cfg.nr_hugepages_2m = 33; /* more than 64 MiB holds */
	assert_int_equal(as_machine_new(&cfg, &m), -EINVAL);
	cfg.nr_hugepages_2m = 0;
	cfg.nr_hugepages_1g = 1; /* without the 1 GiB size */
	assert_int_equal(as_machine_new(&cfg, &m), -EINVAL);
	cfg.nr_hugepages_1g = 0;
	cfg.hugetlb_dev_minor = 1u << 20; /* a minor number has 20 bits */
	assert_int_equal(as_machine_new(&cfg, &m), -EINVAL);
	cfg.hugetlb_dev_minor = 0x11;
	cfg.ram_bytes = 2ull << 30;
	cfg.hugepages_1g = 1;
	cfg.nr_hugepages_1g = 2;
	cfg.nr_hugepages_2m = 1; /* each fits, together more than RAM */
	assert_int_equal(as_machine_new(&cfg, &m), -EINVAL);
	cfg.ram_bytes = 64ull << 20;
	cfg.hugepages_1g = 0;
	cfg.nr_hugepages_1g = 0;
	cfg.nr_hugepages_2m = 0;

	m = machine(0, 1);
	assert_int_equal(as_mm_new(m, &mm), 0);
	r = hmap(mm, 0, 0x1000, PA | MAP_HUGE_1GB);
	assert_true(r > 0 && !(r & ((1l << 30) - 1)));
	assert_int_equal(hmap(mm, 0, 0x1000, PA | MAP_HUGE_1GB), -ENOMEM);
	assert_int_equal(sc(mm, SYS_munmap, (uint64_t)r, HUGE, 0, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_munmap, (uint64_t)r, 1ull << 30, 0, 0, 0), 0);
	assert_true(hmap(mm, 0, 0x1000, PA | MAP_HUGE_1GB) > 0);
	done(m, mm);
}

/* Overcommit mode 2 counts RAM less the huge page pools; a space's ids refuse -1 */
static void test_overcommit_without_pools(void **state)
{
	struct as_machine_config cfg;
	struct as_machine *m;
	struct as_mm *mm;

	(void)state;
	as_machine_config_init(&cfg);
	cfg.ram_bytes = 64ull << 20;
	cfg.overcommit_memory = 2;
	cfg.overcommit_ratio = 100;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_true(sc(mm, SYS_mmap, 0, 20ull << 20, RW, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1) > 0);
	assert_int_equal(as_mm_set_ids(mm, UINT32_MAX, 0), -EINVAL);
	assert_int_equal(as_mm_set_ids(mm, 0, UINT32_MAX), -EINVAL);
	assert_int_equal(as_mm_set_ids(mm, 65534, 65534), 0);
	done(m, mm);

	cfg.nr_hugepages_2m = 16; /* 32 of the 64 MiB: the limit is now under 32 MiB */
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(sc(mm, SYS_mmap, 0, 40ull << 20, RW, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1),
			 -ENOMEM);
	assert_true(sc(mm, SYS_mmap, 0, 20ull << 20, RW, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1) > 0);
	done(m, mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags_and_alignment),
		cmocka_unit_test(test_region_rules),
		cmocka_unit_test(test_reservations),
		cmocka_unit_test(test_populate_skips_failing_region),
		cmocka_unit_test(test_mmap_failure_sweep),
		cmocka_unit_test(test_1g_and_config),
		cmocka_unit_test(test_overcommit_without_pools),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
