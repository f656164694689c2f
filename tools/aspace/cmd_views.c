/*
 * aspace maps | stats | pagetable: views of one process of a script, or of
 * a replayed strace log, at any step. The script runs (the log is
 * replayed) silently up to the step (its own views and expectations say
 * nothing), then the view is printed.
 */
#include "cmd.h"

#include "replay.h"
#include "script.h"
#include "source.h"
#include "views.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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
		     "      --step N        the state after step N (default: the end)\n"
		     "      --line L        the state after the statements (log: the calls) up to line L\n"
		     "  -p, --process NAME  which process: a script's name for it, a log's pid\n"
		     "                      (default: the one of the last step up to that point)\n"
		     "      --json          print JSON\n"
		     "  -h, --help          this text\n\n"
		     "A script's step is a statement that acts: a system call, an access, fork, exit,\n"
		     "exec...; a log's step is a call the replay acts on: execve, the clone family,\n"
		     "a memory call, a task's exit (aspace replay -v lists them with their lines).\n"
		     "Step 0 is the state before the first one. A log's process is shown at the\n"
		     "latest right before its exit (its space is gone after). The input is a LOG\n"
		     "when its first line begins as strace writes one (see aspace report --help).\n"
		     "Exit status: 0, or 2 for a usage or input error (the script's own\n"
		     "expectations are not checked here: use aspace run).\n");
}

static void usage(const char *cmd, FILE *out)
{
	if (!strcmp(cmd, "maps"))
		fprintf(out, "usage: aspace maps [--step N | --line L] [--process NAME|PID] [--json] SCRIPT|LOG\n\n"
			     "Print /proc/PID/maps of a process of SCRIPT (or LOG, replayed) at a step; with --json, the\n"
			     "regions with their kind (code, data, heap, stack, anon, file, shared).\n");
	else if (!strcmp(cmd, "stats"))
		fprintf(out, "usage: aspace stats [--step N | --line L] [--process NAME|PID] [--json] SCRIPT|LOG\n\n"
			     "Print a process's counters (VM sizes, RSS, faults, copy-on-write) and layout,\n"
			     "and the machine's free memory per buddy order, at a step of SCRIPT or LOG.\n");
	else
		fprintf(out, "usage: aspace pagetable [--step N | --line L] [--process NAME|PID] [--json] SCRIPT|LOG ADDR [LENGTH]\n\n"
			     "Walk the page tables of a process for ADDR at a step of SCRIPT or LOG: the PGD, PUD,\n"
			     "PMD and PTE entries with their bits (present, rw, user, accessed, dirty, nx)\n"
			     "and the frame behind the page. With LENGTH, one line per page. ADDR and\n"
			     "LENGTH are expressions in the script's names, e.g. '$heap+4K'; for a LOG,\n"
			     "numbers (0x7ffff7fc0000, 16K).\n");
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
		return tool_usage_error(cmd, "which script or log? (a file, or - for standard input)");
	va->script = argv[optind++];
	if (!strcmp(cmd, "pagetable") && optind == argc)
		return tool_usage_error(cmd, "which address? (aspace pagetable SCRIPT|LOG ADDR [LENGTH])");
	while (optind < argc) {
		if (va->npos == max_pos)
			return tool_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
		va->pos[va->npos++] = argv[optind++];
	}
	return 0;
}

/* Run the script up to the step; the runner and the process's index, or an exit status. */
static int run_to(struct view_args *va, struct script *s, struct runner **rp, int *proc)
{
	struct runner_opts ro = { .stop_step = va->step, .stop_line = va->line, .progress = true, .silent = true };
	struct runner *r;
	int status;

	*rp = NULL;
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

/* A number for a log's ADDR or LENGTH: decimal or 0x hex, with an optional K, M, G or T. */
static bool log_number(const char *cmd, const char *what, const char *text, uint64_t *out)
{
	char *end;
	uint64_t v;
	unsigned shift;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (end == text || errno || *text == '-' || isspace((unsigned char)*text))
		goto bad;
	shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : *end == 'T' ? 40 : 0;
	if (shift) {
		if (v > UINT64_MAX >> shift)
			goto bad; /* the suffix would overflow */
		v <<= shift;
		end++;
	}
	if (*end)
		goto bad;
	*out = v;
	return true;
bad:
	fprintf(stderr, "aspace %s: %s: bad number '%s' (a log's views take numbers: 0x7ffff7fc0000, 16K)\n", cmd,
		what, text);
	return false;
}

struct log_view_ctx {
	struct view_args *va;
	const char *name;
	int line;               /* of the last step */
	int status;
	uint64_t addr, len;
};

static json_t *log_header(const struct log_view_ctx *c, const struct replay_snap *s, const struct replay_proc *p)
{
	json_t *h = json_pack("{s:o, s:i, s:i, s:o, s:i}", "log", json_text(c->name), "step", s->step, "line", c->line,
			      "process", json_text(p->name), "pid", p->pid);

	json_object_set_new(h, "before_exit", s->exit_line ? json_integer(s->exit_line) : json_null());
	return h;
}

/* The replay's observer: at the end, the view of the focus. */
/*
 * Print view `cmd` (maps, stats or pagetable of [addr, addr + len), or of
 * addr alone without has_len) of space mm on machine m: as JSON into doc
 * (the header object, consumed) when doc is not NULL, else as text, the
 * stats under `title`. The exit status.
 */
static int print_view(const char *cmd, json_t *doc, const char *title, struct as_mm *mm, struct as_machine *m,
		      uint64_t addr, bool has_len, uint64_t len)
{
	json_t *j, *l, *b;

	if (!strcmp(cmd, "maps")) {
		if (!doc) {
			view_maps(mm, stdout, NULL);
			return EXIT_OK;
		}
		view_maps(mm, NULL, &j);
		json_object_update(doc, j);
		json_decref(j);
	} else if (!strcmp(cmd, "stats")) {
		if (!doc) {
			printf("%s\n\ncounters:\n", title);
			view_counters(mm, stdout, NULL);
			printf("\nlayout:\n");
			view_layout(mm, stdout, NULL);
			printf("\nmachine (free blocks per order, like /proc/buddyinfo):\n");
			view_buddyinfo(m, stdout, NULL);
			return EXIT_OK;
		}
		view_counters(mm, NULL, &j);
		view_layout(mm, NULL, &l);
		view_buddyinfo(m, NULL, &b);
		json_object_set_new(doc, "counters", j);
		json_object_set_new(doc, "layout", l);
		json_object_set_new(doc, "machine", b);
	} else {
		if (!doc) {
			view_pagetable(mm, addr, has_len, len, stdout, NULL);
			return EXIT_OK;
		}
		view_pagetable(mm, addr, has_len, len, NULL, &j);
		json_object_update(doc, j);
		json_decref(j);
	}
	return tool_print_json(doc, stdout);
}

static bool log_view_observe(void *ctx, const struct replay_snap *s)
{
	struct log_view_ctx *c = ctx;
	const char *cmd = c->va->cmd;
	const struct replay_proc *p;
	struct as_mm *mm;

	if (!s->done) {
		if (s->e)
			c->line = s->e->line;
		return true;
	}
	if (s->cur < 0) {
		if (c->va->process)
			fprintf(stderr, "aspace %s: no pid %s in %s by step %d\n", cmd, c->va->process, c->name, s->step);
		else
			fprintf(stderr, "aspace %s: nothing of %s is replayed by step %d\n", cmd, c->name, s->step);
		c->status = EXIT_USAGE;
		return true;
	}
	p = &s->procs[s->cur];
	mm = p->mm;
	if (!mm) {
		if (p->died >= 0)
			fprintf(stderr, "aspace %s: pid %d exited at step %d, before step %d\n", cmd, p->pid, p->died,
				s->step);
		else
			fprintf(stderr, "aspace %s: pid %d has no space at step %d (its first execve comes later)\n", cmd,
				p->pid, s->step);
		c->status = EXIT_USAGE;
		return true;
	}
	if (s->exit_line)
		fprintf(stderr, "aspace %s: pid %d exits at line %d: shown right before, after step %d (line %d)\n",
			cmd, p->pid, s->exit_line, s->step, c->line);
	if (c->va->json) {
		c->status = print_view(cmd, log_header(c, s, p), NULL, mm, s->m, c->addr, c->va->npos > 1, c->len);
	} else {
		char title[512];

		snprintf(title, sizeof(title), "%s (pid %d) after step %d (line %d) of %s", p->name, p->pid, s->step,
			 c->line, c->name);
		c->status = print_view(cmd, NULL, title, mm, s->m, c->addr, c->va->npos > 1, c->len);
	}
	return true;
}

/* A view of a replayed log: -p is a pid, --step counts the replay's steps, --line the log's lines. */
static int log_view(struct view_args *va, struct source *src)
{
	struct log_view_ctx c = { .va = va, .name = src->name };
	struct replay_opts ro = { .name = src->name, .observe = log_view_observe, .observe_ctx = &c, .view = true };
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int steps = 0, status;

	for (size_t i = 0; i < src->log.n; i++)
		steps += replay_is_step(&src->log.ev[i]);
	if (va->step > steps) {
		fprintf(stderr, "aspace %s: %s has %d step%s; --step %d is beyond its end\n", va->cmd, src->name, steps,
			steps == 1 ? "" : "s", va->step);
		return EXIT_USAGE;
	}
	if (va->process) {
		char *end;
		long pid = strtol(va->process, &end, 10);

		if (!*va->process || *end || pid <= 0 || pid > 0x7fffffff) {
			fprintf(stderr, "aspace %s: -p wants a pid of the log, got '%s'\n", va->cmd, va->process);
			return EXIT_USAGE;
		}
		ro.focus_pid = (int)pid;
	}
	if ((va->npos > 0 && !log_number(va->cmd, "ADDR", va->pos[0], &c.addr)) ||
	    (va->npos > 1 && !log_number(va->cmd, "LENGTH", va->pos[1], &c.len)))
		return EXIT_USAGE;
	ro.stop_at_step = va->step >= 0;
	ro.stop_step = va->step;
	ro.stop_at_line = va->line >= 0;
	ro.stop_line = va->line;
	/* The replay's own text (differences, notes) is not the view's. */
	out = open_memstream(&buf, &len);
	if (!out)
		return tool_fail(va->cmd, -ENOMEM);
	status = replay_run(&src->log, &ro, out);
	fclose(out);
	free(buf);
	if (status == EXIT_USAGE)
		return status;
	return c.status;
}

static int view_main(int argc, char **argv, const char *cmd, int max_pos)
{
	struct view_args va;
	struct source src;
	struct script *s;
	struct runner *r = NULL;
	int proc = -1, status;
	uint64_t addr = 0, len = 0;
	struct as_mm *mm;

	status = parse_args(argc, argv, cmd, max_pos, &va);
	if (status)
		return status < 0 ? EXIT_OK : status;
	status = source_load(cmd, va.script, &src);
	if (status)
		return status;
	if (src.is_log) {
		status = log_view(&va, &src);
		source_free(&src);
		return status;
	}
	s = src.script;
	status = run_to(&va, s, &r, &proc);
	if (status)
		goto out;
	mm = r->procs[proc].mm;
	if (!strcmp(cmd, "pagetable")) {
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
	}
	if (va.json) {
		status = print_view(cmd, header(r, proc), NULL, mm, r->m, addr, va.npos > 1, len);
	} else {
		char title[512];

		snprintf(title, sizeof(title), "%s (pid %d) after step %d of %s", r->procs[proc].name,
			 r->procs[proc].pid, r->step, s->name);
		status = print_view(cmd, NULL, title, mm, r->m, addr, va.npos > 1, len);
	}
out:
	if (r && runner_free(r) && !status)
		status = EXIT_CHECK;
	source_free(&src);
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
