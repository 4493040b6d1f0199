#!/usr/bin/env bash
# tests/t_guests.sh - every guest in build/guest runs under the vmm, without
# gdb, and prints exactly its lines and exits with its status; and the images
# are laid out as guest/README.md promises (checked with readelf, no KVM).
#
# Modes this KVM refuses (see 'vmm --probe') are skipped loudly, and only when
# the run shows that very refusal: everything the guest does before the
# refused step must still be right.
. "$(dirname "$0")/lib.sh"

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

for g in hello16 hello32 hellopg hello64; do
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

# --- Runs ------------------------------------------------------------------

if [ ! -x "$VMM" ]; then
	fail vmm "no vmm binary at $VMM (make build/vmm)"
	exit 0
fi
if ! have_kvm; then
	skip guests-run "no usable /dev/kvm"
	exit 0
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
	skip hellopg "kvm_pvm refuses 32-bit paging: $(head -1 "$TMP/hellopg.err")"
else
	want_run hellopg 0 "paging on
$hello" --mode paged "${dump[@]}" "$G/hellopg.bin" &&
		[ ${#dump[@]} -gt 0 ] && want_mem hellopg 0x400 "2a 00 00 00"
fi
