/*
 * env — the only subsystem that talks to the host.
 *
 * Owns: host memory reservations (the simulated RAM and descriptor arrays),
 * the panic path for broken invariants, and the assertion macros every other
 * subsystem uses, and every host file operation the page cache needs
 * (env_file.c). Nothing outside src/env/ calls mmap, abort, a file system
 * call or writes to stderr on its own.
 *
 * Three error channels, never mixed (docs/ARCHITECTURE.md): public calls
 * return -errno; internal protocols return small enums; a broken invariant
 * is ENV_PANIC, which never returns.
 *
 * Assertions are graded: ENV_BUG_ON is always compiled in and guards
 * invariants whose check is cheap; ENV_DEBUG_BUG_ON and the validators run
 * only in debug builds (ASPACE_DEBUG), after every change.
 */
#ifndef ASPACE_ENV_H
#define ASPACE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AS_INTERNAL __attribute__((visibility("hidden")))
#define AS_MUST_CHECK __attribute__((warn_unused_result))
#define AS_LIKELY(x) __builtin_expect(!!(x), 1)
#define AS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Report a broken invariant through the panic hook and abort. */
_Noreturn void env_panic(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4))) AS_INTERNAL;

#define ENV_PANIC(...) env_panic(__FILE__, __LINE__, __VA_ARGS__)
#define ENV_BUG_ON(cond)                                                  \
	do {                                                              \
		if (AS_UNLIKELY(cond))                                    \
			env_panic(__FILE__, __LINE__, "BUG: %s", #cond); \
	} while (0)

#ifdef ASPACE_DEBUG
#define ENV_DEBUG 1
#define ENV_DEBUG_BUG_ON(cond) ENV_BUG_ON(cond)
#else
#define ENV_DEBUG 0
#define ENV_DEBUG_BUG_ON(cond) ((void)sizeof(cond))
#endif

/*
 * Reserve `bytes` of host memory, zero-filled and never committed up front
 * (MAP_NORESERVE). With `prefault` every page is touched now. NULL on failure.
 */
void *env_reserve(size_t bytes, bool prefault) AS_INTERNAL;
void env_release(void *p, size_t bytes) AS_INTERNAL;

/* Give host memory back without unmapping it: it reads as zero afterwards. */
void env_discard(void *p, size_t bytes) AS_INTERNAL;

/* Debug-build poison and junk patterns for freed and fresh objects. */
#define ENV_POISON_FREE 0x6b
#define ENV_JUNK_ALLOC 0xa5

/* ---- Host files: what the page cache needs from the host (env_file.c) ---- */

/* What aspace needs to know about a host descriptor. */
struct env_file_info {
	uint64_t dev, rdev, ino, size; /* st_dev, st_rdev, st_ino, st_size */
	uint32_t mode;                 /* st_mode */
	int accmode;                   /* O_RDONLY, O_WRONLY or O_RDWR; -1 for O_PATH */
	uint64_t fs_magic;             /* statfs f_type */
	bool noexec;                   /* the mount is noexec */
	bool append_only;              /* the inode is append-only (chattr +a) */
	bool immutable;                /* the inode is immutable (chattr +i) */
	bool rdonly_fs;                /* the mount is read-only */
	uint32_t uid, gid;             /* st_uid, st_gid */
};

/* Facts about fd; 0 or -errno (-EBADF for a bad descriptor). */
int env_file_info(int fd, struct env_file_info *out) AS_INTERNAL AS_MUST_CHECK;
/* The file's size now; 0 or -errno. */
int env_file_size(int fd, uint64_t *size) AS_INTERNAL AS_MUST_CHECK;
/* A close-on-exec duplicate of fd (same open file description); fd or -errno. */
int env_file_dup(int fd) AS_INTERNAL AS_MUST_CHECK;
void env_file_close(int fd) AS_INTERNAL;
/* Do a and b name one open file description (kcmp)? 1, 0, or -errno when the host can't tell. */
int env_file_same(int a, int b) AS_INTERNAL;
/* The path the host shows for fd (/proc/self/fd), NUL-terminated; its length or -errno. */
int env_file_path(int fd, char *buf, size_t len) AS_INTERNAL;

/*
 * Place a shared host mapping of the page at byte `off` of fd over the
 * 4 KiB at `slot` (MAP_SHARED | MAP_FIXED, populated when the page lies
 * inside the file), writable when asked. 0, or -ENOMEM when the host's
 * mapping budget is spent (see env_file_bound_pages), or another -errno;
 * on failure the slot holds zeroed anonymous memory. With `rebind` the
 * slot is already bound (to the same file page) and only changes rights.
 * `advice` (0, MADV_SEQUENTIAL or MADV_RANDOM, plus ENV_BIND_EXEC and
 * ENV_BIND_HUGEPAGE) is the faulting region's read pattern: the host
 * mapping gets it before it is populated, so that the host reads ahead as
 * Linux does for such a region (ENV_BIND_EXEC: the host mapping is
 * executable too, where the file's mount allows it, since Linux 6.18 reads
 * only the faulting page around for a VM_EXEC region; ENV_BIND_HUGEPAGE:
 * MADV_HUGEPAGE, read ahead in PMD-sized folios cut at EOF).
 */
int env_file_bind_page(void *slot, int fd, uint64_t off, bool writable, bool rebind, int advice)
	AS_INTERNAL AS_MUST_CHECK;
#define ENV_BIND_EXEC (1 << 20)
#define ENV_BIND_HUGEPAGE (1 << 21) /* the region is MADV_HUGEPAGE: the host reads ahead in large folios */
/* Put zeroed private anonymous memory back over a bound slot. */
void env_file_unbind_page(void *slot) AS_INTERNAL;
/*
 * Dirty the host's page behind a writable bound slot without changing it
 * (MADV_POPULATE_WRITE on the slot: the host's write fault marks its folio
 * dirty, as Linux's write fault on a shared file page does). 0 or -errno.
 */
int env_file_dirty_page(void *slot) AS_INTERNAL;
/* Bound slots now, and how many the host's map count lets the process hold. */
uint64_t env_file_bound_pages(void) AS_INTERNAL;
uint64_t env_file_bind_budget(void) AS_INTERNAL;

/*
 * Copy n bytes where src (from_host_file) or dst (otherwise) lies in a
 * bound slot, without ever taking the host's SIGBUS: a page the host can't
 * provide (past the end of the file after a truncation, an I/O error, a
 * full disk) makes the copy fail. 0 or -EFAULT (bytes before the failing
 * page may have been copied).
 */
int env_file_copy(void *dst, const void *src, size_t n, bool from_host_file) AS_INTERNAL AS_MUST_CHECK;

/*
 * Which of the pages [off, off + n * 4 KiB) of fd are in the host's page
 * cache: vec[i] = 1 or 0. *view and *view_off, *view_len hold a PROT_NONE
 * host mapping of part of the file that this call may move (start with
 * *view NULL; release with env_file_view_release). 0 or -errno.
 */
int env_file_resident(int fd, uint64_t off, size_t n, unsigned char *vec, void **view,
		      uint64_t *view_off, uint64_t *view_len) AS_INTERNAL AS_MUST_CHECK;
void env_file_view_release(void *view, uint64_t view_len) AS_INTERNAL;

/* Write back [off, off + len) of fd and wait (sync_file_range). 0 or -errno. */
int env_file_sync_range(int fd, uint64_t off, uint64_t len) AS_INTERNAL;
/*
 * Has the host page cache a dirty page in [off, off + len) of fd
 * (cachestat)? 1 or 0; -1 when the host can't tell.
 */
int env_file_range_dirty(int fd, uint64_t off, uint64_t len) AS_INTERNAL;
/* ftruncate; 0 or -errno. */
int env_file_truncate(int fd, uint64_t len) AS_INTERNAL;
/* Punch a hole, keeping the size (fallocate); 0 or -errno. */
int env_file_punch(int fd, uint64_t off, uint64_t len) AS_INTERNAL;
/*
 * Let the host drop the clean pages of [off, off + len) of fd that nothing
 * maps from its page cache (posix_fadvise DONTNEED), as reclaim would.
 * Best effort: tmpfs and pages the host still maps stay.
 */
void env_file_drop_cached(int fd, uint64_t off, uint64_t len) AS_INTERNAL;
/* The host's readahead window for fd in bytes (its device's read_ahead_kb; 128 KiB if unknown). */
uint64_t env_file_ra_bytes(int fd) AS_INTERNAL;
/* Start reading [off, off + len) of the file into the host's page cache (POSIX_FADV_WILLNEED). */
void env_file_read_ahead(int fd, uint64_t off, uint64_t len) AS_INTERNAL;
/* The host process's effective user and group: a new space's file identity. */
void env_host_ids(uint32_t *uid, uint32_t *gid) AS_INTERNAL;

/* Host page flags of mapped host memory, from /proc/self/pagemap and /proc/kpageflags. */
enum {
	ENV_HPF_PRESENT = 1u << 0, /* the host maps a page there (else the rest is unknown) */
	ENV_HPF_DIRTY = 1u << 1,   /* the host page (folio) is dirty */
	ENV_HPF_HEAD = 1u << 2,    /* first page of a large folio */
	ENV_HPF_TAIL = 1u << 3,    /* other page of a large folio */
	ENV_HPF_REFERENCED = 1u << 4, /* the host folio has PG_referenced (KPF_REFERENCED) */
	ENV_HPF_ACTIVE = 1u << 5,     /* the host folio is on an active LRU list (KPF_ACTIVE) */
};
/* flags[i] for the page at va[i]; 0, or -errno when the host won't tell (not root). */
int env_host_page_flags(void *const *va, size_t n, unsigned *flags) AS_INTERNAL AS_MUST_CHECK;

/*
 * The host folios holding the pages mapped at va[0..n): before[i] gets how
 * many pages of its folio come before page i, nr[i] how many the folio has
 * (1 for an order-0 page, and whenever the host won't tell: not root,
 * nothing mapped there); hpf (may be NULL) the ENV_HPF_PRESENT,
 * ENV_HPF_REFERENCED and ENV_HPF_ACTIVE bits of each page (0 when the host
 * won't tell). Nothing is faulted in. 0, or -errno when the host's files
 * can't be read.
 */
int env_host_folios(void *const *va, size_t n, uint32_t *before, uint32_t *nr, unsigned *hpf) AS_INTERNAL;

/* ---- What exec needs from the host (env_exec.c) ---- */

/*
 * Open a program or interpreter for execution as Linux's open_exec does:
 * a read-only close-on-exec descriptor, or -errno: the host's open errors
 * (-ENOENT, -ENOTDIR, -ELOOP, -ENAMETOOLONG, -EACCES), and -EACCES for
 * anything but a regular file, a file on a noexec mount, or a file the
 * process may not execute.
 */
int env_exec_open(const char *path) AS_INTERNAL AS_MUST_CHECK;
/* Read up to len bytes at off: the count (short only at end of file) or -errno. */
int64_t env_file_read(int fd, void *buf, size_t len, uint64_t off) AS_INTERNAL AS_MUST_CHECK;

#define ENV_AUXV_MAX 48
#define ENV_SPECIAL_MAX 4

/* One region of the host's vDSO block ([vvar], [vvar_vclock], [vdso]). */
struct env_special_map {
	char name[16];
	uint64_t off, len;   /* bytes from the start of the block */
};

/*
 * What a new process image gets from the running kernel, read once from
 * the host process's own image: its auxiliary vector (types in the
 * kernel's order and the values that are the same for every program), the
 * AT_PLATFORM string, the vDSO block's regions and their sizes, and the
 * credentials. `probed` is false when /proc could not be read and the
 * values are the fallback for Linux 6.18 x86-64.
 */
struct env_exec_facts {
	uint64_t auxv_type[ENV_AUXV_MAX], auxv_val[ENV_AUXV_MAX];
	unsigned nr_auxv;                     /* without the closing AT_NULL */
	char platform[32];
	struct env_special_map special[ENV_SPECIAL_MAX];
	unsigned nr_special;                  /* in address order */
	uint64_t special_len;                 /* the whole block */
	const void *vdso_image;               /* the host's [vdso] text, readable here, or NULL */
	uint64_t vdso_len;
	uint32_t uid, euid, gid, egid;
	bool probed;
};
const struct env_exec_facts *env_exec_facts(void) AS_INTERNAL;

#endif
