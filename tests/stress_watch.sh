#!/usr/bin/env bash
# make stress-watch [RUNS=50] [SANITIZE=thread] [NESTED=1]: smp64's hammer
# (path 7: four vCPUs doing locked read-modify-writes and an xchg spinlock
# on the page of a write watchpoint) RUNS times; every run must end with the
# exact counts ("smp64: hammer 400", exit 0125).  Issue 16's "50 of 50".
# A lost locked write shows as a wrong count or as a spinlock left taken
# (the guest then spins until gdb's time runs out).
. "$(dirname "$0")/gdb/lib.sh"
runs=${RUNS:-50}
plan 1
gdb_preflight stress_watch
SMP=$GUESTS/smp64.elf
good=0 bad=""
for n in $(seq "$runs"); do
	gdb_session hammer$n "$SMP" --cpus 4 --arg 7 "$SMP" <<'EOF2'
watch hammer.sentinel
continue
EOF2
	vmm_end 10
	if grep -qx 'smp64: hammer 400' "$VOUT" &&
	   grep -qxF '[Inferior 1 (Remote target) exited with code 0125]' "$OUT"; then
		good=$((good + 1))
	else
		bad+=" $n"
		echo "# run $n: vmm $VMM_RC, gdb $GDB_RC: $(grep -E '^smp64: (hammer|FAILED)' "$VOUT" | head -1)"
		tail -n 5 "$OUT" | sed 's/^/#   | /'
	fi
done
echo "# $good of $runs runs exact"
check_eq "hammer_exact_${runs}_runs" "$good" "$runs"
