#include "blk_req.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "../devices/bus.h"

uint64_t blk_features(const struct blk_disk *d)
{
    uint64_t f = BLK_FEATURES;
    if (d->readonly)
        f |= 1ull << VIRTIO_BLK_F_RO;
    return f;
}

void blk_config(const struct blk_disk *d, uint8_t *cfg)
{
    memset(cfg, 0, BLK_CONFIG_SIZE);
    kvm_bus_put(cfg + 0, 8, d->capacity);
    /* seg_max: a chain carries the header and the status besides the data,
     * and the transport's queues hold 256 descriptors. */
    kvm_bus_put(cfg + 12, 4, 254);
    kvm_bus_put(cfg + 20, 4, d->blk_size);
    kvm_bus_put(cfg + 36, 4, BLK_MAX_SECTORS);   /* max_discard_sectors */
    kvm_bus_put(cfg + 40, 4, BLK_MAX_SEGS);      /* max_discard_seg */
    kvm_bus_put(cfg + 44, 4, d->blk_size / 512); /* discard_sector_alignment */
    kvm_bus_put(cfg + 48, 4, BLK_MAX_SECTORS);   /* max_write_zeroes_sectors */
    kvm_bus_put(cfg + 52, 4, BLK_MAX_SEGS);      /* max_write_zeroes_seg */
    cfg[56] = d->unmap;                 /* write_zeroes_may_unmap */
}

/* dst (room for n) = the bytes [skip, skip + len) of src; returns the count. */
static uint32_t iov_slice(const struct iovec *src, uint32_t n, uint64_t skip, uint64_t len,
                          struct iovec *dst)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n && len; i++) {
        if (skip >= src[i].iov_len) {
            skip -= src[i].iov_len;
            continue;
        }
        size_t take = (size_t)MIN((uint64_t)src[i].iov_len - skip, len);
        dst[k].iov_base = (uint8_t *)src[i].iov_base + skip;
        dst[k].iov_len = take;
        k++;
        len -= take;
        skip = 0;
    }
    return k;
}

int blk_req_parse(const struct virtio_req *req, struct blk_req_hdr *h, char **why)
{
    uint8_t b[16];
    memset(h, 0, sizeof(*h));
    if (req->out_len < sizeof(b) ||
        virtio_iov_to_buf(req->out, req->out_num, 0, b, sizeof(b)) != sizeof(b)) {
        *why = g_strdup_printf("a request header of %" G_GUINT64_FORMAT " bytes (16 needed)",
                               req->out_len);
        return -1;
    }
    if (req->in_len < 1) {
        *why = g_strdup("a request without a writable byte for its status");
        return -1;
    }
    h->type = (uint32_t)kvm_bus_get(b, 4);
    h->sector = kvm_bus_get(b + 8, 8);
    if (h->type != VIRTIO_BLK_T_DISCARD && h->type != VIRTIO_BLK_T_WRITE_ZEROES)
        return 0;
    uint64_t len = req->out_len - 16;
    if (!len || len % 16 || len / 16 > BLK_MAX_SEGS)
        return 0;
    h->segs_ok = true;
    h->nseg = (uint32_t)(len / 16);
    for (uint32_t i = 0; i < h->nseg; i++) {
        virtio_iov_to_buf(req->out, req->out_num, 16 + 16 * (size_t)i, b, sizeof(b));
        h->segs[i].sector = kvm_bus_get(b, 8);
        h->segs[i].num = (uint32_t)kvm_bus_get(b + 8, 4);
        h->segs[i].flags = (uint32_t)kvm_bus_get(b + 12, 4);
    }
    return 0;
}

bool blk_req_cost(const struct virtio_req *req, const struct blk_req_hdr *h, bool *write,
                  uint64_t *bytes)
{
    switch (h->type) {
    case VIRTIO_BLK_T_IN:
        *write = false;
        *bytes = req->in_len - 1;
        return true;
    case VIRTIO_BLK_T_OUT:
        *write = true;
        *bytes = req->out_len - 16;
        return true;
    case VIRTIO_BLK_T_DISCARD:
        /* One write; nothing is written. */
        *write = true;
        *bytes = 0;
        return true;
    case VIRTIO_BLK_T_WRITE_ZEROES:
        /* Its ranges' bytes, as QEMU charges: without ZERO_RANGE the host
         * writes them all, though no data crosses the ring. */
        *write = true;
        *bytes = 0;
        for (uint32_t i = 0; i < h->nseg; i++)
            *bytes += h->segs[i].num * 512ull;
        return true;
    default: return false;
    }
}

static bool negotiated(const struct blk_disk *d, int bit)
{
    return d->features & (1ull << bit);
}

/* A range of `len` bytes at `sector`, checked against the capacity and
 * the logical block size. */
static bool range_ok(const struct blk_disk *d, uint64_t sector, uint64_t len)
{
    if (len % 512 || sector > d->capacity || len / 512 > d->capacity - sector)
        return false;
    uint32_t per_block = d->blk_size / 512;
    return sector % per_block == 0 && (len / 512) % per_block == 0;
}

/* Without FLUSH the driver cannot ask for one, so every write must be
 * durable when it completes (virtio 1.1 §5.2.6.2). */
static uint8_t after_write(struct blk_disk *d, int rc)
{
    if (!rc && !negotiated(d, VIRTIO_BLK_F_FLUSH))
        rc = blk_raw_flush(d->raw);
    return rc ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

static uint8_t do_rw(struct blk_disk *d, const struct virtio_req *req, const struct blk_req_hdr *h)
{
    bool write = h->type == VIRTIO_BLK_T_OUT;
    const struct iovec *src = write ? req->out : req->in;
    uint32_t n = write ? req->out_num : req->in_num;
    uint64_t skip = write ? 16 : 0;
    uint64_t len = write ? req->out_len - 16 : req->in_len - 1;
    if (!range_ok(d, h->sector, len) || (write && d->readonly))
        return VIRTIO_BLK_S_IOERR;
    if (!len)
        return VIRTIO_BLK_S_OK;
    struct iovec small[16];
    g_autofree struct iovec *big = n > G_N_ELEMENTS(small) ? g_new(struct iovec, n) : NULL;
    struct iovec *v = big ? big : small;
    uint32_t k = iov_slice(src, n, skip, len, v);
    uint64_t off = h->sector * 512;
    if (!write)
        return blk_raw_readv(d->raw, v, k, off) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
    return after_write(d, blk_raw_writev(d->raw, v, k, off));
}

static uint8_t do_ranges(struct blk_disk *d, const struct blk_req_hdr *h)
{
    bool zeroes = h->type == VIRTIO_BLK_T_WRITE_ZEROES;
    if (!negotiated(d, zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD))
        return VIRTIO_BLK_S_UNSUPP;
    if (!h->segs_ok)
        return VIRTIO_BLK_S_IOERR;
    uint32_t nseg = h->nseg;
    const struct blk_seg *segs = h->segs;
    uint32_t known = zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
    for (uint32_t i = 0; i < nseg; i++)
        if (segs[i].flags & ~known)
            return VIRTIO_BLK_S_UNSUPP;
    /* Every range is checked before any is carried out, so a bad one
     * leaves the disk as it was. */
    for (uint32_t i = 0; i < nseg; i++)
        if (segs[i].num > BLK_MAX_SECTORS || !range_ok(d, segs[i].sector, segs[i].num * 512ull))
            return VIRTIO_BLK_S_IOERR;
    if (d->readonly)
        return VIRTIO_BLK_S_IOERR;
    int rc = 0;
    for (uint32_t i = 0; i < nseg && !rc; i++) {
        uint64_t off = segs[i].sector * 512, n = segs[i].num * 512ull;
        if (!n)
            continue;
        if (!zeroes)
            rc = d->unmap ? blk_raw_discard(d->raw, off, n) : 0; /* discard='ignore' */
        else
            rc = blk_raw_write_zeroes(
                d->raw, off, n, d->unmap && (segs[i].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP));
    }
    return after_write(d, rc);
}

static uint8_t do_get_id(struct blk_disk *d, const struct virtio_req *req)
{
    uint64_t len = MIN(req->in_len - 1, (uint64_t)VIRTIO_BLK_ID_BYTES);
    virtio_iov_from_buf(req->in, req->in_num, 0, d->serial, (size_t)len);
    return VIRTIO_BLK_S_OK;
}

uint32_t blk_req_run(struct blk_disk *d, const struct virtio_req *req, const struct blk_req_hdr *h)
{
    uint8_t status;
    switch (h->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: status = do_rw(d, req, h); break;
    case VIRTIO_BLK_T_FLUSH:
        if (!negotiated(d, VIRTIO_BLK_F_FLUSH))
            status = VIRTIO_BLK_S_UNSUPP;
        else
            status = blk_raw_flush(d->raw) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
        break;
    case VIRTIO_BLK_T_GET_ID: status = do_get_id(d, req); break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: status = do_ranges(d, h); break;
    default: status = VIRTIO_BLK_S_UNSUPP; break;
    }
    virtio_iov_from_buf(req->in, req->in_num, (size_t)(req->in_len - 1), &status, 1);
    /* As QEMU does: the whole writable part is reported used. */
    return (uint32_t)MIN(req->in_len, (uint64_t)UINT32_MAX);
}

int blk_req_handle(struct blk_disk *d, const struct virtio_req *req, uint32_t *written, char **why)
{
    struct blk_req_hdr h;
    if (blk_req_parse(req, &h, why) < 0)
        return -1;
    *written = blk_req_run(d, req, &h);
    return 0;
}
