/*
 * Unit tests of src/machine/slab.c: geometry, many objects of several sizes
 * (some larger than a page), LIFO O(1) reuse, the single kept empty slab,
 * zeroing, alignment, failure injection, out of memory, concurrency, the
 * validator, and the panics (double free, foreign object, destroy with
 * live objects, write after free) in fork()ed children.
 */
#include "testlib.h"

#include "machine/machine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void panic_exit_hook(const char *msg)
{
	(void)msg;
	_exit(42);
}

/* Run fn(arg) in a child; it must panic (through the hook), not return or crash. */
static void expect_panic(void (*fn)(void *), void *arg)
{
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		as_set_panic_hook(panic_exit_hook);
		fn(arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 42)
		fail_msg("expected a panic, child status %#x", status);
}

static void assert_cache_ok(struct slab_cache *c)
{
	char buf[512] = "";

	if (slab_cache_check(c, buf, sizeof(buf)) != 0)
		fail_msg("slab_cache_check: %s", buf);
}

static uint64_t slab_frames(struct as_machine *m)
{
	struct as_machine_stats st;

	as_machine_get_stats(m, &st);
	return st.slab_frames;
}

static void machine_done(struct as_machine *m)
{
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* The order is the smallest holding 8 objects; sizes round up to the alignment. */
static void test_geometry(void **state)
{
	static const struct { size_t size, align; uint32_t obj, order; } g[] = {
		{ 1, 0, 8, 0 },      { 8, 8, 8, 0 },       { 24, 8, 24, 0 },
		{ 72, 64, 128, 0 },  { 512, 8, 512, 0 },   { 513, 8, 520, 1 },
		{ 1024, 64, 1024, 1 }, { 4096, 8, 4096, 3 }, { 20000, 8, 20000, 6 },
		{ 600000, 8, 600000, 10 },
	};
	struct as_machine *m = t_machine_new(8);

	for (size_t i = 0; i < AS_ARRAY_SIZE(g); i++) {
		struct slab_cache c;

		assert_int_equal(slab_cache_init(&c, m, "geo", g[i].size, g[i].align), 0);
		assert_int_equal(c.obj_size, g[i].obj);
		assert_int_equal(c.order, g[i].order);
		assert_int_equal(c.objs_per_slab, (PAGE_SIZE << c.order) / c.obj_size);
		if (g[i].size <= 300000)
			assert_true(c.objs_per_slab >= 8);
		slab_cache_destroy(&c);
	}
	machine_done(m);
}

static void test_invalid(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct slab_cache c;

	assert_int_equal(slab_cache_init(&c, m, "bad", 0, 8), -EINVAL);
	assert_int_equal(slab_cache_init(&c, m, "bad", 64, 24), -EINVAL);
	assert_int_equal(slab_cache_init(&c, m, "bad", 64, 2 * PAGE_SIZE), -EINVAL);
	assert_int_equal(slab_cache_init(&c, m, "bad", (PAGE_SIZE << MAX_ORDER) + 1, 8), -EINVAL);
	machine_done(m);
}

/* Many objects of one cache: distinct, aligned, stamped, freed in a scrambled order. */
static void exercise(struct as_machine *m, size_t size, size_t align, unsigned count, unsigned seed)
{
	struct slab_cache c;
	void **objs = calloc(count, sizeof(*objs));

	assert_int_equal(slab_cache_init(&c, m, "many", size, align), 0);
	for (unsigned i = 0; i < count; i++) {
		objs[i] = slab_alloc(&c);
		assert_non_null(objs[i]);
		assert_int_equal((uintptr_t)objs[i] % (align < 8 ? 8 : align), 0);
		memset(objs[i], (int)(i & 0xff), size);
		*(uint32_t *)objs[i] = i;
	}
	assert_int_equal(c.nr_active, count);
	assert_int_equal(c.nr_slabs, (count + c.objs_per_slab - 1) / c.objs_per_slab);
	assert_cache_ok(&c);
	t_assert_machine_ok(m);
	for (unsigned i = count; i > 1; i--) {
		unsigned j = (unsigned)rand_r(&seed) % i;
		void *t = objs[i - 1];

		objs[i - 1] = objs[j];
		objs[j] = t;
	}
	for (unsigned i = 0; i < count; i++) {
		uint8_t *p = objs[i];
		uint32_t id = *(uint32_t *)p;

		/* Nobody else wrote into this object. */
		for (size_t k = 4; k < size; k++)
			if (p[k] != (uint8_t)(id & 0xff))
				fail_msg("size %zu object %u byte %zu clobbered", size, id, k);
		slab_free(&c, p);
		if (i % 64 == 0)
			assert_cache_ok(&c);
	}
	assert_int_equal(c.nr_active, 0);
	assert_true(c.nr_slabs <= 1);
	assert_cache_ok(&c);
	slab_cache_shrink(&c);
	assert_int_equal(c.nr_slabs, 0);
	slab_cache_destroy(&c);
	free(objs);
}

static void test_many_sizes(void **state)
{
	struct as_machine *m = t_machine_new(64);

	exercise(m, 8, 8, 5000, 1);
	exercise(m, 24, 8, 3000, 2);
	exercise(m, 100, 16, 2000, 3);
	exercise(m, 1024, 64, 1000, 4);
	exercise(m, 3000, 8, 300, 5);
	exercise(m, 4096, 4096, 200, 6);
	exercise(m, 10000, 8, 100, 7);
	exercise(m, 70000, 8, 40, 8);
	machine_done(m);
}

/* Free then alloc hands back the same object: LIFO within the slab. */
static void test_reuse(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct slab_cache c;
	void *a, *b, *x, *y;
	uint64_t frames;

	assert_int_equal(slab_cache_init(&c, m, "reuse", 48, 8), 0);
	a = slab_alloc(&c);
	b = slab_alloc(&c);
	assert_ptr_not_equal(a, b);
	slab_free(&c, a);
	x = slab_alloc(&c);
	assert_ptr_equal(x, a);
	slab_free(&c, b);
	slab_free(&c, x);
	/* A churn of alloc/free keeps to one slab. */
	frames = slab_frames(m);
	for (int i = 0; i < 100000; i++) {
		y = slab_alloc(&c);
		assert_non_null(y);
		slab_free(&c, y);
	}
	assert_int_equal(slab_frames(m), frames);
	assert_int_equal(c.nr_slabs, 1);
	slab_cache_destroy(&c);
	machine_done(m);
}

/* At most one empty slab is kept; the others go back at once. */
static void test_empty_slab_release(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct slab_cache c;
	void **objs;
	unsigned n;

	assert_int_equal(slab_cache_init(&c, m, "empty", 1000, 8), 0);
	n = 3 * c.objs_per_slab;
	objs = calloc(n, sizeof(*objs));
	for (unsigned i = 0; i < n; i++)
		objs[i] = slab_alloc(&c);
	assert_int_equal(c.nr_slabs, 3);
	assert_int_equal(slab_frames(m), 3u << c.order);
	assert_int_equal(c.partial, PFN_NONE); /* all three full */
	assert_int_not_equal(c.full, PFN_NONE);
	/* Empty the first slab: kept. The second: released. */
	for (unsigned i = 0; i < c.objs_per_slab; i++)
		slab_free(&c, objs[i]);
	assert_int_equal(c.nr_slabs, 3);
	assert_int_not_equal(c.empty, PFN_NONE);
	for (unsigned i = c.objs_per_slab; i < 2 * c.objs_per_slab; i++)
		slab_free(&c, objs[i]);
	assert_int_equal(c.nr_slabs, 2);
	assert_int_equal(slab_frames(m), 2u << c.order);
	assert_cache_ok(&c);
	/* The kept empty slab is used before a new one is made. */
	objs[0] = slab_alloc(&c);
	assert_int_equal(c.nr_slabs, 2);
	assert_int_equal(c.empty, PFN_NONE);
	slab_free(&c, objs[0]);
	for (unsigned i = 2 * c.objs_per_slab; i < n; i++)
		slab_free(&c, objs[i]);
	assert_int_equal(c.nr_slabs, 1);
	as_machine_drain(m); /* shrinks every cache */
	assert_int_equal(c.nr_slabs, 0);
	assert_int_equal(slab_frames(m), 0);
	slab_cache_destroy(&c);
	free(objs);
	machine_done(m);
}

static void test_zalloc(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct slab_cache c;
	uint8_t *p, *q;

	assert_int_equal(slab_cache_init(&c, m, "zero", 200, 8), 0);
	p = slab_alloc(&c);
	memset(p, 0xee, 200);
	slab_free(&c, p);
	q = slab_zalloc(&c);
	assert_ptr_equal(p, q);
	for (int i = 0; i < 200; i++)
		assert_int_equal(q[i], 0);
	slab_free(&c, q);
	slab_cache_destroy(&c);
	machine_done(m);
}

#if ENV_DEBUG
static void test_debug_junk_and_poison(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct slab_cache c;
	uint8_t *p;

	assert_int_equal(slab_cache_init(&c, m, "junk", 64, 8), 0);
	p = slab_alloc(&c);
	for (int i = 0; i < 64; i++)
		assert_int_equal(p[i], ENV_JUNK_ALLOC);
	slab_free(&c, p);
	for (int i = 4; i < 64; i++)
		assert_int_equal(p[i], ENV_POISON_FREE);
	slab_cache_destroy(&c);
	machine_done(m);
}
#endif

/* The machine's own caches exist and work. */
static void test_machine_caches(void **state)
{
	struct as_machine *m = t_machine_new(8);

	for (unsigned i = 0; i < MC_NR; i++) {
		struct slab_cache *c = machine_cache(m, i);
		void *p = slab_zalloc(c);

		assert_non_null(p);
		assert_true(c->obj_size >= machine_cache_specs[i].size);
		assert_int_equal((uintptr_t)p % machine_cache_specs[i].align, 0);
		slab_free(c, p);
	}
	machine_done(m);
}

/* One injection gate per slab_alloc, whether or not it needs a new slab. */
static void test_fail_injection(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct slab_cache c;
	struct as_machine_stats st0, st;
	uint64_t n0;
	void *p[4];

	assert_int_equal(slab_cache_init(&c, m, "fail", 4096, 8), 0);
	as_machine_get_stats(m, &st0);
	n0 = as_machine_alloc_count(m);
	p[0] = slab_alloc(&c); /* makes a slab of order 3 */
	assert_int_equal(as_machine_alloc_count(m), n0 + 1);
	as_machine_fail_nth(m, 2);
	p[1] = slab_alloc(&c);
	p[2] = slab_alloc(&c);
	p[3] = slab_alloc(&c);
	assert_non_null(p[1]);
	assert_null(p[2]);
	assert_non_null(p[3]);
	assert_int_equal(as_machine_alloc_count(m), n0 + 4);
	as_machine_get_stats(m, &st);
	assert_int_equal(st.failed_allocations, st0.failed_allocations + 1);
	assert_int_equal(c.nr_active, 3);
	slab_free(&c, p[0]);
	slab_free(&c, p[1]);
	slab_free(&c, p[3]);

	/* Sweep n over three allocations. */
	for (uint64_t n = 1; n <= 3; n++) {
		as_machine_fail_nth(m, n);
		for (uint64_t i = 1; i <= 3; i++) {
			void *q = slab_zalloc(&c);

			assert_true((q == NULL) == (i == n));
			p[i] = q;
		}
		for (uint64_t i = 1; i <= 3; i++)
			slab_free(&c, p[i]);
	}
	assert_int_equal(c.nr_active, 0);
	slab_cache_destroy(&c);
	machine_done(m);
}

/* Out of frames: slab_alloc returns NULL, nothing is corrupted, all comes back. */
static void test_out_of_memory(void **state)
{
	struct as_machine *m = t_machine_new(1);
	struct slab_cache c;
	void *objs[64];
	unsigned n = 0;
	struct as_machine_stats st;

	assert_int_equal(slab_cache_init(&c, m, "oom", 60000, 8), 0);
	assert_int_equal(c.order, 7); /* 8 objects in 512 KiB: two slabs would need 256 frames */
	while (n < 64 && (objs[n] = slab_alloc(&c)) != NULL)
		n++;
	assert_int_equal(n, c.objs_per_slab); /* one slab fits in 1 MiB with the zero page */
	assert_cache_ok(&c);
	t_assert_machine_ok(m);
	as_machine_get_stats(m, &st);
	assert_true(st.failed_allocations >= 1);
	while (n > 0)
		slab_free(&c, objs[--n]);
	slab_cache_destroy(&c);
	machine_done(m);
}

struct slab_worker {
	struct slab_cache *c;
	unsigned seed;
	int bad;
};

static void *slab_worker_main(void *arg)
{
	struct slab_worker *w = arg;
	enum { HOLD = 300 };
	uint64_t *held[HOLD];
	int n = 0;

	for (int it = 0; it < 100000; it++) {
		if (n < HOLD && (n == 0 || rand_r(&w->seed) % 2)) {
			uint64_t *p = slab_alloc(w->c);

			if (!p)
				continue;
			p[1] = (uint64_t)(uintptr_t)p ^ (uint64_t)(uintptr_t)w;
			held[n++] = p;
		} else {
			int i = rand_r(&w->seed) % n;

			if (held[i][1] != ((uint64_t)(uintptr_t)held[i] ^ (uint64_t)(uintptr_t)w))
				w->bad = 1;
			slab_free(w->c, held[i]);
			held[i] = held[--n];
		}
	}
	while (n > 0)
		slab_free(w->c, held[--n]);
	return NULL;
}

static void test_concurrent(void **state)
{
	enum { NT = 4 };
	struct as_machine *m = t_machine_new(32);
	struct slab_cache c;
	struct slab_worker w[NT];
	pthread_t t[NT];

	assert_int_equal(slab_cache_init(&c, m, "conc", 96, 8), 0);
	for (int i = 0; i < NT; i++) {
		w[i] = (struct slab_worker){ .c = &c, .seed = 77u + (unsigned)i };
		assert_int_equal(pthread_create(&t[i], NULL, slab_worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NT; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_false(w[i].bad);
	}
	assert_int_equal(c.nr_active, 0);
	assert_cache_ok(&c);
	slab_cache_destroy(&c);
	machine_done(m);
}

/* The validators see a wrong count, a broken free list, a stray flag. */
static void test_check_detects_corruption(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct slab_cache c;
	char buf[512];
	void *a, *b;
	struct page *pg;
	uint32_t saved;

	assert_int_equal(slab_cache_init(&c, m, "chk", 64, 8), 0);
	a = slab_alloc(&c);
	b = slab_alloc(&c);
	assert_cache_ok(&c);

	c.nr_active++;
	assert_int_equal(slab_cache_check(&c, buf, sizeof(buf)), -EUCLEAN);
	assert_non_null(strstr(buf, "nr_active"));
	assert_int_equal(machine_check(m, buf, sizeof(buf)), -EUCLEAN);
	c.nr_active--;

	pg = frame_page(m, host_to_frame(m, a));
	saved = pg->index;
	pg->index = c.objs_per_slab + 5;
	assert_int_equal(slab_cache_check(&c, buf, sizeof(buf)), -EUCLEAN);
	assert_non_null(strstr(buf, "links to object"));
	pg->index = saved;

	atomic_fetch_add(&pg->mapcount, 1);
	assert_int_equal(slab_cache_check(&c, buf, sizeof(buf)), -EUCLEAN);
	atomic_fetch_sub(&pg->mapcount, 1);

	c.nr_slabs++;
	assert_int_equal(slab_cache_check(&c, buf, sizeof(buf)), -EUCLEAN);
	c.nr_slabs--;

	/* The machine notices slab frames no cache accounts for. */
	atomic_fetch_add(&m->nr_kind[page_kind_index(PG_SLAB)], 1);
	assert_int_equal(machine_check(m, buf, sizeof(buf)), -EUCLEAN);
	atomic_fetch_sub(&m->nr_kind[page_kind_index(PG_SLAB)], 1);

	assert_cache_ok(&c);
	t_assert_machine_ok(m);
	slab_free(&c, a);
	slab_free(&c, b);
	slab_cache_destroy(&c);
	machine_done(m);
}

/* ---- Panics ---- */

struct panic_ctx {
	struct as_machine *m;
	struct slab_cache a, b;
};

static void destroy_with_live_object(void *arg)
{
	struct panic_ctx *x = arg;
	void *p = slab_alloc(&x->a);

	(void)p;
	slab_cache_destroy(&x->a);
}

static void immediate_double_free(void *arg)
{
	struct panic_ctx *x = arg;
	void *p = slab_alloc(&x->a), *q = slab_alloc(&x->a);

	(void)q;
	slab_free(&x->a, p);
	slab_free(&x->a, p);
}

static void double_free_last_object(void *arg)
{
	struct panic_ctx *x = arg;
	void *p = slab_alloc(&x->a);

	slab_free(&x->a, p);
	slab_free(&x->a, p);
}

static void foreign_cache(void *arg)
{
	struct panic_ctx *x = arg;
	void *p = slab_alloc(&x->a);

	slab_free(&x->b, p);
}

static void middle_of_object(void *arg)
{
	struct panic_ctx *x = arg;
	uint8_t *p = slab_alloc(&x->a);

	slab_free(&x->a, p + 8);
}

static void outside_machine(void *arg)
{
	struct panic_ctx *x = arg;
	static uint64_t not_ours[8];

	slab_free(&x->a, not_ours);
}

static void not_a_slab_frame(void *arg)
{
	struct panic_ctx *x = arg;
	pfn_t pfn = frame_alloc(x->m, 0, FA_ANON);

	slab_free(&x->a, frame_to_host(x->m, pfn));
}

static void tail_page_of_other_cache(void *arg)
{
	struct panic_ctx *x = arg;
	uint8_t *p = slab_alloc(&x->b); /* b's slabs span several frames */

	slab_free(&x->a, p + PAGE_SIZE * 2);
}

#if ENV_DEBUG
static void later_double_free(void *arg)
{
	struct panic_ctx *x = arg;
	void *p = slab_alloc(&x->a), *q = slab_alloc(&x->a), *r = slab_alloc(&x->a);

	(void)r;
	slab_free(&x->a, p);
	slab_free(&x->a, q); /* q heads the free list now, p is behind it */
	slab_free(&x->a, p);
}

static void write_after_free(void *arg)
{
	struct panic_ctx *x = arg;
	uint8_t *p = slab_alloc(&x->a), *q;

	slab_free(&x->a, p);
	p[20] = 1;
	q = slab_alloc(&x->a);
	(void)q;
}
#endif

static void test_panics(void **state)
{
	struct panic_ctx x;

	x.m = t_machine_new(8);
	assert_int_equal(slab_cache_init(&x.a, x.m, "a", 64, 8), 0);
	assert_int_equal(slab_cache_init(&x.b, x.m, "b", 2048, 8), 0);
	assert_int_equal(x.b.order, 2);

	expect_panic(destroy_with_live_object, &x);
	expect_panic(immediate_double_free, &x);
	expect_panic(double_free_last_object, &x);
	expect_panic(foreign_cache, &x);
	expect_panic(middle_of_object, &x);
	expect_panic(outside_machine, &x);
	expect_panic(not_a_slab_frame, &x);
	expect_panic(tail_page_of_other_cache, &x);
#if ENV_DEBUG
	expect_panic(later_double_free, &x);
	expect_panic(write_after_free, &x);
#endif
	/* The parent's caches are untouched. */
	assert_int_equal(x.a.nr_active, 0);
	slab_cache_destroy(&x.b);
	slab_cache_destroy(&x.a);
	machine_done(x.m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_many_sizes),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_empty_slab_release),
		cmocka_unit_test(test_zalloc),
#if ENV_DEBUG
		cmocka_unit_test(test_debug_junk_and_poison),
#endif
		cmocka_unit_test(test_machine_caches),
		cmocka_unit_test(test_fail_injection),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_check_detects_corruption),
		cmocka_unit_test(test_panics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
