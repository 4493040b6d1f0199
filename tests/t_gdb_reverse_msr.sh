#!/usr/bin/env bash
# Recording rewinds the MSRs as well: msr64 writes STAR, LSTAR, CSTAR,
# SFMASK, SYSENTER_*, PAT, KERNEL_GS_BASE (and TSC_AUX where offered) in
# msr_write_all.  Recorded across it, `monitor msrs` going back to its start
# shows the values before, and forward again the values written, bit for
# bit; then the guest, live again, reads them all back itself.
. "$(dirname "$0")/gdb/lib.sh"
plan 6
gdb_preflight gdb_reverse_msr
MSR=$GUESTS/msr64.elf

gdb_session msrs "$MSR" "$MSR" <<'EOF2'
break msr_write_all
continue
delete
echo @@ before\n
monitor msrs
monitor record on
break msr_check
continue
echo @@ after\n
monitor msrs
reverse-continue
echo @@ back\n
monitor msrs
continue
echo @@ forward\n
monitor msrs
echo @@ live\n
monitor record off
delete
continue
continue
EOF2
vmm_end 5
msrs_of() { f=$(section "$1") && grep -E '^[a-z_]+ +0x[0-9a-f]{8}  ' "$f"; }
before=$(msrs_of before) after=$(msrs_of after) back=$(msrs_of back) forward=$(msrs_of forward)
want_re msrs_written after '^star +0xc0000081  0x0023001000000000$' '^lstar +0xc0000082  0xffffffff81000000$' \
	'^sfmask +0xc0000084  0x0000000000047700$' '^sysenter_eip +0x00000176  0x0000000000013000$' \
	'^pat +0xc?0*277  0x0007010600070106$' '^kernel_gs_base +0xc0000102  0x00007f0011223344$'
[ -n "$before" ] && [ "$before" != "$after" ] && ok msrs_changed_by_the_guest ||
	fail msrs_changed_by_the_guest "before: [$before] after: [$after]"
check_eq msrs_rewound "$back" "$before"
check_eq msrs_replayed "$forward" "$after"
want msrs_guest_reads_them - '[Inferior 1 (Remote target) exited normally]'
check_eq msrs_guest_output "$(cat "$VOUT")" 'msr64: ok'
