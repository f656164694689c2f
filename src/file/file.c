/*
 * Open files (struct file_map): what a host descriptor is, which open file
 * description it names, and the page cache behind it. See file.h.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define TMPFS_MAGIC 0x01021994ull
#define EXT4_SUPER_MAGIC 0xef53ull /* also ext2 and ext3 */
#define XFS_SUPER_MAGIC 0x58465342ull
#define MAX_LFS_FILESIZE ((uint64_t)INT64_MAX)

static struct file_map *fmap_alloc(struct as_machine *m)
{
	struct file_map *f = slab_zalloc(machine_cache(m, MC_FILE));

	if (!f)
		return NULL;
	atomic_store(&m->file_checker, file_check); /* machine_check covers files from now on */
	atomic_init(&f->refs, 1);
	f->m = m;
	f->fd = -1;
	return f;
}

static void fmap_free(struct file_map *f)
{
	if (f->fd >= 0) {
		env_file_close(f->fd);
		atomic_fetch_sub(&f->m->nr_host_fds, 1);
	}
	free(f->name_owned);
	slab_free(machine_cache(f->m, MC_FILE), f);
}

/* [F] */
static void fmap_link_locked(struct file_map *f)
{
	struct as_machine *m = f->m;

	f->prev = NULL;
	f->next = m->file_maps;
	if (m->file_maps)
		m->file_maps->prev = f;
	m->file_maps = f;
}

static void fmap_unlink_locked(struct file_map *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		f->m->file_maps = f->next;
	if (f->next)
		f->next->prev = f->prev;
}

static void cache_link_locked(struct file_cache *c)
{
	struct as_machine *m = c->m;

	c->prev = NULL;
	c->next = m->file_caches;
	if (m->file_caches)
		m->file_caches->prev = c;
	m->file_caches = c;
}

static void cache_unlink_locked(struct file_cache *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->m->file_caches = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

/* A reference unless the object is already on its way out. */
static bool fmap_tryget(struct file_map *f)
{
	int32_t r = atomic_load(&f->refs);

	while (r > 0)
		if (atomic_compare_exchange_weak(&f->refs, &r, r + 1))
			return true;
	return false;
}

void file_map_get(struct file_map *f)
{
	if (f) {
		int32_t old = atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);

		ENV_BUG_ON(old <= 0);
	}
}

void file_map_put(struct file_map *f)
{
	struct file_cache *dead = NULL;
	struct as_machine *m;

	if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	m = f->m;
	pthread_mutex_lock(&m->files_lock);
	fmap_unlink_locked(f);
	if (f->cache && --f->cache->refs == 0) {
		dead = f->cache;
		cache_unlink_locked(dead);
	}
	pthread_mutex_unlock(&m->files_lock);
	if (dead)
		file_cache_destroy(dead);
	if (f->huge_shift)
		hugetlb_file_release(f);
	fmap_free(f);
}

/*
 * The page cache of host file (dev, ino), referenced: the machine's, or a
 * new one with its own duplicate of fd. -ENODEV when the host can't map
 * the file (a regular file of a filesystem without mmap). [F]
 */
static int host_cache_get_locked(struct as_machine *m, const struct env_file_info *info, int fd,
				 struct file_cache **out)
{
	struct file_cache *c;
	unsigned char probe;
	int cfd, rc;

	for (c = m->file_caches; c; c = c->next) {
		if (c->host && c->dev == info->dev && c->ino == info->ino) {
			c->refs++;
			file_cache_saw_size(c, info->size); /* mmap looks at the file too */
			*out = c;
			return 0;
		}
	}
	cfd = env_file_dup(fd);
	if (cfd < 0)
		return cfd;
	atomic_fetch_add(&m->nr_host_fds, 1);
	rc = file_cache_new(m, true, info->fs_magic == TMPFS_MAGIC, cfd, false, info->size, info->dev,
			    info->ino, &c);
	if (rc) {
		env_file_close(cfd);
		atomic_fetch_sub(&m->nr_host_fds, 1);
		return rc;
	}
	/* Can the host map it at all? The residency view is such a mapping. */
	rc = env_file_resident(cfd, 0, 1, &probe, &c->view, &c->view_off, &c->view_len);
	if (rc) {
		file_cache_destroy(c);
		return rc == -ENOMEM ? -ENOMEM : -ENODEV;
	}
	cache_link_locked(c);
	*out = c;
	return 0;
}

/* Fill in what f's kind and the host say about the file (do_mmap's questions). */
static void fmap_describe(struct file_map *f, const struct env_file_info *info)
{
	f->readable = info->accmode == O_RDONLY || info->accmode == O_RDWR;
	f->writable = info->accmode == O_WRONLY || info->accmode == O_RDWR;
	f->noexec = info->noexec;
	f->append_only = info->append_only;
	f->dev_major = major(info->dev);
	f->dev_minor = minor(info->dev);
	f->ino = info->ino;
	/* file_mmap_size_max */
	if (S_ISREG(info->mode) || S_ISBLK(info->mode) || S_ISSOCK(info->mode))
		f->max_size = MAX_LFS_FILESIZE;
	else
		f->max_size = UINT64_MAX;
	if (f->kind == FILE_HOST) {
		bool ext_like = info->fs_magic == EXT4_SUPER_MAGIC || info->fs_magic == XFS_SUPER_MAGIC;

		f->mmap_sync = ext_like;   /* FOP_MMAP_SYNC (refused later without DAX) */
		f->thp_align = ext_like;   /* .get_unmapped_area = thp_get_unmapped_area */
		f->shmem_area = info->fs_magic == TMPFS_MAGIC;
	} else if (f->kind == FILE_DEVZERO) {
		f->thp_align = true;       /* get_unmapped_area_zero, for private mappings */
	}
}

int file_map_open(struct as_machine *m, int fd, struct file_map **out)
{
	struct env_file_info info;
	struct file_map *f;
	int rc;

	*out = NULL;
	rc = env_file_info(fd, &info);
	if (rc)
		return rc == -EBADF ? -EBADF : rc;
	if (info.accmode < 0)
		return -EBADF; /* O_PATH: fget refuses it */
	f = fmap_alloc(m);
	if (!f)
		return -ENOMEM;
	if (S_ISREG(info.mode))
		f->kind = FILE_HOST;
	else if (S_ISCHR(info.mode) && info.rdev == makedev(1, 5))
		f->kind = FILE_DEVZERO;
	else
		f->kind = FILE_NOMMAP;
	fmap_describe(f, &info);

	pthread_mutex_lock(&m->files_lock);
	if (f->kind != FILE_NOMMAP) {
		/* The same open file description already mapped: the same struct file. */
		for (struct file_map *o = m->file_maps; o; o = o->next) {
			if (o->kind != f->kind || o->fd < 0 || o->ino != info.ino ||
			    o->dev_major != f->dev_major || o->dev_minor != f->dev_minor)
				continue;
			if (env_file_same(fd, o->fd) == 1 && fmap_tryget(o)) {
				if (o->cache)
					file_cache_saw_size(o->cache, info.size);
				pthread_mutex_unlock(&m->files_lock);
				slab_free(machine_cache(m, MC_FILE), f);
				*out = o;
				return 0;
			}
		}
		rc = env_file_dup(fd);
		if (rc < 0)
			goto fail;
		f->fd = rc;
		atomic_fetch_add(&m->nr_host_fds, 1);
	}
	if (f->kind == FILE_HOST && f->readable) {
		rc = host_cache_get_locked(m, &info, fd, &f->cache);
		if (rc == -ENODEV) {
			f->kind = FILE_NOMMAP;
		} else if (rc) {
			goto fail;
		}
	}
	fmap_link_locked(f);
	pthread_mutex_unlock(&m->files_lock);
	*out = f;
	return 0;

fail:
	pthread_mutex_unlock(&m->files_lock);
	fmap_free(f);
	return rc;
}

int file_map_new_shmem(struct as_machine *m, uint64_t size, struct file_map **out)
{
	struct file_map *f = fmap_alloc(m);
	struct file_cache *c;
	uint64_t ino;
	int rc;

	if (!f)
		return -ENOMEM;
	ino = atomic_fetch_add(&m->shmem_ino, 1) + 1;
	rc = file_cache_new(m, false, true, -1, true, size, makedev(0, 1), ino, &c);
	if (rc) {
		fmap_free(f);
		return rc;
	}
	f->kind = FILE_SHMEM;
	f->cache = c;
	f->readable = f->writable = true;
	f->shmem_area = true;
	f->max_size = MAX_LFS_FILESIZE;
	f->dev_major = 0;
	f->dev_minor = 1;
	f->ino = ino;
	f->name = "/dev/zero (deleted)";
	pthread_mutex_lock(&m->files_lock);
	cache_link_locked(c);
	fmap_link_locked(f);
	pthread_mutex_unlock(&m->files_lock);
	*out = f;
	return 0;
}

struct file_map *file_map_new_standin(struct as_machine *m, const char *path, uint32_t dev_major,
				      uint32_t dev_minor, uint64_t ino)
{
	struct file_map *f = fmap_alloc(m);

	if (!f)
		return NULL;
	f->name_owned = strdup(path);
	if (!f->name_owned) {
		fmap_free(f);
		return NULL;
	}
	f->kind = FILE_STANDIN;
	f->name = f->name_owned;
	f->readable = true;
	f->max_size = MAX_LFS_FILESIZE;
	f->dev_major = dev_major;
	f->dev_minor = dev_minor;
	f->ino = ino;
	pthread_mutex_lock(&m->files_lock);
	fmap_link_locked(f);
	pthread_mutex_unlock(&m->files_lock);
	return f;
}

const char *file_map_name(const struct file_map *f, char *buf, size_t len)
{
	char raw[4096];
	size_t o = 0;

	if (f->name) {
		snprintf(buf, len, "%s", f->name);
		return buf;
	}
	if (f->fd < 0 || env_file_path(f->fd, raw, sizeof(raw)) < 0)
		snprintf(raw, sizeof(raw), "?");
	/* seq_file_path escapes newlines as octal. */
	for (const char *p = raw; *p && o + 5 < len; p++) {
		if (*p == '\n') {
			memcpy(buf + o, "\\012", 4);
			o += 4;
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	return buf;
}

int file_map_prepare_shared_write(struct file_map *f)
{
	if (!f->cache || !f->cache->host)
		return 0;
	return file_cache_make_writable(f->cache, f->fd);
}

/* ---- The public helpers for changes made on the host ---- */

/* The machine's cache of the host file behind fd, referenced, or NULL. */
static struct file_cache *cache_of_fd(struct as_machine *m, int fd)
{
	struct env_file_info info;
	struct file_cache *c;

	if (env_file_info(fd, &info) != 0)
		return NULL;
	pthread_mutex_lock(&m->files_lock);
	for (c = m->file_caches; c; c = c->next)
		if (c->host && c->dev == info.dev && c->ino == info.ino)
			break;
	if (c)
		c->refs++;
	pthread_mutex_unlock(&m->files_lock);
	return c;
}

static void cache_put(struct file_cache *c)
{
	struct as_machine *m = c->m;
	bool dead;

	pthread_mutex_lock(&m->files_lock);
	dead = --c->refs == 0;
	if (dead)
		cache_unlink_locked(c);
	pthread_mutex_unlock(&m->files_lock);
	if (dead)
		file_cache_destroy(c);
}

int as_file_changed(struct as_machine *m, int fd)
{
	struct file_cache *c;

	if (!m || fd < 0)
		return -EBADF;
	c = cache_of_fd(m, fd);
	if (c) {
		(void)file_cache_size(c);
		cache_put(c);
	}
	return 0;
}

int as_file_truncate(struct as_machine *m, int fd, uint64_t length)
{
	struct file_cache *c;
	uint64_t old_size = length; /* unknown: as if unchanged */
	int rc;

	if (!m || fd < 0)
		return -EBADF;
	if (length > (uint64_t)INT64_MAX)
		return -EINVAL;
	/*
	 * truncate_inode_pages releases the folios past the new last page in
	 * batches, and releasing a batch drains the LRU batches (lru_add_drain).
	 * Pages there are taken to be cached (written files are); growing the
	 * file, or cutting inside its last page, drains nothing.
	 */
	if (env_file_size(fd, &old_size) == 0 &&
	    (old_size + PAGE_SIZE - 1) / PAGE_SIZE > (length + PAGE_SIZE - 1) / PAGE_SIZE)
		machine_lazyfree_drain(m);
	c = cache_of_fd(m, fd);
	rc = env_file_truncate(fd, length);
	if (rc == 0 && !c) {
		struct env_file_info info;

		if (env_file_info(fd, &info) == 0)
			file_ghosts_forget(m, info.dev, info.ino, (length + PAGE_SIZE - 1) >> PAGE_SHIFT);
	}
	if (c) {
		uint64_t edge = length < old_size ? length : old_size;

		(void)file_cache_size(c);
		/*
		 * The filesystem zeroes the tail of the block at the lower of the
		 * two ends, through the page cache (FGP_ACCESSED): that page is
		 * marked accessed (probed on ext4). tmpfs does not.
		 */
		if (rc == 0 && c->host && !c->shmem && length != old_size && (edge & (PAGE_SIZE - 1)))
			file_cache_mark_accessed(c, edge >> PAGE_SHIFT);
		cache_put(c);
	}
	return rc;
}

bool file_may_reveal(const struct file_map *f, const struct as_mm *mm)
{
	struct env_file_info info;
	uint32_t bits;

	if (f->kind != FILE_HOST || f->fd < 0 || env_file_info(f->fd, &info) != 0)
		return true;
	if (info.uid == mm->fsuid || mm_capable(mm, MM_CAP_FOWNER))
		return true;
	/* inode_permission(MAY_WRITE): the mount and the inode's flags first. */
	if (info.rdonly_fs || info.immutable)
		return false;
	bits = info.gid == mm->fsgid ? info.mode >> 3 : info.mode;
	return (bits & 2) || mm_capable(mm, MM_CAP_DAC_OVERRIDE);
}
