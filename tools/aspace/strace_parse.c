/*
 * Parsing strace logs (strace.h). Lines, optionally after a pid (`-f`) or
 * `[pid N]` and a timestamp (`-t`, `-tt`, `-ttt`, `-r`):
 *
 *   NAME(ARGS) = RESULT                     a call
 *   NAME(ARGS <unfinished ...>              its first half
 *   <... NAME resumed>REST) = RESULT        its second half (same pid)
 *   +++ exited with N +++ | +++ killed by SIG... +++
 *   --- SIGNAL {...} ---                    (ignored)
 *
 * RESULT is `0x7ff...`, `N`, `N</path>`, `-1 ENAME (text)` or `?`, maybe
 * followed by a comment or a note in parentheses.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "strace.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A half-done call of a pid: `NAME(ARGS <unfinished ...>`. */
struct pending {
	int pid;
	int line;
	char name[32];
	char *args;
	char *text;
};

/* Does the '<' at p open a descriptor's path (`3</path>`), not a shift (`21<<N`)? */
static bool fd_path_at(const char *start, const char *p)
{
	const char *d = p;

	if (p[1] == '<' || p == start || (p > start && p[-1] == '<'))
		return false;
	while (d > start && isdigit((unsigned char)d[-1]))
		d--;
	return d < p && (d == start || d[-1] == ' ' || d[-1] == ',' || d[-1] == '(' || d[-1] == '[' || d[-1] == '=');
}

/* Skip a quoted string starting at p (at the quote); returns the char after it. */
static const char *skip_string(const char *p)
{
	for (p++; *p && *p != '"'; p++)
		if (*p == '\\' && p[1])
			p++;
	return *p ? p + 1 : p;
}

/*
 * The end of the argument list that starts after NAME(: the top-level
 * closing parenthesis, or NULL when the line ends first. Quotes, (), [],
 * {} and the <path> of a descriptor nest; comments are skipped.
 */
static const char *args_end(const char *p)
{
	const char *start = p;
	int depth = 0;

	while (*p) {
		if (*p == '"') {
			p = skip_string(p);
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");

			if (!e)
				return NULL;
			p = e + 2;
			continue;
		}
		if (*p == '<' && fd_path_at(start, p)) {
			/* a descriptor's path: up to the matching '>' at the end of the path */
			const char *e = strchr(p, '>');

			while (e && e[1] && e[1] != ',' && e[1] != ')' && e[1] != ' ' && e[1] != '(' && e[1] != ']' &&
			       e[1] != '}')
				e = strchr(e + 1, '>');
			if (!e)
				return NULL;
			p = e + 1;
			continue;
		}
		if (*p == '(' || *p == '[' || *p == '{')
			depth++;
		else if (*p == ']' || *p == '}')
			depth--;
		else if (*p == ')') {
			if (depth == 0)
				return p;
			depth--;
		}
		p++;
	}
	return NULL;
}

static char *dupn(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "= RESULT" after the arguments: true with *has and *ret set, false when malformed. */
static bool parse_result(const char *p, bool *has, int64_t *ret)
{
	char *end;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '=')
		return false;
	p++;
	while (*p == ' ')
		p++;
	if (*p == '?') {
		*has = false;
		return true;
	}
	if (p[0] == '-' && p[1] == '1' && p[2] == ' ') {
		const char *n = p + 3;
		size_t len = 0;
		int err;

		while (isupper((unsigned char)n[len]) || isdigit((unsigned char)n[len]) || n[len] == '_')
			len++;
		err = len ? errno_by_name(n, len) : 0;
		if (!err)
			return false;
		*has = true;
		*ret = -err;
		return true;
	}
	errno = 0;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		*ret = (int64_t)strtoull(p, &end, 16);
	else
		*ret = strtoll(p, &end, 10);
	if (end == p || errno)
		return false;
	*has = true;
	return true;
}

static int add_event(struct st_log *log, const struct st_event *e)
{
	if (log->n == log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 256;
		struct st_event *n = realloc(log->ev, cap * sizeof(*n));

		if (!n)
			return -1;
		log->ev = n;
		log->cap = cap;
	}
	log->ev[log->n++] = *e;
	return 0;
}

static bool valid_name(const char *p, size_t n)
{
	if (n == 0 || n >= 32 || !(isalpha((unsigned char)p[0]) || p[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '_')
			return false;
	return true;
}

int st_parse_text(const char *name, const char *text, size_t len, struct st_log *log, char *err, size_t errlen)
{
	struct pending *pend = NULL;
	size_t npend = 0, cappend = 0;
	const char *p = text, *end = text + len;
	int line = 0, rc = 0;
	char *buf = NULL;
	size_t bufcap = 0;

	memset(log, 0, sizeof(*log));
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "%s: not a text file (it holds NUL bytes)", name);
		return -1;
	}
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *s, *q;
		int pid = 0;

		line++;
		if (ll + 1 > bufcap) {
			bufcap = ll + 1 > 4096 ? ll + 1 : 4096;
			free(buf);
			buf = malloc(bufcap);
			if (!buf) {
				snprintf(err, errlen, "%s: out of memory", name);
				rc = -1;
				break;
			}
		}
		memcpy(buf, p, ll);
		buf[ll] = '\0';
		p = nl ? nl + 1 : end;
		s = trim(buf);
		if (ll && buf[ll - 1] == '\r')
			buf[ll - 1] = '\0';
		if (!*s)
			continue;
		/* The pid: "1234 " or "[pid 1234] ". */
		if (isdigit((unsigned char)*s)) {
			q = s;
			while (isdigit((unsigned char)*q))
				q++;
			if (*q == ' ') {
				pid = atoi(s);
				s = trim(q);
				log->has_pids = true;
			}
		} else if (!strncmp(s, "[pid ", 5)) {
			pid = atoi(s + 5);
			q = strchr(s, ']');
			if (!q) {
				snprintf(err, errlen, "%s:%d: a `[pid N]` without its `]`", name, line);
				rc = -1;
				break;
			}
			s = trim(q + 1);
			log->has_pids = true;
		}
		/* A timestamp: 12:34:56, 12:34:56.123456, 1234567890.123456 or +0.000123 (-r). */
		if (isdigit((unsigned char)*s) || *s == '+') {
			q = s + (*s == '+');
			while (isdigit((unsigned char)*q) || *q == ':' || *q == '.')
				q++;
			if (*q == ' ' && q > s)
				s = trim(q);
		}
		if (!strncmp(s, "+++ ", 4)) {
			struct st_event e = { .kind = ST_EXIT, .pid = pid, .line = line, .entry_line = line };

			if (!strstr(s + 4, "+++")) {
				snprintf(err, errlen, "%s:%d: an exit line without its closing +++", name, line);
				rc = -1;
				break;
			}
			snprintf(e.name, sizeof(e.name), "exit");
			if (add_event(log, &e)) {
				rc = -1;
				snprintf(err, errlen, "%s: out of memory", name);
			}
			continue;
		}
		if (!strncmp(s, "--- ", 4))
			continue;
		if (!strncmp(s, "<... ", 5)) {
			/* The second half of a call. */
			char *nm = s + 5, *r = strstr(nm, " resumed>");
			size_t i;
			const char *close;
			struct st_event e = { .kind = ST_CALL, .pid = pid, .line = line };

			if (!r || !valid_name(nm, (size_t)(r - nm))) {
				snprintf(err, errlen, "%s:%d: a resumed call without its name", name, line);
				rc = -1;
				break;
			}
			*r = '\0';
			r += strlen(" resumed>");
			for (i = 0; i < npend; i++)
				if (pend[i].pid == pid && !strcmp(pend[i].name, nm))
					break;
			if (i == npend) {
				snprintf(err, errlen, "%s:%d: `<... %s resumed>` of pid %d, which began no %s", name, line,
					 nm, pid, nm);
				rc = -1;
				break;
			}
			if (strstr(r, "<unfinished ...>")) {
				/* Resumed and interrupted again (a signal): it stays pending. */
				continue;
			}
			close = args_end(r);
			if (!close) {
				snprintf(err, errlen, "%s:%d: the end of %s's arguments is missing", name, line, nm);
				rc = -1;
				break;
			}
			snprintf(e.name, sizeof(e.name), "%s", nm);
			e.entry_line = pend[i].line;
			{
				size_t a = strlen(pend[i].args), b = (size_t)(close - r);

				e.args = malloc(a + b + 1);
				if (e.args) {
					memcpy(e.args, pend[i].args, a);
					memcpy(e.args + a, r, b);
					e.args[a + b] = '\0';
				}
				e.text = NULL;
				if (asprintf(&e.text, "%s(%s)", nm, e.args ? e.args : "") < 0)
					e.text = NULL;
			}
			if (!e.args || !e.text || !parse_result(close + 1, &e.has_ret, &e.ret)) {
				snprintf(err, errlen, "%s:%d: no result after %s's arguments", name, line, nm);
				free(e.args);
				free(e.text);
				rc = -1;
				break;
			}
			free(pend[i].args);
			free(pend[i].text);
			pend[i] = pend[--npend];
			if (add_event(log, &e)) {
				snprintf(err, errlen, "%s: out of memory", name);
				rc = -1;
			}
			continue;
		}
		/* A call: NAME(ARGS) = RESULT, or its first half. */
		{
			char *paren = strchr(s, '(');
			const char *close;
			struct st_event e = { .kind = ST_CALL, .pid = pid, .line = line, .entry_line = line };
			char *unf = strstr(s, " <unfinished ...>");

			if (!paren || !valid_name(s, (size_t)(paren - s))) {
				snprintf(err, errlen, "%s:%d: not a line strace writes: %.60s", name, line, s);
				rc = -1;
				break;
			}
			snprintf(e.name, sizeof(e.name), "%.*s", (int)(paren - s), s);
			if (unf && !unf[strlen(" <unfinished ...>")]) {
				struct pending *pp;

				*unf = '\0';
				if (npend == cappend) {
					size_t cap = cappend ? cappend * 2 : 16;
					struct pending *n = realloc(pend, cap * sizeof(*n));

					if (!n) {
						snprintf(err, errlen, "%s: out of memory", name);
						rc = -1;
						break;
					}
					pend = n;
					cappend = cap;
				}
				for (size_t i = 0; i < npend; i++)
					if (pend[i].pid == pid) {
						/* A task begins a call only after its last one ended. */
						snprintf(err, errlen, "%s:%d: pid %d begins %s while its %s (line %d) is unfinished",
							 name, line, pid, e.name, pend[i].name, pend[i].line);
						rc = -1;
					}
				if (rc)
					break;
				pp = &pend[npend++];
				pp->pid = pid;
				pp->line = line;
				snprintf(pp->name, sizeof(pp->name), "%s", e.name);
				pp->args = strdup(paren + 1);
				pp->text = NULL;
				continue;
			}
			close = args_end(paren + 1);
			if (!close) {
				snprintf(err, errlen, "%s:%d: the end of %s's arguments is missing (a truncated line?)", name,
					 line, e.name);
				rc = -1;
				break;
			}
			e.args = dupn(paren + 1, (size_t)(close - paren - 1));
			e.text = dupn(s, (size_t)(close - s + 1));
			if (!e.args || !e.text || !parse_result(close + 1, &e.has_ret, &e.ret)) {
				snprintf(err, errlen, "%s:%d: no result after %s's arguments (a truncated line?)", name, line,
					 e.name);
				free(e.args);
				free(e.text);
				rc = -1;
				break;
			}
			if (strchr(e.args, '<'))
				log->has_paths = true;
			if (add_event(log, &e)) {
				snprintf(err, errlen, "%s: out of memory", name);
				rc = -1;
			}
		}
	}
	log->lines = line;
	for (size_t i = 0; i < npend; i++) {
		free(pend[i].args);
		free(pend[i].text);
	}
	free(pend);
	free(buf);
	if (rc)
		st_free(log);
	return rc;
}

int st_parse(const char *path, struct st_log *log, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc;

	memset(log, 0, sizeof(*log));
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;

		if (cap - len < 65536) {
			char *n = realloc(text, cap ? cap * 2 : 1 << 20);

			if (!n) {
				free(text);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return -1;
			}
			text = n;
			cap = cap ? cap * 2 : 1 << 20;
		}
		got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(text);
		fclose(f);
		return -1;
	}
	fclose(f);
	rc = st_parse_text(path, text ? text : "", len, log, err, errlen);
	free(text);
	return rc;
}

void st_free(struct st_log *log)
{
	for (size_t i = 0; i < log->n; i++) {
		free(log->ev[i].args);
		free(log->ev[i].text);
	}
	free(log->ev);
	memset(log, 0, sizeof(*log));
}

int st_split(const char *args, char ***out)
{
	char **v = NULL;
	int n = 0, cap = 0, depth = 0;
	const char *p = args, *start = args;

	*out = NULL;
	for (;; p++) {
		if (*p == '"') {
			p = skip_string(p) - 1;
			if (!*p)
				break;
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");

			p = e ? e + 1 : p + strlen(p) - 1;
			continue;
		}
		if (*p == '<' && fd_path_at(args, p)) {
			const char *e = strchr(p, '>');

			while (e && e[1] && e[1] != ',' && e[1] != ')' && e[1] != ' ' && e[1] != '(')
				e = strchr(e + 1, '>');
			if (e) {
				p = e;
				continue;
			}
		}
		if (*p == '(' || *p == '[' || *p == '{')
			depth++;
		else if (*p == ')' || *p == ']' || *p == '}')
			depth--;
		if ((*p == ',' && depth == 0) || !*p) {
			char *a;

			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				char **nv = realloc(v, (size_t)cap * sizeof(*v));

				if (!nv) {
					st_split_free(v, n);
					return -1;
				}
				v = nv;
			}
			a = dupn(start, (size_t)(p - start));
			if (!a) {
				st_split_free(v, n);
				return -1;
			}
			{
				char *t = trim(a);

				memmove(a, t, strlen(t) + 1);
			}
			v[n++] = a;
			start = p + 1;
		}
		if (!*p)
			break;
	}
	if (n == 1 && !v[0][0]) {
		free(v[0]);
		n = 0;
	}
	*out = v;
	return n;
}

void st_split_free(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* One term of a value: a number, NULL, a constant, N<<NAME. */
static bool term(const char *p, size_t len, enum family fam, uint64_t *out)
{
	char buf[128], *end;
	const struct constant *c;
	const char *shift;

	while (len && *p == ' ')
		p++, len--;
	while (len && p[len - 1] == ' ')
		len--;
	if (!len || len >= sizeof(buf))
		return false;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (!strcmp(buf, "NULL")) {
		*out = 0;
		return true;
	}
	shift = strstr(buf, "<<");
	if (shift) {
		uint64_t v;
		unsigned s;

		errno = 0;
		v = strtoull(buf, &end, 0);
		if (end == buf || errno)
			return false;
		shift += 2;
		if (!strcmp(shift, "MAP_HUGE_SHIFT"))
			s = 26;
		else if (isdigit((unsigned char)*shift))
			s = (unsigned)atoi(shift);
		else
			return false;
		*out = s < 64 ? v << s : 0;
		return true;
	}
	if (isdigit((unsigned char)buf[0]) || buf[0] == '-') {
		errno = 0;
		if (buf[0] == '-')
			*out = (uint64_t)strtoll(buf, &end, 0);
		else
			*out = strtoull(buf, &end, 0);
		/* A descriptor with its path: the number alone. */
		return end != buf && !errno && (!*end || *end == '<');
	}
	c = const_lookup(buf, len);
	if (!c || (fam != FAM_NR && fam != FAM_NUM && c->fam != fam && c->fam != FAM_NUM))
		return false;
	*out = c->value;
	return true;
}

bool st_value(const char *text, enum family fam, uint64_t *out)
{
	char *t = strdup(text), *c;
	const char *p;
	uint64_t v = 0;
	bool ok = true;

	if (!t)
		return false;
	/* Comments out, as in `0x7ff... (41 vars in a comment)`. */
	while ((c = strstr(t, "/*"))) {
		char *e = strstr(c, "*/");

		if (!e) {
			*c = '\0';
			break;
		}
		memmove(c, e + 2, strlen(e + 2) + 1);
	}
	/* A descriptor's path is not part of the value. */
	if ((c = strchr(t, '<')) && c > t && isdigit((unsigned char)c[-1]) && c[1] != '<')
		*c = '\0';
	p = t;
	while (*p == ' ')
		p++;
	if (!*p)
		ok = false;
	while (ok && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		uint64_t x;

		ok = term(p, len, fam, &x);
		v |= x;
		p += len + (bar ? 1 : 0);
	}
	free(t);
	if (ok)
		*out = v;
	return ok;
}

char *st_fd_path(const char *text, bool *deleted)
{
	const char *lt = strchr(text, '<'), *gt;

	*deleted = false;
	if (!lt || lt == text || !isdigit((unsigned char)lt[-1]))
		return NULL;
	gt = strrchr(lt, '>');
	if (!gt)
		return NULL;
	*deleted = strstr(gt, "(deleted)") != NULL;
	return dupn(lt + 1, (size_t)(gt - lt - 1));
}

char *st_string(const char *text, bool *truncated)
{
	const char *p = text;
	char *out, *o;

	*truncated = false;
	while (*p == ' ')
		p++;
	if (*p != '"')
		return NULL;
	out = malloc(strlen(p) + 1);
	if (!out)
		return NULL;
	o = out;
	for (p++; *p && *p != '"'; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'v': *o++ = '\v'; break;
		case 'f': *o++ = '\f'; break;
		case 'x':
			if (isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
				char h[3] = { p[1], p[2], 0 };

				*o++ = (char)strtol(h, NULL, 16);
				p += 2;
			}
			break;
		case '\0':
			p--;
			break;
		default:
			if (*p >= '0' && *p <= '7') {
				int v = 0, k = 0;

				while (k < 3 && *p >= '0' && *p <= '7') {
					v = v * 8 + (*p - '0');
					p++;
					k++;
				}
				p--;
				*o++ = (char)v;
			} else {
				*o++ = *p;
			}
		}
	}
	*o = '\0';
	if (*p == '"' && !strncmp(p + 1, "...", 3))
		*truncated = true;
	if (*p != '"') {
		free(out);
		return NULL;
	}
	return out;
}

char **st_string_array(const char *text, bool *truncated)
{
	const char *p = text;
	char *inner, **parts, **out;
	int n;

	*truncated = false;
	while (*p == ' ')
		p++;
	if (*p != '[')
		return NULL;
	inner = strdup(p + 1);
	if (!inner)
		return NULL;
	{
		char *close = strrchr(inner, ']');

		if (!close) {
			free(inner);
			return NULL;
		}
		*close = '\0';
	}
	n = st_split(inner, &parts);
	free(inner);
	if (n < 0)
		return NULL;
	out = calloc((size_t)n + 1, sizeof(*out));
	for (int i = 0; out && i < n; i++) {
		bool t = false;

		if (!strcmp(parts[i], "...")) {
			*truncated = true;
			break;
		}
		out[i] = st_string(parts[i], &t);
		*truncated |= t;
		if (!out[i]) {
			for (int k = 0; k < i; k++)
				free(out[k]);
			free(out);
			out = NULL;
		}
	}
	st_split_free(parts, n);
	return out;
}

int st_vector(const char *text, uint8_t *vec, int cap)
{
	const char *p = text;
	int n = 0;

	while (*p == ' ')
		p++;
	if (*p != '[')
		return -1;
	p++;
	while (*p && *p != ']') {
		char *end;
		long v;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ']')
			break;
		if (!strncmp(p, "...", 3)) {
			p += 3;
			continue;
		}
		v = strtol(p, &end, 0);
		if (end == p)
			return -1;
		if (n < cap)
			vec[n] = (uint8_t)v;
		n++;
		p = end;
	}
	return *p == ']' ? (n < cap ? n : cap) : -1;
}
