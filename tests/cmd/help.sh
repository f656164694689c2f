#!/bin/sh
# aspace help, COMMAND --help, unknown commands and options: clear messages, exit 2.
. "$SRC/tests/cmd/lib.sh"

run 2 "$ASPACE"; has "$ERR" "usage: aspace COMMAND"
run 0 "$ASPACE" help; has "$OUT" "usage: aspace COMMAND"
for c in run maps stats pagetable report demo machine bench; do
	has "$OUT" "  $c "
done
run 0 "$ASPACE" --help
run 0 "$ASPACE" version; has "$OUT" "aspace "
run 2 "$ASPACE" frobnicate; has "$ERR" "unknown command 'frobnicate'"
run 2 "$ASPACE" --frobnicate; has "$ERR" "unknown option '--frobnicate'"
run 2 "$ASPACE" help frobnicate; has "$ERR" "unknown command 'frobnicate'"

for c in run maps stats pagetable report demo machine bench; do
	run 0 "$ASPACE" "$c" --help && has "$OUT" "usage: aspace $c"
	run 2 "$ASPACE" "$c" --bogus && has "$ERR" "aspace $c: unknown option '--bogus'"
	no_crash "$c --bogus"
done
run 0 "$ASPACE" maps -h; has "$OUT" "usage: aspace maps"
run 0 "$ASPACE" help pagetable; has "$OUT" "usage: aspace pagetable"
run 2 "$ASPACE" report -Z; has "$ERR" "unknown option '-Z'"
# run --help documents the language
run 0 "$ASPACE" run --help
for w in mmap munmap mprotect mremap madvise mlock mlock2 munlock mlockall munlockall msync mincore brk \
	read write fetch touch fork switch exit exec setrlimit maps smaps pagetable counters buddyinfo check \
	expect machine say; do
	has "$OUT" "  $w"
done

# Missing or extra arguments
run 2 "$ASPACE" run && has "$ERR" "which script?"
for c in maps stats pagetable report; do
	run 2 "$ASPACE" "$c" && has "$ERR" "which script or log?"
done
run 2 "$ASPACE" run a b; has "$ERR" "one script at a time"
run 2 "$ASPACE" run --step; has "$ERR" "aspace run:"
run 2 "$ASPACE" run --step x a; has "$ERR" "--step wants a number"
run 2 "$ASPACE" maps --step -3 a; has "$ERR" "--step wants a number"
run 2 "$ASPACE" maps --step 1 --line 2 a; has "$ERR" "not both"
run 2 "$ASPACE" maps --process; has "$ERR" "wants a value"
run 2 "$ASPACE" report -o; has "$ERR" "-o wants a file name"
run 2 "$ASPACE" machine --ram lots; has "$ERR" "--ram wants a number"
run 2 "$ASPACE" demo extra; has "$ERR" "unexpected argument 'extra'"
run 2 "$ASPACE" pagetable x.aspace; has "$ERR" "which address?"
run 2 "$ASPACE" run /nonexistent/script.aspace; has "$ERR" "/nonexistent/script.aspace: No such file"
run 2 "$ASPACE" run /; no_crash "run /"
finish
