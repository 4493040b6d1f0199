#!/usr/bin/env bash
# Hostile guests under the debugger, over the raw protocol.
#
# A tiny flat long-mode guest (assembled here) rewrites its own page tables
# in a loop: a PML4 entry, a PD entry and a PT entry cycle through present,
# not present, reserved bits, tables and pages outside RAM, a table used as
# its own page.  A client stops it at random points, hundreds of times, and
# reads memory through those tables: every reply is data the tables can
# lead to, or E0e (EFAULT); the vmm never crashes and the guest goes on.
# With --arg 2 the same guest executes ud2 with no IDT: single-stepped into
# its triple fault, it is reported as a stop with signal 11, registers stay
# readable, and continuing ends the guest with status 6.
. "$(dirname "$0")/lib.sh"
plan 7
if ! have_kvm; then skip_rest rsp_guest_all "no usable /dev/kvm on this machine"; fi
command -v as >/dev/null && command -v ld >/dev/null ||
	skip_rest rsp_guest_all "binutils (as, ld) not installed"

cat >"$TMP/g.S" <<'EOF'
	.code64
	.globl _start
_start:				/* flat, at 0x10000; CR3 = the vmm's PML4 at 0x2000 */
	cmp $2, %esi
	je fault
	cld
	mov $0x400000, %edi	/* the 2 MiB pages' first bytes: aa, bb */
	mov $0xaa, %eax
	mov $4096, %ecx
	rep stosb
	mov $0x600000, %edi
	mov $0xbb, %eax
	mov $4096, %ecx
	rep stosb
	mov $0x300000, %edi	/* 4 KiB pages: cc, dd */
	mov $0xcc, %eax
	mov $8192, %ecx
	rep stosb
	mov $0x301000, %edi
	mov $0xdd, %eax
	mov $4096, %ecx
	rep stosb
	mov $0x20000, %edi	/* PDPT 0x20000, PD 0x21000, PT 0x22000 */
	xor %eax, %eax
	mov $0x3000, %ecx
	rep stosb
	movq $0x21003, 0x20000	/* PDPT[0] -> PD */
	movq $0x22003, 0x21008	/* PD[1] -> PT: va 0x8000200000 */
	xor %ebx, %ebx
1:	mov pml4_vals(,%rbx,8), %rax
	mov %rax, 0x2008	/* PML4[1]: va 0x8000000000 */
	mov pd_vals(,%rbx,8), %rax
	mov %rax, 0x21000
	mov pt_vals(,%rbx,8), %rax
	mov %rax, 0x22000
	inc %ebx
	and $7, %ebx
	incq rounds
	jmp 1b
fault:
	nop
	nop
	mov $0x1234, %eax
	.globl ud
ud:	ud2
	.balign 8
pml4_vals: .quad 0x20003, 0x20003, 0x20003, 0, 0x20003, 0xfffff003, 0x20003, 0x20003
pd_vals:   .quad 0x400083, 0x600083, 0, 0x402083, 0x80000083, 0x22003, 0x20003, 0x3ffffff003
pt_vals:   .quad 0x300003, 0x301003, 0, 0xfffff003, 0x300001, 0x22003, 0x301003, 0
	.globl rounds
rounds:	.quad 0
EOF
if ! as --64 -o "$TMP/g.o" "$TMP/g.S" 2>"$TMP/as.err" ||
	! ld -m elf_x86_64 -Ttext=0x10000 -e _start -o "$TMP/g.elf" "$TMP/g.o" 2>>"$TMP/as.err" ||
	! objcopy -O binary "$TMP/g.elf" "$TMP/g.bin" 2>>"$TMP/as.err"; then
	fail rsp_guest_build "$(head -3 "$TMP/as.err")"
	exit 0
fi
sym() { nm "$TMP/g.elf" | awk -v s="$1" '$3 == s { print $1 }' | sed 's/^0*//'; }

# --- a guest rewriting its page tables while the debugger reads through them ----
port=$(free_port)
start_vmm --gdb "$port" --load 0x10000 "$TMP/g.bin"
wait_listen || { fail rsp_guest "vmm did not listen: $(cat "$TMP/vmm.err")"; exit 0; }
python3 - "$port" "$(sym rounds)" >"$TMP/pt.out" 2>&1 <<'EOF'
import random, re, sys, time
from rsp import Client, le
port, rounds = int(sys.argv[1]), int(sys.argv[2], 16)
c = Client(port, on_eof="FAIL page_tables_rewritten: the vmm hung up")
q = c.cmd
c.noack()
# What reading 8 bytes at each address can give: a page's fill byte, a
# table entry read as data (a table used as a page), or E0e (EFAULT).
fills = {b * 8 for b in ("aa", "bb", "cc", "dd")}
tables = {v.to_bytes(8, "little").hex() for v in (0x20003, 0x21003, 0x22003, 0x300003, 0x301003, 0x300001, 0, 0x400083, 0x600083, 0x402083, 0x80000083, 0x3ffffff003, 0xfffff003)}
seen = {}
bad = []
start = le(q("m%x,8" % rounds))
for i in range(300):
    c.send("c")
    time.sleep(random.random() * 0.003)
    c.raw(b"\x03")
    r = c.packet(console=True)
    if not r.startswith("T02"):
        bad.append("stop " + r[:40]); break
    for addr, n in ((0x8000000000, 8), (0x8000200000, 8), (0x8000200ff8, 16), (0x80001ffffc, 8)):
        r = q("m%x,%x" % (addr, n))
        kind = "E0e" if r == "E0e" else r[:16] if len(r) >= 16 else "short"
        ok = r == "E0e" or (re.fullmatch("[0-9a-f]{2,%d}" % (2 * n), r) and len(r) % 2 == 0)
        if ok and r != "E0e" and addr != 0x80001ffffc and r[:16] not in fills | tables:
            ok = False
        if not ok: bad.append("m%x,%x -> %s" % (addr, n, r[:40]))
        seen[kind] = seen.get(kind, 0) + 1
    if i % 50 == 0:
        r = q("qRcmd," + ("walk 0x%x" % 0x8000200000).encode().hex())
        if r != "OK": bad.append("walk -> " + r[:40])
g = q("g")
end = le(q("m%x,8" % rounds))
print("# seen", sorted(seen.items(), key=lambda kv: -kv[1]))
print("# rounds", start, "->", end)
if bad: print("FAIL page_tables_rewritten_while_reading:", "; ".join(bad[:5]))
elif "E0e" not in seen or not (seen.keys() & fills): print("FAIL page_tables_rewritten_while_reading: too few kinds seen:", seen)
else: print("ok page_tables_rewritten_while_reading")
print("ok registers_readable_after_rewrites" if re.fullmatch("[0-9a-fx]{200,}", g) else "FAIL registers_readable_after_rewrites: " + g[:40])
print("ok guest_went_on_between_stops" if end > start + 300 else "FAIL guest_went_on_between_stops: rounds %d -> %d" % (start, end))
c.send("k")
EOF
cat "$TMP/pt.out"
grep -q '^ok page_tables_rewritten_while_reading' "$TMP/pt.out" || grep -q '^FAIL' "$TMP/pt.out" ||
	fail page_tables_rewritten_while_reading "$(tail -3 "$TMP/pt.out")"
wait "$VMM_PID"; rc=$?
[ "$rc" = 14 ] && ok vmm_survives_rewritten_tables || fail vmm_survives_rewritten_tables "status $rc: $(tail -3 "$TMP/vmm.err")"

# --- a triple fault while single-stepping ------------------------------------------
ud=$(sym ud)
ud_le=$(printf '%016x' $((0x$ud)) | sed 's/../& /g' | awk '{ for (i = NF; i > 0; i--) printf "%s", $i }')
port=$(free_port)
start_vmm --gdb "$port" --load 0x10000 "$TMP/g.bin" --arg 2
wait_listen || { fail rsp_guest_fault "vmm did not listen: $(cat "$TMP/vmm.err")"; exit 0; }
# cmp, je, nop, nop, mov: five steps land on ud2; the sixth faults.
{
	echo "send ?"
	echo "expect_re ^T05.*thread:0*1;"
	for i in 1 2 3 4 5; do echo "send s"; echo "expect_re ^T05.*thread:0*1;"; done
	echo "send p10"
	echo "expect $ud_le"
	echo "send s"
	echo "expect_prefix O$(printf 'vmm: vCPU 0: triple fault' | od -An -tx1 | tr -d ' \n')"
	echo "expect_re ^T0b.*10:$ud_le;.*thread:0*1;"
	echo "send p10"
	echo "expect $ud_le"
	echo "send p0"
	echo "expect 3412000000000000"
	echo "send g"
	echo "expect_re ^[0-9a-fx]{200,}\$"
	echo "send m$ud,2"
	echo "expect 0f0b"
	echo "send ?"
	echo "expect_re ^T0b"
	echo "send qThreadExtraInfo,1"
	echo "expect_re ^[0-9a-f]+\$"
	echo "send c"
	echo "expect_prefix W06"
} >"$TMP/fault.rsp"
if timeout -k 2 "$(tscale 30)" "$BUILD/tests/tool_rsp" "127.0.0.1:$port" <"$TMP/fault.rsp" >"$TMP/fault.out" 2>&1; then
	ok triple_fault_while_stepping_is_signal_11
else
	fail triple_fault_while_stepping_is_signal_11 "$(grep -m1 FAIL "$TMP/fault.out")"
fi
wait "$VMM_PID"; rc=$?
[ "$rc" = 6 ] && ok triple_fault_then_status_6 || fail triple_fault_then_status_6 "status $rc: $(tail -3 "$TMP/vmm.err")"
grep -q 'triple fault' "$TMP/vmm.err" && ok triple_fault_reported || fail triple_fault_reported "$(tail -3 "$TMP/vmm.err")"
