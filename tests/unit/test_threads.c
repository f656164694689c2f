/*
 * Several threads on one space: accessors through software TLBs and
 * as_read/as_write while others mmap, munmap, mprotect and fork. Nothing
 * may tear, get lost or be used after it was freed; the suite runs this
 * under ThreadSanitizer too (make tsan).
 */
#include "testlib.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#define STABLE 0x10000000ull
#define STABLE_PAGES 32
#define WINDOW 0x20000000ull
#define WINDOW_PAGES 64

static struct as_mm *mm;
static atomic_int stop;
static atomic_long errors;

static uint64_t iterations(void)
{
	const char *s = getenv("ASPACE_ITERS");

	return s ? strtoull(s, NULL, 0) : 20000;
}

/* Writes a counter into each stable page through a TLB and reads it back. */
static void *stable_writer(void *arg)
{
	struct as_tlb *tlb;
	uint64_t n = iterations();

	(void)arg;
	assert_int_equal(as_tlb_new(mm, &tlb), 0);
	for (uint64_t i = 0; i < n && !atomic_load(&stop); i++) {
		uint64_t addr = STABLE + (i % STABLE_PAGES) * 4096 + 8 * (i % 64);
		void *p;
		uint64_t v;

		if (as_tlb_translate(tlb, addr, PROT_WRITE, &p, NULL) != 0) {
			atomic_fetch_add(&errors, 1);
			break;
		}
		__atomic_store_n((uint64_t *)p, i, __ATOMIC_RELAXED);
		if (as_tlb_translate(tlb, addr, PROT_READ, &p, NULL) != 0) {
			atomic_fetch_add(&errors, 1);
			break;
		}
		v = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
		if (v != i)
			atomic_fetch_add(&errors, 1);
	}
	as_tlb_release(tlb);
	as_tlb_free(tlb);
	return NULL;
}

/* Reads and writes the churning window; faults are expected, crashes are not. */
static void *window_accessor(void *arg)
{
	struct as_tlb *tlb;
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint64_t n = iterations();

	assert_int_equal(as_tlb_new(mm, &tlb), 0);
	for (uint64_t i = 0; i < n && !atomic_load(&stop); i++) {
		uint64_t addr = WINDOW + (uint64_t)(rand_r(&seed) % WINDOW_PAGES) * 4096;
		struct as_fault f;
		void *p;
		int rc;

		/*
		 * Each accessor uses its own bytes of a page, so that the guest
		 * program itself has no data race; the library's own accesses
		 * (zeroing, copying, freeing frames) must not race with them.
		 */
		uint64_t own = addr + 64 * (uint64_t)(uintptr_t)arg;

		if (i % 3 == 0) {
			rc = as_write(mm, own, &i, sizeof(i), &f);
		} else {
			rc = as_tlb_translate(tlb, own + 16, (i & 1) ? PROT_WRITE : PROT_READ, &p, &f);
			if (rc == 0) {
				if (i & 1)
					__atomic_store_n((volatile uint8_t *)p, 1, __ATOMIC_RELAXED);
				else
					(void)__atomic_load_n((volatile uint8_t *)p, __ATOMIC_RELAXED);
			}
		}
		if (rc && !(rc == -EFAULT && f.signo == SIGSEGV))
			atomic_fetch_add(&errors, 1);
	}
	as_tlb_release(tlb);
	as_tlb_free(tlb);
	return NULL;
}

/* Maps, unmaps and re-protects pages of the window, and forks now and then. */
static void *mutator(void *arg)
{
	unsigned seed = 7;
	uint64_t n = iterations() / 4;

	(void)arg;
	for (uint64_t i = 0; i < n && !atomic_load(&stop); i++) {
		uint64_t addr = WINDOW + (uint64_t)(rand_r(&seed) % WINDOW_PAGES) * 4096;
		uint64_t len = (uint64_t)(1 + rand_r(&seed) % 4) * 4096;
		long rc;

		switch (rand_r(&seed) % 5) {
		case 0:
		case 1:
			rc = as_syscall(mm, SYS_mmap, addr, len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0);
			if (rc != (long)addr)
				atomic_fetch_add(&errors, 1);
			break;
		case 2:
			if (as_syscall(mm, SYS_munmap, addr, len, 0, 0, 0, 0) != 0)
				atomic_fetch_add(&errors, 1);
			break;
		case 3:
			/* -ENOMEM for a range with holes is fine; -ENOSYS is not. */
			rc = as_syscall(mm, SYS_mprotect, addr, len, PROT_READ, 0, 0, 0);
			if (rc != 0 && rc != -ENOMEM)
				atomic_fetch_add(&errors, 1);
			break;
		case 4: {
			struct as_mm *child;

			if (as_mm_fork(mm, &child) != 0)
				atomic_fetch_add(&errors, 1);
			else
				as_mm_put(child);
			break;
		}
		}
	}
	return NULL;
}

static void test_concurrent_access(void **state)
{
	struct as_machine *m = t_machine_new(128);
	pthread_t th[4];

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_syscall(mm, SYS_mmap, STABLE, STABLE_PAGES * 4096, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0),
			 (long)STABLE);
	assert_int_equal(pthread_create(&th[0], NULL, stable_writer, NULL), 0);
	assert_int_equal(pthread_create(&th[1], NULL, window_accessor, (void *)1), 0);
	assert_int_equal(pthread_create(&th[2], NULL, window_accessor, (void *)2), 0);
	assert_int_equal(pthread_create(&th[3], NULL, mutator, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&errors), 0);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_access),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
