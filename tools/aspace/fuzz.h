/*
 * fuzz — the machinery of `aspace diff` (docs/DIFF.md): a generator of
 * random but meaningful sequences of memory operations (fuzz.c), a
 * shrinker that makes a divergent sequence minimal (shrink.c), and the
 * writer of an `aspace run` script that reproduces it (repro.c). The
 * sequences run through the oracle (tools/oracle): on the host kernel in
 * an isolated forked child, and on aspace from the same starting state.
 *
 * Vocabulary: the *campaign* is one `aspace diff` run; it draws sequences
 * of 20 to 50 ops, each from its own seed. The *harness* is what the
 * kernel child keeps of the program after isolation (its own regions,
 * [stack], the buffer it shares with the oracle): no op may touch it. The
 * *window* is a fixed free range where fixed-address mappings go.
 */
#ifndef ASPACE_TOOL_FUZZ_H
#define ASPACE_TOOL_FUZZ_H

#include "internal.h" /* the oracle's, tools/oracle: smaps parsing, references */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define FZ_PAGE ((uint64_t)4096)
#define FZ_WINDOW 0x200000000000ull        /* fixed mappings go here (32 TiB) */
#define FZ_WINDOW_SIZE (1ull << 30)
#define FZ_RAM (1ull << 30)                /* aspace's RAM; accountable requests stay far
                                              below it or far above the host's */
#define FZ_NFILES 3
#define FZ_MAX_HARNESS 64
#define FZ_MIN_LEN 20
#define FZ_MAX_LEN 50

/* A temporary file the sequences map. */
struct fz_file {
	char path[600];
	int fd;          /* O_RDWR */
	int fd_ro;       /* O_RDONLY: shared writable mappings get EACCES */
	uint64_t size;   /* bytes, as (re)written before every side */
};

/* What a campaign knows before its first sequence. */
struct fz_env {
	struct orc_probe probe;
	struct orc_opts opts;         /* isolate, unprivileged, ram_bytes */
	struct orc_trace base;        /* a run of no op: the kernel child's starting state */
	char dir[512];                /* the temporary files' directory */
	struct fz_file files[FZ_NFILES];
	int fd_wo;                    /* files[1] opened O_WRONLY: EACCES */
	int fd_dir;                   /* a directory: ENODEV */
	uint64_t harness[FZ_MAX_HARNESS][2]; /* ranges no op may touch */
	size_t nharness;
	uint64_t mmap_base, task_size;
	uint64_t total_vm_pages;      /* the harness's size, for RLIMIT_AS */
	unsigned without;             /* FZ_W_*: features the sequences leave out */
};

/* Features `aspace diff --without` can leave out of the sequences. */
enum {
	FZ_W_HUGETLB = 1 << 0,        /* MAP_HUGETLB */
	FZ_W_DROPPABLE = 1 << 1,      /* MAP_DROPPABLE */
	FZ_W_SYNC = 1 << 2,           /* MAP_SYNC and unknown MAP_SHARED_VALIDATE flags */
	FZ_W_PAGEOUT = 1 << 3,        /* MADV_PAGEOUT, MADV_COLD */
	FZ_W_COLLAPSE = 1 << 4,       /* MADV_COLLAPSE, MADV_HUGEPAGE, MADV_NOHUGEPAGE */
	FZ_W_FORK = 1 << 5,           /* fork, switch, exit */
	FZ_W_FILES = 1 << 6,          /* file mappings and ftruncate */
};
/* Parse "hugetlb,droppable,..." into FZ_W_* bits; -1 (message on stderr) for an unknown name. */
int fz_without(const char *list);

/* Set up: files, the base run, the harness. 0, or -1 after a message on stderr. */
int fz_env_init(struct fz_env *env, bool unprivileged);
void fz_env_free(struct fz_env *env, bool keep_files);

/* Write the files' contents and sizes again (before each side runs). */
void fz_files_restore(struct fz_env *env);

/*
 * A new space like the kernel child's at the start (rlimits, capabilities,
 * stand-ins of the harness, layout), on machine m. 0 or -errno.
 */
int fz_space_new(const struct fz_env *env, struct as_machine *m, struct as_mm **out);

/* Generate a sequence of n ops (at most ORC_MAX_OPS) from seed. */
void fz_generate(struct fz_env *env, uint64_t seed, struct orc_op *ops, size_t n);

/* One run of a sequence on both sides and the comparison. */
struct fz_run {
	struct orc_trace k, a;
	struct orc_result res;
	int rc;                       /* orc_compare's: 0, divergent ops, -1 */
	bool panicked;                /* aspace panicked (res.error says where) */
};
int fz_run(struct fz_env *env, const struct orc_op *ops, size_t n, struct fz_run *r, FILE *report);
void fz_run_free(struct fz_run *r);

/* What a divergence looks like, to recognize it while shrinking. */
struct fz_sig {
	enum orc_kind kind;           /* of the first divergent op; ORC_OP_NONE for the initial state */
	uint32_t fields;              /* ORC_F_* of that op */
	bool harness;                 /* the kernel side could not run the sequence */
	int kerr, aerr;               /* errno of that op on each side (0: it succeeded) */
};
bool fz_divergence(const struct fz_env *env, const struct fz_run *r, const struct orc_op *ops, size_t n,
		   struct fz_sig *sig, int *op);

/*
 * Shrink ops (n in, *n out) to a minimal sequence still showing a
 * divergence of the same kind. Returns the runs it made; `budget_ms` caps
 * the time.
 */
int fz_shrink(struct fz_env *env, struct orc_op *ops, size_t *n, const struct fz_sig *sig, long budget_ms);

/*
 * The `aspace run` script reproducing the divergence of run r (of ops, n)
 * to out. `title` goes into its first comment lines.
 */
void fz_repro_write(const struct fz_env *env, const struct orc_op *ops, size_t n, const struct fz_run *r,
		    const char *title, FILE *out);

/*
 * The sequence as the array of a side-by-side test (tests/diff/regress.h
 * names the campaign's files RG_FD(i), RG_FD_RO(i), RG_FD_WO, RG_FD_DIR).
 */
void fz_repro_c(const struct fz_env *env, const struct orc_op *ops, size_t n, FILE *out);

/*
 * Run a reproducer script on aspace alone: its exit status (1 when it
 * shows the divergence), and in *line the line of the first failed check
 * (0 when none).
 */
int fz_repro_check(const char *text, size_t len, int *line);

/* splitmix64: the generator's random numbers. */
static inline uint64_t fz_mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Panics of the library while fuzzing are divergences, not the end of the
 * command: fz_panic_arm installs the hook; fz_guarded calls fn(ctx) and
 * returns false, with the panic message in msg, when the library panicked
 * meanwhile (whatever fn was doing is abandoned, its memory leaked).
 */
void fz_panic_arm(void);
bool fz_guarded(void (*fn)(void *ctx), void *ctx, char *msg, size_t len);

#endif
