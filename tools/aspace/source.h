/*
 * source — what `report` and the views read: a scenario SCRIPT or a strace
 * LOG (as `aspace trace -o` keeps it), told apart by content.
 *
 * The input is a log when its first line that is neither blank nor a
 * comment (`#`) begins as strace writes a line: an optional pid (`1234 `
 * or `[pid 1234] `) and timestamp, then a system call's name directly
 * followed by `(`, or `+++ `, `--- `, `<... `. A script's line never does:
 * its first word is an op, `$name`, `machine`... followed by a blank.
 * Everything else is read as a script.
 */
#ifndef ASPACE_TOOL_SOURCE_H
#define ASPACE_TOOL_SOURCE_H

#include "script.h"
#include "strace.h"

#include <stdbool.h>
#include <stddef.h>

struct source {
	bool is_log;
	struct script *script;   /* a script, parsed */
	struct st_log log;       /* a log, parsed */
	char *name;              /* as messages name it ("<stdin>" for -) */
};

/* Does this text look like a strace log (see above)? */
bool source_is_log(const char *text, size_t len);

/*
 * The whole of PATH ("-": standard input) in a malloc'd buffer, *len bytes.
 * 0, -ENOMEM, or another -errno of the open or the read (nothing to free).
 */
int source_read(const char *path, char **buf, size_t *len);

/*
 * Read PATH ("-": standard input) and parse it as what it holds. 0, or
 * EXIT_USAGE after a message on stderr naming the file (and the line).
 */
int source_load(const char *cmd, const char *path, struct source *src);
void source_free(struct source *src);

#endif
