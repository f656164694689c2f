/*
 * Which page tables exist, seen through fault-around: with no page table
 * yet, a fault whose fault-around window starts at a folio reaching the
 * end of the file maps nothing but its own page (docs/FILES.md); with one,
 * fault-around maps the cached neighbours. So the tables that mremap leaves
 * at the destination show in smaps' Rss.
 */
#include "regress.h"

/*
 * mremap moving a page-less region out of a page table that has entries
 * elsewhere: the destination gets a table (move_page_tables allocates one
 * for every extent whose source has a table), so a SIGBUS fault next to it
 * maps the file's last cached page by fault-around.
 */
static void test_mremap_moves_empty_table(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000038000ull, 0xa000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0),
		ORC_MMAP_FD(0x200000035000ull, 0x3000ull, PROT_READ|PROT_WRITE|PROT_GROWSDOWN, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_READ(0x200000041000ull, 1),
		ORC_MMAP_FD(0, 0x121full, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x5000ull),
		ORC_MREMAP(0x200000037000ull, 0x1000ull, 0xe000ull, MREMAP_MAYMOVE, 0),
		ORC_READ(ORC_REF(3, 0x1000), 1),
	};
	(void)state;
	RG_RUN(seq);
}

/* The same move out of a range with no table at all: nothing is allocated, nothing is mapped */
static void test_mremap_no_table_no_alloc(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000035000ull, 0x3000ull, PROT_READ|PROT_WRITE|PROT_GROWSDOWN, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MMAP_FD(0, 0x121full, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x5000ull),
		ORC_MREMAP(0x200000037000ull, 0x1000ull, 0xe000ull, MREMAP_MAYMOVE, 0),
		ORC_READ(ORC_REF(1, 0x1000), 1),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mremap_moves_empty_table),
		cmocka_unit_test(test_mremap_no_table_no_alloc),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
