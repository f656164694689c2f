/*
 * Self-tests of the oracle (tools/oracle): the kernel child's harness takes
 * no page fault and changes no region of its own between ops; orc_compare
 * sees every kind of divergence; references resolve; a sequence that
 * destroys the harness is reported, not hung on.
 */
#include "internal.h"
#include "testlib.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define PG(x) ((uint64_t)(x) << 12)
#define RW (PROT_READ | PROT_WRITE)
#define PA (MAP_PRIVATE | MAP_ANONYMOUS)
#define FREE_AREA 0x200000000000ull

/*
 * smaps text without the lines that depend on page sharing (Pss*, Shared_*,
 * Private_*): the parent's own writes break copy-on-write sharing with the
 * child and move those, whatever the child does. Rss, Anonymous and
 * Referenced move only with the child's own faults. malloc'd.
 */
static char *unshared(const char *smaps, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	const char *p = smaps, *end = smaps + len;

	assert_non_null(out);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		if (strncmp(p, "Pss", 3) != 0 && strncmp(p, "Shared_", 7) != 0 && strncmp(p, "Private_", 8) != 0) {
			memcpy(o, p, n);
			o += n;
		}
		p += n;
	}
	*o = '\0';
	return out;
}

static bool same_unshared(const char *a, size_t alen, const char *b, size_t blen)
{
	char *x = unshared(a, alen), *y = unshared(b, blen);
	bool same = strcmp(x, y) == 0;

	free(x);
	free(y);
	return same;
}

/*
 * Ops that change nothing must leave every smaps entry as before (sharing
 * aside) and count no fault: anything else is the harness's own doing.
 */
static void check_quiet(bool unprivileged)
{
	static const struct orc_op seq[] = {
		ORC_BRK(0),
		ORC_MUNMAP(FREE_AREA, PG(1)),
		ORC_MMAP(0, 0, RW, PA),
		ORC_READ(FREE_AREA, 1),
		ORC_WRITE(FREE_AREA, 1, 0),
		ORC_EXEC(FREE_AREA),
		ORC_SETRLIMIT(RLIMIT_CORE, 0, 0),
		ORC_BRK(0),
	};
	struct orc_opts o;
	struct orc_trace k;

	orc_opts_init(&o);
	o.unprivileged = unprivileged;
	assert_int_equal(orc_run_kernel(seq, ORC_N(seq), &o, &k), 0);
	assert_int_equal(k.nops, ORC_N(seq));
	for (size_t i = 0; i < k.nops; i++) {
		if (k.rec[i].minflt != 0)
			fail_msg("op %zu: the harness took %lld fault(s)", i, (long long)k.rec[i].minflt);
		if (!same_unshared(k.rec[i].smaps, strlen(k.rec[i].smaps), k.before.smaps, strlen(k.before.smaps)))
			fail_msg("op %zu: smaps changed though the op changes nothing", i);
	}
	assert_int_equal(k.rec[3].signo, SIGSEGV);
	assert_int_equal(k.rec[3].code, SEGV_MAPERR);
	assert_true(k.rec[3].fault_addr == FREE_AREA);
	assert_int_equal(k.rec[4].code, SEGV_MAPERR);
	assert_int_equal(k.rec[5].code, SEGV_MAPERR);
	assert_true(k.rec[5].fault_addr == FREE_AREA);
	assert_int_equal(k.rec[2].ret, -EINVAL);
	assert_true(k.rec[0].ret == (int64_t)k.brk);
	orc_trace_free(&k);
}

static void test_kernel_child_quiet_root(void **state)
{
	(void)state;
	check_quiet(false);
}

static void test_kernel_child_quiet_nobody(void **state)
{
	(void)state;
	check_quiet(true);
}

/* Touching fresh memory changes its own entry only, and counts one fault per page. */
static void test_kernel_child_faults_counted(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(8), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(3), 0x11),
		ORC_READ(ORC_REF(0, PG(1)), PG(4)),
		ORC_READ(ORC_REF(0, 0), PG(3)),
	};
	struct orc_trace k;
	struct orc_entry *b, *e;
	size_t nb, ne, changed = 0;

	(void)state;
	assert_int_equal(orc_run_kernel(seq, ORC_N(seq), NULL, &k), 0);
	assert_int_equal(k.rec[1].minflt, 3);
	assert_int_equal(k.rec[2].minflt, 2);
	assert_int_equal(k.rec[3].minflt, 0);
	assert_int_equal(k.rec[2].nbytes, PG(4));
	assert_int_equal(k.rec[2].bytes[0], 0x11);
	assert_int_equal(k.rec[2].bytes[PG(1) + 1 < ORC_BYTES_CAP ? PG(1) + 1 : 0], 0x11);
	assert_int_equal(orc_smaps_split(k.before.smaps, &b, &nb), 0);
	assert_int_equal(orc_smaps_split(k.rec[3].smaps, &e, &ne), 0);
	assert_int_equal(ne, nb + 1);
	for (size_t i = 0; i < ne; i++) {
		bool same = false;

		for (size_t j = 0; j < nb; j++)
			same |= same_unshared(b[j].text, b[j].len, e[i].text, e[i].len);
		if (!same) {
			changed++;
			assert_true(e[i].start == (uint64_t)k.rec[0].ret);
			assert_int_equal(orc_entry_kb(&e[i], "Rss"), 20);
		}
	}
	assert_int_equal(changed, 1);
	free(b);
	free(e);
	orc_trace_free(&k);
}

/* Every field the comparison knows, tampered with one at a time, is seen. */
static void test_compare_detects(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MMAP(0, PG(4), RW, PA),
		ORC_WRITE(ORC_REF(0, 0), PG(2), 3),
		ORC_READ(ORC_REF(0, 0), PG(2)),
		ORC_READ(FREE_AREA, 1),
	};
	struct orc_opts o;
	struct orc_trace k, a;
	struct orc_result r;
	char *s;
	FILE *devnull = fopen("/dev/null", "w");

	(void)state;
	orc_opts_init(&o);
	assert_int_equal(orc_run_kernel(seq, ORC_N(seq), &o, &k), 0);
	assert_int_equal(orc_run_aspace(seq, ORC_N(seq), &o, &k, &a), 0);
	if (orc_compare(seq, ORC_N(seq), &k, &a, &o, stderr, &r) != 0)
		skip(); /* aspace diverges already: test_mmap_basic tells why */

	a.rec[0].ret += PG(1);
	assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 1);
	assert_int_equal(r.fields, ORC_F_RET);
	assert_int_equal(r.first_diverged, 0);
	a.rec[0].ret -= PG(1);

	a.rec[1].minflt++;
	assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 1);
	assert_int_equal(r.fields, ORC_F_MINFLT);
	o.ignore = ORC_F_MINFLT;
	assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 0);
	o.ignore = 0;
	a.rec[1].minflt--;

	a.rec[3].code = SEGV_ACCERR;
	assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 1);
	assert_int_equal(r.fields, ORC_F_FAULT);
	a.rec[3].code = SEGV_MAPERR;

	a.rec[2].hash ^= 1;
	assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 1);
	assert_int_equal(r.fields, ORC_F_BYTES);
	a.rec[2].hash ^= 1;

	/* A maps line: the permissions of the sequence's region. */
	s = strstr(a.rec[2].maps, " rw-p ");
	assert_non_null(s);
	s[2] = '-';
	assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 1);
	assert_true(r.fields & ORC_F_MAPS);
	s[2] = 'w';

	/* An smaps page count of the sequence's own region is compared... */
	{
		char head[32], *e, *rss;

		snprintf(head, sizeof(head), "%08llx-", (unsigned long long)k.rec[0].ret);
		e = strstr(a.rec[2].smaps, head);
		assert_non_null(e);
		rss = strstr(e, "\nRss:");
		assert_non_null(rss);
		rss[1 + 16 + 7] ^= 1; /* a digit of the right-aligned value */
		assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 1);
		assert_int_equal(r.fields, ORC_F_SMAPS);
		o.ignore = ORC_F_SMAPS_PAGES;
		assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 0);
		o.ignore = 0;
		rss[1 + 16 + 7] ^= 1;
	}
	/* ... a stand-in's is not. */
	{
		char *rss = strstr(a.rec[2].smaps, "\nRss:");

		rss[1 + 16 + 7] ^= 1;
		assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 0);
		rss[1 + 16 + 7] ^= 1;
	}

	a.rec[1].note = strdup("broken invariant");
	assert_int_equal(orc_compare(seq, ORC_N(seq), &k, &a, &o, devnull, &r), 1);
	assert_int_equal(r.fields, ORC_F_CHECK);

	fclose(devnull);
	orc_trace_free(&k);
	orc_trace_free(&a);
}

static void test_refs_and_format(void **state)
{
	static const struct orc_op ops[] = {
		ORC_MMAP(0, PG(1), RW, PA | MAP_FIXED_NOREPLACE),
		ORC_MUNMAP(ORC_REF(0, -PG(2)), ORC_REF(0, 0x10)),
		ORC_MPROTECT(ORC_REF(1, 0), 4096, PROT_NONE),
	};
	const int64_t results[] = { 0x7ffff0000000, -22 };
	uint64_t a[6];
	char buf[256], msg[128];

	(void)state;
	orc_resolve_args(&ops[1], results, 2, a);
	assert_true(a[0] == 0x7ffff0000000 - PG(2));
	assert_true(a[1] == 0x7ffff0000010);
	orc_resolve_args(&ops[2], results, 2, a);
	assert_true(a[0] == (uint64_t)-22);
	orc_op_format(&ops[0], buf, sizeof(buf));
	assert_string_equal(buf, "mmap(0, 0x1000, PROT_READ|PROT_WRITE, "
				 "MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0)");
	orc_op_format(&ops[1], buf, sizeof(buf));
	assert_string_equal(buf, "munmap($0-0x2000, $0+0x10)");
	orc_op_format(&ops[2], buf, sizeof(buf));
	assert_string_equal(buf, "mprotect($1, 0x1000, PROT_NONE)");
	assert_int_equal(orc_validate(ops, ORC_N(ops), msg, sizeof(msg)), 0);
	{
		const struct orc_op bad[] = { ORC_BRK(ORC_REF(0, 0)) };

		assert_int_equal(orc_validate(bad, 1, msg, sizeof(msg)), -1);
	}
}

/* Unmapping the harness's own text and stack kills the child; that is reported promptly. */
static void test_harness_destroyed(void **state)
{
	static const struct orc_op seq[] = {
		ORC_MUNMAP(0x500000000000ull, 0x7ffffffff000ull - 0x500000000000ull),
		ORC_BRK(0),
	};
	struct orc_trace k;

	(void)state;
	assert_int_equal(orc_run_kernel(seq, ORC_N(seq), NULL, &k), -1);
	assert_non_null(strstr(k.error, "signal"));
	assert_true(k.nops <= 1);
	orc_trace_free(&k);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_child_quiet_root),
		cmocka_unit_test(test_kernel_child_quiet_nobody),
		cmocka_unit_test(test_kernel_child_faults_counted),
		cmocka_unit_test(test_compare_detects),
		cmocka_unit_test(test_refs_and_format),
		cmocka_unit_test(test_harness_destroyed),
	};

	orc_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
