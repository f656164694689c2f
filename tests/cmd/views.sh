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
finish
