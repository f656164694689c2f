/*
 * Regressions from `aspace diff`: the host's readahead for a page bound on
 * a fault in a VM_EXEC file region. Linux 6.18 reads only the faulting page
 * for such a region (no read-around), so fault-around's retry after the
 * major fault finds no neighbour cached; aspace binds the page through an
 * executable host mapping so that the host decides the same way
 * (docs/FILES.md, docs/linux-semantics.md §13).
 */
#include "regress.h"

/* aspace diff --seed 94 --unprivileged, sequence 212: a hole past the old EOF read in an exec region (8 kB, not 12) */
static void test_exec_region_hole_reads_one_page(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FTRUNCATE(RG_FD(0), 0x14000ull),
		ORC_MMAP_FD(0x7ffff7ffd000ull, 0x3000ull, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE, RG_FD(0), 0x5000ull),
		ORC_READ(ORC_REF(1, 0x2ff7), 1),
	};
	(void)state;
	RG_RUN(seq);
	RG_RUN_NOBODY(seq);
}

/* The same without PROT_EXEC: the read-around caches the hole's neighbours, the retry maps them */
static void test_data_region_hole_reads_around(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FTRUNCATE(RG_FD(0), 0x14000ull),
		ORC_MMAP_FD(0x7ffff7ffd000ull, 0x3000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x5000ull),
		ORC_READ(ORC_REF(1, 0x2ff7), 1),
	};
	(void)state;
	RG_RUN(seq);
}

/* An exec region reading a hole in its middle, then the next page */
static void test_exec_region_hole_then_next(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FTRUNCATE(RG_FD(0), 0x14000ull),
		ORC_MMAP_FD(0, 0x8000ull, PROT_READ|PROT_EXEC, MAP_PRIVATE, RG_FD(0), 0x4000ull),
		ORC_READ(ORC_REF(1, 0x3000), 1),
		ORC_READ(ORC_REF(1, 0x4000), 1),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_region_hole_reads_one_page),
		cmocka_unit_test(test_data_region_hole_reads_around),
		cmocka_unit_test(test_exec_region_hole_then_next),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
