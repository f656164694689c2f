/* aspace machine: create a simulated machine and show its physical memory. */
#include "cmd.h"

#include "views.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void machine_usage(FILE *out)
{
	fprintf(out, "usage: aspace machine [--ram MIB] [--json]\n\n"
		     "Create a simulated machine (default 1024 MiB of RAM), run its invariant\n"
		     "checker and print its free memory per buddy order.\n");
}

int cmd_machine(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ram", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct as_machine_config cfg;
	struct as_machine *m;
	bool json = false;
	int c, rc;

	as_machine_config_init(&cfg);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': {
			char *end;
			unsigned long long mib = strtoull(optarg, &end, 10);

			if (*end || mib == 0 || optarg[0] == '-')
				return tool_usage_error("machine", "--ram wants a number of MiB, got '%s'", optarg);
			cfg.ram_bytes = (uint64_t)mib << 20;
			break;
		}
		case 'j':
			json = true;
			break;
		case 'h':
			machine_usage(stdout);
			return EXIT_OK;
		default:
			if (optopt == 'r')
				return tool_usage_error("machine", "--ram wants a number of MiB");
			return tool_usage_error("machine", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return tool_usage_error("machine", "unexpected argument '%s'", argv[optind]);
	rc = as_machine_new(&cfg, &m);
	if (rc == -EINVAL) {
		fprintf(stderr, "aspace machine: invalid machine configuration\n");
		return EXIT_USAGE;
	}
	if (rc)
		return tool_fail("as_machine_new", rc);
	if (json) {
		json_t *doc = json_object(), *b;

		view_buddyinfo(m, NULL, &b);
		json_object_set_new(doc, "config", machine_config_json(&cfg));
		json_object_set_new(doc, "memory", b);
		rc = as_machine_check(m, stderr);
		json_object_set_new(doc, "check", json_boolean(rc == 0));
		tool_print_json(doc, stdout);
	} else {
		view_buddyinfo(m, stdout, NULL);
		rc = as_machine_check(m, stderr);
	}
	as_machine_free(m);
	return rc ? EXIT_CHECK : EXIT_OK;
}
