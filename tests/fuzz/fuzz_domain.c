/* libFuzzer target for the definition parsers (built with -DQV_FUZZ=ON and
 * clang). Every input goes to the domain XML, device XML and JSON parsers;
 * whatever parses must format, and the formatted text must parse again.
 * The raw bytes also go to the bounded JSON reader, at its own limits and
 * at a 4096-byte limit whose value limit (128) fuzzed inputs reach, and to
 * the XML limit scan (tests/data/fuzz/fuzz_domain has seeds with comments,
 * NULs, attribute floods and 128 and 129 values). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conf/domain.h"
#include "lib/conf/xml_util.h"
#include "lib/util/error.h"
#include "lib/util/json.h"

/* Nesting depth of n; *doubles is set when n holds a fractional number. */
static int depth_of(JsonNode *n, bool *doubles)
{
    int d = 0;
    if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++)
            d = MAX(d, depth_of(json_array_get_element(a, i), doubles));
        return d + 1;
    }
    if (JSON_NODE_HOLDS_OBJECT(n)) {
        GList *members = json_object_get_values(json_node_get_object(n));
        for (GList *m = members; m; m = m->next)
            d = MAX(d, depth_of(m->data, doubles));
        g_list_free(members);
        return d + 1;
    }
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_DOUBLE)
        *doubles = true;
    return 0;
}

/* How many JsonNodes n holds, itself included. */
static size_t values_of(JsonNode *n)
{
    size_t v = 1;
    if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++)
            v += values_of(json_array_get_element(a, i));
    } else if (JSON_NODE_HOLDS_OBJECT(n)) {
        GList *members = json_object_get_values(json_node_get_object(n));
        for (GList *m = members; m; m = m->next)
            v += values_of(m->data);
        g_list_free(members);
    }
    return v;
}

/* With a 4096-byte limit the value limit is 128, which inputs of the size
 * fuzzed reach: what is accepted holds at most that many, and what is
 * refused for it holds more (duplicate member names, which json-glib
 * merges, aside). */
static void small_limit(const uint8_t *data, size_t size, JsonNode *full)
{
    const size_t max = 4096, values = max / QV_JSON_BYTES_PER_VALUE;
    GError *err = NULL;
    JsonNode *n = qv_json_parse_limited((const char *)data, size, max, "fuzz small", &err);
    if (n) {
        if (!full || values_of(n) > values)
            abort();
        json_node_unref(n);
        return;
    }
    if (full && size <= max && values_of(full) <= values && !strstr(err->message, " values "))
        abort(); /* refused for something the full limits let through */
    g_error_free(err);
}

/* The bounded reader on the raw bytes (NULs included): what it accepts is
 * within the limits, json-glib agrees with its scan, and the value survives
 * a trip through json-glib's generator. */
static void bounded_json(const uint8_t *data, size_t size)
{
    GError *err = NULL;
    JsonNode *n = qv_json_parse_bounded((const char *)data, size, "fuzz", &err);
    small_limit(data, size, n);
    if (!n) {
        if (g_error_matches(err, JSON_PARSER_ERROR, JSON_PARSER_ERROR_UNKNOWN))
            abort(); /* json-glib refused what the scan accepted */
        g_error_free(err);
        return;
    }
    bool doubles = false;
    if (depth_of(n, &doubles) > QV_JSON_MAX_DEPTH || values_of(n) > QV_JSON_MAX_VALUES)
        abort();
    /* json-glib 1.6 writes 1e100 as "1e+100.0", which no reader takes:
     * the round trip only holds without fractional numbers (libqv's
     * state files have none). */
    if (doubles) {
        json_node_unref(n);
        return;
    }
    char *text = json_to_string(n, FALSE);
    JsonNode *again = qv_json_parse_bounded(text, strlen(text), "fuzz again", NULL);
    if (!again || !json_node_equal(n, again))
        abort(); /* what json-glib writes must read back the same */
    json_node_unref(again);
    g_free(text);
    json_node_unref(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bounded_json(data, size);
    if (qv_conf_xml_prescan((const char *)data, size, "fuzz") < 0)
        qv_reset_error();
    char *text = g_strndup((const char *)data, size);
    {
        struct qv_domain *d = qv_domain_parse_xml(text);
        if (d) {
            char *x = qv_domain_format_xml(d);
            struct qv_domain *again = qv_domain_parse_xml(x);
            if (!again)
                abort(); /* our own output must always parse */
            qv_domain_free(again);
            g_free(x);
            qv_domain_free(d);
        }
    }
    {
        struct qv_disk *disk;
        struct qv_net *net;
        struct qv_hostdev *hd;
        if (qv_domain_parse_device_xml(text, &disk, &net, &hd) == 0) {
            qv_disk_free(disk);
            qv_net_free(net);
            qv_hostdev_free(hd);
        }
    }
    {
        struct qv_domain *d = qv_domain_parse_json(text);
        if (d) {
            char *j = qv_domain_format_json(d);
            struct qv_domain *again = qv_domain_parse_json(j);
            if (!again)
                abort();
            qv_domain_free(again);
            g_free(j);
            char *x = qv_domain_format_xml(d);
            g_free(x);
            qv_domain_free(d);
        }
    }
    g_free(text);
    qv_reset_error();
    return 0;
}
