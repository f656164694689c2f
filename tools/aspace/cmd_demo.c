/*
 * aspace demo: the main job, a narrated tour of what aspace simulates. The
 * tour is examples/tour.aspace, compiled into the command; it ends by
 * writing the HTML report of its own run.
 */
#include "cmd.h"

#include "replay.h"
#include "report.h"
#include "script.h"

#include <getopt.h>
#include <string.h>

static void demo_usage(FILE *out)
{
	fprintf(out, "usage: aspace demo [-o REPORT] [--script FILE]\n\n"
		     "A narrated tour: demand paging, copy-on-write after fork, a region split by\n"
		     "mprotect and merged back, the heap growing with brk; then the HTML report of\n"
		     "the tour (default ./report.html).\n\n"
		     "options:\n"
		     "  -o, --output FILE   where the report goes (default report.html)\n"
		     "      --script FILE   run another script as the tour\n"
		     "  -h, --help          this text\n");
}

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "script", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *report = "report.html", *file = NULL;
	struct script *s;
	int c, status;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			report = optarg;
			break;
		case 's':
			file = optarg;
			break;
		case 'h':
			demo_usage(stdout);
			return EXIT_OK;
		default:
			if (optopt == 'o' || optopt == 's')
				return tool_usage_error("demo", "option '%s' wants a value", argv[optind - 1]);
			return tool_usage_error("demo", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return tool_usage_error("demo", "unexpected argument '%s'", argv[optind]);
	s = file ? script_load(file, stderr)
		 : script_parse("examples/tour.aspace", embedded_tour, embedded_tour_len, stderr);
	if (!s)
		return EXIT_USAGE;
	printf("aspace %s: a tour of Linux's process address space, simulated in user space.\n"
	       "Each step prints as strace would show the call; views print what /proc would.\n",
	       as_version());
	status = report_script(s, report, false, stdout);
	script_free(s);
	/*
	 * The proof: `aspace trace` of a real program of this machine, ending
	 * with its simulated maps and counters and how many kernel results
	 * aspace reproduced (the report does not cover that run yet).
	 */
	if (!file && trace_demo(stdout) == EXIT_CHECK && status == EXIT_OK)
		status = EXIT_CHECK;
	return status;
}
