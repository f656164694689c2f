/* aspace — the command: subcommands over the library. */
#include "cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/*
 * The subcommands, in the order `aspace help` lists them (declared in
 * cmd.h, each defined in its own cmd_*.c). `report` and the views take a
 * strace LOG wherever they take a SCRIPT (source.h tells them apart).
 */
static const struct subcommand subcommands[] = {
	{ "run", cmd_run, "run a scenario script (`aspace run --help` for the language)" },
	{ "maps", cmd_maps, "a process's /proc/PID/maps at any step of a script or a log" },
	{ "stats", cmd_stats, "a process's counters and layout, and the machine's memory, at any step" },
	{ "pagetable", cmd_pagetable, "the page-table walk of an address at any step" },
	{ "report", cmd_report, "a self-contained HTML report of a script's run or a log's replay" },
	{ "demo", cmd_demo, "a narrated tour of what aspace simulates, then a real program traced" },
	{ "machine", cmd_machine, "create a machine and show its physical memory" },
	{ "bench", cmd_bench, "the library's benchmarks (faults, TLB, mmap at scale, fork)" },
	{ "diff", cmd_diff, "differential fuzzing: random sequences on the kernel and on aspace" },
	{ "trace", cmd_trace, "run a program under strace and replay what it did to its memory" },
	{ "replay", cmd_replay, "replay a strace log's memory calls on aspace and compare" },
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: aspace COMMAND [ARGS...]\n\n"
		     "Linux's process address space, simulated in user space.\n\n"
		     "commands:\n");
	for (size_t i = 0; i < NSUB; i++)
		fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "  %-10s %s\n", "help", "this text; `aspace help COMMAND` or `aspace COMMAND --help` for one");
	fprintf(out, "  %-10s %s\n", "version", "print the library version");
	fprintf(out, "\nReporting commands take --json. See aspace(1) and docs/COMMAND.md.\n"
		     "exit status: 0 success, 1 a check or expectation failed, 2 usage or input error\n");
}

int tool_fail(const char *what, long rc)
{
	fprintf(stderr, "aspace: %s: %s\n", what, strerror((int)-rc));
	return EXIT_CHECK;
}

int tool_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "aspace %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try `aspace %s --help`)\n", cmd);
	return EXIT_USAGE;
}

int tool_print_json(json_t *j, FILE *out)
{
	int rc = json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(j);
	fputc('\n', out);
	fflush(out);
	return rc || ferror(out) ? EXIT_CHECK : EXIT_OK;
}

static const struct subcommand *find(const char *name)
{
	for (size_t i = 0; i < NSUB; i++)
		if (!strcmp(name, subcommands[i].name))
			return &subcommands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct subcommand *sc;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc > 2) {
			char help[] = "--help";
			char *sub_argv[] = { argv[2], help, NULL };

			sc = find(argv[2]);
			if (!sc) {
				fprintf(stderr, "aspace: unknown command '%s' (try `aspace help`)\n", argv[2]);
				return EXIT_USAGE;
			}
			return sc->run(2, sub_argv);
		}
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("aspace %s\n", as_version());
		return EXIT_OK;
	}
	sc = find(argv[1]);
	if (sc)
		return sc->run(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		fprintf(stderr, "aspace: unknown option '%s' (try `aspace help`)\n", argv[1]);
	else
		fprintf(stderr, "aspace: unknown command '%s' (try `aspace help`)\n", argv[1]);
	return EXIT_USAGE;
}
