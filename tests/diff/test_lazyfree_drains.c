/*
 * Which calls drain the per-CPU LRU batches (lru_add_drain), seen through
 * MADV_FREE: a page MADV_FREE'd waits in the lazy-free batch and shows as
 * LazyFree in smaps only once the batch is drained. Each test frees one page
 * of region A, then makes one call on another region B, and compares smaps
 * with the kernel's. Probed on 6.18 (docs/linux-semantics.md, "LRU batches"):
 * unlocking a locked region drains, pages or not; MADV_WILLNEED drains on
 * anonymous memory and shmem, not on a file (private /dev/zero included);
 * a shmem object losing cached pages (its last mapping gone, MADV_REMOVE)
 * drains; losing none does not.
 */
#include "regress.h"

#define FREE_ONE_PAGE(a) \
	ORC_MMAP_FD(a, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0), \
	ORC_WRITE((a) + 0x1000, 1, 0x5aull), \
	ORC_MADVISE((a) + 0x1000, 0x1000ull, MADV_FREE)

#define A 0x200000000000ull
#define B 0x200000100000ull

static void test_munlock_locked_region_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MLOCK2(B, 0x1000ull, MLOCK_ONFAULT),
		FREE_ONE_PAGE(A),
		ORC_MUNLOCK(B, 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_munlock_unlocked_region_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_WRITE(B, 1, 1),
		FREE_ONE_PAGE(A),
		ORC_MUNLOCK(B, 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_munlockall_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MLOCK(B, 0x1000ull),
		FREE_ONE_PAGE(A),
		ORC_MUNLOCKALL(),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_willneed_anon_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		FREE_ONE_PAGE(A),
		ORC_MADVISE(B, 0x1000ull, MADV_WILLNEED),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_willneed_shmem_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		FREE_ONE_PAGE(A),
		ORC_MADVISE(B, 0x1000ull, MADV_WILLNEED),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_willneed_file_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ, MAP_PRIVATE|MAP_FIXED, RG_FD(0), 0),
		FREE_ONE_PAGE(A),
		ORC_MADVISE(B, 0x1000ull, MADV_WILLNEED),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_shmem_last_unmap_with_page_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x2000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_READ(B, 1),
		FREE_ONE_PAGE(A),
		ORC_MUNMAP(B, 0x2000ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_shmem_partial_unmap_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x2000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_READ(B, 1),
		FREE_ONE_PAGE(A),
		ORC_MUNMAP(B, 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_shmem_last_unmap_empty_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x2000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		FREE_ONE_PAGE(A),
		ORC_MUNMAP(B, 0x2000ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_shmem_remove_page_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x2000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_WRITE(B, 1, 7),
		FREE_ONE_PAGE(A),
		ORC_MADVISE(B, 0x1000ull, MADV_REMOVE),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_shmem_remove_hole_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x2000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_WRITE(B, 1, 7),
		FREE_ONE_PAGE(A),
		ORC_MADVISE(B + 0x1000, 0x1000ull, MADV_REMOVE),
	};
	(void)state;
	RG_RUN(seq);
}

/* The drain makes the page unreferenced: FOLL_TOUCH had set PG_referenced, MADV_FREE cleared young */
static void test_drain_clears_referenced(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MLOCK(B, 0x1000ull),
		ORC_MMAP_FD(A, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_WRITE(A + 0x1000, 1, 0x5aull),
		ORC_MADVISE(A + 0x1000, 0x1000ull, MADV_POPULATE_READ),
		ORC_MADVISE(A + 0x1000, 0x1000ull, MADV_FREE),
		ORC_MUNLOCK(B, 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* populate_vma_page_range ends with a drain: MAP_POPULATE, MAP_LOCKED, and mprotect/mremap of locked regions */
static void test_map_populate_drains(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_POPULATE, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_map_locked_drains(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED|MAP_LOCKED, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_map_populate_prot_none_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_MMAP_FD(B, 0x1000ull, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_POPULATE, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_mprotect_locked_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x1000ull, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MLOCK(B, 0x1000ull),
		FREE_ONE_PAGE(A),
		ORC_MPROTECT(B, 0x1000ull, PROT_READ),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_mremap_grow_locked_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_LOCKED, -1, 0),
		FREE_ONE_PAGE(A),
		ORC_MREMAP(B, 0x1000ull, 0x2000ull, 0, 0),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_mlockall_onfault_mmap_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_MLOCKALL(MCL_FUTURE|MCL_ONFAULT),
		ORC_MMAP_FD(B, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* ftruncate drains only when it takes pages away: file 1 is 16 pages */
static void test_ftruncate_grow_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_FTRUNCATE(RG_FD(1), 0x14000ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_ftruncate_last_page_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_FTRUNCATE(RG_FD(1), 0xf800ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_ftruncate_shrink_drains(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_FTRUNCATE(RG_FD(1), 0xe000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* mlockall(MCL_CURRENT) drains through the regions it locks; refused (-ENOMEM) it drains nothing (seed 218) */
static void test_mlockall_current_drains(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_MLOCKALL(MCL_CURRENT|MCL_ONFAULT),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_mlockall_refused_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_MMAP_FD(B, 0x4000000ull, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_NORESERVE, -1, 0),
		ORC_MLOCKALL(MCL_CURRENT|MCL_ONFAULT),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/* exit drains nothing: the page the parent MADV_FREE'd stays referenced in the child (seed 408) */
static void test_exit_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE, -1, 0),
		ORC_FORK(),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_FREE),
		ORC_EXIT(1),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_REMOVE of a file page the host caches drains, though this space never touched it (seed 510) */
static void test_file_remove_host_cached_drains(void **state)
{
	static const struct orc_op seq[] = {
		FREE_ONE_PAGE(A),
		ORC_MMAP_FD(B, 0x4d0cull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, RG_FD(0), 0),
		ORC_MADVISE(B + 0x1000, 0x1000ull, MADV_REMOVE),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_munlock_locked_region_drains),
		cmocka_unit_test(test_munlock_unlocked_region_no_drain),
		cmocka_unit_test(test_munlockall_drains),
		cmocka_unit_test(test_willneed_anon_drains),
		cmocka_unit_test(test_willneed_shmem_drains),
		cmocka_unit_test(test_willneed_file_no_drain),
		cmocka_unit_test(test_shmem_last_unmap_with_page_drains),
		cmocka_unit_test(test_shmem_partial_unmap_no_drain),
		cmocka_unit_test(test_shmem_last_unmap_empty_no_drain),
		cmocka_unit_test(test_shmem_remove_page_drains),
		cmocka_unit_test(test_shmem_remove_hole_no_drain),
		cmocka_unit_test(test_drain_clears_referenced),
		cmocka_unit_test(test_map_populate_drains),
		cmocka_unit_test(test_map_locked_drains),
		cmocka_unit_test(test_map_populate_prot_none_no_drain),
		cmocka_unit_test(test_mprotect_locked_drains),
		cmocka_unit_test(test_mremap_grow_locked_drains),
		cmocka_unit_test(test_mlockall_onfault_mmap_no_drain),
		cmocka_unit_test(test_ftruncate_grow_no_drain),
		cmocka_unit_test(test_ftruncate_last_page_no_drain),
		cmocka_unit_test(test_ftruncate_shrink_drains),
		cmocka_unit_test(test_mlockall_current_drains),
		cmocka_unit_test(test_mlockall_refused_no_drain),
		cmocka_unit_test(test_exit_no_drain),
		cmocka_unit_test(test_file_remove_host_cached_drains),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
