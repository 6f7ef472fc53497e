/* The bounded JSON reader every outside document goes through
 * (lib/util/json_bounded.c): what json-glib would accept, crash on, wrap
 * or truncate is either parsed within the limits or refused with its line
 * and column. */
#include <check.h>
#include <fcntl.h>
#include <qv/qv.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_helpers.h"
#include "lib/conf/xml_util.h"
#include "lib/proc/proc.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"

/* Parse text (len -1: strlen); NULL with *msg set on failure. */
static JsonNode *parse(const char *text, gssize len, char **msg)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n = qv_json_parse_bounded(text, len < 0 ? strlen(text) : (size_t)len, "x.json", &err);
    ck_assert((n == NULL) == (err != NULL));
    if (msg)
        *msg = err ? g_strdup(err->message) : NULL;
    return n;
}

static void refused(const char *text, gssize len, const char *message)
{
    g_autofree char *msg = NULL;
    JsonNode *n = parse(text, len, &msg);
    ck_assert_msg(n == NULL, "accepted: %.80s", text);
    ck_assert_msg(g_str_has_prefix(msg, message), "for %.80s\nexpected \"%s...\"\n     got \"%s\"",
                  text, message, msg);
}

static JsonNode *accepted(const char *text)
{
    g_autofree char *msg = NULL;
    JsonNode *n = parse(text, -1, &msg);
    ck_assert_msg(n != NULL, "refused %s: %s", text, msg);
    return n;
}

static char *repeat(const char *prefix, const char *unit, int n, const char *suffix)
{
    GString *s = g_string_new(prefix);
    for (int i = 0; i < n; i++)
        g_string_append(s, unit);
    g_string_append(s, suffix);
    return g_string_free(s, FALSE);
}

/* The reproducer: a comment hiding a quote used to blind the
 * depth pre-scan, and json-glib recursed until SIGSEGV. */
START_TEST(comments_hide_nothing)
{
    g_autofree char *bomb = repeat("/*\"*/", "[", 100000, "\n");
    refused(bomb, -1, "x.json line 1, column 70: nesting deeper than 64 levels");
    g_autofree char *line = repeat("// \" [[[ '\n", "[", 100000, "");
    refused(line, -1, "x.json line 2, column 65: nesting deeper than 64 levels");
    g_autofree char *quote = repeat("[\"\\\"/*\",", "[", 100000, "");
    refused(quote, -1, "x.json line 1, column 72: nesting deeper than 64 levels");
    /* json-glib 1.6 ends a "//" comment at the next '/', and reads
     * single-quoted strings: neither may hide brackets from the limit. */
    g_autofree char *slash = repeat("// a / b\n", "[", 100000, "");
    refused(slash, -1, "x.json line 2, column 65: nesting deeper than 64 levels");
    refused("['[[[[']", -1, "x.json line 1, column 2: expected a value or ']', found \"'\"");
}
END_TEST

START_TEST(comments_are_blank)
{
    g_autoptr(JsonNode) n = accepted("// leading\n"
                                     "{ /* a \"quote\", a ] and a // inside */\n"
                                     "  \"a\": \"/* not a comment */\", // trailing \" ]\n"
                                     "  \"b\": [1, /* } */ 2], \"c\": \"\\\"//\\\"\"\n"
                                     "} /* after */ // end");
    JsonObject *o = json_node_get_object(n);
    ck_assert_str_eq(json_object_get_string_member(o, "a"), "/* not a comment */");
    ck_assert_int_eq(json_array_get_length(json_object_get_array_member(o, "b")), 2);
    ck_assert_str_eq(json_object_get_string_member(o, "c"), "\"//\"");
    refused("{} /* open", -1, "x.json line 1, column 4: comment is not closed with */");
    refused("{\"a\":1 / 2}", -1, "x.json line 1, column 8: '/' that does not start a");
    refused("/*/ {}", -1, "x.json line 1, column 1: comment is not closed with */");
}
END_TEST

START_TEST(depth_limit)
{
    /* 64 levels are fine, 65 are not, counting objects and arrays alike. */
    g_autofree char *ok = repeat("", "[", QV_JSON_MAX_DEPTH - 1, "{}");
    GString *closed = g_string_new(ok);
    for (int i = 0; i < QV_JSON_MAX_DEPTH - 1; i++)
        g_string_append_c(closed, ']');
    g_autoptr(JsonNode) n = accepted(closed->str);
    g_string_free(closed, TRUE);
    g_autofree char *deep = repeat("", "{\"k\":", QV_JSON_MAX_DEPTH, "[]");
    refused(deep, -1, "x.json line 1, column 321: nesting deeper than 64 levels");
}
END_TEST

START_TEST(numbers)
{
    g_autoptr(JsonNode) max =
        accepted("[9223372036854775807, -9223372036854775808, 1.5e300, -0, 0.25]");
    JsonArray *a = json_node_get_array(max);
    ck_assert_int_eq(json_array_get_int_element(a, 0), INT64_MAX);
    ck_assert_int_eq(json_array_get_int_element(a, 1), INT64_MIN);
    refused("[9223372036854775808]", -1,
            "x.json line 1, column 2: integer 9223372036854775808 is out of range (more than 64 "
            "bits)");
    refused("18446744073709551616", -1, "x.json line 1, column 1: integer 18446744073709551616 is");
    refused("-9223372036854775809", -1, "x.json line 1, column 1: integer -9223372036854775809 is");
    refused("123456789012345678901234567890", -1,
            "x.json line 1, column 1: integer 123456789012345678901234... is out of range");
    refused("[012]", -1, "x.json line 1, column 2: number with a leading zero");
    refused("[0x10]", -1, "x.json line 1, column 2: malformed number '0x10'");
    refused("[1.]", -1, "x.json line 1, column 2: malformed number '1.'");
    refused("[- 1]", -1, "x.json line 1, column 2: malformed number '-'");
    refused("[$ff]", -1, "x.json line 1, column 2: expected a value or ']', found '$'");
    refused("[1e999]", -1,
            "x.json line 1, column 2: number 1e999 is out of range (beyond a double)");
    refused("[.5]", -1, "x.json line 1, column 2: expected a value or ']', found '.'");
}
END_TEST

START_TEST(strings)
{
    g_autoptr(JsonNode) n = accepted("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\ud83d\\ude00\"]");
    JsonArray *a = json_node_get_array(n);
    ck_assert_str_eq(json_array_get_string_element(a, 0), "\"\\/\b\f\n\r\t");
    ck_assert_str_eq(json_array_get_string_element(a, 1), "\xc3\xa9\xf0\x9f\x98\x80");
    refused("{\"name\": \"a\\u0000b\"}", -1,
            "x.json line 1, column 12: \\u0000 (a NUL character) is not allowed in a string");
    /* json-glib would swallow the closing quote after a lone surrogate. */
    refused("[\"\\ud800\"]", -1, "x.json line 1, column 3: \\ud800 is a high surrogate without");
    refused("[\"\\udc00\"]", -1, "x.json line 1, column 3: \\udc00 is a low surrogate");
    refused("[\"\\u12\"]", -1, "x.json line 1, column 3: \\u must be followed by four");
    refused("[\"\\x41\"]", -1, "x.json line 1, column 3: unknown escape \\ followed by 'x'");
    refused("[\"a\nb\"]", -1, "x.json line 1, column 4: control character U+000A in a string");
    refused("[\"open", -1, "x.json line 1, column 2: string is not closed with '\"'");
    refused("['single']", -1, "x.json line 1, column 2: expected a value or ']', found \"'\"");
    refused("[\"\xff\"]", -1, "x.json line 1, column 3: invalid UTF-8 (byte 0xff)");
}
END_TEST

START_TEST(structure)
{
    refused("{\"a\":1} x", -1, "x.json line 1, column 9: unexpected 'x' after the end");
    refused("{\"a\":1}\n\n  {\"b\":2}", -1,
            "x.json line 3, column 3: unexpected '{' after the end");
    refused("1 2", -1, "x.json line 1, column 3: unexpected '2' after the end");
    refused("{\"a\":1,}", -1, "x.json line 1, column 8: expected a member name in double quotes");
    refused("[1,]", -1, "x.json line 1, column 4: expected a value, found ']'");
    refused("{\"a\" 1}", -1, "x.json line 1, column 6: expected ':' after the member name");
    refused("{\"a\":1]", -1, "x.json line 1, column 7: expected ',' or '}', found ']'");
    refused("[1}", -1, "x.json line 1, column 3: expected ',' or ']', found '}'");
    refused("{a:1}", -1, "x.json line 1, column 2: expected a member name in double quotes or");
    refused("[True]", -1, "x.json line 1, column 2: unknown word 'True'");
    refused("[nullx]", -1, "x.json line 1, column 2: unknown word 'nullx'");
    refused("[1,\n  [2,\n", -1,
            "x.json line 3, column 1: unexpected end: the '[' on line 2, column 3 is not closed");
    refused("", 0, "x.json is empty (no JSON value)");
    refused("  // only a comment\n", -1, "x.json is empty (no JSON value)");
    g_autoptr(JsonNode) n = accepted(" \t\r\n[true, false, null, {}, []] \n");
    ck_assert_int_eq(json_array_get_length(json_node_get_array(n)), 5);
}
END_TEST

START_TEST(nul_and_size)
{
    /* Nothing after a NUL is silently dropped. */
    static const char nul[] = "{\"a\":1}\0{\"b\":[[[";
    refused(nul, sizeof(nul) - 1, "x.json line 1, column 8: NUL byte");
    static const char mid[] = "{\"a\":\n\"x\0y\"}";
    refused(mid, sizeof(mid) - 1, "x.json line 2, column 3: NUL byte");
    gsize big = QV_JSON_MAX_BYTES + 1;
    g_autofree char *huge = g_malloc(big);
    memset(huge, ' ', big);
    huge[0] = '1';
    refused(huge, (gssize)big, "x.json is larger than the limit of 4194304 bytes");
    /* At the limit exactly, the document is read. */
    g_autofree char *at_limit = g_strndup(huge, big - 1);
    g_autoptr(JsonNode) n = accepted(at_limit);
}
END_TEST

/* "[0,0,...]" as n values in all (the array and n - 1 zeros). */
static char *zeros(const char *prefix, unsigned n)
{
    GString *s = g_string_new(prefix);
    g_string_append_c(s, '[');
    for (unsigned i = 1; i < n; i++)
        g_string_append(s, i > 1 ? ",0" : "0");
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

/* A 4 MiB "[0,0,...]" grew to 150 MB in json-glib, "[{},{},...]" to 420
 * MB: the number of values is bounded too, comments and strings hiding
 * nothing from the count, and every kind of value counting once. */
START_TEST(value_limit)
{
    ck_assert_uint_eq(QV_JSON_MAX_VALUES, 131072);
    g_autofree char *at = zeros("", QV_JSON_MAX_VALUES);
    g_autoptr(JsonNode) n = accepted(at);
    ck_assert_uint_eq(json_array_get_length(json_node_get_array(n)), QV_JSON_MAX_VALUES - 1);
    g_autofree char *over = zeros("", QV_JSON_MAX_VALUES + 1);
    refused(over, -1,
            "x.json line 1, column 262144: more than 131072 values (the limit for one "
            "document)");
    /* A comment holding a quote does not hide the values after it. */
    g_autofree char *hidden = zeros("/*\"*/ // \"\n", QV_JSON_MAX_VALUES + 1);
    refused(hidden, -1, "x.json line 2, column 262144: more than 131072 values");

    /* Commas in comments and strings are no values; member names are none. */
    g_autofree char *commented = repeat("[1, /* ", "0,", 200000, " */ \"0,0,0,0\"] // 0,0,0");
    g_autoptr(JsonNode) c = accepted(commented);
    ck_assert_uint_eq(json_array_get_length(json_node_get_array(c)), 2);
    GString *members = g_string_new("{");
    for (unsigned i = 1; i < QV_JSON_MAX_VALUES; i++)
        g_string_append_printf(members, "%s\"%x\":0", i > 1 ? "," : "", i);
    g_string_append_c(members, '}');
    g_autoptr(JsonNode) m = accepted(members->str);
    ck_assert_uint_eq(json_object_get_size(json_node_get_object(m)), QV_JSON_MAX_VALUES - 1);
    g_string_truncate(members, members->len - 1);
    g_string_append(members, ",\"last\":0}");
    refused(members->str, -1, "x.json line 1, column 1240819: more than 131072 values");
    g_string_free(members, TRUE);

    /* Objects, arrays, strings, numbers and literals count alike. */
    g_autofree char *mixed =
        repeat("[", "{},[],\"\",-1,true,false,null,", QV_JSON_MAX_VALUES / 7 + 1, "1]");
    refused(mixed, -1, "x.json line 1, column 524283: more than 131072 values");

    /* A document with its own size limit has a value limit in proportion. */
    g_autofree char *small = zeros("", 129);
    g_autoptr(GError) err = NULL;
    ck_assert(qv_json_parse_limited(small, strlen(small), 4096, "regs.json", &err) == NULL);
    ck_assert_str_eq(err->message, "regs.json line 1, column 256: more than 128 values (the limit "
                                   "for one document)");
    small[strlen(small) - 3] = ']';
    small[strlen(small) - 2] = '\0';
    g_autoptr(JsonNode) s = qv_json_parse_limited(small, strlen(small), 4096, "regs.json", NULL);
    ck_assert_ptr_nonnull(s);

    /* The JSON config says so too. */
    qv_reset_error();
    ck_assert(qv_domain_parse_json(over) == NULL);
    ck_assert_str_eq(qv_last_error()->message, "JSON config line 1, column 262144: more than "
                                               "131072 values (the limit for one document)");
}
END_TEST

static char *write_tmp(const char *data, size_t len)
{
    char *path = g_build_filename(g_get_tmp_dir(), "qv-conf-bounded-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

START_TEST(load_file)
{
    g_autofree char *good = write_tmp("{\"pid\": 12} // written by hand\n", 31);
    g_autoptr(JsonNode) n = qv_json_load_file(good);
    ck_assert_msg(n != NULL, "%s", qv_last_error()->message);
    unlink(good);

    g_autofree char *deep = repeat("", "[", 1000, "");
    g_autofree char *dpath = write_tmp(deep, strlen(deep));
    ck_assert(qv_json_load_file(dpath) == NULL);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_JSON);
    g_autofree char *want = g_strdup_printf("%s line 1, column 65: nesting deeper", dpath);
    ck_assert_msg(g_str_has_prefix(qv_last_error()->message, want), "%s", qv_last_error()->message);
    unlink(dpath);

    static const char nul[] = "{}\n\0[[[";
    g_autofree char *npath = write_tmp(nul, sizeof(nul) - 1);
    ck_assert(qv_json_load_file(npath) == NULL);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_IO);
    g_autofree char *nwant = g_strdup_printf("'%s' line 2: NUL byte", npath);
    ck_assert_msg(g_str_has_prefix(qv_last_error()->message, nwant), "%s",
                  qv_last_error()->message);
    unlink(npath);

    /* Larger than the limit: refused without reading it all. */
    g_autofree char *bpath = write_tmp("[", 1);
    ck_assert_int_eq(truncate(bpath, (off_t)QV_JSON_MAX_BYTES + 1), 0);
    ck_assert(qv_json_load_file(bpath) == NULL);
    ck_assert_msg(strstr(qv_last_error()->message, "is larger than the limit of 4194304 bytes"),
                  "%s", qv_last_error()->message);
    unlink(bpath);

    /* A device never ends: it is not read at all. */
    ck_assert(qv_json_load_file("/dev/zero") == NULL);
    ck_assert_str_eq(qv_last_error()->message, "'/dev/zero' is not a regular file");
    ck_assert(qv_json_load_file("/nonexistent/runtime.json") == NULL);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
}
END_TEST

/* The JSON config takes comments too, and every limit holds there. */
START_TEST(config_with_comments)
{
    qv_reset_error();
    g_autoptr(qv_domain) d = qv_domain_parse_json("// web server\n"
                                                  "{\n"
                                                  "  \"name\": \"web\", /* the VM's name */\n"
                                                  "  \"vcpus\": 2, // two\n"
                                                  "  \"memory\": \"1G\"\n"
                                                  "}\n");
    ck_assert_msg(d != NULL, "%s", qv_last_error()->message);
    ck_assert_str_eq(d->name, "web");
    ck_assert_uint_eq(d->vcpus, 2);
    g_autofree char *bomb = repeat("/*\"*/", "[", 100000, "\n");
    ck_assert(qv_domain_parse_json(bomb) == NULL);
    ck_assert_str_eq(qv_last_error()->message,
                     "JSON config line 1, column 70: nesting deeper than 64 levels");
}
END_TEST

static void xml_refused(const char *xml, const char *message)
{
    qv_reset_error();
    struct qv_domain *d = qv_domain_parse_xml(xml);
    ck_assert_msg(d == NULL, "accepted: %.80s", xml);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_XML);
    ck_assert_msg(g_str_has_prefix(qv_last_error()->message, message),
                  "for %.80s\nexpected \"%s...\"\n     got \"%s\"", xml, message,
                  qv_last_error()->message);
}

#define DOMAIN_HEAD "<domain type='kvm'>\n<name>a</name><memory>65536</memory><vcpu>1</vcpu>"
#define DOMAIN_TAIL "<os><type>hvm</type></os></domain>"

/* libxml2 compares every attribute with every earlier one: 100,000 of
 * them took minutes. They are refused before libxml2 starts. */
START_TEST(xml_attribute_flood)
{
    GString *x = g_string_new(DOMAIN_HEAD "<devices><disk");
    for (int i = 0; i < 100000; i++)
        g_string_append_printf(x, " a%d='%d'", i, i);
    g_string_append(x, "/></devices>" DOMAIN_TAIL);
    gint64 t0 = g_get_monotonic_time();
    xml_refused(x->str, "domain XML line 2: element <disk> has more than 128 attributes");
    ck_assert_int_lt(g_get_monotonic_time() - t0, G_USEC_PER_SEC);
    g_string_free(x, TRUE);

    /* A '>' or quote inside a value does not end the counting. */
    GString *q = g_string_new(DOMAIN_HEAD "\n<devices><disk x='>\"' y=\"/>'\"");
    for (int i = 0; i < 200; i++)
        g_string_append_printf(q, " a%d=\"\"", i);
    g_string_append(q, "/></devices>" DOMAIN_TAIL);
    xml_refused(q->str, "domain XML line 3: element <disk> has more than 128 attributes");
    g_string_free(q, TRUE);

    /* Nor does a DOCTYPE or a stray "<!" before the flood. */
    GString *d = g_string_new("<!DOCTYPE domain>\n<domain type='kvm'");
    for (int i = 0; i < 200; i++)
        g_string_append_printf(d, " a%d=''", i);
    g_string_append(d, "/>");
    xml_refused(d->str, "domain XML line 2: element <domain> has more than 128 attributes");
    g_string_free(d, TRUE);

    /* The device XML parser has the same limit. */
    GString *dev = g_string_new("<disk type='file'");
    for (int i = 0; i < 1000; i++)
        g_string_append_printf(dev, " a%d=''", i);
    g_string_append(dev, "/>");
    struct qv_disk *disk;
    struct qv_net *net;
    struct qv_hostdev *hd;
    qv_reset_error();
    ck_assert_int_eq(qv_domain_parse_device_xml(dev->str, &disk, &net, &hd), QV_ERR_XML);
    ck_assert_msg(strstr(qv_last_error()->message, "line 1: element <disk> has more than 128"),
                  "%s", qv_last_error()->message);
    g_string_free(dev, TRUE);
}
END_TEST

START_TEST(xml_markup_hides_nothing_and_counts_nothing)
{
    /* Attributes in comments, CDATA and processing instructions are text. */
    GString *x = g_string_new("<?xml version='1.0'?>\n<?pi <a");
    for (int i = 0; i < 200; i++)
        g_string_append(x, " b=''");
    g_string_append(x, ">?>\n" DOMAIN_HEAD "<!-- <a");
    for (int i = 0; i < 200; i++)
        g_string_append(x, " b=''");
    g_string_append(x, "> -->\n<description><![CDATA[<a");
    for (int i = 0; i < 200; i++)
        g_string_append(x, " b=''");
    g_string_append(x, ">]]></description>" DOMAIN_TAIL);
    qv_reset_error();
    g_autoptr(qv_domain) d = qv_domain_parse_xml(x->str);
    ck_assert_msg(d != NULL, "%s", qv_last_error()->message);
    g_string_free(x, TRUE);
}
END_TEST

START_TEST(xml_depth_and_trailing)
{
    g_autofree char *deep = repeat(DOMAIN_HEAD "<metadata>", "\n<a>", 100, "");
    xml_refused(deep, "domain XML line 65: elements nest deeper than 64 levels");
    /* Self-closing and closed elements do not add up. */
    g_autofree char *flat =
        repeat(DOMAIN_HEAD, "<features/><features></features>", 1000, DOMAIN_TAIL);
    xml_refused(flat, "domain XML line 2: duplicate element <features>");
    /* Nothing may follow the root element but comments and blanks. */
    xml_refused(DOMAIN_HEAD DOMAIN_TAIL "\n<domain type='kvm'/>",
                "domain XML line 3: Extra content at the end of the document");
    xml_refused(DOMAIN_HEAD DOMAIN_TAIL "junk",
                "domain XML line 2: Extra content at the end of the document");
    qv_reset_error();
    g_autoptr(qv_domain) d = qv_domain_parse_xml(DOMAIN_HEAD DOMAIN_TAIL "\n<!-- ok -->\n");
    ck_assert_msg(d != NULL, "%s", qv_last_error()->message);
    /* The scan reads only the bytes it is given (found by fuzz_domain: a
     * document ending in '<'). */
    char *cut = g_memdup2("<a><", 4);
    ck_assert_int_eq(qv_conf_xml_prescan(cut, 4, "x"), 0);
    g_free(cut);
    /* External entities and the network stay off. */
    xml_refused("<?xml version='1.0'?>\n<!DOCTYPE d SYSTEM 'http://127.0.0.1:9/d.dtd'>\n"
                "<domain type='kvm'/>",
                "domain XML line 2: DOCTYPE and entity declarations are not allowed");
}
END_TEST

/* State files go through the same reader: a damaged or hostile one is an
 * error naming the file, never a crash. */
START_TEST(state_files)
{
    g_autofree char *dir = g_dir_make_tmp("qv-conf-bounded-XXXXXX", NULL);
    ck_assert(dir != NULL);
    g_autofree char *path = g_build_filename(dir, "runtime.json", NULL);
    g_autofree char *bomb = repeat("/*\"*/", "[", 100000, "");
    ck_assert(g_file_set_contents(path, bomb, -1, NULL));
    struct proc_runtime rt;
    ck_assert_int_eq(proc_runtime_read(dir, &rt), QV_ERR_JSON);
    g_autofree char *want = g_strdup_printf("%s line 1, column 70: nesting deeper", path);
    ck_assert_msg(g_str_has_prefix(qv_last_error()->message, want), "%s", qv_last_error()->message);
    proc_runtime_clear(&rt);
    ck_assert(g_file_set_contents(path,
                                  "{\"pid\": 1, \"start_time\": 18446744073709551617, "
                                  "\"cmdline\": \"x\"}",
                                  -1, NULL));
    ck_assert_int_eq(proc_runtime_read(dir, &rt), QV_ERR_JSON);
    ck_assert_msg(strstr(qv_last_error()->message, "integer 18446744073709551617 is out of range"),
                  "%s", qv_last_error()->message);
    proc_runtime_clear(&rt);

    /* A noop VM whose state.json was replaced (in builds with noop). */
    if (QV_WITH_NOOP) {
        g_autofree char *uri = g_strdup_printf("noop://%s", dir);
        struct qv_conn *conn = qv_connect(uri);
        ck_assert_msg(conn != NULL, "%s", qv_last_error()->message);
        struct vm *vm = vm_create_on(conn, "damaged", 1, 1 << 20);
        ck_assert_msg(vm != NULL, "%s", qv_last_error()->message);
        g_autofree char *state = g_build_filename(dir, "damaged", "state.json", NULL);
        ck_assert(g_file_set_contents(state, bomb, -1, NULL));
        struct vm_info info;
        ck_assert_int_eq(vm_get_info(vm, &info), QV_ERR_JSON);
        ck_assert_msg(
            strstr(qv_last_error()->message, "state.json line 1, column 70: nesting deeper"), "%s",
            qv_last_error()->message);
        vm_free(vm);
        qv_close(conn);
    }
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(rm), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conf_bounded");
    TCase *t = tcase_create("json");
    tcase_add_test(t, comments_hide_nothing);
    tcase_add_test(t, comments_are_blank);
    tcase_add_test(t, depth_limit);
    tcase_add_test(t, numbers);
    tcase_add_test(t, strings);
    tcase_add_test(t, structure);
    tcase_add_test(t, nul_and_size);
    tcase_add_test(t, value_limit);
    tcase_add_test(t, load_file);
    tcase_add_test(t, config_with_comments);
    tcase_add_test(t, state_files);
    suite_add_tcase(s, t);
    TCase *x = tcase_create("xml");
    tcase_add_test(x, xml_attribute_flood);
    tcase_add_test(x, xml_markup_hides_nothing_and_counts_nothing);
    tcase_add_test(x, xml_depth_and_trailing);
    suite_add_tcase(s, x);
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
