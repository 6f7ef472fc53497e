/* Two corpora of domain XML written by libvirt's own tools:
 * - tests/data/xml/libvirt (tests/corpus/gen_libvirt_corpus.sh): exactly as
 *   libvirt 9.0's `virsh dumpxml` writes it, inactive (NAME.xml) and
 *   running (NAME.live.xml);
 * - tests/data/xml/virtinst (tests/corpus/gen_virtinst_corpus.sh): what
 *   Debian's `virt-install --print-xml` writes for a range of its options,
 *   before libvirt fills anything in. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <libxml/parser.h>

#include "conf_helpers.h"
#include "lib/conf/xml_schema.h"
#include "lib/util/error.h"
#include "qv/qv.h"

static const char *const corpora[] = {"xml/libvirt", "xml/virtinst"};
#define CORPUS corpora[_i]

/* The committed data is what libvirt wrote: schema-valid, one domain per
 * file, and for virsh both kinds present (a regenerated corpus that lost
 * its running documents would silently test less). */
START_TEST(corpus_is_libvirt_output)
{
    g_autoptr(GPtrArray) files = conf_list_data(CORPUS, ".xml");
    guint live = 0;
    ck_assert_uint_ge(files->len, 30);
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *xml = NULL;
        ck_assert(g_file_get_contents(path, &xml, NULL, NULL));
        g_autofree char *bad = conf_rng_errors(xml);
        ck_assert_msg(bad == NULL, "%s: not valid libvirt XML: %s", path, bad);
        if (g_str_has_suffix(path, ".live.xml")) {
            live++;
            ck_assert_msg(strstr(xml, "<domain type='qemu' id='"), "%s: no id=", path);
        }
    }
    ck_assert_uint_ge(live, _i == 0 ? 10 : 0);
}
END_TEST

/* Every element path (domain/devices/controller/address) and attribute
 * path (domain/devices/controller@model) of a document, counted. */
static void count_paths(const xmlNode *n, const char *prefix, GHashTable *counts)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        char *path = g_strdup_printf("%s/%s%s%s", prefix, n->ns ? (const char *)n->ns->prefix : "",
                                     n->ns ? ":" : "", (const char *)n->name);
        g_hash_table_replace(
            counts, path,
            GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(counts, path)) + 1));
        for (const xmlAttr *a = n->properties; a; a = a->next) {
            char *ap = g_strdup_printf("%s@%s", path, (const char *)a->name);
            g_hash_table_insert(
                counts, ap,
                GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(counts, ap)) + 1));
        }
        count_paths(n->children, path, counts);
    }
}

static GHashTable *paths_of(const char *xml, bool drop_live)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
    ck_assert(doc);
    if (drop_live)
        qv_conf_xml_drop_live(doc);
    GHashTable *counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    count_paths(xmlDocGetRootElement(doc), "", counts);
    xmlFreeDoc(doc);
    return counts;
}

/* What the user wrote is all there: each element and attribute path of the
 * input (running-domain details dropped) appears at least as often in the
 * output. Returns the first missing path, or NULL. */
static char *first_lost(const char *in, const char *out)
{
    g_autoptr(GHashTable) a = paths_of(in, true);
    g_autoptr(GHashTable) b = paths_of(out, false);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, a);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (GPOINTER_TO_UINT(g_hash_table_lookup(b, k)) < GPOINTER_TO_UINT(v))
            return g_strdup(k);
    return NULL;
}

static bool run_tool(const char *const *argv, char **err)
{
    g_autofree char *so = NULL, *se = NULL;
    int status = 0;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &so, &se, &status,
                      NULL))
        return false;
    *err = g_strconcat(so ? so : "", se ? se : "", NULL);
    return g_spawn_check_wait_status(status, NULL);
}

/* Each document defines on noop (stored on disk), comes back from `vm show
 * --xml` schema-valid (libxml2 RelaxNG and virt-xml-validate) with
 * everything it said, and reads back from the store unchanged. */
static void noop_round_trip(const char *corpus)
{
    g_autoptr(GPtrArray) files = conf_list_data(corpus, ".xml");
    ck_assert_uint_gt(files->len, 0);
    g_autofree char *dir = g_dir_make_tmp("qv-corpus-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("noop://%s", dir);
    const char *tool = "/usr/bin/virt-xml-validate";
    bool have_tool = g_file_test(tool, G_FILE_TEST_IS_EXECUTABLE);
    if (!have_tool)
        printf("virt-xml-validate not installed (libvirt-clients): RelaxNG check only\n");
    struct qv_conn *conn = qv_connect(uri);
    ck_assert_msg(conn, "%s: %s", uri, qv_last_error()->message);
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *xml = NULL;
        ck_assert(g_file_get_contents(path, &xml, NULL, NULL));
        /* Inactive and live documents share names and UUIDs: one at a time. */
        struct vm *vm = vm_define_xml(conn, xml);
        ck_assert_msg(vm, "%s: noop refuses it: %s", path, qv_last_error()->message);
        g_autofree char *out = vm_get_xml(vm);
        ck_assert(out);
        g_autofree char *bad = conf_rng_errors(out);
        ck_assert_msg(bad == NULL, "%s: vm show --xml is not schema-valid: %s\n%s", path, bad, out);
        g_autofree char *lost = first_lost(xml, out);
        ck_assert_msg(lost == NULL, "%s: vm show --xml lost %s:\n%s", path, lost, out);
        if (have_tool) {
            g_autofree char *file = g_build_filename(dir, "out.xml", NULL);
            ck_assert(g_file_set_contents(file, out, -1, NULL));
            const char *argv[] = {tool, file, "domain", NULL};
            g_autofree char *err = NULL;
            ck_assert_msg(run_tool(argv, &err), "%s: virt-xml-validate: %s", path, err);
            g_unlink(file);
        }
        /* A second connection reads the stored definition afresh. */
        struct qv_conn *c2 = qv_connect(uri);
        ck_assert(c2);
        g_autofree char *name = vm_get_name(vm) ? g_strdup(vm_get_name(vm)) : NULL;
        struct vm *again = vm_lookup(c2, name);
        ck_assert_msg(again, "%s: %s", path, qv_last_error()->message);
        g_autofree char *out2 = vm_get_xml(again);
        ck_assert_str_eq(out, out2);
        vm_free(again);
        qv_close(c2);
        vm_destroy(vm);
    }
    qv_close(conn);
    g_rmdir(dir);
}

START_TEST(corpus_defines_on_noop_and_round_trips)
{
    noop_round_trip(CORPUS);
}
END_TEST

/* Documents of other hypervisors as their libvirt drivers take them
 * (tests/data/xml/foreign: LXC's <type>exe</type> with <init>, Xen PV's
 * <type>linux</type>): noop stores them as written, the drivers that run
 * VMs refuse the domain type. */
START_TEST(foreign_os_types_store_on_noop)
{
    noop_round_trip("xml/foreign");
    /* hvm only where qv runs it. */
    g_autoptr(qv_domain) d = qv_domain_parse_user_xml(
        "<domain type='kvm'><name>x</name><memory>65536</memory><vcpu>1</vcpu>\n"
        "<os><type>exe</type><init>/bin/sh</init></os></domain>");
    ck_assert(d == NULL);
    ck_assert_str_eq(qv_last_error()->message, "domain XML line 2: unsupported OS type 'exe' on "
                                               "<domain type='kvm'> (expected hvm)");
    /* The JSON config says it as boot.os_type. */
    g_autoptr(qv_domain) j =
        qv_domain_parse_json("{\"name\":\"c1\",\"type\":\"lxc\",\"vcpus\":1,\"memory\":\"64M\","
                             "\"boot\":{\"os_type\":\"exe\"}}");
    ck_assert_msg(j, "%s", qv_last_error()->message);
    g_autofree char *jx = qv_domain_format_xml(j);
    ck_assert_msg(strstr(jx, "<type>exe</type>"), "%s", jx);
    g_autofree char *bad = conf_rng_errors(jx);
    ck_assert_msg(bad == NULL, "%s\n%s", bad, jx);
    g_autofree char *jj = qv_domain_format_json(j);
    ck_assert_msg(strstr(jj, "\"os_type\" : \"exe\""), "%s", jj);
}
END_TEST

/* The qemu driver defines what it can honour and refuses the rest at
 * define, naming the element and its line; the tally by element is the
 * figure docs/xml.md reports. */
START_TEST(corpus_on_qemu_defines_or_names_the_element)
{
    g_autoptr(GPtrArray) files = conf_list_data(CORPUS, ".xml");
    g_autofree char *dir = g_dir_make_tmp("qv-corpus-qemu-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("qemu:///session?root=%s", dir);
    struct qv_conn *conn = qv_connect(uri);
    ck_assert_msg(conn, "%s: %s", uri, qv_last_error()->message);
    g_autoptr(GHashTable) reasons = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint accepted = 0;
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *xml = NULL;
        ck_assert(g_file_get_contents(path, &xml, NULL, NULL));
        struct vm *vm = vm_define_xml(conn, xml);
        if (vm) {
            accepted++;
            vm_destroy(vm);
            continue;
        }
        const char *msg = qv_last_error()->message;
        ck_assert_int_eq(qv_last_error()->code, QV_ERR_UNSUPPORTED);
        /* The reason names an element: the first <...> after the VM's name
         * (kept elements also with their line). */
        const char *after = strstr(msg, "': ");
        const char *el = strchr(after ? after : msg, '<');
        ck_assert_msg(el && strchr(el, '>'), "%s: %s", path, msg);
        if (strstr(msg, "cannot honour <"))
            ck_assert_msg(strstr(msg, "(line "), "%s: %s", path, msg);
        gsize n = strcspn(el, " >");
        char *key = g_strdup_printf("%.*s>", (int)n, el);
        g_hash_table_replace(
            reasons, key,
            GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(reasons, key)) + 1));
    }
    printf("qemu: %u of %u %s documents define;", accepted, files->len, CORPUS);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, reasons);
    while (g_hash_table_iter_next(&it, &k, &v))
        printf(" %s %u", (char *)k, GPOINTER_TO_UINT(v));
    printf("\n");
    qv_close(conn);
    g_autofree char *rm = g_strdup_printf("rm -rf -- '%s'", dir);
    ck_assert_int_eq(system(rm), 0);
}
END_TEST

/* `vm show --json` of each document: when JSON can say all of it, `vm
 * create --config` of that JSON gives the same definition back; when it
 * cannot, the JSON lists what it leaves out and is not taken for the whole
 * definition. */
START_TEST(corpus_json_route)
{
    g_autoptr(GPtrArray) files = conf_list_data(CORPUS, ".xml");
    guint whole = 0;
    g_autoptr(GHashTable) why = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *xml = NULL;
        ck_assert(g_file_get_contents(path, &xml, NULL, NULL));
        g_autoptr(qv_domain) def = qv_domain_parse_user_xml(xml);
        ck_assert_msg(def, "%s: %s", path, qv_last_error()->message);
        qv_domain_fill_defaults(def);
        g_autofree char *json = qv_domain_format_json(def);
        ck_assert(json);
        qv_reset_error();
        g_autoptr(qv_domain) back = qv_domain_parse_json(json);
        const char *lo = strstr(json, "\"left_out\"");
        if (lo) {
            ck_assert_msg(back == NULL, "%s: JSON with left_out was taken", path);
            ck_assert_msg(strstr(qv_last_error()->message, "$.left_out: "), "%s",
                          qv_last_error()->message);
            /* The first thing left out, for the tally. */
            const char *q = strchr(lo + 11, '"');
            gsize n = q ? strcspn(q + 1, "\" ") : 0;
            char *key = g_strndup(q ? q + 1 : "?", n);
            g_hash_table_replace(
                why, key, GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(why, key)) + 1));
            continue;
        }
        ck_assert_msg(back, "%s: own JSON refused: %s\n%s", path, qv_last_error()->message, json);
        g_autofree char *x1 = qv_domain_format_xml(def);
        g_autofree char *x2 = qv_domain_format_xml(back);
        ck_assert_msg(strcmp(x1, x2) == 0, "%s: the JSON route changed it:\n%s---\n%s", path, x1,
                      x2);
        whole++;
    }
    printf("json: %u of %u %s documents say all in JSON; left out first:", whole, files->len,
           CORPUS);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, why);
    while (g_hash_table_iter_next(&it, &k, &v))
        printf(" %s %u", (char *)k, GPOINTER_TO_UINT(v));
    printf("\n");
}
END_TEST

static struct qv_domain *user(const char *devices, const char *extra)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu' id='7'>\n<name>u</name><memory>65536</memory><vcpu>1</vcpu>\n"
        "<os><type arch='x86_64'>hvm</type></os>\n<devices>\n%s</devices>\n%s</domain>\n",
        devices, extra);
    qv_reset_error();
    return qv_domain_parse_user_xml(xml);
}

/* Running-domain output: libvirt's live-only details go, the user's stay. */
START_TEST(live_details_dropped_user_ones_kept)
{
    g_autoptr(qv_domain) d = user(
        "<input type='tablet' bus='usb'><alias name='input0'/></input>\n"
        "<input type='mouse' bus='ps2'><alias name='ua-mouse'/></input>\n",
        "<seclabel type='dynamic' model='dac' relabel='yes'><label>+0:+0</label></seclabel>\n"
        "<seclabel type='static' model='dac' relabel='no'><label>+107:+107</label></seclabel>\n");
    ck_assert_msg(d, "%s", qv_last_error()->message);
    g_autofree char *out = qv_domain_format_xml(d);
    ck_assert_msg(!strstr(out, " id=") && !strstr(out, "input0") && !strstr(out, "+0:+0"), "%s",
                  out);
    ck_assert_msg(strstr(out, "ua-mouse") && strstr(out, "+107:+107") && strstr(out, "tablet"),
                  "%s", out);
    g_autofree char *bad = conf_rng_errors(out);
    ck_assert_msg(bad == NULL, "%s\n%s", bad, out);
    /* Every driver that runs something refuses what it cannot honour. */
    ck_assert_int_eq(qv_domain_check_kept(d, "kvm", NULL), QV_ERR_UNSUPPORTED);
    ck_assert_str_eq(qv_last_error()->message, "VM 'u': the kvm driver cannot honour <input> "
                                               "(line 5): unknown element <input> in <devices>");
}
END_TEST

/* A running domain's NIC on a libvirt network: the port libvirt took, the
 * bridge behind it and the tap it made go; the network stays. */
START_TEST(live_network_nic_defines_as_configured)
{
    g_autoptr(qv_domain) d =
        user("<interface type='network'>\n"
             "  <mac address='52:54:00:6b:3c:58'/>\n"
             "  <source network='default' portid='9d7d1a8f-5e83-4a2d-8c3d-0f6e5a3b8f11' "
             "bridge='virbr0'/>\n"
             "  <target dev='vnet3'/>\n"
             "  <model type='virtio'/>\n"
             "  <alias name='net0'/>\n"
             "  <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>\n"
             "</interface>\n"
             "<interface type='bridge'>\n"
             "  <source bridge='br0'/>\n"
             "  <target dev='macvtap0'/>\n"
             "</interface>\n",
             "");
    ck_assert_msg(d, "%s", qv_last_error()->message);
    ck_assert_uint_eq(d->kept->len, 0); /* both NICs are modelled, none kept whole */
    const struct qv_net *n = g_ptr_array_index(d->nets, 0);
    ck_assert_int_eq(n->type, QV_NET_NETWORK);
    ck_assert_str_eq(n->source, "default");
    ck_assert_int_eq(n->addr.type, QV_ADDR_PCI);
    g_autofree char *out = qv_domain_format_xml(d);
    ck_assert_msg(!strstr(out, "portid") && !strstr(out, "virbr0") && !strstr(out, "vnet3") &&
                      !strstr(out, "macvtap0") && !strstr(out, "net0"),
                  "%s", out);
    g_autofree char *bad = conf_rng_errors(out);
    ck_assert_msg(bad == NULL, "%s\n%s", bad, out);
    /* A tap the user named stays: libvirt keeps it too. */
    g_autoptr(qv_domain) t =
        user("<interface type='ethernet'><target dev='tap-web'/></interface>\n", "");
    ck_assert_msg(t, "%s", qv_last_error()->message);
    g_autofree char *tout = qv_domain_format_xml(t);
    ck_assert_msg(strstr(tout, "tap-web"), "%s", tout);
}
END_TEST

/* The schema's verdict, at the line of what it refuses. */
START_TEST(schema_refusal_names_line)
{
    ck_assert(user("<input type='tablet' bus='usb' colour='red'/>\n", "") == NULL);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_XML);
    ck_assert_msg(g_str_has_prefix(qv_last_error()->message,
                                   "domain XML line 5: libvirt's schema refuses it: attribute "
                                   "'colour' on <input> is not valid there"),
                  "%s", qv_last_error()->message);
    ck_assert(user("", "<clock offset='sideways'/>\n") == NULL);
    ck_assert_msg(g_str_has_prefix(qv_last_error()->message,
                                   "domain XML line 6: libvirt's schema refuses it: <clock> does "
                                   "not match it"),
                  "%s", qv_last_error()->message);
    /* qv's own rules still come first, with qv's words. */
    ck_assert(user("", "<cputune><shares>0</shares></cputune>\n") == NULL);
    ck_assert_str_eq(qv_last_error()->message,
                     "domain XML line 6: <shares> 0 is out of range (1-65535)");
}
END_TEST

/* Every hypervisor type libvirt's schema names defines on noop, which runs
 * nothing, and comes back as written; the drivers that run VMs refuse the
 * ones they are not (kvm_conf, qemu_argv and test_propolis check that). */
START_TEST(foreign_domain_types_store_on_noop)
{
    static const char *const types[] = {"xen", "lxc", "vmware", "hyperv", "vbox", "bhyve"};
    g_autofree char *dir = g_dir_make_tmp("qv-corpus-types-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("noop://%s", dir);
    struct qv_conn *conn = qv_connect(uri);
    ck_assert(conn);
    for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
        g_autofree char *xml = g_strdup_printf(
            "<domain type='%s'><name>t%zu</name><memory>65536</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64'>hvm</type></os></domain>",
            types[i], i);
        struct vm *vm = vm_define_xml(conn, xml);
        ck_assert_msg(vm, "%s: %s", types[i], qv_last_error()->message);
        g_autofree char *out = vm_get_xml(vm);
        g_autofree char *want = g_strdup_printf("<domain type=\"%s\">", types[i]);
        ck_assert_msg(strstr(out, want), "%s", out);
        vm_destroy(vm);
    }
    qv_close(conn);
    g_rmdir(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conf_corpus");
    TCase *t = tcase_create("corpus");
    tcase_add_loop_test(t, corpus_is_libvirt_output, 0, G_N_ELEMENTS(corpora));
    tcase_add_loop_test(t, corpus_defines_on_noop_and_round_trips, 0, G_N_ELEMENTS(corpora));
    tcase_add_loop_test(t, corpus_on_qemu_defines_or_names_the_element, 0, G_N_ELEMENTS(corpora));
    tcase_add_loop_test(t, corpus_json_route, 0, G_N_ELEMENTS(corpora));
    tcase_add_test(t, live_details_dropped_user_ones_kept);
    tcase_add_test(t, live_network_nic_defines_as_configured);
    tcase_add_test(t, schema_refusal_names_line);
    tcase_add_test(t, foreign_domain_types_store_on_noop);
    tcase_add_test(t, foreign_os_types_store_on_noop);
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
