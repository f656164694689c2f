/* The aspace command: one file per subcommand, dispatched from main.c. */
#ifndef ASPACE_TOOL_CMD_H
#define ASPACE_TOOL_CMD_H

#include <aspace/aspace.h>

/* Exit codes: 0 success, 1 a check failed, 2 usage or input error. */
enum { EXIT_OK = 0, EXIT_CHECK = 1, EXIT_USAGE = 2 };

int cmd_demo(int argc, char **argv);
int cmd_machine(int argc, char **argv);

/* Print an aspace call's failure (-errno) with context; returns EXIT_CHECK. */
int tool_fail(const char *what, long rc);

#endif
