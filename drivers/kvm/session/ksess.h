/* kvm:///session: every VM of the kvm driver in its own qv-vmm process
 * (tools/qv-vmm), run and found again through lib/proc and driven over QMP
 * (lib/qmp), the way drivers/qemu runs QEMU. Internal to drivers/kvm. */
#ifndef QV_KVM_SESSION_H
#define QV_KVM_SESSION_H

#include "../../../lib/api/driver.h"
#include "../../../lib/proc/proc.h"
#include "../../../lib/qmp/qmp.h"

#define KSESS_KIND "kvm"
#define KSESS_LOCK_WAIT_MS 60000
#define KSESS_QMP_TIMEOUT_MS 10000
#define KSESS_START_TIMEOUT_MS 30000
#define KSESS_STOP_TIMEOUT_MS 30000
#define KSESS_TERM_WAIT_MS 5000
/* What qv-vmm is given to define (--definition): the stored domain.xml
 * less what the session enforces from outside (kvm_session_tune.c). */
#define KSESS_VMM_DEF "vmm.xml"
/* Under <root>/kvm: held while a define or clone checks a UUID and
 * publishes its VM. */
#define KSESS_UUID_LOCK ".uuids.flock"
/* In a VM's directory while a clone keeps it paused (kvm_session_clone.c). */
#define KSESS_CLONE_MARKER "clone-paused"

/* The connection's: what qv-vmm hosts and where qv-vmm is. */
struct ksess_conn {
    char *vmm_uri;  /* vmm_uri= of the URI, else kvm:///embed; with root= */
    char *vmm_path; /* absolute */
};

/* One VM's handle: its directory and the per-VM lock. */
struct ksess_vm {
    char *name;
    char *dir;
    char *state_dir;
    int lock_fd;
    int lock_depth;
};

/* The session table, which kvm_open hands the connection to. */
extern const struct qv_driver kvm_session_driver;

static inline struct ksess_vm *ksess_of(struct vm *vm)
{
    return vm->priv;
}
static inline struct ksess_conn *ksess_conn_of(struct qv_conn *conn)
{
    return conn->priv;
}

/* Re-entrant within one handle; the core's VM mutex serialises threads.
 * Taking it first runs ksess_clone_recover. */
int ksess_lock(struct ksess_vm *k, int timeout_ms);
void ksess_unlock(struct ksess_vm *k);

/* The qv-vmm binary: $QV_VMM (absolute), else qv-vmm beside the running
 * program, else in the bin directory beside libqv's lib directory. */
char *ksess_find_vmm(void);

/* kvm_session_clone.c: whether the VM's directory holds the marker of a
 * clone that paused it; with the VM's lock held (so no clone runs on it),
 * resume a VM such a clone left paused and remove the marker (logged in
 * qv.log). The caller's error state is kept. */
bool ksess_clone_marked(struct ksess_vm *k);
void ksess_clone_recover(struct ksess_vm *k);

/* QMP on qmp.sock (operations) or status.sock (queries). */
struct qmp *ksess_qmp(struct ksess_vm *k, bool status_monitor);

/* The stored definition (domain.xml), or NULL with the error set. */
struct qv_domain *ksess_load_def(struct ksess_vm *k);

/* kvm_session_tune.c: CPU weight, cap and pins applied from outside
 * qv-vmm (the VM's cgroup, sched_setaffinity on its vCPU threads). */
bool ksess_wants_cgroup(const struct qv_domain *def);
/* def less what the session enforces itself (<cputune> shares and cap):
 * what qv-vmm's inner driver is given. */
struct qv_domain *ksess_vmm_def(const struct qv_domain *def);
/* The kvm driver's define-time checks on what qv-vmm will be given. */
int ksess_domain_check(const struct qv_domain *def);
/* def with set applied and checked as ksess_domain_check does. */
struct qv_domain *ksess_setting_apply(const struct qv_domain *def, const struct qv_setting *set,
                                      const char *vm_name);
/* Write <dir>/vmm.xml (KSESS_VMM_DEF) from def, atomically. */
int ksess_write_vmm_def(struct ksess_vm *k, const struct qv_domain *def);
/* Make the VM's cgroup, write the weight and cap of def, move pid in;
 * its path in *path. The group is removed again on failure. */
int ksess_cgroup_attach(struct ksess_vm *k, const struct qv_domain *def, pid_t pid, char **path);
/* The same in two steps, so that the group is recorded before qv-vmm is
 * in it: make it (refused, naming it, when it holds processes already; an
 * empty leftover is reused) with def's limits written, then move pid in. */
int ksess_cgroup_make(struct ksess_vm *k, const struct qv_domain *def, char **path);
int ksess_cgroup_join(struct ksess_vm *k, const char *path, pid_t pid);
/* 0 when path (from runtime.json) is this VM's own group, else
 * QV_ERR_PERMISSION naming it. */
int ksess_cgroup_own(struct ksess_vm *k, const struct qv_domain *def, const char *path);
/* rt->extra "cpus": the CPU set of rt's process, what an unpin restores. */
void ksess_record_cpus(struct proc_runtime *rt);
/* A setting of a running VM: pins, weight and cap applied live and
 * stored; everything else refused naming why. The caller holds the lock. */
int ksess_set_live(struct vm *vm, const struct qv_setting *set);
/* After a qv-driven reset: every vCPU thread pinned as the stored
 * definition says (live pins included). */
int ksess_pins_reapply(struct ksess_vm *k);

/* kvm_session_run.c: the process-backed slots. */
int ksess_status(struct vm *vm, struct qv_vm_status *st);
int ksess_start(struct vm *vm);
/* Start the VM's qv-vmm with the lock held; restore (may be NULL) is the
 * snapshot the guest resumes from (qv-vmm --restore) instead of booting. */
int ksess_start_locked(struct vm *vm, struct ksess_vm *k, const char *restore);
int ksess_stop(struct vm *vm, unsigned flags, int timeout_ms);
int ksess_pause(struct vm *vm);
int ksess_resume(struct vm *vm);
int ksess_reset(struct vm *vm);
int ksess_wait(struct vm *vm, int timeout_ms);
/* Stop the VM's qv-vmm, whatever it is doing (destroy); the caller holds
 * the lock. */
int ksess_kill_locked(struct ksess_vm *k);
/* Collect every qv-vmm this process spawned that has exited (WNOHANG):
 * one that ended on its own is no zombie until its VM is next asked
 * about. Called on every session call and at close. */
void ksess_reap_children(void);
/* Whether the recorded qv-vmm still runs (full identity). */
bool ksess_running(struct ksess_vm *k);
/* Whether id is this VM's qv-vmm: 1 when it runs and is a qv-vmm (by
 * executable or argv[0]) whose command line ends with "--dir <dir>", 0
 * when it is gone, QV_ERR_PERMISSION naming it when a live process the
 * record names is not (a forged runtime.json): never act on it. */
int ksess_vmm_check(struct ksess_vm *k, const struct proc_identity *id);
/* ksess_vmm_check of runtime.json's process: 0 with no (readable) record. */
int ksess_live(struct ksess_vm *k);
/* runtime.json read and checked so: 0 only when its qv-vmm runs;
 * QV_ERR_INVALID_STATE when it does not. rt is cleared on failure. */
int ksess_runtime_verified(struct ksess_vm *k, struct proc_runtime *rt);

/* kvm_session_snap.c: the snapshot slots, and what destroy does to the
 * snapshots qv-vmm's driver keeps (caller holds the lock). */
int ksess_snap_create(struct vm *vm, const char *name, unsigned flags);
int ksess_snap_restore(struct vm *vm, const char *name);
int ksess_snap_delete(struct vm *vm, const char *name);
int ksess_snap_list(struct vm *vm, struct snapshot_info **list, size_t *count);
int ksess_snap_forget_locked(struct qv_conn *conn, struct ksess_vm *k);
/* kvm_session_clone.c */
int ksess_clone(struct vm *src, const struct qv_domain *newdef, void **priv);
/* kvm_session.c: a handle's object for VM name (no check that it exists). */
struct ksess_vm *ksess_vm_new(struct qv_conn *conn, const char *name);
void ksess_vm_free(struct ksess_vm *k);

#endif
