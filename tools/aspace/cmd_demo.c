/*
 * aspace demo: the main job, a narrated tour of what aspace simulates. The
 * tour is examples/tour.aspace, compiled into the command; it ends by
 * writing the HTML report of its own run. Then `aspace trace` of a real
 * program, whose replay gets its own report.
 */
#include "cmd.h"

#include "replay.h"
#include "report.h"
#include "script.h"

#include <getopt.h>
#include <string.h>

static void demo_usage(FILE *out)
{
	fprintf(out, "usage: aspace demo [-o REPORT] [--trace-report FILE] [--script FILE]\n\n"
		     "A narrated tour: demand paging, copy-on-write after fork, a region split by\n"
		     "mprotect and merged back, the heap growing with brk; then the HTML report of\n"
		     "the tour (default ./report.html). Last, `aspace trace -- ls /`: a real program\n"
		     "recorded by strace and replayed on aspace, its maps and counters at exit, how\n"
		     "many kernel results aspace reproduced, and the HTML report of that replay\n"
		     "(default: REPORT with -trace before .html, ./report-trace.html).\n\n"
		     "options:\n"
		     "  -o, --output FILE        where the tour's report goes (default report.html)\n"
		     "      --trace-report FILE  where the trace's report goes\n"
		     "      --script FILE        run another script as the tour (and no trace)\n"
		     "  -h, --help               this text\n");
}

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "script", required_argument, NULL, 's' },
		{ "trace-report", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *report = "report.html", *file = NULL, *treport = NULL;
	char tbuf[4096];
	struct script *s;
	int c, status, tstatus;

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
		case 't':
			treport = optarg;
			break;
		case 'h':
			demo_usage(stdout);
			return EXIT_OK;
		default:
			if (optopt == 'o' || optopt == 's' || optopt == 't')
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
	 * with its simulated maps and counters, how many kernel results aspace
	 * reproduced, and the report of that replay.
	 */
	if (file)
		return status;
	if (!treport) {
		size_t n = strlen(report);

		if (!strcmp(report, "-"))
			snprintf(tbuf, sizeof(tbuf), "report-trace.html");
		else if (n > 5 && !strcmp(report + n - 5, ".html"))
			snprintf(tbuf, sizeof(tbuf), "%.*s-trace.html", (int)(n - 5), report);
		else
			snprintf(tbuf, sizeof(tbuf), "%s-trace.html", report);
		treport = tbuf;
	}
	tstatus = trace_demo(stdout, treport);
	if ((tstatus == EXIT_CHECK || tstatus == EXIT_USAGE) && status == EXIT_OK)
		status = tstatus;
	return status;
}
