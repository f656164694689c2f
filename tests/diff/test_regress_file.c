/*
 * Regression tests from `aspace diff` (docs/DIFF.md): file mappings of the
 * fuzzer's temporary files (f0: 5 pages and 100 bytes, f1: 16 pages, f2: 1
 * page, ext4, order-0 page cache). They fail until aspace is fixed.
 */
#include "regress.h"

/*
 * MAP_SHARED_VALIDATE|MAP_SYNC|MAP_FIXED over a mapping: ext4 refuses
 * MAP_SYNC in its ->mmap, after the old mapping was unmapped. Both answer
 * EOPNOTSUPP; the kernel's old mapping is gone, aspace's is still there.
 */
static void test_regress_file_map_sync_fixed_unmaps(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x7ffff7ffc000ull, 0x4000ull, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MMAP_FD(0x7ffff7ffe000ull, 0x1000ull, PROT_READ|PROT_WRITE|PROT_EXEC,
			    MAP_SHARED_VALIDATE|MAP_FIXED|MAP_SYNC, RG_FD(1), 0x8000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* A shared file page read, made writable, written: the kernel takes a write fault (minflt 1), aspace 0 */
static void test_regress_file_shared_mprotect_write_fault(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000009000ull, 0x2204ull, PROT_READ|PROT_EXEC, MAP_SHARED, RG_FD(1), 0x2000ull),
		ORC_READ(0x20000000bffcull, 1),
		ORC_MPROTECT(0x200000009000ull, 0x2000ull, PROT_READ|PROT_WRITE),
		ORC_WRITE(0x20000000a000ull, 1, 0xf3ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* The same after MAP_POPULATE: minflt kernel 1, aspace 0 */
static void test_regress_file_shared_populate_mprotect_write_fault(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000018000ull, 0x6000ull, PROT_READ|PROT_WRITE|PROT_EXEC,
			    MAP_SHARED|MAP_POPULATE|MAP_FIXED_NOREPLACE, RG_FD(1), 0),
		ORC_MPROTECT(0x200000018000ull, 0x6000ull, PROT_READ|PROT_WRITE),
		ORC_WRITE(0x20000001dff5ull, 0x20ull, 0x15ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* mlock of a write-only shared mapping after ftruncate grew the file: minflt kernel 1, aspace 0 */
static void test_regress_file_shared_wo_mlock_after_truncate(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x7ffff800c000ull, 0x11000ull, PROT_WRITE, MAP_SHARED|MAP_FIXED_NOREPLACE, RG_FD(0), 0x8000ull),
		ORC_FTRUNCATE(RG_FD(0), 0x10000ull),
		ORC_MLOCK(ORC_REF(0, 0x5000), 0x5000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* A read past EOF of a private file mapping: SIGBUS on both; aspace also maps a page (Rss 4 kB) */
static void test_regress_file_sigbus_maps_nothing(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x3000ull, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE, RG_FD(0), 0x5000ull),
		ORC_READ(ORC_REF(0, 0x2000), 1),
	};
	(void)state;
	RG_RUN(seq);
}

/* The same on a shared mapping grown in place by mremap past EOF (read-only descriptor) */
static void test_regress_file_shared_sigbus_maps_nothing(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000021000ull, 0x1000ull, PROT_READ, MAP_SHARED, RG_FD_RO(2), 0),
		ORC_MREMAP(0x200000021000ull, 0x1000ull, 0x7000ull, 0, 0),
		ORC_READ(0x200000022000ull, 1),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_POPULATE_READ past EOF of a private file mapping: aspace maps a page (Rss 4 kB), the kernel none */
static void test_regress_file_populate_past_eof(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x9000ull, PROT_READ|PROT_EXEC, MAP_PRIVATE, RG_FD_RO(2), 0),
		ORC_MADVISE(ORC_REF(0, 0x6000), 0x1000ull, MADV_POPULATE_READ),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * A write past EOF (SIGBUS) prepared the region's anon_vma before the file
 * fault failed: fork then copies its file PTEs (Shared_Dirty 44 kB, Pss
 * halved in the kernel; aspace Private_Dirty 44 kB).
 */
static void test_regress_file_failed_cow_fork_copies(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x20000002d000ull, 0x400000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0x2000ull),
		ORC_READ(0x200000037000ull, 1),
		ORC_WRITE(0x2000002e0b07ull, 1, 0x63ull),
		ORC_FORK(),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * Populating a private writable file mapping for writing, partly over a
 * hole the file got from ftruncate: one fault per page in the kernel (6),
 * one less in aspace (5). MAP_POPULATE shows the same (10 against 9).
 */
static void test_regress_file_map_locked_hole_faults(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FTRUNCATE(RG_FD(0), 0x14000ull),
		ORC_MMAP_FD(0, 0x6000ull, PROT_WRITE, MAP_PRIVATE|MAP_LOCKED, RG_FD(0), 0x3000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* mlock of a shared file page MADV_REMOVE punched out: the kernel faults it in again (minflt 1), aspace 0 */
static void test_regress_file_mlock_after_remove(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x20000001d000ull, 0x5cfaull, PROT_READ|PROT_WRITE, MAP_SHARED, RG_FD(1), 0),
		ORC_MADVISE(0x20000001d000ull, 0x1000ull, MADV_REMOVE),
		ORC_MLOCK(0x20000001d000ull, 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_POPULATE_WRITE of a shared file page read before and made writable: minflt kernel 1, aspace 0 */
static void test_regress_file_shared_populate_write_fault(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000023000ull, 0x1ea2ull, PROT_READ|PROT_WRITE, MAP_SHARED, RG_FD(1), 0xe000ull),
		ORC_READ(0x200000023000ull, 1),
		ORC_MPROTECT(0x200000024000ull, 0x1000ull, PROT_READ|PROT_WRITE|PROT_EXEC),
		ORC_MADVISE(0x200000024000ull, 0x1000ull, MADV_POPULATE_WRITE),
	};
	(void)state;
	RG_RUN(seq);
}

/* The same failed-COW anon_vma, from MADV_POPULATE_WRITE past EOF (EFAULT): fork copies the file PTEs */
static void test_regress_file_failed_populate_fork_copies(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x100000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(1), 0),
		ORC_MADVISE(ORC_REF(0, 0xb5000), 0x1000ull, MADV_POPULATE_WRITE),
		ORC_READ(ORC_REF(0, 0x4000), 1),
		ORC_FORK(),
	};
	(void)state;
	RG_RUN(seq);
}

/* And with two such regions split by mlock2: the kernel can't merge them back at munlockall, aspace does */
static void test_regress_file_failed_cow_no_merge(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x20000003e000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD_RO(2), 0),
		ORC_MLOCK2(0x200000041000ull, 0x1000ull, MLOCK_ONFAULT),
		ORC_WRITE(0x200000040ff5ull, 1, 0xa3ull),
		ORC_WRITE(0x200000041000ull, 1, 0x1ull),
		ORC_MUNLOCKALL(),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * A fetch (faulted in as a read) in a MADV_SEQUENTIAL private mapping of a
 * file ftruncate grew over the mapping: the kernel maps one page (Rss 4 kB),
 * aspace two (8 kB).
 */
static void test_regress_file_fault_sequential_after_truncate(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x2000ull, PROT_READ|PROT_WRITE|PROT_GROWSDOWN, MAP_PRIVATE, RG_FD(0), 0x6000ull),
		ORC_MADVISE(ORC_REF(0, 0), 0x2000ull, MADV_SEQUENTIAL),
		ORC_FTRUNCATE(RG_FD(0), 0x14000ull),
		ORC_EXEC(ORC_REF(0, 0x1000)),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_PAGEOUT of a read private file page: the kernel reclaims it (Rss 0), aspace keeps it */
static void test_regress_file_pageout(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x20000002d000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED_NOREPLACE, RG_FD(1), 0x1000ull),
		ORC_MMAP_FD(0x200000031000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED_NOREPLACE, RG_FD(1), 0),
		ORC_READ(0x200000030aa6ull, 0x709ull),
		ORC_MADVISE(0x200000031000ull, 0x1000ull, MADV_PAGEOUT),
	};
	(void)state;
	RG_RUN(seq);
}

/* mremap growing a locked shared file mapping past EOF: Rss differs (the kernel maps no page past EOF) */
static void test_regress_file_mremap_grow_locked(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000990000ull, 0x1000ull, PROT_READ, MAP_SHARED, RG_FD(0), 0x5000ull),
		ORC_MLOCK(0x200000990000ull, 0x2000ull),
		ORC_MREMAP(0x200000990000ull, 0x1000ull, 0x11000ull, MREMAP_MAYMOVE, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * Shared file pages populated for reading, then made writable by mprotect:
 * clean entries stay read-only (write-notify), the first write faults
 * (minflt kernel 1, aspace 0).
 */
static void test_regress_file_shared_populate_read_mprotect_write(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000020000ull, 0xb000ull, PROT_READ, MAP_SHARED, RG_FD(1), 0),
		ORC_MADVISE(0x200000023000ull, 0x1000ull, MADV_POPULATE_READ),
		ORC_MPROTECT(0x200000024000ull, 0x4000ull, PROT_READ|PROT_WRITE),
		ORC_WRITE(0x2000000273c5ull, 1, 0xc3ull),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * The other branches of write-notify under mprotect: a shared file entry
 * already dirty becomes writable again (no fault at the next write), a
 * clean one does not (one fault); shared anonymous memory (shmem, no
 * write-notify) gets every entry writable (no fault).
 */
static void test_regress_file_shared_dirty_mprotect_writable(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000100000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, RG_FD(1), 0),
		ORC_WRITE(0x200000100000ull, 1, 0x11ull),
		ORC_READ(0x200000101000ull, 1),
		ORC_MPROTECT(0x200000100000ull, 0x4000ull, PROT_READ),
		ORC_MPROTECT(0x200000100000ull, 0x4000ull, PROT_READ|PROT_WRITE),
		ORC_WRITE(0x200000100000ull, 1, 0x12ull),
		ORC_WRITE(0x200000101000ull, 1, 0x12ull),
		ORC_WRITE(0x200000102000ull, 1, 0x12ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_regress_file_shmem_mprotect_writable(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0x200000100000ull, 0x4000ull, PROT_READ, MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED),
		ORC_READ(0x200000100000ull, 1),
		ORC_READ(0x200000101000ull, 1),
		ORC_MPROTECT(0x200000100000ull, 0x4000ull, PROT_READ|PROT_WRITE),
		ORC_WRITE(0x200000100000ull, 1, 0x12ull),
		ORC_WRITE(0x200000101000ull, 1, 0x12ull),
		ORC_MPROTECT(0x200000100000ull, 0x4000ull, PROT_READ),
		ORC_MPROTECT(0x200000100000ull, 0x4000ull, PROT_READ|PROT_WRITE),
		ORC_WRITE(0x200000100000ull, 1, 0x12ull),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * A failed COW's anonymous object in the merge rules: a new mapping next
 * to the region merges (its chain is singular), as does an mprotect
 * round trip; in a forked child (chain of two) nothing merges any more.
 */
static void test_regress_file_failed_cow_merge_rules(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000100000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0xe000ull),
		ORC_WRITE(0x200000103000ull, 1, 0x12ull),
		ORC_MMAP_FD(0x200000104000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0x12000ull),
		ORC_MPROTECT(0x200000101000ull, 0x1000ull, PROT_READ),
		ORC_MPROTECT(0x200000101000ull, 0x1000ull, PROT_READ|PROT_WRITE),
		ORC_FORK(),
		ORC_WRITE(0x200000105000ull, 1, 0x12ull),
		ORC_MMAP_FD(0x200000106000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0x14000ull),
		ORC_MMAP_FD(0x2000000fe000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0xc000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * mlockall(MCL_FUTURE), then a private writable mapping of a file ftruncate
 * grew: populating its holes reads them on the host, yet each counts as a
 * minor fault (kernel minflt 5; aspace counted one major, minflt 4), since
 * __mm_populate retries afresh after the lock was dropped for the read.
 */
static void test_regress_file_mcl_future_hole_minor_faults(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MLOCKALL(MCL_FUTURE),
		ORC_FTRUNCATE(RG_FD(0), 0x14000ull),
		ORC_MMAP_FD(0x200000001000ull, 0x4471ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED_NOREPLACE, RG_FD(0), 0x3000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * A read past EOF after munmap of a neighbour in the same 2 MiB: Linux's
 * free_pgtables keeps the PTE table the file region shares, so fault-around
 * has a table and maps the file's last page before the SIGBUS (Rss 4 kB);
 * aspace had freed the table and, by the no-table rule, mapped nothing.
 */
static void test_regress_file_sigbus_kept_table_maps(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x34000ull, PROT_READ, MAP_SHARED, RG_FD(0), 0),
		ORC_MMAP_FD(0, 0x1000ull, PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_DENYWRITE|MAP_EXECUTABLE|MAP_UNINITIALIZED, -1, 0),
		ORC_READ(ORC_REF(1, 0), 1),
		ORC_MUNMAP(ORC_REF(1, 0), 0x1000ull),
		ORC_READ(ORC_REF(0, 0x14000), 1),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * MADV_PAGEOUT of a dirty private file page unmaps it but keeps it cached
 * with PG_reclaim, which Linux reads as PG_readahead: the next fault on it
 * starts readahead and retries, a major fault (MADV_POPULATE_WRITE: kernel
 * minflt 3, aspace counted 4 minor).
 */
static void test_regress_file_pageout_dirty_major(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000003000ull, 0x4000ull, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0x1000ull),
		ORC_READ(0x200000006ff9ull, 1),
		ORC_MADVISE(0x200000003000ull, 0x1000ull, MADV_PAGEOUT),
		ORC_MADVISE(0x200000003000ull, 0x6000ull, MADV_POPULATE_WRITE),
	};
	(void)state;
	RG_RUN(seq);
}

/* The same for reads: fault-around skips the marked page, whose own read fault is major */
static void test_regress_file_pageout_dirty_read(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000003000ull, 0x4000ull, PROT_READ, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0x1000ull),
		ORC_READ(0x200000006000ull, 1),
		ORC_MADVISE(0x200000003000ull, 0x2000ull, MADV_PAGEOUT),
		ORC_READ(0x200000004000ull, 1),
		ORC_READ(0x200000003000ull, 1),
		ORC_MADVISE(0x200000005000ull, 0x1000ull, MADV_PAGEOUT),
		ORC_MLOCK(0x200000005000ull, 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * MADV_POPULATE_WRITE of a shared mapping over holes ftruncate made: each
 * write fault dirties the page (fault_dirty_shared_page) though nothing is
 * written; kernel Private_Dirty 52 kB, aspace reported the pages clean
 * (the host's folios, which smaps asks, were only read).
 */
static void test_regress_file_shared_populate_write_holes_dirty(void **state)
{
	static const struct orc_op seq[] = {
		ORC_FTRUNCATE(RG_FD(0), 0x2064ull),
		ORC_FTRUNCATE(RG_FD(0), 0x10000ull),
		ORC_MMAP_FD(0, 0x10000ull, PROT_READ|PROT_WRITE, MAP_SHARED, RG_FD(0), 0x3000ull),
		ORC_MADVISE(ORC_REF(2, 0), 0x10000ull, MADV_POPULATE_WRITE),
	};
	(void)state;
	RG_RUN(seq);
}

/* A read shared page made writable by MADV_POPULATE_WRITE (wp_page_shared) is dirty, written or not */
static void test_regress_file_shared_wp_populate_dirty(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x4000ull, PROT_READ|PROT_WRITE, MAP_SHARED, RG_FD(1), 0),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_MADVISE(ORC_REF(0, 0), 0x4000ull, MADV_POPULATE_WRITE),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regress_file_shared_wp_populate_dirty),
		cmocka_unit_test(test_regress_file_map_sync_fixed_unmaps),
		cmocka_unit_test(test_regress_file_shared_mprotect_write_fault),
		cmocka_unit_test(test_regress_file_shared_populate_mprotect_write_fault),
		cmocka_unit_test(test_regress_file_shared_wo_mlock_after_truncate),
		cmocka_unit_test(test_regress_file_sigbus_maps_nothing),
		cmocka_unit_test(test_regress_file_shared_sigbus_maps_nothing),
		cmocka_unit_test(test_regress_file_populate_past_eof),
		cmocka_unit_test(test_regress_file_failed_cow_fork_copies),
		cmocka_unit_test(test_regress_file_map_locked_hole_faults),
		cmocka_unit_test(test_regress_file_mlock_after_remove),
		cmocka_unit_test(test_regress_file_shared_populate_write_fault),
		cmocka_unit_test(test_regress_file_failed_populate_fork_copies),
		cmocka_unit_test(test_regress_file_failed_cow_no_merge),
		cmocka_unit_test(test_regress_file_fault_sequential_after_truncate),
		cmocka_unit_test(test_regress_file_pageout),
		cmocka_unit_test(test_regress_file_mremap_grow_locked),
		cmocka_unit_test(test_regress_file_mcl_future_hole_minor_faults),
		cmocka_unit_test(test_regress_file_sigbus_kept_table_maps),
		cmocka_unit_test(test_regress_file_pageout_dirty_major),
		cmocka_unit_test(test_regress_file_pageout_dirty_read),
		cmocka_unit_test(test_regress_file_shared_populate_write_holes_dirty),
		cmocka_unit_test(test_regress_file_shared_populate_read_mprotect_write),
		cmocka_unit_test(test_regress_file_shared_dirty_mprotect_writable),
		cmocka_unit_test(test_regress_file_shmem_mprotect_writable),
		cmocka_unit_test(test_regress_file_failed_cow_merge_rules),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
