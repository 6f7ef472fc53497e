/* The "system" group: facts about the host and the connection. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int system_info(struct cli *cli, int argc, char **argv);

static const struct cli_command system_commands[] = {
    {"info", "versions, drivers, the connection, and what the host offers VMs", system_info},
    {"pci-list", "the host's PCI devices, their IOMMU groups and drivers", cli_cmd_system_pci_list},
    {NULL, NULL, NULL},
};

int cli_cmd_system(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "qv system", "The host and the connection.", system_commands, argc,
                        argv);
}

static const char info_help[] =
    "Usage: qv system info [--json] [--sysfs-root DIR]\n"
    "\n"
    "Print the qv and libqv versions, the drivers compiled into libqv, the host's\n"
    "online CPUs, then what the host offers VMs: whether KVM is usable (found by\n"
    "ioctl on /dev/kvm), whether QEMU runs guests with KVM (with -cpu host and\n"
    "with its default CPU model; probed once per boot), the CPU's virtualization\n"
    "flags (for information only), IOMMU groups, the VFIO modules, hugetlbfs\n"
    "mounts and free hugepages, where QEMU, qemu-img, genisoimage and OVMF are,\n"
    "and whether a cgroup with the cpu controller is available. Each fact that is\n"
    "missing is followed by a \"to fix:\" line. Last come the connection's URI,\n"
    "driver and state directory.\n"
    "\n"
    "Options:\n"
    "  --json             print one JSON object instead\n"
    "  --sysfs-root DIR   read /sys, /proc and /usr/share under DIR (default\n"
    "                     $QV_SYSFS_ROOT, else /)\n"
    "  -h, --help         print this help and exit\n";

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

/* A fact in the shape qv_host_info gives them. */
static void add_fact(JsonBuilder *b, const char *key, bool ok, const char *summary,
                     const char *hint)
{
    json_builder_set_member_name(b, key);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, ok);
    json_builder_set_member_name(b, "summary");
    json_builder_add_string_value(b, summary);
    if (!ok && hint) {
        json_builder_set_member_name(b, "hint");
        json_builder_add_string_value(b, hint);
    }
    json_builder_end_object(b);
}

static void add_kvm(JsonBuilder *b)
{
    char *detail = NULL;
    int rc = qv_kvm_probe(&detail);
    if (rc < 0) {
        g_autofree char *s = g_strdup_printf("not probed: %s", qv_last_error()->message);
        add_fact(b, "kvm", false, s, NULL);
    } else {
        g_autofree char *s =
            rc == 1 ? g_strdup_printf("yes (%s)", detail) : g_strdup_printf("no: %s", detail);
        add_fact(b, "kvm", rc == 1, s, NULL);
    }
    qv_free(detail);
}

/* The order and labels of the text form; the JSON keys are the library's. */
static const struct {
    const char *key, *label;
} fact_labels[] = {
    {"kvm", "KVM usable"},
    {"qemu_kvm", "QEMU with KVM"},
    {"cpu_virt_flags", "CPU virt flags"},
    {"iommu_groups", "IOMMU groups"},
    {"vfio_modules", "VFIO modules"},
    {"hugetlbfs", "hugetlbfs"},
    {"hugepages", "Hugepages"},
    {"qemu", "QEMU"},
    {"qemu_img", "qemu-img"},
    {"genisoimage", "genisoimage"},
    {"ovmf", "OVMF"},
    {"cgroup_cpu", "cgroup cpu"},
};

#define LABEL_WIDTH 16

static void print_line(const char *label, const char *value)
{
    g_autofree char *l = g_strdup_printf("%s:", label);
    printf("%-*s %s\n", LABEL_WIDTH, l, value);
}

static void print_facts(JsonObject *facts)
{
    for (size_t i = 0; i < G_N_ELEMENTS(fact_labels); i++) {
        JsonObject *f = json_object_get_object_member(facts, fact_labels[i].key);
        if (!f)
            continue;
        print_line(fact_labels[i].label,
                   json_object_get_string_member_with_default(f, "summary", ""));
        const char *hint = json_object_get_string_member_with_default(f, "hint", NULL);
        if (hint)
            printf("  to fix: %s\n", hint);
    }
}

/* The host part: everything that does not need the connection. */
static JsonNode *host_facts(const char *sysfs_root)
{
    char *text = NULL;
    if (qv_host_info(sysfs_root, &text) < 0)
        return NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;
    if (!json_parser_load_from_data(p, text, -1, &err) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        qv_free(text);
        cli_error("libqv's host facts are not a JSON object: %s", err ? err->message : "");
        return NULL;
    }
    qv_free(text);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    add_kvm(b);
    g_autofree char *qemu_kvm = qemu_kvm_status();
    add_fact(b, "qemu_kvm", g_str_has_prefix(qemu_kvm, "usable"), qemu_kvm, NULL);
    JsonObject *lib = json_node_get_object(json_parser_get_root(p));
    g_autoptr(GList) members = json_object_get_members(lib);
    for (GList *m = members; m; m = m->next) {
        json_builder_set_member_name(b, m->data);
        json_builder_add_value(b, json_node_copy(json_object_get_member(lib, m->data)));
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static void add_str(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

enum { OPT_JSON = 1, OPT_SYSFS_ROOT };

static int system_info(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv system info", info_help, opts, argc, argv);
    bool json = false;
    const char *sysfs_root = NULL;
    int c;
    while ((c = cli_getopt(&a)) > 0) {
        if (c == OPT_JSON)
            json = true;
        else if (c == OPT_SYSFS_ROOT)
            sysfs_root = optarg;
    }
    if (c < 0)
        return a.exit_code;
    if (cli_positionals(&a, 0, 0, NULL, NULL) < 0)
        return CLI_EXIT_USAGE;

    char **drivers = NULL;
    if (qv_list_drivers(&drivers, NULL) < 0)
        return cli_fail();
    g_autofree char *joined = g_strjoinv(", ", drivers);
    g_autofree char *online = online_cpus();
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    g_autoptr(JsonNode) facts = host_facts(sysfs_root);
    if (!facts) {
        qv_strv_free(drivers);
        return qv_last_error()->code ? cli_fail() : CLI_EXIT_ERROR;
    }
    if (!json) {
        g_autofree char *version =
            g_strdup_printf("qv %s, libqv %s", QV_VERSION_STRING, qv_version());
        g_autofree char *cpus = online ? g_strdup_printf("%ld online (%s)", n, online)
                                       : g_strdup_printf("%ld online", n);
        print_line("Version", version);
        print_line("Drivers", *joined ? joined : "(none)");
        print_line("Host CPUs", cpus);
        print_facts(json_node_get_object(facts));
        fflush(stdout);
    }
    struct qv_conn *conn = cli_conn(cli);
    if (!conn) {
        qv_strv_free(drivers);
        return CLI_EXIT_ERROR;
    }
    const char *state_dir = qv_conn_get_state_dir(conn);
    if (!json) {
        qv_strv_free(drivers);
        print_line("Connection", qv_conn_get_uri(conn));
        print_line("Driver", qv_conn_get_driver(conn));
        print_line("State dir", state_dir ? state_dir : "(none)");
        return CLI_EXIT_OK;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_begin_object(b);
    add_str(b, "qv", QV_VERSION_STRING);
    add_str(b, "libqv", qv_version());
    json_builder_end_object(b);
    json_builder_set_member_name(b, "drivers");
    json_builder_begin_array(b);
    for (char **d = drivers; *d; d++)
        json_builder_add_string_value(b, *d);
    json_builder_end_array(b);
    qv_strv_free(drivers);
    json_builder_set_member_name(b, "host_cpus");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "online");
    json_builder_add_int_value(b, n);
    add_str(b, "list", online);
    json_builder_end_object(b);
    JsonObject *fo = json_node_get_object(facts);
    g_autoptr(GList) members = json_object_get_members(fo);
    for (GList *m = members; m; m = m->next) {
        json_builder_set_member_name(b, m->data);
        json_builder_add_value(b, json_node_copy(json_object_get_member(fo, m->data)));
    }
    json_builder_set_member_name(b, "connection");
    json_builder_begin_object(b);
    add_str(b, "uri", qv_conn_get_uri(conn));
    add_str(b, "driver", qv_conn_get_driver(conn));
    add_str(b, "state_dir", state_dir);
    json_builder_end_object(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, root);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    puts(text);
    return CLI_EXIT_OK;
}
