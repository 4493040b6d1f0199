#!/usr/bin/env bash
# Multiboot (version 1) kernels and the COM1 UART: mboot32 (guest/mboot.S,
# guest/mbkernel.c) loaded by its ELF program headers and, as mbootaf32.bin,
# by its header's address fields; it checks what it was handed (EAX, the
# Multiboot information, the memory map, --append, --module) and prints it
# through the 16550 at 0x3F8 after the usual loopback check; with a second
# CPU that waits for SIPI all along; a line typed on stdin read from COM1.  The refusals (RAM over the local
# APICs with several CPUs, another mode, --append without Multiboot, a missing module,
# a broken header), and gdb at the kernel's entry.
. "$(dirname "$0")/gdb/lib.sh"
plan 16
gdb_preflight multiboot
MB=$GUESTS/mboot32.elf

expect_run() { # NAME STATUS FILE-WITH-STDOUT VMM-ARGS...
	local name=$1 status=$2 want=$3; shift 3
	run_vmm "$TMP/out" "$TMP/err" "$@"
	if [ "$RC" -eq "$status" ] && cmp -s "$TMP/out" "$want"; then ok "$name"
	else fail "$name" "status $RC (want $status); stdout $(tr '\n' '|' <"$TMP/out"); want $(tr '\n' '|' <"$want"); stderr $(head -c 300 "$TMP/err")"; fi
}
expect_status() { # NAME WANT
	if [ "$RC" -eq "$2" ]; then ok "$1"; else fail "$1" "status $RC, want $2; stderr: $(head -c 400 "$TMP/err")"; fi
}
expect_err() { # NAME REGEX: one clear line
	if grep -qE -- "$2" "$TMP/err" && [ "$(wc -l <"$TMP/err")" -eq 1 ]; then ok "$1"
	else fail "$1" "stderr lacks /$2/: $(head -c 400 "$TMP/err")"; fi
}

map='mboot32: map 0x0 0x1000 ram
mboot32: map 0x1000 0xf000 reserved
mboot32: map 0x10000 0x8fc00 ram
mboot32: map 0x9fc00 0x60400 reserved
mboot32: map 0x100000 0x3f00000 ram'
printf 'first line of the module\nsecond\n' >"$TMP/mod.txt"
cat >"$TMP/want1" <<EOF2
mboot32: magic 0x2badb002, flags 0x24d
mboot32: mem_lower 639 KiB, mem_upper 64512 KiB
$map
mboot32: cmdline 'console=ttyS0 quiet'
mboot32: module 'initrd-one' 32 bytes: first line of the module
mboot32: module '' 32 bytes: first line of the module
mboot32: loader 'vmm $("$VMM" --version | awk '{print $2}')'
mboot32: ok
EOF2
expect_run elf_append_modules 33 "$TMP/want1" "$MB" --append "console=ttyS0 quiet" \
	--module "$TMP/mod.txt=initrd-one" --module "$TMP/mod.txt"
cat >"$TMP/want2" <<EOF2
mboot32: magic 0x2badb002, flags 0x241
mboot32: mem_lower 639 KiB, mem_upper 64512 KiB
$map
mboot32: loader 'vmm $("$VMM" --version | awk '{print $2}')'
mboot32: ok
EOF2
expect_run address_fields 33 "$TMP/want2" "$GUESTS/mbootaf32.bin"

# Several CPUs: the others wait for INIT/SIPI, which mboot32 never sends; it
# ends as with one.  RAM over the local APICs would hide them: refused.
expect_run ap_waits_for_sipi 33 "$TMP/want2" --cpus 2 "$GUESTS/mbootaf32.bin"
run_vmm "$TMP/out" "$TMP/err" --cpus 2 --mem 4080M "$MB"
expect_status cpus_big_ram_refused_status 2
expect_err cpus_big_ram_refused_message 'with 2 CPUs: its others start through the local APICs at 0xfee00000, which --mem above that hides'
run_vmm "$TMP/out" "$TMP/err" --mode long "$MB"
expect_status mode_refused_status 2; expect_err mode_refused_message 'starts in protected mode, not long mode'
run_vmm "$TMP/out" "$TMP/err" "$GUESTS/hello64.bin" --append x
expect_status append_not_multiboot_status 2; expect_err append_not_multiboot_message '--append and --module are for Multiboot kernels'
run_vmm "$TMP/out" "$TMP/err" "$MB" --module "$TMP/none.txt"
expect_status missing_module_status 2; expect_err missing_module_message "cannot open module $TMP/none.txt"
cp "$GUESTS/mbootaf32.bin" "$TMP/broken.bin"
printf '\x01' | dd of="$TMP/broken.bin" bs=1 seek=8 conv=notrunc status=none	# the checksum's low byte
run_vmm "$TMP/out" "$TMP/err" "$TMP/broken.bin"
expect_status broken_header_status 2; expect_err broken_header_message 'Multiboot header at offset 0x0: bad checksum'

# COM1 input: the vmm's stdin, typed into the kernel's serial console (it
# polls the line status for one line and prints it back).
printf 'typed on the console\nnot read\n' >"$TMP/typed.txt"
run_vmm "$TMP/out" "$TMP/err" "$MB" --append echo <"$TMP/typed.txt"
if [ "$RC" -eq 33 ] && grep -qx "mboot32: cmdline 'echo'" "$TMP/out" &&
   grep -qx "mboot32: read 'typed on the console'" "$TMP/out" && grep -qx 'mboot32: ok' "$TMP/out"; then
	ok serial_input_from_stdin
else
	fail serial_input_from_stdin "status $RC; stdout $(tr '\n' '|' <"$TMP/out"); stderr $(head -c 300 "$TMP/err")"
fi

# gdb: held at the kernel's first instruction in protected mode, EAX/EBX as
# Multiboot says; mb_main sees them as its arguments.
gdb_session entry "$MB" "$MB" --append hello <<'EOF2'
echo @@ entry\n
pv/x $eax
pv $pc == &_start
break mb_main
continue
echo @@ main\n
pv/x magic
pv mbi->mem_lower
pv (char *)mbi->cmdline
delete
continue
EOF2
vmm_end 5
want gdb_at_entry_and_main entry '$eax = 0x2badb002' '$pc == &_start = 1'
want gdb_sees_information main 'magic = 0x2badb002' 'mbi->mem_lower = 639' \
	'(char *)mbi->cmdline = 0x8078 "hello"'
