/* A console on a file descriptor (unix socket or pty): bytes both ways
 * between it and this terminal until either side closes or the user types
 * the escape character. */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define CLI_ESCAPE_CHAR 0x1d /* Ctrl+] */

static int write_all(int fd, const char *buf, size_t len)
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

/* Returns 1 when the console closed, 0 to go on, -1 on an error (printed). */
static int console_to_stdout(int fd, const char *what)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    /* A pty whose other side went away reads EIO. */
    if (n == 0 || (n < 0 && errno == EIO))
        return 1;
    if (n < 0)
        return cli_error("reading console %s: %s", what, g_strerror(errno)), -1;
    if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
        return 1; /* our output is gone (closed pipe): nothing left to do */
    return 0;
}

/* Returns 1 on detach, 2 at the end of our input, 0 to go on, -1 on error. */
static int stdin_to_console(int fd, const char *what, bool tty)
{
    char buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return 2;
    size_t len = (size_t)n;
    int detach = 0;
    if (tty) {
        for (size_t i = 0; i < len; i++) {
            if (buf[i] == CLI_ESCAPE_CHAR) {
                len = i;
                detach = 1;
                break;
            }
        }
    }
    if (len && write_all(fd, buf, len) < 0)
        return cli_error("writing to console %s: %s", what, g_strerror(errno)), -1;
    return detach;
}

int cli_console_fd(int fd, const char *what)
{
    bool tty = isatty(STDIN_FILENO);
    if (tty) {
        if (cli_term_raw(STDIN_FILENO, false, false) < 0)
            return cli_error("cannot put the terminal into raw mode: %s", g_strerror(errno));
        /* Only now: what is typed from here on reaches the guest. */
        fprintf(stderr, "Connected to %s. Escape character is ^] (Ctrl+]).\n", what);
    }
    bool input_open = true;
    int rc = CLI_EXIT_OK;
    for (;;) {
        struct pollfd p[2] = {
            {.fd = fd, .events = POLLIN},
            {.fd = input_open ? STDIN_FILENO : -1, .events = POLLIN},
        };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = cli_error("poll: %s", g_strerror(errno));
            break;
        }
        if (p[0].revents) {
            int r = console_to_stdout(fd, what);
            if (r) {
                rc = r < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
                break;
            }
        }
        if (p[1].revents) {
            int r = stdin_to_console(fd, what, tty);
            if (r == 1)
                break;
            if (r < 0) {
                rc = CLI_EXIT_ERROR;
                break;
            }
            if (r == 2) {
                /* Input ended (a pipe): tell a socket peer and keep
                 * printing what the console sends until it closes. */
                input_open = false;
                shutdown(fd, SHUT_WR);
            }
        }
    }
    cli_term_restore();
    if (tty)
        fputc('\n', stderr);
    return rc;
}
