/*
 * report — the data behind `aspace report`: a timeline of snapshots of every
 * process (its regions, RSS, faults) after each step, the process tree, and
 * a self-contained HTML page that draws it.
 *
 * The model is plain JSON (format "aspace-report/1") so that any producer
 * can feed the page: today the script runner through report_observe; with
 * the proof issue, a replayed trace log (whose producer calls
 * report_add_step with its own processes). Shape:
 *
 *   { format, title, source: { kind: "script" | "log", name },
 *     machine: { ram_bytes, ... },
 *     processes: [ { id, name, pid, parent (id or -1), how, born, died (step or null),
 *                    execs: [ { step, path } ] } ],
 *     layouts: [ [ { start, end, perms, name, kind, rss, anon, locked } ... ] ... ],
 *     steps: [ { step, line, text, result, process,
 *                procs: [ { id, layout (index), regions, vm, rss, rss_anon, rss_file,
 *                           min_flt, maj_flt, cow_copies } ],
 *                machine: { free_frames, user_frames, pgtable_frames } } ] }
 *
 * Addresses are hex strings; sizes are bytes except the counters' pages.
 * Identical region lists are stored once in `layouts`.
 */
#ifndef ASPACE_TOOL_REPORT_H
#define ASPACE_TOOL_REPORT_H

#include "script.h"

#include <jansson.h>

struct report;

struct report *report_new(const char *title, const char *source_kind, const char *source_name,
			  const struct as_machine_config *cfg);
/* A runner observer: adds a snapshot after every step (and step 0). */
bool report_observe(void *ctx, struct runner *r, const struct stmt *st);
/* The model, with the process tree of the finished run; the report is freed. */
json_t *report_finish(struct report *rep, struct runner *r);
/* The page: the template with the model inlined. 0 or -errno. */
int report_write_html(json_t *model, FILE *out);

/*
 * Run a script with a report observer and write the page (json: the model)
 * to path ("-": standard output); echo non-NULL runs it visibly there (the
 * demo). Returns the run's exit status (2 when nothing was written).
 */
int report_script(struct script *s, const char *path, bool json, FILE *echo);

#endif
