/* Rules every definition obeys, whichever format it came from. */
#include <string.h>

#include "../util/error.h"
#include "../util/names.h"
#include "address.h"
#include "conf_check.h"
#include "domain.h"

#define QV_MAX_VCPUS 255

static bool mac_valid(const char *mac)
{
    if (strlen(mac) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
            return false;
    }
    /* A NIC address must be unicast. */
    return (g_ascii_xdigit_value(mac[1]) & 1) == 0;
}

int qv_domain_validate(const struct qv_domain *def)
{
    if (!qv_name_check(def->name, "VM"))
        return qv_error_code();
    const char *n = def->name;
    if (def->uuid[0] && !g_uuid_string_is_valid(def->uuid))
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a valid UUID", n, def->uuid);
    if (def->memory_kib == 0)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': memory must be greater than zero", n);
    if (def->memory_kib > (G_GUINT64_CONSTANT(1) << 42))
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': memory of %" G_GUINT64_FORMAT
                            " KiB is more than 4 PiB", n, def->memory_kib);
    if (def->current_memory_kib > def->memory_kib)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': current memory (%" G_GUINT64_FORMAT
                            " KiB) exceeds the maximum (%" G_GUINT64_FORMAT " KiB)",
                            n, def->current_memory_kib, def->memory_kib);
    if (def->max_vcpus == 0 || def->vcpus == 0)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': it needs at least one vCPU", n);
    if (def->max_vcpus > QV_MAX_VCPUS)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': %u vCPUs is more than the limit of %d",
                            n, def->max_vcpus, QV_MAX_VCPUS);
    if (def->vcpus > def->max_vcpus)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': %u current vCPUs exceed the maximum of %u", n, def->vcpus,
                            def->max_vcpus);
    if (def->cpu.sockets || def->cpu.cores || def->cpu.threads) {
        uint64_t dies = def->cpu.dies ? def->cpu.dies : 1;
        uint64_t product = (uint64_t)def->cpu.sockets * dies * def->cpu.cores * def->cpu.threads;
        if (product != def->max_vcpus)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': CPU topology %u sockets x %" G_GUINT64_FORMAT
                                " dies x %u cores x %u threads = %" G_GUINT64_FORMAT
                                " does not match %u vCPUs",
                                n, def->cpu.sockets, dies, def->cpu.cores, def->cpu.threads,
                                product, def->max_vcpus);
    }
    if (qv_conf_check_cloud_init(def->cloud_init, n) < 0)
        return qv_error_code();
    const char *why;
    if ((why = qv_conf_rule_cpu_cap(def->cputune.cap)))
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': CPU cap %u%% %s", n, def->cputune.cap,
                            why);
    /* 0 is "not set": the default weight. */
    if (def->cputune.shares && (why = qv_conf_rule_cpu_weight(def->cputune.shares)))
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': CPU weight %u %s", n, def->cputune.shares,
                            why);
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if ((why = qv_conf_rule_block_size(d->logical_block_size)))
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': disk '%s' block size %u %s", n,
                                d->target ? d->target : "", d->logical_block_size, why);
    }
    for (guint i = 0; i < def->cputune.pins->len; i++) {
        const struct qv_vcpupin *p = &g_array_index(def->cputune.pins, struct qv_vcpupin, i);
        if (p->vcpu >= def->max_vcpus)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': vCPU %u is pinned but the VM has only %u vCPUs", n,
                                p->vcpu, def->max_vcpus);
        for (guint j = 0; j < i; j++)
            if (g_array_index(def->cputune.pins, struct qv_vcpupin, j).vcpu == p->vcpu)
                return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': vCPU %u is pinned twice", n,
                                    p->vcpu);
    }
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (!d->target || !*d->target)
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': disk %u has no target device", n,
                                i + 1);
        for (guint j = 0; j < i; j++) {
            const struct qv_disk *o = g_ptr_array_index(def->disks, j);
            if (strcmp(o->target, d->target) == 0)
                return qv_error_set(QV_ERR_INVALID_ARG,
                                    "VM '%s': two disks use target device '%s'", n, d->target);
        }
    }
    for (guint i = 0; i < def->serials->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->serials, i);
        /* Each model is the device of one target type, as in libvirt. */
        if (c->target_model && c->target_type && strcmp(c->target_model, c->target_type) != 0)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': <serial> %u: <model name='%s'> needs <target "
                                "type='%s'>, not '%s'",
                                n, i + 1, c->target_model, c->target_model, c->target_type);
    }
    if (qv_conf_check_addresses(def) < 0)
        return qv_error_code();
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *a = g_ptr_array_index(def->nets, i);
        if (a->mac[0] && !mac_valid(a->mac))
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': '%s' is not a unicast MAC address (xx:xx:xx:xx:xx:xx)",
                                n, a->mac);
        for (guint j = 0; j < i; j++) {
            const struct qv_net *b = g_ptr_array_index(def->nets, j);
            if (a->mac[0] && g_ascii_strcasecmp(a->mac, b->mac) == 0)
                return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': two NICs use MAC %s", n,
                                    a->mac);
        }
    }
    return 0;
}

int qv_domain_check_kept(const struct qv_domain *def, const char *driver,
                         bool (*honoured)(const struct qv_kept *k))
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (honoured && honoured(k))
            continue;
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': the %s driver cannot honour <%s> (line %d): %s",
                            def->name ? def->name : "", driver, k->name, k->line, k->reason);
    }
    return 0;
}
