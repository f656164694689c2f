#!/bin/sh
# aspace report: one self-contained page, checked in headless Chromium:
# it loads without script errors and shows the regions of a known scenario.
. "$SRC/tests/cmd/lib.sh"

cat >known.aspace <<'S'
machine ram=64M
$a = mmap 0x7ff000000000 64K PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED
write $a fill 0x11 16K
fork child
switch child
mprotect $a+16K 16K PROT_READ
$s = mmap 0x7ff100000000 16K PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_GROWSDOWN
brkbase 0x555555559000
brk 0x555555561000
S
run 0 "$ASPACE" report known.aspace -o known.html
has "$OUT" "wrote known.html: 7 steps, 2 processes"
has known.html '<script id="aspace-data" type="application/json">{'
hasnt known.html '@ASPACE_DATA@'
# self-contained: no network references
if grep -qiE '(src|href)="(https?:)?//' known.html; then fail "the page loads something from the network"; fi
run 0 "$ASPACE" report known.aspace -o known.html

# A strace LOG (logs/true.log: /bin/true with a thread, a fork and a vfork
# child, its results this machine's kernel's): told from a script by its
# first line, replayed, one snapshot per step of the replay.
L=$HERE/logs/true.log
run 0 "$ASPACE" report "$L" -o log.html
has "$OUT" "replay: 15 calls, 15 matched, 0 differed"
has "$OUT" "wrote log.html: 22 steps, 4 processes"
has log.html '<script id="aspace-data" type="application/json">{'
run 0 "$ASPACE" report --json "$L" -o -
json .format=aspace-report/1 .source.kind=log .steps#=23 .processes#=4 \
	'.steps[3].line=3' '.steps[3].result=0x7ffff7fc0000 (aspace: the same)' '.steps[3].process=0' \
	'.processes[0].name=true' '.processes[0].execs[0].path=/bin/true' '.processes[0].died=22' \
	'.processes[1].how=thread' '.processes[2].how=fork' '.processes[2].parent=0' \
	'.processes[3].how=vfork' '.processes[3].execs[0].step=18' '.steps[22].procs#=0' \
	'.steps[5].process=1' '.steps[5].procs#=1' '.steps[15].procs#=2'
# From standard input too; a difference from the kernel is status 1, the page written all the same.
sed 's/= 0x7ffff7fc0000/= 0x7ffff7fc1000/' "$L" >wrong.log
run 1 "$ASPACE" report wrong.log -o wrong.html
has "$OUT" "replay: 15 calls, 14 matched, 1 differed"
[ -s wrong.html ] || fail "no page for a log that differs"
run 0 sh -c "\"$ASPACE\" report --json - -o - <\"$L\""
json .source.name='<stdin>' .steps#=23
# Malformed logs: the file and line named, exit 2, nothing written.
printf '100 execve("/bin/true", ["/bin/true"], 0x7fffffffe690 /* 41 vars */) = 0\n100 mmap(NULL, 4096\n' >cut.log
run 2 "$ASPACE" report cut.log -o cut.html; has "$ERR" "cut.log:2:"; no_crash cut.log
[ ! -e cut.html ] || fail "a page for a malformed log"
printf '7 <... mmap resumed>) = 0\n' >orphan.log
run 2 "$ASPACE" report orphan.log; has "$ERR" "orphan.log:1:"; no_crash orphan.log
printf '1 mmap(NULL, 1, 2, 3, -1, 0) = \n' >noresult.log
run 2 "$ASPACE" report --json noresult.log; has "$ERR" "noresult.log:1: no result"
printf '1 mmap(NULL, 4096)\0\n' >nul.log
run 2 "$ASPACE" report nul.log; has "$ERR" "nul.log: neither a script nor a log (it holds NUL bytes)"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
	echo "SKIP: chromium is not installed (scripts/deps.sh installs it); the page was not checked in a browser"
	exit 77
fi
profile=$WORK/profile
mkdir -p "$profile"
timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--disable-dev-shm-usage --user-data-dir="$profile" --enable-logging=stderr --v=0 \
	--virtual-time-budget=5000 --dump-dom "file://$WORK/known.html" >dom.html 2>chrome.log
rc=$?
[ $rc -eq 0 ] || { fail "chromium exit status $rc"; tail -n 20 chrome.log >&2; }
has dom.html 'id="status" data-status="ready"'
hasnt dom.html 'id="status" data-status="error"'
if grep -q "Uncaught" chrome.log; then fail "script errors:"; grep "Uncaught" chrome.log >&2; fi
# The last step is shown: both processes, the child's split region and its heap and stack.
has dom.html 'data-process="main"'
has dom.html 'data-process="child"'
has dom.html '<td>7ff000000000-7ff000004000</td><td>rw-p</td>'
has dom.html '<td>7ff000004000-7ff000008000</td><td>r--p</td>'
has dom.html '<td>7ff000008000-7ff000010000</td><td>rw-p</td>'
has dom.html '<td>7ff000000000-7ff000010000</td><td>rw-p</td>'
has dom.html 'data-kind="heap"'
has dom.html 'data-kind="stack"'
has dom.html '<td>555555559000-555555561000</td>'
has dom.html 'child (pid 2)'
[ "$(grep -o 'class="region-row' dom.html | wc -l)" -eq 8 ] || fail "expected 8 region rows at the last step"

# The log's page: it opens at the last step where a process lives (the log
# ends with every exit), the first process right before its exit; its tree.
timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--disable-dev-shm-usage --user-data-dir="$profile" --enable-logging=stderr --v=0 \
	--virtual-time-budget=5000 --dump-dom "file://$WORK/log.html" >logdom.html 2>chrome-log.log
has logdom.html 'id="status" data-status="ready"'
if grep -q "Uncaught" chrome-log.log; then fail "script errors in the log's page:"; grep "Uncaught" chrome-log.log >&2; fi
has logdom.html 'step 21 / 22'
has logdom.html 'data-process="true"'
has logdom.html '<td>555555554000-555555556000</td><td>r--p</td>'
has logdom.html '<td>7ffff7fc0000-7ffff7fc2000</td><td>rw-p</td>'
has logdom.html '<td>7ffff7fbf000-7ffff7fc0000</td><td>r--p</td>'
has logdom.html 'data-kind="stack"'
has logdom.html '/etc/passwd'
has logdom.html '-1 ENOENT (aspace: the same)'
has logdom.html 'true (pid 102)'
has logdom.html 'vfork at step 17, exec /bin/true at step 18, exited at step 20'
[ "$(grep -o 'class="region-row' logdom.html | wc -l)" -eq 17 ] || fail "expected 17 region rows at the log's step 21"

# An earlier step through the URL: step 1, one process with one region and the gate area.
# (Once is enough: the sanitizer build, whose page is the same, skips this second load.)
[ -n "${SANITIZED:-}" ] && finish
timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--disable-dev-shm-usage --user-data-dir="$profile" --virtual-time-budget=5000 \
	--dump-dom "file://$WORK/known.html#step=1" >dom1.html 2>/dev/null
has dom1.html 'data-status="ready"'
[ "$(grep -o 'class="region-row' dom1.html | wc -l)" -eq 2 ] || fail "expected 2 region rows at step 1"
finish
