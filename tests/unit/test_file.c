/*
 * File mappings and shared memory on real files of the host: the page
 * cache, MAP_PRIVATE and MAP_SHARED, the end of the file, truncation seen
 * from the host, mmap's errors, shmem objects and fork, descriptors.
 * The kernel's numbers these tests expect were measured on the project's
 * machines (tests/diff/test_file_map.c compares them live).
 */
#include "testlib.h"
#include <aspace/mman.h>

#include "file/file.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1u
#endif

#define PG(x) ((uint64_t)(x) << 12)
#define RW (PROT_READ | PROT_WRITE)
#define FIXED 0x200000000000ull

static char dir[64];

/* A file of `pages` pages, written 4 KiB at a time, page i filled with 'a' + i % 26. */
static int make_file(const char *name, int pages, int flags)
{
	char path[128], buf[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (int i = 0; i < pages; i++) {
		memset(buf, 'a' + i % 26, sizeof(buf));
		assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	}
	if (flags != O_RDWR) {
		close(fd);
		fd = open(path, flags);
		assert_true(fd >= 0);
	}
	return fd;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static long map(struct as_mm *mm, uint64_t addr, uint64_t len, int prot, int flags, int fd, uint64_t off)
{
	return as_syscall(mm, SYS_mmap, addr, len, (uint64_t)prot, (uint64_t)flags, (uint64_t)(int64_t)fd, off);
}

static void assert_file_ok(struct as_machine *m)
{
	char buf[256];

	if (file_check(m, buf, sizeof(buf)) != 0)
		fail_msg("file check: %s", buf);
}

static void counters(struct as_mm *mm, struct as_mm_counters *c)
{
	as_mm_get_counters(mm, c);
}

/* Reads see the file; a read fault maps 16 pages; writes to the host show through. */
static void test_private_read_and_host_writes(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 64, O_RDWR);
	struct as_mm *mm;
	struct as_mm_counters c;
	char buf[PG(1)];
	long a;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	/* At a 64 KiB boundary: fault-around windows are 16 page-table entries. */
	a = map(mm, FIXED, PG(64), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	assert_true(a > 0);
	assert_int_equal(as_read(mm, (uint64_t)a + PG(3), buf, sizeof(buf), NULL), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 'd');
	counters(mm, &c);
	assert_int_equal(c.min_flt, 1);
	assert_int_equal(c.rss_file, 16);
	/* The host writes: the mapping shows it at once. */
	assert_int_equal(pwrite(fd, "HOST", 4, (off_t)PG(3)), 4);
	assert_int_equal(as_read(mm, (uint64_t)a + PG(3), buf, 4, NULL), 0);
	assert_memory_equal(buf, "HOST", 4);
	assert_int_equal(as_read(mm, (uint64_t)a + PG(63), buf, 1, NULL), 0);
	counters(mm, &c);
	assert_int_equal(c.min_flt, 2);
	assert_int_equal(c.rss_file, 32);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	assert_file_ok(m);
	as_mm_put(mm);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* A private write copies the page: the file keeps its bytes, RSS moves from file to anon. */
static void test_private_cow(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 16, O_RDONLY);
	struct as_mm *mm;
	struct as_mm_counters c;
	char buf[8];
	long a;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	a = map(mm, 0, PG(16), RW, MAP_PRIVATE, fd, 0);
	assert_true(a > 0);
	assert_int_equal(as_read(mm, (uint64_t)a, buf, 1, NULL), 0);
	assert_int_equal(as_write(mm, (uint64_t)a + PG(2), "mine", 4, NULL), 0);
	counters(mm, &c);
	assert_int_equal(c.min_flt, 2);
	assert_int_equal(c.rss_file, 15);
	assert_int_equal(c.rss_anon, 1);
	assert_int_equal(pread(fd, buf, 4, (off_t)PG(2)), 4);
	assert_memory_equal(buf, "cccc", 4);
	/* The host writes again: the copy doesn't see it, the other pages do. */
	{
		char path[128];
		int wfd;

		snprintf(path, sizeof(path), "%s/f", dir);
		wfd = open(path, O_WRONLY);
		assert_true(wfd >= 0);
		assert_int_equal(pwrite(wfd, "XX", 2, (off_t)PG(2)), 2);
		assert_int_equal(pwrite(wfd, "YY", 2, (off_t)PG(4)), 2);
		close(wfd);
	}
	assert_int_equal(as_read(mm, (uint64_t)a + PG(2), buf, 4, NULL), 0);
	assert_memory_equal(buf, "mine", 4);
	assert_int_equal(as_read(mm, (uint64_t)a + PG(4), buf, 2, NULL), 0);
	assert_memory_equal(buf, "YY", 2);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* MAP_SHARED writes are in the file at once; the caller may close its descriptor. */
static void test_shared_write_reaches_file(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 8, O_RDWR), fds_before;
	struct as_mm *mm;
	struct as_mm_counters c;
	char buf[8];
	long a;

	(void)state;
	fds_before = count_fds();
	assert_int_equal(as_mm_new(m, &mm), 0);
	a = map(mm, 0, PG(8), RW, MAP_SHARED, fd, 0);
	assert_true(a > 0);
	close(fd); /* aspace keeps its own duplicate */
	assert_int_equal(as_write(mm, (uint64_t)a + PG(5) + 10, "shared", 6, NULL), 0);
	counters(mm, &c);
	assert_int_equal(c.min_flt, 1);
	assert_int_equal(c.rss_file, 1); /* a write fault maps only its page */
	{
		char path[128];
		int rfd;

		snprintf(path, sizeof(path), "%s/f", dir);
		rfd = open(path, O_RDONLY);
		assert_int_equal(pread(rfd, buf, 6, (off_t)PG(5) + 10), 6);
		close(rfd);
	}
	assert_memory_equal(buf, "shared", 6);
	/* Read first, then write: the write faults again (the page was mapped clean). */
	assert_int_equal(as_read(mm, (uint64_t)a, buf, 1, NULL), 0);
	assert_int_equal(as_write(mm, (uint64_t)a + PG(1), "w", 1, NULL), 0);
	counters(mm, &c);
	assert_int_equal(c.min_flt, 3);
	assert_int_equal(c.rss_file, 8);
	assert_int_equal(as_syscall(mm, SYS_msync, (uint64_t)a, PG(8), MS_SYNC, 0, 0, 0), 0);
	assert_int_equal(as_write(mm, (uint64_t)a + PG(1), "x", 1, NULL), 0);
	counters(mm, &c);
	assert_int_equal(c.min_flt, 4); /* written back: the next write faults */
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	assert_int_equal(count_fds(), fds_before - 1);
	as_machine_free(m);
}

static void expect_bus(struct as_mm *mm, uint64_t addr, bool write)
{
	struct as_fault f = { 0 };
	char b = 'w';
	int rc = write ? as_write(mm, addr, &b, 1, &f) : as_read(mm, addr, &b, 1, &f);

	assert_int_equal(rc, -EFAULT);
	assert_int_equal(f.signo, SIGBUS);
	assert_int_equal(f.code, BUS_ADRERR);
	assert_int_equal(f.addr, addr);
}

/* Past the end of the file: SIGBUS; the tail of the last page reads zero. */
static void test_sigbus_past_eof(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 2, O_RDWR);
	struct as_mm *mm;
	char buf[PG(1)];
	long a;

	(void)state;
	assert_int_equal(ftruncate(fd, (off_t)PG(1) + 100), 0);
	assert_int_equal(as_mm_new(m, &mm), 0);
	a = map(mm, 0, PG(4), RW, MAP_PRIVATE, fd, 0);
	assert_int_equal(as_read(mm, (uint64_t)a + PG(1), buf, sizeof(buf), NULL), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf[i], 'b');
	for (size_t i = 100; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	expect_bus(mm, (uint64_t)a + PG(2), false);
	expect_bus(mm, (uint64_t)a + PG(3) + 5, true);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/*
 * Truncation made on the host is noticed at the next access to a page it
 * took away; as_file_truncate makes it seen at once, private copies past
 * the end included (as truncate_pagecache's even_cows), in every space.
 */
static void test_truncation(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 8, O_RDWR);
	struct as_mm *mm, *other;
	struct as_mm_counters c;
	char buf[4];
	long a, b, s;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_mm_new(m, &other), 0);
	a = map(mm, 0, PG(8), RW, MAP_PRIVATE, fd, 0);
	s = map(mm, 0, PG(8), RW, MAP_SHARED, fd, 0);
	b = map(other, 0, PG(8), PROT_READ, MAP_PRIVATE, fd, 0);
	assert_int_equal(as_read(mm, (uint64_t)a, buf, 1, NULL), 0);   /* maps all 8 */
	assert_int_equal(as_read(mm, (uint64_t)s, buf, 1, NULL), 0);
	assert_int_equal(as_read(other, (uint64_t)b, buf, 1, NULL), 0);
	assert_int_equal(as_write(mm, (uint64_t)a + PG(6), "cow", 3, NULL), 0);

	/* On the host: the shared page past the end is gone at the next access. */
	assert_int_equal(ftruncate(fd, (off_t)PG(6)), 0);
	expect_bus(mm, (uint64_t)s + PG(7), false);
	counters(mm, &c);
	/* The failed copy made aspace look: everything past the end went, the copy too. */
	assert_int_equal(c.rss_file, 6 + 6);
	assert_int_equal(c.rss_anon, 0);
	expect_bus(mm, (uint64_t)a + PG(6), false);
	expect_bus(other, (uint64_t)b + PG(6), false);
	counters(other, &c);
	assert_int_equal(c.rss_file, 6);

	/* Through aspace: at once, everywhere. */
	assert_int_equal(as_write(mm, (uint64_t)a + PG(3), "c2", 2, NULL), 0);
	assert_int_equal(as_file_truncate(m, fd, PG(2) + 1), 0);
	counters(mm, &c);
	assert_int_equal(c.rss_file, 3 + 3);
	assert_int_equal(c.rss_anon, 0);
	counters(other, &c);
	assert_int_equal(c.rss_file, 3);
	expect_bus(other, (uint64_t)b + PG(3), false);
	assert_int_equal(as_read(other, (uint64_t)b + PG(2), buf, 2, NULL), 0);
	assert_int_equal(buf[0], 'c');
	assert_int_equal(buf[1], 0);

	/* Growing again: the pages come back, zero-filled, through new faults. */
	assert_int_equal(ftruncate(fd, (off_t)PG(8)), 0);
	assert_int_equal(as_read(mm, (uint64_t)s + PG(7), buf, 1, NULL), 0);
	assert_int_equal(buf[0], 0);
	assert_int_equal(as_file_changed(m, fd), 0);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	assert_int_equal(as_mm_check(other, stderr), 0);
	assert_file_ok(m);
	as_mm_put(mm);
	as_mm_put(other);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* mmap's checks of the descriptor, in Linux's order. */
static void test_mmap_errors(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int rw = make_file("f", 4, O_RDWR), ro = make_file("g", 4, O_RDONLY), wo = make_file("h", 4, O_WRONLY);
	int pfd[2], d, sk, zero, path;
	struct as_mm *mm;
	char p[128];

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	d = open(dir, O_RDONLY | O_DIRECTORY);
	sk = socket(AF_UNIX, SOCK_STREAM, 0);
	zero = open("/dev/zero", O_RDWR);
	snprintf(p, sizeof(p), "%s/f", dir);
	path = open(p, O_PATH);
	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, 999, 0), -EBADF);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, -1, 0), -EBADF);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, path, 0), -EBADF);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, 999, 1), -EINVAL);
	assert_int_equal(map(mm, 0, 0, PROT_READ, MAP_PRIVATE, rw, 0), -EINVAL);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, wo, 0), -EACCES);
	assert_int_equal(map(mm, 0, PG(1), RW, MAP_SHARED, ro, 0), -EACCES);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, pfd[0], 0), -ENODEV);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, pfd[1], 0), -EACCES);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, d, 0), -ENODEV);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, sk, 0), -ENODEV);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, rw, 1ull << 63), -EOVERFLOW);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, rw, (1ull << 63) - PG(1)), -EOVERFLOW);
	assert_true(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, rw, (1ull << 63) - PG(2)) > 0);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, pfd[0], 1ull << 63), -ENODEV);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_SHARED_VALIDATE | 0x800000, rw, 0), -EOPNOTSUPP);
	assert_true(map(mm, 0, PG(1), PROT_READ, MAP_SHARED | 0x800000, rw, 0) > 0);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, rw, 0), -EOPNOTSUPP);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE | MAP_SYNC, rw, 0), -EOPNOTSUPP);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE | MAP_GROWSDOWN, rw, 0), -EINVAL);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE | MAP_HUGETLB, rw, 0), -EINVAL);
	assert_int_equal(map(mm, 0, PG(1), PROT_READ, 0, rw, 0), -EINVAL);
	/* A read-only shared mapping can never be made writable. */
	{
		long a = map(mm, 0, PG(1), PROT_READ, MAP_SHARED, ro, 0);

		assert_true(a > 0);
		assert_int_equal(as_syscall(mm, SYS_mprotect, (uint64_t)a, PG(1), RW, 0, 0, 0), -EACCES);
	}
	/* Private /dev/zero is anonymous memory with a name. */
	{
		long z = map(mm, 0, PG(2), RW, MAP_PRIVATE, zero, 0);
		struct as_mm_counters c;

		assert_true(z > 0);
		assert_int_equal(as_write(mm, (uint64_t)z, "z", 1, NULL), 0);
		counters(mm, &c);
		assert_int_equal(c.rss_anon, 1);
	}
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	close(rw);
	close(ro);
	close(wo);
	close(pfd[0]);
	close(pfd[1]);
	close(d);
	close(sk);
	close(zero);
	close(path);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Two spaces mapping one file share one frame per page. */
static void test_two_spaces_share_frames(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 16, O_RDWR);
	struct as_machine_stats st0, st1;
	struct as_mm *x, *y;
	char buf[PG(16)];
	long a, b;

	(void)state;
	assert_int_equal(as_mm_new(m, &x), 0);
	assert_int_equal(as_mm_new(m, &y), 0);
	a = map(x, 0, PG(16), PROT_READ, MAP_PRIVATE, fd, 0);
	b = map(y, 0, PG(16), RW, MAP_SHARED, fd, 0);
	as_machine_get_stats(m, &st0);
	assert_int_equal(as_read(x, (uint64_t)a, buf, sizeof(buf), NULL), 0);
	as_machine_get_stats(m, &st1);
	assert_int_equal(st1.user_frames - st0.user_frames, 16);
	assert_int_equal(as_read(y, (uint64_t)b, buf, sizeof(buf), NULL), 0);
	as_machine_get_stats(m, &st0);
	assert_int_equal(st0.user_frames, st1.user_frames);
	assert_int_equal(st0.file_caches, 1);
	assert_int_equal(as_write(y, (uint64_t)b + PG(9), "Y", 1, NULL), 0);
	assert_int_equal(as_read(x, (uint64_t)a + PG(9), buf, 1, NULL), 0);
	assert_int_equal(buf[0], 'Y');
	assert_file_ok(m);
	as_mm_put(x);
	as_mm_put(y);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/*
 * msync(MS_SYNC) in one space cleans the page in every space: a TLB entry
 * another space holds for writing it is not used again without that space
 * catching up, so its next write faults (write-notify), as Linux's
 * folio_mkclean makes it. Its entries of pages that stayed dirty still hit.
 */
static void test_msync_cleans_tlb_of_other_space(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 4, O_RDWR);
	struct as_mm_counters c0, c1;
	struct as_mm *x, *y;
	struct as_tlb *t;
	void *p;
	long a, b;

	(void)state;
	assert_int_equal(as_mm_new(m, &x), 0);
	assert_int_equal(as_mm_new(m, &y), 0);
	a = map(x, 0, PG(4), RW, MAP_SHARED, fd, 0);
	b = map(y, 0, PG(4), RW, MAP_SHARED, fd, 0);
	assert_int_equal(as_tlb_new(x, &t), 0);
	assert_int_equal(as_tlb_translate(t, (uint64_t)a, PROT_WRITE, &p, NULL), 0);
	*(char *)p = 'X';
	assert_int_equal(as_tlb_translate(t, (uint64_t)a + PG(3), PROT_WRITE, &p, NULL), 0);
	as_tlb_release(t);
	counters(x, &c0);
	/* a hit: no fault */
	assert_int_equal(as_tlb_translate(t, (uint64_t)a, PROT_WRITE, &p, NULL), 0);
	as_tlb_release(t);
	counters(x, &c1);
	assert_int_equal(c1.min_flt, c0.min_flt);
	/* y writes back page 0 only */
	assert_int_equal(as_syscall(y, SYS_msync, (uint64_t)b, PG(1), MS_SYNC, 0, 0, 0), 0);
	assert_int_equal(as_tlb_translate(t, (uint64_t)a, PROT_WRITE, &p, NULL), 0);
	assert_int_equal(*(char *)p, 'X');
	as_tlb_release(t);
	counters(x, &c0);
	assert_int_equal(c0.min_flt, c1.min_flt + 1);
	/* page 3 stayed dirty: still writable, no fault */
	assert_int_equal(as_tlb_translate(t, (uint64_t)a + PG(3), PROT_WRITE, &p, NULL), 0);
	as_tlb_release(t);
	counters(x, &c1);
	assert_int_equal(c1.min_flt, c0.min_flt);
	assert_file_ok(m);
	as_tlb_free(t);
	as_mm_put(x);
	as_mm_put(y);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Shared memory stays shared across fork: files and shmem objects; private copies don't. */
static void test_fork_shared(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 4, O_RDWR);
	struct as_mm *mm, *child;
	struct as_mm_counters c;
	char buf[8];
	long f, s, p;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	f = map(mm, 0, PG(4), RW, MAP_SHARED, fd, 0);
	s = map(mm, 0, PG(4), RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	p = map(mm, 0, PG(4), RW, MAP_PRIVATE, fd, 0);
	assert_int_equal(as_write(mm, (uint64_t)f, "file", 4, NULL), 0);
	assert_int_equal(as_write(mm, (uint64_t)s, "shm", 3, NULL), 0);
	assert_int_equal(as_write(mm, (uint64_t)p + PG(1), "priv", 4, NULL), 0);
	assert_int_equal(as_read(mm, (uint64_t)p, buf, 1, NULL), 0);
	assert_int_equal(as_mm_fork(mm, &child), 0);
	counters(child, &c);
	/* Only the private region (with an anonymous page) had its entries copied. */
	assert_int_equal(c.rss_anon, 1);
	assert_int_equal(c.rss_file, 3);
	assert_int_equal(c.rss_shmem, 0);
	assert_int_equal(as_read(child, (uint64_t)s, buf, 3, NULL), 0);
	assert_memory_equal(buf, "shm", 3);
	assert_int_equal(as_write(child, (uint64_t)s + PG(2), "kid", 3, NULL), 0);
	assert_int_equal(as_read(mm, (uint64_t)s + PG(2), buf, 3, NULL), 0);
	assert_memory_equal(buf, "kid", 3);
	assert_int_equal(as_write(child, (uint64_t)f + 8, "KID", 3, NULL), 0);
	assert_int_equal(as_read(mm, (uint64_t)f + 8, buf, 3, NULL), 0);
	assert_memory_equal(buf, "KID", 3);
	assert_int_equal(as_write(child, (uint64_t)p + PG(1), "PRIV", 4, NULL), 0);
	assert_int_equal(as_read(mm, (uint64_t)p + PG(1), buf, 4, NULL), 0);
	assert_memory_equal(buf, "priv", 4);
	counters(mm, &c);
	assert_int_equal(c.rss_shmem, 2);
	/* The parent goes first; the child keeps the objects alive. */
	as_mm_put(mm);
	assert_int_equal(as_read(child, (uint64_t)s + PG(2), buf, 3, NULL), 0);
	assert_memory_equal(buf, "kid", 3);
	assert_int_equal(as_mm_check(child, stderr), 0);
	assert_file_ok(m);
	as_mm_put(child);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Shared anonymous memory: one object per mmap; its size bounds it; MADV_REMOVE zeroes it. */
static void test_shmem_objects(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm, *child;
	struct as_machine_stats st;
	char buf[8];
	long a, b;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	a = map(mm, 0, PG(4), RW, MAP_SHARED | MAP_ANONYMOUS, -1, PG(7));
	b = map(mm, 0, PG(4), RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	as_machine_get_stats(m, &st);
	assert_int_equal(st.file_caches, 2);
	assert_int_equal(as_write(mm, (uint64_t)a, "A", 1, NULL), 0);
	assert_int_equal(as_read(mm, (uint64_t)b, buf, 1, NULL), 0);
	assert_int_equal(buf[0], 0);
	assert_int_equal(as_write(mm, (uint64_t)a + PG(3), "end", 3, NULL), 0);
	assert_int_equal(as_mm_fork(mm, &child), 0);
	assert_int_equal(as_syscall(mm, SYS_madvise, (uint64_t)a + PG(3), PG(1), MADV_REMOVE, 0, 0, 0), 0);
	assert_int_equal(as_read(child, (uint64_t)a + PG(3), buf, 3, NULL), 0);
	assert_int_equal(buf[0], 0);
	assert_int_equal(as_read(child, (uint64_t)a, buf, 1, NULL), 0);
	assert_int_equal(buf[0], 'A');
	assert_int_equal(as_mm_check(mm, stderr), 0);
	assert_int_equal(as_mm_check(child, stderr), 0);
	as_mm_put(child);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* A memfd is a tmpfs file: host-backed shmem pages, counted as RssShmem, named by the host. */
static void test_memfd(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = (int)syscall(SYS_memfd_create, "blob", MFD_CLOEXEC);
	struct as_mm *mm;
	struct as_mm_counters c;
	char buf[8], *maps = NULL;
	size_t len = 0;
	FILE *out;
	long a;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)PG(4)), 0);
	assert_int_equal(as_mm_new(m, &mm), 0);
	a = map(mm, 0, PG(4), RW, MAP_SHARED, fd, 0);
	assert_true(a > 0);
	assert_int_equal(as_read(mm, (uint64_t)a, buf, 1, NULL), 0);
	assert_int_equal(as_write(mm, (uint64_t)a + 5, "memfd", 5, NULL), 0);
	counters(mm, &c);
	assert_int_equal(c.min_flt, 1); /* tmpfs maps writable on a read fault */
	assert_int_equal(c.rss_shmem, 1);
	assert_int_equal(pread(fd, buf, 5, 5), 5);
	assert_memory_equal(buf, "memfd", 5);
	out = open_memstream(&maps, &len);
	assert_int_equal(as_mm_write_maps(mm, out), 0);
	fclose(out);
	assert_non_null(strstr(maps, " rw-s 00000000 00:01 "));
	assert_non_null(strstr(maps, "/memfd:blob (deleted)"));
	free(maps);
	as_mm_put(mm);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* maps: path, device, inode, offset; a re-opened file is another open file (no merge). */
static void test_maps_lines(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("name with space", 8, O_RDWR), again;
	struct as_mm *mm;
	char *maps = NULL, path[128], want[256];
	struct stat st;
	size_t len = 0;
	FILE *out;

	(void)state;
	snprintf(path, sizeof(path), "%s/name with space", dir);
	again = open(path, O_RDONLY);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_true(map(mm, 0x200000000000ull, PG(2), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, PG(1)) > 0);
	assert_true(map(mm, 0x200000002000ull, PG(2), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, PG(3)) > 0);
	assert_true(map(mm, 0x200000004000ull, PG(2), PROT_READ, MAP_PRIVATE | MAP_FIXED, again, PG(5)) > 0);
	assert_true(map(mm, 0x200000006000ull, PG(2), RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) > 0);
	out = open_memstream(&maps, &len);
	assert_int_equal(as_mm_write_maps(mm, out), 0);
	fclose(out);
	snprintf(want, sizeof(want), "200000000000-200000004000 r--p 00001000 %02x:%02x %llu",
		 major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino);
	assert_non_null(strstr(maps, want));
	assert_non_null(strstr(maps, path));
	assert_non_null(strstr(maps, "200000004000-200000006000 r--p 00005000 "));
	assert_non_null(strstr(maps, "200000006000-200000008000 rw-s 00000000 00:01 "));
	assert_non_null(strstr(maps, "/dev/zero (deleted)\n"));
	free(maps);
	/* Unlinked: the host's name says so. */
	unlink(path);
	maps = NULL;
	out = open_memstream(&maps, &len);
	assert_int_equal(as_mm_write_maps(mm, out), 0);
	fclose(out);
	assert_non_null(strstr(maps, "name with space (deleted)\n"));
	free(maps);
	as_mm_put(mm);
	close(fd);
	close(again);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Every allocation a file mapping and its faults make may fail: -ENOMEM, nothing leaks. */
static void test_failure_injection(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 32, O_RDWR);
	uint64_t total;

	(void)state;
	for (uint64_t n = 1;; n++) {
		struct as_mm *mm;
		uint64_t before;
		char buf[8];
		long a, s;
		int r1, r2, r3;

		assert_int_equal(as_mm_new(m, &mm), 0);
		before = as_machine_alloc_count(m);
		as_machine_fail_nth(m, n);
		a = map(mm, 0, PG(32), RW, MAP_PRIVATE, fd, 0);
		s = map(mm, 0, PG(8), RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		r1 = a > 0 ? as_read(mm, (uint64_t)a + PG(20), buf, 1, NULL) : 0;
		r2 = a > 0 ? as_write(mm, (uint64_t)a + PG(2), "x", 1, NULL) : 0;
		r3 = s > 0 ? as_write(mm, (uint64_t)s, "y", 1, NULL) : 0;
		as_machine_fail_nth(m, 0);
		total = as_machine_alloc_count(m) - before;
		assert_true(a > 0 || a == -ENOMEM);
		assert_true(s > 0 || s == -ENOMEM);
		assert_true(r1 == 0 || r1 == -ENOMEM);
		assert_true(r2 == 0 || r2 == -ENOMEM);
		assert_true(r3 == 0 || r3 == -ENOMEM);
		assert_int_equal(as_mm_check(mm, stderr), 0);
		assert_file_ok(m);
		as_mm_put(mm);
		t_assert_machine_clean(m);
		if (n > total + 1)
			break;
	}
	close(fd);
	as_machine_free(m);
}

/* Pages no space maps go back when frames run short (the host keeps the data). */
static void test_reclaim(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 64, O_RDWR);
	struct as_machine_stats st;
	struct as_mm *mm;
	char buf[PG(1)];
	long a, b;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	a = map(mm, FIXED, PG(64), PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	b = map(mm, 0, PG(1), PROT_READ, MAP_PRIVATE, fd, 0); /* keeps the cache alive */
	for (int i = 0; i < 64; i += 16)
		assert_int_equal(as_read(mm, (uint64_t)a + PG(i), buf, 1, NULL), 0);
	assert_int_equal(as_read(mm, (uint64_t)b, buf, 1, NULL), 0);
	assert_int_equal(as_syscall(mm, SYS_munmap, (uint64_t)a, PG(64), 0, 0, 0, 0), 0);
	as_machine_get_stats(m, &st);
	assert_int_equal(st.user_frames, 64); /* still cached */
	assert_int_equal(file_reclaim(m, 1000), 63);
	as_machine_get_stats(m, &st);
	assert_int_equal(st.user_frames, 1);
	assert_int_equal(as_read(mm, (uint64_t)b, buf, 4, NULL), 0);
	assert_memory_equal(buf, "aaaa", 4);
	assert_file_ok(m);
	as_mm_put(mm);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* Threads fault, read and write file pages while the file shrinks and grows under them. */
struct churn {
	struct as_mm *mm;
	uint64_t shared, priv;
	int seed;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	unsigned r = (unsigned)c->seed;
	char buf[64];

	for (int i = 0; i < 3000; i++) {
		uint64_t page = (r = r * 1103515245u + 12345u) >> 16 & 31;
		struct as_fault f;
		int rc;

		switch (r % 4) {
		case 0:
			rc = as_read(c->mm, c->shared + PG(page), buf, sizeof(buf), &f);
			break;
		case 1:
			rc = as_write(c->mm, c->shared + PG(page) + 8, "t", 1, &f);
			break;
		case 2:
			rc = as_read(c->mm, c->priv + PG(page), buf, sizeof(buf), &f);
			break;
		default:
			rc = as_write(c->mm, c->priv + PG(page), "p", 1, &f);
			break;
		}
		/* Only SIGBUS (a page past the end at that moment) may stop an access. */
		if (rc && !(rc == -EFAULT && f.signo == SIGBUS))
			return (void *)1;
	}
	return NULL;
}

static void test_threads_and_truncation(void **state)
{
	struct as_machine *m = t_machine_new(64);
	int fd = make_file("f", 32, O_RDWR);
	struct churn c[4];
	pthread_t t[4];
	struct as_mm *mm;
	void *ret;

	(void)state;
	assert_int_equal(as_mm_new(m, &mm), 0);
	for (int i = 0; i < 4; i++) {
		c[i].mm = mm;
		c[i].shared = (uint64_t)map(mm, 0, PG(32), RW, MAP_SHARED, fd, 0);
		c[i].priv = (uint64_t)map(mm, 0, PG(32), RW, MAP_PRIVATE, fd, 0);
		c[i].seed = i + 1;
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &c[i]), 0);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(as_file_truncate(m, fd, PG(8 + (uint64_t)(i % 3) * 8)), 0);
		assert_int_equal(ftruncate(fd, (off_t)PG(32)), 0);
		usleep(200);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(as_mm_check(mm, stderr), 0);
	assert_file_ok(m);
	as_mm_put(mm);
	close(fd);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* A stand-in file (identity only) can be mapped into the tree by tools; its faults are SIGBUS. */
static void test_standin(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct file_map *f = file_map_new_standin(m, "/usr/lib/x", 8, 1, 42);
	char buf[64];

	(void)state;
	assert_non_null(f);
	assert_string_equal(file_map_name(f, buf, sizeof(buf)), "/usr/lib/x");
	file_map_put(f);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/aspace-test-file-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_private_read_and_host_writes),
		cmocka_unit_test(test_private_cow),
		cmocka_unit_test(test_shared_write_reaches_file),
		cmocka_unit_test(test_sigbus_past_eof),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_mmap_errors),
		cmocka_unit_test(test_two_spaces_share_frames),
		cmocka_unit_test(test_msync_cleans_tlb_of_other_space),
		cmocka_unit_test(test_fork_shared),
		cmocka_unit_test(test_shmem_objects),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_maps_lines),
		cmocka_unit_test(test_failure_injection),
		cmocka_unit_test(test_reclaim),
		cmocka_unit_test(test_threads_and_truncation),
		cmocka_unit_test(test_standin),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
