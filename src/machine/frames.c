/*
 * frames — the frame pool: the buddy allocator and the per-thread order-0
 * caches. See machine.h for the vocabulary, the invariants and the locks.
 *
 * Descriptor states, as this file writes them:
 *
 *   free block head    PG_BUDDY | order << PG_ORDER_SHIFT, refcount 0,
 *                      linked into free list `order` through next/prev
 *   free block body    no flag (PG_POISONED in debug builds), refcount 0
 *   cached frame       PG_TCACHE, refcount 0, in exactly one thread's cache
 *   allocated          kind flag, refcount >= 1 on the head; an order > 0
 *                      block has PG_HEAD | order on its head and
 *                      PG_TAIL | kind on every other frame (refcount 0)
 *
 * A block of order o starting at pfn has its buddy at pfn ^ (1 << o); a
 * free block and its buddy merge as soon as both are free, so no free
 * block's buddy is ever a free head of the same order.
 *
 * The per-thread caches: frame_alloc(order 0) pops from the calling
 * thread's cache with no lock; an empty cache takes TCACHE_BATCH frames
 * from the buddy lists in one zone-lock hold, a full one gives back its
 * TCACHE_BATCH coldest frames the same way. A cache is found through the
 * machine's pthread key; the key's destructor gives a dying thread's frames
 * back. A thread creates its cache on its first call into the allocator.
 *
 * The cache also carries the thread's share of the machine's counters
 * (allocation attempts, frames per kind, frames cached), written by their
 * owner with plain relaxed stores: the common path executes no atomic
 * read-modify-write and takes no lock. Readers sum the shares under
 * tcache_lock (frame_pool_totals); a dying thread folds its shares into
 * the machine.
 */
#include "machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TCACHE_MAX 64   /* frames one thread may hold */
#define TCACHE_BATCH 16 /* frames moved per refill or drain */

/*
 * One thread's order-0 cache on one machine, and that thread's share of
 * the machine's counters. Legend: [I] immutable; [O] written by the owning
 * thread only, with relaxed load + store (no read-modify-write), read by
 * anyone holding tcache_lock; [Q] the owning thread only (others only
 * under quiescence, machine.h); [T] m->tcache_lock.
 */
struct frame_tcache {
	struct as_machine *m;                      /* [I] */
	struct frame_tcache *next;                 /* [T] in m->tcaches */
	struct frame_tcache **pprev;               /* [T] the pointer that points at us */
	_Atomic uint32_t count;                    /* [O] valid entries in pfns[] */
	_Atomic uint64_t allocs;                   /* [O] gate passes while injection is off */
	_Atomic int64_t kind_delta[NR_PAGE_KINDS]; /* [O] frames allocated minus freed, per kind */
	pfn_t pfns[TCACHE_MAX];                    /* [Q] a stack: pfns[count - 1] is the hottest */
};

static uint32_t tc_count(struct frame_tcache *tc)
{
	return atomic_load_explicit(&tc->count, memory_order_relaxed);
}

static void tc_set_count(struct frame_tcache *tc, uint32_t n)
{
	atomic_store_explicit(&tc->count, n, memory_order_relaxed);
}

/* Add to a counter only its owner writes: a plain load and store, no lock prefix. */
static void own_add_u64(_Atomic uint64_t *p, uint64_t d)
{
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + d,
			      memory_order_relaxed);
}

static void own_add_i64(_Atomic int64_t *p, int64_t d)
{
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + d,
			      memory_order_relaxed);
}

/* Count `delta` frames of kind index `k`: in the thread's cache if it has one. */
static void account_kind(struct as_machine *m, struct frame_tcache *tc, unsigned k, int64_t delta)
{
	if (AS_LIKELY(tc != NULL))
		own_add_i64(&tc->kind_delta[k], delta);
	else
		atomic_fetch_add_explicit(&m->nr_kind[k], (uint64_t)delta, memory_order_relaxed);
}

static uint64_t block_frames(unsigned order)
{
	return 1ull << order;
}

/* ---- Debug poisoning ---- */

/* Fill the frames of a block being freed with the poison pattern (debug builds). */
static void poison_block(struct as_machine *m, pfn_t pfn, unsigned order)
{
	if (!ENV_DEBUG)
		return;
	memset(frame_to_host(m, pfn), ENV_POISON_FREE, block_frames(order) << PAGE_SHIFT);
	for (uint64_t i = 0; i < block_frames(order); i++)
		frame_page(m, pfn + (pfn_t)i)->flags |= PG_POISONED;
}

/* Panic if a poisoned free frame was written to since it was freed. */
static void check_poison(struct as_machine *m, pfn_t pfn)
{
	const uint64_t pat = 0x0101010101010101ull * ENV_POISON_FREE;
	const uint64_t *w = frame_to_host(m, pfn);

	for (size_t i = 0; i < PAGE_SIZE / sizeof(*w); i++) {
		if (AS_UNLIKELY(w[i] != pat))
			ENV_PANIC("frame %u was written after it was freed (byte offset %zu)",
				  pfn, i * sizeof(*w));
	}
}

/* ---- Buddy free lists (zone lock) ---- */

/* Mark `pfn` a free head of `order` and push it on that free list. */
static void free_list_add_locked(struct as_machine *m, pfn_t pfn, unsigned order)
{
	struct page *pg = frame_page(m, pfn);
	pfn_t head = m->free_head[order];

	pg->flags = (pg->flags & PG_POISONED) | PG_BUDDY | (order << PG_ORDER_SHIFT);
	m->free_order[pfn] = (uint8_t)(order + 1);
	pg->prev = PFN_NONE;
	pg->next = head;
	if (head != PFN_NONE)
		frame_page(m, head)->prev = pfn;
	m->free_head[order] = pfn;
	m->nr_free[order]++;
}

/* Take the free head `pfn` off free list `order`; it keeps only PG_POISONED. */
static void free_list_del_locked(struct as_machine *m, pfn_t pfn, unsigned order)
{
	struct page *pg = frame_page(m, pfn);

	ENV_DEBUG_BUG_ON(m->free_order[pfn] != order + 1);
	ENV_DEBUG_BUG_ON(!(pg->flags & PG_BUDDY) || page_order(pg) != order);
	m->free_order[pfn] = 0;
	if (pg->prev != PFN_NONE)
		frame_page(m, pg->prev)->next = pg->next;
	else
		m->free_head[order] = pg->next;
	if (pg->next != PFN_NONE)
		frame_page(m, pg->next)->prev = pg->prev;
	pg->flags &= PG_POISONED;
	pg->next = pg->prev = PFN_NONE;
	m->nr_free[order]--;
}

/*
 * Take a free block of exactly `order`, splitting the smallest larger block
 * when needed (the upper halves go back on the lower lists). PFN_NONE when
 * no block of `order` or larger is free.
 */
static pfn_t alloc_block_locked(struct as_machine *m, unsigned order)
{
	unsigned o = order;
	pfn_t pfn;

	while (o <= MAX_ORDER && m->free_head[o] == PFN_NONE)
		o++;
	if (o > MAX_ORDER)
		return PFN_NONE;
	pfn = m->free_head[o];
	free_list_del_locked(m, pfn, o);
	while (o > order) {
		o--;
		free_list_add_locked(m, pfn + (1u << o), o);
	}
	return pfn;
}

/*
 * Give the block [pfn, pfn + 2^order) back, merging it with its buddy for
 * as long as the buddy is a free block of the same order. The block's
 * descriptors must already be clean (flags 0 or PG_POISONED). Whether the
 * buddy is free comes from m->free_order: an allocated buddy's descriptor
 * belongs to its owner and is not ours to read.
 */
static void free_block_locked(struct as_machine *m, pfn_t pfn, unsigned order)
{
	while (order < MAX_ORDER) {
		pfn_t buddy = pfn ^ (1u << order);

		if (buddy >= m->nframes || m->free_order[buddy] != order + 1)
			break;
		free_list_del_locked(m, buddy, order);
		pfn &= ~(1u << order);
		order++;
	}
	free_list_add_locked(m, pfn, order);
}

/* ---- Per-thread caches ---- */

/*
 * Give the `n` coldest frames of `tc` back to the buddy lists. Caller holds
 * the zone lock and owns `tc` (or the machine is quiescent).
 */
static void tcache_drain_locked(struct as_machine *m, struct frame_tcache *tc, uint32_t n)
{
	uint32_t count = tc_count(tc);

	ENV_BUG_ON(n > count);
	for (uint32_t i = 0; i < n; i++) {
		pfn_t pfn = tc->pfns[i];

		frame_page(m, pfn)->flags &= ~PG_TCACHE;
		free_block_locked(m, pfn, 0);
	}
	memmove(tc->pfns, tc->pfns + n, (count - n) * sizeof(tc->pfns[0]));
	tc_set_count(tc, count - n);
}

/* Fill an empty cache with up to TCACHE_BATCH frames from the buddy lists. */
static void tcache_refill(struct as_machine *m, struct frame_tcache *tc)
{
	uint32_t count = tc_count(tc);

	ENV_BUG_ON(count != 0);
	pthread_mutex_lock(&m->zone_lock);
	while (count < TCACHE_BATCH) {
		pfn_t pfn = alloc_block_locked(m, 0);

		if (pfn == PFN_NONE)
			break;
		frame_page(m, pfn)->flags |= PG_TCACHE;
		tc->pfns[count++] = pfn;
	}
	pthread_mutex_unlock(&m->zone_lock);
	tc_set_count(tc, count);
}

/* Unlink `tc` from the machine's list. Caller holds tcache_lock. */
static void tcache_unlink_locked(struct frame_tcache *tc)
{
	*tc->pprev = tc->next;
	if (tc->next)
		tc->next->pprev = tc->pprev;
	tc->next = NULL;
	tc->pprev = NULL;
}

/*
 * The key destructor: the thread owning `arg` exits, so its frames go back
 * to the buddy lists, its counters fold into the machine's, and the cache
 * object is freed. The machine must still exist (a machine outlives every
 * thread that uses it).
 */
static void tcache_destructor(void *arg)
{
	struct frame_tcache *tc = arg;
	struct as_machine *m = tc->m;

	pthread_mutex_lock(&m->tcache_lock);
	tcache_unlink_locked(tc);
	atomic_fetch_add(&m->allocs_folded, atomic_load(&tc->allocs));
	for (unsigned k = 0; k < NR_PAGE_KINDS; k++)
		atomic_fetch_add(&m->nr_kind[k], (uint64_t)atomic_load(&tc->kind_delta[k]));
	pthread_mutex_lock(&m->zone_lock);
	tcache_drain_locked(m, tc, tc_count(tc));
	pthread_mutex_unlock(&m->zone_lock);
	pthread_mutex_unlock(&m->tcache_lock);
	free(tc);
}

/* The calling thread's cache if it has one, else NULL. */
static struct frame_tcache *tcache_peek(struct as_machine *m)
{
	if (!m->tcache_key_valid)
		return NULL;
	return pthread_getspecific(m->tcache_key);
}

/*
 * The calling thread's cache, created on first use. NULL when caches are
 * off or the cache cannot be created: callers then use the zone lock.
 */
static struct frame_tcache *tcache_get(struct as_machine *m)
{
	struct frame_tcache *tc;

	if (!m->tcache_key_valid)
		return NULL;
	tc = pthread_getspecific(m->tcache_key);
	if (AS_LIKELY(tc != NULL))
		return tc;

	tc = calloc(1, sizeof(*tc));
	if (!tc)
		return NULL;
	tc->m = m;
	if (pthread_setspecific(m->tcache_key, tc) != 0) {
		free(tc);
		return NULL;
	}
	pthread_mutex_lock(&m->tcache_lock);
	tc->next = m->tcaches;
	tc->pprev = &m->tcaches;
	if (tc->next)
		tc->next->pprev = &tc->next;
	m->tcaches = tc;
	pthread_mutex_unlock(&m->tcache_lock);
	return tc;
}

void frame_tcache_flush(struct as_machine *m)
{
	struct frame_tcache *tc = tcache_peek(m);

	if (!tc || tc_count(tc) == 0)
		return;
	pthread_mutex_lock(&m->zone_lock);
	tcache_drain_locked(m, tc, tc_count(tc));
	pthread_mutex_unlock(&m->zone_lock);
}

void frame_tcache_drain_all(struct as_machine *m)
{
	pthread_mutex_lock(&m->tcache_lock);
	pthread_mutex_lock(&m->zone_lock);
	for (struct frame_tcache *tc = m->tcaches; tc; tc = tc->next)
		tcache_drain_locked(m, tc, tc_count(tc));
	pthread_mutex_unlock(&m->zone_lock);
	pthread_mutex_unlock(&m->tcache_lock);
}

/* Sum the split counters. Caller holds tcache_lock. */
static void totals_locked(struct as_machine *m, struct frame_totals *t)
{
	t->allocs = atomic_load(&m->allocs) + atomic_load(&m->allocs_folded);
	t->cached = 0;
	for (unsigned k = 0; k < NR_PAGE_KINDS; k++)
		t->kind[k] = atomic_load(&m->nr_kind[k]);
	for (struct frame_tcache *tc = m->tcaches; tc; tc = tc->next) {
		t->allocs += atomic_load_explicit(&tc->allocs, memory_order_relaxed);
		t->cached += tc_count(tc);
		for (unsigned k = 0; k < NR_PAGE_KINDS; k++)
			t->kind[k] += (uint64_t)atomic_load_explicit(&tc->kind_delta[k],
								     memory_order_relaxed);
	}
}

void frame_pool_totals(struct as_machine *m, struct frame_totals *t)
{
	pthread_mutex_lock(&m->tcache_lock);
	totals_locked(m, t);
	pthread_mutex_unlock(&m->tcache_lock);
}

/* ---- The allocation gate ---- */

/*
 * Count one allocation attempt and say whether an injected failure fires.
 * With injection off, a thread with a cache counts in the cache; while
 * armed, every attempt counts in m->allocs, so that fail_at (set relative
 * to m->allocs) picks exactly the n-th attempt from the arming on.
 */
static bool gate_should_fail(struct as_machine *m, struct frame_tcache *tc)
{
	uint64_t n, at;

	if (AS_LIKELY(tc != NULL && atomic_load_explicit(&m->fail_at, memory_order_relaxed) == 0)) {
		own_add_u64(&tc->allocs, 1);
		return false;
	}
	n = atomic_fetch_add_explicit(&m->allocs, 1, memory_order_relaxed) + 1;
	at = atomic_load_explicit(&m->fail_at, memory_order_relaxed);
	/* fail_at is 0 (off) or above every count handed out before it was set. */
	if (AS_LIKELY(at != n))
		return false;
	if (!atomic_compare_exchange_strong(&m->fail_at, &at, 0))
		return false;
	atomic_fetch_add_explicit(&m->failed_allocs, 1, memory_order_relaxed);
	return true;
}

bool machine_alloc_should_fail(struct as_machine *m)
{
	return gate_should_fail(m, tcache_get(m));
}

/* ---- Allocation and freeing ---- */

/* Turn the free block at `pfn` into an allocated block of kind `fa`, counted in `tc`. */
static void prep_new_block(struct as_machine *m, struct frame_tcache *tc, pfn_t pfn,
			   unsigned order, unsigned fa)
{
	uint32_t kind = fa & PG_KIND_MASK;
	uint64_t n = block_frames(order);

	for (uint64_t i = 0; i < n; i++) {
		struct page *pg = frame_page(m, pfn + (pfn_t)i);

		if (ENV_DEBUG && (pg->flags & PG_POISONED))
			check_poison(m, pfn + (pfn_t)i);
		if (i > 0)
			pg->flags = kind | PG_TAIL;
		else if (order > 0)
			pg->flags = kind | PG_HEAD | (order << PG_ORDER_SHIFT);
		else
			pg->flags = kind;
		atomic_store_explicit(&pg->refcount, i == 0 ? 1 : 0, memory_order_relaxed);
		atomic_store_explicit(&pg->mapcount, 0, memory_order_relaxed);
		pg->index = 0;
		pg->next = pg->prev = PFN_NONE;
		pg->owner = 0;
	}
	account_kind(m, tc, page_kind_index(kind), (int64_t)n);
	if (fa & FA_ZERO)
		memset(frame_to_host(m, pfn), 0, n << PAGE_SHIFT);
}

pfn_t frame_alloc(struct as_machine *m, unsigned order, unsigned fa)
{
	uint32_t kind = fa & PG_KIND_MASK;
	struct frame_tcache *tc;
	uint32_t count;
	pfn_t pfn;

	ENV_BUG_ON(kind == 0 || (kind & (kind - 1)) != 0);
	ENV_BUG_ON(fa & ~(unsigned)(FA_ZERO | FA_NOFAIL | PG_KIND_MASK));
	ENV_BUG_ON(order > MAX_ORDER);

	tc = tcache_get(m);
	if (!(fa & FA_NOFAIL) && gate_should_fail(m, tc))
		return PFN_NONE;

	if (order == 0 && tc != NULL) {
		if (tc_count(tc) == 0)
			tcache_refill(m, tc);
		count = tc_count(tc);
		if (count == 0)
			goto fail;
		pfn = tc->pfns[count - 1];
		tc_set_count(tc, count - 1);
	} else {
		pthread_mutex_lock(&m->zone_lock);
		pfn = alloc_block_locked(m, order);
		if (pfn == PFN_NONE && order > 0 && tc != NULL && tc_count(tc) != 0) {
			/* Our own cached frames may complete a block: give them back. */
			tcache_drain_locked(m, tc, tc_count(tc));
			pfn = alloc_block_locked(m, order);
		}
		pthread_mutex_unlock(&m->zone_lock);
		if (pfn == PFN_NONE)
			goto fail;
	}
	prep_new_block(m, tc, pfn, order, fa);
	return pfn;

fail:
	atomic_fetch_add_explicit(&m->failed_allocs, 1, memory_order_relaxed);
	return PFN_NONE;
}

/*
 * Check that [pfn, pfn + 2^order) is an allocated block of that order and
 * reset its descriptors to the free state; panics on a double free, a tail
 * frame, a mismatched order or a block still referenced. Returns the
 * block's kind index.
 */
static unsigned release_block(struct as_machine *m, pfn_t pfn, unsigned order)
{
	struct page *head;
	uint32_t kind;
	int32_t ref;

	ENV_BUG_ON(order > MAX_ORDER);
	if (AS_UNLIKELY(pfn >= m->nframes || (pfn & ((1u << order) - 1)) != 0 ||
			pfn + block_frames(order) > m->nframes))
		ENV_PANIC("frame_free: no block of order %u at frame %u", order, pfn);
	head = frame_page(m, pfn);
	if (AS_UNLIKELY(head->flags & (PG_BUDDY | PG_TCACHE)))
		ENV_PANIC("frame_free: frame %u is already free (flags %#x)", pfn, head->flags);
	kind = head->flags & PG_KIND_MASK;
	if (AS_UNLIKELY(kind == 0 || (kind & (kind - 1)) != 0 || (head->flags & PG_TAIL)))
		ENV_PANIC("frame_free: frame %u is not an allocated block head (flags %#x)", pfn,
			  head->flags);
	if (AS_UNLIKELY(order > 0 ? !(head->flags & PG_HEAD) || page_order(head) != order
				  : (head->flags & PG_HEAD) != 0))
		ENV_PANIC("frame_free: frame %u freed with order %u, allocated with order %u", pfn,
			  order, (head->flags & PG_HEAD) ? page_order(head) : 0);
	ref = atomic_load_explicit(&head->refcount, memory_order_relaxed);
	if (AS_UNLIKELY(ref != 0 && ref != 1))
		ENV_PANIC("frame_free: frame %u still has %d references", pfn, (int)ref);
	/* A file page's slot maps the host file: give the slot its RAM back before
	 * anything (poisoning, the next owner) writes to it. */
	if (head->flags & PG_HOSTMAP) {
		ENV_BUG_ON(order != 0);
		env_file_unbind_page(frame_to_host(m, pfn));
	}

	for (uint64_t i = 0; i < block_frames(order); i++) {
		struct page *pg = frame_page(m, pfn + (pfn_t)i);

		pg->flags = 0;
		atomic_store_explicit(&pg->refcount, 0, memory_order_relaxed);
		atomic_store_explicit(&pg->mapcount, 0, memory_order_relaxed);
		pg->index = 0;
		pg->next = pg->prev = PFN_NONE;
		pg->owner = 0;
	}
	poison_block(m, pfn, order);
	return page_kind_index(kind);
}

void frame_free(struct as_machine *m, pfn_t pfn, unsigned order)
{
	unsigned k = release_block(m, pfn, order);
	struct frame_tcache *tc = tcache_get(m);
	uint32_t count;

	account_kind(m, tc, k, -(int64_t)block_frames(order));
	if (order == 0 && tc != NULL) {
		if (tc_count(tc) == TCACHE_MAX) {
			pthread_mutex_lock(&m->zone_lock);
			tcache_drain_locked(m, tc, TCACHE_BATCH);
			pthread_mutex_unlock(&m->zone_lock);
		}
		count = tc_count(tc);
		frame_page(m, pfn)->flags |= PG_TCACHE;
		tc->pfns[count] = pfn;
		tc_set_count(tc, count + 1);
		return;
	}
	pthread_mutex_lock(&m->zone_lock);
	free_block_locked(m, pfn, order);
	pthread_mutex_unlock(&m->zone_lock);
}

void frame_put(struct as_machine *m, pfn_t pfn)
{
	struct page *pg = frame_page(m, pfn);
	int32_t old;

	ENV_BUG_ON(pfn >= m->nframes);
	old = atomic_fetch_sub_explicit(&pg->refcount, 1, memory_order_acq_rel);
	if (AS_UNLIKELY(old <= 0))
		ENV_PANIC("frame_put: frame %u had refcount %d", pfn, (int)old);
	if (old == 1)
		frame_free(m, pfn, (pg->flags & PG_HEAD) ? page_order(pg) : 0);
}

/* ---- Set-up, teardown ---- */

int frame_pool_init(struct as_machine *m)
{
	uint64_t nmax = m->nframes >> MAX_ORDER;
	pfn_t pfn;

	m->free_order = env_reserve(m->nframes, false);
	if (!m->free_order)
		goto fail;
	if (pthread_mutex_init(&m->zone_lock, NULL) != 0)
		goto release_free_order;
	if (pthread_mutex_init(&m->tcache_lock, NULL) != 0)
		goto undo_zone_lock;
	/* Without a key every order-0 call takes the zone lock: slower, still correct. */
	m->tcache_key_valid = pthread_key_create(&m->tcache_key, tcache_destructor) == 0;
	m->tcaches = NULL;

	for (unsigned o = 0; o < NR_ORDERS; o++) {
		m->free_head[o] = PFN_NONE;
		m->nr_free[o] = 0;
	}
	/*
	 * Seed with the largest aligned blocks that fit: whole MAX_ORDER blocks
	 * (pushed from the top so that the lowest frames are handed out first),
	 * then the remainder, one block per set bit, largest first.
	 */
	for (uint64_t i = nmax; i-- > 0;)
		free_list_add_locked(m, (pfn_t)(i << MAX_ORDER), MAX_ORDER);
	pfn = (pfn_t)(nmax << MAX_ORDER);
	for (unsigned o = MAX_ORDER; o-- > 0;) {
		if (m->nframes - pfn >= block_frames(o)) {
			free_list_add_locked(m, pfn, o);
			pfn += 1u << o;
		}
	}
	ENV_BUG_ON(pfn != m->nframes);
	return 0;

undo_zone_lock:
	pthread_mutex_destroy(&m->zone_lock);
release_free_order:
	env_release(m->free_order, m->nframes);
	m->free_order = NULL;
fail:
	return -ENOMEM;
}

void frame_pool_destroy(struct as_machine *m)
{
	struct frame_tcache *mine = tcache_peek(m);

	pthread_mutex_lock(&m->tcache_lock);
	while (m->tcaches) {
		struct frame_tcache *tc = m->tcaches;

		tcache_unlink_locked(tc);
		free(tc);
	}
	pthread_mutex_unlock(&m->tcache_lock);
	if (m->tcache_key_valid) {
		if (mine)
			pthread_setspecific(m->tcache_key, NULL);
		pthread_key_delete(m->tcache_key);
		m->tcache_key_valid = false;
	}
	pthread_mutex_destroy(&m->tcache_lock);
	pthread_mutex_destroy(&m->zone_lock);
	env_release(m->free_order, m->nframes);
	m->free_order = NULL;
}

/* ---- Statistics and validation ---- */

void frame_pool_counts(struct as_machine *m, uint64_t free_blocks[NR_ORDERS], uint64_t *free_frames)
{
	uint64_t total = 0;

	pthread_mutex_lock(&m->zone_lock);
	for (unsigned o = 0; o < NR_ORDERS; o++) {
		free_blocks[o] = m->nr_free[o];
		total += m->nr_free[o] << o;
	}
	pthread_mutex_unlock(&m->zone_lock);
	*free_frames = total;
}

#define BIT_TEST_SET(map, i)                                                       \
	({                                                                         \
		uint64_t bit_ = 1ull << ((i) & 63);                                \
		bool was_ = ((map)[(i) >> 6] & bit_) != 0;                         \
		(map)[(i) >> 6] |= bit_;                                           \
		was_;                                                              \
	})
#define BIT_TEST(map, i) (((map)[(i) >> 6] >> ((i) & 63)) & 1)

#define CHECK(cond, ...)                                 \
	do {                                             \
		if (AS_UNLIKELY(!(cond))) {              \
			snprintf(buf, len, __VA_ARGS__); \
			rc = -EUCLEAN;                   \
			goto out;                        \
		}                                        \
	} while (0)

/*
 * Validate the buddy lists, the per-thread caches and every descriptor
 * (see the invariants in machine.h). 0, -EUCLEAN with a description in
 * `buf`, or -ENOMEM when the checker's own bitmap cannot be allocated.
 * The machine must be quiescent (machine.h).
 */
int frame_pool_check(struct as_machine *m, char *buf, size_t len)
{
	uint64_t n = m->nframes;
	uint64_t *seen = calloc((n + 63) / 64, sizeof(uint64_t));
	uint64_t kinds[NR_PAGE_KINDS] = { 0 };
	uint64_t nfree = 0, ncached = 0, nalloc = 0;
	struct frame_totals tot;
	int rc = 0;

	if (!seen) {
		snprintf(buf, len, "machine_check: out of host memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&m->tcache_lock);
	pthread_mutex_lock(&m->zone_lock);
	totals_locked(m, &tot);

	/* 1. The free lists: every block well formed, disjoint, fully coalesced. */
	for (unsigned o = 0; o < NR_ORDERS; o++) {
		uint64_t count = 0;
		pfn_t prev = PFN_NONE;

		for (pfn_t pfn = m->free_head[o]; pfn != PFN_NONE; pfn = frame_page(m, pfn)->next) {
			struct page *pg;

			CHECK(pfn < n, "free list %u: frame %u outside the pool of %llu frames", o,
			      pfn, (unsigned long long)n);
			CHECK(count <= m->nr_free[o], "free list %u is longer than nr_free %llu (a cycle?)",
			      o, (unsigned long long)m->nr_free[o]);
			pg = frame_page(m, pfn);
			CHECK((pfn & ((1u << o) - 1)) == 0, "free list %u: block %u not aligned", o, pfn);
			CHECK(pfn + block_frames(o) <= n, "free list %u: block %u runs past the pool end",
			      o, pfn);
			CHECK((pg->flags & PG_BUDDY) && page_order(pg) == o,
			      "free list %u: frame %u is not a free head of order %u (flags %#x)", o, pfn,
			      o, pg->flags);
			CHECK(pg->prev == prev, "free list %u: frame %u has prev %u, expected %u", o,
			      pfn, pg->prev, prev);
			for (uint64_t i = 0; i < block_frames(o); i++) {
				uint64_t f = pfn + i;
				struct page *fp = frame_page(m, (pfn_t)f);
				uint32_t want = i == 0 ? (PG_BUDDY | (o << PG_ORDER_SHIFT)) : 0;

				CHECK(!BIT_TEST_SET(seen, f),
				      "free list %u: block %u overlaps another free block at frame %llu", o,
				      pfn, (unsigned long long)f);
				CHECK((fp->flags & ~PG_POISONED) == want,
				      "free block %u (order %u): frame %llu has flags %#x", pfn, o,
				      (unsigned long long)f, fp->flags);
				CHECK(m->free_order[f] == (i == 0 ? o + 1 : 0),
				      "free block %u (order %u): free_order[%llu] is %u", pfn, o,
				      (unsigned long long)f, m->free_order[f]);
				CHECK(atomic_load(&fp->refcount) == 0,
				      "free block %u (order %u): frame %llu has refcount %d", pfn, o,
				      (unsigned long long)f, (int)atomic_load(&fp->refcount));
			}
			if (o < MAX_ORDER) {
				pfn_t b = pfn ^ (1u << o);

				CHECK(b >= n || !(frame_page(m, b)->flags & PG_BUDDY) ||
					      page_order(frame_page(m, b)) != o,
				      "free blocks %u and %u of order %u are buddies but not merged", pfn,
				      b, o);
			}
			count++;
			nfree += block_frames(o);
			prev = pfn;
		}
		CHECK(count == m->nr_free[o], "free list %u holds %llu blocks, nr_free says %llu", o,
		      (unsigned long long)count, (unsigned long long)m->nr_free[o]);
	}

	/* 2. The per-thread caches. */
	for (struct frame_tcache *tc = m->tcaches; tc; tc = tc->next) {
		CHECK(tc_count(tc) <= TCACHE_MAX, "a thread cache holds %u frames", tc_count(tc));
		for (uint32_t i = 0; i < tc_count(tc); i++) {
			pfn_t pfn = tc->pfns[i];

			CHECK(pfn < n, "a thread cache holds frame %u outside the pool", pfn);
			CHECK(!BIT_TEST_SET(seen, pfn), "cached frame %u is also free or cached elsewhere",
			      pfn);
			CHECK((frame_page(m, pfn)->flags & ~PG_POISONED) == PG_TCACHE &&
				      m->free_order[pfn] == 0 &&
				      atomic_load(&frame_page(m, pfn)->refcount) == 0,
			      "cached frame %u has flags %#x refcount %d", pfn, frame_page(m, pfn)->flags,
			      (int)atomic_load(&frame_page(m, pfn)->refcount));
			ncached++;
		}
	}

	/* 3. Every other frame is allocated: a head with one kind, then its tails. */
	for (uint64_t f = 0; f < n;) {
		struct page *pg = frame_page(m, (pfn_t)f);
		uint32_t kind = pg->flags & PG_KIND_MASK;
		unsigned o = 0;

		if (BIT_TEST(seen, f)) {
			f++;
			continue;
		}
		CHECK(m->free_order[f] == 0, "frame %llu is not free but free_order says order %d",
		      (unsigned long long)f, m->free_order[f] - 1);
		CHECK(!(pg->flags & PG_BUDDY), "frame %llu is a free head of order %u on no free list",
		      (unsigned long long)f, page_order(pg));
		CHECK(!(pg->flags & PG_TCACHE), "frame %llu is marked cached but is in no cache",
		      (unsigned long long)f);
		CHECK(!(pg->flags & PG_TAIL), "frame %llu is a tail with no head before it",
		      (unsigned long long)f);
		CHECK(atomic_load(&pg->refcount) > 0,
		      "frame %llu is lost: not free, not cached, refcount %d (flags %#x)",
		      (unsigned long long)f, (int)atomic_load(&pg->refcount), pg->flags);
		CHECK(kind != 0 && (kind & (kind - 1)) == 0, "allocated frame %llu has kind flags %#x",
		      (unsigned long long)f, kind);
		if (pg->flags & PG_HEAD) {
			o = page_order(pg);
			CHECK(o >= 1 && o <= MAX_ORDER && (f & (block_frames(o) - 1)) == 0 &&
				      f + block_frames(o) <= n,
			      "frame %llu heads an impossible block of order %u", (unsigned long long)f, o);
			for (uint64_t i = 1; i < block_frames(o); i++) {
				struct page *tp = frame_page(m, (pfn_t)(f + i));

				CHECK(!BIT_TEST(seen, f + i) && m->free_order[f + i] == 0 &&
					      (tp->flags & (PG_TAIL | PG_HEAD | PG_BUDDY | PG_TCACHE |
							    PG_KIND_MASK)) == (PG_TAIL | kind) &&
					      atomic_load(&tp->refcount) == 0,
				      "block %llu (order %u): frame %llu is not its tail (flags %#x)",
				      (unsigned long long)f, o, (unsigned long long)(f + i), tp->flags);
			}
		} else {
			CHECK(page_order(pg) == 0, "allocated frame %llu has order bits without PG_HEAD",
			      (unsigned long long)f);
		}
		kinds[page_kind_index(kind)] += block_frames(o);
		nalloc += block_frames(o);
		f += block_frames(o);
	}
	for (unsigned k = 0; k < NR_PAGE_KINDS; k++)
		CHECK(kinds[k] == tot.kind[k],
		      "%llu frames of kind %u allocated, nr_kind totals %llu", (unsigned long long)kinds[k],
		      k, (unsigned long long)tot.kind[k]);
	CHECK(nfree + ncached + nalloc == n, "free %llu + cached %llu + allocated %llu != %llu frames",
	      (unsigned long long)nfree, (unsigned long long)ncached, (unsigned long long)nalloc,
	      (unsigned long long)n);
out:
	pthread_mutex_unlock(&m->zone_lock);
	pthread_mutex_unlock(&m->tcache_lock);
	free(seen);
	return rc;
}
