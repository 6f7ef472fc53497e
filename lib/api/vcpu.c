/* Public vCPU entry points. vCPU calls do not take the VM lock: vcpu_run
 * blocks for as long as the guest runs, and a vCPU is used by one thread at
 * a time by contract. */
#include <stddef.h>

#include "../util/error.h"
#include "internal.h"
#include "trace.h"

#define VDRV(v) ((v)->vm->conn->driver)

/* Called inside a traced entry, which has cleared the error slot. */
static int vcpu_check(struct vcpu *vcpu, const char *op)
{
    if (!vcpu)
        return qv_error_set(QV_ERR_INVALID_ARG, "%s: vCPU handle is NULL", op);
    if (g_atomic_int_get(&vcpu->vm->destroyed))
        return qv_error_set(QV_ERR_INVALID_STATE, "%s: VM '%s' has been destroyed", op,
                            vcpu->vm->name);
    return 0;
}

#define VCALL(vcpu, slot, ...)                                                                 \
    do {                                                                                       \
        int rc_ = vcpu_check(vcpu, #slot);                                                     \
        if (rc_ < 0)                                                                           \
            return rc_;                                                                        \
        if (!VDRV(vcpu)->slot)                                                                 \
            return qv_unsupported(vcpu->vm->conn, #slot);                                      \
        return VDRV(vcpu)->slot(vcpu, ##__VA_ARGS__);                                          \
    } while (0)

static struct vcpu *create_or_get(struct vm *vm, uint32_t id, bool create)
{
    if (qv_vm_enter(vm, QV_OP_VCPU, NULL) < 0)
        return NULL;
    struct vcpu *v = NULL;
    struct vcpu *(*slot)(struct vm *, uint32_t) =
        create ? vm->conn->driver->vcpu_create : vm->conn->driver->vcpu_get;
    if (slot)
        v = slot(vm, id);
    else
        qv_unsupported(vm->conn, create ? "vcpu_create" : "vm_get_vcpu");
    qv_vm_leave(vm);
    return v;
}

struct vcpu *vcpu_create(struct vm *vm, uint32_t vcpu_id)
{
    QV_API("VM '%s' vCPU %u", qv_trace_vm_name(vm), vcpu_id);
    return create_or_get(vm, vcpu_id, true);
}

int vm_add_vcpu(struct vm *vm, uint32_t vcpu_id)
{
    QV_API("VM '%s' vCPU %u", qv_trace_vm_name(vm), vcpu_id);
    return create_or_get(vm, vcpu_id, true) ? 0 : qv_error_code();
}

struct vcpu *vm_get_vcpu(struct vm *vm, uint32_t vcpu_id)
{
    QV_API("VM '%s' vCPU %u", qv_trace_vm_name(vm), vcpu_id);
    return create_or_get(vm, vcpu_id, false);
}

void vcpu_destroy(struct vcpu *vcpu)
{
    QV_API_VCPU(vcpu);
    if (vcpu_check(vcpu, "vcpu_destroy") < 0)
        return;
    struct vm *vm = vcpu->vm;
    g_rec_mutex_lock(&vm->lock);
    if (vm->conn->driver->vcpu_destroy)
        vm->conn->driver->vcpu_destroy(vcpu);
    else
        qv_unsupported(vm->conn, "vcpu_destroy");
    g_rec_mutex_unlock(&vm->lock);
}

uint32_t vcpu_get_id(struct vcpu *vcpu)
{
    return vcpu ? vcpu->id : 0;
}

int vcpu_reset(struct vcpu *vcpu, uint64_t boot_ip)
{
    QV_API_VCPU(vcpu);
    if (boot_ip > 0xfffff)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "boot address 0x%" G_GINT64_MODIFIER
                            "x is beyond what real mode can reach (0xfffff)",
                            boot_ip);
    VCALL(vcpu, vcpu_reset, boot_ip);
}

int vcpu_run(struct vcpu *vcpu)
{
    QV_API_VCPU(vcpu);
    VCALL(vcpu, vcpu_run);
}

int vcpu_step(struct vcpu *vcpu)
{
    QV_API_VCPU(vcpu);
    VCALL(vcpu, vcpu_step);
}

const struct vcpu_exit_info *vcpu_exit_info(struct vcpu *vcpu)
{
    QV_API_VCPU(vcpu);
    if (vcpu_check(vcpu, "vcpu_exit_info") < 0)
        return NULL;
    if (!VDRV(vcpu)->vcpu_exit_info) {
        qv_unsupported(vcpu->vm->conn, "vcpu_exit_info");
        return NULL;
    }
    return VDRV(vcpu)->vcpu_exit_info(vcpu);
}

void vcpu_kick(struct vcpu *vcpu)
{
    /* Called from other threads while vcpu_run blocks: no lock, no error
     * slot shared with the runner (errors are thread-local). */
    if (vcpu && VDRV(vcpu)->vcpu_kick)
        VDRV(vcpu)->vcpu_kick(vcpu);
}

int vcpu_get_regs(struct vcpu *vcpu, struct vcpu_regs *regs)
{
    QV_API_VCPU(vcpu);
    if (!regs)
        return qv_error_set(QV_ERR_INVALID_ARG, "vcpu_get_regs: regs is NULL");
    VCALL(vcpu, vcpu_get_regs, regs);
}

int vcpu_set_regs(struct vcpu *vcpu, const struct vcpu_regs *regs)
{
    QV_API_VCPU(vcpu);
    if (!regs)
        return qv_error_set(QV_ERR_INVALID_ARG, "vcpu_set_regs: regs is NULL");
    VCALL(vcpu, vcpu_set_regs, regs);
}

static uint64_t *reg_slot(struct vcpu_regs *r, enum vcpu_reg reg)
{
    static const size_t off[VCPU_REG_COUNT] = {
        [VCPU_REG_RAX] = offsetof(struct vcpu_regs, rax),
        [VCPU_REG_RBX] = offsetof(struct vcpu_regs, rbx),
        [VCPU_REG_RCX] = offsetof(struct vcpu_regs, rcx),
        [VCPU_REG_RDX] = offsetof(struct vcpu_regs, rdx),
        [VCPU_REG_RSI] = offsetof(struct vcpu_regs, rsi),
        [VCPU_REG_RDI] = offsetof(struct vcpu_regs, rdi),
        [VCPU_REG_RBP] = offsetof(struct vcpu_regs, rbp),
        [VCPU_REG_RSP] = offsetof(struct vcpu_regs, rsp),
        [VCPU_REG_R8] = offsetof(struct vcpu_regs, r8),
        [VCPU_REG_R9] = offsetof(struct vcpu_regs, r9),
        [VCPU_REG_R10] = offsetof(struct vcpu_regs, r10),
        [VCPU_REG_R11] = offsetof(struct vcpu_regs, r11),
        [VCPU_REG_R12] = offsetof(struct vcpu_regs, r12),
        [VCPU_REG_R13] = offsetof(struct vcpu_regs, r13),
        [VCPU_REG_R14] = offsetof(struct vcpu_regs, r14),
        [VCPU_REG_R15] = offsetof(struct vcpu_regs, r15),
        [VCPU_REG_RIP] = offsetof(struct vcpu_regs, rip),
        [VCPU_REG_RFLAGS] = offsetof(struct vcpu_regs, rflags),
    };
    if ((unsigned)reg >= VCPU_REG_COUNT)
        return NULL;
    return (uint64_t *)((char *)r + off[reg]);
}

uint64_t vcpu_get_reg(struct vcpu *vcpu, enum vcpu_reg reg)
{
    QV_API_VCPU(vcpu);
    struct vcpu_regs r;
    if (!reg_slot(&r, reg)) {
        qv_error_set(QV_ERR_INVALID_ARG, "unknown register %d", (int)reg);
        return 0;
    }
    if (vcpu_get_regs(vcpu, &r) < 0)
        return 0;
    return *reg_slot(&r, reg);
}

void vcpu_set_reg(struct vcpu *vcpu, enum vcpu_reg reg, uint64_t value)
{
    QV_API_VCPU(vcpu);
    struct vcpu_regs r;
    if (!reg_slot(&r, reg)) {
        qv_error_set(QV_ERR_INVALID_ARG, "unknown register %d", (int)reg);
        return;
    }
    if (vcpu_get_regs(vcpu, &r) < 0)
        return;
    *reg_slot(&r, reg) = value;
    vcpu_set_regs(vcpu, &r);
}

int vcpu_get_sregs(struct vcpu *vcpu, struct vcpu_sregs *sregs)
{
    QV_API_VCPU(vcpu);
    if (!sregs)
        return qv_error_set(QV_ERR_INVALID_ARG, "vcpu_get_sregs: sregs is NULL");
    VCALL(vcpu, vcpu_get_sregs, sregs);
}

int vcpu_set_sregs(struct vcpu *vcpu, const struct vcpu_sregs *sregs)
{
    QV_API_VCPU(vcpu);
    if (!sregs)
        return qv_error_set(QV_ERR_INVALID_ARG, "vcpu_set_sregs: sregs is NULL");
    VCALL(vcpu, vcpu_set_sregs, sregs);
}

int vcpu_get_msr(struct vcpu *vcpu, uint32_t index, uint64_t *value)
{
    QV_API_VCPU(vcpu);
    if (!value)
        return qv_error_set(QV_ERR_INVALID_ARG, "vcpu_get_msr: value is NULL");
    VCALL(vcpu, vcpu_get_msr, index, value);
}

int vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value)
{
    QV_API_VCPU(vcpu);
    VCALL(vcpu, vcpu_set_msr, index, value);
}

int vcpu_queue_interrupt(struct vcpu *vcpu, uint8_t vector)
{
    QV_API_VCPU(vcpu);
    if (vector < 32) {
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "vector %u is an exception vector; use vcpu_queue_exception", vector);
    }
    VCALL(vcpu, vcpu_queue_interrupt, vector);
}

/* Vectors whose exceptions push an error code (SDM vol. 3, 6.13). */
static bool pushes_error_code(uint8_t v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

int vcpu_queue_exception(struct vcpu *vcpu, uint8_t vector, uint32_t error_code)
{
    QV_API_VCPU(vcpu);
    if (vector >= 32) {
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "vector %u is not an exception (0-31); use vcpu_queue_interrupt",
                            vector);
    }
    if (vector == 2)
        VCALL(vcpu, vcpu_queue_nmi);
    VCALL(vcpu, vcpu_queue_exception, vector, pushes_error_code(vector), error_code);
}

int vcpu_queue_nmi(struct vcpu *vcpu)
{
    QV_API_VCPU(vcpu);
    VCALL(vcpu, vcpu_queue_nmi);
}

int vcpu_inject_gp(struct vcpu *vcpu, uint32_t ec)
{
    QV_API_VCPU(vcpu);
    return vcpu_queue_exception(vcpu, 13, ec);
}

int vcpu_inject_ud(struct vcpu *vcpu)
{
    QV_API_VCPU(vcpu);
    return vcpu_queue_exception(vcpu, 6, 0);
}

int vcpu_inject_pf(struct vcpu *vcpu, uint64_t fault_addr, uint32_t ec)
{
    QV_API_VCPU(vcpu);
    struct vcpu_sregs s;
    int rc = vcpu_get_sregs(vcpu, &s);
    if (rc < 0)
        return rc;
    s.cr2 = fault_addr;
    rc = vcpu_set_sregs(vcpu, &s);
    if (rc < 0)
        return rc;
    return vcpu_queue_exception(vcpu, 14, ec);
}
