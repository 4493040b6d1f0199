#!/usr/bin/env bash
# gdb against the vmm: the register layout per CPU mode.  Real mode is
# i8086 (eip, 16-bit disassembly as objdump -m i8086 has it), protected
# mode i386, long mode x86-64, with or without the guest's ELF loaded;
# --gdb-arch fixes a layout (x86-64 zero-extends, i386 truncates), and a
# guest that leaves the mode of its session says so at the next stop; a
# reconnect follows it.
. "$(dirname "$0")/gdb/lib.sh"
plan 25
gdb_preflight gdb_modes

# --- real mode: hello16 ------------------------------------------------------------------
# objdump's 16-bit disassembly of the image, as gdb's x/i prints it
expect16=()
while IFS= read -r l; do expect16+=("$l"); done < <(
	objdump -D -b binary -m i8086 "$GUESTS/hello16.bin" |
		awk -F'\t' '/^ +[0-9a-f]+:\t/ && n < 5 { a = $1; sub(/^ +/, "", a); sub(":", "", a); i = $3; sub(/ +$/, "", i)
			printf "%s0x%s:\t%s\n", n++ ? "   " : "=> ", a, i }')
second16="\$eip = ${expect16[1]%%:*}"
second16=${second16/   /}
gdb_session real "" --mode real "$GUESTS/hello16.bin" <<'EOF2'
echo @@ arch\n
show architecture
monitor arch
pv/x $eip
pv/x $esp
pv/x $cs
pv $cr0
info threads
echo @@ regs\n
info registers
echo @@ insn\n
x/5i $pc
echo @@ run\n
stepi
pv/x $eip
pv/x $esi
continue
x/wx 0x400
continue
EOF2
vmm_end 5
want real_arch_i8086 arch 'The target architecture is set to "auto" (currently "i8086").' 'session layout: i8086' \
	'vCPU 0: real mode (i8086)'
want real_registers arch '$eip = 0x0' '$esp = 0xfff0' '$cs = 0x0' '$cr0 = [ ET NW CD ]'
want_re real_thread_info arch '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, real mode, stopped at entry\) .*'
want_re real_info_registers regs '^eip +0x0 +0x0$' '^esp +0xfff0 +0xfff0$' '^cr0 +0x60000010 +\[ ET NW CD \]$'
want_not real_no_64bit_registers regs '^(rip|rax|r8) '
if [ "${#expect16[@]}" -eq 5 ]; then want_seq real_disassembly_16bit insn "${expect16[@]}"
else fail real_disassembly_16bit "objdump -m i8086 gave ${#expect16[@]} instructions"; fi
want_seq real_step_and_run run "$second16" \
	'$esi = 0x0' 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' '0x400:	0x0000002a' \
	'[Inferior 1 (Remote target) exited normally]'
check_eq real_output "$(cat "$VOUT")" 'Hello, world!'

# The ELF32 of hello16 makes gdb's architecture i386 (the ELF wins over the
# target's i8086): symbols work, and "set architecture i8086" disassembles.
gdb_session real_elf "$GUESTS/hello16.elf" --mode real "$GUESTS/hello16.bin" <<'EOF2'
pv/x $eip
info symbol $pc
set architecture i8086
x/2i $pc
EOF2
vmm_end 5
want_seq real_with_elf - '$eip = 0x0' '_start in section .text' '=> 0x0 <_start>:	cli' \
	"   0x1 <_start+1>:	${expect16[1]#*	}"
want_not real_with_elf_no_gdb_crash - 'internal-error'

# --- protected mode: hello32 with its ELF ---------------------------------------------------
l_store=$(($(line_of rt.c 'void rt_store32(') + 1))
gdb_session protected "$GUESTS/hello32.elf" --mode protected "$GUESTS/hello32.elf" <<'EOF2'
echo @@ arch\n
show architecture
monitor arch
info threads
echo @@ regs\n
info registers
x/2i $pc
echo @@ run\n
break rt_store32
continue
pv/x $esp
continue
x/wx 0x400
continue
EOF2
vmm_end 5
want protected_arch_i386 arch 'The target architecture is set to "auto" (currently "i386").' 'session layout: i386' \
	'vCPU 0: protected mode (i386)'
want_re protected_thread_info arch '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, protected mode, stopped at entry\) _start \(\) at guest/hello.c:[0-9]+$'
want_re protected_registers regs '^eip +0x0 +0x0 <_start>$' '^esp +0x4000000 +0x4000000$' '^cs +0x8 +8$' \
	'^cr0 +0x33 +\[ PE MP ET NE \]$' '^efer +0x0 +\[ \]$'
want_not protected_no_64bit_registers regs '^(rip|rax|r8) '
want protected_disassembly regs '=> 0x0 <_start>:	push   %ebp' '   0x1 <_start+1>:	mov    %esp,%ebp'
want_seq protected_break_and_run run "Breakpoint 1, rt_store32 (addr=addr@entry=1024, v=42) at guest/rt.c:$l_store" \
	'vmm: the guest halted (HLT); memory stays readable, continuing ends it' '0x400:	0x0000002a' \
	'[Inferior 1 (Remote target) exited normally]'
want_re protected_stack run '^\$esp = 0x3ffff[0-9a-f]{2}$'
check_eq protected_output "$(cat "$VOUT")" 'Hello, world!'

# --- long mode: hello64 ------------------------------------------------------------------
gdb_session long "" "$GUESTS/hello64.bin" <<'EOF2'
show architecture
monitor arch
EOF2
vmm_end 5
want long_arch_x86_64 - 'The target architecture is set to "auto" (currently "i386:x86-64").' \
	'session layout: i386:x86-64' 'vCPU 0: long mode (i386:x86-64)'

# --- --gdb-arch x86-64 on a real-mode guest: one 64-bit layout, zero-extended ---------------
gdb_session fixed "" --gdb-arch x86-64 --mode real "$GUESTS/hello16.bin" <<'EOF2'
show architecture
monitor arch
pv/x $rip
pv/x $rsp
stepi
pv/x $rip
EOF2
vmm_end 5
want fixed_arch - 'The target architecture is set to "auto" (currently "i386:x86-64").' \
	'session layout: i386:x86-64 (fixed by --gdb-arch)' 'vCPU 0: real mode (i8086)' \
	'$rip = 0x0' '$rsp = 0xfff0' '$rip = 0x1'

# --- --gdb-arch i386 on a long-mode guest: 32-bit registers, truncated -------------------------
spin_lo=$(sym spin) spin_hi=$(sym say)
gdb_session arch_i386 "" --gdb-arch i386 "$KERNEL" --arg 1 <<EOF2
show architecture
monitor arch
interrupt-after 0.5
continue
python print("eip is rip truncated:", $(hex "$spin_lo & 0xffffffff") <= int(gdb.parse_and_eval("\$eip")) < $(hex "$spin_hi & 0xffffffff"))
python print("esp is rsp truncated:", int(gdb.parse_and_eval("\$esp")) >> 16 == $(hex "($(sym stack_top) - 1) >> 16 & 0xffff"))
pv/x \$cr3
kill
EOF2
vmm_end 3
want_seq i386_layout_on_long_mode - 'The target architecture is set to "auto" (currently "i386").' \
	'session layout: i386 (fixed by --gdb-arch)' 'vCPU 0: long mode (i386:x86-64)' 'eip is rip truncated: True' \
	'esp is rsp truncated: True' "\$cr3 = $(hex "$(sym pml4) - 0xffffffff7ff00000")"
want_not i386_layout_no_gdb_crash - 'internal-error'

# --- a guest that switches modes by itself: real -> long ---------------------------------------
b16=$GUESTS/boot16to64.elf
stage_long=$(nm "$b16" | awk '$3 == "stage_long" { print "0x" $1 }' | sed 's/^0x0*/0x/')
probe_long=$("$VMM" --probe 2>&1 | grep '^guest enters long mode itself:' | tr -s ' ')
if [[ $probe_long != *yes* ]]; then
	skip_checks "this KVM's probe says '$probe_long'" mode_switch_reported mode_switch_reconnect \
		mode_switch_guest_output
else
	gdb_session switch "" --mode real --load 0x8000 "$GUESTS/boot16to64.bin" <<EOF2
break *$stage_long
continue
pv/x \$eip
monitor arch
monitor hold on
EOF2
	want_seq mode_switch_reported - "vmm: vCPU 0 is now in long mode (i386:x86-64); this session describes i8086: reconnect to follow it (gdbinit does this; 'monitor hold' keeps the guest stopped)" \
		"\$eip = $stage_long" 'session layout: i8086' 'vCPU 0: long mode (i386:x86-64)'
	gdb_attach switched "" <<'EOF2'
monitor hold off
show architecture
pv/x $rip
pv $efer & 0x500
continue
EOF2
	vmm_end 5
	want_seq mode_switch_reconnect - 'The target architecture is set to "auto" (currently "i386:x86-64").' \
		"\$rip = $stage_long" '$efer & 0x500 = 1280' 'vmm: the guest halted (HLT); memory stays readable, continuing ends it'
	grep -qx 'boot16to64: long' "$VOUT" && ok mode_switch_guest_output || fail mode_switch_guest_output "$(tr '\n' '|' <"$VOUT")"
fi
