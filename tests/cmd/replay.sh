#!/bin/sh
# aspace replay: logs written by strace (recorded now, and by hand), the
# pairing of unfinished and resumed calls, randomization, and malformed logs
# (an error naming the line, exit 2, never a crash).
. "$SRC/tests/cmd/lib.sh"

# A hand-written log (its results are the kernel's for /bin/true under
# setarch -R): two threads whose calls interleave, a fork, a vfork child's
# execve before its parent's result, file mappings by path, one of them of
# a deleted file.
cat >hand.log <<'L'
100 execve("/bin/true", ["/bin/true"], 0x7fffffffe690 /* 41 vars */) = 0
100 brk(NULL)                         = 0x55555555e000
100 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7fc0000
100 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7ffff7dbe990, parent_tid=0x7ffff7dbe990, exit_signal=0, stack=0x7ffff75be000, stack_size=0x7fff80, tls=0x7ffff7dbe6c0} => {parent_tid=[101]}, 88) = 101
101 mmap(NULL, 12288, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>
100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>
101 <... mmap resumed>)               = 0x7ffff7fbd000
100 <... mmap resumed>)               = 0x7ffff7fbc000
101 munmap(0x7ffff7fbd000, 12288)     = 0
101 +++ exited with 0 +++
100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3</etc/passwd>, 0) = 0x7ffff7fbf000
100 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_SHARED, 4</tmp/aspace-gone-file>(deleted), 0) = 0x7ffff7fbd000
100 mincore(0x7ffff7fc0000, 8192, [0, 0]) = 0
100 munmap(0x1001, 4096) = -1 EINVAL (Invalid argument)
100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_HUGETLB|21<<MAP_HUGE_SHIFT, -1, 0) = -1 EBADF (Bad file descriptor)
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7ffff7dcfa10) = 102
102 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7fbb000
102 +++ exited with 0 +++
100 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=102, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---
100 vfork( <unfinished ...>
103 execve("/bin/true", ["true"], 0x7fffffffe6f8 /* 41 vars */ <unfinished ...>
100 <... vfork resumed>)              = 103
103 <... execve resumed>)             = 0
103 brk(NULL)                         = 0x55555555e000
103 +++ exited with 0 +++
100 execve("/nonexistent/prog", ["prog"], 0x7fffffffe6f8 /* 41 vars */) = -1 ENOENT (No such file or directory)
100 +++ exited with 0 +++
L
run 0 "$ASPACE" replay -v hand.log
has "$OUT" "4 process"
has "$OUT" "replay: 15 calls, 15 matched, 0 differed"
has "$OUT" "/tmp/aspace-gone-file (deleted) cannot be opened"
no_crash hand.log

# A difference is listed with its line.
sed 's/= 0x7ffff7fbc000/= 0x7ffff7fbb000/' hand.log >wrong.log
run 1 "$ASPACE" replay wrong.log
has "$OUT" "wrong.log:8: mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7fbb000  (aspace: 0x7ffff7fbc000)"
has "$OUT" "replay: 15 calls, 14 matched, 1 differed"

# JSON.
run 0 "$ASPACE" replay --json hand.log
json .summary.calls=15 .summary.differed=0 .processes=4 '.calls[2].line=3' '.calls[2].kernel=0x7ffff7fc0000'

# Recorded with randomization on: noticed, replayed at the recorded addresses.
if command -v strace >/dev/null 2>&1 && [ "$(cat /proc/sys/kernel/randomize_va_space)" != 0 ]; then
	strace -f -y -s 4096 -e trace=memory,execve,clone,clone3,fork,vfork -o rnd.log /bin/true
	"$ASPACE" replay rnd.log >"$OUT" 2>"$ERR"
	has "$OUT" "recorded with address randomization on: replayed at the recorded addresses"
	# The program and ld.so where the log's relro mprotects say exec put them: every call matches.
	has "$OUT" "/bin/true placed as the log's relro mprotects say: the program at 0x"
	has "$OUT" ", 0 differed"
	no_crash rnd.log
	# A "#!" script and its children: the interpreters placed the same way.
	printf '#!/bin/sh\nls / >/dev/null\n' >rnd.sh
	chmod +x rnd.sh
	strace -f -y -s 4096 -e trace=memory,execve,clone,clone3,fork,vfork -o rnd2.log ./rnd.sh
	"$ASPACE" replay rnd2.log >"$OUT" 2>"$ERR"
	has "$OUT" "./rnd.sh placed as the log's relro mprotects say"
	has "$OUT" "/usr/bin/ls placed as the log's relro mprotects say"
	has "$OUT" ", 0 differed"
	no_crash rnd2.log
	# Its views and report show the images at the recorded addresses.
	"$ASPACE" replay rnd.log >"$OUT" 2>"$ERR"
	prog=$(sed -n 's/.*\/bin\/true placed as .* the program at 0x\([0-9a-f]*\),.*/\1/p' "$OUT")
	[ -n "$prog" ] || fail "the replay did not say where the program went"
	run 0 "$ASPACE" maps --step 1 rnd.log
	has "$OUT" "$prog-"
fi

# Malformed logs: exit 2, the line named, no crash.
malformed() {
	name=$1
	expect_err=$2
	run 2 "$ASPACE" replay "$name"
	has "$ERR" "$expect_err"
	no_crash "$name"
}
head -c 700 hand.log >truncated.log
malformed truncated.log "truncated.log:$(($(wc -l <truncated.log) + 1)):"
printf 'hello world\n' >garbage.log
malformed garbage.log "garbage.log:1: not a line strace writes"
printf '1 mmap(NULL, 4096\n' >cut.log
malformed cut.log "cut.log:1:"
printf '7 <... mmap resumed>) = 0\n' >orphan.log
malformed orphan.log "orphan.log:1:"
printf '7 mmap(NULL, 1, 2, 3, -1, 0) = \n' >noresult.log
malformed noresult.log "noresult.log:1: no result"
printf '7 mmap(NULL, 1 <unfinished ...>\n7 munmap(0, 1 <unfinished ...>\n' >twice.log
malformed twice.log "twice.log:2:"
head -c 4096 /dev/urandom | tr '\000' x >random.log
run 2 "$ASPACE" replay random.log
no_crash random.log
printf 'a\0b\n' >nul.log
malformed nul.log "not a text file"
run 2 "$ASPACE" replay /nonexistent/log
has "$ERR" "/nonexistent/log"
# Calls it cannot read count as differences, not crashes.
printf '1 mmap(NULL, 4096, PROT_BOGUS, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7fbf000\n1 munmap(1, 2, 3) = 0\n' >args.log
run 1 "$ASPACE" replay args.log
has "$OUT" "replay: 2 calls, 0 matched, 2 differed"
no_crash args.log

# Usage errors.
run 2 "$ASPACE" replay
run 2 "$ASPACE" replay a b
run 0 "$ASPACE" replay --help
has "$OUT" "usage: aspace replay"
finish
