/* A session VM's qv-vmm process: started detached through lib/proc, its
 * identity (pid, start time, command line) kept in runtime.json, driven
 * over QMP, and judged crashed when it is gone without a stop. qv-vmm
 * leaves exit.json when it exits on its own (the guest powered off: code
 * 0; crashed or driver failure: 3); a process killed outright leaves none.
 * Every change holds the per-VM lock, so callers in other processes
 * serialise. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../../lib/proc/proc.h"
#include "../../../lib/util/error.h"
#include "../../../lib/util/json.h"
#include "ksess.h"

/* The pids this process spawned, reaped once gone: libqv waits only for
 * its own children, and a long-lived caller must not collect zombies. */
G_LOCK_DEFINE_STATIC(children);
static GHashTable *children;

static void child_add(pid_t pid)
{
    G_LOCK(children);
    if (!children)
        children = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_hash_table_add(children, GINT_TO_POINTER(pid));
    G_UNLOCK(children);
}

static void child_reap(pid_t pid)
{
    G_LOCK(children);
    if (children && g_hash_table_contains(children, GINT_TO_POINTER(pid))) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            g_hash_table_remove(children, GINT_TO_POINTER(pid));
    }
    G_UNLOCK(children);
}

static gboolean reap_one(gpointer key, gpointer value, gpointer data)
{
    (void)value;
    (void)data;
    int status;
    pid_t pid = GPOINTER_TO_INT(key);
    return waitpid(pid, &status, WNOHANG) == pid;
}

void ksess_reap_children(void)
{
    G_LOCK(children);
    if (children)
        g_hash_table_foreach_remove(children, reap_one, NULL);
    G_UNLOCK(children);
}

/* " --dir DIR": how every qv-vmm of this VM's command line ends. */
static char *cmdline_mark(struct ksess_vm *k)
{
    return g_strdup_printf(" --dir %s", k->dir);
}

static bool is_vmm_name(const char *path)
{
    g_autofree char *base = g_path_get_basename(path);
    return strcmp(base, "qv-vmm") == 0 || strcmp(base, "qv-vmm-test") == 0;
}

/* Whether process pid is a qv-vmm by its executable or its argv[0]: a
 * tracer or wrapper (strace ... qv-vmm ... --dir X), or any program that
 * happens to end its command line the same way, is not one. */
static bool is_vmm_process(const char *pid)
{
    g_autofree char *exe_link = g_strdup_printf("/proc/%s/exe", pid);
    g_autofree char *exe = g_file_read_link(exe_link, NULL);
    if (exe && is_vmm_name(exe))
        return true;
    g_autofree char *cmd_path = g_strdup_printf("/proc/%s/cmdline", pid);
    g_autofree char *cmd = NULL;
    gsize len = 0;
    /* cmdline is NUL-separated: as a C string it is argv[0]. */
    return g_file_get_contents(cmd_path, &cmd, &len, NULL) && len > 0 && is_vmm_name(cmd);
}

int ksess_vmm_check(struct ksess_vm *k, const struct proc_identity *id)
{
    if (!proc_identity_alive(id)) {
        qv_reset_error();
        return 0;
    }
    /* runtime.json sits in the VM's directory, which qv-vmm may write: a
     * compromised qv-vmm could name any process of the user there. The
     * live process must itself be this VM's qv-vmm. */
    g_autofree char *mark = cmdline_mark(k);
    g_autofree char *pid = g_strdup_printf("%d", (int)id->pid);
    if (g_str_has_suffix(id->cmdline, mark) && is_vmm_process(pid))
        return 1;
    proc_log(k->dir, "runtime.json names process %d, which is not this VM's qv-vmm: left alone",
             (int)id->pid);
    return qv_error_set(QV_ERR_PERMISSION,
                        "VM '%s': its runtime record (%s/runtime.json) names process %d, which "
                        "is not the VM's qv-vmm (the record was altered); process %d is left "
                        "alone (vm stop --force ends the VM's own qv-vmm)",
                        k->name, k->dir, (int)id->pid, (int)id->pid);
}

int ksess_live(struct ksess_vm *k)
{
    struct proc_runtime rt;
    int rc = proc_runtime_read(k->dir, &rt);
    if (rc == 0)
        rc = ksess_vmm_check(k, &rt.id);
    else {
        qv_reset_error(); /* no record, or an unreadable one: nothing runs by it */
        rc = 0;
    }
    proc_runtime_clear(&rt);
    return rc;
}

bool ksess_running(struct ksess_vm *k)
{
    bool alive = ksess_live(k) > 0;
    qv_reset_error();
    return alive;
}

int ksess_runtime_verified(struct ksess_vm *k, struct proc_runtime *rt)
{
    int rc = proc_runtime_read(k->dir, rt);
    if (rc == 0)
        rc = ksess_vmm_check(k, &rt->id);
    if (rc == 0 || rc == QV_ERR_NOT_FOUND)
        rc = qv_error_set(QV_ERR_INVALID_STATE, "VM '%s': its qv-vmm is not running", k->name);
    if (rc < 0) {
        proc_runtime_clear(rt);
        return rc;
    }
    return 0;
}

/* How a gone qv-vmm ended: SHUTDOWN when it recorded a clean exit (the
 * guest powered off), CRASHED when it recorded a crash or left nothing
 * (SIGKILL, OOM). */
static enum vm_state_reason gone_reason(struct ksess_vm *k)
{
    g_autofree char *path = g_build_filename(k->dir, "exit.json", NULL);
    g_autoptr(JsonNode) root = qv_json_load_state(path);
    qv_reset_error();
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    if (o && json_object_has_member(o, "code") &&
        JSON_NODE_HOLDS_VALUE(json_object_get_member(o, "code")) &&
        json_object_get_int_member(o, "code") == 0)
        return VM_REASON_SHUTDOWN;
    return VM_REASON_CRASHED;
}

/* Sockets, the record and the VM's cgroup (removed through the record,
 * proc_cleanup_runtime), exit.json and what qv-vmm was given to define. */
static void clean_runtime(struct ksess_vm *k)
{
    proc_cleanup_runtime(k->dir);
    g_autofree char *exitf = g_build_filename(k->dir, "exit.json", NULL);
    unlink(exitf);
    g_autofree char *vmm_def = g_build_filename(k->dir, KSESS_VMM_DEF, NULL);
    unlink(vmm_def);
}

/* The qv-vmm described by seen is gone: record why, remove its sockets
 * and record. Only with the lock at once, and only if the record still
 * describes seen (another caller may have restarted the VM meanwhile). */
static void settle(struct ksess_vm *k, const struct proc_identity *seen, enum vm_state_reason why)
{
    if (ksess_lock(k, 0) < 0) {
        qv_reset_error();
        return;
    }
    struct proc_runtime rt;
    if (proc_runtime_read(k->dir, &rt) == 0 && proc_identity_same(&rt.id, seen) &&
        !proc_identity_alive(&rt.id)) {
        proc_log(k->dir, "qv-vmm process %d ended without being stopped: VM reported %s",
                 (int)rt.id.pid, vm_state_reason_name(why));
        clean_runtime(k);
        proc_stopped_write(k->dir, why);
    }
    proc_runtime_clear(&rt);
    ksess_unlock(k);
    qv_reset_error();
}

/* A forged record whose VM's qv-vmm does not answer either: removed with
 * the lock at once (sockets, record; its group only if it is an empty qv
 * group), the process it names untouched. */
static void forged_settle(struct ksess_vm *k, const struct proc_identity *seen)
{
    if (ksess_lock(k, 0) < 0) {
        qv_reset_error();
        return;
    }
    struct proc_runtime rt;
    if (proc_runtime_read(k->dir, &rt) == 0 && proc_identity_same(&rt.id, seen)) {
        proc_log(k->dir, "the VM's qv-vmm does not answer and its record names another process: "
                         "record removed");
        clean_runtime(k);
        proc_stopped_write(k->dir, VM_REASON_CRASHED);
    }
    proc_runtime_clear(&rt);
    ksess_unlock(k);
    qv_reset_error();
}

/* query-status's answer, or NULL with the error set. */
static char *query_status(struct ksess_vm *k, bool status_monitor)
{
    struct qmp *m = ksess_qmp(k, status_monitor);
    JsonNode *ret = NULL;
    int rc = m ? qmp_command(m, "query-status", NULL, &ret, KSESS_QMP_TIMEOUT_MS) : qv_error_code();
    qmp_close(m);
    if (rc < 0)
        return NULL;
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
    char *s = g_strdup(qv_json_str(o, "status"));
    json_node_unref(ret);
    if (!s)
        qv_error_set(QV_ERR_PROTOCOL, "VM '%s': qv-vmm's query-status returned no status", k->name);
    return s;
}

/* Whether rt is the record of a start cut short before the guest ran. */
static bool in_prelaunch(const struct proc_runtime *rt)
{
    JsonObject *x = rt->extra;
    JsonNode *n = x ? json_object_get_member(x, "phase") : NULL;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING &&
           strcmp(json_node_get_string(n), "prelaunch") == 0;
}

/* After its status socket did not answer: whether qv-vmm is gone, or is
 * going. It removes its sockets on its way out (the guest powered off),
 * so with the socket gone its exit is waited for a moment. */
/* Long enough for an exit already under way, short enough that listing
 * many VMs never stalls on a hung one. */
#define KSESS_ENDING_WAIT_MS 1000

static bool ending(struct ksess_vm *k, const struct proc_identity *id)
{
    if (!proc_identity_alive(id))
        return true;
    g_autofree char *sock = g_build_filename(k->dir, "status.sock", NULL);
    struct stat sb;
    if (lstat(sock, &sb) == 0)
        return false;
    bool gone = proc_wait_gone(id, KSESS_ENDING_WAIT_MS) == 0;
    qv_reset_error();
    return gone;
}

int ksess_status(struct vm *vm, struct qv_vm_status *st)
{
    struct ksess_vm *k = ksess_of(vm);
    ksess_reap_children();
    st->exit_status = -1;
    g_autofree char *xml = g_build_filename(k->dir, "domain.xml", NULL);
    if (!g_file_test(xml, G_FILE_TEST_IS_REGULAR))
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' does not exist", k->name);
    struct proc_runtime rt;
    int rc = proc_runtime_read(k->dir, &rt);
    if (rc == QV_ERR_NOT_FOUND) {
        qv_reset_error();
        proc_stopped_read(k->dir, &st->state, &st->reason);
        return 0;
    }
    if (rc < 0)
        return rc;
    /* A clone that died mid-copy left the VM paused: taking the lock at
     * once resumes it (ksess_lock); a clone still copying holds it. */
    if (ksess_clone_marked(k)) {
        if (ksess_lock(k, 0) == 0)
            ksess_unlock(k);
        qv_reset_error();
    }
    int live = ksess_vmm_check(k, &rt.id);
    g_autofree char *s = NULL;
    if (live < 0) {
        /* A record naming another process (ksess_vmm_check logged it) is
         * not acted on, but the VM's own qv-vmm may still run: its status
         * socket says, and a stop ends it by its command line. An error
         * here would leave the VM unstoppable. */
        qv_reset_error();
        s = query_status(k, true);
        qv_reset_error();
        if (!s) {
            forged_settle(k, &rt.id);
            st->state = VM_STATE_STOPPED;
            st->reason = VM_REASON_CRASHED;
            proc_runtime_clear(&rt);
            return 0;
        }
    } else if (!live || (!(s = query_status(k, true)) && ending(k, &rt.id))) {
        /* Gone before we asked, or while we asked: its end decides. */
        qv_reset_error();
        child_reap(rt.id.pid);
        st->state = VM_STATE_STOPPED;
        st->reason = gone_reason(k);
        settle(k, &rt.id, st->reason);
        proc_runtime_clear(&rt);
        return 0;
    }
    if (!s) {
        proc_runtime_clear(&rt);
        qv_error_prefix("cannot read the state of VM '%s'", k->name);
        return qv_error_code();
    }
    /* A start still under way holds the lock: its guest has yet to run
     * (paused). One whose qv was killed holds none: the start failed part
     * way, and the next vm start finishes it. */
    bool cut_short = live > 0 && in_prelaunch(&rt) && ksess_lock(k, 0) == 0;
    if (cut_short)
        ksess_unlock(k);
    qv_reset_error();
    proc_runtime_clear(&rt);
    if (cut_short) {
        st->state = VM_STATE_STOPPED;
        st->reason = VM_REASON_FAILED;
        return 0;
    }
    st->reason = VM_REASON_NONE;
    if (strcmp(s, "running") == 0)
        st->state = VM_STATE_RUNNING;
    else if (strcmp(s, "shutdown") == 0) { /* qv-vmm is about to exit */
        st->state = VM_STATE_STOPPED;
        st->reason = VM_REASON_SHUTDOWN;
    } else
        st->state = VM_STATE_PAUSED; /* paused, prelaunch */
    return 0;
}

int ksess_wait(struct vm *vm, int timeout_ms)
{
    return qv_driver_wait_polling(vm, timeout_ms, ksess_status);
}

/* ---- start ------------------------------------------------------------- */

static char *log_tail(const char *path, goffset from)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, NULL) || (gsize)from >= len)
        return g_strdup("(qv-vmm printed nothing)");
    return g_strstrip(g_strdup(text + from));
}

/* A start cut short before runtime.json was written leaves a qv-vmm no
 * record names: only its command line does. Only a qv-vmm is killed. */
static void reap_orphan(struct ksess_vm *k)
{
    g_autofree char *mark = cmdline_mark(k);
    g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        if (strspn(e, "0123456789") != strlen(e))
            continue;
        gint64 pid = g_ascii_strtoll(e, NULL, 10);
        struct proc_identity id;
        if (pid <= 0 || pid > G_MAXINT32 || pid == getpid() || !is_vmm_process(e) ||
            proc_identity_read((pid_t)pid, &id) < 0) {
            qv_reset_error();
            continue;
        }
        if (id.cmdline && g_str_has_suffix(id.cmdline, mark)) {
            proc_log(k->dir, "killing qv-vmm process %d left by an interrupted start", (int)id.pid);
            proc_kill(&id, SIGKILL);
            proc_wait_gone(&id, KSESS_TERM_WAIT_MS);
        }
        proc_identity_clear(&id);
        qv_reset_error();
    }
    ksess_reap_children();
}

/* After --paused: the guest runs once the cgroup holds qv-vmm. */
static int cont(struct ksess_vm *k)
{
    struct qmp *m = ksess_qmp(k, false);
    int rc = m ? qmp_command(m, "cont", NULL, NULL, KSESS_QMP_TIMEOUT_MS) : qv_error_code();
    qmp_close(m);
    return rc;
}

static int start_vmm(struct vm *vm, struct ksess_vm *k, const char *restore)
{
    struct ksess_conn *kc = ksess_conn_of(vm->conn);
    clean_runtime(k);
    g_autoptr(qv_domain) def = ksess_load_def(k);
    if (!def)
        return qv_error_code();
    int rc = ksess_write_vmm_def(k, def);
    if (rc < 0) {
        proc_log(k->dir, "start failed: %s", qv_last_error()->message);
        qv_error_prefix("cannot start VM '%s'", k->name);
        return rc;
    }
    /* A VM with a weight or cap starts paused (QEMU's -S, as the qemu
     * driver starts QEMU) and runs once qv-vmm is in its cgroup. */
    bool paused = ksess_wants_cgroup(def);
    g_autofree char *log = g_build_filename(k->dir, "vmm.log", NULL);
    struct stat sb;
    goffset log_start = stat(log, &sb) == 0 ? sb.st_size : 0;
    /* qv-vmm appends this run's console to console.log from here on
     * (vm_console_log). */
    g_autofree char *console_log = g_build_filename(k->dir, "console.log", NULL);
    goffset console_start = lstat(console_log, &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : 0;
    /* --dir last: the command line's end names the VM (reap_orphan). */
    const char *args[12];
    int n = 0;
    args[n++] = kc->vmm_path;
    args[n++] = "--uri";
    args[n++] = kc->vmm_uri;
    args[n++] = "--definition";
    args[n++] = KSESS_VMM_DEF;
    /* vmm.xml is ksess_write_vmm_def's output from a definition that
     * vm_define_xml accepted. */
    args[n++] = "--checked";
    if (paused)
        args[n++] = "--paused";
    /* With --paused too, qv-vmm restores at the 'cont' below. */
    if (restore) {
        args[n++] = "--restore";
        args[n++] = restore;
    }
    args[n++] = "--dir";
    args[n++] = k->dir;
    args[n] = NULL;
    if (restore)
        proc_log(k->dir, "starting qv-vmm (%s) from snapshot '%s'", kc->vmm_uri, restore);
    else
        proc_log(k->dir, "starting qv-vmm (%s)", kc->vmm_uri);
    gint64 t0 = g_get_monotonic_time();
    pid_t pid;
    rc = proc_spawn((char *const *)args, log, &pid);
    if (rc < 0) {
        proc_log(k->dir, "start failed: %s", qv_last_error()->message);
        qv_error_prefix("cannot start VM '%s'", k->name);
        return rc;
    }
    /* The children table gets the pid only once the start succeeded: until
     * then this function alone waits for it, and no reap of the table (by
     * another thread's session call) can collect it under its feet. */
    struct proc_runtime rt = {0};
    /* QMP answers once qv-vmm has defined and started the VM (its sockets
     * appear only then, renamed into place when listening). */
    g_autofree char *s = NULL;
    gint64 deadline = t0 + (gint64)KSESS_START_TIMEOUT_MS * 1000;
    g_autofree char *sock = g_build_filename(k->dir, "qmp.sock", NULL);
    gulong poll_us = 1000;
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        /* QMP may also answer in the moment between the guest's power-off
         * and qv-vmm's exit: then wait for that exit. */
        if (w == 0 && s && strcmp(s, "shutdown") == 0 && !paused &&
            proc_child_wait(pid, KSESS_TERM_WAIT_MS, &status) == 0)
            w = pid;
        qv_reset_error();
        if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
            gone_reason(k) == VM_REASON_SHUTDOWN) {
            /* The guest ran and powered off before its qv-vmm was asked
             * (hello on KVM takes microseconds): a start that happened. */
            proc_log(k->dir,
                     "started: the guest ran and powered off within %" G_GINT64_FORMAT
                     " ms, before qv-vmm answered",
                     (g_get_monotonic_time() - t0) / 1000);
            clean_runtime(k);
            proc_stopped_write(k->dir, VM_REASON_SHUTDOWN);
            return 0;
        }
        if (w == pid) {
            g_autofree char *why = log_tail(log, log_start);
            proc_log(k->dir, "qv-vmm failed to start: %s", why);
            clean_runtime(k);
            return qv_error_set(QV_ERR_BACKEND, "qv-vmm could not start VM '%s' (exit %d): %s",
                                k->name, WIFEXITED(status) ? WEXITSTATUS(status) : -1, why);
        }
        g_clear_pointer(&s, g_free);
        if (g_file_test(sock, G_FILE_TEST_EXISTS) && (s = query_status(k, false)) &&
            (strcmp(s, "shutdown") != 0 || paused))
            break;
        qv_reset_error();
        /* "shutdown": the exit is collected above, unless the deadline
         * has come. */
        if (s && g_get_monotonic_time() < deadline)
            continue;
        if (g_get_monotonic_time() >= deadline) {
            kill(pid, SIGKILL);
            int st2;
            if (proc_child_wait(pid, KSESS_TERM_WAIT_MS, &st2) < 0)
                child_add(pid); /* still dying: a later reap collects it */
            qv_reset_error();
            clean_runtime(k);
            return qv_error_set(QV_ERR_TIMEOUT,
                                "qv-vmm did not answer QMP for VM '%s' within %d ms (log: %s)",
                                k->name, KSESS_START_TIMEOUT_MS, log);
        }
        /* Polled from 1 ms up to 8 ms: qv-vmm answers within a few ms on a
         * quiet host, and this return is part of the start's latency. */
        g_usleep(poll_us);
        poll_us = MIN(poll_us * 2, 8000);
    }
    rc = proc_identity_read(pid, &rt.id);
    g_autofree char *mark = cmdline_mark(k);
    if (rc == 0 && !g_str_has_suffix(rt.id.cmdline, mark))
        rc = qv_error_set(QV_ERR_INTERNAL, "process %d is not VM '%s''s qv-vmm", (int)pid, k->name);
    const char *expect = paused ? "prelaunch" : "running";
    /* A restored guest is paused when its snapshot was. */
    if (rc == 0 && strcmp(s, expect) != 0 && !(restore && !paused && strcmp(s, "paused") == 0))
        rc = qv_error_set(QV_ERR_BACKEND, "qv-vmm started VM '%s' but reports it '%s', not '%s'",
                          k->name, s, expect);
    if (rc == 0) {
        g_autofree char *console = g_build_filename(k->dir, "console.sock", NULL);
        rt.extra = json_object_new();
        json_object_set_string_member(rt.extra, "vmm_uri", kc->vmm_uri);
        json_object_set_string_member(rt.extra, "console", console);
        json_object_set_int_member(rt.extra, "console_log_start", console_start);
        ksess_record_cpus(&rt);
    }
    /* With limits, the record names qv-vmm and its group before qv-vmm
     * moves in and the guest runs ("phase": "prelaunch"): a qv killed on
     * the way leaves a record the next start finishes (finish_prelaunch)
     * and a group a stop removes. */
    if (rc == 0 && paused)
        rc = ksess_cgroup_make(k, def, &rt.cgroup);
    if (rc == 0 && paused) {
        json_object_set_string_member(rt.extra, "phase", "prelaunch");
        rc = proc_runtime_write(k->dir, &rt);
    }
    if (rc == 0 && paused)
        rc = ksess_cgroup_join(k, rt.cgroup, pid);
    if (rc == 0 && paused)
        rc = cont(k);
    if (rc == 0) {
        json_object_remove_member(rt.extra, "phase");
        rc = proc_runtime_write(k->dir, &rt);
    }
    if (rc < 0) {
        struct qv_error_saved e;
        qv_error_save(&e);
        kill(pid, SIGKILL);
        int st2;
        if (proc_child_wait(pid, KSESS_TERM_WAIT_MS, &st2) < 0)
            child_add(pid); /* still dying: a later reap collects it */
        clean_runtime(k);
        /* Also when the record naming it was never written. */
        proc_runtime_remove_cgroups(&rt, k->dir);
        proc_runtime_clear(&rt);
        qv_error_restore(&e);
        proc_log(k->dir, "start abandoned, qv-vmm killed: %s", qv_last_error()->message);
        qv_error_prefix("cannot start VM '%s'", k->name);
        return qv_error_code();
    }
    child_add(pid);
    proc_log(k->dir, "started: qv-vmm pid %d, running after %" G_GINT64_FORMAT " ms", (int)pid,
             (g_get_monotonic_time() - t0) / 1000);
    proc_runtime_clear(&rt);
    return 0;
}

/* A start cut short leaves this file; only then can a qv-vmm no record
 * names be left (reap_orphan), so only then is /proc searched for one,
 * which costs every start a few ms (more with many processes). Not
 * synced: a host crash leaves no process to find. */
#define START_MARKER "starting"

int ksess_start_locked(struct vm *vm, struct ksess_vm *k, const char *restore)
{
    g_autofree char *marker = g_build_filename(k->dir, START_MARKER, NULL);
    struct stat st;
    if (lstat(marker, &st) == 0)
        reap_orphan(k);
    /* O_NONBLOCK: a FIFO planted there must not hang the start (with the
     * lock held); anything but a regular file is refused. */
    int fd = open(marker, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot start VM '%s': cannot create %s",
                                  k->name, marker);
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular)
        return qv_error_set(QV_ERR_IO, "cannot start VM '%s': %s is not a regular file", k->name,
                            marker);
    int rc = start_vmm(vm, k, restore);
    unlink(marker);
    return rc;
}

/* The record of a start whose qv was killed before the guest ran: its
 * qv-vmm waits, paused. Its group is checked to be the VM's own (the
 * record is qv-vmm's to write too), qv-vmm moved in, then the guest run. */
static int finish_prelaunch(struct ksess_vm *k)
{
    struct proc_runtime rt;
    int rc = ksess_runtime_verified(k, &rt);
    if (rc < 0)
        return rc;
    proc_log(k->dir, "finishing the start of qv-vmm process %d, cut short before its guest ran",
             (int)rt.id.pid);
    g_autoptr(qv_domain) def = ksess_load_def(k);
    rc = def ? 0 : qv_error_code();
    if (rc == 0 && ksess_wants_cgroup(def)) {
        if (!rt.cgroup && (rc = ksess_cgroup_make(k, def, &rt.cgroup)) == 0)
            rc = proc_runtime_write(k->dir, &rt);
        else if (rt.cgroup)
            rc = ksess_cgroup_own(k, def, rt.cgroup);
        if (rc == 0)
            rc = ksess_cgroup_join(k, rt.cgroup, rt.id.pid);
    }
    if (rc == 0)
        rc = cont(k);
    if (rc == 0) {
        json_object_remove_member(rt.extra, "phase");
        rc = proc_runtime_write(k->dir, &rt);
    }
    if (rc == 0)
        proc_log(k->dir, "started: qv-vmm pid %d", (int)rt.id.pid);
    else
        qv_error_prefix("cannot start VM '%s' (finishing a start cut short)", k->name);
    proc_runtime_clear(&rt);
    return rc;
}

/* 1 when the record is a cut-short start's (with its qv-vmm live). */
static bool record_in_prelaunch(struct ksess_vm *k)
{
    struct proc_runtime rt;
    bool yes = proc_runtime_read(k->dir, &rt) == 0 && in_prelaunch(&rt);
    proc_runtime_clear(&rt);
    qv_reset_error();
    return yes;
}

int ksess_start(struct vm *vm)
{
    struct ksess_vm *k = ksess_of(vm);
    ksess_reap_children();
    int rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    /* Another process may have started it while we waited for the lock. */
    int live = ksess_live(k);
    if (live > 0 && record_in_prelaunch(k))
        rc = finish_prelaunch(k);
    else if (live > 0)
        rc = qv_error_set(QV_ERR_INVALID_STATE, "cannot start VM '%s': it is already running",
                          k->name);
    else if (live < 0)
        rc = live;
    else
        rc = ksess_start_locked(vm, k, NULL);
    ksess_unlock(k);
    return rc;
}

/* ---- stop and control -------------------------------------------------- */

/* End the process: quit over QMP when asked politely, then SIGTERM, then
 * SIGKILL. */
static int terminate(struct ksess_vm *k, const struct proc_identity *id, bool quit)
{
    if (quit) {
        struct qmp *m = ksess_qmp(k, false);
        if (m && qmp_command(m, "quit", NULL, NULL, KSESS_QMP_TIMEOUT_MS) == 0 &&
            proc_wait_gone(id, KSESS_TERM_WAIT_MS) == 0) {
            qmp_close(m);
            child_reap(id->pid);
            return 0;
        }
        qmp_close(m);
        qv_reset_error();
    }
    if (!proc_identity_running(id)) {
        child_reap(id->pid);
        return 0;
    }
    proc_log(k->dir, "sending SIGTERM to qv-vmm process %d", (int)id->pid);
    if (proc_kill(id, SIGTERM) == 0 && proc_wait_gone(id, KSESS_TERM_WAIT_MS) == 0) {
        child_reap(id->pid);
        return 0;
    }
    qv_reset_error();
    proc_log(k->dir, "qv-vmm process %d ignored SIGTERM: sending SIGKILL", (int)id->pid);
    proc_kill(id, SIGKILL);
    if (proc_wait_gone(id, KSESS_TERM_WAIT_MS) < 0)
        return qv_error_set(QV_ERR_SYSTEM, "qv-vmm process %d of VM '%s' survived SIGKILL",
                            (int)id->pid, k->name);
    child_reap(id->pid);
    return 0;
}

/* Stop with the lock held. graceful: the power button first (qv-vmm's
 * system_powerdown is libqv's graceful vm_stop; qv-vmm exits when the
 * guest is off). */
static int stop_locked(struct ksess_vm *k, bool force, int timeout_ms)
{
    struct proc_runtime rt;
    int rc = proc_runtime_read(k->dir, &rt);
    if (rc == QV_ERR_NOT_FOUND) {
        qv_reset_error();
        reap_orphan(k);
        return 0;
    }
    if (rc < 0) {
        /* A damaged record must not make the VM unstoppable: its qv-vmm
         * is still found by the end of its command line. */
        proc_log(k->dir, "runtime record unreadable (%s): looking for qv-vmm by command line",
                 qv_last_error()->message);
        qv_reset_error();
        reap_orphan(k);
        clean_runtime(k);
        return 0;
    }
    int live = ksess_vmm_check(k, &rt.id);
    if (live < 0) {
        /* Never signal the process a forged record names; the VM's own
         * qv-vmm is still found by its command line and executable. */
        qv_reset_error();
        reap_orphan(k);
        clean_runtime(k);
        proc_stopped_write(k->dir, VM_REASON_USER);
        int pid = (int)rt.id.pid;
        proc_runtime_clear(&rt);
        return qv_error_set(QV_ERR_PERMISSION,
                            "VM '%s': its runtime record names process %d, which is not the VM's "
                            "qv-vmm (the record was altered): process %d was left alone, and the "
                            "VM's own qv-vmm, found by its command line, was stopped",
                            k->name, pid, pid);
    }
    bool alive = live > 0;
    if (alive && !force) {
        int t = timeout_ms < 0 ? KSESS_STOP_TIMEOUT_MS : timeout_ms;
        struct qmp *m = ksess_qmp(k, false);
        proc_log(k->dir, "graceful stop: system_powerdown, waiting up to %d ms", t);
        if (m && qmp_command(m, "system_powerdown", NULL, NULL, KSESS_QMP_TIMEOUT_MS) == 0 &&
            proc_wait_gone(&rt.id, t) == 0)
            proc_log(k->dir, "guest powered off");
        qmp_close(m);
        qv_reset_error();
    } else if (force) {
        proc_log(k->dir, "forced stop");
    }
    rc = alive ? terminate(k, &rt.id, true) : 0;
    if (rc == 0)
        clean_runtime(k);
    proc_runtime_clear(&rt);
    return rc;
}

int ksess_stop(struct vm *vm, unsigned flags, int timeout_ms)
{
    struct ksess_vm *k = ksess_of(vm);
    ksess_reap_children();
    int rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    rc = stop_locked(k, (flags & VM_STOP_FORCE) || timeout_ms == 0, timeout_ms);
    if (rc == 0) {
        proc_stopped_write(k->dir, VM_REASON_USER);
        proc_log(k->dir, "stopped");
    }
    ksess_unlock(k);
    return rc;
}

int ksess_kill_locked(struct ksess_vm *k)
{
    ksess_reap_children();
    return stop_locked(k, true, 0);
}

static int simple_command(struct vm *vm, const char *cmd, const char *what)
{
    struct ksess_vm *k = ksess_of(vm);
    ksess_reap_children();
    int rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    int live = ksess_live(k);
    if (live <= 0) {
        ksess_unlock(k);
        if (live < 0)
            qv_error_prefix("cannot %s VM '%s'", what, k->name);
        else
            qv_error_set(QV_ERR_INVALID_STATE, "cannot %s VM '%s': its qv-vmm is not running", what,
                         k->name);
        return qv_error_code();
    }
    struct qmp *m = ksess_qmp(k, false);
    rc = m ? qmp_command(m, cmd, NULL, NULL, KSESS_QMP_TIMEOUT_MS) : qv_error_code();
    qmp_close(m);
    if (rc < 0)
        qv_error_prefix("cannot %s VM '%s'", what, k->name);
    else
        proc_log(k->dir, "%s (%s)", what, cmd);
    ksess_unlock(k);
    return rc;
}

int ksess_pause(struct vm *vm)
{
    return simple_command(vm, "stop", "pause");
}

int ksess_resume(struct vm *vm)
{
    return simple_command(vm, "cont", "resume");
}

/* A reset qv asks for keeps the live pins (ksess_pins_reapply); a reset
 * the guest asks for stops the VM on kvm (<on_reboot> is destroy), so no
 * thread outlives it with a stale pin. */
int ksess_reset(struct vm *vm)
{
    struct ksess_vm *k = ksess_of(vm);
    int rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    rc = simple_command(vm, "system_reset", "reset");
    if (rc == 0 && (rc = ksess_pins_reapply(k)) < 0) {
        proc_log(k->dir, "reset, but the vCPU pins were not applied again: %s",
                 qv_last_error()->message);
        qv_error_prefix("VM '%s' was reset, but its vCPU pins were not applied again", k->name);
    }
    ksess_unlock(k);
    return rc;
}
