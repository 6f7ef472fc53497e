/* See json_schema.h. */
#include "json_schema.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define MAX_DEPTH 64

struct ctx {
    JsonObject *schemas;
};

static char *check(struct ctx *c, JsonNode *node, JsonObject *schema, const char *path, int depth);

static char *fail(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *fail(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return g_strdup_printf("%s: %s", path, m);
}

static const char *kind(JsonNode *n)
{
    if (JSON_NODE_HOLDS_NULL(n))
        return "null";
    if (JSON_NODE_HOLDS_OBJECT(n))
        return "object";
    if (JSON_NODE_HOLDS_ARRAY(n))
        return "array";
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_STRING)
        return "string";
    if (t == G_TYPE_BOOLEAN)
        return "boolean";
    if (t == G_TYPE_INT64)
        return "integer";
    return "number";
}

static bool type_ok(JsonNode *n, const char *type)
{
    const char *k = kind(n);
    if (!strcmp(type, "number"))
        return !strcmp(k, "number") || !strcmp(k, "integer");
    return !strcmp(k, type);
}

static double num(JsonNode *n)
{
    return json_node_get_value_type(n) == G_TYPE_INT64 ? (double)json_node_get_int(n)
                                                       : json_node_get_double(n);
}

static bool scalar_equal(JsonNode *a, JsonNode *b)
{
    return json_node_equal(a, b);
}

static char *check_format(JsonNode *n, const char *fmt, const char *path)
{
    if (!strcmp(fmt, "uuid")) {
        if (type_ok(n, "string") && !g_uuid_string_is_valid(json_node_get_string(n)))
            return fail(path, "'%s' is not a UUID", json_node_get_string(n));
        return NULL;
    }
    static const struct {
        const char *name;
        double lo, hi;
    } ints[] = {
        {"uint8", 0, 255},
        {"uint16", 0, 65535},
        {"uint32", 0, 4294967295.0},
        {"uint64", 0, 18446744073709551615.0},
        {"uint", 0, 18446744073709551615.0},
        {"int8", -128, 127},
        {"int16", -32768, 32767},
        {"int32", -2147483648.0, 2147483647.0},
        {"int64", -9223372036854775808.0, 9223372036854775807.0},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(ints); i++) {
        if (strcmp(fmt, ints[i].name) != 0)
            continue;
        if (!type_ok(n, "integer"))
            return fail(path, "expected an integer (%s), got %s", fmt, kind(n));
        double v = num(n);
        if (v < ints[i].lo || v > ints[i].hi)
            return fail(path, "%.0f is out of range for %s", v, fmt);
        return NULL;
    }
    return fail(path, "schema uses format '%s', which this validator does not know", fmt);
}

static char *check_object(struct ctx *c, JsonNode *node, JsonObject *schema, const char *path,
                          int depth)
{
    JsonObject *o = json_node_get_object(node);
    JsonObject *props = json_object_has_member(schema, "properties")
                            ? json_object_get_object_member(schema, "properties")
                            : NULL;
    if (json_object_has_member(schema, "required")) {
        JsonArray *req = json_object_get_array_member(schema, "required");
        for (guint i = 0; i < json_array_get_length(req); i++) {
            const char *name = json_array_get_string_element(req, i);
            if (!json_object_has_member(o, name))
                return fail(path, "missing required property '%s'", name);
        }
    }
    JsonNode *addl = json_object_get_member(schema, "additionalProperties");
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        const char *name = l->data;
        g_autofree char *sub = g_strdup_printf("%s.%s", path, name);
        JsonNode *val = json_object_get_member(o, name);
        JsonObject *ps = props && json_object_has_member(props, name)
                             ? json_object_get_object_member(props, name)
                             : NULL;
        char *err = NULL;
        if (ps)
            err = check(c, val, ps, sub, depth + 1);
        else if (addl && JSON_NODE_HOLDS_VALUE(addl) && !json_node_get_boolean(addl))
            err = fail(path, "unknown property '%s'", name);
        else if (addl && JSON_NODE_HOLDS_OBJECT(addl))
            err = check(c, val, json_node_get_object(addl), sub, depth + 1);
        if (err)
            return err;
    }
    return NULL;
}

static char *check_array(struct ctx *c, JsonNode *node, JsonObject *schema, const char *path,
                         int depth)
{
    JsonArray *a = json_node_get_array(node);
    guint n = json_array_get_length(a);
    if (json_object_has_member(schema, "minItems") &&
        n < json_object_get_int_member(schema, "minItems"))
        return fail(path, "%u items, fewer than %" G_GINT64_FORMAT, n,
                    json_object_get_int_member(schema, "minItems"));
    if (json_object_has_member(schema, "maxItems") &&
        n > json_object_get_int_member(schema, "maxItems"))
        return fail(path, "%u items, more than %" G_GINT64_FORMAT, n,
                    json_object_get_int_member(schema, "maxItems"));
    if (json_object_has_member(schema, "uniqueItems") &&
        json_object_get_boolean_member(schema, "uniqueItems"))
        for (guint i = 0; i < n; i++)
            for (guint j = i + 1; j < n; j++)
                if (json_node_equal(json_array_get_element(a, i), json_array_get_element(a, j)))
                    return fail(path, "items %u and %u are equal", i, j);
    if (json_object_has_member(schema, "items")) {
        JsonObject *is = json_object_get_object_member(schema, "items");
        for (guint i = 0; i < n; i++) {
            g_autofree char *sub = g_strdup_printf("%s[%u]", path, i);
            char *err = check(c, json_array_get_element(a, i), is, sub, depth + 1);
            if (err)
                return err;
        }
    }
    return NULL;
}

/* For oneOf/anyOf errors: the alternative that got furthest (longest
 * path in its error) is most likely the one the sender meant. */
static char *best_error(char **errs, guint n)
{
    guint best = 0;
    size_t best_len = 0;
    for (guint i = 0; i < n; i++) {
        const char *colon = strstr(errs[i], ": ");
        size_t len = colon ? (size_t)(colon - errs[i]) : 0;
        if (len > best_len) {
            best_len = len;
            best = i;
        }
    }
    return g_strdup(errs[best]);
}

static char *check_alternatives(struct ctx *c, JsonNode *node, JsonArray *alts, const char *path,
                                int depth, bool exactly_one, const char *kw)
{
    guint n = json_array_get_length(alts), ok = 0;
    g_autoptr(GPtrArray) errs = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < n; i++) {
        char *err = check(c, node, json_array_get_object_element(alts, i), path, depth + 1);
        if (err)
            g_ptr_array_add(errs, err);
        else
            ok++;
    }
    if (ok == 0) {
        g_autofree char *best = best_error((char **)errs->pdata, errs->len);
        return g_strdup_printf("%s (matches none of the %u %s alternatives)", best, n, kw);
    }
    if (exactly_one && ok > 1)
        return fail(path, "matches %u of the oneOf alternatives, not exactly one", ok);
    return NULL;
}

static const char *const known_keywords[] = {
    "$ref",     "type",        "properties", "required",    "additionalProperties",
    "enum",     "oneOf",       "anyOf",      "allOf",       "format",
    "minimum",  "maximum",     "nullable",   "items",       "minItems",
    "maxItems", "uniqueItems", "title",      "description", "default",
    NULL,
};

static char *check(struct ctx *c, JsonNode *node, JsonObject *schema, const char *path, int depth)
{
    if (depth > MAX_DEPTH)
        return fail(path, "nested deeper than %d levels", MAX_DEPTH);
    g_autoptr(GList) kws = json_object_get_members(schema);
    for (GList *l = kws; l; l = l->next)
        if (!g_strv_contains(known_keywords, l->data))
            return fail(path, "schema keyword '%s' is not supported by this validator",
                        (const char *)l->data);

    if (json_object_has_member(schema, "$ref")) {
        const char *ref = json_object_get_string_member(schema, "$ref");
        const char *prefix = "#/components/schemas/";
        if (!g_str_has_prefix(ref, prefix) ||
            !json_object_has_member(c->schemas, ref + strlen(prefix)))
            return fail(path, "unresolvable $ref '%s'", ref);
        return check(c, node, json_object_get_object_member(c->schemas, ref + strlen(prefix)), path,
                     depth + 1);
    }
    bool nullable = json_object_has_member(schema, "nullable") &&
                    json_object_get_boolean_member(schema, "nullable");
    if (JSON_NODE_HOLDS_NULL(node) && nullable)
        return NULL;

    char *err = NULL;
    if (json_object_has_member(schema, "allOf")) {
        JsonArray *all = json_object_get_array_member(schema, "allOf");
        for (guint i = 0; i < json_array_get_length(all); i++)
            if ((err = check(c, node, json_array_get_object_element(all, i), path, depth + 1)))
                return err;
    }
    if (json_object_has_member(schema, "anyOf") &&
        (err = check_alternatives(c, node, json_object_get_array_member(schema, "anyOf"), path,
                                  depth, false, "anyOf")))
        return err;
    if (json_object_has_member(schema, "oneOf") &&
        (err = check_alternatives(c, node, json_object_get_array_member(schema, "oneOf"), path,
                                  depth, true, "oneOf")))
        return err;

    if (json_object_has_member(schema, "type")) {
        const char *type = json_object_get_string_member(schema, "type");
        bool null_in_enum = false;
        if (json_object_has_member(schema, "enum")) {
            JsonArray *e = json_object_get_array_member(schema, "enum");
            for (guint i = 0; i < json_array_get_length(e); i++)
                null_in_enum |= JSON_NODE_HOLDS_NULL(json_array_get_element(e, i));
        }
        if (!type_ok(node, type) && !(JSON_NODE_HOLDS_NULL(node) && null_in_enum))
            return fail(path, "expected %s, got %s", type, kind(node));
    }
    if (json_object_has_member(schema, "enum")) {
        JsonArray *e = json_object_get_array_member(schema, "enum");
        bool found = false;
        for (guint i = 0; i < json_array_get_length(e) && !found; i++)
            found = scalar_equal(node, json_array_get_element(e, i));
        if (!found) {
            g_autofree char *v = json_to_string(node, FALSE);
            g_autofree char *allowed =
                json_to_string(json_object_get_member(schema, "enum"), FALSE);
            return fail(path, "%s is not one of %s", v, allowed);
        }
    }
    if (json_object_has_member(schema, "format") &&
        (err = check_format(node, json_object_get_string_member(schema, "format"), path)))
        return err;
    if (JSON_NODE_HOLDS_VALUE(node) && type_ok(node, "number")) {
        if (json_object_has_member(schema, "minimum") &&
            num(node) < json_object_get_double_member(schema, "minimum"))
            return fail(path, "%g is below the minimum %g", num(node),
                        json_object_get_double_member(schema, "minimum"));
        if (json_object_has_member(schema, "maximum") &&
            num(node) > json_object_get_double_member(schema, "maximum"))
            return fail(path, "%g is above the maximum %g", num(node),
                        json_object_get_double_member(schema, "maximum"));
    }
    if (JSON_NODE_HOLDS_OBJECT(node) && (json_object_has_member(schema, "properties") ||
                                         json_object_has_member(schema, "required") ||
                                         json_object_has_member(schema, "additionalProperties")))
        return check_object(c, node, schema, path, depth);
    if (JSON_NODE_HOLDS_ARRAY(node))
        return check_array(c, node, schema, path, depth);
    return NULL;
}

char *json_schema_check(JsonObject *schemas, JsonNode *node, JsonObject *schema)
{
    struct ctx c = {schemas};
    return check(&c, node, schema, "$", 0);
}

char *json_schema_check_named(JsonObject *schemas, JsonNode *node, const char *name)
{
    if (!json_object_has_member(schemas, name))
        return g_strdup_printf("no schema named '%s'", name);
    return json_schema_check(schemas, node, json_object_get_object_member(schemas, name));
}
