/* QMP client: newline-delimited JSON over a stream socket, one command in
 * flight at a time, replies matched by id. */
#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../util/error.h"
#include "../util/json.h"
#include "qmp_limits.h"

/* An event waiting to be read. */
struct qmp_event {
    JsonObject *obj;
    size_t bytes; /* its line's length, standing for what it holds on */
    bool kept;    /* never dropped to make room */
};

struct qmp {
    int fd;
    char *label;
    char *version;
    GString *in;    /* bytes received, not yet split into messages */
    size_t scanned; /* bytes of in already known to hold no newline */
    GQueue events;  /* struct qmp_event *, oldest first */
    size_t event_bytes;
    guint64 events_dropped;
    guint64 next_id;
    int broken; /* the error that made the connection unusable, or 0 */
    char *broken_msg;
};

static gint64 deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
}

static int remaining_ms(gint64 deadline)
{
    if (deadline < 0)
        return -1;
    gint64 left = deadline - g_get_monotonic_time();
    return left <= 0 ? 0 : (int)((left + 999) / 1000);
}

/* Record a fatal error: later calls fail at once with the same message. */
static int fail(struct qmp *q, int code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int fail(struct qmp *q, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (code != QV_ERR_TIMEOUT) {
        q->broken = code;
        g_free(q->broken_msg);
        q->broken_msg = g_strdup(msg);
    }
    return qv_error_set(code, "%s", msg);
}

static int send_all(struct qmp *q, const char *buf, size_t len, gint64 deadline)
{
    size_t total = len;
    while (len > 0) {
        ssize_t n = send(q->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = q->fd, .events = POLLOUT};
            int r = poll(&p, 1, remaining_ms(deadline));
            if (r == 0) {
                int rc = fail(q, QV_ERR_TIMEOUT,
                              "QMP connection to %s: timed out sending a command", q->label);
                /* Half a line went out: the peer would read the next
                 * command glued to it, so nothing may follow. */
                if (len < total) {
                    q->broken = QV_ERR_CONNECT;
                    g_free(q->broken_msg);
                    q->broken_msg = g_strdup_printf(
                        "QMP connection to %s is unusable: an earlier command timed out "
                        "half-sent",
                        q->label);
                }
                return rc;
            }
            continue;
        }
        return fail(q, QV_ERR_CONNECT, "QMP connection to %s was lost while sending: %s", q->label,
                    g_strerror(errno));
    }
    return 0;
}

/* Take one complete line out of q->in, or return NULL. Only bytes not
 * scanned before are searched, so a line dribbled in small pieces costs
 * linear time. */
static char *take_line(struct qmp *q, size_t *len)
{
    char *nl = memchr(q->in->str + q->scanned, '\n', q->in->len - q->scanned);
    if (!nl) {
        q->scanned = q->in->len;
        return NULL;
    }
    size_t n = (size_t)(nl - q->in->str);
    char *line = g_strndup(q->in->str, n);
    g_string_erase(q->in, 0, (gssize)n + 1);
    q->scanned = 0;
    *len = n;
    return line;
}

int qmp_parse_message(const char *label, const char *line, size_t len, JsonObject **out)
{
    *out = NULL;
    /* QEMU ends lines with \r\n, which the parser takes as white space. */
    g_autofree char *what = g_strdup_printf("QMP message from %s", label);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_bounded(line, len, what, &err);
    /* line need not end in a NUL: quote at most its first 120 bytes. */
    int quote = (int)MIN(len, 120);
    if (!root)
        return qv_error_set(QV_ERR_PROTOCOL, "QMP peer %s sent malformed JSON (%s): %.*s", label,
                            err->message, quote, line);
    if (!JSON_NODE_HOLDS_OBJECT(root))
        return qv_error_set(QV_ERR_PROTOCOL,
                            "QMP peer %s sent a message that is not a JSON object: %.*s", label,
                            quote, line);
    *out = json_object_ref(json_node_get_object(root));
    return 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_isspace(s[i]))
            return false;
    return true;
}

/* Read the next message (a JSON object) from the peer; *bytes (may be
 * NULL) receives the length of its line. */
static int read_message(struct qmp *q, gint64 deadline, JsonObject **out, size_t *bytes)
{
    for (;;) {
        size_t len = 0;
        g_autofree char *line = take_line(q, &len);
        if (line) {
            if (blank(line, len))
                continue;
            if (qmp_parse_message(q->label, line, len, out) < 0)
                return fail(q, QV_ERR_PROTOCOL, "%s", qv_last_error()->message);
            if (bytes)
                *bytes = len;
            return 0;
        }
        if (q->in->len > QMP_MAX_LINE)
            return fail(q, QV_ERR_PROTOCOL, "QMP peer %s sent a message over %u bytes", q->label,
                        QMP_MAX_LINE);
        struct pollfd p = {.fd = q->fd, .events = POLLIN};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fail(q, QV_ERR_IO, "QMP connection to %s: poll failed: %s", q->label,
                        g_strerror(errno));
        if (r == 0)
            return fail(q, QV_ERR_TIMEOUT, "QMP peer %s did not answer in time", q->label);
        char buf[8192];
        ssize_t n = recv(q->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n < 0)
            return fail(q, QV_ERR_CONNECT, "QMP connection to %s was lost: %s", q->label,
                        g_strerror(errno));
        if (n == 0)
            return fail(q, QV_ERR_CONNECT,
                        "QMP connection to %s was closed by the peer (did the process exit?)",
                        q->label);
        g_string_append_len(q->in, buf, n);
    }
}

bool qmp_event_is_kept(const char *name)
{
    /* Run state, guest requests, hot-unplug completion and jobs: what a
     * driver may wait for with qmp_event_wait. Chatty events (RTC_CHANGE,
     * BALLOON_CHANGE, ...) only describe the latest value. */
    static const char *const kept[] = {
        "SHUTDOWN",
        "POWERDOWN",
        "RESET",
        "STOP",
        "RESUME",
        "SUSPEND",
        "WAKEUP",
        "GUEST_PANICKED",
        "GUEST_CRASHLOADED",
        "DEVICE_DELETED",
        "JOB_STATUS_CHANGE",
        "BLOCK_JOB_COMPLETED",
        "BLOCK_JOB_CANCELLED",
        "BLOCK_JOB_ERROR",
        "BLOCK_JOB_READY",
        "MIGRATION",
    };
    if (!name)
        return false;
    for (size_t i = 0; i < G_N_ELEMENTS(kept); i++)
        if (strcmp(name, kept[i]) == 0)
            return true;
    return false;
}

static void event_free(gpointer data)
{
    struct qmp_event *e = data;
    json_object_unref(e->obj);
    g_free(e);
}

/* Drop the oldest event that is not kept; false when there is none. */
static bool drop_oldest(struct qmp *q)
{
    for (GList *l = q->events.head; l; l = l->next) {
        struct qmp_event *e = l->data;
        if (e->kept)
            continue;
        if (q->events_dropped++ == 0)
            g_message("QMP peer %s: events arrive faster than they are read; dropping the oldest "
                      "(first: %s)",
                      q->label, qv_json_str(e->obj, "event") ? qv_json_str(e->obj, "event") : "?");
        q->event_bytes -= e->bytes;
        event_free(e);
        g_queue_delete_link(&q->events, l);
        return true;
    }
    return false;
}

/* Queue msg (taking it) and keep the queue within its bounds. */
static int queue_event(struct qmp *q, JsonObject *msg, size_t bytes)
{
    struct qmp_event *e = g_new(struct qmp_event, 1);
    *e = (struct qmp_event){msg, bytes, qmp_event_is_kept(qv_json_str(msg, "event"))};
    g_queue_push_tail(&q->events, e);
    q->event_bytes += bytes;
    while (q->events.length > QMP_MAX_EVENTS || q->event_bytes > QMP_MAX_EVENT_BYTES) {
        if (!drop_oldest(q))
            return fail(q, QV_ERR_PROTOCOL,
                        "QMP peer %s sent more than %u state-change events (or %u bytes of "
                        "them) that nobody read; it misbehaves",
                        q->label, QMP_MAX_EVENTS, QMP_MAX_EVENT_BYTES);
    }
    return 0;
}

static JsonObject *unwrap(struct qmp_event *e)
{
    JsonObject *o = e->obj;
    g_free(e);
    return o;
}

guint64 qmp_events_dropped(struct qmp *q)
{
    return q->events_dropped;
}

int qmp_error_code(const char *qmp_class)
{
    if (!qmp_class)
        return QV_ERR_BACKEND;
    if (strcmp(qmp_class, "CommandNotFound") == 0)
        return QV_ERR_UNSUPPORTED;
    if (strcmp(qmp_class, "DeviceNotFound") == 0)
        return QV_ERR_NOT_FOUND;
    if (strcmp(qmp_class, "KVMMissingCap") == 0)
        return QV_ERR_KVM;
    /* GenericError, DeviceNotActive and anything newer. */
    return QV_ERR_BACKEND;
}

static int check_greeting(struct qmp *q, JsonObject *msg)
{
    JsonObject *qmp = qv_json_obj(msg, "QMP");
    if (!qmp)
        return fail(q, QV_ERR_PROTOCOL, "%s did not greet with a QMP banner", q->label);
    JsonObject *qemu = qv_json_obj(qv_json_obj(qmp, "version"), "qemu");
    if (!qemu)
        return fail(q, QV_ERR_PROTOCOL, "%s sent a QMP banner without a version", q->label);
    q->version = g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
                                 qv_json_int(qemu, "major", 0), qv_json_int(qemu, "minor", 0),
                                 qv_json_int(qemu, "micro", 0));
    return 0;
}

struct qmp *qmp_open_fd(int fd, const char *label, int timeout_ms)
{
    struct qmp *q = g_new0(struct qmp, 1);
    q->fd = fd;
    q->label = g_strdup(label ? label : "QMP peer");
    q->in = g_string_new(NULL);
    g_queue_init(&q->events);
    q->next_id = 1;
    gint64 deadline = deadline_of(timeout_ms);
    JsonObject *greeting = NULL;
    int rc = read_message(q, deadline, &greeting, NULL);
    if (rc == 0) {
        rc = check_greeting(q, greeting);
        json_object_unref(greeting);
    }
    if (rc == 0)
        rc = qmp_command(q, "qmp_capabilities", NULL, NULL, remaining_ms(deadline));
    if (rc < 0) {
        qv_error_prefix("cannot set up QMP with %s", q->label);
        qmp_close(q);
        return NULL;
    }
    return q;
}

struct qmp *qmp_connect(const char *path, const char *label, int timeout_ms)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        qv_error_set(QV_ERR_INVALID_ARG, "QMP socket path '%s' is longer than %zu bytes", path,
                     sizeof(sa.sun_path) - 1);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot create a socket");
        return NULL;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = errno;
        close(fd);
        qv_error_set(QV_ERR_CONNECT, "cannot connect to the QMP socket of %s at '%s': %s",
                     label ? label : "the VM", path, g_strerror(err));
        return NULL;
    }
    return qmp_open_fd(fd, label, timeout_ms);
}

void qmp_close(struct qmp *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    g_queue_clear_full(&q->events, event_free);
    g_string_free(q->in, TRUE);
    g_free(q->label);
    g_free(q->version);
    g_free(q->broken_msg);
    g_free(q);
}

const char *qmp_version(struct qmp *q)
{
    return q->version;
}

static char *format_command(const char *cmd, JsonNode *args, const char *id)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, cmd);
    if (args) {
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, json_node_copy(args));
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    char *text = json_to_string(root, FALSE);
    char *line = g_strconcat(text, "\n", NULL);
    g_free(text);
    return line;
}

static int error_reply(struct qmp *q, const char *cmd, JsonObject *msg)
{
    JsonObject *eo = qv_json_obj(msg, "error");
    if (!eo)
        return fail(q, QV_ERR_PROTOCOL, "QMP peer %s answered '%s' with a malformed error",
                    q->label, cmd);
    const char *cls = qv_json_str(eo, "class");
    const char *desc = qv_json_str(eo, "desc");
    return qv_error_set(qmp_error_code(cls), "%s refused '%s': %s (%s)", q->label, cmd,
                        desc ? desc : "(no description)", cls ? cls : "no class");
}

int qmp_send(struct qmp *q, const char *cmd, JsonNode *args, char **id, int timeout_ms)
{
    *id = NULL;
    if (q->broken)
        return qv_error_set(q->broken, "%s", q->broken_msg);
    if (args && !JSON_NODE_HOLDS_OBJECT(args))
        return qv_error_set(QV_ERR_INVALID_ARG, "QMP arguments of '%s' must be an object", cmd);
    g_autofree char *tag = g_strdup_printf("qv-%" G_GUINT64_FORMAT, q->next_id++);
    g_autofree char *line = format_command(cmd, args, tag);
    int rc = send_all(q, line, strlen(line), deadline_of(timeout_ms));
    if (rc == 0)
        *id = g_steal_pointer(&tag);
    return rc;
}

int qmp_reply_wait(struct qmp *q, const char *cmd, const char *id, JsonNode **ret, int timeout_ms)
{
    if (ret)
        *ret = NULL;
    if (q->broken)
        return qv_error_set(q->broken, "%s", q->broken_msg);
    gint64 deadline = deadline_of(timeout_ms);
    for (;;) {
        JsonObject *msg = NULL;
        size_t bytes = 0;
        int rc = read_message(q, deadline, &msg, &bytes);
        if (rc < 0) {
            if (rc == QV_ERR_TIMEOUT)
                qv_error_set(QV_ERR_TIMEOUT, "%s did not answer '%s' within %d ms", q->label, cmd,
                             timeout_ms);
            return rc;
        }
        if (json_object_has_member(msg, "event")) {
            rc = queue_event(q, msg, bytes);
            if (rc < 0)
                return rc;
            continue;
        }
        bool has_ret = json_object_has_member(msg, "return");
        bool has_err = json_object_has_member(msg, "error");
        if (!has_ret && !has_err) {
            json_object_unref(msg);
            return fail(q, QV_ERR_PROTOCOL,
                        "QMP peer %s sent a message that is neither a reply nor an event",
                        q->label);
        }
        const char *got = qv_json_str(msg, "id");
        if (!got) {
            /* QEMU answers input it could not parse without an id. */
            rc = has_err ? error_reply(q, cmd, msg)
                         : fail(q, QV_ERR_PROTOCOL, "QMP peer %s answered '%s' without an id",
                                q->label, cmd);
            json_object_unref(msg);
            if (rc == QV_ERR_BACKEND)
                rc = fail(q, QV_ERR_PROTOCOL, "%s", qv_last_error()->message);
            return rc;
        }
        if (strcmp(got, id) != 0) {
            /* The late reply of a command that timed out earlier. */
            json_object_unref(msg);
            continue;
        }
        if (has_err) {
            rc = error_reply(q, cmd, msg);
        } else {
            if (ret)
                *ret = json_node_copy(json_object_get_member(msg, "return"));
            rc = 0;
        }
        json_object_unref(msg);
        return rc;
    }
}

int qmp_command(struct qmp *q, const char *cmd, JsonNode *args, JsonNode **ret, int timeout_ms)
{
    if (ret)
        *ret = NULL;
    gint64 deadline = deadline_of(timeout_ms);
    g_autofree char *id = NULL;
    int rc = qmp_send(q, cmd, args, &id, timeout_ms);
    if (rc < 0)
        return rc;
    /* One deadline for both halves, as the caller asked. */
    int left = timeout_ms < 0 ? -1 : remaining_ms(deadline);
    rc = qmp_reply_wait(q, cmd, id, ret, left);
    if (rc == QV_ERR_TIMEOUT)
        qv_error_set(QV_ERR_TIMEOUT, "%s did not answer '%s' within %d ms", q->label, cmd,
                     timeout_ms);
    return rc;
}

int qmp_command_json(struct qmp *q, const char *cmd, const char *args_json, JsonNode **ret,
                     int timeout_ms)
{
    if (!args_json)
        return qmp_command(q, cmd, NULL, ret, timeout_ms);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) args = json_from_string(args_json, &err);
    if (!args)
        return qv_error_set(QV_ERR_INVALID_ARG, "arguments of '%s' are not JSON: %s", cmd,
                            err->message);
    return qmp_command(q, cmd, args, ret, timeout_ms);
}

JsonObject *qmp_event_pop(struct qmp *q)
{
    struct qmp_event *e = g_queue_pop_head(&q->events);
    if (!e)
        return NULL;
    q->event_bytes -= e->bytes;
    return unwrap(e);
}

static JsonObject *take_event(struct qmp *q, const char *name)
{
    for (GList *l = q->events.head; l; l = l->next) {
        struct qmp_event *e = l->data;
        const char *n = qv_json_str(e->obj, "event");
        if (n && strcmp(n, name) == 0) {
            q->event_bytes -= e->bytes;
            g_queue_delete_link(&q->events, l);
            return unwrap(e);
        }
    }
    return NULL;
}

JsonObject *qmp_event_take(struct qmp *q, const char *name)
{
    return take_event(q, name);
}

int qmp_event_wait(struct qmp *q, const char *name, int timeout_ms, JsonObject **event)
{
    *event = take_event(q, name);
    if (*event)
        return 0;
    if (q->broken)
        return qv_error_set(q->broken, "%s", q->broken_msg);
    gint64 deadline = deadline_of(timeout_ms);
    for (;;) {
        JsonObject *msg = NULL;
        size_t bytes = 0;
        int rc = read_message(q, deadline, &msg, &bytes);
        if (rc == QV_ERR_TIMEOUT)
            return qv_error_set(QV_ERR_TIMEOUT, "%s sent no %s event within %d ms", q->label, name,
                                timeout_ms);
        if (rc < 0)
            return rc;
        if (!json_object_has_member(msg, "event")) {
            json_object_unref(msg); /* a stale reply */
            continue;
        }
        const char *n = qv_json_str(msg, "event");
        if (n && strcmp(n, name) == 0) {
            *event = msg;
            return 0;
        }
        rc = queue_event(q, msg, bytes);
        if (rc < 0)
            return rc;
    }
}
