/* Simulated vCPUs: registers that round-trip, the architectural reset
 * state, and an event queue. Nothing executes, so vcpu_run reports HLT
 * unless something is pending:
 *   - a vcpu_kick() since the last run: VCPU_EXIT_INTR (as KVM's
 *     immediate_exit does);
 *   - a queued event: VCPU_EXIT_SYSTEM_EVENT with system_event.type the
 *     enum noop_event_kind (1 interrupt, 2 exception, 3 NMI) and
 *     system_event.data = vector | has_error_code << 8 | error_code << 32;
 *     one event per run, oldest first. */
#include <string.h>

#include "lib/util/error.h"
#include "noop.h"

#define MSR_IA32_APIC_BASE 0x1bu
#define MSR_EFER 0xc0000080u

static void real_mode_segment(struct vcpu_segment *s, uint16_t selector, uint8_t type)
{
    memset(s, 0, sizeof(*s));
    s->selector = selector;
    s->base = (uint64_t)selector << 4;
    s->limit = 0xffff;
    s->type = type;
    s->present = 1;
    s->s = 1;
}

void noop_cpu_state_reset(struct noop_cpu_state *c, uint32_t id, uint64_t boot_ip)
{
    memset(&c->regs, 0, sizeof(c->regs));
    memset(&c->sregs, 0, sizeof(c->sregs));
    /* CS:IP = (boot_ip >> 4):(boot_ip & 0xf), so CS.base + IP == boot_ip. */
    real_mode_segment(&c->sregs.cs, (uint16_t)(boot_ip >> 4), 0xb);
    c->regs.rip = boot_ip & 0xf;
    real_mode_segment(&c->sregs.ds, 0, 0x3);
    real_mode_segment(&c->sregs.es, 0, 0x3);
    real_mode_segment(&c->sregs.fs, 0, 0x3);
    real_mode_segment(&c->sregs.gs, 0, 0x3);
    real_mode_segment(&c->sregs.ss, 0, 0x3);
    c->sregs.tr.limit = 0xffff;
    c->sregs.tr.type = 0xb;
    c->sregs.tr.present = 1;
    c->sregs.ldt.limit = 0xffff;
    c->sregs.ldt.type = 0x2;
    c->sregs.ldt.present = 1;
    c->sregs.gdt.limit = 0xffff;
    c->sregs.idt.limit = 0xffff;
    c->sregs.cr0 = 0x60000010; /* CD | NW | ET */
    c->sregs.apic_base = 0xfee00000u | 0x800u /* enabled */ | (id == 0 ? 0x100u : 0);
    c->regs.rflags = 0x2;
    c->regs.rdx = 0x600; /* the processor signature: family 6 */
    if (!c->msrs)
        c->msrs = g_array_new(FALSE, TRUE, sizeof(struct noop_msr));
    g_array_set_size(c->msrs, 0);
}

void noop_cpu_state_copy(struct noop_cpu_state *dst, const struct noop_cpu_state *src)
{
    dst->regs = src->regs;
    dst->sregs = src->sregs;
    if (!dst->msrs)
        dst->msrs = g_array_new(FALSE, TRUE, sizeof(struct noop_msr));
    g_array_set_size(dst->msrs, 0);
    if (src->msrs)
        g_array_append_vals(dst->msrs, src->msrs->data, src->msrs->len);
}

void noop_cpu_state_clear(struct noop_cpu_state *c)
{
    if (c->msrs)
        g_array_free(c->msrs, TRUE);
    c->msrs = NULL;
}

struct noop_vcpu *noop_vcpu_new(struct vm *vm, uint32_t id)
{
    struct noop_vcpu *vc = g_new0(struct noop_vcpu, 1);
    vc->base.vm = vm;
    vc->base.id = id;
    pthread_mutex_init(&vc->lock, NULL);
    noop_cpu_state_reset(&vc->cpu, id, 0xffff0);
    vc->events = g_array_new(FALSE, TRUE, sizeof(struct noop_event));
    return vc;
}

void noop_vcpu_free(struct noop_vcpu *vc)
{
    if (!vc)
        return;
    noop_cpu_state_clear(&vc->cpu);
    g_array_free(vc->events, TRUE);
    pthread_mutex_destroy(&vc->lock);
    g_free(vc);
}

#define NV(vcpu) ((struct noop_vcpu *)(vcpu))

struct vcpu *noop_vcpu_create(struct vm *vm, uint32_t id)
{
    struct noop_vm *v = NOOP_VM(vm);
    if (noop_vm_begin(v) < 0)
        return NULL;
    struct noop_vcpu *vc = NULL;
    if (id >= v->def->max_vcpus)
        qv_error_set(QV_ERR_INVALID_ARG, "VM '%s' has no room for vCPU %u (max_vcpus is %u)",
                     v->name, id, v->def->max_vcpus);
    else if (g_hash_table_contains(v->vcpus, GUINT_TO_POINTER(id)))
        qv_error_set(QV_ERR_EXISTS, "VM '%s' already has vCPU %u", v->name, id);
    else {
        vc = noop_vcpu_new(vm, id);
        g_hash_table_insert(v->vcpus, GUINT_TO_POINTER(id), vc);
    }
    noop_vm_end(v);
    return vc ? &vc->base : NULL;
}

struct vcpu *noop_vcpu_get(struct vm *vm, uint32_t id)
{
    struct noop_vm *v = NOOP_VM(vm);
    if (noop_vm_begin(v) < 0)
        return NULL;
    struct noop_vcpu *vc = g_hash_table_lookup(v->vcpus, GUINT_TO_POINTER(id));
    if (vc)
        vc->base.vm = vm; /* the handle asking now (an earlier one may be gone) */
    else
        qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no vCPU %u", v->name, id);
    noop_vm_end(v);
    return vc ? &vc->base : NULL;
}

void noop_vcpu_destroy(struct vcpu *vcpu)
{
    struct noop_vm *v = NOOP_VM(vcpu->vm);
    pthread_mutex_lock(&v->lock);
    g_hash_table_remove(v->vcpus, GUINT_TO_POINTER(vcpu->id));
    pthread_mutex_unlock(&v->lock);
}

int noop_vcpu_reset(struct vcpu *vcpu, uint64_t boot_ip)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    noop_cpu_state_reset(&vc->cpu, vcpu->id, boot_ip);
    g_array_set_size(vc->events, 0);
    pthread_mutex_unlock(&vc->lock);
    return 0;
}

int noop_vcpu_run(struct vcpu *vcpu)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    memset(&vc->exit, 0, sizeof(vc->exit));
    if (g_atomic_int_compare_and_exchange(&vc->kicked, 1, 0)) {
        vc->exit.reason = VCPU_EXIT_INTR;
    } else if (vc->events->len > 0) {
        struct noop_event e = g_array_index(vc->events, struct noop_event, 0);
        g_array_remove_index(vc->events, 0);
        vc->exit.reason = VCPU_EXIT_SYSTEM_EVENT;
        vc->exit.system_event.type = e.kind;
        vc->exit.system_event.data =
            e.vector | (uint64_t)e.has_error_code << 8 | (uint64_t)e.error_code << 32;
    } else {
        vc->exit.reason = VCPU_EXIT_HLT;
    }
    int reason = (int)vc->exit.reason;
    pthread_mutex_unlock(&vc->lock);
    return reason;
}

const struct vcpu_exit_info *noop_vcpu_exit_info(struct vcpu *vcpu)
{
    return &NV(vcpu)->exit;
}

void noop_vcpu_kick(struct vcpu *vcpu)
{
    g_atomic_int_set(&NV(vcpu)->kicked, 1);
}

int noop_vcpu_step(struct vcpu *vcpu)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    memset(&vc->exit, 0, sizeof(vc->exit));
    vc->exit.reason = VCPU_EXIT_DEBUG;
    vc->exit.debug.exception = 1; /* #DB */
    vc->exit.debug.pc = vc->cpu.sregs.cs.base + vc->cpu.regs.rip;
    vc->exit.debug.dr6 = 0xffff4ff0; /* BS: single step */
    vc->exit.debug.dr7 = 0x400;
    pthread_mutex_unlock(&vc->lock);
    return VCPU_EXIT_DEBUG;
}

int noop_vcpu_get_regs(struct vcpu *vcpu, struct vcpu_regs *regs)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    *regs = vc->cpu.regs;
    pthread_mutex_unlock(&vc->lock);
    return 0;
}

int noop_vcpu_set_regs(struct vcpu *vcpu, const struct vcpu_regs *regs)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    vc->cpu.regs = *regs;
    pthread_mutex_unlock(&vc->lock);
    return 0;
}

int noop_vcpu_get_sregs(struct vcpu *vcpu, struct vcpu_sregs *sregs)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    *sregs = vc->cpu.sregs;
    pthread_mutex_unlock(&vc->lock);
    return 0;
}

int noop_vcpu_set_sregs(struct vcpu *vcpu, const struct vcpu_sregs *sregs)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    vc->cpu.sregs = *sregs;
    pthread_mutex_unlock(&vc->lock);
    return 0;
}

/* APIC base and EFER live in sregs as well; the MSR view is the same
 * storage, so both interfaces agree. */
int noop_vcpu_get_msr(struct vcpu *vcpu, uint32_t index, uint64_t *value)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    *value = 0;
    if (index == MSR_IA32_APIC_BASE)
        *value = vc->cpu.sregs.apic_base;
    else if (index == MSR_EFER)
        *value = vc->cpu.sregs.efer;
    else
        for (guint i = 0; i < vc->cpu.msrs->len; i++)
            if (g_array_index(vc->cpu.msrs, struct noop_msr, i).index == index)
                *value = g_array_index(vc->cpu.msrs, struct noop_msr, i).value;
    pthread_mutex_unlock(&vc->lock);
    return 0;
}

int noop_vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    if (index == MSR_IA32_APIC_BASE) {
        vc->cpu.sregs.apic_base = value;
    } else if (index == MSR_EFER) {
        vc->cpu.sregs.efer = value;
    } else {
        guint i = 0;
        while (i < vc->cpu.msrs->len &&
               g_array_index(vc->cpu.msrs, struct noop_msr, i).index != index)
            i++;
        if (i == vc->cpu.msrs->len) {
            struct noop_msr m = {index, value};
            g_array_append_val(vc->cpu.msrs, m);
        } else {
            g_array_index(vc->cpu.msrs, struct noop_msr, i).value = value;
        }
    }
    pthread_mutex_unlock(&vc->lock);
    return 0;
}

static int queue(struct vcpu *vcpu, struct noop_event e)
{
    struct noop_vcpu *vc = NV(vcpu);
    pthread_mutex_lock(&vc->lock);
    g_array_append_val(vc->events, e);
    pthread_mutex_unlock(&vc->lock);
    return 0;
}

int noop_vcpu_queue_interrupt(struct vcpu *vcpu, uint8_t vector)
{
    return queue(vcpu, (struct noop_event){NOOP_EVENT_INTERRUPT, vector, false, 0});
}

int noop_vcpu_queue_exception(struct vcpu *vcpu, uint8_t vector, bool has_error_code,
                              uint32_t error_code)
{
    return queue(vcpu, (struct noop_event){NOOP_EVENT_EXCEPTION, vector, has_error_code,
                                           has_error_code ? error_code : 0});
}

int noop_vcpu_queue_nmi(struct vcpu *vcpu)
{
    return queue(vcpu, (struct noop_event){NOOP_EVENT_NMI, 2, false, 0});
}
