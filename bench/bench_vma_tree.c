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
 * Prints ns per pair (best of several rounds) and the 1M/1K ratio; the
 * tree's search and updates are O(log n), so the ratio should stay <= 2.
 *
 * usage: bench_vma_tree [pairs-per-round]   (default 2000000)
 */
#include "vma/vma.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG 4096ull
#define ROUNDS 5

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

struct result {
	uint64_t n;
	unsigned height;
	double ns_pair;
};

/* Build a tree of n regions, time `pairs` mmap+munmap pairs; exits on any inconsistency. */
static struct result run(uint64_t n, uint64_t pairs)
{
	struct vm_area *regions = aligned_alloc(64, (n + 1) * sizeof(*regions));
	uint32_t *order = malloc(n * sizeof(*order));
	struct vm_area *probe;
	struct vma_tree t;
	uint64_t base = 0x10000, mmap_base, want, x = 0;
	struct result res = { .n = n, .ns_pair = 1e300 };
	char buf[256];

	if (!regions || !order) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	memset(regions, 0, (n + 1) * sizeof(*regions));
	for (uint64_t i = 0; i < n; i++) {
		regions[i].start = base + 2 * i * PG;
		regions[i].end = regions[i].start + PG;
		order[i] = (uint32_t)i;
	}
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rnd() % (i + 1);
		uint32_t tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	vma_tree_init(&t);
	for (uint64_t i = 0; i < n; i++)
		vma_tree_insert(&t, &regions[order[i]]);
	free(order);

	mmap_base = regions[n - 1].end;
	want = regions[n - 1].start - 1;
	probe = &regions[n];

	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now_ns(), ns;
		uint64_t sum = 0;

		for (uint64_t i = 0; i < pairs; i++) {
			if (!vma_empty_area_rev(&t, PG, mmap_base - 1, PG, &x))
				break;
			probe->start = x + 1 - PG;
			probe->end = x + 1;
			vma_tree_insert(&t, probe);
			vma_tree_erase(&t, probe);
			sum += x;
		}
		ns = (now_ns() - t0) / (double)pairs;
		if (x != want || sum != want * pairs) {
			fprintf(stderr, "n=%" PRIu64 ": search found %#" PRIx64 ", expected %#" PRIx64 "\n",
				n, x, want);
			exit(1);
		}
		if (ns < res.ns_pair)
			res.ns_pair = ns;
	}
	if (vma_tree_check(&t, buf, sizeof(buf)) != 0 || t.count != n) {
		fprintf(stderr, "n=%" PRIu64 ": tree broken: %s\n", n, buf);
		exit(1);
	}
	res.height = height(t.root);
	free(regions);
	return res;
}

int main(int argc, char **argv)
{
	static const uint64_t sizes[] = { 1000, 10000, 100000, 1000000 };
	struct result r[4];
	uint64_t pairs = argc > 1 ? strtoull(argv[1], NULL, 0) : 2000000;

	if (pairs == 0)
		pairs = 1;
	printf("region tree: mmap+munmap pair = vma_empty_area_rev + vma_tree_insert + vma_tree_erase\n");
	printf("one-page regions with one-page holes, shuffled inserts; best of %d rounds of %" PRIu64
	       " pairs\n\n",
	       ROUNDS, pairs);
	printf("%10s  %7s  %12s\n", "regions", "height", "ns/pair");
	printf("%10s  %7s  %12s\n", "-------", "------", "-------");
	for (size_t i = 0; i < 4; i++) {
		r[i] = run(sizes[i], pairs);
		printf("%10" PRIu64 "  %7u  %12.1f\n", r[i].n, r[i].height, r[i].ns_pair);
		fflush(stdout);
	}
	printf("\nratio 1M/1K: %.2f (requirement: <= 2)\n", r[3].ns_pair / r[0].ns_pair);
	return 0;
}
