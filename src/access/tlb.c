/*
 * The software TLB and its shootdown.
 *
 * Each handle caches translations of one thread: a direct-mapped array of
 * page tags, host page addresses and rights, valid for one generation of
 * the space (mm->tlb_gen). Invalidation bumps the generation, which every
 * handle notices at its next translation, and then waits until every other
 * thread's handle has announced (in `quiescent`) that it reached the new
 * generation or holds no pointer: only then may the caller free frames.
 *
 *   translate:  g = tlb_gen; quiescent = g; hit? -> pointer
 *                                    miss -> page walk / fault under the mmap lock
 *   flush:      tlb_gen++; for each other handle: wait quiescent >= new gen
 *
 * Locking: tlb_lock guards the list of handles; a handle's entries belong to
 * its thread. A thread that enters the library (any call that may block on
 * a lock) first marks all its handles idle (tlb_thread_quiesce): a pointer
 * is good only until the thread's next aspace call. So a flusher never waits
 * for a thread that is itself waiting for a lock, and skips its own handles.
 */
#include "../fault/fault.h"
#include "../file/file.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

#define TLB_ENTRIES 256
#define TLB_IDLE UINT64_MAX
/*
 * In `rights`: the page lies in a region of a file. A page cache may change
 * under such an entry from another space (writeback cleaning the page, a
 * truncation): a hit on it first checks that this space has caught up with
 * the caches (file_sync_pending), else it takes the slow path, which does.
 */
#define TE_FILE (1u << 8)

struct tlb_entry {
	uint64_t vpn_tag;   /* page number + 1; 0 = empty */
	uint8_t *host;      /* host address of the page */
	unsigned rights;    /* FAULT_READ | FAULT_WRITE | FAULT_EXEC allowed without a fault; TE_FILE */
};

struct as_tlb {
	struct as_mm *mm;
	uint64_t gen;                  /* generation the entries belong to */
	_Atomic uint64_t quiescent;    /* pointers before this generation are dead; IDLE: none held */
	pthread_t owner;
	struct as_tlb *next, *prev;    /* [tlb_lock] in mm->tlb_list */
	struct as_tlb *tls_next;       /* the owner thread's other handles */
	struct tlb_entry e[TLB_ENTRIES];
};

/* The handles of the calling thread, in every space. */
static _Thread_local struct as_tlb *tls_tlbs;

void tlb_thread_quiesce(void)
{
	for (struct as_tlb *t = tls_tlbs; t; t = t->tls_next)
		atomic_store_explicit(&t->quiescent, TLB_IDLE, memory_order_seq_cst);
}

int as_tlb_new(struct as_mm *mm, struct as_tlb **out)
{
	struct as_tlb *t;

	if (!mm || !out)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->mm = mm;
	t->owner = pthread_self();
	atomic_init(&t->quiescent, TLB_IDLE);
	as_mm_grab(mm);
	pthread_mutex_lock(&mm->tlb_lock);
	t->next = mm->tlb_list;
	if (t->next)
		t->next->prev = t;
	mm->tlb_list = t;
	pthread_mutex_unlock(&mm->tlb_lock);
	t->tls_next = tls_tlbs;
	tls_tlbs = t;
	*out = t;
	return 0;
}

void as_tlb_free(struct as_tlb *t)
{
	struct as_mm *mm;

	if (!t)
		return;
	mm = t->mm;
	for (struct as_tlb **pp = &tls_tlbs; *pp; pp = &(*pp)->tls_next) {
		if (*pp == t) {
			*pp = t->tls_next;
			break;
		}
	}
	pthread_mutex_lock(&mm->tlb_lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		mm->tlb_list = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&mm->tlb_lock);
	free(t);
	as_mm_drop(mm);
}

void as_tlb_release(struct as_tlb *t)
{
	atomic_store_explicit(&t->quiescent, TLB_IDLE, memory_order_release);
}

/* The rights a present leaf grants without a fault (write also needs D set, as hardware would set it). */
static unsigned pte_rights(pte_t e)
{
	unsigned r = 0;

	if ((e & (PTE_P | PTE_US)) != (PTE_P | PTE_US) || !(e & PTE_A))
		return 0;
	r = FAULT_READ;
	if ((e & PTE_RW) && (e & PTE_D))
		r |= FAULT_WRITE;
	if (!(e & PTE_NX))
		r |= FAULT_EXEC;
	return r;
}

static unsigned prot_to_access(int prot)
{
	if (prot & PROT_WRITE)
		return FAULT_WRITE;
	if (prot & PROT_EXEC)
		return FAULT_EXEC;
	return FAULT_READ;
}

/* The miss path: walk (faulting as needed) under the mmap lock and refill the entry. */
static int tlb_fill(struct as_tlb *t, uint64_t addr, unsigned access, void **host, struct as_fault *f,
		    uint64_t gen)
{
	struct as_mm *mm = t->mm;
	uint8_t *p;
	int rc;

	/*
	 * The walk runs idle (a flusher never waits for a thread that may
	 * itself be flushing or waiting for a lock); the pointer is then
	 * published under the generation read before the walk, and taken
	 * only if no invalidation began meanwhile — one that did may not have
	 * waited for this thread, so the walk is retried (a seqlock).
	 */
	tlb_thread_quiesce();
	file_sync_mm_unlocked(mm); /* a page cache changed: drop or clean this space's entries first */
	pthread_rwlock_rdlock(&mm->mmap_lock);
	for (;;) {
		gen = atomic_load_explicit(&mm->tlb_gen, memory_order_seq_cst);
		rc = access_translate(mm, addr, access, &p, f);
		if (rc != 0)
			break;
		atomic_store_explicit(&t->quiescent, gen, memory_order_seq_cst);
		if (atomic_load_explicit(&mm->tlb_gen, memory_order_seq_cst) == gen)
			break;
		atomic_store_explicit(&t->quiescent, TLB_IDLE, memory_order_seq_cst);
	}
	if (rc == 0) {
		pte_t *ptep = pgtable_walk(&mm->pt, addr & PAGE_MASK);
		pte_t e = ptep ? __atomic_load_n(ptep, __ATOMIC_ACQUIRE) : 0;
		struct tlb_entry *te = &t->e[(addr >> PAGE_SHIFT) % TLB_ENTRIES];

		/* Entries belong to the generation the handle has seen. */
		if (gen == t->gen && pte_present(e)) {
			const struct vm_area *v = vma_lookup(&mm->tree, addr);

			te->vpn_tag = (addr >> PAGE_SHIFT) + 1;
			te->host = p - (addr & ~PAGE_MASK);
			te->rights = pte_rights(e) | (v && v->file && v->file->cache ? TE_FILE : 0);
		}
		*host = p;
	}
	pthread_rwlock_unlock(&mm->mmap_lock);
	return rc;
}

int as_tlb_translate(struct as_tlb *t, uint64_t addr, int prot, void **host, struct as_fault *fault)
{
	uint64_t gen = atomic_load_explicit(&t->mm->tlb_gen, memory_order_acquire);
	unsigned access = prot_to_access(prot);
	struct tlb_entry *te;

	/* Announce that pointers from earlier translations are no longer used. */
	/*
	 * Entries of an old generation are dropped, then the generation is
	 * announced with a release store: a flusher bumps the generation with
	 * a full barrier and waits to read a value at least as new.
	 */
	if (AS_UNLIKELY(gen != t->gen)) {
		for (int i = 0; i < TLB_ENTRIES; i++)
			t->e[i].vpn_tag = 0;
		t->gen = gen;
	}
	atomic_store_explicit(&t->quiescent, gen, memory_order_release);
	te = &t->e[(addr >> PAGE_SHIFT) % TLB_ENTRIES];
	if (AS_LIKELY(te->vpn_tag == (addr >> PAGE_SHIFT) + 1 && (te->rights & access)) &&
	    !(AS_UNLIKELY(te->rights & TE_FILE) && file_sync_pending(t->mm))) {
		*host = te->host + (addr & ~PAGE_MASK);
		return 0;
	}
	return tlb_fill(t, addr, access, host, fault, gen);
}

void mm_flush_tlb_range(struct as_mm *mm, uint64_t start, uint64_t end)
{
	uint64_t gen;
	pthread_t self = pthread_self();

	(void)start;
	(void)end;
	gen = atomic_fetch_add_explicit(&mm->tlb_gen, 1, memory_order_seq_cst) + 1;
	pthread_mutex_lock(&mm->tlb_lock);
	for (struct as_tlb *t = mm->tlb_list; t; t = t->next) {
		if (pthread_equal(t->owner, self))
			continue;
		while (atomic_load_explicit(&t->quiescent, memory_order_seq_cst) < gen)
			sched_yield();
	}
	pthread_mutex_unlock(&mm->tlb_lock);
}
