/* Process-backed VMs (qemu, kvm session): the per-VM state directory, the
 * per-VM lock, spawning without a shell, pidfiles, and process identity so
 * that a reused pid is never mistaken for the VM's process. */
#ifndef QV_PROC_H
#define QV_PROC_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../include/qv/qv.h"

/* <state_dir>/<kind>/<name>; the caller has checked name. */
char *proc_vm_dir(const char *state_dir, const char *kind, const char *name);
/* Where a user's short-lived files go (probe verdicts, console sockets):
 * $XDG_RUNTIME_DIR/qv, a tmpfs only the user enters, else /run/qv for root,
 * else the user's cache directory. Not created here. */
char *proc_runtime_base(void);
/* <state_dir>/<kind>, created 0700. */
int proc_kind_dir_ensure(const char *state_dir, const char *kind);
/* Add to names every VM under <state_dir>/<kind>: a directory not starting
 * with '.' that holds a domain.xml. A missing kind directory has none. */
int proc_list_vms(const char *state_dir, const char *kind, GPtrArray *names);

/* The per-VM lock, serialising callers in every process. Lock files live
 * beside the VM directories (<state_dir>/<kind>/.<name>.lock) so that
 * removing a VM's directory never races with a caller waiting on it.
 * Returns the fd for proc_unlock, or a negative QV_ERR_* (QV_ERR_BUSY). */
int proc_lock(const char *state_dir, const char *kind, const char *name, int timeout_ms);
void proc_unlock(int fd);

/* Who a process is: the pid alone is not enough, pids get reused. */
struct proc_identity {
    pid_t pid;
    uint64_t start_time; /* /proc/PID/stat field 22, clock ticks since boot */
    char *cmdline;       /* /proc/PID/cmdline with NULs turned into spaces */
};

/* Read the identity of a live process. QV_ERR_NOT_FOUND when it is gone
 * (a zombie counts as gone; libqv never reaps a pid it did not spawn and
 * wait for itself). */
int proc_identity_read(pid_t pid, struct proc_identity *id);
void proc_identity_clear(struct proc_identity *id);
/* A live process whose command line (arguments joined by blanks) ends with
 * suffix, found by scanning /proc: for when the record naming it is lost.
 * QV_ERR_NOT_FOUND when there is none. */
int proc_find_by_cmdline_suffix(const char *suffix, struct proc_identity *id);
/* True when a process with id's pid runs and has the same start time and
 * command line. */
bool proc_identity_alive(const struct proc_identity *id);

/* The executable of live process pid as the kernel shows it
 * (/proc/PID/exe), NULL when unreadable (gone, another user's). A file
 * removed or replaced since the process started shows as "PATH (deleted)". */
char *proc_exe_read(pid_t pid);
/* Whether exe (from proc_exe_read) is the program at path, also when one
 * or both carry " (deleted)": a package upgrade replaces a binary under the
 * processes still running it, which stay what they were started as. */
bool proc_exe_same(const char *exe, const char *path);

/* Whether a and b describe the same process (pid, start time, command
 * line). */
bool proc_identity_same(const struct proc_identity *a, const struct proc_identity *b);

/* <dir>/state.json, why a VM that does not run last stopped: written when
 * it stops; read as CREATED (no record) or STOPPED with that reason
 * (VM_REASON_NONE when the record is unreadable). */
int proc_stopped_write(const char *dir, enum vm_state_reason reason);
void proc_stopped_read(const char *dir, enum vm_state *state, enum vm_state_reason *reason);

/* The <uuid> of <dir>/domain.xml without parsing the rest, or NULL. */
char *proc_stored_uuid(const char *dir);
/* QV_ERR_EXISTS when a VM of <state_dir>/<kind> other than name holds
 * uuid. The caller serialises defines (a kind-wide lock). */
int proc_uuid_check(const char *state_dir, const char *kind, const char *uuid, const char *name);

/* What a running VM's process is, kept as <dir>/runtime.json. extra holds
 * the driver's own members (ports, ...). */
struct proc_runtime {
    struct proc_identity id;
    char *cgroup;      /* the VM's own cgroup (lib/proc/cgroup.h), or NULL */
    char **cgroups;    /* its groups in other v1 hierarchies (memory, blkio), or NULL */
    JsonObject *extra; /* may be NULL */
};
int proc_runtime_write(const char *dir, const struct proc_runtime *rt);
/* QV_ERR_NOT_FOUND when there is none (the VM is not running). */
int proc_runtime_read(const char *dir, struct proc_runtime *rt);
void proc_runtime_clear(struct proc_runtime *rt);
int proc_runtime_remove(const char *dir);
/* Remove rt's cgroups (proc_cgroup_remove), logging into dir. */
void proc_runtime_remove_cgroups(const struct proc_runtime *rt, const char *dir);

/* A pidfile as QEMU writes it: one decimal pid and a newline. */
int proc_pidfile_read(const char *path, pid_t *pid);

/* Spawn argv[0] (an absolute path or a name looked up in PATH) with argv,
 * no shell: stdin from /dev/null, stdout and stderr appended to log_path,
 * in a new session so a terminal's signals do not reach it. */
int proc_spawn(char *const argv[], const char *log_path, pid_t *pid);
/* The same with "NAME=value" settings (NULL-terminated, or NULL) added to
 * the child's environment, replacing the caller's of the same name. */
int proc_spawn_env(char *const argv[], char *const extra_env[], const char *log_path, pid_t *pid);
/* The environment every process libqv starts gets: the caller's, less the
 * loader's injection variables. A NULL-terminated copy (g_strfreev). */
char **proc_child_environ(void);
/* Run a helper (qemu-img, ip, tc) to completion, no shell, with that
 * environment; its stderr goes into the error message on failure. *out
 * receives stdout when not NULL. */
int proc_run_tool(const char *const *argv, char **out);
/* Wait for our child pid to exit (reaping it). QV_ERR_TIMEOUT after
 * timeout_ms (negative: forever). *status as from waitpid. */
int proc_child_wait(pid_t pid, int timeout_ms, int *status);
/* Cheaper than proc_identity_alive for polling a process whose full
 * identity was checked already: pid and start time still match and it is
 * not a zombie (pid plus start time is unique until reboot; the command line
 * of a large process is slow to read). */
bool proc_identity_running(const struct proc_identity *id);
/* Signal a process only if it still is the one described by id. */
int proc_kill(const struct proc_identity *id, int sig);
/* Wait until id's process is gone; QV_ERR_TIMEOUT otherwise. */
int proc_wait_gone(const struct proc_identity *id, int timeout_ms);

/* Append "2026-01-01T00:00:00.123Z message" to <dir>/qv.log. Failures to log
 * are ignored: the log is for people, it never decides anything. */
void proc_log(const char *dir, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Remove every *.sock, the cgroup and the runtime record of a VM whose
 * process died. */
void proc_cleanup_runtime(const char *dir);

#endif
