/* A console behind a websocket (propolis-server's /instance/serial): binary
 * frames both ways, driven by libsoup's client on a GLib main loop. */
#include <errno.h>
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define CLI_ESCAPE_CHAR 0x1d /* Ctrl+] */
#define CLI_PROPOLIS_API_VERSION "5.0.0"
#define CLI_WS_CLOSE_TIMEOUT_S 2
/* Propolis sends what the guest printed in frames of at most a few KiB; a
 * larger frame is a misbehaving server, refused (libsoup closes with
 * "message too big") rather than buffered. */
#define CLI_WS_MAX_FRAME (64u * 1024)

struct ws_console {
    GMainLoop *loop;
    SoupWebsocketConnection *ws;
    const char *url;
    bool tty;
    int rc;
    guint stdin_watch;
    guint close_timer;
};

static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *data, gpointer user)
{
    (void)ws;
    struct ws_console *c = user;
    /* Console bytes come in binary frames; Propolis uses text frames for
     * control messages (JSON), which are not guest output. */
    if (type != SOUP_WEBSOCKET_DATA_BINARY)
        return;
    gsize len;
    const char *p = g_bytes_get_data(data, &len);
    while (len) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            g_main_loop_quit(c->loop);
            return;
        }
        p += n;
        len -= (gsize)n;
    }
}

static void on_closed(SoupWebsocketConnection *ws, gpointer user)
{
    (void)ws;
    g_main_loop_quit(((struct ws_console *)user)->loop);
}

static void on_error(SoupWebsocketConnection *ws, GError *err, gpointer user)
{
    (void)ws;
    struct ws_console *c = user;
    c->rc = cli_error("console %s: %s", c->url, err->message);
}

static gboolean quit_loop(gpointer user)
{
    struct ws_console *c = user;
    c->close_timer = 0;
    g_main_loop_quit(c->loop);
    return G_SOURCE_REMOVE;
}

static gboolean on_stdin(gint fd, GIOCondition cond, gpointer user)
{
    (void)cond;
    struct ws_console *c = user;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        /* Input ended (a pipe): keep printing what the console sends. */
        c->stdin_watch = 0;
        return G_SOURCE_REMOVE;
    }
    size_t len = (size_t)n;
    bool detach = false;
    if (c->tty) {
        char *esc = memchr(buf, CLI_ESCAPE_CHAR, len);
        if (esc) {
            len = (size_t)(esc - buf);
            detach = true;
        }
    }
    if (len && soup_websocket_connection_get_state(c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_send_binary(c->ws, buf, len);
    if (detach) {
        /* A closing handshake sends what is queued first; the "closed"
         * signal (or the timeout) then ends the loop. */
        c->stdin_watch = 0;
        if (soup_websocket_connection_get_state(c->ws) == SOUP_WEBSOCKET_STATE_OPEN) {
            soup_websocket_connection_close(c->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
            c->close_timer = g_timeout_add_seconds(CLI_WS_CLOSE_TIMEOUT_S, quit_loop, c);
        } else {
            g_main_loop_quit(c->loop);
        }
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void on_connected(GObject *source, GAsyncResult *res, gpointer user)
{
    struct ws_console *c = user;
    g_autoptr(GError) err = NULL;
    c->ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &err);
    if (!c->ws) {
        c->rc = cli_error("cannot connect to console %s: %s", c->url, err->message);
        g_main_loop_quit(c->loop);
        return;
    }
    soup_websocket_connection_set_max_incoming_payload_size(c->ws, CLI_WS_MAX_FRAME);
    g_signal_connect(c->ws, "message", G_CALLBACK(on_message), c);
    g_signal_connect(c->ws, "closed", G_CALLBACK(on_closed), c);
    g_signal_connect(c->ws, "error", G_CALLBACK(on_error), c);
    if (c->tty) {
        if (cli_term_raw(STDIN_FILENO, false, false) < 0) {
            c->rc = cli_error("cannot put the terminal into raw mode: %s", g_strerror(errno));
            g_main_loop_quit(c->loop);
            return;
        }
        fprintf(stderr, "Connected to %s. Escape character is ^] (Ctrl+]).\n", c->url);
    }
    c->stdin_watch = g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, c);
}

int cli_console_ws(const char *url)
{
    /* libsoup sends the upgrade request over http(s). */
    g_autofree char *http = NULL;
    if (g_str_has_prefix(url, "ws://"))
        http = g_strconcat("http://", url + 5, NULL);
    else if (g_str_has_prefix(url, "wss://"))
        http = g_strconcat("https://", url + 6, NULL);
    else
        return cli_error("not a websocket URL: %s", url);
    SoupMessage *msg = soup_message_new("GET", http);
    if (!msg)
        return cli_error("invalid console URL: %s", url);
    /* The websocket consoles libqv hands out are propolis-server's, whose
     * versioned API wants this header on every request, the upgrade
     * included; other servers ignore it. */
    soup_message_headers_replace(soup_message_get_request_headers(msg), "api-version",
                                 CLI_PROPOLIS_API_VERSION);
    struct ws_console c = {
        .loop = g_main_loop_new(NULL, FALSE),
        .url = url,
        .tty = isatty(STDIN_FILENO),
        .rc = CLI_EXIT_OK,
    };
    SoupSession *session = soup_session_new();
    soup_session_websocket_connect_async(session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                         on_connected, &c);
    g_main_loop_run(c.loop);
    cli_term_restore();
    if (c.tty && c.ws)
        fputc('\n', stderr);
    if (c.stdin_watch)
        g_source_remove(c.stdin_watch);
    if (c.close_timer)
        g_source_remove(c.close_timer);
    if (c.ws) {
        if (soup_websocket_connection_get_state(c.ws) == SOUP_WEBSOCKET_STATE_OPEN)
            soup_websocket_connection_close(c.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
        g_signal_handlers_disconnect_by_data(c.ws, &c);
        g_object_unref(c.ws);
    }
    g_object_unref(msg);
    g_object_unref(session);
    g_main_loop_unref(c.loop);
    return c.rc;
}
