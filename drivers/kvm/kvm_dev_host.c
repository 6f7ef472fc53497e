/* The device host (devices/dev_host.h) of a real machine: interrupt lines
 * through the in-kernel IOAPIC/PIC, stop and reset through the machine's
 * lifecycle, guest RAM from its memory slots, devices' writes to it into
 * the regions' host-write bitmaps, and KVM's ioeventfd and irqfd where
 * this KVM has them. */
#include <errno.h>
#include <sys/ioctl.h>

#include "../../lib/util/error.h"
#include "kvm.h"

static void host_set_irq(void *opaque, uint32_t gsi, int level)
{
    struct kvm_machine *m = opaque;
    if (!m->booted)
        return;
    struct kvm_irq_level l = {.irq = gsi, .level = level};
    ioctl(m->vm_fd, KVM_IRQ_LINE, &l);
}

static void host_request_stop(void *opaque, enum vm_state_reason reason, int exit_status)
{
    kvm_machine_request_stop(opaque, reason, exit_status);
}

/* There is no firmware to run again: a reset ends this boot, and whoever
 * started the VM decides (on_reboot), as for a KVM reset event. */
static void host_request_reset(void *opaque)
{
    kvm_machine_request_stop(opaque, VM_REASON_RESET, 0);
}

static void *host_guest_ram(void *opaque, uint64_t gpa, uint64_t len)
{
    return kvm_memory_ram(opaque, gpa, len);
}

static void host_mark_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
    kvm_memory_mark_dirty(opaque, gpa, len);
}

static bool has_cap(struct kvm_machine *m, long cap)
{
    return ioctl(m->sys->fd, KVM_CHECK_EXTENSION, cap) > 0;
}

static int host_ioeventfd(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
                          bool assign)
{
    struct kvm_machine *m = opaque;
    if (len != 1 && len != 2 && len != 4 && len != 8)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': an ioeventfd of %u bytes at 0x%llx",
                            kvm_machine_name(m), len, (unsigned long long)addr);
    if (!has_cap(m, KVM_CAP_IOEVENTFD))
        return qv_error_set(QV_ERR_KVM, "VM '%s': KVM here has no ioeventfd (KVM_CAP_IOEVENTFD)",
                            kvm_machine_name(m));
    struct kvm_ioeventfd e = {
        .datamatch = datamatch,
        .addr = addr,
        .len = len,
        .fd = fd,
        .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    if (ioctl(m->vm_fd, KVM_IOEVENTFD, &e) < 0)
        return qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s': KVM_IOEVENTFD at 0x%llx failed",
                                  kvm_machine_name(m), (unsigned long long)addr);
    return 0;
}

static int host_irqfd(void *opaque, uint32_t gsi, int fd, int resample_fd, bool assign)
{
    struct kvm_machine *m = opaque;
    /* irqfd drives the in-kernel irqchip, which only booted machines have. */
    if (!m->booted || !has_cap(m, KVM_CAP_IRQFD))
        return qv_error_set(QV_ERR_KVM, "VM '%s': no irqfd (KVM_CAP_IRQFD) for GSI %u",
                            kvm_machine_name(m), gsi);
    struct kvm_irqfd r = {.fd = (uint32_t)fd, .gsi = gsi};
    if (!assign) {
        r.flags = KVM_IRQFD_FLAG_DEASSIGN;
    } else if (resample_fd >= 0) {
        if (!has_cap(m, KVM_CAP_IRQFD_RESAMPLE))
            return qv_error_set(QV_ERR_KVM,
                                "VM '%s': no level-triggered irqfd (KVM_CAP_IRQFD_RESAMPLE) for "
                                "GSI %u",
                                kvm_machine_name(m), gsi);
        r.flags = KVM_IRQFD_FLAG_RESAMPLE;
        r.resamplefd = (uint32_t)resample_fd;
    }
    if (ioctl(m->vm_fd, KVM_IRQFD, &r) < 0)
        return qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s': KVM_IRQFD for GSI %u failed",
                                  kvm_machine_name(m), gsi);
    return 0;
}

void kvm_dev_host_init(struct kvm_machine *m)
{
    m->host = (struct kvm_dev_host){
        .opaque = m,
        .vm_name = kvm_machine_name(m),
        .set_irq = host_set_irq,
        .request_stop = host_request_stop,
        .request_reset = host_request_reset,
        .guest_ram = host_guest_ram,
        .mark_dirty = host_mark_dirty,
        .ioeventfd = host_ioeventfd,
        .irqfd = host_irqfd,
    };
}
