/* A small synchronous REST client for one propolis-server (libsoup-3).
 * Every request carries the API version header and a bounded timeout; every
 * failure becomes one qv error that names the server and the request. */
#include <libsoup/soup.h>
#include <string.h>

#include "lib/util/error.h"
#include "lib/util/json.h"
#include "propolis.h"

/* Answers larger than this are not a Propolis answer but a runaway peer;
 * the bounded JSON parser would refuse them anyway. */
#define PROPOLIS_MAX_BODY QV_JSON_MAX_BYTES

struct propolis_client *propolis_client_new(const char *host, int port, int timeout_s)
{
    struct propolis_client *c = g_new0(struct propolis_client, 1);
    c->host = g_strdup(host);
    c->port = port;
    c->authority = strchr(host, ':') ? g_strdup_printf("[%s]:%d", host, port)
                                     : g_strdup_printf("%s:%d", host, port);
    c->base = g_strdup_printf("http://%s", c->authority);
    c->timeout_s = timeout_s > 0 ? timeout_s : PROPOLIS_DEFAULT_TIMEOUT_S;
    return c;
}

void propolis_client_free(struct propolis_client *c)
{
    if (!c)
        return;
    g_free(c->host);
    g_free(c->authority);
    g_free(c->base);
    g_free(c);
}

static int map_gerror(struct propolis_client *c, const char *method, const char *path,
                      const GError *err)
{
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
        g_error_matches(err, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
        g_error_matches(err, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE) ||
        g_error_matches(err, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND))
        return qv_error_set(QV_ERR_CONNECT, "cannot reach propolis-server at %s (%s %s): %s",
                            c->authority, method, path, err->message);
    /* Anything else after connecting means the peer went away mid-call. */
    return qv_error_set(QV_ERR_CONNECT,
                        "propolis-server at %s closed the connection during %s %s: %s",
                        c->authority, method, path, err->message);
}

/* One exchange on a private main context, so that a deadline in
 * milliseconds can cancel it wherever it is (connecting, waiting for the
 * answer, reading the body) and a runaway body can be cut off. */
struct exchange {
    GMainLoop *loop;
    GCancellable *cancel;
    SoupSession *session;
    GInputStream *in;
    GByteArray *body;
    GError *error;
    bool timed_out;
    bool too_big;
};

static gboolean exchange_deadline(gpointer data)
{
    struct exchange *x = data;
    x->timed_out = true;
    g_cancellable_cancel(x->cancel);
    return G_SOURCE_REMOVE;
}

static void exchange_read(GObject *src, GAsyncResult *res, gpointer data)
{
    struct exchange *x = data;
    GBytes *chunk = g_input_stream_read_bytes_finish(G_INPUT_STREAM(src), res, &x->error);
    if (!chunk || g_bytes_get_size(chunk) == 0) {
        if (chunk)
            g_bytes_unref(chunk);
        g_main_loop_quit(x->loop);
        return;
    }
    gsize n = 0;
    const guint8 *p = g_bytes_get_data(chunk, &n);
    if (x->body->len + n > PROPOLIS_MAX_BODY) {
        x->too_big = true;
        g_bytes_unref(chunk);
        g_main_loop_quit(x->loop);
        return;
    }
    g_byte_array_append(x->body, p, (guint)n);
    g_bytes_unref(chunk);
    g_input_stream_read_bytes_async(x->in, 16384, G_PRIORITY_DEFAULT, x->cancel, exchange_read, x);
}

static void exchange_sent(GObject *src, GAsyncResult *res, gpointer data)
{
    struct exchange *x = data;
    x->in = soup_session_send_finish(SOUP_SESSION(src), res, &x->error);
    if (!x->in) {
        g_main_loop_quit(x->loop);
        return;
    }
    g_input_stream_read_bytes_async(x->in, 16384, G_PRIORITY_DEFAULT, x->cancel, exchange_read, x);
}

/* Runs msg to completion; the body lands in x->body. Returns false with
 * x->error, x->timed_out or x->too_big set on failure. */
static bool exchange_run(SoupMessage *msg, int timeout_ms, struct exchange *x)
{
    GMainContext *ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    x->session = soup_session_new_with_options("timeout", 0u, "idle-timeout", 0u, "user-agent",
                                               "libqv-propolis/" QV_VERSION_STRING, NULL);
    x->loop = g_main_loop_new(ctx, FALSE);
    x->cancel = g_cancellable_new();
    x->body = g_byte_array_new();
    GSource *deadline = g_timeout_source_new((guint)timeout_ms);
    g_source_set_callback(deadline, exchange_deadline, x, NULL);
    g_source_attach(deadline, ctx);
    soup_session_send_async(x->session, msg, G_PRIORITY_DEFAULT, x->cancel, exchange_sent, x);
    g_main_loop_run(x->loop);
    g_source_destroy(deadline);
    g_source_unref(deadline);
    if (x->in) {
        g_input_stream_close(x->in, NULL, NULL);
        g_clear_object(&x->in);
    }
    g_clear_object(&x->session);
    /* Let the session's pending cleanups run before the context goes. */
    while (g_main_context_iteration(ctx, FALSE))
        ;
    g_main_loop_unref(x->loop);
    g_object_unref(x->cancel);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
    return !x->error && !x->too_big && !x->timed_out;
}

/* Depth, size, NULs and trailing data bounded as for every outside JSON. */
static JsonNode *parse_json(const GByteArray *buf, GError **err)
{
    return qv_json_parse_bounded((const char *)buf->data, buf->len, "the answer", err);
}

/* The server's Error {message, request_id, error_code} as a qv error. */
static int server_error(struct propolis_client *c, const char *method, const char *path,
                        guint status, const GByteArray *buf)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = buf->len ? parse_json(buf, &err) : NULL;
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    const char *message = qv_json_str(o, "message");
    const char *request_id = qv_json_str(o, "request_id");
    const char *code = qv_json_str(o, "error_code");
    if (!message || !request_id)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "propolis-server at %s answered %s %s with HTTP %u %s and no "
                            "Propolis error body",
                            c->authority, method, path, status, soup_status_get_phrase(status));
    return qv_error_set(QV_ERR_BACKEND,
                        "propolis-server at %s refused %s %s (HTTP %u%s%s, request id %s): %s",
                        c->authority, method, path, status, code ? ", " : "", code ? code : "",
                        request_id, message);
}

int propolis_request(struct propolis_client *c, const char *method, const char *path,
                     JsonNode *body, guint expect, bool allow_404, int timeout_ms, guint *status,
                     JsonNode **out)
{
    if (out)
        *out = NULL;
    if (status)
        *status = 0;
    if (timeout_ms <= 0)
        timeout_ms = c->timeout_s * 1000;
    g_autofree char *url = g_strconcat(c->base, path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, url);
    if (!msg)
        return qv_error_set(QV_ERR_INTERNAL, "cannot build a request for %s", url);
    SoupMessageHeaders *hdrs = soup_message_get_request_headers(msg);
    soup_message_headers_replace(hdrs, PROPOLIS_API_VERSION_HEADER, PROPOLIS_API_VERSION);
    soup_message_headers_replace(hdrs, "Accept", "application/json");
    if (body) {
        char *text = json_to_string(body, FALSE);
        gsize len = strlen(text);
        g_autoptr(GBytes) bytes = g_bytes_new_take(text, len);
        soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
    }
    struct exchange x = {0};
    bool ok = exchange_run(msg, timeout_ms, &x);
    g_autoptr(GByteArray) buf = x.body;
    g_autoptr(GError) err = x.error;
    if (x.too_big)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "propolis-server at %s answered %s %s with more than %u bytes",
                            c->authority, method, path, PROPOLIS_MAX_BODY);
    if (x.timed_out)
        return qv_error_set(QV_ERR_TIMEOUT,
                            "propolis-server at %s did not answer %s %s within %d ms", c->authority,
                            method, path, timeout_ms);
    if (!ok)
        return map_gerror(c, method, path, err);
    guint code = soup_message_get_status(msg);
    if (status)
        *status = code;
    if (code == 404 && allow_404)
        return 0;
    return propolis_answer(c, method, path, code, expect, buf->data, buf->len, out);
}

int propolis_answer(struct propolis_client *c, const char *method, const char *path, guint code,
                    guint expect, const guint8 *body, size_t len, JsonNode **out)
{
    GByteArray buf = {.data = (guint8 *)body, .len = (guint)len};
    if (code != expect) {
        if (code >= 400 && code < 600)
            return server_error(c, method, path, code, &buf);
        return qv_error_set(QV_ERR_PROTOCOL,
                            "propolis-server at %s answered %s %s with HTTP %u %s, expected %u",
                            c->authority, method, path, code, soup_status_get_phrase(code), expect);
    }
    if (!out || len == 0)
        return 0;
    g_autoptr(GError) perr = NULL;
    JsonNode *root = parse_json(&buf, &perr);
    if (!root)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "propolis-server at %s answered %s %s with malformed JSON: %s",
                            c->authority, method, path, perr->message);
    *out = root;
    return 0;
}
