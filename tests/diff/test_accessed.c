/*
 * folio_mark_accessed and smaps' Referenced: (docs/linux-semantics.md §12.3).
 * With the classic LRU, a first touch of a folio (GUP's FOLL_TOUCH, a young
 * entry of a page cache page going away) sets PG_referenced, a second one
 * moves it to the active list and clears PG_referenced; smaps counts a page
 * as Referenced when its entry is young or the folio has PG_referenced.
 * A forked child's entries start old, so it shows the folio's flag alone.
 */
#include "regress.h"

/* MAP_POPULATE then MADV_POPULATE_READ: two touches, the child sees an unreferenced page */
static void test_two_touches_activate(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE, -1, 0),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_POPULATE_READ),
		ORC_FORK(),
		ORC_EXIT(1),
	};
	(void)state;
	RG_RUN(seq);
}

/* One touch only: the child sees a referenced page */
static void test_one_touch_references(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE, -1, 0),
		ORC_FORK(),
		ORC_EXIT(1),
	};
	(void)state;
	RG_RUN(seq);
}

/* Three touches: active, then referenced again */
static void test_three_touches(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE, -1, 0),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_POPULATE_READ),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_POPULATE_WRITE),
		ORC_FORK(),
		ORC_EXIT(1),
	};
	(void)state;
	RG_RUN(seq);
}

/* Unmapping a young second mapping of a file page marks the folio accessed */
static void test_unmap_young_file_page_marks(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_WRITE, MAP_SHARED, RG_FD(0), 0),
		ORC_WRITE(ORC_REF(0, 0), 1, 0xc3ull),
		ORC_MREMAP(ORC_REF(0, 0), 0, 0x1000ull, MREMAP_MAYMOVE, 0),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_COLD),
		ORC_READ(ORC_REF(2, 0), 1),
		ORC_MUNMAP(ORC_REF(2, 0), 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* ... unless the region asked for no recency (MADV_SEQUENTIAL) */
static void test_unmap_young_sequential_no_mark(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_WRITE, MAP_SHARED, RG_FD(0), 0),
		ORC_WRITE(ORC_REF(0, 0), 1, 0xc3ull),
		ORC_MREMAP(ORC_REF(0, 0), 0, 0x1000ull, MREMAP_MAYMOVE, 0),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_COLD),
		ORC_MADVISE(ORC_REF(2, 0), 0x1000ull, MADV_SEQUENTIAL),
		ORC_READ(ORC_REF(2, 0), 1),
		ORC_MUNMAP(ORC_REF(2, 0), 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* GUP touches a MADV_FREE'd page, then its drain makes it unreferenced */
static void test_populate_touch_then_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_WRITE(ORC_REF(0, 0xe1), 0x1000ull, 0x5aull),
		ORC_MADVISE(ORC_REF(0, 0), 0x2000ull, MADV_FREE),
		ORC_MADVISE(ORC_REF(0, 0x1000), 0x1000ull, MADV_POPULATE_READ),
	};
	(void)state;
	RG_RUN(seq);
}

/* mlock's populate touches once; a second touch of an mlocked page changes nothing */
static void test_mlocked_second_touch(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MLOCK(ORC_REF(0, 0), 0x1000ull),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_POPULATE_WRITE),
		ORC_FORK(),
		ORC_SWITCH(1),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_mlocked_one_touch(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MLOCK(ORC_REF(0, 0), 0x1000ull),
		ORC_FORK(),
		ORC_SWITCH(1),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_map_locked_then_mlock(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_LOCKED, -1, 0),
		ORC_MLOCK(ORC_REF(0, 0), 0x1000ull),
		ORC_FORK(),
		ORC_SWITCH(1),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * mremap(DONTUNMAP) unlocks the region it leaves but not its pages: a page
 * still mlocked is left alone by MADV_PAGEOUT, young bit and all (seed 205)
 */
static void test_dontunmap_stale_mlock_pageout(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000028000ull, 0xa000ull, PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0),
		ORC_READ(0x20000002dca8ull, 1),
		ORC_MLOCK2(0x200000028000ull, 0x2000ull, MLOCK_ONFAULT),
		ORC_MREMAP(0x200000028000ull, 0x1000ull, 0x1000ull, MREMAP_MAYMOVE|MREMAP_DONTUNMAP, 0),
		ORC_MADVISE(0x200000029000ull, 0x1000ull, MADV_PAGEOUT),
	};
	(void)state;
	RG_RUN(seq);
}

/* munlock unlocks the pages too: MADV_PAGEOUT then reclaims the clean page */
static void test_munlock_then_pageout(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000028000ull, 0xa000ull, PROT_READ, MAP_PRIVATE, RG_FD(0), 0),
		ORC_MLOCK(0x200000028000ull, 0x2000ull),
		ORC_MUNLOCK(0x200000028000ull, 0x2000ull),
		ORC_MADVISE(0x200000028000ull, 0x2000ull, MADV_PAGEOUT),
	};
	(void)state;
	RG_RUN(seq);
}

/* ext4 zeroes the block at the lower end of a size change through the page cache: that page is marked accessed (seed 304) */
static void test_truncate_edge_page_accessed(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x4000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(1), 0),
		ORC_READ(ORC_REF(0, 0x4ad), 1),
		ORC_FTRUNCATE(RG_FD(1), 0x2064ull),
		ORC_MADVISE(ORC_REF(0, 0x2000), 0x1000ull, MADV_COLD),
		ORC_FTRUNCATE(RG_FD(1), 0x10000ull),
		ORC_MADVISE(ORC_REF(0, 0x1000), 0x2000ull, MADV_COLD),
		ORC_FTRUNCATE(RG_FD(1), 0x3000ull),
		ORC_FTRUNCATE(RG_FD(1), 0x4000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * The page cache outlives the file's last region: PG_reclaim that
 * MADV_PAGEOUT left on a dirty page still makes fault-around skip it when
 * the file is mapped again (seed 303)
 */
static void test_page_state_outlives_regions(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000039000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, RG_FD(0), 0x1000ull),
		ORC_MADVISE(0x200000039000ull, 0x3000ull, MADV_POPULATE_WRITE),
		ORC_MADVISE(0x20000003b000ull, 0x1000ull, MADV_PAGEOUT),
		ORC_MLOCKALL(MCL_FUTURE),
		ORC_MUNMAP(0x200000036000ull, 0x6000ull),
		ORC_MUNMAP(0x20000003c000ull, 0x1000ull),
		ORC_MMAP_FD(0x200000318000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_SHARED, RG_FD(0), 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* Three map-touch-unmap cycles: the folio is active, then referenced again; a forked child shows it */
static void test_lru_flags_outlive_regions(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000100000ull, 0x1000ull, PROT_READ, MAP_SHARED|MAP_FIXED, RG_FD(0), 0),
		ORC_READ(0x200000100000ull, 1),
		ORC_MUNMAP(0x200000100000ull, 0x1000ull),
		ORC_MMAP_FD(0x200000100000ull, 0x1000ull, PROT_READ, MAP_SHARED|MAP_FIXED, RG_FD(0), 0),
		ORC_READ(0x200000100000ull, 1),
		ORC_MUNMAP(0x200000100000ull, 0x1000ull),
		ORC_MMAP_FD(0x200000100000ull, 0x1000ull, PROT_READ, MAP_SHARED|MAP_FIXED, RG_FD(0), 0),
		ORC_READ(0x200000100000ull, 1),
		ORC_MUNMAP(0x200000100000ull, 0x1000ull),
		ORC_MMAP_FD(0x200000200000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(0), 0),
		ORC_READ(0x200000200000ull, 1),
		ORC_WRITE(0x200000201000ull, 1, 0x7aull),
		ORC_FORK(),
		ORC_SWITCH(1),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_COLD ages an mlocked page too (seed 409); only reclaim leaves it */
static void test_cold_ages_mlocked_page(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x4000ull, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_LOCKED, -1, 0),
		ORC_MREMAP(ORC_REF(0, 0x3000), 0x1000ull, 0x1000ull, MREMAP_MAYMOVE|MREMAP_DONTUNMAP, 0),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_COLD),
		ORC_FORK(),
		ORC_SWITCH(1),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * A page unmapped from a locked region is munlocked through a batch: a
 * touch in another space before the batch drains finds it still
 * unevictable and leaves PG_referenced set (seed 406)
 */
static void test_munlock_batched_at_exit(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FORK(),
		ORC_MMAP_FD(0x200000006000ull, 0x60daull, PROT_READ|PROT_WRITE,
			    MAP_PRIVATE|MAP_ANONYMOUS|MAP_LOCKED, -1, 0),
		ORC_FORK(),
		ORC_EXIT(2),
		ORC_MADVISE(0x20000000c000ull, 0x1000ull, MADV_POPULATE_READ),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_POPULATE_* drains once, at its end, not after each region: a MADV_FREE'd page it touches in a later region comes out unreferenced (seed 612) */
static void test_populate_drains_once_at_end(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000010000ull, 0x5000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_READ(0x200000014ff4ull, 1),
		ORC_MADVISE(0x20000000f000ull, 0x3000ull, MADV_DONTDUMP),
		ORC_MADVISE(0x200000014000ull, 0x1000ull, MADV_FREE),
		ORC_MADVISE(0x200000011000ull, 0x8000ull, MADV_POPULATE_READ),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * mlock of a page shared with a forked child mlocks it, then its write
 * populate breaks COW: the old page leaves the locked region and is
 * munlocked, so the child's MADV_FREE marks it lazily freeable (seed 714)
 */
static void test_mlock_cow_break_munlocks(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000dd5000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_READ(0x200000dd5ff9ull, 1),
		ORC_FORK(),
		ORC_MLOCK(0x200000dd5000ull, 0x1000ull),
		ORC_SWITCH(1),
		ORC_MADVISE(0x200000dd5000ull, 0x1000ull, MADV_FREE),
		ORC_MADVISE(0x200000dd4000ull, 0x1000ull, MADV_POPULATE_READ),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_touches_activate),
		cmocka_unit_test(test_one_touch_references),
		cmocka_unit_test(test_three_touches),
		cmocka_unit_test(test_unmap_young_file_page_marks),
		cmocka_unit_test(test_unmap_young_sequential_no_mark),
		cmocka_unit_test(test_populate_touch_then_drain),
		cmocka_unit_test(test_mlocked_second_touch),
		cmocka_unit_test(test_mlocked_one_touch),
		cmocka_unit_test(test_map_locked_then_mlock),
		cmocka_unit_test(test_dontunmap_stale_mlock_pageout),
		cmocka_unit_test(test_munlock_then_pageout),
		cmocka_unit_test(test_truncate_edge_page_accessed),
		cmocka_unit_test(test_page_state_outlives_regions),
		cmocka_unit_test(test_lru_flags_outlive_regions),
		cmocka_unit_test(test_cold_ages_mlocked_page),
		cmocka_unit_test(test_munlock_batched_at_exit),
		cmocka_unit_test(test_populate_drains_once_at_end),
		cmocka_unit_test(test_mlock_cow_break_munlocks),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
