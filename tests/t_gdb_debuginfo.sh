#!/usr/bin/env bash
# Guest debug info: gdb names the right functions in the flat hello guests
# (no DWARF left behind for code the link dropped, all at address 0).
. "$(dirname "$0")/gdb/lib.sh"
plan 2
gdb_preflight gdb_debuginfo

for g in hello64 hello32; do
	mode=long; [ $g = hello32 ] && mode=protected
	gdb_session $g "$GUESTS/$g.elf" --mode $mode "$GUESTS/$g.elf" <<'EOF2'
break rt_store32
continue
bt
EOF2
	vmm_end 5
	want_re ${g}_backtrace_names_start - '^#1  0x[0-9a-f]+ in _start \(\) at guest/hello.c:[0-9]+$'
done
