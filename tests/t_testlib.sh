#!/usr/bin/env bash
# The test library itself, on made-up output (no KVM, no gdb): the gdb
# checks (tests/gdb/lib.sh) fail where the section they check is missing
# instead of checking nothing, and tests/run.sh's count (tests/tally.sh)
# holds each script to its plan and counts a script skipped whole as all of
# its checks.
. "$(dirname "$0")/gdb/lib.sh"
plan 22
export TESTS

# said WANT-PREFIX COMMAND...: the first line the check COMMAND printed
# starts with WANT-PREFIX (its lines are captured here, not counted).
said() {
	local want=$1 got; shift
	got=$("$@" | head -n 1)
	[[ $got == "$want"* ]] || { echo "    '$*' said '$got', want '$want...'"; return 1; }
}

# --- tests/gdb/lib.sh on a made-up gdb transcript ------------------------------
OUT=$TMP/fake.out GDB_RC=0
printf '%s\n' 'Remote debugging using :1234' '@@ regs' 'rax 0x1' 'rbx 0x2' '@@ run' \
	'Breakpoint 1, main ()' '$1 = 5' >"$OUT"
check want_passes_on_its_section said 'ok w' want w regs 'rax 0x1' 'rbx 0x2'
check want_section_ends_at_the_next said 'FAIL w: missing line(s) [$1 = 5]' want w regs '$1 = 5'
check want_whole_output_is_dash said 'ok w' want w - 'rax 0x1' '$1 = 5'
check want_not_passes_on_its_section said 'ok w' want_not w regs '^rcx'
check want_not_fails_on_a_match said 'FAIL w: unexpected line: rax 0x1' want_not w regs '^rax'
check want_fails_without_its_section said "FAIL w: no section 'regz'" want w regz 'rax 0x1'
check want_re_fails_without_its_section said "FAIL w: no section 'regz'" want_re w regz '.*'
check want_seq_fails_without_its_section said "FAIL w: no section 'regz'" want_seq w regz
check want_not_fails_without_its_section said "FAIL w: no section 'regz'" want_not w regz '^rcx'
check want_not_fails_without_any_output said "FAIL w: no gdb output" \
	env OUT="$TMP/none.out" bash -c '. "$TESTS/gdb/lib.sh"; want_not w - x'
check section_status_says_if_found bash -c \
	'. "$TESTS/gdb/lib.sh"; OUT=$1; section run >/dev/null && ! section regz >/dev/null' - "$OUT"

# --- tests/tally.sh: what run.sh makes of a script's output -----------------------
. "$TESTS/tally.sh"
# counted STATUS [planned] LINE...: "passed failed skipped" of that output
counted() {
	local rc=$1 planned="" p f s; shift
	[ "$1" = planned ] && { planned=planned; shift; }
	printf '%s\n' "$@" >"$TMP/log"
	tally "$TMP/log" "$rc" fake 240 $planned
	echo "$p $f $s"
}
check_eq tally_skipped_whole_is_its_plan "$(counted 0 planned 'plan 15' 'skip x: no kvm' skip-rest)" '0 0 15'
check_eq tally_skip_rest_after_some "$(counted 0 planned 'plan 5' 'ok a' 'FAIL b: x' 'skip c: why' skip-rest)" '1 1 3'
check_eq tally_plan_met "$(counted 0 planned 'plan 3' 'ok a' 'skip b: why' 'ok c')" '2 0 1'
check_eq tally_fewer_than_planned_fails "$(counted 0 planned 'plan 4' 'ok a' 'ok b')" '2 1 0'
check tally_says_plan_mismatch grep -qx 'FAIL fake: 2 checks made, its plan says 4 .*' "$TMP/log"
check_eq tally_more_than_planned_fails "$(counted 0 planned 'plan 1' 'ok a' 'skip b: why' skip-rest)" '1 1 1'
check_eq tally_no_plan_fails "$(counted 0 planned 'ok a')" '1 1 0'
check_eq tally_failure_not_blamed_on_plan "$(counted 0 planned 'plan 4' 'ok a' 'FAIL b: x')" '1 1 0'
check_eq tally_status_without_fail_fails "$(counted 3 planned 'plan 1' 'ok a')" '1 1 0'
check_eq tally_unit_program_needs_no_plan "$(counted 0 'ok a' 'skip b: why')" '1 0 1'
# skip_rest as a script runs it: the check after it is never made, and counted
check_eq tally_skip_rest_of_a_script "$(counted 0 planned "$(bash -c '. "$TESTS/lib.sh"; plan 4; ok a
	skip_rest b "no KVM"; ok c')")" '1 0 3'
