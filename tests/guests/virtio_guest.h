/* A minimal virtio-mmio (virtio 1.1, modern, Version 2) driver for the
 * payloads: find a device by ID in the kvm board's windows, negotiate
 * VIRTIO_F_VERSION_1 and the features asked for, set up one split queue,
 * and run one descriptor chain at a time, polling the used ring (no
 * interrupts: the payloads run with interrupts off). Physical addresses
 * are the payload's own pointers (paging is off after a multiboot entry). */
#ifndef QV_GUEST_VIRTIO_H
#define QV_GUEST_VIRTIO_H

#include <stdint.h>

#include "guest.h"

/* docs/drivers.md: 0x200-byte windows from 0xe0000000, at most nine; and
 * QEMU's microvm machine's, from 0xfeb00000 (24 of them), so the same
 * payload runs there for comparison. */
#define VG_FIRST 0xe0000000u
#define VG_STEP 0x200u
#define VG_SLOTS 9
#define VG_MICROVM_FIRST 0xfeb00000u
#define VG_MICROVM_SLOTS 24

#define VG_MAGIC 0x000
#define VG_VERSION 0x004
#define VG_DEVICE_ID 0x008
#define VG_DEVICE_FEATURES 0x010
#define VG_DEVICE_FEATURES_SEL 0x014
#define VG_DRIVER_FEATURES 0x020
#define VG_DRIVER_FEATURES_SEL 0x024
#define VG_QUEUE_SEL 0x030
#define VG_QUEUE_NUM_MAX 0x034
#define VG_QUEUE_NUM 0x038
#define VG_QUEUE_READY 0x044
#define VG_QUEUE_NOTIFY 0x050
#define VG_STATUS 0x070
#define VG_QUEUE_DESC 0x080
#define VG_QUEUE_DRIVER 0x090
#define VG_QUEUE_DEVICE 0x0a0
#define VG_CONFIG 0x100

#define VG_S_ACK 1u
#define VG_S_DRIVER 2u
#define VG_S_DRIVER_OK 4u
#define VG_S_FEATURES_OK 8u
#define VG_S_NEEDS_RESET 64u

#define VG_QSIZE 8
#define VG_F_NEXT 1u
#define VG_F_WRITE 2u

struct vg_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct vg_avail {
    uint16_t flags, idx, ring[VG_QSIZE], used_event;
};
struct vg_used {
    uint16_t flags, idx;
    struct {
        uint32_t id, len;
    } ring[VG_QSIZE];
    uint16_t avail_event;
};

struct vg_queue {
    uint32_t base;
    struct vg_desc desc[VG_QSIZE] __attribute__((aligned(16)));
    struct vg_avail avail __attribute__((aligned(16)));
    struct vg_used used __attribute__((aligned(16)));
    uint16_t last_used;
};

static inline uint32_t vg_rd(uint32_t base, uint32_t off)
{
    return *(volatile uint32_t *)(uintptr_t)(base + off);
}
static inline void vg_wr(uint32_t base, uint32_t off, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)(base + off) = v;
}
static inline void vg_barrier(void)
{
    __asm__ volatile("" ::: "memory"); /* x86 keeps stores in order */
}

/* The window of the first device with this ID, or 0. */
static inline uint32_t vg_find_in(uint32_t first, uint32_t slots, uint32_t device_id)
{
    for (uint32_t i = 0; i < slots; i++) {
        uint32_t b = first + i * VG_STEP;
        if (vg_rd(b, VG_MAGIC) == 0x74726976u && vg_rd(b, VG_VERSION) == 2 &&
            vg_rd(b, VG_DEVICE_ID) == device_id)
            return b;
    }
    return 0;
}

static inline uint32_t vg_find(uint32_t device_id)
{
    uint32_t b = vg_find_in(VG_FIRST, VG_SLOTS, device_id);
    return b ? b : vg_find_in(VG_MICROVM_FIRST, VG_MICROVM_SLOTS, device_id);
}

/* Reset, acknowledge, and accept VERSION_1 plus those of want (features
 * 0-31) the device offers; the accepted low features, or -1 when the
 * device refuses FEATURES_OK. */
static inline int64_t vg_negotiate(uint32_t base, uint32_t want)
{
    vg_wr(base, VG_STATUS, 0);
    vg_wr(base, VG_STATUS, VG_S_ACK);
    vg_wr(base, VG_STATUS, VG_S_ACK | VG_S_DRIVER);
    vg_wr(base, VG_DEVICE_FEATURES_SEL, 0);
    uint32_t lo = vg_rd(base, VG_DEVICE_FEATURES) & want;
    vg_wr(base, VG_DEVICE_FEATURES_SEL, 1);
    if (!(vg_rd(base, VG_DEVICE_FEATURES) & 1u))
        return -1;
    vg_wr(base, VG_DRIVER_FEATURES_SEL, 0);
    vg_wr(base, VG_DRIVER_FEATURES, lo);
    vg_wr(base, VG_DRIVER_FEATURES_SEL, 1);
    vg_wr(base, VG_DRIVER_FEATURES, 1u); /* VIRTIO_F_VERSION_1 */
    vg_wr(base, VG_STATUS, VG_S_ACK | VG_S_DRIVER | VG_S_FEATURES_OK);
    if (!(vg_rd(base, VG_STATUS) & VG_S_FEATURES_OK))
        return -1;
    return lo;
}

static inline void vg_addr(uint32_t base, uint32_t off, const void *p)
{
    vg_wr(base, off, (uint32_t)(uintptr_t)p);
    vg_wr(base, off + 4, 0);
}

/* Queue index of q. 0, or -1 when the device has no such queue or one
 * smaller than VG_QSIZE. */
static inline int vg_queue(uint32_t base, struct vg_queue *q, uint32_t index)
{
    q->base = base;
    vg_wr(base, VG_QUEUE_SEL, index);
    if (vg_rd(base, VG_QUEUE_NUM_MAX) < VG_QSIZE)
        return -1;
    vg_wr(base, VG_QUEUE_NUM, VG_QSIZE);
    vg_addr(base, VG_QUEUE_DESC, q->desc);
    vg_addr(base, VG_QUEUE_DRIVER, &q->avail);
    vg_addr(base, VG_QUEUE_DEVICE, &q->used);
    vg_wr(base, VG_QUEUE_READY, 1);
    return 0;
}

static inline void vg_driver_ok(uint32_t base)
{
    vg_wr(base, VG_STATUS, VG_S_ACK | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
}

/* Queue index of q, then DRIVER_OK: a device of one queue. */
static inline int vg_start(uint32_t base, struct vg_queue *q, uint32_t index)
{
    if (vg_queue(base, q, index) < 0)
        return -1;
    vg_driver_ok(base);
    return 0;
}

/* One chain of n buffers (writable[i]: the device writes it), notified
 * on queue index and waited for; the length the device wrote, or -1 when
 * it set NEEDS_RESET instead. */
static inline int64_t vg_run(struct vg_queue *q, uint32_t index, unsigned n, void *const *buf,
                             const uint32_t *len, const uint8_t *writable)
{
    for (unsigned i = 0; i < n; i++) {
        q->desc[i].addr = (uint32_t)(uintptr_t)buf[i];
        q->desc[i].len = len[i];
        q->desc[i].flags = (uint16_t)((i + 1 < n ? VG_F_NEXT : 0) | (writable[i] ? VG_F_WRITE : 0));
        q->desc[i].next = (uint16_t)(i + 1);
    }
    q->avail.ring[q->avail.idx % VG_QSIZE] = 0;
    vg_barrier();
    q->avail.idx++;
    vg_barrier();
    vg_wr(q->base, VG_QUEUE_NOTIFY, index);
    while (*(volatile uint16_t *)&q->used.idx == q->last_used)
        if (vg_rd(q->base, VG_STATUS) & VG_S_NEEDS_RESET)
            return -1;
    vg_barrier();
    uint32_t got = q->used.ring[q->last_used % VG_QSIZE].len;
    q->last_used++;
    return got;
}

#endif
