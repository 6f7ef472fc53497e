#include "snap_vcpu.h"

#include <string.h>

#include "../../../lib/util/error.h"

/* KVM's structs go in as they are (x86-64 only, so their layout and byte
 * order are fixed), each with its length so a file from a host whose
 * headers grew a struct is refused by name rather than misread. */
static void put_struct(struct snap_out *o, const void *p, uint32_t len)
{
    snap_put_blob(o, p, len);
}

static void get_struct(struct snap_in *in, const char *field, void *p, uint32_t len)
{
    uint32_t n;
    const void *src = snap_get_blob(in, field, len, &n);
    if (src && n == len) {
        memcpy(p, src, len);
        return;
    }
    memset(p, 0, len);
    if (snap_in_ok(in))
        snap_in_fail(in, "'%s' is %u bytes, this host's KVM has %u", field, n, len);
}

void snap_vcpu_clear(struct snap_vcpu *v)
{
    g_free(v->xsave);
    memset(v, 0, sizeof *v);
}

struct snap_section *snap_vcpu_section(uint32_t index, const struct snap_vcpu *v)
{
    struct snap_out o;
    snap_out_init(&o);
    put_struct(&o, &v->regs, sizeof v->regs);
    put_struct(&o, &v->sregs, sizeof v->sregs);
    snap_put_u8(&o, v->has_xsave);
    if (v->has_xsave)
        snap_put_blob(&o, v->xsave, v->xsave_len);
    else
        put_struct(&o, &v->fpu, sizeof v->fpu);
    snap_put_u8(&o, v->has_xcrs);
    if (v->has_xcrs)
        put_struct(&o, &v->xcrs, sizeof v->xcrs);
    snap_put_u32(&o, v->nmsrs);
    for (uint32_t i = 0; i < v->nmsrs && i < SNAP_VCPU_MSRS_MAX; i++) {
        snap_put_u32(&o, v->msrs[i].index);
        snap_put_u64(&o, v->msrs[i].data);
    }
    put_struct(&o, &v->lapic, sizeof v->lapic);
    put_struct(&o, &v->mp_state, sizeof v->mp_state);
    put_struct(&o, &v->events, sizeof v->events);
    put_struct(&o, &v->debugregs, sizeof v->debugregs);
    snap_put_u32(&o, v->tsc_khz);
    g_autofree char *name = g_strdup_printf("vcpu%u", index);
    struct snap_section *s = snap_section_new(name, SNAP_VCPU_VERSION, &o);
    snap_out_clear(&o);
    return s;
}

int snap_vcpu_load(struct snap_vcpu *v, const char *name, uint32_t version, const void *data,
                   size_t len)
{
    memset(v, 0, sizeof *v);
    if (version != SNAP_VCPU_VERSION)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "snapshot section '%s' is version %u; this libqv reads version %u",
                            name, version, SNAP_VCPU_VERSION);
    struct snap_in in;
    snap_in_init(&in, name, data, len);
    get_struct(&in, "regs", &v->regs, sizeof v->regs);
    get_struct(&in, "sregs", &v->sregs, sizeof v->sregs);
    uint8_t has_xsave = snap_get_u8(&in, "has_xsave");
    if (has_xsave > 1)
        snap_in_fail(&in, "has_xsave is %u, not 0 or 1", has_xsave);
    v->has_xsave = has_xsave == 1;
    if (v->has_xsave) {
        uint32_t n;
        const void *p = snap_get_blob(&in, "xsave", SNAP_XSAVE_MAX, &n);
        if (p && n < sizeof(struct kvm_xsave))
            snap_in_fail(&in, "'xsave' is %u bytes, fewer than the %zu of KVM's smallest", n,
                         sizeof(struct kvm_xsave));
        else if (p) {
            v->xsave = g_memdup2(p, n);
            v->xsave_len = n;
        }
    } else {
        get_struct(&in, "fpu", &v->fpu, sizeof v->fpu);
    }
    uint8_t has_xcrs = snap_get_u8(&in, "has_xcrs");
    if (has_xcrs > 1)
        snap_in_fail(&in, "has_xcrs is %u, not 0 or 1", has_xcrs);
    v->has_xcrs = has_xcrs == 1;
    if (v->has_xcrs) {
        get_struct(&in, "xcrs", &v->xcrs, sizeof v->xcrs);
        if (snap_in_ok(&in) && v->xcrs.nr_xcrs > KVM_MAX_XCRS)
            snap_in_fail(&in, "%u XCRs, more than KVM's %u", v->xcrs.nr_xcrs, KVM_MAX_XCRS);
    }
    v->nmsrs = snap_get_u32(&in, "nmsrs");
    if (v->nmsrs > SNAP_VCPU_MSRS_MAX) {
        snap_in_fail(&in, "%u MSRs, more than the %u a snapshot may hold", v->nmsrs,
                     SNAP_VCPU_MSRS_MAX);
        v->nmsrs = 0;
    }
    for (uint32_t i = 0; i < v->nmsrs; i++) {
        v->msrs[i].index = snap_get_u32(&in, "msr index");
        v->msrs[i].data = snap_get_u64(&in, "msr value");
    }
    get_struct(&in, "lapic", &v->lapic, sizeof v->lapic);
    get_struct(&in, "mp_state", &v->mp_state, sizeof v->mp_state);
    if (snap_in_ok(&in) && v->mp_state.mp_state > KVM_MP_STATE_SUSPENDED)
        snap_in_fail(&in, "mp_state %u is none KVM knows", v->mp_state.mp_state);
    get_struct(&in, "events", &v->events, sizeof v->events);
    get_struct(&in, "debugregs", &v->debugregs, sizeof v->debugregs);
    v->tsc_khz = snap_get_u32(&in, "tsc_khz");
    int rc = snap_in_finish(&in);
    if (rc < 0)
        snap_vcpu_clear(v);
    return rc;
}

struct snap_section *snap_vm_section(const struct snap_vm *s)
{
    struct snap_out o;
    snap_out_init(&o);
    for (unsigned i = 0; i < G_N_ELEMENTS(s->chips); i++)
        put_struct(&o, &s->chips[i], sizeof s->chips[i]);
    snap_put_u8(&o, s->has_pit);
    if (s->has_pit)
        put_struct(&o, &s->pit, sizeof s->pit);
    put_struct(&o, &s->clock, sizeof s->clock);
    struct snap_section *sec = snap_section_new("kvm-vm", SNAP_VM_VERSION, &o);
    snap_out_clear(&o);
    return sec;
}

int snap_vm_load(struct snap_vm *s, uint32_t version, const void *data, size_t len)
{
    memset(s, 0, sizeof *s);
    if (version != SNAP_VM_VERSION)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "snapshot section 'kvm-vm' is version %u; this libqv reads version %u",
                            version, SNAP_VM_VERSION);
    struct snap_in in;
    snap_in_init(&in, "kvm-vm", data, len);
    static const char *const chip[] = {"pic master", "pic slave", "ioapic"};
    for (unsigned i = 0; i < G_N_ELEMENTS(s->chips); i++) {
        get_struct(&in, chip[i], &s->chips[i], sizeof s->chips[i]);
        /* KVM_SET_IRQCHIP picks the chip by this id: a swapped one would
         * load the IOAPIC's bytes into a PIC. */
        if (snap_in_ok(&in) && s->chips[i].chip_id != i)
            snap_in_fail(&in, "'%s' carries chip id %u", chip[i], s->chips[i].chip_id);
    }
    uint8_t has_pit = snap_get_u8(&in, "has_pit");
    if (has_pit > 1)
        snap_in_fail(&in, "has_pit is %u, not 0 or 1", has_pit);
    s->has_pit = has_pit == 1;
    if (s->has_pit)
        get_struct(&in, "pit", &s->pit, sizeof s->pit);
    get_struct(&in, "clock", &s->clock, sizeof s->clock);
    return snap_in_finish(&in);
}
