/*
 * mmap, munmap and brk, with get_unmapped_area and the unmap machinery the
 * other region-changing calls share. Argument checks run in Linux 6.x's
 * order (mm/mmap.c do_mmap, mm/vma.c __mmap_region and do_vmi_munmap,
 * arch/x86/kernel/sys_x86_64.c).
 */
#include "sys.h"
#include <aspace/mman.h>

#include "../file/file.h"

#include <errno.h>
#include <limits.h>
#include <sys/mman.h>

#define MAP_TYPE_MASK 0x0f
/* The flags MAP_SHARED silently ignores the rest of, and MAP_SHARED_VALIDATE checks (LEGACY_MAP_MASK). */
#define LEGACY_MAP_MASK                                                                       \
	(MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | MAP_EXECUTABLE | \
	 MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE |         \
	 MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB | MAP_32BIT | MAP_ABOVE4G | MAP_HUGE_2MB |       \
	 MAP_HUGE_1GB)
#define SZ_4G (4ull << 30)
#define MAP_32BIT_BASE 0x40000000ull
#define MAP_32BIT_END 0x80000000ull

/* ---- get_unmapped_area ---- */

/* Where a region's lowest usable neighbour may end: the stack keeps its guard gap. */
static uint64_t vm_start_gap(const struct as_mm *mm, const struct vm_area *v)
{
	uint64_t start = v->start;

	if (v->flags & VM_GROWSDOWN) {
		start -= mm->m->cfg.stack_guard_gap;
		if (start > v->start)
			start = 0;
	}
	return start;
}

/* x86-64 has no VM_GROWSUP: a region's end is where its upper neighbour may start. */
static uint64_t vm_end_gap(const struct vm_area *v)
{
	return v->end;
}

struct unmapped_area_info {
	bool topdown;
	uint64_t length, low_limit, high_limit, align_mask, align_offset, start_gap;
};

/* The last region ending at or below addr, and the first starting at or above it. */
static struct vm_area *region_below(const struct as_mm *mm, uint64_t addr)
{
	struct vm_area *v = vma_find(&mm->tree, addr);

	if (!v)
		return vma_last(&mm->tree);
	return v->start >= addr ? vma_prev(v) : v;
}

/* Bottom-up search (Linux's unmapped_area); -ENOMEM as a negative value when nothing fits. */
static int64_t unmapped_area(struct as_mm *mm, const struct unmapped_area_info *info)
{
	uint64_t length = info->length + info->align_mask + info->start_gap;
	uint64_t low = info->low_limit, high = info->high_limit, found, gap;
	struct vm_area *tmp;

	if (length < info->length)
		return -ENOMEM;
	if (low < mm_min_addr(mm))
		low = mm_min_addr(mm);
	for (;;) {
		if (high == 0 || !vma_empty_area(&mm->tree, low, high - 1, length, &found))
			return -ENOMEM;
		gap = found + info->start_gap;
		gap += (info->align_offset - gap) & info->align_mask;
		tmp = vma_find(&mm->tree, found);
		if (tmp && (tmp->flags & VM_STARTGAP_FLAGS)) {
			if (vm_start_gap(mm, tmp) < gap + length - 1) {
				low = tmp->end;
				continue;
			}
		} else {
			tmp = region_below(mm, found);
			if (tmp && vm_end_gap(tmp) > gap) {
				low = vm_end_gap(tmp);
				continue;
			}
		}
		return (int64_t)gap;
	}
}

/* Top-down search (Linux's unmapped_area_topdown). */
static int64_t unmapped_area_topdown(struct as_mm *mm, const struct unmapped_area_info *info)
{
	uint64_t length = info->length + info->align_mask + info->start_gap;
	uint64_t low = info->low_limit, high = info->high_limit, last, gap, gap_end;
	struct vm_area *tmp;

	if (length < info->length)
		return -ENOMEM;
	if (low < mm_min_addr(mm))
		low = mm_min_addr(mm);
	for (;;) {
		if (high == 0 || !vma_empty_area_rev(&mm->tree, low, high - 1, length, &last))
			return -ENOMEM;
		gap_end = last + 1;
		gap = gap_end - info->length;
		gap -= (gap - info->align_offset) & info->align_mask;
		tmp = vma_find(&mm->tree, gap_end);
		if (tmp && (tmp->flags & VM_STARTGAP_FLAGS)) {
			if (vm_start_gap(mm, tmp) < gap_end) {
				high = vm_start_gap(mm, tmp);
				continue;
			}
		} else {
			/* The region bounding the free range from below. */
			tmp = tmp ? vma_prev(tmp) : vma_last(&mm->tree);
			if (tmp && vm_end_gap(tmp) > gap) {
				high = tmp->start;
				continue;
			}
		}
		return (int64_t)gap;
	}
}

static int64_t vm_unmapped_area(struct as_mm *mm, const struct unmapped_area_info *info)
{
	return info->topdown ? unmapped_area_topdown(mm, info) : unmapped_area(mm, info);
}

/* Is [addr, addr + len) free of regions and of the stack's guard gap? */
static bool hint_free(struct as_mm *mm, uint64_t addr, uint64_t len)
{
	struct vm_area *v = vma_find(&mm->tree, addr);

	return !v || addr + len <= vm_start_gap(mm, v);
}

/*
 * x86's bottom-up get_unmapped_area (arch_get_unmapped_area); align_mask
 * is a hugetlbfs file's huge page alignment (get_align_mask), else 0.
 */
static int64_t get_area_bottomup(struct as_mm *mm, uint64_t addr, uint64_t len, uint64_t flags,
				 uint64_t align_mask)
{
	uint64_t begin = mm->mmap_legacy_base, end = TASK_SIZE_MAX;
	struct unmapped_area_info info = { 0 };

	if (flags & MAP_FIXED)
		return (int64_t)addr;
	if (flags & MAP_32BIT) {
		begin = MAP_32BIT_BASE;
		end = MAP_32BIT_END;
	}
	if (len > end)
		return -ENOMEM;
	if (addr) {
		addr = PAGE_ALIGN(addr);
		if (end - len >= addr && hint_free(mm, addr, len))
			return (int64_t)addr;
	}
	info.length = len;
	info.low_limit = begin;
	info.high_limit = end;
	info.align_mask = align_mask;
	return vm_unmapped_area(mm, &info);
}

/* A hint must leave room for the mapping below the task size (mmap_address_hint_valid). */
static bool hint_valid(const struct as_mm *mm, uint64_t addr, uint64_t len)
{
	return mm->task_size - len >= addr;
}

/* x86's top-down get_unmapped_area, falling back to bottom-up when it finds nothing. */
static int64_t get_area_topdown(struct as_mm *mm, uint64_t addr0, uint64_t len, uint64_t flags,
				uint64_t align_mask)
{
	struct unmapped_area_info info = { .topdown = true };
	uint64_t addr = addr0;
	int64_t r;

	if (len > mm->task_size)
		return -ENOMEM;
	if (flags & MAP_FIXED)
		return (int64_t)addr;
	if (!(flags & MAP_32BIT)) {
		if (addr) {
			addr &= PAGE_MASK;
			if (hint_valid(mm, addr, len) && hint_free(mm, addr, len))
				return (int64_t)addr;
		}
		info.length = len;
		info.low_limit = (flags & MAP_ABOVE4G) ? SZ_4G : PAGE_SIZE;
		info.high_limit = mm->mmap_base;
		info.align_mask = align_mask;
		r = vm_unmapped_area(mm, &info);
		if (r >= 0)
			return r;
	}
	return get_area_bottomup(mm, addr0, len, flags, align_mask);
}

static int64_t mm_get_area(struct as_mm *mm, uint64_t addr, uint64_t len, uint64_t flags)
{
	return mm->topdown ? get_area_topdown(mm, addr, len, flags, 0)
			   : get_area_bottomup(mm, addr, len, flags, 0);
}

/*
 * Large anonymous mappings, and mappings of files whose filesystem asks for
 * it (ext4, xfs, private /dev/zero), are placed so that the address is
 * congruent to the file offset `off` modulo 2 MiB, so that they can hold
 * huge pages (__thp_get_unmapped_area): search for len + 2 MiB and align
 * inside it. A free hint is kept as it is. 0 when the range holds no whole
 * aligned 2 MiB or the search fails, and the caller searches plainly.
 */
static int64_t thp_get_area(struct as_mm *mm, uint64_t addr, uint64_t len, uint64_t off,
			    uint64_t flags)
{
	uint64_t off_end = off + len, off_align = (off + PMD_SIZE - 1) & ~(PMD_SIZE - 1);
	uint64_t len_pad = len + PMD_SIZE, sub;
	int64_t r;

	if (off_align < off || off_end <= off_align || off_end - off_align < PMD_SIZE)
		return 0;
	if (len_pad < len || off + len_pad < off)
		return 0;
	r = mm_get_area(mm, addr, len_pad, flags);
	if (r < 0)
		return 0;
	if ((uint64_t)r == addr)
		return r;
	sub = (off - (uint64_t)r) & (PMD_SIZE - 1);
	if (mm->topdown && !sub)
		return r + (int64_t)PMD_SIZE;
	return r + (int64_t)sub;
}

/*
 * Linux's __get_unmapped_area: where a mapping of len bytes of `file` at
 * page offset pgoff (NULL: anonymous memory) goes, or -ENOMEM/-EINVAL/-EPERM.
 * A file's own get_unmapped_area decides first: ext4/xfs files and private
 * /dev/zero align to 2 MiB by offset (thp_get_unmapped_area); tmpfs files,
 * shared /dev/zero and shared anonymous memory use shmem's, which places
 * plainly while shmem huge pages are off (shmem_enabled "never", as here).
 */
int64_t sys_get_unmapped_area_file(struct as_mm *mm, const struct file_map *file, uint64_t addr,
				   uint64_t len, uint64_t pgoff, uint64_t flags)
{
	int64_t r = 0;

	if (len > mm->task_size)
		return -ENOMEM;
	if (file && file->huge_shift) {
		/* hugetlb_get_unmapped_area: huge page aligned, searched with that alignment. */
		uint64_t align_mask;

		r = hugetlb_area_check(file, &addr, len, flags, &align_mask);
		if (r)
			return r;
		r = mm->topdown ? get_area_topdown(mm, addr, len, flags, align_mask)
				: get_area_bottomup(mm, addr, len, flags, align_mask);
	} else if (file) {
		bool shmem = file->shmem_area || (file->kind == FILE_DEVZERO && (flags & MAP_SHARED));

		if (file->thp_align && !shmem)
			r = thp_get_area(mm, addr, len, pgoff << PAGE_SHIFT, flags);
	} else if (!(flags & MAP_SHARED) && !addr && !(len & (PMD_SIZE - 1)) &&
		   mm->m->cfg.thp_align_anon) {
		r = thp_get_area(mm, 0, len, 0, flags);
	}
	if (r == 0)
		r = mm_get_area(mm, addr, len, flags);
	/* Errors are -4095..-1 (IS_ERR_VALUE); a MAP_FIXED address may look negative. */
	if (r < 0 && r >= -4095)
		return r;
	addr = (uint64_t)r;
	if (addr > mm->task_size - len)
		return -ENOMEM;
	if (addr & ~PAGE_MASK)
		return -EINVAL;
	/* cap_mmap_addr: below mmap_min_addr only with CAP_SYS_RAWIO. */
	if (addr < mm->m->cfg.mmap_min_addr && !mm_capable(mm, MM_CAP_SYS_RAWIO))
		return -EPERM;
	return r;
}

int64_t sys_get_unmapped_area(struct as_mm *mm, bool file, uint64_t addr, uint64_t len,
			      uint64_t flags)
{
	/* Callers that can't name the file: placement as for a file without a get_unmapped_area. */
	static const struct file_map plain_file = { .kind = FILE_STANDIN };

	return sys_get_unmapped_area_file(mm, file ? &plain_file : NULL, addr, len, 0, flags);
}

/* ---- commit accounting and limits ---- */

/* Private writable memory that could need swap is charged to the commit limit. */
static bool accountable_mapping(uint64_t flags)
{
	return (flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE;
}

/* ---- unmapping ---- */

/*
 * Split the regions at the ends of [start, end) so that the range is made
 * of whole regions (Linux's vms_gather_munmap_vmas), and count what they
 * hold. Splitting a region in two at max_map_count fails with -ENOMEM;
 * trimming an end never does. A failure leaves the splits made so far.
 */
int sys_unmap_prepare(struct as_mm *mm, uint64_t start, uint64_t end, struct unmap_gather *u)
{
	struct vm_area *v = vma_find_intersection(&mm->tree, start, end);
	int rc;

	*u = (struct unmap_gather){ .start = start, .end = end };
	if (!v)
		return 0;
	if (start > v->start) {
		if (end < v->end && mm->tree.count >= mm->m->cfg.max_map_count)
			return -ENOMEM;
		rc = vma_split(mm, v, start, true, NULL);
		if (rc)
			return rc;
	}
	u->first = v;
	for (; v && v->start < end; v = vma_next(v)) {
		uint64_t pages;

		if (v->end > end) {
			rc = vma_split(mm, v, end, false, NULL);
			if (rc)
				return rc;
		}
		pages = (v->end - v->start) >> PAGE_SHIFT;
		u->nr_pages += pages;
		if (v->flags & VM_ACCOUNT)
			u->nr_accounted += pages;
		if (v->flags & VM_LOCKED)
			u->nr_locked += pages;
	}
	return 0;
}

/*
 * Remove the gathered regions, their pages and their accounting. Cannot
 * fail. Page tables go as in Linux's free_pgtables: only a PTE table whose
 * whole 2 MiB lies between the regions left on either side (floor: the
 * previous region's end; ceiling: the next one's start) is freed; one a
 * neighbour shares stays, empty (a later fault-around there finds it).
 */
void sys_unmap_commit(struct as_mm *mm, struct unmap_gather *u)
{
	struct vm_area *v = u->first, *next, *prev, *after;
	uint64_t floor, ceiling, fs, fe;

	if (!v)
		return;
	prev = vma_prev(v);
	after = vma_find(&mm->tree, u->end);
	floor = prev ? prev->end : 0;
	ceiling = after ? after->start & ~(PMD_SIZE - 1) : UINT64_MAX;
	fs = u->start & ~(PMD_SIZE - 1);
	if (fs < floor)
		fs += PMD_SIZE;
	fe = (u->end + PMD_SIZE - 1) & ~(PMD_SIZE - 1);
	if (fe > ceiling)
		fe = ceiling;
	mm_flush_tlb_range(mm, u->start, u->end);
	pthread_mutex_lock(&mm->pt_lock);
	pgtable_zap_range(&mm->pt, u->start, u->end, false, mm_release_pte, mm);
	if (fs < fe)
		pgtable_zap_range(&mm->pt, fs, fe, true, mm_release_pte, mm);
	pthread_mutex_unlock(&mm->pt_lock);
	for (; v && v->start < u->end; v = next) {
		next = vma_next(v);
		mm_stat_account(mm, v->flags, -(int64_t)((v->end - v->start) >> PAGE_SHIFT));
		vma_tree_erase(&mm->tree, v);
		vma_free(mm, v);
	}
	mm->locked_vm -= u->nr_locked;
	mm_vm_unacct(mm, u->nr_accounted);
	u->first = NULL;
}

int sys_do_munmap(struct as_mm *mm, uint64_t start, uint64_t len)
{
	struct unmap_gather u;
	uint64_t end;
	int rc;

	if ((start & ~PAGE_MASK) || start > mm->task_size || len > mm->task_size - start)
		return -EINVAL;
	len = PAGE_ALIGN(len);
	if (len == 0)
		return -EINVAL;
	end = start + len;
	rc = sys_unmap_prepare(mm, start, end, &u);
	if (rc)
		return rc;
	sys_unmap_commit(mm, &u);
	return 0;
}

long sys_munmap(struct as_mm *mm, uint64_t addr, uint64_t len)
{
	long rc;

	pthread_rwlock_wrlock(&mm->mmap_lock);
	rc = sys_do_munmap(mm, addr, len);
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	return rc;
}

/* ---- mmap ---- */

/* prot to VM_ rights. */
static uint64_t calc_vm_prot_bits(uint64_t prot)
{
	return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) |
	       (prot & PROT_EXEC ? VM_EXEC : 0);
}

/* mmap flags to VM_ flags. */
static uint64_t calc_vm_flag_bits(uint64_t flags)
{
	return (flags & MAP_GROWSDOWN ? VM_GROWSDOWN : 0) | (flags & MAP_LOCKED ? VM_LOCKED : 0) |
	       (flags & MAP_SYNC ? VM_SYNC : 0) | (flags & MAP_STACK ? VM_NOHUGEPAGE : 0);
}

bool sys_can_do_mlock(struct as_mm *mm)
{
	return mm_can_do_mlock(mm);
}

bool sys_mlock_future_ok(struct as_mm *mm, uint64_t flags, uint64_t bytes)
{
	return mm_mlock_future_ok(mm, flags, bytes);
}

/*
 * What the file's mmap_prepare says about a new region of it (after the
 * limits and the commit charge, after the old range's entries were
 * cleared, as in Linux's __mmap_region): ext4 and xfs refuse MAP_SYNC without DAX; a shared
 * mapping of /dev/zero or anonymous memory gets a new shmem object
 * (shmem_zero_setup), which *file then names; the first shared writable
 * mapping of a host file makes the cache's slots writable. 0 or -errno.
 */
static int mmap_prepare_file(struct as_mm *mm, struct file_map **file, uint64_t len,
			     uint64_t flags)
{
	struct file_map *f = *file;
	int rc;

	if (f && f->mmap_sync && (flags & VM_SYNC))
		return -EOPNOTSUPP;
	if ((!f || f->kind == FILE_DEVZERO) && (flags & VM_SHARED)) {
		/*
		 * shmem_acct_size: a shmem object is charged its size unless
		 * MAP_NORESERVE. aspace checks the charge but does not hold it
		 * for the object's life (Committed_AS differs by its size).
		 */
		if (!(flags & VM_NORESERVE)) {
			if (mm_vm_enough_memory(mm, len >> PAGE_SHIFT) != 0)
				return -ENOMEM;
			mm_vm_unacct(mm, len >> PAGE_SHIFT);
		}
		rc = file_map_new_shmem(mm->m, len, file);
		return rc;
	}
	if (f && f->cache && (flags & VM_SHARED)) {
		rc = file_map_prepare_shared_write(f);
		if (rc)
			return -ENOMEM;
	}
	if (f)
		file_map_get(f);
	return 0;
}

/*
 * Create the region [addr, addr + len) of `file` (NULL: anonymous memory)
 * with `flags` (Linux's __mmap_region): unmap what it overlaps, check the
 * limits, charge the commit, let the file prepare, then merge with a
 * neighbour or insert a new region.
 */
static int64_t mmap_region(struct as_mm *mm, struct file_map *file, uint64_t addr, uint64_t len,
			   uint64_t flags, uint64_t pgoff)
{
	uint64_t end = addr + len, pages = len >> PAGE_SHIFT, charged = 0;
	struct unmap_gather u;
	struct vma_merge g;
	struct vm_area *v, *fresh;
	int rc;

	/* Prepare: the region object the mapping may need, so that nothing fails after unmapping. */
	fresh = vma_alloc(mm);
	if (!fresh)
		return -ENOMEM;
	rc = sys_unmap_prepare(mm, addr, end, &u);
	if (rc)
		goto err_free;
	rc = -ENOMEM;
	if (!mm_may_expand_vm(mm, flags, pages - u.nr_pages))
		goto err_free;
	/* hugetlbfs pages are reserved from the pool, never charged (accountable_mapping). */
	if (accountable_mapping(flags) && !(file && file->huge_shift)) {
		charged = pages - u.nr_accounted;
		if (charged && mm_vm_enough_memory(mm, charged) != 0)
			goto err_free;
		flags |= VM_ACCOUNT;
	}
	/* The region's own reference on its file (or a new shmem object). */
	rc = mmap_prepare_file(mm, &file, len, flags);
	if (rc) {
		/*
		 * Linux clears the old range's entries before the file's
		 * mmap_prepare runs (vms_clean_up_area), so a failure there
		 * can't put the old regions back: it completes their unmap
		 * and leaves a hole (MAP_FIXED with MAP_SYNC on ext4).
		 */
		sys_unmap_commit(mm, &u);
		goto err_unacct;
	}
	/* The old regions' charge carries over to the new one. */
	if (flags & VM_ACCOUNT)
		u.nr_accounted = 0;

	/* Commit. */
	sys_unmap_commit(mm, &u);
	if (file && file->huge_shift) {
		/*
		 * hugetlbfs_file_mmap runs after the old range is gone (Linux
		 * clears it before calling ->mmap): a failure here leaves the
		 * range unmapped, as Linux does.
		 */
		rc = hugetlb_mmap(mm, file, len, pgoff, &flags);
		if (rc) {
			file_map_put(file);
			vma_free(mm, fresh);
			return rc;
		}
	}
	g = (struct vma_merge){
		.mm = mm,
		.start = addr,
		.end = end,
		.pgoff = pgoff,
		.flags = flags,
		.file = file,
	};
	/* [addr, end) is free now: the first region above it and the one below. */
	g.next = vma_find(&mm->tree, addr);
	g.prev = g.next ? vma_prev(g.next) : vma_last(&mm->tree);
	if (g.next && g.next->start != end)
		g.next = NULL;
	if (g.prev && g.prev->end != addr)
		g.prev = NULL;
	v = vma_merge_new_range(&g);
	if (v) {
		vma_free(mm, fresh);
		file_map_put(file); /* the region it joined holds one already */
	} else {
		v = fresh;
		v->start = addr;
		v->end = end;
		v->pgoff = pgoff;
		v->flags = flags;
		v->file = file;
		vma_tree_insert(&mm->tree, v);
	}
	mm_stat_account(mm, flags, (int64_t)pages);
	if (flags & VM_LOCKED) {
		/*
		 * Regions Linux never locks (vma_supports_mlock) lose the lock
		 * mlockall(MCL_FUTURE) gave them, onfault too, so the populate
		 * the caller asked for while the flag was set faults them in.
		 */
		if (vma_is_special(flags) || (flags & VM_DROPPABLE))
			v->flags &= ~(VM_LOCKED | VM_LOCKONFAULT);
		else
			mm->locked_vm += pages;
	}
	return (int64_t)addr;

err_unacct:
	if (charged)
		mm_vm_unacct(mm, charged);
err_free:
	vma_free(mm, fresh);
	return rc;
}

/* file_mmap_ok: may [pgoff, pgoff + len) of the file be mapped at all? */
static bool file_mmap_ok(const struct file_map *f, uint64_t pgoff, uint64_t len)
{
	uint64_t maxsize = f->max_size;

	if (maxsize && len > maxsize)
		return false;
	maxsize -= len;
	return pgoff <= maxsize >> PAGE_SHIFT;
}

/*
 * do_mmap's checks of a file mapping against the open file, in Linux's
 * order; 0 with *vm_flags and *flags adjusted, or -errno.
 */
static int mmap_check_file(const struct file_map *f, uint64_t prot, uint64_t *flags,
			   uint64_t *vm_flags, uint64_t pgoff, uint64_t len)
{
	uint64_t mask = LEGACY_MAP_MASK | (f->mmap_sync ? MAP_SYNC : 0);

	if (!file_mmap_ok(f, pgoff, len))
		return -EOVERFLOW;
	switch (*flags & MAP_TYPE_MASK) {
	case MAP_SHARED:
		/* Unknown flags are ignored with MAP_SHARED, refused with MAP_SHARED_VALIDATE. */
		*flags &= LEGACY_MAP_MASK;
		/* fallthrough */
	case MAP_SHARED_VALIDATE:
		if (*flags & ~mask)
			return -EOPNOTSUPP;
		if ((prot & PROT_WRITE) && !f->writable)
			return -EACCES;
		if (f->append_only && f->writable)
			return -EACCES;
		*vm_flags |= VM_SHARED | VM_MAYSHARE;
		/* Read-only shared: never writable, not even by a later mprotect. */
		if (!f->writable)
			*vm_flags &= ~(VM_MAYWRITE | VM_SHARED);
		/* fallthrough */
	case MAP_PRIVATE:
		if (!f->readable)
			return -EACCES;
		if (f->noexec) {
			if (*vm_flags & VM_EXEC)
				return -EPERM;
			*vm_flags &= ~VM_MAYEXEC;
		}
		if (f->kind == FILE_NOMMAP)
			return -ENODEV;
		if (*vm_flags & VM_GROWSDOWN)
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Linux's do_mmap for a file (NULL: anonymous memory); returns the address
 * or -errno, and in *populate the bytes to fault in after the lock is dropped.
 */
static int64_t do_mmap(struct as_mm *mm, struct file_map *file, uint64_t addr, uint64_t len,
		       uint64_t prot, uint64_t flags, uint64_t pgoff, uint64_t *populate)
{
	uint64_t vm_flags;
	int64_t r;

	*populate = 0;
	if (!len)
		return -EINVAL;
	if (flags & MAP_FIXED_NOREPLACE)
		flags |= MAP_FIXED;
	if (!(flags & MAP_FIXED)) {
		/* round_hint_to_min */
		addr &= PAGE_MASK;
		if (addr && addr < mm_min_addr(mm))
			addr = PAGE_ALIGN(mm_min_addr(mm));
	}
	len = PAGE_ALIGN(len);
	if (!len)
		return -ENOMEM;
	if (pgoff + (len >> PAGE_SHIFT) < pgoff)
		return -EOVERFLOW;
	if (mm->tree.count > mm->m->cfg.max_map_count)
		return -ENOMEM;
	vm_flags = calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags) | mm->def_flags | VM_MAYREAD |
		   VM_MAYWRITE | VM_MAYEXEC;

	r = sys_get_unmapped_area_file(mm, file, addr, len, pgoff, flags);
	if (r < 0)
		return r;
	addr = (uint64_t)r;
	if ((flags & MAP_FIXED_NOREPLACE) && vma_find_intersection(&mm->tree, addr, addr + len))
		return -EEXIST;
	if ((flags & MAP_LOCKED) && !sys_can_do_mlock(mm))
		return -EPERM;
	if (!sys_mlock_future_ok(mm, vm_flags, len))
		return -EAGAIN;

	if (file) {
		int rc = mmap_check_file(file, prot, &flags, &vm_flags, pgoff, len);

		if (rc)
			return rc;
		goto checked;
	}
	switch (flags & MAP_TYPE_MASK) {
	case MAP_SHARED:
		if (vm_flags & VM_GROWSDOWN)
			return -EINVAL;
		/* A shmem object of its own (mmap_region); its offsets start at 0. */
		pgoff = 0;
		vm_flags |= VM_SHARED | VM_MAYSHARE;
		break;
	case MAP_DROPPABLE:
		/* Droppable memory is never locked, stacked, copied, dumped or reserved. */
		if ((flags & MAP_LOCKED) || (vm_flags & VM_GROWSDOWN))
			return -EINVAL;
		vm_flags |= VM_DROPPABLE | VM_WIPEONFORK | VM_DONTDUMP | VM_NORESERVE;
		pgoff = addr >> PAGE_SHIFT;
		break;
	case MAP_PRIVATE:
		pgoff = addr >> PAGE_SHIFT;
		break;
	default:
		return -EINVAL;
	}
checked:
	if ((flags & MAP_NORESERVE) && mm->m->cfg.overcommit_memory != 2)
		vm_flags |= VM_NORESERVE;
	/* A hugetlbfs mapping skips its reservation whatever the overcommit mode. */
	if ((flags & MAP_NORESERVE) && file && file->huge_shift)
		vm_flags |= VM_NORESERVE;

	r = mmap_region(mm, file, addr, len, vm_flags, pgoff);
	if (r >= 0 && ((vm_flags & VM_LOCKED) || (flags & (MAP_POPULATE | MAP_NONBLOCK)) == MAP_POPULATE))
		*populate = len;
	return r;
}

long sys_mmap_file(struct as_mm *mm, struct file_map *file, uint64_t addr, uint64_t len,
		   uint64_t prot, uint64_t flags, uint64_t off)
{
	uint64_t populate;
	int64_t r;

	if (off & ~PAGE_MASK)
		return -EINVAL;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	file_sync_mm(mm);
	r = do_mmap(mm, file, addr, len, prot, flags & ~(uint64_t)MAP_ANONYMOUS, off >> PAGE_SHIFT,
		    &populate);
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	if (r >= 0 && populate)
		mm_populate(mm, (uint64_t)r, populate);
	return r;
}

long sys_mmap(struct as_mm *mm, uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags,
	      uint64_t fd, uint64_t off)
{
	struct file_map *file = NULL;
	uint64_t populate;
	int64_t r;

	if (off & ~PAGE_MASK)
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS)) {
		/* fget takes the descriptor as an unsigned int. */
		unsigned int nr = (unsigned int)fd;
		int rc;

		if (nr > INT_MAX)
			return -EBADF;
		rc = file_map_open(mm->m, (int)nr, &file);
		if (rc)
			return rc == -EBADF ? -EBADF : -ENOMEM;
		if (flags & MAP_HUGETLB) {
			file_map_put(file); /* not a hugetlbfs file */
			return -EINVAL;
		}
	} else if (flags & MAP_HUGETLB) {
		/* An unlinked hugetlbfs file of the size the flags name (ksys_mmap_pgoff). */
		unsigned shift = hugetlb_shift_from_flags(mm->m, flags);
		uint64_t size = 1ull << shift;
		int rc;

		if (!shift)
			return -EINVAL;
		len = (len + size - 1) & ~(size - 1); /* a length that wraps becomes 0: EINVAL */
		rc = hugetlb_file_setup(mm->m, shift, &file);
		if (rc)
			return rc;
	}
	pthread_rwlock_wrlock(&mm->mmap_lock);
	file_sync_mm(mm);
	r = do_mmap(mm, file, addr, len, prot, flags, off >> PAGE_SHIFT, &populate);
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	file_map_put(file);
	if (r >= 0 && populate)
		mm_populate(mm, (uint64_t)r, populate);
	return r;
}

/* ---- brk ---- */

/*
 * Grow the heap by [addr, addr + len) (Linux's do_brk_flags): expand the
 * region `prev` ending at addr when it can take the range as a merge would,
 * or make a new region. 0 or -ENOMEM.
 */
static int do_brk_flags(struct as_mm *mm, struct vm_area *prev, uint64_t addr, uint64_t len)
{
	uint64_t flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT |
			 mm->def_flags;
	uint64_t pages = len >> PAGE_SHIFT;
	struct vma_merge g = {
		.mm = mm, .prev = prev, .start = addr, .end = addr + len,
		.pgoff = addr >> PAGE_SHIFT, .flags = flags,
	};
	struct vm_area *v = NULL;

	/* After mlockall(MCL_FUTURE) the new heap is locked: RLIMIT_MEMLOCK applies. */
	if (!mm_mlock_future_ok(mm, flags, len))
		return -EAGAIN;
	if (!mm_may_expand_vm(mm, flags, pages))
		return -ENOMEM;
	if (mm->tree.count > mm->m->cfg.max_map_count)
		return -ENOMEM;
	if (mm_vm_enough_memory(mm, pages) != 0)
		return -ENOMEM;
	/* Only growing the region below in place: brk never joins a region above. */
	if (prev && prev->end == addr)
		v = vma_merge_new_range(&g);
	if (!v) {
		v = vma_alloc(mm);
		if (!v) {
			mm_vm_unacct(mm, pages);
			return -ENOMEM;
		}
		v->start = addr;
		v->end = addr + len;
		v->pgoff = addr >> PAGE_SHIFT;
		v->flags = flags;
		vma_tree_insert(&mm->tree, v);
	}
	mm_stat_account(mm, flags, (int64_t)pages);
	if (flags & VM_LOCKED)
		mm->locked_vm += pages;
	return 0;
}

/* RLIMIT_DATA covers the heap and the data segment (check_data_rlimit). */
static bool brk_within_rlimit(struct as_mm *mm, uint64_t newbrk)
{
	uint64_t lim = mm_rlimit(mm, RLIMIT_DATA);

	return lim >= MM_RLIM_INFINITY ||
	       (newbrk - mm->start_brk) + (mm->end_data - mm->start_data) <= lim;
}

/*
 * The raw brk system call: the new break on success, the unchanged old one
 * on any failure. Shrinking unmaps the freed pages; growing maps fresh
 * private memory, clear of the next region and its stack guard gap.
 */
long sys_brk(struct as_mm *mm, uint64_t brk)
{
	uint64_t newbrk, oldbrk, origbrk, populate = 0;
	struct unmap_gather u;
	struct vm_area *v;

	pthread_rwlock_wrlock(&mm->mmap_lock);
	origbrk = mm->brk;
	if (brk < mm->start_brk || !brk_within_rlimit(mm, brk))
		goto out;
	newbrk = PAGE_ALIGN(brk);
	oldbrk = PAGE_ALIGN(mm->brk);
	if (oldbrk == newbrk) {
		mm->brk = brk;
		goto success;
	}
	if (brk <= mm->brk) {
		/* Shrinking needs a region in [newbrk, oldbrk) to take away. */
		v = vma_find_intersection(&mm->tree, newbrk, oldbrk);
		if (!v)
			goto out;
		mm->brk = brk;
		if (sys_unmap_prepare(mm, newbrk, oldbrk, &u) != 0)
			goto out;
		sys_unmap_commit(mm, &u);
		goto success;
	}
	v = vma_find(&mm->tree, oldbrk);
	if (v && v->start < newbrk + PAGE_SIZE + mm->m->cfg.stack_guard_gap &&
	    newbrk + PAGE_SIZE > vm_start_gap(mm, v))
		goto out;
	/* The region just below the old break, if it is part of the heap. */
	v = region_below(mm, oldbrk);
	if (v && v->start < mm->start_brk)
		v = NULL;
	if (do_brk_flags(mm, v, oldbrk, newbrk - oldbrk) != 0)
		goto out;
	mm->brk = brk;
	if (mm->def_flags & VM_LOCKED)
		populate = newbrk - oldbrk;
success:
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	if (populate)
		mm_populate(mm, oldbrk, populate);
	return (long)brk;
out:
	mm->brk = origbrk;
	pthread_rwlock_unlock(&mm->mmap_lock);
	return (long)origbrk;
}
