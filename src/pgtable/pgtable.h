/*
 * pgtable — x86-64 four-level page tables in frames of the simulated machine.
 *
 * Owns: the table pages of one address space (PGD, PUD, PMD, PTE levels of
 * 512 entries each, every one a frame of kind PG_PGTABLE) and the encoding
 * of entries with the real hardware bits. It does not own the frames that
 * leaf entries point at: callers get a callback for every leaf they remove
 * or copy and do the reference counting and RSS accounting there.
 *
 * Vocabulary: level 4 = PGD (bits 47..39), 3 = PUD (38..30), 2 = PMD
 * (29..21), 1 = PTE (20..12). A "leaf" is a level-1 entry; a "live" entry is
 * any non-zero entry (present, or a non-present entry carrying software
 * state such as a swap entry later). Ranges are [start, end), page aligned,
 * below 2^47.
 *
 * Invariants (checked by pgtable_check):
 *  - the descriptor of every table page counts its live entries in mapcount;
 *  - a non-leaf entry is present, writable, user, and points at a table page
 *    of the next level; no huge (PS) entries exist (THP is off);
 *  - a table page other than the root with no live entry does not stay
 *    linked after an operation that was asked to free tables.
 *
 * Locking: the caller holds the space's page-table lock for anything that
 * changes entries, and the mmap lock in write mode for operations that free
 * table pages (zap with free_tables, destroy), so that no walker holds a
 * pointer into a freed table.
 */
#ifndef ASPACE_PGTABLE_H
#define ASPACE_PGTABLE_H

#include "../machine/machine.h"

typedef uint64_t pte_t;

#define PTE_P (1ull << 0)       /* present */
#define PTE_RW (1ull << 1)      /* writable */
#define PTE_US (1ull << 2)      /* user */
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_A (1ull << 5)       /* accessed */
#define PTE_D (1ull << 6)       /* dirty */
#define PTE_PS (1ull << 7)      /* huge page (never set by aspace) */
#define PTE_G (1ull << 8)       /* global */
#define PTE_SPECIAL (1ull << 9) /* software: no struct page refcounting (zero page) */
#define PTE_SOFT2 (1ull << 10)  /* software: free for later use */
/* A non-present leaf holding only this bit: a guard marker (MADV_GUARD_INSTALL). */
#define PTE_MARKER_GUARD PTE_SOFT2
#define PTE_SOFT3 (1ull << 11)  /* software: free for later use */
#define PTE_NX (1ull << 63)     /* no execute */
#define PTE_PFN_MASK 0x000ffffffffff000ull

#define PT_LEVELS 4
#define PT_ENTRIES 512
#define PT_USER_TOP (1ull << 47)

static inline pfn_t pte_pfn(pte_t e)
{
	return (pfn_t)((e & PTE_PFN_MASK) >> PAGE_SHIFT);
}

static inline pte_t pte_make(pfn_t pfn, pte_t bits)
{
	return ((pte_t)pfn << PAGE_SHIFT) | bits;
}

static inline bool pte_present(pte_t e)
{
	return e & PTE_P;
}

/* Index of `va` in the table of `level` (1..4). */
static inline unsigned pt_index(uint64_t va, int level)
{
	return (unsigned)(va >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

/* One space's tables. Legend: [I] immutable after init; [P] page-table lock. */
struct pgtable {
	struct as_machine *m; /* [I] */
	pfn_t root;           /* [I] the PGD frame */
	uint64_t nr_tables;   /* [P] table pages, the root included */
};

/* Allocate an empty PGD. 0 or -ENOMEM. */
int pgtable_init(struct pgtable *pt, struct as_machine *m) AS_INTERNAL AS_MUST_CHECK;

/* Free every table page; panics if a leaf is still live (zap first). */
void pgtable_destroy(struct pgtable *pt) AS_INTERNAL;

/* The leaf entry for `va`, or NULL when a level above it is missing. */
pte_t *pgtable_walk(struct pgtable *pt, uint64_t va) AS_INTERNAL;

/*
 * The leaf entry for `va`, allocating missing levels. All missing table
 * pages are allocated before any is linked, so on -ENOMEM the tables are as
 * they were (and *out is NULL). New levels are linked bottom-up, the top
 * link last, so that a walker without the page-table lock sees a complete
 * chain or none.
 */
int pgtable_walk_alloc(struct pgtable *pt, uint64_t va, pte_t **out) AS_INTERNAL AS_MUST_CHECK;

/*
 * Set a leaf entry through a pointer from pgtable_walk/_alloc and keep the
 * table's live count. Use these, never a plain store, for leaves.
 */
void pgtable_set(struct pgtable *pt, pte_t *ptep, pte_t val) AS_INTERNAL;

/* Clear a leaf (live count kept); returns the old value. */
pte_t pgtable_clear(struct pgtable *pt, pte_t *ptep) AS_INTERNAL;

/*
 * Visit every live leaf in [start, end) in address order. The callback may
 * change the entry through pgtable_set/pgtable_clear. Returns the first
 * non-zero value a callback returned (and stops), or 0.
 */
typedef int (*pgtable_visit_fn)(void *ctx, uint64_t va, pte_t *ptep);
int pgtable_for_each(struct pgtable *pt, uint64_t start, uint64_t end, pgtable_visit_fn fn,
		     void *ctx) AS_INTERNAL;

/*
 * Change the protection of present leaves in [start, end): new = (old &
 * ~clear) | set. Returns how many entries changed (the caller invalidates
 * TLBs when a right was removed).
 */
uint64_t pgtable_protect_range(struct pgtable *pt, uint64_t start, uint64_t end, pte_t clear,
			       pte_t set) AS_INTERNAL;

/*
 * Clear every live leaf in [start, end), calling `fn` with the old value of
 * each (the caller drops page references and RSS there), in address order;
 * fn runs after the entry is cleared and must not change this tree's
 * tables. With free_tables, table pages whose live count drops to zero are
 * freed (the root never), and so are empty tables met in the range.
 */
typedef void (*pgtable_zap_fn)(void *ctx, uint64_t va, pte_t old);
void pgtable_zap_range(struct pgtable *pt, uint64_t start, uint64_t end, bool free_tables,
		       pgtable_zap_fn fn, void *ctx) AS_INTERNAL;

/*
 * fork: for each live leaf of src in [start, end), ask `fn` for the entry
 * the child gets (fn may also rewrite the parent's entry, e.g. to
 * write-protect it for copy-on-write, and takes the page references);
 * a zero result leaves the child's entry empty. -ENOMEM when a child table
 * page can't be had: entries copied so far stay (the caller tears the child
 * down, as Linux's dup_mmap does). The child's PTE table is obtained before
 * fn runs for any entry under it, so fn runs exactly for the entries the
 * child gets, failure or not. As Linux's copy_page_range, the child gets a
 * table for every table src links over the range, even an empty one (an
 * allocated PTE table with no leaf left, a PMD table with no PTE table).
 */
typedef pte_t (*pgtable_copy_fn)(void *ctx, uint64_t va, pte_t *src_ptep);
int pgtable_copy_range(struct pgtable *dst, struct pgtable *src, uint64_t start, uint64_t end,
		       pgtable_copy_fn fn, void *ctx) AS_INTERNAL AS_MUST_CHECK;

/*
 * Validator; 0 or -EUCLEAN with a description in buf (may be NULL). Checks
 * the invariants above, that every table page is of kind PG_PGTABLE,
 * allocated, of the expected level and of this tree (table pages keep their
 * level in struct page.index and their tree in .owner), that the kernel half
 * of the PGD is empty, that no present leaf has bit 7 (PS/PAT) set, and that
 * nr_tables matches.
 */
int pgtable_check(struct pgtable *pt, char *buf, size_t len) AS_INTERNAL;

#endif
