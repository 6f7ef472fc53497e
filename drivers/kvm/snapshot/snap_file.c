#define _GNU_SOURCE
#include "snap_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"

/* Field offsets inside the header and a table entry. */
enum {
    HDR_VERSION = 8,
    HDR_COUNT = 12,
    HDR_LENGTH = 16,
    HDR_WRITER = 24,
    ENT_NAME = 0,
    ENT_VERSION = 64,
    ENT_FLAGS = 68,
    ENT_OFFSET = 72,
    ENT_LENGTH = 80,
};

struct snap_file {
    char *path;
    uint8_t *buf;
    size_t len;
    uint32_t format;
    char writer[SNAP_FILE_WRITER_LEN];
    size_t count;
    struct snap_file_section *sections;
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static size_t align8(size_t v)
{
    return (v + 7) & ~(size_t)7;
}

static void sha256(const uint8_t *p, size_t len, uint8_t digest[SNAP_FILE_TRAILER_LEN])
{
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    /* g_checksum_update takes a gssize. */
    while (len) {
        size_t n = len > G_MAXSSIZE ? G_MAXSSIZE : len;
        g_checksum_update(c, p, (gssize)n);
        p += n;
        len -= n;
    }
    gsize dlen = SNAP_FILE_TRAILER_LEN;
    g_checksum_get_digest(c, digest, &dlen);
    g_checksum_free(c);
}

/* NULL when name may be a section name, else why not. */
static const char *name_fault(const char *name, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len > SNAP_FILE_NAME_MAX)
        return "is longer than 63 bytes";
    for (size_t i = 0; i < len; i++)
        if (!g_ascii_isgraph(name[i]))
            return "holds a byte that is not printable ASCII";
    return NULL;
}

int snap_file_build(struct snap_section *const *sections, size_t n, GByteArray **out)
{
    *out = NULL;
    if (n > SNAP_FILE_MAX_SECTIONS)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "snapshot state: %zu sections, more than the %u a file may hold", n,
                            SNAP_FILE_MAX_SECTIONS);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    size_t data_start = SNAP_FILE_HEADER_LEN + n * SNAP_FILE_ENTRY_LEN;
    size_t total = data_start;
    for (size_t i = 0; i < n; i++) {
        const struct snap_section *s = sections[i];
        const char *name = s && s->name ? s->name : "";
        const char *fault = name_fault(name, strlen(name));
        if (fault)
            return qv_error_set(QV_ERR_INVALID_ARG, "snapshot state: section %zu's name '%s' %s", i,
                                name, fault);
        if (!g_hash_table_add(seen, (gpointer)name))
            return qv_error_set(QV_ERR_INVALID_ARG, "snapshot state: two sections are called '%s'",
                                name);
        size_t len = s->data ? s->data->len : 0;
        if (len > SNAP_FILE_MAX_BYTES || align8(total) + len > SNAP_FILE_MAX_BYTES)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "snapshot state: section '%s' (%zu bytes) takes the file past "
                                "its %u byte limit",
                                name, len, SNAP_FILE_MAX_BYTES);
        total = align8(total) + len;
    }
    total += SNAP_FILE_TRAILER_LEN;
    if (total > SNAP_FILE_MAX_BYTES)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "snapshot state: %zu bytes, more than the %u a file may hold", total,
                            SNAP_FILE_MAX_BYTES);

    GByteArray *b = g_byte_array_sized_new((guint)total);
    g_byte_array_set_size(b, (guint)total);
    uint8_t *p = b->data;
    memset(p, 0, total);
    memcpy(p, SNAP_FILE_MAGIC, SNAP_FILE_MAGIC_LEN);
    put_le(p + HDR_VERSION, SNAP_FILE_FORMAT_VERSION, 4);
    put_le(p + HDR_COUNT, n, 4);
    put_le(p + HDR_LENGTH, total, 8);
    g_strlcpy((char *)p + HDR_WRITER, "libqv " QV_VERSION_STRING, SNAP_FILE_WRITER_LEN);
    size_t off = data_start;
    for (size_t i = 0; i < n; i++) {
        const struct snap_section *s = sections[i];
        uint8_t *e = p + SNAP_FILE_HEADER_LEN + i * SNAP_FILE_ENTRY_LEN;
        size_t len = s->data ? s->data->len : 0;
        off = align8(off);
        memcpy(e + ENT_NAME, s->name, strlen(s->name));
        put_le(e + ENT_VERSION, s->version, 4);
        put_le(e + ENT_OFFSET, off, 8);
        put_le(e + ENT_LENGTH, len, 8);
        if (len)
            memcpy(p + off, s->data->data, len);
        off += len;
    }
    sha256(p, total - SNAP_FILE_TRAILER_LEN, p + total - SNAP_FILE_TRAILER_LEN);
    *out = b;
    return 0;
}

int snap_file_write(const char *path, struct snap_section *const *sections, size_t n)
{
    GByteArray *b = NULL;
    int rc = snap_file_build(sections, n, &b);
    if (rc < 0)
        return rc;
    rc = qv_file_write_atomic(path, b->data, b->len, 0600);
    g_byte_array_unref(b);
    return rc;
}

void snap_file_free(struct snap_file *f)
{
    if (!f)
        return;
    g_free(f->path);
    g_free(f->buf);
    g_free(f->sections);
    g_free(f);
}

static int bad(const char *path, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int bad(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qv_error_set(QV_ERR_PROTOCOL, "snapshot file '%s': %s", path, why);
}

static int by_offset(const void *a, const void *b)
{
    const struct snap_file_section *x = *(const struct snap_file_section *const *)a;
    const struct snap_file_section *y = *(const struct snap_file_section *const *)b;
    if (x->data != y->data)
        return x->data < y->data ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Header fields that must be right before the checksum can even be found:
 * size, magic, format version, the length the writer recorded. */
static int check_header(struct snap_file *f)
{
    const uint8_t *p = f->buf;
    size_t min = SNAP_FILE_HEADER_LEN + SNAP_FILE_TRAILER_LEN;
    if (f->len < SNAP_FILE_MAGIC_LEN || memcmp(p, SNAP_FILE_MAGIC, SNAP_FILE_MAGIC_LEN) != 0) {
        if (f->len < SNAP_FILE_MAGIC_LEN && memcmp(p, SNAP_FILE_MAGIC, f->len) == 0)
            return bad(f->path, "truncated: %zu bytes, a state file has at least %zu", f->len, min);
        return bad(f->path, "not a libqv snapshot state file (bad magic)");
    }
    if (f->len < min)
        return bad(f->path, "truncated: %zu bytes, a state file has at least %zu", f->len, min);
    f->format = (uint32_t)get_le(p + HDR_VERSION, 4);
    if (f->format > SNAP_FILE_FORMAT_VERSION)
        return bad(f->path,
                   "format version %u is newer than this libqv (%s) reads (up to %u); "
                   "restore it with the libqv that wrote it",
                   f->format, QV_VERSION_STRING, SNAP_FILE_FORMAT_VERSION);
    if (f->format == 0)
        return bad(f->path, "format version 0 does not exist");
    uint64_t total = get_le(p + HDR_LENGTH, 8);
    if (total > f->len)
        return bad(f->path,
                   "truncated: the header says %" G_GUINT64_FORMAT " bytes, the file has %zu",
                   total, f->len);
    if (total < f->len)
        return bad(f->path, "%zu bytes follow the end the header gives (%" G_GUINT64_FORMAT ")",
                   f->len - (size_t)total, total);
    uint8_t digest[SNAP_FILE_TRAILER_LEN];
    sha256(p, f->len - SNAP_FILE_TRAILER_LEN, digest);
    if (memcmp(digest, p + f->len - SNAP_FILE_TRAILER_LEN, SNAP_FILE_TRAILER_LEN) != 0)
        return bad(f->path, "checksum mismatch: the file is damaged");
    const char *w = (const char *)p + HDR_WRITER;
    size_t wlen = strnlen(w, SNAP_FILE_WRITER_LEN);
    if (wlen == SNAP_FILE_WRITER_LEN)
        return bad(f->path, "the writer field is not NUL-terminated");
    for (size_t i = 0; i < wlen; i++)
        if (!g_ascii_isprint(w[i]))
            return bad(f->path, "the writer field holds byte 0x%02x at %zu", (uint8_t)w[i], i);
    memcpy(f->writer, w, wlen + 1);
    return 0;
}

/* The table: every entry inside the file, and its data inside the data
 * area, named, unique and not overlapping another. The checksum catches
 * damage; these catch a file built to mislead with a valid checksum. */
static int check_table(struct snap_file *f)
{
    const uint8_t *p = f->buf;
    uint32_t count = (uint32_t)get_le(p + HDR_COUNT, 4);
    if (count > SNAP_FILE_MAX_SECTIONS)
        return bad(f->path, "%u sections, more than the %u a file may hold", count,
                   SNAP_FILE_MAX_SECTIONS);
    size_t data_end = f->len - SNAP_FILE_TRAILER_LEN;
    size_t table_end = SNAP_FILE_HEADER_LEN + (size_t)count * SNAP_FILE_ENTRY_LEN;
    if (table_end > data_end)
        return bad(f->path, "the table of %u sections ends at byte %zu, past the data's end (%zu)",
                   count, table_end, data_end);
    f->count = count;
    f->sections = g_new0(struct snap_file_section, count ? count : 1);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (uint32_t i = 0; i < count; i++) {
        /* Entries are written into the owned copy so names end in NUL. */
        uint8_t *e = f->buf + SNAP_FILE_HEADER_LEN + (size_t)i * SNAP_FILE_ENTRY_LEN;
        const char *name = (const char *)e + ENT_NAME;
        size_t nlen = strnlen(name, SNAP_FILE_NAME_MAX + 1);
        if (nlen > SNAP_FILE_NAME_MAX)
            return bad(f->path, "section %u's name is not NUL-terminated within %u bytes", i,
                       SNAP_FILE_NAME_MAX + 1);
        const char *fault = name_fault(name, nlen);
        if (fault) {
            g_autofree char *esc = g_strescape(name, NULL);
            return bad(f->path, "section %u's name '%s' %s", i, esc, fault);
        }
        if (!g_hash_table_add(seen, (gpointer)name))
            return bad(f->path, "two sections are called '%s'", name);
        uint32_t flags = (uint32_t)get_le(e + ENT_FLAGS, 4);
        if (flags)
            return bad(f->path, "section '%s' has unknown flags 0x%x", name, flags);
        uint64_t off = get_le(e + ENT_OFFSET, 8);
        uint64_t len = get_le(e + ENT_LENGTH, 8);
        /* Compared without adding, so a huge length cannot wrap. */
        if (off < table_end || off > data_end || len > data_end - off)
            return bad(f->path,
                       "section '%s' claims bytes %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                       " (%" G_GUINT64_FORMAT " bytes), outside the data area %zu..%zu",
                       name, off, off + len, len, table_end, data_end);
        struct snap_file_section *s = &f->sections[i];
        s->name = name;
        s->version = (uint32_t)get_le(e + ENT_VERSION, 4);
        s->data = f->buf + off;
        s->len = (size_t)len;
    }
    if (count > 1) {
        g_autofree const struct snap_file_section **order =
            g_new(const struct snap_file_section *, count);
        for (uint32_t i = 0; i < count; i++)
            order[i] = &f->sections[i];
        qsort(order, count, sizeof *order, by_offset);
        /* An empty section holds no bytes, so it overlaps nothing. */
        const struct snap_file_section *prev = NULL;
        for (uint32_t i = 0; i < count; i++) {
            if (order[i]->len == 0)
                continue;
            if (prev && prev->data + prev->len > order[i]->data)
                return bad(f->path, "sections '%s' and '%s' overlap", prev->name, order[i]->name);
            prev = order[i];
        }
    }
    return 0;
}

/* Validates buf, which it owns from here on. */
static int parse_owned(const char *path, uint8_t *buf, size_t len, struct snap_file **out)
{
    *out = NULL;
    struct snap_file *f = g_new0(struct snap_file, 1);
    f->path = g_strdup(path);
    f->len = len;
    f->buf = buf;
    int rc = check_header(f);
    if (rc == 0)
        rc = check_table(f);
    if (rc < 0) {
        snap_file_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int snap_file_parse(const char *path, const void *data, size_t len, struct snap_file **out)
{
    *out = NULL;
    if (len > SNAP_FILE_MAX_BYTES)
        return bad(path, "%zu bytes, more than the %u a state file may hold", len,
                   SNAP_FILE_MAX_BYTES);
    uint8_t *copy = g_malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    return parse_owned(path, copy, len, out);
}

int snap_file_read(const char *path, struct snap_file **out)
{
    return snap_file_read_max(path, SNAP_FILE_MAX_BYTES, out);
}

int snap_file_read_max(const char *path, size_t max, struct snap_file **out)
{
    *out = NULL;
    if (max > SNAP_FILE_MAX_BYTES)
        max = SNAP_FILE_MAX_BYTES;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP)
            return qv_error_set(QV_ERR_IO, "snapshot file '%s' is a symbolic link; refused", path);
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open snapshot file '%s'", path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot stat snapshot file '%s'", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return qv_error_set(QV_ERR_IO, "snapshot file '%s' is not a regular file", path);
    }
    /* The size is checked before anything is allocated for it; a sparse
     * file costs nothing on disk, so its apparent size is what counts. */
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return bad(path, "%jd bytes, more than the %zu this file may hold", (intmax_t)st.st_size,
                   max);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = g_malloc(size ? size : 1);
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            close(fd);
            g_free(buf);
            return qv_error_set_errno(QV_ERR_IO, err, "cannot read snapshot file '%s'", path);
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    /* A file that shrank while being read is judged on what was there. */
    return parse_owned(path, buf, got, out);
}

int snap_file_find(const struct snap_file *f, const char *name, struct snap_file_section *out)
{
    for (size_t i = 0; i < f->count; i++) {
        if (strcmp(f->sections[i].name, name) == 0) {
            *out = f->sections[i];
            return 0;
        }
    }
    memset(out, 0, sizeof *out);
    return qv_error_set(QV_ERR_NOT_FOUND, "snapshot file '%s' has no section '%s'", f->path, name);
}

size_t snap_file_count(const struct snap_file *f)
{
    return f->count;
}

const struct snap_file_section *snap_file_nth(const struct snap_file *f, size_t i)
{
    return i < f->count ? &f->sections[i] : NULL;
}

const char *snap_file_writer(const struct snap_file *f)
{
    return f->writer;
}

uint32_t snap_file_format_version(const struct snap_file *f)
{
    return f->format;
}
