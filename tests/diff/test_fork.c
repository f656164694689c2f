/*
 * Side by side: fork. Isolation of private memory in both directions,
 * shared memory seen by both, copy-on-write fault counts on each side,
 * MADV_DONTFORK and MADV_WIPEONFORK, locks not inherited, merging in the
 * child, exit of either side (tools/oracle compares each process's maps,
 * smaps, faults and bytes after every op).
 */
#include "oracle.h"
#include "regress.h"
#include "testlib.h"

#include <sys/mman.h>

#define PG(x) ((uint64_t)(x) << 12)
#define RW (PROT_READ | PROT_WRITE)
#define AREA 0x200000000000ull
#define FIX (MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)

static void run_seq(const char *name, const struct orc_op *ops, size_t n)
{
	struct orc_opts o;
	struct orc_result r;
	int rc;

	orc_opts_init(&o);
	o.name = name;
	rc = orc_check(ops, n, &o, &r);
	if (rc < 0)
		fail_msg("%s: the oracle could not run: %s", name, r.error);
	if (rc != 0)
		fail_msg("%s: %d divergence(s) between the kernel and aspace, first at op %d", name, rc,
			 r.first_diverged);
}

#define RUN(ops) run_seq(__func__, ops, ORC_N(ops))

/* Parent and child never see each other's private writes; the first writer copies, the second reuses. */
static void test_fork_isolation(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(4), RW, FIX),
		ORC_WRITE(AREA, PG(4), 0x11),
		ORC_FORK(),                       /* 2: child 1 */
		ORC_WRITE(AREA, PG(1), 0x22),     /* parent copies page 0 */
		ORC_READ(AREA, 16),
		ORC_SWITCH(1),
		ORC_READ(AREA, 16),               /* child still sees 0x11 */
		ORC_WRITE(AREA, PG(1), 0x33),     /* child: sole owner now, reuses */
		ORC_WRITE(AREA + PG(1), PG(1), 0x44),
		ORC_READ(AREA + PG(1), 16),
		ORC_SWITCH(0),
		ORC_READ(AREA, PG(2)),
		ORC_WRITE(AREA + PG(1), PG(1), 0x55),
	};
	RUN(seq);
}

/* Shared anonymous memory is one object: writes on either side are seen by both. */
static void test_fork_shared(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(4), RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED),
		ORC_WRITE(AREA, PG(1), 0x66),
		ORC_FORK(),
		ORC_SWITCH(1),
		ORC_READ(AREA, 16),               /* refaults: no page tables copied */
		ORC_WRITE(AREA + PG(2), 8, 0x77),
		ORC_SWITCH(0),
		ORC_READ(AREA + PG(2), 8),
	};
	RUN(seq);
}

/* DONTFORK regions are absent in the child, WIPEONFORK ones empty; locks are not inherited. */
static void test_fork_madvise_and_locks(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(2), RW, FIX),
		ORC_MMAP(AREA + PG(4), PG(2), RW, FIX),
		ORC_MMAP(AREA + PG(8), PG(2), RW, FIX),
		ORC_WRITE(AREA, PG(10), 0x12),
		ORC_MADVISE(AREA, PG(2), MADV_DONTFORK),
		ORC_MADVISE(AREA + PG(4), PG(2), MADV_WIPEONFORK),
		ORC_MLOCK(AREA + PG(8), PG(2)),
		ORC_FORK(),
		ORC_SWITCH(1),
		ORC_READ(AREA, 1),                /* MAPERR in the child */
		ORC_READ(AREA + PG(4), 8),        /* zeroes */
		ORC_READ(AREA + PG(8), 8),        /* data, not locked */
		ORC_MLOCK(AREA + PG(8), PG(1)),
		ORC_SWITCH(0),
		ORC_READ(AREA, 8),
		ORC_READ(AREA + PG(4), 8),
	};
	RUN(seq);
}

/* In the child, a region touched before fork no longer merges with a new neighbour; the parent's does. */
static void test_fork_merging(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(AREA, PG(2), RW, FIX),
		ORC_MMAP(AREA + PG(8), PG(2), RW, FIX),
		ORC_WRITE(AREA, 8, 1),
		ORC_FORK(),
		ORC_SWITCH(1),
		ORC_MMAP(AREA + PG(2), PG(2), RW, FIX),   /* next to the touched one: no merge */
		ORC_MMAP(AREA + PG(10), PG(2), RW, FIX),  /* next to the untouched one: merges */
		ORC_EXIT(0),
		ORC_MMAP(AREA + PG(2), PG(2), RW, FIX),   /* the parent merges */
	};
	RUN(seq);
}

/*
 * fork copies the page-table structure of a region with an anonymous
 * object even where its leaf table is empty (copy_pte_range allocates the
 * child's table first): a file region sharing that table then has one in
 * the child, and fault-around past EOF maps the file's last page there.
 *
 *   X: file 0 pages 5..6 (6 is past EOF) | X+2: anon, written then emptied
 */
static void test_fork_copies_empty_table(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(AREA, PG(2), PROT_READ, MAP_PRIVATE|MAP_FIXED, RG_FD(0), PG(5)),
		ORC_MMAP(AREA + PG(2), PG(1), RW, FIX),
		ORC_WRITE(AREA + PG(2), 1, 0x5aull),
		ORC_MADVISE(AREA + PG(2), PG(1), MADV_DONTNEED),
		ORC_FORK(),
		ORC_SWITCH(1),
		ORC_READ(AREA + PG(1), 1),
	};
	(void)state;
	RG_RUN(seq);
}

/* ... but a table only regions without an anonymous object use is not copied (a read of file 1 made it) */
static void test_fork_no_anon_no_table(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(AREA, PG(2), PROT_READ, MAP_PRIVATE|MAP_FIXED, RG_FD(0), PG(5)),
		ORC_MMAP_FD(AREA + PG(2), PG(1), RW, MAP_PRIVATE|MAP_FIXED, RG_FD(1), 0),
		ORC_READ(AREA + PG(2), 1),
		ORC_FORK(),
		ORC_SWITCH(1),
		ORC_READ(AREA + PG(1), 1),
	};
	(void)state;
	RG_RUN(seq);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_isolation),
		cmocka_unit_test(test_fork_shared),
		cmocka_unit_test(test_fork_madvise_and_locks),
		cmocka_unit_test(test_fork_merging),
		cmocka_unit_test(test_fork_copies_empty_table),
		cmocka_unit_test(test_fork_no_anon_no_table),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
