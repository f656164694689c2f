#!/bin/sh
# --json everywhere: the output parses (jansson) and holds what it should.
. "$SRC/tests/cmd/lib.sh"
T=$SRC/examples/tour.aspace

run 0 "$ASPACE" run --json "$HERE/scripts/access.aspace"
json .status=0 .expectations.failed=0 .log[0].op=mmap .log[0].var=a
"$JSONCHECK" .log[0].value <"$OUT" | grep -qE '^[0-9]+$' || fail "mmap value"

cat >j.aspace <<'S'
$a = mmap 0 8K PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS
munmap 0 0 => EINVAL
read 0x1000 4
write $a "ab"
read $a 2
maps
smaps $a
pagetable $a
pagetable $a 8K
counters
layout
buddyinfo
ps
check
say hello
expect 1 == 1
S
run 0 "$ASPACE" run --json j.aspace
json .status=0 .steps=5 .log#=16 \
	.log[1].errno=EINVAL .log[1].value=-22 .log[1].expect_passed=true \
	.log[2].fault.signal=SIGSEGV .log[2].fault.code=SEGV_MAPERR .log[2].fault.addr=0x1000 \
	.log[4].data=6162 \
	.log[5].view=maps .log[5].regions#=2 .log[5].regions[0].kind=anon .log[5].regions[0].size=8192 \
	.log[6].regions#=1 .log[6].regions[0].rss=4096 '.log[6].regions[0].vmflags[0]=rd' \
	.log[7].mapped=true .log[7].levels#=4 .log[7].page.kind=anon .log[7].bits.dirty=true \
	.log[8].pages#=2 .log[8].pages[1].mapped=false \
	.log[9].rss_anon=1 .log[9].map_count=1 \
	.log[10].mmap_base=0x7ffff7fff000 \
	.log[11].free_blocks#=11 \
	.log[12].processes[0].name=main \
	.log[13].ok=true .log[14].text=hello .log[15].passed=true

run 0 "$ASPACE" maps --json "$T"
json .process=main .regions[-1].name=[vsyscall] .regions[0].kind=heap
run 0 "$ASPACE" stats --json --step 7 --process child "$T"
json .process=child .step=7 .counters.cow_copies=1 .layout.task_size=0x7ffffffff000 .machine.total_frames=65536
run 0 "$ASPACE" pagetable --json --step 4 "$T" '$buf+16K' 8K
json .step=4 .pages#=2 .pages[0].mapped=true .pages[0].page.kind=anon
run 0 "$ASPACE" pagetable --json "$T" '$buf'
json .mapped=true .levels[0].level=PGD .levels[3].level=PTE
run 0 "$ASPACE" report --json -o - "$T"
json .format=aspace-report/1 .processes#=2 .processes[1].parent=0 .processes[1].how=fork \
	.steps[0].step=0 .steps[1].procs[0].regions=1 .source.kind=script
run 0 "$ASPACE" machine --json --ram 64
json .config.ram_bytes=67108864 .memory.total_frames=16384 .check=true
finish
