#!/usr/bin/env bash
# gdb against the vmm: software breakpoints (HLT or int3, whichever this
# KVM allows), hit counts, ignore counts and conditions, stepping off a
# breakpoint, the original bytes under a breakpoint, hardware breakpoints
# and their limit of four where "vmm --probe" says they fire, refused with
# the reason where it says they never do, all on kernel64.
. "$(dirname "$0")/gdb/lib.sh"
plan 18
gdb_preflight gdb_break

voff=0xffffffff7ff00000
level3=$(sym level3) level3_p=$(hex "$(sym level3) - $voff")
orig=$(elf_byte "$KERNEL" "$level3")
l_level3=$(line_of kernel64.c 'watched = 2;')
l_level2=$(line_of kernel64.c 'return level3(x + 2) + 1;')
l_level1=$(($(line_of kernel64.c 'unsigned long level1(unsigned long x)') + 1))
l_tick=$(line_of kernel64.c 'last_tick = i;')
halted='vmm: the guest halted (HLT); memory stays readable, continuing ends it'
probe=$("$VMM" --probe 2>&1 | grep '^hw execution breakpoints:' | tr -s ' ')
if [[ $probe =~ :\ *yes ]]; then hw_bp=yes; else hw_bp=no; fi

if [ $hw_bp = yes ]; then
	first=hbreak
	hwpart='echo @@ limit\n
delete
hbreak choose_path
hbreak finish
hbreak rt_halt
hbreak rt_store32
hbreak say_num
try continue
pv/x $pc
pv i
echo @@ four\n
delete 8
continue
pv/x $pc
continue
continue
pv addr
continue
pv/x $pc
continue'
else	# (the rest of the session as it would be)
	first=break
	hwpart='echo @@ four\n
delete
continue'
fi

gdb_session break "$KERNEL" "$KERNEL" <<EOF2
echo @@ hbreak\n
$first level1
continue
pv/x \$pc
echo @@ shadow\n
set breakpoint always-inserted on
break level3
monitor phys on
x/xb $level3_p
monitor phys off
x/xb level3
set breakpoint always-inserted off
echo @@ bt\n
continue
frames
bt
pv x
echo @@ tick\n
delete
break tick
continue
pv i
ignore 3 3
continue
pv i
pv counter
pv last_tick
info breakpoints
echo @@ stepoff\n
stepi
pv/x \$pc
pv last_tick
continue
pv i
info breakpoints
echo @@ cond\n
condition 3 i == 8
continue
pv i
pv counter
$hwpart
echo @@ removed\n
monitor phys on
x/xb $level3_p
EOF2
vmm_end 5

if [ $hw_bp = yes ]; then
	want_seq hbreak_before_mapped hbreak "Hardware assisted breakpoint 1 at $(sym level1): file guest/kernel64.c, line $l_level1." \
		"Breakpoint 1, level1 (x=x@entry=1) at guest/kernel64.c:$l_level1" "\$pc = $(sym level1)"
else
	want_seq break_before_mapped_level1 hbreak "Breakpoint 1 at $(sym level1): file guest/kernel64.c, line $l_level1." \
		"Breakpoint 1, level1 (x=x@entry=1) at guest/kernel64.c:$l_level1" "\$pc = $(sym level1)"
fi
want original_byte_under_breakpoint shadow "$level3_p:	$orig" "$level3 <level3>:	$orig"
want break_level3 bt "Breakpoint 2, level3 (x=x@entry=4) at guest/kernel64.c:$l_level3" 'x = 4'
want_seq backtrace_names bt 'frame level3' 'frame level2' 'frame level1' 'frame kmain' 'frame _start'
want_re backtrace_lines bt "^#0  level3 \\(x=x@entry=4\\) at guest/kernel64.c:$l_level3\$" \
	"^#1  0x[0-9a-f]+ in level2 \\(x=x@entry=2\\) at guest/kernel64.c:$l_level2\$" \
	'^#2  0x[0-9a-f]+ in level1 \(x=x@entry=1\) at guest/kernel64.c:[0-9]+$' \
	'^#3  0x[0-9a-f]+ in kmain \(.*\) at guest/kernel64.c:[0-9]+$' "^#4  0x0*$(insn_after _start 'call' | sed 's/^0x//') in _start \\(\\) at guest/kernel64_boot.S:[0-9]+\$"
want_seq break_tick_first tick "Breakpoint 3, tick (i=i@entry=0) at guest/kernel64.c:$l_tick" 'i = 0'
want_seq ignore_count tick \
	"Breakpoint 3, tick (i=i@entry=4) at guest/kernel64.c:$l_tick" 'i = 4' 'counter = 5' 'last_tick = 3' \
	'	breakpoint already hit 5 times'
want_seq step_off_breakpoint stepoff "\$pc = $(insn_addr tick 1)" 'last_tick = 4' \
	"Breakpoint 3, tick (i=i@entry=5) at guest/kernel64.c:$l_tick" 'i = 5' '	breakpoint already hit 6 times'
want_seq condition cond "Breakpoint 3, tick (i=i@entry=8) at guest/kernel64.c:$l_tick" 'i = 8' 'counter = 9'
if [ $hw_bp = yes ]; then
	want_seq fifth_hbreak_refused limit 'Could not insert hardware breakpoints:' \
		'You may have requested too many hardware breakpoints/watchpoints.' 'error: Command aborted.' \
		"\$pc = $(sym tick)" 'i = 8'
	want_seq four_hbreaks_fire four "\$pc = $(sym choose_path)" 'Breakpoint 5, finish () at guest/kernel64.c:197' \
		'addr = 1024' "\$pc = $(sym rt_halt)" "$halted"
	want_re four_hbreaks_stops four '^Breakpoint 4, choose_path \(\) at .*' '^Breakpoint 5, finish \(\) at .*' \
		'^Breakpoint 7, rt_store32 \(addr=addr@entry=1024, v=v@entry=42\) at .*' '^Breakpoint 6, rt_halt \(\) at .*'
else
	skip_checks "this KVM's probe says '$probe'" fifth_hbreak_refused four_hbreaks_fire four_hbreaks_stops
fi
want breakpoint_removed removed "$level3_p:	$orig"
grep -qx 'kernel64: done' "$VOUT" && [ "$VMM_RC" = 0 ] && ok guest_ends_normally ||
	fail guest_ends_normally "status $VMM_RC, stdout $(tr '\n' '|' <"$VOUT")"

# --- every hit of tick, with its argument and the counter of the moment --------------
gdb_session ticks "$KERNEL" "$KERNEL" <<'EOF2'
break tick
python
for k in range(10):
    gdb.execute("continue", to_string=True)
    print("hit i=%d counter=%d last_tick=%d" % (int(gdb.parse_and_eval("i")),
          int(gdb.parse_and_eval("counter")), int(gdb.parse_and_eval("last_tick"))))
end
info breakpoints
continue
EOF2
vmm_end 5
hits=()
for k in 0 1 2 3 4 5 6 7 8 9; do hits+=("hit i=$k counter=$((k + 1)) last_tick=$((k - 1))"); done
want_seq every_tick_hit - "${hits[@]}" '	breakpoint already hit 10 times' \
	'vmm: the guest halted (HLT); memory stays readable, continuing ends it'

# --- a breakpoint set before kernel64 maps its higher half (at _start, on the
# vmm's identity map) still stops there once the kernel runs ----------------------------
gdb_session early "$KERNEL" "$KERNEL" <<'EOF2'
try x/xb level3
break level3
continue
pv watched
continue
EOF2
vmm_end 5
want_seq break_before_mapped - "$level3 <level3>:	error: Cannot access memory at address $level3" \
	"Breakpoint 1, level3 (x=x@entry=4) at guest/kernel64.c:$l_level3" 'watched = 1' \
	'vmm: the guest halted (HLT); memory stays readable, continuing ends it'

# --- hbreak where the probe says debug registers never fire: refused, with why --------------
if [ $hw_bp = no ]; then
	gdb_session refused "$KERNEL" "$KERNEL" <<'EOF2'
hbreak level1
try continue
pv/x $pc
delete
continue
EOF2
	vmm_end 5
	why="hbreak at $(sym level1) refused: debug-register execution breakpoints never fire on this KVM (vmm --probe: hw execution breakpoints: no); break works"
	want_seq hbreak_refused_says_why - \
		"Hardware assisted breakpoint 1 at $(sym level1): file guest/kernel64.c, line $l_level1." \
		"Cannot insert hardware breakpoint 1:Remote failure reply: $why." 'error: Command aborted.' \
		'$pc = 0x100000' "$halted"
	grep -qxF "vmm: $why" "$VERR" && ok hbreak_refused_on_stderr ||
		fail hbreak_refused_on_stderr "stderr: $(tr '\n' '|' <"$VERR")"
else
	skip_checks "this KVM's probe says '$probe': hw breakpoints fire here" \
		hbreak_refused_says_why hbreak_refused_on_stderr
fi
