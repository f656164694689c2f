/*
 * Shrinking a divergent sequence (delta debugging): drop chunks of ops,
 * halving the chunk size down to single ops, then simplify the arguments
 * of what is left (drop mmap flags, halve lengths), and start again while
 * anything changed. A candidate is kept when it still diverges with the
 * same kind of op first and in the same fields. References to
 * a dropped op become the address the kernel returned for it, so that what
 * follows still aims at the same place.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

struct shrinker {
	struct fz_env *env;
	const struct fz_sig *want;
	struct orc_op best[ORC_MAX_OPS];
	size_t n;
	int64_t res[ORC_MAX_OPS];  /* the kernel's results for best */
	int runs;
	long deadline;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool same(const struct fz_sig *want, const struct fz_sig *got)
{
	return !got->harness && !want->harness && want->kind == got->kind && want->fields == got->fields &&
	       want->kerr == got->kerr && want->aerr == got->aerr;
}

/* Run cand; when it shows the divergence, make it the best (cut after the divergent op). */
static bool try(struct shrinker *s, const struct orc_op *cand, size_t n)
{
	struct fz_run r;
	struct fz_sig sig;
	bool ok = false;
	int at;

	if (n == 0 || now_ms() > s->deadline)
		return false;
	s->runs++;
	fz_run(s->env, cand, n, &r, getenv("ASPACE_DIFF_DEBUG") ? stderr : NULL);
	bool div = fz_divergence(s->env, &r, cand, n, &sig, &at);

	if (getenv("ASPACE_DIFF_DEBUG"))
		fprintf(stderr, "shrink: %zu ops: %s at %d, kind %d fields %#x%s\n", n, div ? "diverges" : "agrees", at,
			sig.kind, sig.fields, sig.harness ? " (harness)" : "");
	if (div && same(s->want, &sig)) {
		size_t keep = at >= 0 && (size_t)at < n ? (size_t)at + 1 : n;

		memmove(s->best, cand, keep * sizeof(*cand));
		s->n = keep;
		for (size_t i = 0; i < keep; i++)
			s->res[i] = i < r.k.nops ? r.k.rec[i].ret : (i < r.a.nops ? r.a.rec[i].ret : 0);
		ok = true;
	}
	fz_run_free(&r);
	return ok;
}

/* best without ops [from, to), references fixed. */
static size_t without(const struct shrinker *s, size_t from, size_t to, struct orc_op *out)
{
	int map[ORC_MAX_OPS];
	size_t m = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (i >= from && i < to) {
			map[i] = -1;
			continue;
		}
		map[i] = (int)m;
		out[m] = s->best[i];
		for (int j = 0; j < 6; j++) {
			uint64_t v = out[m].a[j];

			if (ORC_IS_REF(v)) {
				size_t ref = (size_t)((v >> ORC_REF_OFF_BITS) & 0xff);
				uint64_t off = v & ((1ull << ORC_REF_OFF_BITS) - 1);

				if (off & (1ull << (ORC_REF_OFF_BITS - 1)))
					off |= ~((1ull << ORC_REF_OFF_BITS) - 1);
				if (ref < i && map[ref] < 0)
					out[m].a[j] = (uint64_t)s->res[ref] + off;
				else if (ref < i)
					out[m].a[j] = ORC_REF(map[ref], (int64_t)off);
			}
		}
		m++;
	}
	return m;
}

static bool drop_chunks(struct shrinker *s)
{
	struct orc_op cand[ORC_MAX_OPS];
	bool changed = false;

	for (size_t chunk = s->n / 2 ? s->n / 2 : 1; chunk >= 1; chunk /= 2) {
		/* Never the last op: it is the divergent one. */
		for (size_t from = 0; from + chunk < s->n;) {
			size_t m = without(s, from, from + chunk, cand);

			if (try(s, cand, m))
				changed = true;
			else
				from += chunk;
		}
		if (chunk == 1)
			break;
	}
	return changed;
}

/* Simpler versions of op i, one at a time. */
static bool simplify(struct shrinker *s)
{
	static const uint64_t mmap_bits[] = { MAP_POPULATE, MAP_LOCKED, MAP_NORESERVE, MAP_STACK, MAP_NONBLOCK,
					      MAP_32BIT, MAP_GROWSDOWN, 0x80 /* MAP_ABOVE4G */ };
	struct orc_op cand[ORC_MAX_OPS];
	bool changed = false;

	for (size_t i = 0; i < s->n; i++) {
		struct orc_op *op;
		int k = 0;

		for (;;) {
			bool made = false;

			memcpy(cand, s->best, s->n * sizeof(*cand));
			op = &cand[i];
			switch (op->kind) {
			case ORC_OP_MMAP:
				for (; k < (int)(sizeof(mmap_bits) / sizeof(mmap_bits[0])) && !made; k++)
					if (op->a[3] & mmap_bits[k]) {
						op->a[3] &= ~mmap_bits[k];
						made = true;
					}
				if (!made && k == (int)(sizeof(mmap_bits) / sizeof(mmap_bits[0]))) {
					k++;
					if (op->a[1] > 4096 && !(op->a[1] & 4095) && op->a[1] < (1ull << 40)) {
						op->a[1] = (op->a[1] / 2 + 4095) & ~4095ull;
						made = true;
					}
				}
				break;
			case ORC_OP_READ:
			case ORC_OP_WRITE:
				if (k++ == 0 && op->a[1] > 1) {
					op->a[1] = op->a[1] > 4096 ? 4096 : 1;
					made = true;
				}
				break;
			case ORC_OP_MUNMAP:
			case ORC_OP_MPROTECT:
			case ORC_OP_MADVISE:
			case ORC_OP_MLOCK:
			case ORC_OP_MLOCK2:
			case ORC_OP_MUNLOCK:
			case ORC_OP_MSYNC:
			case ORC_OP_MINCORE:
				if (k++ == 0 && op->a[1] > 4096 && !(op->a[1] & 4095) && op->a[1] < (1ull << 40)) {
					op->a[1] = (op->a[1] / 2 + 4095) & ~4095ull;
					made = true;
				}
				break;
			default:
				break;
			}
			if (!made)
				break;
			if (try(s, cand, s->n)) {
				changed = true;
				if (i >= s->n)
					break;
			}
		}
	}
	return changed;
}

int fz_shrink(struct fz_env *env, struct orc_op *ops, size_t *n, const struct fz_sig *sig, long budget_ms)
{
	struct shrinker *s = calloc(1, sizeof(*s));
	int runs;

	if (!s || sig->harness || *n > ORC_MAX_OPS) {
		free(s);
		return 0;
	}
	s->env = env;
	s->want = sig;
	s->deadline = now_ms() + budget_ms;
	if (try(s, ops, *n)) {
		bool changed = true;

		while (changed && now_ms() < s->deadline) {
			changed = drop_chunks(s);
			changed |= simplify(s);
		}
		memcpy(ops, s->best, s->n * sizeof(*ops));
		*n = s->n;
	}
	runs = s->runs;
	free(s);
	return runs;
}
