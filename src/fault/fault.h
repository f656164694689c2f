/*
 * fault — the page fault handler: what a user-mode access that the page
 * tables don't allow means, as Linux's do_user_addr_fault and
 * handle_mm_fault decide it on x86-64.
 *
 * Owns: demand paging of anonymous memory (zero page or a zeroed frame),
 * copy-on-write (copy, or reuse of an exclusive page), stack growth below
 * VM_GROWSDOWN regions, anonymous objects' creation (anon_vma_prepare), the
 * fault counters, population (MAP_POPULATE, mlock, MADV_POPULATE_*), and
 * the PTE encoding of a region's rights:
 *
 *   present leaf      P | US | A, plus RW once written (private) or if the
 *                     region is shared and writable, D when written,
 *                     NX unless VM_EXEC;
 *   PROT_NONE region  the leaf stays present with US cleared, so a user
 *                     access faults while smaps and mincore still see the
 *                     page (Linux keeps such pages as PROT_NONE entries);
 *   zero page         P | US | SPECIAL, never RW.
 *
 * Locking: faults run with the mmap lock held for reading (stack growth
 * retakes it for writing) and install entries under the page-table lock,
 * re-checking that the entry did not change while the frame was being
 * allocated.
 */
#ifndef ASPACE_FAULT_H
#define ASPACE_FAULT_H

#include "../mm/mm.h"

enum fault_access {
	FAULT_READ = 1u << 0,
	FAULT_WRITE = 1u << 1,
	FAULT_EXEC = 1u << 2,
	/*
	 * From __mm_populate (mlock, MAP_LOCKED, MAP_POPULATE, a locked
	 * region's growth): when the host had to read the page, Linux drops
	 * the lock, then populates again afresh (no FAULT_FLAG_TRIED), so the
	 * fault that maps it counts as minor, not major.
	 */
	FAULT_POPULATE = 1u << 3,
	/*
	 * From MADV_POPULATE_* (GUP): a fault Linux had to retry after
	 * dropping the lock is retried with FAULT_FLAG_TRIED and counts as
	 * major even when the page was cached (user faults retry without it
	 * unless the first attempt was major).
	 */
	FAULT_MADV_POPULATE = 1u << 4,
};

/* What a fault came to (internal protocol; the access layer maps it to a signal). */
enum fault_result {
	FAULT_DONE = 0,        /* the page is mapped as the access needs; retry it */
	FAULT_SEGV_MAPERR,     /* no region (SIGSEGV/SEGV_MAPERR) */
	FAULT_SEGV_ACCERR,     /* the region forbids the access (SIGSEGV/SEGV_ACCERR) */
	FAULT_SIGBUS,          /* SIGBUS/BUS_ADRERR (past the end of a file) */
	FAULT_OOM,             /* no frame could be had: the access fails with -ENOMEM */
	FAULT_NEED_WRITE_LOCK, /* stack growth: retry with the mmap lock held for writing */
};

/*
 * Handle a fault at addr for `access` with the mmap lock held (for reading,
 * or for writing when `write_locked`). Counts a minor fault when a page was
 * mapped.
 */
enum fault_result fault_handle(struct as_mm *mm, uint64_t addr, unsigned access,
			       bool write_locked) AS_INTERNAL AS_MUST_CHECK;

/*
 * Give v an anonymous object before its first anonymous page (Linux's
 * anon_vma_prepare): a neighbour's it could merge with, or a new one.
 * 0 or -ENOMEM.
 */
int fault_anon_prepare(struct as_mm *mm, struct vm_area *v) AS_INTERNAL AS_MUST_CHECK;

/* The PTE rights a region's flags allow for a freshly mapped private page. */
pte_t fault_vma_pte_bits(uint64_t vm_flags) AS_INTERNAL;

/* Does a present leaf allow this access by user mode? */
static inline bool pte_allows(pte_t e, unsigned access)
{
	if ((e & (PTE_P | PTE_US)) != (PTE_P | PTE_US))
		return false;
	if ((access & FAULT_WRITE) && !(e & PTE_RW))
		return false;
	if ((access & FAULT_EXEC) && (e & PTE_NX))
		return false;
	return true;
}

/*
 * Fault in [start, end) with the mmap lock held, as Linux's
 * populate_vma_page_range: writable private regions are written (breaking
 * copy-on-write), others read; PROT_NONE, VM_IO/VM_PFNMAP and
 * lock-on-fault regions are skipped. Returns 0, -ENOMEM, or -EFAULT when a
 * page can't be faulted (for MADV_POPULATE_*).
 */
int fault_populate_range(struct as_mm *mm, uint64_t start, uint64_t end, bool write_locked,
			 int force_access) AS_INTERNAL;

/*
 * The host address of addr for an access (access/access.c), faulting the
 * page in as a CPU would; the mmap lock is held for reading (and may be
 * dropped and retaken for stack growth). 0, or -EFAULT with *f, or -ENOMEM.
 */
int access_translate(struct as_mm *mm, uint64_t addr, unsigned access, uint8_t **host,
		     struct as_fault *f) AS_INTERNAL AS_MUST_CHECK;

#endif
