/* The tap backend: frames to and from a host tap interface, opened through
 * /dev/net/tun without IFF_VNET_HDR (the device offers no offloads, so the
 * frames carry no header of their own). A thread of its own reads the tap;
 * the device writes to it from its tx. A tap qv created goes away when the
 * file is closed; one that was made persistent beforehand (ip tuntap add,
 * for a user without CAP_NET_ADMIN) stays. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../../lib/host/host_net.h"
#include "../../../lib/util/error.h"
#include "net_backend.h"
#include "virtio_net.h"

struct net_tap {
    struct net_backend be; /* first */
    char *ifname;
    int fd;
    int wake_fd; /* stop */
    GThread *thread;
    bool quit;    /* __atomic */
    bool warned;  /* __atomic: a write error was logged */
    uint8_t *buf; /* the reader's */
};

static gpointer tap_loop(gpointer opaque)
{
    struct net_tap *t = opaque;
    struct pollfd p[2] = {{.fd = t->fd, .events = POLLIN}, {.fd = t->wake_fd, .events = POLLIN}};
    while (!__atomic_load_n(&t->quit, __ATOMIC_ACQUIRE)) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            g_warning("VM '%s': tap %s: poll: %s", t->be.vm_name, t->ifname, g_strerror(errno));
            break;
        }
        if (p[1].revents)
            continue; /* quit is set */
        if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            g_warning("VM '%s': tap %s went away", t->be.vm_name, t->ifname);
            break;
        }
        for (;;) {
            ssize_t n = read(t->fd, t->buf, VIRTIO_NET_MAX_FRAME);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            t->be.deliver(t->be.deliver_opaque, t->buf, (size_t)n);
        }
    }
    return NULL;
}

static int tap_start(struct net_backend *be)
{
    struct net_tap *t = (struct net_tap *)be;
    g_autoptr(GError) err = NULL;
    t->thread = g_thread_try_new("qv-tap", tap_loop, t, &err);
    if (!t->thread)
        return qv_error_set(QV_ERR_SYSTEM, "VM '%s': cannot start the thread of tap %s: %s",
                            be->vm_name, t->ifname, err->message);
    return 0;
}

static int tap_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct net_tap *t = (struct net_tap *)be;
    ssize_t n;
    do
        n = write(t->fd, frame, len);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)len)
        return 0;
    /* EAGAIN: the host's queue is full, a drop as on a wire. Anything else
     * is logged once; the frame is dropped either way. */
    if (n < 0 && errno != EAGAIN && !__atomic_exchange_n(&t->warned, true, __ATOMIC_RELAXED))
        g_warning("VM '%s': writing to tap %s: %s", be->vm_name, t->ifname, g_strerror(errno));
    return QV_ERR_IO;
}

static void tap_free(struct net_backend *be)
{
    struct net_tap *t = (struct net_tap *)be;
    if (t->thread) {
        __atomic_store_n(&t->quit, true, __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write(t->wake_fd, &one, sizeof(one)) < 0)
            g_warning("VM '%s': cannot wake the thread of tap %s", be->vm_name, t->ifname);
        g_thread_join(t->thread);
    }
    if (t->fd >= 0)
        close(t->fd);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    g_free(t->buf);
    g_free(t->ifname);
    g_free(be->vm_name);
    g_free(t);
}

static const struct net_backend_ops tap_ops = {
    .kind = "tap",
    .start = tap_start,
    .send = tap_send,
    .free = tap_free,
};

static int tap_open(const char *vm_name, const char *ifname, int *fd_out)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT || err == ENODEV || err == ENXIO)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': cannot open tap %s: this host has no /dev/net/tun "
                                "(module tun)",
                                vm_name, ifname);
        return qv_error_set_errno(err == EACCES || err == EPERM ? QV_ERR_PERMISSION : QV_ERR_SYSTEM,
                                  err, "VM '%s': cannot open /dev/net/tun for tap %s", vm_name,
                                  ifname);
    }
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = errno;
        close(fd);
        if (err == EPERM || err == EACCES)
            return qv_error_set_errno(QV_ERR_PERMISSION, err,
                                      "VM '%s': cannot open tap %s: creating a tap, or opening "
                                      "one another user owns, needs CAP_NET_ADMIN",
                                      vm_name, ifname);
        if (err == EBUSY)
            return qv_error_set(QV_ERR_BUSY, "VM '%s': tap %s is in use by another process",
                                vm_name, ifname);
        return qv_error_set_errno(QV_ERR_SYSTEM, err, "VM '%s': cannot open tap %s", vm_name,
                                  ifname);
    }
    *fd_out = fd;
    return 0;
}

struct net_backend *net_tap_new(const char *vm_name, const char *ifname, const char *bridge)
{
    if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') ||
        !strcmp(ifname, ".") || !strcmp(ifname, "..")) {
        qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a tap device name", vm_name,
                     ifname ? ifname : "");
        return NULL;
    }
    struct net_tap *t = g_new0(struct net_tap, 1);
    t->be.ops = &tap_ops;
    t->be.vm_name = g_strdup(vm_name);
    t->ifname = g_strdup(ifname);
    t->fd = t->wake_fd = -1;
    if (tap_open(vm_name, ifname, &t->fd) < 0) {
        tap_free(&t->be);
        return NULL;
    }
    t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->wake_fd < 0) {
        qv_error_set_errno(QV_ERR_SYSTEM, errno, "VM '%s': cannot create an eventfd", vm_name);
        tap_free(&t->be);
        return NULL;
    }
    if (bridge && host_bridge_attach(vm_name, ifname, bridge) < 0) {
        tap_free(&t->be);
        return NULL;
    }
    t->buf = g_malloc(VIRTIO_NET_MAX_FRAME);
    return &t->be;
}
