/* The ACPI tables, built at every power-on in the BIOS area (0xe0000, which
 * the e820 map reserves and where guests look for the RSDP):
 *   RSDP -> RSDT and XSDT -> FADT (-> FACS, DSDT) and MADT.
 * The FADT describes the PM registers of pm.c and the fixed power button;
 * the MADT lists every vCPU's LAPIC, the IOAPIC and QEMU's interrupt
 * overrides; the DSDT holds only the _S5_ sleep type. */
#include <string.h>

#include <glib.h>

#include "../../../lib/util/error.h"
#include "../devices/acpi/acpi.h"
#include "firmware.h"

#define RSDP_AT FW_ACPI_TABLES
#define RSDT_AT (FW_ACPI_TABLES + 0x40)
#define XSDT_AT (FW_ACPI_TABLES + 0x80)
#define FACS_AT (FW_ACPI_TABLES + 0x100) /* 64-byte aligned */
#define FADT_AT (FW_ACPI_TABLES + 0x200)
#define DSDT_AT (FW_ACPI_TABLES + 0x300)
#define MADT_AT (FW_ACPI_TABLES + 0x400)
#define MADT_MAX (0x10000 - 0x400)

static void put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return (uint8_t)-s;
}

/* The common 36-byte header; the checksum is filled in by seal(). */
static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put(t + 4, len, 4);
    t[8] = rev;
    memcpy(t + 10, "QV    ", 6);
    memcpy(t + 16, "QVKVMEMB", 8);
    put(t + 24, 1, 4);
    memcpy(t + 28, "QV  ", 4);
    put(t + 32, 1, 4);
}

static void seal(uint8_t *t, uint32_t len)
{
    t[9] = 0;
    t[9] = checksum(t, len);
}

static int store(const struct kvm_fw_machine *fm, uint64_t gpa, const uint8_t *t, size_t len,
                 const char *what)
{
    return kvm_fw_put(fm, "ACPI tables", gpa, t, len, what);
}

int kvm_fw_acpi_write(const struct kvm_fw_machine *fm)
{
    /* DSDT: Name (_S5_, Package (4) { 5, 5, 0, 0 }) */
    static const uint8_t aml[] = {
        0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, ACPI_S5_SLP_TYP, 0x0a, ACPI_S5_SLP_TYP,
        0x00, 0x00};
    uint8_t dsdt[36 + sizeof(aml)] = {0};
    header(dsdt, "DSDT", sizeof(dsdt), 2);
    memcpy(dsdt + 36, aml, sizeof(aml));
    seal(dsdt, sizeof(dsdt));

    uint8_t facs[64] = {'F', 'A', 'C', 'S'};
    put(facs + 4, 64, 4);

    /* FADT revision 1 layout (116 bytes), as QEMU's pc gives it. */
    uint8_t fadt[116] = {0};
    header(fadt, "FACP", sizeof(fadt), 1);
    put(fadt + 36, FACS_AT, 4);
    put(fadt + 40, DSDT_AT, 4);
    put(fadt + 46, fm->sci_irq, 2);
    /* SMI_CMD (48) stays 0: no ACPI mode switch, SCI_EN is set already. */
    put(fadt + 56, fm->acpi_pm_base, 4);     /* PM1a_EVT_BLK */
    put(fadt + 64, fm->acpi_pm_base + 4, 4); /* PM1a_CNT_BLK */
    put(fadt + 76, fm->acpi_pm_base + 8, 4); /* PM_TMR_BLK */
    fadt[88] = 4;                            /* PM1_EVT_LEN */
    fadt[89] = 2;                            /* PM1_CNT_LEN */
    fadt[91] = 4;                            /* PM_TMR_LEN */
    put(fadt + 96, 0xfff, 2);                /* no C2 */
    put(fadt + 98, 0xfff, 2);                /* no C3 */
    fadt[108] = 0x32;                        /* CMOS century */
    put(fadt + 109, 0x3, 2);                 /* IAPC_BOOT_ARCH: legacy devices, 8042 */
    /* WBINVD, C1 on all CPUs, sleep button as control method (none),
     * 32-bit PM timer. PWR_BUTTON clear: the fixed power button. */
    put(fadt + 112, 0x1 | 0x4 | 0x20 | 0x100, 4);
    seal(fadt, sizeof(fadt));

    uint32_t n = fm->ncpus;
    size_t madt_len = 44 + 8 * (size_t)n + 12 + 10 * 2 + 6;
    if (madt_len > MADT_MAX)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': too many vCPUs for the MADT",
                            fm->host->vm_name);
    g_autofree uint8_t *madt = g_malloc0(madt_len);
    header(madt, "APIC", (uint32_t)madt_len, 1);
    put(madt + 36, FW_LAPIC_BASE, 4);
    put(madt + 40, 1, 4); /* PCAT_COMPAT: there are 8259s too */
    uint8_t *e = madt + 44;
    uint32_t max_apic = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t apic = fm->apic_ids[i];
        if (apic > 254)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': APIC ID %u needs x2APIC entries, which the MADT "
                                "here does not give",
                                fm->host->vm_name, apic);
        max_apic = MAX(max_apic, apic);
        e[0] = 0; /* processor local APIC */
        e[1] = 8;
        e[2] = (uint8_t)i;
        e[3] = (uint8_t)apic;
        put(e + 4, 1, 4); /* enabled */
        e += 8;
    }
    e[0] = 1; /* IOAPIC */
    e[1] = 12;
    e[2] = (uint8_t)(max_apic + 1);
    put(e + 4, FW_IOAPIC_BASE, 4);
    put(e + 8, 0, 4);
    e += 12;
    /* ISA IRQ 0 arrives on GSI 2; the SCI is level-triggered, active high. */
    e[0] = 2;
    e[1] = 10;
    e[3] = 0;
    put(e + 4, 2, 4);
    put(e + 8, 0, 2);
    e += 10;
    e[0] = 2;
    e[1] = 10;
    e[3] = (uint8_t)fm->sci_irq;
    put(e + 4, fm->sci_irq, 4);
    put(e + 8, 0xd, 2);
    e += 10;
    e[0] = 4; /* LAPIC NMI on LINT1 of every processor */
    e[1] = 6;
    e[2] = 0xff;
    put(e + 3, 0, 2);
    e[5] = 1;
    seal(madt, (uint32_t)madt_len);

    uint8_t rsdt[36 + 8] = {0};
    header(rsdt, "RSDT", sizeof(rsdt), 1);
    put(rsdt + 36, FADT_AT, 4);
    put(rsdt + 40, MADT_AT, 4);
    seal(rsdt, sizeof(rsdt));
    uint8_t xsdt[36 + 16] = {0};
    header(xsdt, "XSDT", sizeof(xsdt), 1);
    put(xsdt + 36, FADT_AT, 8);
    put(xsdt + 44, MADT_AT, 8);
    seal(xsdt, sizeof(xsdt));

    uint8_t rsdp[36] = {'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '};
    memcpy(rsdp + 9, "QV    ", 6);
    rsdp[15] = 2; /* ACPI 2.0+: has the XSDT */
    put(rsdp + 16, RSDT_AT, 4);
    put(rsdp + 20, sizeof(rsdp), 4);
    put(rsdp + 24, XSDT_AT, 8);
    rsdp[8] = checksum(rsdp, 20);
    rsdp[32] = checksum(rsdp, 36);

    if (store(fm, RSDP_AT, rsdp, sizeof(rsdp), "the RSDP") < 0 ||
        store(fm, RSDT_AT, rsdt, sizeof(rsdt), "the RSDT") < 0 ||
        store(fm, XSDT_AT, xsdt, sizeof(xsdt), "the XSDT") < 0 ||
        store(fm, FACS_AT, facs, sizeof(facs), "the FACS") < 0 ||
        store(fm, FADT_AT, fadt, sizeof(fadt), "the FADT") < 0 ||
        store(fm, DSDT_AT, dsdt, sizeof(dsdt), "the DSDT") < 0 ||
        store(fm, MADT_AT, madt, madt_len, "the MADT") < 0)
        return qv_error_code();
    return 0;
}
