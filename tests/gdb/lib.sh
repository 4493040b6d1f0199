# tests/gdb/lib.sh - helpers for the scripted gdb tests (tests/t_gdb_*.sh),
# on top of tests/lib.sh.
#
#   gdb_session NAME ELF VMM-ARGS... <<'EOF' ... EOF
#       start the vmm with --gdb on a free port, run gdb -batch on the script
#       (after "target remote"; ELF may be "" for none), output in $OUT
#       (gdb's stdout and stderr), gdb's status in GDB_RC; the vmm's stdout
#       and stderr end up in $VOUT and $VERR once vmm_end has run; "@PORT@"
#       in the script is the port
#   gdb_attach NAME ELF <<'EOF' ... EOF
#       the same with another gdb, to the vmm gdb_session started
#   vmm_end [SECONDS]
#       wait (bounded) for that vmm to exit, else end it; status in VMM_RC
#       ("running" if it had to be ended); a sanitizer report is a FAIL
#   want NAME SECTION LINE...      every LINE is a whole line of SECTION
#   want_re NAME SECTION ERE...    every ERE matches a whole line of SECTION
#   want_seq NAME SECTION LINE...  the LINEs are whole lines, in this order
#   want_not NAME SECTION ERE      no line of SECTION matches ERE
# A SECTION is the output after a gdb "echo @@ SECTION\n" up to the next
# "@@ " line; "-" is the whole output.  A section missing from the output
# (gdb ended before it, or the script misspells it) fails the check that
# asked for it.  In gdb scripts, helpers.py adds "try CMD", "pv[/FMT] EXPR",
# "interrupt-after SEC" and "frames".
GDBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$GDBDIR/../lib.sh"
SRC=$(cd "$GDBDIR/../.." && pwd)
KERNEL=$GUESTS/kernel64.elf

# gdb_preflight NAME: skip the whole script where it cannot run.
gdb_preflight() {
	local name=$1
	if ! have_kvm; then skip_rest "$name" "no usable /dev/kvm on this machine"; fi
	if ! command -v gdb >/dev/null; then skip_rest "$name" "gdb is not installed"; fi
	if ! gdb -batch -nx -ex 'python print("py-ok")' 2>/dev/null | grep -qx py-ok; then
		skip_rest "$name" "this gdb has no Python"
	fi
}

gdb_session() {
	local name=$1 elf=$2
	shift 2
	GDB_PORT=$(free_port)
	start_vmm --gdb "127.0.0.1:$GDB_PORT" "$@"
	if ! wait_listen; then
		SESSION=$name OUT=$TMP/$name.out VOUT=$TMP/$name.vmm.out VERR=$TMP/$name.vmm.err
		echo "vmm did not listen for gdb: $(head -c 300 "$TMP/vmm.err")" >"$OUT"
		cat >/dev/null
		GDB_RC=255
		return 1
	fi
	gdb_attach "$name" "$elf"
}

gdb_attach() {
	local name=$1 elf=$2
	SESSION=$name OUT=$TMP/$name.out VOUT=$TMP/$name.vmm.out VERR=$TMP/$name.vmm.err
	{
		echo "set pagination off"
		echo "set width 0"
		echo "source $GDBDIR/helpers.py"
		echo "target remote 127.0.0.1:$GDB_PORT"
		sed "s/@PORT@/$GDB_PORT/g"
	} >"$TMP/$name.gdb"
	timeout -k 2 "$(tscale "${GDB_TIMEOUT:-60}")" gdb -batch -nx -x "$TMP/$name.gdb" ${elf:+"$elf"} \
		</dev/null >"$OUT" 2>&1
	GDB_RC=$?
}

vmm_end() {
	local i n=$((${1:-5} * 20))
	for ((i = 0; i < n; i++)); do
		kill -0 "$VMM_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$VMM_PID" 2>/dev/null; then
		kill -TERM "$VMM_PID" 2>/dev/null	# timeout(1) passes it on to the vmm
		for ((i = 0; i < 40; i++)); do kill -0 "$VMM_PID" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$VMM_PID" 2>/dev/null
		wait "$VMM_PID" 2>/dev/null
		VMM_RC=running
	else
		wait "$VMM_PID" 2>/dev/null
		VMM_RC=$?
	fi
	cp "$TMP/vmm.out" "$VOUT" 2>/dev/null
	cp "$TMP/vmm.err" "$VERR" 2>/dev/null
	if grep -qE 'Sanitizer|runtime error:' "$VERR"; then
		fail "${SESSION}_sanitizer" "$(grep -m1 -E 'Sanitizer|runtime error:' "$VERR")"
	fi
}

# section NAME: the file holding that section of $OUT; status 1 (and the
# file empty) if $OUT has no such section.
section() {
	if [ "$1" = - ]; then echo "$OUT"; [ -f "$OUT" ]; return; fi
	awk -v s="@@ $1" '$0 == s { on = found = 1; next } /^@@ / { on = 0 } on; END { exit !found }' \
		"$OUT" >"$TMP/section"
	local rc=$?
	echo "$TMP/section"
	return $rc
}

# no_section CHECK-NAME SECTION: the FAIL of a check whose section is not in
# the output (a check of nothing would pass anything).
no_section() {
	if [ "$2" = - ]; then fail "$1" "no gdb output: $OUT is missing"; return; fi
	fail "$1" "no section '$2' in the output (gdb ended before its 'echo @@ $2'?)"
	echo "    gdb status ${GDB_RC:-?}; the end of $OUT:"
	tail -n 30 "$OUT" | sed 's/^/    | /'
}

# show_out FILE: what a FAIL looked at (at most 30 lines)
show_out() {
	echo "    gdb status $GDB_RC; the section of $OUT checked:"
	head -n 30 "$1" | sed 's/^/    | /'
}

want() {
	local name=$1 f l miss=""
	if ! f=$(section "$2"); then no_section "$name" "$2"; return; fi
	shift 2
	for l; do grep -qxF -- "$l" "$f" || miss+=" [$l]"; done
	if [ -z "$miss" ]; then ok "$name"; else fail "$name" "missing line(s)$miss"; show_out "$f"; fi
}

want_re() {
	local name=$1 f l miss=""
	if ! f=$(section "$2"); then no_section "$name" "$2"; return; fi
	shift 2
	for l; do grep -qxE -- "$l" "$f" || miss+=" /$l/"; done
	if [ -z "$miss" ]; then ok "$name"; else fail "$name" "no line matching$miss"; show_out "$f"; fi
}

want_seq() {
	local name=$1 f
	if ! f=$(section "$2"); then no_section "$name" "$2"; return; fi
	shift 2
	if printf '%s\n' "$@" | awk 'BEGIN { i = n = 0 } NR == FNR { want[n++] = $0; next } i < n && $0 == want[i] { i++ }
				    END { exit (i < n) }' - "$f"; then ok "$name"
	else fail "$name" "lines not all there in this order: $(printf '[%s] ' "$@")"; show_out "$f"; fi
}

want_not() {
	local name=$1 f
	if ! f=$(section "$2"); then no_section "$name" "$2"; return; fi
	if grep -qE -- "$3" "$f"; then fail "$name" "unexpected line: $(grep -E -- "$3" "$f" | head -1)"; show_out "$f"
	else ok "$name"; fi
}

# check_eq NAME GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got '$2', want '$3'"; fi
}

# sym NAME: the address of a kernel64 symbol, as 0x... (from the ELF)
sym() {
	local a
	a=$(nm "$KERNEL" | awk -v s="$1" '$3 == s { print $1; exit }')
	[ -n "$a" ] && printf '0x%x\n' "0x$a"
}

# hex EXPR: bash arithmetic printed as 0x... (64-bit wraparound)
hex() { printf '0x%x\n' "$(($1))"; }

# line_of FILE TEXT: the number of the first line of guest/FILE holding TEXT
line_of() { grep -nF -- "$2" "$SRC/guest/$1" | head -1 | cut -d: -f1; }

# insn_addr FUNC N: the address of instruction N (from 0) of kernel64's FUNC
insn_addr() {
	objdump -d --no-show-raw-insn --disassemble="$1" "$KERNEL" |
		awk -v n="$2" '/^ *[0-9a-f]+:\t/ { if (i++ == n) { sub(":", "", $1); print "0x" $1; exit } }'
}

# elf_byte ELF ADDR: the byte the ELF file holds at ADDR, as 0x..
elf_byte() {
	objdump -s --start-address="$2" --stop-address="$(hex "$2 + 1")" "$1" |
		awk '/^ [0-9a-f]+ [0-9a-f]+ / { print "0x" substr($2, 1, 2); exit }'
}

# insn_after FUNC ERE: the address of the instruction after the first one of
# kernel64's FUNC that matches ERE (in objdump's disassembly)
insn_after() {
	objdump -d --no-show-raw-insn --disassemble="$1" "$KERNEL" |
		awk -v re="$2" '/^ *[0-9a-f]+:\t/ { if (f) { sub(":", "", $1); print "0x" $1; exit } if ($0 ~ re) f = 1 }'
}
