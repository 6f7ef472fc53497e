/* <address> and user <alias> of disks and NICs: modelled (not kept
 * whole), written back as libvirt writes them, carried by the JSON
 * config, checked for clashes, refused by the drivers that place devices
 * themselves, and usable to name a device to remove. */
#include <check.h>
#include <string.h>

#include "conf_helpers.h"
#include "lib/conf/address.h"
#include "lib/conf/domain.h"
#include "lib/conf/setting.h"
#include "lib/util/error.h"

#define HEAD                                                                                       \
    "<domain type='qemu'>\n<name>a1</name>\n<memory>65536</memory>\n<vcpu>1</vcpu>\n"              \
    "<os><type arch='x86_64' machine='q35'>hvm</type></os>\n<devices>\n"
#define TAIL "</devices>\n</domain>\n"
#define DISK_VDA                                                                                   \
    "<disk type='file' device='disk'><source file='/i/a.qcow2'/><target dev='vda' "                \
    "bus='virtio'/>\n<alias name='ua-boot'/>\n"                                                    \
    "<address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></disk>\n"
#define DISK_SDA                                                                                   \
    "<disk type='file' device='cdrom'><driver name='qemu'/><target dev='sda' bus='sata'/>"         \
    "<readonly/>\n<address type='drive' controller='0' bus='0' target='0' unit='2'/></disk>\n"
#define NIC                                                                                        \
    "<interface type='user'><mac address='52:54:00:00:00:01'/><alias name='ua-lan'/>\n"            \
    "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0' "                   \
    "multifunction='on'/></interface>\n"

static struct qv_domain *user(const char *xml)
{
    qv_reset_error();
    struct qv_domain *d = qv_domain_parse_user_xml(xml);
    if (d && qv_domain_validate(d) < 0) {
        qv_domain_free(d);
        return NULL;
    }
    return d;
}

START_TEST(modelled_and_written_back)
{
    g_autoptr(qv_domain) d = user(HEAD DISK_VDA DISK_SDA NIC TAIL);
    ck_assert_msg(d, "%s", qv_last_error()->message);
    ck_assert_int_eq(d->kept->len, 0);
    ck_assert_int_eq(d->disks->len, 2);
    const struct qv_disk *vda = g_ptr_array_index(d->disks, 0);
    ck_assert_int_eq(vda->addr.type, QV_ADDR_PCI);
    ck_assert_uint_eq(vda->addr.bus, 3);
    ck_assert_int_eq(vda->addr.line, 9);
    ck_assert_str_eq(vda->alias, "ua-boot");
    const struct qv_disk *sda = g_ptr_array_index(d->disks, 1);
    ck_assert_int_eq(sda->addr.type, QV_ADDR_DRIVE);
    ck_assert_uint_eq(sda->addr.unit, 2);
    const struct qv_net *n = g_ptr_array_index(d->nets, 0);
    ck_assert_uint_eq(n->addr.slot, 5);
    ck_assert_int_eq(n->addr.multifunction, 1);
    g_autofree char *why = conf_check_roundtrip(d);
    ck_assert_msg(why == NULL, "%s", why);
    g_autofree char *out = qv_domain_format_xml(d);
    ck_assert_msg(strstr(out, "<alias name=\"ua-boot\"/>\n      <address type=\"pci\" "
                              "domain=\"0x0000\" bus=\"0x03\" slot=\"0x00\" function=\"0x0\"/>"),
                  "%s", out);
    ck_assert_msg(strstr(out, "<address type=\"drive\" controller=\"0\" bus=\"0\" target=\"0\" "
                              "unit=\"2\"/>"),
                  "%s", out);
    ck_assert_msg(strstr(out, "slot=\"0x05\" function=\"0x0\" multifunction=\"on\"/>"), "%s", out);
    ck_assert_msg(strstr(out, "<driver name=\"qemu\"/>"), "%s", out);

    /* The JSON config carries both, and reads back the same. */
    g_autofree char *json = qv_domain_format_json(d);
    ck_assert_msg(strstr(json, "\"address\" : \"pci:0000:03:00.0\""), "%s", json);
    ck_assert_msg(strstr(json, "\"address\" : \"drive:0:0:0:2\""), "%s", json);
    ck_assert_msg(strstr(json, "\"address\" : \"pci:0000:00:05.0,multifunction=on\""), "%s", json);
    ck_assert_msg(strstr(json, "\"alias\" : \"ua-lan\""), "%s", json);
    ck_assert_msg(!strstr(json, "left_out"), "%s", json);
    g_autoptr(qv_domain) back = qv_domain_parse_json(json);
    ck_assert_msg(back, "%s", qv_last_error()->message);
    g_autofree char *json2 = qv_domain_format_json(back);
    ck_assert_str_eq(json, json2);
}
END_TEST

START_TEST(json_form)
{
    struct qv_addr a;
    ck_assert_ptr_null(qv_conf_addr_parse("pci:0001:ff:1f.7,multifunction=off", &a));
    ck_assert(a.type == QV_ADDR_PCI && a.domain == 1 && a.bus == 0xff && a.slot == 0x1f &&
              a.function == 7 && a.multifunction == 0);
    g_autofree char *s = qv_conf_addr_string(&a);
    ck_assert_str_eq(s, "pci:0001:ff:1f.7,multifunction=off");
    ck_assert_ptr_null(qv_conf_addr_parse("drive:0:1:0:1", &a));
    ck_assert(a.type == QV_ADDR_DRIVE && a.bus == 1 && a.unit == 1);
    const char *bad[] = {
        "pci:0000:00:20.0", "pci:0000:00:01.8", "pci:00:01.0", "pci:0000:00:01.0,x",
        "drive:0:0:0",      "drive:0:0:0:-1",   "usb:0:1",     ""};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        ck_assert_msg(qv_conf_addr_parse(bad[i], &a) != NULL, "'%s' accepted", bad[i]);
    const char *json =
        "{\"name\":\"j\",\"memory\":\"64M\",\"vcpus\":1,\"devices\":{\"disks\":"
        "[{\"path\":\"/i/a\",\"target\":\"vda\",\"address\":\"pci:0000:00:20.0\"}]}}";
    ck_assert_ptr_null(qv_domain_parse_json(json));
    ck_assert_msg(strstr(qv_last_error()->message, "$.devices.disks[0].address: "
                                                   "\"pci:0000:00:20.0\" is not a PCI address"),
                  "%s", qv_last_error()->message);
    json = "{\"name\":\"j\",\"memory\":\"64M\",\"vcpus\":1,\"devices\":{\"nics\":"
           "[{\"alias\":\"net0\"}]}}";
    ck_assert_ptr_null(qv_domain_parse_json(json));
    ck_assert_msg(strstr(qv_last_error()->message, "alias"), "%s", qv_last_error()->message);
}
END_TEST

/* libvirt's define refuses these too. */
START_TEST(clashes_refused)
{
    const char *twice = HEAD DISK_VDA
        "<disk type='file' device='disk'><source file='/i/b'/><target dev='vdb'/>"
        "<address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></disk>\n" TAIL;
    ck_assert_ptr_null(user(twice));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
    ck_assert_str_eq(qv_last_error()->message,
                     "VM 'a1': <disk> 'vda' and <disk> 'vdb' are both at <address> "
                     "pci:0000:03:00.0");
    const char *alias =
        HEAD DISK_VDA "<interface type='user'><alias name='ua-boot'/></interface>\n" TAIL;
    ck_assert_ptr_null(user(alias));
    ck_assert_msg(strstr(qv_last_error()->message, "both have alias 'ua-boot'"), "%s",
                  qv_last_error()->message);
    /* A SCSI disk and a SATA one may have the same numbers: other controllers. */
    g_autoptr(qv_domain) ok =
        user(HEAD DISK_SDA
             "<disk type='file' device='cdrom'><target dev='sdc' bus='scsi'/><readonly/>"
             "<address type='drive' controller='0' bus='0' target='0' unit='2'/></disk>\n" TAIL);
    ck_assert_msg(ok, "%s", qv_last_error()->message);
}
END_TEST

/* kvm and propolis place devices themselves: they say so, with the line. */
START_TEST(refused_by_placing_drivers)
{
    g_autoptr(qv_domain) d = user(HEAD DISK_VDA NIC TAIL);
    ck_assert_msg(d, "%s", qv_last_error()->message);
    ck_assert_int_eq(qv_domain_refuse_addresses(d, "kvm", "the VMM places its devices itself"),
                     QV_ERR_UNSUPPORTED);
    ck_assert_str_eq(qv_last_error()->message,
                     "VM 'a1': the kvm driver cannot honour <address> of <disk> 'vda' (line 9): "
                     "the VMM places its devices itself");
    g_autoptr(qv_domain) plain = user(HEAD TAIL);
    ck_assert_int_eq(qv_domain_refuse_addresses(plain, "kvm", "x"), 0);
}
END_TEST

/* Serials, consoles, channels and rngs: their <address> is modelled too
 * (virtio-serial, isa, pci), written back, said in JSON, checked for
 * clashes, and refused by the drivers that place devices themselves. */
START_TEST(chardev_and_rng_addresses)
{
    const char *xml =
        HEAD "<serial type='pty'><target type='isa-serial' port='1'/>\n"
             "<address type='isa' iobase='0x2f8' irq='0x3'/></serial>\n"
             "<console type='pty'><target type='virtio' port='0'/>\n"
             "<address type='virtio-serial' controller='0' bus='0' port='0'/></console>\n"
             "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>\n"
             "<address type='virtio-serial' controller='0' bus='0' port='2'/></channel>\n"
             "<rng model='virtio'><backend model='random'>/dev/urandom</backend>\n"
             "<address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>"
             "</rng>\n" TAIL;
    g_autoptr(qv_domain) d = user(xml);
    ck_assert_msg(d, "%s", qv_last_error()->message);
    ck_assert_uint_eq(d->kept->len, 0);
    const struct qv_chardev *s = g_ptr_array_index(d->serials, 0);
    ck_assert(s->addr.type == QV_ADDR_ISA && s->addr.iobase == 0x2f8 && s->addr.irq == 3);
    const struct qv_channel *c = g_ptr_array_index(d->channels, 0);
    ck_assert(c->addr.type == QV_ADDR_VIRTIO_SERIAL && c->addr.port == 2);
    g_autofree char *out = qv_domain_format_xml(d);
    ck_assert_msg(strstr(out, "<address type=\"isa\" iobase=\"0x2f8\" irq=\"0x3\"/>") &&
                      strstr(out, "<address type=\"virtio-serial\" controller=\"0\" bus=\"0\" "
                                  "port=\"2\"/>") &&
                      strstr(out, "slot=\"0x07\""),
                  "%s", out);
    g_autofree char *bad = conf_rng_errors(out);
    ck_assert_msg(bad == NULL, "%s\n%s", bad, out);
    /* JSON carries them and gives the same definition back. */
    g_autofree char *json = qv_domain_format_json(d);
    ck_assert_msg(strstr(json, "\"isa:0x2f8:3\"") && strstr(json, "\"virtio-serial:0:0:2\"") &&
                      strstr(json, "\"pci:0000:00:07.0\""),
                  "%s", json);
    g_autoptr(qv_domain) j = qv_domain_parse_json(json);
    ck_assert_msg(j, "%s", qv_last_error()->message);
    g_autofree char *out2 = qv_domain_format_xml(j);
    ck_assert_str_eq(out, out2);
    struct qv_addr a;
    const char *bad_forms[] = {"virtio-serial:0:0:31", "virtio-serial:0:0", "isa:3f8:4",
                               "isa:0x3f8:16", "isa:0x3f8"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_forms); i++)
        ck_assert_msg(qv_conf_addr_parse(bad_forms[i], &a) != NULL, "'%s' accepted", bad_forms[i]);
    ck_assert_ptr_null(qv_conf_addr_parse("isa::4", &a));
    ck_assert(a.type == QV_ADDR_ISA && a.iobase == -1 && a.irq == 4);
    /* A disk takes no virtio-serial address; a channel no PCI one. */
    ck_assert_ptr_null(qv_domain_parse_json(
        "{\"name\":\"j\",\"memory\":\"64M\",\"vcpus\":1,\"devices\":{\"channels\":"
        "[{\"name\":\"a.0\",\"address\":\"pci:0000:00:07.0\"}]}}"));
    ck_assert_msg(strstr(qv_last_error()->message, "$.devices.channels[0].address: "
                                                   "\"pci:0000:00:07.0\" is not an address type"),
                  "%s", qv_last_error()->message);
    /* Two at one place. */
    ck_assert_ptr_null(user(
        HEAD "<channel type='pty'><target type='virtio' name='a.0'/>\n"
             "<address type='virtio-serial' controller='0' bus='0' port='2'/></channel>\n"
             "<channel type='pty'><target type='virtio' name='b.0'/>\n"
             "<address type='virtio-serial' controller='0' bus='0' port='2'/></channel>\n" TAIL));
    ck_assert_str_eq(qv_last_error()->message,
                     "VM 'a1': <channel> 1 and <channel> 2 are both at <address> "
                     "virtio-serial:0:0:2");
    ck_assert_ptr_null(user(HEAD DISK_VDA
                            "<rng model='virtio'><backend model='random'/>\n"
                            "<address type='pci' domain='0x0000' bus='0x03' slot='0x00' "
                            "function='0x0'/></rng>\n" TAIL));
    ck_assert_msg(strstr(qv_last_error()->message, "<disk> 'vda' and <rng> 1 are both at"), "%s",
                  qv_last_error()->message);
    /* kvm and propolis place them themselves. */
    ck_assert_int_eq(qv_domain_refuse_addresses(d, "kvm", "the VMM places its devices itself"),
                     QV_ERR_UNSUPPORTED);
    ck_assert_str_eq(qv_last_error()->message,
                     "VM 'a1': the kvm driver cannot honour <address> of <serial> 1 (line 8): "
                     "the VMM places its devices itself");
}
END_TEST

/* A disk or NIC to remove may be named by its alias alone. */
START_TEST(removal_by_alias)
{
    g_autoptr(qv_domain) d = user(HEAD DISK_VDA DISK_SDA NIC TAIL);
    ck_assert_msg(d, "%s", qv_last_error()->message);
    struct qv_disk *disk = NULL;
    struct qv_net *net = NULL;
    struct qv_hostdev *hd = NULL;
    ck_assert_int_eq(
        qv_domain_parse_device_xml("<disk><alias name='ua-boot'/></disk>", &disk, &net, &hd), 0);
    struct qv_setting s = {.kind = QV_SET_DETACH_DISK, .disk = disk};
    ck_assert_int_eq(qv_setting_apply(d, &s, "a1"), 0);
    ck_assert_int_eq(d->disks->len, 1);
    ck_assert_str_eq(((struct qv_disk *)g_ptr_array_index(d->disks, 0))->target, "sda");
    ck_assert_int_eq(qv_setting_apply(d, &s, "a1"), QV_ERR_NOT_FOUND);
    ck_assert_str_eq(qv_last_error()->message, "VM 'a1' has no disk with alias 'ua-boot'");
    /* Adding needs a target. */
    s.kind = QV_SET_ATTACH_DISK;
    ck_assert_int_eq(qv_setting_apply(d, &s, "a1"), QV_ERR_INVALID_ARG);
    qv_disk_free(disk);
    ck_assert_int_eq(qv_domain_parse_device_xml("<interface type='user'><alias "
                                                "name='ua-lan'/></interface>",
                                                &disk, &net, &hd),
                     0);
    s = (struct qv_setting){.kind = QV_SET_DETACH_NET, .net = net};
    ck_assert_int_eq(qv_setting_apply(d, &s, "a1"), 0);
    ck_assert_int_eq(d->nets->len, 0);
    qv_net_free(net);
    /* An added device may not repeat an alias; the definition is unchanged. */
    ck_assert_int_eq(qv_domain_parse_device_xml("<disk type='file' device='cdrom'><target "
                                                "dev='sdb' bus='sata'/><alias name='ua-x'/>"
                                                "<address type='drive' controller='0' bus='0' "
                                                "target='0' unit='2'/></disk>",
                                                &disk, &net, &hd),
                     0);
    s = (struct qv_setting){.kind = QV_SET_ATTACH_DISK, .disk = disk};
    ck_assert_int_eq(qv_setting_apply(d, &s, "a1"), QV_ERR_INVALID_ARG);
    ck_assert_int_eq(d->disks->len, 1);
    qv_disk_free(disk);
}
END_TEST

/* <resource><partition> is modelled, and the JSON config carries it. */
START_TEST(resource_partition)
{
    g_autoptr(qv_domain) d = user("<domain type='qemu' id='3'>\n<name>a1</name>\n<memory>65536"
                                  "</memory>\n<vcpu>1</vcpu>\n<resource>\n<partition>/machine"
                                  "</partition>\n</resource>\n<os><type>hvm</type></os>\n"
                                  "</domain>\n");
    ck_assert_msg(d, "%s", qv_last_error()->message);
    ck_assert_str_eq(d->partition, "/machine");
    ck_assert_int_eq(d->kept->len, 0);
    g_autofree char *why = conf_check_roundtrip(d);
    ck_assert_msg(why == NULL, "%s", why);
    g_autofree char *json = qv_domain_format_json(d);
    ck_assert_msg(strstr(json, "\"cgroup_partition\" : \"/machine\""), "%s", json);
    g_autoptr(qv_domain) back = qv_domain_parse_json(json);
    ck_assert_msg(back, "%s", qv_last_error()->message);
    ck_assert_str_eq(back->partition, "/machine");
    ck_assert_ptr_null(qv_domain_parse_json("{\"name\":\"j\",\"memory\":\"64M\",\"vcpus\":1,"
                                            "\"cgroup_partition\":\"machine\"}"));
    ck_assert_msg(strstr(qv_last_error()->message, "$.cgroup_partition"), "%s",
                  qv_last_error()->message);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf_address");
    TCase *tc = tcase_create("address");
    tcase_add_test(tc, modelled_and_written_back);
    tcase_add_test(tc, json_form);
    tcase_add_test(tc, clashes_refused);
    tcase_add_test(tc, refused_by_placing_drivers);
    tcase_add_test(tc, chardev_and_rng_addresses);
    tcase_add_test(tc, removal_by_alias);
    tcase_add_test(tc, resource_partition);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
