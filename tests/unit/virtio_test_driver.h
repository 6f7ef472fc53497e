/* A virtio driver for unit tests: it plays the guest against a device on
 * the virtio-mmio transport without /dev/kvm. Guest RAM is a malloc'd
 * buffer at guest address 0; the host records interrupt levels and stop or
 * reset requests; registers are read and written through virtio_mmio_io as
 * a vCPU's MMIO exit would. With no ioeventfd, vtd_kick runs the device's
 * kick on the calling thread; after vtd_host_use_ioeventfd the host keeps
 * the eventfds the transport assigns and vtd_kick signals them as KVM
 * would, so the transport's notification thread kicks. A device finishing
 * requests on its own threads is waited for with vtd_wait_used. Every
 * write the transport reports through mark_dirty lands in a dirty bitmap
 * of guest RAM (the machine's piece, drivers/kvm/dirty), read back with
 * vtd_dirty_take; a mark outside guest RAM aborts the test.
 *
 * Typical use:
 *   struct vtd_host h; vtd_host_init(&h, 1 << 20);
 *   struct virtio_dev *vd = virtio_rng_new(&h.host, 0xd0000000, 5);
 *   struct vtd_dev d; vtd_attach(&d, &h, vd, 0xd0000000, 5);
 *   vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 16);
 *   uint64_t buf = vtd_alloc(&h, 64, 8);
 *   vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){buf, 64}, 1, false);
 *   vtd_kick(&d, 0);
 *   vtd_wait_used(&d, 0, &id, &len, 1000);
 */
#ifndef QV_TEST_VIRTIO_TEST_DRIVER_H
#define QV_TEST_VIRTIO_TEST_DRIVER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/kvm/dirty/dirty_bitmap.h"
#include "drivers/kvm/virtio/virtio_mmio.h"

#define VTD_F(bit) (UINT64_C(1) << (bit))
#define VTD_GSIS 32
#define VTD_MAX_QUEUES 8
#define VTD_MAX_IOEVENTFDS 64

/* Register offsets (virtio 1.1 §4.2.2). */
enum {
    VTD_MAGIC = 0x000,
    VTD_VERSION = 0x004,
    VTD_DEVICE_ID = 0x008,
    VTD_VENDOR_ID = 0x00c,
    VTD_DEVICE_FEATURES = 0x010,
    VTD_DEVICE_FEATURES_SEL = 0x014,
    VTD_DRIVER_FEATURES = 0x020,
    VTD_DRIVER_FEATURES_SEL = 0x024,
    VTD_QUEUE_SEL = 0x030,
    VTD_QUEUE_NUM_MAX = 0x034,
    VTD_QUEUE_NUM = 0x038,
    VTD_QUEUE_READY = 0x044,
    VTD_QUEUE_NOTIFY = 0x050,
    VTD_INTERRUPT_STATUS = 0x060,
    VTD_INTERRUPT_ACK = 0x064,
    VTD_STATUS = 0x070,
    VTD_QUEUE_DESC_LOW = 0x080,
    VTD_QUEUE_DESC_HIGH = 0x084,
    VTD_QUEUE_DRIVER_LOW = 0x090,
    VTD_QUEUE_DRIVER_HIGH = 0x094,
    VTD_QUEUE_DEVICE_LOW = 0x0a0,
    VTD_QUEUE_DEVICE_HIGH = 0x0a4,
    VTD_SHM_SEL = 0x0ac,
    VTD_SHM_LEN_LOW = 0x0b0,
    VTD_SHM_LEN_HIGH = 0x0b4,
    VTD_SHM_BASE_LOW = 0x0b8,
    VTD_SHM_BASE_HIGH = 0x0bc,
    VTD_CONFIG_GENERATION = 0x0fc,
    VTD_CONFIG = 0x100,
};

/* Status bits and descriptor/ring flags. */
enum {
    VTD_S_ACKNOWLEDGE = 1,
    VTD_S_DRIVER = 2,
    VTD_S_DRIVER_OK = 4,
    VTD_S_FEATURES_OK = 8,
    VTD_S_NEEDS_RESET = 0x40,
    VTD_S_FAILED = 0x80,
    VTD_D_NEXT = 1,
    VTD_D_WRITE = 2,
    VTD_D_INDIRECT = 4,
    VTD_AVAIL_NO_INTERRUPT = 1,
    VTD_INT_VRING = 1,
    VTD_INT_CONFIG = 2,
};

/* The machine around the device. */
struct vtd_host {
    struct kvm_dev_host host; /* give &h.host to the device's constructor */
    uint8_t *ram;
    uint64_t ram_size;
    uint64_t next_free; /* vtd_alloc's bump pointer */
    GMutex lock;
    GCond cond;
    int level[VTD_GSIS];       /* the line's level now */
    unsigned raised[VTD_GSIS]; /* set_irq(gsi, 1) calls so far */
    unsigned stops, resets;
    enum vm_state_reason stop_reason;
    int exit_status;
    /* Assigned ioeventfds (after vtd_host_use_ioeventfd). */
    struct {
        uint64_t addr, datamatch;
        int fd;
    } efd[VTD_MAX_IOEVENTFDS];
    unsigned n_efd;
    /* Assigned irqfds and their resample fds per GSI, -1 when none
     * (after vtd_host_use_irqfd). */
    int irqfd[VTD_GSIS], resamplefd[VTD_GSIS];
    /* Pages marked dirty since the last vtd_dirty_take (lock-free, as the
     * machine's). */
    struct dirty_bitmap *dirty;
};

void vtd_host_init(struct vtd_host *h, uint64_t ram_size);
void vtd_host_clear(struct vtd_host *h);
/* Offer ioeventfd to devices built after this call. */
void vtd_host_use_ioeventfd(struct vtd_host *h);
/* The eventfd assigned for a 4-byte write of datamatch at addr, or -1. */
int vtd_host_ioeventfd(struct vtd_host *h, uint64_t addr, uint64_t datamatch);
/* Offer irqfd (with resample) to devices built after this call. */
void vtd_host_use_irqfd(struct vtd_host *h);
/* How many times gsi's irqfd was written since the last call, waiting up to
 * timeout_ms for a first one; -1 when no irqfd is assigned. */
int vtd_irqfd_take(struct vtd_host *h, uint32_t gsi, int timeout_ms);
/* The guest's EOI on an irqfd line: KVM lowers it and signals the
 * resample fd. */
void vtd_irqfd_eoi(struct vtd_host *h, uint32_t gsi);
/* len zeroed bytes of guest RAM aligned to align; aborts when RAM is full. */
uint64_t vtd_alloc(struct vtd_host *h, uint64_t len, uint64_t align);
void *vtd_ptr(struct vtd_host *h, uint64_t gpa);
unsigned vtd_irq_count(struct vtd_host *h, uint32_t gsi);
/* The pages marked dirty since the last take, ascending, as "3 5 17" ("" for
 * none), and clear them (g_free the string). */
char *vtd_dirty_take(struct vtd_host *h);
int vtd_irq_level(struct vtd_host *h, uint32_t gsi);

struct vtd_queue {
    uint16_t size;
    uint64_t desc, avail, used; /* guest addresses */
    uint16_t avail_idx;         /* the driver's next avail index */
    uint16_t last_used;         /* the next used entry to collect */
    uint16_t chain_len[32768];  /* per head: descriptors to free */
    uint16_t chain[32768];      /* next descriptor in a chain (driver's view) */
    uint8_t busy[32768];
};

/* One device as the driver sees it. */
struct vtd_dev {
    struct vtd_host *h;
    struct virtio_dev *vd;
    uint64_t base;
    uint32_t gsi;
    struct vtd_queue *q[VTD_MAX_QUEUES];
};

/* Drive vd, built with base and gsi on host h. */
void vtd_attach(struct vtd_dev *d, struct vtd_host *h, struct virtio_dev *vd, uint64_t base,
                uint32_t gsi);
/* Free the queues' bookkeeping (not the device). */
void vtd_detach(struct vtd_dev *d);

/* A 32-bit register, as readl/writel. */
uint32_t vtd_read(struct vtd_dev *d, uint32_t off);
void vtd_write(struct vtd_dev *d, uint32_t off, uint32_t v);
/* Any access at any size (hostile tests). */
uint64_t vtd_read_sized(struct vtd_dev *d, uint32_t off, uint32_t size);
void vtd_write_sized(struct vtd_dev *d, uint32_t off, uint32_t size, uint64_t v);
uint64_t vtd_config_read(struct vtd_dev *d, uint32_t off, uint32_t size);
void vtd_config_write(struct vtd_dev *d, uint32_t off, uint32_t size, uint64_t v);

uint64_t vtd_device_features(struct vtd_dev *d);
uint32_t vtd_status(struct vtd_dev *d);
/* Reset, ACKNOWLEDGE|DRIVER, write features, FEATURES_OK; true when the
 * device kept FEATURES_OK. */
bool vtd_negotiate(struct vtd_dev *d, uint64_t features);
/* Lay out queue q with size entries in fresh guest RAM and set it ready;
 * true when QueueReady reads 1. */
bool vtd_queue_setup(struct vtd_dev *d, uint32_t q, uint16_t size);
/* As vtd_queue_setup with the ring addresses given (hostile tests). */
bool vtd_queue_setup_at(struct vtd_dev *d, uint32_t q, uint16_t size, uint64_t desc, uint64_t avail,
                        uint64_t used);
void vtd_driver_ok(struct vtd_dev *d);
/* negotiate + nq queues of size entries + DRIVER_OK; true on success. */
bool vtd_init(struct vtd_dev *d, uint64_t features, uint32_t nq, uint16_t size);

struct vtd_buf {
    uint64_t gpa;
    uint32_t len;
};

/* Make a chain available on queue q: the out buffers (device-readable)
 * then the in buffers (device-writable), directly or through one indirect
 * table in fresh guest RAM. Returns the head; does not kick. */
uint16_t vtd_add(struct vtd_dev *d, uint32_t q, const struct vtd_buf *out, uint32_t n_out,
                 const struct vtd_buf *in, uint32_t n_in, bool indirect);
/* Raw ring access for hostile tests. */
void vtd_desc_set(struct vtd_dev *d, uint32_t q, uint16_t i, uint64_t addr, uint32_t len,
                  uint16_t flags, uint16_t next);
/* Put head into the next avail slot and publish avail idx + 1. */
void vtd_avail_publish(struct vtd_dev *d, uint32_t q, uint16_t head);
void vtd_avail_set_idx(struct vtd_dev *d, uint32_t q, uint16_t idx);
void vtd_avail_set_flags(struct vtd_dev *d, uint32_t q, uint16_t flags);
void vtd_set_used_event(struct vtd_dev *d, uint32_t q, uint16_t v);
uint16_t vtd_avail_event(struct vtd_dev *d, uint32_t q);
uint16_t vtd_used_idx(struct vtd_dev *d, uint32_t q);

/* QueueNotify for q (through its ioeventfd when one is assigned). */
void vtd_kick(struct vtd_dev *d, uint32_t q);
/* The next used entry of q: false when there is none yet. */
bool vtd_used(struct vtd_dev *d, uint32_t q, uint32_t *id, uint32_t *len);
/* As vtd_used, waiting up to timeout_ms for it. */
bool vtd_wait_used(struct vtd_dev *d, uint32_t q, uint32_t *id, uint32_t *len, int timeout_ms);
/* Read InterruptStatus and acknowledge all of it; returns the bits. */
uint32_t vtd_ack(struct vtd_dev *d);

#endif
