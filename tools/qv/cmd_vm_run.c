/* vm run: one transient VM in the foreground. Its serial console is this
 * process's standard input and output; qv returns when the guest stops and
 * exits with the guest's status. */
#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char run_help[] =
    "Usage: qv vm run (--xml FILE | --kernel FILE [--initrd FILE] [--append ARGS]\n"
    "                 [--memory SIZE] [--vcpus N] [--virt-type TYPE])\n"
    "\n"
    "Run one VM in the foreground with its serial console on this terminal and\n"
    "return when the guest stops. The VM is defined for the run and destroyed\n"
    "after it.\n"
    "\n"
    "With --kernel, qv defines a VM named run-PID that boots FILE directly\n"
    "(multiboot, ELF64, Linux bzImage or a flat binary, as the driver supports)\n"
    "with one serial port on standard input/output. With --xml the definition is\n"
    "used as given; give it a <serial type='stdio'> to see the console here.\n"
    "Drivers that keep the console on a socket or pty (qemu:///session) have it\n"
    "relayed to this terminal until the guest stops.\n"
    "Over a remote connection (DRIVER+ssh://HOST/...) the console comes through\n"
    "the SSH session, --kernel and --initrd are absolute paths on HOST, and the\n"
    "VM is a TCG guest (type 'qemu'; use --xml for KVM).\n"
    "\n"
    "Options:\n"
    "  --xml FILE      a libvirt domain XML definition\n"
    "  --kernel FILE   the kernel or payload to boot\n"
    "  --initrd FILE   an initrd (Linux) or multiboot module\n"
    "  --append ARGS   the kernel command line\n"
    "  --memory SIZE   guest memory, K/M/G/T binary suffixes, a bare number is\n"
    "                  MiB (default 256M)\n"
    "  --vcpus N       vCPUs, 1-4096 (default 1)\n"
    "  --virt-type TYPE  the <domain type>: kvm or qemu (TCG) on the qemu\n"
    "                  driver, test on noop; by default kvm where /dev/kvm is\n"
    "                  usable (qemu:///session), qemu over ssh (test on noop+ssh)\n"
    "  -h, --help      print this help and exit\n"
    "\n"
    "Exit status: the guest's isa-debug-exit status ((value << 1) | 1, as QEMU's),\n"
    "0 after the guest powers off or asks for a reset, 1 on an error or a crash,\n"
    "2 on a usage error, 130 after Ctrl-C (SIGINT), 131 after Ctrl-\\ (SIGQUIT)\n"
    "and 143 after SIGTERM, which force the VM off.\n";

enum { OPT_XML = 256, OPT_KERNEL, OPT_INITRD, OPT_APPEND, OPT_MEMORY, OPT_VCPUS, OPT_VIRT_TYPE };

struct run_opts {
    const char *xml, *kernel, *initrd, *append, *virt_type;
    uint64_t memory, vcpus;
    bool have_memory, have_vcpus;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static bool is_remote(struct qv_conn *conn)
{
    return strcmp(qv_conn_get_driver(conn), "remote") == 0;
}

/* The <domain type> that fits the connection's driver. */
static const char *domain_type(struct qv_conn *conn)
{
    const char *drv = qv_conn_get_driver(conn);
    if (is_remote(conn)) {
        /* Whether the remote host has /dev/kvm is not known here: TCG runs
         * on every host (--xml chooses otherwise). */
        return g_ascii_strncasecmp(qv_conn_get_uri(conn), "noop+", 5) == 0 ? "test" : "qemu";
    }
    if (strcmp(drv, "noop") == 0)
        return "test";
    if (strcmp(drv, "qemu") == 0 && access("/dev/kvm", R_OK | W_OK) != 0)
        return "qemu";
    return "kvm";
}

static void add_path_element(GString *x, const char *tag, const char *path)
{
    if (!path)
        return;
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    g_autofree char *esc = g_markup_escape_text(abs, -1);
    g_string_append_printf(x, "    <%s>%s</%s>\n", tag, esc, tag);
}

/* A transient definition booting the kernel directly, console on stdio. */
static char *kernel_xml(struct qv_conn *conn, const struct run_opts *o)
{
    GString *x = g_string_new(NULL);
    g_string_append_printf(x, "<domain type='%s'>\n",
                           o->virt_type ? o->virt_type : domain_type(conn));
    g_string_append_printf(x, "  <name>run-%ld</name>\n", (long)getpid());
    g_string_append_printf(x, "  <memory unit='KiB'>%" G_GUINT64_FORMAT "</memory>\n",
                           o->memory / 1024);
    g_string_append_printf(x, "  <vcpu>%" G_GUINT64_FORMAT "</vcpu>\n", o->vcpus);
    g_string_append(x, "  <os>\n    <type arch='x86_64'>hvm</type>\n");
    add_path_element(x, "kernel", o->kernel);
    add_path_element(x, "initrd", o->initrd);
    if (o->append) {
        g_autofree char *esc = g_markup_escape_text(o->append, -1);
        g_string_append_printf(x, "    <cmdline>%s</cmdline>\n", esc);
    }
    /* ACPI as `qemu -kernel` has it: a guest's poweroff ends the run. */
    g_string_append(x, "  </os>\n"
                       "  <features><acpi/></features>\n"
                       "  <on_poweroff>destroy</on_poweroff>\n"
                       "  <on_reboot>destroy</on_reboot>\n"
                       "  <on_crash>destroy</on_crash>\n"
                       "  <devices>\n"
                       "    <serial type='stdio'>\n"
                       "      <target port='0'/>\n"
                       "    </serial>\n"
                       "  </devices>\n"
                       "</domain>\n");
    return g_string_free(x, FALSE);
}

static int parse(struct cli_args *a, struct run_opts *o, int *exit_code)
{
    static const struct option opts[] = {
        {"xml", required_argument, NULL, OPT_XML},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"initrd", required_argument, NULL, OPT_INITRD},
        {"append", required_argument, NULL, OPT_APPEND},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"vcpus", required_argument, NULL, OPT_VCPUS},
        {"virt-type", required_argument, NULL, OPT_VIRT_TYPE},
        {NULL, 0, NULL, 0},
    };
    a->options = opts;
    *exit_code = CLI_EXIT_USAGE;
    int c;
    while ((c = cli_getopt(a)) > 0) {
        switch (c) {
        case OPT_XML: o->xml = optarg; break;
        case OPT_KERNEL: o->kernel = optarg; break;
        case OPT_INITRD: o->initrd = optarg; break;
        case OPT_APPEND: o->append = optarg; break;
        case OPT_VIRT_TYPE:
            /* The driver refuses a type it cannot run, naming it. */
            if (strcmp(optarg, "kvm") != 0 && strcmp(optarg, "qemu") != 0 &&
                strcmp(optarg, "test") != 0)
                return cli_usage_error(a, "option '--virt-type': '%s' is not kvm, qemu or test",
                                       optarg),
                       -1;
            o->virt_type = optarg;
            break;
        case OPT_MEMORY:
            if (cli_parse_size(a, "--memory", optarg, 1 << 20, &o->memory) < 0)
                return -1;
            if (o->memory < 1 << 20 || o->memory % 4096)
                return cli_usage_error(a,
                                       "option '--memory': %s is not a multiple of 4 KiB of "
                                       "at least 1 MiB",
                                       optarg),
                       -1;
            o->have_memory = true;
            break;
        case OPT_VCPUS:
            if (cli_parse_u64(a, "--vcpus", optarg, 1, 4096, &o->vcpus) < 0)
                return -1;
            o->have_vcpus = true;
            break;
        }
    }
    if (c < 0) {
        *exit_code = a->exit_code;
        return -1;
    }
    if (cli_positionals(a, 0, 0, NULL, NULL) < 0)
        return -1;
    if (!o->xml && !o->kernel)
        return cli_usage_error(a, "give --xml FILE or --kernel FILE"), -1;
    if (o->xml && o->kernel)
        return cli_usage_error(a, "--xml and --kernel exclude each other"), -1;
    if (o->xml && (o->initrd || o->append || o->have_memory || o->have_vcpus || o->virt_type))
        return cli_usage_error(
                   a, "--initrd, --append, --memory, --vcpus and --virt-type go with --kernel"),
               -1;
    return 0;
}

/* Files named on the command line are checked here so the message names the
 * option; the driver checks what is inside them. */
static int check_readable(const char *opt, const char *path)
{
    if (path && access(path, R_OK) != 0)
        return cli_error("%s '%s': %s", opt, path, g_strerror(errno));
    return 0;
}

static void install_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* Ctrl-\ still raises SIGQUIT in the terminal mode `vm run` uses; it must
     * not leave a guest behind either. */
    sigaction(SIGQUIT, &sa, NULL);
}

/* Wait for the guest to stop, or for a signal. Returns 0 or -1 (error printed). */
static int wait_guest(struct vm *vm)
{
    bool can_wait = true;
    while (!got_signal) {
        if (can_wait) {
            /* Short waits so a signal is noticed promptly whatever the driver
             * does with EINTR. */
            int rc = vm_wait(vm, 100);
            if (rc == 0)
                return 0;
            if (rc == QV_ERR_UNSUPPORTED) {
                can_wait = false;
                continue;
            }
            if (rc != QV_ERR_TIMEOUT)
                return cli_fail(), -1;
        } else {
            enum vm_state st = vm_get_state(vm);
            if (st != VM_STATE_RUNNING && st != VM_STATE_PAUSED) {
                if (qv_last_error()->code != QV_OK)
                    return cli_fail(), -1;
                return 0;
            }
            g_usleep(100 * 1000);
        }
    }
    return 0;
}

static int guest_exit_code(struct vm *vm)
{
    struct vm_info info;
    if (vm_get_info(vm, &info) < 0)
        return cli_fail();
    if (info.exit_status >= 0)
        return info.exit_status & 0xff;
    switch (info.reason) {
    case VM_REASON_CRASHED:
    case VM_REASON_FAILED:
        return cli_error("VM '%s' %s", vm_get_name(vm), vm_state_reason_name(info.reason));
    default: return CLI_EXIT_OK;
    }
}

/* A noop guest never stops by itself, so a run ends only when something
 * else stops it: another qv on the same noop:///DIR. On noop:/// the VM
 * lives in this process alone and the run could never end. */
static bool run_can_end(struct qv_conn *conn)
{
    if (strcmp(qv_conn_get_driver(conn), "noop") != 0)
        return true;
    g_autoptr(GUri) uri = g_uri_parse(qv_conn_get_uri(conn), G_URI_FLAGS_NONE, NULL);
    const char *path = uri ? g_uri_get_path(uri) : NULL;
    return path && *path && strcmp(path, "/") != 0;
}

/* Over a remote connection --kernel and --initrd name files on the remote
 * host, which only it can check, and a relative name would mean a different
 * directory there. */
static int check_remote_path(const char *opt, const char *path)
{
    if (path && !g_path_is_absolute(path))
        return cli_error("%s '%s': give an absolute path on the remote host", opt, path);
    return 0;
}

/* Before connecting, so that a typo is reported without a login. */
static bool remote_uri(const struct cli *cli)
{
    const char *uri = cli->uri;
    /* Schemes are case-insensitive, as the registry matches them. */
    g_autofree char *lower = uri ? g_ascii_strdown(uri, -1) : NULL;
    return lower && (strstr(lower, "+ssh://") || strstr(lower, "+pipe://"));
}

static int run(struct cli *cli, const struct run_opts *o)
{
    if (!cli->uri)
        cli->uri = cli_default_uri(true);
    bool remote = remote_uri(cli);
    if (check_readable("--xml", o->xml) ||
        (remote
             ? check_remote_path("--kernel", o->kernel) || check_remote_path("--initrd", o->initrd)
             : check_readable("--kernel", o->kernel) || check_readable("--initrd", o->initrd)))
        return CLI_EXIT_ERROR;
    struct qv_conn *conn = cli_conn(cli);
    if (!conn)
        return CLI_EXIT_ERROR;
    if (!run_can_end(conn))
        return cli_error("vm run on %s would never return: a noop guest runs until it is "
                         "stopped, and a VM of %s lives in this qv process alone. Use "
                         "noop:///ABS/DIR and stop it with 'qv vm stop' from another shell",
                         qv_conn_get_uri(conn), qv_conn_get_uri(conn));
    g_autofree char *xml = o->xml ? cli_read_file(o->xml) : kernel_xml(conn, o);
    if (!xml)
        return CLI_EXIT_ERROR;

    install_signals();
    struct vm *vm = vm_define_xml(conn, xml);
    if (!vm)
        return o->xml ? cli_fail_doc(o->xml) : cli_fail();
    int rc;
    if (vm_start(vm) < 0) {
        rc = cli_fail();
    } else {
        cli_term_raw(STDIN_FILENO, true, true);
        struct cli_relay *relay = cli_relay_start(vm);
        rc = wait_guest(vm) < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
        if (got_signal) {
            /* Force: the user asked to stop now, not to negotiate. */
            if (vm_get_state(vm) == VM_STATE_RUNNING || vm_get_state(vm) == VM_STATE_PAUSED)
                if (vm_stop_flags(vm, VM_STOP_FORCE, 0) < 0)
                    cli_fail();
            rc = 128 + got_signal;
        } else if (rc == CLI_EXIT_OK) {
            rc = guest_exit_code(vm);
        }
        cli_relay_finish(relay);
        cli_term_restore();
    }
    fflush(stdout);
    /* The definition was only for this run. */
    vm_destroy(vm);
    if (qv_last_error()->code != QV_OK) {
        cli_fail();
        if (rc == CLI_EXIT_OK)
            rc = CLI_EXIT_ERROR;
    }
    return rc;
}

int cli_cmd_vm_run(struct cli *cli, int argc, char **argv)
{
    struct cli_args a = CLI_ARGS("qv vm run", run_help, NULL, argc, argv);
    struct run_opts o = {.memory = 256ull << 20, .vcpus = 1};
    int code;
    if (parse(&a, &o, &code) < 0)
        return code;
    return run(cli, &o);
}
