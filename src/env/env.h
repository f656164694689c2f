/*
 * env — the only subsystem that talks to the host.
 *
 * Owns: host memory reservations (the simulated RAM and descriptor arrays),
 * the panic path for broken invariants, and the assertion macros every other
 * subsystem uses. Nothing outside src/env/ calls mmap, abort or writes to
 * stderr on its own (the page cache's file I/O, later, will live here too).
 *
 * Three error channels, never mixed (docs/ARCHITECTURE.md): public calls
 * return -errno; internal protocols return small enums; a broken invariant
 * is ENV_PANIC, which never returns.
 *
 * Assertions are graded: ENV_BUG_ON is always compiled in and guards
 * invariants whose check is cheap; ENV_DEBUG_BUG_ON and the validators run
 * only in debug builds (ASPACE_DEBUG), after every change.
 */
#ifndef ASPACE_ENV_H
#define ASPACE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AS_INTERNAL __attribute__((visibility("hidden")))
#define AS_MUST_CHECK __attribute__((warn_unused_result))
#define AS_LIKELY(x) __builtin_expect(!!(x), 1)
#define AS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Report a broken invariant through the panic hook and abort. */
_Noreturn void env_panic(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4))) AS_INTERNAL;

#define ENV_PANIC(...) env_panic(__FILE__, __LINE__, __VA_ARGS__)
#define ENV_BUG_ON(cond)                                                  \
	do {                                                              \
		if (AS_UNLIKELY(cond))                                    \
			env_panic(__FILE__, __LINE__, "BUG: %s", #cond); \
	} while (0)

#ifdef ASPACE_DEBUG
#define ENV_DEBUG 1
#define ENV_DEBUG_BUG_ON(cond) ENV_BUG_ON(cond)
#else
#define ENV_DEBUG 0
#define ENV_DEBUG_BUG_ON(cond) ((void)sizeof(cond))
#endif

/*
 * Reserve `bytes` of host memory, zero-filled and never committed up front
 * (MAP_NORESERVE). With `prefault` every page is touched now. NULL on failure.
 */
void *env_reserve(size_t bytes, bool prefault) AS_INTERNAL;
void env_release(void *p, size_t bytes) AS_INTERNAL;

/* Give host memory back without unmapping it: it reads as zero afterwards. */
void env_discard(void *p, size_t bytes) AS_INTERNAL;

/* Debug-build poison and junk patterns for freed and fresh objects. */
#define ENV_POISON_FREE 0x6b
#define ENV_JUNK_ALLOC 0xa5

#endif
