/* Stopping and controlling a VM's QEMU process. Every operation holds the
 * per-VM lock, so qv invocations in other processes serialise. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu_base.h"

#define QEMU_TERM_WAIT_MS 5000

/* Poll QEMU until the guest has powered off or timeout_ms passes. */
static bool wait_poweroff(struct qmp *m, const struct proc_identity *id, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    while (g_get_monotonic_time() < deadline) {
        if (!proc_identity_running(id))
            return true;
        JsonNode *ret = NULL;
        if (qmp_command(m, "query-status", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0) {
            qv_reset_error();
            return !proc_identity_running(id);
        }
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
        bool off = g_strcmp0(qv_json_str(o, "status"), "shutdown") == 0;
        json_node_unref(ret);
        if (off)
            return true;
        g_usleep(50000);
    }
    return false;
}

/* End the process: quit over QMP when the guest is already off, otherwise
 * SIGTERM and then SIGKILL, logging each step with its time. */
static int terminate(struct qemu_vm *q, struct qmp *m, const struct proc_identity *id, bool polite)
{
    if (!proc_identity_running(id))
        return 0;
    if (polite && m) {
        proc_log(q->dir, "sending quit over QMP");
        if (qmp_command(m, "quit", NULL, NULL, QEMU_QMP_TIMEOUT_MS) == 0 &&
            proc_wait_gone(id, QEMU_TERM_WAIT_MS) == 0)
            return 0;
        qv_reset_error();
    }
    proc_log(q->dir, "sending SIGTERM to QEMU process %d", (int)id->pid);
    if (proc_kill(id, SIGTERM) < 0 || proc_wait_gone(id, QEMU_TERM_WAIT_MS) == 0) {
        qv_reset_error();
        if (!proc_identity_running(id)) {
            proc_log(q->dir, "QEMU process %d exited", (int)id->pid);
            return 0;
        }
    }
    qv_reset_error();
    proc_log(q->dir, "QEMU process %d ignored SIGTERM for %d ms: sending SIGKILL", (int)id->pid,
             QEMU_TERM_WAIT_MS);
    proc_kill(id, SIGKILL);
    if (proc_wait_gone(id, QEMU_TERM_WAIT_MS) < 0)
        return qv_error_set(QV_ERR_SYSTEM, "QEMU process %d of VM '%s' survived SIGKILL",
                            (int)id->pid, q->name);
    proc_log(q->dir, "QEMU process %d killed", (int)id->pid);
    return 0;
}

static int stop_locked(struct qemu_vm *q, unsigned flags, int timeout_ms, bool *graceful)
{
    *graceful = false;
    struct proc_runtime rt;
    int rc = proc_runtime_read(q->dir, &rt);
    if (rc == QV_ERR_NOT_FOUND) {
        qv_reset_error();
        return 0;
    }
    if (rc < 0) {
        /* A damaged record must not make the VM unstoppable: its QEMU is
         * still found by the -pidfile path that ends its command line. */
        proc_log(q->dir, "runtime record unreadable (%s): looking for its QEMU by command line",
                 qv_last_error()->message);
        qv_reset_error();
        if (qemu_vm_pidfile_process(q, true, &rt.id) < 0) {
            proc_log(q->dir, "%s", qv_last_error()->message);
            qv_reset_error();
            proc_cleanup_runtime(q->dir);
            return 0;
        }
    }
    struct qmp *m = NULL;
    bool force = (flags & VM_STOP_FORCE) || timeout_ms == 0;
    /* Verify the full identity once; later polls compare pid and start
     * time only. */
    bool alive = qemu_runtime_alive(q, &rt);
    if (alive && !force) {
        m = qemu_vm_qmp(q, false);
        qv_reset_error();
    }
    if (!force && m) {
        int t = timeout_ms < 0 ? QEMU_STOP_TIMEOUT_MS : timeout_ms;
        /* A paused guest cannot answer the power button: let it run. */
        JsonNode *ret = NULL;
        if (qmp_command(m, "query-status", NULL, &ret, QEMU_QMP_TIMEOUT_MS) == 0) {
            JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
            if (!qv_json_bool(o, "running", TRUE)) {
                proc_log(q->dir, "graceful stop of a paused VM: resuming it first (cont)");
                qmp_command(m, "cont", NULL, NULL, QEMU_QMP_TIMEOUT_MS);
            }
            json_node_unref(ret);
        }
        qv_reset_error();
        proc_log(q->dir,
                 "graceful stop: sending system_powerdown (ACPI power button), waiting "
                 "up to %d ms",
                 t);
        gint64 t0 = g_get_monotonic_time();
        if (qmp_command(m, "system_powerdown", NULL, NULL, QEMU_QMP_TIMEOUT_MS) == 0 &&
            wait_poweroff(m, &rt.id, t)) {
            proc_log(q->dir, "guest powered off after %" G_GINT64_FORMAT " ms",
                     (g_get_monotonic_time() - t0) / 1000);
            *graceful = true;
        } else {
            proc_log(q->dir, "guest did not power off within %d ms", t);
        }
        qv_reset_error();
    } else if (force) {
        proc_log(q->dir, "forced stop");
    }
    rc = alive ? terminate(q, m, &rt.id, *graceful) : 0;
    qmp_close(m);
    if (rc == 0)
        proc_cleanup_runtime(q->dir);
    proc_runtime_clear(&rt);
    return rc;
}

int qemu_vm_stop(struct vm *vm, unsigned flags, int timeout_ms)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    int rc = qemu_vm_lock(q, QEMU_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    bool graceful;
    rc = stop_locked(q, flags, timeout_ms, &graceful);
    if (rc == 0) {
        qemu_vm_write_stopped(q, VM_REASON_USER);
        qemu_net_release_all(q);
        if (qemu_vfio_release(q) < 0) /* logged; the next open tries again */
            qv_reset_error();
        proc_log(q->dir, "stopped (%s)", graceful ? "guest powered off" : "forced");
    }
    qemu_vm_unlock(q);
    return rc;
}

static int simple_command(struct vm *vm, const char *cmd, const char *what)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    int rc = qemu_vm_lock(q, QEMU_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    struct qmp *m = qemu_vm_qmp(q, false);
    rc = m ? qmp_command(m, cmd, NULL, NULL, QEMU_QMP_TIMEOUT_MS) : qv_error_code();
    qmp_close(m);
    if (rc < 0)
        qv_error_prefix("cannot %s VM '%s'", what, q->name);
    else
        proc_log(q->dir, "%s (%s)", what, cmd);
    qemu_vm_unlock(q);
    return rc;
}

int qemu_vm_pause(struct vm *vm)
{
    return simple_command(vm, "stop", "pause");
}

int qemu_vm_resume(struct vm *vm)
{
    return simple_command(vm, "cont", "resume");
}

int qemu_vm_reset(struct vm *vm)
{
    return simple_command(vm, "system_reset", "reset");
}

int qemu_vm_destroy(struct vm *vm)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    int rc = qemu_vm_lock(q, QEMU_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    bool graceful;
    rc = stop_locked(q, VM_STOP_FORCE, 0, &graceful);
    if (rc == 0)
        qemu_net_release_all(q);
    /* A device that cannot be given back stays on vfio-pci (logged). */
    if (rc == 0 && qemu_vfio_release(q) < 0)
        qv_reset_error();
    /* Renamed away first: a kill half-way through the removal leaves a
     * temporary the next connection sweeps, never a VM missing files. */
    if (rc == 0)
        rc = qemu_dir_discard(q, q->dir);
    /* The bases only this VM read through go with it. */
    if (rc == 0)
        qemu_base_release(q->state_dir);
    /* The lock file stays: a caller waiting on it must keep sharing it with
     * whoever defines a VM of this name next. Waiters then find no VM. */
    qemu_vm_unlock(q);
    return rc;
}

int qemu_vm_guest_ip(struct vm *vm, char **ip, int *port)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    if (!def)
        return qv_error_code();
    struct proc_runtime rt;
    int rc = proc_runtime_read(q->dir, &rt);
    if (rc < 0)
        return rc;
    JsonArray *ports = rt.extra && json_object_has_member(rt.extra, "ssh_ports")
                           ? json_object_get_array_member(rt.extra, "ssh_ports")
                           : NULL;
    rc = QV_ERR_NOT_FOUND;
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        /* A network NIC a start mapped to user networking has a port too. */
        if (n->type == QV_NET_USER || n->type == QV_NET_NETWORK) {
            gint64 p = ports && i < json_array_get_length(ports)
                           ? json_array_get_int_element(ports, i)
                           : 0;
            if (p > 0 && p <= 65535) {
                *ip = g_strdup("127.0.0.1");
                *port = (int)p;
                rc = 0;
                break;
            }
        } else if (qemu_ip_for_mac(n->mac, ip) == 0) {
            *port = 22;
            rc = 0;
            break;
        }
    }
    proc_runtime_clear(&rt);
    if (rc < 0 && qv_error_code() == QV_OK)
        rc = qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no network interface to reach it by",
                          q->name);
    else if (rc < 0)
        qv_error_prefix("cannot find the address of VM '%s'", q->name);
    return rc;
}
