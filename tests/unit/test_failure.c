/*
 * Failure injection over the public operations: fail the n-th allocation
 * for every n an operation makes. The result must be Linux's error for
 * running out of memory, the space must stay consistent (as_mm_check), and
 * after teardown every frame must be free again.
 */
#include "testlib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define BASE 0x10000000ull
#define RW (PROT_READ | PROT_WRITE)

struct op {
	const char *name;
	long (*run)(struct as_mm *mm);
	long ok;        /* the result without injection */
	long failed;    /* the result when an allocation fails */
};

static long sc(struct as_mm *mm, long nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e,
	       uint64_t f)
{
	return as_syscall(mm, nr, a, b, c, d, e, f);
}

/* The space every operation starts from: three touched pages, a heap, a stack. */
static void setup(struct as_mm *mm)
{
	assert_int_equal(sc(mm, SYS_mmap, BASE, 3 * 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			    (uint64_t)-1, 0), (long)BASE);
	assert_int_equal(as_write(mm, BASE, "abc", 3, NULL), 0);
	assert_int_equal(as_write(mm, BASE + 8192, "xyz", 3, NULL), 0);
	assert_int_equal(as_mm_set_brk_base(mm, 0x20000000), 0);
}

static long op_mmap(struct as_mm *mm)
{
	return sc(mm, SYS_mmap, 0, 8192, RW, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0) > 0 ? 0 : -ENOMEM;
}
static long op_mmap_fixed_split(struct as_mm *mm)
{
	long r = sc(mm, SYS_mmap, BASE + 4096, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		    (uint64_t)-1, 0);
	return r == (long)(BASE + 4096) ? 0 : r;
}
static long op_munmap_middle(struct as_mm *mm)
{
	return sc(mm, SYS_munmap, BASE + 4096, 4096, 0, 0, 0, 0);
}
static long op_mprotect_middle(struct as_mm *mm)
{
	return sc(mm, SYS_mprotect, BASE + 4096, 4096, PROT_READ, 0, 0, 0);
}
static long op_madvise_split(struct as_mm *mm)
{
	return sc(mm, SYS_madvise, BASE + 4096, 4096, MADV_DONTFORK, 0, 0, 0);
}
static long op_mremap_move(struct as_mm *mm)
{
	long r = sc(mm, SYS_mremap, BASE, 3 * 4096, 3 * 4096, MREMAP_MAYMOVE | MREMAP_FIXED,
		    0x30000000, 0);
	return r == 0x30000000 ? 0 : r;
}
static long op_brk_grow(struct as_mm *mm)
{
	return sc(mm, SYS_brk, 0x20000000 + 3 * 4096, 0, 0, 0, 0, 0) == 0x20000000 + 3 * 4096 ? 0 : -ENOMEM;
}
static long op_write_fault(struct as_mm *mm)
{
	return as_write(mm, BASE + 4096, "q", 1, NULL);
}
static long op_fork(struct as_mm *mm)
{
	struct as_mm *child;
	int rc = as_mm_fork(mm, &child);

	if (rc == 0)
		as_mm_put(child);
	return rc;
}

static const struct op ops[] = {
	{ "mmap", op_mmap, 0, -ENOMEM },
	{ "mmap MAP_FIXED splitting a region", op_mmap_fixed_split, 0, -ENOMEM },
	{ "munmap of a middle page", op_munmap_middle, 0, -ENOMEM },
	{ "mprotect of a middle page", op_mprotect_middle, 0, -ENOMEM },
	{ "madvise splitting a region", op_madvise_split, 0, -EAGAIN },
	{ "mremap moving a region", op_mremap_move, 0, -ENOMEM },
	{ "brk growth", op_brk_grow, 0, -ENOMEM },
	{ "write fault", op_write_fault, 0, -ENOMEM },
	{ "fork", op_fork, 0, -ENOMEM },
};

static void sweep(const struct op *op)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm;
	uint64_t before, needed;

	/* Learn how many allocations the operation makes. */
	assert_int_equal(as_mm_new(m, &mm), 0);
	setup(mm);
	before = as_machine_alloc_count(m);
	assert_int_equal(op->run(mm), op->ok);
	needed = as_machine_alloc_count(m) - before;
	as_mm_put(mm);
	t_assert_machine_clean(m);
	if (needed == 0)
		fail_msg("%s makes no allocation: nothing to sweep", op->name);

	for (uint64_t n = 1; n <= needed; n++) {
		long rc;

		assert_int_equal(as_mm_new(m, &mm), 0);
		setup(mm);
		as_machine_fail_nth(m, n);
		rc = op->run(mm);
		as_machine_fail_nth(m, 0);
		/* Some allocations are optional (a cache refill another path covers): success is fine too. */
		if (rc != op->ok && rc != op->failed)
			fail_msg("%s with allocation %llu failing: %ld, expected %ld or %ld", op->name,
				 (unsigned long long)n, rc, op->ok, op->failed);
		if (as_mm_check(mm, stderr) != 0)
			fail_msg("%s with allocation %llu failing left the space inconsistent", op->name,
				 (unsigned long long)n);
		/* The space still works afterwards. */
		assert_int_equal(as_write(mm, BASE, "z", 1, NULL), 0);
		as_mm_put(mm);
		t_assert_machine_clean(m);
	}
	as_machine_free(m);
}

static void test_sweep_all(void **state)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		sweep(&ops[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
