# tests/tally.sh - how tests/run.sh counts one test program's output
# (sourced; tests/t_testlib.sh tests it on made-up output).
#
# tally LOG STATUS NAME LIMIT [planned]: count the lines of LOG into p
# (passed: "ok NAME"), f (failed: "FAIL NAME: why") and s (skipped: "skip
# NAME: why").  A program that exited non-zero (STATUS; 124 or 137: it ran
# past LIMIT seconds) without a FAIL line is one failure.  With "planned"
# (the shell scripts, tests/lib.sh) LOG must hold "plan N", the number of
# checks the script makes: after a "skip-rest" line (skip_rest) the checks
# it did not make count as skipped, so that a script skipped whole counts
# all its checks; otherwise any other number of checks is a failure.  Each
# failure found here is appended to LOG as a FAIL line.
tally() {
	local log=$1 rc=$2 name=$3 limit=$4 planned=${5:-} n made
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	s=$(grep -c '^skip ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL $name: timed out after ${limit}s" >>"$log"
		else
			echo "FAIL $name: exited with status $rc" >>"$log"
		fi
		f=1
	fi
	[ -n "$planned" ] || return 0
	n=$(sed -n 's/^plan \([0-9][0-9]*\)$/\1/p' "$log" | head -n 1)
	made=$((p + f + s))
	if [ -z "$n" ]; then
		echo "FAIL $name: no 'plan N' line (tests/lib.sh: plan, the number of its checks, said first)" >>"$log"
		f=$((f + 1))
	elif grep -qx 'skip-rest' "$log" && [ "$made" -le "$n" ]; then
		s=$((s + n - made))
	elif [ "$made" -ne "$n" ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: $made checks made, its plan says $n (a check left out instead of skipped, or the plan is stale)" >>"$log"
		f=1
	fi
}
