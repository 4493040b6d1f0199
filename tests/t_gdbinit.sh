#!/usr/bin/env bash
# gdbinit and make debug: connect, symbols, the vmm-* commands, following
# the guest's mode across reconnects, no symbols at all.
. "$(dirname "$0")/lib.sh"
plan 30
if ! have_kvm; then skip_rest gdbinit_all "no usable /dev/kvm on this machine"; fi
if ! command -v gdb >/dev/null; then skip_rest gdbinit_all "gdb is not installed"; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# session NAME ELF VMM-ARGS... <<< gdb commands: output in $TMP/NAME.out
session() {
	local name=$1 elf=$2; shift 2
	local port; port=$(free_port)
	start_vmm --gdb "$port" "$@"
	wait_listen || { fail "$name" "vmm did not listen: $(cat "$TMP/vmm.err")"; return 1; }
	cat >"$TMP/$name.gdb"
	(cd "$ROOT" && VMM_GDB_PORT=$port VMM_ELF=$elf timeout "$(tscale 60)" gdb -batch -nx -x gdbinit \
		-x "$TMP/$name.gdb" </dev/null >"$TMP/$name.out" 2>&1)
	kill "$VMM_PID" 2>/dev/null; wait "$VMM_PID" 2>/dev/null
}
has() { # NAME FILE LINE: an exact line in the output
	if grep -qxF -- "$3" "$TMP/$2.out"; then ok "$1"; else fail "$1" "no line '$3' in: $(head -c 1500 "$TMP/$2.out")"; fi
}
has_re() {
	if grep -qE -- "$3" "$TMP/$2.out"; then ok "$1"; else fail "$1" "no /$3/ in: $(head -c 1500 "$TMP/$2.out")"; fi
}

session k64 "$GUESTS/kernel64.elf" "$GUESTS/kernel64.elf" <<'EOF2'
info symbol kmain
p/x $pc
break level3
continue
vmm-walk &banner
vmm-regs
vmm-phys on
x/wx 0x100000
vmm-phys off
vmm-mem
help vmm-walk
vmm-follow
EOF2
has gdbinit_symbols_loaded k64 'kmain in section .text'
has gdbinit_connected_at_entry k64 '$1 = 0x100000'
has_re gdbinit_break_in_higher_half k64 '^Breakpoint 1, level3 \(x=.*\) at guest/kernel64.c:[0-9]+$'
has_re gdbinit_walk_levels k64 '^PML4\[511\] @0x[0-9a-f]+ = 0x[0-9a-f]+ P'
has_re gdbinit_walk_result k64 '^-> 0xffffffff80002100 = phys 0x102100 \(4K page'
has_re gdbinit_regs k64 '^vCPU 0: long mode, paging 4-level$'
has_re gdbinit_regs_cr0_flags k64 '^cr0  0x0000000080010033  PE MP ET NE WP PG$'
has gdbinit_phys_on k64 'addresses are guest-physical'
x=$(objdump -s --start-address=0x100000 --stop-address=0x100004 "$GUESTS/kernel64.elf" | awk '/^ 100000/ {print $2}')
want="0x${x:6:2}${x:4:2}${x:2:2}${x:0:2}"
has_re gdbinit_phys_read k64 "^0x100000 <_start>:[[:space:]]+$want\$"
has gdbinit_phys_off k64 'addresses are guest-virtual'
has_re gdbinit_mem k64 '^guest RAM: 0x0-0x3ffffff \(64 MiB\), 1 vCPU\(s\)$'
has gdbinit_help_text k64 'Show the page walk of a virtual address: vmm-walk EXPR.'
has gdbinit_follow_default_on k64 'vmm-follow is on'

# No symbols: gdbinit must still connect and work.
session nosym "" "$GUESTS/hello64.bin" <<'EOF2'
p/x $rip
vmm-regs
EOF2
has gdbinit_no_symbols_connects nosym '$1 = 0x0'
has_re gdbinit_no_symbols_regs nosym '^vCPU 0: long mode'
if grep -q 'Error\|Traceback' "$TMP/nosym.out"; then fail gdbinit_no_symbols_clean "$(cat "$TMP/nosym.out")"
else ok gdbinit_no_symbols_clean; fi

# Following the mode: real -> protected -> long in one session, reconnecting
# by itself; the disassembly is right in each mode.
ljmp=$(printf '0x%x' $((0x$(nm "$GUESTS/boot16to64.elf" | awk '$3 == "enable_paging" {print $1}') + 3)))
HB=$(hbreak_or_break)
session follow "" --mode real "$GUESTS/boot16to64.elf" <<EOF2
show architecture
$HB *0x8035
$HB *0x80c9
continue
x/i \$pc
stepi 4
vmm-follow
$HB *$ljmp
continue
x/i \$pc
continue
x/i \$pc
p/x \$rip
EOF2
has gdbinit_follow_starts_i8086 follow 'The target architecture is set to "auto" (currently "i8086").'
has gdbinit_follow_to_i386 follow 'The target architecture is set to "auto" (currently "i386").'
has_re gdbinit_follow_i386_disasm follow '^=> 0x8035:[[:space:]]+mov[[:space:]]+\$0x10,%ax$'
# Just after CR0.PG the vCPU is in compatibility mode (LMA, CS.L = 0): still
# i386, and following stays on.
has_re gdbinit_follow_compat_mode_stays_i386 follow "^=> $ljmp:[[:space:]]+ljmp[[:space:]]+\\\$0x18,\\\$0x80c9\$"
if grep -q 'vmm-follow off' "$TMP/follow.out"; then fail gdbinit_follow_stays_on "$(grep -n 'follow' "$TMP/follow.out")"
else ok gdbinit_follow_stays_on; fi
if grep -q 'long mode itself: *yes' <("$VMM" --probe); then
	has gdbinit_follow_to_x86_64 follow 'The target architecture is set to "auto" (currently "i386:x86-64").'
	has_re gdbinit_follow_long_disasm follow '^=> 0x80c9:[[:space:]]+mov[[:space:]]+\$0x8000,%esp$'
	has gdbinit_follow_long_rip follow '$1 = 0x80c9'
else
	skip_checks "this KVM refuses a guest entering long mode itself" \
		gdbinit_follow_to_x86_64 gdbinit_follow_long_disasm gdbinit_follow_long_rip
fi

# Recording across the mode changes: each reconnect keeps the log (gdbinit
# holds the guest meanwhile), and going back to the start follows the mode
# back to real mode.
if grep -q 'long mode itself: *yes' <("$VMM" --probe); then
session rec "" --mode real "$GUESTS/boot16to64.elf" <<EOF2
vmm-record on
$(hbreak_or_break) *0x80c9
continue
vmm-record
reverse-continue
echo @@start\n
vmm-record
show architecture
EOF2
n=$(sed -n 's/^instructions: \([0-9]*\) in the log.*/\1/p' "$TMP/rec.out" | head -1)
has_re gdbinit_record_followed_to_long rec '^The target architecture is set to "auto" \(currently "i386:x86-64"\)\.$'
sed -n '/^@@start$/,$p' "$TMP/rec.out" >"$TMP/recstart.out"
has gdbinit_record_kept_across_reconnects recstart "position: at the start, ${n:-?} instructions before the end"
has gdbinit_record_back_to_real recstart 'The target architecture is set to "auto" (currently "i8086").'
has gdbinit_record_start rec 'No more reverse-execution history.'
else
	skip_checks "this KVM refuses a guest entering long mode itself" gdbinit_record_followed_to_long \
		gdbinit_record_kept_across_reconnects gdbinit_record_back_to_real gdbinit_record_start
fi

# make debug's script: gdb reads its commands from stdin here.
(cd "$ROOT" && printf 'info symbol kmain\np/x $pc\nkill\n' |
	GUEST="$GUESTS/kernel64.elf" timeout "$(tscale 60)" bash tests/debug.sh "${BUILD#"$ROOT"/}" >"$TMP/debug.out" 2>&1)
has_re make_debug_symbols debug '^(\(gdb\) )?kmain in section \.text$'
has_re make_debug_stopped_at_entry debug '^(\(gdb\) )?\$1 = 0x100000$'
