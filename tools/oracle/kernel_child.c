/*
 * The kernel side's child: runs a sequence with raw system calls and
 * records what happened in the buffer it shares with its parent.
 *
 * Everything here runs between the "before" snapshot and the last op, so it
 * must neither change a mapping nor take a page fault of its own: a fault
 * would count in the op's minor faults and change a pre-existing region's
 * RSS, which the comparison would then see. Hence:
 *  - no libc, no malloc: raw `syscall` instructions only;
 *  - this file is compiled with -fno-sanitize=all -fno-builtin
 *    -fno-tree-loop-distribute-patterns -fno-jump-tables (no shadow memory,
 *    no memset/memcpy calls, no jump tables in .rodata), see CMakeLists.txt;
 *  - every function the child runs lives in the section orc_child_text,
 *    which the child reads through before the snapshot so that its pages
 *    are mapped; the stack (a 256 KiB probe), the shared buffer (all of it,
 *    including the alternate signal stack) and the one global are touched
 *    for writing then too.
 * Accesses (READ/WRITE/EXEC) go through three assembly primitives whose
 * faulting instruction the SIGSEGV/SIGBUS handler recognizes: it records
 * the signal and resumes at a fixup that makes the primitive return -1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/mman.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>

#define CHILD __attribute__((section("orc_child_text"), noinline))

/* Bounds of the section, provided by the linker. */
extern const char __start_orc_child_text[] __attribute__((visibility("hidden")));
extern const char __stop_orc_child_text[] __attribute__((visibility("hidden")));

/* The access primitives (below): byte or 0 on success, -1 after a fault. */
long orc_ld8(uint64_t addr) __attribute__((visibility("hidden")));
long orc_st8(uint64_t addr, uint64_t val) __attribute__((visibility("hidden")));
long orc_exec(uint64_t addr) __attribute__((visibility("hidden")));
extern const char orc_ld8_insn[] __attribute__((visibility("hidden")));
extern const char orc_st8_insn[] __attribute__((visibility("hidden")));
extern const char orc_access_fixup[] __attribute__((visibility("hidden")));
extern const char orc_exec_fixup[] __attribute__((visibility("hidden")));
extern const char orc_restorer[] __attribute__((visibility("hidden")));

/*
 * orc_ld8/orc_st8 fault, if at all, at their first instruction with nothing
 * pushed: the fixup returns -1 to their caller. orc_exec faults at the
 * target with its return address pushed: its fixup pops it first.
 */
__asm__(".pushsection orc_child_text,\"ax\",@progbits\n"
	".globl orc_ld8, orc_ld8_insn, orc_st8, orc_st8_insn, orc_access_fixup\n"
	".globl orc_exec, orc_exec_fixup, orc_restorer\n"
	".hidden orc_ld8, orc_ld8_insn, orc_st8, orc_st8_insn, orc_access_fixup\n"
	".hidden orc_exec, orc_exec_fixup, orc_restorer\n"
	".type orc_ld8,@function\n"
	"orc_ld8:\n"
	"orc_ld8_insn:\n"
	"	movzbl (%rdi), %eax\n"
	"	ret\n"
	".type orc_st8,@function\n"
	"orc_st8:\n"
	"orc_st8_insn:\n"
	"	movb %sil, (%rdi)\n"
	"	xorl %eax, %eax\n"
	"	ret\n"
	"orc_access_fixup:\n"
	"	movq $-1, %rax\n"
	"	ret\n"
	".type orc_exec,@function\n"
	"orc_exec:\n"
	"	call *%rdi\n"
	"	xorl %eax, %eax\n"
	"	ret\n"
	"orc_exec_fixup:\n"
	"	addq $8, %rsp\n"
	"	movq $-1, %rax\n"
	"	ret\n"
	"orc_restorer:\n"
	"	movl $15, %eax\n" /* rt_sigreturn */
	"	syscall\n"
	"	hlt\n"
	".popsection\n");

/* The shared buffer, for the signal handler. Written once before the snapshot. */
static struct orc_kshared *volatile g_ks;

static CHILD long sc(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static CHILD __attribute__((noreturn)) void child_exit(long code)
{
	for (;;)
		sc(SYS_exit_group, code, 0, 0, 0, 0, 0);
}

static CHILD __attribute__((noreturn)) void setup_failed(struct orc_kshared *ks, uint32_t step, long err)
{
	ks->setup_step = step;
	ks->setup_err = err;
	child_exit(96);
}

/* SIGSEGV/SIGBUS: attribute the fault to an access primitive and resume at its fixup. */
static CHILD void on_fault(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct orc_kshared *ks = g_ks;
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];

	if (rip == (uint64_t)orc_ld8_insn || rip == (uint64_t)orc_st8_insn) {
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)orc_access_fixup;
	} else if (ks->exec_active && rip == ks->exec_target) {
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)orc_exec_fixup;
	} else {
		ks->stray_signo = sig;
		ks->stray_addr = (uint64_t)si->si_addr;
		ks->stray_rip = rip;
		child_exit(98);
	}
	ks->fault_signo = sig;
	ks->fault_code = si->si_code;
	ks->fault_addr = (uint64_t)si->si_addr;
}

/* The kernel's struct sigaction for rt_sigaction. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	const void *restorer;
	uint64_t mask;
};
#define KSA_RESTORER 0x04000000ul

static CHILD void install_handlers(struct orc_kshared *ks)
{
	struct ksigaction sa;
	stack_t ss;
	long rc;

	ss.ss_sp = ks->altstack;
	ss.ss_flags = 0;
	ss.ss_size = sizeof(ks->altstack);
	rc = sc(SYS_sigaltstack, (long)&ss, 0, 0, 0, 0, 0);
	if (rc)
		setup_failed(ks, ORC_STEP_ALTSTACK, rc);
	sa.handler = (void *)on_fault;
	sa.flags = SA_SIGINFO | SA_ONSTACK | KSA_RESTORER;
	sa.restorer = orc_restorer;
	sa.mask = 0;
	rc = sc(SYS_rt_sigaction, SIGSEGV, (long)&sa, 0, 8, 0, 0);
	if (!rc)
		rc = sc(SYS_rt_sigaction, SIGBUS, (long)&sa, 0, 8, 0, 0);
	if (rc)
		setup_failed(ks, ORC_STEP_SIGACTION, rc);
}

static CHILD size_t shared_size(const struct orc_kshared *ks)
{
	return offsetof(struct orc_kshared, slots) + (size_t)ks->nops * sizeof(struct orc_kslot);
}

/* Map every page this file's code lives on (read faults on the text). */
static CHILD void touch_text(void)
{
	uintptr_t p = (uintptr_t)__start_orc_child_text & ~(uintptr_t)4095;

	for (; p < (uintptr_t)__stop_orc_child_text; p += 4096)
		(void)*(const volatile char *)p;
}

/*
 * Map every page of the program's readable regions: code the compiler put
 * outside the section (none, but cheap to be sure) and constants it loads
 * from .rodata (struct initializers).
 */
static CHILD void touch_program(const struct orc_kshared *ks)
{
	for (uint32_t i = 0; i < ks->ntouch; i++)
		for (uint64_t p = ks->touch[i][0]; p < ks->touch[i][1]; p += 4096)
			(void)*(const volatile char *)p;
}

/* Write-fault every page of the stack the ops will run on. */
static CHILD void touch_stack(void)
{
	volatile char buf[ORC_STACK_TOUCH];

	for (size_t i = 0; i < sizeof(buf); i += 4096)
		buf[i] = 0;
	buf[sizeof(buf) - 1] = 0;
	g_ks->stack_lo = (uint64_t)(uintptr_t)&buf[0];
	g_ks->stack_hi = (uint64_t)(uintptr_t)&buf[sizeof(buf) - 1];
}

/*
 * After a fork, break the copy-on-write sharing of the stack pages touched
 * before the first op, and only those (going lower would grow [stack]): a
 * byte of each is read and written back, live frames included.
 */
static CHILD void retouch_stack(struct orc_kshared *ks)
{
	for (uint64_t p = ks->stack_lo; p <= ks->stack_hi; p += 4096) {
		volatile char *c = (volatile char *)(uintptr_t)p;

		*c = *c;
	}
}

static CHILD void touch_shared(struct orc_kshared *ks)
{
	volatile char *p = (volatile char *)ks;
	size_t len = shared_size(ks);

	for (size_t i = 0; i < len; i += 4096)
		p[i] = p[i];
	p[len - 1] = p[len - 1];
}

/*
 * A forked process maps the shared buffer afresh: read faults suffice (a
 * shared writable page is mapped writable), and reading cannot overwrite
 * what the other processes write meanwhile.
 */
static CHILD void touch_shared_read(struct orc_kshared *ks)
{
	const volatile char *p = (const volatile char *)ks;
	size_t len = shared_size(ks);

	for (size_t i = 0; i < len; i += 4096)
		(void)p[i];
	(void)p[len - 1];
}

/*
 * Isolation: unmap every region the parent listed (libraries, heap,
 * vdso/vvar, sanitizer shadow: nothing this file's code uses), move the
 * shared buffer to ORC_ISOLATE_ADDR and give the break back to start_brk.
 * What stays: the program's own regions (this code, its data), [stack] and
 * the buffer. Returns the buffer's new address.
 */
static CHILD struct orc_kshared *isolate(struct orc_kshared *ks)
{
	long rc;

	/* brk before munmap: brk cannot shrink a heap that is no longer there. */
	sc(SYS_brk, (long)ks->start_brk, 0, 0, 0, 0, 0);
	for (uint32_t i = 0; i < ks->nunmap; i++) {
		rc = sc(SYS_munmap, (long)ks->unmap[i][0], (long)(ks->unmap[i][1] - ks->unmap[i][0]), 0, 0, 0, 0);
		if (rc)
			setup_failed(ks, ORC_STEP_ISOLATE, rc);
	}
	rc = sc(SYS_mremap, (long)ks, (long)ks->size, (long)ks->size, MREMAP_MAYMOVE | MREMAP_FIXED,
		(long)ORC_ISOLATE_ADDR, 0);
	if (rc != (long)ORC_ISOLATE_ADDR)
		setup_failed(ks, ORC_STEP_ISOLATE, rc < 0 ? rc : -EFAULT);
	return (struct orc_kshared *)rc;
}

/*
 * Stay on one CPU: per-CPU batches (LRU additions, lazy-free marking) are
 * drained by the next operation on the same CPU, so what smaps shows
 * between ops depends on where each op ran. Best effort.
 */
static CHILD void pin_to_current_cpu(void)
{
	uint64_t mask[16];
	unsigned cpu = 0;

	if (sc(SYS_getcpu, (long)&cpu, 0, 0, 0, 0, 0) != 0 || cpu >= 64 * 16)
		return;
	for (int i = 0; i < 16; i++)
		mask[i] = 0;
	mask[cpu / 64] = 1ull << (cpu % 64);
	sc(SYS_sched_setaffinity, 0, sizeof(mask), (long)mask, 0, 0, 0);
}

/* Tell the parent, then wait for it to have looked. */
static CHILD void handshake(struct orc_kshared *ks, char c)
{
	char b = c;

	if (sc(SYS_write, ks->to_parent, (long)&b, 1, 0, 0, 0) != 1)
		child_exit(97);
	if (sc(SYS_read, ks->from_parent, (long)&b, 1, 0, 0, 0) != 1)
		child_exit(0); /* the parent is gone */
}

static CHILD void resolve(const struct orc_kshared *ks, const struct orc_op *op, uint32_t idx,
			  uint64_t a[6])
{
	for (int j = 0; j < 6; j++) {
		uint64_t v = op->a[j];

		if (ORC_IS_REF(v)) {
			uint32_t i = (uint32_t)((v >> ORC_REF_OFF_BITS) & 0xff);
			uint64_t off = v & ((1ull << ORC_REF_OFF_BITS) - 1);

			if (off & (1ull << (ORC_REF_OFF_BITS - 1)))
				off |= ~((1ull << ORC_REF_OFF_BITS) - 1);
			v = (i < idx ? (uint64_t)ks->slots[i].ret : 0) + off;
		}
		a[j] = v;
	}
}

static CHILD long do_read(struct orc_kslot *s, uint64_t addr, uint64_t len)
{
	uint64_t hash = ORC_FNV_OFFSET, k;
	long v = 0;

	for (k = 0; k < len; k++) {
		v = orc_ld8(addr + k);
		if (v < 0)
			break;
		if (k < ORC_BYTES_CAP)
			s->bytes[k] = (uint8_t)v;
		hash = (hash ^ (uint64_t)v) * ORC_FNV_PRIME;
	}
	s->nbytes = k;
	s->ncopied = (uint32_t)(k < ORC_BYTES_CAP ? k : ORC_BYTES_CAP);
	s->hash = hash;
	return v < 0 ? -EFAULT : 0;
}

static CHILD long do_write(uint64_t addr, uint64_t len, uint64_t val)
{
	for (uint64_t k = 0; k < len; k++)
		if (orc_st8(addr + k, val) < 0)
			return -EFAULT;
	return 0;
}

static CHILD long do_exec(struct orc_kshared *ks, uint64_t addr)
{
	long r;

	ks->exec_target = addr;
	ks->exec_active = 1;
	r = orc_exec(addr);
	ks->exec_active = 0;
	return r < 0 ? -EFAULT : 0;
}

/* The op itself, between the two getrusage calls. An if-chain: no jump table. */
static CHILD long do_op(struct orc_kshared *ks, struct orc_kslot *s, enum orc_kind k, const uint64_t *a)
{
	long x[2];

	if (k == ORC_OP_MMAP)
		return sc(SYS_mmap, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (k == ORC_OP_MUNMAP)
		return sc(SYS_munmap, a[0], a[1], 0, 0, 0, 0);
	if (k == ORC_OP_MPROTECT)
		return sc(SYS_mprotect, a[0], a[1], a[2], 0, 0, 0);
	if (k == ORC_OP_MREMAP)
		return sc(SYS_mremap, a[0], a[1], a[2], a[3], a[4], 0);
	if (k == ORC_OP_MADVISE)
		return sc(SYS_madvise, a[0], a[1], a[2], 0, 0, 0);
	if (k == ORC_OP_MLOCK)
		return sc(SYS_mlock, a[0], a[1], 0, 0, 0, 0);
	if (k == ORC_OP_MLOCK2)
		return sc(SYS_mlock2, a[0], a[1], a[2], 0, 0, 0);
	if (k == ORC_OP_MUNLOCK)
		return sc(SYS_munlock, a[0], a[1], 0, 0, 0, 0);
	if (k == ORC_OP_MLOCKALL)
		return sc(SYS_mlockall, a[0], 0, 0, 0, 0, 0);
	if (k == ORC_OP_MUNLOCKALL)
		return sc(SYS_munlockall, 0, 0, 0, 0, 0, 0);
	if (k == ORC_OP_MSYNC)
		return sc(SYS_msync, a[0], a[1], a[2], 0, 0, 0);
	if (k == ORC_OP_MINCORE)
		return sc(SYS_mincore, a[0], a[1], a[2], 0, 0, 0);
	if (k == ORC_OP_BRK)
		return sc(SYS_brk, a[0], 0, 0, 0, 0, 0);
	if (k == ORC_OP_READ)
		return do_read(s, a[0], a[1]);
	if (k == ORC_OP_WRITE)
		return do_write(a[0], a[1], a[2]);
	if (k == ORC_OP_EXEC)
		return do_exec(ks, a[0]);
	if (k == ORC_OP_SETRLIMIT) {
		x[0] = (long)a[1];
		x[1] = (long)a[2];
		return sc(SYS_prlimit64, 0, a[0], (long)x, 0, 0, 0);
	}
	if (k == ORC_OP_FTRUNCATE)
		return sc(SYS_ftruncate, a[0], a[1], 0, 0, 0, 0);
	if (k == ORC_OP_SWITCH || k == ORC_OP_EXIT) {
		/* To a live process (EXIT: another one); the loop does the rest. */
		if (a[0] >= ks->nprocs || (ks->exited >> a[0]) & 1 || (k == ORC_OP_EXIT && a[0] == ks->current))
			return -ESRCH;
		return 0;
	}
	return -ENOSYS;
}

static CHILD void run_op(struct orc_kshared *ks, uint32_t i)
{
	const struct orc_op *op = &ks->ops[i];
	struct orc_kslot *s = &ks->slots[i];
	struct rusage r0, r1;
	uint64_t a[6];
	long ret;

	ks->cur_op = i;
	resolve(ks, op, i, a);
	for (int j = 0; j < 6; j++)
		s->args[j] = a[j];
	ks->fault_signo = 0;
	ks->fault_code = 0;
	ks->fault_addr = 0;

	sc(SYS_getrusage, RUSAGE_SELF, (long)&r0, 0, 0, 0, 0);
	ret = do_op(ks, s, op->kind, a);
	sc(SYS_getrusage, RUSAGE_SELF, (long)&r1, 0, 0, 0, 0);

	s->ret = ret;
	s->minflt = r1.ru_minflt - r0.ru_minflt;
	s->signo = ks->fault_signo;
	s->code = ks->fault_code;
	s->fault_addr = ks->fault_addr;
	if (op->kind == ORC_OP_MINCORE && ret == 0) {
		uint64_t pages = (a[1] + 4095) >> 12;
		uint32_t n = (uint32_t)(pages < ORC_VEC_CAP ? pages : ORC_VEC_CAP);
		uint32_t k;

		for (k = 0; k < n; k++) {
			long v = orc_ld8(a[2] + k);

			if (v < 0)
				break;
			s->vec[k] = (uint8_t)v;
		}
		s->vec_len = k;
	}
}

/*
 * FORK: fork between the two getrusage calls; the result is the child's
 * index. Fork write-protects the private pages both processes share, so
 * each re-touches what it writes between ops, outside the measured
 * window; the new process also faults in the code and the shared buffer
 * (fork copies no page tables of regions without anonymous pages). Returns
 * 1 in the new process (*me set), 0 in the one that ran the op.
 */
static CHILD int run_fork(struct orc_kshared *ks, uint32_t i, uint32_t *me)
{
	struct orc_kslot *s = &ks->slots[i];
	uint32_t idx = ks->nprocs;
	struct rusage r0, r1;
	long pid;

	ks->cur_op = i;
	resolve(ks, &ks->ops[i], i, s->args);
	if (idx >= ORC_MAX_PROCS) {
		sc(SYS_getrusage, RUSAGE_SELF, (long)&r0, 0, 0, 0, 0);
		pid = -EAGAIN;
		r1 = r0;
	} else {
		/*
		 * getrusage, fork, getrusage with nothing written to memory in
		 * between: after fork every private page is write-protected, so
		 * any store (a call's return address) would count a fault. The
		 * kernel's own copy of r1 to the stack faults after counting.
		 */
		register long r_a __asm__("rax");

		__asm__ volatile("movl %[ru], %%eax\n\t"
				 "xorl %%edi, %%edi\n\t"
				 "movq %[p0], %%rsi\n\t"
				 "syscall\n\t"
				 "movl %[fk], %%eax\n\t"
				 "syscall\n\t"
				 "movq %%rax, %%rbx\n\t"
				 "movl %[ru], %%eax\n\t"
				 "xorl %%edi, %%edi\n\t"
				 "movq %[p1], %%rsi\n\t"
				 "syscall\n\t"
				 "movq %%rbx, %%rax"
				 : "=&a"(r_a)
				 : [ru] "i"(SYS_getrusage), [fk] "i"(SYS_fork), [p0] "r"(&r0), [p1] "r"(&r1)
				 : "rbx", "rcx", "rdx", "rdi", "rsi", "r8", "r9", "r10", "r11", "memory");
		pid = r_a;
	}
	if (pid == 0) {
		*me = idx;
		touch_text();
		touch_program(ks);
		retouch_stack(ks);
		touch_shared_read(ks);
		return 1;
	}
	if (pid > 0) {
		ks->pids[idx] = (int32_t)pid;
		ks->nprocs = idx + 1;
	}
	s->ret = pid > 0 ? (long)idx : pid;
	s->minflt = r1.ru_minflt - r0.ru_minflt;
	s->signo = 0;
	s->code = 0;
	s->fault_addr = 0;
	retouch_stack(ks);
	return 0;
}

/* Wait until the turn word moves from w (or a while); leave when the parent is gone. */
static CHILD void wait_turn(struct orc_kshared *ks, uint32_t w)
{
	struct timespec ts;

	/* Field by field: an initializer may be a constant loaded from .rodata. */
	ts.tv_sec = 0;
	*(volatile long *)&ts.tv_nsec = 200 * 1000 * 1000;

	sc(SYS_futex, (long)&ks->turn, FUTEX_WAIT, w, (long)&ts, 0, 0);
	if (sc(SYS_kill, ks->oracle_pid, 0, 0, 0, 0, 0) == -ESRCH)
		child_exit(0);
}

/* Every process's life from the first op: run the ops that are its turn. */
static CHILD __attribute__((noreturn)) void proc_loop(struct orc_kshared *ks, uint32_t me)
{
	for (;;) {
		uint32_t w = __atomic_load_n(&ks->turn, __ATOMIC_ACQUIRE), t = ORC_TURN_OP(w), next;
		enum orc_kind k;

		if (t >= ks->nops)
			child_exit(0);
		if (ORC_TURN_PROC(w) != me) {
			wait_turn(ks, w);
			continue;
		}
		k = ks->ops[t].kind;
		if (k == ORC_OP_FORK) {
			if (run_fork(ks, t, &me))
				continue;
		} else {
			run_op(ks, t);
			if (k == ORC_OP_SWITCH && ks->slots[t].ret == 0)
				ks->current = (uint32_t)ks->slots[t].args[0];
			if (k == ORC_OP_EXIT && ks->slots[t].ret == 0) {
				char b = ORC_MSG_DONE;

				/* The parent sees us gone, looks at the next one, moves the turn. */
				ks->exited |= 1u << me;
				ks->exiting = (int32_t)sc(SYS_getpid, 0, 0, 0, 0, 0, 0);
				ks->current = (uint32_t)ks->slots[t].args[0];
				sc(SYS_write, ks->to_parent, (long)&b, 1, 0, 0, 0);
				child_exit(0);
			}
		}
		next = ks->current;
		handshake(ks, ORC_MSG_DONE);
		__atomic_store_n(&ks->turn, ORC_TURN(t + 1, next), __ATOMIC_RELEASE);
		if (ks->nprocs > 1)
			sc(SYS_futex, (long)&ks->turn, FUTEX_WAKE, 0x7fffffff, 0, 0, 0);
	}
}

CHILD void orc_child_main(struct orc_kshared *ks)
{
	long rc;

	/*
	 * The kernel writes glibc's rseq area (in the TLS) on the way back to
	 * user mode after the task was scheduled out: after a FORK that is a
	 * copy-on-write fault counted in the op; in an isolated child the area
	 * is gone (and the task would be killed). Nothing here uses rseq.
	 */
	if (ks->rseq_addr &&
	    sc(SYS_rseq, (long)ks->rseq_addr, ks->rseq_len, 1 /* RSEQ_FLAG_UNREGISTER */, 0x53053053, 0, 0) &&
	    sc(SYS_rseq, (long)ks->rseq_addr, ks->rseq_alt_len, 1, 0x53053053, 0, 0))
		setup_failed(ks, ORC_STEP_RSEQ, -EINVAL);
	if (ks->isolate)
		ks = isolate(ks);
	g_ks = ks;
	rc = sc(SYS_prctl, PR_SET_THP_DISABLE, 1, 0, 0, 0, 0);
	if (rc)
		setup_failed(ks, ORC_STEP_PRCTL, rc);
	install_handlers(ks);
	if (ks->unprivileged) {
		rc = sc(SYS_setgroups, 0, 0, 0, 0, 0, 0);
		if (rc)
			setup_failed(ks, ORC_STEP_SETGROUPS, rc);
		rc = sc(SYS_setgid, 65534, 0, 0, 0, 0, 0);
		if (rc)
			setup_failed(ks, ORC_STEP_SETGID, rc);
		rc = sc(SYS_setuid, 65534, 0, 0, 0, 0, 0);
		if (rc)
			setup_failed(ks, ORC_STEP_SETUID, rc);
	}
	/* After the credential change, which clears it. */
	sc(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0);
	pin_to_current_cpu();
	for (int r = 0; r < 16; r++) {
		uint64_t lim[2];

		rc = sc(SYS_prlimit64, 0, r, 0, (long)lim, 0, 0);
		if (rc)
			setup_failed(ks, ORC_STEP_RLIMIT, rc);
		ks->rlim[r][0] = lim[0];
		ks->rlim[r][1] = lim[1];
	}
	ks->brk = (uint64_t)sc(SYS_brk, 0, 0, 0, 0, 0, 0);

	touch_text();
	touch_program(ks);
	touch_stack();
	touch_shared(ks);

	handshake(ks, ORC_MSG_READY);
	proc_loop(ks, 0);
}
