/*
 * exec (as_mm_exec) side by side with the host kernel.
 *
 * The kernel side forks a child that turns address randomization off,
 * asks to be traced and calls execve: the child stops right after the
 * exec, before the first user instruction (or dies with SIGSEGV when the
 * exec failed past the point of no return), and the parent reads its
 * /proc/PID/maps, smaps, stat, status, auxv, registers and the stack from
 * rsp to the top. The aspace side runs as_mm_exec with the same file,
 * arguments, environment and RLIMIT_STACK on a space that already holds a
 * marker region, and prints the same things. Everything must match, byte
 * for byte, except the 16 AT_RANDOM bytes.
 *
 * Programs: /bin/true, /bin/ls, python3, and programs the test builds with
 * gcc in a temporary directory (static, static PIE, PIE and non-PIE with
 * large alignments, executable stack), plus broken copies of them for the
 * errors. Cases whose program can't be built are skipped.
 */
#include "testlib.h"

#include "mm/mm.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOP 0x7ffffffff000ull
#define MAX_AUXV 64
#define MARKER_ADDR 0x10000000ull

/* ---- What one side shows right after exec ---- */

struct image {
	int err;            /* the exec's -errno; 0 when it ran */
	bool killed;        /* failed past the point of no return (Linux: SIGSEGV) */
	bool unchanged;     /* aspace: a failure left the old image (the marker) in place */
	char *maps, *smaps;
	/* /proc/PID/stat 26-28 and 45-51 */
	uint64_t start_code, end_code, start_stack, start_data, end_data, start_brk;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t rip, rsp;
	uint64_t auxv[2 * MAX_AUXV];
	unsigned nauxv;
	unsigned char *stack; /* [rsp, TOP) */
	/* /proc/PID/status, kB */
	uint64_t vm_size, vm_data, vm_stk, vm_exec, rss_anon, rss_file;
};

struct spec {
	const char *path;
	char *const *argv;      /* NULL: { path } */
	char *const *envp;      /* NULL: the default below */
	uint64_t rlim_stack;    /* 0: 8 MiB; RLIM_INFINITY allowed */
	bool legacy;            /* bottom-up layout (ADDR_COMPAT_LAYOUT / legacy_va_layout) */
};

static char *default_env[] = { "HOME=/root", "PATH=/usr/bin:/bin", "LANG=C", NULL };

static void image_free(struct image *im)
{
	free(im->maps);
	free(im->smaps);
	free(im->stack);
	memset(im, 0, sizeof(*im));
}

static char *read_text(const char *path)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_non_null(buf);
	assert_true(fd >= 0);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

static uint64_t status_kb(const char *status, const char *key)
{
	const char *s = strstr(status, key);

	return s ? strtoull(s + strlen(key), NULL, 10) : 0;
}

static void spec_argv(const struct spec *sp, char **one, char *const **argv, char *const **envp)
{
	one[0] = (char *)sp->path;
	one[1] = NULL;
	*argv = sp->argv ? sp->argv : one;
	*envp = sp->envp ? sp->envp : default_env;
}

static uint64_t spec_rlim(const struct spec *sp)
{
	return sp->rlim_stack ? sp->rlim_stack : 8ull << 20;
}

/* Run the program on the host kernel up to its first instruction. */
static void kernel_run(const struct spec *sp, struct image *im)
{
	char *one[2], path[64], *status, *stat, *s;
	char *const *argv, *const *envp;
	struct user_regs_struct regs;
	int pfd[2], st, e = 0, fd, field;
	pid_t pid;

	memset(im, 0, sizeof(*im));
	spec_argv(sp, one, &argv, &envp);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { spec_rlim(sp), RLIM_INFINITY };

		close(pfd[0]);
		setrlimit(RLIMIT_STACK, &rl);
		personality(ADDR_NO_RANDOMIZE | (sp->legacy ? ADDR_COMPAT_LAYOUT : 0));
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		/* An empty argv is a NULL one here, as the aspace side gets it. */
		syscall(SYS_execve, sp->path, argv[0] ? argv : NULL, envp);
		e = errno;
		(void)!write(pfd[1], &e, sizeof(e));
		_exit(127);
	}
	close(pfd[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (read(pfd[0], &e, sizeof(e)) == sizeof(e)) {
		close(pfd[0]);
		im->err = -e;
		waitpid(pid, &st, 0);
		return;
	}
	close(pfd[0]);
	assert_true(WIFSTOPPED(st));
	if (WSTOPSIG(st) != SIGTRAP) {
		/* Past the point of no return: the kernel kills the task. */
		assert_int_equal(WSTOPSIG(st), SIGSEGV);
		im->killed = true;
		kill(pid, SIGKILL);
		ptrace(PTRACE_CONT, pid, 0, 0);
		waitpid(pid, &st, 0);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	im->maps = read_text(path);
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	im->smaps = read_text(path);
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	stat = read_text(path);
	s = strrchr(stat, ')') + 2;
	for (field = 3; s && *s && field <= 51; field++) {
		char *end;
		uint64_t v = strtoull(s, &end, 10);

		if (field != 3 && end == s)
			break;
		s = end;

		switch (field) {
		case 26: im->start_code = v; break;
		case 27: im->end_code = v; break;
		case 28: im->start_stack = v; break;
		case 45: im->start_data = v; break;
		case 46: im->end_data = v; break;
		case 47: im->start_brk = v; break;
		case 48: im->arg_start = v; break;
		case 49: im->arg_end = v; break;
		case 50: im->env_start = v; break;
		case 51: im->env_end = v; break;
		}
		if (field == 3) /* the state is a letter */
			s = strchr(s, ' ');
		while (s && *s == ' ')
			s++;
	}
	free(stat);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	status = read_text(path);
	im->vm_size = status_kb(status, "VmSize:");
	im->vm_data = status_kb(status, "VmData:");
	im->vm_stk = status_kb(status, "VmStk:");
	im->vm_exec = status_kb(status, "VmExe:") + status_kb(status, "VmLib:");
	im->rss_anon = status_kb(status, "RssAnon:");
	im->rss_file = status_kb(status, "RssFile:");
	free(status);
	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	im->nauxv = (unsigned)(read(fd, im->auxv, sizeof(im->auxv)) / 16);
	close(fd);
	assert_int_equal(ptrace(PTRACE_GETREGS, pid, 0, &regs), 0);
	im->rip = regs.rip;
	im->rsp = regs.rsp;
	im->stack = malloc(TOP - im->rsp);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, im->stack, TOP - im->rsp, (off_t)im->rsp), (ssize_t)(TOP - im->rsp));
	close(fd);
	kill(pid, SIGKILL);
	ptrace(PTRACE_CONT, pid, 0, 0);
	waitpid(pid, &st, 0);
}

__attribute__((noinline)) static char *mm_text(struct as_mm *mm, int (*writer)(struct as_mm *, FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(writer(mm, f), 0);
	fclose(f);
	return buf;
}

/* A space with one region, so that a failed exec shows whether the old image stayed. */
static struct as_mm *marked_space(struct as_machine *m)
{
	struct as_mm *mm;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_syscall(mm, SYS_mmap, MARKER_ADDR, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0),
			 (long)MARKER_ADDR);
	assert_int_equal(as_write(mm, MARKER_ADDR, "old", 4, NULL), 0);
	return mm;
}

/* The same on aspace; the info returned is checked against the image. */
static void aspace_run(struct as_machine *m, const struct spec *sp, struct image *im)
{
	char *one[2], *before;
	char *const *argv, *const *envp;
	struct as_exec_info info;
	struct as_mm_layout lay;
	struct as_mm_counters cnt;
	struct as_mm *mm = marked_space(m);
	int rc;

	memset(im, 0, sizeof(*im));
	spec_argv(sp, one, &argv, &envp);
	assert_int_equal(as_mm_setrlimit(mm, RLIMIT_STACK, spec_rlim(sp), RLIM_INFINITY), 0);
	before = mm_text(mm, as_mm_write_maps);
	rc = as_mm_exec(mm, sp->path, argv[0] ? argv : NULL, envp, &info);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	if (rc) {
		char *after = mm_text(mm, as_mm_write_maps);

		as_mm_get_counters(mm, &cnt);
		im->err = rc;
		im->killed = cnt.map_count == 0;
		im->unchanged = !strcmp(before, after);
		free(after);
		free(before);
		as_mm_put(mm);
		return;
	}
	free(before);
	im->maps = mm_text(mm, as_mm_write_maps);
	im->smaps = mm_text(mm, as_mm_write_smaps);
	as_mm_get_layout(mm, &lay);
	im->start_code = lay.start_code;
	im->end_code = lay.end_code;
	im->start_stack = lay.start_stack;
	im->start_data = lay.start_data;
	im->end_data = lay.end_data;
	im->start_brk = lay.start_brk;
	im->arg_start = lay.arg_start;
	im->arg_end = lay.arg_end;
	im->env_start = lay.env_start;
	im->env_end = lay.env_end;
	assert_int_equal(lay.brk, lay.start_brk);
	assert_int_equal(info.start_brk, lay.start_brk);
	im->rip = info.entry;
	im->rsp = info.stack_pointer;
	as_mm_get_counters(mm, &cnt);
	im->vm_size = cnt.total_vm * 4;
	im->vm_data = cnt.data_vm * 4;
	im->vm_stk = cnt.stack_vm * 4;
	im->vm_exec = cnt.exec_vm * 4;
	im->rss_anon = cnt.rss_anon * 4;
	im->rss_file = cnt.rss_file * 4;
	im->stack = malloc(TOP - im->rsp);
	assert_int_equal(as_read(mm, im->rsp, im->stack, TOP - im->rsp, NULL), 0);
	/* The auxiliary vector is where argv and envp end. */
	{
		uint64_t *w = (uint64_t *)im->stack, argc = w[0], *a = w + 1 + argc + 1;

		while (*a)
			a++;
		a++;
		for (im->nauxv = 0; im->nauxv < MAX_AUXV; im->nauxv++) {
			im->auxv[2 * im->nauxv] = a[2 * im->nauxv];
			im->auxv[2 * im->nauxv + 1] = a[2 * im->nauxv + 1];
			if (a[2 * im->nauxv] == AT_NULL) {
				im->nauxv++;
				break;
			}
		}
	}
	/* info: AT_BASE and the load bias. */
	for (unsigned i = 0; i < im->nauxv; i++)
		if (im->auxv[2 * i] == AT_BASE)
			assert_int_equal(info.interp_base, im->auxv[2 * i + 1]);
	as_mm_put(mm);
}

static uint64_t auxv_get(const struct image *im, uint64_t type)
{
	for (unsigned i = 0; i < im->nauxv; i++)
		if (im->auxv[2 * i] == type)
			return im->auxv[2 * i + 1];
	return 0;
}

/* Print both texts and fail at the first differing line. */
static void compare_text(const char *what, const char *k, const char *a)
{
	const char *kl = k, *al = a;
	int line = 1;

	if (!strcmp(k, a))
		return;
	while (*kl && *al) {
		const char *ke = strchr(kl, '\n'), *ae = strchr(al, '\n');
		size_t kn = ke ? (size_t)(ke - kl) : strlen(kl), an = ae ? (size_t)(ae - al) : strlen(al);

		if (kn != an || memcmp(kl, al, kn))
			break;
		kl += kn + (ke ? 1 : 0);
		al += an + (ae ? 1 : 0);
		line++;
	}
	fprintf(stderr, "---- kernel %s ----\n%s---- aspace %s ----\n%s", what, k, what, a);
	fail_msg("%s differ at line %d: kernel \"%.*s\" aspace \"%.*s\"", what, line,
		 (int)strcspn(kl, "\n"), kl, (int)strcspn(al, "\n"), al);
}

#define CMP(field) \
	do { \
		if (k->field != a->field) \
			fail_msg("%s: " #field " kernel %#llx aspace %#llx", sp->path, \
				 (unsigned long long)k->field, (unsigned long long)a->field); \
	} while (0)

static void compare_images(const struct spec *sp, const struct image *k, const struct image *a)
{
	uint64_t rnd;

	if (k->err || k->killed || a->err) {
		if (k->err && (a->err != k->err || !a->unchanged))
			fail_msg("%s: kernel errno %d before the point of no return; aspace %d, space %s",
				 sp->path, -k->err, -a->err, a->unchanged ? "unchanged" : "changed");
		if (k->killed && !a->killed)
			fail_msg("%s: kernel killed the task at exec; aspace returned %d with the space %s",
				 sp->path, a->err, a->unchanged ? "unchanged" : "not emptied");
		if (!k->err && !k->killed)
			fail_msg("%s: the kernel ran it; aspace failed with %d", sp->path, a->err);
		return;
	}
	compare_text("maps", k->maps, a->maps);
	compare_text("smaps", k->smaps, a->smaps);
	CMP(start_code);
	CMP(end_code);
	CMP(start_stack);
	CMP(start_data);
	CMP(end_data);
	CMP(start_brk);
	CMP(arg_start);
	CMP(arg_end);
	CMP(env_start);
	CMP(env_end);
	CMP(rip);
	CMP(rsp);
	CMP(vm_size);
	CMP(vm_data);
	CMP(vm_stk);
	CMP(vm_exec);
	CMP(rss_anon);
	CMP(rss_file);
	CMP(nauxv);
	for (unsigned i = 0; i < k->nauxv; i++) {
		if (k->auxv[2 * i] != a->auxv[2 * i] || k->auxv[2 * i + 1] != a->auxv[2 * i + 1])
			fail_msg("%s: auxv[%u] kernel %llu=%#llx aspace %llu=%#llx", sp->path, i,
				 (unsigned long long)k->auxv[2 * i], (unsigned long long)k->auxv[2 * i + 1],
				 (unsigned long long)a->auxv[2 * i], (unsigned long long)a->auxv[2 * i + 1]);
	}
	/* The stack, byte for byte, but for the random bytes. */
	rnd = auxv_get(k, AT_RANDOM);
	assert_true(rnd >= k->rsp && rnd + 16 <= TOP);
	for (uint64_t off = 0; off < TOP - k->rsp; off++) {
		uint64_t va = k->rsp + off;

		if (va >= rnd && va < rnd + 16)
			continue;
		if (k->stack[off] != a->stack[off])
			fail_msg("%s: stack byte at %#llx: kernel %#x aspace %#x", sp->path,
				 (unsigned long long)va, k->stack[off], a->stack[off]);
	}
}

static uint64_t host_sysctl(const char *path, uint64_t dflt)
{
	FILE *f = fopen(path, "r");
	unsigned long long v;

	if (!f)
		return dflt;
	if (fscanf(f, "%llu", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

/* A machine configured as this host is (the sysctls exec depends on). */
static struct as_machine *host_machine(bool legacy)
{
	struct as_machine_config cfg;
	struct as_machine *m = NULL;

	as_machine_config_init(&cfg);
	cfg.ram_bytes = 256ull << 20;
	cfg.mmap_min_addr = host_sysctl("/proc/sys/vm/mmap_min_addr", cfg.mmap_min_addr);
	cfg.max_map_count = host_sysctl("/proc/sys/vm/max_map_count", cfg.max_map_count);
	cfg.legacy_va_layout = legacy || host_sysctl("/proc/sys/vm/legacy_va_layout", 0);
	assert_int_equal(as_machine_new(&cfg, &m), 0);
	return m;
}

/* Run one spec on both sides and compare. */
static void side_by_side(const struct spec *sp)
{
	struct as_machine *m = host_machine(sp->legacy);
	struct image k, a;

	kernel_run(sp, &k);
	aspace_run(m, sp, &a);
	compare_images(sp, &k, &a);
	image_free(&k);
	image_free(&a);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* ---- Programs built for the tests ---- */

static char tmpdir[64];
static bool have_gcc;

static const char hello_src[] =
	"#include <stdio.h>\n"
	"int big[100000];\n"
	"int main(int argc, char **argv) { puts(\"hi\"); return big[argc]; }\n";

/* Build tmpdir/name from hello_src with the given flags; false when gcc can't. */
static bool build(const char *name, const char *flags)
{
	char cmd[512], src[128];
	FILE *f;

	if (!have_gcc)
		return false;
	snprintf(src, sizeof(src), "%s/hello.c", tmpdir);
	f = fopen(src, "w");
	assert_non_null(f);
	fputs(hello_src, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gcc -O1 %s -o %s/%s %s 2>/dev/null", flags, tmpdir, name, src);
	return system(cmd) == 0;
}

static char *tmp_path(const char *name)
{
	static char buf[8][128];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return p;
}

static int group_setup(void **state)
{
	char cmd[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/aspace-exec-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(cmd, sizeof(cmd), "gcc --version >/dev/null 2>&1");
	have_gcc = system(cmd) == 0;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- Real programs ---- */

static void test_bin_true(void **state)
{
	side_by_side(&(struct spec){ .path = "/bin/true" });
}

static void test_bin_ls(void **state)
{
	char *argv[] = { "ls", "-l", "--color=never", "/", NULL };

	side_by_side(&(struct spec){ .path = "/bin/ls", .argv = argv });
}

static void test_python3(void **state)
{
	char *argv[] = { "python3", "-c", "print(1)", NULL };
	const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : NULL;

	if (!py)
		skip();
	side_by_side(&(struct spec){ .path = py, .argv = argv });
}

static void test_static(void **state)
{
	if (!build("static", "-static"))
		skip();
	side_by_side(&(struct spec){ .path = tmp_path("static") });
}

static void test_static_pie(void **state)
{
	if (!build("spie", "-static-pie"))
		skip();
	side_by_side(&(struct spec){ .path = tmp_path("spie") });
}

static void test_static_pie_2m_align(void **state)
{
	if (!build("spie2m", "-static-pie -Wl,-z,max-page-size=0x200000"))
		skip();
	side_by_side(&(struct spec){ .path = tmp_path("spie2m") });
}

static void test_static_pie_64k_align(void **state)
{
	if (!build("spie64k", "-static-pie -Wl,-z,max-page-size=0x10000"))
		skip();
	side_by_side(&(struct spec){ .path = tmp_path("spie64k") });
}

static void test_pie_aligned(void **state)
{
	if (!build("pie2m", "-pie -fPIE -Wl,-z,max-page-size=0x200000") ||
	    !build("pie64k", "-pie -fPIE -Wl,-z,max-page-size=0x10000"))
		skip();
	side_by_side(&(struct spec){ .path = tmp_path("pie2m") });
	side_by_side(&(struct spec){ .path = tmp_path("pie64k") });
}

static void test_no_pie(void **state)
{
	if (!build("nopie", "-no-pie"))
		skip();
	side_by_side(&(struct spec){ .path = tmp_path("nopie") });
}

static void test_exec_stack(void **state)
{
	if (!build("execstack", "-static -z execstack"))
		skip();
	side_by_side(&(struct spec){ .path = tmp_path("execstack") });
}

static void test_script(void **state)
{
	char *argv[] = { "script", "one", "two", NULL };
	const char *p = tmp_path("script.sh");
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs("#!/bin/sh -e\necho hi\n", f);
	fclose(f);
	assert_int_equal(chmod(p, 0755), 0);
	side_by_side(&(struct spec){ .path = p, .argv = argv });
	/* Nested: a script whose interpreter is a script. */
	p = tmp_path("script2.sh");
	f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "#!%s  arg with spaces \n", tmp_path("script.sh"));
	fclose(f);
	assert_int_equal(chmod(p, 0755), 0);
	side_by_side(&(struct spec){ .path = p, .argv = argv });
}

/* ---- Arguments, environment and the stack limit ---- */

static void test_argc_zero(void **state)
{
	char *argv[] = { NULL };

	side_by_side(&(struct spec){ .path = "/bin/true", .argv = argv });
}

static char **big_argv(int n, size_t len)
{
	char **v = calloc((size_t)n + 2, sizeof(char *));

	v[0] = "big";
	for (int i = 1; i <= n; i++) {
		v[i] = malloc(len + 1);
		memset(v[i], 'a' + i % 26, len);
		v[i][len] = '\0';
	}
	return v;
}

static void free_argv(char **v)
{
	for (int i = 1; v[i]; i++)
		free(v[i]);
	free(v);
}

static void test_big_args(void **state)
{
	char **v = big_argv(7, 5000), **env = big_argv(40, 3000);

	side_by_side(&(struct spec){ .path = "/bin/true", .argv = v });
	side_by_side(&(struct spec){ .path = "/bin/true", .argv = v, .envp = env });
	free_argv(v);
	free_argv(env);
}

static void test_e2big(void **state)
{
	/* One string longer than MAX_ARG_STRLEN, and strings past the limit. */
	char **one = big_argv(1, 32 * 4096), **many = big_argv(20, 120000), **ok = big_argv(1, 32 * 4096 - 1);

	side_by_side(&(struct spec){ .path = "/bin/true", .argv = one });
	side_by_side(&(struct spec){ .path = "/bin/true", .argv = ok });
	side_by_side(&(struct spec){ .path = "/bin/true", .argv = many });
	/* A small stack limit still allows ARG_MAX (128 KiB) of arguments... */
	side_by_side(&(struct spec){ .path = "/bin/true", .argv = many, .rlim_stack = 1 << 20 });
	free_argv(many);
	many = big_argv(7, 5000);
	/* ...but not more stack pages than the limit. */
	side_by_side(&(struct spec){ .path = "/bin/true", .argv = many, .rlim_stack = 32 << 10 });
	free_argv(one);
	free_argv(many);
	free_argv(ok);
}

static void test_rlimit_stack(void **state)
{
	char **v = big_argv(7, 5000);

	side_by_side(&(struct spec){ .path = "/bin/true", .rlim_stack = 64 << 10 });
	side_by_side(&(struct spec){ .path = "/bin/true", .argv = v, .rlim_stack = 64 << 10 });
	side_by_side(&(struct spec){ .path = "/bin/true", .rlim_stack = 1ull << 30 });
	side_by_side(&(struct spec){ .path = "/bin/true", .rlim_stack = RLIM_INFINITY });
	free_argv(v);
}

static void test_legacy_layout(void **state)
{
	side_by_side(&(struct spec){ .path = "/bin/true", .legacy = true });
	if (build("spie", "-static-pie"))
		side_by_side(&(struct spec){ .path = tmp_path("spie"), .legacy = true });
	if (build("static", "-static"))
		side_by_side(&(struct spec){ .path = tmp_path("static"), .legacy = true });
}

/* ---- Broken files ---- */

/* Copy src to tmpdir/name, apply `patch` to the bytes, keep `len` bytes (0: all). */
static const char *broken(const char *src, const char *name, size_t len, mode_t mode,
			  void (*patch)(unsigned char *, size_t, void *), void *arg)
{
	const char *p = tmp_path(name);
	int in = open(src, O_RDONLY), out;
	struct stat st;
	unsigned char *buf;

	assert_true(in >= 0);
	assert_int_equal(fstat(in, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_int_equal(read(in, buf, (size_t)st.st_size), st.st_size);
	close(in);
	if (patch)
		patch(buf, (size_t)st.st_size, arg);
	if (!len || len > (size_t)st.st_size)
		len = (size_t)st.st_size;
	unlink(p);
	out = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(out >= 0);
	assert_int_equal(write(out, buf, len), (ssize_t)len);
	close(out);
	assert_int_equal(chmod(p, mode), 0);
	free(buf);
	return p;
}

struct poke {
	size_t off;
	unsigned width;
	uint64_t val;
};

static void do_poke(unsigned char *b, size_t n, void *arg)
{
	const struct poke *p = arg;

	assert_true(p->off + p->width <= n);
	memcpy(b + p->off, &p->val, p->width);
}

static Elf64_Phdr *phdrs(unsigned char *b, unsigned *n)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)b;

	*n = eh->e_phnum;
	return (Elf64_Phdr *)(b + eh->e_phoff);
}

static Elf64_Phdr *nth_load(unsigned char *b, unsigned k)
{
	unsigned n;
	Elf64_Phdr *ph = phdrs(b, &n);

	for (unsigned i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && k-- == 0)
			return &ph[i];
	fail_msg("no PT_LOAD %u", k);
	return NULL;
}

static void set_interp(unsigned char *b, size_t size, void *arg)
{
	const char *name = arg;
	unsigned n;
	Elf64_Phdr *ph = phdrs(b, &n);

	for (unsigned i = 0; i < n; i++) {
		if (ph[i].p_type != PT_INTERP)
			continue;
		if (!strcmp(name, "<nonul>")) {
			b[ph[i].p_offset + ph[i].p_filesz - 1] = 'x';
		} else if (!strcmp(name, "<size1>")) {
			ph[i].p_filesz = 1;
		} else if (!strcmp(name, "<size5000>")) {
			ph[i].p_filesz = 5000;
		} else if (!strcmp(name, "<offeof>")) {
			ph[i].p_offset = size + 10;
		} else {
			/* The name must fit where the old one was (padding follows it). */
			memcpy(b + ph[i].p_offset, name, strlen(name) + 1);
			ph[i].p_filesz = strlen(name) + 1;
		}
		return;
	}
	fail_msg("no PT_INTERP");
}

static void loads_to_null(unsigned char *b, size_t size, void *arg)
{
	unsigned n;
	Elf64_Phdr *ph = phdrs(b, &n);

	for (unsigned i = 0; i < n; i++)
		if (ph[i].p_type == (uintptr_t)arg)
			ph[i].p_type = PT_NULL;
}

static void overlap(unsigned char *b, size_t size, void *arg)
{
	nth_load(b, 2)->p_vaddr = nth_load(b, 1)->p_vaddr;
}

static void unordered(unsigned char *b, size_t size, void *arg)
{
	Elf64_Phdr *x = nth_load(b, 1), *y = nth_load(b, 2), t = *x;

	*x = *y;
	*y = t;
}

static void filesz_gt_memsz(unsigned char *b, size_t size, void *arg)
{
	nth_load(b, 0)->p_memsz = nth_load(b, 0)->p_filesz - 8;
}

static void memsz_huge(unsigned char *b, size_t size, void *arg)
{
	nth_load(b, 3)->p_memsz = 1ull << 50;
}

static void align_bad(unsigned char *b, size_t size, void *arg)
{
	nth_load(b, 0)->p_align = 3;
}

static void vaddr_low(unsigned char *b, size_t size, void *arg)
{
	nth_load(b, 0)->p_vaddr = 0x1000;
}

static void offset_misaligned(unsigned char *b, size_t size, void *arg)
{
	nth_load(b, 1)->p_offset += 8;
}

static void run_path(const char *p)
{
	side_by_side(&(struct spec){ .path = p });
}

static void test_errors_open(void **state)
{
	run_path("/nonexistent/program");
	run_path("");
	run_path("/tmp");
	run_path(broken("/bin/true", "noexec", 0, 0644, NULL, NULL));
	run_path("/dev/null");
	run_path("/bin/true/x");
}

static void test_errors_header(void **state)
{
	const char *t = "/bin/true";

	run_path(broken(t, "empty", 1, 0755, do_poke, &(struct poke){ 0, 1, 0 }));
	run_path(broken(t, "trunc64", 64, 0755, NULL, NULL));
	run_path(broken(t, "trunc100", 100, 0755, NULL, NULL));
	run_path(broken(t, "trunc800", 800, 0755, NULL, NULL));
	run_path(broken(t, "badmagic", 0, 0755, do_poke, &(struct poke){ 3, 1, 'G' }));
	run_path(broken(t, "machine", 0, 0755, do_poke, &(struct poke){ 18, 2, EM_386 }));
	run_path(broken(t, "etrel", 0, 0755, do_poke, &(struct poke){ 16, 2, ET_REL }));
	run_path(broken(t, "phnum0", 0, 0755, do_poke, &(struct poke){ 56, 2, 0 }));
	run_path(broken(t, "phnum1200", 0, 0755, do_poke, &(struct poke){ 56, 2, 1200 }));
	run_path(broken(t, "phnumffff", 0, 0755, do_poke, &(struct poke){ 56, 2, 0xffff }));
	run_path(broken(t, "phentsize", 0, 0755, do_poke, &(struct poke){ 54, 2, 32 }));
	run_path(broken(t, "phoff_eof", 0, 0755, do_poke, &(struct poke){ 32, 8, 1 << 30 }));
	/* The loader checks the machine only: a 32-bit class header still loads as 64-bit. */
	run_path(broken(t, "class32", 0, 0755, do_poke, &(struct poke){ 4, 1, ELFCLASS32 }));
	/* Text that is neither ELF nor "#!". */
	run_path(broken(t, "text", 6, 0755, do_poke, &(struct poke){ 0, 8, 0x0a6f6c6c6568ull }));
}

static void test_errors_interp(void **state)
{
	const char *t = "/bin/true";

	broken(t, "plain-noexec", 0, 0644, NULL, NULL);
	broken(t, "plain-etrel", 0, 0755, do_poke, &(struct poke){ 16, 2, ET_REL });
	broken(t, "plain-machine", 0, 0755, do_poke, &(struct poke){ 18, 2, EM_386 });
	broken(t, "plain-phnum0", 0, 0755, do_poke, &(struct poke){ 56, 2, 0 });
	broken(t, "plain-text", 6, 0755, do_poke, &(struct poke){ 0, 8, 0x0a6f6c6c6568ull });
	run_path(broken(t, "i-missing", 0, 0755, set_interp, "/nonexistent/ld.so"));
	run_path(broken(t, "i-dir", 0, 0755, set_interp, "/tmp"));
	run_path(broken(t, "i-noexec", 0, 0755, set_interp, tmp_path("plain-noexec")));
	run_path(broken(t, "i-etrel", 0, 0755, set_interp, tmp_path("plain-etrel")));
	run_path(broken(t, "i-machine", 0, 0755, set_interp, tmp_path("plain-machine")));
	run_path(broken(t, "i-phnum0", 0, 0755, set_interp, tmp_path("plain-phnum0")));
	run_path(broken(t, "i-text", 0, 0755, set_interp, tmp_path("plain-text")));
	run_path(broken(t, "i-nonul", 0, 0755, set_interp, "<nonul>"));
	run_path(broken(t, "i-size1", 0, 0755, set_interp, "<size1>"));
	run_path(broken(t, "i-size5000", 0, 0755, set_interp, "<size5000>"));
	run_path(broken(t, "i-offeof", 0, 0755, set_interp, "<offeof>"));
	/* No PT_LOAD at all: nothing is mapped but the stack and the vDSO. */
	run_path(broken(t, "dyn-noload", 0, 0755, loads_to_null, (void *)(uintptr_t)PT_LOAD));
}

/* Segments that don't fit: Linux kills the task after the point of no return. */
static void test_errors_segments(void **state)
{
	char s[128];
	struct stat st;

	run_path(broken("/bin/true", "trunc4096", 4096, 0755, NULL, NULL));
	assert_int_equal(stat("/bin/true", &st), 0);
	run_path(broken("/bin/true", "trunc-half", (size_t)st.st_size / 2, 0755, NULL, NULL));
	if (!build("static", "-static"))
		skip();
	snprintf(s, sizeof(s), "%s", tmp_path("static"));
	assert_int_equal(stat(s, &st), 0);
	run_path(broken(s, "s-trunc-half", (size_t)st.st_size / 2, 0755, NULL, NULL));
	run_path(broken(s, "s-filesz", 0, 0755, filesz_gt_memsz, NULL));
	run_path(broken(s, "s-memsz-huge", 0, 0755, memsz_huge, NULL));
	run_path(broken(s, "s-misaligned", 0, 0755, offset_misaligned, NULL));
	/* These load (a later segment simply replaces an earlier one). */
	run_path(broken(s, "s-overlap", 0, 0755, overlap, NULL));
	run_path(broken(s, "s-unordered", 0, 0755, unordered, NULL));
	run_path(broken(s, "s-align-bad", 0, 0755, align_bad, NULL));
	run_path(broken(s, "s-vaddr-low", 0, 0755, vaddr_low, NULL));
	run_path(broken(s, "s-noload", 0, 0755, loads_to_null, (void *)(uintptr_t)PT_LOAD));
	run_path(broken(s, "s-nostack", 0, 0755, loads_to_null, (void *)(uintptr_t)PT_GNU_STACK));
}

/* ---- aspace's own contract ---- */

static char *space_maps(struct as_mm *mm)
{
	return mm_text(mm, as_mm_write_maps);
}

/* exec over an exec'd image gives what exec of a fresh space gives; the old files are let go. */
static void test_exec_twice(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *a, *b;
	char *ma, *mb;

	assert_int_equal(as_mm_new(m, &a), 0);
	assert_int_equal(as_mm_new(m, &b), 0);
	assert_int_equal(as_mm_exec(a, "/bin/ls", NULL, NULL, NULL), 0);
	assert_int_equal(as_syscall(a, SYS_brk, 0x555555600000ull, 0, 0, 0, 0, 0), 0x555555600000l);
	assert_int_equal(as_mm_exec(a, "/bin/true", NULL, NULL, NULL), 0);
	assert_int_equal(as_mm_exec(b, "/bin/true", NULL, NULL, NULL), 0);
	ma = space_maps(a);
	mb = space_maps(b);
	assert_string_equal(ma, mb);
	free(ma);
	free(mb);
	as_mm_put(a);
	as_mm_put(b);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* A shared space is refused; a forked child execs on its own, the parent keeps its image. */
static void test_shared_and_forked(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm, *child;
	char *before, *after;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_mm_exec(mm, "/bin/true", NULL, NULL, NULL), 0);
	before = space_maps(mm);
	as_mm_get(mm);
	assert_int_equal(as_mm_exec(mm, "/bin/ls", NULL, NULL, NULL), -EBUSY);
	as_mm_put(mm);
	assert_int_equal(as_mm_fork(mm, &child), 0);
	assert_int_equal(as_mm_exec(child, "/bin/ls", NULL, NULL, NULL), 0);
	after = space_maps(mm);
	assert_string_equal(before, after);
	free(after);
	after = space_maps(child);
	assert_non_null(strstr(after, "/usr/bin/ls"));
	free(after);
	free(before);
	as_mm_put(child);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* The new image works: the stack grows, brk grows the heap, the program text reads back. */
static void test_image_usable(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_exec_info info;
	struct as_mm *mm;
	unsigned char ehdr[4];
	uint64_t argc;

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_mm_exec(mm, "/bin/true", (char *[]){ "true", "x", NULL }, NULL, &info), 0);
	assert_int_equal(as_read(mm, info.stack_pointer, &argc, 8, NULL), 0);
	assert_int_equal(argc, 2);
	assert_int_equal(as_read(mm, info.load_base, ehdr, 4, NULL), 0);
	assert_memory_equal(ehdr, ELFMAG, 4);
	assert_int_equal(as_read(mm, info.interp_base, ehdr, 4, NULL), 0);
	assert_memory_equal(ehdr, ELFMAG, 4);
	assert_int_equal(as_fetch(mm, info.entry, ehdr, 1, NULL), 0);
	/* 200 KiB below the stack pointer: the stack region grows down to it. */
	assert_int_equal(as_write(mm, info.stack_pointer - (200 << 10), "x", 1, NULL), 0);
	assert_int_equal(as_syscall(mm, SYS_brk, info.start_brk + 3 * PAGE_SIZE, 0, 0, 0, 0, 0),
			 (long)(info.start_brk + 3 * PAGE_SIZE));
	assert_int_equal(as_write(mm, info.start_brk, "heap", 4, NULL), 0);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* as_mm_exec_at: the images where a randomized run put them; a bad place changes nothing. */
static void test_exec_at(void **state)
{
	struct as_machine *m = t_machine_new(64);
	struct as_exec_place at = { .load_base = 0x55668d548000, .interp_base = 0x7f403c86b000 };
	struct as_exec_info info;
	struct as_mm_counters c;
	struct as_mm *mm;
	unsigned char ehdr[4];

	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_mm_exec_at(mm, "/bin/true", (char *[]){ "true", NULL }, NULL, &at, &info), 0);
	assert_int_equal(info.load_base, at.load_base);
	assert_int_equal(info.interp_base, at.interp_base);
	assert_int_equal(as_read(mm, at.load_base, ehdr, 4, NULL), 0);
	assert_memory_equal(ehdr, ELFMAG, 4);
	assert_int_equal(as_read(mm, at.interp_base, ehdr, 4, NULL), 0);
	assert_memory_equal(ehdr, ELFMAG, 4);
	/* Half a place: the interpreter where exec puts it without randomization. */
	at.interp_base = 0;
	assert_int_equal(as_mm_exec_at(mm, "/bin/true", (char *[]){ "true", NULL }, NULL, &at, &info), 0);
	assert_int_equal(info.load_base, 0x55668d548000);
	assert_true(info.interp_base >= 0x7ff000000000);
	/* Not page-aligned, or beyond the task size: -EINVAL, the image untouched. */
	as_mm_get_counters(mm, &c);
	at.interp_base = 0x7f403c86b800;
	assert_int_equal(as_mm_exec_at(mm, "/bin/true", (char *[]){ "true", NULL }, NULL, &at, NULL), -EINVAL);
	at = (struct as_exec_place){ .load_base = 1ull << 47 };
	assert_int_equal(as_mm_exec_at(mm, "/bin/true", (char *[]){ "true", NULL }, NULL, &at, NULL), -EINVAL);
	{
		struct as_mm_counters c2;

		as_mm_get_counters(mm, &c2);
		assert_int_equal(c2.map_count, c.map_count);
	}
	/* Both images at one place: the second cannot be mapped, after the point of no return. */
	at = (struct as_exec_place){ .load_base = 0x7f403c86b000, .interp_base = 0x7f403c86b000 };
	assert_true(as_mm_exec_at(mm, "/bin/true", (char *[]){ "true", NULL }, NULL, &at, NULL) < 0);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/* The special regions: [vdso] reads as the host's vDSO image, [vvar] as zeroes counted nowhere. */
static void test_vdso_contents(void **state)
{
	struct as_machine *m = t_machine_new(64);
	const unsigned char *host = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
	struct as_mm_counters c0, c1;
	struct as_mm *mm, *child;
	unsigned char page[4096], zero[4096] = { 0 };
	uint64_t vdso = 0, auxv[2 * MAX_AUXV], sp, argc, *a;
	char *smaps, *line;

	if (!host)
		skip();
	assert_int_equal(as_mm_new(m, &mm), 0);
	assert_int_equal(as_mm_exec(mm, "/bin/true", NULL, NULL, &(struct as_exec_info){ 0 }), 0);
	/* AT_SYSINFO_EHDR from the new stack: argc, argv[], NULL, (no envp) NULL, auxv. */
	{
		struct as_mm_layout lay;

		as_mm_get_layout(mm, &lay);
		sp = lay.start_stack;
	}
	assert_int_equal(as_read(mm, sp, &argc, 8, NULL), 0);
	assert_int_equal(as_read(mm, sp + 8 * (argc + 3), auxv, 8 * 44, NULL), 0);
	for (a = auxv; a[0] != AT_NULL && a < auxv + 44; a += 2)
		if (a[0] == AT_SYSINFO_EHDR)
			vdso = a[1];
	assert_true(vdso != 0);
	as_mm_get_counters(mm, &c0);
	assert_int_equal(as_read(mm, vdso, page, sizeof(page), NULL), 0);
	assert_memory_equal(page, host, sizeof(page));
	assert_int_equal(as_read(mm, vdso - 4096, page, sizeof(page), NULL), 0); /* [vvar_vclock] */
	assert_memory_equal(page, zero, sizeof(page));
	assert_int_equal(as_fetch(mm, vdso + 4096, page, 16, NULL), 0);
	as_mm_get_counters(mm, &c1);
	assert_int_equal(c1.rss_file - c0.rss_file, 2);
	assert_int_equal(c1.rss_anon, c0.rss_anon);
	assert_int_equal(c1.min_flt - c0.min_flt, 3);
	smaps = mm_text(mm, as_mm_write_smaps);
	line = strstr(smaps, "[vvar_vclock]");
	assert_non_null(line);
	assert_non_null(strstr(line, "Rss:                   0 kB"));
	assert_true(strstr(line, "Rss:                   0 kB") < strstr(line, "[vdso]"));
	line = strstr(smaps, "[vdso]");
	assert_non_null(strstr(line, "Rss:                   8 kB"));
	free(smaps);
	assert_int_equal(as_mm_check(mm, stderr), 0);
	/* A child refaults them; writing needs mprotect, and then copies. */
	assert_int_equal(as_mm_fork(mm, &child), 0);
	assert_int_equal(as_read(child, vdso, page, 64, NULL), 0);
	assert_memory_equal(page, host, 64);
	assert_int_equal(as_write(child, vdso, "x", 1, NULL), -EFAULT);
	assert_int_equal(as_syscall(child, SYS_mprotect, vdso, 4096, PROT_READ | PROT_WRITE, 0, 0, 0), 0);
	assert_int_equal(as_write(child, vdso, "x", 1, NULL), 0);
	assert_int_equal(as_read(mm, vdso, page, 1, NULL), 0);
	assert_int_equal(page[0], host[0]);
	assert_int_equal(as_mm_check(child, stderr), 0);
	as_mm_put(child);
	as_mm_put(mm);
	t_assert_machine_clean(m);
	as_machine_free(m);
}

/*
 * Fail every allocation an exec makes, one at a time: before the point of
 * no return the old image stays; after it the space is emptied; nothing
 * leaks either way.
 */
static void sweep(const char *path)
{
	struct as_machine *m = t_machine_new(64);
	struct as_mm *mm = marked_space(m);
	uint64_t before, n_allocs;
	char *ref;

	before = as_machine_alloc_count(m);
	assert_int_equal(as_mm_exec(mm, path, NULL, NULL, NULL), 0);
	n_allocs = as_machine_alloc_count(m) - before;
	ref = space_maps(mm);
	as_mm_put(mm);
	for (uint64_t n = 1; n <= n_allocs + 1; n++) {
		struct as_mm_counters cnt;
		char *b, *a;
		int rc;

		mm = marked_space(m);
		b = space_maps(mm);
		as_machine_fail_nth(m, n);
		rc = as_mm_exec(mm, path, NULL, NULL, NULL);
		as_machine_fail_nth(m, 0);
		assert_int_equal(as_mm_check(mm, stderr), 0);
		a = space_maps(mm);
		as_mm_get_counters(mm, &cnt);
		if (rc == 0)
			assert_string_equal(a, ref);
		else if (cnt.map_count != 0)
			assert_string_equal(a, b);
		else if (rc != -EFAULT) /* a failed padzero or stack write */
			assert_int_equal(rc, -ENOMEM);
		free(a);
		free(b);
		as_mm_put(mm);
		t_assert_machine_clean(m);
	}
	free(ref);
	as_machine_free(m);
}

static void test_fail_nth(void **state)
{
	sweep("/bin/true");
	if (build("static", "-static"))
		sweep(tmp_path("static"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bin_true),
		cmocka_unit_test(test_bin_ls),
		cmocka_unit_test(test_python3),
		cmocka_unit_test(test_static),
		cmocka_unit_test(test_static_pie),
		cmocka_unit_test(test_static_pie_2m_align),
		cmocka_unit_test(test_static_pie_64k_align),
		cmocka_unit_test(test_pie_aligned),
		cmocka_unit_test(test_no_pie),
		cmocka_unit_test(test_exec_stack),
		cmocka_unit_test(test_script),
		cmocka_unit_test(test_argc_zero),
		cmocka_unit_test(test_big_args),
		cmocka_unit_test(test_e2big),
		cmocka_unit_test(test_rlimit_stack),
		cmocka_unit_test(test_legacy_layout),
		cmocka_unit_test(test_errors_open),
		cmocka_unit_test(test_errors_header),
		cmocka_unit_test(test_errors_interp),
		cmocka_unit_test(test_errors_segments),
		cmocka_unit_test(test_exec_twice),
		cmocka_unit_test(test_shared_and_forked),
		cmocka_unit_test(test_image_usable),
		cmocka_unit_test(test_exec_at),
		cmocka_unit_test(test_vdso_contents),
		cmocka_unit_test(test_fail_nth),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
