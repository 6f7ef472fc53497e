/* Handing PCI devices to vfio-pci for a guest and giving them back.
 *
 * A group passes through whole: every endpoint in it must be on vfio-pci
 * (or pci-stub, or unbound) for VFIO to accept it; PCI-to-PCI bridges may
 * keep their driver. Each sysfs write runs in a helper thread with a bound,
 * because some devices (consumer GPUs) hang in their driver's unbind: the
 * caller gets an error instead of hanging with them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/error.h"
#include "host.h"

#define HOST_SYSFS_TIMEOUT_MS 10000

int host_sysfs_timeout_ms(void)
{
    const char *env = g_getenv("QV_SYSFS_WRITE_TIMEOUT_MS");
    if (env && *env && strspn(env, "0123456789") == strlen(env) && strlen(env) <= 7) {
        int v = atoi(env);
        if (v > 0)
            return v;
    }
    return HOST_SYSFS_TIMEOUT_MS;
}

struct sysfs_job {
    gint refs;
    char *path;
    char *data;
    GMutex lock;
    GCond cond;
    bool done;
    int err;
};

static void job_unref(struct sysfs_job *j)
{
    if (!g_atomic_int_dec_and_test(&j->refs))
        return;
    g_free(j->path);
    g_free(j->data);
    g_mutex_clear(&j->lock);
    g_cond_clear(&j->cond);
    g_free(j);
}

static gpointer job_run(gpointer p)
{
    struct sysfs_job *j = p;
    int err = 0;
    int fd = open(j->path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        err = errno;
    } else {
        /* A sysfs attribute takes its value in one write. */
        size_t len = strlen(j->data);
        ssize_t n;
        do
            n = write(fd, j->data, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            err = errno;
        else if ((size_t)n != len)
            err = EIO;
        if (close(fd) < 0 && !err && errno != EINTR)
            err = errno;
    }
    g_mutex_lock(&j->lock);
    j->done = true;
    j->err = err;
    g_cond_signal(&j->cond);
    g_mutex_unlock(&j->lock);
    job_unref(j);
    return NULL;
}

int host_sysfs_write(const char *path, const char *data, int timeout_ms)
{
    struct sysfs_job *j = g_new0(struct sysfs_job, 1);
    j->refs = 2;
    j->path = g_strdup(path);
    j->data = g_strdup(data);
    g_mutex_init(&j->lock);
    g_cond_init(&j->cond);
    g_autoptr(GError) gerr = NULL;
    GThread *t = g_thread_try_new("qv-sysfs", job_run, j, &gerr);
    if (!t) {
        j->refs = 1;
        job_unref(j);
        return qv_error_set(QV_ERR_SYSTEM, "cannot start a thread to write '%s': %s", path,
                            gerr->message);
    }
    /* Detached: a write stuck in the kernel keeps its thread, not us. */
    g_thread_unref(t);
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_mutex_lock(&j->lock);
    while (!j->done && g_cond_wait_until(&j->cond, &j->lock, deadline))
        ;
    bool done = j->done;
    int err = j->err;
    g_mutex_unlock(&j->lock);
    job_unref(j);
    g_autofree char *shown = g_strstrip(g_strdup(data));
    if (!done)
        return qv_error_set(QV_ERR_TIMEOUT,
                            "writing '%s' to %s did not finish within %d ms (the device or its "
                            "driver hangs; it may need a host reboot)",
                            shown, path, timeout_ms);
    if (err)
        return qv_error_set_errno(QV_ERR_SYSTEM, err, "cannot write '%s' to %s", shown, path);
    return 0;
}

void host_vfio_dev_free(struct host_vfio_dev *d)
{
    if (!d)
        return;
    g_free(d->bdf);
    g_free(d->driver);
    g_free(d->override);
    g_free(d);
}

bool host_driver_name_ok(const char *name)
{
    return name && *name && strlen(name) <= 64 && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && !strchr(name, '\n');
}

/* Bridges other than PCI-to-PCI ones (host, ISA/LPC, ...) have ordinary
 * headers: VFIO treats them as endpoints, yet the host cannot give them up. */
static bool is_pci_bridge(const struct host_pci_dev *d)
{
    unsigned sub = d->class_code >> 8;
    return sub == 0x0604 || sub == 0x0609;
}

static bool planned(GPtrArray *plan, const char *bdf)
{
    for (guint i = 0; i < plan->len; i++)
        if (strcmp(((struct host_vfio_dev *)g_ptr_array_index(plan, i))->bdf, bdf) == 0)
            return true;
    return false;
}

static char *read_override(const char *root, const char *bdf)
{
    g_autofree char *p = host_path(root, "/sys/bus/pci/devices/%s/driver_override", bdf);
    char *v = host_read_line(p);
    if (v && (!*v || strcmp(v, "(null)") == 0)) {
        g_free(v);
        return NULL;
    }
    return v;
}

int host_vfio_plan(const char *root, const char *bdf, bool managed, GPtrArray *plan)
{
    g_autoptr(GPtrArray) members = NULL;
    g_autofree char *vfio = host_path(root, "/sys/bus/pci/drivers/vfio-pci");
    struct host_pci_dev *d = host_pci_get(root, bdf);
    if (!d)
        return qv_error_code();
    int rc = 0;
    if (d->group < 0) {
        rc = qv_error_set(QV_ERR_UNSUPPORTED,
                          "PCI device %s is in no IOMMU group: the host has no active IOMMU "
                          "(turn on VT-d or AMD-Vi and boot with intel_iommu=on or amd_iommu=on)",
                          d->bdf);
        goto out;
    }
    if (!managed) {
        if (g_strcmp0(d->driver, "vfio-pci") != 0)
            rc = qv_error_set(QV_ERR_INVALID_STATE,
                              "PCI device %s is %s%s%s, not to vfio-pci, and its <hostdev> has "
                              "managed='no': bind it to vfio-pci first, or use managed='yes'",
                              d->bdf, d->driver ? "bound to '" : "bound to no driver",
                              d->driver ? d->driver : "", d->driver ? "'" : "");
        goto out;
    }
    members = host_pci_group(root, d->group);
    /* First judge the whole group, so a refusal changes nothing. */
    for (guint i = 0; i < members->len; i++) {
        const struct host_pci_dev *m = g_ptr_array_index(members, i);
        if (is_pci_bridge(m) || !host_pci_in_host_use(m))
            continue;
        if (host_pci_is_bridge(m)) {
            rc = qv_error_set(QV_ERR_INVALID_STATE,
                              "PCI device %s cannot be passed through: IOMMU group %d is not "
                              "viable, it also holds %s (class %06x, a bridge bound to '%s'), "
                              "which the host needs",
                              d->bdf, d->group, m->bdf, m->class_code, m->driver);
            goto out;
        }
    }
    for (guint i = 0; i < members->len; i++) {
        const struct host_pci_dev *m = g_ptr_array_index(members, i);
        if (is_pci_bridge(m) || g_strcmp0(m->driver, "vfio-pci") == 0 || planned(plan, m->bdf))
            continue;
        if (!g_file_test(vfio, G_FILE_TEST_IS_DIR)) {
            rc = qv_error_set(QV_ERR_UNSUPPORTED,
                              "PCI device %s needs the vfio-pci driver, which is not loaded "
                              "(modprobe vfio-pci)",
                              m->bdf);
            goto out;
        }
        if (m->driver && !host_driver_name_ok(m->driver)) {
            rc = qv_error_set(QV_ERR_INVALID_ARG, "PCI device %s: unexpected driver name '%s'",
                              m->bdf, m->driver);
            goto out;
        }
        struct host_vfio_dev *v = g_new0(struct host_vfio_dev, 1);
        v->bdf = g_strdup(m->bdf);
        v->driver = g_strdup(m->driver);
        v->override = read_override(root, m->bdf);
        g_ptr_array_add(plan, v);
    }
out:
    host_pci_dev_free(d);
    return rc;
}

/* Wait until bdf is bound to driver (NULL: to none). */
static int wait_driver(const char *root, const char *bdf, const char *driver, int timeout_ms)
{
    g_autofree char *link = host_path(root, "/sys/bus/pci/devices/%s/driver", bdf);
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        g_autofree char *now = host_link_name(link);
        if (g_strcmp0(now, driver) == 0)
            return 0;
        if (g_get_monotonic_time() >= deadline)
            return qv_error_set(
                QV_ERR_TIMEOUT, "PCI device %s is bound to %s%s%s after %d ms, not to %s%s%s", bdf,
                now ? "'" : "", now ? now : "no driver", now ? "'" : "", timeout_ms,
                driver ? "'" : "", driver ? driver : "no driver", driver ? "'" : "");
        g_usleep(10000);
    }
}

static int bind_one(const char *root, const struct host_vfio_dev *v, int timeout_ms)
{
    g_autofree char *override = host_path(root, "/sys/bus/pci/devices/%s/driver_override", v->bdf);
    int rc = host_sysfs_write(override, "vfio-pci", timeout_ms);
    if (rc == 0 && v->driver) {
        g_autofree char *unbind = host_path(root, "/sys/bus/pci/drivers/%s/unbind", v->driver);
        rc = host_sysfs_write(unbind, v->bdf, timeout_ms);
    }
    if (rc == 0) {
        g_autofree char *probe = host_path(root, "/sys/bus/pci/drivers_probe");
        rc = host_sysfs_write(probe, v->bdf, timeout_ms);
    }
    if (rc == 0)
        rc = wait_driver(root, v->bdf, "vfio-pci", timeout_ms);
    if (rc < 0)
        qv_error_prefix("cannot bind PCI device %s to vfio-pci", v->bdf);
    return rc;
}

int host_vfio_bind(const char *root, GPtrArray *plan)
{
    int timeout = host_sysfs_timeout_ms();
    for (guint i = 0; i < plan->len; i++) {
        int rc = bind_one(root, g_ptr_array_index(plan, i), timeout);
        if (rc < 0) {
            /* Give back what was taken, keeping the bind's error. */
            struct qv_error_saved e;
            qv_error_save(&e);
            host_vfio_restore(root, plan);
            return qv_error_restore(&e);
        }
    }
    return 0;
}

static int restore_one(const char *root, const struct host_vfio_dev *v, int timeout_ms)
{
    /* A device removed from the host meanwhile has nothing to go back to. */
    g_autofree char *dir = host_path(root, "/sys/bus/pci/devices/%s", v->bdf);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return 0;
    g_autofree char *override = host_path(root, "/sys/bus/pci/devices/%s/driver_override", v->bdf);
    g_autofree char *value = g_strdup_printf("%s\n", v->override ? v->override : "");
    int rc = host_sysfs_write(override, value, timeout_ms);
    g_autofree char *link = host_path(root, "/sys/bus/pci/devices/%s/driver", v->bdf);
    g_autofree char *now = host_link_name(link);
    if (rc == 0 && g_strcmp0(now, v->driver) == 0)
        return 0;
    if (rc == 0 && now) {
        g_autofree char *unbind = host_path(root, "/sys/bus/pci/drivers/%s/unbind", now);
        if (host_driver_name_ok(now))
            rc = host_sysfs_write(unbind, v->bdf, timeout_ms);
    }
    if (rc == 0 && v->driver) {
        g_autofree char *bind = host_path(root, "/sys/bus/pci/drivers/%s/bind", v->driver);
        rc = host_sysfs_write(bind, v->bdf, timeout_ms);
        if (rc == 0)
            rc = wait_driver(root, v->bdf, v->driver, timeout_ms);
    }
    if (rc < 0)
        qv_error_prefix("cannot give PCI device %s back to %s%s%s", v->bdf, v->driver ? "'" : "",
                        v->driver ? v->driver : "no driver", v->driver ? "'" : "");
    return rc;
}

int host_vfio_restore(const char *root, GPtrArray *plan)
{
    int timeout = host_sysfs_timeout_ms();
    int first = 0;
    g_autofree char *why = NULL;
    for (guint i = plan->len; i-- > 0;) {
        int rc = restore_one(root, g_ptr_array_index(plan, i), timeout);
        if (rc < 0 && !first) {
            first = rc;
            why = g_strdup(qv_last_error()->message);
        }
    }
    qv_reset_error();
    return first ? qv_error_set(first, "%s", why) : 0;
}
