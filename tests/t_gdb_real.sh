#!/usr/bin/env bash
# gdb against the vmm: real mode with CS != 0, as boot sectors run.  gdb's
# breakpoint addresses are linear in every mode (as its memory addresses
# are): seg16 enters at 07C0:0000 (linear 0x7C00) and far-calls 1000:0010
# (linear 0x10010); breakpoints at those linear addresses stop there, each
# a SIGTRAP that says which breakpoint (gdb's $pc is only IP, so gdb cannot
# match it itself), and continuing runs the instruction under each.
. "$(dirname "$0")/gdb/lib.sh"
plan 8
gdb_preflight gdb_real
SEG=$GUESTS/seg16.elf
a_call=$(printf '0x%x' "0x$(nm "$SEG" | awk '$3 == "seg_call" { print $1 }')")

gdb_session seg "$SEG" --mode real "$SEG" <<EOF2
echo @@ entry\n
pv/x \$cs
pv/x \$eip
break *seg_call
break *far_func
echo @@ bp1\n
continue
pv/x \$cs
pv/x \$eip
echo @@ bp2\n
continue
pv/x \$cs
pv/x \$eip
x/2bx far_func
echo @@ end\n
continue
x/wx 0x400
continue
EOF2
vmm_end 5
want real_cs_entry entry '$cs = 0x7c0' '$eip = 0x0'
want real_bp_boot_sector bp1 '$cs = 0x7c0' "\$eip = $(printf '0x%x' $((a_call - 0x7c00)))"
want real_bp_boot_sector_says bp1 \
	"vmm: vCPU 0 stopped at the breakpoint at $a_call, CS:IP 07c0:$(printf '%04x' $((a_call - 0x7c00))) (gdb's \$pc is the offset from CS's base 0x7c00; breakpoint addresses are linear)"
want real_bp_far_segment bp2 '$cs = 0x1000' '$eip = 0x10'
want real_bp_bytes_hidden bp2 '0x10010 <far_func>:	0xb0	0x46'
want_seq real_runs_on end 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'0x400:	0x0000002a' '[Inferior 1 (Remote target) exited normally]'
want_not real_no_swbreak_confusion - 'internal-error'
check_eq real_output "$(cat "$VOUT")" 'BF'
