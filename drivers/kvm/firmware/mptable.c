/* The Intel MultiProcessor Specification 1.4 table, so guests that look
 * for CPUs and interrupt routing there (Linux without ACPI) find every
 * vCPU's LAPIC, the ISA bus and the IOAPIC. It sits in the BIOS area at
 * 0xf0000, which the e820 map reserves and Linux scans. */
#include <glib.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "firmware.h"

#define MP_FLOATING 0xf0000ull
#define MP_CONFIG (MP_FLOATING + 16)

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return (uint8_t)-s;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

int kvm_fw_mptable_write(const struct kvm_fw_machine *fm)
{
    uint32_t n = fm->ncpus;
    size_t len = 44 + 20 * (size_t)n + 8 + 8 + 16 * 8 + 2 * 8;
    g_autofree uint8_t *t = g_malloc0(len);
    memcpy(t, "PCMP", 4);
    t[6] = 4; /* spec 1.4 */
    memcpy(t + 8, "QV      ", 8);
    memcpy(t + 16, "KVM EMBED   ", 12);
    put32(t + 36, FW_LAPIC_BASE);
    uint8_t *e = t + 44;
    uint16_t count = 0;
    uint32_t max_apic = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t apic = fm->apic_ids[i];
        if (apic > 254)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': APIC ID %u does not fit an MP table entry",
                                fm->host->vm_name, apic);
        max_apic = MAX(max_apic, apic);
        e[0] = 0; /* processor */
        e[1] = (uint8_t)apic;
        e[2] = 0x14;                            /* LAPIC version */
        e[3] = (uint8_t)(1 | (i == 0 ? 2 : 0)); /* enabled, BSP */
        put32(e + 4, 0x600);                    /* family 6 */
        put32(e + 8, 0x201);                    /* FPU, APIC */
        e += 20;
        count++;
    }
    e[0] = 1; /* bus 0: ISA */
    memcpy(e + 2, "ISA   ", 6);
    e += 8;
    count++;
    uint8_t ioapic_id = (uint8_t)(max_apic + 1);
    e[0] = 2; /* IOAPIC */
    e[1] = ioapic_id;
    e[2] = 0x11;
    e[3] = 1;
    put32(e + 4, FW_IOAPIC_BASE);
    e += 8;
    count++;
    for (uint8_t irq = 0; irq < 16; irq++) {
        if (irq == 2)
            continue; /* the cascade; IRQ 0 arrives on pin 2 instead */
        e[0] = 3;     /* I/O interrupt: INT, conforming polarity and trigger */
        e[4] = 0;     /* ISA bus */
        e[5] = irq;
        e[6] = ioapic_id;
        e[7] = irq == 0 ? 2 : irq;
        e += 8;
        count++;
    }
    e[0] = 4; /* local interrupts: ExtINT on LINT0, NMI on LINT1, all LAPICs */
    e[1] = 3;
    e[6] = 0xff;
    e[7] = 0;
    e += 8;
    e[0] = 4;
    e[1] = 1;
    e[6] = 0xff;
    e[7] = 1;
    e += 8;
    count += 2;
    len = (size_t)(e - t);
    put16(t + 4, (uint16_t)len);
    put16(t + 34, count);
    t[7] = checksum(t, len);

    uint8_t fp[16] = {'_', 'M', 'P', '_'};
    put32(fp + 4, (uint32_t)MP_CONFIG);
    fp[8] = 1; /* length in 16-byte units */
    fp[9] = 4;
    fp[10] = checksum(fp, 16);
    if (kvm_fw_put(fm, "MP table", MP_FLOATING, fp, 16, "the MP floating pointer") < 0 ||
        kvm_fw_put(fm, "MP table", MP_CONFIG, t, len, "the MP configuration table") < 0)
        return qv_error_code();
    return 0;
}
