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

/* <memtune> and <blkiotune> are kept as written; their values are read
 * once, when the group is made. */
static bool wants_cgroup(const struct qv_domain *def)
{
    return def->cputune.shares || def->cputune.cap || def->partition ||
           qv_domain_kept_find(def, "", "memtune") || qv_domain_kept_find(def, "", "blkiotune");
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

/* The group of controller ctl for the VM: on v1 one of its own, recorded
 * in *more; on v2 the VM's group (main, when there is one). */
static int ctl_group(struct qemu_vm *q, const struct qv_domain *def, const char *ctl,
                     const char *main, GPtrArray *more, char **path)
{
    /* v2 has one tree: a VM in a partition keeps its group there. */
    if (def->partition && main && proc_cgroup_version_of(main) == PROC_CGROUP_V2) {
        *path = g_strdup(main);
        return proc_cgroup_v2_pass_down(main, ctl);
    }
    g_autofree char *leaf = leaf_of(q, def);
    int rc = proc_cgroup_create_ctl(ctl, leaf, path);
    if (rc < 0)
        return rc;
    bool known = main && strcmp(main, *path) == 0;
    for (guint i = 0; i < more->len; i++)
        known = known || strcmp(g_ptr_array_index(more, i), *path) == 0;
    if (!known)
        g_ptr_array_add(more, g_strdup(*path));
    return 0;
}

static bool has_file(const char *dir, const char *name)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    return g_file_test(p, G_FILE_TEST_EXISTS);
}

/* <blkiotune>: weights and device limits into the blkio (v1) or io (v2)
 * group, pid in it. */
static int blkio_group(struct qemu_vm *q, const struct qv_domain *def, pid_t pid, const char *main,
                       GPtrArray *more)
{
    g_autoptr(GArray) devs = g_array_new(FALSE, TRUE, sizeof(struct proc_cgroup_blkio_dev));
    struct proc_cgroup_blkio b;
    int rc = qemu_blkiotune_of(def, &b, devs);
    if (rc <= 0)
        return rc;
    g_autofree char *path = NULL;
    if ((rc = ctl_group(q, def, "blkio", main, more, &path)) < 0)
        return rc;
    enum proc_cgroup_version v = proc_cgroup_version_of(path);
    static const char *const weight_files[2][2] = {{"blkio.weight", "blkio.bfq.weight"},
                                                   {"io.weight", "io.bfq.weight"}};
    const char *const *w = weight_files[v == PROC_CGROUP_V2];
    const char *weight_file = has_file(path, w[0]) ? w[0] : has_file(path, w[1]) ? w[1] : NULL;
    g_autoptr(GArray) files = g_array_new(FALSE, TRUE, sizeof(struct proc_cgroup_file));
    int n = proc_cgroup_blkio_files(v, &b, weight_file, files);
    if ((rc = n < 0 ? n : proc_cgroup_write(path, (void *)files->data, n)) < 0 ||
        (rc = proc_cgroup_attach(path, pid)) < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        const struct proc_cgroup_file *f = &g_array_index(files, struct proc_cgroup_file, i);
        proc_log(q->dir, "cgroup %s: %s %s", path, f->name, f->value);
    }
    return 0;
}

/* <memtune>: the memory controller's group (on v1 one of its own,
 * recorded in *more; on v2 the VM's group), limits written, pid in it. */
static int memory_group(struct qemu_vm *q, const struct qv_domain *def, pid_t pid, const char *main,
                        GPtrArray *more)
{
    struct proc_cgroup_memory m;
    int rc = qemu_memtune_of(def, &m);
    if (rc <= 0)
        return rc;
    g_autofree char *path = NULL;
    if ((rc = ctl_group(q, def, "memory", main, more, &path)) < 0)
        return rc;
    enum proc_cgroup_version v = proc_cgroup_version_of(path);
    g_autofree char *swap = g_build_filename(
        path, v == PROC_CGROUP_V1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max", NULL);
    struct proc_cgroup_file files[3];
    int n = proc_cgroup_memory_files(v, &m, g_file_test(swap, G_FILE_TEST_EXISTS), files);
    if ((rc = n < 0 ? n : proc_cgroup_write(path, files, n)) < 0 ||
        (rc = proc_cgroup_attach(path, pid)) < 0)
        return rc;
    for (int i = 0; i < n; i++)
        proc_log(q->dir, "cgroup %s: %s %s", path, files[i].name, files[i].value);
    return 0;
}

static int create_and_attach(struct qemu_vm *q, const struct qv_domain *def, pid_t pid, char **out)
{
    g_autofree char *leaf = leaf_of(q, def);
    g_autofree char *path = NULL;
    if (!has_limits(def) && !def->partition)
        return 0; /* <memtune> only: memory_group() */
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
    int rc = create_and_attach(q, def, rt->id.pid, &rt->cgroup);
    if (rc < 0)
        return rc;
    GPtrArray *more = g_ptr_array_new_with_free_func(g_free);
    const char *what = "<memtune> limits";
    rc = memory_group(q, def, rt->id.pid, rt->cgroup, more);
    if (rc == 0) {
        what = "<blkiotune> I/O weights and limits";
        rc = blkio_group(q, def, rt->id.pid, rt->cgroup, more);
    }
    g_ptr_array_add(more, NULL);
    /* Recorded also on failure: the caller removes what was made. */
    rt->cgroups = (char **)g_ptr_array_free(more, FALSE);
    if (rc < 0) {
        qv_error_prefix("cannot enforce the %s of VM '%s'", what, q->name);
        return qv_error_code();
    }
    return 0;
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
