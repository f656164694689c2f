/* The report's data model and page; see report.h. */
#include "report.h"

#include "cmd.h"
#include "views.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct report {
	json_t *doc, *layouts, *steps;
	char **last_key;     /* per process: its previous layout, serialized */
	int *last_index;
	int nprocs;
};

struct report *report_new(const char *title, const char *source_kind, const char *source_name,
			  const struct as_machine_config *cfg)
{
	struct report *rep = calloc(1, sizeof(*rep));

	if (!rep)
		return NULL;
	rep->doc = json_object();
	rep->layouts = json_array();
	rep->steps = json_array();
	json_object_set_new(rep->doc, "format", json_string("aspace-report/1"));
	json_object_set_new(rep->doc, "title", json_text(title));
	json_object_set_new(rep->doc, "source", json_pack("{s:s, s:o}", "kind", source_kind, "name",
							  json_text(source_name)));
	if (cfg)
		json_object_set_new(rep->doc, "machine", machine_config_json(cfg));
	return rep;
}

/* The layout index of a process's regions now, reusing its previous one when unchanged. */
static int layout_of(struct report *rep, int id, struct as_mm *mm)
{
	struct region *rs;
	size_t n;
	json_t *arr = json_array();
	char *key;

	if (id >= rep->nprocs) {
		int grow = id + 8;

		rep->last_key = realloc(rep->last_key, (size_t)grow * sizeof(char *));
		rep->last_index = realloc(rep->last_index, (size_t)grow * sizeof(int));
		for (int i = rep->nprocs; i < grow; i++) {
			rep->last_key[i] = NULL;
			rep->last_index[i] = -1;
		}
		rep->nprocs = grow;
	}
	if (regions_read(mm, &rs, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			json_t *o = json_object();

			json_object_set_new(o, "start", json_hex(rs[i].start));
			json_object_set_new(o, "end", json_hex(rs[i].end));
			json_object_set_new(o, "perms", json_string(rs[i].perms));
			json_object_set_new(o, "name", json_text(rs[i].name));
			json_object_set_new(o, "kind", json_string(rs[i].kind));
			json_object_set_new(o, "rss", json_integer((json_int_t)rs[i].rss));
			json_object_set_new(o, "anon", json_integer((json_int_t)rs[i].anon));
			json_object_set_new(o, "locked", json_integer((json_int_t)rs[i].locked));
			json_array_append_new(arr, o);
		}
		free(rs);
	}
	key = json_dumps(arr, JSON_COMPACT);
	if (key && rep->last_key[id] && !strcmp(key, rep->last_key[id])) {
		free(key);
		json_decref(arr);
		return rep->last_index[id];
	}
	free(rep->last_key[id]);
	rep->last_key[id] = key;
	json_array_append_new(rep->layouts, arr);
	rep->last_index[id] = (int)json_array_size(rep->layouts) - 1;
	return rep->last_index[id];
}

static char *trimmed(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return strndup(s, n);
}

void report_add_step(struct report *rep, int step, int line, const char *text, const char *result, int process,
		     const struct report_task *tasks, int n, struct as_machine *m)
{
	json_t *js = json_object(), *procs = json_array();
	struct as_machine_stats ms;

	json_object_set_new(js, "step", json_integer(step));
	json_object_set_new(js, "line", json_integer(line));
	json_object_set_new(js, "text", json_text(text));
	json_object_set_new(js, "result", json_text(result ? result : ""));
	if (process >= 0)
		json_object_set_new(js, "process", json_integer(process));
	for (int i = 0; i < n; i++) {
		struct as_mm *mm = tasks[i].mm;
		struct as_mm_counters c;
		json_t *p;

		as_mm_get_counters(mm, &c);
		p = json_object();
		json_object_set_new(p, "id", json_integer(tasks[i].id));
		json_object_set_new(p, "layout", json_integer(tasks[i].unchanged && tasks[i].id < rep->nprocs &&
								      rep->last_index[tasks[i].id] >= 0
								      ? rep->last_index[tasks[i].id]
								      : layout_of(rep, tasks[i].id, mm)));
		json_object_set_new(p, "regions", json_integer((json_int_t)c.map_count));
		json_object_set_new(p, "vm", json_integer((json_int_t)c.total_vm));
		json_object_set_new(p, "rss", json_integer((json_int_t)(c.rss_anon + c.rss_file + c.rss_shmem)));
		json_object_set_new(p, "rss_anon", json_integer((json_int_t)c.rss_anon));
		json_object_set_new(p, "rss_file", json_integer((json_int_t)c.rss_file));
		json_object_set_new(p, "min_flt", json_integer((json_int_t)c.min_flt));
		json_object_set_new(p, "maj_flt", json_integer((json_int_t)c.maj_flt));
		json_object_set_new(p, "cow_copies", json_integer((json_int_t)c.cow_copies));
		json_array_append_new(procs, p);
	}
	json_object_set_new(js, "procs", procs);
	as_machine_get_stats(m, &ms);
	json_object_set_new(js, "machine", json_pack("{s:I, s:I, s:I, s:I}", "total_frames",
						     (json_int_t)ms.total_frames, "free_frames",
						     (json_int_t)ms.free_frames, "user_frames",
						     (json_int_t)ms.user_frames, "pgtable_frames",
						     (json_int_t)ms.pgtable_frames));
	json_array_append_new(rep->steps, js);
}

bool report_observe(void *ctx, struct runner *r, const struct stmt *st)
{
	struct report *rep = ctx;
	struct report_task *tasks = calloc((size_t)r->nprocs + 1, sizeof(*tasks));
	char *t = st ? trimmed(st->src) : NULL;
	int n = 0;

	for (int i = 0; i < r->nprocs && tasks; i++)
		if (r->procs[i].mm)
			tasks[n++] = (struct report_task){ .id = i, .mm = r->procs[i].mm };
	report_add_step(rep, r->step, st ? st->line : 0, st ? (t ? t : "") : "(start: an empty space)",
			st ? r->last_result : "", r->cur, tasks, n, r->m);
	free(t);
	free(tasks);
	return true;
}

json_t *report_take(struct report *rep, json_t *processes)
{
	json_t *doc = rep->doc;

	json_object_set_new(doc, "processes", processes);
	json_object_set_new(doc, "layouts", rep->layouts);
	json_object_set_new(doc, "steps", rep->steps);
	for (int i = 0; i < rep->nprocs; i++)
		free(rep->last_key[i]);
	free(rep->last_key);
	free(rep->last_index);
	free(rep);
	return doc;
}

/* A log's observer: a snapshot after every step of the replay, the task tree at the end. */
struct log_report {
	struct report *rep;
	json_t *model;
};

static bool log_observe(void *ctx, const struct replay_snap *s)
{
	struct log_report *lr = ctx;
	struct report_task *tasks;
	char text[160];
	int n = 0;

	if (!lr->rep)
		return true;
	if (!json_object_get(lr->rep->doc, "machine") && s->cfg)
		json_object_set_new(lr->rep->doc, "machine", machine_config_json(s->cfg));
	if (s->done) {
		json_t *procs = json_array();

		for (size_t i = 0; i < s->nprocs; i++) {
			const struct replay_proc *p = &s->procs[i];
			json_t *execs = json_array();

			for (int k = 0; k < p->nexecs; k++)
				json_array_append_new(execs, json_pack("{s:i, s:o}", "step", p->execs[k].step, "path",
								       json_text(p->execs[k].path)));
			json_array_append_new(procs, json_pack("{s:i, s:o, s:i, s:i, s:s, s:i, s:o, s:o}", "id", (int)i,
							       "name", json_text(p->name), "pid", p->pid, "parent",
							       p->parent, "how", p->how, "born", p->born, "died",
							       p->died >= 0 ? json_integer(p->died) : json_null(),
							       "execs", execs));
		}
		lr->model = report_take(lr->rep, procs);
		lr->rep = NULL;
		return true;
	}
	/*
	 * A space is drawn once, under its first task: threads and vfork
	 * children share it. Only the space of the step's task can have
	 * changed (a replay makes no accesses): the others keep their regions.
	 */
	tasks = calloc(s->nprocs + 1, sizeof(*tasks));
	for (size_t i = 0; i < s->nprocs && tasks; i++) {
		bool seen = false;

		for (int k = 0; k < n && !seen; k++)
			seen = tasks[k].mm == s->procs[i].mm;
		if (s->procs[i].mm && s->procs[i].died < 0 && !seen)
			tasks[n++] = (struct report_task){ .id = (int)i, .mm = s->procs[i].mm,
							   .unchanged = s->e && s->cur >= 0 &&
									s->procs[i].mm != s->procs[s->cur].mm };
	}
	if (s->e && s->e->kind == ST_EXIT)
		snprintf(text, sizeof(text), "pid %d exits", s->e->pid);
	report_add_step(lr->rep, s->step, s->e ? s->e->line : 0,
			!s->e ? "(start: before the log's first call)"
			: s->e->kind == ST_EXIT ? text
			: s->e->text ? s->e->text : s->e->name,
			s->result, s->cur, tasks, n, s->m);
	free(tasks);
	return true;
}

int report_log(const struct st_log *log, const struct replay_opts *base, const char *path, bool json, FILE *echo)
{
	struct replay_opts ro = *base;
	struct log_report lr = { .rep = report_new(base->name, "log", base->name, NULL) };
	char *buf = NULL;
	size_t len = 0;
	FILE *out = echo ? echo : open_memstream(&buf, &len);
	int status, rc;

	if (!lr.rep || !out) {
		if (lr.rep)
			json_decref(report_take(lr.rep, json_array()));
		return tool_fail("report", -ENOMEM);
	}
	ro.observe = log_observe;
	ro.observe_ctx = &lr;
	ro.json = false;
	status = replay_run(log, &ro, out);
	if (!echo) {
		fclose(out);
		/* Of the replay's text, its last line: `replay: N calls, M matched, K differed`. */
		if (buf && strcmp(path, "-")) {
			char *last = strstr(buf, "replay: ");

			while (last && strstr(last + 1, "\nreplay: "))
				last = strstr(last + 1, "\nreplay: ") + 1;
			if (last)
				fputs(last, stdout);
		}
		free(buf);
	}
	if (lr.rep)
		json_decref(report_take(lr.rep, json_array()));
	if (!lr.model)
		return status == EXIT_OK ? EXIT_CHECK : status;
	rc = report_save(lr.model, path, json, echo);
	json_decref(lr.model);
	return rc ? rc : status;
}

json_t *report_finish(struct report *rep, struct runner *r)
{
	json_t *procs = json_array();

	for (int i = 0; i < r->nprocs; i++) {
		struct proc *p = &r->procs[i];
		json_t *execs = json_array();

		for (int k = 0; k < p->nexecs; k++)
			json_array_append_new(execs, json_pack("{s:i, s:o}", "step", p->execs[k].step, "path",
							       json_text(p->execs[k].path)));
		json_array_append_new(procs, json_pack("{s:i, s:s, s:i, s:i, s:s, s:i, s:o, s:o}", "id", i, "name",
						       p->name, "pid", p->pid, "parent", p->parent, "how", p->how,
						       "born", p->born_step, "died",
						       p->died_step >= 0 ? json_integer(p->died_step) : json_null(),
						       "execs", execs));
	}
	return report_take(rep, procs);
}

int report_save(json_t *model, const char *path, bool json, FILE *echo)
{
	FILE *out = strcmp(path, "-") ? fopen(path, "w") : stdout;
	int rc;

	if (!out) {
		fprintf(stderr, "aspace report: %s: %s\n", path, strerror(errno));
		return EXIT_USAGE;
	}
	if (json)
		rc = json_dumpf(model, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER) ? -EIO : 0;
	else
		rc = report_write_html(model, out);
	if (out != stdout) {
		if (fclose(out) && !rc)
			rc = -errno;
	} else {
		fflush(out);
	}
	if (rc) {
		fprintf(stderr, "aspace report: writing %s: %s\n", path, strerror(-rc));
		return EXIT_CHECK;
	}
	if (out != stdout) {
		size_t steps = json_array_size(json_object_get(model, "steps")) - 1;
		size_t procs = json_array_size(json_object_get(model, "processes"));

		fprintf(echo ? echo : stdout, "%swrote %s: %zu step%s, %zu process%s%s\n", echo ? "\n" : "", path,
			steps, steps == 1 ? "" : "s", procs, procs == 1 ? "" : "es",
			json ? "" : " (open it in a browser)");
	}
	return 0;
}

#define PLACEHOLDER "@ASPACE_DATA@"

int report_write_html(json_t *model, FILE *out)
{
	const char *tpl = embedded_report_html;
	const char *at = strstr(tpl, PLACEHOLDER);

	if (!at)
		return -EINVAL;
	fwrite(tpl, 1, (size_t)(at - tpl), out);
	/* Escaping '/' keeps "</script>" out of the inlined data. */
	if (json_dumpf(model, out, JSON_COMPACT | JSON_ESCAPE_SLASH | JSON_PRESERVE_ORDER))
		return -EIO;
	at += strlen(PLACEHOLDER);
	fwrite(at, 1, embedded_report_html_len - (size_t)(at - tpl), out);
	return ferror(out) ? -EIO : 0;
}
