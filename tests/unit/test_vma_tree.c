/*
 * The region tree (src/vma/tree.c): hand-drawn layouts with exact answers,
 * then seeded random insert/erase/update against a sorted-array reference
 * model, checking every lookup and both free-range searches against brute
 * force after every change, and the validator against planted corruption.
 *
 * ASPACE_SEED (default: fixed) and ASPACE_ITERS (random steps, default
 * 100000, about 1.5 s in a debug build) come from the environment; the
 * seed in use is printed.
 */
#include "testlib.h"

#include "vma/vma.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG 4096ull
#define TOP UINT64_MAX

static uint64_t seed = 0x5eed0f7a11ce5ull;
static uint64_t iters = 100000;

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng_state;

/* splitmix64: a small, good, seedable generator. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform-ish in [0, n), n > 0. */
static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

static struct vm_area *new_region(uint64_t start, uint64_t end)
{
	struct vm_area *v = malloc(sizeof(*v));

	assert_non_null(v);
	memset(v, 0xa5, sizeof(*v)); /* junk: the tree must not trust it */
	v->start = start;
	v->end = end;
	v->flags = VM_READ;
	return v;
}

/* Fail the test with the validator's message unless the tree is valid. */
static void assert_tree_ok(const struct vma_tree *t)
{
	char buf[256];
	int rc = vma_tree_check(t, buf, sizeof(buf));

	if (rc != 0)
		fail_msg("vma_tree_check: %d: %s", rc, buf);
}

/* Expect the validator to reject the tree. */
static void assert_tree_broken(const struct vma_tree *t)
{
	char buf[256];

	assert_int_equal(vma_tree_check(t, buf, sizeof(buf)), -EUCLEAN);
	assert_true(buf[0] != '\0');
}

/* Height of the subtree at n. */
static unsigned height(const struct vm_area *n)
{
	unsigned l, r;

	if (!n)
		return 0;
	l = height(n->rb_left);
	r = height(n->rb_right);
	return 1 + (l > r ? l : r);
}

/* A red-black tree of n nodes is at most 2 log2(n + 1) high. */
static void assert_height_bound(const struct vma_tree *t)
{
	unsigned h = height(t->root), lg = 0;

	while ((2ull << lg) <= t->count + 1)
		lg++;
	/* lg = floor(log2(count + 1)); allow 2 * (lg + 1) for the ceiling. */
	if (h > 2 * (lg + 1))
		fail_msg("height %u for %" PRIu64 " regions", h, t->count);
}

static void free_all(struct vma_tree *t)
{
	struct vm_area *v;

	while ((v = vma_first(t)) != NULL) {
		vma_tree_erase(t, v);
		free(v);
	}
	assert_null(t->root);
	assert_int_equal(t->count, 0);
}

/* ---- the reference model: regions in a sorted array ---------------------- */

#define MODEL_MAX 4096

struct model {
	size_t n;
	struct vm_area *v[MODEL_MAX]; /* sorted by start; bounds read from the regions */
};

/* Index of the first region with start >= addr. */
static size_t model_lower(const struct model *m, uint64_t addr)
{
	size_t i = 0;

	while (i < m->n && m->v[i]->start < addr)
		i++;
	return i;
}

static bool model_overlaps(const struct model *m, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i]->start < end && m->v[i]->end > start)
			return true;
	return false;
}

static void model_insert(struct model *m, struct vm_area *v)
{
	size_t i = model_lower(m, v->start);

	assert_true(m->n < MODEL_MAX);
	memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(m->v[0]));
	m->v[i] = v;
	m->n++;
}

static void model_erase(struct model *m, size_t i)
{
	memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(m->v[0]));
	m->n--;
}

static struct vm_area *ref_lookup(const struct model *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i]->start <= addr && addr < m->v[i]->end)
			return m->v[i];
	return NULL;
}

static struct vm_area *ref_find(const struct model *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i]->end > addr)
			return m->v[i];
	return NULL;
}

static struct vm_area *ref_find_intersection(const struct model *m, uint64_t start, uint64_t end)
{
	for (size_t i = 0; start < end && i < m->n; i++)
		if (m->v[i]->start < end && m->v[i]->end > start)
			return m->v[i];
	return NULL;
}

/*
 * Brute force over every free range: the lowest (rev: highest) whose part
 * inside [min, max] holds size bytes; *out = that part's first (last) address.
 */
static bool ref_empty_area(const struct model *m, uint64_t min, uint64_t max, uint64_t size,
			   bool rev, uint64_t *out)
{
	uint64_t prev_end = 0, lo, hi;
	bool found = false;

	if (size == 0 || min > max || max - min < size - 1)
		return false;
	for (size_t i = 0; i <= m->n; i++) {
		if (i < m->n) {
			if (m->v[i]->start == prev_end) {
				prev_end = m->v[i]->end;
				continue;
			}
			lo = prev_end;
			hi = m->v[i]->start - 1;
			prev_end = m->v[i]->end;
		} else {
			lo = prev_end; /* the last end is below TOP, so this range is not empty */
			hi = TOP;
		}
		if (lo < min)
			lo = min;
		if (hi > max)
			hi = max;
		if (lo > hi || hi - lo < size - 1)
			continue;
		if (!rev) {
			*out = lo;
			return true;
		}
		*out = hi;
		found = true;
	}
	return found;
}

/* The tree holds exactly the model's regions, in order, both ways. */
static void assert_same_as_model(const struct vma_tree *t, const struct model *m)
{
	size_t i = 0;
	struct vm_area *w;

	assert_tree_ok(t);
	assert_int_equal(t->count, m->n);
	vma_for_each(t, v) {
		assert_true(i < m->n);
		assert_ptr_equal(v, m->v[i]);
		i++;
	}
	assert_int_equal(i, m->n);
	w = vma_last(t);
	assert_ptr_equal(w, m->n ? m->v[m->n - 1] : NULL);
	assert_ptr_equal(vma_first(t), m->n ? m->v[0] : NULL);
	for (i = m->n; i-- > 0; w = vma_prev(w))
		assert_ptr_equal(w, m->v[i]);
	assert_null(w);
}

/* ---- interesting inputs -------------------------------------------------- */

/* An address near something that matters: region bounds, 0, the top. */
static uint64_t pick_addr(const struct model *m)
{
	static const int64_t deltas[] = { -(int64_t)PG, -1, 0, 0, 1, (int64_t)PG };
	uint64_t r = rnd_below(100);

	if (r < 40 && m->n) {
		const struct vm_area *v = m->v[rnd_below(m->n)];
		uint64_t base = rnd() & 1 ? v->start : v->end;

		return base + (uint64_t)deltas[rnd_below(AS_ARRAY_SIZE(deltas))];
	}
	if (r < 50)
		return 0;
	if (r < 58)
		return TOP;
	if (r < 65)
		return TOP - rnd_below(4 * PG);
	if (r < 80)
		return rnd_below(4 * PG);
	return rnd();
}

/* A size near something that matters: the gaps present, 1, a page, huge. */
static uint64_t pick_size(const struct model *m)
{
	uint64_t r = rnd_below(100);

	if (r < 45 && m->n) {
		size_t i = rnd_below(m->n);
		uint64_t gap = m->v[i]->start - (i ? m->v[i - 1]->end : 0);

		if (r < 15)
			gap = TOP - m->v[m->n - 1]->end + 1; /* the top range */
		switch (rnd_below(5)) {
		case 0: return gap - 1;
		case 1: return gap + 1;
		case 2: return gap + PG;
		default: return gap;
		}
	}
	if (r < 55)
		return 1;
	if (r < 65)
		return PG;
	if (r < 75)
		return (1 + rnd_below(16)) * PG;
	if (r < 80)
		return TOP;
	if (r < 84)
		return TOP - rnd_below(PG);
	if (r < 86)
		return 0;
	return rnd() >> rnd_below(64);
}

/* Compare one window and size against brute force, both directions. */
static void check_search(const struct vma_tree *t, const struct model *m, uint64_t min,
			 uint64_t max, uint64_t size)
{
	uint64_t got = 0xdead, want = 0xbeef;
	bool ok, ref;

	ok = vma_empty_area(t, min, max, size, &got);
	ref = ref_empty_area(m, min, max, size, false, &want);
	if (ok != ref || (ok && got != want))
		fail_msg("vma_empty_area(%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64 "): %d %#" PRIx64
			 ", expected %d %#" PRIx64, min, max, size, ok, got, ref, want);

	ok = vma_empty_area_rev(t, min, max, size, &got);
	ref = ref_empty_area(m, min, max, size, true, &want);
	if (ok != ref || (ok && got != want))
		fail_msg("vma_empty_area_rev(%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64 "): %d %#" PRIx64
			 ", expected %d %#" PRIx64, min, max, size, ok, got, ref, want);
}

/*
 * Searches whose windows end or begin exactly at a free range's bounds,
 * with size exactly its length (and one more): exact fits in both directions.
 */
static void check_exact_fits(const struct vma_tree *t, const struct model *m)
{
	size_t i = rnd_below(m->n + 1);
	uint64_t lo = i ? m->v[i - 1]->end : 0, hi = i < m->n ? m->v[i]->start - 1 : TOP;
	uint64_t len;

	if (i < m->n && m->v[i]->start == lo)
		return; /* no free range before v[i] */
	len = hi - lo + 1; /* 0 for the whole space: checked as TOP below */
	if (len == 0)
		len = TOP;
	for (uint64_t extra = 0; extra < 2; extra++) {
		check_search(t, m, lo, hi, len + extra);
		check_search(t, m, 0, hi, len + extra);
		check_search(t, m, lo, TOP, len + extra);
		check_search(t, m, lo ? lo - 1 : 0, hi, len + extra);
		check_search(t, m, lo, hi == TOP ? TOP : hi + 1, len + extra);
		check_search(t, m, lo + 1, hi, len - 1 + extra);
		check_search(t, m, lo, hi - 1, len - 1 + extra);
	}
}

/* Random lookups and searches against brute force. */
static void check_queries(const struct vma_tree *t, const struct model *m, int rounds)
{
	check_exact_fits(t, m);
	for (int i = 0; i < rounds; i++) {
		uint64_t a = pick_addr(m), b = pick_addr(m), min, max;

		assert_ptr_equal(vma_lookup(t, a), ref_lookup(m, a));
		assert_ptr_equal(vma_find(t, a), ref_find(m, a));
		assert_ptr_equal(vma_find_intersection(t, a, b), ref_find_intersection(m, a, b));
		assert_ptr_equal(vma_find_intersection(t, b, a), ref_find_intersection(m, b, a));

		/* Mostly ordered windows, sometimes inverted ones (expect false). */
		min = a < b ? a : b;
		max = a < b ? b : a;
		if (rnd_below(10) == 0) {
			min = max;
			max = a < b ? a : b;
		}
		if (rnd_below(8) == 0)
			min = 0;
		if (rnd_below(8) == 0)
			max = TOP;
		check_search(t, m, min, max, pick_size(m));
	}
}

/* ---- hand-drawn layouts -------------------------------------------------- */

static void test_empty_tree(void **state)
{
	struct vma_tree t;
	uint64_t x;

	(void)state;
	vma_tree_init(&t);
	assert_tree_ok(&t);
	assert_null(vma_lookup(&t, 0));
	assert_null(vma_find(&t, 0));
	assert_null(vma_first(&t));
	assert_null(vma_last(&t));
	assert_null(vma_find_intersection(&t, 0, TOP));

	/* The whole space is one free range [0, TOP]. */
	assert_true(vma_empty_area(&t, 0, TOP, 1, &x));
	assert_int_equal(x, 0);
	assert_true(vma_empty_area_rev(&t, 0, TOP, 1, &x));
	assert_int_equal(x, TOP);
	assert_true(vma_empty_area(&t, 0, TOP, TOP, &x));
	assert_int_equal(x, 0);
	assert_true(vma_empty_area_rev(&t, 0, TOP, TOP, &x));
	assert_int_equal(x, TOP);
	assert_true(vma_empty_area(&t, 1, TOP, TOP, &x));
	assert_int_equal(x, 1);
	assert_true(vma_empty_area_rev(&t, 0, TOP - 1, TOP, &x));
	assert_int_equal(x, TOP - 1);
	assert_false(vma_empty_area(&t, 1, TOP - 1, TOP, &x));
	assert_true(vma_empty_area(&t, 5, 5, 1, &x));
	assert_int_equal(x, 5);
	assert_true(vma_empty_area_rev(&t, TOP, TOP, 1, &x));
	assert_int_equal(x, TOP);

	/* size 0, min > max, window smaller than size. */
	assert_false(vma_empty_area(&t, 0, TOP, 0, &x));
	assert_false(vma_empty_area_rev(&t, 0, TOP, 0, &x));
	assert_false(vma_empty_area(&t, 6, 5, 1, &x));
	assert_false(vma_empty_area_rev(&t, 6, 5, 1, &x));
	assert_false(vma_empty_area(&t, 5, 5, 2, &x));
	assert_false(vma_empty_area_rev(&t, 5, 5, 2, &x));
	assert_false(vma_empty_area(&t, TOP, TOP, 2, &x));
	assert_false(vma_empty_area_rev(&t, TOP - 1, TOP, 3, &x));
}

/*
 *   0       1000     3000          6000   7000
 *   | free   |   A    |    free     |  B   |   free ...   TOP]
 */
static void test_layout_clipping(void **state)
{
	struct vma_tree t;
	struct vm_area *a = new_region(0x1000, 0x3000), *b = new_region(0x6000, 0x7000);
	struct vm_area *c, *d;
	uint64_t x;

	(void)state;
	vma_tree_init(&t);
	vma_tree_insert(&t, b);
	vma_tree_insert(&t, a);
	assert_tree_ok(&t);

	assert_ptr_equal(vma_lookup(&t, 0x1000), a);
	assert_ptr_equal(vma_lookup(&t, 0x2fff), a);
	assert_null(vma_lookup(&t, 0x3000));
	assert_null(vma_lookup(&t, 0xfff));
	assert_ptr_equal(vma_find(&t, 0x3000), b);
	assert_ptr_equal(vma_find(&t, 0), a);
	assert_null(vma_find(&t, 0x7000));
	assert_null(vma_find_intersection(&t, 0x3000, 0x6000));
	assert_ptr_equal(vma_find_intersection(&t, 0x3000, 0x6001), b);
	assert_ptr_equal(vma_find_intersection(&t, 0x2fff, 0x6001), a);
	assert_null(vma_find_intersection(&t, 0x2000, 0x2000));
	assert_ptr_equal(vma_next(a), b);
	assert_null(vma_next(b));
	assert_ptr_equal(vma_prev(b), a);
	assert_null(vma_prev(a));

	/* Lowest first. */
	assert_true(vma_empty_area(&t, 0, TOP, 0x1000, &x));
	assert_int_equal(x, 0);
	assert_true(vma_empty_area(&t, 0, TOP, 0x1001, &x));
	assert_int_equal(x, 0x3000);
	assert_true(vma_empty_area(&t, 0, TOP, 0x3000, &x));
	assert_int_equal(x, 0x3000);
	assert_true(vma_empty_area(&t, 0, TOP, 0x3001, &x));
	assert_int_equal(x, 0x7000);
	/* A window straddling the start of a range clips it: [3800, 5fff] is 0x2800. */
	assert_true(vma_empty_area(&t, 0x3800, TOP, 0x2800, &x));
	assert_int_equal(x, 0x3800);
	assert_true(vma_empty_area(&t, 0x3800, TOP, 0x2801, &x));
	assert_int_equal(x, 0x7000);
	/* ... and straddling its end: [3000, 4fff] is 0x2000. */
	assert_true(vma_empty_area(&t, 0x1000, 0x4fff, 0x2000, &x));
	assert_int_equal(x, 0x3000);
	assert_false(vma_empty_area(&t, 0x1000, 0x4fff, 0x2001, &x));
	/* Both: [4000, 5fff] exactly. */
	assert_true(vma_empty_area(&t, 0x4000, 0x5fff, 0x2000, &x));
	assert_int_equal(x, 0x4000);
	assert_false(vma_empty_area(&t, 0x4000, 0x6fff, 0x2001, &x));
	assert_true(vma_empty_area(&t, 0x4000, 0x7000, 1, &x));
	assert_int_equal(x, 0x4000);
	assert_true(vma_empty_area(&t, 0x2800, TOP, 0x1000, &x));
	assert_int_equal(x, 0x3000);
	/* min + size overflows: only the top range can hold it. */
	assert_true(vma_empty_area(&t, TOP - 0xfff, TOP, 0x1000, &x));
	assert_int_equal(x, TOP - 0xfff);
	assert_true(vma_empty_area(&t, TOP, TOP, 1, &x));
	assert_int_equal(x, TOP);
	/* The top range from 7000 holds TOP - 0x6fff bytes, not one more. */
	assert_true(vma_empty_area(&t, 0, TOP, TOP - 0x6fff, &x));
	assert_int_equal(x, 0x7000);
	assert_false(vma_empty_area(&t, 0, TOP, TOP - 0x6ffe, &x));

	/* Highest first. */
	assert_true(vma_empty_area_rev(&t, 0, TOP, 0x1000, &x));
	assert_int_equal(x, TOP);
	assert_true(vma_empty_area_rev(&t, 0, 0x6fff, 0x1000, &x));
	assert_int_equal(x, 0x5fff);
	assert_true(vma_empty_area_rev(&t, 0, 0x7000, 1, &x));
	assert_int_equal(x, 0x7000);
	assert_true(vma_empty_area_rev(&t, 0, 0x7000, 2, &x));
	assert_int_equal(x, 0x5fff);
	assert_true(vma_empty_area_rev(&t, 0, 0x4fff, 0x2000, &x));
	assert_int_equal(x, 0x4fff);
	assert_false(vma_empty_area_rev(&t, 0, 0x4fff, 0x2001, &x));
	assert_true(vma_empty_area_rev(&t, 0x3800, 0x5fff, 0x2800, &x));
	assert_int_equal(x, 0x5fff);
	assert_true(vma_empty_area_rev(&t, 0x3800, 0x6fff, 0x2801, &x) == false);
	assert_true(vma_empty_area_rev(&t, 0, 0x6fff, 0x3000, &x));
	assert_int_equal(x, 0x5fff);
	assert_true(vma_empty_area_rev(&t, 0, 0x6fff, 0x3001, &x) == false);
	assert_true(vma_empty_area_rev(&t, 0, 0x2fff, 0x1000, &x));
	assert_int_equal(x, 0xfff);
	assert_true(vma_empty_area_rev(&t, 0, 0x2fff, 0x1001, &x) == false);
	assert_true(vma_empty_area_rev(&t, 0x800, 0x2fff, 0x800, &x));
	assert_int_equal(x, 0xfff);
	assert_true(vma_empty_area_rev(&t, 0x801, 0x2fff, 0x800, &x) == false);

	/*
	 * Add C at the very top and D at 0:
	 *   0     1000    3000       6000  7000        TOP-1fff  TOP-fff   TOP]
	 *   |  D  |   A   |   free   |  B  |   free    |    C    |  free   |
	 */
	c = new_region(0ull - 0x2000, 0ull - 0x1000);
	d = new_region(0, 0x1000);
	vma_tree_insert(&t, c);
	vma_tree_insert(&t, d);
	assert_tree_ok(&t);
	assert_int_equal(d->gap_before, 0);
	assert_int_equal(a->gap_before, 0);
	assert_ptr_equal(vma_lookup(&t, TOP - 0x1000), c);
	assert_null(vma_lookup(&t, TOP));
	assert_true(vma_empty_area(&t, 0, TOP, 1, &x));
	assert_int_equal(x, 0x3000);
	assert_true(vma_empty_area_rev(&t, 0, TOP, 0x1000, &x));
	assert_int_equal(x, TOP);
	assert_true(vma_empty_area_rev(&t, 0, TOP, 0x1001, &x));
	assert_int_equal(x, TOP - 0x2000);
	assert_true(vma_empty_area(&t, 0x7000, TOP, 0x1001, &x));
	assert_int_equal(x, 0x7000);
	assert_true(vma_empty_area(&t, TOP - 0x2fff, TOP, 0x1001, &x) == false);
	assert_true(vma_empty_area(&t, TOP - 0x2fff, TOP, 0x1000, &x));
	assert_int_equal(x, TOP - 0x2fff);
	assert_true(vma_empty_area(&t, TOP - 0x1fff, TOP, 0x1000, &x));
	assert_int_equal(x, TOP - 0xfff);

	/* Erasing A folds it and its (empty) gap into B's gap. */
	vma_tree_erase(&t, a);
	free(a);
	assert_tree_ok(&t);
	assert_int_equal(b->gap_before, 0x5000);
	assert_true(vma_empty_area(&t, 0, TOP, 0x5000, &x));
	assert_int_equal(x, 0x1000);
	free_all(&t);
}

/* Trimming and extending in place, then vma_tree_update. */
static void test_update_in_place(void **state)
{
	struct vma_tree t;
	struct vm_area *r[8];
	uint64_t x;

	(void)state;
	vma_tree_init(&t);
	/* Regions at 0x10000 * (i + 1), four pages each. */
	for (int i = 0; i < 8; i++) {
		r[i] = new_region(0x10000ull * (uint64_t)(i + 1), 0x10000ull * (uint64_t)(i + 1) + 0x4000);
		vma_tree_insert(&t, r[i]);
	}
	assert_tree_ok(&t);
	/* Largest gap anywhere is 0xc000 (between regions), 0x10000 at the bottom. */
	assert_true(vma_empty_area(&t, 0, TOP, 0xc001, &x));
	assert_int_equal(x, 0);
	assert_true(vma_empty_area(&t, 0x1000, TOP, 0xc001, &x));
	assert_int_equal(x, 0x1000);
	assert_true(vma_empty_area(&t, 0x5000, TOP, 0xc001, &x));
	assert_int_equal(x, 0x84000);

	/* Trim r[3]'s end: the gap after it grows to 0xe000. */
	r[3]->end -= 0x2000;
	vma_tree_update(&t, r[3]);
	assert_tree_ok(&t);
	assert_int_equal(r[4]->gap_before, 0xe000);
	assert_true(vma_empty_area(&t, 0x5000, TOP, 0xc001, &x));
	assert_int_equal(x, 0x42000);
	assert_true(vma_empty_area_rev(&t, 0, 0x80000, 0xd000, &x));
	assert_int_equal(x, 0x4ffff);

	/* Extend r[3]'s start down to r[2]'s end: no gap before it. */
	r[3]->start = r[2]->end;
	vma_tree_update(&t, r[3]);
	assert_tree_ok(&t);
	assert_int_equal(r[3]->gap_before, 0);

	/* Extend r[7] to the top of the space and r[0] down to 0. */
	r[7]->end = 0ull - PG;
	vma_tree_update(&t, r[7]);
	r[0]->start = 0;
	vma_tree_update(&t, r[0]);
	assert_tree_ok(&t);
	assert_true(vma_empty_area_rev(&t, 0, TOP, PG, &x));
	assert_int_equal(x, TOP);
	assert_true(vma_empty_area_rev(&t, 0, TOP, PG + 1, &x));
	assert_int_equal(x, 0x7ffff);

	/* Trim r[5]'s start: its gap grows, the search finds it. */
	r[5]->start += 0x3000;
	vma_tree_update(&t, r[5]);
	assert_tree_ok(&t);
	assert_true(vma_empty_area(&t, 0, TOP, 0xf000, &x));
	assert_int_equal(x, 0x54000);
	free_all(&t);
}

/* The validator catches planted corruption, and passes again once it is undone. */
static void test_check_catches_corruption(void **state)
{
	struct vma_tree t;
	struct vm_area *r[64], *v, *w;
	uintptr_t saved;
	uint64_t s;

	(void)state;
	vma_tree_init(&t);
	for (int i = 0; i < 64; i++) {
		uint64_t at = (uint64_t)(i * 3 + 1) * PG;

		r[i] = new_region(at, at + PG * (uint64_t)(1 + i % 2));
		vma_tree_insert(&t, r[i]);
	}
	assert_tree_ok(&t);

	/* A subtree gap. */
	for (int i = 0; i < 64; i += 7) {
		r[i]->subtree_gap++;
		assert_tree_broken(&t);
		r[i]->subtree_gap--;
		assert_tree_ok(&t);
	}
	/* A cached gap-before (the subtree gap agrees with it, so only the cache lies). */
	v = r[20];
	s = v->gap_before;
	v->gap_before = 0;
	assert_tree_broken(&t);
	v->gap_before = s;
	assert_tree_ok(&t);

	/* Order: swap the bounds of two neighbours. */
	v = r[10];
	w = r[11];
	s = v->start;
	v->start = w->start;
	w->start = s;
	s = v->end;
	v->end = w->end;
	w->end = s;
	assert_tree_broken(&t);
	w->end = v->end;
	v->end = s;
	s = v->start;
	v->start = w->start;
	w->start = s;
	assert_tree_ok(&t);

	/* Overlap: extend a region into its successor. */
	v = r[30];
	s = v->end;
	v->end = r[31]->start + PG;
	assert_tree_broken(&t);
	v->end = s;
	assert_tree_ok(&t);

	/* Empty region, unaligned bound. */
	s = r[5]->end;
	r[5]->end = r[5]->start;
	assert_tree_broken(&t);
	r[5]->end = s + 1;
	assert_tree_broken(&t);
	r[5]->end = s;
	assert_tree_ok(&t);

	/* Colors: a red root; every node flipped in turn (each breaks a rule). */
	t.root->rb_parent_color &= ~(uintptr_t)1;
	assert_tree_broken(&t);
	t.root->rb_parent_color |= 1;
	assert_tree_ok(&t);
	for (int i = 0; i < 64; i++) {
		r[i]->rb_parent_color ^= 1;
		assert_tree_broken(&t);
		r[i]->rb_parent_color ^= 1;
	}
	assert_tree_ok(&t);

	/* A parent pointer, the count. */
	v = r[40];
	saved = v->rb_parent_color;
	v->rb_parent_color = (uintptr_t)r[41] | (saved & 1);
	if (v->rb_parent_color == saved)
		v->rb_parent_color = (uintptr_t)r[39] | (saved & 1);
	assert_tree_broken(&t);
	v->rb_parent_color = saved;
	t.count++;
	assert_tree_broken(&t);
	t.count -= 2;
	assert_tree_broken(&t);
	t.count++;
	assert_tree_ok(&t);

	/* A loop (a leaf pointing back at the root) is reported, not followed forever. */
	v = vma_first(&t);
	assert_null(v->rb_left);
	v->rb_left = t.root;
	assert_tree_broken(&t);
	v->rb_left = NULL;
	assert_tree_ok(&t);

	/* The cached last region. */
	t.last = r[62];
	assert_tree_broken(&t);
	t.last = r[63];
	assert_tree_ok(&t);

	/* A zero-length buffer is fine. */
	r[0]->subtree_gap++;
	assert_int_equal(vma_tree_check(&t, NULL, 0), -EUCLEAN);
	r[0]->subtree_gap--;
	free_all(&t);
}

/*
 * Regions added in increasing order (fork, exec) and top-down in
 * decreasing order (mmap), each new one adjacent to or one page away from
 * the last: the insertion shortcut from the last region, with the
 * top-down search picking every place.
 */
static void test_sequential_inserts(void **state)
{
	enum { N = 3000 };
	struct vma_tree t;
	struct vm_area *v;
	uint64_t x, base = 0x7f0000000000ull;

	(void)state;
	vma_tree_init(&t);
	for (uint64_t i = 0; i < N; i++) {
		v = new_region(0x400000 + i * 2 * PG, 0x400000 + i * 2 * PG + PG * (1 + i % 2));
		vma_tree_insert(&t, v);
		assert_ptr_equal(vma_last(&t), v);
		if (i % 97 == 0)
			assert_tree_ok(&t);
	}
	assert_tree_ok(&t);
	assert_height_bound(&t);

	/* Top-down mmaps below base: each lands right below the previous one. */
	for (uint64_t i = 0; i < N; i++) {
		uint64_t size = PG * (1 + i % 3);

		assert_true(vma_empty_area_rev(&t, 0x10000, base - 1, size, &x));
		v = new_region(x + 1 - size, x + 1);
		vma_tree_insert(&t, v);
		assert_ptr_equal(vma_find(&t, x), v);
		base = v->start;
		if (i % 97 == 0)
			assert_tree_ok(&t);
	}
	assert_tree_ok(&t);
	assert_height_bound(&t);
	assert_int_equal(t.count, 2 * N);

	/* Unmap every other one from the top, then refill the holes top-down. */
	for (v = vma_last(&t); v && v->start >= base; v = vma_prev(v)) {
		struct vm_area *prev = vma_prev(v);

		if (!prev || prev->start < base)
			break;
		vma_tree_erase(&t, prev);
		free(prev);
	}
	assert_tree_ok(&t);
	for (int i = 0; i < 100; i++) {
		uint64_t top = vma_last(&t)->start;

		assert_true(vma_empty_area_rev(&t, base, top - 1, PG, &x));
		assert_null(vma_lookup(&t, x));
		assert_non_null(vma_lookup(&t, x + 1));
		v = new_region(x + 1 - PG, x + 1);
		vma_tree_insert(&t, v);
	}
	assert_tree_ok(&t);
	free_all(&t);
}

static jmp_buf panic_jump;

/* Panic hook for the test below: return to the test instead of aborting. */
static void jump_back(const char *msg)
{
	(void)msg;
	longjmp(panic_jump, 1);
}

/* Broken preconditions panic before the tree changes. */
static void test_insert_preconditions(void **state)
{
	struct vma_tree t;
	struct vm_area *a = new_region(0x10000, 0x20000);
	struct vm_area *bad[] = {
		new_region(0x1f000, 0x21000), /* overlaps a's end */
		new_region(0xf000, 0x11000),  /* overlaps a's start */
		new_region(0x10000, 0x20000), /* same bounds */
		new_region(0x12000, 0x13000), /* inside */
		new_region(0x8000, 0x30000),  /* around */
		new_region(0x30000, 0x30000), /* empty */
		new_region(0x30000, 0x30800), /* unaligned */
	};
	as_panic_hook old;

	(void)state;
	vma_tree_init(&t);
	vma_tree_insert(&t, a);
	old = as_set_panic_hook(jump_back);
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad); i++) {
		volatile bool panicked = false;

		if (setjmp(panic_jump) == 0)
			vma_tree_insert(&t, bad[i]);
		else
			panicked = true;
		assert_true(panicked);
		assert_tree_ok(&t);
		assert_int_equal(t.count, 1);
		free(bad[i]);
	}
	as_set_panic_hook(old);
	free_all(&t);
}

/* ---- seeded random stress ------------------------------------------------ */

/*
 * Page slots: the low half counts up from 0, the high half ends at the top
 * page of the space, so layouts touch both 0 and TOP and leave a huge
 * range in the middle.
 */
#define SLOTS 384

static uint64_t slot_addr(uint64_t i)
{
	return i < SLOTS / 2 ? i * PG : ((1ull << 52) - SLOTS + i) * PG;
}

/* Insert a random free range of 1..8 slots; false if none found quickly. */
static bool random_insert(struct vma_tree *t, struct model *m)
{
	for (int tries = 0; tries < 16; tries++) {
		uint64_t a = rnd_below(SLOTS - 1), b = a + 1 + rnd_below(8);
		struct vm_area *v;

		if (b > SLOTS - 1)
			b = SLOTS - 1;
		if (rnd_below(16) == 0) /* a region across the middle */
			b = SLOTS / 2 + rnd_below(SLOTS / 2 - 1);
		if (b <= a || model_overlaps(m, slot_addr(a), slot_addr(b)))
			continue;
		v = new_region(slot_addr(a), slot_addr(b));
		vma_tree_insert(t, v);
		model_insert(m, v);
		return true;
	}
	return false;
}

static void random_erase(struct vma_tree *t, struct model *m)
{
	size_t i = rnd_below(m->n);
	struct vm_area *v = m->v[i];

	vma_tree_erase(t, v);
	model_erase(m, i);
	memset(v, 0x6b, sizeof(*v));
	free(v);
}

/* A page count in [0, n], n possibly huge. */
static uint64_t rnd_pages(uint64_t n)
{
	if (n == 0)
		return 0;
	return rnd_below(4) == 0 ? n : rnd_below(n + 1);
}

/* Move one bound of a random region without passing a neighbour. */
static void random_update(struct vma_tree *t, struct model *m)
{
	size_t i = rnd_below(m->n);
	struct vm_area *v = m->v[i];
	uint64_t low = i ? m->v[i - 1]->end : 0;
	uint64_t high = i + 1 < m->n ? m->v[i + 1]->start : 0ull - PG;
	uint64_t pages = (v->end - v->start) / PG;

	switch (rnd_below(4)) {
	case 0: /* trim the start */
		v->start += rnd_pages(pages - 1) * PG;
		break;
	case 1: /* trim the end */
		v->end -= rnd_pages(pages - 1) * PG;
		break;
	case 2: /* extend the start */
		v->start -= rnd_pages((v->start - low) / PG) * PG;
		break;
	default: /* extend the end */
		v->end += rnd_pages((high - v->end) / PG) * PG;
		break;
	}
	vma_tree_update(t, v);
}

static void test_random_against_model(void **state)
{
	static struct model m;
	struct vma_tree t;
	uint64_t target = 0;

	(void)state;
	rng_state = seed;
	m.n = 0;
	vma_tree_init(&t);
	for (uint64_t step = 0; step < iters; step++) {
		uint64_t r = rnd_below(100);

		/* Grow toward a moving target, sometimes all the way down to empty. */
		if (step % 500 == 0)
			target = step % 1500 == 1000 ? 0 : 10 + rnd_below(150);
		if (m.n == 0 || (m.n < target && r < 60) || r < 30) {
			if (!random_insert(&t, &m) && m.n)
				random_erase(&t, &m);
		} else if (r < 85 || m.n > target) {
			random_erase(&t, &m);
		} else {
			random_update(&t, &m);
		}
		assert_same_as_model(&t, &m);
		assert_height_bound(&t);
		check_queries(&t, &m, 24);
	}
	free_all(&t);
}

/*
 * Many regions, shuffled: the height bound, and searches over a big tree.
 * Every gap is one page except for planted larger ones whose positions the
 * brute force knows.
 */
static void test_large_tree(void **state)
{
	enum { N = 20000 };
	static struct model_big {
		struct vm_area *v[N];
	} big;
	struct vma_tree t;
	uint32_t *order = malloc(N * sizeof(*order));
	uint64_t x, base = 0x400000;

	(void)state;
	assert_non_null(order);
	rng_state = seed ^ 0xb16;
	vma_tree_init(&t);
	for (uint32_t i = 0; i < N; i++) {
		/* region i at base + 2i pages, one page; every 1000th gap is 3 pages. */
		uint64_t at = base + 2 * PG * i + (i / 1000) * 2 * PG;

		big.v[i] = new_region(at, at + PG);
		order[i] = i;
	}
	for (uint32_t i = N - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rnd_below(i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (uint32_t i = 0; i < N; i++) {
		vma_tree_insert(&t, big.v[order[i]]);
		if (i % 4096 == 0)
			assert_tree_ok(&t);
	}
	assert_tree_ok(&t);
	assert_height_bound(&t);

	/* Lowest 3-page range at or above region 5500's start: before region 6000. */
	assert_true(vma_empty_area(&t, big.v[5500]->start, TOP, 3 * PG, &x));
	assert_int_equal(x, big.v[5999]->end);
	/* Highest 3-page range below region 5500: before region 5000. */
	assert_true(vma_empty_area_rev(&t, 0, big.v[5500]->start - 1, 3 * PG, &x));
	assert_int_equal(x, big.v[5000]->start - 1);
	/* One page, top-down under region 12345: right below it. */
	assert_true(vma_empty_area_rev(&t, 0, big.v[12345]->start - 1, PG, &x));
	assert_int_equal(x, big.v[12345]->start - 1);
	/* Bigger than every inner gap; the bottom one is clipped to 3 pages. */
	assert_true(vma_empty_area(&t, base - 3 * PG, TOP, 4 * PG, &x));
	assert_int_equal(x, big.v[N - 1]->end);
	assert_true(vma_empty_area_rev(&t, 0, big.v[N - 1]->start, base, &x));
	assert_int_equal(x, base - 1);

	/* Erase in another order, checking now and then. */
	for (uint32_t i = N - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rnd_below(i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (uint32_t i = 0; i < N; i++) {
		vma_tree_erase(&t, big.v[order[i]]);
		free(big.v[order[i]]);
		if (i % 4096 == 0) {
			assert_tree_ok(&t);
			assert_height_bound(&t);
		}
	}
	assert_tree_ok(&t);
	assert_null(t.root);
	free(order);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_tree),
		cmocka_unit_test(test_layout_clipping),
		cmocka_unit_test(test_update_in_place),
		cmocka_unit_test(test_check_catches_corruption),
		cmocka_unit_test(test_insert_preconditions),
		cmocka_unit_test(test_sequential_inserts),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_large_tree),
	};
	const char *s = getenv("ASPACE_SEED"), *n = getenv("ASPACE_ITERS");

	if (s)
		seed = strtoull(s, NULL, 0);
	if (n)
		iters = strtoull(n, NULL, 0);
	printf("test_vma_tree: ASPACE_SEED=%#" PRIx64 " ASPACE_ITERS=%" PRIu64 "\n", seed, iters);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
