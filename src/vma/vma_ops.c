/*
 * Region operations: allocation, split, and merge under Linux 6.x's rules.
 *
 * Merging, as mm/vma.c decides it: two adjacent ranges become one region
 * when their flags are equal (soft-dirty aside), they map the same file (or
 * none) at contiguous page offsets, neither is VM_SPECIAL, and their
 * anonymous objects are compatible:
 *
 *   target has no object, source has one:  the target adopts the source's,
 *                                          unless the source was forked with
 *                                          anonymous pages (its chain holds
 *                                          its parents' objects);
 *   target has one, source none:           the source adopts the target's,
 *                                          unless the target was so forked;
 *   both have one:                         only if it is the same object.
 *
 * Joining prev, the range and next also needs prev and next compatible with
 * each other. Anonymous page offsets are start >> PAGE_SHIFT at creation and
 * move with the data, so a region mremap'd elsewhere keeps its old offsets
 * and stops merging with neighbours whose offsets don't continue it.
 *
 *        prev        range        next
 *   |-----------|==============|----------|     new range: expand prev,
 *               ^start         ^end             next, or join all three
 */
#include "../file/file.h"
#include "../mm/mm.h"

#include <errno.h>

struct vm_area *vma_alloc(struct as_mm *mm)
{
	struct vm_area *v = slab_zalloc(machine_cache(mm->m, MC_VMA));

	if (v)
		v->mm = mm;
	return v;
}

void anon_obj_get(struct anon_obj *a)
{
	if (a)
		atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

void anon_obj_put(struct as_mm *mm, struct anon_obj *a)
{
	while (a) {
		struct anon_obj *parent = a->parent;

		if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
			return;
		slab_free(machine_cache(mm->m, MC_ANON), a);
		a = parent; /* a child held its parent */
	}
}

void vma_free(struct as_mm *mm, struct vm_area *v)
{
	anon_obj_put(mm, v->anon);
	file_map_put(v->file);
	slab_free(machine_cache(mm->m, MC_VMA), v);
}

/* Copy a region's attributes (not its bounds or tree links) into a fresh object. */
static void vma_copy_attrs(struct vm_area *dst, const struct vm_area *src)
{
	dst->mm = src->mm;
	dst->flags = src->flags;
	dst->file = src->file;
	file_map_get(dst->file);
	dst->anon = src->anon;
	dst->special = src->special;
	dst->anon_forked = src->anon_forked;
	anon_obj_get(dst->anon);
}

int vma_split(struct as_mm *mm, struct vm_area *v, uint64_t addr, bool new_below, struct vm_area **out)
{
	struct vm_area *n;

	ENV_BUG_ON(addr <= v->start || addr >= v->end || (addr & ~PAGE_MASK));
	/* The region's may_split: hugetlb regions split only at huge page boundaries. */
	if (v->flags & VM_HUGETLB) {
		int rc = hugetlb_may_split(v, addr);

		if (rc)
			return rc;
	}
	n = vma_alloc(mm);
	if (!n)
		return -ENOMEM;
	vma_copy_attrs(n, v);
	if (new_below) {
		n->start = v->start;
		n->end = addr;
		n->pgoff = v->pgoff;
		v->pgoff += (addr - v->start) >> PAGE_SHIFT;
		v->start = addr;
	} else {
		n->start = addr;
		n->end = v->end;
		n->pgoff = v->pgoff + ((addr - v->start) >> PAGE_SHIFT);
		v->end = addr;
	}
	vma_tree_update(&mm->tree, v);
	vma_tree_insert(&mm->tree, n);
	if (out)
		*out = n;
	return 0;
}

int vma_split_limited(struct as_mm *mm, struct vm_area *v, uint64_t addr, bool new_below,
		      struct vm_area **out)
{
	if (mm->tree.count >= mm->m->cfg.max_map_count)
		return -ENOMEM;
	return vma_split(mm, v, addr, new_below, out);
}

/* A region whose object already mixes in its parents' (Linux: vma_had_uncowed_parents). */
static bool had_forked_parents(const struct vm_area *v)
{
	return v && v->anon && v->anon_forked;
}

/* Are the anonymous objects of src (the proposal) and tgt compatible for a merge? */
static bool anon_compatible(const struct vma_merge *g, const struct vm_area *tgt)
{
	if (!tgt->anon && g->anon)
		return !had_forked_parents(g->middle) && !had_forked_parents(g->copied_from);
	if (tgt->anon && !g->anon)
		return !had_forked_parents(tgt);
	return tgt->anon == g->anon;
}

/* Same flags, file and special kind, so that the two could be one region. */
static bool attrs_mergeable(const struct vma_merge *g, const struct vm_area *tgt)
{
	return !((tgt->flags ^ g->flags) & ~VM_IGNORE_MERGE) && tgt->file == g->file &&
	       tgt->special == g->special && anon_compatible(g, tgt);
}

/* Can the proposal join the end of prev? */
static bool can_merge_left(const struct vma_merge *g)
{
	const struct vm_area *p = g->prev;

	return p && p->end == g->start && attrs_mergeable(g, p) &&
	       p->pgoff + ((p->end - p->start) >> PAGE_SHIFT) == g->pgoff;
}

/* Can the proposal join the start of next? */
static bool can_merge_right(const struct vma_merge *g)
{
	const struct vm_area *n = g->next;

	return n && n->start == g->end && attrs_mergeable(g, n) &&
	       n->pgoff == g->pgoff + ((g->end - g->start) >> PAGE_SHIFT);
}

/* When both sides could take the proposal, prev and next must agree with each other. */
static bool sides_compatible(const struct vm_area *prev, const struct vm_area *next)
{
	return !prev->anon || !next->anon || prev->anon == next->anon;
}

/* Give `to` the object of `from` when it has none (Linux's dup_anon_vma). */
static void adopt_anon(struct vm_area *to, struct anon_obj *from)
{
	if (!to->anon && from) {
		to->anon = from;
		anon_obj_get(from);
	}
}

/* The guard mark is sticky: a region that takes in part of another keeps its mark. */
static void keep_sticky(struct vm_area *to, const struct vm_area *from)
{
	to->flags |= from->flags & VM_STICKY;
}

/* Remove a region swallowed by a merge. */
static void vma_remove(struct as_mm *mm, struct vm_area *v)
{
	vma_tree_erase(&mm->tree, v);
	vma_free(mm, v);
}

struct vm_area *vma_merge_new_range(struct vma_merge *g)
{
	struct vm_area *prev = g->prev, *next = g->next;
	bool left, right;

	if (vma_is_special(g->flags) || (!prev && !next))
		return NULL;
	left = can_merge_left(g);
	right = can_merge_right(g) && (!left || sides_compatible(prev, next));
	if (left && right) {
		adopt_anon(prev, next->anon);
		keep_sticky(prev, next);
		prev->end = next->end;
		vma_remove(g->mm, next);
		vma_tree_update(&g->mm->tree, prev);
		return prev;
	}
	if (left) {
		prev->end = g->end;
		vma_tree_update(&g->mm->tree, prev);
		return prev;
	}
	if (right) {
		next->start = g->start;
		next->pgoff = g->pgoff;
		vma_tree_update(&g->mm->tree, next);
		return next;
	}
	return NULL;
}

/*
 * Try to merge part or all of middle into its neighbours (Linux's
 * vma_merge_existing_range). Only a range touching one end of middle can
 * merge; merges never allocate.
 *
 *   whole middle, both sides:  prev |====== middle ======| next  -> one region
 *   left part into prev:       prev |== range ==|  rest  |       -> prev grows, middle shrinks
 *   right part into next:           | rest |== range ==| next    -> next grows down
 */
static struct vm_area *merge_existing(struct vma_merge *g)
{
	struct as_mm *mm = g->mm;
	struct vm_area *mid = g->middle, *prev = NULL, *next = NULL;
	bool left_side = g->start == mid->start, right_side = g->end == mid->end;
	bool left = false, right = false;

	if (vma_is_special(g->flags) || (!left_side && !right_side))
		return NULL;
	if (left_side) {
		prev = vma_prev(mid);
		g->prev = prev;
		left = can_merge_left(g);
	}
	if (right_side) {
		next = vma_next(mid);
		g->next = next;
		right = can_merge_right(g);
	}
	if (left && right && !sides_compatible(prev, next))
		right = false;
	if (!left && !right)
		return NULL;

	if (left && right) {
		adopt_anon(prev, mid->anon);
		adopt_anon(prev, next->anon);
		keep_sticky(prev, mid);
		keep_sticky(prev, next);
		prev->end = next->end;
		vma_remove(mm, mid);
		vma_remove(mm, next);
		vma_tree_update(&mm->tree, prev);
		return prev;
	}
	if (left) {
		adopt_anon(prev, mid->anon);
		keep_sticky(prev, mid);
		prev->end = g->end;
		if (right_side) {
			vma_remove(mm, mid);
		} else {
			mid->pgoff += (g->end - mid->start) >> PAGE_SHIFT;
			mid->start = g->end;
			vma_tree_update(&mm->tree, mid);
		}
		vma_tree_update(&mm->tree, prev);
		return prev;
	}
	adopt_anon(next, mid->anon);
	keep_sticky(next, mid);
	next->start = g->start;
	next->pgoff = g->pgoff;
	if (left_side) {
		vma_remove(mm, mid);
	} else {
		mid->end = g->start;
		vma_tree_update(&mm->tree, mid);
	}
	vma_tree_update(&mm->tree, next);
	return next;
}

struct vm_area *vma_modify(struct vma_merge *g, int *err)
{
	struct vm_area *v = g->middle, *merged;
	int rc;

	g->file = v->file;
	g->anon = v->anon;
	g->special = v->special;
	g->pgoff = v->pgoff + ((g->start - v->start) >> PAGE_SHIFT);
	merged = merge_existing(g);
	if (merged)
		return merged;
	if (v->start < g->start) {
		rc = vma_split_limited(g->mm, v, g->start, true, NULL);
		if (rc) {
			*err = rc;
			return NULL;
		}
	}
	if (v->end > g->end) {
		rc = vma_split_limited(g->mm, v, g->end, false, NULL);
		if (rc) {
			*err = rc;
			return NULL;
		}
	}
	return v;
}
