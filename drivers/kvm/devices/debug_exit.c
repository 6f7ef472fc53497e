/* isa-debug-exit: a guest writes v and the VM stops with exit status
 * (v << 1) | 1, the exit status QEMU's process would have. */
#include <glib.h>

#include "../snapshot/snap_buf.h"
#include "devices.h"

struct kvm_debug_exit {
    const struct kvm_dev_host *host;
};

void kvm_debug_exit_io(void *dev, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    struct kvm_debug_exit *d = dev;
    (void)offset;
    if (!is_write) {
        kvm_bus_put(data, size, 0);
        return;
    }
    uint64_t v = kvm_bus_get(data, size);
    /* A process exit status keeps 8 bits, as QEMU's does. */
    d->host->request_stop(d->host->opaque, VM_REASON_SHUTDOWN, (int)(((v << 1) | 1) & 0xff));
}

struct kvm_debug_exit *kvm_debug_exit_new(const struct kvm_dev_host *host)
{
    struct kvm_debug_exit *d = g_new0(struct kvm_debug_exit, 1);
    d->host = host;
    return d;
}

void kvm_debug_exit_free(struct kvm_debug_exit *d)
{
    g_free(d);
}

int kvm_debug_exit_save(const struct kvm_debug_exit *d, struct snap_out *o)
{
    (void)d, (void)o;
    return 0;
}

int kvm_debug_exit_load(struct kvm_debug_exit *d, struct snap_in *in)
{
    (void)d;
    return snap_in_finish(in); /* refuses any byte */
}
