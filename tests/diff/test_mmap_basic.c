/*
 * Side by side: mmap placement, merging, munmap, MAP_FIXED, hints, mmap
 * errors and brk, on the host kernel and on aspace (tools/oracle).
 *
 * Sequences only touch what they mapped themselves: the kernel side runs in
 * a fork of this program, whose own regions must stay intact. Fixed
 * addresses are either inside a region the sequence mapped (ORC_REF) or in
 * the wide free range at 0x200000000000.
 *
 * Tests that need calls or the fault handler aspace does not have yet skip
 * themselves (with a TODO line) when the only reason they diverge is an
 * -ENOSYS answer from aspace; they become real tests as those land.
 */
#include "oracle.h"
#include <aspace/mman.h>
#include "testlib.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define KB(x) ((uint64_t)(x) << 10)
#define MB(x) ((uint64_t)(x) << 20)
#define PG(x) ((uint64_t)(x) << 12)
#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)
#define FREE_AREA 0x200000000000ull /* far below mmap_base, far above the heap */

enum { PRIV_ROOT = 0, PRIV_NOBODY = 1 };
enum { STRICT = 0, SKIP_IF_ENOSYS = 1 };

static void run_seq(const char *name, const struct orc_op *ops, size_t n, int priv, uint32_t ignore, int mode)
{
	struct orc_opts o;
	struct orc_result r;
	int rc;

	orc_opts_init(&o);
	o.name = name;
	o.unprivileged = priv == PRIV_NOBODY;
	o.ignore = ignore;
	rc = orc_check(ops, n, &o, &r);
	if (rc < 0)
		fail_msg("%s: the oracle could not run: %s", name, r.error);
	if (rc > 0 && mode == SKIP_IF_ENOSYS && r.aspace_enosys > 0) {
		print_message("TODO %s: aspace answers -ENOSYS in %d op(s) (first divergence at op %d); "
			      "skipped until implemented\n",
			      name, r.aspace_enosys, r.first_diverged);
		skip();
	}
	if (rc != 0)
		fail_msg("%s: %d divergence(s) between the kernel and aspace, first at op %d (report above)", name,
			 rc, r.first_diverged);
}

#define RUN(ops, priv, ignore, mode) run_seq(__func__, ops, ORC_N(ops), priv, ignore, mode)

/* ---- placement ---- */

/*
 * Top-down placement of several sizes; alternating protections keep them
 * apart. 2 and 4 MiB land 2 MiB aligned (THP alignment of anonymous
 * mappings), 3 MiB does not qualify, 6 MiB does.
 */
static void test_placement_sizes(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, KB(4), RW, PA),
		ORC_MMAP(0, KB(64), PROT_READ, PA),
		ORC_MMAP(0, MB(2), RW, PA),
		ORC_MMAP(0, MB(4), PROT_READ, PA),
		ORC_MMAP(0, MB(3), RW, PA),
		ORC_MMAP(0, MB(6), PROT_NONE, PA),
		ORC_MMAP(0, KB(12) + 1, RW, PA),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* Hints: a free one is taken as is (rounded down to a page), an occupied or invalid one is not. */
static void test_placement_hints(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(FREE_AREA, KB(64), RW, PA),                /* 0: exactly there */
		ORC_MMAP(ORC_REF(0, 0), KB(16), PROT_READ, PA),     /* 1: occupied: top-down */
		ORC_MMAP(FREE_AREA + MB(1) + 0x123, KB(8), RW, PA), /* 2: rounded down */
		ORC_MMAP(0x800000000000ull, KB(4), RW, PA),         /* 3: above the task size */
		ORC_MMAP((1ull << 47) - PG(2), PG(4), RW, PA),      /* 4: would end above it */
		ORC_MMAP(0x800, KB(4), RW, PA),                     /* 5: below a page: no hint */
		ORC_MUNMAP(ORC_REF(0, 0), KB(64)),
		ORC_MUNMAP(ORC_REF(2, 0), KB(8)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* A hint below mmap_min_addr is raised to it; MAP_FIXED below it needs CAP_SYS_RAWIO. */
static void run_low_hint(const char *name, int priv)
{
	struct orc_probe p;
	uint64_t low;

	orc_probe(&p);
	low = p.mmap_min_addr > PG(1) ? p.mmap_min_addr - PG(1) : PG(0);
	{
		const struct orc_op seq[] = {
			ORC_MMAP(low ? low : 0x800, KB(4), RW, PA),
			ORC_MMAP(0, KB(4), RW, PA | MAP_FIXED),
			ORC_MMAP(low, KB(4), RW, PA | MAP_FIXED),
			ORC_MMAP(p.mmap_min_addr, KB(4), RW, PA | MAP_FIXED_NOREPLACE),
			ORC_MUNMAP(0, p.mmap_min_addr + PG(1)),
		};
		run_seq(name, seq, ORC_N(seq), priv, 0, STRICT);
	}
}

static void test_low_hint_root(void **state)
{
	(void)state;
	run_low_hint(__func__, PRIV_ROOT);
}

static void test_low_hint_nobody(void **state)
{
	(void)state;
	run_low_hint(__func__, PRIV_NOBODY);
}

/* ---- merging ---- */

/*
 *   op 0:                 |== A rw ==|
 *   op 1:      |== B rw ==|                  B merges with A
 *   op 2: |C r-|                             C stays apart
 *   op 3: |C'rw|                             MAP_FIXED over C: all one
 *   op 4: |D rw, MAP_NORESERVE|  (below)     different flags: apart
 */
static void test_merge_adjacent(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, KB(64), RW, PA),
		ORC_MMAP(0, KB(64), RW, PA),
		ORC_MMAP(0, KB(64), PROT_READ, PA),
		ORC_MMAP(ORC_REF(2, 0), KB(64), RW, PA | MAP_FIXED),
		ORC_MMAP(0, KB(64), RW, PA | MAP_NORESERVE),
		ORC_MMAP(0, KB(64), PROT_READ | PROT_EXEC, PA),
		ORC_MMAP(0, KB(64), PROT_READ | PROT_EXEC, PA),
		/* One region at a time: only what an op returned is surely ours. */
		ORC_MUNMAP(ORC_REF(0, 0), KB(64)),
		ORC_MUNMAP(ORC_REF(1, 0), KB(64)),
		ORC_MUNMAP(ORC_REF(3, 0), KB(64)),
		ORC_MUNMAP(ORC_REF(4, 0), KB(64)),
		ORC_MUNMAP(ORC_REF(5, 0), KB(64)),
		ORC_MUNMAP(ORC_REF(6, 0), KB(64)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* ---- munmap ---- */

static void test_munmap_middle(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(3), RW, PA),
		ORC_MUNMAP(ORC_REF(0, PG(1)), PG(1)),     /* split in two */
		ORC_MUNMAP(ORC_REF(0, 0), PG(3)),         /* both, and the hole */
		ORC_MMAP(0, PG(16), RW, PA),
		ORC_MUNMAP(ORC_REF(3, PG(15)), PG(1)),    /* the top page */
		ORC_MUNMAP(ORC_REF(3, 0), PG(1)),         /* the bottom page */
		ORC_MUNMAP(ORC_REF(3, PG(4)), PG(2) + 1), /* length rounded up */
		ORC_MUNMAP(ORC_REF(3, 0), PG(16)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

static void test_munmap_errors(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW, PA),
		ORC_MUNMAP(ORC_REF(0, 1), PG(1)),          /* unaligned: EINVAL */
		ORC_MUNMAP(ORC_REF(0, 0), 0),              /* empty: EINVAL */
		ORC_MUNMAP(FREE_AREA, PG(1)),              /* nothing there: 0 */
		ORC_MUNMAP(0x7fff00000000ull, 1ull << 47), /* beyond the task size: EINVAL */
		ORC_MUNMAP(ORC_REF(0, 0), -4096),          /* wraps: EINVAL */
		ORC_MUNMAP(ORC_REF(0, 0), PG(4)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* ---- MAP_FIXED ---- */

/*
 *   |.... 32 pages rw ....|   then a hole at pages 8-11,
 *   MAP_FIXED r-- over pages 6-13 (both sides of the hole),
 *   MAP_FIXED rw over pages 6-13 again: one region again.
 */
static void test_map_fixed_over(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(32), RW, PA),
		ORC_MUNMAP(ORC_REF(0, PG(8)), PG(4)),
		ORC_MMAP(ORC_REF(0, PG(6)), PG(8), PROT_READ, PA | MAP_FIXED),
		ORC_MMAP(ORC_REF(0, PG(6)), PG(8), RW, PA | MAP_FIXED),
		ORC_MMAP(ORC_REF(0, PG(31)), PG(1), PROT_NONE, PA | MAP_FIXED),
		ORC_MMAP(ORC_REF(0, 0), PG(32), PROT_READ, PA | MAP_FIXED),
		ORC_MMAP(ORC_REF(0, 1), PG(1), RW, PA | MAP_FIXED), /* unaligned: EINVAL */
		ORC_MUNMAP(ORC_REF(0, 0), PG(32)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

static void test_map_fixed_noreplace(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(16), RW, PA),
		ORC_MMAP(ORC_REF(0, PG(4)), PG(4), RW, PA | MAP_FIXED_NOREPLACE), /* EEXIST */
		ORC_MMAP(ORC_REF(0, PG(15)), PG(1), RW, PA | MAP_FIXED_NOREPLACE), /* EEXIST */
		ORC_MUNMAP(ORC_REF(0, PG(4)), PG(4)),
		ORC_MMAP(ORC_REF(0, PG(4)), PG(4), RW, PA | MAP_FIXED_NOREPLACE), /* fits, merges back */
		ORC_MUNMAP(ORC_REF(0, PG(4)), PG(4)),
		ORC_MMAP(ORC_REF(0, PG(3)), PG(2), RW, PA | MAP_FIXED_NOREPLACE), /* overlaps below: EEXIST */
		ORC_MMAP(FREE_AREA, PG(2), PROT_READ, PA | MAP_FIXED_NOREPLACE),
		ORC_MUNMAP(ORC_REF(0, 0), PG(16)),
		ORC_MUNMAP(FREE_AREA, PG(2)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* ---- mmap errors ---- */

static void test_mmap_errors(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, 0, RW, PA),                                      /* EINVAL */
		ORC_MMAP(0, PG(1), RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS), /* EINVAL */
		ORC_MMAP(0, PG(1), RW, MAP_ANONYMOUS),                       /* no type: EINVAL */
		ORC_MMAP(0, PG(1), RW, 0xf | MAP_ANONYMOUS),                 /* bad type: EINVAL */
		ORC_MMAP_FD(0, PG(1), RW, PA, -1, 0x123),                    /* offset: EINVAL */
		ORC_MMAP(0, 1ull << 47, RW, PA),                             /* ENOMEM */
		ORC_MMAP(0, (uint64_t)-4096, RW, PA),                        /* ENOMEM */
		ORC_MMAP(0, (uint64_t)-1, RW, PA),                           /* rounds to 0: ENOMEM */
		ORC_MMAP(FREE_AREA + 1, PG(1), RW, PA | MAP_FIXED),          /* EINVAL */
		ORC_MMAP(0x7ffffffff000ull, PG(2), RW, PA | MAP_FIXED),      /* past the top: ENOMEM */
		ORC_MMAP(0, PG(1), RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN), /* EINVAL */
		ORC_MMAP(0, MB(2), RW, PA | MAP_HUGETLB),                    /* no huge pages: ENOMEM */
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* Unknown prot bits, MAP_GROWSDOWN, MAP_STACK, MAP_LOCKED: what the region looks like. */
static void test_mmap_flag_variants(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW | 0x10, PA),
		ORC_MMAP(0, PG(4), RW, PA | MAP_GROWSDOWN),
		ORC_MMAP(0, PG(4), RW, PA | MAP_STACK),
		ORC_MMAP(0, PG(4), RW, PA | MAP_NORESERVE),
		ORC_MMAP(0, PG(4), PROT_NONE, PA),
		ORC_MMAP(0, PG(4), PROT_WRITE, PA),
		ORC_MMAP(0, PG(4), PROT_EXEC, PA),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* ---- brk ---- */

/*
 * The child's heap is this program's heap: every break is relative to the
 * one brk(0) reports (op 0). In a forked child the old heap region has an
 * anon_vma chain, so growth makes a region of its own.
 */
static void test_brk_grow_shrink(void **state)
{
	static const struct orc_op seq[] = {
		ORC_BRK(0),
		ORC_BRK(ORC_REF(0, KB(64))),
		ORC_BRK(ORC_REF(0, KB(128) + 100)), /* unaligned: the region covers the page */
		ORC_BRK(0),
		ORC_BRK(ORC_REF(0, KB(32))),        /* shrink */
		ORC_BRK(ORC_REF(0, KB(32) + 1)),    /* same page: only the value moves */
		ORC_BRK(ORC_REF(0, 0)),
		ORC_BRK(1),                         /* below start_brk: unchanged */
		ORC_BRK(0),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* Growing into a mapping fails; growth must leave a page free below the next region. */
static void test_brk_collision(void **state)
{
	static const struct orc_op seq[] = {
		ORC_BRK(0),
		ORC_MMAP(ORC_REF(0, KB(256)), PG(1), RW, PA | MAP_FIXED_NOREPLACE),
		ORC_BRK(ORC_REF(0, KB(512))),          /* across it: fails */
		ORC_BRK(ORC_REF(0, KB(256) - PG(1) + 1)), /* leaves no page: fails */
		ORC_BRK(ORC_REF(0, KB(256) - PG(1))),  /* leaves one page: fine */
		ORC_BRK(ORC_REF(0, 0)),
		ORC_MUNMAP(ORC_REF(1, 0), PG(1)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* RLIMIT_DATA bounds the heap and private writable mappings. */
static void test_rlimit_data(void **state)
{
	static const struct orc_op seq[] = {
		ORC_SETRLIMIT(RLIMIT_DATA, MB(64), RLIM_INFINITY),
		ORC_MMAP(0, MB(512), RW, PA),          /* ENOMEM */
		ORC_MMAP(0, MB(512), PROT_READ, PA),   /* not data: fine */
		ORC_MUNMAP(ORC_REF(2, 0), MB(512)),
		ORC_SETRLIMIT(RLIMIT_AS, MB(64), RLIM_INFINITY),
		ORC_MMAP(0, MB(512), PROT_READ, PA),   /* ENOMEM */
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* ---- stacks, MAP_32BIT, population, limits ---- */

/*
 * A MAP_GROWSDOWN region keeps stack_guard_gap (256 pages) free below it:
 * top-down placement and hints stay clear of it, and an access in the gap
 * grows the region (SIGSEGV further down).
 */
static void test_growsdown_guard_gap(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(FREE_AREA, PG(4), RW, PA | MAP_GROWSDOWN),
		ORC_MMAP(FREE_AREA - PG(8), PG(4), RW, PA),          /* hint in the gap: elsewhere */
		ORC_MMAP(FREE_AREA - MB(1) - PG(4), PG(4), RW, PA),  /* just below it: taken */
		ORC_MMAP(0, PG(4), RW, PA | MAP_GROWSDOWN),
		ORC_MMAP(0, PG(4), RW, PA),                          /* placed below the gap */
		ORC_WRITE(FREE_AREA - PG(2), 1, 1),                  /* grows the stack */
		ORC_READ(FREE_AREA - PG(300), 1),                    /* beyond the gap: SEGV_MAPERR */
		ORC_WRITE(FREE_AREA + PG(4), 1, 1),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

static void test_map_32bit(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW, PA | MAP_32BIT),
		ORC_MMAP(0, MB(2), RW, PA | MAP_32BIT),
		ORC_MMAP(0, PG(4), RW, PA | MAP_ABOVE4G),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

static void test_populate(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(8), RW, PA | MAP_POPULATE),
		ORC_MMAP(0, PG(4), PROT_READ, PA | MAP_POPULATE),
		ORC_MMAP(0, PG(4), PROT_NONE, PA | MAP_POPULATE),
		ORC_MMAP(0, PG(4), RW, PA | MAP_POPULATE | MAP_NONBLOCK),
		ORC_MMAP(0, PG(8), RW, PA | MAP_LOCKED),
		ORC_READ(ORC_REF(4, 0), PG(8)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* MAP_LOCKED as nobody: RLIMIT_MEMLOCK (EAGAIN over it, EPERM when 0), hard limits. */
static void test_locked_limits_nobody(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, MB(4), RW, PA | MAP_LOCKED),
		ORC_MMAP(0, MB(6), RW, PA | MAP_LOCKED),
		ORC_SETRLIMIT(RLIMIT_MEMLOCK, MB(8), MB(16)),        /* raising the hard limit: EPERM */
		ORC_SETRLIMIT(RLIMIT_MEMLOCK, MB(16), MB(8)),        /* cur > max: EINVAL */
		ORC_SETRLIMIT(RLIMIT_MEMLOCK, 0, 0),
		ORC_MMAP(0, PG(1), RW, PA | MAP_LOCKED),
		ORC_MMAP(0, PG(1), RW, PA | MAP_FIXED),              /* below mmap_min_addr: EPERM */
	};
	(void)state;
	RUN(seq, PRIV_NOBODY, 0, STRICT);
}

/* RLIMIT_AS counts MAP_FIXED replacements net of what they unmap; RLIMIT_DATA bounds brk. */
static void test_rlimit_as_brk_data(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, MB(16), PROT_READ, PA),
		ORC_BRK(0),
		ORC_SETRLIMIT(RLIMIT_AS, 0, RLIM_INFINITY),
		ORC_MMAP(ORC_REF(0, 0), MB(8), PROT_READ, PA | MAP_FIXED),
		ORC_MMAP(ORC_REF(0, MB(8)), MB(16), PROT_READ, PA | MAP_FIXED),
		ORC_SETRLIMIT(RLIMIT_AS, RLIM_INFINITY, RLIM_INFINITY),
		ORC_SETRLIMIT(RLIMIT_DATA, 0, RLIM_INFINITY),
		ORC_BRK(ORC_REF(1, PG(4))),                         /* zero soft limit: allowed */
		ORC_SETRLIMIT(RLIMIT_DATA, MB(1), RLIM_INFINITY),
		ORC_BRK(ORC_REF(1, PG(8))),
		ORC_BRK(ORC_REF(1, 0)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* ---- mremap ---- */

static void test_mremap_in_place_and_merge(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(FREE_AREA, PG(4), RW, PA),
		ORC_MREMAP(FREE_AREA, PG(4), PG(8), 0, 0),                     /* grows in place */
		ORC_MMAP(FREE_AREA + PG(12), PG(4), RW, PA | MAP_FIXED),
		ORC_MREMAP(FREE_AREA, PG(8), PG(12), 0, 0),                    /* up to the next */
		ORC_MREMAP(FREE_AREA, PG(12), PG(13), 0, 0),                   /* ENOMEM */
		ORC_MREMAP(FREE_AREA, PG(12), PG(13), MREMAP_MAYMOVE, 0),      /* moves */
		ORC_MMAP(FREE_AREA + MB(2), PG(4), RW, PA),
		ORC_WRITE(FREE_AREA + MB(2), PG(4), 2),
		ORC_MMAP(FREE_AREA + MB(4), PG(4), RW, PA),
		ORC_WRITE(FREE_AREA + MB(4), PG(4), 3),
		ORC_MREMAP(FREE_AREA + MB(4), PG(4), PG(4), MREMAP_MAYMOVE | MREMAP_FIXED, FREE_AREA + MB(2) + PG(4)),
		ORC_READ(FREE_AREA + MB(2), PG(8)),
		ORC_MMAP(FREE_AREA + MB(2) + PG(8), PG(4), RW, PA),
		ORC_MUNMAP(FREE_AREA, MB(6)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/*
 * MREMAP_DONTUNMAP leaves the old range mapped, empty. Linux 6.18 keeps
 * VM_ACCOUNT on it (smaps VmFlags "ac").
 */
static void test_mremap_dontunmap(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(4), 5),
		ORC_MREMAP(ORC_REF(0, 0), PG(4), PG(4), MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0),
		ORC_READ(ORC_REF(0, 0), PG(4)),
		ORC_READ(ORC_REF(2, 0), PG(4)),
		ORC_MUNMAP(ORC_REF(0, 0), PG(4)),
		ORC_MUNMAP(ORC_REF(2, 0), PG(4)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, STRICT);
}

/* ---- accesses (need the fault handler) ---- */

static void test_access_fresh(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(2), 0x5a),
		ORC_READ(ORC_REF(0, 0), PG(4)),        /* 2 written, 2 fresh pages */
		ORC_WRITE(ORC_REF(0, PG(2) + 100), 10, 0xa5),
		ORC_READ(ORC_REF(0, PG(2)), 200),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, SKIP_IF_ENOSYS);
}

static void test_access_faults(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), PROT_READ, PA),
		ORC_WRITE(ORC_REF(0, 0), 1, 1),               /* SEGV_ACCERR */
		ORC_READ(ORC_REF(0, 0), PG(1)),
		ORC_MMAP(0, PG(2), PROT_NONE, PA),
		ORC_READ(ORC_REF(3, 0), 1),                   /* SEGV_ACCERR */
		ORC_MUNMAP(ORC_REF(3, 0), PG(2)),
		ORC_READ(ORC_REF(3, 100), 1),                 /* SEGV_MAPERR */
		ORC_MMAP(FREE_AREA, PG(2), RW, PA),           /* nothing above it */
		ORC_READ(ORC_REF(7, PG(1) + 10), PG(2)),      /* runs off the end */
		ORC_EXEC(ORC_REF(7, 0)),                      /* not executable: faulted in, then SEGV_ACCERR */
		ORC_EXEC(FREE_AREA + MB(1)),                  /* unmapped: SEGV_MAPERR */
		ORC_MMAP(0, PG(1), PROT_NONE, PA),
		ORC_EXEC(ORC_REF(11, 0)),                     /* inaccessible: SEGV_ACCERR, no fault-in */
		ORC_MMAP(0, PG(1), PROT_WRITE, PA),
		ORC_READ(ORC_REF(13, 0), 1),                  /* write-only reads on x86 */
		ORC_EXEC(ORC_REF(13, 0)),
		ORC_MMAP(0, PG(1), PROT_EXEC, PA),
		ORC_READ(ORC_REF(16, 0), 1),                  /* exec-only reads too (no pkeys) */
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, SKIP_IF_ENOSYS);
}

static void test_exec_ret(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(1), PROT_READ | PROT_WRITE | PROT_EXEC, PA),
		ORC_WRITE(ORC_REF(0, 0), 1, 0xc3),
		ORC_EXEC(ORC_REF(0, 0)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, SKIP_IF_ENOSYS);
}

/* The vector lives in the region it describes: writing it faults its page in after the fact. */
static void test_mincore(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(8), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(3), 1),
		ORC_MINCORE(ORC_REF(0, 0), PG(8), ORC_REF(0, PG(7))),
		ORC_MINCORE(ORC_REF(0, 0), PG(8), 0x1000),           /* bad vector: EFAULT */
		ORC_MINCORE(ORC_REF(0, 1), PG(1), ORC_REF(0, PG(7))), /* EINVAL */
		ORC_MINCORE(FREE_AREA, PG(1), ORC_REF(0, PG(7))),     /* ENOMEM */
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, SKIP_IF_ENOSYS);
}

/* ---- region calls still being written (mprotect, mlock, madvise) ---- */

static void test_mprotect_split_merge(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(8), RW, PA),
		ORC_MPROTECT(ORC_REF(0, PG(2)), PG(2), PROT_READ),
		ORC_MPROTECT(ORC_REF(0, PG(2)), PG(2), RW),
		ORC_MPROTECT(ORC_REF(0, 1), PG(1), RW),             /* EINVAL */
		ORC_MPROTECT(ORC_REF(0, 0), PG(9), RW),             /* runs into a hole? */
		ORC_MUNMAP(ORC_REF(0, 0), PG(8)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, SKIP_IF_ENOSYS);
}

static void test_mlock_limits(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, MB(16), RW, PA),
		ORC_MLOCK(ORC_REF(0, 0), PG(4)),
		ORC_MLOCK(ORC_REF(0, 0), MB(16)),                   /* over RLIMIT_MEMLOCK: ENOMEM */
		ORC_MUNLOCK(ORC_REF(0, 0), MB(16)),
		ORC_MLOCK2(ORC_REF(0, 0), PG(8), 1),                /* MLOCK_ONFAULT */
		ORC_MUNMAP(ORC_REF(0, 0), MB(16)),
	};
	(void)state;
	RUN(seq, PRIV_NOBODY, 0, SKIP_IF_ENOSYS);
}

static void test_madvise_dontneed(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(8), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(8), 7),
		ORC_MADVISE(ORC_REF(0, PG(2)), PG(4), MADV_DONTNEED),
		ORC_READ(ORC_REF(0, 0), PG(8)),
		ORC_MADVISE(ORC_REF(0, 0), PG(8), 9999),            /* EINVAL */
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, SKIP_IF_ENOSYS);
}

static void test_mremap_grow_move(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW, PA),
		ORC_MREMAP(ORC_REF(0, 0), PG(4), PG(2), 0, 0),      /* shrink in place */
		ORC_MREMAP(ORC_REF(0, 0), PG(2), PG(64), 0, 0),     /* cannot grow in place: ENOMEM? */
		ORC_MREMAP(ORC_REF(0, 0), PG(2), PG(64), MREMAP_MAYMOVE, 0),
		ORC_MUNMAP(ORC_REF(3, 0), PG(64)),
	};
	(void)state;
	RUN(seq, PRIV_ROOT, 0, SKIP_IF_ENOSYS);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placement_sizes),
		cmocka_unit_test(test_placement_hints),
		cmocka_unit_test(test_low_hint_root),
		cmocka_unit_test(test_low_hint_nobody),
		cmocka_unit_test(test_merge_adjacent),
		cmocka_unit_test(test_munmap_middle),
		cmocka_unit_test(test_munmap_errors),
		cmocka_unit_test(test_map_fixed_over),
		cmocka_unit_test(test_map_fixed_noreplace),
		cmocka_unit_test(test_mmap_errors),
		cmocka_unit_test(test_mmap_flag_variants),
		cmocka_unit_test(test_brk_grow_shrink),
		cmocka_unit_test(test_brk_collision),
		cmocka_unit_test(test_rlimit_data),
		cmocka_unit_test(test_growsdown_guard_gap),
		cmocka_unit_test(test_map_32bit),
		cmocka_unit_test(test_populate),
		cmocka_unit_test(test_locked_limits_nobody),
		cmocka_unit_test(test_rlimit_as_brk_data),
		cmocka_unit_test(test_mremap_in_place_and_merge),
		cmocka_unit_test(test_mremap_dontunmap),
		cmocka_unit_test(test_access_fresh),
		cmocka_unit_test(test_access_faults),
		cmocka_unit_test(test_exec_ret),
		cmocka_unit_test(test_mincore),
		cmocka_unit_test(test_mprotect_split_merge),
		cmocka_unit_test(test_mlock_limits),
		cmocka_unit_test(test_madvise_dontneed),
		cmocka_unit_test(test_mremap_grow_move),
	};
	struct orc_probe p;

	orc_init(argc, argv);
	orc_probe(&p);
	orc_probe_print(&p, stderr);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
