/* The QuantaVirt JSON config: samples parse and validate, JSON->struct->JSON
 * is a fixed point, JSON->struct->XML validates against libvirt's schema,
 * XML->JSON->XML loses nothing, and errors name the JSON path. */
#include <check.h>
#include <string.h>

#include "conf_helpers.h"
#include "lib/util/error.h"

static struct qv_domain *parse_ok(const char *json, const char *what)
{
    qv_reset_error();
    struct qv_domain *d = qv_domain_parse_json(json);
    ck_assert_msg(d != NULL, "%s: %s", what, qv_last_error()->message);
    return d;
}

START_TEST(samples_roundtrip)
{
    g_autoptr(GPtrArray) files = conf_list_data("json", ".json");
    ck_assert_uint_ge(files->len, 3);
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *json = NULL;
        ck_assert(g_file_get_contents(path, &json, NULL, NULL));
        g_autoptr(qv_domain) d = parse_ok(json, path);
        qv_domain_fill_defaults(d);
        ck_assert_msg(qv_domain_validate(d) == 0, "%s: %s", path, qv_last_error()->message);
        /* JSON -> struct -> JSON -> struct -> JSON is a fixed point. */
        g_autofree char *j1 = qv_domain_format_json(d);
        g_autoptr(qv_domain) d2 = parse_ok(j1, "formatted JSON");
        g_autofree char *j2 = qv_domain_format_json(d2);
        ck_assert_msg(strcmp(j1, j2) == 0, "%s: not a fixed point:\n%s---\n%s", path, j1, j2);
        /* JSON -> struct -> XML validates and round-trips. */
        g_autofree char *why = conf_check_roundtrip(d);
        ck_assert_msg(why == NULL, "%s: %s", path, why);
        /* Both routes describe the same VM. */
        g_autofree char *x1 = qv_domain_format_xml(d);
        g_autofree char *x2 = qv_domain_format_xml(d2);
        ck_assert_str_eq(x1, x2);
    }
}
END_TEST

/* Every XML sample survives a trip through the JSON config unchanged. */
START_TEST(xml_through_json)
{
    g_autoptr(GPtrArray) files = conf_list_data("xml", ".xml");
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *xml = NULL;
        ck_assert(g_file_get_contents(path, &xml, NULL, NULL));
        g_autoptr(qv_domain) d = qv_domain_parse_xml(xml);
        ck_assert_msg(d != NULL, "%s: %s", path, qv_last_error()->message);
        g_autofree char *json = qv_domain_format_json(d);
        g_autoptr(qv_domain) back = parse_ok(json, path);
        g_autofree char *x1 = qv_domain_format_xml(d);
        g_autofree char *x2 = qv_domain_format_xml(back);
        ck_assert_msg(strcmp(x1, x2) == 0, "%s changed via JSON:\n%s\n%s---\n%s", path, json, x1,
                      x2);
    }
}
END_TEST

START_TEST(web_sample_values)
{
    g_autofree char *json = conf_read_data("json/web.json");
    g_autoptr(qv_domain) d = parse_ok(json, "web.json");
    ck_assert_str_eq(d->name, "web01");
    ck_assert_uint_eq(d->vcpus, 2);
    ck_assert_uint_eq(d->max_vcpus, 2);
    ck_assert_uint_eq(d->memory_kib, 2 * 1024 * 1024);
    ck_assert_uint_eq(d->cpu.cores, 2);
    ck_assert_int_eq(d->numa_node, 0);
    ck_assert_uint_eq(d->cputune.pins->len, 2);
    const struct qv_vcpupin *p = &g_array_index(d->cputune.pins, struct qv_vcpupin, 1);
    ck_assert_uint_eq(p->vcpu, 1);
    ck_assert_int_eq(p->pcpu, 5);
    ck_assert_uint_eq(d->cputune.shares, 512);
    ck_assert_uint_eq(d->cputune.cap, 50);
    ck_assert_str_eq(d->os.cmdline, "console=ttyS0 root=/dev/vda");
    struct qv_disk *k = g_ptr_array_index(d->disks, 0);
    ck_assert_uint_eq(k->total_bytes_sec, 52428800);
    ck_assert_uint_eq(k->total_iops_sec, 1000);
    struct qv_net *n = g_ptr_array_index(d->nets, 0);
    /* 100 Mbit/s = 12207.03 KiB/s, rounded up. */
    ck_assert_uint_eq(n->inbound_kbps, 12208);
    ck_assert_uint_eq(n->outbound_kbps, 6104);
    n = g_ptr_array_index(d->nets, 1);
    ck_assert_uint_eq(n->host_port, 2222);
    ck_assert_str_eq(n->mac, "");
    struct qv_hostdev *h = g_ptr_array_index(d->hostdevs, 0);
    ck_assert_uint_eq(h->bus, 3);
    ck_assert_str_eq(h->driver, "vfio");
    ck_assert(h->managed);
    /* A pinning list pins vCPU i to element i. */
    g_autofree char *full = conf_read_data("json/full.json");
    g_autoptr(qv_domain) f = parse_ok(full, "full.json");
    ck_assert_uint_eq(f->cputune.pins->len, 3);
    ck_assert_str_eq(g_array_index(f->cputune.pins, struct qv_vcpupin, 2).cpuset, "^0,4");
    ck_assert_uint_eq(g_array_index(f->cputune.pins, struct qv_vcpupin, 2).vcpu, 2);
    ck_assert(!f->apic && f->acpi);
    ck_assert_uint_eq(f->current_memory_kib, 3u * 1024 * 1024);
}
END_TEST

static uint64_t mem_kib(const char *value)
{
    g_autofree char *json = g_strdup_printf("{\"name\":\"m\",\"vcpus\":1,\"memory\":%s}", value);
    g_autoptr(qv_domain) d = parse_ok(json, value);
    return d->memory_kib;
}

START_TEST(memory_sizes)
{
    ck_assert_uint_eq(mem_kib("1048576"), 1024);
    ck_assert_uint_eq(mem_kib("1025"), 2); /* bytes round up to whole KiB */
    ck_assert_uint_eq(mem_kib("\"512M\""), 512 * 1024);
    ck_assert_uint_eq(mem_kib("\"2G\""), 2 * 1024 * 1024);
    ck_assert_uint_eq(mem_kib("\"2GiB\""), 2 * 1024 * 1024);
    ck_assert_uint_eq(mem_kib("\"1GB\""), 976563);
    ck_assert_uint_eq(mem_kib("\"64k\""), 64);
    ck_assert_uint_eq(mem_kib("\"4096\""), 4);
    ck_assert_uint_eq(mem_kib("\"1T\""), G_GUINT64_CONSTANT(1) << 30);
}
END_TEST

struct bad_json {
    const char *json;
    const char *message; /* exact prefix */
};

#define BASE "\"name\":\"v\",\"vcpus\":1,\"memory\":\"64M\""

static const struct bad_json bad_cases[] = {
    {"{\"vcpus\":1,\"memory\":1024}", "$.name: is required"},
    {"{\"name\":5,\"vcpus\":1,\"memory\":1024}", "$.name: expected a string, got a number"},
    {"{" BASE ",\"colour\":\"red\"}", "$: unknown key \"colour\""},
    {"{\"name\":\"v\",\"vcpus\":-2,\"memory\":1024}", "$.vcpus: -2 is negative"},
    {"{\"name\":\"v\",\"vcpus\":1.5,\"memory\":1024}",
     "$.vcpus: expected a whole number, got a fractional or out-of-range number"},
    {"{\"name\":\"v\",\"vcpus\":70000,\"memory\":1024}",
     "$.vcpus: 70000 is more than the maximum 65535"},
    {"{\"name\":\"v\",\"vcpus\":1,\"memory\":\"12Q\"}", "$.memory: \"12Q\" is not a size"},
    {"{\"name\":\"v\",\"vcpus\":1,\"memory\":\"99999999999999999999\"}",
     "$.memory: \"99999999999999999999\" is not a size"},
    {"{\"name\":\"v\",\"vcpus\":1,\"memory\":\"20000000E\"}", "$.memory: \"20000000E\" is not"},
    {"{\"name\":\"v\",\"vcpus\":1,\"memory\":-1}", "$.memory: -1 is negative"},
    {"{\"name\":\"v\",\"vcpus\":1,\"memory\":99999999999999999999}",
     "JSON config line 1, column 32: integer 99999999999999999999 is out of range (more than 64 "
     "bits)"},
    /* 2^64 is out of range, not "-1 is negative" (json-glib wraps it). */
    {"{\"name\":\"v\",\"vcpus\":1,\"memory\":18446744073709551616}",
     "JSON config line 1, column 32: integer 18446744073709551616 is out of range"},
    {"{\"name\":\"v\",\"vcpus\":1,\"memory\":-9223372036854775809}",
     "JSON config line 1, column 32: integer -9223372036854775809 is out of range"},
    {"{\"name\":\"a\\u0000b\",\"vcpus\":1,\"memory\":1024}",
     "JSON config line 1, column 11: \\u0000 (a NUL character) is not allowed in a string"},
    {"{" BASE "} {}",
     "JSON config line 1, column 39: unexpected '{' after the end of the JSON value"},
    {"{" BASE "}\n// fine\n/* fine */ x",
     "JSON config line 3, column 12: unexpected 'x' after the end of the JSON value"},
    {"{\"name\":\"v\",\"vcpus\":1}", "$.memory: is required"},
    {"{" BASE ",\"devices\":{\"disks\":[{\"path\":\"/a\",\"target\":\"vda\"},{\"path\":7,"
     "\"target\":\"vdb\"}]}}",
     "$.devices.disks[1].path: expected a string, got a number"},
    {"{" BASE ",\"devices\":{\"disks\":[{\"path\":\"rel.img\",\"target\":\"vda\"}]}}",
     "$.devices.disks[0].path: \"rel.img\" must be an absolute path"},
    {"{" BASE ",\"devices\":{\"disks\":[{\"path\":\"/a.img\"}]}}",
     "$.devices.disks[0].target: is required"},
    {"{" BASE ",\"devices\":{\"disks\":[{\"path\":\"/a\",\"target\":\"vda\",\"bus\":\"scsi2\"}]}}",
     "$.devices.disks[0].bus: unsupported value \"scsi2\" (expected virtio, scsi, ide or sata)"},
    {"{" BASE ",\"devices\":{\"disks\":[{\"path\":\"/a\",\"target\":\"vda\",\"size\":1}]}}",
     "$.devices.disks[0]: unknown key \"size\""},
    {"{" BASE ",\"devices\":{\"disks\":{}}}", "$.devices.disks: expected an array, got an object"},
    {"{" BASE ",\"devices\":{\"disks\":[3]}}", "$.devices.disks[0]: expected an object"},
    {"{" BASE ",\"devices\":{\"nics\":[{\"type\":\"bridge\"}]}}",
     "$.devices.nics[0].source: is required for a bridge NIC"},
    {"{" BASE ",\"devices\":{\"nics\":[{\"mac\":\"01:00:5e:00:00:01\"}]}}",
     "$.devices.nics[0].mac: \"01:00:5e:00:00:01\" is not a unicast MAC"},
    {"{" BASE ",\"devices\":{\"nics\":[{\"inbound_bits_per_sec\":0}]}}",
     "$.devices.nics[0].inbound_bits_per_sec: must be at least 1"},
    {"{" BASE ",\"devices\":{\"pci_passthrough\":[{\"bdf\":\"0000:03:00.0\",\"type\":\"uio\"}]}}",
     "$.devices.pci_passthrough[0].type: unsupported value \"uio\" (expected vfio, gpu or nic)"},
    {"{" BASE ",\"devices\":{\"pci_passthrough\":[{\"bdf\":\"0000:03:20.0\"}]}}",
     "$.devices.pci_passthrough[0].bdf: \"0000:03:20.0\" is not a PCI address"},
    {"{" BASE ",\"devices\":{\"pci_passthrough\":[{\"bdf\":\"zz\"}]}}",
     "$.devices.pci_passthrough[0].bdf: \"zz\" is not a PCI address"},
    {"{" BASE ",\"cpu\":{\"topology\":{\"cores\":0}}}", "$.cpu.topology.cores: must be at least 1"},
    {"{" BASE ",\"cpu\":{\"topology\":{\"sockets\":\"2\"}}}",
     "$.cpu.topology.sockets: expected a whole number, got a string"},
    {"{" BASE ",\"cpu\":{\"pinning\":{\"x\":1}}}",
     "$.cpu.pinning: key \"x\" must be a vCPU number"},
    {"{" BASE ",\"cpu\":{\"pinning\":{\"0\":-4}}}", "$.cpu.pinning.0: -4 is negative"},
    {"{" BASE ",\"cpu\":{\"pinning\":[1,\"a-b\"]}}", "$.cpu.pinning[1]: \"a-b\" must be a list"},
    {"{" BASE ",\"cpu\":{\"pinning\":7}}", "$.cpu.pinning: expected an object"},
    {"{" BASE ",\"cpu\":{\"weight\":0}}", "$.cpu.weight: 0 is out of range (1-65535)"},
    {"{" BASE ",\"cpu\":{\"weight\":65536}}", "$.cpu.weight: 65536 is out of range (1-65535)"},
    {"{" BASE ",\"cpu\":{\"cap\":101}}", "$.cpu.cap: 101 is out of range (0-100)"},
    {"{" BASE ",\"cpu\":{\"mode\":\"custom\"}}", "$.cpu.mode: \"custom\" needs a \"model\""},
    {"{" BASE ",\"boot\":{\"order\":[\"hd\",\"floppy\"]}}",
     "$.boot.order[1]: expected a boot device"},
    {"{" BASE ",\"boot\":{\"firmware\":{\"readonly\":true}}}",
     "$.boot.firmware.loader: is required"},
    {"{" BASE ",\"boot\":{\"kernel\":\"/k\",\"cmdline\":\"a\\u0001b\"}}",
     "$.boot.cmdline: \"a\x01"
     "b\" contains a control character"},
    {"{" BASE ",\"lifecycle\":{\"on_crash\":\"explode\"}}",
     "$.lifecycle.on_crash: unsupported value \"explode\""},
    {"{" BASE ",\"devices\":{\"serials\":[{\"type\":\"tcp\",\"host\":\"h\"}]}}",
     "$.devices.serials[0].service: is required for a tcp device"},
    {"{" BASE ",\"devices\":{\"graphics\":[{\"port\":0}]}}",
     "$.devices.graphics[0].port: must be -1 (pick one) or from 1 to 65535"},
    {"{" BASE ",\"clock\":{\"timers\":[]}}", "$.clock.offset: is required"},
    {"{" BASE ",\"clock\":{\"offset\":\"utc\",\"timers\":[{\"name\":\"hpet\",\"present\":1}]}}",
     "$.clock.timers[0].present: expected true or false"},
    {"{" BASE ",\"clock\":{\"offset\":\"utc\",\"timers\":[{\"name\":\"pit\"},{\"name\":\"pit\"}]}}",
     "$.clock.timers[1].name: timer 'pit' is given twice"},
    {"{" BASE ",\"boot\":{\"os_type\":\"exe\"}}",
     "$.boot.os_type: \"exe\" is for foreign domain types (lxc, xen, ...); type \"kvm\" runs hvm "
     "guests"},
    {"{" BASE ",\"clock\":{\"offset\":\"utc\",\"basis\":\"utc\"}}",
     "$.clock: basis= goes with offset='variable'"},
    {"{" BASE ",\"clock\":{\"offset\":\"absolute\"}}",
     "$.clock.start: is required with \"offset\": \"absolute\""},
    {"{" BASE ",\"clock\":{\"offset\":\"utc\",\"timers\":[{\"name\":\"hpet\",\"frequency\":5}]}}",
     "$.clock.timers[0]: frequency= and mode= go with the tsc timer"},
    {"{" BASE ",\"cpu\":{\"features\":[{\"name\":\"vmx\"}]}}",
     "$.cpu.features[0].policy: is required"},
    {"{" BASE ",\"cpu\":{\"fallback\":\"allow\"}}", "$.cpu.fallback: belongs to a \"model\""},
    {"{" BASE ",\"cpu\":{\"vendor_id\":\"GenuineIntel\"}}",
     "$.cpu.vendor_id: belongs to a \"model\""},
    {"{" BASE ",\"cpu\":{\"model\":\"qemu64\",\"vendor_id\":\"Intel\"}}",
     "$.cpu.vendor_id: \"Intel\" must be 12 characters (e.g. GenuineIntel)"},
    {"{" BASE ",\"cpu\":{\"mode\":\"minimum\"}}",
     "$.cpu.mode: unsupported value \"minimum\" (expected host-passthrough, host-model, custom or "
     "maximum)"},
    {"{" BASE ",\"vcpu_placement\":\"dynamic\"}",
     "$.vcpu_placement: unsupported value \"dynamic\" (expected static or auto)"},
    {"{" BASE ",\"metadata\":\"<a>\"}", "$.metadata: "},
    {"[1,2]", "$: expected an object, got an array"},
    {"{\"name\":", "JSON config line 1, column 9: unexpected end: the '{' on line 1, column 1 is "
                   "not closed"},
    {"", "JSON config is empty (no JSON value)"},
    {"/* nothing */", "JSON config is empty (no JSON value)"},
};

START_TEST(bad_json_names_path)
{
    const struct bad_json *c = &bad_cases[_i];
    qv_reset_error();
    struct qv_domain *d = qv_domain_parse_json(c->json);
    ck_assert_msg(d == NULL, "accepted: %s", c->json);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_JSON);
    ck_assert_msg(g_str_has_prefix(qv_last_error()->message, c->message),
                  "case %d: expected \"%s...\", got \"%s\"", _i, c->message,
                  qv_last_error()->message);
}
END_TEST

START_TEST(hostile_json)
{
    /* 10,000 levels of nesting are refused before json-glib recurses. */
    GString *deep = g_string_new("{\"name\":");
    for (int i = 0; i < 10000; i++)
        g_string_append_c(deep, '[');
    for (int i = 0; i < 10000; i++)
        g_string_append_c(deep, ']');
    g_string_append_c(deep, '}');
    qv_reset_error();
    ck_assert(qv_domain_parse_json(deep->str) == NULL);
    ck_assert_str_eq(qv_last_error()->message,
                     "JSON config line 1, column 72: nesting deeper than 64 levels");
    g_string_free(deep, TRUE);
    /* Brackets inside strings are not nesting. */
    GString *s = g_string_new("{\"name\":\"v\",\"vcpus\":1,\"memory\":1024,\"title\":\"");
    for (int i = 0; i < 200; i++)
        g_string_append(s, "[{");
    g_string_append(s, "\"}");
    g_autoptr(qv_domain) d = qv_domain_parse_json(s->str);
    ck_assert_msg(d != NULL, "%s", qv_last_error()->message);
    g_string_free(s, TRUE);
    /* Oversized. */
    gsize big = 5u * 1024 * 1024;
    char *huge = g_malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big] = '\0';
    ck_assert(qv_domain_parse_json(huge) == NULL);
    ck_assert(strstr(qv_last_error()->message, "larger than the limit"));
    g_free(huge);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conf_json");
    TCase *t = tcase_create("json");
    tcase_add_test(t, samples_roundtrip);
    tcase_add_test(t, xml_through_json);
    tcase_add_test(t, web_sample_values);
    tcase_add_test(t, memory_sizes);
    tcase_add_loop_test(t, bad_json_names_path, 0, G_N_ELEMENTS(bad_cases));
    tcase_add_test(t, hostile_json);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
