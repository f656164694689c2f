/* env — host memory and the panic path. See env.h. */
#include "env.h"

#include <aspace/aspace.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void default_panic_hook(const char *msg)
{
	fprintf(stderr, "aspace: %s\n", msg);
}

static _Atomic(as_panic_hook) panic_hook = default_panic_hook;

as_panic_hook as_set_panic_hook(as_panic_hook hook)
{
	return atomic_exchange(&panic_hook, hook ? hook : default_panic_hook);
}

void env_panic(const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s:%d: ", file, line);
	va_list ap;

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	atomic_load(&panic_hook)(msg);
	abort();
}

void *env_reserve(size_t bytes, bool prefault)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	void *p;

	if (prefault)
		flags |= MAP_POPULATE;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/*
	 * MAP_POPULATE fills the guest's page tables; under a hypervisor with
	 * shadow page tables the first write to each page still traps (MACHINE.md:
	 * ~10 us). Write every page once so that nothing later pays for it.
	 */
	if (prefault)
		for (size_t off = 0; off < bytes; off += 4096)
			((volatile char *)p)[off] = 0;
	return p;
}

void env_release(void *p, size_t bytes)
{
	if (p && munmap(p, bytes) != 0)
		ENV_PANIC("munmap of host memory %p+%zu failed", p, bytes);
}

void env_discard(void *p, size_t bytes)
{
	/* Private anonymous memory reads back as zero after MADV_DONTNEED. */
	if (madvise(p, bytes, MADV_DONTNEED) != 0)
		memset(p, 0, bytes);
}

const char *as_version(void)
{
	return ASPACE_VERSION; /* the project's version, from CMakeLists.txt */
}
