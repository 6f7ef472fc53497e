/* Public snapshot entry points. */
#include "../util/error.h"
#include "../util/names.h"
#include "internal.h"
#include "trace.h"

static int named_op(struct vm *vm, enum qv_op op, const char *name,
                    int (*slot)(struct vm *, const char *), const char *what)
{
    int rc = qv_vm_enter(vm, op, NULL);
    if (rc < 0)
        return rc;
    if (!qv_name_check(name, "snapshot"))
        rc = qv_error_code();
    else if (!slot)
        rc = qv_unsupported(vm->conn, what);
    else
        rc = slot(vm, name);
    qv_vm_leave(vm);
    return rc;
}

int snapshot_create(struct vm *vm, const char *name, unsigned flags)
{
    QV_API_VM(vm);
    int rc = qv_vm_enter(vm, QV_OP_SNAPSHOT_CREATE, NULL);
    if (rc < 0)
        return rc;
    if (flags & ~SNAPSHOT_DISK_ONLY)
        rc = qv_error_set(QV_ERR_INVALID_ARG, "snapshot_create: unknown flags 0x%x", flags);
    else if (!qv_name_check(name, "snapshot"))
        rc = qv_error_code();
    else if (!vm->conn->driver->snapshot_create)
        rc = qv_unsupported(vm->conn, "snapshot_create");
    else
        rc = vm->conn->driver->snapshot_create(vm, name, flags);
    qv_vm_leave(vm);
    return rc;
}

int snapshot_restore(struct vm *vm, const char *name)
{
    QV_API_VM(vm);
    return named_op(vm, QV_OP_SNAPSHOT_RESTORE, name, vm ? vm->conn->driver->snapshot_restore : NULL,
                    "snapshot_restore");
}

int snapshot_delete(struct vm *vm, const char *name)
{
    QV_API_VM(vm);
    return named_op(vm, QV_OP_SNAPSHOT_DELETE, name, vm ? vm->conn->driver->snapshot_delete : NULL,
                    "snapshot_delete");
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
