#!/usr/bin/env bash
# gdb against the vmm: write watchpoints (read-only memory slots: they stop
# right after the writing instruction, with old and new values), a
# conditional one, their removal; read and access watchpoints, which need
# debug-register data breakpoints: refused cleanly where "vmm --probe" says
# they never fire, tested to fire where it says they do.
. "$(dirname "$0")/gdb/lib.sh"
plan 16
gdb_preflight gdb_watch

# the addresses after kmain's writes of 1 and 3 to watched
pc1=$(insn_after kmain 'movq +\$0x1,.*<watched>$')
pc3=$(insn_after kmain 'movq +\$0x3,.*<watched>$')
l_after1=$(line_of kernel64.c 'if (level1(1) != 3 * 4 + 0x1234abcd + 2)')
l_after2=$(line_of kernel64.c 'return x * 3 + read_me;')
probe=$("$VMM" --probe 2>&1 | grep '^hw data breakpoints:' | tr -s ' ')
if [[ $probe =~ :\ *yes ]]; then data_bp=yes; else data_bp=no; fi

if [ $data_bp = no ]; then
	datawatch='echo @@ rwatch\n
rwatch read_me
try continue
pv/x $pc
delete 3
awatch read_me
try continue
pv/x $pc
delete 4
continue
pv/x $pc'
else	# watched is written in level3 before read_me is read there
	datawatch='echo @@ rwatch\n
rwatch read_me
continue
continue
delete 3
awatch counter
continue
delete 4'
fi

watch_p=$(hex "$(sym watched) - 0xffffffff7ff00000")
page_p=$(hex "$watch_p & ~0xfff")
gdb_session watch "$KERNEL" "$KERNEL" <<EOF2
break kmain
continue
delete
echo @@ slots\n
set breakpoint always-inserted on
watch watched
monitor mem
set breakpoint always-inserted off
echo @@ first\n
continue
pv/x \$pc
$datawatch
echo @@ cond\n
watch counter if counter == 7
continue
pv last_tick
delete 5
echo @@ third\n
continue
pv/x \$pc
pv counter
info breakpoints
echo @@ gone\n
delete
monitor mem
break choose_path
continue
pv watched
continue
EOF2
vmm_end 5

want_seq watch_makes_page_readonly slots 'Hardware watchpoint 2: watched' "slot 0: 0x0-$(hex "$page_p - 1") read-write" \
	"slot 1: $page_p-$(hex "$page_p + 0xfff") read-only (write watchpoints)" "slot 2: $(hex "$page_p + 0x1000")-0x3ffffff read-write"
want_seq watch_first_write first 'Hardware watchpoint 2: watched' 'Old value = 0' 'New value = 1' \
	"kmain (cpu=<optimized out>, arg=<optimized out>, ncpus=1) at guest/kernel64.c:$l_after1" "\$pc = $pc1"
if [ $data_bp = no ]; then
	skip_checks "this KVM's probe says '$probe'" read_watch_fires access_watch_fires
	want_seq rwatch_refused rwatch 'Hardware read watchpoint 3: read_me' 'Could not insert hardware watchpoint 3.' \
		'error: Command aborted.' "\$pc = $pc1"
	want_seq awatch_refused rwatch 'Hardware access (read/write) watchpoint 4: read_me' \
		'Could not insert hardware watchpoint 4.' 'error: Command aborted.' "\$pc = $pc1"
	want_seq session_goes_on_after_refusal rwatch 'Hardware watchpoint 2: watched' 'Old value = 1' 'New value = 2' \
		"level3 (x=x@entry=4) at guest/kernel64.c:$l_after2" "\$pc = $(insn_addr level3 1)"
else
	skip_checks "this KVM's probe says '$probe': data breakpoints fire here" \
		rwatch_refused awatch_refused session_goes_on_after_refusal
	want_seq read_watch_fires rwatch 'Hardware watchpoint 2: watched' 'Old value = 1' 'New value = 2' \
		'Hardware read watchpoint 3: read_me' 'Value = 305441741'
	want_seq access_watch_fires rwatch 'Hardware access (read/write) watchpoint 4: counter' 'Value = 0'
fi
want_seq watch_condition cond 'Hardware watchpoint 5: counter' 'Old value = 6' 'New value = 7' 'last_tick = 5'
want_seq watch_third_write third 'Hardware watchpoint 2: watched' 'Old value = 2' 'New value = 3' \
	"\$pc = $pc3" 'counter = 10' '	breakpoint already hit 3 times'
want_seq watch_removed gone 'slot 0: 0x0-0x3ffffff read-write' 'watched = 3' \
	'vmm: the guest halted (HLT); memory stays readable, continuing ends it'
want_not watch_removed_slots gone 'read-only'
grep -qx 'kernel64: done' "$VOUT" && [ "$VMM_RC" = 0 ] && ok guest_ends_normally ||
	fail guest_ends_normally "status $VMM_RC, stdout $(tr '\n' '|' <"$VOUT")"

# --- single steps onto a watched write; stepping off a breakpoint onto one --------------
mov1=$(objdump -d --no-show-raw-insn --disassemble=kmain "$KERNEL" |
	awk '/movq +\$0x1,.*<watched>$/ { sub(":", "", $1); sub(/^ */, "", $1); print "0x" $1; exit }')
gdb_session stepwatch "$KERNEL" "$KERNEL" <<EOF2
break kmain
continue
delete
watch watched
echo @@ step\n
advance *$mov1
pv/x \$pc
stepi
pv/x \$pc
echo @@ stepoff\n
break level3
continue
stepi
pv/x \$pc
EOF2
vmm_end 5
want_seq stepi_onto_watched_write step "\$pc = $mov1" 'Hardware watchpoint 2: watched' 'Old value = 0' \
	'New value = 1' "\$pc = $pc1"
want_seq step_off_breakpoint_onto_watched_write stepoff 'Breakpoint 3, level3 (x=x@entry=4) at guest/kernel64.c:'"$(line_of kernel64.c 'watched = 2;')" \
	'Hardware watchpoint 2: watched' 'Old value = 1' 'New value = 2' "\$pc = $(insn_addr level3 1)"

# --- detach with a watchpoint in place: the pages are writable again ------------------------
gdb_session detachwatch "$KERNEL" "$KERNEL" <<'EOF2'
break kmain
continue
delete
set breakpoint always-inserted on
watch watched
monitor mem
detach
EOF2
vmm_end 5
want_re detach_with_watch - '^slot 1: 0x[0-9a-f]+-0x[0-9a-f]+ read-only \(write watchpoints\)$' \
	'^\[Inferior 1 \(Remote target\) detached\]$'
grep -qx 'kernel64: done' "$VOUT" && [ "$VMM_RC" = 0 ] && ok detach_restores_watched_pages ||
	fail detach_restores_watched_pages "status $VMM_RC, stdout $(tr '\n' '|' <"$VOUT"), stderr $(tr '\n' '|' <"$VERR")"
