/* The address space object: creation, layout, limits, references, teardown, views. */
#include "testlib.h"

#include "mm/mm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>

static char *maps_text(struct as_mm *mm, int (*writer)(struct as_mm *, FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(writer(mm, f), 0);
	fclose(f);
	return buf;
}

static void test_new_space_layout(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_mm *mm;
	struct as_mm_layout lay;
	struct as_mm_counters cnt;

	assert_int_equal(as_mm_new(m, &mm), 0);
	as_mm_get_layout(mm, &lay);
	assert_int_equal(lay.task_size, 0x7ffffffff000ull);
	assert_int_equal(lay.mmap_base, 0x7ffff7fff000ull);
	assert_int_equal(lay.start_brk, 0);
	as_mm_get_counters(mm, &cnt);
	assert_int_equal(cnt.total_vm, 0);
	assert_int_equal(cnt.map_count, 0);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* mmap_base follows RLIMIT_STACK: gap = limit + guard gap, clamped to [128 MiB, 5/6 task size]. */
static void test_mmap_base_formula(void **state)
{
	const uint64_t ts = 0x7ffffffff000ull, guard = 256 * 4096;

	assert_int_equal(mm_compute_mmap_base(ts, 8ull << 20, guard), 0x7ffff7fff000ull);
	assert_int_equal(mm_compute_mmap_base(ts, 0, guard), ts - (128ull << 20));
	assert_int_equal(mm_compute_mmap_base(ts, 1ull << 30, guard), ts - (1ull << 30) - guard);
	assert_int_equal(mm_compute_mmap_base(ts, UINT64_MAX, guard), PAGE_ALIGN(ts - ts / 6 * 5));
	/* Not page aligned limits are rounded as Linux's PAGE_ALIGN does. */
	assert_int_equal(mm_compute_mmap_base(ts, (1ull << 30) + 100, guard) & ~PAGE_MASK, 0);
}

static void test_rlimits(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_mm *mm;
	uint64_t cur, max;
	struct as_mm_layout lay;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_mm_getrlimit(mm, RLIMIT_STACK, &cur, &max), 0);
	assert_int_equal(cur, 8ull << 20);
	assert_int_equal(max, RLIM_INFINITY);
	assert_int_equal(as_mm_getrlimit(mm, RLIMIT_MEMLOCK, &cur, &max), 0);
	assert_int_equal(cur, 8ull << 20);
	assert_int_equal(max, 8ull << 20);
	/* Raising a hard limit needs CAP_SYS_RESOURCE. */
	assert_int_equal(as_mm_setrlimit(mm, RLIMIT_MEMLOCK, 1 << 20, 1ull << 40), -EPERM);
	assert_int_equal(as_mm_setrlimit(mm, RLIMIT_MEMLOCK, 2 << 20, 1 << 20), -EINVAL);
	assert_int_equal(as_mm_setrlimit(mm, RLIM_NLIMITS, 0, 0), -EINVAL);
	assert_int_equal(as_mm_set_caps(mm, 1ull << MM_CAP_SYS_RESOURCE), 0);
	assert_int_equal(as_mm_setrlimit(mm, RLIMIT_MEMLOCK, 1 << 20, 1ull << 40), 0);
	/* An unmapped space follows a new stack limit, as exec would. */
	assert_int_equal(as_mm_setrlimit(mm, RLIMIT_STACK, 1ull << 30, RLIM_INFINITY), 0);
	as_mm_get_layout(mm, &lay);
	assert_int_equal(lay.mmap_base, 0x7ffffffff000ull - (1ull << 30) - 256 * 4096);
	assert_int_equal(as_mm_set_brk_base(mm, 0x555555558000ull), 0);
	assert_int_equal(as_mm_set_brk_base(mm, 0x555555558001ull), -EINVAL);
	as_mm_get_layout(mm, &lay);
	assert_int_equal(lay.start_brk, 0x555555558000ull);
	assert_int_equal(lay.brk, 0x555555558000ull);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static void test_legacy_layout(void **state)
{
	struct as_machine_config cfg;
	struct as_machine *m;
	struct as_mm *mm;
	struct as_mm_layout lay;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = 16 << 20;
	cfg.legacy_va_layout = 1;
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	assert_int_equal(as_mm_new(m, &mm), 0);
	as_mm_get_layout(mm, &lay);
	assert_int_equal(lay.mmap_base, PAGE_ALIGN(0x7ffffffff000ull / 3));
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Users share the space; holders keep the object. The last user tears it down. */
static void test_users_and_holders(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_mm *mm;

	assert_int_equal(as_mm_new(m, &mm), 0);
	as_mm_get(mm);  /* a CLONE_VM thread */
	as_mm_grab(mm); /* someone holding the object */
	as_mm_put(mm);
	assert_int_equal(atomic_load(&mm->users), 1);
	as_mm_put(mm); /* last user: exit_mmap */
	assert_int_equal(atomic_load(&mm->users), 0);
	assert_int_equal(atomic_load(&mm->holders), 1);
	as_mm_drop(mm); /* object freed */
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static void test_empty_maps_and_smaps(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_mm *mm;
	char *text;

	assert_int_equal(as_mm_new(m, &mm), 0);
	text = maps_text(mm, as_mm_write_maps);
	/* The gate area line, exactly as the kernel prints it. */
	assert_string_equal(text, "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
				  "                  [vsyscall]\n");
	free(text);
	text = maps_text(mm, as_mm_write_smaps);
	assert_non_null(strstr(text, "[vsyscall]\nSize:                  4 kB\n"));
	assert_non_null(strstr(text, "THPeligible:           0\nVmFlags: ex \n"));
	free(text);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* The gate area line of this very process must match ours byte for byte. */
static void test_gate_line_matches_host(void **state)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], *text = NULL;
	bool found = false;
	struct as_machine *m = t_machine_new(16);
	struct as_mm *mm;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[vsyscall]"))
			found = true, text = strdup(line);
	fclose(f);
	if (!found)
		skip();
	assert_int_equal(as_mm_new(m, &mm), 0);
	char *ours = maps_text(mm, as_mm_write_maps);
	assert_string_equal(ours, text);
	free(ours);
	free(text);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Unimplemented calls answer -ENOSYS; unknown numbers too; accesses to nothing fault. */
static void test_syscall_dispatch_and_access(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_mm *mm;
	struct as_fault flt;
	char buf[8];

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_syscall(mm, SYS_getpid, 0, 0, 0, 0, 0, 0), -ENOSYS);
	assert_int_equal(as_read(mm, 0x10000, buf, sizeof(buf), &flt), -EFAULT);
	assert_int_equal(flt.signo, SIGSEGV);
	assert_int_equal(flt.code, SEGV_MAPERR);
	assert_int_equal(flt.addr, 0x10000);
	assert_int_equal(as_write(mm, 0x10000, buf, 0, &flt), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Every allocation as_mm_new makes may fail: -ENOMEM and nothing leaks. */
static void test_mm_new_failure_sweep(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_mm *mm;
	uint64_t before, needed;

	as_machine_drain(m);
	before = as_machine_alloc_count(m);
	assert_int_equal(as_mm_new(m, &mm), 0);
	needed = as_machine_alloc_count(m) - before;
	as_mm_put(mm);
	assert_true(needed >= 2); /* the mm object and its PGD */
	for (uint64_t n = 1; n <= needed; n++) {
		as_machine_fail_nth(m, n);
		assert_int_equal(as_mm_new(m, &mm), -ENOMEM);
		as_machine_fail_nth(m, 0);
		t_assert_machine_clean(m);
	}
	as_machine_free(m);
}

/* as_mm_walk shows each level and the leaf's bits as a page is touched and shared. */
static void test_walk(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_mm *mm, *child;
	struct as_pte_info w;
	long a;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_mm_walk(mm, 0x10000000, &w), 0);
	assert_int_equal(w.levels, 1);
	assert_int_equal(w.present, 0);
	assert_string_equal(w.kind, "none");
	a = as_syscall(mm, SYS_mmap, 0x10000000, 4096, 3, 0x22 | 0x10, (uint64_t)-1, 0);
	assert_int_equal(a, 0x10000000);
	assert_int_equal(as_write(mm, 0x10000000, "x", 1, NULL), 0);
	assert_int_equal(as_mm_walk(mm, 0x10000000, &w), 0);
	assert_int_equal(w.levels, 4);
	assert_true(w.present && w.writable && w.user && w.accessed && w.dirty && w.nx);
	assert_string_equal(w.kind, "anon");
	assert_int_equal(w.mapcount, 1);
	assert_int_equal(as_mm_fork(mm, &child), 0);
	assert_int_equal(as_mm_walk(mm, 0x10000000, &w), 0);
	assert_false(w.writable); /* write-protected for copy-on-write */
	assert_int_equal(w.mapcount, 2);
	assert_int_equal(as_mm_walk(mm, 1ull << 47, &w), -EINVAL);
	as_mm_put(child);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static void test_set_layout(void **state)
{
	struct as_machine *m = t_machine_new(16);
	struct as_mm *mm;
	struct as_mm_layout l, got;

	assert_int_equal(as_mm_new(m, &mm), 0);
	as_mm_get_layout(mm, &l);
	l.start_brk = 0x555555559000;
	l.brk = 0x55555557a000;
	l.start_stack = 0x7fffffffe000;
	assert_int_equal(as_mm_set_layout(mm, &l), 0);
	as_mm_get_layout(mm, &got);
	assert_int_equal(got.brk, 0x55555557a000);
	assert_int_equal(got.start_stack, 0x7fffffffe000);
	l.brk = l.start_brk - 1; /* reversed */
	assert_int_equal(as_mm_set_layout(mm, &l), -EINVAL);
	as_mm_get_layout(mm, &got);
	assert_int_equal(got.brk, 0x55555557a000);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_space_layout),
		cmocka_unit_test(test_mmap_base_formula),
		cmocka_unit_test(test_rlimits),
		cmocka_unit_test(test_legacy_layout),
		cmocka_unit_test(test_users_and_holders),
		cmocka_unit_test(test_empty_maps_and_smaps),
		cmocka_unit_test(test_gate_line_matches_host),
		cmocka_unit_test(test_syscall_dispatch_and_access),
		cmocka_unit_test(test_mm_new_failure_sweep),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_set_layout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
