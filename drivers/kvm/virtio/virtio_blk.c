/* The virtio-blk device: config space, feature bits and the I/O thread.
 * kick() only marks the queue and wakes the thread, so a vCPU never waits
 * for the disk, nor for <iotune>: a throttled request waits on the I/O
 * thread. Requests run one at a time in ring order. */
#include "virtio_blk.h"

#include <string.h>

#include "../../../lib/util/error.h"
#include "blk_raw.h"
#include "blk_req.h"
#include "blk_throttle.h"

struct virtio_blk {
    struct blk_disk disk;
    uint8_t config[BLK_CONFIG_SIZE];
    struct virtio_dev *vd;
    struct blk_throttle throttle;

    GMutex lock; /* the flags below */
    GCond wake;  /* the I/O thread waits on it */
    GCond idle;  /* reset waits on it for busy to clear */
    bool running, kicked, busy, quit;
    unsigned epoch; /* bumped by each start and reset: a request popped in
                     * an older one is abandoned */
    GThread *thread;
};

/* Whether the thread may go on with work it took in epoch. */
static bool still(struct virtio_blk *b, unsigned epoch)
{
    g_mutex_lock(&b->lock);
    bool ok = b->running && b->epoch == epoch && !b->quit;
    g_mutex_unlock(&b->lock);
    return ok;
}

/* Wait on the I/O thread until <iotune> lets req go; false when a reset or
 * stop came first (the transport then drops req). */
static bool throttle(struct virtio_blk *b, const struct virtio_req *req,
                     const struct blk_req_hdr *h, unsigned epoch, unsigned *pushed)
{
    bool write;
    uint64_t bytes;
    if (!blk_throttle_active(&b->throttle) || !blk_req_cost(req, h, &write, &bytes))
        return true;
    for (;;) {
        int64_t wait = blk_throttle_take(&b->throttle, write, bytes, g_get_monotonic_time() * 1000);
        if (!wait)
            return true;
        /* The driver gets what is done before this one waits. */
        if (*pushed) {
            virtio_queue_notify(b->vd, 0);
            *pushed = 0;
        }
        int64_t until = g_get_monotonic_time() + (wait + 999) / 1000;
        g_mutex_lock(&b->lock);
        while (b->running && b->epoch == epoch && !b->quit &&
               g_cond_wait_until(&b->wake, &b->lock, until))
            ;
        bool ok = b->running && b->epoch == epoch && !b->quit;
        g_mutex_unlock(&b->lock);
        if (!ok)
            return false;
    }
}

static void drain(struct virtio_blk *b, unsigned epoch)
{
    unsigned pushed = 0;
    while (still(b, epoch)) {
        struct virtio_req *req;
        if (virtio_req_pop(b->vd, 0, &req) <= 0)
            break;
        /* Parsed once: the guest may rewrite the header while the request
         * waits for <iotune>, and what runs must be what was charged. */
        struct blk_req_hdr h;
        g_autofree char *why = NULL;
        if (blk_req_parse(req, &h, &why) < 0) {
            virtio_dev_fail(b->vd, "%s", why);
            /* Not returned (the driver must reset), but not left in
             * flight either: that would keep every snapshot's quiesce
             * waiting until the reset. */
            virtio_req_detach(b->vd, 0, req);
            break;
        }
        if (!throttle(b, req, &h, epoch, &pushed))
            break;
        virtio_req_push(b->vd, 0, req, blk_req_run(&b->disk, req, &h));
        pushed++;
    }
    if (pushed)
        virtio_queue_notify(b->vd, 0);
}

static gpointer io_thread(gpointer p)
{
    struct virtio_blk *b = p;
    g_mutex_lock(&b->lock);
    for (;;) {
        while (!b->quit && !(b->running && b->kicked))
            g_cond_wait(&b->wake, &b->lock);
        if (b->quit)
            break;
        b->kicked = false;
        b->busy = true;
        unsigned epoch = b->epoch;
        g_mutex_unlock(&b->lock);
        drain(b, epoch);
        g_mutex_lock(&b->lock);
        b->busy = false;
        g_cond_broadcast(&b->idle);
    }
    g_mutex_unlock(&b->lock);
    return NULL;
}

static void blk_bind(void *dev, struct virtio_dev *vd)
{
    ((struct virtio_blk *)dev)->vd = vd;
}

static void blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t size)
{
    struct virtio_blk *b = dev;
    if (off <= sizeof(b->config) && size <= sizeof(b->config) - off)
        memcpy(data, b->config + off, size);
}

static void blk_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t size)
{
    /* Nothing in the config space is writable without CONFIG_WCE, which is
     * not offered. */
    (void)dev, (void)off, (void)data, (void)size;
}

static int blk_start(void *dev, uint64_t features)
{
    struct virtio_blk *b = dev;
    g_mutex_lock(&b->lock);
    b->disk.features = features;
    b->running = true;
    b->epoch++;
    b->kicked = true; /* buffers made available before DRIVER_OK */
    g_cond_signal(&b->wake);
    g_mutex_unlock(&b->lock);
    return 0;
}

static void blk_kick(void *dev, uint32_t q)
{
    struct virtio_blk *b = dev;
    (void)q;
    g_mutex_lock(&b->lock);
    b->kicked = true;
    g_cond_signal(&b->wake);
    g_mutex_unlock(&b->lock);
}

static void blk_reset(void *dev)
{
    struct virtio_blk *b = dev;
    g_mutex_lock(&b->lock);
    b->running = false;
    b->kicked = false;
    b->epoch++;
    g_cond_signal(&b->wake); /* out of a throttle wait */
    while (b->busy)
        g_cond_wait(&b->idle, &b->lock);
    g_mutex_unlock(&b->lock);
}

static void blk_free(void *dev)
{
    struct virtio_blk *b = dev;
    if (b->thread) {
        g_mutex_lock(&b->lock);
        b->quit = true;
        g_cond_signal(&b->wake);
        g_mutex_unlock(&b->lock);
        g_thread_join(b->thread);
    }
    blk_raw_close(b->disk.raw);
    g_mutex_clear(&b->lock);
    g_cond_clear(&b->wake);
    g_cond_clear(&b->idle);
    g_free(b);
}

#define BLK_OPS(ro)                                                                                \
    {                                                                                              \
        .name = "virtio-blk", .device_id = VIRTIO_ID_BLOCK,                                        \
        .features = BLK_FEATURES | ((uint64_t)(ro) << VIRTIO_BLK_F_RO), .num_queues = 1,           \
        .queue_max = 256, .config_size = BLK_CONFIG_SIZE, .bind = blk_bind,                        \
        .config_read = blk_config_read, .config_write = blk_config_write, .start = blk_start,      \
        .kick = blk_kick, .reset = blk_reset, .free = blk_free,                                    \
    }

static const struct virtio_dev_ops blk_ops_rw = BLK_OPS(0), blk_ops_ro = BLK_OPS(1);

void *virtio_blk_state_new(const struct kvm_dev_host *host, const struct qv_disk *d,
                           const struct virtio_dev_ops **ops)
{
    const char *vm = host && host->vm_name ? host->vm_name : "";
    if (virtio_blk_check(vm, d) < 0)
        return NULL;
    g_autofree char *what = g_strdup_printf("VM '%s': disk '%s'", vm, d->target ? d->target : "");
    struct blk_raw *raw =
        blk_raw_open(d->source, d->readonly, (enum blk_cache)blk_cache_parse(d->cache), what);
    if (!raw)
        return NULL;
    struct virtio_blk *b = g_new0(struct virtio_blk, 1);
    g_mutex_init(&b->lock);
    g_cond_init(&b->wake);
    g_cond_init(&b->idle);
    b->disk.raw = raw;
    b->disk.blk_size = d->logical_block_size ? d->logical_block_size : 512;
    /* A tail shorter than a block is not addressable, as with QEMU. */
    b->disk.capacity = blk_raw_size(raw) / b->disk.blk_size * (b->disk.blk_size / 512);
    b->disk.readonly = d->readonly;
    b->disk.unmap = g_strcmp0(d->discard, "unmap") == 0;
    if (d->serial)
        memcpy(b->disk.serial, d->serial, strlen(d->serial));
    blk_config(&b->disk, b->config);

    /* qv_disk holds <iotune>'s totals only; read and write limits stay
     * unlimited until lib/conf models them. */
    struct blk_iotune lim = {0};
    lim.bytes_sec[BLK_TB_TOTAL] = d->total_bytes_sec;
    lim.iops_sec[BLK_TB_TOTAL] = d->total_iops_sec;
    blk_throttle_init(&b->throttle, &lim, g_get_monotonic_time() * 1000);

    /* The thread idles until start(), which comes after bind gave it the
     * transport. */
    GError *err = NULL;
    b->thread = g_thread_try_new("qv-blk", io_thread, b, &err);
    if (!b->thread) {
        qv_error_set(QV_ERR_SYSTEM, "%s: cannot start its I/O thread: %s", what, err->message);
        g_error_free(err);
        blk_free(b);
        return NULL;
    }
    *ops = d->readonly ? &blk_ops_ro : &blk_ops_rw;
    return b;
}

struct virtio_dev *virtio_blk_new(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi,
                                  const struct qv_disk *d)
{
    const struct virtio_dev_ops *ops;
    void *b = virtio_blk_state_new(host, d, &ops);
    if (!b)
        return NULL;
    struct virtio_dev *vd = virtio_mmio_new(host, base, gsi, ops, b);
    if (!vd)
        blk_free(b);
    return vd;
}
