/*
 * machine — the public machine API: creation and teardown, configuration,
 * statistics, the invariant checker, draining, and failure injection. The
 * frame pool, the per-thread caches and the allocation gate live in
 * frames.c, the object caches in slab.c (see machine.h).
 */
#include "machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_RAM_BYTES (1ull << 20)
#define MAX_RAM_BYTES (1ull << 44) /* exclusive: frame numbers stay below PFN_NONE */

void as_machine_config_init(struct as_machine_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ram_bytes = 1ull << 30;
	cfg->overcommit_memory = 0;
	cfg->overcommit_ratio = 50;
	cfg->max_map_count = 65530;
	cfg->mmap_min_addr = 65536;
	cfg->zero_page = 1;
	cfg->legacy_va_layout = 0;
	cfg->stack_guard_gap = 256 * PAGE_SIZE;
	cfg->lsm_mmap_min_addr = 65536;
	cfg->thp_align_anon = 1;
	cfg->prefault = 0;
	cfg->nr_hugepages_2m = 0;
	cfg->hugepages_1g = 0;
	cfg->nr_hugepages_1g = 0;
	cfg->hugetlb_dev_minor = 0x11;
}

/* True when `cfg` describes a machine as_machine_new can build. */
static bool config_valid(const struct as_machine_config *cfg)
{
	if (cfg->ram_bytes < MIN_RAM_BYTES || cfg->ram_bytes >= MAX_RAM_BYTES ||
	    (cfg->ram_bytes & (PAGE_SIZE - 1)) != 0)
		return false;
	if (cfg->overcommit_memory < 0 || cfg->overcommit_memory > 2)
		return false;
	if (cfg->overcommit_ratio < 0)
		return false;
	if (cfg->max_map_count == 0)
		return false;
	if ((cfg->stack_guard_gap & (PAGE_SIZE - 1)) != 0)
		return false;
	/* Huge page pools must fit in RAM (nr_hugepages can't exceed memory). */
	if (cfg->nr_hugepages_2m > (cfg->ram_bytes >> 21) || cfg->hugepages_1g < 0 ||
	    cfg->hugepages_1g > 1 || (!cfg->hugepages_1g && cfg->nr_hugepages_1g) ||
	    cfg->nr_hugepages_1g > (cfg->ram_bytes >> 30) ||
	    (cfg->nr_hugepages_2m << 21) + (cfg->nr_hugepages_1g << 30) > cfg->ram_bytes)
		return false;
	/* A device minor number has 20 bits. */
	if (cfg->hugetlb_dev_minor >= (1u << 20))
		return false;
	return true;
}

/*
 * Build a machine from `cfg` (NULL: defaults): reserve its RAM and page
 * descriptors, seed the buddy lists, take the zero page, create the
 * machine's slab caches. 0 with *out set, -EINVAL for a bad config, or
 * -ENOMEM with nothing left behind.
 */
int as_machine_new(const struct as_machine_config *cfg, struct as_machine **out)
{
	struct as_machine_config defaults;
	struct as_machine *m;
	unsigned made = 0;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg) {
		as_machine_config_init(&defaults);
		cfg = &defaults;
	}
	if (!config_valid(cfg))
		return -EINVAL;

	m = calloc(1, sizeof(*m));
	if (!m)
		goto fail;
	m->cfg = *cfg;
	m->nframes = cfg->ram_bytes >> PAGE_SHIFT;
	m->huge_pool[0].total = m->huge_pool[0].free = cfg->nr_hugepages_2m;
	m->huge_pool[1].total = m->huge_pool[1].free = cfg->nr_hugepages_1g;
	m->zero_pfn = PFN_NONE;
	m->ram = env_reserve(cfg->ram_bytes, cfg->prefault);
	if (!m->ram)
		goto free_machine;
	m->pages = env_reserve(m->nframes * sizeof(struct page), cfg->prefault);
	if (!m->pages)
		goto release_ram;
	if (frame_pool_init(m) != 0)
		goto release_pages;
	if (pthread_mutex_init(&m->slab_list_lock, NULL) != 0)
		goto destroy_pool;
	if (pthread_mutex_init(&m->files_lock, NULL) != 0)
		goto destroy_slab_list_lock;
	if (pthread_mutex_init(&m->lazy_lock, NULL) != 0)
		goto destroy_files_lock;
	if (pthread_mutex_init(&m->ghost_lock, NULL) != 0) {
		pthread_mutex_destroy(&m->lazy_lock);
		goto destroy_files_lock;
	}

	m->zero_pfn = frame_alloc(m, 0, FA_RESERVED | FA_ZERO | FA_NOFAIL);
	if (m->zero_pfn == PFN_NONE)
		goto destroy_lazy_lock;

	m->caches = calloc(MC_NR, sizeof(*m->caches));
	if (!m->caches)
		goto free_zero_page;
	for (made = 0; made < MC_NR; made++) {
		const struct machine_cache_spec *spec = &machine_cache_specs[made];
		int err = slab_cache_init(&m->caches[made], m, spec->name, spec->size, spec->align);

		/* -EINVAL would mean a broken entry in machine_cache_specs. */
		ENV_BUG_ON(err != 0 && err != -ENOMEM);
		if (err != 0)
			goto destroy_caches;
	}
	/* Start with every free frame in the buddy lists, none cached. */
	frame_tcache_flush(m);
	*out = m;
	return 0;

destroy_caches:
	while (made-- > 0)
		slab_cache_destroy(&m->caches[made]);
	free(m->caches);
free_zero_page:
	frame_free(m, m->zero_pfn, 0);
destroy_lazy_lock:
	pthread_mutex_destroy(&m->ghost_lock);
	pthread_mutex_destroy(&m->lazy_lock);
destroy_files_lock:
	pthread_mutex_destroy(&m->files_lock);
destroy_slab_list_lock:
	pthread_mutex_destroy(&m->slab_list_lock);
destroy_pool:
	frame_pool_destroy(m);
release_pages:
	env_release(m->pages, m->nframes * sizeof(struct page));
release_ram:
	env_release(m->ram, cfg->ram_bytes);
free_machine:
	free(m);
fail:
	return -ENOMEM;
}

/*
 * Tear the machine down. Every space and every object of its caches must
 * be gone (a live object panics), and no other thread may use it any more.
 */
void as_machine_free(struct as_machine *m)
{
	if (!m)
		return;
	if (AS_UNLIKELY(m->file_maps || m->file_caches))
		ENV_PANIC("as_machine_free: files are still mapped");
	machine_lazyfree_drain(m);
	pthread_mutex_destroy(&m->ghost_lock);
	pthread_mutex_destroy(&m->lazy_lock);
	pthread_mutex_destroy(&m->files_lock);
	for (unsigned i = MC_NR; i-- > 0;)
		slab_cache_destroy(&m->caches[i]);
	free(m->caches);
	m->caches = NULL;
	if (AS_UNLIKELY(m->slab_list != NULL))
		ENV_PANIC("as_machine_free: slab cache %s was never destroyed", m->slab_list->name);
	frame_pool_destroy(m);
	pthread_mutex_destroy(&m->slab_list_lock);
	env_release(m->pages, m->nframes * sizeof(struct page));
	env_release(m->ram, m->cfg.ram_bytes);
	free(m);
}

void as_machine_get_config(const struct as_machine *m, struct as_machine_config *cfg)
{
	*cfg = m->cfg;
}

/*
 * A snapshot of the counters. Exact when the machine is quiescent; while
 * other threads allocate, each figure is a recent value of its own.
 */
void as_machine_get_stats(struct as_machine *m, struct as_machine_stats *st)
{
	struct frame_totals t;
	uint64_t buddy_free;

	memset(st, 0, sizeof(*st));
	st->total_frames = m->nframes;
	frame_pool_totals(m, &t);
	frame_pool_counts(m, st->free_blocks, &buddy_free);
	st->cached_frames = t.cached;
	st->free_frames = buddy_free + t.cached;
	st->slab_frames = t.kind[page_kind_index(PG_SLAB)];
	st->pgtable_frames = t.kind[page_kind_index(PG_PGTABLE)];
	st->user_frames = t.kind[page_kind_index(PG_ANON)] + t.kind[page_kind_index(PG_FILE)] +
			  t.kind[page_kind_index(PG_SHMEM)];
	st->reserved_frames = t.kind[page_kind_index(PG_RESERVED)];
	st->open_files = (uint64_t)atomic_load(&m->nr_host_fds);
	st->file_caches = (uint64_t)atomic_load(&m->nr_file_caches);
	st->allocations = t.allocs;
	st->failed_allocations = atomic_load(&m->failed_allocs);
}

#define CHECK(cond, ...)                                 \
	do {                                             \
		if (AS_UNLIKELY(!(cond))) {              \
			snprintf(buf, len, __VA_ARGS__); \
			rc = -EUCLEAN;                   \
			goto out;                        \
		}                                        \
	} while (0)

int machine_check(struct as_machine *m, char *buf, size_t len)
{
	struct page *zp;
	struct frame_totals t;
	uint64_t slab_frames = 0;
	bool list_locked = false;
	int rc;

	rc = frame_pool_check(m, buf, len);
	if (rc != 0)
		return rc;
	if (atomic_load(&m->file_checker)) {
		rc = atomic_load(&m->file_checker)(m, buf, len);
		if (rc != 0)
			return rc;
	}
	CHECK(m->zero_pfn < m->nframes, "the zero page is missing");
	for (unsigned i = 0; i < 2; i++) {
		uint64_t total, free, resv;

		pthread_mutex_lock(&m->zone_lock);
		total = m->huge_pool[i].total;
		free = m->huge_pool[i].free;
		resv = m->huge_pool[i].resv;
		pthread_mutex_unlock(&m->zone_lock);
		CHECK(resv <= free && free <= total, "huge page pool %u: resv %llu free %llu total %llu",
		      i, (unsigned long long)resv, (unsigned long long)free, (unsigned long long)total);
	}
	zp = frame_page(m, m->zero_pfn);
	CHECK((zp->flags & PG_KIND_MASK) == PG_RESERVED && atomic_load(&zp->refcount) >= 1,
	      "the zero page %u has flags %#x refcount %d", m->zero_pfn, zp->flags,
	      (int)atomic_load(&zp->refcount));

	pthread_mutex_lock(&m->slab_list_lock);
	list_locked = true;
	for (struct slab_cache *c = m->slab_list; c; c = c->next) {
		rc = slab_cache_check(c, buf, len);
		if (rc != 0)
			goto out;
		slab_frames += c->nr_slabs << c->order;
	}
	frame_pool_totals(m, &t);
	CHECK(slab_frames == t.kind[page_kind_index(PG_SLAB)],
	      "slab caches hold %llu frames, nr_kind[slab] totals %llu",
	      (unsigned long long)slab_frames, (unsigned long long)t.kind[page_kind_index(PG_SLAB)]);
out:
	if (list_locked)
		pthread_mutex_unlock(&m->slab_list_lock);
	return rc;
}

int as_machine_check(struct as_machine *m, FILE *report)
{
	char buf[512];
	int rc;

	buf[0] = '\0';
	rc = machine_check(m, buf, sizeof(buf));
	if (rc != 0 && report)
		fprintf(report, "%s\n", buf);
	return rc;
}

/* An mlock batch entry of a new page (mlock_new), not a munlock. */
#define MLOCK_NEW_TAG (1u << 31)

/* lru_lazyfree: to the inactive file list, unreferenced, not swap-backed. */
static void move_lazyfree(struct as_machine *m, pfn_t entry)
{
	struct page *pg = frame_page(m, entry);

	if ((pg->flags & PG_ANON) && !(pg->flags & PG_MLOCKED) && (pg->flags & PG_SWAPBACKED))
		__atomic_fetch_and(&pg->flags, ~(uint32_t)(PG_SWAPBACKED | PG_REFERENCED | PG_ACTIVE),
				   __ATOMIC_RELAXED);
}

/* lru_deactivate: to the inactive list, unreferenced. */
static void move_deactivate(struct as_machine *m, pfn_t entry)
{
	__atomic_fetch_and(&frame_page(m, entry)->flags, ~(uint32_t)(PG_ACTIVE | PG_REFERENCED), __ATOMIC_RELAXED);
}

/* The mlock batch: a munlocked page is evictable again, a new page of a locked region joins the LRU. */
static void move_mlock(struct as_machine *m, pfn_t entry)
{
	uint32_t clear = (entry & MLOCK_NEW_TAG) ? PG_MLOCK_NEW : PG_MLOCKED;

	__atomic_fetch_and(&frame_page(m, entry & ~MLOCK_NEW_TAG)->flags, ~clear, __ATOMIC_RELAXED);
}

/* Move batch b: each entry's page moves, then its reference goes. Caller holds lazy_lock. */
static void batch_move_locked(struct as_machine *m, struct machine_batch *b,
			      void (*move)(struct as_machine *, pfn_t))
{
	for (unsigned i = 0; i < b->count; i++) {
		move(m, b->entry[i]);
		frame_put(m, b->entry[i] & ~MLOCK_NEW_TAG);
	}
	b->count = 0;
}

/* Add an entry (a frame, maybe tagged) holding a reference; a full batch moves. Caller holds lazy_lock. */
static void batch_add_locked(struct as_machine *m, struct machine_batch *b, pfn_t entry,
			     void (*move)(struct as_machine *, pfn_t))
{
	frame_get(m, entry & ~MLOCK_NEW_TAG);
	b->entry[b->count++] = entry;
	if (b->count == LAZYFREE_BATCH)
		batch_move_locked(m, b, move);
}

/* Move the lru_add batch: every page in it is on the LRU now. */
static void lru_add_drain(struct as_machine *m)
{
	atomic_store_explicit(&m->lru_add_done, atomic_load_explicit(&m->lru_add_seq, memory_order_acquire),
			      memory_order_release);
}

void machine_deactivate_add(struct as_machine *m, pfn_t pfn)
{
	pthread_mutex_lock(&m->lazy_lock);
	batch_add_locked(m, &m->deact, pfn, move_deactivate);
	pthread_mutex_unlock(&m->lazy_lock);
}

void machine_lazyfree_add(struct as_machine *m, pfn_t pfn)
{
	pthread_mutex_lock(&m->lazy_lock);
	batch_add_locked(m, &m->lazy, pfn, move_lazyfree);
	pthread_mutex_unlock(&m->lazy_lock);
}

void machine_munlock_add(struct as_machine *m, pfn_t pfn)
{
	pthread_mutex_lock(&m->lazy_lock);
	batch_add_locked(m, &m->mlock, pfn, move_mlock);
	pthread_mutex_unlock(&m->lazy_lock);
}

void machine_lru_add(struct as_machine *m, pfn_t pfn, bool locked)
{
	struct page *pg = frame_page(m, pfn);
	uint32_t n, done;

	if (locked) {
		__atomic_fetch_or(&pg->flags, PG_MLOCKED | PG_MLOCK_NEW, __ATOMIC_RELAXED);
		pthread_mutex_lock(&m->lazy_lock);
		batch_add_locked(m, &m->mlock, pfn | MLOCK_NEW_TAG, move_mlock);
		pthread_mutex_unlock(&m->lazy_lock);
		return;
	}
	/* The page is new: nobody else reads its descriptor yet. */
	n = atomic_fetch_add_explicit(&m->lru_add_seq, 1, memory_order_acq_rel);
	if (pg->flags & PG_ANON) {
		pg->prev = n;
		__atomic_fetch_or(&pg->flags, PG_LRU_ADD, __ATOMIC_RELAXED);
	}
	/* The add that fills the batch moves it (never moving `done` back). */
	done = atomic_load_explicit(&m->lru_add_done, memory_order_acquire);
	while ((int32_t)(n + 1 - done) >= LAZYFREE_BATCH &&
	       !atomic_compare_exchange_weak_explicit(&m->lru_add_done, &done, n + 1, memory_order_acq_rel,
						      memory_order_acquire))
		;
}

void machine_lru_add_flush(struct as_machine *m)
{
	lru_add_drain(m);
}

bool machine_page_off_lru(struct as_machine *m, const struct page *pg)
{
	uint32_t flags = __atomic_load_n(&pg->flags, __ATOMIC_RELAXED), done;

	if (flags & PG_MLOCK_NEW)
		return true;
	if (!(flags & PG_LRU_ADD))
		return false;
	done = atomic_load_explicit(&m->lru_add_done, memory_order_acquire);
	return (uint32_t)(pg->prev - done) <
	       (uint32_t)(atomic_load_explicit(&m->lru_add_seq, memory_order_acquire) - done);
}

void machine_lazyfree_drain(struct as_machine *m)
{
	lru_add_drain(m);
	pthread_mutex_lock(&m->lazy_lock);
	batch_move_locked(m, &m->deact, move_deactivate);
	batch_move_locked(m, &m->lazy, move_lazyfree);
	batch_move_locked(m, &m->mlock, move_mlock); /* lru_add_drain drains the mlock batch too */
	pthread_mutex_unlock(&m->lazy_lock);
}

/*
 * Drain the LRU batches, shrink every slab cache, then give every thread's
 * cached frames back. Other threads' caches are emptied without their
 * owners' knowledge, so no other thread may allocate or free frames of
 * this machine meanwhile (machine.h, "Quiescence"); the calling thread's
 * own cache is always safe.
 */
void as_machine_drain(struct as_machine *m)
{
	machine_lazyfree_drain(m);
	pthread_mutex_lock(&m->slab_list_lock);
	for (struct slab_cache *c = m->slab_list; c; c = c->next)
		slab_cache_shrink(c);
	pthread_mutex_unlock(&m->slab_list_lock);
	frame_tcache_drain_all(m);
}

/*
 * Arm (n >= 1) or disarm (n == 0) the injection. While armed, every
 * attempt counts in m->allocs (frames.c, gate_should_fail), so the n-th
 * attempt from now is the one that reaches fail_at. With several threads
 * allocating, an attempt racing with the arming may count on its thread's
 * side and not be among the n.
 */
void as_machine_fail_nth(struct as_machine *m, uint64_t n)
{
	atomic_store(&m->fail_at, n ? atomic_load(&m->allocs) + n : 0);
}

uint64_t as_machine_alloc_count(struct as_machine *m)
{
	struct frame_totals t;

	frame_pool_totals(m, &t);
	return t.allocs;
}
