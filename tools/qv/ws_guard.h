/* Bounds on what a websocket server can make qv buffer, for libsoup 3.2,
 * which limits one frame but not a message reassembled from fragments. */
#ifndef QV_CLI_WS_GUARD_H
#define QV_CLI_WS_GUARD_H

#include <gio/gio.h>
#include <libsoup/soup.h>
#include <stdbool.h>

/* RFC 6455 frame headers followed passively through a byte stream, one
 * direction of a connection. Payload bytes are skipped, never copied. */
struct cli_ws_track {
    guint64 max_message; /* data payload of one message, fragments summed */
    guint8 hdr[14];      /* the frame header being read */
    unsigned hdr_len;
    guint64 skip;    /* payload bytes of the current frame still to come */
    guint64 message; /* payload of the unfinished data message so far */
    guint64 pings;   /* complete ping frame headers seen */
    guint64 pongs;   /* complete pong frame headers seen */
};

/* Follow the next n bytes. False when a data message (one frame, or a first
 * frame and its continuations; control frames between them do not count)
 * exceeds max_message: *ok is then how many of the n bytes precede the
 * header that announced it. */
bool cli_ws_track_feed(struct cli_ws_track *t, const guint8 *p, gsize n, gsize *ok);

/* base, as seen by a SoupWebsocketConnection of a client: reading fails
 * with G_IO_ERROR_MESSAGE_TOO_LARGE once the server sends a message over
 * max_message bytes, or with G_IO_ERROR_BUSY once it has sent more than
 * max_owed pings qv has not answered yet (libsoup queues each pong
 * without bound). Closing it closes base. */
GIOStream *cli_ws_guard_new(GIOStream *base, guint64 max_message, guint64 max_owed);

/* The upgrade handshake on a plain or TLS connection, done here rather than
 * by SoupSession so that libsoup's framing reads through the guard stream
 * (ws_connect.c). url is ws:// or wss://; headers (name, value, ...,
 * NULL) are added to the request. Blocks for at most timeout_s per step.
 * NULL with *err set on failure. */
SoupWebsocketConnection *cli_ws_connect(const char *url, const char *const *headers,
                                        guint64 max_message, guint64 max_owed, guint timeout_s,
                                        GError **err);

#endif
