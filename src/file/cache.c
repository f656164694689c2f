/*
 * The page cache: each file_cache's index of pages by page offset, how
 * pages come in (bound host pages, zeroed shmem frames) and go out
 * (truncation, hole punch, reclaim, the cache's end), and what spaces do
 * when pages they map left the cache. See file.h.
 *
 * The index is a radix tree of 64-slot nodes (6 bits of pgoff per level);
 * the lowest level holds pfn + 1. It grows a level at a time above the
 * root and frees nodes that empty, so every node in it holds something.
 */
#include "file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define FILE_MAX_LEVELS 10 /* 60 bits of pgoff: beyond Linux's MAX_LFS_FILESIZE */

static uint64_t pages_of(uint64_t bytes)
{
	return (bytes >> PAGE_SHIFT) + ((bytes & ~PAGE_MASK) != 0);
}

/* ---- The index ([C]) ---- */

static unsigned slot_of(uint64_t pgoff, unsigned level)
{
	return (unsigned)(pgoff >> (FILE_NODE_SHIFT * (level - 1))) & (FILE_NODE_SLOTS - 1);
}

/* Keys one slot of a node at `level` covers. */
static uint64_t slot_span(unsigned level)
{
	return 1ull << (FILE_NODE_SHIFT * (level - 1));
}

/* Does a tree of `levels` levels reach pgoff? */
static bool index_reaches(unsigned levels, uint64_t pgoff)
{
	return levels > 0 && (pgoff >> (FILE_NODE_SHIFT * levels)) == 0;
}

static struct file_node *node_alloc(struct as_machine *m)
{
	return slab_zalloc(machine_cache(m, MC_FNODE));
}

static void node_free(struct as_machine *m, struct file_node *n)
{
	slab_free(machine_cache(m, MC_FNODE), n);
}

static pfn_t index_lookup(const struct file_cache *c, uint64_t pgoff)
{
	struct file_node *n = c->root;
	uintptr_t v;

	if (!n || !index_reaches(c->levels, pgoff))
		return PFN_NONE;
	for (unsigned l = c->levels; l > 1; l--) {
		n = (struct file_node *)n->slots[slot_of(pgoff, l)];
		if (!n)
			return PFN_NONE;
	}
	v = n->slots[slot_of(pgoff, 1)];
	return v ? (pfn_t)(v - 1) : PFN_NONE;
}

/*
 * Put pfn at pgoff (which holds nothing). Every node the path lacks is
 * allocated before any is linked; growing the tree upwards happens first
 * and leaves a valid tree if what follows fails. 0 or -ENOMEM.
 */
static int index_insert(struct file_cache *c, uint64_t pgoff, pfn_t pfn)
{
	struct file_node *chain[FILE_MAX_LEVELS], *n;
	unsigned missing, l;

	while (c->root && !index_reaches(c->levels, pgoff)) {
		if (c->levels >= FILE_MAX_LEVELS)
			return -ENOMEM;
		n = node_alloc(c->m);
		if (!n)
			return -ENOMEM;
		n->slots[0] = (uintptr_t)c->root;
		n->count = 1;
		c->root = n;
		c->levels++;
	}
	if (!c->root) {
		l = 1;
		while (!index_reaches(l, pgoff))
			l++;
		if (l > FILE_MAX_LEVELS)
			return -ENOMEM;
		missing = l;
		n = NULL;
	} else {
		/* Walk to the lowest existing node on the path. */
		n = c->root;
		for (l = c->levels; l > 1; l--) {
			struct file_node *child = (struct file_node *)n->slots[slot_of(pgoff, l)];

			if (!child)
				break;
			n = child;
		}
		missing = l - 1; /* nodes for levels l-1 .. 1 */
	}
	for (unsigned i = 0; i < missing; i++) {
		chain[i] = node_alloc(c->m);
		if (!chain[i]) {
			while (i-- > 0)
				node_free(c->m, chain[i]);
			return -ENOMEM;
		}
	}
	/* Commit: link the chain bottom-up, then hang it on n (or make it the tree). */
	if (!n) {
		for (unsigned i = 0; i + 1 < missing; i++) {
			unsigned lvl = missing - i; /* chain[i] is at level lvl */

			chain[i]->slots[slot_of(pgoff, lvl)] = (uintptr_t)chain[i + 1];
			chain[i]->count = 1;
		}
		chain[missing - 1]->slots[slot_of(pgoff, 1)] = (uintptr_t)pfn + 1;
		chain[missing - 1]->count = 1;
		c->root = chain[0];
		c->levels = missing;
		return 0;
	}
	for (unsigned i = 0; i < missing; i++) {
		unsigned lvl = l - 1 - i;
		struct file_node *child = chain[i];

		n->slots[slot_of(pgoff, lvl + 1)] = (uintptr_t)child;
		n->count++;
		n = child;
	}
	ENV_BUG_ON(n->slots[slot_of(pgoff, 1)] != 0);
	n->slots[slot_of(pgoff, 1)] = (uintptr_t)pfn + 1;
	n->count++;
	return 0;
}

/* Remove pgoff from the subtree n at `level`; frees nodes that empty. Returns the value or 0. */
static uintptr_t remove_rec(struct file_cache *c, struct file_node *n, unsigned level, uint64_t pgoff)
{
	unsigned s = slot_of(pgoff, level);
	uintptr_t v;

	if (level == 1) {
		v = n->slots[s];
		if (v) {
			n->slots[s] = 0;
			n->count--;
		}
		return v;
	}
	if (!n->slots[s])
		return 0;
	v = remove_rec(c, (struct file_node *)n->slots[s], level - 1, pgoff);
	if (v && ((struct file_node *)n->slots[s])->count == 0) {
		node_free(c->m, (struct file_node *)n->slots[s]);
		n->slots[s] = 0;
		n->count--;
	}
	return v;
}

static pfn_t index_remove(struct file_cache *c, uint64_t pgoff)
{
	uintptr_t v;

	if (!c->root || !index_reaches(c->levels, pgoff))
		return PFN_NONE;
	v = remove_rec(c, c->root, c->levels, pgoff);
	if (c->root->count == 0) {
		node_free(c->m, c->root);
		c->root = NULL;
		c->levels = 0;
	}
	return v ? (pfn_t)(v - 1) : PFN_NONE;
}

/* The first entry at or after `from` in the subtree n (covering keys from base). */
static bool next_rec(const struct file_node *n, unsigned level, uint64_t base, uint64_t from,
		     uint64_t *key, pfn_t *pfn)
{
	uint64_t span = slot_span(level);
	unsigned first = from > base ? (unsigned)((from - base) / span) : 0;

	for (unsigned i = first; i < FILE_NODE_SLOTS; i++) {
		uint64_t sbase = base + i * span;

		if (!n->slots[i])
			continue;
		if (level == 1) {
			*key = sbase;
			*pfn = (pfn_t)(n->slots[i] - 1);
			return true;
		}
		if (next_rec((const struct file_node *)n->slots[i], level - 1, sbase, from, key, pfn))
			return true;
	}
	return false;
}

static bool index_next(const struct file_cache *c, uint64_t from, uint64_t *key, pfn_t *pfn)
{
	if (!c->root || !index_reaches(c->levels, from))
		return false;
	return next_rec(c->root, c->levels, 0, from, key, pfn);
}

/* ---- Pages in and out ([C]) ---- */

/* Take pfn out of the index at pgoff and drop the cache's reference. */
static void cache_drop_locked(struct file_cache *c, uint64_t pgoff, pfn_t pfn)
{
	struct page *pg = frame_page(c->m, pfn);

	ENV_BUG_ON(index_remove(c, pgoff) != pfn);
	c->nr_pages--;
	pg->owner = 0;
	frame_put(c->m, pfn);
}

/* Drop every cached page at or after pgoff `from`; returns how many went. */
static uint64_t cache_drop_from_locked(struct file_cache *c, uint64_t from, uint64_t to)
{
	uint64_t key, n = 0;
	pfn_t pfn;

	while (from < to && index_next(c, from, &key, &pfn) && key < to) {
		cache_drop_locked(c, key, pfn);
		from = key + 1;
		n++;
	}
	return n;
}

/*
 * The cache changed under its spaces' entries: bump the machine's file_seq
 * so that every space catches up, and stamp the cache with it so that a
 * space catching up skips the regions of caches that did not change. The
 * stamp reads "changing" (UINT64_MAX) until the bump is made, so a space
 * that sees the new file_seq never sees the old stamp. Caller holds c->lock.
 */
static void cache_changed_locked(struct file_cache *c)
{
	uint64_t s;

	atomic_store_explicit(&c->changed_seq, UINT64_MAX, memory_order_relaxed);
	s = atomic_fetch_add_explicit(&c->m->file_seq, 1, memory_order_acq_rel) + 1;
	atomic_store_explicit(&c->changed_seq, s, memory_order_release);
}

/* The host told us the file is now `size` bytes: a shrink takes cached pages away. */
static void cache_set_size_locked(struct file_cache *c, uint64_t size)
{
	uint64_t old_pages = pages_of(c->size), new_pages = pages_of(size);

	c->size = size;
	if (new_pages < old_pages) {
		file_ghosts_forget(c->m, c->dev, c->ino, new_pages);
		cache_drop_from_locked(c, new_pages, UINT64_MAX);
		/* Even with no page cached, spaces may hold private copies past the end. */
		cache_changed_locked(c);
	}
}

void file_cache_saw_size(struct file_cache *c, uint64_t size)
{
	pthread_mutex_lock(&c->lock);
	cache_set_size_locked(c, size);
	pthread_mutex_unlock(&c->lock);
}

uint64_t file_cache_size(struct file_cache *c)
{
	uint64_t size;

	if (!c->host) {
		pthread_mutex_lock(&c->lock);
		size = c->size;
		pthread_mutex_unlock(&c->lock);
		return size;
	}
	pthread_mutex_lock(&c->lock);
	if (env_file_size(c->fd, &size) == 0)
		cache_set_size_locked(c, size);
	size = c->size;
	pthread_mutex_unlock(&c->lock);
	return size;
}

/* Residency of [pgoff, pgoff + n) in the host's page cache; on failure, say resident. */
static void resident_locked(struct file_cache *c, uint64_t pgoff, size_t n, unsigned char *vec)
{
	if (env_file_resident(c->fd, pgoff << PAGE_SHIFT, n, vec, &c->view, &c->view_off,
			      &c->view_len) != 0)
		memset(vec, 1, n);
}

/*
 * The LRU flags a host folio had before our bind, from what the host shows
 * after it (ENV_HPF_*): binding populates the slot through GUP, which is one
 * folio_mark_accessed (probed: R0 A0 shows as R1 A0, R1 A0 as R0 A1, an
 * active folio as R1 A1). Undo that touch. R0 A0 is a referenced folio on
 * the LRU whose activation still waits in a per-CPU batch; an active folio
 * seen referenced is taken as active only (the fewest earlier touches that
 * explain it).
 */
static uint32_t lru_flags_before_bind(unsigned hpf)
{
	if (!(hpf & ENV_HPF_PRESENT))
		return 0;
	if (!(hpf & ENV_HPF_ACTIVE))
		return hpf & ENV_HPF_REFERENCED ? 0 : PG_REFERENCED;
	return hpf & ENV_HPF_REFERENCED ? PG_ACTIVE : PG_REFERENCED;
}

/*
 * Remember the host folio of each newly bound page among pfns[0..n)
 * (PFN_NONE entries skipped): its place in a large folio, and the
 * PG_referenced/PG_active it already carries from whoever touched it before
 * (the page cache is the host's, shared with every process). Best effort:
 * without access to kpageflags (not root) pages start with neither flag.
 */
/* ---- What the page cache keeps of a file aspace stopped caching (machine.h, ghosts) ---- */

/* Remember the LRU flags and PG_reclaim of every page of a dying host cache. Caller holds c->lock. */
static void ghosts_save_locked(struct file_cache *c)
{
	struct as_machine *m = c->m;
	uint64_t from = 0, key;
	pfn_t pfn;

	pthread_mutex_lock(&m->ghost_lock);
	while (index_next(c, from, &key, &pfn)) {
		const struct page *pg = frame_page(m, pfn);
		uint32_t flags = pg->flags & (PG_REFERENCED | PG_ACTIVE);
		uint32_t marks = file_page_marks(pg) & FILE_PAGE_RECLAIM;

		if (flags | marks)
			m->ghosts[m->ghost_next++ % MACHINE_GHOSTS] =
				(struct file_ghost){ c->dev, c->ino, key, flags, marks };
		from = key + 1;
	}
	pthread_mutex_unlock(&m->ghost_lock);
}

/* A page cached again takes what was remembered of it, if anything. */
static void ghost_apply(struct file_cache *c, uint64_t pgoff, struct page *pg)
{
	struct as_machine *m = c->m;

	pthread_mutex_lock(&m->ghost_lock);
	for (unsigned i = 0; i < MACHINE_GHOSTS; i++) {
		struct file_ghost *g = &m->ghosts[i];

		if (!(g->flags | g->marks) || g->pgoff != pgoff || g->ino != c->ino || g->dev != c->dev)
			continue;
		__atomic_fetch_and(&pg->flags, ~(uint32_t)(PG_REFERENCED | PG_ACTIVE), __ATOMIC_RELAXED);
		__atomic_fetch_or(&pg->flags, g->flags, __ATOMIC_RELAXED);
		if (g->marks)
			(void)file_page_change_marks(pg, 0, g->marks);
		*g = (struct file_ghost){ 0 };
		break;
	}
	pthread_mutex_unlock(&m->ghost_lock);
}

void file_ghosts_forget(struct as_machine *m, uint64_t dev, uint64_t ino, uint64_t from_pgoff)
{
	pthread_mutex_lock(&m->ghost_lock);
	for (unsigned i = 0; i < MACHINE_GHOSTS; i++) {
		struct file_ghost *g = &m->ghosts[i];

		if (g->dev == dev && g->ino == ino && g->pgoff >= from_pgoff)
			*g = (struct file_ghost){ 0 };
	}
	pthread_mutex_unlock(&m->ghost_lock);
}

static void learn_folios_locked(struct file_cache *c, const pfn_t *pfns, size_t n)
{
	void *va[PT_ENTRIES];
	uint32_t before[PT_ENTRIES], nr[PT_ENTRIES];
	unsigned hpf[PT_ENTRIES];
	size_t k = 0, idx[PT_ENTRIES];

	for (size_t i = 0; i < n && k < PT_ENTRIES; i++) {
		if (pfns[i] == PFN_NONE)
			continue;
		idx[k] = i;
		va[k++] = frame_to_host(c->m, pfns[i]);
	}
	if (k && env_host_folios(va, k, before, nr, hpf) == 0) {
		for (size_t j = 0; j < k; j++) {
			struct page *pg = frame_page(c->m, pfns[idx[j]]);
			uint32_t lru = lru_flags_before_bind(hpf[j]);

			file_page_set_folio(pg, before[j], nr[j]);
			if (lru)
				__atomic_fetch_or(&pg->flags, lru, __ATOMIC_RELAXED);
		}
	}
	/* What aspace knew of a page before its cache went beats the host's view. */
	if (!c->shmem)
		for (size_t j = 0; j < k; j++)
			ghost_apply(c, frame_page(c->m, pfns[idx[j]])->index, frame_page(c->m, pfns[idx[j]]));
}

/*
 * A new page for pgoff in the index, holding only the cache's reference:
 * a bound slot of the host file, or a zeroed frame of a shmem object.
 * 0, -ENOMEM, or the host's error from binding.
 */
static int cache_add_locked(struct file_cache *c, uint64_t pgoff, pfn_t *out, int advice)
{
	struct as_machine *m = c->m;
	unsigned fa = (c->shmem ? FA_SHMEM : FA_FILE) | (c->host ? 0 : FA_ZERO);
	pfn_t pfn = frame_alloc(m, 0, fa);
	struct page *pg;
	int rc;

	if (pfn == PFN_NONE)
		return -ENOMEM;
	pg = frame_page(m, pfn);
	pg->owner = (uintptr_t)c;
	pg->index = (uint32_t)pgoff;
	if (c->shmem)
		pg->flags |= PG_SWAPBACKED;
	if (c->host) {
		rc = env_file_bind_page(frame_to_host(m, pfn), c->fd, pgoff << PAGE_SHIFT,
					c->fd_writable, false, advice);
		if (rc) {
			frame_put(m, pfn);
			return rc;
		}
		pg->flags |= PG_HOSTMAP;
	}
	rc = index_insert(c, pgoff, pfn);
	if (rc) {
		frame_put(m, pfn); /* unbinds */
		return rc;
	}
	c->nr_pages++;
	/* A new shmem folio joins the LRU through the lru_add batch (a host file's are the host's). */
	if (!c->host)
		machine_lru_add(m, pfn, false);
	*out = pfn;
	return 0;
}

enum file_get file_cache_get_page(struct file_cache *c, uint64_t pgoff, pfn_t *out, bool *major,
				  int advice)
{
	struct as_machine *m = c->m;
	unsigned char res;
	pfn_t pfn;
	int rc;

	*major = false;
	for (int attempt = 0;; attempt++) {
		pthread_mutex_lock(&c->lock);
		if (pgoff >= pages_of(c->size)) {
			pthread_mutex_unlock(&c->lock);
			return FILE_GET_SIGBUS;
		}
		pfn = index_lookup(c, pgoff);
		if (pfn != PFN_NONE) {
			frame_get(m, pfn);
			pthread_mutex_unlock(&c->lock);
			*out = pfn;
			return FILE_GET_OK;
		}
		/* The host reads a page that isn't in its cache: Linux's VM_FAULT_MAJOR. */
		if (c->host && !c->shmem && attempt == 0) {
			resident_locked(c, pgoff, 1, &res);
			*major = !res;
		}
		rc = cache_add_locked(c, pgoff, &pfn, advice);
		if (rc == 0) {
			if (c->host)
				learn_folios_locked(c, &pfn, 1);
			frame_get(m, pfn);
			pthread_mutex_unlock(&c->lock);
			*out = pfn;
			return FILE_GET_OK;
		}
		pthread_mutex_unlock(&c->lock);
		if (rc != -ENOMEM)
			return FILE_GET_SIGBUS; /* the host can't give us this page */
		if (attempt > 0 || file_reclaim(m, 256) == 0)
			return FILE_GET_OOM;
	}
}

void file_cache_exec_readahead(struct file_cache *c, uint64_t pgoff, uint64_t end_pgoff)
{
	uint64_t end;

	if (!c->host || c->shmem)
		return;
	end = pgoff + (env_file_ra_bytes(c->fd) >> PAGE_SHIFT);
	if (end > end_pgoff)
		end = end_pgoff;
	if (end > pgoff + 1)
		env_file_read_ahead(c->fd, (pgoff + 1) << PAGE_SHIFT, (end - pgoff - 1) << PAGE_SHIFT);
}

void file_cache_mark_accessed(struct file_cache *c, uint64_t pgoff)
{
	pfn_t pfn;

	pthread_mutex_lock(&c->lock);
	pfn = index_lookup(c, pgoff);
	if (pfn != PFN_NONE)
		page_mark_accessed(frame_page(c->m, pfn), false);
	pthread_mutex_unlock(&c->lock);
}

void file_cache_get_cached(struct file_cache *c, uint64_t first, uint64_t last, pfn_t *pfns)
{
	uint64_t n = last - first + 1, end;
	unsigned char res[PT_ENTRIES];
	bool missing = false;

	ENV_BUG_ON(last < first || n > PT_ENTRIES);
	pthread_mutex_lock(&c->lock);
	end = pages_of(c->size);
	for (uint64_t i = 0; i < n; i++) {
		pfns[i] = first + i < end ? index_lookup(c, first + i) : PFN_NONE;
		missing |= pfns[i] == PFN_NONE && first + i < end;
	}
	if (missing && c->host) {
		pfn_t fresh[PT_ENTRIES];

		resident_locked(c, first, (size_t)n, res);
		for (uint64_t i = 0; i < n; i++) {
			fresh[i] = PFN_NONE;
			if (pfns[i] == PFN_NONE && first + i < end && res[i] &&
			    cache_add_locked(c, first + i, &fresh[i], 0) == 0)
				pfns[i] = fresh[i];
		}
		learn_folios_locked(c, fresh, (size_t)n);
	}
	for (uint64_t i = 0; i < n; i++)
		if (pfns[i] != PFN_NONE)
			frame_get(c->m, pfns[i]);
	pthread_mutex_unlock(&c->lock);
}

int file_page_copy(void *dst, const void *src, size_t n, bool from_slot)
{
	return env_file_copy(dst, src, n, from_slot);
}

/* ---- The cache object ---- */

int file_cache_new(struct as_machine *m, bool host, bool shmem, int fd, bool fd_writable,
		   uint64_t size, uint64_t dev, uint64_t ino, struct file_cache **out)
{
	struct file_cache *c = slab_zalloc(machine_cache(m, MC_FCACHE));

	if (!c)
		return -ENOMEM;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		slab_free(machine_cache(m, MC_FCACHE), c);
		return -ENOMEM;
	}
	c->m = m;
	c->refs = 1;
	c->host = host;
	c->shmem = shmem;
	c->fd = fd;
	c->fd_writable = fd_writable;
	c->size = size;
	c->dev = dev;
	c->ino = ino;
	atomic_fetch_add(&m->nr_file_caches, 1);
	*out = c;
	return 0;
}

void file_cache_destroy(struct file_cache *c)
{
	struct as_machine *m = c->m;
	uint64_t dropped;

	pthread_mutex_lock(&c->lock);
	if (c->host && !c->shmem)
		ghosts_save_locked(c);
	dropped = cache_drop_from_locked(c, 0, UINT64_MAX);
	ENV_BUG_ON(c->root || c->nr_pages);
	env_file_view_release(c->view, c->view_len);
	c->view = NULL;
	pthread_mutex_unlock(&c->lock);
	/*
	 * An aspace shmem object's last reference truncates it: releasing its
	 * folios drains the LRU batches. A host tmpfs file lives on.
	 */
	if (c->shmem && !c->host && dropped)
		machine_lazyfree_drain(m);
	if (c->fd >= 0) {
		env_file_close(c->fd);
		atomic_fetch_sub(&m->nr_host_fds, 1);
	}
	pthread_mutex_destroy(&c->lock);
	atomic_fetch_sub(&m->nr_file_caches, 1);
	slab_free(machine_cache(m, MC_FCACHE), c);
}

/* Make the cache's descriptor writable (a dup of wfd) and rebind its pages writable. */
int file_cache_make_writable(struct file_cache *c, int wfd)
{
	uint64_t from = 0, key;
	int nfd, old;
	pfn_t pfn;

	pthread_mutex_lock(&c->lock);
	if (c->fd_writable || !c->host) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	nfd = env_file_dup(wfd);
	if (nfd < 0) {
		pthread_mutex_unlock(&c->lock);
		return nfd;
	}
	atomic_fetch_add(&c->m->nr_host_fds, 1);
	old = c->fd;
	c->fd = nfd;
	c->fd_writable = true;
	while (index_next(c, from, &key, &pfn)) {
		/* MAP_FIXED over the same file page: contents can't change, only the rights. */
		if (env_file_bind_page(frame_to_host(c->m, pfn), nfd, key << PAGE_SHIFT, true, true, 0) != 0)
			ENV_PANIC("cannot make cached page %llu of a file writable",
				  (unsigned long long)key);
		from = key + 1;
	}
	pthread_mutex_unlock(&c->lock);
	env_file_close(old);
	atomic_fetch_sub(&c->m->nr_host_fds, 1);
	return 0;
}

bool file_writenotify(const struct vm_area *v)
{
	const struct file_cache *c = v->file ? v->file->cache : NULL;

	return c && c->host && !c->shmem;
}

/* ---- Spaces catching up with the caches ---- */

#define SYNC_BATCH 64

struct sync_scan {
	struct as_mm *mm;
	struct vm_area *v;
	struct file_cache *c;
	uint64_t end_pages;              /* pages inside the file */
	bool wp_clean;                   /* a shared region whose writes are noticed */
	uint64_t va[SYNC_BATCH];
	pte_t pte[SYNC_BATCH];
	bool clean[SYNC_BATCH];          /* write-protect and clean, rather than remove */
	unsigned n;
};

/*
 * Is the entry at va stale (its page left the cache, or lies past the end
 * of the file: remove it), or a writable or dirty entry of a page that
 * writeback cleaned (msync of another mapping: write-protect it, as
 * folio_mkclean does in every shared mapping of the folio)?
 */
static int sync_scan_pte(void *ctx, uint64_t va, pte_t *ptep)
{
	struct sync_scan *s = ctx;
	pte_t e = *ptep;
	uint64_t pgoff = s->v->pgoff + ((va - s->v->start) >> PAGE_SHIFT);
	struct page *pg;
	bool stale;

	if (!pte_present(e) || (e & PTE_SPECIAL))
		return 0;
	pg = frame_page(s->mm->m, pte_pfn(e));
	if (pgoff >= s->end_pages)
		stale = true; /* anonymous copies too, as truncate_pagecache's even_cows */
	else
		stale = !(pg->flags & PG_ANON) && index_lookup(s->c, pgoff) != pte_pfn(e);
	if (!stale && (!s->wp_clean || (pg->flags & PG_ANON) || !(e & (PTE_RW | PTE_D)) ||
		       file_page_dirty(pg)))
		return 0;
	s->va[s->n] = va;
	s->pte[s->n] = e;
	s->clean[s->n] = !stale;
	return ++s->n == SYNC_BATCH;
}

/* Clear the entry at va if it still is `expect`; then shoot down and release. */
static void zap_if_same(struct as_mm *mm, uint64_t va, pte_t expect)
{
	pte_t *ptep, old = 0;

	pthread_mutex_lock(&mm->pt_lock);
	ptep = pgtable_walk(&mm->pt, va);
	if (ptep && __atomic_load_n(ptep, __ATOMIC_RELAXED) == expect)
		old = pgtable_clear(&mm->pt, ptep);
	pthread_mutex_unlock(&mm->pt_lock);
	if (!old)
		return;
	mm_flush_tlb_range(mm, va, va + PAGE_SIZE);
	mm_release_pte(mm, va, old);
}

/* Write-protect and clean the entry at va if it still is `expect`; then shoot down. */
static void clean_if_same(struct as_mm *mm, uint64_t va, pte_t expect)
{
	pte_t *ptep;
	bool changed = false;

	pthread_mutex_lock(&mm->pt_lock);
	ptep = pgtable_walk(&mm->pt, va);
	if (ptep && __atomic_load_n(ptep, __ATOMIC_RELAXED) == expect) {
		pgtable_set(&mm->pt, ptep, expect & ~(PTE_RW | PTE_D));
		changed = true;
	}
	pthread_mutex_unlock(&mm->pt_lock);
	if (changed)
		mm_flush_tlb_range(mm, va, va + PAGE_SIZE);
}

static void sync_region(struct as_mm *mm, struct vm_area *v)
{
	struct sync_scan s = { .mm = mm, .v = v, .c = v->file->cache };
	uint64_t from = v->start;

	s.wp_clean = (v->flags & VM_SHARED) && file_writenotify(v);
	for (;;) {
		int more;

		s.n = 0;
		pthread_mutex_lock(&s.c->lock);
		s.end_pages = pages_of(s.c->size);
		pthread_mutex_lock(&mm->pt_lock);
		more = pgtable_for_each(&mm->pt, from, v->end, sync_scan_pte, &s);
		pthread_mutex_unlock(&mm->pt_lock);
		pthread_mutex_unlock(&s.c->lock);
		for (unsigned i = 0; i < s.n; i++) {
			if (s.clean[i])
				clean_if_same(mm, s.va[i], s.pte[i]);
			else
				zap_if_same(mm, s.va[i], s.pte[i]);
		}
		if (!more)
			break;
		from = s.va[s.n - 1] + PAGE_SIZE;
	}
}

void file_sync_mm_locked(struct as_mm *mm)
{
	uint64_t seq = atomic_load_explicit(&mm->m->file_seq, memory_order_acquire);
	uint64_t seen = atomic_load_explicit(&mm->file_seen, memory_order_relaxed);

	vma_for_each(&mm->tree, v) {
		if (v->file && v->file->cache &&
		    atomic_load_explicit(&v->file->cache->changed_seq, memory_order_acquire) > seen)
			sync_region(mm, v);
	}
	atomic_store_explicit(&mm->file_seen, seq, memory_order_release);
}

bool file_copy_failed(struct as_mm *mm, uint64_t addr, pfn_t pfn)
{
	struct vm_area *v = vma_lookup(&mm->tree, addr);
	pte_t *ptep;
	bool gone;

	if (v && v->file && v->file->cache)
		(void)file_cache_size(v->file->cache);
	if (file_sync_pending(mm))
		return true;
	pthread_mutex_lock(&mm->pt_lock);
	ptep = pgtable_walk(&mm->pt, addr & PAGE_MASK);
	gone = !ptep || !pte_present(*ptep) || pte_pfn(*ptep) != pfn;
	pthread_mutex_unlock(&mm->pt_lock);
	return gone;
}

/* ---- Reclaim ---- */

uint64_t file_reclaim(struct as_machine *m, uint64_t want)
{
	uint64_t freed = 0;

	pthread_mutex_lock(&m->files_lock);
	for (struct file_cache *c = m->file_caches; c && freed < want; c = c->next) {
		uint64_t from = 0, key;
		pfn_t pfn;

		if (!c->host) /* a shmem object's pages are its only copy */
			continue;
		pthread_mutex_lock(&c->lock);
		while (freed < want && index_next(c, from, &key, &pfn)) {
			from = key + 1;
			if (atomic_load(&frame_page(m, pfn)->refcount) != 1)
				continue;
			cache_drop_locked(c, key, pfn);
			freed++;
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&m->files_lock);
	return freed;
}

bool file_pageout_locked(struct file_cache *c, pfn_t pfn)
{
	struct page *pg = frame_page(c->m, pfn);
	uint64_t pgoff = pg->index;
	bool dirty = file_page_dirty(pg) || (pg->flags & PG_DIRTY);

	if (pg->owner != (uintptr_t)c || index_lookup(c, pgoff) != pfn ||
	    atomic_load(&pg->refcount) != 1 || atomic_load(&pg->mapcount) != 0)
		return false;
	if (c->host) {
		void *va = frame_to_host(c->m, pfn);
		unsigned hf = 0;

		if (c->shmem)
			return false;
		/* The host's dirty flag is the truth when it tells (writes, writeback). */
		if (env_host_page_flags(&va, 1, &hf) == 0 && (hf & ENV_HPF_PRESENT))
			dirty = (hf & ENV_HPF_DIRTY) != 0;
	}
	if (dirty) {
		/*
		 * Kept, marked for reclaim once written (shrink_folio_list's
		 * folio_set_reclaim); shmem's writeout, with no swap, asks for
		 * activation instead and pageout() clears the mark again.
		 */
		if (c->host && !c->shmem)
			(void)file_page_change_marks(pg, 0, FILE_PAGE_RECLAIM);
		return false;
	}
	cache_drop_locked(c, pgoff, pfn); /* frees the frame: the slot is unbound */
	if (c->host)
		env_file_drop_cached(c->fd, pgoff << PAGE_SHIFT, PAGE_SIZE);
	return true;
}

/* ---- What system calls ask of the cache ---- */

void file_mincore(struct vm_area *v, uint64_t start, uint64_t end, unsigned char *vec)
{
	struct file_cache *c = v->file ? v->file->cache : NULL;
	uint64_t pgoff = v->pgoff + ((start - v->start) >> PAGE_SHIFT);
	uint64_t n = (end - start) >> PAGE_SHIFT, filled = 0;

	if (!c) {
		memset(vec, 0, n);
		return;
	}
	pthread_mutex_lock(&c->lock);
	while (filled < n) {
		size_t chunk = n - filled > PT_ENTRIES ? PT_ENTRIES : (size_t)(n - filled);

		if (c->host)
			resident_locked(c, pgoff + filled, chunk, vec + filled);
		for (size_t i = 0; i < chunk; i++)
			if (!c->host || !vec[filled + i])
				vec[filled + i] = index_lookup(c, pgoff + filled + i) != PFN_NONE;
		filled += chunk;
	}
	pthread_mutex_unlock(&c->lock);
}

/*
 * Writeback of the cached pages [first, last) (Linux writes and cleans
 * whole folios: a host folio reaching into the range is cleaned whole).
 * Clears the dirty (and reclaim) marks of every folio with a dirty page;
 * true if there was one. The spaces' entries of those pages are cleaned
 * when they catch up (sync_region). Caller holds c->lock.
 */
static bool writeback_locked(struct file_cache *c, uint64_t first, uint64_t last)
{
	uint64_t end = pages_of(c->size);
	bool cleaned = false;

	if (last > end)
		last = end;
	for (uint64_t pgoff = first; pgoff < last;) {
		pfn_t pfn = index_lookup(c, pgoff);
		uint32_t before, nr;
		uint64_t fstart, fend;
		bool dirty = false;

		if (pfn == PFN_NONE) {
			pgoff++;
			continue;
		}
		file_page_folio(frame_page(c->m, pfn), &before, &nr);
		fstart = pgoff >= before ? pgoff - before : 0;
		fend = fstart + nr;
		/* The folio is dirty if a page of it is; writeback cleans it whole. */
		for (uint64_t i = fstart; i < fend && !dirty; i++)
			dirty = (pfn = index_lookup(c, i)) != PFN_NONE && file_page_dirty(frame_page(c->m, pfn));
		for (uint64_t i = fstart; i < fend && dirty; i++)
			if ((pfn = index_lookup(c, i)) != PFN_NONE)
				file_page_set_dirty(frame_page(c->m, pfn), false);
		cleaned |= dirty;
		pgoff = fend > pgoff ? fend : pgoff + 1;
	}
	return cleaned;
}

int file_msync(struct vm_area *v, uint64_t start, uint64_t end, int flags)
{
	struct file_cache *c = v->file ? v->file->cache : NULL;
	uint64_t first;
	bool drain;
	int rc;

	if (c && c->host)
		(void)file_cache_size(c); /* a look at the file: a shrink on the host is seen here */
	if (!(flags & MS_SYNC) || !c || !c->host || !(v->flags & VM_SHARED))
		return 0;
	if (c->shmem) /* tmpfs has nothing to write back (noop_fsync) */
		return 0;
	if (start < v->start)
		start = v->start;
	if (end > v->end)
		end = v->end;
	first = ((start - v->start) >> PAGE_SHIFT) + v->pgoff;
	pthread_mutex_lock(&c->lock);
	/* folio_mkclean reaches every space: each catches up before it is next observed. */
	if (writeback_locked(c, first, first + ((end - start) >> PAGE_SHIFT)))
		cache_changed_locked(c);
	/*
	 * Writing a dirty folio back drains the LRU batches; a range with
	 * nothing dirty on the host drains nothing (probed: an fsync'ed
	 * file's msync leaves a MADV_FREE page in its batch).
	 */
	drain = env_file_range_dirty(c->fd, first << PAGE_SHIFT, end - start) != 0;
	rc = env_file_sync_range(c->fd, first << PAGE_SHIFT, end - start);
	pthread_mutex_unlock(&c->lock);
	if (drain)
		machine_lazyfree_drain(c->m);
	return rc ? -EIO : 0;
}

int file_punch_range(struct as_mm *mm, struct vm_area *v, uint64_t start, uint64_t end)
{
	struct file_cache *c = v->file ? v->file->cache : NULL;
	uint64_t first, last, dropped = 0;
	int rc = 0;

	if (!c)
		return -EINVAL;
	first = v->pgoff + ((start - v->start) >> PAGE_SHIFT);
	last = first + ((end - start) >> PAGE_SHIFT);
	pthread_mutex_lock(&c->lock);
	if (c->host)
		rc = env_file_punch(c->fd, first << PAGE_SHIFT, (last - first) << PAGE_SHIFT);
	if (rc == 0) {
		dropped = cache_drop_from_locked(c, first, last);
		cache_changed_locked(c);
	}
	pthread_mutex_unlock(&c->lock);
	/*
	 * Punching out cached folios releases a folio batch: the LRU batches
	 * drain. A host file's pages there are taken to be in the host's page
	 * cache (written files are) even when aspace never cached them.
	 */
	if (rc == 0 && (dropped || (c->host && first < pages_of(file_cache_size(c)))))
		machine_lazyfree_drain(c->m);
	if (rc == 0)
		file_sync_mm(mm);
	return rc;
}

/* ---- Validation ---- */

struct check_walk {
	struct file_cache *c;
	uint64_t pages;
	char *buf;
	size_t len;
	int rc;
};

static void check_node(struct check_walk *w, const struct file_node *n, unsigned level, uint64_t base)
{
	uint32_t used = 0;

	for (unsigned i = 0; i < FILE_NODE_SLOTS && !w->rc; i++) {
		uint64_t key = base + i * slot_span(level);

		if (!n->slots[i])
			continue;
		used++;
		if (level > 1) {
			check_node(w, (const struct file_node *)n->slots[i], level - 1, key);
			continue;
		}
		{
			pfn_t pfn = (pfn_t)(n->slots[i] - 1);
			struct as_machine *m = w->c->m;
			struct page *pg = pfn < m->nframes ? frame_page(m, pfn) : NULL;
			uint32_t kind = w->c->shmem ? PG_SHMEM : PG_FILE;

			w->pages++;
			if (!pg || (pg->flags & PG_KIND_MASK) != kind || pg->owner != (uintptr_t)w->c ||
			    atomic_load(&pg->refcount) < 1 + atomic_load(&pg->mapcount) ||
			    !(pg->flags & PG_HOSTMAP) != !w->c->host) {
				snprintf(w->buf, w->len, "page cache %p: page %llu at frame %u is wrong",
					 (void *)w->c, (unsigned long long)key, pfn);
				w->rc = -EUCLEAN;
			}
		}
	}
	if (!w->rc && used != n->count) {
		snprintf(w->buf, w->len, "page cache %p: a node counts %u slots, holds %u",
			 (void *)w->c, n->count, used);
		w->rc = -EUCLEAN;
	}
}

int file_check(struct as_machine *m, char *buf, size_t len)
{
	int64_t fds = 0, caches = 0;
	int rc = 0;

	pthread_mutex_lock(&m->files_lock);
	for (struct file_map *f = m->file_maps; f; f = f->next)
		fds += f->fd >= 0;
	for (struct file_cache *c = m->file_caches; c && !rc; c = c->next) {
		struct check_walk w = { .c = c, .buf = buf, .len = len };

		caches++;
		pthread_mutex_lock(&c->lock);
		fds += c->fd >= 0;
		if (c->root)
			check_node(&w, c->root, c->levels, 0);
		if (!w.rc && w.pages != c->nr_pages) {
			snprintf(buf, len, "page cache %p: %llu pages indexed, %llu counted", (void *)c,
				 (unsigned long long)w.pages, (unsigned long long)c->nr_pages);
			w.rc = -EUCLEAN;
		}
		pthread_mutex_unlock(&c->lock);
		rc = w.rc;
	}
	pthread_mutex_unlock(&m->files_lock);
	if (!rc && fds != atomic_load(&m->nr_host_fds)) {
		snprintf(buf, len, "file objects hold %lld host descriptors, %lld counted", (long long)fds,
			 (long long)atomic_load(&m->nr_host_fds));
		rc = -EUCLEAN;
	}
	if (!rc && caches != atomic_load(&m->nr_file_caches)) {
		snprintf(buf, len, "%lld page caches listed, %lld counted", (long long)caches,
			 (long long)atomic_load(&m->nr_file_caches));
		rc = -EUCLEAN;
	}
	return rc;
}
