/* file_map objects: the identity and host descriptor of a mapped file. See file.h. */
#include "file.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct file_map *file_map_new_standin(const char *path, uint32_t dev_major, uint32_t dev_minor,
				      uint64_t ino)
{
	struct file_map *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->path = strdup(path);
	if (!f->path) {
		free(f);
		return NULL;
	}
	atomic_init(&f->refs, 1);
	f->fd = -1;
	f->dev_major = dev_major;
	f->dev_minor = dev_minor;
	f->ino = ino;
	return f;
}

void file_map_get(struct file_map *f)
{
	if (f)
		atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void file_map_put(struct file_map *f)
{
	if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}
