/* virtio-console (virtio 1.1 §5.3) with one port and no MULTIPORT: the
 * guest's hvc0, a second path for the VM's console besides the UART. */
#ifndef QV_KVM_VIRTIO_CONSOLE_H
#define QV_KVM_VIRTIO_CONSOLE_H

#include <stddef.h>

#include "virtio_mmio.h"

struct virtio_console;

/* Where the guest's output goes; called from the notifying thread. */
typedef void (*virtio_console_sink_fn)(void *opaque, const uint8_t *buf, size_t len);

/* The device on its transport; free with virtio_mmio_free, which frees
 * *con too. NULL with the error set. */
struct virtio_dev *virtio_console_new(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi,
                                      virtio_console_sink_fn sink, void *opaque,
                                      struct virtio_console **con);
/* For a board that builds the transport itself (virtio_mmio_new with
 * these ops and this state, which ops->free frees). NULL with the error
 * set. */
extern const struct virtio_dev_ops virtio_console_ops;
struct virtio_console *virtio_console_state_new(virtio_console_sink_fn sink, void *opaque);
/* Console input for the guest, from any thread. Returns how many bytes
 * were taken: they wait in a small buffer until the driver offers receive
 * buffers; the rest does not fit now. */
size_t virtio_console_receive(struct virtio_console *c, const uint8_t *buf, size_t len);
/* release(opaque) is called when the device is freed, before anything
 * else: the sink's owner closes it there (and stops what feeds
 * virtio_console_receive). */
void virtio_console_set_release(struct virtio_console *c, void (*release)(void *opaque));

#endif
