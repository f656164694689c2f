/*
 * Comparing two traces op by op, describing divergences, formatting ops,
 * and orc_check, which runs the whole thing.
 *
 * What is compared after every op: the return value; the fault an access
 * took (signal, si_code, address); the minor-fault delta; the maps text
 * byte for byte; the smaps entries of regions the sequence changed (an
 * entry identical to one in the before snapshot is an untouched stand-in
 * and skipped; an entry overlapping a stand-in that held pages is compared
 * without its page counts, which aspace cannot know); the mincore vector;
 * the bytes a READ transferred; and aspace's invariant checker.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- smaps text ---- */

static bool is_header(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')))
		q++;
	return q > p && q < end && *q == '-';
}

int orc_smaps_split(const char *smaps, struct orc_entry **out, size_t *n)
{
	const char *p = smaps, *end = smaps ? smaps + strlen(smaps) : NULL;
	struct orc_entry *ents = NULL;
	size_t cnt = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!smaps)
		return 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *next = nl ? nl + 1 : end;

		if (is_header(p, end)) {
			if (cnt == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct orc_entry *ne = realloc(ents, nc * sizeof(*ne));

				if (!ne) {
					free(ents);
					return -1;
				}
				ents = ne;
				cap = nc;
			}
			ents[cnt].start = strtoull(p, NULL, 16);
			ents[cnt].end = strtoull(strchr(p, '-') + 1, NULL, 16);
			ents[cnt].text = p;
			ents[cnt].len = (size_t)(next - p);
			cnt++;
		} else if (cnt) {
			ents[cnt - 1].len = (size_t)(next - ents[cnt - 1].text);
		}
		p = next;
	}
	*out = ents;
	*n = cnt;
	return 0;
}

/* The line of entry e whose field name is `name`, or NULL. */
static const char *entry_field(const struct orc_entry *e, const char *name)
{
	size_t nl = strlen(name);
	const char *p = e->text, *end = e->text + e->len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if ((size_t)(end - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == ':')
			return p;
		p = eol ? eol + 1 : end;
	}
	return NULL;
}

uint64_t orc_entry_kb(const struct orc_entry *e, const char *name)
{
	const char *l = entry_field(e, name);

	return l ? strtoull(l + strlen(name) + 1, NULL, 10) : 0;
}

static const char *const page_fields[] = {
	"Rss", "Pss", "Pss_Dirty", "Pss_Anon", "Pss_File", "Pss_Shmem", "Shared_Clean", "Shared_Dirty",
	"Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
	"ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss",
	"Locked",
};

bool orc_field_counts_pages(const char *line, size_t len)
{
	for (size_t i = 0; i < sizeof(page_fields) / sizeof(page_fields[0]); i++) {
		size_t n = strlen(page_fields[i]);

		if (len > n && memcmp(line, page_fields[i], n) == 0 && line[n] == ':')
			return true;
	}
	return false;
}

bool orc_entry_has_pages(const struct orc_entry *e)
{
	for (size_t i = 0; i < sizeof(page_fields) / sizeof(page_fields[0]); i++)
		if (orc_entry_kb(e, page_fields[i]))
			return true;
	return false;
}

/* VmFlags mnemonics by bit number (Linux's show_smap_vma_flags for x86-64). */
static const char *const vmflag_names[64] = {
	[0] = "rd",  [1] = "wr",  [2] = "ex",  [3] = "sh",  [4] = "mr",  [5] = "mw",
	[6] = "me",  [7] = "ms",  [8] = "gd",  [9] = "um",  [10] = "pf", [12] = "uw",
	[13] = "lo", [14] = "io", [15] = "sr", [16] = "rr", [17] = "dc", [18] = "de",
	[19] = "lf", [20] = "ac", [21] = "nr", [22] = "ht", [23] = "sf", [24] = "ar",
	[25] = "wf", [26] = "dd", [27] = "sd", [28] = "mm", [29] = "hg", [30] = "nh",
	[31] = "mg",
};

uint64_t orc_vmflags_parse(const char *line, size_t len, char *unknown, size_t unknown_len)
{
	const char *p = line, *end = memchr(line, '\n', len);
	uint64_t flags = 0;

	if (!end)
		end = line + len;
	if ((size_t)(end - p) >= 8 && memcmp(p, "VmFlags:", 8) == 0)
		p += 8;
	while (p < end) {
		const char *q;
		int bit;

		while (p < end && *p == ' ')
			p++;
		q = p;
		while (q < end && *q != ' ')
			q++;
		if (q == p)
			break;
		for (bit = 0; bit < 64; bit++)
			if (vmflag_names[bit] && strlen(vmflag_names[bit]) == (size_t)(q - p) &&
			    memcmp(vmflag_names[bit], p, (size_t)(q - p)) == 0)
				break;
		if (bit < 64) {
			flags |= 1ull << bit;
		} else if (unknown) {
			size_t u = strlen(unknown);

			snprintf(unknown + u, unknown_len - u, "%s%.*s", u ? " " : "", (int)(q - p), p);
		}
		p = q;
	}
	return flags;
}

/* ---- formatting ---- */

static const char *const kind_names[ORC_OP_NR] = {
	[ORC_OP_NONE] = "none",         [ORC_OP_MMAP] = "mmap",         [ORC_OP_MUNMAP] = "munmap",
	[ORC_OP_MPROTECT] = "mprotect", [ORC_OP_MREMAP] = "mremap",     [ORC_OP_MADVISE] = "madvise",
	[ORC_OP_MLOCK] = "mlock",       [ORC_OP_MLOCK2] = "mlock2",     [ORC_OP_MUNLOCK] = "munlock",
	[ORC_OP_MLOCKALL] = "mlockall", [ORC_OP_MUNLOCKALL] = "munlockall", [ORC_OP_MSYNC] = "msync",
	[ORC_OP_MINCORE] = "mincore",   [ORC_OP_BRK] = "brk",           [ORC_OP_READ] = "READ",
	[ORC_OP_WRITE] = "WRITE",       [ORC_OP_EXEC] = "EXEC",         [ORC_OP_SETRLIMIT] = "setrlimit",
	[ORC_OP_FORK] = "fork",         [ORC_OP_SWITCH] = "switch",     [ORC_OP_EXIT] = "exit",
	[ORC_OP_FTRUNCATE] = "ftruncate",
};

const char *orc_kind_name(enum orc_kind k)
{
	return k < ORC_OP_NR && kind_names[k] ? kind_names[k] : "?";
}

struct flag_name {
	uint64_t v;
	const char *name;
};

static const struct flag_name prot_names[] = {
	{ PROT_READ, "PROT_READ" }, { PROT_WRITE, "PROT_WRITE" }, { PROT_EXEC, "PROT_EXEC" },
	{ 0x01000000, "PROT_GROWSDOWN" }, { 0x02000000, "PROT_GROWSUP" }, { 0, NULL },
};

static const struct flag_name map_names[] = {
	{ 0x10, "MAP_FIXED" }, { 0x20, "MAP_ANONYMOUS" }, { 0x40, "MAP_32BIT" }, { 0x80, "MAP_ABOVE4G" },
	{ 0x100, "MAP_GROWSDOWN" }, { 0x800, "MAP_DENYWRITE" }, { 0x1000, "MAP_EXECUTABLE" },
	{ 0x2000, "MAP_LOCKED" }, { 0x4000, "MAP_NORESERVE" }, { 0x8000, "MAP_POPULATE" },
	{ 0x10000, "MAP_NONBLOCK" }, { 0x20000, "MAP_STACK" }, { 0x40000, "MAP_HUGETLB" },
	{ 0x80000, "MAP_SYNC" }, { 0x100000, "MAP_FIXED_NOREPLACE" }, { 0x4000000, "MAP_UNINITIALIZED" },
	{ 0, NULL },
};

static const struct flag_name mremap_names[] = {
	{ 1, "MREMAP_MAYMOVE" }, { 2, "MREMAP_FIXED" }, { 4, "MREMAP_DONTUNMAP" }, { 0, NULL },
};
static const struct flag_name mlockall_names[] = {
	{ 1, "MCL_CURRENT" }, { 2, "MCL_FUTURE" }, { 4, "MCL_ONFAULT" }, { 0, NULL },
};
static const struct flag_name msync_names[] = {
	{ 1, "MS_ASYNC" }, { 2, "MS_INVALIDATE" }, { 4, "MS_SYNC" }, { 0, NULL },
};
static const struct flag_name mlock2_names[] = { { 1, "MLOCK_ONFAULT" }, { 0, NULL } };

static const char *const advice_names[] = {
	[0] = "MADV_NORMAL",     [1] = "MADV_RANDOM",     [2] = "MADV_SEQUENTIAL", [3] = "MADV_WILLNEED",
	[4] = "MADV_DONTNEED",   [8] = "MADV_FREE",       [9] = "MADV_REMOVE",     [10] = "MADV_DONTFORK",
	[11] = "MADV_DOFORK",    [12] = "MADV_MERGEABLE", [13] = "MADV_UNMERGEABLE", [14] = "MADV_HUGEPAGE",
	[15] = "MADV_NOHUGEPAGE", [16] = "MADV_DONTDUMP", [17] = "MADV_DODUMP",    [18] = "MADV_WIPEONFORK",
	[19] = "MADV_KEEPONFORK", [20] = "MADV_COLD",     [21] = "MADV_PAGEOUT",   [22] = "MADV_POPULATE_READ",
	[23] = "MADV_POPULATE_WRITE", [24] = "MADV_DONTNEED_LOCKED", [25] = "MADV_COLLAPSE",
	[100] = "MADV_HWPOISON", [101] = "MADV_SOFT_OFFLINE", [102] = "MADV_GUARD_INSTALL",
	[103] = "MADV_GUARD_REMOVE",
};

static const char *const rlimit_names[16] = {
	"RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
	"RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
	"RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
};

/* A small appending printer. */
struct sbuf {
	char *buf;
	size_t len, used;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->used >= s->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->buf + s->used, s->len - s->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->used += (size_t)n;
}

static void sb_num(struct sbuf *s, uint64_t v)
{
	if (ORC_IS_REF(v)) {
		uint64_t off = v & ((1ull << ORC_REF_OFF_BITS) - 1);
		unsigned i = (unsigned)((v >> ORC_REF_OFF_BITS) & 0xff);

		if (off & (1ull << (ORC_REF_OFF_BITS - 1))) {
			off = (~off + 1) & ((1ull << ORC_REF_OFF_BITS) - 1);
			sb_printf(s, "$%u-%#" PRIx64, i, off);
		} else if (off) {
			sb_printf(s, "$%u+%#" PRIx64, i, off);
		} else {
			sb_printf(s, "$%u", i);
		}
	} else if (v < 10) {
		sb_printf(s, "%" PRIu64, v);
	} else if (v >= (uint64_t)-4096) {
		sb_printf(s, "%" PRId64, (int64_t)v);
	} else {
		sb_printf(s, "%#" PRIx64, v);
	}
}

static void sb_flags(struct sbuf *s, uint64_t v, const struct flag_name *names, const char *zero)
{
	bool any = false;

	if (ORC_IS_REF(v)) {
		sb_num(s, v);
		return;
	}
	for (const struct flag_name *f = names; f->name; f++) {
		if ((v & f->v) == f->v) {
			sb_printf(s, "%s%s", any ? "|" : "", f->name);
			v &= ~f->v;
			any = true;
		}
	}
	if (v || !any) {
		if (any)
			sb_printf(s, "|");
		if (v || !zero)
			sb_printf(s, "%#" PRIx64, v);
		else
			sb_printf(s, "%s", zero);
	}
}

static void sb_mmap_flags(struct sbuf *s, uint64_t v)
{
	static const char *const types[16] = { [1] = "MAP_SHARED", [2] = "MAP_PRIVATE",
					       [3] = "MAP_SHARED_VALIDATE" };
	uint64_t t = v & 0xf;

	if (ORC_IS_REF(v)) {
		sb_num(s, v);
		return;
	}
	if (types[t])
		sb_printf(s, "%s", types[t]);
	else
		sb_printf(s, "%#" PRIx64, t);
	if (v & ~0xfull) {
		sb_printf(s, "|");
		sb_flags(s, v & ~0xfull, map_names, NULL);
	}
}

void orc_op_format(const struct orc_op *op, char *buf, size_t len)
{
	struct sbuf s = { .buf = buf, .len = len };
	const uint64_t *a = op->a;

	buf[0] = '\0';
	sb_printf(&s, "%s(", orc_kind_name(op->kind));
	switch (op->kind) {
	case ORC_OP_MMAP:
		sb_num(&s, a[0]);
		sb_printf(&s, ", ");
		sb_num(&s, a[1]);
		sb_printf(&s, ", ");
		sb_flags(&s, a[2], prot_names, "PROT_NONE");
		sb_printf(&s, ", ");
		sb_mmap_flags(&s, a[3]);
		sb_printf(&s, ", %d, ", (int)a[4]);
		sb_num(&s, a[5]);
		break;
	case ORC_OP_MPROTECT:
		sb_num(&s, a[0]);
		sb_printf(&s, ", ");
		sb_num(&s, a[1]);
		sb_printf(&s, ", ");
		sb_flags(&s, a[2], prot_names, "PROT_NONE");
		break;
	case ORC_OP_MREMAP:
		sb_num(&s, a[0]);
		sb_printf(&s, ", ");
		sb_num(&s, a[1]);
		sb_printf(&s, ", ");
		sb_num(&s, a[2]);
		sb_printf(&s, ", ");
		sb_flags(&s, a[3], mremap_names, "0");
		if (a[3] & 2) {
			sb_printf(&s, ", ");
			sb_num(&s, a[4]);
		}
		break;
	case ORC_OP_MADVISE:
		sb_num(&s, a[0]);
		sb_printf(&s, ", ");
		sb_num(&s, a[1]);
		sb_printf(&s, ", ");
		if (a[2] < sizeof(advice_names) / sizeof(advice_names[0]) && advice_names[a[2]])
			sb_printf(&s, "%s", advice_names[a[2]]);
		else
			sb_num(&s, a[2]);
		break;
	case ORC_OP_MLOCK2:
	case ORC_OP_MSYNC:
		sb_num(&s, a[0]);
		sb_printf(&s, ", ");
		sb_num(&s, a[1]);
		sb_printf(&s, ", ");
		sb_flags(&s, a[2], op->kind == ORC_OP_MSYNC ? msync_names : mlock2_names, "0");
		break;
	case ORC_OP_MLOCKALL:
		sb_flags(&s, a[0], mlockall_names, "0");
		break;
	case ORC_OP_MUNLOCKALL:
	case ORC_OP_FORK:
		break;
	case ORC_OP_BRK:
	case ORC_OP_EXEC:
	case ORC_OP_SWITCH:
	case ORC_OP_EXIT:
		sb_num(&s, a[0]);
		break;
	case ORC_OP_MINCORE:
	case ORC_OP_WRITE:
		sb_num(&s, a[0]);
		sb_printf(&s, ", ");
		sb_num(&s, a[1]);
		sb_printf(&s, ", ");
		sb_num(&s, a[2]);
		break;
	case ORC_OP_SETRLIMIT:
		if (a[0] < 16)
			sb_printf(&s, "%s", rlimit_names[a[0]]);
		else
			sb_num(&s, a[0]);
		sb_printf(&s, ", ");
		sb_num(&s, a[1]);
		sb_printf(&s, ", ");
		sb_num(&s, a[2]);
		break;
	default: /* munmap, mlock, munlock, READ */
		sb_num(&s, a[0]);
		sb_printf(&s, ", ");
		sb_num(&s, a[1]);
		break;
	}
	sb_printf(&s, ")");
}

/* A return value in words: -ENAME, an address, or a number. */
static const char *fmt_ret(enum orc_kind k, int64_t v, char *buf, size_t len)
{
	if (v < 0 && v >= -4095) {
		const char *name = strerrorname_np((int)-v);

		if (name)
			snprintf(buf, len, "-%s", name);
		else
			snprintf(buf, len, "%" PRId64, v);
	} else if (k == ORC_OP_MMAP || k == ORC_OP_MREMAP || k == ORC_OP_BRK) {
		snprintf(buf, len, "%#" PRIx64, (uint64_t)v);
	} else {
		snprintf(buf, len, "%" PRId64, v);
	}
	return buf;
}

static const char *fmt_fault(const struct orc_rec *r, char *buf, size_t len)
{
	const char *sig = r->signo == SIGSEGV ? "SIGSEGV" : r->signo == SIGBUS ? "SIGBUS" : NULL;
	const char *code = NULL;

	if (!r->signo) {
		snprintf(buf, len, "no fault");
		return buf;
	}
	if (r->signo == SIGSEGV)
		code = r->code == SEGV_MAPERR ? "SEGV_MAPERR" : r->code == SEGV_ACCERR ? "SEGV_ACCERR"
			: r->code == 4 ? "SEGV_PKUERR" : NULL;
	else if (r->signo == SIGBUS)
		code = r->code == BUS_ADRALN ? "BUS_ADRALN" : r->code == BUS_ADRERR ? "BUS_ADRERR"
			: r->code == BUS_OBJERR ? "BUS_OBJERR" : NULL;
	if (sig && code)
		snprintf(buf, len, "%s/%s at %#" PRIx64, sig, code, r->fault_addr);
	else
		snprintf(buf, len, "signal %d code %d at %#" PRIx64, r->signo, r->code, r->fault_addr);
	return buf;
}

/* ---- line diff ---- */

struct lines {
	const char **p;
	size_t *len;
	size_t n;
};

static int lines_split(const char *text, size_t textlen, struct lines *l, bool skip_pages)
{
	const char *p = text, *end = text + textlen;
	size_t cap = 0;

	memset(l, 0, sizeof(*l));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (!(skip_pages && orc_field_counts_pages(p, len))) {
			if (l->n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				const char **np = realloc(l->p, nc * sizeof(*np));
				size_t *nlen;

				if (!np)
					return -1;
				l->p = np;
				nlen = realloc(l->len, nc * sizeof(*nlen));
				if (!nlen)
					return -1;
				l->len = nlen;
				cap = nc;
			}
			l->p[l->n] = p;
			l->len[l->n] = len;
			l->n++;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

static void lines_free(struct lines *l)
{
	free(l->p);
	free(l->len);
}

static bool line_eq(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
	return a->len[i] == b->len[j] && memcmp(a->p[i], b->p[j], a->len[i]) == 0;
}

static bool lines_equal(const struct lines *a, const struct lines *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!line_eq(a, i, b, i))
			return false;
	return true;
}

#define DIFF_MAX_CELLS (4u << 20)
#define DIFF_MAX_PRINTED 60

/*
 * Print a unified-diff-like view of a (kernel, '-') against b (aspace, '+'),
 * with one line of context; common prefix and suffix trimmed, LCS between.
 */
static void print_diff(FILE *out, const struct lines *a, const struct lines *b, const char *indent)
{
	size_t pre = 0, suf = 0, n, m, printed = 0;
	uint32_t *dp = NULL;
	char *ops;
	size_t nops = 0;

	while (pre < a->n && pre < b->n && line_eq(a, pre, b, pre))
		pre++;
	while (suf < a->n - pre && suf < b->n - pre && line_eq(a, a->n - 1 - suf, b, b->n - 1 - suf))
		suf++;
	n = a->n - pre - suf;
	m = b->n - pre - suf;
	ops = malloc(n + m + 2);
	if (!ops)
		return;
	if ((n + 1) * (m + 1) <= DIFF_MAX_CELLS)
		dp = calloc((n + 1) * (m + 1), sizeof(*dp));
	if (dp) {
		/* dp[i][j]: LCS of a[pre+i..] and b[pre+j..]. */
		for (size_t i = n; i-- > 0;)
			for (size_t j = m; j-- > 0;)
				dp[i * (m + 1) + j] = line_eq(a, pre + i, b, pre + j)
					? dp[(i + 1) * (m + 1) + j + 1] + 1
					: (dp[(i + 1) * (m + 1) + j] > dp[i * (m + 1) + j + 1]
						   ? dp[(i + 1) * (m + 1) + j] : dp[i * (m + 1) + j + 1]);
		for (size_t i = 0, j = 0; i < n || j < m;) {
			if (i < n && j < m && line_eq(a, pre + i, b, pre + j)) {
				ops[nops++] = ' ';
				i++;
				j++;
			} else if (i < n && (j == m || dp[(i + 1) * (m + 1) + j] >= dp[i * (m + 1) + j + 1])) {
				ops[nops++] = '-';
				i++;
			} else {
				ops[nops++] = '+';
				j++;
			}
		}
		free(dp);
	} else {
		for (size_t i = 0; i < n; i++)
			ops[nops++] = '-';
		for (size_t j = 0; j < m; j++)
			ops[nops++] = '+';
	}

	/* Print changes with one line of context. */
	if (pre > 0)
		fprintf(out, "%s %.*s\n", indent, (int)a->len[pre - 1], a->p[pre - 1]);
	for (size_t k = 0, i = pre, j = pre; k < nops; k++) {
		bool near = ops[k] != ' ' || (k > 0 && ops[k - 1] != ' ') || (k + 1 < nops && ops[k + 1] != ' ');

		if (printed >= DIFF_MAX_PRINTED) {
			fprintf(out, "%s ... (diff cut)\n", indent);
			break;
		}
		if (ops[k] == '-') {
			fprintf(out, "%s-%.*s\n", indent, (int)a->len[i], a->p[i]);
			i++;
			printed++;
		} else if (ops[k] == '+') {
			fprintf(out, "%s+%.*s\n", indent, (int)b->len[j], b->p[j]);
			j++;
			printed++;
		} else {
			if (near)
				fprintf(out, "%s %.*s\n", indent, (int)a->len[i], a->p[i]);
			else if (k > 0 && ops[k - 1] != ' ')
				fprintf(out, "%s ...\n", indent);
			i++;
			j++;
		}
	}
	if (suf > 0 && printed < DIFF_MAX_PRINTED)
		fprintf(out, "%s %.*s\n", indent, (int)a->len[a->n - suf], a->p[a->n - suf]);
	free(ops);
}

/* Compare two texts line by line; on difference print the diff (when out). */
static bool text_differs(FILE *out, const char *a, size_t alen, const char *b, size_t blen,
			 bool skip_pages, const char *indent)
{
	struct lines la, lb;
	bool differ;

	if (!skip_pages && alen == blen && memcmp(a, b, alen) == 0)
		return false;
	if (lines_split(a, alen, &la, skip_pages) || lines_split(b, blen, &lb, skip_pages)) {
		lines_free(&la);
		lines_free(&lb);
		if (out)
			fprintf(out, "%s(out of memory for the diff)\n", indent);
		return true;
	}
	differ = !lines_equal(&la, &lb);
	if (differ && out)
		print_diff(out, &la, &lb, indent);
	lines_free(&la);
	lines_free(&lb);
	return differ;
}

/* ---- inodes the sequence created ---- */

/*
 * Shared anonymous memory, memfds and other objects on pseudo filesystems
 * (device major 0) get inode numbers from a global counter in the kernel
 * and from aspace's own counter: they can't match by value. An inode on
 * such a device that no region had before the sequence is therefore
 * printed as "@n", n numbering such inodes in order of first appearance on
 * each side, so that the comparison still sees which regions share an
 * object. The name column is then separated by one space.
 */
struct inomap {
	struct { unsigned major, minor; uint64_t ino; } *keys;
	size_t n, cap;
	size_t nbefore;          /* the first nbefore keys are the before snapshot's */
};

static long inomap_find(const struct inomap *m, unsigned major, unsigned minor, uint64_t ino)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->keys[i].major == major && m->keys[i].minor == minor && m->keys[i].ino == ino)
			return (long)i;
	return -1;
}

static long inomap_add(struct inomap *m, unsigned major, unsigned minor, uint64_t ino)
{
	long i = inomap_find(m, major, minor, ino);

	if (i >= 0)
		return i;
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 32;
		void *nk = realloc(m->keys, nc * sizeof(*m->keys));

		if (!nk)
			return -1;
		m->keys = nk;
		m->cap = nc;
	}
	m->keys[m->n].major = major;
	m->keys[m->n].minor = minor;
	m->keys[m->n].ino = ino;
	return (long)m->n++;
}

/* Parse a maps header line; the offsets of the inode and of the name. */
static bool parse_header(const char *p, const char *eol, unsigned *major, unsigned *minor, uint64_t *ino,
			 size_t *ino_at, size_t *ino_len, size_t *name_at)
{
	const char *q = p;
	int field = 0;

	if (!is_header(p, eol))
		return false;
	while (q < eol && field < 4) { /* range, perms, offset, device */
		while (q < eol && *q != ' ')
			q++;
		while (q < eol && *q == ' ')
			q++;
		field++;
		if (field == 3 && sscanf(q, "%x:%x", major, minor) != 2)
			return false;
	}
	if (q >= eol)
		return false;
	*ino_at = (size_t)(q - p);
	*ino = strtoull(q, NULL, 10);
	while (q < eol && *q != ' ')
		q++;
	*ino_len = (size_t)(q - p) - *ino_at;
	while (q < eol && *q == ' ')
		q++;
	*name_at = (size_t)(q - p);
	return true;
}

/* Record the before snapshot's device/inode pairs: they compare by value. */
static void inomap_seed(struct inomap *m, const char *maps)
{
	const char *p = maps, *end = maps ? maps + strlen(maps) : NULL;

	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		unsigned major, minor;
		uint64_t ino;
		size_t a, l, n;

		if (!eol)
			eol = end;
		if (parse_header(p, eol, &major, &minor, &ino, &a, &l, &n))
			inomap_add(m, major, minor, ino);
		p = eol + 1;
	}
	m->nbefore = m->n;
}

/* text with new pseudo-filesystem inodes renamed (malloc'd), or NULL. */
static char *normalize_inodes(const char *text, struct inomap *m)
{
	size_t len = text ? strlen(text) : 0;
	char *out = malloc(len + 64 * (len / 40 + 1) + 1), *o = out;
	const char *p = text, *end = text + len;

	if (!out || !text) {
		free(out);
		return NULL;
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		unsigned major = 0, minor = 0;
		uint64_t ino = 0;
		size_t ino_at, ino_len, name_at;
		long idx;

		if (!eol)
			eol = end;
		if (parse_header(p, eol, &major, &minor, &ino, &ino_at, &ino_len, &name_at) && major == 0 &&
		    ino != 0 && ((idx = inomap_find(m, major, minor, ino)) < 0 || (size_t)idx >= m->nbefore) &&
		    (idx = inomap_add(m, major, minor, ino)) >= 0) {
			o += sprintf(o, "%.*s@%zu", (int)ino_at, p, (size_t)idx - m->nbefore + 1);
			if (name_at < (size_t)(eol - p))
				o += sprintf(o, " %.*s", (int)(eol - p - (long)name_at), p + name_at);
		} else {
			memcpy(o, p, (size_t)(eol - p));
			o += eol - p;
		}
		if (eol < end)
			*o++ = '\n';
		p = eol + 1;
	}
	*o = '\0';
	return out;
}

/* ---- comparing ---- */

struct cmp {
	const struct orc_trace *k, *a;
	struct orc_entry *before;   /* the kernel before snapshot's entries */
	size_t nbefore;
	char **kmaps, **ksmaps, **amaps, **asmaps; /* per op, inodes normalized */
	bool kowned, aowned;        /* ... copies, or the records' own texts */
};

/* Would normalize_inodes rename anything in text? */
static bool has_new_inodes(const char *text, const struct inomap *m)
{
	const char *p = text, *end = text ? text + strlen(text) : NULL;

	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		unsigned major, minor;
		uint64_t ino;
		size_t a, l, nm;
		long idx;

		if (!eol)
			eol = end;
		if (parse_header(p, eol, &major, &minor, &ino, &a, &l, &nm) && major == 0 && ino != 0 &&
		    ((idx = inomap_find(m, major, minor, ino)) < 0 || (size_t)idx >= m->nbefore))
			return true;
		p = eol + 1;
	}
	return false;
}

/*
 * Every record's maps and smaps of one side, in op order, with new
 * pseudo-filesystem inodes renamed. When the sequence made none, the
 * arrays borrow the records' own texts (*owned false).
 */
static int normalize_trace(const struct orc_trace *t, size_t n, char ***maps, char ***smaps, bool *owned)
{
	struct inomap m = { 0 };
	bool any = false;

	*owned = false;
	*maps = calloc(n ? n : 1, sizeof(**maps));
	*smaps = calloc(n ? n : 1, sizeof(**smaps));
	if (!*maps || !*smaps)
		return -1;
	inomap_seed(&m, t->before.maps);
	for (size_t i = 0; i < n && !any; i++)
		any = has_new_inodes(t->rec[i].maps, &m);
	for (size_t i = 0; i < n; i++) {
		if (any) {
			(*maps)[i] = normalize_inodes(t->rec[i].maps, &m);
			(*smaps)[i] = normalize_inodes(t->rec[i].smaps, &m);
		} else {
			(*maps)[i] = t->rec[i].maps;
			(*smaps)[i] = t->rec[i].smaps;
		}
	}
	*owned = any;
	free(m.keys);
	return 0;
}

static void free_texts(char **v, size_t n, bool owned)
{
	for (size_t i = 0; owned && v && i < n; i++)
		free(v[i]);
	free(v);
}

static const struct orc_entry *find_entry(const struct orc_entry *e, size_t n, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].start == start && e[i].end == end)
			return &e[i];
	return NULL;
}

/* Does [start, end) overlap a pre-existing region that held pages? */
static bool overlaps_resident(const struct cmp *c, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < c->nbefore; i++)
		if (c->before[i].start < end && start < c->before[i].end && orc_entry_has_pages(&c->before[i]))
			return true;
	return false;
}

#define SMAPS_MAX_ENTRIES_SHOWN 3

static bool smaps_differ(const struct cmp *c, const char *ks, const char *as, uint32_t ignore,
			 bool maps_shown, FILE *out)
{
	struct orc_entry *ke = NULL, *ae = NULL;
	size_t nk = 0, na = 0, shown = 0;
	bool differ = false;

	if (orc_smaps_split(ks, &ke, &nk) || orc_smaps_split(as, &ae, &na)) {
		free(ke);
		free(ae);
		if (out)
			fprintf(out, "    smaps: out of memory\n");
		return true;
	}
	for (size_t i = 0; i < nk; i++) {
		const struct orc_entry *b = find_entry(c->before, c->nbefore, ke[i].start, ke[i].end);
		const struct orc_entry *x;
		bool skip_pages;
		FILE *o = shown < SMAPS_MAX_ENTRIES_SHOWN ? out : NULL;

		if (b && b->len == ke[i].len && memcmp(b->text, ke[i].text, b->len) == 0)
			continue; /* an untouched stand-in */
		x = find_entry(ae, na, ke[i].start, ke[i].end);
		if (!x) {
			if (!maps_shown) {
				if (o)
					fprintf(o, "    smaps: aspace has no region %" PRIx64 "-%" PRIx64 "\n",
						ke[i].start, ke[i].end);
				shown++;
				differ = true;
			}
			continue;
		}
		skip_pages = (ignore & ORC_F_SMAPS_PAGES) || overlaps_resident(c, ke[i].start, ke[i].end);
		if (text_differs(NULL, ke[i].text, ke[i].len, x->text, x->len, skip_pages, "")) {
			if (o) {
				fprintf(o, "    smaps of %" PRIx64 "-%" PRIx64 "%s (-kernel +aspace):\n", ke[i].start,
					ke[i].end, skip_pages ? ", page counts not compared" : "");
				text_differs(o, ke[i].text, ke[i].len, x->text, x->len, skip_pages, "      ");
			}
			shown++;
			differ = true;
		}
	}
	free(ke);
	free(ae);
	return differ;
}

/*
 * Compare op i's records; describe to out (may be NULL). Returns the ORC_F_*
 * bits that diverge.
 */
static uint32_t compare_op(const struct cmp *c, const struct orc_op *op, size_t i, uint32_t ignore, FILE *out)
{
	const struct orc_rec *kr = &c->k->rec[i], *ar = &c->a->rec[i];
	const char *km = c->kmaps[i], *am = c->amaps[i], *ks = c->ksmaps[i], *as = c->asmaps[i];
	char b1[160], b2[160];
	uint32_t f = 0;
	bool access = op->kind == ORC_OP_READ || op->kind == ORC_OP_WRITE || op->kind == ORC_OP_EXEC;

	if (kr->ret != ar->ret) {
		f |= ORC_F_RET;
		if (out)
			fprintf(out, "    return    kernel %s, aspace %s\n", fmt_ret(op->kind, kr->ret, b1, sizeof(b1)),
				fmt_ret(op->kind, ar->ret, b2, sizeof(b2)));
	}
	if (access && !(ignore & ORC_F_FAULT) &&
	    (kr->signo != ar->signo || (kr->signo && (kr->code != ar->code || kr->fault_addr != ar->fault_addr)))) {
		f |= ORC_F_FAULT;
		if (out)
			fprintf(out, "    fault     kernel %s, aspace %s\n", fmt_fault(kr, b1, sizeof(b1)),
				fmt_fault(ar, b2, sizeof(b2)));
	}
	if (!(ignore & ORC_F_MINFLT) && kr->minflt != ar->minflt) {
		f |= ORC_F_MINFLT;
		if (out)
			fprintf(out, "    minflt    kernel %" PRId64 ", aspace %" PRId64 "\n", kr->minflt, ar->minflt);
	}
	if (!(ignore & ORC_F_MAPS) && km && am && strcmp(km, am) != 0) {
		f |= ORC_F_MAPS;
		if (out) {
			fprintf(out, "    maps (-kernel +aspace):\n");
			text_differs(out, km, strlen(km), am, strlen(am), false, "      ");
		}
	}
	if (!(ignore & ORC_F_SMAPS) && ks && as && smaps_differ(c, ks, as, ignore, (f & ORC_F_MAPS) != 0, out))
		f |= ORC_F_SMAPS;
	if (op->kind == ORC_OP_MINCORE && !(ignore & ORC_F_MINCORE) && kr->ret == 0 && ar->ret == 0 &&
	    (kr->vec_len != ar->vec_len || (kr->vec_len && memcmp(kr->vec, ar->vec, kr->vec_len) != 0))) {
		f |= ORC_F_MINCORE;
		if (out) {
			fprintf(out, "    mincore   kernel [");
			for (uint32_t j = 0; j < kr->vec_len && j < 64; j++)
				fprintf(out, "%x", kr->vec ? kr->vec[j] : 0);
			fprintf(out, "%s], aspace [", kr->vec_len > 64 ? "..." : "");
			for (uint32_t j = 0; j < ar->vec_len && j < 64; j++)
				fprintf(out, "%x", ar->vec ? ar->vec[j] : 0);
			fprintf(out, "%s]\n", ar->vec_len > 64 ? "..." : "");
		}
	}
	if (op->kind == ORC_OP_READ && !(ignore & ORC_F_BYTES) &&
	    (kr->nbytes != ar->nbytes || kr->hash != ar->hash)) {
		f |= ORC_F_BYTES;
		if (out) {
			uint32_t j, nc = kr->ncopied < ar->ncopied ? kr->ncopied : ar->ncopied;

			for (j = 0; j < nc && kr->bytes && ar->bytes && kr->bytes[j] == ar->bytes[j]; j++)
				;
			fprintf(out, "    bytes     kernel read %" PRIu64 " (hash %016" PRIx64 "), aspace %" PRIu64
				" (hash %016" PRIx64 ")",
				kr->nbytes, kr->hash, ar->nbytes, ar->hash);
			if (j < nc)
				fprintf(out, "; first difference at +%#x: kernel %#x, aspace %#x", j, kr->bytes[j],
					ar->bytes[j]);
			fprintf(out, "\n");
		}
	}
	if (ar->note) {
		f |= ORC_F_CHECK;
		if (out)
			fprintf(out, "    aspace    %s%s", ar->note,
				ar->note[0] && ar->note[strlen(ar->note) - 1] == '\n' ? "" : "\n");
	}
	return f;
}

static void print_op_header(FILE *out, const char *name, const struct orc_op *op, size_t i, size_t n,
			    const struct orc_rec *kr, const struct orc_rec *ar)
{
	char desc[256];
	bool refs = false;

	orc_op_format(op, desc, sizeof(desc));
	fprintf(out, "orc%s%s%s: op %zu of %zu diverges: %s\n", name ? "[" : "", name ? name : "",
		name ? "]" : "", i, n, desc);
	for (int j = 0; j < 6; j++)
		refs |= ORC_IS_REF(op->a[j]);
	if (refs) {
		fprintf(out, "    args      kernel");
		for (int j = 0; j < 6; j++)
			fprintf(out, " %#" PRIx64, kr->args[j]);
		fprintf(out, "\n              aspace");
		for (int j = 0; j < 6; j++)
			fprintf(out, " %#" PRIx64, ar->args[j]);
		fprintf(out, "\n");
	}
}

static void print_verbose(FILE *out, const struct orc_op *op, size_t i, const struct orc_rec *kr,
			  const struct orc_rec *ar)
{
	char desc[256], b1[64], b2[64];

	orc_op_format(op, desc, sizeof(desc));
	fprintf(out, "orc: %3zu %-60s kernel %s (minflt %" PRId64 ")  aspace %s (minflt %" PRId64 ")\n", i, desc,
		fmt_ret(op->kind, kr->ret, b1, sizeof(b1)), kr->minflt, fmt_ret(op->kind, ar->ret, b2, sizeof(b2)),
		ar->minflt);
}

int orc_compare(const struct orc_op *ops, size_t n, const struct orc_trace *k, const struct orc_trace *a,
		const struct orc_opts *o, FILE *report, struct orc_result *res)
{
	struct orc_opts defaults;
	struct orc_result local;
	struct cmp c = { .k = k, .a = a };
	size_t both;
	int described = 0;
	int count = 0;

	if (!o) {
		orc_opts_init(&defaults);
		o = &defaults;
	}
	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->ops_total = (int)n;
	res->first_diverged = -1;
	if (k->error[0])
		snprintf(res->error, sizeof(res->error), "%s", k->error);
	if (orc_smaps_split(k->before.smaps, &c.before, &c.nbefore)) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}

	/* The copied initial state must print the same maps, or nothing after means much. */
	if (!(o->ignore & ORC_F_MAPS) && k->before.maps && a->before.maps && strcmp(k->before.maps, a->before.maps)) {
		count++;
		res->first_diverged = ORC_BEFORE;
		res->fields |= ORC_F_MAPS;
		if (report) {
			fprintf(report, "orc%s%s%s: the initial state differs (stand-in copy of the kernel child):\n",
				o->name ? "[" : "", o->name ? o->name : "", o->name ? "]" : "");
			fprintf(report, "    maps (-kernel +aspace):\n");
			text_differs(report, k->before.maps, strlen(k->before.maps), a->before.maps,
				     strlen(a->before.maps), false, "      ");
			described++;
		}
	}

	both = k->nops < a->nops ? k->nops : a->nops;
	if (both > n)
		both = n;
	res->ops_compared = (int)both;
	if (normalize_trace(k, both, &c.kmaps, &c.ksmaps, &c.kowned) ||
	    normalize_trace(a, both, &c.amaps, &c.asmaps, &c.aowned)) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		count = -1;
		goto out;
	}
	for (size_t i = 0; i < both; i++) {
		uint32_t ignore = o->ignore | ops[i].ignore;
		uint32_t f;

		if (o->verbose && report)
			print_verbose(report, &ops[i], i, &k->rec[i], &a->rec[i]);
		f = compare_op(&c, &ops[i], i, ignore, NULL);
		if (!f)
			continue;
		count++;
		res->ops_diverged++;
		res->fields |= f;
		if (res->first_diverged == -1)
			res->first_diverged = (int)i;
		if (a->rec[i].ret == -ENOSYS && k->rec[i].ret != -ENOSYS)
			res->aspace_enosys++;
		if (report && described < (int)(o->max_reported ? o->max_reported : 3)) {
			print_op_header(report, o->name, &ops[i], i, n, &k->rec[i], &a->rec[i]);
			compare_op(&c, &ops[i], i, ignore, report);
			described++;
		}
	}
	if (a->error[0]) {
		count++;
		res->fields |= ORC_F_CHECK;
		if (report)
			fprintf(report, "orc%s%s%s: aspace side: %s\n", o->name ? "[" : "", o->name ? o->name : "",
				o->name ? "]" : "", a->error);
	}
	if (report && count > described && described)
		fprintf(report, "orc%s%s%s: ... %d divergence(s) in all (of %zu ops)\n", o->name ? "[" : "",
			o->name ? o->name : "", o->name ? "]" : "", count, n);
out:
	free_texts(c.kmaps, both, c.kowned);
	free_texts(c.ksmaps, both, c.kowned);
	free_texts(c.amaps, both, c.aowned);
	free_texts(c.asmaps, both, c.aowned);
	free(c.before);
	return count;
}

/* One run of both sides and their comparison (orc_check). */
static int check_once(const struct orc_op *ops, size_t n, const struct orc_opts *o, struct orc_result *res)
{
	struct orc_trace k, a;
	struct orc_probe p;
	FILE *out;
	int rc;

	memset(res, 0, sizeof(*res));
	res->ops_total = (int)n;
	res->first_diverged = -1;
	out = o->report ? o->report : stderr;
	if (orc_probe(&p) != 0)
		fprintf(out, "orc: host probe incomplete; the aspace machine may be configured wrongly\n");
	if (p.randomized) {
		snprintf(res->error, sizeof(res->error),
			 "address randomization is on: call orc_init(argc, argv) first in main");
		fprintf(out, "orc: %s\n", res->error);
		return -1;
	}
	if (orc_run_kernel(ops, n, o, &k) != 0) {
		snprintf(res->error, sizeof(res->error), "kernel side: %.480s", k.error);
		fprintf(out, "orc%s%s%s: %s\n", o->name ? "[" : "", o->name ? o->name : "", o->name ? "]" : "",
			res->error);
		orc_trace_free(&k);
		return -1;
	}
	if (o->between)
		o->between(o->between_ctx);
	if (orc_run_aspace(ops, n, o, &k, &a) != 0 && !a.before.maps) {
		/* Could not even run: a setup failure, not a divergence. */
		snprintf(res->error, sizeof(res->error), "aspace side: %.480s", a.error);
		fprintf(out, "orc%s%s%s: %s\n", o->name ? "[" : "", o->name ? o->name : "", o->name ? "]" : "",
			res->error);
		orc_trace_free(&k);
		orc_trace_free(&a);
		return -1;
	}
	rc = orc_compare(ops, n, &k, &a, o, out, res);
	orc_trace_free(&k);
	orc_trace_free(&a);
	return rc;
}

/*
 * Other tasks on the child's CPU can drain its LRU batches mid-sequence
 * (docs/linux-semantics.md §12.3): a divergence in ORC_F_NOISY fields
 * alone must come back on o->reruns more runs to count, as in `aspace diff`.
 */
int orc_check(const struct orc_op *ops, size_t n, const struct orc_opts *o, struct orc_result *res)
{
	struct orc_opts defaults;
	struct orc_result local;
	int rc;

	if (!o) {
		orc_opts_init(&defaults);
		o = &defaults;
	}
	if (!res)
		res = &local;
	for (unsigned attempt = 0;; attempt++) {
		rc = check_once(ops, n, o, res);
		if (rc <= 0 || attempt >= o->reruns || (res->fields & ~ORC_F_NOISY))
			return rc;
		fprintf(o->report ? o->report : stderr, "orc%s%s%s: running it again (%u of %u)\n",
			o->name ? "[" : "", o->name ? o->name : "", o->name ? "]" : "", attempt + 1, o->reruns);
		if (o->between)
			o->between(o->between_ctx);
	}
}
