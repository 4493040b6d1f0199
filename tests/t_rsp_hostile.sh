#!/usr/bin/env bash
# Hostile or broken clients against the real vmm, over the raw protocol.
# Every case asserts the exact replies and then that the stub still answers
# a normal '?' and 'g'.  Memory and registers are read back after refused
# writes: nothing changes.  Clients that vanish mid-packet, mid-continue or
# right after Z0 (200 times racing the breakpoint's hit) leave a guest that
# runs on with its original bytes.  Floods of Ctrl-C (one stop per flood, with
# four vCPUs too), a second client, 10,000 connect/disconnect cycles: no fd
# leak, bounded RSS.
. "$(dirname "$0")/lib.sh"
plan 36
if ! have_kvm; then skip_rest rsp_hostile_all "no usable /dev/kvm on this machine"; fi
RSP=$BUILD/tests/tool_rsp
K=$GUESTS/kernel64.elf
sym() { nm "$K" | awk -v s="$1" '$3 == s { print $1 }' | sed 's/^0*//'; }
hexstr() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# x86-64 little-endian hex of a number, 8 bytes.
le64() { printf '%016x' "$1" | sed 's/../& /g' | awk '{ for (i = NF; i > 0; i--) printf "%s", $i }'; }
tick=$(sym tick) spins=$(sym spins)
tick_phys=$(printf '%x' $((0x$tick - 0xffffffff7ff00000)))
tick_byte=$(objdump -d --start-address=0x$tick --stop-address=$((0x$tick + 1)) "$K" |
	awk -F'\t' '/^ *[0-9a-f]+:\t/ { print substr($2, 1, 2); exit }')
entry8=$(od -An -tx1 -N8 "$GUESTS/kernel64.bin" | tr -d ' \n')  # _start at 0x100000

# py PORT PAYLOAD...: one client, each payload sent in turn, each reply
# printed on a line (console O packets skipped).  For capturing baselines.
py() {
	python3 - "$@" <<'EOF'
import sys
from rsp import Client
c = Client(int(sys.argv[1]))
for a in sys.argv[2:]:
    print(c.cmd(a))
EOF
}

port=$(free_port)
start_vmm --gdb "$port" "$K" --arg 1
wait_listen || { fail rsp_hostile "vmm did not listen: $(cat "$TMP/vmm.err")"; exit 0; }
VPID=$(pgrep -P "$VMM_PID" -x vmm || echo "$VMM_PID")

# Held at _start: the registers every case must find unchanged.
py "$port" "qRcmd,$(hexstr 'hold on')" g >"$TMP/base" || { fail rsp_hostile "no baseline"; exit 0; }
G0=$(sed -n 2p "$TMP/base")
[ ${#G0} -gt 100 ] && ok baseline_registers || fail baseline_registers "g gave '$G0'"

ALIVE="send ?
expect_re ^T[0-9a-f]{2}.*thread:0*1;
send g
expect $G0
send m100000,8
expect $entry8"

# rsp NAME: run the script on stdin as one client, then the ALIVE checks in
# the same client or, when the script ends with "close", in the next one.
rsp() {
	local name=$1 r=0
	cat >"$TMP/$name.rsp"
	if [ "$(grep -v '^$' "$TMP/$name.rsp" | tail -1)" = close ]; then
		timeout -k 2 "$(tscale 20)" "$RSP" "127.0.0.1:$port" <"$TMP/$name.rsp" >"$TMP/$name.out" 2>&1 || r=1
		sleep 0.1
		echo "$ALIVE" >"$TMP/$name.rsp"
	else
		echo "$ALIVE" >>"$TMP/$name.rsp"
	fi
	[ $r = 0 ] && { timeout -k 2 "$(tscale 20)" "$RSP" "127.0.0.1:$port" <"$TMP/$name.rsp" >>"$TMP/$name.out" 2>&1 || r=1; }
	if [ $r = 0 ]; then
		ok "$name"
	else
		fail "$name" "$(grep -m1 FAIL "$TMP/$name.out" || tail -1 "$TMP/$name.out")"
	fi
}

rsp bad_checksum_nacked_then_resend_accepted <<'EOF'
raw $?#00
expect_ack -
raw $?#3f
expect_ack +
expect_re ^T[0-9a-f]{2}.*thread:0*1;
raw $m100000,4#00
expect_ack -
EOF

rsp garbage_between_packets_skipped <<'EOF'
raw hello world\x00\x7f\xff####}}}***
send ?
expect_re ^T05
raw \r\n\t  junk
send qC
expect QC1
EOF

# One byte more than PacketSize (0x20000): E16 (EINVAL), then the session goes on.
{ printf 'send m100000,'; head -c $((0x20000 - 8)) /dev/zero | tr '\0' '0'; printf '1\nexpect E16\n'; } |
	rsp packet_longer_than_packetsize_refused

rsp non_hex_digits_refused <<'EOF'
send mxyz,4
expect E16
send m100000,4g
expect E16
send m10000g,4
expect E16
send p1g
expect E16
send Hgz
expect E16
send Z0,10000z,1
expect E16
send qRcmd,zz
expect E16
EOF

rsp missing_fields_refused <<'EOF'
send m100000
expect E16
send m,4
expect E16
send m100000,
expect E16
send M100000,4
expect E16
send X100000,4
expect E16
send Z0,100000
expect E16
send z0
expect E16
send p
expect E16
send P10
expect E16
send H
expect E16
send qRcmd
expect E16
send vCont;
expect E16
EOF

rsp huge_and_overflowing_ranges_refused <<'EOF'
send m0,ffffffffffffffff
expect E16
send m100000,10000000000000000
expect E16
send m10000000000000000,1
expect E16
send mffffffffffffffff,2
expect E16
send mfffffffffffffff0,11
expect E16
send Mffffffffffffffff,2:0000
expect E16
send Xfffffffffffffffe,4:abcd
expect E16
send m100000,20001
expect E16
EOF

rsp x_length_not_matching_data_refused <<'EOF'
send X100000,4:ab
expect E16
send X100000,1:abc
expect E16
send X100000,2:}
expect E16
send X100000,1:}
expect E16
send X100000,0:
expect OK
EOF

rsp one_digit_checksum_nacked <<'EOF'
raw $?#3$?#3f
expect_ack -
expect_ack +
expect_re ^T05
raw $?#3z
expect_ack -
EOF

# Writes of the wrong size change nothing (ALIVE reads g and memory back).
g_short=${G0:0:$((${#G0} - 2))} g_badz=${G0:0:$((${#G0} - 1))}z
rsp wrong_size_writes_refused_without_damage <<EOF
send M100000,4:00112233aa
expect E16
send M100000,4:001122
expect E16
send M100000,8:ffffffffffffffff00
expect E16
send M100000,2:zzzz
expect E16
send X100000,3:ABCD
expect E16
send G$g_short
expect E16
send G${G0}00
expect E16
send G$g_badz
expect E16
send P10=00
expect E16
send P10=000000000000000000
expect E16
send P10=00000000000000zz
expect E16
send P0=
expect E16
send Pfff=0000000000000000
expect E16
send m100000,8
expect $entry8
EOF

rsp unknown_and_empty_packets_empty_reply <<'EOF'
send
expect
send qFoo
expect
send vFoo;bar
expect
send !
expect
send qSupportedX
expect
send QBogus:1
expect
send vMustReplyEmpty
expect
EOF

# --- a second client while one is attached ---------------------------------
cat >"$TMP/first.rsp" <<EOF
send ?
expect_re ^T05
sleep 1200
$ALIVE
EOF
timeout -k 2 "$(tscale 20)" "$RSP" "127.0.0.1:$port" <"$TMP/first.rsp" >"$TMP/first.out" 2>&1 &
first=$!
sleep 0.4
printf 'send ?\nexpect E.another debugger is already attached\nexpect_eof\n' >"$TMP/second.rsp"
timeout -k 2 "$(tscale 20)" "$RSP" "127.0.0.1:$port" <"$TMP/second.rsp" >"$TMP/second.out" 2>&1
src=$?
wait "$first"; frc=$?
[ "$src" = 0 ] && ok second_client_refused || fail second_client_refused "$(cat "$TMP/second.out")"
[ "$frc" = 0 ] && ok first_client_unaffected || fail first_client_unaffected "$(grep FAIL "$TMP/first.out")"

# A refused client that keeps sending must not hold up the attached one.
python3 - "$port" >"$TMP/trickle.out" 2>&1 <<'EOF2'
import socket, sys, threading, time
from rsp import frame
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port), timeout=10)
a.sendall(frame("?")); time.sleep(0.3); a.recv(65536)
def trickle():
    b = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        for i in range(40):
            b.sendall(b"x"); time.sleep(0.1)
    except OSError:
        pass
    b.close()
th = threading.Thread(target=trickle); th.start()
time.sleep(0.8)
t0 = time.time(); a.sendall(b"+" + frame("qC")); r = a.recv(65536); dt = time.time() - t0
th.join(); a.close()
print("ok trickling_second_client_does_not_stall_first" if dt < 1.5 and b"QC1" in r else
      "FAIL trickling_second_client_does_not_stall_first: waited %.1f s for %r" % (dt, r[:20]))
EOF2
cat "$TMP/trickle.out"
grep -q '^ok trickling' "$TMP/trickle.out" || grep -q '^FAIL' "$TMP/trickle.out" ||
	fail trickling_second_client_does_not_stall_first "$(tail -2 "$TMP/trickle.out")"

# --- Ctrl-C floods ----------------------------------------------------------
flood=$(head -c 4000 /dev/zero | tr '\0' 'x' | sed 's/x/\\x03/g')
rsp ctrl_c_flood_while_stopped <<EOF
raw $flood
send ?
expect_re ^T05
EOF

# --- clients that vanish ------------------------------------------------------
rsp disconnect_mid_packet_1 <<'EOF'
raw $m100000,4
close
EOF
rsp disconnect_mid_packet_2 <<'EOF'
raw $m100000,4#1
close
EOF

# From here the guest runs on when a client leaves.
py "$port" "qRcmd,$(hexstr 'hold off')" >/dev/null
ALIVE_RUN="send ?
expect_re ^T[0-9a-f]{2}.*thread:0*1;
send g
expect_re ^[0-9a-fx]{${#G0}}\$
send m$tick,1
expect $tick_byte
send qRcmd,$(hexstr 'phys on')
expect_prefix O
expect OK
send m$tick_phys,1
expect $tick_byte
send qRcmd,$(hexstr 'phys off')
expect_prefix O
expect OK"
ALIVE=$ALIVE_RUN

# spins PORT: the guest's counter, read by a client that attaches.
# (A few tries: right after a client hangs up the vmm may still count it as
# attached and refuse the next one; through the nested rig's relay often.)
spins_now() {
	local v i
	for i in 1 2 3 4 5; do
		v=$(py "$port" "m$spins,8" | grep -xE '[0-9a-f]{16}' | sed 's/\(..\)/\1 /g' |
			awk '{ for (i = NF; i > 0; i--) printf "%s", $i }')
		[ -n "$v" ] && { echo "$v"; return; }
		sleep 0.2
	done
}
# runs_on NAME: the guest's counter goes up between two attaches.
runs_on() {
	local s1 s2
	s1=$(spins_now); sleep 0.3; s2=$(spins_now)
	if [ -n "$s1" ] && [ -n "$s2" ] && [ $((0x$s2)) -gt $((0x$s1)) ]; then ok "$1"
	else fail "$1" "spins '$s1' then '$s2'"; fi
}

rsp ctrl_c_flood_while_running <<EOF
send c
sleep 100
raw $flood
expect_re ^T02.*thread:0*1;
raw $flood
send ?
expect_re ^T02
send vCont;c
sleep 50
raw \x03
expect_re ^T02
EOF

rsp disconnect_mid_continue <<'EOF'
send c
sleep 200
close
EOF
runs_on guest_runs_on_after_disconnect_mid_continue

# Z0 on tick (not run by the spinning guest), then gone: with and without a
# continue.  A new client finds the original byte, virtually and physically.
rsp disconnect_right_after_z0 <<EOF
send Z0,$tick,1
expect OK
close
EOF
rsp disconnect_after_z0_mid_continue <<EOF
send Z0,$tick,1
expect OK
send Z0,$tick_phys,1
expect_re ^(OK|E[0-9a-f]{2})\$
send c
sleep 100
close
EOF
runs_on guest_runs_on_after_z0_disconnect

# Racing the hit: 200 clients each put a breakpoint on one of the spin loop's
# instructions, continue and hang up at once, often while the vCPU stops on
# it.  The guest spins on and its code is intact.
spin_insns=$(objdump -d --no-show-raw-insn --disassemble=spin "$K" |
	awk '/^ *ffffffff[0-9a-f]+:/ { sub(":", "", $1); printf "%s ", $1 }')
spin=$(sym spin)
code0=$(py "$port" "m$spin,18")
python3 - "$port" $spin_insns >"$TMP/race.out" 2>&1 <<'EOF2'
import random, socket, sys, time
port, insns = int(sys.argv[1]), sys.argv[2:]
for i in range(200):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    for p in ("Z0,%s,1" % random.choice(insns), "c"):
        b = p.encode()
        s.sendall(b"$" + b + b"#%02x" % (sum(b) & 0xff))
    if i % 2:
        time.sleep(random.random() * 0.002)
    s.close()
print("done")
EOF2
runs_on guest_runs_on_after_200_racing_z0_continue_disconnects
code1=$(py "$port" "m$spin,18")
[ -n "$code0" ] && [ "$code0" = "$code1" ] && grep -qx done "$TMP/race.out" && ok breakpoints_gone_after_racing_disconnects ||
	fail breakpoints_gone_after_racing_disconnects "code '$code0' then '$code1': $(tail -2 "$TMP/race.out")"

# A packet parked while the guest runs, then the client hangs up: the next
# client must be served, not refused by a session waiting for a stop.
rsp disconnect_with_packet_parked_while_running <<'EOF'
send c
raw $g#67
expect_ack +
close
EOF

# Ctrl-C and gone at once, 100 times: the stop each one causes may come after
# its session has ended, and must not stay announced (a stale stop_fd kept
# the next session's stub spinning on it without reading its client: its
# packets went unanswered and no one else was accepted).  Then a session that
# continues and sends a packet while the guest runs is answered at once.
python3 - "$port" >"$TMP/stale.out" 2>&1 <<'EOF2'
import os, socket, sys, time
from rsp import frame
port = int(sys.argv[1])
limit = 5 * int(os.environ.get("TIME_SCALE", "1"))   # (TCG speed under the nested rig)
def ack(s):
    got = b""
    while b"+" not in got:
        d = s.recv(100)
        if not d:
            raise EOFError
        got += d
try:
    for i in range(100):
        s = socket.create_connection(("127.0.0.1", port), timeout=limit)
        s.sendall(frame("c"))
        time.sleep(0.002)
        s.sendall(b"\x03")
        s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=limit)
    s.sendall(frame("c"))
    ack(s)
    s.sendall(frame("g"))
    ack(s)
    s.sendall(b"\x03")
    s.close()
    print("served")
except (OSError, EOFError) as e:
    print("not served:", repr(e))
EOF2
grep -qx served "$TMP/stale.out" && ok stale_stop_does_not_starve_the_next_session ||
	fail stale_stop_does_not_starve_the_next_session "$(tail -2 "$TMP/stale.out")"
runs_on guest_runs_on_after_stale_stops

# --- 10,000 connect/disconnect cycles: fds and RSS --------------------------
fds() { ls "/proc/$VPID/fd" 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$VPID/status"; }
cycles() {
	# (timeouts scaled: the rig's kernel under QEMU TCG can stall ~20 s)
	python3 - "$port" "$1" "$(tscale 10)" <<'EOF'
import socket, sys, time
port, n, limit = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
q = b"$?#3f"
refused = 0
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=limit)
    if i % 2:
        s.sendall(q)                 # half of them say something first
        buf = b""
        while b"#" not in buf or len(buf) < buf.index(b"#") + 3:
            d = s.recv(4096)
            if not d: break
            buf += d
        if b"another debugger" in buf: refused += 1
    s.close()
print(refused)
EOF
}
cycles 200 >/dev/null
sleep 0.3
f0=$(fds) r0=$(rss)
t0=$(date +%s)
refused=$(cycles 10000)
t1=$(date +%s)
sleep 0.5
f1=$(fds) r1=$(rss)
echo "# 10000 cycles in $((t1 - t0)) s: fds $f0 -> $f1, VmRSS $r0 -> $r1 kB, refused $refused"
[ -n "$f0" ] && [ "$f0" = "$f1" ] && ok connect_cycles_no_fd_leak || fail connect_cycles_no_fd_leak "fds $f0 -> $f1"
[ "$refused" = 0 ] && ok connect_cycles_all_served || fail connect_cycles_all_served "$refused of 10000 refused"
[ -n "$r0" ] && [ $((r1 - r0)) -lt 2048 ] && ok connect_cycles_rss_bounded || fail connect_cycles_rss_bounded "VmRSS $r0 -> $r1 kB"
echo "timeout $(tscale 10)" | rsp served_after_connect_cycles

# The guest still runs: no breakpoint or stop left behind.
runs_on guest_runs_after_everything
printf 'send k\n' | timeout "$(tscale 10)" "$RSP" "127.0.0.1:$port" >/dev/null 2>&1
wait "$VMM_PID"; rc=$?
[ "$rc" = 14 ] && ok vmm_killed_cleanly || fail vmm_killed_cleanly "status $rc: $(tail -3 "$TMP/vmm.err")"

# --- Ctrl-C floods with four vCPUs: one stop per flood, none left over -------------
port=$(free_port)
start_vmm --gdb "$port" --cpus 4 "$K" --arg 1
wait_listen || { fail smp_ctrl_c_flood "vmm did not listen: $(cat "$TMP/vmm.err")"; exit 0; }
python3 - "$port" >"$TMP/smp.out" 2>&1 <<'EOF2'
import socket, sys, time
from rsp import Client
c = Client(int(sys.argv[1]), on_eof="FAIL smp_ctrl_c_flood: the vmm hung up")
bad = []
for rnd in range(5):
    c.send("c"); time.sleep(0.1); c.raw(b"\x03" * 3000)
    r = c.packet(console=True)
    if not r.startswith("T02"): bad.append("flood stop " + r[:20])
    c.send("c"); c.settimeout(0.4)
    try:
        bad.append("a stale stop after the flood: " + c.packet(console=True)[:30])
    except socket.timeout:
        pass
    c.settimeout(10); c.raw(b"\x03")
    r = c.packet(console=True)
    if not r.startswith("T02"): bad.append("stop " + r[:20])
threads = c.cmd("qfThreadInfo")
g = c.cmd("g")
if threads != "m1,2,3,4": bad.append("threads " + threads)
if len(g) < 200: bad.append("g " + g[:20])
print("FAIL smp_ctrl_c_flood: " + "; ".join(bad) if bad else "ok smp_ctrl_c_flood_one_stop_each")
c.send("k")
EOF2
cat "$TMP/smp.out"
grep -q '^ok smp_ctrl_c_flood' "$TMP/smp.out" || grep -q '^FAIL' "$TMP/smp.out" || fail smp_ctrl_c_flood "$(tail -2 "$TMP/smp.out")"
wait "$VMM_PID"; rc=$?
[ "$rc" = 14 ] && ok smp_vmm_killed_cleanly || fail smp_vmm_killed_cleanly "status $rc: $(tail -3 "$TMP/vmm.err")"
