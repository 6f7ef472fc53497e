/* libqv — errors.
 *
 * Every call returns 0 (or a non-NULL pointer) on success and a negative
 * QV_ERR_* code (or NULL) on failure. The failing call leaves a description in
 * a thread-local slot that qv_last_error() returns; each public call clears
 * that slot when it starts, so after a call that returns void (vm_destroy)
 * qv_last_error()->code == QV_OK means it succeeded.
 */
#ifndef QV_ERROR_H
#define QV_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

enum qv_error_code {
    QV_OK = 0,
    QV_ERR_INTERNAL = -1,      /* a bug in libqv */
    QV_ERR_INVALID_ARG = -2,   /* an argument is NULL, out of range or malformed */
    QV_ERR_INVALID_STATE = -3, /* the VM's state does not allow the operation */
    QV_ERR_NOT_FOUND = -4,     /* no such VM, vCPU, snapshot or device */
    QV_ERR_EXISTS = -5,        /* a VM or snapshot of that name already exists */
    QV_ERR_UNSUPPORTED = -6,   /* the driver does not implement the operation */
    QV_ERR_NOMEM = -7,         /* out of memory */
    QV_ERR_XML = -8,           /* a domain XML document is invalid */
    QV_ERR_JSON = -9,          /* a JSON document is invalid */
    QV_ERR_IO = -10,           /* reading or writing a file or socket failed */
    QV_ERR_SYSTEM = -11,       /* a system call failed; the message carries errno */
    QV_ERR_TIMEOUT = -12,      /* the operation did not finish in time */
    QV_ERR_URI = -13,          /* a connection URI is malformed or names no driver */
    QV_ERR_CONNECT = -14,      /* the backend (process, server, device) is unreachable */
    QV_ERR_PROTOCOL = -15,     /* the backend answered something malformed */
    QV_ERR_BACKEND = -16,      /* the backend reported an error; the message carries it */
    QV_ERR_PERMISSION = -17,   /* access to a file or device was denied */
    QV_ERR_BUSY = -18,         /* the VM is locked by another caller */
    QV_ERR_OUT_OF_RANGE = -19, /* a guest address or length is outside guest memory */
    QV_ERR_KVM = -20,          /* KVM is missing, or lacks a capability libqv needs */
};

struct qv_error {
    int code;            /* a value of enum qv_error_code */
    const char *message; /* never NULL; "" when code is QV_OK */
    /* Where the error started, one of "core", "conf", "proc", "qmp" or a
     * driver's name ("noop", "kvm", "qemu", "propolis"); never NULL, "" when
     * code is QV_OK. Context added on the way up keeps the origin. Appended
     * after message so the layout of the first two fields never changes. */
    const char *origin;
};

/* The error left by the last failing libqv call on this thread. Never NULL.
 * The pointer stays valid until the next libqv call on this thread. */
const struct qv_error *qv_last_error(void);

/* Clear this thread's error slot. */
void qv_reset_error(void);

/* A short constant English name for a code, e.g. "invalid state". */
const char *qv_strerror(int code);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
