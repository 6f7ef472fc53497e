/* Domain definition -> InstanceEnsureRequest (Propolis API 5.0.0).
 * Propolis creates an instance together with its whole spec, so everything
 * the definition asks for must be expressible up front; whatever is not is
 * refused here, naming the element, before any request is sent. */
#include <string.h>

#include "lib/conf/conf_check.h"
#include "lib/conf/address.h"
#include "lib/util/error.h"
#include "propolis.h"

/* PCI slots on bus 0, as Oxide's control plane lays them out: NICs from
 * device 8, disks from device 16. */
#define PROPOLIS_NIC_SLOT0 8
#define PROPOLIS_MAX_NICS 8
#define PROPOLIS_DISK_SLOT0 16
#define PROPOLIS_MAX_DISKS 16
#define PROPOLIS_MAX_SERIALS 4

#define NIL_UUID "00000000-0000-0000-0000-000000000000"

static int refuse(const struct qv_domain *def, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int refuse(const struct qv_domain *def, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s': %s; Propolis cannot express it", def->name,
                        what);
}

static int check_domain(const struct qv_domain *def)
{
    if (qv_domain_check_kept(def, "propolis", NULL) < 0)
        return qv_error_code();
    if (def->vcpu_cpuset || g_strcmp0(def->vcpu_placement, "auto") == 0)
        return refuse(def, "<vcpu cpuset=> or placement='auto': vCPU placement is the "
                           "propolis-server's");
    if (def->type >= QV_VIRT_FOREIGN)
        return refuse(def, "<domain type='%s'>: a Propolis VM is bhyve through propolis-server",
                      qv_conf_virt_types[def->type]);
    if (qv_domain_refuse_addresses(def, "propolis",
                                   "this driver puts NICs from PCI slot 8 and disks from slot 16 "
                                   "of bus 0, as Oxide's control plane does") < 0)
        return qv_error_code();
    if (def->partition)
        return refuse(def, "<resource><partition> '%s': the VM runs on the propolis-server's host",
                      def->partition);
    if (def->cpu.features)
        return refuse(def, "<cpu><feature>: the CPUID is the propolis-server's");
    if (def->ntimers || (def->clock_offset && strcmp(def->clock_offset, "utc") != 0) ||
        (def->clock_adjustment && strcmp(def->clock_adjustment, "reset") != 0))
        return refuse(def, "<clock> other than offset='utc' without timers");
    if (def->pm_s3 >= 0 || def->pm_s4 >= 0)
        return refuse(def, "<pm>");
    if (def->cloud_init)
        return refuse(def, "<metadata><qv:cloud-init>: qv does not build seed disks for "
                           "propolis-server");
    if (def->os.kernel || def->os.initrd || def->os.cmdline)
        return refuse(def, "<os><kernel>/<initrd>/<cmdline> (direct kernel boot): a Propolis "
                           "guest boots from the server's bootrom");
    if (def->os.loader)
        return refuse(def,
                      "<os><loader> '%s': the bootrom is chosen by the propolis-server's "
                      "configuration",
                      def->os.loader);
    if (def->os.nvram || def->os.nvram_template)
        return refuse(def, "<os><nvram>");
    if (def->os.arch && strcmp(def->os.arch, "x86_64") != 0)
        return refuse(def, "<os><type arch='%s'>: Propolis runs x86_64 guests only", def->os.arch);
    if (def->os.machine && strcmp(def->os.machine, "pc") != 0 &&
        !g_str_has_prefix(def->os.machine, "pc-i440fx"))
        return refuse(def, "<os><type machine='%s'>: Propolis emulates only an i440FX chipset",
                      def->os.machine);
    if (def->memory_kib % 1024)
        return refuse(def,
                      "<memory> of %" G_GUINT64_FORMAT " KiB: Propolis sizes memory in whole MiB",
                      def->memory_kib);
    if (def->current_memory_kib && def->current_memory_kib != def->memory_kib)
        return refuse(def, "<currentMemory> below <memory>: Propolis has no balloon");
    if (def->vcpus != def->max_vcpus)
        return refuse(def, "<vcpu current='%u'> below %u: Propolis cannot hot-plug vCPUs",
                      def->vcpus, def->max_vcpus);
    if (def->cpu.mode == QV_CPU_MODE_CUSTOM || def->cpu.model)
        return refuse(def, "<cpu mode='custom'>/<model>");
    if (def->cpu.sockets > 1 || def->cpu.dies > 1 || def->cpu.threads > 1)
        return refuse(def, "<cpu><topology> with more than one socket, die or thread");
    if (def->numa_node >= 0)
        return refuse(def, "<numatune>");
    if (def->cputune.pins->len || def->cputune.shares || def->cputune.cap)
        return refuse(def, "<cputune> (pinning, shares or quota)");
    if (def->hugepages)
        return refuse(def, "<memoryBacking><hugepages/>");
    if (def->on_poweroff && strcmp(def->on_poweroff, "destroy") != 0)
        return refuse(def,
                      "<on_poweroff>%s</on_poweroff>: a Propolis instance is destroyed "
                      "when the guest powers off",
                      def->on_poweroff);
    if (def->on_reboot && strcmp(def->on_reboot, "restart") != 0)
        return refuse(def, "<on_reboot>%s</on_reboot>: Propolis restarts the guest in place",
                      def->on_reboot);
    if (def->on_crash && strcmp(def->on_crash, "destroy") != 0)
        return refuse(def, "<on_crash>%s</on_crash>", def->on_crash);
    if (def->emulator)
        return refuse(def, "<emulator>%s</emulator>", def->emulator);
    if (def->hostdevs->len) {
        const struct qv_hostdev *h = g_ptr_array_index(def->hostdevs, 0);
        return refuse(def, "<hostdev> %04x:%02x:%02x.%x (PCI passthrough)", h->domain, h->bus,
                      h->slot, h->function);
    }
    if (def->graphics->len) {
        const struct qv_graphics *g = g_ptr_array_index(def->graphics, 0);
        return refuse(def, "<graphics type='%s'>", g->type == QV_GRAPHICS_VNC ? "vnc" : "spice");
    }
    if (def->channels->len)
        return refuse(def, "<channel>");
    if (def->rngs->len)
        return refuse(def, "<rng>");
    return 0;
}

static const char *bus_name(enum qv_disk_bus bus)
{
    switch (bus) {
    case QV_DISK_BUS_VIRTIO: return "virtio";
    case QV_DISK_BUS_SCSI: return "scsi";
    case QV_DISK_BUS_IDE: return "ide";
    case QV_DISK_BUS_SATA: return "sata";
    }
    return "unknown";
}

static int check_disk(const struct qv_domain *def, const struct qv_disk *d)
{
    if (!d->target || !*d->target)
        return refuse(def, "<disk> without <target dev=>");
    const char *t = d->target;
    if (d->device == QV_DISK_CDROM)
        return refuse(def, "<disk device='cdrom'> '%s': Propolis has no CD-ROM device", t);
    if (d->serial)
        return refuse(def, "<disk> '%s' <serial>: a Propolis disk has no serial number to set", t);
    if (d->bus != QV_DISK_BUS_VIRTIO)
        return refuse(def, "<disk> '%s' on bus '%s': Propolis disks here are virtio", t,
                      bus_name(d->bus));
    if (!d->source || !*d->source)
        return refuse(def, "<disk> '%s' without <source>", t);
    if (d->driver_type && strcmp(d->driver_type, "raw") != 0)
        return refuse(def, "<disk> '%s' <driver type='%s'>: the file backend reads raw images", t,
                      d->driver_type);
    if (d->backing)
        return refuse(def, "<disk> '%s' <backingStore>", t);
    if (d->cache || d->io || d->discard)
        return refuse(def, "<disk> '%s' <driver cache=/io=/discard=>", t);
    if (d->iothread)
        return refuse(def, "<disk> '%s' <driver iothread=>: Propolis has no IOThreads", t);
    if (d->total_bytes_sec || d->total_iops_sec)
        return refuse(def, "<disk> '%s' <iotune>", t);
    /* logical_block_size: lib/conf's rule (a power of two, 512-65536) is
     * exactly what Propolis takes. */
    return 0;
}

static int check_net(const struct qv_domain *def, const struct qv_net *n)
{
    static const char *const types[] = {"user", "bridge", "network", "direct", "ethernet"};
    if (n->type != QV_NET_DIRECT)
        return refuse(def,
                      "<interface type='%s'> (MAC %s): Propolis attaches NICs to host VNICs "
                      "only, <interface type='direct'>",
                      types[n->type], n->mac);
    if (!n->source || !*n->source)
        return refuse(def, "<interface type='direct'> (MAC %s) without <source dev=>", n->mac);
    if (n->model && strcmp(n->model, "virtio") != 0)
        return refuse(def, "<interface> '%s' <model type='%s'>: Propolis NICs are virtio",
                      n->source, n->model);
    if (n->inbound_kbps || n->outbound_kbps)
        return refuse(def, "<interface> '%s' <bandwidth>", n->source);
    if (n->driver_name || n->queues || n->rx_queue_size)
        return refuse(def, "<interface> '%s' <driver>: Propolis sets its NICs' queues itself",
                      n->source);
    return 0;
}

static int check_chardev(const struct qv_domain *def, const char *elem, const struct qv_chardev *c)
{
    static const char *const types[] = {"pty", "file", "unix", "stdio", "null", "tcp"};
    if (c->type != QV_CHR_PTY && c->type != QV_CHR_NULL)
        return refuse(def,
                      "<%s type='%s'>: Propolis serves serial ports only over its websocket "
                      "(use type='pty')",
                      elem, types[c->type]);
    return 0;
}

/* A UUID for a NIC that stays the same for the same VM and slot, so an
 * ensure can be repeated with an identical body. */
static char *nic_uuid(const struct qv_domain *def, guint i)
{
    g_autofree char *seed = g_strdup_printf("libqv-propolis-nic/%s/%u", def->uuid, i);
    g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(ck, (const guchar *)seed, strlen(seed));
    guint8 h[20];
    gsize len = sizeof(h);
    g_checksum_get_digest(ck, h, &len);
    h[6] = (h[6] & 0x0f) | 0x50; /* name-based, SHA-1 (RFC 4122 version 5) */
    h[8] = (h[8] & 0x3f) | 0x80;
    return g_strdup_printf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                           "%02x%02x%02x%02x%02x%02x",
                           h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11],
                           h[12], h[13], h[14], h[15]);
}

static void add_pci(JsonBuilder *b, int device)
{
    json_builder_set_member_name(b, "pci_path");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "bus");
    json_builder_add_int_value(b, 0);
    json_builder_set_member_name(b, "device");
    json_builder_add_int_value(b, device);
    json_builder_set_member_name(b, "function");
    json_builder_add_int_value(b, 0);
    json_builder_end_object(b);
}

/* "key": {"type": type, "component": {...}} -- leaves the inner object open. */
static void begin_component(JsonBuilder *b, const char *key, const char *type)
{
    json_builder_set_member_name(b, key);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, type);
    json_builder_set_member_name(b, "component");
    json_builder_begin_object(b);
}

static void end_component(JsonBuilder *b)
{
    json_builder_end_object(b);
    json_builder_end_object(b);
}

struct boot_item {
    uint32_t order;
    char *key;
};

static gint boot_cmp(gconstpointer a, gconstpointer b)
{
    const struct boot_item *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void boot_item_clear(gpointer p)
{
    g_free(((struct boot_item *)p)->key);
}

/* Per-device <boot order=> wins; otherwise <os><boot dev=>. */
static int boot_order(const struct qv_domain *def, GArray *order)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (d->boot_order) {
            struct boot_item it = {d->boot_order, g_strdup(d->target)};
            g_array_append_val(order, it);
        }
    }
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (n->boot_order) {
            struct boot_item it = {n->boot_order, g_strdup_printf("net%u", i)};
            g_array_append_val(order, it);
        }
    }
    if (order->len) {
        g_array_sort(order, boot_cmp);
        return 0;
    }
    for (char **dev = def->os.boot_devs; dev && *dev; dev++) {
        if (strcmp(*dev, "hd") == 0) {
            for (guint i = 0; i < def->disks->len; i++) {
                const struct qv_disk *d = g_ptr_array_index(def->disks, i);
                struct boot_item it = {0, g_strdup(d->target)};
                g_array_append_val(order, it);
            }
        } else if (strcmp(*dev, "network") == 0) {
            for (guint i = 0; i < def->nets->len; i++) {
                struct boot_item it = {0, g_strdup_printf("net%u", i)};
                g_array_append_val(order, it);
            }
        } else {
            return refuse(def, "<os><boot dev='%s'>: Propolis boots from disks and NICs only",
                          *dev);
        }
    }
    return 0;
}

static void add_properties(JsonBuilder *b, const struct qv_domain *def)
{
    json_builder_set_member_name(b, "properties");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, def->uuid);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, def->name);
    json_builder_set_member_name(b, "description");
    json_builder_add_string_value(b, def->description ? def->description
                                     : def->title     ? def->title
                                                      : "");
    /* Oxide's control plane fills these in; a standalone server has no
     * silo, project or sled, so the nil UUID says "none". */
    json_builder_set_member_name(b, "metadata");
    json_builder_begin_object(b);
    const char *uuids[] = {"project_id", "silo_id", "sled_id"};
    for (size_t i = 0; i < G_N_ELEMENTS(uuids); i++) {
        json_builder_set_member_name(b, uuids[i]);
        json_builder_add_string_value(b, NIL_UUID);
    }
    json_builder_set_member_name(b, "sled_model");
    json_builder_add_string_value(b, "libqv");
    json_builder_set_member_name(b, "sled_revision");
    json_builder_add_int_value(b, 0);
    json_builder_set_member_name(b, "sled_serial");
    json_builder_add_string_value(b, "");
    json_builder_end_object(b);
    json_builder_end_object(b);
}

static int check_all(const struct qv_domain *def, int serial_num[PROPOLIS_MAX_SERIALS])
{
    int rc = check_domain(def);
    if (rc < 0)
        return rc;
    if (def->disks->len > PROPOLIS_MAX_DISKS)
        return refuse(def, "%u <disk> elements: at most %d fit the PCI slots this driver uses",
                      def->disks->len, PROPOLIS_MAX_DISKS);
    for (guint i = 0; i < def->disks->len; i++)
        if ((rc = check_disk(def, g_ptr_array_index(def->disks, i))) < 0)
            return rc;
    if (def->nets->len > PROPOLIS_MAX_NICS)
        return refuse(def,
                      "%u <interface> elements: at most %d fit the PCI slots this driver "
                      "uses",
                      def->nets->len, PROPOLIS_MAX_NICS);
    for (guint i = 0; i < def->nets->len; i++)
        if ((rc = check_net(def, g_ptr_array_index(def->nets, i))) < 0)
            return rc;
    if (def->serials->len > PROPOLIS_MAX_SERIALS)
        return refuse(def, "%u <serial> elements: Propolis has com1-com4 only", def->serials->len);
    for (guint i = 0; i < def->serials->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->serials, i);
        if ((rc = check_chardev(def, "serial", c)) < 0)
            return rc;
        if (c->target_type && strcmp(c->target_type, "isa-serial") != 0)
            return refuse(def, "<serial><target type='%s'>: Propolis serial ports are ISA UARTs",
                          c->target_type);
        if (c->port >= PROPOLIS_MAX_SERIALS)
            return refuse(def, "<serial><target port='%u'>: Propolis has com1-com4 (ports 0-3)",
                          c->port);
        /* A port already taken means the element named none (the parser
         * reads an absent port as 0): take the next free one, as libvirt
         * numbers serials without a target port. */
        int port = (int)c->port;
        for (bool taken = true; taken;) {
            taken = false;
            for (guint j = 0; j < i; j++)
                taken |= serial_num[j] == port;
            if (taken)
                port++;
        }
        if (port >= PROPOLIS_MAX_SERIALS)
            return refuse(def, "a <serial> with no free port left of com1-com4");
        serial_num[i] = port;
    }
    if (def->consoles->len > 1)
        return refuse(def, "%u <console> elements: Propolis has one console, com1",
                      def->consoles->len);
    for (guint i = 0; i < def->consoles->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->consoles, i);
        if ((rc = check_chardev(def, "console", c)) < 0)
            return rc;
        if (c->target_type && strcmp(c->target_type, "serial") != 0)
            return refuse(def, "<console><target type='%s'>: the Propolis console is com1",
                          c->target_type);
    }
    return 0;
}

JsonNode *propolis_spec_build(const struct qv_domain *def)
{
    int serial_num[PROPOLIS_MAX_SERIALS] = {-1, -1, -1, -1};
    if (check_all(def, serial_num) < 0)
        return NULL;
    g_autoptr(GArray) order = g_array_new(FALSE, TRUE, sizeof(struct boot_item));
    g_array_set_clear_func(order, boot_item_clear);
    if (boot_order(def, order) < 0)
        return NULL;

    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    add_properties(b, def);
    json_builder_set_member_name(b, "init");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "method");
    json_builder_add_string_value(b, "Spec");
    json_builder_set_member_name(b, "value");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "spec");
    json_builder_begin_object(b);

    json_builder_set_member_name(b, "board");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "cpus");
    json_builder_add_int_value(b, def->max_vcpus);
    json_builder_set_member_name(b, "memory_mb");
    json_builder_add_int_value(b, (gint64)(def->memory_kib / 1024));
    json_builder_set_member_name(b, "chipset");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "i440_fx");
    json_builder_set_member_name(b, "value");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "enable_pcie");
    json_builder_add_boolean_value(b, FALSE);
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_end_object(b);

    json_builder_set_member_name(b, "components");
    json_builder_begin_object(b);
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        g_autofree char *backend = g_strdup_printf("%s-backend", d->target);
        begin_component(b, d->target, "virtio_disk");
        json_builder_set_member_name(b, "backend_id");
        json_builder_add_string_value(b, backend);
        add_pci(b, PROPOLIS_DISK_SLOT0 + (int)i);
        end_component(b);
        begin_component(b, backend, "file_storage_backend");
        json_builder_set_member_name(b, "path");
        json_builder_add_string_value(b, d->source);
        json_builder_set_member_name(b, "readonly");
        json_builder_add_boolean_value(b, d->readonly);
        json_builder_set_member_name(b, "block_size");
        json_builder_add_int_value(b, d->logical_block_size ? d->logical_block_size : 512);
        end_component(b);
    }
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        g_autofree char *key = g_strdup_printf("net%u", i);
        g_autofree char *backend = g_strdup_printf("net%u-backend", i);
        g_autofree char *iface = nic_uuid(def, i);
        begin_component(b, key, "virtio_nic");
        json_builder_set_member_name(b, "backend_id");
        json_builder_add_string_value(b, backend);
        json_builder_set_member_name(b, "interface_id");
        json_builder_add_string_value(b, iface);
        add_pci(b, PROPOLIS_NIC_SLOT0 + (int)i);
        end_component(b);
        begin_component(b, backend, "virtio_network_backend");
        json_builder_set_member_name(b, "vnic_name");
        json_builder_add_string_value(b, n->source);
        end_component(b);
    }
    bool com_used[PROPOLIS_MAX_SERIALS] = {false};
    for (guint i = 0; i < def->serials->len; i++)
        com_used[serial_num[i]] = true;
    if (def->consoles->len)
        com_used[0] = true; /* a console is com1, with or without a <serial> for it */
    for (int i = 0; i < PROPOLIS_MAX_SERIALS; i++) {
        if (!com_used[i])
            continue;
        g_autofree char *key = g_strdup_printf("com%d", i + 1);
        begin_component(b, key, "serial_port");
        json_builder_set_member_name(b, "num");
        json_builder_add_string_value(b, key);
        end_component(b);
    }
    if (order->len) {
        begin_component(b, "boot-settings", "boot_settings");
        json_builder_set_member_name(b, "order");
        json_builder_begin_array(b);
        for (guint i = 0; i < order->len; i++) {
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "id");
            json_builder_add_string_value(b, g_array_index(order, struct boot_item, i).key);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        end_component(b);
    }
    json_builder_end_object(b); /* components */
    json_builder_end_object(b); /* spec */
    json_builder_end_object(b); /* value */
    json_builder_end_object(b); /* init */
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
