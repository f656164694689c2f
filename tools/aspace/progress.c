/* The progress indicator; see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void progress_begin(struct progress *p, const char *what, uint64_t total, bool wanted)
{
	*p = (struct progress){ .on = wanted && isatty(STDERR_FILENO), .what = what, .total = total };
	if (p->on) {
		clock_gettime(CLOCK_MONOTONIC, &p->start);
		p->last = p->start;
	}
}

void progress_update(struct progress *p, uint64_t done)
{
	struct timespec now;

	if (!p->on || (++p->calls & 31))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (since(&p->start, &now) < 0.5 || since(&p->last, &now) < 0.1)
		return;
	p->last = now;
	p->shown = true;
	if (p->total)
		fprintf(stderr, "\r%s %llu/%llu (%llu%%)\033[K", p->what, (unsigned long long)done,
			(unsigned long long)p->total, (unsigned long long)(done * 100 / p->total));
	else
		fprintf(stderr, "\r%s %llu\033[K", p->what, (unsigned long long)done);
	fflush(stderr);
}

void progress_end(struct progress *p)
{
	if (p->on && p->shown)
		fputs("\r\033[K", stderr);
	p->on = false;
}

void progress_phase(struct progress *p, uint64_t n, const char *label)
{
	if (!p->on)
		return;
	p->shown = true;
	fprintf(stderr, "\r%s %llu/%llu: %s\033[K", p->what, (unsigned long long)n,
		(unsigned long long)p->total, label);
	fflush(stderr);
}

void progress_clear(struct progress *p)
{
	if (p->on && p->shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->shown = false;
	}
}
