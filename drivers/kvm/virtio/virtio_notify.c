/* Notifications without an exit to user space, where KVM offers them.
 * ioeventfd: a QueueNotify write of queue index i signals queue i's
 * eventfd inside the kernel and the vCPU goes straight back to the guest;
 * this device's thread polls them and kicks. irqfd: the interrupt is a
 * write to an eventfd; KVM holds the line until the guest's EOI, then
 * lowers it and signals the resample fd, and the thread raises it again
 * while InterruptStatus is not 0 (virtio-mmio's line is level-triggered:
 * it stays up until the driver acknowledges). */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "qv/error.h"
#include "virtio_dev.h"
#include "virtio_mmio.h"

static const char *vm_name(struct virtio_dev *vd)
{
    return vd->host.vm_name ? vd->host.vm_name : "?";
}

void virtio_notify_irq(struct virtio_dev *vd)
{
    uint64_t one = 1;
    /* Only a counter at its limit refuses a write, and then the line is
     * being raised anyway. */
    if (write(vd->irq_fd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
        g_warning("VM '%s': %s: cannot raise its irqfd: %s", vm_name(vd), vd->ops->name,
                  g_strerror(errno));
}

static void resampled(struct virtio_dev *vd)
{
    g_mutex_lock(&vd->irq_lock);
    if (vd->isr)
        virtio_notify_irq(vd);
    g_mutex_unlock(&vd->irq_lock);
}

/* Read an eventfd's count (clearing it first: a signal after this read is
 * another wake-up, never lost). */
static bool drained(int fd)
{
    uint64_t n;
    return read(fd, &n, sizeof(n)) == sizeof(n);
}

static gpointer notify_thread(gpointer opaque)
{
    struct virtio_dev *vd = opaque;
    /* Slots: the queues (fd -1 where there is no eventfd, which poll
     * skips), the resample fd, the stop fd. */
    uint32_t n = vd->nq + 2;
    struct pollfd *fds = g_new0(struct pollfd, n);
    for (uint32_t i = 0; i < vd->nq; i++)
        fds[i] = (struct pollfd){.fd = vd->q[i].efd, .events = POLLIN};
    fds[vd->nq] = (struct pollfd){.fd = vd->resample_fd, .events = POLLIN};
    fds[vd->nq + 1] = (struct pollfd){.fd = vd->notify_stop_fd, .events = POLLIN};
    for (;;) {
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            g_warning("VM '%s': %s: polling its notifications failed: %s", vm_name(vd),
                      vd->ops->name, g_strerror(errno));
            break;
        }
        if (fds[vd->nq + 1].revents)
            break;
        if (fds[vd->nq].revents && drained(fds[vd->nq].fd))
            resampled(vd);
        for (uint32_t i = 0; i < vd->nq; i++)
            if (fds[i].revents && drained(fds[i].fd))
                virtio_dev_kick(vd, i);
    }
    g_free(fds);
    return NULL;
}

static void release_ioeventfds(struct virtio_dev *vd)
{
    for (uint32_t i = 0; i < vd->nq; i++) {
        if (vd->q[i].efd < 0)
            continue;
        vd->host.ioeventfd(vd->host.opaque, vd->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, i, vd->q[i].efd, false);
        close(vd->q[i].efd);
        vd->q[i].efd = -1;
    }
}

static bool assign_ioeventfds(struct virtio_dev *vd)
{
    if (!vd->host.ioeventfd)
        return false;
    for (uint32_t i = 0; i < vd->nq; i++) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0 ||
            vd->host.ioeventfd(vd->host.opaque, vd->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, i, fd, true) < 0) {
            if (fd >= 0)
                close(fd);
            release_ioeventfds(vd);
            return false;
        }
        vd->q[i].efd = fd;
    }
    return true;
}

static void release_irqfd(struct virtio_dev *vd)
{
    if (vd->irq_fd >= 0) {
        vd->host.irqfd(vd->host.opaque, vd->gsi, vd->irq_fd, vd->resample_fd, false);
        close(vd->irq_fd);
    }
    if (vd->resample_fd >= 0)
        close(vd->resample_fd);
    vd->irq_fd = vd->resample_fd = -1;
}

static bool assign_irqfd(struct virtio_dev *vd)
{
    if (!vd->host.irqfd)
        return false;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0 || rfd < 0 || vd->host.irqfd(vd->host.opaque, vd->gsi, fd, rfd, true) < 0) {
        if (fd >= 0)
            close(fd);
        if (rfd >= 0)
            close(rfd);
        return false;
    }
    vd->irq_fd = fd;
    vd->resample_fd = rfd;
    return true;
}

void virtio_notify_start(struct virtio_dev *vd)
{
    bool kicks = assign_ioeventfds(vd);
    bool irqs = assign_irqfd(vd);
    /* A host without them said why; the exit path serves instead, so
     * building the device succeeded and leaves no error behind. */
    if (!kicks || !irqs)
        qv_reset_error();
    if (!kicks && !irqs)
        return;
    vd->notify_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vd->notify_stop_fd >= 0) {
        g_autofree char *name = g_strdup_printf("virtio@%llx", (unsigned long long)vd->base);
        vd->notify_thread = g_thread_try_new(name, notify_thread, vd, NULL);
    }
    if (!vd->notify_thread) {
        /* The exit path still works: QueueNotify reaches the bus and the
         * line is set_irq's. */
        if (vd->notify_stop_fd >= 0)
            close(vd->notify_stop_fd);
        vd->notify_stop_fd = -1;
        release_ioeventfds(vd);
        release_irqfd(vd);
    }
}

void virtio_notify_stop(struct virtio_dev *vd)
{
    if (vd->notify_thread) {
        uint64_t one = 1;
        if (write(vd->notify_stop_fd, &one, sizeof(one)) != sizeof(one))
            g_warning("VM '%s': %s: cannot stop its notification thread", vm_name(vd),
                      vd->ops->name);
        else
            g_thread_join(vd->notify_thread);
        vd->notify_thread = NULL;
    }
    if (vd->notify_stop_fd >= 0)
        close(vd->notify_stop_fd);
    vd->notify_stop_fd = -1;
    release_ioeventfds(vd);
    release_irqfd(vd);
}
