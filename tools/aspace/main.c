/* aspace — the command: subcommands over the library. */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "demo", cmd_demo, "a narrated tour of what aspace simulates" },
	{ "machine", cmd_machine, "create a machine and show its physical memory" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: aspace COMMAND [ARGS...]\n\n"
		     "Linux's process address space, simulated in user space.\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "  %-10s %s\n", "help", "this text; `aspace COMMAND --help` for one command");
	fprintf(out, "  %-10s %s\n", "version", "print the library version");
	fprintf(out, "\nexit status: 0 success, 1 a check failed, 2 usage or input error\n");
}

int tool_fail(const char *what, long rc)
{
	fprintf(stderr, "aspace: %s: %s\n", what, strerror((int)-rc));
	return EXIT_CHECK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("aspace %s\n", as_version());
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "aspace: unknown command '%s' (try `aspace help`)\n", argv[1]);
	return EXIT_USAGE;
}
