/*
 * bench_vma_tree — the region tree's cost per "mmap + munmap" pair.
 *
 * For 1K, 10K, 100K and 1M regions (one page each, one-page holes between
 * them, linked in shuffled order), time what the tree does for an mmap of
 * one page top-down and its munmap:
 *
 *   vma_empty_area_rev over the whole window [PAGE_SIZE, mmap_base - 1]
 *   (mmap_base right above the highest region, so the answer is the hole
 *   just below it), vma_tree_insert of the page there, vma_tree_erase.
 *
 * Prints ns per pair and the 1M/1K ratio; the tree's search and updates
 * are O(log n), so the ratio should stay <= 2. The four trees are built
 * first, then timed in interleaved batches and each keeps its best batch,
 * which filters out a busy host.
 *
 * usage: bench_vma_tree [pairs-per-batch [batches]]   (default 20000 100)
 */
#include "vma/vma.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG 4096ull

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

/* Unsigned height of the subtree at n. */
static unsigned height(const struct vm_area *n)
{
	unsigned l, r;

	if (!n)
		return 0;
	l = height(n->rb_left);
	r = height(n->rb_right);
	return 1 + (l > r ? l : r);
}

/* One tree under test and its best time so far. */
struct bench {
	uint64_t n;
	struct vm_area *regions; /* n regions, then the probe */
	struct vma_tree t;
	uint64_t mmap_base;      /* the window is [PG, mmap_base - 1] */
	uint64_t want;           /* the search's answer: the hole below the top region */
	double best_ns;          /* per pair, best batch */
};

/* Build a tree of b->n regions, linked in shuffled order. */
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
	b->mmap_base = b->regions[n - 1].end;
	b->want = b->regions[n - 1].start - 1;
	b->best_ns = 1e300;
}

/* Time one batch of mmap+munmap pairs on b's tree; exits on a wrong answer. */
static void bench_batch(struct bench *b, uint64_t pairs)
{
	struct vm_area *probe = &b->regions[b->n];
	uint64_t x = 0, sum = 0;
	double t0 = now_ns(), ns;

	for (uint64_t i = 0; i < pairs; i++) {
		if (!vma_empty_area_rev(&b->t, PG, b->mmap_base - 1, PG, &x))
			break;
		probe->start = x + 1 - PG;
		probe->end = x + 1;
		vma_tree_insert(&b->t, probe);
		vma_tree_erase(&b->t, probe);
		sum += x;
	}
	ns = (now_ns() - t0) / (double)pairs;
	if (x != b->want || sum != b->want * pairs) {
		fprintf(stderr, "n=%" PRIu64 ": search found %#" PRIx64 ", expected %#" PRIx64 "\n",
			b->n, x, b->want);
		exit(1);
	}
	if (ns < b->best_ns)
		b->best_ns = ns;
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
	int rounds = argc > 2 ? atoi(argv[2]) : 100;

	if (pairs == 0)
		pairs = 1;
	if (rounds <= 0)
		rounds = 1;
	for (size_t i = 0; i < AS_ARRAY_SIZE(b); i++)
		bench_build(&b[i]);
	/* Interleave the sizes so that a busy host slows them all alike; keep each one's best batch. */
	for (int r = 0; r < rounds; r++)
		for (size_t i = 0; i < AS_ARRAY_SIZE(b); i++)
			bench_batch(&b[i], pairs);

	printf("region tree: one mmap+munmap pair = vma_empty_area_rev over [4K, mmap_base)\n"
	       "  + vma_tree_insert + vma_tree_erase of one page (the hole right below mmap_base)\n"
	       "one-page regions with one-page holes, inserted in shuffled order\n"
	       "best of %d batches of %" PRIu64 " pairs per size, sizes interleaved\n\n",
	       rounds, pairs);
	printf("%10s  %7s  %10s\n", "regions", "height", "ns/pair");
	printf("%10s  %7s  %10s\n", "----------", "-------", "----------");
	for (size_t i = 0; i < AS_ARRAY_SIZE(b); i++) {
		printf("%10" PRIu64 "  %7u  %10.1f\n", b[i].n, height(b[i].t.root), b[i].best_ns);
		bench_finish(&b[i]);
	}
	printf("\nratio 1M/1K: %.2f (requirement: <= 2)\n", b[3].best_ns / b[0].best_ns);
	return 0;
}
