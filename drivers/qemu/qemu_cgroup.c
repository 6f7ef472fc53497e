/* The CPU weight and cap of a QEMU VM, enforced through a cgroup of its
 * own (lib/proc/cgroup.h), and <resource><partition>: a VM with one always
 * gets its group, under that partition, as libvirt places it. The group's
 * path is kept in the VM's runtime record, so that whoever sees the VM
 * stop removes it. */
#include <string.h>

#include "../../lib/proc/cgroup.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "qemu_vm.h"

static bool wants_cgroup(const struct qv_domain *def)
{
    return def->cputune.shares || def->cputune.cap || def->partition;
}

static bool has_limits(const struct qv_domain *def)
{
    return def->cputune.shares || def->cputune.cap;
}

/* Named for people reading the tree (the VM's name) and unique across
 * state roots (the UUID). */
static char *leaf_of(struct qemu_vm *q, const struct qv_domain *def)
{
    /* In a partition the group has no qv/ parent: ".qv" marks it qv's. */
    return g_strdup_printf("qemu-%s-%.8s%s", q->name, def->uuid, def->partition ? ".qv" : "");
}

static int write_limits(struct qemu_vm *q, const char *path, const struct qv_domain *def)
{
    struct proc_cgroup_file files[3];
    int n = proc_cgroup_cpu_files(proc_cgroup_version_of(path), def->cputune.shares,
                                  def->cputune.cap, def->vcpus, files);
    int rc = n < 0 ? n : proc_cgroup_write(path, files, n);
    if (rc < 0)
        return rc;
    proc_log(q->dir, "cgroup %s: CPU weight %u, cap %u%%", path,
             def->cputune.shares ? def->cputune.shares : 256, def->cputune.cap);
    return 0;
}

static int create_and_attach(struct qemu_vm *q, const struct qv_domain *def, pid_t pid, char **out)
{
    g_autofree char *leaf = leaf_of(q, def);
    g_autofree char *path = NULL;
    int rc = def->partition ? proc_cgroup_create_in(def->partition, leaf, has_limits(def), &path)
                            : proc_cgroup_create(leaf, &path);
    if (rc == 0 && has_limits(def))
        rc = write_limits(q, path, def);
    if (rc == 0)
        rc = proc_cgroup_attach(path, pid);
    if (rc < 0) {
        if (path)
            proc_cgroup_remove(path, q->dir);
        if (def->partition)
            qv_error_prefix("VM '%s': cannot put it in <resource><partition>%s</partition>",
                            q->name, def->partition);
        else
            qv_error_prefix("cannot enforce the CPU weight or cap of VM '%s'", q->name);
        return qv_error_code();
    }
    if (def->partition)
        proc_log(q->dir, "cgroup %s (partition %s)", path, def->partition);
    *out = g_steal_pointer(&path);
    return 0;
}

int qemu_cgroup_at_start(struct qemu_vm *q, const struct qv_domain *def, struct proc_runtime *rt)
{
    if (!wants_cgroup(def))
        return 0;
    return create_and_attach(q, def, rt->id.pid, &rt->cgroup);
}

int qemu_cgroup_live(struct qemu_vm *q, const struct qv_domain *def)
{
    struct proc_runtime rt;
    int rc = proc_runtime_read(q->dir, &rt);
    if (rc < 0)
        return rc;
    if (rt.cgroup) {
        g_autofree char *prefix = g_strdup_printf("qemu-%s-", q->name);
        rc = proc_cgroup_check_recorded(rt.cgroup, prefix);
        if (rc == 0)
            rc = write_limits(q, rt.cgroup, def);
        if (rc < 0)
            qv_error_prefix("cannot change the CPU weight or cap of VM '%s'", q->name);
    } else {
        /* The VM started without limits: it gets its group now. */
        rc = create_and_attach(q, def, rt.id.pid, &rt.cgroup);
        if (rc == 0) {
            rc = proc_runtime_write(q->dir, &rt);
            if (rc < 0)
                proc_log(q->dir, "cgroup %s is not recorded: %s", rt.cgroup,
                         qv_last_error()->message);
        }
    }
    proc_runtime_clear(&rt);
    return rc;
}
