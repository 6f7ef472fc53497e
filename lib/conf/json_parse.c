/* The QuantaVirt JSON config (`qv vm create --config vm.json`) -> struct
 * qv_domain. Every key is known or an error, and every error names its JSON
 * path ("$.devices.disks[1].path: expected a string"). Values go through the
 * same checks as XML (conf_check.c), so a JSON config always formats to
 * schema-valid domain XML. */
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../include/qv/vm.h"
#include "../util/error.h"
#include "../util/json.h"
#include "address.h"
#include "conf_check.h"
#include "domain.h"
#include "xml_metadata.h"

_Static_assert(QV_JSON_MAX_BYTES == QV_DEFINITION_MAX_BYTES, "the documented limit");

struct jctx {
    GString *path;
};

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            return QV_ERR_JSON;                                                                    \
    } while (0)

static int jerr(struct jctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int jerr(struct jctx *c, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (key)
        return qv_error_set(QV_ERR_JSON, "%s.%s: %s", c->path->str, key, msg);
    return qv_error_set(QV_ERR_JSON, "%s: %s", c->path->str, msg);
}

static gsize push_key(struct jctx *c, const char *key)
{
    gsize len = c->path->len;
    g_string_append_printf(c->path, ".%s", key);
    return len;
}

static gsize push_index(struct jctx *c, guint i)
{
    gsize len = c->path->len;
    g_string_append_printf(c->path, "[%u]", i);
    return len;
}

static void pop(struct jctx *c, gsize len)
{
    g_string_truncate(c->path, len);
}

static int check_keys(struct jctx *c, JsonObject *o, const char *allowed)
{
    g_autoptr(GList) keys = json_object_get_members(o);
    for (GList *k = keys; k; k = k->next)
        if (!qv_conf_word_listed(k->data, allowed))
            return jerr(c, NULL, "unknown key \"%s\"", (const char *)k->data);
    return 0;
}

static const char *node_kind(JsonNode *n)
{
    switch (JSON_NODE_TYPE(n)) {
    case JSON_NODE_OBJECT: return "an object";
    case JSON_NODE_ARRAY: return "an array";
    case JSON_NODE_NULL: return "null";
    case JSON_NODE_VALUE:
        switch (json_node_get_value_type(n)) {
        case G_TYPE_STRING: return "a string";
        case G_TYPE_BOOLEAN: return "a boolean";
        case G_TYPE_DOUBLE: return "a fractional or out-of-range number";
        default: return "a number";
        }
    }
    return "something else";
}

/* The helpers return 0 when key is absent, 1 when read, QV_ERR_JSON on a
 * bad value. */
static int get_str(struct jctx *c, JsonObject *o, const char *key,
                   const char *(*check)(const char *), char **out)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return jerr(c, key, "expected a string, got %s", node_kind(n));
    const char *s = json_node_get_string(n);
    const char *why = check(s);
    if (why)
        return jerr(c, key, "\"%s\" %s", s, why);
    g_free(*out);
    *out = g_strdup(s);
    return 1;
}

static int uint_of(struct jctx *c, const char *key, JsonNode *n, uint64_t max, uint64_t *out)
{
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return jerr(c, key, "expected a whole number, got %s", node_kind(n));
    gint64 v = json_node_get_int(n);
    if (v < 0)
        return jerr(c, key, "%" G_GINT64_FORMAT " is negative", v);
    if ((uint64_t)v > max)
        return jerr(c, key, "%" G_GINT64_FORMAT " is more than the maximum %" G_GUINT64_FORMAT, v,
                    max);
    *out = (uint64_t)v;
    return 1;
}

static int get_uint(struct jctx *c, JsonObject *o, const char *key, uint64_t max, uint64_t *out)
{
    JsonNode *n = json_object_get_member(o, key);
    return n ? uint_of(c, key, n, max, out) : 0;
}

static int get_u32(struct jctx *c, JsonObject *o, const char *key, uint32_t max, uint32_t *out)
{
    uint64_t v;
    int rc = get_uint(c, o, key, max, &v);
    if (rc == 1)
        *out = (uint32_t)v;
    return rc;
}

static int get_bool(struct jctx *c, JsonObject *o, const char *key, bool *out)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return jerr(c, key, "expected true or false, got %s", node_kind(n));
    *out = json_node_get_boolean(n);
    return 1;
}

static int get_enum(struct jctx *c, JsonObject *o, const char *key, const char *const *list,
                    int *out)
{
    g_autofree char *s = NULL;
    int rc = get_str(c, o, key, qv_conf_check_text, &s);
    if (rc <= 0)
        return rc;
    int i = qv_conf_lookup(list, s);
    if (i < 0 || !*list[i]) {
        g_autofree char *all = qv_conf_list_join(list);
        return jerr(c, key, "unsupported value \"%s\" (expected %s)", s, all);
    }
    *out = i;
    return 1;
}

static int get_enum_str(struct jctx *c, JsonObject *o, const char *key, const char *const *list,
                        char **out)
{
    int i;
    int rc = get_enum(c, o, key, list, &i);
    if (rc == 1) {
        g_free(*out);
        *out = g_strdup(list[i]);
    }
    return rc;
}

/* Bytes as an integer or a size string ("512M", "2GiB"), in KiB rounded up. */
static int get_size_kib(struct jctx *c, JsonObject *o, const char *key, uint64_t *kib)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n)
        return 0;
    uint64_t bytes;
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        const char *s = json_node_get_string(n);
        if (!qv_conf_parse_size(s, &bytes))
            return jerr(c, key,
                        "\"%s\" is not a size (bytes, or a number with K, M, G, T, "
                        "KiB, MB, ...) or is too large",
                        s);
    } else {
        TRY(uint_of(c, key, n, INT64_MAX, &bytes));
    }
    *kib = bytes / 1024 + (bytes % 1024 != 0);
    return 1;
}

static int get_object(struct jctx *c, JsonObject *o, const char *key, JsonObject **out)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_OBJECT(n))
        return jerr(c, key, "expected an object, got %s", node_kind(n));
    *out = json_node_get_object(n);
    return 1;
}

static int get_array(struct jctx *c, JsonObject *o, const char *key, JsonArray **out)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_ARRAY(n))
        return jerr(c, key, "expected an array, got %s", node_kind(n));
    *out = json_node_get_array(n);
    return 1;
}

/* ---- cpu ---- */

/* One pin: vCPU `vcpu` -> a host CPU number or a cpuset string. key is
 * the member name for objects, NULL for list elements (the path already
 * ends in [i]). */
static int parse_pin(struct jctx *c, uint32_t vcpu, const char *key, JsonNode *n,
                     struct qv_domain *def)
{
    struct qv_vcpupin pin = {.vcpu = vcpu};
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        const char *s = json_node_get_string(n);
        const char *why = qv_conf_check_cpuset(s);
        if (why)
            return jerr(c, key, "\"%s\" %s", s, why);
        pin.pcpu = qv_conf_cpuset_single(s);
        pin.cpuset = pin.pcpu >= 0 ? g_strdup_printf("%d", pin.pcpu) : g_strdup(s);
    } else {
        uint64_t p;
        TRY(uint_of(c, key, n, 4095, &p));
        pin.pcpu = (int)p;
        pin.cpuset = g_strdup_printf("%d", pin.pcpu);
    }
    g_array_append_val(def->cputune.pins, pin);
    return 0;
}

/* "features": [{"name": "lahf_lm", "policy": "require"}], as <cpu><feature>s. */
static int parse_cpu_features(struct jctx *c, JsonObject *o, struct qv_domain *def)
{
    JsonArray *fa;
    int rc = get_array(c, o, "features", &fa);
    if (rc <= 0)
        return rc;
    gsize at = push_key(c, "features");
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < json_array_get_length(fa); i++) {
        gsize at2 = push_index(c, i);
        JsonNode *e = json_array_get_element(fa, i);
        if (!JSON_NODE_HOLDS_OBJECT(e))
            return jerr(c, NULL, "expected {\"name\": ..., \"policy\": ...}, got %s", node_kind(e));
        JsonObject *f = json_node_get_object(e);
        TRY(check_keys(c, f, "name policy"));
        g_autofree char *name = NULL;
        if (get_str(c, f, "name", qv_conf_check_token, &name) <= 0)
            return json_object_has_member(f, "name") ? QV_ERR_JSON : jerr(c, "name", "is required");
        int p;
        rc = get_enum(c, f, "policy", qv_conf_feature_policies, &p);
        TRY(rc);
        if (rc == 0)
            return jerr(c, "policy", "is required");
        g_ptr_array_add(out, g_strdup_printf("%s:%s", qv_conf_feature_policies[p], name));
        pop(c, at2);
    }
    pop(c, at);
    if (out->len) {
        g_ptr_array_add(out, NULL);
        g_strfreev(def->cpu.features);
        def->cpu.features = (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
    }
    return 0;
}

/* "clock": {"offset": "utc", "adjustment": "-3600", "timers": [{"name":
 * "rtc", "tickpolicy": "catchup", "present": true, "track": "guest"}]}, as
 * <clock> and its <timer>s. */
static int parse_clock(struct jctx *c, JsonObject *o, struct qv_domain *def)
{
    TRY(check_keys(c, o, "offset adjustment basis timezone start timers"));
    int rc = get_enum_str(c, o, "offset", qv_conf_clock_offsets, &def->clock_offset);
    TRY(rc);
    if (rc == 0)
        return jerr(c, "offset", "is required");
    TRY(get_str(c, o, "adjustment", qv_conf_check_line, &def->clock_adjustment));
    TRY(get_enum_str(c, o, "basis", qv_conf_clock_bases, &def->clock_basis));
    TRY(get_str(c, o, "timezone", qv_conf_check_line, &def->clock_timezone));
    rc = get_uint(c, o, "start", G_MAXINT64, &def->clock_start);
    TRY(rc);
    if (strcmp(def->clock_offset, "absolute") == 0 && rc == 0)
        return jerr(c, "start", "is required with \"offset\": \"absolute\"");
    const char *why = qv_conf_rule_clock(def);
    if (why)
        return jerr(c, NULL, "%s", why);
    JsonArray *ta;
    rc = get_array(c, o, "timers", &ta);
    if (rc <= 0)
        return rc;
    gsize at = push_key(c, "timers");
    guint n = json_array_get_length(ta);
    if (n > G_N_ELEMENTS(def->timers))
        return jerr(c, NULL, "at most %zu timers", G_N_ELEMENTS(def->timers));
    for (guint i = 0; i < n; i++) {
        gsize at2 = push_index(c, i);
        JsonNode *e = json_array_get_element(ta, i);
        if (!JSON_NODE_HOLDS_OBJECT(e))
            return jerr(c, NULL, "expected a timer object, got %s", node_kind(e));
        JsonObject *t = json_node_get_object(e);
        TRY(check_keys(c, t, "name tickpolicy present track frequency mode"));
        struct qv_timer tm = {.present = -1};
        int v;
        rc = get_enum(c, t, "name", qv_conf_timer_names, &v);
        TRY(rc);
        if (rc == 0)
            return jerr(c, "name", "is required");
        tm.name = (uint8_t)v;
        for (uint8_t j = 0; j < def->ntimers; j++)
            if (def->timers[j].name == tm.name)
                return jerr(c, "name", "timer '%s' is given twice", qv_conf_timer_names[tm.name]);
        rc = get_enum(c, t, "tickpolicy", qv_conf_tickpolicies, &v);
        TRY(rc);
        if (rc == 1)
            tm.tickpolicy = (uint8_t)v;
        bool present;
        rc = get_bool(c, t, "present", &present);
        TRY(rc);
        if (rc == 1)
            tm.present = present;
        rc = get_enum(c, t, "track", qv_conf_timer_tracks, &v);
        TRY(rc);
        if (rc == 1)
            tm.track = (uint8_t)v;
        rc = get_enum(c, t, "mode", qv_conf_tsc_modes, &v);
        TRY(rc);
        if (rc == 1)
            tm.mode = (uint8_t)v;
        TRY(get_uint(c, t, "frequency", G_MAXINT64, &tm.frequency));
        const char *twhy = qv_conf_rule_timer(&tm);
        if (twhy)
            return jerr(c, NULL, "%s", twhy);
        def->timers[def->ntimers++] = tm;
        pop(c, at2);
    }
    pop(c, at);
    return 0;
}

static int parse_pm(struct jctx *c, JsonObject *o, struct qv_domain *def)
{
    TRY(check_keys(c, o, "suspend_to_mem suspend_to_disk"));
    bool on;
    int rc = get_bool(c, o, "suspend_to_mem", &on);
    TRY(rc);
    if (rc == 1)
        def->pm_s3 = on;
    rc = get_bool(c, o, "suspend_to_disk", &on);
    TRY(rc);
    if (rc == 1)
        def->pm_s4 = on;
    return 0;
}

static int parse_cpu(struct jctx *c, JsonObject *o, struct qv_domain *def)
{
    int v;
    TRY(check_keys(
        c, o,
        "mode model match check migratable fallback vendor_id features topology numa_node "
        "pinning weight cap"));
    if (get_enum(c, o, "mode", qv_conf_cpu_modes, &v) < 0)
        return QV_ERR_JSON;
    JsonNode *mode = json_object_get_member(o, "mode");
    if (mode)
        def->cpu.mode = (enum qv_cpu_mode)v;
    TRY(get_str(c, o, "model", qv_conf_check_token, &def->cpu.model));
    if (def->cpu.model && def->cpu.mode != QV_CPU_MODE_CUSTOM && def->cpu.mode != QV_CPU_MODE_NONE)
        return jerr(c, "model", "a CPU model needs \"mode\": \"custom\" (or no mode)");
    if (def->cpu.mode == QV_CPU_MODE_CUSTOM && !def->cpu.model)
        return jerr(c, "mode", "\"custom\" needs a \"model\"");
    TRY(get_enum_str(c, o, "match", qv_conf_cpu_matches, &def->cpu.match));
    TRY(get_enum_str(c, o, "check", qv_conf_cpu_checks, &def->cpu.check));
    TRY(get_enum_str(c, o, "migratable", qv_conf_onoff, &def->cpu.migratable));
    TRY(get_enum_str(c, o, "fallback", qv_conf_cpu_fallbacks, &def->cpu.fallback));
    if (def->cpu.fallback && !def->cpu.model)
        return jerr(c, "fallback", "belongs to a \"model\"");
    TRY(get_str(c, o, "vendor_id", qv_conf_check_vendor_id, &def->cpu.vendor_id));
    if (def->cpu.vendor_id && !def->cpu.model)
        return jerr(c, "vendor_id", "belongs to a \"model\"");
    TRY(parse_cpu_features(c, o, def));
    JsonObject *topo;
    int rc = get_object(c, o, "topology", &topo);
    TRY(rc);
    if (rc == 1) {
        gsize at = push_key(c, "topology");
        TRY(check_keys(c, topo, "sockets dies cores threads"));
        static const char *const names[] = {"sockets", "dies", "cores", "threads"};
        uint32_t *slots[] = {&def->cpu.sockets, &def->cpu.dies, &def->cpu.cores, &def->cpu.threads};
        for (int i = 0; i < 4; i++) {
            rc = get_u32(c, topo, names[i], 65535, slots[i]);
            TRY(rc);
            if (rc == 1 && *slots[i] == 0)
                return jerr(c, names[i], "must be at least 1");
            if (rc == 0 && i != 1)
                *slots[i] = 1; /* unspecified levels count once */
        }
        pop(c, at);
    }
    uint64_t node;
    rc = get_uint(c, o, "numa_node", 4095, &node);
    TRY(rc);
    if (rc == 1)
        def->numa_node = (int)node;
    JsonNode *pins = json_object_get_member(o, "pinning");
    if (pins) {
        gsize at = push_key(c, "pinning");
        if (JSON_NODE_HOLDS_OBJECT(pins)) {
            JsonObject *po = json_node_get_object(pins);
            g_autoptr(GList) keys = json_object_get_members(po);
            for (GList *k = keys; k; k = k->next) {
                uint64_t vcpu;
                if (!qv_conf_parse_uint(k->data, 65535, &vcpu))
                    return jerr(c, NULL, "key \"%s\" must be a vCPU number from 0 to 65535",
                                (const char *)k->data);
                TRY(parse_pin(c, (uint32_t)vcpu, k->data, json_object_get_member(po, k->data),
                              def));
            }
        } else if (JSON_NODE_HOLDS_ARRAY(pins)) {
            /* A list pins vCPU i to element i. */
            JsonArray *pa = json_node_get_array(pins);
            for (guint i = 0; i < json_array_get_length(pa); i++) {
                gsize at2 = push_index(c, i);
                TRY(parse_pin(c, i, NULL, json_array_get_element(pa, i), def));
                pop(c, at2);
            }
        } else {
            return jerr(c, NULL, "expected an object {\"vCPU\": host CPU} or a list, got %s",
                        node_kind(pins));
        }
        pop(c, at);
    }
    uint64_t u;
    const char *why;
    rc = get_uint(c, o, "weight", UINT32_MAX, &u);
    TRY(rc);
    if (rc == 1 && (why = qv_conf_rule_cpu_weight(u)))
        return jerr(c, "weight", "%" G_GUINT64_FORMAT " %s", u, why);
    if (rc == 1)
        def->cputune.shares = (uint32_t)u;
    rc = get_uint(c, o, "cap", UINT32_MAX, &u);
    TRY(rc);
    if (rc == 1 && (why = qv_conf_rule_cpu_cap(u)))
        return jerr(c, "cap", "%" G_GUINT64_FORMAT " %s", u, why);
    if (rc == 1)
        def->cputune.cap = (uint32_t)u;
    return 0;
}

/* ---- boot ---- */

static int parse_boot(struct jctx *c, JsonObject *o, struct qv_domain *def)
{
    static const char *const archs[] = {"x86_64", "i686", NULL};
    TRY(check_keys(c, o,
                   "firmware_auto kernel initrd cmdline arch machine os_type firmware order"));
    TRY(get_enum_str(c, o, "firmware_auto", qv_conf_firmwares, &def->os.firmware));
    TRY(get_str(c, o, "kernel", qv_conf_check_path, &def->os.kernel));
    TRY(get_str(c, o, "initrd", qv_conf_check_path, &def->os.initrd));
    TRY(get_str(c, o, "cmdline", qv_conf_check_text, &def->os.cmdline));
    TRY(get_enum_str(c, o, "arch", archs, &def->os.arch));
    TRY(get_str(c, o, "machine", qv_conf_check_token, &def->os.machine));
    /* "type" comes before "boot": parse_root reads it first. */
    int rc = get_enum_str(c, o, "os_type", qv_conf_foreign_os_types, &def->os.type);
    TRY(rc);
    if (rc == 1 && def->type < QV_VIRT_FOREIGN)
        return jerr(c, "os_type",
                    "\"%s\" is for foreign domain types (lxc, xen, ...); type \"%s\" "
                    "runs hvm guests",
                    def->os.type, qv_conf_virt_types[def->type]);
    JsonObject *fw;
    rc = get_object(c, o, "firmware", &fw);
    TRY(rc);
    if (rc == 1) {
        static const char *const types[] = {"rom", "pflash", NULL};
        gsize at = push_key(c, "firmware");
        TRY(check_keys(c, fw, "loader readonly secure type nvram nvram_template"));
        if (get_str(c, fw, "loader", qv_conf_check_path, &def->os.loader) <= 0)
            return json_object_has_member(fw, "loader") ? QV_ERR_JSON
                                                        : jerr(c, "loader", "is required");
        TRY(get_bool(c, fw, "readonly", &def->os.loader_readonly));
        TRY(get_bool(c, fw, "secure", &def->os.loader_secure));
        int t;
        rc = get_enum(c, fw, "type", types, &t);
        TRY(rc);
        def->os.loader_pflash = rc == 1 && t == 1;
        TRY(get_str(c, fw, "nvram", qv_conf_check_path, &def->os.nvram));
        TRY(get_str(c, fw, "nvram_template", qv_conf_check_path, &def->os.nvram_template));
        if (def->os.nvram_template && !def->os.nvram)
            return jerr(c, "nvram_template", "needs \"nvram\" (the file made from it)");
        pop(c, at);
    }
    JsonArray *order;
    rc = get_array(c, o, "order", &order);
    TRY(rc);
    if (rc == 1) {
        guint n = json_array_get_length(order);
        gsize at = push_key(c, "order");
        if (n > 4)
            return jerr(c, NULL, "at most 4 boot devices");
        def->os.boot_devs = g_new0(char *, n + 1);
        for (guint i = 0; i < n; i++) {
            JsonNode *e = json_array_get_element(order, i);
            const char *s = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING
                                ? json_node_get_string(e)
                                : NULL;
            int k = qv_conf_lookup(qv_conf_boot_devs, s);
            if (k < 0) {
                g_autofree char *all = qv_conf_list_join(qv_conf_boot_devs);
                char idx[16];
                g_snprintf(idx, sizeof(idx), "[%u]", i);
                return qv_error_set(QV_ERR_JSON, "%s%s: expected a boot device (%s)", c->path->str,
                                    idx, all);
            }
            for (guint j = 0; j < i; j++)
                if (strcmp(def->os.boot_devs[j], s) == 0)
                    return qv_error_set(QV_ERR_JSON, "%s[%u]: \"%s\" is listed twice", c->path->str,
                                        i, s);
            def->os.boot_devs[i] = g_strdup(s);
        }
        pop(c, at);
    }
    return 0;
}

/* ---- devices ---- */

/* "address" of a device, of one of the types (address.h has the text
 * form). */
static int get_address(struct jctx *c, JsonObject *o, unsigned types, struct qv_addr *addr)
{
    g_autofree char *a = NULL;
    TRY(get_str(c, o, "address", qv_conf_check_line, &a));
    const char *why = a ? qv_conf_addr_parse(a, addr) : NULL;
    if (why)
        return jerr(c, "address", "\"%s\" %s", a, why);
    if (a && !(types & QV_ADDR_MASK(addr->type)))
        return jerr(c, "address", "\"%s\" is not an address type this device takes", a);
    return 0;
}

/* "address" and "alias" of a disk or NIC. */
static int get_placement(struct jctx *c, JsonObject *o, struct qv_addr *addr, char **alias)
{
    TRY(get_address(c, o, QV_ADDR_MASK(QV_ADDR_PCI) | QV_ADDR_MASK(QV_ADDR_DRIVE), addr));
    TRY(get_str(c, o, "alias", qv_conf_check_alias, alias));
    return 0;
}

static int parse_disk(struct jctx *c, JsonObject *o, struct qv_disk *d)
{
    int v, rc;
    if (json_object_has_member(o, "left_out"))
        return jerr(c, "left_out",
                    "lists what the JSON config cannot express (vm show --json wrote it); define "
                    "this VM from its XML (vm show --xml) to keep all of it");
    TRY(check_keys(
        c, o,
        "path target bus format type device readonly cache io discard backing "
        "backing_format logical_block_size boot_order io_bytes_per_sec iops iothread serial "
        "address alias"));
    if ((rc = get_enum(c, o, "type", qv_conf_disk_types, &v)) == 1)
        d->type = (enum qv_disk_type)v;
    TRY(rc);
    if ((rc = get_enum(c, o, "device", qv_conf_disk_devices, &v)) == 1)
        d->device = (enum qv_disk_device)v;
    TRY(rc);
    TRY(get_str(c, o, "path", qv_conf_check_path, &d->source));
    if (!d->source && d->device == QV_DISK_DISK)
        return jerr(c, "path", "is required (only a cdrom may be empty)");
    if (get_str(c, o, "target", qv_conf_check_disk_target, &d->target) <= 0)
        return json_object_has_member(o, "target") ? QV_ERR_JSON
                                                   : jerr(c, "target", "is required (\"vda\")");
    if ((rc = get_enum(c, o, "bus", qv_conf_disk_buses, &v)) == 1)
        d->bus = (enum qv_disk_bus)v;
    TRY(rc);
    if (rc == 0)
        d->bus = (enum qv_disk_bus)qv_conf_rule_bus_for_target(d->target);
    TRY(get_enum_str(c, o, "format", qv_conf_disk_formats, &d->driver_type));
    TRY(get_bool(c, o, "readonly", &d->readonly));
    TRY(get_enum_str(c, o, "cache", qv_conf_disk_caches, &d->cache));
    TRY(get_enum_str(c, o, "io", qv_conf_disk_ios, &d->io));
    TRY(get_enum_str(c, o, "discard", qv_conf_disk_discards, &d->discard));
    TRY(get_str(c, o, "backing", qv_conf_check_path, &d->backing));
    TRY(get_enum_str(c, o, "backing_format", qv_conf_disk_formats, &d->backing_format));
    if (d->backing && !d->source)
        return jerr(c, "backing", "needs \"path\" (the overlay on top of it)");
    if (d->backing_format && !d->backing)
        return jerr(c, "backing_format", "needs \"backing\"");
    uint64_t bs = 0;
    TRY(get_uint(c, o, "logical_block_size", UINT32_MAX, &bs));
    const char *why = qv_conf_rule_block_size(bs);
    if (why)
        return jerr(c, "logical_block_size", "%" G_GUINT64_FORMAT " %s", bs, why);
    d->logical_block_size = (uint32_t)bs;
    rc = get_u32(c, o, "boot_order", 65535, &d->boot_order);
    TRY(rc);
    if (rc == 1 && d->boot_order == 0)
        return jerr(c, "boot_order", "must be from 1 to 65535");
    TRY(get_uint(c, o, "io_bytes_per_sec", INT64_MAX, &d->total_bytes_sec));
    TRY(get_uint(c, o, "iops", INT64_MAX, &d->total_iops_sec));
    rc = get_u32(c, o, "iothread", UINT32_MAX, &d->iothread);
    TRY(rc);
    if (rc == 1 && d->iothread == 0)
        return jerr(c, "iothread", "must be from 1 (an IOThread id)");
    TRY(get_str(c, o, "serial", qv_conf_check_disk_serial, &d->serial));
    return get_placement(c, o, &d->addr, &d->alias);
}

/* bits/s -> KiB/s (libvirt's unit), rounded up so a limit stays a limit. */
static int get_bits(struct jctx *c, JsonObject *o, const char *key, uint64_t *kbps)
{
    uint64_t bits;
    int rc = get_uint(c, o, key, (uint64_t)UINT32_MAX * 8192, &bits);
    if (rc == 1) {
        if (bits == 0)
            return jerr(c, key, "must be at least 1 (leave it out for no limit)");
        *kbps = bits / 8192 + (bits % 8192 != 0);
    }
    return rc;
}

/* libvirt's burst is in KiB; the config speaks bytes (rounded up). */
static int get_burst(struct jctx *c, JsonObject *o, const char *key, uint64_t *kib)
{
    uint64_t bytes;
    int rc = get_uint(c, o, key, (uint64_t)UINT32_MAX * 1024, &bytes);
    if (rc == 1) {
        if (bytes == 0)
            return jerr(c, key, "must be at least 1 (leave it out for the default)");
        *kib = bytes / 1024 + (bytes % 1024 != 0);
    }
    return rc;
}

static int parse_nic(struct jctx *c, JsonObject *o, struct qv_net *n)
{
    int v;
    TRY(check_keys(c, o,
                   "type source source_mode mac model driver queues rx_queue_size boot_order "
                   "host_port inbound_bits_per_sec "
                   "outbound_bits_per_sec inbound_peak_bits_per_sec outbound_peak_bits_per_sec "
                   "inbound_burst_bytes outbound_burst_bytes address alias"));
    int rc = get_enum(c, o, "type", qv_conf_net_types, &v);
    TRY(rc);
    n->type = rc == 1 ? (enum qv_net_type)v : QV_NET_USER;
    TRY(get_str(c, o, "source", qv_conf_check_devname, &n->source));
    if (n->type == QV_NET_ETHERNET && n->source)
        return jerr(c, "source", "is not used by an ethernet NIC");
    if (!n->source &&
        (n->type == QV_NET_BRIDGE || n->type == QV_NET_NETWORK || n->type == QV_NET_DIRECT))
        return jerr(c, "source", "is required for a %s NIC", qv_conf_net_types[n->type]);
    rc = get_enum(c, o, "source_mode", qv_conf_direct_modes, &v);
    TRY(rc);
    if (rc == 1 && n->type != QV_NET_DIRECT)
        return jerr(c, "source_mode", "is only used by a direct NIC");
    if (rc == 1)
        n->source_mode = g_strdup(qv_conf_direct_modes[v]);
    g_autofree char *mac = NULL;
    TRY(get_str(c, o, "mac", qv_conf_check_line, &mac));
    if (mac && !qv_conf_norm_mac(mac, n->mac))
        return jerr(c, "mac", "\"%s\" is not a unicast MAC address (xx:xx:xx:xx:xx:xx)", mac);
    TRY(get_str(c, o, "model", qv_conf_check_model, &n->model));
    TRY(get_enum_str(c, o, "driver", qv_conf_net_drivers, &n->driver_name));
    const char *why;
    rc = get_u32(c, o, "queues", UINT32_MAX, &n->queues);
    TRY(rc);
    if (rc == 1 && (why = qv_conf_rule_net_queues(n->queues)))
        return jerr(c, "queues", "%s", why);
    rc = get_u32(c, o, "rx_queue_size", UINT32_MAX, &n->rx_queue_size);
    TRY(rc);
    if (rc == 1 && (why = qv_conf_rule_net_ring(n->rx_queue_size)))
        return jerr(c, "rx_queue_size", "%s", why);
    rc = get_u32(c, o, "boot_order", 65535, &n->boot_order);
    TRY(rc);
    if (rc == 1 && n->boot_order == 0)
        return jerr(c, "boot_order", "must be from 1 to 65535");
    uint64_t port = 0;
    rc = get_uint(c, o, "host_port", 65535, &port);
    TRY(rc);
    if (rc == 1 && (port == 0 || n->type != QV_NET_USER))
        return jerr(c, "host_port",
                    port ? "only a user NIC forwards a host port" : "must be from 1 to 65535");
    n->host_port = (uint16_t)port;
    TRY(get_bits(c, o, "inbound_bits_per_sec", &n->inbound_kbps));
    TRY(get_bits(c, o, "outbound_bits_per_sec", &n->outbound_kbps));
    TRY(get_bits(c, o, "inbound_peak_bits_per_sec", &n->inbound_peak_kbps));
    TRY(get_bits(c, o, "outbound_peak_bits_per_sec", &n->outbound_peak_kbps));
    TRY(get_burst(c, o, "inbound_burst_bytes", &n->inbound_burst_kib));
    TRY(get_burst(c, o, "outbound_burst_bytes", &n->outbound_burst_kib));
    const char *const dirs[] = {"inbound", "outbound"};
    const uint64_t avg[] = {n->inbound_kbps, n->outbound_kbps};
    const uint64_t peak[] = {n->inbound_peak_kbps, n->outbound_peak_kbps};
    const uint64_t burst[] = {n->inbound_burst_kib, n->outbound_burst_kib};
    for (int i = 0; i < 2; i++) {
        g_autofree char *key = g_strdup_printf("%s_peak_bits_per_sec", dirs[i]);
        if (peak[i] && peak[i] < avg[i])
            return jerr(c, key, "is below the average rate");
        if ((peak[i] || burst[i]) && !avg[i])
            return jerr(c, key, "needs the average rate (%s_bits_per_sec)", dirs[i]);
    }
    return get_placement(c, o, &n->addr, &n->alias);
}

static int parse_pci(struct jctx *c, JsonObject *o, struct qv_hostdev *h)
{
    /* gpu and nic are vfio passthrough with the defaults that kind of
     * device needs (docs/drivers.md, qemu). */
    static const char *const types[] = {"vfio", "gpu", "nic", NULL};
    TRY(check_keys(c, o, "bdf type managed"));
    g_autofree char *bdf = NULL;
    if (get_str(c, o, "bdf", qv_conf_check_line, &bdf) <= 0)
        return json_object_has_member(o, "bdf") ? QV_ERR_JSON
                                                : jerr(c, "bdf", "is required (\"0000:03:00.0\")");
    unsigned dom = 0, bus, slot, fn;
    char tail;
    int got = sscanf(bdf, "%4x:%2x:%2x.%1x%c", &dom, &bus, &slot, &fn, &tail);
    if (got != 4) {
        dom = 0;
        got = sscanf(bdf, "%2x:%2x.%1x%c", &bus, &slot, &fn, &tail) == 3 ? 4 : 0;
    }
    if (got != 4 || strspn(bdf, "0123456789abcdefABCDEF:.") != strlen(bdf) || slot > 0x1f || fn > 7)
        return jerr(c, "bdf",
                    "\"%s\" is not a PCI address (DDDD:BB:SS.F, slot <= 1f, function <= 7)", bdf);
    h->domain = (uint16_t)dom;
    h->bus = (uint8_t)bus;
    h->slot = (uint8_t)slot;
    h->function = (uint8_t)fn;
    TRY(get_enum_str(c, o, "type", types, &h->driver));
    if (h->driver && strcmp(h->driver, "vfio") != 0) {
        h->role = h->driver;
        h->driver = g_strdup("vfio");
    }
    h->managed = true;
    TRY(get_bool(c, o, "managed", &h->managed));
    return 0;
}

static int parse_chardev(struct jctx *c, JsonObject *o, struct qv_chardev *ch, bool console)
{
    static const char *const modes[] = {"connect", "bind", NULL};
    int v;
    TRY(check_keys(c, o,
                   console ? "type path host service mode target_port target_type address"
                           : "type path host service mode target_port target_type target_model "
                             "address"));
    int rc = get_enum(c, o, "type", qv_conf_chr_types, &v);
    TRY(rc);
    ch->type = rc == 1 ? (enum qv_chardev_type)v : QV_CHR_PTY;
    bool has_path = ch->type == QV_CHR_PTY || ch->type == QV_CHR_FILE || ch->type == QV_CHR_UNIX;
    bool is_tcp = ch->type == QV_CHR_TCP;
    if (!has_path && json_object_has_member(o, "path"))
        return jerr(c, "path", "is not used by a %s device", qv_conf_chr_types[ch->type]);
    if (!is_tcp && (json_object_has_member(o, "host") || json_object_has_member(o, "service")))
        return jerr(c, json_object_has_member(o, "host") ? "host" : "service",
                    "is only used by a tcp device");
    if (ch->type != QV_CHR_TCP && ch->type != QV_CHR_UNIX && json_object_has_member(o, "mode"))
        return jerr(c, "mode", "is only used by a tcp or unix device");
    TRY(get_str(c, o, "path", qv_conf_check_path, &ch->path));
    TRY(get_str(c, o, "host", qv_conf_check_host, &ch->host));
    JsonNode *svc = json_object_get_member(o, "service");
    if (svc) {
        uint64_t port;
        if (JSON_NODE_HOLDS_VALUE(svc) && json_node_get_value_type(svc) == G_TYPE_STRING) {
            if (!qv_conf_parse_uint(json_node_get_string(svc), 65535, &port))
                return jerr(c, "service", "expected a TCP port from 1 to 65535");
        } else {
            TRY(uint_of(c, "service", svc, 65535, &port));
        }
        if (port == 0)
            return jerr(c, "service", "expected a TCP port from 1 to 65535");
        ch->service = g_strdup_printf("%" G_GUINT64_FORMAT, port);
    }
    rc = get_enum(c, o, "mode", modes, &v);
    TRY(rc);
    ch->listen = rc == 1 && v == 1;
    if ((ch->type == QV_CHR_FILE || ch->type == QV_CHR_UNIX) && !ch->path)
        return jerr(c, "path", "is required for a %s device", qv_conf_chr_types[ch->type]);
    if (is_tcp && (!ch->host || !ch->service))
        return jerr(c, ch->host ? "service" : "host", "is required for a tcp device");
    TRY(get_u32(c, o, "target_port", 255, &ch->port));
    TRY(get_enum_str(c, o, "target_type",
                     console ? qv_conf_console_targets : qv_conf_serial_targets, &ch->target_type));
    if (!console)
        TRY(get_enum_str(c, o, "target_model", qv_conf_serial_models, &ch->target_model));
    TRY(get_address(c, o,
                    console ? QV_ADDR_MASK(QV_ADDR_VIRTIO_SERIAL)
                            : QV_ADDR_MASK(QV_ADDR_ISA) | QV_ADDR_MASK(QV_ADDR_PCI),
                    &ch->addr));
    return 0;
}

static int parse_channel(struct jctx *c, JsonObject *o, struct qv_channel *ch)
{
    static const char *const types[] = {"pty", "unix", NULL};
    static const char *const targets[] = {"virtio", NULL};
    int v;
    TRY(check_keys(c, o, "type path target_type name address"));
    int rc = get_enum(c, o, "type", types, &v);
    TRY(rc);
    ch->type = rc == 1 && v == 1 ? QV_CHR_UNIX : QV_CHR_PTY;
    TRY(get_str(c, o, "path", qv_conf_check_path, &ch->path));
    TRY(get_enum_str(c, o, "target_type", targets, &ch->target_type));
    if (!ch->target_type)
        ch->target_type = g_strdup("virtio");
    TRY(get_str(c, o, "name", qv_conf_check_token, &ch->target_name));
    TRY(get_address(c, o, QV_ADDR_MASK(QV_ADDR_VIRTIO_SERIAL), &ch->addr));
    return 0;
}

static int parse_graphics(struct jctx *c, JsonObject *o, struct qv_graphics *g)
{
    int v;
    TRY(check_keys(c, o, "type port listen"));
    int rc = get_enum(c, o, "type", qv_conf_graphics_types, &v);
    TRY(rc);
    g->type = rc == 1 ? (enum qv_graphics_type)v : QV_GRAPHICS_VNC;
    g->port = -1;
    JsonNode *p = json_object_get_member(o, "port");
    if (p && !(JSON_NODE_HOLDS_VALUE(p) && json_node_get_value_type(p) == G_TYPE_INT64 &&
               json_node_get_int(p) == -1)) {
        uint64_t port;
        TRY(uint_of(c, "port", p, 65535, &port));
        if (port == 0)
            return jerr(c, "port", "must be -1 (pick one) or from 1 to 65535");
        g->port = (int)port;
    }
    TRY(get_str(c, o, "listen", qv_conf_check_host, &g->listen));
    return 0;
}

static int parse_rng(struct jctx *c, JsonObject *o, struct qv_rng *r)
{
    TRY(check_keys(c, o, "model backend address"));
    TRY(get_address(c, o, QV_ADDR_MASK(QV_ADDR_PCI), &r->addr));
    TRY(get_enum_str(c, o, "model", qv_conf_rng_models, &r->model));
    if (!r->model)
        r->model = g_strdup("virtio");
    TRY(get_str(c, o, "backend", qv_conf_check_path, &r->backend));
    return 0;
}

enum dev_kind {
    DEV_DISK,
    DEV_NIC,
    DEV_PCI,
    DEV_SERIAL,
    DEV_CONSOLE,
    DEV_CHANNEL,
    DEV_GRAPHICS,
    DEV_RNG
};

static int parse_device(struct jctx *c, JsonObject *o, enum dev_kind kind, struct qv_domain *def)
{
    int rc = 0;
    switch (kind) {
    case DEV_DISK: {
        struct qv_disk *d = g_new0(struct qv_disk, 1);
        g_ptr_array_add(def->disks, d);
        rc = parse_disk(c, o, d);
        break;
    }
    case DEV_NIC: {
        struct qv_net *n = g_new0(struct qv_net, 1);
        g_ptr_array_add(def->nets, n);
        rc = parse_nic(c, o, n);
        break;
    }
    case DEV_PCI: {
        struct qv_hostdev *h = g_new0(struct qv_hostdev, 1);
        g_ptr_array_add(def->hostdevs, h);
        rc = parse_pci(c, o, h);
        break;
    }
    case DEV_SERIAL:
    case DEV_CONSOLE: {
        struct qv_chardev *ch = g_new0(struct qv_chardev, 1);
        g_ptr_array_add(kind == DEV_SERIAL ? def->serials : def->consoles, ch);
        rc = parse_chardev(c, o, ch, kind == DEV_CONSOLE);
        break;
    }
    case DEV_CHANNEL: {
        struct qv_channel *ch = g_new0(struct qv_channel, 1);
        g_ptr_array_add(def->channels, ch);
        rc = parse_channel(c, o, ch);
        break;
    }
    case DEV_GRAPHICS: {
        struct qv_graphics *g = g_new0(struct qv_graphics, 1);
        g_ptr_array_add(def->graphics, g);
        rc = parse_graphics(c, o, g);
        break;
    }
    case DEV_RNG: {
        struct qv_rng *r = g_new0(struct qv_rng, 1);
        g_ptr_array_add(def->rngs, r);
        rc = parse_rng(c, o, r);
        break;
    }
    }
    return rc;
}

static int parse_devices(struct jctx *c, JsonObject *o, struct qv_domain *def)
{
    static const char *const lists[] = {"disks",    "nics",     "pci_passthrough", "serials",
                                        "consoles", "channels", "graphics",        "rngs"};
    TRY(check_keys(c, o,
                   "emulator disks nics pci_passthrough serials consoles channels graphics rngs"));
    TRY(get_str(c, o, "emulator", qv_conf_check_path, &def->emulator));
    for (guint k = 0; k < G_N_ELEMENTS(lists); k++) {
        JsonArray *a;
        int rc = get_array(c, o, lists[k], &a);
        TRY(rc);
        if (rc == 0)
            continue;
        gsize at = push_key(c, lists[k]);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            gsize at2 = push_index(c, i);
            JsonNode *e = json_array_get_element(a, i);
            if (!JSON_NODE_HOLDS_OBJECT(e))
                return jerr(c, NULL, "expected an object, got %s", node_kind(e));
            TRY(parse_device(c, json_node_get_object(e), (enum dev_kind)k, def));
            pop(c, at2);
        }
        pop(c, at);
    }
    return 0;
}

/* The documents' own rules are qv_conf_check_cloud_init's, applied to
 * every definition; a message quoting 256 KiB of YAML would help nobody. */
static const char *any_text(const char *s)
{
    (void)s;
    return NULL;
}

static int parse_cloud_init(struct jctx *c, JsonObject *o, struct qv_domain *def)
{
    TRY(check_keys(c, o, "user_data meta_data network_config"));
    def->cloud_init = g_new0(struct qv_cloud_init, 1);
    TRY(get_str(c, o, "user_data", any_text, &def->cloud_init->user_data));
    TRY(get_str(c, o, "meta_data", any_text, &def->cloud_init->meta_data));
    TRY(get_str(c, o, "network_config", any_text, &def->cloud_init->network_config));
    if (!def->cloud_init->user_data)
        return jerr(c, "user_data", "is required");
    return 0;
}

/* ---- top level ---- */

static int parse_root(struct jctx *c, JsonObject *o, struct qv_domain *def)
{
    int v, rc;
    if (json_object_has_member(o, "left_out"))
        return jerr(c, "left_out",
                    "lists what the JSON config cannot express (vm show --json wrote it); define "
                    "this VM from its XML (vm show --xml) to keep all of it");
    TRY(check_keys(c, o,
                   "name type uuid title description vcpus max_vcpus vcpu_placement vcpu_cpuset "
                   "memory current_memory hugepages features clock pm cpu boot lifecycle "
                   "devices cloud_init metadata cgroup_partition"));
    if (get_str(c, o, "name", qv_conf_check_line, &def->name) <= 0)
        return json_object_has_member(o, "name") ? QV_ERR_JSON : jerr(c, "name", "is required");
    if ((rc = get_enum(c, o, "type", qv_conf_virt_types, &v)) == 1)
        def->type = (enum qv_virt_type)v;
    TRY(rc);
    g_autofree char *uuid = NULL;
    TRY(get_str(c, o, "uuid", qv_conf_check_line, &uuid));
    if (uuid && !qv_conf_norm_uuid(uuid, def->uuid))
        return jerr(c, "uuid", "\"%s\" is not a UUID", uuid);
    TRY(get_str(c, o, "title", qv_conf_check_line, &def->title));
    TRY(get_str(c, o, "description", qv_conf_check_text, &def->description));
    TRY(get_str(c, o, "cgroup_partition", qv_conf_check_partition, &def->partition));
    if (get_u32(c, o, "vcpus", 65535, &def->vcpus) <= 0)
        return json_object_has_member(o, "vcpus") ? QV_ERR_JSON : jerr(c, "vcpus", "is required");
    def->max_vcpus = def->vcpus;
    TRY(get_u32(c, o, "max_vcpus", 65535, &def->max_vcpus));
    TRY(get_enum_str(c, o, "vcpu_placement", qv_conf_vcpu_placements, &def->vcpu_placement));
    TRY(get_str(c, o, "vcpu_cpuset", qv_conf_check_cpuset, &def->vcpu_cpuset));
    if (get_size_kib(c, o, "memory", &def->memory_kib) <= 0)
        return json_object_has_member(o, "memory")
                   ? QV_ERR_JSON
                   : jerr(c, "memory", "is required (bytes, or a size like \"512M\")");
    TRY(get_size_kib(c, o, "current_memory", &def->current_memory_kib));
    TRY(get_bool(c, o, "hugepages", &def->hugepages));
    JsonObject *sub;
    if ((rc = get_object(c, o, "features", &sub)) == 1) {
        gsize at = push_key(c, "features");
        TRY(check_keys(c, sub, "acpi apic pae"));
        TRY(get_bool(c, sub, "acpi", &def->acpi));
        TRY(get_bool(c, sub, "apic", &def->apic));
        TRY(get_bool(c, sub, "pae", &def->pae));
        pop(c, at);
    }
    TRY(rc);
    if ((rc = get_object(c, o, "clock", &sub)) == 1) {
        gsize at = push_key(c, "clock");
        TRY(parse_clock(c, sub, def));
        pop(c, at);
    }
    TRY(rc);
    if ((rc = get_object(c, o, "pm", &sub)) == 1) {
        gsize at = push_key(c, "pm");
        TRY(parse_pm(c, sub, def));
        pop(c, at);
    }
    TRY(rc);
    if ((rc = get_object(c, o, "cpu", &sub)) == 1) {
        gsize at = push_key(c, "cpu");
        TRY(parse_cpu(c, sub, def));
        pop(c, at);
    }
    TRY(rc);
    if ((rc = get_object(c, o, "boot", &sub)) == 1) {
        gsize at = push_key(c, "boot");
        TRY(parse_boot(c, sub, def));
        pop(c, at);
    }
    TRY(rc);
    if ((rc = get_object(c, o, "lifecycle", &sub)) == 1) {
        gsize at = push_key(c, "lifecycle");
        TRY(check_keys(c, sub, "on_poweroff on_reboot on_crash"));
        TRY(get_enum_str(c, sub, "on_poweroff", qv_conf_off_actions, &def->on_poweroff));
        TRY(get_enum_str(c, sub, "on_reboot", qv_conf_off_actions, &def->on_reboot));
        TRY(get_enum_str(c, sub, "on_crash", qv_conf_crash_actions, &def->on_crash));
        pop(c, at);
    }
    TRY(rc);
    if ((rc = get_object(c, o, "devices", &sub)) == 1) {
        gsize at = push_key(c, "devices");
        TRY(parse_devices(c, sub, def));
        pop(c, at);
    }
    TRY(rc);
    if ((rc = get_object(c, o, "cloud_init", &sub)) == 1) {
        gsize at = push_key(c, "cloud_init");
        TRY(parse_cloud_init(c, sub, def));
        pop(c, at);
    }
    TRY(rc);
    g_autofree char *metadata = NULL;
    TRY(get_str(c, o, "metadata", qv_conf_check_text, &metadata));
    if (metadata && qv_conf_metadata_from_text(metadata, &def->metadata) < 0) {
        g_autofree char *why = g_strdup(qv_last_error()->message);
        return jerr(c, "metadata", "%s", why);
    }
    return 0;
}

struct qv_domain *qv_domain_parse_json(const char *json)
{
    if (!json) {
        qv_error_set(QV_ERR_INVALID_ARG, "JSON config is NULL");
        return NULL;
    }
    /* Beyond the limit, the exact length does not matter. */
    size_t len = strnlen(json, QV_JSON_MAX_BYTES + 1);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_bounded(json, len, "JSON config", &err);
    if (!root) {
        qv_error_set(QV_ERR_JSON, "%s", err->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        qv_error_set(QV_ERR_JSON, "$: expected an object, got %s", node_kind(root));
        return NULL;
    }
    struct jctx c = {.path = g_string_new("$")};
    struct qv_domain *def = qv_domain_new();
    if (parse_root(&c, json_node_get_object(root), def) < 0) {
        qv_domain_free(def);
        def = NULL;
    }
    g_string_free(c.path, TRUE);
    return def;
}
