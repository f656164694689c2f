/*
 * script — the scenario language of `aspace run` (grammar: docs/COMMAND.md).
 *
 * A script is parsed whole before it runs, so that every syntax error (an
 * unknown op, a bad number, a missing argument, an undefined $name, a flag
 * of the wrong family) is reported with file:line:col before anything
 * happens. The runner then executes statements one by one on one machine
 * and any number of processes (each an as_mm), and tells an observer after
 * every step: the views subcommands stop at a step, the report takes a
 * snapshot of every process there.
 *
 * Vocabulary: a *statement* is one line (or an `expect maps` block); a
 * *step* is a statement that acts on the simulation (a system call, an
 * access, fork/thread/exit/exec, a limit or file change) as opposed to
 * views, `say`, `expect` and assignments. Step 0 is the state before the
 * first step; step N the state after the N-th.
 */
#ifndef ASPACE_TOOL_SCRIPT_H
#define ASPACE_TOOL_SCRIPT_H

#include "consts.h"

#include <aspace/aspace.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum op {
	OP_NONE,
	/* system calls */
	OP_MMAP, OP_MUNMAP, OP_MPROTECT, OP_MREMAP, OP_MADVISE, OP_MLOCK, OP_MLOCK2, OP_MUNLOCK,
	OP_MLOCKALL, OP_MUNLOCKALL, OP_MSYNC, OP_MINCORE, OP_BRK, OP_SYSCALL,
	/* accesses */
	OP_READ, OP_WRITE, OP_FETCH, OP_TOUCH,
	/* processes and their settings */
	OP_FORK, OP_THREAD, OP_SWITCH, OP_EXIT, OP_EXEC, OP_SETRLIMIT, OP_SETCAPS, OP_SETIDS, OP_BRKBASE,
	OP_SETLAYOUT, OP_REGIONS,
	/* host files for file mappings */
	OP_OPEN, OP_TMPFILE, OP_PWRITE, OP_FTRUNCATE, OP_CLOSE,
	/* views */
	OP_MAPS, OP_SMAPS, OP_PAGETABLE, OP_COUNTERS, OP_BUDDYINFO, OP_CHECK, OP_LAYOUT, OP_PS,
	/* the rest */
	OP_MACHINE, OP_SAY, OP_LET, OP_EXPECT, OP_EXPECT_MAPS,
	OP_NR
};

enum expr_kind { E_NUM, E_VAR, E_BUILTIN, E_UNARY, E_BINARY };

/* An integer expression: numbers, constants, $names, builtins, + - * / | & ~. */
struct expr {
	enum expr_kind kind;
	int col;            /* 1-based column of its first character */
	uint64_t num;       /* E_NUM (constants fold to numbers) */
	int index;          /* E_VAR: variable; E_BUILTIN: builtin id */
	char op;            /* E_UNARY: - ~; E_BINARY: + - * / | & */
	struct expr *l, *r;
};

enum arg_kind { A_EXPR, A_STRING, A_FILL, A_WORD };

struct arg {
	enum arg_kind kind;
	int col;
	struct expr *e;             /* A_EXPR */
	char *s;                    /* A_STRING bytes, A_WORD text */
	size_t len;
	struct expr *fill_byte, *fill_len; /* A_FILL */
};

enum outcome_kind { O_OK, O_ERRNO, O_VALUE, O_SIGNAL, O_BYTES, O_FILL, O_VEC };

/* What `=> ...` after a step expects of it. */
struct outcome {
	enum outcome_kind kind;
	int col;
	int err;                    /* O_ERRNO */
	struct expr *value;         /* O_VALUE; O_SIGNAL: the address or NULL */
	int signo, code;            /* O_SIGNAL; code 0 = any */
	char *bytes;                /* O_BYTES; O_VEC: '0'/'1' digits */
	size_t len;
	struct expr *fill_byte, *fill_len; /* O_FILL */
};

enum cmp { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

#define STMT_MAX_ARGS 16

struct stmt {
	int line, col;              /* where the op word is */
	enum op op;
	int var;                    /* $var = ...: variable index, or -1 */
	int nargs;
	struct arg args[STMT_MAX_ARGS];
	struct outcome *out;        /* => ..., or NULL */
	/* OP_EXPECT */
	struct expr *lhs, *rhs;
	enum cmp cmp;
	int cmp_col;
	/* OP_EXPECT_MAPS: lines normalized to single spaces; range or NULL.
	   OP_REGIONS: the same lines, the block's smaps text */
	char **lines;
	int nlines;
	struct expr *lo, *hi;
	/* OP_MACHINE is applied at parse time to script.cfg */
	const char *src;            /* the source line, for messages and the report */
	int step;                   /* 1-based step number for steps, 0 otherwise */
};

struct arena;

struct script {
	char *name;                 /* as given, "<stdin>" for - */
	char *text;                 /* the whole source, lines split in place */
	char **line_text;           /* line_text[i] is line i + 1 */
	int nlines;
	struct stmt *stmts;
	int nstmts, cap;
	char **vars;                /* variable names, without the $ */
	int nvars, vars_cap;
	struct as_machine_config cfg;
	bool has_machine;
	int machine_line;           /* where the machine line is, 0 without one */
	int nsteps;
	struct arena *arena;
};

/*
 * Parse a script. `name` is used in messages. On a syntax error prints
 * "name:line:col: error: ..." with the line and a caret to err and returns
 * NULL. load reads a file (or stdin for "-"); NULL on an unreadable file
 * too (message printed).
 */
struct script *script_parse(const char *name, const char *text, size_t len, FILE *err);
struct script *script_load(const char *path, FILE *err);
void script_free(struct script *s);

/* The op's name as written in scripts. */
const char *op_name(enum op op);

/* ---- Running ---- */

struct exec_event {
	int step;
	char *path;
};

/* A process: a task using a space. Threads share their parent's space. */
struct proc {
	char *name;
	int pid;
	int parent;                 /* index in runner.procs, -1 for the first */
	const char *how;            /* "initial", "fork", "thread" */
	struct as_mm *mm;           /* NULL once exited */
	int born_step, died_step;   /* died_step -1 while alive */
	struct exec_event *execs;
	int nexecs;
};

struct runner;

/* Called at step 0 (s NULL) and after every step; return false to stop. */
typedef bool (*runner_observer)(void *ctx, struct runner *r, const struct stmt *s);

struct runner_opts {
	FILE *out;                  /* text output of steps and views; NULL: none */
	json_t *log;                /* a JSON array to append one record per statement; or NULL */
	bool echo;                  /* print each step as it runs (strace style) */
	int stop_step;              /* stop after this step (-1: run to the end) */
	int stop_line;              /* stop before the first statement after this line (-1) */
	runner_observer observe;
	void *observe_ctx;
	bool progress;              /* progress on stderr when it is a terminal */
	bool silent;                /* no messages for failed expectations (views) */
};

struct runner {
	struct script *script;
	struct runner_opts opts;
	struct as_machine *m;
	struct proc *procs;
	int nprocs, procs_cap;
	int cur;                    /* index of the current process, -1 when none */
	uint64_t *vals;             /* variable values */
	bool *defined;
	int step;                   /* steps done */
	const struct stmt *stmt;    /* the statement running, for the panic hook */
	int failed_expects, passed_expects;
	bool check_failed;
	bool stopped;               /* the observer or a stop option ended the run early */
	int status;                 /* 0, 1 or 2 */
	char last_result[1024];      /* text of the last step's result, for the report */
	int *fds;                   /* host descriptors opened by the script */
	int nfds, fds_cap;
};

/*
 * Run `s` to its end (or to opts->stop_step / stop_line, or until the
 * observer says stop). Returns the exit status: 0, 1 (an expectation or a
 * check failed) or 2 (an input error at run time, e.g. switch to an unknown
 * process; printed with file:line:col). The runner keeps its processes
 * until runner_free, so that a caller can look at them.
 */
struct runner *runner_new(struct script *s, const struct runner_opts *opts);
int runner_run(struct runner *r);
/*
 * Every process exits, the machine is drained, checked and freed. Returns 1
 * when the checker failed or frames leaked (messages on stderr), else 0.
 */
int runner_free(struct runner *r);
/* A live process by name, or the current one for NULL; -1 when none. */
int runner_find(struct runner *r, const char *name);

/*
 * An expression given on the command line (e.g. `aspace pagetable SCRIPT
 * '$a+4K'`), in the script's names; `what` names it in messages. NULL after
 * printing an error. runner_eval evaluates it in the runner's state: false
 * (message printed) when it uses a $name the run has not assigned yet.
 */
struct expr *script_parse_expr(struct script *s, const char *what, const char *text, FILE *err);
bool runner_eval(struct runner *r, const char *text, const struct expr *e, uint64_t *out);

/* Builtin names usable in expressions (counters, layout, machine stats). */
int builtin_lookup(const char *name, size_t len);
const char *builtin_name(int id);

#endif
