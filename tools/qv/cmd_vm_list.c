/* vm list: a table or a JSON array. */
#include <glib.h>
#include <json-glib/json-glib.h>

#include "cli.h"

static const char list_help[] =
    "Usage: qv vm list [--all] [--json]\n"
    "\n"
    "List VMs. Without --all only running and paused VMs are shown.\n"
    "The table has the columns NAME STATE VCPUS MEMORY UUID; --json prints an\n"
    "array of objects with the keys name, uuid, state, reason, vcpus,\n"
    "max_vcpus, memory and max_memory (bytes) and exit_status (-1 when none).\n"
    "\n"
    "A VM whose files cannot be read (a damaged state or definition) is always\n"
    "listed, with the state 'damaged' and the reason below the table (in JSON:\n"
    "only name, state \"damaged\" and error); 'qv vm destroy NAME' removes it.\n"
    "\n"
    "Options:\n"
    "  --all       include created and stopped VMs\n"
    "  --json      print JSON instead of a table\n"
    "  -h, --help  print this help and exit\n";

enum { OPT_ALL = 256, OPT_JSON };

struct entry {
    char *name;
    char *damage; /* why its state or definition cannot be read; NULL if fine */
    struct vm_info info;
};

static void add_json(JsonBuilder *b, const struct entry *e)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, e->name);
    if (e->damage) {
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, "damaged");
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, e->damage);
        json_builder_end_object(b);
        return;
    }
    json_builder_set_member_name(b, "uuid");
    json_builder_add_string_value(b, e->info.uuid);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, vm_state_name(e->info.state));
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, vm_state_reason_name(e->info.reason));
    json_builder_set_member_name(b, "vcpus");
    json_builder_add_int_value(b, e->info.vcpus);
    json_builder_set_member_name(b, "max_vcpus");
    json_builder_add_int_value(b, e->info.max_vcpus);
    json_builder_set_member_name(b, "memory");
    json_builder_add_int_value(b, (gint64)e->info.memory);
    json_builder_set_member_name(b, "max_memory");
    json_builder_add_int_value(b, (gint64)e->info.max_memory);
    json_builder_set_member_name(b, "exit_status");
    json_builder_add_int_value(b, e->info.exit_status);
    json_builder_end_object(b);
}

static void print_json(GArray *entries)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < entries->len; i++)
        add_json(b, &g_array_index(entries, struct entry, i));
    json_builder_end_array(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, root);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    puts(text);
}

static void print_table(GArray *entries)
{
    static const char *const headers[] = {"NAME", "STATE", "VCPUS", "MEMORY", "UUID", NULL};
    struct cli_table *t = cli_table_new(headers);
    for (guint i = 0; i < entries->len; i++) {
        const struct entry *e = &g_array_index(entries, struct entry, i);
        char vcpus[16], mem[32];
        snprintf(vcpus, sizeof(vcpus), "%u", e->info.vcpus);
        cli_format_size(e->info.memory, mem, sizeof(mem));
        const char *cells[] = {e->name, vm_state_name(e->info.state), vcpus, mem, e->info.uuid};
        const char *damaged[] = {e->name, "damaged", "-", "-", "-"};
        cli_table_add(t, e->damage ? damaged : cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    bool header = false;
    for (guint i = 0; i < entries->len; i++) {
        const struct entry *e = &g_array_index(entries, struct entry, i);
        if (!e->damage)
            continue;
        if (!header)
            printf("\nDamaged VMs ('qv vm destroy NAME' removes one):\n");
        header = true;
        printf("  %s: %s\n", e->name, e->damage);
    }
}

static void entry_clear(void *p)
{
    g_free(((struct entry *)p)->name);
    g_free(((struct entry *)p)->damage);
}

int cli_cmd_vm_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, OPT_ALL},
        {"json", no_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0},
    };
    struct cli_args a = CLI_ARGS("qv vm list", list_help, opts, argc, argv);
    bool all = false, json = false;
    int c;
    while ((c = cli_getopt(&a)) > 0) {
        if (c == OPT_ALL)
            all = true;
        else if (c == OPT_JSON)
            json = true;
    }
    if (c < 0)
        return a.exit_code;
    if (cli_positionals(&a, 0, 0, NULL, NULL) < 0)
        return CLI_EXIT_USAGE;
    struct qv_conn *conn = cli_conn(cli);
    if (!conn)
        return CLI_EXIT_ERROR;
    char **names = NULL;
    if (vm_list(conn, &names, NULL) < 0)
        return cli_fail();
    g_autoptr(GArray) entries = g_array_new(FALSE, TRUE, sizeof(struct entry));
    g_array_set_clear_func(entries, entry_clear);
    int rc = CLI_EXIT_OK;
    for (char **n = names; *n && rc == CLI_EXIT_OK; n++) {
        struct entry e = {0};
        struct vm *vm = vm_lookup(conn, *n);
        int got = vm ? vm_get_info(vm, &e.info) : -1;
        int code = qv_last_error()->code;
        if (got < 0 && (code == QV_ERR_NOT_FOUND || code == QV_ERR_INVALID_STATE)) {
            /* Destroyed by someone else since vm_list. */
        } else if (got < 0 && (code == QV_ERR_JSON || code == QV_ERR_XML || code == QV_ERR_IO)) {
            /* One damaged VM must not hide the others. */
            e.name = g_strdup(*n);
            e.damage = g_strdup(qv_last_error()->message);
            g_array_append_val(entries, e);
        } else if (got < 0) {
            rc = cli_fail();
        } else if (all || e.info.state == VM_STATE_RUNNING || e.info.state == VM_STATE_PAUSED) {
            e.name = g_strdup(*n);
            g_array_append_val(entries, e);
        }
        vm_free(vm);
    }
    qv_strv_free(names);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (json)
        print_json(entries);
    else
        print_table(entries);
    return CLI_EXIT_OK;
}
