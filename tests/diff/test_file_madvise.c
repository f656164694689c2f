/*
 * Side by side: file mappings (private and shared), shared anonymous
 * memory, msync, mincore on files, and madvise, on the host kernel and on
 * aspace (tools/oracle).
 *
 * The file is made once per run: 64 pages written 4 KiB at a time, so that
 * the host caches it in order-0 pages and fault-around maps exactly 16
 * pages (docs: MACHINE.md). Both sides use the same host descriptors: the
 * kernel child inherits them, aspace duplicates them.
 */
#include "oracle.h"
#include <aspace/mman.h>
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG(x) ((uint64_t)(x) << 12)
#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)
#define FILE_PAGES 64

static int rw_fd = -1, ro_fd = -1; /* the same file, opened read-write and read-only */

static int make_file(void **state)
{
	char path[] = "/tmp/aspace-orc-XXXXXX";
	char page[4096];

	(void)state;
	rw_fd = mkstemp(path);
	if (rw_fd < 0)
		return -1;
	for (int i = 0; i < FILE_PAGES; i++) {
		memset(page, 'a' + i % 26, sizeof(page));
		if (write(rw_fd, page, sizeof(page)) != (ssize_t)sizeof(page))
			return -1;
	}
	fsync(rw_fd);
	ro_fd = open(path, O_RDONLY);
	unlink(path);
	return ro_fd < 0 ? -1 : 0;
}

static int close_file(void **state)
{
	(void)state;
	close(rw_fd);
	close(ro_fd);
	return 0;
}

static void run_seq(const char *name, const struct orc_op *ops, size_t n, uint32_t ignore)
{
	struct orc_opts o;
	struct orc_result r;
	int rc;

	orc_opts_init(&o);
	o.name = name;
	o.ignore = ignore;
	rc = orc_check(ops, n, &o, &r);
	if (rc < 0)
		fail_msg("%s: the oracle could not run: %s", name, r.error);
	if (rc > 0 && r.aspace_enosys > 0) {
		print_message("TODO %s: aspace answers -ENOSYS in %d op(s); skipped until implemented\n", name,
			      r.aspace_enosys);
		skip();
	}
	if (rc != 0)
		fail_msg("%s: %d divergence(s) between the kernel and aspace, first at op %d (report above)", name,
			 rc, r.first_diverged);
}

#define RUN(ops, ignore) run_seq(__func__, ops, ORC_N(ops), ignore)

/* ---- files ---- */

/* Fault-around, copy-on-write of a private file page, SIGBUS past the end. */
static void test_file_private(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(FILE_PAGES), PROT_READ, MAP_PRIVATE, ro_fd, 0),
		ORC_READ(ORC_REF(0, PG(5)), 1),                       /* 16 pages around */
		ORC_READ(ORC_REF(0, 0), PG(FILE_PAGES)),
		ORC_MMAP_FD(0, PG(8), RW, MAP_PRIVATE, rw_fd, PG(4)),
		ORC_WRITE(ORC_REF(3, 0), 1, 'z'),                     /* a private copy */
		ORC_READ(ORC_REF(3, 0), PG(2)),
		ORC_MMAP_FD(0, PG(FILE_PAGES + 16), PROT_READ, MAP_PRIVATE, ro_fd, 0),
		ORC_READ(ORC_REF(6, PG(FILE_PAGES + 6)), 1),          /* SIGBUS */
		ORC_MUNMAP(ORC_REF(0, 0), PG(FILE_PAGES)),
		ORC_MUNMAP(ORC_REF(3, 0), PG(8)),
		ORC_MUNMAP(ORC_REF(6, 0), PG(FILE_PAGES + 16)),
	};
	(void)state;
	RUN(seq, 0);
}

static void test_file_errors(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, 999, 0),                        /* EBADF */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_SHARED_VALIDATE | 0x400000, rw_fd, 0),   /* EOPNOTSUPP */
		ORC_MMAP_FD(0, PG(1), RW, MAP_SHARED, ro_fd, 0),                              /* EACCES */
		ORC_MMAP_FD(0, PG(1), RW, MAP_PRIVATE, rw_fd, (uint64_t)-4096),               /* EOVERFLOW? */
		ORC_MMAP_FD(0, PG(4), PROT_READ, MAP_SHARED, ro_fd, 0),
		ORC_MPROTECT(ORC_REF(4, 0), PG(4), RW),                                       /* EACCES */
		ORC_MUNMAP(ORC_REF(4, 0), PG(4)),
	};
	(void)state;
	RUN(seq, 0);
}

/*
 * msync(MS_SYNC) writes the page back and write-protects it
 * (folio_mkclean): smaps shows it clean and the next write faults again.
 */
static void test_file_shared_msync(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(8), RW, MAP_SHARED, rw_fd, 0),
		ORC_WRITE(ORC_REF(0, 0), 10, 'Q'),
		ORC_MSYNC(ORC_REF(0, 0), PG(8), MS_SYNC),
		ORC_WRITE(ORC_REF(0, 0), 1, 'a'),
		ORC_MSYNC(ORC_REF(0, 1), PG(1), MS_SYNC),             /* EINVAL */
		ORC_MSYNC(ORC_REF(0, 0), PG(1), MS_SYNC | MS_ASYNC),  /* EINVAL */
		ORC_MUNMAP(ORC_REF(0, 0), PG(8)),
	};
	(void)state;
	RUN(seq, 0);
}

/*
 * mincore of a file mapping reports page-cache residency for pages not
 * mapped: the whole freshly written file is resident on the host.
 */
static void test_file_mincore_cache(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP(0, PG(1), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(1), 0),
		ORC_MMAP_FD(0, PG(FILE_PAGES), PROT_READ, MAP_PRIVATE, ro_fd, 0),
		ORC_READ(ORC_REF(2, PG(5)), 1),
		ORC_MINCORE(ORC_REF(2, 0), PG(FILE_PAGES), ORC_REF(0, 0)),
		ORC_MUNMAP(ORC_REF(2, 0), PG(FILE_PAGES)),
	};
	(void)state;
	RUN(seq, 0);
}

/* ---- shared anonymous memory ---- */

static void test_shared_anon(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW, MAP_SHARED | MAP_ANONYMOUS),
		ORC_WRITE(ORC_REF(0, 0), PG(2), 1),
		ORC_READ(ORC_REF(0, 0), PG(4)),
		ORC_MMAP(0, PG(4), RW, MAP_SHARED | MAP_ANONYMOUS),   /* another object: no merge */
		ORC_MADVISE(ORC_REF(0, 0), PG(4), MADV_DONTNEED),
		ORC_READ(ORC_REF(0, 0), PG(4)),                       /* the data is still there */
		ORC_MPROTECT(ORC_REF(3, PG(1)), PG(1), PROT_READ),
		ORC_MREMAP(ORC_REF(0, 0), PG(4), PG(8), MREMAP_MAYMOVE, 0),
		ORC_MUNMAP(ORC_REF(3, 0), PG(4)),
		ORC_MUNMAP(ORC_REF(7, 0), PG(8)),
	};
	(void)state;
	RUN(seq, 0);
}

/* ---- madvise ---- */

static void test_madvise_flags(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(16), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(16), 1),
		ORC_MADVISE(ORC_REF(0, PG(4)), PG(4), MADV_DONTFORK),
		ORC_MADVISE(ORC_REF(0, PG(8)), PG(4), MADV_WIPEONFORK),
		ORC_MADVISE(ORC_REF(0, PG(12)), PG(2), MADV_DONTDUMP),
		ORC_MADVISE(ORC_REF(0, 0), PG(16), MADV_RANDOM),
		ORC_MADVISE(ORC_REF(0, 0), PG(16), MADV_HUGEPAGE),
		ORC_MADVISE(ORC_REF(0, 0), PG(16), MADV_NOHUGEPAGE),
		ORC_MADVISE(ORC_REF(0, 0), PG(16), MADV_NORMAL),
		ORC_MADVISE(ORC_REF(0, 0), PG(16), MADV_POPULATE_WRITE),
		ORC_MADVISE(ORC_REF(0, 0), PG(16), MADV_PAGEOUT),     /* no swap: stays */
		ORC_MADVISE(ORC_REF(0, 0), PG(16), MADV_COLD),
		ORC_MADVISE(ORC_REF(0, 0), PG(16), 9999),             /* EINVAL */
		ORC_READ(ORC_REF(0, 0), PG(16)),
		ORC_MUNMAP(ORC_REF(0, 0), PG(16)),
	};
	(void)state;
	RUN(seq, 0);
}

/*
 * Guard regions (Linux 6.13+): MADV_GUARD_INSTALL puts guard markers in
 * the page tables; an access faults with SIGSEGV/SEGV_MAPERR until
 * MADV_GUARD_REMOVE.
 */
static void test_madvise_guard(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(8), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(8), 1),
		ORC_MADVISE(ORC_REF(0, PG(2)), PG(2), MADV_GUARD_INSTALL),
		ORC_READ(ORC_REF(0, PG(2)), 1),
		ORC_READ(ORC_REF(0, PG(1)), PG(2)),
		ORC_MADVISE(ORC_REF(0, PG(2)), PG(2), MADV_GUARD_REMOVE),
		ORC_READ(ORC_REF(0, PG(2)), 1),                       /* a fresh zero page */
		ORC_MUNMAP(ORC_REF(0, 0), PG(8)),
	};
	(void)state;
	RUN(seq, 0);
}

/*
 * MADV_FREE on dirty pages: Linux marks them lazy-free through a per-CPU
 * folio batch (31 folios), drained when it fills and at the start of the
 * next MADV_FREE (lru_add_drain), so smaps' LazyFree lags: 0 kB after 4
 * pages, 35 pages after 4 + 40. The oracle pins the child to one CPU.
 */
static void test_madvise_free_lazyfree(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(100), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(100), 1),
		ORC_MADVISE(ORC_REF(0, 0), PG(4), MADV_FREE),
		ORC_MADVISE(ORC_REF(0, PG(4)), PG(40), MADV_FREE),
		ORC_READ(ORC_REF(0, 0), PG(100)),
		ORC_WRITE(ORC_REF(0, 0), PG(100), 2),
		ORC_MUNMAP(ORC_REF(0, 0), PG(100)),
	};
	(void)state;
	RUN(seq, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_private),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_shared_msync),
		cmocka_unit_test(test_file_mincore_cache),
		cmocka_unit_test(test_shared_anon),
		cmocka_unit_test(test_madvise_flags),
		cmocka_unit_test(test_madvise_guard),
		cmocka_unit_test(test_madvise_free_lazyfree),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, make_file, close_file);
}
