/* virtio-rng: every buffer the driver offers is filled with bytes from
 * getrandom() and given back. The kick runs on the notifying thread; a
 * request is capped so one kick never holds a vCPU for long. */
#include <errno.h>
#include <glib.h>
#include <sys/random.h>

#include "virtio_rng.h"

/* The most bytes one request gets; the driver asks again for more. */
#define RNG_REQ_MAX (64 * 1024)

struct virtio_rng {
    struct virtio_dev *vd;
};

static void rng_bind(void *dev, struct virtio_dev *vd)
{
    ((struct virtio_rng *)dev)->vd = vd;
}

static size_t fill(uint8_t *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(p + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        done += (size_t)n;
    }
    return done;
}

static void rng_kick(void *dev, uint32_t q)
{
    struct virtio_rng *r = dev;
    struct virtio_req *req;
    bool any = false;
    while (virtio_req_pop(r->vd, q, &req) > 0) {
        size_t written = 0;
        for (uint32_t i = 0; i < req->in_num && written < RNG_REQ_MAX; i++) {
            size_t want = MIN(req->in[i].iov_len, RNG_REQ_MAX - written);
            size_t got = fill(req->in[i].iov_base, want);
            written += got;
            if (got < want)
                break;
        }
        virtio_req_push(r->vd, q, req, (uint32_t)written);
        any = true;
    }
    if (any)
        virtio_queue_notify(r->vd, q);
}

static void rng_free(void *dev)
{
    g_free(dev);
}

const struct virtio_dev_ops virtio_rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_max = 256,
    .bind = rng_bind,
    .kick = rng_kick,
    .free = rng_free,
};

void *virtio_rng_state_new(void)
{
    return g_new0(struct virtio_rng, 1);
}

struct virtio_dev *virtio_rng_new(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi)
{
    struct virtio_rng *r = virtio_rng_state_new();
    struct virtio_dev *vd = virtio_mmio_new(host, base, gsi, &virtio_rng_ops, r);
    if (!vd)
        g_free(r);
    return vd;
}
