/*
 * The aspace side: build a space that looks like the kernel child did
 * before its first op (its regions copied from the before snapshot, its
 * limits, layout and privileges), run the same ops, record the same things.
 *
 * Pre-existing regions are stand-ins: exact bounds, VM flags (from smaps'
 * VmFlags), file identity (a file_map stand-in per distinct path, device
 * and inode, fd -1) and name, but no pages. An anonymous-memory object
 * marked forked stands for the anon_vma chain a region with anonymous pages
 * had in the forked child, so that merges with it follow Linux's rules.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "internal.h"

#include "file/file.h"
#include "mm/mm.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define ALL_CAPS ((1ull << 41) - 1) /* CAP_CHOWN .. CAP_CHECKPOINT_RESTORE */
#define ORC_MAX_ACCESS (1ull << 30) /* READ/WRITE lengths the aspace side buffers */

/* A stand-in per distinct file. */
struct standin {
	struct file_map *f;
	unsigned major, minor;
	uint64_t ino;
};

struct setup {
	struct standin *files;
	size_t nfiles, capfiles;
};

static struct file_map *standin_for(struct as_machine *m, struct setup *s, const char *path, unsigned major,
				    unsigned minor, uint64_t ino)
{
	struct file_map *f;

	for (size_t i = 0; i < s->nfiles; i++)
		if (s->files[i].major == major && s->files[i].minor == minor && s->files[i].ino == ino &&
		    s->files[i].f->name && strcmp(s->files[i].f->name, path) == 0)
			return s->files[i].f;
	if (s->nfiles == s->capfiles) {
		size_t cap = s->capfiles ? s->capfiles * 2 : 16;
		struct standin *n = realloc(s->files, cap * sizeof(*n));

		if (!n)
			return NULL;
		s->files = n;
		s->capfiles = cap;
	}
	f = file_map_new_standin(m, path, major, minor, ino);
	if (!f)
		return NULL;
	s->files[s->nfiles++] = (struct standin){ .f = f, .major = major, .minor = minor, .ino = ino };
	return f;
}

/* Drop the creator's references: the regions hold their own. */
static void setup_done(struct setup *s)
{
	for (size_t i = 0; i < s->nfiles; i++)
		file_map_put(s->files[i].f);
	free(s->files);
	s->files = NULL;
	s->nfiles = 0;
}

/* The name column of a maps header line (NUL terminated into buf), "" when none. */
static void header_name(const struct orc_entry *e, char *buf, size_t len)
{
	const char *nl = memchr(e->text, '\n', e->len), *p = e->text;
	int field = 0;

	buf[0] = '\0';
	if (!nl)
		return;
	/* Skip five space-separated fields: range, perms, offset, device, inode. */
	while (p < nl && field < 5) {
		while (p < nl && *p != ' ')
			p++;
		while (p < nl && *p == ' ')
			p++;
		field++;
	}
	if (field == 5 && p < nl)
		snprintf(buf, len, "%.*s", (int)(nl - p), p);
}

/*
 * Check (commit false) or insert (commit true) one stand-in region. The
 * check pass sees every entry before any is inserted, so a bad block
 * leaves the space as it was; *prev_end keeps the entries in address
 * order without overlaps. [W] held.
 */
static int add_region(struct as_mm *mm, struct setup *s, const struct orc_entry *e, bool commit,
		      uint64_t *prev_end, char *err, size_t errlen)
{
	char perms[8], name[4096], unknown[128] = "";
	unsigned long long start, end, off, ino;
	unsigned major, minor;
	const char *vf;
	uint64_t flags, pages;
	struct vm_area *v;
	struct anon_obj *anon = NULL;
	struct file_map *file = NULL;
	uint32_t special = VMA_SPECIAL_NONE;

	if (sscanf(e->text, "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms, &off, &major, &minor,
		   &ino) != 7) {
		snprintf(err, errlen, "unparsable smaps header: %.80s", e->text);
		return -1;
	}
	if (start >= mm->task_size)
		return 0; /* [vsyscall]: the gate area, not a region */
	header_name(e, name, sizeof(name));
	vf = NULL;
	for (const char *p = e->text; p && p < e->text + e->len; p = memchr(p, '\n', (size_t)(e->text + e->len - p)), p = p ? p + 1 : NULL)
		if (strncmp(p, "VmFlags:", 8) == 0) {
			vf = p;
			break;
		}
	if (!vf) {
		snprintf(err, errlen, "no VmFlags for %llx-%llx", start, end);
		return -1;
	}
	flags = orc_vmflags_parse(vf, (size_t)(e->text + e->len - vf), unknown, sizeof(unknown));
	(void)unknown; /* flags aspace has no bit for: the region keeps the rest */
	if (end > mm->task_size || start >= end || (start | end) & (PAGE_SIZE - 1) ||
	    vma_find_intersection(&mm->tree, start, end) || (!commit && start < *prev_end)) {
		snprintf(err, errlen, "stand-in %llx-%llx out of bounds or overlapping", start, end);
		return -1;
	}
	if (!vma_rights_consistent(flags)) {
		snprintf(err, errlen, "stand-in %llx-%llx: VmFlags give a right without its may-bit (rd/mr, wr/mw, ex/me, sh/ms)",
			 start, end);
		return -1;
	}
	*prev_end = end;
	if (!commit)
		return 0;

	if (strcmp(name, "[vdso]") == 0)
		special = VMA_SPECIAL_VDSO;
	else if (strcmp(name, "[vvar]") == 0)
		special = VMA_SPECIAL_VVAR;
	else if (strcmp(name, "[vvar_vclock]") == 0)
		special = VMA_SPECIAL_VVAR_VCLOCK;
	else if (name[0] && name[0] != '[') {
		file = standin_for(mm->m, s, name, major, minor, ino);
		if (!file) {
			snprintf(err, errlen, "out of memory for a stand-in file");
			return -1;
		}
	}
	/* Anonymous pages in the child: its region had an anon_vma chain from the fork. */
	if (!special && orc_entry_kb(e, "Anonymous") > 0) {
		anon = slab_zalloc(machine_cache(mm->m, MC_ANON));
		if (!anon) {
			snprintf(err, errlen, "out of memory for an anon object");
			return -1;
		}
		atomic_init(&anon->refs, 1);
	}
	v = vma_alloc(mm);
	if (!v) {
		anon_obj_put(mm, anon);
		snprintf(err, errlen, "out of memory for a region");
		return -1;
	}
	v->start = start;
	v->end = end;
	v->flags = flags;
	v->special = special;
	v->file = file;
	file_map_get(file);
	v->anon = anon;
	v->anon_forked = anon != NULL;
	if (file)
		v->pgoff = off >> PAGE_SHIFT;
	else if (special)
		v->pgoff = 0;
	else
		v->pgoff = start >> PAGE_SHIFT;
	vma_tree_insert(&mm->tree, v);

	pages = (end - start) >> PAGE_SHIFT;
	mm_stat_account(mm, flags, (int64_t)pages);
	if (flags & VM_LOCKED)
		mm->locked_vm += pages;
	if (flags & VM_ACCOUNT) {
		mm->committed += pages;
		atomic_fetch_add(&mm->m->committed_pages, (int64_t)pages);
	}
	return 0;
}

int orc_space_standins(struct as_mm *mm, const char *smaps, char *err, size_t errlen)
{
	struct setup s = { 0 };
	struct orc_entry *ents = NULL;
	size_t nents = 0;
	int rc = 0;

	if (orc_smaps_split(smaps, &ents, &nents)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_rwlock_wrlock(&mm->mmap_lock);
	for (int commit = 0; commit < 2 && rc == 0; commit++) {
		uint64_t prev_end = 0;

		for (size_t i = 0; i < nents && rc == 0; i++)
			rc = add_region(mm, &s, &ents[i], commit, &prev_end, err, errlen);
	}
	pthread_rwlock_unlock(&mm->mmap_lock);
	setup_done(&s);
	free(ents);
	return rc ? -1 : 0;
}

/* Make mm look like the kernel child before its first op. */
static int setup_space(struct as_mm *mm, const struct orc_trace *k, char *err, size_t errlen)
{
	int rc;

	as_mm_set_caps(mm, ALL_CAPS);
	/* RLIMIT_STACK first is not needed: the tree is empty throughout, and
	   setting it re-picks mmap_base as exec would have. */
	for (int r = 0; r < 16 && r < RLIM_NLIMITS; r++) {
		rc = as_mm_setrlimit(mm, r, k->rlim[r][0], k->rlim[r][1]);
		if (rc) {
			snprintf(err, errlen, "as_mm_setrlimit(%d, %#" PRIx64 ", %#" PRIx64 "): %d", r,
				 k->rlim[r][0], k->rlim[r][1], rc);
			return -1;
		}
	}
	as_mm_set_caps(mm, k->unprivileged ? 0 : k->caps ? k->caps : ALL_CAPS);
	if (k->unprivileged)
		as_mm_set_ids(mm, 65534, 65534); /* the kernel child's setgid/setuid */
	/* The kernel child runs with THP off (PR_SET_THP_DISABLE): MADV_COLLAPSE sees it. */
	(void)as_syscall(mm, SYS_prctl, PR_SET_THP_DISABLE, 1, 0, 0, 0, 0);

	if (orc_space_standins(mm, k->before.smaps, err, errlen))
		return -1;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	mm->start_code = k->start_code;
	mm->end_code = k->end_code;
	mm->start_data = k->start_data;
	mm->end_data = k->end_data;
	mm->start_brk = k->start_brk;
	mm->brk = k->brk;
	mm->start_stack = k->start_stack;
	mm->arg_start = k->arg_start;
	mm->arg_end = k->arg_end;
	mm->env_start = k->env_start;
	mm->env_end = k->env_end;
	pthread_rwlock_unlock(&mm->mmap_lock);
	return 0;
}

/* Text written by fn(mm, stream), malloc'd; NULL on failure. */
static char *capture(struct as_mm *mm, int (*fn)(struct as_mm *, FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return NULL;
	rc = fn(mm, f);
	fclose(f);
	if (rc) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int check_space(struct as_mm *mm, char **note)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return 0;
	rc = as_mm_check(mm, f);
	fclose(f);
	if (rc) {
		*note = buf;
		return rc;
	}
	free(buf);
	return 0;
}

static const long syscall_of[ORC_OP_NR] = {
	[ORC_OP_MMAP] = SYS_mmap,       [ORC_OP_MUNMAP] = SYS_munmap,   [ORC_OP_MPROTECT] = SYS_mprotect,
	[ORC_OP_MREMAP] = SYS_mremap,   [ORC_OP_MADVISE] = SYS_madvise, [ORC_OP_MLOCK] = SYS_mlock,
	[ORC_OP_MLOCK2] = SYS_mlock2,   [ORC_OP_MUNLOCK] = SYS_munlock, [ORC_OP_MLOCKALL] = SYS_mlockall,
	[ORC_OP_MUNLOCKALL] = SYS_munlockall, [ORC_OP_MSYNC] = SYS_msync, [ORC_OP_MINCORE] = SYS_mincore,
	[ORC_OP_BRK] = SYS_brk,
};

static void note_fault(struct orc_rec *r, int rc, const struct as_fault *f)
{
	if (rc == -EFAULT) {
		r->signo = f->signo;
		r->code = f->code;
		r->fault_addr = f->addr;
	}
}

static void do_read(struct as_mm *mm, struct orc_rec *r, uint64_t addr, uint64_t len)
{
	struct as_fault f = { 0 };
	uint64_t hash = ORC_FNV_OFFSET;
	uint8_t *buf;
	int rc;

	if (len > ORC_MAX_ACCESS || !(buf = malloc(len ? len : 1))) {
		r->ret = -ENOMEM;
		r->note = strdup("READ too long for the aspace side's buffer");
		return;
	}
	rc = as_read(mm, addr, buf, len, &f);
	r->ret = rc;
	note_fault(r, rc, &f);
	if (rc == 0)
		r->nbytes = len;
	else if (rc == -EFAULT && f.addr >= addr && f.addr - addr <= len)
		r->nbytes = f.addr - addr;
	for (uint64_t i = 0; i < r->nbytes; i++)
		hash = (hash ^ buf[i]) * ORC_FNV_PRIME;
	r->hash = hash;
	r->ncopied = (uint32_t)(r->nbytes < ORC_BYTES_CAP ? r->nbytes : ORC_BYTES_CAP);
	if (r->ncopied) {
		r->bytes = malloc(r->ncopied);
		if (r->bytes)
			memcpy(r->bytes, buf, r->ncopied);
	}
	free(buf);
}

static void do_write(struct as_mm *mm, struct orc_rec *r, uint64_t addr, uint64_t len, uint8_t val)
{
	struct as_fault f = { 0 };
	uint8_t *buf;
	int rc;

	if (len > ORC_MAX_ACCESS || !(buf = malloc(len ? len : 1))) {
		r->ret = -ENOMEM;
		r->note = strdup("WRITE too long for the aspace side's buffer");
		return;
	}
	memset(buf, val, len);
	rc = as_write(mm, addr, buf, len, &f);
	r->ret = rc;
	note_fault(r, rc, &f);
	free(buf);
}

/*
 * aspace has no instruction-fetch entry point yet, so model x86's: no
 * region is SEGV_MAPERR; a region without VM_EXEC is SEGV_ACCERR, but if
 * it is accessible at all (rwx any) a not-present page is first faulted in
 * as for a read (x86's access_error treats a fetch like a read until the
 * page is present; the retried fetch then faults on protection); an
 * executable region faults the page in as a read would.
 */
static void do_exec(struct as_mm *mm, struct orc_rec *r, uint64_t addr)
{
	struct as_fault f = { 0 };
	struct vm_area *v;
	uint64_t flags = 0;
	uint8_t b = 0;
	int rc;

	pthread_rwlock_rdlock(&mm->mmap_lock);
	v = vma_lookup(&mm->tree, addr);
	if (v)
		flags = v->flags;
	pthread_rwlock_unlock(&mm->mmap_lock);
	/* No region: the fault decides (a growsdown region below grows first). */
	if (v && !(flags & VM_ACCESS_FLAGS)) {
		r->ret = -EFAULT;
		r->signo = SIGSEGV;
		r->code = SEGV_ACCERR;
		r->fault_addr = addr;
		return;
	}
	/*
	 * A fetch as the CPU makes it: a missing page faults in as for a read
	 * (x86's access_error ignores the fetch bit), then an NX entry is a
	 * protection fault that leaves the accessed bit as it was.
	 */
	rc = as_fetch(mm, addr, &b, 1, &f);
	r->ret = rc;
	note_fault(r, rc, &f);
	if (rc == 0 && b != 0xc3 && asprintf(&r->note, "EXEC of %#" PRIx64 ": holds %#x, not ret", addr, b) < 0)
		r->note = NULL;
}

static void run_op(struct as_mm *mm, const struct orc_op *op, struct orc_rec *r)
{
	const uint64_t *a = r->args;
	struct as_mm_counters c0, c1;

	as_mm_get_counters(mm, &c0);
	switch (op->kind) {
	case ORC_OP_READ:
		do_read(mm, r, a[0], a[1]);
		break;
	case ORC_OP_WRITE:
		do_write(mm, r, a[0], a[1], (uint8_t)a[2]);
		break;
	case ORC_OP_EXEC:
		do_exec(mm, r, a[0]);
		break;
	case ORC_OP_SETRLIMIT:
		r->ret = as_mm_setrlimit(mm, (int)a[0], a[1], a[2]);
		break;
	case ORC_OP_FTRUNCATE:
		r->ret = as_file_truncate(mm->m, (int)a[0], a[1]);
		break;
	default:
		r->ret = as_syscall(mm, syscall_of[op->kind], a[0], a[1], a[2], a[3], a[4], a[5]);
		break;
	}
	as_mm_get_counters(mm, &c1);
	r->minflt = (int64_t)(c1.min_flt - c0.min_flt);

	if (op->kind == ORC_OP_MINCORE && r->ret == 0) {
		uint64_t pages = (a[1] + PAGE_SIZE - 1) >> PAGE_SHIFT;
		uint32_t n = (uint32_t)(pages < ORC_VEC_CAP ? pages : ORC_VEC_CAP);
		struct as_fault f = { 0 };

		r->vec = malloc(n ? n : 1);
		if (r->vec) {
			int rc = as_read(mm, a[2], r->vec, n, &f);

			if (rc == 0)
				r->vec_len = n;
			else if (rc == -EFAULT && f.addr >= a[2] && f.addr - a[2] <= n)
				r->vec_len = (uint32_t)(f.addr - a[2]);
		}
	}
}

/* The processes of a sequence (ORC_OP_FORK/SWITCH/EXIT); procs[cur] is current. */
struct procs {
	struct as_mm *mm[ORC_MAX_PROCS]; /* NULL once exited */
	uint32_t n, cur;
};

/* FORK, SWITCH, EXIT: as the kernel child does them (kernel_child.c). */
static void run_proc_op(struct procs *p, const struct orc_op *op, struct orc_rec *r)
{
	uint64_t to = r->args[0];

	r->minflt = 0;
	if (op->kind == ORC_OP_FORK) {
		struct as_mm_counters c0, c1;
		struct as_mm *child = NULL;

		if (p->n == ORC_MAX_PROCS) {
			r->ret = -EAGAIN;
			return;
		}
		as_mm_get_counters(p->mm[p->cur], &c0);
		r->ret = as_mm_fork(p->mm[p->cur], &child);
		as_mm_get_counters(p->mm[p->cur], &c1);
		r->minflt = (int64_t)(c1.min_flt - c0.min_flt);
		if (r->ret == 0) {
			p->mm[p->n] = child;
			r->ret = p->n++;
			/*
			 * After a fork both kernel processes write-fault their
			 * harness stack (retouch_stack, 64 pages): that many new
			 * folios fill the lru_add batch, so the sequence's new
			 * pages are on the LRU by the next op. The stand-ins hold
			 * no pages: move aspace's batch instead.
			 */
			machine_lru_add_flush(child->m);
		}
		return;
	}
	if (to >= p->n || !p->mm[to] || (op->kind == ORC_OP_EXIT && to == p->cur)) {
		r->ret = -ESRCH;
		return;
	}
	r->ret = 0;
	if (op->kind == ORC_OP_EXIT) {
		as_mm_put(p->mm[p->cur]);
		p->mm[p->cur] = NULL;
	}
	p->cur = (uint32_t)to;
}

int orc_run_aspace(const struct orc_op *ops, size_t n, const struct orc_opts *o,
		   const struct orc_trace *k, struct orc_trace *t)
{
	struct procs procs = { .n = 1 };
	struct orc_opts defaults;
	struct as_machine_config cfg;
	struct as_machine_stats st;
	struct as_machine *m = NULL;
	struct as_mm *mm = NULL;
	struct orc_probe p;
	int64_t *results = NULL;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!o) {
		orc_opts_init(&defaults);
		o = &defaults;
	}
	if (orc_validate(ops, n, t->error, sizeof(t->error)))
		return -1;
	if (!k->before.smaps) {
		snprintf(t->error, sizeof(t->error), "no kernel before snapshot to start from");
		return -1;
	}
	t->rec = calloc(n ? n : 1, sizeof(*t->rec));
	results = calloc(n ? n : 1, sizeof(*results));
	if (!t->rec || !results) {
		snprintf(t->error, sizeof(t->error), "out of memory");
		free(results);
		return -1;
	}
	t->nalloc = n;
	t->unprivileged = k->unprivileged;
	memcpy(t->rlim, k->rlim, sizeof(t->rlim));

	orc_probe(&p);
	orc_machine_config(&p, o->ram_bytes, &cfg);
	rc = as_machine_new(&cfg, &m);
	if (rc) {
		snprintf(t->error, sizeof(t->error), "as_machine_new: %s", strerror(-rc));
		goto out;
	}
	rc = as_mm_new(m, &mm);
	if (rc) {
		snprintf(t->error, sizeof(t->error), "as_mm_new: %s", strerror(-rc));
		goto out;
	}
	procs.mm[0] = mm;
	if (setup_space(mm, k, t->error, sizeof(t->error)))
		goto out;
	if (check_space(mm, &t->before.note)) {
		snprintf(t->error, sizeof(t->error), "the copied space fails as_mm_check: %s", t->before.note);
		goto out;
	}
	t->before.maps = capture(mm, as_mm_write_maps);
	t->before.smaps = capture(mm, as_mm_write_smaps);

	for (size_t i = 0; i < n; i++) {
		struct orc_rec *r = &t->rec[i];

		orc_resolve_args(&ops[i], results, i, r->args);
		if (ops[i].kind == ORC_OP_FORK || ops[i].kind == ORC_OP_SWITCH || ops[i].kind == ORC_OP_EXIT) {
			run_proc_op(&procs, &ops[i], r);
			mm = procs.mm[procs.cur];
		} else {
			run_op(mm, &ops[i], r);
		}
		r->proc = procs.cur;
		results[i] = r->ret;
		r->maps = capture(mm, as_mm_write_maps);
		r->smaps = capture(mm, as_mm_write_smaps);
		if (!r->note)
			check_space(mm, &r->note);
		t->nops = i + 1;
	}

out:
	for (uint32_t i = 0; i < procs.n; i++)
		as_mm_put(procs.mm[i]);
	if (m) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		as_machine_drain(m);
		if (f && as_machine_check(m, f) != 0 && !t->error[0]) {
			fflush(f);
			snprintf(t->error, sizeof(t->error), "aspace machine check failed after the run: %s", buf);
		}
		if (f)
			fclose(f);
		free(buf);
		as_machine_get_stats(m, &st);
		if (st.free_frames + st.reserved_frames != st.total_frames && !t->error[0])
			snprintf(t->error, sizeof(t->error),
				 "aspace leaked frames: total %" PRIu64 " free %" PRIu64 " reserved %" PRIu64,
				 st.total_frames, st.free_frames, st.reserved_frames);
		as_machine_free(m);
	}
	free(results);
	return t->error[0] ? -1 : 0;
}
