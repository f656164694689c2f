#!/bin/sh
# aspace run: the self-checking scripts, the echo, stdin, expectations, run-time errors.
. "$SRC/tests/cmd/lib.sh"

for f in "$HERE"/scripts/*.aspace; do
	run 0 "$ASPACE" run -q "$f" || true
	no_crash "$f"
done

# The strace-style echo and the views.
cat >basic.aspace <<'S'
$a = mmap 0 16K PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS
write $a "hi"
read $a 2
munmap 0 0
read 0x1000 1
maps
counters
S
run 0 "$ASPACE" run basic.aspace
has "$OUT" '$a = mmap(NULL, 16384, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7ffb000'
has "$OUT" 'write(0x7ffff7ffb000, "hi", 2) = 0'
has "$OUT" '7ffff7ffb000  68 69'
has "$OUT" 'munmap(NULL, 0) = -1 EINVAL (Invalid argument)'
has "$OUT" 'read(0x1000, 1) = SIGSEGV SEGV_MAPERR at 0x1000'
has "$OUT" '7ffff7ffb000-7ffff7fff000 rw-p 00000000 00:00 0'
has "$OUT" 'rss_anon                1 pages'
run 0 "$ASPACE" run -q basic.aspace; hasnt "$OUT" 'mmap('; has "$OUT" 'rw-p'

# Standard input
run 0 sh -c "printf 'munmap 0 0 => EINVAL\n' | '$ASPACE' run -"
run 2 sh -c "printf 'munmap 0\n' | '$ASPACE' run -"; has "$ERR" "<stdin>:1:9: error: munmap: missing length"

# Failed expectations: file:line:col, status 1, the run goes on.
cat >fail.aspace <<'S'
munmap 0 0 => 0
expect 1 == 2
$a = mmap 0 4K PROT_READ MAP_PRIVATE|MAP_ANONYMOUS
read $a 1 => SIGSEGV
expect maps
  00001000-00002000 r--p 00000000 00:00 0
end
munmap 0 0 => EINVAL
S
run 1 "$ASPACE" run fail.aspace
has "$ERR" "fail.aspace:1:15: expectation failed: expected 0 (0), got -1 EINVAL"
has "$ERR" "fail.aspace:2:8: expectation failed: 1 == 2"
has "$ERR" "fail.aspace:4:14: expectation failed: expected SIGSEGV, got 0"
has "$ERR" "fail.aspace:5:1: expectation failed: the maps lines differ"
has "$ERR" "  - 00001000-00002000 r--p 00000000 00:00 0"
has "$ERR" "  + 7ffff7ffe000-7ffff7fff000 r--p 00000000 00:00 0"
has "$OUT" "munmap(NULL, 0) = -1 EINVAL"

# --step and --line stop early.
run 0 "$ASPACE" run --step 1 basic.aspace; has "$OUT" "mmap("; hasnt "$OUT" "write("
run 0 "$ASPACE" run --line 2 basic.aspace; has "$OUT" "write("; hasnt "$OUT" "read("

# exec: works once the library has as_mm_exec; until then a clean ENOSYS.
printf 'exec /bin/true\n' >exec.aspace
run 0 "$ASPACE" run exec.aspace
if ! grep -q 'execve("/bin/true", \["/bin/true"\]) = 0' "$OUT"; then
	has "$OUT" 'execve("/bin/true", ["/bin/true"]) = -1 ENOSYS (exec is not supported yet'
fi
no_crash exec

# regions: scripts/standins.aspace reproduces a real process's placements;
# here the input errors (exit 2, the line of the block, the oracle's reason).
printf 'regions\n  7ffff0000000-7ffff0001000 rw-p 00000000 00:00 0\nend\n' >novmflags.aspace
run 2 "$ASPACE" run novmflags.aspace; has "$ERR" "novmflags.aspace:1:1: error: regions: no VmFlags for 7ffff0000000-7ffff0001000"
cat >overlap.aspace <<'S'
$a = mmap 0x7ffff0000000 4K PROT_READ MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED
regions
  7ffff0000000-7ffff0002000 rw-p 00000000 00:00 0
  VmFlags: rd wr mr mw me
end
S
run 2 "$ASPACE" run overlap.aspace; has "$ERR" "overlap.aspace:2:1: error: regions: stand-in 7ffff0000000-7ffff0002000 out of bounds or overlapping"
no_crash regions

# An empty script and a comment-only one are fine; NUL bytes are not a script.
: >empty.aspace
run 0 "$ASPACE" run empty.aspace
printf '# nothing\n\n   # at all\n' >comments.aspace
run 0 "$ASPACE" run comments.aspace
printf 'maps\0\n' >nul.aspace
run 2 "$ASPACE" run nul.aspace; has "$ERR" "NUL bytes"
# CRLF line ends
printf 'munmap 0 0 => EINVAL\r\nexpect 1 == 1\r\n' >crlf.aspace
run 0 "$ASPACE" run crlf.aspace
# UTF-8 arrow
printf 'munmap 0 0 \342\206\222 expect EINVAL\n' >arrow.aspace
run 0 "$ASPACE" run arrow.aspace
finish
