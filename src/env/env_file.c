/*
 * env — host files: every host call the page cache makes (see env.h).
 *
 * Cached file pages are shared host mappings of the file placed over their
 * frame's slot in simulated RAM, so the host file stays the truth. Two
 * rules keep the process alive whatever happens to a file on the host:
 *  - nothing here touches a page of a file mapping directly except through
 *    env_file_copy, which goes through process_vm_readv/writev on this
 *    process: the host kernel then reports a page it cannot provide (past
 *    the end of the file, an I/O error) as EFAULT instead of raising SIGBUS;
 *  - bound slots are counted against the host's vm.max_map_count, each one
 *    being a host mapping of its own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "env.h"
#include <aspace/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/kcmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define ENV_PAGE 4096ull
#define VIEW_CHUNK (4ull << 20) /* residency views cover aligned 4 MiB windows */

static _Atomic uint64_t bound_pages;
static _Atomic uint64_t bind_budget;

int env_file_info(int fd, struct env_file_info *out)
{
	struct stat st;
	struct statfs sfs;
	struct statvfs svfs;
	int fl, attr = 0;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -EBADF;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (fstat(fd, &st) != 0)
		return -errno;
	out->dev = st.st_dev;
	out->rdev = st.st_rdev;
	out->ino = st.st_ino;
	out->size = (uint64_t)st.st_size;
	out->mode = st.st_mode;
	out->uid = st.st_uid;
	out->gid = st.st_gid;
	out->accmode = (fl & O_PATH) ? -1 : (fl & O_ACCMODE);
	if (fstatfs(fd, &sfs) == 0)
		out->fs_magic = (uint64_t)sfs.f_type;
	if (fstatvfs(fd, &svfs) == 0) {
		out->noexec = svfs.f_flag & ST_NOEXEC;
		out->rdonly_fs = svfs.f_flag & ST_RDONLY;
	}
	if (S_ISREG(st.st_mode) && !(fl & O_PATH) && ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0) {
		out->append_only = attr & FS_APPEND_FL;
		out->immutable = attr & FS_IMMUTABLE_FL;
	}
	return 0;
}

int env_file_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int env_file_dup(int fd)
{
	int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);

	return r < 0 ? -errno : r;
}

void env_file_close(int fd)
{
	if (fd >= 0 && close(fd) != 0 && errno == EBADF)
		ENV_PANIC("closing host descriptor %d that is not open", fd);
}

int env_file_same(int a, int b)
{
	pid_t self = getpid();
	long r = syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);

	if (r < 0)
		return -errno;
	return r == 0;
}

int env_file_path(int fd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	if (len == 0)
		return -EINVAL;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

/* Half of what vm.max_map_count leaves after a margin: a bound slot can split the RAM's mapping. */
uint64_t env_file_bind_budget(void)
{
	uint64_t b = atomic_load_explicit(&bind_budget, memory_order_relaxed);
	unsigned long long max = 65530;
	FILE *f;

	if (b)
		return b;
	f = fopen("/proc/sys/vm/max_map_count", "re");
	if (f) {
		if (fscanf(f, "%llu", &max) != 1)
			max = 65530;
		fclose(f);
	}
	b = max > 8192 ? (max - 4096) / 2 : max / 4;
	atomic_store_explicit(&bind_budget, b, memory_order_relaxed);
	return b;
}

uint64_t env_file_bound_pages(void)
{
	return atomic_load_explicit(&bound_pages, memory_order_relaxed);
}

/* Zeroed private anonymous memory at slot, as the RAM reservation has. */
static int anon_over(void *slot)
{
	void *p = mmap(slot, ENV_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);

	return p == slot ? 0 : -errno;
}

int env_file_bind_page(void *slot, int fd, uint64_t off, bool writable, bool rebind, int advice)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	bool exec = (advice & ENV_BIND_EXEC) != 0, huge = (advice & ENV_BIND_HUGEPAGE) != 0;
	void *p;
	int err;

	advice &= ~(ENV_BIND_EXEC | ENV_BIND_HUGEPAGE);
	if (rebind) {
		p = mmap(slot, ENV_PAGE, prot, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, (off_t)off);
		return p == slot ? 0 : -errno;
	}
	if (atomic_fetch_add_explicit(&bound_pages, 1, memory_order_relaxed) >= env_file_bind_budget()) {
		atomic_fetch_sub_explicit(&bound_pages, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	/* MAP_POPULATE fills the host's PTE now (so that pagemap can see the page); a
	 * page past the end of the file is simply left unpopulated. */
	p = MAP_FAILED;
	if (exec) /* a noexec mount refuses (EPERM): then bind it as data */
		p = mmap(slot, ENV_PAGE, prot | PROT_EXEC, MAP_SHARED | MAP_FIXED | (advice || huge ? 0 : MAP_POPULATE),
			 fd, (off_t)off);
	if (p != slot)
		p = mmap(slot, ENV_PAGE, prot, MAP_SHARED | MAP_FIXED | (advice || huge ? 0 : MAP_POPULATE), fd,
			 (off_t)off);
	if (p == slot && (advice || huge)) {
		/*
		 * The read pattern first (sequential: read ahead only; random: no
		 * readahead; hugepage: readahead in PMD-sized folios).
		 */
		if (advice)
			(void)madvise(slot, ENV_PAGE, advice);
		if (huge)
			(void)madvise(slot, ENV_PAGE, MADV_HUGEPAGE);
		(void)madvise(slot, ENV_PAGE, MADV_POPULATE_READ); /* EFAULT past the end: left as is */
	}
	if (p == slot)
		return 0;
	err = errno;
	atomic_fetch_sub_explicit(&bound_pages, 1, memory_order_relaxed);
	if (anon_over(slot) != 0)
		ENV_PANIC("cannot restore RAM at %p after a failed file mapping", slot);
	return -err;
}

int env_file_dirty_page(void *slot)
{
	return madvise(slot, ENV_PAGE, MADV_POPULATE_WRITE) == 0 ? 0 : -errno;
}

void env_file_unbind_page(void *slot)
{
	if (anon_over(slot) != 0)
		ENV_PANIC("cannot restore RAM at %p over a file page (errno %d)", slot, errno);
	atomic_fetch_sub_explicit(&bound_pages, 1, memory_order_relaxed);
}

int env_file_copy(void *dst, const void *src, size_t n, bool from_host_file)
{
	struct iovec local, remote;
	pid_t self = getpid();
	ssize_t r;

	if (n == 0)
		return 0;
	if (from_host_file) {
		local = (struct iovec){ dst, n };
		remote = (struct iovec){ (void *)src, n };
		r = process_vm_readv(self, &local, 1, &remote, 1, 0);
	} else {
		local = (struct iovec){ (void *)src, n };
		remote = (struct iovec){ dst, n };
		r = process_vm_writev(self, &local, 1, &remote, 1, 0);
	}
	if (r == (ssize_t)n)
		return 0;
	if (r < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* No cross-process copy on this host: copy directly (a truncation
		 * on the host side could then raise SIGBUS). */
		memcpy(dst, src, n);
		return 0;
	}
	return -EFAULT;
}

int env_file_resident(int fd, uint64_t off, size_t n, unsigned char *vec, void **view,
		      uint64_t *view_off, uint64_t *view_len)
{
	uint64_t end = off + n * ENV_PAGE, woff, wlen;

	if (!*view || off < *view_off || end > *view_off + *view_len) {
		woff = off & ~(VIEW_CHUNK - 1);
		wlen = ((end - woff) + VIEW_CHUNK - 1) & ~(VIEW_CHUNK - 1);
		if (*view)
			env_file_view_release(*view, *view_len);
		*view = NULL;
		*view = mmap(NULL, wlen, PROT_NONE, MAP_SHARED, fd, (off_t)woff);
		if (*view == MAP_FAILED) {
			*view = NULL;
			return -errno;
		}
		*view_off = woff;
		*view_len = wlen;
	}
	if (mincore((uint8_t *)*view + (off - *view_off), n * ENV_PAGE, vec) != 0)
		return -errno;
	for (size_t i = 0; i < n; i++)
		vec[i] &= 1;
	return 0;
}

void env_file_view_release(void *view, uint64_t view_len)
{
	if (view && munmap(view, view_len) != 0)
		ENV_PANIC("munmap of a file view %p+%llu failed", view, (unsigned long long)view_len);
}

int env_file_sync_range(int fd, uint64_t off, uint64_t len)
{
	if (sync_file_range(fd, (off64_t)off, (off64_t)len,
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				    SYNC_FILE_RANGE_WAIT_AFTER) != 0)
		return -errno;
	return 0;
}

/* cachestat(2) (Linux 6.5), not in Debian 12's headers. */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct env_cachestat_range {
	uint64_t off, len;
};
struct env_cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

int env_file_range_dirty(int fd, uint64_t off, uint64_t len)
{
	struct env_cachestat_range r = { .off = off, .len = len };
	struct env_cachestat cs;

	if (len == 0)
		return 0;
	if (syscall(__NR_cachestat, fd, &r, &cs, 0) != 0)
		return -1;
	return cs.nr_dirty != 0;
}

int env_file_truncate(int fd, uint64_t len)
{
	return ftruncate(fd, (off_t)len) == 0 ? 0 : -errno;
}

int env_file_punch(int fd, uint64_t off, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) != 0)
		return -errno;
	return 0;
}

void env_host_ids(uint32_t *uid, uint32_t *gid)
{
	*uid = (uint32_t)geteuid();
	*gid = (uint32_t)getegid();
}

void env_file_drop_cached(int fd, uint64_t off, uint64_t len)
{
	(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

uint64_t env_file_ra_bytes(int fd)
{
	static const char *const where[] = { "/sys/dev/block/%u:%u/queue/read_ahead_kb",
					     "/sys/dev/block/%u:%u/../queue/read_ahead_kb",
					     "/sys/class/bdi/%u:%u/read_ahead_kb" };
	unsigned long long kb;
	struct stat st;
	char path[96];

	if (fstat(fd, &st) != 0)
		return 128 << 10;
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		FILE *f;
		int got;

		snprintf(path, sizeof(path), where[i], major(st.st_dev), minor(st.st_dev));
		f = fopen(path, "re");
		if (!f)
			continue;
		got = fscanf(f, "%llu", &kb);
		fclose(f);
		if (got == 1)
			return (uint64_t)kb << 10;
	}
	return 128 << 10;
}

void env_file_read_ahead(int fd, uint64_t off, uint64_t len)
{
	(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

#define PM_PRESENT (1ull << 63)
#define PM_PFN_MASK ((1ull << 55) - 1)
#define KPF_REFERENCED 2
#define KPF_DIRTY 4
#define KPF_ACTIVE 6
#define KPF_COMPOUND_HEAD 15
#define KPF_COMPOUND_TAIL 16

int env_host_page_flags(void *const *va, size_t n, unsigned *flags)
{
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), kf = -1, rc = 0;

	if (pm < 0)
		return -errno;
	kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (kf < 0) {
		rc = -errno;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t e = 0, kpf = 0, pfn;

		flags[i] = 0;
		if (pread(pm, &e, sizeof(e), (off_t)(((uintptr_t)va[i] / ENV_PAGE) * sizeof(e))) !=
		    (ssize_t)sizeof(e)) {
			rc = -EIO;
			break;
		}
		/* The host dropped its entry (reclaim): fill it again, without faulting on a
		 * page it can't give (that makes the madvise fail instead). */
		if (!(e & PM_PRESENT) && madvise(va[i], ENV_PAGE, MADV_POPULATE_READ) == 0 &&
		    pread(pm, &e, sizeof(e), (off_t)(((uintptr_t)va[i] / ENV_PAGE) * sizeof(e))) !=
			    (ssize_t)sizeof(e))
			e = 0;
		if (!(e & PM_PRESENT))
			continue;
		pfn = e & PM_PFN_MASK;
		if (pfn == 0) { /* the host hides frame numbers from us */
			rc = -EPERM;
			break;
		}
		if (pread(kf, &kpf, sizeof(kpf), (off_t)(pfn * sizeof(kpf))) != (ssize_t)sizeof(kpf)) {
			rc = -EIO;
			break;
		}
		flags[i] = ENV_HPF_PRESENT | ((kpf >> KPF_DIRTY) & 1 ? ENV_HPF_DIRTY : 0) |
			   ((kpf >> KPF_COMPOUND_HEAD) & 1 ? ENV_HPF_HEAD : 0) |
			   ((kpf >> KPF_COMPOUND_TAIL) & 1 ? ENV_HPF_TAIL : 0) |
			   ((kpf >> KPF_REFERENCED) & 1 ? ENV_HPF_REFERENCED : 0) |
			   ((kpf >> KPF_ACTIVE) & 1 ? ENV_HPF_ACTIVE : 0);
	}
out:
	close(pm);
	if (kf >= 0)
		close(kf);
	return rc;
}

#define FOLIO_SCAN 512 /* the largest folio looked for: a PMD's worth of pages */

/* The folio of frame pfn from kpageflags: its head frame and size; false if unknown. */
static bool folio_of(int kf, uint64_t pfn, uint64_t *head, uint64_t *nr)
{
	uint64_t f = 0, lo, kpf[FOLIO_SCAN];
	ssize_t got;
	size_t n, i;

	if (pread(kf, &f, sizeof(f), (off_t)(pfn * sizeof(f))) != (ssize_t)sizeof(f))
		return false;
	if (!((f >> KPF_COMPOUND_HEAD) & 1) && !((f >> KPF_COMPOUND_TAIL) & 1)) {
		*head = pfn;
		*nr = 1;
		return true;
	}
	/* Backwards to the head, within FOLIO_SCAN frames. */
	lo = pfn >= FOLIO_SCAN - 1 ? pfn - (FOLIO_SCAN - 1) : 0;
	n = (size_t)(pfn - lo);
	got = pread(kf, kpf, (n + 1) * sizeof(kpf[0]), (off_t)(lo * sizeof(kpf[0])));
	if (got != (ssize_t)((n + 1) * sizeof(kpf[0])))
		return false;
	for (i = n; !((kpf[i] >> KPF_COMPOUND_HEAD) & 1); i--)
		if (!((kpf[i] >> KPF_COMPOUND_TAIL) & 1) || i == 0)
			return false;
	*head = lo + i;
	/* Forwards: the tails after the head. */
	got = pread(kf, kpf, sizeof(kpf), (off_t)((*head + 1) * sizeof(kpf[0])));
	if (got < 0)
		return false;
	for (i = 0; i < (size_t)got / sizeof(kpf[0]) && ((kpf[i] >> KPF_COMPOUND_TAIL) & 1); i++)
		;
	*nr = 1 + i;
	return pfn < *head + *nr;
}

int env_host_folios(void *const *va, size_t n, uint32_t *before, uint32_t *nr, unsigned *hpf)
{
	uint64_t head = 0, fnr = 0;
	int pm, kf;

	for (size_t i = 0; i < n; i++) {
		before[i] = 0;
		nr[i] = 1;
		if (hpf)
			hpf[i] = 0;
	}
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return -errno;
	kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (kf < 0) {
		close(pm);
		return -errno;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t e = 0, pfn;

		if (pread(pm, &e, sizeof(e), (off_t)(((uintptr_t)va[i] / ENV_PAGE) * sizeof(e))) !=
			    (ssize_t)sizeof(e) ||
		    !(e & PM_PRESENT))
			continue;
		pfn = e & PM_PFN_MASK;
		if (pfn == 0)
			break; /* the host hides frame numbers: all order-0 as far as we know */
		if (hpf) {
			uint64_t kpf = 0;

			/* A tail page reports its folio's LRU flags. */
			if (pread(kf, &kpf, sizeof(kpf), (off_t)(pfn * sizeof(kpf))) == (ssize_t)sizeof(kpf))
				hpf[i] = ENV_HPF_PRESENT | ((kpf >> KPF_REFERENCED) & 1 ? ENV_HPF_REFERENCED : 0) |
					 ((kpf >> KPF_ACTIVE) & 1 ? ENV_HPF_ACTIVE : 0);
		}
		if (!(fnr && pfn >= head && pfn < head + fnr) && !folio_of(kf, pfn, &head, &fnr)) {
			fnr = 0;
			continue;
		}
		before[i] = (uint32_t)(pfn - head);
		nr[i] = (uint32_t)fnr;
	}
	close(pm);
	close(kf);
	return 0;
}
