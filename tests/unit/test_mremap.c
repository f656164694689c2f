/* mremap: shrink, grow in place, move, MREMAP_FIXED, MREMAP_DONTUNMAP, errors. */
#include "testlib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)

static long sc(struct as_mm *mm, long nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return as_syscall(mm, nr, a, b, c, d, e, 0);
}

static long map_at(struct as_mm *mm, uint64_t addr, uint64_t len)
{
	return sc(mm, SYS_mmap, addr, len, RW, PA | MAP_FIXED, (uint64_t)-1);
}

static char *maps(struct as_mm *mm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(as_mm_write_maps(mm, f), 0);
	fclose(f);
	return buf;
}

static void assert_maps(struct as_mm *mm, const char *expected)
{
	char *text = maps(mm);
	size_t keep = strlen(text) - strlen("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
					    "                  [vsyscall]\n");

	text[keep] = 0;
	assert_string_equal(text, expected);
	free(text);
}

static void test_shrink_grow_in_place(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(map_at(mm, 0x10000000, 0x4000), 0x10000000);
	assert_int_equal(as_write(mm, 0x10000000, "data", 4, NULL), 0);
	assert_int_equal(sc(mm, SYS_mremap, 0x10000000, 0x4000, 0x2000, 0, 0), 0x10000000);
	assert_maps(mm, "10000000-10002000 rw-p 00000000 00:00 0 \n");
	assert_int_equal(sc(mm, SYS_mremap, 0x10000000, 0x2000, 0x8000, 0, 0), 0x10000000);
	assert_maps(mm, "10000000-10008000 rw-p 00000000 00:00 0 \n");
	/* Blocked by a neighbour, and not allowed to move. */
	assert_int_equal(map_at(mm, 0x10009000, 0x1000), 0x10009000);
	assert_int_equal(sc(mm, SYS_mremap, 0x10000000, 0x8000, 0xa000, 0, 0), -ENOMEM);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static void test_move_keeps_data(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm;
	char buf[4];
	long r;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(map_at(mm, 0x10000000, 0x2000), 0x10000000);
	assert_int_equal(map_at(mm, 0x10002000 + 0x1000, 0x1000), 0x10003000);
	assert_int_equal(as_write(mm, 0x10001000, "move", 4, NULL), 0);
	r = sc(mm, SYS_mremap, 0x10000000, 0x2000, 0x4000, MREMAP_MAYMOVE, 0);
	assert_true(r > 0 && r != 0x10000000);
	assert_int_equal(as_read(mm, (uint64_t)r + 0x1000, buf, 4, NULL), 0);
	assert_memory_equal(buf, "move", 4);
	assert_int_equal(as_read(mm, 0x10001000, buf, 1, NULL), -EFAULT);
	/* MREMAP_FIXED to a chosen place, replacing what is there. */
	assert_int_equal(map_at(mm, 0x20000000, 0x1000), 0x20000000);
	assert_int_equal(sc(mm, SYS_mremap, (uint64_t)r, 0x4000, 0x4000, MREMAP_MAYMOVE | MREMAP_FIXED,
			    0x20000000), 0x20000000);
	assert_int_equal(as_read(mm, 0x20001000, buf, 4, NULL), 0);
	assert_memory_equal(buf, "move", 4);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static void test_dontunmap(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm;
	char buf[4];
	long r;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(map_at(mm, 0x10000000, 0x2000), 0x10000000);
	assert_int_equal(as_write(mm, 0x10000000, "keep", 4, NULL), 0);
	r = sc(mm, SYS_mremap, 0x10000000, 0x2000, 0x2000, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0);
	assert_true(r > 0 && r != 0x10000000);
	assert_int_equal(as_read(mm, (uint64_t)r, buf, 4, NULL), 0);
	assert_memory_equal(buf, "keep", 4);
	/* The source stays mapped and reads as fresh memory. */
	assert_int_equal(as_read(mm, 0x10000000, buf, 4, NULL), 0);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static void test_errors(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(map_at(mm, 0x10000000, 0x2000), 0x10000000);
	assert_int_equal(sc(mm, SYS_mremap, 0x10000000, 0x1000, 0x1000, 0x80, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mremap, 0x10000001, 0x1000, 0x1000, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mremap, 0x10000000, 0x1000, 0, 0, 0), -EINVAL);
	assert_int_equal(sc(mm, SYS_mremap, 0x10000000, 0x1000, 0x1000, MREMAP_FIXED, 0x20000000), -EINVAL);
	assert_int_equal(sc(mm, SYS_mremap, 0x30000000, 0x1000, 0x2000, MREMAP_MAYMOVE, 0), -EFAULT);
	/* Growing a range that crosses the region's end. */
	assert_int_equal(sc(mm, SYS_mremap, 0x10000000, 0x3000, 0x4000, MREMAP_MAYMOVE, 0), -EFAULT);
	/* Overlapping source and destination. */
	assert_int_equal(sc(mm, SYS_mremap, 0x10000000, 0x2000, 0x2000, MREMAP_MAYMOVE | MREMAP_FIXED,
			    0x10001000), -EINVAL);
	/* Same size, no move: a no-op returning the address. */
	assert_int_equal(sc(mm, SYS_mremap, 0x10000000, 0x2000, 0x2000, 0, 0), 0x10000000);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shrink_grow_in_place),
		cmocka_unit_test(test_move_keeps_data),
		cmocka_unit_test(test_dontunmap),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
