/* What the kvm driver refuses at define and set time, tested without
 * /dev/kvm: the check itself (kvm_domain_check), the driver's define slot
 * reaching it before it touches the connection, and settings. */
#define _GNU_SOURCE
#include <check.h>
#include <string.h>

#include "drivers/kvm/kvm_conf.h"
#include "drivers/kvm/kvm_pin.h"
#include "lib/api/driver.h"
#include "lib/util/error.h"

static struct qv_domain *parse(const char *os_extra, const char *top_extra, const char *devices)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>k1</name><memory unit='MiB'>16</memory><vcpu>2</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>/boot/payload</kernel>%s</os>%s"
        "<devices>%s</devices></domain>",
        os_extra, top_extra, devices);
    struct qv_domain *def = qv_domain_parse_xml(xml);
    ck_assert_msg(def, "%s: %s", xml, qv_last_error()->message);
    qv_domain_fill_defaults(def);
    return def;
}

static void assert_refused(struct qv_domain *def, const char *element)
{
    ck_assert_int_eq(kvm_domain_check(def), QV_ERR_UNSUPPORTED);
    const char *msg = qv_last_error()->message;
    g_autofree char *want = g_strdup_printf("VM 'k1': %s", element);
    ck_assert_msg(g_str_has_prefix(msg, want) && strstr(msg, "not supported by the kvm driver"),
                  "expected '%s ... not supported by the kvm driver', got '%s'", want, msg);
    ck_assert_str_eq(qv_last_error()->origin, "kvm");
}

static const struct {
    const char *os, *top, *dev, *element;
} refused[] = {
    {"", "<resource><partition>/machine</partition></resource>", "", "<resource><partition>"},
    {"", "",
     "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
     "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>",
     "<hostdev>"},
    {"", "", "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>",
     "<channel>"},
    {"", "", "<graphics type='vnc' port='-1'/>", "<graphics>"},
    {"", "", "<serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/></serial>",
     "<serial type='tcp'>"},
    {"", "", "<serial type='pty'><target port='1'/></serial>", "<serial> <target port='1'>"},
    {"", "", "<console type='pty'><target type='serial' port='1'/></console>",
     "<console> <target port='1'>"},
    {"", "", "<serial type='pty'/><serial type='null'/>", "more than one <serial>"},
    {"", "", "<console type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/></console>",
     "<console type='tcp'>"},
    {"", "<memoryBacking><hugepages/></memoryBacking>", "", "<memoryBacking><hugepages/>"},
    {"", "<numatune><memory mode='strict' nodeset='0'/></numatune>", "", "<numatune>"},
    {"", "<currentMemory unit='MiB'>8</currentMemory>", "", "<currentMemory>"},
    {"", "<cputune><shares>512</shares></cputune>", "", "a CPU weight"},
    {"", "<cputune><period>100000</period><quota>50000</quota></cputune>", "", "a CPU cap"},
    {"", "<cpu mode='custom'><model>Skylake-Client</model></cpu>", "", "a named <cpu><model>"},
    {"", "<cpu mode='host-model'/>", "", "<cpu mode='host-model'>"},
    {"<boot dev='hd'/>", "", "", "<boot dev>"},
    {"<loader readonly='yes' type='pflash'>/OVMF_CODE.fd</loader>", "", "", "<loader>"},
    {"", "<on_reboot>restart</on_reboot>", "", "<on_reboot>"},
    {"", "<on_crash>preserve</on_crash>", "", "<on_crash>"},
    {"", "", "<emulator>/usr/bin/qemu-system-x86_64</emulator>", "<emulator>"},
};

START_TEST(test_refused_elements)
{
    g_autoptr(qv_domain) def = parse(refused[_i].os, refused[_i].top, refused[_i].dev);
    assert_refused(def, refused[_i].element);
}
END_TEST

START_TEST(test_what_the_vmm_does_is_accepted)
{
    /* What tests/unit/kvm_*.c and `qv vm run` define. */
    g_autoptr(qv_domain) def =
        parse("<initrd>/boot/initrd</initrd><cmdline>quiet</cmdline>",
              "<cpu mode='host-passthrough'><topology sockets='1' dies='1' cores='2' "
              "threads='1'/></cpu><cputune><vcpupin vcpu='0' cpuset='1'/></cputune>"
              "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
              "<on_crash>destroy</on_crash>",
              "<serial type='file'><source path='/tmp/x.log'/><target port='0'/></serial>"
              "<console type='file'><source path='/tmp/x.log'/><target type='serial' "
              "port='0'/></console>");
    ck_assert_msg(kvm_domain_check(def) == 0, "%s", qv_last_error()->message);
    /* A bare VM, as vm_create makes it. */
    g_autoptr(qv_domain) bare = qv_domain_new();
    bare->type = QV_VIRT_KVM;
    bare->name = g_strdup("bare");
    bare->vcpus = bare->max_vcpus = 1;
    bare->memory_kib = 1024;
    ck_assert_int_eq(kvm_domain_check(bare), 0);
    /* vm_create gives a kvm VM the type its driver table names. */
    ck_assert_int_eq(qv_kvm_driver.domain_type, QV_VIRT_KVM);
    bare->type = QV_VIRT_QEMU;
    ck_assert_int_eq(kvm_domain_check(bare), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "<domain type='qemu'>"));
}
END_TEST

/* The virtio-mmio devices (kvm_virtio_devices.c): checked at define
 * without opening anything, so a disk that does not exist yet is fine. */
START_TEST(test_virtio_devices_accepted)
{
    g_autoptr(qv_domain) def = parse(
        "", "",
        "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='none'/>"
        "<source file='/nonexistent/d.img'/><target dev='vda' bus='virtio'/>"
        "<serial>qv-disk-1</serial><iotune><total_bytes_sec>1000000</total_bytes_sec></iotune>"
        "</disk>"
        "<disk type='file' device='disk'><source file='/nonexistent/ro.img'/>"
        "<target dev='vdb'/><readonly/></disk>"
        "<interface type='user'><mac address='52:54:00:12:34:56'/><model type='virtio'/>"
        "</interface>"
        "<interface type='ethernet'><model type='virtio'/></interface>"
        "<rng model='virtio'><backend model='random'>/dev/random</backend></rng>"
        "<console type='unix'><source mode='bind' path='/nonexistent/hvc0.sock'/>"
        "<target type='virtio'/></console>"
        "<console type='file'><source path='/nonexistent/hvc1.log'/>"
        "<target type='virtio' port='1'/></console>");
    ck_assert_msg(kvm_domain_check(def) == 0, "%s", qv_last_error()->message);
}
END_TEST

static const struct {
    const char *dev, *want;
} virtio_refused[] = {
    {"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
     "<source file='/d.qcow2'/><target dev='vda'/></disk>",
     "VM 'k1': disk 'vda': <driver type='qcow2'>"},
    {"<disk type='file' device='cdrom'><source file='/d.iso'/><target dev='hdc' bus='ide'/>"
     "</disk>",
     "VM 'k1': disk 'hdc': device='cdrom'"},
    {"<disk type='file' device='disk'><source file='/d.img'/><target dev='sda' bus='scsi'/>"
     "</disk>",
     "VM 'k1': disk 'sda': a <target bus> other than virtio"},
    {"<interface type='user'><mac address='52:54:00:12:34:56'/><model type='e1000'/>"
     "</interface>",
     "VM 'k1': the kvm driver cannot honour <interface> 52:54:00:12:34:56: its <model> is not "
     "virtio"},
    {"<interface type='user'><mac address='52:54:00:12:34:56'/><bandwidth><inbound "
     "average='100'/></bandwidth></interface>",
     "VM 'k1': the kvm driver cannot honour <interface> 52:54:00:12:34:56: <bandwidth>"},
    {"<rng model='virtio'><backend model='random'>/dev/hwrng</backend></rng>",
     "VM 'k1': <rng><backend model='random'>/dev/hwrng</backend> is not supported by the kvm "
     "driver"},
    {"<console type='stdio'><target type='virtio'/></console>",
     "VM 'k1': <console type='stdio'><target type='virtio'> is not supported by the kvm driver"},
    {"<console type='pty'><target type='virtio'/></console>",
     "VM 'k1': <console type='pty'><target type='virtio'> is not supported by the kvm driver"},
    {"<console type='null'><target type='virtio'/></console>"
     "<console type='null'><target type='virtio' port='0'/></console>",
     "VM 'k1': <console><target type='virtio' port='0'> is not supported by the kvm driver: "
     "virtio console 1 is port 1"},
};

START_TEST(test_virtio_devices_refused)
{
    g_autoptr(qv_domain) def = parse("", "", virtio_refused[_i].dev);
    ck_assert_int_eq(kvm_domain_check(def), QV_ERR_UNSUPPORTED);
    ck_assert_msg(g_str_has_prefix(qv_last_error()->message, virtio_refused[_i].want),
                  "expected '%s...', got '%s'", virtio_refused[_i].want, qv_last_error()->message);
    ck_assert_str_eq(qv_last_error()->origin, "kvm");
}
END_TEST

/* A file or listening socket named twice would be truncated or taken
 * over by the second backend: refused, naming it. */
START_TEST(test_virtio_console_paths_not_shared)
{
    static const char *const twice[] = {
        "<serial type='file'><source path='/tmp/k1.log'/></serial>"
        "<console type='file'><source path='/tmp/k1.log'/><target type='virtio'/></console>",
        "<console type='unix'><source mode='bind' path='/tmp/k1.sock'/><target type='virtio'/>"
        "</console><console type='unix'><source mode='bind' path='/tmp/k1.sock'/>"
        "<target type='virtio' port='1'/></console>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(twice); i++) {
        g_autoptr(qv_domain) def = parse("", "", twice[i]);
        ck_assert_int_eq(kvm_domain_check(def), QV_ERR_INVALID_ARG);
        ck_assert_msg(strstr(qv_last_error()->message, i ? "/tmp/k1.sock" : "/tmp/k1.log"), "%s",
                      qv_last_error()->message);
    }
}
END_TEST

/* Ten devices for nine virtio-mmio slots. */
START_TEST(test_virtio_slots_counted)
{
    GString *dev = g_string_new(NULL);
    for (int i = 0; i < 10; i++)
        g_string_append_printf(dev,
                               "<disk type='file' device='disk'><source file='/d%d.img'/>"
                               "<target dev='vd%c'/></disk>",
                               i, 'a' + i);
    g_autoptr(qv_domain) def = parse("", "", dev->str);
    g_string_free(dev, TRUE);
    ck_assert_int_eq(kvm_domain_check(def), QV_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(qv_last_error()->message, "has 10 virtio devices") &&
                      strstr(qv_last_error()->message, "9 virtio-mmio slots"),
                  "%s", qv_last_error()->message);
}
END_TEST

/* One port, two names for it: a console that says something else than
 * the serial port it stands for is refused, as the qemu driver does. */
START_TEST(test_console_contradicting_serial)
{
    g_autoptr(qv_domain) def = parse("", "",
                                     "<serial type='file'><source path='/tmp/x.log'/></serial>"
                                     "<console type='pty'><target type='serial'/></console>");
    ck_assert_int_eq(kvm_domain_check(def), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "must repeat the first <serial>"));
}
END_TEST

START_TEST(test_json_definitions_too)
{
    static const char json[] =
        "{\"name\": \"k1\", \"type\": \"kvm\", \"vcpus\": 1, \"memory\": \"16MiB\","
        " \"devices\": {\"disks\": [{\"target\": \"vda\", \"path\": \"/d.img\"}]},"
        " \"cpu\": {\"weight\": 512}}";
    g_autoptr(qv_domain) def = qv_domain_parse_json(json);
    ck_assert_msg(def, "%s", qv_last_error()->message);
    assert_refused(def, "a CPU weight");
}
END_TEST

/* kvm:///embed cannot be opened here (no /dev/kvm), so the define slot is
 * called with a connection that has no driver state: the check must come
 * first, refusing before anything of the connection is used. */
/* libvirt's other hypervisor types are noop's alone. */
START_TEST(test_foreign_domain_type)
{
    g_autoptr(qv_domain) def = parse("", "", "");
    def->type = QV_VIRT_FOREIGN + 2; /* qv_conf_virt_types: kqemu, xen, lxc */
    assert_refused(def, "<domain type='lxc'>");
}
END_TEST

START_TEST(test_define_slot_refuses_first)
{
    g_autoptr(qv_domain) def =
        parse("", "", "<interface type='user'><model type='e1000'/></interface>");
    struct qv_conn conn = {.driver = &qv_kvm_driver};
    void *priv = NULL;
    ck_assert_int_eq(qv_kvm_driver.vm_define(&conn, def, &priv), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_null(priv);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "<interface>"));
}
END_TEST

/* The VMM places its devices itself: an <address> is refused, named with
 * its line, before the disk is. */
START_TEST(test_address_refused_with_line)
{
    g_autoptr(qv_domain) def =
        parse("", "",
              "<interface type='user'>\n<address type='pci' domain='0x0000' bus='0x00' "
              "slot='0x03' function='0x0'/></interface>");
    ck_assert_int_eq(kvm_domain_check(def), QV_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(qv_last_error()->message, "the kvm driver cannot honour <address> of "
                                                   "<interface> ") &&
                      strstr(qv_last_error()->message, "(line 2): the VMM places its devices "
                                                       "itself"),
                  "%s", qv_last_error()->message);
}
END_TEST

START_TEST(test_settings)
{
    g_autoptr(qv_domain) def = parse("", "", "");
    /* A stopped VM's definition takes a raw virtio disk; a qcow2 one is
     * refused and the definition keeps what it had. */
    struct qv_disk disk = {.type = QV_DISK_TYPE_FILE, .source = "/d.img", .target = "vdb"};
    struct qv_setting attach = {.kind = QV_SET_ATTACH_DISK, .disk = &disk};
    g_autoptr(qv_domain) with_disk = kvm_setting_apply(def, &attach, "k1");
    ck_assert_msg(with_disk, "%s", qv_last_error()->message);
    ck_assert_uint_eq(with_disk->disks->len, 1);
    struct qv_disk qcow2 = {
        .type = QV_DISK_TYPE_FILE, .source = "/d.qcow2", .target = "vdc", .driver_type = "qcow2"};
    struct qv_setting attach_qcow2 = {.kind = QV_SET_ATTACH_DISK, .disk = &qcow2};
    ck_assert_ptr_null(kvm_setting_apply(def, &attach_qcow2, "k1"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "disk 'vdc': <driver type='qcow2'>"));
    ck_assert_uint_eq(def->disks->len, 0);

    struct qv_setting weight = {.kind = QV_SET_CPU_WEIGHT, .value = 100};
    ck_assert_ptr_null(kvm_setting_apply(def, &weight, "k1"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "CPU weight"));
    struct qv_setting cap = {.kind = QV_SET_CPU_CAP, .value = 50};
    ck_assert_ptr_null(kvm_setting_apply(def, &cap, "k1"));

    struct qv_setting pin = {.kind = QV_SET_CPU_PIN, .vcpu = 1, .pcpu = 0};
    g_autoptr(qv_domain) pinned = kvm_setting_apply(def, &pin, "k1");
    ck_assert_msg(pinned, "%s", qv_last_error()->message);
    ck_assert_uint_eq(pinned->cputune.pins->len, 1);
    struct qv_setting vcpus = {.kind = QV_SET_VCPUS, .value = 1};
    g_autoptr(qv_domain) fewer = kvm_setting_apply(def, &vcpus, "k1");
    ck_assert_msg(fewer, "%s", qv_last_error()->message);
}
END_TEST

/* <vcpupin cpuset> ranges and lists are a mask the vCPU thread gets; a CPU
 * the process may not use fails the start naming the vCPU and the CPU. */
START_TEST(test_pin_masks)
{
    g_autoptr(qv_domain) def = parse("",
                                     "<cputune><vcpupin vcpu='0' cpuset='0-1'/>"
                                     "<vcpupin vcpu='1' cpuset='0,2-3,^2'/></cputune>",
                                     "");
    ck_assert_int_eq(kvm_domain_check(def), 0);
    cpu_set_t allowed, set;
    CPU_ZERO(&allowed);
    for (int c = 0; c < 4; c++)
        CPU_SET(c, &allowed);
    ck_assert_int_eq(kvm_pin_mask(def, 0, &allowed, &set), 1);
    ck_assert_int_eq(CPU_COUNT(&set), 2);
    ck_assert(CPU_ISSET(0, &set) && CPU_ISSET(1, &set));
    ck_assert_int_eq(kvm_pin_mask(def, 1, &allowed, &set), 1);
    ck_assert_int_eq(CPU_COUNT(&set), 2);
    ck_assert(CPU_ISSET(0, &set) && CPU_ISSET(3, &set));
    /* No pin: the thread keeps the process's CPUs. */
    ck_assert_int_eq(kvm_pin_mask(def, 2, &allowed, &set), 0);
    /* A CPU of the range the process may not run on is named. */
    CPU_CLR(1, &allowed);
    ck_assert_int_eq(kvm_pin_mask(def, 0, &allowed, &set), QV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(qv_last_error()->message, "vCPU 0: host CPU 1 (of cpuset '0-1') does "
                                                   "not exist or is not allowed"),
                  "%s", qv_last_error()->message);

    g_autoptr(qv_domain) far =
        parse("", "<cputune><vcpupin vcpu='1' cpuset='1000'/></cputune>", "");
    ck_assert_int_eq(kvm_pin_mask(far, 1, &allowed, &set), QV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(qv_last_error()->message, "VM 'k1': vCPU 1: host CPU 1000 "), "%s",
                  qv_last_error()->message);

    static const char *const bad[] = {"3-1", "^1", "x", "1-", "99999", ""};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        ck_assert_int_eq(qv_cpuset_parse(bad[i], &set), QV_ERR_INVALID_ARG);
        qv_reset_error();
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_conf");
    TCase *tc = tcase_create("conf");
    tcase_add_loop_test(tc, test_refused_elements, 0, G_N_ELEMENTS(refused));
    tcase_add_test(tc, test_what_the_vmm_does_is_accepted);
    tcase_add_test(tc, test_json_definitions_too);
    tcase_add_test(tc, test_virtio_devices_accepted);
    tcase_add_loop_test(tc, test_virtio_devices_refused, 0, G_N_ELEMENTS(virtio_refused));
    tcase_add_test(tc, test_virtio_slots_counted);
    tcase_add_test(tc, test_virtio_console_paths_not_shared);
    tcase_add_test(tc, test_console_contradicting_serial);
    tcase_add_test(tc, test_define_slot_refuses_first);
    tcase_add_test(tc, test_foreign_domain_type);
    tcase_add_test(tc, test_settings);
    tcase_add_test(tc, test_address_refused_with_line);
    tcase_add_test(tc, test_pin_masks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
