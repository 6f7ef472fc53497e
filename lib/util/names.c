#include "names.h"

#include <glib.h>
#include <string.h>

#include "error.h"

static bool name_char_ok(char c)
{
    return g_ascii_isalnum(c) || c == '.' || c == '_' || c == '-' || c == ':' || c == '+';
}

bool qv_name_check(const char *name, const char *what)
{
    if (!name || !*name) {
        qv_error_set(QV_ERR_INVALID_ARG, "%s name is empty", what);
        return false;
    }
    size_t len = strlen(name);
    if (len > QV_NAME_MAX) {
        qv_error_set(QV_ERR_INVALID_ARG, "%s name is %zu bytes long; at most %d are allowed", what,
                     len, QV_NAME_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/') {
            qv_error_set(QV_ERR_INVALID_ARG, "%s name '%s' contains '/'", what, name);
            return false;
        }
        if (c < 0x20 || c == 0x7f) {
            qv_error_set(QV_ERR_INVALID_ARG,
                         "%s name contains a control character (0x%02x) at byte %zu", what, c, i);
            return false;
        }
        if (!name_char_ok((char)c)) {
            g_autofree char *esc = g_strescape(name, NULL);
            qv_error_set(QV_ERR_INVALID_ARG,
                         "%s name '%s' contains '%c'; use letters, digits and . _ - : +", what, esc,
                         c >= 0x80 ? '?' : c);
            return false;
        }
    }
    if (strstr(name, "..")) {
        qv_error_set(QV_ERR_INVALID_ARG, "%s name '%s' contains '..'", what, name);
        return false;
    }
    if (name[0] == '.' || name[0] == '-') {
        qv_error_set(QV_ERR_INVALID_ARG, "%s name '%s' must not start with '%c'", what, name,
                     name[0]);
        return false;
    }
    return true;
}

const char *qv_name_plain_extension(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return "";
    size_t n = strlen(dot + 1);
    if (n < 1 || n > 8)
        return "";
    for (const char *p = dot + 1; *p; p++)
        if (!g_ascii_isalnum(*p))
            return "";
    return dot;
}
