#include "conf_helpers.h"

#include <check.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>

#include "lib/util/error.h"

static const char *source_dir(void)
{
    const char *d = g_getenv("QV_SOURCE_DIR");
    return d ? d : ".";
}

char *conf_read_data(const char *rel)
{
    g_autofree char *path = g_build_filename(source_dir(), "tests", "data", rel, NULL);
    char *text = NULL;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(path, &text, NULL, &err))
        ck_abort_msg("cannot read %s: %s", path, err->message);
    return text;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *conf_list_data(const char *dir, const char *suffix)
{
    g_autofree char *path = g_build_filename(source_dir(), "tests", "data", dir, NULL);
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    ck_assert_msg(d != NULL, "cannot open %s", path);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)))
        if (g_str_has_suffix(name, suffix))
            g_ptr_array_add(out, g_build_filename(path, name, NULL));
    g_ptr_array_sort(out, cmp_str);
    return out;
}

static xmlRelaxNGPtr schema;
static xmlRelaxNGValidCtxtPtr valid;

static void collect(void *ctx, xmlErrorPtr e)
{
    GString *s = ctx;
    g_string_append_printf(s, "line %d: %s", e->line, e->message ? e->message : "?");
}

static void load_schema(void)
{
    if (valid)
        return;
    ck_assert_msg(g_file_test(QV_DOMAIN_RNG, G_FILE_TEST_EXISTS),
                  "%s is missing: install libvirt0 (scripts/setup.sh does)", QV_DOMAIN_RNG);
    xmlRelaxNGParserCtxtPtr p = xmlRelaxNGNewParserCtxt(QV_DOMAIN_RNG);
    schema = xmlRelaxNGParse(p);
    xmlRelaxNGFreeParserCtxt(p);
    ck_assert_msg(schema != NULL, "libxml2 cannot load %s", QV_DOMAIN_RNG);
    valid = xmlRelaxNGNewValidCtxt(schema);
}

char *conf_rng_errors(const char *xml)
{
    load_schema();
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "formatted.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return g_strdup("formatted XML is not well-formed");
    GString *errs = g_string_new(NULL);
    xmlRelaxNGSetValidStructuredErrors(valid, collect, errs);
    int rc = xmlRelaxNGValidateDoc(valid, doc);
    xmlFreeDoc(doc);
    if (rc == 0) {
        g_string_free(errs, TRUE);
        return NULL;
    }
    if (errs->len == 0)
        g_string_append(errs, "does not validate");
    return g_string_free(errs, FALSE);
}

char *conf_check_roundtrip(const struct qv_domain *def)
{
    g_autofree char *x1 = qv_domain_format_xml(def);
    if (!x1)
        return g_strdup_printf("format failed: %s", qv_last_error()->message);
    char *bad = conf_rng_errors(x1);
    if (bad) {
        char *r = g_strdup_printf("schema rejects:\n%s\n%s", x1, bad);
        g_free(bad);
        return r;
    }
    g_autoptr(qv_domain) again = qv_domain_parse_xml(x1);
    if (!again)
        return g_strdup_printf("cannot re-parse own output: %s\n%s", qv_last_error()->message, x1);
    g_autofree char *x2 = qv_domain_format_xml(again);
    if (g_strcmp0(x1, x2) != 0)
        return g_strdup_printf("not a fixed point:\n--- first\n%s--- second\n%s", x1, x2);
    return NULL;
}
