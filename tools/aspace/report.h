/*
 * report — the data behind `aspace report`: a timeline of snapshots of every
 * process (its regions, RSS, faults) after each step, the process tree, and
 * a self-contained HTML page that draws it.
 *
 * The model is plain JSON (format "aspace-report/1") so that any producer
 * can feed the page: the script runner through report_observe, and a
 * replayed strace log through report_log (its steps are the replay's: see
 * struct replay_snap; a step's text is the log's line, its result the
 * kernel's with aspace's in parentheses). Shape:
 *
 *   { format, title, source: { kind: "script" | "log", name },
 *     machine: { ram_bytes, ... },
 *     processes: [ { id, name, pid, parent (id or -1), how ("initial", "fork",
 *                    "thread", and for a log "vfork"), born, died (step or null),
 *                    execs: [ { step, path } ] } ],
 *     layouts: [ [ { start, end, perms, name, kind, rss, anon, locked } ... ] ... ],
 *     steps: [ { step, line, text, result, process,
 *                procs: [ { id, layout (index), regions, vm, rss, rss_anon, rss_file,
 *                           min_flt, maj_flt, cow_copies } ],
 *                machine: { free_frames, user_frames, pgtable_frames } } ] }
 *
 * Addresses are hex strings; sizes are bytes except the counters' pages.
 * Identical region lists are stored once in `layouts`. A step's `procs`
 * holds the live spaces, each once (a log's threads share one).
 */
#ifndef ASPACE_TOOL_REPORT_H
#define ASPACE_TOOL_REPORT_H

#include "replay.h"
#include "script.h"

#include <jansson.h>

struct report;

/* A process in a snapshot: its index in the producer's table and its space. */
struct report_task {
	int id;
	struct as_mm *mm;
	bool unchanged;     /* its regions are those of its previous snapshot (not read again) */
};

struct report *report_new(const char *title, const char *source_kind, const char *source_name,
			  const struct as_machine_config *cfg);
/* cfg may be NULL: the log's producer sets the machine with its first snapshot. */

/* A snapshot of every process in tasks after a step (process: its doer, -1). */
void report_add_step(struct report *rep, int step, int line, const char *text, const char *result, int process,
		     const struct report_task *tasks, int n, struct as_machine *m);
/* The model with this process tree (stolen); the report is freed. */
json_t *report_take(struct report *rep, json_t *processes);
/* A runner observer: adds a snapshot after every step (and step 0). */
bool report_observe(void *ctx, struct runner *r, const struct stmt *st);
/* The model, with the process tree of the finished run; the report is freed. */
json_t *report_finish(struct report *rep, struct runner *r);
/*
 * Write the page (json: the model) to path ("-": standard output) and say
 * so on echo (or standard output). 0, or an exit status.
 */
int report_save(json_t *model, const char *path, bool json, FILE *echo);
/* The page: the template with the model inlined. 0 or -errno. */
int report_write_html(json_t *model, FILE *out);

/*
 * Run a script with a report observer and write the page (json: the model)
 * to path ("-": standard output); echo non-NULL runs it visibly there (the
 * demo). Returns the run's exit status (2 when nothing was written).
 */
int report_script(struct script *s, const char *path, bool json, FILE *echo);

/*
 * Replay a log (options as base: its name, show_exit) with a report
 * observer and write the page. The replay's text goes to echo, or when
 * echo is NULL only its summary line to standard output. Returns the
 * replay's exit status (1: a call differed; the page is written all the
 * same), 2 when nothing was written.
 */
int report_log(const struct st_log *log, const struct replay_opts *base, const char *path, bool json, FILE *echo);

#endif
