/* The console's output read from the driver's copy of it (vm_console_log)
 * instead of from the pty or socket. QEMU drops what the guest writes while
 * nobody holds the pty (or socket) open, but logs every byte: following the
 * log from the start of the run shows the console from the guest's first
 * byte, and, being one ordered byte stream with one read offset, has no
 * seam where the replay could meet the live output twice or leave a gap.
 * The pty then carries only what is typed; what it delivers is drained and
 * dropped so that QEMU never blocks on a full pty. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct cli_console_log {
    int fd;     /* the log, read only, at the next byte to print */
    int notify; /* inotify on the log, -1 when not to be had (then polled) */
    char *path;
};

struct cli_console_log *cli_console_log_open(struct vm *vm)
{
    char *path = NULL;
    uint64_t start = 0;
    if (vm_console_log(vm, &path, &start) < 0) {
        /* The driver keeps no copy (remote, kvm): the endpoint alone. */
        qv_reset_error();
        return NULL;
    }
    /* Not following a link: the path is the driver's, in its 0700 dir. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        qv_free(path);
        return NULL;
    }
    /* A start beyond the end means the log was cut since the run began:
     * all of it is then this run's. */
    if (start > (uint64_t)st.st_size)
        start = 0;
    if (lseek(fd, (off_t)start, SEEK_SET) < 0) {
        close(fd);
        qv_free(path);
        return NULL;
    }
    struct cli_console_log *log = g_new0(struct cli_console_log, 1);
    log->fd = fd;
    log->path = g_strdup(path);
    qv_free(path);
    log->notify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (log->notify >= 0 && inotify_add_watch(log->notify, log->path, IN_MODIFY) < 0) {
        close(log->notify);
        log->notify = -1;
    }
    return log;
}

const char *cli_console_log_path(const struct cli_console_log *log)
{
    return log->path;
}

int cli_console_log_wakeup_fd(const struct cli_console_log *log)
{
    return log->notify;
}

int cli_console_log_copy(struct cli_console_log *log)
{
    if (log->notify >= 0) {
        /* Only a wake-up: what changed is read from the log itself. */
        char ev[4096];
        while (read(log->notify, ev, sizeof(ev)) > 0)
            ;
    }
    char buf[65536];
    for (;;) {
        ssize_t n = read(log->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cli_error("reading console log %s: %s", log->path, g_strerror(errno)), -1;
        if (n == 0)
            return 0;
        if (cli_console_write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
            return 1; /* our output is gone (closed pipe) */
    }
}

void cli_console_log_close(struct cli_console_log *log)
{
    if (!log)
        return;
    close(log->fd);
    if (log->notify >= 0)
        close(log->notify);
    g_free(log->path);
    g_free(log);
}
