/* vm disk-add / disk-remove / nic-add / nic-remove: a device as libvirt
 * XML, escaped, handed to vm_attach_device()/vm_detach_device(), which add
 * it live where the driver can and to the definition in every case. */
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <string.h>

#include "cli.h"

enum {
    OPT_TYPE = 256,
    OPT_PATH,
    OPT_TARGET,
    OPT_READONLY,
    OPT_FORMAT,
    OPT_NETWORK,
    OPT_BRIDGE,
    OPT_MAC
};

static int device_change(struct cli *cli, const char *name, const char *xml, bool attach,
                         const char *what)
{
    struct vm *vm = cli_lookup(cli, name);
    if (!vm)
        return CLI_EXIT_ERROR;
    bool live = vm_get_state(vm) == VM_STATE_RUNNING || vm_get_state(vm) == VM_STATE_PAUSED;
    int rc = (attach ? vm_attach_device(vm, xml) : vm_detach_device(vm, xml)) < 0 ? cli_fail()
                                                                                  : CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK)
        printf("%s %s VM '%s'%s.\n", what, attach ? "added to" : "removed from", name,
               live ? " (live)" : "");
    vm_free(vm);
    return rc;
}

/* The VM's definition as a parsed document, or NULL with the error
 * printed. */
static xmlDocPtr definition_of(struct cli *cli, const char *name)
{
    struct vm *vm = cli_lookup(cli, name);
    if (!vm)
        return NULL;
    char *xml = vm_get_xml(vm);
    vm_free(vm);
    if (!xml) {
        cli_fail();
        return NULL;
    }
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    qv_free(xml);
    if (!doc)
        cli_error("cannot read the definition of VM '%s'", name);
    return doc;
}

/* The first vdX (or sdX) the VM's definition does not use. */
static char *free_target(struct cli *cli, const char *name, const char *prefix)
{
    xmlDocPtr doc = definition_of(cli, name);
    if (!doc)
        return NULL;
    GHashTable *used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    {
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathObjectPtr r =
            xmlXPathEvalExpression((const xmlChar *)"/domain/devices/disk/target/@dev", ctx);
        for (int i = 0; r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
            xmlChar *v = xmlNodeGetContent(r->nodesetval->nodeTab[i]);
            g_hash_table_add(used, g_strdup((const char *)v));
            xmlFree(v);
        }
        xmlXPathFreeObject(r);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
    }
    char *found = NULL;
    for (char c = 'a'; !found && c <= 'z'; c++) {
        char *t = g_strdup_printf("%s%c", prefix, c);
        if (g_hash_table_contains(used, t))
            g_free(t);
        else
            found = t;
    }
    g_hash_table_destroy(used);
    if (!found)
        cli_error("VM '%s' has no free disk target %sa-%sz", name, prefix, prefix);
    return found;
}

static const char disk_add_help[] =
    "Usage: qv vm disk-add NAME --path FILE [--type virtio-blk|scsi|sata|ide]\n"
    "                      [--target DEV] [--format raw|qcow2] [--readonly]\n"
    "\n"
    "Add a disk to VM NAME: live on a running VM where the driver can (the\n"
    "qemu driver hot-plugs virtio-blk disks), and to its definition.\n"
    "\n"
    "Options:\n"
    "  --path FILE      the disk image\n"
    "  --type TYPE      virtio-blk (default), scsi, sata or ide\n"
    "  --target DEV     the guest-visible name (vdb, sdc, ...); default: the\n"
    "                   first free one for the type\n"
    "  --format FMT     raw or qcow2; default: qcow2 for a FILE ending in\n"
    "                   .qcow2, raw otherwise (the contents are never probed)\n"
    "  --readonly       attach read-only\n"
    "  -h, --help       print this help and exit\n";

int cli_cmd_vm_disk_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"path", required_argument, NULL, OPT_PATH},
        {"type", required_argument, NULL, OPT_TYPE},
        {"target", required_argument, NULL, OPT_TARGET},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"readonly", no_argument, NULL, OPT_READONLY},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm disk-add", disk_add_help, opts, argc, argv);
    const char *path = NULL, *type = "virtio-blk", *target = NULL, *format = NULL;
    bool readonly = false;
    int c;
    while ((c = cli_getopt(&a)) > 0) {
        switch (c) {
        case OPT_PATH: path = optarg; break;
        case OPT_TYPE: type = optarg; break;
        case OPT_TARGET: target = optarg; break;
        case OPT_FORMAT: format = optarg; break;
        case OPT_READONLY: readonly = true; break;
        }
    }
    if (c < 0)
        return a.exit_code;
    char **pos;
    if (cli_positionals(&a, 1, 1, "NAME", &pos) < 0)
        return CLI_EXIT_USAGE;
    if (!path)
        return cli_usage_error(&a, "missing --path FILE");
    static const char *const types[][2] = {
        {"virtio-blk", "virtio"}, {"scsi", "scsi"}, {"sata", "sata"}, {"ide", "ide"}};
    const char *bus = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
        if (strcmp(type, types[i][0]) == 0)
            bus = types[i][1];
    if (!bus)
        return cli_usage_error(&a, "option '--type': '%s' is not virtio-blk, scsi, sata or ide",
                               type);
    if (!format)
        format = g_str_has_suffix(path, ".qcow2") ? "qcow2" : "raw";
    if (strcmp(format, "raw") && strcmp(format, "qcow2"))
        return cli_usage_error(&a, "option '--format': '%s' is not raw or qcow2", format);
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *abs =
        g_path_is_absolute(path) ? g_strdup(path) : g_build_filename(cwd, path, NULL);
    g_autofree char *chosen = NULL;
    if (!target) {
        chosen = free_target(cli, pos[0], strcmp(bus, "virtio") == 0 ? "vd" : "sd");
        if (!chosen)
            return CLI_EXIT_ERROR;
        target = chosen;
    }
    g_autofree char *body = g_markup_printf_escaped(
        "<disk type='file' device='disk'><driver name='qemu' type='%s'/><source file='%s'/>"
        "<target dev='%s' bus='%s'/>",
        format, abs, target, bus);
    g_autofree char *xml = g_strconcat(body, readonly ? "<readonly/>" : "", "</disk>", NULL);
    g_autofree char *what = g_strdup_printf("Disk %s", target);
    return device_change(cli, pos[0], xml, true, what);
}

/* The definition's <disk> with target dev, as XML (what virsh detach-disk
 * does: the API matches a disk by target, the XML must still be a disk). */
static char *disk_xml_of(struct cli *cli, const char *name, const char *target)
{
    xmlDocPtr doc = definition_of(cli, name);
    if (!doc)
        return NULL;
    char *found = NULL;
    {
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)"/domain/devices/disk", ctx);
        for (int i = 0; !found && r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
            xmlNodePtr disk = r->nodesetval->nodeTab[i];
            for (xmlNodePtr c = disk->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE || !xmlStrEqual(c->name, (const xmlChar *)"target"))
                    continue;
                xmlChar *dev = xmlGetProp(c, (const xmlChar *)"dev");
                if (dev && strcmp((const char *)dev, target) == 0) {
                    xmlBufferPtr buf = xmlBufferCreate();
                    xmlNodeDump(buf, doc, disk, 0, 0);
                    found = g_strdup((const char *)xmlBufferContent(buf));
                    xmlBufferFree(buf);
                }
                xmlFree(dev);
            }
        }
        xmlXPathFreeObject(r);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
    }
    if (!found)
        cli_error("VM '%s' has no disk '%s'", name, target);
    return found;
}

static const char disk_remove_help[] =
    "Usage: qv vm disk-remove NAME --target DEV\n"
    "\n"
    "Remove the disk with guest name DEV from VM NAME: live on a running VM\n"
    "(the guest is asked to release it, and the call fails, leaving it\n"
    "attached, if the guest does not), and from its definition. The image\n"
    "file is kept.\n"
    "\n"
    "Options:\n"
    "  --target DEV   the disk's guest-visible name (vdb, sdc, ...)\n"
    "  -h, --help     print this help and exit\n";

int cli_cmd_vm_disk_remove(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"target", required_argument, NULL, OPT_TARGET},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm disk-remove", disk_remove_help, opts, argc, argv);
    const char *target = NULL;
    int c;
    while ((c = cli_getopt(&a)) > 0)
        if (c == OPT_TARGET)
            target = optarg;
    if (c < 0)
        return a.exit_code;
    char **pos;
    if (cli_positionals(&a, 1, 1, "NAME", &pos) < 0)
        return CLI_EXIT_USAGE;
    if (!target)
        return cli_usage_error(&a, "missing --target DEV");
    g_autofree char *xml = disk_xml_of(cli, pos[0], target);
    if (!xml)
        return CLI_EXIT_ERROR;
    g_autofree char *what = g_strdup_printf("Disk %s", target);
    return device_change(cli, pos[0], xml, false, what);
}

static const char nic_add_help[] =
    "Usage: qv vm nic-add NAME (--network user | --bridge BR) [--type MODEL] [--mac MAC]\n"
    "\n"
    "Add a NIC to VM NAME: live on a running VM where the driver can, and to\n"
    "its definition. Prints nothing about the MAC: 'qv vm show NAME --xml'\n"
    "has it.\n"
    "\n"
    "Options:\n"
    "  --network user   user-mode networking (guest port 22 forwarded from a\n"
    "                   free port on 127.0.0.1)\n"
    "  --bridge BR      a tap on host bridge BR\n"
    "  --type MODEL     virtio-net (default), e1000, e1000e or rtl8139\n"
    "  --mac MAC        the NIC's MAC address; default: a generated one\n"
    "  -h, --help       print this help and exit\n";

int cli_cmd_vm_nic_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"network", required_argument, NULL, OPT_NETWORK},
        {"bridge", required_argument, NULL, OPT_BRIDGE},
        {"type", required_argument, NULL, OPT_TYPE},
        {"mac", required_argument, NULL, OPT_MAC},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm nic-add", nic_add_help, opts, argc, argv);
    const char *network = NULL, *bridge = NULL, *type = "virtio-net", *mac = NULL;
    int c;
    while ((c = cli_getopt(&a)) > 0) {
        switch (c) {
        case OPT_NETWORK: network = optarg; break;
        case OPT_BRIDGE: bridge = optarg; break;
        case OPT_TYPE: type = optarg; break;
        case OPT_MAC: mac = optarg; break;
        }
    }
    if (c < 0)
        return a.exit_code;
    char **pos;
    if (cli_positionals(&a, 1, 1, "NAME", &pos) < 0)
        return CLI_EXIT_USAGE;
    if (!!network == !!bridge)
        return cli_usage_error(&a, "give one of --network user or --bridge BR");
    if (network && strcmp(network, "user") != 0)
        return cli_usage_error(&a,
                               "option '--network': '%s' is not 'user' (libvirt networks are "
                               "not supported; use --bridge)",
                               network);
    const char *model = strcmp(type, "virtio-net") == 0 ? "virtio" : type;
    if (strcmp(model, "virtio") && strcmp(model, "e1000") && strcmp(model, "e1000e") &&
        strcmp(model, "rtl8139"))
        return cli_usage_error(&a,
                               "option '--type': '%s' is not virtio-net, e1000, e1000e or "
                               "rtl8139",
                               type);
    /* Each piece escaped on its own, then joined. */
    g_autofree char *source =
        bridge ? g_markup_printf_escaped("<source bridge='%s'/>", bridge) : g_strdup("");
    g_autofree char *mac_xml =
        mac ? g_markup_printf_escaped("<mac address='%s'/>", mac) : g_strdup("");
    g_autofree char *model_xml = g_markup_printf_escaped("<model type='%s'/>", model);
    g_autofree char *xml = g_strconcat("<interface type='", bridge ? "bridge" : "user", "'>",
                                       source, mac_xml, model_xml, "</interface>", NULL);
    return device_change(cli, pos[0], xml, true, "NIC");
}

static const char nic_remove_help[] =
    "Usage: qv vm nic-remove NAME --mac MAC\n"
    "\n"
    "Remove the NIC with that MAC from VM NAME: live on a running VM (the\n"
    "guest is asked to release it, and the call fails, leaving it attached,\n"
    "if the guest does not), and from its definition.\n"
    "\n"
    "Options:\n"
    "  --mac MAC    the NIC's MAC address\n"
    "  -h, --help   print this help and exit\n";

int cli_cmd_vm_nic_remove(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"mac", required_argument, NULL, OPT_MAC},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm nic-remove", nic_remove_help, opts, argc, argv);
    const char *mac = NULL;
    int c;
    while ((c = cli_getopt(&a)) > 0)
        if (c == OPT_MAC)
            mac = optarg;
    if (c < 0)
        return a.exit_code;
    char **pos;
    if (cli_positionals(&a, 1, 1, "NAME", &pos) < 0)
        return CLI_EXIT_USAGE;
    if (!mac)
        return cli_usage_error(&a, "missing --mac MAC");
    g_autofree char *xml =
        g_markup_printf_escaped("<interface type='user'><mac address='%s'/></interface>", mac);
    g_autofree char *what = g_strdup_printf("NIC %s", mac);
    return device_change(cli, pos[0], xml, false, what);
}
