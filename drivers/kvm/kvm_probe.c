/* Finding out what /dev/kvm offers, by ioctl only (never /proc/cpuinfo):
 * the API version and each extension the VMM relies on. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../lib/util/error.h"
#include "kvm.h"

static const struct {
    int cap;
    const char *name;
    const char *why;
} required[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "to map guest RAM"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "for real-mode guests on Intel"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR",
     "for real-mode guests on Intel"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "to give guests a CPUID"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "for the in-kernel PIC, IOAPIC and LAPIC"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2", "for the in-kernel PIT"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "to kick vCPUs out of the guest"},
    {KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM", "for read-only memory regions"},
    {KVM_CAP_SET_GUEST_DEBUG, "KVM_CAP_SET_GUEST_DEBUG", "for single-stepping"},
    {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS", "to inject exceptions"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", "to start application processors"},
};

int kvm_probe(const char *path, struct kvm_sys *sys)
{
    memset(sys, 0, sizeof(*sys));
    sys->fd = -1;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return qv_error_set(QV_ERR_KVM,
                                "KVM is not available: %s does not exist (is the kvm module "
                                "loaded, or is this a machine without virtualization?)",
                                path);
        if (e == EACCES || e == EPERM)
            return qv_error_set(QV_ERR_PERMISSION,
                                "cannot open %s: permission denied (add the user to the "
                                "group owning it, usually 'kvm')",
                                path);
        return qv_error_set(QV_ERR_KVM, "cannot open %s: %s", path, g_strerror(e));
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        close(fd);
        if (api < 0)
            return qv_error_set(QV_ERR_KVM, "%s is not a KVM device (KVM_GET_API_VERSION: %s)",
                                path, g_strerror(errno));
        return qv_error_set(QV_ERR_KVM, "%s speaks KVM API version %d; libqv needs %d", path, api,
                            KVM_API_VERSION);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(required); i++) {
        if (ioctl(fd, KVM_CHECK_EXTENSION, required[i].cap) <= 0) {
            close(fd);
            return qv_error_set(QV_ERR_KVM, "%s lacks %s, which libqv needs %s", path,
                                required[i].name, required[i].why);
        }
    }
    int run_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run)) {
        close(fd);
        return qv_error_set(QV_ERR_KVM, "%s reports a vCPU mmap size of %d bytes", path, run_size);
    }
    int maxv = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (maxv <= 0)
        maxv = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (maxv <= 0)
        maxv = 4;

    /* The supported CPUID list; its size is not known in advance. */
    struct kvm_cpuid2 *cpuid = NULL;
    for (uint32_t n = 64; n <= 4096; n *= 2) {
        cpuid = g_malloc0(sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));
        cpuid->nent = n;
        if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
            break;
        int e = errno;
        g_free(cpuid);
        cpuid = NULL;
        if (e != E2BIG) {
            close(fd);
            return qv_error_set(QV_ERR_KVM, "KVM_GET_SUPPORTED_CPUID on %s failed: %s", path,
                                g_strerror(e));
        }
    }
    if (!cpuid) {
        close(fd);
        return qv_error_set(QV_ERR_KVM, "KVM_GET_SUPPORTED_CPUID on %s returned too many entries",
                            path);
    }
    sys->fd = fd;
    sys->run_size = (size_t)run_size;
    sys->max_vcpus = (uint32_t)maxv;
    sys->cpuid = cpuid;
    return 0;
}

void kvm_sys_close(struct kvm_sys *sys)
{
    if (sys->fd >= 0)
        close(sys->fd);
    sys->fd = -1;
    g_free(sys->cpuid);
    sys->cpuid = NULL;
}

int qv_kvm_probe(char **detail)
{
    qv_reset_error();
    if (!detail)
        return qv_error_set(QV_ERR_INVALID_ARG, "qv_kvm_probe: detail is NULL");
    *detail = NULL;
    struct kvm_sys sys;
    int rc = kvm_probe("/dev/kvm", &sys);
    if (rc == QV_ERR_KVM || rc == QV_ERR_PERMISSION) {
        /* Not usable is an answer, not a failure of the probe. */
        *detail = g_strdup(qv_last_error()->message);
        qv_reset_error();
        return 0;
    }
    if (rc < 0)
        return rc;
    *detail = g_strdup_printf("KVM API version %d, up to %u vCPUs per VM", KVM_API_VERSION,
                              sys.max_vcpus);
    kvm_sys_close(&sys);
    return 1;
}
