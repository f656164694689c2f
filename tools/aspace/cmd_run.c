/* aspace run: run a scenario script. */
#include "cmd.h"

#include "ops.h"
#include "script.h"
#include "views.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: aspace run [-q] [--json] [--step N | --line L] SCRIPT\n\n"
		"Run a scenario: system calls, accesses and processes on one simulated machine.\n"
		"SCRIPT is a file, or - for standard input. Each step is echoed as strace\n"
		"would print it; views print what /proc would show.\n\n"
		"options:\n"
		"  -q, --quiet     do not echo the steps (views, say and failures still print)\n"
		"      --json      print one JSON document: every statement's result and view\n"
		"      --step N    stop after step N      --line L   stop after line L\n"
		"  -h, --help      this text\n\n"
		"The language, a statement per line (# starts a comment):\n"
		"  machine ram=256M zero_page=0          settings, before the first step\n"
		"  $a = mmap 0 16K PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS\n"
		"  munmap $a+4K 4K => 0                  => checks the outcome: a value, ok,\n"
		"  munmap 0 0 => EINVAL                     an errno name, SIGSEGV [SEGV_MAPERR] [at A],\n"
		"  read $a+8K 1 => SIGSEGV SEGV_MAPERR      \"bytes\", fill BYTE LEN, vec 0101 (mincore)\n"
		"  write $a \"hello\"   write $a fill 0xaa 8K   read $a 16   fetch $a   touch $a 16K\n"
		"  expect rss_anon == 2                  compare values, counters, layout, machine stats\n"
		"  fork child   switch child   exit   exec /bin/true   setrlimit RLIMIT_STACK 8M unlimited\n"
		"  maps  smaps [ADDR]  pagetable ADDR [LEN]  counters  layout  buddyinfo  check  ps\n"
		"Numbers: decimal or 0x hex, with K M G T; expressions + - * / | & ~ ( ) without spaces\n"
		"(or with spaces inside parentheses). The full grammar: docs/COMMAND.md, aspace(1).\n");
	ops_print_help(out);
	fprintf(out, "\nexit status: 0 success, 1 an expectation or check failed, 2 a usage or input error\n");
}

/* Options shared by run and the views: --step N, --line L. */
static int parse_count(const char *cmd, const char *opt, const char *arg, int *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (!*arg || *end || v < 0 || v > 1000000000)
		return tool_usage_error(cmd, "%s wants a number >= 0, got '%s'", opt, arg);
	*out = (int)v;
	return 0;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "step", required_argument, NULL, 's' },
		{ "line", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct runner_opts ro = { .out = stdout, .echo = true, .stop_step = -1, .stop_line = -1, .progress = true };
	bool json = false;
	struct script *s;
	struct runner *r;
	int c, status, teardown;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			ro.echo = false;
			break;
		case 'j':
			json = true;
			break;
		case 's':
			if (parse_count("run", "--step", optarg, &ro.stop_step))
				return EXIT_USAGE;
			break;
		case 'l':
			if (parse_count("run", "--line", optarg, &ro.stop_line))
				return EXIT_USAGE;
			break;
		case 'h':
			run_usage(stdout);
			return EXIT_OK;
		default:
			return tool_usage_error("run", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind == argc)
		return tool_usage_error("run", "which script? (a file, or - for standard input)");
	if (argc - optind > 1)
		return tool_usage_error("run", "one script at a time ('%s' is extra)", argv[optind + 1]);
	s = script_load(argv[optind], stderr);
	if (!s)
		return EXIT_USAGE;
	if (json) {
		ro.out = NULL;
		ro.log = json_array();
	}
	r = runner_new(s, &ro);
	if (!r) {
		script_free(s);
		return tool_fail("run", -12);
	}
	status = runner_run(r);
	int passed = r->passed_expects, failed = r->failed_expects, steps = r->step;

	teardown = runner_free(r);
	if (status == EXIT_OK && teardown)
		status = EXIT_CHECK;
	if (json) {
		json_t *doc = json_object();

		json_object_set_new(doc, "script", json_text(s->name));
		json_object_set_new(doc, "machine", machine_config_json(&s->cfg));
		json_object_set_new(doc, "steps", json_integer(s->nsteps));
		json_object_set_new(doc, "steps_run", json_integer(steps));
		json_object_set_new(doc, "expectations", json_pack("{s:i, s:i}", "passed", passed, "failed", failed));
		json_object_set_new(doc, "log", ro.log);
		json_object_set_new(doc, "status", json_integer(status));
		if (tool_print_json(doc, stdout) && !status)
			status = EXIT_CHECK;
	}
	script_free(s);
	return status;
}
