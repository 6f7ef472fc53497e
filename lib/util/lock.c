#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <sys/file.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

int qv_lock_acquire(const char *path, int timeout_ms)
{
    /* O_NOFOLLOW: a symlink planted as the lock would make us create or
     * truncate whatever it points to. */
    int fd = qv_file_open_private(path, O_RDWR);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open lock file '%s'", path);
    gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int err = errno;
            close(fd);
            return qv_error_set_errno(QV_ERR_IO, err, "cannot lock '%s'", path);
        }
        if (deadline >= 0 && g_get_monotonic_time() >= deadline) {
            close(fd);
            return qv_error_set(QV_ERR_BUSY, "'%s' is locked by another process", path);
        }
        g_usleep(2000);
    }
}

void qv_lock_release(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}
