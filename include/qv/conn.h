/* libqv — connections.
 *
 * A connection is opened on a URI whose scheme names the driver:
 *   noop:///            in-memory test driver
 *   noop:///ABS/DIR     test driver keeping its state in DIR
 *   kvm:///embed        the in-tree VMM, guests inside the calling process
 *   kvm:///session      the in-tree VMM, each guest in a qv-vmm process
 *   qemu:///session     qemu-system-x86_64 processes driven over QMP
 *   propolis://H:P      a propolis-server
 * The query parameter root=DIR (or $QV_STATE_DIR) chooses where
 * process-backed drivers keep their state; the default is /var/lib/qv for
 * root and $XDG_DATA_HOME/qv otherwise.
 */
#ifndef QV_CONN_H
#define QV_CONN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

struct qv_conn;

/* Open a connection. uri NULL means $QV_DEFAULT_URI, else "kvm:///embed".
 * Returns NULL with QV_ERR_URI when the URI is malformed or no driver serves
 * its scheme, QV_ERR_UNSUPPORTED when the driver that serves it was left out
 * of this build (-DQV_WITH_<DRIVER>=OFF), or the driver's error when it
 * cannot open. Thread-safe: one connection may be used from many threads at
 * once. */
struct qv_conn *qv_connect(const char *uri);

/* Drop the caller's reference. The connection is closed once every VM
 * handle made through it has been freed too. NULL is ignored. */
void qv_close(struct qv_conn *conn);

/* The URI the connection was opened with (normalised), owned by conn. */
const char *qv_conn_get_uri(struct qv_conn *conn);

/* The name of the driver serving the connection ("noop", "kvm", ...). */
const char *qv_conn_get_driver(struct qv_conn *conn);

/* The directory where process-backed VMs of this connection keep their
 * state, or NULL for drivers that keep none. Owned by conn. */
const char *qv_conn_get_state_dir(struct qv_conn *conn);

/* Fill *names with a NULL-terminated list of the drivers built into this
 * libqv.
 * Free with qv_strv_free(). Returns 0 or a negative QV_ERR_*. */
int qv_list_drivers(char ***names, size_t *count);

/* Whether QEMU (emulator: a path or a name in PATH; NULL for
 * qemu-system-x86_64) runs guest code here with accelerator accel ("kvm",
 * "tcg") and CPU model cpu_model (as for -cpu; NULL for QEMU's default).
 * Returns 1 when it does, 0 when it does not with *reason set to why
 * ("/dev/kvm missing", or QEMU's own message; free with qv_free), or a
 * negative QV_ERR_* when the probe could not run (QV_ERR_UNSUPPORTED in a
 * libqv built without the qemu driver). The verdict is cached per boot and
 * per QEMU binary. */
int qv_qemu_probe(const char *emulator, const char *accel, const char *cpu_model, char **reason);

/* Free a NULL-terminated string vector returned by libqv. NULL is ignored. */
void qv_strv_free(char **strv);

/* Free a string returned by libqv. */
void qv_free(void *ptr);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
