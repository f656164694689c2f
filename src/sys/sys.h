/*
 * sys — the address-space system calls, one file per family, and the
 * as_syscall dispatcher.
 *
 * Owns: argument checking in Linux's order and the errno of each check; the
 * calls themselves drive the vma, pgtable and fault layers. Every entry
 * point returns what the Linux system call returns (a failure as -errno)
 * and takes the space's mmap lock itself.
 */
#ifndef ASPACE_SYS_H
#define ASPACE_SYS_H

#include "../mm/mm.h"

/* Regions gathered for unmapping by sys_unmap_prepare. */
struct unmap_gather {
	uint64_t start, end;
	struct vm_area *first;   /* first region inside [start, end), NULL if none */
	uint64_t nr_pages;       /* pages of the gathered regions */
	uint64_t nr_accounted;   /* ... of which charged to the commit limit */
	uint64_t nr_locked;      /* ... of which VM_LOCKED */
};

int sys_unmap_prepare(struct as_mm *mm, uint64_t start, uint64_t end,
		      struct unmap_gather *u) AS_INTERNAL AS_MUST_CHECK;
void sys_unmap_commit(struct as_mm *mm, struct unmap_gather *u) AS_INTERNAL;
/* munmap's work with the mmap lock held: checks, gather, commit. */
int sys_do_munmap(struct as_mm *mm, uint64_t start, uint64_t len) AS_INTERNAL;
/*
 * Linux's __get_unmapped_area: where a mapping of len bytes goes given the
 * hint and MAP_FIXED/MAP_SHARED/MAP_32BIT flags; the address or -errno.
 */
int64_t sys_get_unmapped_area(struct as_mm *mm, bool file, uint64_t addr, uint64_t len,
			      uint64_t flags) AS_INTERNAL;
/*
 * The same for a mapping of `file` at page offset pgoff (NULL: anonymous
 * memory): the file's own placement rules (2 MiB alignment by offset for
 * ext4/xfs files and private /dev/zero) apply. mremap of a file region
 * passes the region's file and the offset of the moved part.
 */
struct file_map;
int64_t sys_get_unmapped_area_file(struct as_mm *mm, const struct file_map *file, uint64_t addr,
				   uint64_t len, uint64_t pgoff, uint64_t flags) AS_INTERNAL;
bool sys_can_do_mlock(struct as_mm *mm) AS_INTERNAL;
bool sys_mlock_future_ok(struct as_mm *mm, uint64_t flags, uint64_t bytes) AS_INTERNAL;

long sys_brk(struct as_mm *mm, uint64_t brk) AS_INTERNAL;
long sys_mmap(struct as_mm *mm, uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags,
	      uint64_t fd, uint64_t off) AS_INTERNAL;
long sys_munmap(struct as_mm *mm, uint64_t addr, uint64_t len) AS_INTERNAL;
/*
 * mmap of an open file aspace holds itself (the exec loader's program
 * images): as sys_mmap with a descriptor, minus the descriptor lookup.
 * The caller keeps its own reference on file (file_map_open).
 */
long sys_mmap_file(struct as_mm *mm, struct file_map *file, uint64_t addr, uint64_t len,
		   uint64_t prot, uint64_t flags, uint64_t off) AS_INTERNAL;
long sys_mprotect(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t prot) AS_INTERNAL;
long sys_mremap(struct as_mm *mm, uint64_t addr, uint64_t old_len, uint64_t new_len,
		uint64_t flags, uint64_t new_addr) AS_INTERNAL;
long sys_madvise(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t behavior) AS_INTERNAL;
long sys_mlock2(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t flags) AS_INTERNAL;
long sys_munlock(struct as_mm *mm, uint64_t start, uint64_t len) AS_INTERNAL;
long sys_mlockall(struct as_mm *mm, uint64_t flags) AS_INTERNAL;
long sys_munlockall(struct as_mm *mm) AS_INTERNAL;
long sys_msync(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t flags) AS_INTERNAL;
long sys_mincore(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t vec) AS_INTERNAL;
/* prctl: PR_SET_THP_DISABLE and PR_GET_THP_DISABLE (prctl.c); other options -ENOSYS. */
long sys_prctl(struct as_mm *mm, uint64_t option, uint64_t a2, uint64_t a3, uint64_t a4,
	       uint64_t a5) AS_INTERNAL;

#endif
