/*
 * mremap: shrink in place, grow in place, or move (MREMAP_MAYMOVE,
 * MREMAP_FIXED, MREMAP_DONTUNMAP), as Linux 6.x's mm/mremap.c does it.
 *
 * A move creates (or merges into a neighbour) a region at the destination,
 * moves the page-table entries across — pages keep their identity, so an
 * anonymous region moved elsewhere keeps its page offsets — then unmaps the
 * source without undoing its commit charge, which the destination inherits.
 * With old_len == new_len and MREMAP_FIXED, the source range may span
 * several regions (moved one by one, keeping the gaps between them).
 */
#include "sys.h"
#include <aspace/mman.h>

#include "../file/file.h"

#include <errno.h>
#include <sys/mman.h>

enum remap_type { REMAP_NO_RESIZE, REMAP_SHRINK, REMAP_EXPAND };

/* The state of one mremap call (Linux's vma_remap_struct). */
struct remap {
	struct as_mm *mm;
	struct vm_area *v;          /* the source region */
	uint64_t addr, old_len, new_len, new_addr, flags;
	uint64_t delta;             /* |new_len - old_len| */
	enum remap_type type;
	uint64_t charged;           /* pages charged to the commit limit */
	bool populate_expand;       /* a locked region grew: fault the new part in */
};

static bool implies_new_addr(const struct remap *r)
{
	return r->flags & (MREMAP_FIXED | MREMAP_DONTUNMAP);
}

/* Argument checks that need no region (check_mremap_params). */
static int check_params(struct remap *r)
{
	struct as_mm *mm = r->mm;

	if (r->flags & ~(uint64_t)(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP))
		return -EINVAL;
	if (r->addr & ~PAGE_MASK)
		return -EINVAL;
	if (!r->new_len)
		return -EINVAL;
	if (r->new_len > mm->task_size)
		return -EINVAL;
	if (!implies_new_addr(r))
		return 0;
	if (r->new_addr > mm->task_size - r->new_len)
		return -EINVAL;
	if (r->new_addr & ~PAGE_MASK)
		return -EINVAL;
	if (!(r->flags & MREMAP_MAYMOVE))
		return -EINVAL;
	if ((r->flags & MREMAP_DONTUNMAP) && r->old_len != r->new_len)
		return -EINVAL;
	if (r->addr + r->old_len > r->new_addr && r->new_addr + r->new_len > r->addr)
		return -EINVAL;
	/* A move may split two regions before it unmaps anything: keep room. */
	if (mm->tree.count + 2 >= mm->m->cfg.max_map_count - 3)
		return -ENOMEM;
	return 0;
}

/* Checks against the source region (check_prep_vma). */
static int check_region(struct remap *r)
{
	struct as_mm *mm = r->mm;
	struct vm_area *v = r->v;
	uint64_t pgoff;

	if (!v)
		return -EFAULT;
	/* hugetlb: lengths rounded up to huge pages, aligned addresses, no growth (align_hugetlb). */
	if ((v->flags & VM_HUGETLB) &&
	    hugetlb_mremap_align(v, r->addr, r->new_addr, &r->old_len, &r->new_len) != 0)
		return -EINVAL;
	if (r->new_len == r->old_len)
		r->type = REMAP_NO_RESIZE, r->delta = 0;
	else if (r->new_len < r->old_len)
		r->type = REMAP_SHRINK, r->delta = r->old_len - r->new_len;
	else
		r->type = REMAP_EXPAND, r->delta = r->new_len - r->old_len;
	if (!implies_new_addr(r))
		r->new_addr = r->addr;
	if (r->type != REMAP_EXPAND && !implies_new_addr(r))
		return 0;
	if (!r->old_len && !(v->flags & (VM_SHARED | VM_MAYSHARE)))
		return -EINVAL;
	if ((r->flags & MREMAP_DONTUNMAP) && (v->flags & (VM_DONTEXPAND | VM_PFNMAP)))
		return -EINVAL;
	/*
	 * The range must lie in the region — for a shrinking move only the
	 * part that moves: the tail is unmapped first, whatever it covers.
	 */
	if ((r->type == REMAP_SHRINK && implies_new_addr(r) ? r->new_len : r->old_len) >
	    v->end - r->addr)
		return -EFAULT;
	/* Only growth is limited (a shrinking move unmaps its tail first). */
	if (r->type != REMAP_EXPAND)
		return 0;
	if (v->flags & VM_LOCKED)
		r->populate_expand = true;
	pgoff = v->pgoff + ((r->addr - v->start) >> PAGE_SHIFT);
	if (pgoff + (r->new_len >> PAGE_SHIFT) < pgoff)
		return -EINVAL;
	if (v->flags & (VM_DONTEXPAND | VM_PFNMAP))
		return -EFAULT;
	if (!mm_mlock_future_ok(mm, v->flags, r->delta))
		return -EAGAIN;
	if (!mm_may_expand_vm(mm, v->flags, r->delta >> PAGE_SHIFT))
		return -ENOMEM;
	return 0;
}

/* Charge what the operation adds to the commit limit (vrm_calc_charge). */
static bool charge(struct remap *r)
{
	uint64_t pages;

	if (!(r->v->flags & VM_ACCOUNT))
		return true;
	pages = (r->flags & MREMAP_DONTUNMAP) ? r->new_len >> PAGE_SHIFT : r->delta >> PAGE_SHIFT;
	if (pages && mm_vm_enough_memory(r->mm, pages) != 0)
		return false;
	r->charged = pages;
	return true;
}

static void uncharge(struct remap *r)
{
	mm_vm_unacct(r->mm, r->charged);
	r->charged = 0;
}

/* Count pages of the (possibly moved) region in the VM counters. */
static void stat_account(struct remap *r, struct vm_area *v, uint64_t bytes)
{
	uint64_t pages = bytes >> PAGE_SHIFT;

	mm_stat_account(r->mm, v->flags, (int64_t)pages);
	if (v->flags & VM_LOCKED)
		r->mm->locked_vm += pages;
}

/* Unmap the tail [addr + new_len, addr + old_len). */
static int shrink(struct remap *r)
{
	struct unmap_gather u;
	int rc = sys_unmap_prepare(r->mm, r->addr + r->new_len, r->addr + r->old_len, &u);

	if (rc)
		return rc;
	sys_unmap_commit(r->mm, &u);
	return 0;
}

/* Can the region grow in place: the range ends at its end and the space after is free? */
static bool can_expand_in_place(struct remap *r)
{
	struct vm_area *v = r->v;
	uint64_t end = v->end + r->delta;

	if (v->end - r->addr != r->old_len)
		return false;
	if (end < v->end || vma_find_intersection(&r->mm->tree, v->end, end))
		return false;
	if (end > r->mm->task_size)
		return false;
	if (v->start < r->mm->m->cfg.mmap_min_addr && !mm_capable(r->mm, MM_CAP_SYS_RAWIO))
		return false;
	return true;
}

/* Grow the region by merging the new range into it (and possibly its next neighbour). */
static int expand_in_place(struct remap *r)
{
	struct vm_area *v = r->v, *next;
	struct vma_merge g = {
		.mm = r->mm, .prev = v, .start = v->end, .end = v->end + r->delta,
		.pgoff = v->pgoff + ((v->end - v->start) >> PAGE_SHIFT), .flags = v->flags,
		.file = v->file, .anon = v->anon, .special = v->special,
	};

	if (!charge(r))
		return -ENOMEM;
	next = vma_find(&r->mm->tree, g.end);
	g.next = next && next->start == g.end ? next : NULL;
	v = vma_merge_new_range(&g);
	if (!v) {
		uncharge(r);
		return -ENOMEM;
	}
	r->v = v;
	stat_account(r, v, r->delta);
	return 0;
}

/* Where the moved range goes: the fixed address or a free range (vrm_set_new_addr). */
static int pick_new_addr(struct remap *r)
{
	uint64_t flags = 0, hint = implies_new_addr(r) ? r->new_addr : 0;
	int64_t res;

	if (r->flags & MREMAP_FIXED)
		flags |= MAP_FIXED;
	if (r->v->flags & VM_MAYSHARE)
		flags |= MAP_SHARED;
	/* The file's own placement (2 MiB by offset for ext4 files), at the moved part's offset. */
	res = sys_get_unmapped_area_file(r->mm, r->v->file, hint, r->new_len,
					 r->v->pgoff + ((r->addr - r->v->start) >> PAGE_SHIFT), flags);
	if (res < 0)
		return (int)res;
	r->new_addr = (uint64_t)res;
	return 0;
}

/*
 * Move every live entry of [old, old + len) to [new, new + len). The
 * destination tables are all allocated first, so that the move itself
 * cannot fail. 0 or -ENOMEM (nothing moved).
 */
struct pte_move {
	struct as_mm *mm;
	int64_t shift;
	int rc;
};

static int move_one(void *ctx, uint64_t va, pte_t *ptep)
{
	struct pte_move *mv = ctx;
	pte_t *dst = pgtable_walk(&mv->mm->pt, va + (uint64_t)mv->shift), e;

	ENV_BUG_ON(!dst || *dst);
	e = pgtable_clear(&mv->mm->pt, ptep);
	pgtable_set(&mv->mm->pt, dst, e);
	return 0;
}

/*
 * Allocate every destination table the move will need, as Linux's
 * move_page_tables does extent by extent (an extent stays inside one page
 * table on both sides): a destination table for every extent whose source
 * has one, entries or not — a later fault in the destination's neighbourhood
 * then finds its table (fault-around's rule at EOF depends on it).
 * 0 or -ENOMEM (empty tables may stay).
 */
static int prepare_move_tables(struct as_mm *mm, uint64_t old, uint64_t new, uint64_t len)
{
	uint64_t a = old, end = old + len;
	int rc = 0;

	pthread_mutex_lock(&mm->pt_lock);
	while (a < end && rc == 0) {
		uint64_t n = a + (new - old);
		uint64_t extent = PMD_SIZE - (a & (PMD_SIZE - 1));
		pte_t *dst;

		if (PMD_SIZE - (n & (PMD_SIZE - 1)) < extent)
			extent = PMD_SIZE - (n & (PMD_SIZE - 1));
		if (end - a < extent)
			extent = end - a;
		if (pgtable_walk(&mm->pt, a))
			rc = pgtable_walk_alloc(&mm->pt, n, &dst);
		a += extent;
	}
	pthread_mutex_unlock(&mm->pt_lock);
	return rc;
}

/* Move the entries; the tables were prepared, so this cannot fail. */
static void move_page_tables(struct as_mm *mm, uint64_t old, uint64_t new, uint64_t len)
{
	struct pte_move mv = { .mm = mm, .shift = (int64_t)(new - old) };

	mm_flush_tlb_range(mm, old, old + len);
	pthread_mutex_lock(&mm->pt_lock);
	/* Source and destination never overlap (checked), so one pass is safe. */
	(void)pgtable_for_each(&mm->pt, old, old + len, move_one, &mv);
	pthread_mutex_unlock(&mm->pt_lock);
}

/*
 * Create the destination region for a move (copy_vma): merge it into a
 * neighbour when Linux would, or insert a copy of the source's attributes.
 * An untouched anonymous source moves its page offsets with it, so that it
 * can merge at the destination.
 */
static struct vm_area *copy_region(struct remap *r, uint64_t pgoff)
{
	struct as_mm *mm = r->mm;
	struct vm_area *v = r->v, *n, *next;
	uint64_t addr = r->new_addr, end = r->new_addr + r->new_len, vstart = v->start;
	struct vma_merge g = {
		.mm = mm, .start = addr, .end = end, .flags = v->flags, .file = v->file,
		.anon = v->anon, .special = v->special, .copied_from = v,
	};

	if (!v->file && !v->anon && !(v->flags & VM_SHARED))
		pgoff = addr >> PAGE_SHIFT;
	g.pgoff = pgoff;
	next = vma_find(&mm->tree, end);
	g.next = next && next->start == end ? next : NULL;
	n = vma_find(&mm->tree, addr);
	g.prev = n ? vma_prev(n) : vma_last(&mm->tree);
	if (g.prev && g.prev->end != addr)
		g.prev = NULL;
	n = vma_merge_new_range(&g);
	if (n) {
		/*
		 * An untouched source may have merged with its own copy (and
		 * be gone: the merge freed it when it was the next region).
		 */
		if (vstart >= n->start && vstart < n->end)
			r->v = n;
		return n;
	}
	n = vma_alloc(mm);
	if (!n)
		return NULL;
	n->start = addr;
	n->end = end;
	n->pgoff = pgoff;
	n->flags = v->flags;
	n->special = v->special;
	n->file = v->file;
	file_map_get(n->file);
	n->anon = v->anon;
	anon_obj_get(n->anon);
	n->anon_forked = v->anon_forked;
	vma_tree_insert(&mm->tree, n);
	return n;
}

/* Unmap the source after a move without undoing its charge (unmap_source_vma). */
static void unmap_source(struct remap *r)
{
	struct as_mm *mm = r->mm;
	struct vm_area *v = r->v, *rest;
	bool accountable = v->flags & VM_ACCOUNT;
	uint64_t end = r->addr + r->old_len, vm_start = v->start, vm_end = v->end;
	struct unmap_gather u;

	/* Hide the charge flag so that unmapping does not return the charge
	 * the destination now carries. */
	if (accountable)
		v->flags &= ~VM_ACCOUNT;
	if (sys_unmap_prepare(mm, r->addr, end, &u) != 0) {
		/* Could not split: the source stays, charged again as Linux does. */
		if (accountable)
			v->flags |= VM_ACCOUNT;
		if (mm_vm_enough_memory(mm, r->old_len >> PAGE_SHIFT) != 0)
			return; /* over the commit limit: nothing more to undo */
		return;
	}
	sys_unmap_commit(mm, &u);
	if (!accountable)
		return;
	/* What is left of the source on either side keeps its charge flag. */
	if (vm_start < r->addr && (rest = vma_lookup(&mm->tree, r->addr - PAGE_SIZE)) != NULL)
		rest->flags |= VM_ACCOUNT;
	if (vm_end > end && (rest = vma_lookup(&mm->tree, end)) != NULL)
		rest->flags |= VM_ACCOUNT;
}

/* Move [addr, addr + old_len) to new_addr, new_len long (move_vma). */
static int64_t move_region(struct remap *r)
{
	struct as_mm *mm = r->mm;
	struct vm_area *v = r->v, *n;
	uint64_t pgoff = v->pgoff + ((r->addr - v->start) >> PAGE_SHIFT), hiwater;

	if (mm->tree.count >= mm->m->cfg.max_map_count - 3)
		return -ENOMEM;
	if (!charge(r))
		return -ENOMEM;
	/* Prepare: the destination's tables, then its region; nothing fails after that. */
	if (prepare_move_tables(mm, r->addr, r->new_addr, r->old_len) != 0) {
		uncharge(r);
		return -ENOMEM;
	}
	n = copy_region(r, pgoff);
	if (!n) {
		uncharge(r);
		return -ENOMEM;
	}
	move_page_tables(mm, r->addr, r->new_addr, r->old_len);
	v = r->v;
	hiwater = mm->hiwater_vm;
	stat_account(r, n, r->new_len);
	if (r->flags & MREMAP_DONTUNMAP) {
		/*
		 * The source stays mapped, empty, no longer locked; it keeps
		 * its charge (VM_ACCOUNT), and the destination was charged
		 * anew. Linux leaves locked_vm as it was here: the unlocked
		 * source still counts, against RLIMIT_MEMLOCK too, until exit.
		 */
		uint64_t pages = (v->end - v->start) >> PAGE_SHIFT;

		if (v->flags & VM_LOCKED)
			mm->locked_vm_kept += pages;
		v->flags &= ~(VM_LOCKED | VM_LOCKONFAULT);
		if (n != v && v->start == r->addr && v->end == r->addr + r->old_len) {
			anon_obj_put(mm, v->anon);
			v->anon = NULL;
		}
	} else {
		unmap_source(r);
	}
	mm->hiwater_vm = hiwater;
	return (int64_t)r->new_addr;
}

/* The MREMAP_FIXED / MREMAP_DONTUNMAP path (mremap_to). */
static int64_t remap_to(struct remap *r)
{
	int rc;

	if (r->flags & MREMAP_FIXED) {
		rc = sys_do_munmap(r->mm, r->new_addr, r->new_len);
		if (rc)
			return rc;
		r->v = vma_lookup(&r->mm->tree, r->addr);
		if (!r->v)
			return -EFAULT;
	}
	if (r->type == REMAP_SHRINK) {
		rc = shrink(r);
		if (rc)
			return rc;
		r->old_len = r->new_len;
		r->delta = 0;
		r->type = REMAP_NO_RESIZE;
		/* Unmapping the tail may have split or freed the region object. */
		r->v = vma_lookup(&r->mm->tree, r->addr);
	}
	if ((r->flags & MREMAP_DONTUNMAP) &&
	    !mm_may_expand_vm(r->mm, r->v->flags, r->old_len >> PAGE_SHIFT))
		return -ENOMEM;
	rc = pick_new_addr(r);
	if (rc)
		return rc;
	return move_region(r);
}

/* Resize without a destination address (mremap_at). */
static int64_t remap_at(struct remap *r)
{
	int rc;

	switch (r->type) {
	case REMAP_NO_RESIZE:
		return (int64_t)r->addr;
	case REMAP_SHRINK:
		rc = shrink(r);
		return rc ? rc : (int64_t)r->addr;
	case REMAP_EXPAND:
		if (can_expand_in_place(r)) {
			rc = expand_in_place(r);
			return rc ? rc : (int64_t)r->addr;
		}
		if (!(r->flags & MREMAP_MAYMOVE))
			return -ENOMEM;
		rc = pick_new_addr(r);
		if (rc)
			return rc;
		return move_region(r);
	}
	return -EINVAL;
}

/*
 * MREMAP_FIXED with old_len == new_len: move every region in the source
 * range, keeping the gaps between them (Linux 6.17's remap_move). A gap at
 * the start of the range is -EFAULT.
 */
static int64_t remap_move(struct remap *r)
{
	uint64_t start = r->addr, end = r->addr + r->old_len, target = r->new_addr, last_end = 0;
	int64_t res = -EFAULT, one;
	bool seen = false;

	while (start < end) {
		struct vm_area *v = vma_find_intersection(&r->mm->tree, start, end);
		uint64_t addr, len, offset;

		if (!v)
			break;
		if (!seen && r->addr < v->start)
			return -EFAULT;
		addr = v->start > start ? v->start : start;
		len = (v->end < end ? v->end : end) - addr;
		offset = seen ? v->start - last_end : 0;
		last_end = v->end;
		r->v = v;
		r->addr = addr;
		r->new_addr = target + offset;
		r->old_len = r->new_len = len;
		one = check_region(r);
		if (!one)
			one = remap_to(r);
		if (one < 0)
			return one;
		if (!seen)
			res = one;
		seen = true;
		target = (uint64_t)one + len;
		start = addr + len;
	}
	return res;
}

long sys_mremap(struct as_mm *mm, uint64_t addr, uint64_t old_len, uint64_t new_len, uint64_t flags,
		uint64_t new_addr)
{
	struct remap r = {
		.mm = mm, .addr = addr, .old_len = PAGE_ALIGN(old_len), .new_len = PAGE_ALIGN(new_len),
		.flags = flags, .new_addr = new_addr,
	};
	int64_t res;

	/* PAGE_ALIGN of a huge length wraps to 0, which the checks refuse. */
	if (old_len > UINT64_MAX - PAGE_SIZE + 1)
		r.old_len = 0;
	if (new_len > UINT64_MAX - PAGE_SIZE + 1)
		r.new_len = 0;
	res = check_params(&r);
	if (res)
		return (long)res;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	if ((flags & MREMAP_FIXED) && r.old_len == r.new_len) {
		res = remap_move(&r);
	} else {
		r.v = vma_lookup(&mm->tree, addr);
		res = check_region(&r);
		if (!res)
			res = implies_new_addr(&r) ? remap_to(&r) : remap_at(&r);
	}
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	if (res >= 0 && r.populate_expand)
		mm_populate(mm, r.new_addr + r.old_len, r.delta);
	return (long)res;
}
