/*
 * vma — the region tree: an augmented red-black tree of struct vm_area,
 * keyed by start. See vma.h for the contract.
 *
 * Representation. rb_parent_color packs the parent pointer with the color
 * in bit 0 (1 = black; regions are at least 8-byte aligned). A missing
 * child is a black leaf. Each node caches its gap-before in gap_before and
 * keeps subtree_gap = max(gap_before, left->subtree_gap, right->subtree_gap),
 * a function of its own fields and its children's only; that is what lets
 * a rotation fix the two nodes it moves in O(1), and a change at one node
 * be pushed to the root along its parent chain in O(log n).
 *
 * Who changes a gap-before. Inserting v between pred and succ sets v's and
 * changes succ's; erasing v folds v and v's gap into succ's. In both cases
 * succ lies on the path the change walks anyway: a freshly linked leaf's
 * successor is one of its ancestors, and the node that replaces an erased
 * one is its successor. So every change is: fix gap_before values, recompute
 * subtree_gap from the lowest touched node upwards (stopping once a value
 * stays put above every touched node), then rebalance with rotations that
 * keep subtree_gap right locally.
 *
 *        pred          v           succ
 *   ...--[    ]  gap  [  ]  gap'  [    ]--...      gap' = succ->gap_before
 *
 * Free-range search. Gap starts (the previous region's end) and gap ends
 * (start - 1) both increase in address order, which turns "the lowest
 * (highest) free range whose part inside [min, max] holds size bytes" into
 * "the first (last) region with start >= min + size (gap start <=
 * max - size + 1) and gap_before >= size": one descent pruned by
 * subtree_gap, plus the range above the last region. See find_first_fit.
 *
 * The top of the address order. Top-down mmap allocates just below the
 * highest regions and fork copies regions in increasing order, so the tree
 * caches its last region (t->last): the top-down search starts from it and
 * climbs only as far as it must (find_last_fit), and an insertion first
 * looks a few levels up from it for the subtree to descend (descent_link).
 * Both fall back to O(height) work from the root.
 *
 * Nothing here allocates, locks or calls the host; broken preconditions are
 * ENV_BUG_ON panics, a broken tree is reported by vma_tree_check.
 */
#include "vma.h"

#include "../machine/machine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#define RB_BLACK ((uintptr_t)1)

/* A red-black tree of n nodes is at most 2 log2(n + 1) high. */
#define VMA_TREE_MAX_HEIGHT 128

/* How far an insertion climbs from the last region looking for a shortcut. */
#define VMA_FINGER_LEVELS 4

/* ---- node accessors ---------------------------------------------------- */

/* The parent of n, NULL for the root. */
static inline struct vm_area *rb_parent(const struct vm_area *n)
{
	return (struct vm_area *)(n->rb_parent_color & ~RB_BLACK);
}

/* Whether n is red; a missing node (leaf) is black. */
static inline bool rb_is_red(const struct vm_area *n)
{
	return n && !(n->rb_parent_color & RB_BLACK);
}

/* Set n's parent, keeping its color. */
static inline void rb_set_parent(struct vm_area *n, struct vm_area *parent)
{
	n->rb_parent_color = (uintptr_t)parent | (n->rb_parent_color & RB_BLACK);
}

/* Paint n black. */
static inline void rb_set_black(struct vm_area *n)
{
	n->rb_parent_color |= RB_BLACK;
}

/* Paint n red. */
static inline void rb_set_red(struct vm_area *n)
{
	n->rb_parent_color &= ~RB_BLACK;
}

/* Give n the color of from. */
static inline void rb_copy_color(struct vm_area *n, const struct vm_area *from)
{
	n->rb_parent_color = (n->rb_parent_color & ~RB_BLACK) | (from->rb_parent_color & RB_BLACK);
}

/* The subtree gap of a possibly missing node. */
static inline uint64_t subtree_gap_of(const struct vm_area *n)
{
	return n ? n->subtree_gap : 0;
}

/* The first address of the gap before n (the previous region's end, or 0). */
static inline uint64_t gap_start(const struct vm_area *n)
{
	return n->start - n->gap_before;
}

/* Recompute n->subtree_gap from its own gap and its children's; true if it changed. */
static inline bool gap_recompute(struct vm_area *n)
{
	uint64_t g = n->gap_before;
	uint64_t l = subtree_gap_of(n->rb_left);
	uint64_t r = subtree_gap_of(n->rb_right);

	if (l > g)
		g = l;
	if (r > g)
		g = r;
	if (g == n->subtree_gap)
		return false;
	n->subtree_gap = g;
	return true;
}

/*
 * Recompute subtree_gap from n up to the root. Stop early at a node whose
 * value did not change, but only once `through` (the highest node whose own
 * inputs changed, or NULL) has been recomputed.
 */
static void gap_propagate(struct vm_area *n, const struct vm_area *through)
{
	while (n) {
		bool changed = gap_recompute(n);

		if (n == through)
			through = NULL;
		if (!changed && !through)
			return;
		n = rb_parent(n);
	}
}

/* The leftmost node of the subtree at n (n non-NULL). */
static inline struct vm_area *leftmost(struct vm_area *n)
{
	while (n->rb_left)
		n = n->rb_left;
	return n;
}

/* The rightmost node of the subtree at n (n non-NULL). */
static inline struct vm_area *rightmost(struct vm_area *n)
{
	while (n->rb_right)
		n = n->rb_right;
	return n;
}

/* Make `parent` (or the root when NULL) point to new_child instead of old_child. */
static inline void replace_child(struct vma_tree *t, struct vm_area *parent,
				 const struct vm_area *old_child, struct vm_area *new_child)
{
	if (!parent)
		t->root = new_child;
	else if (parent->rb_left == old_child)
		parent->rb_left = new_child;
	else
		parent->rb_right = new_child;
}

/* ---- rotations ------------------------------------------------------------
 *
 *        x                    y
 *       / \     left(x)      / \
 *      a   y    ------->    x   c
 *         / \   <-------   / \
 *        b   c  right(y)  a   b
 *
 * In-order stays a x b y c, so no gap_before changes; the node that moves
 * up covers the same regions as the old subtree root and inherits its
 * subtree_gap, the node that moves down is recomputed from a and b.
 */

/* Rotate left at x (x->rb_right non-NULL); colors are the caller's business. */
static void rotate_left(struct vma_tree *t, struct vm_area *x)
{
	struct vm_area *y = x->rb_right;
	struct vm_area *parent = rb_parent(x);

	x->rb_right = y->rb_left;
	if (y->rb_left)
		rb_set_parent(y->rb_left, x);
	y->rb_left = x;
	rb_set_parent(y, parent);
	replace_child(t, parent, x, y);
	rb_set_parent(x, y);

	y->subtree_gap = x->subtree_gap;
	gap_recompute(x);
}

/* Rotate right at y (y->rb_left non-NULL); colors are the caller's business. */
static void rotate_right(struct vma_tree *t, struct vm_area *y)
{
	struct vm_area *x = y->rb_left;
	struct vm_area *parent = rb_parent(y);

	y->rb_left = x->rb_right;
	if (x->rb_right)
		rb_set_parent(x->rb_right, y);
	x->rb_right = y;
	rb_set_parent(x, parent);
	replace_child(t, parent, y, x);
	rb_set_parent(y, x);

	x->subtree_gap = y->subtree_gap;
	gap_recompute(y);
}

/* ---- insert and erase ---------------------------------------------------- */

void vma_tree_init(struct vma_tree *t)
{
	t->root = NULL;
	t->count = 0;
	t->last = NULL;
}

/* Restore the red-black properties after linking the red node n. */
static void insert_fixup(struct vma_tree *t, struct vm_area *n)
{
	struct vm_area *parent, *gparent, *uncle;

	while ((parent = rb_parent(n)) && rb_is_red(parent)) {
		gparent = rb_parent(parent); /* a red node is never the root */
		if (parent == gparent->rb_left) {
			uncle = gparent->rb_right;
			if (rb_is_red(uncle)) {
				/* Push the blackness down from the grandparent. */
				rb_set_black(parent);
				rb_set_black(uncle);
				rb_set_red(gparent);
				n = gparent;
				continue;
			}
			if (n == parent->rb_right) {
				/* Zig-zag: make it a straight line first. */
				rotate_left(t, parent);
				n = parent;
				parent = rb_parent(n);
			}
			rb_set_black(parent);
			rb_set_red(gparent);
			rotate_right(t, gparent);
		} else {
			uncle = gparent->rb_left;
			if (rb_is_red(uncle)) {
				rb_set_black(parent);
				rb_set_black(uncle);
				rb_set_red(gparent);
				n = gparent;
				continue;
			}
			if (n == parent->rb_left) {
				rotate_right(t, parent);
				n = parent;
				parent = rb_parent(n);
			}
			rb_set_black(parent);
			rb_set_red(gparent);
			rotate_left(t, gparent);
		}
		break;
	}
	rb_set_black(t->root);
}

/*
 * Where the descent for a new region starting at `start` begins. Top-down
 * mmap places new regions just below the highest ones and fork copies
 * regions in increasing order, so try the subtrees hanging off the last
 * region's right spine first: climb from the last region (at most
 * VMA_FINGER_LEVELS levels, so that other inserts pay little) to the first
 * ancestor whose start is below `start`; its right subtree holds every
 * region above it, so the new one belongs there. Else start at the root.
 * *pred is the region just before the returned subtree (NULL for the root).
 */
static struct vm_area **descent_link(struct vma_tree *t, uint64_t start, struct vm_area **pred)
{
	struct vm_area *n = t->last, *parent;

	for (int level = 0; n && level < VMA_FINGER_LEVELS; level++) {
		parent = rb_parent(n);
		if (!parent)
			break;
		if (parent->start < start) {
			/* n is parent's right child: everything on the spine is. */
			*pred = parent;
			return &parent->rb_right;
		}
		n = parent;
	}
	*pred = NULL;
	return &t->root;
}

/*
 * Link v, a region overlapping none in the tree, and rebalance. Its bounds
 * must be page aligned with start < end; v's tree fields are overwritten.
 */
void vma_tree_insert(struct vma_tree *t, struct vm_area *v)
{
	struct vm_area **link, *parent, *pred, *succ = NULL;

	ENV_BUG_ON(v->start >= v->end);
	ENV_BUG_ON((v->start | v->end) & (PAGE_SIZE - 1));

	link = descent_link(t, v->start, &pred);
	parent = pred;
	while (*link) {
		parent = *link;
		if (v->start < parent->start) {
			succ = parent;
			link = &parent->rb_left;
		} else {
			pred = parent;
			link = &parent->rb_right;
		}
	}
	ENV_BUG_ON(pred && pred->end > v->start);
	ENV_BUG_ON(succ && succ->start < v->end);

	v->rb_parent_color = (uintptr_t)parent; /* red */
	v->rb_left = NULL;
	v->rb_right = NULL;
	v->gap_before = v->start - (pred ? pred->end : 0);
	v->subtree_gap = v->gap_before;
	*link = v;
	t->count++;
	if (!succ)
		t->last = v;

	/* succ, when there is one, is an ancestor of v: the walk passes it. */
	if (succ)
		succ->gap_before = succ->start - v->end;
	gap_propagate(parent, succ);
	insert_fixup(t, v);
}

/*
 * Restore the red-black properties after unlinking a black node: the
 * subtree at x (possibly NULL), child of parent, is one black short.
 */
static void erase_fixup(struct vma_tree *t, struct vm_area *x, struct vm_area *parent)
{
	struct vm_area *sib;

	while (x != t->root && !rb_is_red(x)) {
		if (x == parent->rb_left) {
			sib = parent->rb_right; /* non-NULL: it carries a black height >= 1 */
			if (rb_is_red(sib)) {
				rb_set_black(sib);
				rb_set_red(parent);
				rotate_left(t, parent);
				sib = parent->rb_right;
			}
			if (!rb_is_red(sib->rb_left) && !rb_is_red(sib->rb_right)) {
				/* Move the shortage up one level. */
				rb_set_red(sib);
				x = parent;
				parent = rb_parent(x);
				continue;
			}
			if (!rb_is_red(sib->rb_right)) {
				rb_set_black(sib->rb_left);
				rb_set_red(sib);
				rotate_right(t, sib);
				sib = parent->rb_right;
			}
			rb_copy_color(sib, parent);
			rb_set_black(parent);
			rb_set_black(sib->rb_right);
			rotate_left(t, parent);
		} else {
			sib = parent->rb_left;
			if (rb_is_red(sib)) {
				rb_set_black(sib);
				rb_set_red(parent);
				rotate_right(t, parent);
				sib = parent->rb_left;
			}
			if (!rb_is_red(sib->rb_left) && !rb_is_red(sib->rb_right)) {
				rb_set_red(sib);
				x = parent;
				parent = rb_parent(x);
				continue;
			}
			if (!rb_is_red(sib->rb_left)) {
				rb_set_black(sib->rb_right);
				rb_set_red(sib);
				rotate_left(t, sib);
				sib = parent->rb_left;
			}
			rb_copy_color(sib, parent);
			rb_set_black(parent);
			rb_set_black(sib->rb_left);
			rotate_right(t, parent);
		}
		return;
	}
	if (x)
		rb_set_black(x);
}

/* Unlink v, a region in t, and rebalance. v's tree fields are left stale. */
void vma_tree_erase(struct vma_tree *t, struct vm_area *v)
{
	struct vm_area *parent = rb_parent(v);
	struct vm_area *succ, *child, *xparent;
	bool removed_black;

	ENV_BUG_ON(t->count == 0);
	ENV_DEBUG_BUG_ON(parent ? parent->rb_left != v && parent->rb_right != v : t->root != v);
	if (v == t->last)
		t->last = vma_prev(v);

	/* The successor absorbs v and the gap before v. */
	succ = v->rb_right ? leftmost(v->rb_right) : vma_next(v);
	if (succ)
		succ->gap_before += (v->end - v->start) + v->gap_before;

	if (!v->rb_left || !v->rb_right) {
		/* At most one child: it takes v's place. */
		child = v->rb_left ? v->rb_left : v->rb_right;
		removed_black = !rb_is_red(v);
		replace_child(t, parent, v, child);
		if (child)
			rb_set_parent(child, parent);
		xparent = parent;
		/*
		 * succ is in child's subtree (when child is v's right
		 * child) or is parent or one of its ancestors; either way
		 * the walk passes both succ and parent.
		 */
		if (child && child == v->rb_right)
			gap_propagate(succ, parent);
		else
			gap_propagate(parent, succ);
	} else {
		/*
		 * Two children: succ (leftmost of the right subtree, no left
		 * child) takes v's place and color; succ's right child takes
		 * succ's old place.
		 *
		 *        v                succ
		 *       / \               /  \
		 *      a   r     ->      a    r
		 *         /                  /
		 *       ...               ...
		 *       /                 /
		 *     succ              c
		 *        \
		 *         c
		 */
		child = succ->rb_right;
		removed_black = !rb_is_red(succ);
		if (rb_parent(succ) == v) {
			xparent = succ;
		} else {
			xparent = rb_parent(succ);
			xparent->rb_left = child;
			if (child)
				rb_set_parent(child, xparent);
			succ->rb_right = v->rb_right;
			rb_set_parent(v->rb_right, succ);
		}
		succ->rb_left = v->rb_left;
		rb_set_parent(v->rb_left, succ);
		succ->rb_parent_color = v->rb_parent_color;
		replace_child(t, parent, v, succ);
		gap_propagate(xparent, succ);
	}
	t->count--;

	if (removed_black) {
		if (rb_is_red(child))
			rb_set_black(child);
		else
			erase_fixup(t, child, xparent);
	}
}

/*
 * After v's bounds moved in place (no neighbour passed), refresh v's and
 * its successor's gap-before and the subtree gaps above them.
 */
void vma_tree_update(struct vma_tree *t, struct vm_area *v)
{
	struct vm_area *prev = vma_prev(v), *next = vma_next(v);

	ENV_BUG_ON(v->start >= v->end);
	ENV_BUG_ON((v->start | v->end) & (PAGE_SIZE - 1));
	ENV_BUG_ON(prev && prev->end > v->start);
	ENV_BUG_ON(next && next->start < v->end);
	(void)t;

	v->gap_before = v->start - (prev ? prev->end : 0);
	if (next)
		next->gap_before = next->start - v->end;
	/*
	 * Two changed nodes, one possibly below the other: walk both paths
	 * to the root so neither walk stops on a value the other made stale.
	 */
	for (struct vm_area *n = v; n; n = rb_parent(n))
		gap_recompute(n);
	for (struct vm_area *n = next; n; n = rb_parent(n))
		gap_recompute(n);
}

/* ---- lookups ------------------------------------------------------------- */

/*
 * Where a lookup of addr may start (the finger, as for inserts): top-down
 * placement makes most lookups land just below the highest regions, so
 * climb from the last region to the first ancestor that ends at or below
 * addr; every candidate lies in its right subtree. Else the root.
 */
static struct vm_area *lookup_start(const struct vma_tree *t, uint64_t addr)
{
	struct vm_area *n = t->last, *parent;

	for (int level = 0; n && level < VMA_FINGER_LEVELS; level++) {
		parent = rb_parent(n);
		if (!parent)
			break;
		if (parent->end <= addr)
			return parent->rb_right;
		n = parent;
	}
	return t->root;
}

struct vm_area *vma_lookup(const struct vma_tree *t, uint64_t addr)
{
	struct vm_area *n = lookup_start(t, addr);

	while (n) {
		if (addr < n->start)
			n = n->rb_left;
		else if (addr >= n->end)
			n = n->rb_right;
		else
			return n;
	}
	return NULL;
}

struct vm_area *vma_find(const struct vma_tree *t, uint64_t addr)
{
	struct vm_area *n = lookup_start(t, addr), *best = NULL;

	while (n) {
		if (n->end > addr) {
			best = n;
			if (n->start <= addr)
				return n;
			n = n->rb_left;
		} else {
			n = n->rb_right;
		}
	}
	return best;
}

/* An empty range [start, end) with start >= end intersects nothing, as Linux. */
struct vm_area *vma_find_intersection(const struct vma_tree *t, uint64_t start, uint64_t end)
{
	struct vm_area *v;

	if (start >= end)
		return NULL;
	v = vma_find(t, start);
	return v && v->start < end ? v : NULL;
}

struct vm_area *vma_first(const struct vma_tree *t)
{
	return t->root ? leftmost(t->root) : NULL;
}

struct vm_area *vma_last(const struct vma_tree *t)
{
	return t->last;
}

/* The next region by address: down the right subtree, else up to the first left turn. */
struct vm_area *vma_next(const struct vm_area *v)
{
	const struct vm_area *parent;

	if (v->rb_right)
		return leftmost(v->rb_right);
	while ((parent = rb_parent(v)) && v == parent->rb_right)
		v = parent;
	return (struct vm_area *)parent;
}

/* The previous region by address: the mirror of vma_next. */
struct vm_area *vma_prev(const struct vm_area *v)
{
	const struct vm_area *parent;

	if (v->rb_left)
		return rightmost(v->rb_left);
	while ((parent = rb_parent(v)) && v == parent->rb_left)
		v = parent;
	return (struct vm_area *)parent;
}

/* ---- free-range search --------------------------------------------------- */

/*
 * Whether the part of the free range [lo, hi] inside [min, max] holds size
 * bytes (size >= 1); if so, *out_lo and *out_hi receive that part.
 */
static bool clip_fits(uint64_t lo, uint64_t hi, uint64_t min, uint64_t max, uint64_t size,
		      uint64_t *out_lo, uint64_t *out_hi)
{
	if (lo < min)
		lo = min;
	if (hi > max)
		hi = max;
	if (lo > hi || hi - lo < size - 1)
		return false;
	*out_lo = lo;
	*out_hi = hi;
	return true;
}

/*
 * The first region in address order with start >= low and gap_before >=
 * size, in the subtree at n, or NULL.
 *
 * The walk is an in-order traversal that skips every subtree whose
 * subtree_gap is below size and every left subtree of a node below low
 * (everything there is below low too). What it enters either lies wholly
 * at or above low, where subtree_gap >= size guarantees a hit on the way
 * down, or straddles low, which happens only along the search path for
 * low; so it visits O(height) nodes.
 */
static const struct vm_area *find_first_fit(const struct vm_area *n, uint64_t low, uint64_t size)
{
	const struct vm_area *child;

	if (!n || n->subtree_gap < size)
		return NULL;
	for (;;) {
		/* Descend left while the left subtree may hold the answer. */
		while (n->start >= low && n->rb_left && n->rb_left->subtree_gap >= size)
			n = n->rb_left;
		for (;;) {
			/* Everything before n in this subtree is ruled out: try n. */
			if (n->start >= low && n->gap_before >= size)
				return n;
			if (n->rb_right && n->rb_right->subtree_gap >= size) {
				n = n->rb_right;
				break;
			}
			/* Climb to the first ancestor entered from its left. */
			do {
				child = n;
				n = rb_parent(n);
				if (!n)
					return NULL;
			} while (child == n->rb_right);
		}
	}
}

/*
 * The last region in address order, within the subtree at sub, whose gap
 * starts at or below high and has gap_before >= size, or NULL.
 *
 * The mirror of find_first_fit, keyed on the gap's start (which also
 * increases in address order): an in-order walk from the high end that
 * skips subtrees whose subtree_gap is below size and the right subtree of
 * every node whose gap starts above high. O(height of sub).
 */
static const struct vm_area *last_fit_in(const struct vm_area *sub, uint64_t high, uint64_t size)
{
	const struct vm_area *n = sub, *child;

	if (!n || n->subtree_gap < size)
		return NULL;
	for (;;) {
		while (gap_start(n) <= high && n->rb_right && n->rb_right->subtree_gap >= size)
			n = n->rb_right;
		for (;;) {
			if (gap_start(n) <= high && n->gap_before >= size)
				return n;
			if (n->rb_left && n->rb_left->subtree_gap >= size) {
				n = n->rb_left;
				break;
			}
			/* Climb to the first ancestor inside sub entered from its right. */
			do {
				if (n == sub)
					return NULL;
				child = n;
				n = rb_parent(n);
			} while (child == n->rb_left);
		}
	}
}

/*
 * The last region in address order whose gap starts at or below high and
 * has gap_before >= size, or NULL.
 *
 * Bottom-up from the last region, because top-down allocation mostly finds
 * its range among the highest regions. The right spine (root to last)
 * splits the tree: the subtree at a spine node s holds exactly the regions
 * after s's parent p, so its gaps all start at p->end or above; before it
 * come p, then p's left subtree, then p's own parent. Climb past the spine
 * nodes whose parent ends above high (their subtrees hold no candidate),
 * search the subtree reached; above it every spine node and left subtree
 * lies at or below high, so the first one with a large enough gap wins.
 * O(height), and O(1) plus the climb when the answer is near the top.
 *
 *           root
 *          /    \
 *        ...     p        <- p->end <= high: p and its left subtree qualify
 *               / \
 *             ...  s      <- searched top-down (gaps from p->end upwards)
 *                   \
 *                   last
 */
static const struct vm_area *find_last_fit(const struct vma_tree *t, uint64_t high,
					   uint64_t size)
{
	const struct vm_area *top = t->last, *parent, *n;

	if (!top)
		return NULL;
	while ((parent = rb_parent(top)) && parent->end > high)
		top = parent;
	n = last_fit_in(top, high, size);
	for (; !n && parent; parent = rb_parent(parent)) {
		if (parent->gap_before >= size)
			return parent;
		n = last_fit_in(parent->rb_left, high, size);
	}
	return n;
}

/*
 * The lowest free range whose part inside [min, max] holds size bytes;
 * *start = that part's first address.
 *
 * A range before region n ends at n->start - 1, so it can hold size bytes
 * at or above min only if n->start >= min + size; among those, the window
 * clips the range's bottom to no less than size bytes, so it fits iff
 * gap_before >= size and it starts no higher than max - size + 1. Gap
 * starts increase, so if the first such range starts too high, so does
 * every later one, the range after the last region included.
 */
bool vma_empty_area(const struct vma_tree *t, uint64_t min, uint64_t max, uint64_t size,
		    uint64_t *start)
{
	const struct vm_area *n = NULL, *last;
	uint64_t lo, hi;

	if (size == 0 || min > max || max - min < size - 1)
		return false;

	if (min <= UINT64_MAX - size)
		n = find_first_fit(t->root, min + size, size);
	if (n) {
		if (!clip_fits(gap_start(n), n->start - 1, min, max, size, &lo, &hi))
			return false;
		*start = lo;
		return true;
	}

	last = vma_last(t);
	if (!clip_fits(last ? last->end : 0, UINT64_MAX, min, max, size, &lo, &hi))
		return false;
	*start = lo;
	return true;
}

/*
 * The highest free range whose part inside [min, max] holds size bytes;
 * *last = that part's last address.
 *
 * The range after the last region comes first. Below it, the mirror of
 * vma_empty_area: a range starting at or below max - size + 1 fits iff
 * gap_before >= size and its region starts at or above min + size, and
 * region starts decrease going down, so the last candidate decides.
 */
bool vma_empty_area_rev(const struct vma_tree *t, uint64_t min, uint64_t max, uint64_t size,
			uint64_t *last)
{
	const struct vm_area *n;
	uint64_t lo, hi;

	if (size == 0 || min > max || max - min < size - 1)
		return false;

	n = vma_last(t);
	if (clip_fits(n ? n->end : 0, UINT64_MAX, min, max, size, &lo, &hi)) {
		*last = hi;
		return true;
	}

	if (!n || t->root->subtree_gap < size)
		return false;
	n = find_last_fit(t, max - (size - 1), size);
	if (!n || !clip_fits(gap_start(n), n->start - 1, min, max, size, &lo, &hi))
		return false;
	*last = hi;
	return true;
}

/* ---- validator ----------------------------------------------------------- */

struct check_ctx {
	const struct vm_area *prev; /* last region visited in order */
	uint64_t nodes;             /* regions visited so far */
	uint64_t limit;             /* t->count: more means a loop or a bad count */
	char *buf;
	size_t len;
};

/* Describe the first broken invariant in the caller's buffer; returns -EUCLEAN. */
__attribute__((format(printf, 2, 3))) static int check_fail(struct check_ctx *c,
							     const char *fmt, ...)
{
	va_list ap;

	if (c->buf && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->buf, c->len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

/*
 * Check the subtree at n, whose parent must be `parent`, at `depth`.
 * Returns its black height (counting the leaves) or -EUCLEAN; *gap gets
 * the largest gap-before recomputed over the subtree.
 */
static int check_subtree(struct check_ctx *c, const struct vm_area *n,
			 const struct vm_area *parent, unsigned depth, uint64_t *gap)
{
	uint64_t lgap, rgap, g, prev_end;
	int lh, rh;

	*gap = 0;
	if (!n)
		return 1;
	if (depth > VMA_TREE_MAX_HEIGHT)
		return check_fail(c, "region tree deeper than %u: a loop?", VMA_TREE_MAX_HEIGHT);
	if (++c->nodes > c->limit)
		return check_fail(c, "region tree has more nodes than its count %llu",
				  (unsigned long long)c->limit);
	if (rb_parent(n) != parent)
		return check_fail(c, "region %#llx: parent pointer %p, expected %p",
				  (unsigned long long)n->start, (void *)rb_parent(n),
				  (const void *)parent);
	if (rb_is_red(n) && parent && rb_is_red(parent))
		return check_fail(c, "region %#llx: red child of a red parent",
				  (unsigned long long)n->start);

	lh = check_subtree(c, n->rb_left, n, depth + 1, &lgap);
	if (lh < 0)
		return lh;

	/* In-order visit of n. */
	if (n->start >= n->end)
		return check_fail(c, "region [%#llx, %#llx): start >= end",
				  (unsigned long long)n->start, (unsigned long long)n->end);
	if ((n->start | n->end) & (PAGE_SIZE - 1))
		return check_fail(c, "region [%#llx, %#llx): bounds not page aligned",
				  (unsigned long long)n->start, (unsigned long long)n->end);
	if (c->prev && c->prev->start >= n->start)
		return check_fail(c, "regions out of order: %#llx visited before %#llx",
				  (unsigned long long)c->prev->start, (unsigned long long)n->start);
	if (c->prev && c->prev->end > n->start)
		return check_fail(c, "regions [%#llx, %#llx) and [%#llx, %#llx) overlap",
				  (unsigned long long)c->prev->start,
				  (unsigned long long)c->prev->end, (unsigned long long)n->start,
				  (unsigned long long)n->end);
	prev_end = c->prev ? c->prev->end : 0;
	if (n->gap_before != n->start - prev_end)
		return check_fail(c, "region %#llx: gap_before %#llx, expected %#llx",
				  (unsigned long long)n->start, (unsigned long long)n->gap_before,
				  (unsigned long long)(n->start - prev_end));
	c->prev = n;

	rh = check_subtree(c, n->rb_right, n, depth + 1, &rgap);
	if (rh < 0)
		return rh;
	if (lh != rh)
		return check_fail(c, "region %#llx: black heights %d (left) and %d (right) differ",
				  (unsigned long long)n->start, lh, rh);

	g = n->gap_before;
	if (lgap > g)
		g = lgap;
	if (rgap > g)
		g = rgap;
	if (n->subtree_gap != g)
		return check_fail(c, "region %#llx: subtree_gap %#llx, expected %#llx",
				  (unsigned long long)n->start, (unsigned long long)n->subtree_gap,
				  (unsigned long long)g);
	*gap = g;
	return lh + !rb_is_red(n);
}

/*
 * Check every invariant listed in vma.h; 0, or -EUCLEAN with the first
 * broken one described in buf (len bytes, may be 0). O(n), recursion depth
 * bounded by VMA_TREE_MAX_HEIGHT even on a corrupted tree.
 */
int vma_tree_check(const struct vma_tree *t, char *buf, size_t len)
{
	struct check_ctx c = { .limit = t->count, .buf = buf, .len = len };
	uint64_t gap;
	int rc;

	if (buf && len)
		buf[0] = '\0';
	if (t->root && rb_is_red(t->root))
		return check_fail(&c, "region tree root %#llx is red",
				  (unsigned long long)t->root->start);
	rc = check_subtree(&c, t->root, NULL, 1, &gap);
	if (rc < 0)
		return rc;
	if (t->last != c.prev)
		return check_fail(&c, "region tree caches %p as its last region, not %p",
				  (void *)t->last, (const void *)c.prev);
	if (c.nodes != t->count)
		return check_fail(&c, "region tree count %llu but %llu nodes",
				  (unsigned long long)t->count, (unsigned long long)c.nodes);
	return 0;
}
