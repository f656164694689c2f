/*
 * views — what the command shows of a space or a machine, each as text or
 * as a jansson object: maps, smaps, a page-table walk, counters, layout,
 * buddyinfo, invariant checks. Region records come from the library's own
 * smaps text, so they are exactly what /proc/PID/smaps says.
 */
#ifndef ASPACE_TOOL_VIEWS_H
#define ASPACE_TOOL_VIEWS_H

#include <aspace/aspace.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* One region, from an smaps entry. Sizes in bytes. */
struct region {
	uint64_t start, end, offset, inode;
	char perms[5];
	char dev[16];
	char name[256];
	uint64_t rss, pss, anon, locked, swap, referenced;
	uint64_t private_clean, private_dirty, shared_clean, shared_dirty;
	char vmflags[128];
	const char *kind;  /* code data heap stack anon file shared special */
};

/* Every region of the space, the gate area last. 0 or -errno. */
int regions_read(struct as_mm *mm, struct region **out, size_t *n);
json_t *region_json(const struct region *r, bool smaps);

/* Text to out, or (json non-NULL) a new object in *json and no text. */
void view_maps(struct as_mm *mm, FILE *out, json_t **json);
/* has_addr: only the region holding addr (a message when none does). */
void view_smaps(struct as_mm *mm, bool has_addr, uint64_t addr, FILE *out, json_t **json);
/* range: one line per page of [addr, addr + len); else the four levels of addr. */
void view_pagetable(struct as_mm *mm, uint64_t addr, bool range, uint64_t len, FILE *out, json_t **json);
void view_counters(struct as_mm *mm, FILE *out, json_t **json);
void view_layout(struct as_mm *mm, FILE *out, json_t **json);
void view_buddyinfo(struct as_machine *m, FILE *out, json_t **json);
json_t *machine_config_json(const struct as_machine_config *c);

/* "0x1234" strings: JSON numbers lose bits above 2^53 in most readers. */
json_t *json_hex(uint64_t v);
/* A JSON string of any bytes: invalid UTF-8 becomes U+FFFD, never a NULL. */
json_t *json_text(const char *s);

/* A hex dump like hexdump -C, repeated lines folded to "*". */
void hexdump(FILE *out, uint64_t addr, const uint8_t *buf, size_t len, const char *indent);

#endif
