/* Split virtqueues (virtio 1.1 §2.6): the device's side of the descriptor
 * table, the available ring and the used ring, all in guest memory the
 * driver may change at any moment. Each guest value is read once into a
 * local and checked before use: ring addresses and sizes when the queue
 * becomes ready, and for every chain the head index, each descriptor's
 * buffer against guest RAM, chain length (which catches loops), indirect
 * tables (size, nesting) and the order of readable and writable buffers.
 * A violation fails the device (NEEDS_RESET), never the VMM.
 *
 * Every write to guest RAM is marked dirty for the host (virtio_dev_mark):
 * the transport's own (used ring, avail_event) where it makes them, and a
 * device's answer as a whole when the request goes back (push) or is
 * dropped (reset): every device-writable buffer of the chain, whatever
 * the device says it wrote, since a device may write past what it reports
 * (virtio-blk's status byte sits after data it failed to read). Devices
 * write a request's buffers only between pop and push, so none of their
 * paths (preadv, getrandom, copies) needs to mark itself. */
#include <glib.h>
#include <string.h>

#include "virtio_dev.h"

enum {
    VIRTQ_DESC_F_NEXT = 1,
    VIRTQ_DESC_F_WRITE = 2,
    VIRTQ_DESC_F_INDIRECT = 4,
    VIRTQ_AVAIL_F_NO_INTERRUPT = 1,
    DESC_SIZE = 16,
};

/* A buffer's guest range, kept by the transport (a device may change its
 * iovecs, never this). */
struct virtq_span {
    uint64_t gpa;
    uint64_t len;
};

struct virtq_inflight {
    struct virtio_req req;
    struct virtq_inflight *prev, *next;
    uint32_t qi;  /* the queue it came from: a push goes back there */
    uint32_t gen; /* ... if the ring it came from is still the queue's */
    uint32_t cap;
    /* cap iovecs, then cap spans (inflight_spans), in one allocation. */
    struct iovec iov[];
};

static size_t inflight_size(uint32_t cap)
{
    return sizeof(struct virtq_inflight) + cap * (sizeof(struct iovec) + sizeof(struct virtq_span));
}

static struct virtq_span *inflight_spans(struct virtq_inflight *r)
{
    return (struct virtq_span *)(r->iov + r->cap);
}

/* The device-writable buffers of r, as the guest gave them: the device
 * may have written any of them. */
static void inflight_mark(const struct virtio_dev *vd, struct virtq_inflight *r)
{
    const struct virtq_span *sp = inflight_spans(r) + r->req.out_num;
    for (uint32_t i = 0; i < r->req.in_num; i++)
        virtio_dev_mark(vd, sp[i].gpa, sp[i].len);
}

/* Guest-shared fields: read and written once, as the driver may change
 * them concurrently; the ring layout guarantees their alignment. */
static uint16_t ld16(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static void st16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

static void st32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

/* Ring offsets (§2.6.6, §2.6.8): avail = flags, idx, ring[size],
 * used_event; used = flags, idx, {id, len}[size], avail_event. */
static uint8_t *avail_idx_p(struct virtq *q)
{
    return q->avail + 2;
}

static uint8_t *avail_ring_p(struct virtq *q, uint16_t i)
{
    return q->avail + 4 + 2u * (i & (q->size - 1));
}

static uint8_t *used_event_p(struct virtq *q)
{
    return q->avail + 4 + 2u * q->size;
}

static uint8_t *used_idx_p(struct virtq *q)
{
    return q->used + 2;
}

static uint8_t *used_elem_p(struct virtq *q, uint16_t i)
{
    return q->used + 4 + 8u * (i & (q->size - 1));
}

static uint8_t *avail_event_p(struct virtq *q)
{
    return q->used + 4 + 8u * q->size;
}

/* avail_event written (under q->lock). */
static void avail_event_mark(struct virtio_dev *vd, struct virtq *q)
{
    virtio_dev_mark(vd, q->used_at + 4 + 8u * q->size, 2);
}

void virtq_init(struct virtq *q)
{
    g_mutex_init(&q->kick_lock);
    g_mutex_init(&q->lock);
    g_cond_init(&q->drained);
    q->efd = -1;
}

char *virtq_check_layout(struct virtio_dev *vd, uint32_t qi, uint32_t n, uint64_t desc_gpa,
                         uint64_t avail_gpa, uint64_t used_gpa, struct virtq_rings *r)
{
    if (!virtio_is_pow2(n) || n > vd->ops->queue_max)
        return g_strdup_printf("queue %u: size %u is not a power of 2 up to %u", qi, n,
                               vd->ops->queue_max);
    if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
        return g_strdup_printf("queue %u: ring misaligned (descriptors 0x%llx need 16, driver "
                               "area 0x%llx needs 2, device area 0x%llx needs 4)",
                               qi, (unsigned long long)desc_gpa, (unsigned long long)avail_gpa,
                               (unsigned long long)used_gpa);
    r->desc = vd->host.guest_ram(vd->host.opaque, desc_gpa, (uint64_t)DESC_SIZE * n);
    r->avail = vd->host.guest_ram(vd->host.opaque, avail_gpa, 6 + 2 * (uint64_t)n);
    r->used = vd->host.guest_ram(vd->host.opaque, used_gpa, 6 + 8 * (uint64_t)n);
    r->used_gpa = used_gpa;
    if (!r->desc || !r->avail || !r->used)
        return g_strdup_printf("queue %u: %s ring at 0x%llx is not inside guest RAM", qi,
                               !r->desc    ? "descriptor"
                               : !r->avail ? "driver"
                                           : "device",
                               (unsigned long long)(!r->desc    ? desc_gpa
                                                    : !r->avail ? avail_gpa
                                                                : used_gpa));
    return NULL;
}

bool virtq_enable(struct virtio_dev *vd, struct virtq *q)
{
    uint32_t qi = (uint32_t)(q - vd->q);
    uint32_t n = q->num;
    struct virtq_rings r;
    g_autofree char *why =
        virtq_check_layout(vd, qi, n, q->desc_gpa, q->avail_gpa, q->used_gpa, &r);
    if (why) {
        virtio_dev_fail(vd, "%s", why);
        return false;
    }
    g_mutex_lock(&q->lock);
    q->desc = r.desc;
    q->avail = r.avail;
    q->used = r.used;
    q->used_at = r.used_gpa;
    q->size = (uint16_t)n;
    /* Both rings start at index 0 (§2.6.13), whatever the memory held
     * before; the device's side says so, and asks for every notification. */
    q->last_avail = 0;
    q->used_idx = 0;
    st16(r.used, 0);
    st16(r.used + 2, 0);
    st16(r.used + 4 + 8u * n, 0);
    virtio_dev_mark(vd, r.used_gpa, 4);
    avail_event_mark(vd, q);
    q->signalled_valid = q->unsignalled = false;
    q->gen++;
    g_mutex_unlock(&q->lock);
    return true;
}

void virtq_restore(struct virtq *q, const struct virtq_rings *r, uint16_t last_avail,
                   uint16_t used_idx, uint16_t signalled_used, bool signalled_valid)
{
    g_mutex_lock(&q->lock);
    q->desc = r->desc;
    q->avail = r->avail;
    q->used = r->used;
    q->used_at = r->used_gpa;
    q->size = (uint16_t)q->num;
    q->last_avail = last_avail;
    q->used_idx = used_idx;
    q->signalled_used = signalled_used;
    q->signalled_valid = signalled_valid;
    q->unsignalled = false;
    q->gen++;
    g_atomic_int_set(&q->ready, 1);
    g_mutex_unlock(&q->lock);
}

uint32_t virtq_inflight_count(const struct virtq *q)
{
    uint32_t n = 0;
    for (const struct virtq_inflight *r = q->inflight; r; r = r->next)
        n++;
    return n;
}

bool virtq_pending(struct virtio_dev *vd, struct virtq *q)
{
    (void)vd;
    g_mutex_lock(&q->lock);
    bool p = q->avail && ld16(avail_idx_p(q)) != q->last_avail;
    g_mutex_unlock(&q->lock);
    return p;
}

/* vd NULL: the device is going away with its machine, nothing to mark. */
static void inflight_free_all(struct virtio_dev *vd, struct virtq *q)
{
    while (q->inflight) {
        struct virtq_inflight *r = q->inflight;
        q->inflight = r->next;
        if (vd)
            inflight_mark(vd, r);
        g_free(r);
    }
    g_cond_broadcast(&q->drained);
}

void virtq_reset(struct virtio_dev *vd, struct virtq *q, uint16_t num_default)
{
    g_mutex_lock(&q->lock);
    inflight_free_all(vd, q);
    g_atomic_int_set(&q->ready, 0);
    q->num = num_default;
    q->desc_gpa = q->avail_gpa = q->used_gpa = 0;
    q->desc = q->avail = q->used = NULL;
    q->used_at = 0;
    q->size = 0;
    q->last_avail = q->used_idx = q->signalled_used = 0;
    q->signalled_valid = q->unsignalled = false;
    g_mutex_unlock(&q->lock);
}

void virtq_destroy(struct virtq *q)
{
    inflight_free_all(NULL, q);
    g_cond_clear(&q->drained);
    g_mutex_clear(&q->lock);
    g_mutex_clear(&q->kick_lock);
}

/* A chain being collected. */
struct walk {
    struct virtq_inflight *r;
    bool seen_in;
};

static bool walk_add(struct virtio_dev *vd, uint32_t qi, struct walk *w, uint64_t addr,
                     uint32_t len, bool write)
{
    struct virtio_req *req = &w->r->req;
    if (!write && w->seen_in) {
        virtio_dev_fail(vd,
                        "queue %u, chain %u: a device-readable buffer after a "
                        "device-writable one",
                        qi, req->head);
        return false;
    }
    w->seen_in |= write;
    uint64_t *total = write ? &req->in_len : &req->out_len;
    if (*total + len > (UINT64_C(1) << 32)) {
        virtio_dev_fail(vd, "queue %u, chain %u: buffers longer than 4 GiB in total", qi,
                        req->head);
        return false;
    }
    if (len == 0)
        return true; /* nothing to read or write: no iovec */
    void *p = vd->host.guest_ram(vd->host.opaque, addr, len);
    if (!p) {
        virtio_dev_fail(vd, "queue %u, chain %u: buffer [0x%llx, +0x%x) is not inside guest RAM",
                        qi, req->head, (unsigned long long)addr, len);
        return false;
    }
    *total += len;
    uint32_t n = req->out_num + req->in_num;
    if (n == w->r->cap) {
        /* The spans follow the iovecs: move them up past the new ones. */
        uint32_t cap = w->r->cap;
        w->r = g_realloc(w->r, inflight_size(cap * 2));
        w->r->cap = cap * 2;
        memmove(inflight_spans(w->r), w->r->iov + cap, cap * sizeof(struct virtq_span));
        req = &w->r->req;
    }
    w->r->iov[n].iov_base = p;
    w->r->iov[n].iov_len = len;
    inflight_spans(w->r)[n] = (struct virtq_span){.gpa = addr, .len = len};
    if (write)
        req->in_num++;
    else
        req->out_num++;
    return true;
}

/* Follow the chain starting at head into w; false when the driver broke
 * it (the device has failed). Under q->lock. */
static bool walk_chain(struct virtio_dev *vd, uint32_t qi, struct virtq *q, uint16_t head,
                       struct walk *w)
{
    const uint8_t *table = q->desc;
    uint32_t entries = q->size, seen = 0, i = head;
    bool indirect = false;
    for (;;) {
        if (++seen > entries) {
            virtio_dev_fail(vd, "queue %u, chain %u: more than %u descriptors%s (a loop?)", qi,
                            head, entries, indirect ? " in an indirect table" : "");
            return false;
        }
        uint8_t d[DESC_SIZE];
        memcpy(d, table + (size_t)i * DESC_SIZE, DESC_SIZE);
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
        memcpy(&addr, d, 8);
        memcpy(&len, d + 8, 4);
        memcpy(&flags, d + 12, 2);
        memcpy(&next, d + 14, 2);
        addr = GUINT64_FROM_LE(addr);
        len = GUINT32_FROM_LE(len);
        flags = GUINT16_FROM_LE(flags);
        next = GUINT16_FROM_LE(next);

        if (flags & VIRTQ_DESC_F_INDIRECT) {
            const char *bad = NULL;
            if (indirect)
                bad = "an indirect descriptor inside an indirect table";
            else if (!g_atomic_int_get(&vd->indirect))
                bad = "an indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC";
            else if (flags & VIRTQ_DESC_F_NEXT)
                bad = "an indirect descriptor with NEXT set";
            else if (len == 0 || len % DESC_SIZE || len / DESC_SIZE > VIRTQ_INDIRECT_MAX)
                bad = "an indirect table whose length is not 16 to 16384 in steps of 16";
            if (bad) {
                virtio_dev_fail(vd, "queue %u, chain %u: %s (length %u)", qi, head, bad, len);
                return false;
            }
            table = vd->host.guest_ram(vd->host.opaque, addr, len);
            if (!table) {
                virtio_dev_fail(vd,
                                "queue %u, chain %u: indirect table [0x%llx, +0x%x) is not "
                                "inside guest RAM",
                                qi, head, (unsigned long long)addr, len);
                return false;
            }
            /* The table's own descriptors are always read the same way. */
            indirect = true;
            entries = len / DESC_SIZE;
            seen = 0;
            i = 0;
            continue;
        }
        if (!walk_add(vd, qi, w, addr, len, flags & VIRTQ_DESC_F_WRITE))
            return false;
        if (!(flags & VIRTQ_DESC_F_NEXT))
            return true;
        if (next >= entries) {
            virtio_dev_fail(vd, "queue %u, chain %u: next index %u past the %u-entry %s", qi, head,
                            next, entries, indirect ? "indirect table" : "queue");
            return false;
        }
        i = next;
    }
}

int virtio_req_pop(struct virtio_dev *vd, uint32_t qi, struct virtio_req **out)
{
    *out = NULL;
    if (g_atomic_int_get(&vd->needs_reset))
        return -1;
    if (qi >= vd->nq || !g_atomic_int_get(&vd->running))
        return 0;
    struct virtq *q = &vd->q[qi];
    g_mutex_lock(&q->lock);
    /* Quiesced: what is available stays in the ring (checked under
     * q->lock, so virtio_dev_quiesce sees every request popped before). */
    if (!q->avail || g_atomic_int_get(&vd->quiesced)) {
        g_mutex_unlock(&q->lock);
        return 0;
    }
    bool event_idx = g_atomic_int_get(&vd->event_idx);
    uint16_t avail = __atomic_load_n((uint16_t *)avail_idx_p(q), __ATOMIC_ACQUIRE);
    if (avail == q->last_avail && event_idx) {
        /* Ask for a notification at the next buffer, then look again:
         * the driver may have added one before it saw avail_event. */
        st16(avail_event_p(q), avail);
        avail_event_mark(vd, q);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        avail = __atomic_load_n((uint16_t *)avail_idx_p(q), __ATOMIC_ACQUIRE);
    }
    uint16_t pending = (uint16_t)(avail - q->last_avail);
    if (pending == 0) {
        g_mutex_unlock(&q->lock);
        return 0;
    }
    if (pending > q->size) {
        virtio_dev_fail(vd, "queue %u: available index jumped from %u to %u (queue size %u)", qi,
                        q->last_avail, avail, q->size);
        g_mutex_unlock(&q->lock);
        return -1;
    }
    uint16_t head = ld16(avail_ring_p(q, q->last_avail));
    if (head >= q->size) {
        virtio_dev_fail(vd, "queue %u: available head %u past the %u-entry queue", qi, head,
                        q->size);
        g_mutex_unlock(&q->lock);
        return -1;
    }
    struct walk w = {.r = g_malloc0(inflight_size(4))};
    w.r->cap = 4;
    w.r->qi = qi;
    w.r->gen = q->gen;
    w.r->req.head = head;
    if (!walk_chain(vd, qi, q, head, &w)) {
        g_free(w.r);
        g_mutex_unlock(&q->lock);
        return -1;
    }
    q->last_avail++;
    if (event_idx) {
        st16(avail_event_p(q), q->last_avail);
        avail_event_mark(vd, q);
    }
    struct virtq_inflight *r = w.r;
    r->req.out = r->iov;
    r->req.in = r->iov + r->req.out_num;
    r->next = q->inflight;
    if (q->inflight)
        q->inflight->prev = r;
    q->inflight = r;
    g_mutex_unlock(&q->lock);
    *out = &r->req;
    return 1;
}

/* Under q->lock. */
static void inflight_unlink(struct virtq *q, struct virtq_inflight *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        q->inflight = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (!q->inflight)
        g_cond_broadcast(&q->drained); /* virtio_dev_quiesce waits for it */
}

void virtio_req_detach(struct virtio_dev *vd, uint32_t qi, struct virtio_req *req)
{
    if (!req)
        return;
    struct virtq_inflight *r = (struct virtq_inflight *)req;
    g_warn_if_fail(r->qi == qi);
    struct virtq *q = &vd->q[r->qi];
    g_mutex_lock(&q->lock);
    inflight_unlink(q, r);
    g_mutex_unlock(&q->lock);
    g_free(r);
}

void virtio_req_push(struct virtio_dev *vd, uint32_t qi, struct virtio_req *req, uint32_t written)
{
    if (!req)
        return;
    struct virtq_inflight *r = (struct virtq_inflight *)req;
    g_warn_if_fail(r->qi == qi);
    struct virtq *q = &vd->q[r->qi];
    /* Whether it goes back into a ring or nowhere (a queue disabled or
     * set up anew meanwhile), what the device wrote is in guest RAM. Marked
     * before the request leaves the in-flight list, which is what
     * virtio_dev_quiesce waits for: quiesced means marked. */
    inflight_mark(vd, r);
    g_mutex_lock(&q->lock);
    inflight_unlink(q, r);
    /* A queue disabled meanwhile, or set up anew since, takes nothing
     * back. */
    if (q->used && r->gen == q->gen) {
        if (written > req->in_len)
            written = (uint32_t)MIN(req->in_len, UINT32_MAX);
        uint8_t *e = used_elem_p(q, q->used_idx);
        st32(e, GUINT32_TO_LE(req->head));
        st32(e + 4, GUINT32_TO_LE(written));
        virtio_dev_mark(vd, q->used_at + (uint64_t)(e - q->used), 8);
        q->used_idx++;
        /* The element is visible before the index that publishes it. */
        __atomic_store_n((uint16_t *)used_idx_p(q), GUINT16_TO_LE(q->used_idx), __ATOMIC_RELEASE);
        virtio_dev_mark(vd, q->used_at + 2, 2);
        q->unsignalled = true;
    }
    g_mutex_unlock(&q->lock);
    g_free(r);
}

/* §2.6.7.2: with EVENT_IDX, interrupt only when used_event lies in
 * (old, new]. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void virtio_queue_notify(struct virtio_dev *vd, uint32_t qi)
{
    if (qi >= vd->nq)
        return;
    struct virtq *q = &vd->q[qi];
    g_mutex_lock(&q->lock);
    if (!q->avail) {
        g_mutex_unlock(&q->lock);
        return;
    }
    /* The used index is published before the driver's wish is read. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q->unsignalled = false;
    bool send;
    if (g_atomic_int_get(&vd->event_idx)) {
        uint16_t old = q->signalled_used;
        bool valid = q->signalled_valid;
        q->signalled_used = q->used_idx;
        q->signalled_valid = true;
        send = !valid || need_event(ld16(used_event_p(q)), q->used_idx, old);
    } else {
        send = !(ld16(q->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
    g_mutex_unlock(&q->lock);
    if (send)
        virtio_dev_interrupt(vd, VIRTIO_INT_VRING);
}

void virtio_req_done(struct virtio_dev *vd, uint32_t q, struct virtio_req *req, uint32_t written)
{
    virtio_req_push(vd, q, req, written);
    virtio_queue_notify(vd, q);
}
