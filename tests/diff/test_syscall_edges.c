/*
 * Side by side: the argument checks and edge cases of mprotect, the mlock
 * family, madvise, msync, mincore and mremap — every call's errno paths in
 * Linux's order, partial overlaps, holes, limits, merges and splits. The
 * kernel's answers are the expected ones (tools/oracle compares them op by
 * op, with maps, smaps, fault counts and memory after each).
 */
#include "oracle.h"
#include <aspace/mman.h>
#include "testlib.h"

#include <errno.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define PG(x) ((uint64_t)(x) << 12)
#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)
#define AREA 0x200000000000ull /* a free range no harness region comes near */
#define FIX (PA | MAP_FIXED)

enum { ROOT = 0, NOBODY = 1 };

static void run_seq(const char *name, const struct orc_op *ops, size_t n, int priv)
{
	struct orc_opts o;
	struct orc_result r;
	int rc;

	orc_opts_init(&o);
	o.name = name;
	o.unprivileged = priv == NOBODY;
	rc = orc_check(ops, n, &o, &r);
	if (rc < 0)
		fail_msg("%s: the oracle could not run: %s", name, r.error);
	if (rc != 0)
		fail_msg("%s: %d divergence(s) between the kernel and aspace, first at op %d", name, rc,
			 r.first_diverged);
}

#define RUN(ops, priv) run_seq(__func__, ops, ORC_N(ops), priv)

/* mprotect: grows flags, alignment, len 0, overflow, bad prot, holes, MAY bits, split/merge. */
static void test_mprotect_errors(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(4), RW, FIX),                             /* 0 */
		ORC_MPROTECT(AREA, PG(1), PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP),
		ORC_MPROTECT(AREA + 1, PG(1), PROT_READ),
		ORC_MPROTECT(AREA, 0, 0xff),                                /* len 0: 0 */
		ORC_MPROTECT(AREA, (uint64_t)-4096, 0x10),                  /* overflow first */
		ORC_MPROTECT(AREA, PG(1), 0x10),                            /* bad prot */
		ORC_MPROTECT(AREA, PG(1), PROT_READ | PROT_SEM),            /* PROT_SEM accepted */
		ORC_MPROTECT(AREA + PG(8), PG(1), PROT_READ),               /* unmapped: ENOMEM */
		ORC_MPROTECT(AREA, PG(1), PROT_READ | PROT_GROWSDOWN),      /* not growsdown: EINVAL */
		ORC_MPROTECT(AREA, PG(1), PROT_READ | PROT_GROWSUP),
		ORC_MPROTECT(AREA + PG(1), 1, PROT_READ),                   /* split in three */
		ORC_MPROTECT(AREA + PG(1), PG(1), RW),                      /* merged back */
		ORC_MPROTECT(AREA + PG(3), PG(3), PROT_NONE),               /* runs into a hole: ENOMEM */
		ORC_WRITE(AREA + PG(3), 8, 0x55),                           /* PROT_NONE now: ACCERR */
		ORC_MPROTECT(AREA, PG(4), PROT_EXEC),
		ORC_READ(AREA, 16),
	};
	RUN(seq, ROOT);
}

/* PROT_GROWSDOWN extends the change down to the start of a growsdown region. */
static void test_mprotect_growsdown(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(4), RW, FIX | MAP_GROWSDOWN),
		ORC_WRITE(AREA, PG(4), 1),
		ORC_MPROTECT(AREA + PG(2), PG(1), PROT_READ | PROT_GROWSDOWN),
		ORC_WRITE(AREA, 1, 2),
		ORC_WRITE(AREA + PG(3), 1, 2),
	};
	RUN(seq, ROOT);
}

/* Making private memory writable charges it (ac); read-only untouched memory loses the charge. */
static void test_mprotect_accounting(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(4), PROT_READ, FIX),
		ORC_MPROTECT(AREA, PG(4), RW),
		ORC_MPROTECT(AREA, PG(2), PROT_READ),
		ORC_WRITE(AREA + PG(2), 1, 1),
		ORC_MPROTECT(AREA + PG(2), PG(2), PROT_READ),
		ORC_MMAP(AREA + PG(8), PG(2), PROT_READ, FIX | MAP_NORESERVE),
		ORC_MPROTECT(AREA + PG(8), PG(2), RW),
	};
	RUN(seq, ROOT);
}

/* The mlock family as an unprivileged process: limits, rounding, flags, holes, ONFAULT. */
static void test_mlock_family(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(8), RW, FIX),
		ORC_MLOCK(AREA + 100, PG(1)),                  /* rounds to two pages */
		ORC_MLOCK2(AREA + PG(4), PG(2), MLOCK_ONFAULT),
		ORC_MLOCK2(AREA, PG(1), 0x2),                  /* unknown flag */
		ORC_MLOCK(AREA + PG(6), PG(4)),                /* runs into a hole: ENOMEM */
		ORC_MUNLOCK(AREA + PG(1), PG(1)),
		ORC_MUNLOCK(AREA, (uint64_t)-8192),
		ORC_MLOCK(AREA, (uint64_t)-4096),
		ORC_MLOCK(AREA, (uint64_t)-1),
		ORC_READ(AREA + PG(4), 8),                     /* ONFAULT: faulted now */
		ORC_MLOCKALL(0),
		ORC_MLOCKALL(MCL_ONFAULT),
		ORC_MLOCKALL(MCL_FUTURE | MCL_ONFAULT),
		ORC_MMAP(AREA + PG(16), PG(2), RW, FIX),       /* locked on fault */
		ORC_MUNLOCKALL(),
		ORC_MMAP(AREA + PG(24), PG(2), RW, FIX),
		ORC_SETRLIMIT(RLIMIT_MEMLOCK, PG(2), PG(2)),
		ORC_MLOCK(AREA, PG(4)),                        /* over the limit */
		ORC_SETRLIMIT(RLIMIT_MEMLOCK, 0, PG(2)),
		ORC_MLOCK(AREA, PG(1)),                        /* limit 0: EPERM */
		ORC_MMAP(AREA + PG(32), PG(1), RW, FIX | MAP_LOCKED),
	};
	RUN(seq, NOBODY);
}

/* mlock of a PROT_NONE region: ENOMEM, yet locked and counted. */
static void test_mlock_prot_none(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(4), PROT_NONE, FIX),
		ORC_MLOCK(AREA, PG(4)),
		ORC_MPROTECT(AREA, PG(4), RW),
		ORC_WRITE(AREA, PG(1), 3),
		ORC_MUNLOCK(AREA, PG(4)),
	};
	RUN(seq, ROOT);
}

/* madvise: validation order, holes, flag behaviours and their merges. */
static void test_madvise_edges(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(8), RW, FIX),
		ORC_MADVISE(AREA, PG(1), 77),                      /* unknown advice */
		ORC_MADVISE(AREA + 1, PG(1), MADV_NORMAL),         /* unaligned */
		ORC_MADVISE(AREA, (uint64_t)-4096, MADV_NORMAL),   /* overflow */
		ORC_MADVISE(AREA, 0, MADV_DONTNEED),
		ORC_MADVISE(AREA + PG(6), PG(4), MADV_SEQUENTIAL), /* hole after: ENOMEM, applied */
		ORC_MADVISE(AREA + PG(6), PG(2), MADV_NORMAL),
		ORC_MADVISE(AREA + PG(2), PG(2), MADV_DONTFORK),
		ORC_MADVISE(AREA + PG(2), PG(2), MADV_DOFORK),
		ORC_MADVISE(AREA, PG(2), MADV_WIPEONFORK),
		ORC_MADVISE(AREA, PG(2), MADV_KEEPONFORK),
		ORC_MADVISE(AREA, PG(3), MADV_DONTDUMP),
		ORC_MADVISE(AREA, PG(3), MADV_DODUMP),
		ORC_MADVISE(AREA, PG(8), MADV_HUGEPAGE),
		ORC_MADVISE(AREA, PG(8), MADV_NOHUGEPAGE),
		ORC_MADVISE(AREA, PG(8), MADV_MERGEABLE),
		ORC_MADVISE(AREA, PG(8), MADV_UNMERGEABLE),
		ORC_MADVISE(AREA, PG(8), MADV_WILLNEED),
		ORC_MADVISE(AREA, PG(8), MADV_REMOVE),             /* private: EINVAL */
		ORC_MADVISE(AREA, PG(8), 100),                     /* HWPOISON: not built in */
	};
	RUN(seq, NOBODY);
}

/* Page-level advice: DONTNEED, FREE, POPULATE, COLD, PAGEOUT, with the faults they cost after. */
static void test_madvise_pages(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(48), RW, FIX),
		ORC_WRITE(AREA, PG(48), 0x11),
		ORC_MADVISE(AREA, PG(4), MADV_DONTNEED),
		ORC_READ(AREA, PG(1)),
		ORC_MADVISE(AREA + PG(4), PG(36), MADV_FREE),
		ORC_WRITE(AREA + PG(4), 1, 0x22),
		ORC_MADVISE(AREA + PG(40), PG(8), MADV_COLD),
		ORC_MADVISE(AREA + PG(8), PG(8), MADV_PAGEOUT),
		ORC_READ(AREA + PG(8), 16),
		ORC_MMAP(AREA + PG(64), PG(8), RW, FIX),
		ORC_MADVISE(AREA + PG(64), PG(4), MADV_POPULATE_READ),
		ORC_MADVISE(AREA + PG(68), PG(4), MADV_POPULATE_WRITE),
		ORC_MADVISE(AREA + PG(64), PG(16), MADV_POPULATE_WRITE), /* hole after: ENOMEM */
		ORC_MLOCK(AREA + PG(64), PG(2)),
		ORC_MADVISE(AREA + PG(64), PG(2), MADV_DONTNEED),         /* locked: EINVAL */
		ORC_MADVISE(AREA + PG(64), PG(2), MADV_DONTNEED_LOCKED),
	};
	RUN(seq, ROOT);
}

/* Guard regions: install, fault, remove. */
static void test_madvise_guard(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(6), RW, FIX),
		ORC_WRITE(AREA, PG(6), 0x33),
		ORC_MADVISE(AREA + PG(2), PG(2), MADV_GUARD_INSTALL),
		ORC_READ(AREA + PG(2), 1),
		ORC_WRITE(AREA + PG(3), 1, 1),
		ORC_MMAP(AREA + PG(6), PG(2), RW, FIX),             /* merges despite the mark */
		ORC_MADVISE(AREA + PG(2), PG(2), MADV_GUARD_REMOVE),
		ORC_READ(AREA + PG(2), 1),
	};
	RUN(seq, ROOT);
}

/* msync: flags, alignment, holes, MS_INVALIDATE on locked memory. */
static void test_msync_edges(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(4), RW, FIX),
		ORC_MSYNC(AREA, PG(1), MS_ASYNC | MS_SYNC),
		ORC_MSYNC(AREA, PG(1), 0x10),
		ORC_MSYNC(AREA + 1, PG(1), MS_SYNC),
		ORC_MSYNC(AREA, 0, MS_SYNC),
		ORC_MSYNC(AREA, PG(8), MS_SYNC),                    /* hole: ENOMEM */
		ORC_MSYNC(AREA, PG(8), MS_ASYNC),
		ORC_MSYNC(AREA + PG(8), PG(1), MS_ASYNC),
		ORC_MLOCK(AREA, PG(1)),
		ORC_MSYNC(AREA, PG(1), MS_INVALIDATE),              /* locked: EBUSY */
		ORC_MSYNC(AREA + PG(1), PG(1), MS_INVALIDATE),
	};
	RUN(seq, ROOT);
}

/* mincore: alignment, unmapped pages, a vector that can't be written, residency. */
static void test_mincore_edges(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(8), RW, FIX),                    /* 0 */
		ORC_MMAP(AREA + PG(16), PG(1), RW, FIX),           /* 1: the vector */
		ORC_WRITE(AREA + PG(2), PG(2), 1),
		ORC_MINCORE(AREA, PG(8), AREA + PG(16)),
		ORC_MINCORE(AREA + 1, PG(1), AREA + PG(16)),
		ORC_MINCORE(AREA, PG(12), AREA + PG(16)),          /* hole: ENOMEM */
		ORC_MINCORE(AREA, PG(4), AREA + PG(32)),           /* vector unmapped: EFAULT */
		ORC_MINCORE(AREA, 0, AREA + PG(16)),
		ORC_MPROTECT(AREA + PG(16), PG(1), PROT_READ),
		ORC_MINCORE(AREA, PG(4), AREA + PG(16)),           /* vector read-only: EFAULT */
		ORC_MINCORE(0x7ffffffff000ull, PG(1), AREA + PG(16)),
	};
	RUN(seq, ROOT);
}

/* mremap edge cases: shrink across regions, grow into a neighbour, FIXED with shrink, errors. */
static void test_mremap_edges(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(4), RW, FIX),
		ORC_MMAP(AREA + PG(4), PG(2), PROT_READ, FIX),
		ORC_WRITE(AREA, PG(4), 0x44),
		ORC_MREMAP(AREA, PG(6), PG(2), 0, 0),                       /* shrink across regions */
		ORC_MMAP(AREA + PG(8), PG(2), RW, FIX),
		ORC_MREMAP(AREA, PG(2), PG(8), 0, 0),                       /* grow exactly up to it */
		ORC_MREMAP(AREA, PG(8), PG(4), MREMAP_MAYMOVE | MREMAP_FIXED, AREA + PG(64)),
		ORC_READ(AREA + PG(64), 16),
		ORC_MREMAP(AREA + PG(64), PG(1), 0, 0, 0),                  /* new_len 0 */
		ORC_MREMAP(AREA + PG(64), 0, PG(1), MREMAP_MAYMOVE, 0),     /* old_len 0, private */
		ORC_MREMAP(AREA + PG(64), PG(1), PG(1), 8, 0),              /* bad flag */
		ORC_MREMAP(AREA + PG(64), PG(1), PG(1), MREMAP_DONTUNMAP, 0),
		ORC_MREMAP(AREA + PG(64), PG(2), PG(2), MREMAP_MAYMOVE | MREMAP_FIXED, AREA + PG(65)),
		ORC_MREMAP(AREA + PG(200), PG(1), PG(2), MREMAP_MAYMOVE, 0), /* nothing there: EFAULT */
		ORC_MREMAP(AREA + PG(64), PG(2), PG(3), MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0),
	};
	RUN(seq, ROOT);
}

/* A multi-region MREMAP_FIXED move keeps the gaps; a hole at the start is EFAULT. */
static void test_mremap_multi(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(2), RW, FIX),
		ORC_MMAP(AREA + PG(3), PG(2), PROT_READ, FIX),
		ORC_WRITE(AREA, PG(2), 0x66),
		ORC_MREMAP(AREA, PG(5), PG(5), MREMAP_MAYMOVE | MREMAP_FIXED, AREA + PG(100)),
		ORC_READ(AREA + PG(100), 16),
		ORC_MREMAP(AREA + PG(99), PG(5), PG(5), MREMAP_MAYMOVE | MREMAP_FIXED, AREA + PG(200)),
	};
	RUN(seq, ROOT);
}

/* An anonymous region mremap'd after being touched keeps its page offsets and stops merging. */
static void test_mremap_pgoff_merge(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(2), RW, FIX),
		ORC_MMAP(AREA + PG(10), PG(2), RW, FIX),
		ORC_WRITE(AREA + PG(10), 1, 1),
		ORC_MREMAP(AREA, PG(2), PG(2), MREMAP_MAYMOVE | MREMAP_FIXED, AREA + PG(20)),
		ORC_MREMAP(AREA + PG(10), PG(2), PG(2), MREMAP_MAYMOVE | MREMAP_FIXED, AREA + PG(30)),
		ORC_MMAP(AREA + PG(22), PG(2), RW, FIX),        /* merges with the untouched move */
		ORC_MMAP(AREA + PG(32), PG(2), RW, FIX),        /* not with the touched one */
	};
	RUN(seq, ROOT);
}

/* Stack growth: accesses below a growsdown region grow it, within RLIMIT_STACK and the guard gap. */
static void test_stack_growth(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA + PG(4096), PG(2), RW, FIX | MAP_GROWSDOWN),      /* 0 */
		ORC_WRITE(AREA + PG(4096) - PG(3), 8, 0x77),                     /* grows by 3 pages */
		ORC_READ(AREA + PG(4096) - PG(5), 8),                            /* and 2 more */
		ORC_MMAP(AREA + PG(4096) - PG(300), PG(1), RW, FIX),             /* inside the guard gap */
		ORC_WRITE(AREA + PG(4096) - PG(10), 8, 0x78),                    /* too close to it: SEGV */
		ORC_MUNMAP(AREA + PG(4096) - PG(300), PG(1)),
		ORC_SETRLIMIT(RLIMIT_STACK, PG(16), RLIM_INFINITY),
		ORC_WRITE(AREA + PG(4096) - PG(20), 8, 0x79),                    /* over the limit: SEGV */
		ORC_WRITE(AREA + PG(4096) - PG(12), 8, 0x79),                    /* within it */
		ORC_MMAP(0, PG(1), RW, PA | MAP_GROWSDOWN),                      /* placement keeps the gap */
		ORC_MMAP(0, PG(1), RW, PA),
	};
	RUN(seq, ROOT);
}

/* Demand paging: reads then writes of fresh memory, exec faults, read-only and PROT_NONE accesses. */
static void test_demand_paging(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(8), RW, FIX),
		ORC_READ(AREA, PG(2)),                   /* fresh pages read as zero */
		ORC_WRITE(AREA + PG(1), PG(2), 0x5a),    /* one already faulted by the read */
		ORC_READ(AREA + PG(1), 32),
		ORC_MMAP(AREA + PG(16), PG(2), PROT_READ, FIX),
		ORC_READ(AREA + PG(16), 8),
		ORC_WRITE(AREA + PG(16), 8, 1),          /* ACCERR */
		ORC_EXEC(AREA + PG(16)),                 /* maps, then ACCERR on NX */
		ORC_MMAP(AREA + PG(20), PG(1), PROT_NONE, FIX),
		ORC_READ(AREA + PG(20), 1),
		ORC_READ(AREA + PG(40), 1),              /* MAPERR */
		ORC_MMAP(AREA + PG(24), PG(1), PROT_WRITE, FIX),
		ORC_READ(AREA + PG(24), 1),              /* write-only is readable on x86 */
		ORC_MMAP(AREA + PG(28), PG(1), PROT_EXEC, FIX),
		ORC_READ(AREA + PG(28), 1),
	};
	RUN(seq, ROOT);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mprotect_errors),
		cmocka_unit_test(test_mprotect_growsdown),
		cmocka_unit_test(test_mprotect_accounting),
		cmocka_unit_test(test_mlock_family),
		cmocka_unit_test(test_mlock_prot_none),
		cmocka_unit_test(test_madvise_edges),
		cmocka_unit_test(test_madvise_pages),
		cmocka_unit_test(test_madvise_guard),
		cmocka_unit_test(test_msync_edges),
		cmocka_unit_test(test_mincore_edges),
		cmocka_unit_test(test_mremap_edges),
		cmocka_unit_test(test_mremap_multi),
		cmocka_unit_test(test_mremap_pgoff_merge),
		cmocka_unit_test(test_stack_growth),
		cmocka_unit_test(test_demand_paging),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
