/* aspace replay: placeholder until written. */
#include "cmd.h"

int cmd_replay(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "aspace replay: not yet\n");
	return EXIT_USAGE;
}
