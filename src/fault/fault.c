/* Placeholder until the fault handler lands: population and TLB flushes are no-ops. */
#include "../mm/mm.h"

void mm_flush_tlb_range(struct as_mm *mm, uint64_t start, uint64_t end)
{
	(void)mm;
	(void)start;
	(void)end;
}

void mm_populate(struct as_mm *mm, uint64_t start, uint64_t len)
{
	(void)mm;
	(void)start;
	(void)len;
}
