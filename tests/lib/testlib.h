/*
 * Helpers shared by the test programs (cmocka). See tests/README.md.
 */
#ifndef ASPACE_TESTLIB_H
#define ASPACE_TESTLIB_H

#include <aspace/aspace.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A machine with `ram_mib` MiB of RAM and otherwise default settings. */
struct as_machine *t_machine_new(uint64_t ram_mib);

/*
 * Drain the machine's caches and assert that its invariant checker passes
 * and that every frame but the reserved ones is free again. Call it after
 * the last space of a test is gone, then free the machine.
 */
void t_assert_machine_clean(struct as_machine *m);

/* Assert as_machine_check() passes (memory may still be in use). */
void t_assert_machine_ok(struct as_machine *m);

#endif
