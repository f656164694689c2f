/*
 * aspace bench: the library's benchmarks, through the public API only —
 * demand-zero and copy-on-write faults, TLB hits, as_read, mmap+munmap
 * pairs in a small and a huge space (the region tree keeps them O(log n):
 * the project requires the ratio to stay within 2), and fork+exit of
 * spaces with much memory touched. `make bench` runs it in a release
 * build; --quick shrinks every size so that a test can run it in seconds.
 *
 * Every machine is created with prefault = 1, so that the figures measure
 * aspace and not the host's first touch of the simulated RAM. Every call
 * is checked, and every machine must get all its frames back at the end:
 * a failure stops the run with exit status 1.
 */
#include "cmd.h"

#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

/* The sizes of one run. */
struct bench_sizes {
	uint64_t fault_pages;                /* pages written by each fault benchmark */
	uint64_t fault_ram;                  /* RAM of the machine they run on */
	uint64_t tlb_iters;                  /* TLB hits measured */
	uint64_t read_iters;                 /* as_read calls measured */
	uint64_t regions_small, regions_big; /* regions in the spaces of the two pair benchmarks */
	uint64_t pair_iters;                 /* mmap+munmap pairs measured in each */
	uint64_t pair_ram;
	uint64_t fork_small, fork_big;       /* bytes touched before fork+exit */
	uint64_t fork_headroom;              /* RAM beyond that: the tables of parent and child */
	int fork_iters;
};

static const struct bench_sizes full_sizes = {
	.fault_pages = 65536, /* 256 MiB */
	.fault_ram = 2ull << 30,
	.tlb_iters = 50000000,
	.read_iters = 5000000,
	.regions_small = 1000,
	.regions_big = 1000000,
	.pair_iters = 200000,
	.pair_ram = 256ull << 20,
	.fork_small = 256ull << 20,
	.fork_big = 1ull << 30,
	.fork_headroom = 512ull << 20,
	.fork_iters = 5,
};

static const struct bench_sizes quick_sizes = {
	.fault_pages = 1024, /* 4 MiB */
	.fault_ram = 64ull << 20,
	.tlb_iters = 1000000,
	.read_iters = 100000,
	.regions_small = 100,
	.regions_big = 10000,
	.pair_iters = 500,
	.pair_ram = 64ull << 20,
	.fork_small = 8ull << 20,
	.fork_big = 32ull << 20,
	.fork_headroom = 64ull << 20,
	.fork_iters = 2,
};

#define REGION_RATIO_LIMIT 2.0 /* pair cost at 1,000,000 regions over 1,000: the requirement */
#define NPHASES 7              /* progress_phase calls in one run */
#define LABEL_WIDTH 44

/* One run: its sizes, where results go, the first failure. */
struct bench {
	const struct bench_sizes *sz;
	bool quick;
	json_t *results;  /* --json: measurements by name; NULL when printing text */
	struct progress pg;
	int phase;
	char error[256];  /* the first failure; empty while none */
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Record the first failure; -1, for `return fail(...)`. */
__attribute__((format(printf, 2, 3))) static int fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (!b->error[0]) {
		va_start(ap, fmt);
		vsnprintf(b->error, sizeof(b->error), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void phase(struct bench *b, const char *label)
{
	progress_phase(&b->pg, (uint64_t)++b->phase, label);
}

/* "1,000,000" */
static const char *thousands(uint64_t v, char *buf, size_t len)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, v), o = 0;

	for (int i = 0; i < n && (size_t)o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* "256 MiB", "1 GiB" */
static const char *size_words(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= (1ull << 30) && !(bytes & ((1ull << 30) - 1)))
		snprintf(buf, len, "%" PRIu64 " GiB", bytes >> 30);
	else
		snprintf(buf, len, "%" PRIu64 " MiB", bytes >> 20);
	return buf;
}

/* A per-operation time: a line of the table, or results.NAME = { label, ns, count }. */
static void op_result(struct bench *b, const char *name, const char *label, double ns, uint64_t count,
		      int decimals)
{
	if (b->results) {
		json_object_set_new(b->results, name,
				    json_pack("{s:s, s:f, s:I}", "label", label, "ns", ns, "count", (json_int_t)count));
		return;
	}
	progress_clear(&b->pg);
	printf("%-*s %10.*f ns\n", LABEL_WIDTH, label, decimals, ns);
	fflush(stdout);
}

/* A machine for one benchmark: the library's defaults, this RAM, prefaulted. */
static struct as_machine *machine(struct bench *b, uint64_t ram, uint64_t max_map_count)
{
	struct as_machine_config cfg;
	struct as_machine *m;
	int rc;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = ram;
	cfg.max_map_count = max_map_count;
	cfg.zero_page = 1;
	cfg.prefault = 1;
	rc = as_machine_new(&cfg, &m);
	if (rc) {
		fail(b, "as_machine_new (%" PRIu64 " MiB of RAM): %s", ram >> 20, strerror(-rc));
		return NULL;
	}
	return m;
}

/* Free a machine once every space on it is gone: all its frames must be back. 0 or -1. */
static int machine_done(struct bench *b, struct as_machine *m)
{
	struct as_machine_stats st;
	int rc = 0;

	if (!m)
		return 0;
	as_machine_drain(m);
	as_machine_get_stats(m, &st);
	if (st.free_frames + st.reserved_frames != st.total_frames)
		rc = fail(b, "frames leaked: %" PRIu64 " of %" PRIu64 " not free at the end",
			  st.total_frames - st.free_frames - st.reserved_frames, st.total_frames);
	if (as_machine_check(m, stderr) != 0)
		rc = fail(b, "the machine's invariant checker failed (above)");
	as_machine_free(m);
	return rc;
}

static long map(struct as_mm *mm, uint64_t addr, uint64_t len, int prot, int flags)
{
	return as_syscall(mm, SYS_mmap, addr, len, (uint64_t)prot, (uint64_t)flags, (uint64_t)-1, 0);
}

/* Write one byte to every page of [a, a + pages * 4 KiB); the time per page in ns, or -1. */
static double write_pages(struct bench *b, struct as_mm *mm, uint64_t a, uint64_t pages, char byte)
{
	double t0 = now_ns();

	for (uint64_t i = 0; i < pages; i++) {
		int rc = as_write(mm, a + i * 4096, &byte, 1, NULL);

		if (rc)
			return fail(b, "as_write at %#" PRIx64 ": %s", a + i * 4096, strerror(-rc));
	}
	return (now_ns() - t0) / (double)pages;
}

/* Faults (demand-zero, COW copy, COW reuse), then TLB hits and as_read on the same space. */
static int bench_faults(struct bench *b)
{
	const uint64_t pages = b->sz->fault_pages;
	struct as_machine *m;
	struct as_mm *mm = NULL, *child = NULL;
	struct as_tlb *tlb = NULL;
	volatile uint64_t sink = 0;
	double t0, t;
	long a;
	int rc, ret = -1;

	phase(b, "demand-zero write faults");
	m = machine(b, b->sz->fault_ram, 65530);
	if (!m)
		return -1;
	rc = as_mm_new(m, &mm);
	if (rc) {
		fail(b, "as_mm_new: %s", strerror(-rc));
		goto out;
	}
	a = map(mm, 0, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	if (a < 0) {
		fail(b, "mmap of %" PRIu64 " pages: %s", pages, strerror((int)-a));
		goto out;
	}
	if ((t = write_pages(b, mm, (uint64_t)a, pages, 'x')) < 0)
		goto out;
	op_result(b, "fault_demand_zero", "demand-zero write fault (as_write, 1 byte)", t, pages, 1);

	phase(b, "copy-on-write faults after fork");
	rc = as_mm_fork(mm, &child);
	if (rc) {
		fail(b, "as_mm_fork: %s", strerror(-rc));
		goto out;
	}
	if ((t = write_pages(b, child, (uint64_t)a, pages, 'y')) < 0)
		goto out;
	op_result(b, "fault_cow_copy", "COW copy fault after fork (as_write)", t, pages, 1);
	if ((t = write_pages(b, mm, (uint64_t)a, pages, 'z')) < 0)
		goto out;
	op_result(b, "fault_cow_reuse", "COW reuse fault (sole owner, as_write)", t, pages, 1);
	as_mm_put(child);
	child = NULL;

	phase(b, "TLB hits and as_read");
	rc = as_tlb_new(mm, &tlb);
	if (rc) {
		fail(b, "as_tlb_new: %s", strerror(-rc));
		goto out;
	}
	{
		const uint64_t n = b->sz->tlb_iters, nr = b->sz->read_iters;
		void *p;

		for (uint64_t i = 0; i < 64 && i < pages; i++) {
			rc = as_tlb_translate(tlb, (uint64_t)a + i * 4096, PROT_READ, &p, NULL);
			if (rc) {
				fail(b, "as_tlb_translate: %s", strerror(-rc));
				goto out;
			}
		}
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++) {
			if (as_tlb_translate(tlb, (uint64_t)a + (i & 63) * 4096 + 8, PROT_READ, &p, NULL)) {
				fail(b, "as_tlb_translate failed on a hit");
				goto out;
			}
			sink += *(volatile uint64_t *)p;
		}
		t = (now_ns() - t0) / (double)n;
		op_result(b, "tlb_hit_read", "TLB hit + 8-byte read (as_tlb_translate)", t, n, 2);
		as_tlb_free(tlb);
		tlb = NULL;
		t0 = now_ns();
		for (uint64_t i = 0; i < nr; i++) {
			uint64_t v;

			rc = as_read(mm, (uint64_t)a + (i & 63) * 4096 + 8, &v, 8, NULL);
			if (rc) {
				fail(b, "as_read: %s", strerror(-rc));
				goto out;
			}
			sink += v;
		}
		t = (now_ns() - t0) / (double)nr;
		op_result(b, "as_read", "8-byte read through as_read (page walk)", t, nr, 2);
	}
	ret = 0;
out:
	if (tlb)
		as_tlb_free(tlb);
	if (child)
		as_mm_put(child);
	if (mm)
		as_mm_put(mm);
	(void)sink;
	return machine_done(b, m) ? -1 : ret;
}

/* The time of one mmap+munmap pair in a space holding `regions` regions, in *ns. 0 or -1. */
static int pair_cost(struct bench *b, uint64_t regions, double *ns)
{
	const uint64_t iters = b->sz->pair_iters;
	struct as_machine *m;
	struct as_mm *mm = NULL;
	double t0;
	int rc, ret = -1;

	m = machine(b, b->sz->pair_ram, regions + 100);
	if (!m)
		return -1;
	rc = as_mm_new(m, &mm);
	if (rc) {
		fail(b, "as_mm_new: %s", strerror(-rc));
		goto out;
	}
	/* Alternate protections so that neighbours don't merge. */
	for (uint64_t i = 0; i < regions; i++) {
		long a = map(mm, 0x100000000ull + i * 8192, 4096, (i & 1) ? PROT_READ : PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);

		if (a < 0) {
			fail(b, "mmap of region %" PRIu64 " of %" PRIu64 ": %s", i + 1, regions, strerror((int)-a));
			goto out;
		}
	}
	t0 = now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		long a = map(mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

		if (a < 0 || as_syscall(mm, SYS_munmap, (uint64_t)a, 4096, 0, 0, 0, 0) != 0) {
			fail(b, "mmap+munmap pair %" PRIu64 " failed (%s)", i + 1, a < 0 ? strerror((int)-a) : "munmap");
			goto out;
		}
	}
	*ns = (now_ns() - t0) / (double)iters;
	ret = 0;
out:
	if (mm)
		as_mm_put(mm);
	return machine_done(b, m) ? -1 : ret;
}

static int bench_region_scaling(struct bench *b)
{
	const uint64_t small_n = b->sz->regions_small, big_n = b->sz->regions_big;
	char label_small[64], label_big[64], num[32];
	double small, big, ratio;

	snprintf(label_small, sizeof(label_small), "mmap+munmap pair, %s regions", thousands(small_n, num, sizeof(num)));
	snprintf(label_big, sizeof(label_big), "mmap+munmap pair, %s regions", thousands(big_n, num, sizeof(num)));
	phase(b, label_small);
	if (pair_cost(b, small_n, &small))
		return -1;
	phase(b, label_big);
	if (pair_cost(b, big_n, &big))
		return -1;
	ratio = big / small;
	if (b->results) {
		json_t *o = json_pack("{s:s, s:f, s:I, s:I}", "label", label_small, "ns", small, "count",
				      (json_int_t)b->sz->pair_iters, "regions", (json_int_t)small_n);

		json_object_set_new(b->results, "mmap_munmap_small", o);
		o = json_pack("{s:s, s:f, s:I, s:I}", "label", label_big, "ns", big, "count",
			      (json_int_t)b->sz->pair_iters, "regions", (json_int_t)big_n);
		json_object_set_new(b->results, "mmap_munmap_big", o);
		o = json_pack("{s:s, s:f, s:I, s:I}", "label", "ratio", "ratio", ratio, "regions_small",
			      (json_int_t)small_n, "regions_big", (json_int_t)big_n);
		if (!b->quick) {
			/* The requirement is stated for 1,000 and 1,000,000 regions only. */
			json_object_set_new(o, "limit", json_real(REGION_RATIO_LIMIT));
			json_object_set_new(o, "within_limit", json_boolean(ratio <= REGION_RATIO_LIMIT));
		}
		json_object_set_new(b->results, "mmap_munmap_ratio", o);
		return 0;
	}
	progress_clear(&b->pg);
	printf("%-*s %10.1f ns\n", LABEL_WIDTH, label_small, small);
	printf("%-*s %10.1f ns\n", LABEL_WIDTH, label_big, big);
	if (b->quick)
		printf("%-*s %10.2f\n", LABEL_WIDTH, "ratio", ratio);
	else
		printf("%-*s %10.2f (required <= %g%s)\n", LABEL_WIDTH, "ratio", ratio, REGION_RATIO_LIMIT,
		       ratio <= REGION_RATIO_LIMIT ? "" : ": NOT MET");
	fflush(stdout);
	return 0;
}

/* fork+exit of a space with `bytes` touched (MAP_POPULATE). */
static int bench_fork_exit(struct bench *b, const char *name, uint64_t bytes)
{
	const int iters = b->sz->fork_iters;
	const uint64_t pages = bytes / 4096;
	struct as_machine *m;
	struct as_mm *mm = NULL, *child;
	struct as_mm_counters c;
	char size[32], label[64];
	double t0, t;
	long a;
	int rc, ret = -1;

	snprintf(label, sizeof(label), "fork+exit, %s touched", size_words(bytes, size, sizeof(size)));
	phase(b, label);
	m = machine(b, bytes + b->sz->fork_headroom, 65530);
	if (!m)
		return -1;
	rc = as_mm_new(m, &mm);
	if (rc) {
		fail(b, "as_mm_new: %s", strerror(-rc));
		goto out;
	}
	a = map(mm, 0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE);
	if (a < 0) {
		fail(b, "mmap of %s: %s", size, strerror((int)-a));
		goto out;
	}
	as_mm_get_counters(mm, &c);
	if (c.rss_anon < pages) {
		fail(b, "MAP_POPULATE touched %" PRIu64 " of %" PRIu64 " pages", c.rss_anon, pages);
		goto out;
	}
	t0 = now_ns();
	for (int i = 0; i < iters; i++) {
		rc = as_mm_fork(mm, &child);
		if (rc) {
			fail(b, "as_mm_fork: %s", strerror(-rc));
			goto out;
		}
		as_mm_put(child);
	}
	t = (now_ns() - t0) / iters;
	if (b->results) {
		json_object_set_new(b->results, name,
				    json_pack("{s:s, s:f, s:f, s:I, s:I}", "label", label, "ms", t / 1e6,
					      "ns_per_page", t / (double)pages, "bytes", (json_int_t)bytes, "count",
					      (json_int_t)iters));
	} else {
		progress_clear(&b->pg);
		printf("%-*s %10.2f ms (%.1f ns/page)\n", LABEL_WIDTH, label, t / 1e6, t / (double)pages);
		fflush(stdout);
	}
	ret = 0;
out:
	if (mm)
		as_mm_put(mm);
	return machine_done(b, m) ? -1 : ret;
}

/* How this binary (and so the library it links) was built. */
#ifdef __OPTIMIZE__
#define BUILD_OPTIMIZED true
#else
#define BUILD_OPTIMIZED false
#endif
#ifdef ASPACE_DEBUG
#define BUILD_VALIDATORS true
#else
#define BUILD_VALIDATORS false
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BUILD_SANITIZED true
#else
#define BUILD_SANITIZED false
#endif
#define BUILD_REPRESENTATIVE (BUILD_OPTIMIZED && !BUILD_VALIDATORS && !BUILD_SANITIZED)

static void bench_usage(FILE *out)
{
	fprintf(out, "usage: aspace bench [--json] [--quick]\n\n"
		     "The library's benchmarks, through its public API: demand-zero and\n"
		     "copy-on-write faults, TLB hits, as_read, an mmap+munmap pair in a space\n"
		     "of 1,000 and of 1,000,000 regions (the ratio must stay within 2), and\n"
		     "fork+exit with 256 MiB and 1 GiB touched. Machines are prefaulted.\n"
		     "`make bench` runs it in a release build; in a debug build (validators\n"
		     "after every change) the figures say little, and the full sizes take long.\n\n"
		     "options:\n"
		     "      --quick   small sizes (seconds): 1,024 pages, 100 and 10,000 regions,\n"
		     "                8 and 32 MiB touched\n"
		     "      --json    one JSON document (format aspace-bench/1) on standard output\n"
		     "  -h, --help    this text\n\n"
		     "exit status: 0, or 1 when a call failed or a machine did not get all its\n"
		     "frames back (timings never fail the command).\n");
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .sz = &full_sizes };
	bool json = false;
	json_t *doc = NULL;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'q':
			b.quick = true;
			b.sz = &quick_sizes;
			break;
		case 'h':
			bench_usage(stdout);
			return EXIT_OK;
		default:
			return tool_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return tool_usage_error("bench", "unexpected argument '%s'", argv[optind]);

	if (json) {
		doc = json_pack("{s:s, s:s, s:b, s:{s:b, s:b, s:b, s:b}}", "format", "aspace-bench/1", "version",
				as_version(), "quick", b.quick, "build", "optimized", BUILD_OPTIMIZED, "validators",
				BUILD_VALIDATORS, "sanitized", BUILD_SANITIZED, "representative",
				BUILD_REPRESENTATIVE);
		b.results = json_object();
		json_object_set(doc, "results", b.results);
	} else {
		printf("aspace %s benchmarks (%s sizes; %s build%s)\n", as_version(), b.quick ? "quick" : "full",
		       BUILD_OPTIMIZED ? "optimized" : "unoptimized",
		       BUILD_VALIDATORS ? ", validators after every change" : "");
		if (!BUILD_REPRESENTATIVE)
			printf("note: not a release build, so these figures say little; `make bench` builds one\n");
		printf("\n");
		fflush(stdout);
	}
	progress_begin(&b.pg, "aspace: bench", NPHASES, true);
	if (bench_faults(&b) == 0 && bench_region_scaling(&b) == 0 &&
	    bench_fork_exit(&b, "fork_exit_small", b.sz->fork_small) == 0)
		bench_fork_exit(&b, "fork_exit_big", b.sz->fork_big);
	progress_end(&b.pg);

	if (json) {
		json_decref(b.results);
		json_object_set_new(doc, "status", json_integer(b.error[0] ? EXIT_CHECK : EXIT_OK));
		if (b.error[0])
			json_object_set_new(doc, "error", json_string(b.error));
		/* Six significant digits: timings carry no more. */
		if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) ||
		    fputc('\n', stdout) == EOF || fflush(stdout)) {
			json_decref(doc);
			return EXIT_CHECK;
		}
		json_decref(doc);
	}
	if (b.error[0]) {
		fprintf(stderr, "aspace bench: %s\n", b.error);
		return EXIT_CHECK;
	}
	return EXIT_OK;
}
