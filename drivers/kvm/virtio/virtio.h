/* The device side of virtio (virtio 1.1, modern only). A device model
 * (virtio-blk, -net, -console, -rng) is a table of callbacks plus its own
 * state; the transport (virtio-mmio, virtio_mmio.h) owns feature
 * negotiation, the status register, the split virtqueues and the interrupt,
 * and hands the device one request at a time as host iovecs that it has
 * already checked against guest RAM. A device never reads a ring or a
 * descriptor itself. */
#ifndef QV_KVM_VIRTIO_H
#define QV_KVM_VIRTIO_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../devices/dev_host.h"

enum {
    VIRTIO_ID_NET = 1,
    VIRTIO_ID_BLOCK = 2,
    VIRTIO_ID_CONSOLE = 3,
    VIRTIO_ID_RNG = 4,
};

/* Transport feature bits the transport itself offers and handles; a
 * device's ops->features holds only its own (device-type) bits. */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* One descriptor chain (indirect tables already followed), as the device
 * sees it: out[] is what the driver wrote for the device to read, in[] is
 * where the device writes its answer, both in chain order, each iovec
 * inside guest RAM. Owned by the transport between pop and push. */
struct virtio_req {
    struct iovec *out, *in;
    uint32_t out_num, in_num;
    uint64_t out_len, in_len; /* totals, each at most 4 GiB */
    uint16_t head;            /* the transport's */
};

/* The transport's handle, given to the device by ops->bind. */
struct virtio_dev;
struct snap_out;
struct snap_in;

struct virtio_dev_ops {
    const char *name; /* "virtio-blk": for log lines */
    uint32_t device_id;
    uint64_t features; /* device-type bits offered (never bits 28-38) */
    uint32_t num_queues;
    uint16_t queue_max; /* QueueNumMax of every queue, a power of 2 */
    uint32_t config_size;

    /* Called once from the transport's constructor, before any other. */
    void (*bind)(void *dev, struct virtio_dev *vd);
    /* Device config space; the transport has checked off + size against
     * config_size. Any vCPU thread. */
    void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t size);
    void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t size);
    /* The driver set DRIVER_OK having accepted these features (always
     * including VIRTIO_F_VERSION_1). Negative: the transport sets
     * DEVICE_NEEDS_RESET. */
    int (*start)(void *dev, uint64_t features);
    /* The driver made buffers available on queue q (which is ready). From a
     * vCPU thread or the transport's notification thread; the transport
     * never calls it for one queue from two threads at once. */
    void (*kick)(void *dev, uint32_t q);
    /* The driver wrote 0 to Status, or the VM stops: stop touching the
     * queues and return only once no request is in flight. Requests
     * popped and not pushed are dropped by the transport afterwards. */
    void (*reset)(void *dev);
    void (*free)(void *dev);

    /* Optional: state of the device's own beyond what the transport saves
     * (registers, queues) and beyond what its definition rebuilds, for a
     * snapshot (virtio_state.h). save appends it in layout state_version;
     * load reads it back (the transport has checked the version and reset
     * the device), checks every value, and takes all or nothing (negative
     * with the qv error set from snap_in_finish). Without them the device
     * saves nothing of its own and a load refuses a section that has some.
     * Both run with the device quiesced or stopped: no request in flight. */
    uint32_t state_version;
    int (*save)(void *dev, struct snap_out *o);
    int (*load)(void *dev, struct snap_in *in);
};

/* Take the next available request of queue q. 1: *req is set; 0: the queue
 * is empty (or not ready, or the device is not running); negative: the
 * driver broke the ring or a chain (the transport has set NEEDS_RESET and
 * logged why; stop using the device until the next start). Thread-safe. */
int virtio_req_pop(struct virtio_dev *vd, uint32_t q, struct virtio_req **req);
/* Return req to the driver as used with `written` bytes written into its
 * in[] buffers, and free it. virtio_req_done also interrupts the driver
 * unless it asked not to be (VIRTQ_AVAIL_F_NO_INTERRUPT / used_event);
 * after a batch of virtio_req_push, call virtio_queue_notify once. */
void virtio_req_push(struct virtio_dev *vd, uint32_t q, struct virtio_req *req, uint32_t written);
/* Forget req without returning it (nothing was written into its buffers):
 * for a request the device failed on (virtio_dev_fail), which the driver
 * gets back only by resetting the device, as QEMU detaches such an
 * element. Its queue then has nothing in flight for a quiesce to wait
 * for. */
void virtio_req_detach(struct virtio_dev *vd, uint32_t q, struct virtio_req *req);
void virtio_queue_notify(struct virtio_dev *vd, uint32_t q);
void virtio_req_done(struct virtio_dev *vd, uint32_t q, struct virtio_req *req, uint32_t written);
/* The device's config space changed (e.g. a disk resized): interrupt. */
void virtio_config_changed(struct virtio_dev *vd);
/* The device cannot go on (a malformed request a device can detect, such
 * as a virtio-blk header shorter than 16 bytes): set DEVICE_NEEDS_RESET,
 * interrupt, and log "VM 'NAME': virtio-blk at 0x...: <why>" once. Every
 * other device and the VMM go on. */
void virtio_dev_fail(struct virtio_dev *vd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Copy helpers over a request's iovecs: they return the bytes copied,
 * which is less than len where the buffers end. */
size_t virtio_iov_to_buf(const struct iovec *iov, uint32_t n, size_t skip, void *buf, size_t len);
size_t virtio_iov_from_buf(const struct iovec *iov, uint32_t n, size_t skip, const void *buf,
                           size_t len);

#endif
