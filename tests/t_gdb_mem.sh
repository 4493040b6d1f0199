#!/usr/bin/env bash
# gdb against the vmm: memory through kernel64's own page tables (higher
# half, pages physically apart, aliases, unmapped and read-only pages, a
# 2 MiB page), guest-physical access with "monitor phys", "monitor walk".
. "$(dirname "$0")/gdb/lib.sh"
plan 20
gdb_preflight gdb_mem

voff=0xffffffff7ff00000
phys() { hex "$(sym "$1") - $voff"; }
banner=$(sym banner) banner_p=$(phys banner)
sg=$(sym stack_guard) lo_p=$(phys split_page_lo) hi_p=$(phys split_page_hi) alias_p=$(phys alias_a)
ro=$(sym ro_page) ro_p=$(phys ro_page)
ram_end=$((64 << 20))

gdb_session mem "$KERNEL" "$KERNEL" <<EOF2
break level1
continue
echo @@ banner\n
x/s banner
monitor walk $banner
echo @@ split\n
x/8xb split_va+4092
x/2bx split_va+4095
pv/x *(unsigned long *)(split_va + 4092)
monitor walk $(sym split_va)
monitor walk $(hex "$(sym split_va) + 4096")
echo @@ alias\n
x/s alias_b
set var alias_a[0] = 'K'
x/s alias_b
set var alias_b[1] = 'E'
x/s alias_a
echo @@ unmapped\n
try x/bx stack_guard
try x/2xb stack_guard-1
try set var stack_guard[0] = 1
try x/xb 0xffffffff80101000
monitor walk $sg
echo @@ ro\n
monitor walk $ro
set var ro_page[0] = 'R'
x/s ro_page
echo @@ phys\n
monitor phys on
x/s $banner_p
x/4xb $(hex "$lo_p + 4092")
x/4xb $hi_p
x/s $alias_p
x/s $ro_p
try x/s $banner
try x/2xb $(hex "$ram_end - 1")
monitor phys
monitor phys off
x/s banner
echo @@ restore\n
set var alias_a[0] = 'k'
set var alias_a[1] = 'e'
set var ro_page[0] = 'k'
x/s alias_b
x/s ro_page
echo @@ huge\n
pv/x *(unsigned char *)&huge_2m[0x100000]
pv *(unsigned long *)&huge_2m[0x100000] == *(unsigned long *)0x100000
monitor mem
echo @@ written\n
set var counter = 77
pv counter
delete
continue
echo @@ end\n
monitor phys on
x/wx 0x400
monitor phys off
x/wx &huge_2m[0x400]
pv counter
EOF2
vmm_end 5

want banner_higher_half banner "$banner <banner>:	\"kernel64: hello from the higher half\\n\""
want_seq walk_banner banner 'PML4[511] @0x110ff8 = 0x000000000010d023 P RW A' \
	"-> $banner = phys $banner_p (4K page, RW, supervisor, X)"
want split_va_across_pages split "$(hex "$(sym split_va) + 4092"):	0xa1	0xa1	0xa1	0xa1	0xb2	0xb2	0xb2	0xb2" \
	"$(hex "$(sym split_va) + 4095"):	0xa1	0xb2" '*(unsigned long *)(split_va + 4092) = 0xb2b2b2b2a1a1a1a1'
want walk_split_va split "-> $(sym split_va) = phys $lo_p (4K page, RW, supervisor, X)" \
	"-> $(hex "$(sym split_va) + 4096") = phys $hi_p (4K page, RW, supervisor, X)"
want_seq alias_write_seen_through_other_name alias "$(sym alias_b):	\"kernel64 alias page\"" \
	"$(sym alias_b):	\"Kernel64 alias page\"" "$(sym alias_a) <alias_a>:	\"KErnel64 alias page\""
want unmapped_read_refused unmapped "$sg <stack_guard>:	error: Cannot access memory at address $sg" \
	"0xffffffff80101000:	error: Cannot access memory at address 0xffffffff80101000"
want unmapped_partial_read unmapped "$(hex "$sg - 1") <pml4+4095>:	0x00	error: Cannot access memory at address $sg"
want unmapped_write_refused unmapped "error: Cannot access memory at address $sg"
want walk_unmapped unmapped "-> $sg: fault: not present at PT level"
want readonly_page_written_from_gdb ro "-> $ro = phys $ro_p (4K page, RO, supervisor, X)" \
	"$ro <ro_page>:	\"Rernel64 read-only page\""
want_seq phys_reads phys 'addresses are guest-physical' "$banner_p:	\"kernel64: hello from the higher half\\n\"" \
	"$(hex "$lo_p + 4092"):	0xa1	0xa1	0xa1	0xa1" "$hi_p:	0xb2	0xb2	0xb2	0xb2" \
	"$alias_p:	\"KErnel64 alias page\"" "$ro_p:	\"Rernel64 read-only page\""
want phys_bounds phys "$banner <banner>:	<error: Cannot access memory at address $banner>" \
	"$(hex "$ram_end - 1"):	0x00	error: Cannot access memory at address $(hex "$ram_end")"
want_seq phys_off_again phys 'addresses are guest-physical' 'addresses are guest-virtual' \
	"$banner <banner>:	\"kernel64: hello from the higher half\\n\""
want restore_writes restore "$(sym alias_b):	\"kernel64 alias page\"" "$ro <ro_page>:	\"kernel64 read-only page\""
want huge_2m_page huge '*(unsigned char *)&huge_2m[0x100000] = 0xfa' \
	'*(unsigned long *)&huge_2m[0x100000] == *(unsigned long *)0x100000 = 1'
want monitor_mem huge 'guest RAM: 0x0-0x3ffffff (64 MiB), 1 vCPU(s)' 'slot 0: 0x0-0x3ffffff read-write'
want_seq guest_sees_gdb_write written 'counter = 77' 'vmm: the guest halted (HLT); memory stays readable, continuing ends it'
grep -qx 'kernel64: count 87' "$VOUT" && ok guest_counts_from_gdb_value ||
	fail guest_counts_from_gdb_value "vmm stdout lacks 'kernel64: count 87': $(tr '\n' '|' <"$VOUT")"
want memory_after_halt end '0x400:	0x0000002a' '0xffffffff80200400:	0x0000002a' 'counter = 87'
grep -qx 'kernel64: mappings ok' "$VOUT" && grep -qx 'kernel64: done' "$VOUT" && [ "$VMM_RC" = 0 ] &&
	ok guest_ends_normally || fail guest_ends_normally "status $VMM_RC, stdout $(tr '\n' '|' <"$VOUT")"
