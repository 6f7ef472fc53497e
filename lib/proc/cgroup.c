/* A cgroup per VM for the CPU weight and cap. Each VM's group sits under
 * <the caller's own cgroup>/qv, so qv never writes outside the part of the
 * tree it was started in (on v2 that is the part delegated to it). */
#define _GNU_SOURCE
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "../util/error.h"
#include "proc.h"

/* Kernel defaults: v1 cpu.shares 1024 and v2 cpu.weight 100 are "normal";
 * qv's weight scale has 256 as normal (libvirt's <shares> is relative too). */
#define QV_WEIGHT_NORMAL 256
#define V1_SHARES_NORMAL 1024
#define V2_WEIGHT_NORMAL 100
#define V2_WEIGHT_MAX 10000
#define CAP_PERIOD_US 100000

/* Our own path in the hierarchy whose /proc/self/cgroup line matches. */
static char *own_path(const char *self_cgroup, bool v2, const char *ctl)
{
    g_auto(GStrv) lines = g_strsplit(self_cgroup, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, ":", 3);
        if (g_strv_length(f) != 3 || f[2][0] != '/')
            continue;
        if (v2 && strcmp(f[0], "0") == 0 && f[1][0] == '\0')
            return g_strdup(f[2]);
        if (!v2) {
            g_auto(GStrv) ctls = g_strsplit(f[1], ",", -1);
            if (g_strv_contains((const char *const *)ctls, ctl))
                return g_strdup(f[2]);
        }
    }
    return NULL;
}

/* mount point + (own path relative to the mount's root), so that a
 * hierarchy mounted from a sub-tree (containers) resolves too. */
static char *join_mount(const char *root, const char *mnt, const char *own)
{
    const char *rel = own;
    if (strcmp(root, "/") != 0 && g_str_has_prefix(own, root) &&
        (own[strlen(root)] == '/' || own[strlen(root)] == '\0'))
        rel = own + strlen(root);
    return g_build_filename(mnt, rel, NULL);
}

void proc_cgroup_locate(const char *mountinfo, const char *self_cgroup, struct proc_cgroup_host *h)
{
    proc_cgroup_locate_ctl(mountinfo, self_cgroup, "cpu", h);
}

void proc_cgroup_locate_ctl(const char *mountinfo, const char *self_cgroup, const char *ctl,
                            struct proc_cgroup_host *h)
{
    h->v1_dir = h->v2_dir = h->v1_mnt = h->v2_mnt = NULL;
    g_autofree char *own1 = own_path(self_cgroup ? self_cgroup : "", false, ctl);
    g_autofree char *own2 = own_path(self_cgroup ? self_cgroup : "", true, ctl);
    g_auto(GStrv) lines = g_strsplit(mountinfo ? mountinfo : "", "\n", -1);
    for (char **l = lines; *l; l++) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTS */
        const char *dash = strstr(*l, " - ");
        if (!dash)
            continue;
        g_autofree char *head = g_strndup(*l, (gsize)(dash - *l));
        g_auto(GStrv) f = g_strsplit(head, " ", -1);
        g_auto(GStrv) t = g_strsplit(dash + 3, " ", -1);
        if (g_strv_length(f) < 5 || g_strv_length(t) < 3)
            continue;
        g_autofree char *root = g_strcompress(f[3]);
        g_autofree char *mnt = g_strcompress(f[4]);
        if (strcmp(t[0], "cgroup2") == 0 && own2 && !h->v2_dir) {
            h->v2_dir = join_mount(root, mnt, own2);
            h->v2_mnt = g_strdup(mnt);
        } else if (strcmp(t[0], "cgroup") == 0 && own1 && !h->v1_dir) {
            g_auto(GStrv) opts = g_strsplit(t[2], ",", -1);
            if (g_strv_contains((const char *const *)opts, ctl)) {
                h->v1_dir = join_mount(root, mnt, own1);
                h->v1_mnt = g_strdup(mnt);
            }
        }
    }
}

void proc_cgroup_host_clear(struct proc_cgroup_host *h)
{
    g_clear_pointer(&h->v1_dir, g_free);
    g_clear_pointer(&h->v2_dir, g_free);
    g_clear_pointer(&h->v1_mnt, g_free);
    g_clear_pointer(&h->v2_mnt, g_free);
}

int proc_cgroup_cpu_files(enum proc_cgroup_version v, uint32_t weight, uint32_t cap, uint32_t vcpus,
                          struct proc_cgroup_file files[3])
{
    uint32_t w = weight ? weight : QV_WEIGHT_NORMAL;
    /* The cap is per vCPU; the group holds all of them (and QEMU's own
     * threads), so it gets the sum. */
    uint64_t quota = cap ? (uint64_t)cap * CAP_PERIOD_US / 100 * (vcpus ? vcpus : 1) : 0;
    int n = 0;
    if (v == PROC_CGROUP_V1) {
        files[n].name = "cpu.shares";
        g_snprintf(files[n++].value, sizeof(files[0].value), "%" G_GUINT64_FORMAT,
                   (uint64_t)w * V1_SHARES_NORMAL / QV_WEIGHT_NORMAL);
        files[n].name = "cpu.cfs_period_us";
        g_snprintf(files[n++].value, sizeof(files[0].value), "%d", CAP_PERIOD_US);
        files[n].name = "cpu.cfs_quota_us";
        if (quota)
            g_snprintf(files[n++].value, sizeof(files[0].value), "%" G_GUINT64_FORMAT, quota);
        else
            g_strlcpy(files[n++].value, "-1", sizeof(files[0].value));
        return n;
    }
    if (v == PROC_CGROUP_V2) {
        uint64_t v2w = ((uint64_t)w * V2_WEIGHT_NORMAL + QV_WEIGHT_NORMAL / 2) / QV_WEIGHT_NORMAL;
        if (v2w > V2_WEIGHT_MAX)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "CPU weight %u is more than cgroup v2 can express (its cpu.weight "
                                "stops at %d, which is weight %d)",
                                w, V2_WEIGHT_MAX,
                                V2_WEIGHT_MAX * QV_WEIGHT_NORMAL / V2_WEIGHT_NORMAL);
        files[n].name = "cpu.weight";
        g_snprintf(files[n++].value, sizeof(files[0].value), "%" G_GUINT64_FORMAT, v2w ? v2w : 1);
        files[n].name = "cpu.max";
        if (quota)
            g_snprintf(files[n++].value, sizeof(files[0].value), "%" G_GUINT64_FORMAT " %d", quota,
                       CAP_PERIOD_US);
        else
            g_snprintf(files[n++].value, sizeof(files[0].value), "max %d", CAP_PERIOD_US);
        return n;
    }
    return qv_error_set(QV_ERR_UNSUPPORTED, "no cgroup hierarchy with the cpu controller");
}

/* libvirt's "no limit" for memory tuning: 2^53 - 1 KiB. */
#define MEM_UNLIMITED_KIB 9007199254740991ULL

static void mem_value(struct proc_cgroup_file *f, const char *name, uint64_t kib, const char *max)
{
    f->name = name;
    if (kib >= MEM_UNLIMITED_KIB)
        g_strlcpy(f->value, max, sizeof(f->value));
    else
        g_snprintf(f->value, sizeof(f->value), "%" G_GUINT64_FORMAT, kib * 1024);
}

int proc_cgroup_memory_files(enum proc_cgroup_version v, const struct proc_cgroup_memory *m,
                             bool has_swap_file, struct proc_cgroup_file files[3])
{
    int n = 0;
    bool hard_set = m->hard_kib && m->hard_kib < MEM_UNLIMITED_KIB;
    if (m->swap_hard_kib && m->swap_hard_kib < MEM_UNLIMITED_KIB && hard_set &&
        m->swap_hard_kib < m->hard_kib)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "swap_hard_limit (%" G_GUINT64_FORMAT
                            " KiB) is less than hard_limit (%" G_GUINT64_FORMAT " KiB)",
                            m->swap_hard_kib, m->hard_kib);
    if (v == PROC_CGROUP_V1) {
        /* The memory+swap limit may not be below the memory limit: the
         * memory limit is written first. */
        if (m->hard_kib)
            mem_value(&files[n++], "memory.limit_in_bytes", m->hard_kib, "-1");
        if (m->swap_hard_kib) {
            if (!has_swap_file)
                return qv_error_set(QV_ERR_UNSUPPORTED,
                                    "the host's memory cgroup has no memory.memsw.limit_in_bytes "
                                    "for swap_hard_limit (the kernel accounts no swap: boot it "
                                    "with swapaccount=1)");
            mem_value(&files[n++], "memory.memsw.limit_in_bytes", m->swap_hard_kib, "-1");
        }
        if (m->soft_kib)
            mem_value(&files[n++], "memory.soft_limit_in_bytes", m->soft_kib, "-1");
        return n;
    }
    if (v == PROC_CGROUP_V2) {
        if (m->hard_kib)
            mem_value(&files[n++], "memory.max", m->hard_kib, "max");
        /* v2 limits swap apart from memory: swap.max is the difference. */
        if (m->swap_hard_kib) {
            if (!has_swap_file)
                return qv_error_set(QV_ERR_UNSUPPORTED,
                                    "the host's memory cgroup has no memory.swap.max for "
                                    "swap_hard_limit (the kernel accounts no swap)");
            if (m->swap_hard_kib < MEM_UNLIMITED_KIB && !hard_set)
                return qv_error_set(
                    QV_ERR_UNSUPPORTED,
                    "on cgroup v2 swap_hard_limit needs a hard_limit (memory.swap.max "
                    "limits swap alone: it is swap_hard_limit less hard_limit)");
            mem_value(&files[n++], "memory.swap.max",
                      m->swap_hard_kib < MEM_UNLIMITED_KIB ? m->swap_hard_kib - m->hard_kib
                                                           : MEM_UNLIMITED_KIB,
                      "max");
        }
        /* Above memory.high the group is throttled and reclaimed first:
         * v2's soft limit. */
        if (m->soft_kib)
            mem_value(&files[n++], "memory.high", m->soft_kib, "max");
        return n;
    }
    return qv_error_set(QV_ERR_UNSUPPORTED, "no cgroup hierarchy with the memory controller");
}

static void add_file(GArray *out, const char *name, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void add_file(GArray *out, const char *name, const char *fmt, ...)
{
    struct proc_cgroup_file f = {.name = name};
    va_list ap;
    va_start(ap, fmt);
    g_vsnprintf(f.value, sizeof(f.value), fmt, ap);
    va_end(ap);
    g_array_append_val(out, f);
}

int proc_cgroup_blkio_files(enum proc_cgroup_version v, const struct proc_cgroup_blkio *b,
                            const char *weight_file, GArray *out)
{
    if (v != PROC_CGROUP_V1 && v != PROC_CGROUP_V2)
        return qv_error_set(QV_ERR_UNSUPPORTED, "no cgroup hierarchy with the blkio/io controller");
    bool weights = b->weight != 0;
    for (unsigned i = 0; i < b->ndevs; i++)
        weights = weights || b->devs[i].weight;
    if (weights && !weight_file)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            v == PROC_CGROUP_V1
                                ? "the host's blkio cgroup has neither blkio.weight nor "
                                  "blkio.bfq.weight for <blkiotune>'s weights (no block device "
                                  "uses the CFQ or BFQ I/O scheduler)"
                                : "the host's io cgroup has neither io.weight nor io.bfq.weight "
                                  "for <blkiotune>'s weights (no block device uses the BFQ I/O "
                                  "scheduler and io.cost is off)");
    guint before = out->len;
    /* Names outlive the call: the weight file's are the caller's, the
     * rest are literals. */
    static const char *const v1_device[] = {"blkio.weight_device", "blkio.bfq.weight_device"};
    const char *dev_weight_file = v == PROC_CGROUP_V2 ? weight_file
                                  : weight_file && g_str_has_prefix(weight_file, "blkio.bfq")
                                      ? v1_device[1]
                                      : v1_device[0];
    if (b->weight)
        add_file(out, weight_file, v == PROC_CGROUP_V2 ? "default %u" : "%u", b->weight);
    for (unsigned i = 0; i < b->ndevs; i++) {
        const struct proc_cgroup_blkio_dev *d = &b->devs[i];
        if (d->weight)
            add_file(out, dev_weight_file, "%u:%u %u", d->major, d->minor, d->weight);
        const struct {
            uint64_t val;
            const char *v1, *v2;
        } lim[] = {{d->read_bps, "blkio.throttle.read_bps_device", "rbps"},
                   {d->write_bps, "blkio.throttle.write_bps_device", "wbps"},
                   {d->read_iops, "blkio.throttle.read_iops_device", "riops"},
                   {d->write_iops, "blkio.throttle.write_iops_device", "wiops"}};
        for (size_t j = 0; j < G_N_ELEMENTS(lim); j++) {
            if (!lim[j].val)
                continue;
            if (v == PROC_CGROUP_V1)
                add_file(out, lim[j].v1, "%u:%u %" G_GUINT64_FORMAT, d->major, d->minor,
                         lim[j].val);
            else
                add_file(out, "io.max", "%u:%u %s=%" G_GUINT64_FORMAT, d->major, d->minor,
                         lim[j].v2, lim[j].val);
        }
    }
    return (int)(out->len - before);
}

static int write_file(const char *dir, const char *name, const char *value)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    int fd = open(p, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot open %s", p);
    ssize_t n = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    if (n < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, e, "cannot write '%s' to %s", value, p);
    return 0;
}

static bool file_has_word(const char *dir, const char *name, const char *word)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(p, &text, NULL, NULL))
        return false;
    g_auto(GStrv) words = g_strsplit_set(g_strstrip(text), " \n", -1);
    return g_strv_contains((const char *const *)words, word);
}

static int make_dir(const char *p)
{
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot create cgroup %s", p);
    return 0;
}

static bool holds_processes(const char *dir)
{
    g_autofree char *p = g_build_filename(dir, "cgroup.procs", NULL);
    g_autofree char *text = NULL;
    return g_file_get_contents(p, &text, NULL, NULL) && g_strstrip(text)[0] != '\0';
}

/* v2: the cpu controller must reach our group and be passed down twice,
 * to qv/ and to the VM's group. Only the root (which has no cgroup.type)
 * may pass controllers down while it holds processes: in any other group
 * that does, enabling cpu (a threaded controller) would make the group a
 * threaded root and every domain group below it unusable, so qv refuses
 * rather than change the user's group. */
static int v2_prepare(const char *own, const char *base, const char *ctl)
{
    g_autofree char *plus = g_strdup_printf("+%s", ctl);
    if (!file_has_word(own, "cgroup.controllers", ctl))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "cgroup v2 does not give the %s controller to %s (the host has not "
                            "delegated it to qv's group)",
                            ctl, own);
    g_autofree char *type = g_build_filename(own, "cgroup.type", NULL);
    bool root = !g_file_test(type, G_FILE_TEST_EXISTS);
    if (!file_has_word(own, "cgroup.subtree_control", ctl)) {
        if (!root && holds_processes(own))
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "cgroup v2: qv runs in %s, which holds processes, so the %s "
                                "controller cannot be passed below it; run qv in a group whose "
                                "parent is delegated to you and has %s in cgroup.subtree_control "
                                "(e.g. move the shell into a child of a Delegate=yes scope)",
                                own, ctl, ctl);
        if (write_file(own, "cgroup.subtree_control", plus) < 0) {
            qv_error_prefix("cgroup v2: cannot enable the %s controller below %s", ctl, own);
            return qv_error_code();
        }
    }
    int rc = make_dir(base);
    if (rc == 0 && !file_has_word(base, "cgroup.subtree_control", ctl))
        rc = write_file(base, "cgroup.subtree_control", plus);
    return rc;
}

int proc_cgroup_create(const char *leaf, char **path)
{
    return proc_cgroup_create_ctl("cpu", leaf, path);
}

int proc_cgroup_create_ctl(const char *ctl, const char *leaf, char **path)
{
    *path = NULL;
    g_autofree char *mountinfo = NULL, *self = NULL;
    g_file_get_contents("/proc/self/mountinfo", &mountinfo, NULL, NULL);
    g_file_get_contents("/proc/self/cgroup", &self, NULL, NULL);
    struct proc_cgroup_host h;
    proc_cgroup_locate_ctl(mountinfo, self, ctl, &h);
    int rc;
    g_autofree char *base = NULL;
    /* v1's blkio is v2's io. */
    const char *v2ctl = strcmp(ctl, "blkio") == 0 ? "io" : ctl;
    /* v2 only where it carries the controller: on a hybrid host (this
     * project's CI) the unified hierarchy is mounted but empty. */
    if (h.v2_dir && (file_has_word(h.v2_dir, "cgroup.controllers", v2ctl) || !h.v1_dir)) {
        base = g_build_filename(h.v2_dir, "qv", NULL);
        rc = v2_prepare(h.v2_dir, base, v2ctl);
    } else if (h.v1_dir) {
        base = g_build_filename(h.v1_dir, "qv", NULL);
        rc = make_dir(base);
    } else {
        rc = qv_error_set(QV_ERR_UNSUPPORTED,
                          "no cgroup hierarchy with the %s controller is mounted (neither cgroup "
                          "v2 nor a v1 '%s' hierarchy in /proc/self/mountinfo)",
                          ctl, ctl);
    }
    proc_cgroup_host_clear(&h);
    if (rc < 0)
        return rc;
    g_autofree char *p = g_build_filename(base, leaf, NULL);
    rc = make_dir(p);
    if (rc < 0)
        return rc;
    *path = g_steal_pointer(&p);
    return 0;
}

int proc_cgroup_v2_pass_down(const char *path, const char *ctl)
{
    /* Up from the group's parent to the first that passes ctl down
     * already (or the hierarchy's root), then down again enabling it. */
    if (strcmp(ctl, "blkio") == 0)
        ctl = "io";
    g_autofree char *plus = g_strdup_printf("+%s", ctl);
    GPtrArray *up = g_ptr_array_new_with_free_func(g_free);
    char *dir = g_path_get_dirname(path);
    while (proc_cgroup_version_of(dir) == PROC_CGROUP_V2 &&
           !file_has_word(dir, "cgroup.subtree_control", ctl)) {
        g_ptr_array_add(up, dir);
        g_autofree char *type = g_build_filename(dir, "cgroup.type", NULL);
        if (!g_file_test(type, G_FILE_TEST_EXISTS))
            break; /* the root */
        dir = g_path_get_dirname(dir);
    }
    if (up->len == 0 || g_ptr_array_index(up, up->len - 1) != dir)
        g_free(dir);
    int rc = 0;
    for (guint i = up->len; rc == 0 && i-- > 0;) {
        const char *d = g_ptr_array_index(up, i);
        if (!file_has_word(d, "cgroup.controllers", ctl))
            rc = qv_error_set(QV_ERR_UNSUPPORTED, "cgroup v2 does not give the %s controller to %s",
                              ctl, d);
        else
            rc = write_file(d, "cgroup.subtree_control", plus);
    }
    g_ptr_array_free(up, TRUE);
    return rc;
}

int proc_cgroup_create_in(const char *partition, const char *leaf, bool cpu, char **path)
{
    *path = NULL;
    if (!g_str_has_suffix(leaf, ".qv") || strchr(leaf, '/') || partition[0] != '/' ||
        strstr(partition, "/.."))
        return qv_error_set(QV_ERR_INVALID_ARG, "cgroup '%s' in partition '%s' is not one qv makes",
                            leaf, partition);
    g_autofree char *mountinfo = NULL, *self = NULL;
    g_file_get_contents("/proc/self/mountinfo", &mountinfo, NULL, NULL);
    g_file_get_contents("/proc/self/cgroup", &self, NULL, NULL);
    struct proc_cgroup_host h;
    proc_cgroup_locate(mountinfo, self, &h);
    /* The hierarchy proc_cgroup_create() picks, so the CPU limits work. */
    bool v2 = h.v2_dir && (file_has_word(h.v2_dir, "cgroup.controllers", "cpu") || !h.v1_dir);
    g_autofree char *mnt = g_strdup(v2 ? h.v2_mnt : h.v1_dir ? h.v1_mnt : NULL);
    proc_cgroup_host_clear(&h);
    if (!mnt)
        return qv_error_set(
            QV_ERR_UNSUPPORTED,
            "no cgroup hierarchy with the cpu controller is mounted (neither cgroup "
            "v2 nor a v1 'cpu' hierarchy in /proc/self/mountinfo)");
    /* Down from the root: each group made, and on v2 the cpu controller
     * passed to the next one when the VM's limits need it. */
    g_auto(GStrv) parts = g_strsplit(partition + 1, "/", -1);
    g_autofree char *dir = g_strdup(mnt);
    for (char **p = parts;; p++) {
        if (v2 && cpu && !file_has_word(dir, "cgroup.subtree_control", "cpu")) {
            if (!file_has_word(dir, "cgroup.controllers", "cpu"))
                return qv_error_set(QV_ERR_UNSUPPORTED,
                                    "cgroup v2 does not give the cpu controller to %s", dir);
            if (write_file(dir, "cgroup.subtree_control", "+cpu") < 0)
                return qv_error_code();
        }
        const char *next = *p ? *p : leaf;
        if (!*next)
            continue;
        char *down = g_build_filename(dir, next, NULL);
        g_free(dir);
        dir = down;
        if (make_dir(dir) < 0)
            return qv_error_code();
        if (!*p)
            break;
    }
    *path = g_steal_pointer(&dir);
    return 0;
}

int proc_cgroup_write(const char *path, const struct proc_cgroup_file *files, int n)
{
    for (int i = 0; i < n; i++) {
        int rc = write_file(path, files[i].name, files[i].value);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int proc_cgroup_attach(const char *path, pid_t pid)
{
    char v[24];
    g_snprintf(v, sizeof v, "%d", (int)pid);
    return write_file(path, "cgroup.procs", v);
}

enum proc_cgroup_version proc_cgroup_version_of(const char *path)
{
    struct statfs s;
    if (statfs(path, &s) < 0)
        return PROC_CGROUP_NONE;
    if (s.f_type == CGROUP2_SUPER_MAGIC)
        return PROC_CGROUP_V2;
    if (s.f_type == CGROUP_SUPER_MAGIC)
        return PROC_CGROUP_V1;
    return PROC_CGROUP_NONE;
}

int proc_cgroup_check_recorded(const char *path, const char *leaf_prefix)
{
    /* No symbolic link anywhere on the way (realpath gives the path back
     * unchanged), a leaf of qv's naming right below a directory called qv,
     * inside a cgroup file system. */
    g_autofree char *real = path ? realpath(path, NULL) : NULL;
    g_autofree char *parent = path ? g_path_get_dirname(path) : NULL;
    g_autofree char *parent_name = parent ? g_path_get_basename(parent) : NULL;
    g_autofree char *leaf = path ? g_path_get_basename(path) : NULL;
    if (!real || strcmp(real, path) != 0 ||
        (strcmp(parent_name, "qv") != 0 && !g_str_has_suffix(leaf, ".qv")) ||
        !g_str_has_prefix(leaf, leaf_prefix) || proc_cgroup_version_of(path) == PROC_CGROUP_NONE)
        return qv_error_set(QV_ERR_PERMISSION, "'%s' is not a cgroup qv made", path ? path : "");
    return 0;
}

void proc_cgroup_remove(const char *path, const char *log_dir)
{
    /* The path comes from a VM's runtime record: remove nothing but a VM
     * group qv made. */
    if (proc_cgroup_check_recorded(path, "") < 0) {
        if (access(path, F_OK) == 0)
            proc_log(log_dir, "not removing %s: it is not a qv cgroup", path);
        qv_reset_error();
        return;
    }
    /* The last thread leaves the group a moment after the process is seen
     * gone; rmdir fails with EBUSY until then. */
    for (int i = 0; i < 50; i++) {
        if (rmdir(path) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            break;
        g_usleep(10000);
    }
    proc_log(log_dir, "cannot remove cgroup %s: %s", path, g_strerror(errno));
}
