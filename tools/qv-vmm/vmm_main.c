/* qv-vmm: define the VM of STATE_DIR/domain.xml on an in-process libqv
 * driver, start it, serve QMP until quit, a signal or the guest's end, and
 * take the VM down with the process. Only libqv's public API touches the
 * VM. */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/api/internal.h"
#include "lib/conf/domain.h"
#include "lib/conf/xml_schema.h"
#include "lib/proc/landlock.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "vmm.h"
#if QV_VMM_SANDBOX
#include "lib/proc/sandbox.h"
#endif

void vmm_exit(struct vmm *v, int code)
{
    /* Always quit the loop (a second caller must not find it running on
     * because the first set exiting); the first caller's status stands.
     * main() does not enter the loop at all when exiting is already set,
     * as a quit before g_main_loop_run is forgotten by GLib. */
    if (!v->exiting) {
        v->exiting = true;
        v->exit_code = code;
    }
    g_main_loop_quit(v->loop);
}

static JsonNode *shutdown_data(bool guest, const char *reason)
{
    JsonObject *d = json_object_new();
    json_object_set_boolean_member(d, "guest", guest);
    json_object_set_string_member(d, "reason", reason);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, d);
    return n;
}

void vmm_event(struct vmm *v, const char *name, JsonNode *data)
{
    /* QEMU sends every event to every monitor. */
    vmm_qmp_event(v->status, name, data ? json_node_copy(data) : NULL);
    vmm_qmp_event(v->qmp, name, data);
}

void vmm_guest_stopped(struct vmm *v)
{
    if (v->exiting)
        return; /* our own stop at quit or a signal */
    if (v->active) {
        /* A snapshot job holds the VM (a snapshot-load stops it for a
         * moment): job_done looks again once it is over. */
        v->stop_deferred = true;
        return;
    }
    struct vm_info info = {.reason = VM_REASON_NONE};
    if (vm_get_info(v->vm, &info) < 0)
        info.reason = VM_REASON_FAILED;
    /* QEMU's ShutdownCause for what libqv reports. */
    bool guest = true;
    const char *reason = "guest-shutdown";
    int code = VMM_EXIT_OK;
    switch (info.reason) {
    case VM_REASON_RESET: reason = "guest-reset"; break;
    case VM_REASON_CRASHED:
        reason = "guest-panic";
        code = VMM_EXIT_CRASHED;
        break;
    case VM_REASON_FAILED:
        guest = false;
        reason = "host-error";
        code = VMM_EXIT_CRASHED;
        break;
    case VM_REASON_USER:
        /* Forced off by the host: system_powerdown's graceful period ran
         * out (noop, with no guest to ask, always forces), or another
         * libqv client stopped it. QEMU reports a guest:false cause for
         * what the host did; the nearest is the signal libvirt sends. */
        guest = false;
        reason = "host-signal";
        break;
    case VM_REASON_NONE:
    case VM_REASON_SHUTDOWN: break;
    }
    if (code != VMM_EXIT_OK)
        fprintf(stderr, "qv-vmm: VM '%s' stopped: %s\n", vm_get_name(v->vm),
                vm_state_reason_name(info.reason));
    vmm_event(v, "SHUTDOWN", shutdown_data(guest, reason));
    vmm_exit(v, code);
}

int vmm_start_guest(struct vmm *v)
{
    int rc = vm_start(v->vm);
    if (rc < 0)
        return rc;
    vmm_guest_started(v);
    return 0;
}

int vmm_restore_guest(struct vmm *v, const char *tag)
{
    int rc = snapshot_restore(v->vm, tag);
    if (rc < 0)
        return rc;
    enum vm_state s = vm_get_state(v->vm);
    if (s != VM_STATE_RUNNING && s != VM_STATE_PAUSED)
        return qv_error_set(QV_ERR_INVALID_STATE,
                            "snapshot '%s' of VM '%s' holds no running guest (it was taken while "
                            "the VM was %s): nothing to resume",
                            tag, vm_get_name(v->vm), vm_state_name(s));
    vmm_guest_started(v);
    return 0;
}

void vmm_guest_started(struct vmm *v)
{
    v->started = true;
    char *ep = vm_console_endpoint(v->vm);
    if (ep) {
        vmm_console_attach(v->console, ep, NULL);
        qv_free(ep);
    } else {
        vmm_console_attach(v->console, NULL, qv_last_error()->message);
    }
    if (!v->watch)
        v->watch = vmm_watch_start(v);
    if (!v->watch)
        fprintf(stderr, "qv-vmm: cannot watch VM '%s' for its end: %s\n", vm_get_name(v->vm),
                qv_last_error()->message);
}

static gboolean on_signal(gpointer data)
{
    struct vmm *v = data;
    /* As QEMU on SIGTERM: a SHUTDOWN event, then exit 0. */
    vmm_event(v, "SHUTDOWN", shutdown_data(false, "host-signal"));
    vmm_exit(v, VMM_EXIT_OK);
    return G_SOURCE_CONTINUE;
}

/* Stop the VM if it still runs and let it go. The guest lives as long as
 * this process; the hosted driver's record of the VM, with its snapshots
 * (kvm:///embed's state directory, noop:///DIR), stays for the next
 * qv-vmm of this VM and for its manager (kvm:///session lists, deletes
 * and restores them while no qv-vmm runs, and removes them when the VM is
 * destroyed). */
static void take_down(struct vmm *v)
{
    /* A snapshot job still running finishes first. */
    vmm_jobs_free(v);
    enum vm_state s = vm_get_state(v->vm);
    if ((s == VM_STATE_RUNNING || s == VM_STATE_PAUSED) &&
        vm_stop_flags(v->vm, VM_STOP_FORCE, 0) < 0)
        fprintf(stderr, "qv-vmm: cannot stop VM '%s': %s\n", vm_get_name(v->vm),
                qv_last_error()->message);
    /* While the VM's side of the console is still open: its last output. */
    vmm_console_free(v->console);
    v->console = NULL;
    vmm_watch_stop(v->watch);
    v->watch = NULL;
    vm_free(v->vm);
    v->vm = NULL;
}

/* exit.json: how this run ended, for a manager that is not our parent and so
 * never sees the exit status (kvm:///session). It is made empty before the
 * sandbox and filled in through that descriptor at exit: under Landlock
 * qv-vmm may not create regular files in the state directory (nothing it
 * writes could then take the place of runtime.json). An empty or partial
 * file reads as no record, as does none: a process killed outright is
 * judged crashed either way, and one that ends normally leaves the whole
 * record, synced before it exits. */
static int prepare_exit_record(struct vmm *v)
{
    if (unlinkat(v->dir_fd, "exit.json", 0) < 0 && errno != ENOENT) {
        fprintf(stderr, "qv-vmm: cannot remove the last run's %s/exit.json: %s\n", v->dir,
                g_strerror(errno));
        return -1;
    }
    v->exit_fd = openat(v->dir_fd, "exit.json",
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (v->exit_fd < 0) {
        fprintf(stderr, "qv-vmm: cannot create %s/exit.json: %s\n", v->dir, g_strerror(errno));
        return -1;
    }
    return 0;
}

/* A setup that failed leaves no record (exit statuses 1 and 2). */
static void drop_exit_record(struct vmm *v)
{
    if (v->exit_fd < 0)
        return;
    close(v->exit_fd);
    v->exit_fd = -1;
    unlinkat(v->dir_fd, "exit.json", 0);
}

static void write_exit_record(struct vmm *v, int code)
{
    g_autofree char *text = g_strdup_printf("{\"code\": %d}\n", code);
    size_t len = strlen(text);
    if (v->exit_fd < 0 || qv_pwrite_all(v->exit_fd, text, len, 0) < 0 || fsync(v->exit_fd) < 0)
        fprintf(stderr, "qv-vmm: cannot record the exit in '%s/exit.json': %s\n", v->dir,
                v->exit_fd < 0 ? "it could not be created" : g_strerror(errno));
    if (v->exit_fd >= 0)
        close(v->exit_fd);
    v->exit_fd = -1;
}

/* Landlock (lib/proc/landlock.h): from here on qv-vmm reaches only the
 * files its VM needs (docs/architecture.md, "qv-vmm's Landlock ruleset").
 * Only the main thread runs yet, and everything started later inherits
 * the domain. A kernel without Landlock is said once, and qv-vmm goes on
 * under its seccomp filter alone, as it ran before Landlock existed. */
static int enter_landlock(struct vmm *v)
{
    struct proc_landlock_rules *r = vmm_landlock_rules(v);
    int abi = r ? proc_landlock_enter(r) : qv_error_code();
    proc_landlock_rules_free(r);
    if (abi < 0) {
        fprintf(stderr, "qv-vmm: %s\n", qv_last_error()->message);
        return -1;
    }
    if (abi == 0)
        fprintf(stderr, "qv-vmm: this kernel has no Landlock (not built in, or not in lsm=): "
                        "files are not confined beyond the user's own permissions\n");
    return 0;
}

/* The hosted driver keeps the VM from an earlier qv-vmm (noop:///DIR
 * stores it, with its snapshots): use that one. One left running by a
 * qv-vmm that was killed is stopped first, as that guest died with it. */
static struct vm *adopt(struct vmm *v, const char *xml)
{
    g_autoptr(qv_domain) def = qv_domain_parse_xml(xml);
    struct vm *vm = def ? vm_lookup(v->conn, def->name) : NULL;
    if (!vm)
        return NULL;
    enum vm_state s = vm_get_state(vm);
    if ((s == VM_STATE_RUNNING || s == VM_STATE_PAUSED) &&
        vm_stop_flags(vm, VM_STOP_FORCE, 0) < 0) {
        vm_free(vm);
        return NULL;
    }
    fprintf(stderr, "qv-vmm: VM '%s' is already defined on %s: using it (and its snapshots)\n",
            def->name, v->uri);
    return vm;
}

/* SIGTERM, SIGINT and SIGHUP wait (blocked) until this, as GLib's signal
 * handling starts a thread of its own, which must start inside the
 * Landlock domain; one sent meanwhile is delivered here. */
static const int term_signals[] = {SIGTERM, SIGINT, SIGHUP};

static void block_term_signals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < G_N_ELEMENTS(term_signals); i++)
        sigaddset(&set, term_signals[i]);
    pthread_sigmask(how, &set, NULL);
}

static void vmm_signals_start(struct vmm *v)
{
    for (size_t i = 0; i < G_N_ELEMENTS(term_signals); i++)
        g_unix_signal_add(term_signals[i], on_signal, v);
    block_term_signals(SIG_UNBLOCK);
}

static int setup(struct vmm *v)
{
    g_autofree char *xml = vmm_read_definition(v);
    if (!xml)
        return VMM_EXIT_USAGE;
    v->conn = qv_connect(v->uri);
    if (!v->conn) {
        fprintf(stderr, "qv-vmm: cannot open driver URI '%s': %s\n", v->uri,
                qv_last_error()->message);
        return VMM_EXIT_SETUP;
    }
    /* Compiling libvirt's schema is about 15 ms of a start that the
     * session has already paid for when the VM was defined. */
    v->vm = v->checked ? qv_vm_define_own_xml(v->conn, xml) : vm_define_xml(v->conn, xml);
    if (!v->vm && qv_last_error()->code == QV_ERR_EXISTS)
        v->vm = adopt(v, xml);
    if (!v->vm) {
        fprintf(stderr, "qv-vmm: %s/%s: %s\n", v->dir, v->def_name, qv_last_error()->message);
        return VMM_EXIT_SETUP;
    }
    /* Where the definition was checked against libvirt's schema here,
     * what was compiled for that is most of this process's heap and would
     * stay for the VM's life (bench/session_bench.sh measures it). */
    qv_conf_xml_schema_release();
    malloc_trim(0);
    g_autoptr(GError) err = NULL;
    v->console = vmm_console_new(v->dir_fd, v->dir, &err);
    if (v->console)
        v->qmp = vmm_qmp_new(v, "qmp.sock", &err);
    if (v->qmp)
        v->status = vmm_qmp_new(v, "status.sock", &err);
    if (!v->status) {
        fprintf(stderr, "qv-vmm: %s\n", err->message);
        return VMM_EXIT_SETUP;
    }
    if (prepare_exit_record(v) < 0 || enter_landlock(v) < 0)
        return VMM_EXIT_SETUP;
    vmm_signals_start(v);
#if QV_VMM_SANDBOX
    /* The VM is built and every socket listens: from here on no guest
     * instruction and no QMP byte is handled outside the filter
     * (docs/architecture.md, "qv-vmm's seccomp filter"). Whatever loads
     * code has happened by now. */
    if (proc_sandbox_enter(proc_sandbox_vmm_rules()) < 0) {
        fprintf(stderr, "qv-vmm: %s\n", qv_last_error()->message);
        return VMM_EXIT_SETUP;
    }
#endif
    if (v->restore && !v->paused) {
        if (vmm_restore_guest(v, v->restore) < 0) {
            fprintf(stderr, "qv-vmm: cannot restore VM '%s' from snapshot '%s': %s\n",
                    vm_get_name(v->vm), v->restore, qv_last_error()->message);
            return VMM_EXIT_SETUP;
        }
    } else if (!v->paused && vmm_start_guest(v) < 0) {
        fprintf(stderr, "qv-vmm: cannot start VM '%s': %s\n", vm_get_name(v->vm),
                qv_last_error()->message);
        return VMM_EXIT_SETUP;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct vmm v = {.dir_fd = -1, .exit_fd = -1};
    /* Everything created here (sockets, log) is for this user only. */
    umask(077);
    signal(SIGPIPE, SIG_IGN);
    int code = VMM_EXIT_USAGE;
    int r = vmm_args_parse(&v, argc, argv);
    if (r != 0) {
        code = r > 0 ? VMM_EXIT_OK : VMM_EXIT_USAGE;
        goto out;
    }
    if (vmm_state_dir_open(&v) < 0)
        goto out;
    /* One qv-vmm per directory: the lock goes with the process. */
    if (flock(v.dir_fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "qv-vmm: state directory '%s' is in use by another qv-vmm (%s)\n", v.dir,
                g_strerror(errno));
        goto out;
    }
    /* The main thread owns the default context from now on, so the helper
     * threads' g_main_context_invoke always queues their report for the
     * loop: unowned, GLib would run it on the helper thread itself, racing
     * with the loop on the VM handle and the QMP buffers (the guest can
     * stop before g_main_loop_run). */
    g_main_context_acquire(NULL);
    v.loop = g_main_loop_new(NULL, FALSE);
    /* GLib's signal handling starts in setup, between the Landlock
     * domain and the seccomp filter. */
    block_term_signals(SIG_BLOCK);
    code = setup(&v);
    if (code != 0)
        drop_exit_record(&v);
    if (code == 0) {
        vmm_test_before_loop();
        /* A guest that stopped at once is reported by a source queued
         * for this loop. Should anything call vmm_exit before the loop
         * runs, GLib forgets that quit: exiting is checked instead. */
        while (!v.exiting)
            g_main_loop_run(v.loop);
        code = v.exit_code;
        /* The reply to quit and the SHUTDOWN event go out first. */
        vmm_qmp_flush(v.qmp, 1000);
        vmm_qmp_flush(v.status, 1000);
        write_exit_record(&v, code);
    }
    v.exiting = true;
    if (v.vm)
        take_down(&v);
    vmm_console_free(v.console);
    vmm_qmp_free(v.status);
    vmm_qmp_free(v.qmp);
    qv_close(v.conn);
    g_main_loop_unref(v.loop);
    g_main_context_release(NULL);
out:
    if (v.dir_fd >= 0)
        close(v.dir_fd);
    g_free(v.dir);
    g_free(v.uri);
    g_free(v.def_name);
    g_free(v.restore);
    return code;
}
