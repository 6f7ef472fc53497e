/* JSON value framing for the QMP server (vmm_stream.h). */
#include "vmm_stream.h"

#include <glib.h>
#include <stdbool.h>
#include <string.h>

struct vmm_stream {
    GString *buf;
    size_t max;
    size_t start; /* where the current value begins */
    size_t pos;   /* next byte to look at */
    bool started; /* a value has begun at start */
    bool scalar;  /* it is not an object or array */
    bool in_str, esc;
    unsigned depth;
    bool skipping; /* dropping input up to the next newline */
};

struct vmm_stream *vmm_stream_new(size_t max)
{
    struct vmm_stream *s = g_new0(struct vmm_stream, 1);
    s->buf = g_string_new(NULL);
    s->max = max;
    return s;
}

void vmm_stream_free(struct vmm_stream *s)
{
    if (!s)
        return;
    g_string_free(s->buf, TRUE);
    g_free(s);
}

void vmm_stream_feed(struct vmm_stream *s, const char *buf, size_t len)
{
    /* Bytes before start are done with (consumed, or white space before
     * the current value). */
    if (s->start > 0) {
        g_string_erase(s->buf, 0, (gssize)s->start);
        s->pos -= s->start;
        s->start = 0;
    }
    g_string_append_len(s->buf, buf, (gssize)len);
}

size_t vmm_stream_pending(const struct vmm_stream *s)
{
    return s->buf->len - s->start;
}

/* Forget bytes before pos (everything that is not part of a value). They
 * are only skipped here; vmm_stream_feed drops them, once per read, so a
 * read holding many small values costs its length, not length squared
 * (one erase per value moved the rest of the buffer each time). */
static void consume(struct vmm_stream *s)
{
    s->start = s->pos;
}

static int emit(struct vmm_stream *s, char **msg, size_t *len)
{
    *len = s->pos - s->start;
    *msg = g_strndup(s->buf->str + s->start, *len);
    s->started = s->scalar = s->in_str = s->esc = false;
    s->depth = 0;
    consume(s);
    return 1;
}

static int oversized(struct vmm_stream *s)
{
    s->started = s->scalar = s->in_str = s->esc = false;
    s->depth = 0;
    s->skipping = true;
    consume(s);
    return -1;
}

int vmm_stream_next(struct vmm_stream *s, char **msg, size_t *len)
{
    *msg = NULL;
    *len = 0;
    while (s->pos < s->buf->len) {
        char c = s->buf->str[s->pos];
        if (s->skipping) {
            s->pos++;
            if (c == '\n') {
                s->skipping = false;
                consume(s);
            }
            continue;
        }
        if (!s->started) {
            if (g_ascii_isspace(c)) {
                s->pos++;
                s->start = s->pos;
                continue;
            }
            s->started = true;
            s->start = s->pos++;
            if (c == '{' || c == '[') {
                s->depth = 1;
            } else {
                s->scalar = true;
                if (c == '"')
                    s->in_str = true;
            }
        } else if (s->in_str) {
            s->pos++;
            if (s->esc)
                s->esc = false;
            else if (c == '\\')
                s->esc = true;
            else if (c == '"') {
                s->in_str = false;
                if (s->scalar)
                    return emit(s, msg, len);
            }
        } else if (s->scalar) {
            /* Not an object: a number, a word, garbage. It runs to the end
             * of the line or to the next '{', so one bad line gets one
             * error, and a command after it on that line still runs. */
            if (c == '\n' || c == '{')
                return emit(s, msg, len); /* c begins what follows */
            s->pos++;
        } else {
            s->pos++;
            if (c == '"') {
                s->in_str = true;
            } else if (c == '{' || c == '[') {
                s->depth++;
            } else if (c == '}' || c == ']') {
                if (--s->depth == 0)
                    return emit(s, msg, len);
            }
        }
        if (s->started && s->pos - s->start > s->max)
            return oversized(s);
    }
    if (!s->started || s->skipping)
        consume(s); /* white space or skipped bytes: nothing to keep */
    return 0;
}
