/* vm stats: vm_get_stats() as `virsh domstats` prints it, or as JSON. */
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "cli.h"

static const char stats_help[] =
    "Usage: qv vm stats NAME [--json]\n"
    "\n"
    "Print a VM's statistics under the keys `virsh domstats` uses, one\n"
    "key=value line each: state.state, state.reason, cpu.time, cpu.user,\n"
    "cpu.system (ns), balloon.current, balloon.maximum, balloon.rss (KiB),\n"
    "vcpu.current, vcpu.maximum, vcpu.N.state, vcpu.N.time (ns), net.count,\n"
    "net.N.name, net.N.rx.bytes/rx.pkts/tx.bytes/tx.pkts, block.count,\n"
    "block.N.name, block.N.path, block.N.rd.reqs/rd.bytes/wr.reqs/wr.bytes.\n"
    "A key is left out when the driver cannot know its value; a VM that does\n"
    "not run has its state and the definition's sizes only.\n"
    "\n"
    "Options:\n"
    "  --json      print {\"name\": NAME, \"stats\": {KEY: VALUE, ...}}\n"
    "  -h, --help  print this help and exit\n";

enum { OPT_JSON = 256 };

static void print_text(struct vm *vm, const struct vm_stat *s, size_t n)
{
    printf("Domain: '%s'\n", vm_get_name(vm));
    for (size_t i = 0; i < n; i++) {
        if (s[i].type == VM_STAT_STRING)
            printf("  %s=%s\n", s[i].key, s[i].string_value);
        else
            printf("  %s=%" PRIu64 "\n", s[i].key, s[i].uint_value);
    }
    printf("\n");
}

static void print_json(struct vm *vm, const struct vm_stat *s, size_t n)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, vm_get_name(vm));
    json_builder_set_member_name(b, "stats");
    json_builder_begin_object(b);
    for (size_t i = 0; i < n; i++) {
        json_builder_set_member_name(b, s[i].key);
        if (s[i].type == VM_STAT_STRING)
            json_builder_add_string_value(b, s[i].string_value);
        else
            json_builder_add_int_value(b, (gint64)MIN(s[i].uint_value, (uint64_t)G_MAXINT64));
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, root);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
}

int cli_cmd_vm_stats(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm stats", stats_help, opts, argc, argv);
    bool json = false;
    int c;
    while ((c = cli_getopt(&a)) > 0)
        json = true;
    if (c < 0)
        return a.exit_code;
    int rc;
    struct vm *vm = cli_vm_arg(cli, &a, &rc);
    if (!vm)
        return rc;
    struct vm_stat *s = NULL;
    size_t n = 0;
    if (vm_get_stats(vm, &s, &n) < 0) {
        rc = cli_fail();
    } else {
        if (json)
            print_json(vm, s, n);
        else
            print_text(vm, s, n);
        vm_stats_free(s, n);
        rc = CLI_EXIT_OK;
    }
    vm_free(vm);
    return rc;
}
