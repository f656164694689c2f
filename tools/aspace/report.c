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

bool report_observe(void *ctx, struct runner *r, const struct stmt *st)
{
	struct report *rep = ctx;
	json_t *step = json_object(), *procs = json_array();
	struct as_machine_stats ms;

	json_object_set_new(step, "step", json_integer(r->step));
	json_object_set_new(step, "line", json_integer(st ? st->line : 0));
	if (st) {
		char *t = trimmed(st->src);

		json_object_set_new(step, "text", json_text(t));
		free(t);
		json_object_set_new(step, "result", json_text(r->last_result));
	} else {
		json_object_set_new(step, "text", json_string("(start: an empty space)"));
		json_object_set_new(step, "result", json_string(""));
	}
	if (r->cur >= 0)
		json_object_set_new(step, "process", json_integer(r->cur));
	for (int i = 0; i < r->nprocs; i++) {
		struct as_mm *mm = r->procs[i].mm;
		struct as_mm_counters c;
		json_t *p;

		if (!mm)
			continue;
		as_mm_get_counters(mm, &c);
		p = json_object();
		json_object_set_new(p, "id", json_integer(i));
		json_object_set_new(p, "layout", json_integer(layout_of(rep, i, mm)));
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
	json_object_set_new(step, "procs", procs);
	as_machine_get_stats(r->m, &ms);
	json_object_set_new(step, "machine", json_pack("{s:I, s:I, s:I, s:I}", "total_frames",
						       (json_int_t)ms.total_frames, "free_frames",
						       (json_int_t)ms.free_frames, "user_frames",
						       (json_int_t)ms.user_frames, "pgtable_frames",
						       (json_int_t)ms.pgtable_frames));
	json_array_append_new(rep->steps, step);
	return true;
}

json_t *report_finish(struct report *rep, struct runner *r)
{
	json_t *procs = json_array(), *doc = rep->doc;

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
	json_object_set_new(doc, "processes", procs);
	json_object_set_new(doc, "layouts", rep->layouts);
	json_object_set_new(doc, "steps", rep->steps);
	for (int i = 0; i < rep->nprocs; i++)
		free(rep->last_key[i]);
	free(rep->last_key);
	free(rep->last_index);
	free(rep);
	return doc;
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
