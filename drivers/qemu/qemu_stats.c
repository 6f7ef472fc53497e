/* vm_get_stats() for a running QEMU: CPU time and RSS of the process and of
 * each vCPU thread from /proc, disk counters from query-blockstats, the
 * balloon from query-balloon, tap NIC counters from sysfs. Every QMP reply
 * is peer input: a member missing or of the wrong type is reported as
 * QV_ERR_PROTOCOL naming it, never guessed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/api/stats.h"
#include "../../lib/proc/proc.h"
#include "../../lib/proc/procstat.h"
#include "../../lib/util/error.h"
#include "../../lib/util/json.h"
#include "qemu_threads.h"

static int malformed(struct qemu_vm *q, const char *cmd, const char *what)
{
    return qv_error_set(QV_ERR_PROTOCOL, "VM '%s': QEMU's %s reply is malformed: %s", q->name, cmd,
                        what);
}

static int process_stats(pid_t pid, GArray *stats)
{
    struct proc_usage u;
    int rc = proc_usage_read(pid, 0, &u);
    if (rc < 0)
        return rc;
    qv_stats_uint(stats, u.user_ns + u.system_ns, "cpu.time");
    qv_stats_uint(stats, u.user_ns, "cpu.user");
    qv_stats_uint(stats, u.system_ns, "cpu.system");
    qv_stats_uint(stats, u.rss_bytes / 1024, "balloon.rss");
    return 0;
}

static int vcpu_stats(struct qemu_vm *q, struct qmp *m, pid_t pid, GArray *stats)
{
    g_autoptr(GArray) list = qemu_vcpu_thread_list(q, m, pid);
    if (!list)
        return qv_error_code();
    for (guint i = 0; i < list->len; i++) {
        const struct qmp_vcpu_tid *t = &g_array_index(list, struct qmp_vcpu_tid, i);
        struct proc_usage u;
        int rc = proc_usage_read(pid, t->tid, &u);
        if (rc < 0)
            return rc;
        qv_stats_uint(stats, 1, "vcpu.%u.state", t->vcpu);
        qv_stats_uint(stats, u.user_ns + u.system_ns, "vcpu.%u.time", t->vcpu);
    }
    return 0;
}

/* The balloon's size when the VM has a balloon device; without one QEMU
 * answers with an error and balloon.current stays the definition's. */
static int balloon_stats(struct qemu_vm *q, struct qmp *m, GArray *stats)
{
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-balloon", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0) {
        int code = qv_error_code();
        if (code == QV_ERR_CONNECT || code == QV_ERR_TIMEOUT || code == QV_ERR_PROTOCOL)
            return code;
        qv_reset_error();
        return 0;
    }
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
    gint64 actual = qv_json_int(o, "actual", -1);
    json_node_unref(ret);
    if (actual < 0)
        return malformed(q, "query-balloon", "no 'actual' size");
    qv_stats_uint(stats, (uint64_t)actual / 1024, "balloon.current");
    return 0;
}

static int block_stats(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def, GArray *stats)
{
    qv_stats_uint(stats, def->disks->len, "block.count");
    if (!def->disks->len)
        return 0;
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-blockstats", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0) {
        qv_error_prefix("cannot read the disk statistics of VM '%s'", q->name);
        return qv_error_code();
    }
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;
    int rc = a ? 0 : malformed(q, "query-blockstats", "not an array");
    static const char *const members[][2] = {
        {"rd_operations", "rd.reqs"},
        {"rd_bytes", "rd.bytes"},
        {"wr_operations", "wr.reqs"},
        {"wr_bytes", "wr.bytes"},
    };
    for (guint i = 0; rc == 0 && i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        qv_stats_str(stats, d->target, "block.%u.name", i);
        if (d->source)
            qv_stats_str(stats, d->source, "block.%u.path", i);
        JsonObject *o = qemu_qdev_entry(a, d->target);
        if (!o && !d->source)
            continue; /* an empty cdrom drive may have no backend */
        if (!o) {
            rc = qv_error_set(QV_ERR_PROTOCOL,
                              "VM '%s': QEMU's query-blockstats reply has no entry for disk %s",
                              q->name, d->target);
            break;
        }
        JsonObject *s = qv_json_obj(o, "stats");
        for (size_t k = 0; rc == 0 && k < G_N_ELEMENTS(members); k++) {
            gint64 v = qv_json_int(s, members[k][0], -1);
            if (v < 0) {
                g_autofree char *what =
                    g_strdup_printf("disk %s has no %s count", d->target, members[k][0]);
                rc = malformed(q, "query-blockstats", what);
            } else {
                qv_stats_uint(stats, (uint64_t)v, "block.%u.%s", i, members[k][1]);
            }
        }
    }
    json_node_unref(ret);
    return rc;
}

/* One counter of a host network interface, or false when unreadable. */
static bool sysfs_counter(const char *ifname, const char *name, uint64_t *out)
{
    g_autofree char *path = g_strdup_printf("/sys/class/net/%s/statistics/%s", ifname, name);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return false;
    char *end;
    errno = 0;
    guint64 v = g_ascii_strtoull(g_strstrip(text), &end, 10);
    if (errno || end == text || *end)
        return false;
    *out = v;
    return true;
}

/* QEMU 7.2 reports no traffic counters for its NICs: a tap NIC's come from
 * the tap device (whose receive is the guest's transmit); a user-mode (slirp)
 * or bridge-helper NIC gets its name and no counters. */
static void net_stats(const struct qv_domain *def, GArray *stats)
{
    qv_stats_uint(stats, def->nets->len, "net.count");
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        bool tap = n->type == QV_NET_ETHERNET && n->source && *n->source &&
                   !strchr(n->source, '/') && strcmp(n->source, ".") && strcmp(n->source, "..");
        if (!tap) {
            g_autofree char *id = g_strdup_printf("net%u", i);
            qv_stats_str(stats, id, "net.%u.name", i);
            continue;
        }
        qv_stats_str(stats, n->source, "net.%u.name", i);
        static const char *const map[][2] = {
            {"tx_bytes", "rx.bytes"},
            {"tx_packets", "rx.pkts"},
            {"rx_bytes", "tx.bytes"},
            {"rx_packets", "tx.pkts"},
        };
        for (size_t k = 0; k < G_N_ELEMENTS(map); k++) {
            uint64_t v;
            if (sysfs_counter(n->source, map[k][0], &v))
                qv_stats_uint(stats, v, "net.%u.%s", i, map[k][1]);
        }
    }
}

int qemu_vm_stats(struct vm *vm, const struct qv_domain *def, GArray *stats)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    pid_t pid;
    int rc = qemu_vm_running_pid(q, "statistics", &pid, NULL);
    if (rc == 0)
        rc = process_stats(pid, stats);
    if (rc < 0)
        return rc;
    struct qmp *m = qemu_vm_qmp(q, true);
    if (!m)
        return qv_error_code();
    rc = vcpu_stats(q, m, pid, stats);
    if (rc == 0)
        rc = balloon_stats(q, m, stats);
    if (rc == 0)
        rc = block_stats(q, m, def, stats);
    qmp_close(m);
    if (rc == 0)
        net_stats(def, stats);
    return rc;
}
