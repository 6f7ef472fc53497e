/* The QMP server: QEMU's wire protocol (docs/interop/qmp-spec.rst) on
 * a socket in the state directory, one client at a time. qv-vmm runs two,
 * qmp.sock and status.sock, as drivers/qemu gives QEMU two monitors: state
 * queries on the second are answered while a client holds the first.
 *
 * While a client is connected the listening socket is not watched, so a
 * second client's connect() succeeds (the kernel queues it) but it gets
 * no greeting until the first disconnects: QEMU's monitor socket does the
 * same. Replies and events go through an output buffer written when the
 * socket can take it; a client that stops reading while more than
 * VMM_QMP_MAX_OUT bytes pile up is dropped rather than grow qv-vmm. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/qmp/qmp_limits.h"
#include "vmm.h"
#include "vmm_stream.h"

#define VMM_QMP_MAX_OUT (16u << 20)
/* Messages handled per dispatch: a client streaming many small values
 * (64 KiB of "1\n" is 32768 of them) then yields to the other monitor and
 * the watcher between batches. */
#define VMM_QMP_BATCH 32

struct vmm_qmp {
    struct vmm *v;
    char *name; /* of the socket in the state directory */
    int listen_fd;
    ino_t ino;
    guint listen_src;
    int client_fd;
    guint client_src;
    guint out_src;
    guint drain_src; /* idle: more buffered messages; client_src is off meanwhile */
    GString *out;
    struct vmm_stream *stream;
    bool negotiated; /* qmp_capabilities done on this connection */
};

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data);

static void watch_listen(struct vmm_qmp *q)
{
    if (!q->listen_src)
        q->listen_src = g_unix_fd_add(q->listen_fd, G_IO_IN, on_accept, q);
}

static void drop_client(struct vmm_qmp *q)
{
    if (q->client_fd < 0)
        return;
    if (q->client_src)
        g_source_remove(q->client_src);
    if (q->out_src)
        g_source_remove(q->out_src);
    if (q->drain_src)
        g_source_remove(q->drain_src);
    q->client_src = q->out_src = q->drain_src = 0;
    close(q->client_fd);
    q->client_fd = -1;
    g_string_truncate(q->out, 0);
    vmm_stream_free(q->stream);
    q->stream = NULL;
    q->negotiated = false; /* a new connection starts in negotiation mode */
    if (!q->v->exiting)
        watch_listen(q);
}

/* Write what the socket takes now. false when the client is gone. */
static bool write_some(struct vmm_qmp *q)
{
    while (q->out->len > 0) {
        ssize_t n = send(q->client_fd, q->out->str, q->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            g_string_erase(q->out, 0, n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        return false;
    }
    return true;
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer data)
{
    (void)fd;
    (void)cond;
    struct vmm_qmp *q = data;
    if (!write_some(q)) {
        q->out_src = 0;
        drop_client(q);
        return G_SOURCE_REMOVE;
    }
    if (q->out->len == 0) {
        q->out_src = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* Queue one message (consumed) for the client. */
static void send_node(struct vmm_qmp *q, JsonNode *msg)
{
    if (q->client_fd < 0) {
        json_node_unref(msg);
        return;
    }
    g_autofree char *text = json_to_string(msg, FALSE);
    json_node_unref(msg);
    if (q->out->len + strlen(text) + 2 > VMM_QMP_MAX_OUT) {
        fprintf(stderr,
                "qv-vmm: QMP client does not read its replies (%zu bytes queued): dropping it\n",
                q->out->len);
        drop_client(q);
        return;
    }
    /* QEMU ends every message with CRLF. */
    g_string_append(q->out, text);
    g_string_append(q->out, "\r\n");
    if (!write_some(q)) {
        drop_client(q);
        return;
    }
    if (q->out->len > 0 && !q->out_src)
        q->out_src = g_unix_fd_add(q->client_fd, G_IO_OUT, on_writable, q);
}

static JsonNode *object_node(JsonObject *o)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    return n;
}

static void send_error(struct vmm_qmp *q, const char *cls, const char *desc, JsonNode *id)
{
    JsonObject *e = json_object_new();
    json_object_set_string_member(e, "class", cls);
    json_object_set_string_member(e, "desc", desc);
    JsonObject *m = json_object_new();
    json_object_set_object_member(m, "error", e);
    if (id)
        json_object_set_member(m, "id", json_node_copy(id));
    send_node(q, object_node(m));
}

JsonObject *vmm_qmp_version(void)
{
    /* libqv's version stands where QEMU puts its own. */
    unsigned major = 0, minor = 0, micro = 0;
    sscanf(qv_version(), "%u.%u.%u", &major, &minor, &micro);
    JsonObject *ver = json_object_new();
    json_object_set_int_member(ver, "micro", micro);
    json_object_set_int_member(ver, "minor", minor);
    json_object_set_int_member(ver, "major", major);
    JsonObject *version = json_object_new();
    json_object_set_object_member(version, "qemu", ver);
    g_autofree char *pkg = g_strdup_printf("qv-vmm (libqv %s)", qv_version());
    json_object_set_string_member(version, "package", pkg);
    return version;
}

static void send_greeting(struct vmm_qmp *q)
{
    JsonObject *qmp = json_object_new();
    json_object_set_object_member(qmp, "version", vmm_qmp_version());
    /* No "oob": one command at a time. */
    json_object_set_array_member(qmp, "capabilities", json_array_new());
    JsonObject *m = json_object_new();
    json_object_set_object_member(m, "QMP", qmp);
    send_node(q, object_node(m));
}

void vmm_qmp_event(struct vmm_qmp *q, const char *name, JsonNode *data)
{
    if (!q || q->client_fd < 0 || !q->negotiated) {
        if (data)
            json_node_unref(data);
        return;
    }
    gint64 now = g_get_real_time();
    JsonObject *ts = json_object_new();
    json_object_set_int_member(ts, "seconds", now / G_USEC_PER_SEC);
    json_object_set_int_member(ts, "microseconds", now % G_USEC_PER_SEC);
    JsonObject *m = json_object_new();
    json_object_set_string_member(m, "event", name);
    if (data)
        json_object_set_member(m, "data", data);
    json_object_set_object_member(m, "timestamp", ts);
    send_node(q, object_node(m));
}

/* One value from the client: check it as QEMU's qmp_dispatch does, run the
 * command, answer. Nothing here may end the server. */
static void handle(struct vmm_qmp *q, const char *text, size_t len)
{
    g_autoptr(GError) perr = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_bounded(text, len, "QMP input", &perr);
    if (!root) {
        /* QEMU cannot know the id of what it could not parse: none. */
        g_autofree char *d = g_strdup_printf("JSON parse error, %s", perr->message);
        send_error(q, "GenericError", d, NULL);
        return;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        send_error(q, "GenericError", "QMP input must be a JSON object", NULL);
        return;
    }
    JsonObject *req = json_node_get_object(root);
    JsonNode *id = json_object_get_member(req, "id"); /* any JSON value, echoed as is */
    g_autoptr(GList) members = json_object_get_members(req);
    for (GList *l = members; l; l = l->next) {
        const char *k = l->data;
        if (strcmp(k, "execute") != 0 && strcmp(k, "arguments") != 0 && strcmp(k, "id") != 0) {
            g_autofree char *d = g_strdup_printf("QMP input member '%s' is unexpected", k);
            send_error(q, "GenericError", d, id);
            return;
        }
    }
    JsonNode *exec = json_object_get_member(req, "execute");
    if (!exec) {
        send_error(q, "GenericError", "QMP input lacks member 'execute'", id);
        return;
    }
    if (!JSON_NODE_HOLDS_VALUE(exec) || json_node_get_value_type(exec) != G_TYPE_STRING) {
        send_error(q, "GenericError", "QMP input member 'execute' must be a string", id);
        return;
    }
    JsonNode *argn = json_object_get_member(req, "arguments");
    if (argn && !JSON_NODE_HOLDS_OBJECT(argn)) {
        send_error(q, "GenericError", "QMP input member 'arguments' must be an object", id);
        return;
    }
    const char *name = json_node_get_string(exec);
    const struct vmm_cmd *cmd = vmm_cmd_find(name);
    if (!cmd) {
        g_autofree char *d = g_strdup_printf("The command %s has not been found", name);
        send_error(q, "CommandNotFound", d, id);
        return;
    }
    bool caps = strcmp(name, "qmp_capabilities") == 0;
    if (!q->negotiated && !caps) {
        g_autofree char *d = g_strdup_printf(
            "Expecting capabilities negotiation with 'qmp_capabilities' before command '%s'", name);
        send_error(q, "CommandNotFound", d, id);
        return;
    }
    if (q->negotiated && caps) {
        send_error(q, "CommandNotFound",
                   "Capabilities negotiation is already complete, command 'qmp_capabilities' "
                   "ignored",
                   id);
        return;
    }
    g_autoptr(JsonObject) empty = json_object_new();
    JsonObject *args = argn ? json_node_get_object(argn) : empty;
    struct vmm_cmd_error err = {0};
    vmm_after_fn after = NULL;
    JsonNode *ret = NULL;
    bool ok = vmm_cmd_check_args(cmd, args, &err);
    if (ok && cmd->uses_vm && q->v->active) {
        /* QEMU too refuses most state changes while a job runs; here the
         * job's libqv call holds the VM's lock, and the loop must not wait
         * for it. */
        vmm_cmd_fail(&err, "GenericError", "snapshot job '%s' is running", vmm_job_id(q->v));
        ok = false;
    }
    if (ok)
        ret = cmd->run(q->v, args, &err, &after);
    if (err.cls) {
        send_error(q, err.cls, err.desc ? err.desc : "failed", id);
        g_free(err.desc);
        if (ret)
            json_node_unref(ret);
        return;
    }
    if (caps)
        q->negotiated = true;
    JsonObject *m = json_object_new();
    json_object_set_member(m, "return", ret ? ret : vmm_empty_object());
    if (id)
        json_object_set_member(m, "id", json_node_copy(id));
    send_node(q, object_node(m));
    if (after)
        after(q->v);
}

/* Handle up to VMM_QMP_BATCH buffered messages: 0 when none is left, 1
 * when more may be, -1 when the command ended the connection or the
 * server. */
static int run_batch(struct vmm_qmp *q)
{
    int fd = q->client_fd;
    for (int i = 0; i < VMM_QMP_BATCH; i++) {
        char *msg = NULL;
        size_t len = 0;
        int r = vmm_stream_next(q->stream, &msg, &len);
        if (r == 0)
            return 0;
        if (r < 0) {
            g_autofree char *d =
                g_strdup_printf("JSON token size limit exceeded: a QMP message is at most %u "
                                "bytes; input skipped to the end of that line",
                                QMP_MAX_LINE);
            send_error(q, "GenericError", d, NULL);
        } else {
            handle(q, msg, len);
            g_free(msg);
        }
        if (q->client_fd != fd || q->v->exiting)
            return -1;
    }
    return 1;
}

static gboolean on_client(gint fd, GIOCondition cond, gpointer data);

/* The rest of a read, a batch per idle dispatch; reading resumes after. */
static gboolean on_drain(gpointer data)
{
    struct vmm_qmp *q = data;
    int fd = q->client_fd;
    int r = run_batch(q);
    if (q->client_fd != fd)
        return G_SOURCE_REMOVE; /* drop_client removed this source */
    if (r > 0)
        return G_SOURCE_CONTINUE;
    q->drain_src = 0;
    q->client_src = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, q);
    return G_SOURCE_REMOVE;
}

static gboolean on_client(gint fd, GIOCondition cond, gpointer data)
{
    struct vmm_qmp *q = data;
    (void)cond;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        q->client_src = 0; /* removed by returning */
        drop_client(q);
        return G_SOURCE_REMOVE;
    }
    vmm_stream_feed(q->stream, buf, (size_t)n);
    int r = run_batch(q);
    /* The command may have ended the connection or the server. */
    if (q->client_fd != fd)
        return G_SOURCE_REMOVE;
    if (r > 0) {
        /* Stop reading until what is buffered is handled: the buffer
         * stays one read long, and the idle runs after other sources. */
        q->client_src = 0;
        q->drain_src = g_idle_add(on_drain, q);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
    (void)cond;
    struct vmm_qmp *q = data;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0)
        return G_SOURCE_CONTINUE; /* EAGAIN, or the peer gave up already */
    q->client_fd = c;
    q->stream = vmm_stream_new(QMP_MAX_LINE);
    q->negotiated = false;
    q->client_src = g_unix_fd_add(c, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, q);
    q->listen_src = 0; /* one client at a time: others wait in the backlog */
    send_greeting(q);
    return G_SOURCE_REMOVE;
}

struct vmm_qmp *vmm_qmp_new(struct vmm *v, const char *name, GError **err)
{
    struct vmm_qmp *q = g_new0(struct vmm_qmp, 1);
    q->v = v;
    q->name = g_strdup(name);
    q->client_fd = -1;
    q->out = g_string_new(NULL);
    q->listen_fd = vmm_sock_listen(v->dir_fd, v->dir, name, &q->ino, err);
    if (q->listen_fd < 0) {
        g_free(q->name);
        g_string_free(q->out, TRUE);
        g_free(q);
        return NULL;
    }
    watch_listen(q);
    return q;
}

void vmm_qmp_flush(struct vmm_qmp *q, int timeout_ms)
{
    if (!q || q->client_fd < 0)
        return;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    while (q->out->len > 0 && write_some(q)) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        if (left <= 0 || q->out->len == 0)
            break;
        GPollFD p = {.fd = q->client_fd, .events = G_IO_OUT};
        if (g_poll(&p, 1, (gint)left) <= 0)
            break;
    }
}

void vmm_qmp_free(struct vmm_qmp *q)
{
    if (!q)
        return;
    q->v->exiting = true; /* no new listener from drop_client */
    drop_client(q);
    if (q->listen_src)
        g_source_remove(q->listen_src);
    /* Removed before the listening fd closes: a client never finds a
     * socket nobody will accept on. */
    vmm_sock_unlink(q->v->dir_fd, q->name, q->ino);
    close(q->listen_fd);
    g_free(q->name);
    g_string_free(q->out, TRUE);
    g_free(q);
}
