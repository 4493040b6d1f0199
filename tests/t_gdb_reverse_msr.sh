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
# what msr64 writes (msr_values[]); a KVM may refuse some: the guest says
# which it wrote ("msr64: wrote NAME ..."), and those must read so
declare -A value=([star]=0x0023001000000000 [lstar]=0xffffffff81000000 [cstar]=0xffffffff81000100
	[sfmask]=0x0000000000047700 [sysenter_cs]=0x0000000000000010 [sysenter_esp]=0x0000000000012000
	[sysenter_eip]=0x0000000000013000 [pat]=0x0007010600070106 [kernel_gs_base]=0x00007f0011223344
	[tsc_aux]=0x000000000000002a)
wrote=$(sed -n 's/^msr64: wrote//p' "$TMP/msrs.vmm.out" 2>/dev/null)
res=()
for m in $wrote; do res+=("^$m +0x[0-9a-f]{8}  ${value[$m]}\$"); done
if [ -n "$wrote" ]; then want_re msrs_written after "${res[@]}"
else fail msrs_written "msr64 names no MSR it wrote: $(head -c 300 "$TMP/msrs.vmm.out" 2>/dev/null)"; fi
echo "# the guest wrote:$wrote"
[ -n "$before" ] && [ "$before" != "$after" ] && ok msrs_changed_by_the_guest ||
	fail msrs_changed_by_the_guest "before: [$before] after: [$after]"
check_eq msrs_rewound "$back" "$before"
check_eq msrs_replayed "$forward" "$after"
want msrs_guest_reads_them - '[Inferior 1 (Remote target) exited normally]'
check_eq msrs_guest_output "$(tail -n 1 "$VOUT")" 'msr64: ok'
