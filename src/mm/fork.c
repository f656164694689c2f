/*
 * fork: duplicate a space as Linux's dup_mmap does.
 *
 * Every region is copied except VM_DONTCOPY ones; locks are not inherited;
 * a VM_WIPEONFORK region arrives empty. Page tables are copied only for
 * regions that hold anonymous pages (the others refault in the child, as
 * on Linux, where that costs the child minor faults): private writable
 * pages are write-protected in both spaces for copy-on-write and lose their
 * exclusive mark, the child's entries are old (A clear) and, in shared
 * regions, clean. The child gets every table the parent links over such a
 * region, empty ones included (copy_pte_range allocates before looking), so
 * fault-around in a neighbour sharing the table sees one (fault.c). A child region copied from one with anonymous pages gets
 * an object of its own whose parent is the original's, and from then on no
 * longer lends its object to merges (see vma_ops.c).
 *
 * File and shared regions: the child's region references the same
 * file_map, so a shmem object (MAP_SHARED|MAP_ANONYMOUS) or a file's page
 * cache stays one object shared by both. Their entries are copied only
 * when the region also holds anonymous pages (a private file mapping
 * written to); each page cache page then gains a reference and a mapping.
 */
#include "mm.h"

#include "../file/file.h"

#include <errno.h>

struct fork_copy {
	struct as_mm *parent, *child;
	struct vm_area *v;    /* the parent's region being copied */
	bool flushed;         /* parent entries were write-protected */
};

static bool is_cow_mapping(uint64_t flags)
{
	return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
}

/* The child's entry for one of the parent's leaves; takes the page reference. */
static pte_t copy_one_pte(void *ctx, uint64_t va, pte_t *src_ptep)
{
	struct fork_copy *c = ctx;
	struct as_machine *m = c->parent->m;
	pte_t e = __atomic_load_n(src_ptep, __ATOMIC_RELAXED);
	struct page *pg;

	if (e == PTE_MARKER_GUARD)
		return e; /* guard markers are inherited */
	if (!pte_present(e))
		return 0;
	if (!(e & PTE_SPECIAL)) {
		pg = frame_page(m, pte_pfn(e));
		frame_get(m, pte_pfn(e));
		atomic_fetch_add_explicit(&pg->mapcount, 1, memory_order_relaxed);
		if (pg->flags & PG_ANON)
			__atomic_fetch_and(&pg->flags, ~(uint32_t)PG_ANON_EXCLUSIVE, __ATOMIC_RELAXED);
		mm_add_rss(c->child, mm_counter_of(pg), 1);
	}
	if (is_cow_mapping(c->v->flags) && (e & PTE_RW)) {
		pgtable_set(&c->parent->pt, src_ptep, e & ~PTE_RW);
		e &= ~PTE_RW;
		c->flushed = true;
	}
	if (c->v->flags & VM_SHARED)
		e &= ~PTE_D;
	return e & ~PTE_A;
}

/* A copy of the parent's region for the child, with its own anonymous object. */
static struct vm_area *dup_region(struct as_mm *child, const struct vm_area *pv)
{
	struct vm_area *v = vma_alloc(child);

	if (!v)
		return NULL;
	v->start = pv->start;
	v->end = pv->end;
	v->pgoff = pv->pgoff;
	v->flags = pv->flags & ~(VM_LOCKED | VM_LOCKONFAULT);
	v->special = pv->special;
	v->file = pv->file;
	file_map_get(v->file);
	if (pv->anon && !(pv->flags & VM_WIPEONFORK)) {
		struct anon_obj *a = slab_zalloc(machine_cache(child->m, MC_ANON));

		if (!a) {
			vma_free(child, v);
			return NULL;
		}
		atomic_init(&a->refs, 1);
		a->parent = pv->anon;
		anon_obj_get(pv->anon);
		v->anon = a;
		v->anon_forked = true;
	}
	return v;
}

/* Copy the layout, limits and VM counters a child inherits (dup_mm's memcpy and mm_init). */
static void inherit_mm_state(struct as_mm *child, const struct as_mm *parent)
{
	child->task_size = parent->task_size;
	child->mmap_base = parent->mmap_base;
	child->mmap_legacy_base = parent->mmap_legacy_base;
	child->topdown = parent->topdown;
	child->start_code = parent->start_code;
	child->end_code = parent->end_code;
	child->start_data = parent->start_data;
	child->end_data = parent->end_data;
	child->start_brk = parent->start_brk;
	child->brk = parent->brk;
	child->start_stack = parent->start_stack;
	child->arg_start = parent->arg_start;
	child->arg_end = parent->arg_end;
	child->env_start = parent->env_start;
	child->env_end = parent->env_end;
	child->def_flags = parent->def_flags & VM_NOHUGEPAGE;
	for (int i = 0; i < RLIM_NLIMITS; i++)
		child->rlim[i] = parent->rlim[i];
	child->caps = parent->caps;
	child->thp_disable = parent->thp_disable;
	child->fsuid = parent->fsuid;
	child->fsgid = parent->fsgid;
}

/* The body of fork with both mmap locks held. 0 or -ENOMEM (the child is then torn down by the caller). */
static int dup_mmap(struct as_mm *child, struct as_mm *parent)
{
	struct fork_copy c = { .parent = parent, .child = child };
	int rc = 0;

	vma_for_each(&parent->tree, pv) {
		uint64_t pages = (pv->end - pv->start) >> PAGE_SHIFT;
		struct vm_area *v;

		if (pv->flags & VM_DONTCOPY)
			continue;
		if ((pv->flags & VM_ACCOUNT) && mm_vm_enough_memory(child, pages) != 0)
			return -ENOMEM;
		v = dup_region(child, pv);
		if (!v) {
			if (pv->flags & VM_ACCOUNT)
				mm_vm_unacct(child, pages);
			return -ENOMEM;
		}
		vma_tree_insert(&child->tree, v);
		mm_stat_account(child, v->flags, (int64_t)pages);
		/* Linux copies tables only where faults could not rebuild them. */
		if ((pv->flags & VM_WIPEONFORK) || (!pv->anon && !(pv->flags & VM_MAYBE_GUARD)))
			continue;
		c.v = pv;
		pthread_mutex_lock(&parent->pt_lock);
		rc = pgtable_copy_range(&child->pt, &parent->pt, pv->start, pv->end, copy_one_pte, &c);
		pthread_mutex_unlock(&parent->pt_lock);
		if (rc)
			break;
	}
	if (c.flushed)
		mm_flush_tlb_range(parent, 0, parent->task_size);
	return rc;
}

int as_mm_fork(struct as_mm *parent, struct as_mm **out)
{
	struct as_mm *child;
	uint64_t rss;
	int rc;

	if (!parent || !out)
		return -EINVAL;
	tlb_thread_quiesce();
	rc = as_mm_new(parent->m, &child);
	if (rc)
		return rc;
	pthread_rwlock_wrlock(&parent->mmap_lock);
	pthread_rwlock_wrlock(&child->mmap_lock);
	inherit_mm_state(child, parent);
	/* Copy no entry a page cache already took away. */
	file_sync_mm(parent);
	atomic_store(&child->file_seen, atomic_load(&parent->file_seen));
	rc = dup_mmap(child, parent);
	rss = (uint64_t)(atomic_load(&child->rss[MM_ANONPAGES]) + atomic_load(&child->rss[MM_FILEPAGES]) +
			 atomic_load(&child->rss[MM_SHMEMPAGES]));
	atomic_store(&child->hiwater_rss, rss);
	child->hiwater_vm = child->total_vm;
	pthread_rwlock_unlock(&child->mmap_lock);
	mm_debug_check(parent);
	pthread_rwlock_unlock(&parent->mmap_lock);
	if (rc) {
		as_mm_put(child);
		return rc;
	}
	*out = child;
	return 0;
}
