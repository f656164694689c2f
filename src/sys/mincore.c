/*
 * mincore, as Linux 6.x's mm/mincore.c does it.
 *
 * The residency vector is built one chunk at a time: at most one page of
 * vector (4096 pages of the range) and never past the end of one region,
 * under the mmap lock; then, with the lock dropped, the chunk is written
 * into the space at `vec` as a user-mode write would (as_write), so a
 * vector that can't be written is -EFAULT after the chunks before it were
 * stored. A range that runs into unmapped memory is -ENOMEM once the
 * chunks before the hole are stored.
 *
 * A file region of a file the caller neither owns nor may write shows
 * every page resident, whatever is cached or mapped (can_do_mincore: the
 * page cache is nobody else's business).
 *
 * A page is resident when its entry is present: a page of its own, the
 * zero page, or a page of a PROT_NONE region. Empty entries, guard markers
 * and other software entries are not resident (anonymous memory has no
 * page cache and aspace no swap).
 */
#include "sys.h"

#include "../file/file.h"

#include <errno.h>
#include <string.h>

/*
 * Linux's access_ok on x86-64: [addr, addr + size) must end at or below
 * the top of the user address space, which is the same for every space.
 */
static bool range_ok(uint64_t addr, uint64_t size)
{
	uint64_t sum = addr + size;

	return sum >= addr && sum <= TASK_SIZE_MAX;
}

/* The vector of one chunk, whose first entry stands for address `first`. */
struct chunk {
	unsigned char *vec;
	uint64_t first;
};

static int mark_resident(void *ctx, uint64_t va, pte_t *ptep)
{
	struct chunk *c = ctx;

	if (pte_present(*ptep))
		c->vec[(va - c->first) >> PAGE_SHIFT] = 1;
	return 0;
}

/*
 * One chunk (do_mincore): the residency of up to `pages` pages from addr,
 * stopping at the end of the region holding addr. The number of entries
 * written to vec, or -ENOMEM when no region holds addr. The mmap lock is
 * held for reading.
 */
static long mincore_chunk(struct as_mm *mm, uint64_t addr, uint64_t pages, unsigned char *vec)
{
	struct vm_area *v = vma_lookup(&mm->tree, addr);
	struct chunk c = { .vec = vec, .first = addr };
	uint64_t end, n;

	if (!v)
		return -ENOMEM;
	end = addr + (pages << PAGE_SHIFT);
	if (end > v->end)
		end = v->end;
	n = (end - addr) >> PAGE_SHIFT;
	/* A file the caller neither owns nor may write: every page "resident" (can_do_mincore). */
	if (v->file && !file_map_is_anon(v->file) && !file_may_reveal(v->file, mm)) {
		memset(vec, 1, n);
		return (long)n;
	}
	/* An empty entry of a file region is resident when its page is in the page cache. */
	if (v->file && !file_map_is_anon(v->file))
		file_mincore(v, addr, end, vec);
	else
		memset(vec, 0, n);
	pthread_mutex_lock(&mm->pt_lock);
	(void)pgtable_for_each(&mm->pt, addr, end, mark_resident, &c);
	pthread_mutex_unlock(&mm->pt_lock);
	return (long)n;
}

long sys_mincore(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t vec)
{
	unsigned char buf[PAGE_SIZE];
	uint64_t pages;
	long n;
	int rc;

	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (!range_ok(start, len))
		return -ENOMEM;
	pages = (len >> PAGE_SHIFT) + ((len & ~PAGE_MASK) != 0);
	if (!range_ok(vec, pages))
		return -EFAULT;

	while (pages) {
		pthread_rwlock_rdlock(&mm->mmap_lock);
		n = mincore_chunk(mm, start, pages < PAGE_SIZE ? pages : PAGE_SIZE, buf);
		pthread_rwlock_unlock(&mm->mmap_lock);
		if (n <= 0)
			return n;
		/* Whatever stops the copy (even running out of memory) is -EFAULT, as in Linux. */
		rc = as_write(mm, vec, buf, (size_t)n, NULL);
		if (rc)
			return -EFAULT;
		pages -= (uint64_t)n;
		vec += (uint64_t)n;
		start += (uint64_t)n << PAGE_SHIFT;
	}
	return 0;
}
