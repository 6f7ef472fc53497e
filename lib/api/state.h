/* The QuantaVirt transition table: which operation each state allows. Every
 * public entry point consults it before a driver runs, so drivers agree. */
#ifndef QV_API_STATE_H
#define QV_API_STATE_H

#include <stdbool.h>

#include "../../include/qv/vm.h"

enum qv_op {
    QV_OP_START,
    QV_OP_STOP,
    QV_OP_PAUSE,
    QV_OP_RESUME,
    QV_OP_RESET,
    QV_OP_DESTROY,
    QV_OP_SNAPSHOT_CREATE,
    QV_OP_SNAPSHOT_RESTORE,
    QV_OP_SNAPSHOT_DELETE,
    QV_OP_SNAPSHOT_LIST,
    QV_OP_CLONE,
    QV_OP_SET,
    QV_OP_MEMORY,
    QV_OP_VCPU,
    QV_OP_CONSOLE,
    QV_OP_GUEST_IP,
    QV_OP_WAIT,
    QV_OP_COUNT
};

/* The verb for messages: "pause", "take a snapshot of", ... */
const char *qv_op_verb(enum qv_op op);
bool qv_op_allowed(enum qv_op op, enum vm_state state);
/* Sets QV_ERR_INVALID_STATE ("cannot pause VM 'web01': it is stopped") and
 * returns it when the table refuses; 0 otherwise. */
int qv_op_check(enum qv_op op, enum vm_state state, const char *vm_name);

#endif
