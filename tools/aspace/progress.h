/*
 * progress — "what: 1234/5678 (21%)" on standard error while long work runs,
 * only when standard error is a terminal, redrawn at most ten times a second
 * and only once the work has taken half a second. Nothing is printed
 * otherwise, so logs and pipes stay clean.
 */
#ifndef ASPACE_TOOL_PROGRESS_H
#define ASPACE_TOOL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct progress {
	bool on;
	bool shown;
	const char *what;
	uint64_t total;
	unsigned calls;
	struct timespec start, last;
};

void progress_begin(struct progress *p, const char *what, uint64_t total, bool wanted);
void progress_update(struct progress *p, uint64_t done);
void progress_end(struct progress *p);

/*
 * For work in a few long phases (aspace bench): "what N/TOTAL: label",
 * drawn at once when the indicator is on (no half-second wait, no rate
 * limit: a caller draws it once per phase). progress_clear erases the line
 * so that a line of results can be printed; the next phase redraws it.
 */
void progress_phase(struct progress *p, uint64_t n, const char *label);
void progress_clear(struct progress *p);

#endif
