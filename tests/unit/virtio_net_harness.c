/* The harness over the real virtio-mmio transport, driven by the test-side
 * virtio driver (virtio_test_driver.h): rings in a buffer standing for
 * guest RAM, registers written as a vCPU's MMIO exits would. */
#include <string.h>

#include "virtio_net_harness.h"
#include "virtio_test_driver.h"

#define NET_BASE 0xd0000000u
#define NET_GSI 5
#define RING 256
#define RAM (32u << 20)

struct nh {
    struct vtd_host host;
    struct vtd_dev d;
    struct virtio_dev *vd;
    uint64_t rx_gpa[RING]; /* by head: the buffer posted there */
    uint32_t rx_size[RING];
};

static struct nh *harness(struct virtio_net *n, bool notified)
{
    struct nh *h = g_new0(struct nh, 1);
    vtd_host_init(&h->host, RAM);
    h->host.host.vm_name = "net-test";
    if (notified)
        vtd_host_use_ioeventfd(&h->host);
    h->vd = virtio_mmio_new(&h->host.host, NET_BASE, NET_GSI, &virtio_net_ops, n);
    g_assert(h->vd);
    vtd_attach(&h->d, &h->host, h->vd, NET_BASE, NET_GSI);
    uint64_t f = VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_NET_F_MAC) | VTD_F(VIRTIO_NET_F_STATUS) |
                 VTD_F(VIRTIO_NET_F_MTU);
    g_assert(vtd_init(&h->d, f, 2, RING));
    return h;
}

struct nh *nh_new(struct virtio_net *n)
{
    return harness(n, false);
}

struct nh *nh_new_notified(struct virtio_net *n)
{
    return harness(n, true);
}

void nh_free(struct nh *h)
{
    virtio_mmio_free(h->vd);
    vtd_detach(&h->d);
    vtd_host_clear(&h->host);
    g_free(h);
}

static void post_one(struct nh *h, uint64_t gpa, uint32_t size)
{
    uint16_t head = vtd_add(&h->d, VIRTIO_NET_RXQ, NULL, 0, &(struct vtd_buf){gpa, size}, 1, false);
    h->rx_gpa[head] = gpa;
    h->rx_size[head] = size;
}

void nh_post_rx(struct nh *h, unsigned count, uint32_t size)
{
    for (unsigned i = 0; i < count; i++)
        post_one(h, vtd_alloc(&h->host, size, 8), size);
    vtd_kick(&h->d, VIRTIO_NET_RXQ);
}

/* Take back what the device used on the tx queue, so its descriptors are
 * free again. */
static void reap_tx(struct nh *h)
{
    uint32_t id, len;
    while (vtd_used(&h->d, VIRTIO_NET_TXQ, &id, &len))
        ;
}

void nh_send_raw(struct nh *h, const uint8_t *buf, size_t len)
{
    uint64_t gpa = vtd_alloc(&h->host, len ? len : 1, 8);
    memcpy(vtd_ptr(&h->host, gpa), buf, len);
    vtd_add(&h->d, VIRTIO_NET_TXQ, &(struct vtd_buf){gpa, (uint32_t)len}, 1, NULL, 0, false);
    vtd_kick(&h->d, VIRTIO_NET_TXQ);
    reap_tx(h);
}

void nh_send(struct nh *h, const GByteArray *frame)
{
    /* Header and frame in two descriptors, as Linux sends them. */
    uint64_t hdr = vtd_alloc(&h->host, VIRTIO_NET_HDR_LEN, 8);
    uint64_t data = vtd_alloc(&h->host, frame->len, 8);
    memcpy(vtd_ptr(&h->host, data), frame->data, frame->len);
    struct vtd_buf out[2] = {{hdr, VIRTIO_NET_HDR_LEN}, {data, frame->len}};
    vtd_add(&h->d, VIRTIO_NET_TXQ, out, 2, NULL, 0, false);
    vtd_kick(&h->d, VIRTIO_NET_TXQ);
    reap_tx(h);
}

GBytes *nh_wait_rx(struct nh *h, nh_match_fn match, void *arg, int timeout_ms,
                   uint8_t hdr[VIRTIO_NET_HDR_LEN])
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        int left = (int)((end - g_get_monotonic_time()) / 1000);
        uint32_t id, written;
        if (left < 0 || !vtd_wait_used(&h->d, VIRTIO_NET_RXQ, &id, &written, left))
            return NULL;
        g_assert(id < RING);
        uint64_t gpa = h->rx_gpa[id];
        uint32_t size = h->rx_size[id];
        g_assert(written <= size);
        const uint8_t *b = vtd_ptr(&h->host, gpa);
        GBytes *frame = NULL;
        struct nf_parsed p;
        if (written >= VIRTIO_NET_HDR_LEN &&
            nf_parse(b + VIRTIO_NET_HDR_LEN, written - VIRTIO_NET_HDR_LEN, &p) &&
            (!match || match(&p, arg))) {
            frame = g_bytes_new(b + VIRTIO_NET_HDR_LEN, written - VIRTIO_NET_HDR_LEN);
            if (hdr)
                memcpy(hdr, b, VIRTIO_NET_HDR_LEN);
        }
        post_one(h, gpa, size);
        vtd_kick(&h->d, VIRTIO_NET_RXQ);
        if (frame)
            return frame;
    }
}

unsigned nh_rx_used(struct nh *h, uint32_t *last_written)
{
    uint16_t idx = vtd_used_idx(&h->d, VIRTIO_NET_RXQ);
    if (last_written && idx) {
        /* struct virtq_used: flags, idx, then {id, len} entries. */
        const struct vtd_queue *q = h->d.q[VIRTIO_NET_RXQ];
        const uint8_t *e = vtd_ptr(&h->host, q->used + 4 + 8 * ((idx - 1u) % q->size));
        *last_written =
            (uint32_t)e[4] | (uint32_t)e[5] << 8 | (uint32_t)e[6] << 16 | (uint32_t)e[7] << 24;
    }
    return idx;
}

bool nh_failed(struct nh *h)
{
    return vtd_status(&h->d) & VTD_S_NEEDS_RESET;
}

void nh_config_read(struct nh *h, uint32_t off, uint8_t *data, uint32_t size)
{
    for (uint32_t i = 0; i < size; i++)
        data[i] = (uint8_t)vtd_config_read(&h->d, off + i, 1);
}

uint64_t nh_device_features(struct nh *h)
{
    return vtd_device_features(&h->d);
}
