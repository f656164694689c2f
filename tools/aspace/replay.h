/*
 * replay — run what a strace log says a program did to its memory on
 * aspace, process by process, and compare every result with the kernel's
 * (cmd_replay.c; `aspace trace` records a log and replays it).
 */
#ifndef ASPACE_TOOL_REPLAY_H
#define ASPACE_TOOL_REPLAY_H

#include "strace.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct replay_opts {
	bool json;          /* one JSON document on out instead of text */
	bool verbose;       /* every call, not only those that differ */
	const char *name;   /* the log's name in messages */
	bool show_exit;     /* print the first process's maps and counters when it exits */
};

/*
 * Replay a parsed log. Text (or JSON) to out. Returns the exit status: 0
 * when every replayed call matched, 1 otherwise. The last text line reads
 * `replay: N calls, M matched, K differed`.
 */
int replay_run(const struct st_log *log, const struct replay_opts *o, FILE *out);

/*
 * The demo's last part (cmd_demo.c): trace a real program of this machine
 * and replay it, showing its simulated maps and counters at exit and how
 * many of the kernel's results aspace reproduced. 0, 1, or 77 when strace
 * is missing (nothing printed but a note).
 */
int trace_demo(FILE *out);

#endif
