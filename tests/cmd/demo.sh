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
# The tour compiled into the command is examples/tour.aspace.
run 0 "$ASPACE" demo --script "$SRC/examples/tour.aspace" -o tour2.html
finish
