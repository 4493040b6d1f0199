#!/usr/bin/env bash
# The test library itself, on made-up output (no KVM, no gdb): the gdb
# checks (tests/gdb/lib.sh) fail where the section they check is missing
# instead of checking nothing.
. "$(dirname "$0")/gdb/lib.sh"
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
