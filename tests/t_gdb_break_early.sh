#!/usr/bin/env bash
# gdb against the vmm: software breakpoints on addresses the guest has not
# mapped yet.  kernel64 starts on the vmm's identity map, with its higher
# half unmapped until it loads its own CR3: a breakpoint there goes on the
# byte where the ELF loaded it (p_paddr of its PT_LOAD segment), hits, hits
# again, and comes off that byte.  An address neither mapped nor in a
# segment (or any address of a flat image) takes a debug register where
# "vmm --probe" says they fire, and is refused with the reason elsewhere.  A
# breakpoint's byte run through another virtual address (an alias of its
# page) is a SIGTRAP that says so, and continuing runs the original
# instruction.
. "$(dirname "$0")/gdb/lib.sh"
plan 11
gdb_preflight gdb_break_early

voff=0xffffffff7ff00000
probe=$("$VMM" --probe 2>&1 | grep '^hw execution breakpoints:' | tr -s ' ')
if [[ $probe =~ :\ *yes ]]; then hw_bp=yes; else hw_bp=no; fi
phys() { hex "$(sym "$1") - $voff"; }
kmain=$(sym kmain) tick=$(sym tick) level2=$(sym level2) level3=$(sym level3)
orig_kmain=$(elf_byte "$KERNEL" "$kmain") orig_tick=$(elf_byte "$KERNEL" "$tick")
orig_level2=$(elf_byte "$KERNEL" "$level2")
l_kmain=$(($(line_of kernel64.c 'void kmain(') + 1))
halted='vmm: the guest halted (HLT); memory stays readable, continuing ends it'

# --- break kmain at _start: kmain is not mapped yet -------------------------------------
# (always-inserted: each breakpoint goes in at once, while its address is
# unmapped, and stays through every hit)
gdb_session early "$KERNEL" "$KERNEL" <<EOF2
set breakpoint always-inserted on
try x/xb kmain
pv/x \$cr3
break *kmain
break tick
break level2
delete 3
monitor phys on
x/xb $(phys kmain)
x/xb $(phys tick)
x/xb $(phys level2)
monitor phys off
continue
pv/x \$pc
pv/x \$cr3 != 0x2000
echo @@ ticks\n
python
for k in range(10):
    gdb.execute("continue", to_string=True)
    print("hit i=%d counter=%d last_tick=%d" % (int(gdb.parse_and_eval("i")),
          int(gdb.parse_and_eval("counter")), int(gdb.parse_and_eval("last_tick"))))
end
info breakpoints
echo @@ removed\n
delete
monitor phys on
x/xb $(phys kmain)
x/xb $(phys tick)
x/xb $(phys level2)
monitor phys off
continue
EOF2
vmm_end 5
# (kmain is unmapped when the breakpoint goes in, the bytes read are the
# original ones, and it stops on kernel64's own tables)
want_seq break_kmain_before_mapped - "$kmain <kmain>:	error: Cannot access memory at address $kmain" '$cr3 = 0x2000' \
	"Breakpoint 1 at $kmain: file guest/kernel64.c, line $l_kmain." \
	"$(phys kmain):	$orig_kmain" "$(phys tick):	$orig_tick" "$(phys level2):	$orig_level2" \
	"Breakpoint 1, kmain (cpu=0, arg=0, ncpus=1) at guest/kernel64.c:$l_kmain" \
	"\$pc = $kmain" '$cr3 != 0x2000 = 0x1'
want_not break_kmain_nothing_refused - 'refused|Cannot insert'
hits=()
for k in 0 1 2 3 4 5 6 7 8 9; do hits+=("hit i=$k counter=$((k + 1)) last_tick=$((k - 1))"); done
want_seq segment_breakpoint_hits_every_time ticks "${hits[@]}" '	breakpoint already hit 10 times'
# (level2's breakpoint went before the guest ran: a byte left behind would
# halt the guest there, without "kernel64: done")
want_seq removal_restores_bytes removed "$(phys kmain):	$orig_kmain" "$(phys tick):	$orig_tick" \
	"$(phys level2):	$orig_level2" "$halted"
grep -qx 'kernel64: done' "$VOUT" && [ "$VMM_RC" = 0 ] && grep -qx "$halted" "$(section removed)" &&
	ok removal_guest_ends_normally ||
	fail removal_guest_ends_normally "status $VMM_RC, stdout $(tr '\n' '|' <"$VOUT")"

# --- neither mapped nor in a segment: a debug register, or refused ----------------------
nowhere=0xffffffff90000000
gdb_session nowhere "$KERNEL" "$KERNEL" <<EOF2
break *$nowhere
try continue
pv/x \$pc
delete
continue
EOF2
vmm_end 5
why="breakpoint at $nowhere refused: not mapped and in no ELF segment, and debug-register breakpoints never fire on this KVM (vmm --probe: hw execution breakpoints: no)"
if [ $hw_bp = no ]; then
	want_seq unmapped_outside_segments_refused - 'Cannot insert breakpoint 1.' \
		"Cannot access memory at address $nowhere" 'error: Command aborted.' '$pc = 0x100000' "$halted"
	grep -qxF "vmm: $why" "$VERR" && ok unmapped_outside_segments_says_why ||
		fail unmapped_outside_segments_says_why "stderr: $(tr '\n' '|' <"$VERR")"
else
	want_seq unmapped_outside_segments_debug_register - "Breakpoint 1 at $nowhere" "$halted"
	want_not unmapped_outside_segments_accepted - 'Cannot insert'
fi

# --- a flat image: no segments, so only a debug register can wait for kmain --------------
gdb_session flat "$KERNEL" --load 0x100000 "$GUESTS/kernel64.bin" <<EOF2
break *kmain
try continue
pv/x \$pc
delete
continue
EOF2
vmm_end 5
if [ $hw_bp = no ]; then
	want_seq flat_image_refused - 'Cannot insert breakpoint 1.' 'error: Command aborted.' '$pc = 0x100000' "$halted"
	grep -qxF "vmm: breakpoint at $kmain refused: not mapped and the image is flat (no ELF segments), and debug-register breakpoints never fire on this KVM (vmm --probe: hw execution breakpoints: no)" "$VERR" &&
		ok flat_image_says_why || fail flat_image_says_why "stderr: $(tr '\n' '|' <"$VERR")"
else
	want_re flat_image_debug_register - "^Breakpoint 1, kmain \\(.*\\) at guest/kernel64.c:[0-9]+\$" "^\\\$pc = $kmain\$"
	want_not flat_image_accepted - 'Cannot insert'
fi

# --- the byte run through another address: kernel64's low identity map also
# maps its image, so level1 entered there calls level2 and level3 there -----------------
gdb_session alias "$KERNEL" "$KERNEL" <<EOF2
break level1
continue
delete
break *$level3
set \$pc = $(phys level1)
echo @@ alias\n
continue
pv/x \$pc
echo @@ on\n
continue
pv watched
EOF2
vmm_end 5
want_seq alias_is_a_sigtrap_that_says_whose alias \
	"vmm: vCPU 0 ran the breakpoint at $level3 through $(phys level3) (the same guest-physical byte $(phys level3)); continuing runs the original instruction" \
	'Program received signal SIGTRAP, Trace/breakpoint trap.' "\$pc = $(phys level3)"
f=$(section on)
grep -qx 'kernel64: done' "$VOUT" && [ "$VMM_RC" = 0 ] && grep -qx "$halted" "$f" &&
	grep -qx 'watched = 3' "$f" && ok alias_goes_on ||
	fail alias_goes_on "status $VMM_RC, stdout $(tr '\n' '|' <"$VOUT")"
