/*
 * aspace replay LOG: replay a strace log on aspace and compare.
 *
 * Every task of the log gets a space: the first from its execve (through
 * as_mm_exec, so that the starting layout is the kernel's), a forked child
 * a copy of its parent's (as_mm_fork), a thread or a vfork child its
 * parent's own (as_mm_get), an execve a new one. Then every recorded mmap,
 * munmap, mprotect, brk, mremap, madvise, mlock, mlock2, munlock, mlockall,
 * munlockall, msync and mincore runs through as_syscall in the order the
 * kernel finished them, file mappings on the recorded paths opened on the
 * host, and each result is compared with the kernel's. A log recorded with
 * randomization on is noticed (the first break and the first placement
 * both differ) and replayed at the recorded addresses, the program and its
 * interpreter placed where their relro mprotects show exec put them
 * (infer_places, as_mm_exec_at).
 *
 * An observer (replay_opts.observe) sees every step of the second pass:
 * the report and the views of a log use it, and may stop the pass early.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd.h"

#include "oracle.h"
#include "progress.h"
#include "replay.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/mman.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_VM
#define CLONE_VM 0x100
#endif
#define ALL_CAPS ((1ull << 41) - 1)

extern char **environ;

struct rfile {
	char *path;
	int fd;
	bool stand_in;          /* a temporary file standing for one we cannot open */
	bool noted;
};

struct rp {
	const struct st_log *log;
	const struct replay_opts *o;
	FILE *out;
	struct as_machine *m;
	struct replay_proc *procs;
	size_t nprocs, cap;
	struct rfile *files;
	size_t nfiles, capf;
	bool randomized;        /* replay at the recorded addresses */
	bool quiet;             /* the detection pass, trials: say nothing */
	bool trial;             /* a call tried on a copy of the space */
	int *group;             /* per event: the group of concurrent calls it belongs to, -1 */
	bool *group_done;
	uint64_t calls, matched, differed, skipped;
	/* Randomization detection: the first break and the first free placement. */
	int brk_seen, mmap_seen;
	bool brk_differs, mmap_differs;
	json_t *jcalls, *jnotes;
	char skipped_names[256];
	struct as_exec_place *places;   /* randomized: per execve event, where its images go */
	struct progress prog;           /* both passes: "aspace: replay 1234/5678 (21%)" */
	/* Observing (the report, the views): steps of the second pass. */
	const struct as_machine_config *cfg;
	int step;               /* steps begun */
	int last_cur;           /* the task of the last step, -1 */
	char last[512];         /* the last step's result, as text */
	bool stopped;           /* a stop option ended the pass */
	int focus, exit_line;   /* views: the task to show; stopped before its exit at this line */
};

static void note(struct rp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct rp *r, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (r->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	progress_clear(&r->prog);
	if (r->o->json)
		json_array_append_new(r->jnotes, json_string(buf));
	else
		fprintf(r->out, "note: %s\n", buf);
}

/* The latest task with this pid; a new one when there is none, or it exited and create. */
static struct replay_proc *proc(struct rp *r, int pid, bool create)
{
	for (size_t i = r->nprocs; i-- > 0;)
		if (r->procs[i].pid == pid) {
			if (r->procs[i].died < 0 || !create)
				return &r->procs[i];
			break;
		}
	if (!create)
		return NULL;
	if (r->nprocs == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct replay_proc *n = realloc(r->procs, cap * sizeof(*n));

		if (!n)
			return NULL;
		r->procs = n;
		r->cap = cap;
	}
	r->procs[r->nprocs] = (struct replay_proc){ .pid = pid, .parent = -1, .how = "initial", .born = r->step,
						    .died = -1 };
	snprintf(r->procs[r->nprocs].name, sizeof(r->procs[r->nprocs].name), "pid %d", pid);
	return &r->procs[r->nprocs++];
}

/* This process's effective capabilities (root in a container may lack some). */
static uint64_t own_caps(void)
{
	char line[256];
	uint64_t caps = geteuid() == 0 ? ALL_CAPS : 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			caps = strtoull(line + 7, NULL, 16);
	if (f)
		fclose(f);
	return caps;
}

/* A space with this process's limits and capabilities, as the traced program had. */
static int new_space(struct rp *r, struct as_mm **out)
{
	struct as_mm *mm;
	int rc = as_mm_new(r->m, &mm);

	if (rc)
		return rc;
	as_mm_set_caps(mm, ALL_CAPS);
	for (int i = 0; i < RLIM_NLIMITS && i < 16; i++) {
		struct rlimit l;

		if (!getrlimit(i, &l))
			as_mm_setrlimit(mm, i, l.rlim_cur, l.rlim_max);
	}
	as_mm_set_caps(mm, own_caps());
	*out = mm;
	return 0;
}

static struct as_mm *space_of(struct rp *r, struct replay_proc *p, const struct st_event *e)
{
	if (!p->mm) {
		if (new_space(r, &p->mm))
			return NULL;
		note(r, "line %d: pid %d made a call before any execve: it starts from an empty space", e->line, p->pid);
	}
	return p->mm;
}

/* A host descriptor for a recorded path; stand-ins for what cannot be opened. */
static int host_fd(struct rp *r, const char *path, bool deleted, uint64_t need, bool *stand_in)
{
	struct rfile *f = NULL;

	for (size_t i = 0; i < r->nfiles; i++)
		if (!strcmp(r->files[i].path, path))
			f = &r->files[i];
	if (!f) {
		if (r->nfiles == r->capf) {
			size_t cap = r->capf ? r->capf * 2 : 16;
			struct rfile *n = realloc(r->files, cap * sizeof(*n));

			if (!n)
				return -1;
			r->files = n;
			r->capf = cap;
		}
		f = &r->files[r->nfiles++];
		f->path = strdup(path);
		f->stand_in = false;
		/* Never writable: replaying must not change the program's files. */
		f->fd = deleted ? -1 : open(path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0) {
			const char *tmp = getenv("TMPDIR");
			char tp[4096];

			if (!strncmp(path, "/memfd:", 7)) {
				f->fd = (int)syscall(SYS_memfd_create, path + 7, MFD_CLOEXEC);
			} else {
				snprintf(tp, sizeof(tp), "%s/aspace-replay-XXXXXX", tmp && *tmp ? tmp : "/tmp");
				f->fd = mkstemp(tp);
				if (f->fd >= 0)
					unlink(tp);
			}
			f->stand_in = true;
		}
		f->noted = false;
	}
	if (f->stand_in && !f->noted && !r->quiet) {
		f->noted = true;
		note(r, "%s%s cannot be opened: a zero-filled %s stands for it", path, deleted ? " (deleted)" : "",
		     !strncmp(path, "/memfd:", 7) ? "memfd" : "temporary file");
	}
	if (f->stand_in && f->fd >= 0) {
		struct stat st;

		if (!fstat(f->fd, &st) && (uint64_t)st.st_size < need && ftruncate(f->fd, (off_t)need))
			return -1;
	}
	*stand_in = f->stand_in;
	return f->fd;
}

static const char *fmt_result(int64_t v, bool addr, char *buf, size_t len)
{
	if (v < 0 && v >= -4095) {
		const char *n = errno_name((int)-v);

		snprintf(buf, len, "-1 %s", n ? n : "E?");
	} else if (addr) {
		snprintf(buf, len, "%#" PRIx64, (uint64_t)v);
	} else {
		snprintf(buf, len, "%" PRId64, v);
	}
	return buf;
}

/* One compared call. */
static void result(struct rp *r, const struct st_event *e, int64_t aspace, bool addr, const char *why)
{
	bool same = !why && e->has_ret && e->ret == aspace;
	char kb[64], ab[64];

	if (r->quiet)
		return;
	r->calls++;
	if (same)
		r->matched++;
	else
		r->differed++;
	fmt_result(e->ret, addr, kb, sizeof(kb));
	fmt_result(aspace, addr, ab, sizeof(ab));
	snprintf(r->last, sizeof(r->last), "%s (aspace: %s)", e->has_ret ? kb : "?",
		 same ? "the same" : why ? why : ab);
	if (r->o->json) {
		json_t *c = json_pack("{s:i, s:i, s:s, s:s, s:s, s:b}", "line", e->line, "pid", e->pid, "call",
				      e->text ? e->text : e->name, "kernel", kb, "aspace", why ? "-" : ab, "matched",
				      same);

		if (why)
			json_object_set_new(c, "why", json_string(why));
		json_array_append_new(r->jcalls, c);
		return;
	}
	if (same && !r->o->verbose)
		return;
	progress_clear(&r->prog);
	fprintf(r->out, "%s:%d: %s = %s", r->o->name, e->line, e->text ? e->text : e->name, kb);
	if (same)
		fprintf(r->out, "  (aspace: the same)\n");
	else if (why)
		fprintf(r->out, "  (aspace: %s)\n", why);
	else
		fprintf(r->out, "  (aspace: %s)\n", ab);
}

static bool arg(char **a, int n, int i, enum family fam, uint64_t *v)
{
	return i < n && st_value(a[i], fam, v);
}

static bool is_memory_call(const char *n)
{
	static const char *const names[] = { "mmap", "munmap", "mprotect", "brk", "mremap", "madvise", "mlock",
					     "mlock2", "munlock", "mlockall", "munlockall", "msync", "mincore" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(n, names[i]))
			return true;
	return false;
}

static void randomization_probe(struct rp *r, const struct st_event *e, uint64_t a0, uint64_t flags, int64_t got)
{
	if (!e->has_ret || e->ret < 0)
		return;
	if (!strcmp(e->name, "brk") && a0 == 0 && !r->brk_seen++)
		r->brk_differs = got != e->ret;
	if (!strcmp(e->name, "mmap") && a0 == 0 && !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && !r->mmap_seen++)
		r->mmap_differs = got != e->ret;
}

/*
 * Run memory call e on mm and compare (reported unless r->quiet). Returns
 * whether aspace's result is the kernel's.
 */
static bool memory_call(struct rp *r, const struct st_event *e, struct replay_proc *p, struct as_mm *mm)
{
	uint64_t a[6] = { 0 };
	char **v = NULL;
	int n = st_split(e->args, &v);
	int64_t got = -ENOSYS;
	bool addr = false, ok = true;
	const char *why = NULL;
	char whybuf[256];

	if (!mm || n < 0) {
		result(r, e, -ENOMEM, false, "out of memory");
		st_split_free(v, n);
		return false;
	}
	if (!strcmp(e->name, "mmap")) {
		bool del = false, stand_in = false;
		char *path;

		ok = n == 6 && arg(v, n, 0, FAM_NUM, &a[0]) && arg(v, n, 1, FAM_NUM, &a[1]) &&
		     arg(v, n, 2, FAM_PROT, &a[2]) && arg(v, n, 3, FAM_MAP, &a[3]) && arg(v, n, 4, FAM_NUM, &a[4]) &&
		     arg(v, n, 5, FAM_NUM, &a[5]);
		addr = true;
		if (ok && !(a[3] & MAP_ANONYMOUS) && (int)a[4] >= 0) {
			path = st_fd_path(v[4], &del);
			if (!path) {
				why = r->log->has_paths ? "a descriptor without its path"
							: "the log has no paths (record it with strace -y)";
			} else if (strncmp(path, "/", 1) || (!strncmp(path, "/dev/", 5) && strcmp(path, "/dev/zero"))) {
				snprintf(whybuf, sizeof(whybuf), "cannot be replayed: a mapping of %s", path);
				why = whybuf;
			} else {
				int fd = host_fd(r, path, del, a[5] + a[1], &stand_in);

				if (fd < 0) {
					snprintf(whybuf, sizeof(whybuf), "cannot open %s", path);
					why = whybuf;
				}
				a[4] = (uint64_t)(int64_t)fd;
			}
			free(path);
		}
		if (ok && !why && r->randomized && e->has_ret && e->ret >= 0) {
			a[0] = (uint64_t)e->ret;
			a[3] = (a[3] & ~(uint64_t)MAP_FIXED_NOREPLACE) | MAP_FIXED;
		}
		if (ok && !why)
			got = as_syscall(mm, SYS_mmap, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (ok && !why && !r->trial)
			randomization_probe(r, e, a[0], a[3], got);
	} else if (!strcmp(e->name, "munmap") || !strcmp(e->name, "mlock") || !strcmp(e->name, "munlock")) {
		ok = n == 2 && arg(v, n, 0, FAM_NUM, &a[0]) && arg(v, n, 1, FAM_NUM, &a[1]);
		if (ok)
			got = as_syscall(mm, !strcmp(e->name, "munmap") ? SYS_munmap : !strcmp(e->name, "mlock") ? SYS_mlock
													: SYS_munlock,
					 a[0], a[1], 0, 0, 0, 0);
	} else if (!strcmp(e->name, "mprotect")) {
		ok = n == 3 && arg(v, n, 0, FAM_NUM, &a[0]) && arg(v, n, 1, FAM_NUM, &a[1]) && arg(v, n, 2, FAM_PROT, &a[2]);
		if (ok)
			got = as_syscall(mm, SYS_mprotect, a[0], a[1], a[2], 0, 0, 0);
	} else if (!strcmp(e->name, "brk")) {
		ok = n == 1 && arg(v, n, 0, FAM_NUM, &a[0]);
		addr = true;
		if (ok && r->randomized && !p->fixed_brk && a[0] == 0 && e->has_ret) {
			/* The heap's random start: take the kernel's. */
			as_mm_set_brk_base(mm, (uint64_t)e->ret);
			p->fixed_brk = !r->trial;
		}
		if (ok)
			got = as_syscall(mm, SYS_brk, a[0], 0, 0, 0, 0, 0);
		if (ok && !r->trial)
			randomization_probe(r, e, a[0], 0, got);
	} else if (!strcmp(e->name, "mremap")) {
		ok = (n == 4 || n == 5) && arg(v, n, 0, FAM_NUM, &a[0]) && arg(v, n, 1, FAM_NUM, &a[1]) &&
		     arg(v, n, 2, FAM_NUM, &a[2]) && arg(v, n, 3, FAM_MREMAP, &a[3]) && (n == 4 || arg(v, n, 4, FAM_NUM, &a[4]));
		addr = true;
		if (ok && r->randomized && e->has_ret && e->ret >= 0 && (uint64_t)e->ret != a[0] && (a[3] & MREMAP_MAYMOVE)) {
			a[3] |= MREMAP_FIXED;
			a[4] = (uint64_t)e->ret;
		}
		if (ok)
			got = as_syscall(mm, SYS_mremap, a[0], a[1], a[2], a[3], a[4], 0);
	} else if (!strcmp(e->name, "madvise")) {
		ok = n == 3 && arg(v, n, 0, FAM_NUM, &a[0]) && arg(v, n, 1, FAM_NUM, &a[1]) && arg(v, n, 2, FAM_MADV, &a[2]);
		if (ok)
			got = as_syscall(mm, SYS_madvise, a[0], a[1], a[2], 0, 0, 0);
	} else if (!strcmp(e->name, "mlock2")) {
		ok = n == 3 && arg(v, n, 0, FAM_NUM, &a[0]) && arg(v, n, 1, FAM_NUM, &a[1]) && arg(v, n, 2, FAM_MLOCK, &a[2]);
		if (ok)
			got = as_syscall(mm, SYS_mlock2, a[0], a[1], a[2], 0, 0, 0);
	} else if (!strcmp(e->name, "mlockall")) {
		ok = n == 1 && arg(v, n, 0, FAM_MCL, &a[0]);
		if (ok)
			got = as_syscall(mm, SYS_mlockall, a[0], 0, 0, 0, 0, 0);
	} else if (!strcmp(e->name, "munlockall")) {
		ok = n == 0;
		if (ok)
			got = as_syscall(mm, SYS_munlockall, 0, 0, 0, 0, 0, 0);
	} else if (!strcmp(e->name, "msync")) {
		ok = n == 3 && arg(v, n, 0, FAM_NUM, &a[0]) && arg(v, n, 1, FAM_NUM, &a[1]) && arg(v, n, 2, FAM_MS, &a[2]);
		if (ok)
			got = as_syscall(mm, SYS_msync, a[0], a[1], a[2], 0, 0, 0);
	} else if (!strcmp(e->name, "mincore")) {
		ok = n == 3 && arg(v, n, 0, FAM_NUM, &a[0]) && arg(v, n, 1, FAM_NUM, &a[1]);
		if (ok) {
			/* The vector goes to a scratch mapping of the space, gone right after. */
			uint64_t pages = (a[1] + 4095) / 4096, vlen = (pages + 4095) & ~4095ull;
			int64_t scratch = vlen < (1ull << 30)
				? as_syscall(mm, SYS_mmap, 0, vlen ? vlen : 4096, PROT_READ | PROT_WRITE,
					     MAP_SHARED | MAP_ANONYMOUS, (uint64_t)-1, 0)
				: -ENOMEM;

			got = scratch < 0 ? scratch : as_syscall(mm, SYS_mincore, a[0], a[1], (uint64_t)scratch, 0, 0, 0);
			if (got == 0 && e->has_ret && e->ret == 0) {
				uint8_t kv[4096], av[4096];
				int kn = st_vector(v[2], kv, sizeof(kv));

				if (kn > 0 && !as_read(mm, (uint64_t)scratch, av, (size_t)kn, NULL)) {
					for (int i = 0; i < kn; i++)
						if ((kv[i] & 1) != (av[i] & 1)) {
							snprintf(whybuf, sizeof(whybuf), "the same result but page %d is %sresident",
								 i, av[i] & 1 ? "" : "not ");
							why = whybuf;
							break;
						}
				}
			}
			if (scratch >= 0)
				as_syscall(mm, SYS_munmap, (uint64_t)scratch, vlen, 0, 0, 0, 0);
		}
	}
	st_split_free(v, n);
	if (!ok) {
		result(r, e, -ENOSYS, false, "arguments aspace cannot read");
		return false;
	}
	if (!e->has_ret)
		return true; /* `= ?`: nothing to compare */
	result(r, e, got, addr, why);
	return !why && e->ret == got;
}

/*
 * Calls of threads sharing a space that overlap in time (one began before
 * the other finished) ran in an order the log does not tell. The group is
 * replayed in the first order (a depth-first search over the calls in
 * order of completion, trying each on a copy of the space, as_mm_fork)
 * in which every result is the kernel's; when there is none (or the search
 * is too long), greedily: next the first call whose result matches, else
 * the first call, whose result then differs.
 */
static bool may_go(const struct rp *r, const size_t *members, size_t n, const bool *done, size_t i)
{
	const struct st_event *e = &r->log->ev[members[i]];

	if (done[i])
		return false;
	/* Not before a call that had finished when it began, nor before its thread's earlier ones. */
	for (size_t j = 0; j < n; j++)
		if (!done[j] && j != i &&
		    (r->log->ev[members[j]].line < e->entry_line ||
		     (r->log->ev[members[j]].pid == e->pid && r->log->ev[members[j]].line < e->line)))
			return false;
	return true;
}

/* Try members[i] on a copy of state: the copy after it when its result matches, else NULL. */
static struct as_mm *try_call(struct rp *r, const size_t *members, size_t i, struct as_mm *state)
{
	const struct st_event *e = &r->log->ev[members[i]];
	struct replay_proc *p = proc(r, e->pid, true);
	bool quiet = r->quiet, ok;
	struct as_mm *copy = NULL;

	if (!p || as_mm_fork(state, &copy))
		return NULL;
	r->quiet = true;
	r->trial = true;
	ok = memory_call(r, e, p, copy);
	r->trial = false;
	r->quiet = quiet;
	if (!ok) {
		as_mm_put(copy);
		return NULL;
	}
	return copy;
}

static bool search(struct rp *r, const size_t *members, size_t n, bool *done, size_t *seq, size_t depth,
		   struct as_mm *state, int *budget)
{
	if (depth == n)
		return true;
	for (size_t i = 0; i < n; i++) {
		struct as_mm *next;

		if (!may_go(r, members, n, done, i))
			continue;
		if (--*budget < 0)
			return false;
		next = try_call(r, members, i, state);
		if (!next)
			continue;
		done[i] = true;
		seq[depth] = i;
		if (search(r, members, n, done, seq, depth + 1, next, budget)) {
			as_mm_put(next);
			return true;
		}
		done[i] = false;
		as_mm_put(next);
	}
	return false;
}

/* Steps and their observer (the second pass only). */
bool replay_is_step(const struct st_event *e)
{
	return e->kind == ST_EXIT || !strcmp(e->name, "execve") || !strcmp(e->name, "execveat") ||
	       !strcmp(e->name, "clone") || !strcmp(e->name, "clone3") || !strcmp(e->name, "fork") ||
	       !strcmp(e->name, "vfork") || is_memory_call(e->name);
}

/* Does a stop option end the pass before e, which would be step r->step + 1? */
static bool stop_before(const struct rp *r, const struct st_event *e)
{
	if (r->quiet)
		return false;
	return (r->o->stop_at_step && r->step >= r->o->stop_step) ||
	       (r->o->stop_at_line && replay_key(e) > r->o->stop_line);
}

static void observe(struct rp *r, const struct st_event *e, int cur, bool done)
{
	struct replay_snap snap = { .step = r->step, .e = e, .result = r->last, .cur = cur, .procs = r->procs,
				    .nprocs = r->nprocs, .m = r->m, .cfg = r->cfg, .done = done,
				    .exit_line = done ? r->exit_line : 0 };

	if (!r->quiet && r->o->observe && !r->o->observe(r->o->observe_ctx, &snap) && !done)
		r->stopped = true;
}

static void step_begin(struct rp *r)
{
	r->step++;
	r->last[0] = '\0';
}

static void step_end(struct rp *r, const struct st_event *e)
{
	struct replay_proc *p = proc(r, e->pid, false);

	if (r->quiet)
		return;
	if (!r->last[0] && e->kind == ST_CALL) {
		char kb[64];

		snprintf(r->last, sizeof(r->last), "%s", e->has_ret ? fmt_result(e->ret, false, kb, sizeof(kb)) : "?");
	}
	r->last_cur = p ? (int)(p - r->procs) : -1;
	observe(r, e, r->last_cur, false);
}

/* Replay event ev of a group as one step; false once the replay stops (--step/--line). */
static bool replay_member(struct rp *r, size_t ev)
{
	const struct st_event *e = &r->log->ev[ev];
	struct replay_proc *p = proc(r, e->pid, true);

	if (r->stopped || stop_before(r, e)) {
		r->stopped = true;
		return false;
	}
	step_begin(r);
	memory_call(r, e, p, space_of(r, p, e));
	step_end(r, e);
	return true;
}

static void group_calls(struct rp *r, const size_t *members, size_t n)
{
	bool *done = calloc(n, sizeof(bool));
	size_t *seq = calloc(n, sizeof(size_t));
	const struct st_event *e0 = &r->log->ev[members[0]];
	struct replay_proc *p0 = proc(r, e0->pid, true);
	struct as_mm *mm = p0 ? space_of(r, p0, e0) : NULL;
	int budget = 4000;

	if (!done || !seq || !mm) {
		free(done);
		free(seq);
		return;
	}
	if (search(r, members, n, done, seq, 0, mm, &budget)) {
		for (size_t k = 0; k < n; k++)
			if (!replay_member(r, members[seq[k]]))
				break;
		goto out;
	}
	memset(done, 0, n * sizeof(bool));
	for (size_t left = n; left > 0; left--) {
		size_t pick = n, first = n;

		for (size_t i = 0; i < n && pick == n; i++) {
			struct as_mm *next;

			if (!may_go(r, members, n, done, i))
				continue;
			if (first == n)
				first = i;
			next = try_call(r, members, i, mm);
			if (next) {
				as_mm_put(next);
				pick = i;
			}
		}
		if (pick == n)
			pick = first;
		if (pick == n)
			break;
		done[pick] = true;
		if (!replay_member(r, members[pick]))
			break;
	}
out:
	free(done);
	free(seq);
}

static void clone_call(struct rp *r, const struct st_event *e, struct replay_proc *p)
{
	const char *f = strstr(e->args, "flags=");
	bool vm = !strcmp(e->name, "vfork");
	struct replay_proc *c;
	struct as_mm *mm;
	int rc;

	if (!e->has_ret || e->ret <= 0)
		return;
	if (f) {
		const char *t = f + 6;

		while (*t && *t != ',' && *t != '}' && *t != ' ') {
			if (!strncmp(t, "CLONE_VM", 8) && (t[8] == '|' || t[8] == ',' || t[8] == '}' || t[8] == ' ' || !t[8]))
				vm = true;
			t++;
		}
	}
	mm = space_of(r, p, e);
	c = proc(r, (int)e->ret, true);
	p = proc(r, e->pid, true); /* proc() may have moved the table */
	if (!mm || !c)
		return;
	c->parent = (int)(p - r->procs);
	c->how = !strcmp(e->name, "vfork") ? "vfork" : vm ? "thread" : "fork";
	c->born = r->step;
	memcpy(c->name, p->name, sizeof(c->name));
	if (c->mm) {
		as_mm_put(c->mm);
		c->mm = NULL;
	}
	if (vm) {
		as_mm_get(mm);
		c->mm = mm;
		return;
	}
	rc = as_mm_fork(mm, &c->mm);
	if (rc) {
		c->mm = NULL;
		note(r, "line %d: as_mm_fork for pid %d: %s", e->entry_line, c->pid, strerror(-rc));
	}
}

static void execve_call(struct rp *r, const struct st_event *e, struct replay_proc *p)
{
	char **v = NULL, *path, **argv = NULL;
	int n = st_split(e->args, &v);
	bool t1 = false, t2 = false;
	struct as_exec_info info;
	struct as_mm *mm = NULL;
	int rc;

	path = n >= 2 ? st_string(v[0], &t1) : NULL;
	argv = n >= 2 ? st_string_array(v[1], &t2) : NULL;
	st_split_free(v, n);
	if (!path || t1) {
		result(r, e, -ENOSYS, false, "the program's path is cut short (record with strace -s 4096)");
		goto out;
	}
	if (t2)
		note(r, "line %d: execve's arguments are cut short in the log: the stack may differ", e->line);
	if (!e->has_ret)
		goto out;
	rc = new_space(r, &mm);
	if (!rc)
		rc = as_mm_exec_at(mm, path, argv, environ,
				   r->randomized && r->places ? &r->places[e - r->log->ev] : NULL, &info);
	if (!r->quiet && rc == 0 && !r->o->json && r->o->verbose)
		progress_clear(&r->prog);
	if (!r->quiet && rc == 0 && !r->o->json && r->o->verbose)
		fprintf(r->out, "%s:%d: pid %d execs %s: program at %#" PRIx64 ", interpreter at %#" PRIx64
			", break at %#" PRIx64 "\n",
			r->o->name, e->line, p->pid, path, info.load_base, info.interp_base, info.start_brk);
	result(r, e, rc, false, NULL);
	if (e->ret == 0) {
		/* The task leaves its old space (a vfork parent keeps it) for the new one. */
		const char *base = strrchr(path, '/');
		void *grown = realloc(p->execs, (size_t)(p->nexecs + 1) * sizeof(*p->execs));

		as_mm_put(p->mm);
		p->mm = mm;
		p->fixed_brk = false;
		mm = NULL;
		snprintf(p->name, sizeof(p->name), "%s", base ? base + 1 : path);
		if (grown) {
			p->execs = grown;
			p->execs[p->nexecs].step = r->step;
			p->execs[p->nexecs++].path = strdup(path);
		}
	}
out:
	as_mm_put(mm);
	free(path);
	for (int i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

int replay_key(const struct st_event *e)
{
	/* Process creation happens when it begins: the child's lines may come before the parent's result. */
	if (!strcmp(e->name, "clone") || !strcmp(e->name, "clone3") || !strcmp(e->name, "fork") ||
	    !strcmp(e->name, "vfork"))
		return e->entry_line;
	return e->line;
}

static const struct st_event *sort_base;

static int by_key(const void *x, const void *y)
{
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	int a = replay_key(&sort_base[i]), b = replay_key(&sort_base[j]);

	return a != b ? (a < b ? -1 : 1) : (i < j ? -1 : i > j);
}

/*
 * Which calls overlap in time within one space: the spaces the tasks have
 * (a thread or vfork child shares its parent's until it execs), then, per
 * space, runs of calls each of which began before the run's last one
 * finished. Groups hold at most 64 calls; a longer run is cut.
 */
static void find_groups(struct rp *r, const size_t *order)
{
	const struct st_log *log = r->log;
	int *space = malloc(log->n * sizeof(int) + 1), next = 0, ngroups = 0;
	struct { int pid, space; } *ps = NULL;
	size_t nps = 0;

	r->group = malloc(log->n * sizeof(int) + 1);
	if (!space || !r->group) {
		free(space);
		return;
	}
	for (size_t k = 0; k < log->n; k++) {
		const struct st_event *e = &log->ev[order[k]];
		size_t i;

		r->group[order[k]] = -1;
		space[order[k]] = -1;
		for (i = 0; i < nps && ps[i].pid != e->pid; i++)
			;
		if (i == nps) {
			ps = realloc(ps, (nps + 1) * sizeof(*ps));
			if (!ps)
				break;
			ps[nps].pid = e->pid;
			ps[nps++].space = next++;
		}
		if (e->kind == ST_EXIT)
			continue;
		if (!strcmp(e->name, "execve") && e->has_ret && e->ret == 0) {
			ps[i].space = next++;
		} else if ((!strcmp(e->name, "clone") || !strcmp(e->name, "clone3") || !strcmp(e->name, "fork") ||
			    !strcmp(e->name, "vfork")) && e->has_ret && e->ret > 0) {
			bool vm = !strcmp(e->name, "vfork") || strstr(e->args, "CLONE_VM");
			int sp = vm ? ps[i].space : next++;

			ps = realloc(ps, (nps + 1) * sizeof(*ps));
			if (!ps)
				break;
			ps[nps].pid = (int)e->ret;
			ps[nps++].space = sp;
		} else if (is_memory_call(e->name)) {
			space[order[k]] = ps[i].space;
		}
	}
	/* Per space, in order of beginning: a call that began before the run's last end joins it. */
	for (int sp = 0; sp < next; sp++) {
		int run_end = -1, run_group = -1;
		size_t run_len = 0;
		size_t *idx = NULL, ni = 0;

		for (size_t k = 0; k < log->n; k++)
			if (space[order[k]] == sp) {
				idx = realloc(idx, (ni + 1) * sizeof(*idx));
				if (!idx)
					break;
				idx[ni++] = order[k];
			}
		/* by entry line (insertion sort: runs are short and mostly sorted) */
		for (size_t a = 1; a < ni; a++)
			for (size_t b = a; b > 0 && log->ev[idx[b - 1]].entry_line > log->ev[idx[b]].entry_line; b--) {
				size_t t = idx[b];

				idx[b] = idx[b - 1];
				idx[b - 1] = t;
			}
		for (size_t a = 0; a < ni; a++) {
			const struct st_event *e = &log->ev[idx[a]];

			if (a > 0 && e->entry_line < run_end && run_len < 64) {
				if (run_group < 0) {
					run_group = ngroups++;
					r->group[idx[a - 1]] = run_group;
				}
				r->group[idx[a]] = run_group;
				run_len++;
			} else {
				run_group = -1;
				run_len = 1;
				run_end = -1;
			}
			if (e->line > run_end)
				run_end = e->line;
		}
		free(idx);
	}
	r->group_done = calloc(log->n + 1, sizeof(bool));
	(void)ngroups;
	free(space);
	free(ps);
}

/*
 * A view shows the task of the last step; when that step would be its exit
 * (or, with focus_pid, when the chosen task exits before the stop), the
 * pass stops right before the exit, so that the space is still there.
 */
static bool stop_before_exit(struct rp *r, const size_t *order, size_t k, struct replay_proc *p)
{
	const struct st_event *e = &r->log->ev[order[k]];

	if (r->quiet || !r->o->view || e->kind != ST_EXIT || !p->mm)
		return false;
	if (r->o->focus_pid)
		return e->pid == r->o->focus_pid;
	if (r->o->stop_at_step && r->step + 1 >= r->o->stop_step)
		return true;
	for (size_t k2 = k + 1; k2 < r->log->n; k2++) {
		const struct st_event *n = &r->log->ev[order[k2]];

		if (replay_is_step(n))
			return r->o->stop_at_line && replay_key(n) > r->o->stop_line;
	}
	return true;
}

static void pass(struct rp *r, const size_t *order)
{
	if (r->group_done)
		memset(r->group_done, 0, sizeof(bool) * r->log->n);
	r->step = 0;
	r->last_cur = -1;
	r->last[0] = '\0';
	r->stopped = false;
	r->focus = -1;
	r->exit_line = 0;
	observe(r, NULL, -1, false);
	for (size_t k = 0; k < r->log->n && !r->stopped; k++) {
		const struct st_event *e = &r->log->ev[order[k]];
		struct replay_proc *p;

		progress_update(&r->prog, (r->quiet ? 0 : r->log->n) + k);
		if (replay_is_step(e) && stop_before(r, e))
			break;
		p = proc(r, e->pid, true);
		if (!p)
			break;
		if (e->kind == ST_EXIT) {
			if (stop_before_exit(r, order, k, p)) {
				r->focus = (int)(p - r->procs);
				r->exit_line = e->line;
				r->stopped = true;
				break;
			}
			step_begin(r);
			if (r->o->show_exit && !r->quiet && !r->o->json && p->mm && e->pid == r->log->ev[0].pid) {
				struct as_mm_counters c;

				as_mm_get_counters(p->mm, &c);
				progress_clear(&r->prog);
				fprintf(r->out, "\nThe maps of pid %d when it exits, as aspace simulated them:\n", e->pid);
				as_mm_write_maps(p->mm, r->out);
				fprintf(r->out, "VmSize %" PRIu64 " kB, RssAnon %" PRIu64 " kB, RssFile %" PRIu64
					" kB, %" PRIu64 " regions, %" PRIu64 " minor faults (aspace's own: a replay "
					"makes no accesses)\n\n",
					c.total_vm * 4, c.rss_anon * 4, c.rss_file * 4, c.map_count, c.min_flt);
			}
			as_mm_put(p->mm);
			p->mm = NULL;
			p->died = r->step;
			snprintf(r->last, sizeof(r->last), "exited");
			step_end(r, e);
			continue;
		}
		if (!strcmp(e->name, "execve") || !strcmp(e->name, "execveat")) {
			step_begin(r);
			execve_call(r, e, p);
			step_end(r, e);
		} else if (!strcmp(e->name, "clone") || !strcmp(e->name, "clone3") || !strcmp(e->name, "fork") ||
			   !strcmp(e->name, "vfork")) {
			step_begin(r);
			clone_call(r, e, p);
			step_end(r, e);
		} else if (is_memory_call(e->name)) {
			int g = r->group[order[k]];

			if (g < 0) {
				step_begin(r);
				memory_call(r, e, p, space_of(r, p, e));
				step_end(r, e);
			} else if (!r->group_done[g]) {
				size_t m[64], nm = 0;

				r->group_done[g] = true;
				for (size_t x = k; x < r->log->n && nm < 64; x++)
					if (r->group[order[x]] == g)
						m[nm++] = order[x];
				group_calls(r, m, nm);
			}
		} else if (!r->quiet) {
			r->skipped++;
			if (!strstr(r->skipped_names, e->name) && strlen(r->skipped_names) + strlen(e->name) + 3 <
									 sizeof(r->skipped_names))
				snprintf(r->skipped_names + strlen(r->skipped_names),
					 sizeof(r->skipped_names) - strlen(r->skipped_names), "%s%s",
					 r->skipped_names[0] ? ", " : "", e->name);
		}
	}
	if (r->focus < 0) {
		if (r->o->focus_pid) {
			struct replay_proc *f = proc(r, r->o->focus_pid, false);

			r->focus = f ? (int)(f - r->procs) : -1;
		} else {
			r->focus = r->last_cur;
		}
	}
	observe(r, NULL, r->focus, true);
	for (size_t i = 0; i < r->nprocs; i++) {
		as_mm_put(r->procs[i].mm);
		for (int x = 0; x < r->procs[i].nexecs; x++)
			free(r->procs[i].execs[x].path);
		free(r->procs[i].execs);
	}
	r->nprocs = 0;
}

/*
 * Where exec put the images of a log recorded with randomization on. The
 * log does not say, but ld.so tells: after loading the libraries it makes
 * each object's PT_GNU_RELRO read-only, `mprotect(bias + page_start(vaddr),
 * page_start(vaddr + memsz) - page_start(vaddr), PROT_READ)`, the program
 * first, its own last. The libraries' fall inside mappings the log
 * recorded; the program's and the interpreter's do not, and their lengths
 * tell them apart (equal lengths: the program's comes first).
 */
struct elf_facts {
	bool dyn;
	uint64_t relro_start, relro_len;
	char interp[512];
};

static bool elf_facts(const char *path, struct elf_facts *f)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	bool ok = false;
	char line[256];
	ssize_t got;

	memset(f, 0, sizeof(*f));
	if (fd < 0)
		return false;
	/* A "#!" script runs its interpreter (exec follows up to 4 of them; one is plenty here). */
	got = pread(fd, line, sizeof(line) - 1, 0);
	if (got > 2 && line[0] == '#' && line[1] == '!') {
		char *a = line + 2, *b;

		line[got] = '\0';
		while (*a == ' ' || *a == '\t')
			a++;
		for (b = a; *b && *b != ' ' && *b != '\t' && *b != '\n'; b++)
			;
		*b = '\0';
		close(fd);
		fd = *a == '/' ? open(a, O_RDONLY | O_CLOEXEC) : -1;
		if (fd < 0)
			return false;
	}
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256)
		goto out;
	f->dyn = eh.e_type == ET_DYN;
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) != (ssize_t)sizeof(ph))
			goto out;
		if (ph.p_type == PT_GNU_RELRO) {
			f->relro_start = ph.p_vaddr & ~4095ull;
			f->relro_len = ((ph.p_vaddr + ph.p_memsz) & ~4095ull) - f->relro_start;
		} else if (ph.p_type == PT_INTERP && ph.p_filesz > 1 && ph.p_filesz < sizeof(f->interp)) {
			if (pread(fd, f->interp, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
				goto out;
			f->interp[ph.p_filesz - 1] = '\0';
		}
	}
	ok = true;
out:
	close(fd);
	return ok;
}

/* The first PROT_READ mprotect of this length outside every recorded mapping, not taken; -1. */
static int64_t relro_call(const struct st_log *log, const size_t *ev, size_t n, uint64_t len, int64_t taken)
{
	for (size_t i = 0; i < n && len; i++) {
		const struct st_event *e = &log->ev[ev[i]];
		char **v = NULL;
		int nv;
		uint64_t a = 0, l = 0, prot = 0;
		bool inside = false;

		if (strcmp(e->name, "mprotect") || !e->has_ret || e->ret != 0 || (int64_t)ev[i] == taken)
			continue;
		nv = st_split(e->args, &v);
		if (!(nv == 3 && st_value(v[0], FAM_NUM, &a) && st_value(v[1], FAM_NUM, &l) &&
		      st_value(v[2], FAM_PROT, &prot))) {
			st_split_free(v, nv);
			continue;
		}
		st_split_free(v, nv);
		if (l != len || prot != PROT_READ || (a & 4095))
			continue;
		for (size_t j = 0; j < n && !inside; j++) {
			const struct st_event *m = &log->ev[ev[j]];
			char **w = NULL;
			int nw;
			uint64_t ml = 0;

			if (strcmp(m->name, "mmap") || !m->has_ret || m->ret < 0)
				continue;
			nw = st_split(m->args, &w);
			if (nw == 6 && st_value(w[1], FAM_NUM, &ml))
				inside = a >= (uint64_t)m->ret && a < (uint64_t)m->ret + ml;
			st_split_free(w, nw);
		}
		if (!inside)
			return (int64_t)ev[i];
	}
	return -1;
}

static uint64_t mprotect_addr(const struct st_event *e)
{
	char **v = NULL;
	int nv = st_split(e->args, &v);
	uint64_t a = 0;

	if (nv < 1 || !st_value(v[0], FAM_NUM, &a))
		a = 0;
	st_split_free(v, nv);
	return a;
}

static void infer_places(struct rp *r, const size_t *order)
{
	const struct st_log *log = r->log;
	size_t *ev = malloc((log->n + 1) * sizeof(size_t));

	r->places = calloc(log->n + 1, sizeof(*r->places));
	if (!ev || !r->places) {
		free(ev);
		free(r->places);
		r->places = NULL;
		return;
	}
	for (size_t k = 0; k < log->n; k++) {
		const struct st_event *x = &log->ev[order[k]];
		struct as_exec_place *pl = &r->places[order[k]];
		struct elf_facts prog, interp;
		char **v = NULL, *path = NULL;
		bool cut = false;
		int64_t pi = -1, ii = -1;
		size_t n = 0;
		int nv;

		if (x->kind != ST_CALL || strcmp(x->name, "execve") || !x->has_ret || x->ret != 0)
			continue;
		nv = st_split(x->args, &v);
		if (nv >= 1)
			path = st_string(v[0], &cut);
		st_split_free(v, nv);
		if (!path || cut || !elf_facts(path, &prog) || !prog.dyn) {
			free(path);
			continue;
		}
		/* This task's calls until it execs again or exits. */
		for (size_t j = k + 1; j < log->n; j++) {
			const struct st_event *y = &log->ev[order[j]];

			if (y->pid != x->pid)
				continue;
			if (y->kind == ST_EXIT || !strcmp(y->name, "execve"))
				break;
			ev[n++] = order[j];
		}
		pi = relro_call(log, ev, n, prog.relro_len, -1);
		if (pi >= 0 && mprotect_addr(&log->ev[pi]) > prog.relro_start)
			pl->load_base = mprotect_addr(&log->ev[pi]) - prog.relro_start;
		if (prog.interp[0] && elf_facts(prog.interp, &interp) && interp.dyn) {
			ii = relro_call(log, ev, n, interp.relro_len, pi);
			if (ii >= 0 && mprotect_addr(&log->ev[ii]) > interp.relro_start)
				pl->interp_base = mprotect_addr(&log->ev[ii]) - interp.relro_start;
		}
		if (pl->load_base >= (1ull << 47))
			pl->load_base = 0;
		if (pl->interp_base >= (1ull << 47))
			pl->interp_base = 0;
		if (pl->load_base || pl->interp_base)
			note(r, "line %d: %s placed as the log's relro mprotects say: the program at %#" PRIx64
				 ", the interpreter at %#" PRIx64 " (0: where exec puts it without randomization)",
			     x->line, path, pl->load_base, pl->interp_base);
		else
			note(r, "line %d: where exec put %s cannot be told from the log: calls on its images may "
				 "differ", x->line, path);
		free(path);
	}
	free(ev);
}

int replay_run(const struct st_log *log, const struct replay_opts *o, FILE *out)
{
	struct as_machine_config cfg;
	struct orc_probe probe;
	struct rp r = { .log = log, .o = o, .out = out };
	size_t *order = calloc(log->n ? log->n : 1, sizeof(*order));
	int status;
	int npids = 0;

	if (!order)
		return tool_fail("replay", -ENOMEM);
	for (size_t i = 0; i < log->n; i++)
		order[i] = i;
	sort_base = log->ev;
	qsort(order, log->n, sizeof(*order), by_key);
	for (size_t i = 0; i < log->n; i++) {
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = log->ev[j].pid == log->ev[i].pid;
		npids += !seen;
	}
	orc_probe(&probe);
	orc_machine_config(&probe, 4ull << 30, &cfg);
	r.cfg = &cfg;
	if (as_machine_new(&cfg, &r.m)) {
		free(order);
		return tool_fail("replay", -ENOMEM);
	}
	r.jcalls = json_array();
	r.jnotes = json_array();
	find_groups(&r, order);
	if (!r.group || !r.group_done) {
		as_machine_free(r.m);
		free(order);
		free(r.group);
		return tool_fail("replay", -ENOMEM);
	}

	/* A first pass, silent, to see whether the log was recorded with randomization on. */
	progress_begin(&r.prog, "aspace: replay", 2 * (uint64_t)log->n, true);
	r.quiet = true;
	pass(&r, order);
	r.quiet = false;
	r.randomized = r.brk_differs && r.mmap_differs;
	if (!o->json)
		fprintf(out, "aspace replay %s: %d lines, %zu calls, %d process%s; %s\n", o->name, log->lines, log->n,
			npids, npids == 1 ? "" : "es",
			r.randomized ? "recorded with address randomization on: replayed at the recorded addresses "
				       "(MAP_FIXED)"
				     : "recorded with randomization off: every placement is aspace's own");
	if (r.randomized) {
		note(&r, "the first break and the first placement differ from a layout without randomization: "
			 "mmap, mremap and the heap are replayed at the kernel's addresses, the program and "
			 "its interpreter where the log shows exec put them; the stack and the vDSO stay "
			 "where exec puts them without randomization");
		infer_places(&r, order);
	}
	pass(&r, order);
	progress_end(&r.prog);
	if (r.skipped)
		note(&r, "%" PRIu64 " call%s of the log are not memory calls aspace models and were not replayed (%s)",
		     r.skipped, r.skipped == 1 ? "" : "s", r.skipped_names);
	status = r.differed ? EXIT_CHECK : EXIT_OK;
	if (o->json) {
		json_t *doc = json_pack("{s:s, s:i, s:i, s:b, s:o, s:o, s:{s:I, s:I, s:I}, s:i}", "log", o->name, "lines",
					log->lines, "processes", npids, "randomized", r.randomized, "calls", r.jcalls,
					"notes", r.jnotes, "summary", "calls", (json_int_t)r.calls, "matched",
					(json_int_t)r.matched, "differed", (json_int_t)r.differed, "status", status);

		if (tool_print_json(doc, out) && !status)
			status = EXIT_CHECK;
	} else {
		json_decref(r.jcalls);
		json_decref(r.jnotes);
		fprintf(out, "replay: %" PRIu64 " calls, %" PRIu64 " matched, %" PRIu64 " differed\n", r.calls, r.matched,
			r.differed);
	}
	for (size_t i = 0; i < r.nfiles; i++) {
		if (r.files[i].fd >= 0)
			close(r.files[i].fd);
		free(r.files[i].path);
	}
	free(r.files);
	free(r.places);
	free(r.procs);
	free(r.group);
	free(r.group_done);
	as_machine_drain(r.m);
	if (as_machine_check(r.m, stderr)) {
		fprintf(stderr, "aspace replay: the machine's invariant checker failed after the replay\n");
		status = EXIT_CHECK;
	}
	as_machine_free(r.m);
	free(order);
	return status;
}

static void replay_usage(FILE *out)
{
	fprintf(out,
		"usage: aspace replay [--json] [-v] LOG\n\n"
		"Replay what a strace log says programs did to their memory on aspace, and compare\n"
		"every result with the kernel's. Record a log with\n"
		"  setarch -R strace -f -y -s 4096 -e trace=memory,execve,clone,clone3,fork,vfork -o LOG PROG...\n"
		"or let `aspace trace -- PROG` do it. Each process starts from its execve (as_mm_exec),\n"
		"forks copy their parent's space, threads and vfork children share it; file mappings\n"
		"open the recorded paths (read-only). A log recorded with randomization on is replayed\n"
		"at the recorded addresses, the program and its interpreter where the log's relro\n"
		"mprotects show exec put them. `aspace report LOG` draws the replay; `aspace maps\n"
		"LOG` (stats, pagetable) shows a process at any step.\n\n"
		"options:\n"
		"      --json     one JSON document: every call, the kernel's and aspace's result\n"
		"  -v, --verbose  every call, not only those that differ\n"
		"  -h, --help     this text\n\n"
		"The last line reads `replay: N calls, M matched, K differed`.\n"
		"exit status: 0 every call matched, 1 a call differed, 2 a usage error or a malformed log\n");
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct replay_opts ro = { 0 };
	struct st_log log;
	char err[512];
	int c, status;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ro.json = true;
			break;
		case 'v':
			ro.verbose = true;
			break;
		case 'h':
			replay_usage(stdout);
			return EXIT_OK;
		default:
			return tool_usage_error("replay", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind == argc)
		return tool_usage_error("replay", "which log? (a file strace -o wrote)");
	if (argc - optind > 1)
		return tool_usage_error("replay", "one log at a time ('%s' is extra)", argv[optind + 1]);
	ro.name = argv[optind];
	if (st_parse(ro.name, &log, err, sizeof(err))) {
		fprintf(stderr, "aspace replay: %s\n", err);
		return EXIT_USAGE;
	}
	status = replay_run(&log, &ro, stdout);
	st_free(&log);
	return status;
}
