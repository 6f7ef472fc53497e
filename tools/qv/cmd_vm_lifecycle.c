/* vm create, start, stop, pause, resume, reset, destroy, clone. */
#include <glib.h>
#include <string.h>

#include "cli.h"

/* Upper bound for --vcpus; the driver may refuse less. */
#define CLI_MAX_VCPUS 4096

static const char create_help[] =
    "Usage: qv vm create (--xml FILE | --config FILE.json | --name NAME [--vcpus N] "
    "[--memory SIZE])\n"
    "                    [--cloud-init USER-DATA [--meta-data FILE] [--network-config FILE]]\n"
    "\n"
    "Define a new VM; it is left in the created state. Prints its name and UUID.\n"
    "\n"
    "Options:\n"
    "  --xml FILE       a libvirt domain XML definition ('-' reads standard input)\n"
    "  --config FILE    a QuantaVirt JSON config ('-' reads standard input)\n"
    "  --name NAME      define a plain VM with this name\n"
    "  --vcpus N        its vCPUs, 1-4096 (default 1)\n"
    "  --memory SIZE    its memory: a number with K, M, G or T (binary units);\n"
    "                   a bare number is MiB (default 512M)\n"
    "  --cloud-init F   cloud-init user-data for the VM's starts (a NoCloud seed)\n"
    "  --meta-data F    cloud-init meta-data: YAML key: value lines, without\n"
    "                   instance-id (qv sets it to the VM's UUID)\n"
    "  --network-config F  cloud-init network-config\n"
    "  -h, --help       print this help and exit\n";

enum {
    OPT_XML = 256,
    OPT_CONFIG,
    OPT_NAME,
    OPT_VCPUS,
    OPT_MEMORY,
    OPT_FORCE,
    OPT_TIMEOUT,
    OPT_CLOUD_INIT,
    OPT_META_DATA,
    OPT_NETWORK_CONFIG
};

/* "Created VM 'a' (uuid ...)" or, for a clone, "Cloned VM 'src' to 'a' (uuid ...)". */
static int print_created(struct vm *vm, const char *source)
{
    struct vm_info info;
    if (vm_get_info(vm, &info) < 0)
        return cli_fail();
    if (source)
        printf("Cloned VM '%s' to '%s' (uuid %s)\n", source, vm_get_name(vm), info.uuid);
    else
        printf("Created VM '%s' (uuid %s)\n", vm_get_name(vm), info.uuid);
    return CLI_EXIT_OK;
}

static int define_vm(struct cli *cli, const char *xml, const char *config, const char *name,
                     uint32_t vcpus, uint64_t memory, char *const ci_docs[3]);

int cli_cmd_vm_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"xml", required_argument, NULL, OPT_XML},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"name", required_argument, NULL, OPT_NAME},
        {"vcpus", required_argument, NULL, OPT_VCPUS},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"cloud-init", required_argument, NULL, OPT_CLOUD_INIT},
        {"meta-data", required_argument, NULL, OPT_META_DATA},
        {"network-config", required_argument, NULL, OPT_NETWORK_CONFIG},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm create", create_help, opts, argc, argv);
    const char *xml = NULL, *config = NULL, *name = NULL;
    const char *ci_files[3] = {NULL, NULL, NULL}; /* user-data, meta-data, network-config */
    uint64_t vcpus = 1, memory = 512ull << 20;
    bool have_vcpus = false, have_memory = false;
    int c;
    while ((c = cli_getopt(&a)) > 0) {
        switch (c) {
        case OPT_XML: xml = optarg; break;
        case OPT_CONFIG: config = optarg; break;
        case OPT_NAME: name = optarg; break;
        case OPT_CLOUD_INIT: ci_files[0] = optarg; break;
        case OPT_META_DATA: ci_files[1] = optarg; break;
        case OPT_NETWORK_CONFIG: ci_files[2] = optarg; break;
        case OPT_VCPUS:
            if (cli_parse_u64(&a, "--vcpus", optarg, 1, CLI_MAX_VCPUS, &vcpus) < 0)
                return CLI_EXIT_USAGE;
            have_vcpus = true;
            break;
        case OPT_MEMORY:
            if (cli_parse_size(&a, "--memory", optarg, 1 << 20, &memory) < 0)
                return CLI_EXIT_USAGE;
            if (memory == 0)
                return cli_usage_error(&a, "option '--memory': the size must not be 0");
            have_memory = true;
            break;
        }
    }
    if (c < 0)
        return a.exit_code;
    if (cli_positionals(&a, 0, 0, NULL, NULL) < 0)
        return CLI_EXIT_USAGE;
    int sources = !!xml + !!config + !!name;
    if (sources == 0)
        return cli_usage_error(&a, "give one of --xml, --config or --name");
    if (sources > 1)
        return cli_usage_error(&a, "--xml, --config and --name exclude each other");
    if (!name && (have_vcpus || have_memory))
        return cli_usage_error(&a, "--vcpus and --memory go with --name");
    if (!ci_files[0] && (ci_files[1] || ci_files[2]))
        return cli_usage_error(&a, "--meta-data and --network-config go with --cloud-init");
    int stdin_uses = 0;
    for (int i = 0; i < 3; i++)
        stdin_uses += ci_files[i] && strcmp(ci_files[i], "-") == 0;
    if (stdin_uses + ((xml && strcmp(xml, "-") == 0) || (config && strcmp(config, "-") == 0)) > 1)
        return cli_usage_error(&a, "only one option can read standard input ('-')");
    /* Read before anything is defined: a file that cannot be read leaves
     * no VM behind. */
    char *ci_docs[3] = {NULL, NULL, NULL};
    int rc = CLI_EXIT_OK;
    for (int i = 0; rc == CLI_EXIT_OK && i < 3; i++)
        if (ci_files[i] && !(ci_docs[i] = cli_read_file(ci_files[i])))
            rc = CLI_EXIT_ERROR;
    if (rc == CLI_EXIT_OK)
        rc = define_vm(cli, xml, config, name, (uint32_t)vcpus, memory, ci_docs);
    for (int i = 0; i < 3; i++)
        g_free(ci_docs[i]);
    return rc;
}

static int define_vm(struct cli *cli, const char *xml, const char *config, const char *name,
                     uint32_t vcpus, uint64_t memory, char *const ci_docs[3])
{
    struct qv_conn *conn = cli_conn(cli);
    if (!conn)
        return CLI_EXIT_ERROR;
    struct vm *vm;
    if (name) {
        vm = vm_create_on(conn, name, vcpus, memory);
    } else {
        g_autofree char *text = cli_read_file(xml ? xml : config);
        if (!text)
            return CLI_EXIT_ERROR;
        vm = xml ? vm_define_xml(conn, text) : vm_define_json(conn, text);
        if (!vm)
            return cli_fail_doc(xml ? xml : config);
    }
    if (!vm)
        return cli_fail();
    if (ci_docs[0] && vm_set_cloud_init(vm, ci_docs[0], ci_docs[1], ci_docs[2]) < 0) {
        /* Defined a moment ago by this command: it goes, so a failed
         * create leaves nothing. */
        int rc = cli_fail();
        vm_destroy(vm);
        return rc;
    }
    int rc = print_created(vm, NULL);
    vm_free(vm);
    return rc;
}

/* The commands that take just NAME. */
static int name_only(struct cli *cli, int argc, char **argv, const char *prog, const char *help,
                     int (*op)(struct vm *), const char *done)
{
    int rc;
    struct vm *vm = cli_vm_only_arg(cli, prog, help, argc, argv, &rc);
    if (!vm)
        return rc;
    rc = op(vm) < 0 ? cli_fail() : CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK)
        printf("VM '%s' %s.\n", vm_get_name(vm), done);
    vm_free(vm);
    return rc;
}

#define NAME_ONLY_HELP(cmd, what)                                                                  \
    "Usage: qv vm " cmd " NAME\n\n" what "\n\nOptions:\n  -h, --help  print this help and exit\n"

int cli_cmd_vm_start(struct cli *cli, int argc, char **argv)
{
    return name_only(cli, argc, argv, "qv vm start",
                     NAME_ONLY_HELP("start", "Start a VM that is created or stopped."), vm_start,
                     "started");
}

int cli_cmd_vm_pause(struct cli *cli, int argc, char **argv)
{
    return name_only(cli, argc, argv, "qv vm pause",
                     NAME_ONLY_HELP("pause", "Pause a running VM: its vCPUs stop executing "
                                             "until 'qv vm resume'."),
                     vm_pause, "paused");
}

int cli_cmd_vm_resume(struct cli *cli, int argc, char **argv)
{
    return name_only(cli, argc, argv, "qv vm resume",
                     NAME_ONLY_HELP("resume", "Resume a paused VM."), vm_resume, "resumed");
}

int cli_cmd_vm_reset(struct cli *cli, int argc, char **argv)
{
    return name_only(cli, argc, argv, "qv vm reset",
                     NAME_ONLY_HELP("reset", "Reset a running or paused VM, like pressing its "
                                             "reset button; it keeps its state."),
                     vm_reset, "reset");
}

static int destroy_op(struct vm *vm)
{
    /* vm_destroy releases the handle whatever happens; keep one of ours. */
    vm_ref(vm);
    vm_destroy(vm);
    return qv_last_error()->code;
}

int cli_cmd_vm_destroy(struct cli *cli, int argc, char **argv)
{
    return name_only(cli, argc, argv, "qv vm destroy",
                     NAME_ONLY_HELP("destroy", "Stop the VM if it runs, then remove it and "
                                               "everything it owns: definition, snapshots, "
                                               "state. This cannot be undone."),
                     destroy_op, "destroyed");
}

static const char stop_help[] =
    "Usage: qv vm stop NAME [--force] [--timeout SECONDS]\n"
    "\n"
    "Stop a running or paused VM. Without --force the guest is asked to power\n"
    "off (ACPI power button or the driver's equivalent) and is forced off when\n"
    "it has not stopped after the timeout.\n"
    "\n"
    "Options:\n"
    "  --force            stop at once without asking the guest\n"
    "  --timeout SECONDS  how long the guest may take, 0-2147483 (default: the\n"
    "                     driver's, 30 s); 0 forces at once\n"
    "  -h, --help         print this help and exit\n";

int cli_cmd_vm_stop(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, OPT_FORCE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm stop", stop_help, opts, argc, argv);
    bool force = false;
    int timeout_ms = -1;
    uint64_t secs;
    int c;
    while ((c = cli_getopt(&a)) > 0) {
        switch (c) {
        case OPT_FORCE: force = true; break;
        case OPT_TIMEOUT:
            if (cli_parse_u64(&a, "--timeout", optarg, 0, G_MAXINT / 1000, &secs) < 0)
                return CLI_EXIT_USAGE;
            timeout_ms = (int)secs * 1000;
            break;
        }
    }
    if (c < 0)
        return a.exit_code;
    int rc;
    struct vm *vm = cli_vm_arg(cli, &a, &rc);
    if (!vm)
        return rc;
    rc = vm_stop_flags(vm, force ? VM_STOP_FORCE : 0, timeout_ms) < 0 ? cli_fail() : CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK)
        printf("VM '%s' stopped.\n", vm_get_name(vm));
    vm_free(vm);
    return rc;
}

static const char clone_help[] =
    "Usage: qv vm clone NAME --name NEW\n"
    "       qv vm clone NAME NEW\n"
    "\n"
    "Define a copy of VM NAME called NEW, with a new UUID, new NIC MAC\n"
    "addresses and copy-on-write copies of its disks. NAME may be running.\n"
    "The copy is created, not started. Prints the new name and UUID.\n"
    "\n"
    "Options:\n"
    "  --name NEW   the copy's name (or give it after NAME)\n"
    "  -h, --help   print this help and exit\n";

int cli_cmd_vm_clone(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, OPT_NAME},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm clone", clone_help, opts, argc, argv);
    const char *new_name = NULL;
    int c;
    while ((c = cli_getopt(&a)) > 0)
        if (c == OPT_NAME)
            new_name = optarg;
    if (c < 0)
        return a.exit_code;
    char **pos;
    int n = cli_positionals(&a, 1, 2, "NAME", &pos);
    if (n < 0)
        return CLI_EXIT_USAGE;
    if (n == 2 && new_name)
        return cli_usage_error(&a, "NEW given twice ('%s' and --name %s)", pos[1], new_name);
    if (n == 2)
        new_name = pos[1];
    if (!new_name)
        return cli_usage_error(&a, "missing --name NEW");
    struct vm *vm = cli_lookup(cli, pos[0]);
    if (!vm)
        return CLI_EXIT_ERROR;
    struct vm *copy = vm_clone(vm, new_name);
    int rc = copy ? print_created(copy, pos[0]) : cli_fail();
    vm_free(copy);
    vm_free(vm);
    return rc;
}
