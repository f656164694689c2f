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
