/* The qv command-line tool: what every command file shares. The CLI uses
 * only the public API of libqv (<qv/qv.h>). */
#ifndef QV_CLI_H
#define QV_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <qv/qv.h>

/* Exit codes shared by every command. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1, /* libqv or the system reported an error */
    CLI_EXIT_USAGE = 2, /* the command line was wrong */
};

struct cli {
    const char *uri;      /* -c URI, or NULL for cli_default_uri() */
    struct qv_conn *conn; /* opened on first use by cli_conn() */
    /* Parse only: cli_conn() fails instead of connecting, so a command
     * stops after reading its arguments (the fuzz target's mode). */
    bool no_connect;
};

/* cli_uri.c: the URI when -c is not given: $QV_DEFAULT_URI, else
 * kvm:///embed for a foreground run, kvm:///session where /dev/kvm is
 * usable, else NULL (libqv's default, kvm:///embed). */
const char *cli_default_uri(bool foreground);

/* Everything main() does after process setup: global options, then the
 * group's command. base gives the initial settings (no_connect). Returns
 * the exit code. Callable more than once per process. */
int cli_main(struct cli *base, int argc, char **argv);
/* Locale and log handling, once per process. */
void cli_setup_process(void);

/* A command: argv[0] is its own name, the rest are its arguments. Returns
 * the process exit code. */
struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(struct cli *cli, int argc, char **argv);
};

/* Dispatch argv[1] of a group (argv[0] is the group's name) to one of the
 * table's commands; handles --help and unknown commands. prog is the
 * group's full name, e.g. "qv vm". */
int cli_dispatch(struct cli *cli, const char *prog, const char *blurb,
                 const struct cli_command *table, int argc, char **argv);

/* Option parsing for one command, on top of getopt_long. */
struct cli_args {
    const char *prog;             /* "qv vm start" */
    const char *help;             /* full help text, first line "Usage: ..." */
    const struct option *options; /* long options; "help" is added by cli_getopt */
    int argc;
    char **argv;
    int exit_code; /* when cli_getopt returns -1 */
    bool started;
    struct option all[24]; /* options plus "help", filled by cli_getopt */
};

#define CLI_ARGS(prog_, help_, opts_, argc_, argv_)                                                \
    {                                                                                              \
        .prog = (prog_), .help = (help_), .options = (opts_), .argc = (argc_), .argv = (argv_)     \
    }

/* The next option's val (> 0; its argument is in optarg), 0 when the options
 * are done (positional arguments are then a->argv[optind..]), or -1 when the
 * command must exit with a->exit_code (--help printed, or a usage error). */
int cli_getopt(struct cli_args *a);
/* Collect the positional arguments: between min and max of them, described
 * by what ("NAME"). Returns their count or -1 after a usage error. */
int cli_positionals(struct cli_args *a, int min, int max, const char *what, char ***out);
/* For a command that takes no options and no arguments: 0 to go on, -1
 * when it must return a->exit_code now (--help, or a usage error). */
int cli_args_none(struct cli_args *a);
/* Print "qv: PROG: message" and the pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_print_help(const char *help);

/* Runtime errors. cli_fail prints "qv: error: <qv_last_error message>",
 * followed with --debug (cli_debug) by the error's origin and code name. */
extern bool cli_debug;
int cli_fail(void);
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The connection, opened on first use; NULL after printing the error. */
struct qv_conn *cli_conn(struct cli *cli);
/* Look a VM up; NULL after printing the error. */
struct vm *cli_lookup(struct cli *cli, const char *name);
/* After a command's options: its one positional argument NAME, looked up.
 * NULL when the command must end, with *exit_code set (usage error, no
 * such VM). */
struct vm *cli_vm_arg(struct cli *cli, struct cli_args *a, int *exit_code);
/* The same for a command that has no options besides --help. */
struct vm *cli_vm_only_arg(struct cli *cli, const char *prog, const char *help, int argc,
                           char **argv, int *exit_code);
void cli_close(struct cli *cli);
/* A definition file (or standard input for "-") as a string (readfile.c):
 * at most QV_DEFINITION_MAX_BYTES and no NUL byte, else NULL after printing
 * the error, having read no more than the limit. Free with g_free(). */
char *cli_read_file(const char *path);
/* cli_fail() for a definition read from path: libqv's "domain XML line 3"
 * or "JSON config line 3" becomes "PATH line 3", a JSON path "$.x" becomes
 * "PATH: $.x". */
int cli_fail_doc(const char *path);

/* Numbers and sizes (size.c). Each returns 0, or prints a usage error naming
 * the option and returns -1. */
int cli_parse_u64(const struct cli_args *a, const char *opt, const char *text, uint64_t min,
                  uint64_t max, uint64_t *out);
/* A size with an optional binary suffix K, M, G, T (also KiB, MiB, ... and
 * KB, MB, ...); a bare number is multiplied by default_unit. */
int cli_parse_size(const struct cli_args *a, const char *opt, const char *text,
                   uint64_t default_unit, uint64_t *out);
/* A rate with an optional decimal suffix k, M, G, T (1000-based). */
int cli_parse_rate(const struct cli_args *a, const char *opt, const char *text, uint64_t *out);
/* Low level: parse text into *out; NULL on success or a static reason. */
const char *cli_size_parse(const char *text, uint64_t default_unit, uint64_t base, uint64_t *out);
/* "1.5 MiB", "512 B": into buf. */
const char *cli_format_size(uint64_t bytes, char *buf, size_t len);

/* Column output (table.c). */
struct cli_table;
struct cli_table *cli_table_new(const char *const *headers);
/* Append a row of as many strings as there are headers (copied). */
void cli_table_add(struct cli_table *t, const char *const *cells);
void cli_table_print(struct cli_table *t, FILE *out);
void cli_table_free(struct cli_table *t);

/* Command groups and commands. */
int cli_cmd_vm(struct cli *cli, int argc, char **argv);
int cli_cmd_system(struct cli *cli, int argc, char **argv);
int cli_cmd_remote_helper(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_snapshot(struct cli *cli, int argc, char **argv);

int cli_cmd_vm_create(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_list(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_start(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_stop(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_pause(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_resume(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_reset(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_destroy(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_clone(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_show(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_stats(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_set(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_disk_add(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_disk_remove(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_nic_add(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_nic_remove(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_run(struct cli *cli, int argc, char **argv);
int cli_cmd_vm_console(struct cli *cli, int argc, char **argv);
int cli_cmd_system_pci_list(struct cli *cli, int argc, char **argv);
/* --pci-add/--pci-remove (cmd_vm_set_pci.c): BDF in canonical form
 * ("0000:01:00.0", g_free) or NULL after a usage error; then add or remove
 * the <hostdev>. */
char *cli_parse_bdf(const struct cli_args *a, const char *opt, const char *text);
int cli_vm_pci(struct vm *vm, const char *bdf, bool add);

/* Console transports (console_*.c). Each returns an exit code. */
/* Connect to a "unix:/path" or open a "pty:/dev/pts/N" endpoint; -1 after
 * printing the error (when report). */
int cli_console_open(const char *endpoint, bool report);
/* write(2) all of buf, waiting out EAGAIN; -1 when fd is gone. */
int cli_console_write_all(int fd, const char *buf, size_t len);
/* The driver's copy of the console's output, followed from the start of
 * the VM's run (console_log.c). NULL when the driver keeps none or it
 * cannot be read: the endpoint's own output is then printed. */
struct cli_console_log;
struct cli_console_log *cli_console_log_open(struct vm *vm);
/* The log's file name. */
const char *cli_console_log_path(const struct cli_console_log *log);
/* Readable when the log grew; -1 when it has to be polled instead. */
int cli_console_log_wakeup_fd(const struct cli_console_log *log);
/* Print what the log gained since the last call: 0, 1 when our output is
 * gone, -1 after printing an error. */
int cli_console_log_copy(struct cli_console_log *log);
void cli_console_log_close(struct cli_console_log *log);
/* Attach the terminal to fd: raw mode on a TTY, Ctrl+] detaches; ends
 * also when stop_fd (if >= 0) becomes readable. With a log (may be NULL),
 * output comes from it and fd carries only the input. */
int cli_console_fd(int fd, const char *what, int stop_fd, struct cli_console_log *log);
/* Copy bytes between fd and stdin/stdout until fd closes, stop_fd (if >= 0)
 * becomes readable, or, with detach_key, Ctrl+] is typed; with a log, as
 * cli_console_fd. */
int cli_console_pump(int fd, const char *what, int stop_fd, bool detach_key,
                     struct cli_console_log *log);
int cli_console_ws(const char *url);

/* console_watch.c: a thread waiting for vm to stop (it takes vm and frees
 * it at the end); its fd becomes readable then, shortly after, so the last
 * bytes get through. NULL (and -1 as its fd) when it cannot be had. */
struct cli_console_watch;
struct cli_console_watch *cli_console_watch_start(struct vm *vm);
int cli_console_watch_fd(const struct cli_console_watch *w);
void cli_console_watch_end(struct cli_console_watch *w);

/* `vm run` with a console the driver keeps on a socket or pty: relay it to
 * the terminal from a thread (run_console.c). NULL when there is nothing to
 * relay (the console is on our stdio, or the driver has none). */
struct cli_relay;
struct cli_relay *cli_relay_start(struct vm *vm);
/* Let the last bytes through, stop the relay and free it. NULL is ignored. */
void cli_relay_finish(struct cli_relay *relay);

/* Terminal raw mode (term.c); restoring is idempotent and also happens at
 * exit. keep_signals leaves ISIG on so Ctrl-C still raises SIGINT;
 * keep_output_processing leaves OPOST on ("\n" becomes "\r\n"). */
int cli_term_raw(int fd, bool keep_signals, bool keep_output_processing);
void cli_term_restore(void);

#endif
