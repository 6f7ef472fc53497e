/* Shared plumbing: the lazily opened connection, error reporting and the
 * dispatch of a group's commands. */
#include <glib.h>
#include <stdarg.h>
#include <string.h>

#include "cli.h"

bool cli_debug;

int cli_fail(void)
{
    const struct qv_error *e = qv_last_error();
    const char *msg = e->message && *e->message ? e->message : qv_strerror(e->code);
    if (cli_debug)
        fprintf(stderr, "qv: error: %s [origin %s, %s]\n", msg,
                e->origin && *e->origin ? e->origin : "unknown", qv_strerror(e->code));
    else
        fprintf(stderr, "qv: error: %s\n", msg);
    return CLI_EXIT_ERROR;
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("qv: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_ERROR;
}

struct qv_conn *cli_conn(struct cli *cli)
{
    if (!cli->conn && cli->no_connect) {
        cli_error("not connecting to %s (parse-only run)", cli->uri ? cli->uri : "the default URI");
        return NULL;
    }
    if (!cli->conn) {
        cli->conn = qv_connect(cli->uri ? cli->uri : cli_default_uri(false));
        if (!cli->conn)
            cli_fail();
    }
    return cli->conn;
}

struct vm *cli_lookup(struct cli *cli, const char *name)
{
    struct qv_conn *conn = cli_conn(cli);
    if (!conn)
        return NULL;
    struct vm *vm = vm_lookup(conn, name);
    if (!vm)
        cli_fail();
    return vm;
}

struct vm *cli_vm_arg(struct cli *cli, struct cli_args *a, int *exit_code)
{
    char **pos;
    if (cli_positionals(a, 1, 1, "NAME", &pos) < 0) {
        *exit_code = CLI_EXIT_USAGE;
        return NULL;
    }
    struct vm *vm = cli_lookup(cli, pos[0]);
    if (!vm)
        *exit_code = CLI_EXIT_ERROR;
    return vm;
}

struct vm *cli_vm_only_arg(struct cli *cli, const char *prog, const char *help, int argc,
                           char **argv, int *exit_code)
{
    static const struct option none[] = {{NULL, 0, NULL, 0}};
    struct cli_args a = CLI_ARGS(prog, help, none, argc, argv);
    /* With no options of its own, cli_getopt only ever ends the options
     * (0) or the command (-1: --help, a usage error). */
    if (cli_getopt(&a) < 0) {
        *exit_code = a.exit_code;
        return NULL;
    }
    return cli_vm_arg(cli, &a, exit_code);
}

void cli_close(struct cli *cli)
{
    qv_close(cli->conn);
    cli->conn = NULL;
}

static void group_help(FILE *out, const char *prog, const char *blurb,
                       const struct cli_command *table)
{
    fprintf(out, "Usage: %s COMMAND [ARGS...]\n\n%s\n\nCommands:\n", prog, blurb);
    for (const struct cli_command *c = table; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nRun '%s COMMAND --help' for a command's options.\n", prog);
}

int cli_dispatch(struct cli *cli, const char *prog, const char *blurb,
                 const struct cli_command *table, int argc, char **argv)
{
    const char *word = argc > 1 ? argv[1] : NULL;
    if (word && (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)) {
        group_help(stdout, prog, blurb, table);
        return CLI_EXIT_OK;
    }
    const char *why = NULL;
    if (!word)
        why = "missing command";
    else if (word[0] == '-')
        why = "unknown option";
    else {
        for (const struct cli_command *c = table; c->name; c++)
            if (strcmp(c->name, word) == 0)
                return c->run(cli, argc - 1, argv + 1);
        why = "unknown command";
    }
    if (word)
        fprintf(stderr, "qv: %s: %s '%s'\n", prog + 3, why, word);
    else
        fprintf(stderr, "qv: %s: %s\n", prog + 3, why);
    fprintf(stderr, "Usage: %s COMMAND [ARGS...]\nCommands:", prog);
    for (const struct cli_command *c = table; c->name; c++)
        fprintf(stderr, " %s", c->name);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
    return CLI_EXIT_USAGE;
}
