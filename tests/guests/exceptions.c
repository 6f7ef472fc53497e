/* IDT handlers that report what they saw: exceptions raised by the guest
 * itself (#DE, #UD, #GP with an error code) and hardware
 * interrupts through the PIC: the PIT timer and the UART's THR-empty
 * interrupt on IRQ 4. No INT n or INT3: under PVM, 32-bit code runs in
 * KVM's instruction emulator, which delivers software interrupts only in
 * real mode; and no #PF, as it cannot turn on paging in 32-bit mode (the
 * register-level test injects #PF and checks CR2 instead). */
#include "guest.h"

struct frame {
    uint32_t vector, error, eip, cs, eflags;
};

static uint64_t gdt[3] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
static uint64_t idt[256];
static volatile uint32_t resume_eip;
static volatile uint32_t irq_seen[16];

extern char isr_table[];
void isr_common(void);

/* Stubs: vectors with an error code skip the dummy push. Each is 16 bytes
 * so the table is easy to index. */
__asm__(".text\n"
        ".align 16\n"
        "isr_table:\n"
        ".set v, 0\n"
        ".rept 256\n"
        ".align 16\n"
        ".if (v == 8) || (v >= 10 && v <= 14) || (v == 17)\n"
        "  pushl $v\n"
        ".else\n"
        "  pushl $0\n"
        "  pushl $v\n"
        ".endif\n"
        "  jmp isr_common\n"
        ".set v, v + 1\n"
        ".endr\n"
        "isr_common:\n"
        "  pusha\n"
        "  lea 32(%esp), %eax\n"
        "  push %eax\n"
        "  call isr_c\n"
        "  add $4, %esp\n"
        "  popa\n"
        "  add $8, %esp\n"
        /* Return without IRET, which KVM's instruction emulator (all that
         * runs 32-bit code under PVM) cannot do outside real mode: turn
         * [eip][cs][eflags] into [eflags][eip][.] and POPF; RET 4. */
        "  push %eax\n"
        "  mov 4(%esp), %eax\n"
        "  xchg %eax, 8(%esp)\n"
        "  mov 12(%esp), %eax\n"
        "  mov %eax, 4(%esp)\n"
        "  pop %eax\n"
        "  popfl\n"
        "  ret $4\n");

static void pic_eoi(uint32_t irq)
{
    if (irq >= 8)
        outb(0xa0, 0x20);
    outb(0x20, 0x20);
}

void isr_c(struct frame *f);
void isr_c(struct frame *f)
{
    if (f->vector >= 0x20 && f->vector < 0x30) {
        uint32_t irq = f->vector - 0x20;
        irq_seen[irq]++;
        if (irq == 4)
            inb(0x3fa); /* reading IIR acknowledges THR empty */
        if (irq == 0)
            outb(0x21, inb(0x21) | 1); /* once is enough */
        pic_eoi(irq);
        return;
    }
    uint32_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    puts_serial("vector ");
    put_dec(f->vector);
    puts_serial(" error ");
    put_hex(f->error);
    if (f->vector == 14) {
        puts_serial(" cr2 ");
        put_hex(cr2);
    }
    putc_serial('\n');
    if (resume_eip)
        f->eip = resume_eip;
    resume_eip = 0;
}

static void set_gate(int v, uint32_t handler)
{
    idt[v] = (handler & 0xffff) | (uint64_t)0x08 << 16 | (uint64_t)0x8e00 << 32 |
             (uint64_t)(handler >> 16) << 48;
}

static void load_tables(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint32_t base;
    } g = {sizeof(gdt) - 1, (uint32_t)gdt}, i = {sizeof(idt) - 1, (uint32_t)idt};
    __asm__ volatile("lgdt %0\n"
                     "ljmp $0x08, $1f\n"
                     "1: mov $0x10, %%ax\n"
                     "mov %%ax, %%ds; mov %%ax, %%es; mov %%ax, %%ss\n"
                     "mov %%ax, %%fs; mov %%ax, %%gs\n"
                     "lidt %1"
                     :
                     : "m"(g), "m"(i)
                     : "eax", "memory");
}

static void pic_init(void)
{
    outb(0x20, 0x11);
    outb(0xa0, 0x11); /* ICW1: edge, cascade, ICW4 */
    outb(0x21, 0x20);
    outb(0xa1, 0x28); /* vectors 0x20 and 0x28 */
    outb(0x21, 0x04);
    outb(0xa1, 0x02);
    outb(0x21, 0x01);
    outb(0xa1, 0x01);
    outb(0x21, 0xff);
    outb(0xa1, 0xff); /* all masked */
}

static void wait_irq(uint32_t irq)
{
    /* A C loop, so TCG (which takes interrupts only between translated
     * blocks) gets its chance too. */
    __asm__ volatile("sti");
    for (uint32_t spins = 0; !irq_seen[irq] && spins < 50000000u; spins++)
        __asm__ volatile("pause");
    __asm__ volatile("cli");
    puts_serial("irq ");
    put_dec(irq);
    puts_serial(irq_seen[irq] ? " delivered\n" : " never came\n");
}

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    load_tables();
    for (int v = 0; v < 256; v++)
        set_gate(v, (uint32_t)isr_table + 16 * v);

    __asm__ volatile("movl $1f, resume_eip\n"
                     "xor %%edx, %%edx\n xor %%eax, %%eax\n xor %%ecx, %%ecx\n"
                     "divl %%ecx\n"
                     "1:" ::
                         : "eax", "ecx", "edx", "memory");
    __asm__ volatile("movl $1f, resume_eip\n ud2\n 1:" ::: "memory");
    /* Selector 0x28 lies beyond the 3-entry GDT: #GP with error code 0x28. */
    __asm__ volatile("movl $1f, resume_eip\n mov $0x28, %%ax\n mov %%ax, %%fs\n 1:" ::
                         : "eax", "memory");
    pic_init();
    /* PIT channel 0, mode 2, a short period; unmask IRQ 0. */
    outb(0x43, 0x34);
    outb(0x40, 0x00);
    outb(0x40, 0x10);
    outb(0x21, 0xfe);
    wait_irq(0);
    /* UART: enable the THR-empty interrupt and unmask IRQ 4. */
    outb(0x3fc, 0x0b); /* DTR, RTS, OUT2 */
    outb(0x21, 0xef);
    outb(0x3f9, 0x02);
    wait_irq(4);
    outb(0x3f9, 0x00);
    outb(0x21, 0xff);
    puts_serial("exceptions: done\n");
    return 3;
}
