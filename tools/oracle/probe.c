/*
 * Host probes: what the kernel of this machine does where Linux kernels
 * differ (zero page, THP alignment) and its vm sysctls, so that the aspace
 * side can be configured the same way. Probed once per process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ_2M (2ull << 20)

void orc_opts_init(struct orc_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 10000;
	o->ram_bytes = 256ull << 20;
	o->max_reported = 3;
	o->reruns = 2;
}

/* A small file's text (NUL terminated) into buf; length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -1;
	while (got + 1 < len) {
		ssize_t r = read(fd, buf + got, len - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

static uint64_t read_u64(const char *path, uint64_t dflt)
{
	char buf[64];

	if (read_small(path, buf, sizeof(buf)) <= 0)
		return dflt;
	return strtoull(buf, NULL, 10);
}

/* Rss in kB of the region starting at addr in this process's smaps, or -1. */
static long rss_of(uint64_t addr)
{
	size_t cap = 4u << 20;
	char *buf = malloc(cap), *p, head[32];
	long rss = -1;

	if (!buf)
		return -1;
	if (read_small("/proc/self/smaps", buf, cap) > 0) {
		snprintf(head, sizeof(head), "%08" PRIx64 "-", addr);
		for (p = buf; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
			if (strncmp(p, head, strlen(head)) == 0) {
				char *r = strstr(p, "\nRss:");

				if (r)
					rss = strtol(r + 5, NULL, 10);
				break;
			}
		}
	}
	free(buf);
	return rss;
}

/*
 * In a throwaway child with THP off: does reading a fresh anonymous page
 * make it resident (no zero page)? Are 2 and 4 MiB anonymous mappings
 * placed 2 MiB aligned?
 */
static int probe_child(struct orc_probe *p)
{
	int *res = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status;
	pid_t pid;

	if (res == MAP_FAILED)
		return -errno;
	res[0] = res[1] = -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		munmap(res, 4096);
		return -errno;
	}
	if (pid == 0) {
		volatile char *page;
		char *small, *big2, *big4;
		long rss;

		prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
		page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (page != MAP_FAILED) {
			(void)page[0];
			rss = rss_of((uint64_t)(uintptr_t)page);
			if (rss >= 0)
				res[0] = rss == 0;
		}
		small = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		big2 = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		big4 = mmap(NULL, 2 * SZ_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (small != MAP_FAILED && big2 != MAP_FAILED && big4 != MAP_FAILED)
			res[1] = !((uintptr_t)big2 & (SZ_2M - 1)) && !((uintptr_t)big4 & (SZ_2M - 1));
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	p->zero_page = res[0];
	p->thp_align_anon = res[1];
	munmap(res, 4096);
	return p->zero_page < 0 || p->thp_align_anon < 0 ? -EIO : 0;
}

/* Sizes of the vDSO regions, from this process's maps. */
static void probe_vdso(struct orc_probe *p)
{
	size_t cap = 1u << 20;
	char *buf = malloc(cap), *line;

	if (!buf)
		return;
	if (read_small("/proc/self/maps", buf, cap) > 0) {
		for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
			uint64_t s, e;

			if (sscanf(line, "%" SCNx64 "-%" SCNx64, &s, &e) != 2)
				continue;
			if (strstr(line, " [vdso]"))
				p->vdso_bytes = e - s;
			else if (strstr(line, " [vvar]"))
				p->vvar_bytes = e - s;
			else if (strstr(line, " [vvar_vclock]"))
				p->vvar_vclock_bytes = e - s;
		}
	}
	free(buf);
}

static void probe_sysctls(struct orc_probe *p)
{
	char buf[4096], *s;

	p->max_map_count = read_u64("/proc/sys/vm/max_map_count", 65530);
	p->mmap_min_addr = read_u64("/proc/sys/vm/mmap_min_addr", 65536);
	p->overcommit_memory = (int)read_u64("/proc/sys/vm/overcommit_memory", 0);
	p->overcommit_ratio = (int)read_u64("/proc/sys/vm/overcommit_ratio", 50);
	p->legacy_va_layout = (int)read_u64("/proc/sys/vm/legacy_va_layout", 0);
	p->stack_guard_gap = 256 * 4096;
	if (read_small("/proc/cmdline", buf, sizeof(buf)) > 0 && (s = strstr(buf, "stack_guard_gap=")))
		p->stack_guard_gap = strtoull(s + strlen("stack_guard_gap="), NULL, 0) * 4096;
	if (read_small("/proc/meminfo", buf, sizeof(buf)) > 0 && (s = strstr(buf, "MemTotal:")))
		p->mem_total = strtoull(s + strlen("MemTotal:"), NULL, 10) << 10;
	snprintf(p->thp_mode, sizeof(p->thp_mode), "?");
	if (read_small("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)) > 0) {
		char *open = strchr(buf, '['), *close = open ? strchr(open, ']') : NULL;

		if (open && close && close - open - 1 < (long)sizeof(p->thp_mode))
			snprintf(p->thp_mode, sizeof(p->thp_mode), "%.*s", (int)(close - open - 1), open + 1);
	}
}

/*
 * hugetlbfs: the pools' sizes, whether 1 GiB pages exist, and the device
 * minor /proc/PID/maps shows for an anonymous MAP_HUGETLB mapping (the
 * internal hugetlbfs mount's, which depends on boot order): a
 * MAP_NORESERVE mapping reserves nothing and is unmapped at once.
 */
static void probe_hugetlb(struct orc_probe *p)
{
	char *buf = malloc(1 << 16), line[64];
	void *a;

	p->nr_hugepages_2m = read_u64("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", 0);
	p->hugepages_1g = access("/sys/kernel/mm/hugepages/hugepages-1048576kB", F_OK) == 0;
	p->nr_hugepages_1g = read_u64("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", 0);
	a = mmap(NULL, 2u << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_HUGETLB,
		 -1, 0);
	if (a != MAP_FAILED && buf && read_small("/proc/self/maps", buf, 1 << 16) > 0) {
		char *s;
		unsigned major, minor;

		snprintf(line, sizeof(line), "%lx-", (unsigned long)a);
		s = strstr(buf, line);
		if (s && (s = strchr(s, ' ')) && (s = strchr(s + 1, ' ')) && (s = strchr(s + 1, ' ')) &&
		    sscanf(s + 1, "%x:%x", &major, &minor) == 2)
			p->hugetlb_dev_minor = minor;
	}
	if (a != MAP_FAILED)
		munmap(a, 2u << 20);
	free(buf);
}

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static struct orc_probe probed;
static int probe_rc = 1; /* 1: not yet */

int orc_probe(struct orc_probe *out)
{
	int rc;

	pthread_mutex_lock(&probe_lock);
	if (probe_rc == 1) {
		memset(&probed, 0, sizeof(probed));
		probe_sysctls(&probed);
		probe_hugetlb(&probed);
		probe_vdso(&probed);
		probe_rc = probe_child(&probed);
	}
	rc = probe_rc;
	*out = probed;
	out->randomized = !orc_layout_fixed();
	pthread_mutex_unlock(&probe_lock);
	return rc;
}

void orc_probe_print(const struct orc_probe *p, FILE *out)
{
	fprintf(out,
		"orc host: zero page %s, THP %s, 2 MiB anon alignment with THP off %s, vdso %" PRIu64
		" KiB, vvar %" PRIu64 "+%" PRIu64 " KiB\n"
		"orc host: max_map_count %" PRIu64 ", mmap_min_addr %#" PRIx64
		", overcommit_memory %d, overcommit_ratio %d, legacy_va_layout %d, stack_guard_gap %" PRIu64
		" KiB, RAM %" PRIu64 " MiB, randomization %s\n"
		"orc host: huge pages 2 MiB %" PRIu64 ", 1 GiB %s %" PRIu64 ", hugetlbfs device 0:%#x\n",
		p->zero_page ? "yes" : "no", p->thp_mode, p->thp_align_anon ? "yes" : "no",
		p->vdso_bytes >> 10, p->vvar_bytes >> 10, p->vvar_vclock_bytes >> 10, p->max_map_count,
		p->mmap_min_addr, p->overcommit_memory, p->overcommit_ratio, p->legacy_va_layout,
		p->stack_guard_gap >> 10, p->mem_total >> 20, p->randomized ? "ON" : "off",
		p->nr_hugepages_2m, p->hugepages_1g ? "yes" : "no", p->nr_hugepages_1g,
		p->hugetlb_dev_minor);
}

void orc_machine_config(const struct orc_probe *p, uint64_t ram_bytes, struct as_machine_config *cfg)
{
	as_machine_config_init(cfg);
	cfg->ram_bytes = ram_bytes ? ram_bytes : 256ull << 20;
	cfg->overcommit_memory = p->overcommit_memory;
	cfg->overcommit_ratio = p->overcommit_ratio;
	cfg->max_map_count = p->max_map_count;
	cfg->mmap_min_addr = p->mmap_min_addr;
	cfg->zero_page = p->zero_page;
	cfg->thp_align_anon = p->thp_align_anon;
	cfg->legacy_va_layout = p->legacy_va_layout;
	cfg->stack_guard_gap = p->stack_guard_gap;
	/* The host's huge page pools, as far as the simulated RAM holds them. */
	cfg->nr_hugepages_2m = p->nr_hugepages_2m;
	if (cfg->nr_hugepages_2m > cfg->ram_bytes >> 21)
		cfg->nr_hugepages_2m = cfg->ram_bytes >> 21;
	cfg->hugepages_1g = p->hugepages_1g;
	cfg->nr_hugepages_1g = p->nr_hugepages_1g;
	if (cfg->nr_hugepages_1g > cfg->ram_bytes >> 30)
		cfg->nr_hugepages_1g = cfg->ram_bytes >> 30;
	if (p->hugetlb_dev_minor)
		cfg->hugetlb_dev_minor = p->hugetlb_dev_minor;
}
