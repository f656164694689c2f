#!/bin/sh
# aspace maps | stats | pagetable at chosen steps, processes and lines.
. "$SRC/tests/cmd/lib.sh"
T=$SRC/examples/tour.aspace

run 0 "$ASPACE" maps --step 0 "$T"
has "$OUT" "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
[ "$(wc -l <"$OUT")" -eq 1 ] || fail "step 0 has only the gate area"
run 0 "$ASPACE" maps --step 1 "$T"; has "$OUT" "7ffff7fef000-7ffff7fff000 rw-p"
run 0 "$ASPACE" maps "$T"; has "$OUT" "[heap]"
run 0 "$ASPACE" maps --line 12 "$T"; hasnt "$OUT" "[heap]"
run 0 "$ASPACE" maps -p child --step 6 "$T"; has "$OUT" "7ffff7fef000"
run 2 "$ASPACE" maps -p child "$T"; has "$ERR" "child exited at step"
run 2 "$ASPACE" maps -p nobody "$T"; has "$ERR" "no process called 'nobody'"
run 2 "$ASPACE" maps --step 999 "$T"; has "$ERR" "beyond its end"

run 0 "$ASPACE" stats --step 4 "$T"
has "$OUT" "rss_anon                5 pages"
has "$OUT" "mmap_base    0x7ffff7fff000"
has "$OUT" "Node 0, zone   Normal"

run 0 "$ASPACE" pagetable --step 3 "$T" '$buf'
has "$OUT" "page-table walk of 0x7ffff7fef000"
has "$OUT" "P RW US A D NX"
has "$OUT" "(anon, refcount 1, mapcount 1"
run 0 "$ASPACE" pagetable --step 5 "$T" '$buf'
has "$OUT" "P ro US A D NX"
has "$OUT" "refcount 2, mapcount 2"
run 0 "$ASPACE" pagetable --step 1 "$T" 0x7ffff7fef000
has "$OUT" "not present"
run 0 "$ASPACE" pagetable "$T" '$buf' 64K
[ "$(grep -c '^0x7ffff7' "$OUT")" -eq 16 ] || fail "one line per page"
run 2 "$ASPACE" pagetable --step 0 "$T" '$buf'; has "$ERR" '$buf is not assigned by step 0'
run 2 "$ASPACE" pagetable "$T" '$nope'; has "$ERR" 'ADDR:1:1: error: undefined $nope'
run 2 "$ASPACE" pagetable "$T" '12q'; has "$ERR" "bad number '12q'"
run 2 "$ASPACE" pagetable "$T" 0 1 2; has "$ERR" "unexpected argument '2'"
run 0 "$ASPACE" pagetable "$T" 0xffffffffff600000; has "$OUT" "outside user space"
# The walk is the library's as_mm_walk: the zero page and guard markers are named.
cat >guard.aspace <<'S'
$a = mmap 0 16K PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS
read $a 1
madvise $a+8K 4K MADV_GUARD_INSTALL
S
run 0 "$ASPACE" pagetable guard.aspace '$a+8K'; has "$OUT" "PTE[509] = 0x0000000000000400  not present: guard marker (MADV_GUARD_INSTALL)"
run 0 "$ASPACE" pagetable guard.aspace '$a' 16K
has "$OUT" "P ro US A NX special  frame"; has "$OUT" "(zero page, refcount"; has "$OUT" "not present           guard marker"
run 0 "$ASPACE" pagetable --json guard.aspace '$a+8K'; json .guard=true .missing=PTE .mapped=false
run 0 "$ASPACE" pagetable --json guard.aspace '$a'; json .page.kind=zero\ page .bits.special=true

# A strace LOG (told from a script by its first line), replayed up to a step
# or a line; -p takes a pid of the log. logs/true.log: /bin/true with a
# thread, a fork and a vfork child (its results are this machine's kernel's).
L=$HERE/logs/true.log
run 0 "$ASPACE" maps --step 2 "$L"
has "$OUT" "/usr/bin/true"; has "$OUT" "[stack]"; hasnt "$OUT" "7ffff7fc0000-7ffff7fc2000"
run 0 "$ASPACE" maps --step 3 "$L"; has "$OUT" "7ffff7fc0000-7ffff7fc2000 rw-p 00000000 00:00 0"
run 0 "$ASPACE" maps --line 3 "$L"; has "$OUT" "7ffff7fc0000-7ffff7fc2000 rw-p"
run 0 "$ASPACE" maps --line 2 "$L"; hasnt "$OUT" "7ffff7fc0000-7ffff7fc2000"
# The end: every task has exited; the default is the last step's task, right before its exit.
run 0 "$ASPACE" maps "$L"
has "$OUT" "7ffff7fbf000-7ffff7fc0000 r--p 00000000"; has "$OUT" "/etc/passwd"
has "$ERR" "pid 100 exits at line 27: shown right before, after step 21 (line 26)"
# The forked child, chosen by pid: its own mapping, shown right before its exit.
run 0 "$ASPACE" maps -p 102 "$L"; has "$OUT" "7ffff7fbb000-7ffff7fbd000 r--p"; has "$ERR" "pid 102 exits at line 18"
run 0 "$ASPACE" maps -p 100 --step 14 "$L"; hasnt "$OUT" "7ffff7fbb000"; hasnt "$ERR" "exits"
run 2 "$ASPACE" maps -p 102 --step 3 "$L"; has "$ERR" "no pid 102 in $L by step 3"
run 2 "$ASPACE" maps -p 999 "$L"; has "$ERR" "no pid 999"
run 2 "$ASPACE" maps -p child "$L"; has "$ERR" "-p wants a pid of the log, got 'child'"
run 2 "$ASPACE" maps --step 0 "$L"; has "$ERR" "nothing of $L is replayed by step 0"
run 2 "$ASPACE" maps --step 99 "$L"; has "$ERR" "has 22 steps; --step 99 is beyond its end"
run 0 "$ASPACE" maps --json --step 5 "$L"
json .pid=101 .step=5 .line=7 .process=true .before_exit=null '.regions[0].start=0x555555554000'
run 0 "$ASPACE" stats --step 3 "$L"
has "$OUT" "true (pid 100) after step 3 (line 3) of $L"; has "$OUT" "map_count              13"
run 0 "$ASPACE" stats --json --step 3 "$L"; json .counters.map_count=13 .pid=100
run 0 "$ASPACE" pagetable --step 3 "$L" 0x7ffff7fc0000; has "$OUT" "PTE[448] = 0x0000000000000000  not present"
run 0 "$ASPACE" pagetable --json --step 3 "$L" 0x7ffff7fc0000 8K; json .pages#=2 '.pages[1].addr=0x7ffff7fc1000'
run 2 "$ASPACE" pagetable "$L" '$a'; has "$ERR" "ADDR: bad number '\$a'"
run 2 "$ASPACE" pagetable "$L" 0x1000 12q; has "$ERR" "LENGTH: bad number '12q'"
run 2 "$ASPACE" pagetable "$L" 0xffffffffffffffffT; has "$ERR" "ADDR: bad number"   # the suffix overflows
# aspace run takes scripts only, and says what to do with a log.
run 2 "$ASPACE" run "$L"; has "$ERR" "a strace log, not a script (aspace replay, report, maps"
# Malformed logs: the file and line named, exit 2.
printf '1 mmap(NULL, 4096\n' >cut.log
run 2 "$ASPACE" maps cut.log; has "$ERR" "cut.log:1:"; no_crash cut.log
printf '7 mmap(NULL, 1 <unfinished ...>\n7 munmap(0, 1 <unfinished ...>\n' >twice.log
run 2 "$ASPACE" stats twice.log; has "$ERR" "twice.log:2:"; no_crash twice.log
finish
