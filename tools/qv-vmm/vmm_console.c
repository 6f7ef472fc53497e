/* The guest's serial console, relayed from the VM's console endpoint into
 * STATE_DIR/console.log (appended to, as the qemu driver has QEMU do with
 * logappend=on) and, both ways, to one client at a time on
 * STATE_DIR/console.sock.
 *
 * A pty endpoint ("pty:/dev/pts/N", what a <serial type='pty'> gives) is
 * opened and relayed. Other endpoints are where the definition asked the
 * console to be (a unix socket someone else connects to, a file, stdio):
 * they are left alone and console.log says where the console is. A driver
 * without consoles (noop) is noted in console.log too. Output the socket
 * client cannot take right now is dropped for it (console.log still has
 * it), as the kvm driver's chardevs do, so a slow client never stalls the
 * guest. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "vmm.h"

struct vmm_console {
    int dir_fd;
    char *dir;
    int log_fd;
    int pty_fd;
    guint pty_src;
    int listen_fd;
    ino_t ino;
    guint listen_src;
    int client_fd;
    guint client_src;
    char *endpoint;
};

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* a full disk loses log, never the guest */
        buf += n;
        len -= (size_t)n;
    }
}

static void log_line(struct vmm_console *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void log_line(struct vmm_console *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *line = g_strdup_printf("qv-vmm: %s\n", msg);
    write_all(c->log_fd, line, strlen(line));
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data);

static void drop_client(struct vmm_console *c)
{
    if (c->client_fd < 0)
        return;
    if (c->client_src)
        g_source_remove(c->client_src);
    c->client_src = 0;
    close(c->client_fd);
    c->client_fd = -1;
    if (c->listen_fd >= 0 && !c->listen_src)
        c->listen_src = g_unix_fd_add(c->listen_fd, G_IO_IN, on_accept, c);
}

/* Guest output: to the log, then to the client if it can take it. */
static bool pump_output(struct vmm_console *c)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(c->pty_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false; /* EIO: the VM closed its side */
        write_all(c->log_fd, buf, (size_t)n);
        if (c->client_fd >= 0 &&
            send(c->client_fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
            errno != EAGAIN && errno != EWOULDBLOCK)
            drop_client(c);
    }
}

static gboolean on_pty(gint fd, GIOCondition cond, gpointer data)
{
    (void)fd;
    (void)cond;
    struct vmm_console *c = data;
    if (pump_output(c))
        return G_SOURCE_CONTINUE;
    c->pty_src = 0;
    return G_SOURCE_REMOVE;
}

/* Client input: to the guest. */
static gboolean on_client(gint fd, GIOCondition cond, gpointer data)
{
    (void)cond;
    struct vmm_console *c = data;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        c->client_src = 0;
        drop_client(c);
        return G_SOURCE_REMOVE;
    }
    if (c->pty_fd >= 0) {
        /* The pty is non-blocking: wait briefly for room rather than lose
         * typed input, but never hang on a guest that reads nothing. */
        const char *p = buf;
        size_t left = (size_t)n;
        for (int tries = 0; left > 0 && tries < 50;) {
            ssize_t w = write(c->pty_fd, p, left);
            if (w > 0) {
                p += w;
                left -= (size_t)w;
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && errno == EAGAIN) {
                GPollFD pf = {.fd = c->pty_fd, .events = G_IO_OUT};
                g_poll(&pf, 1, 10);
                tries++;
            } else {
                break;
            }
        }
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
    (void)cond;
    struct vmm_console *c = data;
    int s = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (s < 0)
        return G_SOURCE_CONTINUE;
    c->client_fd = s;
    c->client_src = g_unix_fd_add(s, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, c);
    c->listen_src = 0; /* one client at a time, as qmp.sock */
    return G_SOURCE_REMOVE;
}

struct vmm_console *vmm_console_new(int dir_fd, const char *dir, GError **err)
{
    /* O_NONBLOCK: a FIFO planted there must not hang the open. */
    int fd = openat(dir_fd, "console.log",
                    O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                    0600);
    if (fd < 0) {
        g_set_error(err, g_quark_from_static_string("vmm-console"), 0,
                    "cannot open %s/console.log: %s", dir,
                    errno == ELOOP   ? "it is a symlink"
                    : errno == ENXIO ? "it is a FIFO, not a regular file"
                                     : g_strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        g_set_error(err, g_quark_from_static_string("vmm-console"), 0,
                    "%s/console.log is not a regular file", dir);
        close(fd);
        return NULL;
    }
    /* A log left by an earlier run keeps being private. */
    fchmod(fd, 0600);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct vmm_console *c = g_new0(struct vmm_console, 1);
    c->dir_fd = dir_fd;
    c->dir = g_strdup(dir);
    c->log_fd = fd;
    c->pty_fd = c->listen_fd = c->client_fd = -1;
    return c;
}

void vmm_console_attach(struct vmm_console *c, const char *ep, const char *why)
{
    if (!ep) {
        log_line(c, "the VM has no console to relay (%s)", why ? why : "no endpoint");
        return;
    }
    if (!g_str_has_prefix(ep, "pty:")) {
        log_line(c,
                 "the VM's console is at %s, as its <serial> asks; qv-vmm relays pty consoles "
                 "only, so nothing more is logged here",
                 ep);
        return;
    }
    int fd = open(ep + 4, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        log_line(c, "cannot open the VM's console %s: %s", ep, g_strerror(errno));
        return;
    }
    /* Raw: no echo of guest output back into the guest, no line editing. */
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    g_autoptr(GError) err = NULL;
    c->listen_fd = vmm_sock_listen(c->dir_fd, c->dir, "console.sock", &c->ino, &err);
    if (c->listen_fd < 0)
        log_line(c, "no console socket: %s", err->message);
    else
        c->listen_src = g_unix_fd_add(c->listen_fd, G_IO_IN, on_accept, c);
    c->pty_fd = fd;
    c->pty_src = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_pty, c);
    c->endpoint = g_strdup(ep);
}

const char *vmm_console_endpoint(struct vmm_console *c)
{
    return c ? c->endpoint : NULL;
}

void vmm_console_free(struct vmm_console *c)
{
    if (!c)
        return;
    if (c->pty_fd >= 0) {
        pump_output(c); /* what the guest wrote last */
        if (c->pty_src)
            g_source_remove(c->pty_src);
        close(c->pty_fd);
    }
    drop_client(c);
    if (c->listen_src)
        g_source_remove(c->listen_src);
    if (c->listen_fd >= 0) {
        vmm_sock_unlink(c->dir_fd, "console.sock", c->ino);
        close(c->listen_fd);
    }
    close(c->log_fd);
    g_free(c->endpoint);
    g_free(c->dir);
    g_free(c);
}
