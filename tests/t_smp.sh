#!/usr/bin/env bash
# gdb against the vmm with four vCPUs (smp64 --cpus 4), all-stop: four
# threads with their extra info and boot registers; a breakpoint in per-CPU
# code hit by each thread in turn, and one all four reach at once (the
# others' hits kept and reported one per resume); a hardware breakpoint hit
# on every vCPU; each thread's own CR3 for memory; stepping one thread with
# scheduler-locking (the others stay where they are) and without it; a write
# watchpoint on the shared counter naming the writer; Ctrl-C stopping all
# four; halted and running vCPUs at once; the end once all have halted, an
# exit while others run, a fault.
. "$(dirname "$0")/gdb/lib.sh"
gdb_preflight smp
SMP=$GUESTS/smp64.elf

# ssym NAME: the address of an smp64 symbol, as 0x...
ssym() { local a; a=$(nm "$SMP" | awk -v s="$1" '$3 == s { print $1; exit }'); [ -n "$a" ] && printf '0x%x\n' "0x$a"; }
l_percpu=$(($(line_of smp64.c 'void percpu_work(int cpu)') + 2))
l_after_barrier=$(line_of smp64.c '	add(&l, "smp64: cpu ");')

# --- threads at entry, a breakpoint hit by each thread in turn, CR3 per thread ---
gdb_session bp "$SMP" --cpus 4 "$SMP" <<EOF2
echo @@ entry\n
info threads
thread 1
pv/x \$rdi
pv/x \$rdx
pv/x \$rsp
thread 2
pv/x \$rdi
pv/x \$rdx
pv/x \$rsp
thread 3
pv/x \$rdi
pv/x \$rsp
thread 4
pv/x \$rdi
pv/x \$rsp
pv/x \$pc
echo @@ hits\n
break percpu_work
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
echo @@ cr3\n
thread 1
pv/x \$cr3
x/s 0x8000000000
thread 2
pv/x \$cr3
x/s 0x8000000000
thread 3
x/s 0x8000000000
thread 4
x/s 0x8000000000
echo @@ end\n
delete
continue
EOF2
vmm_end 5
want_re four_threads_at_entry entry \
	'^\* 1 +Thread 1 \(vCPU 0, long mode, stopped at entry\) _start \(.*' \
	'^  2 +Thread 2 \(vCPU 1, long mode, stopped at entry\) _start \(.*' \
	'^  3 +Thread 3 \(vCPU 2, long mode, stopped at entry\) _start \(.*' \
	'^  4 +Thread 4 \(vCPU 3, long mode, stopped at entry\) _start \(.*'
want_seq boot_registers_per_thread entry '$rdi = 0x0' '$rdx = 0x4' '$rsp = 0x4000000' \
	'$rdi = 0x1' '$rdx = 0x4' '$rsp = 0x3ff0000' '$rdi = 0x2' '$rsp = 0x3fe0000' \
	'$rdi = 0x3' '$rsp = 0x3fd0000' '$pc = 0x0'
hits=$(grep -c "^Thread [1-4] hit Breakpoint 1, percpu_work (cpu=cpu@entry=[0-3]) at guest/smp64.c:$l_percpu\$" "$(section hits)")
tids=$(grep '^hit by ' "$(section hits)" | sort -u | wc -l)
check_eq four_hits_four_threads "$hits/$tids" 4/4
# the thread named is the vCPU whose cpu argument it shows
bad=$(sed -n 's/^Thread \([1-4]\) hit Breakpoint 1, percpu_work (cpu=cpu@entry=\([0-3]\)).*/\1 \2/p' "$(section hits)" |
	awk '$1 != $2 + 1')
check_eq hit_thread_is_its_vcpu "$bad" ""
want_seq cr3_per_thread cr3 "\$cr3 = $(ssym common_tables)" '0x8000000000:	"smp64 page A"' \
	"\$cr3 = $(ssym cpu1_tables)" '0x8000000000:	"smp64 page B"' \
	'0x8000000000:	"smp64 page A"' '0x8000000000:	"smp64 page A"'
want bp_then_exit end '[Inferior 1 (Remote target) exited with code 0125]'
check_eq bp_status "$VMM_RC" 85
check_eq bp_lines "$(grep -c '^smp64: cpu [0-3] arrived$' "$VOUT")/$(tail -n 1 "$VOUT")" '4/smp64: 4 cpus, counter 4'
