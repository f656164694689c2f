/*
 * Regression tests from `aspace diff` (docs/DIFF.md): smaps' Referenced of
 * pages faulted in by population (MAP_LOCKED, mlock, MADV_POPULATE_*). GUP
 * with FOLL_TOUCH marks the folio accessed (PG_referenced), which smaps
 * counts even when the PTE is old: in a forked child (fork makes the
 * child's PTEs old) and after MADV_FREE (which clears the young bit).
 * aspace counts only young PTEs. They fail until aspace is fixed.
 */
#include "regress.h"

/* the child after fork: Referenced kernel 4 kB, aspace 0 */
static void test_regress_referenced_fork_map_locked(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_LOCKED, RG_FD(0), 0x4000ull),
		ORC_FORK(),
		ORC_SWITCH(1),
	};
	(void)state;
	RG_RUN(seq);
}

/* the child after its parent exits: Referenced kernel 4 kB, aspace 0 */
static void test_regress_referenced_fork_mlock(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE|PROT_GROWSDOWN, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MLOCK(ORC_REF(0, 0), 0x1000ull),
		ORC_FORK(),
		ORC_EXIT(1),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_FREE of populated pages (the call fails on the hole after them): Referenced 36 kB vs 24 kB */
static void test_regress_referenced_madv_free_populated(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MMAP_FD(ORC_REF(0, 0x1000), 0x9000ull, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MADVISE(ORC_REF(0, 0), 0xa000ull, MADV_POPULATE_READ),
		ORC_MADVISE(ORC_REF(1, 0x6000), 0x5000ull, MADV_FREE),
	};
	(void)state;
	RG_RUN(seq);
}

/* populated by mlockall(MCL_FUTURE), then MADV_FREE: Referenced kernel 4 kB, aspace 0 */
static void test_regress_referenced_madv_free_mcl_future(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MLOCKALL(MCL_FUTURE),
		ORC_MMAP_FD(0x7ffff7ecd000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0),
		ORC_MUNLOCK(ORC_REF(1, 0), 0x1000ull),
		ORC_MADVISE(ORC_REF(1, 0), 0x2000ull, MADV_FREE),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regress_referenced_fork_map_locked),
		cmocka_unit_test(test_regress_referenced_fork_mlock),
		cmocka_unit_test(test_regress_referenced_madv_free_populated),
		cmocka_unit_test(test_regress_referenced_madv_free_mcl_future),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
