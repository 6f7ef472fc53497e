/* A qemu VM's state: the runtime record, the process's identity and QEMU's
 * own run state. A process that died on its own is a crash (QEMU runs with
 * -no-shutdown, so a guest power-off never makes it exit). */
#include <signal.h>
#include <string.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu_vm.h"

/* CREATED, or STOPPED with the reason recorded when it last stopped. */
static void stopped_state(struct qemu_vm *q, struct qv_vm_status *st)
{
    proc_stopped_read(q->dir, &st->state, &st->reason);
}

int qemu_vm_pidfile_process(struct qemu_vm *q, bool scan, struct proc_identity *id)
{
    g_autofree char *pidfile = g_build_filename(q->dir, "qemu.pid", NULL);
    /* Only a process whose command line ends with this VM's own -pidfile
     * is this VM's QEMU (a recycled pid belongs to some other program). */
    g_autofree char *mark = g_strdup_printf(" -pidfile %s", pidfile);
    pid_t pid;
    memset(id, 0, sizeof(*id));
    if (proc_pidfile_read(pidfile, &pid) == 0 && proc_identity_read(pid, id) == 0) {
        if (g_str_has_suffix(id->cmdline, mark))
            return 0;
        proc_identity_clear(id);
    }
    /* The pidfile is missing, damaged or stale: the mark still finds it. */
    g_autofree char *why = g_strdup(qv_last_error()->message);
    qv_reset_error();
    if (scan && proc_find_by_cmdline_suffix(mark, id) == 0)
        return 0;
    return qv_error_set(QV_ERR_NOT_FOUND, "no QEMU process of VM '%s' runs (pidfile: %s)", q->name,
                        why && *why ? why : "stale");
}

/* The process described by seen is finished with: make sure it is gone,
 * remove its sockets and runtime record, remember why. Only when we can
 * take the lock at once, and only if the record still describes seen (a
 * caller elsewhere may have restarted the VM meanwhile). */
static void settle(struct qemu_vm *q, const struct proc_identity *seen, enum vm_state_reason why,
                   const char *what)
{
    if (qemu_vm_lock(q, 0) < 0) {
        qv_reset_error();
        return;
    }
    struct proc_runtime rt;
    if (proc_runtime_read(q->dir, &rt) == 0 && proc_identity_same(&rt.id, seen)) {
        proc_log(q->dir, "%s", what);
        if (qemu_runtime_alive(q, &rt)) {
            proc_kill(&rt.id, SIGKILL);
            proc_wait_gone(&rt.id, 5000);
        }
        proc_cleanup_runtime(q->dir);
        qemu_vm_write_stopped(q, why);
        qemu_net_release_all(q);
        qemu_vfio_release(q);
    }
    proc_runtime_clear(&rt);
    qemu_vm_unlock(q);
    qv_reset_error();
}

static enum vm_state map_run_state(const char *s, enum vm_state_reason *reason)
{
    *reason = VM_REASON_NONE;
    if (strcmp(s, "running") == 0)
        return VM_STATE_RUNNING;
    if (strcmp(s, "shutdown") == 0) {
        *reason = VM_REASON_SHUTDOWN;
        return VM_STATE_STOPPED;
    }
    if (strcmp(s, "internal-error") == 0 || strcmp(s, "guest-panicked") == 0) {
        *reason = VM_REASON_CRASHED;
        return VM_STATE_STOPPED;
    }
    if (strcmp(s, "inmigrate") == 0 || strcmp(s, "postmigrate") == 0 ||
        strcmp(s, "finish-migrate") == 0)
        return VM_STATE_MIGRATING;
    /* paused, prelaunch, suspended, debug, io-error, watchdog, save-vm,
     * restore-vm, colo: no guest code runs. */
    return VM_STATE_PAUSED;
}

int qemu_vm_status(struct vm *vm, struct qv_vm_status *st)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    st->exit_status = -1;
    g_autofree char *xml = g_build_filename(q->dir, "domain.xml", NULL);
    if (!g_file_test(xml, G_FILE_TEST_IS_REGULAR))
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' does not exist", q->name);
    struct proc_runtime rt;
    int rc = proc_runtime_read(q->dir, &rt);
    if (rc == QV_ERR_NOT_FOUND) {
        qv_reset_error();
        stopped_state(q, st);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (!qemu_runtime_alive(q, &rt)) {
        g_autofree char *what = g_strdup_printf(
            "QEMU process %d died without being stopped: VM reported crashed", (int)rt.id.pid);
        settle(q, &rt.id, VM_REASON_CRASHED, what);
        proc_runtime_clear(&rt);
        st->state = VM_STATE_STOPPED;
        st->reason = VM_REASON_CRASHED;
        return 0;
    }
    struct qmp *m = qemu_vm_qmp(q, true);
    JsonNode *ret = NULL;
    rc = m ? qmp_command(m, "query-status", NULL, &ret, QEMU_QMP_TIMEOUT_MS) : qv_error_code();
    qmp_close(m);
    if (rc < 0) {
        /* It may have died while we asked. */
        if (!qemu_runtime_alive(q, &rt)) {
            qv_reset_error();
            proc_runtime_clear(&rt);
            return qemu_vm_status(vm, st);
        }
        proc_runtime_clear(&rt);
        qv_error_prefix("cannot read the state of VM '%s'", q->name);
        return rc;
    }
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
    const char *s = qv_json_str(o, "status");
    if (!s) {
        json_node_unref(ret);
        proc_runtime_clear(&rt);
        return qv_error_set(QV_ERR_PROTOCOL, "VM '%s': query-status returned no status", q->name);
    }
    st->state = map_run_state(s, &st->reason);
    if (st->state == VM_STATE_STOPPED) {
        g_autofree char *what =
            g_strdup_printf("QEMU reports run state '%s': VM reported %s, process %d ended", s,
                            vm_state_reason_name(st->reason), (int)rt.id.pid);
        settle(q, &rt.id, st->reason, what);
    }
    json_node_unref(ret);
    proc_runtime_clear(&rt);
    return 0;
}

int qemu_vm_wait(struct vm *vm, int timeout_ms)
{
    return qv_driver_wait_polling(vm, timeout_ms, qemu_vm_status);
}

int qemu_vm_running_pid(struct qemu_vm *q, const char *reading, pid_t *pid, char **cgroup)
{
    struct proc_runtime rt;
    int rc = proc_runtime_read(q->dir, &rt);
    /* The same check as every state read: the pid is pinned and its
     * cgroup read, so it must be this VM's QEMU, not a record's word. */
    if (rc == 0 && (!proc_identity_running(&rt.id) || !qemu_runtime_alive(q, &rt)))
        rc = qv_error_set(QV_ERR_INVALID_STATE, "VM '%s' stopped while its %s were read", q->name,
                          reading);
    *pid = rt.id.pid;
    if (cgroup)
        *cgroup = rc == 0 ? g_steal_pointer(&rt.cgroup) : NULL;
    proc_runtime_clear(&rt);
    return rc;
}
