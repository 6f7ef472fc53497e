/* struct qv_domain -> the QuantaVirt JSON config. Only what differs from
 * the defaults is written, and the result parses back (json_parse.c) to the
 * same definition. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "../util/error.h"
#include "address.h"
#include "conf_check.h"
#include "domain.h"

typedef JsonBuilder B;

static void str(B *b, const char *key, const char *v)
{
    if (!v)
        return;
    json_builder_set_member_name(b, key);
    json_builder_add_string_value(b, v);
}

static void num(B *b, const char *key, int64_t v)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, v);
}

static void num_nz(B *b, const char *key, uint64_t v)
{
    if (v)
        num(b, key, (int64_t)v);
}

static void boolean(B *b, const char *key, bool v)
{
    json_builder_set_member_name(b, key);
    json_builder_add_boolean_value(b, v);
}

static void begin_obj(B *b, const char *key)
{
    json_builder_set_member_name(b, key);
    json_builder_begin_object(b);
}

/* Sizes as exact strings ("2G", "1536M", "100K") so no unit is lost and no
 * integer overflows. */
static void size(B *b, const char *key, uint64_t kib)
{
    static const char units[] = "KMGTPE";
    int u = 0;
    while (kib && kib % 1024 == 0 && u < 5) {
        kib /= 1024;
        u++;
    }
    char buf[40];
    g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT "%c", kib, units[u]);
    str(b, key, buf);
}

static void format_cpu(B *b, const struct qv_domain *d)
{
    bool topo = d->cpu.sockets || d->cpu.cores || d->cpu.threads;
    bool attrs = d->cpu.match || d->cpu.check || d->cpu.migratable || d->cpu.fallback ||
                 d->cpu.vendor_id || d->cpu.features;
    if (d->cpu.mode == QV_CPU_MODE_NONE && !topo && !attrs && d->numa_node < 0 &&
        d->cputune.pins->len == 0 && !d->cputune.shares && !d->cputune.cap)
        return;
    begin_obj(b, "cpu");
    if (d->cpu.mode != QV_CPU_MODE_NONE)
        str(b, "mode", qv_conf_cpu_modes[d->cpu.mode]);
    if (d->cpu.mode == QV_CPU_MODE_CUSTOM || d->cpu.model)
        str(b, "model", d->cpu.model);
    str(b, "match", d->cpu.match);
    str(b, "check", d->cpu.check);
    str(b, "migratable", d->cpu.migratable);
    str(b, "fallback", d->cpu.fallback);
    str(b, "vendor_id", d->cpu.vendor_id);
    if (d->cpu.features) {
        json_builder_set_member_name(b, "features");
        json_builder_begin_array(b);
        for (char **f = d->cpu.features; *f; f++) {
            const char *colon = strchr(*f, ':');
            g_autofree char *policy = g_strndup(*f, colon ? (gsize)(colon - *f) : 0);
            json_builder_begin_object(b);
            str(b, "name", colon ? colon + 1 : *f);
            str(b, "policy", policy);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    if (topo) {
        begin_obj(b, "topology");
        num(b, "sockets", d->cpu.sockets);
        num_nz(b, "dies", d->cpu.dies);
        num(b, "cores", d->cpu.cores);
        num(b, "threads", d->cpu.threads);
        json_builder_end_object(b);
    }
    if (d->numa_node >= 0)
        num(b, "numa_node", d->numa_node);
    if (d->cputune.pins->len) {
        begin_obj(b, "pinning");
        for (guint i = 0; i < d->cputune.pins->len; i++) {
            const struct qv_vcpupin *p = &g_array_index(d->cputune.pins, struct qv_vcpupin, i);
            char key[16];
            g_snprintf(key, sizeof(key), "%u", p->vcpu);
            if (p->pcpu >= 0)
                num(b, key, p->pcpu);
            else
                str(b, key, p->cpuset);
        }
        json_builder_end_object(b);
    }
    num_nz(b, "weight", d->cputune.shares);
    num_nz(b, "cap", d->cputune.cap);
    json_builder_end_object(b);
}

static void format_clock_pm(B *b, const struct qv_domain *d)
{
    if (d->clock_offset) {
        begin_obj(b, "clock");
        str(b, "offset", d->clock_offset);
        str(b, "adjustment", d->clock_adjustment);
        str(b, "basis", d->clock_basis);
        str(b, "timezone", d->clock_timezone);
        if (strcmp(d->clock_offset, "absolute") == 0)
            num(b, "start", (int64_t)d->clock_start);
        if (d->ntimers) {
            json_builder_set_member_name(b, "timers");
            json_builder_begin_array(b);
            for (uint8_t i = 0; i < d->ntimers; i++) {
                const struct qv_timer *t = &d->timers[i];
                json_builder_begin_object(b);
                str(b, "name", qv_conf_timer_names[t->name]);
                if (t->tickpolicy)
                    str(b, "tickpolicy", qv_conf_tickpolicies[t->tickpolicy]);
                if (t->present >= 0)
                    boolean(b, "present", t->present);
                if (t->track)
                    str(b, "track", qv_conf_timer_tracks[t->track]);
                num_nz(b, "frequency", t->frequency);
                if (t->mode)
                    str(b, "mode", qv_conf_tsc_modes[t->mode]);
                json_builder_end_object(b);
            }
            json_builder_end_array(b);
        }
        json_builder_end_object(b);
    }
    if (d->pm_s3 >= 0 || d->pm_s4 >= 0) {
        begin_obj(b, "pm");
        if (d->pm_s3 >= 0)
            boolean(b, "suspend_to_mem", d->pm_s3);
        if (d->pm_s4 >= 0)
            boolean(b, "suspend_to_disk", d->pm_s4);
        json_builder_end_object(b);
    }
}

static void format_boot(B *b, const struct qv_domain *d)
{
    if (!d->os.kernel && !d->os.initrd && !d->os.cmdline && !d->os.arch && !d->os.machine &&
        !d->os.type && !d->os.loader && !d->os.boot_devs && !d->os.firmware)
        return;
    begin_obj(b, "boot");
    str(b, "firmware_auto", d->os.firmware);
    str(b, "kernel", d->os.kernel);
    str(b, "initrd", d->os.initrd);
    str(b, "cmdline", d->os.cmdline);
    str(b, "arch", d->os.arch);
    str(b, "machine", d->os.machine);
    str(b, "os_type", d->os.type);
    if (d->os.loader) {
        begin_obj(b, "firmware");
        str(b, "loader", d->os.loader);
        if (d->os.loader_readonly)
            boolean(b, "readonly", true);
        if (d->os.loader_secure)
            boolean(b, "secure", true);
        if (d->os.loader_pflash)
            str(b, "type", "pflash");
        str(b, "nvram", d->os.nvram);
        str(b, "nvram_template", d->os.nvram_template);
        json_builder_end_object(b);
    }
    if (d->os.boot_devs) {
        json_builder_set_member_name(b, "order");
        json_builder_begin_array(b);
        for (char **p = d->os.boot_devs; *p; p++)
            json_builder_add_string_value(b, *p);
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
}

static void format_placement(B *b, const struct qv_addr *a, const char *alias)
{
    g_autofree char *where = qv_conf_addr_string(a);
    str(b, "address", where);
    str(b, "alias", alias);
}

static void format_disk(B *b, const struct qv_disk *k)
{
    json_builder_begin_object(b);
    str(b, "path", k->source);
    str(b, "target", k->target);
    str(b, "bus", qv_conf_disk_buses[k->bus]);
    str(b, "format", k->driver_type);
    if (k->type != QV_DISK_TYPE_FILE)
        str(b, "type", qv_conf_disk_types[k->type]);
    if (k->device != QV_DISK_DISK)
        str(b, "device", qv_conf_disk_devices[k->device]);
    if (k->readonly)
        boolean(b, "readonly", true);
    str(b, "cache", k->cache);
    str(b, "io", k->io);
    str(b, "discard", k->discard);
    str(b, "backing", k->backing);
    str(b, "backing_format", k->backing ? k->backing_format : NULL);
    num_nz(b, "logical_block_size", k->logical_block_size);
    num_nz(b, "boot_order", k->boot_order);
    num_nz(b, "io_bytes_per_sec", k->total_bytes_sec);
    num_nz(b, "iops", k->total_iops_sec);
    num_nz(b, "iothread", k->iothread);
    str(b, "serial", k->serial);
    format_placement(b, &k->addr, k->alias);
    json_builder_end_object(b);
}

static void format_nic(B *b, const struct qv_net *n)
{
    json_builder_begin_object(b);
    str(b, "type", qv_conf_net_types[n->type]);
    str(b, "source", n->source);
    str(b, "source_mode", n->source_mode);
    str(b, "mac", n->mac[0] ? n->mac : NULL);
    str(b, "model", n->model);
    str(b, "driver", n->driver_name);
    num_nz(b, "queues", n->queues);
    num_nz(b, "rx_queue_size", n->rx_queue_size);
    num_nz(b, "boot_order", n->boot_order);
    if (n->type == QV_NET_USER)
        num_nz(b, "host_port", n->host_port);
    /* libvirt keeps KiB/s; the config speaks bits/s. */
    num_nz(b, "inbound_bits_per_sec", n->inbound_kbps * 8192);
    num_nz(b, "outbound_bits_per_sec", n->outbound_kbps * 8192);
    num_nz(b, "inbound_peak_bits_per_sec", n->inbound_peak_kbps * 8192);
    num_nz(b, "outbound_peak_bits_per_sec", n->outbound_peak_kbps * 8192);
    num_nz(b, "inbound_burst_bytes", n->inbound_burst_kib * 1024);
    num_nz(b, "outbound_burst_bytes", n->outbound_burst_kib * 1024);
    format_placement(b, &n->addr, n->alias);
    json_builder_end_object(b);
}

static void format_pci(B *b, const struct qv_hostdev *h)
{
    char bdf[16];
    g_snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", h->domain, h->bus, h->slot, h->function);
    json_builder_begin_object(b);
    str(b, "bdf", bdf);
    str(b, "type", h->role ? h->role : h->driver);
    boolean(b, "managed", h->managed);
    json_builder_end_object(b);
}

static void format_chardev(B *b, const struct qv_chardev *c)
{
    json_builder_begin_object(b);
    str(b, "type", qv_conf_chr_types[c->type]);
    if (c->type == QV_CHR_PTY || c->type == QV_CHR_FILE || c->type == QV_CHR_UNIX)
        str(b, "path", c->path);
    if (c->type == QV_CHR_TCP) {
        str(b, "host", c->host);
        str(b, "service", c->service);
    }
    if (c->type == QV_CHR_TCP || (c->type == QV_CHR_UNIX && c->path))
        str(b, "mode", c->listen ? "bind" : "connect");
    num_nz(b, "target_port", c->port);
    str(b, "target_type", c->target_type);
    str(b, "target_model", c->target_model);
    format_placement(b, &c->addr, NULL);
    json_builder_end_object(b);
}

static void format_channel(B *b, const struct qv_channel *c)
{
    json_builder_begin_object(b);
    str(b, "type", c->type == QV_CHR_UNIX ? "unix" : "pty");
    str(b, "path", c->path);
    str(b, "target_type", c->target_type);
    str(b, "name", c->target_name);
    format_placement(b, &c->addr, NULL);
    json_builder_end_object(b);
}

static void format_graphics(B *b, const struct qv_graphics *g)
{
    json_builder_begin_object(b);
    str(b, "type", qv_conf_graphics_types[g->type]);
    num(b, "port", g->port > 0 ? g->port : -1);
    str(b, "listen", g->listen);
    json_builder_end_object(b);
}

static void format_rng(B *b, const struct qv_rng *r)
{
    json_builder_begin_object(b);
    str(b, "model", r->model ? r->model : "virtio");
    str(b, "backend", r->backend);
    format_placement(b, &r->addr, NULL);
    json_builder_end_object(b);
}

typedef void (*item_fn)(B *, const void *);

static void list(B *b, const char *key, const GPtrArray *a, item_fn fn)
{
    if (a->len == 0)
        return;
    json_builder_set_member_name(b, key);
    json_builder_begin_array(b);
    for (guint i = 0; i < a->len; i++)
        fn(b, g_ptr_array_index(a, i));
    json_builder_end_array(b);
}

static void format_devices(B *b, const struct qv_domain *d)
{
    if (!d->emulator && !d->disks->len && !d->nets->len && !d->hostdevs->len && !d->serials->len &&
        !d->consoles->len && !d->channels->len && !d->graphics->len && !d->rngs->len)
        return;
    begin_obj(b, "devices");
    str(b, "emulator", d->emulator);
    list(b, "disks", d->disks, (item_fn)format_disk);
    list(b, "nics", d->nets, (item_fn)format_nic);
    list(b, "pci_passthrough", d->hostdevs, (item_fn)format_pci);
    list(b, "serials", d->serials, (item_fn)format_chardev);
    list(b, "consoles", d->consoles, (item_fn)format_chardev);
    list(b, "channels", d->channels, (item_fn)format_channel);
    list(b, "graphics", d->graphics, (item_fn)format_graphics);
    list(b, "rngs", d->rngs, (item_fn)format_rng);
    json_builder_end_object(b);
}

/* What the JSON config has no key for, so a reader knows the JSON is not
 * the whole definition (vm show --xml is); the JSON parser refuses a
 * config carrying this list rather than define less than it says. */
static void format_left_out(JsonBuilder *b, const struct qv_domain *d)
{
    bool backing_end = false;
    for (guint i = 0; i < d->disks->len; i++)
        backing_end = backing_end ||
                      ((struct qv_disk *)g_ptr_array_index(d->disks, i))->backing_end;
    if (!d->kept->len && !backing_end)
        return;
    json_builder_set_member_name(b, "left_out");
    json_builder_begin_array(b);
    if (backing_end)
        json_builder_add_string_value(b, "<disk><backingStore/>");
    for (guint i = 0; i < d->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(d->kept, i);
        g_autofree char *what = *k->parent ? g_strdup_printf("<%s><%s>", k->parent, k->name)
                                           : g_strdup_printf("<%s>", k->name);
        json_builder_add_string_value(b, what);
    }
    json_builder_end_array(b);
}

/* libvirt's taint for a VM whose QEMU gets arguments of the user's own
 * (<qemu:commandline>): said where the VM is shown, as libvirt logs it. */
static void format_tainted(JsonBuilder *b, const struct qv_domain *d)
{
    for (guint i = 0; i < d->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(d->kept, i);
        if (!*k->parent && g_str_has_suffix(k->name, ":commandline") &&
            strstr(k->xml, "http://libvirt.org/schemas/domain/qemu/1.0")) {
            json_builder_set_member_name(b, "tainted");
            json_builder_begin_array(b);
            json_builder_add_string_value(b, "custom-argv");
            json_builder_end_array(b);
            return;
        }
    }
}

char *qv_domain_format_json(const struct qv_domain *d)
{
    if (!d) {
        qv_error_set(QV_ERR_INVALID_ARG, "cannot format a NULL domain definition");
        return NULL;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    str(b, "name", d->name);
    str(b, "type", qv_conf_virt_types[d->type]);
    str(b, "uuid", d->uuid[0] ? d->uuid : NULL);
    str(b, "title", d->title);
    str(b, "description", d->description);
    str(b, "cgroup_partition", d->partition);
    uint32_t max = d->max_vcpus ? d->max_vcpus : d->vcpus;
    num(b, "vcpus", d->vcpus ? d->vcpus : max);
    if (max != d->vcpus && d->vcpus)
        num(b, "max_vcpus", max);
    size(b, "memory", d->memory_kib);
    if (d->current_memory_kib)
        size(b, "current_memory", d->current_memory_kib);
    if (d->hugepages)
        boolean(b, "hugepages", true);
    str(b, "vcpu_placement", d->vcpu_placement);
    str(b, "vcpu_cpuset", d->vcpu_cpuset);
    if (!d->acpi || !d->apic || d->pae) {
        begin_obj(b, "features");
        boolean(b, "acpi", d->acpi);
        boolean(b, "apic", d->apic);
        if (d->pae)
            boolean(b, "pae", true);
        json_builder_end_object(b);
    }
    format_clock_pm(b, d);
    format_cpu(b, d);
    format_boot(b, d);
    if (d->on_poweroff || d->on_reboot || d->on_crash) {
        begin_obj(b, "lifecycle");
        str(b, "on_poweroff", d->on_poweroff);
        str(b, "on_reboot", d->on_reboot);
        str(b, "on_crash", d->on_crash);
        json_builder_end_object(b);
    }
    format_devices(b, d);
    if (d->cloud_init) {
        begin_obj(b, "cloud_init");
        str(b, "user_data", d->cloud_init->user_data);
        str(b, "meta_data", d->cloud_init->meta_data);
        str(b, "network_config", d->cloud_init->network_config);
        json_builder_end_object(b);
    }
    str(b, "metadata", d->metadata);
    format_left_out(b, d);
    format_tainted(b, d);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_indent(gen, 2);
    json_generator_set_root(gen, root);
    char *out = json_generator_to_data(gen, NULL);
    char *with_nl = g_strconcat(out, "\n", NULL);
    g_free(out);
    return with_nl;
}
