/*
 * The reproducer of a divergence: an `aspace run` script (docs/COMMAND.md,
 * "For aspace diff: reproducers") that starts where the kernel child
 * started — the machine of the host probes, its limits and capabilities,
 * its regions as stand-ins (`regions`), its layout (`setlayout`), the
 * temporary files with the contents they had — then makes the sequence's
 * calls with the kernel's results as expected outcomes, its minor-fault
 * counts as `expect min_flt`, and after the divergent step the kernel's
 * maps (`expect maps`), its RSS when smaps diverged, and the checkers
 * (`check`). On a faithful aspace the script passes; while the divergence
 * lasts it exits 1 at the divergent step.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fuzz.h"

#include "consts.h"
#include "script.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define ALL_CAPS ((1ull << 41) - 1)

/* A size with K/M/G when it is a whole number of them, else hex. */
static const char *num(uint64_t v, char *buf, size_t len)
{
	if (v < 10)
		snprintf(buf, len, "%" PRIu64, v);
	else if (v >= (uint64_t)-4096)
		snprintf(buf, len, "%" PRId64, (int64_t)v);
	else if (!(v & ((1ull << 30) - 1)) && v >> 30 < 4096)
		snprintf(buf, len, "%" PRIu64 "G", v >> 30);
	else if (!(v & ((1ull << 20) - 1)) && v >> 20 < 4096)
		snprintf(buf, len, "%" PRIu64 "M", v >> 20);
	else if (!(v & 1023) && v >> 10 < 65536)
		snprintf(buf, len, "%" PRIu64 "K", v >> 10);
	else
		snprintf(buf, len, "%#" PRIx64, v);
	return buf;
}

struct writer {
	const struct fz_env *env;
	const struct orc_op *ops;
	size_t n;
	const struct fz_run *r;
	FILE *out;
	bool *named;              /* op i's result is kept in $vI */
	int files_said;
};

/* The descriptors the fuzzer passes, as script names. */
static const char *fd_name(struct writer *w, uint64_t fd, char *buf, size_t len)
{
	const struct fz_env *e = w->env;

	for (int i = 0; i < FZ_NFILES; i++) {
		if ((int)fd == e->files[i].fd) {
			snprintf(buf, len, "$f%d", i);
			return buf;
		}
		if ((int)fd == e->files[i].fd_ro) {
			snprintf(buf, len, "$ro%d", i);
			return buf;
		}
	}
	if ((int)fd == e->fd_wo)
		return "$wo";
	if ((int)fd == e->fd_dir)
		return "$dir";
	snprintf(buf, len, "%" PRId64, (int64_t)(int)fd);
	return buf;
}

/* An argument: $vI+off for a reference, else a number. */
static const char *arg(uint64_t v, char *buf, size_t len)
{
	if (ORC_IS_REF(v)) {
		unsigned i = (unsigned)((v >> ORC_REF_OFF_BITS) & 0xff);
		uint64_t off = v & ((1ull << ORC_REF_OFF_BITS) - 1);
		char o[32];

		if (off & (1ull << (ORC_REF_OFF_BITS - 1))) {
			off = (~off + 1) & ((1ull << ORC_REF_OFF_BITS) - 1);
			snprintf(buf, len, "$v%u-%s", i, num(off, o, sizeof(o)));
		} else if (off) {
			snprintf(buf, len, "$v%u+%s", i, num(off, o, sizeof(o)));
		} else {
			snprintf(buf, len, "$v%u", i);
		}
		return buf;
	}
	if (v >= 0x10000 && v < (uint64_t)-4096)
		snprintf(buf, len, "%#" PRIx64, v);
	else
		num(v, buf, len);
	return buf;
}

static void put_string(FILE *out, const uint8_t *b, size_t n)
{
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		if (b[i] == 0 && (i + 1 == n || b[i + 1] < '0' || b[i + 1] > '7'))
			fputs("\\0", out);
		else if (b[i] == '"' || b[i] == '\\')
			fprintf(out, "\\%c", b[i]);
		else if (b[i] >= 0x20 && b[i] < 0x7f && !(b[i] == '#' && i == 0))
			fputc(b[i], out);
		else
			fprintf(out, "\\x%02x", b[i]);
	}
	fputc('"', out);
}

/* "=> RESULT" of a system call, as the kernel answered. */
static void put_ret(FILE *out, enum orc_kind k, int64_t ret)
{
	if (ret < 0 && ret >= -4095) {
		const char *e = errno_name((int)-ret);

		if (e)
			fprintf(out, " => %s", e);
		else
			fprintf(out, " => %" PRId64, ret);
	} else if (k == ORC_OP_MMAP || k == ORC_OP_MREMAP || k == ORC_OP_BRK) {
		fprintf(out, " => %#" PRIx64, (uint64_t)ret);
	} else {
		fprintf(out, " => %" PRId64, ret);
	}
}

static void put_fault(FILE *out, const struct orc_rec *k)
{
	const char *sig = signal_name(k->signo), *code = sicode_name(k->signo, k->code);

	fprintf(out, " => %s", sig ? sig : "SIGSEGV");
	if (code)
		fprintf(out, " %s", code);
	fprintf(out, " at %#" PRIx64, k->fault_addr);
}

static bool uniform(const uint8_t *b, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (b[i] != b[0])
			return false;
	return n > 0;
}

static uint64_t fill_hash(uint8_t b, uint64_t n)
{
	uint64_t h = ORC_FNV_OFFSET;

	for (uint64_t i = 0; i < n; i++)
		h = (h ^ b) * ORC_FNV_PRIME;
	return h;
}

/* The bytes a READ got, as an outcome; false when they can't all be said. */
static bool put_bytes(FILE *out, const struct orc_rec *k)
{
	if (k->nbytes && k->bytes && uniform(k->bytes, k->ncopied) && fill_hash(k->bytes[0], k->nbytes) == k->hash) {
		char b[32];

		fprintf(out, " => fill %#x %s", k->bytes[0], num(k->nbytes, b, sizeof(b)));
		return true;
	}
	if (k->nbytes && k->bytes && k->ncopied == k->nbytes) {
		fprintf(out, " => ");
		put_string(out, k->bytes, k->ncopied);
		return true;
	}
	return false;
}

/* The kernel's maps with new pseudo-filesystem inodes renamed to the ones aspace gives. */
struct inos {
	uint64_t k[64], a[64];
	size_t nk, na;
};

static bool in_before(const char *before, unsigned mj, unsigned mn, uint64_t ino)
{
	char key[64];

	snprintf(key, sizeof(key), " %02x:%02x %" PRIu64 " ", mj, mn, ino);
	return before && strstr(before, key);
}

static void collect_inos(const char *maps, const char *before, uint64_t *list, size_t *n)
{
	for (const char *p = maps; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		unsigned mj, mn;
		unsigned long long ino;
		size_t i;

		if (sscanf(p, "%*x-%*x %*s %*x %x:%x %llu", &mj, &mn, &ino) != 3 || mj != 0 || !ino ||
		    in_before(before, mj, mn, ino))
			continue;
		for (i = 0; i < *n && list[i] != ino; i++)
			;
		if (i == *n && *n < 64)
			list[(*n)++] = ino;
	}
}

static void put_maps(struct writer *w, size_t d)
{
	const struct orc_trace *k = &w->r->k, *a = &w->r->a;
	struct inos in = { 0 };
	const char *maps = k->rec[d].maps;

	for (size_t i = 0; i <= d; i++) {
		collect_inos(k->rec[i].maps, k->before.maps, in.k, &in.nk);
		if (a->rec && i < a->nops)
			collect_inos(a->rec[i].maps, a->before.maps, in.a, &in.na);
	}
	fprintf(w->out, "expect maps\n");
	for (const char *p = maps; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[4200], dev[16];
		unsigned long long ino;
		int at = 0;

		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		if (sscanf(line, "%*x-%*x %*s %*x %15s %llu%n", dev, &ino, &at) == 2 && !strncmp(dev, "00:", 3) && ino) {
			for (size_t i = 0; i < in.nk; i++)
				if (in.k[i] == ino && i < in.na) {
					char *ip = line + at;

					while (ip > line && ip[-1] != ' ')
						ip--;
					fprintf(w->out, "  %.*s%" PRIu64 "%s\n", (int)(ip - line), line, in.a[i], line + at);
					goto next;
				}
		}
		fprintf(w->out, "  %s\n", line);
next:
		p = nl ? nl + 1 : NULL;
	}
	fprintf(w->out, "end\n");
}

/* RSS of the regions the sequence made, from the kernel's smaps after op d. */
static void put_rss(struct writer *w, size_t d)
{
	const char *smaps = w->r->k.rec[d].smaps;
	uint64_t anon = 0, file = 0, shmem = 0, locked = 0;
	struct orc_entry *e = NULL;
	size_t ne = 0;

	if (orc_smaps_split(smaps, &e, &ne))
		return;
	for (size_t i = 0; i < ne; i++) {
		uint64_t rss = orc_entry_kb(&e[i], "Rss") / 4, an = orc_entry_kb(&e[i], "Anonymous") / 4;
		const char *vf = strstr(e[i].text, "VmFlags:");
		bool standin = false, shm;
		unsigned mj = 1;

		if (vf && vf < e[i].text + e[i].len) {
			const char *eol = memchr(vf, '\n', (size_t)(e[i].text + e[i].len - vf));
			char flags[256];

			snprintf(flags, sizeof(flags), "%.*s ", (int)(eol ? eol - vf : 0), vf);
			if (strstr(flags, " lo "))
				locked += (e[i].end - e[i].start) / FZ_PAGE;
		}
		for (size_t h = 0; h < w->env->nharness; h++)
			standin |= e[i].start < w->env->harness[h][1] && w->env->harness[h][0] < e[i].end;
		if (standin || e[i].end > w->env->task_size)
			continue;
		sscanf(e[i].text, "%*x-%*x %*s %*x %x", &mj);
		shm = mj == 0 && e[i].text[strcspn(e[i].text, " ") + 4] == 's';
		if (shm)
			shmem += rss;
		else
			file += rss - an;
		anon += an;
	}
	free(e);
	fprintf(w->out, "expect rss_anon == %" PRIu64 "\nexpect rss_file == %" PRIu64 "\nexpect rss_shmem == %" PRIu64
		"\nexpect locked_vm == %" PRIu64 "\n", anon, file, shmem, locked);
}

/*
 * No statement checks smaps: for every region whose entry differs, the
 * script shows aspace's entry (the `smaps ADDR` view) after the kernel's,
 * in comments, so that running it shows the difference.
 */
static void put_smaps_diff(struct writer *w, size_t d)
{
	const struct orc_rec *k = &w->r->k.rec[d], *a = w->r->a.rec && d < w->r->a.nops ? &w->r->a.rec[d] : NULL;
	struct orc_entry *ke = NULL, *ae = NULL;
	size_t nk = 0, na = 0;

	if (!a || orc_smaps_split(k->smaps, &ke, &nk) || orc_smaps_split(a->smaps, &ae, &na)) {
		free(ke);
		return;
	}
	for (size_t i = 0; i < nk; i++) {
		const struct orc_entry *x = NULL;
		bool standin = false;

		for (size_t h = 0; h < w->env->nharness; h++)
			standin |= ke[i].start < w->env->harness[h][1] && w->env->harness[h][0] < ke[i].end;
		if (standin || ke[i].end > w->env->task_size)
			continue;
		for (size_t j = 0; j < na && !x; j++)
			if (ae[j].start == ke[i].start && ae[j].end == ke[i].end)
				x = &ae[j];
		if (x && x->len == ke[i].len && !memcmp(x->text, ke[i].text, x->len))
			continue;
		fprintf(w->out, "# smaps differ (no statement checks them): the kernel's entry\n");
		for (const char *p = ke[i].text; p < ke[i].text + ke[i].len;) {
			const char *nl = memchr(p, '\n', (size_t)(ke[i].text + ke[i].len - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(ke[i].text + ke[i].len - p);

			fprintf(w->out, "#   %.*s\n", (int)len, p);
			p = nl ? nl + 1 : ke[i].text + ke[i].len;
		}
		fprintf(w->out, "smaps %#" PRIx64 "\n", ke[i].start);
	}
	free(ke);
	free(ae);
}

/* Limits a fresh space does not already have, as the script must set them. */
static void put_rlimits(struct writer *w)
{
	static const char *const names[16] = {
		"RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
		"RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
		"RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
	};
	struct as_machine *m = NULL;
	struct as_mm *mm = NULL;

	if (as_machine_new(NULL, &m) || as_mm_new(m, &mm)) {
		as_machine_free(m);
		m = NULL;
	}
	for (int r = 0; r < 16; r++) {
		uint64_t cur = 0, max = 0, kc = w->r->k.rlim[r][0], km = w->r->k.rlim[r][1];
		char b1[32], b2[32];

		if (mm && !as_mm_getrlimit(mm, r, &cur, &max) && cur == kc && max == km)
			continue;
		fprintf(w->out, "setrlimit %s %s %s\n", names[r], kc == RLIM_INFINITY ? "unlimited" : num(kc, b1, 32),
			km == RLIM_INFINITY ? "unlimited" : num(km, b2, 32));
	}
	as_mm_put(mm);
	as_machine_free(m);
}

static void put_regions(struct writer *w)
{
	struct orc_entry *e = NULL;
	size_t ne = 0;

	if (orc_smaps_split(w->r->k.before.smaps, &e, &ne))
		return;
	fprintf(w->out, "regions\n");
	for (size_t i = 0; i < ne; i++) {
		const char *p = e[i].text, *end = e[i].text + e[i].len;

		if (e[i].end > w->env->task_size)
			continue;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

			if (p == e[i].text || !strncmp(p, "Anonymous:", 10) || !strncmp(p, "VmFlags:", 8))
				fprintf(w->out, "  %.*s\n", (int)len, p);
			p = nl ? nl + 1 : end;
		}
	}
	fprintf(w->out, "end\n");
	free(e);
}

/* Does the sequence use descriptor fd (as mmap's or ftruncate's)? */
static bool uses_fd(const struct writer *w, int fd)
{
	for (size_t i = 0; i < w->n; i++)
		if ((w->ops[i].kind == ORC_OP_MMAP && !(w->ops[i].a[3] & MAP_ANONYMOUS) && (int)w->ops[i].a[4] == fd) ||
		    (w->ops[i].kind == ORC_OP_FTRUNCATE && (int)w->ops[i].a[0] == fd))
			return true;
	return false;
}

static void put_files(struct writer *w)
{
	const struct fz_env *e = w->env;

	for (int i = 0; i < FZ_NFILES; i++) {
		const struct fz_file *f = &e->files[i];

		if (!uses_fd(w, f->fd) && !uses_fd(w, f->fd_ro) && !(i == 1 && uses_fd(w, e->fd_wo)))
			continue;
		if (!w->files_said++)
			fprintf(w->out, "# the temporary files, as the sequence found them\n");

		fprintf(w->out, "$f%d = open %s O_RDWR|O_CREAT\nftruncate $f%d 0\nftruncate $f%d %" PRIu64 "\n", i,
			f->path, i, i, f->size);
		for (uint64_t off = 0; off < f->size; off += FZ_PAGE) {
			char text[64];
			size_t n = (size_t)snprintf(text + 1, sizeof(text) - 1, "f%d p%llu", i, (unsigned long long)(off / FZ_PAGE)) + 1;

			text[0] = (char)0xc3;
			if (off + n > f->size)
				n = (size_t)(f->size - off);
			fprintf(w->out, "pwrite $f%d %#" PRIx64 " ", i, off);
			put_string(w->out, (const uint8_t *)text, n);
			fputc('\n', w->out);
		}
		if (uses_fd(w, f->fd_ro))
			fprintf(w->out, "$ro%d = open %s O_RDONLY\n", i, f->path);
		if (i == 1 && uses_fd(w, e->fd_wo))
			fprintf(w->out, "$wo = open %s O_WRONLY\n", e->files[1].path);
	}
	if (uses_fd(w, e->fd_dir))
		fprintf(w->out, "$dir = open %s O_RDONLY\n", e->dir);
}

static const char *proc_name(uint64_t i, char *buf, size_t len)
{
	if (i == 0)
		return "main";
	snprintf(buf, len, "p%" PRIu64, i);
	return buf;
}

/* One step: the call, its outcome, and around it what checks the step. */
static void put_step(struct writer *w, size_t i, bool last)
{
	const struct orc_op *op = &w->ops[i];
	const struct orc_rec *k = &w->r->k.rec[i];
	FILE *out = w->out;
	char b[6][96], f1[160];
	const uint64_t *a = op->a;
	bool minflt = (k->minflt || last) && op->kind != ORC_OP_FORK && op->kind != ORC_OP_SWITCH &&
		      op->kind != ORC_OP_EXIT;

	if (minflt)
		fprintf(out, "$m%zu = min_flt\n", i);
	if (w->named[i])
		fprintf(out, "$v%zu = ", i);
	switch (op->kind) {
	case ORC_OP_MMAP:
		fprintf(out, "mmap %s %s %s %s %s %s", arg(a[0], b[0], 96), arg(a[1], b[1], 96),
			const_format(FAM_PROT, a[2], f1, sizeof(f1)), const_format(FAM_MAP, a[3], b[3], 96),
			(a[3] & MAP_ANONYMOUS) ? "-1" : fd_name(w, a[4], b[4], 96), arg(a[5], b[5], 96));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_MUNMAP:
	case ORC_OP_MLOCK:
	case ORC_OP_MUNLOCK:
		fprintf(out, "%s %s %s", orc_kind_name(op->kind), arg(a[0], b[0], 96), arg(a[1], b[1], 96));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_MPROTECT:
		fprintf(out, "mprotect %s %s %s", arg(a[0], b[0], 96), arg(a[1], b[1], 96),
			const_format(FAM_PROT, a[2], f1, sizeof(f1)));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_MREMAP:
		fprintf(out, "mremap %s %s %s %s %s", arg(a[0], b[0], 96), arg(a[1], b[1], 96), arg(a[2], b[2], 96),
			const_format(FAM_MREMAP, a[3], f1, sizeof(f1)), arg(a[4], b[4], 96));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_MADVISE:
		fprintf(out, "madvise %s %s %s", arg(a[0], b[0], 96), arg(a[1], b[1], 96),
			const_format(FAM_MADV, a[2], f1, sizeof(f1)));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_MLOCK2:
		fprintf(out, "mlock2 %s %s %s", arg(a[0], b[0], 96), arg(a[1], b[1], 96),
			const_format(FAM_MLOCK, a[2], f1, sizeof(f1)));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_MLOCKALL:
		fprintf(out, "mlockall %s", const_format(FAM_MCL, a[0], f1, sizeof(f1)));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_MUNLOCKALL:
		fprintf(out, "munlockall");
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_MSYNC:
		fprintf(out, "msync %s %s %s", arg(a[0], b[0], 96), arg(a[1], b[1], 96),
			const_format(FAM_MS, a[2], f1, sizeof(f1)));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_MINCORE:
		fprintf(out, "mincore %s %s %s", arg(a[0], b[0], 96), arg(a[1], b[1], 96), arg(a[2], b[2], 96));
		if (k->ret == 0 && k->vec) {
			fprintf(out, " => vec ");
			for (uint32_t j = 0; j < k->vec_len; j++)
				fputc(k->vec[j] & 1 ? '1' : '0', out);
		} else if (k->ret) {
			put_ret(out, op->kind, k->ret);
		}
		break;
	case ORC_OP_BRK:
		fprintf(out, "brk %s", arg(a[0], b[0], 96));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_READ:
		fprintf(out, "read %s %s", arg(a[0], b[0], 96), arg(a[1], b[1], 96));
		if (k->signo) {
			put_fault(out, k);
		} else if (!put_bytes(out, k)) {
			fprintf(out, " => ok");
		}
		fputc('\n', out);
		/* What a faulting or long read got before the end. */
		if ((k->signo && k->nbytes) || (!k->signo && k->nbytes > k->ncopied && k->ncopied)) {
			struct orc_rec part = *k;

			if (part.nbytes > part.ncopied)
				part.nbytes = part.ncopied;
			fprintf(out, "read %s %s", arg(a[0], b[0], 96), num(part.nbytes, b[1], 96));
			part.hash = ORC_FNV_OFFSET;
			for (uint32_t j = 0; j < part.ncopied; j++)
				part.hash = (part.hash ^ part.bytes[j]) * ORC_FNV_PRIME;
			if (!put_bytes(out, &part))
				fprintf(out, " => ok");
		} else {
			goto checks;
		}
		break;
	case ORC_OP_WRITE:
		fprintf(out, "write %s fill %#x %s", arg(a[0], b[0], 96), (unsigned)(a[2] & 0xff), arg(a[1], b[1], 96));
		if (k->signo)
			put_fault(out, k);
		else
			fprintf(out, " => ok");
		break;
	case ORC_OP_EXEC:
		fprintf(out, "fetch %s 1", arg(a[0], b[0], 96));
		if (k->signo)
			put_fault(out, k);
		else
			fprintf(out, " => \"\\xc3\"");
		break;
	case ORC_OP_SETRLIMIT:
		fprintf(out, "setrlimit %s %s %s", const_format(FAM_RLIMIT, a[0], f1, sizeof(f1)),
			a[1] == RLIM_INFINITY ? "unlimited" : num(a[1], b[1], 96),
			a[2] == RLIM_INFINITY ? "unlimited" : num(a[2], b[2], 96));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_FTRUNCATE:
		fprintf(out, "ftruncate %s %s", fd_name(w, a[0], b[0], 96), arg(a[1], b[1], 96));
		put_ret(out, op->kind, k->ret);
		break;
	case ORC_OP_FORK:
		if (k->ret > 0)
			fprintf(out, "fork %s", proc_name((uint64_t)k->ret, b[0], 96));
		else
			fprintf(out, "# fork failed on the kernel: %" PRId64, k->ret);
		break;
	case ORC_OP_SWITCH:
		if (k->ret == 0)
			fprintf(out, "switch %s", proc_name(a[0], b[0], 96));
		else
			fprintf(out, "# switch to process %" PRIu64 ": none (ESRCH)", a[0]);
		break;
	case ORC_OP_EXIT:
		if (k->ret == 0)
			fprintf(out, "exit\nswitch %s", proc_name(a[0], b[0], 96));
		else
			fprintf(out, "# exit to process %" PRIu64 ": none (ESRCH)", a[0]);
		break;
	default:
		fprintf(out, "# %s: not expressible", orc_kind_name(op->kind));
		break;
	}
	fputc('\n', out);
checks:
	if (minflt)
		fprintf(out, "expect min_flt == $m%zu+%" PRId64 "\n", i, k->minflt);
}

void fz_repro_write(const struct fz_env *env, const struct orc_op *ops, size_t n, const struct fz_run *r,
		    const char *title, FILE *out)
{
	struct writer w = { .env = env, .ops = ops, .n = n, .r = r, .out = out };
	const struct orc_probe *p = &env->probe;
	size_t d = r->res.first_diverged >= 0 && (size_t)r->res.first_diverged < n ? (size_t)r->res.first_diverged
										       : n - 1;
	bool mcl_current = false;

	if (d >= r->k.nops)
		d = r->k.nops ? r->k.nops - 1 : 0;
	w.named = calloc(n ? n : 1, sizeof(bool));
	if (!w.named)
		return;
	for (size_t i = 0; i < n; i++) {
		for (int j = 0; j < 6; j++)
			if (ORC_IS_REF(ops[i].a[j]))
				w.named[(ops[i].a[j] >> ORC_REF_OFF_BITS) & 0xff] = true;
		mcl_current |= ops[i].kind == ORC_OP_MLOCKALL && (ops[i].a[0] & MCL_CURRENT);
	}
	for (const char *t = title; t && *t;) {
		const char *nl = strchr(t, '\n');

		fprintf(out, "# %.*s\n", (int)(nl ? nl - t : (long)strlen(t)), t);
		t = nl ? nl + 1 : NULL;
	}
	fprintf(out, "machine ram=%" PRIu64 "M zero_page=%d thp_align_anon=%d max_map_count=%" PRIu64
		" mmap_min_addr=%" PRIu64 " overcommit=%d overcommit_ratio=%d legacy_va_layout=%d stack_guard_gap=%" PRIu64,
		env->opts.ram_bytes >> 20, p->zero_page, p->thp_align_anon, p->max_map_count, p->mmap_min_addr,
		p->overcommit_memory, p->overcommit_ratio, p->legacy_va_layout, p->stack_guard_gap);
	{
		/* hugetlbfs settings, when the host's differ from the defaults (as orc_machine_config sets them). */
		struct as_machine_config c;

		orc_machine_config(p, env->opts.ram_bytes, &c);
		if (c.nr_hugepages_2m)
			fprintf(out, " nr_hugepages_2m=%" PRIu64, c.nr_hugepages_2m);
		if (c.hugepages_1g)
			fprintf(out, " hugepages_1g=1 nr_hugepages_1g=%" PRIu64, c.nr_hugepages_1g);
		if (c.hugetlb_dev_minor != 0x11)
			fprintf(out, " hugetlb_dev_minor=%#x", c.hugetlb_dev_minor);
	}
	fputc('\n', out);
	fprintf(out, "# the kernel child's starting point: %s, its limits, regions and layout\n",
		env->opts.unprivileged ? "uid 65534 without capabilities" : "root with its capabilities");
	if (!env->opts.unprivileged)
		fprintf(out, "setcaps %#llx\n", (unsigned long long)(r->k.caps ? r->k.caps : ALL_CAPS));
	else
		fprintf(out, "setids 65534 65534\n");
	put_rlimits(&w);
	fprintf(out, "# PR_SET_THP_DISABLE, as the kernel child runs\nsyscall SYS_prctl 41 1 => 0\n");
	put_regions(&w);
	fprintf(out,
		"setlayout start_code=%#" PRIx64 " end_code=%#" PRIx64 " start_data=%#" PRIx64 " end_data=%#" PRIx64
		" start_brk=%#" PRIx64 " brk=%#" PRIx64 " start_stack=%#" PRIx64 " arg_start=%#" PRIx64
		" arg_end=%#" PRIx64 " env_start=%#" PRIx64 " env_end=%#" PRIx64 "\n",
		r->k.start_code, r->k.end_code, r->k.start_data, r->k.end_data, r->k.start_brk, r->k.brk,
		r->k.start_stack, r->k.arg_start, r->k.arg_end, r->k.env_start, r->k.env_end);
	put_files(&w);
	fprintf(out, "# the sequence: each step with the kernel's result\n");
	for (size_t i = 0; i <= d && i < n; i++) {
		if (i == d)
			fprintf(out, "# the divergent step:\n");
		put_step(&w, i, i == d);
	}
	if (d < r->k.nops && r->k.rec[d].maps) {
		fprintf(out, "# the kernel's maps after it\n");
		put_maps(&w, d);
	}
	if ((r->res.fields & ORC_F_SMAPS) && !mcl_current && d < r->k.nops)
		put_rss(&w, d);
	if ((r->res.fields & ORC_F_SMAPS) && d < r->k.nops)
		put_smaps_diff(&w, d);
	fprintf(out, "check\n");
	free(w.named);
}

/* ---- The same sequence as a side-by-side test (tests/diff) ---- */

static const char *c_arg(uint64_t v, char *buf, size_t len)
{
	if (ORC_IS_REF(v)) {
		unsigned i = (unsigned)((v >> ORC_REF_OFF_BITS) & 0xff);
		uint64_t off = v & ((1ull << ORC_REF_OFF_BITS) - 1);

		if (off & (1ull << (ORC_REF_OFF_BITS - 1)))
			snprintf(buf, len, "ORC_REF(%u, -%#" PRIx64 ")", i, (uint64_t)((~off + 1) & ((1ull << ORC_REF_OFF_BITS) - 1)));
		else
			snprintf(buf, len, "ORC_REF(%u, %#" PRIx64 ")", i, off);
	} else if (v >= (uint64_t)-4096) {
		snprintf(buf, len, "(uint64_t)%" PRId64, (int64_t)v);
	} else if (v < 10) {
		snprintf(buf, len, "%" PRIu64, v);
	} else {
		snprintf(buf, len, "%#" PRIx64 "ull", v);
	}
	return buf;
}

/* A descriptor as the regression tests name theirs (tests/diff/regress.h). */
static const char *c_fd(const struct fz_env *e, uint64_t fd, char *buf, size_t len)
{
	for (int i = 0; i < FZ_NFILES; i++) {
		if ((int)fd == e->files[i].fd) {
			snprintf(buf, len, "RG_FD(%d)", i);
			return buf;
		}
		if ((int)fd == e->files[i].fd_ro) {
			snprintf(buf, len, "RG_FD_RO(%d)", i);
			return buf;
		}
	}
	if ((int)fd == e->fd_wo)
		return "RG_FD_WO";
	if ((int)fd == e->fd_dir)
		return "RG_FD_DIR";
	snprintf(buf, len, "%d", (int)fd);
	return buf;
}

void fz_repro_c(const struct fz_env *env, const struct orc_op *ops, size_t n, FILE *out)
{
	char b[6][96], f[160];

	fprintf(out, "\tstatic const struct orc_op seq[] = {\n");
	for (size_t i = 0; i < n; i++) {
		const uint64_t *a = ops[i].a;

		fprintf(out, "\t\t");
		switch (ops[i].kind) {
		case ORC_OP_MMAP:
			fprintf(out, "ORC_MMAP_FD(%s, %s, %s, %s, %s, %s),", c_arg(a[0], b[0], 96), c_arg(a[1], b[1], 96),
				const_format(FAM_PROT, a[2], f, sizeof(f)), const_format(FAM_MAP, a[3], b[3], 96),
				(a[3] & MAP_ANONYMOUS) ? "-1" : c_fd(env, a[4], b[4], 96), c_arg(a[5], b[5], 96));
			break;
		case ORC_OP_MPROTECT:
			fprintf(out, "ORC_MPROTECT(%s, %s, %s),", c_arg(a[0], b[0], 96), c_arg(a[1], b[1], 96),
				const_format(FAM_PROT, a[2], f, sizeof(f)));
			break;
		case ORC_OP_MREMAP:
			fprintf(out, "ORC_MREMAP(%s, %s, %s, %s, %s),", c_arg(a[0], b[0], 96), c_arg(a[1], b[1], 96),
				c_arg(a[2], b[2], 96), const_format(FAM_MREMAP, a[3], f, sizeof(f)), c_arg(a[4], b[4], 96));
			break;
		case ORC_OP_MADVISE:
			fprintf(out, "ORC_MADVISE(%s, %s, %s),", c_arg(a[0], b[0], 96), c_arg(a[1], b[1], 96),
				const_format(FAM_MADV, a[2], f, sizeof(f)));
			break;
		case ORC_OP_MLOCK2:
			fprintf(out, "ORC_MLOCK2(%s, %s, %s),", c_arg(a[0], b[0], 96), c_arg(a[1], b[1], 96),
				const_format(FAM_MLOCK, a[2], f, sizeof(f)));
			break;
		case ORC_OP_MLOCKALL:
			fprintf(out, "ORC_MLOCKALL(%s),", const_format(FAM_MCL, a[0], f, sizeof(f)));
			break;
		case ORC_OP_MSYNC:
			fprintf(out, "ORC_MSYNC(%s, %s, %s),", c_arg(a[0], b[0], 96), c_arg(a[1], b[1], 96),
				const_format(FAM_MS, a[2], f, sizeof(f)));
			break;
		case ORC_OP_SETRLIMIT:
			fprintf(out, "ORC_SETRLIMIT(%s, %s, %s),", const_format(FAM_RLIMIT, a[0], f, sizeof(f)),
				c_arg(a[1], b[1], 96), c_arg(a[2], b[2], 96));
			break;
		case ORC_OP_FTRUNCATE:
			fprintf(out, "ORC_FTRUNCATE(%s, %s),", c_fd(env, a[0], b[0], 96), c_arg(a[1], b[1], 96));
			break;
		case ORC_OP_FORK:
			fprintf(out, "ORC_FORK(),");
			break;
		case ORC_OP_MUNLOCKALL:
			fprintf(out, "ORC_MUNLOCKALL(),");
			break;
		default: {
			static const char *const mac[ORC_OP_NR] = {
				[ORC_OP_MUNMAP] = "ORC_MUNMAP", [ORC_OP_MLOCK] = "ORC_MLOCK", [ORC_OP_MUNLOCK] = "ORC_MUNLOCK",
				[ORC_OP_MINCORE] = "ORC_MINCORE", [ORC_OP_BRK] = "ORC_BRK", [ORC_OP_READ] = "ORC_READ",
				[ORC_OP_WRITE] = "ORC_WRITE", [ORC_OP_EXEC] = "ORC_EXEC", [ORC_OP_SWITCH] = "ORC_SWITCH",
				[ORC_OP_EXIT] = "ORC_EXIT",
			};
			int nargs = ops[i].kind == ORC_OP_BRK || ops[i].kind == ORC_OP_EXEC || ops[i].kind == ORC_OP_SWITCH ||
					    ops[i].kind == ORC_OP_EXIT ? 1
				    : ops[i].kind == ORC_OP_MINCORE || ops[i].kind == ORC_OP_WRITE ? 3 : 2;

			fprintf(out, "%s(", mac[ops[i].kind] ? mac[ops[i].kind] : "ORC_OP_NONE");
			for (int j = 0; j < nargs; j++)
				fprintf(out, "%s%s", j ? ", " : "", c_arg(a[j], b[j], 96));
			fprintf(out, "),");
			break;
		}
		}
		fprintf(out, "\n");
	}
	fprintf(out, "\t};\n");
}

/* ---- Running a reproducer ---- */

/* In a child process: a panic of the library there ends the child, not the campaign. */
int fz_repro_check(const char *text, size_t len, int *line)
{
	struct runner_opts ro = { .out = NULL, .echo = false, .stop_step = -1, .stop_line = -1 };
	char path[] = "/tmp/aspace-diff-check-XXXXXX";
	int status = 2, err_fd, ws;
	char buf[8192];
	ssize_t got;
	pid_t pid;

	*line = 0;
	err_fd = mkstemp(path);
	if (err_fd < 0)
		return 2;
	unlink(path);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(err_fd);
		return 2;
	}
	if (pid == 0) {
		struct script *s;
		int st = 2;

		dup2(err_fd, 2);
		s = script_parse("repro", text, len, stderr);
		if (s) {
			struct runner *r = runner_new(s, &ro);

			if (r) {
				st = runner_run(r);
				if (runner_free(r) && !st)
					st = 1;
			}
		}
		fflush(stderr);
		_exit(st);
	}
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	got = pread(err_fd, buf, sizeof(buf) - 1, 0);
	close(err_fd);
	if (got > 0) {
		char *p;

		buf[got] = '\0';
		p = strstr(buf, "repro:");
		if (p)
			*line = atoi(p + 6);
	}
	return status;
}
