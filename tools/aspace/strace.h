/*
 * strace — reading the logs `strace -f -y -o LOG` writes (Debian's strace
 * 6.x), for `aspace replay` and `aspace trace`.
 *
 * A log is a list of events: system calls with their arguments (as text)
 * and results, and the exits of tasks. A call a task began and finished
 * while others ran is written in two halves, `NAME(ARGS <unfinished ...>`
 * and later `<... NAME resumed>REST) = RESULT`, on lines of the same pid:
 * the parser joins them into one event that knows both lines. Anything
 * that is not such a line is malformed: the parser stops there and names
 * the line.
 */
#ifndef ASPACE_TOOL_STRACE_H
#define ASPACE_TOOL_STRACE_H

#include "consts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum st_kind { ST_CALL, ST_EXIT };

struct st_event {
	enum st_kind kind;
	int pid;
	int line;           /* where the call completed (its resumed line), or the exit line */
	int entry_line;     /* where it began */
	char name[32];
	char *args;         /* the arguments' text, both halves joined */
	char *text;         /* the call as the log wrote it (one line, halves joined) */
	bool has_ret;       /* false for `= ?` */
	int64_t ret;        /* the result, or -errno */
};

struct st_log {
	struct st_event *ev;
	size_t n, cap;
	int lines;
	bool has_pids;      /* lines carry pids (-f) */
	bool has_paths;     /* descriptors carry paths (-y) */
};

/* Parse a log. 0, or -1 with "LOG:LINE: what" in err. */
int st_parse(const char *path, struct st_log *log, char *err, size_t errlen);
int st_parse_text(const char *name, const char *text, size_t len, struct st_log *log, char *err, size_t errlen);
void st_free(struct st_log *log);

/* The top-level arguments of args (commas inside quotes, (), [], {}, <> don't split). */
int st_split(const char *args, char ***out);
void st_split_free(char **v, int n);

/*
 * A numeric argument: decimal, hex, NULL, negative, constants of family fam
 * joined with | (PROT_READ|PROT_WRITE, MAP_PRIVATE|0x40, 21<<MAP_HUGE_SHIFT),
 * a descriptor's number before its <path>. Comments are ignored. false when
 * it is none of these.
 */
bool st_value(const char *text, enum family fam, uint64_t *out);

/* The path of a descriptor argument `3</path>` (malloc'd), NULL without one; *deleted for `(deleted)`. */
char *st_fd_path(const char *text, bool *deleted);

/* A string argument "..." unescaped (malloc'd), NULL when it isn't one; *truncated when strace cut it. */
char *st_string(const char *text, bool *truncated);

/* An array of strings ["a", "b"] (malloc'd, NULL-terminated), NULL when it isn't one. */
char **st_string_array(const char *text, bool *truncated);

/* A mincore vector [1, 0, ...] into vec (at most cap entries): how many, -1 when it isn't one. */
int st_vector(const char *text, uint8_t *vec, int cap);

#endif
