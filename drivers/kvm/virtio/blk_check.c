/* What of a <disk> virtio-blk cannot honour, refused before anything is
 * opened. */
#include <string.h>

#include "../../../lib/util/error.h"
#include "blk_raw.h"
#include "blk_req.h"
#include "virtio_blk.h"

static int refuse(const char *vm, const struct qv_disk *d, const char *what)
{
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "VM '%s': disk '%s': %s is not supported by the kvm "
                        "driver",
                        vm, d->target ? d->target : "", what);
}

int virtio_blk_check(const char *vm, const struct qv_disk *d)
{
    if (d->device != QV_DISK_DISK)
        return refuse(vm, d, "device='cdrom' (the VMM has virtio-blk disks only)");
    if (d->bus != QV_DISK_BUS_VIRTIO)
        return refuse(vm, d, "a <target bus> other than virtio");
    if (!d->source)
        return refuse(vm, d, "a disk without a <source>");
    if (g_strcmp0(d->driver_type, "qcow2") == 0)
        return refuse(vm, d,
                      "<driver type='qcow2'> (exporting it through qemu-storage-daemon costs "
                      "more than the VMM's whole start-up, see docs/architecture.md; convert it "
                      "with 'qemu-img convert -O raw')");
    if (d->driver_type && strcmp(d->driver_type, "raw") != 0) {
        g_autofree char *what = g_strdup_printf("<driver type='%s'> (raw only)", d->driver_type);
        return refuse(vm, d, what);
    }
    if (d->backing)
        return refuse(vm, d, "a <backingStore> (raw images have no backing chain)");
    if (blk_cache_parse(d->cache) < 0) {
        g_autofree char *what = g_strdup_printf("<driver cache='%s'>", d->cache);
        return refuse(vm, d, what);
    }
    if (d->io && strcmp(d->io, "threads") != 0) {
        g_autofree char *what = g_strdup_printf(
            "<driver io='%s'> (each disk does its I/O on its own thread: io='threads')", d->io);
        return refuse(vm, d, what);
    }
    if (d->discard && strcmp(d->discard, "unmap") != 0 && strcmp(d->discard, "ignore") != 0) {
        g_autofree char *what = g_strdup_printf("<driver discard='%s'>", d->discard);
        return refuse(vm, d, what);
    }
    if (d->iothread)
        return refuse(vm, d, "<driver iothread> (each disk has its own I/O thread)");
    if (d->boot_order)
        return refuse(vm, d, "<boot order> (there is no firmware to boot from a disk)");
    if (d->serial && strlen(d->serial) > VIRTIO_BLK_ID_BYTES) {
        g_autofree char *what =
            g_strdup_printf("a <serial> of %zu bytes (virtio-blk carries at most %d)",
                            strlen(d->serial), VIRTIO_BLK_ID_BYTES);
        return refuse(vm, d, what);
    }
    return 0;
}
