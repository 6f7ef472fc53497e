/* The libvirt corpus (tests/data/xml/libvirt, made by
 * tests/corpus/gen_libvirt_corpus.sh): domain XML exactly as libvirt 9.0's
 * `virsh dumpxml` writes it, inactive (NAME.xml) and running (NAME.live.xml). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "conf_helpers.h"
#include "lib/util/error.h"

#define CORPUS "xml/libvirt"

/* The committed data is what libvirt wrote: schema-valid, one domain per
 * file, and both kinds present (a regenerated corpus that lost its running
 * documents would silently test less). */
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
    ck_assert_uint_ge(live, 10);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conf_corpus");
    TCase *t = tcase_create("corpus");
    tcase_add_test(t, corpus_is_libvirt_output);
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
