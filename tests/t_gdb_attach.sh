#!/usr/bin/env bash
# gdb against the vmm: sessions.  A second client is refused while the
# first goes on; detach lets the guest run on and a new gdb finds it in a
# consistent state; "monitor hold on" keeps it stopped across a detach;
# --gdb-no-wait runs the guest before anyone attaches; kill ends the vmm.
. "$(dirname "$0")/gdb/lib.sh"
plan 13
gdb_preflight gdb_attach

pml4_p=$(hex "$(sym pml4) - 0xffffffff7ff00000")
gdb_session first "$KERNEL" "$KERNEL" --arg 1 <<EOF2
echo @@ second\n
shell timeout -k 2 "$(tscale 20)" gdb -batch -nx -ex 'target remote 127.0.0.1:@PORT@' -ex 'p \$pc' >$TMP/second.out 2>&1; echo "second gdb status \$?"
pv/x \$pc
stepi
pv/x \$pc
echo @@ detach\n
interrupt-after 0.5
continue
python print("spins at detach:", int(gdb.parse_and_eval("spins")))
detach
EOF2
first=$OUT
s1=$(sed -n 's/^spins at detach: //p' "$OUT")
want_seq second_client_refused second 'second gdb status 1' '$pc = 0x100000' "\$pc = $(insn_addr _start 1)"
if grep -q 'another debugger is already attached' "$TMP/second.out" && ! grep -q '^\$1 = ' "$TMP/second.out"; then
	ok second_client_told_why
else fail second_client_told_why "the second gdb said: $(tr '\n' '|' <"$TMP/second.out")"; fi
want_seq detach detach 'Program received signal SIGINT, Interrupt.' '[Inferior 1 (Remote target) detached]'

sleep 0.5
gdb_attach again "$KERNEL" <<EOF2
echo @@ state\n
python print("spins went on:", int(gdb.parse_and_eval("spins")) > ${s1:-0})
frames
pv/x \$cr3
pv path
info threads
echo @@ hold\n
monitor hold on
python print("spins at hold:", int(gdb.parse_and_eval("spins")))
detach
EOF2
s2=$(sed -n 's/^spins at hold: //p' "$OUT")
want_seq reattach_after_detach state 'spins went on: True' 'frame spin' 'frame choose_path' 'frame kmain' \
	'frame _start' "\$cr3 = $pml4_p" 'path = 1'
want_re reattach_thread_info state '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, stopped\) .*spin \(\) at guest/kernel64.c:[0-9]+$'
want hold_on hold 'on disconnect the guest stays stopped' '[Inferior 1 (Remote target) detached]'

sleep 0.3
gdb_attach held "$KERNEL" <<EOF2
python print("spins held:", int(gdb.parse_and_eval("spins")) == ${s2:--1})
monitor hold off
interrupt-after 0.3
continue
python print("spins after hold off:", int(gdb.parse_and_eval("spins")) > ${s2:-0})
kill
EOF2
want_seq hold_keeps_guest_stopped - 'spins held: True' 'on disconnect the guest runs on' 'spins after hold off: True'
want kill_message - '[Inferior 1 (Remote target) killed]'
vmm_end 3
check_eq kill_status_14 "$VMM_RC" 14
grep -qx 'vmm: killed from gdb' "$VERR" && ok kill_reported || fail kill_reported "vmm stderr: $(tr '\n' '|' <"$VERR")"

# --- --gdb-no-wait: the guest runs at once; an attach stops it where it is ----------
gdb_session nowait "$KERNEL" --gdb-no-wait "$KERNEL" --arg 1 <<'EOF2'
python print("spun before attach:", int(gdb.parse_and_eval("spins")) > 0)
pv path
frames
EOF2
# gdb's exit detached; the guest spins on without a debugger
sleep 0.2
kill -0 "$VMM_PID" 2>/dev/null && ok no_wait_runs_on_after_detach || fail no_wait_runs_on_after_detach "the vmm has gone"
vmm_end 0
want_seq no_wait_attach_stops_guest - 'spun before attach: True' 'path = 1' 'frame spin' 'frame choose_path'
grep -q '^vmm: listening for gdb on 127.0.0.1:[0-9]* (the guest runs)$' "$VERR" && ok no_wait_message ||
	fail no_wait_message "vmm stderr: $(tr '\n' '|' <"$VERR")"
