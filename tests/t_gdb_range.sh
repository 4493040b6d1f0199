#!/usr/bin/env bash
# Range stepping (vCont;r): gdb's `next` and `step` step a whole source line
# in one round trip, and land on the right lines.
. "$(dirname "$0")/lib.sh"
plan 3
if ! have_kvm; then skip_rest range_all "no usable /dev/kvm on this machine"; fi
K=$GUESTS/kernel64.elf
port=$(free_port)
start_vmm --gdb "$port" "$K"
wait_listen || { fail range_step "vmm did not listen"; exit 0; }
cat >"$TMP/r.gdb" <<EOF2
target remote :$port
break count_loop
continue
set debug remote 1
next
next
next
set debug remote 0
p counter
EOF2
timeout "$(tscale 60)" gdb -batch -nx -x "$TMP/r.gdb" "$K" >"$TMP/r.out" 2>&1
# The last three source lines gdb printed: where each next landed.
line() { grep -E '^[0-9]+[[:space:]]' "$TMP/r.out" | tail -n 3 | sed -n "$1p" | awk '{print $1}'; }
src=guest/kernel64.c
want_for=$(grep -n 'for (i = 0; i < COUNT_ITERATIONS; i++)' "$src" | head -1 | cut -d: -f1)
want_counter=$(grep -n 'counter = counter + 1;' "$src" | head -1 | cut -d: -f1)
want_tick=$(grep -n '		tick(i);' "$src" | head -1 | cut -d: -f1)
got="$(line 1) $(line 2) $(line 3)"
if [ "$got" = "$want_for $want_counter $want_tick" ]; then ok range_step_lines
else fail range_step_lines "lines '$got', want '$want_for $want_counter $want_tick': $(tail -20 "$TMP/r.out")"; fi
nr=$(grep -c 'Sending packet: \$vCont;r' "$TMP/r.out")
ns=$(grep -c 'Sending packet: \$vCont;s' "$TMP/r.out")
if [ "$nr" -ge 3 ] && [ "$ns" -le 1 ]; then ok range_step_used
else fail range_step_used "$nr vCont;r and $ns vCont;s packets for three nexts"; fi
grep -qx '$1 = 1' "$TMP/r.out" && ok range_step_counter || fail range_step_counter "$(grep '^\$1' "$TMP/r.out")"
