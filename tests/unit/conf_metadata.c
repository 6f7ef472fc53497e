/* <metadata>: other applications' children come back as written, qv's
 * <qv:cloud-init> is modelled, both validate against libvirt's schema, and
 * what qv refuses in its own namespace or in the documents is named. */
#include <check.h>
#include <string.h>

#include "conf_helpers.h"
#include "include/qv/vm.h"
#include "lib/conf/domain.h"
#include "lib/util/error.h"

#define HEAD "<domain type='kvm'><name>m1</name><memory>65536</memory><vcpu>1</vcpu>"
#define TAIL "<os><type>hvm</type></os></domain>"
#define QVNS "xmlns:qv='https://libqv.org/xmlns/domain/1.0'"

static struct qv_domain *parse_user(const char *xml)
{
    qv_reset_error();
    return qv_domain_parse_user_xml(xml);
}

START_TEST(others_kept_with_cloud_init)
{
    const char *xml = HEAD "<metadata><!-- kept --><?app-pi data?><app:info "
                           "xmlns:app='http://example.com/app/1'>"
                           "<app:owner id='7'>ops &amp; dev</app:owner></app:info>"
                           "<qv:domain " QVNS "><qv:cloud-init><qv:user-data>#cloud-config\n"
                           "runcmd: [echo, '&lt;hi&gt;']\n</qv:user-data></qv:cloud-init>"
                           "</qv:domain></metadata>" TAIL;
    g_autoptr(qv_domain) d = parse_user(xml);
    ck_assert_msg(d != NULL, "%s", qv_last_error()->message);
    ck_assert_ptr_nonnull(d->cloud_init);
    ck_assert_str_eq(d->cloud_init->user_data, "#cloud-config\nruncmd: [echo, '<hi>']\n");
    ck_assert_ptr_null(d->cloud_init->meta_data);
    ck_assert_ptr_nonnull(d->metadata);
    ck_assert_int_eq(d->kept->len, 0);
    g_autofree char *why = conf_check_roundtrip(d);
    ck_assert_msg(why == NULL, "%s", why);
    g_autofree char *out = qv_domain_format_xml(d);
    ck_assert_msg(strstr(out, "<app:owner id=\"7\">ops &amp; dev</app:owner>"), "%s", out);
    ck_assert_msg(strstr(out, "xmlns:app=\"http://example.com/app/1\""), "%s", out);
    ck_assert_msg(strstr(out, "<!-- kept -->"), "%s", out);
    ck_assert_msg(strstr(out, "<?app-pi data?>"), "%s", out);
    ck_assert_msg(strstr(out, "runcmd: [echo, '&lt;hi&gt;']"), "%s", out);
    /* Formatted and read again: the same documents. */
    g_autoptr(qv_domain) again = qv_domain_parse_xml(out);
    ck_assert_ptr_nonnull(again);
    ck_assert_str_eq(again->cloud_init->user_data, d->cloud_init->user_data);
    g_autofree char *out2 = qv_domain_format_xml(again);
    ck_assert_str_eq(out2, out);
    /* The JSON config carries cloud-init, and the other applications'
     * metadata as XML text, and gives the same definition back. */
    g_autofree char *json = qv_domain_format_json(d);
    ck_assert_msg(strstr(json, "\"cloud_init\""), "%s", json);
    ck_assert_msg(strstr(json, "\"metadata\"") && strstr(json, "app:owner"), "%s", json);
    ck_assert_msg(!strstr(json, "left_out"), "%s", json);
    g_autoptr(qv_domain) from_json = qv_domain_parse_json(json);
    ck_assert_msg(from_json, "%s", qv_last_error()->message);
    g_autofree char *out3 = qv_domain_format_xml(from_json);
    ck_assert_str_eq(out3, out);
    /* qv's own element is not smuggled in through it. */
    g_autofree char *smuggled = g_strdup_printf(
        "{\"name\": \"m\", \"vcpus\": 1, \"memory\": \"64M\", \"metadata\": "
        "\"<qv:domain xmlns:qv='%s'><qv:cloud-init><qv:user-data>x</qv:user-data>"
        "</qv:cloud-init></qv:domain>\"}",
        "https://libqv.org/xmlns/domain/1.0");
    ck_assert_ptr_null(qv_domain_parse_json(smuggled));
    ck_assert_msg(strstr(qv_last_error()->message, "$.metadata: ") &&
                      strstr(qv_last_error()->message, "cloud_init"),
                  "%s", qv_last_error()->message);
}
END_TEST

START_TEST(refusals_named)
{
    static const struct {
        const char *metadata, *needle;
    } cases[] = {
        {"<qv:cloud-init/>", "needs a <qv:user-data>"},
        {"<qv:cloud-init><qv:user-data>a</qv:user-data><qv:user-data>b</qv:user-data>"
         "</qv:cloud-init>",
         "a second <qv:user-data>"},
        {"<qv:cloud-init><qv:userdata>a</qv:userdata></qv:cloud-init>",
         "unknown element <userdata> in <qv:cloud-init>"},
        {"<qv:cloudinit/>", "unknown element <cloudinit> in <qv:domain>"},
        {"<qv:hostdev address='0000:01:00.0' type='gpu'/>",
         "<qv:hostdev address='0000:01:00.0'> names no <hostdev>"},
        {"<qv:hostdev address='0000:01:00.0' type='sound'/>", "type"},
        {"<qv:cloud-init><qv:user-data>x</qv:user-data>"
         "<qv:meta-data>instance-id: i-1\n</qv:meta-data></qv:cloud-init>",
         "meta-data sets instance-id"},
        {"<qv:cloud-init><qv:user-data>x</qv:user-data>"
         "<qv:meta-data>{\"local-hostname\": \"a\"}</qv:meta-data></qv:cloud-init>",
         "meta-data is flow-style YAML or JSON"},
        {"<qv:cloud-init><qv:user-data>x</qv:user-data>"
         "<qv:meta-data>a: 1\n---\nb: 2\n</qv:meta-data></qv:cloud-init>",
         "document marker"},
        {"<qv:cloud-init><qv:user-data>  \n </qv:user-data></qv:cloud-init>",
         "user-data is empty"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *xml = g_strconcat(HEAD "<metadata><qv:domain " QVNS ">", cases[i].metadata,
                                           "</qv:domain></metadata>" TAIL, NULL);
        g_autoptr(qv_domain) d = parse_user(xml);
        if (d && qv_domain_validate(d) == 0)
            ck_abort_msg("case %zu accepted", i);
        ck_assert_msg(strstr(qv_last_error()->message, cases[i].needle), "case %zu: %s", i,
                      qv_last_error()->message);
    }
    /* Larger than the limit. */
    GString *big = g_string_new("#cloud-config\n");
    while (big->len <= 256 * 1024)
        g_string_append(big, "# padding padding padding padding padding padding padding\n");
    g_autofree char *xml = g_strdup_printf(HEAD "<metadata><qv:domain " QVNS
                                                "><qv:cloud-init><qv:user-data>%s</qv:user-data>"
                                                "</qv:cloud-init></qv:domain></metadata>" TAIL,
                                           big->str);
    g_string_free(big, TRUE);
    g_autoptr(qv_domain) d = parse_user(xml);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(qv_domain_validate(d), QV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(qv_last_error()->message, "larger than 262144 bytes"), "%s",
                  qv_last_error()->message);
}
END_TEST

/* instance-id only counts as a top-level key; a definition whose XML would
 * be larger than qv reads back is refused when formatted, so no driver
 * stores it. */
START_TEST(limits_of_what_is_refused)
{
    g_autoptr(qv_domain) d = parse_user(HEAD "<metadata><qv:domain " QVNS "><qv:cloud-init>"
                                             "<qv:user-data>x</qv:user-data><qv:meta-data>"
                                             "description: no instance-id here\n"
                                             "</qv:meta-data></qv:cloud-init></qv:domain>"
                                             "</metadata>" TAIL);
    ck_assert_msg(d != NULL && qv_domain_validate(d) == 0, "%s", qv_last_error()->message);
    static const char *const keyed[] = {"\"instance-id\": a\n", "'instance-id': a\n",
                                        "x: 1\ninstance-id : a\n"};
    for (size_t i = 0; i < G_N_ELEMENTS(keyed); i++) {
        g_free(d->cloud_init->meta_data);
        d->cloud_init->meta_data = g_strdup(keyed[i]);
        ck_assert_int_eq(qv_domain_validate(d), QV_ERR_INVALID_ARG);
    }
    /* Each document within its limit, the whole past 4 MiB once escaped. */
    g_clear_pointer(&d->cloud_init->meta_data, g_free);
    g_free(d->cloud_init->user_data);
    d->cloud_init->user_data = g_strnfill(QV_CLOUD_INIT_MAX_BYTES, '&');
    g_autofree char *fill = g_strnfill(3u << 20, 'b');
    d->metadata = g_strdup_printf("<big>%s</big>", fill);
    ck_assert_int_eq(qv_domain_validate(d), 0);
    ck_assert_ptr_null(qv_domain_format_xml(d));
    ck_assert_msg(strstr(qv_last_error()->message, "more than the 4194304 qv reads back"), "%s",
                  qv_last_error()->message);
}
END_TEST

START_TEST(meta_data_gets_qv_keys)
{
    g_autofree char *xml = conf_read_data("xml/cloud-init.xml");
    g_autoptr(qv_domain) d = qv_domain_parse_xml(xml);
    ck_assert_msg(d != NULL, "%s", qv_last_error()->message);
    g_autofree char *md = qv_conf_cloud_init_meta_data(d);
    /* The user named the host: qv adds only the instance-id. */
    ck_assert_str_eq(md, "instance-id: 4dea22b3-1d52-d8f3-2516-782e98ab3fa0\n"
                         "local-hostname: web01\n");
    g_clear_pointer(&d->cloud_init->meta_data, g_free);
    g_free(md);
    md = qv_conf_cloud_init_meta_data(d);
    ck_assert_str_eq(md, "instance-id: 4dea22b3-1d52-d8f3-2516-782e98ab3fa0\n"
                         "local-hostname: ci-sample\n");
}
END_TEST

/* A <hostdev> given as a gpu: the JSON config's type, <qv:hostdev> in the
 * XML (wherever <metadata> stands), the same after every trip. */
START_TEST(hostdev_roles)
{
    const char *json = "{\"name\": \"g1\", \"vcpus\": 1, \"memory\": \"64M\", \"devices\": "
                       "{\"pci_passthrough\": [{\"bdf\": \"0000:01:00.0\", \"type\": \"gpu\"},"
                       " {\"bdf\": \"02:00.0\", \"type\": \"nic\"}, {\"bdf\": \"03:00.0\"}]}}";
    g_autoptr(qv_domain) d = qv_domain_parse_json(json);
    ck_assert_msg(d != NULL, "%s", qv_last_error()->message);
    g_autofree char *why = conf_check_roundtrip(d);
    ck_assert_msg(why == NULL, "%s", why);
    g_autofree char *xml = qv_domain_format_xml(d);
    ck_assert_msg(strstr(xml, "<qv:hostdev address=\"0000:01:00.0\" type=\"gpu\"/>"), "%s", xml);
    ck_assert_msg(strstr(xml, "<qv:hostdev address=\"0000:02:00.0\" type=\"nic\"/>"), "%s", xml);
    ck_assert_ptr_null(strstr(xml, "0000:03:00.0\" type"));
    g_autoptr(qv_domain) back = parse_user(xml);
    ck_assert_msg(back != NULL, "%s", qv_last_error()->message);
    ck_assert_str_eq(((struct qv_hostdev *)g_ptr_array_index(back->hostdevs, 0))->role, "gpu");
    ck_assert_str_eq(((struct qv_hostdev *)g_ptr_array_index(back->hostdevs, 1))->role, "nic");
    ck_assert_ptr_null(((struct qv_hostdev *)g_ptr_array_index(back->hostdevs, 2))->role);
    g_autofree char *json2 = qv_domain_format_json(back);
    ck_assert_msg(strstr(json2, "\"type\" : \"gpu\""), "%s", json2);
    ck_assert_msg(strstr(json2, "\"type\" : \"nic\""), "%s", json2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf_metadata");
    TCase *tc = tcase_create("metadata");
    tcase_add_test(tc, others_kept_with_cloud_init);
    tcase_add_test(tc, refusals_named);
    tcase_add_test(tc, meta_data_gets_qv_keys);
    tcase_add_test(tc, hostdev_roles);
    tcase_add_test(tc, limits_of_what_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
