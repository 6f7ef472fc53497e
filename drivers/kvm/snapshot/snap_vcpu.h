/* What a snapshot keeps of each vCPU and of the in-kernel devices, as KVM
 * gives them (its ioctl structs, a stable ABI), and how they become
 * snapshot sections. snap_vcpu.c turns them into bytes and back, checking
 * every size and count a damaged file could get wrong; kvm_state.c reads
 * them from and writes them to KVM. */
#ifndef QV_KVM_SNAP_VCPU_H
#define QV_KVM_SNAP_VCPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "snap_buf.h"

#define SNAP_VCPU_VERSION 1
#define SNAP_VM_VERSION 1
/* KVM's own bound on MSRs per KVM_GET_MSRS call (KVM_MAX_MSR_ENTRIES). */
#define SNAP_VCPU_MSRS_MAX 256
/* XSAVE areas beyond 4 KiB carry dynamically enabled features (AMX);
 * KVM_CAP_XSAVE2 says how big this host's is. */
#define SNAP_XSAVE_MAX (64 * 1024)

struct snap_vcpu {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    /* The XSAVE area where KVM has KVM_CAP_XSAVE (it holds the FPU and
     * more), else the legacy FPU state. */
    bool has_xsave;
    uint32_t xsave_len;
    uint8_t *xsave; /* g_malloc'd, xsave_len bytes */
    struct kvm_fpu fpu;
    bool has_xcrs;
    struct kvm_xcrs xcrs;
    uint32_t nmsrs;
    struct kvm_msr_entry msrs[SNAP_VCPU_MSRS_MAX];
    struct kvm_lapic_state lapic;
    struct kvm_mp_state mp_state;
    struct kvm_vcpu_events events;
    struct kvm_debugregs debugregs;
    uint32_t tsc_khz; /* 0: unknown, leave the host's */
};

/* The in-kernel irqchip (PIC master, PIC slave, IOAPIC), PIT and kvmclock. */
struct snap_vm {
    struct kvm_irqchip chips[3];
    bool has_pit;
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
};

void snap_vcpu_clear(struct snap_vcpu *v);

/* The section "vcpuN" for vCPU index. */
struct snap_section *snap_vcpu_section(uint32_t index, const struct snap_vcpu *v);
/* Fill v from a "vcpuN" section of the given version; on failure sets the
 * qv error naming the section and field, and v holds nothing to free. */
int snap_vcpu_load(struct snap_vcpu *v, const char *name, uint32_t version, const void *data,
                   size_t len);

/* The section "kvm-vm". */
struct snap_section *snap_vm_section(const struct snap_vm *s);
int snap_vm_load(struct snap_vm *s, uint32_t version, const void *data, size_t len);

/* kvm_state.c: from and to KVM. vcpu_fd and vm_fd are KVM's; sys_fd is
 * /dev/kvm's (for the MSR index list). Each fails with QV_ERR_KVM naming
 * the ioctl and the vCPU. lapic: the VM has the in-kernel irqchip (a
 * vm_create machine has none, and its vCPUs' LAPIC state stays zero). */
int kvm_state_vcpu_get(int sys_fd, int vm_fd, int vcpu_fd, uint32_t index, bool lapic,
                       struct snap_vcpu *v);
int kvm_state_vcpu_set(int vm_fd, int vcpu_fd, uint32_t index, bool lapic,
                       const struct snap_vcpu *v);
int kvm_state_vm_get(int vm_fd, struct snap_vm *s);
int kvm_state_vm_set(int vm_fd, const struct snap_vm *s);

#endif
