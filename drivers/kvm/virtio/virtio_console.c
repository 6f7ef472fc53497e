/* virtio-console, single port: transmitq (queue 1) goes to the sink,
 * receiveq (queue 0) is filled from a bounded input buffer whenever the
 * driver has buffers there. The config space (cols, rows, max_nr_ports,
 * emerg_wr) reads as zero: none of SIZE, MULTIPORT, EMERG_WRITE is
 * offered. Its snapshot state is the console input not yet delivered. */
#include <glib.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "../snapshot/snap_buf.h"
#include "virtio_console.h"

enum { RXQ = 0, TXQ = 1 };

/* Input held for the guest while it has no receive buffers. */
#define CONSOLE_PENDING 4096

struct virtio_console {
    struct virtio_dev *vd;
    virtio_console_sink_fn sink;
    void *opaque;
    void (*release)(void *opaque);
    /* Serialises delivery to the receiveq (input thread and kicks) and
     * lets reset wait for a delivery in progress. */
    GMutex lock;
    uint8_t pending[CONSOLE_PENDING];
    size_t head, count;
};

static void con_bind(void *dev, struct virtio_dev *vd)
{
    ((struct virtio_console *)dev)->vd = vd;
}

static void con_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t size)
{
    (void)dev;
    (void)off;
    memset(data, 0, size);
}

/* Move pending input into receive buffers. Under c->lock. */
static void deliver(struct virtio_console *c)
{
    bool any = false;
    struct virtio_req *req;
    while (c->count && virtio_req_pop(c->vd, RXQ, &req) > 0) {
        size_t written = 0;
        while (c->count && written < req->in_len) {
            size_t run = MIN(c->count, CONSOLE_PENDING - c->head);
            size_t n =
                virtio_iov_from_buf(req->in, req->in_num, written, c->pending + c->head, run);
            if (n == 0)
                break;
            written += n;
            c->head = (c->head + n) % CONSOLE_PENDING;
            c->count -= n;
        }
        virtio_req_push(c->vd, RXQ, req, (uint32_t)written);
        any = true;
    }
    if (any)
        virtio_queue_notify(c->vd, RXQ);
}

size_t virtio_console_receive(struct virtio_console *c, const uint8_t *buf, size_t len)
{
    g_mutex_lock(&c->lock);
    size_t take = MIN(len, CONSOLE_PENDING - c->count);
    for (size_t i = 0; i < take; i++)
        c->pending[(c->head + c->count + i) % CONSOLE_PENDING] = buf[i];
    c->count += take;
    deliver(c);
    g_mutex_unlock(&c->lock);
    return take;
}

static void transmit(struct virtio_console *c)
{
    bool any = false;
    struct virtio_req *req;
    while (virtio_req_pop(c->vd, TXQ, &req) > 0) {
        for (uint32_t i = 0; i < req->out_num; i++)
            c->sink(c->opaque, req->out[i].iov_base, req->out[i].iov_len);
        virtio_req_push(c->vd, TXQ, req, 0);
        any = true;
    }
    if (any)
        virtio_queue_notify(c->vd, TXQ);
}

static void con_kick(void *dev, uint32_t q)
{
    struct virtio_console *c = dev;
    if (q == TXQ) {
        transmit(c);
        return;
    }
    g_mutex_lock(&c->lock);
    deliver(c);
    g_mutex_unlock(&c->lock);
}

static void con_reset(void *dev)
{
    struct virtio_console *c = dev;
    /* Wait for a delivery from the input thread; input not yet delivered
     * stays for the next driver. */
    g_mutex_lock(&c->lock);
    g_mutex_unlock(&c->lock);
}

static void con_free(void *dev)
{
    struct virtio_console *c = dev;
    /* First: the backend's input thread may be delivering to c. */
    if (c->release)
        c->release(c->opaque);
    g_mutex_clear(&c->lock);
    g_free(c);
}

/* Input the host sent and the guest has not read yet is the guest's as
 * much as bytes in a UART's FIFO: it goes into a snapshot. */
static int con_save(void *dev, struct snap_out *o)
{
    struct virtio_console *c = dev;
    g_mutex_lock(&c->lock);
    uint8_t *buf = g_malloc(c->count ? c->count : 1);
    for (size_t i = 0; i < c->count; i++)
        buf[i] = c->pending[(c->head + i) % CONSOLE_PENDING];
    snap_put_blob(o, buf, (uint32_t)c->count);
    g_mutex_unlock(&c->lock);
    g_free(buf);
    return 0;
}

static int con_load(void *dev, struct snap_in *in)
{
    struct virtio_console *c = dev;
    uint32_t n = 0;
    const uint8_t *p = snap_get_blob(in, "virtio-console input", CONSOLE_PENDING, &n);
    int rc = snap_in_finish(in);
    if (rc < 0)
        return rc;
    g_mutex_lock(&c->lock);
    if (n)
        memcpy(c->pending, p, n);
    c->head = 0;
    c->count = n;
    g_mutex_unlock(&c->lock);
    return 0;
}

const struct virtio_dev_ops virtio_console_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .queue_max = 256,
    .config_size = 12,
    .bind = con_bind,
    .config_read = con_config_read,
    .kick = con_kick,
    .reset = con_reset,
    .free = con_free,
    .state_version = 1,
    .save = con_save,
    .load = con_load,
};

struct virtio_console *virtio_console_state_new(virtio_console_sink_fn sink, void *opaque)
{
    if (!sink) {
        qv_error_set(QV_ERR_INVALID_ARG, "virtio-console needs an output sink");
        return NULL;
    }
    struct virtio_console *c = g_new0(struct virtio_console, 1);
    c->sink = sink;
    c->opaque = opaque;
    g_mutex_init(&c->lock);
    return c;
}

struct virtio_dev *virtio_console_new(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi,
                                      virtio_console_sink_fn sink, void *opaque,
                                      struct virtio_console **con)
{
    struct virtio_console *c = virtio_console_state_new(sink, opaque);
    if (!c)
        return NULL;
    struct virtio_dev *vd = virtio_mmio_new(host, base, gsi, &virtio_console_ops, c);
    if (!vd) {
        con_free(c);
        return NULL;
    }
    if (con)
        *con = c;
    return vd;
}

void virtio_console_set_release(struct virtio_console *c, void (*release)(void *opaque))
{
    c->release = release;
}
