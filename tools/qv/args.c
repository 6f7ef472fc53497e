/* Option parsing for every command: getopt_long with one consistent
 * treatment of --help, unknown options and missing values. */
#include <stdarg.h>
#include <string.h>

#include "cli.h"

void cli_print_help(const char *help)
{
    fputs(help, stdout);
}

int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "qv: %s: ", a->prog + (strncmp(a->prog, "qv ", 3) == 0 ? 3 : 0));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    /* The first line of the help is the synopsis. */
    const char *nl = strchr(a->help, '\n');
    int len = nl ? (int)(nl - a->help) : (int)strlen(a->help);
    fprintf(stderr, "%.*s\nTry '%s --help' for more information.\n", len, a->help, a->prog);
    return CLI_EXIT_USAGE;
}

static void fill_options(struct cli_args *a)
{
    size_t n = 0;
    for (const struct option *o = a->options; o && o->name; o++)
        if (n + 2 < sizeof(a->all) / sizeof(a->all[0]))
            a->all[n++] = *o;
    a->all[n++] = (struct option){"help", no_argument, NULL, 'h'};
    a->all[n] = (struct option){0};
}

/* The option word the user typed, without any "=value". */
static void report_bad_option(struct cli_args *a)
{
    const char *word = a->argv[optind - 1];
    if (optopt && optopt != 'h' && !(word[0] == '-' && word[1] == '-')) {
        cli_usage_error(a, "unknown option '-%c'", optopt);
        return;
    }
    const char *eq = strchr(word, '=');
    int len = eq ? (int)(eq - word) : (int)strlen(word);
    if (eq) {
        for (const struct option *o = a->all; o->name; o++) {
            if (o->has_arg == no_argument && (int)strlen(o->name) == len - 2 &&
                strncmp(o->name, word + 2, (size_t)len - 2) == 0) {
                cli_usage_error(a, "option '--%s' takes no value", o->name);
                return;
            }
        }
    }
    cli_usage_error(a, "unknown option '%.*s'", len, word);
}

int cli_getopt(struct cli_args *a)
{
    if (!a->started) {
        fill_options(a);
        a->started = true;
        optind = 0; /* GNU: reinitialise for this argv */
        opterr = 0;
    }
    int c = getopt_long(a->argc, a->argv, ":h", a->all, NULL);
    switch (c) {
    case -1: return 0;
    case 'h':
        cli_print_help(a->help);
        a->exit_code = CLI_EXIT_OK;
        return -1;
    case '?':
        report_bad_option(a);
        a->exit_code = CLI_EXIT_USAGE;
        return -1;
    case ':': {
        const char *word = a->argv[optind - 1];
        cli_usage_error(a, "option '%s' needs a value", word);
        a->exit_code = CLI_EXIT_USAGE;
        return -1;
    }
    default: return c;
    }
}

int cli_positionals(struct cli_args *a, int min, int max, const char *what, char ***out)
{
    int n = a->argc - optind;
    if (n < min) {
        cli_usage_error(a, "missing %s", what);
        return -1;
    }
    if (n > max) {
        cli_usage_error(a, "unexpected argument '%s'", a->argv[optind + max]);
        return -1;
    }
    if (out)
        *out = a->argv + optind;
    return n;
}

int cli_args_none(struct cli_args *a)
{
    int c;
    while ((c = cli_getopt(a)) > 0)
        ;
    if (c < 0)
        return -1;
    if (cli_positionals(a, 0, 0, "argument", NULL) < 0) {
        a->exit_code = CLI_EXIT_USAGE;
        return -1;
    }
    return 0;
}
