/*
 * The oracle's additions for the `aspace diff` fuzzer, side by side with
 * the kernel: isolation of the kernel child (its libraries, heap and vdso
 * gone, the whole address space to the sequence), processes (FORK with
 * actions in parent and child, SWITCH, EXIT), shared anonymous memory,
 * file mappings of temporary files and FTRUNCATE (the file is restored
 * between the two sides).
 */
#include "oracle.h"
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG(x) ((uint64_t)(x) << 12)
#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)
#define SA (MAP_SHARED | MAP_ANONYMOUS)

static void run_seq(const char *name, const struct orc_op *ops, size_t n, bool isolate, bool unpriv,
		    void (*between)(void *), void *ctx)
{
	struct orc_opts o;
	struct orc_result r;
	int rc;

	orc_opts_init(&o);
	o.name = name;
	o.isolate = isolate;
	o.unprivileged = unpriv;
	o.between = between;
	o.between_ctx = ctx;
	rc = orc_check(ops, n, &o, &r);
	if (rc < 0)
		fail_msg("%s: the oracle could not run: %s", name, r.error);
	if (rc != 0)
		fail_msg("%s: %d divergence(s), first at op %d (report above)", name, rc, r.first_diverged);
}

/* An isolated child: only the program's regions, [stack] and the buffer remain. */
static void test_isolated_layout(void **state)
{
	static const struct orc_op seq[] = { ORC_BRK(0) };
	struct orc_opts o;
	struct orc_trace k;
	int lines = 0;

	(void)state;
	orc_opts_init(&o);
	o.isolate = true;
	assert_int_equal(orc_run_kernel(seq, 1, &o, &k), 0);
	assert_non_null(k.before.maps);
	for (const char *p = k.before.maps; *p; p++)
		lines += *p == '\n';
	if (strstr(k.before.maps, "libc") || strstr(k.before.maps, "[heap]") || strstr(k.before.maps, "[vdso]") ||
	    !strstr(k.before.maps, "[stack]") || !strstr(k.before.maps, "100000000000-") || lines > 16)
		fail_msg("unexpected isolated layout:\n%s", k.before.maps);
	/* The break was given back to start_brk. */
	assert_int_equal((uint64_t)k.rec[0].ret, k.start_brk);
	orc_trace_free(&k);
}

/* Placement from mmap_base in an isolated child, and the ordinary calls. */
static void test_isolated_basic(void **state)
{
	static const struct orc_op seq[] = {
		ORC_BRK(0),
		ORC_MMAP(0, PG(4), RW, PA),
		ORC_MMAP(0, PG(512), RW, PA),
		ORC_MMAP(0, PG(3), PROT_READ, SA),
		ORC_WRITE(ORC_REF(1, PG(1)), PG(1) + 7, 0x5a),
		ORC_MPROTECT(ORC_REF(1, 0), PG(1), PROT_READ),
		ORC_READ(ORC_REF(1, 0), PG(3)),
		ORC_BRK(ORC_REF(0, PG(3))),
		ORC_WRITE(ORC_REF(0, 0), 10, 1),
		ORC_MREMAP(ORC_REF(1, 0), PG(4), PG(8), MREMAP_MAYMOVE, 0),
		ORC_MADVISE(ORC_REF(9, 0), PG(8), MADV_DONTNEED),
		ORC_MINCORE(ORC_REF(2, 0), PG(8), ORC_REF(2, PG(100))),
	};
	(void)state;
	run_seq(__func__, seq, ORC_N(seq), true, false, NULL, NULL);
	run_seq("test_isolated_basic_nobody", seq, ORC_N(seq), true, true, NULL, NULL);
}

/*
 * Fork: parent and child write the same private page (copy-on-write in
 * each), both see the shared page; the child exits and the parent's page
 * is its own again.
 */
static void test_fork_actions(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW, PA),                 /* 0 */
		ORC_MMAP(0, PG(2), RW, SA),                 /* 1 */
		ORC_WRITE(ORC_REF(0, 0), PG(2), 0x11),
		ORC_WRITE(ORC_REF(1, 0), 1, 0x22),
		ORC_FORK(),                                 /* 4: child 1 */
		ORC_WRITE(ORC_REF(0, 0), 1, 0x33),          /* parent: copy */
		ORC_SWITCH(1),
		ORC_READ(ORC_REF(0, 0), 2),                 /* child: still 0x11 */
		ORC_WRITE(ORC_REF(0, PG(1)), 1, 0x44),      /* child: copy */
		ORC_WRITE(ORC_REF(1, 0), 1, 0x55),          /* shared: both see it */
		ORC_MMAP(0, PG(1), RW, PA),                 /* child's own region */
		ORC_FORK(),                                 /* 11: grandchild 2 */
		ORC_SWITCH(2),
		ORC_READ(ORC_REF(1, 0), 1),
		ORC_EXIT(0),                                /* back to the first */
		ORC_READ(ORC_REF(1, 0), 1),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_SWITCH(2),                              /* gone: ESRCH */
		ORC_SWITCH(1),
		ORC_EXIT(0),
		ORC_WRITE(ORC_REF(0, PG(1)), 1, 0x66),      /* reused, no copy */
		ORC_MUNMAP(ORC_REF(0, 0), PG(4)),
	};
	(void)state;
	run_seq(__func__, seq, ORC_N(seq), true, false, NULL, NULL);
	run_seq("test_fork_actions_nobody", seq, ORC_N(seq), true, true, NULL, NULL);
	run_seq("test_fork_actions_not_isolated", seq, ORC_N(seq), false, false, NULL, NULL);
}

struct tfile {
	int fd;
	size_t size;
};

/* Content as the kernel side found it: written a page at a time. */
static void tfile_fill(void *ctx)
{
	struct tfile *f = ctx;
	char page[4096];

	assert_int_equal(ftruncate(f->fd, 0), 0);
	for (size_t off = 0; off < f->size; off += sizeof(page)) {
		size_t n = f->size - off < sizeof(page) ? f->size - off : sizeof(page);

		memset(page, 0, sizeof(page));
		page[0] = (char)0xc3;
		snprintf(page + 1, sizeof(page) - 1, "page %zu", off / 4096);
		assert_int_equal(pwrite(f->fd, page, n, (off_t)off), (ssize_t)n);
	}
}

/* A private and a shared mapping of a temporary file; truncation makes SIGBUS. */
static void test_file_truncate(void **state)
{
	char path[] = "/tmp/aspace-test-fuzz-XXXXXX";
	struct tfile f = { .size = PG(5) + 100 };
	(void)state;

	f.fd = mkstemp(path);
	assert_true(f.fd >= 0);
	unlink(path);
	tfile_fill(&f);
	{
		const struct orc_op seq[] = {
			ORC_MMAP_FD(0, PG(8), RW, MAP_SHARED, f.fd, 0),      /* 0 */
			ORC_MMAP_FD(0, PG(4), PROT_READ, MAP_PRIVATE, f.fd, PG(1)),
			ORC_READ(ORC_REF(0, PG(5)), 200),                 /* SIGBUS past the page with EOF */
			ORC_WRITE(ORC_REF(0, 10), 5, 0x41),
			ORC_READ(ORC_REF(1, PG(1)), 16),
			ORC_FTRUNCATE(f.fd, PG(2)),
			ORC_READ(ORC_REF(0, PG(2)), 1),
			ORC_READ(ORC_REF(1, 0), 1),
			ORC_READ(ORC_REF(1, PG(1)), 1),
			ORC_FTRUNCATE(f.fd, PG(5) + 100),
			ORC_READ(ORC_REF(0, PG(3)), 1),
		};
		tfile_fill(&f);
		run_seq(__func__, seq, ORC_N(seq), true, false, tfile_fill, &f);
	}
	close(f.fd);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_isolated_layout),
		cmocka_unit_test(test_isolated_basic),
		cmocka_unit_test(test_fork_actions),
		cmocka_unit_test(test_file_truncate),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
