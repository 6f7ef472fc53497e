/* vCPUs: creation, architectural reset, register and MSR access, event
 * injection, single-step and kicks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../lib/util/error.h"
#include "kvm.h"
#include "kvm_kick.h"

static void on_kick(int sig)
{
    (void)sig; /* its only job is to interrupt KVM_RUN */
}

int kvm_kick_signal(void)
{
    static gsize once;
    if (g_once_init_enter(&once)) {
        /* Installed unless a handler is there already: a foreign handler
         * interrupts KVM_RUN just as well, but an ignored signal (SIG_IGN
         * is inherited across exec) is discarded and would never kick. */
        struct sigaction old;
        if (sigaction(KVM_KICK_SIGNAL, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)) {
            struct sigaction sa = {.sa_handler = on_kick};
            sigemptyset(&sa.sa_mask);
            sigaction(KVM_KICK_SIGNAL, &sa, NULL);
        }
        g_once_init_leave(&once, 1);
    }
    return KVM_KICK_SIGNAL;
}

struct kvm_vcpu *kvm_vcpu_new(struct kvm_machine *m, uint32_t index, bool user)
{
    kvm_kick_signal();
    struct kvm_vcpu *v = g_new0(struct kvm_vcpu, 1);
    v->m = m;
    v->pub.id = index;
    v->index = index;
    v->apic_id = kvm_cpu_apic_id(m->def, index);
    v->user_created = user;
    v->fd = -1;
    g_mutex_init(&v->kick_lock);
    v->fd = ioctl(m->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->apic_id);
    if (v->fd < 0) {
        qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s': cannot create vCPU %u", kvm_machine_name(m),
                           index);
        goto fail;
    }
    v->run_size = m->sys->run_size;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s': cannot map the run area of vCPU %u",
                           kvm_machine_name(m), index);
        goto fail;
    }
    if (kvm_cpuid_apply(v) < 0)
        goto fail;
    return v;
fail:
    kvm_vcpu_free(v);
    return NULL;
}

void kvm_vcpu_free(struct kvm_vcpu *v)
{
    if (!v)
        return;
    if (v->run)
        munmap(v->run, v->run_size);
    if (v->fd >= 0)
        close(v->fd);
    g_mutex_clear(&v->kick_lock);
    g_free(v);
}

static int fail(struct kvm_vcpu *v, const char *what)
{
    return qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s' vCPU %u: %s failed",
                              kvm_machine_name(v->m), v->index, what);
}

static void seg_to_kvm(struct kvm_segment *k, const struct vcpu_segment *s)
{
    *k = (struct kvm_segment){.base = s->base,
                              .limit = s->limit,
                              .selector = s->selector,
                              .type = s->type,
                              .present = s->present,
                              .dpl = s->dpl,
                              .db = s->db,
                              .s = s->s,
                              .l = s->l,
                              .g = s->g,
                              .avl = s->avl,
                              .unusable = s->unusable};
}

static void seg_from_kvm(struct vcpu_segment *s, const struct kvm_segment *k)
{
    *s = (struct vcpu_segment){.base = k->base,
                               .limit = k->limit,
                               .selector = k->selector,
                               .type = k->type,
                               .present = k->present,
                               .dpl = k->dpl,
                               .db = k->db,
                               .s = k->s,
                               .l = k->l,
                               .g = k->g,
                               .avl = k->avl,
                               .unusable = k->unusable};
}

int kvm_vcpu_reset_real(struct kvm_vcpu *v, uint64_t boot_ip)
{
    /* SDM vol. 3, 9.1.1, except that CS:IP points at boot_ip instead of
     * the reset vector. */
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return fail(v, "KVM_GET_SREGS");
    struct kvm_segment data = {
        .base = 0, .limit = 0xffff, .selector = 0, .type = 3, .present = 1, .s = 1};
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.cs = data;
    s.cs.type = 0xb;
    s.cs.selector = (uint16_t)((boot_ip >> 4) & 0xf000);
    s.cs.base = (uint64_t)s.cs.selector << 4;
    s.tr = (struct kvm_segment){.limit = 0xffff, .type = 0xb, .present = 1};
    s.ldt = (struct kvm_segment){.limit = 0xffff, .type = 2, .present = 1};
    s.gdt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
    s.idt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
    s.cr0 = 0x60000010;
    s.cr2 = s.cr3 = s.cr4 = s.cr8 = 0;
    s.efer = 0;
    memset(s.interrupt_bitmap, 0, sizeof(s.interrupt_bitmap));
    if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
        return fail(v, "KVM_SET_SREGS");
    struct kvm_regs r = {.rip = boot_ip - s.cs.base, .rflags = 2, .rdx = 0x600};
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
        return fail(v, "KVM_SET_REGS");
    struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
    if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
        return fail(v, "KVM_SET_FPU");
    struct kvm_vcpu_events ev = {0};
    ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
        return fail(v, "KVM_SET_VCPU_EVENTS");
    return 0;
}

int kvm_vcpu_get_regs(struct kvm_vcpu *v, struct vcpu_regs *o)
{
    struct kvm_regs r;
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0)
        return fail(v, "KVM_GET_REGS");
    /* Named fields: the two structs order rbp and rsp differently. */
    *o = (struct vcpu_regs){.rax = r.rax,
                            .rbx = r.rbx,
                            .rcx = r.rcx,
                            .rdx = r.rdx,
                            .rsi = r.rsi,
                            .rdi = r.rdi,
                            .rbp = r.rbp,
                            .rsp = r.rsp,
                            .r8 = r.r8,
                            .r9 = r.r9,
                            .r10 = r.r10,
                            .r11 = r.r11,
                            .r12 = r.r12,
                            .r13 = r.r13,
                            .r14 = r.r14,
                            .r15 = r.r15,
                            .rip = r.rip,
                            .rflags = r.rflags};
    return 0;
}

int kvm_vcpu_set_regs(struct kvm_vcpu *v, const struct vcpu_regs *i)
{
    struct kvm_regs r = {.rax = i->rax,
                         .rbx = i->rbx,
                         .rcx = i->rcx,
                         .rdx = i->rdx,
                         .rsi = i->rsi,
                         .rdi = i->rdi,
                         .rbp = i->rbp,
                         .rsp = i->rsp,
                         .r8 = i->r8,
                         .r9 = i->r9,
                         .r10 = i->r10,
                         .r11 = i->r11,
                         .r12 = i->r12,
                         .r13 = i->r13,
                         .r14 = i->r14,
                         .r15 = i->r15,
                         .rip = i->rip,
                         .rflags = i->rflags | 2};
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
        return fail(v, "KVM_SET_REGS");
    return 0;
}

int kvm_vcpu_get_sregs(struct kvm_vcpu *v, struct vcpu_sregs *o)
{
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return fail(v, "KVM_GET_SREGS");
    seg_from_kvm(&o->cs, &s.cs);
    seg_from_kvm(&o->ds, &s.ds);
    seg_from_kvm(&o->es, &s.es);
    seg_from_kvm(&o->fs, &s.fs);
    seg_from_kvm(&o->gs, &s.gs);
    seg_from_kvm(&o->ss, &s.ss);
    seg_from_kvm(&o->tr, &s.tr);
    seg_from_kvm(&o->ldt, &s.ldt);
    o->gdt = (struct vcpu_dtable){s.gdt.base, s.gdt.limit};
    o->idt = (struct vcpu_dtable){s.idt.base, s.idt.limit};
    o->cr0 = s.cr0;
    o->cr2 = s.cr2;
    o->cr3 = s.cr3;
    o->cr4 = s.cr4;
    o->cr8 = s.cr8;
    o->efer = s.efer;
    o->apic_base = s.apic_base;
    return 0;
}

int kvm_vcpu_set_sregs(struct kvm_vcpu *v, const struct vcpu_sregs *i)
{
    struct kvm_sregs s;
    /* Start from the current state so the pending-interrupt bitmap is kept. */
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return fail(v, "KVM_GET_SREGS");
    seg_to_kvm(&s.cs, &i->cs);
    seg_to_kvm(&s.ds, &i->ds);
    seg_to_kvm(&s.es, &i->es);
    seg_to_kvm(&s.fs, &i->fs);
    seg_to_kvm(&s.gs, &i->gs);
    seg_to_kvm(&s.ss, &i->ss);
    seg_to_kvm(&s.tr, &i->tr);
    seg_to_kvm(&s.ldt, &i->ldt);
    s.gdt = (struct kvm_dtable){.base = i->gdt.base, .limit = i->gdt.limit};
    s.idt = (struct kvm_dtable){.base = i->idt.base, .limit = i->idt.limit};
    s.cr0 = i->cr0;
    s.cr2 = i->cr2;
    s.cr3 = i->cr3;
    s.cr4 = i->cr4;
    s.cr8 = i->cr8;
    s.efer = i->efer;
    s.apic_base = i->apic_base;
    if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
        return qv_error_set_errno(QV_ERR_INVALID_ARG, errno,
                                  "VM '%s' vCPU %u: KVM refused the special registers "
                                  "(cr0=0x%llx cr4=0x%llx efer=0x%llx)",
                                  kvm_machine_name(v->m), v->index, (unsigned long long)i->cr0,
                                  (unsigned long long)i->cr4, (unsigned long long)i->efer);
    return 0;
}

/* struct kvm_msrs with room for one entry, spelled out because a struct
 * ending in a flexible array cannot be a member (clang -Werror refuses it). */
struct one_msr {
    struct {
        __u32 nmsrs;
        __u32 pad;
    } head;
    struct kvm_msr_entry entry;
};
_Static_assert(offsetof(struct one_msr, entry) == offsetof(struct kvm_msrs, entries),
               "struct one_msr is laid out as struct kvm_msrs");

int kvm_vcpu_get_msr(struct kvm_vcpu *v, uint32_t index, uint64_t *value)
{
    struct one_msr m = {.head.nmsrs = 1, .entry.index = index};
    int n = ioctl(v->fd, KVM_GET_MSRS, &m);
    if (n < 0)
        return fail(v, "KVM_GET_MSRS");
    if (n != 1)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s' vCPU %u: MSR 0x%x cannot be read",
                            kvm_machine_name(v->m), v->index, index);
    *value = m.entry.data;
    return 0;
}

int kvm_vcpu_set_msr(struct kvm_vcpu *v, uint32_t index, uint64_t value)
{
    struct one_msr m = {.head.nmsrs = 1, .entry.index = index, .entry.data = value};
    int n = ioctl(v->fd, KVM_SET_MSRS, &m);
    if (n < 0)
        return fail(v, "KVM_SET_MSRS");
    if (n != 1)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s' vCPU %u: MSR 0x%x cannot be set to 0x%llx",
                            kvm_machine_name(v->m), v->index, index, (unsigned long long)value);
    return 0;
}

int kvm_vcpu_queue_interrupt(struct kvm_vcpu *v, uint8_t vector)
{
    if (v->m->booted)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s' has an in-kernel interrupt controller; raise interrupts "
                            "through its devices",
                            kvm_machine_name(v->m));
    struct kvm_interrupt irq = {.irq = vector};
    if (ioctl(v->fd, KVM_INTERRUPT, &irq) < 0)
        return fail(v, "KVM_INTERRUPT");
    return 0;
}

int kvm_vcpu_queue_exception(struct kvm_vcpu *v, uint8_t vector, bool has_ec, uint32_t ec)
{
    struct kvm_vcpu_events ev;
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return fail(v, "KVM_GET_VCPU_EVENTS");
    if (ev.exception.injected || ev.exception.pending)
        return qv_error_set(QV_ERR_BUSY,
                            "VM '%s' vCPU %u: exception %u is already queued; run the vCPU "
                            "first",
                            kvm_machine_name(v->m), v->index, ev.exception.nr);
    ev.exception.injected = 1;
    ev.exception.nr = vector;
    ev.exception.has_error_code = has_ec;
    ev.exception.error_code = has_ec ? ec : 0;
    /* Only the exception is being changed. */
    ev.flags = 0;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
        return fail(v, "KVM_SET_VCPU_EVENTS");
    return 0;
}

int kvm_vcpu_queue_nmi(struct kvm_vcpu *v)
{
    if (ioctl(v->fd, KVM_NMI) < 0)
        return fail(v, "KVM_NMI");
    return 0;
}

void kvm_vcpu_kick(struct kvm_vcpu *v)
{
    /* immediate_exit covers the window before KVM_RUN is entered; the
     * signal covers a vCPU already inside it. */
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    g_mutex_lock(&v->kick_lock);
    if (v->in_run)
        pthread_kill(v->runner, kvm_kick_signal());
    g_mutex_unlock(&v->kick_lock);
}

int kvm_vcpu_set_step(struct kvm_vcpu *v, bool on)
{
    struct kvm_guest_debug dbg = {0};
    if (on)
        dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
    if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &dbg) < 0)
        return fail(v, "KVM_SET_GUEST_DEBUG");
    return 0;
}
