/* Console backends. Output is written from vCPU threads; input is read by
 * one thread per backend that an eventfd wakes for shutdown. A pty or
 * socket that cannot take output right now (nobody reads it, no client,
 * the peer hung up) drops it rather than stall the guest or raise SIGPIPE
 * in the host process; their fds are non-blocking for that. */
#define _GNU_SOURCE
#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "../../../lib/util/error.h"

struct kvm_chardev {
    enum qv_chardev_type type;
    int out_fd;    /* -1: discard */
    int in_fd;     /* -1: no input */
    int listen_fd; /* unix mode='bind' */
    int wake_fd;
    char *endpoint;
    char *unlink_path;
    GMutex lock; /* out_fd and in_fd of a unix client change under it */
    GThread *reader;
    kvm_chardev_input_fn fn;
    void *opaque;
};

static struct kvm_chardev *chr_new(enum qv_chardev_type type)
{
    struct kvm_chardev *c = g_new0(struct kvm_chardev, 1);
    c->type = type;
    c->out_fd = c->in_fd = c->listen_fd = -1;
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_mutex_init(&c->lock);
    return c;
}

static int open_pty(struct kvm_chardev *c, const char *vm)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return qv_error_set_errno(QV_ERR_SYSTEM, e,
                                  "VM '%s': cannot create a pty for the serial "
                                  "console",
                                  vm);
    }
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    char name[128];
    if (ptsname_r(fd, name, sizeof(name)) != 0)
        g_strlcpy(name, "?", sizeof(name));
    c->out_fd = fd;
    c->in_fd = fd;
    c->endpoint = g_strdup_printf("pty:%s", name);
    return 0;
}

static int open_unix(struct kvm_chardev *c, const struct qv_chardev *cfg, const char *vm)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!cfg->path || strlen(cfg->path) >= sizeof(sa.sun_path))
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': the unix serial console needs a socket path shorter than "
                            "%zu bytes",
                            vm, sizeof(sa.sun_path));
    g_strlcpy(sa.sun_path, cfg->path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "VM '%s': socket", vm);
    if (cfg->listen) {
        unlink(cfg->path);
        mode_t old = umask(0177); /* the socket is 0600 */
        int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (rc < 0 || listen(fd, 1) < 0) {
            int e = errno;
            close(fd);
            return qv_error_set_errno(QV_ERR_SYSTEM, e,
                                      "VM '%s': cannot listen on serial socket %s", vm, cfg->path);
        }
        c->listen_fd = fd;
        c->unlink_path = g_strdup(cfg->path);
    } else {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            int e = errno;
            close(fd);
            return qv_error_set_errno(QV_ERR_CONNECT, e,
                                      "VM '%s': cannot connect to serial socket %s", vm, cfg->path);
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        c->out_fd = c->in_fd = fd;
    }
    c->endpoint = g_strdup_printf("unix:%s", cfg->path);
    return 0;
}

struct kvm_chardev *kvm_chardev_open(const struct qv_chardev *cfg, const char *vm)
{
    struct kvm_chardev *c = chr_new(cfg ? cfg->type : QV_CHR_NULL);
    int rc = 0;
    switch (c->type) {
    case QV_CHR_NULL: c->endpoint = g_strdup("null"); break;
    case QV_CHR_STDIO:
        c->out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        c->in_fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        c->endpoint = g_strdup("stdio");
        break;
    case QV_CHR_FILE:
        if (!cfg->path) {
            rc = qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': the file serial console has no path",
                              vm);
            break;
        }
        c->out_fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (c->out_fd < 0)
            rc = qv_error_set_errno(QV_ERR_IO, errno, "VM '%s': cannot open serial log %s", vm,
                                    cfg->path);
        c->endpoint = g_strdup_printf("file:%s", cfg->path);
        break;
    case QV_CHR_PTY: rc = open_pty(c, vm); break;
    case QV_CHR_UNIX: rc = open_unix(c, cfg, vm); break;
    default:
        rc = qv_error_set(QV_ERR_UNSUPPORTED,
                          "VM '%s': the kvm driver's serial port supports stdio, file, pty, unix "
                          "and null backends",
                          vm);
    }
    if (rc < 0) {
        kvm_chardev_close(c);
        return NULL;
    }
    return c;
}

void kvm_chardev_write(struct kvm_chardev *c, const uint8_t *buf, size_t len)
{
    if (!c)
        return;
    g_mutex_lock(&c->lock);
    while (len && c->out_fd >= 0) {
        ssize_t n = c->type == QV_CHR_UNIX ? send(c->out_fd, buf, len, MSG_NOSIGNAL)
                                           : write(c->out_fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* full or gone: the guest's output is dropped */
        buf += n;
        len -= (size_t)n;
    }
    g_mutex_unlock(&c->lock);
}

void kvm_chardev_flush(struct kvm_chardev *c)
{
    if (c && c->out_fd >= 0 && c->type == QV_CHR_FILE)
        fdatasync(c->out_fd);
}

static gpointer reader(gpointer data)
{
    struct kvm_chardev *c = data;
    uint8_t buf[256];
    for (;;) {
        g_mutex_lock(&c->lock);
        int fd = c->in_fd >= 0 ? c->in_fd : c->listen_fd;
        g_mutex_unlock(&c->lock);
        if (fd < 0)
            return NULL;
        struct pollfd p[2] = {{c->wake_fd, POLLIN, 0}, {fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (p[0].revents)
            return NULL;
        if (!p[1].revents)
            continue;
        if (fd == c->listen_fd) {
            int cl = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (cl >= 0) {
                g_mutex_lock(&c->lock);
                c->in_fd = c->out_fd = cl;
                g_mutex_unlock(&c->lock);
            }
            continue;
        }
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            /* EOF. A unix client may come back; other inputs are done. */
            g_mutex_lock(&c->lock);
            bool relisten = c->listen_fd >= 0;
            if (relisten) {
                close(c->in_fd);
                c->in_fd = c->out_fd = -1;
            }
            g_mutex_unlock(&c->lock);
            if (relisten)
                continue;
            if (c->type == QV_CHR_PTY && n == 0)
                continue;
            if (c->type == QV_CHR_PTY) {
                /* No slave open yet (EIO): wait a little and retry. */
                g_usleep(100000);
                continue;
            }
            return NULL;
        }
        c->fn(c->opaque, buf, (size_t)n);
    }
}

void kvm_chardev_start_input(struct kvm_chardev *c, kvm_chardev_input_fn fn, void *opaque)
{
    if (!c || c->reader || (c->in_fd < 0 && c->listen_fd < 0) || c->wake_fd < 0)
        return;
    c->fn = fn;
    c->opaque = opaque;
    c->reader = g_thread_new("qv-console", reader, c);
}

void kvm_chardev_close(struct kvm_chardev *c)
{
    if (!c)
        return;
    if (c->reader) {
        uint64_t one = 1;
        if (write(c->wake_fd, &one, sizeof(one)) < 0)
            g_warning("cannot wake the console reader");
        g_thread_join(c->reader);
    }
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->in_fd >= 0 && c->in_fd != c->out_fd)
        close(c->in_fd);
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    if (c->unlink_path)
        unlink(c->unlink_path);
    g_free(c->unlink_path);
    g_free(c->endpoint);
    g_mutex_clear(&c->lock);
    g_free(c);
}

const char *kvm_chardev_endpoint(struct kvm_chardev *c)
{
    return c ? c->endpoint : NULL;
}
