/* vCPU and in-kernel device state from and to KVM, for snapshots. The
 * restore order follows what KVM checks on each set: special registers
 * (CR0/CR4/EFER, the APIC base) before the registers and FPU that depend on
 * them, the LAPIC before the MSRs that reach into it, and pending events
 * last, once the state they are injected into is in place. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../../lib/util/error.h"
#include "snap_vcpu.h"

static int fail(const char *ioctl_name, uint32_t index, int err)
{
    if (index == UINT32_MAX)
        return qv_error_set_errno(QV_ERR_KVM, err, "%s", ioctl_name);
    return qv_error_set_errno(QV_ERR_KVM, err, "vCPU %u: %s", index, ioctl_name);
}

#define VCPU_IOCTL(fd, req, arg, index)                                                            \
    do {                                                                                           \
        if (ioctl((fd), (req), (arg)) < 0)                                                         \
            return fail(#req, (index), errno);                                                     \
    } while (0)

/* Every MSR KVM lists for this host and can read on this vCPU: one that a
 * KVM_GET_MSRS batch stops at is left out and the rest read on. */
static int get_msrs(int sys_fd, int vcpu_fd, uint32_t index, struct snap_vcpu *v)
{
    struct kvm_msr_list probe = {.nmsrs = 0};
    if (ioctl(sys_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
        return fail("KVM_GET_MSR_INDEX_LIST", index, errno);
    uint32_t n = MIN(probe.nmsrs, (uint32_t)SNAP_VCPU_MSRS_MAX);
    g_autofree struct kvm_msr_list *list =
        g_malloc0(sizeof *list + (size_t)probe.nmsrs * sizeof(list->indices[0]));
    list->nmsrs = probe.nmsrs;
    if (probe.nmsrs && ioctl(sys_fd, KVM_GET_MSR_INDEX_LIST, list) < 0)
        return fail("KVM_GET_MSR_INDEX_LIST", index, errno);
    g_autofree struct kvm_msrs *req =
        g_malloc0(sizeof *req + SNAP_VCPU_MSRS_MAX * sizeof(req->entries[0]));
    v->nmsrs = 0;
    for (uint32_t at = 0; at < n;) {
        req->nmsrs = n - at;
        for (uint32_t i = 0; i < req->nmsrs; i++)
            req->entries[i] = (struct kvm_msr_entry){.index = list->indices[at + i]};
        int got = ioctl(vcpu_fd, KVM_GET_MSRS, req);
        if (got < 0)
            return fail("KVM_GET_MSRS", index, errno);
        for (int i = 0; i < got; i++)
            v->msrs[v->nmsrs++] = req->entries[i];
        /* Entry `got` could not be read here (a feature this CPU model
         * lacks): skip it. */
        at += (uint32_t)got + ((uint32_t)got < req->nmsrs ? 1 : 0);
    }
    return 0;
}

int kvm_state_vcpu_get(int sys_fd, int vm_fd, int vcpu_fd, uint32_t index, bool lapic,
                       struct snap_vcpu *v)
{
    memset(v, 0, sizeof *v);
    int rc = 0;
    if (ioctl(vcpu_fd, KVM_GET_REGS, &v->regs) < 0)
        rc = fail("KVM_GET_REGS", index, errno);
    else if (ioctl(vcpu_fd, KVM_GET_SREGS, &v->sregs) < 0)
        rc = fail("KVM_GET_SREGS", index, errno);
    if (rc == 0) {
        int xsave2 = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
        if (xsave2 > 0 && xsave2 <= SNAP_XSAVE_MAX && (size_t)xsave2 >= sizeof(struct kvm_xsave)) {
            v->xsave_len = (uint32_t)xsave2;
            v->xsave = g_malloc0(v->xsave_len);
            v->has_xsave = true;
            if (ioctl(vcpu_fd, KVM_GET_XSAVE2, v->xsave) < 0)
                rc = fail("KVM_GET_XSAVE2", index, errno);
        } else if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0) {
            v->xsave_len = sizeof(struct kvm_xsave);
            v->xsave = g_malloc0(v->xsave_len);
            v->has_xsave = true;
            if (ioctl(vcpu_fd, KVM_GET_XSAVE, v->xsave) < 0)
                rc = fail("KVM_GET_XSAVE", index, errno);
        } else if (ioctl(vcpu_fd, KVM_GET_FPU, &v->fpu) < 0) {
            rc = fail("KVM_GET_FPU", index, errno);
        }
    }
    if (rc == 0 && ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
        v->has_xcrs = true;
        if (ioctl(vcpu_fd, KVM_GET_XCRS, &v->xcrs) < 0)
            rc = fail("KVM_GET_XCRS", index, errno);
    }
    if (rc == 0)
        rc = get_msrs(sys_fd, vcpu_fd, index, v);
    /* A vm_create machine has no in-kernel LAPIC: KVM refuses the call. */
    if (rc == 0 && lapic && ioctl(vcpu_fd, KVM_GET_LAPIC, &v->lapic) < 0)
        rc = fail("KVM_GET_LAPIC", index, errno);
    if (rc == 0 && ioctl(vcpu_fd, KVM_GET_MP_STATE, &v->mp_state) < 0)
        rc = fail("KVM_GET_MP_STATE", index, errno);
    if (rc == 0 && ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &v->events) < 0)
        rc = fail("KVM_GET_VCPU_EVENTS", index, errno);
    if (rc == 0 && ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &v->debugregs) < 0)
        rc = fail("KVM_GET_DEBUGREGS", index, errno);
    if (rc == 0) {
        int khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
        v->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
    }
    if (rc < 0)
        snap_vcpu_clear(v);
    return rc;
}

/* KVM_SET_MSRS stops at the first MSR it refuses. One that already holds
 * the snapshot's value needs no setting (a vm_create machine's async-PF
 * interrupt MSR reads 0 but cannot be written without an in-kernel LAPIC);
 * any other refusal fails the restore. */
static int set_msrs(int vcpu_fd, uint32_t index, const struct snap_vcpu *v)
{
    g_autofree struct kvm_msrs *msrs =
        g_malloc0(sizeof *msrs + (size_t)v->nmsrs * sizeof(msrs->entries[0]));
    for (uint32_t at = 0; at < v->nmsrs;) {
        msrs->nmsrs = v->nmsrs - at;
        memcpy(msrs->entries, v->msrs + at, (size_t)msrs->nmsrs * sizeof(msrs->entries[0]));
        int set = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
        if (set < 0)
            return fail("KVM_SET_MSRS", index, errno);
        at += (uint32_t)set;
        if (at == v->nmsrs)
            break;
        g_autofree struct kvm_msrs *now = g_malloc0(sizeof *now + sizeof(now->entries[0]));
        now->nmsrs = 1;
        now->entries[0].index = v->msrs[at].index;
        if (ioctl(vcpu_fd, KVM_GET_MSRS, now) != 1 || now->entries[0].data != v->msrs[at].data)
            return qv_error_set(QV_ERR_KVM,
                                "vCPU %u: KVM refused MSR 0x%x = 0x%llx of the snapshot "
                                "(KVM_SET_MSRS); was it taken on another CPU model?",
                                index, v->msrs[at].index, (unsigned long long)v->msrs[at].data);
        at++;
    }
    return 0;
}

int kvm_state_vcpu_set(int vm_fd, int vcpu_fd, uint32_t index, bool lapic,
                       const struct snap_vcpu *v)
{
    if (v->tsc_khz) {
        int khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
        /* A guest's clocks run at the rate it calibrated: a host that
         * cannot scale to it would run them fast or slow. */
        if (khz > 0 && (uint32_t)khz != v->tsc_khz &&
            ioctl(vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)v->tsc_khz) < 0)
            return qv_error_set_errno(QV_ERR_KVM, errno,
                                      "vCPU %u: the snapshot's TSC runs at %u kHz, this host's "
                                      "at %d kHz, and KVM cannot scale it (KVM_SET_TSC_KHZ)",
                                      index, v->tsc_khz, khz);
    }
    VCPU_IOCTL(vcpu_fd, KVM_SET_MP_STATE, &v->mp_state, index);
    VCPU_IOCTL(vcpu_fd, KVM_SET_SREGS, &v->sregs, index);
    VCPU_IOCTL(vcpu_fd, KVM_SET_REGS, &v->regs, index);
    if (v->has_xsave) {
        /* KVM_SET_XSAVE reads as many bytes as KVM_CAP_XSAVE2 says this
         * host's area has, whatever the snapshot's size. */
        int host = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
        uint32_t len = host > 0 ? (uint32_t)host : (uint32_t)sizeof(struct kvm_xsave);
        if (v->xsave_len > len)
            return qv_error_set(QV_ERR_KVM,
                                "vCPU %u: the snapshot's XSAVE area is %u bytes, this host's "
                                "%u (features enabled there are not here)",
                                index, v->xsave_len, len);
        g_autofree uint8_t *area = g_malloc0(len);
        memcpy(area, v->xsave, v->xsave_len);
        VCPU_IOCTL(vcpu_fd, KVM_SET_XSAVE, area, index);
    } else
        VCPU_IOCTL(vcpu_fd, KVM_SET_FPU, &v->fpu, index);
    if (v->has_xcrs)
        VCPU_IOCTL(vcpu_fd, KVM_SET_XCRS, &v->xcrs, index);
    VCPU_IOCTL(vcpu_fd, KVM_SET_DEBUGREGS, &v->debugregs, index);
    if (lapic)
        VCPU_IOCTL(vcpu_fd, KVM_SET_LAPIC, &v->lapic, index);
    if (set_msrs(vcpu_fd, index, v) < 0)
        return qv_error_code();
    /* GET never reports these flags, yet SET ignores the NMI-pending and
     * SIPI fields without them (QEMU sets both too). */
    struct kvm_vcpu_events ev = v->events;
    ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    VCPU_IOCTL(vcpu_fd, KVM_SET_VCPU_EVENTS, &ev, index);
    return 0;
}

int kvm_state_vm_get(int vm_fd, struct snap_vm *s)
{
    memset(s, 0, sizeof *s);
    for (uint32_t i = 0; i < G_N_ELEMENTS(s->chips); i++) {
        s->chips[i].chip_id = i;
        VCPU_IOCTL(vm_fd, KVM_GET_IRQCHIP, &s->chips[i], UINT32_MAX);
    }
    s->has_pit = ioctl(vm_fd, KVM_GET_PIT2, &s->pit) == 0;
    VCPU_IOCTL(vm_fd, KVM_GET_CLOCK, &s->clock, UINT32_MAX);
    return 0;
}

int kvm_state_vm_set(int vm_fd, const struct snap_vm *s)
{
    for (uint32_t i = 0; i < G_N_ELEMENTS(s->chips); i++)
        VCPU_IOCTL(vm_fd, KVM_SET_IRQCHIP, &s->chips[i], UINT32_MAX);
    if (s->has_pit)
        VCPU_IOCTL(vm_fd, KVM_SET_PIT2, &s->pit, UINT32_MAX);
    /* The guest's clock goes on from where it was, not from the host's
     * wall time: only the value is set. */
    struct kvm_clock_data c = {.clock = s->clock.clock};
    VCPU_IOCTL(vm_fd, KVM_SET_CLOCK, &c, UINT32_MAX);
    return 0;
}
