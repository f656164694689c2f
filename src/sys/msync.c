/*
 * msync, as Linux 6.x's mm/msync.c does it.
 *
 * Only MS_SYNC on a shared file mapping writes anything back (to the host
 * file, src/file/cache.c); for every other region the call only checks: the
 * range must be mapped (holes give -ENOMEM, after the rest was synced,
 * except that plain MS_ASYNC gives up at the first hole) and MS_INVALIDATE
 * is refused with -EBUSY on a locked region.
 */
#include "sys.h"

#include "../file/file.h"

#include <errno.h>
#include <sys/mman.h>

/* The region walk with the mmap lock held for reading. 0 or -errno. */
static int msync_locked(struct as_mm *mm, uint64_t start, uint64_t end, int flags)
{
	struct vm_area *v = vma_find(&mm->tree, start);
	int unmapped_error = 0, err;

	for (;;) {
		if (!v)
			return -ENOMEM;
		if (start < v->start) {
			if (flags == MS_ASYNC)
				return -ENOMEM;
			start = v->start;
			if (start >= end)
				return -ENOMEM;
			unmapped_error = -ENOMEM;
		}
		if ((flags & MS_INVALIDATE) && (v->flags & VM_LOCKED))
			return -EBUSY;
		err = file_msync(v, start, end, flags);
		if (err)
			return err;
		start = v->end;
		if (start >= end)
			return unmapped_error;
		v = vma_find(&mm->tree, v->end);
	}
}

long sys_msync(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t flags_arg)
{
	/* The flags are an int: bits above 31 don't reach Linux. */
	int flags = (int)(uint32_t)flags_arg;
	uint64_t end;
	long err;

	if (flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC))
		return -EINVAL;
	if (start & ~PAGE_MASK)
		return -EINVAL;
	if ((flags & MS_ASYNC) && (flags & MS_SYNC))
		return -EINVAL;
	len = PAGE_ALIGN(len);
	end = start + len;
	if (end < start)
		return -ENOMEM;
	if (end == start)
		return 0;

	pthread_rwlock_rdlock(&mm->mmap_lock);
	err = msync_locked(mm, start, end, flags);
	pthread_rwlock_unlock(&mm->mmap_lock);
	/* Writeback cleaned pages: write-protect this space's entries of them before returning. */
	file_sync_mm_unlocked(mm);
	return err;
}
