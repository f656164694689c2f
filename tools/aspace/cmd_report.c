/* aspace report: a self-contained HTML page of a script's run. */
#include "cmd.h"

#include "report.h"
#include "script.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void report_usage(FILE *out)
{
	fprintf(out, "usage: aspace report [-o FILE] [--json] SCRIPT\n\n"
		     "Run SCRIPT and write one self-contained HTML file (no network needed) that\n"
		     "draws every process's address space to scale with the gaps folded, coloured\n"
		     "by kind (code, data, heap, stack, anonymous, file, shared); a slider over the\n"
		     "steps; regions, RSS and faults over time; and the fork/exec tree.\n\n"
		     "options:\n"
		     "  -o, --output FILE  where to write (default report.html; - for standard output)\n"
		     "      --json         write the report's data (format aspace-report/1) instead\n"
		     "  -h, --help         this text\n\n"
		     "exit status: 0, 1 when the script's expectations or checks failed (the report\n"
		     "is written all the same), 2 for a usage or input error\n");
}

int report_script(struct script *s, const char *path, bool json, FILE *echo)
{
	struct runner_opts ro = { .out = echo, .echo = echo != NULL, .stop_step = -1, .stop_line = -1,
				  .progress = true };
	struct report *rep = report_new(s->name, "script", s->name, &s->cfg);
	struct runner *r;
	json_t *model;
	FILE *out;
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
	out = strcmp(path, "-") ? fopen(path, "w") : stdout;
	if (!out) {
		fprintf(stderr, "aspace report: %s: %s\n", path, strerror(errno));
		json_decref(model);
		return EXIT_USAGE;
	}
	if (json)
		rc = json_dumpf(model, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER) ? -EIO : 0;
	else
		rc = report_write_html(model, out);
	if (out != stdout) {
		if (fclose(out))
			rc = -errno;
	} else {
		fflush(out);
	}
	if (rc) {
		fprintf(stderr, "aspace report: writing %s: %s\n", path, strerror(-rc));
		json_decref(model);
		return EXIT_CHECK;
	}
	if (out != stdout) {
		size_t steps = json_array_size(json_object_get(model, "steps")) - 1;
		size_t procs = json_array_size(json_object_get(model, "processes"));

		fprintf(echo ? echo : stdout, "%swrote %s: %zu step%s, %zu process%s%s\n", echo ? "\n" : "", path,
			steps, steps == 1 ? "" : "s", procs, procs == 1 ? "" : "es",
			json ? "" : " (open it in a browser)");
	}
	json_decref(model);
	return status;
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
	struct script *s;
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
		return tool_usage_error("report", "which script? (a file, or - for standard input)");
	if (argc - optind > 1)
		return tool_usage_error("report", "one script at a time ('%s' is extra)", argv[optind + 1]);
	s = script_load(argv[optind], stderr);
	if (!s)
		return EXIT_USAGE;
	status = report_script(s, path, json, NULL);
	script_free(s);
	return status;
}
