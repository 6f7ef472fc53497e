/* Machines: building and tearing down a KVM VM with its RAM, vCPUs and
 * (for booted machines) interrupt controllers and devices. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../lib/util/error.h"
#include "board/board.h"
#include "kvm.h"

const char *kvm_machine_name(const struct kvm_machine *m)
{
    return m->name ? m->name : "?";
}

static int vm_ioctl(struct kvm_machine *m, unsigned long req, unsigned long arg, const char *what)
{
    if (ioctl(m->vm_fd, req, arg) < 0)
        return qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s': %s failed", kvm_machine_name(m),
                                  what);
    return 0;
}

static void teardown(struct kvm_machine *m)
{
    kvm_board_free(m->board);
    m->board = NULL;
    if (m->vcpus)
        for (uint32_t i = 0; i < m->def->max_vcpus; i++) {
            kvm_vcpu_free(m->vcpus[i]);
            m->vcpus[i] = NULL;
        }
    m->nvcpus = 0;
    m->pio_ring = NULL;
    kvm_memory_free_all(m);
    kvm_bus_clear(&m->pio);
    kvm_bus_clear(&m->mmio);
    if (m->vm_fd >= 0)
        close(m->vm_fd);
    m->vm_fd = -1;
}

/* Port 0x80 (POST codes; Linux's I/O delay) has no device behind it, yet
 * guests write it often: let KVM buffer those writes instead of exiting. */
static void coalesce_port80(struct kvm_machine *m)
{
    long page = sysconf(_SC_PAGESIZE);
    struct kvm_vcpu *v0 = m->vcpus[0];
    if (!v0 || ioctl(m->sys->fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) <= 0 ||
        v0->run_size < (size_t)(KVM_COALESCED_MMIO_PAGE_OFFSET + 1) * (size_t)page)
        return;
    struct kvm_coalesced_mmio_zone zone = {.addr = 0x80, .size = 1, .pio = 1};
    if (ioctl(m->vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) < 0)
        return; /* an optimisation only */
    m->pio_ring = (struct kvm_coalesced_mmio_ring *)((uint8_t *)v0->run +
                                                     KVM_COALESCED_MMIO_PAGE_OFFSET * page);
}

static int build(struct kvm_machine *m)
{
    m->vm_fd = ioctl(m->sys->fd, KVM_CREATE_VM, 0);
    if (m->vm_fd < 0)
        return qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s': KVM_CREATE_VM failed",
                                  kvm_machine_name(m));
    /* Intel needs these pages for real mode; they sit in the PCI hole. */
    if (vm_ioctl(m, KVM_SET_TSS_ADDR, KVM_TSS_ADDR, "KVM_SET_TSS_ADDR") < 0)
        return qv_error_code();
    uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
    if (vm_ioctl(m, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&idmap, "KVM_SET_IDENTITY_MAP_ADDR") <
        0)
        return qv_error_code();
    /* RAM before the irqchip: with an in-kernel irqchip every memslot
     * change costs an SRCU grace period (milliseconds). */
    if (kvm_memory_add_ram(m, m->def->memory_kib * 1024) < 0)
        return qv_error_code();
    if (m->booted) {
        if (vm_ioctl(m, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP") < 0)
            return qv_error_code();
        struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
        if (vm_ioctl(m, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2") < 0)
            return qv_error_code();
    }
    if (m->booted) {
        for (uint32_t i = 0; i < m->def->vcpus; i++) {
            m->vcpus[i] = kvm_vcpu_new(m, i, false);
            if (!m->vcpus[i])
                return qv_error_code();
            m->vcpus[i]->pub.id = i;
            m->nvcpus++;
        }
        coalesce_port80(m);
        if (kvm_machine_board_new(m) < 0)
            return qv_error_code();
    }
    return 0;
}

struct kvm_machine *kvm_machine_new(struct kvm_sys *sys, const struct qv_domain *def)
{
    if (def->max_vcpus > sys->max_vcpus) {
        qv_error_set(QV_ERR_KVM, "VM '%s' wants %u vCPUs; KVM here allows at most %u", def->name,
                     def->max_vcpus, sys->max_vcpus);
        return NULL;
    }
    if (def->memory_kib == 0 || def->memory_kib > (UINT64_C(1) << 40) / 1024) {
        qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': memory of %llu KiB is out of range", def->name,
                     (unsigned long long)def->memory_kib);
        return NULL;
    }
    struct kvm_machine *m = g_new0(struct kvm_machine, 1);
    m->refs = 1;
    m->sys = sys;
    m->def = qv_domain_copy(def);
    m->name = g_strdup(def->name);
    m->vm_fd = -1;
    kvm_dev_host_init(m);
    m->booted = def->os.kernel != NULL;
    m->regions = g_array_new(FALSE, TRUE, sizeof(struct kvm_region));
    m->vcpus = g_new0(struct kvm_vcpu *, def->max_vcpus);
    g_mutex_init(&m->lock);
    g_cond_init(&m->cond);
    m->state = VM_STATE_CREATED;
    m->exit_status = -1;
    if (build(m) < 0) {
        kvm_machine_unref(m);
        return NULL;
    }
    return m;
}

int kvm_machine_rebuild(struct kvm_machine *m)
{
    teardown(m);
    return build(m);
}

struct kvm_machine *kvm_machine_ref(struct kvm_machine *m)
{
    g_atomic_int_inc(&m->refs);
    return m;
}

void kvm_machine_unref(struct kvm_machine *m)
{
    if (!m || !g_atomic_int_dec_and_test(&m->refs))
        return;
    kvm_machine_halt_threads(m);
    kvm_snap_close(m, false); /* the directory outlives the process */
    teardown(m);
    g_array_free(m->regions, TRUE);
    g_free(m->vcpus);
    g_mutex_clear(&m->lock);
    g_cond_clear(&m->cond);
    qv_domain_free(m->def);
    g_free(m->name);
    g_free(m);
}

void kvm_machine_kill(struct kvm_machine *m)
{
    kvm_machine_halt_threads(m);
    teardown(m);
    g_mutex_lock(&m->lock);
    m->state = VM_STATE_DESTROYED;
    g_mutex_unlock(&m->lock);
}
