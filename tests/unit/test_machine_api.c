/*
 * Tests of the public machine API (include/aspace/aspace.h): config
 * defaults and validation, creation and teardown, statistics, the checker's
 * report, draining, failure injection and the allocation counter. Frames
 * and objects are allocated with the internal calls to move the counters.
 */
#include "testlib.h"

#include "machine/machine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1ull << 20)

static void test_config_defaults(void **state)
{
	struct as_machine_config cfg;

	memset(&cfg, 0x55, sizeof(cfg));
	as_machine_config_init(&cfg);
	assert_int_equal(cfg.ram_bytes, 1ull << 30);
	assert_int_equal(cfg.overcommit_memory, 0);
	assert_int_equal(cfg.overcommit_ratio, 50);
	assert_int_equal(cfg.max_map_count, 65530);
	assert_int_equal(cfg.mmap_min_addr, 65536);
	assert_int_equal(cfg.zero_page, 1);
	assert_int_equal(cfg.legacy_va_layout, 0);
	assert_int_equal(cfg.stack_guard_gap, 256 * 4096);
	assert_int_equal(cfg.prefault, 0);
}

/* as_machine_new must refuse `cfg` with -EINVAL and leave *out NULL. */
static void assert_rejected(const struct as_machine_config *cfg)
{
	struct as_machine *m = (struct as_machine *)0x1;

	assert_int_equal(as_machine_new(cfg, &m), -EINVAL);
	assert_null(m);
}

static void test_config_validation(void **state)
{
	struct as_machine_config cfg;
	struct as_machine *m = NULL;

#define BAD(field, value)                       \
	do {                                    \
		as_machine_config_init(&cfg);   \
		cfg.field = (value);            \
		assert_rejected(&cfg);          \
	} while (0)

	BAD(ram_bytes, 0);
	BAD(ram_bytes, MiB - 4096);
	BAD(ram_bytes, 2 * MiB + 1);
	BAD(ram_bytes, 2 * MiB + 2048);
	BAD(ram_bytes, 1ull << 44);
	BAD(ram_bytes, (1ull << 45) + 4096);
	BAD(overcommit_memory, -1);
	BAD(overcommit_memory, 3);
	BAD(overcommit_ratio, -1);
	BAD(max_map_count, 0);
	BAD(stack_guard_gap, 4095);
	BAD(stack_guard_gap, 256 * 4096 + 1);
#undef BAD

	/* The limits themselves are fine. */
	as_machine_config_init(&cfg);
	cfg.ram_bytes = MiB;
	cfg.overcommit_memory = 2;
	cfg.overcommit_ratio = 0;
	cfg.max_map_count = 1;
	cfg.stack_guard_gap = 0;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	t_assert_machine_clean(m);
	as_machine_free(m);

	assert_int_equal(as_machine_new(NULL, NULL), -EINVAL);
}

static void test_default_machine(void **state)
{
	struct as_machine *m = NULL;
	struct as_machine_config cfg, def;
	struct as_machine_stats st;

	assert_int_equal(as_machine_new(NULL, &m), 0);
	assert_non_null(m);
	as_machine_get_config(m, &cfg);
	as_machine_config_init(&def);
	assert_memory_equal(&cfg, &def, sizeof(cfg));
	as_machine_get_stats(m, &st);
	assert_int_equal(st.total_frames, (1ull << 30) / 4096);
	t_assert_machine_clean(m);
	as_machine_free(m);
	as_machine_free(NULL);
}

static void test_config_roundtrip(void **state)
{
	struct as_machine_config cfg, got;
	struct as_machine *m = NULL;
	struct as_machine_stats st;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = 3 * MiB + 5 * 4096;
	cfg.overcommit_memory = 2;
	cfg.overcommit_ratio = 80;
	cfg.max_map_count = 1000;
	cfg.mmap_min_addr = 4096;
	cfg.zero_page = 0;
	cfg.legacy_va_layout = 1;
	cfg.stack_guard_gap = 4096;
	cfg.prefault = 1;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	as_machine_get_config(m, &got);
	assert_memory_equal(&cfg, &got, sizeof(cfg));
	as_machine_get_stats(m, &st);
	assert_int_equal(st.total_frames, 3 * 256 + 5);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Every field of a fresh machine's snapshot, and each kind counter moving. */
static void test_stats_fields(void **state)
{
	struct as_machine *m = t_machine_new(32);
	struct as_machine_stats st;
	uint64_t blocks = 0;
	pfn_t f[6];
	void *obj;

	as_machine_get_stats(m, &st);
	assert_int_equal(st.total_frames, 8192);
	assert_int_equal(st.free_frames, 8191);
	assert_int_equal(st.cached_frames, 0);
	assert_int_equal(st.slab_frames, 0);
	assert_int_equal(st.pgtable_frames, 0);
	assert_int_equal(st.user_frames, 0);
	assert_int_equal(st.reserved_frames, 1);
	assert_int_equal(st.allocations, 0);
	assert_int_equal(st.failed_allocations, 0);
	for (unsigned o = 0; o <= AS_MAX_ORDER; o++)
		blocks += st.free_blocks[o] << o;
	assert_int_equal(blocks, st.free_frames - st.cached_frames);

	f[0] = frame_alloc(m, 0, FA_ANON);
	f[1] = frame_alloc(m, 1, FA_FILE);
	f[2] = frame_alloc(m, 2, FA_SHMEM);
	f[3] = frame_alloc(m, 0, FA_PGTABLE);
	f[4] = frame_alloc(m, 3, FA_SLAB);
	f[5] = frame_alloc(m, 0, FA_RESERVED);
	obj = slab_alloc(machine_cache(m, MC_VMA));
	assert_non_null(obj);
	as_machine_get_stats(m, &st);
	assert_int_equal(st.user_frames, 1 + 2 + 4);
	assert_int_equal(st.pgtable_frames, 1);
	assert_int_equal(st.slab_frames, 8 + (1u << machine_cache(m, MC_VMA)->order));
	assert_int_equal(st.reserved_frames, 2);
	assert_int_equal(st.allocations, 7);
	assert_int_equal(st.failed_allocations, 0);
	assert_true(st.cached_frames > 0); /* order-0 allocations filled this thread's cache */
	assert_int_equal(st.free_frames, 8192 - 1 - 7 - 1 - 8 - 1 - (1u << machine_cache(m, MC_VMA)->order));
	blocks = 0;
	for (unsigned o = 0; o <= AS_MAX_ORDER; o++)
		blocks += st.free_blocks[o] << o;
	assert_int_equal(blocks + st.cached_frames, st.free_frames);

	/* FA_SLAB frames outside a slab cache are a checker error (machine.h). */
	assert_int_equal(as_machine_check(m, NULL), -EUCLEAN);
	frame_free(m, f[4], 3);
	t_assert_machine_ok(m);
	slab_free(machine_cache(m, MC_VMA), obj);
	frame_free(m, f[0], 0);
	frame_free(m, f[1], 1);
	frame_put(m, f[2]);
	frame_put(m, f[3]);
	frame_free(m, f[5], 0);
	as_machine_get_stats(m, &st);
	assert_int_equal(st.user_frames + st.pgtable_frames, 0);
	assert_int_equal(st.reserved_frames, 1);
	t_assert_machine_clean(m);
	as_machine_get_stats(m, &st);
	assert_int_equal(st.slab_frames, 0);
	assert_int_equal(st.cached_frames, 0);
	as_machine_free(m);
}

static void test_check_report(void **state)
{
	struct as_machine *m = t_machine_new(4);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(as_machine_check(m, f), 0);
	fflush(f);
	assert_int_equal(len, 0); /* nothing to say */
	m->nr_free[0] += 2;
	assert_int_equal(as_machine_check(m, f), -EUCLEAN);
	assert_int_equal(as_machine_check(m, NULL), -EUCLEAN);
	m->nr_free[0] -= 2;
	fclose(f);
	assert_non_null(strstr(buf, "nr_free"));
	free(buf);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static void test_fail_nth_and_count(void **state)
{
	struct as_machine *m = t_machine_new(8);
	struct slab_cache *c = machine_cache(m, MC_ANON);
	uint64_t base = as_machine_alloc_count(m);
	void *o1, *o2, *o3;
	pfn_t f1, f2;

	/* Frames and objects share one count and one injection. */
	as_machine_fail_nth(m, 3);
	o1 = slab_alloc(c);
	f1 = frame_alloc(m, 0, FA_ANON);
	o2 = slab_alloc(c); /* the third: fails */
	f2 = frame_alloc(m, 0, FA_ANON);
	o3 = slab_alloc(c);
	assert_non_null(o1);
	assert_int_not_equal(f1, PFN_NONE);
	assert_null(o2);
	assert_int_not_equal(f2, PFN_NONE);
	assert_non_null(o3);
	assert_int_equal(as_machine_alloc_count(m), base + 5);

	as_machine_fail_nth(m, 1);
	assert_int_equal(frame_alloc(m, 0, FA_ANON), PFN_NONE);
	assert_int_equal(as_machine_alloc_count(m), base + 6);
	assert_non_null(o2 = slab_alloc(c));

	slab_free(c, o1);
	slab_free(c, o2);
	slab_free(c, o3);
	frame_free(m, f1, 0);
	frame_free(m, f2, 0);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static void *alloc_in_thread(void *arg)
{
	struct as_machine *m = arg;
	pfn_t p[40];

	for (int i = 0; i < 40; i++)
		p[i] = frame_alloc(m, 0, FA_ANON);
	for (int i = 0; i < 40; i++)
		frame_free(m, p[i], 0);
	return NULL;
}

/* After drain, free + reserved == total, even with several threads having cached frames. */
static void test_drain(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_machine_stats st;
	pthread_t t[3];
	void *objs[100];

	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, alloc_in_thread, m), 0);
	for (int i = 0; i < 100; i++)
		objs[i] = slab_alloc(machine_cache(m, MC_MM));
	for (int i = 0; i < 100; i++)
		slab_free(machine_cache(m, MC_MM), objs[i]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	alloc_in_thread(m);
	as_machine_get_stats(m, &st);
	assert_true(st.cached_frames > 0);
	assert_true(st.slab_frames > 0); /* the kept empty slab */
	as_machine_drain(m);
	as_machine_get_stats(m, &st);
	assert_int_equal(st.cached_frames, 0);
	assert_int_equal(st.slab_frames, 0);
	assert_int_equal(st.free_frames + st.reserved_frames, st.total_frames);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Many machines, one after another and side by side, on several threads. */
static void *machine_churn(void *arg)
{
	for (int i = 0; i < 20; i++) {
		struct as_machine *m = t_machine_new(1 + (uint64_t)(i % 3));
		pfn_t p = frame_alloc(m, 0, FA_ANON);

		frame_free(m, p, 0);
		t_assert_machine_clean(m);
		as_machine_free(m);
	}
	return arg;
}

static void test_machine_churn(void **state)
{
	struct as_machine *a = t_machine_new(2), *b = t_machine_new(2);
	pfn_t pa = frame_alloc(a, 0, FA_ANON), pb = frame_alloc(b, 0, FA_ANON);
	pthread_t t[2];

	/* One thread, two machines: two caches. */
	frame_free(a, pa, 0);
	frame_free(b, pb, 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, machine_churn, NULL), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	machine_churn(NULL);
	t_assert_machine_clean(a);
	t_assert_machine_clean(b);
	as_machine_free(a);
	as_machine_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_validation),
		cmocka_unit_test(test_default_machine),
		cmocka_unit_test(test_config_roundtrip),
		cmocka_unit_test(test_stats_fields),
		cmocka_unit_test(test_check_report),
		cmocka_unit_test(test_fail_nth_and_count),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_machine_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
