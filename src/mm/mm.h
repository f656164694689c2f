/*
 * mm — the address space object (Linux's mm_struct).
 *
 * Owns: struct as_mm — its region tree, its page tables, its layout
 * (task size, mmap_base, brk, stack and argument ranges), its counters
 * (total/locked/pinned/data/exec/stack VM, RSS per kind, faults), its
 * rlimits and the capabilities that change mm behaviour, its two reference
 * counts and its locks. Creating, sharing and tearing down spaces.
 *
 * Vocabulary: "users" are tasks sharing the space (CLONE_VM threads, vfork
 * children): when the last goes, the space is torn down (exit_mmap).
 * "Holders" keep the object itself alive (Linux's mm_count); all users
 * together hold one such reference.
 *
 * Invariants (checked by mm_check):
 *  - the region tree is valid (vma_tree_check) and map_count == tree count;
 *  - every region lies in [mmap_min_addr... or 0, task_size), its flags are
 *    consistent (VM_SHARED implies VM_MAYSHARE, a right implies its MAY bit);
 *  - total_vm, locked_vm, data_vm, exec_vm, stack_vm equal the sums over
 *    regions (vm_stat_account's classification);
 *  - every present PTE lies inside a region and grants no right the region
 *    lacks; RSS counters equal the present PTEs of each kind;
 *  - the page tables are valid (pgtable_check).
 *
 * Locking (the order is in docs/ARCHITECTURE.md):
 *   mmap_lock (rwlock)  the tree, the regions, layout and VM counters:
 *                       mmap-family calls take it for writing, faults and
 *                       views for reading;
 *   pt_lock (mutex)     page-table entries; taken inside mmap_lock;
 *   tlb_lock (mutex)    the list of software TLB handles; taken alone;
 *   atomics             RSS and fault counters, users/holders.
 */
#ifndef ASPACE_MM_H
#define ASPACE_MM_H

#include "../machine/machine.h"
#include "../pgtable/pgtable.h"
#include "../vma/vma.h"

#include <sys/resource.h>

/* x86-64 with 4-level paging: the last user page ends 4 KiB below 2^47. */
#define TASK_SIZE_MAX ((1ull << 47) - PAGE_SIZE)
#define MM_RLIM_INFINITY UINT64_MAX

/* Capabilities that change mm behaviour (bit numbers from <linux/capability.h>). */
#define MM_CAP_DAC_OVERRIDE 1
#define MM_CAP_FOWNER 3
#define MM_CAP_IPC_LOCK 14
#define MM_CAP_SYS_RAWIO 17
#define MM_CAP_SYS_ADMIN 21
#define MM_CAP_SYS_RESOURCE 24

/* RSS counters, as Linux's MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES. */
enum mm_counter {
	MM_FILEPAGES,
	MM_ANONPAGES,
	MM_SWAPENTS,
	MM_SHMEMPAGES,
	NR_MM_COUNTERS
};

/*
 * One address space. Legend: [I] immutable after creation; [W] mmap_lock
 * (write to change, read to read); [P] pt_lock; [A] atomic.
 */
struct as_mm {
	struct as_machine *m;          /* [I] */
	pthread_rwlock_t mmap_lock;
	pthread_mutex_t pt_lock;

	struct vma_tree tree;          /* [W] */
	struct pgtable pt;             /* [I] root; entries [P] */

	/* Layout. */
	uint64_t task_size;            /* [W] */
	uint64_t mmap_base;            /* [W] where top-down placement starts */
	uint64_t mmap_legacy_base;     /* [W] where bottom-up placement starts */
	bool topdown;                  /* [W] false: legacy bottom-up layout */
	uint64_t start_code, end_code, start_data, end_data; /* [W] */
	uint64_t start_brk, brk;       /* [W] */
	uint64_t start_stack;          /* [W] */
	uint64_t arg_start, arg_end, env_start, env_end;     /* [W] */

	/* Virtual memory counters, in pages. */
	uint64_t total_vm, locked_vm, data_vm, exec_vm, stack_vm; /* [W] */
	uint64_t locked_vm_kept;       /* [W] pages locked_vm still counts, as Linux's does, of
	                                  regions mremap(DONTUNMAP) unlocked */
	_Atomic uint64_t pinned_vm;    /* [A] */
	uint64_t hiwater_vm;           /* [W] */
	uint64_t def_flags;            /* [W] VM_LOCKED/LOCKONFAULT after mlockall(MCL_FUTURE) */
	uint64_t committed;            /* [W] pages charged to the machine's commit count */

	/* Physical memory counters. */
	_Atomic int64_t rss[NR_MM_COUNTERS];  /* [A] pages */
	_Atomic uint64_t hiwater_rss;  /* [A] */
	_Atomic uint64_t min_flt, maj_flt;    /* [A] */
	_Atomic uint64_t cow_copies, cow_reuses, zero_maps; /* [A] */

	/* Limits and privileges. */
	struct rlimit rlim[RLIM_NLIMITS]; /* [W] */
	uint64_t caps;                 /* [W] bitmask of 1 << CAP_xxx */
	uint32_t fsuid, fsgid;         /* [W] the identity file permission checks use (no
	                                  supplementary groups); the host's by default */
	uint8_t thp_disable;           /* [W] prctl(PR_SET_THP_DISABLE): enum mm_thp_disable;
	                                  kept by fork and exec */

	/* Software TLBs of the threads accessing this space (access/tlb.c). */
	_Atomic uint64_t tlb_gen;      /* [A] bumped by every invalidation */
	pthread_mutex_t tlb_lock;      /* protects tlb_list */
	struct as_tlb *tlb_list;       /* [tlb_lock] registered handles */

	_Atomic uint64_t file_seen;    /* [A] the machine's file_seq this space's entries
	                                  reflect (file/: file_sync_mm) */

	_Atomic int users;             /* [A] tasks using the space */
	_Atomic int holders;           /* [A] references to the object; users count as one */
};

/* Linux's MMF_DISABLE_THP_COMPLETELY and MMF_DISABLE_THP_EXCEPT_ADVISED. */
enum mm_thp_disable {
	MM_THP_ENABLED = 0,
	MM_THP_DISABLE_ALL,            /* no huge page anywhere, not even MADV_COLLAPSE */
	MM_THP_DISABLE_EXCEPT_ADVISED, /* only in MADV_HUGEPAGE regions and for MADV_COLLAPSE */
};

static inline bool mm_capable(const struct as_mm *mm, int cap)
{
	return mm->caps & (1ull << cap);
}

/*
 * The floor of hints, searches and stack growth (Linux's mmap_min_addr:
 * the larger of the sysctl and CONFIG_LSM_MMAP_MIN_ADDR). MAP_FIXED below
 * the sysctl alone needs CAP_SYS_RAWIO.
 */
static inline uint64_t mm_min_addr(const struct as_mm *mm)
{
	const struct as_machine_config *c = &mm->m->cfg;

	return c->mmap_min_addr > c->lsm_mmap_min_addr ? c->mmap_min_addr : c->lsm_mmap_min_addr;
}

static inline uint64_t mm_rlimit(const struct as_mm *mm, int resource)
{
	return mm->rlim[resource].rlim_cur;
}

static inline void mm_add_rss(struct as_mm *mm, enum mm_counter c, int64_t pages)
{
	atomic_fetch_add_explicit(&mm->rss[c], pages, memory_order_relaxed);
}

/* Add (or with negative pages, remove) a region's pages to the VM counters. [W] */
void mm_stat_account(struct as_mm *mm, uint64_t flags, int64_t pages) AS_INTERNAL;

/* Linux's may_expand_vm: would `pages` more of this kind stay within RLIMIT_AS and RLIMIT_DATA? */
bool mm_may_expand_vm(struct as_mm *mm, uint64_t flags, uint64_t pages) AS_INTERNAL;
/* Linux's can_do_mlock: a non-zero RLIMIT_MEMLOCK or CAP_IPC_LOCK. */
bool mm_can_do_mlock(struct as_mm *mm) AS_INTERNAL;
/* Linux's mlock_future_ok: would locking `bytes` more stay within RLIMIT_MEMLOCK? */
bool mm_mlock_future_ok(struct as_mm *mm, uint64_t flags, uint64_t bytes) AS_INTERNAL;

/*
 * Charge `pages` to the machine's committed memory under its overcommit
 * policy (Linux's __vm_enough_memory): 0, or -ENOMEM with nothing charged.
 */
int mm_vm_enough_memory(struct as_mm *mm, uint64_t pages) AS_INTERNAL AS_MUST_CHECK;
void mm_vm_unacct(struct as_mm *mm, uint64_t pages) AS_INTERNAL;

/*
 * Invalidate every thread's software TLB entries for [start, end) of the
 * space and wait until no other thread can still use a host pointer it
 * translated before (a TLB shootdown). Every removal or downgrade of a PTE
 * calls it before returning, and before freeing the frames it unmapped.
 */
void mm_flush_tlb_range(struct as_mm *mm, uint64_t start, uint64_t end) AS_INTERNAL;

/*
 * Mark the calling thread's software TLB handles idle: it holds no pointer
 * it translated before. Every entry point that may block calls it first.
 */
void tlb_thread_quiesce(void) AS_INTERNAL;

/*
 * Remove every leaf of [start, end) and release its page: shoot down the
 * TLBs first, then zap. With free_tables (unmapping: the mmap lock held for
 * writing) emptied tables are freed and guard markers go too; without
 * (MADV_DONTNEED and the like) tables stay and guard markers survive.
 * Takes the page-table lock.
 */
void mm_zap_range(struct as_mm *mm, uint64_t start, uint64_t end, bool free_tables) AS_INTERNAL;

/*
 * Fault in [start, start + len) as MAP_POPULATE and mlock do (mm_populate),
 * with the mmap lock not held. Errors are ignored, as Linux ignores them.
 */
void mm_populate(struct as_mm *mm, uint64_t start, uint64_t len) AS_INTERNAL;
/*
 * Mark the pages present in [start, end) mlocked or not (PG_MLOCKED), as
 * locking or unlocking a region does (src/sys/mlock.c). Takes pt_lock.
 */
void mm_mlock_pages(struct as_mm *mm, uint64_t start, uint64_t end, bool lock) AS_INTERNAL;

/* Linux's mmap_base for the given task size and stack limit, randomization off. */
uint64_t mm_compute_mmap_base(uint64_t task_size, uint64_t stack_rlimit,
			      uint64_t stack_guard_gap) AS_INTERNAL;
/*
 * Choose the layout as exec's setup_new_exec does: top-down from
 * mmap_base (from RLIMIT_STACK), or bottom-up under legacy_va_layout. [W]
 */
void mm_pick_layout(struct as_mm *mm) AS_INTERNAL;

/* The counter a mapped user page of this kind counts in. */
enum mm_counter mm_counter_of(const struct page *pg) AS_INTERNAL;

/*
 * Drop what a leaf entry that was just cleared held: the page's mapping and
 * reference, and the RSS it counted. The zero page (PTE_SPECIAL) holds
 * nothing. For pgtable_zap_range callbacks; ctx is the space.
 */
void mm_release_pte(void *ctx, uint64_t va, pte_t old) AS_INTERNAL;

/*
 * Tear down every region and page of the space and free its page tables
 * (exit_mmap). Called when the last user goes; the mmap lock is taken here.
 */
void mm_exit_mmap(struct as_mm *mm) AS_INTERNAL;

/*
 * Fill an empty entry of a special region ([vvar], [vvar_vclock], [vdso]:
 * v->special) at addr with the PTE rights `bits` (exec.c). 0 or -ENOMEM.
 * The mmap lock is held; takes the page-table lock.
 */
int mm_special_fault(struct as_mm *mm, struct vm_area *v, uint64_t addr, pte_t bits) AS_INTERNAL
	AS_MUST_CHECK;

/*
 * ---- hugetlbfs: anonymous MAP_HUGETLB mappings (hugetlb.c) ----
 *
 * A MAP_HUGETLB|MAP_ANONYMOUS mapping maps a new unlinked hugetlbfs file
 * ("/anon_hugepage (deleted)", a file_map with huge_shift set), as Linux's
 * hugetlb_file_setup does; its regions are VM_HUGETLB | VM_DONTEXPAND and
 * split only at huge page boundaries. The machine's pools
 * (as_machine.huge_pool, [Z]) count free and reserved huge pages;
 * mmap reserves the mapping's pages unless MAP_NORESERVE, and the file
 * gives them back when it goes.
 */

/* The huge page shift MAP_HUGETLB's size bits ask for (21, or 30 if the machine has 1 GiB pages); 0: none. */
unsigned hugetlb_shift_from_flags(const struct as_machine *m, uint64_t flags) AS_INTERNAL;
/* A new anonymous hugetlbfs file of huge page shift `shift` (hugetlb_file_setup). 0 or -ENOMEM. */
int hugetlb_file_setup(struct as_machine *m, unsigned shift, struct file_map **out) AS_INTERNAL
	AS_MUST_CHECK;
/* The huge page size of a region, or 0 if it is not VM_HUGETLB. */
uint64_t hugetlb_vma_size(const struct vm_area *v) AS_INTERNAL;
/*
 * hugetlb_get_unmapped_area's checks for file f: -EINVAL for a length or a
 * MAP_FIXED address not huge page aligned; else 0 with the hint *addr
 * rounded up to a huge page and *align_mask the search's alignment.
 */
int hugetlb_area_check(const struct file_map *f, uint64_t *addr, uint64_t len, uint64_t flags,
		       uint64_t *align_mask) AS_INTERNAL AS_MUST_CHECK;
/*
 * hugetlbfs_file_mmap for a new region [.., + len) at file page pgoff with
 * *flags: adds VM_HUGETLB | VM_DONTEXPAND, refuses an offset that is not
 * huge page aligned (-EINVAL), reserves the huge pages unless
 * VM_NORESERVE (-ENOMEM when the pool can't). Mmap lock held.
 */
int hugetlb_mmap(struct as_mm *mm, struct file_map *f, uint64_t len, uint64_t pgoff,
		 uint64_t *flags) AS_INTERNAL AS_MUST_CHECK;
/* may_split: -EINVAL when addr is not on a huge page boundary of hugetlb region v, else 0. */
int hugetlb_may_split(const struct vm_area *v, uint64_t addr) AS_INTERNAL AS_MUST_CHECK;
/*
 * mremap of hugetlb region v (align_hugetlb): round *old_len and *new_len
 * up to huge pages; -EINVAL when addr or new_addr (even without
 * MREMAP_FIXED) is not huge page aligned or the mapping would grow, else 0.
 */
int hugetlb_mremap_align(const struct vm_area *v, uint64_t addr, uint64_t new_addr,
			 uint64_t *old_len, uint64_t *new_len) AS_INTERNAL AS_MUST_CHECK;
/*
 * MADV_DONTNEED and MADV_FREE on hugetlb region v (madvise_dontneed_free_valid_vma):
 * only DONTNEED and DONTNEED_LOCKED, from a huge page aligned start, with
 * *end rounded down to a huge page. false: -EINVAL.
 */
bool hugetlb_dontneed_valid(const struct vm_area *v, int behavior, uint64_t start,
			    uint64_t *end) AS_INTERNAL;
/* The last reference to a hugetlbfs file went: give its reservation back. */
void hugetlb_file_release(struct file_map *f) AS_INTERNAL;
/*
 * A fault on a missing page of hugetlb region v: true when a huge page
 * could be had (a reservation or a free unreserved page), false when the
 * access gets SIGBUS (alloc_hugetlb_folio failing: -ENOSPC).
 */
bool hugetlb_fault_has_page(struct as_mm *mm, const struct vm_area *v) AS_INTERNAL;

/* Validator (see the invariants above); 0 or -EUCLEAN with a description. */
int mm_check(struct as_mm *mm, char *buf, size_t len) AS_INTERNAL;

/* In debug builds, run mm_check and panic on failure (after every change). */
void mm_debug_check(struct as_mm *mm) AS_INTERNAL;

#endif
