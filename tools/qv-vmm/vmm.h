/* qv-vmm: one VM of an in-process libqv driver, hosted in its own process
 * behind a QMP socket (docs/qv-vmm.md). Everything here runs on the main
 * thread's GLib loop, except the two helper threads of vmm_watch.c, which
 * only call libqv and hand their results back to the loop. */
#ifndef QV_VMM_H
#define QV_VMM_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <qv/qv.h>
#include <stdbool.h>
#include <sys/types.h>

/* Exit statuses, documented in --help and docs/qv-vmm.md. */
enum {
    VMM_EXIT_OK = 0,      /* quit, the guest powered off, or SIGTERM */
    VMM_EXIT_SETUP = 1,   /* the VM could not be defined or started */
    VMM_EXIT_USAGE = 2,   /* bad arguments or an unusable state directory */
    VMM_EXIT_CRASHED = 3, /* the VM stopped because it crashed or its driver failed */
};

struct vmm_qmp;
struct vmm_console;
struct vmm_watch;
struct vmm_job;
struct proc_landlock_rules;

struct vmm {
    /* From the command line. */
    char *dir;      /* STATE_DIR as given */
    int dir_fd;     /* opened with O_NOFOLLOW, checked to be ours and 0700 */
    char *uri;      /* driver URI, default kvm:///embed */
    char *def_name; /* --definition: a file of STATE_DIR, default domain.xml */
    bool paused;    /* --paused: define only; 'cont' starts the guest */
    bool checked;   /* --checked: libvirt's schema is not checked again */
    char *restore;  /* --restore TAG: the guest resumes from snapshot TAG (QEMU's -loadvm) */

    struct qv_conn *conn;
    struct vm *vm; /* used by the main thread only */
    bool started;  /* vm_start succeeded once */

    GMainLoop *loop;
    int exit_code;
    bool exiting;            /* quit or a signal: the VM's stop is ours */
    bool powerdown_pending;  /* system_powerdown asked the guest to power off */
    bool powerdown_deferred; /* ... while paused: delivered by 'cont' */

    struct vmm_qmp *qmp;    /* qmp.sock */
    struct vmm_qmp *status; /* status.sock: a second monitor, as drivers/qemu gives QEMU */
    struct vmm_console *console;
    struct vmm_watch *watch;
    GPtrArray *jobs;        /* struct vmm_job: QMP's jobs until job-dismiss (vmm_jobs.c) */
    struct vmm_job *active; /* the one whose worker thread runs, or NULL */
    bool stop_deferred;     /* the watcher saw the guest stop during a job */
    int exit_fd;            /* exit.json, made empty before the sandbox, filled at exit */
};

/* vmm_args.c: parse argv into v (dir, uri, paused). Returns 0, 1 when the
 * caller should exit 0 (--help, --version), or -1 after printing an error. */
int vmm_args_parse(struct vmm *v, int argc, char **argv);
/* Open and check STATE_DIR (exists, a directory, not a symlink, owned by
 * this user, no access for others) into v->dir_fd. -1 after printing why. */
int vmm_state_dir_open(struct vmm *v);
/* Read STATE_DIR/<def_name> (a regular file, not a symlink, at most
 * QV_DEFINITION_MAX_BYTES). NULL after printing why. */
char *vmm_read_definition(struct vmm *v);

/* vmm_sock.c: a listening unix socket NAME in the state directory, made
 * under a temporary name with mode 0600 and renamed into place, so a
 * client never sees it half set up and a stale socket (its server gone) is
 * replaced, never followed. A live socket (another server answers) and
 * anything that is not a socket are refused. -1 with *err set. */
int vmm_sock_listen(int dir_fd, const char *dir, const char *name, ino_t *ino, GError **err);
/* Remove NAME if it is still the socket made then (inode ino). */
void vmm_sock_unlink(int dir_fd, const char *name, ino_t ino);

/* vmm_main.c: leave the loop with this exit status once pending QMP output
 * is flushed. The VM is stopped and destroyed by main(). */
void vmm_exit(struct vmm *v, int code);
/* The guest stopped on its own (vmm_watch.c reports it on the loop). */
void vmm_guest_stopped(struct vmm *v);
/* Start the guest (at start-up, or 'cont' after --paused) and everything
 * that needs it running: console relay, watcher. 0 or a QV_ERR_*. */
int vmm_start_guest(struct vmm *v);

/* vmm_watch.c: a thread waiting for the guest to stop (vm_wait on its own
 * handle), and the graceful power-off of system_powerdown, which may take
 * the driver's whole graceful period and so must not block the loop. */
struct vmm_watch *vmm_watch_start(struct vmm *v);
int vmm_watch_powerdown(struct vmm_watch *w);
/* The waiter reported a stop that turned out not to be one (a
 * snapshot-load stops the VM for a moment): join it and start another. */
void vmm_watch_rearm(struct vmm_watch *w);
/* Join both threads; the VM must be stopped first. */
void vmm_watch_stop(struct vmm_watch *w);

/* vmm_main.c: the guest resumes from snapshot tag instead of booting
 * (--restore), with everything vmm_start_guest sets up. 0 or a QV_ERR_*. */
int vmm_restore_guest(struct vmm *v, const char *tag);
/* The guest runs (or is paused) now: console relay and watcher, as after
 * vm_start (a restore, a snapshot-load of a guest that had shut down). */
void vmm_guest_started(struct vmm *v);

/* vmm_landlock.c: qv-vmm's Landlock ruleset for the VM it hosts (its
 * definition, v->uri, v->dir), each path with its reason. NULL with the
 * error set. */
struct proc_landlock_rules *vmm_landlock_rules(struct vmm *v);

/* vmm_qmp.c: the version object of the greeting and query-version
 * (libqv's version where QEMU puts its own). */
JsonObject *vmm_qmp_version(void);
/* vmm_qmp.c: a QMP server on STATE_DIR/NAME (qmp.sock, status.sock). */
struct vmm_qmp *vmm_qmp_new(struct vmm *v, const char *name, GError **err);
void vmm_qmp_free(struct vmm_qmp *q);
/* Send an event to the client, if one is connected and has negotiated
 * capabilities (QEMU sends none before). data may be NULL (the event has
 * no "data" member, as QEMU's STOP and RESUME); it is consumed. */
void vmm_qmp_event(struct vmm_qmp *q, const char *name, JsonNode *data);
/* vmm_main.c: send an event (data consumed, may be NULL) to every server. */
void vmm_event(struct vmm *v, const char *name, JsonNode *data);
/* Write out what is queued for the client, waiting at most timeout_ms. */
void vmm_qmp_flush(struct vmm_qmp *q, int timeout_ms);

/* vmm_commands.c: the command table. */
struct vmm_cmd_error {
    const char *cls; /* "GenericError", "CommandNotFound", "DeviceNotFound", ... */
    char *desc;
};
/* Work to do after the reply went out (QEMU emits RESET, POWERDOWN and the
 * SHUTDOWN of quit after answering). */
typedef void (*vmm_after_fn)(struct vmm *v);
struct vmm_cmd {
    const char *name;
    /* Arguments: "name:type" with type i (integer), s (string), b (bool),
     * a (array), a leading '?' marking an optional one; NULL-terminated. */
    const char *const *args;
    JsonNode *(*run)(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                     vmm_after_fn *after);
    /* The command calls libqv on v->vm: refused while a snapshot job
     * runs, whose libqv call holds the VM's lock (vm_lookup gives the
     * worker the same shared handle), so the loop never blocks on it. */
    bool uses_vm;
};
const struct vmm_cmd *vmm_cmd_find(const char *name);
/* Every command, in table order, ending with a NULL name. */
const struct vmm_cmd *vmm_cmd_table(void);
/* Check args against cmd->args as QEMU's QAPI visitor does: an unknown,
 * missing or mistyped parameter sets err (GenericError) and returns false. */
bool vmm_cmd_check_args(const struct vmm_cmd *cmd, JsonObject *args, struct vmm_cmd_error *err);
/* Set err to cls and a formatted description; returns NULL for handlers. */
JsonNode *vmm_cmd_fail(struct vmm_cmd_error *err, const char *cls, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* err from the libqv error of the call that just failed (GenericError,
 * QEMU's class for whatever a command could not carry out). */
JsonNode *vmm_cmd_fail_qv(struct vmm_cmd_error *err, const char *what);
JsonNode *vmm_empty_object(void);

/* vmm_block.c: query-block and block_set_io_throttle from the VM's
 * definition (vm_get_xml) and vm_set_io_limit. */
JsonNode *vmm_query_block(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                          vmm_after_fn *after);
JsonNode *vmm_block_set_io_throttle(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                    vmm_after_fn *after);

/* vmm_jobs.c: QEMU's snapshot jobs (snapshot-save, snapshot-load,
 * snapshot-delete) and job commands (query-jobs, job-dismiss). A job runs
 * the hosted VM's snapshot_create/_restore/_delete on a worker thread; its
 * handle is the same shared one as v->vm (vm_lookup), whose lock the
 * operation holds throughout, so while v->active is set the loop touches
 * no VM handle: query-status answers from the state the job started in,
 * commands marked uses_vm are refused. The loop hears of the end through
 * g_main_context_invoke. */
/* Concluded jobs nobody dismissed that are kept (QEMU keeps them until
 * job-dismiss): past this many the oldest goes, with JOB_STATUS_CHANGE
 * "null" as if dismissed, so callers killed before their job-dismiss
 * cannot grow qv-vmm without bound. */
#define VMM_JOBS_KEPT_CONCLUDED 16
JsonNode *vmm_snapshot_save(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                            vmm_after_fn *after);
JsonNode *vmm_snapshot_load(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                            vmm_after_fn *after);
JsonNode *vmm_snapshot_delete(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                              vmm_after_fn *after);
JsonNode *vmm_query_jobs(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                         vmm_after_fn *after);
JsonNode *vmm_job_dismiss(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                          vmm_after_fn *after);
/* x-qv-query-snapshots: the hosted VM's snapshots (snapshot_list), each
 * as QEMU's SnapshotInfo plus x-qv-state. */
JsonNode *vmm_query_snapshots(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                              vmm_after_fn *after);
/* The state the VM was in when the running job started (v->active). */
enum vm_state vmm_job_state_before(struct vmm *v);
/* The running job's id (v->active). */
const char *vmm_job_id(struct vmm *v);
/* Wait for a running job's worker and free every job (at exit, before the
 * VM is taken down). */
void vmm_jobs_free(struct vmm *v);

/* vmm_block.c: whether node is the node-name query-block gives one of the
 * VM's writable disks ("drive-vda"); err names it otherwise. */
bool vmm_block_has_node(struct vmm *v, const char *node, const char *what,
                        struct vmm_cmd_error *err);

/* Whether devices (strings, each checked with vmm_block_has_node) names
 * every writable disk of the VM; err lists the missing ones otherwise. */
bool vmm_block_all_nodes(struct vmm *v, JsonArray *devices, struct vmm_cmd_error *err);

/* vmm_console.c: the guest's console into STATE_DIR/console.log and
 * STATE_DIR/console.sock. */
struct vmm_console *vmm_console_new(int dir_fd, const char *dir, GError **err);
/* Relay the console at endpoint ep ("pty:/dev/pts/N"); other kinds of
 * endpoint are noted in console.log and left where they are. ep NULL: the
 * VM has none, why says so (logged). */
void vmm_console_attach(struct vmm_console *c, const char *ep, const char *why);
/* What query-chardev reports for the serial console, or NULL. */
const char *vmm_console_endpoint(struct vmm_console *c);
/* Copy what the guest wrote so far into the log, then close everything
 * and remove console.sock. */
void vmm_console_free(struct vmm_console *c);

/* Test hooks, in the qv-vmm-test executable only (built with
 * QV_VMM_TEST_HOOKS, never installed): vmm_test.c. */
#if QV_VMM_TEST_HOOKS
/* Between setup (guest started) and the main loop: sleeps
 * $QV_VMM_TEST_LOOP_DELAY_MS, so a test can stop the guest there. */
void vmm_test_before_loop(void);
/* On a snapshot job's worker, once the job is active and before its libqv
 * call: sleeps $QV_VMM_TEST_JOB_DELAY_MS, so a test finds the job running
 * (the libqv call itself is held up by a test with strace's fsync delay). */
void vmm_test_job_delay(void);
/* QMP commands x-qv-test-open, x-qv-test-rename, x-qv-test-connect: the
 * Landlock ruleset seen from inside (each reports the errno it got). */
JsonNode *vmm_test_open(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                        vmm_after_fn *after);
JsonNode *vmm_test_rename(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                          vmm_after_fn *after);
JsonNode *vmm_test_connect(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                           vmm_after_fn *after);
#else
static inline void vmm_test_before_loop(void)
{
}
static inline void vmm_test_job_delay(void)
{
}
#endif

#endif
