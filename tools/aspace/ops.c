/* The op table of the scenario language; see ops.h. */
#include "ops.h"

#include <ctype.h>
#include <string.h>

#define ADDR(n) { n, 'a', FAM_NUM, false, false, 0 }
#define LEN(n) { n, 'l', FAM_NUM, false, false, 0 }
#define FLAGS(n, f) { n, 'f', f, false, false, 0 }
#define OPT_FLAGS(n, f, d) { n, 'f', f, true, true, d }
#define NAME(n) { n, 'w', FAM_NUM, false, false, 0 }

static const struct opdesc ops[] = {
	{ "mmap", OP_MMAP, OPF_STEP | OPF_RESULT, 'a', NULL,
	  "map memory (FD -1 and OFFSET 0 by default)", 6,
	  { ADDR("addr"), LEN("length"), FLAGS("prot", FAM_PROT), FLAGS("flags", FAM_MAP),
	    { "fd", 'd', FAM_NUM, true, true, UINT64_MAX }, { "offset", 'x', FAM_NUM, true, true, 0 } } },
	{ "munmap", OP_MUNMAP, OPF_STEP | OPF_RESULT, 'd', NULL, "unmap a range", 2,
	  { ADDR("addr"), LEN("length") } },
	{ "mprotect", OP_MPROTECT, OPF_STEP | OPF_RESULT, 'd', NULL, "change the protection of a range", 3,
	  { ADDR("addr"), LEN("length"), FLAGS("prot", FAM_PROT) } },
	{ "mremap", OP_MREMAP, OPF_STEP | OPF_RESULT, 'a', NULL,
	  "grow, shrink or move a mapping", 5,
	  { ADDR("old_address"), LEN("old_size"), LEN("new_size"), OPT_FLAGS("flags", FAM_MREMAP, 0),
	    { "new_address", 'a', FAM_NUM, true, true, 0 } } },
	{ "madvise", OP_MADVISE, OPF_STEP | OPF_RESULT, 'd', NULL, "advise about a range (MADV_*)", 3,
	  { ADDR("addr"), LEN("length"), FLAGS("advice", FAM_MADV) } },
	{ "mlock", OP_MLOCK, OPF_STEP | OPF_RESULT, 'd', NULL, "lock a range in memory", 2,
	  { ADDR("addr"), LEN("length") } },
	{ "mlock2", OP_MLOCK2, OPF_STEP | OPF_RESULT, 'd', NULL, "lock a range, MLOCK_ONFAULT allowed", 3,
	  { ADDR("addr"), LEN("length"), OPT_FLAGS("flags", FAM_MLOCK, 0) } },
	{ "munlock", OP_MUNLOCK, OPF_STEP | OPF_RESULT, 'd', NULL, "unlock a range", 2,
	  { ADDR("addr"), LEN("length") } },
	{ "mlockall", OP_MLOCKALL, OPF_STEP | OPF_RESULT, 'd', NULL, "lock the whole space (MCL_*)", 1,
	  { FLAGS("flags", FAM_MCL) } },
	{ "munlockall", OP_MUNLOCKALL, OPF_STEP | OPF_RESULT, 'd', NULL, "unlock the whole space", 0, { { 0 } } },
	{ "msync", OP_MSYNC, OPF_STEP | OPF_RESULT, 'd', NULL, "write back a range (MS_*)", 3,
	  { ADDR("addr"), LEN("length"), FLAGS("flags", FAM_MS) } },
	{ "mincore", OP_MINCORE, OPF_STEP | OPF_RESULT, 'd', NULL,
	  "which pages are resident; the vector goes to VEC in the space", 3,
	  { ADDR("addr"), LEN("length"), ADDR("vec") } },
	{ "brk", OP_BRK, OPF_STEP | OPF_RESULT, 'a', NULL, "set the program break (brk 0 reads it)", 1,
	  { ADDR("addr") } },
	{ "syscall", OP_SYSCALL, OPF_STEP | OPF_RESULT, 'd', "NR [ARGS...]",
	  "any system call by number or SYS_* name, raw arguments", 0, { { 0 } } },

	{ "read", OP_READ, OPF_STEP, 0, NULL, "read bytes (printed as a hex dump)", 2,
	  { ADDR("addr"), LEN("length") } },
	{ "write", OP_WRITE, OPF_STEP, 0, "ADDR \"TEXT\" | ADDR fill BYTE LENGTH",
	  "write a string or LENGTH copies of a byte", 0, { { 0 } } },
	{ "fetch", OP_FETCH, OPF_STEP, 0, NULL, "fetch instructions (needs an executable page)", 2,
	  { ADDR("addr"), { "length", 'l', FAM_NUM, true, true, 1 } } },
	{ "touch", OP_TOUCH, OPF_STEP, 0, NULL, "read one byte of every page of a range", 2,
	  { ADDR("addr"), LEN("length") } },

	{ "fork", OP_FORK, OPF_STEP | OPF_RESULT, 'd', NULL, "fork the current process; the child is called NAME", 1,
	  { NAME("name") } },
	{ "thread", OP_THREAD, OPF_STEP | OPF_RESULT, 'd', NULL, "a task NAME sharing the current space (CLONE_VM)", 1,
	  { NAME("name") } },
	{ "switch", OP_SWITCH, 0, 0, NULL, "make NAME the current process", 1, { NAME("name") } },
	{ "exit", OP_EXIT, OPF_STEP, 0, NULL, "the current (or named) process exits", 1,
	  { { "name", 'w', FAM_NUM, true, false, 0 } } },
	{ "exec", OP_EXEC, OPF_STEP | OPF_RESULT, 'd', "PATH [ARGS...]",
	  "replace the current space with a program of this machine", 0, { { 0 } } },
	{ "setrlimit", OP_SETRLIMIT, OPF_STEP | OPF_RESULT, 'd', NULL,
	  "set a limit: setrlimit RLIMIT_STACK 8M unlimited", 3,
	  { FLAGS("resource", FAM_RLIMIT), { "cur", 'r', FAM_NUM, false, false, 0 },
	    { "max", 'r', FAM_NUM, false, false, 0 } } },
	{ "setcaps", OP_SETCAPS, OPF_STEP | OPF_RESULT, 'd', NULL, "give the process capabilities (CAP_*)", 1,
	  { FLAGS("caps", FAM_CAP) } },
	{ "setids", OP_SETIDS, OPF_STEP | OPF_RESULT, 'd', NULL,
	  "the user and group file permission checks use (fsuid, fsgid): setids 65534 65534", 2,
	  { { "uid", 'd', FAM_NUM, false, false, 0 }, { "gid", 'd', FAM_NUM, false, false, 0 } } },
	{ "setlayout", OP_SETLAYOUT, OPF_STEP, 0, "KEY=VALUE...",
	  "set layout fields (start_code= ... brk= start_stack= ...) as a real process had them (PR_SET_MM_MAP)",
	  0, { { 0 } } },
	{ "regions", OP_REGIONS, OPF_STEP, 0, "then smaps entries, then end",
	  "a real process's regions from its smaps (VmFlags:, Anonymous:), without pages, as the oracle builds them",
	  0, { { 0 } } },
	{ "brkbase", OP_BRKBASE, OPF_STEP | OPF_RESULT, 'd', NULL,
	  "start the heap at ADDR (start_brk = brk), as exec does", 1, { ADDR("addr") } },

	{ "open", OP_OPEN, OPF_STEP | OPF_RESULT, 'd', NULL, "open a host file for file mappings", 2,
	  { { "path", 'p', FAM_NUM, false, false, 0 }, OPT_FLAGS("flags", FAM_OPEN, 0) } },
	{ "tmpfile", OP_TMPFILE, OPF_STEP | OPF_RESULT, 'd', NULL, "a new unlinked host file of SIZE zero bytes", 1,
	  { LEN("size") } },
	{ "pwrite", OP_PWRITE, OPF_STEP | OPF_RESULT, 'd', "FD OFFSET \"TEXT\"",
	  "write to a host file as another process would (pwrite(2))", 0, { { 0 } } },
	{ "ftruncate", OP_FTRUNCATE, OPF_STEP | OPF_RESULT, 'd', NULL,
	  "resize a host file; every space sees the new size (as_file_truncate)", 2,
	  { { "fd", 'd', FAM_NUM, false, false, 0 }, LEN("length") } },
	{ "close", OP_CLOSE, OPF_STEP | OPF_RESULT, 'd', NULL, "close a descriptor from open or tmpfile", 1,
	  { { "fd", 'd', FAM_NUM, false, false, 0 } } },

	{ "maps", OP_MAPS, OPF_VIEW, 0, NULL, "print /proc/PID/maps", 0, { { 0 } } },
	{ "smaps", OP_SMAPS, OPF_VIEW, 0, NULL, "print /proc/PID/smaps, or only the region holding ADDR", 1,
	  { { "addr", 'a', FAM_NUM, true, false, 0 } } },
	{ "pagetable", OP_PAGETABLE, OPF_VIEW, 0, NULL,
	  "walk the page tables for ADDR (all four levels), or every page of [ADDR, ADDR+LENGTH)", 2,
	  { ADDR("addr"), { "length", 'l', FAM_NUM, true, false, 0 } } },
	{ "counters", OP_COUNTERS, OPF_VIEW, 0, NULL, "print the process's counters (VM sizes, RSS, faults)", 0,
	  { { 0 } } },
	{ "buddyinfo", OP_BUDDYINFO, OPF_VIEW, 0, NULL, "print the machine's free memory per buddy order", 0,
	  { { 0 } } },
	{ "check", OP_CHECK, OPF_VIEW, 0, NULL, "run every invariant checker (a failure makes the exit status 1)", 0,
	  { { 0 } } },
	{ "layout", OP_LAYOUT, OPF_VIEW, 0, NULL, "print the space's layout (mmap_base, brk, stack)", 0,
	  { { 0 } } },
	{ "ps", OP_PS, OPF_VIEW, 0, NULL, "list the processes", 0, { { 0 } } },

	{ "machine", OP_MACHINE, 0, 0, "KEY=VALUE...",
	  "machine settings, before the first step: ram= zero_page= overcommit= ...", 0, { { 0 } } },
	{ "say", OP_SAY, 0, 0, "TEXT", "print a line of narration", 0, { { 0 } } },
	{ "expect", OP_EXPECT, 0, 0, "A == B | maps [START END] ... end",
	  "check a value (== != < <= > >=) or the maps lines", 0, { { 0 } } },
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

const struct opdesc *op_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPS; i++)
		if (strlen(ops[i].name) == len && !memcmp(ops[i].name, name, len))
			return &ops[i];
	return NULL;
}

const struct opdesc *op_desc(enum op op)
{
	for (size_t i = 0; i < NOPS; i++)
		if (ops[i].op == op)
			return &ops[i];
	return NULL;
}

const char *op_name(enum op op)
{
	const struct opdesc *d = op_desc(op);

	if (op == OP_LET)
		return "let";
	if (op == OP_EXPECT_MAPS)
		return "expect maps";
	return d ? d->name : "?";
}

const char *op_suggest(const char *name, size_t len)
{
	const char *best = NULL;
	int best_d = 3;

	for (size_t i = 0; i < NOPS; i++) {
		int d = edit_distance(name, len, ops[i].name, strlen(ops[i].name), 2);

		if (d < best_d) {
			best_d = d;
			best = ops[i].name;
		}
	}
	return best;
}

const char *op_usage(const struct opdesc *d, char *buf, size_t len)
{
	size_t pos = (size_t)snprintf(buf, len, "%s", d->name);

	if (d->usage) {
		snprintf(buf + pos, len - pos, " %s", d->usage);
		return buf;
	}
	for (int i = 0; i < d->nspec && pos < len; i++) {
		const char *n = d->spec[i].name;

		pos += (size_t)snprintf(buf + pos, len - pos, " %s", d->spec[i].opt ? "[" : "");
		for (; *n && pos + 1 < len; n++)
			buf[pos++] = (char)toupper((unsigned char)*n);
		buf[pos] = '\0';
		if (d->spec[i].opt && pos + 1 < len) {
			buf[pos++] = ']';
			buf[pos] = '\0';
		}
	}
	return buf;
}

void ops_print_help(FILE *out)
{
	static const struct {
		unsigned first, last;
		const char *title;
	} groups[] = {
		{ OP_MMAP, OP_SYSCALL, "system calls (as_syscall)" },
		{ OP_READ, OP_TOUCH, "accesses (as a CPU makes them; a bad one prints its signal)" },
		{ OP_FORK, OP_REGIONS, "processes" },
		{ OP_OPEN, OP_CLOSE, "host files" },
		{ OP_MAPS, OP_PS, "views" },
		{ OP_MACHINE, OP_EXPECT, "the rest" },
	};

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		fprintf(out, "\n%s:\n", groups[g].title);
		for (size_t i = 0; i < NOPS; i++) {
			char usage[160];

			if (ops[i].op < groups[g].first || ops[i].op > groups[g].last)
				continue;
			op_usage(&ops[i], usage, sizeof(usage));
			if (strlen(usage) > 40)
				fprintf(out, "  %s\n  %-40s %s\n", usage, "", ops[i].help);
			else
				fprintf(out, "  %-40s %s\n", usage, ops[i].help);
		}
	}
}
