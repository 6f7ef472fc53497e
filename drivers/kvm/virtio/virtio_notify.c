/* Queue notifications without an exit to user space: where KVM offers
 * ioeventfd, a QueueNotify write of queue index i signals queue i's
 * eventfd inside the kernel, and one thread per device polls them and
 * kicks the device, so the vCPU goes straight back into the guest. */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio_dev.h"
#include "virtio_mmio.h"

#define REG_QUEUE_NOTIFY 0x050

static gpointer notify_thread(gpointer opaque)
{
    struct virtio_dev *vd = opaque;
    struct pollfd *fds = g_new0(struct pollfd, vd->nq + 1);
    for (uint32_t i = 0; i < vd->nq; i++)
        fds[i] = (struct pollfd){.fd = vd->q[i].efd, .events = POLLIN};
    fds[vd->nq] = (struct pollfd){.fd = vd->notify_stop_fd, .events = POLLIN};
    for (;;) {
        if (poll(fds, vd->nq + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            g_warning("VM '%s': %s: polling its queue notifications failed: %s",
                      vd->host.vm_name ? vd->host.vm_name : "?", vd->ops->name, g_strerror(errno));
            break;
        }
        if (fds[vd->nq].revents)
            break;
        for (uint32_t i = 0; i < vd->nq; i++) {
            if (!fds[i].revents)
                continue;
            uint64_t n;
            /* Clear the count first: a notification after this read is
             * another wake-up, never lost. */
            if (read(fds[i].fd, &n, sizeof(n)) != sizeof(n))
                continue;
            virtio_dev_kick(vd, i);
        }
    }
    g_free(fds);
    return NULL;
}

static void unassign(struct virtio_dev *vd, uint32_t upto)
{
    for (uint32_t i = 0; i < upto; i++) {
        if (vd->q[i].efd < 0)
            continue;
        vd->host.ioeventfd(vd->host.opaque, vd->base + REG_QUEUE_NOTIFY, 4, i, vd->q[i].efd, false);
        close(vd->q[i].efd);
        vd->q[i].efd = -1;
    }
}

bool virtio_notify_start(struct virtio_dev *vd)
{
    if (!vd->host.ioeventfd)
        return false;
    for (uint32_t i = 0; i < vd->nq; i++) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0) {
            unassign(vd, i);
            return false;
        }
        if (vd->host.ioeventfd(vd->host.opaque, vd->base + REG_QUEUE_NOTIFY, 4, i, fd, true) < 0) {
            close(fd);
            unassign(vd, i);
            return false;
        }
        vd->q[i].efd = fd;
    }
    vd->notify_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vd->notify_stop_fd >= 0) {
        g_autofree char *name = g_strdup_printf("virtio@%llx", (unsigned long long)vd->base);
        vd->notify_thread = g_thread_try_new(name, notify_thread, vd, NULL);
    }
    if (!vd->notify_thread) {
        /* The plain exit path still works: QueueNotify reaches the bus. */
        if (vd->notify_stop_fd >= 0)
            close(vd->notify_stop_fd);
        vd->notify_stop_fd = -1;
        unassign(vd, vd->nq);
        return false;
    }
    return true;
}

void virtio_notify_stop(struct virtio_dev *vd)
{
    if (vd->notify_thread) {
        uint64_t one = 1;
        if (write(vd->notify_stop_fd, &one, sizeof(one)) != sizeof(one))
            g_warning("VM '%s': %s: cannot stop its notification thread",
                      vd->host.vm_name ? vd->host.vm_name : "?", vd->ops->name);
        else
            g_thread_join(vd->notify_thread);
        vd->notify_thread = NULL;
    }
    if (vd->notify_stop_fd >= 0)
        close(vd->notify_stop_fd);
    vd->notify_stop_fd = -1;
    unassign(vd, vd->nq);
}
