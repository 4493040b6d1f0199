#!/usr/bin/env bash
# A kernel written for a PC, not for the boot contract: pckernel (guest/
# pckernel*.{c,S}) is a Multiboot image that enters long mode by itself, sets
# up its IDT, prints on COM1, remaps the 8259s and counts PIT ticks at
# 100 Hz idling in HLT (or, asked, through the I/O APIC and with the APIC
# timer), finds its CPUs in the ACPI MADT and starts them with
# INIT/SIPI, and ends through port 0xF4 (status 33 ok, 35 failed).  Run
# plain, then under gdb: a breakpoint in the timer interrupt's handler, a
# watchpoint on the tick counter, Ctrl-C out of the idle HLT, the APs
# waiting for SIPI in the thread list, and an AP stepped once started.
# Where this KVM refuses a guest entering long mode itself (vmm --probe),
# the run must end in that triple fault and the rest is skipped, loudly.
. "$(dirname "$0")/gdb/lib.sh"
plan 16
gdb_preflight pckernel
PK=$GUESTS/pckernel.elf

# run NAME CPUS APPEND: the plain run; its stdout with the tick count
# written as N (a tick can land between the wait's end and its line).
pk_run() {
	run_vmm "$TMP/$1.out" "$TMP/$1.err" "$PK" --cpus "$2" --append "$3"
	sed -E 's/^pckernel: [0-9]+ ticks$/pckernel: N ticks/' "$TMP/$1.out" >"$TMP/$1.norm"
}
expect() { # NAME STATUS WANT-FILE
	if [ "$RC" -eq "$2" ] && cmp -s "$TMP/$1.norm" "$3" && grep -qE '^pckernel: (2[0-9]|[3-9][0-9]) ticks$' "$TMP/$1.out"
	then ok "$1"
	else fail "$1" "status $RC (want $2); stdout $(tr '\n' '|' <"$TMP/$1.out"); want $(tr '\n' '|' <"$3"); stderr $(head -c 400 "$TMP/$1.err")"; fi
}

pk_run smp4 4 "ticks=20 cpus=4"
if [ "$RC" -eq 6 ] && [ ! -s "$TMP/smp4.out" ] && ! probe_yes 'guest enters long mode itself'; then
	skip_rest pckernel "this KVM ($(sed -n 's/^kvm module: *//p' "$TMP/probe")) refuses a guest entering long mode itself ('vmm --probe': guest enters long mode itself: no); pckernel triple-faulted there, as it must"
fi
if ! probe_yes 'interrupt injection'; then
	skip_rest pckernel "this KVM ($(sed -n 's/^kvm module: *//p' "$TMP/probe")) does not deliver interrupts injected with KVM_INTERRUPT ('vmm --probe': interrupt injection: no): no timer ticks here"
fi
head4='pckernel: long mode
pckernel: command line '"'"'ticks=20 cpus=4'"'"'
pckernel: IDT loaded
pckernel: PIC at 0x20/0x28, PIT at 100 Hz, waiting for 20 ticks
pckernel: N ticks
pckernel: ACPI: RSDP revision 2 at 0xe0000, XSDT at 0xe0040'
cat >"$TMP/want4" <<EOF2
$head4
pckernel: MADT: 4 CPUs, local APIC at 0xfee00000
pckernel: IOAPIC 0 at 0xfec00000, GSI base 0
pckernel: BSP is APIC 0, starting 3 APs
pckernel: AP 1 online
pckernel: AP 2 online
pckernel: AP 3 online
pckernel: 4 of 4 CPUs online
pckernel: ok
EOF2
expect smp4 33 "$TMP/want4"

pk_run smp1 1 "ticks=20"
cat >"$TMP/want1" <<EOF2
pckernel: long mode
pckernel: command line 'ticks=20'
pckernel: IDT loaded
pckernel: PIC at 0x20/0x28, PIT at 100 Hz, waiting for 20 ticks
pckernel: N ticks
pckernel: ACPI: RSDP revision 2 at 0xe0000, XSDT at 0xe0040
pckernel: MADT: 1 CPUs, local APIC at 0xfee00000
pckernel: IOAPIC 0 at 0xfec00000, GSI base 0
pckernel: BSP is APIC 0, starting 0 APs
pckernel: 1 of 1 CPUs online
pckernel: ok
EOF2
expect smp1 33 "$TMP/want1"

# The other interrupt paths: IRQ 0 through the I/O APIC (the MADT's override
# to GSI 2), ticks from the APIC timer calibrated against the PIT.
run_vmm "$TMP/alt.out" "$TMP/alt.err" "$PK" --cpus 2 --append "ticks=20 irq=ioapic timer=lapic"
if [ "$RC" -eq 33 ] && grep -qx 'pckernel: IRQ 0 through the IOAPIC at 0xfec00000, GSI 2' "$TMP/alt.out" &&
   grep -qxE 'pckernel: APIC timer at 100 Hz \([0-9]+ counts per 10 ms, divide by 16\), waiting for 20 ticks' "$TMP/alt.out" &&
   grep -qx 'pckernel: 2 of 2 CPUs online' "$TMP/alt.out" && grep -qx 'pckernel: ok' "$TMP/alt.out"; then
	ok ioapic_and_apic_timer
else
	fail ioapic_and_apic_timer "status $RC; stdout $(tr '\n' '|' <"$TMP/alt.out"); stderr $(head -c 400 "$TMP/alt.err")"
fi

# Expecting more CPUs than there are: the kernel's own failure, status 35.
run_vmm "$TMP/more.out" "$TMP/more.err" "$PK" --cpus 2 --append "ticks=20 cpus=3"
if [ "$RC" -eq 35 ] && grep -qx 'pckernel: FAILED: 2 CPUs online, 3 expected' "$TMP/more.out"; then ok fewer_cpus_fail
else fail fewer_cpus_fail "status $RC; $(tr '\n' '|' <"$TMP/more.out")"; fi

# gdb 1: the APs wait for SIPI (thread list); a breakpoint in the timer
# handler; a watchpoint on the tick counter the handler writes; Ctrl-C out of
# the idle HLT (the vCPU waits there for its next interrupt).
gdb_session timer "$PK" "$PK" --cpus 2 --append "ticks=1000" <<'EOF2'
echo @@ threads\n
info threads
break timer_tick
continue
echo @@ tick\n
pv ticks
frames
delete
watch ticks
echo @@ watch\n
continue
delete
python
# Ctrl-C stops the vCPU wherever it is: now and then inside the timer's
# handler, which TCG runs slowly.  A few tries find it idle in HLT.
for attempt in range(6):
    gdb.execute("interrupt-after 0.5")
    gdb.execute("continue")
    f = gdb.newest_frame()
    hlt = int(gdb.parse_and_eval("*(unsigned char *)($pc - 1)")) == 0xf4
    if f.name() == "idle_until" and hlt:
        break
end
echo @@ idle\n
pv $_thread
frames
pv *(unsigned char *)($pc - 1) == 0xf4
pv ticks > 1
interrupt-after 1
continue
echo @@ again\n
pv ticks > 2
kill
EOF2
vmm_end 5
want_re threads_wait_sipi threads '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, protected mode, .*' \
	'^ +2 +Thread 2 "vCPU 1" \(vCPU 1, real mode, [^)]*waiting for INIT/SIPI.*'
want break_in_timer_handler tick 'ticks = 0' 'frame timer_tick'
want_re watch_tick_counter watch '^Old value = 0$' '^New value = 1$'
want ctrl_c_in_idle_hlt idle '$_thread = 1' 'frame idle_until' '*(unsigned char *)($pc - 1) == 0xf4 = 1' 'ticks > 1 = 1'
want ticks_go_on again 'ticks > 2 = 1'

# gdb 2: a breakpoint where an AP starts in C, stepped there; then the
# kernel runs to its verdict.
gdb_session ap "$PK" "$PK" --cpus 2 --append "ticks=5" <<'EOF2'
break ap_main
continue
echo @@ ap\n
pv apic_id
pv $_thread
set $a = $pc
stepi
stepi
pv $_thread
pv $pc != $a
delete
echo @@ end\n
continue
EOF2
vmm_end 5
want_re ap_breakpoint ap '^apic_id = 1$' '^\$_thread = 2$'
want_seq ap_steps ap '$_thread = 2' '$_thread = 2' '$pc != $a = 1'
want ap_kernel_verdict end '[Inferior 1 (Remote target) exited with code 041]'
if grep -qx 'pckernel: AP 1 online' "$VOUT" && grep -qx 'pckernel: ok' "$VOUT"; then ok ap_kernel_output
else fail ap_kernel_output "$(tr '\n' '|' <"$VOUT")"; fi

# gdb 3: recording across an interrupt.  Recording delivers the timer's
# interrupt itself (vmm/record_irq.c) to the vCPU idling in HLT: the handler
# is reached and recorded; going back over the delivery restores the
# registers and the stack the frame was written to; with recording off the
# kernel runs to its end.  The AP waits for its SIPI all the while without
# taking the recording's turn.
gdb_session record "$PK" "$PK" --cpus 2 --append "ticks=5" <<'EOF2'
break idle_until
continue
set $start_pc = $pc
set $start_sp = $rsp
set $below = *(unsigned long *)(((unsigned long)$rsp & ~0xf) - 8)
monitor record on
delete
break timer_tick
continue
echo @@ rec\n
frames
pv $_thread
delete
reverse-continue
echo @@ back\n
pv $pc == $start_pc
pv $rsp == $start_sp
pv *(unsigned long *)(((unsigned long)$rsp & ~0xf) - 8) == $below
echo @@ recoff\n
monitor record off
continue
EOF2
vmm_end 5
want record_delivers_interrupt rec 'frame timer_tick' '$_thread = 1'
want record_back_over_interrupt back '$pc == $start_pc = 1' '$rsp == $start_sp = 1' \
	'*(unsigned long *)(((unsigned long)$rsp & ~0xf) - 8) == $below = 1'
want record_off_runs_on recoff '[Inferior 1 (Remote target) exited with code 041]'
