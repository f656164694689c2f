/* aspace report: a self-contained HTML page of a script's run or a log's replay. */
#include "cmd.h"

#include "report.h"
#include "script.h"
#include "source.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void report_usage(FILE *out)
{
	fprintf(out, "usage: aspace report [-o FILE] [--json] SCRIPT|LOG\n\n"
		     "Run SCRIPT, or replay LOG (a strace log, as `aspace trace -o LOG` keeps it), and\n"
		     "write one self-contained HTML file (no network needed) that draws every process's\n"
		     "address space to scale with the gaps folded, coloured by kind (code, data, heap,\n"
		     "stack, anonymous, file, shared); a slider over the steps; regions, RSS and faults\n"
		     "over time; and the fork/exec tree.\n\n"
		     "The input is a LOG when its first line that is not blank or a # comment begins\n"
		     "as strace writes one (an optional pid, then NAME( or +++, ---, <...); anything\n"
		     "else is a SCRIPT. A LOG's steps are the calls the replay acts on (execve, the\n"
		     "clone family, memory calls, exits), each shown with the kernel's result and aspace's.\n\n"
		     "options:\n"
		     "  -o, --output FILE  where to write (default report.html; - for standard output)\n"
		     "      --json         write the report's data (format aspace-report/1) instead\n"
		     "  -h, --help         this text\n\n"
		     "exit status: 0, 1 when the script's expectations or checks failed or a replayed\n"
		     "call differed from the kernel's (the report is written all the same), 2 for a\n"
		     "usage or input error (a malformed script or log: the message names the line)\n");
}

int report_script(struct script *s, const char *path, bool json, FILE *echo)
{
	struct runner_opts ro = { .out = echo, .echo = echo != NULL, .stop_step = -1, .stop_line = -1,
				  .progress = true };
	struct report *rep = report_new(s->name, "script", s->name, &s->cfg);
	struct runner *r;
	json_t *model;
	int status, rc;

	if (!rep)
		return tool_fail("report", -ENOMEM);
	ro.observe = report_observe;
	ro.observe_ctx = rep;
	r = runner_new(s, &ro);
	if (!r)
		return tool_fail("report", -ENOMEM);
	status = runner_run(r);
	model = report_finish(rep, r);
	if (runner_free(r) && !status)
		status = EXIT_CHECK;
	if (status == EXIT_USAGE) {
		json_decref(model);
		return status;
	}
	rc = report_save(model, path, json, echo);
	json_decref(model);
	return rc ? rc : status;
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "report.html";
	bool json = false;
	struct source src;
	int c, status;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			report_usage(stdout);
			return EXIT_OK;
		default:
			if (optopt == 'o')
				return tool_usage_error("report", "-o wants a file name");
			return tool_usage_error("report", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind == argc)
		return tool_usage_error("report", "which script or log? (a file, or - for standard input)");
	if (argc - optind > 1)
		return tool_usage_error("report", "one script or log at a time ('%s' is extra)", argv[optind + 1]);
	status = source_load("report", argv[optind], &src);
	if (status)
		return status;
	if (src.is_log) {
		struct replay_opts ro = { .name = src.name };

		status = report_log(&src.log, &ro, path, json, NULL);
	} else {
		status = report_script(src.script, path, json, NULL);
	}
	source_free(&src);
	return status;
}
