#!/bin/sh
# aspace diff: the fixed-seed campaign of `make check` (3,000 ops of
# seed 1 on the kernel and on aspace), its output, and its usage errors.
. "$SRC/tests/cmd/lib.sh"

ops=3000
[ "${SANITIZED:-}" = 1 ] && ops=300

run 2 "$ASPACE" diff --ops
run 2 "$ASPACE" diff --seed x
run 2 "$ASPACE" diff extra
run 0 "$ASPACE" diff --help
has "$OUT" "usage: aspace diff"

# Its temporary files (kept when it diverges, for the reproducers) go with $WORK.
TMPDIR="$WORK" "$ASPACE" diff --seed 1 --ops "$ops" --save "$WORK/repro" >"$OUT" 2>"$ERR"
status=$?
no_crash "diff"
has "$OUT" "orc host: zero page"
last=$(tail -n 1 "$OUT")
case $last in
"diff: "*" ops, "*" divergences") ;;
*) fail "last line '$last'" ;;
esac
# No divergence is allowed. What other tasks on the host can change from
# run to run (LRU batches drained: LazyFree, Referenced) is re-run by
# `aspace diff` itself and not counted (docs/DIFF.md).
known=0
found=$(printf '%s\n' "$last" | sed -n 's/^diff: [0-9]* ops, \([0-9]*\) divergences$/\1/p')
if [ -n "$found" ] && [ "$found" -le "$known" ]; then
	status=0
	echo "aspace diff --seed 1: $found divergences, within the budget of $known known ones" >&2
fi
if [ "$status" != 0 ]; then
	fail "aspace diff --seed 1 --ops $ops found divergences (exit $status, $found; $known known):"
	grep -E '^(divergence|sequence|  the reproducer|  like)' "$OUT" >&2
	# Each reproducer must run with `aspace run` and show its divergence.
	for f in "$WORK"/repro/*.aspace; do
		[ -e "$f" ] || continue
		echo "--- $f" >&2
		"$ASPACE" run -q "$f" >/dev/null 2>"$WORK/run.err"
		echo "aspace run exits $?: $(head -n 1 "$WORK/run.err")" >&2
	done
fi
finish
