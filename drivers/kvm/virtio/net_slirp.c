/* The user network backend: libslirp (4.7 API), configured as QEMU's
 * -netdev user. libslirp is not thread-safe, so one mutex guards the Slirp
 * and its timers. A thread of its own runs the poll loop and releases the
 * mutex only while it sleeps in poll(); the device's tx calls slirp_input
 * under the same mutex from a vCPU (or notification) thread, then wakes the
 * loop, whose sockets or timers that input may have changed. This is
 * QEMU's arrangement with its big lock in place of the mutex. */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "net_backend.h"

struct slirp_timer {
    SlirpTimerCb cb;
    void *cb_opaque;
    int64_t expire_ms; /* -1: not armed */
};

struct net_slirp {
    struct net_backend be; /* first */
    GMutex lock;
    Slirp *slirp;
    GPtrArray *timers; /* struct slirp_timer *, under lock */
    GArray *pfds;      /* struct pollfd: the loop's own */
    int wake_fd;       /* eventfd: tx happened, a timer moved, stop */
    GThread *thread;
    bool quit; /* under lock */
};

static int64_t now_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

static void wake(struct net_slirp *s)
{
    uint64_t one = 1;
    /* A full counter already wakes the loop: nothing is lost. */
    if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        g_warning("VM '%s': cannot wake the user network thread: %s", s->be.vm_name,
                  g_strerror(errno));
}

/* ---- libslirp's callbacks, all called with lock held ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *s = opaque;
    s->be.deliver(s->be.deliver_opaque, buf, len);
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    struct net_slirp *s = opaque;
    g_warning("VM '%s': user network: the guest sent %s", s->be.vm_name, msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    (void)opaque;
    return g_get_monotonic_time() * 1000;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct net_slirp *s = opaque;
    struct slirp_timer *t = g_new0(struct slirp_timer, 1);
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    t->expire_ms = -1;
    g_ptr_array_add(s->timers, t);
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct net_slirp *s = opaque;
    g_ptr_array_remove_fast(s->timers, timer); /* frees it */
}

static void cb_timer_mod(void *timer, int64_t expire_time, void *opaque)
{
    struct slirp_timer *t = timer;
    t->expire_ms = expire_time;
    wake(opaque);
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    (void)fd, (void)opaque; /* the loop asks slirp_pollfds_fill each time */
}

static void cb_notify(void *opaque)
{
    wake(opaque);
}

static const SlirpCb slirp_cbs = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_register_poll_fd,
    .notify = cb_notify,
};

static int to_poll_events(int e)
{
    return (e & SLIRP_POLL_IN ? POLLIN : 0) | (e & SLIRP_POLL_OUT ? POLLOUT : 0) |
           (e & SLIRP_POLL_PRI ? POLLPRI : 0) | (e & SLIRP_POLL_ERR ? POLLERR : 0) |
           (e & SLIRP_POLL_HUP ? POLLHUP : 0);
}

static int cb_add_poll(int fd, int events, void *opaque)
{
    struct net_slirp *s = opaque;
    struct pollfd p = {.fd = fd, .events = (short)to_poll_events(events)};
    g_array_append_val(s->pfds, p);
    return (int)s->pfds->len - 1;
}

static int cb_get_revents(int idx, void *opaque)
{
    struct net_slirp *s = opaque;
    if (idx < 0 || (guint)idx >= s->pfds->len)
        return 0;
    short r = g_array_index(s->pfds, struct pollfd, idx).revents;
    return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
           (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & POLLERR ? SLIRP_POLL_ERR : 0) |
           (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

/* ---- the loop ---- */

/* Fire every expired timer; a callback may re-arm or free timers, so the
 * scan starts over after each. Returns ms until the next one, or -1. */
static int64_t run_timers(struct net_slirp *s)
{
    for (;;) {
        int64_t now = now_ms(), next = -1;
        struct slirp_timer *due = NULL;
        for (guint i = 0; i < s->timers->len && !due; i++) {
            struct slirp_timer *t = g_ptr_array_index(s->timers, i);
            if (t->expire_ms < 0)
                continue;
            if (t->expire_ms <= now)
                due = t;
            else if (next < 0 || t->expire_ms - now < next)
                next = t->expire_ms - now;
        }
        if (!due)
            return next;
        due->expire_ms = -1;
        due->cb(due->cb_opaque);
    }
}

static gpointer slirp_loop(gpointer opaque)
{
    struct net_slirp *s = opaque;
    g_mutex_lock(&s->lock);
    while (!s->quit) {
        g_array_set_size(s->pfds, 0);
        struct pollfd w = {.fd = s->wake_fd, .events = POLLIN};
        g_array_append_val(s->pfds, w);
        uint32_t timeout = UINT32_MAX;
        slirp_pollfds_fill(s->slirp, &timeout, cb_add_poll, s);
        int64_t next = run_timers(s);
        int ms = timeout == UINT32_MAX ? -1 : (int)MIN(timeout, (uint32_t)G_MAXINT);
        if (next >= 0 && (ms < 0 || next < ms))
            ms = (int)MIN(next, (int64_t)G_MAXINT);
        g_mutex_unlock(&s->lock);
        int rc = poll((struct pollfd *)s->pfds->data, s->pfds->len, ms);
        int err = errno;
        g_mutex_lock(&s->lock);
        if (rc > 0 && g_array_index(s->pfds, struct pollfd, 0).revents) {
            uint64_t v;
            if (read(s->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                g_warning("VM '%s': user network: reading its wake-up: %s", s->be.vm_name,
                          g_strerror(errno));
        }
        if (rc < 0 && err != EINTR)
            g_warning("VM '%s': user network: poll: %s", s->be.vm_name, g_strerror(err));
        slirp_pollfds_poll(s->slirp, rc < 0, cb_get_revents, s);
        run_timers(s);
    }
    g_mutex_unlock(&s->lock);
    return NULL;
}

static int slirp_be_start(struct net_backend *be)
{
    struct net_slirp *s = (struct net_slirp *)be;
    g_autoptr(GError) err = NULL;
    s->thread = g_thread_try_new("qv-slirp", slirp_loop, s, &err);
    if (!s->thread)
        return qv_error_set(QV_ERR_SYSTEM, "VM '%s': cannot start the user network thread: %s",
                            be->vm_name, err->message);
    return 0;
}

static int slirp_be_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct net_slirp *s = (struct net_slirp *)be;
    if (len > G_MAXINT)
        return QV_ERR_INVALID_ARG;
    g_mutex_lock(&s->lock);
    slirp_input(s->slirp, frame, (int)len);
    g_mutex_unlock(&s->lock);
    wake(s);
    return 0;
}

static void slirp_be_free(struct net_backend *be)
{
    struct net_slirp *s = (struct net_slirp *)be;
    if (s->thread) {
        g_mutex_lock(&s->lock);
        s->quit = true;
        g_mutex_unlock(&s->lock);
        wake(s);
        g_thread_join(s->thread);
    }
    if (s->slirp)
        slirp_cleanup(s->slirp);
    if (s->timers)
        g_ptr_array_free(s->timers, TRUE);
    if (s->pfds)
        g_array_free(s->pfds, TRUE);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    g_mutex_clear(&s->lock);
    g_free(be->vm_name);
    g_free(s);
}

static const struct net_backend_ops slirp_ops = {
    .kind = "user",
    .start = slirp_be_start,
    .send = slirp_be_send,
    .free = slirp_be_free,
};

static struct in_addr ip4(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return a;
}

static struct in6_addr ip6(const char *s)
{
    struct in6_addr a;
    inet_pton(AF_INET6, s, &a);
    return a;
}

struct net_backend *net_slirp_new(const char *vm_name, uint16_t ssh_port)
{
    struct net_slirp *s = g_new0(struct net_slirp, 1);
    s->be.ops = &slirp_ops;
    s->be.vm_name = g_strdup(vm_name);
    g_mutex_init(&s->lock);
    s->timers = g_ptr_array_new_with_free_func(g_free);
    s->pfds = g_array_new(FALSE, TRUE, sizeof(struct pollfd));
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0) {
        qv_error_set_errno(QV_ERR_SYSTEM, errno, "VM '%s': cannot create an eventfd", vm_name);
        slirp_be_free(&s->be);
        return NULL;
    }
    /* QEMU's -netdev user defaults; host loopback reachable as 10.0.2.2. */
    SlirpConfig cfg = {
        .version = 4,
        .in_enabled = true,
        .vnetwork = ip4("10.0.2.0"),
        .vnetmask = ip4("255.255.255.0"),
        .vhost = ip4("10.0.2.2"),
        .in6_enabled = true,
        .vprefix_addr6 = ip6("fec0::"),
        .vprefix_len = 64,
        .vhost6 = ip6("fec0::2"),
        .vdhcp_start = ip4("10.0.2.15"),
        .vnameserver = ip4("10.0.2.3"),
        .vnameserver6 = ip6("fec0::3"),
    };
    s->slirp = slirp_new(&cfg, &slirp_cbs, s);
    if (!s->slirp) {
        qv_error_set(QV_ERR_SYSTEM, "VM '%s': cannot create the user network (libslirp)", vm_name);
        slirp_be_free(&s->be);
        return NULL;
    }
    /* Guest address 0: libslirp takes the first DHCP address, 10.0.2.15,
     * as QEMU's hostfwd=tcp:127.0.0.1:PORT-:22 does. */
    if (ssh_port &&
        slirp_add_hostfwd(s->slirp, 0, ip4("127.0.0.1"), ssh_port, ip4("0.0.0.0"), 22) < 0) {
        int err = errno;
        qv_error_set_errno(QV_ERR_SYSTEM, err,
                           "VM '%s': cannot forward host port 127.0.0.1:%u to the guest's port "
                           "22 (user network)",
                           vm_name, ssh_port);
        slirp_be_free(&s->be);
        return NULL;
    }
    return &s->be;
}
