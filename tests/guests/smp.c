/* Every vCPU checks in: the BSP starts the APs with INIT-SIPI-SIPI through
 * its local APIC, each AP records its APIC ID, and the BSP reports them in
 * order (so the output does not depend on who ran first). */
#include "guest.h"

#define LAPIC 0xfee00000u
#define MAX_CPUS 64

extern char ap_start[], ap_end[];
uint8_t ap_stacks[MAX_CPUS * 4096] __attribute__((aligned(4096)));
volatile uint32_t ap_counter;
static volatile uint32_t seen[MAX_CPUS];
static volatile uint32_t arrived;

static volatile uint32_t *lapic(uint32_t reg)
{
    return (volatile uint32_t *)(LAPIC + reg);
}

void ap_main(void);
void ap_main(void)
{
    uint32_t id = *lapic(0x20) >> 24;
    if (id < MAX_CPUS)
        seen[id] = 1;
    __atomic_add_fetch(&arrived, 1, __ATOMIC_SEQ_CST);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void delay(uint32_t n)
{
    for (volatile uint32_t i = 0; i < n; i++)
        __asm__ volatile("pause");
}

static void send_ipi(uint32_t icr)
{
    *lapic(0x310) = 0;
    *lapic(0x300) = icr;
    for (uint32_t i = 0; i < 1000000 && (*lapic(0x300) & (1u << 12)); i++)
        __asm__ volatile("pause");
}

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    outb(0x70, 0x5f);
    uint32_t ncpus = inb(0x71) + 1u;
    uint8_t *dst = (uint8_t *)0x8000;
    for (char *p = ap_start; p < ap_end; p++)
        *dst++ = (uint8_t)*p;
    *lapic(0xf0) = 0x1ff; /* software-enable the local APIC */
    uint32_t self = *lapic(0x20) >> 24;
    seen[self] = 1;
    send_ipi(0x000c4500); /* INIT to all but self */
    delay(100000);
    send_ipi(0x000c4608); /* SIPI, vector 0x08: start at 0x8000 */
    delay(10000);
    if (arrived < ncpus - 1)
        send_ipi(0x000c4608);
    for (uint32_t spins = 0; arrived < ncpus - 1 && spins < 200000000u; spins++)
        __asm__ volatile("pause");
    puts_serial("smp: ");
    put_dec(ncpus);
    puts_serial(" cpus expected\n");
    uint32_t n = 0;
    for (uint32_t id = 0; id < MAX_CPUS; id++) {
        if (!seen[id])
            continue;
        puts_serial("cpu with APIC ID ");
        put_dec(id);
        puts_serial(" checked in\n");
        n++;
    }
    puts_serial(n == ncpus ? "smp: all checked in\n" : "smp: some are missing\n");
    return n == ncpus ? 4 : 5;
}
