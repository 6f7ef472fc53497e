/* Consoles over a remote connection: vm_console_endpoint gives a unix
 * socket on this host, and each connection to it is a stream of its own to
 * a helper on the remote host that relays the VM's console there. A local
 * socket rather than a pipe the caller reads: `qv vm console`, `qv vm run`
 * and any program already know how to attach to "unix:PATH". */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/proc/proc.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "remote.h"

struct tunnel {
    struct remote_conn *rc;
    char *vm;
    char *path;
    int listen_fd;
    /* Opened by vm_console_endpoint (so that its errors are that call's),
     * and handed to the first connection. */
    struct remote_stream *ready;
    GThread *thread;
};

/* One accepted connection and the stream it is relayed over. */
struct relay {
    struct remote_conn *rc;
    char *vm;
    int fd;
    struct remote_stream *stream;
    GThread *thread;
    gint done;
};

struct remote_tunnels {
    GMutex lock;
    char *dir;         /* this connection's private directory */
    int stop[2];       /* readable: every thread ends */
    GHashTable *by_vm; /* VM name -> struct tunnel */
    GPtrArray *relays; /* struct relay, joined when done or at close */
    unsigned next;
};

int remote_write_fd(int fd, const void *buf, size_t len, int stop_fd)
{
    const char *b = buf;
    while (len) {
        /* send() so that a closed peer is EPIPE, not SIGPIPE. */
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p[2] = {{.fd = fd, .events = POLLOUT}, {.fd = stop_fd, .events = POLLIN}};
            if (poll(p, 2, -1) < 0 && errno != EINTR)
                return -1;
            if (p[1].revents)
                return -1;
            continue;
        }
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

void remote_relay(int a_in, int b_out, int b_in, int a_out, int stop_fd)
{
    char buf[16384];
    for (;;) {
        struct pollfd pf[3] = {
            {.fd = a_in, .events = POLLIN},
            {.fd = b_in, .events = POLLIN},
            {.fd = stop_fd, .events = POLLIN},
        };
        if (poll(pf, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (pf[2].revents)
            return;
        for (int i = 0; i < 2; i++) {
            if (!pf[i].revents)
                continue;
            ssize_t n = read(pf[i].fd, buf, sizeof(buf));
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            /* The end of either side, or a pty whose QEMU went away (EIO),
             * ends the relay. */
            if (n <= 0 || remote_write_fd(i == 0 ? b_out : a_out, buf, (size_t)n, stop_fd) < 0)
                return;
        }
    }
}

/* A stream whose helper relays the console of vm from now on. */
static struct remote_stream *console_stream(struct remote_conn *rc, const char *vm)
{
    struct remote_stream *s = remote_stream_open(rc);
    if (!s)
        return NULL;
    JsonObject *p = json_object_new();
    json_object_set_string_member(p, "name", vm);
    if (remote_stream_request(rc, s, "console", p, NULL) < 0) {
        s->ops->close(s);
        return NULL;
    }
    return s;
}

static gpointer relay_main(gpointer data)
{
    struct relay *r = data;
    if (!r->stream)
        r->stream = console_stream(r->rc, r->vm);
    /* One byte tells the helper to open the console now. */
    if (r->stream && r->stream->ops->send(r->stream, "", 1, -1) == 0) {
        r->stream->ops->pump(r->stream, r->fd, r->rc->tunnels->stop[0]);
    } else {
        /* Whoever attached sees why, rather than a console that closes
         * without a word. */
        g_autofree char *msg = g_strdup_printf("\r\nqv: the console of VM '%s' on %s: %s\r\n",
                                               r->vm, r->rc->target.peer, qv_last_error()->message);
        remote_write_fd(r->fd, msg, strlen(msg), r->rc->tunnels->stop[0]);
    }
    /* Now, not when the relay is reaped: the helper holds the console
     * open (a second reader of a pty takes bytes from the first) until
     * the stream ends, and whoever attached waits for the socket to
     * close. */
    if (r->stream)
        r->stream->ops->close(r->stream);
    r->stream = NULL;
    close(r->fd);
    r->fd = -1;
    g_atomic_int_set(&r->done, 1);
    return NULL;
}

static void relay_free(gpointer data)
{
    struct relay *r = data;
    g_thread_join(r->thread);
    g_free(r->vm);
    g_free(r);
}

/* Join the relays that have finished; the caller holds the lock. */
static void reap_relays(struct remote_tunnels *ts)
{
    for (guint i = ts->relays->len; i-- > 0;) {
        struct relay *r = g_ptr_array_index(ts->relays, i);
        if (g_atomic_int_get(&r->done))
            g_ptr_array_remove_index_fast(ts->relays, i);
    }
}

static gpointer listen_main(gpointer data)
{
    struct tunnel *t = data;
    struct remote_tunnels *ts = t->rc->tunnels;
    for (;;) {
        struct pollfd p[2] = {{.fd = t->listen_fd, .events = POLLIN},
                              {.fd = ts->stop[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!p[0].revents)
            continue;
        int fd = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            continue;
        struct relay *r = g_new0(struct relay, 1);
        r->rc = t->rc;
        r->vm = g_strdup(t->vm);
        r->fd = fd;
        g_mutex_lock(&ts->lock);
        reap_relays(ts);
        r->stream = t->ready;
        t->ready = NULL;
        r->thread = g_thread_new("qv-console-relay", relay_main, r);
        g_ptr_array_add(ts->relays, r);
        g_mutex_unlock(&ts->lock);
    }
    return NULL;
}

static void tunnel_free(gpointer data)
{
    struct tunnel *t = data;
    if (t->thread)
        g_thread_join(t->thread);
    if (t->ready)
        t->ready->ops->close(t->ready);
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    if (t->path)
        unlink(t->path);
    g_free(t->path);
    g_free(t->vm);
    g_free(t);
}

/* Directories of processes that died without closing their connection. */
static void remove_stale(const char *base)
{
    g_autoptr(GDir) d = g_dir_open(base, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        long pid = 0;
        if (sscanf(e, "remote-%ld-", &pid) != 1 || pid <= 0 || pid == getpid())
            continue;
        if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            g_autofree char *p = g_build_filename(base, e, NULL);
            qv_dir_remove_tree(p);
        }
    }
}

void remote_tunnels_sweep(void)
{
    g_autofree char *base = proc_runtime_base();
    struct stat st;
    /* Only a directory this user owns (and so made) is swept. */
    if (lstat(base, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
        remove_stale(base);
}

static struct remote_tunnels *tunnels_new(void)
{
    g_autofree char *base = proc_runtime_base();
    if (qv_dir_ensure(base, 0700) < 0)
        return NULL;
    struct stat st;
    if (stat(base, &st) < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot use %s", base), NULL;
    if (qv_dir_check_owner(base, &st) < 0)
        return NULL;
    remove_stale(base);
    g_autofree char *tmpl = g_strdup_printf("%s/remote-%ld-XXXXXX", base, (long)getpid());
    if (!g_mkdtemp_full(tmpl, 0700)) {
        qv_error_set_errno(QV_ERR_IO, errno, "cannot create a directory in %s for console sockets",
                           base);
        return NULL;
    }
    struct remote_tunnels *ts = g_new0(struct remote_tunnels, 1);
    g_autoptr(GError) gerr = NULL;
    if (!g_unix_open_pipe(ts->stop, FD_CLOEXEC, &gerr)) {
        qv_error_set(QV_ERR_SYSTEM, "cannot create a pipe: %s", gerr->message);
        rmdir(tmpl);
        g_free(ts);
        return NULL;
    }
    g_mutex_init(&ts->lock);
    ts->dir = g_steal_pointer(&tmpl);
    ts->by_vm = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, tunnel_free);
    ts->relays = g_ptr_array_new_with_free_func(relay_free);
    return ts;
}

static struct remote_tunnels *tunnels_get(struct remote_conn *rc)
{
    g_mutex_lock(&rc->spare_lock);
    if (!rc->tunnels)
        rc->tunnels = tunnels_new();
    struct remote_tunnels *ts = rc->tunnels;
    g_mutex_unlock(&rc->spare_lock);
    return ts;
}

static int listen_on(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return qv_error_set(QV_ERR_IO,
                            "the console socket path %s is too long for a unix socket (set "
                            "XDG_RUNTIME_DIR to a shorter directory)",
                            path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "socket");
    /* The directory is 0700 already; the socket is made 0600 before
     * anything can connect, whatever the umask. */
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(path, 0600) < 0 ||
        listen(fd, 8) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return qv_error_set_errno(QV_ERR_IO, e, "cannot listen on %s", path);
    }
    return fd;
}

char *remote_tunnel_endpoint(struct remote_conn *rc, const char *vm)
{
    struct remote_tunnels *ts = tunnels_get(rc);
    if (!ts)
        return NULL;
    /* Asks the helper where the console is now, so that a VM without one
     * fails this call as it would locally. */
    struct remote_stream *s = console_stream(rc, vm);
    if (!s)
        return NULL;
    char *out = NULL;
    g_mutex_lock(&ts->lock);
    struct tunnel *t = g_hash_table_lookup(ts->by_vm, vm);
    if (!t) {
        g_autofree char *path = g_strdup_printf("%s/console-%u.sock", ts->dir, ts->next++);
        int fd = listen_on(path);
        if (fd < 0) {
            g_mutex_unlock(&ts->lock);
            s->ops->close(s);
            return NULL;
        }
        t = g_new0(struct tunnel, 1);
        t->rc = rc;
        t->vm = g_strdup(vm);
        t->path = g_steal_pointer(&path);
        t->listen_fd = fd;
        g_hash_table_insert(ts->by_vm, t->vm, t);
        t->thread = g_thread_new("qv-console-listen", listen_main, t);
    }
    /* A stream nobody claimed is replaced by the fresh one: the console
     * behind it may have changed (a restart makes a new pty). */
    if (t->ready)
        t->ready->ops->close(t->ready);
    t->ready = s;
    out = g_strdup_printf("unix:%s", t->path);
    g_mutex_unlock(&ts->lock);
    return out;
}

void remote_tunnels_free(struct remote_conn *rc)
{
    struct remote_tunnels *ts = rc->tunnels;
    if (!ts)
        return;
    ssize_t n = write(ts->stop[1], "x", 1);
    (void)n;
    /* Listeners first: they add relays. */
    g_hash_table_destroy(ts->by_vm);
    g_ptr_array_free(ts->relays, TRUE);
    close(ts->stop[0]);
    close(ts->stop[1]);
    rmdir(ts->dir);
    g_free(ts->dir);
    g_mutex_clear(&ts->lock);
    g_free(ts);
    rc->tunnels = NULL;
}
