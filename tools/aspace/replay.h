/*
 * replay — run what a strace log says a program did to its memory on
 * aspace, process by process, and compare every result with the kernel's
 * (cmd_replay.c; `aspace trace` records a log and replays it).
 */
#ifndef ASPACE_TOOL_REPLAY_H
#define ASPACE_TOOL_REPLAY_H

#include "strace.h"

#include <aspace/aspace.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/*
 * A task of the log as the replay sees it. Indices into the array are
 * stable for the whole replay (a reused pid gets a new entry).
 */
struct replay_proc {
	int pid;
	struct as_mm *mm;       /* NULL before its first call or execve, and once it exited */
	bool fixed_brk;         /* randomized: the break was set from the log */
	char name[64];          /* like comm: the program's base name, inherited at clone */
	int parent;             /* index of the task that cloned it, -1 */
	const char *how;        /* "initial", "fork", "vfork", "thread" */
	int born, died;         /* steps; died -1 while it lives */
	struct { int step; char *path; } *execs;
	int nexecs;
};

/*
 * What an observer sees: after step 0 (nothing replayed yet, e NULL), after
 * every step, and once at the end (done; the spaces are still there);
 * returning false ends the replay there (it still gets the end). A
 * step is one event the replay acts on, in the order it replays them: an
 * execve, a clone/fork/vfork, a memory call, a task's exit. Calls the
 * replay does not model are not steps.
 */
struct replay_snap {
	int step;
	const struct st_event *e;   /* the event of this step; NULL at step 0 and at the end */
	const char *result;         /* "0x7ffff7fc0000 (aspace: the same)", "" when none */
	int cur;                    /* e's task (index in procs), or at the end the focus; -1 */
	const struct replay_proc *procs;
	size_t nprocs;
	struct as_machine *m;
	const struct as_machine_config *cfg;
	bool done;
	int exit_line;              /* done: the focus was stopped right before its exit at this line (0: not) */
};
typedef bool (*replay_observer)(void *ctx, const struct replay_snap *s);

struct replay_opts {
	bool json;          /* one JSON document on out instead of text */
	bool verbose;       /* every call, not only those that differ */
	const char *name;   /* the log's name in messages */
	bool show_exit;     /* print the first process's maps and counters when it exits */
	/* Observing and stopping (report and views); all off in a zeroed struct. */
	replay_observer observe;
	void *observe_ctx;
	bool stop_at_step, stop_at_line;
	int stop_step;      /* stop after this many steps */
	int stop_line;      /* stop before the first event replayed after this line of the log */
	bool view;          /* for a view of one task: the replay stops right before the
			       focus's exit when that would come first */
	int focus_pid;      /* the task a view shows (0: the task of the last step) */
};

/*
 * Replay a parsed log. Text (or JSON) to out. Returns the exit status: 0
 * when every replayed call matched, 1 otherwise. The last text line reads
 * `replay: N calls, M matched, K differed`.
 */
int replay_run(const struct st_log *log, const struct replay_opts *o, FILE *out);

/* Is e a step (an event the replay acts on)? */
bool replay_is_step(const struct st_event *e);
/* The key the replay orders events by: where a clone began, where other calls finished. */
int replay_key(const struct st_event *e);

/*
 * The demo's last part (cmd_demo.c): trace a real program of this machine
 * and replay it, showing its simulated maps and counters at exit and how
 * many of the kernel's results aspace reproduced, and (report non-NULL)
 * writing the HTML report of the replay there. 0, 1, 2 when the report
 * cannot be written, or 77 when strace is missing (nothing printed but a
 * note).
 */
int trace_demo(FILE *out, const char *report);

#endif
