/* vm show: a summary, the XML or JSON definition, or the CPU pinning. */
#include <dirent.h>
#include <glib.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char show_help[] =
    "Usage: qv vm show NAME [--xml | --json | --cpu-pin]\n"
    "\n"
    "Show a VM. Without options prints a summary: name, UUID, state (and why\n"
    "it is in it), vCPUs, memory, the guest's exit status once it has stopped,\n"
    "CPU weight and cap, the numbers of disks, NICs and snapshots. On a running\n"
    "VM it adds what is in force, read back from the VM rather than its\n"
    "definition: each vCPU thread's CPUs, each disk's I/O limits, each tap\n"
    "NIC's bandwidth limits (tc), the memory the guest has through its\n"
    "balloon, the CPU limit files of its cgroup.\n"
    "\n"
    "Options:\n"
    "  --xml       print the definition as libvirt domain XML\n"
    "  --json      print the definition as a QuantaVirt JSON config\n"
    "  --cpu-pin   print one line per vCPU: 'vCPU 0 → pCPU 4 (NUMA node 0)',\n"
    "              or 'vCPU 1 → any' when it is not pinned; on a running VM\n"
    "              followed by '; in force: CPUs 0-3', the CPUs its thread may\n"
    "              run on now\n"
    "  -h, --help  print this help and exit\n";

enum { OPT_XML = 256, OPT_JSON, OPT_CPU_PIN };

/* The NUMA node of host CPU cpu from sysfs (a cpuN/nodeM entry), or -1. */
static int numa_node_of(int cpu)
{
    g_autofree char *path = g_strdup_printf("/sys/devices/system/cpu/cpu%d", cpu);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int node = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "node", 4) != 0 || !g_ascii_isdigit(e->d_name[4]))
            continue;
        char *end;
        long v = strtol(e->d_name + 4, &end, 10);
        if (*end == 0 && v >= 0 && v < 1 << 16) {
            node = (int)v;
            break;
        }
    }
    closedir(d);
    return node;
}

/* What vm_get_live_settings() reads back from a running VM, or NULL when
 * the VM does not run or the driver cannot say (then *why says why, for a
 * failure worth showing). */
static GHashTable *live_settings(struct vm *vm, const struct vm_info *info, char **why)
{
    *why = NULL;
    if (info->state != VM_STATE_RUNNING && info->state != VM_STATE_PAUSED)
        return NULL;
    struct vm_stat *s = NULL;
    size_t n = 0;
    if (vm_get_live_settings(vm, &s, &n) < 0) {
        if (qv_last_error()->code != QV_ERR_UNSUPPORTED)
            *why = g_strdup(qv_last_error()->message);
        return NULL;
    }
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (size_t i = 0; i < n; i++)
        g_hash_table_insert(t, g_strdup(s[i].key),
                            s[i].type == VM_STAT_STRING
                                ? g_strdup(s[i].string_value)
                                : g_strdup_printf("%" PRIu64, s[i].uint_value));
    vm_stats_free(s, n);
    return t;
}

static const char *live_get(GHashTable *live, const char *fmt, unsigned i)
{
    g_autofree char *key = g_strdup_printf(fmt, i);
    return g_hash_table_lookup(live, key);
}

static void show_live(GHashTable *live)
{
    printf("In force (read back from the running VM):\n");
    const char *v;
    for (unsigned i = 0; (v = live_get(live, "vcpu.%u.cpus", i)); i++)
        printf("  vCPU %u:%*sCPUs %s\n", i, i < 10 ? 7 : 6, "", v);
    for (unsigned i = 0; (v = live_get(live, "block.%u.name", i)); i++) {
        const char *bps = live_get(live, "block.%u.bytes_sec", i);
        const char *iops = live_get(live, "block.%u.iops_sec", i);
        g_autofree char *label = g_strdup_printf("Disk %s:", v);
        if (!bps || !iops)
            printf("  %-13s no medium\n", label);
        else
            printf("  %-13s bytes/s %s, IOPS %s\n", label, strcmp(bps, "0") ? bps : "unlimited",
                   strcmp(iops, "0") ? iops : "unlimited");
    }
    if ((v = g_hash_table_lookup(live, "vnc.address")))
        printf("  %-13s %s\n", "VNC:", v);
    if ((v = g_hash_table_lookup(live, "spice.address")))
        printf("  %-13s %s\n", "SPICE:", v);
    for (unsigned i = 0; i < 4096; i++) {
        const char *mac = live_get(live, "net.%u.mac", i);
        const char *in = live_get(live, "net.%u.inbound_bytes_sec", i);
        const char *out = live_get(live, "net.%u.outbound_bytes_sec", i);
        if (!mac || !in || !out)
            continue;
        printf("  NIC %s: in %s%s, out %s%s (tc on %s)\n", mac, strcmp(in, "0") ? in : "unlimited",
               strcmp(in, "0") ? " bytes/s" : "", strcmp(out, "0") ? out : "unlimited",
               strcmp(out, "0") ? " bytes/s" : "", live_get(live, "net.%u.tap", i));
    }
    for (unsigned i = 0; (v = live_get(live, "virtiofs.%u.tag", i)); i++) {
        g_autofree char *label = g_strdup_printf("virtiofs %s:", v);
        const char *d = live_get(live, "virtiofs.%u.virtiofsd", i);
        printf("  %-13s %s\n", label,
               d && strcmp(d, "running") == 0
                   ? "virtiofsd running"
                   : "virtiofsd is NOT running: the guest's mount fails until the VM restarts");
    }
    if ((v = g_hash_table_lookup(live, "balloon.current")))
        printf("  %-13s %s KiB (balloon)\n", "Memory:", v);
    const char *cg = g_hash_table_lookup(live, "cgroup.path");
    if (!cg)
        return;
    printf("  %-13s %s\n", "cgroup:", cg);
    static const char *const files[] = {"cpu.weight", "cpu.max", "cpu.shares", "cpu.cfs_quota_us",
                                        "cpu.cfs_period_us"};
    for (size_t k = 0; k < G_N_ELEMENTS(files); k++) {
        g_autofree char *key = g_strdup_printf("cgroup.%s", files[k]);
        if ((v = g_hash_table_lookup(live, key)))
            printf("    %s: %s\n", files[k], v);
    }
}

static int show_cpu_pin(struct vm *vm)
{
    struct vm_info info;
    if (vm_get_info(vm, &info) < 0)
        return cli_fail();
    g_autofree char *why = NULL;
    g_autoptr(GHashTable) live = live_settings(vm, &info, &why);
    for (uint32_t i = 0; i < info.max_vcpus; i++) {
        int pcpu;
        if (vm_get_cpu_pin(vm, i, &pcpu) < 0)
            return cli_fail();
        const char *offline = i >= info.vcpus ? " (offline)" : "";
        const char *now = live ? live_get(live, "vcpu.%u.cpus", i) : NULL;
        g_autofree char *in_force = now ? g_strdup_printf("; in force: CPUs %s", now) : NULL;
        const char *tail = in_force ? in_force : "";
        if (pcpu < 0) {
            printf("vCPU %u → any%s%s\n", i, offline, tail);
            continue;
        }
        int node = numa_node_of(pcpu);
        g_autofree char *cpudir = g_strdup_printf("/sys/devices/system/cpu/cpu%d", pcpu);
        if (node >= 0)
            printf("vCPU %u → pCPU %d (NUMA node %d)%s%s\n", i, pcpu, node, offline, tail);
        else if (!g_file_test(cpudir, G_FILE_TEST_IS_DIR))
            printf("vCPU %u → pCPU %d (not present on this host)%s%s\n", i, pcpu, offline, tail);
        else
            printf("vCPU %u → pCPU %d%s%s\n", i, pcpu, offline, tail);
    }
    if (why)
        printf("In force: cannot be read back (%s)\n", why);
    return CLI_EXIT_OK;
}

/* Settings the summary shows that vm_get_info() does not carry, read from
 * the definition's libvirt XML (the public format). */
struct facts {
    double shares, period, quota, disks, nics, custom_argv;
};

static double xpath_number(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    double v = o && o->type == XPATH_NUMBER && !isnan(o->floatval) ? o->floatval : 0;
    xmlXPathFreeObject(o);
    return v;
}

static bool read_facts(struct vm *vm, struct facts *f)
{
    char *xml = vm_get_xml(vm);
    if (!xml)
        return false;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    qv_free(xml);
    if (!doc)
        return false;
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    f->shares = xpath_number(ctx, "number(/domain/cputune/shares)");
    f->period = xpath_number(ctx, "number(/domain/cputune/period)");
    f->quota = xpath_number(ctx, "number(/domain/cputune/quota)");
    f->disks = xpath_number(ctx, "count(/domain/devices/disk)");
    f->nics = xpath_number(ctx, "count(/domain/devices/interface)");
    f->custom_argv = xpath_number(ctx, "count(/domain/*[local-name()='commandline' and "
                                       "namespace-uri()='http://libvirt.org/schemas/domain/qemu/"
                                       "1.0'])");
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return true;
}

static void show_facts(struct vm *vm)
{
    struct facts f = {0};
    /* Drivers that cannot format XML simply get a shorter summary. */
    if (!read_facts(vm, &f))
        return;
    if (f.shares > 0)
        printf("CPU weight:   %.0f\n", f.shares);
    else
        printf("CPU weight:   256 (default)\n");
    if (f.quota > 0 && f.period > 0)
        printf("CPU cap:      %.0f%%\n", f.quota * 100.0 / f.period);
    else
        printf("CPU cap:      none\n");
    printf("Disks:        %.0f\n", f.disks);
    printf("NICs:         %.0f\n", f.nics);
    /* libvirt's word for a VM whose QEMU runs arguments of the user's own. */
    if (f.custom_argv > 0)
        printf("Tainted:      custom-argv (<qemu:commandline>)\n");
}

static int show_summary(struct vm *vm)
{
    struct vm_info info;
    if (vm_get_info(vm, &info) < 0)
        return cli_fail();
    char mem[32], maxmem[32];
    cli_format_size(info.memory, mem, sizeof(mem));
    cli_format_size(info.max_memory, maxmem, sizeof(maxmem));
    printf("Name:         %s\n", vm_get_name(vm));
    printf("UUID:         %s\n", info.uuid);
    if (info.reason != VM_REASON_NONE)
        printf("State:        %s (%s)\n", vm_state_name(info.state),
               vm_state_reason_name(info.reason));
    else
        printf("State:        %s\n", vm_state_name(info.state));
    if (info.vcpus != info.max_vcpus)
        printf("vCPUs:        %u (maximum %u)\n", info.vcpus, info.max_vcpus);
    else
        printf("vCPUs:        %u\n", info.vcpus);
    if (info.memory != info.max_memory)
        printf("Memory:       %s (maximum %s)\n", mem, maxmem);
    else
        printf("Memory:       %s\n", mem);
    if (info.exit_status >= 0)
        printf("Exit status:  %d\n", info.exit_status);
    show_facts(vm);
    g_autofree char *why = NULL;
    g_autoptr(GHashTable) live = live_settings(vm, &info, &why);
    struct snapshot_info *snaps = NULL;
    size_t n = 0;
    /* Drivers without snapshots simply leave the line out. */
    if (snapshot_list(vm, &snaps, &n) == 0) {
        printf("Snapshots:    %zu\n", n);
        snapshot_info_free(snaps, n);
    }
    if (live)
        show_live(live);
    else if (why)
        printf("In force:     cannot be read back (%s)\n", why);
    return CLI_EXIT_OK;
}

static int show_text(struct vm *vm, char *(*get)(struct vm *))
{
    char *text = get(vm);
    if (!text)
        return cli_fail();
    size_t len = strlen(text);
    fputs(text, stdout);
    if (len == 0 || text[len - 1] != '\n')
        fputc('\n', stdout);
    qv_free(text);
    return CLI_EXIT_OK;
}

int cli_cmd_vm_show(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"xml", no_argument, NULL, OPT_XML},
        {"json", no_argument, NULL, OPT_JSON},
        {"cpu-pin", no_argument, NULL, OPT_CPU_PIN},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm show", show_help, opts, argc, argv);
    int mode = 0, c;
    while ((c = cli_getopt(&a)) > 0) {
        if (mode && mode != c)
            return cli_usage_error(&a, "--xml, --json and --cpu-pin exclude each other");
        mode = c;
    }
    if (c < 0)
        return a.exit_code;
    int rc;
    struct vm *vm = cli_vm_arg(cli, &a, &rc);
    if (!vm)
        return rc;
    switch (mode) {
    case OPT_XML: rc = show_text(vm, vm_get_xml); break;
    case OPT_JSON: rc = show_text(vm, vm_get_json); break;
    case OPT_CPU_PIN: rc = show_cpu_pin(vm); break;
    default: rc = show_summary(vm); break;
    }
    vm_free(vm);
    return rc;
}
