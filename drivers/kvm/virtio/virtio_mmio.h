/* The virtio-mmio transport (virtio 1.1 §4.2, Version 2 only). One
 * instance is one device's 0x200-byte register window: the board claims it
 * on the MMIO bus with virtio_mmio_io and announces it to Linux as
 * "virtio_mmio.device=0x200@BASE:GSI". */
#ifndef QV_KVM_VIRTIO_MMIO_H
#define QV_KVM_VIRTIO_MMIO_H

#include "../devices/bus.h"
#include "virtio.h"

#define VIRTIO_MMIO_SIZE 0x200

/* Build the transport for a device (ops + its state dev); calls ops->bind.
 * base and gsi are where the board placed it. NULL with the error set. */
struct virtio_dev *virtio_mmio_new(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi,
                                   const struct virtio_dev_ops *ops, void *dev);
/* Reset the device (ops->reset), stop the notification thread, release
 * eventfds, then ops->free. NULL is a no-op. */
void virtio_mmio_free(struct virtio_dev *vd);
/* The bus handler (a kvm_bus_fn) for the register window. */
void virtio_mmio_io(void *vd, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
/* The machine stops or resets: as a driver's reset of the device. */
void virtio_mmio_reset(struct virtio_dev *vd);

#endif
