/*
 * file — files mapped into spaces: the open-file object regions point at,
 * and (with the file issue) the page cache, shmem and writeback.
 *
 * Owns: struct file_map, one per opened file a region maps (Linux's struct
 * file): the host descriptor aspace keeps, the identity shown in
 * /proc/PID/maps (device, inode, path) and a reference count held by every
 * region that maps it.
 *
 * A file_map may also stand for a file aspace cannot read (fd -1): regions
 * copied from a real process's maps for side-by-side comparisons keep the
 * name and identity only, and faults on them get SIGBUS.
 *
 * Locking: refs is atomic; the other fields are immutable after creation.
 */
#ifndef ASPACE_FILE_H
#define ASPACE_FILE_H

#include "../env/env.h"

#include <stdatomic.h>
#include <stdint.h>

struct file_map {
	_Atomic int32_t refs;      /* [A] regions mapping it, plus the creator's */
	int fd;                    /* [I] aspace's own host descriptor, or -1 */
	uint32_t dev_major, dev_minor; /* [I] */
	uint64_t ino;              /* [I] */
	uint64_t size;             /* [I] for stand-ins; live files ask the host */
	char *path;                /* [I] as /proc/PID/maps prints it */
};

/* A stand-in file with the given identity (fd -1); NULL on failure. */
struct file_map *file_map_new_standin(const char *path, uint32_t dev_major, uint32_t dev_minor,
				      uint64_t ino) AS_INTERNAL;
void file_map_get(struct file_map *f) AS_INTERNAL;
void file_map_put(struct file_map *f) AS_INTERNAL;

#endif
