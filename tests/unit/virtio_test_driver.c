/* The test-side virtio driver (see virtio_test_driver.h). */
#include "virtio_test_driver.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qv/error.h"

/* ---- the host ---- */

static void host_set_irq(void *opaque, uint32_t gsi, int level)
{
    struct vtd_host *h = opaque;
    if (gsi >= VTD_GSIS) {
        fprintf(stderr, "vtd: set_irq on gsi %u\n", gsi);
        abort();
    }
    g_mutex_lock(&h->lock);
    h->level[gsi] = level;
    if (level)
        h->raised[gsi]++;
    g_cond_broadcast(&h->cond);
    g_mutex_unlock(&h->lock);
}

static void host_request_stop(void *opaque, enum vm_state_reason reason, int exit_status)
{
    struct vtd_host *h = opaque;
    g_mutex_lock(&h->lock);
    if (!h->stops++) {
        h->stop_reason = reason;
        h->exit_status = exit_status;
    }
    g_mutex_unlock(&h->lock);
}

static void host_request_reset(void *opaque)
{
    struct vtd_host *h = opaque;
    g_mutex_lock(&h->lock);
    h->resets++;
    g_mutex_unlock(&h->lock);
}

static void *host_guest_ram(void *opaque, uint64_t gpa, uint64_t len)
{
    struct vtd_host *h = opaque;
    if (len == 0 || gpa >= h->ram_size || len > h->ram_size - gpa)
        return NULL;
    return h->ram + gpa;
}

static void host_mark_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
    struct vtd_host *h = opaque;
    if (dirty_bitmap_mark(h->dirty, gpa, len) < 0) {
        fprintf(stderr, "vtd: a write marked outside guest RAM: %s\n", qv_last_error()->message);
        abort();
    }
}

char *vtd_dirty_take(struct vtd_host *h)
{
    struct dirty_bitmap *b = dirty_bitmap_new(dirty_bitmap_pages(h->dirty));
    if (!b || dirty_bitmap_take(b, h->dirty) < 0)
        abort();
    GString *s = g_string_new(NULL);
    for (uint64_t p = 0; dirty_bitmap_next(b, p, &p); p++)
        g_string_append_printf(s, "%s%llu", s->len ? " " : "", (unsigned long long)p);
    dirty_bitmap_free(b);
    return g_string_free(s, FALSE);
}

void vtd_host_init(struct vtd_host *h, uint64_t ram_size)
{
    memset(h, 0, sizeof(*h));
    h->ram = g_malloc0(ram_size);
    h->ram_size = ram_size;
    h->next_free = 0x1000; /* guest address 0 stays unused */
    g_mutex_init(&h->lock);
    g_cond_init(&h->cond);
    for (int i = 0; i < VTD_GSIS; i++)
        h->irqfd[i] = h->resamplefd[i] = -1;
    h->host = (struct kvm_dev_host){
        .opaque = h,
        .vm_name = "vtd",
        .set_irq = host_set_irq,
        .request_stop = host_request_stop,
        .request_reset = host_request_reset,
        .guest_ram = host_guest_ram,
        .mark_dirty = host_mark_dirty,
    };
    h->dirty = dirty_bitmap_new((ram_size + DIRTY_PAGE_SIZE - 1) / DIRTY_PAGE_SIZE);
    if (!h->dirty)
        abort();
}

static int host_ioeventfd(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
                          bool assign)
{
    struct vtd_host *h = opaque;
    if (len != 4) {
        fprintf(stderr, "vtd: ioeventfd of %u bytes\n", len);
        abort();
    }
    g_mutex_lock(&h->lock);
    int rc = QV_ERR_INVALID_ARG;
    for (unsigned i = 0; i < h->n_efd; i++) {
        if (h->efd[i].addr == addr && h->efd[i].datamatch == datamatch) {
            if (!assign && h->efd[i].fd == fd) {
                h->efd[i] = h->efd[--h->n_efd];
                rc = 0;
            }
            goto out;
        }
    }
    if (assign && h->n_efd < VTD_MAX_IOEVENTFDS) {
        h->efd[h->n_efd].addr = addr;
        h->efd[h->n_efd].datamatch = datamatch;
        h->efd[h->n_efd].fd = fd;
        h->n_efd++;
        rc = 0;
    }
out:
    g_mutex_unlock(&h->lock);
    return rc;
}

void vtd_host_use_ioeventfd(struct vtd_host *h)
{
    h->host.ioeventfd = host_ioeventfd;
}

int vtd_host_ioeventfd(struct vtd_host *h, uint64_t addr, uint64_t datamatch)
{
    g_mutex_lock(&h->lock);
    int fd = -1;
    for (unsigned i = 0; i < h->n_efd; i++)
        if (h->efd[i].addr == addr && h->efd[i].datamatch == datamatch)
            fd = h->efd[i].fd;
    g_mutex_unlock(&h->lock);
    return fd;
}

static int host_irqfd(void *opaque, uint32_t gsi, int fd, int resample_fd, bool assign)
{
    struct vtd_host *h = opaque;
    if (gsi >= VTD_GSIS)
        return QV_ERR_INVALID_ARG;
    g_mutex_lock(&h->lock);
    int rc = QV_ERR_INVALID_ARG;
    if (assign && h->irqfd[gsi] < 0) {
        h->irqfd[gsi] = fd;
        h->resamplefd[gsi] = resample_fd;
        rc = 0;
    } else if (!assign && h->irqfd[gsi] == fd) {
        h->irqfd[gsi] = h->resamplefd[gsi] = -1;
        rc = 0;
    }
    g_mutex_unlock(&h->lock);
    return rc;
}

void vtd_host_use_irqfd(struct vtd_host *h)
{
    h->host.irqfd = host_irqfd;
}

int vtd_irqfd_take(struct vtd_host *h, uint32_t gsi, int timeout_ms)
{
    g_mutex_lock(&h->lock);
    int fd = gsi < VTD_GSIS ? h->irqfd[gsi] : -1;
    g_mutex_unlock(&h->lock);
    if (fd < 0)
        return -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return 0;
    uint64_t n = 0;
    if (read(fd, &n, sizeof(n)) != sizeof(n))
        return 0;
    return (int)n;
}

void vtd_irqfd_eoi(struct vtd_host *h, uint32_t gsi)
{
    g_mutex_lock(&h->lock);
    int fd = gsi < VTD_GSIS ? h->resamplefd[gsi] : -1;
    g_mutex_unlock(&h->lock);
    uint64_t one = 1;
    if (fd < 0 || write(fd, &one, sizeof(one)) != sizeof(one)) {
        fprintf(stderr, "vtd: no resample fd on gsi %u\n", gsi);
        abort();
    }
}

void vtd_host_clear(struct vtd_host *h)
{
    for (int i = 0; i < VTD_GSIS; i++) {
        if (h->irqfd[i] >= 0) {
            fprintf(stderr, "vtd: the irqfd of gsi %d is still assigned\n", i);
            abort();
        }
    }
    if (h->n_efd) {
        fprintf(stderr, "vtd: %u ioeventfds still assigned\n", h->n_efd);
        abort();
    }
    g_free(h->ram);
    h->ram = NULL;
    g_clear_pointer(&h->dirty, dirty_bitmap_free);
    g_mutex_clear(&h->lock);
    g_cond_clear(&h->cond);
}

uint64_t vtd_alloc(struct vtd_host *h, uint64_t len, uint64_t align)
{
    if (!align)
        align = 1;
    uint64_t at = (h->next_free + align - 1) & ~(align - 1);
    if (at > h->ram_size || len > h->ram_size - at) {
        fprintf(stderr, "vtd: guest RAM of %llu bytes is full\n", (unsigned long long)h->ram_size);
        abort();
    }
    h->next_free = at + len;
    memset(h->ram + at, 0, len);
    return at;
}

void *vtd_ptr(struct vtd_host *h, uint64_t gpa)
{
    if (gpa >= h->ram_size) {
        fprintf(stderr, "vtd: 0x%llx is past guest RAM\n", (unsigned long long)gpa);
        abort();
    }
    return h->ram + gpa;
}

unsigned vtd_irq_count(struct vtd_host *h, uint32_t gsi)
{
    g_mutex_lock(&h->lock);
    unsigned n = gsi < VTD_GSIS ? h->raised[gsi] : 0;
    g_mutex_unlock(&h->lock);
    return n;
}

int vtd_irq_level(struct vtd_host *h, uint32_t gsi)
{
    g_mutex_lock(&h->lock);
    int l = gsi < VTD_GSIS ? h->level[gsi] : 0;
    g_mutex_unlock(&h->lock);
    return l;
}

/* ---- registers ---- */

void vtd_attach(struct vtd_dev *d, struct vtd_host *h, struct virtio_dev *vd, uint64_t base,
                uint32_t gsi)
{
    memset(d, 0, sizeof(*d));
    d->h = h;
    d->vd = vd;
    d->base = base;
    d->gsi = gsi;
}

void vtd_detach(struct vtd_dev *d)
{
    for (int i = 0; i < VTD_MAX_QUEUES; i++)
        g_clear_pointer(&d->q[i], g_free);
}

uint64_t vtd_read_sized(struct vtd_dev *d, uint32_t off, uint32_t size)
{
    uint8_t data[8] = {0};
    virtio_mmio_io(d->vd, off, data, size, false);
    return kvm_bus_get(data, size);
}

void vtd_write_sized(struct vtd_dev *d, uint32_t off, uint32_t size, uint64_t v)
{
    uint8_t data[8];
    kvm_bus_put(data, size, v);
    virtio_mmio_io(d->vd, off, data, size, true);
}

uint32_t vtd_read(struct vtd_dev *d, uint32_t off)
{
    return (uint32_t)vtd_read_sized(d, off, 4);
}

void vtd_write(struct vtd_dev *d, uint32_t off, uint32_t v)
{
    vtd_write_sized(d, off, 4, v);
}

uint64_t vtd_config_read(struct vtd_dev *d, uint32_t off, uint32_t size)
{
    return vtd_read_sized(d, VTD_CONFIG + off, size);
}

void vtd_config_write(struct vtd_dev *d, uint32_t off, uint32_t size, uint64_t v)
{
    vtd_write_sized(d, VTD_CONFIG + off, size, v);
}

uint64_t vtd_device_features(struct vtd_dev *d)
{
    vtd_write(d, VTD_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = vtd_read(d, VTD_DEVICE_FEATURES);
    vtd_write(d, VTD_DEVICE_FEATURES_SEL, 1);
    uint64_t hi = vtd_read(d, VTD_DEVICE_FEATURES);
    return lo | hi << 32;
}

uint32_t vtd_status(struct vtd_dev *d)
{
    return vtd_read(d, VTD_STATUS);
}

bool vtd_negotiate(struct vtd_dev *d, uint64_t features)
{
    vtd_write(d, VTD_STATUS, 0);
    vtd_write(d, VTD_STATUS, VTD_S_ACKNOWLEDGE);
    vtd_write(d, VTD_STATUS, VTD_S_ACKNOWLEDGE | VTD_S_DRIVER);
    vtd_write(d, VTD_DRIVER_FEATURES_SEL, 0);
    vtd_write(d, VTD_DRIVER_FEATURES, (uint32_t)features);
    vtd_write(d, VTD_DRIVER_FEATURES_SEL, 1);
    vtd_write(d, VTD_DRIVER_FEATURES, (uint32_t)(features >> 32));
    vtd_write(d, VTD_STATUS, VTD_S_ACKNOWLEDGE | VTD_S_DRIVER | VTD_S_FEATURES_OK);
    return vtd_status(d) & VTD_S_FEATURES_OK;
}

bool vtd_queue_setup_at(struct vtd_dev *d, uint32_t q, uint16_t size, uint64_t desc, uint64_t avail,
                        uint64_t used)
{
    if (q >= VTD_MAX_QUEUES)
        abort();
    g_free(d->q[q]);
    struct vtd_queue *vq = d->q[q] = g_new0(struct vtd_queue, 1);
    vq->size = size;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vtd_write(d, VTD_QUEUE_SEL, q);
    vtd_write(d, VTD_QUEUE_NUM, size);
    vtd_write(d, VTD_QUEUE_DESC_LOW, (uint32_t)desc);
    vtd_write(d, VTD_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    vtd_write(d, VTD_QUEUE_DRIVER_LOW, (uint32_t)avail);
    vtd_write(d, VTD_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    vtd_write(d, VTD_QUEUE_DEVICE_LOW, (uint32_t)used);
    vtd_write(d, VTD_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    vtd_write(d, VTD_QUEUE_READY, 1);
    return vtd_read(d, VTD_QUEUE_READY) == 1;
}

bool vtd_queue_setup(struct vtd_dev *d, uint32_t q, uint16_t size)
{
    uint64_t desc = vtd_alloc(d->h, 16ull * size, 16);
    uint64_t avail = vtd_alloc(d->h, 6 + 2ull * size, 2);
    uint64_t used = vtd_alloc(d->h, 6 + 8ull * size, 4);
    return vtd_queue_setup_at(d, q, size, desc, avail, used);
}

void vtd_driver_ok(struct vtd_dev *d)
{
    vtd_write(d, VTD_STATUS, vtd_status(d) | VTD_S_DRIVER_OK);
}

bool vtd_init(struct vtd_dev *d, uint64_t features, uint32_t nq, uint16_t size)
{
    if (!vtd_negotiate(d, features))
        return false;
    for (uint32_t i = 0; i < nq; i++)
        if (!vtd_queue_setup(d, i, size))
            return false;
    vtd_driver_ok(d);
    return (vtd_status(d) & (VTD_S_DRIVER_OK | VTD_S_NEEDS_RESET)) == VTD_S_DRIVER_OK;
}

/* ---- rings ---- */

static struct vtd_queue *queue(struct vtd_dev *d, uint32_t q)
{
    if (q >= VTD_MAX_QUEUES || !d->q[q]) {
        fprintf(stderr, "vtd: queue %u was not set up\n", q);
        abort();
    }
    return d->q[q];
}

void vtd_desc_set(struct vtd_dev *d, uint32_t q, uint16_t i, uint64_t addr, uint32_t len,
                  uint16_t flags, uint16_t next)
{
    struct vtd_queue *vq = queue(d, q);
    uint8_t *p = vtd_ptr(d->h, vq->desc + 16ull * i);
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

static uint16_t *avail_field(struct vtd_dev *d, struct vtd_queue *vq, uint32_t off)
{
    return (uint16_t *)vtd_ptr(d->h, vq->avail + off);
}

void vtd_avail_set_idx(struct vtd_dev *d, uint32_t q, uint16_t idx)
{
    struct vtd_queue *vq = queue(d, q);
    vq->avail_idx = idx;
    /* The ring entries are visible before the index that publishes them. */
    __atomic_store_n(avail_field(d, vq, 2), idx, __ATOMIC_RELEASE);
}

void vtd_avail_publish(struct vtd_dev *d, uint32_t q, uint16_t head)
{
    struct vtd_queue *vq = queue(d, q);
    *avail_field(d, vq, 4 + 2u * (vq->avail_idx % vq->size)) = head;
    vtd_avail_set_idx(d, q, (uint16_t)(vq->avail_idx + 1));
}

void vtd_avail_set_flags(struct vtd_dev *d, uint32_t q, uint16_t flags)
{
    struct vtd_queue *vq = queue(d, q);
    __atomic_store_n(avail_field(d, vq, 0), flags, __ATOMIC_RELEASE);
}

void vtd_set_used_event(struct vtd_dev *d, uint32_t q, uint16_t v)
{
    struct vtd_queue *vq = queue(d, q);
    __atomic_store_n(avail_field(d, vq, 4 + 2u * vq->size), v, __ATOMIC_RELEASE);
}

uint16_t vtd_avail_event(struct vtd_dev *d, uint32_t q)
{
    struct vtd_queue *vq = queue(d, q);
    return __atomic_load_n((uint16_t *)vtd_ptr(d->h, vq->used + 4 + 8u * vq->size),
                           __ATOMIC_ACQUIRE);
}

uint16_t vtd_used_idx(struct vtd_dev *d, uint32_t q)
{
    struct vtd_queue *vq = queue(d, q);
    return __atomic_load_n((uint16_t *)vtd_ptr(d->h, vq->used + 2), __ATOMIC_ACQUIRE);
}

static uint16_t take_desc(struct vtd_queue *vq)
{
    for (uint32_t i = 0; i < vq->size; i++) {
        if (!vq->busy[i]) {
            vq->busy[i] = 1;
            return (uint16_t)i;
        }
    }
    fprintf(stderr, "vtd: all %u descriptors are in use\n", vq->size);
    abort();
}

uint16_t vtd_add(struct vtd_dev *d, uint32_t q, const struct vtd_buf *out, uint32_t n_out,
                 const struct vtd_buf *in, uint32_t n_in, bool indirect)
{
    struct vtd_queue *vq = queue(d, q);
    uint32_t n = n_out + n_in;
    if (n == 0) {
        fprintf(stderr, "vtd: a chain needs a buffer\n");
        abort();
    }
    uint16_t head;
    if (indirect) {
        uint64_t table = vtd_alloc(d->h, 16ull * n, 16);
        uint8_t *t = vtd_ptr(d->h, table);
        for (uint32_t i = 0; i < n; i++) {
            const struct vtd_buf *b = i < n_out ? &out[i] : &in[i - n_out];
            uint16_t flags = (i < n_out ? 0 : VTD_D_WRITE) | (i + 1 < n ? VTD_D_NEXT : 0);
            uint16_t next = (uint16_t)(i + 1 < n ? i + 1 : 0);
            memcpy(t + 16 * i, &b->gpa, 8);
            memcpy(t + 16 * i + 8, &b->len, 4);
            memcpy(t + 16 * i + 12, &flags, 2);
            memcpy(t + 16 * i + 14, &next, 2);
        }
        head = take_desc(vq);
        vtd_desc_set(d, q, head, table, 16 * n, VTD_D_INDIRECT, 0);
        vq->chain_len[head] = 1;
    } else {
        uint16_t idx[n];
        for (uint32_t i = 0; i < n; i++)
            idx[i] = take_desc(vq);
        for (uint32_t i = 0; i < n; i++) {
            const struct vtd_buf *b = i < n_out ? &out[i] : &in[i - n_out];
            uint16_t flags = (i < n_out ? 0 : VTD_D_WRITE) | (i + 1 < n ? VTD_D_NEXT : 0);
            vtd_desc_set(d, q, idx[i], b->gpa, b->len, flags, i + 1 < n ? idx[i + 1] : 0);
            vq->chain[idx[i]] = i + 1 < n ? idx[i + 1] : 0;
        }
        head = idx[0];
        vq->chain_len[head] = (uint16_t)n;
    }
    vtd_avail_publish(d, q, head);
    return head;
}

void vtd_kick(struct vtd_dev *d, uint32_t q)
{
    int fd = vtd_host_ioeventfd(d->h, d->base + VTD_QUEUE_NOTIFY, q);
    if (fd < 0) {
        vtd_write(d, VTD_QUEUE_NOTIFY, q);
        return;
    }
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) != sizeof(one)) {
        perror("vtd: signalling an ioeventfd");
        abort();
    }
}

bool vtd_used(struct vtd_dev *d, uint32_t q, uint32_t *id, uint32_t *len)
{
    struct vtd_queue *vq = queue(d, q);
    if (vtd_used_idx(d, q) == vq->last_used)
        return false;
    const uint8_t *e = vtd_ptr(d->h, vq->used + 4 + 8u * (vq->last_used % vq->size));
    uint32_t i, l;
    memcpy(&i, e, 4);
    memcpy(&l, e + 4, 4);
    vq->last_used++;
    if (i < vq->size && vq->busy[i]) {
        uint16_t k = (uint16_t)i;
        for (uint16_t c = 0; c < vq->chain_len[i]; c++) {
            vq->busy[k] = 0;
            k = vq->chain[k];
        }
    }
    if (id)
        *id = i;
    if (len)
        *len = l;
    return true;
}

bool vtd_wait_used(struct vtd_dev *d, uint32_t q, uint32_t *id, uint32_t *len, int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        if (vtd_used(d, q, id, len))
            return true;
        if (g_get_monotonic_time() >= end)
            return false;
        g_usleep(200);
    }
}

uint32_t vtd_ack(struct vtd_dev *d)
{
    uint32_t v = vtd_read(d, VTD_INTERRUPT_STATUS);
    if (v)
        vtd_write(d, VTD_INTERRUPT_ACK, v);
    return v;
}
