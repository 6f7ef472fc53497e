/* The qemu driver table: qemu:///session, one qemu-system-x86_64 process
 * per VM, state under <state_dir>/qemu/<name>/. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "../../lib/util/names.h"
#include "qemu_base.h"

static int qemu_open(struct qv_conn *conn)
{
    const char *path = g_uri_get_path(conn->uri);
    if (g_strcmp0(path, "/session") != 0)
        return qv_error_set(QV_ERR_URI,
                            "the qemu driver serves qemu:///session, not '%s' (path '%s')",
                            conn->uri_str, path ? path : "");
    if (g_uri_get_host(conn->uri) && *g_uri_get_host(conn->uri))
        return qv_error_set(QV_ERR_URI, "the qemu driver runs VMs on this host only: '%s'",
                            conn->uri_str);
    int rc = proc_kind_dir_ensure(conn->state_dir, QEMU_KIND);
    if (rc == 0) {
        qemu_sweep(conn);
        qemu_base_sweep(conn->state_dir);
    }
    return rc;
}

struct qemu_vm *qemu_vm_new(struct qv_conn *conn, const char *name)
{
    struct qemu_vm *q = g_new0(struct qemu_vm, 1);
    q->name = g_strdup(name);
    q->dir = proc_vm_dir(conn->state_dir, QEMU_KIND, name);
    q->state_dir = g_strdup(conn->state_dir);
    q->lock_fd = -1;
    return q;
}

void qemu_vm_free(struct qemu_vm *q)
{
    if (!q)
        return;
    if (q->lock_fd >= 0)
        proc_unlock(q->lock_fd);
    g_free(q->name);
    g_free(q->dir);
    g_free(q->state_dir);
    g_free(q);
}

int qemu_vm_lock(struct qemu_vm *q, int timeout_ms)
{
    if (q->lock_depth++ > 0)
        return 0;
    int fd = proc_lock(q->state_dir, QEMU_KIND, q->name, timeout_ms);
    if (fd < 0) {
        q->lock_depth = 0;
        return fd;
    }
    q->lock_fd = fd;
    return 0;
}

void qemu_vm_unlock(struct qemu_vm *q)
{
    if (q->lock_depth > 0 && --q->lock_depth == 0) {
        proc_unlock(q->lock_fd);
        q->lock_fd = -1;
    }
}

struct qv_domain *qemu_vm_load_def(struct qemu_vm *q)
{
    g_autofree char *path = g_build_filename(q->dir, "domain.xml", NULL);
    g_autofree char *xml = NULL;
    size_t len;
    int rc = qv_file_read_text(path, QV_DEFINITION_MAX_BYTES, &xml, &len);
    if (rc == QV_ERR_NOT_FOUND) {
        qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' does not exist", q->name);
        return NULL;
    }
    if (rc < 0) {
        qv_error_prefix("cannot read the definition of VM '%s'", q->name);
        return NULL;
    }
    struct qv_domain *def = qv_domain_parse_xml(xml);
    if (!def)
        qv_error_prefix("the stored definition of VM '%s' (%s) is damaged", q->name, path);
    return def;
}

struct qmp *qemu_vm_qmp(struct qemu_vm *q, bool status_monitor)
{
    g_autofree char *sock =
        g_build_filename(q->dir, status_monitor ? "status.sock" : "qmp.sock", NULL);
    g_autofree char *label = g_strdup_printf("VM '%s'", q->name);
    return qmp_connect(sock, label, QEMU_QMP_TIMEOUT_MS);
}

bool qemu_vm_running(struct qemu_vm *q)
{
    struct proc_runtime rt;
    bool alive = proc_runtime_read(q->dir, &rt) == 0 && qemu_runtime_alive(q, &rt);
    proc_runtime_clear(&rt);
    qv_reset_error();
    return alive;
}

int qemu_vm_write_stopped(struct qemu_vm *q, enum vm_state_reason reason)
{
    return proc_stopped_write(q->dir, reason);
}

const char *qemu_emulator_of(const struct qv_domain *def)
{
    if (def->emulator)
        return def->emulator;
    const char *env = g_getenv("QV_QEMU_BINARY");
    return env && *env ? env : QEMU_DEFAULT_BINARY;
}

/* Publish a filled temporary directory as VM q, unless its UUID is taken:
 * the check and the rename happen under the driver-wide UUID lock, so two
 * VMs never share one UUID, however many callers race. */
int qemu_vm_publish(struct qv_conn *conn, struct qemu_vm *q, const char *tmp, const char *uuid)
{
    int fd = qemu_uuid_lock(conn->state_dir);
    if (fd < 0)
        return fd;
    int rc = qemu_uuid_check(conn->state_dir, uuid, q->name);
    if (rc == 0)
        rc = qemu_dir_publish(q, tmp);
    qemu_uuid_unlock(fd);
    return rc;
}

/* Write the definition of a new VM; the caller holds the VM's lock. */
static int define_locked(struct qv_conn *conn, struct qemu_vm *q, const struct qv_domain *def)
{
    g_autofree char *xml_path = g_build_filename(q->dir, "domain.xml", NULL);
    if (g_file_test(xml_path, G_FILE_TEST_EXISTS))
        return qv_error_set(QV_ERR_EXISTS, "VM '%s' already exists on %s", def->name,
                            conn->uri_str);
    g_autofree char *xml = qv_domain_format_xml(def);
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    g_autofree char *tmp = qemu_tmp_dir(q);
    if (!tmp)
        return qv_error_code();
    g_autofree char *tmp_xml = g_build_filename(tmp, "domain.xml", NULL);
    int rc = qv_file_write_atomic(tmp_xml, xml, strlen(xml), 0600);
    if (rc == 0)
        rc = qemu_vm_publish(conn, q, tmp, def->uuid);
    if (rc < 0) {
        qv_dir_remove_tree(tmp);
        return rc;
    }
    proc_log(q->dir, "defined");
    return 0;
}

static int qemu_define(struct qv_conn *conn, const struct qv_domain *def, void **priv)
{
    /* Refuse now what QEMU could not be given at start: build the argv
     * with placeholder paths. */
    struct qemu_launch l = {
        .dir = "/nonexistent",
        .emulator = qemu_emulator_of(def),
        .hugepage_dir = "/dev/hugepages",
        .check_only = true};
    char **argv = qemu_argv_build(def, &l);
    if (!argv)
        return qv_error_code();
    g_strfreev(argv);
    if (qemu_check_bind_paths(def, conn->state_dir) < 0)
        return qv_error_code();

    struct qemu_vm *q = qemu_vm_new(conn, def->name);
    int rc = qemu_vm_lock(q, QEMU_QMP_TIMEOUT_MS);
    if (rc == 0) {
        rc = define_locked(conn, q, def);
        qemu_vm_unlock(q);
    }
    if (rc < 0) {
        qemu_vm_free(q);
        return rc;
    }
    *priv = q;
    return 0;
}

static int qemu_clone(struct vm *src_vm, const struct qv_domain *newdef, void **priv)
{
    struct qemu_vm *src = qemu_vm_of(src_vm);
    struct qemu_vm *dst = qemu_vm_new(src_vm->conn, newdef->name);
    int rc = qemu_vm_lock(src, QEMU_QMP_TIMEOUT_MS * 6);
    if (rc == 0) {
        rc = qemu_vm_lock(dst, QEMU_QMP_TIMEOUT_MS);
        if (rc == 0) {
            rc = qemu_clone_locked(src_vm->conn, src, dst, newdef);
            qemu_vm_unlock(dst);
        }
        qemu_vm_unlock(src);
    }
    if (rc < 0) {
        qemu_vm_free(dst);
        return rc;
    }
    *priv = dst;
    return 0;
}

static int qemu_lookup(struct qv_conn *conn, const char *name, void **priv)
{
    struct qemu_vm *q = qemu_vm_new(conn, name);
    g_autofree char *xml_path = g_build_filename(q->dir, "domain.xml", NULL);
    if (!g_file_test(xml_path, G_FILE_TEST_IS_REGULAR)) {
        qemu_vm_free(q);
        return qv_error_set(QV_ERR_NOT_FOUND, "no VM named '%s' on %s", name, conn->uri_str);
    }
    /* PCI devices a crashed QEMU or a killed caller left on vfio-pci. */
    qemu_vfio_settle(q);
    *priv = q;
    return 0;
}

static void qemu_release(struct vm *vm)
{
    qemu_vm_free(vm->priv);
    vm->priv = NULL;
}

static int qemu_list(struct qv_conn *conn, GPtrArray *names)
{
    return proc_list_vms(conn->state_dir, QEMU_KIND, names);
}

static struct qv_domain *qemu_get_def(struct vm *vm)
{
    return qemu_vm_load_def(qemu_vm_of(vm));
}

/* A running VM's console is the pty QEMU made for it; a VM that does not
 * run has its console's log, the last thing the guest printed. */
static char *qemu_console_endpoint(struct vm *vm)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    struct proc_runtime rt;
    char *out = NULL;
    if (proc_runtime_read(q->dir, &rt) == 0 && qemu_runtime_alive(q, &rt))
        out = g_strdup(qv_json_str(rt.extra, "console"));
    proc_runtime_clear(&rt);
    qv_reset_error();
    if (out && *out)
        return out;
    g_free(out);
    return g_strdup_printf("file:%s/console.log", q->dir);
}

/* serial0 always has logfile=console.log (qemu_argv_serial.c), so the log
 * holds every byte the guest wrote, also those QEMU dropped because nobody
 * held the pty or socket open. A run's output starts where the log ended
 * when QEMU was spawned (runtime.json's console_log_start); a value that
 * is not a plausible offset reads as 0, the whole log. */
static int qemu_console_log(struct vm *vm, char **path, uint64_t *start)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    struct proc_runtime rt;
    gint64 at = 0;
    if (proc_runtime_read(q->dir, &rt) == 0 && qemu_runtime_alive(q, &rt))
        at = qv_json_int(rt.extra, "console_log_start", 0);
    proc_runtime_clear(&rt);
    qv_reset_error();
    *start = at > 0 ? (uint64_t)at : 0;
    *path = g_build_filename(q->dir, "console.log", NULL);
    return 0;
}

const struct qv_driver qv_qemu_driver = {
    .name = "qemu",
    .schemes = (const char *[]){"qemu", NULL},
    .domain_type = QV_VIRT_QEMU,
    .open = qemu_open,
    .vm_define = qemu_define,
    .vm_lookup = qemu_lookup,
    .vm_release = qemu_release,
    .vm_list = qemu_list,
    .vm_get_def = qemu_get_def,
    .vm_get_status = qemu_vm_status,
    .vm_start = qemu_vm_start,
    .vm_stop = qemu_vm_stop,
    .vm_pause = qemu_vm_pause,
    .vm_resume = qemu_vm_resume,
    .vm_reset = qemu_vm_reset,
    .vm_destroy = qemu_vm_destroy,
    .vm_wait = qemu_vm_wait,
    .vm_console_endpoint = qemu_console_endpoint,
    .vm_console_log = qemu_console_log,
    .vm_guest_ip = qemu_vm_guest_ip,
    .vm_set = qemu_vm_set,
    .vm_get_stats = qemu_vm_stats,
    .vm_get_live = qemu_vm_live,
    .vm_clone = qemu_clone,
    .snapshot_create = qemu_snapshot_create,
    .snapshot_restore = qemu_snapshot_restore,
    .snapshot_delete = qemu_snapshot_delete,
    .snapshot_list = qemu_snapshot_list,
};
