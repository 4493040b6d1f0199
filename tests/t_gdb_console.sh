#!/usr/bin/env bash
# monitor console stdout|gdb|both: where the guest's port-0xE9 output goes
# while gdb is attached.
. "$(dirname "$0")/lib.sh"
plan 3
if ! have_kvm; then skip_rest console_all "no usable /dev/kvm on this machine"; fi
for how in stdout gdb both; do
	port=$(free_port)
	start_vmm --gdb "$port" "$GUESTS/kernel64.elf"
	wait_listen || { fail "console_$how" "vmm did not listen"; continue; }
	printf 'target remote :%s\nmonitor console %s\ncontinue\nmonitor console\ncontinue\n' "$port" "$how" >"$TMP/c.gdb"
	timeout "$(tscale 60)" gdb -batch -nx -x "$TMP/c.gdb" "$GUESTS/kernel64.elf" >"$TMP/gdb.out" 2>&1
	wait "$VMM_PID"; rc=$?
	in_gdb=$(grep -c '^kernel64: done$' "$TMP/gdb.out")
	in_out=$(grep -c '^kernel64: done$' "$TMP/vmm.out")
	case $how in
	stdout) want_gdb=0 want_out=1 say="stdout" ;;
	gdb) want_gdb=1 want_out=0 say="gdb" ;;
	both) want_gdb=1 want_out=1 say="stdout and gdb" ;;
	esac
	if [ "$in_gdb" = "$want_gdb" ] && [ "$in_out" = "$want_out" ] && [ "$rc" = 0 ] &&
	   grep -qx "guest console (port 0xE9) goes to $say" "$TMP/gdb.out"; then
		ok "console_$how"
	else
		fail "console_$how" "gdb has $in_gdb, stdout has $in_out, status $rc: $(tail -5 "$TMP/gdb.out")"
	fi
done
