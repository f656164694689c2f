/*
 * The LRU flags a host page-cache page already carries when aspace binds it
 * (docs/linux-semantics.md §12.3, docs/FILES.md): the kernel child and
 * aspace use the host file's page cache, so a page whose entries are old (a
 * forked child's) shows Referenced: only if its folio has PG_referenced, set
 * by whoever touched the page before the program did.
 *
 * The fixture is regress.h's, but the files are read through the host's
 * page cache after each rewrite (a fresh descriptor per read, so each read
 * is one folio_mark_accessed), before the kernel side and again before the
 * aspace side: both start from folios touched `touches` times.
 */
#include "regress.h"

struct touched {
	struct rg_files f;
	int touches;
};

static void restore_and_touch(void *ctx)
{
	struct touched *t = ctx;
	char b;

	rg_restore(&t->f);
	for (int i = 0; i < RG_NFILES; i++)
		for (uint64_t off = 0; off < t->f.size[i]; off += 4096)
			for (int n = 0; n < t->touches; n++) {
				int fd = open(t->f.path[i], O_RDONLY);

				assert_true(fd >= 0);
				assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
				close(fd);
			}
}

/* rg_run with touched files (regions map RG_FD(i) only). */
static void run_touched(const char *name, const struct orc_op *ops, size_t n, int touches)
{
	struct orc_op *seq = calloc(n, sizeof(*seq));
	struct touched t = { .touches = touches };
	struct orc_opts o;
	struct orc_result r;
	int rc;

	assert_non_null(seq);
	memcpy(seq, ops, n * sizeof(*seq));
	rg_files_open(&t.f);
	for (size_t i = 0; i < n; i++)
		if (seq[i].kind == ORC_OP_MMAP)
			seq[i].a[4] = rg_fd(&t.f, seq[i].a[4]);
	orc_opts_init(&o);
	o.name = name;
	o.isolate = true;
	o.ram_bytes = 1ull << 30;
	o.between = restore_and_touch;
	o.between_ctx = &t;
	/* orc_check runs a divergence in noisy fields twice more (o.reruns), restoring through o.between. */
	restore_and_touch(&t);
	rc = orc_check(seq, n, &o, &r);
	rg_files_close(&t.f);
	free(seq);
	if (rc < 0)
		fail_msg("%s: the oracle could not run: %s", name, r.error);
	if (rc != 0)
		fail_msg("%s: %d divergence(s) between the kernel and aspace, first at op %d", name, rc,
			 r.first_diverged);
}

/*
 * A private file region with an anonymous object (page 1 written), page 0
 * read, fork: the child's entry for page 0 is old, so its Referenced is the
 * folio's flag. With `exit`, the parent's exit first zaps its young entry
 * (one more touch).
 */
static const struct orc_op child_sees[] = {
	ORC_MMAP_FD(0, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x1000ull),
	ORC_READ(ORC_REF(0, 0), 1),
	ORC_WRITE(ORC_REF(0, 0x1000), 1, 0x5aull),
	ORC_FORK(),
	ORC_SWITCH(1),
};
static const struct orc_op child_after_exit[] = {
	ORC_MMAP_FD(0, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x1000ull),
	ORC_READ(ORC_REF(0, 0), 1),
	ORC_WRITE(ORC_REF(0, 0x1000), 1, 0x5aull),
	ORC_FORK(),
	ORC_EXIT(1),
};

/* Fresh folios (the fuzzer's case): the child sees nothing, then the parent's exit references it. */
static void test_fresh_folio(void **state)
{
	(void)state;
	run_touched(__func__, child_sees, ORC_N(child_sees), 0);
	run_touched("test_fresh_folio_exit", child_after_exit, ORC_N(child_after_exit), 0);
}

/* Read once before: PG_referenced, the child shows it; the parent's exit activates it (0 kB). */
static void test_referenced_folio(void **state)
{
	(void)state;
	run_touched(__func__, child_sees, ORC_N(child_sees), 1);
	run_touched("test_referenced_folio_exit", child_after_exit, ORC_N(child_after_exit), 1);
}

/*
 * Read twice before: active, unreferenced; the parent's exit references it
 * again, and with a populate before it (two touches) it stays referenced,
 * where an inactive folio would have been activated and unreferenced.
 */
static void test_active_folio(void **state)
{
	static const struct orc_op touch_twice[] = {
		ORC_MMAP_FD(0, 0x2000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(0), 0x1000ull),
		ORC_READ(ORC_REF(0, 0), 1),
		ORC_MADVISE(ORC_REF(0, 0), 0x1000ull, MADV_POPULATE_READ),
		ORC_WRITE(ORC_REF(0, 0x1000), 1, 0x5aull),
		ORC_FORK(),
		ORC_EXIT(1),
	};
	(void)state;
	run_touched(__func__, child_sees, ORC_N(child_sees), 2);
	run_touched("test_active_folio_exit", child_after_exit, ORC_N(child_after_exit), 2);
	run_touched("test_active_folio_touch_twice", touch_twice, ORC_N(touch_twice), 2);
	run_touched("test_inactive_folio_touch_twice", touch_twice, ORC_N(touch_twice), 0);
}

/* Fault-around binds the neighbours too: each keeps its own flags (the window's pages are all touched). */
static void test_fault_around_neighbours(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP_FD(0, 0x10000ull, PROT_READ|PROT_WRITE, MAP_PRIVATE, RG_FD(1), 0),
		ORC_READ(ORC_REF(0, 0x3000), 1),
		ORC_WRITE(ORC_REF(0, 0xf000), 1, 0x5aull),
		ORC_FORK(),
		ORC_SWITCH(1),
	};
	(void)state;
	run_touched(__func__, seq, ORC_N(seq), 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_folio),
		cmocka_unit_test(test_referenced_folio),
		cmocka_unit_test(test_active_folio),
		cmocka_unit_test(test_fault_around_neighbours),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
