#!/usr/bin/env bash
# gdb/MI against the vmm, driven the way an IDE drives it (VS Code's cppdbg
# with "miDebuggerServerAddress"): token-numbered commands, mi-async on,
# -target-select remote, breakpoints, frames, registers, expressions,
# variable objects, stepping, finish, memory, threads, a monitor command,
# an interrupt of a running guest, detach.
. "$(dirname "$0")/lib.sh"
plan 25
if ! have_kvm; then skip_rest mi_all "no usable /dev/kvm on this machine"; fi
if ! command -v gdb >/dev/null; then skip_rest mi_all "gdb is not installed"; fi

# The driver: one MI command per line of its script, each sent with a
# token; it waits for that token's result record and, after ^running, for
# the *stopped record (a line "! -cmd" does not wait for it; "wait-stopped"
# does; "sleep S" sleeps).  The transcript has "> -cmd" for each command and
# gdb's records with the token taken off (after checking it matched).
cat >"$TMP/mi.py" <<'PY'
import subprocess, sys, time, select, os

script, out_path = sys.argv[1], sys.argv[2]
gdb = subprocess.Popen(["gdb", "--interpreter=mi2", "-nx", "-q"], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out = open(out_path, "w")
buf = b""


def line(deadline):
    global buf
    while b"\n" not in buf:
        left = deadline - time.time()
        if left <= 0 or not select.select([gdb.stdout], [], [], left)[0]:
            return None
        chunk = os.read(gdb.stdout.fileno(), 65536)
        if not chunk:
            return None
        buf += chunk
    l, buf = buf.split(b"\n", 1)
    return l.decode(errors="replace").rstrip("\r")


def until(pred, what):
    deadline = time.time() + 20
    while True:
        l = line(deadline)
        if l is None:
            out.write("TIMEOUT waiting for %s\n" % what)
            return None
        tok = ""
        while l[:1].isdigit():
            tok, l = tok + l[0], l[1:]
        out.write(l + "\n")
        out.flush()
        if pred(tok, l):
            return tok, l


until(lambda t, l: l.startswith("(gdb)"), "the first prompt")
token = 100
for cmd in open(script).read().splitlines():
    if not cmd.strip():
        continue
    if cmd.startswith("sleep "):
        time.sleep(float(cmd[6:]))
        continue
    if cmd == "wait-stopped":
        until(lambda t, l: l.startswith("*stopped"), "*stopped")
        continue
    wait = not cmd.startswith("! ")
    cmd = cmd[2:] if not wait else cmd
    token += 1
    out.write("> %s\n" % cmd)
    gdb.stdin.write(b"%d%s\n" % (token, cmd.encode()))
    gdb.stdin.flush()
    r = until(lambda t, l: l[:1] == "^" and t != "", "the result of " + cmd)
    if r is None:
        break
    if r[0] != str(token):
        out.write("TOKEN MISMATCH: sent %d, got %s\n" % (token, r[0]))
    if r[1].startswith("^exit"):
        break
    if r[1].startswith("^running") and wait:
        if until(lambda t, l: l.startswith("*stopped"), "*stopped") is None:
            break
gdb.stdin.close()
try:
    gdb.wait(10)
except subprocess.TimeoutExpired:
    gdb.kill()
PY

# session NAME VMM-ARGS... <<< MI commands ("@PORT@" is the port)
session() {
	local name=$1; shift
	local port; port=$(free_port)
	start_vmm --gdb "$port" "$@"
	wait_listen || { fail "$name" "vmm did not listen: $(cat "$TMP/vmm.err")"; return 1; }
	sed "s/@PORT@/$port/g" >"$TMP/$name.mi"
	(cd "$TMP" && timeout "$(tscale 90)" python3 "$TMP/mi.py" "$TMP/$name.mi" "$TMP/$name.out")
	kill "$VMM_PID" 2>/dev/null; wait "$VMM_PID" 2>/dev/null
}
has() { # NAME FILE LINE: an exact line of the transcript
	if grep -qxF -- "$3" "$TMP/$2.out"; then ok "$1"; else fail "$1" "no line '$3' in: $(head -c 3000 "$TMP/$2.out")"; fi
}
has_re() {
	if grep -qE -- "$3" "$TMP/$2.out"; then ok "$1"; else fail "$1" "no /$3/ in: $(head -c 3000 "$TMP/$2.out")"; fi
}
addr_of() { nm "$GUESTS/kernel64.elf" | awk -v s="$1" '$3 == s { print $1 }'; }

ELF=$GUESTS/kernel64.elf
level3=$(addr_of level3)
# What cppdbg sends for a launch.json with "miDebuggerServerAddress",
# "program" and "stopAtConnect": true, then a debugging session.
session k64 "$ELF" <<EOF
-gdb-set mi-async on
-enable-pretty-printing
-interpreter-exec console "set pagination off"
-interpreter-exec console "symbol-file $ELF"
-file-exec-and-symbols $ELF
-target-select remote 127.0.0.1:@PORT@
-data-list-register-values x 16
-break-insert -f level3
-exec-continue
-stack-info-depth
-stack-list-frames
-stack-list-arguments 1 0 0
-data-list-register-values x 16 5
-data-evaluate-expression watched
-var-create w * watched
-exec-next
-var-update --all-values *
-data-evaluate-expression watched
-exec-finish
-data-read-memory-bytes &banner 8
-data-evaluate-expression banner
-thread-info
-interpreter-exec console "monitor regs"
-break-delete 1
-break-watch counter
-exec-continue
-break-delete 2
-target-detach
-gdb-exit
EOF
grep -q '^TIMEOUT\|^TOKEN' "$TMP/k64.out" && fail mi_driver "$(grep '^TIMEOUT\|^TOKEN' "$TMP/k64.out")"
has mi_connected k64 '^connected'
has_re mi_stopped_at_entry k64 '^\*stopped,frame=\{addr="0x0000000000100000",func="_start",args=\[\],file="guest/kernel64_boot\.S",fullname="[^"]*/guest/kernel64_boot\.S",line="[0-9]+",arch="i386:x86-64"\},thread-id="1",stopped-threads="all",core="0"$'
has mi_rip_at_entry k64 '^done,register-values=[{number="16",value="0x100000"}]'
has_re mi_break_insert k64 '^\^done,bkpt=\{number="1",type="breakpoint",disp="keep",enabled="y",addr="0x'"$level3"'",func="level3",file="guest/kernel64\.c",fullname="[^"]*",line="[0-9]+",'
has_re mi_breakpoint_hit k64 '^\*stopped,reason="breakpoint-hit",disp="keep",bkptno="1",frame=\{addr="0x'"$level3"'",func="level3",args=\[\{name="x",value="4"\}.*\],file="guest/kernel64\.c",.*thread-id="1",stopped-threads="all",core="0"$'
has mi_stack_depth k64 '^done,depth="5"'
has_re mi_frames k64 '^\^done,stack=\[frame=\{level="0",addr="0x'"$level3"'",func="level3",[^}]*\},frame=\{level="1",addr="0x[0-9a-f]+",func="level2",[^}]*\},frame=\{level="2",addr="0x[0-9a-f]+",func="level1",[^}]*\},frame=\{level="3",addr="0x[0-9a-f]+",func="kmain",[^}]*\},frame=\{level="4",addr="0x0*100[0-9a-f]{3}",func="_start",[^}]*\}\]$'
has mi_arguments k64 '^done,stack-args=[frame={level="0",args=[{name="x",value="4"},{name="x@entry",value="4"}]}]'
has mi_registers_rip_rdi k64 '^done,register-values=[{number="16",value="0x'"$level3"'"},{number="5",value="0x4"}]'
has mi_evaluate_before k64 '^done,value="1"'
has mi_var_create k64 '^done,name="w",numchild="0",value="1",type="volatile uint64_t",has_more="0"'
has_re mi_next k64 '^\*stopped,reason="end-stepping-range",frame=\{addr="0x[0-9a-f]+",func="level3",.*line="[0-9]+",arch="i386:x86-64"\},thread-id="1",stopped-threads="all",core="0"$'
has mi_var_update k64 '^done,changelist=[{name="w",value="2",in_scope="true",type_changed="false",has_more="0"}]'
has mi_evaluate_after k64 '^done,value="2"'
has_re mi_finish k64 '^\*stopped,reason="function-finished",frame=\{addr="0x[0-9a-f]+",func="level2",.*gdb-result-var="\$[0-9]+",return-value="305441753",thread-id="1",stopped-threads="all",core="0"$'
has mi_memory k64 '^done,memory=[{begin="0x'"$(addr_of banner)"'",offset="0x0000000000000000",end="0x'"$(printf %x $((0x$(addr_of banner) + 8)))"'",contents="6b65726e656c3634"}]'
has mi_string k64 '^done,value="\"kernel64: hello from the higher half\\n\""'
has_re mi_thread_info k64 '^\^done,threads=\[\{id="1",target-id="Thread 1",details="vCPU 0, long mode, [^"]*",name="vCPU 0",frame=\{level="0",addr="0x[0-9a-f]+",func="level2",.*state="stopped",core="0"\}\],current-thread-id="1"$'
has mi_monitor_regs k64 '@"cr0  0x0000000080010033  PE MP ET NE WP PG\n"'
has mi_watch_set k64 '^done,wpt={number="2",exp="counter"}'
has_re mi_watch_hit k64 '^\*stopped,reason="watchpoint-trigger",wpt=\{number="2",exp="counter"\},value=\{old="0",new="1"\},frame=\{addr="0x[0-9a-f]+",func="count_loop",'
has mi_detach k64 '~"[Inferior 1 (Remote target) detached]\n"'

# An IDE's pause button: -exec-interrupt while the guest spins (path 1).
session intr --arg 1 "$ELF" <<EOF
-gdb-set mi-async on
-file-exec-and-symbols $ELF
-target-select remote 127.0.0.1:@PORT@
! -exec-continue
sleep 0.5
-exec-interrupt
wait-stopped
-data-evaluate-expression path
-data-evaluate-expression spins>0
-gdb-exit
EOF
grep -q '^TIMEOUT\|^TOKEN' "$TMP/intr.out" && fail mi_intr_driver "$(grep '^TIMEOUT\|^TOKEN' "$TMP/intr.out")"
has mi_running k64 '*running,thread-id="all"'
has_re mi_interrupted intr '^\*stopped,reason="signal-received",signal-name="SIGINT",signal-meaning="Interrupt",frame=\{addr="0x[0-9a-f]+",func="[a-z_]+",.*thread-id="1",stopped-threads="all",core="0"$'
has mi_path_is_1 intr '^done,value="1"'
