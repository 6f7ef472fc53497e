/* A console behind a websocket (propolis-server's /instance/serial): binary
 * frames both ways, framed by libsoup on a GLib main loop, over a
 * connection whose handshake and limits are qv's (ws_connect.c,
 * ws_guard.c). */
#include <errno.h>
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ws_guard.h"

#define CLI_ESCAPE_CHAR 0x1d /* Ctrl+] */
#define CLI_PROPOLIS_API_VERSION "5.0.0"
#define CLI_WS_CLOSE_TIMEOUT_S 2
#define CLI_WS_CONNECT_TIMEOUT_S 30
/* Propolis sends what the guest printed in messages of at most a few KiB; a
 * larger message, in one frame or in fragments, is a misbehaving server,
 * refused rather than buffered. */
#define CLI_WS_MAX_MESSAGE (64u * 1024)
/* libsoup queues a pong for every ping; a server that pings but does not
 * read would grow that queue without end. */
#define CLI_WS_MAX_OWED_PONGS 1024

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

int cli_console_ws(const char *url)
{
    /* The websocket consoles libqv hands out are propolis-server's, whose
     * versioned API wants this header on every request, the upgrade
     * included; other servers ignore it. */
    static const char *const headers[] = {"api-version", CLI_PROPOLIS_API_VERSION, NULL};
    g_autoptr(GError) err = NULL;
    struct ws_console c = {
        .url = url,
        .tty = isatty(STDIN_FILENO),
        .rc = CLI_EXIT_OK,
    };
    c.ws = cli_ws_connect(url, headers, CLI_WS_MAX_MESSAGE, CLI_WS_MAX_OWED_PONGS,
                          CLI_WS_CONNECT_TIMEOUT_S, &err);
    if (!c.ws)
        return cli_error("cannot connect to console %s: %s", url, err->message);
    c.loop = g_main_loop_new(NULL, FALSE);
    g_signal_connect(c.ws, "message", G_CALLBACK(on_message), &c);
    g_signal_connect(c.ws, "closed", G_CALLBACK(on_closed), &c);
    g_signal_connect(c.ws, "error", G_CALLBACK(on_error), &c);
    bool attached = true;
    if (c.tty) {
        if (cli_term_raw(STDIN_FILENO, false, false) < 0) {
            c.rc = cli_error("cannot put the terminal into raw mode: %s", g_strerror(errno));
            attached = false;
        } else {
            fprintf(stderr, "Connected to %s. Escape character is ^] (Ctrl+]).\n", url);
        }
    }
    if (attached) {
        c.stdin_watch = g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, &c);
        g_main_loop_run(c.loop);
    }
    cli_term_restore();
    if (c.tty && attached)
        fputc('\n', stderr);
    if (c.stdin_watch)
        g_source_remove(c.stdin_watch);
    if (c.close_timer)
        g_source_remove(c.close_timer);
    if (soup_websocket_connection_get_state(c.ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(c.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    g_signal_handlers_disconnect_by_data(c.ws, &c);
    g_object_unref(c.ws);
    g_main_loop_unref(c.loop);
    return c.rc;
}
