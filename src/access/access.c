/*
 * access — user-mode reads, writes and instruction fetches of a space, as a
 * CPU makes them: each page is translated through the page tables; an
 * entry that doesn't allow the access is a page fault, handled by the fault
 * subsystem, after which the access is retried (a CPU re-executes the
 * instruction). The accessed and dirty bits are set as hardware sets them.
 *
 * Locking: an access holds the mmap lock for reading while it translates
 * and copies, so no mapping it uses can be removed under it; stack growth
 * retakes the lock for writing.
 */
#include "../fault/fault.h"
#include "../file/file.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

/* A fault that found no page for the access: fill *f from the result. */
static int fault_to_signal(enum fault_result r, uint64_t addr, struct as_fault *f)
{
	struct as_fault out = { .addr = addr };

	switch (r) {
	case FAULT_SEGV_MAPERR:
		out.signo = SIGSEGV;
		out.code = SEGV_MAPERR;
		break;
	case FAULT_SEGV_ACCERR:
		out.signo = SIGSEGV;
		out.code = SEGV_ACCERR;
		break;
	case FAULT_SIGBUS:
		out.signo = SIGBUS;
		out.code = BUS_ADRERR;
		break;
	case FAULT_OOM:
		return -ENOMEM;
	default:
		ENV_PANIC("unexpected fault result %d", r);
	}
	if (f)
		*f = out;
	return -EFAULT;
}

/*
 * The host address of addr for `access`, faulting the page in as needed.
 * Called and returns with the mmap lock held for reading. 0 or -EFAULT /
 * -ENOMEM with *f filled.
 */
int access_translate(struct as_mm *mm, uint64_t addr, unsigned access, uint8_t **host, struct as_fault *f)
{
	pte_t set = PTE_A | ((access & FAULT_WRITE) ? PTE_D : 0);

	for (int tries = 0;; tries++) {
		pte_t *ptep = addr < mm->task_size ? pgtable_walk(&mm->pt, addr & PAGE_MASK) : NULL;
		pte_t e = ptep ? __atomic_load_n(ptep, __ATOMIC_ACQUIRE) : 0;
		enum fault_result r;

		if (pte_present(e) && pte_allows(e, access)) {
			if ((e & set) != set)
				__atomic_fetch_or(ptep, set, __ATOMIC_RELAXED);
			*host = (uint8_t *)frame_to_host(mm->m, pte_pfn(e)) + (addr & ~PAGE_MASK);
			return 0;
		}
		ENV_BUG_ON(tries > 8);
		r = fault_handle(mm, addr, access, false);
		if (r == FAULT_NEED_WRITE_LOCK) {
			pthread_rwlock_unlock(&mm->mmap_lock);
			pthread_rwlock_wrlock(&mm->mmap_lock);
			r = fault_handle(mm, addr, access, true);
			pthread_rwlock_unlock(&mm->mmap_lock);
			pthread_rwlock_rdlock(&mm->mmap_lock);
		}
		if (r != FAULT_DONE)
			return fault_to_signal(r, addr, f);
	}
}

/*
 * Copy through a page of a host file (a bound slot): the host may have
 * lost the page (a truncation on its side), which the guarded copy reports
 * instead of raising SIGBUS. Then the file is looked at again: 0, -EAGAIN
 * when the entry went away (translate again: the fault decides), or
 * -EFAULT with SIGBUS/BUS_ADRERR in *f.
 */
static int copy_file_page(struct as_mm *mm, uint64_t addr, uint8_t *host, void *buf,
			  const void *src, size_t chunk, struct as_fault *f)
{
	int rc = src ? file_page_copy(host, src, chunk, false) : file_page_copy(buf, host, chunk, true);

	if (rc == 0)
		return 0;
	if (file_copy_failed(mm, addr, host_to_frame(mm->m, host)))
		return -EAGAIN;
	return fault_to_signal(FAULT_SIGBUS, addr, f);
}

/* Copy between the space and buf, page by page, stopping at the first fault. */
static int access_copy(struct as_mm *mm, uint64_t addr, void *buf, const void *src, size_t len,
		       unsigned access, struct as_fault *f)
{
	int rc = 0;

	if (!mm)
		return -EINVAL;
	if (len == 0)
		return 0;
	tlb_thread_quiesce();
	pthread_rwlock_rdlock(&mm->mmap_lock);
	while (len) {
		size_t chunk = PAGE_SIZE - (addr & ~PAGE_MASK);
		uint8_t *host;

		if (file_sync_pending(mm)) {
			/* A page cache took pages away: drop this space's entries of them first. */
			pthread_rwlock_unlock(&mm->mmap_lock);
			file_sync_mm_unlocked(mm);
			pthread_rwlock_rdlock(&mm->mmap_lock);
		}

		if (chunk > len)
			chunk = len;
		rc = access_translate(mm, addr, access, &host, f);
		if (rc)
			break;
		if (AS_UNLIKELY(frame_page(mm->m, host_to_frame(mm->m, host))->flags & PG_HOSTMAP)) {
			rc = copy_file_page(mm, addr, host, buf, src, chunk, f);
			if (rc == -EAGAIN)
				continue;
			if (rc)
				break;
		} else if (src) {
			memcpy(host, src, chunk);
		} else {
			memcpy(buf, host, chunk);
		}
		if (src)
			src = (const uint8_t *)src + chunk;
		else
			buf = (uint8_t *)buf + chunk;
		addr += chunk;
		len -= chunk;
		if (addr == 0 && len) { /* wrapped past the top of the address space */
			rc = fault_to_signal(FAULT_SEGV_MAPERR, 0, f);
			break;
		}
	}
	pthread_rwlock_unlock(&mm->mmap_lock);
	return rc;
}

int as_read(struct as_mm *mm, uint64_t addr, void *buf, size_t len, struct as_fault *fault)
{
	return access_copy(mm, addr, buf, NULL, len, FAULT_READ, fault);
}

int as_write(struct as_mm *mm, uint64_t addr, const void *buf, size_t len, struct as_fault *fault)
{
	return access_copy(mm, addr, NULL, buf, len, FAULT_WRITE, fault);
}

int as_fetch(struct as_mm *mm, uint64_t addr, void *buf, size_t len, struct as_fault *fault)
{
	return access_copy(mm, addr, buf, NULL, len, FAULT_EXEC, fault);
}
