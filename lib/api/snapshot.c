/* Public snapshot entry points. */
#include "../util/error.h"
#include "../util/names.h"
#include "internal.h"
#include "trace.h"

/* The progress callback of the call this thread is in. Per call, not per
 * handle: a handle is shared by every user of the VM in the process. */
struct progress_sink {
    struct vm *vm;
    const char *operation;
    const char *snapshot;
    snapshot_progress_fn fn;
    void *opaque;
};
static _Thread_local struct progress_sink *current_sink;

void qv_snapshot_progress(struct vm *vm, struct snapshot_progress *p)
{
    struct progress_sink *s = current_sink;
    if (!s || !s->fn || s->vm != vm)
        return;
    p->operation = s->operation;
    p->snapshot = s->snapshot;
    s->fn(vm, p, s->opaque);
}

/* The driver slot of operation op, with the sink in place around it. */
static int run_op(struct vm *vm, enum qv_op op, const char *name, unsigned flags,
                  snapshot_progress_fn fn, void *opaque)
{
    int rc = qv_vm_enter(vm, op, NULL);
    if (rc < 0)
        return rc;
    const struct qv_driver *d = vm->conn->driver;
    struct progress_sink sink = {vm, NULL, name, fn, opaque};
    struct progress_sink *outer = current_sink;
    current_sink = &sink;
    if (op == QV_OP_SNAPSHOT_CREATE && (flags & ~(SNAPSHOT_DISK_ONLY | SNAPSHOT_INCREMENTAL)))
        rc = qv_error_set(QV_ERR_INVALID_ARG, "snapshot_create: unknown flags 0x%x", flags);
    else if (!qv_name_check(name, "snapshot"))
        rc = qv_error_code();
    else if (op == QV_OP_SNAPSHOT_CREATE) {
        sink.operation = "create";
        rc = d->snapshot_create ? d->snapshot_create(vm, name, flags)
                                : qv_unsupported(vm->conn, "snapshot_create");
    } else if (op == QV_OP_SNAPSHOT_RESTORE) {
        sink.operation = "restore";
        rc = d->snapshot_restore ? d->snapshot_restore(vm, name)
                                 : qv_unsupported(vm->conn, "snapshot_restore");
    } else {
        sink.operation = "delete";
        rc = d->snapshot_delete ? d->snapshot_delete(vm, name)
                                : qv_unsupported(vm->conn, "snapshot_delete");
    }
    current_sink = outer;
    qv_vm_leave(vm);
    return rc;
}

int snapshot_create(struct vm *vm, const char *name, unsigned flags)
{
    QV_API_VM(vm);
    return run_op(vm, QV_OP_SNAPSHOT_CREATE, name, flags, NULL, NULL);
}

int snapshot_restore(struct vm *vm, const char *name)
{
    QV_API_VM(vm);
    return run_op(vm, QV_OP_SNAPSHOT_RESTORE, name, 0, NULL, NULL);
}

int snapshot_delete(struct vm *vm, const char *name)
{
    QV_API_VM(vm);
    return run_op(vm, QV_OP_SNAPSHOT_DELETE, name, 0, NULL, NULL);
}

int snapshot_create_progress(struct vm *vm, const char *name, unsigned flags,
                             snapshot_progress_fn fn, void *opaque)
{
    QV_API_VM(vm);
    return run_op(vm, QV_OP_SNAPSHOT_CREATE, name, flags, fn, opaque);
}

int snapshot_restore_progress(struct vm *vm, const char *name, snapshot_progress_fn fn,
                              void *opaque)
{
    QV_API_VM(vm);
    return run_op(vm, QV_OP_SNAPSHOT_RESTORE, name, 0, fn, opaque);
}

int snapshot_delete_progress(struct vm *vm, const char *name, snapshot_progress_fn fn, void *opaque)
{
    QV_API_VM(vm);
    return run_op(vm, QV_OP_SNAPSHOT_DELETE, name, 0, fn, opaque);
}

int snapshot_list(struct vm *vm, struct snapshot_info **list, size_t *count)
{
    QV_API_VM(vm);
    if (!list || !count)
        return qv_error_set(QV_ERR_INVALID_ARG, "snapshot_list: %s is NULL",
                            list ? "count" : "list");
    int rc = qv_vm_enter(vm, QV_OP_SNAPSHOT_LIST, NULL);
    if (rc < 0)
        return rc;
    *list = NULL;
    *count = 0;
    rc = vm->conn->driver->snapshot_list ? vm->conn->driver->snapshot_list(vm, list, count)
                                         : qv_unsupported(vm->conn, "snapshot_list");
    qv_vm_leave(vm);
    return rc;
}

void snapshot_info_free(struct snapshot_info *list, size_t count)
{
    if (!list)
        return;
    for (size_t i = 0; i < count; i++)
        g_free(list[i].name);
    g_free(list);
}
