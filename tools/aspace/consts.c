/* Symbolic constants for scripts and output; see consts.h. */
#include "consts.h"
#include <aspace/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

/* Linux's values for what older headers may lack. */
#ifndef EHWPOISON
#define EHWPOISON 133
#endif

#define C(name, fam) { #name, (uint64_t)(name), fam }
#define V(name, value, fam) { name, (uint64_t)(value), fam }

static const struct constant constants[] = {
	V("NULL", 0, FAM_NUM),
	V("unlimited", UINT64_MAX, FAM_NUM),
	V("RLIM_INFINITY", UINT64_MAX, FAM_NUM),

	C(PROT_NONE, FAM_PROT), C(PROT_READ, FAM_PROT), C(PROT_WRITE, FAM_PROT),
	C(PROT_EXEC, FAM_PROT), V("PROT_SEM", 0x8, FAM_PROT),
	V("PROT_GROWSDOWN", 0x01000000, FAM_PROT), V("PROT_GROWSUP", 0x02000000, FAM_PROT),

	/* The type first, so that decoding prints it first, as strace does. */
	V("MAP_SHARED_VALIDATE", MAP_SHARED_VALIDATE, FAM_MAP),
	V("MAP_DROPPABLE", 0x08, FAM_MAP),
	C(MAP_SHARED, FAM_MAP), C(MAP_PRIVATE, FAM_MAP),
	V("MAP_FILE", 0, FAM_MAP),
	C(MAP_FIXED, FAM_MAP), C(MAP_ANONYMOUS, FAM_MAP), V("MAP_ANON", MAP_ANONYMOUS, FAM_MAP),
	V("MAP_32BIT", 0x40, FAM_MAP), V("MAP_ABOVE4G", MAP_ABOVE4G, FAM_MAP),
	V("MAP_GROWSDOWN", 0x100, FAM_MAP), V("MAP_DENYWRITE", 0x800, FAM_MAP),
	V("MAP_EXECUTABLE", 0x1000, FAM_MAP), V("MAP_LOCKED", 0x2000, FAM_MAP),
	V("MAP_NORESERVE", 0x4000, FAM_MAP), V("MAP_POPULATE", 0x8000, FAM_MAP),
	V("MAP_NONBLOCK", 0x10000, FAM_MAP), V("MAP_STACK", 0x20000, FAM_MAP),
	V("MAP_HUGETLB", 0x40000, FAM_MAP), V("MAP_SYNC", MAP_SYNC, FAM_MAP),
	V("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE, FAM_MAP),
	V("MAP_UNINITIALIZED", MAP_UNINITIALIZED, FAM_MAP),

	V("MADV_NORMAL", 0, FAM_MADV), V("MADV_RANDOM", 1, FAM_MADV),
	V("MADV_SEQUENTIAL", 2, FAM_MADV), V("MADV_WILLNEED", 3, FAM_MADV),
	V("MADV_DONTNEED", 4, FAM_MADV), V("MADV_FREE", 8, FAM_MADV),
	V("MADV_REMOVE", 9, FAM_MADV), V("MADV_DONTFORK", 10, FAM_MADV),
	V("MADV_DOFORK", 11, FAM_MADV), V("MADV_MERGEABLE", 12, FAM_MADV),
	V("MADV_UNMERGEABLE", 13, FAM_MADV), V("MADV_HUGEPAGE", 14, FAM_MADV),
	V("MADV_NOHUGEPAGE", 15, FAM_MADV), V("MADV_DONTDUMP", 16, FAM_MADV),
	V("MADV_DODUMP", 17, FAM_MADV), V("MADV_WIPEONFORK", 18, FAM_MADV),
	V("MADV_KEEPONFORK", 19, FAM_MADV), V("MADV_COLD", 20, FAM_MADV),
	V("MADV_PAGEOUT", 21, FAM_MADV), V("MADV_POPULATE_READ", 22, FAM_MADV),
	V("MADV_POPULATE_WRITE", 23, FAM_MADV), V("MADV_DONTNEED_LOCKED", 24, FAM_MADV),
	V("MADV_COLLAPSE", 25, FAM_MADV), V("MADV_HWPOISON", 100, FAM_MADV),
	V("MADV_SOFT_OFFLINE", 101, FAM_MADV), V("MADV_GUARD_INSTALL", 102, FAM_MADV),
	V("MADV_GUARD_REMOVE", 103, FAM_MADV),

	V("MREMAP_MAYMOVE", 1, FAM_MREMAP), V("MREMAP_FIXED", 2, FAM_MREMAP),
	V("MREMAP_DONTUNMAP", MREMAP_DONTUNMAP, FAM_MREMAP),

	V("MCL_CURRENT", 1, FAM_MCL), V("MCL_FUTURE", 2, FAM_MCL), V("MCL_ONFAULT", MCL_ONFAULT, FAM_MCL),

	V("MS_ASYNC", 1, FAM_MS), V("MS_INVALIDATE", 2, FAM_MS), V("MS_SYNC", 4, FAM_MS),

	V("MLOCK_ONFAULT", MLOCK_ONFAULT, FAM_MLOCK),

	C(RLIMIT_CPU, FAM_RLIMIT), C(RLIMIT_FSIZE, FAM_RLIMIT), C(RLIMIT_DATA, FAM_RLIMIT),
	C(RLIMIT_STACK, FAM_RLIMIT), C(RLIMIT_CORE, FAM_RLIMIT), C(RLIMIT_RSS, FAM_RLIMIT),
	C(RLIMIT_NPROC, FAM_RLIMIT), C(RLIMIT_NOFILE, FAM_RLIMIT), C(RLIMIT_MEMLOCK, FAM_RLIMIT),
	C(RLIMIT_AS, FAM_RLIMIT), C(RLIMIT_LOCKS, FAM_RLIMIT), C(RLIMIT_SIGPENDING, FAM_RLIMIT),
	C(RLIMIT_MSGQUEUE, FAM_RLIMIT), C(RLIMIT_NICE, FAM_RLIMIT), C(RLIMIT_RTPRIO, FAM_RLIMIT),
	C(RLIMIT_RTTIME, FAM_RLIMIT),

	/* Capabilities as bits of the mask as_mm_set_caps takes. */
	V("CAP_IPC_LOCK", 1ull << 14, FAM_CAP), V("CAP_SYS_RAWIO", 1ull << 17, FAM_CAP),
	V("CAP_SYS_ADMIN", 1ull << 21, FAM_CAP), V("CAP_SYS_RESOURCE", 1ull << 24, FAM_CAP),

	V("O_RDONLY", O_RDONLY, FAM_OPEN), V("O_WRONLY", O_WRONLY, FAM_OPEN),
	V("O_RDWR", O_RDWR, FAM_OPEN), V("O_CREAT", O_CREAT, FAM_OPEN),
	V("O_TRUNC", O_TRUNC, FAM_OPEN), V("O_EXCL", O_EXCL, FAM_OPEN),

	C(SYS_brk, FAM_SYS), C(SYS_mmap, FAM_SYS), C(SYS_munmap, FAM_SYS), C(SYS_mprotect, FAM_SYS),
	C(SYS_mremap, FAM_SYS), C(SYS_madvise, FAM_SYS), C(SYS_mlock, FAM_SYS), C(SYS_mlock2, FAM_SYS),
	C(SYS_munlock, FAM_SYS), C(SYS_mlockall, FAM_SYS), C(SYS_munlockall, FAM_SYS),
	C(SYS_msync, FAM_SYS), C(SYS_mincore, FAM_SYS), C(SYS_prctl, FAM_SYS),
};

static const char *const family_patterns[FAM_NR] = {
	[FAM_NUM] = "a number", [FAM_PROT] = "PROT_*", [FAM_MAP] = "MAP_*",
	[FAM_MADV] = "MADV_*", [FAM_MREMAP] = "MREMAP_*", [FAM_MCL] = "MCL_*",
	[FAM_MS] = "MS_*", [FAM_MLOCK] = "MLOCK_*", [FAM_RLIMIT] = "RLIMIT_*",
	[FAM_CAP] = "CAP_*", [FAM_OPEN] = "O_*", [FAM_SYS] = "SYS_*",
};

#define NCONST (sizeof(constants) / sizeof(constants[0]))

static bool name_is(const char *want, const char *name, size_t len)
{
	return strlen(want) == len && !memcmp(want, name, len);
}

const struct constant *const_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < NCONST; i++)
		if (name_is(constants[i].name, name, len))
			return &constants[i];
	return NULL;
}

int edit_distance(const char *a, size_t alen, const char *b, size_t blen, int cap)
{
	int row[64];

	if (alen >= 63 || blen >= 63)
		return cap + 1;
	for (size_t j = 0; j <= blen; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= alen; i++) {
		int diag = row[0], best;

		row[0] = (int)i;
		best = row[0];
		for (size_t j = 1; j <= blen; j++) {
			int up = row[j];
			int sub = diag + (a[i - 1] != b[j - 1]);
			int v = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;

			row[j] = sub < v ? sub : v;
			diag = up;
			if (row[j] < best)
				best = row[j];
		}
		if (best > cap)
			return cap + 1;
	}
	return row[blen];
}

const char *const_suggest(const char *name, size_t len, enum family fam)
{
	const char *best = NULL;
	int best_d = 3;

	for (size_t i = 0; i < NCONST; i++) {
		int d;

		if (fam != FAM_NR && constants[i].fam != fam)
			continue;
		d = edit_distance(name, len, constants[i].name, strlen(constants[i].name), 2);
		if (d < best_d) {
			best_d = d;
			best = constants[i].name;
		}
	}
	return best;
}

const char *family_pattern(enum family fam)
{
	return fam < FAM_NR ? family_patterns[fam] : "?";
}

bool family_is_mask(enum family fam)
{
	switch (fam) {
	case FAM_PROT:
	case FAM_MAP:
	case FAM_MREMAP:
	case FAM_MCL:
	case FAM_MS:
	case FAM_MLOCK:
	case FAM_CAP:
	case FAM_OPEN:
		return true;
	default:
		return false;
	}
}

static void append(char *buf, size_t len, size_t *pos, const char *s)
{
	int n = snprintf(buf + *pos, *pos < len ? len - *pos : 0, "%s", s);

	if (n > 0)
		*pos += (size_t)n;
}

const char *const_format(enum family fam, uint64_t value, char *buf, size_t len)
{
	size_t pos = 0;
	uint64_t rest = value;
	char hex[32];

	buf[0] = '\0';
	if (!family_is_mask(fam)) {
		for (size_t i = 0; i < NCONST; i++)
			if (constants[i].fam == fam && constants[i].value == value) {
				snprintf(buf, len, "%s", constants[i].name);
				return buf;
			}
		snprintf(buf, len, "%#llx", (unsigned long long)value);
		return buf;
	}
	if (fam == FAM_MAP) {
		/* The mapping type is a 4-bit field, not bits. */
		uint64_t type = value & 0x0f;
		const char *tname = type == 1 ? "MAP_SHARED" : type == 2 ? "MAP_PRIVATE"
				  : type == 3 ? "MAP_SHARED_VALIDATE" : type == 8 ? "MAP_DROPPABLE" : NULL;

		if (tname) {
			append(buf, len, &pos, tname);
			rest &= ~0x0full;
		}
	}
	for (size_t i = 0; i < NCONST && rest; i++) {
		const struct constant *c = &constants[i];

		if (c->fam != fam || !c->value || (c->value & (c->value - 1)))
			continue; /* single bits only; zero-valued names are for value 0 */
		if (fam == FAM_MAP && c->value < 0x10)
			continue;
		if (!strcmp(c->name, "MAP_ANON"))
			continue;
		if ((rest & c->value) == c->value) {
			if (pos)
				append(buf, len, &pos, "|");
			append(buf, len, &pos, c->name);
			rest &= ~c->value;
		}
	}
	if (rest || !pos) {
		if (!rest && !pos) {
			/* Zero: its name when the family has one (PROT_NONE), else 0. */
			for (size_t i = 0; i < NCONST; i++)
				if (constants[i].fam == fam && constants[i].value == 0 &&
				    strcmp(constants[i].name, "MAP_FILE")) {
					snprintf(buf, len, "%s", constants[i].name);
					return buf;
				}
			snprintf(buf, len, "0");
			return buf;
		}
		if (pos)
			append(buf, len, &pos, "|");
		snprintf(hex, sizeof(hex), "%#llx", (unsigned long long)rest);
		append(buf, len, &pos, hex);
	}
	return buf;
}

/* ---- errno, signals ---- */

struct named_int {
	const char *name;
	int value;
};

#define E(x) { #x, x }
static const struct named_int errnos[] = {
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG), E(ENOEXEC),
	E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT), E(EBUSY), E(EEXIST),
	E(EXDEV), E(ENODEV), E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ETXTBSY),
	E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(ERANGE), E(ENAMETOOLONG), E(ENOSYS),
	E(ELOOP), E(EOVERFLOW), E(EOPNOTSUPP), E(EUCLEAN), E(EHWPOISON), E(ELIBBAD),
	{ "EWOULDBLOCK", EWOULDBLOCK }, { "ENOTSUP", ENOTSUP },
};

const char *errno_name(int err)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].value == err)
			return errnos[i].name;
	return NULL;
}

int errno_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (name_is(errnos[i].name, name, len))
			return errnos[i].value;
	return 0;
}

static const struct named_int signals[] = { E(SIGSEGV), E(SIGBUS), E(SIGKILL) };

const char *signal_name(int signo)
{
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signals[i].value == signo)
			return signals[i].name;
	return "SIG?";
}

int signal_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (name_is(signals[i].name, name, len))
			return signals[i].value;
	return 0;
}

static const struct named_int segv_codes[] = {
	{ "SEGV_MAPERR", 1 }, { "SEGV_ACCERR", 2 }, { "SEGV_BNDERR", 3 }, { "SEGV_PKUERR", 4 },
};
static const struct named_int bus_codes[] = {
	{ "BUS_ADRALN", 1 }, { "BUS_ADRERR", 2 }, { "BUS_OBJERR", 3 },
	{ "BUS_MCEERR_AR", 4 }, { "BUS_MCEERR_AO", 5 },
};

static const struct named_int *codes_of(int signo, size_t *n)
{
	if (signo == SIGSEGV) {
		*n = sizeof(segv_codes) / sizeof(segv_codes[0]);
		return segv_codes;
	}
	if (signo == SIGBUS) {
		*n = sizeof(bus_codes) / sizeof(bus_codes[0]);
		return bus_codes;
	}
	*n = 0;
	return NULL;
}

const char *sicode_name(int signo, int code)
{
	size_t n;
	const struct named_int *t = codes_of(signo, &n);

	for (size_t i = 0; i < n; i++)
		if (t[i].value == code)
			return t[i].name;
	return "?";
}

int sicode_by_name(int signo, const char *name, size_t len)
{
	size_t n;
	const struct named_int *t = codes_of(signo, &n);

	for (size_t i = 0; i < n; i++)
		if (name_is(t[i].name, name, len))
			return t[i].value;
	return 0;
}
