/* The helper's end of a console tunnel: after a "console" request the
 * stream carries the VM's console bytes both ways (remote_relay), as the
 * remote host's driver gives the console (a pty, a unix socket, or a log
 * to read). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "../../include/qv/qv.h"
#include "lib/util/error.h"
#include "remote.h"

static int open_unix(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return qv_error_set(QV_ERR_IO, "console socket path is too long: %s", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        close(fd);
        return qv_error_set_errno(QV_ERR_IO, e, "cannot connect to console socket %s", path);
    }
    return fd;
}

static bool carried(const char *ep)
{
    return g_str_has_prefix(ep, "unix:") || g_str_has_prefix(ep, "pty:") ||
           g_str_has_prefix(ep, "file:");
}

int remote_console_open(const char *ep, bool *readonly)
{
    *readonly = false;
    if (g_str_has_prefix(ep, "unix:"))
        return open_unix(ep + 5);
    if (g_str_has_prefix(ep, "pty:")) {
        int fd = open(ep + 4, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
            return qv_error_set_errno(QV_ERR_IO, errno, "cannot open console %s", ep + 4);
        /* Bytes pass as they are: no echo back into the guest, no waiting
         * for a newline. */
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(fd, TCSANOW, &t);
        }
        return fd;
    }
    /* A VM that does not run: what its guest printed last, read-only. */
    int fd = open(ep + 5, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot read console log %s", ep + 5);
    *readonly = true;
    return fd;
}

char *remote_console_resolve(struct qv_conn *conn, JsonObject *params, char **log,
                             uint64_t *log_start)
{
    *log = NULL;
    *log_start = 0;
    const char *name = qv_json_str(params, "name");
    if (!name) {
        qv_error_set(QV_ERR_PROTOCOL, "the request has no string 'name'");
        return NULL;
    }
    struct vm *vm = vm_lookup(conn, name);
    if (!vm)
        return NULL;
    char *ep = vm_console_endpoint(vm);
    char *path = NULL;
    if (ep && g_str_has_prefix(ep, "pty:")) {
        if (vm_console_log(vm, &path, log_start) == 0)
            *log = g_strdup(path);
        else
            qv_reset_error(); /* the driver keeps no copy: the pty alone */
        qv_free(path);
    }
    remote_vm_free_keep_error(vm);
    if (!ep)
        return NULL;
    char *out = g_strdup(ep);
    qv_free(ep);
    if (!carried(out)) {
        qv_error_set(QV_ERR_UNSUPPORTED,
                     "the console of VM '%s' is at %s, which cannot be carried over a remote "
                     "connection (a pty, a unix socket or a log can)",
                     name, out);
        g_free(out);
        g_clear_pointer(log, g_free);
        return NULL;
    }
    return out;
}
