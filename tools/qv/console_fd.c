/* A console on a file descriptor (unix socket or pty): bytes both ways
 * between it and this terminal until either side closes, the user types
 * the escape character, or (for `vm run`) the caller says stop. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define CLI_ESCAPE_CHAR 0x1d /* Ctrl+] */

int cli_console_write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, -1);
            continue;
        }
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Returns 1 when the console closed, 0 to go on, -1 on an error (printed).
 * With a log, the bytes read are dropped: the log has them, in order, and
 * is what is printed. */
static int console_to_stdout(int fd, const char *what, bool drop)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    /* A pty whose other side went away reads EIO; a socket whose peer died
     * (the VM's process killed) ECONNRESET. */
    if (n == 0 || (n < 0 && (errno == EIO || errno == ECONNRESET)))
        return 1;
    if (n < 0)
        return cli_error("reading console %s: %s", what, g_strerror(errno)), -1;
    if (!drop && cli_console_write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
        return 1; /* our output is gone (closed pipe): nothing left to do */
    return 0;
}

/* Returns 1 on detach, 2 at the end of our input, 0 to go on, -1 on error. */
static int stdin_to_console(int fd, const char *what, bool detach_key)
{
    char buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return 2;
    size_t len = (size_t)n;
    int detach = 0;
    if (detach_key) {
        for (size_t i = 0; i < len; i++) {
            if (buf[i] == CLI_ESCAPE_CHAR) {
                len = i;
                detach = 1;
                break;
            }
        }
    }
    if (len && cli_console_write_all(fd, buf, len) < 0)
        return cli_error("writing to console %s: %s", what, g_strerror(errno)), -1;
    return detach;
}

/* -1, after printing why when asked to. */
static int open_failed(bool report, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int open_failed(bool report, const char *fmt, ...)
{
    if (report) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        cli_error("%s", msg);
    }
    return -1;
}

int cli_console_open(const char *ep, bool report)
{
    if (g_str_has_prefix(ep, "pty:")) {
        int fd = open(ep + 4, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
            return open_failed(report, "cannot open console %s: %s", ep + 4, g_strerror(errno));
        /* The line discipline of the pty's far end must not echo the
         * guest's output back into it or hold bytes until a newline. */
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(fd, TCSANOW, &t);
        }
        return fd;
    }
    const char *path = ep + 5; /* "unix:" */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return open_failed(report, "console socket path is too long: %s", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return open_failed(report, "socket: %s", g_strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        close(fd);
        open_failed(report, "cannot connect to console socket %s: %s", path, g_strerror(e));
        errno = e; /* for the caller: is the backend gone? */
        return -1;
    }
    return fd;
}

/* The log's last bytes once the console closed: QEMU writes the log after
 * the pty, and before it exits. */
static int pump_end(struct cli_console_log *log, int rc)
{
    if (log && cli_console_log_copy(log) < 0)
        return CLI_EXIT_ERROR;
    return rc;
}

/* How often the log is read when no inotify wake-up can be had. */
#define CLI_LOG_POLL_MS 50

int cli_console_pump(int fd, const char *what, int stop_fd, bool detach_key,
                     struct cli_console_log *log)
{
    /* When our input ends (a pipe) we only stop reading it: closing our
     * half of the socket would make QEMU drop the connection. */
    bool input_open = fd >= 0; /* without fd, typed bytes have nowhere to go */
    int wake = log ? cli_console_log_wakeup_fd(log) : -1;
    for (;;) {
        /* Before waiting: the replay of what the run printed so far, then
         * whatever the last wake-up announced. */
        if (log) {
            int r = cli_console_log_copy(log);
            if (r)
                return r < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
        }
        struct pollfd p[4] = {
            {.fd = fd, .events = POLLIN},
            {.fd = input_open ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = stop_fd, .events = POLLIN},
            {.fd = wake, .events = POLLIN},
        };
        int timeout = log && wake < 0 ? CLI_LOG_POLL_MS : -1;
        if (poll(p, 4, timeout) < 0) {
            if (errno == EINTR)
                continue;
            return cli_error("poll: %s", g_strerror(errno));
        }
        if (p[0].revents) {
            int r = console_to_stdout(fd, what, log != NULL);
            if (r)
                return pump_end(log, r < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK);
        }
        if (p[1].revents) {
            int r = stdin_to_console(fd, what, detach_key);
            if (r == 1)
                return CLI_EXIT_OK; /* detached: print nothing more */
            if (r < 0)
                return CLI_EXIT_ERROR;
            if (r == 2)
                input_open = false;
        }
        if (p[2].revents)
            return pump_end(log, CLI_EXIT_OK);
    }
}

int cli_console_fd(int fd, const char *what, int stop_fd, struct cli_console_log *log)
{
    bool tty = isatty(STDIN_FILENO);
    if (tty) {
        if (cli_term_raw(STDIN_FILENO, false, false) < 0)
            return cli_error("cannot put the terminal into raw mode: %s", g_strerror(errno));
        /* Only now: what is typed from here on reaches the guest. */
        fprintf(stderr, "Connected to %s. Escape character is ^] (Ctrl+]).\n", what);
    }
    int rc = cli_console_pump(fd, what, stop_fd, tty, log);
    cli_term_restore();
    if (tty)
        fputc('\n', stderr);
    return rc;
}
