/*
 * env — what exec needs from the host (see env.h): opening programs the
 * way Linux's open_exec checks them, reading them, and the facts of the
 * running kernel a new image must repeat (the auxiliary vector's types and
 * constant values, the AT_PLATFORM string, the vDSO block's layout).
 *
 * The facts are read once from this process's own image, which the same
 * kernel built: /proc/self/auxv gives the auxiliary vector in the kernel's
 * order, /proc/self/maps the regions of the vDSO block and their sizes.
 * Nothing here is hard-coded unless /proc can't be read; then the values
 * are those of Linux 6.18 on x86-64.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "env.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define ENV_PAGE 4096ull

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif
#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE 27
#endif
#ifndef AT_RSEQ_ALIGN
#define AT_RSEQ_ALIGN 28
#endif

int env_exec_open(const char *path)
{
	struct stat st;
	struct statvfs vfs;
	int pfd, fd;

	/* O_PATH first: a FIFO or device must be refused, never opened. */
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) != 0) {
		fd = -errno;
		goto out;
	}
	/* may_open with MAY_EXEC: directories and other non-regular files. */
	if (!S_ISREG(st.st_mode)) {
		fd = -EACCES;
		goto out;
	}
	/* path_noexec */
	if (fstatvfs(pfd, &vfs) == 0 && (vfs.f_flag & ST_NOEXEC)) {
		fd = -EACCES;
		goto out;
	}
	/* inode_permission(MAY_EXEC) with the process's effective credentials. */
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) != 0) {
		fd = errno == ENOENT ? -ENOENT : -EACCES;
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
out:
	close(pfd);
	return fd;
}

int64_t env_file_read(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int64_t)done;
}

static struct env_exec_facts facts;
static pthread_once_t facts_once = PTHREAD_ONCE_INIT;

/* Linux 6.18 x86-64's auxiliary vector order (create_elf_tables), for when /proc is missing. */
static const uint64_t fallback_auxv[] = {
	AT_SYSINFO_EHDR, AT_MINSIGSTKSZ, AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR, AT_PHENT,
	AT_PHNUM, AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE,
	AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_PLATFORM, AT_RSEQ_FEATURE_SIZE, AT_RSEQ_ALIGN,
};

static void probe_auxv(struct env_exec_facts *f)
{
	uint64_t pair[2];
	FILE *in = fopen("/proc/self/auxv", "re");

	f->nr_auxv = 0;
	if (in) {
		while (f->nr_auxv < ENV_AUXV_MAX && fread(pair, sizeof(pair), 1, in) == 1) {
			if (pair[0] == AT_NULL)
				break;
			/* Only binfmt_misc's open-binary mode passes a descriptor. */
			if (pair[0] == AT_EXECFD)
				continue;
			f->auxv_type[f->nr_auxv] = pair[0];
			f->auxv_val[f->nr_auxv] = pair[1];
			f->nr_auxv++;
		}
		fclose(in);
	}
	if (f->nr_auxv)
		return;
	f->probed = false;
	for (size_t i = 0; i < sizeof(fallback_auxv) / sizeof(fallback_auxv[0]); i++) {
		f->auxv_type[i] = fallback_auxv[i];
		f->auxv_val[i] = getauxval(fallback_auxv[i]);
	}
	f->nr_auxv = sizeof(fallback_auxv) / sizeof(fallback_auxv[0]);
}

static bool special_name(const char *name)
{
	return !strcmp(name, "[vvar]") || !strcmp(name, "[vvar_vclock]") || !strcmp(name, "[vdso]");
}

/* The vDSO block of this process: its regions in address order, relative to the lowest. */
static bool probe_special(struct env_exec_facts *f)
{
	char line[512], name[256];
	uint64_t start[ENV_SPECIAL_MAX], end[ENV_SPECIAL_MAX], lo = UINT64_MAX, hi = 0;
	unsigned n = 0;
	FILE *in = fopen("/proc/self/maps", "re");

	if (!in)
		return false;
	while (fgets(line, sizeof(line), in)) {
		uint64_t s, e;

		name[0] = '\0';
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %*s %*s %*s %255s", &s, &e, name) < 2)
			continue;
		if (!special_name(name) || n == ENV_SPECIAL_MAX)
			continue;
		/* special_name() accepted it: a short bracketed name that fits. */
		memcpy(f->special[n].name, name, strnlen(name, sizeof(f->special[n].name) - 1));
		f->special[n].name[strnlen(name, sizeof(f->special[n].name) - 1)] = '\0';
		start[n] = s;
		end[n] = e;
		lo = s < lo ? s : lo;
		hi = e > hi ? e : hi;
		if (!strcmp(name, "[vdso]"))
			f->vdso_len = e - s;
		n++;
	}
	fclose(in);
	if (!n)
		return true; /* a kernel without a vDSO (vdso=0): nothing to map */
	for (unsigned i = 0; i < n; i++) {
		f->special[i].off = start[i] - lo;
		f->special[i].len = end[i] - start[i];
	}
	f->nr_special = n;
	f->special_len = hi - lo;
	return true;
}

/* Linux 6.18 x86-64: [vvar] 4 pages, [vvar_vclock] 2, [vdso] 2, in that order. */
static void fallback_special(struct env_exec_facts *f)
{
	static const struct env_special_map def[] = {
		{ "[vvar]", 0, 4 * ENV_PAGE },
		{ "[vvar_vclock]", 4 * ENV_PAGE, 2 * ENV_PAGE },
		{ "[vdso]", 6 * ENV_PAGE, 2 * ENV_PAGE },
	};

	memcpy(f->special, def, sizeof(def));
	f->nr_special = 3;
	f->special_len = 8 * ENV_PAGE;
	f->probed = false;
}

static void probe_facts(void)
{
	struct env_exec_facts *f = &facts;
	const char *plat = (const char *)getauxval(AT_PLATFORM);

	f->probed = true;
	probe_auxv(f);
	snprintf(f->platform, sizeof(f->platform), "%s", plat ? plat : "x86_64");
	if (!probe_special(f))
		fallback_special(f);
	f->vdso_image = (const void *)getauxval(AT_SYSINFO_EHDR);
	if (!f->vdso_image)
		f->vdso_len = 0;
	f->uid = (uint32_t)getuid();
	f->euid = (uint32_t)geteuid();
	f->gid = (uint32_t)getgid();
	f->egid = (uint32_t)getegid();
}

const struct env_exec_facts *env_exec_facts(void)
{
	pthread_once(&facts_once, probe_facts);
	return &facts;
}
