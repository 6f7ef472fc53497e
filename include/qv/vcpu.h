/* libqv — register-level vCPU access.
 *
 * Available on drivers that run guests in the calling process (kvm:///embed)
 * and on the noop driver, which simulates registers. Other drivers return
 * QV_ERR_UNSUPPORTED. A vCPU belongs to its VM and must be used by one
 * thread at a time (vcpu_kick() excepted).
 */
#ifndef QV_VCPU_H
#define QV_VCPU_H

#include <stdint.h>

#include "vm.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

struct vcpu_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
};

enum vcpu_reg {
    VCPU_REG_RAX,
    VCPU_REG_RBX,
    VCPU_REG_RCX,
    VCPU_REG_RDX,
    VCPU_REG_RSI,
    VCPU_REG_RDI,
    VCPU_REG_RBP,
    VCPU_REG_RSP,
    VCPU_REG_R8,
    VCPU_REG_R9,
    VCPU_REG_R10,
    VCPU_REG_R11,
    VCPU_REG_R12,
    VCPU_REG_R13,
    VCPU_REG_R14,
    VCPU_REG_R15,
    VCPU_REG_RIP,
    VCPU_REG_RFLAGS,
    VCPU_REG_COUNT
};

struct vcpu_segment {
    uint64_t base;
    uint32_t limit;
    uint16_t selector;
    uint8_t type, present, dpl, db, s, l, g, avl, unusable;
};

struct vcpu_dtable {
    uint64_t base;
    uint16_t limit;
};

struct vcpu_sregs {
    struct vcpu_segment cs, ds, es, fs, gs, ss, tr, ldt;
    struct vcpu_dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

/* Why vcpu_run() returned. */
enum vcpu_exit {
    VCPU_EXIT_IO,             /* port I/O no device of the VM handled */
    VCPU_EXIT_MMIO,           /* MMIO no device of the VM handled */
    VCPU_EXIT_HLT,            /* the guest executed HLT */
    VCPU_EXIT_SHUTDOWN,       /* the guest stopped: see shutdown.reason */
    VCPU_EXIT_DEBUG,          /* single-step or breakpoint */
    VCPU_EXIT_INTR,           /* vcpu_kick() or a signal interrupted the run */
    VCPU_EXIT_SYSTEM_EVENT,   /* the hypervisor reported a system event */
    VCPU_EXIT_INTERNAL_ERROR, /* the hypervisor could not continue */
};

enum vcpu_io_direction { VCPU_IO_IN = 0, VCPU_IO_OUT = 1 };

enum vcpu_shutdown_reason {
    VCPU_SHUTDOWN_TRIPLE_FAULT, /* the CPU shut down (triple fault) */
    VCPU_SHUTDOWN_RESET,        /* the guest asked for a reset (i8042 0xFE) */
    VCPU_SHUTDOWN_POWEROFF,     /* ACPI S5 */
    VCPU_SHUTDOWN_DEBUG_EXIT,   /* isa-debug-exit; see exit_status */
};

struct vcpu_exit_info {
    enum vcpu_exit reason;
    union {
        struct {
            uint16_t port;
            uint8_t size;      /* bytes per access: 1, 2 or 4 */
            uint8_t direction; /* enum vcpu_io_direction */
            uint32_t count;    /* accesses (string I/O) */
            uint8_t *data;     /* size*count bytes; fill it in for IN */
        } io;
        struct {
            uint64_t addr;
            uint32_t len;
            uint8_t is_write;
            uint8_t *data; /* len bytes; fill it in for a read */
        } mmio;
        struct {
            uint32_t reason;  /* enum vcpu_shutdown_reason */
            int exit_status; /* for DEBUG_EXIT: (value << 1) | 1 */
        } shutdown;
        struct {
            uint32_t exception;
            uint64_t pc, dr6, dr7;
        } debug;
        struct {
            uint32_t type;
            uint64_t data;
        } system_event;
        struct {
            uint32_t suberror;
        } internal;
    };
};

/* Create vCPU vcpu_id on vm (0 <= id < max_vcpus). It starts in the
 * architectural reset state. Errors: QV_ERR_INVALID_ARG, QV_ERR_EXISTS,
 * QV_ERR_UNSUPPORTED, QV_ERR_INVALID_STATE when the VM is destroyed. */
struct vcpu *vcpu_create(struct vm *vm, uint32_t vcpu_id);
/* Remove a vCPU created with vcpu_create() or vm_add_vcpu(). */
void vcpu_destroy(struct vcpu *vcpu);
/* Its id. */
uint32_t vcpu_get_id(struct vcpu *vcpu);
/* Architectural reset state in real mode, with CS:IP chosen so that the
 * first instruction fetched is at physical address boot_ip. */
int vcpu_reset(struct vcpu *vcpu, uint64_t boot_ip);
/* Enter the guest until an exit the VM's devices do not handle. Returns an
 * enum vcpu_exit (>= 0) or a negative QV_ERR_*. */
int vcpu_run(struct vcpu *vcpu);
/* Details of the last exit, valid until the next vcpu_run(). */
const struct vcpu_exit_info *vcpu_exit_info(struct vcpu *vcpu);
/* Make a vcpu_run() in another thread return VCPU_EXIT_INTR soon. */
void vcpu_kick(struct vcpu *vcpu);
/* Execute exactly one guest instruction; returns VCPU_EXIT_DEBUG or the exit
 * that instruction caused. */
int vcpu_step(struct vcpu *vcpu);

int vcpu_get_regs(struct vcpu *vcpu, struct vcpu_regs *regs);
int vcpu_set_regs(struct vcpu *vcpu, const struct vcpu_regs *regs);
/* One register; vcpu_get_reg() returns 0 and sets the error on failure. */
uint64_t vcpu_get_reg(struct vcpu *vcpu, enum vcpu_reg reg);
void vcpu_set_reg(struct vcpu *vcpu, enum vcpu_reg reg, uint64_t value);
int vcpu_get_sregs(struct vcpu *vcpu, struct vcpu_sregs *sregs);
int vcpu_set_sregs(struct vcpu *vcpu, const struct vcpu_sregs *sregs);
int vcpu_get_msr(struct vcpu *vcpu, uint32_t index, uint64_t *value);
int vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value);

/* Event injection, delivered on the next guest entry. */
int vcpu_queue_interrupt(struct vcpu *vcpu, uint8_t vector);
int vcpu_queue_exception(struct vcpu *vcpu, uint8_t vector, uint32_t error_code);
int vcpu_queue_nmi(struct vcpu *vcpu);
int vcpu_inject_gp(struct vcpu *vcpu, uint32_t error_code);
int vcpu_inject_ud(struct vcpu *vcpu);
/* A page fault at fault_addr; CR2 is set to it. */
int vcpu_inject_pf(struct vcpu *vcpu, uint64_t fault_addr, uint32_t error_code);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
