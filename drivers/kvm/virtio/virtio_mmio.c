/* The virtio-mmio register window (virtio 1.1 §4.2.2, Version 2): feature
 * negotiation, the status machine, queue set-up, the interrupt and the
 * config space. Every register value comes from the guest and is checked
 * before it is used; an access the spec does not define reads as zero and
 * writes nothing. */
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>

#include "../../../lib/util/error.h"
#include "virtio_dev.h"
#include "virtio_mmio.h"

enum {
    REG_MAGIC = 0x000,
    REG_VERSION = 0x004,
    REG_DEVICE_ID = 0x008,
    REG_VENDOR_ID = 0x00c,
    REG_DEVICE_FEATURES = 0x010,
    REG_DEVICE_FEATURES_SEL = 0x014,
    REG_DRIVER_FEATURES = 0x020,
    REG_DRIVER_FEATURES_SEL = 0x024,
    REG_QUEUE_SEL = 0x030,
    REG_QUEUE_NUM_MAX = 0x034,
    REG_QUEUE_NUM = 0x038,
    REG_QUEUE_READY = 0x044,
    REG_QUEUE_NOTIFY = VIRTIO_MMIO_QUEUE_NOTIFY,
    REG_INTERRUPT_STATUS = 0x060,
    REG_INTERRUPT_ACK = 0x064,
    REG_STATUS = 0x070,
    REG_QUEUE_DESC_LOW = 0x080,
    REG_QUEUE_DESC_HIGH = 0x084,
    REG_QUEUE_DRIVER_LOW = 0x090,
    REG_QUEUE_DRIVER_HIGH = 0x094,
    REG_QUEUE_DEVICE_LOW = 0x0a0,
    REG_QUEUE_DEVICE_HIGH = 0x0a4,
    REG_SHM_SEL = 0x0ac,
    REG_SHM_LEN_LOW = 0x0b0,
    REG_SHM_LEN_HIGH = 0x0b4,
    REG_SHM_BASE_LOW = 0x0b8,
    REG_SHM_BASE_HIGH = 0x0bc,
    REG_CONFIG_GENERATION = 0x0fc,
    REG_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
/* The vendor ID QEMU's virtio-mmio reports; guests do not match on it. */
#define VIRTIO_MMIO_VENDOR 0x554d4551u /* "QEMU" */

/* Bits 24-49 belong to the transport (§6); a device offers only others. */
#define TRANSPORT_BITS (((UINT64_C(1) << 50) - 1) & ~((UINT64_C(1) << 24) - 1))

uint64_t virtio_dev_offered(const struct virtio_dev *vd)
{
    return vd->ops->features | (UINT64_C(1) << VIRTIO_F_RING_INDIRECT_DESC) |
           (UINT64_C(1) << VIRTIO_F_RING_EVENT_IDX) | (UINT64_C(1) << VIRTIO_F_VERSION_1);
}

/* A guest can break and reset a device in a loop: each device logs this
 * many lines, then says it stops. */
#define LOG_MAX 16

static void log_dev(struct virtio_dev *vd, const char *what)
{
    if (g_atomic_int_get(&vd->logged) > LOG_MAX)
        return;
    int n = g_atomic_int_add(&vd->logged, 1);
    if (n > LOG_MAX)
        return;
    if (n == LOG_MAX)
        what = "further faults of this device are not logged";
    g_warning("VM '%s': %s at 0x%llx: %s", vd->host.vm_name ? vd->host.vm_name : "?", vd->ops->name,
              (unsigned long long)vd->base, what);
}

void virtio_dev_interrupt(struct virtio_dev *vd, uint32_t bits)
{
    g_mutex_lock(&vd->irq_lock);
    vd->isr |= bits;
    if (vd->irq_fd >= 0)
        virtio_notify_irq(vd);
    else
        vd->host.set_irq(vd->host.opaque, vd->gsi, 1);
    g_mutex_unlock(&vd->irq_lock);
}

/* Through an irqfd the line falls at the guest's EOI instead, and is
 * raised again there only while bits remain (virtio_notify.c). */
static void interrupt_ack(struct virtio_dev *vd, uint32_t bits)
{
    g_mutex_lock(&vd->irq_lock);
    uint32_t was = vd->isr;
    vd->isr &= ~bits;
    if (was && !vd->isr && vd->irq_fd < 0)
        vd->host.set_irq(vd->host.opaque, vd->gsi, 0);
    g_mutex_unlock(&vd->irq_lock);
}

void virtio_config_changed(struct virtio_dev *vd)
{
    g_atomic_int_inc(&vd->generation);
    virtio_dev_interrupt(vd, VIRTIO_INT_CONFIG);
}

void virtio_dev_fail(struct virtio_dev *vd, const char *fmt, ...)
{
    g_atomic_int_set(&vd->running, 0);
    if (!g_atomic_int_compare_and_exchange(&vd->needs_reset, 0, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    log_dev(vd, why);
    /* §2.1.2: a device that needs a reset says so by a config change. */
    virtio_dev_interrupt(vd, VIRTIO_INT_CONFIG);
}

void virtio_dev_kick(struct virtio_dev *vd, uint32_t qi)
{
    if (qi >= vd->nq)
        return;
    struct virtq *q = &vd->q[qi];
    g_mutex_lock(&q->kick_lock);
    if (g_atomic_int_get(&vd->running) && g_atomic_int_get(&q->ready) &&
        !g_atomic_int_get(&vd->quiesced))
        vd->ops->kick(vd->dev, qi);
    g_mutex_unlock(&q->kick_lock);
}

/* The driver wrote 0 to Status, or the machine resets. Under vd->lock. */
void virtio_dev_reset_locked(struct virtio_dev *vd)
{
    g_atomic_int_set(&vd->running, 0);
    for (uint32_t i = 0; i < vd->nq; i++)
        g_mutex_lock(&vd->q[i].kick_lock);
    if (vd->ops->reset)
        vd->ops->reset(vd->dev);
    for (uint32_t i = 0; i < vd->nq; i++)
        virtq_reset(vd, &vd->q[i], vd->ops->queue_max);
    vd->dev_features_sel = vd->drv_features_sel = vd->queue_sel = 0;
    vd->driver_features = 0;
    vd->status = 0;
    g_atomic_int_set(&vd->event_idx, 0);
    g_atomic_int_set(&vd->indirect, 0);
    g_atomic_int_set(&vd->needs_reset, 0);
    interrupt_ack(vd, ~0u);
    for (uint32_t i = vd->nq; i-- > 0;)
        g_mutex_unlock(&vd->q[i].kick_lock);
}

/* Under vd->lock. */
static void status_write(struct virtio_dev *vd, uint32_t v)
{
    if (v == 0) {
        virtio_dev_reset_locked(vd);
        return;
    }
    /* A driver never clears a bit but by reset (§2.1.1), and NEEDS_RESET
     * is the device's. */
    uint32_t old = vd->status;
    uint32_t set = (v & 0xff & ~VIRTIO_STATUS_NEEDS_RESET) | old;

    if ((set & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        uint64_t f = vd->driver_features;
        if (!(f & (UINT64_C(1) << VIRTIO_F_VERSION_1))) {
            log_dev(vd, "the driver did not accept VIRTIO_F_VERSION_1 (a legacy driver): "
                        "FEATURES_OK refused");
            set &= ~VIRTIO_STATUS_FEATURES_OK;
        } else if (f & ~virtio_dev_offered(vd)) {
            g_autofree char *m = g_strdup_printf("the driver accepted features 0x%llx never "
                                                 "offered: FEATURES_OK refused",
                                                 (unsigned long long)(f & ~virtio_dev_offered(vd)));
            log_dev(vd, m);
            set &= ~VIRTIO_STATUS_FEATURES_OK;
        } else {
            g_atomic_int_set(&vd->event_idx, !!(f & (UINT64_C(1) << VIRTIO_F_RING_EVENT_IDX)));
            g_atomic_int_set(&vd->indirect, !!(f & (UINT64_C(1) << VIRTIO_F_RING_INDIRECT_DESC)));
        }
    }
    if ((set & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
        if (!(set & VIRTIO_STATUS_FEATURES_OK)) {
            /* No features agreed (a legacy driver): the device never runs. */
            set &= ~VIRTIO_STATUS_DRIVER_OK;
        } else {
            vd->status = set;
            if (g_atomic_int_get(&vd->needs_reset))
                return;
            if (vd->ops->start && vd->ops->start(vd->dev, vd->driver_features) < 0) {
                virtio_dev_fail(vd, "the device could not start");
                return;
            }
            g_atomic_int_set(&vd->running, 1);
            /* Buffers made available before DRIVER_OK had no kick that
             * counted. */
            for (uint32_t i = 0; i < vd->nq; i++)
                if (g_atomic_int_get(&vd->q[i].ready) && virtq_pending(vd, &vd->q[i]))
                    virtio_dev_kick(vd, i);
            return;
        }
    }
    if (set & VIRTIO_STATUS_FAILED)
        g_atomic_int_set(&vd->running, 0);
    vd->status = set;
}

static struct virtq *selected_queue(struct virtio_dev *vd)
{
    return vd->queue_sel < vd->nq ? &vd->q[vd->queue_sel] : NULL;
}

static uint32_t reg_read(struct virtio_dev *vd, uint64_t off)
{
    struct virtq *q = selected_queue(vd);
    switch (off) {
    case REG_MAGIC: return VIRTIO_MMIO_MAGIC;
    case REG_VERSION: return 2;
    case REG_DEVICE_ID: return vd->ops->device_id;
    case REG_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case REG_DEVICE_FEATURES:
        if (vd->dev_features_sel > 1)
            return 0;
        return (uint32_t)(virtio_dev_offered(vd) >> (32 * vd->dev_features_sel));
    case REG_QUEUE_NUM_MAX: return q ? vd->ops->queue_max : 0;
    case REG_QUEUE_READY: return q ? (uint32_t)g_atomic_int_get(&q->ready) : 0;
    case REG_INTERRUPT_STATUS: {
        g_mutex_lock(&vd->irq_lock);
        uint32_t v = vd->isr;
        g_mutex_unlock(&vd->irq_lock);
        return v;
    }
    case REG_STATUS:
        return vd->status | (g_atomic_int_get(&vd->needs_reset) ? VIRTIO_STATUS_NEEDS_RESET : 0);
    /* No shared memory regions: a length of -1 says "none" (§4.2.2). */
    case REG_SHM_LEN_LOW:
    case REG_SHM_LEN_HIGH:
    case REG_SHM_BASE_LOW:
    case REG_SHM_BASE_HIGH: return 0xffffffffu;
    case REG_CONFIG_GENERATION: return (uint32_t)g_atomic_int_get(&vd->generation);
    default: return 0; /* write-only and reserved registers */
    }
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
    if (high)
        *v = (*v & 0xffffffffu) | ((uint64_t)val << 32);
    else
        *v = (*v & ~(uint64_t)0xffffffffu) | val;
}

static void queue_write(struct virtio_dev *vd, uint64_t off, uint32_t v)
{
    struct virtq *q = selected_queue(vd);
    if (!q)
        return;
    if (off == REG_QUEUE_READY) {
        if (v == 1 && !q->ready) {
            if (virtq_enable(vd, q))
                g_atomic_int_set(&q->ready, 1);
        } else if (v == 0 && q->ready) {
            /* No kick may run on a queue being disabled; requests in
             * flight stay the device's and are pushed nowhere. */
            g_mutex_lock(&q->kick_lock);
            g_mutex_lock(&q->lock);
            g_atomic_int_set(&q->ready, 0);
            q->desc = q->avail = q->used = NULL;
            g_mutex_unlock(&q->lock);
            g_mutex_unlock(&q->kick_lock);
        }
        return;
    }
    /* §4.2.2.3: the driver changes a queue's layout only while it is not
     * ready; a ready ring keeps the layout it was checked with. */
    if (q->ready)
        return;
    switch (off) {
    case REG_QUEUE_NUM: q->num = v; break;
    case REG_QUEUE_DESC_LOW:
    case REG_QUEUE_DESC_HIGH: set_half(&q->desc_gpa, off == REG_QUEUE_DESC_HIGH, v); break;
    case REG_QUEUE_DRIVER_LOW:
    case REG_QUEUE_DRIVER_HIGH: set_half(&q->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, v); break;
    case REG_QUEUE_DEVICE_LOW:
    case REG_QUEUE_DEVICE_HIGH: set_half(&q->used_gpa, off == REG_QUEUE_DEVICE_HIGH, v); break;
    default: break;
    }
}

static void reg_write(struct virtio_dev *vd, uint64_t off, uint32_t v)
{
    switch (off) {
    case REG_DEVICE_FEATURES_SEL: vd->dev_features_sel = v; break;
    case REG_DRIVER_FEATURES:
        /* Features are fixed once FEATURES_OK is set (§3.1.1). */
        if (vd->drv_features_sel <= 1 && !(vd->status & VIRTIO_STATUS_FEATURES_OK))
            set_half(&vd->driver_features, vd->drv_features_sel == 1, v);
        break;
    case REG_DRIVER_FEATURES_SEL: vd->drv_features_sel = v; break;
    case REG_QUEUE_SEL: vd->queue_sel = v; break;
    case REG_INTERRUPT_ACK: interrupt_ack(vd, v); break;
    case REG_STATUS: status_write(vd, v); break;
    case REG_QUEUE_NUM:
    case REG_QUEUE_READY:
    case REG_QUEUE_DESC_LOW:
    case REG_QUEUE_DESC_HIGH:
    case REG_QUEUE_DRIVER_LOW:
    case REG_QUEUE_DRIVER_HIGH:
    case REG_QUEUE_DEVICE_LOW:
    case REG_QUEUE_DEVICE_HIGH: queue_write(vd, off, v); break;
    default: break; /* read-only and reserved registers, SHMSel */
    }
}

static void config_access(struct virtio_dev *vd, uint64_t off, uint8_t *data, uint32_t size,
                          bool is_write)
{
    bool inside = off + size <= vd->ops->config_size && size <= 8;
    if (is_write) {
        if (inside && vd->ops->config_write)
            vd->ops->config_write(vd->dev, (uint32_t)off, data, size);
        return;
    }
    memset(data, 0, size);
    if (inside && vd->ops->config_read)
        vd->ops->config_read(vd->dev, (uint32_t)off, data, size);
}

void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    struct virtio_dev *vd = opaque;
    if (offset >= VIRTIO_MMIO_SIZE || size == 0 || size > VIRTIO_MMIO_SIZE - offset) {
        if (!is_write)
            memset(data, 0, size);
        return;
    }
    if (offset >= REG_CONFIG) {
        config_access(vd, offset - REG_CONFIG, data, size, is_write);
        return;
    }
    /* §4.2.2.2: control registers are 32-bit and aligned; anything else
     * reads as zero and writes nothing. */
    if (size != 4 || (offset & 3)) {
        if (!is_write)
            memset(data, 0, size);
        return;
    }
    if (is_write && offset == REG_QUEUE_NOTIFY) {
        /* Not under vd->lock: a kick may take long, and a notification
         * needs none of the registers. */
        virtio_dev_kick(vd, (uint32_t)kvm_bus_get(data, 4));
        return;
    }
    g_mutex_lock(&vd->lock);
    if (is_write)
        reg_write(vd, offset, (uint32_t)kvm_bus_get(data, 4));
    else
        kvm_bus_put(data, 4, reg_read(vd, offset));
    g_mutex_unlock(&vd->lock);
}

void virtio_mmio_reset(struct virtio_dev *vd)
{
    g_mutex_lock(&vd->lock);
    virtio_dev_reset_locked(vd);
    g_mutex_unlock(&vd->lock);
}

struct virtio_dev *virtio_mmio_new(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi,
                                   const struct virtio_dev_ops *ops, void *dev)
{
    if (!host || !host->set_irq || !host->guest_ram || !ops || !ops->name || !ops->kick) {
        qv_error_set(QV_ERR_INVALID_ARG, "virtio-mmio: a device needs a host with set_irq and "
                                         "guest_ram, and ops with a name and kick");
        return NULL;
    }
    if (ops->num_queues == 0 || ops->num_queues > 1024 || !virtio_is_pow2(ops->queue_max) ||
        ops->queue_max > 32768) {
        qv_error_set(QV_ERR_INVALID_ARG,
                     "%s: %u queues of at most %u entries: 1 to 1024 queues, each a power "
                     "of 2 up to 32768",
                     ops->name, ops->num_queues, ops->queue_max);
        return NULL;
    }
    if (ops->features & TRANSPORT_BITS) {
        qv_error_set(QV_ERR_INVALID_ARG, "%s: features 0x%llx are transport bits (24-49)",
                     ops->name, (unsigned long long)(ops->features & TRANSPORT_BITS));
        return NULL;
    }
    if (ops->config_size > VIRTIO_MMIO_SIZE - REG_CONFIG) {
        qv_error_set(QV_ERR_INVALID_ARG, "%s: config space of %u bytes exceeds %u", ops->name,
                     ops->config_size, VIRTIO_MMIO_SIZE - REG_CONFIG);
        return NULL;
    }
    struct virtio_dev *vd = g_new0(struct virtio_dev, 1);
    vd->host = *host;
    vd->base = base;
    vd->gsi = gsi;
    vd->ops = ops;
    vd->dev = dev;
    vd->notify_stop_fd = vd->irq_fd = vd->resample_fd = -1;
    g_mutex_init(&vd->lock);
    g_mutex_init(&vd->irq_lock);
    vd->nq = ops->num_queues;
    vd->q = g_new0(struct virtq, vd->nq);
    for (uint32_t i = 0; i < vd->nq; i++) {
        virtq_init(&vd->q[i]);
        vd->q[i].num = ops->queue_max;
    }
    if (ops->bind)
        ops->bind(dev, vd);
    virtio_notify_start(vd);
    return vd;
}

void virtio_mmio_free(struct virtio_dev *vd)
{
    if (!vd)
        return;
    virtio_mmio_reset(vd);
    virtio_notify_stop(vd);
    if (vd->ops->free)
        vd->ops->free(vd->dev);
    for (uint32_t i = 0; i < vd->nq; i++)
        virtq_destroy(&vd->q[i]);
    g_free(vd->q);
    g_mutex_clear(&vd->lock);
    g_mutex_clear(&vd->irq_lock);
    g_free(vd);
}
