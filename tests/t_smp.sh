#!/usr/bin/env bash
# gdb against the vmm with four vCPUs (smp64 --cpus 4), all-stop: four
# threads with their extra info and boot registers; a breakpoint in per-CPU
# code hit by each thread in turn, and one all four reach at once (the
# others' hits kept and reported one per resume); a hardware breakpoint hit
# on every vCPU; each thread's own CR3 for memory; stepping one thread with
# scheduler-locking (the others stay where they are) and without it; a write
# watchpoint on the shared counter naming the writer; locked writes of four
# vCPUs on a watched page, none lost; Ctrl-C stopping all
# four; halted and running vCPUs at once; the end once all have halted, an
# exit while others run, a fault; the same over the raw protocol; attaching
# to four running vCPUs and detaching.
. "$(dirname "$0")/gdb/lib.sh"
plan 54
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
	'^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, stopped at entry\) _start \(.*' \
	'^  2 +Thread 2 "vCPU 1" \(vCPU 1, long mode, stopped at entry\) _start \(.*' \
	'^  3 +Thread 3 "vCPU 2" \(vCPU 2, long mode, stopped at entry\) _start \(.*' \
	'^  4 +Thread 4 "vCPU 3" \(vCPU 3, long mode, stopped at entry\) _start \(.*'
want_seq boot_registers_per_thread entry '$rdi = 0x0' '$rdx = 0x4' '$rsp = 0x4000000' \
	'$rdi = 0x1' '$rdx = 0x4' '$rsp = 0x3ff0000' '$rdi = 0x2' '$rsp = 0x3fe0000' \
	'$rdi = 0x3' '$rsp = 0x3fd0000' '$pc = 0x0'
hits=$(grep -c "^Thread [1-4] \"vCPU [0-3]\" hit Breakpoint 1, percpu_work (cpu=cpu@entry=[0-3]) at guest/smp64.c:$l_percpu\$" "$(section hits)")
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

# --- all four reach one breakpoint at once: the hits kept, one per resume ----------
gdb_session simul "$SMP" --cpus 4 "$SMP" <<EOF2
break smp64.c:$l_after_barrier
continue
info threads
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
delete
continue
EOF2
vmm_end 5
hits=$(grep -c "^Thread [1-4] \"vCPU [0-3]\" hit Breakpoint 1, _start (.*) at guest/smp64.c:$l_after_barrier\$" "$OUT")
tids=$(grep '^hit by ' "$OUT" | sort -u | wc -l)
check_eq simultaneous_hits_none_lost "$hits/$tids" 4/4
echo "# hits kept at the first stop: $(grep -c 'breakpoint (not reported yet)' "$OUT")"
want simultaneous_then_exit - '[Inferior 1 (Remote target) exited with code 0125]'
check_eq simultaneous_lines "$(grep -c '^smp64: cpu [0-3] arrived$' "$VOUT")/$(tail -n 1 "$VOUT")" '4/smp64: 4 cpus, counter 4'

# --- a hardware breakpoint is in every vCPU's debug registers -----------------------
if probe_yes 'hw execution breakpoints'; then
gdb_session hbreak "$SMP" --cpus 4 "$SMP" <<'EOF2'
hbreak percpu_work
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
continue
python print("hit by", gdb.selected_thread().num)
delete
continue
EOF2
vmm_end 5
hits=$(grep -c "^Thread [1-4] \"vCPU [0-3]\" hit Breakpoint 1, percpu_work (cpu=cpu@entry=[0-3]) at guest/smp64.c:$l_percpu\$" "$OUT")
tids=$(grep '^hit by ' "$OUT" | sort -u | wc -l)
check_eq hw_breakpoint_on_every_vcpu "$hits/$tids" 4/4
want hbreak_then_exit - '[Inferior 1 (Remote target) exited with code 0125]'
else
	skip_checks "vmm --probe: debug-register execution breakpoints never fire on this KVM" \
		hw_breakpoint_on_every_vcpu hbreak_then_exit
fi

# --- a write watchpoint on the shared counter names the vCPU that wrote it ---------
# The watched page is read-only to every vCPU: each one's locked increment
# reaches the vmm as an MMIO write after KVM's emulation read the old value,
# and the vmm does it again atomically (vmm/watch_write.c): none is lost.
gdb_session watch "$SMP" --cpus 4 "$SMP" <<'EOF2'
watch counter
python
for i in range(4):
    gdb.execute("continue")
    th = gdb.selected_thread()
    if th is None or not th.is_valid():
        break
    print("written by", th.num, "cpu", int(gdb.parse_and_eval("cpu")))
end
delete
try continue
EOF2
vmm_end 5
writes=$(grep -c '^Thread [1-4] "vCPU [0-3]" hit Hardware watchpoint 1: counter$' "$OUT")
writers=$(grep '^written by ' "$OUT" | sort -u | wc -l)
bad=$(awk '/^written by / && $3 != $5 + 1' "$OUT")
# Two vCPUs writing at once both complete before the stop is reported (as on
# hardware: the trap comes after the write), and gdb reports a write
# watchpoint only when the value changed: the second one's kept stop then
# shows no change and gdb goes on silently (all four may land before the
# first stop: one stop from 0 to 4).  So what must hold is that the
# reported changes add up to all four increments.
delta=$(awk '/^Old value = /{o=$4} /^New value = /{s+=$4-o} END{print s+0}' "$OUT")
if [ "$writes" = 4 ] && [ "$writers" = 4 ]; then
	ok watch_counter_writers
elif [ "$writes" -ge 1 ] && [ "$writes" = "$writers" ] && [ "$delta" = 4 ]; then
	echo "# writes landed together: $writes stops covered the 4 increments"
	ok watch_counter_writers
else
	fail watch_counter_writers "$writes stops by $writers threads covering $delta increments, want all 4"
fi
want watch_then_exit - '[Inferior 1 (Remote target) exited with code 0125]'
check_eq watch_names_writer "$bad" ""
check_eq watch_guest_count "$(grep -c '^smp64: 4 cpus, counter 4$' "$VOUT")" 1

# --- locked writes of four vCPUs at once on a watched page: none lost ---------------
# smp64 path 7: each vCPU does 100 rounds of lock inc, lock xadd, a lock
# cmpxchg loop and a plain increment under an xchg spinlock, all on the page
# of hammer.sentinel, which nobody writes: no stop, every write the vmm's.
gdb_session hammer "$SMP" --cpus 4 --arg 7 "$SMP" <<'EOF2'
watch hammer.sentinel
continue
EOF2
vmm_end 10
want hammer_watch_set - 'Hardware watchpoint 1: hammer.sentinel'
want hammer_exit - '[Inferior 1 (Remote target) exited with code 0125]'
check_eq hammer_exact "$(grep -E '^smp64: (hammer|FAILED)' "$VOUT")" "smp64: hammer 400"

# --- stepping one thread: with scheduler-locking the others stay where they are ----
rips() { local n; for n in 1 2 3 4; do echo "thread $n"; echo 'pv/x $rip'; done; }
gdb_session lock "$SMP" --cpus 4 "$SMP" <<EOF2
break percpu_work
continue
delete
echo @@ before\n
$(rips)
echo @@ step\n
set scheduler-locking step
thread 3
set debug remote 1
stepi
stepi
set debug remote 0
pv/x \$rip
echo @@ after_step\n
$(rips)
echo @@ on\n
set scheduler-locking on
thread 2
set debug remote 1
stepi
set debug remote 0
pv/x \$rip
echo @@ after_on\n
$(rips)
echo @@ off\n
set scheduler-locking off
thread 4
set debug remote 1
stepi
set debug remote 0
info threads
kill
EOF2
vmm_end 3
# rip_of SECTION N: thread N's \$rip in that section
rip_of() { awk -v n="$2" '/^\$rip = / { if (++i == n) print $3 }' "$(section "$1")"; }
moved3=$(grep '^\$rip = ' "$(section step)" | tail -1 | cut -d' ' -f3)
check_eq locked_step_moves_thread3 "$(rip_of after_step 3)" "$moved3"
[ "$(rip_of before 3)" != "$moved3" ] && ok locked_step_thread3_moved || fail locked_step_thread3_moved "rip $moved3"
check_eq locked_step_others_stay "$(rip_of after_step 1) $(rip_of after_step 2) $(rip_of after_step 4)" \
	"$(rip_of before 1) $(rip_of before 2) $(rip_of before 4)"
check_eq locked_on_others_stay "$(rip_of after_on 1) $(rip_of after_on 3) $(rip_of after_on 4)" \
	"$(rip_of after_step 1) $(rip_of after_step 3) $(rip_of after_step 4)"
[ "$(rip_of after_on 2)" != "$(rip_of after_step 2)" ] && ok locked_on_thread2_moved ||
	fail locked_on_thread2_moved "rip $(rip_of after_on 2)"
want_re locked_step_packets step '^\[remote\] Sending packet: \$vCont;s:3#[0-9a-f]{2}$'
want_re locked_on_packets on '^\[remote\] Sending packet: \$vCont;s:2#[0-9a-f]{2}$'
want_re unlocked_step_runs_others off '^\[remote\] Sending packet: \$vCont;s:4;c#[0-9a-f]{2}$' \
	'^\* 4 +Thread 4 "vCPU 3" \(vCPU 3, long mode, single step\) .*' '^  1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, stopped\) .*'

# --- Ctrl-C stops all four: nothing moves afterwards ---------------------------------
reads() { local n; for n in 1 2 3 4; do echo "thread $n"; echo 'pv/x $rip'; echo "pv spins[$((n - 1))]"; done; }
gdb_session intr "$SMP" --cpus 4 "$SMP" --arg 1 <<EOF2
interrupt-after 1
continue
echo @@ threads\n
info threads
echo @@ read1\n
$(reads)
shell sleep 0.3
echo @@ read2\n
$(reads)
kill
EOF2
vmm_end 3
want_re interrupt_stops_all threads \
	'^[* ] 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, (interrupted|stopped)\) .*spin \(cpu=cpu@entry=0\) .*' \
	'^[* ] 2 +Thread 2 "vCPU 1" \(vCPU 1, long mode, (interrupted|stopped)\) .*spin \(cpu=cpu@entry=1\) .*' \
	'^[* ] 3 +Thread 3 "vCPU 2" \(vCPU 2, long mode, (interrupted|stopped)\) .*spin \(cpu=cpu@entry=2\) .*' \
	'^[* ] 4 +Thread 4 "vCPU 3" \(vCPU 3, long mode, (interrupted|stopped)\) .*spin \(cpu=cpu@entry=3\) .*'
want_re interrupt_sigint - '^Thread [1-4] "vCPU [0-3]" received signal SIGINT, Interrupt\.$'
r1=$(grep -E '^(\$rip|spins)' "$(section read1)")
r2=$(grep -E '^(\$rip|spins)' "$(section read2)")
[ "$(wc -l <<<"$r1")" = 8 ] && [ "$r1" = "$r2" ] && ok interrupt_nothing_moves ||
	fail interrupt_nothing_moves "first: $(tr '\n' ' ' <<<"$r1") second: $(tr '\n' ' ' <<<"$r2")"
[ "$(grep -c '^spins\[[0-3]\] = [1-9]' "$(section read1)")" = 4 ] && ok interrupt_all_had_run ||
	fail interrupt_all_had_run "$(tr '\n' ' ' <<<"$r1")"

# --- halted and running vCPUs at once (path 6: 1-3 halt, 0 spins) -------------------
gdb_session mixed "$SMP" --cpus 4 "$SMP" --arg 6 <<'EOF2'
interrupt-after 1
continue
echo @@ threads\n
info threads
echo @@ step_halted\n
set scheduler-locking on
thread 3
pv/x $rip
stepi
pv/x $rip
echo @@ again\n
thread 1
interrupt-after 0.5
continue
python print("stopped thread", gdb.selected_thread().num)
echo @@ cont_halted\n
thread 2
continue
python print("stopped thread", gdb.selected_thread().num)
echo @@ all\n
set scheduler-locking off
thread 1
interrupt-after 0.5
continue
python print("stopped thread", gdb.selected_thread().num)
pv spins[0] > 0
info threads
kill
EOF2
vmm_end 3
want_re mixed_threads threads '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, interrupted\) .*spin \(cpu=cpu@entry=0\) .*' \
	'^  2 +Thread 2 "vCPU 1" \(vCPU 1, long mode, halted\) .*' '^  3 +Thread 3 "vCPU 2" \(vCPU 2, long mode, halted\) .*' \
	'^  4 +Thread 4 "vCPU 3" \(vCPU 3, long mode, halted\) .*'
want mixed_step_halted_answers step_halted 'vmm: vCPU 2 is halted (HLT): a step does not move it'
check_eq mixed_step_halted_stays "$(grep -c '^\$rip = ' "$(section step_halted)")/$(grep '^\$rip = ' "$(section step_halted)" | sort -u | wc -l)" 2/1
want mixed_interrupt_again again 'Thread 1 "vCPU 0" received signal SIGINT, Interrupt.' 'stopped thread 1'
want mixed_continue_halted_answers cont_halted \
	'vmm: vCPU 1 halted (HLT); nothing runs: the other vCPUs were left stopped' 'stopped thread 2'
want mixed_all_again all 'Thread 1 "vCPU 0" received signal SIGINT, Interrupt.' 'stopped thread 1' 'spins[0] > 0 = 1'

# --- the end: all halted, a fault, an exit while others still run -------------------
gdb_session halted "$SMP" --cpus 4 "$SMP" --arg 2 <<'EOF2'
continue
info threads
continue
EOF2
vmm_end 5
want all_halted_stop - 'vmm: the guest halted (HLT); memory stays readable, continuing ends it' \
	'[Inferior 1 (Remote target) exited normally]'
check_eq all_halted_threads "$(grep -cE '^[* ] [1-4] +Thread [1-4] "vCPU [0-3]" \(vCPU [0-3], long mode, halted\) ' "$OUT")" 4
check_eq all_halted_status "$VMM_RC" 0

gdb_session fault "$SMP" --cpus 4 "$SMP" --arg 3 <<'EOF2'
continue
python print("stopped thread", gdb.selected_thread().num)
pv/x $cr2
info threads
continue
EOF2
vmm_end 5
want fault_stop - 'vmm: vCPU 3: triple fault (KVM_EXIT_SHUTDOWN); continuing ends the guest' \
	'Thread 4 "vCPU 3" received signal SIGSEGV, Segmentation fault.' 'stopped thread 4' \
	'[Inferior 1 (Remote target) exited with code 06]'
if fault_state_kept; then
	want fault_cr2 - '$cr2 = 0x8000001000'
	want_re fault_thread_info - '^\* 4 +Thread 4 "vCPU 3" \(vCPU 3, long mode, triple fault\) .*'
else
	# KVM reset the vCPU (kvm_amd); vCPU 3 ran from its entry in one go
	want_re fault_state_lost_said - "^($FAULT_NOTE|${FAULT_LOST//[()]/.})\$"
	want_re fault_thread_info - '^\* 4 +Thread 4 "vCPU 3" \(vCPU 3, [a-z]+ mode, triple fault, registers (as last resumed|lost)\) .*'
fi
check_eq fault_status "$VMM_RC" 6

gdb_session spin_exit "$SMP" --cpus 4 "$SMP" --arg 5 <<'EOF2'
continue
EOF2
vmm_end 5
want exit_while_others_run - '[Inferior 1 (Remote target) exited with code 0125]'
check_eq exit_while_others_run_status "$VMM_RC" 85

# --- the protocol itself, without gdb's own step-overs --------------------------------
# A raw client that never removes its breakpoint: each continue from a hit
# steps that vCPU over it alone (the breakpoint is lifted meanwhile, so no
# other vCPU may run past it), and every vCPU's hit is still reported.
cat >"$TMP/raw.py" <<'PY'
import sys
from rsp import Client, le
c = Client(int(sys.argv[1]), timeout=20)
def cmd(p):
    r = c.cmd(p)
    print("%s -> %s" % (p, r))
    return r
cmd("qSupported:swbreak+")  # as gdb: the PC on the breakpoint, reported as swbreak
cmd("qfThreadInfo"); cmd("qsThreadInfo")
print("extra 3:", bytes.fromhex(cmd("qThreadExtraInfo,3")).decode())
for t in (1, 2, 3, 4):
    cmd("Hg%x" % t)
    print("thread %d rdi %d rdx %d rip %#x" % (t, le(cmd("p5")), le(cmd("p3")), le(cmd("p10"))))
cmd("Z0,%s,1" % sys.argv[2])
for k in range(4):
    r = cmd("vCont;c")
    tid = int(r.split("thread:")[1].split(";")[0], 16)
    print("hit by %d swbreak %s" % (tid, "swbreak:" in r))
def rips():
    out = []
    for t in (1, 2, 3, 4):
        cmd("Hg%x" % t)
        out.append(le(cmd("p10")))
    return out
cmd("z0,%s,1" % sys.argv[2])
before = rips()
r = cmd("vCont;s:2")
after = rips()
print("step names thread 2:", "thread:2;" in r)
print("others stay:", [before[i] == after[i] for i in (0, 2, 3)], "thread 2 moved:", before[1] != after[1])
print("end:", cmd("vCont;c"))
PY
GDB_PORT=$(free_port)
start_vmm --gdb "127.0.0.1:$GDB_PORT" --cpus 4 "$SMP"
# shellcheck disable=SC2034 # read by vmm_end
SESSION=raw OUT=$TMP/raw.out VOUT=$TMP/raw.vmm.out VERR=$TMP/raw.vmm.err
if wait_listen; then
	timeout "$(tscale 60)" python3 "$TMP/raw.py" "$GDB_PORT" "$(ssym percpu_work | sed 's/^0x//')" >"$OUT" 2>&1
fi
vmm_end 5
want raw_threads - 'qfThreadInfo -> m1,2,3,4' 'qsThreadInfo -> l' 'extra 3: vCPU 2, long mode, stopped at entry' \
	'thread 1 rdi 0 rdx 4 rip 0x0' 'thread 2 rdi 1 rdx 4 rip 0x0' 'thread 3 rdi 2 rdx 4 rip 0x0' \
	'thread 4 rdi 3 rdx 4 rip 0x0'
check_eq raw_breakpoint_kept_four_hits "$(grep -c '^hit by [1-4] swbreak True$' "$OUT")/$(grep '^hit by ' "$OUT" | sort -u | wc -l)" 4/4
want raw_step_one_thread - 'step names thread 2: True' 'others stay: [True, True, True] thread 2 moved: True' 'end: W55'

# --- attach to four running vCPUs, detach, attach again -------------------------------
gdb_session attach1 "$SMP" --gdb-no-wait --cpus 4 "$SMP" --arg 1 <<EOF2
info threads
python print("running:", sum(1 for t in gdb.selected_inferior().threads() if t.is_running()))
python print("spins:", " ".join(str(int(gdb.parse_and_eval("spins[%d]" % i)) > 0) for i in range(4)))
python s1 = [int(gdb.parse_and_eval("spins[%d]" % i)) for i in range(4)]
python open("$TMP/s1", "w").write(repr(s1))
detach
EOF2
want attach_stops_all - 'running: 0' 'spins: True True True True'
check_eq attach_threads "$(grep -cE '^[* ] [1-4] +Thread [1-4] "vCPU [0-3]" \(vCPU [0-3], long mode, stopped\) .*spin' "$OUT")" 4
sleep 0.3
gdb_attach attach2 "$SMP" <<EOF2
python s1 = eval(open("$TMP/s1").read())
python print("all moved on:", all(int(gdb.parse_and_eval("spins[%d]" % i)) > s1[i] for i in range(4)))
kill
EOF2
vmm_end 3
want detach_runs_all - 'all moved on: True'
check_eq attach_kill_status "$VMM_RC" 14
