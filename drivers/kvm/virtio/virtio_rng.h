/* virtio-rng (virtio 1.1 §5.4): one request queue, filled from the host's
 * getrandom(). */
#ifndef QV_KVM_VIRTIO_RNG_H
#define QV_KVM_VIRTIO_RNG_H

#include "virtio_mmio.h"

/* The device on its transport; free with virtio_mmio_free. NULL with the
 * error set. */
struct virtio_dev *virtio_rng_new(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi);

/* For a board that builds the transport itself (virtio_mmio_new with
 * these ops and this state, which ops->free frees). */
extern const struct virtio_dev_ops virtio_rng_ops;
void *virtio_rng_state_new(void);

#endif
