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

struct snapshot_info {
    char *name;
    int64_t created;     /* seconds since the Unix epoch */
    uint64_t size;       /* bytes the snapshot occupies */
    enum vm_state state; /* the state the VM was in when captured */
};

/* Errors: QV_ERR_INVALID_ARG (bad name), QV_ERR_EXISTS, QV_ERR_INVALID_STATE,
 * QV_ERR_UNSUPPORTED. */
int snapshot_create(struct vm *vm, const char *name, unsigned flags);
/* Errors: QV_ERR_NOT_FOUND, QV_ERR_INVALID_STATE. */
int snapshot_restore(struct vm *vm, const char *name);
int snapshot_delete(struct vm *vm, const char *name);
/* All snapshots, oldest first; free with snapshot_info_free(). */
int snapshot_list(struct vm *vm, struct snapshot_info **list, size_t *count);
void snapshot_info_free(struct snapshot_info *list, size_t count);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
