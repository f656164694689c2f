/*
 * The object caches every machine creates (see machine.h): their sizes come
 * from here, where the types are known.
 */
#include "mm.h"

#include "../file/file.h"

const struct machine_cache_spec machine_cache_specs[MC_NR] = {
	[MC_MM] = { "mm_struct", sizeof(struct as_mm), _Alignof(struct as_mm) },
	[MC_VMA] = { "vm_area_struct", sizeof(struct vm_area), _Alignof(struct vm_area) },
	[MC_ANON] = { "anon_vma", 64, 8 },
	[MC_FILE] = { "filp", sizeof(struct file_map), _Alignof(struct file_map) },
	[MC_FCACHE] = { "inode_cache", sizeof(struct file_cache), _Alignof(struct file_cache) },
	[MC_FNODE] = { "radix_tree_node", FILE_NODE_SIZE, 8 },
};
