/* The bus controllers a definition adds beyond the machine's own:
 * virtio-serial (the bus of <channel>s), SCSI host adapters and further
 * AHCI (SATA) controllers, each as libvirt names it (id=TYPE<index>, so
 * the devices libvirt puts on it find it). The SCSI controller of index 0
 * is the one qv's SCSI disks use (bus scsi0.0). */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

/* libvirt's SCSI models and QEMU 7.2's adapters. */
static const char *const scsi_models[][2] = {
    {"virtio-scsi", "virtio-scsi-pci"},
    {"virtio-transitional", "virtio-scsi-pci-transitional"},
    {"virtio-non-transitional", "virtio-scsi-pci-non-transitional"},
    {"lsilogic", "lsi53c895a"},
    {"lsisas1068", "mptsas1068"},
    {"lsisas1078", "megasas-gen2"},
    {"vmpvscsi", "pvscsi"},
    {"am53c974", "am53c974"},
    {"dc390", "dc390"},
};

static const char *const serial_models[][2] = {
    {"virtio", "virtio-serial-pci"},
    {"virtio-transitional", "virtio-serial-pci-transitional"},
    {"virtio-non-transitional", "virtio-serial-pci-non-transitional"},
};

static bool virtio_device(const char *dev)
{
    return g_str_has_prefix(dev, "virtio-");
}

/* <driver> of a virtio controller: QEMU's properties of the same sense.
 * iothread= needs <iothreads>, which this driver does not run. */
static int add_driver(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *d, bool scsi,
                      GString *dev)
{
    static const char *const onoff[][2] = {{"iommu", "iommu_platform"},
                                           {"ats", "ats"},
                                           {"packed", "packed"},
                                           {"page_per_vq", "page-per-vq"},
                                           {"ioeventfd", "ioeventfd"}};
    static const char *const nums[][2] = {
        {"queues", "num_queues"}, {"cmd_per_lun", "cmd_per_lun"}, {"max_sectors", "max_sectors"}};
    for (const xmlAttr *a = d->properties; a; a = a->next) {
        const char *name = (const char *)a->name;
        bool done = false;
        for (size_t i = 0; !a->ns && i < G_N_ELEMENTS(onoff) && !done; i++) {
            if (strcmp(name, onoff[i][0]) != 0 || (!scsi && strcmp(name, "ioeventfd") == 0))
                continue;
            g_autofree char *val = qemu_xml_prop(d, name);
            if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
                return qemu_kept_refuse(v, k, "<driver %s=> takes on or off", name);
            g_string_append_printf(dev, ",%s=%s", onoff[i][1], val);
            done = true;
        }
        for (size_t i = 0; scsi && !a->ns && i < G_N_ELEMENTS(nums) && !done; i++) {
            uint64_t x;
            if (strcmp(name, nums[i][0]) != 0)
                continue;
            if (!qemu_xml_hex(d, name, UINT32_MAX, &x) || x == 0)
                return qemu_kept_refuse(v, k, "<driver %s=> must be a positive number", name);
            g_string_append_printf(dev, ",%s=%" G_GUINT64_FORMAT, nums[i][1], x);
            done = true;
        }
        if (!done)
            return qemu_kept_refuse(v, k, "<driver %s=> is not passed on to QEMU", name);
    }
    return 0;
}

int qemu_kept_bus_controller(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    g_autofree char *type = qemu_xml_prop(n, "type"), *model = qemu_xml_prop(n, "model");
    bool scsi = strcmp(type, "scsi") == 0, vserial = strcmp(type, "virtio-serial") == 0;
    uint64_t idx = 0, ports = 0, vectors = 0;
    if (qemu_xml_has_prop(n, "index") && !qemu_xml_hex(n, "index", 255, &idx))
        return qemu_kept_refuse(v, k, "index= out of range");
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        const char *name = (const char *)a->name;
        if (a->ns || !(strcmp(name, "type") == 0 || strcmp(name, "index") == 0 ||
                       (strcmp(name, "model") == 0 && strcmp(type, "sata") != 0) ||
                       (vserial && (strcmp(name, "ports") == 0 || strcmp(name, "vectors") == 0))))
            return qemu_kept_refuse(v, k, "attribute %s= is not passed on to QEMU for type='%s'",
                                    name, type);
    }
    if (strcmp(type, "sata") == 0 && idx == 0 && qemu_is_q35(v->def))
        return 0; /* q35's own AHCI, the one qv's SATA disks use */
    const char *dev = NULL;
    if (scsi || vserial) {
        /* libvirt's default SCSI model on x86 is lsilogic. */
        const char *want = model ? model : scsi ? "lsilogic" : "virtio";
        for (size_t i = 0; scsi && i < G_N_ELEMENTS(scsi_models); i++)
            if (strcmp(want, scsi_models[i][0]) == 0)
                dev = scsi_models[i][1];
        for (size_t i = 0; vserial && i < G_N_ELEMENTS(serial_models); i++)
            if (strcmp(want, serial_models[i][0]) == 0)
                dev = serial_models[i][1];
        if (!dev)
            return qemu_kept_refuse(v, k, "model='%s' is not a %s controller QEMU 7.2 has", want,
                                    type);
    } else {
        /* Another AHCI controller (q35's own is index 0, handled as the
         * machine's). */
        dev = "ich9-ahci";
    }
    static const char *const plain[] = {"address", "alias", NULL};
    static const char *const with_driver[] = {"address", "alias", "driver", NULL};
    const char *extra = qemu_xml_other_child(n, virtio_device(dev) ? with_driver : plain);
    if (extra)
        return qemu_kept_refuse(v, k, "<%s> is not passed on to QEMU", extra);
    GString *s = g_string_new(NULL);
    g_string_printf(s, "%s,id=%s%" G_GUINT64_FORMAT, dev, type, idx);
    if (vserial && qemu_xml_has_prop(n, "ports")) {
        if (!qemu_xml_hex(n, "ports", 31, &ports) || ports == 0) {
            g_string_free(s, TRUE);
            return qemu_kept_refuse(v, k, "ports= must be 1-31 (one virtio-serial bus)");
        }
        g_string_append_printf(s, ",max_ports=%" G_GUINT64_FORMAT, ports);
    }
    if (vserial && qemu_xml_has_prop(n, "vectors")) {
        if (!qemu_xml_hex(n, "vectors", 2048, &vectors)) {
            g_string_free(s, TRUE);
            return qemu_kept_refuse(v, k, "vectors= must be 0-2048");
        }
        g_string_append_printf(s, ",vectors=%" G_GUINT64_FORMAT, vectors);
    }
    const xmlNode *d = qemu_xml_child(n, "driver");
    int rc = d ? add_driver(v, k, d, scsi, s) : 0;
    if (rc == 0 && scsi && idx == 0)
        v->scsi_added = true; /* qv's SCSI disks go on this one */
    if (rc == 0 && vserial)
        v->vserial_ports[idx] = ports ? (uint8_t)ports : 31; /* QEMU's default max_ports */
    if (rc == 0 && strcmp(type, "sata") == 0)
        v->sata_added[idx / 32] |= 1u << (idx % 32); /* disks with controller=idx go here */
    if (rc == 0)
        rc = qemu_kept_add_placed(v, k, n, s->str);
    g_string_free(s, TRUE);
    return rc;
}
