/* The one way libqv parses JSON it did not write itself in this process:
 * configs, state files, QMP and HTTP peers.
 *
 * json-glib has no depth limit (it recurses once per level until the stack
 * runs out), wraps integers beyond 64 bits, keeps what follows a NUL or the
 * root value to itself, and its scanner takes '//' and '/' '*' comments,
 * single-quoted strings, hex and octal in ways that make any outside
 * bracket counting unreliable. So this file reads the text with a strict
 * RFC 8259 grammar (plus comments) first, and json-glib only ever sees what
 * passed: the same text with every comment blanked out, which is plain JSON
 * whose tokens both readers agree on. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "json.h"

enum want {
    W_VALUE,          /* the root, or after ':' or ',' in an array */
    W_VALUE_OR_CLOSE, /* just after '[' */
    W_KEY,            /* after ',' in an object */
    W_KEY_OR_CLOSE,   /* just after '{' */
    W_COLON,          /* after a member name */
    W_COMMA_OR_CLOSE, /* after a value inside a container */
    W_END,            /* the root value is complete */
};

struct jscan {
    const char *data, *end, *p;
    const char *what;
    GError **error;
    bool comments;
    int depth;
    size_t values, max_values;
    const char *open[QV_JSON_MAX_DEPTH]; /* where each open container started */
};

/* "WHAT line L, column C: message" for the character at `at`; columns
 * count characters (the text is valid UTF-8 by the time this can run past
 * the first check) from 1. */
static bool fail_at(struct jscan *s, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void position(const struct jscan *s, const char *at, unsigned *line, unsigned *col)
{
    const char *bol = s->data;
    *line = 1;
    for (const char *q = s->data; q < at; q++)
        if (*q == '\n') {
            (*line)++;
            bol = q + 1;
        }
    *col = (unsigned)g_utf8_strlen(bol, at - bol) + 1;
}

static bool fail_at(struct jscan *s, const char *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    unsigned line, col;
    position(s, at, &line, &col);
    g_set_error(s->error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE, "%s line %u, column %u: %s",
                s->what, line, col, msg);
    return false;
}

/* The character at p for a message: 'x', or U+XXXX when not printable. */
static char *describe(const char *p)
{
    gunichar c = g_utf8_get_char(p);
    if (c == '\'')
        return g_strdup("\"'\"");
    if (c < 0x80 && g_ascii_isgraph((char)c))
        return g_strdup_printf("'%c'", (char)c);
    return g_strdup_printf("U+%04X", c);
}

static bool skip_blank(struct jscan *s)
{
    while (s->p < s->end) {
        char c = *s->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            s->p++;
        } else if (c == '/' && s->p + 1 < s->end && s->p[1] == '/') {
            s->comments = true;
            while (s->p < s->end && *s->p != '\n')
                s->p++;
        } else if (c == '/' && s->p + 1 < s->end && s->p[1] == '*') {
            const char *start = s->p;
            s->comments = true;
            s->p += 2;
            while (s->p + 1 < s->end && !(s->p[0] == '*' && s->p[1] == '/'))
                s->p++;
            if (s->p + 1 >= s->end)
                return fail_at(s, start, "comment is not closed with */");
            s->p += 2;
        } else if (c == '/') {
            return fail_at(s, s->p, "'/' that does not start a // or /* comment");
        } else {
            break;
        }
    }
    return true;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = g_ascii_xdigit_value(p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A \uXXXX escape at p (pointing at the backslash); *len gets its length
 * (12 for a surrogate pair). */
static bool scan_unicode(struct jscan *s, const char *p, size_t *len)
{
    int u = s->end - p >= 6 ? hex4(p + 2) : -1;
    if (u < 0)
        return fail_at(s, p, "\\u must be followed by four hexadecimal digits");
    if (u == 0)
        return fail_at(s, p, "\\u0000 (a NUL character) is not allowed in a string");
    *len = 6;
    if (u >= 0xdc00 && u <= 0xdfff)
        return fail_at(s, p, "\\u%04x is a low surrogate without a high one before it", u);
    if (u >= 0xd800 && u <= 0xdbff) {
        int lo = s->end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
        if (lo < 0xdc00 || lo > 0xdfff)
            return fail_at(s, p, "\\u%04x is a high surrogate without \\uDC00-\\uDFFF after it", u);
        *len = 12;
    }
    return true;
}

static bool scan_string(struct jscan *s)
{
    const char *start = s->p++;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c < 0x20)
            return fail_at(s, s->p,
                           "control character U+%04X in a string (write it as an escape such as "
                           "\\n or \\u%04x)",
                           c, c);
        if (c != '\\') {
            s->p++;
            continue;
        }
        if (s->p + 1 >= s->end)
            break;
        size_t len = 2;
        switch (s->p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': break;
        case 'u':
            if (!scan_unicode(s, s->p, &len))
                return false;
            break;
        default: {
            g_autofree char *what = describe(s->p + 1);
            return fail_at(s, s->p, "unknown escape \\ followed by %s", what);
        }
        }
        s->p += len;
    }
    return fail_at(s, start, "string is not closed with '\"'");
}

static bool is_word_char(char c)
{
    return g_ascii_isalnum(c) || c == '_' || c == '-' || c == '.' || c == '+';
}

/* RFC 8259 numbers; a whole number must fit in 64 bits signed, since
 * json-glib would otherwise wrap it silently (2^64 reads as -1). */
static bool scan_number(struct jscan *s)
{
    const char *start = s->p, *q = s->p;
    bool neg = *q == '-';
    if (neg)
        q++;
    const char *digits = q;
    uint64_t v = 0;
    bool over = false;
    for (; q < s->end && g_ascii_isdigit(*q); q++) {
        unsigned d = (unsigned)(*q - '0');
        over = over || v > (UINT64_MAX - d) / 10;
        v = over ? v : v * 10 + d;
    }
    bool whole = true;
    if (q == digits)
        goto malformed;
    if (*digits == '0' && q - digits > 1)
        return fail_at(s, start, "number with a leading zero (octal is not JSON)");
    if (q < s->end && *q == '.') {
        whole = false;
        const char *f = ++q;
        while (q < s->end && g_ascii_isdigit(*q))
            q++;
        if (q == f)
            goto malformed;
    }
    if (q < s->end && (*q == 'e' || *q == 'E')) {
        whole = false;
        q++;
        if (q < s->end && (*q == '+' || *q == '-'))
            q++;
        const char *e = q;
        while (q < s->end && g_ascii_isdigit(*q))
            q++;
        if (q == e)
            goto malformed;
    }
    if (q < s->end && is_word_char(*q))
        goto malformed;
    if (whole && (over || v > (uint64_t)INT64_MAX + neg))
        return fail_at(s, start, "integer %.*s%s is out of range (more than 64 bits)",
                       (int)MIN(q - start, 24), start, q - start > 24 ? "..." : "");
    if (!whole) {
        /* json-glib would read infinity, which no JSON writer can give back. */
        g_autofree char *num = g_strndup(start, q - start);
        if (isinf(g_ascii_strtod(num, NULL)))
            return fail_at(s, start, "number %.*s%s is out of range (beyond a double)",
                           (int)MIN(q - start, 24), start, q - start > 24 ? "..." : "");
    }
    s->p = q;
    return true;
malformed:
    while (q < s->end && is_word_char(*q))
        q++;
    return fail_at(s, start, "malformed number '%.*s%s'", (int)MIN(q - start, 24), start,
                   q - start > 24 ? "..." : "");
}

static bool scan_literal(struct jscan *s)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0 &&
            (s->p + n == s->end || !is_word_char(s->p[n]))) {
            s->p += n;
            return true;
        }
    }
    const char *q = s->p;
    while (q < s->end && is_word_char(*q))
        q++;
    return fail_at(s, s->p,
                   "unknown word '%.*s%s' (expected a value: a string in double quotes, "
                   "a number, true, false, null, an object or an array)",
                   (int)MIN(q - s->p, 24), s->p, q - s->p > 24 ? "..." : "");
}

/* Every value becomes a JsonNode (and a container a JsonArray or a hash
 * table besides), 80 to 300 bytes each in json-glib: counted here, so the
 * tree stays within a few times the size limit. */
static bool count_value(struct jscan *s)
{
    if (++s->values <= s->max_values)
        return true;
    return fail_at(s, s->p, "more than %zu values (the limit for one document)", s->max_values);
}

static enum want after_value(const struct jscan *s)
{
    return s->depth ? W_COMMA_OR_CLOSE : W_END;
}

static bool unexpected(struct jscan *s, enum want w)
{
    static const char *const expected[] = {
        [W_VALUE] = "a value",
        [W_VALUE_OR_CLOSE] = "a value or ']'",
        [W_KEY] = "a member name in double quotes",
        [W_KEY_OR_CLOSE] = "a member name in double quotes or '}'",
        [W_COLON] = "':' after the member name",
    };
    g_autofree char *found = describe(s->p);
    if (w == W_END)
        return fail_at(s, s->p, "unexpected %s after the end of the JSON value", found);
    if (w == W_COMMA_OR_CLOSE)
        return fail_at(s, s->p, "expected ',' or '%c', found %s",
                       *s->open[s->depth - 1] == '{' ? '}' : ']', found);
    return fail_at(s, s->p, "expected %s, found %s", expected[w], found);
}

static bool scan(struct jscan *s)
{
    enum want w = W_VALUE;
    for (;;) {
        if (!skip_blank(s))
            return false;
        if (s->p == s->end)
            break;
        char c = *s->p;
        bool value_ok = w == W_VALUE || w == W_VALUE_OR_CLOSE;
        switch (c) {
        case '{':
        case '[':
            if (!value_ok)
                return unexpected(s, w);
            if (s->depth == QV_JSON_MAX_DEPTH)
                return fail_at(s, s->p, "nesting deeper than %d levels", QV_JSON_MAX_DEPTH);
            if (!count_value(s))
                return false;
            s->open[s->depth++] = s->p++;
            w = c == '{' ? W_KEY_OR_CLOSE : W_VALUE_OR_CLOSE;
            break;
        case '}':
        case ']': {
            bool obj = c == '}';
            bool ok = obj ? (w == W_KEY_OR_CLOSE || w == W_COMMA_OR_CLOSE)
                          : (w == W_VALUE_OR_CLOSE || w == W_COMMA_OR_CLOSE);
            if (!ok || *s->open[s->depth - 1] != (obj ? '{' : '['))
                return unexpected(s, w);
            s->depth--;
            s->p++;
            w = after_value(s);
            break;
        }
        case ':':
            if (w != W_COLON)
                return unexpected(s, w);
            s->p++;
            w = W_VALUE;
            break;
        case ',':
            if (w != W_COMMA_OR_CLOSE)
                return unexpected(s, w);
            s->p++;
            w = *s->open[s->depth - 1] == '{' ? W_KEY : W_VALUE;
            break;
        case '"':
            if (w == W_KEY || w == W_KEY_OR_CLOSE) {
                if (!scan_string(s))
                    return false;
                w = W_COLON;
                break;
            }
            if (!value_ok)
                return unexpected(s, w);
            if (!count_value(s) || !scan_string(s))
                return false;
            w = after_value(s);
            break;
        default:
            if (!value_ok)
                return unexpected(s, w);
            if (c != '-' && !g_ascii_isalnum(c))
                return unexpected(s, w);
            if (!count_value(s))
                return false;
            if (c == '-' || g_ascii_isdigit(c) ? !scan_number(s) : !scan_literal(s))
                return false;
            w = after_value(s);
            break;
        }
    }
    if (s->depth) {
        unsigned line, col;
        const char *open = s->open[s->depth - 1];
        position(s, open, &line, &col);
        return fail_at(s, s->end, "unexpected end: the '%c' on line %u, column %u is not closed",
                       *open, line, col);
    }
    if (w != W_END) {
        g_set_error(s->error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                    "%s is empty (no JSON value)", s->what);
        return false;
    }
    return true;
}

/* The text with every comment turned into spaces (newlines kept, so
 * json-glib's positions stay right). Only called after scan() accepted it. */
static char *blank_comments(const char *data, size_t len)
{
    char *out = g_malloc(len + 1);
    memcpy(out, data, len);
    out[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '"') {
            for (i++; out[i] != '"'; i++)
                if (out[i] == '\\')
                    i++;
        } else if (out[i] == '/' && out[i + 1] == '/') {
            for (; i < len && out[i] != '\n'; i++)
                out[i] = ' ';
        } else if (out[i] == '/' && out[i + 1] == '*') {
            out[i] = out[i + 1] = ' ';
            for (i += 2; !(out[i] == '*' && out[i + 1] == '/'); i++)
                if (out[i] != '\n')
                    out[i] = ' ';
            out[i] = out[i + 1] = ' ';
            i++;
        }
    }
    return out;
}

JsonNode *qv_json_parse_bounded(const char *data, size_t len, const char *what, GError **error)
{
    return qv_json_parse_limited(data, len, QV_JSON_MAX_BYTES, what, error);
}

JsonNode *qv_json_parse_limited(const char *data, size_t len, size_t max, const char *what,
                                GError **error)
{
    g_return_val_if_fail(data || !len, NULL);
    if (!what)
        what = "JSON document";
    if (len > max) {
        g_set_error(error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                    "%s is larger than the limit of %zu bytes", what, max);
        return NULL;
    }
    struct jscan s = {.data = data,
                      .end = data + len,
                      .p = data,
                      .what = what,
                      .error = error,
                      .max_values = max / QV_JSON_BYTES_PER_VALUE};
    const char *nul = memchr(data, '\0', len);
    if (nul) {
        fail_at(&s, nul, "NUL byte (the document must be text; nothing after a NUL is read)");
        return NULL;
    }
    const char *bad;
    if (!g_utf8_validate_len(data, len, &bad)) {
        fail_at(&s, bad, "invalid UTF-8 (byte 0x%02x)", (unsigned char)*bad);
        return NULL;
    }
    if (!scan(&s))
        return NULL;
    g_autofree char *plain = s.comments ? blank_comments(data, len) : NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    if (!json_parser_load_from_data(parser, plain ? plain : data, (gssize)len, &err)) {
        /* Not expected after scan() (the fuzz target treats it as a bug);
         * json-glib's own words then. */
        g_set_error(error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_UNKNOWN, "%s: %s", what,
                    err->message);
        return NULL;
    }
    JsonNode *root = json_parser_steal_root(parser);
    if (!root)
        g_set_error(error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                    "%s is empty (no JSON value)", what);
    return root;
}

static JsonNode *load(const char *path, bool state)
{
    g_autofree char *data = NULL;
    size_t len;
    if ((state ? qv_file_read_state : qv_file_read_text)(path, QV_JSON_MAX_BYTES, &data, &len) < 0)
        return NULL;
    g_autoptr(GError) err = NULL;
    JsonNode *root = qv_json_parse_bounded(data, len, path, &err);
    if (!root)
        qv_error_set(QV_ERR_JSON, "%s", err->message);
    return root;
}

JsonNode *qv_json_load_file(const char *path)
{
    return load(path, false);
}

JsonNode *qv_json_load_state(const char *path)
{
    return load(path, true);
}
