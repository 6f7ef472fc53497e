/* The guard between a websocket connection and libsoup: both directions
 * pass through unchanged while their frame headers are followed, so that a
 * server cannot make qv buffer without bound what libsoup 3.2 would (a
 * message in endless fragments, pings whose pongs it never reads). */
#include "ws_guard.h"

#define WS_OP_CONTROL 0x08
#define WS_OP_PING 0x09
#define WS_OP_PONG 0x0a

/* Length of the header that starts with hdr[0..have), as far as known. */
static unsigned ws_header_size(const guint8 *hdr, unsigned have)
{
    if (have < 2)
        return 2;
    unsigned len = hdr[1] & 0x7f;
    return 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + ((hdr[1] & 0x80) ? 4 : 0);
}

static guint64 ws_payload_len(const guint8 *hdr)
{
    unsigned len = hdr[1] & 0x7f;
    if (len < 126)
        return len;
    unsigned bytes = len == 126 ? 2 : 8;
    guint64 v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | hdr[2 + i];
    return v;
}

bool cli_ws_track_feed(struct cli_ws_track *t, const guint8 *p, gsize n, gsize *ok)
{
    gsize i = 0;
    gsize start = 0; /* where the current header began in p (0: earlier) */
    while (i < n) {
        if (t->skip) {
            guint64 take = MIN(t->skip, (guint64)(n - i));
            t->skip -= take;
            i += (gsize)take;
            continue;
        }
        if (t->hdr_len == 0)
            start = i;
        t->hdr[t->hdr_len++] = p[i++];
        if (t->hdr_len < ws_header_size(t->hdr, t->hdr_len))
            continue;
        guint8 op = t->hdr[0] & 0x0f;
        bool fin = t->hdr[0] & 0x80;
        guint64 len = ws_payload_len(t->hdr);
        if (op == WS_OP_PING)
            t->pings++;
        else if (op == WS_OP_PONG)
            t->pongs++;
        else if (!(op & WS_OP_CONTROL)) {
            /* A non-zero opcode starts a message, 0 continues one; control
             * frames may come between fragments and leave the sum alone. */
            guint64 before = op ? 0 : t->message;
            if (len > t->max_message || before > t->max_message - len) {
                *ok = start;
                return false;
            }
            t->message = fin ? 0 : before + len;
        }
        t->skip = len;
        t->hdr_len = 0;
    }
    *ok = n;
    return true;
}

/* ---- the input side ------------------------------------------------------ */

struct ws_guard_state {
    struct cli_ws_track in, out;
    guint64 max_owed;
    GError *failed; /* sticky: every read after the first failure fails */
};

/* Shared by the stream pair and its two filters, whichever goes last. */
static void ws_guard_state_clear(gpointer data)
{
    g_clear_error(&((struct ws_guard_state *)data)->failed);
}

static void ws_guard_state_release(struct ws_guard_state *st)
{
    if (st)
        g_rc_box_release_full(st, ws_guard_state_clear);
}

#define CLI_TYPE_WS_GUARD_INPUT (cli_ws_guard_input_get_type())
G_DECLARE_FINAL_TYPE(CliWsGuardInput, cli_ws_guard_input, CLI, WS_GUARD_INPUT, GFilterInputStream)

struct _CliWsGuardInput {
    GFilterInputStream parent;
    struct ws_guard_state *st;
};

static void ws_guard_input_pollable_init(GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE(CliWsGuardInput, cli_ws_guard_input, G_TYPE_FILTER_INPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
                                              ws_guard_input_pollable_init))

static GInputStream *ws_guard_input_base(CliWsGuardInput *self)
{
    return g_filter_input_stream_get_base_stream(G_FILTER_INPUT_STREAM(self));
}

/* Account for n bytes just read into buf: n, fewer (those before the
 * offending frame), or -1 with *err set. */
static gssize ws_guard_input_pass(CliWsGuardInput *self, const void *buf, gssize n, GError **err)
{
    struct ws_guard_state *st = self->st;
    if (n <= 0)
        return n;
    gsize ok;
    guint64 pings = st->in.pings;
    if (!cli_ws_track_feed(&st->in, buf, (gsize)n, &ok))
        st->failed =
            g_error_new(G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                        "the server sent a websocket message larger than the limit of "
                        "%" G_GUINT64_FORMAT " bytes (all fragments of one message together)",
                        st->in.max_message);
    else if (st->in.pings != pings && st->in.pings - st->out.pongs > st->max_owed)
        st->failed = g_error_new(G_IO_ERROR, G_IO_ERROR_BUSY,
                                 "the server sent more than %" G_GUINT64_FORMAT
                                 " websocket pings without reading the replies",
                                 st->max_owed);
    else
        return n;
    if (ok > 0)
        return (gssize)ok; /* the next read reports the failure */
    g_propagate_error(err, g_error_copy(st->failed));
    return -1;
}

static gssize ws_guard_input_read(GInputStream *stream, void *buf, gsize count,
                                  GCancellable *cancellable, GError **err)
{
    CliWsGuardInput *self = CLI_WS_GUARD_INPUT(stream);
    if (self->st->failed) {
        g_propagate_error(err, g_error_copy(self->st->failed));
        return -1;
    }
    gssize n = g_input_stream_read(ws_guard_input_base(self), buf, count, cancellable, err);
    return ws_guard_input_pass(self, buf, n, err);
}

static gssize ws_guard_input_skip(GInputStream *stream, gsize count, GCancellable *cancellable,
                                  GError **err)
{
    /* Skipped bytes must still be followed, so they are read. */
    guint8 buf[4096];
    return ws_guard_input_read(stream, buf, MIN(count, sizeof(buf)), cancellable, err);
}

static gboolean ws_guard_input_can_poll(GPollableInputStream *stream)
{
    GInputStream *base = ws_guard_input_base(CLI_WS_GUARD_INPUT(stream));
    return G_IS_POLLABLE_INPUT_STREAM(base) &&
           g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(base));
}

static gboolean ws_guard_input_is_readable(GPollableInputStream *stream)
{
    CliWsGuardInput *self = CLI_WS_GUARD_INPUT(stream);
    return self->st->failed ||
           g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(ws_guard_input_base(self)));
}

static GSource *ws_guard_input_create_source(GPollableInputStream *stream,
                                             GCancellable *cancellable)
{
    CliWsGuardInput *self = CLI_WS_GUARD_INPUT(stream);
    GSource *child = self->st->failed
                         ? g_idle_source_new()
                         : g_pollable_input_stream_create_source(
                               G_POLLABLE_INPUT_STREAM(ws_guard_input_base(self)), NULL);
    GSource *source = g_pollable_source_new_full(stream, child, cancellable);
    g_source_unref(child);
    return source;
}

static gssize ws_guard_input_read_nonblocking(GPollableInputStream *stream, void *buf, gsize count,
                                              GError **err)
{
    CliWsGuardInput *self = CLI_WS_GUARD_INPUT(stream);
    if (self->st->failed) {
        g_propagate_error(err, g_error_copy(self->st->failed));
        return -1;
    }
    gssize n = g_pollable_input_stream_read_nonblocking(
        G_POLLABLE_INPUT_STREAM(ws_guard_input_base(self)), buf, count, NULL, err);
    return ws_guard_input_pass(self, buf, n, err);
}

static void ws_guard_input_pollable_init(GPollableInputStreamInterface *iface)
{
    iface->can_poll = ws_guard_input_can_poll;
    iface->is_readable = ws_guard_input_is_readable;
    iface->create_source = ws_guard_input_create_source;
    iface->read_nonblocking = ws_guard_input_read_nonblocking;
}

static void ws_guard_input_finalize(GObject *object)
{
    ws_guard_state_release(CLI_WS_GUARD_INPUT(object)->st);
    G_OBJECT_CLASS(cli_ws_guard_input_parent_class)->finalize(object);
}

static void cli_ws_guard_input_class_init(CliWsGuardInputClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = ws_guard_input_finalize;
    GInputStreamClass *in = G_INPUT_STREAM_CLASS(klass);
    in->read_fn = ws_guard_input_read;
    in->skip = ws_guard_input_skip;
}

static void cli_ws_guard_input_init(CliWsGuardInput *self)
{
    (void)self;
}

/* ---- the output side: counts the pongs libsoup got out ------------------- */

#define CLI_TYPE_WS_GUARD_OUTPUT (cli_ws_guard_output_get_type())
G_DECLARE_FINAL_TYPE(CliWsGuardOutput, cli_ws_guard_output, CLI, WS_GUARD_OUTPUT,
                     GFilterOutputStream)

struct _CliWsGuardOutput {
    GFilterOutputStream parent;
    struct ws_guard_state *st;
};

static void ws_guard_output_pollable_init(GPollableOutputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE(CliWsGuardOutput, cli_ws_guard_output, G_TYPE_FILTER_OUTPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_OUTPUT_STREAM,
                                              ws_guard_output_pollable_init))

static GOutputStream *ws_guard_output_base(CliWsGuardOutput *self)
{
    return g_filter_output_stream_get_base_stream(G_FILTER_OUTPUT_STREAM(self));
}

static gssize ws_guard_output_pass(CliWsGuardOutput *self, const void *buf, gssize n)
{
    gsize ok;
    /* Only the pong count matters here: qv's own messages are not limited. */
    if (n > 0)
        (void)cli_ws_track_feed(&self->st->out, buf, (gsize)n, &ok);
    return n;
}

static gssize ws_guard_output_write(GOutputStream *stream, const void *buf, gsize count,
                                    GCancellable *cancellable, GError **err)
{
    CliWsGuardOutput *self = CLI_WS_GUARD_OUTPUT(stream);
    gssize n = g_output_stream_write(ws_guard_output_base(self), buf, count, cancellable, err);
    return ws_guard_output_pass(self, buf, n);
}

static gboolean ws_guard_output_can_poll(GPollableOutputStream *stream)
{
    GOutputStream *base = ws_guard_output_base(CLI_WS_GUARD_OUTPUT(stream));
    return G_IS_POLLABLE_OUTPUT_STREAM(base) &&
           g_pollable_output_stream_can_poll(G_POLLABLE_OUTPUT_STREAM(base));
}

static gboolean ws_guard_output_is_writable(GPollableOutputStream *stream)
{
    return g_pollable_output_stream_is_writable(
        G_POLLABLE_OUTPUT_STREAM(ws_guard_output_base(CLI_WS_GUARD_OUTPUT(stream))));
}

static GSource *ws_guard_output_create_source(GPollableOutputStream *stream,
                                              GCancellable *cancellable)
{
    GSource *child = g_pollable_output_stream_create_source(
        G_POLLABLE_OUTPUT_STREAM(ws_guard_output_base(CLI_WS_GUARD_OUTPUT(stream))), NULL);
    GSource *source = g_pollable_source_new_full(stream, child, cancellable);
    g_source_unref(child);
    return source;
}

static gssize ws_guard_output_write_nonblocking(GPollableOutputStream *stream, const void *buf,
                                                gsize count, GError **err)
{
    CliWsGuardOutput *self = CLI_WS_GUARD_OUTPUT(stream);
    gssize n = g_pollable_output_stream_write_nonblocking(
        G_POLLABLE_OUTPUT_STREAM(ws_guard_output_base(self)), buf, count, NULL, err);
    return ws_guard_output_pass(self, buf, n);
}

static void ws_guard_output_pollable_init(GPollableOutputStreamInterface *iface)
{
    iface->can_poll = ws_guard_output_can_poll;
    iface->is_writable = ws_guard_output_is_writable;
    iface->create_source = ws_guard_output_create_source;
    iface->write_nonblocking = ws_guard_output_write_nonblocking;
}

static void ws_guard_output_finalize(GObject *object)
{
    ws_guard_state_release(CLI_WS_GUARD_OUTPUT(object)->st);
    G_OBJECT_CLASS(cli_ws_guard_output_parent_class)->finalize(object);
}

static void cli_ws_guard_output_class_init(CliWsGuardOutputClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = ws_guard_output_finalize;
    G_OUTPUT_STREAM_CLASS(klass)->write_fn = ws_guard_output_write;
}

static void cli_ws_guard_output_init(CliWsGuardOutput *self)
{
    (void)self;
}

/* ---- the stream pair handed to libsoup ----------------------------------- */

#define CLI_TYPE_WS_GUARD_STREAM (cli_ws_guard_stream_get_type())
G_DECLARE_FINAL_TYPE(CliWsGuardStream, cli_ws_guard_stream, CLI, WS_GUARD_STREAM, GIOStream)

struct _CliWsGuardStream {
    GIOStream parent;
    GIOStream *base;
    GInputStream *in;
    GOutputStream *out;
};

G_DEFINE_TYPE(CliWsGuardStream, cli_ws_guard_stream, G_TYPE_IO_STREAM)

static GInputStream *ws_guard_stream_get_input(GIOStream *stream)
{
    return CLI_WS_GUARD_STREAM(stream)->in;
}

static GOutputStream *ws_guard_stream_get_output(GIOStream *stream)
{
    return CLI_WS_GUARD_STREAM(stream)->out;
}

/* Closing closes the connection underneath (a socket, or TLS over one). */
static gboolean ws_guard_stream_close(GIOStream *stream, GCancellable *cancellable, GError **err)
{
    return g_io_stream_close(CLI_WS_GUARD_STREAM(stream)->base, cancellable, err);
}

static void ws_guard_stream_base_closed(GObject *base, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    GError *err = NULL;
    if (g_io_stream_close_finish(G_IO_STREAM(base), res, &err))
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, err);
    g_object_unref(task);
}

static void ws_guard_stream_close_async(GIOStream *stream, int io_priority,
                                        GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer data)
{
    GTask *task = g_task_new(stream, cancellable, callback, data);
    g_io_stream_close_async(CLI_WS_GUARD_STREAM(stream)->base, io_priority, cancellable,
                            ws_guard_stream_base_closed, task);
}

static gboolean ws_guard_stream_close_finish(GIOStream *stream, GAsyncResult *res, GError **err)
{
    (void)stream;
    return g_task_propagate_boolean(G_TASK(res), err);
}

static void ws_guard_stream_finalize(GObject *object)
{
    CliWsGuardStream *self = CLI_WS_GUARD_STREAM(object);
    g_clear_object(&self->in);
    g_clear_object(&self->out);
    g_clear_object(&self->base);
    G_OBJECT_CLASS(cli_ws_guard_stream_parent_class)->finalize(object);
}

static void cli_ws_guard_stream_class_init(CliWsGuardStreamClass *klass)
{
    GIOStreamClass *io = G_IO_STREAM_CLASS(klass);
    io->get_input_stream = ws_guard_stream_get_input;
    io->get_output_stream = ws_guard_stream_get_output;
    io->close_fn = ws_guard_stream_close;
    io->close_async = ws_guard_stream_close_async;
    io->close_finish = ws_guard_stream_close_finish;
    G_OBJECT_CLASS(klass)->finalize = ws_guard_stream_finalize;
}

static void cli_ws_guard_stream_init(CliWsGuardStream *self)
{
    (void)self;
}

GIOStream *cli_ws_guard_new(GIOStream *base, guint64 max_message, guint64 max_owed)
{
    CliWsGuardStream *self = g_object_new(CLI_TYPE_WS_GUARD_STREAM, NULL);
    self->base = g_object_ref(base);
    struct ws_guard_state *st = g_rc_box_new0(struct ws_guard_state);
    st->in.max_message = max_message;
    st->out.max_message = G_MAXUINT64;
    st->max_owed = max_owed;
    /* The filters leave closing to base, whose own close knows how. */
    CliWsGuardInput *in =
        g_object_new(CLI_TYPE_WS_GUARD_INPUT, "base-stream", g_io_stream_get_input_stream(base),
                     "close-base-stream", FALSE, NULL);
    in->st = g_rc_box_acquire(st);
    CliWsGuardOutput *out =
        g_object_new(CLI_TYPE_WS_GUARD_OUTPUT, "base-stream", g_io_stream_get_output_stream(base),
                     "close-base-stream", FALSE, NULL);
    out->st = st;
    self->in = G_INPUT_STREAM(in);
    self->out = G_OUTPUT_STREAM(out);
    return G_IO_STREAM(self);
}
