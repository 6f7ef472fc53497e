/* Settings: CPU pinning applied to QEMU's vCPU threads, disk I/O limits
 * applied with block_set_io_throttle and the CPU weight and cap through the
 * VM's cgroup (at start, before the guest runs, and live), the memory
 * through the balloon (qemu_balloon.c), disks and NICs
 * hot-plugged (qemu_hotplug.c), and definition changes while the VM is
 * down. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/cpuset.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu_threads.h"

static int pin_one(struct qemu_vm *q, GHashTable *threads, uint32_t vcpu, const cpu_set_t *set)
{
    int tid = qemu_vcpu_thread(threads, vcpu);
    if (!tid)
        return qv_error_set(QV_ERR_NOT_FOUND, "QEMU reports no thread for vCPU %u of VM '%s'", vcpu,
                            q->name);
    if (sched_setaffinity(tid, sizeof(*set), set) < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot pin vCPU %u (thread %d) of VM '%s'",
                                  vcpu, tid, q->name);
    return 0;
}

int qemu_apply_pins(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def)
{
    if (!def->cputune.pins->len)
        return 0;
    GHashTable *threads = qemu_vcpu_threads(q, m);
    if (!threads)
        return qv_error_code();
    int rc = 0;
    for (guint i = 0; rc == 0 && i < def->cputune.pins->len; i++) {
        const struct qv_vcpupin *p = &g_array_index(def->cputune.pins, struct qv_vcpupin, i);
        /* A vCPU above the current count has no thread until it is
         * hot-added; its pin is applied then. */
        if (p->vcpu >= def->vcpus)
            continue;
        cpu_set_t set;
        if (p->pcpu >= 0) {
            CPU_ZERO(&set);
            CPU_SET(p->pcpu, &set);
        } else {
            rc = qv_cpuset_parse(p->cpuset, &set);
        }
        if (rc == 0)
            rc = pin_one(q, threads, p->vcpu, &set);
    }
    g_hash_table_destroy(threads);
    if (rc == 0)
        proc_log(q->dir, "pinned %u vCPU(s)", def->cputune.pins->len);
    return rc;
}

/* The CPUs of host NUMA node n, from sysfs. A kernel without NUMA shows
 * no node directory: it has node 0 only, holding every CPU. */
static int node_cpus(const char *vm, int n, cpu_set_t *set)
{
    g_autofree char *dir = g_strdup_printf("/sys/devices/system/node/node%d", n);
    g_autofree char *list = g_build_filename(dir, "cpulist", NULL);
    g_autofree char *text = NULL;
    if (g_file_get_contents(list, &text, NULL, NULL))
        return qv_cpuset_parse(g_strstrip(text), set);
    if (n == 0 && !g_file_test("/sys/devices/system/node", G_FILE_TEST_IS_DIR))
        return sched_getaffinity(0, sizeof(*set), set) == 0
                   ? 0
                   : qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot read this process's CPUs");
    g_autofree char *have = NULL;
    g_file_get_contents("/sys/devices/system/node/online", &have, NULL, NULL);
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "VM '%s' is bound to NUMA node %d (<numatune>), which this host does not "
                        "have (its nodes: %s)",
                        vm, n, have ? g_strstrip(have) : "0");
}

int qemu_check_numa(const struct qv_domain *def)
{
    cpu_set_t set;
    return def->numa_node >= 0 ? node_cpus(def->name, def->numa_node, &set) : 0;
}

int qemu_apply_numa(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def)
{
    if (def->numa_node < 0)
        return 0;
    cpu_set_t set;
    int rc = node_cpus(def->name, def->numa_node, &set);
    if (rc < 0)
        return rc;
    GHashTable *threads = qemu_vcpu_threads(q, m);
    if (!threads)
        return qv_error_code();
    /* An explicit <vcpupin> wins over the node. */
    for (uint32_t i = 0; rc == 0 && i < def->vcpus; i++) {
        bool pinned = false;
        for (guint k = 0; k < def->cputune.pins->len; k++)
            pinned |= g_array_index(def->cputune.pins, struct qv_vcpupin, k).vcpu == i;
        if (!pinned)
            rc = pin_one(q, threads, i, &set);
    }
    g_hash_table_destroy(threads);
    if (rc == 0)
        proc_log(q->dir, "memory and vCPUs bound to NUMA node %d", def->numa_node);
    return rc;
}

/* A member of disk target's entry in query-block (qemu_qdev_entry): "qdev"
 * itself, or "node-name" of what is inserted. NULL with QV_ERR_NOT_FOUND
 * when QEMU lists no such disk. */
char *qemu_block_lookup(struct qmp *m, const char *target, const char *member)
{
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-block", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0)
        return NULL;
    JsonObject *o =
        qemu_qdev_entry(JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL, target);
    char *found = !o ? NULL
                  : strcmp(member, "qdev") == 0
                      ? g_strdup(qv_json_str(o, "qdev"))
                      : g_strdup(qv_json_str(qv_json_obj(o, "inserted"), member));
    json_node_unref(ret);
    if (!found)
        qv_error_set(QV_ERR_NOT_FOUND, "QEMU reports no block device for disk %s", target);
    return found;
}

/* <iotune> total_bytes_sec/total_iops_sec on one disk; 0 lifts a limit. */
int qemu_io_throttle(struct qemu_vm *q, struct qmp *m, const struct qv_disk *d)
{
    g_autofree char *id = qemu_block_lookup(m, d->target, "qdev");
    if (!id) {
        qv_error_prefix("cannot limit I/O of disk %s of VM '%s'", d->target, q->name);
        return qv_error_code();
    }
    g_autofree char *args = g_strdup_printf(
        "{\"id\": \"%s\", \"bps\": %" G_GUINT64_FORMAT ", \"bps_rd\": 0, \"bps_wr\": 0, "
        "\"iops\": %" G_GUINT64_FORMAT ", \"iops_rd\": 0, \"iops_wr\": 0}",
        id, d->total_bytes_sec, d->total_iops_sec);
    int rc = qmp_command_json(m, "block_set_io_throttle", args, NULL, QEMU_QMP_TIMEOUT_MS);
    if (rc < 0)
        qv_error_prefix("cannot limit I/O of disk %s of VM '%s'", d->target, q->name);
    return rc;
}

int qemu_apply_iotune(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (!d->source || (!d->total_bytes_sec && !d->total_iops_sec))
            continue;
        int rc = qemu_io_throttle(q, m, d);
        if (rc < 0)
            return rc;
        proc_log(q->dir,
                 "disk %s limited to %" G_GUINT64_FORMAT " bytes/s, %" G_GUINT64_FORMAT " IOPS",
                 d->target, d->total_bytes_sec, d->total_iops_sec);
    }
    return 0;
}

static int set_locked(struct qemu_vm *q, const struct qv_setting *set)
{
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    if (!def)
        return qv_error_code();
    g_autoptr(qv_domain) before = qv_domain_copy(def);
    int rc = qv_setting_apply(def, set, q->name);
    if (rc < 0)
        return rc;
    bool live = qemu_vm_running(q);
    bool cpu_limit = set->kind == QV_SET_CPU_WEIGHT || set->kind == QV_SET_CPU_CAP;
    bool device = set->kind >= QV_SET_ATTACH_DISK && set->kind <= QV_SET_DETACH_HOSTDEV;
    if (live && set->kind != QV_SET_CPU_PIN && set->kind != QV_SET_IO_LIMIT && !cpu_limit &&
        !device && set->kind != QV_SET_VCPUS && set->kind != QV_SET_MEMORY &&
        set->kind != QV_SET_NET_LIMIT)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "the qemu driver cannot change this setting of VM '%s' while it runs; "
                            "stop it first",
                            q->name);
    /* Only what QEMU could be started with is kept. */
    struct qemu_launch l = {.dir = q->dir,
                            .emulator = qemu_emulator_of(def),
                            .hugepage_dir = "/dev/hugepages",
                            .check_only = true};
    char **argv = qemu_argv_build(def, &l);
    if (!argv)
        return qv_error_code();
    g_strfreev(argv);
    if (live && set->kind == QV_SET_IO_LIMIT) {
        struct qmp *m = qemu_vm_qmp(q, false);
        if (!m)
            return qv_error_code();
        for (guint i = 0; rc == 0 && i < def->disks->len; i++) {
            const struct qv_disk *d = g_ptr_array_index(def->disks, i);
            if (d->source && (!set->target || g_strcmp0(set->target, d->target) == 0))
                rc = qemu_io_throttle(q, m, d);
        }
        qmp_close(m);
        if (rc < 0)
            return rc;
    } else if (live && set->kind == QV_SET_VCPUS) {
        rc = qemu_set_vcpus_live(q, def->vcpus);
        /* New vCPU threads get their pins; the cap covers the new count. */
        if (rc == 0) {
            struct qmp *m = qemu_vm_qmp(q, false);
            rc = m ? qemu_apply_pins(q, m, def) : qv_error_code();
            qmp_close(m);
        }
        if (rc == 0 && def->cputune.cap)
            rc = qemu_cgroup_live(q, def);
        if (rc < 0)
            return rc;
    } else if (live && device) {
        rc = qemu_hotplug(q, before, def, set);
        if (rc < 0)
            return rc;
    } else if (live && set->kind == QV_SET_NET_LIMIT) {
        rc = qemu_net_live(q, def, set->target);
        if (rc < 0)
            return rc;
    } else if (live && set->kind == QV_SET_MEMORY) {
        rc = qemu_balloon_live(q, def);
        if (rc < 0)
            return rc;
    } else if (live && cpu_limit) {
        rc = qemu_cgroup_live(q, def);
        if (rc < 0)
            return rc;
    } else if (live) {
        struct qmp *m = qemu_vm_qmp(q, false);
        if (!m)
            return qv_error_code();
        GHashTable *threads = qemu_vcpu_threads(q, m);
        qmp_close(m);
        if (!threads)
            return qv_error_code();
        cpu_set_t cpus;
        if (set->pcpu >= 0) {
            CPU_ZERO(&cpus);
            CPU_SET(set->pcpu, &cpus);
        } else if (def->numa_node >= 0) {
            /* Unpinned under <numatune>: back to the node, as at start. */
            rc = node_cpus(q->name, def->numa_node, &cpus);
        } else {
            rc = qemu_process_cpus(q, &cpus);
        }
        if (rc == 0)
            rc = pin_one(q, threads, set->vcpu, &cpus);
        g_hash_table_destroy(threads);
        if (rc < 0)
            return rc;
    }
    g_autofree char *xml = qv_domain_format_xml(def);
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    g_autofree char *path = g_build_filename(q->dir, "domain.xml", NULL);
    rc = qv_file_write_atomic(path, xml, strlen(xml), 0600);
    if (rc == 0)
        proc_log(q->dir, "settings changed%s", live ? " (applied live)" : "");
    return rc;
}

int qemu_vm_set(struct vm *vm, const struct qv_setting *set)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    int rc = qemu_vm_lock(q, QEMU_QMP_TIMEOUT_MS * 6);
    if (rc < 0)
        return rc;
    rc = set_locked(q, set);
    qemu_vm_unlock(q);
    return rc;
}
