/*
 * bench_vma_tree — the region tree's cost per "mmap + munmap" pair.
 *
 * For 1K, 10K, 100K and 1M regions (one page each, one-page holes between
 * them, linked in shuffled order, nodes in one preallocated array), time
 * what the tree does for a one-page top-down mmap and its munmap:
 *
 *   top     vma_empty_area_rev over the whole window [4K, mmap_base - 1],
 *           mmap_base right above the highest region, so the answer is the
 *           hole just below it; vma_tree_insert of the page there;
 *           vma_tree_erase. This is the requirement: ratio 1M/1K <= 2.
 *   random  the same, but each pair's window ends below a random region,
 *           so search and insert run through random root-to-leaf paths.
 *           For information: at 1M regions (~100 MB of nodes) every pair
 *           misses the caches along its path, which a pointer tree cannot
 *           avoid; the ratio here measures the memory system.
 *
 * The four trees are built first, then timed in interleaved batches, each
 * scenario keeping its best batch, which filters out a busy host.
 *
 * usage: bench_vma_tree [pairs-per-batch [batches]]   (default 20000 60)
 */
#include "vma/vma.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG 4096ull
#define NR_TARGETS 4096 /* random holes, reused round robin */

static uint64_t rng = 0x243f6a8885a308d3ull;

/* xorshift64: enough to shuffle. */
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Height of the subtree at n. */
static unsigned height(const struct vm_area *n)
{
	unsigned l, r;

	if (!n)
		return 0;
	l = height(n->rb_left);
	r = height(n->rb_right);
	return 1 + (l > r ? l : r);
}

/* One tree under test and its best times so far. */
struct bench {
	uint64_t n;
	struct vm_area *regions;       /* n regions, then the probe */
	struct vma_tree t;
	uint64_t targets[NR_TARGETS];  /* random scenario: the windows' last addresses */
	double best_top, best_random;  /* ns per pair, best batch */
};

/* Build a tree of b->n regions at 64K + 2i pages, linked in shuffled order. */
static void bench_build(struct bench *b)
{
	uint64_t n = b->n, base = 0x10000;
	uint32_t *order = malloc(n * sizeof(*order));

	b->regions = aligned_alloc(64, (n + 1) * sizeof(*b->regions));
	if (!b->regions || !order) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	memset(b->regions, 0, (n + 1) * sizeof(*b->regions));
	for (uint64_t i = 0; i < n; i++) {
		b->regions[i].start = base + 2 * i * PG;
		b->regions[i].end = b->regions[i].start + PG;
		order[i] = (uint32_t)i;
	}
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rnd() % (i + 1);
		uint32_t tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	vma_tree_init(&b->t);
	for (uint64_t i = 0; i < n; i++)
		vma_tree_insert(&b->t, &b->regions[order[i]]);
	free(order);
	for (int i = 0; i < NR_TARGETS; i++)
		b->targets[i] = b->regions[1 + rnd() % (n - 1)].start - 1;
	b->best_top = b->best_random = 1e300;
}

/*
 * Time `pairs` mmap+munmap pairs whose windows end at targets[i % nr]
 * (the search must return exactly that address: the hole below a region);
 * returns ns per pair. Exits on a wrong answer.
 */
static double bench_pairs(struct bench *b, const uint64_t *targets, int nr, uint64_t pairs)
{
	struct vm_area *probe = &b->regions[b->n];
	uint64_t x = 0, bad = 0;
	double t0 = now_ns();

	for (uint64_t i = 0; i < pairs; i++) {
		uint64_t max = targets[i % (uint64_t)nr];

		if (!vma_empty_area_rev(&b->t, PG, max, PG, &x))
			x = 0;
		bad |= x ^ max;
		probe->start = x + 1 - PG;
		probe->end = x + 1;
		vma_tree_insert(&b->t, probe);
		vma_tree_erase(&b->t, probe);
	}
	if (bad) {
		fprintf(stderr, "n=%" PRIu64 ": a search missed the hole right below its window\n",
			b->n);
		exit(1);
	}
	return (now_ns() - t0) / (double)pairs;
}

/* One batch of each scenario; keep the best times. */
static void bench_batch(struct bench *b, uint64_t pairs)
{
	uint64_t top = b->regions[b->n - 1].start - 1; /* window [4K, mmap_base - 1] */
	double ns;

	ns = bench_pairs(b, &top, 1, pairs);
	if (ns < b->best_top)
		b->best_top = ns;
	ns = bench_pairs(b, b->targets, NR_TARGETS, pairs / 4 + 1);
	if (ns < b->best_random)
		b->best_random = ns;
}

/* Validate the tree after the runs and free it. */
static void bench_finish(struct bench *b)
{
	char buf[256];

	if (vma_tree_check(&b->t, buf, sizeof(buf)) != 0 || b->t.count != b->n) {
		fprintf(stderr, "n=%" PRIu64 ": tree broken: %s\n", b->n, buf);
		exit(1);
	}
	free(b->regions);
}

int main(int argc, char **argv)
{
	static struct bench b[] = { { .n = 1000 }, { .n = 10000 }, { .n = 100000 }, { .n = 1000000 } };
	uint64_t pairs = argc > 1 ? strtoull(argv[1], NULL, 0) : 20000;
	int batches = argc > 2 ? atoi(argv[2]) : 60;

	if (pairs == 0)
		pairs = 1;
	if (batches <= 0)
		batches = 1;
	for (size_t i = 0; i < AS_ARRAY_SIZE(b); i++)
		bench_build(&b[i]);
	/* Interleave the sizes so that a busy host slows them all alike. */
	for (int r = 0; r < batches; r++)
		for (size_t i = 0; i < AS_ARRAY_SIZE(b); i++)
			bench_batch(&b[i], pairs);

	printf("region tree: ns per mmap+munmap pair = vma_empty_area_rev + vma_tree_insert\n"
	       "+ vma_tree_erase of one page; one-page regions with one-page holes, inserted\n"
	       "in shuffled order; best of %d interleaved batches of %" PRIu64 " pairs\n\n",
	       batches, pairs);
	printf("%10s  %6s  %12s  %14s\n", "regions", "height", "top ns/pair", "random ns/pair");
	printf("%10s  %6s  %12s  %14s\n", "----------", "------", "-----------", "--------------");
	for (size_t i = 0; i < AS_ARRAY_SIZE(b); i++) {
		printf("%10" PRIu64 "  %6u  %12.1f  %14.1f\n", b[i].n, height(b[i].t.root),
		       b[i].best_top, b[i].best_random);
		bench_finish(&b[i]);
	}
	printf("\nratio 1M/1K, top (window [4K, mmap_base), the requirement <= 2): %.2f\n",
	       b[3].best_top / b[0].best_top);
	printf("ratio 1M/1K, random holes (for information, cache-miss bound):   %.2f\n",
	       b[3].best_random / b[0].best_random);
	return 0;
}
