/*
 * regress — the fixture of the regression tests made from `aspace diff`
 * divergences (tests/diff/test_regress_*.c). Each test is a minimal
 * sequence the fuzzer found and shrank (docs/DIFF.md), run as the fuzzer
 * runs it: an isolated kernel child and aspace from the same state, the
 * fuzzer's temporary files with the same contents, rewritten before each
 * side. `aspace diff` prints such an array for every divergence it reports.
 *
 * Descriptors in a sequence are named RG_FD(i) (file i, O_RDWR),
 * RG_FD_RO(i) (O_RDONLY), RG_FD_WO (file 1, O_WRONLY) and RG_FD_DIR (a
 * directory); rg_run puts the real descriptors in before running.
 */
#ifndef ASPACE_TEST_REGRESS_H
#define ASPACE_TEST_REGRESS_H

#include "known.h"
#include <aspace/mman.h>
#include "oracle.h"
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define RG_FD_BASE 0x7e000000u
#define RG_FD(i) (RG_FD_BASE + (i))
#define RG_FD_RO(i) (RG_FD_BASE + 0x10 + (i))
#define RG_FD_WO (RG_FD_BASE + 0x20)
#define RG_FD_DIR (RG_FD_BASE + 0x21)

#define RG_NFILES 3

struct rg_files {
	char dir[256], path[RG_NFILES][300];
	int fd[RG_NFILES], ro[RG_NFILES], wo, dirfd;
	uint64_t size[RG_NFILES];
};

/* The fuzzer's contents: each page starts with `ret` (0xc3) and "f<i> p<page>", zeros after. */
static inline void rg_restore(void *ctx)
{
	struct rg_files *f = ctx;
	char page[4096];

	for (int i = 0; i < RG_NFILES; i++) {
		assert_int_equal(ftruncate(f->fd[i], 0), 0);
		for (uint64_t off = 0; off < f->size[i]; off += 4096) {
			size_t n = f->size[i] - off < 4096 ? (size_t)(f->size[i] - off) : 4096;

			memset(page, 0, sizeof(page));
			page[0] = (char)0xc3;
			snprintf(page + 1, sizeof(page) - 1, "f%d p%llu", i, (unsigned long long)(off / 4096));
			assert_int_equal(pwrite(f->fd[i], page, n, (off_t)off), (ssize_t)n);
		}
	}
}

static inline void rg_files_open(struct rg_files *f)
{
	static const uint64_t sizes[RG_NFILES] = { 5 * 4096 + 100, 16 * 4096, 4096 };
	const char *tmp = getenv("TMPDIR");

	snprintf(f->dir, sizeof(f->dir), "%s/aspace-regress.%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
	assert_true(mkdir(f->dir, 0755) == 0 || errno == EEXIST);
	for (int i = 0; i < RG_NFILES; i++) {
		snprintf(f->path[i], sizeof(f->path[i]), "%s/f%d", f->dir, i);
		f->size[i] = sizes[i];
		f->fd[i] = open(f->path[i], O_RDWR | O_CREAT | O_TRUNC, 0644);
		f->ro[i] = open(f->path[i], O_RDONLY);
		assert_true(f->fd[i] >= 0 && f->ro[i] >= 0);
	}
	f->wo = open(f->path[1], O_WRONLY);
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->wo >= 0 && f->dirfd >= 0);
	rg_restore(f);
}

static inline void rg_files_close(struct rg_files *f)
{
	for (int i = 0; i < RG_NFILES; i++) {
		close(f->fd[i]);
		close(f->ro[i]);
		unlink(f->path[i]);
	}
	close(f->wo);
	close(f->dirfd);
	rmdir(f->dir);
}

static inline uint64_t rg_fd(const struct rg_files *f, uint64_t v)
{
	if (v >= RG_FD_BASE && v < RG_FD_BASE + RG_NFILES)
		return (uint64_t)f->fd[v - RG_FD_BASE];
	if (v >= RG_FD_BASE + 0x10 && v < RG_FD_BASE + 0x10 + RG_NFILES)
		return (uint64_t)f->ro[v - RG_FD_BASE - 0x10];
	if (v == RG_FD_WO)
		return (uint64_t)f->wo;
	if (v == RG_FD_DIR)
		return (uint64_t)f->dirfd;
	return v;
}

/* Run a sequence side by side as `aspace diff` does; fail the test on any divergence. */
static inline void rg_run(const char *name, const struct orc_op *ops, size_t n, bool unprivileged)
{
	struct orc_op *seq = calloc(n, sizeof(*seq));
	struct rg_files f;
	struct orc_opts o;
	struct orc_result r;
	int rc;

	assert_non_null(seq);
	memcpy(seq, ops, n * sizeof(*seq));
	rg_files_open(&f);
	for (size_t i = 0; i < n; i++) {
		if (seq[i].kind == ORC_OP_MMAP)
			seq[i].a[4] = rg_fd(&f, seq[i].a[4]);
		else if (seq[i].kind == ORC_OP_FTRUNCATE)
			seq[i].a[0] = rg_fd(&f, seq[i].a[0]);
	}
	orc_opts_init(&o);
	o.name = name;
	o.isolate = true;
	o.unprivileged = unprivileged;
	o.verbose = getenv("RG_VERBOSE") != NULL; /* both sides' result of every op */
	o.ram_bytes = 1ull << 30; /* as the fuzzer's machine */
	o.between = rg_restore;
	o.between_ctx = &f;
	rg_restore(&f);
	rc = orc_check(seq, n, &o, &r); /* a divergence must come back twice (o.reruns) */
	rg_files_close(&f);
	free(seq);
	if (rc < 0)
		fail_msg("%s: the oracle could not run: %s", name, r.error);
	if (known_divergence(name)) {
		if (rc == 0)
			fail_msg("%s: listed in tests/diff/known.h but now matches the kernel: remove it", name);
		print_message("KNOWN DIVERGENCE %s: %s (tests/diff/known.h)\n", name, known_divergence(name));
		skip();
	}
	if (rc != 0)
		fail_msg("%s: %d divergence(s) between the kernel and aspace, first at op %d (report above)", name, rc,
			 r.first_diverged);
}

#define RG_RUN(seq) rg_run(__func__, seq, ORC_N(seq), false)
#define RG_RUN_NOBODY(seq) rg_run(__func__, seq, ORC_N(seq), true)

#endif
