/*
 * Unit tests of src/pgtable: walks, live counts, range operations across
 * table boundaries, table freeing, fork-style copies, failure injection and
 * the validator. Every test ends with the machine clean.
 */
#include "testlib.h"

#include "machine/machine.h"
#include "pgtable/pgtable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define TOP PT_USER_TOP
#define USER_RW (PTE_P | PTE_RW | PTE_US)

/* A leaf pointing at a made-up frame: the tables never look at leaf frames. */
static pte_t fake_leaf(uint64_t n)
{
	return pte_make((pfn_t)(n & 0xfffff), USER_RW);
}

static void assert_pt_ok(struct pgtable *pt)
{
	char msg[256];

	if (pgtable_check(pt, msg, sizeof(msg)) != 0)
		fail_msg("pgtable_check: %s", msg);
}

static uint64_t pgtable_frames(struct as_machine *m)
{
	struct as_machine_stats st;

	as_machine_get_stats(m, &st);
	return st.pgtable_frames;
}

static uint64_t free_frames(struct as_machine *m)
{
	struct as_machine_stats st;

	as_machine_get_stats(m, &st);
	return st.free_frames;
}

/* The live count kept for the table holding entry `ep`. */
static int32_t live_of(struct as_machine *m, const pte_t *ep)
{
	return atomic_load(&frame_page(m, host_to_frame(m, ep))->mapcount);
}

/* The entry of `level` (4..1) for `va`, or NULL when a level above is missing. */
static pte_t *raw_entry(struct pgtable *pt, uint64_t va, int level)
{
	pte_t *t = frame_to_host(pt->m, pt->root);

	for (int l = PT_LEVELS; l > level; l--) {
		pte_t e = t[pt_index(va, l)];

		if (!e)
			return NULL;
		t = frame_to_host(pt->m, pte_pfn(e));
	}
	return &t[pt_index(va, level)];
}

static pte_t *must_walk_alloc(struct pgtable *pt, uint64_t va)
{
	pte_t *p = NULL;

	assert_int_equal(pgtable_walk_alloc(pt, va, &p), 0);
	assert_non_null(p);
	return p;
}

static void map_fake(struct pgtable *pt, uint64_t va, pte_t val)
{
	pgtable_set(pt, must_walk_alloc(pt, va), val);
}

/* Zap callback recording what it sees. */
struct zap_log {
	uint64_t n;
	uint64_t va[64];
	pte_t old[64];
	uint64_t last_va;
	bool ordered;
};

static void log_zap(void *ctx, uint64_t va, pte_t old)
{
	struct zap_log *z = ctx;

	if (z->n && va <= z->last_va)
		z->ordered = false;
	if (z->n < AS_ARRAY_SIZE(z->va)) {
		z->va[z->n] = va;
		z->old[z->n] = old;
	}
	z->last_va = va;
	z->n++;
}

static void zap_log_init(struct zap_log *z)
{
	memset(z, 0, sizeof(*z));
	z->ordered = true;
}

static void ignore_zap(void *ctx, uint64_t va, pte_t old)
{
	(void)ctx;
	(void)va;
	(void)old;
}

/* Zap callback for leaves backed by real frames. */
static void put_zap(void *ctx, uint64_t va, pte_t old)
{
	struct as_machine *m = ctx;

	(void)va;
	if (pte_present(old))
		frame_put(m, pte_pfn(old));
}

static void teardown(struct pgtable *pt)
{
	pgtable_zap_range(pt, 0, TOP, true, ignore_zap, NULL);
	assert_int_equal(pt->nr_tables, 1);
	pgtable_destroy(pt);
}

static void finish(struct as_machine *m)
{
	assert_int_equal(pgtable_frames(m), 0);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* ---- Panics ---- */

static jmp_buf panic_jmp;
static char panic_msg[512];

static void panic_to_test(const char *msg)
{
	snprintf(panic_msg, sizeof(panic_msg), "%s", msg);
	longjmp(panic_jmp, 1);
}

/* ---- Walks ---- */

static void test_walk_empty(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	assert_int_equal(pt.nr_tables, 1);
	assert_int_equal(pgtable_frames(m), 1);
	assert_null(pgtable_walk(&pt, 0));
	assert_null(pgtable_walk(&pt, 0x400000));
	assert_null(pgtable_walk(&pt, 1ull << 39));
	assert_null(pgtable_walk(&pt, TOP - PAGE_SIZE));
	assert_pt_ok(&pt);
	pgtable_destroy(&pt);
	finish(m);
}

static void test_walk_alloc_counts(void **state)
{
	static const struct {
		uint64_t va;
		unsigned added;
	} steps[] = {
		{ 0x400000, 3 },                 /* first address: PUD, PMD, PTE */
		{ 0x401000, 0 },                 /* same PTE table */
		{ 0x5ff000, 0 },                 /* last page of that PTE table */
		{ 0x600000, 1 },                 /* across 2 MiB: a PTE table */
		{ 0, 1 },                        /* below, another PTE table */
		{ GiB - PAGE_SIZE, 1 },          /* same PMD, last PTE table of the first GiB */
		{ GiB, 2 },                      /* across 1 GiB: PMD + PTE */
		{ 512 * GiB - PAGE_SIZE, 2 },    /* last GiB under the first PGD entry */
		{ 512 * GiB, 3 },                /* across 512 GiB: PUD + PMD + PTE */
		{ TOP - PAGE_SIZE, 3 },          /* the very top */
		{ TOP - 2 * PAGE_SIZE, 0 },
	};
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;
	pte_t *first = NULL;

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	for (size_t i = 0; i < AS_ARRAY_SIZE(steps); i++) {
		uint64_t before = pt.nr_tables, allocs = as_machine_alloc_count(m);
		pte_t *p = must_walk_alloc(&pt, steps[i].va), *again = NULL;

		assert_int_equal(pt.nr_tables, before + steps[i].added);
		assert_int_equal(as_machine_alloc_count(m) - allocs, steps[i].added);
		assert_int_equal(pgtable_frames(m), pt.nr_tables);
		assert_ptr_equal(pgtable_walk(&pt, steps[i].va), p);
		/* A second walk_alloc is a hit: same entry, no allocation. */
		allocs = as_machine_alloc_count(m);
		assert_int_equal(pgtable_walk_alloc(&pt, steps[i].va, &again), 0);
		assert_ptr_equal(again, p);
		assert_int_equal(as_machine_alloc_count(m), allocs);
		assert_int_equal(*p, 0);
		if (i == 0)
			first = p;
		assert_pt_ok(&pt);
	}
	assert_int_equal(pt.nr_tables, 1 + 3 + 1 + 1 + 1 + 2 + 2 + 3 + 3);
	assert_ptr_equal(pgtable_walk(&pt, 0x401000), first + 1);
	assert_ptr_equal(pgtable_walk(&pt, 0x5ff000), first + 511);
	/* Fresh tables hold no live entry; their parents count them. */
	assert_int_equal(live_of(m, first), 0);
	assert_int_equal(live_of(m, raw_entry(&pt, 0x400000, 2)), 4); /* PTE tables in GiB 0 */
	assert_int_equal(live_of(m, raw_entry(&pt, 0x400000, 3)), 3); /* PMDs: GiB 0, 1, 511 */
	assert_int_equal(live_of(m, raw_entry(&pt, 0x400000, 4)), 3); /* PUDs: 0, 1, 255 */
	/* Non-leaf entries carry P|RW|US and nothing else. */
	assert_int_equal(*raw_entry(&pt, 0x400000, 4) & ~PTE_PFN_MASK, USER_RW);
	/* Walks below an unmapped level still fail. */
	assert_null(pgtable_walk(&pt, 2 * GiB));
	assert_null(pgtable_walk(&pt, 1024 * GiB));
	pgtable_destroy(&pt);
	finish(m);
}

static void test_walk_rejects_high_address(void **state)
{
	struct as_machine *m = t_machine_new(64);
	as_panic_hook old = as_set_panic_hook(panic_to_test);
	static struct pgtable pt; /* static: it must survive the longjmp intact */
	pte_t *p = NULL;

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	if (setjmp(panic_jmp) == 0) {
		(void)pgtable_walk(&pt, TOP);
		fail_msg("walk of 2^47 did not panic");
	}
	if (setjmp(panic_jmp) == 0) {
		(void)!pgtable_walk_alloc(&pt, TOP + 0x1000, &p);
		fail_msg("walk_alloc above 2^47 did not panic");
	}
	if (setjmp(panic_jmp) == 0) {
		pgtable_zap_range(&pt, 0x1000, 0x1800, true, ignore_zap, NULL);
		fail_msg("unaligned zap did not panic");
	}
	if (setjmp(panic_jmp) == 0) {
		pgtable_zap_range(&pt, 0, TOP + PAGE_SIZE, true, ignore_zap, NULL);
		fail_msg("zap beyond 2^47 did not panic");
	}
	as_set_panic_hook(old);
	assert_int_equal(pt.nr_tables, 1);
	assert_pt_ok(&pt);
	pgtable_destroy(&pt);
	finish(m);
}

/* ---- Single entries ---- */

static void test_set_clear_counts(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;
	pte_t *p, swap = pte_make(0x1234, PTE_SOFT2); /* live but not present */

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	p = must_walk_alloc(&pt, 0x400000);
	assert_int_equal(live_of(m, p), 0);
	pgtable_set(&pt, p, fake_leaf(1));
	assert_int_equal(live_of(m, p), 1);
	pgtable_set(&pt, p + 1, fake_leaf(2));
	assert_int_equal(live_of(m, p), 2);
	pgtable_set(&pt, p, fake_leaf(3)); /* live -> live */
	assert_int_equal(live_of(m, p), 2);
	assert_int_equal(*p, fake_leaf(3));
	pgtable_set(&pt, p + 2, swap);
	assert_int_equal(live_of(m, p), 3);
	assert_pt_ok(&pt);

	assert_int_equal(pgtable_clear(&pt, p), fake_leaf(3));
	assert_int_equal(*p, 0);
	assert_int_equal(live_of(m, p), 2);
	assert_int_equal(pgtable_clear(&pt, p), 0); /* already empty */
	assert_int_equal(live_of(m, p), 2);
	pgtable_set(&pt, p + 1, 0); /* set to zero counts as a clear */
	assert_int_equal(live_of(m, p), 1);
	pgtable_set(&pt, p + 3, 0); /* zero -> zero */
	assert_int_equal(live_of(m, p), 1);
	assert_pt_ok(&pt);
	assert_int_equal(pgtable_clear(&pt, p + 2), swap);
	assert_int_equal(live_of(m, p), 0);
	assert_pt_ok(&pt);
	/* An emptied table stays until a zap with free_tables. */
	assert_int_equal(pt.nr_tables, 4);
	pgtable_zap_range(&pt, 0x400000, 0x401000, true, ignore_zap, NULL);
	assert_int_equal(pt.nr_tables, 1);
	assert_null(pgtable_walk(&pt, 0x400000));
	pgtable_destroy(&pt);
	finish(m);
}

/* ---- for_each ---- */

struct visit_log {
	uint64_t n, stop_at;
	uint64_t va[64];
	pte_t val[64];
	bool clear;
	struct pgtable *pt;
};

static int log_visit(void *ctx, uint64_t va, pte_t *ptep)
{
	struct visit_log *v = ctx;

	if (v->n < AS_ARRAY_SIZE(v->va)) {
		v->va[v->n] = va;
		v->val[v->n] = *ptep;
	}
	v->n++;
	if (v->clear)
		(void)pgtable_clear(v->pt, ptep);
	return v->stop_at && v->n == v->stop_at ? 42 : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_for_each_order(void **state)
{
	static const uint64_t vas[] = {
		TOP - PAGE_SIZE, 0x1000,           0x200000,           0x1ff000,
		GiB,             GiB - PAGE_SIZE,  512 * GiB,          512 * GiB - PAGE_SIZE,
		512 * GiB + 0x5000, 0x123456000,   0,                  0x7f0000000000,
	};
	enum { N = AS_ARRAY_SIZE(vas) };
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;
	struct visit_log v;
	uint64_t sorted[N];

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	for (size_t i = 0; i < N; i++)
		map_fake(&pt, vas[i], fake_leaf(vas[i] >> PAGE_SHIFT) | PTE_A);
	memcpy(sorted, vas, sizeof(sorted));
	qsort(sorted, N, sizeof(sorted[0]), cmp_u64);

	memset(&v, 0, sizeof(v));
	assert_int_equal(pgtable_for_each(&pt, 0, TOP, log_visit, &v), 0);
	assert_int_equal(v.n, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(v.va[i], sorted[i]);
		assert_int_equal(v.val[i], fake_leaf(sorted[i] >> PAGE_SHIFT) | PTE_A);
	}

	/* Early stop: the third callback's result comes back. */
	memset(&v, 0, sizeof(v));
	v.stop_at = 3;
	assert_int_equal(pgtable_for_each(&pt, 0, TOP, log_visit, &v), 42);
	assert_int_equal(v.n, 3);
	assert_int_equal(v.va[2], sorted[2]);

	/* A sub-range crossing table boundaries. */
	memset(&v, 0, sizeof(v));
	assert_int_equal(pgtable_for_each(&pt, 0x1ff000, GiB + PAGE_SIZE, log_visit, &v), 0);
	assert_int_equal(v.n, 4);
	assert_int_equal(v.va[0], 0x1ff000);
	assert_int_equal(v.va[1], 0x200000);
	assert_int_equal(v.va[2], GiB - PAGE_SIZE);
	assert_int_equal(v.va[3], GiB);

	/* Empty and entry-free ranges. */
	memset(&v, 0, sizeof(v));
	assert_int_equal(pgtable_for_each(&pt, 0x2000, 0x2000, log_visit, &v), 0);
	assert_int_equal(pgtable_for_each(&pt, 0x2000, 0x1ff000, log_visit, &v), 0);
	assert_int_equal(pgtable_for_each(&pt, 8 * GiB, 511 * GiB, log_visit, &v), 0);
	assert_int_equal(v.n, 0);

	/* The callback may clear the entry it is given. */
	memset(&v, 0, sizeof(v));
	v.clear = true;
	v.pt = &pt;
	assert_int_equal(pgtable_for_each(&pt, 0, TOP, log_visit, &v), 0);
	assert_int_equal(v.n, N);
	assert_pt_ok(&pt);
	memset(&v, 0, sizeof(v));
	assert_int_equal(pgtable_for_each(&pt, 0, TOP, log_visit, &v), 0);
	assert_int_equal(v.n, 0);
	teardown(&pt);
	finish(m);
}

/* ---- protect ---- */

static void test_protect_range(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;
	const uint64_t base = 2 * MiB - 8 * PAGE_SIZE; /* 16 pages across a PTE table boundary */
	pte_t want[16];
	pte_t *outside;

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	for (int i = 0; i < 16; i++) {
		if (i % 4 == 0)
			want[i] = pte_make(0x100 + i, PTE_SOFT2); /* not present */
		else if (i % 4 == 1)
			want[i] = pte_make(0x100 + i, PTE_P | PTE_US); /* read-only */
		else
			want[i] = pte_make(0x100 + i, USER_RW | PTE_NX);
		map_fake(&pt, base + i * PAGE_SIZE, want[i]);
	}
	map_fake(&pt, base + 16 * PAGE_SIZE, fake_leaf(7));
	outside = pgtable_walk(&pt, base + 16 * PAGE_SIZE);

	/* Write-protect: only the 8 present writable entries change. */
	assert_int_equal(pgtable_protect_range(&pt, base, base + 16 * PAGE_SIZE, PTE_RW, 0), 8);
	for (int i = 0; i < 16; i++) {
		pte_t e = *pgtable_walk(&pt, base + i * PAGE_SIZE);

		assert_int_equal(e, i % 4 >= 2 ? want[i] & ~PTE_RW : want[i]);
	}
	assert_int_equal(*outside, fake_leaf(7));
	assert_int_equal(pgtable_protect_range(&pt, base, base + 16 * PAGE_SIZE, PTE_RW, 0), 0);

	/* Make writable again: the 12 present entries all change, the swap entries don't. */
	assert_int_equal(pgtable_protect_range(&pt, 0, TOP, 0, PTE_RW), 12);
	for (int i = 0; i < 16; i++) {
		pte_t e = *pgtable_walk(&pt, base + i * PAGE_SIZE);

		assert_int_equal(e, i % 4 == 0 ? want[i] : want[i] | PTE_RW);
	}
	/* Clear and set in one go (NX off, accessed on), across the whole space. */
	assert_int_equal(pgtable_protect_range(&pt, 0, TOP, PTE_NX, PTE_A), 13);
	assert_int_equal(*outside, fake_leaf(7) | PTE_A);
	assert_int_equal(live_of(m, outside), 9); /* pages 8..15 and this one share [2M, 4M) */
	assert_pt_ok(&pt);

	/* An entry whose result is zero stops being live. */
	pgtable_set(&pt, outside, PTE_P);
	assert_int_equal(pgtable_protect_range(&pt, base + 16 * PAGE_SIZE, base + 17 * PAGE_SIZE, PTE_P, 0),
			 1);
	assert_int_equal(*outside, 0);
	assert_int_equal(live_of(m, outside), 8);
	assert_pt_ok(&pt);
	/* Nothing mapped, nothing changed. */
	assert_int_equal(pgtable_protect_range(&pt, 4 * GiB, 8 * GiB, PTE_RW, 0), 0);
	assert_int_equal(pgtable_protect_range(&pt, base, base, PTE_RW, 0), 0);
	teardown(&pt);
	finish(m);
}

/* ---- zap ---- */

static void test_zap_boundaries(void **state)
{
	static const uint64_t bounds[] = { 2 * MiB, GiB, 512 * GiB };
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;
	struct zap_log z;

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	for (size_t b = 0; b < AS_ARRAY_SIZE(bounds); b++)
		for (int d = -2; d < 2; d++)
			map_fake(&pt, bounds[b] + d * (int64_t)PAGE_SIZE, fake_leaf(b * 8 + d + 2));
	/*
	 * root, PUD[0], PMD[GiB 0], PTE[0,2M), PTE[2M,4M), PTE[1G-2M,1G),
	 * PMD[GiB 1], PTE[1G,+2M), PMD[GiB 511], PTE[512G-2M,512G), PUD[1],
	 * PMD[GiB 512], PTE[512G,+2M)
	 */
	assert_int_equal(pt.nr_tables, 13);
	assert_int_equal(pgtable_frames(m), 13);

	/* Both PTE tables keep an entry outside the range: nothing is freed. */
	zap_log_init(&z);
	pgtable_zap_range(&pt, 2 * MiB - PAGE_SIZE, 2 * MiB + PAGE_SIZE, true, log_zap, &z);
	assert_int_equal(z.n, 2);
	assert_int_equal(z.va[0], 2 * MiB - PAGE_SIZE);
	assert_int_equal(z.va[1], 2 * MiB);
	assert_int_equal(z.old[0], fake_leaf(1));
	assert_int_equal(z.old[1], fake_leaf(2));
	assert_int_equal(pt.nr_tables, 13);
	assert_pt_ok(&pt);

	/* Now both PTE tables empty and go; the PMD keeps PTE[1G-2M,1G). */
	zap_log_init(&z);
	pgtable_zap_range(&pt, 2 * MiB - 2 * PAGE_SIZE, 2 * MiB + 2 * PAGE_SIZE, true, log_zap, &z);
	assert_int_equal(z.n, 2);
	assert_true(z.ordered);
	assert_int_equal(pt.nr_tables, 11);
	assert_int_equal(pgtable_frames(m), 11);
	assert_null(pgtable_walk(&pt, 2 * MiB));
	assert_non_null(raw_entry(&pt, 0, 2));
	assert_int_equal(*raw_entry(&pt, 0, 2), 0);
	assert_pt_ok(&pt);

	/* Across 1 GiB without free_tables: entries go, tables stay. */
	zap_log_init(&z);
	pgtable_zap_range(&pt, GiB - 2 * PAGE_SIZE, GiB + 2 * PAGE_SIZE, false, log_zap, &z);
	assert_int_equal(z.n, 4);
	assert_true(z.ordered);
	assert_int_equal(pt.nr_tables, 11);
	assert_non_null(pgtable_walk(&pt, GiB));
	assert_int_equal(*pgtable_walk(&pt, GiB), 0);
	assert_pt_ok(&pt);

	/* The same range again with free_tables: no callbacks, the empty tables go. */
	zap_log_init(&z);
	pgtable_zap_range(&pt, GiB - 2 * PAGE_SIZE, GiB + 2 * PAGE_SIZE, true, log_zap, &z);
	assert_int_equal(z.n, 0);
	/* PMD[GiB 0] and PMD[GiB 1] with their PTE tables; PUD[0] keeps PMD[GiB 511]. */
	assert_int_equal(pt.nr_tables, 7);
	assert_null(raw_entry(&pt, 0, 2));
	assert_null(raw_entry(&pt, GiB, 2));
	assert_non_null(raw_entry(&pt, 0, 3));
	assert_pt_ok(&pt);

	/* Across 512 GiB: entries outside the range keep every table. */
	zap_log_init(&z);
	pgtable_zap_range(&pt, 512 * GiB - PAGE_SIZE, 512 * GiB + PAGE_SIZE, true, log_zap, &z);
	assert_int_equal(z.n, 2);
	assert_int_equal(z.va[0], 512 * GiB - PAGE_SIZE);
	assert_int_equal(z.va[1], 512 * GiB);
	assert_int_equal(pt.nr_tables, 7);
	assert_pt_ok(&pt);

	/* Everything: all tables but the root go. */
	zap_log_init(&z);
	pgtable_zap_range(&pt, 0, TOP, true, log_zap, &z);
	assert_int_equal(z.n, 2);
	assert_int_equal(z.va[0], 512 * GiB - 2 * PAGE_SIZE);
	assert_int_equal(z.va[1], 512 * GiB + PAGE_SIZE);
	assert_int_equal(pt.nr_tables, 1);
	assert_int_equal(pgtable_frames(m), 1);
	assert_int_equal(live_of(m, frame_to_host(m, pt.root)), 0);
	assert_pt_ok(&pt);
	pgtable_destroy(&pt);
	finish(m);
}

/* A dense range of whole PTE tables: zap of a middle part frees exactly the tables it empties. */
static void test_zap_dense(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;
	struct zap_log z;
	const uint64_t base = GiB - 4 * MiB, npages = 4 * 512; /* 8 MiB across 1 GiB */

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	for (uint64_t i = 0; i < npages; i++)
		map_fake(&pt, base + i * PAGE_SIZE, fake_leaf(i + 1));
	assert_int_equal(pt.nr_tables, 1 + 1 + 2 + 4);
	/* [base + 2M + 4K, base + 6M): empties PTE tables 2 (1G) and ... only the fully covered ones. */
	zap_log_init(&z);
	pgtable_zap_range(&pt, base + 2 * MiB + PAGE_SIZE, base + 6 * MiB, true, log_zap, &z);
	assert_int_equal(z.n, 1024 - 1);
	assert_true(z.ordered);
	/* Table [base+2M, base+4M) keeps one entry; [base+4M, base+6M) is freed. */
	assert_int_equal(pt.nr_tables, 7);
	assert_non_null(pgtable_walk(&pt, base + 2 * MiB));
	assert_null(pgtable_walk(&pt, base + 4 * MiB));
	assert_pt_ok(&pt);
	zap_log_init(&z);
	pgtable_zap_range(&pt, 0, TOP, false, log_zap, &z);
	assert_int_equal(z.n, npages - 1023);
	assert_true(z.ordered);
	assert_int_equal(pt.nr_tables, 7);
	assert_pt_ok(&pt);
	teardown(&pt);
	finish(m);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_zap_huge_empty_is_fast(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;
	struct zap_log z;
	double t0, ms;

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	t0 = now_ms();
	for (int i = 0; i < 1000; i++)
		pgtable_zap_range(&pt, 0, TOP, true, ignore_zap, NULL);
	ms = now_ms() - t0;
	if (ms > 200)
		fail_msg("1000 zaps of an empty space took %.1f ms", ms);

	/* A few scattered pages, and empty tables left by a zap without free_tables. */
	map_fake(&pt, 0x10000, fake_leaf(1));
	map_fake(&pt, 300 * GiB, fake_leaf(2));
	map_fake(&pt, TOP - PAGE_SIZE, fake_leaf(3));
	map_fake(&pt, 5 * GiB, fake_leaf(4));
	pgtable_zap_range(&pt, 5 * GiB, 6 * GiB, false, ignore_zap, NULL);
	t0 = now_ms();
	for (int i = 0; i < 1000; i++) {
		pgtable_zap_range(&pt, 0x20000, 300 * GiB, false, ignore_zap, NULL);
		pgtable_zap_range(&pt, 300 * GiB + PAGE_SIZE, TOP - PAGE_SIZE, false, ignore_zap, NULL);
	}
	ms = now_ms() - t0;
	if (ms > 2000)
		fail_msg("1000 zaps of a sparse space took %.1f ms", ms);
	zap_log_init(&z);
	t0 = now_ms();
	pgtable_zap_range(&pt, 0, TOP, true, log_zap, &z);
	ms = now_ms() - t0;
	if (ms > 50)
		fail_msg("zap of a sparse space took %.1f ms", ms);
	assert_int_equal(z.n, 3);
	assert_int_equal(z.va[0], 0x10000);
	assert_int_equal(z.va[1], 300 * GiB);
	assert_int_equal(z.va[2], TOP - PAGE_SIZE);
	assert_int_equal(pt.nr_tables, 1);
	assert_pt_ok(&pt);
	pgtable_destroy(&pt);
	finish(m);
}

/* ---- copy (fork) ---- */

struct cow {
	struct as_machine *m;
	struct pgtable *src;
	uint64_t calls;
	bool skip_odd; /* return 0 for odd pages */
};

/* Copy-on-write: write-protect the parent, share the frame with the child. */
static pte_t cow_copy(void *ctx, uint64_t va, pte_t *src_ptep)
{
	struct cow *c = ctx;
	pte_t e = *src_ptep;

	c->calls++;
	if (c->skip_odd && (va >> PAGE_SHIFT) % 2)
		return 0;
	if (!pte_present(e))
		return e;
	e &= ~PTE_RW;
	pgtable_set(c->src, src_ptep, e);
	frame_get(c->m, pte_pfn(e));
	return e;
}

/* Map `n` pages from `va` backed by fresh anonymous frames. */
static void map_anon(struct pgtable *pt, uint64_t va, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		pfn_t pfn = frame_alloc(pt->m, 0, FA_ANON);

		assert_int_not_equal(pfn, PFN_NONE);
		map_fake(pt, va + i * PAGE_SIZE, pte_make(pfn, USER_RW | PTE_NX));
	}
}

static uint64_t count_live(struct pgtable *pt)
{
	struct visit_log v;

	memset(&v, 0, sizeof(v));
	assert_int_equal(pgtable_for_each(pt, 0, TOP, log_visit, &v), 0);
	return v.n;
}

struct same {
	struct pgtable *other;
	uint64_t n;
};

/* Every live entry of one tree has the same value in `other`. */
static int same_entry(void *ctx, uint64_t va, pte_t *ptep)
{
	struct same *s = ctx;
	pte_t *o = pgtable_walk(s->other, va);

	s->n++;
	return o && *o == *ptep ? 0 : -1;
}

static void build_src(struct pgtable *src)
{
	map_anon(src, 2 * MiB - 5 * PAGE_SIZE, 10);
	map_anon(src, GiB - PAGE_SIZE, 2);
	map_anon(src, 512 * GiB - PAGE_SIZE, 2);
	map_anon(src, TOP - PAGE_SIZE, 1);
	pgtable_set(src, must_walk_alloc(src, 3 * GiB), pte_make(0x777, PTE_SOFT2)); /* a swap entry */
	/* An empty PTE table linked in src: no leaf to copy, but the child gets the tables (Linux's copy_pte_range). */
	(void)must_walk_alloc(src, 7 * GiB);
}

static void test_copy_range_cow(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable src, dst, part;
	struct cow c = { .m = m, .src = &src };
	struct same s;
	uint64_t user;
	struct as_machine_stats st;

	(void)state;
	assert_int_equal(pgtable_init(&src, m), 0);
	assert_int_equal(pgtable_init(&dst, m), 0);
	assert_int_equal(pgtable_init(&part, m), 0);
	build_src(&src);
	as_machine_get_stats(m, &st);
	user = st.user_frames;
	assert_int_equal(user, 15);

	assert_int_equal(pgtable_copy_range(&dst, &src, 0, TOP, cow_copy, &c), 0);
	assert_int_equal(c.calls, 16);
	assert_int_equal(count_live(&dst), 16);
	/* The shape of src, the PMD and empty PTE table at 7 GiB included. */
	assert_int_equal(src.nr_tables, 20);
	assert_int_equal(dst.nr_tables, 20);
	assert_non_null(pgtable_walk(&dst, 7 * GiB));
	s = (struct same){ .other = &src };
	assert_int_equal(pgtable_for_each(&dst, 0, TOP, same_entry, &s), 0);
	assert_int_equal(s.n, 16);
	s = (struct same){ .other = &dst };
	assert_int_equal(pgtable_for_each(&src, 0, TOP, same_entry, &s), 0);
	assert_int_equal(*pgtable_walk(&src, GiB) & PTE_RW, 0);
	assert_int_equal(frame_page(m, pte_pfn(*pgtable_walk(&dst, GiB)))->refcount, 2);
	assert_pt_ok(&src);
	assert_pt_ok(&dst);

	/* A partial copy skipping odd pages: only the even ones in range, and the tables of src the range overlaps. */
	c.calls = 0;
	c.skip_odd = true;
	assert_int_equal(pgtable_copy_range(&part, &src, 2 * MiB - 4 * PAGE_SIZE, GiB, cow_copy, &c), 0);
	assert_int_equal(c.calls, 9 + 1);
	assert_int_equal(count_live(&part), 5);
	assert_null(pgtable_walk(&part, 512 * GiB));
	assert_int_equal(*pgtable_walk(&part, 2 * MiB - 5 * PAGE_SIZE), 0); /* outside the range */
	assert_int_not_equal(*pgtable_walk(&part, 2 * MiB - 4 * PAGE_SIZE), 0); /* page 508 */
	assert_int_equal(*pgtable_walk(&part, 2 * MiB - 3 * PAGE_SIZE), 0);     /* 509: odd */
	assert_int_not_equal(*pgtable_walk(&part, 2 * MiB - 2 * PAGE_SIZE), 0);
	assert_pt_ok(&part);

	pgtable_zap_range(&part, 0, TOP, true, put_zap, m);
	pgtable_zap_range(&dst, 0, TOP, true, put_zap, m);
	as_machine_get_stats(m, &st);
	assert_int_equal(st.user_frames, user);
	pgtable_zap_range(&src, 0, TOP, true, put_zap, m);
	pgtable_destroy(&part);
	pgtable_destroy(&dst);
	pgtable_destroy(&src);
	finish(m);
}

static pte_t plain_copy(void *ctx, uint64_t va, pte_t *src_ptep)
{
	(void)ctx;
	(void)va;
	return *src_ptep;
}

/* Copying over entries the child already has keeps its live counts right. */
static void test_copy_range_overwrites(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable src, dst;

	(void)state;
	assert_int_equal(pgtable_init(&src, m), 0);
	assert_int_equal(pgtable_init(&dst, m), 0);
	for (uint64_t i = 0; i < 600; i += 3)
		map_fake(&src, 4 * MiB + i * PAGE_SIZE, fake_leaf(i + 1));
	map_fake(&dst, 4 * MiB + 3 * PAGE_SIZE, fake_leaf(999));
	map_fake(&dst, 4 * MiB + 4 * PAGE_SIZE, fake_leaf(998));
	assert_int_equal(pgtable_copy_range(&dst, &src, 4 * MiB, 8 * MiB, plain_copy, NULL), 0);
	assert_int_equal(pgtable_copy_range(&dst, &src, 4 * MiB, 8 * MiB, plain_copy, NULL), 0);
	assert_int_equal(count_live(&dst), 200 + 1);
	assert_int_equal(*pgtable_walk(&dst, 4 * MiB + 3 * PAGE_SIZE), fake_leaf(4));
	assert_int_equal(*pgtable_walk(&dst, 4 * MiB + 4 * PAGE_SIZE), fake_leaf(998));
	assert_pt_ok(&dst);
	assert_pt_ok(&src);
	teardown(&dst);
	teardown(&src);
	finish(m);
}

/* ---- Failure injection ---- */

static void test_walk_alloc_failure_sweep(void **state)
{
	static const struct {
		uint64_t va;
		unsigned need;
	} cases[] = {
		{ 0x400000, 3 },
		{ GiB + 0x400000, 2 },
		{ 0x800000, 1 },
		{ 600 * GiB, 3 },
	};
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	for (size_t k = 0; k < AS_ARRAY_SIZE(cases); k++) {
		uint64_t va = cases[k].va, allocs;
		pte_t *p = NULL;

		for (unsigned n = 1; n <= cases[k].need; n++) {
			uint64_t tables = pt.nr_tables, pgf = pgtable_frames(m), fr = free_frames(m);

			as_machine_fail_nth(m, n);
			assert_int_equal(pgtable_walk_alloc(&pt, va, &p), -ENOMEM);
			as_machine_fail_nth(m, 0);
			assert_int_equal(pt.nr_tables, tables);
			assert_int_equal(pgtable_frames(m), pgf);
			assert_int_equal(free_frames(m), fr);
			assert_null(pgtable_walk(&pt, va));
			assert_pt_ok(&pt);
			t_assert_machine_ok(m);
		}
		/* Failing the allocation after the last one the walk needs changes nothing. */
		allocs = as_machine_alloc_count(m);
		as_machine_fail_nth(m, cases[k].need + 1);
		p = must_walk_alloc(&pt, va);
		as_machine_fail_nth(m, 0);
		assert_int_equal(as_machine_alloc_count(m) - allocs, cases[k].need);
		pgtable_set(&pt, p, fake_leaf(k + 1));
		assert_pt_ok(&pt);
	}
	assert_int_equal(pt.nr_tables, 1 + 3 + 2 + 1 + 3);
	teardown(&pt);
	finish(m);
}

static void test_copy_range_failure_sweep(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable src, dst;
	struct cow c = { .m = m, .src = &src };
	uint64_t need, allocs;
	struct as_machine_stats st0, st;

	(void)state;
	assert_int_equal(pgtable_init(&src, m), 0);
	build_src(&src);
	as_machine_get_stats(m, &st0);

	/* How many allocations a whole copy makes. */
	assert_int_equal(pgtable_init(&dst, m), 0);
	allocs = as_machine_alloc_count(m);
	assert_int_equal(pgtable_copy_range(&dst, &src, 0, TOP, cow_copy, &c), 0);
	need = as_machine_alloc_count(m) - allocs;
	assert_int_equal(need, dst.nr_tables - 1);
	pgtable_zap_range(&dst, 0, TOP, true, put_zap, m);
	pgtable_destroy(&dst);

	for (uint64_t n = 1; n <= need + 1; n++) {
		struct same s = { .other = &src };
		int rc;

		assert_int_equal(pgtable_init(&dst, m), 0);
		c.calls = 0;
		as_machine_fail_nth(m, n);
		rc = pgtable_copy_range(&dst, &src, 0, TOP, cow_copy, &c);
		as_machine_fail_nth(m, 0);
		assert_int_equal(rc, n <= need ? -ENOMEM : 0);
		assert_pt_ok(&dst);
		assert_pt_ok(&src);
		/* What was copied is right, and fn ran only for entries the child got. */
		assert_int_equal(pgtable_for_each(&dst, 0, TOP, same_entry, &s), 0);
		assert_int_equal(s.n, c.calls);
		assert_int_equal(s.n == 16, n > need);
		t_assert_machine_ok(m);
		pgtable_zap_range(&dst, 0, TOP, true, put_zap, m);
		pgtable_destroy(&dst);
		as_machine_get_stats(m, &st);
		assert_int_equal(st.pgtable_frames, st0.pgtable_frames);
		assert_int_equal(st.user_frames, st0.user_frames);
	}
	pgtable_zap_range(&src, 0, TOP, true, put_zap, m);
	pgtable_destroy(&src);
	finish(m);
}

/* ---- Validator and destroy ---- */

static void expect_corrupt(struct pgtable *pt, const char *what)
{
	char msg[256] = "";

	if (pgtable_check(pt, msg, sizeof(msg)) != -EUCLEAN)
		fail_msg("pgtable_check missed: %s", what);
	assert_true(msg[0] != '\0');
}

static void test_check_catches_corruption(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt, other;
	pte_t *leaf, *pmde, *pude, saved;
	pfn_t anon;

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	assert_int_equal(pgtable_init(&other, m), 0);
	map_fake(&pt, 0x400000, fake_leaf(1));
	map_fake(&other, 0x400000, fake_leaf(1));
	leaf = pgtable_walk(&pt, 0x400000);
	pmde = raw_entry(&pt, 0x400000, 2);
	pude = raw_entry(&pt, 0x400000, 3);
	assert_pt_ok(&pt);

	/* A wrong live count. */
	atomic_fetch_add(&frame_page(m, host_to_frame(m, leaf))->mapcount, 1);
	expect_corrupt(&pt, "live count too high");
	atomic_fetch_sub(&frame_page(m, host_to_frame(m, leaf))->mapcount, 1);
	assert_pt_ok(&pt);
	atomic_fetch_add(&frame_page(m, host_to_frame(m, pmde))->mapcount, -1);
	expect_corrupt(&pt, "PMD live count too low");
	atomic_fetch_add(&frame_page(m, host_to_frame(m, pmde))->mapcount, 1);
	assert_pt_ok(&pt);

	/* A non-leaf entry pointing at a frame that is not a table. */
	anon = frame_alloc(m, 0, FA_ANON | FA_ZERO);
	assert_int_not_equal(anon, PFN_NONE);
	saved = *pmde;
	*pmde = pte_make(anon, USER_RW);
	expect_corrupt(&pt, "PMD entry to an anonymous frame");
	*pmde = pte_make((pfn_t)m->nframes + 5, USER_RW);
	expect_corrupt(&pt, "PMD entry outside the pool");
	*pmde = saved & ~PTE_RW;
	expect_corrupt(&pt, "read-only PMD entry");
	*pmde = saved & ~PTE_US;
	expect_corrupt(&pt, "supervisor PMD entry");
	*pmde = saved | PTE_PS;
	expect_corrupt(&pt, "huge PMD entry");
	*pmde = saved | PTE_NX;
	expect_corrupt(&pt, "NX PMD entry");
	*pmde = (saved & ~PTE_PFN_MASK) | (*pude & PTE_PFN_MASK);
	expect_corrupt(&pt, "PMD entry to a PMD (wrong level)");
	*pmde = (saved & ~PTE_PFN_MASK) | (*raw_entry(&other, 0x400000, 2) & PTE_PFN_MASK);
	expect_corrupt(&pt, "PMD entry to another tree's PTE table");
	*pmde = saved;
	assert_pt_ok(&pt);
	frame_put(m, anon);

	/* The table count. */
	pt.nr_tables++;
	expect_corrupt(&pt, "nr_tables");
	pt.nr_tables--;
	/* A huge leaf. */
	*leaf |= PTE_PS;
	expect_corrupt(&pt, "PS bit on a present leaf");
	*leaf &= ~PTE_PS;
	/* A mapping in the kernel half of the PGD. */
	saved = *raw_entry(&pt, 0, 4);
	((pte_t *)frame_to_host(m, pt.root))[300] = saved;
	expect_corrupt(&pt, "kernel-half PGD entry");
	((pte_t *)frame_to_host(m, pt.root))[300] = 0;
	assert_pt_ok(&pt);

	/* A NULL buffer is fine. */
	pt.nr_tables++;
	assert_int_equal(pgtable_check(&pt, NULL, 0), -EUCLEAN);
	pt.nr_tables--;
	assert_int_equal(pgtable_check(&pt, NULL, 0), 0);
	teardown(&pt);
	teardown(&other);
	finish(m);
}

static void test_destroy_panics_on_live_leaf(void **state)
{
	struct as_machine *m = t_machine_new(64);
	as_panic_hook old;
	static struct pgtable pt; /* static: it must survive the longjmp intact */

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	map_fake(&pt, 0x400000, fake_leaf(1));
	map_fake(&pt, 0x10000000, fake_leaf(2));
	(void)must_walk_alloc(&pt, 0x200000); /* an empty PTE table: fine to destroy */
	pgtable_zap_range(&pt, 0x10000000, 0x10001000, false, ignore_zap, NULL);
	old = as_set_panic_hook(panic_to_test);
	panic_msg[0] = '\0';
	if (setjmp(panic_jmp) == 0) {
		pgtable_destroy(&pt);
		fail_msg("destroy with a live leaf did not panic");
	}
	as_set_panic_hook(old);
	assert_non_null(strstr(panic_msg, "live"));
	/* The tree is still consistent: clear the leaf and destroy for real. */
	assert_pt_ok(&pt);
	assert_int_equal(pgtable_clear(&pt, pgtable_walk(&pt, 0x400000)), fake_leaf(1));
	pgtable_destroy(&pt);
	finish(m);
}

static void test_destroy_frees_everything(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;

	(void)state;
	assert_int_equal(pgtable_init(&pt, m), 0);
	for (uint64_t va = 0; va < TOP; va += 997 * GiB + 5 * MiB + 3 * PAGE_SIZE)
		(void)must_walk_alloc(&pt, va);
	assert_true(pt.nr_tables > 100);
	assert_int_equal(pgtable_frames(m), pt.nr_tables);
	pgtable_destroy(&pt);
	finish(m);
}

/* ---- Random operations against a per-page model ---- */

#define NSLOTS 256

static uint64_t slot_va(unsigned s)
{
	/* 8 clusters of 32 pages, each straddling a 2 MiB, 1 GiB or 512 GiB boundary. */
	static const uint64_t centers[8] = { 2 * MiB, 4 * MiB, GiB, 3 * GiB,
					     512 * GiB, 1024 * GiB + 2 * MiB, 100 * GiB, TOP - 16 * PAGE_SIZE };

	return centers[s / 32] + ((uint64_t)(s % 32) - 16) * PAGE_SIZE;
}

struct model_zap {
	pte_t *model;
	uint64_t n;
};

static void model_zap(void *ctx, uint64_t va, pte_t old)
{
	struct model_zap *mz = ctx;

	for (unsigned s = 0; s < NSLOTS; s++)
		if (slot_va(s) == va) {
			assert_int_equal(mz->model[s], old);
			mz->model[s] = 0;
			mz->n++;
			return;
		}
	fail_msg("zap of unknown address %#llx", (unsigned long long)va);
}

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void test_random_against_model(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct pgtable pt;
	pte_t model[NSLOTS] = { 0 };
	const char *seed_env = getenv("PGTABLE_SEED");

	(void)state;
	rnd_state = seed_env ? strtoull(seed_env, NULL, 0) : 0x9e3779b97f4a7c15ull;
	if (!rnd_state)
		rnd_state = 1;
	assert_int_equal(pgtable_init(&pt, m), 0);
	for (int step = 0; step < 3000; step++) {
		unsigned s = (unsigned)(rnd() % NSLOTS), t = (unsigned)(rnd() % NSLOTS);
		uint64_t vs = slot_va(s), vt = slot_va(t);
		uint64_t a = vs < vt ? vs : vt, b = (vs < vt ? vt : vs) + PAGE_SIZE;
		struct model_zap mz = { .model = model };
		uint64_t expect = 0;
		pte_t *p;

		switch (rnd() % 5) {
		case 0:
		case 1: /* set */
			model[s] = rnd() % 4 ? fake_leaf(rnd()) : pte_make((pfn_t)(rnd() & 0xffff), PTE_SOFT2);
			map_fake(&pt, slot_va(s), model[s]);
			break;
		case 2: /* clear */
			p = pgtable_walk(&pt, slot_va(s));
			assert_int_equal(p ? pgtable_clear(&pt, p) : 0, model[s]);
			model[s] = 0;
			break;
		case 3: /* zap a range */
			for (unsigned i = 0; i < NSLOTS; i++)
				expect += slot_va(i) >= a && slot_va(i) < b && model[i];
			pgtable_zap_range(&pt, a, b, rnd() % 2, model_zap, &mz);
			assert_int_equal(mz.n, expect);
			break;
		case 4: /* write-protect a range */
			for (unsigned i = 0; i < NSLOTS; i++) {
				if (slot_va(i) < a || slot_va(i) >= b || !pte_present(model[i]) ||
				    !(model[i] & PTE_RW))
					continue;
				model[i] &= ~PTE_RW;
				expect++;
			}
			assert_int_equal(pgtable_protect_range(&pt, a, b, PTE_RW, 0), expect);
			break;
		}
		if (step % 16 == 0) {
			assert_pt_ok(&pt);
			for (unsigned i = 0; i < NSLOTS; i++) {
				p = pgtable_walk(&pt, slot_va(i));
				assert_int_equal(p ? *p : 0, model[i]);
			}
		}
	}
	teardown(&pt);
	finish(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_empty),
		cmocka_unit_test(test_walk_alloc_counts),
		cmocka_unit_test(test_walk_rejects_high_address),
		cmocka_unit_test(test_set_clear_counts),
		cmocka_unit_test(test_for_each_order),
		cmocka_unit_test(test_protect_range),
		cmocka_unit_test(test_zap_boundaries),
		cmocka_unit_test(test_zap_dense),
		cmocka_unit_test(test_zap_huge_empty_is_fast),
		cmocka_unit_test(test_copy_range_cow),
		cmocka_unit_test(test_copy_range_overwrites),
		cmocka_unit_test(test_walk_alloc_failure_sweep),
		cmocka_unit_test(test_copy_range_failure_sweep),
		cmocka_unit_test(test_check_catches_corruption),
		cmocka_unit_test(test_destroy_panics_on_live_leaf),
		cmocka_unit_test(test_destroy_frees_everything),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
