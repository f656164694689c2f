/*
 * file — files mapped into spaces: open files, the page cache, shared
 * anonymous memory (shmem) and writeback. docs/FILES.md tells the story.
 *
 * Owns:
 *  - struct file_map, one per open file description a region maps
 *    (Linux's struct file): aspace's duplicate of the caller's host
 *    descriptor, the open mode, the identity /proc/PID/maps shows, and the
 *    page cache behind it. Two mmap calls through descriptors that share
 *    one open file description (the same fd, or a dup of it) get the same
 *    file_map, so their regions can merge, exactly where Linux's would
 *    (same struct file); a re-opened file gets another one.
 *  - struct file_cache, one per host file (device + inode) or shmem object
 *    (Linux's inode and address_space): an index of cached pages by page
 *    offset, the file's size as last seen, and a host descriptor.
 *
 * The host file stays the truth. A cached page of a host file is a frame
 * of kind PG_FILE (PG_SHMEM for tmpfs/memfd files) whose slot in simulated
 * RAM is a shared host mapping of that file page (PG_HOSTMAP), so the
 * host's write/pwrite show through every aspace mapping at once and writes
 * through MAP_SHARED regions are in the host file at once. A page of an
 * aspace shmem object (MAP_SHARED|MAP_ANONYMOUS, /dev/zero shared) is a
 * plain PG_SHMEM frame: the object is its only copy.
 *
 * Past the end of file: a fault on a whole page past EOF is SIGBUS; the
 * size is asked from the host at every file fault. Nothing touches a bound
 * slot except env_file_copy, which reports a page the host can't provide
 * (after a truncation on the host) as a failure, never as the host's
 * SIGBUS. When aspace sees a file shrink (a fault, a failed copy,
 * as_file_truncate, as_file_changed, mmap), it drops the cached pages past
 * the new end and bumps the machine's file_seq; every space compares that
 * with its own before its next access, smaps, counters, mmap or fork
 * (file_sync_mm, with its mmap lock held for writing, so that no thread of
 * the space is copying through an entry that goes) and removes the
 * entries whose page left the cache or lies past EOF, anonymous copies
 * included, as Linux's truncate_pagecache does at once.
 *
 * Vocabulary: pgoff is a page offset in a file; "cached" for fault-around
 * means in aspace's index or resident in the host's page cache.
 *
 * Reference counts: a region holds one reference on its file_map; a
 * file_map holds one on its cache; the cache holds one reference on every
 * frame in its index, each mapping entry one more (and one mapcount).
 *
 * Locking (docs/ARCHITECTURE.md has the whole order):
 *   mmap_lock
 *     file_cache.lock        index, size, descriptor, residency view
 *       pt_lock
 *   machine files_lock       the machine's lists of file_maps and caches;
 *                            taken alone or above a cache lock
 * file_map fields are immutable after creation; refs are atomic.
 */
#ifndef ASPACE_FILE_H
#define ASPACE_FILE_H

#include "../mm/mm.h"

#include <stdatomic.h>
#include <stdint.h>

enum file_kind {
	FILE_HOST,        /* a regular file of the host, page cache in bound slots */
	FILE_SHMEM,       /* an aspace shmem object: shared anonymous memory */
	FILE_DEVZERO,     /* /dev/zero: private mappings are anonymous memory */
	FILE_NOMMAP,      /* a descriptor Linux can't mmap (pipe, socket, directory, ...) */
	FILE_STANDIN,     /* identity only (fd -1): faults get SIGBUS */
};

/* One open file description regions map (Linux's struct file). [I] unless noted. */
struct file_map {
	_Atomic int32_t refs;          /* [A] regions, plus transient holders */
	struct as_machine *m;
	struct file_cache *cache;      /* FILE_HOST and FILE_SHMEM; NULL otherwise */
	int fd;                        /* aspace's duplicate of the caller's descriptor, or -1 */
	uint8_t kind;                  /* enum file_kind */
	bool readable, writable;       /* FMODE_READ, FMODE_WRITE */
	bool noexec;                   /* on a noexec mount (path_noexec) */
	bool append_only;              /* IS_APPEND: no shared mapping through a writable fd */
	bool mmap_sync;                /* the filesystem knows MAP_SYNC (FOP_MMAP_SYNC) */
	bool thp_align;                /* get_unmapped_area aligns to 2 MiB (thp_get_unmapped_area) */
	bool shmem_area;               /* get_unmapped_area is shmem's */
	uint64_t max_size;             /* file_mmap_size_max: 0 means no limit */
	uint32_t dev_major, dev_minor; /* as /proc/PID/maps shows them */
	uint64_t ino;
	const char *name;              /* a fixed name, or NULL to ask the host at print time */
	char *name_owned;              /* standins: the copy name points at */
	uint8_t huge_shift;            /* hugetlbfs files (mm/hugetlb.c): log2 of the huge
	                                  page size; 0 for every other file */
	uint64_t huge_resv;            /* [Z] hugetlbfs: huge pages the file's mappings
	                                  reserved, given back when the file goes */
	struct file_map *next, *prev;  /* [F] m->file_maps */
};

/* A node of a page cache's index: 64 slots, a radix tree level of 6 bits of pgoff. */
#define FILE_NODE_SHIFT 6
#define FILE_NODE_SLOTS (1u << FILE_NODE_SHIFT)
struct file_node {
	uintptr_t slots[FILE_NODE_SLOTS]; /* children, or at the lowest level pfn + 1 (0: empty) */
	uint32_t count;                   /* slots in use */
};
#define FILE_NODE_SIZE sizeof(struct file_node)

/* A page cache (Linux's inode + address_space). Legend: [C] lock; [F] files_lock. */
struct file_cache {
	struct as_machine *m;          /* [I] */
	int32_t refs;                  /* [F] file_maps using it */
	uint64_t dev, ino;             /* [I] host identity; 0, ino for shmem objects */
	bool host;                     /* [I] pages are bound slots of a host file */
	bool shmem;                    /* [I] PG_SHMEM pages; no dirty tracking (writenotify) */
	pthread_mutex_t lock;
	int fd;                        /* [C] host descriptor for binding; -1 for shmem objects */
	bool fd_writable;              /* [C] fd was opened for writing: bound slots are writable */
	uint64_t size;                 /* [C] bytes: the host file's size as last seen, or the
	                                  shmem object's */
	struct file_node *root;        /* [C] index: radix tree by pgoff */
	unsigned levels;               /* [C] height of the index (0: empty) */
	uint64_t nr_pages;             /* [C] pages in the index */
	_Atomic uint64_t changed_seq;  /* [A] the machine's file_seq its last change took
	                                  (truncation, punch, writeback; set under [C]):
	                                  a space that saw that much has nothing to redo */
	void *view;                    /* [C] PROT_NONE host view for residency checks */
	uint64_t view_off, view_len;   /* [C] */
	struct file_cache *next, *prev;/* [F] m->file_caches */
};

/* ---- Open files (file.c) ---- */

/*
 * The file_map for the caller's host descriptor fd on machine m: an
 * existing one when fd names the same open file description, else a new
 * one with aspace's own duplicate. 0 with *out referenced, -EBADF (bad or
 * O_PATH descriptor), -ENOMEM, or -EMFILE/-ENFILE from the host.
 */
int file_map_open(struct as_machine *m, int fd, struct file_map **out) AS_INTERNAL AS_MUST_CHECK;

/*
 * A new shmem object of `size` bytes and a file_map for it, named
 * "/dev/zero (deleted)" on device 00:01 with an inode of its own
 * (shmem_zero_setup). 0 or -ENOMEM.
 */
int file_map_new_shmem(struct as_machine *m, uint64_t size, struct file_map **out) AS_INTERNAL
	AS_MUST_CHECK;

/* A stand-in file with the given identity (fd -1); NULL on failure. */
struct file_map *file_map_new_standin(struct as_machine *m, const char *path, uint32_t dev_major,
				      uint32_t dev_minor, uint64_t ino) AS_INTERNAL;
void file_map_get(struct file_map *f) AS_INTERNAL;
void file_map_put(struct file_map *f) AS_INTERNAL;

/* The name /proc/PID/maps prints for f into buf (escaped as Linux does); returns buf. */
const char *file_map_name(const struct file_map *f, char *buf, size_t len) AS_INTERNAL;

/* Regions of f fault as anonymous memory (private /dev/zero: vma_is_anonymous). */
static inline bool file_map_is_anon(const struct file_map *f)
{
	return f && f->kind == FILE_DEVZERO;
}

/*
 * May mm see (mincore) and reclaim (MADV_PAGEOUT) f's page cache? Linux's
 * can_do_mincore and can_do_file_pageout: mm owns the file (or has
 * CAP_FOWNER), or could open it for writing (mode bits for its fsuid and
 * fsgid, or CAP_DAC_OVERRIDE; never on a read-only mount or an immutable
 * file). Asks the host at each call. Shmem objects are everyone's (mode
 * 0777), and a file aspace can't ask about counts as allowed.
 */
bool file_may_reveal(const struct file_map *f, const struct as_mm *mm) AS_INTERNAL;

/*
 * Before the first shared writable mapping of f (VM_SHARED): make the
 * cache's descriptor and bound slots writable. 0 or -errno.
 */
int file_map_prepare_shared_write(struct file_map *f) AS_INTERNAL AS_MUST_CHECK;

/* ---- The page cache (cache.c) ---- */

enum file_get {
	FILE_GET_OK,
	FILE_GET_SIGBUS,   /* past the end of the file */
	FILE_GET_OOM,      /* no frame, or the host's mapping budget is spent */
};

/* Between file.c and cache.c: a cache object's life. */
int file_cache_new(struct as_machine *m, bool host, bool shmem, int fd, bool fd_writable,
		   uint64_t size, uint64_t dev, uint64_t ino, struct file_cache **out) AS_INTERNAL
	AS_MUST_CHECK;
/* The host says the file is `size` bytes now (as file_cache_size, without asking). */
void file_cache_saw_size(struct file_cache *c, uint64_t size) AS_INTERNAL;
/* Drop every page (none may be mapped), close the descriptor, free. */
void file_cache_destroy(struct file_cache *c) AS_INTERNAL;
/* The cache's descriptor becomes a dup of wfd (open for writing); bound pages writable. */
int file_cache_make_writable(struct file_cache *c, int wfd) AS_INTERNAL AS_MUST_CHECK;

/*
 * The folio a cached page belongs to: aspace caches order-0 frames, but a
 * host file's page remembers the host folio it was part of when it was
 * bound (env_host_folios), since fault-around maps a large folio whole.
 * *before: pages of the folio before this one; *nr: the folio's pages
 * (1 for order-0, and whenever the host doesn't tell). Kept in the page
 * descriptor's LRU field (prev), which nothing else uses for user pages.
 */
static inline void file_page_folio(const struct page *pg, uint32_t *before, uint32_t *nr)
{
	if (pg->prev == PFN_NONE) {
		*before = 0;
		*nr = 1;
		return;
	}
	*before = pg->prev >> 16;
	*nr = (pg->prev & 0xffff) + 1;
}

/*
 * Linux's PG_dirty and PG_reclaim for page cache pages. Other threads read
 * a page's flags without a lock, so these bits, which change under them,
 * live apart: in the LRU link `next` (unused for user pages; PFN_NONE when
 * neither is set), always accessed atomically. PG_reclaim is what
 * MADV_PAGEOUT leaves on a dirty page it had to keep; Linux reads the same
 * bit as PG_readahead: fault-around skips the page and the next fault on it
 * starts readahead, clearing it, and retries (a major fault). Writeback
 * (clearing PG_dirty) clears it too.
 */
#define FILE_PAGE_DIRTY 1u
#define FILE_PAGE_RECLAIM 2u
static inline uint32_t file_page_marks(const struct page *pg)
{
	uint32_t v = __atomic_load_n(&pg->next, __ATOMIC_RELAXED);

	return v == PFN_NONE ? 0 : v;
}

/* Clear `clear`, then set `set`; returns the marks before. */
static inline uint32_t file_page_change_marks(struct page *pg, uint32_t clear, uint32_t set)
{
	uint32_t old = __atomic_load_n(&pg->next, __ATOMIC_RELAXED), nv;

	do {
		nv = ((old == PFN_NONE ? 0 : old) & ~clear) | set;
	} while (!__atomic_compare_exchange_n(&pg->next, &old, nv ? nv : PFN_NONE, true,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return old == PFN_NONE ? 0 : old;
}

static inline bool file_page_dirty(const struct page *pg)
{
	return file_page_marks(pg) & FILE_PAGE_DIRTY;
}

static inline void file_page_set_dirty(struct page *pg, bool dirty)
{
	if (dirty)
		(void)file_page_change_marks(pg, 0, FILE_PAGE_DIRTY);
	else
		(void)file_page_change_marks(pg, FILE_PAGE_DIRTY | FILE_PAGE_RECLAIM, 0);
}

static inline bool file_page_reclaim(const struct page *pg)
{
	return file_page_marks(pg) & FILE_PAGE_RECLAIM;
}

static inline void file_page_set_folio(struct page *pg, uint32_t before, uint32_t nr)
{
	pg->prev = nr <= 1 || nr > 0x10000 || before >= nr ? PFN_NONE : (before << 16) | (nr - 1);
}

/* Does a region of this file need write faults to dirty pages (vma_wants_writenotify)? */
bool file_writenotify(const struct vm_area *v) AS_INTERNAL;

/*
 * The file's size in bytes now: asked from the host for host files (a
 * shrink is processed: cached pages past the end dropped, file_seq
 * bumped). Takes the cache lock.
 */
uint64_t file_cache_size(struct file_cache *c) AS_INTERNAL;

/*
 * The cached page at pgoff with a reference for the caller, creating it
 * (binding the host page, or a zeroed frame for shmem objects) when absent.
 * *major tells whether the host had to read it (a major fault); `advice`
 * (0, MADV_SEQUENTIAL, MADV_RANDOM: the region's VM_SEQ_READ/VM_RAND_READ,
 * plus ENV_BIND_EXEC for a VM_EXEC region) shapes the host's readahead for
 * that read. pgoff must lie inside the
 * file as the caller saw it; FILE_GET_SIGBUS if it no longer does.
 */
enum file_get file_cache_get_page(struct file_cache *c, uint64_t pgoff, pfn_t *out,
				  bool *major, int advice) AS_INTERNAL AS_MUST_CHECK;
/*
 * The synchronous readahead Linux 6.18 does on a page-cache miss in a
 * VM_EXEC region without MADV_SEQUENTIAL (MADV_RANDOM does not stop it):
 * from the faulting page pgoff up to a readahead window, cut at end_pgoff
 * (the region's end), no read-around before it. The host reads the pages
 * after pgoff (the bind read pgoff itself). Host files only; best effort.
 */
void file_cache_exec_readahead(struct file_cache *c, uint64_t pgoff, uint64_t end_pgoff) AS_INTERNAL;

/*
 * Fault-around: for pgoff in [first, last] (inside the file), pfns[i] gets
 * the page at first + i with a reference when it is cached (in the index,
 * or resident in the host's page cache, then bound now), else PFN_NONE.
 * Never fails: a page that can't be had is left out.
 */
/* Forget what is remembered of pages at or after from_pgoff of a host file (truncated). */
void file_ghosts_forget(struct as_machine *m, uint64_t dev, uint64_t ino, uint64_t from_pgoff) AS_INTERNAL;
/* folio_mark_accessed on page pgoff of the cache, if it is cached (a host file's size change touching it). */
void file_cache_mark_accessed(struct file_cache *c, uint64_t pgoff) AS_INTERNAL;
void file_cache_get_cached(struct file_cache *c, uint64_t first, uint64_t last,
			   pfn_t *pfns) AS_INTERNAL;

/*
 * Copy n bytes between a bound slot (host) and buf without the host's
 * SIGBUS (env_file_copy). 0 or -EFAULT.
 */
int file_page_copy(void *dst, const void *src, size_t n, bool from_slot) AS_INTERNAL AS_MUST_CHECK;

/*
 * A copy through the page at addr of mm (mapping frame pfn, a bound slot)
 * failed: look at the file again (a truncation on the host is processed).
 * Returns true when the space now has entries to drop (file_sync_pending)
 * or the entry for addr no longer maps pfn: the caller syncs with the mmap
 * lock held for writing and retries the access, which then faults; false
 * when the page stays and the access gets SIGBUS. Mmap lock held (either mode).
 */
bool file_copy_failed(struct as_mm *mm, uint64_t addr, pfn_t pfn) AS_INTERNAL;

/*
 * Drop this space's entries that the page caches took away since it last
 * looked (truncation, hole punch; see the top of this file). The mmap lock
 * is held for writing: no other thread of the space holds a pointer into
 * a page while its entry goes (accesses copy under the lock for reading).
 */
void file_sync_mm_locked(struct as_mm *mm) AS_INTERNAL;

/*
 * Give back cached pages that no space maps (host pages are the host's to
 * keep). Returns how many frames were freed. Takes files_lock and cache locks.
 */
uint64_t file_reclaim(struct as_machine *m, uint64_t want) AS_INTERNAL;

/*
 * MADV_PAGEOUT's reclaim of page cache page pfn of c, which a space just
 * unmapped: when nothing but the cache holds it and it is clean (for a
 * host file: clean on the host), it leaves the cache and the host drops
 * its copy, so the next fault reads it again (a major fault; a shmem
 * object's page comes back zeroed); a dirty page stays cached (Linux
 * writes back from kswapd only), and so does a page of a host tmpfs file
 * (the host can't be made to drop it). True when it went. Called with
 * c->lock held (and the space's pt_lock, below it).
 */
bool file_pageout_locked(struct file_cache *c, pfn_t pfn) AS_INTERNAL;

/* mincore for a file region: vec[i] for the pages [start, end) of v not mapped in the space. */
void file_mincore(struct vm_area *v, uint64_t start, uint64_t end, unsigned char *vec) AS_INTERNAL;

/*
 * msync of [start, end) of region v (MS_SYNC): for a shared mapping of a
 * host file, write the range back and wait. Writeback cleans the dirty
 * folios of the range in every space, as folio_mkclean does: their marks
 * are cleared and file_seq bumped, and each space write-protects its
 * writable entries of them when it catches up (file_sync_mm), so the next
 * write through any shared mapping faults again. 0 or -EIO. Mmap lock held.
 */
int file_msync(struct vm_area *v, uint64_t start, uint64_t end, int flags) AS_INTERNAL;

/*
 * madvise(MADV_REMOVE) of [start, end) of region v (shared and writable):
 * punch a hole in the file, drop the cached pages and every space's
 * mappings of them. 0 or -errno (-EOPNOTSUPP when the filesystem can't).
 * Mmap lock held.
 */
int file_punch_range(struct as_mm *mm, struct vm_area *v, uint64_t start, uint64_t end) AS_INTERNAL;

/* Validator of the machine's file objects (lists, counts, page ownership); 0 or -EUCLEAN. */
int file_check(struct as_machine *m, char *buf, size_t len) AS_INTERNAL;

/* Has a page cache taken pages away since mm last looked? (one load when it hasn't) */
static inline bool file_sync_pending(struct as_mm *mm)
{
	return AS_UNLIKELY(atomic_load_explicit(&mm->m->file_seq, memory_order_acquire) !=
			   atomic_load_explicit(&mm->file_seen, memory_order_relaxed));
}

/* file_sync_mm_locked when needed; the mmap lock is held for writing. */
static inline void file_sync_mm(struct as_mm *mm)
{
	if (file_sync_pending(mm))
		file_sync_mm_locked(mm);
}

/*
 * For callers about to take the mmap lock for reading: catch up first,
 * under the lock for writing, when needed. Call with no lock held.
 */
static inline void file_sync_mm_unlocked(struct as_mm *mm)
{
	if (file_sync_pending(mm)) {
		pthread_rwlock_wrlock(&mm->mmap_lock);
		file_sync_mm(mm);
		pthread_rwlock_unlock(&mm->mmap_lock);
	}
}

#endif
