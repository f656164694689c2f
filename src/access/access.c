/*
 * access — user-mode reads and writes of a space (as_read/as_write).
 * Until the fault handler lands, an access to an address in no region gets
 * SIGSEGV/SEGV_MAPERR and any other access -ENOSYS.
 */
#include "../mm/mm.h"

#include <errno.h>
#include <signal.h>

static int access_range(struct as_mm *mm, uint64_t addr, size_t len, struct as_fault *fault)
{
	struct vm_area *v;
	int rc = 0;

	if (len == 0)
		return 0;
	pthread_rwlock_rdlock(&mm->mmap_lock);
	v = vma_lookup(&mm->tree, addr);
	if (!v) {
		if (fault)
			*fault = (struct as_fault){ .signo = SIGSEGV, .code = SEGV_MAPERR, .addr = addr };
		rc = -EFAULT;
	} else {
		rc = -ENOSYS;
	}
	pthread_rwlock_unlock(&mm->mmap_lock);
	return rc;
}

int as_read(struct as_mm *mm, uint64_t addr, void *buf, size_t len, struct as_fault *fault)
{
	(void)buf;
	return access_range(mm, addr, len, fault);
}

int as_write(struct as_mm *mm, uint64_t addr, const void *buf, size_t len, struct as_fault *fault)
{
	(void)buf;
	return access_range(mm, addr, len, fault);
}
