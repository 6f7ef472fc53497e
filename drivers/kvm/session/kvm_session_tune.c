/* kvm:///session's CPU tuning, applied from outside qv-vmm as the qemu
 * driver applies it to QEMU: the weight and cap through the VM's own
 * cgroup (lib/proc/cgroup.h), made and joined by qv-vmm before its guest
 * runs, and live pins with sched_setaffinity on the vCPU threads qv-vmm
 * names in query-cpus-fast (lib/qmp/qmp_vcpus.h).
 *
 * qv-vmm hosts the VM on kvm:///embed, which cannot enforce a weight or a
 * cap from inside its process and refuses them. So qv-vmm is given
 * vmm.xml, the stored definition less <cputune><shares>/<quota>/<period>:
 * it sees only what it carries out itself (docs/architecture.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "../../../lib/proc/cgroup.h"
#include "../../../lib/proc/proc.h"
#include "../../../lib/qmp/qmp_vcpus.h"
#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "../kvm_conf.h"
#include "../kvm_pin.h"
#include "ksess.h"

#define SESSION "kvm:///session"

bool ksess_wants_cgroup(const struct qv_domain *def)
{
    return def->cputune.shares || def->cputune.cap;
}

struct qv_domain *ksess_vmm_def(const struct qv_domain *def)
{
    struct qv_domain *copy = qv_domain_copy(def);
    if (copy) {
        copy->cputune.shares = 0;
        copy->cputune.cap = 0;
    }
    return copy;
}

int ksess_domain_check(const struct qv_domain *def)
{
    g_autoptr(qv_domain) inner = ksess_vmm_def(def);
    if (!inner)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    return kvm_domain_check(inner);
}

struct qv_domain *ksess_setting_apply(const struct qv_domain *def, const struct qv_setting *set,
                                      const char *vm_name)
{
    g_autoptr(qv_domain) copy = qv_domain_copy(def);
    if (qv_setting_apply(copy, set, vm_name) < 0 || ksess_domain_check(copy) < 0)
        return NULL;
    return g_steal_pointer(&copy);
}

int ksess_write_vmm_def(struct ksess_vm *k, const struct qv_domain *def)
{
    g_autoptr(qv_domain) inner = ksess_vmm_def(def);
    g_autofree char *xml = inner ? qv_domain_format_xml(inner) : NULL;
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    g_autofree char *path = g_build_filename(k->dir, KSESS_VMM_DEF, NULL);
    return qv_file_write_atomic(path, xml, strlen(xml), 0600);
}

/* ---- the cgroup -------------------------------------------------------- */

/* Named for people reading the tree (the VM's name), with the whole UUID
 * and a short hash of the VM's directory: two state roots may hold VMs of
 * the same name and UUID (a copied root), and the group is per root. */
static char *leaf_of(struct ksess_vm *k, const struct qv_domain *def)
{
    g_autofree char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, k->dir, -1);
    return g_strdup_printf(KSESS_KIND "-%s-%s-%.8s", k->name, def->uuid, h);
}

/* A group of the same name with processes in it belongs to someone else
 * (or to a qv-vmm still running): never joined. An empty leftover (a qv
 * killed before it removed its group) is reused; its files are rewritten. */
static int group_unused(const char *path)
{
    g_autofree char *procs_path = g_build_filename(path, "cgroup.procs", NULL);
    g_autofree char *procs = NULL;
    if (!g_file_get_contents(procs_path, &procs, NULL, NULL))
        return qv_error_set(QV_ERR_IO, "cannot read '%s'", procs_path);
    if (*g_strstrip(procs))
        return qv_error_set(QV_ERR_BUSY, "cgroup %s already holds processes (%s)", path, procs);
    return 0;
}

static int write_limits(struct ksess_vm *k, const char *path, const struct qv_domain *def)
{
    struct proc_cgroup_file files[3];
    int n = proc_cgroup_cpu_files(proc_cgroup_version_of(path), def->cputune.shares,
                                  def->cputune.cap, def->vcpus, files);
    int rc = n < 0 ? n : proc_cgroup_write(path, files, n);
    if (rc < 0)
        return rc;
    if (def->cputune.cap)
        proc_log(k->dir, "cgroup %s: CPU weight %u, cap %u%%", path,
                 def->cputune.shares ? def->cputune.shares : 256, def->cputune.cap);
    else
        proc_log(k->dir, "cgroup %s: CPU weight %u, no cap", path,
                 def->cputune.shares ? def->cputune.shares : 256);
    return 0;
}

int ksess_cgroup_make(struct ksess_vm *k, const struct qv_domain *def, char **out)
{
    g_autofree char *leaf = leaf_of(k, def);
    g_autofree char *path = NULL;
    int rc = proc_cgroup_create(leaf, &path);
    if (rc == 0 && group_unused(path) < 0) {
        /* Not ours to remove. */
        qv_error_prefix("cannot enforce the CPU weight or cap of VM '%s' on " SESSION, k->name);
        return qv_error_code();
    }
    if (rc == 0)
        rc = write_limits(k, path, def);
    if (rc < 0) {
        if (path)
            proc_cgroup_remove(path, k->dir);
        qv_error_prefix("cannot enforce the CPU weight or cap of VM '%s' on " SESSION, k->name);
        return qv_error_code();
    }
    *out = g_steal_pointer(&path);
    return 0;
}

int ksess_cgroup_join(struct ksess_vm *k, const char *path, pid_t pid)
{
    /* cgroup.procs moves every thread of qv-vmm; threads it makes later
     * (the vCPUs, at cont) are born in the group. */
    if (proc_cgroup_attach(path, pid) < 0) {
        qv_error_prefix("cannot enforce the CPU weight or cap of VM '%s' on " SESSION, k->name);
        return qv_error_code();
    }
    return 0;
}

int ksess_cgroup_attach(struct ksess_vm *k, const struct qv_domain *def, pid_t pid, char **out)
{
    g_autofree char *path = NULL;
    int rc = ksess_cgroup_make(k, def, &path);
    if (rc == 0 && (rc = ksess_cgroup_join(k, path, pid)) < 0)
        proc_cgroup_remove(path, k->dir);
    if (rc == 0)
        *out = g_steal_pointer(&path);
    return rc;
}

int ksess_cgroup_own(struct ksess_vm *k, const struct qv_domain *def, const char *path)
{
    /* The record is qv-vmm's to write too: only this VM's own group. */
    g_autofree char *leaf = leaf_of(k, def);
    g_autofree char *base = g_path_get_basename(path);
    int rc = proc_cgroup_check_recorded(path, leaf);
    if (rc == 0 && strcmp(base, leaf) != 0)
        rc = qv_error_set(QV_ERR_PERMISSION, "'%s' is not VM '%s''s cgroup (%s)", path, k->name,
                          leaf);
    return rc;
}

/* A running VM's limits changed: its group's files are rewritten, or, for
 * a VM started without limits, its group is made and qv-vmm moved in. */
static int cgroup_live(struct ksess_vm *k, const struct qv_domain *def)
{
    struct proc_runtime rt;
    int rc = ksess_runtime_verified(k, &rt);
    if (rc < 0)
        return rc;
    if (rt.cgroup) {
        rc = ksess_cgroup_own(k, def, rt.cgroup);
        if (rc == 0)
            rc = write_limits(k, rt.cgroup, def);
        if (rc < 0)
            qv_error_prefix("cannot change the CPU weight or cap of VM '%s'", k->name);
    } else {
        rc = ksess_cgroup_attach(k, def, rt.id.pid, &rt.cgroup);
        if (rc == 0) {
            rc = proc_runtime_write(k->dir, &rt);
            if (rc < 0)
                proc_log(k->dir, "cgroup %s is not recorded: %s", rt.cgroup,
                         qv_last_error()->message);
        }
    }
    proc_runtime_clear(&rt);
    return rc;
}

/* ---- pins -------------------------------------------------------------- */

void ksess_record_cpus(struct proc_runtime *rt)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(rt->id.pid, sizeof(set), &set) < 0)
        return; /* an unpin then falls back to this process's set */
    JsonArray *a = json_array_new();
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            json_array_add_int_element(a, c);
    json_object_set_array_member(rt->extra, "cpus", a);
}

/* The CPUs an unpinned vCPU thread gets back: the set qv-vmm was started
 * with (runtime.json "cpus"; with noop:/// the reported vCPU thread is
 * qv-vmm's main thread, whose own set a pin has changed), else this
 * process's. The record is the user's file: each entry is checked. */
static int unpinned_cpus(struct ksess_vm *k, const struct proc_runtime *rt, cpu_set_t *set)
{
    CPU_ZERO(set);
    JsonNode *n = rt->extra ? json_object_get_member(rt->extra, "cpus") : NULL;
    JsonArray *a = n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        gint64 c = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_INT64
                       ? json_node_get_int(e)
                       : -1;
        if (c < 0 || c >= CPU_SETSIZE)
            return qv_error_set(QV_ERR_PROTOCOL,
                                "VM '%s': %s/runtime.json: entry %u of \"cpus\" is not a CPU "
                                "number (0-%d)",
                                k->name, k->dir, i, CPU_SETSIZE - 1);
        CPU_SET((int)c, set);
    }
    if (CPU_COUNT(set) > 0)
        return 0;
    if (sched_getaffinity(0, sizeof(*set), set) < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot read this process's CPU set");
    return 0;
}

static int pin_live(struct ksess_vm *k, const struct qv_setting *set)
{
    struct proc_runtime rt;
    int rc = ksess_runtime_verified(k, &rt);
    if (rc < 0)
        return rc;
    cpu_set_t cpus;
    if (set->pcpu >= 0) {
        CPU_ZERO(&cpus);
        CPU_SET(set->pcpu, &cpus);
    } else {
        rc = unpinned_cpus(k, &rt, &cpus);
    }
    struct qmp *m = rc == 0 ? ksess_qmp(k, false) : NULL;
    g_autoptr(GArray) list =
        m ? qmp_vcpu_thread_list(m, k->name, "qv-vmm", rt.id.pid, KSESS_QMP_TIMEOUT_MS) : NULL;
    qmp_close(m);
    if (rc == 0 && !list)
        rc = qv_error_code();
    int tid = 0;
    for (guint i = 0; list && i < list->len; i++)
        if (g_array_index(list, struct qmp_vcpu_tid, i).vcpu == set->vcpu)
            tid = g_array_index(list, struct qmp_vcpu_tid, i).tid;
    if (rc == 0 && !tid)
        rc = qv_error_set(QV_ERR_NOT_FOUND, "qv-vmm reports no thread for vCPU %u of VM '%s'",
                          set->vcpu, k->name);
    if (rc == 0 && sched_setaffinity(tid, sizeof(cpus), &cpus) < 0) {
        if (errno == EINVAL && set->pcpu >= 0)
            rc = qv_error_set(QV_ERR_INVALID_ARG,
                              "cannot pin vCPU %u of VM '%s': host CPU %d does not exist or is "
                              "not allowed here",
                              set->vcpu, k->name, set->pcpu);
        else
            rc = qv_error_set_errno(QV_ERR_SYSTEM, errno,
                                    "cannot pin vCPU %u (thread %d) of VM '%s'", set->vcpu, tid,
                                    k->name);
    }
    if (rc == 0)
        proc_log(k->dir, "vCPU %u (thread %d) %s", set->vcpu, tid,
                 set->pcpu >= 0 ? "pinned" : "unpinned");
    proc_runtime_clear(&rt);
    return rc;
}

/* The vCPU threads a reset makes anew (kvm:///embed relaunches them) take
 * the pins of vmm.xml, what qv-vmm was started with: each gets what the
 * stored definition says now, its pin's CPUs or the unpinned set. The
 * threads are named once they run: the list is asked again briefly. */
int ksess_pins_reapply(struct ksess_vm *k)
{
    g_autoptr(qv_domain) def = ksess_load_def(k);
    if (!def)
        return qv_error_code();
    struct proc_runtime rt;
    int rc = ksess_runtime_verified(k, &rt);
    if (rc < 0)
        return rc;
    cpu_set_t unpinned;
    rc = unpinned_cpus(k, &rt, &unpinned);
    g_autoptr(GArray) list = NULL;
    for (int tries = 0; rc == 0 && !list; tries++) {
        struct qmp *m = ksess_qmp(k, false);
        list =
            m ? qmp_vcpu_thread_list(m, k->name, "qv-vmm", rt.id.pid, KSESS_QMP_TIMEOUT_MS) : NULL;
        qmp_close(m);
        if (!list && tries >= 50)
            rc = qv_error_code();
        else if (!list) {
            qv_reset_error();
            g_usleep(20000);
        }
    }
    for (guint i = 0; rc == 0 && i < list->len; i++) {
        struct qmp_vcpu_tid e = g_array_index(list, struct qmp_vcpu_tid, i);
        cpu_set_t want = unpinned;
        const GArray *pins = def->cputune.pins;
        for (guint j = 0; pins && j < pins->len; j++) {
            const struct qv_vcpupin *p = &g_array_index(pins, struct qv_vcpupin, j);
            g_autofree char *text =
                p->cpuset ? g_strdup(p->cpuset) : g_strdup_printf("%d", p->pcpu);
            if (p->vcpu == e.vcpu && qv_cpuset_parse(text, &want) < 0)
                rc = qv_error_code();
        }
        if (rc == 0 && sched_setaffinity(e.tid, sizeof(want), &want) < 0)
            rc = qv_error_set_errno(QV_ERR_SYSTEM, errno,
                                    "cannot pin vCPU %u (thread %d) of VM '%s' again", e.vcpu,
                                    e.tid, k->name);
    }
    if (rc == 0)
        proc_log(k->dir, "vCPU pins of the stored definition applied again after the reset");
    proc_runtime_clear(&rt);
    return rc;
}

/* ---- live settings ----------------------------------------------------- */

int ksess_set_live(struct vm *vm, const struct qv_setting *set)
{
    struct ksess_vm *k = ksess_of(vm);
    bool pin = set->kind == QV_SET_CPU_PIN;
    bool limit = set->kind == QV_SET_CPU_WEIGHT || set->kind == QV_SET_CPU_CAP;
    if (!pin && !limit) {
        bool plug = set->kind == QV_SET_ATTACH_DISK || set->kind == QV_SET_DETACH_DISK ||
                    set->kind == QV_SET_ATTACH_NET || set->kind == QV_SET_DETACH_NET;
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s' is running on " SESSION "; %s: stop the VM to change it",
                            vm->name,
                            plug ? "its disks and NICs are virtio-mmio devices, fixed at start "
                                   "(no hot-plug)"
                                 : "its qv-vmm takes this setting only at start (live: CPU "
                                   "pins, weight and cap)");
    }
    g_autoptr(qv_domain) def = ksess_load_def(k);
    g_autoptr(qv_domain) copy = def ? ksess_setting_apply(def, set, vm->name) : NULL;
    if (!copy)
        return qv_error_code();
    /* A vCPU above the current count has no thread: its pin is stored for
     * the start that gives it one. */
    int rc = pin && set->vcpu >= copy->vcpus ? 0 : pin ? pin_live(k, set) : cgroup_live(k, copy);
    if (rc < 0)
        return rc;
    /* In force now, and kept for the next start. */
    g_autofree char *xml = qv_domain_format_xml(copy);
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    g_autofree char *path = g_build_filename(k->dir, "domain.xml", NULL);
    rc = qv_file_write_atomic(path, xml, strlen(xml), 0600);
    if (rc == 0)
        proc_log(k->dir, "settings changed (applied live)");
    return rc;
}
