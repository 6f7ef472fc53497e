/* Applying a setting to a definition; every driver persists settings this
 * way so `qv vm show` reads back what `qv vm set` wrote. */
#include "setting.h"
#include "address.h"

#include <string.h>

#include "../util/error.h"

static bool hostdev_equal(const struct qv_hostdev *a, const struct qv_hostdev *b)
{
    return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot &&
           a->function == b->function;
}

static int set_pin(struct qv_domain *def, const struct qv_setting *s, const char *vm)
{
    if (s->vcpu >= def->max_vcpus)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no vCPU %u (it has %u)", vm, s->vcpu,
                            def->max_vcpus);
    GArray *pins = def->cputune.pins;
    for (guint i = 0; i < pins->len; i++) {
        if (g_array_index(pins, struct qv_vcpupin, i).vcpu == s->vcpu) {
            g_array_remove_index(pins, i);
            break;
        }
    }
    if (s->pcpu >= 0) {
        struct qv_vcpupin p = { .vcpu = s->vcpu, .pcpu = s->pcpu,
                                .cpuset = g_strdup_printf("%d", s->pcpu) };
        /* Keep pins sorted by vCPU so the XML reads naturally. */
        guint at = 0;
        while (at < pins->len && g_array_index(pins, struct qv_vcpupin, at).vcpu < s->vcpu)
            at++;
        g_array_insert_val(pins, at, p);
    }
    return 0;
}

static int set_io_limit(struct qv_domain *def, const struct qv_setting *s, const char *vm)
{
    bool found = false;
    for (guint i = 0; i < def->disks->len; i++) {
        struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (s->target && g_strcmp0(d->target, s->target) != 0)
            continue;
        d->total_bytes_sec = s->value;
        d->total_iops_sec = s->value2;
        found = true;
    }
    if (!found && s->target)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no disk '%s'", vm, s->target);
    if (!found)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no disks to limit", vm);
    return 0;
}

static int set_net_limit(struct qv_domain *def, const struct qv_setting *s, const char *vm)
{
    /* libvirt expresses bandwidth in KiB/s; round up so a small non-zero
     * limit stays a limit. */
    uint64_t kbps = s->value ? (s->value / 8 + 1023) / 1024 : 0;
    bool found = false;
    for (guint i = 0; i < def->nets->len; i++) {
        struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (s->target && g_ascii_strcasecmp(n->mac, s->target) != 0)
            continue;
        /* The whole <bandwidth> is replaced: a peak or burst written for
         * the old average would not fit the new one. */
        n->inbound_kbps = n->outbound_kbps = kbps;
        n->inbound_peak_kbps = n->outbound_peak_kbps = 0;
        n->inbound_burst_kib = n->outbound_burst_kib = 0;
        found = true;
    }
    if (!found && s->target)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no NIC with MAC %s", vm, s->target);
    if (!found)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no NICs to limit", vm);
    return 0;
}

static bool disk_matches(const struct qv_disk *d, const struct qv_disk *key)
{
    if (key->alias && g_strcmp0(d->alias, key->alias) != 0)
        return false;
    if (key->target && g_strcmp0(d->target, key->target) != 0)
        return false;
    return key->alias || key->target;
}

int qv_setting_find_disk(const struct qv_domain *def, const struct qv_disk *key)
{
    for (guint i = 0; i < def->disks->len; i++)
        if (disk_matches(g_ptr_array_index(def->disks, i), key))
            return (int)i;
    return -1;
}

int qv_setting_find_net(const struct qv_domain *def, const struct qv_net *key)
{
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (key->alias && g_strcmp0(n->alias, key->alias) != 0)
            continue;
        if (key->mac[0] && g_ascii_strcasecmp(n->mac, key->mac) != 0)
            continue;
        if (key->alias || key->mac[0])
            return (int)i;
    }
    return -1;
}

/* A device just added must not repeat another's alias or address; on
 * failure it is taken out again, leaving def as it was. */
static int check_added(struct qv_domain *def, GPtrArray *into)
{
    if (qv_conf_check_addresses(def) == 0)
        return 0;
    g_ptr_array_remove_index(into, into->len - 1);
    return qv_error_code();
}

static int attach_disk(struct qv_domain *def, const struct qv_disk *disk, const char *vm)
{
    if (!disk->target)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': a disk to add needs <target dev=...>",
                            vm);
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (g_strcmp0(d->target, disk->target) == 0)
            return qv_error_set(QV_ERR_EXISTS, "VM '%s' already has a disk '%s'", vm,
                                disk->target);
    }
    g_ptr_array_add(def->disks, qv_disk_copy(disk));
    return check_added(def, def->disks);
}

static int detach_disk(struct qv_domain *def, const struct qv_disk *disk, const char *vm)
{
    int i = qv_setting_find_disk(def, disk);
    if (i >= 0) {
        g_ptr_array_remove_index(def->disks, (guint)i);
        return 0;
    }
    if (disk->alias)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no disk%s%s with alias '%s'", vm,
                            disk->target ? " " : "", disk->target ? disk->target : "", disk->alias);
    return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no disk '%s'", vm,
                        disk->target ? disk->target : "(none)");
}

static int attach_net(struct qv_domain *def, const struct qv_net *net, const char *vm)
{
    struct qv_net *copy = qv_net_copy(net);
    if (!copy->mac[0]) {
        /* Reuse the definition's generator so the MAC is unique here too. */
        g_ptr_array_add(def->nets, copy);
        qv_domain_fill_defaults(def);
        return check_added(def, def->nets);
    }
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (g_ascii_strcasecmp(n->mac, net->mac) == 0) {
            qv_net_free(copy);
            return qv_error_set(QV_ERR_EXISTS, "VM '%s' already has a NIC with MAC %s", vm,
                                net->mac);
        }
    }
    g_ptr_array_add(def->nets, copy);
    return check_added(def, def->nets);
}

static int detach_net(struct qv_domain *def, const struct qv_net *net, const char *vm)
{
    int i = qv_setting_find_net(def, net);
    if (i >= 0) {
        g_ptr_array_remove_index(def->nets, (guint)i);
        return 0;
    }
    if (net->alias)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no NIC with alias '%s'%s%s", vm,
                            net->alias, net->mac[0] ? " and MAC " : "", net->mac);
    return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no NIC with MAC %s", vm,
                        net->mac[0] ? net->mac : "(none given)");
}

static int hostdev_op(struct qv_domain *def, const struct qv_hostdev *h, bool attach,
                      const char *vm)
{
    for (guint i = 0; i < def->hostdevs->len; i++) {
        if (!hostdev_equal(g_ptr_array_index(def->hostdevs, i), h))
            continue;
        if (attach)
            return qv_error_set(QV_ERR_EXISTS,
                                "VM '%s' already has host device %04x:%02x:%02x.%x", vm,
                                h->domain, h->bus, h->slot, h->function);
        g_ptr_array_remove_index(def->hostdevs, i);
        return 0;
    }
    if (!attach)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no host device %04x:%02x:%02x.%x",
                            vm, h->domain, h->bus, h->slot, h->function);
    g_ptr_array_add(def->hostdevs, qv_hostdev_copy(h));
    return 0;
}

int qv_setting_apply(struct qv_domain *def, const struct qv_setting *s, const char *vm)
{
    switch (s->kind) {
    case QV_SET_CPU_PIN:
        return set_pin(def, s, vm);
    case QV_SET_CPU_WEIGHT:
        def->cputune.shares = (uint32_t)s->value;
        return 0;
    case QV_SET_CPU_CAP:
        def->cputune.cap = (uint32_t)s->value;
        return 0;
    case QV_SET_VCPUS:
        if (s->value > def->max_vcpus)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': %" G_GUINT64_FORMAT
                                " vCPUs exceed its maximum of %u",
                                vm, s->value, def->max_vcpus);
        def->vcpus = (uint32_t)s->value;
        return 0;
    case QV_SET_MEMORY: {
        uint64_t kib = s->value / 1024;
        if (kib > def->memory_kib)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': %" G_GUINT64_FORMAT
                                " KiB exceeds its maximum memory of %" G_GUINT64_FORMAT " KiB",
                                vm, kib, def->memory_kib);
        def->current_memory_kib = kib == def->memory_kib ? 0 : kib;
        return 0;
    }
    case QV_SET_IO_LIMIT:
        return set_io_limit(def, s, vm);
    case QV_SET_NET_LIMIT:
        return set_net_limit(def, s, vm);
    case QV_SET_ATTACH_DISK:
        return attach_disk(def, s->disk, vm);
    case QV_SET_DETACH_DISK:
        return detach_disk(def, s->disk, vm);
    case QV_SET_ATTACH_NET:
        return attach_net(def, s->net, vm);
    case QV_SET_DETACH_NET:
        return detach_net(def, s->net, vm);
    case QV_SET_ATTACH_HOSTDEV:
        return hostdev_op(def, s->hostdev, true, vm);
    case QV_SET_DETACH_HOSTDEV:
        return hostdev_op(def, s->hostdev, false, vm);
    case QV_SET_CLOUD_INIT:
        qv_cloud_init_free(def->cloud_init);
        def->cloud_init = s->cloud_init ? qv_cloud_init_copy(s->cloud_init) : NULL;
        return 0;
    }
    return qv_error_set(QV_ERR_INTERNAL, "unknown setting %d", (int)s->kind);
}
