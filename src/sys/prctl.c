/*
 * prctl, for the options that belong to the address space. Linux 6.18's
 * PR_SET_THP_DISABLE takes arg2 (disable or not) and, when disabling,
 * the flag PR_THP_DISABLE_EXCEPT_ADVISED in arg3: THP stays allowed in
 * MADV_HUGEPAGE regions and for MADV_COLLAPSE. PR_GET_THP_DISABLE reports
 * 0, 1, or 1 | PR_THP_DISABLE_EXCEPT_ADVISED. aspace has no huge pages;
 * what the switch changes is MADV_COLLAPSE's answer. Other options are
 * not modelled: -ENOSYS.
 */
#include "sys.h"

#include <errno.h>
#include <sys/prctl.h>

#ifndef PR_THP_DISABLE_EXCEPT_ADVISED
#define PR_THP_DISABLE_EXCEPT_ADVISED (1 << 1)
#endif

static long set_thp_disable(struct as_mm *mm, uint64_t disable, uint64_t flags, uint64_t a4,
			    uint64_t a5)
{
	if (a4 || a5)
		return -EINVAL;
	/* Flags only when disabling, and only the one. */
	if ((!disable && flags) || (flags & ~(uint64_t)PR_THP_DISABLE_EXCEPT_ADVISED))
		return -EINVAL;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	if (!disable)
		mm->thp_disable = MM_THP_ENABLED;
	else if (flags & PR_THP_DISABLE_EXCEPT_ADVISED)
		mm->thp_disable = MM_THP_DISABLE_EXCEPT_ADVISED;
	else
		mm->thp_disable = MM_THP_DISABLE_ALL;
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
}

long sys_prctl(struct as_mm *mm, uint64_t option, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	/* The option is an int. */
	switch ((int)(uint32_t)option) {
	case PR_SET_THP_DISABLE:
		return set_thp_disable(mm, a2, a3, a4, a5);
	case PR_GET_THP_DISABLE:
		if (a2 || a3 || a4 || a5)
			return -EINVAL;
		switch (mm->thp_disable) {
		case MM_THP_DISABLE_ALL:
			return 1;
		case MM_THP_DISABLE_EXCEPT_ADVISED:
			return 1 | PR_THP_DISABLE_EXCEPT_ADVISED;
		default:
			return 0;
		}
	default:
		return -ENOSYS;
	}
}
