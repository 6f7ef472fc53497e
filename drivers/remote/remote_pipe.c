/* DRIVER+pipe:///...: the helper is a child of this process on a socket
 * pair. The same protocol and helper as over SSH without the SSH: for tests
 * and for measuring what the protocol itself costs. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/proc/proc.h"
#include "lib/util/error.h"
#include "remote.h"

struct pipe_stream {
    struct remote_stream base;
    int fd;     /* read from */
    int out_fd; /* written to; fd for a socket pair */
    int err_fd; /* the helper's stderr */
    GPid pid;
    char *peer;
    bool borrowed; /* fds belong to the caller */
};

static int wait_fd(int fd, short ev, gint64 deadline, const char *peer)
{
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            gint64 left = deadline - g_get_monotonic_time();
            if (left <= 0)
                return qv_error_set(QV_ERR_TIMEOUT, "%s did not answer in time", peer);
            ms = (int)MIN(left / 1000 + 1, G_MAXINT);
        }
        struct pollfd p = {.fd = fd, .events = ev};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return qv_error_set_errno(QV_ERR_IO, errno, "waiting for %s", peer);
    }
}

static int pipe_send(struct remote_stream *s, const void *buf, size_t len, gint64 deadline)
{
    struct pipe_stream *p = (struct pipe_stream *)s;
    const char *b = buf;
    while (len) {
        int rc = wait_fd(p->out_fd, POLLOUT, deadline, p->peer);
        if (rc < 0)
            return rc;
        /* send() so that a closed peer is EPIPE, not SIGPIPE; the helper's
         * stdout is a pipe, where it ignores SIGPIPE instead. */
        ssize_t n = send(p->out_fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK)
            n = write(p->out_fd, b, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return qv_error_set(QV_ERR_CONNECT, "connection to %s lost: %s", p->peer,
                                g_strerror(errno));
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int pipe_recv(struct remote_stream *s, void *buf, size_t len, gint64 deadline)
{
    struct pipe_stream *p = (struct pipe_stream *)s;
    char *b = buf;
    while (len) {
        int rc = wait_fd(p->fd, POLLIN, deadline, p->peer);
        if (rc < 0)
            return rc;
        ssize_t n = read(p->fd, b, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            g_autofree char *why = s->ops->describe_end(s);
            return qv_error_set(QV_ERR_CONNECT, "connection to %s lost%s%s", p->peer,
                                why ? ": " : "", why ? why : "");
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static char *pipe_describe_end(struct remote_stream *s)
{
    struct pipe_stream *p = (struct pipe_stream *)s;
    char buf[1024];
    ssize_t n = p->err_fd >= 0 ? read(p->err_fd, buf, sizeof(buf) - 1) : -1;
    GString *out = g_string_new(NULL);
    if (n > 0) {
        buf[n] = 0;
        g_string_append_printf(out, "it said \"%s\"", g_strstrip(buf));
    }
    int status;
    gint64 until = g_get_monotonic_time() + 200 * 1000;
    pid_t w = 0;
    while (p->pid > 0 && (w = waitpid(p->pid, &status, WNOHANG)) == 0 &&
           g_get_monotonic_time() < until)
        g_usleep(5000);
    if (w == p->pid) {
        p->pid = 0;
        if (WIFEXITED(status))
            g_string_append_printf(out, "%sit exited with status %d", out->len ? "; " : "",
                                   WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            g_string_append_printf(out, "%sit was killed by signal %d", out->len ? "; " : "",
                                   WTERMSIG(status));
    }
    return out->len ? g_string_free(out, FALSE) : (g_string_free(out, TRUE), NULL);
}

static void pipe_pump(struct remote_stream *s, int fd, int stop_fd)
{
    struct pipe_stream *p = (struct pipe_stream *)s;
    remote_relay(p->fd, fd, fd, p->out_fd, stop_fd);
}

static gpointer reap(gpointer pid)
{
    int status;
    while (waitpid(GPOINTER_TO_INT(pid), &status, 0) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void pipe_close(struct remote_stream *s)
{
    struct pipe_stream *p = (struct pipe_stream *)s;
    /* EOF tells the helper to finish what it does and exit. */
    if (!p->borrowed)
        close(p->fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    if (p->pid > 0) {
        /* Reaped in the background: a helper finishes the call it is in
         * before it sees the EOF, and the caller must not wait for that. */
        g_thread_unref(g_thread_new("qv-remote-reap", reap, GINT_TO_POINTER(p->pid)));
    }
    g_free(p->peer);
    g_free(p);
}

static const struct remote_stream_ops pipe_ops = {
    .send = pipe_send,
    .recv = pipe_recv,
    .describe_end = pipe_describe_end,
    .pump = pipe_pump,
    .close = pipe_close,
};

/* Out of the caller's process group, as a helper over SSH is: Ctrl-C in
 * `qv vm run` must reach qv, which then stops the VM through the helper,
 * and not kill the helper first. */
static void own_group(gpointer data)
{
    (void)data;
    setpgid(0, 0);
}

struct remote_stream *remote_pipe_open(const struct remote_target *t)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot create a socket pair for the helper");
        return NULL;
    }
    const char *argv[] = {t->qv, "remote-helper", NULL};
    g_autoptr(GError) gerr = NULL;
    GPid pid = 0;
    int err_fd = -1;
    g_auto(GStrv) envp = proc_child_environ();
    gboolean ok = g_spawn_async_with_pipes_and_fds(
        NULL, argv, (const char *const *)envp, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
        own_group, NULL, sv[1], sv[1], -1, NULL, NULL, 0, &pid, NULL, NULL, &err_fd, &gerr);
    close(sv[1]);
    if (!ok) {
        close(sv[0]);
        qv_error_set(QV_ERR_CONNECT, "cannot start the helper '%s remote-helper': %s", t->qv,
                     gerr->message);
        return NULL;
    }
    fcntl(err_fd, F_SETFL, fcntl(err_fd, F_GETFL) | O_NONBLOCK);
    struct pipe_stream *p = g_new0(struct pipe_stream, 1);
    p->base.ops = &pipe_ops;
    p->fd = p->out_fd = sv[0];
    p->err_fd = err_fd;
    p->pid = pid;
    p->peer = g_strdup(t->peer);
    return &p->base;
}

struct remote_stream *remote_fd_stream(int in_fd, int out_fd, const char *peer)
{
    struct pipe_stream *p = g_new0(struct pipe_stream, 1);
    p->base.ops = &pipe_ops;
    p->fd = in_fd;
    p->out_fd = out_fd;
    p->err_fd = -1;
    p->peer = g_strdup(peer);
    p->borrowed = true;
    return &p->base;
}
