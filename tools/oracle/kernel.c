/*
 * The kernel side, parent half: fork a child that runs the sequence
 * (kernel_child.c), and after every op, while the child waits on a socket,
 * read its /proc/PID/maps and /proc/PID/smaps. Reading from the parent
 * keeps the child free of buffers that would fault or grow its RSS.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/futex.h>
#include <time.h>
#include <unistd.h>

#define ORC_REEXEC_ENV "ASPACE_ORACLE_REEXEC"

static bool layout_fixed;

bool orc_layout_fixed(void)
{
	int p = personality(0xffffffff);

	return layout_fixed || (p != -1 && (p & ADDR_NO_RANDOMIZE));
}

void orc_init(int argc, char **argv)
{
	int p = personality(0xffffffff);

	(void)argc;
	if (p != -1 && (p & ADDR_NO_RANDOMIZE)) {
		layout_fixed = true;
		unsetenv(ORC_REEXEC_ENV);
		return;
	}
	if (p == -1 || getenv(ORC_REEXEC_ENV)) {
		fprintf(stderr, "orc: cannot turn address randomization off; side-by-side runs will fail\n");
		return;
	}
	if (personality((unsigned long)p | ADDR_NO_RANDOMIZE) == -1) {
		fprintf(stderr, "orc: personality(ADDR_NO_RANDOMIZE): %s\n", strerror(errno));
		return;
	}
	setenv(ORC_REEXEC_ENV, "1", 1);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "orc: re-exec of /proc/self/exe failed: %s\n", strerror(errno));
	unsetenv(ORC_REEXEC_ENV);
}

/* ---- helpers shared with the aspace side ---- */

void orc_resolve_args(const struct orc_op *op, const int64_t *results, size_t nresults, uint64_t out[6])
{
	for (int j = 0; j < 6; j++) {
		uint64_t v = op->a[j];

		if (ORC_IS_REF(v)) {
			size_t i = (size_t)((v >> ORC_REF_OFF_BITS) & 0xff);
			uint64_t off = v & ((1ull << ORC_REF_OFF_BITS) - 1);

			if (off & (1ull << (ORC_REF_OFF_BITS - 1)))
				off |= ~((1ull << ORC_REF_OFF_BITS) - 1);
			v = (i < nresults ? (uint64_t)results[i] : 0) + off;
		}
		out[j] = v;
	}
}

int orc_validate(const struct orc_op *ops, size_t n, char *msg, size_t len)
{
	if (n > ORC_MAX_OPS) {
		snprintf(msg, len, "sequence of %zu ops; at most %d", n, ORC_MAX_OPS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (ops[i].kind <= ORC_OP_NONE || ops[i].kind >= ORC_OP_NR) {
			snprintf(msg, len, "op %zu: unknown kind %d", i, (int)ops[i].kind);
			return -1;
		}
		for (int j = 0; j < 6; j++) {
			uint64_t v = ops[i].a[j];

			if (ORC_IS_REF(v) && ((v >> ORC_REF_OFF_BITS) & 0xff) >= i) {
				snprintf(msg, len, "op %zu: argument %d refers to op %u, not an earlier one", i, j,
					 (unsigned)((v >> ORC_REF_OFF_BITS) & 0xff));
				return -1;
			}
		}
	}
	return 0;
}

/* ---- reading the child's /proc files ---- */

/*
 * The whole of a /proc file (malloc'd to its exact size, NUL terminated),
 * or NULL. Read through a scratch buffer kept per thread, so that a run
 * allocates only what it keeps: under ASan freed buffers stay resident in
 * the quarantine, and every later kernel child inherits them and makes
 * each smaps read walk them.
 */
static char *slurp(pid_t pid, const char *what)
{
	static __thread char *scratch;
	static __thread size_t cap;
	char path[64], *out = NULL;
	size_t len = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r;

		if (cap - len < 4096) {
			size_t nc = cap ? cap * 2 : 256 * 1024;
			char *nb = realloc(scratch, nc);

			if (!nb)
				goto out;
			scratch = nb;
			cap = nc;
		}
		r = read(fd, scratch + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	out = malloc(len + 1);
	if (out) {
		memcpy(out, scratch, len);
		out[len] = '\0';
	}
out:
	close(fd);
	return out;
}

/* /proc/PID/stat fields, 1-based as proc(5) numbers them. */
static int read_stat(pid_t pid, struct orc_trace *t)
{
	char *s = slurp(pid, "stat"), *p;
	uint64_t f[53] = { 0 };
	int field = 3;

	if (!s)
		return -1;
	p = strrchr(s, ')');
	if (!p) {
		free(s);
		return -1;
	}
	p += 2; /* ") " */
	p = strchr(p, ' '); /* skip field 3, the state */
	while (p && *p == ' ' && field < 52) {
		field++;
		f[field] = strtoull(p + 1, &p, 10);
	}
	free(s);
	t->start_code = f[26];
	t->end_code = f[27];
	t->start_stack = f[28];
	t->start_data = f[45];
	t->end_data = f[46];
	t->start_brk = f[47];
	t->arg_start = f[48];
	t->arg_end = f[49];
	t->env_start = f[50];
	t->env_end = f[51];
	return field >= 51 ? 0 : -1;
}

/* CapEff of /proc/PID/status: what the child may really do (root may lack capabilities). */
static void read_caps(pid_t pid, struct orc_trace *t)
{
	char *s = slurp(pid, "status"), *p;

	p = s ? strstr(s, "\nCapEff:") : NULL;
	if (p)
		t->caps = strtoull(p + 8, NULL, 16);
	free(s);
}

static int snapshot(pid_t pid, struct orc_rec *r)
{
	r->maps = slurp(pid, "maps");
	r->smaps = slurp(pid, "smaps");
	return r->maps && r->smaps ? 0 : -1;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for one message from the child: 1 with *c set, 0 at EOF, -1 on timeout. */
static int wait_msg(int fd, long deadline, char *c)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t r;
		int pr;

		if (left <= 0)
			return -1;
		pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		r = read(fd, c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		return r == 1 ? 1 : 0;
	}
}

static const char *const step_names[] = {
	[ORC_STEP_NONE] = "?",
	[ORC_STEP_PRCTL] = "prctl(PR_SET_THP_DISABLE)",
	[ORC_STEP_ALTSTACK] = "sigaltstack",
	[ORC_STEP_SIGACTION] = "rt_sigaction",
	[ORC_STEP_SETGROUPS] = "setgroups",
	[ORC_STEP_SETGID] = "setgid(65534)",
	[ORC_STEP_SETUID] = "setuid(65534)",
	[ORC_STEP_RLIMIT] = "prlimit64",
	[ORC_STEP_ISOLATE] = "isolation (munmap/mremap)",
	[ORC_STEP_RSEQ] = "rseq unregistration",
};

/* Explain how the child ended. */
static void describe_exit(struct orc_trace *t, const struct orc_kshared *ks, int status, size_t done)
{
	char where[64];

	if (done == 0 && ks->setup_step == 0)
		snprintf(where, sizeof(where), "during setup");
	else
		snprintf(where, sizeof(where), "at op %u", ks->cur_op);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 96) {
		uint32_t s = ks->setup_step < sizeof(step_names) / sizeof(step_names[0]) ? ks->setup_step : 0;

		snprintf(t->error, sizeof(t->error), "kernel child setup failed: %s: %s", step_names[s],
			 strerror((int)-ks->setup_err));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 98) {
		snprintf(t->error, sizeof(t->error),
			 "kernel child took signal %d at %#" PRIx64 " (rip %#" PRIx64 ") outside an access %s: "
			 "did the sequence unmap or protect the harness's own memory?",
			 ks->stray_signo, ks->stray_addr, ks->stray_rip, where);
	} else if (WIFSIGNALED(status)) {
		snprintf(t->error, sizeof(t->error), "kernel child killed by signal %d %s (%s)",
			 WTERMSIG(status), where, strsignal(WTERMSIG(status)));
	} else if (WIFEXITED(status)) {
		snprintf(t->error, sizeof(t->error), "kernel child exited with status %d %s",
			 WEXITSTATUS(status), where);
	}
}

static void copy_slot(struct orc_rec *r, const struct orc_kslot *s)
{
	r->ret = s->ret;
	r->signo = s->signo;
	r->code = s->code;
	r->fault_addr = s->fault_addr;
	r->minflt = s->minflt;
	memcpy(r->args, s->args, sizeof(r->args));
	r->nbytes = s->nbytes;
	r->hash = s->hash;
	r->ncopied = s->ncopied;
	r->vec_len = s->vec_len;
	if (s->ncopied) {
		r->bytes = malloc(s->ncopied);
		if (r->bytes)
			memcpy(r->bytes, s->bytes, s->ncopied);
	}
	if (s->vec_len) {
		r->vec = malloc(s->vec_len);
		if (r->vec)
			memcpy(r->vec, s->vec, s->vec_len);
	}
}

int orc_run_kernel(const struct orc_op *ops, size_t n, const struct orc_opts *o, struct orc_trace *t)
{
	struct orc_opts defaults;
	struct orc_kshared *ks;
	size_t size, done = 0;
	int sv[2] = { -1, -1 }; /* [0] the parent's end, [1] the child's */
	int status = 0, rc = -1;
	bool reaped = false;
	long deadline;
	pid_t pid;
	char c;

	memset(t, 0, sizeof(*t));
	if (!o) {
		orc_opts_init(&defaults);
		o = &defaults;
	}
	if (orc_validate(ops, n, t->error, sizeof(t->error)))
		return -1;
	t->rec = calloc(n ? n : 1, sizeof(*t->rec));
	if (!t->rec) {
		snprintf(t->error, sizeof(t->error), "out of memory");
		return -1;
	}
	t->nalloc = n;
	size = offsetof(struct orc_kshared, slots) + n * sizeof(struct orc_kslot);
	size = (size + 4095) & ~(size_t)4095;
	ks = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ks == MAP_FAILED) {
		snprintf(t->error, sizeof(t->error), "mmap of the shared buffer: %s", strerror(errno));
		return -1;
	}
	ks->nops = (uint32_t)n;
	ks->unprivileged = o->unprivileged;
	ks->nprocs = 1;
	ks->oracle_pid = (int32_t)getpid();
	ks->size = size;
	if (n)
		memcpy(ks->ops, ops, n * sizeof(*ops));
	t->unprivileged = o->unprivileged;
	/* A socket pair rather than pipes: writing to a dead child must not raise SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		snprintf(t->error, sizeof(t->error), "socketpair: %s", strerror(errno));
		goto out_fds;
	}
	ks->to_parent = sv[1];
	ks->from_parent = sv[1];
	fflush(NULL);
	/* Last, right before fork: the list of what the child unmaps is this process's layout now. */
	ks->isolate = o->isolate;
	if (orc_isolate_prepare(ks, t->error, sizeof(t->error)))
		goto out_fds;
	pid = fork();
	if (pid < 0) {
		snprintf(t->error, sizeof(t->error), "fork: %s", strerror(errno));
		goto out_fds;
	}
	if (pid == 0)
		orc_child_main(ks);
	ks->pids[0] = pid;
	close(sv[1]);
	sv[1] = -1;

	deadline = now_ms() + (o->timeout_ms ? o->timeout_ms : 10000);
	for (;;) {
		/* In slices: a sequence's first process dying unexpectedly ends it. */
		long slice = now_ms() + 200 < deadline ? now_ms() + 200 : deadline;
		int w = wait_msg(sv[0], slice, &c);
		struct orc_rec *r;
		pid_t snap;

		if (w < 0 && now_ms() < deadline) {
			if (ks->nprocs > 1 && done <= n && !(ks->exited & 1) && waitpid(pid, &status, WNOHANG) == pid) {
				reaped = true;
				describe_exit(t, ks, status, done);
				break;
			}
			continue;
		}
		if (w < 0) {
			kill(pid, SIGKILL);
			snprintf(t->error, sizeof(t->error), "kernel child timed out %s %zu",
				 done ? "after op" : "before op", done ? done - 1 : 0);
			break;
		}
		if (w == 0) {
			waitpid(pid, &status, 0);
			reaped = true;
			if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0 && done == n + 1))
				describe_exit(t, ks, status, done);
			break;
		}
		r = done == 0 ? &t->before : &t->rec[done - 1];
		if ((c == ORC_MSG_READY) != (done == 0) || done > n) {
			kill(pid, SIGKILL);
			snprintf(t->error, sizeof(t->error), "kernel child protocol error (%c after %zu messages)", c, done);
			break;
		}
		/* EXIT: wait until the process is gone, then look at the one now current. */
		if (ks->exiting) {
			int pfd = (int)syscall(SYS_pidfd_open, ks->exiting, 0);

			if (pfd >= 0) {
				struct pollfd pf = { .fd = pfd, .events = POLLIN };

				while (poll(&pf, 1, 10000) < 0 && errno == EINTR)
					;
				close(pfd);
			}
		}
		snap = done == 0 ? pid : ks->pids[ks->current < ORC_MAX_PROCS ? ks->current : 0];
		if (done == 0)
			read_caps(pid, t);
		if (snapshot(snap, r) || (done == 0 && read_stat(pid, t))) {
			kill(pid, SIGKILL);
			snprintf(t->error, sizeof(t->error), "reading /proc/%d: %s", (int)snap, strerror(errno));
			break;
		}
		if (done > 0)
			copy_slot(r, &ks->slots[done - 1]);
		r->proc = done == 0 ? 0 : ks->current;
		done++;
		if (ks->exiting) {
			/* Nobody waits for "go": move the turn for the waiting processes. */
			ks->exiting = 0;
			__atomic_store_n(&ks->turn, ORC_TURN(done - 1, ks->current), __ATOMIC_RELEASE);
			syscall(SYS_futex, &ks->turn, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
			continue;
		}
		if (send(sv[0], "G", 1, MSG_NOSIGNAL) != 1) {
			kill(pid, SIGKILL);
			snprintf(t->error, sizeof(t->error), "send to the child: %s", strerror(errno));
			break;
		}
	}
	/* Forked processes are not our children: make sure none is left. */
	for (uint32_t i = 1; i < ks->nprocs && i < ORC_MAX_PROCS; i++)
		if (ks->pids[i] > 0)
			kill(ks->pids[i], SIGKILL);
	if (!reaped) {
		if (t->error[0])
			kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	t->nops = done ? done - 1 : 0;
	if (done > 0) {
		t->brk = ks->brk;
		memcpy(t->rlim, ks->rlim, sizeof(t->rlim));
	}
	rc = t->error[0] ? -1 : 0;

out_fds:
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	munmap(ks, size);
	return rc;
}

void orc_rec_free(struct orc_rec *r)
{
	free(r->maps);
	free(r->smaps);
	free(r->vec);
	free(r->bytes);
	free(r->note);
}

void orc_trace_free(struct orc_trace *t)
{
	if (!t)
		return;
	orc_rec_free(&t->before);
	if (t->rec) {
		/* rec has room for every op asked, whether or not it ran. */
		for (size_t i = 0; i < t->nalloc; i++)
			orc_rec_free(&t->rec[i]);
	}
	free(t->rec);
	memset(t, 0, sizeof(*t));
}
