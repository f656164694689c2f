/*
 * machine — the simulated machine's physical memory.
 *
 * Owns: the frame pool (simulated RAM in one host reservation), one page
 * descriptor per frame, the buddy allocator (orders 0..MAX_ORDER with split
 * and coalesce), per-thread order-0 frame caches, slab caches for the
 * library's own objects, the shared zero page, allocation statistics and
 * failure injection.
 *
 * Vocabulary: a frame is a 4 KiB unit of simulated RAM named by its frame
 * number (pfn_t); its descriptor is a struct page; a block is 2^order
 * contiguous frames aligned to its size, named by its first frame.
 *
 * Invariants (checked by machine_check):
 *  - every frame is in exactly one state: in a free buddy block (PG_BUDDY on
 *    the block's head, order recorded, on free list `order`), in a per-thread
 *    cache (PG_TCACHE), or allocated (refcount > 0, kind flag set);
 *  - a free block's buddy is never also a free block of the same order
 *    (coalescing is complete);
 *  - free_order[pfn] is 1 + order exactly for the heads of free blocks;
 *  - nr_free[o] equals the length of free list o; the frames in free lists
 *    plus the frames in caches plus the allocated frames equal the pool;
 *  - per-kind counters equal the allocated frames of that kind.
 *
 * Locking: the zone lock (a mutex) protects the free lists and nr_free. Each
 * per-thread cache belongs to one thread and needs no lock; the machine's
 * list of caches has its own lock (tcache_lock, taken at thread exit and
 * creation, and by drain, check and the readers of counters). Counters are
 * atomics, split between the machine and the caches (struct as_machine).
 * Page descriptors' refcount and mapcount are atomics; the other fields belong
 * to the frame's owner (the allocator while free, the owner's lock after).
 * Lock order: tcache_lock, then the zone lock, nest inside every other
 * lock of the library (any caller may allocate a frame under its locks;
 * a thread's first allocation registers its cache under tcache_lock).
 * Within this subsystem:
 *
 *   slab_list_lock
 *     slab_cache.lock            (a slab cache takes frames under its lock)
 *       tcache_lock              (registering a thread's cache on first use)
 *         zone_lock
 *
 * Quiescence: machine_check (and so as_machine_check) and the part of
 * as_machine_drain that empties *other* threads' caches read state those
 * threads change without a lock; call them only while no other thread
 * allocates or frees frames of this machine (the tests' "after join").
 *
 * Conventions: FA_SLAB is reserved for slab caches (machine_check compares
 * the slab frame count with the caches' slabs). A slab takes its frames
 * with FA_NOFAIL, so every slab_alloc is exactly one allocation attempt for
 * failure injection, whether or not it needs a new slab.
 */
#ifndef ASPACE_MACHINE_H
#define ASPACE_MACHINE_H

#include <aspace/aspace.h>

#include "../env/env.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MACHINE_GHOSTS 1024 /* page-cache states remembered past their cache */
#define PAGE_SHIFT 12
#define PAGE_SIZE (1ull << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define PMD_SIZE (2ull << 20)  /* what one page-table page maps: 512 pages */
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & PAGE_MASK)
#define MAX_ORDER AS_MAX_ORDER
#define NR_ORDERS (MAX_ORDER + 1)

/* Pages a folio batch holds before it is moved (Linux's PAGEVEC_SIZE). */
#define LAZYFREE_BATCH 31

/* A frame number of simulated RAM. */
typedef uint32_t pfn_t;
#define PFN_NONE UINT32_MAX

/* A per-CPU folio batch of the LRU: frames, each holding a reference (struct as_machine). */
struct machine_batch {
	pfn_t entry[LAZYFREE_BATCH];
	unsigned count;
};

/* Page descriptor flags (struct page.flags, low 24 bits). */
enum {
	PG_BUDDY = 1u << 0,      /* head of a free buddy block; order in PG_ORDER bits */
	PG_TCACHE = 1u << 1,     /* free, in a per-thread cache */
	PG_SLAB = 1u << 2,       /* kind: holds slab objects */
	PG_PGTABLE = 1u << 3,    /* kind: a page-table page */
	PG_ANON = 1u << 4,       /* kind: anonymous user memory */
	PG_FILE = 1u << 5,       /* kind: page cache of a file */
	PG_SHMEM = 1u << 6,      /* kind: shared memory (shmem/tmpfs) */
	PG_RESERVED = 1u << 7,   /* kind: kept by the machine (the zero page) */
	PG_HEAD = 1u << 8,       /* first frame of an allocated block of order > 0 */
	PG_TAIL = 1u << 9,       /* other frames of such a block */
	PG_DIRTY = 1u << 10,
	PG_REFERENCED = 1u << 11,
	PG_UPTODATE = 1u << 12,
	PG_MLOCKED = 1u << 13,
	PG_ANON_EXCLUSIVE = 1u << 14, /* anon page known to belong to one space only */
	PG_SWAPBACKED = 1u << 15,
	PG_POISONED = 1u << 16,  /* debug builds: free frame filled with ENV_POISON_FREE,
	                            verified when next allocated; the allocator's own bit */
	PG_HOSTMAP = 1u << 17,   /* the frame's slot holds a shared host mapping of a file page
	                            (file/); freeing the frame puts anonymous memory back */
	PG_ACTIVE = 1u << 18,    /* on the active LRU list (page_mark_accessed's second touch) */
	PG_LRU_ADD = 1u << 19,   /* anon page added to the lru_add batch; `prev` holds its place
	                            (machine_lru_add): off the LRU while that batch holds it */
	PG_MLOCK_NEW = 1u << 20, /* new page of a locked region in the mlock batch: off the LRU */
};
#define PG_KIND_MASK (PG_SLAB | PG_PGTABLE | PG_ANON | PG_FILE | PG_SHMEM | PG_RESERVED)
#define PG_ORDER_SHIFT 24
#define PG_ORDER_MASK (0xfu << PG_ORDER_SHIFT)

/* Number of kind flags, and a kind flag's index in as_machine.nr_kind[]. */
#define NR_PAGE_KINDS 6
static inline unsigned page_kind_index(uint32_t kind_flag)
{
	return (unsigned)__builtin_ctz(kind_flag) - 2; /* PG_SLAB is bit 2 */
}

/*
 * Page flags of a mapped page may change under different locks (the fault
 * path, madvise, writeback): change them with atomic or/and on `flags`;
 * plain stores are for frames nobody else can see yet (being allocated,
 * being freed).
 *
 * One per frame; 32 bytes. Fields other than refcount/mapcount belong to the
 * frame's owner: the buddy allocator uses next/prev for free lists; a slab
 * cache uses owner/index/mapcount for its bookkeeping; a page-table page
 * counts its live entries in mapcount; user pages keep their anonymous
 * object or file cache in owner and their page offset there in index; the
 * LRU (later) reuses next/prev.
 */
struct page {
	uint32_t flags;            /* PG_* | order << PG_ORDER_SHIFT */
	_Atomic int32_t refcount;  /* 0 while free */
	_Atomic int32_t mapcount;  /* user mappings; page tables: live entries; slab: objects in use */
	uint32_t index;            /* page offset within owner; slab: free-list head */
	uint32_t next, prev;       /* frame numbers: buddy free list, LRU */
	uintptr_t owner;           /* anon object, file cache, or slab cache */
};
_Static_assert(sizeof(struct page) == 32, "page descriptor must stay 32 bytes");

/* Frame allocation flags. Exactly one kind must be given. */
enum {
	FA_ZERO = 1u << 0,       /* fill the frames with zeroes */
	FA_NOFAIL = 1u << 1,     /* never injected to fail (the zero page at boot) */
	FA_SLAB = PG_SLAB,
	FA_PGTABLE = PG_PGTABLE,
	FA_ANON = PG_ANON,
	FA_FILE = PG_FILE,
	FA_SHMEM = PG_SHMEM,
	FA_RESERVED = PG_RESERVED,
};

struct slab_cache;
struct file_map;
struct file_cache;

/* Per-thread order-0 cache; definition private to machine/frames.c. */
struct frame_tcache;

/*
 * The machine. Legend: [I] immutable after as_machine_new; [Z] zone lock;
 * [T] tcache_lock; [L] slab_list_lock; [A] atomic; [S] the slab cache's own
 * lock.
 */
struct as_machine {
	struct as_machine_config cfg;  /* [I] */
	uint8_t *ram;                  /* [I] host memory of frame 0 */
	uint64_t nframes;              /* [I] */
	struct page *pages;            /* [I] array of nframes descriptors */
	pfn_t zero_pfn;                /* [I] the shared zero page */

	/*
	 * Linux's per-CPU folio batches (the machine is one CPU here); each
	 * entry holds a reference, and a batch moves when it fills up (31) or
	 * the batches drain (machine_lazyfree_drain, Linux's lru_add_drain):
	 *  - lazy: pages MADV_FREE marked, lazily freeable once moved
	 *    (lru_lazyfree);
	 *  - deact: active pages MADV_COLD deactivates, inactive and
	 *    unreferenced once moved (lru_deactivate);
	 *  - mlock: pages unmapped from a locked region, still PG_MLOCKED
	 *    until moved, and new pages of locked regions (mlock_new_folio,
	 *    tagged), off the LRU until moved.
	 * [lazy_lock]
	 */
	pthread_mutex_t lazy_lock;
	struct machine_batch lazy, deact, mlock;
	/*
	 * Linux's per-CPU lru_add folio batch, counted rather than held: new
	 * pages join it (lru_add_seq counts them; an anon page keeps its number
	 * in `prev`) and are off the LRU until it drains or fills up (31), when
	 * lru_add_done catches up. Only whether a page is still in it is
	 * needed (a copy-on-write fault drains a page not yet on the LRU).
	 * Mod 2^32. [A]: every anonymous fault adds, so no lock is taken.
	 */
	_Atomic uint32_t lru_add_seq, lru_add_done;

	pthread_mutex_t zone_lock;
	uint32_t free_head[NR_ORDERS]; /* [Z] free lists, PFN_NONE-terminated */
	uint64_t nr_free[NR_ORDERS];   /* [Z] blocks per order */
	uint8_t *free_order;           /* [Z] per frame: 1 + order if it heads a free block,
	                                  else 0. Coalescing asks this map, never the
	                                  buddy's descriptor, which its owner may be
	                                  writing without the zone lock. */

	pthread_key_t tcache_key;      /* [I] this thread's cache */
	bool tcache_key_valid;         /* [I] */
	pthread_mutex_t tcache_lock;
	struct frame_tcache *tcaches;  /* [T] every live cache of this machine */

	/*
	 * Split counters: a thread with a cache counts its allocations and its
	 * per-kind frame deltas in the cache (no atomic read-modify-write on
	 * the fast path); these fields hold the rest — threads without a
	 * cache, attempts made while injection is armed, and what exiting
	 * threads fold back. frame_pool_totals() adds the parts up. The
	 * number of cached frames lives in the caches only.
	 */
	_Atomic uint64_t nr_kind[NR_PAGE_KINDS]; /* [A] allocated frames per kind (slab, pgtable,
	                                            anon, file, shmem, reserved), global part */
	_Atomic uint64_t allocs;       /* [A] allocation attempts (frames and objects), global part */
	_Atomic uint64_t allocs_folded;/* [A] attempts counted by caches of exited threads (kept
	                                  apart from allocs so that folding never skips fail_at) */
	_Atomic uint64_t failed_allocs;/* [A] */
	_Atomic uint64_t fail_at;      /* [A] global allocs value at which to fail; 0 = never.
	                                  While armed every attempt counts globally. */
	_Atomic int64_t committed_pages; /* [A] vm_committed_as: pages charged by all spaces */
	/*
	 * hugetlbfs pools, one per huge page size (mm/hugetlb.c owns them):
	 * [0] 2 MiB, [1] 1 GiB. total from the config; free pages not in use;
	 * resv of the free ones promised to mappings (HugePages_Rsvd).
	 * resv <= free <= total. [Z]
	 */
	struct { uint64_t total, free, resv; } huge_pool[2];

	/* Slab caches for the library's own objects, created with the machine. */
	struct slab_cache *caches;     /* [I] array of MC_NR, see machine_cache_specs */
	pthread_mutex_t slab_list_lock;
	struct slab_cache *slab_list;  /* [L] slab_list_lock: every cache created on this machine */

	/*
	 * Files (file/ owns these; the machine only creates and destroys the
	 * lock and checks the lists are empty at teardown). [F] files_lock.
	 */
	pthread_mutex_t files_lock;
	/*
	 * What Linux's page cache would still know of a host file's pages after
	 * aspace dropped its cache (the file's last region went): their LRU
	 * flags and PG_reclaim, given back when the page is cached again
	 * (file/cache.c). A ring; an old entry is forgotten. [G] ghost_lock, a
	 * leaf lock.
	 */
	pthread_mutex_t ghost_lock;
	struct file_ghost {
		uint64_t dev, ino, pgoff;
		uint32_t flags, marks;     /* PG_REFERENCED|PG_ACTIVE; FILE_PAGE_RECLAIM */
	} ghosts[MACHINE_GHOSTS];
	unsigned ghost_next;
	struct file_map *file_maps;    /* [F] every open file regions map */
	struct file_cache *file_caches;/* [F] every page cache object */
	_Atomic int64_t nr_host_fds;   /* [A] host descriptors the file objects hold */
	_Atomic int64_t nr_file_caches;/* [A] page cache objects alive */
	_Atomic uint64_t file_seq;     /* [A] bumped when cached pages were taken away
	                                  (truncation, hole punch): spaces compare it
	                                  with their own to drop stale entries */
	_Atomic uint64_t shmem_ino;    /* [A] last inode number given to a shmem object */
	/* The file layer's validator (file_check), set by it when it makes its first
	 * object, so that machine_check covers page caches and descriptors without
	 * this layer knowing their types. [A] */
	int (*_Atomic file_checker)(struct as_machine *m, char *buf, size_t len);
};

/*
 * The object caches every machine has. Their object sizes come from the
 * subsystems that own the types (src/mm/caches.c), so that this layer needs
 * none of their headers. as_machine_new creates them all; as_machine_free
 * destroys them (panicking if an object is still in use).
 */
enum machine_cache {
	MC_MM,      /* struct as_mm */
	MC_VMA,     /* struct vm_area */
	MC_ANON,    /* struct anon_obj */
	MC_FILE,    /* struct file_map */
	MC_FCACHE,  /* struct file_cache */
	MC_FNODE,   /* page cache index nodes (file/cache.c) */
	MC_NR
};
struct machine_cache_spec {
	const char *name;
	size_t size, align;
};
extern const struct machine_cache_spec machine_cache_specs[MC_NR] AS_INTERNAL;

/* ---- Frames ---- */

static inline void *frame_to_host(const struct as_machine *m, pfn_t pfn)
{
	return m->ram + ((uint64_t)pfn << PAGE_SHIFT);
}

static inline pfn_t host_to_frame(const struct as_machine *m, const void *p)
{
	return (pfn_t)(((const uint8_t *)p - m->ram) >> PAGE_SHIFT);
}

static inline struct page *frame_page(const struct as_machine *m, pfn_t pfn)
{
	return &m->pages[pfn];
}

/*
 * folio_mark_accessed with the classic two-list LRU (this host has no
 * MGLRU): a first touch sets PG_REFERENCED; a second one moves the page to
 * the active list and clears PG_REFERENCED again; an active page only
 * gets PG_REFERENCED back; an unevictable one (mlocked: the caller knows
 * from the region it touches the page through) stays as it is. smaps'
 * Referenced: counts PTE_A or PG_REFERENCED.
 */
static inline void page_mark_accessed(struct page *pg, bool unevictable)
{
	uint32_t f = __atomic_load_n(&pg->flags, __ATOMIC_RELAXED);

	if (!(f & PG_REFERENCED))
		__atomic_fetch_or(&pg->flags, PG_REFERENCED, __ATOMIC_RELAXED);
	else if (!unevictable && !(f & (PG_MLOCKED | PG_ACTIVE))) {
		/* Two steps, each idempotent: racing touches can't undo each other. */
		__atomic_fetch_or(&pg->flags, PG_ACTIVE, __ATOMIC_RELAXED);
		__atomic_fetch_and(&pg->flags, ~(uint32_t)PG_REFERENCED, __ATOMIC_RELAXED);
	}
}

static inline pfn_t page_to_frame(const struct as_machine *m, const struct page *pg)
{
	return (pfn_t)(pg - m->pages);
}

/* The order recorded in a descriptor (free block heads and PG_HEAD pages). */
static inline unsigned page_order(const struct page *pg)
{
	return (pg->flags & PG_ORDER_MASK) >> PG_ORDER_SHIFT;
}

/*
 * Allocate a block of 2^order frames with refcount 1 and the kind given in
 * `fa`. PFN_NONE when the pool has no such block or an injected failure
 * fires. Order 0 goes through the calling thread's cache.
 */
pfn_t frame_alloc(struct as_machine *m, unsigned order, unsigned fa) AS_INTERNAL AS_MUST_CHECK;

/* Free a block allocated by frame_alloc (refcount must have reached 0 or be 1). */
void frame_free(struct as_machine *m, pfn_t pfn, unsigned order) AS_INTERNAL;

/* Reference counting of allocated frames; the last put frees the frame (order from the descriptor). */
static inline void frame_get(struct as_machine *m, pfn_t pfn)
{
	int32_t old = atomic_fetch_add_explicit(&m->pages[pfn].refcount, 1, memory_order_relaxed);
	ENV_BUG_ON(old <= 0);
}
void frame_put(struct as_machine *m, pfn_t pfn) AS_INTERNAL;

/*
 * The allocation gate shared by frames and slab objects: counts the attempt
 * and tells whether an injected failure fires now.
 */
bool machine_alloc_should_fail(struct as_machine *m) AS_INTERNAL;

/*
 * MADV_FREE's lazy-free batch: add an anonymous, swap-backed page (taking a
 * reference); a full batch is moved at once: its pages stop being
 * swap-backed (smaps LazyFree) and the references are dropped. Drained
 * where Linux drains its LRU batches: at each MADV_FREE of a region,
 * munmap and exit.
 */
void machine_lazyfree_add(struct as_machine *m, pfn_t pfn) AS_INTERNAL;
void machine_lazyfree_drain(struct as_machine *m) AS_INTERNAL;
/* folio_deactivate of an active page: inactive and unreferenced when the batches next move. */
void machine_deactivate_add(struct as_machine *m, pfn_t pfn) AS_INTERNAL;
/* A page leaves a locked region: it is munlocked when the batches next drain. */
void machine_munlock_add(struct as_machine *m, pfn_t pfn) AS_INTERNAL;
/*
 * A new page joins the LRU through a per-CPU batch (folio_add_lru_vma):
 * a page of a locked region through the mlock batch (mlock_new_folio: it is
 * mlocked at once, PG_MLOCK_NEW until the batch moves), any other through
 * the lru_add batch (PG_LRU_ADD; shmem pages are only counted).
 */
void machine_lru_add(struct as_machine *m, pfn_t pfn, bool locked) AS_INTERNAL;
/* Move the lru_add batch alone, as when it fills up (for the oracle: folios the harness adds). */
void machine_lru_add_flush(struct as_machine *m) AS_INTERNAL;
/* Is pg still in a per-CPU batch, off the LRU (!folio_test_lru)? */
bool machine_page_off_lru(struct as_machine *m, const struct page *pg) AS_INTERNAL;

/* Return this thread's cached frames to the buddy lists. */
void frame_tcache_flush(struct as_machine *m) AS_INTERNAL;

/*
 * Validator of the whole machine (frame pool, zero page, every slab cache);
 * returns 0 or -EUCLEAN, describing the problem in buf (-ENOMEM if the
 * checker cannot get host memory). The machine must be quiescent.
 */
int machine_check(struct as_machine *m, char *buf, size_t len) AS_INTERNAL AS_MUST_CHECK;

/* The frame pool's life cycle, for machine.c (m->nframes, ram and pages set). */
int frame_pool_init(struct as_machine *m) AS_INTERNAL AS_MUST_CHECK;
/* Frees every thread's cache object, deletes the key, destroys the locks. */
void frame_pool_destroy(struct as_machine *m) AS_INTERNAL;
/* Give every thread's cached frames back (quiescence, see above). */
void frame_tcache_drain_all(struct as_machine *m) AS_INTERNAL;
/* Exact totals of the split counters (exact once the machine is quiescent). */
struct frame_totals {
	uint64_t kind[NR_PAGE_KINDS]; /* allocated frames per kind */
	uint64_t cached;              /* free frames in per-thread caches */
	uint64_t allocs;              /* allocation attempts */
};
void frame_pool_totals(struct as_machine *m, struct frame_totals *t) AS_INTERNAL;
/* Free blocks per order and free frames in the buddy lists, under the zone lock. */
void frame_pool_counts(struct as_machine *m, uint64_t free_blocks[NR_ORDERS],
		       uint64_t *free_frames) AS_INTERNAL;
/* The buddy-list, thread-cache and descriptor part of machine_check. */
int frame_pool_check(struct as_machine *m, char *buf, size_t len) AS_INTERNAL AS_MUST_CHECK;

/* ---- Slab caches ---- */

/*
 * A cache of fixed-size objects carved from order-`order` frame blocks.
 * Legend: [I] immutable after slab_cache_init; [S] lock.
 */
struct slab_cache {
	const char *name;            /* [I] */
	struct as_machine *m;        /* [I] */
	uint32_t obj_size;           /* [I] rounded up to align */
	uint32_t objs_per_slab;      /* [I] */
	uint32_t order;              /* [I] frames per slab = 1 << order */
	pthread_mutex_t lock;
	pfn_t partial;               /* [S] slabs with free and used objects */
	pfn_t full;                  /* [S] slabs with no free object */
	pfn_t empty;                 /* [S] at most one slab with no object in use */
	uint64_t nr_slabs;           /* [S] */
	uint64_t nr_active;          /* [S] objects in use */
	struct slab_cache *next;     /* [T] in m->slab_list */
};

/* 0 or -ENOMEM/-EINVAL. Objects are at least 8-byte aligned. */
int slab_cache_init(struct slab_cache *c, struct as_machine *m, const char *name,
		    size_t obj_size, size_t align) AS_INTERNAL AS_MUST_CHECK;
/* Panics if objects are still in use; frees every slab. */
void slab_cache_destroy(struct slab_cache *c) AS_INTERNAL;
/* An object, junk-filled in debug builds; NULL on failure. */
void *slab_alloc(struct slab_cache *c) AS_INTERNAL AS_MUST_CHECK;
void *slab_zalloc(struct slab_cache *c) AS_INTERNAL AS_MUST_CHECK;
/* Poisoned in debug builds. */
void slab_free(struct slab_cache *c, void *obj) AS_INTERNAL;
/* Give the kept empty slab back to the buddy allocator. */
void slab_cache_shrink(struct slab_cache *c) AS_INTERNAL;
int slab_cache_check(struct slab_cache *c, char *buf, size_t len) AS_INTERNAL;

/* One of the machine's own caches (enum machine_cache). */
static inline struct slab_cache *machine_cache(struct as_machine *m, enum machine_cache which)
{
	return &m->caches[which];
}

#endif
