/*
 * Randomized fork/exec/exit: a seeded walk over a family of spaces that
 * map, write, unmap, fork, exec /bin/true and exit, checked against a per-page model of what
 * each space must read. Isolation (no write is ever seen by another space),
 * shared memory seen by all its mappers, and no leak when the last space
 * is gone. Seed and length from ASPACE_SEED / ASPACE_ITERS.
 */
#include "testlib.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define MAX_SPACES 8
#define PAGES 32
#define BASE 0x40000000ull
#define SHARED 0x50000000ull

struct space {
	struct as_mm *mm;
	uint8_t model[PAGES]; /* first byte of each private page; 0 = unmapped or fresh */
	bool mapped[PAGES];
	bool has_shared;
};

static uint8_t shared_model[PAGES];

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s ? strtoull(s, NULL, 0) : dflt;
}

static void check_space(struct space *s)
{
	for (int p = 0; p < PAGES; p++) {
		uint8_t b = 0xee;
		struct as_fault f;
		int rc = as_read(s->mm, BASE + (uint64_t)p * 4096, &b, 1, &f);

		if (!s->mapped[p]) {
			assert_int_equal(rc, -EFAULT);
			continue;
		}
		assert_int_equal(rc, 0);
		if (b != s->model[p])
			fail_msg("page %d reads %#x, model says %#x", p, b, s->model[p]);
		if (s->has_shared) {
			assert_int_equal(as_read(s->mm, SHARED + (uint64_t)p * 4096, &b, 1, NULL), 0);
			assert_int_equal(b, shared_model[p]);
		}
	}
	assert_int_equal(as_mm_check(s->mm, stderr), 0);
}

static void test_random_family(void **state)
{
	uint64_t seed = env_u64("ASPACE_SEED", 12345), iters = env_u64("ASPACE_ITERS", 3000);
	struct as_machine *m = t_machine_new(128);
	struct space sp[MAX_SPACES] = { 0 };
	int n = 1;

	print_message("seed %llu, %llu steps\n", (unsigned long long)seed, (unsigned long long)iters);
	srand((unsigned)seed);
	assert_int_equal(as_mm_new(m, &sp[0].mm), 0);
	assert_int_equal(as_syscall(sp[0].mm, SYS_mmap, SHARED, PAGES * 4096, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0),
			 (long)SHARED);
	sp[0].has_shared = true;
	for (uint64_t i = 0; i < iters; i++) {
		int who = rand() % n, p = rand() % PAGES, len = 1 + rand() % 4;
		struct space *s = &sp[who];
		uint8_t v = (uint8_t)(1 + rand() % 255);

		if (p + len > PAGES)
			len = PAGES - p;
		switch (rand() % 9) {
		case 0: /* map */
			assert_int_equal(as_syscall(s->mm, SYS_mmap, BASE + (uint64_t)p * 4096, (uint64_t)len * 4096,
						    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
						    (uint64_t)-1, 0),
					 (long)(BASE + (uint64_t)p * 4096));
			for (int k = p; k < p + len; k++)
				s->mapped[k] = true, s->model[k] = 0;
			break;
		case 1: /* unmap */
			assert_int_equal(as_syscall(s->mm, SYS_munmap, BASE + (uint64_t)p * 4096, (uint64_t)len * 4096,
						    0, 0, 0, 0), 0);
			for (int k = p; k < p + len; k++)
				s->mapped[k] = false, s->model[k] = 0;
			break;
		case 2:
		case 3: /* private write */
			if (s->mapped[p]) {
				assert_int_equal(as_write(s->mm, BASE + (uint64_t)p * 4096, &v, 1, NULL), 0);
				s->model[p] = v;
			}
			break;
		case 4: /* shared write, seen by every space that maps it */
			if (s->has_shared) {
				assert_int_equal(as_write(s->mm, SHARED + (uint64_t)p * 4096, &v, 1, NULL), 0);
				shared_model[p] = v;
			}
			break;
		case 5: /* fork */
			if (n < MAX_SPACES) {
				assert_int_equal(as_mm_fork(s->mm, &sp[n].mm), 0);
				memcpy(sp[n].model, s->model, sizeof(s->model));
				memcpy(sp[n].mapped, s->mapped, sizeof(s->mapped));
				sp[n].has_shared = s->has_shared;
				n++;
			}
			break;
		case 6: /* exit */
			if (n > 1) {
				as_mm_put(s->mm);
				sp[who] = sp[n - 1];
				memset(&sp[n - 1], 0, sizeof(sp[n - 1]));
				n--;
			}
			break;
		case 7:
			check_space(s);
			break;
		case 8: /* exec a real program: the old image and its memory go */
			if (rand() % 8 == 0) { /* each space has one user: exec may replace it */
				char *const argv[] = { "/bin/true", NULL };
				char *const envp[] = { NULL };
				struct as_exec_info info;

				assert_int_equal(as_mm_exec(s->mm, "/bin/true", argv, envp, &info), 0);
				memset(s->mapped, 0, sizeof(s->mapped));
				memset(s->model, 0, sizeof(s->model));
				s->has_shared = false;
			}
			break;
		}
	}
	for (int k = 0; k < n; k++) {
		check_space(&sp[k]);
		as_mm_put(sp[k].mm);
	}
	t_assert_machine_clean(m);
	as_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
