/*
 * madvise, as Linux 6.x's mm/madvise.c does it on this kernel's
 * configuration (x86-64 with KSM and transparent huge pages, without
 * CONFIG_MEMORY_FAILURE: MADV_HWPOISON and MADV_SOFT_OFFLINE are unknown
 * advice and get -EINVAL).
 *
 * Three kinds of advice:
 *  - flag advice (NORMAL, RANDOM, SEQUENTIAL, DONTFORK, DOFORK, WIPEONFORK,
 *    KEEPONFORK, DONTDUMP, DODUMP, MERGEABLE, UNMERGEABLE, HUGEPAGE,
 *    NOHUGEPAGE) changes region flags, splitting and merging like mprotect;
 *    a split refused at max_map_count is -EAGAIN here, not -ENOMEM;
 *  - page advice (DONTNEED, DONTNEED_LOCKED, FREE, COLD, PAGEOUT, WILLNEED,
 *    REMOVE, COLLAPSE, GUARD_INSTALL, GUARD_REMOVE) acts on the entries of
 *    each region in the range;
 *  - POPULATE_READ and POPULATE_WRITE fault the range in, stopping at the
 *    first region that can't be faulted.
 * The first two walk the regions of the range: holes don't stop the walk
 * but make the result -ENOMEM once every region was advised; a region's
 * error stops it at once.
 *
 *      start                                           end
 *        |---- A ----|  hole  |---- B ----|  hole  |--C--|
 *        advise A             advise B             advise C, then -ENOMEM
 *
 * What aspace can't hold, and does differently:
 *  - no transparent huge pages: MADV_COLLAPSE checks what Linux checks and
 *    answers as Linux would, but leaves the small pages in place;
 *  - no swap: COLD ages the pages (clears their accessed bits), PAGEOUT
 *    reclaims what needs no swap (clean lazily freed pages; page cache
 *    pages, which are unmapped and leave the cache when clean, as this
 *    host's kernel does without swap), WILLNEED has nothing to read from
 *    swap, and the pages MADV_FREE marks lazily
 *    freed stay mapped with their data (what Linux shows until memory runs
 *    short; Linux's LazyFree count may lag by a per-CPU batch of pages);
 *  - MADV_DONTNEED leaves emptied page tables in place (Linux 6.18 frees
 *    the PTE tables a zap of 2 MiB or more emptied, CONFIG_PT_RECLAIM).
 */
#include "sys.h"
#include <aspace/mman.h>

#include "../fault/fault.h"
#include "../file/file.h"

#include <errno.h>
#include <sys/mman.h>


/* The state of one madvise call, carried through the per-region helpers. */
struct madv {
	struct as_mm *mm;
	int behavior;
	uint64_t start, end;       /* the part of the current region being advised */
	struct vm_area *v;         /* the current region; the one now covering the
	                              range after a flag change */
	bool flush;                /* entries were changed in place: shoot the TLBs down */
	uint64_t flush_start, flush_end;
};

/* Advice this kernel knows (madvise_behavior_valid). */
static bool behavior_valid(int behavior)
{
	switch (behavior) {
	case MADV_DOFORK:
	case MADV_DONTFORK:
	case MADV_NORMAL:
	case MADV_SEQUENTIAL:
	case MADV_RANDOM:
	case MADV_REMOVE:
	case MADV_WILLNEED:
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
	case MADV_FREE:
	case MADV_COLD:
	case MADV_PAGEOUT:
	case MADV_POPULATE_READ:
	case MADV_POPULATE_WRITE:
	case MADV_MERGEABLE:     /* CONFIG_KSM */
	case MADV_UNMERGEABLE:
	case MADV_HUGEPAGE:      /* CONFIG_TRANSPARENT_HUGEPAGE */
	case MADV_NOHUGEPAGE:
	case MADV_COLLAPSE:
	case MADV_DONTDUMP:
	case MADV_DODUMP:
	case MADV_WIPEONFORK:
	case MADV_KEEPONFORK:
	case MADV_GUARD_INSTALL:
	case MADV_GUARD_REMOVE:
		return true;
	default:
		return false;
	}
}

/* Advice that discards data, refused on sealed read-only anonymous memory (is_madv_discard). */
static bool behavior_discards(int behavior)
{
	switch (behavior) {
	case MADV_FREE:
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
	case MADV_REMOVE:
	case MADV_DONTFORK:
	case MADV_WIPEONFORK:
	case MADV_GUARD_INSTALL:
		return true;
	default:
		return false;
	}
}

/* Linux's vma_is_anonymous: private or not, no file behind it (private /dev/zero counts). */
static bool region_is_anon(const struct vm_area *v)
{
	return !v->file || file_map_is_anon(v->file);
}

/* Note that entries of [start, end) lost a right or a bit the TLB caches. */
static void want_flush(struct madv *a, uint64_t start, uint64_t end)
{
	if (!a->flush || start < a->flush_start)
		a->flush_start = start;
	if (!a->flush || end > a->flush_end)
		a->flush_end = end;
	a->flush = true;
}

/* ---- flag advice ---- */

/*
 * Give the current range the flags new_flags (madvise_update_vma). A split
 * refused for want of memory or at max_map_count is -EAGAIN, as Linux
 * reports it for madvise.
 */
static int update_region(struct madv *a, uint64_t new_flags)
{
	struct vma_merge g;
	struct vm_area *r;
	int err = 0;

	if (new_flags == a->v->flags)
		return 0;
	g = (struct vma_merge){
		.mm = a->mm, .middle = a->v, .start = a->start, .end = a->end, .flags = new_flags,
	};
	r = vma_modify(&g, &err);
	if (!r)
		return err == -ENOMEM ? -EAGAIN : err;
	r->flags = new_flags | (r->flags & VM_STICKY);
	a->v = r;
	return 0;
}

/* KSM advice (ksm_madvise): only regions KSM could scan take VM_MERGEABLE. */
static void ksm_advise(const struct vm_area *v, int behavior, uint64_t *flags)
{
	if (behavior == MADV_MERGEABLE) {
		if (v->flags & VM_MERGEABLE)
			return;
		if (v->flags & (VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND |
				VM_HUGETLB | VM_MIXEDMAP | VM_DROPPABLE))
			return;
		*flags |= VM_MERGEABLE;
	} else {
		/* No page was ever merged, so there is nothing to unmerge. */
		*flags &= ~VM_MERGEABLE;
	}
}

/* Advice that changes flags (the flag part of madvise_vma_behavior). */
static int advise_flags(struct madv *a)
{
	const struct vm_area *v = a->v;
	uint64_t f = v->flags;

	switch (a->behavior) {
	case MADV_NORMAL:
		f &= ~(VM_RAND_READ | VM_SEQ_READ);
		break;
	case MADV_SEQUENTIAL:
		f = (f & ~VM_RAND_READ) | VM_SEQ_READ;
		break;
	case MADV_RANDOM:
		f = (f & ~VM_SEQ_READ) | VM_RAND_READ;
		break;
	case MADV_DONTFORK:
		f |= VM_DONTCOPY;
		break;
	case MADV_DOFORK:
		if (f & VM_IO)
			return -EINVAL;
		f &= ~VM_DONTCOPY;
		break;
	case MADV_WIPEONFORK:
		/* Only anonymous private memory can be wiped in the child. */
		if (v->file || (f & VM_SHARED))
			return -EINVAL;
		f |= VM_WIPEONFORK;
		break;
	case MADV_KEEPONFORK:
		if (f & VM_DROPPABLE)
			return -EINVAL;
		f &= ~VM_WIPEONFORK;
		break;
	case MADV_DONTDUMP:
		f |= VM_DONTDUMP;
		break;
	case MADV_DODUMP:
		if ((!(f & VM_HUGETLB) && vma_is_special(f)) || (f & VM_DROPPABLE))
			return -EINVAL;
		f &= ~VM_DONTDUMP;
		break;
	case MADV_MERGEABLE:
	case MADV_UNMERGEABLE:
		ksm_advise(v, a->behavior, &f);
		break;
	case MADV_HUGEPAGE:
		f = (f & ~VM_NOHUGEPAGE) | VM_HUGEPAGE;
		break;
	case MADV_NOHUGEPAGE:
		f = (f & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
		break;
	default:
		ENV_PANIC("madvise: %d is no flag advice", a->behavior);
	}
	return update_region(a, f);
}

/* ---- page advice ---- */

/* DONTNEED and FREE refuse locked (unless DONTNEED_LOCKED) and PFN-mapped regions. */
static bool dontneed_free_valid(struct madv *a)
{
	uint64_t forbidden = VM_PFNMAP;

	if (a->v->flags & VM_HUGETLB)
		return hugetlb_dontneed_valid(a->v, a->behavior, a->start, &a->end);
	if (a->behavior != MADV_DONTNEED_LOCKED)
		forbidden |= VM_LOCKED;
	return !(a->v->flags & forbidden);
}

/* One pass over the present leaves of a range for FREE, COLD and PAGEOUT. */
struct age {
	struct as_mm *mm;
	int behavior;
	bool changed;
	struct file_cache *cache;  /* PAGEOUT of a file region: its page cache, locked */
	bool droppable;            /* a MAP_DROPPABLE region: reclaim drops even dirty pages */
};

/* A page's descriptor flags change atomically: other spaces may map it too. */
static void page_clear_flags(struct page *pg, uint32_t bits)
{
	__atomic_fetch_and(&pg->flags, ~bits, __ATOMIC_RELAXED);
}

/*
 * One entry, for pages this space may treat as its own (no zero page):
 *  FREE (madvise_free_pte_range): a dirty page mapped elsewhere too is left
 *    alone; otherwise the page becomes clean and lazily freeable (no longer
 *    swap-backed) and the entry old and clean, so that a later write shows
 *    it is in use again;
 *  COLD: a page this space alone maps loses its accessed bits;
 *  PAGEOUT: reclaim, with no swap: a page this space alone maps loses its
 *    referenced bit; a lazily freed page still clean is dropped; a page
 *    cache page (file or shmem) is unmapped, and leaves the cache too when
 *    clean (file_pageout_locked); other anonymous pages stay, for want
 *    of swap.
 */
static int age_leaf(void *ctx, uint64_t va, pte_t *ptep)
{
	struct age *g = ctx;
	pte_t e = *ptep;
	struct page *pg;
	int32_t mapcount;

	if (!pte_present(e) || (e & PTE_SPECIAL))
		return 0;
	pg = frame_page(g->mm->m, pte_pfn(e));
	mapcount = atomic_load_explicit(&pg->mapcount, memory_order_relaxed);
	switch (g->behavior) {
	case MADV_FREE:
		if ((pg->flags & PG_DIRTY) && mapcount != 1)
			return 0;
		page_clear_flags(pg, PG_DIRTY);
		if (e & (PTE_A | PTE_D)) {
			pgtable_set(&g->mm->pt, ptep, e & ~(PTE_A | PTE_D));
			g->changed = true;
		}
		/* folio_mark_lazyfree: through the lazy-free batch, not at once. */
		if ((pg->flags & (PG_ANON | PG_SWAPBACKED | PG_MLOCKED)) == (PG_ANON | PG_SWAPBACKED))
			machine_lazyfree_add(g->mm->m, pte_pfn(e));
		return 0;
	case MADV_COLD:
		if (mapcount != 1)
			return 0;
		/*
		 * Unreferenced at once; an active page goes to the inactive list
		 * through the deactivate batch (folio_deactivate), which clears
		 * PG_referenced again as it moves: a touch meanwhile is undone.
		 */
		page_clear_flags(pg, PG_REFERENCED);
		if (pg->flags & PG_ACTIVE)
			machine_deactivate_add(g->mm->m, pte_pfn(e));
		if (e & PTE_A) {
			pgtable_set(&g->mm->pt, ptep, e & ~PTE_A);
			g->changed = true;
		}
		return 0;
	default: /* MADV_PAGEOUT */
		if (mapcount != 1)
			return 0;
		/*
		 * PAGEOUT leaves the young bit to reclaim, and reclaim leaves an
		 * mlocked (unevictable) page mapped: it only loses PG_referenced.
		 */
		if (pg->flags & PG_MLOCKED) {
			page_clear_flags(pg, PG_REFERENCED);
			return 0;
		}
		/* The TLBs were shot down before this pass. */
		if (pg->flags & PG_ANON) {
			page_clear_flags(pg, PG_REFERENCED);
			/* No swap: reclaim keeps a swap-backed page and activates it (activate_locked). */
			if (pg->flags & PG_SWAPBACKED)
				__atomic_fetch_or(&pg->flags, PG_ACTIVE, __ATOMIC_RELAXED);
			/* A lazily freeable page goes if clean; a droppable one goes dirty or not. */
			if (!(pg->flags & PG_SWAPBACKED) &&
			    (g->droppable || (!(pg->flags & PG_DIRTY) && !(e & PTE_D))))
				mm_release_pte(g->mm, va, pgtable_clear(&g->mm->pt, ptep));
			return 0;
		}
		/* A page cache page of a file the caller may not reclaim is not even aged. */
		if (!g->cache || pg->owner != (uintptr_t)g->cache)
			return 0;
		page_clear_flags(pg, PG_REFERENCED);
		/* try_to_unmap, then a clean page leaves the cache (the entry's dirty bit goes to the page first). */
		if (!(pg->flags & PG_MLOCKED)) {
			pfn_t pfn = pte_pfn(e);

			mm_release_pte(g->mm, va, pgtable_clear(&g->mm->pt, ptep) & ~PTE_A);
			(void)file_pageout_locked(g->cache, pfn);
		}
		return 0;
	}
}

static void age_range(struct madv *a)
{
	struct age g = { .mm = a->mm, .behavior = a->behavior, .droppable = (a->v->flags & VM_DROPPABLE) != 0 };

	/* PAGEOUT may free pages: no TLB may still reach them. */
	if (a->behavior == MADV_PAGEOUT) {
		mm_flush_tlb_range(a->mm, a->start, a->end);
		/* Page cache pages only of files the caller owns or may write (can_do_file_pageout). */
		if (a->v->file && a->v->file->cache && file_may_reveal(a->v->file, a->mm))
			g.cache = a->v->file->cache;
	}
	/* Lock order: the page cache's lock above the page tables'. */
	if (g.cache)
		pthread_mutex_lock(&g.cache->lock);
	pthread_mutex_lock(&a->mm->pt_lock);
	(void)pgtable_for_each(&a->mm->pt, a->start, a->end, age_leaf, &g);
	pthread_mutex_unlock(&a->mm->pt_lock);
	if (g.cache)
		pthread_mutex_unlock(&g.cache->lock);
	if (g.changed)
		want_flush(a, a->start, a->end);
}

static int advise_dontneed_free(struct madv *a)
{
	if (!dontneed_free_valid(a))
		return -EINVAL;
	if (a->start == a->end)
		return 0;
	if (a->behavior == MADV_FREE) {
		if (!region_is_anon(a->v))
			return -EINVAL;
		/* Linux drains its LRU batches before freeing each region (lru_add_drain). */
		machine_lazyfree_drain(a->mm->m);
		age_range(a);
		return 0;
	}
	mm_zap_range(a->mm, a->start, a->end, false);
	return 0;
}

/* COLD and PAGEOUT: locked, PFN-mapped and hugetlb regions are refused (can_madv_lru_vma). */
static int advise_cold_pageout(struct madv *a)
{
	if (a->v->flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB))
		return -EINVAL;
	/*
	 * PAGEOUT of a shared file mapping the caller may not write or own
	 * (can_do_file_pageout) does nothing at all, not even drain (seed 818).
	 */
	if (a->behavior == MADV_PAGEOUT && a->v->file && !file_map_is_anon(a->v->file) &&
	    (a->v->flags & VM_MAYSHARE) && !file_may_reveal(a->v->file, a->mm))
		return 0;
	machine_lazyfree_drain(a->mm->m); /* lru_add_drain, as Linux before aging */
	age_range(a);
	return 0;
}

/* REMOVE punches a hole in a shared writable file; nothing else can take it. */
static int advise_remove(struct madv *a)
{
	const struct vm_area *v = a->v;

	if (v->flags & VM_LOCKED)
		return -EINVAL;
	if (!v->file)
		return -EINVAL;
	if ((v->flags & (VM_SHARED | VM_MAYWRITE)) != (VM_SHARED | VM_MAYWRITE))
		return -EACCES;
	/* hugetlbfs_punch_hole: its files hold no pages in aspace (faults are not modelled). */
	if (v->file->huge_shift)
		return 0;
	return file_punch_range(a->mm, a->v, a->start, a->end);
}

/* Does the range hold a present entry other than the zero page? */
static int found_page(void *ctx, uint64_t va, pte_t *ptep)
{
	return pte_present(*ptep) && !(*ptep & PTE_SPECIAL);
}

/*
 * COLLAPSE (madvise_collapse): the region must be able to hold a huge page
 * (thp_vma_allowable_order with a forced collapse): not VM_NOHUGEPAGE,
 * not in a process that disabled THP altogether (prctl), special or hugetlb, an aligned 2 MiB range inside it, and an anonymous
 * object already. Then each 2 MiB block of the range collapses if it maps
 * a page at all (Linux would replace the small pages with one huge page);
 * a block with none fails the call with -EINVAL.
 */
static int advise_collapse(struct madv *a)
{
	const struct vm_area *v = a->v;
	uint64_t hstart, hend, last_block;
	int fail = 0;

	if (v->flags & (VM_NOHUGEPAGE | VM_HUGETLB) || vma_is_special(v->flags))
		return -EINVAL;
	/* PR_SET_THP_DISABLE without PR_THP_DISABLE_EXCEPT_ADVISED forbids even a forced collapse. */
	if (a->mm->thp_disable == MM_THP_DISABLE_ALL)
		return -EINVAL;
	/* The highest 2 MiB block that ends inside the region must start inside it. */
	last_block = (v->end - PMD_SIZE) & ~(PMD_SIZE - 1);
	if (v->end - v->start < PMD_SIZE || last_block < v->start)
		return -EINVAL;
	/* Anonymous page offsets must line up with addresses modulo 2 MiB. */
	if (((v->start >> PAGE_SHIFT) - v->pgoff) & ((PMD_SIZE >> PAGE_SHIFT) - 1))
		return -EINVAL;
	/* File-backed huge pages arrive with the file issue. */
	if (!region_is_anon(v) || !v->anon)
		return -EINVAL;

	hstart = (a->start + PMD_SIZE - 1) & ~(PMD_SIZE - 1);
	hend = a->end & ~(PMD_SIZE - 1);
	pthread_mutex_lock(&a->mm->pt_lock);
	for (uint64_t addr = hstart; addr < hend; addr += PMD_SIZE)
		if (!pgtable_for_each(&a->mm->pt, addr, addr + PMD_SIZE, found_page, NULL))
			fail = -EINVAL;
	pthread_mutex_unlock(&a->mm->pt_lock);
	return fail;
}

/*
 * Guard regions (6.13+): GUARD_INSTALL replaces every entry of the range
 * with a guard marker, a non-present entry on which any access is SIGSEGV,
 * and marks the region VM_MAYBE_GUARD (whole, without a split);
 * GUARD_REMOVE clears the markers and nothing else. Both refuse special
 * and hugetlb regions; install refuses locked ones too.
 *
 * The marker is a page-table encoding the fault handler must know; until
 * pgtable.h defines PTE_MARKER_GUARD, install only zaps the range and sets
 * the flag, and remove has nothing to clear.
 */
static bool guard_region_valid(const struct vm_area *v, bool allow_locked)
{
	uint64_t disallowed = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP | VM_HUGETLB;

	if (!allow_locked)
		disallowed |= VM_LOCKED;
	return !(v->flags & disallowed);
}

#ifdef PTE_MARKER_GUARD
static int clear_marker(void *ctx, uint64_t va, pte_t *ptep)
{
	struct as_mm *mm = ctx;

	if (*ptep == PTE_MARKER_GUARD)
		(void)pgtable_clear(&mm->pt, ptep);
	return 0;
}
#endif

static int advise_guard_install(struct madv *a)
{
	struct as_mm *mm = a->mm;
	int err;

	if (!guard_region_valid(a->v, false))
		return -EINVAL;
	/*
	 * Only an anonymous region gets its anonymous object here; a file
	 * region (private or shared) gets none and still merges as before
	 * (seed 414: three shmem regions merge back; seed 808: a private file
	 * region merges with a neighbour that has another object). Fork
	 * copies the entries of every region marked VM_MAYBE_GUARD.
	 */
	if (region_is_anon(a->v)) {
		err = fault_anon_prepare(mm, a->v);
		if (err)
			return err;
	}
	a->v->flags |= VM_MAYBE_GUARD;
	mm_zap_range(mm, a->start, a->end, false);
#ifdef PTE_MARKER_GUARD
	pthread_mutex_lock(&mm->pt_lock);
	for (uint64_t va = a->start; va < a->end; va += PAGE_SIZE) {
		pte_t *ptep;

		if (pgtable_walk_alloc(&mm->pt, va, &ptep) != 0) {
			pthread_mutex_unlock(&mm->pt_lock);
			return -ENOMEM;
		}
		pgtable_set(&mm->pt, ptep, PTE_MARKER_GUARD);
	}
	pthread_mutex_unlock(&mm->pt_lock);
#endif
	return 0;
}

static int advise_guard_remove(struct madv *a)
{
	if (!guard_region_valid(a->v, true))
		return -EINVAL;
#ifdef PTE_MARKER_GUARD
	pthread_mutex_lock(&a->mm->pt_lock);
	(void)pgtable_for_each(&a->mm->pt, a->start, a->end, clear_marker, a->mm);
	pthread_mutex_unlock(&a->mm->pt_lock);
#endif
	return 0;
}

/* Sealed read-only anonymous memory refuses advice that discards data (can_modify_vma_madv). */
static bool may_advise_sealed(const struct madv *a)
{
	const struct vm_area *v = a->v;

	if (!(v->flags & VM_SEALED) || !behavior_discards(a->behavior))
		return true;
	return v->file || (v->flags & VM_SHARED) || (v->flags & VM_WRITE);
}

/* Advise the current range [a->start, a->end) of region a->v (madvise_vma_behavior). */
static int advise_region(struct madv *a)
{
	if (!may_advise_sealed(a))
		return -EPERM;
	switch (a->behavior) {
	case MADV_REMOVE:
		return advise_remove(a);
	case MADV_WILLNEED:
		/*
		 * Anonymous memory and shmem have nothing swapped out to read
		 * ahead, but their swap-in path still ends with lru_add_drain;
		 * a file's readahead (private /dev/zero's too) does not drain.
		 */
		if (!a->v->file || (a->v->file->cache && a->v->file->cache->shmem))
			machine_lazyfree_drain(a->mm->m);
		else if (a->v->file->cache && a->v->file->cache->host)
			/* vfs_fadvise(POSIX_FADV_WILLNEED): the host reads the range into its page cache. */
			env_file_read_ahead(a->v->file->cache->fd,
					    (a->v->pgoff << PAGE_SHIFT) + (a->start - a->v->start), a->end - a->start);
		return 0;
	case MADV_COLD:
	case MADV_PAGEOUT:
		return advise_cold_pageout(a);
	case MADV_FREE:
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
		return advise_dontneed_free(a);
	case MADV_COLLAPSE:
		return advise_collapse(a);
	case MADV_GUARD_INSTALL:
		return advise_guard_install(a);
	case MADV_GUARD_REMOVE:
		return advise_guard_remove(a);
	default:
		return advise_flags(a);
	}
}

/*
 * Walk the regions of [start, end) and advise each (madvise_walk_vmas):
 * holes make the result -ENOMEM after the walk, a region's error ends it.
 */
static int walk_regions(struct madv *a, uint64_t start, uint64_t end)
{
	struct as_mm *mm = a->mm;
	struct vm_area *v = vma_find(&mm->tree, start);
	int unmapped_error = 0, err;

	a->start = start;
	for (;;) {
		if (!v)
			return -ENOMEM;
		if (a->start < v->start) {
			unmapped_error = -ENOMEM;
			a->start = v->start;
			if (a->start >= end)
				break;
		}
		a->end = v->end < end ? v->end : end;
		a->v = v;
		err = advise_region(a);
		if (err)
			return err;
		v = a->v;
		if (a->end < v->end)
			a->end = v->end;
		if (a->end >= end)
			break;
		v = vma_find(&mm->tree, v->end);
		a->start = a->end;
	}
	return unmapped_error;
}

/*
 * POPULATE_READ/WRITE (madvise_populate): fault the range in region by
 * region. No region at the next address is -ENOMEM; a region the access
 * can't use (no such right, VM_IO, VM_PFNMAP) -EINVAL; a fault that fails
 * -EFAULT, or -ENOMEM when memory ran out. Pages before the failure stay.
 */
static int populate(struct as_mm *mm, uint64_t start, uint64_t end, bool write)
{
	uint64_t need = write ? VM_WRITE : VM_READ;
	int err = 0;

	pthread_rwlock_rdlock(&mm->mmap_lock);
	while (start < end) {
		struct vm_area *v = vma_lookup(&mm->tree, start);
		uint64_t stop;

		if (!v) {
			err = -ENOMEM;
			break;
		}
		if ((v->flags & (VM_IO | VM_PFNMAP)) || !(v->flags & need)) {
			err = -EINVAL;
			break;
		}
		stop = v->end < end ? v->end : end;
		err = fault_populate_range(mm, start, stop, false, write ? FAULT_WRITE : FAULT_READ);
		if (err)
			break;
		start = stop;
	}
	pthread_rwlock_unlock(&mm->mmap_lock);
	/*
	 * Measured on 6.18: every MADV_POPULATE_* that gets past the argument
	 * checks drains the LRU batches when it ends, even one that finds no
	 * region (-ENOMEM) or a PROT_NONE one (-EINVAL); after the pages GUP
	 * touched, as a MADV_FREE'd page it touched comes out unreferenced.
	 */
	machine_lazyfree_drain(mm->m);
	return err;
}

long sys_madvise(struct as_mm *mm, uint64_t start, uint64_t len_in, uint64_t behavior_arg)
{
	/* The advice is an int: bits above 31 don't reach Linux. */
	int behavior = (int)(uint32_t)behavior_arg;
	struct madv a = { .mm = mm, .behavior = behavior };
	uint64_t len, end;
	int err;

	/* madvise_should_skip */
	if (!behavior_valid(behavior))
		return -EINVAL;
	if (start & ~PAGE_MASK)
		return -EINVAL;
	len = PAGE_ALIGN(len_in);
	if (len_in && !len)
		return -EINVAL;
	end = start + len;
	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;

	if (behavior == MADV_POPULATE_READ || behavior == MADV_POPULATE_WRITE)
		return populate(mm, start, end, behavior == MADV_POPULATE_WRITE);

	pthread_rwlock_wrlock(&mm->mmap_lock);
	err = walk_regions(&a, start, end);
	if (a.flush)
		mm_flush_tlb_range(mm, a.flush_start, a.flush_end);
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	return err;
}
