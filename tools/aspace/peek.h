/*
 * peek — one address's walk through the four page-table levels and the
 * frame behind it, for the `pagetable` view. The walk is the library's
 * public as_mm_walk; the only thing it does not say is two flags of the
 * page itself (anon-exclusive, mlocked), which peek.c reads from the
 * library's internal page descriptor, read-only, in one small function
 * (page_flags) — the command's only use of an internal header.
 */
#ifndef ASPACE_TOOL_PEEK_H
#define ASPACE_TOOL_PEEK_H

#include <aspace/aspace.h>
#include <stdbool.h>
#include <stdint.h>

/* x86-64 entry bits, as the hardware defines them. */
#define PEEK_P (1ull << 0)
#define PEEK_RW (1ull << 1)
#define PEEK_US (1ull << 2)
#define PEEK_A (1ull << 5)
#define PEEK_D (1ull << 6)
#define PEEK_PS (1ull << 7)
#define PEEK_G (1ull << 8)
#define PEEK_NX (1ull << 63)
#define PEEK_PFN_MASK 0x000ffffffffff000ull

struct peek_level {
	int level;          /* 4 PGD, 3 PUD, 2 PMD, 1 PTE */
	unsigned index;
	uint64_t entry;
};

struct peek_walk {
	uint64_t va;
	bool user;              /* va is below 2^47 */
	int nlevels;            /* levels read, from the PGD down */
	struct peek_level lv[4];
	bool mapped;            /* the leaf is present */
	bool special;           /* the leaf maps no page reference (the zero page) */
	bool guard;             /* the leaf is a guard marker (MADV_GUARD_INSTALL) */
	uint64_t frame;         /* its frame number */
	const char *kind;       /* "anon", "file", "shmem", "zero page", "none" */
	int refcount, mapcount;
	bool exclusive, mlocked;
};

void peek_walk(struct as_mm *mm, uint64_t va, struct peek_walk *w);

#endif
