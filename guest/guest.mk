# Guest programs: built by the top-level Makefile, outputs in build/guest.
#
# Freestanding, never sanitized, each one an ELF with full debug info
# (build/guest/NAME.elf) and the flat image objcopy makes of it
# (build/guest/NAME.bin).  guest/README.md says how to run each one.
# The runtime (rt.c, pt.c) is one small library built for -m32 and -m64.

GUEST_OUT     := build/guest
GUEST_OBJCOPY ?= objcopy
GUEST_CFLAGS  := -std=gnu11 -Wall -Wextra -Werror -g -Og -ffreestanding -nostdlib \
		 -fno-pic -fno-pie -fno-stack-protector -fno-omit-frame-pointer \
		 -fno-asynchronous-unwind-tables -fcf-protection=none -fno-builtin \
		 -mgeneral-regs-only -Iguest
GUEST_CFLAGS_32 := $(GUEST_CFLAGS) -m32 -march=i686
GUEST_CFLAGS_64 := $(GUEST_CFLAGS) -m64 -mno-red-zone -mcmodel=kernel
GUEST_LDFLAGS := -nostdlib -static -z max-page-size=0x1000 \
		 -z noexecstack --no-warn-rwx-segments --build-id=none
GUEST_LD_32   := $(LD) -m elf_i386 $(GUEST_LDFLAGS)
GUEST_LD_64   := $(LD) -m elf_x86_64 $(GUEST_LDFLAGS)
GUEST_DEPS    := $(wildcard guest/*.h guest/*.inc) guest/guest.mk

GUEST_NAMES := hello16 seg16 msr64 hello32 hellopg hello64 kernel64 boot16to64 paged32 loop64 smp64 mboot32 mbootaf32 mbexit32 pckernel
GUEST_BINS  := $(foreach g,$(GUEST_NAMES),$(GUEST_OUT)/$(g).elf $(GUEST_OUT)/$(g).bin)

# Objects: NAME.o32 / NAME.o64 from guest/NAME.c or guest/NAME.S.
$(GUEST_OUT)/%.o32: guest/%.c $(GUEST_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS_32) -c -o $@ $<
$(GUEST_OUT)/%.o32: guest/%.S $(GUEST_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS_32) -c -o $@ $<
$(GUEST_OUT)/%.o64: guest/%.c $(GUEST_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS_64) -c -o $@ $<
$(GUEST_OUT)/%.o64: guest/%.S $(GUEST_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS_64) -c -o $@ $<

$(GUEST_OUT)/librt32.a: $(GUEST_OUT)/rt.o32 $(GUEST_OUT)/pt.o32
	rm -f $@ && $(AR) rcs $@ $^
$(GUEST_OUT)/librt64.a: $(GUEST_OUT)/rt.o64 $(GUEST_OUT)/pt.o64
	rm -f $@ && $(AR) rcs $@ $^

# link_flat LD, LOAD-ADDRESS: link the .o32/.o64/.a prerequisites with flat.ld.
guest_link_flat = $(1) -T guest/flat.ld --defsym=__load=$(2) -o $@ $(filter %.o32 %.o64 %.a,$^)

$(GUEST_OUT)/hello16.elf: $(GUEST_OUT)/hello16.o32 guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_32),0)
# seg16: real mode at 07C0:0000 with a far segment (seg16.ld: linear addresses).
$(GUEST_OUT)/seg16.elf: $(GUEST_OUT)/seg16.o32 guest/seg16.ld
	$(GUEST_LD_32) -T guest/seg16.ld -o $@ $(GUEST_OUT)/seg16.o32
# msr64: long mode at 1 MiB (the vmm's identity map reaches it).
$(GUEST_OUT)/msr64.elf: $(GUEST_OUT)/msr64.o64 $(GUEST_OUT)/librt64.a guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_64),0x100000)
$(GUEST_OUT)/hello32.elf: $(GUEST_OUT)/hello.o32 $(GUEST_OUT)/librt32.a guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_32),0)
$(GUEST_OUT)/hellopg.elf: $(GUEST_OUT)/hellopg.o32 $(GUEST_OUT)/librt32.a guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_32),0)
$(GUEST_OUT)/hello64.elf: $(GUEST_OUT)/hello.o64 $(GUEST_OUT)/librt64.a guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_64),0)

$(GUEST_OUT)/%.bin: $(GUEST_OUT)/%.elf
	$(GUEST_OBJCOPY) -O binary $< $@
$(GUEST_OUT)/loop64.elf: $(GUEST_OUT)/loop64.o64 $(GUEST_OUT)/librt64.a guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_64),0)
$(GUEST_OUT)/boot16to64.elf: $(GUEST_OUT)/boot16to64.o64 guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_64),0x8000)
$(GUEST_OUT)/paged32.elf: $(GUEST_OUT)/paged32.o32 $(GUEST_OUT)/librt32.a guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_32),0x100000)
# mboot32: a Multiboot kernel at 1 MiB, loaded by its ELF program headers;
# mbootaf32: the same by its header's address fields (use the .bin).
$(GUEST_OUT)/mboot32.elf: $(GUEST_OUT)/mboot.o32 $(GUEST_OUT)/mbkernel.o32 guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_32),0x100000)
$(GUEST_OUT)/mbootaf32.elf: $(GUEST_OUT)/mbootaf.o32 $(GUEST_OUT)/mbkernel.o32 guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_32),0x100000)
# mbexit32: a Multiboot kernel whose first instruction exits (make bench).
$(GUEST_OUT)/mbexit32.elf: $(GUEST_OUT)/mbexit.o32 guest/flat.ld
	$(call guest_link_flat,$(GUEST_LD_32),0x100000)
# smp64: the image at 0 (below 0x1000), its shared pages as .bss at 1 MiB.
$(GUEST_OUT)/smp64.elf: $(GUEST_OUT)/smp64.o64 $(GUEST_OUT)/librt64.a guest/smp64.ld
	$(GUEST_LD_64) -T guest/smp64.ld -o $@ $(filter %.o64 %.a,$^)

# kernel64: .boot at 1 MiB, the rest in the higher half (kernel64.ld.S).
$(GUEST_OUT)/kernel64.ld: guest/kernel64.ld.S guest/kernel64.h
	@mkdir -p $(dir $@)
	$(CC) -E -P -undef -x assembler-with-cpp -Iguest -o $@ $<
$(GUEST_OUT)/kernel64.elf: $(GUEST_OUT)/kernel64_boot.o64 $(GUEST_OUT)/kernel64.o64 \
			   $(GUEST_OUT)/librt64.a $(GUEST_OUT)/kernel64.ld
	$(GUEST_LD_64) -T $(GUEST_OUT)/kernel64.ld -o $@ $(filter %.o64 %.a,$^)

# pckernel: a PC kernel at 1 MiB, identity-mapped below 4 GiB (no higher
# half, so the small code model, not GUEST_CFLAGS_64's kernel one).
PCKERNEL_CFLAGS := $(filter-out -mcmodel=kernel,$(GUEST_CFLAGS_64)) -mcmodel=small
$(GUEST_OUT)/pckernel.o64 $(GUEST_OUT)/pckernel_boot.o64: GUEST_CFLAGS_64 := $(PCKERNEL_CFLAGS)
$(GUEST_OUT)/pckernel.elf: $(GUEST_OUT)/pckernel_boot.o64 $(GUEST_OUT)/pckernel.o64 guest/pckernel.ld
	$(GUEST_LD_64) -T guest/pckernel.ld -o $@ $(filter %.o64,$^)
