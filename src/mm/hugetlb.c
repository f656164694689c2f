/*
 * hugetlbfs for anonymous MAP_HUGETLB mappings (Linux's mm/hugetlb.c and
 * fs/hugetlbfs/inode.c, as far as a process can see them): the huge page
 * sizes (hstates), the unlinked file each mapping maps, the placement and
 * alignment rules, and the pools' reservations.
 *
 * It lives in mm/ rather than file/ because what it decides is about
 * regions of a space and the machine's pools — the file it makes is a
 * page-cache-less stand-in (FILE_STANDIN with huge_shift set), so the file
 * layer needs no knowledge of it beyond giving the reservation back when
 * the last reference goes (file_map_put calls hugetlb_file_release).
 *
 * Model and its limits:
 *  - The pools (as_machine.huge_pool) start with the config's
 *    nr_hugepages_2m / nr_hugepages_1g free pages; nothing is allocated
 *    until a fault would need a page. A mapping without MAP_NORESERVE
 *    reserves all its huge pages at mmap (private and shared alike: every
 *    anonymous mapping has a new file, so nothing of it is reserved yet)
 *    and fails with ENOMEM when free - reserved can't cover them.
 *  - The reservation belongs to the file and is given back when the file
 *    goes (Linux gives a private mapping's back region by region as it is
 *    unmapped; a partial munmap of a reserved private mapping keeps aspace's
 *    reservation until the rest goes).
 *  - A fault with no page to be had gets SIGBUS (BUS_ADRERR), as Linux's
 *    alloc_hugetlb_folio failing. A fault that would get a page is not
 *    modelled yet: the access fails with -ENOMEM (fault.c).
 *
 * Locking: the pools are [Z] (the machine's zone lock); f->huge_resv too.
 */
#include "mm.h"

#include "../file/file.h"

#include <aspace/mman.h>
#include <errno.h>
#include <sys/mman.h>

#define HUGETLB_SHIFT_2M 21u
#define HUGETLB_SHIFT_1G 30u
/* MAP_HUGE_SHIFT and the mask of its size field (uapi asm-generic/hugetlb_encode.h). */
#define MAP_HUGE_SIZE_SHIFT 26u
#define MAP_HUGE_SIZE_MASK 0x3full
/* pgoff bits that overflow a loff_t when shifted to bytes (hugetlbfs PGOFF_LOFFT_MAX). */
#define PGOFF_LOFFT_MAX (((1ull << (PAGE_SHIFT + 1)) - 1) << (64 - (PAGE_SHIFT + 1)))

/* The pool of a huge page shift. */
static unsigned pool_index(unsigned shift)
{
	return shift == HUGETLB_SHIFT_1G ? 1 : 0;
}

unsigned hugetlb_shift_from_flags(const struct as_machine *m, uint64_t flags)
{
	uint64_t log = (flags >> MAP_HUGE_SIZE_SHIFT) & MAP_HUGE_SIZE_MASK;

	/* 0 picks the default huge page size (2 MiB on x86-64). */
	if (log == 0 || log == HUGETLB_SHIFT_2M)
		return HUGETLB_SHIFT_2M;
	if (log == HUGETLB_SHIFT_1G && m->cfg.hugepages_1g)
		return HUGETLB_SHIFT_1G;
	return 0;
}

int hugetlb_file_setup(struct as_machine *m, unsigned shift, struct file_map **out)
{
	/* hugetlbfs inodes come from the global inode counter (get_next_ino), as shmem's. */
	uint64_t ino = atomic_fetch_add(&m->shmem_ino, 1) + 1;
	struct file_map *f;

	f = file_map_new_standin(m, "/anon_hugepage (deleted)", 0, m->cfg.hugetlb_dev_minor, ino);
	if (!f)
		return -ENOMEM;
	/* Opened O_RDWR; hugetlbfs has no size limit below MAX_LFS_FILESIZE. */
	f->writable = true;
	f->huge_shift = (uint8_t)shift;
	*out = f;
	return 0;
}

uint64_t hugetlb_vma_size(const struct vm_area *v)
{
	if (!(v->flags & VM_HUGETLB) || !v->file || !v->file->huge_shift)
		return 0;
	return 1ull << v->file->huge_shift;
}

int hugetlb_area_check(const struct file_map *f, uint64_t *addr, uint64_t len, uint64_t flags,
		       uint64_t *align_mask)
{
	uint64_t size = 1ull << f->huge_shift;

	if (len & (size - 1))
		return -EINVAL;
	if ((flags & MAP_FIXED) && (*addr & (size - 1)))
		return -EINVAL;
	/* The hint is rounded up to a huge page (to 0, no hint, if that wraps). */
	if (*addr && !(flags & MAP_FIXED))
		*addr = (*addr + size - 1) & ~(size - 1);
	*align_mask = (size - 1) & PAGE_MASK;
	return 0;
}

int hugetlb_mmap(struct as_mm *mm, struct file_map *f, uint64_t len, uint64_t pgoff,
		 uint64_t *flags)
{
	struct as_machine *m = mm->m;
	unsigned shift = f->huge_shift, pi = pool_index(shift);
	uint64_t need;
	int rc = 0;

	*flags |= VM_HUGETLB | VM_DONTEXPAND;
	if (pgoff & PGOFF_LOFFT_MAX)
		return -EINVAL;
	if (pgoff & ((1ull << (shift - PAGE_SHIFT)) - 1))
		return -EINVAL;
	if (len + (pgoff << PAGE_SHIFT) < len)
		return -EINVAL;
	if (*flags & VM_NORESERVE)
		return 0;
	/* hugetlb_reserve_pages + hugetlb_acct_memory: no surplus pages (nr_overcommit_hugepages 0). */
	need = len >> shift;
	pthread_mutex_lock(&m->zone_lock);
	if (m->huge_pool[pi].resv + need > m->huge_pool[pi].free) {
		rc = -ENOMEM;
	} else {
		m->huge_pool[pi].resv += need;
		f->huge_resv += need;
	}
	pthread_mutex_unlock(&m->zone_lock);
	return rc;
}

int hugetlb_may_split(const struct vm_area *v, uint64_t addr)
{
	uint64_t size = hugetlb_vma_size(v);

	return size && (addr & (size - 1)) ? -EINVAL : 0;
}

int hugetlb_mremap_align(const struct vm_area *v, uint64_t addr, uint64_t new_addr,
			 uint64_t *old_len, uint64_t *new_len)
{
	uint64_t size = hugetlb_vma_size(v);

	if (!size)
		return 0;
	/* A length that wraps becomes 0, as Linux's ALIGN. */
	*old_len = (*old_len + size - 1) & ~(size - 1);
	*new_len = (*new_len + size - 1) & ~(size - 1);
	if ((addr | new_addr) & (size - 1))
		return -EINVAL;
	/* The reservation can't follow a growing mapping. */
	if (*new_len > *old_len)
		return -EINVAL;
	return 0;
}

bool hugetlb_dontneed_valid(const struct vm_area *v, int behavior, uint64_t start, uint64_t *end)
{
	uint64_t size = hugetlb_vma_size(v);

	if (behavior != MADV_DONTNEED && behavior != MADV_DONTNEED_LOCKED)
		return false;
	if (start & (size - 1))
		return false;
	/* Callers think in small pages: never drop a huge page only partly covered. */
	*end &= ~(size - 1);
	if (*end < start)
		*end = start;
	return true;
}

void hugetlb_file_release(struct file_map *f)
{
	struct as_machine *m = f->m;
	unsigned pi = pool_index(f->huge_shift);

	pthread_mutex_lock(&m->zone_lock);
	ENV_BUG_ON(m->huge_pool[pi].resv < f->huge_resv);
	m->huge_pool[pi].resv -= f->huge_resv;
	f->huge_resv = 0;
	pthread_mutex_unlock(&m->zone_lock);
}

bool hugetlb_fault_has_page(struct as_mm *mm, const struct vm_area *v)
{
	struct as_machine *m = mm->m;
	unsigned pi = pool_index(v->file ? v->file->huge_shift : HUGETLB_SHIFT_2M);
	bool has;

	pthread_mutex_lock(&m->zone_lock);
	has = (!(v->flags & VM_NORESERVE) && v->file && v->file->huge_resv) ||
	      m->huge_pool[pi].free > m->huge_pool[pi].resv;
	pthread_mutex_unlock(&m->zone_lock);
	return has;
}
