/*
 * mlock, mlock2, munlock, mlockall and munlockall, as Linux 6.x's
 * mm/mlock.c does them.
 *
 * Locking a range sets VM_LOCKED (and VM_LOCKONFAULT for MLOCK_ONFAULT) on
 * the regions of the range, splitting at its ends and merging with alike
 * neighbours, and counts the newly locked pages in locked_vm. Regions
 * Linux never locks (VM_SPECIAL, VM_DROPPABLE) are skipped silently. A hole
 * stops the walk with -ENOMEM after the regions before it were changed.
 * Once the mmap lock is dropped, the range is faulted in (not for
 * lock-on-fault), and a PROT_NONE region in it makes the call fail with
 * -ENOMEM although everything stays locked, as in Linux.
 *
 * Pages follow their region: locking a region (or faulting into a locked
 * one) marks its present pages PG_MLOCKED, unlocking it clears the mark,
 * unmapping them from it clears it when the batches next drain (Linux's
 * mlock folio batch; one mark per page, not Linux's mlock_count);
 * mremap(DONTUNMAP) unlocks the region it leaves but not its pages, as
 * Linux. An mlocked page is unevictable: MADV_COLD/PAGEOUT, MADV_FREE's
 * lazy-free marking and a second touch leave it as it is.
 */
#include "sys.h"
#include <aspace/mman.h>

#include "../fault/fault.h"

#include <errno.h>
#include <sys/mman.h>

/* Set or clear PG_MLOCKED on the page of one present entry (mlock_folio / munlock_folio). */
static int mark_mlocked(void *ctx, uint64_t va, pte_t *ptep)
{
	struct as_mm *mm = ((void **)ctx)[0];
	bool lock = ((void **)ctx)[1] != NULL;
	pte_t e = __atomic_load_n(ptep, __ATOMIC_RELAXED);
	struct page *pg;

	(void)va;
	if (!pte_present(e) || (e & PTE_SPECIAL))
		return 0;
	pg = frame_page(mm->m, pte_pfn(e));
	if (lock)
		__atomic_fetch_or(&pg->flags, PG_MLOCKED, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&pg->flags, ~(uint32_t)PG_MLOCKED, __ATOMIC_RELAXED);
	return 0;
}

/*
 * mlock_vma_pages_range: the pages present in [start, end) become mlocked
 * (unevictable: reclaim and MADV_COLD/PAGEOUT leave them alone) or no longer
 * are. One lock per page, not Linux's mlock_count: a page locked through
 * two regions is unlocked by the first munlock.
 */
void mm_mlock_pages(struct as_mm *mm, uint64_t start, uint64_t end, bool lock)
{
	void *ctx[2] = { mm, lock ? mm : NULL };

	pthread_mutex_lock(&mm->pt_lock);
	(void)pgtable_for_each(&mm->pt, start, end, mark_mlocked, ctx);
	pthread_mutex_unlock(&mm->pt_lock);
}

/*
 * Give [start, end) of v the lock flags in newflags (Linux's mlock_fixup)
 * and count locked_vm. *out gets the region now covering the range (v when
 * nothing changed). 0 or -ENOMEM (a split at max_map_count).
 */
static int mlock_fixup(struct as_mm *mm, struct vm_area *v, uint64_t start, uint64_t end,
		       uint64_t newflags, struct vm_area **out)
{
	uint64_t oldflags = v->flags;
	int64_t nr_pages = (int64_t)((end - start) >> PAGE_SHIFT);
	struct vma_merge g;
	struct vm_area *r;
	int err = 0;

	*out = v;
	/* Regions Linux never locks: nothing is set and nothing counted. */
	if (newflags == oldflags || vma_is_special(oldflags) || (oldflags & (VM_HUGETLB | VM_DROPPABLE)))
		return 0;

	g = (struct vma_merge){ .mm = mm, .middle = v, .start = start, .end = end, .flags = newflags };
	r = vma_modify(&g, &err);
	if (!r)
		return err;
	r->flags = newflags | (r->flags & VM_STICKY);
	*out = r;
	if (!(newflags & VM_LOCKED))
		nr_pages = -nr_pages;
	else if (oldflags & VM_LOCKED)
		nr_pages = 0;
	mm->locked_vm += (uint64_t)nr_pages;
	if ((newflags ^ oldflags) & VM_LOCKED) {
		/* mlock_vma_pages_range drains the LRU batches before it walks the pages. */
		machine_lazyfree_drain(mm->m);
		mm_mlock_pages(mm, start, end, newflags & VM_LOCKED);
	}
	return 0;
}

/*
 * Set the lock flags `flags` (0 to unlock) on every region of [start,
 * start + len), start and len page aligned (apply_vma_lock_flags). The mmap
 * lock is held for writing.
 */
static int apply_lock_flags(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t flags)
{
	uint64_t end = start + len, nstart, tmp;
	struct vm_area *v, *r;
	int err;

	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;
	v = vma_lookup(&mm->tree, start);
	if (!v)
		return -ENOMEM;
	nstart = start;
	tmp = v->start;
	for (; v && v->start < end; v = vma_next(r)) {
		if (v->start != tmp)
			return -ENOMEM;
		tmp = v->end < end ? v->end : end;
		err = mlock_fixup(mm, v, nstart, tmp, (v->flags & ~VM_LOCKED_MASK) | flags, &r);
		if (err)
			return err;
		tmp = r->end;
		nstart = tmp;
	}
	if (tmp < end)
		return -ENOMEM;
	return 0;
}

/* Pages of [start, start + len) already in VM_LOCKED regions (count_mm_mlocked_page_nr). */
static uint64_t count_locked_pages(struct as_mm *mm, uint64_t start, uint64_t len)
{
	uint64_t end = UINT64_MAX - len < start ? UINT64_MAX : start + len, count = 0;

	for (struct vm_area *v = vma_find_intersection(&mm->tree, start, end); v && v->start < end;
	     v = vma_next(v)) {
		if (!(v->flags & VM_LOCKED))
			continue;
		if (start > v->start)
			count -= start - v->start;
		if (end < v->end) {
			count += end - v->start;
			break;
		}
		count += v->end - v->start;
	}
	return count >> PAGE_SHIFT;
}

/*
 * Fault in a locked range with the mmap lock not held (Linux's
 * __mm_populate without ignoring errors): holes are skipped, VM_IO and
 * VM_PFNMAP regions too, lock-on-fault regions need nothing; a region with
 * no rights can't be faulted. Returns mlock's errno: -ENOMEM for a fault
 * that failed (Linux's -EFAULT), -EAGAIN when memory ran out.
 */
static int populate_locked(struct as_mm *mm, uint64_t start, uint64_t end)
{
	uint64_t nstart = start, nend;
	int err = 0;

	pthread_rwlock_rdlock(&mm->mmap_lock);
	while (nstart < end) {
		struct vm_area *v = vma_find(&mm->tree, nstart);

		if (!v || v->start >= end)
			break;
		nend = v->end < end ? v->end : end;
		if (nstart < v->start)
			nstart = v->start;
		if (!(v->flags & (VM_IO | VM_PFNMAP)) && !(v->flags & VM_LOCKONFAULT)) {
			if (!(v->flags & VM_ACCESS_FLAGS))
				err = -EFAULT;
			else
				err = fault_populate_range(mm, nstart, nend, false, 0);
			if (err)
				break;
		}
		nstart = nend;
	}
	pthread_rwlock_unlock(&mm->mmap_lock);
	if (err == -EFAULT)
		return -ENOMEM;
	if (err == -ENOMEM)
		return -EAGAIN;
	return err;
}

/* mlock and mlock2 after the flags are checked (do_mlock). */
static long do_mlock(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t flags)
{
	uint64_t locked, lock_limit;
	int err = -ENOMEM;

	if (!mm_can_do_mlock(mm))
		return -EPERM;
	len = PAGE_ALIGN(len + (start & ~PAGE_MASK));
	start &= PAGE_MASK;

	pthread_rwlock_wrlock(&mm->mmap_lock);
	lock_limit = mm_rlimit(mm, RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	locked = (len >> PAGE_SHIFT) + mm->locked_vm;
	if (locked > lock_limit && !mm_capable(mm, MM_CAP_IPC_LOCK))
		/* Pages of the range locked already are not counted twice. */
		locked -= count_locked_pages(mm, start, len);
	/* Each region it locks drains the LRU batches (mlock_fixup), even if a hole follows. */
	if (locked <= lock_limit || mm_capable(mm, MM_CAP_IPC_LOCK))
		err = apply_lock_flags(mm, start, len, flags);
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	if (err)
		return err;
	return populate_locked(mm, start, start + len);
}

long sys_mlock2(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t flags)
{
	uint64_t vm_flags = VM_LOCKED;

	/* mlock(2) arrives here with flags 0; mlock2's flags are an int. */
	if ((uint32_t)flags & ~(uint32_t)MLOCK_ONFAULT)
		return -EINVAL;
	if (flags & MLOCK_ONFAULT)
		vm_flags |= VM_LOCKONFAULT;
	return do_mlock(mm, start, len, vm_flags);
}

long sys_munlock(struct as_mm *mm, uint64_t start, uint64_t len)
{
	long err;

	len = PAGE_ALIGN(len + (start & ~PAGE_MASK));
	start &= PAGE_MASK;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	err = apply_lock_flags(mm, start, len, 0); /* each region it unlocks drains (mlock_fixup) */
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	return err;
}

/*
 * Turn MCL_* flags (0 for munlockall) into def_flags and the lock flags of
 * every region (apply_mlockall_flags). A region that can't be split is
 * left as it is; the call still succeeds, as in Linux.
 */
static void apply_mlockall_flags(struct as_mm *mm, uint64_t flags)
{
	uint64_t to_add = 0;
	struct vm_area *v, *r;

	mm->def_flags &= ~VM_LOCKED_MASK;
	if (flags & MCL_FUTURE) {
		mm->def_flags |= VM_LOCKED;
		if (flags & MCL_ONFAULT)
			mm->def_flags |= VM_LOCKONFAULT;
		if (!(flags & MCL_CURRENT))
			return;
	}
	if (flags & MCL_CURRENT) {
		to_add |= VM_LOCKED;
		if (flags & MCL_ONFAULT)
			to_add |= VM_LOCKONFAULT;
	}
	for (v = vma_first(&mm->tree); v; v = vma_next(r)) {
		if (mlock_fixup(mm, v, v->start, v->end, (v->flags & ~VM_LOCKED_MASK) | to_add, &r))
			r = v;
	}
}

long sys_mlockall(struct as_mm *mm, uint64_t flags)
{
	uint64_t lock_limit;
	long err = -ENOMEM;

	/* The flags are an int: bits above 31 don't reach Linux. */
	flags = (uint32_t)flags;
	if (!flags || (flags & ~(uint64_t)(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) ||
	    flags == MCL_ONFAULT)
		return -EINVAL;
	if (!mm_can_do_mlock(mm))
		return -EPERM;

	pthread_rwlock_wrlock(&mm->mmap_lock);
	lock_limit = mm_rlimit(mm, RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	/*
	 * Each region it locks drains the LRU batches (mlock_fixup); refused
	 * (-ENOMEM), or with nothing newly locked, it drains nothing.
	 */
	if (!(flags & MCL_CURRENT) || mm->total_vm <= lock_limit || mm_capable(mm, MM_CAP_IPC_LOCK)) {
		apply_mlockall_flags(mm, flags);
		err = 0;
	}
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	if (!err && (flags & MCL_CURRENT))
		mm_populate(mm, 0, mm->task_size);
	return err;
}

long sys_munlockall(struct as_mm *mm)
{
	pthread_rwlock_wrlock(&mm->mmap_lock);
	apply_mlockall_flags(mm, 0); /* each region it unlocks drains (mlock_fixup) */
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
}
