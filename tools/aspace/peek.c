/* The page-table walk for `pagetable` views; see peek.h. */
#include "peek.h"

#include "../../src/mm/mm.h"

_Static_assert(PEEK_P == PTE_P && PEEK_RW == PTE_RW && PEEK_US == PTE_US && PEEK_A == PTE_A &&
		       PEEK_D == PTE_D && PEEK_NX == PTE_NX && PEEK_SPECIAL == PTE_SPECIAL,
	       "peek's bits are the library's");

static const char *page_kind(const struct as_machine *m, uint64_t pfn, const struct page *pg)
{
	if (pfn == m->zero_pfn)
		return "zero page";
	if (pg->flags & PG_ANON)
		return "anon";
	if (pg->flags & PG_SHMEM)
		return "shmem";
	if (pg->flags & PG_FILE)
		return "file";
	if (pg->flags & PG_PGTABLE)
		return "pgtable";
	return "?";
}

void peek_walk(struct as_mm *mm, uint64_t va, struct peek_walk *w)
{
	struct as_machine *m = mm->m;
	const pte_t *table;

	*w = (struct peek_walk){ .va = va, .kind = "" };
	if (va >= PT_USER_TOP)
		return;
	w->user = true;
	pthread_rwlock_rdlock(&mm->mmap_lock);
	pthread_mutex_lock(&mm->pt_lock);
	table = frame_to_host(m, mm->pt.root);
	for (int level = PT_LEVELS; level >= 1; level--) {
		unsigned idx = pt_index(va, level);
		pte_t e = __atomic_load_n(&table[idx], __ATOMIC_RELAXED);

		w->lv[w->nlevels++] = (struct peek_level){ .level = level, .index = idx, .entry = e };
		if (!pte_present(e))
			break;
		if (level == 1) {
			uint64_t pfn = pte_pfn(e);

			w->mapped = true;
			w->frame = pfn;
			if (pfn < m->nframes) {
				const struct page *pg = frame_page(m, (pfn_t)pfn);

				w->kind = page_kind(m, pfn, pg);
				w->refcount = atomic_load_explicit(&pg->refcount, memory_order_relaxed);
				w->mapcount = atomic_load_explicit(&pg->mapcount, memory_order_relaxed);
				w->exclusive = pg->flags & PG_ANON_EXCLUSIVE;
				w->dirty = pg->flags & PG_DIRTY;
				w->mlocked = pg->flags & PG_MLOCKED;
			}
			break;
		}
		table = frame_to_host(m, pte_pfn(e));
	}
	pthread_mutex_unlock(&mm->pt_lock);
	pthread_rwlock_unlock(&mm->mmap_lock);
}
