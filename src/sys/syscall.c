/* as_syscall: x86-64 syscall numbers to the sys_* entry points. */
#include "sys.h"

#include <errno.h>
#include <sys/syscall.h>

long as_syscall(struct as_mm *mm, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
		uint64_t a4, uint64_t a5)
{
	(void)a5;
	if (!mm)
		return -EINVAL;
	tlb_thread_quiesce();
	switch (nr) {
	case SYS_brk:
		return sys_brk(mm, a0);
	case SYS_mmap:
		return sys_mmap(mm, a0, a1, a2, a3, a4, a5);
	case SYS_munmap:
		return sys_munmap(mm, a0, a1);
	case SYS_mprotect:
		return sys_mprotect(mm, a0, a1, a2);
	case SYS_mremap:
		return sys_mremap(mm, a0, a1, a2, a3, a4);
	case SYS_madvise:
		return sys_madvise(mm, a0, a1, a2);
	case SYS_mlock:
		return sys_mlock2(mm, a0, a1, 0);
	case SYS_mlock2:
		return sys_mlock2(mm, a0, a1, a2);
	case SYS_munlock:
		return sys_munlock(mm, a0, a1);
	case SYS_mlockall:
		return sys_mlockall(mm, a0);
	case SYS_munlockall:
		return sys_munlockall(mm);
	case SYS_msync:
		return sys_msync(mm, a0, a1, a2);
	case SYS_mincore:
		return sys_mincore(mm, a0, a1, a2);
	case SYS_prctl:
		return sys_prctl(mm, a0, a1, a2, a3, a4);
	default:
		return -ENOSYS;
	}
}
