/*
 * aspace trace -- PROG ARGS...: run a real program under Debian's strace
 * with address randomization off (personality ADDR_NO_RANDOMIZE, which
 * strace and the program inherit), recording its memory calls, execve and
 * the clone/fork family with descriptors resolved to paths
 * (`strace -f -y -s 4096 -e trace=memory,execve,clone,clone3,fork,vfork`),
 * then replay the log on aspace (cmd_replay.c) and print the summary.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd.h"

#include "replay.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/wait.h>
#include <unistd.h>

static void trace_usage(FILE *out)
{
	fprintf(out,
		"usage: aspace trace [--json] [-v] [-o LOG] -- PROG [ARGS...]\n\n"
		"Run PROG under strace with address randomization off, recording what it does\n"
		"to its memory (mmap, munmap, mprotect, brk, mremap, madvise, the mlock family,\n"
		"msync, mincore), its execve calls and its forks and threads, then replay the\n"
		"log on aspace and compare every result with the kernel's (as `aspace replay`).\n"
		"PROG's output goes to standard error.\n\n"
		"options:\n"
		"  -o, --log LOG  keep the log there (default: a temporary file, removed)\n"
		"      --json     the replay as one JSON document\n"
		"  -v, --verbose  every call, not only those that differ\n"
		"  -h, --help     this text\n\n"
		"The last line reads `replay: N calls, M matched, K differed`.\n"
		"exit status: 0 every call matched, 1 a call differed (or PROG could not be traced),\n"
		"2 a usage error\n");
}

/*
 * Run strace on argv (NULL-terminated) into logpath, randomization off;
 * PROG's output to stderr, or nowhere when quiet.
 */
static int record(char *const *argv, const char *logpath, bool quiet, int *status)
{
	int n = 0, ws;
	pid_t pid;

	while (argv[n])
		n++;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char **sargv = calloc((size_t)n + 16, sizeof(char *));
		int k = 0;

		if (!sargv)
			_exit(127);
		/* The program's output must not mix with the summary (or the JSON). */
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0) {
				dup2(null, 1);
				dup2(null, 2);
			}
		} else {
			dup2(2, 1);
		}
		if (personality(ADDR_NO_RANDOMIZE) == -1)
			fprintf(stderr, "aspace trace: personality(ADDR_NO_RANDOMIZE): %s\n", strerror(errno));
		sargv[k++] = "strace";
		sargv[k++] = "-f";
		sargv[k++] = "-y";
		sargv[k++] = "-s";
		sargv[k++] = "4096";
		sargv[k++] = "-e";
		sargv[k++] = "trace=memory,execve,clone,clone3,fork,vfork";
		sargv[k++] = "-o";
		sargv[k++] = (char *)logpath;
		sargv[k++] = "--";
		for (int i = 0; i < n; i++)
			sargv[k++] = argv[i];
		sargv[k] = NULL;
		execvp("strace", sargv);
		fprintf(stderr, "aspace trace: strace: %s (scripts/deps.sh installs it)\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	*status = ws;
	return WIFEXITED(ws) && WEXITSTATUS(ws) == 127 ? -1 : 0;
}

int trace_demo(FILE *out, const char *report)
{
	char logpath[4096], err[512];
	char *prog[] = { "/bin/ls", "/", NULL };
	const char *tmp = getenv("TMPDIR");
	struct replay_opts ro = { .name = "ls /", .show_exit = true };
	struct st_log log;
	int fd, ws, status;

	if (access("/usr/bin/strace", X_OK) && access("/bin/strace", X_OK)) {
		fprintf(out, "\n(aspace trace needs strace, which scripts/deps.sh installs: its part of the demo is skipped)\n");
		return 77;
	}
	snprintf(logpath, sizeof(logpath), "%s/aspace-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkostemp(logpath, O_CLOEXEC);
	if (fd < 0)
		return 1;
	close(fd);
	fprintf(out, "\nLast, a real program: `aspace trace -- ls /` runs ls under strace with randomization off,\n"
		     "then replays every memory call it made on aspace — exec through aspace's ELF loader,\n"
		     "ld.so mapping libc, the heap — and compares each result with the kernel's.\n");
	fflush(out);
	if (record(prog, logpath, true, &ws) || st_parse(logpath, &log, err, sizeof(err))) {
		unlink(logpath);
		fprintf(out, "(tracing ls failed)\n");
		return 1;
	}
	unlink(logpath);
	status = report ? report_log(&log, &ro, report, false, out) : replay_run(&log, &ro, out);
	st_free(&log);
	return status;
}

int cmd_trace(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct replay_opts ro = { 0 };
	const char *keep = NULL, *tmp = getenv("TMPDIR");
	char logpath[4096], err[512];
	struct st_log log;
	int c, status, ws, fd;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			keep = optarg;
			break;
		case 'j':
			ro.json = true;
			break;
		case 'v':
			ro.verbose = true;
			break;
		case 'h':
			trace_usage(stdout);
			return EXIT_OK;
		default:
			return tool_usage_error("trace", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind == argc)
		return tool_usage_error("trace", "which program? (aspace trace -- PROG ARGS...)");
	if (keep) {
		snprintf(logpath, sizeof(logpath), "%s", keep);
		fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else {
		snprintf(logpath, sizeof(logpath), "%s/aspace-trace-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		fd = mkostemp(logpath, O_CLOEXEC);
	}
	if (fd < 0) {
		fprintf(stderr, "aspace trace: %s: %s\n", logpath, strerror(errno));
		return EXIT_USAGE;
	}
	close(fd);

	if (record(argv + optind, logpath, false, &ws)) {
		if (!keep)
			unlink(logpath);
		return EXIT_CHECK;
	}
	if (!ro.json)
		printf("aspace trace: %s exited with status %d%s%s\n", argv[optind], WIFEXITED(ws) ? WEXITSTATUS(ws) : -1,
		       keep ? "; log in " : "", keep ? keep : "");
	ro.name = keep ? keep : argv[optind];
	if (st_parse(logpath, &log, err, sizeof(err))) {
		fprintf(stderr, "aspace trace: %s\n", err);
		if (!keep)
			unlink(logpath);
		return EXIT_CHECK;
	}
	if (!keep)
		unlink(logpath);
	status = replay_run(&log, &ro, stdout);
	st_free(&log);
	return status;
}
