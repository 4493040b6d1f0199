#!/usr/bin/env bash
# Thousands of software breakpoints at once, over the raw protocol: each hit
# is found (and reported as swbreak at the right address), memory reads show
# the original bytes under every one, and removing them restores memory.
# Also: the stub on a Unix socket.
. "$(dirname "$0")/lib.sh"
plan 3
if ! have_kvm; then skip_rest many_bps_all "no usable /dev/kvm on this machine"; fi
RSP=$BUILD/tests/tool_rsp
K=$GUESTS/kernel64.elf
addr() { nm "$K" | awk -v s="$1" '$3 == s { print $1 }' | sed 's/^0*//'; }
tick=$(addr tick) lo=$(addr split_page_lo)
N=3000

script() {
	echo "send qSupported:swbreak+" # as gdb: the stop reason says swbreak
	echo "expect_prefix PacketSize="
	echo "send QStartNoAckMode"
	echo "expect OK"
	echo "send Z0,$tick,1"          # tick is not mapped yet at entry: patched where the ELF put it
	echo "expect OK"
	echo "send c"
	echo "expect_re ^T05.*thread:0*1;swbreak:;\$"
	echo "send z0,$tick,1"
	echo "expect OK"
	# split_page_lo is data (0xa1) the kernel no longer reads: 3000 breakpoints.
	for i in $(seq 0 $((N - 1))); do
		printf 'send Z0,%x,1\nexpect OK\n' $((0x$lo + i))
	done
	echo "send Z0,$tick,1"
	echo "expect OK"
	echo "send m$lo,10"
	echo "expect a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	for i in 1 2 3; do
		echo "send c"
		echo "expect_re ^T05.*10:$(printf '%s' "$tick" | sed 's/\(..\)/\1 /g' | awk '{for(i=NF;i>0;i--) printf "%s",$i}')0*;.*swbreak:;\$"
	done
	echo "send monitor phys on" | sed 's/.*/send qRcmd,'"$(printf 'phys on' | od -An -tx1 | tr -d ' \n')"'/'
	echo "expect_prefix O"
	echo "expect OK"
	for i in $(seq 0 $((N - 1))); do
		printf 'send z0,%x,1\nexpect OK\n' $((0x$lo + i))
	done
	echo "send qRcmd,$(printf 'phys off' | od -An -tx1 | tr -d ' \n')"
	echo "expect_prefix O"
	echo "expect OK"
	echo "send m$lo,4"
	echo "expect a1a1a1a1"
	echo "send D"
	echo "expect OK"
}

port=$(free_port)
start_vmm --gdb "$port" "$K"
wait_listen || { fail many_bps "vmm did not listen"; exit 0; }
script >"$TMP/s.rsp"
if timeout "$(tscale 120)" "$RSP" "127.0.0.1:$port" <"$TMP/s.rsp" >"$TMP/rsp.out" 2>&1; then
	ok "many_sw_breakpoints_$N"
else
	fail "many_sw_breakpoints_$N" "$(grep FAIL "$TMP/rsp.out" | head -3)"
fi
# After the detach the guest runs to its end, with its data intact.
wait "$VMM_PID"; rc=$?
if [ "$rc" = 0 ] && grep -qx 'kernel64: done' "$TMP/vmm.out"; then ok many_bps_guest_ends_intact
else fail many_bps_guest_ends_intact "status $rc: $(tail -3 "$TMP/vmm.out")"; fi

# The stub on a Unix socket.
sock=$TMP/vmm.sock
start_vmm --gdb "unix:$sock" "$GUESTS/hello64.bin"
wait_listen || { fail unix_socket "vmm did not listen: $(cat "$TMP/vmm.err")"; exit 0; }
printf 'send ?\nexpect_re ^T05\nsend p10\nexpect 0000000000000000\nsend D\nexpect OK\n' >"$TMP/u.rsp"
if timeout "$(tscale 30)" "$RSP" "unix:$sock" <"$TMP/u.rsp" >"$TMP/rsp.out" 2>&1 && grep -q "waiting for gdb on unix:$sock" "$TMP/vmm.err"; then
	ok unix_socket
else
	fail unix_socket "$(cat "$TMP/rsp.out" "$TMP/vmm.err" | head -5)"
fi
wait "$VMM_PID"
