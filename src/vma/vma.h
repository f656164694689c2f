/*
 * vma — memory regions and the region tree of one address space.
 *
 * Owns: struct vm_area (Linux's vm_area_struct: [start, end), flags, page
 * offset, file, anonymous-memory object) and the tree that orders the
 * regions of a space: an augmented red-black tree keyed by start address,
 * where every node also keeps the largest free gap found in its subtree, so
 * that lookup, insertion, removal and free-range search are O(log n).
 *
 * Vocabulary: the gap before a region is the free range between the end of
 * the previous region (0 for the first) and its start. The free range after
 * the last region runs to the top of the address space (UINT64_MAX,
 * inclusive, as Linux's maple tree sees it). Region bounds are page aligned.
 *
 * Invariants (checked by vma_tree_check):
 *  - in-order traversal visits regions by increasing start; start < end;
 *    no two regions overlap;
 *  - each node's gap_before equals its gap-before, and its subtree_gap
 *    the largest gap-before among the regions of its subtree; red-black
 *    properties hold; parent pointers match the child links;
 *  - count equals the number of nodes; last is the highest region.
 *
 * Locking: the tree belongs to one space and is protected by its mmap lock:
 * readers (faults, lookups) hold it for reading, writers (every change) for
 * writing. Nothing here takes a lock.
 */
#ifndef ASPACE_VMA_H
#define ASPACE_VMA_H

#include "../env/env.h"

#include <stdbool.h>
#include <stdint.h>

/* Region flags: Linux's VM_* values, so that dumps compare directly. */
#define VM_NONE 0x00000000ull
#define VM_READ 0x00000001ull
#define VM_WRITE 0x00000002ull
#define VM_EXEC 0x00000004ull
#define VM_SHARED 0x00000008ull
#define VM_MAYREAD 0x00000010ull
#define VM_MAYWRITE 0x00000020ull
#define VM_MAYEXEC 0x00000040ull
#define VM_MAYSHARE 0x00000080ull
#define VM_GROWSDOWN 0x00000100ull
#define VM_UFFD_MISSING 0x00000200ull
#define VM_PFNMAP 0x00000400ull
#define VM_MAYBE_GUARD 0x00000800ull
#define VM_UFFD_WP 0x00001000ull
#define VM_LOCKED 0x00002000ull
#define VM_IO 0x00004000ull
#define VM_SEQ_READ 0x00008000ull
#define VM_RAND_READ 0x00010000ull
#define VM_DONTCOPY 0x00020000ull
#define VM_DONTEXPAND 0x00040000ull
#define VM_LOCKONFAULT 0x00080000ull
#define VM_ACCOUNT 0x00100000ull
#define VM_NORESERVE 0x00200000ull
#define VM_HUGETLB 0x00400000ull
#define VM_SYNC 0x00800000ull
#define VM_ARCH_1 0x01000000ull
#define VM_WIPEONFORK 0x02000000ull
#define VM_DONTDUMP 0x04000000ull
#define VM_SOFTDIRTY 0x08000000ull
#define VM_MIXEDMAP 0x10000000ull
#define VM_HUGEPAGE 0x20000000ull
#define VM_NOHUGEPAGE 0x40000000ull
#define VM_MERGEABLE 0x80000000ull
#define VM_UFFD_MINOR (1ull << 38)
#define VM_DROPPABLE (1ull << 40)
#define VM_SEALED (1ull << 42)

/* Flags that never stop two regions from merging. */
#define VM_IGNORE_MERGE (VM_SOFTDIRTY | VM_MAYBE_GUARD)
/* Flags that a merge carries over from either side (Linux's VM_STICKY). */
#define VM_STICKY VM_MAYBE_GUARD

#define VM_ACCESS_FLAGS (VM_READ | VM_WRITE | VM_EXEC)

/* Every right a region has comes with its may-bit (and VM_SHARED with VM_MAYSHARE). */
static inline bool vma_rights_consistent(uint64_t f)
{
	return !(((f & VM_SHARED) && !(f & VM_MAYSHARE)) || ((f & VM_READ) && !(f & VM_MAYREAD)) ||
		 ((f & VM_WRITE) && !(f & VM_MAYWRITE)) || ((f & VM_EXEC) && !(f & VM_MAYEXEC)));
}
#define VM_LOCKED_MASK (VM_LOCKED | VM_LOCKONFAULT)
#define VM_STARTGAP_FLAGS VM_GROWSDOWN

/* Regions with a name of their own in /proc/PID/maps that is not a file. */
enum vma_special {
	VMA_SPECIAL_NONE = 0,
	VMA_SPECIAL_VVAR,        /* [vvar] */
	VMA_SPECIAL_VVAR_VCLOCK, /* [vvar_vclock] */
	VMA_SPECIAL_VDSO,        /* [vdso] */
};

struct as_mm;
struct file_map;  /* an open file mapped by regions, file subsystem */

/*
 * An anonymous-memory object (Linux's anon_vma): the identity shared by the
 * private anonymous pages of one region and of the regions split from it,
 * merged with it, or forked from it. Regions merge only when their objects
 * are compatible (see vma_ops.c). Reference counted by the regions that
 * link it; a forked region's object holds its parent's.
 * Legend: [A] atomic; [I] immutable after creation.
 */
struct anon_obj {
	_Atomic int32_t refs;      /* [A] regions linking it, children holding it */
	struct anon_obj *parent;   /* [I] the object of the region this one was forked from */
};

/*
 * One region. Legend: [W] mmap lock held for writing to change, for reading
 * to read; [T] tree-private (the tree code alone touches it).
 */
struct vm_area {
	uint64_t start, end;       /* [W] [start, end), page aligned */
	uint64_t flags;            /* [W] VM_* */
	uint64_t pgoff;            /* [W] offset in pages: in the file; for anonymous
	                              regions start >> PAGE_SHIFT at creation, as Linux */
	struct as_mm *mm;          /* [W] */
	struct file_map *file;     /* [W] NULL for anonymous memory */
	struct anon_obj *anon;     /* [W] NULL until the first anonymous page */
	uint32_t special;          /* [W] enum vma_special */
	bool anon_forked;          /* [W] forked from a region that had anonymous pages: its
	                              anon chain holds its parents' objects too, so it no
	                              longer lends its object to merges (Linux's
	                              vma_had_uncowed_parents) */

	uintptr_t rb_parent_color; /* [T] */
	struct vm_area *rb_left;   /* [T] */
	struct vm_area *rb_right;  /* [T] */
	uint64_t subtree_gap;      /* [T] largest gap-before in this subtree */
	uint64_t gap_before;       /* [T] start - previous region's end (start for
	                              the first): cached so that subtree_gap is
	                              recomputed in O(1) through rotations */
};

/* A space's regions. [W] */
struct vma_tree {
	struct vm_area *root;
	uint64_t count;
	struct vm_area *last; /* [T] the highest region, NULL when empty: top-down
	                         searches start there (vma_last is O(1)) */
};

void vma_tree_init(struct vma_tree *t) AS_INTERNAL;

/* Insert a region that overlaps none in the tree. */
void vma_tree_insert(struct vma_tree *t, struct vm_area *v) AS_INTERNAL;
void vma_tree_erase(struct vma_tree *t, struct vm_area *v) AS_INTERNAL;

/*
 * After changing v->start or v->end in place (trimming or extending without
 * passing a neighbour), restore the gap values along the affected paths.
 */
void vma_tree_update(struct vma_tree *t, struct vm_area *v) AS_INTERNAL;

/* The region containing addr, or NULL. */
struct vm_area *vma_lookup(const struct vma_tree *t, uint64_t addr) AS_INTERNAL;
/* The first region with end > addr (Linux's find_vma), or NULL. */
struct vm_area *vma_find(const struct vma_tree *t, uint64_t addr) AS_INTERNAL;
/* The first region intersecting [start, end), or NULL. */
struct vm_area *vma_find_intersection(const struct vma_tree *t, uint64_t start,
				      uint64_t end) AS_INTERNAL;
struct vm_area *vma_first(const struct vma_tree *t) AS_INTERNAL;
struct vm_area *vma_last(const struct vma_tree *t) AS_INTERNAL;
struct vm_area *vma_next(const struct vm_area *v) AS_INTERNAL;
struct vm_area *vma_prev(const struct vm_area *v) AS_INTERNAL;

/*
 * Free-range search, as Linux's maple tree does it for get_unmapped_area.
 * A free range is a maximal run of addresses covered by no region (the range
 * after the last region ends at UINT64_MAX). Only the part of a free range
 * inside the window [min, max] (inclusive bounds) counts.
 *
 * vma_empty_area: the lowest such part of at least `size` bytes; *start is
 * its first address. vma_empty_area_rev: the highest; *last is its last
 * address (inclusive). Both return false when there is none, and when
 * size is 0, min > max or the window is smaller than size. O(log n).
 */
bool vma_empty_area(const struct vma_tree *t, uint64_t min, uint64_t max, uint64_t size,
		    uint64_t *start) AS_INTERNAL;
bool vma_empty_area_rev(const struct vma_tree *t, uint64_t min, uint64_t max, uint64_t size,
			uint64_t *last) AS_INTERNAL;

#define vma_for_each(t, v) for (struct vm_area *v = vma_first(t); v; v = vma_next(v))

/* ---- Region operations of a space (vma_ops.c); the mmap lock is held for writing ---- */

/*
 * A proposed range [start, end) of a space and the attributes it would
 * have, carried through the merge and split helpers (Linux's vma_merge_struct).
 * For a new range, middle is NULL and prev/next are its neighbours (either
 * may be NULL or not adjacent). For a change to part of an existing region,
 * middle is that region and [start, end) lies inside it.
 */
struct vma_merge {
	struct as_mm *mm;
	struct vm_area *prev, *middle, *next;
	uint64_t start, end;
	uint64_t pgoff;            /* of start */
	uint64_t flags;            /* the flags the range would have */
	struct file_map *file;
	struct anon_obj *anon;     /* middle's object, or NULL for a new range */
	uint32_t special;
	struct vm_area *copied_from; /* mremap: the region whose pages the new range receives */
};

/* A zeroed region object of the space, or NULL when none can be had. */
struct vm_area *vma_alloc(struct as_mm *mm) AS_INTERNAL AS_MUST_CHECK;

/* Free a region that is not in the tree, dropping its file and anon references. */
void vma_free(struct as_mm *mm, struct vm_area *v) AS_INTERNAL;

/* Take a reference on an anonymous object (NULL allowed). */
void anon_obj_get(struct anon_obj *a) AS_INTERNAL;
void anon_obj_put(struct as_mm *mm, struct anon_obj *a) AS_INTERNAL;

/*
 * Split v at addr (page aligned, strictly inside v). With new_below the new
 * region takes [v->start, addr) and v keeps the rest; otherwise the new
 * region takes [addr, v->end). *out (may be NULL) gets the new region.
 * -ENOMEM when no region object can be had. The map_count limit is the
 * caller's to check (Linux checks it in some callers only).
 */
int vma_split(struct as_mm *mm, struct vm_area *v, uint64_t addr, bool new_below,
	      struct vm_area **out) AS_INTERNAL AS_MUST_CHECK;

/* Split, failing with -ENOMEM when the space already has max_map_count regions. */
int vma_split_limited(struct as_mm *mm, struct vm_area *v, uint64_t addr, bool new_below,
		      struct vm_area **out) AS_INTERNAL AS_MUST_CHECK;

/*
 * Try to place a new range by expanding a neighbour (or joining both);
 * returns the region that now covers [start, end), or NULL when Linux would
 * not merge. Never fails otherwise.
 */
struct vm_area *vma_merge_new_range(struct vma_merge *g) AS_INTERNAL;

/*
 * Make [g->start, g->end) of g->middle a region of its own with g->flags
 * (and the other attributes in g): merge it into a neighbour when Linux
 * would, otherwise split middle. Returns the region now covering the range
 * (its flags already g->flags when it was merged; the caller sets them
 * otherwise), or NULL with *err = -ENOMEM when a split could not be made.
 */
struct vm_area *vma_modify(struct vma_merge *g, int *err) AS_INTERNAL;

/* Does v hold Linux's VM_SPECIAL flags that forbid merging and expanding? */
static inline bool vma_is_special(uint64_t flags)
{
	return flags & (VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP);
}

/* Validator; 0 or -EUCLEAN with a description in buf. */
int vma_tree_check(const struct vma_tree *t, char *buf, size_t len) AS_INTERNAL;

#endif
