#!/usr/bin/env bash
# gdb against the vmm: one thread per vCPU (kernel64 --cpus 2): their extra
# info, per-thread registers at entry (the boot contract: RDI = index,
# RSP = top of RAM - index * 64K), a breakpoint hit named by thread, the
# other vCPU stopped where it was, and the end once both have halted.
. "$(dirname "$0")/gdb/lib.sh"
plan 7
gdb_preflight gdb_threads

gdb_session threads "$KERNEL" "$KERNEL" --cpus 2 <<'EOF2'
echo @@ entry\n
info threads
thread 2
pv/x $rdi
pv/x $rsp
thread 1
pv/x $rdi
pv/x $rsp
echo @@ stop\n
break choose_path
continue
info threads
thread 2
frames
pv cpu
pv ap_ticks[1] > 0
pv kernel_done
thread 1
pv/x $pc
echo @@ end\n
delete
continue
info threads
continue
EOF2
vmm_end 5
want_re two_threads_at_entry entry '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, stopped at entry\) _start \(\) at .*' \
	'^  2 +Thread 2 "vCPU 1" \(vCPU 1, long mode, stopped at entry\) _start \(\) at .*'
want_seq registers_per_thread entry '$rdi = 0x1' '$rsp = 0x3ff0000' '$rdi = 0x0' '$rsp = 0x4000000'
want_re breakpoint_names_thread stop '^Thread 1 "vCPU 0" hit Breakpoint 1, choose_path \(\) at guest/kernel64.c:[0-9]+$' \
	'^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, breakpoint\) choose_path \(\) at .*' \
	'^  2 +Thread 2 "vCPU 1" \(vCPU 1, long mode, stopped\) +(0x[0-9a-f]+ in )?ap_main \(cpu=1\) at .*'
want_seq other_vcpu_stopped_in_ap_main stop 'frame ap_main' 'frame _start' 'cpu = 1' 'ap_ticks[1] > 0 = 1' \
	'kernel_done = 0' "\$pc = $(sym choose_path)"
want_re both_halted end '^[* ] +1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, halted\) rt_halt \(\) at .*' \
	'^[* ] +2 +Thread 2 "vCPU 1" \(vCPU 1, long mode, halted\) rt_halt \(\) at .*'
want_seq exit_after_both_halted end 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'[Inferior 1 (Remote target) exited normally]'
check_eq status "$VMM_RC" 0
