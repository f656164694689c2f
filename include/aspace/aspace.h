/*
 * aspace — Linux's process address space subsystem as a user-space library.
 *
 * This is the whole public API. Everything here behaves as Linux 6.x on
 * x86-64 does where a program can observe it: flag, prot, errno, signal and
 * si_code values are Linux's own constants from the system headers, and every
 * call that can fail returns 0 (or its Linux result) on success and -errno on
 * failure. Ranges are [start, end) in bytes.
 *
 * Objects:
 *   struct as_machine  the simulated machine: RAM (a frame pool managed by a
 *                      buddy allocator and slab caches) and sysctls.
 *   struct as_mm       one address space (Linux's mm_struct): regions, page
 *                      tables, layout, counters, limits.
 *
 * Thread safety: any number of threads may call into one machine and one
 * space at once; mmap-family calls on one space serialize on its mmap lock.
 * A machine must outlive every space created on it.
 */
#ifndef ASPACE_ASPACE_H
#define ASPACE_ASPACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AS_API __attribute__((visibility("default")))
#else
#define AS_API
#endif

struct as_machine;
struct as_mm;

/* ---- The machine ------------------------------------------------------- */

struct as_machine_config {
	uint64_t ram_bytes;         /* simulated RAM; default 1 GiB */
	int overcommit_memory;      /* vm.overcommit_memory 0/1/2; default 0 */
	int overcommit_ratio;       /* vm.overcommit_ratio; default 50 */
	uint64_t max_map_count;     /* vm.max_map_count; default 65530 */
	uint64_t mmap_min_addr;     /* vm.mmap_min_addr; default 65536 */
	/* Fields below are aspace's own; callers start from as_machine_config_init(). */
	int zero_page;              /* 1: read faults on fresh anonymous memory map the
	                               shared zero page (upstream Linux); 0: they allocate
	                               a zeroed frame (kernels booted pvm_no_zero_page=1).
	                               default 1 */
	int legacy_va_layout;       /* vm.legacy_va_layout: bottom-up mmap layout; default 0 */
	uint64_t stack_guard_gap;   /* stack_guard_gap= in bytes; default 256 pages */
	uint64_t lsm_mmap_min_addr; /* CONFIG_LSM_MMAP_MIN_ADDR: hints and searches stay above
	                               max(mmap_min_addr, this); MAP_FIXED needs only
	                               mmap_min_addr (without CAP_SYS_RAWIO); default 65536 */
	int thp_align_anon;         /* 1: anonymous mappings of a multiple of 2 MiB without a
	                               hint are placed 2 MiB aligned (CONFIG_TRANSPARENT_HUGEPAGE,
	                               whatever the THP mode); default 1 */
	int prefault;               /* 1: touch all simulated RAM at creation so that
	                               benchmarks measure aspace, not host faults; default 0 */
	/*
	 * hugetlbfs (MAP_HUGETLB), as /sys/kernel/mm/hugepages/ shows it. Only
	 * reservations are modelled: with a pool, mmap reserves as Linux does,
	 * but touching a huge page fails (an access gets SIGBUS, mlock EAGAIN,
	 * MADV_POPULATE_* EFAULT) where Linux would fault it in.
	 */
	uint64_t nr_hugepages_2m;   /* hugepages-2048kB/nr_hugepages: the 2 MiB pool; default 0 */
	int hugepages_1g;           /* 1: the 1 GiB huge page size exists (hugepages-1048576kB);
	                               default 0 (MAP_HUGE_1GB is then EINVAL) */
	uint64_t nr_hugepages_1g;   /* hugepages-1048576kB/nr_hugepages; default 0 */
	uint32_t hugetlb_dev_minor; /* the minor device number /proc/PID/maps shows for
	                               /anon_hugepage (major 0); default 0x11 */
};

/* SIGSEGV or SIGBUS, its si_code, and the faulting address. */
struct as_fault {
	int signo;
	int code;
	uint64_t addr;
};

#define AS_MAX_ORDER 10 /* buddy orders 0..AS_MAX_ORDER */

/* A snapshot of the machine's physical memory, in frames of 4 KiB. */
struct as_machine_stats {
	uint64_t total_frames;
	uint64_t free_frames;                   /* in the buddy lists and per-thread caches */
	uint64_t free_blocks[AS_MAX_ORDER + 1]; /* /proc/buddyinfo: free blocks per order */
	uint64_t cached_frames;                 /* free frames held in per-thread caches */
	uint64_t slab_frames;                   /* frames holding slab caches */
	uint64_t pgtable_frames;                /* frames holding page tables */
	uint64_t user_frames;                   /* frames mapped or cached for user memory */
	uint64_t reserved_frames;               /* frames the machine keeps (the zero page) */
	uint64_t open_files;                    /* host descriptors held for mapped files */
	uint64_t file_caches;                   /* page cache objects (files and shmem) alive */
	uint64_t allocations;                   /* frame and object allocations so far */
	uint64_t failed_allocations;            /* ... of which failed (out of memory or injected) */
};

AS_API void as_machine_config_init(struct as_machine_config *cfg);
/* cfg NULL: defaults. Returns 0 or -errno (-EINVAL for a bad config, -ENOMEM). */
AS_API int as_machine_new(const struct as_machine_config *cfg, struct as_machine **out);
AS_API void as_machine_free(struct as_machine *m);
AS_API void as_machine_get_config(const struct as_machine *m, struct as_machine_config *cfg);
AS_API void as_machine_get_stats(struct as_machine *m, struct as_machine_stats *st);

/*
 * Invariant checker: buddy lists, page descriptors, reference counts,
 * accounting (free + used == total). Returns 0 when everything holds, or
 * -EUCLEAN after writing a description of the first broken invariant to
 * `report` (when not NULL).
 */
AS_API int as_machine_check(struct as_machine *m, FILE *report);

/*
 * Return every cached free frame (per-thread caches, empty slabs) to the
 * buddy allocator, so that free_frames + reserved_frames == total_frames
 * once no space holds memory.
 */
AS_API void as_machine_drain(struct as_machine *m);

/*
 * Failure injection: make the n-th allocation (of a frame or of an internal
 * object) from now on fail, n >= 1; n == 0 turns injection off. The
 * injection fires once. as_machine_alloc_count() counts allocations
 * attempted so far, so a test can learn how many an operation makes and
 * sweep n over all of them.
 */
AS_API void as_machine_fail_nth(struct as_machine *m, uint64_t n);
AS_API uint64_t as_machine_alloc_count(struct as_machine *m);

/* ---- Address spaces ---------------------------------------------------- */

/* An empty space of an unprivileged process, Linux default rlimits, no randomization. */
AS_API int as_mm_new(struct as_machine *m, struct as_mm **out);
AS_API int as_mm_fork(struct as_mm *parent, struct as_mm **child);
/*
 * Users versus holders, as Linux's mm_users and mm_count: as_mm_get adds a
 * user (a CLONE_VM thread or a vfork child sharing the space), as_mm_put
 * drops one, and the last user tears the space down (exit_mmap).
 * as_mm_grab/as_mm_drop hold the object itself; it is freed at the last.
 */
AS_API void as_mm_get(struct as_mm *mm);
AS_API void as_mm_put(struct as_mm *mm);
AS_API void as_mm_grab(struct as_mm *mm);
AS_API void as_mm_drop(struct as_mm *mm);

/*
 * exec: replace the image of the space with the ELF program at `path` (a
 * host file; a "#!" script runs its interpreter), as Linux's execve does
 * with address randomization off: its PT_LOAD segments, bss, interpreter,
 * [vvar]/[vdso] regions, and a stack at the top of user space holding
 * argv, envp (NULL: none) and the auxiliary vector. The limits,
 * capabilities, file identity (as_mm_set_ids) and PR_SET_THP_DISABLE
 * setting of the space stay; everything else is new.
 *
 * Returns 0 and fills *info (may be NULL):
 *   entry          where the first instruction runs: the interpreter's
 *                  entry point, or the program's without one
 *   stack_pointer  rsp at that instruction (argc is stored there)
 *   start_brk      the empty heap's start (brk == start_brk)
 *   load_base      the program's load bias: 0 for ET_EXEC, where address 0
 *                  of a PIE landed otherwise
 *   interp_base    the interpreter's load address (AT_BASE), 0 without one
 * or -errno as Linux's execve: -ENOENT, -EACCES, -ENOEXEC, -EIO, -ELIBBAD,
 * -E2BIG, -ELOOP, -ENOMEM... A failure found before Linux's point of no
 * return leaves the space as it was. After it (a segment that can't be
 * mapped, a broken interpreter, a bss past the end of the file, out of
 * memory) Linux kills the task with SIGSEGV; aspace then returns the error
 * with the space emptied (no regions), fit only for as_mm_put.
 * -EBUSY when the space has other users (as_mm_get): Linux's exec gives
 * the calling task a new space and leaves the shared one to the others, so
 * do that with as_mm_new + as_mm_exec + as_mm_put. docs/EXEC.md.
 */
struct as_exec_info {
	uint64_t entry, stack_pointer, start_brk, load_base, interp_base;
};
AS_API int as_mm_exec(struct as_mm *mm, const char *path, char *const argv[], char *const envp[],
		      struct as_exec_info *info);

/*
 * as_mm_exec_at: as_mm_exec, with the images placed where a run with
 * address randomization on put them (a replayed log's; `aspace replay`
 * infers them): load_base is where address 0 of an ET_DYN program lands
 * (ignored for ET_EXEC), interp_base the interpreter's (AT_BASE); 0 in a
 * field, or at NULL, keeps exec's own choice. Each is mapped there with
 * MAP_FIXED_NOREPLACE. -EINVAL, before anything changes, for a place not
 * page-aligned or at or above the task size; a place that collides fails
 * after the point of no return, as a segment that cannot be mapped does.
 */
struct as_exec_place {
	uint64_t load_base, interp_base;
};
AS_API int as_mm_exec_at(struct as_mm *mm, const char *path, char *const argv[], char *const envp[],
			 const struct as_exec_place *at, struct as_exec_info *info);

AS_API int as_mm_set_brk_base(struct as_mm *mm, uint64_t start); /* start_brk = brk = start, as exec does */
AS_API int as_mm_setrlimit(struct as_mm *mm, int resource, uint64_t cur, uint64_t max);
AS_API int as_mm_getrlimit(struct as_mm *mm, int resource, uint64_t *cur, uint64_t *max);
AS_API int as_mm_set_caps(struct as_mm *mm, uint64_t caps);     /* bitmask of (1ull << CAP_xxx) */
/*
 * The user and group the process's file permission checks use (fsuid,
 * fsgid; no supplementary groups): mincore and MADV_PAGEOUT reveal or
 * reclaim a file's page cache only for its owner or a process that may
 * write it. A new space has the host process's; fork and exec keep them.
 * -EINVAL for (uint32_t)-1, which is no id.
 */
AS_API int as_mm_set_ids(struct as_mm *mm, uint32_t uid, uint32_t gid);

/* The layout of a space, as /proc/PID/stat and prctl(PR_SET_MM) name it. */
struct as_mm_layout {
	uint64_t task_size;
	uint64_t mmap_base;
	uint64_t start_brk, brk;
	uint64_t start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t start_code, end_code, start_data, end_data;
};
AS_API void as_mm_get_layout(struct as_mm *mm, struct as_mm_layout *out);
/*
 * Set the layout fields a process can set with prctl(PR_SET_MM_MAP):
 * code, data, brk, stack, argument and environment ranges (mmap_base and
 * task_size too when non-zero, for tools that recreate a process). -EINVAL
 * when a range is reversed or outside the task size; nothing changes then.
 */
AS_API int as_mm_set_layout(struct as_mm *mm, const struct as_mm_layout *layout);

/* What the page tables hold for one address (a walk, as a student would do it by hand). */
struct as_pte_info {
	uint64_t va;
	uint64_t entry[4];     /* PGD, PUD, PMD, PTE entries; 0 where the walk stopped */
	int levels;            /* tables that exist on the way: 1 (PGD only) .. 4 */
	int present, writable, user, accessed, dirty, nx, special; /* bits of the leaf */
	uint64_t frame;        /* frame number of a present leaf */
	int refcount, mapcount; /* of that frame */
	int anon_exclusive;    /* an anonymous page known to belong to this space only */
	int mlocked;           /* the page is mlocked */
	const char *kind;      /* "anon", "file", "shmem", "zero", "guard", "none" */
};
AS_API int as_mm_walk(struct as_mm *mm, uint64_t va, struct as_pte_info *out);

/* Counters of a space, in pages unless named otherwise (as /proc/PID/status). */
struct as_mm_counters {
	uint64_t total_vm, locked_vm, pinned_vm, data_vm, exec_vm, stack_vm;
	uint64_t rss_anon, rss_file, rss_shmem, swap_ents;
	uint64_t map_count;          /* regions */
	uint64_t hiwater_rss, hiwater_vm;
	uint64_t min_flt, maj_flt;   /* handled faults, as getrusage counts them */
	uint64_t cow_copies, cow_reuses, zero_page_maps;
	uint64_t committed_pages;    /* what this space charged to the commit limit */
};
AS_API void as_mm_get_counters(struct as_mm *mm, struct as_mm_counters *out);

/*
 * Region-tree, page-table and accounting invariants of one space. Returns 0,
 * or -EUCLEAN after describing the first broken invariant to `report`.
 */
AS_API int as_mm_check(struct as_mm *mm, FILE *report);

/* ---- System calls and accesses ----------------------------------------- */

/*
 * x86-64 Linux syscall numbers from <sys/syscall.h>: brk, mmap, munmap,
 * mprotect, mremap, madvise, mlock, mlock2, munlock, mlockall, munlockall,
 * msync, mincore, and prctl's PR_SET_THP_DISABLE / PR_GET_THP_DISABLE (other
 * prctl options -ENOSYS); anything else -ENOSYS. Returns what Linux returns, a
 * failure as -errno. Pointer arguments are addresses inside the space; file
 * descriptors are the caller's host descriptors.
 */
AS_API long as_syscall(struct as_mm *mm, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		       uint64_t a3, uint64_t a4, uint64_t a5);

/*
 * User-mode accesses: they fault pages in exactly as a CPU access would and
 * return 0, or -EFAULT with *fault (when not NULL) describing the first
 * faulting address; bytes before it were transferred. -ENOMEM when the
 * machine ran out of frames (Linux would OOM-kill); nothing is corrupted.
 */
AS_API int as_read(struct as_mm *mm, uint64_t addr, void *buf, size_t len, struct as_fault *fault);
AS_API int as_write(struct as_mm *mm, uint64_t addr, const void *buf, size_t len, struct as_fault *fault);
/* An instruction fetch of len bytes (for emulators): needs an executable page. */
AS_API int as_fetch(struct as_mm *mm, uint64_t addr, void *buf, size_t len, struct as_fault *fault);

/*
 * The software TLB: a per-thread handle that translates guest addresses to
 * host pointers for an emulator's hot path, taking the page fault (and
 * filling the entry) on a miss.
 *
 * as_tlb_translate gives a pointer to the byte at addr for an access of
 * kind prot (PROT_READ, PROT_WRITE or PROT_EXEC), good for the rest of
 * that page, until the next as_tlb_translate or as_tlb_release on the same
 * handle or any other aspace call by the same thread: every operation that removes or downgrades a mapping (munmap,
 * mprotect, mremap, madvise, fork's write-protection, exit) waits until
 * each other thread's handle has moved past the pointers it handed out —
 * a TLB shootdown — so a thread must call as_tlb_release before it blocks
 * outside aspace (aspace calls release the thread's handles themselves).
 * Returns 0, -EFAULT with *fault filled, or -ENOMEM.
 *
 * A handle belongs to the thread that created it; it keeps the space
 * object alive (as_mm_grab) until as_tlb_free.
 */
struct as_tlb;
AS_API int as_tlb_new(struct as_mm *mm, struct as_tlb **out);
AS_API void as_tlb_free(struct as_tlb *tlb);
AS_API int as_tlb_translate(struct as_tlb *tlb, uint64_t addr, int prot, void **host,
			    struct as_fault *fault);
AS_API void as_tlb_release(struct as_tlb *tlb);

/*
 * Files. Mappings take the caller's host descriptors (as_syscall SYS_mmap)
 * and see the host file live: what write/pwrite put in it shows through at
 * once, and MAP_SHARED writes are in it at once. aspace asks the file's
 * size at every fault on it. as_file_truncate truncates fd's file on the
 * host (ftruncate) and makes every space of m see the new size at once
 * (SIGBUS past the end, as Linux); as_file_changed tells m that the file
 * behind fd changed size on the host. 0 or -errno.
 */
AS_API int as_file_truncate(struct as_machine *m, int fd, uint64_t length);
AS_API int as_file_changed(struct as_machine *m, int fd);

/* /proc/PID/maps and /proc/PID/smaps, byte for byte. 0 or -errno. */
AS_API int as_mm_write_maps(struct as_mm *mm, FILE *out);
AS_API int as_mm_write_smaps(struct as_mm *mm, FILE *out);

/* ---- Diagnostics -------------------------------------------------------- */

/*
 * A broken internal invariant calls the panic hook with a message, then
 * aborts. The default hook prints to stderr. Returns the previous hook.
 */
typedef void (*as_panic_hook)(const char *msg);
AS_API as_panic_hook as_set_panic_hook(as_panic_hook hook);

AS_API const char *as_version(void);

#ifdef __cplusplus
}
#endif
#endif
