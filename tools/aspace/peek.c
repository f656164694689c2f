/* The page-table walk for `pagetable` views; see peek.h. */
#include "peek.h"

#include <string.h>

void peek_walk(struct as_mm *mm, uint64_t va, struct peek_walk *w)
{
	struct as_pte_info pi;

	*w = (struct peek_walk){ .va = va, .kind = "" };
	if (as_mm_walk(mm, va, &pi) != 0)
		return; /* above user space: no user page tables */
	w->user = true;
	w->nlevels = pi.levels;
	for (int i = 0; i < pi.levels; i++) {
		int level = 4 - i;

		w->lv[i] = (struct peek_level){ .level = level,
						.index = (unsigned)(va >> (12 + 9 * (level - 1))) & 511,
						.entry = pi.entry[i] };
	}
	if (pi.levels < 4)
		return;
	w->guard = strcmp(pi.kind, "guard") == 0;
	if (!pi.present)
		return;
	w->mapped = true;
	w->special = pi.special;
	w->frame = pi.frame;
	w->kind = strcmp(pi.kind, "zero") == 0 ? "zero page" : pi.kind;
	w->refcount = pi.refcount;
	w->mapcount = pi.mapcount;
	w->exclusive = pi.anon_exclusive;
	w->mlocked = pi.mlocked;
}
