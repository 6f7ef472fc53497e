/* Allocation, copying and freeing of the domain definition. */
#include "domain.h"

#include <string.h>

void qv_disk_free(struct qv_disk *d)
{
    if (!d)
        return;
    g_free(d->driver_type);
    g_free(d->cache);
    g_free(d->io);
    g_free(d->discard);
    g_free(d->source);
    g_free(d->backing);
    g_free(d->backing_format);
    g_free(d->target);
    g_free(d->serial);
    g_free(d->alias);
    g_free(d);
}

void qv_net_free(struct qv_net *n)
{
    if (!n)
        return;
    g_free(n->source);
    g_free(n->source_mode);
    g_free(n->model);
    g_free(n->driver_name);
    g_free(n->alias);
    g_free(n);
}

void qv_chardev_free(struct qv_chardev *c)
{
    if (!c)
        return;
    g_free(c->path);
    g_free(c->host);
    g_free(c->service);
    g_free(c->target_type);
    g_free(c->target_model);
    g_free(c);
}

void qv_channel_free(struct qv_channel *c)
{
    if (!c)
        return;
    g_free(c->path);
    g_free(c->target_type);
    g_free(c->target_name);
    g_free(c);
}

void qv_hostdev_free(struct qv_hostdev *h)
{
    if (!h)
        return;
    g_free(h->driver);
    g_free(h->role);
    g_free(h);
}

void qv_graphics_free(struct qv_graphics *g)
{
    if (!g)
        return;
    g_free(g->listen);
    g_free(g);
}

void qv_rng_free(struct qv_rng *r)
{
    if (!r)
        return;
    g_free(r->model);
    g_free(r->backend);
    g_free(r);
}

static void pin_clear(gpointer p)
{
    g_free(((struct qv_vcpupin *)p)->cpuset);
}

struct qv_domain *qv_domain_new(void)
{
    struct qv_domain *d = g_new0(struct qv_domain, 1);
    d->type = QV_VIRT_KVM;
    d->numa_node = -1;
    d->pm_s3 = d->pm_s4 = -1;
    d->acpi = true;
    d->apic = true;
    d->cputune.pins = g_array_new(FALSE, TRUE, sizeof(struct qv_vcpupin));
    g_array_set_clear_func(d->cputune.pins, pin_clear);
    d->disks = g_ptr_array_new_with_free_func((GDestroyNotify)qv_disk_free);
    d->nets = g_ptr_array_new_with_free_func((GDestroyNotify)qv_net_free);
    d->serials = g_ptr_array_new_with_free_func((GDestroyNotify)qv_chardev_free);
    d->consoles = g_ptr_array_new_with_free_func((GDestroyNotify)qv_chardev_free);
    d->channels = g_ptr_array_new_with_free_func((GDestroyNotify)qv_channel_free);
    d->hostdevs = g_ptr_array_new_with_free_func((GDestroyNotify)qv_hostdev_free);
    d->graphics = g_ptr_array_new_with_free_func((GDestroyNotify)qv_graphics_free);
    d->rngs = g_ptr_array_new_with_free_func((GDestroyNotify)qv_rng_free);
    d->kept = g_ptr_array_new_with_free_func((GDestroyNotify)qv_kept_free);
    return d;
}

void qv_domain_free(struct qv_domain *d)
{
    if (!d)
        return;
    g_free(d->name);
    g_free(d->partition);
    g_free(d->title);
    g_free(d->description);
    g_free(d->cpu.model);
    g_free(d->clock_offset);
    g_free(d->clock_adjustment);
    g_free(d->clock_basis);
    g_free(d->clock_timezone);
    g_free(d->cpu.match);
    g_free(d->cpu.check);
    g_free(d->cpu.migratable);
    g_free(d->cpu.fallback);
    g_free(d->cpu.vendor_id);
    g_strfreev(d->cpu.features);
    g_free(d->os.arch);
    g_free(d->os.machine);
    g_free(d->os.type);
    g_free(d->os.firmware);
    g_free(d->vcpu_placement);
    g_free(d->vcpu_cpuset);
    g_free(d->os.kernel);
    g_free(d->os.initrd);
    g_free(d->os.cmdline);
    g_free(d->os.loader);
    g_free(d->os.nvram);
    g_free(d->os.nvram_template);
    g_strfreev(d->os.boot_devs);
    g_array_unref(d->cputune.pins);
    g_free(d->on_poweroff);
    g_free(d->on_reboot);
    g_free(d->on_crash);
    g_free(d->emulator);
    g_ptr_array_unref(d->disks);
    g_ptr_array_unref(d->nets);
    g_ptr_array_unref(d->serials);
    g_ptr_array_unref(d->consoles);
    g_ptr_array_unref(d->channels);
    g_ptr_array_unref(d->hostdevs);
    g_ptr_array_unref(d->graphics);
    g_ptr_array_unref(d->rngs);
    g_ptr_array_unref(d->kept);
    g_free(d->metadata);
    qv_cloud_init_free(d->cloud_init);
    g_free(d);
}

struct qv_disk *qv_disk_copy(const struct qv_disk *s)
{
    struct qv_disk *d = g_memdup2(s, sizeof(*s));
    d->driver_type = g_strdup(s->driver_type);
    d->cache = g_strdup(s->cache);
    d->io = g_strdup(s->io);
    d->discard = g_strdup(s->discard);
    d->source = g_strdup(s->source);
    d->backing = g_strdup(s->backing);
    d->backing_format = g_strdup(s->backing_format);
    d->target = g_strdup(s->target);
    d->serial = g_strdup(s->serial);
    d->alias = g_strdup(s->alias);
    return d;
}

struct qv_net *qv_net_copy(const struct qv_net *s)
{
    struct qv_net *d = g_memdup2(s, sizeof(*s));
    d->source = g_strdup(s->source);
    d->source_mode = g_strdup(s->source_mode);
    d->model = g_strdup(s->model);
    d->alias = g_strdup(s->alias);
    d->driver_name = g_strdup(s->driver_name);
    return d;
}

static gpointer chardev_copy(gconstpointer src, gpointer unused)
{
    (void)unused;
    const struct qv_chardev *s = src;
    struct qv_chardev *d = g_memdup2(s, sizeof(*s));
    d->path = g_strdup(s->path);
    d->host = g_strdup(s->host);
    d->service = g_strdup(s->service);
    d->target_type = g_strdup(s->target_type);
    d->target_model = g_strdup(s->target_model);
    return d;
}

static gpointer channel_copy(gconstpointer src, gpointer unused)
{
    (void)unused;
    const struct qv_channel *s = src;
    struct qv_channel *d = g_memdup2(s, sizeof(*s));
    d->path = g_strdup(s->path);
    d->target_type = g_strdup(s->target_type);
    d->target_name = g_strdup(s->target_name);
    return d;
}

struct qv_hostdev *qv_hostdev_copy(const struct qv_hostdev *s)
{
    struct qv_hostdev *d = g_memdup2(s, sizeof(*s));
    d->driver = g_strdup(s->driver);
    d->role = g_strdup(s->role);
    return d;
}

static gpointer graphics_copy(gconstpointer src, gpointer unused)
{
    (void)unused;
    const struct qv_graphics *s = src;
    struct qv_graphics *d = g_memdup2(s, sizeof(*s));
    d->listen = g_strdup(s->listen);
    return d;
}

static gpointer rng_copy(gconstpointer src, gpointer unused)
{
    (void)unused;
    const struct qv_rng *s = src;
    struct qv_rng *d = g_memdup2(s, sizeof(*s));
    d->model = g_strdup(s->model);
    d->backend = g_strdup(s->backend);
    return d;
}

const struct qv_kept *qv_domain_kept_find(const struct qv_domain *def, const char *parent,
                                          const char *name)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->parent, parent) == 0 && strcmp(k->name, name) == 0)
            return k;
    }
    return NULL;
}

void qv_kept_free(struct qv_kept *k)
{
    if (!k)
        return;
    g_free(k->parent);
    g_free(k->name);
    g_free(k->xml);
    g_free(k->reason);
    g_free(k);
}

static gpointer kept_copy(gconstpointer src, gpointer unused)
{
    (void)unused;
    const struct qv_kept *s = src;
    struct qv_kept *d = g_memdup2(s, sizeof(*s));
    d->parent = g_strdup(s->parent);
    d->name = g_strdup(s->name);
    d->xml = g_strdup(s->xml);
    d->reason = g_strdup(s->reason);
    return d;
}

static gpointer disk_copy_cb(gconstpointer s, gpointer u)
{
    (void)u;
    return qv_disk_copy(s);
}

static gpointer net_copy_cb(gconstpointer s, gpointer u)
{
    (void)u;
    return qv_net_copy(s);
}

static gpointer hostdev_copy_cb(gconstpointer s, gpointer u)
{
    (void)u;
    return qv_hostdev_copy(s);
}

static void copy_array(GPtrArray *dst, const GPtrArray *src, GCopyFunc fn)
{
    for (guint i = 0; i < src->len; i++)
        g_ptr_array_add(dst, fn(g_ptr_array_index(src, i), NULL));
}

struct qv_domain *qv_domain_copy(const struct qv_domain *s)
{
    struct qv_domain *d = qv_domain_new();
    GArray *pins = d->cputune.pins;
    GPtrArray *arrays[9] = {d->disks,    d->nets,     d->serials, d->consoles, d->channels,
                            d->hostdevs, d->graphics, d->rngs,    d->kept};
    /* Scalars first, then replace every owned pointer with a deep copy. */
    memcpy(d, s, sizeof(*d));
    d->name = g_strdup(s->name);
    d->title = g_strdup(s->title);
    d->description = g_strdup(s->description);
    d->cpu.model = g_strdup(s->cpu.model);
    d->clock_offset = g_strdup(s->clock_offset);
    d->clock_adjustment = g_strdup(s->clock_adjustment);
    d->clock_basis = g_strdup(s->clock_basis);
    d->clock_timezone = g_strdup(s->clock_timezone);
    d->cpu.match = g_strdup(s->cpu.match);
    d->cpu.check = g_strdup(s->cpu.check);
    d->cpu.migratable = g_strdup(s->cpu.migratable);
    d->cpu.fallback = g_strdup(s->cpu.fallback);
    d->cpu.vendor_id = g_strdup(s->cpu.vendor_id);
    d->cpu.features = g_strdupv(s->cpu.features);
    d->os.arch = g_strdup(s->os.arch);
    d->os.machine = g_strdup(s->os.machine);
    d->os.type = g_strdup(s->os.type);
    d->os.firmware = g_strdup(s->os.firmware);
    d->vcpu_placement = g_strdup(s->vcpu_placement);
    d->vcpu_cpuset = g_strdup(s->vcpu_cpuset);
    d->os.kernel = g_strdup(s->os.kernel);
    d->os.initrd = g_strdup(s->os.initrd);
    d->os.cmdline = g_strdup(s->os.cmdline);
    d->os.loader = g_strdup(s->os.loader);
    d->os.nvram = g_strdup(s->os.nvram);
    d->os.nvram_template = g_strdup(s->os.nvram_template);
    d->os.boot_devs = g_strdupv(s->os.boot_devs);
    d->on_poweroff = g_strdup(s->on_poweroff);
    d->on_reboot = g_strdup(s->on_reboot);
    d->on_crash = g_strdup(s->on_crash);
    d->emulator = g_strdup(s->emulator);
    d->metadata = g_strdup(s->metadata);
    d->partition = g_strdup(s->partition);
    d->cloud_init = s->cloud_init ? qv_cloud_init_copy(s->cloud_init) : NULL;
    d->cputune.pins = pins;
    for (guint i = 0; i < s->cputune.pins->len; i++) {
        struct qv_vcpupin p = g_array_index(s->cputune.pins, struct qv_vcpupin, i);
        p.cpuset = g_strdup(p.cpuset);
        g_array_append_val(pins, p);
    }
    d->disks = arrays[0];
    d->nets = arrays[1];
    d->serials = arrays[2];
    d->consoles = arrays[3];
    d->channels = arrays[4];
    d->hostdevs = arrays[5];
    d->graphics = arrays[6];
    d->rngs = arrays[7];
    d->kept = arrays[8];
    copy_array(d->disks, s->disks, disk_copy_cb);
    copy_array(d->nets, s->nets, net_copy_cb);
    copy_array(d->serials, s->serials, chardev_copy);
    copy_array(d->consoles, s->consoles, chardev_copy);
    copy_array(d->channels, s->channels, channel_copy);
    copy_array(d->hostdevs, s->hostdevs, hostdev_copy_cb);
    copy_array(d->graphics, s->graphics, graphics_copy);
    copy_array(d->rngs, s->rngs, rng_copy);
    copy_array(d->kept, s->kept, kept_copy);
    return d;
}
