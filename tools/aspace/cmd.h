/*
 * The aspace command: one file per subcommand (cmd_*.c), dispatched from
 * main.c. The scenario language lives in script*.c and ops.c, the views of
 * spaces in views.c, the HTML report in report.c.
 */
#ifndef ASPACE_TOOL_CMD_H
#define ASPACE_TOOL_CMD_H

#include <aspace/aspace.h>
#include <jansson.h>
#include <stdio.h>

/* Exit codes: 0 success, 1 a check failed, 2 usage or input error. */
enum { EXIT_OK = 0, EXIT_CHECK = 1, EXIT_USAGE = 2 };

int cmd_run(int argc, char **argv);
int cmd_maps(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_pagetable(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_machine(int argc, char **argv);
int cmd_diff(int argc, char **argv);   /* cmd_diff.c, fuzz.c, shrink.c, repro.c */
int cmd_trace(int argc, char **argv);  /* cmd_trace.c */
int cmd_replay(int argc, char **argv); /* cmd_replay.c, strace_parse.c */
int cmd_bench(int argc, char **argv);

/* Print an aspace call's failure (-errno) with context; returns EXIT_CHECK. */
int tool_fail(const char *what, long rc);

/* "aspace CMD: unknown option ... (try `aspace CMD --help`)" and EXIT_USAGE. */
int tool_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write a JSON document (indented, newline-terminated); consumes j. 0 or EXIT_CHECK. */
int tool_print_json(json_t *j, FILE *out);

/* Embedded files (generated at build time from the source tree). */
extern const char embedded_report_html[];
extern const unsigned long embedded_report_html_len;
extern const char embedded_tour[];
extern const unsigned long embedded_tour_len;

#endif
