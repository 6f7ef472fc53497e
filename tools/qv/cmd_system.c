/* The "system" group: facts about the host and the connection. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

static int system_info(struct cli *cli, int argc, char **argv);

static const struct cli_command system_commands[] = {
    {"info", "versions, drivers, the connection, host CPUs and KVM", system_info},
    {NULL, NULL, NULL},
};

int cli_cmd_system(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "qv system", "The host and the connection.", system_commands, argc,
                        argv);
}

static const char info_help[] =
    "Usage: qv system info\n"
    "\n"
    "Print the qv and libqv versions, the drivers compiled into libqv, the\n"
    "connection's URI, driver and state directory, the host's online CPUs and\n"
    "whether /dev/kvm is present and usable by this user, and whether QEMU runs\n"
    "guests with KVM here (with -cpu host and with its default CPU model; probed\n"
    "once per boot).\n"
    "\n"
    "Options:\n"
    "  -h, --help   print this help and exit\n";

/* Probed by opening the device and asking its API version, as a VMM
 * would, rather than trusting file modes. */
static void kvm_status(char *buf, size_t len)
{
    if (access("/dev/kvm", F_OK) != 0) {
        snprintf(buf, len, "absent");
        return;
    }
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(buf, len, "present, not accessible (%s)", g_strerror(errno));
        return;
    }
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    if (version < 0)
        snprintf(buf, len, "present, accessible, but KVM_GET_API_VERSION failed (%s)",
                 g_strerror(errno));
    else
        snprintf(buf, len, "present, accessible (KVM API version %d)", version);
}

/* From the library's probe (cached per boot): QEMU's default CPU model
 * and -cpu host (what <cpu mode='host-passthrough'> runs) can differ. */
static char *qemu_kvm_status(void)
{
    char *why_host = NULL, *why_dflt = NULL;
    int host = qv_qemu_probe(NULL, "kvm", "host", &why_host);
    if (host == QV_ERR_UNSUPPORTED) /* libqv was built without the qemu driver */
        return g_strdup_printf("not probed: %s", qv_last_error()->message);
    if (host < 0)
        return g_strdup_printf("unknown (%s)", qv_last_error()->message);
    char *out;
    if (host == 1) {
        out = g_strdup("usable");
    } else if (g_str_has_prefix(why_host, "/dev/kvm")) {
        out = g_strdup_printf("unusable: %s", why_host);
    } else if (qv_qemu_probe(NULL, "kvm", NULL, &why_dflt) == 1) {
        out = g_strdup_printf("usable with QEMU's default CPU model; unusable with CPU model "
                              "host: %s",
                              why_host);
    } else {
        out = g_strdup_printf("unusable with CPU model host: %s", why_host);
    }
    qv_free(why_host);
    qv_free(why_dflt);
    return out;
}

static char *online_cpus(void)
{
    char *text = NULL;
    if (g_file_get_contents("/sys/devices/system/cpu/online", &text, NULL, NULL))
        return g_strstrip(text);
    return NULL;
}

static int system_info(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{NULL, 0, NULL, 0}};
    struct cli_args a = CLI_ARGS("qv system info", info_help, opts, argc, argv);
    if (cli_args_none(&a) < 0)
        return a.exit_code;

    printf("Version:      qv %s, libqv %s\n", QV_VERSION_STRING, qv_version());
    char **drivers = NULL;
    if (qv_list_drivers(&drivers, NULL) < 0)
        return cli_fail();
    g_autofree char *joined = g_strjoinv(", ", drivers);
    qv_strv_free(drivers);
    printf("Drivers:      %s\n", *joined ? joined : "(none)");
    g_autofree char *online = online_cpus();
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (online)
        printf("Host CPUs:    %ld online (%s)\n", n, online);
    else
        printf("Host CPUs:    %ld online\n", n);
    char kvm[160];
    kvm_status(kvm, sizeof(kvm));
    printf("/dev/kvm:     %s\n", kvm);
    g_autofree char *qemu_kvm = qemu_kvm_status();
    printf("QEMU with KVM: %s\n", qemu_kvm);

    struct qv_conn *conn = cli_conn(cli);
    if (!conn)
        return CLI_EXIT_ERROR;
    const char *state_dir = qv_conn_get_state_dir(conn);
    printf("Connection:   %s\n", qv_conn_get_uri(conn));
    printf("Driver:       %s\n", qv_conn_get_driver(conn));
    printf("State dir:    %s\n", state_dir ? state_dir : "(none)");
    return CLI_EXIT_OK;
}
