/* struct qv_domain -> libvirt domain XML. Elements come out in the order
 * libvirt itself writes them, and every value was checked on the way in
 * (conf_check.c), so the result validates against domain.rng. */
#include <libxml/parser.h>
#include <libxml/xmlwriter.h>
#include <string.h>

#include "../util/error.h"
#include "address.h"
#include "conf_check.h"
#include "domain.h"
#include "xml_metadata.h"
#include "xml_util.h"

typedef xmlTextWriter W;

static void start(W *w, const char *name)
{
    xmlTextWriterStartElement(w, (const xmlChar *)name);
}

static void end(W *w)
{
    xmlTextWriterEndElement(w);
}

static void attr(W *w, const char *name, const char *value)
{
    if (value)
        xmlTextWriterWriteAttribute(w, (const xmlChar *)name, (const xmlChar *)value);
}

static void attr_u64(W *w, const char *name, uint64_t v)
{
    xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)name, "%" G_GUINT64_FORMAT, v);
}

static void text_elem(W *w, const char *name, const char *value)
{
    if (value)
        xmlTextWriterWriteElement(w, (const xmlChar *)name, (const xmlChar *)value);
}

static void u64_elem(W *w, const char *name, uint64_t v)
{
    xmlTextWriterWriteFormatElement(w, (const xmlChar *)name, "%" G_GUINT64_FORMAT, v);
}

static void empty_elem(W *w, const char *name, const char *a, const char *v)
{
    start(w, name);
    attr(w, a, v);
    end(w);
}

static void format_boot(W *w, uint32_t order)
{
    if (!order)
        return;
    start(w, "boot");
    attr_u64(w, "order", order);
    end(w);
}

/* The kept elements of one parent ("" = <domain>); at the <domain> level
 * `late` selects <seclabel>s and namespaced elements, which libvirt writes
 * after <devices>. write_doc re-indents documents that have any. */
static bool kept_before_os(const struct qv_kept *k)
{
    return !*k->parent &&
           (strcmp(k->name, "bootloader") == 0 || strcmp(k->name, "bootloader_args") == 0);
}

static void format_kept(W *w, const struct qv_domain *def, const char *parent, bool late)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->parent, parent) != 0)
            continue;
        if (!*parent && (late != (strchr(k->name, ':') || strcmp(k->name, "seclabel") == 0) ||
                         kept_before_os(k)))
            continue;
        xmlTextWriterWriteRaw(w, (const xmlChar *)k->xml);
    }
}

/* Xen PV's <bootloader> and <bootloader_args>: libvirt's schema wants
 * them right before <os>. */
static void format_kept_bootloader(W *w, const struct qv_domain *def)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (kept_before_os(k))
            xmlTextWriterWriteRaw(w, (const xmlChar *)k->xml);
    }
}

static bool has_kept(const struct qv_domain *def, const char *parent)
{
    for (guint i = 0; i < def->kept->len; i++)
        if (strcmp(((struct qv_kept *)g_ptr_array_index(def->kept, i))->parent, parent) == 0)
            return true;
    return false;
}

static void format_os(W *w, const struct qv_domain *def)
{
    start(w, "os");
    attr(w, "firmware", def->os.firmware);
    start(w, "type");
    attr(w, "arch", def->os.arch);
    attr(w, "machine", def->os.machine);
    xmlTextWriterWriteString(w, (const xmlChar *)(def->os.type ? def->os.type : "hvm"));
    end(w);
    if (def->os.loader) {
        start(w, "loader");
        if (def->os.loader_readonly)
            attr(w, "readonly", "yes");
        if (def->os.loader_secure)
            attr(w, "secure", "yes");
        attr(w, "type", def->os.loader_pflash ? "pflash" : NULL);
        xmlTextWriterWriteString(w, (const xmlChar *)def->os.loader);
        end(w);
    }
    if (def->os.nvram) {
        start(w, "nvram");
        attr(w, "template", def->os.nvram_template);
        xmlTextWriterWriteString(w, (const xmlChar *)def->os.nvram);
        end(w);
    }
    text_elem(w, "kernel", def->os.kernel);
    text_elem(w, "initrd", def->os.initrd);
    text_elem(w, "cmdline", def->os.cmdline);
    for (char **b = def->os.boot_devs; b && *b; b++)
        empty_elem(w, "boot", "dev", *b);
    format_kept(w, def, "os", false);
    end(w);
}

static void format_cputune(W *w, const struct qv_domain *def)
{
    if (!def->cputune.shares && !def->cputune.cap && def->cputune.pins->len == 0)
        return;
    start(w, "cputune");
    if (def->cputune.shares)
        u64_elem(w, "shares", def->cputune.shares);
    if (def->cputune.cap) {
        /* cap% of one CPU = quota / period * 100, with the kernel's default
         * CFS period. */
        u64_elem(w, "period", 100000);
        u64_elem(w, "quota", (uint64_t)def->cputune.cap * 1000);
    }
    for (guint i = 0; i < def->cputune.pins->len; i++) {
        const struct qv_vcpupin *p = &g_array_index(def->cputune.pins, struct qv_vcpupin, i);
        start(w, "vcpupin");
        attr_u64(w, "vcpu", p->vcpu);
        if (p->cpuset)
            attr(w, "cpuset", p->cpuset);
        else
            xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"cpuset", "%d", p->pcpu);
        end(w);
    }
    end(w);
}

static void format_cpu(W *w, const struct qv_domain *def)
{
    bool topo = def->cpu.sockets || def->cpu.cores || def->cpu.threads;
    if (def->cpu.mode == QV_CPU_MODE_NONE && !topo && !def->cpu.match && !def->cpu.check &&
        !def->cpu.migratable && !def->cpu.features && !has_kept(def, "cpu"))
        return;
    start(w, "cpu");
    if (def->cpu.mode != QV_CPU_MODE_NONE)
        attr(w, "mode", qv_conf_cpu_modes[def->cpu.mode]);
    attr(w, "match", def->cpu.match);
    attr(w, "check", def->cpu.check);
    attr(w, "migratable", def->cpu.migratable);
    if (def->cpu.mode == QV_CPU_MODE_CUSTOM) {
        start(w, "model");
        attr(w, "fallback", def->cpu.fallback);
        attr(w, "vendor_id", def->cpu.vendor_id);
        xmlTextWriterWriteString(w, (const xmlChar *)def->cpu.model);
        end(w);
    }
    if (topo) {
        start(w, "topology");
        attr_u64(w, "sockets", def->cpu.sockets);
        if (def->cpu.dies)
            attr_u64(w, "dies", def->cpu.dies);
        attr_u64(w, "cores", def->cpu.cores);
        attr_u64(w, "threads", def->cpu.threads);
        end(w);
    }
    for (char **f = def->cpu.features; f && *f; f++) {
        const char *colon = strchr(*f, ':');
        g_autofree char *policy = g_strndup(*f, (gsize)(colon - *f));
        start(w, "feature");
        attr(w, "policy", policy);
        attr(w, "name", colon + 1);
        end(w);
    }
    format_kept(w, def, "cpu", false);
    end(w);
}

static void format_disk(W *w, const struct qv_disk *d)
{
    start(w, "disk");
    attr(w, "type", qv_conf_disk_types[d->type]);
    attr(w, "device", qv_conf_disk_devices[d->device]);
    if (d->driver_written || d->driver_type || d->cache || d->io || d->discard || d->iothread) {
        start(w, "driver");
        attr(w, "name", "qemu");
        attr(w, "type", d->driver_type);
        attr(w, "cache", d->cache);
        attr(w, "io", d->io);
        attr(w, "discard", d->discard);
        if (d->iothread)
            attr_u64(w, "iothread", d->iothread);
        end(w);
    }
    if (d->source)
        empty_elem(w, "source", d->type == QV_DISK_TYPE_BLOCK ? "dev" : "file", d->source);
    if (d->backing) {
        start(w, "backingStore");
        attr(w, "type", "file");
        empty_elem(w, "format", "type", d->backing_format ? d->backing_format : "raw");
        empty_elem(w, "source", "file", d->backing);
        end(w);
    }
    if (d->backing_end && !d->backing)
        empty_elem(w, "backingStore", NULL, NULL);
    if (d->target) { /* only a removal names a disk by its alias alone */
        start(w, "target");
        attr(w, "dev", d->target);
        attr(w, "bus", qv_conf_disk_buses[d->bus]);
        end(w);
    }
    if (d->total_bytes_sec || d->total_iops_sec) {
        start(w, "iotune");
        if (d->total_bytes_sec)
            u64_elem(w, "total_bytes_sec", d->total_bytes_sec);
        if (d->total_iops_sec)
            u64_elem(w, "total_iops_sec", d->total_iops_sec);
        end(w);
    }
    format_boot(w, d->boot_order);
    if (d->readonly)
        empty_elem(w, "readonly", NULL, NULL);
    text_elem(w, "serial", d->serial);
    if (d->logical_block_size) {
        start(w, "blockio");
        attr_u64(w, "logical_block_size", d->logical_block_size);
        end(w);
    }
    qv_conf_format_alias_address(w, d->alias, &d->addr);
    end(w);
}

static void format_net(W *w, const struct qv_net *n)
{
    static const char *const source_attr[] = {
        [QV_NET_USER] = "dev",   [QV_NET_BRIDGE] = "bridge", [QV_NET_NETWORK] = "network",
        [QV_NET_DIRECT] = "dev", [QV_NET_ETHERNET] = NULL,
    };
    start(w, "interface");
    attr(w, "type", qv_conf_net_types[n->type]);
    if (n->mac[0])
        empty_elem(w, "mac", "address", n->mac);
    if (n->source && source_attr[n->type]) {
        start(w, "source");
        attr(w, source_attr[n->type], n->source);
        if (n->source_mode)
            attr(w, "mode", n->source_mode);
        end(w);
    }
    if (n->type == QV_NET_USER && n->host_port) {
        start(w, "portForward");
        attr(w, "proto", "tcp");
        start(w, "range");
        attr_u64(w, "start", n->host_port);
        attr(w, "to", "22");
        end(w);
        end(w);
    }
    if (n->model)
        empty_elem(w, "model", "type", n->model);
    if (n->driver_name || n->queues || n->rx_queue_size) {
        start(w, "driver");
        attr(w, "name", n->driver_name);
        if (n->queues)
            attr_u64(w, "queues", n->queues);
        if (n->rx_queue_size)
            attr_u64(w, "rx_queue_size", n->rx_queue_size);
        end(w);
    }
    if (n->inbound_kbps || n->outbound_kbps) {
        start(w, "bandwidth");
        if (n->inbound_kbps) {
            start(w, "inbound");
            attr_u64(w, "average", n->inbound_kbps);
            if (n->inbound_peak_kbps)
                attr_u64(w, "peak", n->inbound_peak_kbps);
            if (n->inbound_burst_kib)
                attr_u64(w, "burst", n->inbound_burst_kib);
            end(w);
        }
        if (n->outbound_kbps) {
            start(w, "outbound");
            attr_u64(w, "average", n->outbound_kbps);
            if (n->outbound_peak_kbps)
                attr_u64(w, "peak", n->outbound_peak_kbps);
            if (n->outbound_burst_kib)
                attr_u64(w, "burst", n->outbound_burst_kib);
            end(w);
        }
        end(w);
    }
    format_boot(w, n->boot_order);
    qv_conf_format_alias_address(w, n->alias, &n->addr);
    end(w);
}

static void format_chardev(W *w, const char *elem, const struct qv_chardev *c)
{
    start(w, elem);
    attr(w, "type", qv_conf_chr_types[c->type]);
    if (c->type == QV_CHR_TCP) {
        start(w, "source");
        attr(w, "mode", c->listen ? "bind" : "connect");
        attr(w, "host", c->host);
        attr(w, "service", c->service);
        end(w);
    } else if (c->type == QV_CHR_UNIX && c->path) {
        start(w, "source");
        attr(w, "mode", c->listen ? "bind" : "connect");
        attr(w, "path", c->path);
        end(w);
    } else if (c->path && c->type != QV_CHR_STDIO && c->type != QV_CHR_NULL) {
        empty_elem(w, "source", "path", c->path);
    }
    start(w, "target");
    attr(w, "type", c->target_type);
    attr_u64(w, "port", c->port);
    if (c->target_model)
        empty_elem(w, "model", "name", c->target_model);
    end(w);
    qv_conf_format_alias_address(w, NULL, &c->addr);
    end(w);
}

static void format_channel(W *w, const struct qv_channel *c)
{
    start(w, "channel");
    attr(w, "type", c->type == QV_CHR_UNIX ? "unix" : "pty");
    /* A unix channel is always bound by QEMU; libvirt picks the path when
     * none is given, and virt-install writes that as <source mode='bind'/>. */
    if (c->path || c->type == QV_CHR_UNIX) {
        start(w, "source");
        if (c->type == QV_CHR_UNIX)
            attr(w, "mode", "bind");
        attr(w, "path", c->path);
        end(w);
    }
    start(w, "target");
    attr(w, "type", c->target_type ? c->target_type : "virtio");
    attr(w, "name", c->target_name);
    end(w);
    qv_conf_format_alias_address(w, NULL, &c->addr);
    end(w);
}

static void format_graphics(W *w, const struct qv_graphics *g)
{
    start(w, "graphics");
    attr(w, "type", qv_conf_graphics_types[g->type]);
    if (g->port > 0) {
        attr_u64(w, "port", (uint64_t)g->port);
        attr(w, "autoport", "no");
    } else {
        attr(w, "port", "-1");
        attr(w, "autoport", "yes");
    }
    attr(w, "listen", g->listen);
    if (g->listen_elem || g->listen) {
        start(w, "listen");
        attr(w, "type", "address");
        attr(w, "address", g->listen);
        end(w);
    }
    end(w);
}

static void format_hostdev(W *w, const struct qv_hostdev *h)
{
    start(w, "hostdev");
    attr(w, "mode", "subsystem");
    attr(w, "type", "pci");
    attr(w, "managed", h->managed ? "yes" : "no");
    if (h->driver)
        empty_elem(w, "driver", "name", h->driver);
    start(w, "source");
    start(w, "address");
    xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"domain", "0x%04x", h->domain);
    xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"bus", "0x%02x", h->bus);
    xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"slot", "0x%02x", h->slot);
    xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"function", "0x%x", h->function);
    end(w);
    end(w);
    end(w);
}

static void format_rng(W *w, const struct qv_rng *r)
{
    start(w, "rng");
    attr(w, "model", r->model ? r->model : "virtio");
    start(w, "backend");
    attr(w, "model", "random");
    if (r->backend)
        xmlTextWriterWriteString(w, (const xmlChar *)r->backend);
    end(w);
    qv_conf_format_alias_address(w, NULL, &r->addr);
    end(w);
}

static void format_devices(W *w, const struct qv_domain *def)
{
    start(w, "devices");
    text_elem(w, "emulator", def->emulator);
    for (guint i = 0; i < def->disks->len; i++)
        format_disk(w, g_ptr_array_index(def->disks, i));
    for (guint i = 0; i < def->nets->len; i++)
        format_net(w, g_ptr_array_index(def->nets, i));
    for (guint i = 0; i < def->serials->len; i++)
        format_chardev(w, "serial", g_ptr_array_index(def->serials, i));
    for (guint i = 0; i < def->consoles->len; i++)
        format_chardev(w, "console", g_ptr_array_index(def->consoles, i));
    for (guint i = 0; i < def->channels->len; i++)
        format_channel(w, g_ptr_array_index(def->channels, i));
    for (guint i = 0; i < def->graphics->len; i++)
        format_graphics(w, g_ptr_array_index(def->graphics, i));
    for (guint i = 0; i < def->hostdevs->len; i++)
        format_hostdev(w, g_ptr_array_index(def->hostdevs, i));
    for (guint i = 0; i < def->rngs->len; i++)
        format_rng(w, g_ptr_array_index(def->rngs, i));
    format_kept(w, def, "devices", false);
    end(w);
}

static void format_domain(W *w, const struct qv_domain *def)
{
    start(w, "domain");
    attr(w, "type", qv_conf_virt_types[def->type]);
    text_elem(w, "name", def->name);
    if (def->uuid[0])
        text_elem(w, "uuid", def->uuid);
    text_elem(w, "title", def->title);
    text_elem(w, "description", def->description);
    qv_conf_xml_format_metadata(w, def);
    start(w, "memory");
    attr(w, "unit", "KiB");
    xmlTextWriterWriteFormatString(w, "%" G_GUINT64_FORMAT, def->memory_kib);
    end(w);
    if (def->current_memory_kib) {
        start(w, "currentMemory");
        attr(w, "unit", "KiB");
        xmlTextWriterWriteFormatString(w, "%" G_GUINT64_FORMAT, def->current_memory_kib);
        end(w);
    }
    if (def->hugepages) {
        start(w, "memoryBacking");
        empty_elem(w, "hugepages", NULL, NULL);
        end(w);
    }
    start(w, "vcpu");
    attr(w, "placement", def->vcpu_placement);
    attr(w, "cpuset", def->vcpu_cpuset);
    uint32_t max = def->max_vcpus ? def->max_vcpus : def->vcpus;
    if (def->vcpus && def->vcpus != max)
        attr_u64(w, "current", def->vcpus);
    xmlTextWriterWriteFormatString(w, "%u", max);
    end(w);
    format_cputune(w, def);
    if (def->numa_node >= 0) {
        start(w, "numatune");
        start(w, "memory");
        attr(w, "mode", "strict");
        xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)"nodeset", "%d", def->numa_node);
        end(w);
        end(w);
    }
    if (def->partition) {
        start(w, "resource");
        text_elem(w, "partition", def->partition);
        end(w);
    }
    format_kept_bootloader(w, def);
    format_os(w, def);
    if (def->acpi || def->apic || def->pae || has_kept(def, "features")) {
        start(w, "features");
        if (def->acpi)
            empty_elem(w, "acpi", NULL, NULL);
        if (def->apic)
            empty_elem(w, "apic", NULL, NULL);
        if (def->pae)
            empty_elem(w, "pae", NULL, NULL);
        format_kept(w, def, "features", false);
        end(w);
    }
    format_cpu(w, def);
    if (def->clock_offset) {
        start(w, "clock");
        attr(w, "offset", def->clock_offset);
        attr(w, "adjustment", def->clock_adjustment);
        attr(w, "basis", def->clock_basis);
        attr(w, "timezone", def->clock_timezone);
        if (strcmp(def->clock_offset, "absolute") == 0)
            attr_u64(w, "start", def->clock_start);
        for (uint8_t i = 0; i < def->ntimers; i++) {
            const struct qv_timer *t = &def->timers[i];
            start(w, "timer");
            attr(w, "name", qv_conf_timer_names[t->name]);
            if (t->tickpolicy)
                attr(w, "tickpolicy", qv_conf_tickpolicies[t->tickpolicy]);
            if (t->track)
                attr(w, "track", qv_conf_timer_tracks[t->track]);
            if (t->frequency)
                attr_u64(w, "frequency", t->frequency);
            if (t->mode)
                attr(w, "mode", qv_conf_tsc_modes[t->mode]);
            if (t->present >= 0)
                attr(w, "present", t->present ? "yes" : "no");
            end(w);
        }
        end(w);
    }
    text_elem(w, "on_poweroff", def->on_poweroff);
    text_elem(w, "on_reboot", def->on_reboot);
    text_elem(w, "on_crash", def->on_crash);
    if (def->pm_s3 >= 0 || def->pm_s4 >= 0) {
        start(w, "pm");
        if (def->pm_s3 >= 0)
            empty_elem(w, "suspend-to-mem", "enabled", def->pm_s3 ? "yes" : "no");
        if (def->pm_s4 >= 0)
            empty_elem(w, "suspend-to-disk", "enabled", def->pm_s4 ? "yes" : "no");
        end(w);
    }
    format_kept(w, def, "", false);
    format_devices(w, def);
    format_kept(w, def, "", true);
    end(w);
}

/* Run fmt on a fresh indenting writer; the document it wrote, or NULL. */
static char *write_doc(void (*fmt)(W *w, const void *arg), const void *arg)
{
    xmlBuffer *buf = xmlBufferCreate();
    W *w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    if (!w) {
        if (buf)
            xmlBufferFree(buf);
        qv_error_set(QV_ERR_NOMEM, "cannot allocate an XML writer");
        return NULL;
    }
    xmlTextWriterSetIndent(w, 1);
    xmlTextWriterSetIndentString(w, (const xmlChar *)"  ");
    fmt(w, arg);
    xmlTextWriterEndDocument(w);
    xmlTextWriterFlush(w);
    xmlFreeTextWriter(w);
    char *out = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}

static void fmt_domain(W *w, const void *def)
{
    format_domain(w, def);
}

/* A definition that, written, could not be read back is refused here,
 * before any driver stores it over the one that can. */
static char *within_limit(char *out, const struct qv_domain *def)
{
    if (out && strlen(out) > QV_XML_MAX_BYTES) {
        qv_error_set(QV_ERR_INVALID_ARG,
                     "VM '%s': its definition would be %zu bytes of XML, more than the %u "
                     "qv reads back",
                     def->name ? def->name : "", strlen(out), QV_XML_MAX_BYTES);
        g_free(out);
        return NULL;
    }
    return out;
}

char *qv_domain_format_xml(const struct qv_domain *def)
{
    if (!def) {
        qv_error_set(QV_ERR_INVALID_ARG, "cannot format a NULL domain definition");
        return NULL;
    }
    char *out = write_doc(fmt_domain, def);
    if (!out || (def->kept->len == 0 && !def->metadata))
        return within_limit(out, def);
    /* Kept elements went in raw: one pass through libxml2 indents them as
     * the rest, so `vm show --xml` reads like libvirt's output. */
    xmlDoc *doc = xmlReadMemory(out, (int)strlen(out), NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                                    XML_PARSE_NOWARNING | XML_PARSE_BIG_LINES);
    if (!doc)
        return within_limit(out, def);
    xmlChar *pretty = NULL;
    int len = 0;
    xmlDocDumpFormatMemory(doc, &pretty, &len, 1);
    xmlFreeDoc(doc);
    if (pretty) {
        g_free(out);
        out = g_strdup((const char *)pretty);
        xmlFree(pretty);
    }
    return within_limit(out, def);
}

struct device_arg {
    const struct qv_disk *disk;
    const struct qv_net *net;
    const struct qv_hostdev *hostdev;
};

static void fmt_device(W *w, const void *arg)
{
    const struct device_arg *d = arg;
    if (d->disk)
        format_disk(w, d->disk);
    else if (d->net)
        format_net(w, d->net);
    else
        format_hostdev(w, d->hostdev);
}

char *qv_domain_format_device_xml(const struct qv_disk *disk, const struct qv_net *net,
                                  const struct qv_hostdev *hostdev)
{
    if (!disk && !net && !hostdev) {
        qv_error_set(QV_ERR_INVALID_ARG, "cannot format a NULL device");
        return NULL;
    }
    struct device_arg d = {disk, net, hostdev};
    return write_doc(fmt_device, &d);
}
