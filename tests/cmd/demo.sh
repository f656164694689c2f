#!/bin/sh
# aspace demo: the tour runs, passes its own expectations and writes its report, quickly.
. "$SRC/tests/cmd/lib.sh"

start=$(date +%s)
run 0 "$ASPACE" demo -o tour.html
end=$(date +%s)
[ $((end - start)) -lt 30 ] || fail "the demo took $((end - start)) s"
for w in "1. Demand paging" "2. Copy-on-write after fork" "3. mprotect splits" "4. The heap grows" \
	"SIGSEGV SEGV_MAPERR at 0x1000" "check: every invariant holds" "wrote tour.html"; do
	has "$OUT" "$w"
done
[ -s tour.html ] || fail "no report"
# Then `aspace trace -- ls /`, replayed, and the report of that replay (REPORT with -trace).
if command -v strace >/dev/null 2>&1; then
	has "$OUT" "Last, a real program: \`aspace trace -- ls /\`"
	has "$OUT" "The maps of pid"
	has "$OUT" "matched, 0 differed"
	has "$OUT" "wrote tour-trace.html:"
	[ -s tour-trace.html ] || fail "no report of the trace"
	has tour-trace.html '"kind":"log"'
	has tour-trace.html 'libc.so.6'
	run 0 "$ASPACE" demo -o tour3.html --trace-report ls.html
	has "$OUT" "wrote ls.html:"
	[ -s ls.html ] || fail "no report of the trace at --trace-report"
	[ ! -e tour3-trace.html ] || fail "--trace-report did not replace the default name"
fi
run 2 "$ASPACE" demo --trace-report
# The tour compiled into the command is examples/tour.aspace.
run 0 "$ASPACE" demo --script "$SRC/examples/tour.aspace" -o tour2.html
finish
