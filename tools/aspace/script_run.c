/*
 * The scenario language's runner: statements to library calls on one
 * machine and its processes, each step echoed strace-style, each => and
 * expect checked, each view printed (or logged as JSON).
 */
#include "script.h"

#include "ops.h"
#include "progress.h"
#include "views.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "oracle.h" /* orc_space_standins: the oracle's stand-in regions */

/* ---- Builtins: counters, layout and machine statistics in expressions ---- */

enum bsrc { B_COUNTER, B_RSS, B_LAYOUT, B_MACHINE };

struct builtin {
	const char *name;
	enum bsrc src;
	size_t offset;
};

#define BC(f) { #f, B_COUNTER, offsetof(struct as_mm_counters, f) }
#define BL(f) { #f, B_LAYOUT, offsetof(struct as_mm_layout, f) }
#define BM(f) { #f, B_MACHINE, offsetof(struct as_machine_stats, f) }
static const struct builtin builtins[] = {
	BC(total_vm), BC(locked_vm), BC(pinned_vm), BC(data_vm), BC(exec_vm), BC(stack_vm),
	BC(rss_anon), BC(rss_file), BC(rss_shmem), BC(swap_ents), BC(map_count), BC(hiwater_rss),
	BC(hiwater_vm), BC(min_flt), BC(maj_flt), BC(cow_copies), BC(cow_reuses), BC(zero_page_maps),
	BC(committed_pages), { "rss", B_RSS, 0 },
	BL(task_size), BL(mmap_base), BL(start_brk), BL(start_stack), BL(start_code), BL(end_code),
	BL(start_data), BL(end_data), BL(arg_start), BL(arg_end), BL(env_start), BL(env_end),
	BM(total_frames), BM(free_frames), BM(cached_frames), BM(slab_frames), BM(pgtable_frames),
	BM(user_frames), BM(reserved_frames),
};
#define NBUILTINS (int)(sizeof(builtins) / sizeof(builtins[0]))

int builtin_lookup(const char *name, size_t len)
{
	for (int i = 0; i < NBUILTINS; i++)
		if (strlen(builtins[i].name) == len && !memcmp(builtins[i].name, name, len))
			return i;
	return -1;
}

const char *builtin_name(int id)
{
	return id >= 0 && id < NBUILTINS ? builtins[id].name : "?";
}

/* ---- Messages ---- */

/* A run-time input error: file:line:col, the line, a caret; the run stops with 2. */
static void rerr(struct runner *r, const struct stmt *st, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void rerr(struct runner *r, const struct stmt *st, int col, const char *fmt, ...)
{
	va_list ap;

	if (r->opts.out)
		fflush(r->opts.out);
	fprintf(stderr, "%s:%d:%d: error: ", r->script->name, st->line, col);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%5d | %s\n      | ", st->line, st->src);
	for (int i = 0; i < col - 1 && st->src[i]; i++)
		fputc(st->src[i] == '\t' ? '\t' : ' ', stderr);
	fputs("^\n", stderr);
	r->status = 2;
}

/* An expectation that did not hold: file:line:col; the run goes on, the status becomes 1. */
static void efail(struct runner *r, const struct stmt *st, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void efail(struct runner *r, const struct stmt *st, int col, const char *fmt, ...)
{
	va_list ap;

	r->failed_expects++;
	if (r->opts.silent)
		return;
	if (r->opts.out)
		fflush(r->opts.out);
	fprintf(stderr, "%s:%d:%d: expectation failed: ", r->script->name, st->line, col);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- Processes ---- */

static struct proc *cur_proc(struct runner *r)
{
	return r->cur >= 0 ? &r->procs[r->cur] : NULL;
}

static struct as_mm *need_mm(struct runner *r, const struct stmt *st)
{
	struct proc *p = cur_proc(r);

	if (!p) {
		rerr(r, st, st->col, "no process is left to run '%s': every process has exited", op_name(st->op));
		return NULL;
	}
	return p->mm;
}

int runner_find(struct runner *r, const char *name)
{
	if (!name)
		return r->cur;
	for (int i = 0; i < r->nprocs; i++)
		if (r->procs[i].mm && !strcmp(r->procs[i].name, name))
			return i;
	return -1;
}

static int add_proc(struct runner *r, const char *name, int parent, const char *how, struct as_mm *mm)
{
	struct proc *p;

	if (r->nprocs == r->procs_cap) {
		r->procs_cap = r->procs_cap ? 2 * r->procs_cap : 8;
		r->procs = realloc(r->procs, (size_t)r->procs_cap * sizeof(*r->procs));
		if (!r->procs) {
			fprintf(stderr, "aspace: out of memory\n");
			exit(2);
		}
	}
	p = &r->procs[r->nprocs];
	*p = (struct proc){ .name = strdup(name), .pid = r->nprocs + 1, .parent = parent, .how = how,
			    .mm = mm, .born_step = r->stmt ? r->stmt->step : 0,
			    .died_step = -1 };
	return r->nprocs++;
}

/* ---- Evaluation ---- */

/* A command-line expression naming a $var the run has not assigned (yet). */
static bool expr_uses_unset(struct runner *r, const struct expr *e, const char *text)
{
	if (!e)
		return false;
	if (e->kind == E_VAR && !r->defined[e->index]) {
		fprintf(stderr, "aspace: %s: $%s is not assigned by step %d\n", text, r->script->vars[e->index],
			r->step);
		return true;
	}
	return expr_uses_unset(r, e->l, text) || expr_uses_unset(r, e->r, text);
}

static bool eval(struct runner *r, const struct stmt *st, const struct expr *e, uint64_t *out)
{
	uint64_t a, b;

	switch (e->kind) {
	case E_NUM:
		*out = e->num;
		return true;
	case E_VAR:
		*out = r->vals[e->index];
		return true;
	case E_BUILTIN: {
		const struct builtin *bi = &builtins[e->index];

		if (bi->src == B_MACHINE) {
			struct as_machine_stats ms;

			as_machine_get_stats(r->m, &ms);
			*out = *(uint64_t *)((char *)&ms + bi->offset);
			return true;
		}
		struct as_mm *mm = need_mm(r, st);

		if (!mm)
			return false;
		if (bi->src == B_LAYOUT) {
			struct as_mm_layout l;

			as_mm_get_layout(mm, &l);
			*out = *(uint64_t *)((char *)&l + bi->offset);
		} else {
			struct as_mm_counters c;

			as_mm_get_counters(mm, &c);
			*out = bi->src == B_RSS ? c.rss_anon + c.rss_file + c.rss_shmem
						: *(uint64_t *)((char *)&c + bi->offset);
		}
		return true;
	}
	case E_UNARY:
		if (!eval(r, st, e->l, &a))
			return false;
		*out = e->op == '-' ? (uint64_t)0 - a : ~a;
		return true;
	case E_BINARY:
		if (!eval(r, st, e->l, &a) || !eval(r, st, e->r, &b))
			return false;
		switch (e->op) {
		case '+': *out = a + b; return true;
		case '-': *out = a - b; return true;
		case '*': *out = a * b; return true;
		case '|': *out = a | b; return true;
		case '&': *out = a & b; return true;
		case '/':
			if (!b) {
				rerr(r, st, e->col, "division by zero");
				return false;
			}
			*out = a / b;
			return true;
		}
	}
	return false;
}

bool runner_eval(struct runner *r, const char *text, const struct expr *e, uint64_t *out)
{
	struct stmt st = { .line = 1, .col = 1, .src = text };
	char *name = r->script->name;
	bool ok;

	if (!expr_uses_unset(r, e, text)) {
		r->script->name = (char *)"argument";
		ok = eval(r, &st, e, out);
		r->script->name = name;
		return ok;
	}
	return false;
}

/* ---- Results ---- */

struct res {
	bool has_value;
	long value;
	int err;
	char rtype;                /* 'a' hex, 'd' decimal */
	bool faulted;
	struct as_fault fault;
	uint8_t *data;             /* read/fetch bytes; mincore vector */
	size_t len;
	uint64_t addr;             /* where read/fetch read */
	char call[512];
	char note[160];            /* after the result, e.g. (Invalid argument) */
};

static void describe(const struct res *x, char *buf, size_t len)
{
	if (x->faulted)
		snprintf(buf, len, "%s %s at %#" PRIx64, signal_name(x->fault.signo),
			 sicode_name(x->fault.signo, x->fault.code), x->fault.addr);
	else if (x->err)
		snprintf(buf, len, "-1 %s", errno_name(x->err) ? errno_name(x->err) : "E?");
	else if (x->rtype == 'a')
		snprintf(buf, len, "%#lx", (unsigned long)x->value);
	else
		snprintf(buf, len, "%ld", x->value);
}

static void fmt_arg(char *buf, size_t len, char type, enum family fam, uint64_t v)
{
	char tmp[160];

	switch (type) {
	case 'a':
		if (v)
			snprintf(buf, len, "%#" PRIx64, v);
		else
			snprintf(buf, len, "NULL");
		return;
	case 'l':
		snprintf(buf, len, "%" PRIu64, v);
		return;
	case 'r':
		if (v == UINT64_MAX)
			snprintf(buf, len, "RLIM_INFINITY");
		else
			snprintf(buf, len, "%" PRIu64, v);
		return;
	case 'f':
		snprintf(buf, len, "%s", const_format(fam, v, tmp, sizeof(tmp)));
		return;
	case 'd':
		snprintf(buf, len, "%" PRId64, (int64_t)v);
		return;
	default:
		snprintf(buf, len, "%#" PRIx64, v);
	}
}

static void cat(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t len, const char *fmt, ...)
{
	size_t pos = strlen(buf);
	va_list ap;

	if (pos >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + pos, len - pos, fmt, ap);
	va_end(ap);
}

/* A string for the echo, C-escaped, cut after 32 bytes as strace does. */
static void quote(char *buf, size_t len, const char *s, size_t n)
{
	cat(buf, len, "\"");
	for (size_t i = 0; i < n && i < 32; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			cat(buf, len, "\\%c", c);
		else if (c == '\n')
			cat(buf, len, "\\n");
		else if (c >= 32 && c < 127)
			cat(buf, len, "%c", c);
		else
			cat(buf, len, "\\x%02x", c);
	}
	cat(buf, len, n > 32 ? "\"..." : "\"");
}

static void set_result(struct res *x, long v, char rtype)
{
	x->has_value = true;
	x->value = v;
	x->rtype = rtype;
	if (v < 0 && v >= -4095) {
		x->err = (int)-v;
		snprintf(x->note, sizeof(x->note), "(%s)", strerror(x->err));
	}
}

/* ---- The outcome after => ---- */

static bool check_outcome(struct runner *r, const struct stmt *st, const struct res *x)
{
	const struct outcome *o = st->out;
	char got[160], want[160];
	uint64_t v, n, b;

	describe(x, got, sizeof(got));
	switch (o->kind) {
	case O_OK:
		if (!x->faulted && !x->err)
			return true;
		efail(r, st, o->col, "expected success, got %s", got);
		return false;
	case O_ERRNO:
		if (!x->faulted && x->err == o->err)
			return true;
		efail(r, st, o->col, "expected -1 %s, got %s", errno_name(o->err), got);
		return false;
	case O_VALUE:
		if (!eval(r, st, o->value, &v))
			return false;
		if (!x->faulted && (uint64_t)x->value == v)
			return true;
		efail(r, st, o->col, "expected %#" PRIx64 " (%" PRId64 "), got %s", v, (int64_t)v, got);
		return false;
	case O_SIGNAL:
		snprintf(want, sizeof(want), "%s%s%s", signal_name(o->signo), o->code ? " " : "",
			 o->code ? sicode_name(o->signo, o->code) : "");
		v = 0;
		if (o->value) {
			if (!eval(r, st, o->value, &v))
				return false;
			cat(want, sizeof(want), " at %#" PRIx64, v);
		}
		if (x->faulted && x->fault.signo == o->signo && (!o->code || x->fault.code == o->code) &&
		    (!o->value || x->fault.addr == v))
			return true;
		efail(r, st, o->col, "expected %s, got %s", want, got);
		return false;
	case O_BYTES:
	case O_FILL:
		if (x->faulted || x->err) {
			efail(r, st, o->col, "expected bytes, got %s", got);
			return false;
		}
		if (o->kind == O_FILL) {
			if (!eval(r, st, o->fill_byte, &b) || !eval(r, st, o->fill_len, &n))
				return false;
		} else {
			n = o->len;
			b = 0;
		}
		if (n != x->len) {
			efail(r, st, o->col, "expected %" PRIu64 " bytes, %zu were read", n, x->len);
			return false;
		}
		for (size_t i = 0; i < x->len; i++) {
			uint8_t w = o->kind == O_FILL ? (uint8_t)b : (uint8_t)o->bytes[i];

			if (x->data[i] != w) {
				efail(r, st, o->col, "byte %zu differs: expected %#04x, got %#04x", i, w, x->data[i]);
				return false;
			}
		}
		return true;
	case O_VEC:
		if (x->err || !x->data) {
			efail(r, st, o->col, "expected a vector, got %s", got);
			return false;
		}
		if (x->len != o->len) {
			efail(r, st, o->col, "expected a vector of %zu pages, got %zu", o->len, x->len);
			return false;
		}
		for (size_t i = 0; i < x->len; i++)
			if ((x->data[i] & 1) != (uint8_t)(o->bytes[i] - '0')) {
				efail(r, st, o->col, "page %zu: expected %c, mincore says %d", i, o->bytes[i],
				      x->data[i] & 1);
				return false;
			}
		return true;
	}
	return false;
}

/* ---- Output ---- */

static int live_procs(struct runner *r)
{
	int n = 0;

	for (int i = 0; i < r->nprocs; i++)
		n += r->procs[i].mm != NULL;
	return n;
}

/* "[name] " before a step's echo while more than one process lives. */
static void print_prefix(struct runner *r)
{
	struct proc *p = cur_proc(r);

	if (p && live_procs(r) > 1)
		fprintf(r->opts.out, "[%s] ", p->name);
}

static json_t *record(struct runner *r, const struct stmt *st)
{
	json_t *o = json_object();
	struct proc *p = cur_proc(r);

	json_object_set_new(o, "line", json_integer(st->line));
	json_object_set_new(o, "op", json_string(op_name(st->op)));
	if (st->step)
		json_object_set_new(o, "step", json_integer(st->step));
	if (p)
		json_object_set_new(o, "process", json_string(p->name));
	return o;
}

static void emit_step(struct runner *r, const struct stmt *st, struct res *x, bool passed)
{
	char result[200];

	describe(x, result, sizeof(result));
	if (x->faulted)
		snprintf(r->last_result, sizeof(r->last_result), "%s = %s", x->call, result);
	else if (x->has_value)
		snprintf(r->last_result, sizeof(r->last_result), "%s = %s%s%s", x->call, result,
			 x->note[0] ? " " : "", x->note);
	else
		snprintf(r->last_result, sizeof(r->last_result), "%s%s%s", x->call, x->note[0] ? " " : "", x->note);
	if (r->opts.out && r->opts.echo) {
		print_prefix(r);
		if (st->var >= 0)
			fprintf(r->opts.out, "$%s = ", r->script->vars[st->var]);
		fprintf(r->opts.out, "%s\n", r->last_result);
		if ((st->op == OP_READ || st->op == OP_FETCH) && x->data && x->len)
			hexdump(r->opts.out, x->addr, x->data, x->len, "    ");
	}
	if (r->opts.log) {
		json_t *o = record(r, st);

		json_object_set_new(o, "call", json_text(x->call));
		if (x->has_value)
			json_object_set_new(o, "value", json_integer(x->value));
		if (x->err)
			json_object_set_new(o, "errno", json_string(errno_name(x->err) ? errno_name(x->err) : "E?"));
		if (x->faulted)
			json_object_set_new(o, "fault", json_pack("{s:s, s:s, s:o}", "signal",
								   signal_name(x->fault.signo), "code",
								   sicode_name(x->fault.signo, x->fault.code),
								   "addr", json_hex(x->fault.addr)));
		if (x->data && st->op == OP_MINCORE) {
			json_t *vec = json_array();

			for (size_t i = 0; i < x->len; i++)
				json_array_append_new(vec, json_integer(x->data[i]));
			json_object_set_new(o, "vec", vec);
		} else if (x->data) {
			char *hex = malloc(2 * x->len + 1);

			for (size_t i = 0; hex && i < x->len; i++)
				sprintf(hex + 2 * i, "%02x", x->data[i]);
			if (hex) {
				hex[2 * x->len] = '\0';
				json_object_set_new(o, "data", json_string(hex));
			}
			free(hex);
		}
		if (st->var >= 0)
			json_object_set_new(o, "var", json_string(r->script->vars[st->var]));
		if (st->out)
			json_object_set_new(o, "expect_passed", json_boolean(passed));
		json_array_append_new(r->opts.log, o);
	}
}

/* ---- Steps ---- */

static long syscall_nr(enum op op)
{
	switch (op) {
	case OP_MMAP: return SYS_mmap;
	case OP_MUNMAP: return SYS_munmap;
	case OP_MPROTECT: return SYS_mprotect;
	case OP_MREMAP: return SYS_mremap;
	case OP_MADVISE: return SYS_madvise;
	case OP_MLOCK: return SYS_mlock;
	case OP_MLOCK2: return SYS_mlock2;
	case OP_MUNLOCK: return SYS_munlock;
	case OP_MLOCKALL: return SYS_mlockall;
	case OP_MUNLOCKALL: return SYS_munlockall;
	case OP_MSYNC: return SYS_msync;
	case OP_MINCORE: return SYS_mincore;
	case OP_BRK: return SYS_brk;
	default: return -1;
	}
}

/* Evaluate the arguments of a spec'd op into v[], defaults filled in. */
static bool spec_values(struct runner *r, const struct stmt *st, const struct opdesc *d, uint64_t *v, bool *given)
{
	for (int i = 0; i < d->nspec; i++) {
		given[i] = i < st->nargs;
		v[i] = d->spec[i].def;
		if (given[i] && st->args[i].kind == A_EXPR && !eval(r, st, st->args[i].e, &v[i]))
			return false;
	}
	return true;
}

static void format_call(const struct opdesc *d, const uint64_t *v, int n, struct res *x)
{
	snprintf(x->call, sizeof(x->call), "%s(", d->name);
	for (int i = 0; i < n; i++) {
		char a[160];

		fmt_arg(a, sizeof(a), d->spec[i].type, d->spec[i].fam, v[i]);
		cat(x->call, sizeof(x->call), "%s%s", i ? ", " : "", a);
	}
	cat(x->call, sizeof(x->call), ")");
}

#define MAX_ACCESS (64ull << 20)

static int do_syscall(struct runner *r, const struct stmt *st, struct as_mm *mm, struct res *x)
{
	const struct opdesc *d = op_desc(st->op);
	uint64_t v[7] = { 0 };
	bool given[7];
	long nr, ret;

	if (st->op == OP_SYSCALL) {
		for (int i = 0; i < st->nargs; i++)
			if (!eval(r, st, st->args[i].e, &v[i]))
				return -1;
		nr = (long)v[0];
		char a[160];

		snprintf(x->call, sizeof(x->call), "syscall(%s", const_format(FAM_SYS, v[0], a, sizeof(a)));
		for (int i = 1; i < st->nargs; i++)
			cat(x->call, sizeof(x->call), ", %#" PRIx64, v[i]);
		cat(x->call, sizeof(x->call), ")");
		ret = as_syscall(mm, nr, v[1], v[2], v[3], v[4], v[5], v[6]);
		set_result(x, ret, nr == SYS_mmap || nr == SYS_brk || nr == SYS_mremap ? 'a' : 'd');
		return 0;
	}
	if (!spec_values(r, st, d, v, given))
		return -1;
	format_call(d, v, d->nspec, x);
	nr = syscall_nr(st->op);
	ret = as_syscall(mm, nr, v[0], v[1], v[2], v[3], v[4], v[5]);
	set_result(x, ret, d->result);
	if (st->op == OP_MINCORE && ret == 0) {
		uint64_t pages = (v[1] + 4095) / 4096;

		if (pages > MAX_ACCESS)
			pages = MAX_ACCESS;
		x->data = malloc(pages ? pages : 1);
		x->len = pages;
		if (x->data && as_read(mm, v[2], x->data, pages, NULL) == 0) {
			cat(x->note, sizeof(x->note), "[");
			for (uint64_t i = 0; i < pages && i < 64; i++)
				cat(x->note, sizeof(x->note), "%s%d", i ? " " : "", x->data[i]);
			cat(x->note, sizeof(x->note), pages > 64 ? " ...]" : "]");
		} else {
			free(x->data);
			x->data = NULL;
			x->len = 0;
		}
	}
	return 0;
}

static void access_result(struct res *x, int rc, const struct as_fault *f)
{
	if (rc == -EFAULT) {
		x->faulted = true;
		x->fault = *f;
	} else {
		set_result(x, rc, 'd');
		if (rc == -ENOMEM)
			snprintf(x->note, sizeof(x->note), "(out of simulated memory: Linux would OOM-kill)");
	}
}

static int do_access(struct runner *r, const struct stmt *st, struct as_mm *mm, struct res *x)
{
	uint64_t addr, len = 1, b = 0;
	struct as_fault f = { 0 };
	int rc = 0;

	if (!eval(r, st, st->args[0].e, &addr))
		return -1;
	switch (st->op) {
	case OP_READ:
	case OP_FETCH:
		if (st->nargs > 1 && !eval(r, st, st->args[1].e, &len))
			return -1;
		if (len > MAX_ACCESS) {
			rerr(r, st, st->args[1].col, "%s of more than 64M at once", op_name(st->op));
			return -1;
		}
		snprintf(x->call, sizeof(x->call), "%s(%#" PRIx64 ", %" PRIu64 ")", op_name(st->op), addr, len);
		x->addr = addr;
		x->data = malloc(len ? len : 1);
		if (!x->data) {
			rerr(r, st, st->col, "out of host memory");
			return -1;
		}
		memset(x->data, 0, len);
		rc = st->op == OP_READ ? as_read(mm, addr, x->data, len, &f) : as_fetch(mm, addr, x->data, len, &f);
		x->len = rc ? 0 : len;
		access_result(x, rc, &f);
		return 0;
	case OP_TOUCH:
		if (!eval(r, st, st->args[1].e, &len))
			return -1;
		snprintf(x->call, sizeof(x->call), "touch(%#" PRIx64 ", %" PRIu64 ")", addr, len);
		for (uint64_t a = addr; a < addr + len && a >= addr; a = (a & ~0xfffull) + 4096) {
			uint8_t byte;

			rc = as_read(mm, a, &byte, 1, &f);
			if (rc)
				break;
		}
		access_result(x, rc, &f);
		return 0;
	case OP_WRITE:
		break;
	default:
		return -1;
	}
	/* write */
	const struct arg *g = &st->args[1];

	if (g->kind == A_STRING) {
		snprintf(x->call, sizeof(x->call), "write(%#" PRIx64 ", ", addr);
		quote(x->call, sizeof(x->call), g->s, g->len);
		cat(x->call, sizeof(x->call), ", %zu)", g->len);
		rc = as_write(mm, addr, g->s, g->len, &f);
		access_result(x, rc, &f);
		return 0;
	}
	if (!eval(r, st, g->fill_byte, &b) || !eval(r, st, g->fill_len, &len))
		return -1;
	if (b > 0xff) {
		rerr(r, st, g->fill_byte->col, "a fill byte is 0..255, not %#" PRIx64, b);
		return -1;
	}
	snprintf(x->call, sizeof(x->call), "write(%#" PRIx64 ", fill %#04x, %" PRIu64 ")", addr, (unsigned)b, len);
	size_t chunk = len < (1u << 20) ? (size_t)len : (1u << 20);
	uint8_t *buf = malloc(chunk ? chunk : 1);

	if (!buf) {
		rerr(r, st, st->col, "out of host memory");
		return -1;
	}
	memset(buf, (int)b, chunk);
	for (uint64_t done = 0; done < len && !rc;) {
		size_t n = len - done < chunk ? (size_t)(len - done) : chunk;

		rc = as_write(mm, addr + done, buf, n, &f);
		done += n;
	}
	free(buf);
	access_result(x, rc, &f);
	return 0;
}

static bool name_taken(struct runner *r, const char *name)
{
	for (int i = 0; i < r->nprocs; i++)
		if (!strcmp(r->procs[i].name, name))
			return true;
	return false;
}

static void list_live(struct runner *r, char *buf, size_t len)
{
	buf[0] = '\0';
	for (int i = 0; i < r->nprocs; i++)
		if (r->procs[i].mm)
			cat(buf, len, "%s%s", buf[0] ? ", " : "", r->procs[i].name);
	if (!buf[0])
		snprintf(buf, len, "none");
}

static void proc_exit(struct runner *r, int i)
{
	struct proc *p = &r->procs[i];

	as_mm_put(p->mm);
	p->mm = NULL;
	p->died_step = r->stmt ? r->stmt->step : r->step;
	if (r->cur != i)
		return;
	r->cur = -1;
	if (p->parent >= 0 && r->procs[p->parent].mm)
		r->cur = p->parent;
	for (int k = 0; r->cur < 0 && k < r->nprocs; k++)
		if (r->procs[k].mm)
			r->cur = k;
}

#ifdef ASPACE_TOOL_HAVE_EXEC
static long run_exec(struct as_mm *mm, const char *path, char **argv)
{
	char *envp[] = { NULL };
	struct as_exec_info info;

	return as_mm_exec(mm, path, argv, envp, &info);
}
#endif

static int do_process(struct runner *r, const struct stmt *st, struct res *x)
{
	struct proc *p = cur_proc(r);
	char live[256];
	int i;

	switch (st->op) {
	case OP_FORK:
	case OP_THREAD: {
		const char *name = st->args[0].s;
		struct as_mm *child;
		int rc = 0;

		if (!need_mm(r, st))
			return -1;
		if (name_taken(r, name)) {
			rerr(r, st, st->args[0].col, "there is already a process called '%s'", name);
			return -1;
		}
		snprintf(x->call, sizeof(x->call), "%s(%s)", op_name(st->op), name);
		if (st->op == OP_FORK) {
			rc = as_mm_fork(p->mm, &child);
		} else {
			child = p->mm;
			as_mm_get(child);
		}
		if (rc) {
			set_result(x, rc, 'd');
			return 0;
		}
		i = add_proc(r, name, r->cur, st->op == OP_FORK ? "fork" : "thread", child);
		set_result(x, r->procs[i].pid, 'd');
		return 0;
	}
	case OP_SWITCH:
		i = runner_find(r, st->args[0].s);
		if (i < 0) {
			list_live(r, live, sizeof(live));
			rerr(r, st, st->args[0].col, "no live process called '%s' (live: %s)", st->args[0].s, live);
			return -1;
		}
		r->cur = i;
		return 0;
	case OP_EXIT:
		i = st->nargs ? runner_find(r, st->args[0].s) : r->cur;
		if (i < 0) {
			list_live(r, live, sizeof(live));
			if (st->nargs)
				rerr(r, st, st->args[0].col, "no live process called '%s' (live: %s)", st->args[0].s, live);
			else
				rerr(r, st, st->col, "no process is left to exit");
			return -1;
		}
		snprintf(x->call, sizeof(x->call), "exit(%s)", r->procs[i].name);
		proc_exit(r, i);
		return 0;
	case OP_EXEC: {
		char *argv[STMT_MAX_ARGS + 1];

		if (!need_mm(r, st))
			return -1;
		for (i = 0; i < st->nargs; i++)
			argv[i] = st->args[i].s;
		argv[st->nargs] = NULL;
		snprintf(x->call, sizeof(x->call), "execve(");
		quote(x->call, sizeof(x->call), argv[0], strlen(argv[0]));
		cat(x->call, sizeof(x->call), ", [");
		for (i = 0; i < st->nargs; i++) {
			cat(x->call, sizeof(x->call), "%s", i ? ", " : "");
			quote(x->call, sizeof(x->call), argv[i], strlen(argv[i]));
		}
		cat(x->call, sizeof(x->call), "])");
#ifdef ASPACE_TOOL_HAVE_EXEC
		set_result(x, run_exec(p->mm, argv[0], argv), 'd');
		if (!x->err) {
			p->execs = realloc(p->execs, (size_t)(p->nexecs + 1) * sizeof(*p->execs));
			p->execs[p->nexecs++] = (struct exec_event){ .step = st->step, .path = strdup(argv[0]) };
		}
#else
		set_result(x, -ENOSYS, 'd');
		snprintf(x->note, sizeof(x->note), "(exec is not supported yet: this libaspace has no as_mm_exec)");
#endif
		return 0;
	}
	default:
		return -1;
	}
}

static int do_setting(struct runner *r, const struct stmt *st, struct as_mm *mm, struct res *x)
{
	const struct opdesc *d = op_desc(st->op);
	uint64_t v[7] = { 0 };
	bool given[7];
	long rc;

	if (!spec_values(r, st, d, v, given))
		return -1;
	format_call(d, v, d->nspec, x);
	switch (st->op) {
	case OP_SETRLIMIT:
		rc = as_mm_setrlimit(mm, (int)v[0], v[1], v[2]);
		break;
	case OP_SETCAPS:
		rc = as_mm_set_caps(mm, v[0]);
		break;
	case OP_SETIDS:
		rc = as_mm_set_ids(mm, (uint32_t)v[0], (uint32_t)v[1]);
		break;
	default: /* OP_BRKBASE */
		rc = as_mm_set_brk_base(mm, v[0]);
		break;
	}
	set_result(x, rc, 'd');
	return 0;
}

static bool own_fd(struct runner *r, int fd, bool remove)
{
	for (int i = 0; i < r->nfds; i++)
		if (r->fds[i] == fd) {
			if (remove)
				r->fds[i] = r->fds[--r->nfds];
			return true;
		}
	return false;
}

static void keep_fd(struct runner *r, int fd)
{
	if (r->nfds == r->fds_cap) {
		r->fds_cap = r->fds_cap ? 2 * r->fds_cap : 8;
		r->fds = realloc(r->fds, (size_t)r->fds_cap * sizeof(int));
		if (!r->fds) {
			fprintf(stderr, "aspace: out of memory\n");
			exit(2);
		}
	}
	r->fds[r->nfds++] = fd;
}

static int do_file(struct runner *r, const struct stmt *st, struct res *x)
{
	uint64_t v = 0, flags = 0;
	int fd;

	switch (st->op) {
	case OP_OPEN: {
		char f[160];

		if (st->nargs > 1 && !eval(r, st, st->args[1].e, &flags))
			return -1;
		snprintf(x->call, sizeof(x->call), "open(");
		quote(x->call, sizeof(x->call), st->args[0].s, st->args[0].len);
		cat(x->call, sizeof(x->call), ", %s)", const_format(FAM_OPEN, flags, f, sizeof(f)));
		fd = open(st->args[0].s, (int)flags | O_CLOEXEC, 0600);
		set_result(x, fd < 0 ? -errno : fd, 'd');
		if (fd >= 0)
			keep_fd(r, fd);
		return 0;
	}
	case OP_TMPFILE: {
		const char *dir = getenv("TMPDIR");
		char path[4096];

		if (!eval(r, st, st->args[0].e, &v))
			return -1;
		snprintf(x->call, sizeof(x->call), "tmpfile(%" PRIu64 ")", v);
		snprintf(path, sizeof(path), "%s/aspace-XXXXXX", dir && *dir ? dir : "/tmp");
		fd = mkstemp(path);
		if (fd < 0) {
			set_result(x, -errno, 'd');
			return 0;
		}
		unlink(path);
		if (ftruncate(fd, (off_t)v) != 0) {
			set_result(x, -errno, 'd');
			close(fd);
			return 0;
		}
		keep_fd(r, fd);
		set_result(x, fd, 'd');
		return 0;
	}
	case OP_PWRITE: {
		uint64_t off;
		ssize_t n;

		if (!eval(r, st, st->args[0].e, &v) || !eval(r, st, st->args[1].e, &off))
			return -1;
		snprintf(x->call, sizeof(x->call), "pwrite(%" PRId64 ", ", (int64_t)v);
		quote(x->call, sizeof(x->call), st->args[2].s, st->args[2].len);
		cat(x->call, sizeof(x->call), ", %zu, %" PRIu64 ")", st->args[2].len, off);
		if (!own_fd(r, (int)v, false)) {
			set_result(x, -EBADF, 'd');
			snprintf(x->note, sizeof(x->note), "(not a descriptor this script opened)");
			return 0;
		}
		n = pwrite((int)v, st->args[2].s, st->args[2].len, (off_t)off);
		if (n >= 0)
			as_file_changed(r->m, (int)v); /* it may have grown */
		set_result(x, n < 0 ? -errno : (long)n, 'd');
		return 0;
	}
	case OP_FTRUNCATE: {
		uint64_t len;

		if (!eval(r, st, st->args[0].e, &v) || !eval(r, st, st->args[1].e, &len))
			return -1;
		snprintf(x->call, sizeof(x->call), "ftruncate(%" PRId64 ", %" PRIu64 ")", (int64_t)v, len);
		if (!own_fd(r, (int)v, false)) {
			set_result(x, -EBADF, 'd');
			snprintf(x->note, sizeof(x->note), "(not a descriptor this script opened)");
			return 0;
		}
		set_result(x, as_file_truncate(r->m, (int)v, len), 'd');
		return 0;
	}
	default: /* OP_CLOSE */
		if (!eval(r, st, st->args[0].e, &v))
			return -1;
		snprintf(x->call, sizeof(x->call), "close(%" PRId64 ")", (int64_t)v);
		if (!own_fd(r, (int)v, true)) {
			set_result(x, -EBADF, 'd');
			snprintf(x->note, sizeof(x->note), "(not a descriptor this script opened)");
			return 0;
		}
		set_result(x, close((int)v) ? -errno : 0, 'd');
		return 0;
	}
}

/*
 * regions and setlayout: a space made to look like a real process's, as the
 * reproducers of `aspace diff` start. Stand-in regions are the oracle's own
 * (orc_space_standins, as orc_run_aspace builds them); layout fields go
 * through as_mm_set_layout (PR_SET_MM_MAP). A smaps entry the oracle cannot
 * take is a run-time input error; a layout it refuses is the step's -EINVAL.
 */
static int do_setup(struct runner *r, const struct stmt *st, struct as_mm *mm, struct res *x)
{
	if (st->op == OP_REGIONS) {
		char err[256] = "";

		snprintf(x->call, sizeof(x->call), "regions(%d lines of smaps)", st->nlines);
		if (orc_space_standins(mm, st->args[0].s, err, sizeof(err)) != 0) {
			rerr(r, st, st->col, "regions: %s", err);
			return -1;
		}
		set_result(x, 0, 'd');
		return 0;
	}
	struct as_mm_layout l;

	as_mm_get_layout(mm, &l);
	snprintf(x->call, sizeof(x->call), "setlayout(");
	for (int i = 0; i < st->nargs; i++) {
		uint64_t v;
		uint64_t *field = !strcmp(st->args[i].s, "start_code") ? &l.start_code
				: !strcmp(st->args[i].s, "end_code")     ? &l.end_code
				: !strcmp(st->args[i].s, "start_data")   ? &l.start_data
				: !strcmp(st->args[i].s, "end_data")     ? &l.end_data
				: !strcmp(st->args[i].s, "start_brk")    ? &l.start_brk
				: !strcmp(st->args[i].s, "brk")          ? &l.brk
				: !strcmp(st->args[i].s, "start_stack")  ? &l.start_stack
				: !strcmp(st->args[i].s, "arg_start")    ? &l.arg_start
				: !strcmp(st->args[i].s, "arg_end")      ? &l.arg_end
				: !strcmp(st->args[i].s, "env_start")    ? &l.env_start
									 : &l.env_end;

		if (!eval(r, st, st->args[i].e, &v))
			return -1;
		*field = v;
		cat(x->call, sizeof(x->call), "%s%s=%#" PRIx64, i ? ", " : "", st->args[i].s, v);
	}
	cat(x->call, sizeof(x->call), ")");
	set_result(x, as_mm_set_layout(mm, &l), 'd');
	return 0;
}

/* One step; 0, or -1 after a run-time input error. */
static int do_step(struct runner *r, const struct stmt *st)
{
	struct res x = { .rtype = 'd' };
	struct as_mm *mm = NULL;
	bool passed = true;
	int rc;

	switch (st->op) {
	case OP_FORK: case OP_THREAD: case OP_SWITCH: case OP_EXIT: case OP_EXEC:
		rc = do_process(r, st, &x);
		break;
	case OP_OPEN: case OP_TMPFILE: case OP_PWRITE: case OP_FTRUNCATE: case OP_CLOSE:
		rc = do_file(r, st, &x);
		break;
	default:
		mm = need_mm(r, st);
		if (!mm)
			return -1;
		switch (st->op) {
		case OP_READ: case OP_WRITE: case OP_FETCH: case OP_TOUCH:
			rc = do_access(r, st, mm, &x);
			break;
		case OP_SETRLIMIT: case OP_SETCAPS: case OP_SETIDS: case OP_BRKBASE:
			rc = do_setting(r, st, mm, &x);
			break;
		case OP_SETLAYOUT: case OP_REGIONS:
			rc = do_setup(r, st, mm, &x);
			break;
		default:
			rc = do_syscall(r, st, mm, &x);
		}
	}
	if (rc) {
		free(x.data);
		return -1;
	}
	if (st->op == OP_SWITCH) {
		if (r->opts.log)
			json_array_append_new(r->opts.log, record(r, st));
		return 0;
	}
	if (st->var >= 0) {
		r->vals[st->var] = (uint64_t)x.value;
		r->defined[st->var] = true;
	}
	if (st->out) {
		passed = check_outcome(r, st, &x);
		if (r->status == 2) {
			free(x.data);
			return -1;
		}
		if (passed)
			r->passed_expects++;
	}
	emit_step(r, st, &x, passed);
	free(x.data);
	return 0;
}

/* ---- Views ---- */

static void view_ps(struct runner *r, FILE *out, json_t **json)
{
	if (json)
		*json = json_array();
	else
		fprintf(out, "  %4s %4s  %-12s %-7s %-8s %s\n", "PID", "PPID", "NAME", "HOW", "STATE", "REGIONS");
	for (int i = 0; i < r->nprocs; i++) {
		struct proc *p = &r->procs[i];
		struct as_mm_counters c = { 0 };
		int ppid = p->parent >= 0 ? r->procs[p->parent].pid : 0;

		if (p->mm)
			as_mm_get_counters(p->mm, &c);
		if (json) {
			json_array_append_new(*json, json_pack("{s:i, s:i, s:s, s:s, s:b, s:I}", "pid", p->pid,
							       "ppid", ppid, "name", p->name, "how", p->how,
							       "alive", p->mm != NULL, "regions",
							       (json_int_t)c.map_count));
			continue;
		}
		fprintf(out, "%s %4d %4d  %-12s %-7s %-8s ", i == r->cur ? "*" : " ", p->pid, ppid, p->name,
			p->how, p->mm ? "running" : "exited");
		if (p->mm)
			fprintf(out, "%" PRIu64, c.map_count);
		fputc('\n', out);
	}
}

/* check: every live space, then the machine; text of failures to out. */
static bool view_check(struct runner *r, FILE *out, json_t **json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bool ok = true;
	int spaces = 0;

	if (!f)
		return false;
	for (int i = 0; i < r->nprocs; i++) {
		bool seen = false;

		if (!r->procs[i].mm)
			continue;
		for (int k = 0; k < i; k++)
			seen |= r->procs[k].mm == r->procs[i].mm;
		if (seen)
			continue;
		spaces++;
		if (as_mm_check(r->procs[i].mm, f) != 0) {
			fprintf(f, " (space of %s)\n", r->procs[i].name);
			ok = false;
		}
	}
	if (as_machine_check(r->m, f) != 0)
		ok = false;
	fclose(f);
	if (json)
		*json = json_pack("{s:b, s:s}", "ok", ok, "report", text ? text : "");
	else if (!out)
		;
	else if (ok)
		fprintf(out, "check: every invariant holds (%d space%s and the machine)\n", spaces,
			spaces == 1 ? "" : "s");
	else
		fprintf(out, "check: FAILED\n%s", text ? text : "");
	free(text);
	return ok;
}

static int do_view(struct runner *r, const struct stmt *st)
{
	FILE *out = r->opts.out;
	json_t *j = NULL, **jp = r->opts.log ? &j : NULL;
	struct as_mm *mm = NULL;
	uint64_t a = 0, len = 0;

	if (!out && !jp && st->op != OP_CHECK)
		return 0;
	if (st->op != OP_BUDDYINFO && st->op != OP_PS && st->op != OP_CHECK) {
		mm = need_mm(r, st);
		if (!mm)
			return -1;
	}
	if (st->nargs > 0 && !eval(r, st, st->args[0].e, &a))
		return -1;
	if (st->nargs > 1 && !eval(r, st, st->args[1].e, &len))
		return -1;
	if (out && !jp && live_procs(r) > 1 && mm)
		fprintf(out, "%s (pid %d):\n", r->procs[r->cur].name, r->procs[r->cur].pid);
	switch (st->op) {
	case OP_MAPS: view_maps(mm, out, jp); break;
	case OP_SMAPS: view_smaps(mm, st->nargs > 0, a, out, jp); break;
	case OP_PAGETABLE: view_pagetable(mm, a, st->nargs > 1, len, out, jp); break;
	case OP_COUNTERS: view_counters(mm, out, jp); break;
	case OP_LAYOUT: view_layout(mm, out, jp); break;
	case OP_BUDDYINFO: view_buddyinfo(r->m, out, jp); break;
	case OP_PS: view_ps(r, out, jp); break;
	case OP_CHECK:
		if (!view_check(r, out, jp)) {
			r->check_failed = true;
			if (!out && !jp && !r->opts.silent)
				fprintf(stderr, "%s:%d: check failed\n", r->script->name, st->line);
		}
		break;
	default: break;
	}
	if (j) {
		json_t *o = record(r, st);

		json_object_set_new(o, "view", json_string(op_name(st->op)));
		if (json_is_object(j)) {
			json_object_update(o, j);
			json_decref(j);
		} else {
			json_object_set_new(o, "processes", j);
		}
		json_array_append_new(r->opts.log, o);
	}
	return 0;
}

/* ---- Expectations ---- */

static void expr_text(const struct stmt *st, const struct expr *e, char *buf, size_t len)
{
	/* The source word holding the expression: from its column to the next space. */
	const char *p = st->src + e->col - 1;
	size_t n = 0;
	int depth = 0;

	while (p[n] && (depth > 0 || (p[n] != ' ' && p[n] != '\t'))) {
		depth += p[n] == '(' ? 1 : p[n] == ')' ? -1 : 0;
		n++;
	}
	snprintf(buf, len, "%.*s", (int)n, p);
}

static int do_expect(struct runner *r, const struct stmt *st)
{
	static const char *const cmps[] = { "==", "!=", "<", "<=", ">", ">=" };
	uint64_t a, b;
	bool ok = false;
	char ltext[128], rtext[128];

	if (!eval(r, st, st->lhs, &a) || !eval(r, st, st->rhs, &b))
		return -1;
	switch (st->cmp) {
	case CMP_EQ: ok = a == b; break;
	case CMP_NE: ok = a != b; break;
	case CMP_LT: ok = (int64_t)a < (int64_t)b; break;
	case CMP_LE: ok = (int64_t)a <= (int64_t)b; break;
	case CMP_GT: ok = (int64_t)a > (int64_t)b; break;
	case CMP_GE: ok = (int64_t)a >= (int64_t)b; break;
	}
	expr_text(st, st->lhs, ltext, sizeof(ltext));
	expr_text(st, st->rhs, rtext, sizeof(rtext));
	if (ok)
		r->passed_expects++;
	else
		efail(r, st, st->lhs->col, "%s %s %s: the left side is %#" PRIx64 " (%" PRId64 "), the right %#" PRIx64
		      " (%" PRId64 ")", ltext, cmps[st->cmp], rtext, a, (int64_t)a, b, (int64_t)b);
	if (r->opts.log) {
		json_t *o = record(r, st);

		json_object_set_new(o, "expect", json_sprintf("%s %s %s", ltext, cmps[st->cmp], rtext));
		json_object_set_new(o, "left", json_integer((json_int_t)a));
		json_object_set_new(o, "right", json_integer((json_int_t)b));
		json_object_set_new(o, "passed", json_boolean(ok));
		json_array_append_new(r->opts.log, o);
	}
	return 0;
}

static int do_expect_maps(struct runner *r, const struct stmt *st)
{
	struct as_mm *mm = need_mm(r, st);
	uint64_t lo = 0, hi = UINT64_MAX;
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	char **got = NULL;
	int ngot = 0, cap = 0;
	bool ok;
	FILE *f;

	if (!mm)
		return -1;
	if (st->lo && (!eval(r, st, st->lo, &lo) || !eval(r, st, st->hi, &hi)))
		return -1;
	f = open_memstream(&text, &len);
	if (!f)
		return -1;
	as_mm_write_maps(mm, f);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long s = 0, e = 0;
		char *norm, *w;
		bool space = false;

		if (sscanf(line, "%llx-%llx", &s, &e) != 2 || e <= lo || s >= hi)
			continue;
		norm = malloc(strlen(line) + 1);
		w = norm;
		for (char *c = line; *c; c++) {
			if (*c == ' ' || *c == '\t') {
				space = w > norm;
				continue;
			}
			if (space)
				*w++ = ' ';
			space = false;
			*w++ = *c;
		}
		*w = '\0';
		if (ngot == cap) {
			cap = cap ? 2 * cap : 16;
			got = realloc(got, (size_t)cap * sizeof(*got));
		}
		got[ngot++] = norm;
	}
	ok = ngot == st->nlines;
	for (int i = 0; ok && i < ngot; i++)
		ok = !strcmp(got[i], st->lines[i]);
	if (ok) {
		r->passed_expects++;
	} else {
		efail(r, st, st->col, "the maps lines differ (- expected, + actual):");
		for (int i = 0; i < st->nlines && !r->opts.silent; i++) {
			bool found = false;

			for (int k = 0; k < ngot && !found; k++)
				found = !strcmp(got[k], st->lines[i]);
			fprintf(stderr, "  %c %s\n", found ? ' ' : '-', st->lines[i]);
		}
		for (int k = 0; k < ngot && !r->opts.silent; k++) {
			bool found = false;

			for (int i = 0; i < st->nlines && !found; i++)
				found = !strcmp(got[k], st->lines[i]);
			if (!found)
				fprintf(stderr, "  + %s\n", got[k]);
		}
	}
	if (r->opts.log) {
		json_t *o = record(r, st);

		json_object_set_new(o, "passed", json_boolean(ok));
		json_array_append_new(r->opts.log, o);
	}
	for (int i = 0; i < ngot; i++)
		free(got[i]);
	free(got);
	free(text);
	return 0;
}

static int do_let(struct runner *r, const struct stmt *st)
{
	uint64_t v;

	if (!eval(r, st, st->lhs, &v))
		return -1;
	r->vals[st->var] = v;
	r->defined[st->var] = true;
	if (r->opts.out && r->opts.echo)
		fprintf(r->opts.out, "$%s = %#" PRIx64 " (%" PRId64 ")\n", r->script->vars[st->var], v, (int64_t)v);
	return 0;
}

static int do_say(struct runner *r, const struct stmt *st, bool *last_say)
{
	if (r->opts.out) {
		fprintf(r->opts.out, "%s== %s\n", *last_say ? "" : "\n", st->args[0].s);
		*last_say = true;
	}
	if (r->opts.log) {
		json_t *o = json_pack("{s:i, s:s, s:o}", "line", st->line, "op", "say", "text", json_text(st->args[0].s));

		json_array_append_new(r->opts.log, o);
	}
	return 0;
}

/* ---- The run ---- */

static struct runner *panic_runner;

static void panic_hook(const char *msg)
{
	struct runner *r = panic_runner;

	if (r && r->stmt)
		fprintf(stderr, "aspace: libaspace broke an invariant while running %s:%d (%s): %s\n",
			r->script->name, r->stmt->line, r->stmt->src, msg);
	else
		fprintf(stderr, "aspace: libaspace broke an invariant: %s\n", msg);
}

struct runner *runner_new(struct script *s, const struct runner_opts *opts)
{
	struct runner *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->script = s;
	r->opts = *opts;
	r->cur = -1;
	r->vals = calloc((size_t)s->nvars + 1, sizeof(*r->vals));
	r->defined = calloc((size_t)s->nvars + 1, sizeof(*r->defined));
	if (!r->vals || !r->defined) {
		runner_free(r);
		return NULL;
	}
	return r;
}

int runner_run(struct runner *r)
{
	struct script *s = r->script;
	struct progress prog;
	struct as_mm *mm;
	bool last_say = false;
	int rc;

	panic_runner = r;
	as_set_panic_hook(panic_hook);
	rc = as_machine_new(&s->cfg, &r->m);
	if (rc) {
		if (s->machine_line)
			fprintf(stderr, "%s:%d:1: error: the library refuses these machine settings (%s)\n%5d | %s\n",
				s->name, s->machine_line, strerror(-rc), s->machine_line,
				s->line_text[s->machine_line - 1]);
		else
			fprintf(stderr, "aspace: as_machine_new: %s\n", strerror(-rc));
		return r->status = 2;
	}
	rc = as_mm_new(r->m, &mm);
	if (rc) {
		fprintf(stderr, "aspace: as_mm_new: %s\n", strerror(-rc));
		return r->status = 2;
	}
	r->cur = add_proc(r, "main", -1, "initial", mm);
	if (r->opts.observe && !r->opts.observe(r->opts.observe_ctx, r, NULL))
		r->stopped = true;
	progress_begin(&prog, "aspace: step", (uint64_t)s->nsteps, r->opts.progress);
	for (int i = 0; i < s->nstmts && !r->stopped && r->status != 2; i++) {
		const struct stmt *st = &s->stmts[i];

		if (r->opts.stop_line >= 0 && st->line > r->opts.stop_line) {
			r->stopped = true;
			break;
		}
		if (r->opts.stop_step >= 0 && r->step >= r->opts.stop_step) {
			r->stopped = true; /* the state right after that step */
			break;
		}
		r->stmt = st;
		if (st->op != OP_SAY)
			last_say = false;
		switch (st->op) {
		case OP_SAY: rc = do_say(r, st, &last_say); break;
		case OP_LET: rc = do_let(r, st); break;
		case OP_EXPECT: rc = do_expect(r, st); break;
		case OP_EXPECT_MAPS: rc = do_expect_maps(r, st); break;
		default:
			if (op_desc(st->op)->flags & OPF_VIEW)
				rc = do_view(r, st);
			else
				rc = do_step(r, st);
		}
		if (rc)
			break;
		if (st->step) {
			r->step = st->step;
			progress_update(&prog, (uint64_t)r->step);
			if (r->opts.observe && !r->opts.observe(r->opts.observe_ctx, r, st))
				r->stopped = true;
		}
	}
	progress_end(&prog);
	r->stmt = NULL;
	if (r->opts.out)
		fflush(r->opts.out);
	if (r->status != 2)
		r->status = r->failed_expects || r->check_failed ? 1 : 0;
	return r->status;
}

int runner_free(struct runner *r)
{
	int status = 0;

	if (!r)
		return 0;
	for (int i = 0; i < r->nprocs; i++) {
		if (r->procs[i].mm)
			as_mm_put(r->procs[i].mm);
		for (int k = 0; k < r->procs[i].nexecs; k++)
			free(r->procs[i].execs[k].path);
		free(r->procs[i].execs);
		free(r->procs[i].name);
	}
	for (int i = 0; i < r->nfds; i++)
		close(r->fds[i]);
	if (r->m) {
		struct as_machine_stats ms;

		as_machine_drain(r->m);
		if (as_machine_check(r->m, stderr) != 0) {
			fprintf(stderr, "aspace: the machine's invariant checker failed after the run\n");
			status = 1;
		}
		as_machine_get_stats(r->m, &ms);
		if (ms.free_frames + ms.reserved_frames != ms.total_frames) {
			fprintf(stderr, "aspace: %llu frames are still in use after every process exited "
				"(a leak in libaspace)\n",
				(unsigned long long)(ms.total_frames - ms.free_frames - ms.reserved_frames));
			status = 1;
		}
		as_machine_free(r->m);
	}
	if (panic_runner == r)
		panic_runner = NULL;
	free(r->fds);
	free(r->procs);
	free(r->vals);
	free(r->defined);
	free(r);
	return status;
}
