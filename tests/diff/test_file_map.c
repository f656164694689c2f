/*
 * Side by side: file mappings, shared anonymous memory and their faults, on
 * the host kernel and on aspace (tools/oracle).
 *
 * The files live in a temporary folder made by main; their descriptors are
 * opened here before any sequence runs, so the kernel side (a fork of this
 * program) and the aspace side (this program) name them by the same
 * numbers. Each file is written 4 KiB at a time, so the host caches it in
 * order-0 pages and a read fault maps 16 of them (MACHINE.md). Both sides
 * start from the same file: run_file_seq rewrites every file between the
 * kernel's run and aspace's, so what the kernel wrote through MAP_SHARED
 * is gone again.
 *
 * The inode of a shmem object ("/dev/zero (deleted)" on 00:01) comes from
 * a global counter of the kernel; run_file_seq masks it on both sides.
 */
#include "oracle.h"
#include <aspace/mman.h>
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define KB(x) ((uint64_t)(x) << 10)
#define MB(x) ((uint64_t)(x) << 20)
#define PG(x) ((uint64_t)(x) << 12)
#define RW (PROT_READ | PROT_WRITE)
#define FREE_AREA 0x200000000000ull
#define FREE_UNALIGNED (FREE_AREA + PG(5)) /* its page-table index is 5 mod 16 */

/* The test files: name, size in bytes, bytes per write (the host's folio size follows it). */
enum { F_BIG, F_SMALL, F_TAIL, F_MID, F_LARGE, F_MEMFD, NR_FILES };
static const struct {
	const char *name;
	uint64_t size, chunk;
} files[NR_FILES] = {
	[F_BIG] = { "big", PG(64), PG(1) },
	[F_SMALL] = { "small", PG(4), PG(1) },
	[F_TAIL] = { "tail", PG(1) + 100, PG(1) }, /* a partial last page */
	[F_MID] = { "mid", PG(40), PG(1) },
	[F_LARGE] = { "large", PG(1024), PG(64) }, /* cached in 64-page folios */
	[F_MEMFD] = { NULL, PG(24), PG(1) },        /* a memfd: tmpfs, shmem pages */
};

static char dir[64];
static int fd_rw[NR_FILES];    /* O_RDWR */
static int fd_ro, fd_wo;       /* big, O_RDONLY and O_WRONLY */
static int fd_dup, fd_reopen;  /* big: dup(fd_rw), and another open */
static int fd_pipe[2], fd_dir, fd_zero;

/* Put each file back as made: every page lettered by its number, written a chunk at a time. */
static void reset_files(void)
{
	static char buf[PG(64)];

	for (int f = 0; f < NR_FILES; f++) {
		assert_int_equal(ftruncate(fd_rw[f], 0), 0);
		for (uint64_t off = 0; off < files[f].size; off += files[f].chunk) {
			uint64_t n = files[f].size - off < files[f].chunk ? files[f].size - off : files[f].chunk;

			for (uint64_t p = 0; p < n; p += PG(1)) {
				memset(buf + p, 'a' + (int)(((off + p) >> 12) % 26), PG(1));
				buf[p] = (char)('0' + f);
			}
			assert_int_equal(pwrite(fd_rw[f], buf, n, (off_t)off), (ssize_t)n);
		}
	}
}

static void open_files(void)
{
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/aspace-diff-file-XXXXXX");
	assert_non_null(mkdtemp(dir));
	for (int f = 0; f < NR_FILES; f++) {
		if (!files[f].name) {
			fd_rw[f] = memfd_create("orc", 0);
			assert_true(fd_rw[f] >= 0);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, files[f].name);
		fd_rw[f] = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		assert_true(fd_rw[f] >= 0);
	}
	reset_files();
	snprintf(path, sizeof(path), "%s/%s", dir, files[F_BIG].name);
	fd_ro = open(path, O_RDONLY);
	fd_wo = open(path, O_WRONLY);
	fd_reopen = open(path, O_RDONLY);
	fd_dup = dup(fd_rw[F_BIG]);
	assert_int_equal(pipe(fd_pipe), 0);
	fd_dir = open(dir, O_RDONLY | O_DIRECTORY);
	fd_zero = open("/dev/zero", O_RDWR);
	assert_true(fd_ro >= 0 && fd_wo >= 0 && fd_reopen >= 0 && fd_dup >= 0 && fd_dir >= 0 && fd_zero >= 0);
}

static void close_files(void)
{
	char path[128];

	for (int f = 0; f < NR_FILES; f++) {
		if (files[f].name) {
			snprintf(path, sizeof(path), "%s/%s", dir, files[f].name);
			unlink(path);
		}
		close(fd_rw[f]);
	}
	close(fd_ro);
	close(fd_wo);
	close(fd_reopen);
	close(fd_dup);
	close(fd_pipe[0]);
	close(fd_pipe[1]);
	close(fd_dir);
	close(fd_zero);
	rmdir(dir);
}

/* Replace the inode of shmem objects (" 00:01 <ino> ") by 0 in a maps or smaps text. */
static void mask_shmem_inodes(char *text)
{
	char *p = text;

	while (text && (p = strstr(p, " 00:01 ")) != NULL) {
		char *q = p + 7, *e = q;

		while (*e >= '0' && *e <= '9')
			e++;
		if (e > q) {
			*q = '0';
			memmove(q + 1, e, strlen(e) + 1);
			/* keep the name column where it was */
			for (long pad = (long)(e - q) - 1; pad > 0; pad--) {
				memmove(q + 2, q + 1, strlen(q + 1) + 1);
				q[1] = ' ';
			}
		}
		p += 7;
	}
}

static void mask_trace(struct orc_trace *t)
{
	mask_shmem_inodes(t->before.maps);
	mask_shmem_inodes(t->before.smaps);
	for (size_t i = 0; i < t->nops; i++) {
		mask_shmem_inodes(t->rec[i].maps);
		mask_shmem_inodes(t->rec[i].smaps);
	}
}

enum { STRICT = 0, SKIP_IF_ENOSYS = 1, COLD_MID = 2 };

/* Write the mid file back and drop it from the host's page cache. */
static void make_mid_cold(void)
{
	assert_int_equal(fsync(fd_rw[F_MID]), 0);
	assert_int_equal(posix_fadvise(fd_rw[F_MID], 0, 0, POSIX_FADV_DONTNEED), 0);
}

static void run_file_seq(const char *name, const struct orc_op *ops, size_t n, uint32_t ignore, int mode)
{
	struct orc_opts o;
	struct orc_result r;
	struct orc_trace k, a;
	struct orc_probe p;
	int rc;

	orc_opts_init(&o);
	o.name = name;
	o.ignore = ignore;
	memset(&r, 0, sizeof(r));
	(void)orc_probe(&p);
	reset_files();
	if (mode & COLD_MID)
		make_mid_cold();
	if (orc_run_kernel(ops, n, &o, &k) != 0)
		fail_msg("%s: kernel side: %s", name, k.error);
	reset_files();
	if (mode & COLD_MID)
		make_mid_cold();
	if (orc_run_aspace(ops, n, &o, &k, &a) != 0 && !a.before.maps)
		fail_msg("%s: aspace side: %s", name, a.error);
	mask_trace(&k);
	mask_trace(&a);
	rc = orc_compare(ops, n, &k, &a, &o, stderr, &r);
	orc_trace_free(&k);
	orc_trace_free(&a);
	if (rc > 0 && (mode & SKIP_IF_ENOSYS) && r.aspace_enosys > 0) {
		print_message("TODO %s: aspace answers -ENOSYS in %d op(s); skipped until implemented\n",
			      name, r.aspace_enosys);
		skip();
	}
	if (rc != 0)
		fail_msg("%s: %d divergence(s) between the kernel and aspace, first at op %d (report above)",
			 name, rc, r.first_diverged);
}

#define RUN(ops, ignore, mode) run_file_seq(__func__, ops, ORC_N(ops), ignore, mode)

/* ---- private mappings ---- */

/*
 * Read faults map up to 16 cached pages around the address (fault-around),
 * in a window aligned to 16 page-table entries and clamped to the region.
 */
static void test_private_read_fault_around(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(64), PROT_READ, MAP_PRIVATE, fd_rw[F_BIG], 0),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_READ(ORC_REF(0, PG(16)), 1),
		ORC_READ(ORC_REF(0, PG(5) + 7), 1),
		ORC_READ(ORC_REF(0, PG(40)), 1),
		ORC_READ(ORC_REF(0, 0), PG(64)),
		/* A region whose start is not 16-aligned in its page table, at an offset. */
		ORC_MMAP_FD(FREE_UNALIGNED, PG(20), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_rw[F_BIG], PG(3)),
		ORC_READ(ORC_REF(6, PG(12)), 1),
		ORC_READ(ORC_REF(6, PG(2)), 1),
		ORC_READ(ORC_REF(6, PG(19)), 1),
		ORC_MUNMAP(ORC_REF(0, 0), PG(64)),
		ORC_MUNMAP(ORC_REF(6, 0), PG(20)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* Writes copy: a fault on an absent page copies at once, one on a mapped page replaces it. */
static void test_private_write_cow(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(32), RW, MAP_PRIVATE, fd_rw[F_BIG], 0),
		ORC_WRITE(ORC_REF(0, PG(20)), 8, 'x'),  /* absent: copy */
		ORC_READ(ORC_REF(0, 0), 1),             /* fault-around 0..15 */
		ORC_WRITE(ORC_REF(0, PG(3)), 1, 'y'),   /* mapped read-only: copy */
		ORC_READ(ORC_REF(0, PG(21)), 1),        /* around, skipping the copy */
		ORC_READ(ORC_REF(0, 0), PG(32)),
		ORC_MUNMAP(ORC_REF(0, 0), PG(32)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* A private mapping of a read-only descriptor may be written (copies), not a shared one. */
static void test_private_readonly_fd(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(8), RW, MAP_PRIVATE, fd_ro, 0),
		ORC_WRITE(ORC_REF(0, PG(1)), 16, 'z'),
		ORC_READ(ORC_REF(0, 0), PG(8)),
		ORC_MMAP_FD(0, PG(8), RW, MAP_SHARED, fd_ro, 0),
		ORC_MMAP_FD(0, PG(8), PROT_READ, MAP_SHARED, fd_ro, 0),
		ORC_READ(ORC_REF(4, 0), PG(8)),
		ORC_MUNMAP(ORC_REF(0, 0), PG(8)),
		ORC_MUNMAP(ORC_REF(4, 0), PG(8)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* ---- shared mappings ---- */

/*
 * Shared writable file regions track dirtiness: read faults map read-only,
 * the first write to a page faults again.
 */
static void test_shared_write_faults(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(32), RW, MAP_SHARED, fd_rw[F_BIG], 0),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_WRITE(ORC_REF(0, 0), 1, 'a'),
		ORC_WRITE(ORC_REF(0, PG(1)), 1, 'b'),
		ORC_WRITE(ORC_REF(0, PG(20)), 1, 'c'),
		ORC_READ(ORC_REF(0, PG(21)), 1),
		ORC_WRITE(ORC_REF(0, PG(1) + 8), 8, 'd'),
		ORC_READ(ORC_REF(0, 0), PG(32)),
		ORC_MUNMAP(ORC_REF(0, 0), PG(32)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* Two shared mappings of one file see each other's writes; pages count as shared. */
static void test_shared_two_regions(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(16), RW, MAP_SHARED, fd_rw[F_MID], 0),
		ORC_MMAP_FD(0, PG(16), PROT_READ, MAP_PRIVATE, fd_rw[F_MID], 0),
		ORC_READ(ORC_REF(1, 0), PG(16)),
		ORC_WRITE(ORC_REF(0, PG(2)), 32, 'Q'),
		ORC_READ(ORC_REF(1, PG(2)), 64),
		ORC_READ(ORC_REF(0, 0), PG(16)),
		ORC_MUNMAP(ORC_REF(0, 0), PG(16)),
		ORC_MUNMAP(ORC_REF(1, 0), PG(16)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/*
 * A file the host does not cache: the first read fault is a major fault
 * (not counted in minflt); the host reads the page and pages around it,
 * and the retried fault maps the 16 around it that are now cached.
 */
static void test_cold_cache(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(40), PROT_READ, MAP_PRIVATE, fd_rw[F_MID], 0),
		ORC_READ(ORC_REF(0, PG(10)), 1),
		ORC_READ(ORC_REF(0, PG(11)), 1),
		ORC_READ(ORC_REF(0, PG(30)), 1),
		ORC_READ(ORC_REF(0, 0), PG(40)),
		ORC_MUNMAP(ORC_REF(0, 0), PG(40)),
	};
	(void)state;
	RUN(seq, 0, COLD_MID);
}

/*
 * A file the host caches in large folios (64 pages here): a read fault maps
 * every folio the window touches whole, when it lies inside the region and
 * one page table; otherwise only the window's part.
 */
static void test_large_folios(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(FREE_AREA, PG(128), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_rw[F_LARGE], 0),
		ORC_READ(FREE_AREA + PG(5), 1),
		ORC_READ(FREE_AREA + PG(70), 1),
		ORC_MMAP_FD(FREE_AREA + PG(512), PG(20), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_rw[F_LARGE], 0),
		ORC_READ(FREE_AREA + PG(512 + 3), 1),   /* the folio exceeds the region */
		ORC_MMAP_FD(FREE_AREA + PG(1032), PG(128), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_rw[F_LARGE], 0),
		ORC_READ(FREE_AREA + PG(1032 + 2), 1),  /* not 16-aligned: still whole */
		ORC_MMAP_FD(FREE_AREA + MB(8) - PG(16), PG(128), PROT_READ, MAP_PRIVATE | MAP_FIXED,
			    fd_rw[F_LARGE], 0),
		ORC_READ(FREE_AREA + MB(8) - PG(14), 1), /* the folio crosses a page table */
		ORC_READ(FREE_AREA + MB(8) + PG(4), 1),
		ORC_MMAP_FD(FREE_AREA + MB(16), PG(128), PROT_READ, MAP_SHARED | MAP_FIXED, fd_rw[F_LARGE], PG(16)),
		ORC_READ(FREE_AREA + MB(16) + PG(2), 1),
		ORC_READ(FREE_AREA + MB(16) + PG(60), 1),
		ORC_MUNMAP(FREE_AREA, MB(20)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* ---- the end of the file ---- */

static void test_sigbus_past_eof(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(4), RW, MAP_PRIVATE, fd_rw[F_TAIL], 0),
		ORC_READ(ORC_REF(0, PG(1)), PG(1)),       /* the tail of the last page reads zero */
		ORC_READ(ORC_REF(0, PG(2)), 1),           /* a whole page past the end: SIGBUS */
		ORC_WRITE(ORC_REF(0, PG(3)), 1, 'w'),     /* also for a write */
		ORC_WRITE(ORC_REF(0, PG(1) + 200), 1, 'w'), /* the tail of the last page is writable */
		ORC_MMAP_FD(0, PG(8), RW, MAP_SHARED, fd_rw[F_SMALL], 0),
		ORC_READ(ORC_REF(5, PG(6)), 1),           /* SIGBUS, after mapping pages 0..3 around */
		ORC_WRITE(ORC_REF(5, PG(4)), 1, 'w'),
		ORC_READ(ORC_REF(5, PG(3)), 1),
		ORC_MUNMAP(ORC_REF(0, 0), PG(4)),
		ORC_MUNMAP(ORC_REF(5, 0), PG(8)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* ---- mmap's checks ---- */

static void test_file_mmap_errors(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, 999, 0),                /* EBADF */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, -1, 0),                 /* EBADF */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, 999, 4095),             /* EINVAL first */
		ORC_MMAP_FD(0, 0, PROT_READ, MAP_PRIVATE, 999, 0),                    /* EBADF first */
		ORC_MMAP_FD(0, 0, PROT_READ, MAP_PRIVATE, fd_rw[F_BIG], 0),           /* EINVAL */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, fd_wo, 0),              /* EACCES */
		ORC_MMAP_FD(0, PG(1), RW, MAP_SHARED, fd_ro, 0),                      /* EACCES */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, fd_pipe[0], 0),         /* ENODEV */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, fd_pipe[1], 0),         /* EACCES */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, fd_dir, 0),             /* ENODEV */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, fd_rw[F_BIG], 1ull << 63), /* EOVERFLOW */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, fd_rw[F_BIG], (1ull << 63) - PG(1)),
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE, fd_pipe[0], 1ull << 63), /* ENODEV */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_SHARED_VALIDATE | 0x800000, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_SHARED | MAP_SYNC, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE | MAP_SYNC, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_SHARED | MAP_GROWSDOWN, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE | MAP_HUGETLB, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, PG(1), PROT_READ, 0, fd_rw[F_BIG], 0),                 /* no type: EINVAL */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_PRIVATE | 0x08, fd_rw[F_BIG], 0), /* MAP_DROPPABLE */
		ORC_MMAP_FD(0, PG(1), PROT_READ, MAP_SHARED | 0x800000, fd_rw[F_BIG], 0), /* ignored */
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* The open file decides merging: the same description (fd or a dup) merges, a re-open doesn't. */
static void test_file_merge(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(FREE_AREA, PG(4), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(FREE_AREA + PG(4), PG(4), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_rw[F_BIG], PG(4)),
		ORC_MMAP_FD(FREE_AREA + PG(8), PG(4), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_dup, PG(8)),
		ORC_MMAP_FD(FREE_AREA + PG(12), PG(4), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_reopen, PG(12)),
		ORC_MMAP_FD(FREE_AREA + PG(16), PG(4), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd_rw[F_BIG], PG(20)),
		ORC_MMAP_FD(FREE_AREA + PG(20), PG(4), PROT_READ, MAP_SHARED | MAP_FIXED, fd_rw[F_BIG], PG(24)),
		ORC_MUNMAP(FREE_AREA, PG(24)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* Placement: ext4 files of 2 MiB and more align to 2 MiB by file offset. */
static void test_file_placement(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, MB(2), PROT_READ, MAP_PRIVATE, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, MB(2) + PG(1), PROT_READ, MAP_PRIVATE, fd_rw[F_BIG], PG(1)),
		ORC_MMAP_FD(0, MB(4), PROT_READ, MAP_PRIVATE, fd_rw[F_BIG], PG(1)),
		ORC_MMAP_FD(0, MB(1), PROT_READ, MAP_SHARED, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, MB(4), RW, MAP_PRIVATE, fd_zero, PG(3)),
		ORC_MMAP_FD(0, MB(2), RW, MAP_SHARED, fd_zero, 0),
		ORC_MMAP(0, MB(2), RW, MAP_SHARED | MAP_ANONYMOUS),
		ORC_MUNMAP(ORC_REF(0, 0), MB(2)),
		ORC_MUNMAP(ORC_REF(1, 0), MB(2) + PG(1)),
		ORC_MUNMAP(ORC_REF(2, 0), MB(4)),
		ORC_MUNMAP(ORC_REF(3, 0), MB(1)),
		ORC_MUNMAP(ORC_REF(4, 0), MB(4)),
		ORC_MUNMAP(ORC_REF(5, 0), MB(2)),
		ORC_MUNMAP(ORC_REF(6, 0), MB(2)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* ---- tmpfs: a memfd ---- */

/* tmpfs pages are shmem: RssShmem, writable at once in shared writable regions, no writeback. */
static void test_memfd(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(24), RW, MAP_SHARED, fd_rw[F_MEMFD], 0),
		ORC_READ(ORC_REF(0, PG(3)), 1),
		ORC_WRITE(ORC_REF(0, PG(4)), 8, 'm'),
		ORC_WRITE(ORC_REF(0, PG(20)), 8, 'n'),
		ORC_MMAP_FD(0, PG(24), RW, MAP_PRIVATE, fd_rw[F_MEMFD], 0),
		ORC_READ(ORC_REF(4, PG(4)), 16),
		ORC_WRITE(ORC_REF(4, PG(5)), 1, 'p'),
		ORC_READ(ORC_REF(0, 0), PG(24)),
		ORC_MSYNC(ORC_REF(0, 0), PG(24), MS_SYNC),
		ORC_WRITE(ORC_REF(0, PG(4)), 1, 'q'),
		ORC_READ(ORC_REF(0, PG(24) - 1), 1),
		ORC_MUNMAP(ORC_REF(0, 0), PG(24)),
		ORC_MUNMAP(ORC_REF(4, 0), PG(24)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* ---- shared anonymous memory and /dev/zero ---- */

static void test_shared_anonymous(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP(0, PG(8), RW, MAP_SHARED | MAP_ANONYMOUS),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_READ(ORC_REF(0, PG(1)), 1),
		ORC_WRITE(ORC_REF(0, 0), 16, 's'),
		ORC_WRITE(ORC_REF(0, PG(5)), 16, 't'),
		ORC_READ(ORC_REF(0, 0), PG(8)),
		ORC_MMAP_FD(0, PG(3), RW, MAP_SHARED, fd_zero, PG(2)), /* pages 2.. of a 3-page object */
		ORC_READ(ORC_REF(6, 0), 1),
		ORC_READ(ORC_REF(6, PG(1)), 1),                       /* SIGBUS */
		ORC_MMAP_FD(FREE_AREA, PG(2), RW, MAP_PRIVATE | MAP_FIXED, fd_zero, 0),
		ORC_MMAP_FD(FREE_AREA + PG(2), PG(2), RW, MAP_PRIVATE | MAP_FIXED, fd_zero, PG(2)),
		ORC_WRITE(FREE_AREA, 8, 'z'),
		ORC_READ(FREE_AREA + PG(3), 1),
		ORC_MUNMAP(ORC_REF(0, 0), PG(8)),
		ORC_MUNMAP(ORC_REF(6, 0), PG(3)),
		ORC_MUNMAP(FREE_AREA, PG(4)),
	};
	(void)state;
	RUN(seq, 0, STRICT);
}

/* MAP_POPULATE and mlock fault file pages in with read faults, fault-around included. */
static void test_file_populate_mlock(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(40), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, PG(40), RW, MAP_SHARED | MAP_POPULATE, fd_rw[F_BIG], PG(8)),
		ORC_MMAP_FD(0, PG(24), RW, MAP_PRIVATE | MAP_POPULATE, fd_rw[F_BIG], 0),
		ORC_MMAP_FD(0, PG(24), PROT_READ, MAP_PRIVATE, fd_rw[F_MID], 0),
		ORC_MLOCK(ORC_REF(3, PG(4)), PG(10)),
		ORC_WRITE(ORC_REF(1, PG(3)), 1, 'P'),
		ORC_MUNMAP(ORC_REF(0, 0), PG(40)),
		ORC_MUNMAP(ORC_REF(1, 0), PG(40)),
		ORC_MUNMAP(ORC_REF(2, 0), PG(24)),
		ORC_MUNMAP(ORC_REF(3, 0), PG(24)),
	};
	(void)state;
	RUN(seq, 0, SKIP_IF_ENOSYS);
}

/* mremap of file regions: moved pages keep their data, a grown region faults the file in. */
static void test_file_mremap(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(8), PROT_READ, MAP_PRIVATE, fd_rw[F_BIG], PG(4)),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_MREMAP(ORC_REF(0, 0), PG(8), PG(16), MREMAP_MAYMOVE, 0),
		ORC_READ(ORC_REF(2, PG(12)), PG(4)),
		ORC_MMAP_FD(0, PG(4), RW, MAP_SHARED, fd_rw[F_BIG], 0),
		ORC_WRITE(ORC_REF(4, 0), 4, 'M'),
		ORC_MREMAP(ORC_REF(4, 0), PG(4), PG(4), MREMAP_MAYMOVE | MREMAP_FIXED, FREE_AREA),
		ORC_READ(FREE_AREA, PG(4)),
		ORC_MREMAP(FREE_AREA, PG(4), PG(80), 0, 0),          /* past the end of the file */
		ORC_READ(FREE_AREA + PG(70), 1),
		/* A moved ext4 mapping of 2 MiB and more is placed by its file offset (thp). */
		ORC_MMAP_FD(0, MB(4) + PG(2), PROT_READ, MAP_PRIVATE, fd_rw[F_LARGE], PG(1)),
		ORC_MMAP(0, PG(1), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS),
		ORC_MREMAP(ORC_REF(10, 0), MB(4) + PG(2), MB(6) + PG(3), MREMAP_MAYMOVE, 0),
		ORC_MUNMAP(ORC_REF(2, 0), PG(16)),
		ORC_MUNMAP(FREE_AREA, PG(80)),
		ORC_MUNMAP(ORC_REF(12, 0), MB(6) + PG(3)),
		ORC_MUNMAP(ORC_REF(11, 0), PG(1)),
	};
	(void)state;
	RUN(seq, 0, SKIP_IF_ENOSYS);
}

/* ---- calls other issues bring: skipped while aspace answers -ENOSYS ---- */

static void test_shared_msync(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(16), RW, MAP_SHARED, fd_rw[F_BIG], 0),
		ORC_WRITE(ORC_REF(0, 0), 1, 'm'),
		ORC_READ(ORC_REF(0, PG(1)), 1),
		ORC_MSYNC(ORC_REF(0, 0), PG(16), MS_ASYNC),
		ORC_MSYNC(ORC_REF(0, 0), PG(16), MS_SYNC),
		ORC_WRITE(ORC_REF(0, 0), 1, 'n'),       /* written back: faults again */
		ORC_WRITE(ORC_REF(0, 0), 1, 'o'),
		ORC_MSYNC(ORC_REF(0, 0), PG(16), MS_INVALIDATE),
		ORC_MSYNC(ORC_REF(0, 1), PG(1), MS_SYNC),
		ORC_MSYNC(ORC_REF(0, 0), PG(1), MS_SYNC | MS_ASYNC),
		ORC_MUNMAP(ORC_REF(0, 0), PG(16)),
	};
	(void)state;
	RUN(seq, 0, SKIP_IF_ENOSYS);
}

static void test_readonly_shared_mprotect(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(4), PROT_READ, MAP_SHARED, fd_ro, 0),
		ORC_MPROTECT(ORC_REF(0, 0), PG(4), RW),              /* EACCES: no VM_MAYWRITE */
		ORC_MPROTECT(ORC_REF(0, 0), PG(4), PROT_READ | PROT_EXEC),
		ORC_MMAP_FD(0, PG(4), PROT_READ, MAP_SHARED, fd_rw[F_BIG], 0),
		ORC_MPROTECT(ORC_REF(3, 0), PG(4), RW),
		ORC_READ(ORC_REF(3, 0), 1),
		ORC_WRITE(ORC_REF(3, PG(1)), 1, 'p'),
		ORC_MUNMAP(ORC_REF(0, 0), PG(4)),
		ORC_MUNMAP(ORC_REF(3, 0), PG(4)),
	};
	(void)state;
	RUN(seq, 0, SKIP_IF_ENOSYS);
}

static void test_private_dontneed(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP_FD(0, PG(16), RW, MAP_PRIVATE, fd_rw[F_BIG], 0),
		ORC_WRITE(ORC_REF(0, PG(2)), 64, 'D'),
		ORC_READ(ORC_REF(0, PG(2)), 64),
		ORC_MADVISE(ORC_REF(0, 0), PG(16), MADV_DONTNEED),
		ORC_READ(ORC_REF(0, PG(2)), 64),           /* the file's bytes again */
		ORC_MUNMAP(ORC_REF(0, 0), PG(16)),
	};
	(void)state;
	RUN(seq, 0, SKIP_IF_ENOSYS);
}

static void test_shared_anon_remove(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP(0, PG(8), RW, MAP_SHARED | MAP_ANONYMOUS),
		ORC_WRITE(ORC_REF(0, 0), PG(8), 'r'),
		ORC_MADVISE(ORC_REF(0, PG(2)), PG(2), MADV_REMOVE),
		ORC_READ(ORC_REF(0, 0), PG(8)),
		ORC_MUNMAP(ORC_REF(0, 0), PG(8)),
	};
	(void)state;
	RUN(seq, 0, SKIP_IF_ENOSYS);
}

static void test_shared_anon_mremap(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW, MAP_SHARED | MAP_ANONYMOUS),
		ORC_WRITE(ORC_REF(0, 0), PG(4), 'm'),
		ORC_MREMAP(ORC_REF(0, 0), PG(4), PG(1), 0, 0),        /* shrink */
		ORC_MREMAP(ORC_REF(0, 0), PG(1), PG(6), MREMAP_MAYMOVE, 0), /* grow */
		ORC_READ(ORC_REF(3, 0), PG(4)),                       /* the old data */
		ORC_READ(ORC_REF(3, PG(4)), 1),                       /* past the object: SIGBUS */
		ORC_MUNMAP(ORC_REF(3, 0), PG(6)),
	};
	(void)state;
	RUN(seq, 0, SKIP_IF_ENOSYS);
}

static void test_file_mincore(void **state)
{
	const struct orc_op seq[] = {
		ORC_MMAP(0, PG(1), RW, MAP_PRIVATE | MAP_ANONYMOUS),   /* the vector */
		ORC_MMAP_FD(0, PG(8), PROT_READ, MAP_PRIVATE, fd_rw[F_SMALL], 0),
		ORC_MINCORE(ORC_REF(1, 0), PG(8), ORC_REF(0, 0)),
		ORC_MMAP(0, PG(4), RW, MAP_SHARED | MAP_ANONYMOUS),
		ORC_WRITE(ORC_REF(3, PG(1)), 1, 'c'),
		ORC_MINCORE(ORC_REF(3, 0), PG(4), ORC_REF(0, 0)),
		ORC_MUNMAP(ORC_REF(0, 0), PG(1)),
		ORC_MUNMAP(ORC_REF(1, 0), PG(8)),
		ORC_MUNMAP(ORC_REF(3, 0), PG(4)),
	};
	(void)state;
	RUN(seq, 0, SKIP_IF_ENOSYS);
}

static int setup(void **state)
{
	(void)state;
	open_files();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close_files();
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_private_read_fault_around),
		cmocka_unit_test(test_private_write_cow),
		cmocka_unit_test(test_private_readonly_fd),
		cmocka_unit_test(test_shared_write_faults),
		cmocka_unit_test(test_shared_two_regions),
		cmocka_unit_test(test_cold_cache),
		cmocka_unit_test(test_large_folios),
		cmocka_unit_test(test_sigbus_past_eof),
		cmocka_unit_test(test_file_mmap_errors),
		cmocka_unit_test(test_file_merge),
		cmocka_unit_test(test_file_placement),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_shared_anonymous),
		cmocka_unit_test(test_file_populate_mlock),
		cmocka_unit_test(test_file_mremap),
		cmocka_unit_test(test_shared_msync),
		cmocka_unit_test(test_readonly_shared_mprotect),
		cmocka_unit_test(test_private_dontneed),
		cmocka_unit_test(test_shared_anon_remove),
		cmocka_unit_test(test_shared_anon_mremap),
		cmocka_unit_test(test_file_mincore),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, setup, teardown);
}
