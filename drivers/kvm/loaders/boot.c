/* What kernels are entered on: a GDT, and for long mode identity-mapped
 * page tables and a stack. Written into guest RAM here; loader.c puts the
 * boot vCPU into ld->entry's state. */
#include "image.h"

/* GDT: null, unused, code at 0x10, data at 0x18 (the selectors Linux's boot
 * protocol names __BOOT_CS and __BOOT_DS). */
static int write_gdt(struct kvm_ld *ld, bool long_mode)
{
    uint64_t gdt[BOOT_GDT_SIZE / 8] = {
        0, 0, long_mode ? 0x00af9b000000ffffull : 0x00cf9b000000ffffull, 0x00cf93000000ffffull};
    return kvm_ld_write(ld, BOOT_GDT, gdt, sizeof(gdt));
}

/* QEMU's multiboot option ROM's GDT, as a kernel finds it: null, 32-bit
 * code at 0x08 and data at 0x10 (marked accessed by the load), 16-bit code
 * and data at 0x18 and 0x20. */
static const uint64_t mb_gdt[BOOT_MB_GDT_SIZE / 8] = {
    0, 0x00cf9a000000ffffull, 0x00cf93000000ffffull, 0x00009e000000ffffull,
    0x000092000000ffffull};

int kvm_ld_reserve(struct kvm_ld *ld, bool long_mode)
{
    if (kvm_ld_claim(ld, ld->kernel, BOOT_GDT, BOOT_MB_GDT_SIZE, "the boot GDT") < 0)
        return -1;
    if (!long_mode)
        return 0;
    if (kvm_ld_claim(ld, ld->kernel, BOOT_PML4, BOOT_PT_END - BOOT_PML4, "the boot page tables") <
            0 ||
        kvm_ld_claim(ld, ld->kernel, BOOT_STACK - BOOT_STACK_SIZE, BOOT_STACK_SIZE,
                     "the boot stack") < 0)
        return -1;
    return 0;
}

int kvm_ld_boot_multiboot(struct kvm_ld *ld, uint32_t entry, uint32_t eax, uint32_t ebx)
{
    if (kvm_ld_write(ld, BOOT_GDT, mb_gdt, sizeof(mb_gdt)) < 0)
        return -1;
    /* What QEMU 7.2's multiboot option ROM leaves besides EAX and EBX
     * (measured with tests/guests/mbstate): it jumps to the entry through
     * ECX, its own stack is at 0x6f08, the real-mode IDT's limit stays,
     * and EDI and EFLAGS hold what its last instructions left. Its EDX
     * depends on the RAM size (0x511 with 64 MiB, 0x30511 with 256 MiB),
     * a remainder of its memory-map loop; ours is 0. */
    ld->entry = (struct kvm_ld_entry){.cs = 0x08,
                                      .ds = 0x10,
                                      .gdt_limit = BOOT_MB_GDT_SIZE - 1,
                                      .idt_limit = 0x3ff,
                                      .rip = entry,
                                      .rsp = BOOT_MB_STACK,
                                      .rax = eax,
                                      .rbx = ebx,
                                      .rcx = entry,
                                      .rdi = 0x1000,
                                      .rflags = 0x6};
    return 0;
}

int kvm_ld_boot_long64(struct kvm_ld *ld, uint64_t entry, uint64_t rsi)
{
    /* The first 4 GiB identity-mapped with 2 MiB pages: PML4 -> one PDPT
     * -> four page directories. */
    uint64_t pml4[512] = {0}, pdpt[512] = {0};
    pml4[0] = (BOOT_PML4 + 0x1000) | 3;
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (BOOT_PML4 + 0x2000 + i * 0x1000) | 3;
    if (kvm_ld_write(ld, BOOT_PML4, pml4, sizeof(pml4)) < 0 ||
        kvm_ld_write(ld, BOOT_PML4 + 0x1000, pdpt, sizeof(pdpt)) < 0)
        return -1;
    for (uint64_t d = 0; d < 4; d++) {
        uint64_t pd[512];
        for (uint64_t i = 0; i < 512; i++)
            pd[i] = ((d << 30) + (i << 21)) | 0x83; /* present, writable, 2 MiB */
        if (kvm_ld_write(ld, BOOT_PML4 + 0x2000 + d * 0x1000, pd, sizeof(pd)) < 0)
            return -1;
    }
    if (write_gdt(ld, true) < 0)
        return -1;
    ld->entry = (struct kvm_ld_entry){.long_mode = true,
                                      .cs = 0x10,
                                      .ds = 0x18,
                                      .gdt_limit = BOOT_GDT_SIZE - 1,
                                      .rip = entry,
                                      .rsi = rsi,
                                      .rsp = BOOT_STACK,
                                      .rflags = 2};
    return 0;
}
