#!/usr/bin/env bash
# tests/bench.sh BUILD_DIR - performance figures of the vmm and its gdb stub.
#
# One line per figure, "name value unit", each the median of several runs
# (BENCH_RUNS, default 7; gdb timings: BENCH_GDB_RUNS, default 5), then the
# ratios the targets need and which targets are met.  Lines starting with '#'
# are comments (the machine, the targets).  The raw figures come from
# build/tests/tool_bench (a raw RSP client in C, no-ack mode, so they measure
# the stub, not gdb) and the gdb_* ones from gdb -batch as a user would feel
# them.  The floors come first: KVM exits, steps and ioctls without the stub,
# loopback TCP and thread hand-offs (default scheduling, one core, across
# cores), the stub's codec, guest loop speed.  The targets' ratios use the
# default-scheduling tcp_rtt_us; the *_same_core ratios use the one-core
# round trip (on a shared 2-CPU machine the default one is either).
# record_vs_step compares recording (monitor record on: every instruction
# single-stepped, every RAM write trapped) with bare single steps
# (kvm_step_rate), record_vs_stub_step with gdb's stepi over the stub.
# BENCH_ONLY="step mem" runs only those tool_bench figures (no gdb).
set -u
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
export VMM=$PWD/$B/vmm BUILD=$PWD/$B GUESTS=$PWD/build/guest TESTS=$PWD/tests
# shellcheck source=tests/lib.sh
source tests/lib.sh

RUNS=${BENCH_RUNS:-7}
GDB_RUNS=${BENCH_GDB_RUNS:-5}
TB=$BUILD/tests/tool_bench
FIG=$TMP/figures

if ! have_kvm; then
	echo "# bench: /dev/kvm is not usable here: no figures"
	exit 0
fi

kmods=
for m in /sys/module/kvm*; do [ -e "$m" ] && kmods+="${m##*/} "; done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r), modules: ${kmods% }, load average $(cut -d" " -f1-3 /proc/loadavg)"

# Floors first, then the stub's figures, all from one tool_bench run per
# group so a failure names its group.
if [ -n "${BENCH_ONLY:-}" ]; then
	# shellcheck disable=SC2086
	"$TB" -n "$RUNS" $BENCH_ONLY
	exit $?
fi
for group in "kvm_exit kvm_step kvm_ioctl tcp handoff codec guest_loop" \
	"boot attach regs step bp mem interrupt run_overhead record"; do
	# shellcheck disable=SC2086
	if ! "$TB" -n "$RUNS" $group | tee -a "$FIG"; then
		echo "# bench: tool_bench $group failed"
	fi
done

# gdb_time NAME IMAGE VMM-ARGS -- GDB-COMMANDS...: seconds the commands take
# inside gdb -batch (python's clock around them), median of GDB_RUNS runs.
gdb_time() {
	local name=$1 image=$2; shift 2
	local vargs=() cmds=() s=() port t
	while [ $# -gt 0 ] && [ "$1" != -- ]; do vargs+=("$1"); shift; done
	shift
	cmds=("$@")
	for _ in $(seq "$GDB_RUNS"); do
		port=$(free_port)
		start_vmm --gdb "$port" "${vargs[@]}" "$image"
		if ! wait_listen; then
			echo "$name n/a (the vmm did not listen)"
			return
		fi
		local gargs=(-batch -nx "$image" -ex "target remote 127.0.0.1:$port")
		local c
		for c in "${cmds[@]}"; do gargs+=(-ex "$c"); done
		t=$(timeout 60 gdb "${gargs[@]}" 2>&1 | sed -n 's/^bench-elapsed //p')
		kill -9 "$VMM_PID" 2>/dev/null
		wait "$VMM_PID" 2>/dev/null
		if [ -z "$t" ]; then
			echo "$name n/a (gdb did not finish)"
			return
		fi
		s+=("$t")
	done
	printf '%s\n' "${s[@]}" | sort -g | awk -v n="$name" '{ v[NR] = $1 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %.3f s\n", n, m }'
}

T0='python import time; bench_t0 = time.perf_counter()'
T1='python print("bench-elapsed %.6f" % (time.perf_counter() - bench_t0))'
if command -v gdb >/dev/null && gdb -batch -nx -ex 'python print(1)' >/dev/null 2>&1; then
	gdb_time gdb_stepi1000_s "$GUESTS/loop64.elf" --arg 100000000 -- \
		"$T0" 'stepi 1000' "$T1" kill | tee -a "$FIG"
	gdb_time gdb_dump16M_s "$GUESTS/hello64.elf" -- \
		'monitor phys on' "$T0" "dump binary memory $TMP/dump.bin 0 0x1000000" "$T1" kill | tee -a "$FIG"
	rm -f "$TMP/dump.bin"
else
	echo "gdb_stepi1000_s n/a (no gdb with python)" | tee -a "$FIG"
	echo "gdb_dump16M_s n/a (no gdb with python)" | tee -a "$FIG"
fi

# Ratios and targets, from the figures above.
awk '
	{ v[$1] = $2 }
	function have(k) { return (k in v) && v[k] != "n/a" }
	function target(what, ok) { printf "# target %-64s %s\n", what, ok ? "met" : "NOT met" }
	END {
		if (have("step_rate") && have("kvm_step_rate") && have("tcp_rtt_us")) {
			floor = 1e6 / (1e6 / v["kvm_step_rate"] + v["tcp_rtt_us"])
			step = v["step_rate"] / floor
			printf "step_rate_floor %.0f steps/s\n", floor
			printf "step_rate_vs_floor %.2f ratio\n", step
		}
		if (have("step_rate") && have("kvm_step_rate") && have("tcp_rtt_same_core_us")) {
			floor = 1e6 / (1e6 / v["kvm_step_rate"] + v["tcp_rtt_same_core_us"])
			printf "step_rate_vs_floor_same_core %.2f ratio\n", v["step_rate"] / floor
		}
		if (have("regs_rtt_us") && have("tcp_rtt_us")) {
			regs = v["regs_rtt_us"] / v["tcp_rtt_us"]
			printf "regs_rtt_vs_tcp %.2f ratio\n", regs
		}
		if (have("regs_rtt_us") && have("tcp_rtt_same_core_us"))
			printf "regs_rtt_vs_tcp_same_core %.2f ratio\n", v["regs_rtt_us"] / v["tcp_rtt_same_core_us"]
		if (have("record_rate") && have("kvm_step_rate"))
			printf "record_vs_step %.2f ratio\n", v["record_rate"] / v["kvm_step_rate"]
		if (have("record_rate") && have("step_rate"))
			printf "record_vs_stub_step %.2f ratio\n", v["record_rate"] / v["step_rate"]
		if (have("reverse_rate") && have("record_rate"))
			printf "reverse_vs_record %.1f ratio\n", v["reverse_rate"] / v["record_rate"]
		if (step != "")
			target("step_rate >= 0.8 x floor (one step exit + one tcp round trip)", step >= 0.8)
		if (regs != "")
			target("regs_rtt_us <= 1.3 x tcp_rtt_us", regs <= 1.3)
		if (have("mem_read_MBps"))
			target("mem_read_MBps >= 200 (4 KiB pages)", v["mem_read_MBps"] >= 200)
		if (have("gdb_dump16M_s"))
			target("gdb_dump16M_s < 2", v["gdb_dump16M_s"] < 2)
		if (have("interrupt_us"))
			target("interrupt_us < 200", v["interrupt_us"] < 200)
		if (have("run_overhead"))
			target("run_overhead < 1 %", v["run_overhead"] < 1)
		if (have("boot_ms"))
			target("boot_ms < 5", v["boot_ms"] < 5)
	}' "$FIG"
