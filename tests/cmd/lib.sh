# Helpers for the command's tests: sourced by every tests/cmd/*.sh.
# Environment (set by CTest): ASPACE, JSONCHECK, SRC (the source tree).
set -u
: "${ASPACE:?ASPACE must name the aspace binary}"
: "${SRC:?SRC must name the source tree}"
HERE=$SRC/tests/cmd
WORK=$(mktemp -d "${TMPDIR:-/tmp}/aspace-cmd-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
FAILS=0
OUT=$WORK/out
ERR=$WORK/err

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# run STATUS CMD...: run CMD (stdout to $OUT, stderr to $ERR) and check its exit status.
run() {
	want=$1
	shift
	"$@" >"$OUT" 2>"$ERR"
	got=$?
	if [ "$got" != "$want" ]; then
		fail "exit status $got, expected $want: $*"
		echo "--- stdout:" >&2; head -n 40 "$OUT" >&2
		echo "--- stderr:" >&2; head -n 40 "$ERR" >&2
		return 1
	fi
	return 0
}

# has FILE TEXT: FILE contains TEXT (fixed string).
has() {
	grep -qF -- "$2" "$1" || { fail "$(basename "$1") lacks '$2'"; head -n 30 "$1" >&2; }
}

hasnt() {
	if grep -qF -- "$2" "$1"; then fail "$(basename "$1") has '$2'"; fi
}

# json CHECK...: $OUT is JSON and every PATH=VALUE holds.
json() {
	"$JSONCHECK" "$@" <"$OUT" || fail "JSON check failed: $*"
}

# A crash (signal) is never an acceptable outcome.
no_crash() {
	if grep -qE 'AddressSanitizer|runtime error:|Segmentation fault|Aborted' "$ERR"; then
		fail "crashed: $*"
		cat "$ERR" >&2
	fi
}

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS failure(s)" >&2
		exit 1
	fi
	echo "ok"
	exit 0
}
