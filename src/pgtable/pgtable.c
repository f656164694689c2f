/*
 * pgtable — x86-64 four-level page tables in frames of the simulated machine.
 * See pgtable.h for the contract.
 *
 * Table pages. Every table is one order-0 frame of kind PG_PGTABLE, zeroed
 * when allocated. Its struct page is ours while it is a table:
 *   mapcount  live (non-zero) entries of the table, kept by every store here;
 *   index     the table's level (4 = PGD ... 1 = PTE);
 *   owner     tree_tag(): the root frame of the tree it belongs to, plus one,
 *             so that the validator catches a table linked into two spaces.
 * index and owner are reset to zero before the frame goes back.
 *
 * Range operations share one descent (walk_range): it visits the live
 * entries of a table that overlap [start, end), stepping by the span an
 * entry covers at that level, skips subtrees whose table has no live entry,
 * stops scanning a table once every live entry of it has been seen, and hands
 * each PTE table with the sub-range it covers to the operation's pte_range
 * function, which iterates the 512 entries directly. So a zap of 0..2^47 over
 * a nearly empty space touches a handful of entries, and a dense range costs
 * one descent per 2 MiB.
 *
 * Lockless walkers: non-leaf entries are read with acquire and published with
 * release, and pgtable_walk_alloc links a new chain bottom-up with the top
 * link last, so a walker that does not hold the page-table lock sees either
 * no chain or a complete, zeroed one. (Frees need the mmap lock in write
 * mode, see pgtable.h, so no walker can hold a pointer into a freed table.)
 */
#include "pgtable.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

/* The bits of every non-leaf entry (the accessed bit may be added by the CPU). */
#define PTE_TABLE (PTE_P | PTE_RW | PTE_US)

#ifndef container_of
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif

/* ---- Entries and table pages ---- */

static inline pte_t *table_of(const struct as_machine *m, pfn_t pfn)
{
	return (pte_t *)frame_to_host(m, pfn);
}

/* Bytes covered by one entry of a table of `level`. */
static inline uint64_t level_span(int level)
{
	return 1ull << (PAGE_SHIFT + 9 * (level - 1));
}

/* End of the entry of `level` holding `va`, clipped to `end`. */
static inline uint64_t entry_end(uint64_t va, int level, uint64_t end)
{
	uint64_t next = (va | (level_span(level) - 1)) + 1;

	return next < end ? next : end;
}

static inline pte_t load_table_entry(const pte_t *ep)
{
	return __atomic_load_n(ep, __ATOMIC_ACQUIRE);
}

static inline void store_table_entry(pte_t *ep, pte_t val)
{
	__atomic_store_n(ep, val, __ATOMIC_RELEASE);
}

static inline pte_t load_leaf(const pte_t *ep)
{
	return __atomic_load_n(ep, __ATOMIC_RELAXED);
}

/*
 * Leaves are published with release order: a walker that reads the entry
 * without the page-table lock (acquire) sees the page's contents as they
 * were when it was mapped (zeroed or copied).
 */
static inline void store_leaf(pte_t *ep, pte_t val)
{
	__atomic_store_n(ep, val, __ATOMIC_RELEASE);
}

static inline int32_t live_count(const struct as_machine *m, pfn_t table)
{
	return atomic_load_explicit(&frame_page(m, table)->mapcount, memory_order_relaxed);
}

static inline void live_add(const struct as_machine *m, pfn_t table, int32_t delta)
{
	atomic_fetch_add_explicit(&frame_page(m, table)->mapcount, delta, memory_order_relaxed);
}

static inline uintptr_t tree_tag(const struct pgtable *pt)
{
	return (uintptr_t)pt->root + 1;
}

static inline void va_check(uint64_t va)
{
	ENV_BUG_ON(va >= PT_USER_TOP);
}

static inline void range_check(uint64_t start, uint64_t end)
{
	ENV_BUG_ON(start > end || end > PT_USER_TOP);
	ENV_BUG_ON((start | end) & (PAGE_SIZE - 1));
}

/* A zeroed table page for `level` with no live entry; PFN_NONE when out of frames. */
static pfn_t table_alloc(struct pgtable *pt, int level)
{
	pfn_t pfn = frame_alloc(pt->m, 0, FA_PGTABLE | FA_ZERO);
	struct page *pg;

	if (pfn == PFN_NONE)
		return PFN_NONE;
	pg = frame_page(pt->m, pfn);
	atomic_store_explicit(&pg->mapcount, 0, memory_order_relaxed);
	pg->index = (uint32_t)level;
	pg->owner = tree_tag(pt);
	return pfn;
}

/* Give back a table page that is no longer linked (its entries are ignored). */
static void table_free(struct pgtable *pt, pfn_t pfn)
{
	struct page *pg = frame_page(pt->m, pfn);

	atomic_store_explicit(&pg->mapcount, 0, memory_order_relaxed);
	pg->index = 0;
	pg->owner = 0;
	frame_free(pt->m, pfn, 0);
}

/* In debug builds, run the validator and panic on a broken tree. */
static void debug_validate(struct pgtable *pt)
{
	if (ENV_DEBUG) {
		char msg[256];

		if (pgtable_check(pt, msg, sizeof(msg)) != 0)
			ENV_PANIC("pgtable: %s", msg);
	}
}

/* ---- Init, destroy, single entries ---- */

int pgtable_init(struct pgtable *pt, struct as_machine *m)
{
	pfn_t root;

	pt->m = m;
	pt->nr_tables = 0;
	pt->root = PFN_NONE;
	root = frame_alloc(m, 0, FA_PGTABLE | FA_ZERO);
	if (root == PFN_NONE)
		return -ENOMEM;
	pt->root = root;
	atomic_store_explicit(&frame_page(m, root)->mapcount, 0, memory_order_relaxed);
	frame_page(m, root)->index = PT_LEVELS;
	frame_page(m, root)->owner = tree_tag(pt);
	pt->nr_tables = 1;
	return 0;
}

/*
 * Free the tables below the entries of `table` (of `level` > 1), unlinking
 * each before freeing it so that the tree stays consistent if a live leaf
 * makes us panic halfway.
 */
static void destroy_below(struct pgtable *pt, pfn_t table, int level, uint64_t base)
{
	struct as_machine *m = pt->m;
	pte_t *t = table_of(m, table);

	for (unsigned i = 0; i < PT_ENTRIES && live_count(m, table) > 0; i++) {
		pte_t e = t[i];
		uint64_t va = base + (uint64_t)i * level_span(level);
		pfn_t child;

		if (!e)
			continue;
		child = pte_pfn(e);
		if (level > 2) {
			destroy_below(pt, child, level - 1, va);
			if (live_count(m, child) != 0)
				ENV_PANIC("pgtable_destroy: level-%d table of %#llx counts %d entries after emptying",
					  level - 1, (unsigned long long)va, live_count(m, child));
		} else if (live_count(m, child) != 0) {
			ENV_PANIC("pgtable_destroy: %d live leaves in the PTE table of %#llx",
				  live_count(m, child), (unsigned long long)va);
		} else if (ENV_DEBUG) {
			const pte_t *ct = table_of(m, child);

			for (unsigned j = 0; j < PT_ENTRIES; j++)
				if (ct[j])
					ENV_PANIC("pgtable_destroy: live leaf %#llx at %#llx (count says none)",
						  (unsigned long long)ct[j],
						  (unsigned long long)(va + ((uint64_t)j << PAGE_SHIFT)));
		}
		store_table_entry(&t[i], 0);
		live_add(m, table, -1);
		table_free(pt, child);
		pt->nr_tables--;
	}
}

void pgtable_destroy(struct pgtable *pt)
{
	if (pt->root == PFN_NONE)
		return;
	destroy_below(pt, pt->root, PT_LEVELS, 0);
	ENV_BUG_ON(live_count(pt->m, pt->root) != 0);
	ENV_BUG_ON(pt->nr_tables != 1);
	table_free(pt, pt->root);
	pt->root = PFN_NONE;
	pt->nr_tables = 0;
}

pte_t *pgtable_walk(struct pgtable *pt, uint64_t va)
{
	const struct as_machine *m = pt->m;
	pte_t *t = table_of(m, pt->root);
	pte_t e;

	va_check(va);
	e = load_table_entry(&t[pt_index(va, 4)]);
	if (!e)
		return NULL;
	t = table_of(m, pte_pfn(e));
	e = load_table_entry(&t[pt_index(va, 3)]);
	if (!e)
		return NULL;
	t = table_of(m, pte_pfn(e));
	e = load_table_entry(&t[pt_index(va, 2)]);
	if (!e)
		return NULL;
	return &table_of(m, pte_pfn(e))[pt_index(va, 1)];
}

/*
 * The table of level `stop` covering va, allocating the missing tables on
 * the way (prepare, then commit). 0 with *out set, or -ENOMEM with nothing
 * changed.
 */
static int table_alloc_chain(struct pgtable *pt, uint64_t va, int stop, pte_t **out)
{
	struct as_machine *m = pt->m;
	pfn_t parent = pt->root;
	pfn_t fresh[PT_LEVELS - 1]; /* fresh[i] is the new table of level `level - 1 - i` */
	pte_t *t = table_of(m, parent);
	pte_t *ep = NULL;
	int level, n;

	*out = NULL;
	for (level = PT_LEVELS; level > stop; level--) {
		pte_t e;

		ep = &t[pt_index(va, level)];
		e = load_table_entry(ep);
		if (!e)
			break;
		parent = pte_pfn(e);
		t = table_of(m, parent);
	}
	if (AS_LIKELY(level == stop)) {
		*out = t;
		return 0;
	}

	/* Prepare: the tables of levels level-1 .. stop are missing. */
	n = level - stop;
	for (int i = 0; i < n; i++) {
		fresh[i] = table_alloc(pt, level - 1 - i);
		if (fresh[i] == PFN_NONE) {
			while (i-- > 0)
				table_free(pt, fresh[i]);
			return -ENOMEM;
		}
	}

	/* Commit, nothing fails from here: link the private chain bottom-up, then publish it. */
	for (int i = n - 1; i > 0; i--) {
		int plevel = level - i; /* level of fresh[i - 1] */

		store_table_entry(&table_of(m, fresh[i - 1])[pt_index(va, plevel)],
				  pte_make(fresh[i], PTE_TABLE));
		live_add(m, fresh[i - 1], 1);
	}
	store_table_entry(ep, pte_make(fresh[0], PTE_TABLE));
	live_add(m, parent, 1);
	pt->nr_tables += (uint64_t)n;
	*out = table_of(m, fresh[n - 1]);
	return 0;
}

int pgtable_walk_alloc(struct pgtable *pt, uint64_t va, pte_t **out)
{
	pte_t *t;
	int rc;

	va_check(va);
	rc = table_alloc_chain(pt, va, 1, &t);
	*out = rc ? NULL : &t[pt_index(va, 1)];
	return rc;
}

/* The PTE table page holding the leaf `ptep`. */
static inline pfn_t leaf_table(const struct pgtable *pt, const pte_t *ptep)
{
	pfn_t table = host_to_frame(pt->m, ptep);

	ENV_DEBUG_BUG_ON(table >= pt->m->nframes);
	ENV_DEBUG_BUG_ON(!(frame_page(pt->m, table)->flags & PG_PGTABLE));
	ENV_DEBUG_BUG_ON(frame_page(pt->m, table)->index != 1);
	ENV_DEBUG_BUG_ON(frame_page(pt->m, table)->owner != tree_tag(pt));
	return table;
}

void pgtable_set(struct pgtable *pt, pte_t *ptep, pte_t val)
{
	pfn_t table = leaf_table(pt, ptep);
	pte_t old = load_leaf(ptep);

	store_leaf(ptep, val);
	if (!old && val)
		live_add(pt->m, table, 1);
	else if (old && !val)
		live_add(pt->m, table, -1);
}

pte_t pgtable_clear(struct pgtable *pt, pte_t *ptep)
{
	pfn_t table = leaf_table(pt, ptep);
	pte_t old = load_leaf(ptep);

	if (old) {
		store_leaf(ptep, 0);
		live_add(pt->m, table, -1);
	}
	return old;
}

/* ---- The shared range descent ---- */

/*
 * One range operation. pte_range handles the part [start, end) of a PTE
 * table (both inside one 2 MiB span) and returns non-zero to stop the
 * descent, which walk_range then returns. With free_empty, every child table
 * found with no live entry, before or after the descent into it, is unlinked
 * and freed.
 */
struct walk {
	struct pgtable *pt;
	int (*pte_range)(struct walk *w, pfn_t table, uint64_t start, uint64_t end);
	/* Optional: called for every linked child table (of `level`, covering va), empty or not, before the descent. */
	int (*table)(struct walk *w, int level, uint64_t va);
	bool free_empty;
};

static int walk_range(struct walk *w, pfn_t table, int level, uint64_t start, uint64_t end)
{
	struct as_machine *m = w->pt->m;
	pte_t *t = table_of(m, table);
	int32_t live = live_count(m, table), seen = 0, unlinked = 0;
	uint64_t va, next;
	int rc = 0;

	for (va = start; va < end && seen < live; va = next) {
		pte_t *ep = &t[pt_index(va, level)];
		pte_t e = load_table_entry(ep);
		pfn_t child;

		next = entry_end(va, level, end);
		if (!e)
			continue;
		seen++;
		child = pte_pfn(e);
		if (w->table)
			rc = w->table(w, level - 1, va);
		if (!rc && live_count(m, child) > 0)
			rc = level == 2 ? w->pte_range(w, child, va, next)
					: walk_range(w, child, level - 1, va, next);
		if (w->free_empty && live_count(m, child) == 0) {
			store_table_entry(ep, 0);
			unlinked++;
			table_free(w->pt, child);
			w->pt->nr_tables--;
		}
		if (rc)
			break;
	}
	if (unlinked)
		live_add(m, table, -unlinked);
	return rc;
}

static int walk_top(struct walk *w, uint64_t start, uint64_t end)
{
	range_check(start, end);
	if (start == end)
		return 0;
	return walk_range(w, w->pt->root, PT_LEVELS, start, end);
}

/* ---- for_each ---- */

struct visit {
	struct walk w;
	pgtable_visit_fn fn;
	void *ctx;
};

static int visit_ptes(struct walk *w, pfn_t table, uint64_t start, uint64_t end)
{
	struct visit *v = container_of(w, struct visit, w);
	pte_t *t = table_of(w->pt->m, table);
	int32_t live = live_count(w->pt->m, table), seen = 0;
	unsigned i = pt_index(start, 1), last = pt_index(end - 1, 1);
	uint64_t va = start;

	/* `live` is a snapshot: the callback may clear the entry it is given. */
	for (; i <= last && seen < live; i++, va += PAGE_SIZE) {
		int rc;

		if (!load_leaf(&t[i]))
			continue;
		seen++;
		rc = v->fn(v->ctx, va, &t[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int pgtable_for_each(struct pgtable *pt, uint64_t start, uint64_t end, pgtable_visit_fn fn, void *ctx)
{
	struct visit v = { .w = { .pt = pt, .pte_range = visit_ptes }, .fn = fn, .ctx = ctx };

	return walk_top(&v.w, start, end);
}

/* ---- protect ---- */

struct protect {
	struct walk w;
	pte_t clear, set;
	uint64_t changed;
};

static int protect_ptes(struct walk *w, pfn_t table, uint64_t start, uint64_t end)
{
	struct protect *p = container_of(w, struct protect, w);
	pte_t *t = table_of(w->pt->m, table);
	int32_t live = live_count(w->pt->m, table), seen = 0, died = 0;
	unsigned i = pt_index(start, 1), last = pt_index(end - 1, 1);

	for (; i <= last && seen < live; i++) {
		pte_t old = load_leaf(&t[i]), val;

		if (!old)
			continue;
		seen++;
		if (!pte_present(old))
			continue;
		val = (old & ~p->clear) | p->set;
		if (val == old)
			continue;
		store_leaf(&t[i], val);
		p->changed++;
		died += !val;
	}
	if (died)
		live_add(w->pt->m, table, -died);
	return 0;
}

uint64_t pgtable_protect_range(struct pgtable *pt, uint64_t start, uint64_t end, pte_t clear, pte_t set)
{
	struct protect p = { .w = { .pt = pt, .pte_range = protect_ptes }, .clear = clear, .set = set };

	(void)walk_top(&p.w, start, end);
	if (ENV_DEBUG && p.changed)
		debug_validate(pt);
	return p.changed;
}

/* ---- zap ---- */

struct zap {
	struct walk w;
	pgtable_zap_fn fn;
	void *ctx;
};

static int zap_ptes(struct walk *w, pfn_t table, uint64_t start, uint64_t end)
{
	struct zap *z = container_of(w, struct zap, w);
	pte_t *t = table_of(w->pt->m, table);
	int32_t live = live_count(w->pt->m, table), cleared = 0;
	unsigned i = pt_index(start, 1), last = pt_index(end - 1, 1);
	uint64_t va = start;

	for (; i <= last && cleared < live; i++, va += PAGE_SIZE) {
		pte_t old = load_leaf(&t[i]);

		if (!old)
			continue;
		store_leaf(&t[i], 0);
		cleared++;
		z->fn(z->ctx, va, old);
	}
	if (cleared)
		live_add(w->pt->m, table, -cleared);
	return 0;
}

void pgtable_zap_range(struct pgtable *pt, uint64_t start, uint64_t end, bool free_tables,
		       pgtable_zap_fn fn, void *ctx)
{
	struct zap z = {
		.w = { .pt = pt, .pte_range = zap_ptes, .free_empty = free_tables },
		.fn = fn,
		.ctx = ctx,
	};

	(void)walk_top(&z.w, start, end);
	if (ENV_DEBUG)
		debug_validate(pt);
}

/* ---- copy (fork) ---- */

struct copy {
	struct walk w; /* over the source */
	struct pgtable *dst;
	pgtable_copy_fn fn;
	void *ctx;
};

/*
 * Linux's copy_*_range allocate the child's table for every table the parent
 * links over the range, empty or not: have the destination's table of
 * `level` covering va.
 */
static int copy_table(struct walk *w, int level, uint64_t va)
{
	struct copy *c = container_of(w, struct copy, w);
	pte_t *t;

	return table_alloc_chain(c->dst, va, level, &t);
}

/*
 * Copy the live leaves of one source PTE table. The child's PTE table was
 * had by copy_table before (even for an empty source table), so that fn
 * (which takes page references and may write-protect the parent) only runs
 * for entries that will be installed.
 */
static int copy_ptes(struct walk *w, pfn_t table, uint64_t start, uint64_t end)
{
	struct copy *c = container_of(w, struct copy, w);
	struct as_machine *m = w->pt->m;
	pte_t *st = table_of(m, table), *dt;
	int32_t live = live_count(m, table), seen = 0, added = 0;
	unsigned i = pt_index(start, 1), last = pt_index(end - 1, 1);
	uint64_t va = start;
	pfn_t dtable;
	int rc = table_alloc_chain(c->dst, start, 1, &dt);

	if (rc)
		return rc;
	dtable = host_to_frame(m, dt);
	for (; i <= last && seen < live; i++, va += PAGE_SIZE) {
		pte_t val, old;

		if (!load_leaf(&st[i]))
			continue;
		seen++;
		val = c->fn(c->ctx, va, &st[i]);
		if (!val)
			continue;
		old = load_leaf(&dt[i]);
		store_leaf(&dt[i], val);
		added += !old;
	}
	if (added)
		live_add(m, dtable, added);
	return 0;
}

int pgtable_copy_range(struct pgtable *dst, struct pgtable *src, uint64_t start, uint64_t end,
		       pgtable_copy_fn fn, void *ctx)
{
	struct copy c = {
		.w = { .pt = src, .pte_range = copy_ptes, .table = copy_table }, .dst = dst, .fn = fn, .ctx = ctx
	};
	int rc;

	ENV_BUG_ON(dst == src || dst->m != src->m);
	rc = walk_top(&c.w, start, end);
	if (ENV_DEBUG) {
		debug_validate(src);
		debug_validate(dst);
	}
	return rc;
}

/* ---- Validator ---- */

struct check {
	struct pgtable *pt;
	char *buf;
	size_t len;
	uint64_t tables;
};

__attribute__((format(printf, 2, 3))) static int check_fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->buf && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->buf, c->len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

/* Is `pfn` a table page of this tree at `level`? A reason when not, else NULL. */
static const char *bad_table(struct check *c, pfn_t pfn, int level)
{
	const struct as_machine *m = c->pt->m;
	const struct page *pg;

	if ((uint64_t)pfn >= m->nframes)
		return "outside the frame pool";
	pg = frame_page(m, pfn);
	if ((pg->flags & PG_KIND_MASK) != PG_PGTABLE || (pg->flags & (PG_BUDDY | PG_TCACHE)))
		return "not a page-table frame";
	if (atomic_load_explicit(&pg->refcount, memory_order_relaxed) <= 0)
		return "a free frame";
	if (pg->owner != tree_tag(c->pt))
		return "a table of another tree";
	if (pg->index != (uint32_t)level)
		return "a table of another level";
	return NULL;
}

static int check_table(struct check *c, pfn_t table, int level, uint64_t base)
{
	const struct as_machine *m = c->pt->m;
	const pte_t *t = table_of(m, table);
	int32_t live = 0;

	c->tables++;
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		pte_t e = load_table_entry(&t[i]);
		uint64_t va = base + (uint64_t)i * level_span(level);
		const char *why;
		int rc;

		if (!e)
			continue;
		live++;
		if (level == PT_LEVELS && i >= PT_ENTRIES / 2)
			return check_fail(c, "PGD entry %u (%#llx) is above the user half", i,
					  (unsigned long long)e);
		if (level == 1) {
			if (pte_present(e) && (e & PTE_PS))
				return check_fail(c, "leaf at %#llx: PAT/PS bit set (%#llx)",
						  (unsigned long long)va, (unsigned long long)e);
			continue;
		}
		if ((e & ~(PTE_PFN_MASK | PTE_A)) != PTE_TABLE)
			return check_fail(c, "level-%d entry for %#llx is malformed: %#llx (want P|RW|US|pfn%s)",
					  level, (unsigned long long)va, (unsigned long long)e,
					  (e & PTE_PS) ? ", huge entries are not used" : "");
		why = bad_table(c, pte_pfn(e), level - 1);
		if (why)
			return check_fail(c, "level-%d entry for %#llx points at frame %#x: %s", level,
					  (unsigned long long)va, (unsigned)pte_pfn(e), why);
		rc = check_table(c, pte_pfn(e), level - 1, va);
		if (rc)
			return rc;
	}
	if (live != live_count(m, table))
		return check_fail(c, "level-%d table %#x for %#llx has %d live entries, count says %d",
				  level, (unsigned)table, (unsigned long long)base, live,
				  live_count(m, table));
	return 0;
}

int pgtable_check(struct pgtable *pt, char *buf, size_t len)
{
	struct check c = { .pt = pt, .buf = buf, .len = len };
	const char *why;
	int rc;

	if (pt->root == PFN_NONE)
		return check_fail(&c, "no root table");
	why = bad_table(&c, pt->root, PT_LEVELS);
	if (why)
		return check_fail(&c, "root frame %#x is %s", (unsigned)pt->root, why);
	rc = check_table(&c, pt->root, PT_LEVELS, 0);
	if (rc)
		return rc;
	if (c.tables != pt->nr_tables)
		return check_fail(&c, "%llu tables linked, nr_tables says %llu",
				  (unsigned long long)c.tables, (unsigned long long)pt->nr_tables);
	if (buf && len)
		buf[0] = '\0';
	return 0;
}
