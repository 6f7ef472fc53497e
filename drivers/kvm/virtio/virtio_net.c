/* virtio-net: frames between the virtqueues and a net backend.
 *
 * rx: the backend's thread delivers a frame; it goes straight into the
 * next rx buffer when the driver has one, else it waits in a backlog of at
 * most VIRTIO_NET_RX_BACKLOG frames, drained when the driver adds buffers
 * (its kick). A full backlog drops the frame and counts it, as a NIC whose
 * ring is full does, so the network side never waits on the guest and the
 * kick that drains never does unbounded work. tx runs on the driver's kick
 * (a vCPU or the transport's notification thread): each frame is copied
 * out and handed to the backend, which never blocks either.
 *
 * Lock order: tx_lock, then whatever the backend takes in send, then
 * rx_lock (a backend may deliver from inside send). */
#include <inttypes.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "../snapshot/snap_buf.h"
#include "virtio_net.h"

struct virtio_net {
    struct virtio_dev *vd;
    struct net_backend *be;
    uint8_t mac[6];

    GMutex tx_lock;
    uint8_t *tx_buf; /* VIRTIO_NET_MAX_FRAME, under tx_lock */

    GMutex rx_lock;
    GQueue backlog; /* GBytes *, under rx_lock */

    /* Each written under both locks, so either lock reads them. */
    bool running; /* between start and reset */
    bool failed;  /* virtio_dev_fail'ed: idle until the next start */

    struct virtio_net_stats st; /* __atomic */
};

static void count(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

/* Put frame in the next rx buffer. 1: a buffer was used (the frame is in
 * it, or was dropped because it did not fit); 0: no buffer; negative:
 * the ring is broken. Under rx_lock. */
static int rx_one(struct virtio_net *n, const uint8_t *frame, size_t len)
{
    struct virtio_req *req;
    int rc = virtio_req_pop(n->vd, VIRTIO_NET_RXQ, &req);
    if (rc <= 0)
        return rc;
    if (req->in_len < VIRTIO_NET_HDR_LEN + len) {
        /* A driver posting buffers below the MTU: the frame cannot go
         * anywhere, and the buffer goes back empty, which Linux counts
         * as a length error. */
        count(&n->st.rx_dropped, 1);
        virtio_req_push(n->vd, VIRTIO_NET_RXQ, req, 0);
        return 1;
    }
    /* flags, gso_type NONE, hdr_len, gso_size, csum_start, csum_offset all
     * 0; num_buffers 1 (little-endian). */
    uint8_t hdr[VIRTIO_NET_HDR_LEN] = {[10] = 1};
    virtio_iov_from_buf(req->in, req->in_num, 0, hdr, sizeof(hdr));
    virtio_iov_from_buf(req->in, req->in_num, sizeof(hdr), frame, len);
    virtio_req_push(n->vd, VIRTIO_NET_RXQ, req, (uint32_t)(sizeof(hdr) + len));
    count(&n->st.rx_packets, 1);
    count(&n->st.rx_bytes, len);
    return 1;
}

static void backlog_clear(struct virtio_net *n, bool drop)
{
    GBytes *b;
    while ((b = g_queue_pop_head(&n->backlog))) {
        if (drop)
            count(&n->st.rx_dropped, 1);
        g_bytes_unref(b);
    }
}

static void net_deliver(void *opaque, const uint8_t *frame, size_t len)
{
    struct virtio_net *n = opaque;
    g_mutex_lock(&n->rx_lock);
    if (!n->running || n->failed) {
        count(&n->st.rx_dropped, 1);
    } else if (g_queue_is_empty(&n->backlog)) {
        int rc = rx_one(n, frame, len);
        if (rc > 0)
            virtio_queue_notify(n->vd, VIRTIO_NET_RXQ);
        else if (rc < 0)
            count(&n->st.rx_dropped, 1);
        else
            g_queue_push_tail(&n->backlog, g_bytes_new(frame, len));
    } else if (g_queue_get_length(&n->backlog) >= VIRTIO_NET_RX_BACKLOG) {
        count(&n->st.rx_dropped, 1);
    } else {
        g_queue_push_tail(&n->backlog, g_bytes_new(frame, len));
    }
    g_mutex_unlock(&n->rx_lock);
}

static void net_rx_kick(struct virtio_net *n)
{
    g_mutex_lock(&n->rx_lock);
    bool used = false;
    GBytes *b;
    while (n->running && !n->failed && (b = g_queue_peek_head(&n->backlog))) {
        gsize len;
        const uint8_t *frame = g_bytes_get_data(b, &len);
        int rc = rx_one(n, frame, len);
        if (rc == 0)
            break;
        if (rc < 0) {
            backlog_clear(n, true);
            break;
        }
        used = true;
        g_bytes_unref(g_queue_pop_head(&n->backlog));
    }
    if (used)
        virtio_queue_notify(n->vd, VIRTIO_NET_RXQ);
    g_mutex_unlock(&n->rx_lock);
}

static void net_fail(struct virtio_net *n)
{
    g_mutex_lock(&n->rx_lock);
    n->failed = true;
    backlog_clear(n, true);
    g_mutex_unlock(&n->rx_lock);
}

static void net_tx_kick(struct virtio_net *n)
{
    g_mutex_lock(&n->tx_lock);
    bool used = false;
    while (n->running && !n->failed) {
        struct virtio_req *req;
        if (virtio_req_pop(n->vd, VIRTIO_NET_TXQ, &req) <= 0)
            break;
        if (req->out_len < VIRTIO_NET_HDR_LEN) {
            virtio_dev_fail(n->vd,
                            "a transmit request of %" PRIu64 " bytes is shorter than the %d-byte "
                            "virtio-net header",
                            req->out_len, VIRTIO_NET_HDR_LEN);
            virtio_req_push(n->vd, VIRTIO_NET_TXQ, req, 0);
            net_fail(n);
            break;
        }
        /* The header asks for nothing this device offers (no checksum or
         * segmentation offload), so only the frame after it matters. */
        uint64_t len = req->out_len - VIRTIO_NET_HDR_LEN;
        if (len < 14 || len > VIRTIO_NET_MAX_FRAME) {
            count(&n->st.tx_dropped, 1);
        } else {
            virtio_iov_to_buf(req->out, req->out_num, VIRTIO_NET_HDR_LEN, n->tx_buf, len);
            if (net_backend_send(n->be, n->tx_buf, len) < 0) {
                count(&n->st.tx_dropped, 1);
            } else {
                count(&n->st.tx_packets, 1);
                count(&n->st.tx_bytes, len);
            }
        }
        virtio_req_push(n->vd, VIRTIO_NET_TXQ, req, 0);
        used = true;
    }
    if (used)
        virtio_queue_notify(n->vd, VIRTIO_NET_TXQ);
    g_mutex_unlock(&n->tx_lock);
}

static void net_bind(void *dev, struct virtio_dev *vd)
{
    struct virtio_net *n = dev;
    n->vd = vd;
}

static void net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t size)
{
    struct virtio_net *n = dev;
    /* struct virtio_net_config: mac, status, max_virtqueue_pairs, mtu */
    uint8_t cfg[12] = {0};
    memcpy(cfg, n->mac, 6);
    cfg[6] = VIRTIO_NET_S_LINK_UP;
    cfg[8] = 1;
    cfg[10] = VIRTIO_NET_MTU & 0xff;
    cfg[11] = VIRTIO_NET_MTU >> 8;
    if (off < sizeof(cfg) && size <= sizeof(cfg) - off)
        memcpy(data, cfg + off, size);
}

static void net_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t size)
{
    /* Every field is read-only for a modern driver (the MAC is writable
     * only through legacy or the control queue, neither offered). */
    (void)dev, (void)off, (void)data, (void)size;
}

static int net_start(void *dev, uint64_t features)
{
    struct virtio_net *n = dev;
    (void)features; /* nothing offered changes what the device does */
    g_mutex_lock(&n->tx_lock);
    g_mutex_lock(&n->rx_lock);
    n->running = true;
    n->failed = false;
    g_mutex_unlock(&n->rx_lock);
    g_mutex_unlock(&n->tx_lock);
    return 0;
}

static void net_kick(void *dev, uint32_t q)
{
    struct virtio_net *n = dev;
    if (q == VIRTIO_NET_RXQ)
        net_rx_kick(n);
    else if (q == VIRTIO_NET_TXQ)
        net_tx_kick(n);
}

static void net_reset(void *dev)
{
    struct virtio_net *n = dev;
    /* Holding both locks means no request is in flight. */
    g_mutex_lock(&n->tx_lock);
    g_mutex_lock(&n->rx_lock);
    n->running = false;
    n->failed = false;
    backlog_clear(n, true);
    g_mutex_unlock(&n->rx_lock);
    g_mutex_unlock(&n->tx_lock);
}

void virtio_net_free(struct virtio_net *n)
{
    if (!n)
        return;
    /* The backend's thread is gone after this, so nothing delivers. */
    net_backend_free(n->be);
    backlog_clear(n, false);
    g_mutex_clear(&n->tx_lock);
    g_mutex_clear(&n->rx_lock);
    g_free(n->tx_buf);
    g_free(n);
}

static void net_free(void *dev)
{
    virtio_net_free(dev);
}

/* Its config space as the driver last read it: the MAC and the link
 * status. Frames waiting in the rx backlog are not saved: a snapshot
 * drops them as a full NIC ring would, and the network resends. */
static int net_save(void *dev, struct snap_out *o)
{
    struct virtio_net *n = dev;
    snap_put_bytes(o, n->mac, sizeof(n->mac));
    snap_put_u16(o, VIRTIO_NET_S_LINK_UP);
    return 0;
}

static int net_load(void *dev, struct snap_in *in)
{
    (void)dev;
    uint8_t mac[6];
    snap_get_bytes(in, "virtio-net MAC", mac, sizeof(mac));
    uint16_t status = snap_get_u16(in, "virtio-net status");
    if (snap_in_ok(in) && (mac[0] & 1))
        snap_in_fail(in, "virtio-net MAC %02x:%02x:%02x:%02x:%02x:%02x is a multicast address",
                     mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    if (snap_in_ok(in) && status != VIRTIO_NET_S_LINK_UP)
        snap_in_fail(in, "virtio-net status 0x%x is not the link-up status this device reports",
                     status);
    /* The device keeps the MAC of its definition: a clone restored from
     * this snapshot has a new one, which its guest sees when its driver
     * next reads the config space. */
    return snap_in_finish(in);
}

const struct virtio_dev_ops virtio_net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .features =
        (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MTU),
    .num_queues = 2,
    .queue_max = 256,
    .config_size = 12,
    .bind = net_bind,
    .config_read = net_config_read,
    .config_write = net_config_write,
    .start = net_start,
    .kick = net_kick,
    .reset = net_reset,
    .free = net_free,
    .state_version = 1,
    .save = net_save,
    .load = net_load,
};

struct virtio_net *virtio_net_new(const uint8_t mac[6], struct net_backend *be)
{
    struct virtio_net *n = g_new0(struct virtio_net, 1);
    memcpy(n->mac, mac, 6);
    n->be = be;
    n->tx_buf = g_malloc(VIRTIO_NET_MAX_FRAME);
    g_mutex_init(&n->tx_lock);
    g_mutex_init(&n->rx_lock);
    g_queue_init(&n->backlog);
    if (net_backend_start(be, net_deliver, n) < 0) {
        virtio_net_free(n);
        return NULL;
    }
    return n;
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out)
{
    out->rx_packets = __atomic_load_n(&n->st.rx_packets, __ATOMIC_RELAXED);
    out->rx_bytes = __atomic_load_n(&n->st.rx_bytes, __ATOMIC_RELAXED);
    out->rx_dropped = __atomic_load_n(&n->st.rx_dropped, __ATOMIC_RELAXED);
    out->tx_packets = __atomic_load_n(&n->st.tx_packets, __ATOMIC_RELAXED);
    out->tx_bytes = __atomic_load_n(&n->st.tx_bytes, __ATOMIC_RELAXED);
    out->tx_dropped = __atomic_load_n(&n->st.tx_dropped, __ATOMIC_RELAXED);
}
