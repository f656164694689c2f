/*
 * The oracle's own internals: the memory the kernel child shares with its
 * parent, and the smaps parsing the aspace side and the comparison share.
 *
 * The kernel side is two files: kernel.c runs in the parent (fork, the
 * per-op handshake, reading /proc/PID/{maps,smaps,stat} of the stopped
 * child), kernel_child.c in the child (raw system calls only, compiled
 * without sanitizers, builtins or jump tables, its code in its own section
 * that the child pre-touches, so that nothing it does between ops faults or
 * changes a region's RSS).
 */
#ifndef ASPACE_ORACLE_INTERNAL_H
#define ASPACE_ORACLE_INTERNAL_H

#include "oracle.h"

#include <stdint.h>

/* What the child records for one op, in the shared buffer. */
struct orc_kslot {
	int64_t ret;
	int32_t signo, code;
	uint64_t fault_addr;
	int64_t minflt;
	uint64_t args[6];
	uint64_t nbytes, hash;
	uint32_t vec_len, ncopied;
	uint8_t vec[ORC_VEC_CAP];
	uint8_t bytes[ORC_BYTES_CAP];
};

#define ORC_ALTSTACK_SIZE (64u * 1024)
#define ORC_MAX_UNMAP 2048 /* regions an isolated child unmaps (sanitizers make many) */
#define ORC_MAX_TOUCH 32
#define ORC_TURN(op, proc) (((uint32_t)(op) << 4) | (uint32_t)(proc))
#define ORC_TURN_OP(w) ((w) >> 4)
#define ORC_TURN_PROC(w) ((w) & 15u)
#define ORC_STACK_TOUCH (256u * 1024)

/* Messages on the socket pair: child -> parent, then parent -> child. */
#define ORC_MSG_READY 'R'  /* set up; before snapshot may be taken */
#define ORC_MSG_DONE 'D'   /* one op done */
#define ORC_MSG_GO 'G'     /* parent has looked; go on */

/*
 * The buffer shared by the parent and the kernel child (MAP_SHARED, created
 * before fork). [P] written by the parent before fork; [C] by the child.
 */
struct orc_kshared {
	uint32_t nops;                     /* [P] */
	uint32_t unprivileged;             /* [P] */
	int32_t to_parent, from_parent;    /* [P] the child's end of the socket pair (both) */
	struct orc_op ops[ORC_MAX_OPS];    /* [P] */

	uint64_t brk;                      /* [C] brk(0) before the first op */
	uint64_t rlim[16][2];              /* [C] prlimit64 of every resource */
	int64_t setup_err;                 /* [C] -errno of a failed setup step */
	uint32_t setup_step;               /* [C] which step failed (kernel_child.c) */
	uint32_t cur_op;                   /* [C] */
	int32_t fault_signo, fault_code;   /* [C] set by the signal handler */
	uint64_t fault_addr;               /* [C] */
	uint64_t exec_target;              /* [C] address an EXEC op is calling (0 is one too) */
	uint32_t exec_active;              /* [C] 1 while an EXEC op calls exec_target */
	int32_t stray_signo;               /* [C] a fault the handler could not attribute */
	uint64_t stray_addr, stray_rip;    /* [C] */

	/*
	 * Processes (ORC_OP_FORK/SWITCH/EXIT). Only the current process runs
	 * an op; the others wait on `turn` (a futex word) until it moves and
	 * they are current. The parent sets the first four before fork.
	 */
	uint32_t turn;                     /* [C] ORC_TURN(op to run next, process to run it),
	                                      one word so that both change at once ([P] after
	                                      an EXIT) */
	uint32_t current;                  /* [C] the process the parent looks at after an op */
	uint32_t nprocs;                   /* [C] processes made so far */
	uint32_t exited;                   /* [C] bit i: process i is gone */
	int32_t pids[ORC_MAX_PROCS];       /* [C] (pids[0]: [P]) */
	int32_t exiting;                   /* [C] pid of the process an EXIT ends, until [P] saw it go */
	int32_t oracle_pid;                /* [P] the parent: waiting children leave when it is gone */
	uint64_t stack_lo, stack_hi;       /* [C] the stack bytes touched before the first op */

	/* Isolation (orc_opts.isolate), see kernel_child.c. */
	uint32_t isolate;                  /* [P] */
	uint32_t nunmap;                   /* [P] */
	uint64_t size;                     /* [P] bytes of this buffer */
	uint64_t start_brk;                /* [P] */
	uint64_t rseq_addr;                /* [P] glibc's rseq area (in the TLS, unmapped too) */
	uint32_t rseq_len, rseq_alt_len;   /* [P] lengths to try unregistering it with */
	uint64_t unmap[ORC_MAX_UNMAP][2];  /* [P] [start, end) of every region to unmap */
	uint32_t ntouch;                   /* [P] */
	uint64_t touch[ORC_MAX_TOUCH][2];  /* [P] the program's readable regions: read through
	                                      before the first op (code, constants) */

	uint8_t altstack[ORC_ALTSTACK_SIZE] __attribute__((aligned(4096))); /* [C] */
	struct orc_kslot slots[];          /* [C] nops */
};

/* The child's whole life after fork; never returns (exit_group). */
__attribute__((noreturn)) void orc_child_main(struct orc_kshared *ks);

/* Setup steps, for error messages. */
enum orc_child_step {
	ORC_STEP_NONE = 0,
	ORC_STEP_PRCTL,
	ORC_STEP_ALTSTACK,
	ORC_STEP_SIGACTION,
	ORC_STEP_SETGROUPS,
	ORC_STEP_SETGID,
	ORC_STEP_SETUID,
	ORC_STEP_RLIMIT,
	ORC_STEP_ISOLATE,
	ORC_STEP_RSEQ,
};

/*
 * In the parent before fork: fill ks->touch with the program's readable
 * regions and, with ks->isolate, ks->unmap with every region of this
 * process but the executable's own, [stack] and the buffer itself, and
 * ks->start_brk. 0, or -1 with `err` set.
 */
int orc_isolate_prepare(struct orc_kshared *ks, char *err, size_t errlen);

/* ---- smaps text ---- */

/* One entry of a smaps text: the header line and its field lines. */
struct orc_entry {
	uint64_t start, end;
	const char *text;        /* points into the smaps text */
	size_t len;              /* through the last line's newline */
};

/* Split smaps text into entries (malloc'd array). -1 on allocation failure. */
int orc_smaps_split(const char *smaps, struct orc_entry **out, size_t *n);

/* The value in kB of field `name` ("Rss") of an entry, or 0. */
uint64_t orc_entry_kb(const struct orc_entry *e, const char *name);

/* Does the entry count any page (Rss, Anonymous, Swap, ...)? */
bool orc_entry_has_pages(const struct orc_entry *e);

/* Is `name` (e.g. "Rss") a field that counts pages? */
bool orc_field_counts_pages(const char *line, size_t len);

/*
 * VM_* flags from a "VmFlags: rd wr ..." line. Unknown mnemonics are
 * appended to `unknown` (space separated) when it is not NULL.
 */
uint64_t orc_vmflags_parse(const char *line, size_t len, char *unknown, size_t unknown_len);

/* FNV-1a, 64 bits. */
#define ORC_FNV_OFFSET 0xcbf29ce484222325ull
#define ORC_FNV_PRIME 0x100000001b3ull

/* An op's arguments with references resolved against earlier results. */
void orc_resolve_args(const struct orc_op *op, const int64_t *results, size_t nresults, uint64_t out[6]);

/* Check a sequence: kinds valid, references to earlier ops. 0 or -1 with msg. */
int orc_validate(const struct orc_op *ops, size_t n, char *msg, size_t len);

/* Free what a record holds. */
void orc_rec_free(struct orc_rec *r);

/* Was orc_init able to turn randomization off? */
bool orc_layout_fixed(void);

#endif
