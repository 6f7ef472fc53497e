/* vm_get_live_settings() for a running QEMU: what is in force, read back
 * from the vCPU threads' affinity, QEMU's query-block and query-balloon and
 * the VM's cgroup,
 * so that a change made behind libqv's back (taskset, another QMP client)
 * shows. QMP replies are peer input: a malformed one is an error naming
 * what is wrong. */
#define _GNU_SOURCE
#include <string.h>

#include "../../lib/api/stats.h"
#include "../../lib/proc/cgroup.h"
#include "../../lib/proc/proc.h"
#include "../../lib/proc/procstat.h"
#include "../../lib/util/error.h"
#include "../../lib/util/json.h"
#include "qemu_threads.h"

static int live_pins(struct qemu_vm *q, struct qmp *m, pid_t pid, GArray *out)
{
    g_autoptr(GArray) list = qemu_vcpu_thread_list(q, m, pid);
    if (!list)
        return qv_error_code();
    for (guint i = 0; i < list->len; i++) {
        const struct qmp_vcpu_tid *t = &g_array_index(list, struct qmp_vcpu_tid, i);
        g_autofree char *cpus = proc_affinity_text(t->tid);
        if (!cpus)
            return qv_error_code();
        qv_stats_str(out, cpus, "vcpu.%u.cpus", t->vcpu);
    }
    return 0;
}

static int live_iotune(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def, GArray *out)
{
    if (!def->disks->len)
        return 0;
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-block", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0) {
        qv_error_prefix("cannot read the disk limits of VM '%s'", q->name);
        return qv_error_code();
    }
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;
    int rc =
        a ? 0
          : qv_error_set(QV_ERR_PROTOCOL,
                         "VM '%s': QEMU's query-block reply is malformed: not an array", q->name);
    for (guint i = 0; rc == 0 && i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        JsonObject *inserted = qv_json_obj(qemu_qdev_entry(a, d->target), "inserted");
        qv_stats_str(out, d->target, "block.%u.name", i);
        if (!inserted && !d->source)
            continue; /* an empty cdrom drive: nothing to limit */
        gint64 bps = qv_json_int(inserted, "bps", -1), iops = qv_json_int(inserted, "iops", -1);
        if (bps < 0 || iops < 0) {
            rc = qv_error_set(QV_ERR_PROTOCOL,
                              "VM '%s': QEMU's query-block reply is malformed: disk %s has %s",
                              q->name, d->target,
                              !inserted ? "no medium"
                              : bps < 0 ? "no 'bps'"
                                        : "no 'iops'");
            break;
        }
        qv_stats_uint(out, (uint64_t)bps, "block.%u.bytes_sec", i);
        qv_stats_uint(out, (uint64_t)iops, "block.%u.iops_sec", i);
    }
    json_node_unref(ret);
    return rc;
}

/* Where the VNC server listens, as QEMU says: with autoport only QEMU
 * knows the port. Absent when the VM has no VNC display. */
static int live_vnc(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def, GArray *out)
{
    bool vnc = false;
    for (guint i = 0; i < def->graphics->len; i++)
        vnc = vnc || ((const struct qv_graphics *)g_ptr_array_index(def->graphics, i))->type ==
                         QV_GRAPHICS_VNC;
    if (!vnc)
        return 0;
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-vnc", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0) {
        qv_error_prefix("cannot read the VNC address of VM '%s'", q->name);
        return qv_error_code();
    }
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
    const char *host = qv_json_str(o, "host"), *service = qv_json_str(o, "service");
    const char *family = qv_json_str(o, "family");
    int rc = 0;
    if (!o || !qv_json_bool(o, "enabled", FALSE))
        rc = qv_error_set(QV_ERR_PROTOCOL, "VM '%s': QEMU reports no VNC server%s", q->name,
                          o ? "" : " (query-vnc reply is malformed)");
    else if (!host || !service || strspn(service, "0123456789") != strlen(service) || !*service ||
             strlen(service) > 5 || !g_hostname_is_ip_address(host))
        rc = qv_error_set(QV_ERR_PROTOCOL,
                          "VM '%s': QEMU's query-vnc reply is malformed: no numeric host and "
                          "port",
                          q->name);
    if (rc == 0) {
        bool v6 = family && strcmp(family, "ipv6") == 0;
        g_autofree char *addr = g_strdup_printf(v6 ? "[%s]:%s" : "%s:%s", host, service);
        qv_stats_str(out, addr, "vnc.address");
    }
    json_node_unref(ret);
    return rc;
}

/* Where the SPICE server listens, as QEMU says (with autoport qv chose the
 * port, but QEMU is the one listening). Absent without SPICE graphics. */
static int live_spice(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def, GArray *out)
{
    if (!qemu_has_spice(def))
        return 0;
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-spice", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0) {
        qv_error_prefix("cannot read the SPICE address of VM '%s'", q->name);
        return qv_error_code();
    }
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
    const char *host = qv_json_str(o, "host"), *family = qv_json_str(o, "family");
    gint64 port = o ? qv_json_int(o, "port", -1) : -1;
    int rc = 0;
    if (!o || !qv_json_bool(o, "enabled", FALSE))
        rc = qv_error_set(QV_ERR_PROTOCOL, "VM '%s': QEMU reports no SPICE server%s", q->name,
                          o ? "" : " (query-spice reply is malformed)");
    else if (family && strcmp(family, "unix") == 0 && host && host[0] == '/')
        qv_stats_str(out, host, "spice.address");
    else if (host && port > 0 && port <= 65535 && g_hostname_is_ip_address(host)) {
        bool v6 = family && strcmp(family, "ipv6") == 0;
        g_autofree char *addr =
            g_strdup_printf(v6 ? "[%s]:%" G_GINT64_FORMAT : "%s:%" G_GINT64_FORMAT, host, port);
        qv_stats_str(out, addr, "spice.address");
    } else if (!host && port < 0)
        qv_stats_str(out, "none (no listener)", "spice.address");
    else
        rc = qv_error_set(QV_ERR_PROTOCOL,
                          "VM '%s': QEMU's query-spice reply is malformed: no numeric host and "
                          "port",
                          q->name);
    json_node_unref(ret);
    return rc;
}

/* The balloon's actual size (what the guest has now, which trails the
 * target while the guest gives memory back); absent without a balloon. */
static int live_balloon(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def, GArray *out)
{
    if (!qemu_has_balloon(def))
        return 0;
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-balloon", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0) {
        /* QEMU's refusal ("No balloon device has been activated") means
         * there is none in force; a broken monitor is an error. */
        int code = qv_error_code();
        if (code != QV_ERR_CONNECT && code != QV_ERR_TIMEOUT && code != QV_ERR_PROTOCOL) {
            qv_reset_error();
            return 0;
        }
        qv_error_prefix("cannot read the balloon of VM '%s'", q->name);
        return code;
    }
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
    gint64 actual = qv_json_int(o, "actual", -1);
    json_node_unref(ret);
    if (actual < 0)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "VM '%s': QEMU's query-balloon reply is malformed: no 'actual' size",
                            q->name);
    qv_stats_uint(out, (uint64_t)actual / 1024, "balloon.current");
    return 0;
}

/* The CPU limit files of the VM's cgroup as they read now; only from a
 * recorded path that is a qv group (runtime.json can be edited). */
static void live_cgroup(struct qemu_vm *q, const char *recorded, GArray *out)
{
    g_autofree char *prefix = g_strdup_printf("qemu-%s-", q->name);
    if (!recorded || proc_cgroup_check_recorded(recorded, prefix) < 0) {
        qv_reset_error();
        return;
    }
    const char *path = recorded;
    qv_stats_str(out, path, "cgroup.path");
    static const char *const v1[] = {"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", NULL};
    static const char *const v2[] = {"cpu.weight", "cpu.max", NULL};
    enum proc_cgroup_version v = proc_cgroup_version_of(path);
    const char *const *files = v == PROC_CGROUP_V1 ? v1 : v == PROC_CGROUP_V2 ? v2 : NULL;
    for (; files && *files; files++) {
        g_autofree char *file = g_build_filename(path, *files, NULL);
        g_autofree char *text = NULL;
        if (g_file_get_contents(file, &text, NULL, NULL) && strlen(text) < 64)
            qv_stats_str(out, g_strstrip(text), "cgroup.%s", *files);
    }
}

int qemu_vm_live(struct vm *vm, const struct qv_domain *def, GArray *out)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    pid_t pid;
    g_autofree char *cgroup = NULL;
    int rc = qemu_vm_running_pid(q, "settings", &pid, &cgroup);
    if (rc < 0)
        return rc;
    struct qmp *m = qemu_vm_qmp(q, true);
    if (!m)
        return qv_error_code();
    rc = live_pins(q, m, pid, out);
    if (rc == 0)
        rc = live_iotune(q, m, def, out);
    if (rc == 0)
        rc = live_vnc(q, m, def, out);
    if (rc == 0)
        rc = live_spice(q, m, def, out);
    if (rc == 0)
        rc = live_balloon(q, m, def, out);
    qmp_close(m);
    if (rc == 0)
        rc = qemu_net_read(q, pid, def, out);
    if (rc == 0)
        live_cgroup(q, cgroup, out);
    if (rc == 0)
        qemu_virtiofs_live(q, def, out);
    return rc;
}
