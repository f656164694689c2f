/*
 * The system calls the regions issue has not filled in yet answer -ENOSYS.
 * Each moves to its own file as it is implemented.
 */
#include "sys.h"

#include <errno.h>

