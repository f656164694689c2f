#!/bin/sh
# A long `aspace diff` campaign, the shape docs/DIFF.md reports: SEEDS
# fresh seeds from FIRST, OPS ops each, half of them as root and half
# `--unprivileged`, in two lanes (one per core). Each seed's output goes to
# OUT/seedS.txt; the last line sums it up, and the exit status is 0 only
# when no seed found a divergence and none failed to finish.
#
#   scripts/campaign.sh [ASPACE] — environment: FIRST (1001), SEEDS (20),
#   OPS (10000), OUT (campaign-out), TIMEOUT per seed in seconds (1800)
set -u

ASPACE=${1:-build/tools/aspace/aspace}
FIRST=${FIRST:-1001}
SEEDS=${SEEDS:-20}
OPS=${OPS:-10000}
OUT=${OUT:-campaign-out}
TIMEOUT=${TIMEOUT:-1800}

if [ ! -x "$ASPACE" ]; then
	echo "campaign: $ASPACE: no such program (make build first)" >&2
	exit 2
fi
case "$FIRST$SEEDS$OPS$TIMEOUT" in
*[!0-9]*)
	echo "campaign: FIRST, SEEDS, OPS and TIMEOUT must be numbers" >&2
	exit 2
	;;
esac
mkdir -p "$OUT" || exit 2

# lane FROM TO [--unprivileged]: the seeds FROM..TO, one after the other
lane() {
	s=$1
	while [ "$s" -le "$2" ]; do
		timeout "$TIMEOUT" "$ASPACE" diff --seed "$s" --ops "$OPS" $3 >"$OUT/seed$s.txt" 2>&1
		echo "exit status $?" >>"$OUT/seed$s.txt"
		s=$((s + 1))
	done
}

half=$((SEEDS / 2))
last=$((FIRST + SEEDS - 1))
echo "campaign: seeds $FIRST-$last ($half as root, $((SEEDS - half)) --unprivileged), $OPS ops each, logs in $OUT/"
lane "$FIRST" $((FIRST + half - 1)) "" &
lane $((FIRST + half)) "$last" --unprivileged &
wait

ops=0 divergences=0 unfinished=0
s=$FIRST
while [ "$s" -le "$last" ]; do
	f="$OUT/seed$s.txt"
	line=$(grep '^diff: ' "$f" | tail -n 1)
	if [ -z "$line" ]; then
		unfinished=$((unfinished + 1))
		echo "campaign: seed $s did not finish ($(tail -n 1 "$f"))"
	else
		set -- $line
		ops=$((ops + $2))
		divergences=$((divergences + $4))
		[ "$4" = 0 ] || echo "campaign: seed $s: $4 divergence(s), see $f"
	fi
	s=$((s + 1))
done
echo "campaign: $ops ops over $SEEDS seeds, $divergences divergences, $unfinished unfinished"
[ "$divergences" = 0 ] && [ "$unfinished" = 0 ]
