/*
 * aspace maps | stats | pagetable: views of one process of a script at any
 * step. The script runs silently up to the step (its own views and
 * expectations say nothing), then the view is printed.
 */
#include "cmd.h"

#include "script.h"
#include "views.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

struct view_args {
	const char *cmd;
	const char *script;
	const char *pos[2];    /* further positional arguments */
	int npos;
	int step, line;
	const char *process;
	bool json;
};

static void common_options(FILE *out)
{
	fprintf(out, "\noptions:\n"
		     "      --step N        the state after step N (default: the end of the script)\n"
		     "      --line L        the state after the statements up to line L\n"
		     "  -p, --process NAME  which process (default: the current one at that point)\n"
		     "      --json          print JSON\n"
		     "  -h, --help          this text\n\n"
		     "A step is a statement that acts: a system call, an access, fork, exit, exec...;\n"
		     "step 0 is the state before the first one. Exit status: 0, or 2 for a usage or\n"
		     "input error (the script's own expectations are not checked here: use aspace run).\n");
}

static void usage(const char *cmd, FILE *out)
{
	if (!strcmp(cmd, "maps"))
		fprintf(out, "usage: aspace maps [--step N | --line L] [--process NAME] [--json] SCRIPT\n\n"
			     "Print /proc/PID/maps of a process of SCRIPT at a step; with --json, the\n"
			     "regions with their kind (code, data, heap, stack, anon, file, shared).\n");
	else if (!strcmp(cmd, "stats"))
		fprintf(out, "usage: aspace stats [--step N | --line L] [--process NAME] [--json] SCRIPT\n\n"
			     "Print a process's counters (VM sizes, RSS, faults, copy-on-write) and layout,\n"
			     "and the machine's free memory per buddy order, at a step of SCRIPT.\n");
	else
		fprintf(out, "usage: aspace pagetable [--step N | --line L] [--process NAME] [--json] SCRIPT ADDR [LENGTH]\n\n"
			     "Walk the page tables of a process for ADDR at a step of SCRIPT: the PGD, PUD,\n"
			     "PMD and PTE entries with their bits (present, rw, user, accessed, dirty, nx)\n"
			     "and the frame behind the page. With LENGTH, one line per page. ADDR and\n"
			     "LENGTH are expressions in the script's names, e.g. '$heap+4K'.\n");
	common_options(out);
}

/* 0, or an exit status. */
static int parse_args(int argc, char **argv, const char *cmd, int max_pos, struct view_args *va)
{
	static const struct option opts[] = {
		{ "step", required_argument, NULL, 's' },
		{ "line", required_argument, NULL, 'l' },
		{ "process", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*va = (struct view_args){ .cmd = cmd, .step = -1, .line = -1 };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		char *end;
		long v;

		switch (c) {
		case 's':
		case 'l':
			v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 0 || v > 1000000000)
				return tool_usage_error(cmd, "--%s wants a number >= 0, got '%s'",
							c == 's' ? "step" : "line", optarg);
			if (c == 's')
				va->step = (int)v;
			else
				va->line = (int)v;
			break;
		case 'p':
			va->process = optarg;
			break;
		case 'j':
			va->json = true;
			break;
		case 'h':
			usage(cmd, stdout);
			return -1;
		case ':':
			return tool_usage_error(cmd, "option '%s' wants a value", argv[optind - 1]);
		default:
			if (optopt && strchr("p", optopt))
				return tool_usage_error(cmd, "option '-%c' wants a value", optopt);
			return tool_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (va->step >= 0 && va->line >= 0)
		return tool_usage_error(cmd, "--step or --line, not both");
	if (optind == argc)
		return tool_usage_error(cmd, "which script? (a file, or - for standard input)");
	va->script = argv[optind++];
	if (!strcmp(cmd, "pagetable") && optind == argc)
		return tool_usage_error(cmd, "which address? (aspace pagetable SCRIPT ADDR [LENGTH])");
	while (optind < argc) {
		if (va->npos == max_pos)
			return tool_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
		va->pos[va->npos++] = argv[optind++];
	}
	return 0;
}

/* Run the script up to the step; the runner and the process's index, or an exit status. */
static int run_to(struct view_args *va, struct script **sp, struct runner **rp, int *proc)
{
	struct runner_opts ro = { .stop_step = va->step, .stop_line = va->line, .progress = true, .silent = true };
	struct script *s = script_load(va->script, stderr);
	struct runner *r;
	int status;

	*sp = NULL;
	*rp = NULL;
	if (!s)
		return EXIT_USAGE;
	*sp = s;
	if (va->step > s->nsteps) {
		fprintf(stderr, "aspace %s: %s has %d step%s; --step %d is beyond its end\n", va->cmd, s->name,
			s->nsteps, s->nsteps == 1 ? "" : "s", va->step);
		return EXIT_USAGE;
	}
	r = runner_new(s, &ro);
	if (!r)
		return tool_fail(va->cmd, -12);
	*rp = r;
	status = runner_run(r);
	if (status == EXIT_USAGE)
		return status;
	*proc = runner_find(r, va->process);
	if (*proc < 0) {
		if (va->process) {
			int died = -1;

			for (int i = 0; i < r->nprocs; i++)
				if (!strcmp(r->procs[i].name, va->process))
					died = r->procs[i].died_step;
			if (died >= 0)
				fprintf(stderr, "aspace %s: %s exited at step %d, before step %d\n", va->cmd,
					va->process, died, r->step);
			else
				fprintf(stderr, "aspace %s: no process called '%s' at step %d\n", va->cmd,
					va->process, r->step);
		} else {
			fprintf(stderr, "aspace %s: every process has exited by step %d\n", va->cmd, r->step);
		}
		return EXIT_USAGE;
	}
	return 0;
}

static json_t *header(struct runner *r, int proc)
{
	return json_pack("{s:o, s:i, s:s, s:i}", "script", json_text(r->script->name), "step", r->step,
			 "process", r->procs[proc].name, "pid", r->procs[proc].pid);
}

static int view_main(int argc, char **argv, const char *cmd, int max_pos)
{
	struct view_args va;
	struct script *s;
	struct runner *r;
	int proc = -1, status;
	struct as_mm *mm;

	status = parse_args(argc, argv, cmd, max_pos, &va);
	if (status)
		return status < 0 ? EXIT_OK : status;
	status = run_to(&va, &s, &r, &proc);
	if (status)
		goto out;
	mm = r->procs[proc].mm;
	if (!strcmp(cmd, "maps")) {
		if (va.json) {
			json_t *j, *doc = header(r, proc);

			view_maps(mm, NULL, &j);
			json_object_update(doc, j);
			json_decref(j);
			status = tool_print_json(doc, stdout);
		} else {
			view_maps(mm, stdout, NULL);
		}
	} else if (!strcmp(cmd, "stats")) {
		if (va.json) {
			json_t *c, *l, *m, *doc = header(r, proc);

			view_counters(mm, NULL, &c);
			view_layout(mm, NULL, &l);
			view_buddyinfo(r->m, NULL, &m);
			json_object_set_new(doc, "counters", c);
			json_object_set_new(doc, "layout", l);
			json_object_set_new(doc, "machine", m);
			status = tool_print_json(doc, stdout);
		} else {
			printf("%s (pid %d) after step %d of %s\n\ncounters:\n", r->procs[proc].name,
			       r->procs[proc].pid, r->step, s->name);
			view_counters(mm, stdout, NULL);
			printf("\nlayout:\n");
			view_layout(mm, stdout, NULL);
			printf("\nmachine (free blocks per order, like /proc/buddyinfo):\n");
			view_buddyinfo(r->m, stdout, NULL);
		}
	} else {
		uint64_t addr, len = 0;
		struct expr *e = script_parse_expr(s, "ADDR", va.pos[0], stderr);

		if (!e || !runner_eval(r, va.pos[0], e, &addr)) {
			status = EXIT_USAGE;
			goto out;
		}
		if (va.npos > 1) {
			e = script_parse_expr(s, "LENGTH", va.pos[1], stderr);
			if (!e || !runner_eval(r, va.pos[1], e, &len)) {
				status = EXIT_USAGE;
				goto out;
			}
		}
		if (va.json) {
			json_t *j, *doc = header(r, proc);

			view_pagetable(mm, addr, va.npos > 1, len, NULL, &j);
			json_object_update(doc, j);
			json_decref(j);
			status = tool_print_json(doc, stdout);
		} else {
			view_pagetable(mm, addr, va.npos > 1, len, stdout, NULL);
		}
	}
out:
	if (r && runner_free(r) && !status)
		status = EXIT_CHECK;
	script_free(s);
	return status;
}

int cmd_maps(int argc, char **argv)
{
	return view_main(argc, argv, "maps", 0);
}

int cmd_stats(int argc, char **argv)
{
	return view_main(argc, argv, "stats", 0);
}

int cmd_pagetable(int argc, char **argv)
{
	return view_main(argc, argv, "pagetable", 2);
}
