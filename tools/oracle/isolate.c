/*
 * Isolation of the kernel child (orc_opts.isolate), the parent's half:
 * list what the child is to unmap (and, isolated or not, the program's
 * readable regions, which the child reads through before the first op). The child (kernel_child.c, isolate())
 * keeps only what its own code needs — the program's regions (its code in
 * the section orc_child_text, its data), [stack] and the buffer it shares
 * with the parent — so that a sequence has nearly the whole address space
 * and its initial state is the same in every run (no malloc arenas,
 * libraries, sanitizer shadow, vdso). The list is this process's layout
 * read right before fork, which the child inherits unchanged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <unistd.h>

/* The 47th field of /proc/self/stat: start_brk. 0 when unreadable. */
static uint64_t own_start_brk(void)
{
	char buf[2048], *p;
	uint64_t v = 0;
	int field = 2;
	FILE *f = fopen("/proc/self/stat", "re");
	size_t len;

	if (!f)
		return 0;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	p = strrchr(buf, ')');
	while (p && field < 47) {
		p = strchr(p + 1, ' ');
		field++;
	}
	if (p)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

int orc_isolate_prepare(struct orc_kshared *ks, char *err, size_t errlen)
{
	char exe[PATH_MAX], line[PATH_MAX + 128];
	uint64_t self = (uint64_t)(uintptr_t)ks, prev_end = 0;
	bool prev_kept_exe = false;
	ssize_t n;
	FILE *f;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(err, errlen, "isolation: readlink /proc/self/exe: %s", strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	if (__rseq_size) {
		ks->rseq_addr = (uint64_t)(uintptr_t)__builtin_thread_pointer() + (uint64_t)__rseq_offset;
		ks->rseq_len = 32; /* sizeof(struct rseq), what glibc registers */
		ks->rseq_alt_len = __rseq_size;
	}
	ks->start_brk = own_start_brk();
	if (ks->isolate && !ks->start_brk) {
		snprintf(err, errlen, "isolation: no start_brk in /proc/self/stat");
		return -1;
	}
	f = fopen("/proc/self/maps", "re");
	if (!f) {
		snprintf(err, errlen, "isolation: /proc/self/maps: %s", strerror(errno));
		return -1;
	}
	ks->nunmap = 0;
	ks->ntouch = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end;
		int name_at = 0;
		char *name;
		bool keep;

		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &start, &end, &name_at) < 2 || !name_at)
			continue;
		name = line + name_at;
		name[strcspn(name, "\n")] = '\0';
		if (end > (1ull << 47))
			continue; /* [vsyscall] */
		/* The program's own regions, and its bss right after them. */
		keep = strcmp(name, exe) == 0 || strcmp(name, "[stack]") == 0 || start == self ||
		       (!name[0] && prev_kept_exe && start == prev_end);
		prev_kept_exe = keep && strcmp(name, "[stack]") != 0 && start != self;
		prev_end = end;
		if (strcmp(name, exe) == 0 && line[strcspn(line, " ") + 1] == 'r' && ks->ntouch < ORC_MAX_TOUCH) {
			ks->touch[ks->ntouch][0] = start;
			ks->touch[ks->ntouch][1] = end;
			ks->ntouch++;
		}
		if (keep || !ks->isolate)
			continue;
		if (ks->nunmap == ORC_MAX_UNMAP) {
			fclose(f);
			snprintf(err, errlen, "isolation: more than %d regions to unmap", ORC_MAX_UNMAP);
			return -1;
		}
		ks->unmap[ks->nunmap][0] = start;
		ks->unmap[ks->nunmap][1] = end;
		ks->nunmap++;
	}
	fclose(f);
	return 0;
}
