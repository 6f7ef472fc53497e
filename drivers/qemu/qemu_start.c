/* Starting a VM: spawn QEMU paused and daemonized, record its identity,
 * finish the setup over QMP (console pty, vCPU pins), then cont. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/proc/cgroup.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu_vm.h"

#define QEMU_START_TIMEOUT_MS 60000
#define QEMU_START_PORT_ATTEMPTS 5

static char *log_tail(const char *path, goffset from)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, NULL) || (gsize)from >= len)
        return g_strdup("(QEMU printed nothing)");
    char *s = g_strstrip(g_strdup(text + from));
    return s;
}

/* Undo a failed start. The failure's error is what the caller reports:
 * the clean-up's own errors are dropped, that one is kept. */
static void kill_and_clean(struct qemu_vm *q, pid_t child, const char *pidfile)
{
    struct qv_error_saved e;
    qv_error_save(&e);
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
    qemu_tpm_stop(q);
    qv_error_restore(&e);
}

/* Stop the helpers started before QEMU (swtpm, virtiofsd) after a failed
 * start, keeping the failure's error: their own clean-up resets it. */
static void stop_helpers(struct qemu_vm *q, GArray *virtiofsd)
{
    struct qv_error_saved e;
    qv_error_save(&e);
    if (virtiofsd)
        qemu_virtiofs_abort(virtiofsd);
    qemu_tpm_stop(q);
    qv_error_restore(&e);
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
        const char *file = qv_json_str(o, "filename");
        /* Only a /dev/pts/N path is chmod'ed: never a path QEMU could
         * point elsewhere. */
        if (g_strcmp0(qv_json_str(o, "label"), "serial0") == 0 && file &&
            g_str_has_prefix(file, "pty:/dev/pts/") && file[13] &&
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
 * killed) leaves a QEMU nobody knows about: only the pidfile names it. */
static void reap_orphan(struct qemu_vm *q)
{
    struct proc_identity id;
    if (qemu_vm_pidfile_process(q, false, &id) < 0) {
        qv_reset_error();
        return;
    }
    proc_log(q->dir, "killing QEMU process %d left by an interrupted start", (int)id.pid);
    proc_kill(&id, SIGKILL);
    proc_wait_gone(&id, 5000);
    proc_identity_clear(&id);
}

/* QEMU with KVM aborts on some hosts with some CPU models (QEMU 7.2's
 * -cpu host on a host whose KVM refuses an MSR). Asked only once a start
 * has failed, so a start that works pays nothing for the probe. */
static int check_kvm_usable(const struct qv_domain *def)
{
    if (def->type != QV_VIRT_KVM)
        return 0;
    const char *cpu = qemu_cpu_of(def);
    g_autofree char *why = NULL;
    int rc = qemu_probe(qemu_emulator_of(def), "kvm", cpu, &why);
    if (rc != 0) {
        /* A probe that could not run decides nothing: QEMU's own start
         * reports what is wrong. */
        qv_reset_error();
        return 0;
    }
    if (g_str_has_prefix(why, "/dev/kvm"))
        return qv_error_set(QV_ERR_KVM,
                            "VM '%s' asks for KVM (<domain type='kvm'>) but %s on this host; "
                            "use <domain type='qemu'> to run it under TCG",
                            def->name, why);
    g_autofree char *model =
        cpu ? g_strdup_printf("CPU model '%s'", cpu) : g_strdup("QEMU's default CPU model");
    const char *hint = "";
    if (cpu) {
        /* Name the way out that works here: QEMU's default model. */
        g_autofree char *dflt = NULL;
        if (qemu_probe(qemu_emulator_of(def), "kvm", NULL, &dflt) == 1)
            hint = "drop <cpu> or name another model (e.g. <cpu mode='custom'><model>qemu64"
                   "</model></cpu>), or ";
        qv_reset_error();
    }
    return qv_error_set(QV_ERR_KVM,
                        "QEMU cannot run VM '%s' with KVM and %s on this host (%s); %suse "
                        "<domain type='qemu'> to run it under TCG",
                        def->name, model, why, hint);
}

/* A failed start of a kvm domain: when the probe finds QEMU cannot use KVM
 * here with this CPU model, say that and what to change, rather than pass
 * on QEMU's assertion failure; otherwise keep the error as it was. */
static int explain_failed_start(const struct qv_domain *def)
{
    if (def->type != QV_VIRT_KVM)
        return qv_error_code();
    struct qv_error_saved e;
    qv_error_save(&e);
    if (check_kvm_usable(def) < 0) {
        g_free(e.message);
        return qv_error_code();
    }
    return qv_error_restore(&e);
}

static int start_locked(struct qemu_vm *q, bool *port_lost)
{
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    if (!def)
        return qv_error_code();
    struct qemu_prepared p = {0};
    int rc = qemu_check_numa(def);
    if (rc == 0)
        rc = qemu_pci_roles_apply(q, def);
    if (rc == 0)
        rc = qemu_networks_resolve(q, def);
    if (rc == 0)
        rc = qemu_check_bind_paths(def, q->state_dir);
    if (rc < 0) {
        qv_error_prefix("cannot start VM '%s'", q->name);
        return rc;
    }
    rc = qemu_prepare(q, def, &p);
    if (rc < 0) {
        qemu_prepared_clear(&p);
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
        .tap_names = (const char *const *)p.tap_names->pdata,
        .nvram = p.nvram,
        .seed_iso = p.seed_iso,
        .paused = true,
        .daemonize = true,
    };
    g_auto(GStrv) argv = qemu_argv_build(def, &l);
    if (!argv) {
        qemu_prepared_clear(&p);
        return qv_error_code();
    }

    /* Give back what a crashed run left bound, then take the groups. */
    rc = qemu_vfio_release(q);
    if (rc == 0)
        rc = qemu_vfio_prepare(q, def);
    if (rc < 0) {
        qemu_prepared_clear(&p);
        return rc;
    }
    proc_cleanup_runtime(q->dir);
    g_autofree char *pidfile = g_build_filename(q->dir, "qemu.pid", NULL);
    g_autofree char *log = g_build_filename(q->dir, "qemu.log", NULL);
    reap_orphan(q);
    unlink(pidfile);
    /* QEMU appends to the console log with its own default mode; create it
     * private first. */
    g_autofree char *console_log = g_build_filename(q->dir, "console.log", NULL);
    int cfd = qv_file_open_private(console_log, O_WRONLY | O_APPEND);
    /* Where this run's output will begin: a console reader replays the log
     * from there (vm_console_log), QEMU appending to it (logappend=on). */
    struct stat csb;
    gint64 console_start = cfd >= 0 && fstat(cfd, &csb) == 0 ? (gint64)csb.st_size : 0;
    if (cfd >= 0)
        close(cfd);
    /* QEMU connects to its TPM emulator and its virtiofsds as it starts. */
    if ((rc = qemu_tpm_start(q, def)) < 0) {
        qemu_prepared_clear(&p);
        qv_error_prefix("cannot start VM '%s'", q->name);
        return rc;
    }
    g_autoptr(GArray) virtiofsd = g_array_new(FALSE, FALSE, sizeof(pid_t));
    if ((rc = qemu_virtiofs_start(q, def, virtiofsd)) < 0) {
        stop_helpers(q, NULL);
        qemu_prepared_clear(&p);
        qv_error_prefix("cannot start VM '%s'", q->name);
        return rc;
    }
    struct stat sb;
    goffset log_start = stat(log, &sb) == 0 ? sb.st_size : 0;
    proc_log(q->dir, "starting QEMU");
    pid_t child;
    gint64 t0 = g_get_monotonic_time();
    /* <qemu:commandline>'s <qemu:env>s, as libvirt sets them. */
    g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
    rc = qemu_custom_argv(def, NULL, env);
    g_autofree char *tz = NULL;
    if (rc == 0 && (rc = qemu_clock_env(def, &tz)) == 0 && tz)
        g_ptr_array_add(env, g_steal_pointer(&tz));
    if (rc == 0 && qemu_tainted_custom_argv(def))
        proc_log(q->dir, "tainted: custom-argv (<qemu:commandline>)");
    g_ptr_array_add(env, NULL);
    if (rc == 0)
        rc = proc_spawn_env(argv, (char *const *)env->pdata, log, &child);
    if (rc < 0) {
        stop_helpers(q, virtiofsd);
        qemu_prepared_clear(&p);
        return rc;
    }
    /* With -daemonize the process we ran exits once QEMU is set up (its
     * sockets listen), 0 on success. */
    int status = 0;
    rc = proc_child_wait(child, QEMU_START_TIMEOUT_MS, &status);
    if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        g_autofree char *why = log_tail(log, log_start);
        *port_lost = qemu_hostfwd_lost(why, def, p.ssh_ports);
        kill_and_clean(q, rc < 0 ? child : 0, pidfile);
        qemu_virtiofs_abort(virtiofsd);
        qemu_virtiofs_stop(q, def);
        qemu_prepared_clear(&p);
        proc_log(q->dir, "QEMU failed to start: %s", why);
        qv_error_set(QV_ERR_BACKEND, "QEMU could not start VM '%s': %s", q->name, why);
        return explain_failed_start(def);
    }
    qemu_virtiofs_started(q, virtiofsd);
    /* QEMU makes its sockets with the umask; the directory is 0700, and the
     * sockets themselves are made 0600 too. */
    static const char *const socks[] = {"qmp.sock", "status.sock", "spice.sock"};
    for (size_t i = 0; i < G_N_ELEMENTS(socks); i++) {
        g_autofree char *s = g_build_filename(q->dir, socks[i], NULL);
        chmod(s, 0600);
    }
    for (guint i = 0; i < def->channels->len; i++) {
        const struct qv_channel *c = g_ptr_array_index(def->channels, i);
        if (c->type != QV_CHR_UNIX || c->path)
            continue; /* qemu_chmod_bind_paths() */
        g_autofree char *s = g_strdup_printf("%s/channel%u.sock", q->dir, i);
        chmod(s, 0600);
    }
    qemu_chmod_bind_paths(def);
    struct proc_runtime rt = {0};
    pid_t pid = 0;
    struct qmp *m = NULL;
    g_autofree char *console = NULL;
    rc = proc_pidfile_read(pidfile, &pid);
    if (rc == 0)
        rc = proc_identity_read(pid, &rt.id);
    if (rc == 0) {
        m = qemu_vm_qmp(q, false);
        if (!m)
            rc = qv_error_code();
        else if (!(console = qemu_console_endpoint_of(def, q->dir)))
            rc = console_pty(m, &console);
    }
    if (rc == 0) {
        rt.extra = json_object_new();
        JsonArray *ports = json_array_new();
        for (guint i = 0; i < def->nets->len; i++)
            json_array_add_int_element(ports, p.ssh_ports[i]);
        json_object_set_array_member(rt.extra, "ssh_ports", ports);
        json_object_set_string_member(rt.extra, "console", console);
        json_object_set_int_member(rt.extra, "console_log_start", console_start);
        rc = qemu_cgroup_at_start(q, def, &rt);
    }
    if (rc == 0)
        rc = qemu_runtime_record_exe(&rt);
    if (rc == 0) {
        rc = proc_runtime_write(q->dir, &rt);
    }
    if (rc == 0)
        rc = qemu_net_at_start(q, def, (const char *const *)p.tap_names->pdata);
    qemu_prepared_clear(&p);
    /* Finish the setup while no guest code has run yet. */
    if (rc == 0)
        rc = qemu_apply_pins(q, m, def);
    if (rc == 0)
        rc = qemu_apply_numa(q, m, def);
    if (rc == 0)
        rc = qemu_apply_iotune(q, m, def);
    if (rc == 0)
        rc = qemu_balloon_apply(q, m, def);
    if (rc == 0)
        rc = qmp_command(m, "cont", NULL, NULL, QEMU_QMP_TIMEOUT_MS);
    qmp_close(m);
    if (rc < 0) {
        kill_and_clean(q, 0, pidfile);
        qemu_virtiofs_stop(q, def);
        for (guint i = 0; i < def->nets->len; i++)
            qemu_net_release(q, ((const struct qv_net *)g_ptr_array_index(def->nets, i))->mac);
        /* Also when the record naming it was never written. */
        proc_runtime_remove_cgroups(&rt, q->dir);
        proc_runtime_clear(&rt);
        qv_error_prefix("cannot start VM '%s'", q->name);
        return explain_failed_start(def);
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
    if (qemu_vm_running(q)) {
        qemu_vm_unlock(q);
        return qv_error_set(QV_ERR_INVALID_STATE, "cannot start VM '%s': it is already running",
                            q->name);
    }
    /* Two VMs of one name under two state roots start from the same SSH
     * port, and any process may bind a port between qv's check and QEMU's
     * bind: QEMU then fails on it, and a new attempt picks another. */
    for (int attempt = 1;; attempt++) {
        bool port_lost = false;
        rc = start_locked(q, &port_lost);
        if (rc == 0 || !port_lost || attempt == QEMU_START_PORT_ATTEMPTS)
            break;
        proc_log(q->dir, "a port qv picked for an SSH forward was taken before QEMU bound it; "
                         "starting again with another");
        qemu_vfio_release(q);
        qv_reset_error();
    }
    if (rc < 0) {
        /* The failure is what the caller hears about; the give-back logs. */
        struct qv_error_saved e;
        qv_error_save(&e);
        qemu_vfio_release(q);
        qv_error_restore(&e);
    }
    qemu_vm_unlock(q);
    return rc;
}
