/* ACPI fixed hardware, laid out as QEMU's PIIX4: the PM1a event block at
 * offset 0 (status, enable), PM1a control at 4 (SCI_EN, SLP_TYP, SLP_EN) and
 * the 3.579545 MHz PM timer at 8. Sleep type 5 with SLP_EN is S5: the VM
 * powers off with reason "shutdown", exit status 0. */
#include <glib.h>

#include "acpi.h"

enum {
    STS_TMR = 1 << 0,
    STS_PWRBTN = 1 << 8,
    STS_WAK = 1 << 15,
    CNT_SCI_EN = 1 << 0,
    CNT_SLP_EN = 1 << 13,
};

struct kvm_acpi_pm {
    const struct kvm_dev_host *host;
    uint32_t sci_irq;
    GMutex lock;
    uint16_t sts, en, cnt;
    int sci;
    gint64 t0;
};

/* Under pm->lock. */
static void update_sci(struct kvm_acpi_pm *pm)
{
    int level = (pm->cnt & CNT_SCI_EN) && (pm->sts & pm->en & (STS_PWRBTN | STS_TMR));
    if (level != pm->sci) {
        pm->sci = level;
        pm->host->set_irq(pm->host->opaque, pm->sci_irq, level);
    }
}

static uint32_t timer(struct kvm_acpi_pm *pm)
{
    gint64 us = g_get_monotonic_time() - pm->t0;
    return (uint32_t)((__int128)us * 3579545 / 1000000);
}

static uint8_t read_byte(struct kvm_acpi_pm *pm, uint64_t off, uint32_t tmr)
{
    switch (off) {
    case 0: return (uint8_t)pm->sts;
    case 1: return (uint8_t)(pm->sts >> 8);
    case 2: return (uint8_t)pm->en;
    case 3: return (uint8_t)(pm->en >> 8);
    case 4: return (uint8_t)pm->cnt;
    case 5: return (uint8_t)(pm->cnt >> 8);
    case 8:
    case 9:
    case 10:
    case 11: return (uint8_t)(tmr >> (8 * (off - 8)));
    default: return 0xff;
    }
}

void kvm_acpi_pm_io(void *dev, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    struct kvm_acpi_pm *pm = dev;
    bool poweroff = false;
    g_mutex_lock(&pm->lock);
    if (!is_write) {
        uint32_t tmr = timer(pm); /* one sample for a whole access */
        for (uint32_t i = 0; i < size; i++)
            data[i] = read_byte(pm, offset + i, tmr);
    } else {
        /* Registers are 16 bits wide; assemble what this access covers. */
        for (uint32_t i = 0; i < size; i++) {
            uint64_t off = offset + i;
            uint16_t b = data[i], shift = (uint16_t)((off & 1) * 8);
            if (off < 2)
                pm->sts &= (uint16_t) ~(b << shift); /* write 1 to clear */
            else if (off < 4)
                pm->en = (uint16_t)((pm->en & ~(0xff << shift)) | (b << shift));
            else if (off < 6)
                pm->cnt = (uint16_t)((pm->cnt & ~(0xff << shift)) | (b << shift));
        }
        if (pm->cnt & CNT_SLP_EN) {
            uint16_t typ = (pm->cnt >> 10) & 7;
            pm->cnt &= (uint16_t)~CNT_SLP_EN; /* self-clearing */
            poweroff = typ == ACPI_S5_SLP_TYP;
        }
    }
    update_sci(pm);
    g_mutex_unlock(&pm->lock);
    if (poweroff)
        pm->host->request_stop(pm->host->opaque, VM_REASON_SHUTDOWN, 0);
}

bool kvm_acpi_pm_power_button(struct kvm_acpi_pm *pm)
{
    g_mutex_lock(&pm->lock);
    pm->sts |= STS_PWRBTN;
    bool heard = (pm->cnt & CNT_SCI_EN) && (pm->en & STS_PWRBTN);
    update_sci(pm);
    g_mutex_unlock(&pm->lock);
    return heard;
}

struct kvm_acpi_pm *kvm_acpi_pm_new(const struct kvm_dev_host *host, uint32_t sci)
{
    struct kvm_acpi_pm *pm = g_new0(struct kvm_acpi_pm, 1);
    pm->host = host;
    pm->sci_irq = sci;
    g_mutex_init(&pm->lock);
    /* No SMI command port in the FADT: ACPI mode is on from power-on. */
    pm->cnt = CNT_SCI_EN;
    pm->t0 = g_get_monotonic_time();
    return pm;
}

void kvm_acpi_pm_free(struct kvm_acpi_pm *pm)
{
    if (!pm)
        return;
    g_mutex_clear(&pm->lock);
    g_free(pm);
}
