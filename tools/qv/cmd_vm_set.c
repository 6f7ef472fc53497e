/* vm set: CPU pinning, weight and cap, vCPUs, memory, disk and NIC limits.
 * Every value is checked here before libqv is called, so a typo never
 * changes half of the settings. */
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <string.h>

#include "cli.h"

static const char set_help[] =
    "Usage: qv vm set NAME [--cpu-pin LIST|auto|spread] [--cpu-weight N]\n"
    "                      [--cpu-cap N] [--vcpus N] [--memory SIZE] [--io-limit RATE]\n"
    "                      [--iops-limit N] [--disk DEV] [--net-limit RATE] [--nic MAC]\n"
    "                      [--pci-remove BDF] [--pci-add BDF]\n"
    "\n"
    "Change a VM's settings. On a running VM the driver applies them live or\n"
    "refuses. Settings are applied in the order listed here; when one fails,\n"
    "the ones before it stay applied.\n"
    "\n"
    "Options:\n"
    "  --cpu-pin LIST   pin vCPUs to host CPUs: VCPU:PCPU pairs separated by\n"
    "                   commas (0:4,1:5); VCPU:none removes a pin; 'auto'\n"
    "                   removes every pin (the host scheduler places the vCPUs);\n"
    "                   'spread' pins vCPU i to the i-th host CPU this process\n"
    "                   may use\n"
    "  --cpu-weight N   CPU weight relative to other VMs, 1-65535 (default 256)\n"
    "  --cpu-cap N      CPU cap in percent of one host CPU per vCPU, 0-100;\n"
    "                   0 removes the cap\n"
    "  --vcpus N        number of active vCPUs, 1 to the VM's maximum\n"
    "  --memory SIZE    current memory (balloon), at most the VM's maximum;\n"
    "                   K, M, G, T suffixes are binary, a bare number is MiB\n"
    "  --io-limit RATE  disk throughput limit in bytes per second; K, M, G, T\n"
    "                   suffixes are binary (10M = 10 MiB/s); 0 removes it\n"
    "  --iops-limit N   disk I/O operations per second, 0-4294967295; 0 removes it\n"
    "  --disk DEV       apply the disk limits to the disk with this target\n"
    "                   (e.g. vda) only; default: every disk\n"
    "  --net-limit RATE NIC bandwidth limit in bits per second; k, M, G suffixes\n"
    "                   are decimal (100M = 100 Mbit/s); 0 removes it\n"
    "  --nic MAC        apply the NIC limit to the NIC with this MAC only;\n"
    "                   default: every NIC\n"
    "  --pci-remove BDF remove the PCI host device at BDF (DDDD:BB:SS.F) from\n"
    "                   the VM; the VM must be stopped\n"
    "  --pci-add BDF    pass the host's PCI device at BDF through to the VM\n"
    "                   (<hostdev managed='yes'>: its IOMMU group is bound to\n"
    "                   vfio-pci at start); the VM must be stopped\n"
    "  -h, --help       print this help and exit\n";

enum {
    OPT_CPU_PIN = 256,
    OPT_CPU_WEIGHT,
    OPT_CPU_CAP,
    OPT_VCPUS,
    OPT_MEMORY,
    OPT_IO_LIMIT,
    OPT_IOPS_LIMIT,
    OPT_DISK,
    OPT_NET_LIMIT,
    OPT_NIC,
    OPT_PCI_ADD,
    OPT_PCI_REMOVE,
};

/* Host CPU numbers accepted by --cpu-pin (glibc's CPU_SETSIZE). */
#define CLI_MAX_PCPU 1023
#define CLI_MAX_VCPUS 4096

struct pin {
    uint32_t vcpu;
    int pcpu; /* -1: remove the pin */
};

struct settings {
    bool pin_auto, pin_spread;
    GArray *pins; /* struct pin */
    bool has_weight, has_cap, has_vcpus, has_memory, has_io, has_iops, has_net;
    uint64_t weight, cap, vcpus, memory, io, iops, net;
    const char *disk, *nic;
    char *pci_add, *pci_remove; /* canonical BDFs */
};

static int parse_pins(const struct cli_args *a, const char *text, struct settings *s)
{
    if (strcmp(text, "auto") == 0 || strcmp(text, "spread") == 0) {
        *(text[0] == 'a' ? &s->pin_auto : &s->pin_spread) = true;
        return 0;
    }
    g_auto(GStrv) items = g_strsplit(text, ",", -1);
    if (!items[0])
        return cli_usage_error(a, "option '--cpu-pin': empty list"), -1;
    for (char **it = items; *it; it++) {
        char *colon = strchr(*it, ':');
        if (!colon || colon == *it || !colon[1])
            return cli_usage_error(a,
                                   "option '--cpu-pin': '%s' is not VCPU:PCPU "
                                   "(e.g. 0:4,1:5, auto or spread)",
                                   *it),
                   -1;
        *colon = 0;
        uint64_t vcpu, pcpu;
        if (cli_parse_u64(a, "--cpu-pin (vCPU)", *it, 0, CLI_MAX_VCPUS - 1, &vcpu) < 0)
            return -1;
        struct pin p = {.vcpu = (uint32_t)vcpu, .pcpu = -1};
        if (strcmp(colon + 1, "none") != 0) {
            if (cli_parse_u64(a, "--cpu-pin (host CPU)", colon + 1, 0, CLI_MAX_PCPU, &pcpu) < 0)
                return -1;
            p.pcpu = (int)pcpu;
        }
        for (guint i = 0; i < s->pins->len; i++)
            if (g_array_index(s->pins, struct pin, i).vcpu == p.vcpu)
                return cli_usage_error(a, "option '--cpu-pin': vCPU %u is given twice", p.vcpu), -1;
        g_array_append_val(s->pins, p);
    }
    return 0;
}

/* "10M/s" reads as "10M". */
static const char *strip_per_second(const char *text, char *buf, size_t len)
{
    size_t n = strlen(text);
    if (n > 2 && strcmp(text + n - 2, "/s") == 0 && n - 2 < len) {
        memcpy(buf, text, n - 2);
        buf[n - 2] = 0;
        return buf;
    }
    return text;
}

/* Parse and check everything; returns -1 when the command must exit with
 * *exit_code (help or a usage error), 0 to go on. */
static int parse(struct cli_args *a, struct settings *s, char ***pos, int *exit_code)
{
    *exit_code = CLI_EXIT_USAGE;
    static const struct option opts[] = {
        {"cpu-pin", required_argument, NULL, OPT_CPU_PIN},
        {"cpu-weight", required_argument, NULL, OPT_CPU_WEIGHT},
        {"cpu-cap", required_argument, NULL, OPT_CPU_CAP},
        {"vcpus", required_argument, NULL, OPT_VCPUS},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"io-limit", required_argument, NULL, OPT_IO_LIMIT},
        {"iops-limit", required_argument, NULL, OPT_IOPS_LIMIT},
        {"disk", required_argument, NULL, OPT_DISK},
        {"net-limit", required_argument, NULL, OPT_NET_LIMIT},
        {"nic", required_argument, NULL, OPT_NIC},
        {"pci-add", required_argument, NULL, OPT_PCI_ADD},
        {"pci-remove", required_argument, NULL, OPT_PCI_REMOVE},
        {NULL, 0, NULL, 0},
    };
    a->options = opts;
    char buf[64];
    int c;
    while ((c = cli_getopt(a)) > 0) {
        int rc = 0;
        switch (c) {
        case OPT_CPU_PIN:
            if (s->pin_auto || s->pin_spread || s->pins->len)
                return cli_usage_error(a, "option '--cpu-pin' is given twice"), -1;
            rc = parse_pins(a, optarg, s);
            break;
        case OPT_CPU_WEIGHT:
            rc = cli_parse_u64(a, "--cpu-weight", optarg, 1, 65535, &s->weight);
            s->has_weight = true;
            break;
        case OPT_CPU_CAP:
            rc = cli_parse_u64(a, "--cpu-cap", optarg, 0, 100, &s->cap);
            s->has_cap = true;
            break;
        case OPT_VCPUS:
            rc = cli_parse_u64(a, "--vcpus", optarg, 1, CLI_MAX_VCPUS, &s->vcpus);
            s->has_vcpus = true;
            break;
        case OPT_MEMORY:
            rc = cli_parse_size(a, "--memory", optarg, 1 << 20, &s->memory);
            if (rc == 0 && s->memory == 0)
                rc = -1, cli_usage_error(a, "option '--memory': the size must not be 0");
            s->has_memory = true;
            break;
        case OPT_IO_LIMIT:
            rc = cli_parse_size(a, "--io-limit", strip_per_second(optarg, buf, sizeof(buf)), 1,
                                &s->io);
            s->has_io = true;
            break;
        case OPT_IOPS_LIMIT:
            rc = cli_parse_u64(a, "--iops-limit", optarg, 0, UINT32_MAX, &s->iops);
            s->has_iops = true;
            break;
        case OPT_DISK: s->disk = optarg; break;
        case OPT_NET_LIMIT:
            rc = cli_parse_rate(a, "--net-limit", strip_per_second(optarg, buf, sizeof(buf)),
                                &s->net);
            s->has_net = true;
            break;
        case OPT_NIC: s->nic = optarg; break;
        case OPT_PCI_ADD:
        case OPT_PCI_REMOVE: {
            char **slot = c == OPT_PCI_ADD ? &s->pci_add : &s->pci_remove;
            const char *name = c == OPT_PCI_ADD ? "--pci-add" : "--pci-remove";
            if (*slot)
                return cli_usage_error(a, "option '%s' is given twice", name), -1;
            *slot = cli_parse_bdf(a, name, optarg);
            rc = *slot ? 0 : -1;
            break;
        }
        }
        if (rc < 0)
            return -1;
    }
    if (c < 0) {
        *exit_code = a->exit_code;
        return -1;
    }
    if (cli_positionals(a, 1, 1, "NAME", pos) < 0)
        return -1;
    if (s->disk && !s->has_io && !s->has_iops)
        return cli_usage_error(a, "--disk goes with --io-limit or --iops-limit"), -1;
    if (s->nic && !s->has_net)
        return cli_usage_error(a, "--nic goes with --net-limit"), -1;
    if (!s->pin_auto && !s->pin_spread && !s->pins->len && !s->has_weight && !s->has_cap &&
        !s->has_vcpus && !s->has_memory && !s->has_io && !s->has_iops && !s->has_net &&
        !s->pci_add && !s->pci_remove)
        return cli_usage_error(a, "nothing to set; give at least one option"), -1;
    return 0;
}

struct disk_limits {
    char *target;
    uint64_t bytes, iops;
};

static uint64_t xpath_u64(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathNodeEval(node, BAD_CAST expr, ctx);
    uint64_t v = 0;
    if (o && o->type == XPATH_NUMBER && o->floatval > 0)
        v = (uint64_t)o->floatval;
    xmlXPathFreeObject(o);
    return v;
}

/* The disks' current limits, read from the VM's domain XML, so that
 * setting one of --io-limit/--iops-limit keeps the other. */
static GArray *current_disk_limits(struct vm *vm)
{
    char *xml = vm_get_xml(vm);
    if (!xml)
        return NULL;
    GArray *out = g_array_new(FALSE, TRUE, sizeof(struct disk_limits));
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    qv_free(xml);
    if (!doc)
        return out;
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr disks = xmlXPathEvalExpression(BAD_CAST "/domain/devices/disk", ctx);
    for (int i = 0; disks && disks->nodesetval && i < disks->nodesetval->nodeNr; i++) {
        xmlNodePtr d = disks->nodesetval->nodeTab[i];
        xmlXPathObjectPtr t = xmlXPathNodeEval(d, BAD_CAST "string(target/@dev)", ctx);
        struct disk_limits l = {
            .target = g_strdup(t && t->stringval ? (const char *)t->stringval : ""),
            .bytes = xpath_u64(ctx, d, "number(iotune/total_bytes_sec)"),
            .iops = xpath_u64(ctx, d, "number(iotune/total_iops_sec)"),
        };
        xmlXPathFreeObject(t);
        g_array_append_val(out, l);
    }
    xmlXPathFreeObject(disks);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return out;
}

static int apply_io(struct vm *vm, const struct settings *s)
{
    if (s->has_io && s->has_iops)
        return vm_set_io_limit(vm, s->disk, s->io, s->iops);
    GArray *cur = current_disk_limits(vm);
    if (!cur)
        return -1;
    int rc = 0;
    bool any = false;
    for (guint i = 0; i < cur->len && rc == 0; i++) {
        struct disk_limits *l = &g_array_index(cur, struct disk_limits, i);
        if (!*l->target || (s->disk && strcmp(s->disk, l->target) != 0))
            continue;
        any = true;
        rc = vm_set_io_limit(vm, l->target, s->has_io ? s->io : l->bytes,
                             s->has_iops ? s->iops : l->iops);
    }
    for (guint i = 0; i < cur->len; i++)
        g_free(g_array_index(cur, struct disk_limits, i).target);
    g_array_free(cur, TRUE);
    /* No matching disk: let libqv say so in its words. */
    if (!any)
        rc = vm_set_io_limit(vm, s->disk, s->io, s->iops);
    return rc;
}

static int apply(struct vm *vm, const struct settings *s)
{
    if (s->pin_auto && vm_set_cpu_pin_auto(vm) < 0)
        return -1;
    if (s->pin_spread && vm_set_cpu_pin_spread(vm) < 0)
        return -1;
    for (guint i = 0; i < s->pins->len; i++) {
        const struct pin *p = &g_array_index(s->pins, struct pin, i);
        if (vm_set_cpu_pin(vm, p->vcpu, p->pcpu) < 0)
            return -1;
    }
    if (s->has_weight && vm_set_cpu_weight(vm, (uint32_t)s->weight) < 0)
        return -1;
    if (s->has_cap && vm_set_cpu_cap(vm, (uint32_t)s->cap) < 0)
        return -1;
    if (s->has_vcpus && vm_set_vcpus(vm, (uint32_t)s->vcpus) < 0)
        return -1;
    if (s->has_memory && vm_set_memory(vm, s->memory) < 0)
        return -1;
    if ((s->has_io || s->has_iops) && apply_io(vm, s) < 0)
        return -1;
    if (s->has_net && vm_set_net_limit(vm, s->nic, s->net) < 0)
        return -1;
    if (s->pci_remove && cli_vm_pci(vm, s->pci_remove, false) < 0)
        return -1;
    if (s->pci_add && cli_vm_pci(vm, s->pci_add, true) < 0)
        return -1;
    return 0;
}

int cli_cmd_vm_set(struct cli *cli, int argc, char **argv)
{
    struct cli_args a = CLI_ARGS("qv vm set", set_help, NULL, argc, argv);
    struct settings s = {.pins = g_array_new(FALSE, TRUE, sizeof(struct pin))};
    char **pos = NULL;
    int rc;
    if (parse(&a, &s, &pos, &rc) < 0) {
        g_array_free(s.pins, TRUE);
        g_free(s.pci_add);
        g_free(s.pci_remove);
        return rc;
    }
    struct vm *vm = cli_lookup(cli, pos[0]);
    if (!vm) {
        g_array_free(s.pins, TRUE);
        g_free(s.pci_add);
        g_free(s.pci_remove);
        return CLI_EXIT_ERROR;
    }
    rc = apply(vm, &s) < 0 ? cli_fail() : CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK)
        printf("VM '%s' updated.\n", pos[0]);
    vm_free(vm);
    g_array_free(s.pins, TRUE);
    g_free(s.pci_add);
    g_free(s.pci_remove);
    return rc;
}
