/*
 * Readahead decides which page cache pages exist, and so whether a fault
 * is minor or major and what fault-around maps. aspace's page cache is the
 * host's (docs/FILES.md): it asks the host to read ahead as Linux would for
 * the same mapping and call.
 */
#include "regress.h"

/* MADV_WILLNEED on a file (vfs_fadvise WILLNEED) reads a hole in: the COW write after it is minor */
static void test_willneed_file_reads_ahead(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FTRUNCATE(RG_FD(0), 0x14000ull),
		ORC_MMAP_FD(0, 0x3c22ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x5000ull),
		ORC_MADVISE(ORC_REF(1, 0x1000), 0x1000ull, MADV_WILLNEED),
		ORC_WRITE(ORC_REF(1, 0x1000), 1, 0x17ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* Without it, the same write is a major fault (not in minflt) */
static void test_no_willneed_major(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FTRUNCATE(RG_FD(0), 0x14000ull),
		ORC_MMAP_FD(0, 0x3c22ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x5000ull),
		ORC_WRITE(ORC_REF(1, 0x1000), 1, 0x17ull),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * A read of a hole in a MADV_HUGEPAGE file region: Linux reads ahead in
 * large folios (here one folio of the whole 16-page file). The fault's
 * first try finds nothing cached and leaves no page table; on its retry
 * the folio reaches EOF, so fault-around installs no table either and
 * maps nothing: 1 page mapped (seed 419 --unprivileged).
 */
static void test_regress_file_hugepage_readahead(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x8000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(1), 0),
		ORC_FTRUNCATE(RG_FD(1), 0),
		ORC_MADVISE(ORC_REF(0, 0), 0x6000ull, MADV_HUGEPAGE),
		ORC_FTRUNCATE(RG_FD(1), 0x10000ull),
		ORC_READ(ORC_REF(0, 0x44db), 1),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/* The same with a page table already there: fault-around maps the folio's pages in the region (6) */
static void test_hugepage_readahead_with_table(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000100000ull, 0x8000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0),
		ORC_MMAP_FD(0x200000108000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_WRITE(0x200000108000ull, 1, 0x11ull),
		ORC_FTRUNCATE(RG_FD(1), 0),
		ORC_MADVISE(0x200000100000ull, 0x6000ull, MADV_HUGEPAGE),
		ORC_FTRUNCATE(RG_FD(1), 0x10000ull),
		ORC_READ(0x2000001044dbull, 1),
		ORC_READ(0x200000107000ull, 1),
	};
	(void)state;
	RG_RUN(seq);
}

/* Without MADV_HUGEPAGE and without a table, the hole fault's retry maps its neighbours (order-0 readahead) */
static void test_hole_readahead_no_table(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000100000ull, 0x8000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0),
		ORC_FTRUNCATE(RG_FD(1), 0),
		ORC_FTRUNCATE(RG_FD(1), 0x10000ull),
		ORC_READ(0x2000001044dbull, 1),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_willneed_file_reads_ahead),
		cmocka_unit_test(test_no_willneed_major),
		cmocka_unit_test(test_regress_file_hugepage_readahead),
		cmocka_unit_test(test_hugepage_readahead_with_table),
		cmocka_unit_test(test_hole_readahead_no_table),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
