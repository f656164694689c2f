/*
 * Regression tests from `aspace diff` (docs/DIFF.md): guard regions
 * (MADV_GUARD_INSTALL) survive MADV_DONTNEED and MADV_DONTNEED_LOCKED in
 * Linux 6.18 (zapping keeps guard markers); aspace removes them. They fail
 * until aspace is fixed.
 */
#include "regress.h"

/* the read: kernel SIGSEGV SEGV_MAPERR (the guard), aspace reads a fresh page */
static void test_regress_guard_survives_dontneed(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000015000ull, 0x1000ull, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MADVISE(0x200000015000ull, 0x1000ull, MADV_GUARD_INSTALL),
		ORC_MADVISE(0x200000015000ull, 0x1000ull, MADV_DONTNEED),
		ORC_READ(0x200000015000ull, 1),
	};
	(void)state;
	RG_RUN(seq);
}

/* mlock of the guarded page: kernel -ENOMEM, aspace 0 (and a page faulted in) */
static void test_regress_guard_mlock_enomem(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_GUARD_INSTALL),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_DONTNEED),
		ORC_MLOCK(ORC_REF(0, 0), 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* a fetch: kernel SEGV_MAPERR (the guard), aspace SEGV_ACCERR after faulting a page in */
static void test_regress_guard_survives_dontneed_locked(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x2000002e0000ull, 0x7ee9ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0),
		ORC_MADVISE(0x2000002e7000ull, 0x1000ull, MADV_GUARD_INSTALL),
		ORC_MADVISE(0x2000002e6000ull, 0x2000ull, MADV_DONTNEED_LOCKED),
		ORC_EXEC(0x2000002e7000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* Guards in shared anonymous memory prepare no anonymous object: the regions still merge (seed 414 --unprivileged) */
static void test_regress_guard_shared_still_merges(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000769000ull, 0xc000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0),
		ORC_MADVISE(0x200000773000ull, 0x1000ull, MADV_HUGEPAGE),
		ORC_MADVISE(0x20000076e000ull, 0x8000ull, MADV_GUARD_INSTALL),
		ORC_MADVISE(0x200000769000ull, 0xc000ull, MADV_NOHUGEPAGE),
		ORC_FORK(),
		ORC_SWITCH(1),
		ORC_READ(0x20000076f000ull, 1),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regress_guard_shared_still_merges),
		cmocka_unit_test(test_regress_guard_survives_dontneed),
		cmocka_unit_test(test_regress_guard_mlock_enomem),
		cmocka_unit_test(test_regress_guard_survives_dontneed_locked),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
