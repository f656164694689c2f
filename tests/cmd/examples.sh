#!/bin/sh
# Every example scenario runs and holds its own expectations.
. "$SRC/tests/cmd/lib.sh"

n=0
for f in "$SRC"/examples/*.aspace; do
	n=$((n + 1))
	run 0 "$ASPACE" run -q "$f"
	no_crash "$f"
done
[ "$n" -ge 4 ] || fail "expected the tour and three lessons, found $n scripts"
finish
