/*
 * aspace demo: the main job, a narrated tour of what aspace simulates. It
 * grows as the subsystems land.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

void tool_print_buddyinfo(struct as_machine *m, FILE *out);

static void say(const char *text)
{
	printf("\n== %s\n", text);
}

int cmd_demo(int argc, char **argv)
{
	struct as_machine *m;
	struct as_mm *mm;
	struct as_mm_layout lay;
	int rc;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: aspace demo\n\nA narrated tour of the simulated machine and an address space.\n");
		return EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "usage: aspace demo\n");
		return EXIT_USAGE;
	}

	say("A machine with 1 GiB of simulated RAM: free blocks per buddy order (like /proc/buddyinfo)");
	rc = as_machine_new(NULL, &m);
	if (rc)
		return tool_fail("as_machine_new", rc);
	tool_print_buddyinfo(m, stdout);

	say("An empty address space: its layout with address randomization off");
	rc = as_mm_new(m, &mm);
	if (rc) {
		as_machine_free(m);
		return tool_fail("as_mm_new", rc);
	}
	as_mm_get_layout(mm, &lay);
	printf("task size  %#llx  (47-bit user space)\n", (unsigned long long)lay.task_size);
	printf("mmap_base  %#llx  (below the 8 MiB stack limit, the guard gap and a 128 MiB minimum)\n",
	       (unsigned long long)lay.mmap_base);
	printf("its page tables took a frame for the PGD:\n");
	tool_print_buddyinfo(m, stdout);

	say("/proc/PID/maps of the empty space: only the vsyscall gate area");
	as_mm_write_maps(mm, stdout);

	say("Tearing the space down gives every frame back");
	as_mm_put(mm);
	as_machine_drain(m);
	tool_print_buddyinfo(m, stdout);
	rc = as_machine_check(m, stderr);
	printf("invariant checker: %s\n", rc ? "FAILED" : "all invariants hold");
	as_machine_free(m);
	return rc ? EXIT_CHECK : EXIT_OK;
}
