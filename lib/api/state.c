#include "state.h"

#include "../util/error.h"

#define C (1u << VM_STATE_CREATED)
#define R (1u << VM_STATE_RUNNING)
#define P (1u << VM_STATE_PAUSED)
#define S (1u << VM_STATE_STOPPED)
#define M (1u << VM_STATE_MIGRATING)

static const struct {
    const char *verb;
    unsigned allowed; /* bit set of states */
} table[QV_OP_COUNT] = {
    [QV_OP_START] = { "start", C | S },
    [QV_OP_STOP] = { "stop", R | P },
    [QV_OP_PAUSE] = { "pause", R },
    [QV_OP_RESUME] = { "resume", P },
    [QV_OP_RESET] = { "reset", R | P },
    [QV_OP_DESTROY] = { "destroy", C | R | P | S | M },
    [QV_OP_SNAPSHOT_CREATE] = { "take a snapshot of", C | R | P | S },
    [QV_OP_SNAPSHOT_RESTORE] = { "restore a snapshot of", C | R | P | S },
    [QV_OP_SNAPSHOT_DELETE] = { "delete a snapshot of", C | R | P | S },
    [QV_OP_SNAPSHOT_LIST] = { "list the snapshots of", C | R | P | S | M },
    [QV_OP_CLONE] = { "clone", C | R | P | S },
    [QV_OP_SET] = { "change the settings of", C | R | P | S },
    [QV_OP_MEMORY] = { "access the memory of", C | R | P | S },
    [QV_OP_VCPU] = { "use the vCPUs of", C | R | P | S },
    [QV_OP_CONSOLE] = { "reach the console of", C | R | P | S },
    [QV_OP_GUEST_IP] = { "find the address of", R | P },
    [QV_OP_WAIT] = { "wait for", C | R | P | S | M },
};

const char *qv_op_verb(enum qv_op op)
{
    return op < QV_OP_COUNT ? table[op].verb : "operate on";
}

bool qv_op_allowed(enum qv_op op, enum vm_state state)
{
    if (op >= QV_OP_COUNT || (unsigned)state > VM_STATE_DESTROYED)
        return false;
    return table[op].allowed & (1u << state);
}

int qv_op_check(enum qv_op op, enum vm_state state, const char *vm_name)
{
    if (qv_op_allowed(op, state))
        return 0;
    if (state == VM_STATE_DESTROYED)
        return qv_error_set(QV_ERR_INVALID_STATE, "cannot %s VM '%s': it has been destroyed",
                            qv_op_verb(op), vm_name);
    return qv_error_set(QV_ERR_INVALID_STATE, "cannot %s VM '%s': it is %s", qv_op_verb(op),
                        vm_name, vm_state_name(state));
}

const char *vm_state_name(enum vm_state state)
{
    switch (state) {
    case VM_STATE_CREATED: return "created";
    case VM_STATE_RUNNING: return "running";
    case VM_STATE_PAUSED: return "paused";
    case VM_STATE_STOPPED: return "stopped";
    case VM_STATE_MIGRATING: return "migrating";
    case VM_STATE_DESTROYED: return "destroyed";
    }
    return "unknown";
}

const char *vm_state_reason_name(enum vm_state_reason reason)
{
    switch (reason) {
    case VM_REASON_NONE: return "none";
    case VM_REASON_USER: return "user";
    case VM_REASON_SHUTDOWN: return "shutdown";
    case VM_REASON_CRASHED: return "crashed";
    case VM_REASON_FAILED: return "failed";
    case VM_REASON_RESET: return "reset";
    }
    return "unknown";
}
