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
#include <stdlib.h>
#include <string.h>

/* The x86-64 vsyscall page: the gate area every 64-bit process shows last. */
#define VSYSCALL_START 0xffffffffff600000ull

/* Width the name column is padded to (25 + 6 * sizeof(void *) - 1). */
#define MAPS_NAME_COLUMN 72

/* Room for a file's path as maps prints it (PATH_MAX, newlines escaped). */
#define NAME_MAX_LEN 8192

struct map_line {
	uint64_t start, end, flags, pgoff;
	unsigned dev_major, dev_minor;
	uint64_t ino;
	const char *name;
	uint64_t page_size; /* KernelPageSize/MMUPageSize: a hugetlb region's huge page size; 0: 4 KiB */
};

/* The name Linux shows for a region: file, special mapping, heap, stack. */
static const char *vma_name(const struct as_mm *mm, const struct vm_area *v, char *buf, size_t len)
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
		return file_map_name(v->file, buf, len);
	if (v->start < mm->brk && v->end > mm->start_brk)
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

/* buf holds the name of a file region (NAME_MAX_LEN bytes). */
static void vma_map_line(const struct as_mm *mm, const struct vm_area *v, struct map_line *l,
			 char *buf)
{
	*l = (struct map_line){
		.start = v->start,
		.end = v->end,
		.flags = v->flags,
		.pgoff = v->file ? v->pgoff << PAGE_SHIFT : 0,
		.dev_major = v->file ? v->file->dev_major : 0,
		.dev_minor = v->file ? v->file->dev_minor : 0,
		.ino = v->file ? v->file->ino : 0,
		.name = vma_name(mm, v, buf, NAME_MAX_LEN),
		.page_size = hugetlb_vma_size(v),
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
	char name[NAME_MAX_LEN];

	if (!mm || !out)
		return -EINVAL;
	pthread_rwlock_rdlock(&mm->mmap_lock);
	vma_for_each(&mm->tree, v) {
		vma_map_line(mm, v, &l, name);
		write_map_line(out, &l);
	}
	pthread_rwlock_unlock(&mm->mmap_lock);
	write_map_line(out, &gate_line);
	return ferror(out) ? -EIO : 0;
}

/* ---- page-table walks ---- */

static const char *frame_kind(const struct page *pg)
{
	if (pg->flags & PG_ANON)
		return "anon";
	if (pg->flags & PG_SHMEM)
		return "shmem";
	if (pg->flags & PG_FILE)
		return "file";
	return "none";
}

int as_mm_walk(struct as_mm *mm, uint64_t va, struct as_pte_info *out)
{
	const pte_t *table;
	pte_t e = 0;

	if (!mm || !out)
		return -EINVAL;
	*out = (struct as_pte_info){ .va = va, .kind = "none" };
	if (va >= PT_USER_TOP)
		return -EINVAL;
	pthread_rwlock_rdlock(&mm->mmap_lock);
	pthread_mutex_lock(&mm->pt_lock);
	table = frame_to_host(mm->m, mm->pt.root);
	for (int level = PT_LEVELS; level >= 1; level--) {
		out->levels++;
		e = __atomic_load_n(&table[pt_index(va, level)], __ATOMIC_ACQUIRE);
		out->entry[PT_LEVELS - level] = e;
		if (level == 1 || !pte_present(e))
			break;
		table = frame_to_host(mm->m, pte_pfn(e));
	}
	if (out->levels == PT_LEVELS && e) {
		out->present = pte_present(e);
		out->writable = !!(e & PTE_RW);
		out->user = !!(e & PTE_US);
		out->accessed = !!(e & PTE_A);
		out->dirty = !!(e & PTE_D);
		out->nx = !!(e & PTE_NX);
		out->special = !!(e & PTE_SPECIAL);
		if (e == PTE_MARKER_GUARD) {
			out->kind = "guard";
		} else if (out->present) {
			const struct page *pg = frame_page(mm->m, pte_pfn(e));

			out->frame = pte_pfn(e);
			out->refcount = atomic_load(&pg->refcount);
			out->mapcount = atomic_load(&pg->mapcount);
			out->anon_exclusive = !!(pg->flags & PG_ANON_EXCLUSIVE);
			out->mlocked = !!(pg->flags & PG_MLOCKED);
			out->kind = out->special ? "zero" : frame_kind(pg);
		}
	}
	pthread_mutex_unlock(&mm->pt_lock);
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
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
	/* Pages of host files, whose dirtiness the host knows (resolved after the walk). */
	struct host_page *host;
	size_t nr_host, cap_host;
};

/* A mapped page of a host file waiting for the host's dirty flag. */
struct host_page {
	void *slot;
	uint64_t pss;
	bool fallback_dirty, private;
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
	bool dirty, private, locked = s->v->flags & VM_LOCKED;
	int32_t mapcount;
	uint64_t pss;

	/* The zero page and other special mappings have no page to count. */
	if (!pte_present(e) || (e & PTE_SPECIAL))
		return 0;
	pg = frame_page(s->m, pte_pfn(e));
	dirty = (e & PTE_D) || (pg->flags & PG_DIRTY) || file_page_dirty(pg);
	if (pg->flags & PG_ANON) {
		s->anonymous += PAGE_SIZE;
		if (!(pg->flags & PG_SWAPBACKED) && !dirty)
			s->lazyfree += PAGE_SIZE;
	}
	s->resident += PAGE_SIZE;
	if ((e & PTE_A) || (pg->flags & PG_REFERENCED))
		s->referenced += PAGE_SIZE;
	mapcount = atomic_load_explicit(&pg->mapcount, memory_order_relaxed);
	private = atomic_load_explicit(&pg->refcount, memory_order_relaxed) == 1 || mapcount < 2;
	pss = private ? PAGE_SIZE << PSS_SHIFT : (PAGE_SIZE << PSS_SHIFT) / (uint64_t)mapcount;
	if ((pg->flags & PG_HOSTMAP) && s->nr_host < s->cap_host) {
		/* The host's folio is dirty exactly when Linux's would be (writes, writeback). */
		s->host[s->nr_host++] = (struct host_page){
			.slot = frame_to_host(s->m, pte_pfn(e)),
			.pss = pss,
			.fallback_dirty = dirty,
			.private = private,
		};
		return 0;
	}
	smaps_accumulate(s, pss, dirty, locked, private);
	return 0;
}

/* Account the deferred host file pages with the host's dirty flags (or ours, if it won't tell). */
static void smaps_resolve_host(struct smaps_stats *s)
{
	bool locked = s->v->flags & VM_LOCKED;
	unsigned *flags;
	void **va;
	bool known;

	if (!s->nr_host)
		return;
	flags = calloc(s->nr_host, sizeof(*flags));
	va = calloc(s->nr_host, sizeof(*va));
	for (size_t i = 0; va && i < s->nr_host; i++)
		va[i] = s->host[i].slot;
	known = flags && va && env_host_page_flags(va, s->nr_host, flags) == 0;
	for (size_t i = 0; i < s->nr_host; i++) {
		const struct host_page *h = &s->host[i];
		bool dirty = known && (flags[i] & ENV_HPF_PRESENT) ? (flags[i] & ENV_HPF_DIRTY) != 0
								  : h->fallback_dirty;

		smaps_accumulate(s, h->pss, dirty, locked, h->private);
	}
	free(flags);
	free(va);
}

static void put_kb(FILE *out, const char *label, uint64_t bytes)
{
	fprintf(out, "%-16s%8" PRIu64 " kB\n", label, bytes >> 10);
}

/*
 * VmFlags mnemonics by bit number, as Linux prints them (bit order). This
 * kernel has no CONFIG_MEM_SOFT_DIRTY, so VM_SOFTDIRTY (27) has none.
 */
static const char *const vmflag_names[64] = {
	[0] = "rd",  [1] = "wr",  [2] = "ex",  [3] = "sh",  [4] = "mr",  [5] = "mw",
	[6] = "me",  [7] = "ms",  [8] = "gd",  [9] = "um",  [10] = "pf", [11] = "gu", [12] = "uw",
	[13] = "lo", [14] = "io", [15] = "sr", [16] = "rr", [17] = "dc", [18] = "de",
	[19] = "lf", [20] = "ac", [21] = "nr", [22] = "ht", [23] = "sf", [24] = "ar",
	[25] = "wf", [26] = "dd", [28] = "mm", [29] = "hg", [30] = "nh", [31] = "mg",
	[38] = "ui", [40] = "dp", [42] = "sl",
};

static void write_smaps_entry(FILE *out, const struct map_line *l, const struct smaps_stats *s)
{
	write_map_line(out, l);
	put_kb(out, "Size:", l->end - l->start);
	put_kb(out, "KernelPageSize:", l->page_size ? l->page_size : PAGE_SIZE);
	put_kb(out, "MMUPageSize:", l->page_size ? l->page_size : PAGE_SIZE);
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
	char name[NAME_MAX_LEN];

	if (v->file && v->file->cache && v->file->cache->host) {
		s.cap_host = (v->end - v->start) >> PAGE_SHIFT;
		s.host = malloc(s.cap_host * sizeof(*s.host));
		if (!s.host)
			s.cap_host = 0; /* then our own dirty bits stand in for the host's */
	}
	pthread_mutex_lock(&mm->pt_lock);
	pgtable_for_each(&mm->pt, v->start, v->end, smaps_pte, &s);
	pthread_mutex_unlock(&mm->pt_lock);
	smaps_resolve_host(&s);
	free(s.host);
	vma_map_line(mm, v, &l, name);
	write_smaps_entry(out, &l, &s);
}

int as_mm_write_smaps(struct as_mm *mm, FILE *out)
{
	if (!mm || !out)
		return -EINVAL;
	file_sync_mm_unlocked(mm);
	pthread_rwlock_rdlock(&mm->mmap_lock);
	vma_for_each(&mm->tree, v)
		write_smaps_region(mm, v, out);
	pthread_rwlock_unlock(&mm->mmap_lock);
	write_smaps_entry(out, &gate_line, &(struct smaps_stats){ 0 });
	return ferror(out) ? -EIO : 0;
}
