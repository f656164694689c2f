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

/*
 * MADV_RANDOM does not stop the exec readahead (seed 1120 --unprivileged):
 * a hole read in a random exec region reads to the region's end, and the
 * retry maps all of it (Rss 24 kB, not 16)
 */
static void test_exec_random_region_reads_to_end(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FTRUNCATE(RG_FD(0), 0x10000ull),
		ORC_MMAP_FD(0, 0x9000ull, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_32BIT, RG_FD(0), 0),
		ORC_MADVISE(0x40003000ull, 0x6000ull, MADV_RANDOM),
		ORC_READ(0x40006c0aull, 1),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/* MADV_SEQUENTIAL's readahead wins over the exec one: the pages past the region get cached too */
static void test_exec_sequential_region_reads_ahead(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FTRUNCATE(RG_FD(1), 0x40000ull),
		ORC_MMAP_FD(0x200000100000ull, 0x10000ull, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0x20000ull),
		ORC_MMAP_FD(0x200000200000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MADVISE(0x200000103000ull, 0x9000ull, MADV_SEQUENTIAL),
		ORC_READ(0x200000106000ull, 1),
		ORC_MINCORE(0x200000100000ull, 0x10000ull, 0x200000200000ull),
		ORC_READ(0x20000010c000ull, 1),
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
		cmocka_unit_test(test_exec_random_region_reads_to_end),
		cmocka_unit_test(test_exec_sequential_region_reads_ahead),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
