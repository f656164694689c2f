/*
 * consts — the symbolic names scripts and output use: system call flags by
 * family (PROT_*, MAP_*, MADV_*, ...), errno names, signals and their
 * si_codes. Values are Linux's x86-64 ones, from the system headers where
 * they define them.
 */
#ifndef ASPACE_TOOL_CONSTS_H
#define ASPACE_TOOL_CONSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A family of constants: an argument of a call takes the names of one family. */
enum family {
	FAM_NUM,    /* plain numbers: NULL, unlimited */
	FAM_PROT,
	FAM_MAP,
	FAM_MADV,
	FAM_MREMAP,
	FAM_MCL,
	FAM_MS,
	FAM_MLOCK,
	FAM_RLIMIT,
	FAM_CAP,
	FAM_OPEN,
	FAM_SYS,
	FAM_NR
};

struct constant {
	const char *name;
	uint64_t value;
	enum family fam;
};

/* The constant called `name` (exact, case-sensitive), or NULL. */
const struct constant *const_lookup(const char *name, size_t len);
/* The closest known name (edit distance <= 2) in `fam` (FAM_NR: any), or NULL. */
const char *const_suggest(const char *name, size_t len, enum family fam);
/* "PROT_*", "MAP_*", ... for messages. */
const char *family_pattern(enum family fam);
/* Whether the family is a bit mask (decoded as A|B) rather than an enumeration. */
bool family_is_mask(enum family fam);

/*
 * Print `value` symbolically into buf: PROT_READ|PROT_WRITE, MAP_PRIVATE|
 * MAP_ANONYMOUS, MADV_DONTNEED; unknown bits as a hex remainder, as strace
 * does. Returns buf.
 */
const char *const_format(enum family fam, uint64_t value, char *buf, size_t len);

/* errno names: "EINVAL" for EINVAL, NULL when unknown; and back (0 when unknown). */
const char *errno_name(int err);
int errno_by_name(const char *name, size_t len);

/* Signals and si_codes as Linux names them: SIGSEGV, SEGV_MAPERR. */
const char *signal_name(int signo);
int signal_by_name(const char *name, size_t len);
const char *sicode_name(int signo, int code);
int sicode_by_name(int signo, const char *name, size_t len); /* 0 when unknown */

/* Levenshtein distance, capped at cap + 1. */
int edit_distance(const char *a, size_t alen, const char *b, size_t blen, int cap);

#endif
