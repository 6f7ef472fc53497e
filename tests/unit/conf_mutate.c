/* Thousands of damaged XML and JSON documents, made deterministically from
 * the samples: truncated, garbled, deeply nested, with huge numbers,
 * duplicated or swapped parts and missing attributes. Each one must either
 * be refused with a non-empty message, or give a definition that -- when
 * qv_domain_validate accepts it -- formats to schema-valid XML, is a
 * parse/format fixed point, and survives the JSON route unchanged. Nothing
 * may crash (CI runs this under ASan+UBSan). */
#include <check.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "conf_helpers.h"
#include "lib/util/error.h"

struct tally {
    int total, refused, invalid, accepted;
};

static struct tally xml_tally, json_tally;

/* Fixed seeds keep runs reproducible; QV_MUTATE_SEED explores others. */
static guint32 seed(guint32 fixed)
{
    const char *env = g_getenv("QV_MUTATE_SEED");
    return env ? fixed ^ (guint32)g_ascii_strtoull(env, NULL, 0) : fixed;
}

static void check_accepted(struct qv_domain *def, const char *doc)
{
    qv_domain_fill_defaults(def);
    g_autofree char *why = conf_check_roundtrip(def);
    if (why)
        fprintf(stderr, "--- input:\n%s\n--- problem:\n%s\n", doc, why);
    ck_assert_msg(why == NULL, "accepted document breaks the round trip: %.2000s", why);
    g_autofree char *json = qv_domain_format_json(def);
    if (strstr(json, "\"left_out\"")) {
        /* JSON cannot say it all: it says so, and is not taken for all. */
        ck_assert(qv_domain_parse_json(json) == NULL);
        ck_assert_msg(strstr(qv_last_error()->message, "$.left_out: "), "%s",
                      qv_last_error()->message);
        return;
    }
    g_autoptr(qv_domain) back = qv_domain_parse_json(json);
    if (!back)
        fprintf(stderr, "--- own JSON refused:\n%s\n", json);
    ck_assert_msg(back != NULL, "own JSON refused: %s", qv_last_error()->message);
    g_autofree char *x1 = qv_domain_format_xml(def);
    g_autofree char *x2 = qv_domain_format_xml(back);
    if (strcmp(x1, x2) != 0)
        fprintf(stderr, "--- JSON route changed the definition:\n%s---\n%s", x1, x2);
    ck_assert_msg(strcmp(x1, x2) == 0, "JSON route changed the definition (see stderr)");
}

static void try_doc(const char *doc, bool is_json)
{
    struct tally *t = is_json ? &json_tally : &xml_tally;
    t->total++;
    qv_reset_error();
    g_autoptr(qv_domain) def = is_json ? qv_domain_parse_json(doc) : qv_domain_parse_user_xml(doc);
    if (!def) {
        ck_assert_msg(qv_last_error()->code == (is_json ? QV_ERR_JSON : QV_ERR_XML),
                      "refused with code %d (%s)", qv_last_error()->code, qv_last_error()->message);
        ck_assert_msg(qv_last_error()->message[0] != '\0', "refused without a message:\n%.2000s",
                      doc);
        t->refused++;
        return;
    }
    if (qv_domain_validate(def) < 0) {
        ck_assert(qv_last_error()->message[0] != '\0');
        t->invalid++;
        return;
    }
    check_accepted(def, doc);
    t->accepted++;
}

/* ---- text mutations, shared by XML and JSON ---- */

static const char *const huge_numbers[] = {
    "99999999999999999999999",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775808",
    "9223372036854775807",
    "4294967296",
    "4294967295",
    "2147483648",
    "65536",
    "65535",
    "-1",
    "0",
    "-9223372036854775808",
    "1e308",
    "0x10",
    "00000000000000000000001",
};

static char *truncate_at(const char *s, gsize off)
{
    return g_strndup(s, off);
}

static char *garble(GRand *r, const char *s)
{
    char *d = g_strdup(s);
    gsize len = strlen(d);
    int n = g_rand_int_range(r, 1, 9);
    for (int i = 0; i < n && len; i++)
        d[g_rand_int_range(r, 0, (gint32)len)] = (char)g_rand_int_range(r, 1, 256);
    return d;
}

static char *insert_junk(GRand *r, const char *s)
{
    static const char pieces[][16] = {"<",    ">", "</", "/>", "'", "\"", "&", "&amp;",   "]]>",
                                      "<!--", "{", "}",  "[",  "]", ",",  ":", "\\u0000", "\\"};
    gsize len = strlen(s);
    gsize at = (gsize)g_rand_int_range(r, 0, (gint32)len + 1);
    GString *g = g_string_new_len(s, (gssize)at);
    int n = g_rand_int_range(r, 1, 4);
    for (int i = 0; i < n; i++) {
        if (g_rand_boolean(r))
            g_string_append(g, pieces[g_rand_int_range(r, 0, G_N_ELEMENTS(pieces))]);
        else
            g_string_append_c(g, (char)g_rand_int_range(r, 1, 256));
    }
    g_string_append(g, s + at);
    return g_string_free(g, FALSE);
}

static char *delete_span(GRand *r, const char *s)
{
    gsize len = strlen(s);
    gsize at = (gsize)g_rand_int_range(r, 0, (gint32)len);
    gsize n = (gsize)g_rand_int_range(r, 1, 40);
    if (at + n > len)
        n = len - at;
    GString *g = g_string_new_len(s, (gssize)at);
    g_string_append(g, s + at + n);
    return g_string_free(g, FALSE);
}

/* Replace the k-th run of digits with a huge or hostile number. */
static char *huge_number(GRand *r, const char *s)
{
    GPtrArray *runs = g_ptr_array_new();
    for (const char *p = s; *p; p++) {
        if (g_ascii_isdigit(*p) && (p == s || !g_ascii_isalnum(p[-1]))) {
            g_ptr_array_add(runs, (gpointer)p);
            while (g_ascii_isdigit(p[1]))
                p++;
        }
    }
    char *out;
    if (runs->len == 0) {
        out = g_strdup(s);
    } else {
        const char *p = g_ptr_array_index(runs, g_rand_int_range(r, 0, (gint32)runs->len));
        const char *e = p;
        while (g_ascii_isdigit(*e))
            e++;
        GString *g = g_string_new_len(s, p - s);
        g_string_append(g, huge_numbers[g_rand_int_range(r, 0, G_N_ELEMENTS(huge_numbers))]);
        g_string_append(g, e);
        out = g_string_free(g, FALSE);
    }
    g_ptr_array_free(runs, TRUE);
    return out;
}

static char *line_op(GRand *r, const char *s, bool swap)
{
    g_auto(GStrv) lines = g_strsplit(s, "\n", -1);
    guint n = g_strv_length(lines);
    if (n < 3)
        return g_strdup(s);
    guint a = (guint)g_rand_int_range(r, 1, (gint32)n - 1);
    guint b = (guint)g_rand_int_range(r, 1, (gint32)n - 1);
    GString *g = g_string_new(NULL);
    for (guint i = 0; i < n; i++) {
        const char *line = lines[i];
        if (swap && i == a)
            line = lines[b];
        else if (swap && i == b)
            line = lines[a];
        g_string_append(g, line);
        if (i + 1 < n)
            g_string_append_c(g, '\n');
        if (!swap && i == a) /* duplicate line a */
            g_string_append_printf(g, "%s\n", lines[a]);
    }
    return g_string_free(g, FALSE);
}

/* ---- XML-specific mutations ---- */

static GRegex *attr_re;

static char *attr_op(GRand *r, const char *s, bool swap)
{
    g_autoptr(GMatchInfo) mi = NULL;
    GArray *starts = g_array_new(FALSE, FALSE, sizeof(int) * 4);
    g_regex_match(attr_re, s, 0, &mi);
    while (g_match_info_matches(mi)) {
        int pos[4];
        g_match_info_fetch_pos(mi, 0, &pos[0], &pos[1]);
        g_match_info_fetch_pos(mi, 2, &pos[2], &pos[3]);
        g_array_append_vals(starts, pos, 1);
        g_match_info_next(mi, NULL);
    }
    char *out;
    if (starts->len < 2) {
        out = g_strdup(s);
    } else if (!swap) {
        int *m = &g_array_index(starts, int, 4 * g_rand_int_range(r, 0, (gint32)starts->len));
        GString *g = g_string_new_len(s, m[0]);
        g_string_append(g, s + m[1]);
        out = g_string_free(g, FALSE);
    } else {
        /* Swap the values of two attributes (a MAC into a port, ...). */
        guint i = (guint)g_rand_int_range(r, 0, (gint32)starts->len);
        guint j = (guint)g_rand_int_range(r, 0, (gint32)starts->len);
        if (i > j) {
            guint t = i;
            i = j;
            j = t;
        }
        int *a = &g_array_index(starts, int, 4 * i);
        int *b = &g_array_index(starts, int, 4 * j);
        if (i == j) {
            out = g_strdup(s);
        } else {
            GString *g = g_string_new_len(s, a[2]);
            g_string_append_len(g, s + b[2], b[3] - b[2]);
            g_string_append_len(g, s + a[3], b[2] - a[3]);
            g_string_append_len(g, s + a[2], a[3] - a[2]);
            g_string_append(g, s + b[3]);
            out = g_string_free(g, FALSE);
        }
    }
    g_array_free(starts, TRUE);
    return out;
}

/* Rename one element to another name the parser knows elsewhere. */
static char *rename_elem(GRand *r, const char *s)
{
    static const char *const names[] = {"disk",   "interface", "source",  "target",  "driver",
                                        "boot",   "memory",    "vcpu",    "os",      "cpu",
                                        "serial", "console",   "hostdev", "address", "model",
                                        "rng",    "backend",   "features"};
    GPtrArray *tags = g_ptr_array_new();
    for (const char *p = s; *p; p++)
        if (p[0] == '<' && g_ascii_isalpha(p[1]))
            g_ptr_array_add(tags, (gpointer)(p + 1));
    char *out = g_strdup(s);
    if (tags->len) {
        const char *p = g_ptr_array_index(tags, g_rand_int_range(r, 0, (gint32)tags->len));
        const char *e = p;
        while (g_ascii_isalnum(*e) || *e == '_')
            e++;
        GString *g = g_string_new_len(s, p - s);
        g_string_append(g, names[g_rand_int_range(r, 0, G_N_ELEMENTS(names))]);
        g_string_append(g, e);
        g_free(out);
        out = g_string_free(g, FALSE);
    }
    g_ptr_array_free(tags, TRUE);
    return out;
}

static void run_text_mutations(GRand *r, const char *s, bool is_json)
{
    gsize len = strlen(s);
    /* Truncation at 60 offsets spread over the document, plus one just
     * before and after each of 20 random markup characters. */
    for (int k = 0; k < 60; k++) {
        g_autofree char *d = truncate_at(s, len * (gsize)k / 60);
        try_doc(d, is_json);
    }
    for (int k = 0; k < 20; k++) {
        gsize at = (gsize)g_rand_int_range(r, 0, (gint32)len);
        while (at < len && !strchr(is_json ? "{}[]\":," : "<>'\"=/", s[at]))
            at++;
        g_autofree char *a = truncate_at(s, at);
        g_autofree char *b = truncate_at(s, MIN(at + 1, len));
        try_doc(a, is_json);
        try_doc(b, is_json);
    }
    for (int k = 0; k < 40; k++) {
        g_autofree char *d = garble(r, s);
        try_doc(d, is_json);
    }
    for (int k = 0; k < 25; k++) {
        g_autofree char *d = insert_junk(r, s);
        try_doc(d, is_json);
    }
    for (int k = 0; k < 20; k++) {
        g_autofree char *d = delete_span(r, s);
        try_doc(d, is_json);
    }
    for (int k = 0; k < 40; k++) {
        g_autofree char *d = huge_number(r, s);
        try_doc(d, is_json);
    }
    for (int k = 0; k < 20; k++) {
        g_autofree char *d = line_op(r, s, false);
        try_doc(d, is_json);
        g_autofree char *e = line_op(r, s, true);
        try_doc(e, is_json);
    }
}

START_TEST(mutated_xml)
{
    attr_re = g_regex_new("\\s([a-zA-Z_]+)=(?:'([^']*)'|\"([^\"]*)\")", 0, 0, NULL);
    GRand *r = g_rand_new_with_seed(seed(0x9e3779b9));
    g_autoptr(GPtrArray) files = conf_list_data("xml", ".xml");
    for (guint f = 0; f < files->len; f++) {
        g_autofree char *s = NULL;
        ck_assert(g_file_get_contents(g_ptr_array_index(files, f), &s, NULL, NULL));
        run_text_mutations(r, s, false);
        for (int k = 0; k < 25; k++) {
            g_autofree char *a = attr_op(r, s, false);
            try_doc(a, false);
            g_autofree char *b = attr_op(r, s, true);
            try_doc(b, false);
        }
        for (int k = 0; k < 25; k++) {
            g_autofree char *d = rename_elem(r, s);
            try_doc(d, false);
        }
        /* Splice a line of another sample in: valid pieces in new places. */
        for (int k = 0; k < 25; k++) {
            g_autofree char *other = NULL;
            guint o = (guint)g_rand_int_range(r, 0, (gint32)files->len);
            ck_assert(g_file_get_contents(g_ptr_array_index(files, o), &other, NULL, NULL));
            g_auto(GStrv) from = g_strsplit(other, "\n", -1);
            g_auto(GStrv) into = g_strsplit(s, "\n", -1);
            guint nf = g_strv_length(from), ni = g_strv_length(into);
            guint at = (guint)g_rand_int_range(r, 1, (gint32)ni);
            const char *line = from[g_rand_int_range(r, 0, (gint32)nf)];
            GString *g = g_string_new(NULL);
            for (guint i = 0; i < ni; i++) {
                if (i == at)
                    g_string_append_printf(g, "%s\n", line);
                g_string_append_printf(g, "%s\n", into[i]);
            }
            try_doc(g->str, false);
            g_string_free(g, TRUE);
        }
    }
    /* 10,000 levels of nesting in several places. */
    static const char *const wraps[] = {"devices", "disk", "foo", "os"};
    for (guint w = 0; w < G_N_ELEMENTS(wraps); w++) {
        GString *g = g_string_new("<domain type='kvm'><name>deep</name>");
        for (int i = 0; i < 10000; i++)
            g_string_append_printf(g, "<%s>", wraps[w]);
        for (int i = 0; i < 10000; i++)
            g_string_append_printf(g, "</%s>", wraps[w]);
        g_string_append(g, "</domain>");
        try_doc(g->str, false);
        g_string_free(g, TRUE);
    }
    g_rand_free(r);
    g_regex_unref(attr_re);
    printf("XML: %d mutated documents: %d refused by the parser, %d by validation, %d accepted "
           "(schema-valid, fixed point)\n",
           xml_tally.total, xml_tally.refused, xml_tally.invalid, xml_tally.accepted);
    ck_assert_int_ge(xml_tally.total, 1500);
    /* The mutations must exercise both outcomes. */
    ck_assert_int_gt(xml_tally.refused, 0);
    ck_assert_int_gt(xml_tally.accepted, 0);
}
END_TEST

/* ---- JSON structural mutations ---- */

static void collect_objects(JsonNode *n, GPtrArray *out)
{
    if (JSON_NODE_HOLDS_OBJECT(n)) {
        JsonObject *o = json_node_get_object(n);
        g_ptr_array_add(out, o);
        g_autoptr(GList) members = json_object_get_members(o);
        for (GList *m = members; m; m = m->next)
            collect_objects(json_object_get_member(o, m->data), out);
    } else if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++)
            collect_objects(json_array_get_element(a, i), out);
    }
}

static JsonNode *random_value(GRand *r)
{
    JsonNode *v;
    switch (g_rand_int_range(r, 0, 9)) {
    case 0: v = json_node_init_string(json_node_alloc(), "/dev/null"); break;
    case 1: v = json_node_init_string(json_node_alloc(), "\x01 bad\nline"); break;
    case 2: v = json_node_init_int(json_node_alloc(), -1); break;
    case 3: v = json_node_init_int(json_node_alloc(), G_MAXINT64); break;
    case 4: v = json_node_init_double(json_node_alloc(), 1.5); break;
    case 5: v = json_node_init_boolean(json_node_alloc(), TRUE); break;
    case 6: v = json_node_init_null(json_node_alloc()); break;
    case 7: v = json_node_init_array(json_node_alloc(), json_array_new()); break;
    default: v = json_node_init_object(json_node_alloc(), json_object_new()); break;
    }
    return v;
}

static char *json_structural(GRand *r, const char *s)
{
    g_autoptr(JsonParser) p = json_parser_new();
    ck_assert(json_parser_load_from_data(p, s, -1, NULL));
    JsonNode *root = json_parser_get_root(p);
    g_autoptr(GPtrArray) objs = g_ptr_array_new();
    collect_objects(root, objs);
    JsonObject *o = g_ptr_array_index(objs, g_rand_int_range(r, 0, (gint32)objs->len));
    g_autoptr(GList) members = json_object_get_members(o);
    guint n = g_list_length(members);
    if (n) {
        const char *key = g_list_nth_data(members, (guint)g_rand_int_range(r, 0, (gint32)n));
        switch (g_rand_int_range(r, 0, 3)) {
        case 0: json_object_remove_member(o, key); break;
        case 1: json_object_set_member(o, key, random_value(r)); break;
        default: json_object_set_member(o, "unexpected_key", random_value(r)); break;
        }
    }
    g_autoptr(JsonGenerator) g = json_generator_new();
    json_generator_set_root(g, root);
    return json_generator_to_data(g, NULL);
}

START_TEST(mutated_json)
{
    GRand *r = g_rand_new_with_seed(seed(0x85ebca6b));
    g_autoptr(GPtrArray) files = conf_list_data("json", ".json");
    for (guint f = 0; f < files->len; f++) {
        g_autofree char *s = NULL;
        ck_assert(g_file_get_contents(g_ptr_array_index(files, f), &s, NULL, NULL));
        run_text_mutations(r, s, true);
        for (int k = 0; k < 100; k++) {
            g_autofree char *d = json_structural(r, s);
            try_doc(d, true);
        }
    }
    for (int w = 0; w < 2; w++) {
        GString *g = g_string_new("{\"name\":\"deep\",\"vcpus\":1,\"memory\":1024,\"devices\":");
        for (int i = 0; i < 10000; i++)
            g_string_append(g, w ? "{\"a\":" : "[");
        g_string_append(g, "1");
        for (int i = 0; i < 10000; i++)
            g_string_append(g, w ? "}" : "]");
        g_string_append(g, "}");
        try_doc(g->str, true);
        g_string_free(g, TRUE);
    }
    g_rand_free(r);
    printf("JSON: %d mutated documents: %d refused by the parser, %d by validation, %d "
           "accepted\n",
           json_tally.total, json_tally.refused, json_tally.invalid, json_tally.accepted);
    ck_assert_int_ge(json_tally.total, 800);
    ck_assert_int_gt(json_tally.refused, 0);
    ck_assert_int_gt(json_tally.accepted, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conf_mutate");
    TCase *t = tcase_create("mutate");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, mutated_xml);
    tcase_add_test(t, mutated_json);
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
