/*
 * Unit tests of src/machine/frames.c: the buddy allocator (split,
 * coalesce, every order, exhaustion, pools that are no multiple of a
 * MAX_ORDER block), zeroing, reference counts, failure injection, the
 * per-thread caches, the zone-lock fallback, and the validator catching a
 * corrupted free list. Panics are tested in fork()ed children.
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

#define MiB (1ull << 20)

static void stats(struct as_machine *m, struct as_machine_stats *st)
{
	as_machine_get_stats(m, st);
}

/* A machine of exactly `nframes` frames, default settings otherwise. */
static struct as_machine *machine_of_frames(uint64_t nframes)
{
	struct as_machine_config cfg;
	struct as_machine *m = NULL;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = nframes * PAGE_SIZE;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	return m;
}

static void machine_done(struct as_machine *m)
{
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* machine_check must fail and say something containing `needle`. */
static void assert_check_fails(struct as_machine *m, const char *needle)
{
	char buf[512] = "";

	assert_int_equal(machine_check(m, buf, sizeof(buf)), -EUCLEAN);
	if (!strstr(buf, needle))
		fail_msg("check said \"%s\", expected something about \"%s\"", buf, needle);
}

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

static uint64_t blocks_frames(const struct as_machine_stats *st)
{
	uint64_t n = 0;

	for (unsigned o = 0; o <= AS_MAX_ORDER; o++)
		n += st->free_blocks[o] << o;
	return n;
}

/* A fresh 64 MiB pool is 16 MAX_ORDER blocks, one of them broken up for the zero page. */
static void test_fresh_pool(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_machine_stats st;

	stats(m, &st);
	assert_int_equal(st.total_frames, 16384);
	assert_int_equal(st.free_frames, 16383);
	assert_int_equal(st.cached_frames, 0);
	assert_int_equal(st.reserved_frames, 1);
	assert_int_equal(st.free_blocks[AS_MAX_ORDER], 15);
	for (unsigned o = 0; o < AS_MAX_ORDER; o++)
		assert_int_equal(st.free_blocks[o], 1);
	assert_int_equal(blocks_frames(&st), st.free_frames - st.cached_frames);
	assert_true(frame_page(m, m->zero_pfn)->flags & PG_RESERVED);
	machine_done(m);
}

static void test_split_and_coalesce(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_machine_stats before, mid, after;
	pfn_t pfn, big;

	stats(m, &before);
	pfn = frame_alloc(m, 0, FA_ANON);
	assert_int_not_equal(pfn, PFN_NONE);
	big = frame_alloc(m, 4, FA_FILE);
	assert_int_not_equal(big, PFN_NONE);
	stats(m, &mid);
	/* Blocks were split: the per-order counts moved. */
	assert_memory_not_equal(before.free_blocks, mid.free_blocks, sizeof(mid.free_blocks));
	assert_int_equal(mid.free_frames, before.free_frames - 1 - 16);
	assert_int_equal(blocks_frames(&mid) + mid.cached_frames, mid.free_frames);
	assert_int_equal(mid.user_frames, 17);
	t_assert_machine_ok(m);

	frame_free(m, big, 4);
	frame_free(m, pfn, 0);
	frame_tcache_flush(m);
	stats(m, &after);
	assert_memory_equal(before.free_blocks, after.free_blocks, sizeof(before.free_blocks));
	assert_int_equal(after.free_frames, before.free_frames);
	assert_int_equal(after.user_frames, 0);
	machine_done(m);
}

/* Every order: aligned, head and tails described, counted, zeroable. */
static void test_every_order(void **state)
{
	struct as_machine *m = t_machine_new(16);

	for (unsigned o = 0; o <= MAX_ORDER; o++) {
		pfn_t pfn = frame_alloc(m, o, FA_SHMEM | FA_ZERO);
		struct as_machine_stats st;
		struct page *head;
		uint8_t *p;

		assert_int_not_equal(pfn, PFN_NONE);
		assert_int_equal(pfn & ((1u << o) - 1), 0);
		head = frame_page(m, pfn);
		assert_int_equal(atomic_load(&head->refcount), 1);
		assert_int_equal(atomic_load(&head->mapcount), 0);
		assert_true(head->flags & PG_SHMEM);
		if (o == 0) {
			assert_false(head->flags & (PG_HEAD | PG_TAIL));
		} else {
			assert_true(head->flags & PG_HEAD);
			assert_int_equal(page_order(head), o);
			for (unsigned i = 1; i < (1u << o); i++) {
				assert_int_equal(frame_page(m, pfn + i)->flags, PG_TAIL | PG_SHMEM);
				assert_int_equal(atomic_load(&frame_page(m, pfn + i)->refcount), 0);
			}
		}
		p = frame_to_host(m, pfn);
		for (uint64_t i = 0; i < (PAGE_SIZE << o); i++)
			if (p[i] != 0)
				fail_msg("order %u: byte %llu not zero", o, (unsigned long long)i);
		memset(p, 0x5a, PAGE_SIZE << o);
		stats(m, &st);
		assert_int_equal(st.user_frames, 1ull << o);
		t_assert_machine_ok(m);
		frame_free(m, pfn, o);
		stats(m, &st);
		assert_int_equal(st.user_frames, 0);
	}
	machine_done(m);
}

/* Allocate order-0 frames until none is left; then give them all back. */
static void test_exhaustion_order0(void **state)
{
	struct as_machine *m = t_machine_new(4);
	uint64_t n = m->nframes;
	pfn_t *got = calloc(n, sizeof(*got));
	uint8_t *seen = calloc(n, 1);
	struct as_machine_stats st, before;
	uint64_t count = 0;

	stats(m, &before);
	for (;;) {
		pfn_t pfn = frame_alloc(m, 0, FA_ANON);

		if (pfn == PFN_NONE)
			break;
		assert_true(pfn < n);
		assert_false(seen[pfn]);
		seen[pfn] = 1;
		got[count++] = pfn;
		assert_true(count < n);
	}
	assert_int_equal(count, n - 1); /* all but the zero page */
	stats(m, &st);
	assert_int_equal(st.free_frames, 0);
	assert_int_equal(st.user_frames, n - 1);
	assert_int_equal(st.failed_allocations, before.failed_allocations + 1);
	assert_int_equal(frame_alloc(m, 3, FA_ANON), PFN_NONE);
	t_assert_machine_ok(m);
	for (uint64_t i = 0; i < count; i++)
		frame_free(m, got[i], 0);
	frame_tcache_flush(m);
	stats(m, &st);
	assert_memory_equal(before.free_blocks, st.free_blocks, sizeof(st.free_blocks));
	free(got);
	free(seen);
	machine_done(m);
}

/* Exhaust with mixed orders; frees in a scrambled order must coalesce completely. */
static void test_exhaustion_mixed(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct { pfn_t pfn; unsigned order; } *got = calloc(m->nframes, sizeof(*got));
	struct as_machine_stats before, st;
	uint64_t count = 0, frames = 0;
	unsigned seed = 12345;

	stats(m, &before);
	for (unsigned order = MAX_ORDER + 1; order-- > 0;) {
		for (;;) {
			pfn_t pfn = frame_alloc(m, order, FA_PGTABLE);

			if (pfn == PFN_NONE)
				break;
			got[count].pfn = pfn;
			got[count].order = order;
			count++;
			frames += 1ull << order;
		}
	}
	assert_int_equal(frames, m->nframes - 1);
	stats(m, &st);
	assert_int_equal(st.free_frames, 0);
	assert_int_equal(st.pgtable_frames, m->nframes - 1);
	t_assert_machine_ok(m);
	/* Fisher-Yates with a fixed seed. */
	for (uint64_t i = count; i > 1; i--) {
		uint64_t j = (uint64_t)rand_r(&seed) % i;
		__typeof__(*got) t = got[i - 1];

		got[i - 1] = got[j];
		got[j] = t;
	}
	for (uint64_t i = 0; i < count; i++) {
		frame_free(m, got[i].pfn, got[i].order);
		if (i % 97 == 0)
			t_assert_machine_ok(m);
	}
	frame_tcache_flush(m);
	stats(m, &st);
	assert_memory_equal(before.free_blocks, st.free_blocks, sizeof(st.free_blocks));
	free(got);
	machine_done(m);
}

/* Pools of sizes that are no multiple of 2^MAX_ORDER frames. */
static void test_odd_pool_sizes(void **state)
{
	static const uint64_t sizes[] = { 256, 257, 300, 1023, 1025, 1537, 3001, 4097, 5555 };

	for (size_t s = 0; s < AS_ARRAY_SIZE(sizes); s++) {
		uint64_t n = sizes[s];
		struct as_machine *m = machine_of_frames(n);
		struct as_machine_stats before, st;
		pfn_t *got = calloc(n, sizeof(*got));
		uint64_t count = 0;

		stats(m, &before);
		assert_int_equal(before.total_frames, n);
		assert_int_equal(before.free_frames, n - 1);
		assert_int_equal(blocks_frames(&before), n - 1);
		t_assert_machine_ok(m);

		while ((got[count] = frame_alloc(m, 0, FA_FILE)) != PFN_NONE) {
			assert_true(got[count] < n);
			count++;
		}
		assert_int_equal(count, n - 1);
		t_assert_machine_ok(m);
		for (uint64_t i = count; i-- > 0;)
			frame_free(m, got[i], 0);
		frame_tcache_flush(m);
		stats(m, &st);
		assert_memory_equal(before.free_blocks, st.free_blocks, sizeof(st.free_blocks));
		machine_done(m);
		free(got);
	}
}

/* A pool is seeded with the largest aligned blocks: its size's binary digits from MAX_ORDER down. */
static void test_seed_decomposition(void **state)
{
	uint64_t n = 1024 * 3 + 512 + 64 + 3; /* 3651 frames */
	struct as_machine *m = machine_of_frames(n);
	struct as_machine_stats st;

	/* Give the zero page back to see the raw seed, then take it again. */
	frame_free(m, m->zero_pfn, 0);
	frame_tcache_flush(m);
	stats(m, &st);
	assert_int_equal(st.free_blocks[10], 3);
	assert_int_equal(st.free_blocks[9], 1);
	assert_int_equal(st.free_blocks[6], 1);
	assert_int_equal(st.free_blocks[1], 1);
	assert_int_equal(st.free_blocks[0], 1);
	assert_int_equal(st.free_blocks[2] + st.free_blocks[3] + st.free_blocks[4] +
				 st.free_blocks[5] + st.free_blocks[7] + st.free_blocks[8],
			 0);
	m->zero_pfn = frame_alloc(m, 0, FA_RESERVED | FA_ZERO | FA_NOFAIL);
	assert_int_not_equal(m->zero_pfn, PFN_NONE);
	machine_done(m);
}

static void test_zeroed_after_dirty_free(void **state)
{
	struct as_machine *m = t_machine_new(8);

	for (unsigned o = 0; o <= 3; o++) {
		pfn_t a = frame_alloc(m, o, FA_ANON), b;
		uint8_t *p;

		assert_int_not_equal(a, PFN_NONE);
		memset(frame_to_host(m, a), 0xff, PAGE_SIZE << o);
		frame_free(m, a, o);
		b = frame_alloc(m, o, FA_ANON | FA_ZERO);
		/* LIFO reuse: the same dirty block comes back, now zeroed. */
		assert_int_equal(b, a);
		p = frame_to_host(m, b);
		for (uint64_t i = 0; i < (PAGE_SIZE << o); i++)
			if (p[i] != 0)
				fail_msg("order %u byte %llu is %#x", o, (unsigned long long)i, p[i]);
		frame_free(m, b, o);
	}
	machine_done(m);
}

#if ENV_DEBUG
static void test_free_poisons(void **state)
{
	struct as_machine *m = t_machine_new(8);
	pfn_t a = frame_alloc(m, 1, FA_ANON);
	uint8_t *p = frame_to_host(m, a);

	memset(p, 0, 2 * PAGE_SIZE);
	frame_free(m, a, 1);
	for (uint64_t i = 0; i < 2 * PAGE_SIZE; i++)
		assert_int_equal(p[i], ENV_POISON_FREE);
	machine_done(m);
}

static void write_after_free(void *arg)
{
	struct as_machine *m = arg;
	pfn_t a = frame_alloc(m, 0, FA_ANON), b;

	frame_free(m, a, 0);
	((uint8_t *)frame_to_host(m, a))[100] = 1;
	b = frame_alloc(m, 0, FA_ANON); /* the same frame: the poison check panics */
	(void)b;
}

static void test_write_after_free_caught(void **state)
{
	struct as_machine *m = t_machine_new(8);

	expect_panic(write_after_free, m);
	machine_done(m);
}
#endif

static void test_refcount(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct as_machine_stats st0, st;
	pfn_t a, b;

	frame_tcache_flush(m);
	stats(m, &st0);
	a = frame_alloc(m, 0, FA_ANON);
	b = frame_alloc(m, 2, FA_FILE);
	assert_int_not_equal(a, PFN_NONE);
	assert_int_not_equal(b, PFN_NONE);
	frame_get(m, a);
	frame_get(m, a);
	frame_get(m, b);
	assert_int_equal(atomic_load(&frame_page(m, a)->refcount), 3);
	frame_put(m, a);
	frame_put(m, a);
	frame_put(m, b);
	stats(m, &st);
	assert_int_equal(st.free_frames, st0.free_frames - 5);
	assert_int_equal(atomic_load(&frame_page(m, a)->refcount), 1);
	frame_put(m, a);
	frame_put(m, b); /* the order comes from the head page */
	stats(m, &st);
	assert_int_equal(st.free_frames, st0.free_frames);
	assert_int_equal(st.user_frames, 0);
	assert_true(frame_page(m, a)->flags & (PG_TCACHE | PG_BUDDY));
	machine_done(m);
}

static void double_free(void *arg)
{
	struct as_machine *m = arg;
	pfn_t a = frame_alloc(m, 0, FA_ANON);

	frame_free(m, a, 0);
	frame_free(m, a, 0);
}

static void double_free_high_order(void *arg)
{
	struct as_machine *m = arg;
	pfn_t a = frame_alloc(m, 3, FA_ANON);

	frame_free(m, a, 3);
	frame_free(m, a, 3);
}

static void wrong_order_free(void *arg)
{
	struct as_machine *m = arg;
	pfn_t a = frame_alloc(m, 2, FA_ANON);

	frame_free(m, a, 1);
}

static void put_of_free_frame(void *arg)
{
	struct as_machine *m = arg;
	pfn_t a = frame_alloc(m, 0, FA_ANON);

	frame_put(m, a);
	frame_put(m, a);
}

static void two_kinds(void *arg)
{
	struct as_machine *m = arg;
	pfn_t a = frame_alloc(m, 0, FA_ANON | FA_FILE);

	(void)a;
}

static void test_misuse_panics(void **state)
{
	struct as_machine *m = t_machine_new(8);

	expect_panic(double_free, m);
	expect_panic(double_free_high_order, m);
	expect_panic(wrong_order_free, m);
	expect_panic(put_of_free_frame, m);
	expect_panic(two_kinds, m);
	machine_done(m);
}

static void test_fail_nth(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct as_machine_stats st0, st;
	uint64_t c0 = as_machine_alloc_count(m);
	pfn_t p[6];

	stats(m, &st0);
	as_machine_fail_nth(m, 3);
	p[0] = frame_alloc(m, 0, FA_ANON);
	p[1] = frame_alloc(m, 1, FA_ANON);
	p[2] = frame_alloc(m, 0, FA_ANON);
	p[3] = frame_alloc(m, 0, FA_ANON);
	p[4] = frame_alloc(m, 2, FA_ANON);
	p[5] = frame_alloc(m, 0, FA_ANON | FA_NOFAIL); /* never counted, never injected */
	assert_int_not_equal(p[0], PFN_NONE);
	assert_int_not_equal(p[1], PFN_NONE);
	assert_int_equal(p[2], PFN_NONE);
	assert_int_not_equal(p[3], PFN_NONE);
	assert_int_not_equal(p[4], PFN_NONE);
	assert_int_not_equal(p[5], PFN_NONE);
	assert_int_equal(as_machine_alloc_count(m), c0 + 5);
	stats(m, &st);
	assert_int_equal(st.allocations, st0.allocations + 5);
	assert_int_equal(st.failed_allocations, st0.failed_allocations + 1);
	frame_free(m, p[0], 0);
	frame_free(m, p[1], 1);
	frame_free(m, p[3], 0);
	frame_free(m, p[4], 2);
	frame_free(m, p[5], 0);

	/* Fires once only; n == 0 disarms. */
	for (int i = 0; i < 10; i++) {
		pfn_t q = frame_alloc(m, 0, FA_ANON);

		assert_int_not_equal(q, PFN_NONE);
		frame_free(m, q, 0);
	}
	as_machine_fail_nth(m, 1);
	as_machine_fail_nth(m, 0);
	p[0] = frame_alloc(m, 0, FA_ANON);
	assert_int_not_equal(p[0], PFN_NONE);
	frame_free(m, p[0], 0);

	/* A sweep: the n-th of 4 allocations fails, every n. */
	for (uint64_t n = 1; n <= 4; n++) {
		as_machine_fail_nth(m, n);
		for (uint64_t i = 1; i <= 4; i++) {
			pfn_t q = frame_alloc(m, (unsigned)(i & 1), FA_SLAB);

			assert_true((q == PFN_NONE) == (i == n));
			if (q != PFN_NONE)
				frame_free(m, q, (unsigned)(i & 1));
		}
	}
	machine_done(m);
}

static void *alloc_then_wait(void *arg)
{
	struct as_machine *m = ((void **)arg)[0];
	pthread_barrier_t *bar = ((void **)arg)[1];

	for (int i = 0; i < 100; i++) {
		pfn_t p = frame_alloc(m, 0, FA_ANON);

		frame_free(m, p, 0);
	}
	pthread_barrier_wait(bar); /* main arms the injection now */
	pthread_barrier_wait(bar);
	return NULL; /* exiting folds this thread's 100 attempts into the machine */
}

/* A thread exiting while injection is armed neither fires it nor makes it miss. */
static void test_fail_nth_across_thread_exit(void **state)
{
	struct as_machine *m = t_machine_new(8);
	pthread_barrier_t bar;
	void *args[2] = { m, &bar };
	uint64_t before;
	pthread_t t;
	pfn_t a, b;

	pthread_barrier_init(&bar, NULL, 2);
	assert_int_equal(pthread_create(&t, NULL, alloc_then_wait, args), 0);
	pthread_barrier_wait(&bar);
	before = as_machine_alloc_count(m);
	as_machine_fail_nth(m, 2);
	pthread_barrier_wait(&bar);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(as_machine_alloc_count(m), before);
	a = frame_alloc(m, 0, FA_ANON);
	b = frame_alloc(m, 0, FA_ANON);
	assert_int_not_equal(a, PFN_NONE);
	assert_int_equal(b, PFN_NONE);
	assert_int_equal(as_machine_alloc_count(m), before + 2);
	frame_free(m, a, 0);
	pthread_barrier_destroy(&bar);
	machine_done(m);
}

/* ---- Per-thread caches ---- */

struct worker {
	struct as_machine *m;
	unsigned seed;
	int iters;
	uint64_t allocated;
};

/*
 * Random order-0 (mostly) and small higher-order allocations, each frame
 * stamped with its owner and checked before it is freed: two threads
 * handed the same frame would clobber each other's stamps.
 */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	enum { HOLD = 200 };
	pfn_t held[HOLD];
	unsigned ord[HOLD];
	int n = 0;

	for (int it = 0; it < w->iters; it++) {
		if (n < HOLD && (n == 0 || rand_r(&w->seed) % 3 != 0)) {
			unsigned o = rand_r(&w->seed) % 8 == 0 ? (unsigned)(rand_r(&w->seed) % 4) : 0;
			pfn_t p = frame_alloc(w->m, o, FA_ANON);

			if (p == PFN_NONE)
				continue;
			*(uint64_t *)frame_to_host(w->m, p) = (uint64_t)(uintptr_t)w ^ p;
			held[n] = p;
			ord[n] = o;
			n++;
			w->allocated++;
		} else {
			int i = rand_r(&w->seed) % n;

			if (*(uint64_t *)frame_to_host(w->m, held[i]) != ((uint64_t)(uintptr_t)w ^ held[i]))
				return (void *)1;
			frame_free(w->m, held[i], ord[i]);
			held[i] = held[--n];
			ord[i] = ord[n];
		}
	}
	while (n > 0) {
		n--;
		frame_free(w->m, held[n], ord[n]);
	}
	return NULL;
}

static void test_threads(void **state)
{
	enum { NT = 4 };
	struct as_machine *m = t_machine_new(64);
	pthread_t t[NT];
	struct worker w[NT];
	struct as_machine_stats st;

	for (int i = 0; i < NT; i++) {
		w[i] = (struct worker){ .m = m, .seed = 1000u + (unsigned)i, .iters = 100000 };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NT; i++) {
		void *ret;

		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
		assert_true(w[i].allocated > 1000);
	}
	/* Every worker's cache went back when it exited. */
	stats(m, &st);
	assert_int_equal(st.cached_frames, 0);
	assert_int_equal(st.user_frames, 0);
	machine_done(m);
}

static void *cache_and_exit(void *arg)
{
	struct as_machine *m = arg;
	struct as_machine_stats st;
	pfn_t p[10];

	for (int i = 0; i < 10; i++)
		p[i] = frame_alloc(m, 0, FA_ANON);
	for (int i = 0; i < 10; i++)
		frame_free(m, p[i], 0);
	as_machine_get_stats(m, &st);
	return (void *)(uintptr_t)st.cached_frames;
}

static void test_thread_exit_returns_cache(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct as_machine_stats st0, st;
	pthread_t t;
	void *cached;

	stats(m, &st0);
	assert_int_equal(st0.cached_frames, 0);
	assert_int_equal(pthread_create(&t, NULL, cache_and_exit, m), 0);
	assert_int_equal(pthread_join(t, &cached), 0);
	assert_true((uintptr_t)cached >= 10);
	stats(m, &st);
	assert_int_equal(st.cached_frames, 0);
	assert_memory_equal(st0.free_blocks, st.free_blocks, sizeof(st.free_blocks));
	machine_done(m);
}

static void *cache_and_wait(void *arg)
{
	struct as_machine *m = ((void **)arg)[0];
	pthread_barrier_t *bar = ((void **)arg)[1];
	pfn_t p = frame_alloc(m, 0, FA_ANON);

	frame_free(m, p, 0);
	pthread_barrier_wait(bar); /* cache filled */
	pthread_barrier_wait(bar); /* main drained */
	return NULL;
}

/* as_machine_drain empties a live, idle thread's cache too. */
static void test_drain_other_threads(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct as_machine_stats st;
	pthread_barrier_t bar;
	void *args[2] = { m, &bar };
	pthread_t t;

	pthread_barrier_init(&bar, NULL, 2);
	assert_int_equal(pthread_create(&t, NULL, cache_and_wait, args), 0);
	pthread_barrier_wait(&bar);
	stats(m, &st);
	assert_true(st.cached_frames > 0);
	as_machine_drain(m);
	stats(m, &st);
	assert_int_equal(st.cached_frames, 0);
	assert_int_equal(st.free_frames + st.reserved_frames, st.total_frames);
	t_assert_machine_ok(m);
	pthread_barrier_wait(&bar);
	assert_int_equal(pthread_join(t, NULL), 0);
	pthread_barrier_destroy(&bar);
	machine_done(m);
}

/* A full cache gives a batch back; the cache never holds more than its cap. */
static void test_tcache_bounds(void **state)
{
	struct as_machine *m = t_machine_new(8);
	pfn_t p[300];
	struct as_machine_stats st;

	for (int i = 0; i < 300; i++)
		p[i] = frame_alloc(m, 0, FA_ANON);
	stats(m, &st);
	assert_true(st.cached_frames < 64);
	for (int i = 0; i < 300; i++)
		frame_free(m, p[i], 0);
	stats(m, &st);
	assert_true(st.cached_frames > 0 && st.cached_frames <= 64);
	t_assert_machine_ok(m);
	machine_done(m);
}

/* Without a usable key every order-0 call takes the zone lock. */
static void test_zone_lock_fallback(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct as_machine_stats st0, st;
	pfn_t p[50];

	frame_tcache_flush(m);
	m->tcache_key_valid = false; /* white box: as if pthread_key_create had failed */
	stats(m, &st0);
	for (int i = 0; i < 50; i++)
		p[i] = frame_alloc(m, 0, FA_ANON);
	stats(m, &st);
	assert_int_equal(st.cached_frames, 0);
	assert_int_equal(st.free_frames, st0.free_frames - 50);
	for (int i = 0; i < 50; i++)
		frame_free(m, p[i], 0);
	stats(m, &st);
	assert_int_equal(st.cached_frames, 0);
	assert_memory_equal(st0.free_blocks, st.free_blocks, sizeof(st.free_blocks));
	m->tcache_key_valid = true;
	machine_done(m);
}

/* Higher orders reclaim this thread's cached frames before failing. */
static void test_high_order_reclaims_own_cache(void **state)
{
	struct as_machine *m = machine_of_frames(256);
	struct as_machine_stats st;
	bool *held = calloc(256, sizeof(*held));
	pfn_t p, big;

	while ((p = frame_alloc(m, 0, FA_ANON)) != PFN_NONE)
		held[p] = true;
	/*
	 * Free every frame, those with pfn % 8 == 0 last: they stay in this
	 * thread's cache and break every order-3 and larger block in the lists.
	 */
	for (pfn_t i = 0; i < 256; i++)
		if (held[i] && i % 8 != 0)
			frame_free(m, i, 0);
	for (pfn_t i = 0; i < 256; i += 8)
		frame_free(m, i, 0);
	stats(m, &st);
	assert_true(st.cached_frames >= 32);
	for (unsigned o = 3; o <= MAX_ORDER; o++)
		assert_int_equal(st.free_blocks[o], 0);
	big = frame_alloc(m, 6, FA_ANON);
	assert_int_not_equal(big, PFN_NONE);
	stats(m, &st);
	assert_int_equal(st.cached_frames, 0);
	frame_free(m, big, 6);
	free(held);
	machine_done(m);
}

/* ---- The validator ---- */

static pfn_t some_free_head(struct as_machine *m, unsigned *order)
{
	for (unsigned o = 1; o <= MAX_ORDER; o++) {
		if (m->free_head[o] != PFN_NONE) {
			*order = o;
			return m->free_head[o];
		}
	}
	fail_msg("no free block of order >= 1");
	return PFN_NONE;
}

static void test_check_detects_corruption(void **state)
{
	struct as_machine *m = t_machine_new(16);
	pfn_t a = frame_alloc(m, 0, FA_ANON), h;
	struct page saved, *pg;
	unsigned o = 0;
	char *rep = NULL;
	size_t replen = 0;
	FILE *f;

	frame_tcache_flush(m);
	t_assert_machine_ok(m);

	/* Wrong nr_free. */
	m->nr_free[3]++;
	assert_check_fails(m, "nr_free");
	m->nr_free[3]--;
	t_assert_machine_ok(m);

	/* A free head that lost its PG_BUDDY mark. */
	h = some_free_head(m, &o);
	pg = frame_page(m, h);
	saved = *pg;
	pg->flags &= ~PG_BUDDY;
	assert_check_fails(m, "not a free head");
	pg->flags = saved.flags;

	/* A wrong order on a free head. */
	pg->flags = (pg->flags & ~PG_ORDER_MASK) | ((o - 1) << PG_ORDER_SHIFT);
	assert_check_fails(m, "not a free head");
	pg->flags = saved.flags;

	/* The zone's free-head map disagreeing with the lists. */
	m->free_order[h + 1] = 1;
	assert_check_fails(m, "free_order");
	m->free_order[h + 1] = 0;

	/* A broken back link. */
	pg->prev = 7;
	assert_check_fails(m, "prev");
	pg->prev = saved.prev;

	/* A misaligned block on a list. */
	{
		pfn_t old = m->free_head[o];

		m->free_head[o] = old + 1;
		assert_check_fails(m, "aligned");
		m->free_head[o] = old;
	}
	t_assert_machine_ok(m);

	/* An allocated frame that lost its reference: neither free nor in use. */
	atomic_store(&frame_page(m, a)->refcount, 0);
	assert_check_fails(m, "lost");
	atomic_store(&frame_page(m, a)->refcount, 1);

	/* A kind counter off by one. */
	atomic_fetch_add(&m->nr_kind[page_kind_index(PG_ANON)], 1);
	assert_check_fails(m, "nr_kind");
	atomic_fetch_sub(&m->nr_kind[page_kind_index(PG_ANON)], 1);

	/* An allocated frame marked as cached, though in no cache. */
	frame_page(m, a)->flags |= PG_TCACHE;
	assert_check_fails(m, "in no cache");
	frame_page(m, a)->flags &= ~PG_TCACHE;

	/* Two order-(o-1) halves of a free block listed apart: not coalesced. */
	{
		pfn_t lo = h, hi = h + (1u << (o - 1));
		struct page *plo = frame_page(m, lo), *phi = frame_page(m, hi);
		struct page slo = *plo, shi = *phi;
		pfn_t old_head = m->free_head[o - 1];
		uint64_t nf_o = m->nr_free[o], nf_lo = m->nr_free[o - 1];

		assert_int_equal(m->free_head[o], h); /* h heads its list */
		m->free_head[o] = plo->next;
		if (plo->next != PFN_NONE)
			frame_page(m, plo->next)->prev = PFN_NONE;
		m->nr_free[o]--;
		plo->flags = PG_BUDDY | ((o - 1) << PG_ORDER_SHIFT) | (plo->flags & PG_POISONED);
		phi->flags = PG_BUDDY | ((o - 1) << PG_ORDER_SHIFT) | (phi->flags & PG_POISONED);
		plo->prev = PFN_NONE;
		plo->next = hi;
		phi->prev = lo;
		phi->next = old_head;
		if (old_head != PFN_NONE)
			frame_page(m, old_head)->prev = hi;
		m->free_head[o - 1] = lo;
		m->nr_free[o - 1] += 2;
		m->free_order[lo] = (uint8_t)o; /* 1 + (o - 1) */
		m->free_order[hi] = (uint8_t)o;
		assert_check_fails(m, "not merged");

		/* Through the public API too, with the description in the report. */
		f = open_memstream(&rep, &replen);
		assert_int_equal(as_machine_check(m, f), -EUCLEAN);
		fclose(f);
		assert_non_null(strstr(rep, "not merged"));
		free(rep);

		/* Restore. */
		if (old_head != PFN_NONE)
			frame_page(m, old_head)->prev = PFN_NONE;
		m->free_head[o - 1] = old_head;
		m->nr_free[o - 1] = nf_lo;
		*phi = shi;
		*plo = slo;
		if (plo->next != PFN_NONE)
			frame_page(m, plo->next)->prev = lo;
		m->free_head[o] = lo;
		m->nr_free[o] = nf_o;
		m->free_order[lo] = (uint8_t)(o + 1);
		m->free_order[hi] = 0;
	}
	t_assert_machine_ok(m);
	frame_free(m, a, 0);
	machine_done(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_pool),
		cmocka_unit_test(test_split_and_coalesce),
		cmocka_unit_test(test_every_order),
		cmocka_unit_test(test_exhaustion_order0),
		cmocka_unit_test(test_exhaustion_mixed),
		cmocka_unit_test(test_odd_pool_sizes),
		cmocka_unit_test(test_seed_decomposition),
		cmocka_unit_test(test_zeroed_after_dirty_free),
#if ENV_DEBUG
		cmocka_unit_test(test_free_poisons),
		cmocka_unit_test(test_write_after_free_caught),
#endif
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_misuse_panics),
		cmocka_unit_test(test_fail_nth),
		cmocka_unit_test(test_fail_nth_across_thread_exit),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_thread_exit_returns_cache),
		cmocka_unit_test(test_drain_other_threads),
		cmocka_unit_test(test_tcache_bounds),
		cmocka_unit_test(test_zone_lock_fallback),
		cmocka_unit_test(test_high_order_reclaims_own_cache),
		cmocka_unit_test(test_check_detects_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
