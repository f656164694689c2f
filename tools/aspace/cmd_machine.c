/* aspace machine: create a simulated machine and show its physical memory. */
#include "cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tool_print_buddyinfo(struct as_machine *m, FILE *out);

/* One line like /proc/buddyinfo, then the frame accounting. */
void tool_print_buddyinfo(struct as_machine *m, FILE *out)
{
	struct as_machine_stats st;

	as_machine_get_stats(m, &st);
	fprintf(out, "Node 0, zone   Normal");
	for (int o = 0; o <= AS_MAX_ORDER; o++)
		fprintf(out, " %6llu", (unsigned long long)st.free_blocks[o]);
	fprintf(out, "\nframes: %llu total, %llu free (%llu in per-thread caches), %llu page tables, "
		     "%llu slab, %llu user, %llu reserved\n",
		(unsigned long long)st.total_frames, (unsigned long long)st.free_frames,
		(unsigned long long)st.cached_frames, (unsigned long long)st.pgtable_frames,
		(unsigned long long)st.slab_frames, (unsigned long long)st.user_frames,
		(unsigned long long)st.reserved_frames);
}

static void machine_usage(FILE *out)
{
	fprintf(out, "usage: aspace machine [--ram MIB]\n\n"
		     "Create a simulated machine (default 1024 MiB of RAM), run its invariant\n"
		     "checker and print its free memory per buddy order.\n");
}

int cmd_machine(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ram", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct as_machine_config cfg;
	struct as_machine *m;
	int c, rc;

	as_machine_config_init(&cfg);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': {
			char *end;
			unsigned long long mib = strtoull(optarg, &end, 10);

			if (*end || mib == 0) {
				fprintf(stderr, "aspace machine: --ram wants a number of MiB, got '%s'\n", optarg);
				return EXIT_USAGE;
			}
			cfg.ram_bytes = (uint64_t)mib << 20;
			break;
		}
		case 'h':
			machine_usage(stdout);
			return EXIT_OK;
		default:
			machine_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		machine_usage(stderr);
		return EXIT_USAGE;
	}
	rc = as_machine_new(&cfg, &m);
	if (rc == -EINVAL) {
		fprintf(stderr, "aspace machine: invalid machine configuration\n");
		return EXIT_USAGE;
	}
	if (rc)
		return tool_fail("as_machine_new", rc);
	tool_print_buddyinfo(m, stdout);
	rc = as_machine_check(m, stderr);
	as_machine_free(m);
	return rc ? EXIT_CHECK : EXIT_OK;
}
