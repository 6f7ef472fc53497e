/* Domain XML: every sample parses, validates, formats to XML that libvirt's
 * schema accepts, and parse->format->parse is a fixed point; every kind of
 * bad input is refused with its line and the element named. */
#include <check.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "conf_helpers.h"
#include "lib/util/error.h"

START_TEST(samples_roundtrip)
{
    g_autoptr(GPtrArray) files = conf_list_data("xml", ".xml");
    ck_assert_uint_ge(files->len, 5);
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *xml = NULL;
        ck_assert(g_file_get_contents(path, &xml, NULL, NULL));
        /* The sample itself is libvirt XML, so the schema must take it. */
        g_autofree char *raw_bad = conf_rng_errors(xml);
        ck_assert_msg(raw_bad == NULL, "%s: sample is not valid libvirt XML: %s", path, raw_bad);
        qv_reset_error();
        g_autoptr(qv_domain) def = qv_domain_parse_xml(xml);
        ck_assert_msg(def != NULL, "%s: %s", path, qv_last_error()->message);
        ck_assert_msg(qv_domain_validate(def) == 0, "%s: %s", path, qv_last_error()->message);
        g_autofree char *why = conf_check_roundtrip(def);
        ck_assert_msg(why == NULL, "%s: %s", path, why);
        qv_domain_fill_defaults(def);
        g_autofree char *why2 = conf_check_roundtrip(def);
        ck_assert_msg(why2 == NULL, "%s (with defaults): %s", path, why2);
    }
}
END_TEST

/* virt-xml-validate, the tool users run, agrees with the RelaxNG check. */
START_TEST(virt_xml_validate_accepts)
{
    const char *tool = "/usr/bin/virt-xml-validate";
    if (!g_file_test(tool, G_FILE_TEST_IS_EXECUTABLE)) {
        printf("SKIP virt_xml_validate_accepts: %s not installed (libvirt-clients)\n", tool);
        return;
    }
    g_autoptr(GPtrArray) files = conf_list_data("xml", ".xml");
    g_autofree char *tmpdir = g_dir_make_tmp("qv-conf-XXXXXX", NULL);
    ck_assert(tmpdir);
    for (guint i = 0; i < files->len; i++) {
        g_autofree char *xml = NULL;
        ck_assert(g_file_get_contents(g_ptr_array_index(files, i), &xml, NULL, NULL));
        g_autoptr(qv_domain) def = qv_domain_parse_xml(xml);
        ck_assert(def);
        g_autofree char *out = qv_domain_format_xml(def);
        g_autofree char *file = g_build_filename(tmpdir, "domain.xml", NULL);
        ck_assert(g_file_set_contents(file, out, -1, NULL));
        const char *argv[] = {tool, file, "domain", NULL};
        g_autofree char *so = NULL, *se = NULL;
        int status = 0;
        ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &so, &se,
                               &status, NULL));
        ck_assert_msg(g_spawn_check_wait_status(status, NULL), "%s rejects output of %s:\n%s%s",
                      tool, (char *)g_ptr_array_index(files, i), so, se);
        g_unlink(file);
    }
    g_rmdir(tmpdir);
}
END_TEST

START_TEST(full_sample_values)
{
    g_autofree char *xml = conf_read_data("xml/full.xml");
    g_autoptr(qv_domain) d = qv_domain_parse_xml(xml);
    ck_assert_msg(d != NULL, "%s", qv_last_error()->message);
    ck_assert_int_eq(d->type, QV_VIRT_KVM);
    ck_assert_str_eq(d->name, "full01");
    ck_assert_str_eq(d->uuid, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
    ck_assert_str_eq(d->description, "Every supported element & attribute.");
    ck_assert_uint_eq(d->memory_kib, 2 * 1024 * 1024);
    ck_assert_uint_eq(d->current_memory_kib, 1024 * 1024);
    ck_assert(d->hugepages);
    ck_assert_uint_eq(d->max_vcpus, 4);
    ck_assert_uint_eq(d->vcpus, 2);
    ck_assert_uint_eq(d->cputune.shares, 512);
    ck_assert_uint_eq(d->cputune.cap, 50);
    ck_assert_uint_eq(d->cputune.pins->len, 2);
    ck_assert_int_eq(g_array_index(d->cputune.pins, struct qv_vcpupin, 0).pcpu, 4);
    ck_assert_int_eq(g_array_index(d->cputune.pins, struct qv_vcpupin, 1).pcpu, -1);
    ck_assert_str_eq(g_array_index(d->cputune.pins, struct qv_vcpupin, 1).cpuset, "0-3,^2");
    ck_assert_int_eq(d->numa_node, 0);
    ck_assert_str_eq(d->os.machine, "q35");
    ck_assert(d->os.loader_readonly && d->os.loader_pflash);
    ck_assert_str_eq(d->os.nvram_template, "/usr/share/OVMF/OVMF_VARS.fd");
    ck_assert_str_eq(d->os.cmdline, "console=ttyS0 root=/dev/vda rw");
    ck_assert_uint_eq(g_strv_length(d->os.boot_devs), 3);
    ck_assert_str_eq(d->os.boot_devs[1], "cdrom");
    ck_assert(d->acpi && d->apic);
    ck_assert_int_eq(d->cpu.mode, QV_CPU_MODE_CUSTOM);
    ck_assert_str_eq(d->cpu.model, "Skylake-Client");
    ck_assert_uint_eq(d->cpu.threads, 2);
    ck_assert_str_eq(d->on_crash, "coredump-destroy");
    ck_assert_uint_eq(d->disks->len, 3);
    struct qv_disk *k = g_ptr_array_index(d->disks, 0);
    ck_assert_str_eq(k->driver_type, "qcow2");
    ck_assert_str_eq(k->cache, "none");
    ck_assert_str_eq(k->io, "native");
    ck_assert_str_eq(k->discard, "unmap");
    ck_assert_str_eq(k->backing, "/var/lib/qv/base.qcow2");
    ck_assert_str_eq(k->backing_format, "qcow2");
    ck_assert_uint_eq(k->total_bytes_sec, 10485760);
    ck_assert_uint_eq(k->total_iops_sec, 500);
    ck_assert_uint_eq(k->logical_block_size, 4096);
    ck_assert_uint_eq(k->boot_order, 1);
    k = g_ptr_array_index(d->disks, 1);
    ck_assert_int_eq(k->type, QV_DISK_TYPE_BLOCK);
    ck_assert_int_eq(k->bus, QV_DISK_BUS_SATA);
    k = g_ptr_array_index(d->disks, 2);
    ck_assert_int_eq(k->device, QV_DISK_CDROM);
    ck_assert(k->readonly);
    ck_assert_uint_eq(d->nets->len, 5);
    struct qv_net *n = g_ptr_array_index(d->nets, 0);
    ck_assert_uint_eq(n->host_port, 2222);
    n = g_ptr_array_index(d->nets, 1);
    ck_assert_str_eq(n->source, "br0");
    ck_assert_uint_eq(n->inbound_kbps, 1000);
    ck_assert_uint_eq(n->outbound_kbps, 2000);
    ck_assert_uint_eq(n->inbound_peak_kbps, 3000);
    ck_assert_uint_eq(n->inbound_burst_kib, 512);
    ck_assert_uint_eq(n->outbound_peak_kbps, 0);
    ck_assert_uint_eq(n->boot_order, 3);
    ck_assert_uint_eq(d->serials->len, 4);
    struct qv_chardev *c = g_ptr_array_index(d->serials, 1);
    ck_assert_str_eq(c->target_model, "isa-serial");
    c = g_ptr_array_index(d->serials, 2);
    ck_assert_ptr_null(c->target_model);
    ck_assert(c->listen);
    ck_assert_str_eq(c->path, "/run/qv/full01.sock");
    c = g_ptr_array_index(d->serials, 3);
    ck_assert_str_eq(c->host, "127.0.0.1");
    ck_assert_str_eq(c->service, "4555");
    ck_assert(!c->listen);
    ck_assert_uint_eq(d->consoles->len, 3);
    ck_assert_uint_eq(d->channels->len, 2);
    struct qv_channel *ch = g_ptr_array_index(d->channels, 0);
    ck_assert_str_eq(ch->target_name, "org.qemu.guest_agent.0");
    ck_assert_uint_eq(d->hostdevs->len, 1);
    struct qv_hostdev *h = g_ptr_array_index(d->hostdevs, 0);
    ck_assert_uint_eq(h->bus, 3);
    ck_assert(h->managed);
    ck_assert_str_eq(h->driver, "vfio");
    ck_assert_uint_eq(d->graphics->len, 2);
    ck_assert_int_eq(((struct qv_graphics *)g_ptr_array_index(d->graphics, 0))->port, -1);
    ck_assert_int_eq(((struct qv_graphics *)g_ptr_array_index(d->graphics, 1))->port, 5930);
    ck_assert_uint_eq(d->rngs->len, 1);
    ck_assert_str_eq(((struct qv_rng *)g_ptr_array_index(d->rngs, 0))->backend, "/dev/urandom");
}
END_TEST

#define HEAD                                                                                       \
    "<domain type='kvm'>\n"                                                                        \
    "  <name>t</name>\n"                                                                           \
    "  <memory>1024</memory>\n"                                                                    \
    "  <vcpu>1</vcpu>\n"                                                                           \
    "  <os><type>hvm</type></os>\n"

static uint64_t mem_of(const char *unit, const char *value)
{
    g_autofree char *xml = g_strdup_printf(HEAD "  <currentMemory unit='%s'>%s</currentMemory>\n"
                                                "</domain>",
                                           unit, value);
    g_autoptr(qv_domain) d = qv_domain_parse_xml(xml);
    ck_assert_msg(d != NULL, "unit %s: %s", unit, qv_last_error()->message);
    return d->current_memory_kib;
}

START_TEST(memory_units)
{
    ck_assert_uint_eq(mem_of("b", "1048576"), 1024);
    ck_assert_uint_eq(mem_of("bytes", "1"), 1); /* rounds up to whole KiB */
    ck_assert_uint_eq(mem_of("KiB", "7"), 7);
    ck_assert_uint_eq(mem_of("k", "7"), 7);
    ck_assert_uint_eq(mem_of("KB", "1024"), 1000);
    ck_assert_uint_eq(mem_of("M", "3"), 3 * 1024);
    ck_assert_uint_eq(mem_of("MB", "1"), 977);
    ck_assert_uint_eq(mem_of("GiB", "2"), 2 * 1024 * 1024);
    ck_assert_uint_eq(mem_of("T", "1"), G_GUINT64_CONSTANT(1) << 30);
    ck_assert_uint_eq(mem_of("PiB", "1"), G_GUINT64_CONSTANT(1) << 40);
    ck_assert_uint_eq(mem_of("EiB", "1"), G_GUINT64_CONSTANT(1) << 50);
}
END_TEST

struct bad_case {
    const char *body; /* after HEAD (5 lines) */
    long line;
    const char *needle;
};

static const struct bad_case bad_cases[] = {
    {"  <iothreads>2</iothreads>\n", 6, "unknown element <iothreads> in <domain>"},
    {"  <resource>\n    <partition>/machine/../x</partition>\n", 7,
     "<partition> '/machine/../x' must not have empty, '.' or '..' components"},
    {"  <resource>\n    <fibrechannel appid='a1'/>\n", 7,
     "<resource> child <fibrechannel> (only <partition> is modelled)"},
    {"  <devices>\n    <sound model='ich6'/>\n  </devices>\n", 7,
     "unknown element <sound> in <devices>"},
    {"  <devices>\n    <disk type='file' device='floppy'>\n", 7, "device='floppy' on <disk>"},
    {"  <devices>\n    <disk type='file'>\n      <target dev='vda' bus='scsi2'/>\n", 7,
     "bus='scsi2' on <target>"},
    {"  <devices>\n    <disk type='file' snapshot='no'>\n", 7,
     "unknown attribute 'snapshot' on <disk>"},
    {"  <devices>\n    <disk type='file'>\n      <target dev='vda'/>\n"
     "      <address type='usb' bus='0' port='1'/>\n",
     9, "<address type='usb'> (qv places this device by pci or drive address)"},
    {"  <devices>\n    <disk type='file'>\n      <target dev='vda'/>\n"
     "      <address type='pci' slot='0x20'/>\n",
     9, "<address> slot='0x20' must be a number from 0 to 0x1f"},
    {"  <devices>\n    <interface type='user'>\n      <alias name='ua-n!'/>\n", 8,
     "<alias> name='ua-n!' may only hold letters, digits, '-' and '_'"},
    {"  <devices>\n    <disk type='file'>\n      <source file='/a.img'/>\n    </disk>\n", 7,
     "<disk> needs a <target"},
    {"  <devices>\n    <disk type='file'>\n      <source file='relative.img'/>\n", 8,
     "file on <source> must be an absolute path"},
    {"  <devices>\n    <disk>\n      <target dev='vda'/>\n      <readonly/>\n      <readonly/>\n",
     10, "duplicate element <readonly> (first one is on line 9)"},
    {"  <devices>\n    <disk type='file'>\n      <target dev='vda'/>\n    </disk>\n", 7,
     "<disk device='disk'> needs a <source>"},
    {"  <currentMemory unit='XB'>1</currentMemory>\n", 6, "unknown unit 'XB'"},
    {"  <currentMemory>99999999999999999999999</currentMemory>\n", 6,
     "<currentMemory> value '99999999999999999999999' must be a whole number"},
    {"  <currentMemory>-5</currentMemory>\n", 6, "must be a whole number"},
    {"  <currentMemory unit='EiB'>100000</currentMemory>\n", 6, "value is too large"},
    {"\n\n  <name>u</name>\n", 8, "duplicate element <name> (first one is on line 2)"},
    {"  <devices>\n    <interface type='user'>\n      <mac address='zz:54:00:00:00:01'/>\n", 8,
     "<mac> needs address= as a unicast MAC"},
    {"  <devices>\n    <interface type='user'>\n      <mac address='01:00:5e:00:00:01'/>\n", 8,
     "unicast"},
    {"  <devices>\n    <interface type='vhostuser'>\n", 7, "type='vhostuser' on <interface>"},
    {"  <devices>\n    <interface type='bridge'>\n    </interface>\n", 7,
     "<interface type='bridge'> needs a <source>"},
    {"  <devices>\n    <interface type='user'>\n      <portForward proto='tcp'>\n"
     "        <range start='8080' to='80'/>\n",
     9, "guest port 22"},
    {"  <cputune>\n    <quota>33333</quota>\n  </cputune>\n", 7, "not a whole percentage"},
    {"  <cputune>\n    <period>100000</period>\n  </cputune>\n", 7, "<period> without <quota>"},
    {"  <cputune>\n    <period>100000</period>\n    <quota>200000</quota>\n  </cputune>\n", 8,
     "a cap above 100%"},
    {"  <cputune>\n    <vcpupin vcpu='0' cpuset='abc'/>\n  </cputune>\n", 7,
     "cpuset on <vcpupin> must be a list"},
    {"  <cputune>\n    <shares>0</shares>\n  </cputune>\n", 7,
     "<shares> 0 is out of range (1-65535)"},
    {"  <devices>\n    <hostdev mode='subsystem' type='pci'>\n      <source>\n"
     "        <address domain='0' bus='0' slot='0x20' function='0'/>\n",
     9, "slot='0x20'"},
    {"  <devices>\n    <hostdev mode='subsystem' type='usb'>\n", 7, "type='usb' on <hostdev>"},
    {"  <devices>\n    <graphics type='vnc' port='70000'/>\n", 7, "port='70000'"},
    {"  <devices>\n    <graphics type='sdl'/>\n", 7, "type='sdl' on <graphics>"},
    {"  <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>\n", 6,
     "unknown element <qemu:commandline> in <domain>"},
    {"  <features>junk</features>\n", 6, "unexpected text in <features>"},
    {"  <features>\n    <hap/>\n  </features>\n", 7, "unknown element <hap> in <features>"},
    {"  <on_crash>explode</on_crash>\n", 6, "unsupported <on_crash> value 'explode'"},
    {"  <cpu mode='custom'/>\n", 6, "<cpu mode='custom'> needs a <model>"},
    {"  <cpu mode='host-model'>\n    <topology sockets='1' threads='1'/>\n  </cpu>\n", 7,
     "libvirt's schema refuses it: <topology> does not match it"},
    {"  <numatune>\n    <memory nodeset='0-1'/>\n  </numatune>\n", 7, "one NUMA node"},
    {"  <devices>\n    <disk type='file'>\n      <target dev='vda'/>\n      <boot order='0'/>\n", 9,
     "<boot> needs order= from 1"},
    {"  <devices>\n    <serial type='udp'/>\n", 7, "type='udp' on <serial>"},
    {"  <devices>\n    <serial type='file'>\n      <target port='0'/>\n    </serial>\n", 7,
     "<serial type='file'> needs <source path=...>"},
    {"  <devices>\n    <channel type='unix'>\n      <target type='guestfwd'/>\n", 7,
     "type='guestfwd' on <target>"},
    {"  <devices>\n    <rng model='virtio'>\n      <backend model='egd'/>\n", 7,
     "model='egd' on <backend>"},
    {"  <devices>\n    <disk type='file'>\n      <driver name='qemu' type='qcow9'/>\n", 7,
     "type='qcow9' on <driver>"},
    {"  <devices>\n    <disk type='file'>\n      <blockio logical_block_size='1000'/>\n", 8,
     "power of two"},
    {"  <devices>\n    <disk type='file'>\n      <iotune>\n"
     "        <read_bytes_sec>1</read_bytes_sec>\n",
     7, "unknown element <read_bytes_sec> in <iotune>"},
    {"  <devices>\n    <disk type='file' xml:lang='en'>\n", 7, "unknown attribute 'xml:lang'"},
    {"  <title>two\nlines</title>\n", 6, "<title> must be a single line"},
    {"  <clock offset='utc'>\n    <timer name='rtc'/>\n    <timer name='pit'/>\n"
     "    <timer name='rtc' tickpolicy='catchup'/>\n",
     9, "duplicate <timer name='rtc'> in <clock>"},
};

/* A <loader> attribute qv does not model (stateless=, schema-valid in
 * libvirt 9.0) keeps the loader and its <nvram> as written, in order,
 * rather than refuse the document. */
START_TEST(loader_kept_with_its_nvram)
{
    const char *xml = "<domain type='kvm'><name>l1</name><memory unit='MiB'>64</memory>"
                      "<vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type>"
                      "<loader readonly='yes' type='pflash' stateless='no'>/fw/code.fd</loader>"
                      "<nvram template='/fw/vars.fd'>/var/l1.fd</nvram></os></domain>";
    g_autoptr(qv_domain) d = qv_domain_parse_user_xml(xml);
    ck_assert_msg(d != NULL, "%s", qv_last_error()->message);
    ck_assert_ptr_null(d->os.loader);
    ck_assert_ptr_null(d->os.nvram);
    ck_assert_uint_eq(d->kept->len, 2);
    const struct qv_kept *k0 = g_ptr_array_index(d->kept, 0), *k1 = g_ptr_array_index(d->kept, 1);
    ck_assert_str_eq(k0->parent, "os");
    ck_assert_str_eq(k0->name, "loader");
    ck_assert_str_eq(k1->name, "nvram");
    g_autofree char *out = qv_domain_format_xml(d);
    ck_assert_msg(strstr(out, "stateless=\"no\">/fw/code.fd</loader>") &&
                      strstr(out, "<nvram template=\"/fw/vars.fd\">/var/l1.fd</nvram>"),
                  "%s", out);
    g_autoptr(qv_domain) back = qv_domain_parse_user_xml(out);
    ck_assert_msg(back != NULL, "%s", qv_last_error()->message);
}
END_TEST

START_TEST(bad_xml_names_line_and_element)
{
    const struct bad_case *c = &bad_cases[_i];
    /* Documents are cut right after the offending line: the parser must
     * complain about that element before it notices the missing tail, or
     * the full document is closed properly. */
    g_autofree char *xml = g_strdup_printf(HEAD "%s", c->body);
    /* Close whatever is open so only the intended error remains. */
    g_autoptr(GString) doc = g_string_new(xml);
    g_autoptr(GPtrArray) open = g_ptr_array_new_with_free_func(g_free);
    {
        /* A tiny tag tracker: good enough for the fixed bodies above. */
        const char *p = xml;
        while ((p = strchr(p, '<'))) {
            if (p[1] == '/') {
                if (open->len)
                    g_ptr_array_remove_index(open, open->len - 1);
            } else if (p[1] != '?' && p[1] != '!') {
                const char *e = p + 1;
                while (*e && !g_ascii_isspace(*e) && *e != '>' && *e != '/')
                    e++;
                const char *close = strchr(p, '>');
                if (close && close[-1] != '/')
                    g_ptr_array_add(open, g_strndup(p + 1, (gsize)(e - p - 1)));
            }
            p++;
        }
    }
    for (guint i = open->len; i > 0; i--)
        g_string_append_printf(doc, "</%s>\n", (char *)g_ptr_array_index(open, i - 1));
    qv_reset_error();
    struct qv_domain *d = qv_domain_parse_user_xml(doc->str);
    if (d) {
        /* Schema-valid but not in qv's model: kept whole, with qv's reason,
         * and refused by every driver that runs something. */
        const struct qv_kept *k = NULL;
        for (guint i = 0; i < d->kept->len && !k; i++)
            if (strstr(((struct qv_kept *)g_ptr_array_index(d->kept, i))->reason, c->needle))
                k = g_ptr_array_index(d->kept, i);
        ck_assert_msg(k, "case %d: accepted without keeping \"%s\":\n%s", _i, c->needle, doc->str);
        ck_assert_int_eq(qv_domain_check_kept(d, "qemu", NULL), QV_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(qv_last_error()->message, "the qemu driver cannot honour <"), "%s",
                      qv_last_error()->message);

        qv_domain_free(d);
        return;
    }
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_XML);
    g_autofree char *prefix = g_strdup_printf("domain XML line %ld: ", c->line);
    const char *msg = qv_last_error()->message;

    ck_assert_msg(g_str_has_prefix(msg, prefix) && strstr(msg, c->needle),
                  "case %d: expected \"%s...%s\", got \"%s\" for:\n%s", _i, prefix, c->needle, msg,
                  doc->str);
}
END_TEST

static void expect_xml_error(const char *xml, const char *needle)
{
    qv_reset_error();
    struct qv_domain *d = qv_domain_parse_xml(xml);
    ck_assert_msg(d == NULL, "accepted: %.200s", xml);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_XML);
    ck_assert_msg(strstr(qv_last_error()->message, needle), "expected \"%s\" in \"%s\"", needle,
                  qv_last_error()->message);
}

START_TEST(malformed_and_hostile)
{
    expect_xml_error("<domain type='kvm'>\n<name>a</nam>\n</domain>", "domain XML line 2:");
    expect_xml_error("", "domain XML line 1:");
    expect_xml_error("<network/>", "the root element must be <domain>");
    expect_xml_error("<domain type='kvm'><memory>1</memory><vcpu>1</vcpu>"
                     "<os><type>hvm</type></os></domain>",
                     "<domain> needs a <name>");
    expect_xml_error("<domain><name>a</name></domain>", "<domain> needs a type attribute");
    expect_xml_error("<domain type='kvm'><name>a</name><memory>1024</memory><vcpu>1</vcpu>"
                     "<os><type>hvm</type></os><devices><interface type='bridge'>"
                     "<source bridge='br0'/><bandwidth>\n<inbound average='100' peak='50'/>"
                     "</bandwidth></interface></devices></domain>",
                     "line 2: <inbound> peak=50 is below average=100");
    /* XXE: an external entity must never be read. */
    expect_xml_error("<?xml version='1.0'?>\n<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
                     "\n<domain type='kvm'><name>&x;</name></domain>",
                     "DOCTYPE and entity declarations are not allowed");
    /* Billion laughs. */
    GString *bl = g_string_new("<?xml version='1.0'?>\n<!DOCTYPE d [\n<!ENTITY a 'aaaaaaaaaa'>\n");
    for (int i = 1; i < 10; i++)
        g_string_append_printf(bl, "<!ENTITY %c '&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;'>\n",
                               'a' + i, 'a' + i - 1, 'a' + i - 1, 'a' + i - 1, 'a' + i - 1,
                               'a' + i - 1, 'a' + i - 1, 'a' + i - 1, 'a' + i - 1, 'a' + i - 1,
                               'a' + i - 1);
    g_string_append(bl, "]>\n<domain type='kvm'><name>&j;</name></domain>");
    expect_xml_error(bl->str, "not allowed");
    g_string_free(bl, TRUE);
    /* An undeclared entity is an error, not an empty string. */
    expect_xml_error("<domain type='kvm'><name>&x;</name></domain>", "domain XML line 1:");
    /* 10,000 levels of nesting. */
    GString *deep = g_string_new("<domain type='kvm'>");
    for (int i = 0; i < 10000; i++)
        g_string_append(deep, "<devices>");
    for (int i = 0; i < 10000; i++)
        g_string_append(deep, "</devices>");
    g_string_append(deep, "</domain>");
    expect_xml_error(deep->str, "domain XML line 1:");
    g_string_free(deep, TRUE);
    /* Oversized documents are refused before parsing. */
    gsize big = 5u * 1024 * 1024;
    char *huge = g_malloc(big + 1);
    memset(huge, ' ', big);
    memcpy(huge, "<domain>", 8);
    huge[big] = '\0';
    expect_xml_error(huge, "larger than the limit");
    g_free(huge);
}
END_TEST

START_TEST(device_xml)
{
    struct qv_disk *disk;
    struct qv_net *net;
    struct qv_hostdev *hd;
    ck_assert_int_eq(qv_domain_parse_device_xml("<disk type='file' device='disk'>\n"
                                                "  <driver name='qemu' type='raw'/>\n"
                                                "  <source file='/var/lib/qv/b.img'/>\n"
                                                "  <target dev='vdb' bus='virtio'/>\n"
                                                "</disk>",
                                                &disk, &net, &hd),
                     0);
    ck_assert(disk && !net && !hd);
    ck_assert_str_eq(disk->target, "vdb");
    ck_assert_str_eq(disk->source, "/var/lib/qv/b.img");
    qv_disk_free(disk);
    ck_assert_int_eq(qv_domain_parse_device_xml("<interface type='network'>"
                                                "<source network='default'/>"
                                                "<mac address='52:54:00:AA:bb:cc'/>"
                                                "</interface>",
                                                &disk, &net, &hd),
                     0);
    ck_assert(net && !disk && !hd);
    ck_assert_str_eq(net->mac, "52:54:00:aa:bb:cc");
    qv_net_free(net);
    ck_assert_int_eq(
        qv_domain_parse_device_xml("<hostdev mode='subsystem' type='pci' managed='no'><source>"
                                   "<address domain='0x0001' bus='0x3' slot='31' function='7'/>"
                                   "</source></hostdev>",
                                   &disk, &net, &hd),
        0);
    ck_assert(hd && !disk && !net);
    ck_assert_uint_eq(hd->domain, 1);
    ck_assert_uint_eq(hd->slot, 31);
    ck_assert_uint_eq(hd->function, 7);
    ck_assert(!hd->managed);
    qv_hostdev_free(hd);
    qv_reset_error();
    ck_assert_int_eq(qv_domain_parse_device_xml("<controller type='usb'/>", &disk, &net, &hd),
                     QV_ERR_XML);
    ck_assert(!disk && !net && !hd);
    ck_assert_str_eq(qv_last_error()->message,
                     "device XML line 1: unsupported device <controller> (expected <disk>, "
                     "<interface> or <hostdev>)");
    ck_assert_int_eq(qv_domain_parse_device_xml("<disk type='file'>\n<target dev='vda'/>\n"
                                                "<shareable/></disk>",
                                                &disk, &net, &hd),
                     QV_ERR_XML);
    ck_assert_str_eq(qv_last_error()->message,
                     "device XML line 3: unknown element <shareable> in <disk>");
}
END_TEST

/* A definition built in code (as vm_create does) also formats validly. */
START_TEST(format_minimal_struct)
{
    g_autoptr(qv_domain) d = qv_domain_new();
    d->name = g_strdup("bare");
    d->memory_kib = 65536;
    d->vcpus = d->max_vcpus = 1;
    qv_domain_fill_defaults(d);
    g_autofree char *why = conf_check_roundtrip(d);
    ck_assert_msg(why == NULL, "%s", why);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conf_xml");
    TCase *t = tcase_create("xml");
    tcase_add_test(t, samples_roundtrip);
    tcase_add_test(t, virt_xml_validate_accepts);
    tcase_add_test(t, full_sample_values);
    tcase_add_test(t, memory_units);
    tcase_add_loop_test(t, bad_xml_names_line_and_element, 0, G_N_ELEMENTS(bad_cases));
    tcase_add_test(t, malformed_and_hostile);
    tcase_add_test(t, device_xml);
    tcase_add_test(t, loader_kept_with_its_nvram);
    tcase_add_test(t, format_minimal_struct);
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
