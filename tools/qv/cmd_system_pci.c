/* qv system pci-list: the host's PCI devices and which could go to a guest. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "cli.h"

static const char pci_help[] =
    "Usage: qv system pci-list [--available] [--json] [--sysfs-root DIR]\n"
    "\n"
    "List the host's PCI devices: address (BDF), vendor and device (ids, and names\n"
    "when the pci.ids database is installed), class, IOMMU group and the driver\n"
    "bound now. A device can be passed through to a guest (<hostdev>) only with\n"
    "every device of its IOMMU group; a device bound to a host driver other than\n"
    "vfio-pci or pci-stub is in host use.\n"
    "\n"
    "Options:\n"
    "  --available        only devices whose whole IOMMU group is free of host use\n"
    "  --json             print JSON instead of a table\n"
    "  --sysfs-root DIR   read /sys and /usr/share under DIR (default\n"
    "                     $QV_SYSFS_ROOT, else /)\n"
    "  -h, --help         print this help and exit\n";

enum { OPT_AVAILABLE = 1, OPT_JSON, OPT_SYSFS_ROOT };

static char *id_and_name(JsonObject *d, const char *id_key, const char *name_key)
{
    const char *id = json_object_get_string_member_with_default(d, id_key, "");
    const char *name = json_object_get_string_member_with_default(d, name_key, NULL);
    return name ? g_strdup_printf("%s %s", id, name) : g_strdup(id);
}

static void print_table(JsonObject *top, bool available)
{
    JsonArray *devs = json_object_get_array_member(top, "devices");
    bool iommu = json_object_get_boolean_member_with_default(top, "iommu", FALSE);
    static const char *const headers[] = {"BDF",   "VENDOR", "DEVICE", "CLASS",
                                          "GROUP", "DRIVER", NULL};
    guint n = devs ? json_array_get_length(devs) : 0;
    if (n) {
        struct cli_table *t = cli_table_new(headers);
        for (guint i = 0; i < n; i++) {
            JsonObject *d = json_array_get_object_element(devs, i);
            g_autofree char *vendor = id_and_name(d, "vendor_id", "vendor");
            g_autofree char *device = id_and_name(d, "device_id", "device");
            JsonNode *g = json_object_get_member(d, "iommu_group");
            g_autofree char *group =
                g && !JSON_NODE_HOLDS_NULL(g)
                    ? g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(g))
                    : g_strdup("-");
            const char *drv = json_object_get_string_member_with_default(d, "driver", NULL);
            const char *cells[] = {json_object_get_string_member_with_default(d, "bdf", ""),
                                   vendor,
                                   device,
                                   json_object_get_string_member_with_default(d, "class", ""),
                                   group,
                                   drv ? drv : "-"};
            cli_table_add(t, cells);
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    } else if (available) {
        printf("No PCI device is available for passthrough.\n");
    } else {
        printf("No PCI devices found.\n");
    }
    if (!iommu)
        printf("This host has no IOMMU groups: no device can be passed through. Turn on VT-d "
               "(Intel) or AMD-Vi (AMD) in the firmware and boot with intel_iommu=on or "
               "amd_iommu=on.\n");
}

int cli_cmd_system_pci_list(struct cli *cli, int argc, char **argv)
{
    (void)cli;
    static const struct option opts[] = {
        {"available", no_argument, NULL, OPT_AVAILABLE},
        {"json", no_argument, NULL, OPT_JSON},
        {"sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv system pci-list", pci_help, opts, argc, argv);
    bool available = false, json = false;
    const char *root = NULL;
    int c;
    while ((c = cli_getopt(&a)) > 0) {
        if (c == OPT_AVAILABLE)
            available = true;
        else if (c == OPT_JSON)
            json = true;
        else if (c == OPT_SYSFS_ROOT)
            root = optarg;
    }
    if (c < 0)
        return a.exit_code;
    if (cli_positionals(&a, 0, 0, NULL, NULL) < 0)
        return CLI_EXIT_USAGE;
    char *text = NULL;
    if (qv_host_pci_list(root, available ? QV_HOST_PCI_AVAILABLE : 0, &text) < 0)
        return cli_fail();
    if (json) {
        puts(text);
        qv_free(text);
        return CLI_EXIT_OK;
    }
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;
    bool ok = json_parser_load_from_data(p, text, -1, &err) &&
              JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p));
    qv_free(text);
    if (!ok)
        return cli_error("libqv's PCI list is not a JSON object%s%s", err ? ": " : "",
                         err ? err->message : "");
    print_table(json_node_get_object(json_parser_get_root(p)), available);
    return CLI_EXIT_OK;
}
