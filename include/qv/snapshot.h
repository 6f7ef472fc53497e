/* libqv — snapshots.
 *
 * A snapshot captures a VM's definition and, where the driver can, its
 * registers, memory and device state. Snapshot names follow the VM name rules.
 * Allowed in CREATED, RUNNING, PAUSED and STOPPED; a running VM is paused for
 * the capture and resumed after. Restoring puts the VM back into the state
 * the snapshot captured.
 */
#ifndef QV_SNAPSHOT_H
#define QV_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "vm.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* Flags for snapshot_create(). */
#define SNAPSHOT_DISK_ONLY 0x1u /* definition and disks, no memory or registers */
/* Memory as an increment over the VM's previous snapshot (taken or
 * restored since it started): only the pages written since. Drivers that
 * cannot track written pages refuse it (QV_ERR_UNSUPPORTED). */
#define SNAPSHOT_INCREMENTAL 0x2u

struct snapshot_info {
    char *name;
    int64_t created;     /* seconds since the Unix epoch */
    uint64_t size;       /* bytes the snapshot occupies */
    enum vm_state state; /* the state the VM was in when captured */
};

/* How far a snapshot_create, snapshot_restore or snapshot_delete has got,
 * for a driver that runs it as a job: the qemu driver and kvm:///session on
 * a running or paused VM (QEMU's, or qv-vmm's, snapshot-save, snapshot-load
 * and snapshot-delete jobs).
 * The strings live for the duration of the callback. */
struct snapshot_progress {
    const char *operation; /* "create", "restore" or "delete" */
    const char *snapshot;  /* the snapshot's name */
    const char *job;       /* the job's identifier (QEMU's job-id) */
    const char *status;    /* the job's status as QEMU names it: "created", "running", ...,
                            * "concluded" (finished, with or without an error) */
    uint64_t current;      /* progress made, in units of total */
    uint64_t total;        /* current's value at completion; 0 when unknown. QEMU 7.2's
                            * snapshot jobs report 0 of 1 until they conclude, then 1 of 1 */
    int64_t elapsed_ms;    /* since the job was started */
};
typedef void (*snapshot_progress_fn)(struct vm *vm, const struct snapshot_progress *progress,
                                     void *opaque);

/* Errors: QV_ERR_INVALID_ARG (bad name), QV_ERR_EXISTS, QV_ERR_INVALID_STATE,
 * QV_ERR_UNSUPPORTED; from a driver's job, its own error (QV_ERR_BACKEND)
 * or QV_ERR_TIMEOUT naming the job. */
int snapshot_create(struct vm *vm, const char *name, unsigned flags);
/* Errors: QV_ERR_NOT_FOUND, QV_ERR_INVALID_STATE. */
int snapshot_restore(struct vm *vm, const char *name);
int snapshot_delete(struct vm *vm, const char *name);
/* The same, calling fn (when not NULL) while the driver's job runs: on the
 * calling thread, from inside the call, when the job's status changes,
 * about every 250 ms while it runs, and last with status "concluded". An
 * operation without a job (a stopped VM; noop, kvm:///embed, propolis and remote
 * drivers) just completes without calling fn. fn must not call libqv on
 * the same VM. */
int snapshot_create_progress(struct vm *vm, const char *name, unsigned flags,
                             snapshot_progress_fn fn, void *opaque);
int snapshot_restore_progress(struct vm *vm, const char *name, snapshot_progress_fn fn,
                              void *opaque);
int snapshot_delete_progress(struct vm *vm, const char *name, snapshot_progress_fn fn,
                             void *opaque);
/* All snapshots, oldest first; free with snapshot_info_free(). */
int snapshot_list(struct vm *vm, struct snapshot_info **list, size_t *count);
void snapshot_info_free(struct snapshot_info *list, size_t count);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
