/*
 * Regression tests from `aspace diff` (docs/DIFF.md): when MADV_FREE'd
 * pages show as LazyFree. MADV_FREE puts the folios in a per-CPU batch;
 * smaps counts them once the batch is drained (lru_add_drain). Some calls
 * drain it in the kernel and not in aspace (msync MS_SYNC, ftruncate,
 * mlock2, mlock), others the other way round (munmap of a file page,
 * mremap, brk). They fail until aspace is fixed.
 */
#include "regress.h"

/* munmap of a shared file page: LazyFree kernel 0, aspace 4 kB */
static void test_regress_lazyfree_munmap_file_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_WRITE(ORC_REF(0, 0xff9), 1, 0x93ull),
		ORC_MMAP_FD(0x20000003a000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, RG_FD(0), 0x8000ull),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_FREE),
		ORC_MUNMAP(0x20000003a000ull, 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* msync(MS_SYNC) of a shared file page: LazyFree kernel 4 kB, aspace 0 */
static void test_regress_lazyfree_msync_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x7ffffffff000ull, 0x1000ull, PROT_READ, MAP_SHARED, RG_FD(0), 0x5000ull),
		ORC_MMAP_FD(0x7ffff7ffb000ull, 0x3000ull, PROT_READ|PROT_WRITE,
			    MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0),
		ORC_WRITE(ORC_REF(1, 0x2000), 1, 0x4eull),
		ORC_MADVISE(ORC_REF(1, 0), 0x3000ull, MADV_FREE),
		ORC_MSYNC(0x7ffff7ffe000ull, 0x1000ull, MS_SYNC),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * msync(MS_SYNC) drains only when it writes a dirty page back: a second
 * msync of the same, now clean, page leaves a MADV_FREE page in its batch
 * (seed 1012: the fuzzer's file had been written back); the next dirty
 * page drains it.
 */
static void test_regress_lazyfree_msync_clean_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000030000ull, 0x2000ull, PROT_READ, MAP_SHARED|MAP_FIXED, RG_FD(0), 0),
		ORC_MSYNC(0x200000030000ull, 0x1000ull, MS_SYNC),
		ORC_MMAP_FD(0x200000040000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_WRITE(0x200000040000ull, 1, 0x4eull),
		ORC_MADVISE(0x200000040000ull, 0x1000ull, MADV_FREE),
		ORC_MSYNC(0x200000030000ull, 0x1000ull, MS_SYNC),
		ORC_MSYNC(0x200000031000ull, 0x1000ull, MS_SYNC),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/*
 * A copy-on-write fault on a page not yet on the LRU (new in a locked
 * region: in the mlock batch) drains the LRU batches before deciding
 * whether to reuse it (wp_can_reuse_anon_folio): the MADV_FREE'd page of
 * the other region becomes LazyFree (seed 1711 --unprivileged; here
 * mincore writes its vector into the page the fork shared).
 */
static void test_regress_lazyfree_cow_off_lru_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000040000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_WRITE(0x200000041ffaull, 1, 3),
		ORC_MLOCK2(0x200000040000ull, 0x1000ull, MLOCK_ONFAULT),
		ORC_MADVISE(0x200000041000ull, 0x1000ull, MADV_FREE),
		ORC_READ(0x200000040000ull, 1),
		ORC_FORK(),
		ORC_MINCORE(0x200000040000ull, 0x1000ull, 0x200000040ff4ull),
		ORC_MADVISE(0x200000041000ull, 0x1000ull, MADV_NORMAL),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/*
 * The same with a page that joined the lru_add batch (no lock): the
 * oracle's fork floods that batch (64 stack pages of the harness are
 * copied), so the page is on the LRU by the write: no drain.
 */
static void test_lazyfree_cow_after_fork_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000040000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_WRITE(0x200000041000ull, 1, 3),
		ORC_MADVISE(0x200000041000ull, 0x1000ull, MADV_FREE),
		ORC_WRITE(0x200000040000ull, 1, 4),
		ORC_FORK(),
		ORC_WRITE(0x200000040000ull, 1, 5),
		ORC_MADVISE(0x200000041000ull, 0x1000ull, MADV_NORMAL),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * mlock's write populate after a fork: each copy-on-write fault of a page
 * still in the mlock batch drains, then copies (seeds 1811, 1816: aspace
 * lost the copy after its drain: minflt 1 / 2)
 */
static void test_regress_lazyfree_mlock_populate_cow_after_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000034000ull, 0x400000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_MLOCK(0x200000034000ull, 0x4007f2ull),
		ORC_WRITE(0x200000335000ull, 1, 0xa2ull),
		ORC_FORK(),
		ORC_MLOCK(0x200000334000ull, 0x2000ull),
		ORC_MMAP_FD(0x7fffffffe000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MLOCKALL(MCL_CURRENT|MCL_ONFAULT),
		ORC_READ(ORC_REF(5, 0x981), 1),
		ORC_FORK(),
		ORC_MLOCK(ORC_REF(5, 0), 0x1000ull),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/*
 * PAGEOUT keeps a swap-backed page (no swap) and activates it; COLD then
 * deactivates it through the deactivate batch, which clears
 * PG_referenced again when it moves: MADV_POPULATE_WRITE's touch of the
 * page before its own drain is undone (Referenced 8 / 12 kB; seed 2215)
 */
static void test_regress_cold_deactivate_batched(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000040000ull, 0x4000ull, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_READ(0x200000043ff6ull, 1),
		ORC_MADVISE(0x200000040000ull, 0x4000ull, MADV_PAGEOUT),
		ORC_MADVISE(0x200000041000ull, 0x3000ull, MADV_COLD),
		ORC_MADVISE(0x200000041000ull, 0x3000ull, MADV_POPULATE_WRITE),
	};
	(void)state;
	RG_RUN(seq);
	RG_RUN_NOBODY(seq);
}

/* Shared by three, the page is not even looked at: no drain */
static void test_lazyfree_cow_three_sharers_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000040000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_WRITE(0x200000041000ull, 1, 3),
		ORC_MADVISE(0x200000041000ull, 0x1000ull, MADV_FREE),
		ORC_WRITE(0x200000040000ull, 1, 4),
		ORC_FORK(),
		ORC_FORK(),
		ORC_WRITE(0x200000040000ull, 1, 5),
		ORC_MADVISE(0x200000041000ull, 0x1000ull, MADV_NORMAL),
	};
	(void)state;
	RG_RUN(seq);
}

/* mremap shrinking another region: LazyFree kernel 0, aspace 4 kB */
static void test_regress_lazyfree_mremap_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x20000002e000ull, 0x3000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_MINCORE(0x20000002e000ull, 0x1000ull, 0x200000030fc4ull),
		ORC_MMAP_FD(0, 0xf000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MADVISE(0x20000002e000ull, 0x4000ull, MADV_FREE),
		ORC_MREMAP(0x7ffff7ff6000ull, 0x5000ull, 0x2000ull, MREMAP_MAYMOVE, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/* ftruncate of a file: LazyFree kernel 4 kB, aspace 0 */
static void test_regress_lazyfree_ftruncate_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MREMAP(0x7ffff7ffe000ull, 0x1000ull, 0xc000ull, MREMAP_MAYMOVE, 0),
		ORC_MPROTECT(ORC_REF(1, 0x9000), 0x2000ull, PROT_READ|PROT_WRITE),
		ORC_WRITE(ORC_REF(1, 0xaff6), 1, 0xc3ull),
		ORC_MADVISE(ORC_REF(1, 0xa000), 0x1000ull, MADV_FREE),
		ORC_FTRUNCATE(RG_FD(0), 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* mlock2(MLOCK_ONFAULT) of another region: LazyFree kernel 4 kB, aspace 0 */
static void test_regress_lazyfree_mlock2_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_READ(ORC_REF(0, 0x1a93), 1),
		ORC_MADVISE(ORC_REF(0, 0x1000), 0x1000ull, MADV_FREE),
		ORC_MMAP_FD(0x20000002c000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MLOCK2(0x20000002c970ull, 0x1619ull, MLOCK_ONFAULT),
	};
	(void)state;
	RG_RUN(seq);
}

/* mlock of a PROT_NONE file mapping: LazyFree kernel 4 kB, aspace 0 */
static void test_regress_lazyfree_mlock_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x20000001c000ull, 0x1000ull, PROT_READ|PROT_WRITE|PROT_EXEC,
			    MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_READ(0x20000001c000ull, 1),
		ORC_MADVISE(0x20000001c000ull, 0x1000ull, MADV_FREE),
		ORC_MMAP_FD(0, 0x1000ull, PROT_NONE, MAP_PRIVATE, RG_FD(0), 0),
		ORC_MLOCK(ORC_REF(3, 0), 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* brk shrinking the heap: LazyFree kernel 0, aspace 4 kB */
static void test_regress_lazyfree_brk_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_BRK(0),
		ORC_MMAP_FD(0x200000a87000ull, 0x3000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0),
		ORC_WRITE(0x200000a89ffeull, 1, 0x6dull),
		ORC_BRK(ORC_REF(0, 0x2000000)),
		ORC_MADVISE(0x200000a87000ull, 0x4000ull, MADV_FREE),
		ORC_BRK(ORC_REF(0, 0x1a000)),
	};
	(void)state;
	RG_RUN(seq);
}

/* msync(MS_SYNC) of anonymous memory has nothing to write back: LazyFree kernel 0, aspace 4 kB */
static void test_regress_lazyfree_msync_anon_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x7ffff80fb000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_MMAP_FD(0, 0xe000ull, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MINCORE(0x7ffff80fb000ull, 0x1000ull, 0x7ffff80fbfdeull),
		ORC_MADVISE(0x7ffff80fb000ull, 0x1000ull, MADV_FREE),
		ORC_MSYNC(ORC_REF(1, 0xa000), 0x1000ull, MS_SYNC),
	};
	(void)state;
	RG_RUN(seq);
}

/* mlock of an unmapped range fails (-ENOMEM) before draining: LazyFree kernel 0, aspace 4 kB */
static void test_regress_lazyfree_mlock_enomem_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x1fffffc2b000ull, 0x400000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_READ(0x200000015b94ull, 1),
		ORC_MADVISE(0x1fffffd3d000ull, 0x2f2000ull, MADV_FREE),
		ORC_MLOCK(0x7ffff7f62000ull, 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* mlock2 of an unmapped range fails (-ENOMEM) before draining: LazyFree kernel 0, aspace 4 kB */
static void test_regress_lazyfree_mlock2_enomem_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x7ffff7fff000ull, 0x6000ull, PROT_READ|PROT_WRITE|PROT_EXEC,
			    MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0),
		ORC_WRITE(ORC_REF(0, 0x4000), 1, 0xc3ull),
		ORC_MADVISE(0x7ffff7ffc000ull, 0xc000ull, MADV_FREE),
		ORC_MLOCK2(0x20000003b000ull, 0x1000ull, MLOCK_ONFAULT),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_POPULATE_READ of a PROT_NONE file mapping (unprivileged): LazyFree kernel 4 kB, aspace 0 */
static void test_regress_lazyfree_populate_read_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x76a3ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_READ(0x7ffff7ffeffcull, 1),
		ORC_MMAP_FD(ORC_REF(0, -0x403000), 0x1000ull, PROT_NONE, MAP_PRIVATE, RG_FD(1), 0x5000ull),
		ORC_MADVISE(0x7ffff7fe4000ull, 0x1b000ull, MADV_FREE),
		ORC_MADVISE(ORC_REF(2, 0), 0x1000ull, MADV_POPULATE_READ),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/*
 * Any MADV_POPULATE_* past the argument checks drains the batch, even one
 * that finds no region (-ENOMEM); an unaligned one (-EINVAL) does not.
 */
static void test_regress_lazyfree_populate_enomem_drains(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x8000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_WRITE(ORC_REF(0, 0x7000), 1, 0xc3ull),
		ORC_MADVISE(ORC_REF(0, 0), 0x8000ull, MADV_FREE),
		ORC_MADVISE(ORC_REF(0, 1), 0x1000ull, MADV_POPULATE_READ),
		ORC_MADVISE(0x10000ull, 0x1000ull, MADV_POPULATE_WRITE),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regress_lazyfree_munmap_file_no_drain),
		cmocka_unit_test(test_regress_lazyfree_msync_drains),
		cmocka_unit_test(test_regress_lazyfree_msync_clean_no_drain),
		cmocka_unit_test(test_regress_lazyfree_cow_off_lru_drains),
		cmocka_unit_test(test_lazyfree_cow_after_fork_no_drain),
		cmocka_unit_test(test_lazyfree_cow_three_sharers_no_drain),
		cmocka_unit_test(test_regress_cold_deactivate_batched),
		cmocka_unit_test(test_regress_lazyfree_mlock_populate_cow_after_drain),
		cmocka_unit_test(test_regress_lazyfree_mremap_no_drain),
		cmocka_unit_test(test_regress_lazyfree_ftruncate_drains),
		cmocka_unit_test(test_regress_lazyfree_mlock2_drains),
		cmocka_unit_test(test_regress_lazyfree_mlock_drains),
		cmocka_unit_test(test_regress_lazyfree_brk_no_drain),
		cmocka_unit_test(test_regress_lazyfree_msync_anon_no_drain),
		cmocka_unit_test(test_regress_lazyfree_mlock_enomem_no_drain),
		cmocka_unit_test(test_regress_lazyfree_mlock2_enomem_no_drain),
		cmocka_unit_test(test_regress_lazyfree_populate_read_drains),
		cmocka_unit_test(test_regress_lazyfree_populate_enomem_drains),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
