/*
 * Regression tests from `aspace diff` (docs/DIFF.md): MAP_DROPPABLE. Its
 * folios are lazily freeable from the start (no PG_swapbacked: smaps
 * counts them in LazyFree at once), and it is never mlocked: after
 * mlockall(MCL_FUTURE) a droppable mapping has no `lo`, yet the kernel
 * still populates it (do_mmap decided to before mmap_region cleared
 * VM_LOCKED). They fail until aspace is fixed.
 */
#include "regress.h"

/* smaps LazyFree: kernel 4 kB, aspace 0 */
static void test_regress_droppable_lazyfree_at_fault(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x2000006b6000ull, 0x1000ull, PROT_READ, MAP_DROPPABLE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_READ(0x2000006b6000ull, 1),
	};
	(void)state;
	RG_RUN(seq);
}

/* the same after mlock: LazyFree kernel 4 kB, aspace 0 */
static void test_regress_droppable_lazyfree_mlock(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ, MAP_DROPPABLE|MAP_ANONYMOUS, -1, 0),
		ORC_MLOCK(ORC_REF(0, 0), 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* a written droppable page after MADV_FREE */
static void test_regress_droppable_madv_free(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_DROPPABLE|MAP_ANONYMOUS, -1, 0),
		ORC_WRITE(ORC_REF(0, 0), 1, 0xc3ull),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_FREE),
	};
	(void)state;
	RG_RUN(seq);
}

/* VmFlags: kernel `rd wr mr mw me nr wf dd dp`, aspace adds `lo` (and Locked: 4 kB) */
static void test_regress_droppable_mcl_future_not_locked(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MLOCKALL(MCL_FUTURE),
		ORC_MMAP_FD(0x20000000f000ull, 0x1000ull, PROT_READ|PROT_WRITE,
			    MAP_DROPPABLE|MAP_FIXED|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* MCL_FUTURE|MCL_ONFAULT: the kernel faults the page in (minflt 1, Rss 4 kB), aspace does not */
static void test_regress_droppable_mcl_onfault_populates(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MLOCKALL(MCL_FUTURE|MCL_ONFAULT),
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ, MAP_DROPPABLE|MAP_ANONYMOUS, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_PAGEOUT drops a droppable page, dirty or not (seed 213 --unprivileged): Rss kernel 0, aspace 4 kB */
static void test_regress_droppable_pageout_drops(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000005000ull, 0x1000ull, PROT_READ|PROT_WRITE|PROT_EXEC,
			    MAP_DROPPABLE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_READ(0x200000005ff1ull, 1),
		ORC_MADVISE(0x200000005000ull, 0x1000ull, MADV_PAGEOUT),
		ORC_WRITE(0x200000005000ull, 1, 0x42ull),
		ORC_MADVISE(0x200000005000ull, 0x1000ull, MADV_PAGEOUT),
		ORC_READ(0x200000005000ull, 1),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regress_droppable_pageout_drops),
		cmocka_unit_test(test_regress_droppable_lazyfree_at_fault),
		cmocka_unit_test(test_regress_droppable_lazyfree_mlock),
		cmocka_unit_test(test_regress_droppable_madv_free),
		cmocka_unit_test(test_regress_droppable_mcl_future_not_locked),
		cmocka_unit_test(test_regress_droppable_mcl_onfault_populates),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
