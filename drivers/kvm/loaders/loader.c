/* Loading the <os> kernel of a booted machine: read the files, run the
 * loaders over the machine's RAM (image.h), then put the boot vCPU into the
 * state the loader chose. */
#include "loader.h"

#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "../kvm.h"

int kvm_loader_read(const char *path, const char *role, uint8_t **data, size_t *len)
{
    char *buf = NULL;
    if (qv_file_read(path, &buf, len) < 0) {
        qv_error_prefix("cannot read %s", role);
        return qv_error_code();
    }
    *data = (uint8_t *)buf;
    return 0;
}

static void flat(struct vcpu_segment *s, uint16_t sel, uint8_t type, bool l)
{
    *s = (struct vcpu_segment){.base = 0,
                               .limit = 0xffffffff,
                               .selector = sel,
                               .type = type,
                               .present = 1,
                               .dpl = 0,
                               .db = l ? 0 : 1,
                               .s = 1,
                               .l = l,
                               .g = 1};
}

/* The boot vCPU in e's state: flat segments from the boot GDT (its code
 * and data selectors), paging on the boot page tables in long mode. The
 * hidden parts say accessed, which KVM requires of a usable segment, even
 * where the descriptor in memory does not (multiboot's code, as QEMU's). */
static int enter(struct kvm_vcpu *v, const struct kvm_ld_entry *e)
{
    struct vcpu_sregs s;
    if (kvm_vcpu_get_sregs(v, &s) < 0)
        return -1;
    flat(&s.cs, e->cs, 0xb, e->long_mode);
    flat(&s.ds, e->ds, 0x3, false);
    s.es = s.fs = s.gs = s.ss = s.ds;
    s.tr = (struct vcpu_segment){.limit = 0xfff, .type = 0xb, .present = 1};
    s.ldt = (struct vcpu_segment){.type = 2, .present = 1, .unusable = 1};
    s.gdt = (struct vcpu_dtable){BOOT_GDT, e->gdt_limit};
    s.idt = (struct vcpu_dtable){0, e->idt_limit};
    s.cr2 = 0;
    s.cr8 = 0;
    if (e->long_mode) {
        s.cr0 = 0x80000011; /* PG, ET, PE */
        s.cr3 = BOOT_PML4;
        s.cr4 = 0x20;   /* PAE */
        s.efer = 0x500; /* LMA, LME */
    } else {
        s.cr0 = 0x11;
        s.cr3 = s.cr4 = 0;
        s.efer = 0;
    }
    if (kvm_vcpu_set_sregs(v, &s) < 0)
        return -1;
    struct vcpu_regs r = {.rip = e->rip,
                          .rflags = e->rflags,
                          .rsp = e->rsp,
                          .rax = e->rax,
                          .rbx = e->rbx,
                          .rcx = e->rcx,
                          .rdx = e->rdx,
                          .rsi = e->rsi,
                          .rdi = e->rdi};
    return kvm_vcpu_set_regs(v, &r);
}

int kvm_load_kernel(struct kvm_machine *m)
{
    return kvm_load_kernel_announce(m, NULL);
}

int kvm_load_kernel_announce(struct kvm_machine *m, const char *announce)
{
    const struct qv_domain *def = m->def;
    g_autofree uint8_t *img = NULL, *rd = NULL;
    size_t len = 0, rlen = 0;
    if (kvm_loader_read(def->os.kernel, "kernel", &img, &len) < 0)
        return qv_error_code();
    if (def->os.initrd && kvm_loader_read(def->os.initrd, "initrd", &rd, &rlen) < 0)
        return qv_error_code();
    struct kvm_ld ld;
    kvm_ld_init(&ld, m->ram, m->ram_size, def->os.kernel);
    ld.cmdline = def->os.cmdline;
    ld.announce = announce;
    ld.initrd = def->os.initrd;
    ld.initrd_data = rd;
    ld.initrd_len = rlen;
    int rc = kvm_ld_load(&ld, img, len);
    if (rc == 0)
        rc = enter(m->vcpus[0], &ld.entry);
    kvm_ld_clear(&ld);
    return rc < 0 ? -1 : 0;
}
