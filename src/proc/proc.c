/*
 * proc — /proc/PID/maps and /proc/PID/smaps of a space, byte for byte as
 * Linux 6.x prints them (fs/proc/task_mmu.c's formats).
 *
 * Owns nothing; reads the region tree and page tables under the mmap lock
 * (read mode) and the page-table lock.
 */
#include "../file/file.h"
#include "../mm/mm.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* The x86-64 vsyscall page: the gate area every 64-bit process shows last. */
#define VSYSCALL_START 0xffffffffff600000ull

/* Width the name column is padded to (25 + 6 * sizeof(void *) - 1). */
#define MAPS_NAME_COLUMN 72

struct map_line {
	uint64_t start, end, flags, pgoff;
	unsigned dev_major, dev_minor;
	uint64_t ino;
	const char *name;
};

/* The name Linux shows for a region: file, special mapping, heap, stack. */
static const char *vma_name(const struct as_mm *mm, const struct vm_area *v)
{
	switch (v->special) {
	case VMA_SPECIAL_VVAR:
		return "[vvar]";
	case VMA_SPECIAL_VVAR_VCLOCK:
		return "[vvar_vclock]";
	case VMA_SPECIAL_VDSO:
		return "[vdso]";
	default:
		break;
	}
	if (v->file)
		return v->file->path;
	if (v->start <= mm->brk && v->end >= mm->start_brk)
		return "[heap]";
	if (v->start <= mm->start_stack && v->end >= mm->start_stack)
		return "[stack]";
	return NULL;
}

static void write_map_line(FILE *out, const struct map_line *l)
{
	int n = fprintf(out, "%08" PRIx64 "-%08" PRIx64 " %c%c%c%c %08" PRIx64 " %02x:%02x %" PRIu64 " ",
			l->start, l->end, l->flags & VM_READ ? 'r' : '-', l->flags & VM_WRITE ? 'w' : '-',
			l->flags & VM_EXEC ? 'x' : '-', l->flags & VM_MAYSHARE ? 's' : 'p', l->pgoff,
			l->dev_major, l->dev_minor, l->ino);
	if (l->name) {
		if (n < MAPS_NAME_COLUMN)
			fprintf(out, "%*s", MAPS_NAME_COLUMN - n, "");
		fprintf(out, " %s", l->name);
	}
	fputc('\n', out);
}

static void vma_map_line(const struct as_mm *mm, const struct vm_area *v, struct map_line *l)
{
	*l = (struct map_line){
		.start = v->start,
		.end = v->end,
		.flags = v->flags,
		.pgoff = v->file ? v->pgoff << PAGE_SHIFT : 0,
		.dev_major = v->file ? v->file->dev_major : 0,
		.dev_minor = v->file ? v->file->dev_minor : 0,
		.ino = v->file ? v->file->ino : 0,
		.name = vma_name(mm, v),
	};
}

static const struct map_line gate_line = {
	.start = VSYSCALL_START,
	.end = VSYSCALL_START + PAGE_SIZE,
	.flags = VM_EXEC,
	.name = "[vsyscall]",
};

int as_mm_write_maps(struct as_mm *mm, FILE *out)
{
	struct map_line l;

	if (!mm || !out)
		return -EINVAL;
	pthread_rwlock_rdlock(&mm->mmap_lock);
	vma_for_each(&mm->tree, v) {
		vma_map_line(mm, v, &l);
		write_map_line(out, &l);
	}
	pthread_rwlock_unlock(&mm->mmap_lock);
	write_map_line(out, &gate_line);
	return ferror(out) ? -EIO : 0;
}

/* ---- smaps ---- */

#define PSS_SHIFT 12

/* What smaps adds up over one region (Linux's mem_size_stats). */
struct smaps_stats {
	uint64_t resident, shared_clean, shared_dirty, private_clean, private_dirty;
	uint64_t referenced, anonymous, lazyfree, swap;
	uint64_t pss, pss_dirty, pss_locked; /* << PSS_SHIFT */
	const struct vm_area *v;
	struct as_machine *m;
};

static void smaps_accumulate(struct smaps_stats *s, uint64_t pss, bool dirty, bool locked,
			     bool private)
{
	s->pss += pss;
	if (locked)
		s->pss_locked += pss;
	if (dirty) {
		s->pss_dirty += pss;
		if (private)
			s->private_dirty += PAGE_SIZE;
		else
			s->shared_dirty += PAGE_SIZE;
	} else if (private) {
		s->private_clean += PAGE_SIZE;
	} else {
		s->shared_clean += PAGE_SIZE;
	}
}

static int smaps_pte(void *ctx, uint64_t va, pte_t *ptep)
{
	struct smaps_stats *s = ctx;
	pte_t e = *ptep;
	struct page *pg;
	bool dirty, locked = s->v->flags & VM_LOCKED;
	int32_t mapcount;

	/* The zero page and other special mappings have no page to count. */
	if (!pte_present(e) || (e & PTE_SPECIAL))
		return 0;
	pg = frame_page(s->m, pte_pfn(e));
	dirty = (e & PTE_D) || (pg->flags & PG_DIRTY);
	if (pg->flags & PG_ANON) {
		s->anonymous += PAGE_SIZE;
		if (!(pg->flags & PG_SWAPBACKED) && !dirty)
			s->lazyfree += PAGE_SIZE;
	}
	s->resident += PAGE_SIZE;
	if ((e & PTE_A) || (pg->flags & PG_REFERENCED))
		s->referenced += PAGE_SIZE;
	mapcount = atomic_load_explicit(&pg->mapcount, memory_order_relaxed);
	if (atomic_load_explicit(&pg->refcount, memory_order_relaxed) == 1 || mapcount < 2) {
		smaps_accumulate(s, PAGE_SIZE << PSS_SHIFT, dirty, locked, true);
		return 0;
	}
	smaps_accumulate(s, (PAGE_SIZE << PSS_SHIFT) / (uint64_t)mapcount, dirty, locked, false);
	return 0;
}

static void put_kb(FILE *out, const char *label, uint64_t bytes)
{
	fprintf(out, "%-16s%8" PRIu64 " kB\n", label, bytes >> 10);
}

/* VmFlags mnemonics by bit number, as Linux prints them (bit order). */
static const char *const vmflag_names[64] = {
	[0] = "rd",  [1] = "wr",  [2] = "ex",  [3] = "sh",  [4] = "mr",  [5] = "mw",
	[6] = "me",  [7] = "ms",  [8] = "gd",  [9] = "um",  [10] = "pf", [12] = "uw",
	[13] = "lo", [14] = "io", [15] = "sr", [16] = "rr", [17] = "dc", [18] = "de",
	[19] = "lf", [20] = "ac", [21] = "nr", [22] = "ht", [23] = "sf", [24] = "ar",
	[25] = "wf", [26] = "dd", [27] = "sd", [28] = "mm", [29] = "hg", [30] = "nh",
	[31] = "mg",
};

static void write_smaps_entry(FILE *out, const struct map_line *l, const struct smaps_stats *s)
{
	write_map_line(out, l);
	put_kb(out, "Size:", l->end - l->start);
	put_kb(out, "KernelPageSize:", PAGE_SIZE);
	put_kb(out, "MMUPageSize:", PAGE_SIZE);
	put_kb(out, "Rss:", s->resident);
	put_kb(out, "Pss:", s->pss >> PSS_SHIFT);
	put_kb(out, "Pss_Dirty:", s->pss_dirty >> PSS_SHIFT);
	put_kb(out, "Shared_Clean:", s->shared_clean);
	put_kb(out, "Shared_Dirty:", s->shared_dirty);
	put_kb(out, "Private_Clean:", s->private_clean);
	put_kb(out, "Private_Dirty:", s->private_dirty);
	put_kb(out, "Referenced:", s->referenced);
	put_kb(out, "Anonymous:", s->anonymous);
	put_kb(out, "KSM:", 0);
	put_kb(out, "LazyFree:", s->lazyfree);
	put_kb(out, "AnonHugePages:", 0);
	put_kb(out, "ShmemPmdMapped:", 0);
	put_kb(out, "FilePmdMapped:", 0);
	put_kb(out, "Shared_Hugetlb:", 0);
	put_kb(out, "Private_Hugetlb:", 0);
	put_kb(out, "Swap:", s->swap);
	put_kb(out, "SwapPss:", 0);
	put_kb(out, "Locked:", s->pss_locked >> PSS_SHIFT);
	fprintf(out, "%-16s%8d\n", "THPeligible:", 0);
	fputs("VmFlags: ", out);
	for (int bit = 0; bit < 64; bit++)
		if ((l->flags & (1ull << bit)) && vmflag_names[bit])
			fprintf(out, "%s ", vmflag_names[bit]);
	fputc('\n', out);
}

static void write_smaps_region(struct as_mm *mm, const struct vm_area *v, FILE *out)
{
	struct smaps_stats s = { .v = v, .m = mm->m };
	struct map_line l;

	pthread_mutex_lock(&mm->pt_lock);
	pgtable_for_each(&mm->pt, v->start, v->end, smaps_pte, &s);
	pthread_mutex_unlock(&mm->pt_lock);
	vma_map_line(mm, v, &l);
	write_smaps_entry(out, &l, &s);
}

int as_mm_write_smaps(struct as_mm *mm, FILE *out)
{
	if (!mm || !out)
		return -EINVAL;
	pthread_rwlock_rdlock(&mm->mmap_lock);
	vma_for_each(&mm->tree, v)
		write_smaps_region(mm, v, out);
	pthread_rwlock_unlock(&mm->mmap_lock);
	write_smaps_entry(out, &gate_line, &(struct smaps_stats){ 0 });
	return ferror(out) ? -EIO : 0;
}
