/* Setting the thread-local error every public call reports through
 * qv_last_error(). */
#ifndef QV_UTIL_ERROR_H
#define QV_UTIL_ERROR_H

#include "../../include/qv/error.h"

/* Record code with a printf-style message; returns code so callers can
 * `return qv_error_set(...)`. */
int qv_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* As qv_error_set, appending ": strerror(errnum)". The code is
 * QV_ERR_PERMISSION for EACCES/EPERM, QV_ERR_NOT_FOUND for ENOENT, else
 * the given code. */
int qv_error_set_errno(int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Put "prefix: " in front of the current message (adding context as an
 * error travels up). */
void qv_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The current code, QV_OK when none. */
int qv_error_code(void);

#endif
