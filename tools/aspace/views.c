/* Views of spaces and machines, as text or JSON; see views.h. */
#include "views.h"

#include "peek.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

json_t *json_hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_string(buf);
}

json_t *json_text(const char *s)
{
	json_t *j = json_string(s ? s : "");
	size_t n;
	char *clean;

	if (j)
		return j;
	/* Not UTF-8 (a file name, a say line): keep ASCII, replace the rest. */
	n = strlen(s);
	clean = malloc(3 * n + 1);
	if (!clean)
		return json_string("");
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80) {
			clean[k++] = (char)c;
		} else {
			memcpy(clean + k, "\xef\xbf\xbd", 3);
			k += 3;
		}
	}
	clean[k] = '\0';
	j = json_string(clean);
	free(clean);
	return j ? j : json_string("");
}

/* Run a writer into memory; the text (NUL-terminated) or NULL. */
static char *capture(int (*fn)(struct as_mm *, FILE *), struct as_mm *mm)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (fn(mm, f) != 0) {
		fclose(f);
		free(text);
		return NULL;
	}
	fclose(f);
	return text;
}

static bool is_header(const char *line)
{
	const char *p = line;

	while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
		p++;
	return p > line && *p == '-';
}

static void parse_header(const char *line, struct region *r)
{
	int n = 0;
	unsigned long long s = 0, e = 0, off = 0, ino = 0;

	memset(r, 0, sizeof(*r));
	if (sscanf(line, "%llx-%llx %4s %llx %15s %llu %n", &s, &e, r->perms, &off, r->dev, &ino, &n) < 6)
		return;
	r->start = s;
	r->end = e;
	r->offset = off;
	r->inode = ino;
	snprintf(r->name, sizeof(r->name), "%s", line + n);
}

static bool has_vmflag(const struct region *r, const char *flag)
{
	const char *p = r->vmflags;
	size_t n = strlen(flag);

	while ((p = strstr(p, flag)) != NULL) {
		if ((p == r->vmflags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

static bool is_file(const struct region *r)
{
	return r->name[0] == '/' || r->inode != 0;
}

/* What the report colours a region as. */
static const char *region_kind(const struct region *r, const struct region *prev)
{
	if (!strcmp(r->name, "[heap]"))
		return "heap";
	if (!strcmp(r->name, "[stack]") || has_vmflag(r, "gd"))
		return "stack";
	if (r->name[0] == '[')
		return "special";
	if (r->perms[3] == 's')
		return "shared";
	if (is_file(r)) {
		if (r->perms[2] == 'x')
			return "code";
		if (r->perms[1] == 'w')
			return "data";
		return "file";
	}
	/* The bss: anonymous memory right after a program's writable data. */
	if (prev && is_file(prev) && prev->end == r->start && prev->perms[1] == 'w')
		return "data";
	return "anon";
}

int regions_read(struct as_mm *mm, struct region **out, size_t *n)
{
	char *text = capture(as_mm_write_smaps, mm), *line, *save = NULL;
	struct region *rs = NULL, *cur = NULL;
	size_t count = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!text)
		return -EIO;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long kb;
		char key[32];

		if (is_header(line)) {
			if (count == cap) {
				cap = cap ? 2 * cap : 32;
				rs = realloc(rs, cap * sizeof(*rs));
				if (!rs) {
					free(text);
					return -ENOMEM;
				}
			}
			cur = &rs[count++];
			parse_header(line, cur);
			continue;
		}
		if (!cur)
			continue;
		if (!strncmp(line, "VmFlags:", 8)) {
			const char *v = line + 8;

			while (*v == ' ')
				v++;
			snprintf(cur->vmflags, sizeof(cur->vmflags), "%s", v);
			size_t l = strlen(cur->vmflags);

			while (l && cur->vmflags[l - 1] == ' ')
				cur->vmflags[--l] = '\0';
			continue;
		}
		if (sscanf(line, "%31[^:]: %llu kB", key, &kb) != 2)
			continue;
		uint64_t bytes = (uint64_t)kb << 10;

		if (!strcmp(key, "Rss"))
			cur->rss = bytes;
		else if (!strcmp(key, "Pss"))
			cur->pss = bytes;
		else if (!strcmp(key, "Anonymous"))
			cur->anon = bytes;
		else if (!strcmp(key, "Locked"))
			cur->locked = bytes;
		else if (!strcmp(key, "Swap"))
			cur->swap = bytes;
		else if (!strcmp(key, "Referenced"))
			cur->referenced = bytes;
		else if (!strcmp(key, "Private_Clean"))
			cur->private_clean = bytes;
		else if (!strcmp(key, "Private_Dirty"))
			cur->private_dirty = bytes;
		else if (!strcmp(key, "Shared_Clean"))
			cur->shared_clean = bytes;
		else if (!strcmp(key, "Shared_Dirty"))
			cur->shared_dirty = bytes;
	}
	free(text);
	for (size_t i = 0; i < count; i++)
		rs[i].kind = region_kind(&rs[i], i ? &rs[i - 1] : NULL);
	*out = rs;
	*n = count;
	return 0;
}

json_t *region_json(const struct region *r, bool smaps)
{
	json_t *o = json_object();

	json_object_set_new(o, "start", json_hex(r->start));
	json_object_set_new(o, "end", json_hex(r->end));
	json_object_set_new(o, "size", json_integer((json_int_t)(r->end - r->start)));
	json_object_set_new(o, "perms", json_string(r->perms));
	json_object_set_new(o, "offset", json_hex(r->offset));
	json_object_set_new(o, "dev", json_string(r->dev));
	json_object_set_new(o, "inode", json_integer((json_int_t)r->inode));
	json_object_set_new(o, "name", json_text(r->name));
	json_object_set_new(o, "kind", json_string(r->kind));
	if (!smaps)
		return o;
	json_object_set_new(o, "rss", json_integer((json_int_t)r->rss));
	json_object_set_new(o, "pss", json_integer((json_int_t)r->pss));
	json_object_set_new(o, "shared_clean", json_integer((json_int_t)r->shared_clean));
	json_object_set_new(o, "shared_dirty", json_integer((json_int_t)r->shared_dirty));
	json_object_set_new(o, "private_clean", json_integer((json_int_t)r->private_clean));
	json_object_set_new(o, "private_dirty", json_integer((json_int_t)r->private_dirty));
	json_object_set_new(o, "referenced", json_integer((json_int_t)r->referenced));
	json_object_set_new(o, "anonymous", json_integer((json_int_t)r->anon));
	json_object_set_new(o, "swap", json_integer((json_int_t)r->swap));
	json_object_set_new(o, "locked", json_integer((json_int_t)r->locked));
	json_t *flags = json_array();
	char buf[sizeof(r->vmflags)], *save = NULL;

	memcpy(buf, r->vmflags, sizeof(buf));
	for (char *f = strtok_r(buf, " ", &save); f; f = strtok_r(NULL, " ", &save))
		json_array_append_new(flags, json_string(f));
	json_object_set_new(o, "vmflags", flags);
	return o;
}

static json_t *regions_json(struct as_mm *mm, bool smaps, bool has_addr, uint64_t addr)
{
	struct region *rs;
	size_t n;
	json_t *arr = json_array();

	if (regions_read(mm, &rs, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (!has_addr || (addr >= rs[i].start && addr < rs[i].end))
				json_array_append_new(arr, region_json(&rs[i], smaps));
		free(rs);
	}
	return arr;
}

void view_maps(struct as_mm *mm, FILE *out, json_t **json)
{
	if (json) {
		*json = json_object();
		json_object_set_new(*json, "regions", regions_json(mm, false, false, 0));
		return;
	}
	as_mm_write_maps(mm, out);
}

void view_smaps(struct as_mm *mm, bool has_addr, uint64_t addr, FILE *out, json_t **json)
{
	char *text, *line, *save = NULL;
	bool printing = false, found = false;

	if (json) {
		*json = json_object();
		json_object_set_new(*json, "regions", regions_json(mm, true, has_addr, addr));
		return;
	}
	if (!has_addr) {
		as_mm_write_smaps(mm, out);
		return;
	}
	text = capture(as_mm_write_smaps, mm);
	if (!text)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (is_header(line)) {
			struct region r;

			parse_header(line, &r);
			printing = addr >= r.start && addr < r.end;
			found |= printing;
		}
		if (printing)
			fprintf(out, "%s\n", line);
	}
	if (!found)
		fprintf(out, "no region holds %#" PRIx64 "\n", addr);
	free(text);
}

/* ---- Page tables ---- */

static const char *const level_names[5] = { "", "PTE", "PMD", "PUD", "PGD" };

/* An entry's bits in words; leaf is the walk when e is its PTE (for the decoded special bit). */
static void entry_bits(uint64_t e, const struct peek_walk *leaf, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s%s%s%s", e & PEEK_P ? "P" : "-", e & PEEK_RW ? " RW" : " ro",
		 e & PEEK_US ? " US" : " sv", e & PEEK_A ? " A" : "", leaf && (e & PEEK_D) ? " D" : "",
		 e & PEEK_NX ? " NX" : "", leaf && leaf->special ? " special" : "",
		 e & PEEK_G ? " G" : "");
}

static json_t *bits_json(uint64_t e, const struct peek_walk *leaf)
{
	json_t *o = json_object();

	json_object_set_new(o, "present", json_boolean(e & PEEK_P));
	json_object_set_new(o, "rw", json_boolean(e & PEEK_RW));
	json_object_set_new(o, "user", json_boolean(e & PEEK_US));
	json_object_set_new(o, "accessed", json_boolean(e & PEEK_A));
	if (leaf) {
		json_object_set_new(o, "dirty", json_boolean(e & PEEK_D));
		json_object_set_new(o, "special", json_boolean(leaf->special));
	}
	json_object_set_new(o, "nx", json_boolean(e & PEEK_NX));
	return o;
}

static json_t *walk_json(const struct peek_walk *w, bool levels)
{
	json_t *o = json_object();

	json_object_set_new(o, "addr", json_hex(w->va));
	json_object_set_new(o, "mapped", json_boolean(w->mapped));
	if (levels) {
		json_t *arr = json_array();

		for (int i = 0; i < w->nlevels; i++) {
			json_t *l = json_object();
			uint64_t e = w->lv[i].entry;

			json_object_set_new(l, "level", json_string(level_names[w->lv[i].level]));
			json_object_set_new(l, "index", json_integer(w->lv[i].index));
			json_object_set_new(l, "entry", json_hex(e));
			json_object_set_new(l, "bits", bits_json(e, w->lv[i].level == 1 ? w : NULL));
			if (e & PEEK_P)
				json_object_set_new(l, "frame", json_hex((e & PEEK_PFN_MASK) >> 12));
			json_array_append_new(arr, l);
		}
		json_object_set_new(o, "levels", arr);
	}
	if (w->mapped) {
		uint64_t e = w->lv[w->nlevels - 1].entry;

		json_object_set_new(o, "pte", json_hex(e));
		json_object_set_new(o, "bits", bits_json(e, w));
		json_object_set_new(o, "frame", json_hex(w->frame));
		json_object_set_new(o, "page", json_pack("{s:s, s:i, s:i, s:b, s:b}", "kind", w->kind,
							 "refcount", w->refcount, "mapcount", w->mapcount,
							 "anon_exclusive", w->exclusive, "mlocked", w->mlocked));
	} else if (w->nlevels) {
		json_object_set_new(o, "missing", json_string(level_names[w->lv[w->nlevels - 1].level]));
		if (w->guard)
			json_object_set_new(o, "guard", json_true());
	}
	return o;
}

static void print_page(FILE *out, const struct peek_walk *w)
{
	fprintf(out, "frame 0x%" PRIx64 " (%s, refcount %d, mapcount %d%s%s)", w->frame, w->kind,
		w->refcount, w->mapcount, w->exclusive ? ", exclusive" : "", w->mlocked ? ", mlocked" : "");
}

void view_pagetable(struct as_mm *mm, uint64_t addr, bool range, uint64_t len, FILE *out, json_t **json)
{
	struct peek_walk w;

	if (!range) {
		peek_walk(mm, addr, &w);
		if (json) {
			*json = walk_json(&w, true);
			return;
		}
		fprintf(out, "page-table walk of %#" PRIx64 ":\n", addr);
		if (!w.user) {
			fprintf(out, "  outside user space (above 0x7fffffffffff): no user page tables\n");
			return;
		}
		for (int i = 0; i < w.nlevels; i++) {
			const struct peek_level *l = &w.lv[i];
			char bits[64];

			entry_bits(l->entry, l->level == 1 ? &w : NULL, bits, sizeof(bits));
			fprintf(out, "  %s[%3u] = 0x%016" PRIx64 "  ", level_names[l->level], l->index, l->entry);
			if (!(l->entry & PEEK_P)) {
				fprintf(out, "not present%s\n", l->level > 1 ? ": no table below"
								   : w.guard ? ": guard marker (MADV_GUARD_INSTALL)" : "");
				continue;
			}
			fprintf(out, "%-20s ", bits);
			if (l->level > 1)
				fprintf(out, "-> table in frame 0x%" PRIx64 "\n", (uint64_t)((l->entry & PEEK_PFN_MASK) >> 12));
			else {
				print_page(out, &w);
				fputc('\n', out);
			}
		}
		return;
	}
	if (len > (1ull << 30)) {
		len = 1ull << 30; /* 262144 lines is plenty */
	}
	uint64_t start = addr & ~0xfffull, end = addr + len;
	json_t *arr = json ? json_array() : NULL;

	if (end < addr)
		end = UINT64_MAX;
	if (!json)
		fprintf(out, "%-14s  %-18s  %-20s  %s\n", "address", "pte", "bits", "page");
	for (uint64_t va = start; va < end; va += 4096) {
		char bits[64];

		peek_walk(mm, va, &w);
		if (json) {
			json_array_append_new(arr, walk_json(&w, false));
		} else if (w.mapped) {
			entry_bits(w.lv[w.nlevels - 1].entry, &w, bits, sizeof(bits));
			fprintf(out, "%#14" PRIx64 "  0x%016" PRIx64 "  %-20s  ", va, w.lv[w.nlevels - 1].entry, bits);
			print_page(out, &w);
			fputc('\n', out);
		} else if (w.nlevels == 4) {
			fprintf(out, "%#14" PRIx64 "  0x%016" PRIx64 "  %-20s  %s\n", va, w.lv[3].entry, "not present",
				w.guard ? "guard marker" : "-");
		} else {
			fprintf(out, "%#14" PRIx64 "  %-18s  no %s table\n", va, "-",
				w.nlevels ? level_names[w.lv[w.nlevels - 1].level - 1] : "user");
		}
		if (va + 4096 < va)
			break;
	}
	if (json) {
		*json = json_object();
		json_object_set_new(*json, "pages", arr);
	}
}

/* ---- Counters, layout, machine ---- */

struct counter_row {
	const char *name;
	size_t offset;
	bool pages;
	const char *what;
};

#define ROW(f, pages, what) { #f, offsetof(struct as_mm_counters, f), pages, what }
static const struct counter_row counter_rows[] = {
	ROW(total_vm, true, "VmSize"), ROW(locked_vm, true, "VmLck"), ROW(pinned_vm, true, "VmPin"),
	ROW(data_vm, true, "VmData"), ROW(exec_vm, true, "VmExe"), ROW(stack_vm, true, "VmStk"),
	ROW(rss_anon, true, "RssAnon"), ROW(rss_file, true, "RssFile"), ROW(rss_shmem, true, "RssShmem"),
	ROW(swap_ents, true, "VmSwap"), ROW(hiwater_rss, true, "VmHWM"), ROW(hiwater_vm, true, "VmPeak"),
	ROW(committed_pages, true, "charged to the commit limit"),
	ROW(map_count, false, "regions"), ROW(min_flt, false, "minor faults"),
	ROW(maj_flt, false, "major faults"), ROW(cow_copies, false, "copy-on-write copies"),
	ROW(cow_reuses, false, "copy-on-write reuses"),
	ROW(zero_page_maps, false, "zero-page mappings"),
};

static uint64_t counter_at(const struct as_mm_counters *c, size_t offset)
{
	return *(const uint64_t *)((const char *)c + offset);
}

void view_counters(struct as_mm *mm, FILE *out, json_t **json)
{
	struct as_mm_counters c;
	uint64_t rss;

	as_mm_get_counters(mm, &c);
	rss = c.rss_anon + c.rss_file + c.rss_shmem;
	if (json) {
		*json = json_object();
		for (size_t i = 0; i < sizeof(counter_rows) / sizeof(counter_rows[0]); i++)
			json_object_set_new(*json, counter_rows[i].name,
					    json_integer((json_int_t)counter_at(&c, counter_rows[i].offset)));
		json_object_set_new(*json, "rss", json_integer((json_int_t)rss));
		return;
	}
	for (size_t i = 0; i < sizeof(counter_rows) / sizeof(counter_rows[0]); i++) {
		const struct counter_row *r = &counter_rows[i];
		uint64_t v = counter_at(&c, r->offset);

		if (r->pages)
			fprintf(out, "  %-16s %8" PRIu64 " pages %10" PRIu64 " kB  %s\n", r->name, v, v * 4, r->what);
		else
			fprintf(out, "  %-16s %8" PRIu64 "                    %s\n", r->name, v, r->what);
		if (!strcmp(r->name, "rss_shmem"))
			fprintf(out, "  %-16s %8" PRIu64 " pages %10" PRIu64 " kB  %s\n", "rss", rss, rss * 4, "VmRSS");
	}
}

void view_layout(struct as_mm *mm, FILE *out, json_t **json)
{
	static const char *const names[] = {
		"task_size", "mmap_base", "start_brk", "brk", "start_stack", "start_code", "end_code",
		"start_data", "end_data", "arg_start", "arg_end", "env_start", "env_end",
	};
	struct as_mm_layout l;

	as_mm_get_layout(mm, &l);
	const uint64_t vals[] = {
		l.task_size, l.mmap_base, l.start_brk, l.brk, l.start_stack, l.start_code, l.end_code,
		l.start_data, l.end_data, l.arg_start, l.arg_end, l.env_start, l.env_end,
	};

	if (json)
		*json = json_object();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (json)
			json_object_set_new(*json, names[i], json_hex(vals[i]));
		else
			fprintf(out, "  %-12s %#" PRIx64 "\n", names[i], vals[i]);
	}
}

void view_buddyinfo(struct as_machine *m, FILE *out, json_t **json)
{
	struct as_machine_stats st;

	as_machine_get_stats(m, &st);
	if (json) {
		json_t *orders = json_array();

		for (int o = 0; o <= AS_MAX_ORDER; o++)
			json_array_append_new(orders, json_integer((json_int_t)st.free_blocks[o]));
		*json = json_object();
		json_object_set_new(*json, "free_blocks", orders);
		json_object_set_new(*json, "total_frames", json_integer((json_int_t)st.total_frames));
		json_object_set_new(*json, "free_frames", json_integer((json_int_t)st.free_frames));
		json_object_set_new(*json, "cached_frames", json_integer((json_int_t)st.cached_frames));
		json_object_set_new(*json, "slab_frames", json_integer((json_int_t)st.slab_frames));
		json_object_set_new(*json, "pgtable_frames", json_integer((json_int_t)st.pgtable_frames));
		json_object_set_new(*json, "user_frames", json_integer((json_int_t)st.user_frames));
		json_object_set_new(*json, "reserved_frames", json_integer((json_int_t)st.reserved_frames));
		json_object_set_new(*json, "allocations", json_integer((json_int_t)st.allocations));
		json_object_set_new(*json, "failed_allocations", json_integer((json_int_t)st.failed_allocations));
		return;
	}
	fprintf(out, "Node 0, zone   Normal");
	for (int o = 0; o <= AS_MAX_ORDER; o++)
		fprintf(out, " %6llu", (unsigned long long)st.free_blocks[o]);
	fprintf(out, "\nframes: %llu total, %llu free (%llu in per-thread caches), %llu page tables, "
		     "%llu slab, %llu user, %llu reserved\n",
		(unsigned long long)st.total_frames, (unsigned long long)st.free_frames,
		(unsigned long long)st.cached_frames, (unsigned long long)st.pgtable_frames,
		(unsigned long long)st.slab_frames, (unsigned long long)st.user_frames,
		(unsigned long long)st.reserved_frames);
}

json_t *machine_config_json(const struct as_machine_config *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "ram_bytes", json_integer((json_int_t)c->ram_bytes));
	json_object_set_new(o, "overcommit_memory", json_integer(c->overcommit_memory));
	json_object_set_new(o, "overcommit_ratio", json_integer(c->overcommit_ratio));
	json_object_set_new(o, "max_map_count", json_integer((json_int_t)c->max_map_count));
	json_object_set_new(o, "mmap_min_addr", json_integer((json_int_t)c->mmap_min_addr));
	json_object_set_new(o, "zero_page", json_integer(c->zero_page));
	json_object_set_new(o, "legacy_va_layout", json_integer(c->legacy_va_layout));
	json_object_set_new(o, "stack_guard_gap", json_integer((json_int_t)c->stack_guard_gap));
	json_object_set_new(o, "thp_align_anon", json_integer(c->thp_align_anon));
	json_object_set_new(o, "lsm_mmap_min_addr", json_integer((json_int_t)c->lsm_mmap_min_addr));
	return o;
}

void hexdump(FILE *out, uint64_t addr, const uint8_t *buf, size_t len, const char *indent)
{
	bool starred = false;

	for (size_t off = 0; off < len; off += 16) {
		size_t n = len - off < 16 ? len - off : 16;

		if (off && n == 16 && off + 16 <= len && !memcmp(buf + off, buf + off - 16, 16)) {
			if (!starred)
				fprintf(out, "%s*\n", indent);
			starred = true;
			continue;
		}
		starred = false;
		fprintf(out, "%s%012" PRIx64 "  ", indent, addr + off);
		for (size_t i = 0; i < 16; i++) {
			if (i < n)
				fprintf(out, "%02x ", buf[off + i]);
			else
				fputs("   ", out);
			if (i == 7)
				fputc(' ', out);
		}
		fputs(" |", out);
		for (size_t i = 0; i < n; i++)
			fputc(buf[off + i] >= 32 && buf[off + i] < 127 ? buf[off + i] : '.', out);
		fputs("|\n", out);
	}
	if (starred)
		fprintf(out, "%s%012" PRIx64 "\n", indent, addr + len);
}
