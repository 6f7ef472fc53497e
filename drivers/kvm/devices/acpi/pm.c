/* ACPI fixed hardware, laid out as QEMU's PIIX4: the PM1a event block at
 * offset 0 (status, enable), PM1a control at 4 (SCI_EN, SLP_TYP, SLP_EN) and
 * the 3.579545 MHz PM timer at 8. Sleep type 5 with SLP_EN is S5: the VM
 * powers off with reason "shutdown", exit status 0. */
#include <glib.h>

#include "../../snapshot/snap_buf.h"
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

#define PM_TIMER_HZ 3579545

static uint32_t timer(const struct kvm_acpi_pm *pm)
{
    gint64 us = g_get_monotonic_time() - pm->t0;
    return (uint32_t)((__int128)us * PM_TIMER_HZ / 1000000);
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

int kvm_acpi_pm_save(const struct kvm_acpi_pm *pm, struct snap_out *o)
{
    GMutex *lock = (GMutex *)&pm->lock; /* not the device's state */
    g_mutex_lock(lock);
    snap_put_u16(o, pm->sts);
    snap_put_u16(o, pm->en);
    snap_put_u16(o, pm->cnt);
    snap_put_u32(o, timer(pm));
    g_mutex_unlock(lock);
    return 0;
}

int kvm_acpi_pm_load(struct kvm_acpi_pm *pm, struct snap_in *in)
{
    uint16_t sts = snap_get_u16(in, "PM1 status");
    uint16_t en = snap_get_u16(in, "PM1 enable");
    uint16_t cnt = snap_get_u16(in, "PM1 control");
    uint32_t tmr = snap_get_u32(in, "PM timer");
    /* A guest only clears status bits, and the device sets only the power
     * button's; SLP_EN clears itself as the write that sets it ends. */
    if (snap_in_ok(in) && (sts & ~STS_PWRBTN))
        snap_in_fail(in, "PM1 status 0x%04x has bits 0x%04x that this device never sets", sts,
                     sts & ~STS_PWRBTN);
    if (snap_in_ok(in) && (cnt & CNT_SLP_EN))
        snap_in_fail(in, "PM1 control 0x%04x has SLP_EN set, which never stays set", cnt);
    int rc = snap_in_finish(in);
    if (rc < 0)
        return rc;
    g_mutex_lock(&pm->lock);
    pm->sts = sts;
    pm->en = en;
    pm->cnt = cnt;
    /* The timer counts on from the saved value: t0 is put back by as long
     * as the saved count took, rounded up so the first read is never below
     * it (it wraps, so any 32-bit value is one). */
    pm->t0 = g_get_monotonic_time() -
             (gint64)(((__int128)tmr * 1000000 + PM_TIMER_HZ - 1) / PM_TIMER_HZ);
    pm->sci = -1; /* drive the line whatever it was */
    update_sci(pm);
    g_mutex_unlock(&pm->lock);
    return 0;
}
