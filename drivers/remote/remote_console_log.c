/* The helper's console relay for a VM whose driver also logs the console
 * (vm_console_log: QEMU's console.log). QEMU drops what the guest writes
 * while nobody holds its pty open, and the helper opens the pty only once
 * someone attaches, after `qv vm run` has started the VM: read from the
 * pty, a guest that prints at once loses its first lines. So, as the local
 * CLI does, the output comes from the log, from where this run began, as
 * one ordered byte stream; the pty carries only what is typed, and what it
 * delivers is drained and dropped. A client that stops reading stalls the
 * relay, and with it the draining, as the plain relay did: QEMU's UART
 * then waits, as it does for any console nobody reads. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../include/qv/qv.h"
#include "lib/util/error.h"
#include "remote.h"

/* How often the log is read when inotify cannot be had. */
#define LOG_POLL_MS 50

/* The log's fd at start, or -1 with the error set. A start past the end
 * means the log was cut since the run began: all of it is this run's. */
static int open_log(const char *path, uint64_t start)
{
    /* Not following a link: the path is the driver's, in its 0700 dir. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = fd < 0 ? errno : EINVAL;
        if (fd >= 0)
            close(fd);
        return qv_error_set_errno(QV_ERR_IO, e, "cannot read console log %s", path);
    }
    if (start > (uint64_t)st.st_size)
        start = 0;
    if (lseek(fd, (off_t)start, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        return qv_error_set_errno(QV_ERR_IO, e, "cannot seek in console log %s", path);
    }
    return fd;
}

/* Copy what the log has beyond its offset to out. 0 when all of it went,
 * -1 when out is gone or the log cannot be read. A log shorter
 * than the offset was cut by someone else (qv and QEMU only append): all
 * of what it holds now is new. */
static int copy_log(int log, int out)
{
    char buf[16384];
    struct stat st;
    off_t at = lseek(log, 0, SEEK_CUR);
    if (fstat(log, &st) == 0 && at > st.st_size && lseek(log, 0, SEEK_SET) < 0)
        return -1;
    for (;;) {
        ssize_t n = read(log, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? 0 : -1;
        if (remote_write_fd(out, buf, (size_t)n, -1) < 0)
            return -1;
    }
}

/* Drain the pty: false once QEMU has closed it (EIO or end). */
static bool drain(int pty)
{
    char buf[4096];
    ssize_t n = read(pty, buf, sizeof(buf));
    return n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN));
}

static bool forward(int in, int pty)
{
    char buf[4096];
    ssize_t n = read(in, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    return n > 0 && remote_write_fd(pty, buf, (size_t)n, -1) == 0;
}

int remote_console_relay_log(const char *path, uint64_t start, int pty, int in_fd, int out_fd)
{
    int log = open_log(path, start);
    if (log < 0)
        return log;
    int wake = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (wake >= 0) {
        /* The file opened, not whatever the path names by now. */
        char link[64];
        g_snprintf(link, sizeof(link), "/proc/self/fd/%d", log);
        if (inotify_add_watch(wake, link, IN_MODIFY) < 0) {
            close(wake);
            wake = -1;
        }
    }
    for (;;) {
        if (copy_log(log, out_fd) < 0)
            break;
        struct pollfd p[3] = {
            {.fd = pty, .events = POLLIN},
            {.fd = in_fd, .events = POLLIN},
            {.fd = wake, .events = POLLIN},
        };
        if (poll(p, 3, wake < 0 ? LOG_POLL_MS : -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents && !drain(pty)) {
            /* QEMU writes the log after the pty and before it exits: its
             * last bytes are there now. */
            copy_log(log, out_fd);
            break;
        }
        if (p[1].revents && !forward(in_fd, pty))
            break;
        if (p[2].revents) {
            char ev[4096];
            while (read(wake, ev, sizeof(ev)) > 0)
                ;
        }
    }
    if (wake >= 0)
        close(wake);
    close(log);
    return 0;
}
