#!/usr/bin/env bash
# tests/t_guests.sh - every guest in build/guest runs under the vmm, without
# gdb, and prints exactly its lines and exits with its status; and the images
# are laid out as guest/README.md promises (checked with readelf, no KVM).
#
# Modes this KVM refuses (see 'vmm --probe') are skipped loudly, and only when
# the run shows that very refusal: everything the guest does before the
# refused step must still be right.
. "$(dirname "$0")/lib.sh"
plan 28

G=$GUESTS

# want_run NAME STATUS EXPECTED-STDOUT VMM-ARGS...: the vmm's stdout must be
# exactly EXPECTED-STDOUT and its status STATUS.  Output in $TMP/NAME.{out,err}.
want_run() {
	local name=$1 status=$2 want=$3; shift 3
	run_vmm "$TMP/$name.out" "$TMP/$name.err" "$@"
	if [ "$RC" -ne "$status" ]; then
		fail "$name" "vmm $* exited $RC, want $status; stdout: $(head -c 200 "$TMP/$name.out" | tr '\n' '|') stderr: $(head -c 300 "$TMP/$name.err")"
		return 1
	fi
	if [ "$(cat "$TMP/$name.out"; echo x)" != "${want}x" ]; then
		fail "$name" "vmm $*: stdout '$(head -c 300 "$TMP/$name.out" | tr '\n' '|')', want '$(printf '%s' "$want" | tr '\n' '|')'"
		return 1
	fi
	ok "$name"
}

# want_mem NAME ADDR-HEX BYTES: the --dump-mem line of the last run of NAME.
want_mem() {
	local name=$1 addr=$2 bytes=$3
	if grep -qx "mem $addr: $bytes" "$TMP/$name.err"; then
		ok "$name-mem-$addr"
	else
		fail "$name-mem-$addr" "want 'mem $addr: $bytes' on stderr, got: $(grep '^mem ' "$TMP/$name.err" | head -3)"
	fi
}

# probe_says KEY-PREFIX ANSWER: does 'vmm --probe' answer ANSWER (yes/no)?
probe_says() {
	[ -s "$TMP/probe" ] || "$VMM" --probe >"$TMP/probe" 2>&1
	grep -q "^$1:[[:space:]]*$2" "$TMP/probe"
}

# --- Layout, no KVM needed -------------------------------------------------

# elf_entry FILE / sym FILE NAME: entry point and a symbol's value, as 0x...
elf_entry() { readelf -h "$1" | awk '/Entry point/ { print $4 }'; }
sym() { nm "$1" | awk -v s="$2" '$3 == s { print "0x" $1; exit }'; }

for g in hello16 hello32 hellopg hello64 loop64; do
	if [ ! -f "$G/$g.elf" ] || [ ! -f "$G/$g.bin" ]; then
		fail "$g-layout" "$G/$g.elf or .bin missing (make guests)"
		continue
	fi
	size=$(stat -c %s "$G/$g.bin")
	end=$(sym "$G/$g.elf" _end)
	if [ "$(elf_entry "$G/$g.elf")" != 0x0 ]; then
		fail "$g-layout" "entry $(elf_entry "$G/$g.elf"), want 0x0"
	elif [ "$size" -ge 1024 ] || [ $((end)) -gt 1024 ]; then
		fail "$g-layout" "image (bin $size bytes, _end $end) reaches 0x400"
	else
		ok "$g-layout"
	fi
done

# kernel64: entered at _start = 1 MiB; every segment loads at 1 MiB or above;
# C code in the higher half (virtual != physical); the symbols README promises.
k=$G/kernel64.elf
if [ ! -f "$k" ]; then
	fail kernel64-layout "$k missing (make guests)"
else
	why=
	[ "$(elf_entry "$k")" = 0x100000 ] || why="entry $(elf_entry "$k"), want 0x100000"
	[ "$(sym "$k" _start)" = 0x0000000000100000 ] || why="$why; _start at $(sym "$k" _start)"
	for pa in $(readelf -lW "$k" | awk '$1 == "LOAD" { print $4 }'); do
		[ $((pa)) -ge $((0x100000)) ] || why="$why; PT_LOAD with p_paddr $pa below 1 MiB"
	done
	for s in kmain level1 level2 level3 count_loop tick choose_path counter watched \
		 read_me banner path exit_code spins ro_page stack_guard alias_a alias_b \
		 split_va split_page_lo split_page_hi huge_2m huge_1g pml4 pdpt_low pd_low \
		 pdpt_high pd_high pt_kernel stack_top boot_cr3 ap_main ap_ticks; do
		[ -n "$(sym "$k" $s)" ] || why="$why; no symbol $s"
	done
	case $(sym "$k" kmain) in 0xffffffff8*) ;; *) why="$why; kmain at $(sym "$k" kmain), not in the higher half" ;; esac
	if [ -z "$why" ]; then ok kernel64-layout; else fail kernel64-layout "${why#; }"; fi
fi

# --- Runs ------------------------------------------------------------------

if [ ! -x "$VMM" ]; then
	fail vmm "no vmm binary at $VMM (make build/vmm)"
	exit 0
fi
if ! have_kvm; then
	skip_rest guests-run "no usable /dev/kvm"
fi
dump=()
"$VMM" --help 2>&1 | grep -q -- --dump-mem && dump=(--dump-mem 0x400:4)

hello='Hello, world!
'
for run in "hello16 --mode real" "hello32 --mode protected" "hello64 --mode long"; do
	set -- $run
	g=$1; shift
	want_run "$g" 0 "$hello" "$@" "${dump[@]}" "$G/$g.bin" &&
		[ ${#dump[@]} -gt 0 ] && want_mem "$g" 0x400 "2a 00 00 00"
done
want_run hello64-elf 0 "$hello" "${dump[@]}" "$G/hello64.elf" &&
	[ ${#dump[@]} -gt 0 ] && want_mem hello64-elf 0x400 "2a 00 00 00"

# hellopg: --mode paged, which kvm_pvm refuses before the guest runs.
run_vmm "$TMP/hellopg.out" "$TMP/hellopg.err" --mode paged "${dump[@]}" "$G/hellopg.bin"
if [ "$RC" -eq 12 ] && grep -q 'refuses 32-bit paging' "$TMP/hellopg.err" &&
   probe_says 'mode paged (32-bit paging)' no; then
	skip_checks "kvm_pvm refuses 32-bit paging: $(head -1 "$TMP/hellopg.err")" hellopg hellopg-mem-0x400
else
	want_run hellopg 0 "paging on
$hello" --mode paged "${dump[@]}" "$G/hellopg.bin" &&
		[ ${#dump[@]} -gt 0 ] && want_mem hellopg 0x400 "2a 00 00 00"
fi

# kernel64: the four paths, chosen with --arg.
kpre="kernel64: paging on
kernel64: 1G page not offered, skipped
kernel64: mappings ok
kernel64: hello from the higher half
kernel64: count 10
"
if probe_says '1 GiB pages (pdpe1gb)' yes; then
	kpre=${kpre/1G page not offered, skipped/1G page mapped at huge_1g}
fi
want_run kernel64-path0 0 "${kpre}kernel64: path 0
kernel64: done
" "${dump[@]}" "$G/kernel64.elf" &&
	[ ${#dump[@]} -gt 0 ] && want_mem kernel64-path0 0x400 "2a 00 00 00"
want_run kernel64-bin 0 "${kpre}kernel64: path 0
kernel64: done
" --load 0x100000 "$G/kernel64.bin"
want_run kernel64-cpus3 0 "${kpre}kernel64: path 0
kernel64: done
" --cpus 3 "$G/kernel64.elf"
want_run kernel64-path2-fault 6 "${kpre}kernel64: path 2
kernel64: faulting on stack_guard
" --arg 2 "$G/kernel64.elf"
want_run kernel64-path3-exit 7 "${kpre}kernel64: path 3
kernel64: exit 3
" --arg 3 "$G/kernel64.elf"

# Path 1 spins until killed.
start_vmm --arg 1 "$G/kernel64.elf"
for i in $(seq 100); do
	grep -q 'kernel64: path 1' "$TMP/vmm.out" 2>/dev/null && break
	kill -0 "$VMM_PID" 2>/dev/null || break
	sleep 0.05
done
sleep 0.3
if ! kill -0 "$VMM_PID" 2>/dev/null; then
	wait "$VMM_PID"
	fail kernel64-path1-spin "the vmm ended with status $?: $(tr '\n' '|' <"$TMP/vmm.err" | head -c 300)"
elif [ "$(cat "$TMP/vmm.out")" != "${kpre}kernel64: path 1" ]; then
	fail kernel64-path1-spin "stdout '$(tr '\n' '|' <"$TMP/vmm.out")'"
else
	ok kernel64-path1-spin
fi
kill "$VMM_PID" 2>/dev/null

# want_run_unless_refused NAME PROBE-KEY WHY PREFIX REST VMM-ARGS...: like
# want_run NAME 0 PREFIX+REST, except that where 'vmm --probe' answers no to
# PROBE-KEY, a run that printed exactly PREFIX and ended in a triple fault
# (status 6) is that refusal: skip with WHY.  Anything else is judged.
want_run_unless_refused() {
	local name=$1 key=$2 why=$3 prefix=$4 rest=$5; shift 5
	run_vmm "$TMP/$name.out" "$TMP/$name.err" "$@"
	if [ "$RC" -eq 6 ] && [ "$(cat "$TMP/$name.out"; echo x)" = "${prefix}x" ] &&
	   probe_says "$key" no; then
		skip "$name" "$why"
		return 1
	fi
	want_run "$name" 0 "$prefix$rest" "$@"
}

# boot16to64: real -> protected -> long by itself.  Where this KVM refuses a
# guest entering long mode, the first two lines must still be exact and the
# run must end in the triple fault of setting CR0.PG.
b16="boot16to64: real
boot16to64: protected
"
b16why="kvm_pvm refuses a guest entering long mode itself (real and protected stages ok, triple fault at CR0.PG)"
for img in bin elf; do
	load=()
	[ $img = bin ] && load=(--load 0x8000)
	want_run_unless_refused "boot16to64-$img" 'guest enters long mode itself' "$b16why" \
		"$b16" "boot16to64: long
" --mode real "${load[@]}" "$G/boot16to64.$img"
done

# paged32: classic and PAE paging by the guest.  Both sets of tables are built
# before paging goes on, so they are checked from a memory dump even where
# this KVM refuses 32-bit paging, with a walker written here from the SDM.
p32=$G/paged32.elf
p32mem=$(sym "$p32" paged32_mem)
p32data=$(printf '0x%x' $((p32mem + 8 * 4096)))
want_run_unless_refused paged32 'guest enables 32-bit paging' \
	"kvm_pvm refuses 32-bit paging (tables built, triple fault at CR0.PG; the tables are checked below)" \
	"paged32: tables built, paging off
" "paged32: 32-bit paging: 4 KiB page ok, 4 MiB page ok, code alias ok
paged32: PAE paging: 4 KiB page ok, 2 MiB page ok, code alias ok
paged32: done
" --mode protected --load 0x100000 --dump-mem "$p32mem:$((9 * 4096))" "$G/paged32.bin"
if why=$(python3 - "$TMP/paged32.err" "$p32mem" "$(sym "$p32" alias_probe)" <<'PY'
import sys
line = [l for l in open(sys.argv[1]) if l.startswith("mem ")]
if not line:
    print("no --dump-mem line"); sys.exit(1)
head, hexes = line[0].split(":", 1)
base = int(head.split()[1], 16)
mem = bytes(int(h, 16) for h in hexes.split())
mem_base = int(sys.argv[2], 16)
probe = int(sys.argv[3], 16)
data_page = mem_base + 8 * 4096
def rd(pa, n):
    if not base <= pa <= base + len(mem) - n:
        raise Exception("table entry at 0x%x outside the tables" % pa)
    return int.from_bytes(mem[pa - base:pa - base + n], "little")
def walk32(cr3, va):       # CR4.PSE = 1
    pde = rd(cr3 + (va >> 22) * 4, 4)
    if not pde & 1: return None
    if pde & 0x80: return ((pde & 0xffc00000) | (va & 0x3fffff), 4 << 20, pde & 2)
    pte = rd((pde & 0xfffff000) + ((va >> 12) & 0x3ff) * 4, 4)
    if not pte & 1: return None
    return ((pte & 0xfffff000) | (va & 0xfff), 4096, pde & pte & 2)
def walkpae(cr3, va):
    pdpte = rd(cr3 + (va >> 30) * 8, 8)
    if not pdpte & 1: return None
    # Bit 5 (A) is reserved in a PAE PDPTE, but QEMU's TCG (under the nested
    # rig's kvm_amd) sets it when it walks the guest's tables: the guest wrote
    # 0x...001 (seen: 0x109021 after the run); only what the guest wrote counts.
    if pdpte & 0x1c6 or pdpte >> 52: raise Exception("PDPTE 0x%x has reserved bits" % pdpte)
    pde = rd((pdpte & 0xffffffffff000) + ((va >> 21) & 0x1ff) * 8, 8)
    if not pde & 1: return None
    if pde & 0x80:
        if pde & 0x1fe000: raise Exception("2 MiB PDE 0x%x has reserved bits" % pde)
        return ((pde & 0xfffffffe00000) | (va & 0x1fffff), 2 << 20, pde & 2)
    pte = rd((pde & 0xffffffffff000) + ((va >> 12) & 0x1ff) * 8, 8)
    if not pte & 1: return None
    return ((pte & 0xffffffffff000) | (va & 0xfff), 4096, pde & pte & 2)
errs = []
for name, walk, cr3, large in (("32-bit", walk32, mem_base, 4 << 20),
                               ("PAE", walkpae, mem_base + 3 * 4096, 2 << 20)):
    want = [(va, va, large) for va in (0, 0x400, 0x100000, mem_base, 0x3ff000)]
    want += [(0x80000000 + probe, probe, large), (0x40000123, data_page + 0x123, 4096),
             (0x40001000, None, 0), (0xc0000000, None, 0), (0x400000, None, 0)]
    for va, pa, size in want:
        try:
            got = walk(cr3, va)
        except Exception as e:
            errs.append("%s 0x%x: %s" % (name, va, e)); continue
        if pa is None:
            if got is not None: errs.append("%s 0x%x: mapped, want unmapped" % (name, va))
        elif got is None or got[0] != pa or got[1] != size or not got[2]:
            errs.append("%s 0x%x: %s, want 0x%x in a %d-byte writable page" %
                        (name, va, got and "0x%x size %d rw %d" % got, pa, size))
print("; ".join(errs)); sys.exit(1 if errs else 0)
PY
); then
	ok paged32-tables
else
	fail paged32-tables "$why"
fi

# loop64: --arg iterations.
want_run loop64 0 "loop64: 100000 iterations
" --arg 100000 "$G/loop64.bin"

exit 0
