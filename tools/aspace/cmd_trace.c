/* aspace trace: placeholder until written. */
#include "cmd.h"

int cmd_trace(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "aspace trace: not yet\n");
	return EXIT_USAGE;
}
