/* One virtio-blk request carried out against the disk's backend (virtio
 * 1.1 §5.2.6): the part of the device that neither threads nor the
 * transport concern, so tests can hand it requests built over plain
 * buffers. */
#ifndef QV_KVM_BLK_REQ_H
#define QV_KVM_BLK_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include "blk_raw.h"
#include "virtio.h"

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u
#define VIRTIO_BLK_ID_BYTES 20

/* What the device tells the driver in its config space and holds requests
 * to: one discard or write-zeroes request covers at most BLK_MAX_SEGS
 * ranges of at most BLK_MAX_SECTORS each. */
#define BLK_MAX_SECTORS (1u << 22)
#define BLK_MAX_SEGS 32u
#define BLK_CONFIG_SIZE 60

struct blk_disk {
    struct blk_raw *raw;
    uint64_t capacity; /* 512-byte sectors */
    uint32_t blk_size; /* logical block size, a power of 2 from 512 */
    bool readonly;
    bool unmap; /* discard='unmap': discards and UNMAP write-zeroes free space */
    uint8_t serial[VIRTIO_BLK_ID_BYTES]; /* NUL padded */
    uint64_t features;                   /* what the driver accepted */
};

/* The feature bits offered to every driver; RO is added for a read-only
 * disk. */
#define BLK_FEATURES                                                                               \
    ((1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |                            \
     (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) |                               \
     (1ull << VIRTIO_BLK_F_WRITE_ZEROES))

/* The device's feature bits for d and its config space (BLK_CONFIG_SIZE
 * bytes, little endian). */
uint64_t blk_features(const struct blk_disk *d);
void blk_config(const struct blk_disk *d, uint8_t *cfg);

/* A request's header and, for discard and write-zeroes, its ranges: read
 * from guest memory once, so that what <iotune> charges and what is
 * carried out are the same request even if the guest rewrites its buffers
 * meanwhile. */
struct blk_seg {
    uint64_t sector;
    uint32_t num;
    uint32_t flags;
};

struct blk_req_hdr {
    uint32_t type;
    uint64_t sector;
    bool segs_ok; /* the data part is 1..BLK_MAX_SEGS whole ranges */
    uint32_t nseg;
    struct blk_seg segs[BLK_MAX_SEGS];
};

/* Read req's header into h: 0; or -1 with *why (g_free it) when the
 * request breaks the device's contract in a way only a reset clears (a
 * header shorter than 16 bytes, no byte for the status). */
int blk_req_parse(const struct virtio_req *req, struct blk_req_hdr *h, char **why);

/* What the request will cost under <iotune>: false for requests that are
 * not throttled (flush, get-id, unknown types). */
bool blk_req_cost(const struct virtio_req *req, const struct blk_req_hdr *h, bool *write,
                  uint64_t *bytes);

/* Carry out req as h (from blk_req_parse) says and write its status byte;
 * the bytes to report as used. */
uint32_t blk_req_run(struct blk_disk *d, const struct virtio_req *req, const struct blk_req_hdr *h);

/* blk_req_parse then blk_req_run: 0 with *written; or -1 with *why. */
int blk_req_handle(struct blk_disk *d, const struct virtio_req *req, uint32_t *written, char **why);

#endif
