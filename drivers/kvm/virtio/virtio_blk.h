/* virtio-blk on a raw image, one I/O thread per disk. The board builds
 * one per <disk> with virtio_blk_new and hands virtio_blk_ops(b) and b to
 * virtio_mmio_new; the transport's free then frees b. */
#ifndef QV_KVM_VIRTIO_BLK_H
#define QV_KVM_VIRTIO_BLK_H

#include "../../../lib/conf/domain.h"
#include "virtio.h"

struct virtio_blk;

/* What of a <disk> the device cannot honour, without opening anything:
 * 0, or QV_ERR_UNSUPPORTED naming the VM, the disk and the element (qcow2
 * and other formats, a backing chain, a cdrom or a bus other than virtio,
 * an empty source, io='native'/'io_uring', <driver iothread>, <boot
 * order>, a <serial> longer than 20 bytes). */
int virtio_blk_check(const char *vm_name, const struct qv_disk *disk);

/* Check the disk, open its image and start its I/O thread. NULL with the
 * error set (naming the disk) when it cannot. */
struct virtio_blk *virtio_blk_new(const struct kvm_dev_host *host, const struct qv_disk *disk);
/* The device's callbacks; they live as long as b. */
const struct virtio_dev_ops *virtio_blk_ops(struct virtio_blk *b);
/* For a device never handed to a transport (the transport calls
 * ops->free otherwise). NULL is a no-op. */
void virtio_blk_free(struct virtio_blk *b);

#endif
