/* qv: global options and the top-level command groups (main.c runs them). */
#include <glib.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "Usage: qv [-c URI | --connect URI] [--debug] [--version] [--help] GROUP COMMAND "
    "[ARGS...]\n"
    "\n"
    "Manage virtual machines through libqv.\n"
    "\n"
    "Options:\n"
    "  -c, --connect URI  connection URI (default: $QV_DEFAULT_URI, else\n"
    "                     kvm:///session where /dev/kvm is usable, else\n"
    "                     kvm:///embed; 'vm run' defaults to kvm:///embed)\n"
    "      --debug        show libqv's debug log (every call, its VM and result)\n"
    "                     and, on an error, where in libqv it started\n"
    "      --version      print the version of qv and libqv and exit\n"
    "  -h, --help         print this help and exit\n"
    "\n"
    "Groups:\n"
    "  vm                 define, run, inspect and change VMs\n"
    "  system             the host and the connection\n"
    "  remote-helper      serve a remote connection on stdin and stdout (what\n"
    "                     DRIVER+ssh:// URIs run on the remote host)\n"
    "\n"
    "Run 'qv GROUP --help' for a group's commands.\n"
    "Exit status: 0 on success, 1 on an error, 2 on a usage error.\n";

static const struct cli_command groups[] = {
    {"vm", "define, run, inspect and change VMs", cli_cmd_vm},
    {"system", "the host and the connection", cli_cmd_system},
    {"remote-helper", "serve a remote connection on stdin/stdout", cli_cmd_remote_helper},
    {NULL, NULL, NULL},
};

enum { OPT_VERSION = 256, OPT_DEBUG };

/* Warnings libqv or GLib log reach the user in qv's own format
 * ("qv: warning: ...") rather than GLib's; debug and info messages keep
 * GLib's handling ($G_MESSAGES_DEBUG). */
static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                                   gpointer data)
{
    if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
        return g_log_writer_default(level, fields, n, data);
    const char *msg = "";
    for (gsize i = 0; i < n; i++)
        if (strcmp(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
            msg = fields[i].value;
    const char *what = (level & G_LOG_LEVEL_ERROR)      ? "fatal"
                       : (level & G_LOG_LEVEL_CRITICAL) ? "critical"
                       : (level & G_LOG_LEVEL_WARNING)  ? "warning"
                                                        : "note";
    fprintf(stderr, "qv: %s: %s\n", what, msg);
    return G_LOG_WRITER_HANDLED;
}

/* GLib reads G_MESSAGES_DEBUG at each message: add qv to the domains the
 * user already asked for, once (each setenv of a new value keeps the old
 * string, and cli_main may run many times in one process). */
static void debug_enable(void)
{
    const char *had = g_getenv("G_MESSAGES_DEBUG");
    g_auto(GStrv) domains = g_strsplit_set(had ? had : "", " ,", -1);
    if (g_strv_contains((const char *const *)domains, "qv") ||
        g_strv_contains((const char *const *)domains, "all"))
        return;
    g_autofree char *want = had && *had ? g_strconcat(had, " qv", NULL) : g_strdup("qv");
    g_setenv("G_MESSAGES_DEBUG", want, TRUE);
}

void cli_setup_process(void)
{
    setlocale(LC_ALL, "");
    g_log_set_writer_func(log_writer, NULL, NULL);
    /* GLib writes debug messages to standard output by default, where they
     * would mix with what qv prints (--json). */
    g_log_writer_default_set_use_stderr(TRUE);
}

int cli_main(struct cli *base, int argc, char **argv)
{
    struct cli cli = *base;
    static const struct option opts[] = {
        {"connect", required_argument, NULL, 'c'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"debug", no_argument, NULL, OPT_DEBUG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0; /* GNU: start afresh, also when called again (the fuzz target) */
    int c;
    /* '+': stop at the group name; the group parses the rest. */
    while ((c = getopt_long(argc, argv, "+:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cli.uri = optarg; break;
        case OPT_DEBUG:
            debug_enable();
            cli_debug = true;
            break;
        case OPT_VERSION:
            printf("qv %s (libqv %s)\n", QV_VERSION_STRING, qv_version());
            return CLI_EXIT_OK;
        case 'h': fputs(help, stdout); return CLI_EXIT_OK;
        case ':':
            fprintf(stderr, "qv: option '%s' needs a value\n", argv[optind - 1]);
            fprintf(stderr, "Try 'qv --help' for more information.\n");
            return CLI_EXIT_USAGE;
        default:
            fprintf(stderr, "qv: unknown option '%s'\n", argv[optind - 1]);
            fprintf(stderr, "Try 'qv --help' for more information.\n");
            return CLI_EXIT_USAGE;
        }
    }
    if (cli.uri && !*cli.uri) {
        fprintf(stderr, "qv: option '--connect' needs a non-empty URI\n");
        return CLI_EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "qv: missing command group\n%.*s\nTry 'qv --help' for more information.\n",
                (int)(strchr(help, '\n') - help), help);
        return CLI_EXIT_USAGE;
    }
    const struct cli_command *g = groups;
    while (g->name && strcmp(g->name, argv[optind]) != 0)
        g++;
    if (!g->name) {
        fprintf(stderr, "qv: unknown command group '%s' (groups: vm, system)\n", argv[optind]);
        fprintf(stderr, "Try 'qv --help' for more information.\n");
        return CLI_EXIT_USAGE;
    }
    int rc = g->run(&cli, argc - optind, argv + optind);
    cli_close(&cli);
    return rc;
}
