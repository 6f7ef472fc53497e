/* vm snapshot create|list|restore|delete. */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_NAME = 256, OPT_DISK_ONLY, OPT_INCREMENTAL };

static int snap_create(struct cli *cli, int argc, char **argv);
static int snap_list(struct cli *cli, int argc, char **argv);
static int snap_restore(struct cli *cli, int argc, char **argv);
static int snap_delete(struct cli *cli, int argc, char **argv);

static const struct cli_command snapshot_commands[] = {
    {"create", "capture the VM as snapshot S", snap_create},
    {"list", "list the VM's snapshots, oldest first", snap_list},
    {"restore", "put the VM back into snapshot S", snap_restore},
    {"delete", "delete snapshot S", snap_delete},
    {NULL, NULL, NULL},
};

int cli_cmd_vm_snapshot(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "qv vm snapshot",
                        "Snapshots of a VM: its definition and, where the driver can, its\n"
                        "registers, memory and devices.",
                        snapshot_commands, argc, argv);
}

static const char create_help[] =
    "Usage: qv vm snapshot create NAME --name S [--disk-only] [--incremental]\n"
    "\n"
    "Capture VM NAME as snapshot S. A running VM is paused for the capture\n"
    "and resumed after. On a terminal, standard error shows the progress of\n"
    "the driver's job while it runs (qemu: a running or paused VM).\n"
    "\n"
    "Options:\n"
    "  --name S      the snapshot's name\n"
    "  --disk-only   capture the definition and disks, not memory or registers\n"
    "  --incremental store only the memory written since the VM's previous\n"
    "                snapshot (kvm; refused by drivers that cannot)\n"
    "  -h, --help    print this help and exit\n";

static const char restore_help[] =
    "Usage: qv vm snapshot restore NAME --name S\n"
    "\n"
    "Put VM NAME back into snapshot S: its definition, and its registers,\n"
    "memory and state where the snapshot holds them. On a terminal, standard\n"
    "error shows the progress of the driver's job while it runs.\n"
    "\n"
    "Options:\n"
    "  --name S     the snapshot's name\n"
    "  -h, --help   print this help and exit\n";

static const char delete_help[] = "Usage: qv vm snapshot delete NAME --name S\n"
                                  "\n"
                                  "Delete snapshot S of VM NAME. The VM itself is not changed.\n"
                                  "On a terminal, standard error shows the progress of the\n"
                                  "driver's job while it runs.\n"
                                  "\n"
                                  "Options:\n"
                                  "  --name S     the snapshot's name\n"
                                  "  -h, --help   print this help and exit\n";

/* One line on standard error, redrawn in place while a driver's job runs
 * (only when standard error is a terminal) and erased once the call
 * returns, so what the command prints is the same with or without it. */
struct progress_line {
    const char *vm;
    char last[160];
};

static void show_progress(struct vm *vm, const struct snapshot_progress *p, void *opaque)
{
    (void)vm;
    struct progress_line *l = opaque;
    const char *verb = strcmp(p->operation, "create") == 0    ? "Saving"
                       : strcmp(p->operation, "restore") == 0 ? "Loading"
                                                              : "Deleting";
    /* A percentage when the driver knows the total, else the job's status. */
    char how[32];
    if (p->total > 0)
        snprintf(how, sizeof(how), "%3" PRIu64 "%%",
                 (p->current > p->total ? p->total : p->current) * 100 / p->total);
    else
        snprintf(how, sizeof(how), "%s", p->status ? p->status : "running");
    char line[sizeof(l->last)];
    snprintf(line, sizeof(line), "%s snapshot '%s' of VM '%s': %s, %" PRId64 " s", verb,
             p->snapshot, l->vm, how, p->elapsed_ms / 1000);
    if (strcmp(line, l->last) == 0)
        return;
    memcpy(l->last, line, sizeof(line));
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
}

static int run_op(struct vm *vm, const char *vm_name, const char *snap, unsigned flags,
                  int (*op)(struct vm *, const char *, unsigned, snapshot_progress_fn, void *))
{
    struct progress_line l = {.vm = vm_name};
    bool tty = isatty(STDERR_FILENO);
    int rc = op(vm, snap, flags, tty ? show_progress : NULL, &l);
    if (l.last[0]) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    return rc;
}

/* The commands taking NAME --name S. */
static int snap_named(struct cli *cli, int argc, char **argv, const char *prog, const char *help,
                      bool with_disk_only,
                      int (*op)(struct vm *, const char *, unsigned, snapshot_progress_fn, void *),
                      const char *done)
{
    static const struct option opts_plain[] = {
        {"name", required_argument, NULL, OPT_NAME},
        {NULL, 0, NULL, 0},
    };
    static const struct option opts_disk[] = {
        {"name", required_argument, NULL, OPT_NAME},
        {"disk-only", no_argument, NULL, OPT_DISK_ONLY},
        {"incremental", no_argument, NULL, OPT_INCREMENTAL},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS(prog, help, with_disk_only ? opts_disk : opts_plain, argc, argv);
    const char *snap = NULL;
    unsigned flags = 0;
    int c;
    while ((c = cli_getopt(&a)) > 0) {
        if (c == OPT_NAME)
            snap = optarg;
        else if (c == OPT_DISK_ONLY)
            flags |= SNAPSHOT_DISK_ONLY;
        else if (c == OPT_INCREMENTAL)
            flags |= SNAPSHOT_INCREMENTAL;
    }
    if (c < 0)
        return a.exit_code;
    char **pos;
    if (cli_positionals(&a, 1, 1, "NAME", &pos) < 0)
        return CLI_EXIT_USAGE;
    if (!snap)
        return cli_usage_error(&a, "missing --name S (the snapshot's name)");
    struct vm *vm = cli_lookup(cli, pos[0]);
    if (!vm)
        return CLI_EXIT_ERROR;
    int rc = run_op(vm, pos[0], snap, flags, op) < 0 ? cli_fail() : CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK)
        printf("Snapshot '%s' of VM '%s' %s.\n", snap, pos[0], done);
    vm_free(vm);
    return rc;
}

static int do_restore(struct vm *vm, const char *name, unsigned flags, snapshot_progress_fn fn,
                      void *opaque)
{
    (void)flags;
    return snapshot_restore_progress(vm, name, fn, opaque);
}

static int do_delete(struct vm *vm, const char *name, unsigned flags, snapshot_progress_fn fn,
                     void *opaque)
{
    (void)flags;
    return snapshot_delete_progress(vm, name, fn, opaque);
}

static int snap_create(struct cli *cli, int argc, char **argv)
{
    return snap_named(cli, argc, argv, "qv vm snapshot create", create_help, true,
                      snapshot_create_progress, "created");
}

static int snap_restore(struct cli *cli, int argc, char **argv)
{
    return snap_named(cli, argc, argv, "qv vm snapshot restore", restore_help, false, do_restore,
                      "restored");
}

static int snap_delete(struct cli *cli, int argc, char **argv)
{
    return snap_named(cli, argc, argv, "qv vm snapshot delete", delete_help, false, do_delete,
                      "deleted");
}

static const char list_help[] = "Usage: qv vm snapshot list NAME\n"
                                "\n"
                                "List the snapshots of VM NAME, oldest first, as a table:\n"
                                "  NAME     the snapshot's name\n"
                                "  CREATED  when it was taken, local time (2026-11-21 08:15:02)\n"
                                "  SIZE     the space it occupies (1.5 MiB)\n"
                                "  STATE    the state the VM was in when it was taken\n"
                                "\n"
                                "Options:\n"
                                "  -h, --help   print this help and exit\n";

static int snap_list(struct cli *cli, int argc, char **argv)
{
    int rc;
    struct vm *vm = cli_vm_only_arg(cli, "qv vm snapshot list", list_help, argc, argv, &rc);
    if (!vm)
        return rc;
    struct snapshot_info *list = NULL;
    size_t n = 0;
    if (snapshot_list(vm, &list, &n) < 0) {
        rc = cli_fail();
        vm_free(vm);
        return rc;
    }
    static const char *const headers[] = {"NAME", "CREATED", "SIZE", "STATE", NULL};
    struct cli_table *t = cli_table_new(headers);
    for (size_t i = 0; i < n; i++) {
        char created[32] = "-", size[32];
        time_t when = (time_t)list[i].created;
        struct tm tm;
        if (localtime_r(&when, &tm))
            strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm);
        cli_format_size(list[i].size, size, sizeof(size));
        const char *cells[] = {list[i].name, created, size, vm_state_name(list[i].state)};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    snapshot_info_free(list, n);
    vm_free(vm);
    return CLI_EXIT_OK;
}
