/*
 * The scenario language's parser: lines to statements (script.h), every
 * error named with file:line:col, the line and a caret. The grammar is in
 * docs/COMMAND.md; the op table below is its vocabulary.
 */
#include "script.h"

#include "ops.h"
#include "source.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- An arena for the parsed script: freed at once ---- */

struct arena {
	struct arena *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

static void *arena_alloc(struct script *s, size_t size)
{
	struct arena *a = s->arena;

	size = (size + 15) & ~(size_t)15;
	if (!a || a->used + size > a->cap) {
		size_t cap = size > 65536 ? size : 65536;

		a = malloc(sizeof(*a) + cap);
		if (!a) {
			fprintf(stderr, "aspace: out of memory\n");
			exit(2);
		}
		a->next = s->arena;
		a->used = 0;
		a->cap = cap;
		s->arena = a;
	}
	void *p = a->data + a->used;

	a->used += size;
	memset(p, 0, size);
	return p;
}

static char *arena_strndup(struct script *s, const char *p, size_t len)
{
	char *d = arena_alloc(s, len + 1);

	memcpy(d, p, len);
	d[len] = '\0';
	return d;
}

/* ---- Tokens ---- */

enum tok_type { T_WORD, T_STRING, T_ARROW, T_EQ };

struct token {
	enum tok_type type;
	const char *p;      /* in the line */
	size_t len;
	int col;
	char *str;          /* T_STRING: decoded bytes */
	size_t slen;
};

#define MAX_TOKENS 64

struct parser {
	struct script *s;
	FILE *err;
	int line;
	const char *lt;           /* this line's text */
	struct token tok[MAX_TOKENS];
	int ntok;
	int end_col;              /* column just past the last character */
	bool *defined;            /* variables assigned so far */
	int defined_cap;
	bool seen_step;
	bool failed;
};

/* Print "name:line:col: error: msg", the line and a caret under col. */
static void perr(struct parser *p, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(struct parser *p, int col, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	fprintf(p->err, "%s:%d:%d: error: ", p->s->name, p->line, col);
	va_start(ap, fmt);
	vfprintf(p->err, fmt, ap);
	va_end(ap);
	fputc('\n', p->err);
	if (!p->lt)
		return;
	fprintf(p->err, "%5d | %s\n      | ", p->line, p->lt);
	for (int i = 0; i < col - 1 && p->lt[i]; i++)
		fputc(p->lt[i] == '\t' ? '\t' : ' ', p->err);
	fputs("^\n", p->err);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A quoted string starting at line[i] == '"'; returns the index after it, or -1. */
static int lex_string(struct parser *p, const char *line, int i, struct token *t)
{
	int start = i++;
	size_t cap = strlen(line + start) + 1, n = 0;
	char *buf = arena_alloc(p->s, cap);

	for (;;) {
		char c = line[i];

		if (c == '\0') {
			perr(p, start + 1, "unterminated string (a closing \" is missing)");
			return -1;
		}
		if (c == '"')
			break;
		if (c != '\\') {
			buf[n++] = c;
			i++;
			continue;
		}
		c = line[++i];
		switch (c) {
		case 'n': buf[n++] = '\n'; break;
		case 't': buf[n++] = '\t'; break;
		case 'r': buf[n++] = '\r'; break;
		case '0': buf[n++] = '\0'; break;
		case 'e': buf[n++] = 27; break;
		case '\\': buf[n++] = '\\'; break;
		case '"': buf[n++] = '"'; break;
		case 'x': {
			int h = hexval(line[i + 1]), l = h >= 0 ? hexval(line[i + 2]) : -1;

			if (h < 0 || l < 0) {
				perr(p, i, "\\x wants two hex digits");
				return -1;
			}
			buf[n++] = (char)(h * 16 + l);
			i += 2;
			break;
		}
		default:
			perr(p, i, "unknown escape \\%c in a string (known: \\n \\t \\r \\0 \\e \\\\ \\\" \\xHH)",
			     c ? c : ' ');
			return -1;
		}
		i++;
	}
	t->type = T_STRING;
	t->p = line + start;
	t->len = (size_t)(i + 1 - start);
	t->col = start + 1;
	t->str = buf;
	t->slen = n;
	return i + 1;
}

/* Split a line into tokens; a word may hold spaces inside parentheses. */
static bool lex_line(struct parser *p, const char *line)
{
	int i = 0;

	p->ntok = 0;
	for (;;) {
		struct token *t;

		while (is_space(line[i]))
			i++;
		if (!line[i] || line[i] == '#')
			break;
		if (p->ntok == MAX_TOKENS) {
			perr(p, i + 1, "too many words on one line (at most %d)", MAX_TOKENS);
			return false;
		}
		t = &p->tok[p->ntok++];
		memset(t, 0, sizeof(*t));
		t->col = i + 1;
		if (line[i] == '"') {
			i = lex_string(p, line, i, t);
			if (i < 0)
				return false;
			if (line[i] && !is_space(line[i])) {
				perr(p, i + 1, "a string must be followed by a space or the end of the line");
				return false;
			}
			continue;
		}
		if (!strncmp(line + i, "\xe2\x86\x92", 3)) { /* → */
			t->type = T_ARROW;
			t->p = line + i;
			t->len = 3;
			i += 3;
			continue;
		}
		int start = i, depth = 0;

		while (line[i] && (depth > 0 || !is_space(line[i]))) {
			if (line[i] == '(')
				depth++;
			else if (line[i] == ')')
				depth--;
			i++;
		}
		if (depth > 0) {
			perr(p, start + 1, "unbalanced parenthesis: a ')' is missing");
			return false;
		}
		t->p = line + start;
		t->len = (size_t)(i - start);
		if (t->len == 2 && (!memcmp(t->p, "=>", 2) || !memcmp(t->p, "->", 2)))
			t->type = T_ARROW;
		else if (t->len == 1 && t->p[0] == '=')
			t->type = T_EQ;
		else
			t->type = T_WORD;
	}
	p->end_col = i + 1;
	return true;
}

static bool tok_is(const struct token *t, const char *word)
{
	return t->type == T_WORD && t->len == strlen(word) && !memcmp(t->p, word, t->len);
}

/* ---- Variables ---- */

static int var_find(struct script *s, const char *name, size_t len)
{
	for (int i = 0; i < s->nvars; i++)
		if (strlen(s->vars[i]) == len && !memcmp(s->vars[i], name, len))
			return i;
	return -1;
}

static int var_intern(struct parser *p, const char *name, size_t len)
{
	struct script *s = p->s;
	int i = var_find(s, name, len);

	if (i >= 0)
		return i;
	if (s->nvars == s->vars_cap) {
		s->vars_cap = s->vars_cap ? 2 * s->vars_cap : 16;
		s->vars = realloc(s->vars, (size_t)s->vars_cap * sizeof(*s->vars));
		p->defined = realloc(p->defined, (size_t)s->vars_cap * sizeof(*p->defined));
		if (!s->vars || !p->defined) {
			fprintf(stderr, "aspace: out of memory\n");
			exit(2);
		}
	}
	p->defined[s->nvars] = false;
	s->vars[s->nvars] = arena_strndup(s, name, len);
	return s->nvars++;
}

static bool valid_ident(const char *p, size_t len)
{
	if (!len || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z') || p[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return false;
	return true;
}

/* ---- Expressions ---- */

/* Where an expression may draw names from. */
enum scope {
	SCOPE_CONST,   /* numbers and constants only (machine settings) */
	SCOPE_ARG,     /* + variables (arguments of steps and views) */
	SCOPE_EXPECT,  /* + builtins (counters, layout, machine stats) */
};

struct xp {
	struct parser *p;
	const char *s;
	size_t len, i;
	int col0;           /* column of s[0] */
	enum family fam;    /* FAM_NR: any family */
	enum scope scope;
	const char *what;   /* the argument's name, for messages */
};

static struct expr *parse_or(struct xp *x);

static int xcol(const struct xp *x)
{
	return x->col0 + (int)x->i;
}

static void xskip(struct xp *x)
{
	while (x->i < x->len && is_space(x->s[x->i]))
		x->i++;
}

static struct expr *mknum(struct xp *x, uint64_t v, int col)
{
	struct expr *e = arena_alloc(x->p->s, sizeof(*e));

	e->kind = E_NUM;
	e->num = v;
	e->col = col;
	return e;
}

static bool is_identch(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static struct expr *parse_number(struct xp *x)
{
	int col = xcol(x);
	size_t start = x->i;
	uint64_t v = 0, mul = 1;
	int base = 10;
	bool any = false;

	if (x->s[x->i] == '0' && x->i + 1 < x->len && (x->s[x->i + 1] == 'x' || x->s[x->i + 1] == 'X')) {
		base = 16;
		x->i += 2;
	}
	while (x->i < x->len) {
		int d = hexval(x->s[x->i]);

		if (d < 0 || d >= base)
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) {
			perr(x->p, col, "number %.*s is too large (64 bits at most)",
			     (int)(x->len - start), x->s + start);
			return NULL;
		}
		v = v * (uint64_t)base + (uint64_t)d;
		x->i++;
		any = true;
	}
	if (x->i < x->len) {
		switch (x->s[x->i]) {
		case 'K': case 'k': mul = 1ull << 10; break;
		case 'M': case 'm': mul = 1ull << 20; break;
		case 'G': case 'g': mul = 1ull << 30; break;
		case 'T': case 't': mul = 1ull << 40; break;
		}
		if (mul > 1)
			x->i++;
	}
	if (!any || (x->i < x->len && is_identch(x->s[x->i]))) {
		size_t end = x->i;

		while (end < x->len && is_identch(x->s[end]))
			end++;
		perr(x->p, col, "bad number '%.*s' (numbers are decimal or 0x hex, with an optional K, M, G or T)",
		     (int)(end - start), x->s + start);
		return NULL;
	}
	if (mul > 1 && v > UINT64_MAX / mul) {
		perr(x->p, col, "number %.*s is too large (64 bits at most)", (int)(x->i - start), x->s + start);
		return NULL;
	}
	return mknum(x, v * mul, col);
}

static struct expr *parse_name(struct xp *x)
{
	int col = xcol(x);
	size_t start = x->i;
	const char *name;
	size_t len;
	const struct constant *c;
	int b;

	while (x->i < x->len && is_identch(x->s[x->i]))
		x->i++;
	name = x->s + start;
	len = x->i - start;
	c = const_lookup(name, len);
	if (c) {
		if (c->fam != FAM_NUM && x->fam != FAM_NR && c->fam != x->fam) {
			if (x->fam == FAM_NUM)
				perr(x->p, col, "%s takes a number, not %s (a %s name)", x->what, c->name,
				     family_pattern(c->fam));
			else
				perr(x->p, col, "%s takes %s names, not %s (a %s name)", x->what,
				     family_pattern(x->fam), c->name, family_pattern(c->fam));
			return NULL;
		}
		return mknum(x, c->value, col);
	}
	b = builtin_lookup(name, len);
	if (b >= 0) {
		struct expr *e;

		if (x->scope != SCOPE_EXPECT) {
			perr(x->p, col, "'%.*s' is a counter: use it in expect or $name = ... lines",
			     (int)len, name);
			return NULL;
		}
		e = arena_alloc(x->p->s, sizeof(*e));
		e->kind = E_BUILTIN;
		e->index = b;
		e->col = col;
		return e;
	}
	const char *hint = const_suggest(name, len, x->fam == FAM_NUM ? FAM_NR : x->fam);

	if (!hint && x->fam != FAM_NR && x->fam != FAM_NUM)
		hint = const_suggest(name, len, FAM_NR);
	if (hint)
		perr(x->p, col, "unknown name '%.*s' (did you mean %s?)", (int)len, name, hint);
	else if (x->fam != FAM_NUM && x->fam != FAM_NR)
		perr(x->p, col, "unknown name '%.*s' (%s takes %s names or a number)", (int)len, name,
		     x->what, family_pattern(x->fam));
	else
		perr(x->p, col, "unknown name '%.*s'", (int)len, name);
	return NULL;
}

static struct expr *parse_var(struct xp *x)
{
	int col = xcol(x), v;
	size_t start = ++x->i;

	while (x->i < x->len && is_identch(x->s[x->i]))
		x->i++;
	if (!valid_ident(x->s + start, x->i - start)) {
		perr(x->p, col, "a $name is $ followed by letters, digits and _");
		return NULL;
	}
	if (x->scope == SCOPE_CONST) {
		perr(x->p, col, "no $names here: machine settings are numbers");
		return NULL;
	}
	v = var_find(x->p->s, x->s + start, x->i - start);
	if (v < 0 || !x->p->defined[v]) {
		const char *best = NULL;
		int best_d = 3;

		for (int i = 0; i < x->p->s->nvars; i++) {
			int d;

			if (!x->p->defined[i])
				continue;
			d = edit_distance(x->s + start, x->i - start, x->p->s->vars[i],
					  strlen(x->p->s->vars[i]), 2);
			if (d < best_d) {
				best_d = d;
				best = x->p->s->vars[i];
			}
		}
		if (best)
			perr(x->p, col, "undefined $%.*s (did you mean $%s?)", (int)(x->i - start),
			     x->s + start, best);
		else
			perr(x->p, col, "undefined $%.*s (assign it first: $%.*s = ...)", (int)(x->i - start),
			     x->s + start, (int)(x->i - start), x->s + start);
		return NULL;
	}
	struct expr *e = arena_alloc(x->p->s, sizeof(*e));

	e->kind = E_VAR;
	e->index = v;
	e->col = col;
	return e;
}

static struct expr *parse_atom(struct xp *x)
{
	char c;

	xskip(x);
	if (x->i >= x->len) {
		perr(x->p, xcol(x), "an expression ends too early");
		return NULL;
	}
	c = x->s[x->i];
	if (c >= '0' && c <= '9')
		return parse_number(x);
	if (c == '$')
		return parse_var(x);
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return parse_name(x);
	if (c == '(') {
		struct expr *e;

		x->i++;
		e = parse_or(x);
		if (!e)
			return NULL;
		xskip(x);
		if (x->i >= x->len || x->s[x->i] != ')') {
			perr(x->p, xcol(x), "expected ')'");
			return NULL;
		}
		x->i++;
		return e;
	}
	perr(x->p, xcol(x), "unexpected '%c' in %s", c, x->what);
	return NULL;
}

static struct expr *parse_unary(struct xp *x)
{
	xskip(x);
	if (x->i < x->len && (x->s[x->i] == '-' || x->s[x->i] == '~')) {
		char op = x->s[x->i];
		int col = xcol(x);
		struct expr *a, *e;

		x->i++;
		a = parse_unary(x);
		if (!a)
			return NULL;
		if (a->kind == E_NUM)
			return mknum(x, op == '-' ? (uint64_t)0 - a->num : ~a->num, col);
		e = arena_alloc(x->p->s, sizeof(*e));
		e->kind = E_UNARY;
		e->op = op;
		e->l = a;
		e->col = col;
		return e;
	}
	return parse_atom(x);
}

static struct expr *binary(struct xp *x, char op, struct expr *l, struct expr *r, int col)
{
	struct expr *e;

	if (l->kind == E_NUM && r->kind == E_NUM) {
		switch (op) {
		case '+': return mknum(x, l->num + r->num, l->col);
		case '-': return mknum(x, l->num - r->num, l->col);
		case '*': return mknum(x, l->num * r->num, l->col);
		case '|': return mknum(x, l->num | r->num, l->col);
		case '&': return mknum(x, l->num & r->num, l->col);
		case '/':
			if (!r->num) {
				perr(x->p, col, "division by zero");
				return NULL;
			}
			return mknum(x, l->num / r->num, l->col);
		}
	}
	e = arena_alloc(x->p->s, sizeof(*e));
	e->kind = E_BINARY;
	e->op = op;
	e->l = l;
	e->r = r;
	e->col = l->col;
	return e;
}

/* Levels: | (lowest), &, + -, * / (highest). */
static struct expr *parse_level(struct xp *x, int level)
{
	static const char *const ops[] = { "|", "&", "+-", "*/" };
	struct expr *l = level == 3 ? parse_unary(x) : parse_level(x, level + 1);

	while (l) {
		char op;
		int col;
		struct expr *r;

		xskip(x);
		if (x->i >= x->len || !strchr(ops[level], x->s[x->i]))
			return l;
		op = x->s[x->i];
		col = xcol(x);
		x->i++;
		r = level == 3 ? parse_unary(x) : parse_level(x, level + 1);
		if (!r)
			return NULL;
		l = binary(x, op, l, r, col);
	}
	return l;
}

static struct expr *parse_or(struct xp *x)
{
	return parse_level(x, 0);
}

/* A whole word as one expression. */
static struct expr *expr_of(struct parser *p, const struct token *t, enum family fam, enum scope scope,
			    const char *what)
{
	struct xp x = { .p = p, .s = t->p, .len = t->len, .col0 = t->col, .fam = fam, .scope = scope,
			.what = what };
	struct expr *e;

	if (t->type != T_WORD) {
		perr(p, t->col, "%s takes %s, not %s", what,
		     fam == FAM_NUM || fam == FAM_NR ? "a number" : family_pattern(fam),
		     t->type == T_STRING ? "a string" : "this");
		return NULL;
	}
	e = parse_or(&x);
	if (!e)
		return NULL;
	xskip(&x);
	if (x.i < x.len) {
		if (x.s[x.i] == ')')
			perr(p, xcol(&x), "unbalanced parenthesis: this ')' has no '('");
		else if (x.s[x.i] == '=' || x.s[x.i] == '<' || x.s[x.i] == '>' || x.s[x.i] == '!')
			perr(p, xcol(&x), "put spaces around comparisons: a == b");
		else
			perr(p, xcol(&x), "unexpected '%c' in %s", x.s[x.i], what);
		return NULL;
	}
	return e;
}

/* ---- Statements ---- */

static bool valid_word(const struct token *t)
{
	if (t->type != T_WORD || !t->len)
		return false;
	for (size_t i = 0; i < t->len; i++) {
		char c = t->p[i];

		if (!(is_identch(c) || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Arguments by the op's spec: tokens [first, end). */
static bool parse_spec_args(struct parser *p, struct stmt *st, const struct opdesc *d, int first, int end)
{
	char usage[160];
	int n = end - first;
	int required = 0;

	for (int i = 0; i < d->nspec; i++)
		if (!d->spec[i].opt)
			required++;
	if (n > d->nspec) {
		perr(p, p->tok[first + d->nspec].col, "too many arguments to %s (usage: %s)", d->name,
		     op_usage(d, usage, sizeof(usage)));
		return false;
	}
	if (n < required) {
		perr(p, end < p->ntok ? p->tok[end].col : p->end_col, "%s: missing %s (usage: %s)", d->name,
		     d->spec[n].name, op_usage(d, usage, sizeof(usage)));
		return false;
	}
	st->nargs = n;
	for (int i = 0; i < n; i++) {
		const struct argspec *a = &d->spec[i];
		const struct token *t = &p->tok[first + i];
		struct arg *g = &st->args[i];

		g->col = t->col;
		switch (a->type) {
		case 'w':
			if (!valid_word(t)) {
				perr(p, t->col, "%s: %s is a name of letters, digits, _ - and .", d->name, a->name);
				return false;
			}
			g->kind = A_WORD;
			g->s = arena_strndup(p->s, t->p, t->len);
			g->len = t->len;
			break;
		case 'p':
			if (t->type == T_STRING) {
				g->kind = A_STRING;
				g->s = t->str;
				g->len = t->slen;
			} else {
				g->kind = A_WORD;
				g->s = arena_strndup(p->s, t->p, t->len);
				g->len = t->len;
			}
			break;
		default:
			g->kind = A_EXPR;
			g->e = expr_of(p, t, a->fam, SCOPE_ARG, a->name);
			if (!g->e)
				return false;
		}
	}
	return true;
}

static bool parse_write(struct parser *p, struct stmt *st, int first, int end)
{
	int n = end - first;

	if (n < 1) {
		perr(p, p->end_col, "write: missing address (usage: write ADDR \"TEXT\" | write ADDR fill BYTE LENGTH)");
		return false;
	}
	st->args[0].kind = A_EXPR;
	st->args[0].col = p->tok[first].col;
	st->args[0].e = expr_of(p, &p->tok[first], FAM_NUM, SCOPE_ARG, "address");
	if (!st->args[0].e)
		return false;
	if (n < 2) {
		perr(p, p->end_col, "write: missing what to write (\"TEXT\" or fill BYTE LENGTH)");
		return false;
	}
	const struct token *t = &p->tok[first + 1];

	st->nargs = 2;
	st->args[1].col = t->col;
	if (t->type == T_STRING) {
		if (n > 2) {
			perr(p, p->tok[first + 2].col, "write: too many arguments after the string");
			return false;
		}
		st->args[1].kind = A_STRING;
		st->args[1].s = t->str;
		st->args[1].len = t->slen;
		return true;
	}
	if (tok_is(t, "fill")) {
		if (n < 4) {
			perr(p, first + n < p->ntok ? p->tok[first + n].col : p->end_col,
			     "write: fill wants a byte and a length (write ADDR fill 0xaa 8K)");
			return false;
		}
		if (n > 4) {
			perr(p, p->tok[first + 4].col, "write: too many arguments after fill BYTE LENGTH");
			return false;
		}
		st->args[1].kind = A_FILL;
		st->args[1].fill_byte = expr_of(p, &p->tok[first + 2], FAM_NUM, SCOPE_ARG, "fill byte");
		if (!st->args[1].fill_byte)
			return false;
		st->args[1].fill_len = expr_of(p, &p->tok[first + 3], FAM_NUM, SCOPE_ARG, "length");
		return st->args[1].fill_len != NULL;
	}
	perr(p, t->col, "write: expected \"TEXT\" or fill BYTE LENGTH");
	return false;
}

static bool parse_exec(struct parser *p, struct stmt *st, int first, int end)
{
	if (end - first < 1) {
		perr(p, p->end_col, "exec: missing the program's path (usage: exec PATH [ARGS...])");
		return false;
	}
	if (end - first > STMT_MAX_ARGS) {
		perr(p, p->tok[first + STMT_MAX_ARGS].col, "exec: at most %d arguments", STMT_MAX_ARGS - 1);
		return false;
	}
	for (int i = first; i < end; i++) {
		struct arg *g = &st->args[st->nargs++];
		const struct token *t = &p->tok[i];

		g->col = t->col;
		if (t->type == T_STRING) {
			g->kind = A_STRING;
			g->s = t->str;
			g->len = t->slen;
		} else if (t->type == T_WORD) {
			g->kind = A_WORD;
			g->s = arena_strndup(p->s, t->p, t->len);
			g->len = t->len;
		} else {
			perr(p, t->col, "exec: unexpected '%.*s'", (int)t->len, t->p);
			return false;
		}
	}
	return true;
}

static bool parse_syscall(struct parser *p, struct stmt *st, int first, int end)
{
	int n = end - first;

	if (n < 1) {
		perr(p, p->end_col, "syscall: missing the number (usage: syscall NR [ARGS...], NR a SYS_* name or a number)");
		return false;
	}
	if (n > 7) {
		perr(p, p->tok[first + 7].col, "syscall: at most 6 arguments");
		return false;
	}
	for (int i = 0; i < n; i++) {
		struct arg *g = &st->args[i];

		g->kind = A_EXPR;
		g->col = p->tok[first + i].col;
		g->e = expr_of(p, &p->tok[first + i], i == 0 ? FAM_SYS : FAM_NR, SCOPE_ARG,
			       i == 0 ? "the syscall number" : "an argument");
		if (!g->e)
			return false;
	}
	st->nargs = n;
	return true;
}

static bool parse_pwrite(struct parser *p, struct stmt *st, int first, int end)
{
	static const char *const names[] = { "fd", "offset" };
	int n = end - first;

	if (n != 3 || p->tok[first + 2].type != T_STRING) {
		perr(p, n > 3 ? p->tok[first + 3].col : n == 3 ? p->tok[first + 2].col : p->end_col,
		     "usage: pwrite FD OFFSET \"TEXT\"");
		return false;
	}
	for (int i = 0; i < 2; i++) {
		st->args[i].kind = A_EXPR;
		st->args[i].col = p->tok[first + i].col;
		st->args[i].e = expr_of(p, &p->tok[first + i], FAM_NUM, SCOPE_ARG, names[i]);
		if (!st->args[i].e)
			return false;
	}
	st->args[2].kind = A_STRING;
	st->args[2].col = p->tok[first + 2].col;
	st->args[2].s = p->tok[first + 2].str;
	st->args[2].len = p->tok[first + 2].slen;
	st->nargs = 3;
	return true;
}

/* The layout fields setlayout knows, as struct as_mm_layout names them. */
static const char *const layout_keys[] = {
	"start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
	"arg_start", "arg_end", "env_start", "env_end", NULL,
};

static bool parse_setlayout(struct parser *p, struct stmt *st, int first, int end)
{
	if (end == first) {
		perr(p, p->end_col, "setlayout wants KEY=VALUE settings, e.g. setlayout start_brk=0x555555559000 brk=0x55555557a000");
		return false;
	}
	for (int i = first; i < end; i++) {
		const struct token *t = &p->tok[i];
		const char *eq = t->type == T_WORD ? memchr(t->p, '=', t->len) : NULL;
		size_t klen = eq ? (size_t)(eq - t->p) : 0;
		struct token vt;
		int k;

		if (!eq || !klen || klen + 1 == t->len) {
			perr(p, t->col, "setlayout settings are KEY=VALUE (keys: start_code end_code start_data end_data "
			     "start_brk brk start_stack arg_start arg_end env_start env_end)");
			return false;
		}
		for (k = 0; layout_keys[k]; k++)
			if (strlen(layout_keys[k]) == klen && !memcmp(layout_keys[k], t->p, klen))
				break;
		if (!layout_keys[k]) {
			perr(p, t->col, "unknown layout field '%.*s' (keys: start_code end_code start_data end_data "
			     "start_brk brk start_stack arg_start arg_end env_start env_end)", (int)klen, t->p);
			return false;
		}
		vt = *t;
		vt.p = eq + 1;
		vt.len = t->len - klen - 1;
		vt.col = t->col + (int)klen + 1;
		struct arg *g = &st->args[st->nargs++];

		g->kind = A_EXPR;
		g->col = t->col;
		g->s = (char *)layout_keys[k];
		g->e = expr_of(p, &vt, FAM_NUM, SCOPE_ARG, layout_keys[k]);
		if (!g->e)
			return false;
	}
	return true;
}

/* The setting names of `machine`, as as_machine_config fields. */
/* An int knob: a value too big for an int is no valid setting (-1), not a truncated one. */
static int knob_int(uint64_t v)
{
	return v > INT_MAX ? -1 : (int)v;
}

static bool apply_machine(struct parser *p, int first, int end)
{
	static const char *const keys[] = {
		"ram", "overcommit", "overcommit_memory", "overcommit_ratio", "max_map_count",
		"mmap_min_addr", "zero_page", "legacy_va_layout", "stack_guard_gap", "thp_align_anon",
		"prefault", "lsm_mmap_min_addr", "nr_hugepages_2m", "hugepages_1g", "nr_hugepages_1g",
		"hugetlb_dev_minor",
	};
	struct as_machine_config *c = &p->s->cfg;

	if (p->s->has_machine) {
		perr(p, p->tok[0].col, "a second machine line: there is one machine per script");
		return false;
	}
	if (p->seen_step) {
		perr(p, p->tok[0].col, "machine settings must come before the first step");
		return false;
	}
	p->s->has_machine = true;
	p->s->machine_line = p->line;
	for (int i = first; i < end; i++) {
		const struct token *t = &p->tok[i];
		const char *eq = t->type == T_WORD ? memchr(t->p, '=', t->len) : NULL;
		size_t klen;
		struct token vt;
		struct expr *e;
		size_t k;

		if (!eq) {
			perr(p, t->col, "machine settings are KEY=VALUE, e.g. ram=256M zero_page=0");
			return false;
		}
		klen = (size_t)(eq - t->p);
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (strlen(keys[k]) == klen && !memcmp(keys[k], t->p, klen))
				break;
		if (k == sizeof(keys) / sizeof(keys[0])) {
			const char *best = NULL;
			int best_d = 3;

			for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++) {
				int d = edit_distance(t->p, klen, keys[j], strlen(keys[j]), 2);

				if (d < best_d) {
					best_d = d;
					best = keys[j];
				}
			}
			if (best)
				perr(p, t->col, "unknown machine setting '%.*s' (did you mean %s?)", (int)klen, t->p, best);
			else
				perr(p, t->col, "unknown machine setting '%.*s' (known: ram overcommit overcommit_ratio "
				     "max_map_count mmap_min_addr zero_page legacy_va_layout stack_guard_gap "
				     "thp_align_anon prefault lsm_mmap_min_addr nr_hugepages_2m hugepages_1g "
				     "nr_hugepages_1g hugetlb_dev_minor)", (int)klen, t->p);
			return false;
		}
		vt = *t;
		vt.p = eq + 1;
		vt.len = t->len - klen - 1;
		vt.col = t->col + (int)klen + 1;
		if (!vt.len) {
			perr(p, vt.col, "machine: %s= wants a value", keys[k]);
			return false;
		}
		e = expr_of(p, &vt, FAM_NUM, SCOPE_CONST, keys[k]);
		if (!e)
			return false;
		switch (k) {
		case 0: c->ram_bytes = e->num; break;
		case 1: case 2: c->overcommit_memory = knob_int(e->num); break;
		case 3: c->overcommit_ratio = knob_int(e->num); break;
		case 4: c->max_map_count = e->num; break;
		case 5: c->mmap_min_addr = e->num; break;
		case 6: c->zero_page = knob_int(e->num); break;
		case 7: c->legacy_va_layout = knob_int(e->num); break;
		case 8: c->stack_guard_gap = e->num; break;
		case 9: c->thp_align_anon = knob_int(e->num); break;
		case 10: c->prefault = knob_int(e->num); break;
		case 11: c->lsm_mmap_min_addr = e->num; break;
		case 12: c->nr_hugepages_2m = e->num; break;
		case 13: c->hugepages_1g = knob_int(e->num); break;
		case 14: c->nr_hugepages_1g = e->num; break;
		case 15: c->hugetlb_dev_minor = (e->num > UINT32_MAX ? UINT32_MAX : (uint32_t)e->num); break;
		}
	}
	return true;
}

static const struct token *need(struct parser *p, int i, const char *what)
{
	if (i >= p->ntok) {
		perr(p, p->end_col, "%s", what);
		return NULL;
	}
	return &p->tok[i];
}

/* The outcome after =>: ok, an errno, a signal, bytes, fill, vec, or a value. */
static struct outcome *parse_outcome(struct parser *p, struct stmt *st, int i)
{
	struct outcome *o = arena_alloc(p->s, sizeof(*o));
	const struct token *t;
	int err;

	if (i < p->ntok && tok_is(&p->tok[i], "expect"))
		i++;
	t = need(p, i, "=> wants an outcome: ok, an errno name, a value, SIGSEGV ..., \"bytes\", fill BYTE LEN or vec 0101");
	if (!t)
		return NULL;
	o->col = t->col;
	if (tok_is(t, "-1") && i + 1 < p->ntok && p->tok[i + 1].type == T_WORD &&
	    errno_by_name(p->tok[i + 1].p, p->tok[i + 1].len))
		t = &p->tok[++i]; /* strace's "-1 EINVAL" */
	if (t->type == T_STRING) {
		o->kind = O_BYTES;
		o->bytes = t->str;
		o->len = t->slen;
		i++;
	} else if (tok_is(t, "ok")) {
		o->kind = O_OK;
		i++;
	} else if (t->type == T_WORD && (err = errno_by_name(t->p, t->len)) != 0) {
		o->kind = O_ERRNO;
		o->err = err;
		i++;
	} else if (t->type == T_WORD && signal_by_name(t->p, t->len)) {
		o->kind = O_SIGNAL;
		o->signo = signal_by_name(t->p, t->len);
		i++;
		if (i < p->ntok && !tok_is(&p->tok[i], "at")) {
			o->code = sicode_by_name(o->signo, p->tok[i].p, p->tok[i].len);
			if (!o->code || p->tok[i].type != T_WORD) {
				perr(p, p->tok[i].col, "unknown si_code '%.*s' for %s", (int)p->tok[i].len,
				     p->tok[i].p, signal_name(o->signo));
				return NULL;
			}
			i++;
		}
		if (i < p->ntok && tok_is(&p->tok[i], "at")) {
			t = need(p, i + 1, "'at' wants the faulting address");
			if (!t)
				return NULL;
			o->value = expr_of(p, t, FAM_NUM, SCOPE_ARG, "the faulting address");
			if (!o->value)
				return NULL;
			i += 2;
		}
	} else if (tok_is(t, "fill")) {
		o->kind = O_FILL;
		if (!need(p, i + 2, "=> fill wants a byte and a length"))
			return NULL;
		o->fill_byte = expr_of(p, &p->tok[i + 1], FAM_NUM, SCOPE_ARG, "fill byte");
		if (!o->fill_byte)
			return NULL;
		o->fill_len = expr_of(p, &p->tok[i + 2], FAM_NUM, SCOPE_ARG, "length");
		if (!o->fill_len)
			return NULL;
		i += 3;
	} else if (tok_is(t, "vec")) {
		size_t n = 0;

		o->kind = O_VEC;
		i++;
		if (!need(p, i, "=> vec wants mincore's vector as digits, e.g. vec 1100"))
			return NULL;
		o->bytes = arena_alloc(p->s, (size_t)p->end_col);
		for (; i < p->ntok; i++) {
			t = &p->tok[i];
			for (size_t k = 0; k < t->len; k++) {
				if (t->type != T_WORD || (t->p[k] != '0' && t->p[k] != '1')) {
					perr(p, t->col + (int)k, "vec is a string of 0 and 1 digits");
					return NULL;
				}
				o->bytes[n++] = t->p[k];
			}
		}
		o->len = n;
	} else {
		o->kind = O_VALUE;
		o->value = expr_of(p, t, FAM_NR, SCOPE_ARG, "the expected value");
		if (!o->value)
			return NULL;
		i++;
	}
	if (i < p->ntok) {
		perr(p, p->tok[i].col, "unexpected '%.*s' after the expected outcome", (int)p->tok[i].len,
		     p->tok[i].p);
		return NULL;
	}
	/* Outcomes that only some ops can produce. */
	if ((o->kind == O_BYTES || o->kind == O_FILL) && st->op != OP_READ && st->op != OP_FETCH) {
		perr(p, o->col, "only read and fetch produce bytes to compare");
		return NULL;
	}
	if (o->kind == O_VEC && st->op != OP_MINCORE) {
		perr(p, o->col, "only mincore produces a vector");
		return NULL;
	}
	return o;
}

static bool parse_expect(struct parser *p, struct stmt *st, int first)
{
	static const char *const cmps[] = { "==", "!=", "<", "<=", ">", ">=" };
	const struct token *t;

	if (first < p->ntok && tok_is(&p->tok[first], "maps")) {
		st->op = OP_EXPECT_MAPS;
		if (p->ntok - first == 3) {
			st->lo = expr_of(p, &p->tok[first + 1], FAM_NUM, SCOPE_ARG, "the start of the range");
			if (!st->lo)
				return false;
			st->hi = expr_of(p, &p->tok[first + 2], FAM_NUM, SCOPE_ARG, "the end of the range");
			return st->hi != NULL;
		}
		if (p->ntok - first != 1) {
			perr(p, p->tok[first + 1].col, "usage: expect maps [START END], then the lines, then end");
			return false;
		}
		return true;
	}
	t = need(p, first, "expect wants a comparison (expect $a == 0x1000) or maps");
	if (!t)
		return false;
	st->lhs = expr_of(p, t, FAM_NR, SCOPE_EXPECT, "the left side");
	if (!st->lhs)
		return false;
	t = need(p, first + 1, "expect wants a comparison: == != < <= > >=");
	if (!t)
		return false;
	size_t k;

	for (k = 0; k < 6; k++)
		if (tok_is(t, cmps[k]))
			break;
	if (k == 6) {
		perr(p, t->col, "expected a comparison (== != < <= > >=), got '%.*s'", (int)t->len, t->p);
		return false;
	}
	st->cmp = (enum cmp)k;
	st->cmp_col = t->col;
	t = need(p, first + 2, "expect: the right side of the comparison is missing");
	if (!t)
		return false;
	st->rhs = expr_of(p, t, FAM_NR, SCOPE_EXPECT, "the right side");
	if (!st->rhs)
		return false;
	if (first + 3 < p->ntok) {
		perr(p, p->tok[first + 3].col, "unexpected '%.*s' after the comparison", (int)p->tok[first + 3].len,
		     p->tok[first + 3].p);
		return false;
	}
	return true;
}

static struct stmt *new_stmt(struct parser *p)
{
	struct script *s = p->s;

	if (s->nstmts == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->stmts = realloc(s->stmts, (size_t)s->cap * sizeof(*s->stmts));
		if (!s->stmts) {
			fprintf(stderr, "aspace: out of memory\n");
			exit(2);
		}
	}
	struct stmt *st = &s->stmts[s->nstmts++];

	memset(st, 0, sizeof(*st));
	st->line = p->line;
	st->var = -1;
	st->src = p->lt;
	return st;
}

/* One line; false on error. */
static bool parse_line(struct parser *p)
{
	struct stmt *st;
	const struct opdesc *d;
	int i = 0, arrow = -1, var = -1;

	if (!lex_line(p, p->lt))
		return false;
	if (!p->ntok)
		return true;
	for (int k = 0; k < p->ntok; k++)
		if (p->tok[k].type == T_ARROW) {
			arrow = k;
			break;
		}
	for (int k = 0; k < p->ntok; k++)
		if (p->tok[k].type == T_EQ && k != 1) {
			perr(p, p->tok[k].col, "'=' only follows a $name at the start of a line");
			return false;
		}
	if (p->tok[0].type == T_WORD && p->tok[0].p[0] == '$') {
		const struct token *t = &p->tok[0];

		if (!valid_ident(t->p + 1, t->len - 1)) {
			perr(p, t->col, "a $name is $ followed by letters, digits and _");
			return false;
		}
		if (p->ntok < 2 || p->tok[1].type != T_EQ) {
			perr(p, p->ntok < 2 ? p->end_col : p->tok[1].col,
			     "expected ' = ' after %.*s (e.g. %.*s = mmap 0 4K PROT_READ MAP_PRIVATE|MAP_ANONYMOUS)",
			     (int)t->len, t->p, (int)t->len, t->p);
			return false;
		}
		if (p->ntok < 3 || arrow == 2) {
			perr(p, p->ntok < 3 ? p->end_col : p->tok[2].col, "%.*s = what? (an op or an expression)",
			     (int)t->len, t->p);
			return false;
		}
		var = var_intern(p, t->p + 1, t->len - 1);
		i = 2;
	}
	const struct token *ot = &p->tok[i];

	if (ot->type != T_WORD) {
		perr(p, ot->col, "expected an op at the start of the line");
		return false;
	}
	d = op_lookup(ot->p, ot->len);
	if (!d && var >= 0) {
		/* $x = EXPR */
		st = new_stmt(p);
		st->op = OP_LET;
		st->col = ot->col;
		st->var = var;
		if (i + 1 < p->ntok) {
			perr(p, p->tok[i + 1].col, "%s: one expression after = (no spaces outside parentheses)",
			     p->s->vars[var]);
			return false;
		}
		st->lhs = expr_of(p, ot, FAM_NR, SCOPE_EXPECT, "the value");
		if (!st->lhs)
			return false;
		p->defined[var] = true;
		return true;
	}
	if (!d) {
		const char *hint = op_suggest(ot->p, ot->len);

		if (hint)
			perr(p, ot->col, "unknown op '%.*s' (did you mean '%s'?)", (int)ot->len, ot->p, hint);
		else
			perr(p, ot->col, "unknown op '%.*s' (`aspace run --help` lists them)", (int)ot->len, ot->p);
		return false;
	}
	if (var >= 0 && !(d->flags & OPF_RESULT)) {
		perr(p, ot->col, "'%s' has no result to put in $%s", d->name, p->s->vars[var]);
		return false;
	}
	if (arrow >= 0 && !(d->flags & OPF_STEP)) {
		perr(p, p->tok[arrow].col, "'%s' is not a step: => expects the result of a step", d->name);
		return false;
	}
	int end = arrow >= 0 ? arrow : p->ntok;

	if (d->op == OP_MACHINE)
		return apply_machine(p, i + 1, end);

	st = new_stmt(p);
	st->op = d->op;
	st->col = ot->col;
	st->var = var;
	switch (d->op) {
	case OP_WRITE:
		if (!parse_write(p, st, i + 1, end))
			return false;
		break;
	case OP_EXEC:
		if (!parse_exec(p, st, i + 1, end))
			return false;
		break;
	case OP_SYSCALL:
		if (!parse_syscall(p, st, i + 1, end))
			return false;
		break;
	case OP_PWRITE:
		if (!parse_pwrite(p, st, i + 1, end))
			return false;
		break;
	case OP_SETLAYOUT:
		if (!parse_setlayout(p, st, i + 1, end))
			return false;
		break;
	case OP_REGIONS:
		if (end > i + 1) {
			perr(p, p->tok[i + 1].col, "regions takes no arguments: the smaps entries follow on the next lines, then end");
			return false;
		}
		break;
	case OP_SAY: {
		/* The rest of the line, verbatim; or one string. */
		const char *rest = ot->p + ot->len;

		while (is_space(*rest))
			rest++;
		st->nargs = 1;
		st->args[0].kind = A_STRING;
		st->args[0].col = (int)(rest - p->lt) + 1;
		if (p->ntok == i + 2 && p->tok[i + 1].type == T_STRING) {
			st->args[0].s = p->tok[i + 1].str;
			st->args[0].len = p->tok[i + 1].slen;
		} else {
			size_t len = strlen(rest);

			while (len && is_space(rest[len - 1]))
				len--;
			st->args[0].s = arena_strndup(p->s, rest, len);
			st->args[0].len = len;
		}
		return true;
	}
	case OP_EXPECT:
		return parse_expect(p, st, i + 1);
	default:
		if (!parse_spec_args(p, st, d, i + 1, end))
			return false;
	}
	if (arrow >= 0) {
		st->out = parse_outcome(p, st, arrow + 1);
		if (!st->out)
			return false;
	}
	if (d->flags & OPF_STEP) {
		st->step = ++p->s->nsteps;
		p->seen_step = true;
	}
	if (var >= 0)
		p->defined[var] = true;
	return true;
}

/* Collapse runs of blanks to one space and trim: how maps lines are compared. */
static char *normalize_maps_line(struct script *s, const char *line)
{
	size_t len = strlen(line), n = 0;
	char *out = arena_alloc(s, len + 1);
	bool space = false;

	for (size_t i = 0; i < len; i++) {
		if (is_space(line[i]) || line[i] == '\n') {
			space = n > 0;
			continue;
		}
		if (space)
			out[n++] = ' ';
		space = false;
		out[n++] = line[i];
	}
	out[n] = '\0';
	return out;
}

struct script *script_parse(const char *name, const char *text, size_t len, FILE *err)
{
	struct script *s = calloc(1, sizeof(*s));
	struct parser p = { .s = s, .err = err };
	int cap = 0;

	if (!s)
		return NULL;
	s->name = strdup(name);
	s->text = malloc(len + 1);
	if (!s->name || !s->text) {
		script_free(s);
		return NULL;
	}
	memcpy(s->text, text, len);
	s->text[len] = '\0';
	as_machine_config_init(&s->cfg);
	/* Split into lines in place. */
	for (char *c = s->text; c < s->text + len;) {
		char *nl = memchr(c, '\n', (size_t)(s->text + len - c));

		if (s->nlines == cap) {
			cap = cap ? 2 * cap : 256;
			s->line_text = realloc(s->line_text, (size_t)cap * sizeof(char *));
			if (!s->line_text) {
				script_free(s);
				return NULL;
			}
		}
		s->line_text[s->nlines++] = c;
		if (!nl)
			break;
		*nl = '\0';
		if (nl > c && nl[-1] == '\r')
			nl[-1] = '\0';
		c = nl + 1;
	}
	for (int ln = 0; ln < s->nlines && !p.failed; ln++) {
		p.line = ln + 1;
		p.lt = s->line_text[ln];
		if (!parse_line(&p))
			break;
		if (s->nstmts && (s->stmts[s->nstmts - 1].op == OP_EXPECT_MAPS ||
				  s->stmts[s->nstmts - 1].op == OP_REGIONS) &&
		    s->stmts[s->nstmts - 1].line == p.line) {
			/* The block: lines up to "end". */
			int start_line = p.line;
			int nl = 0;
			char **lines = NULL;

			for (ln++;; ln++) {
				if (ln >= s->nlines) {
					p.line = start_line;
					p.lt = s->line_text[start_line - 1];
					perr(&p, 1, "%s: no 'end' line closes this block",
					     op_name(s->stmts[s->nstmts - 1].op));
					break;
				}
				char *norm = normalize_maps_line(s, s->line_text[ln]);

				if (!strcmp(norm, "end"))
					break;
				if (!*norm || norm[0] == '#')
					continue;
				char **grown = arena_alloc(s, (size_t)(nl + 1) * sizeof(char *));

				if (nl)
					memcpy(grown, lines, (size_t)nl * sizeof(char *));
				grown[nl++] = norm;
				lines = grown;
			}
			s->stmts[s->nstmts - 1].lines = lines;
			s->stmts[s->nstmts - 1].nlines = nl;
			if (s->stmts[s->nstmts - 1].op == OP_REGIONS) {
				/* The smaps text the block stands for. */
				size_t total = 1;
				char *smaps;

				for (int k = 0; k < nl; k++)
					total += strlen(lines[k]) + 1;
				smaps = arena_alloc(s, total);
				for (int k = 0; k < nl; k++)
					strcat(strcat(smaps, lines[k]), "\n");
				s->stmts[s->nstmts - 1].args[0].kind = A_STRING;
				s->stmts[s->nstmts - 1].args[0].s = smaps;
				s->stmts[s->nstmts - 1].args[0].len = total - 1;
			}
		}
	}
	free(p.defined);
	if (p.failed) {
		script_free(s);
		return NULL;
	}
	return s;
}

struct expr *script_parse_expr(struct script *s, const char *what, const char *text, FILE *err)
{
	struct parser p = { .s = s, .err = err, .line = 1, .lt = text };
	struct token t = { .type = T_WORD, .p = text, .len = strlen(text), .col = 1 };
	char *name = s->name;
	struct expr *e;

	p.defined = malloc(((size_t)s->nvars + 1) * sizeof(bool));
	if (!p.defined)
		return NULL;
	for (int i = 0; i < s->nvars; i++)
		p.defined[i] = true;
	s->name = (char *)what;
	e = expr_of(&p, &t, FAM_NR, SCOPE_EXPECT, what);
	s->name = name;
	free(p.defined);
	return e;
}

struct script *script_load(const char *path, FILE *err)
{
	char *buf;
	size_t len;
	struct script *s;
	int rc = source_read(path, &buf, &len);

	if (rc) {
		fprintf(err, "aspace: %s: %s\n", path, rc == -ENOMEM ? "out of memory" : strerror(-rc));
		return NULL;
	}
	if (memchr(buf, '\0', len)) {
		fprintf(err, "aspace: %s: not a script (it holds NUL bytes)\n", path);
		free(buf);
		return NULL;
	}
	if (source_is_log(buf, len)) {
		fprintf(err, "aspace: %s: a strace log, not a script (aspace replay, report, maps, stats and "
			     "pagetable read logs)\n", path);
		free(buf);
		return NULL;
	}
	s = script_parse(strcmp(path, "-") ? path : "<stdin>", buf, len, err);
	free(buf);
	return s;
}

void script_free(struct script *s)
{
	if (!s)
		return;
	while (s->arena) {
		struct arena *next = s->arena->next;

		free(s->arena);
		s->arena = next;
	}
	free(s->stmts);
	free(s->vars);
	free(s->line_text);
	free(s->text);
	free(s->name);
	free(s);
}
