/* The qemu-system-x86_64 command line for a domain definition. Pure: it
 * reads the definition and the launch paths and touches nothing, so golden
 * tests can compare its output argument by argument. */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu.h"

struct argv {
    GPtrArray *a;
    const struct qv_domain *def;
    const struct qemu_launch *l;
};

static void add(struct argv *v, const char *s)
{
    g_ptr_array_add(v->a, g_strdup(s));
}

static void addf(struct argv *v, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void addf(struct argv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_ptr_array_add(v->a, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static void add2(struct argv *v, const char *opt, const char *val)
{
    add(v, opt);
    add(v, val);
}

static int unsupported(const struct argv *v, const char *what)
{
    return qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s': %s is not supported by the qemu driver",
                        v->def->name, what);
}

char *qemu_opt_escape(const char *s)
{
    GString *out = g_string_new(NULL);
    for (; *s; s++) {
        if (*s == ',')
            g_string_append_c(out, ',');
        g_string_append_c(out, *s);
    }
    return g_string_free(out, FALSE);
}

/* Names that go into QEMU options unescaped: no commas, '=' or spaces. */
static bool plain_word(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!g_ascii_isalnum(*s) && !strchr("._-+", *s))
            return false;
    return true;
}

int qemu_disk_index(const char *target)
{
    static const char *const prefixes[] = {"xvd", "vd", "sd", "hd", NULL};
    if (!target)
        return -1;
    for (const char *const *p = prefixes; *p; p++) {
        if (!g_str_has_prefix(target, *p))
            continue;
        const char *s = target + strlen(*p);
        if (!*s || strlen(s) > 3)
            return -1;
        int idx = 0;
        for (; *s; s++) {
            if (*s < 'a' || *s > 'z')
                return -1;
            idx = idx * 26 + (*s - 'a' + 1);
        }
        return idx - 1;
    }
    return -1;
}

static bool is_q35(const struct qv_domain *def)
{
    return def->os.machine && (g_str_has_prefix(def->os.machine, "q35") ||
                               g_str_has_prefix(def->os.machine, "pc-q35"));
}

static char *json_text(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}

static void member_str(JsonBuilder *b, const char *k, const char *v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v);
}

static void member_bool(JsonBuilder *b, const char *k, gboolean v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_boolean_value(b, v);
}

static int add_machine(struct argv *v)
{
    const struct qv_domain *def = v->def;
    const char *machine = def->os.machine ? def->os.machine : "pc";
    if (!plain_word(machine) ||
        !(g_str_has_prefix(machine, "pc") || g_str_has_prefix(machine, "q35")))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': machine type '%s' is not supported (use pc or q35)",
                            def->name, machine);
    GString *m = g_string_new(machine);
    if (!def->acpi)
        g_string_append(m, ",acpi=off");
    if (def->os.loader && def->os.loader_pflash) {
        g_string_append(m, ",pflash0=pflash0");
        if (v->l->nvram)
            g_string_append(m, ",pflash1=pflash1");
    }
    if (def->hugepages)
        g_string_append(m, ",memory-backend=ram0");
    add(v, "-machine");
    g_ptr_array_add(v->a, g_string_free(m, FALSE));

    switch (def->type) {
    case QV_VIRT_KVM: add2(v, "-accel", "kvm"); break;
    case QV_VIRT_QEMU: add2(v, "-accel", "tcg"); break;
    default:
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': domain type 'test' cannot run on QEMU (use 'kvm' or 'qemu')",
                            def->name);
    }
    return 0;
}

static int add_cpu(struct argv *v)
{
    const struct qv_domain *def = v->def;
    switch (def->cpu.mode) {
    case QV_CPU_MODE_NONE: break;
    case QV_CPU_MODE_HOST_PASSTHROUGH:
        if (def->type != QV_VIRT_KVM)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': <cpu mode='host-passthrough'> needs <domain type='kvm'>; "
                                "under TCG use host-model or a named model",
                                def->name);
        add2(v, "-cpu", "host");
        break;
    case QV_CPU_MODE_HOST_MODEL:
        /* QEMU's "max" is every feature the accelerator can give: the host's
         * under KVM, everything TCG emulates otherwise. */
        add2(v, "-cpu", "max");
        break;
    case QV_CPU_MODE_CUSTOM:
        if (!plain_word(def->cpu.model))
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': CPU model '%s' is not a model name",
                                def->name, def->cpu.model ? def->cpu.model : "");
        add2(v, "-cpu", def->cpu.model);
        break;
    }
    GString *smp = g_string_new(NULL);
    g_string_printf(smp, "%u,maxcpus=%u", def->vcpus, def->max_vcpus);
    if (def->cpu.sockets) {
        g_string_append_printf(smp, ",sockets=%u", def->cpu.sockets);
        if (def->cpu.dies > 1)
            g_string_append_printf(smp, ",dies=%u", def->cpu.dies);
        g_string_append_printf(smp, ",cores=%u,threads=%u", def->cpu.cores, def->cpu.threads);
    }
    add(v, "-smp");
    g_ptr_array_add(v->a, g_string_free(smp, FALSE));
    return 0;
}

static char *mem_size(uint64_t kib)
{
    if (kib % 1024 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "M", kib / 1024);
    return g_strdup_printf("%" G_GUINT64_FORMAT "K", kib);
}

static int add_memory(struct argv *v)
{
    const struct qv_domain *def = v->def;
    if (def->current_memory_kib && def->current_memory_kib != def->memory_kib)
        return unsupported(v, "<currentMemory> below <memory> (ballooning)");
    if (def->numa_node >= 0)
        return unsupported(v, "<numatune>");
    g_autofree char *size = mem_size(def->memory_kib);
    add(v, "-m");
    addf(v, "size=%s", size);
    if (def->hugepages) {
        if (!v->l->hugepage_dir)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s' asks for hugepages but no hugetlbfs is mounted",
                                def->name);
        g_autofree char *path = qemu_opt_escape(v->l->hugepage_dir);
        add(v, "-object");
        addf(v, "memory-backend-file,id=ram0,size=%s,mem-path=%s,share=on,prealloc=on", size, path);
    }
    return 0;
}

static int add_firmware(struct argv *v)
{
    const struct qv_domain *def = v->def;
    if (def->os.loader) {
        if (!def->os.loader_pflash) {
            add2(v, "-bios", def->os.loader);
        } else {
            const char *files[2] = {def->os.loader, v->l->nvram};
            for (int i = 0; i < 2 && files[i]; i++) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                json_builder_begin_object(b);
                member_str(b, "driver", "file");
                member_str(b, "filename", files[i]);
                g_autofree char *file_node = g_strdup_printf("pflash%d-file", i);
                member_str(b, "node-name", file_node);
                member_bool(b, "read-only", i == 0 && def->os.loader_readonly);
                json_builder_end_object(b);
                add(v, "-blockdev");
                g_ptr_array_add(v->a, json_text(b));
                g_autoptr(JsonBuilder) f = json_builder_new();
                json_builder_begin_object(f);
                member_str(f, "driver", "raw");
                member_str(f, "file", file_node);
                g_autofree char *node = g_strdup_printf("pflash%d", i);
                member_str(f, "node-name", node);
                member_bool(f, "read-only", i == 0 && def->os.loader_readonly);
                json_builder_end_object(f);
                add(v, "-blockdev");
                g_ptr_array_add(v->a, json_text(f));
            }
        }
    }
    if (def->os.kernel) {
        add2(v, "-kernel", def->os.kernel);
        if (def->os.initrd)
            add2(v, "-initrd", def->os.initrd);
        if (def->os.cmdline)
            add2(v, "-append", def->os.cmdline);
    } else if (def->os.initrd || def->os.cmdline) {
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': <initrd> and <cmdline> need a <kernel>",
                            def->name);
    }
    if (def->os.boot_devs && def->os.boot_devs[0]) {
        GString *order = g_string_new(NULL);
        for (char **d = def->os.boot_devs; *d; d++) {
            if (strcmp(*d, "hd") == 0)
                g_string_append_c(order, 'c');
            else if (strcmp(*d, "cdrom") == 0)
                g_string_append_c(order, 'd');
            else if (strcmp(*d, "network") == 0)
                g_string_append_c(order, 'n');
            else if (strcmp(*d, "fd") == 0)
                g_string_append_c(order, 'a');
            else {
                g_string_free(order, TRUE);
                return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': unknown boot device '%s'",
                                    def->name, *d);
            }
        }
        add(v, "-boot");
        addf(v, "order=%s", order->str);
        g_string_free(order, TRUE);
    }
    return 0;
}

/* cache= of libvirt as QEMU's three switches. */
static int cache_mode(const struct argv *v, const char *cache, gboolean *direct, gboolean *no_flush,
                      gboolean *write_cache)
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
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': unknown disk cache mode '%s'",
                            v->def->name, cache);
    return 0;
}

static void begin_node(JsonBuilder *b, const char *driver, const char *node, gboolean ro,
                       gboolean direct, gboolean no_flush, const char *discard)
{
    json_builder_begin_object(b);
    member_str(b, "driver", driver);
    member_str(b, "node-name", node);
    member_bool(b, "read-only", ro);
    json_builder_set_member_name(b, "cache");
    json_builder_begin_object(b);
    member_bool(b, "direct", direct);
    member_bool(b, "no-flush", no_flush);
    json_builder_end_object(b);
    if (discard)
        member_str(b, "discard", discard);
}

static int add_disk(struct argv *v, guint i, bool *scsi_added)
{
    const struct qv_domain *def = v->def;
    const struct qv_disk *d = g_ptr_array_index(def->disks, i);
    if (d->total_bytes_sec || d->total_iops_sec)
        return unsupported(v, "<iotune> disk throttling");
    if (d->logical_block_size)
        return unsupported(v, "<blockio>");
    int idx = qemu_disk_index(d->target);
    if (idx < 0)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': disk target '%s' is not like vda or sdb",
                            def->name, d->target ? d->target : "");
    gboolean direct, no_flush, write_cache;
    int rc = cache_mode(v, d->cache, &direct, &no_flush, &write_cache);
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
        begin_node(b, "file", file_node, ro, direct, no_flush, d->discard);
        member_str(b, "filename", file);
        if (d->io)
            member_str(b, "aio", d->io);
        json_builder_end_object(b);
        add(v, "-blockdev");
        g_ptr_array_add(v->a, json_text(b));
        g_autoptr(JsonBuilder) f = json_builder_new();
        begin_node(f, format, node, ro, direct, no_flush, d->discard);
        member_str(f, "file", file_node);
        json_builder_end_object(f);
        add(v, "-blockdev");
        g_ptr_array_add(v->a, json_text(f));
    } else if (!cdrom) {
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': disk %s has no source", def->name,
                            d->target);
    }

    GString *dev = g_string_new(NULL);
    switch (d->bus) {
    case QV_DISK_BUS_VIRTIO:
        if (cdrom) {
            g_string_free(dev, TRUE);
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': a cdrom cannot be on the virtio bus (use scsi or ide)",
                                def->name);
        }
        g_string_append(dev, "virtio-blk-pci");
        break;
    case QV_DISK_BUS_SCSI:
        if (!*scsi_added) {
            add2(v, "-device", "virtio-scsi-pci,id=scsi0");
            *scsi_added = true;
        }
        g_string_append_printf(dev, "%s,bus=scsi0.0,channel=0,scsi-id=%d,lun=0",
                               cdrom ? "scsi-cd" : "scsi-hd", idx);
        break;
    case QV_DISK_BUS_IDE:
    case QV_DISK_BUS_SATA:
        if (is_q35(def)) {
            if (idx > 5) {
                g_string_free(dev, TRUE);
                return qv_error_set(QV_ERR_INVALID_ARG,
                                    "VM '%s': disk %s: q35 has 6 SATA ports (sda-sdf)", def->name,
                                    d->target);
            }
            g_string_append_printf(dev, "%s,bus=ide.%d", cdrom ? "ide-cd" : "ide-hd", idx);
        } else {
            if (d->bus == QV_DISK_BUS_SATA) {
                g_string_free(dev, TRUE);
                return unsupported(v, "a SATA disk on machine pc (use q35 or bus='ide')");
            }
            if (idx > 3) {
                g_string_free(dev, TRUE);
                return qv_error_set(QV_ERR_INVALID_ARG,
                                    "VM '%s': disk %s: the pc machine has 4 IDE slots (hda-hdd)",
                                    def->name, d->target);
            }
            g_string_append_printf(dev, "%s,bus=ide.%d,unit=%d", cdrom ? "ide-cd" : "ide-hd",
                                   idx / 2, idx % 2);
        }
        break;
    }
    if (file)
        g_string_append_printf(dev, ",drive=%s", node);
    g_string_append_printf(dev, ",id=%s", d->target);
    if (!cdrom)
        g_string_append_printf(dev, ",write-cache=%s", write_cache ? "on" : "off");
    if (d->boot_order)
        g_string_append_printf(dev, ",bootindex=%u", d->boot_order);
    add(v, "-device");
    g_ptr_array_add(v->a, g_string_free(dev, FALSE));
    return 0;
}

static int add_net(struct argv *v, guint i)
{
    const struct qv_domain *def = v->def;
    const struct qv_net *n = g_ptr_array_index(def->nets, i);
    if (n->inbound_kbps || n->outbound_kbps)
        return unsupported(v, "<bandwidth> on an interface");
    GString *nd = g_string_new(NULL);
    switch (n->type) {
    case QV_NET_USER: {
        g_string_printf(nd, "user,id=net%u", i);
        uint16_t port = v->l->ssh_ports ? v->l->ssh_ports[i] : n->host_port;
        if (port)
            g_string_append_printf(nd, ",hostfwd=tcp:127.0.0.1:%u-:22", port);
        break;
    }
    case QV_NET_BRIDGE:
        if (!plain_word(n->source) || strlen(n->source) > 15) {
            g_string_free(nd, TRUE);
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a bridge name", def->name,
                                n->source ? n->source : "");
        }
        g_string_printf(nd, "bridge,id=net%u,br=%s", i, n->source);
        break;
    case QV_NET_ETHERNET:
        g_string_printf(nd, "tap,id=net%u,script=no,downscript=no", i);
        if (n->source) {
            if (!plain_word(n->source) || strlen(n->source) > 15) {
                g_string_free(nd, TRUE);
                return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a tap device name",
                                    def->name, n->source);
            }
            g_string_append_printf(nd, ",ifname=%s", n->source);
        }
        break;
    default:
        g_string_free(nd, TRUE);
        return unsupported(v, n->type == QV_NET_NETWORK
                                  ? "<interface type='network'> (libvirt networks; use a bridge)"
                                  : "<interface type='direct'> (macvtap)");
    }
    add(v, "-netdev");
    g_ptr_array_add(v->a, g_string_free(nd, FALSE));

    const char *model = "virtio-net-pci";
    if (n->model && strcmp(n->model, "virtio") != 0) {
        if (strcmp(n->model, "e1000") && strcmp(n->model, "e1000e") && strcmp(n->model, "rtl8139"))
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': NIC model '%s' is not supported (virtio, e1000, e1000e, "
                                "rtl8139)",
                                def->name, n->model);
        model = n->model;
    }
    GString *dev = g_string_new(NULL);
    g_string_printf(dev, "%s,netdev=net%u,id=nic%u,mac=%s", model, i, i, n->mac);
    if (n->boot_order)
        g_string_append_printf(dev, ",bootindex=%u", n->boot_order);
    add(v, "-device");
    g_ptr_array_add(v->a, g_string_free(dev, FALSE));
    return 0;
}

static int add_chardevs(struct argv *v)
{
    const struct qv_domain *def = v->def;
    if (def->serials->len > 1)
        return unsupported(v, "more than one <serial> port");
    if (def->channels->len)
        return unsupported(v, "<channel>");
    /* The first serial port is always a pty logged to console.log in the
     * VM directory, whatever its <serial> type says: that is what
     * vm_console_endpoint() and `qv vm console` attach to. Not a unix
     * socket: QEMU's socket chardev holds the UART's output while no client
     * is connected, which stalls every guest write to the console; a pty
     * drops unread output and the log keeps all of it. */
    g_autofree char *dir = qemu_opt_escape(v->l->dir);
    add(v, "-chardev");
    addf(v, "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", dir);
    add2(v, "-mon", "chardev=qmp,mode=control");
    /* A second monitor answers state queries while an operation holds the
     * first (a QMP socket serves one client at a time). */
    add(v, "-chardev");
    addf(v, "socket,id=qmp-status,path=%s/status.sock,server=on,wait=off", dir);
    add2(v, "-mon", "chardev=qmp-status,mode=control");
    add(v, "-chardev");
    addf(v, "pty,id=serial0,logfile=%s/console.log,logappend=on", dir);
    add2(v, "-serial", "chardev:serial0");
    return 0;
}

static int add_misc_devices(struct argv *v)
{
    const struct qv_domain *def = v->def;
    for (guint i = 0; i < def->rngs->len; i++) {
        const struct qv_rng *r = g_ptr_array_index(def->rngs, i);
        if (r->model && strcmp(r->model, "virtio"))
            return unsupported(v, "an <rng> model other than virtio");
        g_autofree char *file = qemu_opt_escape(r->backend ? r->backend : "/dev/urandom");
        add(v, "-object");
        addf(v, "rng-random,id=rng%u,filename=%s", i, file);
        add(v, "-device");
        addf(v, "virtio-rng-pci,rng=rng%u,id=rngdev%u", i, i);
    }
    bool vnc = false;
    for (guint i = 0; i < def->graphics->len; i++) {
        const struct qv_graphics *g = g_ptr_array_index(def->graphics, i);
        if (g->type != QV_GRAPHICS_VNC)
            return unsupported(v, "<graphics type='spice'>");
        if (vnc)
            return unsupported(v, "more than one <graphics>");
        vnc = true;
        const char *listen = g->listen ? g->listen : "127.0.0.1";
        if (!plain_word(listen) && !strchr(listen, ':'))
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a VNC listen address",
                                def->name, listen);
        bool v6 = strchr(listen, ':') != NULL;
        add2(v, "-device", "VGA");
        add(v, "-vnc");
        if (g->port >= 5900 && g->port <= 5900 + 65535 - 5900)
            addf(v, v6 ? "[%s]:%d" : "%s:%d", listen, g->port - 5900);
        else if (g->port < 0)
            addf(v, v6 ? "[%s]:0,to=99" : "%s:0,to=99", listen);
        else
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': VNC port %d is below 5900", def->name,
                                g->port);
    }
    if (!vnc)
        add2(v, "-display", "none");
    for (guint i = 0; i < def->hostdevs->len; i++) {
        const struct qv_hostdev *h = g_ptr_array_index(def->hostdevs, i);
        if (h->driver && strcmp(h->driver, "vfio"))
            return unsupported(v, "a <hostdev> driver other than vfio");
        add(v, "-device");
        addf(v, "vfio-pci,host=%04x:%02x:%02x.%x,id=hostdev%u", h->domain, h->bus, h->slot,
             h->function, i);
    }
    if (v->l->seed_iso) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        begin_node(b, "file", "seed-file", TRUE, FALSE, FALSE, NULL);
        member_str(b, "filename", v->l->seed_iso);
        json_builder_end_object(b);
        add(v, "-blockdev");
        g_ptr_array_add(v->a, json_text(b));
        add2(v, "-blockdev",
             "{\"driver\":\"raw\",\"node-name\":\"seed\",\"read-only\":true,\"file\":\"seed-"
             "file\"}");
        /* cloud-init finds the volume by its label on any block device. */
        add2(v, "-device", "virtio-blk-pci,drive=seed,id=seed");
    }
    return 0;
}

static int check_tuning(struct argv *v)
{
    const struct qv_domain *def = v->def;
    /* Pins are applied to QEMU's vCPU threads at start; weight and quota
     * would need a cgroup of our own. */
    if (def->cputune.shares || def->cputune.cap)
        return unsupported(v, "<cputune> <shares>/<quota> (CPU weight and cap)");
    for (guint i = 0; i < def->cputune.pins->len; i++) {
        const struct qv_vcpupin *p = &g_array_index(def->cputune.pins, struct qv_vcpupin, i);
        cpu_set_t set;
        if (p->pcpu < 0 && qemu_parse_cpuset(p->cpuset, &set) < 0) {
            qv_error_prefix("VM '%s': <vcpupin vcpu='%u'>", def->name, p->vcpu);
            return qv_error_code();
        }
    }
    return 0;
}

char **qemu_argv_build(const struct qv_domain *def, const struct qemu_launch *l)
{
    struct argv v = {.a = g_ptr_array_new_with_free_func(g_free), .def = def, .l = l};
    add(&v, l->emulator ? l->emulator : QEMU_DEFAULT_BINARY);
    g_autofree char *name = qemu_opt_escape(def->name);
    add(&v, "-name");
    addf(&v, "guest=%s,debug-threads=on", name);
    if (def->uuid[0])
        add2(&v, "-uuid", def->uuid);
    add(&v, "-nodefaults");
    add(&v, "-no-user-config");
    /* A guest power-off leaves QEMU in state "shutdown" rather than exiting,
     * so a process that vanishes on its own is always a crash. */
    add(&v, "-no-shutdown");
    if (def->on_reboot && strcmp(def->on_reboot, "destroy") == 0)
        add(&v, "-no-reboot");
    int rc = add_machine(&v);
    if (rc == 0)
        rc = add_cpu(&v);
    if (rc == 0)
        rc = add_memory(&v);
    if (rc == 0)
        rc = check_tuning(&v);
    if (rc == 0)
        rc = add_firmware(&v);
    bool scsi = false;
    for (guint i = 0; rc == 0 && i < def->disks->len; i++)
        rc = add_disk(&v, i, &scsi);
    for (guint i = 0; rc == 0 && i < def->nets->len; i++)
        rc = add_net(&v, i);
    if (rc == 0)
        rc = add_chardevs(&v);
    if (rc == 0)
        rc = add_misc_devices(&v);
    if (rc == 0 && l->paused)
        add(&v, "-S");
    if (rc == 0 && l->daemonize) {
        add(&v, "-daemonize");
        add(&v, "-pidfile");
        g_ptr_array_add(v.a, g_build_filename(l->dir, "qemu.pid", NULL));
    }
    if (rc < 0) {
        g_ptr_array_free(v.a, TRUE);
        return NULL;
    }
    g_ptr_array_add(v.a, NULL);
    return (char **)g_ptr_array_free(v.a, FALSE);
}
