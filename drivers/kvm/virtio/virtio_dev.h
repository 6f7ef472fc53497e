/* The transport's private state, shared by its files (virtio_mmio.c: the
 * registers; virtqueue.c: the split rings; virtio_notify.c: the ioeventfd
 * thread). Devices see only virtio.h.
 *
 * Locks, taken in this order: vd->lock (registers; a vCPU's MMIO access),
 * then each queue's kick_lock (one ops->kick at a time; the reset holds all
 * of them so no kick runs while the device resets), then q->lock (the ring
 * and the requests in flight), then vd->irq_lock. virtio_req_pop/push and
 * virtio_dev_fail never take vd->lock or a kick_lock, so a device may call
 * them from its kick, its own threads, or while its reset waits. */
#ifndef QV_KVM_VIRTIO_DEV_H
#define QV_KVM_VIRTIO_DEV_H

#include "virtio.h"

/* QueueNotify's offset in the register window (virtio 1.1 §4.2.2): the
 * register the bus handler serves and the address ioeventfds watch. */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050

static inline bool virtio_is_pow2(uint32_t v)
{
    return v && !(v & (v - 1));
}

/* Status register bits (virtio 1.1 §2.1). */
enum {
    VIRTIO_STATUS_ACKNOWLEDGE = 1,
    VIRTIO_STATUS_DRIVER = 2,
    VIRTIO_STATUS_DRIVER_OK = 4,
    VIRTIO_STATUS_FEATURES_OK = 8,
    VIRTIO_STATUS_NEEDS_RESET = 0x40,
    VIRTIO_STATUS_FAILED = 0x80,
};

/* InterruptStatus bits (§4.2.2). */
enum {
    VIRTIO_INT_VRING = 1,
    VIRTIO_INT_CONFIG = 2,
};

/* The most descriptors an indirect table may hold: the guest chooses the
 * table's length, so it bounds what one request may allocate. */
#define VIRTQ_INDIRECT_MAX 1024

struct virtq_inflight; /* a popped request (virtqueue.c) */

struct virtq {
    GMutex kick_lock;
    GMutex lock;
    GCond drained; /* with q->lock: inflight became empty */
    /* Registers, under vd->lock; ready also read atomically by kicks. */
    uint32_t num;
    int ready;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    /* The ring in host memory, set when the queue became ready; under
     * q->lock. used_at: the device area's guest address, for marking
     * what the device writes there (virtio_dev_mark). */
    uint8_t *desc, *avail, *used;
    uint64_t used_at;
    uint16_t size;
    uint16_t last_avail; /* the next avail entry to pop */
    uint16_t used_idx;   /* our copy of used->idx */
    uint16_t signalled_used;
    bool signalled_valid;
    bool unsignalled; /* pushed since the last virtio_queue_notify */
    struct virtq_inflight *inflight;
    /* Bumped each time the queue becomes ready: a request popped from an
     * earlier ring is never pushed into the one the driver set up since. */
    uint32_t gen;
    /* ioeventfd for QueueNotify of this queue, or -1. */
    int efd;
};

struct virtio_dev {
    struct kvm_dev_host host;
    uint64_t base;
    uint32_t gsi;
    const struct virtio_dev_ops *ops;
    void *dev;

    GMutex lock;
    uint32_t dev_features_sel, drv_features_sel, queue_sel;
    uint64_t driver_features;
    uint32_t status; /* as the driver wrote it (NEEDS_RESET kept apart) */

    /* Read without vd->lock (atomics). */
    int running;     /* DRIVER_OK, started, not failed */
    int needs_reset; /* DEVICE_NEEDS_RESET */
    int event_idx;   /* VIRTIO_F_RING_EVENT_IDX accepted */
    int indirect;    /* VIRTIO_F_RING_INDIRECT_DESC accepted */
    /* virtio_dev_quiesce's count: while not 0 no kick reaches the device
     * and virtio_req_pop hands out nothing (virtio_state.c). */
    int quiesced;
    unsigned generation;
    int logged; /* lines logged: a guest must not flood the log */

    GMutex irq_lock;
    uint32_t isr;
    /* irqfd (virtio_notify.c): raising writes irq_fd; KVM lowers the line
     * at the guest's EOI and signals resample_fd, where the line is raised
     * again while InterruptStatus is not 0. -1 on the set_irq path. */
    int irq_fd, resample_fd;

    struct virtq *q;
    uint32_t nq;

    /* The ioeventfd thread (virtio_notify.c), NULL on the plain path. */
    GThread *notify_thread;
    int notify_stop_fd;
};

/* The transport wrote guest RAM [gpa, gpa + len) (a used ring, a
 * device's answer in a request's buffers): tell the host, after the
 * write (dev_host.h's mark_dirty). Lock-free, so under any lock. */
static inline void virtio_dev_mark(const struct virtio_dev *vd, uint64_t gpa, uint64_t len)
{
    if (vd->host.mark_dirty && len)
        vd->host.mark_dirty(vd->host.opaque, gpa, len);
}

/* virtio_mmio.c */
/* Raise InterruptStatus bits and the line. */
void virtio_dev_interrupt(struct virtio_dev *vd, uint32_t bits);
/* Call ops->kick for queue q if the device runs and q is ready; one kick
 * per queue at a time. Any thread. While the device is quiesced the kick
 * is left out: virtio_dev_unquiesce kicks every queue with buffers. */
void virtio_dev_kick(struct virtio_dev *vd, uint32_t q);
/* Back to the power-on state, as a driver's write of 0 to Status. Under
 * vd->lock. */
void virtio_dev_reset_locked(struct virtio_dev *vd);
/* The feature bits offered: the device's and the transport's. */
uint64_t virtio_dev_offered(const struct virtio_dev *vd);

/* virtqueue.c */
void virtq_init(struct virtq *q);
/* QueueReady=1: check the queue's registers and map its ring. false when
 * the driver got them wrong (the device has failed, saying why). Under
 * vd->lock. */
bool virtq_enable(struct virtio_dev *vd, struct virtq *q);
/* A queue's rings in host memory, and the device area's guest address. */
struct virtq_rings {
    uint8_t *desc, *avail, *used;
    uint64_t used_gpa;
};
/* The checks of QueueReady=1 on a layout (queue qi of vd, num entries, the
 * three ring addresses) without touching the device or the rings: NULL
 * with *r set, or why the layout is wrong (g_free it). */
char *virtq_check_layout(struct virtio_dev *vd, uint32_t qi, uint32_t num, uint64_t desc_gpa,
                         uint64_t avail_gpa, uint64_t used_gpa, struct virtq_rings *r);
/* A restored queue becomes ready on rings checked by virtq_check_layout,
 * carrying on from the indices saved (the rings are guest RAM, restored
 * with it, and are left as they are). Not under q->lock; the queue's
 * registers are the caller's (vd->lock). */
void virtq_restore(struct virtq *q, const struct virtq_rings *r, uint16_t last_avail,
                   uint16_t used_idx, uint16_t signalled_used, bool signalled_valid);
/* Popped requests not yet pushed. Under q->lock. */
uint32_t virtq_inflight_count(const struct virtq *q);
/* Does queue q have available buffers not yet popped? */
bool virtq_pending(struct virtio_dev *vd, struct virtq *q);
/* Back to the power-on state; drops (frees) the requests in flight: only
 * once the device no longer holds any. Their device-writable buffers are
 * marked dirty first (the device may have written them). */
void virtq_reset(struct virtio_dev *vd, struct virtq *q, uint16_t num_default);
void virtq_destroy(struct virtq *q);

/* virtio_notify.c */
/* Where the host offers them, give each queue an ioeventfd on QueueNotify
 * and the interrupt an irqfd with a resample fd, and start the thread
 * polling them. What the host refuses falls back to the exit path
 * (QueueNotify reaching virtio_mmio_io) and set_irq. */
void virtio_notify_start(struct virtio_dev *vd);
void virtio_notify_stop(struct virtio_dev *vd);
/* Raise the line through the irqfd; under vd->irq_lock. */
void virtio_notify_irq(struct virtio_dev *vd);

#endif
