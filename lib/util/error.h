/* Setting the thread-local error every public call reports through
 * qv_last_error(). */
#ifndef QV_UTIL_ERROR_H
#define QV_UTIL_ERROR_H

#include <stdbool.h>

#include "../../include/qv/error.h"

/* The longest origin word an error keeps. */
#define QV_ERROR_ORIGIN_MAX 15

/* Record code with a printf-style message; returns code so callers can
 * `return qv_error_set(...)`. The error's origin is the subsystem of the
 * source file that sets it (see qv_error_origin_of), so no call site names
 * it. */
#define qv_error_set(code, ...) qv_error_set_in(__FILE__, (code), __VA_ARGS__)
/* As qv_error_set, appending ": strerror(errnum)". The code is
 * QV_ERR_PERMISSION for EACCES/EPERM, QV_ERR_NOT_FOUND for ENOENT, else
 * the given code. */
#define qv_error_set_errno(code, errnum, ...)                                                      \
    qv_error_set_errno_in(__FILE__, (code), (errnum), __VA_ARGS__)

int qv_error_set_in(const char *file, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As qv_error_set with the origin given: an error that started elsewhere
 * (the remote driver relays the remote side's). The origin is copied. */
int qv_error_set_origin(int code, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int qv_error_set_errno_in(const char *file, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The origin of an error raised in source file `file`: "conf", "proc",
 * "qmp" for those parts of lib/, a driver's directory name under drivers/,
 * else "core". The string is this thread's, valid until the next call. */
const char *qv_error_origin_of(const char *file);
/* A word that can be an origin: 1 to QV_ERROR_ORIGIN_MAX lowercase letters. */
bool qv_error_origin_ok(const char *word);
/* Put "prefix: " in front of the current message (adding context as an
 * error travels up). */
void qv_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The current code, QV_OK when none. */
int qv_error_code(void);

/* An error kept across a clean-up that may set (or reset) its own: the
 * failure is what the caller hears about, with its code, origin and
 * message unchanged. */
struct qv_error_saved {
    int code;
    char *message;
    char origin[QV_ERROR_ORIGIN_MAX + 1];
};
void qv_error_save(struct qv_error_saved *e);
/* Make e the current error again (none when none was saved) and free it;
 * returns its code. */
int qv_error_restore(struct qv_error_saved *e);

#endif
