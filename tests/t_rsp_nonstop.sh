#!/usr/bin/env bash
# Non-stop mode over the raw protocol, with smp64 --arg 8 on 4 vCPUs (each
# runs laps forever, in a tight loop: lap(cpu) counts laps[cpu], then
# spins[cpu] climbs).
#
# QNonStop, '?' (one stopped thread: gdb 13 takes no more at a connect;
# the other vCPUs run), vCont answered OK at once, memory read while
# the vCPUs run, a register of a running thread refused, vCont;t stopping one
# vCPU (T00) while the others' counters go on, stepping that one while the
# others run, then a breakpoint on lap hit by all four vCPUs, each hit
# reported on its own, all four resumed at once again and again: the
# guest's own count of laps must equal the hits reported, exactly (a vCPU
# that ran past the breakpoint while another stepped off it would count
# more).  Then vCtrlC, a write watchpoint set while they run, detach, and an
# all-stop client after it.
. "$(dirname "$0")/lib.sh"
plan 23
if ! have_kvm; then skip_rest rsp_nonstop_all "no usable /dev/kvm on this machine"; fi

SMP=$GUESTS/smp64.elf
addr() { nm "$SMP" | awk -v s="$1" '$3 == s { print "0x" $1; exit }'; }
port=$(free_port)
start_vmm --gdb "$port" --cpus 4 --arg 8 "$SMP"
wait_listen || { fail rsp_nonstop "vmm did not listen: $(head -c 300 "$TMP/vmm.err")"; exit 0; }
python3 - "$port" "$(addr lap)" "$(addr laps)" "$(addr spins)" "$(tscale 30)" "$TIME_SCALE" \
	>"$TMP/ns.out" 2>&1 <<'EOF'
import re, sys, time
from rsp import Client, le
port, lap, laps, spins = int(sys.argv[1]), int(sys.argv[2], 16), int(sys.argv[3], 16), int(sys.argv[4], 16)
limit, scale = float(sys.argv[5]), float(sys.argv[6])
c = Client(port, timeout=limit, on_eof="FAIL rsp_nonstop: the vmm hung up")
q = c.cmd

def check(name, cond, why):
    print(("ok %s" % name) if cond else ("FAIL %s: %s" % (name, why)), flush=True)

def tid_of(s):
    m = re.search(r"thread:([0-9a-f]+);", s)
    return int(m.group(1), 16) if m else -1

def pc_of(s):
    m = re.search(r"(?:^|;)10:([0-9a-f]{16});", s[3:])
    return le(m.group(1)) if m else -1

def drain(first):
    """first and every stop vStopped gives after it, up to OK."""
    got = [first]
    while True:
        r = q("vStopped")
        if r == "OK":
            return got
        got.append(r)

def stops():
    n = c.notification()
    assert n.startswith("Stop:"), n
    return drain(n[5:])

def u64(a):
    return le(q("m%x,8" % a))

sup = q("qSupported:swbreak+;hwbreak+;error-message+")
check("qsupported_offers_nonstop", "QNonStop+" in sup, sup)
vc = q("vCont?")
check("vcont_offers_t", "t" in vc.split(";")[1:], vc)
r = q("QNonStop:1")
check("qnonstop_on", r == "OK", r)
first = q("?")
got = drain(first) if first != "OK" else []
check("why_reports_one_thread", [tid_of(s) for s in got] == [1], got)
r = q("vCont;t:2")
got2 = stops() if r == "OK" else [r]
check("others_run_after_why", len(got2) == 1 and got2[0].startswith("T00") and tid_of(got2[0]) == 2, got2)

r = q("vCont;c")
check("vcont_answered_at_once", r == "OK", r)
time.sleep(0.5 * scale)
a = u64(spins + 16)
time.sleep(0.3 * scale)
b = u64(spins + 16)
check("memory_read_while_running", b > a, "spins[2] %d then %d" % (a, b))
q("Hg1")
r = q("p10")
check("register_of_running_thread_refused", r.startswith("E"), r)

r = q("vCont;t:1")
got = stops() if r == "OK" else [r]
check("vcont_t_stops_one_as_T00", len(got) == 1 and got[0].startswith("T00") and tid_of(got[0]) == 1, got)
rip = le(q("p10"))
s0, s2 = u64(spins), u64(spins + 16)
time.sleep(0.3 * scale)
s0b, s2b = u64(spins), u64(spins + 16)
check("others_run_while_one_stopped", s0 == s0b and s2b > s2, "spins[0] %d->%d spins[2] %d->%d" % (s0, s0b, s2, s2b))

ok_steps, rips = True, []
for i in range(5):
    r = q("vCont;s:1")
    got = stops() if r == "OK" else [r]
    ok_steps &= len(got) == 1 and got[0].startswith("T05") and tid_of(got[0]) == 1
    rips.append(le(q("p10")))
check("stepi_one_thread", ok_steps and len(set(rips + [rip])) > 1, rips)
check("others_ran_during_steps", u64(spins + 16) > s2b, "spins[2] stayed %d" % s2b)

# Every vCPU through lap, each hit reported on its own.
r = q("Z0,%x,1" % lap)
check("breakpoint_inserted_while_running", r == "OK", r)
r = q("vCont;c:1")
hits, base, last_bp, bad_pc = {}, {}, {}, []
rounds, t0, at_bp = 0, time.time(), set()
# Rounds: once every vCPU waits at lap, all four go on in one vCont, so
# that the target steps each off the breakpoint while those started
# before it could run (they must not, until the last step is done).
while time.time() - t0 < limit:
    for s in stops():
        t = tid_of(s)
        if "swbreak:" not in s:
            bad_pc.append(s[:40])
            continue
        if pc_of(s) != lap:
            bad_pc.append("thread %d at %x" % (t, pc_of(s)))
        if t not in hits:
            base[t] = u64(laps + 8 * (t - 1))  # stopped before its increment
        hits[t] = hits.get(t, 0) + 1
        at_bp.add(t)
    if len(at_bp) == 4:
        if rounds == 40:
            break  # all four wait at lap, the increment not done
        rounds += 1
        at_bp.clear()
        q("vCont;c:1;c:2;c:3;c:4")
check("all_four_hit_the_breakpoint", sorted(hits) == [1, 2, 3, 4] and rounds >= 10,
      "hits %s, %d rounds in %.1f s" % (hits, rounds, time.time() - t0))
check("breakpoint_stops_are_swbreak_at_lap", not bad_pc, bad_pc[:5])

r = q("z0,%x,1" % lap)
wrong = []
for t in sorted(hits):
    n = u64(laps + 8 * (t - 1))
    if n != base[t] + hits[t] - 1:
        wrong.append("vCPU %d: laps %d, hits %d from %d" % (t - 1, n, hits[t], base[t]))
check("guest_laps_equal_hits_exactly", not wrong and len(at_bp) == 4,
      wrong or "at the breakpoint: %s" % sorted(at_bp))

# All go on; vCont;t stops every one (T00 each).
r = q("vCont;c")
time.sleep(0.2 * scale)
r = q("vCont;t")
running, t0 = {1, 2, 3, 4}, time.time()
while running and time.time() - t0 < limit:
    for s in stops():
        if s.startswith("T00"):
            running.discard(tid_of(s))
check("vcont_t_stops_all", not running, "still running: %s" % running)

# vCtrlC stops one running vCPU with SIGINT.
r = q("vCont;c")
time.sleep(0.2 * scale)
r = q("vCtrlC")
got = stops() if r == "OK" else [r]
check("vctrlc_stops_one_with_sigint", len(got) == 1 and got[0].startswith("T02"), got)

# Registers of a stopped one, while the others run.
q("Hg%x" % tid_of(got[0]))
g = q("g")
check("registers_of_stopped_thread", re.fullmatch("[0-9a-fx]{200,}", g) is not None, g[:40])

# A write watchpoint set while vCPUs run stops the writer alone.
x = tid_of(got[0])
w = [t for t in (1, 2, 3, 4) if t != x][0]
o = [t for t in (1, 2, 3, 4) if t not in (x, w)][0]
wa = laps + 8 * (w - 1)
r = q("Z2,%x,8" % wa)
got = stops() if r == "OK" else [r]
a = u64(spins + 8 * (o - 1))
time.sleep(0.2 * scale)
b = u64(spins + 8 * (o - 1))
check("watchpoint_while_running_stops_the_writer",
      len(got) == 1 and tid_of(got[0]) == w and ("watch:%x;" % wa) in got[0] and b > a,
      (got, "spins of vCPU %d: %d then %d" % (o - 1, a, b)))
r = q("z2,%x,8" % wa)

r = q("D")
check("detach_in_nonstop", r == "OK", r)
c.close()
time.sleep(0.3 * scale)
c2 = Client(port, timeout=limit, on_eof="FAIL rsp_nonstop: the vmm hung up after detach")
w = c2.cmd("?")
a = le(c2.cmd("m%x,8" % (spins + 8)))
c2.send("c")
time.sleep(0.3 * scale)
c2.raw(b"\x03")
st = c2.packet()
b = le(c2.cmd("m%x,8" % (spins + 8)))
check("all_stop_client_after_nonstop", w.startswith("T") and st.startswith("T02") and b > a, (w[:20], st[:20], a, b))
c2.send("k")
time.sleep(0.2)
EOF
grep -E '^(ok|FAIL) ' "$TMP/ns.out"
grep -q '^FAIL\|^ok' "$TMP/ns.out" || fail rsp_nonstop "$(tail -5 "$TMP/ns.out")"
grep -q Traceback "$TMP/ns.out" && fail rsp_nonstop_script "$(tail -3 "$TMP/ns.out" | tr '\n' '|')"
wait "$VMM_PID"
rc=$?
[ "$rc" = 14 ] && ok vmm_killed_status_14 || fail vmm_killed_status_14 "status $rc: $(tail -3 "$TMP/vmm.err")"
grep -qE 'Sanitizer|runtime error:' "$TMP/vmm.err" && fail rsp_nonstop_sanitizer "$(grep -m1 -E 'Sanitizer|runtime error:' "$TMP/vmm.err")"
exit 0
