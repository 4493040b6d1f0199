#!/usr/bin/env bash
# gdb against the vmm: reading and writing registers (general, flags,
# segment, control, SSE), in hello64 at entry and in kernel64 after it has
# switched to its own page tables.
. "$(dirname "$0")/gdb/lib.sh"
plan 15
gdb_preflight gdb_regs

# --- hello64 at its first instruction: the vmm's long-mode boot state --------
gdb_session entry "$GUESTS/hello64.elf" "$GUESTS/hello64.bin" <<'EOF2'
echo @@ entry\n
pv/x $rip
pv/x $rsp
pv/x $cr0
pv/x $cr3
pv/x $cs
pv/x $eflags
pv/x $efer & 0x500
pv $cr0
pv $cr4
pv $efer
echo @@ info\n
info registers
info registers rip
echo @@ all\n
info all-registers
echo @@ threads\n
info threads
echo @@ write\n
set $rax = 5
set $rbp = 0x1122334455667788
set $eflags = 0x3
set $xmm1.v2_int64[0] = 0x0123456789abcdef
set $r15 = -2
stepi
pv/x $rip
pv/x $rax
pv/x $rsp
pv/x *(unsigned long *)$rsp
pv $eflags
pv/x $xmm1.v2_int64[0]
pv/x $r15
stepi
pv/x $rip
pv/x $rbp
pv/x $rax
echo @@ threads2\n
info threads
EOF2
vmm_end 5
want entry_values entry '$rip = 0x0' '$rsp = 0x4000000' '$cr0 = 0x80010033' '$cr3 = 0x2000' \
	'$cs = 0x18' '$eflags = 0x2' '$efer & 0x500 = 0x500'
want cr0_flags_by_name entry '$cr0 = [ PE MP ET NE WP PG ]'
want_re cr4_efer_flags_by_name entry '\$cr4 = \[ (.* )?PAE( .*)? \]' '\$efer = \[ (.* )?LME LMA( .*)? \]'
want_re info_registers info '^rip +0x0 +0x0( <_start>)?$' '^rsp +0x4000000 +0x4000000$' '^cs +0x18 +24$' \
	'^eflags +0x2 +\[ \]$' '^cr0 +0x80010033 +\[ PE MP ET NE WP PG \]$' '^cr3 +0x2000 +8192$' \
	'^efer +0x[0-9a-f]*d00 +\[ (.* )?LME LMA( .*)? \]$'
want_re info_all_registers all '^xmm15 +\{.*' '^mxcsr +0x[0-9a-f]+ +\[.*\]$' '^fctrl +0x37f +895$' '^st0 +0 +\(raw 0x0+\)$'
want_re thread_extra_info_entry threads '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, stopped at entry\) .*'
want register_write_reaches_vcpu write '$rip = 0x1' '$rax = 0x5' '$rsp = 0x3fffff8' \
	'*(unsigned long *)$rsp = 0x1122334455667788' '$eflags = [ CF ]' \
	'$xmm1.v2_int64[0] = 0x123456789abcdef' '$r15 = 0xfffffffffffffffe'
want register_write_then_step write '$rip = 0x4' '$rbp = 0x3fffff8'
want_re thread_extra_info_step threads2 '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, single step\) .*'
[ "$VMM_RC" = 0 ] && grep -qx 'Hello, world!' "$VOUT" && ok entry_guest_runs_on ||
	fail entry_guest_runs_on "vmm status $VMM_RC, stdout '$(head -c 100 "$VOUT")'"

# --- kernel64 on its own tables: CR3 read, written, used -----------------------
pml4_phys=$(hex "$(sym pml4) - 0xffffffff7ff00000")
banner=$(sym banner)
gdb_session cr3 "$KERNEL" "$KERNEL" <<EOF2
break kmain
continue
echo @@ own\n
pv/x \$cr3
monitor regs
echo @@ switched\n
set \$cr3 = 0x2000
pv/x \$cr3
try x/s banner
echo @@ back\n
set \$cr3 = $pml4_phys
pv/x \$cr3
x/s banner
break choose_path
continue
pv/x \$cr3
echo @@ used\n
set \$cr3 = 0x2000
stepi
pv/x \$cr2
pv \$rip == (unsigned long)choose_path
EOF2
vmm_end 5
want cr3_of_kernel own "\$cr3 = $pml4_phys" "cr3  $(printf '0x%016x' "$pml4_phys")" 'vCPU 0: long mode, paging 4-level'
want cr3_write_read_back switched '$cr3 = 0x2000' \
	"$banner <banner>:	<error: Cannot access memory at address $banner>"
want cr3_restored back "\$cr3 = $pml4_phys" "$banner <banner>:	\"kernel64: hello from the higher half\\n\""
want_re cr3_restored_guest_runs back '^Breakpoint 2, choose_path \(\) at guest/kernel64.c:[0-9]+$'
if fault_state_kept; then
	want cr3_write_used_by_guest used 'Program received signal SIGSEGV, Segmentation fault.' \
		"\$cr2 = $(sym choose_path)" '$rip == (unsigned long)choose_path = 1'
else	# KVM reset the vCPU (kvm_amd): CR2 of the fault is lost, the vmm says so
	want cr3_write_used_by_guest used 'Program received signal SIGSEGV, Segmentation fault.' \
		"$FAULT_NOTE" '$rip == (unsigned long)choose_path = 1'
fi
