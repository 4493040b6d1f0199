#!/usr/bin/env bash
# The protocol as each client negotiates it, over the raw protocol against
# the vmm (kernel64 spinning, two vCPUs): swbreak: and the PC of a software
# breakpoint both ways (gdb with and without swbreak+, lldb), error texts
# only where asked for, GDB 16's x against m, reads of nothing, qXfer:threads,
# qXfer:exec-file and vFile on the image (and nothing else), lldb's
# qHostInfo, qProcessInfo and jThreadsInfo, and k answered before the vmm
# exits.
. "$(dirname "$0")/lib.sh"
plan 16
if ! have_kvm; then skip_rest rsp_proto_all "no usable /dev/kvm on this machine"; fi

KERNEL=$GUESTS/kernel64.elf
sym() { nm "$KERNEL" | awk -v s="$1" '$3 == s { print $1 }'; }
port=$(free_port)
start_vmm --gdb "$port" --cpus 2 --arg 1 "$KERNEL"
wait_listen || { fail rsp_proto "vmm did not listen: $(cat "$TMP/vmm.err")"; exit 0; }
timeout -k 2 "$(tscale 60)" python3 - "$port" "$(sym spin)" "$(sym banner)" "$(realpath "$KERNEL")" \
	>"$TMP/proto.out" 2>&1 <<'EOF'
import json, re, sys
import xml.etree.ElementTree as ET
from rsp import Client, le

port, spin, banner, image = int(sys.argv[1]), int(sys.argv[2], 16), int(sys.argv[3], 16), sys.argv[4]
c = Client(port, on_eof="FAIL rsp_proto: the vmm hung up")
q = c.cmd

def check(name, cond, why=""):
    print(("ok %s" % name) if cond else ("FAIL %s: %s" % (name, why)))

def unescape(p):
    """The bytes of a binary reply: '}' escapes undone."""
    b, out, i = p.encode("latin1"), bytearray(), 0
    while i < len(b):
        if b[i] == 0x7d:
            out.append(b[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(b[i])
            i += 1
    return bytes(out)

def rip(stop):
    m = re.search(r"(?:^T..|;)10:([0-9a-f]{16});", stop)
    return le(m.group(1)) if m else None

# gdb 13 with swbreak off: no swbreak:, the PC past the breakpoint (it backs
# it up), and continuing from there after the back up hits it again.
sup = q("qSupported:multiprocess+;hwbreak+;qRelocInsn+;xmlRegisters=i386")
want = ["swbreak+", "hwbreak+", "qXfer:threads:read+", "qXfer:exec-file:read+", "binary-upload+", "error-message+"]
check("qsupported_offers", all(f in sup.split(";") for f in want), sup)
c.noack()
q("Hg1")
check("breakpoint_set", q("Z0,%x,1" % spin) == "OK")
s1 = q("c")
q("P10=%s" % spin.to_bytes(8, "little").hex())  # what gdb does
s2 = q("c")
check("no_swbreak_pc_past_breakpoint", s1.startswith("T05") and "swbreak" not in s1 and rip(s1) == spin + 1
      and rip(s2) == spin + 1, "%s | %s" % (s1[:80], s2[:80]))
# gdb with swbreak+ (a new qSupported starts over): swbreak:, the PC on it.
q("qSupported:multiprocess+;swbreak+;hwbreak+")
q("P10=%s" % spin.to_bytes(8, "little").hex())
s3 = q("c")
check("swbreak_pc_on_breakpoint", "swbreak:;" in s3 and rip(s3) == spin, s3[:100])

# Errors: the number in hex, the text only after error-message+.
bad = "m8000000000000000,8"  # not canonical: no page walk reaches it
e1 = q(bad)
q("qSupported:multiprocess+;swbreak+;error-message+")
e2 = q(bad)
check("error_text_only_if_asked", e1 == "E0e" and e2 == "E.Bad address", "%s | %s" % (e1, e2))

# x: "b" and the same bytes m gives; reads of nothing are not empty replies.
m = bytes.fromhex(q("m%x,40" % banner))
x = unescape(q("x%x,40" % banner))
check("x_equals_m", x[:1] == b"b" and x[1:] == m and m.startswith(b"kernel64"), repr(x[:20]))
check("zero_length_reads", (q("m%x,0" % banner), q("x%x,0" % banner)) == ("OK", "b"))

# qXfer:threads: both vCPUs, named, on their processors, with their text.
doc = q("qXfer:threads:read::0,fff")
ts = ET.fromstring(doc[1:]).findall("thread") if doc[:1] == "l" else []
check("qxfer_threads", [(t.get("id"), t.get("name"), t.get("core")) for t in ts] ==
      [("1", "vCPU 0", "0"), ("2", "vCPU 1", "1")] and "long mode" in (ts[1].text or ""), doc[:200])

# The image: its name, then its bytes through vFile; nothing else.
check("exec_file_names_the_image", q("qXfer:exec-file:read::0,fff") == "l" + image)
with open(image, "rb") as f:
    head = f.read(64)
size = len(open(image, "rb").read())
fd = q("vFile:open:%s,0,0" % image.encode().hex())
pr = unescape(q("vFile:pread:0,40,0"))
st = unescape(q("vFile:fstat:0"))
check("vfile_reads_the_image", (q("vFile:setfs:0"), fd, q("vFile:close:0")) == ("F0", "F0", "F0")
      and pr == b"F40;" + head and st[:4] == b"F40;" and int.from_bytes(st[4 + 28:4 + 36], "big") == size,
      "%s %r %r" % (fd, pr[:12], st[:12]))
check("vfile_refuses_other_files", (q("vFile:open:%s,0,0" % b"/etc/passwd".hex()),
                                    q("vFile:open:%s,601,1a4" % image.encode().hex())) == ("F-1,d", "F-1,1e"))

# lldb's questions.
tr = "x86_64-unknown-none".encode().hex()
check("lldb_host_and_process_info", (q("qHostInfo"), q("qProcessInfo")) ==
      ("triple:%s;ptrsize:8;endian:little;" % tr, "pid:1;triple:%s;ptrsize:8;endian:little;" % tr))
ji = unescape(q("jThreadsInfo")).decode()
try:
    j = json.loads(ji)
    ok = [(t["tid"], t["name"]) for t in j] == [(1, "vCPU 0"), (2, "vCPU 1")] and \
        le(j[0]["registers"]["16"]) == spin and j[0]["signal"] == 5 and j[1]["signal"] == 0
except (ValueError, KeyError, TypeError):
    ok = False
check("lldb_jthreadsinfo", ok, ji[:200])
# lldb never asks for swbreak: and takes the PC as lldb-server gives it.
q("qSupported:xmlRegisters=i386,arm,mips,arc;multiprocess+;fork-events+;vfork-events+")
q("QListThreadsInStopReply")
q("P10=%s" % spin.to_bytes(8, "little").hex())
s4 = q("c")
check("lldb_pc_on_breakpoint", "swbreak" not in s4 and rip(s4) == spin and "threads:1,2;" in s4, s4[:120])

check("kill_answered", q("k") == "X09")
EOF
cat "$TMP/proto.out"
grep -q '^ok kill_answered' "$TMP/proto.out" || grep -q '^FAIL' "$TMP/proto.out" ||
	fail rsp_proto "$(tail -3 "$TMP/proto.out")"
wait "$VMM_PID"; rc=$?
[ "$rc" = 14 ] && ok killed_vmm_exits_14 || fail killed_vmm_exits_14 "status $rc: $(tail -3 "$TMP/vmm.err")"
