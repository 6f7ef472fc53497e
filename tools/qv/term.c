/* Raw terminal mode for the console and `vm run`, restored however qv
 * leaves: normal return, exit(), or a fatal signal handled by the caller. */
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

static struct termios saved;
static int saved_fd = -1;

void cli_term_restore(void)
{
    if (saved_fd >= 0) {
        tcsetattr(saved_fd, TCSAFLUSH, &saved);
        saved_fd = -1;
    }
}

int cli_term_raw(int fd, bool keep_signals, bool keep_output_processing)
{
    if (!isatty(fd))
        return 0;
    struct termios t;
    if (tcgetattr(fd, &t) < 0)
        return -1;
    static bool registered;
    if (!registered) {
        atexit(cli_term_restore);
        registered = true;
    }
    saved = t;
    saved_fd = fd;
    cfmakeraw(&t);
    /* For `vm run`, "\n" from a payload that forgets "\r" should still
     * return the carriage; a console passes bytes exactly. */
    if (keep_output_processing)
        t.c_oflag |= OPOST;
    if (keep_signals)
        t.c_lflag |= ISIG;
    if (tcsetattr(fd, TCSAFLUSH, &t) < 0) {
        saved_fd = -1;
        return -1;
    }
    return 0;
}
