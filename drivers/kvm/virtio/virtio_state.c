/* A virtio-mmio device's state in a snapshot (virtio_state.h): quiesce,
 * save and load. The section holds, in this order: device ID, queue count,
 * Status, NEEDS_RESET, the three selectors, the features the driver
 * wrote, InterruptStatus, config generation; per queue QueueNum,
 * QueueReady, the three ring addresses, the next available entry to take,
 * the used index, and the EVENT_IDX notification state; then the device's
 * own state version and bytes (ops->save). */
#include "virtio_state.h"

#include <stdio.h>

#include "../../../lib/util/error.h"
#include "../snapshot/snap_buf.h"
#include "virtio_dev.h"

static int dev_error(struct virtio_dev *vd, int code, const char *what)
{
    return qv_error_set(code, "VM '%s': %s at 0x%llx: %s",
                        vd->host.vm_name ? vd->host.vm_name : "?", vd->ops->name,
                        (unsigned long long)vd->base, what);
}

/* ---- quiesce ---- */

/* Interrupt for what was pushed and not yet signalled: a device pushes
 * and then notifies, and a save between the two would record used
 * entries the driver is never told of. */
static void flush_notify(struct virtio_dev *vd)
{
    for (uint32_t i = 0; i < vd->nq; i++) {
        struct virtq *q = &vd->q[i];
        g_mutex_lock(&q->lock);
        bool owed = q->unsignalled;
        g_mutex_unlock(&q->lock);
        if (owed)
            virtio_queue_notify(vd, i);
    }
}

int virtio_dev_quiesce(struct virtio_dev *vd, int timeout_ms)
{
    g_atomic_int_inc(&vd->quiesced);
    /* A kick that began before is let finish: from here on none starts
     * and no request is popped. */
    for (uint32_t i = 0; i < vd->nq; i++) {
        g_mutex_lock(&vd->q[i].kick_lock);
        g_mutex_unlock(&vd->q[i].kick_lock);
    }
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (uint32_t i = 0; i < vd->nq; i++) {
        struct virtq *q = &vd->q[i];
        g_mutex_lock(&q->lock);
        while (q->inflight) {
            if (timeout_ms < 0)
                g_cond_wait(&q->drained, &q->lock);
            else if (!g_cond_wait_until(&q->drained, &q->lock, end))
                break;
        }
        uint32_t n = virtq_inflight_count(q);
        g_mutex_unlock(&q->lock);
        if (n) {
            virtio_dev_unquiesce(vd);
            g_autofree char *m = g_strdup_printf("queue %u still has %u request%s in flight "
                                                 "after %d ms; not quiesced",
                                                 i, n, n == 1 ? "" : "s", timeout_ms);
            return dev_error(vd, QV_ERR_TIMEOUT, m);
        }
    }
    flush_notify(vd);
    return 0;
}

void virtio_dev_unquiesce(struct virtio_dev *vd)
{
    if (g_atomic_int_get(&vd->quiesced) <= 0) {
        g_warning("%s at 0x%llx: unquiesced more often than quiesced", vd->ops->name,
                  (unsigned long long)vd->base);
        return;
    }
    if (!g_atomic_int_dec_and_test(&vd->quiesced))
        return;
    /* Notifications held back meanwhile, and buffers a restored driver
     * left available, are taken now. */
    for (uint32_t i = 0; i < vd->nq; i++)
        if (g_atomic_int_get(&vd->q[i].ready) && virtq_pending(vd, &vd->q[i]))
            virtio_dev_kick(vd, i);
}

/* ---- save ---- */

int virtio_dev_save(struct virtio_dev *vd, struct snap_out *o)
{
    int rc = 0;
    g_mutex_lock(&vd->lock);
    if (g_atomic_int_get(&vd->running) && !g_atomic_int_get(&vd->quiesced)) {
        rc = dev_error(vd, QV_ERR_INVALID_STATE,
                       "cannot save a running device that is not quiesced");
        goto out;
    }
    for (uint32_t i = 0; i < vd->nq; i++) {
        g_mutex_lock(&vd->q[i].lock);
        uint32_t n = virtq_inflight_count(&vd->q[i]);
        g_mutex_unlock(&vd->q[i].lock);
        if (n) {
            g_autofree char *m = g_strdup_printf("cannot save queue %u with %u request%s in flight",
                                                 i, n, n == 1 ? "" : "s");
            rc = dev_error(vd, QV_ERR_INVALID_STATE, m);
            goto out;
        }
    }
    snap_put_u32(o, vd->ops->device_id);
    snap_put_u32(o, vd->nq);
    snap_put_u32(o, vd->status);
    snap_put_u8(o, (uint8_t)g_atomic_int_get(&vd->needs_reset));
    snap_put_u32(o, vd->dev_features_sel);
    snap_put_u32(o, vd->drv_features_sel);
    snap_put_u32(o, vd->queue_sel);
    snap_put_u64(o, vd->driver_features);
    g_mutex_lock(&vd->irq_lock);
    snap_put_u32(o, vd->isr);
    g_mutex_unlock(&vd->irq_lock);
    snap_put_u32(o, (uint32_t)g_atomic_int_get(&vd->generation));
    for (uint32_t i = 0; i < vd->nq; i++) {
        struct virtq *q = &vd->q[i];
        g_mutex_lock(&q->lock);
        snap_put_u32(o, q->num);
        snap_put_u8(o, (uint8_t)g_atomic_int_get(&q->ready));
        snap_put_u64(o, q->desc_gpa);
        snap_put_u64(o, q->avail_gpa);
        snap_put_u64(o, q->used_gpa);
        snap_put_u16(o, q->last_avail);
        snap_put_u16(o, q->used_idx);
        snap_put_u16(o, q->signalled_used);
        snap_put_u8(o, q->signalled_valid);
        g_mutex_unlock(&q->lock);
    }
    struct snap_out d;
    snap_out_init(&d);
    if (vd->ops->save && (rc = vd->ops->save(vd->dev, &d)) < 0) {
        snap_out_clear(&d);
        goto out;
    }
    if (d.bytes->len > VIRTIO_DEV_STATE_MAX) {
        g_autofree char *m = g_strdup_printf("its own state of %u bytes exceeds %u", d.bytes->len,
                                             VIRTIO_DEV_STATE_MAX);
        rc = dev_error(vd, QV_ERR_INTERNAL, m);
        snap_out_clear(&d);
        goto out;
    }
    snap_put_u32(o, vd->ops->save ? vd->ops->state_version : 0);
    snap_put_blob(o, d.bytes->data, d.bytes->len);
    snap_out_clear(&d);
out:
    g_mutex_unlock(&vd->lock);
    return rc;
}

/* ---- load ---- */

struct saved_queue {
    uint32_t num;
    uint8_t ready, signalled_valid;
    uint64_t desc, avail, used;
    uint16_t last_avail, used_idx, signalled_used;
    struct virtq_rings rings;
};

struct saved_dev {
    uint32_t status, dev_features_sel, drv_features_sel, queue_sel, isr, generation;
    uint8_t needs_reset;
    uint64_t features;
    struct saved_queue *q;
    uint32_t dev_version, dev_len;
    const void *dev_state;
};

/* Per-queue field names for errors ("queue 1 size"). */
static const char *qfield(char *buf, size_t n, uint32_t qi, const char *what)
{
    snprintf(buf, n, "queue %u %s", qi, what);
    return buf;
}

static void read_queue(struct snap_in *in, uint32_t qi, struct saved_queue *s)
{
    char f[48];
    s->num = snap_get_u32(in, qfield(f, sizeof(f), qi, "size"));
    s->ready = snap_get_u8(in, qfield(f, sizeof(f), qi, "ready"));
    s->desc = snap_get_u64(in, qfield(f, sizeof(f), qi, "descriptor area"));
    s->avail = snap_get_u64(in, qfield(f, sizeof(f), qi, "driver area"));
    s->used = snap_get_u64(in, qfield(f, sizeof(f), qi, "device area"));
    s->last_avail = snap_get_u16(in, qfield(f, sizeof(f), qi, "next available"));
    s->used_idx = snap_get_u16(in, qfield(f, sizeof(f), qi, "used index"));
    s->signalled_used = snap_get_u16(in, qfield(f, sizeof(f), qi, "signalled used index"));
    s->signalled_valid = snap_get_u8(in, qfield(f, sizeof(f), qi, "signalled"));
}

/* A queue as QueueReady=1 would have it, and nothing in flight. */
static void check_queue(struct snap_in *in, struct virtio_dev *vd, uint32_t qi,
                        struct saved_queue *s)
{
    if (s->ready > 1 || s->signalled_valid > 1) {
        snap_in_fail(in, "queue %u: ready %u and signalled %u must each be 0 or 1", qi, s->ready,
                     s->signalled_valid);
        return;
    }
    if (!s->ready)
        return;
    g_autofree char *why =
        virtq_check_layout(vd, qi, s->num, s->desc, s->avail, s->used, &s->rings);
    if (why) {
        snap_in_fail(in, "%s", why);
        return;
    }
    /* Every buffer taken was given back (a quiesced save): otherwise a
     * request was in flight and would be lost. */
    if (s->last_avail != s->used_idx)
        snap_in_fail(in,
                     "queue %u: %u buffers taken but %u given back; a request was in flight "
                     "when this was saved",
                     qi, s->last_avail, s->used_idx);
}

static void check_dev(struct snap_in *in, struct virtio_dev *vd, struct saved_dev *s)
{
    enum { KNOWN = 0xff & ~VIRTIO_STATUS_NEEDS_RESET };
    if (s->status & ~(uint32_t)KNOWN) {
        snap_in_fail(in, "status 0x%x has bits a driver cannot write (only 0x%x)", s->status,
                     KNOWN);
        return;
    }
    if (s->needs_reset > 1) {
        snap_in_fail(in, "NEEDS_RESET is %u, not 0 or 1", s->needs_reset);
        return;
    }
    if (s->isr & ~(uint32_t)(VIRTIO_INT_VRING | VIRTIO_INT_CONFIG)) {
        snap_in_fail(in, "InterruptStatus 0x%x has bits other than 0x3", s->isr);
        return;
    }
    /* FEATURES_OK and DRIVER_OK only as status_write lets them be set. */
    uint64_t version_1 = UINT64_C(1) << VIRTIO_F_VERSION_1;
    if (s->status & VIRTIO_STATUS_FEATURES_OK) {
        if (!(s->features & version_1))
            snap_in_fail(in, "FEATURES_OK without VIRTIO_F_VERSION_1 in features 0x%llx",
                         (unsigned long long)s->features);
        else if (s->features & ~virtio_dev_offered(vd))
            snap_in_fail(in, "FEATURES_OK with features 0x%llx that %s never offers",
                         (unsigned long long)(s->features & ~virtio_dev_offered(vd)),
                         vd->ops->name);
    } else if (s->status & VIRTIO_STATUS_DRIVER_OK) {
        snap_in_fail(in, "status 0x%x has DRIVER_OK without FEATURES_OK", s->status);
    }
    for (uint32_t i = 0; snap_in_ok(in) && i < vd->nq; i++)
        check_queue(in, vd, i, &s->q[i]);
    if (!snap_in_ok(in))
        return;
    uint32_t want = vd->ops->load ? vd->ops->state_version : 0;
    if (s->dev_version != want)
        snap_in_fail(in, "%s state is version %u; this libqv reads version %u", vd->ops->name,
                     s->dev_version, want);
    else if (!vd->ops->load && s->dev_len)
        snap_in_fail(in, "%u bytes of %s state, which keeps none", s->dev_len, vd->ops->name);
}

/* Under vd->lock, the device reset. */
static void apply(struct virtio_dev *vd, const struct saved_dev *s)
{
    vd->status = s->status;
    vd->dev_features_sel = s->dev_features_sel;
    vd->drv_features_sel = s->drv_features_sel;
    vd->queue_sel = s->queue_sel;
    vd->driver_features = s->features;
    if (s->status & VIRTIO_STATUS_FEATURES_OK) {
        g_atomic_int_set(&vd->event_idx,
                         !!(s->features & (UINT64_C(1) << VIRTIO_F_RING_EVENT_IDX)));
        g_atomic_int_set(&vd->indirect,
                         !!(s->features & (UINT64_C(1) << VIRTIO_F_RING_INDIRECT_DESC)));
    }
    g_atomic_int_set(&vd->needs_reset, s->needs_reset);
    g_atomic_int_set(&vd->generation, (int)s->generation);
    for (uint32_t i = 0; i < vd->nq; i++) {
        struct virtq *q = &vd->q[i];
        const struct saved_queue *sq = &s->q[i];
        q->num = sq->num;
        q->desc_gpa = sq->desc;
        q->avail_gpa = sq->avail;
        q->used_gpa = sq->used;
        if (sq->ready) {
            virtq_restore(q, &sq->rings, sq->last_avail, sq->used_idx, sq->signalled_used,
                          sq->signalled_valid);
        } else {
            /* Not used until the queue is made ready, which starts from
             * 0; kept so that a save after this load is the same. */
            g_mutex_lock(&q->lock);
            q->last_avail = sq->last_avail;
            q->used_idx = sq->used_idx;
            q->signalled_used = sq->signalled_used;
            q->signalled_valid = sq->signalled_valid;
            g_mutex_unlock(&q->lock);
        }
    }
    /* The restored machine's line is in no known state: drive it. */
    if (s->isr)
        virtio_dev_interrupt(vd, s->isr);
    else if (vd->irq_fd < 0)
        vd->host.set_irq(vd->host.opaque, vd->gsi, 0);
}

int virtio_dev_load(struct virtio_dev *vd, struct snap_in *in)
{
    struct saved_dev s = {0};
    uint32_t id = snap_get_u32(in, "device ID");
    uint32_t nq = snap_get_u32(in, "queue count");
    if (snap_in_ok(in) && id != vd->ops->device_id)
        snap_in_fail(in, "holds a device of virtio type %u; this one is %s (type %u)", id,
                     vd->ops->name, vd->ops->device_id);
    else if (snap_in_ok(in) && nq != vd->nq)
        snap_in_fail(in, "holds %u queues; %s has %u", nq, vd->ops->name, vd->nq);
    if (!snap_in_ok(in))
        return snap_in_finish(in);
    s.status = snap_get_u32(in, "status");
    s.needs_reset = snap_get_u8(in, "NEEDS_RESET");
    s.dev_features_sel = snap_get_u32(in, "DeviceFeaturesSel");
    s.drv_features_sel = snap_get_u32(in, "DriverFeaturesSel");
    /* Selectors are stored as the driver wrote them: any value is one a
     * driver may write (past the end, the registers read as zero). */
    s.queue_sel = snap_get_u32(in, "QueueSel");
    s.features = snap_get_u64(in, "driver features");
    s.isr = snap_get_u32(in, "InterruptStatus");
    s.generation = snap_get_u32(in, "config generation");
    g_autofree struct saved_queue *q = g_new0(struct saved_queue, nq);
    s.q = q;
    for (uint32_t i = 0; i < nq; i++)
        read_queue(in, i, &q[i]);
    s.dev_version = snap_get_u32(in, "device state version");
    s.dev_state = snap_get_blob(in, "device state", VIRTIO_DEV_STATE_MAX, &s.dev_len);
    if (snap_in_ok(in))
        check_dev(in, vd, &s);
    const char *section = in->section;
    int rc = snap_in_finish(in);
    if (rc < 0)
        return rc;

    g_mutex_lock(&vd->lock);
    virtio_dev_reset_locked(vd);
    if (vd->ops->load) {
        struct snap_in din;
        snap_in_init(&din, section, s.dev_state, s.dev_len);
        if ((rc = vd->ops->load(vd->dev, &din)) < 0)
            goto out;
    }
    apply(vd, &s);
    bool start = (s.status & VIRTIO_STATUS_DRIVER_OK) && !s.needs_reset &&
                 !(s.status & VIRTIO_STATUS_FAILED);
    if (start) {
        if (vd->ops->start && vd->ops->start(vd->dev, s.features) < 0) {
            virtio_dev_reset_locked(vd);
            rc = dev_error(vd, QV_ERR_INTERNAL, "the restored device could not start");
            goto out;
        }
        g_atomic_int_set(&vd->running, 1);
        /* Buffers the driver made available and the device had not taken
         * when the snapshot was made. */
        for (uint32_t i = 0; i < vd->nq; i++)
            if (g_atomic_int_get(&vd->q[i].ready) && virtq_pending(vd, &vd->q[i]))
                virtio_dev_kick(vd, i);
    }
out:
    g_mutex_unlock(&vd->lock);
    return rc;
}
