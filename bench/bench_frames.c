/*
 * bench_frames — cost of the machine's allocators, in ns per operation:
 *
 *   order-0 alloc+free through the calling thread's cache (no lock);
 *   the same through the zone lock (caches off);
 *   a burst of 256 order-0 allocs then 256 frees (refills and drains);
 *   order-3 alloc+free (always the zone lock: split and coalesce);
 *   slab alloc+free of a 128-byte object, single and in bursts;
 *   order-0 alloc+free on N threads at once, each with its own cache.
 *
 * Usage: bench_frames [iterations]   (default 5000000)
 * Build without ASPACE_DEBUG for meaningful numbers: debug builds poison
 * every freed frame and check the poison on allocation.
 */
#include "machine/machine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void report(const char *what, double ns, uint64_t ops)
{
	printf("  %-44s %8.1f ns/op\n", what, ns / (double)ops);
}

static void bench_order0_pairs(struct as_machine *m, uint64_t iters, const char *what)
{
	double t0 = now_ns();

	for (uint64_t i = 0; i < iters; i++) {
		pfn_t p = frame_alloc(m, 0, FA_ANON);

		if (p == PFN_NONE)
			abort();
		frame_free(m, p, 0);
	}
	report(what, now_ns() - t0, iters);
}

static void bench_order0_bursts(struct as_machine *m, uint64_t iters, const char *what)
{
	enum { BURST = 256 };
	pfn_t p[BURST];
	uint64_t rounds = iters / BURST;
	double t0 = now_ns();

	for (uint64_t r = 0; r < rounds; r++) {
		for (int i = 0; i < BURST; i++) {
			p[i] = frame_alloc(m, 0, FA_ANON);
			if (p[i] == PFN_NONE)
				abort();
		}
		for (int i = 0; i < BURST; i++)
			frame_free(m, p[i], 0);
	}
	report(what, now_ns() - t0, rounds * BURST);
}

static void bench_order3(struct as_machine *m, uint64_t iters)
{
	double t0 = now_ns();

	for (uint64_t i = 0; i < iters; i++) {
		pfn_t p = frame_alloc(m, 3, FA_ANON);

		if (p == PFN_NONE)
			abort();
		frame_free(m, p, 3);
	}
	report("order-3 alloc+free (zone lock)", now_ns() - t0, iters);
}

static void bench_slab(struct as_machine *m, uint64_t iters)
{
	enum { BURST = 1000 };
	struct slab_cache c;
	void *objs[BURST];
	uint64_t rounds = iters / BURST;
	double t0;

	if (slab_cache_init(&c, m, "bench", 128, 8) != 0)
		abort();
	t0 = now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		void *o = slab_alloc(&c);

		if (!o)
			abort();
		slab_free(&c, o);
	}
	report("slab 128 B alloc+free", now_ns() - t0, iters);

	t0 = now_ns();
	for (uint64_t r = 0; r < rounds; r++) {
		for (int i = 0; i < BURST; i++)
			if (!(objs[i] = slab_alloc(&c)))
				abort();
		for (int i = 0; i < BURST; i++)
			slab_free(&c, objs[i]);
	}
	report("slab 128 B, bursts of 1000", now_ns() - t0, rounds * BURST);
	slab_cache_destroy(&c);
}

struct thread_arg {
	struct as_machine *m;
	uint64_t iters;
	pthread_barrier_t *bar;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	pthread_barrier_wait(a->bar);
	for (uint64_t i = 0; i < a->iters; i++) {
		pfn_t f = frame_alloc(a->m, 0, FA_ANON);

		if (f == PFN_NONE)
			abort();
		frame_free(a->m, f, 0);
	}
	return NULL;
}

static void bench_threads(struct as_machine *m, uint64_t iters, int nthreads)
{
	pthread_t t[16];
	struct thread_arg a;
	pthread_barrier_t bar;
	char what[64];
	double t0;

	pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
	a = (struct thread_arg){ .m = m, .iters = iters, .bar = &bar };
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, thread_main, &a);
	t0 = now_ns();
	pthread_barrier_wait(&bar);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	snprintf(what, sizeof(what), "order-0 alloc+free, %d threads (wall/op)", nthreads);
	report(what, now_ns() - t0, iters * (uint64_t)nthreads);
	pthread_barrier_destroy(&bar);
}

int main(int argc, char **argv)
{
	uint64_t iters = argc > 1 ? strtoull(argv[1], NULL, 0) : 5000000;
	struct as_machine_config cfg;
	struct as_machine *m;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = 256ull << 20;
	cfg.prefault = 1;
	if (as_machine_new(&cfg, &m) != 0) {
		fprintf(stderr, "bench_frames: cannot create a machine\n");
		return 1;
	}
	printf("bench_frames: %llu iterations, 256 MiB machine, debug build: %s\n",
	       (unsigned long long)iters, ENV_DEBUG ? "yes (poisoning on: slow)" : "no");

	bench_order0_pairs(m, iters, "order-0 alloc+free (thread cache)");
	bench_order0_bursts(m, iters, "order-0 bursts of 256 (thread cache)");

	/* White box: switch the caches off to time the zone-lock path alone. */
	frame_tcache_flush(m);
	m->tcache_key_valid = false;
	bench_order0_pairs(m, iters, "order-0 alloc+free (zone lock)");
	bench_order0_bursts(m, iters, "order-0 bursts of 256 (zone lock)");
	m->tcache_key_valid = true;

	bench_order3(m, iters / 4);
	bench_slab(m, iters);
	bench_threads(m, iters / 2, 1);
	bench_threads(m, iters / 2, 2);
	bench_threads(m, iters / 4, 4);

	as_machine_drain(m);
	as_machine_free(m);
	return 0;
}
