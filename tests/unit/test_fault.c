/* The fault handler through as_read/as_write/as_fetch: demand paging, COW, stack growth, signals. */
#include "testlib.h"

#include "mm/mm.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static struct as_machine *machine_with_zero_page(int zero_page)
{
	struct as_machine_config cfg;
	struct as_machine *m;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = 64 << 20;
	cfg.zero_page = zero_page;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	return m;
}

static long map(struct as_mm *mm, uint64_t addr, uint64_t len, int prot, int flags)
{
	return as_syscall(mm, SYS_mmap, addr, len, (uint64_t)prot, (uint64_t)flags, (uint64_t)-1, 0);
}

static void counters(struct as_mm *mm, struct as_mm_counters *c)
{
	as_mm_get_counters(mm, c);
}

/* Reads of fresh memory: the zero page (no RSS) or a zeroed frame, one fault per page. */
static void test_demand_zero(void **state)
{
	for (int zp = 0; zp <= 1; zp++) {
		struct as_machine *m = machine_with_zero_page(zp);
		struct as_mm *mm;
		struct as_mm_counters c;
		char buf[8192];
		long a;

		assert_int_equal(as_mm_new(m, &mm), 0);
		a = map(mm, 0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
		assert_true(a > 0);
		memset(buf, 1, sizeof(buf));
		assert_int_equal(as_read(mm, (uint64_t)a + 100, buf, 8000, NULL), 0);
		for (int i = 0; i < 8000; i++)
			assert_int_equal(buf[i], 0);
		counters(mm, &c);
		assert_int_equal(c.min_flt, 2);
		assert_int_equal(c.rss_anon, zp ? 0 : 2);
		assert_int_equal(c.zero_page_maps, zp ? 2 : 0);
		/* Writing a zero-page page replaces it by a frame: one more fault. */
		assert_int_equal(as_write(mm, (uint64_t)a, "hello", 5, NULL), 0);
		assert_int_equal(as_read(mm, (uint64_t)a, buf, 5, NULL), 0);
		assert_memory_equal(buf, "hello", 5);
		counters(mm, &c);
		assert_int_equal(c.min_flt, zp ? 3 : 2);
		assert_int_equal(c.rss_anon, zp ? 1 : 2);
		assert_int_equal(as_mm_check(mm, stderr), 0);
		as_mm_put(mm);
		t_assert_machine_clean(m);
		as_machine_free(m);
	}
}

static void test_segv_kinds(void **state)
{
	struct as_machine *m = machine_with_zero_page(0);
	struct as_mm *mm;
	struct as_fault f;
	struct as_mm_counters c;
	char b;
	long ro, none;

	assert_int_equal(as_mm_new(m, &mm), 0);
	ro = map(mm, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
	none = map(mm, 0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
	assert_int_equal(as_write(mm, (uint64_t)ro, "x", 1, &f), -EFAULT);
	assert_int_equal(f.signo, SIGSEGV);
	assert_int_equal(f.code, SEGV_ACCERR);
	assert_int_equal(f.addr, (uint64_t)ro);
	assert_int_equal(as_read(mm, (uint64_t)none + 5, &b, 1, &f), -EFAULT);
	assert_int_equal(f.code, SEGV_ACCERR);
	assert_int_equal(f.addr, (uint64_t)none + 5);
	assert_int_equal(as_read(mm, 0x1000, &b, 1, &f), -EFAULT);
	assert_int_equal(f.code, SEGV_MAPERR);
	/* A fetch from a readable, non-executable page maps it, then faults on NX. */
	counters(mm, &c);
	assert_int_equal(c.min_flt, 0);
	assert_int_equal(as_fetch(mm, (uint64_t)ro, &b, 1, &f), -EFAULT);
	assert_int_equal(f.code, SEGV_ACCERR);
	counters(mm, &c);
	assert_int_equal(c.min_flt, 1);
	/* A read crossing from a mapped page into a hole faults at the hole. */
	assert_int_equal(as_read(mm, (uint64_t)ro + 4090, (char[16]){ 0 }, 16, &f), -EFAULT);
	assert_int_equal(f.code, (uint64_t)ro + 4096 == (uint64_t)none ? SEGV_ACCERR : SEGV_MAPERR);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* After fork both sides see their own writes only; the first writer copies, the second reuses. */
static void test_cow_after_fork(void **state)
{
	struct as_machine *m = machine_with_zero_page(0);
	struct as_mm *p, *ch;
	struct as_mm_counters cp, cc;
	char buf[6];
	long a;

	assert_int_equal(as_mm_new(m, &p), 0);
	a = map(p, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	assert_int_equal(as_write(p, (uint64_t)a, "parent", 6, NULL), 0);
	assert_int_equal(as_mm_fork(p, &ch), 0);
	counters(ch, &cc);
	assert_int_equal(cc.rss_anon, 1);
	assert_int_equal(cc.total_vm, 2);
	assert_int_equal(as_write(ch, (uint64_t)a, "child!", 6, NULL), 0);
	assert_int_equal(as_read(p, (uint64_t)a, buf, 6, NULL), 0);
	assert_memory_equal(buf, "parent", 6);
	assert_int_equal(as_read(ch, (uint64_t)a, buf, 6, NULL), 0);
	assert_memory_equal(buf, "child!", 6);
	counters(ch, &cc);
	assert_int_equal(cc.cow_copies, 1);
	assert_int_equal(as_write(p, (uint64_t)a, "PARENT", 6, NULL), 0);
	counters(p, &cp);
	assert_int_equal(cp.cow_reuses, 1);
	assert_int_equal(cp.cow_copies, 0);
	assert_int_equal(as_mm_check(p, stderr), 0);
	assert_int_equal(as_mm_check(ch, stderr), 0);
	as_mm_put(ch);
	as_mm_put(p);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* A MAP_GROWSDOWN region grows on access below it, within RLIMIT_STACK. */
static void test_stack_growth(void **state)
{
	struct as_machine *m = machine_with_zero_page(0);
	struct as_mm *mm;
	struct as_fault f;
	struct as_mm_counters c;
	long s;

	assert_int_equal(as_mm_new(m, &mm), 0);
	s = map(mm, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN);
	assert_true(s > 0);
	assert_int_equal(as_write(mm, (uint64_t)s - 3 * 4096, "x", 1, &f), 0);
	counters(mm, &c);
	assert_int_equal(c.total_vm, 5);
	assert_int_equal(c.stack_vm, 5);
	/* Beyond the stack limit: SIGSEGV MAPERR. */
	assert_int_equal(as_mm_setrlimit(mm, RLIMIT_STACK, 6 * 4096, RLIM_INFINITY), 0);
	assert_int_equal(as_write(mm, (uint64_t)s - 6 * 4096, "x", 1, &f), -EFAULT);
	assert_int_equal(f.code, SEGV_MAPERR);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* MAP_POPULATE faults every page in: one minor fault each, as GUP counts them. */
static void test_populate(void **state)
{
	struct as_machine *m = machine_with_zero_page(1);
	struct as_mm *mm;
	struct as_mm_counters c;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_true(map(mm, 0, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE) > 0);
	counters(mm, &c);
	assert_int_equal(c.rss_anon, 16);
	assert_int_equal(c.min_flt, 16);
	/* Read-only private memory is populated by reads: the zero page here. */
	assert_true(map(mm, 0, 4 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE) > 0);
	counters(mm, &c);
	assert_int_equal(c.rss_anon, 16);
	assert_int_equal(c.zero_page_maps, 4);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Every allocation of a write fault may fail: -ENOMEM, nothing leaks, the space stays consistent. */
static void test_fault_failure_sweep(void **state)
{
	struct as_machine *m = machine_with_zero_page(0);
	struct as_mm *mm;
	uint64_t before, needed;
	long a;

	assert_int_equal(as_mm_new(m, &mm), 0);
	a = map(mm, 0x10000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
	assert_int_equal(a, 0x10000000);
	before = as_machine_alloc_count(m);
	assert_int_equal(as_write(mm, (uint64_t)a, "x", 1, NULL), 0);
	needed = as_machine_alloc_count(m) - before;
	assert_true(needed >= 2);
	for (uint64_t n = 1; n <= needed; n++) {
		as_mm_put(mm);
		t_assert_machine_clean(m);
		assert_int_equal(as_mm_new(m, &mm), 0);
		assert_int_equal(map(mm, 0x10000000, 4096, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), 0x10000000);
		as_machine_fail_nth(m, n);
		assert_int_equal(as_write(mm, (uint64_t)a, "x", 1, NULL), -ENOMEM);
		as_machine_fail_nth(m, 0);
		assert_int_equal(as_mm_check(mm, stderr), 0);
		assert_int_equal(as_write(mm, (uint64_t)a, "x", 1, NULL), 0);
	}
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demand_zero),
		cmocka_unit_test(test_segv_kinds),
		cmocka_unit_test(test_cow_after_fork),
		cmocka_unit_test(test_stack_growth),
		cmocka_unit_test(test_populate),
		cmocka_unit_test(test_fault_failure_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
