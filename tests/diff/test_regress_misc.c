/*
 * Regression tests from `aspace diff` (docs/DIFF.md): mmap, mprotect,
 * mremap, mlock, madvise, mincore and brk. They fail until aspace is fixed.
 */
#include "regress.h"

/* MAP_FIXED at an unaligned address beyond the top: kernel -ENOMEM, aspace returns the address */
static void test_regress_mmap_fixed_beyond_top(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0xfffffffffff082b9ull, 0x6d47ull, PROT_READ, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0x1000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* 32 GiB of shared anonymous memory: the kernel charges shmem at creation (-ENOMEM), aspace maps it */
static void test_regress_shmem_charged_at_mmap(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x800000000ull, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_SHARED|MAP_ANONYMOUS, -1, 0),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * mprotect making an mlocked private region writable populates it for
 * writing (mprotect_fixup): kernel Private_Dirty 4 kB, aspace Private_Clean.
 */
static void test_regress_mprotect_locked_populates_write(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_LOCKED, -1, 0),
		ORC_MPROTECT(ORC_REF(0, 0), 0x1000ull, PROT_READ|PROT_WRITE),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_PAGEOUT of a shared anonymous page: the kernel unmaps it (Rss 0), aspace keeps it */
static void test_regress_pageout_shmem(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000038000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0),
		ORC_READ(0x200000038000ull, 1),
		ORC_MADVISE(0x200000038000ull, 0x1000ull, MADV_PAGEOUT),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * What MADV_PAGEOUT leaves behind, without swap (checked with mincore and
 * the faults of a later access): a shmem page that was only read is
 * dropped (mincore 0, comes back zeroed), a written one is unmapped but
 * stays cached (mincore 1, its data back at a minor fault); private
 * anonymous memory stays mapped and Referenced.
 */
static void test_regress_pageout_shmem_refault(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, 0x3000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS),
		ORC_MMAP(0, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_WRITE(ORC_REF(0, 0x1000), 1, 0x5a),
		ORC_WRITE(ORC_REF(1, 0), 1, 0x11),
		ORC_MADVISE(ORC_REF(0, 0), 0x3000ull, MADV_PAGEOUT),
		ORC_MADVISE(ORC_REF(1, 0), 0x1000ull, MADV_PAGEOUT),
		ORC_MINCORE(ORC_REF(0, 0), 0x3000ull, ORC_REF(1, 0x1000)),
		ORC_READ(ORC_REF(0, 0x1000), 1),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_READ(ORC_REF(1, 0), 1),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * MADV_PAGEOUT of file pages: a page the space alone maps is unmapped
 * and, dirty as the fuzzer's files are (just written), stays cached; after
 * msync(MS_SYNC) it is clean and leaves the page cache (mincore 0, the
 * next read a major fault). A page a forked child maps too is left alone.
 */
static void test_regress_pageout_file_clean_dirty(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x2000ull, PROT_READ|PROT_WRITE, MAP_SHARED, RG_FD(1), 0),
		ORC_MMAP_FD(0, 0x1000ull, PROT_READ, MAP_PRIVATE, RG_FD(1), 0x8000ull),
		ORC_MMAP(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_READ(ORC_REF(1, 0), 1),
		ORC_MADVISE(ORC_REF(1, 0), 0x1000ull, MADV_PAGEOUT),
		ORC_MINCORE(ORC_REF(1, 0), 0x1000ull, ORC_REF(2, 0)),
		ORC_READ(ORC_REF(1, 0), 1),
		ORC_MSYNC(ORC_REF(0, 0), 0x2000ull, MS_SYNC),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_PAGEOUT),
		ORC_MINCORE(ORC_REF(0, 0), 0x2000ull, ORC_REF(2, 0x10)),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_FORK(),
		ORC_MADVISE(ORC_REF(0, 0), 0x2000ull, MADV_PAGEOUT),
		ORC_READ(ORC_REF(0, 0x1000), 1),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * MADV_PAGEOUT as a process that neither owns the file nor may write it
 * (can_do_file_pageout): only anonymous pages are paged out; the file's
 * pages stay mapped (Rss, Referenced), a copied-on-write page is treated
 * as anonymous memory (kept: no swap).
 */
static void test_regress_pageout_unprivileged_file(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x3000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(1), 0),
		ORC_MMAP(0, 0x1000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_WRITE(ORC_REF(0, 0x1000), 1, 0x33),
		ORC_MADVISE(ORC_REF(0, 0), 0x3000ull, MADV_PAGEOUT),
		ORC_MINCORE(ORC_REF(0, 0), 0x3000ull, ORC_REF(1, 0)),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_READ(ORC_REF(0, 0x1000), 1),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/*
 * msync(MS_SYNC) of shared anonymous memory (shmem: noop_fsync) does not
 * drain the lazy-free batch: kernel LazyFree 0 kB, aspace 4 kB.
 */
static void test_regress_lazyfree_msync_shmem_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, 0x1000ull, PROT_READ, MAP_DROPPABLE|MAP_ANONYMOUS),
		ORC_MMAP(0x40001000ull, 0x3000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS),
		ORC_MINCORE(ORC_REF(0, 0), 0x1000ull, 0x40003fdbull),
		ORC_MMAP(0, 0x1000ull, PROT_READ, MAP_SHARED|MAP_ANONYMOUS),
		ORC_MADVISE(0x40001000ull, 0x3000ull, MADV_FREE),
		ORC_MSYNC(ORC_REF(3, 0), 0x1000ull, MS_SYNC),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * MADV_COLD over a shared file mapping and the hole after it (ENOMEM, the
 * mapping aged all the same), then an instruction fetch of a non-exec
 * page: kernel Referenced 0 kB, aspace 4 kB.
 */
static void test_regress_cold_file_fetch_unreferenced(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x4000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_POPULATE, RG_FD(0), 0),
		ORC_MADVISE(ORC_REF(0, 0), 0xdf3dull, MADV_COLD),
		ORC_EXEC(ORC_REF(0, 0x2000)),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * MADV_COLLAPSE in a process with THP disabled (PR_SET_THP_DISABLE, as the
 * oracle's kernel child runs): kernel -EINVAL, aspace 0. aspace has no
 * per-process THP switch; this one may need one.
 */
static void test_regress_collapse_thp_disabled(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000016000ull, 0x400000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MADVISE(0x200000016000ull, 0x1000ull, MADV_POPULATE_WRITE),
		ORC_MADVISE(0x200000029000ull, 0x1000ull, MADV_COLLAPSE),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * A shrinking mremap(MAYMOVE|FIXED) whose old range runs past the end of
 * its region: the kernel unmaps the tail first, then moves what is left;
 * aspace refuses with -EFAULT. Anonymous, private file, shared file.
 */
static void test_regress_mremap_shrink_past_region_anon(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000a4b000ull, 0x6000ull, PROT_READ|PROT_WRITE|PROT_EXEC,
			    MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0),
		ORC_MREMAP(0x200000a4d000ull, 0x6000ull, 0x2000ull, MREMAP_MAYMOVE|MREMAP_FIXED, 0x200000a49000ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_regress_mremap_shrink_past_region_file(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x33000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0),
		ORC_MREMAP(ORC_REF(0, 0x30000), 0x4000ull, 0x2000ull, MREMAP_MAYMOVE|MREMAP_FIXED, 0x200000023000ull),
	};
	(void)state;
	RG_RUN(seq);
}

static void test_regress_mremap_shrink_past_region_shared(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000005000ull, 0x400000ull, PROT_READ, MAP_SHARED|MAP_FIXED, RG_FD(1), 0),
		ORC_MREMAP(0x2000001d2000ull, 0x23a000ull, 0xf7000ull, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7ffff7ef9000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * mlock of a region whose page was faulted in for reading, then made
 * writable: the kernel populates for writing (the page becomes dirty:
 * Private_Dirty 1024 kB), aspace leaves that page clean (4 kB Private_Clean).
 */
static void test_regress_mlock_populates_write(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x100000ull, PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_READ(ORC_REF(0, 0xa3000), 1),
		ORC_MPROTECT(ORC_REF(0, 0), 0x100000ull, PROT_READ|PROT_WRITE),
		ORC_MLOCK(ORC_REF(0, 0), 0x100000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * An unprivileged process's mincore of a file it may not write reports
 * every page resident (Linux hides the page cache from it): kernel
 * [1111111], aspace [1111110] (the last page is past EOF).
 */
static void test_regress_mincore_unprivileged_file(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x7000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0),
		ORC_MMAP_FD(0, 0x10000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MINCORE(ORC_REF(0, 0), 0x7000ull, ORC_REF(1, 0xffb4)),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/*
 * brk growth after mlockall(MCL_FUTURE) past RLIMIT_MEMLOCK (unprivileged):
 * the kernel refuses (the break stays), aspace grows and faults in 8192 pages.
 */
static void test_regress_brk_mlock_limit(void **state)
{
	static const struct orc_op seq[] = {
		ORC_BRK(0),
		ORC_MLOCKALL(MCL_FUTURE),
		ORC_BRK(ORC_REF(0, 0x2000000)),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/*
 * A shrinking mremap(MAYMOVE|FIXED) of a writable private region after
 * RLIMIT_DATA was lowered below its size: the kernel moves it (the move
 * adds nothing), aspace -ENOMEM.
 */
static void test_regress_mremap_shrink_data_limit(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x201000ull, PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_SETRLIMIT(RLIMIT_DATA, 0x219000ull, (uint64_t)-1),
		ORC_MREMAP(ORC_REF(0, 0), 0x125000ull, 0x7c000ull, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7ffff7cff000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* An instruction fetch below a growsdown region: the kernel grows it, then refuses the fetch (ACCERR) (seed 402) */
static void test_regress_growsdown_fetch_grows(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000029000ull, 0x1000ull, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_GROWSDOWN, -1, 0),
		ORC_EXEC(0x200000011000ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* mremap(DONTUNMAP) of a locked region leaves locked_vm counting the source: RLIMIT_MEMLOCK then refuses sooner (seed 514 --unprivileged) */
static void test_regress_dontunmap_locked_vm_kept(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MLOCKALL(MCL_FUTURE|MCL_ONFAULT),
		ORC_MMAP_FD(0x2000007d3000ull, 0x400000ull, PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_MREMAP(0x200000bae000ull, 0x12000ull, 0x12000ull, MREMAP_MAYMOVE|MREMAP_DONTUNMAP, 0),
		ORC_MMAP_FD(0, 0x400000ull, PROT_READ|PROT_WRITE, MAP_SHARED_VALIDATE, RG_FD(1), 0),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/* munlockall after a failed mlock and a guard install: the split file region merges back, as the guard gave it no anonymous object (seed 808) */
static void test_regress_munlockall_merges_moved_file(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1f000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0),
		ORC_MREMAP(ORC_REF(0, 0), 0x1f000ull, 0x22000ull, MREMAP_MAYMOVE|MREMAP_FIXED, 0x200000034000ull),
		ORC_MLOCK(0x200000048000ull, 0x1000ull),
		ORC_MADVISE(0x200000054000ull, 0x1000ull, MADV_GUARD_INSTALL),
		ORC_MUNLOCKALL(),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * MADV_GUARD_INSTALL prepares an anonymous object only for an anonymous
 * region: a guard-marked private file region next to one with an object
 * merges with it when their flags agree again; two anonymous ones don't
 * (each has its own object).
 */
static void test_regress_guard_install_file_no_anon(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000100000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0),
		ORC_MADVISE(0x200000103000ull, 0x1000ull, MADV_DONTFORK),
		ORC_WRITE(0x200000100000ull, 1, 0x11ull),
		ORC_MADVISE(0x200000103000ull, 0x1000ull, MADV_GUARD_INSTALL),
		ORC_MADVISE(0x200000103000ull, 0x1000ull, MADV_DOFORK),
		ORC_MMAP_FD(0x200000200000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MADVISE(0x200000203000ull, 0x1000ull, MADV_DONTFORK),
		ORC_WRITE(0x200000200000ull, 1, 0x11ull),
		ORC_MADVISE(0x200000203000ull, 0x1000ull, MADV_GUARD_INSTALL),
		ORC_MADVISE(0x200000203000ull, 0x1000ull, MADV_DOFORK),
		ORC_FORK(),
		ORC_READ(0x200000103000ull, 1),
		ORC_READ(0x200000203000ull, 1),
	};
	(void)state;
	RG_RUN(seq);
}

/*
 * msync(MS_SYNC) of one mapping cleans the page in every mapping: the next
 * write through another faults (seed 818), in a forked child too, and for
 * a page the synced mapping never touched.
 */
static void test_regress_msync_cleans_other_mapping(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000030000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_SHARED, RG_FD(0), 0),
		ORC_WRITE(0x200000030c66ull, 1, 0xb7ull),
		ORC_MMAP_FD(0x200000031000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, RG_FD(0), 0),
		ORC_MSYNC(0x200000031000ull, 0x1000ull, MS_SYNC),
		ORC_WRITE(0x200000030000ull, 1, 0x83ull),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

static void test_regress_msync_cleans_other_space(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000030000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, RG_FD(1), 0),
		ORC_WRITE(0x200000030000ull, 1, 0x11ull),
		ORC_WRITE(0x200000032000ull, 1, 0x22ull),
		ORC_FORK(),
		ORC_WRITE(0x200000031000ull, 1, 0x33ull),
		ORC_MSYNC(0x200000030000ull, 0x4000ull, MS_SYNC),
		ORC_SWITCH(0),
		ORC_WRITE(0x200000030000ull, 1, 0x44ull),
		ORC_WRITE(0x200000031000ull, 1, 0x55ull),
		ORC_WRITE(0x200000032000ull, 1, 0x66ull),
		ORC_MMAP_FD(0x200000040000ull, 0x1000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, RG_FD(1), 0x3000ull),
		ORC_WRITE(0x200000040000ull, 1, 0x77ull),
		ORC_MSYNC(0x200000032000ull, 0x1000ull, MS_SYNC),
		ORC_WRITE(0x200000040000ull, 1, 0x88ull),
		ORC_MSYNC(0x200000033000ull, 0x1000ull, MS_SYNC),
		ORC_WRITE(0x200000040000ull, 1, 0x99ull),
	};
	(void)state;
	RG_RUN(seq);
}

/* MADV_PAGEOUT of a shared file mapping the caller may not write does nothing, not even drain (seed 818) */
static void test_regress_pageout_unwritable_shared_no_drain(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x1000ull, PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0),
		ORC_MMAP_FD(0x2000005e9000ull, 0x4000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED_NOREPLACE, RG_FD(0), 0x3000ull),
		ORC_READ(ORC_REF(0, 0xffa), 1),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_FREE),
		ORC_MADVISE(0x2000005eb000ull, 0x1000ull, MADV_PAGEOUT),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/*
 * An untouched anonymous region moved between two neighbours it merges
 * with: the merge swallows the source itself (its pgoff follows the new
 * address). aspace read the freed source afterwards (seed 1204: a garbage
 * locked_vm_kept after DONTUNMAP of a locked region); with a plain move,
 * the source's unmap must then leave the merged region alone.
 */
static void test_regress_mremap_source_merged_away(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x200000100000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MMAP_FD(0x200000104000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MLOCK2(0x200000100000ull, 0x2000ull, MLOCK_ONFAULT),
		ORC_MLOCK2(0x200000104000ull, 0x2000ull, MLOCK_ONFAULT),
		ORC_MREMAP(0x200000104000ull, 0x2000ull, 0x2000ull, MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP, 0x200000102000ull),
		ORC_WRITE(0x200000103000ull, 1, 0x11ull),
		/* locked_vm now 6 pages, none in a locked region: 10 more fit a limit of 16, 11 don't */
		ORC_SETRLIMIT(RLIMIT_MEMLOCK, 0x10000ull, 0x10000ull),
		ORC_MMAP_FD(0x200000300000ull, 0xb000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_LOCKED, -1, 0),
		ORC_MMAP_FD(0x200000300000ull, 0xa000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_LOCKED, -1, 0),
		ORC_MMAP_FD(0x200000200000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MMAP_FD(0x200000204000ull, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0),
		ORC_MREMAP(0x200000204000ull, 0x2000ull, 0x2000ull, MREMAP_MAYMOVE|MREMAP_FIXED, 0x200000202000ull),
		ORC_WRITE(0x200000205000ull, 1, 0x22ull),
	};
	(void)state;
	RG_RUN(seq);
	RG_RUN_NOBODY(seq);
}

/*
 * The exit of the process that locked a page munlocks it through the
 * per-CPU mlock batch; another sharer's MADV_POPULATE_READ touches it
 * while it is still unevictable (no effect), then drains: Referenced
 * stays. (Seed 1411 --unprivileged found this after mlockall(MCL_CURRENT),
 * which also locks the harness's own pages: their munlocks at exit fill
 * the batch in the kernel, not in aspace, whose stand-in regions hold no
 * pages; the generator no longer makes such a process exit.)
 */
static void test_regress_exit_munlock_batched(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0x3fffd000ull, 0x1000ull, PROT_READ, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS|MAP_LOCKED, -1, 0),
		ORC_FORK(),
		ORC_FORK(),
		ORC_EXIT(2),
		ORC_MADVISE(0x3fffd000ull, 0x1000ull, MADV_POPULATE_READ),
	};
	(void)state;
	RG_RUN_NOBODY(seq);
}

/* mlock populating shared anonymous memory: one minor fault per page, after a fork too */
static void test_shmem_mlock_populate_after_fork(void **state)
{
	static const struct orc_op plain[] = {
		ORC_MMAP_FD(0x7ffff7ccf000ull, 0x100000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_MLOCK(ORC_REF(0, 0), 0x100000ull),
	};
	static const struct orc_op parent[] = {
		ORC_MMAP_FD(0x7ffff7ccf000ull, 0x100000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_FORK(),
		ORC_MLOCK(ORC_REF(0, 0), 0x100000ull),
	};
	static const struct orc_op child[] = {
		ORC_MMAP_FD(0x7ffff7ccf000ull, 0x100000ull, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED|MAP_ANONYMOUS, -1, 0),
		ORC_FORK(),
		ORC_SWITCH(1),
		ORC_MLOCK(ORC_REF(0, 0), 0x100000ull),
	};
	(void)state;
	RG_RUN(plain);
	RG_RUN(parent);
	RG_RUN(child);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regress_munlockall_merges_moved_file),
		cmocka_unit_test(test_regress_guard_install_file_no_anon),
		cmocka_unit_test(test_regress_msync_cleans_other_mapping),
		cmocka_unit_test(test_regress_msync_cleans_other_space),
		cmocka_unit_test(test_regress_pageout_unwritable_shared_no_drain),
		cmocka_unit_test(test_regress_dontunmap_locked_vm_kept),
		cmocka_unit_test(test_regress_growsdown_fetch_grows),
		cmocka_unit_test(test_regress_mmap_fixed_beyond_top),
		cmocka_unit_test(test_regress_shmem_charged_at_mmap),
		cmocka_unit_test(test_regress_mprotect_locked_populates_write),
		cmocka_unit_test(test_regress_pageout_shmem),
		cmocka_unit_test(test_regress_pageout_shmem_refault),
		cmocka_unit_test(test_regress_pageout_file_clean_dirty),
		cmocka_unit_test(test_regress_pageout_unprivileged_file),
		cmocka_unit_test(test_regress_cold_file_fetch_unreferenced),
		cmocka_unit_test(test_regress_lazyfree_msync_shmem_no_drain),
		cmocka_unit_test(test_regress_collapse_thp_disabled),
		cmocka_unit_test(test_regress_mremap_shrink_past_region_anon),
		cmocka_unit_test(test_regress_mremap_shrink_past_region_file),
		cmocka_unit_test(test_regress_mremap_shrink_past_region_shared),
		cmocka_unit_test(test_regress_mlock_populates_write),
		cmocka_unit_test(test_regress_mincore_unprivileged_file),
		cmocka_unit_test(test_regress_brk_mlock_limit),
		cmocka_unit_test(test_regress_mremap_shrink_data_limit),
		cmocka_unit_test(test_regress_mremap_source_merged_away),
		cmocka_unit_test(test_regress_exit_munlock_batched),
		cmocka_unit_test(test_shmem_mlock_populate_after_fork),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
