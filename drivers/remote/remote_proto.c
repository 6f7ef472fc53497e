/* Frames: a 4-byte big-endian length, then that many bytes of one JSON
 * object. The length comes first so that a reader never scans for a
 * delimiter in untrusted bytes, and is bounded before anything is read. */
#include <string.h>

#include "lib/util/error.h"
#include "remote.h"

int remote_frame_send(struct remote_stream *s, JsonObject *obj, gint64 deadline)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), obj);
    gsize len = 0;
    g_autofree char *text = json_to_string(node, FALSE);
    len = strlen(text);
    if (len > REMOTE_MAX_FRAME)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "a remote request of %zu bytes exceeds the limit of %u bytes",
                            (size_t)len, REMOTE_MAX_FRAME);
    /* One write for header and body: two would be two TCP segments, and
     * Nagle's algorithm holds the second until the first is acknowledged
     * (a delayed ACK: 40 ms per call over SSH). */
    g_autofree guint8 *buf = g_malloc(len + 4);
    buf[0] = len >> 24, buf[1] = len >> 16, buf[2] = len >> 8, buf[3] = len;
    memcpy(buf + 4, text, len);
    int rc = s->ops->send(s, buf, len + 4, deadline);
    return rc;
}

/* Printable text for an error message quoting what a peer sent. */
static char *quote_bytes(const guint8 *b, size_t n)
{
    GString *out = g_string_new(NULL);
    for (size_t i = 0; i < n; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
            g_string_append_c(out, (char)b[i]);
        else
            g_string_append_printf(out, "\\x%02x", b[i]);
    }
    return g_string_free(out, FALSE);
}

/* A length that cannot be ours is most often a shell or login banner, or a
 * `qv` that does not know remote-helper: show what came, so the user sees
 * which. */
static void garbage(struct remote_stream *s, const guint8 head[4], const char *what)
{
    guint8 more[60];
    size_t got = 0;
    gint64 soon = g_get_monotonic_time() + 200 * 1000;
    while (got < sizeof(more) && s->ops->recv(s, more + got, 1, soon) == 0)
        got++;
    guint8 all[64];
    memcpy(all, head, 4);
    memcpy(all + 4, more, got);
    g_autofree char *q = quote_bytes(all, 4 + got);
    qv_error_set(QV_ERR_PROTOCOL,
                 "%s sent something that is not a %s frame (it begins \"%s\"): is the qv there "
                 "a libqv %s or newer, and does the login shell print nothing?",
                 what, REMOTE_PROTOCOL_NAME, q, QV_VERSION_STRING);
}

JsonObject *remote_frame_recv(struct remote_stream *s, gint64 deadline, const char *what)
{
    guint8 head[4];
    if (s->ops->recv(s, head, sizeof(head), deadline) < 0)
        return NULL;
    guint32 len = (guint32)head[0] << 24 | (guint32)head[1] << 16 | (guint32)head[2] << 8 | head[3];
    if (len == 0 || len > REMOTE_MAX_FRAME) {
        garbage(s, head, what);
        return NULL;
    }
    g_autofree char *buf = g_malloc(len);
    if (s->ops->recv(s, buf, len, deadline) < 0)
        return NULL;
    g_autoptr(GError) gerr = NULL;
    g_autofree char *name = g_strdup_printf("message from %s", what);
    g_autoptr(JsonNode) node = qv_json_parse_bounded(buf, len, name, &gerr);
    if (!node) {
        qv_error_set(QV_ERR_PROTOCOL, "%s", gerr->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        qv_error_set(QV_ERR_PROTOCOL, "%s: a message is not a JSON object", what);
        return NULL;
    }
    return json_object_ref(json_node_get_object(node));
}

JsonObject *remote_error_to_json(const struct qv_error *err)
{
    JsonObject *e = json_object_new();
    json_object_set_int_member(e, "code", err->code ? err->code : QV_ERR_INTERNAL);
    json_object_set_string_member(e, "origin", err->origin && *err->origin ? err->origin : "core");
    json_object_set_string_member(e, "message", err->message ? err->message : "");
    return e;
}

int remote_error_from_json(JsonObject *e, const char *peer)
{
    gint64 code = qv_json_int(e, "code", QV_ERR_PROTOCOL);
    if (code >= 0 || code < QV_ERR_KVM - 100)
        code = QV_ERR_BACKEND;
    const char *msg = qv_json_str(e, "message");
    const char *origin = qv_json_str(e, "origin");
    if (!msg)
        msg = "(no message)";
    if (!qv_error_origin_ok(origin)) {
        /* Not a word we can keep as an origin: keep it visible in the
         * message instead. */
        return qv_error_set(QV_ERR_BACKEND, "%s: %s", peer, msg);
    }
    return qv_error_set_origin((int)code, origin, "%s", msg);
}
