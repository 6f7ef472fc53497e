/* The client side of the websocket upgrade (RFC 6455 section 4), then the
 * connection handed to libsoup through the guard stream. libsoup writes the
 * request headers and parses the answer; the rest is here because
 * SoupSession gives no way to put a stream between the socket and its
 * websocket framing. */
#include <string.h>

#include "ws_guard.h"

#define WS_HEAD_MAX (16u * 1024)
/* RFC 6455: the server proves it read the key by hashing it with this. */
#define WS_ACCEPT_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static void ws_append_header(const char *name, const char *value, gpointer data)
{
    g_string_append_printf(data, "%s: %s\r\n", name, value);
}

static bool ws_printable(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
            return false;
    return true;
}

/* The request line and headers, from msg's URI and request headers. */
static GString *ws_request(SoupMessage *msg, bool tls, GError **err)
{
    GUri *uri = soup_message_get_uri(msg);
    const char *host = g_uri_get_host(uri);
    const char *path = g_uri_get_path(uri);
    const char *query = g_uri_get_query(uri);
    int port = g_uri_get_port(uri);
    if (!host || !*host || !ws_printable(host) || !ws_printable(path) || !ws_printable(query)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "the URL has no host, or a space or control character");
        return NULL;
    }
    GString *req = g_string_new("GET ");
    g_string_append(req, *path ? path : "/");
    if (query)
        g_string_append_printf(req, "?%s", query);
    g_string_append(req, " HTTP/1.1\r\nHost: ");
    g_string_append_printf(req, strchr(host, ':') ? "[%s]" : "%s", host);
    if (port > 0 && port != (tls ? 443 : 80))
        g_string_append_printf(req, ":%d", port);
    g_string_append(req, "\r\n");
    soup_message_headers_foreach(soup_message_get_request_headers(msg), ws_append_header, req);
    g_string_append(req, "\r\n");
    return req;
}

static void ws_upgrade_late(GError **err, guint timeout_s)
{
    g_set_error(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                "the server did not answer the websocket upgrade within %u s", timeout_s);
}

/* The answer's status line and headers, up to the blank line: read a byte
 * at a time so that nothing after it (the first frames) is taken from the
 * stream libsoup reads next. */
static GString *ws_read_head(GInputStream *in, GSocket *sock, guint timeout_s, GError **err)
{
    GString *head = g_string_new(NULL);
    /* One deadline for the whole answer: a server trickling a byte at a
     * time must not stretch it (the socket timeout is per read). */
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        gint64 left = deadline - g_get_monotonic_time();
        if (timeout_s && left <= 0) {
            ws_upgrade_late(err, timeout_s);
            break;
        }
        if (timeout_s)
            g_socket_set_timeout(sock, (guint)((left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC));
        char c;
        g_autoptr(GError) rerr = NULL;
        gssize n = g_input_stream_read(in, &c, 1, NULL, &rerr);
        if (n < 0) {
            /* The per-read timeout is rounded up to whole seconds, so it can
             * expire on the deadline itself: that is the deadline, not some
             * other I/O failure. */
            if (timeout_s && g_error_matches(rerr, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
                ws_upgrade_late(err, timeout_s);
            else
                g_propagate_error(err, g_steal_pointer(&rerr));
            break;
        }
        if (n == 0) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                        "the server closed the connection before answering the websocket "
                        "upgrade");
            break;
        }
        if (head->len >= WS_HEAD_MAX) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                        "the server's answer to the websocket upgrade has a head over %u bytes",
                        WS_HEAD_MAX);
            break;
        }
        g_string_append_c(head, c);
        if (c == '\n' &&
            (g_str_has_suffix(head->str, "\n\r\n") || g_str_has_suffix(head->str, "\n\n")))
            return head;
    }
    g_string_free(head, TRUE);
    return NULL;
}

static char *ws_accept_for(const char *key)
{
    g_autofree char *both = g_strconcat(key, WS_ACCEPT_GUID, NULL);
    guint8 sha1[20];
    gsize len = sizeof(sha1);
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(sum, (const guchar *)both, (gssize)strlen(both));
    g_checksum_get_digest(sum, sha1, &len);
    g_checksum_free(sum);
    return g_base64_encode(sha1, len);
}

/* Is head a valid answer to msg's upgrade request? */
static bool ws_check_answer(SoupMessage *msg, const GString *head, GError **err)
{
    g_autoptr(SoupMessageHeaders) h = soup_message_headers_new(SOUP_MESSAGE_HEADERS_RESPONSE);
    guint status = 0;
    g_autofree char *reason = NULL;
    if (memchr(head->str, '\0', head->len) ||
        !soup_headers_parse_response(head->str, (int)head->len, h, NULL, &status, &reason)) {
        g_autofree char *line = g_strndup(head->str, strcspn(head->str, "\r\n"));
        g_autofree char *shown = g_strescape(line, NULL);
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the server's answer to the websocket upgrade is not HTTP: \"%.80s\"", shown);
        return false;
    }
    if (status != SOUP_STATUS_SWITCHING_PROTOCOLS) {
        g_autofree char *shown = g_strescape(reason ? reason : "", NULL);
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "the server refused the websocket upgrade: HTTP %u %.80s", status, shown);
        return false;
    }
    if (!soup_message_headers_header_equals(h, "Upgrade", "websocket") ||
        !soup_message_headers_header_contains(h, "Connection", "upgrade")) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the server answered the websocket upgrade without \"Upgrade: websocket\" "
                    "and \"Connection: upgrade\"");
        return false;
    }
    /* qv offers no extension (permessage-deflate would make the bytes
     * libsoup buffers differ from those the guard counts) and no
     * subprotocol, so the server may choose neither. */
    const char *ext = soup_message_headers_get_list(h, "Sec-WebSocket-Extensions");
    const char *proto = soup_message_headers_get_one(h, "Sec-WebSocket-Protocol");
    if ((ext && *ext) || (proto && *proto)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the server chose a websocket %s qv did not offer",
                    ext && *ext ? "extension" : "subprotocol");
        return false;
    }
    const char *key =
        soup_message_headers_get_one(soup_message_get_request_headers(msg), "Sec-WebSocket-Key");
    g_autofree char *want = ws_accept_for(key);
    const char *got = soup_message_headers_get_one(h, "Sec-WebSocket-Accept");
    if (!got || strcmp(got, want)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the server's Sec-WebSocket-Accept does not match the key qv sent");
        return false;
    }
    return true;
}

SoupWebsocketConnection *cli_ws_connect(const char *url, const char *const *headers,
                                        guint64 max_message, guint64 max_owed, guint timeout_s,
                                        GError **err)
{
    bool tls = g_str_has_prefix(url, "wss://");
    g_autofree char *http = NULL;
    if (tls)
        http = g_strconcat("https://", url + 6, NULL);
    else if (g_str_has_prefix(url, "ws://"))
        http = g_strconcat("http://", url + 5, NULL);
    g_autoptr(SoupMessage) msg = http ? soup_message_new("GET", http) : NULL;
    if (!msg) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "not a websocket URL");
        return NULL;
    }
    soup_websocket_client_prepare_handshake(msg, NULL, NULL, NULL);
    for (const char *const *h = headers; h && h[0] && h[1]; h += 2)
        soup_message_headers_replace(soup_message_get_request_headers(msg), h[0], h[1]);
    g_autoptr(GString) req = ws_request(msg, tls, err);
    if (!req)
        return NULL;

    g_autoptr(GSocketConnectable) addr = g_network_address_parse_uri(http, tls ? 443 : 80, err);
    if (!addr)
        return NULL;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_socket_client_set_timeout(client, timeout_s);
    g_socket_client_set_tls(client, tls);
    g_autoptr(GSocketConnection) conn = g_socket_client_connect(client, addr, NULL, err);
    if (!conn)
        return NULL;
    GIOStream *io = G_IO_STREAM(conn);
    if (!g_output_stream_write_all(g_io_stream_get_output_stream(io), req->str, req->len, NULL,
                                   NULL, err))
        return NULL;
    g_autoptr(GString) head = ws_read_head(g_io_stream_get_input_stream(io),
                                           g_socket_connection_get_socket(conn), timeout_s, err);
    if (!head || !ws_check_answer(msg, head, err))
        return NULL;
    /* The timeout was for the handshake: a console may be idle for hours,
     * and a socket timeout would also fire on libsoup's poll sources. */
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 0);

    g_autoptr(GIOStream) guard = cli_ws_guard_new(io, max_message, max_owed);
    SoupWebsocketConnection *ws = soup_websocket_connection_new(
        guard, soup_message_get_uri(msg), SOUP_WEBSOCKET_CONNECTION_CLIENT, NULL, NULL, NULL);
    /* The guard bounds a frame too; this is libsoup's own check besides. */
    soup_websocket_connection_set_max_incoming_payload_size(ws, max_message);
    return ws;
}
