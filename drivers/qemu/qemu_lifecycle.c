/* Starting, stopping and controlling a VM's QEMU process. Every operation
 * holds the per-VM lock, so qv invocations in other processes serialise. */
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
#include "qemu_vm.h"

#define QEMU_START_TIMEOUT_MS 60000
#define QEMU_TERM_WAIT_MS 5000
#define QEMU_LOCK_WAIT_MS 60000

/* The files a start needs besides the definition. */
struct prepared {
    GPtrArray *disk_files;   /* char *, may hold NULL */
    GPtrArray *disk_formats; /* char *, may hold NULL */
    uint16_t *ssh_ports;
    char *nvram;
    char *seed_iso;
    char *hugepage_dir;
};

static void prepared_clear(struct prepared *p)
{
    if (p->disk_files)
        g_ptr_array_free(p->disk_files, TRUE);
    if (p->disk_formats)
        g_ptr_array_free(p->disk_formats, TRUE);
    g_free(p->ssh_ports);
    g_free(p->nvram);
    g_free(p->seed_iso);
    g_free(p->hugepage_dir);
}

static char *find_hugetlbfs(void)
{
    const char *env = g_getenv("QV_HUGEPAGE_DIR");
    if (env && *env)
        return g_strdup(env);
    g_autofree char *mounts = NULL;
    if (!g_file_get_contents("/proc/mounts", &mounts, NULL, NULL))
        return NULL;
    g_auto(GStrv) lines = g_strsplit(mounts, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, " ", 4);
        if (g_strv_length(f) >= 3 && strcmp(f[2], "hugetlbfs") == 0)
            return g_strdup(f[1]);
    }
    return NULL;
}

static int copy_file(const char *from, const char *to)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(from, &data, &len, &err))
        return qv_error_set(QV_ERR_IO, "cannot read '%s': %s", from, err->message);
    return qv_file_write_atomic(to, data, len, 0600);
}

static int prepare(struct qemu_vm *q, const struct qv_domain *def, struct prepared *p)
{
    p->disk_files = g_ptr_array_new_with_free_func(g_free);
    p->disk_formats = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (!d->backing) {
            g_ptr_array_add(p->disk_files, g_strdup(d->source));
            g_ptr_array_add(p->disk_formats, g_strdup(d->driver_type));
            continue;
        }
        /* A disk over a base image: its own qcow2 overlay, made on first
         * start, so the base is never written. */
        char *overlay =
            d->source ? g_strdup(d->source) : g_strdup_printf("%s/%s.qcow2", q->dir, d->target);
        g_ptr_array_add(p->disk_files, overlay);
        g_ptr_array_add(p->disk_formats, g_strdup("qcow2"));
        if (!g_file_test(overlay, G_FILE_TEST_EXISTS)) {
            int rc = qemu_overlay_create(overlay, d->backing, d->backing_format);
            if (rc < 0)
                return rc;
            proc_log(q->dir, "created overlay %s on %s", overlay, d->backing);
        }
    }
    p->ssh_ports = g_new0(uint16_t, def->nets->len + 1);
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (n->type != QV_NET_USER)
            continue;
        p->ssh_ports[i] = n->host_port;
        if (!p->ssh_ports[i]) {
            int rc = qemu_free_port(&p->ssh_ports[i]);
            if (rc < 0)
                return rc;
        }
    }
    if (def->os.loader && def->os.loader_pflash) {
        if (def->os.nvram)
            p->nvram = g_strdup(def->os.nvram);
        else if (def->os.nvram_template)
            p->nvram = g_build_filename(q->dir, "nvram.fd", NULL);
        if (p->nvram && !g_file_test(p->nvram, G_FILE_TEST_EXISTS)) {
            if (!def->os.nvram_template)
                return qv_error_set(QV_ERR_NOT_FOUND,
                                    "VM '%s': NVRAM file '%s' does not exist and <nvram> names "
                                    "no template to copy",
                                    q->name, p->nvram);
            int rc = copy_file(def->os.nvram_template, p->nvram);
            if (rc < 0)
                return rc;
            proc_log(q->dir, "copied NVRAM template %s to %s", def->os.nvram_template, p->nvram);
        }
    }
    g_autofree char *ci_path = g_build_filename(q->dir, "cloud-init.json", NULL);
    if (g_file_test(ci_path, G_FILE_TEST_IS_REGULAR)) {
        g_autofree char *json = NULL;
        if (!g_file_get_contents(ci_path, &json, NULL, NULL))
            return qv_error_set(QV_ERR_IO, "cannot read '%s'", ci_path);
        struct qemu_cloudinit *ci = qemu_cloudinit_parse(json, ci_path);
        if (!ci)
            return qv_error_code();
        if (!ci->instance_id)
            ci->instance_id = g_strdup(def->uuid);
        if (!ci->hostname)
            ci->hostname = g_strdup(def->name);
        p->seed_iso = g_build_filename(q->dir, "seed.iso", NULL);
        int rc = qemu_cloudinit_build_iso(ci, p->seed_iso);
        qemu_cloudinit_free(ci);
        if (rc < 0)
            return rc;
    }
    if (def->hugepages)
        p->hugepage_dir = find_hugetlbfs();
    return 0;
}

/* What QEMU wrote to its log since offset: the reason a start failed. */
static char *log_tail(const char *path, goffset from)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, NULL) || (gsize)from >= len)
        return g_strdup("(QEMU printed nothing)");
    char *s = g_strstrip(g_strdup(text + from));
    return s;
}

static void kill_and_clean(struct qemu_vm *q, pid_t child, const char *pidfile)
{
    pid_t pid;
    struct proc_identity id;
    if (proc_pidfile_read(pidfile, &pid) == 0 && proc_identity_read(pid, &id) == 0) {
        proc_kill(&id, SIGKILL);
        proc_wait_gone(&id, 5000);
        proc_identity_clear(&id);
    }
    if (child > 0) {
        kill(child, SIGKILL);
        int status;
        proc_child_wait(child, 5000, &status);
    }
    proc_cleanup_runtime(q->dir);
    unlink(pidfile);
    qv_reset_error();
}

/* The pty QEMU gave the serial console, made private to its owner. */
static int console_pty(struct qmp *m, char **out)
{
    JsonNode *ret = NULL;
    int rc = qmp_command(m, "query-chardev", NULL, &ret, QEMU_QMP_TIMEOUT_MS);
    if (rc < 0)
        return rc;
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *label = o ? json_object_get_string_member_with_default(o, "label", "") : "";
        const char *file = o ? json_object_get_string_member_with_default(o, "filename", "") : "";
        /* Only a /dev/pts/N path is chmod'ed: never a path QEMU could
         * point elsewhere. */
        if (strcmp(label, "serial0") == 0 && g_str_has_prefix(file, "pty:/dev/pts/") && file[13] &&
            strspn(file + 13, "0123456789") == strlen(file + 13)) {
            chmod(file + 4, 0600);
            *out = g_strdup(file);
            json_node_unref(ret);
            return 0;
        }
    }
    json_node_unref(ret);
    return qv_error_set(QV_ERR_PROTOCOL, "QEMU did not report the serial console's pty");
}

/* A start interrupted before runtime.json was written (the caller was
 * killed) leaves a QEMU nobody knows about. Its pidfile names it, and its
 * command line names this VM's pidfile: only such a process is killed. */
static void reap_orphan(struct qemu_vm *q, const char *pidfile)
{
    pid_t pid;
    struct proc_identity id;
    if (proc_pidfile_read(pidfile, &pid) < 0 || proc_identity_read(pid, &id) < 0) {
        qv_reset_error();
        return;
    }
    g_autofree char *mark = g_strdup_printf(" -pidfile %s", pidfile);
    if (g_str_has_suffix(id.cmdline, mark)) {
        proc_log(q->dir, "killing QEMU process %d left by an interrupted start", (int)pid);
        proc_kill(&id, SIGKILL);
        proc_wait_gone(&id, 5000);
    }
    proc_identity_clear(&id);
    qv_reset_error();
}

static int start_locked(struct qemu_vm *q)
{
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    if (!def)
        return qv_error_code();
    struct prepared p = {0};
    int rc = prepare(q, def, &p);
    if (rc < 0) {
        prepared_clear(&p);
        qv_error_prefix("cannot start VM '%s'", q->name);
        return rc;
    }
    g_ptr_array_add(p.disk_files, NULL);
    g_ptr_array_add(p.disk_formats, NULL);
    struct qemu_launch l = {
        .dir = q->dir,
        .emulator = qemu_emulator_of(def),
        .hugepage_dir = p.hugepage_dir,
        .disk_files = (const char *const *)p.disk_files->pdata,
        .disk_formats = (const char *const *)p.disk_formats->pdata,
        .ssh_ports = p.ssh_ports,
        .nvram = p.nvram,
        .seed_iso = p.seed_iso,
        .paused = true,
        .daemonize = true,
    };
    g_auto(GStrv) argv = qemu_argv_build(def, &l);
    if (!argv) {
        prepared_clear(&p);
        return qv_error_code();
    }

    proc_cleanup_runtime(q->dir);
    g_autofree char *pidfile = g_build_filename(q->dir, "qemu.pid", NULL);
    g_autofree char *log = g_build_filename(q->dir, "qemu.log", NULL);
    reap_orphan(q, pidfile);
    unlink(pidfile);
    /* QEMU appends to the console log with its own default mode; create it
     * private first. */
    g_autofree char *console_log = g_build_filename(q->dir, "console.log", NULL);
    int cfd = open(console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (cfd >= 0) {
        fchmod(cfd, 0600);
        close(cfd);
    }
    struct stat sb;
    goffset log_start = stat(log, &sb) == 0 ? sb.st_size : 0;
    proc_log(q->dir, "starting QEMU");
    pid_t child;
    gint64 t0 = g_get_monotonic_time();
    rc = proc_spawn(argv, log, &child);
    if (rc < 0) {
        prepared_clear(&p);
        return rc;
    }
    /* With -daemonize the process we ran exits once QEMU is set up (its
     * sockets listen), 0 on success. */
    int status = 0;
    rc = proc_child_wait(child, QEMU_START_TIMEOUT_MS, &status);
    if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        g_autofree char *why = log_tail(log, log_start);
        kill_and_clean(q, rc < 0 ? child : 0, pidfile);
        prepared_clear(&p);
        proc_log(q->dir, "QEMU failed to start: %s", why);
        return qv_error_set(QV_ERR_BACKEND, "QEMU could not start VM '%s': %s", q->name, why);
    }
    /* QEMU makes its sockets with the umask; the directory is 0700, and the
     * sockets themselves are made 0600 too. */
    static const char *const socks[] = {"qmp.sock", "status.sock"};
    for (size_t i = 0; i < G_N_ELEMENTS(socks); i++) {
        g_autofree char *s = g_build_filename(q->dir, socks[i], NULL);
        chmod(s, 0600);
    }
    struct proc_runtime rt = {0};
    pid_t pid = 0;
    struct qmp *m = NULL;
    g_autofree char *console = NULL;
    rc = proc_pidfile_read(pidfile, &pid);
    if (rc == 0)
        rc = proc_identity_read(pid, &rt.id);
    if (rc == 0) {
        m = qemu_vm_qmp(q, false);
        rc = m ? console_pty(m, &console) : qv_error_code();
    }
    if (rc == 0) {
        rt.extra = json_object_new();
        JsonArray *ports = json_array_new();
        for (guint i = 0; i < def->nets->len; i++)
            json_array_add_int_element(ports, p.ssh_ports[i]);
        json_object_set_array_member(rt.extra, "ssh_ports", ports);
        json_object_set_string_member(rt.extra, "console", console);
        rc = proc_runtime_write(q->dir, &rt);
    }
    prepared_clear(&p);
    /* Finish the setup while no guest code has run yet. */
    if (rc == 0)
        rc = qemu_apply_pins(q, m, def);
    if (rc == 0)
        rc = qmp_command(m, "cont", NULL, NULL, QEMU_QMP_TIMEOUT_MS);
    qmp_close(m);
    if (rc < 0) {
        proc_runtime_clear(&rt);
        kill_and_clean(q, 0, pidfile);
        qv_error_prefix("cannot start VM '%s'", q->name);
        return rc;
    }
    proc_log(q->dir, "started: QEMU pid %d, running after %" G_GINT64_FORMAT " ms", (int)pid,
             (g_get_monotonic_time() - t0) / 1000);
    proc_runtime_clear(&rt);
    return 0;
}

int qemu_vm_start(struct vm *vm)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    int rc = qemu_vm_lock(q, QEMU_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    /* Another process may have started it while we waited for the lock. */
    struct proc_runtime rt;
    if (proc_runtime_read(q->dir, &rt) == 0 && proc_identity_alive(&rt.id)) {
        proc_runtime_clear(&rt);
        qemu_vm_unlock(q);
        return qv_error_set(QV_ERR_INVALID_STATE, "cannot start VM '%s': it is already running",
                            q->name);
    }
    proc_runtime_clear(&rt);
    qv_reset_error();
    rc = start_locked(q);
    qemu_vm_unlock(q);
    return rc;
}

/* Poll QEMU until the guest has powered off or timeout_ms passes. */
static bool wait_poweroff(struct qemu_vm *q, struct qmp *m, const struct proc_identity *id,
                          int timeout_ms)
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
        const char *s = o ? json_object_get_string_member_with_default(o, "status", "") : "";
        bool off = strcmp(s, "shutdown") == 0;
        json_node_unref(ret);
        if (off)
            return true;
        g_usleep(50000);
    }
    (void)q;
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
    if (rc < 0)
        return rc;
    struct qmp *m = NULL;
    bool force = (flags & VM_STOP_FORCE) || timeout_ms == 0;
    /* Verify the full identity once; later polls compare pid and start
     * time only. */
    bool alive = proc_identity_alive(&rt.id);
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
            if (o && !json_object_get_boolean_member_with_default(o, "running", TRUE)) {
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
            wait_poweroff(q, m, &rt.id, t)) {
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
        rc = qv_dir_remove_tree(q->dir);
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
        if (n->type == QV_NET_USER) {
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
