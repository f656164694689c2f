/*
 * The system calls the regions issue has not filled in yet answer -ENOSYS.
 * Each moves to its own file as it is implemented.
 */
#include "sys.h"

#include <errno.h>

long sys_mprotect(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t prot) { return -ENOSYS; }
long sys_madvise(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t behavior) { return -ENOSYS; }
long sys_mlock2(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t flags) { return -ENOSYS; }
long sys_munlock(struct as_mm *mm, uint64_t start, uint64_t len) { return -ENOSYS; }
long sys_mlockall(struct as_mm *mm, uint64_t flags) { return -ENOSYS; }
long sys_munlockall(struct as_mm *mm) { return -ENOSYS; }
long sys_msync(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t flags) { return -ENOSYS; }
long sys_mincore(struct as_mm *mm, uint64_t start, uint64_t len, uint64_t vec) { return -ENOSYS; }
