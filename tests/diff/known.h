/*
 * Divergences from the kernel that `aspace diff` found and that are not
 * fixed yet: each regression test named here still runs side by side; if
 * it diverges it is reported as skipped with the reason, and if it matches
 * the kernel the test FAILS so that the entry is removed (the list only
 * shrinks). docs/DIFF.md lists them with their causes.
 */
#ifndef ASPACE_TESTS_KNOWN_H
#define ASPACE_TESTS_KNOWN_H

#include <string.h>

struct known_divergence {
	const char *test;
	const char *why;
};

static const struct known_divergence known_divergences[] = {
	{ NULL, NULL } /* the end (the list may be empty) */
};

/* The reason a test is a known divergence, or NULL. */
static inline const char *known_divergence(const char *test)
{
	for (size_t i = 0; known_divergences[i].test; i++)
		if (!strcmp(known_divergences[i].test, test))
			return known_divergences[i].why;
	return NULL;
}

#endif
