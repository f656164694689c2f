/*
 * mm — creating, sharing, checking and tearing down address spaces.
 * See mm.h for what the space owns and its locking.
 */
#include "mm.h"

#include "../file/file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SIZE_128M (128ull << 20)

/*
 * x86-64's mmap_base without randomization: the stack limit plus the guard
 * gap below the top, clamped to [128 MiB, 5/6 of the task size].
 */
uint64_t mm_compute_mmap_base(uint64_t task_size, uint64_t stack_rlimit, uint64_t stack_guard_gap)
{
	uint64_t gap = stack_rlimit;
	uint64_t gap_max = task_size / 6 * 5;

	if (gap + stack_guard_gap > gap)
		gap += stack_guard_gap;
	if (gap < SIZE_128M)
		gap = SIZE_128M;
	else if (gap > gap_max)
		gap = gap_max;
	return PAGE_ALIGN(task_size - gap);
}

/* Linux's TASK_UNMAPPED_BASE for the legacy layout: a third of the task size. */
static uint64_t legacy_mmap_base(uint64_t task_size)
{
	return PAGE_ALIGN(task_size / 3);
}

void mm_pick_layout(struct as_mm *mm)
{
	mm->topdown = !mm->m->cfg.legacy_va_layout;
	mm->mmap_legacy_base = legacy_mmap_base(mm->task_size);
	if (mm->topdown)
		mm->mmap_base = mm_compute_mmap_base(mm->task_size, mm_rlimit(mm, RLIMIT_STACK),
						     mm->m->cfg.stack_guard_gap);
	else
		mm->mmap_base = legacy_mmap_base(mm->task_size);
}

/* The rlimits of a process started from a login shell on Debian (as /proc/self/limits). */
static void mm_default_rlimits(struct as_mm *mm)
{
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		mm->rlim[i].rlim_cur = RLIM_INFINITY;
		mm->rlim[i].rlim_max = RLIM_INFINITY;
	}
	mm->rlim[RLIMIT_STACK].rlim_cur = 8ull << 20;
	mm->rlim[RLIMIT_CORE].rlim_cur = 0;
	mm->rlim[RLIMIT_MEMLOCK].rlim_cur = 8ull << 20;
	mm->rlim[RLIMIT_MEMLOCK].rlim_max = 8ull << 20;
	mm->rlim[RLIMIT_NOFILE].rlim_cur = 1024;
	mm->rlim[RLIMIT_NOFILE].rlim_max = 4096;
	mm->rlim[RLIMIT_MSGQUEUE].rlim_cur = 819200;
	mm->rlim[RLIMIT_MSGQUEUE].rlim_max = 819200;
	mm->rlim[RLIMIT_NICE].rlim_cur = 0;
	mm->rlim[RLIMIT_NICE].rlim_max = 0;
	mm->rlim[RLIMIT_RTPRIO].rlim_cur = 0;
	mm->rlim[RLIMIT_RTPRIO].rlim_max = 0;
}

/* Allocate and initialise an empty space with one user; NULL on failure. */
static struct as_mm *mm_alloc(struct as_machine *m)
{
	struct as_mm *mm = slab_zalloc(machine_cache(m, MC_MM));

	if (!mm)
		return NULL;
	mm->m = m;
	if (pgtable_init(&mm->pt, m) != 0)
		goto err_free;
	if (pthread_rwlock_init(&mm->mmap_lock, NULL) != 0)
		goto err_pgtable;
	if (pthread_mutex_init(&mm->pt_lock, NULL) != 0)
		goto err_rwlock;
	if (pthread_mutex_init(&mm->tlb_lock, NULL) != 0)
		goto err_ptlock;
	vma_tree_init(&mm->tree);
	mm->task_size = TASK_SIZE_MAX;
	mm_default_rlimits(mm);
	mm_pick_layout(mm);
	env_host_ids(&mm->fsuid, &mm->fsgid);
	atomic_init(&mm->users, 1);
	atomic_init(&mm->holders, 1);
	return mm;

err_ptlock:
	pthread_mutex_destroy(&mm->pt_lock);
err_rwlock:
	pthread_rwlock_destroy(&mm->mmap_lock);
err_pgtable:
	pgtable_destroy(&mm->pt);
err_free:
	slab_free(machine_cache(m, MC_MM), mm);
	return NULL;
}

int as_mm_new(struct as_machine *m, struct as_mm **out)
{
	struct as_mm *mm;

	if (!m || !out)
		return -EINVAL;
	mm = mm_alloc(m);
	if (!mm)
		return -ENOMEM;
	*out = mm;
	return 0;
}

void as_mm_get(struct as_mm *mm)
{
	int old = atomic_fetch_add(&mm->users, 1);

	ENV_BUG_ON(old <= 0);
}

void as_mm_grab(struct as_mm *mm)
{
	int old = atomic_fetch_add(&mm->holders, 1);

	ENV_BUG_ON(old <= 0);
}

void as_mm_drop(struct as_mm *mm)
{
	int old = atomic_fetch_sub(&mm->holders, 1);

	ENV_BUG_ON(old <= 0);
	if (old > 1)
		return;
	ENV_BUG_ON(atomic_load(&mm->users) != 0);
	pgtable_destroy(&mm->pt);
	ENV_BUG_ON(mm->tlb_list != NULL);
	pthread_mutex_destroy(&mm->tlb_lock);
	pthread_mutex_destroy(&mm->pt_lock);
	pthread_rwlock_destroy(&mm->mmap_lock);
	slab_free(machine_cache(mm->m, MC_MM), mm);
}

void as_mm_put(struct as_mm *mm)
{
	int old;

	if (!mm)
		return;
	tlb_thread_quiesce();
	old = atomic_fetch_sub(&mm->users, 1);
	ENV_BUG_ON(old <= 0);
	if (old > 1)
		return;
	mm_exit_mmap(mm);
	as_mm_drop(mm);
}

enum mm_counter mm_counter_of(const struct page *pg)
{
	if (pg->flags & PG_ANON)
		return MM_ANONPAGES;
	if (pg->flags & PG_SHMEM)
		return MM_SHMEMPAGES;
	return MM_FILEPAGES;
}

void mm_release_pte(void *ctx, uint64_t va, pte_t old)
{
	struct as_mm *mm = ctx;
	struct as_machine *m = mm->m;
	struct page *pg;
	pfn_t pfn;

	if (!pte_present(old) || (old & PTE_SPECIAL))
		return;
	pfn = pte_pfn(old);
	ENV_BUG_ON(pfn >= m->nframes);
	pg = frame_page(m, pfn);
	mm_add_rss(mm, mm_counter_of(pg), -1);
	/* A written page cache page stays dirty after its entry goes (zap_present_folio). */
	if ((old & PTE_D) && !(pg->flags & PG_ANON))
		file_page_set_dirty(pg, true);
	/*
	 * A young entry of a page cache page marks the folio accessed as it
	 * goes, unless its region opted out of recency (MADV_SEQUENTIAL or
	 * MADV_RANDOM: vma_has_recency). Reclaim clears PTE_A first.
	 */
	/*
	 * A young entry of a page cache page marks the folio accessed as it
	 * goes, unless its region opted out of recency (MADV_SEQUENTIAL or
	 * MADV_RANDOM: vma_has_recency; reclaim clears PTE_A first). Unmapped
	 * from a locked region, an mlocked page is munlocked (munlock_vma_folio)
	 * through the mlock batch: unevictable until the batches drain. The
	 * region is looked up only for these two.
	 */
	if (((old & PTE_A) && !(pg->flags & PG_ANON)) || (pg->flags & PG_MLOCKED)) {
		struct vm_area *v = vma_lookup(&mm->tree, va);
		bool locked = v && (v->flags & VM_LOCKED);

		if ((old & PTE_A) && !(pg->flags & PG_ANON) && (!v || !(v->flags & (VM_SEQ_READ | VM_RAND_READ))))
			page_mark_accessed(pg, locked);
		if ((pg->flags & PG_MLOCKED) && locked)
			machine_munlock_add(m, pfn);
	}
	atomic_fetch_sub_explicit(&pg->mapcount, 1, memory_order_relaxed);
	frame_put(m, pfn);
}

/* Clear one leaf unless it is a guard marker (MADV_DONTNEED keeps guards). */
static int zap_keep_guard(void *ctx, uint64_t va, pte_t *ptep)
{
	struct as_mm *mm = ctx;

	if (__atomic_load_n(ptep, __ATOMIC_RELAXED) != PTE_MARKER_GUARD)
		mm_release_pte(mm, va, pgtable_clear(&mm->pt, ptep));
	return 0;
}

void mm_zap_range(struct as_mm *mm, uint64_t start, uint64_t end, bool free_tables)
{
	mm_flush_tlb_range(mm, start, end);
	pthread_mutex_lock(&mm->pt_lock);
	if (free_tables)
		pgtable_zap_range(&mm->pt, start, end, true, mm_release_pte, mm);
	else
		(void)pgtable_for_each(&mm->pt, start, end, zap_keep_guard, mm);
	pthread_mutex_unlock(&mm->pt_lock);
}

void mm_exit_mmap(struct as_mm *mm)
{
	struct vm_area *v;

	pthread_rwlock_wrlock(&mm->mmap_lock);
	/*
	 * No LRU drain: Linux 6.18's exit leaves the per-CPU batches as they
	 * are (probed: a page MADV_FREE'd before the exit stays referenced in
	 * a forked child). Pages still in the lazy-free batch keep their frame
	 * until it drains (as_machine_drain does before counting free frames).
	 */
	mm_zap_range(mm, 0, mm->task_size, true);
	while ((v = vma_first(&mm->tree)) != NULL) {
		vma_tree_erase(&mm->tree, v);
		vma_free(mm, v);
	}
	if (mm->committed) {
		atomic_fetch_sub(&mm->m->committed_pages, mm->committed);
		mm->committed = 0;
	}
	mm->total_vm = mm->locked_vm = mm->data_vm = mm->exec_vm = mm->stack_vm = mm->locked_vm_kept = 0;
	pthread_rwlock_unlock(&mm->mmap_lock);
}

int as_mm_set_brk_base(struct as_mm *mm, uint64_t start)
{
	if (start & ~PAGE_MASK || start >= mm->task_size)
		return -EINVAL;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	mm->start_brk = mm->brk = start;
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
}

int as_mm_setrlimit(struct as_mm *mm, int resource, uint64_t cur, uint64_t max)
{
	if (resource < 0 || resource >= RLIM_NLIMITS || cur > max)
		return -EINVAL;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	/* Raising a hard limit needs CAP_SYS_RESOURCE, as setrlimit(2). */
	if (max > mm->rlim[resource].rlim_max && !mm_capable(mm, MM_CAP_SYS_RESOURCE)) {
		pthread_rwlock_unlock(&mm->mmap_lock);
		return -EPERM;
	}
	mm->rlim[resource].rlim_cur = cur;
	mm->rlim[resource].rlim_max = max;
	/*
	 * Linux picks mmap_base from the stack limit at exec; a space that
	 * maps nothing yet stands for one about to be exec'd, so it follows.
	 */
	if (resource == RLIMIT_STACK && mm->tree.count == 0)
		mm_pick_layout(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
}

int as_mm_getrlimit(struct as_mm *mm, int resource, uint64_t *cur, uint64_t *max)
{
	if (resource < 0 || resource >= RLIM_NLIMITS)
		return -EINVAL;
	pthread_rwlock_rdlock(&mm->mmap_lock);
	if (cur)
		*cur = mm->rlim[resource].rlim_cur;
	if (max)
		*max = mm->rlim[resource].rlim_max;
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
}

int as_mm_set_caps(struct as_mm *mm, uint64_t caps)
{
	pthread_rwlock_wrlock(&mm->mmap_lock);
	mm->caps = caps;
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
}

int as_mm_set_ids(struct as_mm *mm, uint32_t uid, uint32_t gid)
{
	if (!mm || uid == UINT32_MAX || gid == UINT32_MAX)
		return -EINVAL;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	mm->fsuid = uid;
	mm->fsgid = gid;
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
}

void as_mm_get_layout(struct as_mm *mm, struct as_mm_layout *out)
{
	pthread_rwlock_rdlock(&mm->mmap_lock);
	*out = (struct as_mm_layout){
		.task_size = mm->task_size,
		.mmap_base = mm->mmap_base,
		.start_brk = mm->start_brk,
		.brk = mm->brk,
		.start_stack = mm->start_stack,
		.arg_start = mm->arg_start,
		.arg_end = mm->arg_end,
		.env_start = mm->env_start,
		.env_end = mm->env_end,
		.start_code = mm->start_code,
		.end_code = mm->end_code,
		.start_data = mm->start_data,
		.end_data = mm->end_data,
	};
	pthread_rwlock_unlock(&mm->mmap_lock);
}

/* A range [a, b) is well formed: ordered and inside the task size. */
static bool range_ok(const struct as_mm *mm, uint64_t a, uint64_t b)
{
	return a <= b && b <= mm->task_size;
}

int as_mm_set_layout(struct as_mm *mm, const struct as_mm_layout *l)
{
	if (!mm || !l)
		return -EINVAL;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	if (!range_ok(mm, l->start_code, l->end_code) || !range_ok(mm, l->start_data, l->end_data) ||
	    !range_ok(mm, l->start_brk, l->brk) || !range_ok(mm, l->arg_start, l->arg_end) ||
	    !range_ok(mm, l->env_start, l->env_end) || l->start_stack > mm->task_size ||
	    (l->task_size && l->task_size > TASK_SIZE_MAX) ||
	    (l->mmap_base && (l->mmap_base & ~PAGE_MASK || l->mmap_base > mm->task_size))) {
		pthread_rwlock_unlock(&mm->mmap_lock);
		return -EINVAL;
	}
	mm->start_code = l->start_code;
	mm->end_code = l->end_code;
	mm->start_data = l->start_data;
	mm->end_data = l->end_data;
	mm->start_brk = l->start_brk;
	mm->brk = l->brk;
	mm->start_stack = l->start_stack;
	mm->arg_start = l->arg_start;
	mm->arg_end = l->arg_end;
	mm->env_start = l->env_start;
	mm->env_end = l->env_end;
	if (l->task_size)
		mm->task_size = l->task_size;
	if (l->mmap_base)
		mm->mmap_base = l->mmap_base;
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
}

static uint64_t rss_total(struct as_mm *mm)
{
	return (uint64_t)(atomic_load(&mm->rss[MM_FILEPAGES]) + atomic_load(&mm->rss[MM_ANONPAGES]) +
			  atomic_load(&mm->rss[MM_SHMEMPAGES]));
}

void as_mm_get_counters(struct as_mm *mm, struct as_mm_counters *out)
{
	uint64_t rss, hw;

	file_sync_mm_unlocked(mm); /* RSS after what the page caches took away */
	pthread_rwlock_rdlock(&mm->mmap_lock);
	rss = rss_total(mm);
	hw = atomic_load(&mm->hiwater_rss);
	*out = (struct as_mm_counters){
		.total_vm = mm->total_vm,
		.locked_vm = mm->locked_vm,
		.pinned_vm = atomic_load(&mm->pinned_vm),
		.data_vm = mm->data_vm,
		.exec_vm = mm->exec_vm,
		.stack_vm = mm->stack_vm,
		.rss_anon = (uint64_t)atomic_load(&mm->rss[MM_ANONPAGES]),
		.rss_file = (uint64_t)atomic_load(&mm->rss[MM_FILEPAGES]),
		.rss_shmem = (uint64_t)atomic_load(&mm->rss[MM_SHMEMPAGES]),
		.swap_ents = (uint64_t)atomic_load(&mm->rss[MM_SWAPENTS]),
		.map_count = mm->tree.count,
		.hiwater_rss = hw > rss ? hw : rss,
		.hiwater_vm = mm->hiwater_vm > mm->total_vm ? mm->hiwater_vm : mm->total_vm,
		.min_flt = atomic_load(&mm->min_flt),
		.maj_flt = atomic_load(&mm->maj_flt),
		.cow_copies = atomic_load(&mm->cow_copies),
		.cow_reuses = atomic_load(&mm->cow_reuses),
		.zero_page_maps = atomic_load(&mm->zero_maps),
		.committed_pages = mm->committed,
	};
	pthread_rwlock_unlock(&mm->mmap_lock);
}

/*
 * Count a region's pages in the space's VM counters (Linux's
 * vm_stat_account): executable text, stack, or private writable data.
 */
void mm_stat_account(struct as_mm *mm, uint64_t flags, int64_t pages)
{
	mm->total_vm += (uint64_t)pages;
	if ((flags & (VM_EXEC | VM_WRITE | VM_GROWSDOWN)) == VM_EXEC)
		mm->exec_vm += (uint64_t)pages;
	else if (flags & VM_GROWSDOWN)
		mm->stack_vm += (uint64_t)pages;
	else if ((flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) == VM_WRITE)
		mm->data_vm += (uint64_t)pages;
	if (mm->total_vm > mm->hiwater_vm)
		mm->hiwater_vm = mm->total_vm;
}

/* ---- limits ---- */

/* Linux's may_expand_vm: RLIMIT_AS, and RLIMIT_DATA for private writable data. */
bool mm_may_expand_vm(struct as_mm *mm, uint64_t flags, uint64_t pages)
{
	uint64_t data_lim = mm_rlimit(mm, RLIMIT_DATA);

	if (mm->total_vm + pages > mm_rlimit(mm, RLIMIT_AS) >> PAGE_SHIFT)
		return false;
	if ((flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) == VM_WRITE &&
	    mm->data_vm + pages > data_lim >> PAGE_SHIFT) {
		/* Linux lets a zero soft limit through up to the hard limit (for Valgrind). */
		if (data_lim == 0 && mm->data_vm + pages <= mm->rlim[RLIMIT_DATA].rlim_max >> PAGE_SHIFT)
			return true;
		return false;
	}
	return true;
}

/* Linux's can_do_mlock: a non-zero RLIMIT_MEMLOCK or CAP_IPC_LOCK. */
bool mm_can_do_mlock(struct as_mm *mm)
{
	return mm_rlimit(mm, RLIMIT_MEMLOCK) != 0 || mm_capable(mm, MM_CAP_IPC_LOCK);
}

/* Linux's mlock_future_ok: would locking `bytes` more stay within RLIMIT_MEMLOCK? */
bool mm_mlock_future_ok(struct as_mm *mm, uint64_t flags, uint64_t bytes)
{
	uint64_t pages;

	if (!(flags & VM_LOCKED) || mm_capable(mm, MM_CAP_IPC_LOCK))
		return true;
	pages = (bytes >> PAGE_SHIFT) + mm->locked_vm;
	return pages <= mm_rlimit(mm, RLIMIT_MEMLOCK) >> PAGE_SHIFT;
}

/* ---- commit accounting ---- */

int mm_vm_enough_memory(struct as_mm *mm, uint64_t pages)
{
	struct as_machine *m = mm->m;
	int64_t allowed, total = (int64_t)m->nframes;
	int64_t committed = atomic_fetch_add(&m->committed_pages, (int64_t)pages) + (int64_t)pages;
	int64_t admin_reserve = total / 32 < 2048 ? total / 32 : 2048;   /* 8 MiB */
	int64_t user_reserve = total / 32 < 32768 ? total / 32 : 32768;  /* 128 MiB */
	int64_t vm_reserve = (int64_t)(mm->total_vm / 32);

	switch (m->cfg.overcommit_memory) {
	case 1: /* always */
		goto ok;
	case 0: /* heuristic: one request may not exceed RAM (and swap, which we don't have) */
		if ((int64_t)pages > total)
			goto fail;
		goto ok;
	default: /* never: the commit limit, over RAM less the huge page pools */
		allowed = (total - (int64_t)(m->huge_pool[0].total << 9) - (int64_t)(m->huge_pool[1].total << 18)) *
			  m->cfg.overcommit_ratio / 100;
		if (!mm_capable(mm, MM_CAP_SYS_ADMIN))
			allowed -= admin_reserve;
		allowed -= vm_reserve < user_reserve ? vm_reserve : user_reserve;
		if (committed < allowed)
			goto ok;
		goto fail;
	}
ok:
	mm->committed += pages;
	return 0;
fail:
	atomic_fetch_sub(&m->committed_pages, (int64_t)pages);
	return -ENOMEM;
}

void mm_vm_unacct(struct as_mm *mm, uint64_t pages)
{
	if (!pages)
		return;
	ENV_BUG_ON(pages > mm->committed);
	mm->committed -= pages;
	atomic_fetch_sub(&mm->m->committed_pages, (int64_t)pages);
}

/* ---- validation ---- */

struct check_ctx {
	struct as_mm *mm;
	char *buf;
	size_t len;
	struct vm_area *v; /* region containing the current PTE run */
	int64_t rss[NR_MM_COUNTERS];
};

__attribute__((format(printf, 3, 4))) static int check_fail(char *buf, size_t len, const char *fmt,
							     ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -EUCLEAN;
}

/* Every live leaf must lie in a region and grant no right the region lacks. */
static int check_pte(void *ctx, uint64_t va, pte_t *ptep)
{
	struct check_ctx *c = ctx;
	pte_t e = *ptep;
	struct page *pg;

	if (!c->v || va >= c->v->end || va < c->v->start)
		c->v = vma_lookup(&c->mm->tree, va);
	if (!c->v)
		return check_fail(c->buf, c->len, "pte %#llx at %#llx outside every region",
				  (unsigned long long)e, (unsigned long long)va);
	if (!pte_present(e))
		return 0;
	if ((e & PTE_RW) && !(c->v->flags & VM_WRITE))
		return check_fail(c->buf, c->len, "writable pte at %#llx in a region without VM_WRITE",
				  (unsigned long long)va);
	if (!(e & PTE_NX) && !(c->v->flags & VM_EXEC))
		return check_fail(c->buf, c->len, "executable pte at %#llx in a region without VM_EXEC",
				  (unsigned long long)va);
	if (e & PTE_SPECIAL)
		return 0;
	if (pte_pfn(e) >= c->mm->m->nframes)
		return check_fail(c->buf, c->len, "pte at %#llx points outside RAM", (unsigned long long)va);
	pg = frame_page(c->mm->m, pte_pfn(e));
	if (atomic_load(&pg->refcount) <= 0 || atomic_load(&pg->mapcount) <= 0)
		return check_fail(c->buf, c->len, "pte at %#llx maps a frame with refcount %d mapcount %d",
				  (unsigned long long)va, atomic_load(&pg->refcount),
				  atomic_load(&pg->mapcount));
	c->rss[mm_counter_of(pg)]++;
	return 0;
}

/* Caller holds the mmap lock (either mode). */
static int mm_check_locked(struct as_mm *mm, char *buf, size_t len)
{
	struct check_ctx c = { .mm = mm, .buf = buf, .len = len };
	uint64_t total = 0, locked = 0, data = 0, exec = 0, stack = 0, prev_end = 0;
	int rc;

	rc = vma_tree_check(&mm->tree, buf, len);
	if (rc)
		return rc;
	vma_for_each(&mm->tree, v) {
		uint64_t pages = (v->end - v->start) >> PAGE_SHIFT;
		uint64_t f = v->flags;

		if (v->start < prev_end || v->end > mm->task_size)
			return check_fail(buf, len, "region %#llx-%#llx out of bounds",
					  (unsigned long long)v->start, (unsigned long long)v->end);
		if (!vma_rights_consistent(f))
			return check_fail(buf, len, "region %#llx-%#llx has a right without its MAY bit",
					  (unsigned long long)v->start, (unsigned long long)v->end);
		if (v->mm != mm)
			return check_fail(buf, len, "region %#llx-%#llx belongs to another space",
					  (unsigned long long)v->start, (unsigned long long)v->end);
		prev_end = v->end;
		total += pages;
		if (f & VM_LOCKED)
			locked += pages;
		if ((f & (VM_EXEC | VM_WRITE | VM_GROWSDOWN)) == VM_EXEC)
			exec += pages;
		else if (f & VM_GROWSDOWN)
			stack += pages;
		else if ((f & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) == VM_WRITE)
			data += pages;
	}
	if (total != mm->total_vm || exec != mm->exec_vm || stack != mm->stack_vm || data != mm->data_vm ||
	    locked + mm->locked_vm_kept != mm->locked_vm)
		return check_fail(buf, len,
				  "vm counters: total %llu/%llu exec %llu/%llu stack %llu/%llu data %llu/%llu locked %llu/%llu (counted/kept)",
				  (unsigned long long)total, (unsigned long long)mm->total_vm,
				  (unsigned long long)exec, (unsigned long long)mm->exec_vm,
				  (unsigned long long)stack, (unsigned long long)mm->stack_vm,
				  (unsigned long long)data, (unsigned long long)mm->data_vm,
				  (unsigned long long)locked, (unsigned long long)mm->locked_vm);
	pthread_mutex_lock(&mm->pt_lock);
	rc = pgtable_check(&mm->pt, buf, len);
	if (!rc)
		rc = pgtable_for_each(&mm->pt, 0, PT_USER_TOP, check_pte, &c);
	pthread_mutex_unlock(&mm->pt_lock);
	if (rc)
		return rc;
	for (int i = 0; i < NR_MM_COUNTERS; i++) {
		if (i == MM_SWAPENTS)
			continue;
		if (c.rss[i] != atomic_load(&mm->rss[i]))
			return check_fail(buf, len, "rss counter %d: %lld mapped, %lld counted", i,
					  (long long)c.rss[i], (long long)atomic_load(&mm->rss[i]));
	}
	return 0;
}

int mm_check(struct as_mm *mm, char *buf, size_t len)
{
	int rc;

	pthread_rwlock_rdlock(&mm->mmap_lock);
	rc = mm_check_locked(mm, buf, len);
	pthread_rwlock_unlock(&mm->mmap_lock);
	return rc;
}

void mm_debug_check(struct as_mm *mm)
{
	char buf[256];

	if (ENV_DEBUG && mm_check_locked(mm, buf, sizeof(buf)) != 0)
		ENV_PANIC("address space invariant broken: %s", buf);
}

int as_mm_check(struct as_mm *mm, FILE *report)
{
	char buf[256];
	int rc = mm_check(mm, buf, sizeof(buf));

	if (rc && report)
		fprintf(report, "%s\n", buf);
	return rc;
}
