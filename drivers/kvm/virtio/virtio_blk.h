/* virtio-blk (virtio 1.1 §5.2) on a raw image, one I/O thread per disk.
 * The board builds one per <disk> with virtio_blk_state_new. */
#ifndef QV_KVM_VIRTIO_BLK_H
#define QV_KVM_VIRTIO_BLK_H

#include "../../../lib/conf/domain.h"
#include "virtio_mmio.h"

struct virtio_blk;

/* What of a <disk> the device cannot honour, without opening anything:
 * 0, or QV_ERR_UNSUPPORTED naming the VM, the disk and the element (qcow2
 * and other formats, a backing chain, a cdrom or a bus other than virtio,
 * an empty source, io='native'/'io_uring', <driver iothread>, <boot
 * order>, a <serial> longer than 20 bytes). */
int virtio_blk_check(const char *vm_name, const struct qv_disk *disk);

/* Check the disk, open its image, and build the device on its transport
 * at base/gsi with its I/O thread; free with virtio_mmio_free. NULL with
 * the error set (naming the VM and the disk) when it cannot. */
struct virtio_dev *virtio_blk_new(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi,
                                  const struct qv_disk *disk);

/* For a board that builds the transport itself (kvm_board_add_virtio):
 * the checked disk with its image open and its I/O thread idle, and in
 * *ops the callbacks to give the transport with it. The transport's free
 * frees it through ops->free; when no transport took it (the board
 * refused it), call (*ops)->free(state) to close the image and end the
 * thread. NULL with the error set. */
void *virtio_blk_state_new(const struct kvm_dev_host *host, const struct qv_disk *disk,
                           const struct virtio_dev_ops **ops);

#endif
