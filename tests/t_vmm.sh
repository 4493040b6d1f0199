#!/usr/bin/env bash
# The vmm without a debugger: modes, images, devices, ends, and user errors.
# Small test images are assembled here from source with gcc/ld.
. "$(dirname "$0")/lib.sh"
plan 52

if ! have_kvm; then skip_rest vmm_all "no usable /dev/kvm on this machine"; fi

# asm NAME BITS ORG <<< source: assemble a flat binary at ORG into $TMP/NAME.bin
asm() {
	local name=$1 bits=$2 org=$3
	{ echo ".code$bits"; cat; } >"$TMP/$name.S"
	gcc -c -o "$TMP/$name.o" "$TMP/$name.S" &&
		ld -m elf_x86_64 -Ttext="$org" -e 0 -o "$TMP/$name.elf" "$TMP/$name.o" 2>/dev/null &&
		objcopy -O binary "$TMP/$name.elf" "$TMP/$name.bin"
}

expect_status() { # NAME WANT: compare $RC
	if [ "$RC" -eq "$2" ]; then ok "$1"; else fail "$1" "status $RC, want $2; stderr: $(head -c 400 "$TMP/err")"; fi
}
expect_err() { # NAME REGEX: one clear line on stderr matching REGEX
	if grep -qE "$2" "$TMP/err" && [ "$(wc -l <"$TMP/err")" -le 3 ]; then ok "$1"
	else fail "$1" "stderr lacks /$2/: $(head -c 400 "$TMP/err")"; fi
}

# --- the hello guests, each mode --------------------------------------------
for g in real:hello16 protected:hello32 long:hello64; do
	mode=${g%%:*} bin=$GUESTS/${g#*:}.bin
	run_vmm "$TMP/out" "$TMP/err" --mode "$mode" --dump-mem 0x400:4 "$bin"
	if [ "$RC" -eq 0 ] && [ "$(cat "$TMP/out")" = "Hello, world!" ] &&
	   grep -q '^mem 0x400: 2a 00 00 00$' "$TMP/err"; then ok "hello_$mode"
	else fail "hello_$mode" "status $RC out '$(head -c 100 "$TMP/out")' err '$(head -c 300 "$TMP/err")'"; fi
done
# Short aliases.
run_vmm "$TMP/out" "$TMP/err" -r "$GUESTS/hello16.bin"
[ "$RC" -eq 0 ] && grep -q 'Hello, world!' "$TMP/out" && ok alias_r || fail alias_r "status $RC"
run_vmm "$TMP/out" "$TMP/err" -s "$GUESTS/hello32.bin"
[ "$RC" -eq 0 ] && grep -q 'Hello, world!' "$TMP/out" && ok alias_s || fail alias_s "status $RC"

# paged: works on ordinary KVM; refused in one clear line where the probe says so.
if "$VMM" --probe | grep -q '^mode paged (32-bit paging): *yes'; then
	run_vmm "$TMP/out" "$TMP/err" -p --dump-mem 0x400:4 "$GUESTS/hellopg.bin"
	[ "$RC" -eq 0 ] && grep -q 'Hello, world!' "$TMP/out" && grep -q '2a 00 00 00' "$TMP/err" &&
		ok hello_paged || fail hello_paged "status $RC $(cat "$TMP/err")"
	skip_checks "this KVM runs 32-bit paging: nothing refused" paged_refused_status paged_refused_message
else
	skip hello_paged "this KVM ($(sed -n 's/^kvm module: *//p' <("$VMM" --probe))) refuses 32-bit paging"
	run_vmm "$TMP/out" "$TMP/err" -p "$GUESTS/hellopg.bin"
	expect_status paged_refused_status 12
	expect_err paged_refused_message 'refuses 32-bit paging'
fi

# --- probe --------------------------------------------------------------------
"$VMM" --probe >"$TMP/probe" 2>&1; RC=$?
if [ "$RC" -eq 0 ] && grep -q '^mode long: *yes' "$TMP/probe" && grep -q '^read-only memory slots:' "$TMP/probe" &&
   grep -q '^int3 intercepted' "$TMP/probe" && grep -q '^hw data breakpoints' "$TMP/probe"; then ok probe
else fail probe "$(cat "$TMP/probe")"; fi

# --- devices and ends ---------------------------------------------------------
asm f4 64 0 <<'EOF2'
	mov $0x15, %al
	out %al, $0xf4
	hlt
EOF2
run_vmm "$TMP/out" "$TMP/err" "$TMP/f4.bin"; expect_status exit_port_f4 43

asm words 64 0 <<'EOF2'
	mov $0x6968, %ax      # "hi" as one 16-bit OUT
	out %ax, $0xe9
	mov $0x0a0a2121, %eax # "!!\n\n" as one 32-bit OUT
	out %eax, $0xe9
	in $0xe9, %al         # Bochs: reads 0xE9
	mov %al, 0x500
	in $0x60, %al         # no device: all ones, one warning
	mov %al, 0x501
	in $0x60, %al
	hlt
EOF2
run_vmm "$TMP/out" "$TMP/err" --dump-mem 0x500:2 "$TMP/words.bin"
if [ "$RC" -eq 0 ] && [ "$(cat "$TMP/out")" = "$(printf 'hi!!\n')" ] && grep -q 'mem 0x500: e9 ff' "$TMP/err" &&
   [ "$(grep -c 'port 0x60' "$TMP/err")" -eq 1 ]; then ok port_sizes_and_unknown_port
else fail port_sizes_and_unknown_port "status $RC out '$(cat "$TMP/out")' err '$(cat "$TMP/err")'"; fi

asm triple 64 0 <<'EOF2'
	mov $0x7fffffff0000, %rax # unmapped, no IDT: triple fault
	movq $1, (%rax)
	hlt
EOF2
run_vmm "$TMP/out" "$TMP/err" "$TMP/triple.bin"
expect_status triple_fault_status 6
if fault_state_kept; then
	grep -q 'triple fault' "$TMP/err" && grep -q 'RIP=0xa ' "$TMP/err" && grep -q 'CR2=0x7fffffff0000' "$TMP/err" &&
		grep -q 'CR3=0x2000' "$TMP/err" && ok triple_fault_report || fail triple_fault_report "$(cat "$TMP/err")"
else
	# KVM reset the vCPU (kvm_amd): the report says its registers are the reset state
	grep -q 'triple fault' "$TMP/err" && grep -q 'RIP=0xfff0 ' "$TMP/err" &&
		grep -q 'the reset state: .* re-initialised the vCPU at the triple fault, the faulting state is lost' "$TMP/err" &&
		ok triple_fault_report_reset || fail triple_fault_report_reset "$(cat "$TMP/err")"
fi

asm mmio 64 0 <<'EOF2'
	mov $0x80000000, %eax   # identity-mapped but beyond 64 MiB of RAM
	movl $1, (%rax)
	hlt
EOF2
run_vmm "$TMP/out" "$TMP/err" "$TMP/mmio.bin"
expect_status mmio_outside_ram_status 10
grep -q 'outside guest RAM' "$TMP/err" && grep -q '0x80000000' "$TMP/err" &&
	ok mmio_outside_ram_report || fail mmio_outside_ram_report "$(cat "$TMP/err")"

# Boot contract: RDI = index, RSI = --arg, RSP = top of RAM, CR0/CR4/EFER.
asm regs 64 0 <<'EOF2'
	mov %rdi, 0x500
	mov %rsi, 0x508
	mov %rsp, 0x510
	mov %cr0, %rax
	mov %rax, 0x518
	mov %cr4, %rax
	mov %rax, 0x520
	mov %cr3, %rax
	mov %rax, 0x528
	hlt
EOF2
run_vmm "$TMP/out" "$TMP/err" --mem 32M --arg 0x1234 --dump-mem 0x500:48 "$TMP/regs.bin"
want='mem 0x500: 00 00 00 00 00 00 00 00 34 12 00 00 00 00 00 00 00 00 00 02 00 00 00 00 33 00 01 80 00 00 00 00 20 06 00 00 00 00 00 00 00 20 00 00 00 00 00 00'
grep -qx "$want" "$TMP/err" && ok boot_contract_long || fail boot_contract_long "$(cat "$TMP/err")"

# Flat image at --load, real mode CS:IP from the load address.
asm real 16 0x8000 <<'EOF2'
	mov %cs, %ax
	mov %ax, 0x500
	call 1f
1:	pop %ax
	mov %ax, 0x502
	mov %si, 0x504
	hlt
EOF2
run_vmm "$TMP/out" "$TMP/err" -r --load 0x8000 --arg 7 --dump-mem 0x500:6 "$TMP/real.bin"
grep -qx 'mem 0x500: 00 08 08 00 07 00' "$TMP/err" && ok real_mode_cs_ip || fail real_mode_cs_ip "$(cat "$TMP/err")"

# --- ELF loading --------------------------------------------------------------
run_vmm "$TMP/out" "$TMP/err" "$GUESTS/hello64.elf"
[ "$RC" -eq 0 ] && grep -q 'Hello, world!' "$TMP/out" && ok elf64_load || fail elf64_load "status $RC $(cat "$TMP/err")"
run_vmm "$TMP/out" "$TMP/err" -s "$GUESTS/hello32.elf"
[ "$RC" -eq 0 ] && grep -q 'Hello, world!' "$TMP/out" && ok elf32_load || fail elf32_load "status $RC $(cat "$TMP/err")"

# p_memsz beyond p_filesz is zero-filled: a .bss counter read back.
cat >"$TMP/bss.S" <<'EOF2'
.code64
.globl _start
_start:	mov zeroes, %rax
	mov %rax, 0x500
	hlt
.bss
zeroes:	.skip 4096
EOF2
gcc -c -o "$TMP/bss.o" "$TMP/bss.S" && ld -m elf_x86_64 -Ttext=0x100000 -o "$TMP/bss.elf" "$TMP/bss.o"
dd if=/dev/urandom of="$TMP/junk" bs=4096 count=1 status=none
run_vmm "$TMP/out" "$TMP/err" --dump-mem 0x500:8 "$TMP/bss.elf"
grep -qx 'mem 0x500: 00 00 00 00 00 00 00 00' "$TMP/err" && ok elf_bss_zeroed || fail elf_bss_zeroed "$(cat "$TMP/err")"

head -c 100 "$GUESTS/hello64.elf" >"$TMP/trunc.elf"
run_vmm "$TMP/out" "$TMP/err" "$TMP/trunc.elf"
expect_status elf_truncated_status 2; expect_err elf_truncated_message 'truncated'

cp "$GUESTS/hello64.elf" "$TMP/arm.elf"; printf '\x28\x00' | dd of="$TMP/arm.elf" bs=1 seek=18 conv=notrunc status=none
run_vmm "$TMP/out" "$TMP/err" "$TMP/arm.elf"
expect_status elf_not_x86_status 2; expect_err elf_not_x86_message 'not x86'

ld -m elf_x86_64 -Ttext=0x7ff0000 -o "$TMP/high.elf" "$TMP/bss.o"
run_vmm "$TMP/out" "$TMP/err" --mem 64M "$TMP/high.elf"
expect_status elf_outside_ram_status 2; expect_err elf_outside_ram_message 'outside guest RAM'

# --- user errors: one clear line, non-zero status -----------------------------
run_vmm "$TMP/out" "$TMP/err" "$TMP/nope.bin"
expect_status missing_image_status 2; expect_err missing_image_message 'cannot open image .*No such file'
: >"$TMP/empty.bin"
run_vmm "$TMP/out" "$TMP/err" "$TMP/empty.bin"
expect_status empty_image_status 2; expect_err empty_image_message 'is empty'
run_vmm "$TMP/out" "$TMP/err" --mem 12Q "$GUESTS/hello64.bin"
expect_status bad_mem_status 2; expect_err bad_mem_message "bad --mem '12Q'"
run_vmm "$TMP/out" "$TMP/err" --mem 100 "$GUESTS/hello64.bin"
expect_status tiny_mem_status 2
head -c 3M /dev/zero >"$TMP/big.bin"
run_vmm "$TMP/out" "$TMP/err" --mem 2M "$TMP/big.bin"
expect_status image_larger_than_ram_status 2; expect_err image_larger_than_ram_message 'larger than guest RAM'
run_vmm "$TMP/out" "$TMP/err" --load 0x1000 "$GUESTS/hello64.bin"
expect_status overlap_tables_status 2; expect_err overlap_tables_message 'overlaps the vmm'
run_vmm "$TMP/out" "$TMP/err" --load 0x3fffff0 "$GUESTS/hello64.bin"
expect_status load_past_ram_status 2; expect_err load_past_ram_message 'outside guest RAM'
run_vmm "$TMP/out" "$TMP/err" --mode warp "$GUESTS/hello64.bin"
expect_status bad_mode_status 2; expect_err bad_mode_message "unknown mode 'warp'"
run_vmm "$TMP/out" "$TMP/err"
expect_status no_image_status 2; expect_err no_image_message 'no image'
run_vmm "$TMP/out" "$TMP/err" --cpus 65 "$GUESTS/hello64.bin"
expect_status bad_cpus_status 2
"$VMM" --help >"$TMP/out" 2>&1 && grep -q -- '--gdb' "$TMP/out" && grep -q -- '--mode' "$TMP/out" &&
	grep -q 'Exit status' "$TMP/out" && ok help || fail help "--help incomplete"
"$VMM" --version | grep -qE '^vmm [0-9]+\.[0-9]+' && ok version || fail version "no version"
if [ "$(id -u)" -ne 0 ] || true; then
	# Without access to /dev/kvm (run as nobody where we can), one clear line.
	if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
		# Copies in $TMP: the checkout may sit where nobody cannot go.
		cp "$GUESTS/hello64.bin" "$TMP/h.bin"; chmod 755 "$TMP"; chmod 644 "$TMP/h.bin"
		mkdir -m 755 "$TMP/nobody"
		if [ -n "${VMM_REAL:-}" ]; then	# the nested rig's launcher, and the vmm it runs
			cp "$VMM" "$TESTS/nested/mux.py" "$TMP/nobody/"; cp "$VMM_REAL" "$TMP/nobody/vmm-real"
		else
			cp "$VMM" "$TMP/nobody/"
		fi
		chmod -R a+rX "$TMP/nobody"
		VMM_REAL=$TMP/nobody/vmm-real setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$TMP/nobody/$(basename "$VMM")" "$TMP/h.bin" >"$TMP/out" 2>"$TMP/err"; RC=$?
		expect_status no_kvm_permission_status 4; expect_err no_kvm_permission_message 'permission.*/dev/kvm'
	else
		skip_checks "not root, or no setpriv: cannot run the vmm as another user" \
			no_kvm_permission_status no_kvm_permission_message
	fi
fi

# --gdb errors: a port in use, a bad port: one clear line, status 2.
python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1], flush=True); time.sleep(30)' >"$TMP/busy" &
busy=$!; PIDS+=("$busy")
for i in $(seq 50); do [ -s "$TMP/busy" ] && break; sleep 0.05; done
run_vmm "$TMP/out" "$TMP/err" --gdb "$(cat "$TMP/busy")" "$GUESTS/hello64.bin"
expect_status gdb_port_in_use_status 2; expect_err gdb_port_in_use_message "port $(cat "$TMP/busy") is in use"
kill "$busy" 2>/dev/null
run_vmm "$TMP/out" "$TMP/err" --gdb 99999 "$GUESTS/hello64.bin"
expect_status gdb_bad_port_status 2; expect_err gdb_bad_port_message "bad port '99999'"
