/*
 * oracle — run one sequence of memory operations on the host kernel and on
 * aspace, and compare what each observed, op by op.
 *
 * A sequence is an array of struct orc_op (system calls, reads, writes,
 * instruction fetches, rlimit changes). The kernel side runs it in a forked
 * child of the calling process (address randomization and THP off, raw
 * system calls, faults caught), recording after every op its result, the
 * fault it took, its minor-fault delta, /proc/PID/maps and /proc/PID/smaps.
 * The aspace side copies the child's pre-existing regions, limits and layout
 * into a fresh space on a machine configured like the host, runs the same
 * ops there and records the same things. orc_compare then reports the first
 * divergence of every op that differs. See tools/oracle/README.md.
 *
 * White-box: the aspace side uses the library's internal headers (src/).
 * Call orc_init(argc, argv) first thing in main: it re-executes the program
 * with randomization off so that the layout is deterministic.
 */
#ifndef ASPACE_ORACLE_H
#define ASPACE_ORACLE_H

#include <aspace/aspace.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Sequences ---------------------------------------------------------- */

enum orc_kind {
	ORC_OP_NONE = 0,
	ORC_OP_MMAP,       /* a0 addr, a1 len, a2 prot, a3 flags, a4 fd, a5 offset */
	ORC_OP_MUNMAP,     /* a0 addr, a1 len */
	ORC_OP_MPROTECT,   /* a0 addr, a1 len, a2 prot */
	ORC_OP_MREMAP,     /* a0 old addr, a1 old len, a2 new len, a3 flags, a4 new addr */
	ORC_OP_MADVISE,    /* a0 addr, a1 len, a2 advice */
	ORC_OP_MLOCK,      /* a0 addr, a1 len */
	ORC_OP_MLOCK2,     /* a0 addr, a1 len, a2 flags */
	ORC_OP_MUNLOCK,    /* a0 addr, a1 len */
	ORC_OP_MLOCKALL,   /* a0 flags */
	ORC_OP_MUNLOCKALL,
	ORC_OP_MSYNC,      /* a0 addr, a1 len, a2 flags */
	ORC_OP_MINCORE,    /* a0 addr, a1 len, a2 vector address (in the space!) */
	ORC_OP_BRK,        /* a0 new break (0: query) */
	ORC_OP_READ,       /* a0 addr, a1 len: read every byte */
	ORC_OP_WRITE,      /* a0 addr, a1 len, a2 byte value: write every byte */
	ORC_OP_EXEC,       /* a0 addr: call it; the sequence must have written a
	                      `ret` (0xc3) there, see README */
	ORC_OP_SETRLIMIT,  /* a0 resource, a1 cur, a2 max */
	/* Processes: the sequence starts in process 0; ops run in the current one. */
	ORC_OP_FORK,       /* the current process forks; result: the child's index
	                      (1, 2, ... in order of FORKs), not its pid; the current
	                      process stays the parent */
	ORC_OP_SWITCH,     /* a0 process index: later ops run there (0, or -ESRCH
	                      for no live process of that index) */
	ORC_OP_EXIT,       /* the current process exits; a0: the live process that
	                      becomes current (-ESRCH, no exit, when there is none) */
	ORC_OP_FTRUNCATE,  /* a0 fd, a1 length: truncate a host file the sequence
	                      maps (both sides change the same file: restore it
	                      between the sides, see orc_opts.between) */
	ORC_OP_NR
};

#define ORC_MAX_PROCS 8 /* processes of one sequence, the first included */

/*
 * One operation. `ignore` is a mask of ORC_F_* fields not to compare for
 * this op (in addition to orc_opts.ignore).
 */
struct orc_op {
	enum orc_kind kind;
	uint32_t ignore;
	uint64_t a[6];
};

#define ORC_MAX_OPS 256

/*
 * An argument may name the result of an earlier op i (on each side its own
 * result) plus a signed offset of less than 2^39: ORC_REF(i, off). Any value
 * whose top 16 bits are 0xfeed is taken as such a reference.
 */
#define ORC_REF_TAG 0xfeed000000000000ull
#define ORC_REF_MASK 0xffff000000000000ull
#define ORC_REF_OFF_BITS 40
#define ORC_REF(i, off) \
	(ORC_REF_TAG | ((uint64_t)(i) << ORC_REF_OFF_BITS) | \
	 ((uint64_t)(int64_t)(off) & ((1ull << ORC_REF_OFF_BITS) - 1)))
#define ORC_IS_REF(v) (((v) & ORC_REF_MASK) == ORC_REF_TAG)

#define ORC_N(arr) (sizeof(arr) / sizeof((arr)[0]))

/* Builders: `static const struct orc_op seq[] = { ORC_MMAP(0, 4096, ...), ... };` */
#define ORC_OP(k, a0, a1, a2, a3, a4, a5) \
	{ .kind = (k), .ignore = 0, .a = { (uint64_t)(a0), (uint64_t)(a1), (uint64_t)(a2), \
					    (uint64_t)(a3), (uint64_t)(a4), (uint64_t)(a5) } }
#define ORC_MMAP(addr, len, prot, flags) ORC_OP(ORC_OP_MMAP, addr, len, prot, flags, -1, 0)
#define ORC_MMAP_FD(addr, len, prot, flags, fd, off) ORC_OP(ORC_OP_MMAP, addr, len, prot, flags, fd, off)
#define ORC_MUNMAP(addr, len) ORC_OP(ORC_OP_MUNMAP, addr, len, 0, 0, 0, 0)
#define ORC_MPROTECT(addr, len, prot) ORC_OP(ORC_OP_MPROTECT, addr, len, prot, 0, 0, 0)
#define ORC_MREMAP(addr, old_len, new_len, flags, new_addr) \
	ORC_OP(ORC_OP_MREMAP, addr, old_len, new_len, flags, new_addr, 0)
#define ORC_MADVISE(addr, len, advice) ORC_OP(ORC_OP_MADVISE, addr, len, advice, 0, 0, 0)
#define ORC_MLOCK(addr, len) ORC_OP(ORC_OP_MLOCK, addr, len, 0, 0, 0, 0)
#define ORC_MLOCK2(addr, len, flags) ORC_OP(ORC_OP_MLOCK2, addr, len, flags, 0, 0, 0)
#define ORC_MUNLOCK(addr, len) ORC_OP(ORC_OP_MUNLOCK, addr, len, 0, 0, 0, 0)
#define ORC_MLOCKALL(flags) ORC_OP(ORC_OP_MLOCKALL, flags, 0, 0, 0, 0, 0)
#define ORC_MUNLOCKALL() ORC_OP(ORC_OP_MUNLOCKALL, 0, 0, 0, 0, 0, 0)
#define ORC_MSYNC(addr, len, flags) ORC_OP(ORC_OP_MSYNC, addr, len, flags, 0, 0, 0)
#define ORC_MINCORE(addr, len, vec) ORC_OP(ORC_OP_MINCORE, addr, len, vec, 0, 0, 0)
#define ORC_BRK(addr) ORC_OP(ORC_OP_BRK, addr, 0, 0, 0, 0, 0)
#define ORC_READ(addr, len) ORC_OP(ORC_OP_READ, addr, len, 0, 0, 0, 0)
#define ORC_WRITE(addr, len, byte) ORC_OP(ORC_OP_WRITE, addr, len, byte, 0, 0, 0)
#define ORC_EXEC(addr) ORC_OP(ORC_OP_EXEC, addr, 0, 0, 0, 0, 0)
#define ORC_SETRLIMIT(res, cur, max) ORC_OP(ORC_OP_SETRLIMIT, res, cur, max, 0, 0, 0)
#define ORC_FORK() ORC_OP(ORC_OP_FORK, 0, 0, 0, 0, 0, 0)
#define ORC_SWITCH(proc) ORC_OP(ORC_OP_SWITCH, proc, 0, 0, 0, 0, 0)
#define ORC_EXIT(next) ORC_OP(ORC_OP_EXIT, next, 0, 0, 0, 0, 0)
#define ORC_FTRUNCATE(fd, len) ORC_OP(ORC_OP_FTRUNCATE, fd, len, 0, 0, 0, 0)

/* ---- What is compared (bits of orc_result.fields and of ignore masks) ---- */

#define ORC_F_RET 0x001u         /* return value (-errno) */
#define ORC_F_FAULT 0x002u       /* signal, si_code, si_addr of an access */
#define ORC_F_MINFLT 0x004u      /* minor faults during the op */
#define ORC_F_MAPS 0x008u        /* /proc/PID/maps, byte for byte */
#define ORC_F_SMAPS 0x010u       /* smaps entries of regions the sequence changed */
#define ORC_F_MINCORE 0x020u     /* the mincore vector */
#define ORC_F_BYTES 0x040u       /* bytes a READ transferred */
#define ORC_F_CHECK 0x080u       /* aspace's invariant checker failed after the op */
/*
 * What other tasks on the child's CPU can change from run to run (LRU
 * batches drained: LazyFree and Referenced in smaps, then what reclaim or
 * refaults of such pages show): only a divergence in these alone is run
 * again before it counts (orc_check, aspace diff).
 */
#define ORC_F_NOISY (ORC_F_SMAPS | ORC_F_MINFLT | ORC_F_MINCORE)
#define ORC_F_SMAPS_PAGES 0x100u /* ignore only: compare smaps entries without their
                                    page counts (Rss, Pss, ..., Locked) */

/* Captured bytes of a READ and of a mincore vector; beyond, READ keeps a hash. */
#define ORC_BYTES_CAP 4096
#define ORC_VEC_CAP 4096

/* ---- Host probes -------------------------------------------------------- */

struct orc_probe {
	int zero_page;           /* 1: a read fault of fresh anonymous memory maps the zero page */
	int thp_align_anon;      /* 1: 2 MiB anonymous mmaps are 2 MiB aligned even with THP off */
	char thp_mode[16];       /* always / madvise / never, from sysfs */
	uint64_t vdso_bytes, vvar_bytes, vvar_vclock_bytes;
	uint64_t max_map_count, mmap_min_addr;
	int overcommit_memory, overcommit_ratio, legacy_va_layout;
	uint64_t stack_guard_gap;  /* bytes (kernel command line, default 256 pages) */
	uint64_t mem_total;        /* bytes of host RAM (MemTotal) */
	uint64_t nr_hugepages_2m;  /* /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages */
	int hugepages_1g;          /* 1: hugepages-1048576kB exists */
	uint64_t nr_hugepages_1g;
	unsigned hugetlb_dev_minor;/* the minor of /anon_hugepage in maps (0: not seen) */
	bool randomized;           /* this process has address randomization on */
};

/* Probe the host once (later calls return the cached result). 0 or -errno. */
int orc_probe(struct orc_probe *out);
void orc_probe_print(const struct orc_probe *p, FILE *out);

/* An aspace machine configured like the host, with `ram_bytes` of RAM. */
void orc_machine_config(const struct orc_probe *p, uint64_t ram_bytes, struct as_machine_config *cfg);

/* ---- Running ------------------------------------------------------------ */

/*
 * Re-execute the program with ADDR_NO_RANDOMIZE unless it already runs so.
 * Call it first thing in main; it returns only when randomization is off
 * (or turning it off failed: orc_check then reports that).
 */
void orc_init(int argc, char **argv);

struct orc_opts {
	uint32_t ignore;         /* ORC_F_* not to compare for any op */
	bool unprivileged;       /* kernel child drops to uid/gid 65534 and aspace has no
	                            capabilities; otherwise root, all capabilities */
	unsigned timeout_ms;     /* kernel side, whole sequence; default 10000 */
	uint64_t ram_bytes;      /* aspace machine RAM; default 256 MiB (the overcommit
	                            heuristic compares single requests with it) */
	unsigned max_reported;   /* divergent ops described in the report; default 3 */
	unsigned reruns;         /* orc_check: times a divergent sequence runs again before it
	                            counts (host noise: docs/linux-semantics.md §12.3); default 2 */
	FILE *report;            /* where orc_check writes; default stderr */
	bool verbose;            /* also print every op's results on both sides */
	const char *name;        /* names the sequence in reports */
	/*
	 * Isolation: the kernel child unmaps everything of the forked program
	 * but its executable's own regions and [stack] (libraries, heap,
	 * vdso/vvar, sanitizer shadow...), resets its break to start_brk and
	 * moves the buffer it shares with the parent to ORC_ISOLATE_ADDR, so
	 * that the sequence has nearly the whole address space to itself and
	 * the initial state is the same from run to run. The `aspace diff`
	 * fuzzer runs this way.
	 */
	bool isolate;
	/* Called by orc_check between the kernel side and the aspace side, and
	   before each re-run (e.g. to restore files the kernel side wrote or
	   truncated); may be NULL. */
	void (*between)(void *ctx);
	void *between_ctx;
};
void orc_opts_init(struct orc_opts *o);

/* Where an isolated kernel child keeps the buffer it shares with its parent. */
#define ORC_ISOLATE_ADDR 0x100000000000ull

/* What one side observed for one op (or for the state before the first). */
struct orc_rec {
	int64_t ret;             /* system call result, -errno; accesses: 0 or -EFAULT */
	int signo, code;         /* access fault: SIGSEGV/SIGBUS and si_code; 0 when none */
	uint64_t fault_addr;
	int64_t minflt;          /* minor faults during the op */
	uint64_t args[6];        /* the arguments with references resolved */
	char *maps, *smaps;      /* text after the op (malloc'd) */
	uint32_t vec_len;        /* mincore vector bytes captured */
	uint8_t *vec;            /* malloc'd, vec_len bytes */
	uint64_t nbytes;         /* READ: bytes transferred before any fault */
	uint64_t hash;           /* READ: FNV-1a of those bytes */
	uint32_t ncopied;        /* READ: bytes captured (at most ORC_BYTES_CAP) */
	uint8_t *bytes;          /* malloc'd */
	char *note;              /* side-specific trouble (aspace: invariant report) */
	uint32_t proc;           /* the process the record's maps and smaps are of */
};

/* Everything one side observed for one sequence. */
struct orc_trace {
	size_t nops;             /* ops run (fewer than asked when the side stopped early) */
	struct orc_rec before;   /* the state before the first op */
	struct orc_rec *rec;     /* nops records (room for nalloc) */
	size_t nalloc;
	/* The kernel child's state before the first op, for the aspace side. */
	uint64_t brk, start_brk, start_stack, start_code, end_code, start_data, end_data;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t rlim[16][2];    /* RLIMIT_* cur, max */
	uint64_t caps;           /* the kernel child's effective capabilities (CapEff: root in a
	                            container may lack some, e.g. CAP_SYS_RESOURCE); 0 when
	                            unknown */
	bool unprivileged;
	char error[512];         /* why the side stopped early; empty when it did not */
};

/* Run the sequence on the kernel (a forked child). 0, or -1 with t->error set. */
int orc_run_kernel(const struct orc_op *ops, size_t n, const struct orc_opts *o, struct orc_trace *t);

/*
 * Run the sequence on aspace, starting from the kernel child's state in `k`
 * (its before snapshot, limits and layout). 0, or -1 with t->error set.
 */
int orc_run_aspace(const struct orc_op *ops, size_t n, const struct orc_opts *o,
		   const struct orc_trace *k, struct orc_trace *t);

void orc_trace_free(struct orc_trace *t);

/*
 * Add the regions of a smaps text (entries: a maps header line, VmFlags:
 * and optionally Anonymous:; other field lines are ignored) to mm as the
 * aspace side's stand-ins: exact bounds, VM flags from VmFlags, a stand-in
 * file per distinct path + device + inode (fd -1: faults on it get SIGBUS),
 * [vdso]/[vvar]/[vvar_vclock] as special regions, an anon object marked
 * forked where Anonymous: is not 0; no pages. Entries at or above the task
 * size ([vsyscall]) are skipped. [heap] and [stack] get their names from
 * the layout (as_mm_set_layout). Used by orc_run_aspace and by the aspace
 * command's `regions` statement. 0, or -1 with `err` set (unparsable entry,
 * no VmFlags, out of bounds or overlapping, out of memory); regions added
 * before the failing entry stay.
 */
int orc_space_standins(struct as_mm *mm, const char *smaps, char *err, size_t errlen);

struct orc_result {
	int ops_total;           /* ops in the sequence */
	int ops_compared;        /* ops both sides ran */
	int ops_diverged;
	int first_diverged;      /* op index, -1 for none; ORC_BEFORE for the initial state */
	uint32_t fields;         /* ORC_F_* that diverged somewhere */
	int aspace_enosys;       /* divergent ops where aspace answered -ENOSYS, the kernel not */
	char error[512];         /* a side failed to run (harness trouble, not a divergence) */
};
#define ORC_BEFORE (-2)

/*
 * Compare two traces op by op and describe divergences to `report` (may be
 * NULL). Returns 0 when identical, otherwise the number of divergent ops
 * (plus one when the initial states differ).
 */
int orc_compare(const struct orc_op *ops, size_t n, const struct orc_trace *k,
		const struct orc_trace *a, const struct orc_opts *o, FILE *report,
		struct orc_result *res);

/*
 * Probe, run both sides, compare, report to o->report. Returns 0 when the
 * sides agree, the number of divergent ops, or -1 when a side could not run
 * (res->error says why). `o` and `res` may be NULL.
 */
int orc_check(const struct orc_op *ops, size_t n, const struct orc_opts *o, struct orc_result *res);

/* One op in words, e.g. "mmap(0, 0x1000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)". */
void orc_op_format(const struct orc_op *op, char *buf, size_t len);
const char *orc_kind_name(enum orc_kind k);

#ifdef __cplusplus
}
#endif
#endif
