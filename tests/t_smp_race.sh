#!/usr/bin/env bash
# The SMP gdb sessions again and again, to shake out races in the all-stop
# machinery: a breakpoint in per-CPU code (every vCPU's hit reported once,
# by its own thread), a breakpoint all vCPUs reach at once after the barrier
# (kept hits reported one per resume, none lost), and Ctrl-C at once after
# a continue, from gdb and, sooner still, from a raw client that sends
# Ctrl-C in the same write as its vCont;c (vCPU threads kicked before they
# are back in KVM_RUN).  ROUNDS (default 12) rounds of each; about 1 s a
# session.
. "$(dirname "$0")/gdb/lib.sh"
plan 5
gdb_preflight smp_race
SMP=$GUESTS/smp64.elf
ROUNDS=${ROUNDS:-12}
l_after_barrier=$(line_of smp64.c '	add(&l, "smp64: cpu ");')

# hits_script N LOCATION: N continues to LOCATION, naming the thread each time
hits_script() {
	echo "break $2"
	for ((k = 0; k < $1; k++)); do
		echo continue
		echo 'python print("hit by", gdb.selected_thread().num, int(gdb.parse_and_eval("cpu")))'
		echo 'info threads'
	done
	echo delete
	echo continue
}

# want_hits NAME N: N hits, each by a different thread whose cpu is its index
want_hits() {
	local n=$2 by tids bad
	by=$(grep -c '^hit by ' "$OUT")
	tids=$(grep '^hit by ' "$OUT" | cut -d' ' -f3 | sort -u | wc -l)
	bad=$(awk '/^hit by / && $3 != $4 + 1' "$OUT")
	if [ "$by/$tids" = "$n/$n" ] && [ -z "$bad" ] && [ "$VMM_RC" = 85 ] &&
	   [ "$(tail -n 1 "$VOUT")" = "smp64: $n cpus, counter $n" ]; then
		return 0
	fi
	echo "    $1: $by hits by $tids threads [$bad], vmm status $VMM_RC, last line '$(tail -n 1 "$VOUT")'"
	tail -n 5 "$OUT" | sed 's/^/    | /'
	return 1
}

bad_bp=0 bad_simul=0 bad_intr=0 kept=0
for ((r = 1; r <= ROUNDS; r++)); do
	gdb_session "bp$r" "$SMP" --cpus 4 "$SMP" < <(hits_script 4 percpu_work)
	vmm_end 5
	want_hits "bp round $r" 4 || bad_bp=$((bad_bp + 1))

	n=$((r % 2 ? 4 : 2))
	gdb_session "simul$r" "$SMP" --cpus $n "$SMP" < <(hits_script $n "smp64.c:$l_after_barrier")
	vmm_end 5
	want_hits "simultaneous round $r" $n || bad_simul=$((bad_simul + 1))
	kept=$((kept + $(grep -c '(not reported yet)' "$OUT")))

	gdb_session "intr$r" "$SMP" --cpus 4 "$SMP" --arg 1 <<EOF2
interrupt-after $(printf '0.%02d' $((r + 4)))
continue
python print("running:", sum(1 for t in gdb.selected_inferior().threads() if t.is_running()))
interrupt-after 0.3
continue
info threads
kill
EOF2
	vmm_end 3
	if [ "$(grep -c 'received signal SIGINT' "$OUT")" = 2 ] && grep -qx 'running: 0' "$OUT" &&
	   [ "$(grep -cE '^[* ] [1-4] +Thread [1-4] "vCPU [0-3]" \(vCPU [0-3], long mode, (stopped|interrupted)\) ' "$OUT")" = 4 ]; then
		:
	else
		bad_intr=$((bad_intr + 1))
		echo "    interrupt round $r:"
		tail -n 8 "$OUT" | sed 's/^/    | /'
	fi
done
check_eq "breakpoint_per_cpu_${ROUNDS}_rounds" "$bad_bp failed" "0 failed"
check_eq "simultaneous_hits_${ROUNDS}_rounds" "$bad_simul failed" "0 failed"
check_eq "interrupt_at_once_${ROUNDS}_rounds" "$bad_intr failed" "0 failed"
echo "# hits kept for a later resume, in all rounds: $kept"

# Ctrl-C in the same write as the continue, 40 times in one session.
cat >"$TMP/intr.py" <<'PY'
import sys
from rsp import Client, frame
c = Client(int(sys.argv[1]), timeout=20)
cmd = c.cmd
stops = {}
for k in range(40):
    c.raw(frame("vCont;c") + b"\x03")
    r = c.packet()
    kind = r[:3]
    stops[kind] = stops.get(kind, 0) + 1
    if cmd("qfThreadInfo") != "m1,2,3,4":
        print("round %d: no thread list after %s" % (k, r))
print("stops:", " ".join("%s=%d" % kv for kv in sorted(stops.items())))
c.send("k")
PY
GDB_PORT=$(free_port)
start_vmm --gdb "127.0.0.1:$GDB_PORT" --cpus 4 "$SMP" --arg 1
# shellcheck disable=SC2034 # read by vmm_end
SESSION=rawintr OUT=$TMP/rawintr.out VOUT=$TMP/rawintr.vmm.out VERR=$TMP/rawintr.vmm.err
wait_listen && timeout "$(tscale 60)" python3 "$TMP/intr.py" "$GDB_PORT" >"$OUT" 2>&1
vmm_end 3
want raw_interrupt_with_continue_40 - 'stops: T02=40'
check_eq raw_kill_status "$VMM_RC" 14
