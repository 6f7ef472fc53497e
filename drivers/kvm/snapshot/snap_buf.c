#include "snap_buf.h"

#include <stdarg.h>
#include <string.h>

#include "../../../lib/util/error.h"

void snap_out_init(struct snap_out *o)
{
    o->bytes = g_byte_array_new();
}

GByteArray *snap_out_steal(struct snap_out *o)
{
    GByteArray *b = o->bytes;
    o->bytes = g_byte_array_new();
    return b;
}

void snap_out_clear(struct snap_out *o)
{
    if (o->bytes)
        g_byte_array_unref(o->bytes);
    o->bytes = NULL;
}

struct snap_section *snap_section_new(const char *name, uint32_t version, struct snap_out *o)
{
    struct snap_section *s = g_new0(struct snap_section, 1);
    s->name = g_strdup(name);
    s->version = version;
    s->data = snap_out_steal(o);
    return s;
}

void snap_section_free(struct snap_section *s)
{
    if (!s)
        return;
    g_free(s->name);
    if (s->data)
        g_byte_array_unref(s->data);
    g_free(s);
}

static void put_le(struct snap_out *o, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    g_byte_array_append(o->bytes, b, n);
}

void snap_put_u8(struct snap_out *o, uint8_t v)
{
    put_le(o, v, 1);
}

void snap_put_u16(struct snap_out *o, uint16_t v)
{
    put_le(o, v, 2);
}

void snap_put_u32(struct snap_out *o, uint32_t v)
{
    put_le(o, v, 4);
}

void snap_put_u64(struct snap_out *o, uint64_t v)
{
    put_le(o, v, 8);
}

void snap_put_bytes(struct snap_out *o, const void *p, size_t len)
{
    /* g_byte_array_append takes a guint length. */
    const uint8_t *b = p;
    while (len) {
        guint n = len > G_MAXUINT ? G_MAXUINT : (guint)len;
        g_byte_array_append(o->bytes, b, n);
        b += n;
        len -= n;
    }
}

void snap_put_blob(struct snap_out *o, const void *p, uint32_t len)
{
    snap_put_u32(o, len);
    snap_put_bytes(o, p, len);
}

void snap_in_init(struct snap_in *in, const char *section, const void *p, size_t len)
{
    in->p = p;
    in->len = len;
    in->pos = 0;
    in->section = section;
    in->err = NULL;
}

void snap_in_fail(struct snap_in *in, const char *fmt, ...)
{
    if (in->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    in->err = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

bool snap_in_ok(const struct snap_in *in)
{
    return in->err == NULL;
}

/* The next n bytes, or NULL (and the sticky error) when fewer are left. */
static const uint8_t *take(struct snap_in *in, const char *field, size_t n)
{
    if (in->err)
        return NULL;
    if (n > in->len - in->pos) {
        snap_in_fail(in, "'%s' at byte %zu needs %zu bytes, %zu are left", field, in->pos, n,
                     in->len - in->pos);
        return NULL;
    }
    const uint8_t *p = in->p + in->pos;
    in->pos += n;
    return p;
}

static uint64_t get_le(struct snap_in *in, const char *field, unsigned n)
{
    const uint8_t *p = take(in, field, n);
    uint64_t v = 0;
    for (unsigned i = 0; p && i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t snap_get_u8(struct snap_in *in, const char *field)
{
    return (uint8_t)get_le(in, field, 1);
}

uint16_t snap_get_u16(struct snap_in *in, const char *field)
{
    return (uint16_t)get_le(in, field, 2);
}

uint32_t snap_get_u32(struct snap_in *in, const char *field)
{
    return (uint32_t)get_le(in, field, 4);
}

uint64_t snap_get_u64(struct snap_in *in, const char *field)
{
    return get_le(in, field, 8);
}

void snap_get_bytes(struct snap_in *in, const char *field, void *p, size_t len)
{
    const uint8_t *src = take(in, field, len);
    if (src)
        memcpy(p, src, len);
    else if (len)
        memset(p, 0, len);
}

const void *snap_get_blob(struct snap_in *in, const char *field, uint32_t max, uint32_t *len)
{
    *len = 0;
    uint32_t n = snap_get_u32(in, field);
    if (!snap_in_ok(in))
        return NULL;
    if (n > max) {
        snap_in_fail(in, "'%s' is %u bytes, more than the %u it may hold", field, n, max);
        return NULL;
    }
    const uint8_t *p = take(in, field, n);
    if (p)
        *len = n;
    return p;
}

int snap_in_finish(struct snap_in *in)
{
    int rc = 0;
    if (!in->err && in->pos != in->len)
        snap_in_fail(in, "%zu bytes left over after the last field", in->len - in->pos);
    if (in->err)
        rc = qv_error_set(QV_ERR_PROTOCOL, "snapshot section '%s': %s",
                          in->section ? in->section : "?", in->err);
    g_free(in->err);
    in->err = NULL;
    return rc;
}
