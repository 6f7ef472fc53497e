#include "error.h"

#include <errno.h>
#include <glib.h>
#include <stdarg.h>
#include <string.h>

/* One slot per thread; the message buffer is replaced on every set so the
 * pointer handed out stays valid until the next libqv call on this thread.
 * The buffer lives in a GPrivate so it is freed when its thread exits. */
static __thread struct qv_error tls_error = {QV_OK, NULL, NULL};
/* The origin is copied in, so it may come from anywhere (a source path, the
 * remote side's word) without a list of every origin that can exist. */
static __thread char tls_origin[QV_ERROR_ORIGIN_MAX + 1];
static GPrivate tls_message_key = G_PRIVATE_INIT(g_free);

#define tls_message ((char *)g_private_get(&tls_message_key))

static void store(int code, char *msg, const char *origin)
{
    g_private_replace(&tls_message_key, msg);
    tls_error.code = code;
    tls_error.message = msg;
    if (origin != tls_origin)
        g_strlcpy(tls_origin, origin ? origin : "", sizeof(tls_origin));
    tls_error.origin = tls_origin;
}

const struct qv_error *qv_last_error(void)
{
    if (!tls_error.message)
        tls_error.message = "";
    if (!tls_error.origin)
        tls_error.origin = "";
    return &tls_error;
}

void qv_reset_error(void)
{
    g_private_replace(&tls_message_key, NULL);
    tls_error.code = QV_OK;
    tls_error.message = "";
    tls_error.origin = "";
}

int qv_error_code(void)
{
    return tls_error.code;
}

/* Parts of lib/ that report under their own name; the rest of lib/ is
 * "core". Under drivers/, the driver's directory is the origin. */
static const char *const lib_parts[] = {"conf", "proc", "qmp"};

bool qv_error_origin_ok(const char *word)
{
    size_t n = 0;
    for (; word && word[n]; n++)
        if (!g_ascii_islower(word[n]))
            return false;
    return n > 0 && n <= QV_ERROR_ORIGIN_MAX;
}

/* The path's last "lib/" or "drivers/" component decides; an absolute source
 * path may hold either earlier on (a checkout under /usr/lib/...). */
const char *qv_error_origin_of(const char *file)
{
    static __thread char origin[QV_ERROR_ORIGIN_MAX + 1];
    g_strlcpy(origin, "core", sizeof(origin));
    for (const char *p = file; p && *p; p++) {
        if (p != file && p[-1] != '/')
            continue;
        const char *dir = NULL;
        if (strncmp(p, "lib/", 4) == 0)
            dir = p + 4;
        else if (strncmp(p, "drivers/", 8) == 0)
            dir = p + 8;
        else
            continue;
        size_t len = strcspn(dir, "/");
        g_strlcpy(origin, "core", sizeof(origin));
        if (dir[len] != '/' || len > QV_ERROR_ORIGIN_MAX)
            continue;
        char word[QV_ERROR_ORIGIN_MAX + 1];
        memcpy(word, dir, len);
        word[len] = '\0';
        bool named = dir == p + 8; /* every driver */
        for (size_t i = 0; !named && i < G_N_ELEMENTS(lib_parts); i++)
            named = strcmp(word, lib_parts[i]) == 0;
        if (named && qv_error_origin_ok(word))
            g_strlcpy(origin, word, sizeof(origin));
    }
    return origin;
}

int qv_error_set_in(const char *file, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    store(code, g_strdup_vprintf(fmt, ap), qv_error_origin_of(file));
    va_end(ap);
    return code;
}

int qv_error_set_origin(int code, const char *origin, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    store(code, g_strdup_vprintf(fmt, ap), origin);
    va_end(ap);
    return code;
}

int qv_error_set_errno_in(const char *file, int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *head = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (errnum == EACCES || errnum == EPERM)
        code = QV_ERR_PERMISSION;
    else if (errnum == ENOENT)
        code = QV_ERR_NOT_FOUND;
    else if (errnum == ENOMEM)
        code = QV_ERR_NOMEM;
    store(code, g_strdup_printf("%s: %s", head, g_strerror(errnum)), qv_error_origin_of(file));
    return code;
}

void qv_error_prefix(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *head = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    store(tls_error.code, g_strdup_printf("%s: %s", head, tls_message ? tls_message : ""),
          tls_error.origin);
}

const char *qv_strerror(int code)
{
    switch (code) {
    case QV_OK: return "success";
    case QV_ERR_INTERNAL: return "internal error";
    case QV_ERR_INVALID_ARG: return "invalid argument";
    case QV_ERR_INVALID_STATE: return "invalid state";
    case QV_ERR_NOT_FOUND: return "not found";
    case QV_ERR_EXISTS: return "already exists";
    case QV_ERR_UNSUPPORTED: return "unsupported";
    case QV_ERR_NOMEM: return "out of memory";
    case QV_ERR_XML: return "invalid XML";
    case QV_ERR_JSON: return "invalid JSON";
    case QV_ERR_IO: return "I/O error";
    case QV_ERR_SYSTEM: return "system error";
    case QV_ERR_TIMEOUT: return "timed out";
    case QV_ERR_URI: return "invalid URI";
    case QV_ERR_CONNECT: return "connection failed";
    case QV_ERR_PROTOCOL: return "protocol error";
    case QV_ERR_BACKEND: return "backend error";
    case QV_ERR_PERMISSION: return "permission denied";
    case QV_ERR_BUSY: return "busy";
    case QV_ERR_OUT_OF_RANGE: return "out of range";
    case QV_ERR_KVM: return "KVM unavailable";
    default: return "unknown error";
    }
}

void qv_error_save(struct qv_error_saved *e)
{
    const struct qv_error *cur = qv_last_error();
    e->code = qv_error_code();
    e->message = g_strdup(cur->message ? cur->message : "");
    g_strlcpy(e->origin, cur->origin ? cur->origin : "", sizeof e->origin);
}

int qv_error_restore(struct qv_error_saved *e)
{
    int code = e->code;
    qv_reset_error();
    if (code)
        qv_error_set_origin(code, e->origin[0] ? e->origin : "core", "%s", e->message);
    g_clear_pointer(&e->message, g_free);
    return code;
}
