#!/usr/bin/env bash
# gdb against the vmm: the protocol as gdb negotiates it.
#
# swbreak both ways.  Breakpoints on two adjacent bytes: kernel64's
# write_cr3 ends with a one-byte ret just before spin, the loop it spins in
# with --arg 1.  The loop jumps to spin without running that ret, so the
# stop at spin comes with a breakpoint inserted one byte before the PC: a
# gdb without swbreak backs the PC up onto a breakpoint it finds at PC - 1,
# and only a PC reported past spin's breakpoint gives "Breakpoint 2, spin".
# With swbreak (gdb's default) the PC comes on the breakpoint.
#
# The symbols with target remote alone (qXfer:exec-file, vFile), and the
# threads' names (qXfer:threads).
. "$(dirname "$0")/gdb/lib.sh"
plan 12
gdb_preflight gdb_proto

spin=$(sym spin)
ret=$(hex "$spin - 1")
for way in off on; do
	# (qSupported is gdb's first packet: reconnect with the setting made)
	gdb_session "swbreak_$way" "$KERNEL" "$KERNEL" --arg 1 <<EOF2
monitor hold on
disconnect
set remote swbreak-feature-packet $way
target remote 127.0.0.1:@PORT@
monitor hold off
break *$ret
break *$spin
echo @@ ret\n
continue
pv/x \$pc
echo @@ spin\n
continue
pv/x \$pc
pv spins
echo @@ again\n
continue
pv/x \$pc
pv spins
info breakpoints
kill
EOF2
	vmm_end 5
	want_re "swbreak_${way}_ret" ret '^Breakpoint 1, 0x0*'"${ret#0x}"' in write_cr3 \(.*\) at guest/kernel64.c:[0-9]+$' \
		"^\\\$pc = $ret\$"
	want_re "swbreak_${way}_spin_not_the_byte_before" spin '^Breakpoint 2, spin \(\) at guest/kernel64.c:[0-9]+$' \
		"^\\\$pc = $spin\$" '^spins = 0$'
	want_re "swbreak_${way}_spin_again" again '^Breakpoint 2, spin \(\) at guest/kernel64.c:[0-9]+$' \
		"^\\\$pc = $spin\$" '^spins = 1$' '^[[:space:]]+breakpoint already hit 2 times$'
	want_not "swbreak_${way}_no_unexpected_stop_reason" - 'Unexpected swbreak|Remote replied unexpectedly'
done

# --- target remote alone: gdb reads the image through vFile --------------------------------
gdb_session nofile "" "$KERNEL" <<'EOF2'
echo @@ symbols\n
info symbol level3
break level3
continue
bt 1
echo @@ threads\n
info threads
kill
EOF2
vmm_end 5
want_re nofile_reads_symbols_from_target - "^Reading symbols from target:$(realpath "$KERNEL")\\.\\.\\.\$"
want_not nofile_no_warning - 'No executable has been specified'
want_re nofile_breakpoint_by_name symbols '^level3 in section \.text$' \
	'^Breakpoint 1, level3 \(x=(x@entry=)?4\) at guest/kernel64.c:[0-9]+$'
want_re nofile_thread_named threads '^\* 1 +Thread 1 "vCPU 0" \(vCPU 0, long mode, breakpoint\) level3 \(x=(x@entry=)?4\) at .*'
