/* qv remote-helper: the far end of a DRIVER+ssh:// connection. sshd starts
 * it with a fixed command line; everything else (the URI to open, the
 * calls) comes inside the protocol on stdin. */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "cli.h"

static const char helper_help[] =
    "Usage: qv remote-helper\n"
    "\n"
    "Serve libqv's remote protocol on stdin and stdout until stdin closes.\n"
    "Connections with DRIVER+ssh://HOST/... URIs run this on HOST over SSH;\n"
    "people do not run it by hand. It takes no arguments: the URI it opens\n"
    "arrives inside the protocol, never through the remote shell.\n"
    "\n"
    "Options:\n"
    "  -h, --help   print this help and exit\n";

int cli_cmd_remote_helper(struct cli *cli, int argc, char **argv)
{
    (void)cli;
    static const struct option opts[] = {{NULL, 0, NULL, 0}};
    struct cli_args a = CLI_ARGS("qv remote-helper", helper_help, opts, argc, argv);
    if (cli_args_none(&a) < 0)
        return a.exit_code;
    /* The protocol owns stdout: anything else that writes there (a stray
     * printf, a library's message) goes to stderr instead. */
    int out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (out < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        perror("qv remote-helper: cannot set up stdout");
        return CLI_EXIT_ERROR;
    }
    /* A client that goes away is an EPIPE to handle, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    if (qv_remote_serve(STDIN_FILENO, out) < 0) {
        fprintf(stderr, "qv remote-helper: %s\n", qv_last_error()->message);
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}
