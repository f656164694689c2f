/*
 * slab — caches of fixed-size objects carved from blocks of frames.
 *
 * A slab is one block of 2^order frames of kind PG_SLAB cut into
 * objs_per_slab objects at offsets i * obj_size. It needs no header inside
 * the block: the head frame's descriptor keeps the bookkeeping,
 *
 *   owner     the cache (so slab_free can tell a foreign object)
 *   mapcount  objects in use
 *   index     the first free object's index, SLAB_NONE when the slab is full
 *   next/prev links in the cache's partial, full or empty list
 *
 * and every tail frame's descriptor keeps the head's frame number in index,
 * so an object pointer leads to its slab in O(1). A free object holds the
 * index of the next free object in its first 4 bytes.
 *
 *   cache ── partial: slabs with 0 < in use < objs_per_slab (allocate here)
 *         ── full:    slabs with every object in use
 *         ── empty:   at most one slab with no object in use; a second one
 *                     goes back to the frame allocator at once
 *
 * Every operation takes the cache's mutex; alloc and free are O(1). Lock
 * order: the cache lock, then the frame allocator's locks (machine.h).
 * Debug builds fill a fresh object with ENV_JUNK_ALLOC and a freed one with
 * ENV_POISON_FREE (all but its 4-byte link), verify the poison when the
 * object is handed out again, and catch double frees exactly.
 */
#include "machine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SLAB_NONE UINT32_MAX
#define SLAB_MIN_OBJS 8     /* the order is the smallest that holds this many */
#define SLAB_MAX_OBJS 512   /* follows: PAGE_SIZE / 8-byte objects in order 0 */
#define SLAB_LINK_BYTES sizeof(uint32_t)

static uint8_t *slab_base(struct slab_cache *c, pfn_t pfn)
{
	return frame_to_host(c->m, pfn);
}

static uint32_t obj_link(const void *obj)
{
	uint32_t v;

	memcpy(&v, obj, sizeof(v));
	return v;
}

static void set_obj_link(void *obj, uint32_t v)
{
	memcpy(obj, &v, sizeof(v));
}

static uint32_t slab_inuse(const struct page *pg)
{
	return (uint32_t)atomic_load_explicit(&pg->mapcount, memory_order_relaxed);
}

static void set_slab_inuse(struct page *pg, uint32_t n)
{
	atomic_store_explicit(&pg->mapcount, (int32_t)n, memory_order_relaxed);
}

/* True when bytes [from, size) of `obj` all hold the free poison. */
static bool obj_poisoned(const struct slab_cache *c, const uint8_t *obj, size_t from)
{
	for (size_t i = from; i < c->obj_size; i++)
		if (obj[i] != ENV_POISON_FREE)
			return false;
	return true;
}

/* ---- Slab lists (cache lock) ---- */

/* The list a slab with `inuse` objects in use belongs on. */
static pfn_t *list_for(struct slab_cache *c, uint32_t inuse)
{
	if (inuse == 0)
		return &c->empty;
	if (inuse == c->objs_per_slab)
		return &c->full;
	return &c->partial;
}

static void list_add_locked(struct slab_cache *c, pfn_t *list, pfn_t pfn)
{
	struct page *pg = frame_page(c->m, pfn);

	pg->prev = PFN_NONE;
	pg->next = *list;
	if (*list != PFN_NONE)
		frame_page(c->m, *list)->prev = pfn;
	*list = pfn;
}

static void list_del_locked(struct slab_cache *c, pfn_t *list, pfn_t pfn)
{
	struct page *pg = frame_page(c->m, pfn);

	if (pg->prev != PFN_NONE)
		frame_page(c->m, pg->prev)->next = pg->next;
	else
		*list = pg->next;
	if (pg->next != PFN_NONE)
		frame_page(c->m, pg->next)->prev = pg->prev;
	pg->next = pg->prev = PFN_NONE;
}

/* ---- Slabs ---- */

/*
 * A new slab with every object free, on no list; PFN_NONE when the machine
 * has no block. Its frames come with FA_NOFAIL: the injection gate was
 * already passed once by the slab_alloc that needs it.
 */
static pfn_t slab_new_locked(struct slab_cache *c)
{
	pfn_t pfn = frame_alloc(c->m, c->order, FA_SLAB | FA_NOFAIL);
	struct page *head;
	uint8_t *base;

	if (pfn == PFN_NONE)
		return PFN_NONE;
	head = frame_page(c->m, pfn);
	head->owner = (uintptr_t)c;
	head->index = 0;
	set_slab_inuse(head, 0);
	for (uint32_t i = 1; i < (1u << c->order); i++)
		frame_page(c->m, pfn + i)->index = pfn;

	base = slab_base(c, pfn);
	if (ENV_DEBUG)
		memset(base, ENV_POISON_FREE, PAGE_SIZE << c->order);
	for (uint32_t i = 0; i < c->objs_per_slab; i++)
		set_obj_link(base + (size_t)i * c->obj_size,
			     i + 1 < c->objs_per_slab ? i + 1 : SLAB_NONE);
	c->nr_slabs++;
	return pfn;
}

/* Give an empty slab, already off its list, back to the frame allocator. */
static void slab_release_locked(struct slab_cache *c, pfn_t pfn)
{
	struct page *head = frame_page(c->m, pfn);

	ENV_BUG_ON(slab_inuse(head) != 0);
	head->owner = 0;
	c->nr_slabs--;
	frame_free(c->m, pfn, c->order);
}

/* ---- The cache ---- */

int slab_cache_init(struct slab_cache *c, struct as_machine *m, const char *name,
		    size_t obj_size, size_t align)
{
	size_t size;
	unsigned order;

	if (align < 8)
		align = 8;
	if (obj_size == 0 || (align & (align - 1)) != 0 || align > PAGE_SIZE ||
	    obj_size > (PAGE_SIZE << MAX_ORDER))
		return -EINVAL;
	size = (obj_size + align - 1) & ~(align - 1);
	if (size > (PAGE_SIZE << MAX_ORDER))
		return -EINVAL;
	for (order = 0; order < MAX_ORDER; order++)
		if ((PAGE_SIZE << order) / size >= SLAB_MIN_OBJS)
			break;

	memset(c, 0, sizeof(*c));
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		return -ENOMEM;
	c->name = name;
	c->m = m;
	c->obj_size = (uint32_t)size;
	c->order = order;
	c->objs_per_slab = (uint32_t)((PAGE_SIZE << order) / size);
	ENV_BUG_ON(c->objs_per_slab == 0 || c->objs_per_slab > SLAB_MAX_OBJS);
	c->partial = c->full = c->empty = PFN_NONE;

	pthread_mutex_lock(&m->slab_list_lock);
	c->next = m->slab_list;
	m->slab_list = c;
	pthread_mutex_unlock(&m->slab_list_lock);
	return 0;
}

void slab_cache_destroy(struct slab_cache *c)
{
	struct as_machine *m = c->m;
	struct slab_cache **pp;
	uint64_t active;

	pthread_mutex_lock(&c->lock);
	active = c->nr_active;
	if (AS_UNLIKELY(active != 0)) {
		pthread_mutex_unlock(&c->lock);
		ENV_PANIC("slab cache %s destroyed with %llu objects in use", c->name,
			  (unsigned long long)active);
	}
	ENV_BUG_ON(c->partial != PFN_NONE || c->full != PFN_NONE);
	if (c->empty != PFN_NONE) {
		pfn_t pfn = c->empty;

		list_del_locked(c, &c->empty, pfn);
		slab_release_locked(c, pfn);
	}
	ENV_BUG_ON(c->nr_slabs != 0);
	pthread_mutex_unlock(&c->lock);

	pthread_mutex_lock(&m->slab_list_lock);
	for (pp = &m->slab_list; *pp && *pp != c; pp = &(*pp)->next)
		;
	ENV_BUG_ON(*pp == NULL);
	*pp = c->next;
	pthread_mutex_unlock(&m->slab_list_lock);
	c->next = NULL;
	pthread_mutex_destroy(&c->lock);
}

/* Take one object; NULL when a new slab was needed and none could be had. */
static void *slab_alloc_locked(struct slab_cache *c)
{
	pfn_t pfn = c->partial;
	struct page *pg;
	uint32_t idx, inuse;
	uint8_t *obj;

	if (pfn == PFN_NONE)
		pfn = c->empty;
	if (pfn == PFN_NONE) {
		pfn = slab_new_locked(c);
		if (pfn == PFN_NONE)
			return NULL;
		list_add_locked(c, &c->empty, pfn);
	}
	pg = frame_page(c->m, pfn);
	idx = pg->index;
	inuse = slab_inuse(pg);
	ENV_BUG_ON(idx >= c->objs_per_slab || inuse >= c->objs_per_slab);
	obj = slab_base(c, pfn) + (size_t)idx * c->obj_size;
	pg->index = obj_link(obj);

	list_del_locked(c, list_for(c, inuse), pfn);
	list_add_locked(c, list_for(c, inuse + 1), pfn);
	set_slab_inuse(pg, inuse + 1);
	c->nr_active++;
	return obj;
}

void *slab_alloc(struct slab_cache *c)
{
	uint8_t *obj;

	if (machine_alloc_should_fail(c->m))
		return NULL;
	pthread_mutex_lock(&c->lock);
	obj = slab_alloc_locked(c);
	pthread_mutex_unlock(&c->lock);
	if (!obj) {
		atomic_fetch_add_explicit(&c->m->failed_allocs, 1, memory_order_relaxed);
		return NULL;
	}
	if (ENV_DEBUG) {
		if (!obj_poisoned(c, obj, SLAB_LINK_BYTES))
			ENV_PANIC("slab %s: object %p was written after it was freed", c->name,
				  (void *)obj);
		memset(obj, ENV_JUNK_ALLOC, c->obj_size);
	}
	return obj;
}

void *slab_zalloc(struct slab_cache *c)
{
	void *obj = slab_alloc(c);

	if (obj)
		memset(obj, 0, c->obj_size);
	return obj;
}

/* True when object `idx` is on the free list of the slab at `pfn` (O(objects)). */
static bool slab_obj_is_free_locked(struct slab_cache *c, pfn_t pfn, uint32_t idx)
{
	uint32_t i = frame_page(c->m, pfn)->index;

	for (uint32_t steps = 0; i != SLAB_NONE && steps < c->objs_per_slab; steps++) {
		if (i == idx)
			return true;
		if (i >= c->objs_per_slab)
			return false;
		i = obj_link(slab_base(c, pfn) + (size_t)i * c->obj_size);
	}
	return false;
}

void slab_free(struct slab_cache *c, void *obj)
{
	struct as_machine *m = c->m;
	uint8_t *p = obj;
	uint64_t off;
	pfn_t pfn;
	struct page *pg;
	uint32_t idx, inuse;

	if (!obj)
		return;
	if (AS_UNLIKELY(p < m->ram || p >= m->ram + (m->nframes << PAGE_SHIFT)))
		ENV_PANIC("slab_free(%s): %p is not in the machine's memory", c->name, obj);
	pfn = host_to_frame(m, p);
	pg = frame_page(m, pfn);
	if ((pg->flags & (PG_TAIL | PG_SLAB)) == (PG_TAIL | PG_SLAB)) {
		pfn = pg->index;
		ENV_BUG_ON(pfn >= m->nframes);
		pg = frame_page(m, pfn);
	}
	if (AS_UNLIKELY(!(pg->flags & PG_SLAB) || pg->owner != (uintptr_t)c))
		ENV_PANIC("slab_free(%s): %p is not an object of this cache", c->name, obj);
	off = (uint64_t)(p - slab_base(c, pfn));
	idx = (uint32_t)(off / c->obj_size);
	if (AS_UNLIKELY(off % c->obj_size != 0 || idx >= c->objs_per_slab))
		ENV_PANIC("slab_free(%s): %p is not the start of an object", c->name, obj);

	pthread_mutex_lock(&c->lock);
	inuse = slab_inuse(pg);
	/*
	 * Double free: certain when nothing is in use or the object heads the
	 * free list (both O(1)); in debug builds an object whose body still
	 * holds the poison is looked up on the free list to be sure.
	 */
	if (AS_UNLIKELY(inuse == 0 || pg->index == idx ||
			(ENV_DEBUG && obj_poisoned(c, p, SLAB_LINK_BYTES) &&
			 slab_obj_is_free_locked(c, pfn, idx)))) {
		pthread_mutex_unlock(&c->lock);
		ENV_PANIC("slab_free(%s): double free of %p", c->name, obj);
	}
	if (ENV_DEBUG)
		memset(p + SLAB_LINK_BYTES, ENV_POISON_FREE, c->obj_size - SLAB_LINK_BYTES);
	set_obj_link(p, pg->index);
	pg->index = idx;
	c->nr_active--;

	list_del_locked(c, list_for(c, inuse), pfn);
	set_slab_inuse(pg, inuse - 1);
	if (inuse - 1 > 0)
		list_add_locked(c, list_for(c, inuse - 1), pfn);
	else if (c->empty == PFN_NONE)
		list_add_locked(c, &c->empty, pfn);
	else
		slab_release_locked(c, pfn);
	pthread_mutex_unlock(&c->lock);
}

void slab_cache_shrink(struct slab_cache *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->empty != PFN_NONE) {
		pfn_t pfn = c->empty;

		list_del_locked(c, &c->empty, pfn);
		slab_release_locked(c, pfn);
	}
	pthread_mutex_unlock(&c->lock);
}

#define CHECK(cond, ...)                                 \
	do {                                             \
		if (AS_UNLIKELY(!(cond))) {              \
			snprintf(buf, len, __VA_ARGS__); \
			rc = -EUCLEAN;                   \
			goto out;                        \
		}                                        \
	} while (0)

/*
 * Validate one list of `c`: every slab well formed, its free list the
 * right length with no repeated object; adds to *nslabs and *nactive.
 */
static int check_list_locked(struct slab_cache *c, pfn_t *list, const char *what, char *buf,
			     size_t len, uint64_t *nslabs, uint64_t *nactive)
{
	struct as_machine *m = c->m;
	pfn_t prev = PFN_NONE;
	uint64_t count = 0;
	int rc = 0;

	for (pfn_t pfn = *list; pfn != PFN_NONE; pfn = frame_page(m, pfn)->next) {
		uint64_t seen[SLAB_MAX_OBJS / 64] = { 0 };
		uint32_t want_head = PG_SLAB | (c->order ? PG_HEAD | (c->order << PG_ORDER_SHIFT) : 0);
		struct page *pg;
		uint32_t inuse, nfree = 0;

		CHECK(pfn < m->nframes, "slab %s: %s list holds frame %u outside the pool", c->name,
		      what, pfn);
		CHECK(count <= c->nr_slabs, "slab %s: %s list longer than nr_slabs %llu", c->name, what,
		      (unsigned long long)c->nr_slabs);
		pg = frame_page(m, pfn);
		CHECK((pg->flags & (PG_KIND_MASK | PG_HEAD | PG_TAIL | PG_ORDER_MASK)) == want_head &&
			      pg->owner == (uintptr_t)c && atomic_load(&pg->refcount) == 1,
		      "slab %s: %s slab %u has flags %#x owner %#lx refcount %d", c->name, what, pfn,
		      pg->flags, (unsigned long)pg->owner, (int)atomic_load(&pg->refcount));
		CHECK(pg->prev == prev, "slab %s: %s slab %u has prev %u, expected %u", c->name, what,
		      pfn, pg->prev, prev);
		for (uint32_t i = 1; i < (1u << c->order); i++)
			CHECK(frame_page(m, pfn + i)->index == pfn,
			      "slab %s: tail %u of slab %u does not name its head", c->name, pfn + i, pfn);
		inuse = slab_inuse(pg);
		CHECK(list_for(c, inuse) == list,
		      "slab %s: slab %u with %u of %u objects in use is on the %s list", c->name, pfn,
		      inuse, c->objs_per_slab, what);
		for (uint32_t i = pg->index; i != SLAB_NONE;) {
			uint8_t *obj;

			CHECK(i < c->objs_per_slab, "slab %s: slab %u links to object %u of %u",
			      c->name, pfn, i, c->objs_per_slab);
			CHECK(!(seen[i / 64] & (1ull << (i % 64))),
			      "slab %s: slab %u has object %u twice on its free list", c->name, pfn, i);
			seen[i / 64] |= 1ull << (i % 64);
			obj = slab_base(c, pfn) + (size_t)i * c->obj_size;
			CHECK(!ENV_DEBUG || obj_poisoned(c, obj, SLAB_LINK_BYTES),
			      "slab %s: free object %p was written after it was freed", c->name,
			      (void *)obj);
			nfree++;
			i = obj_link(obj);
		}
		CHECK(nfree + inuse == c->objs_per_slab,
		      "slab %s: slab %u has %u free and %u in use of %u objects", c->name, pfn, nfree,
		      inuse, c->objs_per_slab);
		*nactive += inuse;
		count++;
		prev = pfn;
	}
	*nslabs += count;
out:
	return rc;
}

int slab_cache_check(struct slab_cache *c, char *buf, size_t len)
{
	uint64_t nslabs = 0, nactive = 0;
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = check_list_locked(c, &c->partial, "partial", buf, len, &nslabs, &nactive);
	if (rc == 0)
		rc = check_list_locked(c, &c->full, "full", buf, len, &nslabs, &nactive);
	if (rc == 0)
		rc = check_list_locked(c, &c->empty, "empty", buf, len, &nslabs, &nactive);
	if (rc != 0)
		goto out;
	CHECK(c->empty == PFN_NONE || frame_page(c->m, c->empty)->next == PFN_NONE,
	      "slab %s keeps more than one empty slab", c->name);
	CHECK(nslabs == c->nr_slabs, "slab %s: %llu slabs on lists, nr_slabs says %llu", c->name,
	      (unsigned long long)nslabs, (unsigned long long)c->nr_slabs);
	CHECK(nactive == c->nr_active, "slab %s: %llu objects in use, nr_active says %llu", c->name,
	      (unsigned long long)nactive, (unsigned long long)c->nr_active);
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}
