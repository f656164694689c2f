/*
 * aspace diff: the differential fuzzer (docs/DIFF.md). Sequences of random
 * but meaningful memory operations run on the host kernel (an isolated
 * forked child, randomization and THP off, raw system calls) and on
 * aspace from the same starting state; everything a process can observe
 * is compared after every op (tools/oracle). A divergence is shrunk to a
 * minimal sequence and printed as an `aspace run` script that reproduces it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd.h"

#include "fuzz.h"
#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void diff_usage(FILE *out)
{
	fprintf(out,
		"usage: aspace diff [--seed S] [--ops N] [--time SECONDS] [--unprivileged]\n"
		"                   [--without FEATURES] [--save DIR] [--sequence I] [--verbose]\n\n"
		"Differential fuzzing against the running kernel: random sequences of mmap (every\n"
		"kind), munmap, mprotect, mremap, madvise, the mlock family, msync, mincore, brk,\n"
		"reads, writes and instruction fetches, fork with actions in parent and child,\n"
		"file mappings of temporary files and shared anonymous memory, each run on the\n"
		"host kernel (in an isolated child) and on aspace, compared after every op:\n"
		"results and errno, faults, minor faults, maps, smaps, mincore, bytes read.\n"
		"A divergence is shrunk to a minimal sequence, printed as an `aspace run` script.\n\n"
		"options:\n"
		"      --seed S         the campaign's seed (default 1); sequence i has its own\n"
		"      --ops N          run sequences until N ops have run (default 2000)\n"
		"      --time SECONDS   stop after this long (whichever comes first)\n"
		"      --unprivileged   the kernel side runs as uid 65534, aspace without capabilities\n"
		"      --without LIST   leave features out of the sequences (comma-separated):\n"
		"                       hugetlb, droppable, map-sync, pageout, collapse, fork, files\n"
		"      --save DIR       also write each reproducer to DIR/diff-SEED-K.aspace\n"
		"      --sequence I     run only sequence I of the campaign (with its report)\n"
		"  -v, --verbose        print every sequence's ops and both sides' results\n"
		"  -h, --help           this text\n\n"
		"The last line reads `diff: N ops, K divergences`.\n"
		"exit status: 0 no divergence, 1 a divergence (or a sequence that could not be\n"
		"checked), 2 a usage error\n");
}

struct campaign {
	struct fz_env env;
	uint64_t seed;
	const char *save;
	bool verbose;
	uint64_t ops_run;
	uint64_t by_kind[ORC_OP_NR];
	int divergences, harness_errors, reported;
	int noisy;                   /* divergences that a re-run did not show */
	struct { struct fz_sig sig; int first; } seen[256];
	int nseen;
};

/* The --without argument as given (for the header line). */
static const char *argv_without(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--without=", 10))
			return argv[i] + 10;
		if (!strcmp(argv[i], "--without") && i + 1 < argc)
			return argv[i + 1];
	}
	return "?";
}

static uint64_t seq_seed(uint64_t seed, uint64_t i)
{
	uint64_t s = seed ^ (i * 0xd1b54a32d192ed03ull);

	return fz_mix(&s);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *field_names(uint32_t f, char *buf, size_t len)
{
	static const char *const names[] = { "return value", "fault", "minor faults", "maps", "smaps",
					     "mincore vector", "bytes read", "invariant check" };

	buf[0] = '\0';
	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "", names[i]);
	if (!buf[0])
		snprintf(buf, len, "setup");
	return buf;
}

static void print_ops(FILE *out, const struct orc_op *ops, size_t n)
{
	char d[256];

	for (size_t i = 0; i < n; i++) {
		orc_op_format(&ops[i], d, sizeof(d));
		fprintf(out, "    %3zu %s\n", i, d);
	}
}

/* Shrink, write the reproducer, check it. */
static void report(struct campaign *c, uint64_t seq, struct orc_op *ops, size_t n, const struct fz_sig *sig)
{
	char fields[128], title[4096], *desc = NULL, *script = NULL;
	size_t desc_len = 0, script_len = 0, n0 = n;
	struct fz_run r;
	int runs, at, line = 0, status;
	FILE *f;

	runs = fz_shrink(&c->env, ops, &n, sig, 60000);
	/* The minimal sequence once more, with the oracle's description. */
	f = open_memstream(&desc, &desc_len);
	fz_run(&c->env, ops, n, &r, f);
	if (r.res.error[0])
		fprintf(f, "%s\n", r.res.error);
	fclose(f);
	if (!fz_divergence(&c->env, &r, ops, n, &(struct fz_sig){ 0 }, &at)) {
		printf("  (the shrunk sequence no longer diverges: the divergence is not deterministic)\n");
		print_ops(stdout, ops, n);
	}
	snprintf(title, sizeof(title),
		 "aspace diff --seed %" PRIu64 "%s: divergence %d, in sequence %" PRIu64 " (seed %#" PRIx64
		 "), shrunk from %zu ops to %zu in %d runs.\n"
		 "It shows: %s. The oracle's report of the minimal sequence (-kernel +aspace):\n%s"
		 "Run it with `aspace run FILE`: it exits 1 while aspace diverges, 0 once it is fixed.",
		 c->seed, c->env.opts.unprivileged ? " --unprivileged" : "", c->divergences, seq,
		 seq_seed(c->seed, seq), n0, n, runs, field_names(sig->fields, fields, sizeof(fields)),
		 desc ? desc : "");
	f = open_memstream(&script, &script_len);
	fz_repro_write(&c->env, ops, n, &r, title, f);
	fclose(f);
	status = fz_repro_check(script, script_len, &line);
	printf("--- 8< --- reproducer %d (%zu ops)\n%s--- >8 ---\n", c->divergences, n, script);
	printf("  as a side-by-side test (tests/diff/regress.h):\n");
	fz_repro_c(&c->env, ops, n, stdout);
	if (status == 1)
		printf("  the reproducer shows it: `aspace run` fails at line %d\n", line);
	else if (status >= 128)
		printf("  the reproducer makes aspace crash (signal %d)\n", status - 128);
	else
		printf("  the reproducer does NOT show it (aspace run exits %d%s%d): see the oracle's report above\n",
		       status, line ? ", first failure at line " : "", line);
	if (c->save) {
		char path[1024];
		FILE *o;

		snprintf(path, sizeof(path), "%s/diff-%" PRIu64 "-%d.aspace", c->save, c->seed, c->divergences);
		o = fopen(path, "w");
		if (o) {
			fwrite(script, 1, script_len, o);
			fclose(o);
			printf("  saved as %s\n", path);
		} else {
			fprintf(stderr, "aspace diff: %s: %s\n", path, strerror(errno));
		}
	}
	fflush(stdout);
	fz_run_free(&r);
	free(desc);
	free(script);
}

/*
 * Some of what the kernel shows is not a function of the sequence alone:
 * the per-CPU LRU batches (MADV_FREE'd pages become LazyFree when the batch
 * drains) are drained by any task that runs on the child's CPU and calls
 * lru_add_drain, and by lru_add_drain_all from anywhere. A divergence that
 * comes from such a drain does not come back when the same sequence runs
 * again; one that comes from aspace does. Run it up to NOISE_RERUNS more
 * times: true when the kernel and aspace agreed on one of them.
 */
#define NOISE_RERUNS 2

static bool matches_on_rerun(struct campaign *c, const struct orc_op *ops, size_t n)
{
	for (int k = 0; k < NOISE_RERUNS; k++) {
		struct fz_run r;
		struct fz_sig sig;
		int at;
		bool diverged;

		fz_run(&c->env, ops, n, &r, NULL);
		diverged = fz_divergence(&c->env, &r, ops, n, &sig, &at);
		fz_run_free(&r);
		if (!diverged)
			return true;
	}
	return false;
}

struct generate_ctx {
	struct fz_env *env;
	uint64_t seed;
	struct orc_op *ops;
	size_t n;
};

static void generate(void *ctx)
{
	struct generate_ctx *g = ctx;

	fz_generate(g->env, g->seed, g->ops, g->n);
}

/* Run sequence i of the campaign. */
static void one_sequence(struct campaign *c, uint64_t i, bool always_report)
{
	struct orc_op ops[ORC_MAX_OPS];
	uint64_t s = seq_seed(c->seed, i);
	size_t n = FZ_MIN_LEN + (size_t)(fz_mix(&(uint64_t){ s ^ 0x5555 }) % (FZ_MAX_LEN - FZ_MIN_LEN + 1));
	struct fz_sig sig;
	struct fz_run r;
	char fields[128], d[256];
	int at;

	/* The generator runs its own model space: a panic there is a divergence too. */
	if (!fz_guarded(generate, &(struct generate_ctx){ &c->env, s, ops, n }, d, sizeof(d))) {
		c->divergences++;
		printf("divergence %d: sequence %" PRIu64 " (seed %#" PRIx64 "): the library panicked while the "
		       "generator's model ran it: %s\n",
		       c->divergences, i, s, d);
		return;
	}
	if (c->verbose) {
		printf("sequence %" PRIu64 " (seed %#" PRIx64 "), %zu ops:\n", i, s, n);
		c->env.opts.verbose = true;
		fz_run(&c->env, ops, n, &r, stdout);
		c->env.opts.verbose = false;
	} else {
		fz_run(&c->env, ops, n, &r, always_report ? stdout : NULL);
	}
	c->ops_run += r.k.nops < n ? r.k.nops : n;
	for (size_t k = 0; k < n && k < r.k.nops; k++)
		c->by_kind[ops[k].kind]++;
	if (!fz_divergence(&c->env, &r, ops, n, &sig, &at)) {
		fz_run_free(&r);
		return;
	}
	if (sig.harness) {
		c->harness_errors++;
		printf("sequence %" PRIu64 " (seed %#" PRIx64 ") could not be checked: %s\n", i, s,
		       r.res.error[0] ? r.res.error : r.k.error);
		print_ops(stdout, ops, n);
		fz_run_free(&r);
		return;
	}
	fz_run_free(&r);
	if (!always_report && !(sig.fields & ~ORC_F_NOISY) && matches_on_rerun(c, ops, n)) {
		c->noisy++;
		printf("sequence %" PRIu64 " (seed %#" PRIx64 ") diverged at op %d (%s), then matched the kernel on a "
		       "re-run: the host's noise, not counted\n", i, s, at, field_names(sig.fields, fields, sizeof(fields)));
		return;
	}
	c->divergences++;
	if (at >= 0)
		orc_op_format(&ops[at], d, sizeof(d));
	else
		snprintf(d, sizeof(d), "%s", "the starting state");
	printf("divergence %d: sequence %" PRIu64 ", op %d of %zu: %s: %s\n", c->divergences, i, at, n, d,
	       field_names(sig.fields, fields, sizeof(fields)));
	for (int k = 0; k < c->nseen; k++)
		if (c->seen[k].sig.kind == sig.kind && c->seen[k].sig.fields == sig.fields &&
		    c->seen[k].sig.kerr == sig.kerr && c->seen[k].sig.aerr == sig.aerr && !always_report) {
			printf("  like divergence %d (not shrunk again; `aspace diff --seed %" PRIu64
			       " --sequence %" PRIu64 "` shows it)\n",
			       c->seen[k].first, c->seed, i);
			return;
		}
	if (c->nseen < 256)
		c->seen[c->nseen++] = (typeof(c->seen[0])){ sig, c->divergences };
	report(c, i, ops, n, &sig);
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "time", required_argument, NULL, 't' },
		{ "unprivileged", no_argument, NULL, 'u' },
		{ "save", required_argument, NULL, 'S' },
		{ "without", required_argument, NULL, 'w' },
		{ "sequence", required_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct campaign *c;
	uint64_t max_ops = 2000, seed = 1, only = UINT64_MAX;
	long seconds = 0, deadline;
	bool unpriv = false, verbose = false;
	int without = 0;
	const char *save = NULL;
	struct progress prog;
	int ch, status;
	char *end;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
		case 'n':
		case 't':
		case 'q': {
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 0);
			if (!*optarg || *end || errno || optarg[0] == '-')
				return tool_usage_error("diff", "--%s wants a number, got '%s'",
							ch == 's' ? "seed" : ch == 'n' ? "ops" : ch == 't' ? "time" : "sequence",
							optarg);
			if (ch == 's')
				seed = v;
			else if (ch == 'n')
				max_ops = v;
			else if (ch == 't')
				seconds = (long)v;
			else
				only = v;
			break;
		}
		case 'u':
			unpriv = true;
			break;
		case 'S':
			save = optarg;
			break;
		case 'w':
			without = fz_without(optarg);
			if (without < 0)
				return EXIT_USAGE;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			diff_usage(stdout);
			return EXIT_OK;
		default:
			return tool_usage_error("diff", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return tool_usage_error("diff", "unexpected argument '%s'", argv[optind]);
	if (save && mkdir(save, 0755) && errno != EEXIST) {
		fprintf(stderr, "aspace diff: %s: %s\n", save, strerror(errno));
		return EXIT_USAGE;
	}
	if (unpriv && geteuid() != 0) {
		fprintf(stderr, "aspace diff: --unprivileged needs root (the kernel side drops to uid 65534)\n");
		return EXIT_USAGE;
	}

	/* Randomization off: re-execute the whole command line (argv[-1] is "aspace"). */
	orc_init(argc + 1, argv - 1);
	c = calloc(1, sizeof(*c));
	if (!c)
		return tool_fail("diff", -ENOMEM);
	c->seed = seed;
	c->save = save;
	c->verbose = verbose;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fz_env_init(&c->env, unpriv)) {
		fz_env_free(&c->env, false);
		free(c);
		return EXIT_CHECK;
	}
	c->env.without = (unsigned)without;
	fz_panic_arm();
	if (without)
		printf("aspace diff: left out of the sequences: %s\n", argv_without(argc, argv));
	printf("aspace diff: seed %" PRIu64 ", %s, sequences of %d to %d ops, %s\n", seed,
	       only != UINT64_MAX ? "one sequence" : "until the ops or the time run out", FZ_MIN_LEN, FZ_MAX_LEN,
	       unpriv ? "kernel side as uid 65534, aspace without capabilities"
		      : "kernel side as root, aspace with every capability");
	orc_probe_print(&c->env.probe, stdout);
	printf("aspace diff: the kernel child keeps %zu regions of its own (isolated), "
	       "its break at %#" PRIx64 "; temporary files in %s\n",
	       c->env.nharness - 2, c->env.base.start_brk, c->env.dir);

	deadline = seconds ? now_ms() + seconds * 1000 : 0;
	progress_begin(&prog, "aspace diff: ops", max_ops, true);
	if (only != UINT64_MAX) {
		one_sequence(c, only, true);
	} else {
		for (uint64_t i = 0; c->ops_run < max_ops && (!deadline || now_ms() < deadline); i++) {
			one_sequence(c, i, false);
			progress_update(&prog, c->ops_run);
		}
	}
	progress_end(&prog);
	if (c->ops_run) {
		printf("aspace diff: ops by kind:");
		for (int k = 1; k < ORC_OP_NR; k++)
			if (c->by_kind[k])
				printf(" %s %.1f%%", orc_kind_name(k), 100.0 * (double)c->by_kind[k] / (double)c->ops_run);
		printf("\n");
	}
	if (c->harness_errors)
		printf("aspace diff: %d sequence(s) could not be checked (listed above)\n", c->harness_errors);
	if (c->noisy)
		printf("aspace diff: %d sequence(s) diverged once and matched on a re-run (host noise, listed above)\n",
		       c->noisy);
	printf("diff: %" PRIu64 " ops, %d divergences\n", c->ops_run, c->divergences + c->harness_errors);
	status = c->divergences || c->harness_errors ? EXIT_CHECK : EXIT_OK;
	fz_env_free(&c->env, c->divergences > 0);
	free(c);
	return status;
}
