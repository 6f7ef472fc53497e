/* Rules shared by every input format: validation, generated identifiers,
 * settings applied to a definition, deep copies. */
#include <check.h>
#include <string.h>

#include <qv/qv.h>

#include "lib/conf/conf_check.h"
#include "lib/conf/domain.h"
#include "lib/conf/setting.h"
#include "lib/util/error.h"

static struct qv_domain *base(void)
{
    struct qv_domain *d = qv_domain_new();
    d->name = g_strdup("web01");
    d->memory_kib = 1024 * 1024;
    d->vcpus = d->max_vcpus = 4;
    return d;
}

static struct qv_disk *disk(const char *target)
{
    struct qv_disk *k = g_new0(struct qv_disk, 1);
    k->target = g_strdup(target);
    k->source = g_strdup("/var/lib/images/a.qcow2");
    return k;
}

static struct qv_net *nic(const char *mac)
{
    struct qv_net *n = g_new0(struct qv_net, 1);
    n->type = QV_NET_USER;
    if (mac)
        g_strlcpy(n->mac, mac, sizeof(n->mac));
    return n;
}

#define EXPECT_INVALID(d, needle)                                                              \
    do {                                                                                       \
        qv_reset_error();                                                                      \
        ck_assert_int_eq(qv_domain_validate(d), QV_ERR_INVALID_ARG);                           \
        ck_assert_msg(strstr(qv_last_error()->message, needle), "message lacks \"%s\": %s",   \
                      needle, qv_last_error()->message);                                       \
    } while (0)

START_TEST(test_validate)
{
    g_autoptr(qv_domain) d = base();
    ck_assert_int_eq(qv_domain_validate(d), 0);

    d->vcpus = 5;
    EXPECT_INVALID(d, "5 current vCPUs exceed the maximum of 4");
    d->vcpus = 4;
    d->cpu.sockets = 1;
    d->cpu.cores = 3;
    d->cpu.threads = 1;
    EXPECT_INVALID(d, "does not match 4 vCPUs");
    d->cpu.cores = 2;
    d->cpu.threads = 2;
    ck_assert_int_eq(qv_domain_validate(d), 0);

    d->memory_kib = 0;
    EXPECT_INVALID(d, "memory must be greater than zero");
    d->memory_kib = 1024;
    d->current_memory_kib = 2048;
    EXPECT_INVALID(d, "exceeds the maximum");
    d->current_memory_kib = 0;

    g_ptr_array_add(d->disks, disk("vda"));
    g_ptr_array_add(d->disks, disk("vda"));
    EXPECT_INVALID(d, "two disks use target device 'vda'");
    g_ptr_array_remove_index(d->disks, 1);

    g_ptr_array_add(d->nets, nic("52:54:00:00:00:01"));
    g_ptr_array_add(d->nets, nic("52:54:00:00:00:01"));
    EXPECT_INVALID(d, "two NICs use MAC 52:54:00:00:00:01");
    g_ptr_array_remove_index(d->nets, 1);
    g_ptr_array_add(d->nets, nic("01:00:5e:00:00:01"));
    EXPECT_INVALID(d, "not a unicast MAC");
    g_ptr_array_remove_index(d->nets, 1);

    struct qv_vcpupin pin = { .vcpu = 9, .pcpu = 0 };
    g_array_append_val(d->cputune.pins, pin);
    EXPECT_INVALID(d, "vCPU 9 is pinned but the VM has only 4 vCPUs");
    g_array_remove_index(d->cputune.pins, 0);

    g_strlcpy(d->uuid, "not-a-uuid", sizeof(d->uuid));
    EXPECT_INVALID(d, "not a valid UUID");
    d->uuid[0] = '\0';

    g_free(d->name);
    d->name = g_strdup("..etc");
    EXPECT_INVALID(d, "'..'");
}
END_TEST

START_TEST(test_fill_defaults)
{
    g_autoptr(qv_domain) d = base();
    for (int i = 0; i < 64; i++)
        g_ptr_array_add(d->nets, nic(NULL));
    g_ptr_array_add(d->nets, nic("52:54:00:aa:bb:cc"));
    qv_domain_fill_defaults(d);
    ck_assert(g_uuid_string_is_valid(d->uuid));
    for (guint i = 0; i < d->nets->len; i++) {
        const struct qv_net *a = g_ptr_array_index(d->nets, i);
        ck_assert_int_eq(strlen(a->mac), 17);
        unsigned first = (unsigned)g_ascii_xdigit_value(a->mac[0]) << 4 |
                         (unsigned)g_ascii_xdigit_value(a->mac[1]);
        ck_assert_msg(first & 0x02, "%s is not locally administered", a->mac);
        ck_assert_msg(!(first & 0x01), "%s is multicast", a->mac);
        for (guint j = 0; j < i; j++)
            ck_assert_str_ne(a->mac, ((struct qv_net *)g_ptr_array_index(d->nets, j))->mac);
    }
    ck_assert_str_eq(((struct qv_net *)g_ptr_array_index(d->nets, 64))->mac, "52:54:00:aa:bb:cc");
    ck_assert_int_eq(qv_domain_validate(d), 0);

    char uuid[37];
    g_strlcpy(uuid, d->uuid, sizeof(uuid));
    char mac[18];
    g_strlcpy(mac, ((struct qv_net *)g_ptr_array_index(d->nets, 64))->mac, sizeof(mac));
    qv_domain_regenerate_ids(d);
    ck_assert_str_ne(d->uuid, uuid);
    ck_assert_str_ne(((struct qv_net *)g_ptr_array_index(d->nets, 64))->mac, mac);
}
END_TEST

START_TEST(test_copy_is_deep)
{
    g_autoptr(qv_domain) d = base();
    d->os.kernel = g_strdup("/boot/vmlinuz");
    char *devs[] = { "hd", "cdrom", NULL };
    d->os.boot_devs = g_strdupv(devs);
    g_ptr_array_add(d->disks, disk("vda"));
    g_ptr_array_add(d->nets, nic("52:54:00:00:00:02"));
    struct qv_vcpupin pin = { .vcpu = 1, .pcpu = 3, .cpuset = g_strdup("3") };
    g_array_append_val(d->cputune.pins, pin);
    struct qv_chardev *ser = g_new0(struct qv_chardev, 1);
    ser->type = QV_CHR_FILE;
    ser->path = g_strdup("/tmp/console.log");
    g_ptr_array_add(d->serials, ser);

    struct qv_domain *c = qv_domain_copy(d);
    ck_assert_ptr_ne(c->name, d->name);
    ck_assert_str_eq(c->name, d->name);
    ck_assert_ptr_ne(c->disks, d->disks);
    ck_assert_ptr_ne(g_ptr_array_index(c->disks, 0), g_ptr_array_index(d->disks, 0));
    ck_assert_str_eq(((struct qv_disk *)g_ptr_array_index(c->disks, 0))->target, "vda");
    ck_assert_str_eq(((struct qv_chardev *)g_ptr_array_index(c->serials, 0))->path,
                     "/tmp/console.log");
    ck_assert_str_eq(c->os.boot_devs[1], "cdrom");
    ck_assert_str_eq(g_array_index(c->cputune.pins, struct qv_vcpupin, 0).cpuset, "3");
    ck_assert_ptr_ne(g_array_index(c->cputune.pins, struct qv_vcpupin, 0).cpuset, pin.cpuset);
    /* Freeing the original leaves the copy intact (ASan checks the rest). */
    qv_domain_free(g_steal_pointer(&d));
    ck_assert_str_eq(c->os.kernel, "/boot/vmlinuz");
    ck_assert_str_eq(((struct qv_net *)g_ptr_array_index(c->nets, 0))->mac, "52:54:00:00:00:02");
    qv_domain_free(c);
}
END_TEST

START_TEST(test_settings)
{
    g_autoptr(qv_domain) d = base();
    g_ptr_array_add(d->disks, disk("vda"));
    g_ptr_array_add(d->nets, nic("52:54:00:00:00:03"));

    struct qv_setting s = { .kind = QV_SET_CPU_PIN, .vcpu = 2, .pcpu = 5 };
    ck_assert_int_eq(qv_setting_apply(d, &s, "web01"), 0);
    s.vcpu = 0;
    s.pcpu = 4;
    ck_assert_int_eq(qv_setting_apply(d, &s, "web01"), 0);
    ck_assert_uint_eq(d->cputune.pins->len, 2);
    ck_assert_uint_eq(g_array_index(d->cputune.pins, struct qv_vcpupin, 0).vcpu, 0);
    s.pcpu = -1;
    ck_assert_int_eq(qv_setting_apply(d, &s, "web01"), 0);
    ck_assert_uint_eq(d->cputune.pins->len, 1);
    s.vcpu = 4;
    s.pcpu = 1;
    ck_assert_int_eq(qv_setting_apply(d, &s, "web01"), QV_ERR_NOT_FOUND);
    ck_assert_str_eq(qv_last_error()->message, "VM 'web01' has no vCPU 4 (it has 4)");

    struct qv_setting m = { .kind = QV_SET_MEMORY, .value = 512ull << 20 };
    ck_assert_int_eq(qv_setting_apply(d, &m, "web01"), 0);
    ck_assert_uint_eq(d->current_memory_kib, 512 * 1024);
    m.value = 2ull << 30;
    ck_assert_int_eq(qv_setting_apply(d, &m, "web01"), QV_ERR_INVALID_ARG);
    ck_assert_uint_eq(d->current_memory_kib, 512 * 1024);

    struct qv_setting io = { .kind = QV_SET_IO_LIMIT, .target = "vda", .value = 1000000, .value2 = 200 };
    ck_assert_int_eq(qv_setting_apply(d, &io, "web01"), 0);
    ck_assert_uint_eq(((struct qv_disk *)g_ptr_array_index(d->disks, 0))->total_iops_sec, 200);
    io.target = "vdz";
    ck_assert_int_eq(qv_setting_apply(d, &io, "web01"), QV_ERR_NOT_FOUND);

    struct qv_setting net = { .kind = QV_SET_NET_LIMIT, .value = 8 * 1024 * 100 };
    ck_assert_int_eq(qv_setting_apply(d, &net, "web01"), 0);
    ck_assert_uint_eq(((struct qv_net *)g_ptr_array_index(d->nets, 0))->inbound_kbps, 100);

    struct qv_disk *extra = disk("vdb");
    struct qv_setting at = { .kind = QV_SET_ATTACH_DISK, .disk = extra };
    ck_assert_int_eq(qv_setting_apply(d, &at, "web01"), 0);
    ck_assert_int_eq(qv_setting_apply(d, &at, "web01"), QV_ERR_EXISTS);
    at.kind = QV_SET_DETACH_DISK;
    ck_assert_int_eq(qv_setting_apply(d, &at, "web01"), 0);
    ck_assert_int_eq(qv_setting_apply(d, &at, "web01"), QV_ERR_NOT_FOUND);
    qv_disk_free(extra);

    struct qv_net *n = nic(NULL);
    struct qv_setting an = { .kind = QV_SET_ATTACH_NET, .net = n };
    ck_assert_int_eq(qv_setting_apply(d, &an, "web01"), 0);
    ck_assert_uint_eq(d->nets->len, 2);
    ck_assert_int_eq(strlen(((struct qv_net *)g_ptr_array_index(d->nets, 1))->mac), 17);
    qv_net_free(n);

    struct qv_hostdev h = { .bus = 3 };
    struct qv_setting ah = { .kind = QV_SET_ATTACH_HOSTDEV, .hostdev = &h };
    ck_assert_int_eq(qv_setting_apply(d, &ah, "web01"), 0);
    ck_assert_int_eq(qv_setting_apply(d, &ah, "web01"), QV_ERR_EXISTS);
    ck_assert_str_eq(qv_last_error()->message,
                     "VM 'web01' already has host device 0000:03:00.0");
    ck_assert_int_eq(qv_domain_validate(d), 0);
}
END_TEST

/* One rule, every door: a value is accepted or refused alike whether it
 * comes in as XML, JSON, through a setter or in a struct being validated. */
static bool xml_ok(const char *fmt, uint64_t v)
{
    g_autofree char *inner = g_strdup_printf(fmt, v);
    g_autofree char *xml =
        g_strdup_printf("<domain type='test'><name>r</name><memory>65536</memory><vcpu>1</vcpu>"
                        "<os><type>hvm</type></os>%s</domain>",
                        inner);
    g_autoptr(qv_domain) d = qv_domain_parse_xml(xml);
    return d && qv_domain_validate(d) == 0;
}

static bool json_ok(const char *fmt, uint64_t v)
{
    g_autofree char *inner = g_strdup_printf(fmt, v);
    g_autofree char *json =
        g_strdup_printf("{\"name\": \"r\", \"vcpus\": 1, \"memory\": 67108864, %s}", inner);
    g_autoptr(qv_domain) d = qv_domain_parse_json(json);
    return d && qv_domain_validate(d) == 0;
}

START_TEST(test_one_rule_every_door)
{
    struct qv_conn *conn = qv_connect("noop:///");
    ck_assert_ptr_nonnull(conn);
    struct vm *vm = vm_create_on(conn, "rules", 1, 1 << 20);
    ck_assert_ptr_nonnull(vm);
    /* vm_create takes the <domain type> from the driver table. */
    g_autofree char *made = vm_get_xml(vm);
    ck_assert_msg(strstr(made, "<domain type=\"test\"") || strstr(made, "<domain type='test'"),
                  "%s", made);

    static const uint64_t weights[] = {0, 1, 256, 65535, 65536, 262144, 4294967295u};
    for (size_t i = 0; i < G_N_ELEMENTS(weights); i++) {
        uint64_t w = weights[i];
        bool want = qv_conf_rule_cpu_weight(w) == NULL;
        ck_assert_int_eq(want, w >= 1 && w <= 65535);
        ck_assert_msg(xml_ok("<cputune><shares>%" G_GUINT64_FORMAT "</shares></cputune>", w) ==
                          want,
                      "XML weight %" G_GUINT64_FORMAT, w);
        ck_assert_msg(json_ok("\"cpu\": {\"weight\": %" G_GUINT64_FORMAT "}", w) == want,
                      "JSON weight %" G_GUINT64_FORMAT, w);
        ck_assert_msg((vm_set_cpu_weight(vm, (uint32_t)w) == 0) == want,
                      "setter weight %" G_GUINT64_FORMAT, w);
        if (!want && w <= UINT32_MAX && w)
            ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "out of range (1-65535)"));
        g_autoptr(qv_domain) d = base();
        d->cputune.shares = (uint32_t)w;
        /* In a struct, 0 means "the default". */
        ck_assert_int_eq(qv_domain_validate(d) == 0, want || w == 0);
    }

    static const uint64_t caps[] = {0, 1, 50, 100, 101, 1000};
    for (size_t i = 0; i < G_N_ELEMENTS(caps); i++) {
        uint64_t c = caps[i];
        bool want = c <= 100;
        ck_assert_int_eq(qv_conf_rule_cpu_cap(c) == NULL, want);
        if (c)
            ck_assert_msg(xml_ok("<cputune><period>100000</period><quota>%" G_GUINT64_FORMAT
                                 "000</quota></cputune>",
                                 c) == want,
                          "XML cap %" G_GUINT64_FORMAT, c);
        ck_assert_msg(json_ok("\"cpu\": {\"cap\": %" G_GUINT64_FORMAT "}", c) == want,
                      "JSON cap %" G_GUINT64_FORMAT, c);
        ck_assert_msg((vm_set_cpu_cap(vm, (uint32_t)c) == 0) == want, "setter cap %u", (unsigned)c);
        g_autoptr(qv_domain) d = base();
        d->cputune.cap = (uint32_t)c;
        ck_assert_int_eq(qv_domain_validate(d) == 0, want);
    }

    static const uint64_t sizes[] = {256, 512, 1000, 4096, 65536, 131072, 4294967296u};
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        uint64_t b = sizes[i];
        bool want = qv_conf_rule_block_size(b) == NULL;
        ck_assert_int_eq(want, b == 512 || b == 4096 || b == 65536);
        ck_assert_msg(xml_ok("<devices><disk type='file'><source file='/a.img'/>"
                             "<target dev='vda'/><blockio logical_block_size='%" G_GUINT64_FORMAT
                             "'/></disk></devices>",
                             b) == want,
                      "XML block size %" G_GUINT64_FORMAT, b);
        ck_assert_msg(json_ok("\"devices\": {\"disks\": [{\"path\": \"/a.img\", \"target\": "
                              "\"vda\", \"logical_block_size\": %" G_GUINT64_FORMAT "}]}",
                              b) == want,
                      "JSON block size %" G_GUINT64_FORMAT, b);
        if (b <= UINT32_MAX) {
            g_autoptr(qv_domain) d = base();
            struct qv_disk *k = disk("vda");
            k->logical_block_size = (uint32_t)b;
            g_ptr_array_add(d->disks, k);
            ck_assert_int_eq(qv_domain_validate(d) == 0, want);
        }
    }

    static const struct {
        const char *target;
        enum qv_disk_bus bus;
    } buses[] = {{"hdc", QV_DISK_BUS_IDE},
                 {"sdb", QV_DISK_BUS_SCSI},
                 {"vda", QV_DISK_BUS_VIRTIO},
                 {"xvda", QV_DISK_BUS_VIRTIO}};
    for (size_t i = 0; i < G_N_ELEMENTS(buses); i++) {
        ck_assert_int_eq(qv_conf_rule_bus_for_target(buses[i].target), buses[i].bus);
        g_autofree char *xml = g_strdup_printf(
            "<domain type='test'><name>r</name><memory>65536</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os><devices><disk type='file'><source file='/a.img'/>"
            "<target dev='%s'/></disk></devices></domain>",
            buses[i].target);
        g_autofree char *json = g_strdup_printf(
            "{\"name\": \"r\", \"vcpus\": 1, \"memory\": 67108864, \"devices\": {\"disks\": "
            "[{\"path\": \"/a.img\", \"target\": \"%s\"}]}}",
            buses[i].target);
        g_autoptr(qv_domain) x = qv_domain_parse_xml(xml);
        g_autoptr(qv_domain) j = qv_domain_parse_json(json);
        ck_assert_ptr_nonnull(x);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(((struct qv_disk *)g_ptr_array_index(x->disks, 0))->bus, buses[i].bus);
        ck_assert_int_eq(((struct qv_disk *)g_ptr_array_index(j->disks, 0))->bus, buses[i].bus);
    }
    vm_destroy(vm);
    qv_close(conn);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_conf_rules");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_validate);
    tcase_add_test(tc, test_fill_defaults);
    tcase_add_test(tc, test_copy_is_deep);
    tcase_add_test(tc, test_settings);
    if (QV_WITH_NOOP) /* it goes through a noop:/// connection */
        tcase_add_test(tc, test_one_rule_every_door);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
