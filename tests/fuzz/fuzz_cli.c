/* libFuzzer target for the qv command line (built with -DQV_FUZZ=ON and
 * clang). The input is argv: words separated by NUL bytes, after "qv".
 * Everything qv does before it would connect runs for real (global
 * options, group and command dispatch, getopt, numbers, sizes, rates,
 * positionals, --help); cli_conn() then refuses, so no command reaches a
 * VM. Whatever the words, qv must answer with exit code 0, 1 or 2. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "tools/qv/cli.h"

#define MAX_ARGS 32

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cli_setup_process();
    /* "-" reads standard input: let it be empty rather than the terminal.
     * qv's normal output is of no interest; stderr is left to libFuzzer's
     * -close_fd_mask. */
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        close(null);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "qv";
    for (size_t i = 0; i <= size && argc <= MAX_ARGS; i += strlen(copy + i) + 1)
        argv[argc++] = copy + i;
    argv[argc] = NULL;
    /* remote-helper serves a protocol on stdin/stdout; it has its own tests. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "remote-helper") == 0) {
            free(copy);
            return 0;
        }
    struct cli cli = {.no_connect = true};
    int rc = cli_main(&cli, argc, argv);
    fflush(stdout);
    /* Each input starts as a fresh qv would: --debug does not carry over. */
    cli_debug = false;
    g_unsetenv("G_MESSAGES_DEBUG");
    if (rc < 0 || rc > 2)
        abort(); /* exit codes are 0, 1 or 2 (docs/cli.md) */
    free(copy);
    return 0;
}
