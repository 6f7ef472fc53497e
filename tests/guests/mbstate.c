/* Prints the state a multiboot loader leaves (recorded by
 * mbstate_entry.asm before anything changed it) and what the multiboot
 * information holds, one "name value" line each, so that the same kernel
 * under `qemu -kernel` and under qv can be compared line by line
 * (tests/integration/kvm/test_vs_qemu.py). */
#include "guest.h"

struct entry_state {
    uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t eflags;
    uint32_t cs, ds, es, fs, gs, ss;
    uint32_t cr0, cr3, cr4;
    uint32_t efer_lo, efer_hi;
    uint16_t gdt_limit;
    uint32_t gdt_base;
    uint16_t pad0;
    uint16_t idt_limit;
    uint32_t idt_base;
    uint16_t pad1;
} __attribute__((packed));

static void line(const char *name, uint32_t v)
{
    puts_serial(name);
    putc_serial(' ');
    put_hex(v);
    putc_serial('\n');
}

/* The descriptor for selector sel in the GDT: access byte, flags and
 * limit, base; what the segment's hidden cache was loaded from. */
static void descriptor(const char *name, const struct entry_state *s, uint32_t sel)
{
    if ((sel & ~7u) + 7 > s->gdt_limit || !s->gdt_base) {
        puts_serial(name);
        puts_serial(" outside the GDT\n");
        return;
    }
    const volatile uint32_t *d = (const volatile uint32_t *)(uintptr_t)(s->gdt_base + (sel & ~7u));
    puts_serial(name);
    puts_serial(" descriptor ");
    put_hex(d[0]);
    putc_serial(' ');
    put_hex(d[1]);
    putc_serial('\n');
}

int mbstate_main(const struct entry_state *s)
{
    line("eax", s->eax);
    line("ebx", s->ebx);
    line("ecx", s->ecx);
    line("edx", s->edx);
    line("esi", s->esi);
    line("edi", s->edi);
    line("ebp", s->ebp);
    line("eflags", s->eflags);
    line("cs", s->cs);
    line("ds", s->ds);
    line("es", s->es);
    line("fs", s->fs);
    line("gs", s->gs);
    line("ss", s->ss);
    line("cr0", s->cr0);
    line("cr3", s->cr3);
    line("cr4", s->cr4);
    line("efer", s->efer_lo);
    line("idt-limit", s->idt_limit);
    line("idt-base", s->idt_base);
    for (uint32_t sel = 8; sel + 7 <= s->gdt_limit; sel += 8)
        descriptor(sel == s->cs ? "gdt-cs" : sel == s->ds ? "gdt-ds" : "gdt", s, sel);
    line("esp", s->esp);
    line("gdt-limit", s->gdt_limit);
    line("gdt-base", s->gdt_base);
    const volatile uint32_t *mbi = (const volatile uint32_t *)(uintptr_t)s->ebx;
    line("mbi-flags", mbi[0]);
    line("mbi-mem-lower", mbi[1]);
    line("mbi-mem-upper", mbi[2]);
    if (mbi[0] & (1u << 6)) {
        uint32_t len = mbi[11], addr = mbi[12], off = 0;
        for (unsigned n = 0; off < len && n < 16; n++) {
            const volatile uint32_t *e = (const volatile uint32_t *)(uintptr_t)(addr + off);
            puts_serial("mmap ");
            put_hex(e[2]);
            putc_serial(' ');
            put_hex(e[1]);
            putc_serial(' ');
            put_hex(e[4]);
            putc_serial(' ');
            put_hex(e[3]);
            putc_serial(' ');
            put_dec(e[5]);
            putc_serial('\n');
            off += e[0] + 4;
        }
    }
    return 0;
}
