/*
 * bench_pgtable — cost of the page-table primitives.
 *
 * Measures, on a machine with prefaulted RAM so that host faults stay out of
 * the numbers: pgtable_walk hits (sequential and random addresses),
 * pgtable_walk_alloc of fresh pages (dense, and one page per 2 MiB so that
 * every call allocates a PTE table), and the per-page cost of
 * pgtable_copy_range (fork, copy-on-write style callback) and
 * pgtable_zap_range over 256 MiB of mapped leaves. Leaves point at made-up
 * frames: only the tables are measured. Best of several rounds.
 *
 *   bench_pgtable [MiB]     (default 256)
 */
#include "machine/machine.h"
#include "pgtable/pgtable.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDS 5
#define BASE 0x7f0000000000ull

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_pgtable: %s\n", what);
	exit(1);
}

static void map_range(struct pgtable *pt, uint64_t start, uint64_t npages)
{
	for (uint64_t i = 0; i < npages; i++) {
		pte_t *p;

		if (pgtable_walk_alloc(pt, start + i * PAGE_SIZE, &p) != 0)
			die("out of frames while mapping");
		pgtable_set(pt, p, pte_make((pfn_t)(i & 0xfffff), PTE_P | PTE_RW | PTE_US));
	}
}

static pte_t cow_fn(void *ctx, uint64_t va, pte_t *src_ptep)
{
	pte_t e = *src_ptep & ~PTE_RW;

	(void)va;
	pgtable_set(ctx, src_ptep, e);
	return e;
}

static void count_zap(void *ctx, uint64_t va, pte_t old)
{
	(void)va;
	(void)old;
	++*(uint64_t *)ctx;
}

static volatile uint64_t sink;

struct row {
	const char *what;
	double ns;
	const char *unit;
};

static void print_rows(const struct row *rows, size_t n)
{
	printf("%-44s %10s  %s\n", "operation", "ns", "per");
	for (size_t i = 0; i < n; i++)
		printf("%-44s %10.1f  %s\n", rows[i].what, rows[i].ns, rows[i].unit);
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 256;
	uint64_t npages = mib << (20 - PAGE_SHIFT);
	struct as_machine_config cfg;
	struct as_machine *m;
	struct pgtable src, dst;
	double best[7];
	struct row rows[7];
	uint64_t rnd = 0x9e3779b97f4a7c15ull;

	if (!npages)
		die("size must be at least 1 MiB");
	as_machine_config_init(&cfg);
	cfg.ram_bytes = 256ull << 20;
	cfg.prefault = 1;
	if (as_machine_new(&cfg, &m) != 0)
		die("cannot create the machine");
	for (int i = 0; i < 7; i++)
		best[i] = 1e300;

	for (int round = 0; round < ROUNDS; round++) {
		double t;
		uint64_t zapped = 0, acc = 0;

		/* walk_alloc, dense fresh pages (one PTE table per 512 calls). */
		if (pgtable_init(&src, m) != 0)
			die("pgtable_init");
		t = now_ns();
		for (uint64_t i = 0; i < npages; i++) {
			pte_t *p;

			if (pgtable_walk_alloc(&src, BASE + i * PAGE_SIZE, &p) != 0)
				die("walk_alloc");
			acc += (uintptr_t)p;
		}
		t = (now_ns() - t) / (double)npages;
		best[0] = t < best[0] ? t : best[0];
		pgtable_zap_range(&src, 0, PT_USER_TOP, true, count_zap, &zapped);

		/* walk_alloc, one page per 2 MiB: every call allocates a PTE table. */
		{
			uint64_t n = npages / 512 ? npages / 512 : 1;

			t = now_ns();
			for (uint64_t i = 0; i < n; i++) {
				pte_t *p;

				if (pgtable_walk_alloc(&src, BASE + i * (2ull << 20), &p) != 0)
					die("walk_alloc");
				acc += (uintptr_t)p;
			}
			t = (now_ns() - t) / (double)n;
			best[1] = t < best[1] ? t : best[1];
			pgtable_zap_range(&src, 0, PT_USER_TOP, true, count_zap, &zapped);
		}

		map_range(&src, BASE, npages);

		/* walk hits, sequential. */
		t = now_ns();
		for (uint64_t i = 0; i < npages; i++)
			acc += *pgtable_walk(&src, BASE + i * PAGE_SIZE);
		t = (now_ns() - t) / (double)npages;
		best[2] = t < best[2] ? t : best[2];

		/* walk hits, random pages of the range. */
		t = now_ns();
		for (uint64_t i = 0; i < npages; i++) {
			rnd ^= rnd << 13;
			rnd ^= rnd >> 7;
			rnd ^= rnd << 17;
			acc += *pgtable_walk(&src, BASE + (rnd % npages) * PAGE_SIZE);
		}
		t = (now_ns() - t) / (double)npages;
		best[3] = t < best[3] ? t : best[3];

		/* walk_alloc hits. */
		t = now_ns();
		for (uint64_t i = 0; i < npages; i++) {
			pte_t *p;

			if (pgtable_walk_alloc(&src, BASE + i * PAGE_SIZE, &p) != 0)
				die("walk_alloc");
			acc += *p;
		}
		t = (now_ns() - t) / (double)npages;
		best[4] = t < best[4] ? t : best[4];

		/* fork: copy every leaf, write-protecting the parent. */
		if (pgtable_init(&dst, m) != 0)
			die("pgtable_init");
		t = now_ns();
		if (pgtable_copy_range(&dst, &src, BASE, BASE + npages * PAGE_SIZE, cow_fn, &src) != 0)
			die("copy_range: out of frames");
		t = (now_ns() - t) / (double)npages;
		best[5] = t < best[5] ? t : best[5];

		/* munmap/exit: zap every leaf and free the tables. */
		zapped = 0;
		t = now_ns();
		pgtable_zap_range(&dst, BASE, BASE + npages * PAGE_SIZE, true, count_zap, &zapped);
		t = (now_ns() - t) / (double)npages;
		best[6] = t < best[6] ? t : best[6];
		if (zapped != npages || dst.nr_tables != 1)
			die("zap missed entries");
		pgtable_destroy(&dst);

		pgtable_zap_range(&src, 0, PT_USER_TOP, true, count_zap, &zapped);
		pgtable_destroy(&src);
		sink = acc;
	}

	printf("bench_pgtable: %llu MiB = %llu pages, best of %d rounds%s\n", (unsigned long long)mib,
	       (unsigned long long)npages, ROUNDS, ENV_DEBUG ? " (DEBUG BUILD: validators on)" : "");
	rows[0] = (struct row){ "walk_alloc, fresh pages (dense)", best[0], "call" };
	rows[1] = (struct row){ "walk_alloc, fresh PTE table each", best[1], "call" };
	rows[2] = (struct row){ "walk hit, sequential", best[2], "call" };
	rows[3] = (struct row){ "walk hit, random", best[3], "call" };
	rows[4] = (struct row){ "walk_alloc hit, sequential", best[4], "call" };
	rows[5] = (struct row){ "copy_range (fork, COW callback)", best[5], "page" };
	rows[6] = (struct row){ "zap_range (free_tables)", best[6], "page" };
	print_rows(rows, 7);
	as_machine_free(m);
	return 0;
}
