/*
 * exec: replace the image of a space with a program, as Linux's execve
 * (fs/exec.c) and its ELF and script loaders (fs/binfmt_elf.c,
 * fs/binfmt_script.c) do on x86-64 with address randomization off.
 * docs/EXEC.md tells the story and lists what differs from Linux.
 *
 * An exec runs in two halves around Linux's point of no return:
 *
 *   prepare (nothing in the space changes; an error returns at once):
 *     open the file (open_exec's checks), count argv/envp against the
 *     stack limit, copy the strings into a host copy of the new stack's
 *     top (struct exec_args, Linux's bprm->p), then find the loader:
 *     "#!" scripts push their interpreter and start over with it (at most
 *     5 rewrites), ELF files are checked and their program headers, their
 *     interpreter and its headers read;
 *
 *   commit (after the point of no return; an error empties the space,
 *   where Linux would kill the task with SIGSEGV):
 *     tear the old image down and pick the layout from RLIMIT_STACK,
 *     create the stack region, map the PT_LOAD segments and their bss,
 *     the interpreter, the vDSO block, then write the strings, the
 *     auxiliary vector and argc/argv/envp onto the stack.
 *
 * Mappings go through the ordinary mmap path (sys_mmap with the host
 * descriptor), so placement, merging, accounting and /proc views are
 * those of any other mapping: the first segment of a relocatable image is
 * mapped with the size of the whole image and the excess unmapped, which
 * is what decides where the image lands top-down; a bss is private
 * anonymous memory (Linux's vm_brk_flags makes the same region); the
 * partial page at the end of a segment's file data is zeroed through a
 * user write (padzero), which turns it into an anonymous copy.
 *
 * Locking: the entry point takes no lock for its whole run; each step
 * takes the mmap lock as the system call it stands for does. The space
 * must have no other user (-EBUSY), so only views (maps, smaps) can look
 * at it meanwhile, and they may see the image half built, as /proc shows
 * a process in the middle of execve.
 */
#include "mm.h"
#include <aspace/mman.h>

#include "../sys/sys.h"

#include <aspace/aspace.h>

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

#define BINPRM_BUF_SIZE 256              /* bytes a loader sees of the file's start */
#define MAX_ARG_STRLEN (32 * PAGE_SIZE)  /* one argument or environment string, with its NUL */
#define MAX_ARG_STRINGS 0x7fffffffull
#define ARG_MAX_FLOOR (32 * PAGE_SIZE)   /* ARG_MAX: the argument space never shrinks below */
#define STK_LIM (8ull << 20)             /* _STK_LIM */
#define STACK_EXPAND (128ull << 10)      /* setup_arg_pages grows the stack by this much */
#define ELF_PHDRS_MAX 65536              /* bytes of program headers load_elf_phdrs accepts */
#define INTERP_PATH_MAX 4096             /* PATH_MAX */
#define MAX_REWRITES 5                   /* exec_binprm: loader restarts before -ELOOP */

#define PAGE_START(x) ((x) & PAGE_MASK)
#define PAGE_OFF(x) ((x) & ~PAGE_MASK)

/* arch_stack_align / STACK_ROUND: x86-64 keeps the stack 16-byte aligned. */
#define STACK_ALIGN 16ull

enum exstack { EXSTACK_DEFAULT, EXSTACK_DISABLE_X, EXSTACK_ENABLE_X };

/*
 * The strings at the top of the new stack (Linux's bprm->p and the pages
 * it fills): a host copy of [top - cap, top), filled downwards from top - 8.
 */
struct exec_args {
	char *buf;
	uint64_t top, cap;
	uint64_t p;           /* lowest byte in use */
	uint64_t argmin;      /* p may not go lower: -E2BIG */
	uint64_t rlim_stack;  /* RLIMIT_STACK at exec (bprm->rlim_stack) */
	uint64_t argc, envc;
	uint64_t execfn;      /* the copy of the file name: AT_EXECFN */
};

/* An ELF file being loaded: the program or its interpreter. */
struct exec_elf {
	int fd;
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
};

/* One exec from start to end (Linux's linux_binprm and load_elf_binary's locals). */
struct exec_ctx {
	struct as_mm *mm;
	const char *filename;        /* as the caller named it */
	char *interp_name;           /* the file being loaded now (bprm->interp), owned */
	int fd;                      /* ... and its descriptor */
	unsigned char buf[BINPRM_BUF_SIZE];
	struct exec_args a;
	struct exec_elf prog, interp;
	bool has_interp;
	enum exstack exstack;
	struct as_exec_place place;  /* as_mm_exec_at: where the images go (0: exec's choice) */

	/* What loading produced. */
	uint64_t load_bias, e_entry, elf_entry, phdr_addr, interp_base, vdso_base;
	uint64_t start_code, end_code, start_data, end_data, elf_brk;
	uint64_t arg_start, arg_end, env_start, env_end, sp;
};

static bool bad_addr(const struct exec_ctx *x, uint64_t a)
{
	return a >= x->mm->task_size;
}

/* A value that is a -errno in disguise (IS_ERR_VALUE). */
static bool is_err_value(uint64_t v)
{
	return v >= (uint64_t)-4095;
}

/* -errno for an address that is unusable: its error, or -EINVAL. */
static int bad_addr_error(uint64_t v)
{
	return is_err_value(v) ? (int)(int64_t)v : -EINVAL;
}

/* ---- Reading files ---- */

/* Linux's elf_read: exactly len bytes at off, -EIO when the file is shorter. */
static int read_exact(int fd, void *buf, size_t len, uint64_t off)
{
	int64_t n = env_file_read(fd, buf, len, off);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

/* prepare_binprm: the file's first bytes, zero-padded when it is shorter. */
static int read_head(struct exec_ctx *x)
{
	int64_t n;

	memset(x->buf, 0, sizeof(x->buf));
	n = env_file_read(x->fd, x->buf, sizeof(x->buf), 0);
	return n < 0 ? (int)n : 0;
}

/*
 * load_elf_phdrs: the program headers of an ELF file whose header was
 * checked. 0, or nonzero when they can't be had (the caller picks the errno).
 */
static int read_phdrs(struct exec_elf *e)
{
	uint64_t size = (uint64_t)e->eh.e_phnum * sizeof(Elf64_Phdr);

	if (e->eh.e_phentsize != sizeof(Elf64_Phdr))
		return -ENOEXEC;
	if (size == 0 || size > ELF_PHDRS_MAX)
		return -ENOEXEC;
	e->ph = malloc(size);
	if (!e->ph)
		return -ENOMEM;
	return read_exact(e->fd, e->ph, size, e->eh.e_phoff);
}

/* ---- The argument strings (do_execveat_common, copy_strings) ---- */

static char *args_at(struct exec_args *a, uint64_t va)
{
	return a->buf + (va - (a->top - a->cap));
}

/*
 * Copy one string below p (copy_string_kernel / copy_strings): -E2BIG
 * when it is longer than MAX_ARG_STRLEN, when the strings pass argmin, or
 * when the stack pages they need would pass RLIMIT_STACK (get_arg_page
 * growing the one-page stack region).
 */
static int args_push(struct exec_args *a, const char *s)
{
	size_t len = strnlen(s, MAX_ARG_STRLEN) + 1;
	uint64_t p;

	if (len > MAX_ARG_STRLEN || a->p - a->argmin < len)
		return -E2BIG;
	p = a->p - len;
	if (PAGE_START(p) < a->top - PAGE_SIZE && a->top - PAGE_START(p) > a->rlim_stack)
		return -E2BIG;
	memcpy(args_at(a, p), s, len - 1);
	args_at(a, p)[len - 1] = '\0';
	a->p = p;
	return 0;
}

/* remove_arg_zero: forget argv[0], the lowest string. */
static void args_remove_zero(struct exec_args *a)
{
	if (!a->argc)
		return;
	a->p += strlen(args_at(a, a->p)) + 1;
	a->argc--;
}

static int count_strings(char *const v[], uint64_t *out)
{
	uint64_t n = 0;

	if (v)
		while (v[n])
			if (++n >= MAX_ARG_STRINGS)
				return -E2BIG;
	*out = n;
	return 0;
}

/*
 * bprm_stack_limits and the copies: the file name (AT_EXECFN), the
 * environment, then the arguments, each list last string first so that
 * argv[0] ends lowest. An empty argv gets "" as argv[0], as since Linux 5.18.
 */
static int args_copy(struct exec_ctx *x, char *const argv[], char *const envp[])
{
	struct exec_args *a = &x->a;
	uint64_t limit, ptr_size;
	int rc;

	rc = count_strings(argv, &a->argc);
	if (!rc)
		rc = count_strings(envp, &a->envc);
	if (rc)
		return rc;
	a->rlim_stack = mm_rlimit(x->mm, RLIMIT_STACK);
	limit = STK_LIM / 4 * 3;
	if (a->rlim_stack / 4 < limit)
		limit = a->rlim_stack / 4;
	if (limit < ARG_MAX_FLOOR)
		limit = ARG_MAX_FLOOR;
	ptr_size = ((a->argc ? a->argc : 1) + a->envc) * sizeof(uint64_t);
	if (limit <= ptr_size)
		return -E2BIG;
	limit -= ptr_size;

	a->top = x->mm->task_size;
	a->p = a->top - sizeof(uint64_t);
	a->argmin = a->p - limit;
	a->cap = a->top - a->argmin;
	a->buf = malloc(a->cap);
	if (!a->buf)
		return -ENOMEM;
	memset(args_at(a, a->p), 0, sizeof(uint64_t));

	rc = args_push(a, x->filename);
	if (rc)
		return rc;
	a->execfn = a->p;
	for (uint64_t i = a->envc; i-- > 0;)
		if ((rc = args_push(a, envp[i])) != 0)
			return rc;
	for (uint64_t i = a->argc; i-- > 0;)
		if ((rc = args_push(a, argv[i])) != 0)
			return rc;
	if (a->argc == 0) {
		rc = args_push(a, "");
		if (rc)
			return rc;
		a->argc = 1;
	}
	return 0;
}

/* ---- "#!" scripts (binfmt_script) ---- */

static bool spacetab(char c)
{
	return c == ' ' || c == '\t';
}

static char *next_non_spacetab(char *first, const char *last)
{
	for (; first <= last; first++)
		if (!spacetab(*first))
			return first;
	return NULL;
}

static char *next_terminator(char *first, const char *last)
{
	for (; first <= last; first++)
		if (spacetab(*first) || !*first)
			return first;
	return NULL;
}

/* Replace the current file by the script's interpreter: argv becomes interp [arg] script argv[1..]. */
static int load_script(struct exec_ctx *x)
{
	char *buf = (char *)x->buf, *buf_end = buf + sizeof(x->buf) - 1;
	char *i_end, *i_name, *i_sep, *i_arg = NULL, *name;
	int rc, fd;

	if (buf[0] != '#' || buf[1] != '!')
		return -ENOEXEC;
	i_end = memchr(buf, '\n', sizeof(x->buf));
	if (!i_end) {
		/* No newline in the buffer: the name must end within it. */
		i_end = next_non_spacetab(buf + 2, buf_end);
		if (!i_end || !next_terminator(i_end, buf_end))
			return -ENOEXEC;
		i_end = buf_end;
	}
	while (spacetab(i_end[-1]))
		i_end--;
	i_name = next_non_spacetab(buf + 2, i_end);
	if (!i_name || i_name == i_end)
		return -ENOEXEC;
	i_sep = next_terminator(i_name, i_end);
	if (i_sep && *i_sep != '\0')
		i_arg = next_non_spacetab(i_sep, i_end);

	args_remove_zero(&x->a);
	rc = args_push(&x->a, x->interp_name);
	if (rc)
		return rc;
	x->a.argc++;
	*i_end = '\0';
	if (i_arg) {
		*i_sep = '\0';
		rc = args_push(&x->a, i_arg);
		if (rc)
			return rc;
		x->a.argc++;
	}
	rc = args_push(&x->a, i_name);
	if (rc)
		return rc;
	x->a.argc++;
	name = strdup(i_name);
	if (!name)
		return -ENOMEM;
	fd = env_exec_open(name);
	if (fd < 0) {
		free(name);
		return fd;
	}
	free(x->interp_name);
	x->interp_name = name;
	env_file_close(x->fd);
	x->fd = fd;
	return 0;
}

/* ---- ELF: checks before the point of no return (load_elf_binary's first half) ---- */

static bool elf_arch_ok(const Elf64_Ehdr *eh)
{
	/* elf_check_arch looks at the machine only: the class and byte order are not checked. */
	return eh->e_machine == EM_X86_64;
}

static int elf_prepare(struct exec_ctx *x)
{
	struct exec_elf *p = &x->prog, *in = &x->interp;
	char *name = NULL;
	int rc;

	memcpy(&p->eh, x->buf, sizeof(p->eh));
	if (memcmp(p->eh.e_ident, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	if (p->eh.e_type != ET_EXEC && p->eh.e_type != ET_DYN)
		return -ENOEXEC;
	if (!elf_arch_ok(&p->eh))
		return -ENOEXEC;
	p->fd = x->fd;
	rc = read_phdrs(p);
	if (rc)
		return rc == -ENOMEM ? rc : -ENOEXEC;

	/* The first PT_INTERP names the interpreter. */
	for (unsigned i = 0; i < p->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &p->ph[i];

		if (ph->p_type != PT_INTERP)
			continue;
		if (ph->p_filesz > INTERP_PATH_MAX || ph->p_filesz < 2)
			return -ENOEXEC;
		name = malloc(ph->p_filesz);
		if (!name)
			return -ENOMEM;
		rc = read_exact(p->fd, name, ph->p_filesz, ph->p_offset);
		if (!rc && name[ph->p_filesz - 1] != '\0')
			rc = -ENOEXEC;
		if (!rc) {
			in->fd = env_exec_open(name);
			if (in->fd < 0)
				rc = in->fd;
		}
		free(name);
		if (rc)
			return rc;
		x->has_interp = true;
		rc = read_exact(in->fd, &in->eh, sizeof(in->eh), 0);
		if (rc)
			return rc;
		break;
	}

	/* The last PT_GNU_STACK decides whether the stack is executable. */
	for (unsigned i = 0; i < p->eh.e_phnum; i++)
		if (p->ph[i].p_type == PT_GNU_STACK)
			x->exstack = (p->ph[i].p_flags & PF_X) ? EXSTACK_ENABLE_X : EXSTACK_DISABLE_X;

	if (x->has_interp) {
		if (memcmp(in->eh.e_ident, ELFMAG, SELFMAG) != 0 || !elf_arch_ok(&in->eh))
			return -ELIBBAD;
		rc = read_phdrs(in);
		if (rc)
			return rc == -ENOMEM ? rc : -ELIBBAD;
	}
	return 0;
}

/*
 * search_binary_handler over the two loaders, restarting after each script
 * rewrite (exec_binprm). 0 when an ELF program is ready to load.
 */
static int find_loader(struct exec_ctx *x)
{
	int rc;

	for (int depth = 0;; depth++) {
		if (depth > MAX_REWRITES)
			return -ELOOP;
		rc = read_head(x);
		if (rc)
			return rc;
		rc = load_script(x);
		if (rc == 0)
			continue;
		if (rc != -ENOEXEC)
			return rc;
		return elf_prepare(x);
	}
}

/* ---- The point of no return ---- */

/* begin_new_exec + setup_new_exec: an empty space with a fresh layout. */
static void flush_old_image(struct as_mm *mm)
{
	mm_exit_mmap(mm);
	pthread_rwlock_wrlock(&mm->mmap_lock);
	mm->task_size = TASK_SIZE_MAX;
	mm->start_code = mm->end_code = mm->start_data = mm->end_data = 0;
	mm->start_brk = mm->brk = mm->start_stack = 0;
	mm->arg_start = mm->arg_end = mm->env_start = mm->env_end = 0;
	/* A new mm inherits only the THP opt-out (MMF_INIT_MASK), as fork keeps it. */
	mm->def_flags &= VM_NOHUGEPAGE;
	mm->hiwater_vm = 0;
	atomic_store(&mm->hiwater_rss, 0);
	mm_pick_layout(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
}

/* ---- Building the new image (load_elf_binary's second half) ---- */

static int64_t do_mmap_file(struct exec_ctx *x, int fd, uint64_t addr, uint64_t len, int prot,
			    uint64_t flags, uint64_t off)
{
	/* vm_mmap's own checks, before do_mmap's. */
	if (off + PAGE_ALIGN(len) < off || PAGE_OFF(off))
		return -EINVAL;
	return sys_mmap(x->mm, addr, len, (uint64_t)prot, flags, (uint64_t)fd, off);
}

/*
 * The stack region [start, top): the pages the strings took (at least
 * one) plus 128 KiB, within RLIMIT_STACK (setup_arg_pages), growing down,
 * executable only when PT_GNU_STACK asks for it.
 */
static int setup_stack(struct exec_ctx *x)
{
	struct exec_args *a = &x->a;
	uint64_t vm_start = PAGE_START(a->p), expand, base;
	int prot = PROT_READ | PROT_WRITE;
	int64_t r;

	if (vm_start > a->top - PAGE_SIZE)
		vm_start = a->top - PAGE_SIZE;
	expand = (a->top - vm_start) + STACK_EXPAND;
	if ((a->rlim_stack & PAGE_MASK) < expand)
		expand = a->rlim_stack & PAGE_MASK;
	base = a->top - expand;
	if (base > vm_start)
		base = vm_start;
	if (x->exstack == EXSTACK_ENABLE_X)
		prot |= PROT_EXEC;
	r = sys_mmap(x->mm, base, a->top - base, (uint64_t)prot,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, (uint64_t)-1, 0);
	return r < 0 ? (int)r : 0;
}

static int make_prot(uint32_t p_flags)
{
	return (p_flags & PF_R ? PROT_READ : 0) | (p_flags & PF_W ? PROT_WRITE : 0) |
	       (p_flags & PF_X ? PROT_EXEC : 0);
}

/* From the first PT_LOAD's page to the end of the last's memory (total_mapping_size). */
static uint64_t total_mapping_size(const struct exec_elf *e)
{
	int first = -1, last = -1;

	for (int i = 0; i < e->eh.e_phnum; i++) {
		if (e->ph[i].p_type != PT_LOAD)
			continue;
		if (first < 0)
			first = i;
		last = i;
	}
	if (first < 0)
		return 0;
	return e->ph[last].p_vaddr + e->ph[last].p_memsz - PAGE_START(e->ph[first].p_vaddr);
}

/* The largest power-of-two p_align of the PT_LOADs, page aligned (maximum_alignment). */
static uint64_t maximum_alignment(const struct exec_elf *e)
{
	uint64_t align = 0;

	for (int i = 0; i < e->eh.e_phnum; i++) {
		uint64_t a = e->ph[i].p_align;

		if (e->ph[i].p_type != PT_LOAD || !a || (a & (a - 1)))
			continue;
		if (a > align)
			align = a;
	}
	return PAGE_ALIGN(align);
}

/*
 * elf_map: map a segment's file pages at addr (a hint, or fixed by
 * flags). With total_size (the first segment of a relocatable image), map
 * that much, so that the search finds room for the whole image, and unmap
 * what lies past the segment. The address or -errno.
 */
static int64_t elf_map(struct exec_ctx *x, int fd, uint64_t addr, const Elf64_Phdr *ph, int prot,
		       uint64_t flags, uint64_t total_size)
{
	uint64_t size = PAGE_ALIGN(ph->p_filesz + PAGE_OFF(ph->p_vaddr));
	uint64_t off = ph->p_offset - PAGE_OFF(ph->p_vaddr);
	int64_t map;

	addr = PAGE_START(addr);
	if (!size)
		return (int64_t)addr;
	if (!total_size)
		return do_mmap_file(x, fd, addr, size, prot, flags, off);
	total_size = PAGE_ALIGN(total_size);
	map = do_mmap_file(x, fd, addr, total_size, prot, flags, off);
	if (!bad_addr(x, (uint64_t)map) && total_size > size)
		(void)sys_munmap(x->mm, (uint64_t)map + size, total_size - size);
	return map;
}

/*
 * padzero: clear the rest of the page after a segment's file data with a
 * user write, which copies that file page into an anonymous one. A failure
 * matters only for a writable segment (the caller decides).
 */
static int padzero(struct exec_ctx *x, uint64_t addr)
{
	static const unsigned char zeros[PAGE_SIZE];
	struct as_fault f;

	if (!PAGE_OFF(addr))
		return 0;
	return as_write(x->mm, addr, zeros, PAGE_SIZE - PAGE_OFF(addr), &f) ? -EFAULT : 0;
}

/*
 * vm_brk_flags: private anonymous memory for a bss, readable and
 * writable, executable only when the segment is (rd wr mr mw me ac).
 */
static int vm_brk(struct exec_ctx *x, uint64_t addr, uint64_t len, bool exec)
{
	int64_t r;

	if (!len)
		return 0;
	r = sys_mmap(x->mm, addr, len, PROT_READ | PROT_WRITE | (exec ? PROT_EXEC : 0),
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0);
	return r < 0 ? (int)r : 0;
}

/*
 * elf_load: one PT_LOAD segment: its file pages, the zeroed rest of the
 * last file page, and whole pages of bss as anonymous memory. The address
 * of the segment's first page, or a bad address / -errno.
 */
static int64_t elf_load(struct exec_ctx *x, int fd, uint64_t addr, const Elf64_Phdr *ph, int prot,
			uint64_t flags, uint64_t total_size)
{
	uint64_t zero_start, zero_end;
	int64_t map;
	int rc;

	if (ph->p_filesz) {
		map = elf_map(x, fd, addr, ph, prot, flags, total_size);
		if (bad_addr(x, (uint64_t)map))
			return map;
		zero_start = (uint64_t)map + PAGE_OFF(ph->p_vaddr) + ph->p_filesz;
		zero_end = (uint64_t)map + PAGE_OFF(ph->p_vaddr) + ph->p_memsz;
		if (ph->p_memsz > ph->p_filesz && padzero(x, zero_start) && (prot & PROT_WRITE))
			return -EFAULT;
	} else {
		map = (int64_t)PAGE_START(addr);
		zero_start = (uint64_t)map;
		zero_end = zero_start + PAGE_OFF(ph->p_vaddr) + ph->p_memsz;
	}
	if (ph->p_memsz > ph->p_filesz) {
		zero_start = PAGE_ALIGN(zero_start);
		zero_end = PAGE_ALIGN(zero_end);
		if (zero_end < zero_start)
			return -ENOMEM;
		rc = vm_brk(x, zero_start, zero_end - zero_start, prot & PROT_EXEC);
		if (rc)
			map = rc;
	}
	return map;
}

/* The ELF_ET_DYN_BASE of x86-64: two thirds of the 47-bit user space. */
static uint64_t elf_et_dyn_base(const struct as_mm *mm)
{
	return mm->task_size / 3 * 2;
}

/* The program's PT_LOAD segments: where they go and what they leave for the layout. */
static int map_program(struct exec_ctx *x)
{
	struct exec_elf *p = &x->prog;
	uint64_t task = x->mm->task_size, load_bias = 0, k;
	uint64_t start_code = ~0ull, end_code = 0, start_data = 0, end_data = 0, elf_brk = 0;
	uint64_t phdr_addr = 0;
	bool first = true;

	for (int i = 0; i < p->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &p->ph[i];
		int prot = make_prot(ph->p_flags);
		uint64_t flags = MAP_PRIVATE, vaddr = ph->p_vaddr;
		uint64_t total_size = 0; /* the first segment only */
		int64_t map;

		if (ph->p_type != PT_LOAD)
			continue;
		if (!first) {
			flags |= MAP_FIXED;
		} else if (p->eh.e_type == ET_EXEC) {
			flags |= MAP_FIXED_NOREPLACE;
		} else {
			/* ET_DYN: where does the image go? */
			uint64_t alignment = maximum_alignment(p);

			total_size = total_mapping_size(p);
			if (!total_size)
				return -EINVAL;
			if (x->place.load_base) {
				/* Where a randomized run put it (as_mm_exec_at): address 0 at load_base. */
				load_bias = x->place.load_base + vaddr;
				flags |= MAP_FIXED_NOREPLACE;
			} else if (x->has_interp) {
				/* A PIE program: at ELF_ET_DYN_BASE, aligned down as it asks. */
				load_bias = elf_et_dyn_base(x->mm);
				if (alignment)
					load_bias &= ~(alignment - 1);
				flags |= MAP_FIXED_NOREPLACE;
			} else if (alignment > PAGE_SIZE) {
				/* A loader (static PIE) with a large alignment: find room, then align down. */
				map = elf_load(x, p->fd, 0, ph, prot, flags, total_size);
				if (bad_addr(x, (uint64_t)map))
					return bad_addr_error((uint64_t)map);
				(void)sys_munmap(x->mm, (uint64_t)map, total_size);
				load_bias = (uint64_t)map & ~(alignment - 1);
				flags |= MAP_FIXED_NOREPLACE;
			} else {
				/* A loader: top-down from mmap_base like any mapping. */
				load_bias = 0;
			}
			load_bias = PAGE_START(load_bias - vaddr);
		}

		map = elf_load(x, p->fd, load_bias + vaddr, ph, prot, flags, total_size);
		if (bad_addr(x, (uint64_t)map))
			return bad_addr_error((uint64_t)map);
		if (first) {
			first = false;
			if (p->eh.e_type == ET_DYN)
				load_bias += (uint64_t)map - PAGE_START(load_bias + vaddr);
		}

		/* The segment holding the program headers gives AT_PHDR. */
		if (ph->p_offset <= p->eh.e_phoff && p->eh.e_phoff < ph->p_offset + ph->p_filesz)
			phdr_addr = p->eh.e_phoff - ph->p_offset + ph->p_vaddr;

		k = ph->p_vaddr;
		if ((ph->p_flags & PF_X) && k < start_code)
			start_code = k;
		if (start_data < k)
			start_data = k;
		/* A segment reaching past the task size can never have a brk. */
		if (k >= task || ph->p_filesz > ph->p_memsz || ph->p_memsz > task ||
		    task - ph->p_memsz < k)
			return -EINVAL;
		k = ph->p_vaddr + ph->p_filesz;
		if ((ph->p_flags & PF_X) && end_code < k)
			end_code = k;
		if (end_data < k)
			end_data = k;
		k = ph->p_vaddr + ph->p_memsz;
		if (k > elf_brk)
			elf_brk = k;
	}

	x->load_bias = load_bias;
	x->e_entry = p->eh.e_entry + load_bias;
	x->phdr_addr = phdr_addr + load_bias;
	x->elf_brk = elf_brk + load_bias;
	x->start_code = start_code + load_bias;
	x->end_code = end_code + load_bias;
	x->start_data = start_data + load_bias;
	x->end_data = end_data + load_bias;
	return 0;
}

/*
 * load_elf_interp: the interpreter's PT_LOAD segments, the first with the
 * image's whole size, top-down from mmap_base (or at its own addresses for
 * an ET_EXEC interpreter). Sets interp_base and elf_entry.
 */
static int map_interp(struct exec_ctx *x)
{
	struct exec_elf *in = &x->interp;
	uint64_t task = x->mm->task_size, load_addr = 0, total_size, k;
	bool load_addr_set = false;

	if (in->eh.e_type != ET_EXEC && in->eh.e_type != ET_DYN)
		return -EINVAL;
	total_size = total_mapping_size(in);
	if (!total_size)
		return -EINVAL;
	for (int i = 0; i < in->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &in->ph[i];
		uint64_t flags = MAP_PRIVATE, vaddr = ph->p_vaddr;
		int64_t map;

		if (ph->p_type != PT_LOAD)
			continue;
		if (in->eh.e_type == ET_EXEC || load_addr_set) {
			flags |= MAP_FIXED;
		} else if (x->place.interp_base) {
			/* Where a randomized run put it (as_mm_exec_at). */
			load_addr = x->place.interp_base;
			flags |= MAP_FIXED_NOREPLACE;
		} else if (x->load_bias && in->eh.e_type == ET_DYN) {
			load_addr = -vaddr;
		}
		map = elf_load(x, in->fd, load_addr + vaddr, ph, make_prot(ph->p_flags), flags,
			       total_size);
		total_size = 0;
		if (bad_addr(x, (uint64_t)map))
			return bad_addr_error((uint64_t)map);
		if (!load_addr_set && in->eh.e_type == ET_DYN) {
			load_addr = (uint64_t)map - PAGE_START(vaddr);
			load_addr_set = true;
		}
		k = load_addr + ph->p_vaddr;
		if (k >= task || ph->p_filesz > ph->p_memsz || ph->p_memsz > task ||
		    task - ph->p_memsz < k)
			return -ENOMEM;
	}
	x->interp_base = load_addr;
	x->elf_entry = load_addr + in->eh.e_entry;
	if (bad_addr(x, x->elf_entry))
		return -EINVAL;
	return 0;
}

/* ---- The vDSO block (arch_setup_additional_pages) ---- */

struct special_kind {
	const char *name;
	enum vma_special kind;
	uint64_t flags;
};

/* The special regions aspace knows and the flags Linux gives them (smaps VmFlags). */
static const struct special_kind special_kinds[] = {
	{ "[vvar]", VMA_SPECIAL_VVAR,
	  VM_READ | VM_MAYREAD | VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP },
	{ "[vvar_vclock]", VMA_SPECIAL_VVAR_VCLOCK,
	  VM_READ | VM_MAYREAD | VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP },
	{ "[vdso]", VMA_SPECIAL_VDSO,
	  VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_DONTEXPAND },
};

/*
 * map_vdso: one search for the whole block (top-down, as an anonymous
 * mapping without flags), then a region per part, as the running kernel
 * lays them out. The regions hold no pages; a read of one faults in
 * zeroes (aspace has no vDSO code or time data to give).
 */
static int map_vdso(struct exec_ctx *x)
{
	const struct env_exec_facts *f = env_exec_facts();
	struct as_mm *mm = x->mm;
	int64_t addr;
	int rc = 0;

	if (!f->nr_special)
		return 0;
	pthread_rwlock_wrlock(&mm->mmap_lock);
	addr = sys_get_unmapped_area(mm, false, 0, f->special_len, 0);
	if (addr < 0) {
		rc = (int)addr;
		goto out;
	}
	for (unsigned i = 0; i < f->nr_special; i++) {
		const struct special_kind *sk = NULL;
		struct vm_area *v;

		for (size_t j = 0; j < AS_ARRAY_SIZE(special_kinds); j++)
			if (!strcmp(special_kinds[j].name, f->special[i].name))
				sk = &special_kinds[j];
		if (!sk)
			continue;
		v = vma_alloc(mm);
		if (!v) {
			rc = -ENOMEM;
			goto out;
		}
		v->start = (uint64_t)addr + f->special[i].off;
		v->end = v->start + f->special[i].len;
		v->flags = sk->flags | mm->def_flags;
		v->special = sk->kind;
		v->pgoff = 0;
		vma_tree_insert(&mm->tree, v);
		mm_stat_account(mm, v->flags, (int64_t)((v->end - v->start) >> PAGE_SHIFT));
		if (sk->kind == VMA_SPECIAL_VDSO)
			x->vdso_base = v->start;
	}
out:
	mm_debug_check(mm);
	pthread_rwlock_unlock(&mm->mmap_lock);
	return rc;
}

/*
 * A fault on an empty entry of a special region (Linux's vdso_fault and
 * vvar_fault). A [vdso] page is a copy of the host's vDSO image page at
 * the same offset, a page of this space counted as a file page (RssFile);
 * Linux shares one set of pages among all processes, so its smaps shows
 * them shared. A [vvar] page maps the zero page: Linux maps kernel data
 * by PFN, which no counter sees; zeroed time data reads as clock mode
 * "none", so the vDSO code falls back to the system call. 0 or -ENOMEM.
 * The mmap lock is held (read); takes the page-table lock.
 */
int mm_special_fault(struct as_mm *mm, struct vm_area *v, uint64_t addr, pte_t bits)
{
	const struct env_exec_facts *f = env_exec_facts();
	struct as_machine *m = mm->m;
	uint64_t idx = v->pgoff + ((addr - v->start) >> PAGE_SHIFT);
	pfn_t pfn = m->zero_pfn;
	pte_t *ptep = NULL;

	if (v->special == VMA_SPECIAL_VDSO) {
		pfn = frame_alloc(m, 0, FA_FILE | FA_ZERO);
		if (pfn == PFN_NONE)
			return -ENOMEM;
		if (f->vdso_image && idx < f->vdso_len >> PAGE_SHIFT)
			memcpy(frame_to_host(m, pfn), (const char *)f->vdso_image + idx * PAGE_SIZE,
			       PAGE_SIZE);
		frame_page(m, pfn)->index = (uint32_t)idx;
	} else {
		bits |= PTE_SPECIAL;
	}
	pthread_mutex_lock(&mm->pt_lock);
	if (pgtable_walk_alloc(&mm->pt, addr, &ptep) != 0 || __atomic_load_n(ptep, __ATOMIC_RELAXED)) {
		/* Out of table frames, or another thread mapped it meanwhile. */
		bool oom = !ptep;

		pthread_mutex_unlock(&mm->pt_lock);
		if (pfn != m->zero_pfn)
			frame_put(m, pfn);
		return oom ? -ENOMEM : 0;
	}
	if (pfn != m->zero_pfn) {
		atomic_store_explicit(&frame_page(m, pfn)->mapcount, 1, memory_order_relaxed);
		mm_add_rss(mm, MM_FILEPAGES, 1);
	}
	pgtable_set(&mm->pt, ptep, pte_make(pfn, bits));
	pthread_mutex_unlock(&mm->pt_lock);
	return 0;
}

/* ---- The initial stack (create_elf_tables) ---- */

/* AT_RANDOM's 16 bytes: deterministic, from the file name (splitmix64 over FNV-1a). */
static void random_bytes(const char *name, unsigned char out[16])
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *c = name; *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
	for (int i = 0; i < 2; i++) {
		uint64_t z = (h += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(out + 8 * i, &z, 8);
	}
}

/* The value of one auxiliary vector entry of the new image. */
static uint64_t auxv_value(const struct exec_ctx *x, uint64_t type, uint64_t host_val,
			   uint64_t u_platform, uint64_t u_rand)
{
	const struct env_exec_facts *f = env_exec_facts();

	switch (type) {
	case AT_SYSINFO_EHDR: return x->vdso_base;
	case AT_PAGESZ: return PAGE_SIZE;
	case AT_PHDR: return x->phdr_addr;
	case AT_PHENT: return sizeof(Elf64_Phdr);
	case AT_PHNUM: return x->prog.eh.e_phnum;
	case AT_BASE: return x->interp_base;
	case AT_FLAGS: return 0;
	case AT_ENTRY: return x->e_entry;
	case AT_UID: return f->uid;
	case AT_EUID: return f->euid;
	case AT_GID: return f->gid;
	case AT_EGID: return f->egid;
	case AT_SECURE: return 0;
	case AT_RANDOM: return u_rand;
	case AT_EXECFN: return x->a.execfn;
	case AT_PLATFORM: return u_platform;
	default: return host_val; /* AT_HWCAP, AT_HWCAP2, AT_CLKTCK, AT_MINSIGSTKSZ, AT_RSEQ_* ... */
	}
}

/*
 * Write the new stack: below the strings, the platform string and the
 * random bytes, then (16-byte aligned) argc, argv[], NULL, envp[], NULL
 * and the auxiliary vector in the running kernel's order, ending with
 * AT_NULL. One user write of [sp, top) faults in exactly the pages Linux
 * touches.
 */
static int write_tables(struct exec_ctx *x)
{
	const struct env_exec_facts *f = env_exec_facts();
	struct exec_args *a = &x->a;
	uint64_t p = a->p & ~(STACK_ALIGN - 1), u_platform, u_rand, sp, items, ei_words, s;
	uint64_t *w, *auxv;
	unsigned nr_aux = 0;
	size_t plen = strlen(f->platform) + 1;
	unsigned char rnd[16];
	struct as_fault fault;
	char *img;
	int rc;

	u_platform = p -= plen;
	u_rand = p -= sizeof(rnd);
	for (unsigned i = 0; i < f->nr_auxv; i++)
		if (f->auxv_type[i] != AT_SYSINFO_EHDR || x->vdso_base)
			nr_aux++;
	ei_words = 2 * ((uint64_t)nr_aux + 1);
	items = (a->argc + 1) + (a->envc + 1) + 1;
	sp = (p - ei_words * sizeof(uint64_t) - items * sizeof(uint64_t)) & ~(STACK_ALIGN - 1);

	img = calloc(1, a->top - sp);
	if (!img)
		return -ENOMEM;
	memcpy(img + (a->p - sp), args_at(a, a->p), a->top - a->p);
	memcpy(img + (u_platform - sp), f->platform, plen);
	random_bytes(x->filename, rnd);
	memcpy(img + (u_rand - sp), rnd, sizeof(rnd));

	w = (uint64_t *)img;
	*w++ = a->argc;
	s = a->p;
	x->arg_start = s;
	for (uint64_t i = 0; i < a->argc; i++) {
		*w++ = s;
		s += strlen(args_at(a, s)) + 1;
	}
	*w++ = 0;
	x->arg_end = x->env_start = s;
	for (uint64_t i = 0; i < a->envc; i++) {
		*w++ = s;
		s += strlen(args_at(a, s)) + 1;
	}
	*w++ = 0;
	x->env_end = s;
	auxv = w;
	for (unsigned i = 0; i < f->nr_auxv; i++) {
		if (f->auxv_type[i] == AT_SYSINFO_EHDR && !x->vdso_base)
			continue;
		*auxv++ = f->auxv_type[i];
		*auxv++ = auxv_value(x, f->auxv_type[i], f->auxv_val[i], u_platform, u_rand);
	}
	*auxv++ = AT_NULL;
	*auxv++ = 0;

	rc = as_write(x->mm, sp, img, a->top - sp, &fault);
	free(img);
	if (rc)
		return rc == -ENOMEM ? rc : -EFAULT;
	x->sp = sp;
	return 0;
}

/* The layout /proc/PID/stat shows after exec. */
static void set_layout(struct exec_ctx *x)
{
	struct as_mm *mm = x->mm;
	uint64_t brk = x->elf_brk;

	/* A loader run directly (static PIE) gets its heap at ELF_ET_DYN_BASE, out of the mmap area. */
	if (x->prog.eh.e_type == ET_DYN && !x->has_interp)
		brk = elf_et_dyn_base(mm);
	pthread_rwlock_wrlock(&mm->mmap_lock);
	mm->start_code = x->start_code;
	mm->end_code = x->end_code;
	mm->start_data = x->start_data;
	mm->end_data = x->end_data;
	mm->start_brk = mm->brk = PAGE_ALIGN(brk);
	mm->start_stack = x->sp;
	mm->arg_start = x->arg_start;
	mm->arg_end = x->arg_end;
	mm->env_start = x->env_start;
	mm->env_end = x->env_end;
	pthread_rwlock_unlock(&mm->mmap_lock);
}

/* Everything after the point of no return. */
static int build_image(struct exec_ctx *x)
{
	int rc;

	rc = setup_stack(x);
	if (!rc)
		rc = map_program(x);
	if (!rc) {
		if (x->has_interp) {
			rc = map_interp(x);
		} else {
			x->elf_entry = x->e_entry;
			if (bad_addr(x, x->elf_entry))
				rc = -EINVAL;
		}
	}
	if (!rc)
		rc = map_vdso(x);
	if (!rc)
		rc = write_tables(x);
	if (!rc)
		set_layout(x);
	return rc;
}

static void exec_ctx_release(struct exec_ctx *x)
{
	if (x->fd >= 0)
		env_file_close(x->fd);
	if (x->has_interp && x->interp.fd >= 0)
		env_file_close(x->interp.fd);
	free(x->prog.ph);
	free(x->interp.ph);
	free(x->interp_name);
	free(x->a.buf);
	free(x);
}

int as_mm_exec(struct as_mm *mm, const char *path, char *const argv[], char *const envp[],
	       struct as_exec_info *info)
{
	return as_mm_exec_at(mm, path, argv, envp, NULL, info);
}

int as_mm_exec_at(struct as_mm *mm, const char *path, char *const argv[], char *const envp[],
		  const struct as_exec_place *at, struct as_exec_info *info)
{
	struct exec_ctx *x;
	int rc;

	if (!mm)
		return -EINVAL;
	/* A place is checked before the point of no return (its collisions only after, as Linux's). */
	if (at && (PAGE_OFF(at->load_base) || PAGE_OFF(at->interp_base) || at->load_base >= mm->task_size ||
		   at->interp_base >= mm->task_size))
		return -EINVAL;
	if (!path)
		return -EFAULT;
	if (!*path)
		return -ENOENT;
	tlb_thread_quiesce();
	if (atomic_load(&mm->users) > 1)
		return -EBUSY;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->mm = mm;
	x->filename = path;
	x->interp.fd = -1;
	if (at)
		x->place = *at;
	x->fd = env_exec_open(path);
	if (x->fd < 0) {
		rc = x->fd;
		goto out;
	}
	x->interp_name = strdup(path);
	if (!x->interp_name) {
		rc = -ENOMEM;
		goto out;
	}
	rc = args_copy(x, argv, envp);
	if (!rc)
		rc = find_loader(x);
	if (rc)
		goto out;

	/* The point of no return: from here on the old image is gone. */
	flush_old_image(mm);
	rc = build_image(x);
	if (rc) {
		/* Linux kills the task here (SIGSEGV); leave nothing half built. */
		flush_old_image(mm);
		goto out;
	}
	if (info)
		*info = (struct as_exec_info){
			.entry = x->elf_entry,
			.stack_pointer = x->sp,
			.start_brk = mm->start_brk,
			.load_base = x->load_bias,
			.interp_base = x->interp_base,
		};
out:
	exec_ctx_release(x);
	return rc;
}
