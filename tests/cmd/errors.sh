#!/bin/sh
# Malformed scripts: every tests/cmd/bad/*.aspace starts with "# L:C: message";
# running it must exit 2 with "FILE:L:C: error: message" first on stderr, never crash.
. "$SRC/tests/cmd/lib.sh"

n=0
for f in "$HERE"/bad/*.aspace; do
	n=$((n + 1))
	want=$(head -n 1 "$f" | sed 's/^# //')
	lc=${want%%: *}
	msg=${want#*: }
	run 2 "$ASPACE" run "$f" || continue
	no_crash "$f"
	first=$(head -n 1 "$ERR")
	if [ "$first" != "$f:$lc: error: $msg" ]; then
		fail "$(basename "$f"): expected '$f:$lc: error: $msg', got '$first'"
	fi
	# the line and a caret follow
	sed -n 3p "$ERR" | grep -q '\^' || fail "$(basename "$f"): no caret line"
	# views of a bad script fail the same way (a few suffice)
	if [ $n -le 3 ]; then
		run 2 "$ASPACE" maps "$f"
		no_crash "maps $f"
	fi
done
[ "$n" -ge 30 ] || fail "only $n bad scripts"

# Random garbage never crashes the parser.
i=0
while [ $i -lt 12 ]; do
	head -c 300 /dev/urandom | tr -d '\000' >garbage.aspace
	"$ASPACE" run garbage.aspace >"$OUT" 2>"$ERR"
	rc=$?
	[ $rc -le 2 ] || fail "garbage: exit status $rc"
	no_crash garbage
	i=$((i + 1))
done
finish
