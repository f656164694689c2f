/*
 * The generator of `aspace diff`: random but meaningful sequences.
 *
 * A sequence is built op by op against a model: a space of aspace started
 * like the kernel child (the harness's stand-ins, limits, layout), on which
 * every op is run as soon as it is drawn. The model's regions after each op
 * tell the next one where things are: inside a region, at its edges, in
 * the gap below a stack, next to it, in a hole. Addresses inside regions
 * the sequence made are written relative to the op that returned them
 * (ORC_REF), so that each side resolves them against its own results and a
 * shrunk sequence stays meaningful. No op touches the harness. See
 * docs/DIFF.md for the mix of ops and what is compared.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fuzz.h"
#include <aspace/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mman.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ALL_CAPS ((1ull << 41) - 1)
#define PG FZ_PAGE
#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* ---- The environment: files, the starting state, the harness ---- */

static int write_file(struct fz_file *f, int idx)
{
	char page[4096];

	if (ftruncate(f->fd, 0))
		return -1;
	for (uint64_t off = 0; off < f->size; off += sizeof(page)) {
		size_t n = f->size - off < sizeof(page) ? (size_t)(f->size - off) : sizeof(page);

		memset(page, 0, sizeof(page));
		page[0] = (char)0xc3; /* `ret`: EXEC of a file page returns */
		snprintf(page + 1, sizeof(page) - 1, "f%d p%llu", idx, (unsigned long long)(off / PG));
		if (pwrite(f->fd, page, n, (off_t)off) != (ssize_t)n)
			return -1;
	}
	return 0;
}

void fz_files_restore(struct fz_env *env)
{
	for (int i = 0; i < FZ_NFILES; i++)
		if (write_file(&env->files[i], i))
			fprintf(stderr, "aspace diff: rewriting %s: %s\n", env->files[i].path, strerror(errno));
}

int fz_space_new(const struct fz_env *env, struct as_machine *m, struct as_mm **out)
{
	const struct orc_trace *k = &env->base;
	struct as_mm_layout l;
	struct as_mm *mm;
	char err[256];
	int rc;

	rc = as_mm_new(m, &mm);
	if (rc)
		return rc;
	as_mm_set_caps(mm, ALL_CAPS);
	for (int r = 0; r < 16 && r < RLIM_NLIMITS; r++)
		as_mm_setrlimit(mm, r, k->rlim[r][0], k->rlim[r][1]);
	as_mm_set_caps(mm, env->opts.unprivileged ? 0 : k->caps ? k->caps : ALL_CAPS);
	if (env->opts.unprivileged)
		as_mm_set_ids(mm, 65534, 65534); /* the kernel child's setgid/setuid */
	/* The kernel child runs with THP off (PR_SET_THP_DISABLE): MADV_COLLAPSE sees it. */
	(void)as_syscall(mm, SYS_prctl, PR_SET_THP_DISABLE, 1, 0, 0, 0, 0);
	if (orc_space_standins(mm, k->before.smaps, err, sizeof(err))) {
		fprintf(stderr, "aspace diff: the starting regions: %s\n", err);
		as_mm_put(mm);
		return -EINVAL;
	}
	as_mm_get_layout(mm, &l);
	l.start_code = k->start_code;
	l.end_code = k->end_code;
	l.start_data = k->start_data;
	l.end_data = k->end_data;
	l.start_brk = k->start_brk;
	l.brk = k->brk;
	l.start_stack = k->start_stack;
	l.arg_start = k->arg_start;
	l.arg_end = k->arg_end;
	l.env_start = k->env_start;
	l.env_end = k->env_end;
	rc = as_mm_set_layout(mm, &l);
	if (rc) {
		as_mm_put(mm);
		return rc;
	}
	*out = mm;
	return 0;
}

static void add_harness(struct fz_env *env, uint64_t start, uint64_t end)
{
	if (env->nharness < FZ_MAX_HARNESS) {
		env->harness[env->nharness][0] = start;
		env->harness[env->nharness][1] = end;
		env->nharness++;
	}
}

int fz_env_init(struct fz_env *env, bool unprivileged)
{
	static const struct orc_op none[1];
	const char *tmp = getenv("TMPDIR");
	struct as_machine_config cfg;
	struct as_machine *m = NULL;
	struct as_mm *mm = NULL;
	struct as_mm_counters c;
	struct as_mm_layout l;
	const char *p;

	memset(env, 0, sizeof(*env));
	env->fd_wo = env->fd_dir = -1;
	for (int i = 0; i < FZ_NFILES; i++)
		env->files[i].fd = env->files[i].fd_ro = -1;
	orc_probe(&env->probe);
	orc_opts_init(&env->opts);
	env->opts.isolate = true;
	env->opts.unprivileged = unprivileged;
	env->opts.ram_bytes = FZ_RAM;

	snprintf(env->dir, sizeof(env->dir), "%s/aspace-diff.%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
	if (mkdir(env->dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "aspace diff: mkdir %s: %s\n", env->dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < FZ_NFILES; i++) {
		struct fz_file *f = &env->files[i];
		static const uint64_t sizes[FZ_NFILES] = { 5 * 4096 + 100, 16 * 4096, 4096 };

		snprintf(f->path, sizeof(f->path), "%s/f%d", env->dir, i);
		f->size = sizes[i];
		f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		f->fd_ro = f->fd >= 0 ? open(f->path, O_RDONLY) : -1;
		if (f->fd < 0 || f->fd_ro < 0 || write_file(f, i)) {
			fprintf(stderr, "aspace diff: %s: %s\n", f->path, strerror(errno));
			return -1;
		}
	}
	env->fd_wo = open(env->files[1].path, O_WRONLY);
	env->fd_dir = open(env->dir, O_RDONLY | O_DIRECTORY);
	if (env->fd_wo < 0 || env->fd_dir < 0) {
		fprintf(stderr, "aspace diff: %s: %s\n", env->dir, strerror(errno));
		return -1;
	}

	/* The starting state: an isolated kernel child that runs nothing. */
	if (orc_run_kernel(none, 0, &env->opts, &env->base)) {
		fprintf(stderr, "aspace diff: the kernel side cannot run: %s\n", env->base.error);
		return -1;
	}
	orc_machine_config(&env->probe, env->opts.ram_bytes, &cfg);
	if (as_machine_new(&cfg, &m) || fz_space_new(env, m, &mm)) {
		fprintf(stderr, "aspace diff: cannot build the starting space on aspace\n");
		as_machine_free(m);
		return -1;
	}
	as_mm_get_layout(mm, &l);
	as_mm_get_counters(mm, &c);
	env->mmap_base = l.mmap_base;
	env->task_size = l.task_size;
	env->total_vm_pages = c.total_vm;
	as_mm_put(mm);
	as_machine_free(m);

	/* The harness: every starting region, widened; the shared buffer at its largest. */
	for (p = env->base.before.maps; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		unsigned long long s, e;

		if (sscanf(p, "%llx-%llx", &s, &e) == 2 && e <= env->task_size)
			add_harness(env, s > 16 * MIB ? s - 16 * MIB : 0, e + 16 * MIB);
	}
	add_harness(env, ORC_ISOLATE_ADDR - 16 * MIB, ORC_ISOLATE_ADDR + 64 * MIB);
	add_harness(env, env->base.start_brk - 16 * MIB, env->base.start_brk); /* the program below brk */
	return 0;
}

void fz_env_free(struct fz_env *env, bool keep_files)
{
	for (int i = 0; i < FZ_NFILES; i++) {
		if (env->files[i].fd >= 0)
			close(env->files[i].fd);
		if (env->files[i].fd_ro >= 0)
			close(env->files[i].fd_ro);
		if (!keep_files && env->files[i].path[0])
			unlink(env->files[i].path);
	}
	if (env->fd_wo >= 0)
		close(env->fd_wo);
	if (env->fd_dir >= 0)
		close(env->fd_dir);
	if (!keep_files && env->dir[0])
		rmdir(env->dir);
	orc_trace_free(&env->base);
}

int fz_without(const char *list)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "hugetlb", FZ_W_HUGETLB }, { "droppable", FZ_W_DROPPABLE }, { "map-sync", FZ_W_SYNC },
		{ "pageout", FZ_W_PAGEOUT }, { "collapse", FZ_W_COLLAPSE }, { "fork", FZ_W_FORK },
		{ "files", FZ_W_FILES },
	};
	unsigned bits = 0;
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n && !strncmp(p, names[i].name, n))
				break;
		if (i == sizeof(names) / sizeof(names[0])) {
			fprintf(stderr, "aspace diff: --without: unknown feature '%.*s' (hugetlb, droppable, map-sync, "
					"pageout, collapse, fork, files)\n", (int)n, p);
			return -1;
		}
		bits |= names[i].bit;
		p += n + (p[n] == ',');
	}
	return (int)bits;
}

/* ---- The model ---- */

struct region {
	uint64_t start, end;
	char perms[5];
	bool gd, lo, file, shm;
	int fidx;                  /* which of env->files, -1 for none */
};

struct gen {
	struct fz_env *env;
	uint64_t rng;
	struct as_machine *m;
	struct as_mm *mm[ORC_MAX_PROCS];
	uint32_t nprocs, cur;
	struct region *reg;        /* the current process's regions, not the harness's */
	size_t nreg, capreg;
	struct orc_op *ops;
	int64_t *res;              /* results so far */
	bool *is_addr;             /* res[i] is an address of a region op i made */
	size_t n;                  /* ops so far */
	int brk_op;                /* the op that read the break, -1 */
	uint64_t rets[ORC_MAX_PROCS][8]; /* addresses known to hold `ret` */
	int nrets[ORC_MAX_PROCS];
	bool mlockall_future, mcl_current;
	/*
	 * mlockall(MCL_CURRENT) locked the process's own harness regions too:
	 * the kernel child's pages there (which aspace's stand-ins lack) then
	 * pass through the per-CPU munlock batch when it exits, and can fill
	 * it, which processes the sequence's pages early. Such a process does
	 * not exit in a sequence (a harness artifact, docs/DIFF.md).
	 */
	bool harness_locked[ORC_MAX_PROCS];
};

static uint64_t rnd(struct gen *g, uint64_t n)
{
	return n ? fz_mix(&g->rng) % n : 0;
}

static bool chance(struct gen *g, unsigned percent)
{
	return rnd(g, 100) < percent;
}

static bool hits_harness(const struct gen *g, uint64_t a, uint64_t len)
{
	uint64_t e = a + len < a ? UINT64_MAX : a + len;

	if (len == 0)
		e = a + 1;
	for (size_t i = 0; i < g->env->nharness; i++)
		if (a < g->env->harness[i][1] && g->env->harness[i][0] < e)
			return true;
	return false;
}

/* Is the name in a smaps header one of the campaign's files? */
static int file_index(const struct fz_env *env, const char *name)
{
	for (int i = 0; i < FZ_NFILES; i++)
		if (!strcmp(name, env->files[i].path))
			return i;
	return -1;
}

/* Read the current process's regions from its smaps (the harness left out). */
static void refresh(struct gen *g)
{
	char *buf = NULL, *p;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct region *r = NULL;

	g->nreg = 0;
	if (!f)
		return;
	as_mm_write_smaps(g->mm[g->cur], f);
	fclose(f);
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		unsigned long long s, e, off, ino;
		char perms[8], dev[16];
		int name_at = 0;

		if (sscanf(p, "%llx-%llx %7s %llx %15s %llu %n", &s, &e, perms, &off, dev, &ino, &name_at) >= 6 &&
		    name_at) {
			char *nl = strchr(p + name_at, '\n'), name[600];
			size_t nlen = nl ? (size_t)(nl - p - name_at) : strlen(p + name_at);

			snprintf(name, sizeof(name), "%.*s", (int)nlen, p + name_at);
			r = NULL;
			if (e > g->env->task_size || hits_harness(g, s, e - s))
				continue;
			if (g->nreg == g->capreg) {
				g->capreg = g->capreg ? g->capreg * 2 : 64;
				g->reg = realloc(g->reg, g->capreg * sizeof(*g->reg));
			}
			r = &g->reg[g->nreg++];
			memset(r, 0, sizeof(*r));
			r->start = s;
			r->end = e;
			memcpy(r->perms, perms, 4);
			r->fidx = file_index(g->env, name);
			r->file = r->fidx >= 0;
			r->shm = !r->file && perms[3] == 's';
		} else if (r && !strncmp(p, "VmFlags:", 8)) {
			char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			char line[256];

			snprintf(line, sizeof(line), "%.*s ", (int)n, p);
			r->gd = strstr(line, " gd ") != NULL;
			r->lo = strstr(line, " lo ") != NULL;
		}
	}
	free(buf);
}

/*
 * Forget every known `ret`, in every process: memory can be shared
 * (MAP_SHARED, a file, fork), so a change anywhere may change it.
 */
static void forget_rets(struct gen *g)
{
	memset(g->nrets, 0, sizeof(g->nrets));
}

static bool known_ret(const struct gen *g, uint64_t a)
{
	for (int i = 0; i < g->nrets[g->cur]; i++)
		if (g->rets[g->cur][i] == a)
			return true;
	return false;
}

static void add_ret(struct gen *g, uint64_t a)
{
	if (g->nrets[g->cur] < 8 && !known_ret(g, a))
		g->rets[g->cur][g->nrets[g->cur]++] = a;
}

/* Run the op just drawn on the model, as the oracle's aspace side would. */
static void model_run(struct gen *g, const struct orc_op *op, int64_t *ret)
{
	uint64_t a[6];
	struct as_mm *mm = g->mm[g->cur];
	struct as_fault f;
	uint8_t *buf;

	orc_resolve_args(op, g->res, g->n, a);
	switch (op->kind) {
	case ORC_OP_MMAP:
		*ret = as_syscall(mm, SYS_mmap, a[0], a[1], a[2], a[3], a[4], a[5]);
		break;
	case ORC_OP_MUNMAP:
		*ret = as_syscall(mm, SYS_munmap, a[0], a[1], 0, 0, 0, 0);
		break;
	case ORC_OP_MPROTECT:
		*ret = as_syscall(mm, SYS_mprotect, a[0], a[1], a[2], 0, 0, 0);
		break;
	case ORC_OP_MREMAP:
		*ret = as_syscall(mm, SYS_mremap, a[0], a[1], a[2], a[3], a[4], 0);
		break;
	case ORC_OP_MADVISE:
		*ret = as_syscall(mm, SYS_madvise, a[0], a[1], a[2], 0, 0, 0);
		break;
	case ORC_OP_MLOCK:
		*ret = as_syscall(mm, SYS_mlock, a[0], a[1], 0, 0, 0, 0);
		break;
	case ORC_OP_MLOCK2:
		*ret = as_syscall(mm, SYS_mlock2, a[0], a[1], a[2], 0, 0, 0);
		break;
	case ORC_OP_MUNLOCK:
		*ret = as_syscall(mm, SYS_munlock, a[0], a[1], 0, 0, 0, 0);
		break;
	case ORC_OP_MLOCKALL:
		*ret = as_syscall(mm, SYS_mlockall, a[0], 0, 0, 0, 0, 0);
		break;
	case ORC_OP_MUNLOCKALL:
		*ret = as_syscall(mm, SYS_munlockall, 0, 0, 0, 0, 0, 0);
		break;
	case ORC_OP_MSYNC:
		*ret = as_syscall(mm, SYS_msync, a[0], a[1], a[2], 0, 0, 0);
		break;
	case ORC_OP_MINCORE:
		*ret = as_syscall(mm, SYS_mincore, a[0], a[1], a[2], 0, 0, 0);
		break;
	case ORC_OP_BRK:
		*ret = as_syscall(mm, SYS_brk, a[0], 0, 0, 0, 0, 0);
		break;
	case ORC_OP_READ:
	case ORC_OP_WRITE:
		buf = calloc(1, a[1] ? a[1] : 1);
		if (!buf) {
			*ret = -ENOMEM;
			break;
		}
		memset(buf, (int)a[2], a[1]);
		*ret = op->kind == ORC_OP_READ ? as_read(mm, a[0], buf, a[1], &f) : as_write(mm, a[0], buf, a[1], &f);
		free(buf);
		break;
	case ORC_OP_EXEC: {
		uint8_t b;

		*ret = as_fetch(mm, a[0], &b, 1, &f);
		break;
	}
	case ORC_OP_SETRLIMIT:
		*ret = as_mm_setrlimit(mm, (int)a[0], a[1], a[2]);
		break;
	case ORC_OP_FTRUNCATE:
		*ret = as_file_truncate(g->m, (int)a[0], a[1]);
		break;
	case ORC_OP_FORK: {
		struct as_mm *child;

		*ret = g->nprocs < ORC_MAX_PROCS ? as_mm_fork(mm, &child) : -EAGAIN;
		if (*ret == 0) {
			g->mm[g->nprocs] = child;
			memcpy(g->rets[g->nprocs], g->rets[g->cur], sizeof(g->rets[0]));
			g->nrets[g->nprocs] = g->nrets[g->cur];
			*ret = g->nprocs++;
		}
		break;
	}
	case ORC_OP_SWITCH:
	case ORC_OP_EXIT:
		if (a[0] >= g->nprocs || !g->mm[a[0]] || (op->kind == ORC_OP_EXIT && a[0] == g->cur)) {
			*ret = -ESRCH;
			break;
		}
		*ret = 0;
		if (op->kind == ORC_OP_EXIT) {
			as_mm_put(mm);
			g->mm[g->cur] = NULL;
		}
		g->cur = (uint32_t)a[0];
		break;
	default:
		*ret = -ENOSYS;
		break;
	}
}

/* ---- Drawing arguments ---- */

/* An address, relative to the op whose region it is in (or near) when there is one. */
static uint64_t addr_arg(const struct gen *g, uint64_t a)
{
	long best = -1;

	if ((a >= FZ_WINDOW && a < FZ_WINDOW + 4 * FZ_WINDOW_SIZE) || a < (1ull << 32) || a >= g->env->task_size)
		return a;
	for (size_t j = 0; j < g->n && j < 255; j++) {
		uint64_t r = (uint64_t)g->res[j];

		if (!g->is_addr[j] || r > a || a - r >= (1ull << 36))
			continue;
		if (best < 0 || r > (uint64_t)g->res[best])
			best = (long)j;
	}
	if (best < 0)
		for (size_t j = 0; j < g->n && j < 255; j++) {
			uint64_t r = (uint64_t)g->res[j];

			if (!g->is_addr[j] || r <= a || r - a >= (1ull << 36))
				continue;
			if (best < 0 || r < (uint64_t)g->res[best])
				best = (long)j;
		}
	if (best < 0)
		return a;
	return ORC_REF(best, (int64_t)(a - (uint64_t)g->res[best]));
}

static uint64_t pages(struct gen *g, uint64_t max)
{
	return (1 + rnd(g, max)) * PG;
}

/* A length for a new mapping. */
static uint64_t new_len(struct gen *g, bool accountable)
{
	unsigned r = (unsigned)rnd(g, 100);

	if (r < 30)
		return PG;
	if (r < 55)
		return pages(g, 4);
	if (r < 70)
		return pages(g, 16);
	if (r < 78)
		return pages(g, 64);
	if (r < 85)
		return (1 + rnd(g, 2)) * 2 * MIB;
	if (r < 88)
		return 2 * MIB + (chance(g, 50) ? PG : -PG);
	if (r < 93)
		return pages(g, 8) - PG + 1 + rnd(g, PG - 1); /* not page aligned */
	if (r < 95)
		return 0;
	if (r < 97)
		return accountable ? (64ull << 30) : (1 + rnd(g, 4)) * GIB; /* too big for the host / big reservation */
	return chance(g, 50) ? (uint64_t)-PG : (uint64_t)1 << 47;
}

static int draw_prot(struct gen *g)
{
	unsigned r = (unsigned)rnd(g, 100);

	if (r < 50)
		return PROT_READ | PROT_WRITE;
	if (r < 65)
		return PROT_READ;
	if (r < 75)
		return PROT_NONE;
	if (r < 81)
		return PROT_READ | PROT_WRITE | PROT_EXEC;
	if (r < 87)
		return PROT_READ | PROT_EXEC;
	if (r < 92)
		return PROT_WRITE;
	if (r < 96)
		return PROT_EXEC;
	return chance(g, 50) ? (PROT_READ | 0x10) : (PROT_READ | PROT_WRITE | PROT_GROWSDOWN);
}

/* A free address of len bytes: in the window, next to a region, or in the stack's guard gap. */
static uint64_t new_addr(struct gen *g, uint64_t len)
{
	unsigned r = (unsigned)rnd(g, 100);
	uint64_t a;

	if (len > FZ_WINDOW_SIZE)
		len = PG;
	if (r < 35 || !g->nreg) {
		a = FZ_WINDOW + rnd(g, chance(g, 70) ? 64 : 4096) * PG;
	} else if (r < 55) {
		a = g->reg[rnd(g, g->nreg)].end + (chance(g, 70) ? 0 : rnd(g, 4) * PG);
	} else if (r < 75) {
		a = g->reg[rnd(g, g->nreg)].start - len - (chance(g, 70) ? 0 : rnd(g, 4) * PG);
	} else if (r < 83) {
		const struct region *x = &g->reg[rnd(g, g->nreg)];

		a = x->start + rnd(g, (x->end - x->start) / PG + 1) * PG;
	} else if (r < 89) {
		/* In or at the edge of a stack's guard gap. */
		const struct region *x = NULL;

		for (size_t i = 0; i < g->nreg && !x; i++)
			if (g->reg[i].gd)
				x = &g->reg[i];
		if (!x)
			x = &g->reg[rnd(g, g->nreg)];
		a = x->start - g->env->probe.stack_guard_gap + (rnd(g, 5) - 2) * PG - (chance(g, 50) ? len : 0);
	} else if (r < 93) {
		a = g->env->mmap_base - len - rnd(g, 3) * PG;
	} else if (r < 96) {
		static const uint64_t low[] = { 0, 0x1000, 0xf000, 0x10000, 0x40000000, 0x7ffff000 };

		a = low[rnd(g, sizeof(low) / sizeof(low[0]))];
	} else {
		a = g->env->task_size - len + (rnd(g, 3) - 1) * PG;
	}
	if (chance(g, 3))
		a += 1 + rnd(g, PG - 1);
	return a;
}

/* A range over what the process has: a region or part of one, across neighbours, or a hole. */
static void old_range(struct gen *g, uint64_t *addr, uint64_t *len)
{
	const struct region *x;
	uint64_t size, a, l;
	unsigned r;

	if (!g->nreg || chance(g, 6)) {
		*addr = FZ_WINDOW + rnd(g, 64) * PG;
		*len = pages(g, 8);
		return;
	}
	x = &g->reg[rnd(g, g->nreg)];
	size = x->end - x->start;
	r = (unsigned)rnd(g, 100);
	if (r < 25) {
		a = x->start;
		l = size;
	} else if (r < 40) {
		a = x->start;
		l = rnd(g, size / PG) * PG + PG;
	} else if (r < 55) {
		l = rnd(g, size / PG) * PG + PG;
		a = x->end - l;
	} else if (r < 67) {
		a = x->start + rnd(g, size / PG) * PG;
		l = rnd(g, (x->end - a) / PG) * PG + PG;
	} else if (r < 77) {
		/* Into what follows: a hole or the next region. */
		a = x->start + rnd(g, size / PG) * PG;
		l = x->end - a + pages(g, 8);
	} else if (r < 85) {
		/* From below it. */
		a = x->start - pages(g, 4);
		l = x->start - a + rnd(g, size / PG) * PG + PG;
	} else if (r < 92 && g->nreg > 1) {
		/* Across several regions. */
		const struct region *y = &g->reg[rnd(g, g->nreg)];

		a = x->start < y->start ? x->start : y->start;
		l = (x->end > y->end ? x->end : y->end) - a;
		if (l > 64 * MIB)
			l = size;
	} else if (r < 96) {
		a = x->start + (chance(g, 50) ? 1 + rnd(g, PG - 1) : 0);
		l = chance(g, 50) ? 0 : size + 1 + rnd(g, PG - 1);
	} else {
		a = x->start;
		l = chance(g, 50) ? (uint64_t)-PG : (1ull << 47);
	}
	/* Ranges that wrap are refused before anything is done; others must miss the harness. */
	if (a + l >= a && hits_harness(g, a, l)) {
		a = x->start;
		l = size;
	}
	*addr = a;
	*len = l;
}

/* A range to read or write: a few pages at most, sometimes across an edge. */
static void access_range(struct gen *g, uint64_t *addr, uint64_t *len)
{
	const struct region *x;
	unsigned r;

	if (!g->nreg || chance(g, 5)) {
		*addr = FZ_WINDOW + rnd(g, 64) * PG + rnd(g, PG);
		*len = 1 + rnd(g, 64);
		return;
	}
	x = &g->reg[rnd(g, g->nreg)];
	r = (unsigned)rnd(g, 100);
	if (r < 45) {
		*addr = x->start + rnd(g, (x->end - x->start) / PG) * PG;
		*len = chance(g, 50) ? 1 : PG;
	} else if (r < 65) {
		*addr = x->start + rnd(g, x->end - x->start);
		*len = 1 + rnd(g, 2 * PG);
	} else if (r < 78) {
		/* Across the end. */
		*addr = x->end - 1 - rnd(g, 16);
		*len = 32;
	} else if (r < 90) {
		/* Below the start: a stack grows, anything else faults. */
		*addr = x->start - (x->gd ? (1 + rnd(g, 300)) * PG / (chance(g, 50) ? 1 : 16) : 1 + rnd(g, 16));
		*len = 8;
	} else {
		*addr = x->start;
		*len = x->end - x->start <= 8 * PG ? x->end - x->start : 3 * PG;
	}
	if (*len > 16 * PG)
		*len = 16 * PG;
	if (hits_harness(g, *addr, *len)) {
		*addr = x->start;
		*len = 1;
	}
}

/* Populating ops: keep what they could fault in far below aspace's RAM. */
static bool small_enough(uint64_t len)
{
	return len <= 16 * MIB;
}

static uint32_t fd_arg(struct gen *g, int *fidx, bool *ro)
{
	unsigned r = (unsigned)rnd(g, 100);

	*ro = false;
	*fidx = -1;
	if (r < 85) {
		*fidx = (int)rnd(g, 2);
		return (uint32_t)g->env->files[*fidx].fd;
	}
	if (r < 92) {
		*fidx = 2;
		*ro = true;
		return (uint32_t)g->env->files[2].fd_ro;
	}
	if (r < 95)
		return (uint32_t)g->env->fd_wo;
	if (r < 98)
		return (uint32_t)g->env->fd_dir;
	return 999;
}

static void gen_mmap(struct gen *g, struct orc_op *op)
{
	unsigned type = (unsigned)rnd(g, 100), mode = (unsigned)rnd(g, 100);
	uint64_t len, addr = 0, flags, off = 0;
	int prot = draw_prot(g), fidx = -1;
	uint32_t fd = (uint32_t)-1;
	bool ro = false, file = false;

	if (type < 45) {
		flags = MAP_PRIVATE | MAP_ANONYMOUS;
	} else if (type < 57) {
		flags = MAP_SHARED | MAP_ANONYMOUS;
	} else if (type < 72) {
		flags = MAP_PRIVATE;
		file = true;
	} else if (type < 84) {
		flags = MAP_SHARED;
		file = true;
	} else if (type < 88) {
		flags = MAP_SHARED_VALIDATE | (chance(g, 50) ? MAP_ANONYMOUS : 0);
		file = !(flags & MAP_ANONYMOUS);
		if (chance(g, 50))
			flags |= chance(g, 50) ? MAP_SYNC : 0x200000;
	} else if (type < 91) {
		flags = MAP_DROPPABLE | MAP_ANONYMOUS;
	} else if (type < 94) {
		flags = (chance(g, 50) ? 0 : 4 + rnd(g, 4)) | MAP_ANONYMOUS; /* bad types */
	} else if (type < 98) {
		/* Anonymous hugetlbfs: the default size, or size bits the host may refuse. */
		flags = (chance(g, 70) ? MAP_PRIVATE : MAP_SHARED) | MAP_ANONYMOUS | MAP_HUGETLB;
		if (chance(g, 20))
			flags |= chance(g, 50) ? (21ull << 26) : chance(g, 50) ? (30ull << 26) : (rnd(g, 64) << 26);
	} else {
		flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_UNINITIALIZED | MAP_DENYWRITE | MAP_EXECUTABLE;
	}
	/* Left out by --without: plain private anonymous memory instead. */
	if (((g->env->without & FZ_W_FILES) && file) || ((g->env->without & FZ_W_SYNC) && (flags & 3) == MAP_SHARED_VALIDATE) ||
	    ((g->env->without & FZ_W_DROPPABLE) && (flags & 0xf) == MAP_DROPPABLE)) {
		flags = MAP_PRIVATE | MAP_ANONYMOUS;
		file = false;
	}
	if (g->env->without & FZ_W_HUGETLB)
		flags &= ~((uint64_t)MAP_HUGETLB | (0x3full << 26));
	if (file) {
		fd = fd_arg(g, &fidx, &ro);
		if (fidx >= 0) {
			uint64_t fpages = (g->env->files[fidx].size + PG - 1) / PG;
			unsigned o = (unsigned)rnd(g, 100);

			off = o < 50 ? 0 : o < 90 ? rnd(g, fpages) * PG : o < 95 ? (fpages + rnd(g, 4)) * PG
			    : o < 98 ? 1 + rnd(g, PG - 1) : (uint64_t)-PG;
		}
	}
	/* The host has no huge pages reserved: most hugetlb mappings only map with MAP_NORESERVE. */
	if (chance(g, (flags & MAP_HUGETLB) ? 60 : 8))
		flags |= MAP_NORESERVE;
	/* Charged to the commit limit (compared with RAM, per request): private writable, shared anonymous. */
	len = new_len(g, !(flags & MAP_NORESERVE) && (((flags & 3) == MAP_PRIVATE && (prot & PROT_WRITE)) ||
						       ((flags & 3) == MAP_SHARED && (flags & MAP_ANONYMOUS))));
	if (chance(g, 8) && small_enough(len))
		flags |= MAP_POPULATE;
	if (chance(g, 4) && small_enough(len))
		flags |= MAP_LOCKED;
	if (chance(g, (flags & 3) == MAP_PRIVATE && !file ? 10 : 2))
		flags |= MAP_GROWSDOWN;
	if (chance(g, 4))
		flags |= MAP_STACK;
	if (chance(g, 3))
		flags |= MAP_32BIT;
	if (chance(g, 2))
		flags |= MAP_NONBLOCK;
	if (chance(g, 1))
		flags |= MAP_ABOVE4G;
	if (g->mlockall_future && !small_enough(len))
		len = pages(g, 16);
	if (mode < 45) {
		addr = 0;
	} else if (mode < 60) {
		addr = new_addr(g, len);
	} else if (mode < 85) {
		addr = new_addr(g, len);
		flags |= MAP_FIXED;
		if (hits_harness(g, addr, len < GIB ? len : PG) || len >= GIB)
			addr = FZ_WINDOW + rnd(g, 64) * PG;
	} else {
		addr = new_addr(g, len);
		flags |= MAP_FIXED_NOREPLACE | (mode >= 97 ? MAP_FIXED : 0);
		if ((flags & MAP_FIXED) && (hits_harness(g, addr, len < GIB ? len : PG) || len >= GIB))
			addr = FZ_WINDOW + rnd(g, 64) * PG;
	}
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && len > FZ_WINDOW_SIZE && len < (1ull << 47))
		len = pages(g, 16);
	/*
	 * hugetlbfs wants 2 MiB aligned addresses: mostly give it one. Its
	 * length rounds up to 2 MiB: a fixed one must still miss the harness.
	 */
	if ((flags & MAP_HUGETLB) && addr) {
		uint64_t hlen = (len + (2ull << 20) - 1) & ~((2ull << 20) - 1);

		if (chance(g, 70))
			addr &= ~((2ull << 20) - 1);
		if ((flags & MAP_FIXED) && !(addr & ((2ull << 20) - 1)) &&
		    (hlen < len || hlen >= GIB || hits_harness(g, addr, hlen)))
			addr = FZ_WINDOW + rnd(g, 16) * (2ull << 20);
	}
	(void)ro;
	*op = (struct orc_op)ORC_OP(ORC_OP_MMAP, addr_arg(g, addr), len, prot, flags, fd, off);
}

static const int advices[] = {
	MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_DONTNEED, MADV_DONTNEED,
	MADV_FREE, MADV_FREE, MADV_FREE, MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK, MADV_MERGEABLE,
	MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK,
	MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_COLD, MADV_PAGEOUT, 22 /* POPULATE_READ */,
	22, 23 /* POPULATE_WRITE */, 23, 24 /* DONTNEED_LOCKED */, 25 /* COLLAPSE */, MADV_GUARD_INSTALL,
	MADV_GUARD_INSTALL, MADV_GUARD_REMOVE, 100 /* HWPOISON */, 101 /* SOFT_OFFLINE */, 5, 99,
};

/* Is a in a region of the process that is not executable (a fetch faults)? */
static bool region_at_x(const struct gen *g, uint64_t a)
{
	for (size_t i = 0; i < g->nreg; i++)
		if (g->reg[i].start <= a && a < g->reg[i].end)
			return g->reg[i].perms[2] != 'x';
	return false;
}

static bool mapped(const struct gen *g, uint64_t a)
{
	for (size_t i = 0; i < g->nreg; i++)
		if (g->reg[i].start <= a && a < g->reg[i].end)
			return true;
	return hits_harness(g, a, 1);
}

/* An address where nothing is mapped: a fetch there faults. */
static uint64_t free_addr(struct gen *g)
{
	static const uint64_t cand[] = { FZ_WINDOW + 4095 * PG, 0x300000000000ull, 0x400000000000ull,
					 0x500000000000ull, 0x10000ull };

	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		uint64_t a = cand[i] + rnd(g, 16) * PG;

		if (!mapped(g, a))
			return a;
	}
	return 0x10000;
}

static void gen_exec(struct gen *g, struct orc_op *op)
{
	const struct region *x;
	uint64_t a;

	/* A known `ret`, or where a fetch faults: unmapped, or not executable. */
	if (g->nrets[g->cur] && chance(g, 60)) {
		a = g->rets[g->cur][rnd(g, g->nrets[g->cur])];
	} else if (g->nreg && chance(g, 70)) {
		x = &g->reg[rnd(g, g->nreg)];
		a = x->start + rnd(g, (x->end - x->start) / PG) * PG;
		if (x->perms[2] == 'x' && !known_ret(g, a)) {
			if (x->perms[1] == 'w' && x->perms[0] == 'r') {
				/* Make it a `ret` first; this op becomes the write. */
				*op = (struct orc_op)ORC_WRITE(addr_arg(g, a), 1, 0xc3);
				return;
			}
			a = free_addr(g);
		}
	} else {
		a = free_addr(g);
	}
	if (hits_harness(g, a, 1) || (mapped(g, a) && !known_ret(g, a) && (!region_at_x(g, a))))
		a = free_addr(g);
	*op = (struct orc_op)ORC_EXEC(addr_arg(g, a));
}

/* A vector for mincore: in a writable region of the sequence, or a bad address. */
static uint64_t vec_addr(struct gen *g, uint64_t vlen)
{
	for (int tries = 0; tries < 8 && g->nreg; tries++) {
		const struct region *x = &g->reg[rnd(g, g->nreg)];

		if (x->perms[0] == 'r' && x->perms[1] == 'w' && !x->file && x->end - x->start >= vlen + 64)
			return addr_arg(g, x->end - vlen - rnd(g, 64));
	}
	return chance(g, 50) ? 0 : FZ_WINDOW + 4090 * PG;
}

static void gen_rlimit(struct gen *g, struct orc_op *op)
{
	static const int res[] = { RLIMIT_AS, RLIMIT_DATA, RLIMIT_MEMLOCK, RLIMIT_MEMLOCK, RLIMIT_STACK };
	int r = res[rnd(g, sizeof(res) / sizeof(res[0]))];
	const struct orc_trace *k = &g->env->base;
	uint64_t cur, max = k->rlim[r][1];
	struct as_mm_counters c;

	as_mm_get_counters(g->mm[g->cur], &c);
	switch (r) {
	case RLIMIT_AS:
		cur = (c.total_vm + rnd(g, 256)) * PG;
		break;
	case RLIMIT_DATA:
		cur = (c.data_vm + rnd(g, 64)) * PG;
		break;
	case RLIMIT_MEMLOCK:
		cur = chance(g, 20) ? 0 : (c.locked_vm + rnd(g, 32)) * PG;
		break;
	default:
		cur = chance(g, 50) ? 64 * 1024 : (1 + rnd(g, 16)) * MIB;
		break;
	}
	if (chance(g, 10))
		cur = RLIM_INFINITY;
	if (cur > max)
		cur = max;
	if (chance(g, 10))
		max = cur; /* lower the hard limit too: for good */
	if (chance(g, 5))
		cur = max + PG; /* EINVAL */
	*op = (struct orc_op)ORC_SETRLIMIT(r, cur, max);
}

/* Draw op number g->n. */
static void draw(struct gen *g, struct orc_op *op)
{
	unsigned r = (unsigned)rnd(g, 1000);
	uint64_t a, l;

	memset(op, 0, sizeof(*op));
	if (g->n == 0 || (!g->nreg && r < 600)) {
		gen_mmap(g, op);
		return;
	}
	if (r < 220) {
		gen_mmap(g, op);
	} else if (r < 290) {
		old_range(g, &a, &l);
		*op = (struct orc_op)ORC_MUNMAP(addr_arg(g, a), l);
	} else if (r < 390) {
		int prot = draw_prot(g);

		old_range(g, &a, &l);
		/* Making a big private range writable charges it: keep it far below aspace's RAM. */
		if ((prot & PROT_WRITE) && l > 256 * MIB && l < (1ull << 47))
			l = pages(g, 16);
		*op = (struct orc_op)ORC_MPROTECT(addr_arg(g, a), l, prot);
	} else if (r < 470) {
		uint64_t nl, flags, na = 0;
		unsigned m = (unsigned)rnd(g, 100);

		old_range(g, &a, &l);
		if (l > 64 * MIB)
			l = PG;
		nl = chance(g, 40) ? (l > PG ? l - rnd(g, l / PG) * PG : PG) : l + pages(g, 16);
		if (g->mlockall_future || !small_enough(nl))
			nl = l + PG;
		flags = m < 30 ? 0 : m < 70 ? MREMAP_MAYMOVE : m < 85 ? MREMAP_MAYMOVE | MREMAP_FIXED
		      : m < 93 ? MREMAP_MAYMOVE | MREMAP_DONTUNMAP : m < 96 ? MREMAP_FIXED : 8;
		if (flags & MREMAP_DONTUNMAP && chance(g, 80))
			nl = l;
		if (flags & MREMAP_FIXED) {
			na = new_addr(g, nl);
			if (hits_harness(g, na, nl))
				na = FZ_WINDOW + rnd(g, 64) * PG;
		}
		if (chance(g, 3))
			l = 0; /* duplicate a shared mapping */
		*op = (struct orc_op)ORC_MREMAP(addr_arg(g, a), l, nl, flags, addr_arg(g, na));
	} else if (r < 570) {
		int adv = advices[rnd(g, sizeof(advices) / sizeof(advices[0]))];

		if (((g->env->without & FZ_W_PAGEOUT) && (adv == MADV_PAGEOUT || adv == MADV_COLD)) ||
		    ((g->env->without & FZ_W_COLLAPSE) && (adv == 25 || adv == MADV_HUGEPAGE || adv == MADV_NOHUGEPAGE)))
			adv = MADV_NORMAL;
		old_range(g, &a, &l);
		if ((adv == 22 || adv == 23 || adv == MADV_WILLNEED) && !small_enough(l))
			l = 16 * PG;
		*op = (struct orc_op)ORC_MADVISE(addr_arg(g, a), l, adv);
	} else if (r < 620) {
		unsigned m = (unsigned)rnd(g, 100);

		old_range(g, &a, &l);
		if (!small_enough(l))
			l = 16 * PG;
		if (m < 35)
			*op = (struct orc_op)ORC_MLOCK(addr_arg(g, a), l);
		else if (m < 60)
			*op = (struct orc_op)ORC_MLOCK2(addr_arg(g, a), l, chance(g, 80) ? MLOCK_ONFAULT : 2);
		else
			*op = (struct orc_op)ORC_MUNLOCK(addr_arg(g, a), l);
	} else if (r < 640) {
		static const int flags[] = { MCL_FUTURE, MCL_FUTURE | MCL_ONFAULT, MCL_CURRENT, MCL_CURRENT | MCL_ONFAULT,
					     MCL_CURRENT | MCL_FUTURE, 0, MCL_ONFAULT, 8 };
		int f = flags[rnd(g, sizeof(flags) / sizeof(flags[0]))];

		if (chance(g, 40)) {
			*op = (struct orc_op)ORC_MUNLOCKALL();
			return;
		}
		/*
		 * MCL_CURRENT locks the harness too: faulting it in (copy-on-write
		 * breaks of its stack and data on the kernel, stand-ins without pages
		 * on aspace) is not the sequence's doing. Only with MCL_ONFAULT,
		 * which faults nothing in.
		 */
		if ((f & MCL_CURRENT) && !(f & MCL_ONFAULT))
			f |= MCL_ONFAULT;
		/*
		 * Even with MCL_ONFAULT, MCL_CURRENT populates MAP_DROPPABLE
		 * regions: keep what it could fault in far below aspace's RAM
		 * (the host has much more; running out is not a divergence).
		 */
		if (f & MCL_CURRENT) {
			struct as_mm_counters c;

			as_mm_get_counters(g->mm[g->cur], &c);
			if ((c.total_vm - g->env->total_vm_pages) * PG > 256 * MIB)
				f = MCL_FUTURE | MCL_ONFAULT;
		}
		*op = (struct orc_op)ORC_MLOCKALL(f);
	} else if (r < 670) {
		static const int flags[] = { MS_ASYNC, MS_SYNC, MS_INVALIDATE, MS_ASYNC | MS_INVALIDATE,
					     MS_SYNC | MS_INVALIDATE, MS_ASYNC | MS_SYNC, 8 };

		old_range(g, &a, &l);
		*op = (struct orc_op)ORC_MSYNC(addr_arg(g, a), l, flags[rnd(g, sizeof(flags) / sizeof(flags[0]))]);
	} else if (r < 710) {
		old_range(g, &a, &l);
		if (l > 256 * PG)
			l = pages(g, 64);
		*op = (struct orc_op)ORC_MINCORE(addr_arg(g, a), l, vec_addr(g, (l + PG - 1) / PG));
	} else if (r < 750) {
		uint64_t to;

		if (g->brk_op < 0) {
			*op = (struct orc_op)ORC_BRK(0);
			return;
		}
		switch (rnd(g, 6)) {
		case 0:
			to = 0;
			break;
		case 1:
			to = ORC_REF(g->brk_op, -(int64_t)(rnd(g, 3) * PG));
			break;
		case 2:
			to = ORC_REF(g->brk_op, (int64_t)(rnd(g, 3 * PG)));
			break;
		case 3:
			to = ORC_REF(g->brk_op, (int64_t)(32 * MIB + rnd(g, 4) * PG));
			break;
		default:
			to = ORC_REF(g->brk_op, (int64_t)(rnd(g, 40) * PG));
			break;
		}
		*op = (struct orc_op)ORC_BRK(to);
	} else if (r < 830) {
		access_range(g, &a, &l);
		*op = (struct orc_op)ORC_READ(addr_arg(g, a), l);
	} else if (r < 930) {
		access_range(g, &a, &l);
		*op = (struct orc_op)ORC_WRITE(addr_arg(g, a), l, chance(g, 20) ? 0xc3 : rnd(g, 256));
	} else if (r < 950) {
		gen_exec(g, op);
	} else if (r < 986 && (g->env->without & FZ_W_FORK)) {
		access_range(g, &a, &l);
		*op = (struct orc_op)ORC_READ(addr_arg(g, a), l);
	} else if (r < 965) {
		*op = (struct orc_op)ORC_FORK();
	} else if (r < 980) {
		uint32_t to = (uint32_t)rnd(g, g->nprocs);

		*op = (struct orc_op)ORC_SWITCH(g->mm[to] ? to : 0);
	} else if (r < 986) {
		uint32_t to = (uint32_t)rnd(g, g->nprocs);

		if (g->harness_locked[g->cur])
			*op = (struct orc_op)ORC_SWITCH(g->mm[to] ? to : 0);
		else
			*op = (struct orc_op)ORC_EXIT(g->mm[to] && to != g->cur ? to : g->cur ? 0 : 1);
	} else if (r < 993) {
		gen_rlimit(g, op);
	} else if (g->env->without & FZ_W_FILES) {
		gen_rlimit(g, op);
	} else {
		static const uint64_t lens[] = { 0, PG, 2 * PG + 100, 5 * PG + 100, 16 * PG, 20 * PG };
		int f = (int)rnd(g, 2);

		*op = (struct orc_op)ORC_FTRUNCATE(g->env->files[f].fd, lens[rnd(g, sizeof(lens) / sizeof(lens[0]))]);
	}
}

/* Bookkeeping after the model ran op (its result ret). */
static void after(struct gen *g, const struct orc_op *op, int64_t ret)
{
	uint64_t a[6];

	orc_resolve_args(op, g->res, g->n, a);
	g->res[g->n] = ret;
	g->is_addr[g->n] = (op->kind == ORC_OP_MMAP || op->kind == ORC_OP_MREMAP || op->kind == ORC_OP_BRK) &&
			   (ret > 0 || ret < -4095);
	switch (op->kind) {
	case ORC_OP_BRK:
		if (a[0] == 0 && g->brk_op < 0)
			g->brk_op = (int)g->n;
		break;
	case ORC_OP_WRITE:
		if (ret == 0 && a[2] == 0xc3 && a[1] == 1)
			add_ret(g, a[0]);
		else if (ret == 0 || ret == -EFAULT)
			forget_rets(g);
		break;
	case ORC_OP_MMAP:
		forget_rets(g);
		break;
	case ORC_OP_MLOCKALL:
		if (ret == 0 && (a[0] & MCL_FUTURE))
			g->mlockall_future = true;
		if (ret == 0 && (a[0] & MCL_CURRENT))
			g->harness_locked[g->cur] = true;
		break;
	case ORC_OP_MUNLOCKALL:
		g->mlockall_future = false;
		if (ret == 0)
			g->harness_locked[g->cur] = false;
		break;
	case ORC_OP_READ:
	case ORC_OP_EXEC:
	case ORC_OP_MINCORE:
	case ORC_OP_MPROTECT:
	case ORC_OP_MLOCK:
	case ORC_OP_MLOCK2:
	case ORC_OP_MUNLOCK:
	case ORC_OP_MSYNC:
	case ORC_OP_FORK:
	case ORC_OP_SWITCH:
	case ORC_OP_SETRLIMIT:
		break;
	default:
		forget_rets(g);
		break;
	}
	g->n++;
	refresh(g);
}

void fz_generate(struct fz_env *env, uint64_t seed, struct orc_op *ops, size_t n)
{
	struct as_machine_config cfg;
	struct gen g = { .env = env, .rng = seed, .ops = ops, .brk_op = -1, .nprocs = 1 };

	if (n > ORC_MAX_OPS)
		n = ORC_MAX_OPS;
	g.res = calloc(n ? n : 1, sizeof(*g.res));
	g.is_addr = calloc(n ? n : 1, sizeof(*g.is_addr));
	orc_machine_config(&env->probe, env->opts.ram_bytes, &cfg);
	fz_files_restore(env);
	if (!g.res || !g.is_addr || as_machine_new(&cfg, &g.m) || fz_space_new(env, g.m, &g.mm[0])) {
		/* Without a model: ops that need none. */
		for (size_t i = 0; i < n; i++)
			ops[i] = (struct orc_op)ORC_BRK(0);
		goto out;
	}
	refresh(&g);
	for (size_t i = 0; i < n; i++) {
		int64_t ret;

		if (i == 1 && chance(&g, 50)) {
			ops[i] = (struct orc_op)ORC_BRK(0);
		} else {
			draw(&g, &ops[i]);
		}
		model_run(&g, &ops[i], &ret);
		after(&g, &ops[i], ret);
	}
out:
	for (uint32_t i = 0; i < g.nprocs; i++)
		as_mm_put(g.mm[i]);
	if (g.m)
		as_machine_free(g.m);
	free(g.reg);
	free(g.res);
	free(g.is_addr);
}

/* ---- Running and recognizing divergences ---- */

static sigjmp_buf *panic_jmp;
static char panic_msg[512];

static void on_panic(const char *msg)
{
	snprintf(panic_msg, sizeof(panic_msg), "%s", msg);
	if (panic_jmp)
		siglongjmp(*panic_jmp, 1);
	fprintf(stderr, "aspace: %s\n", msg); /* unguarded: the library aborts after this */
}

void fz_panic_arm(void)
{
	as_set_panic_hook(on_panic);
}

bool fz_guarded(void (*fn)(void *ctx), void *ctx, char *msg, size_t len)
{
	sigjmp_buf jb, *outer = panic_jmp;

	if (sigsetjmp(jb, 1)) {
		panic_jmp = outer;
		if (len) { /* the panic message, cut to fit */
			size_t n = strnlen(panic_msg, len - 1);

			memcpy(msg, panic_msg, n);
			msg[n] = '\0';
		}
		return false;
	}
	panic_jmp = &jb;
	fn(ctx);
	panic_jmp = outer;
	return true;
}

struct aspace_ctx {
	struct fz_env *env;
	const struct orc_op *ops;
	size_t n;
	struct fz_run *r;
};

static void run_aspace(void *ctx)
{
	struct aspace_ctx *c = ctx;

	orc_run_aspace(c->ops, c->n, &c->env->opts, &c->r->k, &c->r->a);
}

int fz_run(struct fz_env *env, const struct orc_op *ops, size_t n, struct fz_run *r, FILE *report)
{
	memset(r, 0, sizeof(*r));
	fz_files_restore(env);
	if (orc_run_kernel(ops, n, &env->opts, &r->k) && r->k.nops == 0) {
		snprintf(r->res.error, sizeof(r->res.error), "kernel side: %.480s", r->k.error);
		r->rc = -1;
		return -1;
	}
	fz_files_restore(env);
	{
		struct aspace_ctx c = { .env = env, .ops = ops, .n = n, .r = r };
		char msg[400];

		if (!fz_guarded(run_aspace, &c, msg, sizeof(msg))) {
			/* The machine is abandoned (leaked); the run is a divergence. */
			memset(&r->a, 0, sizeof(r->a));
			r->panicked = true;
			snprintf(r->res.error, sizeof(r->res.error), "aspace panicked: %s", msg);
			r->rc = 1;
			return 1;
		}
	}
	if (!r->a.before.maps) {
		snprintf(r->res.error, sizeof(r->res.error), "aspace side: %.480s", r->a.error);
		r->rc = -1;
		return -1;
	}
	r->rc = orc_compare(ops, n, &r->k, &r->a, &env->opts, report, &r->res);
	return r->rc;
}

void fz_run_free(struct fz_run *r)
{
	orc_trace_free(&r->k);
	if (!r->panicked)
		orc_trace_free(&r->a);
	memset(r, 0, sizeof(*r));
}

bool fz_divergence(const struct fz_env *env, const struct fz_run *r, const struct orc_op *ops, size_t n,
		   struct fz_sig *sig, int *op)
{
	struct orc_result one;

	memset(sig, 0, sizeof(*sig));
	*op = -1;
	if (r->panicked) {
		sig->kind = ORC_OP_NONE;
		sig->fields = ORC_F_CHECK;
		*op = (int)r->a.nops;
		return true;
	}
	if (r->rc < 0 || (r->rc == 0 && r->k.error[0])) {
		sig->harness = true;
		return true;
	}
	if (r->rc == 0)
		return false;
	if (r->res.first_diverged == ORC_BEFORE) {
		sig->kind = ORC_OP_NONE;
		sig->fields = ORC_F_MAPS;
		return true;
	}
	if (r->res.first_diverged < 0) {
		/* Only the aspace side's own trouble (a leak at teardown). */
		sig->kind = ORC_OP_NONE;
		sig->fields = ORC_F_CHECK;
		*op = (int)r->a.nops - 1;
		return true;
	}
	*op = r->res.first_diverged;
	sig->kind = ops[*op].kind;
	/* The fields of the first divergent op: compare up to it alone. */
	orc_compare(ops, (size_t)*op + 1 <= n ? (size_t)*op + 1 : n, &r->k, &r->a, &env->opts, NULL, &one);
	sig->fields = one.fields;
	if ((size_t)*op < r->k.nops && r->k.rec[*op].ret < 0 && r->k.rec[*op].ret >= -4095)
		sig->kerr = (int)-r->k.rec[*op].ret;
	if ((size_t)*op < r->a.nops && r->a.rec[*op].ret < 0 && r->a.rec[*op].ret >= -4095)
		sig->aerr = (int)-r->a.rec[*op].ret;
	if (sig->fields & ~ORC_F_CHECK)
		sig->fields &= ~ORC_F_CHECK | (r->a.rec && r->a.rec[*op].note ? ORC_F_CHECK : 0);
	return true;
}
