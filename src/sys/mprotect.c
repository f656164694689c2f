/*
 * mprotect, as Linux 6.x's mm/mprotect.c (do_mprotect_pkey without a
 * protection key, mprotect_fixup) does it on x86-64.
 *
 * The call walks the regions of [start, end) in address order and gives
 * each the new rights, splitting the regions at the ends of the range and
 * merging with neighbours that end up alike. A hole stops the walk with
 * -ENOMEM, and so does any other failure: the regions before it keep their
 * new rights, as in Linux.
 *
 *    start                                   end
 *      |------ A ------|  hole  |----- B -----|
 *      ^^^^^^^^^^^^^^^^^ changed, then -ENOMEM
 *
 * Page tables: every present leaf of a changed range is rewritten to the
 * region's new rights in the encoding fault.h describes (US cleared for
 * PROT_NONE, NX unless VM_EXEC). Write permission is granted in the entry
 * only where Linux grants it without a fault: regions shared and writable
 * (for files whose dirtying the kernel tracks, only entries already dirty:
 * write-notify, file_writenotify), and exclusive anonymous pages of
 * private writable regions (its
 * MM_CP_TRY_CHANGE_WRITABLE rule); every other page of a private region
 * stays read-only until a write fault decides between reuse and copy.
 * The software TLBs are shot down whenever an entry lost a right.
 */
#include "sys.h"
#include <aspace/mman.h>

#include "../fault/fault.h"
#include "../file/file.h"

#include <errno.h>
#include <sys/mman.h>

/* The state of one mprotect call. */
struct mprot {
	struct as_mm *mm;
	uint64_t start, end;
	uint64_t prot;             /* PROT_READ/WRITE/EXEC as asked */
	bool flush;                /* some entry lost a right: shoot the TLBs down */
	uint64_t flush_start, flush_end;
};

/* prot to VM_ rights (calc_vm_prot_bits; PROT_SEM has no VM_ flag). */
static uint64_t prot_to_vm(uint64_t prot)
{
	return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) |
	       (prot & PROT_EXEC ? VM_EXEC : 0);
}

/* What one pass over the leaves of a changed range needs. */
struct pte_change {
	struct as_mm *mm;
	uint64_t flags;            /* the region's new flags */
	bool writenotify;          /* the region's file wants write faults (file_writenotify) */
	bool lost_right;
};

/*
 * The entry a present leaf gets under the region's new flags: the pfn and
 * the accessed, dirty and software bits stay; US, NX and RW follow the
 * flags as described at the top of this file.
 */
static pte_t new_leaf(const struct pte_change *c, pte_t old)
{
	pte_t e = (old & ~(PTE_RW | PTE_US | PTE_NX)) |
		  (fault_vma_pte_bits(c->flags) & (PTE_US | PTE_NX));
	uint64_t f = c->flags;
	struct page *pg;

	if (!(f & VM_WRITE) || (old & PTE_SPECIAL))
		return e;
	/*
	 * Shared: writable unless the file wants to hear of the first write
	 * (vma_wants_writenotify); then only entries already dirty are, the
	 * others wait for a write fault (can_change_shared_pte_writable).
	 */
	if (f & VM_SHARED)
		return c->writenotify && !(old & PTE_D) ? e : e | PTE_RW;
	pg = frame_page(c->mm->m, pte_pfn(old));
	if ((pg->flags & PG_ANON) && (pg->flags & PG_ANON_EXCLUSIVE))
		e |= PTE_RW;
	return e;
}

static int change_leaf(void *ctx, uint64_t va, pte_t *ptep)
{
	struct pte_change *c = ctx;
	pte_t old = *ptep, e;

	if (!pte_present(old))
		return 0; /* software entries keep what they mean */
	e = new_leaf(c, old);
	if (e == old)
		return 0;
	if (((old & PTE_RW) && !(e & PTE_RW)) || ((old & PTE_US) && !(e & PTE_US)) ||
	    (!(old & PTE_NX) && (e & PTE_NX)))
		c->lost_right = true;
	pgtable_set(&c->mm->pt, ptep, e);
	return 0;
}

/* Rewrite the present leaves of [start, end) of region v for its new flags. */
static void change_protection(struct mprot *p, const struct vm_area *v, uint64_t start, uint64_t end)
{
	struct pte_change c = { .mm = p->mm, .flags = v->flags, .writenotify = file_writenotify(v) };

	pthread_mutex_lock(&p->mm->pt_lock);
	(void)pgtable_for_each(&p->mm->pt, start, end, change_leaf, &c);
	pthread_mutex_unlock(&p->mm->pt_lock);
	if (!c.lost_right)
		return;
	if (!p->flush || start < p->flush_start)
		p->flush_start = start;
	if (!p->flush || end > p->flush_end)
		p->flush_end = end;
	p->flush = true;
}

/*
 * Give [start, end) of v the flags `newflags` (Linux's mprotect_fixup):
 * commit charge when a private region becomes writable, split or merge,
 * page tables, accounting. *out gets the region now covering the range
 * (v itself when nothing changed). 0 or -errno; on failure the region is
 * as it was, except for a split Linux leaves too.
 */
static int mprotect_fixup(struct mprot *p, struct vm_area *v, uint64_t start, uint64_t end,
			  uint64_t newflags, struct vm_area **out)
{
	struct as_mm *mm = p->mm;
	uint64_t oldflags = v->flags, nrpages = (end - start) >> PAGE_SHIFT, charged = 0;
	struct vma_merge g;
	struct vm_area *r;
	int err = 0;

	*out = v;
	if (oldflags & VM_SEALED)
		return -EPERM;
	if (newflags == oldflags)
		return 0;
	if (newflags & VM_WRITE) {
		/* Turning into data must fit RLIMIT_DATA (unless the old kind already did not). */
		if (!mm_may_expand_vm(mm, newflags, nrpages) && mm_may_expand_vm(mm, oldflags, nrpages))
			return -ENOMEM;
		if (!(oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE))) {
			charged = nrpages;
			if (mm_vm_enough_memory(mm, charged) != 0)
				return -ENOMEM;
			newflags |= VM_ACCOUNT;
		}
	} else if ((oldflags & VM_ACCOUNT) && (!v->file || file_map_is_anon(v->file)) && !v->anon) {
		/* A private anonymous region that never had a page gives its charge back. */
		newflags &= ~VM_ACCOUNT;
	}

	g = (struct vma_merge){ .mm = mm, .middle = v, .start = start, .end = end, .flags = newflags };
	r = vma_modify(&g, &err);
	if (!r) {
		mm_vm_unacct(mm, charged);
		return err;
	}
	/* Point of no return. A merged region keeps the sticky flags of its parts. */
	r->flags = newflags | (r->flags & VM_STICKY);
	*out = r;

	change_protection(p, r, start, end);
	if ((oldflags & VM_ACCOUNT) && !(newflags & VM_ACCOUNT))
		mm_vm_unacct(mm, nrpages);
	/* A locked private region turning writable is faulted in for writing now. */
	if ((oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED)) == VM_LOCKED && (newflags & VM_WRITE))
		(void)fault_populate_range(mm, start, end, true, 0);
	mm_stat_account(mm, oldflags, -(int64_t)nrpages);
	mm_stat_account(mm, newflags, (int64_t)nrpages);
	return 0;
}

/*
 * The region walk of do_mprotect_pkey, with the mmap lock held for writing.
 * `grows` is the PROT_GROWSDOWN/PROT_GROWSUP part of the request.
 */
static int mprotect_locked(struct mprot *p, uint64_t grows)
{
	struct as_mm *mm = p->mm;
	uint64_t start = p->start, end = p->end, nstart, tmp, newflags;
	struct vm_area *v, *r;
	int err = 0;

	v = vma_find_intersection(&mm->tree, start, end);
	if (!v)
		return -ENOMEM;
	if (grows & PROT_GROWSDOWN) {
		/* The range is taken down to the start of the stack it reaches. */
		start = v->start;
		if (!(v->flags & VM_GROWSDOWN))
			return -EINVAL;
	} else {
		if (v->start > start)
			return -ENOMEM;
		/* x86-64 has no VM_GROWSUP: no region can grow up. */
		if (grows & PROT_GROWSUP)
			return -EINVAL;
	}

	nstart = start;
	tmp = v->start;
	for (; v && v->start < end; v = vma_next(r)) {
		if (v->start != tmp)
			return -ENOMEM;
		newflags = prot_to_vm(p->prot) | (v->flags & ~VM_ACCESS_FLAGS);
		/* Each right needs its MAY bit, which sits four bits higher. */
		if ((newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS)
			return -EACCES;
		tmp = v->end < end ? v->end : end;
		err = mprotect_fixup(p, v, nstart, tmp, newflags, &r);
		if (err)
			return err;
		tmp = r->end;
		nstart = tmp;
	}
	if (tmp < end)
		return -ENOMEM;
	return 0;
}

long sys_mprotect(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t prot)
{
	const uint64_t grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
	struct mprot p = { .mm = mm };
	uint64_t end;
	int err;

	prot &= ~(uint64_t)(PROT_GROWSDOWN | PROT_GROWSUP);
	if (grows == (PROT_GROWSDOWN | PROT_GROWSUP))
		return -EINVAL;
	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (!len)
		return 0;
	len = PAGE_ALIGN(len);
	end = start + len;
	if (end <= start)
		return -ENOMEM;
	if (prot & ~(uint64_t)(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM))
		return -EINVAL;

	p.start = start;
	p.end = end;
	p.prot = prot;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	err = mprotect_locked(&p, grows);
	if (p.flush)
		mm_flush_tlb_range(mm, p.flush_start, p.flush_end);
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	return err;
}
