/* Disks on the QEMU command line: -blockdev file and format nodes (JSON,
 * so paths need no escaping) and the device on its bus. */
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"
#include "qemu_argv_machine.h"

int qemu_disk_cache_mode(const char *vm_name, const char *cache, gboolean *direct,
                         gboolean *no_flush, gboolean *write_cache)
{
    *direct = FALSE;
    *no_flush = FALSE;
    *write_cache = TRUE;
    if (!cache || strcmp(cache, "writeback") == 0)
        return 0;
    if (strcmp(cache, "none") == 0)
        *direct = TRUE;
    else if (strcmp(cache, "writethrough") == 0)
        *write_cache = FALSE;
    else if (strcmp(cache, "directsync") == 0) {
        *direct = TRUE;
        *write_cache = FALSE;
    } else if (strcmp(cache, "unsafe") == 0)
        *no_flush = TRUE;
    else
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': unknown disk cache mode '%s'", vm_name,
                            cache);
    return 0;
}

void qemu_blockdev_begin(JsonBuilder *b, const char *driver, const char *node, gboolean ro,
                         gboolean direct, gboolean no_flush, const char *discard)
{
    json_builder_begin_object(b);
    qemu_json_member_str(b, "driver", driver);
    qemu_json_member_str(b, "node-name", node);
    qemu_json_member_bool(b, "read-only", ro);
    json_builder_set_member_name(b, "cache");
    json_builder_begin_object(b);
    qemu_json_member_bool(b, "direct", direct);
    qemu_json_member_bool(b, "no-flush", no_flush);
    json_builder_end_object(b);
    if (discard)
        qemu_json_member_str(b, "discard", discard);
}

int qemu_argv_add_disk(struct qemu_argv *v, guint i)
{
    const struct qv_domain *def = v->def;
    const struct qv_disk *d = g_ptr_array_index(def->disks, i);
    /* <iotune> is applied over QMP at start (block_set_io_throttle). */
    if ((d->total_bytes_sec || d->total_iops_sec) && !d->source)
        return qemu_argv_unsupported(v, "<iotune> on an empty cdrom");
    if (d->logical_block_size)
        return qemu_argv_unsupported(v, "<blockio>");
    int idx = qemu_disk_index(d->target);
    if (idx < 0)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': disk target '%s' is not like vda or sdb",
                            def->name, d->target ? d->target : "");
    gboolean direct, no_flush, write_cache;
    int rc = qemu_disk_cache_mode(def->name, d->cache, &direct, &no_flush, &write_cache);
    if (rc < 0)
        return rc;
    if (d->io && strcmp(d->io, "native") && strcmp(d->io, "threads") && strcmp(d->io, "io_uring"))
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': unknown disk io mode '%s'", def->name,
                            d->io);
    if (d->io && strcmp(d->io, "native") == 0 && !direct)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': disk %s: io='native' needs cache='none' or 'directsync'",
                            def->name, d->target);
    if (d->discard && strcmp(d->discard, "unmap") && strcmp(d->discard, "ignore"))
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': unknown disk discard mode '%s'",
                            def->name, d->discard);
    const char *file = v->l->disk_files ? v->l->disk_files[i] : d->source;
    const char *format = v->l->disk_formats && v->l->disk_formats[i] ? v->l->disk_formats[i]
                         : d->driver_type                            ? d->driver_type
                                                                     : "raw";
    if (strcmp(format, "raw") && strcmp(format, "qcow2"))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': disk %s: format '%s' is not supported (raw or qcow2)",
                            def->name, d->target, format);
    bool cdrom = d->device == QV_DISK_CDROM;
    gboolean ro = d->readonly || cdrom;
    g_autofree char *node = g_strdup_printf("disk%u", i);
    if (file) {
        g_autofree char *file_node = g_strdup_printf("disk%u-file", i);
        g_autoptr(JsonBuilder) b = json_builder_new();
        qemu_blockdev_begin(b, "file", file_node, ro, direct, no_flush, d->discard);
        qemu_json_member_str(b, "filename", file);
        if (d->io)
            qemu_json_member_str(b, "aio", d->io);
        json_builder_end_object(b);
        qemu_argv_add(v, "-blockdev");
        g_ptr_array_add(v->a, qemu_json_text(b));
        g_autoptr(JsonBuilder) f = json_builder_new();
        qemu_blockdev_begin(f, format, node, ro, direct, no_flush, d->discard);
        qemu_json_member_str(f, "file", file_node);
        /* <backingStore/>: the image is used alone, whatever its header
         * names as a backing file (as libvirt opens it). */
        if (d->backing_end && !d->backing && strcmp(format, "qcow2") == 0 &&
            !(v->l->disk_files && v->l->disk_files[i] && d->source &&
              strcmp(v->l->disk_files[i], d->source) != 0)) {
            json_builder_set_member_name(f, "backing");
            json_builder_add_null_value(f);
        }
        json_builder_end_object(f);
        qemu_argv_add(v, "-blockdev");
        g_ptr_array_add(v->a, qemu_json_text(f));
    } else if (!cdrom) {
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': disk %s has no source", def->name,
                            d->target);
    }

    GString *dev = g_string_new(NULL);
    g_autofree char *at = NULL;
    g_autofree char *what = g_strdup_printf("<disk> '%s'", d->target);
    if (d->bus == QV_DISK_BUS_VIRTIO) {
        if (cdrom) {
            g_string_free(dev, TRUE);
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': a cdrom cannot be on the virtio bus (use scsi or ide)",
                                def->name);
        }
        g_string_append(dev, "virtio-blk-pci");
        rc = qemu_argv_device_at(v, &d->addr, what, &at);
        if (rc == 0 && d->iothread && !qemu_iothread_exists(def, d->iothread)) {
            g_string_free(dev, TRUE);
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': <disk> '%s' <driver iothread='%u'>: the VM has no "
                                "IOThread %u (<iothreads>, <iothreadids>)",
                                def->name, d->target, d->iothread, d->iothread);
        }
    } else {
        if (d->iothread) {
            g_string_free(dev, TRUE);
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': <disk> '%s' <driver iothread=>: only a virtio disk runs "
                                "in an IOThread of its own",
                                def->name, d->target);
        }
        if (d->bus == QV_DISK_BUS_SCSI && !v->scsi_added) {
            qemu_argv_add2(v, "-device", "virtio-scsi-pci,id=scsi0");
            v->scsi_added = true;
        }
        g_string_append(dev, d->bus == QV_DISK_BUS_SCSI ? (cdrom ? "scsi-cd" : "scsi-hd")
                                                        : (cdrom ? "ide-cd" : "ide-hd"));
        rc = qemu_argv_drive_at(v, d, idx, &at);
    }
    if (rc < 0) {
        g_string_free(dev, TRUE);
        return rc;
    }
    g_string_append(dev, at);
    if (file)
        g_string_append_printf(dev, ",drive=%s", node);
    g_string_append_printf(dev, ",id=%s", d->target);
    if (d->iothread)
        g_string_append_printf(dev, ",iothread=iothread%u", d->iothread);
    if (!cdrom)
        g_string_append_printf(dev, ",write-cache=%s", write_cache ? "on" : "off");
    if (d->boot_order)
        g_string_append_printf(dev, ",bootindex=%u", d->boot_order);
    if (d->serial && d->bus != QV_DISK_BUS_SCSI && strlen(d->serial) > 20) {
        g_string_free(dev, TRUE);
        /* virtio-blk's GET_ID and ATA IDENTIFY carry 20 bytes: QEMU would
         * cut the rest off without a word. */
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': <disk> '%s' <serial> '%s' is longer than the 20 characters "
                            "a %s disk can report",
                            def->name, d->target, d->serial, qv_conf_disk_buses[d->bus]);
    }
    if (d->serial) {
        g_autofree char *serial = qemu_opt_escape(d->serial);
        g_string_append_printf(dev, ",serial=%s", serial);
    }
    qemu_argv_add(v, "-device");
    g_ptr_array_add(v->a, g_string_free(dev, FALSE));
    return 0;
}
