/* The processor state kernels are entered with: 32-bit flat protected mode
 * (multiboot), or 64-bit long mode on identity-mapped page tables (ELF64,
 * flat binaries, Linux's 64-bit boot protocol). */
#include <string.h>

#include "../kvm.h"
#include "loader.h"

/* GDT: null, unused, code at 0x10, data at 0x18 (the selectors Linux's boot
 * protocol names __BOOT_CS and __BOOT_DS). */
static int write_gdt(struct kvm_machine *m, bool long_mode)
{
    uint64_t gdt[4] = {0, 0, long_mode ? 0x00af9b000000ffffull : 0x00cf9b000000ffffull,
                       0x00cf93000000ffffull};
    return kvm_loader_put(m, "boot GDT", BOOT_GDT, gdt, sizeof(gdt), "the boot GDT");
}

static void flat(struct vcpu_segment *s, uint16_t sel, uint8_t type, bool l)
{
    *s = (struct vcpu_segment){.base = 0,
                               .limit = 0xffffffff,
                               .selector = sel,
                               .type = type,
                               .present = 1,
                               .dpl = 0,
                               .db = l ? 0 : 1,
                               .s = 1,
                               .l = l,
                               .g = 1};
}

static int enter(struct kvm_vcpu *v, bool long_mode, uint64_t entry, uint64_t cr3)
{
    struct vcpu_sregs s;
    if (kvm_vcpu_get_sregs(v, &s) < 0)
        return -1;
    flat(&s.cs, 0x10, 0xb, long_mode);
    flat(&s.ds, 0x18, 0x3, false);
    s.es = s.fs = s.gs = s.ss = s.ds;
    s.tr = (struct vcpu_segment){.limit = 0xfff, .type = 0xb, .present = 1};
    s.ldt = (struct vcpu_segment){.type = 2, .present = 1, .unusable = 1};
    s.gdt = (struct vcpu_dtable){BOOT_GDT, 31};
    s.idt = (struct vcpu_dtable){0, 0};
    s.cr2 = 0;
    s.cr8 = 0;
    if (long_mode) {
        s.cr0 = 0x80000011; /* PG, ET, PE */
        s.cr3 = cr3;
        s.cr4 = 0x20;   /* PAE */
        s.efer = 0x500; /* LMA, LME */
    } else {
        s.cr0 = 0x11;
        s.cr3 = s.cr4 = 0;
        s.efer = 0;
    }
    if (kvm_vcpu_set_sregs(v, &s) < 0)
        return -1;
    struct vcpu_regs r = {.rip = entry, .rflags = 2};
    return kvm_vcpu_set_regs(v, &r);
}

int kvm_boot_protected32(struct kvm_vcpu *v, uint32_t entry, uint32_t eax, uint32_t ebx)
{
    if (write_gdt(v->m, false) < 0 || enter(v, false, entry, 0) < 0)
        return -1;
    struct vcpu_regs r = {.rip = entry, .rflags = 2, .rax = eax, .rbx = ebx};
    return kvm_vcpu_set_regs(v, &r);
}

int kvm_boot_long64(struct kvm_vcpu *v, uint64_t entry, uint64_t rsi)
{
    struct kvm_machine *m = v->m;
    /* The first 4 GiB identity-mapped with 2 MiB pages: PML4 -> one PDPT
     * -> four page directories. */
    uint64_t pml4[512] = {0}, pdpt[512] = {0};
    pml4[0] = (BOOT_PML4 + 0x1000) | 3;
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (BOOT_PML4 + 0x2000 + i * 0x1000) | 3;
    if (kvm_loader_put(m, "page tables", BOOT_PML4, pml4, sizeof(pml4), "the PML4") < 0 ||
        kvm_loader_put(m, "page tables", BOOT_PML4 + 0x1000, pdpt, sizeof(pdpt), "the PDPT") < 0)
        return -1;
    for (uint64_t d = 0; d < 4; d++) {
        uint64_t pd[512];
        for (uint64_t i = 0; i < 512; i++)
            pd[i] = ((d << 30) + (i << 21)) | 0x83; /* present, writable, 2 MiB */
        if (kvm_loader_put(m, "page tables", BOOT_PML4 + 0x2000 + d * 0x1000, pd, sizeof(pd),
                           "a page directory") < 0)
            return -1;
    }
    if (write_gdt(m, true) < 0 || enter(v, true, entry, BOOT_PML4) < 0)
        return -1;
    struct vcpu_regs r = {.rip = entry, .rflags = 2, .rsi = rsi, .rsp = BOOT_STACK};
    return kvm_vcpu_set_regs(v, &r);
}
