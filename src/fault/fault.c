/*
 * The page fault handler. See fault.h for the PTE encoding and locking.
 *
 * A fault goes through three decisions, as on x86 Linux:
 *   1. which region (find_vma; below a VM_GROWSDOWN region the stack may grow);
 *   2. may this access touch it at all (x86's access_error) — if not, SIGSEGV
 *      with SEGV_ACCERR and no page is mapped;
 *   3. what the entry needs (handle_pte_fault): a fresh page (or the zero
 *      page for a read), or copy-on-write for a write to a read-only entry.
 */
#include "fault.h"

#include "../file/file.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

pte_t fault_vma_pte_bits(uint64_t vm_flags)
{
	pte_t bits = PTE_P | PTE_US | PTE_A;

	if (!(vm_flags & VM_EXEC))
		bits |= PTE_NX;
	if (!(vm_flags & VM_ACCESS_FLAGS))
		bits &= ~PTE_US;
	return bits;
}

static void count_fault(struct as_mm *mm)
{
	atomic_fetch_add_explicit(&mm->min_flt, 1, memory_order_relaxed);
}

/* A fault that had to wait for the host to read the page (VM_FAULT_MAJOR). */
static void count_major_fault(struct as_mm *mm)
{
	atomic_fetch_add_explicit(&mm->maj_flt, 1, memory_order_relaxed);
}

static void update_hiwater_rss(struct as_mm *mm)
{
	uint64_t rss = (uint64_t)(atomic_load_explicit(&mm->rss[MM_ANONPAGES], memory_order_relaxed) +
				  atomic_load_explicit(&mm->rss[MM_FILEPAGES], memory_order_relaxed) +
				  atomic_load_explicit(&mm->rss[MM_SHMEMPAGES], memory_order_relaxed));
	uint64_t hw = atomic_load_explicit(&mm->hiwater_rss, memory_order_relaxed);

	while (rss > hw && !atomic_compare_exchange_weak(&mm->hiwater_rss, &hw, rss))
		;
}

/* Could regions a and b (a just below b) share an anonymous object (anon_vma_compatible)? */
static bool anon_compatible(const struct vm_area *a, const struct vm_area *b)
{
	return a->end == b->start && a->file == b->file &&
	       !((a->flags ^ b->flags) & ~(VM_ACCESS_FLAGS | VM_IGNORE_MERGE)) &&
	       b->pgoff == a->pgoff + ((b->start - a->start) >> PAGE_SHIFT);
}

/*
 * Give v an anonymous object before its first anonymous page (Linux's
 * anon_vma_prepare): a neighbour's that v could later merge with (next
 * first, then prev), or a new one. 0 or -ENOMEM. Caller holds the mmap
 * lock; the assignment is made under the page-table lock.
 */
int fault_anon_prepare(struct as_mm *mm, struct vm_area *v)
{
	struct vm_area *next, *prev;
	struct anon_obj *a = NULL, *na, *pa;

	/* Faults run concurrently under the read lock: v->anon is published atomically. */
	if (__atomic_load_n(&v->anon, __ATOMIC_ACQUIRE))
		return 0;
	next = vma_next(v);
	na = next ? __atomic_load_n(&next->anon, __ATOMIC_ACQUIRE) : NULL;
	if (na && anon_compatible(v, next) && !next->anon_forked)
		a = na;
	prev = vma_prev(v);
	pa = prev ? __atomic_load_n(&prev->anon, __ATOMIC_ACQUIRE) : NULL;
	if (!a && pa && anon_compatible(prev, v) && !prev->anon_forked)
		a = pa;
	pthread_mutex_lock(&mm->pt_lock);
	if (v->anon) {
		pthread_mutex_unlock(&mm->pt_lock);
		return 0;
	}
	if (a) {
		anon_obj_get(a);
	} else {
		a = slab_zalloc(machine_cache(mm->m, MC_ANON));
		if (!a) {
			pthread_mutex_unlock(&mm->pt_lock);
			return -ENOMEM;
		}
		atomic_init(&a->refs, 1);
	}
	__atomic_store_n(&v->anon, a, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&mm->pt_lock);
	return 0;
}

/*
 * A new private anonymous page of v for addr: zeroed, or a copy of frame
 * `from`. PFN_NONE when no frame can be had, or (with *bus set) when `from`
 * is a file page the host can no longer provide.
 */
static pfn_t new_anon_page(struct as_mm *mm, struct vm_area *v, uint64_t addr, pfn_t from, bool *bus)
{
	pfn_t pfn = frame_alloc(mm->m, 0, FA_ANON | (from == PFN_NONE ? FA_ZERO : 0));
	struct page *pg;

	*bus = false;
	if (pfn == PFN_NONE)
		return PFN_NONE;
	if (from != PFN_NONE) {
		void *dst = frame_to_host(mm->m, pfn);
		const void *src = frame_to_host(mm->m, from);

		if (!(__atomic_load_n(&frame_page(mm->m, from)->flags, __ATOMIC_RELAXED) & PG_HOSTMAP)) {
			memcpy(dst, src, PAGE_SIZE);
		} else if (file_page_copy(dst, src, PAGE_SIZE, true) != 0) {
			frame_put(mm->m, pfn);
			*bus = true;
			return PFN_NONE;
		}
	}
	pg = frame_page(mm->m, pfn);
	/* Droppable memory is never swap-backed: its pages are lazily freeable from the start. */
	pg->flags |= PG_ANON_EXCLUSIVE | ((v->flags & VM_DROPPABLE) ? 0 : PG_SWAPBACKED);
	pg->owner = (uintptr_t)__atomic_load_n(&v->anon, __ATOMIC_ACQUIRE);
	/* To the LRU through a per-CPU batch: the mlock batch for a locked region. */
	machine_lru_add(mm->m, pfn, (v->flags & VM_LOCKED) && !vma_is_special(v->flags));
	pg->index = (uint32_t)(addr >> PAGE_SHIFT);
	return pfn;
}

/* A fault on an empty entry of an anonymous region (do_anonymous_page). */
static enum fault_result do_anonymous_page(struct as_mm *mm, struct vm_area *v, uint64_t addr,
					   unsigned access)
{
	pte_t bits = fault_vma_pte_bits(v->flags), *ptep;
	pfn_t pfn = PFN_NONE;
	bool zero = !(access & FAULT_WRITE) && mm->m->cfg.zero_page, bus;

	if (!zero) {
		if (fault_anon_prepare(mm, v) != 0)
			return FAULT_OOM;
		pfn = new_anon_page(mm, v, addr, PFN_NONE, &bus);
		if (pfn == PFN_NONE)
			return FAULT_OOM;
		if (v->flags & VM_WRITE)
			bits |= PTE_RW | PTE_D;
	} else {
		bits |= PTE_SPECIAL;
	}
	pthread_mutex_lock(&mm->pt_lock);
	if (pgtable_walk_alloc(&mm->pt, addr, &ptep) != 0) {
		pthread_mutex_unlock(&mm->pt_lock);
		if (pfn != PFN_NONE)
			frame_put(mm->m, pfn);
		return FAULT_OOM;
	}
	if (__atomic_load_n(ptep, __ATOMIC_RELAXED) != 0) {
		/* Another thread mapped it meanwhile. */
		pthread_mutex_unlock(&mm->pt_lock);
		if (pfn != PFN_NONE)
			frame_put(mm->m, pfn);
		return FAULT_DONE;
	}
	if (zero) {
		pgtable_set(&mm->pt, ptep, pte_make(mm->m->zero_pfn, bits));
		atomic_fetch_add_explicit(&mm->zero_maps, 1, memory_order_relaxed);
	} else {
		atomic_store_explicit(&frame_page(mm->m, pfn)->mapcount, 1, memory_order_relaxed);
		pgtable_set(&mm->pt, ptep, pte_make(pfn, bits));
		mm_add_rss(mm, MM_ANONPAGES, 1);
	}
	pthread_mutex_unlock(&mm->pt_lock);
	update_hiwater_rss(mm);
	count_fault(mm);
	return FAULT_DONE;
}

/*
 * A write to a present read-only entry of a writable private region
 * (do_wp_page): reuse the page in place when this space alone holds it,
 * otherwise copy it (the zero page is "copied" to a zeroed frame).
 */
static enum fault_result do_wp_copy(struct as_mm *mm, struct vm_area *v, uint64_t addr, pte_t orig);

static enum fault_result do_wp_page(struct as_mm *mm, struct vm_area *v, uint64_t addr, pte_t orig)
{
	struct as_machine *m = mm->m;
	pfn_t old = pte_pfn(orig);
	struct page *opg = frame_page(m, old);
	bool from_zero = orig & PTE_SPECIAL;
	enum fault_result r;
	bool drained = false;
	uint32_t oflags;
	int32_t ref;
	pte_t *ptep;

	/*
	 * Under the page-table lock, with the entry still the one that
	 * faulted, the old page is this space's: reuse it, or pin it for the
	 * copy (a sharer's copy-on-write or exit may drop every other
	 * reference meanwhile).
	 */
again:
	pthread_mutex_lock(&mm->pt_lock);
	ptep = pgtable_walk(&mm->pt, addr);
	if (!ptep || __atomic_load_n(ptep, __ATOMIC_RELAXED) != orig) {
		pthread_mutex_unlock(&mm->pt_lock);
		return FAULT_DONE; /* changed meanwhile: the access tries again */
	}
	if (!from_zero) {
		oflags = __atomic_load_n(&opg->flags, __ATOMIC_RELAXED); /* others change them atomically */
		/*
		 * wp_can_reuse_anon_folio: a page shared by at most three
		 * references (a per-CPU batch holds one) that is not on the LRU
		 * yet makes the fault drain the LRU batches before it decides
		 * (lru_add_drain); then only a page nothing else holds is reused.
		 */
		ref = atomic_load_explicit(&opg->refcount, memory_order_acquire);
		if (!drained && (oflags & (PG_ANON | PG_ANON_EXCLUSIVE)) == PG_ANON && ref <= 3 &&
		    machine_page_off_lru(m, opg) && ref + ((oflags & PG_MLOCK_NEW) ? 0 : 1) <= 3) {
			pthread_mutex_unlock(&mm->pt_lock);
			machine_lazyfree_drain(m);
			drained = true;
			goto again; /* the page is on the LRU now: decide again */
		}
		if ((oflags & PG_ANON) && ((oflags & PG_ANON_EXCLUSIVE) ||
					   atomic_load_explicit(&opg->refcount, memory_order_acquire) == 1)) {
			__atomic_fetch_or(&opg->flags, PG_ANON_EXCLUSIVE, __ATOMIC_RELAXED);
			pgtable_set(&mm->pt, ptep, orig | PTE_RW | PTE_D | PTE_A);
			atomic_fetch_add_explicit(&mm->cow_reuses, 1, memory_order_relaxed);
			pthread_mutex_unlock(&mm->pt_lock);
			count_fault(mm);
			return FAULT_DONE;
		}
		frame_get(m, old);
	}
	pthread_mutex_unlock(&mm->pt_lock);
	r = do_wp_copy(mm, v, addr, orig);
	if (!from_zero)
		frame_put(m, old); /* the pin */
	return r;
}

/* do_wp_page's copy: the old page (unless the zero page) is pinned by the caller. */
static enum fault_result do_wp_copy(struct as_mm *mm, struct vm_area *v, uint64_t addr, pte_t orig)
{
	struct as_machine *m = mm->m;
	pfn_t old = pte_pfn(orig), pfn;
	struct page *opg = frame_page(m, old);
	bool from_zero = orig & PTE_SPECIAL, bus;
	pte_t *ptep;

	if (fault_anon_prepare(mm, v) != 0)
		return FAULT_OOM;
	pfn = new_anon_page(mm, v, addr, from_zero ? PFN_NONE : old, &bus);
	if (pfn == PFN_NONE) {
		/* A file page lost to a truncation on the host: look again; the entry must go first. */
		if (bus)
			return file_copy_failed(mm, addr, old) ? FAULT_NEED_WRITE_LOCK : FAULT_SIGBUS;
		return FAULT_OOM;
	}
	pthread_mutex_lock(&mm->pt_lock);
	ptep = pgtable_walk(&mm->pt, addr);
	if (!ptep || __atomic_load_n(ptep, __ATOMIC_RELAXED) != orig) {
		pthread_mutex_unlock(&mm->pt_lock);
		frame_put(m, pfn);
		return FAULT_DONE;
	}
	atomic_store_explicit(&frame_page(m, pfn)->mapcount, 1, memory_order_relaxed);
	pgtable_set(&mm->pt, ptep, pte_make(pfn, (orig & ~(PTE_PFN_MASK | PTE_SPECIAL)) | PTE_RW |
						      PTE_D | PTE_A));
	if (from_zero) {
		mm_add_rss(mm, MM_ANONPAGES, 1);
	} else {
		mm_add_rss(mm, mm_counter_of(opg), -1);
		mm_add_rss(mm, MM_ANONPAGES, 1);
	}
	pthread_mutex_unlock(&mm->pt_lock);
	/* The old page is released only after no TLB can still reach it. */
	mm_flush_tlb_range(mm, addr, addr + PAGE_SIZE);
	if (!from_zero) {
		/* The old page leaves a locked region: munlocked through the batch. */
		if ((v->flags & VM_LOCKED) && (opg->flags & PG_MLOCKED))
			machine_munlock_add(m, old);
		atomic_fetch_sub_explicit(&opg->mapcount, 1, memory_order_relaxed);
		frame_put(m, old);
	}
	atomic_fetch_add_explicit(&mm->cow_copies, 1, memory_order_relaxed);
	update_hiwater_rss(mm);
	count_fault(mm);
	return FAULT_DONE;
}

/*
 * Grow a VM_GROWSDOWN region down to addr (Linux's expand_downwards and
 * acct_stack_growth). The mmap lock is held for writing. 0 or -errno.
 */
static int expand_downwards(struct as_mm *mm, struct vm_area *v, uint64_t addr)
{
	uint64_t gap = mm->m->cfg.stack_guard_gap, grow, size;
	struct vm_area *prev;

	addr &= PAGE_MASK;
	if (addr < mm_min_addr(mm))
		return -EPERM;
	prev = vma_prev(v);
	if (prev && !(prev->flags & VM_GROWSDOWN) && (prev->flags & VM_ACCESS_FLAGS) &&
	    addr - prev->end < gap)
		return -ENOMEM;
	if (fault_anon_prepare(mm, v) != 0)
		return -ENOMEM;
	if (addr >= v->start)
		return 0;
	size = v->end - addr;
	grow = (v->start - addr) >> PAGE_SHIFT;
	if (grow > v->pgoff)
		return -ENOMEM;
	if (!mm_may_expand_vm(mm, v->flags, grow))
		return -ENOMEM;
	if (size > mm_rlimit(mm, RLIMIT_STACK))
		return -ENOMEM;
	if (!mm_mlock_future_ok(mm, v->flags, grow << PAGE_SHIFT))
		return -ENOMEM;
	if (mm_vm_enough_memory(mm, grow) != 0)
		return -ENOMEM;
	if (v->flags & VM_LOCKED)
		mm->locked_vm += grow;
	mm_stat_account(mm, v->flags, (int64_t)grow);
	v->start = addr;
	v->pgoff -= grow;
	vma_tree_update(&mm->tree, v);
	return 0;
}

/* ---- Faults on file regions (Linux's do_read_fault, do_cow_fault, do_shared_fault) ---- */

/* fault_around_bytes / PAGE_SIZE: how many entries one read fault may fill. */
#define FAULT_AROUND_PAGES 16

static uint64_t file_pgoff(const struct vm_area *v, uint64_t addr)
{
	return v->pgoff + ((addr - v->start) >> PAGE_SHIFT);
}

static uint64_t file_pages(uint64_t size)
{
	return (size >> PAGE_SHIFT) + ((size & ~PAGE_MASK) != 0);
}

/*
 * The entry a fault makes for a page cache page (set_pte_range): read-only
 * in private regions (a write copies) and in shared ones whose writes must
 * be noticed (writenotify: host files on ext4 and the like); writable in
 * shared writable shmem and tmpfs regions; writable and dirty for a write.
 */
static pte_t file_pte_bits(const struct vm_area *v, const struct page *pg, bool write)
{
	pte_t bits = fault_vma_pte_bits(v->flags);

	if ((v->flags & (VM_SHARED | VM_WRITE)) != (VM_SHARED | VM_WRITE))
		return bits;
	if (write)
		return bits | PTE_RW | PTE_D;
	if (!file_writenotify(v))
		bits |= PTE_RW | (file_page_dirty(pg) ? PTE_D : 0);
	return bits;
}

/* Map cached page pfn at the empty *ptep; the caller's reference passes to the entry. [P] */
static void map_file_pte(struct as_mm *mm, pte_t *ptep, pfn_t pfn, pte_t bits)
{
	struct page *pg = frame_page(mm->m, pfn);

	atomic_fetch_add_explicit(&pg->mapcount, 1, memory_order_relaxed);
	pgtable_set(&mm->pt, ptep, pte_make(pfn, bits));
	mm_add_rss(mm, mm_counter_of(pg), 1);
}

#define FOLIO_PMD_SIZE (2ull << 20)

/* Map the cached pages of file pages [first, last] of v, whose entries are in one table. [P] */
static void map_cached_run(struct as_mm *mm, struct vm_area *v, pte_t *table, uint64_t first,
			   uint64_t last, pfn_t *pfns)
{
	for (uint64_t i = 0; i <= last - first; i++) {
		uint64_t va = v->start + ((first + i - v->pgoff) << PAGE_SHIFT);
		pte_t *p = table + pt_index(va, 1);

		if (pfns[i] == PFN_NONE || __atomic_load_n(p, __ATOMIC_RELAXED) != 0)
			continue;
		map_file_pte(mm, p, pfns[i], file_pte_bits(v, frame_page(mm->m, pfns[i]), false));
		pfns[i] = PFN_NONE; /* the entry holds the reference now */
	}
}

static void put_pfns(struct as_mm *mm, const pfn_t *pfns, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (pfns[i] != PFN_NONE)
			frame_put(mm->m, pfns[i]);
}

/*
 * The large folios among the window's cached pages that Linux 6.18's
 * filemap_map_pages maps whole: those lying inside the region and inside
 * one page table (their entries share a PMD). Each goes to runs[] as
 * [first, last] in file pages, cut at the end of the file. Returns how many.
 */
static unsigned whole_folios(struct as_mm *mm, struct vm_area *v, uint64_t first, uint64_t n,
			     const pfn_t *pfns, uint64_t size_pages, uint64_t runs[][2])
{
	uint64_t vma_pages = (v->end - v->start) >> PAGE_SHIFT, covered = first;
	unsigned nr_runs = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t fs, fe, va_s, va_e;
		uint32_t before, nr;

		if (pfns[i] == PFN_NONE || first + i < covered)
			continue;
		file_page_folio(frame_page(mm->m, pfns[i]), &before, &nr);
		if (nr <= 1 || before > first + i)
			continue;
		fs = first + i - before;
		fe = fs + nr - 1;
		covered = fe + 1;
		if (fs < v->pgoff || fe >= v->pgoff + vma_pages)
			continue;
		va_s = v->start + ((fs - v->pgoff) << PAGE_SHIFT);
		va_e = va_s + ((uint64_t)nr << PAGE_SHIFT) - 1;
		if ((va_s & ~(FOLIO_PMD_SIZE - 1)) != (va_e & ~(FOLIO_PMD_SIZE - 1)))
			continue;
		runs[nr_runs][0] = fs;
		runs[nr_runs][1] = fe < size_pages ? fe : size_pages - 1;
		nr_runs++;
	}
	return nr_runs;
}

/*
 * Does the first cached page of the window [first, first + n) belong to a
 * folio that reaches the file's last page? Linux 6.18's filemap_map_pages
 * then skips its PMD step (no PMD mapping across EOF; shmem excepted), and
 * that step is the one that installs a missing page table: with none yet,
 * fault-around maps nothing at all (the fault itself still maps its page).
 */
static bool first_folio_reaches_eof(struct as_mm *mm, const struct file_cache *c, uint64_t first,
				    uint64_t n, const pfn_t *pfns, uint64_t size_pages)
{
	uint32_t before, nr;

	if (c->shmem)
		return false;
	for (uint64_t i = 0; i < n; i++) {
		if (pfns[i] == PFN_NONE)
			continue;
		file_page_folio(frame_page(mm->m, pfns[i]), &before, &nr);
		return first + i - before + nr >= size_pages;
	}
	return false;
}

static bool any_cached(const pfn_t *pfns, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (pfns[i] != PFN_NONE)
			return true;
	return false;
}

/*
 * Fault-around (do_fault_around, filemap_map_pages): map the pages already
 * cached among up to 16 entries around addr: the window starts at addr's
 * entry rounded down to 16 in its page table, or at the region's start,
 * and stays inside the region, the page table and the file. A large host
 * folio the window touches is mapped whole when it fits the region and
 * the page table, as Linux 6.18 does. Entries already present are left
 * alone, and so are pages MADV_PAGEOUT marked (PG_reclaim, read as
 * PG_readahead). With no page table yet, nothing is mapped (and no table
 * made) when nothing is cached or the first cached folio reaches the end
 * of the file (first_folio_reaches_eof).
 * *mapped tells whether addr got mapped. FAULT_DONE, or FAULT_OOM when the
 * page table can't be had.
 */
static enum fault_result fault_around(struct as_mm *mm, struct vm_area *v, uint64_t addr,
				      uint64_t size_pages, bool *mapped)
{
	uint64_t pte_off = pt_index(addr, 1), vma_off = (addr - v->start) >> PAGE_SHIFT;
	uint64_t vma_pages = (v->end - v->start) >> PAGE_SHIFT, pgoff = file_pgoff(v, addr);
	uint64_t from, to, first, last, runs[FAULT_AROUND_PAGES][2];
	pfn_t pfns[FAULT_AROUND_PAGES], folio[PT_ENTRIES];
	pte_t *ptep, *table;
	unsigned nr_runs;

	*mapped = false;
	from = pte_off & ~(uint64_t)(FAULT_AROUND_PAGES - 1);
	if (pte_off - (vma_off < pte_off ? vma_off : pte_off) > from)
		from = pte_off - (vma_off < pte_off ? vma_off : pte_off);
	to = from + FAULT_AROUND_PAGES;
	if (to > PT_ENTRIES)
		to = PT_ENTRIES;
	if (to > pte_off + vma_pages - vma_off)
		to = pte_off + vma_pages - vma_off;
	to--;
	first = pgoff - (pte_off - from);
	last = pgoff + (to - pte_off);
	if (size_pages == 0 || first >= size_pages)
		return FAULT_DONE;
	if (last > size_pages - 1)
		last = size_pages - 1;
	file_cache_get_cached(v->file->cache, first, last, pfns);
	/* filemap_map_pages skips a page with PG_readahead (here: PG_reclaim, the same bit). */
	for (uint64_t i = 0; i <= last - first; i++) {
		if (pfns[i] != PFN_NONE && file_page_reclaim(frame_page(mm->m, pfns[i]))) {
			frame_put(mm->m, pfns[i]);
			pfns[i] = PFN_NONE;
		}
	}
	nr_runs = whole_folios(mm, v, first, last - first + 1, pfns, size_pages, runs);

	pthread_mutex_lock(&mm->pt_lock);
	/*
	 * No page table yet: filemap_map_pages installs one only for a folio
	 * it found (with nothing cached the fault's first try, which reads
	 * ahead and retries, leaves none), and not for one reaching EOF.
	 */
	if (!pgtable_walk(&mm->pt, addr) &&
	    (!any_cached(pfns, last - first + 1) ||
	     first_folio_reaches_eof(mm, v->file->cache, first, last - first + 1, pfns, size_pages))) {
		pthread_mutex_unlock(&mm->pt_lock);
		put_pfns(mm, pfns, last - first + 1);
		return FAULT_DONE;
	}
	if (pgtable_walk_alloc(&mm->pt, addr, &ptep) != 0) {
		pthread_mutex_unlock(&mm->pt_lock);
		put_pfns(mm, pfns, last - first + 1);
		return FAULT_OOM;
	}
	table = ptep - pte_off;
	map_cached_run(mm, v, table, first, last, pfns);
	pthread_mutex_unlock(&mm->pt_lock);
	put_pfns(mm, pfns, last - first + 1);
	for (unsigned r = 0; r < nr_runs; r++) {
		file_cache_get_cached(v->file->cache, runs[r][0], runs[r][1], folio);
		pthread_mutex_lock(&mm->pt_lock);
		map_cached_run(mm, v, table, runs[r][0], runs[r][1], folio);
		pthread_mutex_unlock(&mm->pt_lock);
		put_pfns(mm, folio, runs[r][1] - runs[r][0] + 1);
	}
	pthread_mutex_lock(&mm->pt_lock);
	*mapped = pte_present(__atomic_load_n(ptep, __ATOMIC_RELAXED));
	pthread_mutex_unlock(&mm->pt_lock);
	return FAULT_DONE;
}

static enum fault_result file_get_result(enum file_get r)
{
	return r == FILE_GET_SIGBUS ? FAULT_SIGBUS : FAULT_OOM;
}

/*
 * A fault on an empty entry of a file region: read faults map the cache
 * page (after fault-around); writes to private regions copy it into an
 * anonymous page; writes to shared ones map it writable and dirty. A page
 * past the end of the file is SIGBUS. The size is asked from the host first.
 */
/*
 * A write made a page cache page dirty (fault_dirty_shared_page). smaps asks
 * the host's folio whether it is dirty, so a host-bound page must be dirtied
 * on the host too, even if nothing gets written: true when that is still to
 * do, by dirty_host_page once pt_lock is dropped (a host call may block); the
 * page then holds an extra reference until it is done. Caller holds pt_lock.
 */
static bool mark_page_dirty(struct as_mm *mm, pfn_t pfn)
{
	struct page *pg = frame_page(mm->m, pfn);

	file_page_set_dirty(pg, true);
	if (!(pg->flags & PG_HOSTMAP))
		return false;
	frame_get(mm->m, pfn);
	return true;
}

/* The host half of mark_page_dirty, without locks; drops its reference. */
static void dirty_host_page(struct as_mm *mm, pfn_t pfn)
{
	(void)env_file_dirty_page(frame_to_host(mm->m, pfn));
	frame_put(mm->m, pfn);
}

static enum fault_result do_file_fault(struct as_mm *mm, struct vm_area *v, uint64_t addr,
				       unsigned access)
{
	struct file_cache *c = v->file->cache;
	uint64_t pgoff = file_pgoff(v, addr), size_pages = file_pages(file_cache_size(c));
	bool write = access & FAULT_WRITE, major = false, mapped, bus, dirty_host = false;
	enum fault_result r;
	enum file_get g;
	pte_t *ptep;
	pfn_t pfn, anon = PFN_NONE;

	if (!write) {
		r = fault_around(mm, v, addr, size_pages, &mapped);
		if (r != FAULT_DONE)
			return r;
		if (mapped)
			goto done;
	}
	/*
	 * do_cow_fault prepares the anonymous object before it looks the page
	 * up: a write past EOF still leaves the region with one (fork copies
	 * its entries, it merges no more with regions that have none).
	 */
	if (write && !(v->flags & VM_SHARED) && fault_anon_prepare(mm, v) != 0)
		return FAULT_OOM;
	if (pgoff >= size_pages)
		return FAULT_SIGBUS;
	/* The host reads ahead as Linux would for this region (MADV_SEQUENTIAL/RANDOM, VM_EXEC). */
	g = file_cache_get_page(c, pgoff, &pfn, &major,
				((v->flags & VM_SEQ_READ) ? MADV_SEQUENTIAL : (v->flags & VM_RAND_READ) ? MADV_RANDOM : 0) |
					((v->flags & VM_EXEC) ? ENV_BIND_EXEC : 0) |
					((v->flags & VM_HUGEPAGE) ? ENV_BIND_HUGEPAGE : 0));
	if (g != FILE_GET_OK)
		return file_get_result(g);
	/*
	 * A miss in an exec region reads ahead from the page to the region's
	 * end (file.h), MADV_RANDOM or not; MADV_SEQUENTIAL's readahead wins.
	 */
	if (major && (v->flags & VM_EXEC) && !(v->flags & VM_SEQ_READ))
		file_cache_exec_readahead(c, pgoff, file_pgoff(v, v->end - 1) + 1);
	/*
	 * PG_reclaim read as PG_readahead: filemap_fault starts async readahead
	 * (clearing it) with the lock dropped and retries; not in VM_RAND_READ
	 * regions, which read no ahead. Only GUP's retry (MADV_POPULATE_*) is
	 * counted major: a user fault retries afresh, as __mm_populate does.
	 */
	if (!(v->flags & VM_RAND_READ) &&
	    (file_page_change_marks(frame_page(mm->m, pfn), FILE_PAGE_RECLAIM, 0) & FILE_PAGE_RECLAIM) &&
	    (access & FAULT_MADV_POPULATE))
		major = true;
	if (major && !write) {
		/*
		 * The host had to read the page (and its readahead the pages
		 * around it): Linux retries such a fault, whose fault-around
		 * then finds the neighbours cached too.
		 */
		r = fault_around(mm, v, addr, size_pages, &mapped);
		if (r != FAULT_DONE || mapped) {
			frame_put(mm->m, pfn);
			if (r != FAULT_DONE)
				return r;
			goto done;
		}
	}
	if (write && !(v->flags & VM_SHARED)) {
		/* do_cow_fault: the region gets a private copy, the cache page stays unmapped. */
		anon = new_anon_page(mm, v, addr, pfn, &bus);
		frame_put(mm->m, pfn);
		if (anon == PFN_NONE) {
			if (bus)
				(void)file_cache_size(c); /* a truncation on the host: notice it */
			return bus ? FAULT_SIGBUS : FAULT_OOM;
		}
	}
	pthread_mutex_lock(&mm->pt_lock);
	if (pgtable_walk_alloc(&mm->pt, addr, &ptep) != 0) {
		pthread_mutex_unlock(&mm->pt_lock);
		frame_put(mm->m, anon != PFN_NONE ? anon : pfn);
		return FAULT_OOM;
	}
	if (__atomic_load_n(ptep, __ATOMIC_RELAXED) != 0) {
		/* Another thread mapped it meanwhile. */
		pthread_mutex_unlock(&mm->pt_lock);
		frame_put(mm->m, anon != PFN_NONE ? anon : pfn);
		return FAULT_DONE;
	}
	if (anon != PFN_NONE) {
		atomic_store_explicit(&frame_page(mm->m, anon)->mapcount, 1, memory_order_relaxed);
		pgtable_set(&mm->pt, ptep, pte_make(anon, fault_vma_pte_bits(v->flags) | PTE_RW | PTE_D));
		mm_add_rss(mm, MM_ANONPAGES, 1);
	} else {
		if (write)
			dirty_host = mark_page_dirty(mm, pfn);
		map_file_pte(mm, ptep, pfn, file_pte_bits(v, frame_page(mm->m, pfn), write));
	}
	pthread_mutex_unlock(&mm->pt_lock);
	if (dirty_host)
		dirty_host_page(mm, pfn);
done:
	update_hiwater_rss(mm);
	if (major && !(access & FAULT_POPULATE))
		count_major_fault(mm);
	else
		count_fault(mm);
	return FAULT_DONE;
}

/*
 * A write to a read-only entry of a shared writable file region
 * (wp_page_shared): the page becomes writable and dirty in place.
 */
static enum fault_result do_shared_wp(struct as_mm *mm, uint64_t addr, pte_t orig)
{
	bool dirty_host = false;
	pte_t *ptep;

	pthread_mutex_lock(&mm->pt_lock);
	ptep = pgtable_walk(&mm->pt, addr);
	if (ptep && __atomic_load_n(ptep, __ATOMIC_RELAXED) == orig) {
		dirty_host = mark_page_dirty(mm, pte_pfn(orig));
		pgtable_set(&mm->pt, ptep, orig | PTE_RW | PTE_D | PTE_A);
	}
	pthread_mutex_unlock(&mm->pt_lock);
	if (dirty_host)
		dirty_host_page(mm, pte_pfn(orig));
	count_fault(mm);
	return FAULT_DONE;
}

static enum fault_result handle_fault(struct as_mm *mm, uint64_t addr, unsigned access, bool write_locked);

/*
 * Pages a fault maps into a locked region become mlocked (mlock_vma_folio
 * as the rmap is added): the faulting page and its fault-around window.
 * Only spaces that lock anything pay the lookup.
 */
enum fault_result fault_handle(struct as_mm *mm, uint64_t addr, unsigned access, bool write_locked)
{
	enum fault_result r = handle_fault(mm, addr, access, write_locked);

	if (r == FAULT_DONE && mm->locked_vm) {
		struct vm_area *v = vma_find(&mm->tree, addr);

		if (v && v->start <= addr && (v->flags & VM_LOCKED)) {
			uint64_t from = addr & ~(uint64_t)0xffff, to = from + 0x10000;

			mm_mlock_pages(mm, from > v->start ? from : v->start, to < v->end ? to : v->end, true);
		}
	}
	return r;
}

static enum fault_result handle_fault(struct as_mm *mm, uint64_t addr, unsigned access, bool write_locked)
{
	struct vm_area *v = vma_find(&mm->tree, addr);
	pte_t *ptep, e;

	if (addr >= mm->task_size || !v)
		return FAULT_SEGV_MAPERR;
	if (write_locked)
		file_sync_mm(mm);
	if (v->start > addr) {
		if (!(v->flags & VM_GROWSDOWN))
			return FAULT_SEGV_MAPERR;
		if (!write_locked)
			return FAULT_NEED_WRITE_LOCK;
		if (expand_downwards(mm, v, addr) != 0)
			return FAULT_SEGV_MAPERR;
		mm_debug_check(mm);
	}
	ptep = pgtable_walk(&mm->pt, addr & PAGE_MASK);
	e = ptep ? __atomic_load_n(ptep, __ATOMIC_ACQUIRE) : 0;

	/* x86's access_error: writes need VM_WRITE; a present entry that refused a read or a fetch is a protection fault. */
	if (access & FAULT_WRITE) {
		if (!(v->flags & VM_WRITE))
			return FAULT_SEGV_ACCERR;
	} else if (pte_present(e)) {
		if (!pte_allows(e, access))
			return FAULT_SEGV_ACCERR;
	} else if (!(v->flags & VM_ACCESS_FLAGS)) {
		return FAULT_SEGV_ACCERR;
	}
	/* A guard marker (MADV_GUARD_INSTALL): VM_FAULT_SIGSEGV, reported as MAPERR. */
	if (e == PTE_MARKER_GUARD)
		return FAULT_SEGV_MAPERR;

	/* hugetlbfs (mm/hugetlb.c): no huge page to be had is SIGBUS; faulting one in is not modelled yet. */
	if ((v->flags & VM_HUGETLB) && !pte_present(e))
		return hugetlb_fault_has_page(mm, v) ? FAULT_OOM : FAULT_SIGBUS;
	if (v->file && !file_map_is_anon(v->file)) {
		if (!v->file->cache)
			return FAULT_SIGBUS; /* a stand-in: nothing to read */
		if (!pte_present(e))
			return do_file_fault(mm, v, addr & PAGE_MASK, access);
		if ((access & FAULT_WRITE) && !(e & PTE_RW)) {
			enum fault_result r;

			if (v->flags & VM_SHARED)
				return do_shared_wp(mm, addr & PAGE_MASK, e);
			r = do_wp_page(mm, v, addr & PAGE_MASK, e);
			if (r == FAULT_NEED_WRITE_LOCK && write_locked) {
				/* The page to copy went with a truncation: drop it, retry. */
				file_sync_mm(mm);
				r = FAULT_DONE;
			}
			return r;
		}
		return FAULT_DONE;
	}
	/* [vdso] and [vvar] pages come from the special mapping (exec.c), copy-on-write after. */
	if (v->special && !pte_present(e)) {
		if (mm_special_fault(mm, v, addr & PAGE_MASK, fault_vma_pte_bits(v->flags)) != 0)
			return FAULT_OOM;
		update_hiwater_rss(mm);
		count_fault(mm);
		return FAULT_DONE;
	}
	if (!pte_present(e))
		return do_anonymous_page(mm, v, addr & PAGE_MASK, access);
	if ((access & FAULT_WRITE) && !(e & PTE_RW))
		return do_wp_page(mm, v, addr & PAGE_MASK, e);
	/* Spurious: another thread made the entry right meanwhile. */
	return FAULT_DONE;
}

/* fault_populate_range's walk; *gup tells whether a region got populate_vma_page_range's GUP. */
static int populate_regions(struct as_mm *mm, uint64_t start, uint64_t end, bool write_locked,
			    int force_access, bool *gup)
{
	uint64_t addr = start;

	while (addr < end) {
		struct vm_area *v = vma_find(&mm->tree, addr);
		unsigned access;
		uint64_t stop;

		if (!v || v->start >= end)
			break;
		if (addr < v->start)
			addr = v->start;
		stop = v->end < end ? v->end : end;
		if (force_access) {
			access = (unsigned)force_access | FAULT_MADV_POPULATE;
		} else {
			if ((v->flags & (VM_IO | VM_PFNMAP)) || !(v->flags & VM_ACCESS_FLAGS) ||
			    (v->flags & VM_LOCKONFAULT)) {
				addr = stop;
				continue;
			}
			access = (v->flags & (VM_WRITE | VM_SHARED)) == VM_WRITE ? FAULT_WRITE : FAULT_READ;
			/* mprotect's populate (write-locked) can't drop the lock: its faults stay major. */
			if (!write_locked)
				access |= FAULT_POPULATE;
			/* populate_vma_page_range drains after each region (MADV_POPULATE_* once, at its end). */
			*gup = true;
		}
		for (; addr < stop; addr += PAGE_SIZE) {
			pte_t *ptep = pgtable_walk(&mm->pt, addr);
			pte_t e = ptep ? __atomic_load_n(ptep, __ATOMIC_ACQUIRE) : 0;
			enum fault_result r;

			/* GUP faults only what isn't there yet in the needed form. */
			if (!pte_present(e) || ((access & FAULT_WRITE) && !(e & PTE_RW))) {
				r = fault_handle(mm, addr, access, write_locked);
				if (r == FAULT_OOM)
					return -ENOMEM;
				if (r != FAULT_DONE)
					return -EFAULT;
				e = ptep ? __atomic_load_n(ptep, __ATOMIC_ACQUIRE) : 0;
				if (!ptep && (ptep = pgtable_walk(&mm->pt, addr)) != NULL)
					e = __atomic_load_n(ptep, __ATOMIC_ACQUIRE);
			}
			/*
			 * FOLL_TOUCH on the page GUP then finds: it is marked
			 * accessed (PG_referenced) and, for a write, dirty.
			 */
			if (pte_present(e) && !(e & PTE_SPECIAL)) {
				struct page *pg = frame_page(mm->m, pte_pfn(e));

				if ((access & FAULT_WRITE) && !(e & PTE_D))
					__atomic_fetch_or(&pg->flags, PG_DIRTY, __ATOMIC_RELAXED);
				if (v->flags & VM_LOCKED) /* faulted into a locked region: mlocked */
					__atomic_fetch_or(&pg->flags, PG_MLOCKED, __ATOMIC_RELAXED);
				page_mark_accessed(pg, v->flags & VM_LOCKED);
			}
		}
	}
	return 0;
}

int fault_populate_range(struct as_mm *mm, uint64_t start, uint64_t end, bool write_locked,
			 int force_access)
{
	bool gup = false;
	int err = populate_regions(mm, start, end, write_locked, force_access, &gup);

	/* populate_vma_page_range ends with lru_add_drain (docs/linux-semantics.md §12.3). */
	if (gup)
		machine_lazyfree_drain(mm->m);
	return err;
}

void mm_populate(struct as_mm *mm, uint64_t start, uint64_t len)
{
	uint64_t end = start + len, addr = start;

	pthread_rwlock_rdlock(&mm->mmap_lock);
	/*
	 * Errors are ignored region by region (__mm_populate with
	 * ignore_errors): a region whose fault fails (a hugetlb SIGBUS, a
	 * file hole) is left and the next one is still populated.
	 */
	while (addr < end) {
		struct vm_area *v = vma_find(&mm->tree, addr);
		uint64_t stop;

		if (!v || v->start >= end)
			break;
		stop = v->end < end ? v->end : end;
		(void)fault_populate_range(mm, addr > v->start ? addr : v->start, stop, false, 0);
		addr = stop;
	}
	pthread_rwlock_unlock(&mm->mmap_lock);
}
