/* The client end of the protocol: the handshake, one request at a time on
 * the connection's main stream, spare streams for long calls, and
 * reconnecting after a drop. */
#include <string.h>

#include "lib/util/error.h"
#include "remote.h"

void remote_target_clear(struct remote_target *t)
{
    g_free(t->scheme);
    g_free(t->host);
    g_free(t->user);
    g_free(t->keyfile);
    g_free(t->known_hosts);
    g_free(t->qv);
    g_free(t->remote_uri);
    g_free(t->peer);
    memset(t, 0, sizeof(*t));
}

static gint64 deadline_after(int ms)
{
    return ms < 0 ? -1 : g_get_monotonic_time() + (gint64)ms * 1000;
}

/* Send one request and read frames until its reply: the helper sends
 * {"id":N,"working":true} every third of the timeout while the call runs,
 * so silence for a whole timeout means the peer is gone or hung. Sets
 * *broken when the stream can no longer be trusted. */
static int stream_call(struct remote_stream *s, const struct remote_target *t, gint64 id,
                       const char *method, JsonObject *params, JsonObject **result, bool *broken)
{
    g_autoptr(JsonObject) req = json_object_new();
    json_object_set_int_member(req, "id", id);
    json_object_set_string_member(req, "method", method);
    json_object_set_object_member(req, "params", params ? params : json_object_new());
    *broken = true;
    int rc = remote_frame_send(s, req, deadline_after(t->timeout_ms));
    if (rc < 0)
        return rc;
    for (;;) {
        g_autoptr(JsonObject) msg = remote_frame_recv(s, deadline_after(t->timeout_ms), t->peer);
        if (!msg) {
            if (qv_error_code() == QV_ERR_TIMEOUT)
                qv_error_set(QV_ERR_TIMEOUT,
                             "%s sent nothing for %d ms during %s (timeout=%d s in the URI): "
                             "the host or its helper hangs",
                             t->peer, t->timeout_ms, method, t->timeout_ms / 1000);
            else
                qv_error_prefix("%s", method);
            return qv_error_code();
        }
        if (qv_json_int(msg, "id", -1) != id) {
            return qv_error_set(QV_ERR_PROTOCOL,
                                "%s answered request %" G_GINT64_FORMAT " while %" G_GINT64_FORMAT
                                " (%s) was outstanding",
                                t->peer, qv_json_int(msg, "id", -1), id, method);
        }
        if (qv_json_bool(msg, "working", FALSE))
            continue;
        JsonObject *err = qv_json_obj(msg, "error");
        JsonObject *res = qv_json_obj(msg, "result");
        if (!err && !res)
            return qv_error_set(QV_ERR_PROTOCOL,
                                "%s: the reply to %s has neither a result nor an error", t->peer,
                                method);
        *broken = false;
        if (err)
            return remote_error_from_json(err, t->peer);
        if (result)
            *result = json_object_ref(res);
        return 0;
    }
}

/* Start a helper and open the remote URI in it. */
static struct remote_stream *stream_connect(const struct remote_conn *rc, char **state_dir)
{
    const struct remote_target *t = &rc->target;
    g_autoptr(JsonObject) res = NULL;
    bool broken;
    struct remote_stream *s = t->ssh ? remote_ssh_open(t) : remote_pipe_open(t);
    if (!s)
        return NULL;
    g_autoptr(JsonObject) hello = remote_frame_recv(s, deadline_after(t->timeout_ms), t->peer);
    if (!hello) {
        if (qv_error_code() == QV_ERR_TIMEOUT)
            qv_error_set(QV_ERR_TIMEOUT,
                         "'%s remote-helper' (%s) did not greet within %d ms (timeout= in the URI)",
                         t->qv, t->peer, t->timeout_ms);
        goto fail;
    }
    const char *proto = qv_json_str(hello, "protocol");
    gint64 version = qv_json_int(hello, "version", -1);
    if (g_strcmp0(proto, REMOTE_PROTOCOL_NAME) != 0) {
        qv_error_set(QV_ERR_PROTOCOL, "%s greeted with protocol '%s', not '%s'", t->peer,
                     proto ? proto : "(none)", REMOTE_PROTOCOL_NAME);
        goto fail;
    }
    if (version != REMOTE_PROTOCOL_VERSION) {
        const char *their = qv_json_str(hello, "qv");
        qv_error_set(QV_ERR_PROTOCOL,
                     "the qv on %s (libqv %s) speaks %s protocol version %" G_GINT64_FORMAT
                     "; this libqv (%s) speaks version %d: install the same qv on both hosts",
                     t->peer, their ? their : "?", REMOTE_PROTOCOL_NAME, version, QV_VERSION_STRING,
                     REMOTE_PROTOCOL_VERSION);
        goto fail;
    }
    JsonObject *p = json_object_new();
    json_object_set_int_member(p, "version", REMOTE_PROTOCOL_VERSION);
    json_object_set_string_member(p, "uri", t->remote_uri);
    json_object_set_int_member(p, "heartbeat_ms", MAX(t->timeout_ms / 3, 10));
    if (stream_call(s, t, 0, "open", p, &res, &broken) < 0) {
        /* The remote driver's own refusal (no qv-vmm there, a bad root=)
         * names that host's paths: say which host. */
        if (!broken)
            qv_error_prefix("%s%s", t->ssh ? "on " : "", t->peer);
        goto fail;
    }
    if (state_dir) {
        g_free(*state_dir);
        *state_dir = g_strdup(qv_json_str(res, "state_dir"));
    }
    return s;
fail:
    s->ops->close(s);
    return NULL;
}

static int call_on(struct remote_conn *rc, struct remote_stream **sp, const char *method,
                   JsonObject *params, JsonObject **result)
{
    if (!*sp) {
        *sp = stream_connect(rc, NULL);
        if (!*sp) {
            if (params)
                json_object_unref(params);
            return qv_error_code();
        }
    }
    bool broken = false;
    gint64 id = (gint64)g_atomic_int_add(&rc->next_id, 1) + 1;
    int r = stream_call(*sp, &rc->target, id, method, params, result, &broken);
    if (broken) {
        /* Keep the error; the next call starts a fresh stream. */
        (*sp)->ops->close(*sp);
        *sp = NULL;
        if (qv_error_code() == QV_ERR_CONNECT)
            qv_error_prefix("the connection to %s dropped (the next call reconnects)",
                            rc->target.peer);
    }
    return r;
}

int remote_call(struct remote_conn *rc, const char *method, JsonObject *params, JsonObject **result)
{
    g_mutex_lock(&rc->lock);
    int r = call_on(rc, &rc->main, method, params, result);
    g_mutex_unlock(&rc->lock);
    return r;
}

int remote_call_long(struct remote_conn *rc, const char *method, JsonObject *params,
                     JsonObject **result)
{
    struct remote_stream *s = NULL;
    g_mutex_lock(&rc->spare_lock);
    if (rc->spares->len)
        s = g_ptr_array_steal_index_fast(rc->spares, rc->spares->len - 1);
    g_mutex_unlock(&rc->spare_lock);
    int r = call_on(rc, &s, method, params, result);
    if (s) {
        g_mutex_lock(&rc->spare_lock);
        g_ptr_array_add(rc->spares, s);
        g_mutex_unlock(&rc->spare_lock);
    }
    return r;
}

struct remote_stream *remote_stream_open(const struct remote_conn *rc)
{
    return stream_connect(rc, NULL);
}

int remote_stream_request(struct remote_conn *rc, struct remote_stream *s, const char *method,
                          JsonObject *params, JsonObject **result)
{
    bool broken;
    gint64 id = (gint64)g_atomic_int_add(&rc->next_id, 1) + 1;
    return stream_call(s, &rc->target, id, method, params, result, &broken);
}

int remote_conn_connect(struct remote_conn *rc)
{
    rc->main = stream_connect(rc, &rc->state_dir);
    return rc->main ? 0 : qv_error_code();
}

static void stream_close(gpointer p)
{
    struct remote_stream *s = p;
    s->ops->close(s);
}

void remote_conn_free(struct remote_conn *rc)
{
    if (!rc)
        return;
    /* First: the tunnels' threads use the target and open streams. */
    remote_tunnels_free(rc);
    if (rc->main)
        rc->main->ops->close(rc->main);
    if (rc->spares) {
        g_ptr_array_set_free_func(rc->spares, stream_close);
        g_ptr_array_free(rc->spares, TRUE);
    }
    g_mutex_clear(&rc->lock);
    g_mutex_clear(&rc->spare_lock);
    g_free(rc->state_dir);
    remote_target_clear(&rc->target);
    g_free(rc);
}
