/* regs.json: the vCPU states a directory-mode snapshot captured. 64-bit
 * values are hex strings, since JSON numbers lose precision above 2^53. */
#include <stddef.h>
#include <string.h>

#include "lib/util/error.h"
#include "lib/util/json.h"
#include "noop.h"

#define FIELD(s, f)                                                                                \
    {                                                                                              \
#f, offsetof(struct s, f)                                                                  \
    }

static const struct {
    const char *name;
    size_t off;
} gprs[] =
    {
        FIELD(vcpu_regs, rax), FIELD(vcpu_regs, rbx), FIELD(vcpu_regs, rcx),
        FIELD(vcpu_regs, rdx), FIELD(vcpu_regs, rsi), FIELD(vcpu_regs, rdi),
        FIELD(vcpu_regs, rbp), FIELD(vcpu_regs, rsp), FIELD(vcpu_regs, r8),
        FIELD(vcpu_regs, r9),  FIELD(vcpu_regs, r10), FIELD(vcpu_regs, r11),
        FIELD(vcpu_regs, r12), FIELD(vcpu_regs, r13), FIELD(vcpu_regs, r14),
        FIELD(vcpu_regs, r15), FIELD(vcpu_regs, rip), FIELD(vcpu_regs, rflags),
},
  segs[] =
      {
          FIELD(vcpu_sregs, cs), FIELD(vcpu_sregs, ds),  FIELD(vcpu_sregs, es),
          FIELD(vcpu_sregs, fs), FIELD(vcpu_sregs, gs),  FIELD(vcpu_sregs, ss),
          FIELD(vcpu_sregs, tr), FIELD(vcpu_sregs, ldt),
},
  dtabs[] =
      {
          FIELD(vcpu_sregs, gdt),
          FIELD(vcpu_sregs, idt),
},
  ctrl[] =
      {
          FIELD(vcpu_sregs, cr0),       FIELD(vcpu_sregs, cr2), FIELD(vcpu_sregs, cr3),
          FIELD(vcpu_sregs, cr4),       FIELD(vcpu_sregs, cr8), FIELD(vcpu_sregs, efer),
          FIELD(vcpu_sregs, apic_base),
},
  seg_bytes[] = {
      FIELD(vcpu_segment, type), FIELD(vcpu_segment, present), FIELD(vcpu_segment, dpl),
      FIELD(vcpu_segment, db),   FIELD(vcpu_segment, s),       FIELD(vcpu_segment, l),
      FIELD(vcpu_segment, g),    FIELD(vcpu_segment, avl),     FIELD(vcpu_segment, unusable),
};

static void add_hex(JsonBuilder *b, const char *name, uint64_t v)
{
    g_autofree char *s = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", v);
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, s);
}

static void add_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

static void add_state(JsonBuilder *b, uint32_t id, const struct noop_cpu_state *c)
{
    json_builder_begin_object(b);
    add_int(b, "id", id);
    json_builder_set_member_name(b, "regs");
    json_builder_begin_object(b);
    for (size_t i = 0; i < G_N_ELEMENTS(gprs); i++)
        add_hex(b, gprs[i].name, *(const uint64_t *)((const char *)&c->regs + gprs[i].off));
    json_builder_end_object(b);

    json_builder_set_member_name(b, "sregs");
    json_builder_begin_object(b);
    for (size_t i = 0; i < G_N_ELEMENTS(segs); i++) {
        const struct vcpu_segment *s = (const void *)((const char *)&c->sregs + segs[i].off);
        json_builder_set_member_name(b, segs[i].name);
        json_builder_begin_object(b);
        add_hex(b, "base", s->base);
        add_int(b, "limit", s->limit);
        add_int(b, "selector", s->selector);
        for (size_t k = 0; k < G_N_ELEMENTS(seg_bytes); k++)
            add_int(b, seg_bytes[k].name, *((const uint8_t *)s + seg_bytes[k].off));
        json_builder_end_object(b);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(dtabs); i++) {
        const struct vcpu_dtable *d = (const void *)((const char *)&c->sregs + dtabs[i].off);
        json_builder_set_member_name(b, dtabs[i].name);
        json_builder_begin_object(b);
        add_hex(b, "base", d->base);
        add_int(b, "limit", d->limit);
        json_builder_end_object(b);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(ctrl); i++)
        add_hex(b, ctrl[i].name, *(const uint64_t *)((const char *)&c->sregs + ctrl[i].off));
    json_builder_end_object(b);

    json_builder_set_member_name(b, "msrs");
    json_builder_begin_array(b);
    for (guint i = 0; c->msrs && i < c->msrs->len; i++) {
        const struct noop_msr *m = &g_array_index(c->msrs, struct noop_msr, i);
        json_builder_begin_object(b);
        add_int(b, "index", m->index);
        add_hex(b, "value", m->value);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

char *noop_regs_to_json(GArray *ids, GPtrArray *states)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vcpus");
    json_builder_begin_array(b);
    for (guint i = 0; i < ids->len; i++)
        add_state(b, g_array_index(ids, uint32_t, i), g_ptr_array_index(states, i));
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, NULL);
}

static bool get_int(JsonObject *o, const char *name, gint64 max, gint64 *out)
{
    return noop_json_int(o, name, out) && *out >= 0 && *out <= max;
}

static JsonObject *get_obj(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* Returns the name of the first bad member, or NULL. */
static const char *parse_state(JsonObject *o, uint32_t *id, struct noop_cpu_state *c)
{
    gint64 v;
    if (!get_int(o, "id", G_MAXUINT32, &v))
        return "id";
    *id = (uint32_t)v;
    JsonObject *r = get_obj(o, "regs"), *s = get_obj(o, "sregs");
    if (!r)
        return "regs";
    if (!s)
        return "sregs";
    for (size_t i = 0; i < G_N_ELEMENTS(gprs); i++)
        if (noop_parse_hex64(r, gprs[i].name, (uint64_t *)((char *)&c->regs + gprs[i].off)) < 0)
            return gprs[i].name;
    for (size_t i = 0; i < G_N_ELEMENTS(segs); i++) {
        struct vcpu_segment *seg = (void *)((char *)&c->sregs + segs[i].off);
        JsonObject *so = get_obj(s, segs[i].name);
        if (!so || noop_parse_hex64(so, "base", &seg->base) < 0)
            return segs[i].name;
        if (!get_int(so, "limit", G_MAXUINT32, &v))
            return segs[i].name;
        seg->limit = (uint32_t)v;
        if (!get_int(so, "selector", G_MAXUINT16, &v))
            return segs[i].name;
        seg->selector = (uint16_t)v;
        for (size_t k = 0; k < G_N_ELEMENTS(seg_bytes); k++) {
            if (!get_int(so, seg_bytes[k].name, G_MAXUINT8, &v))
                return segs[i].name;
            *((uint8_t *)seg + seg_bytes[k].off) = (uint8_t)v;
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(dtabs); i++) {
        struct vcpu_dtable *d = (void *)((char *)&c->sregs + dtabs[i].off);
        JsonObject *dobj = get_obj(s, dtabs[i].name);
        if (!dobj || noop_parse_hex64(dobj, "base", &d->base) < 0 ||
            !get_int(dobj, "limit", G_MAXUINT16, &v))
            return dtabs[i].name;
        d->limit = (uint16_t)v;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(ctrl); i++)
        if (noop_parse_hex64(s, ctrl[i].name, (uint64_t *)((char *)&c->sregs + ctrl[i].off)) < 0)
            return ctrl[i].name;
    JsonNode *mn = json_object_get_member(o, "msrs");
    if (!mn || !JSON_NODE_HOLDS_ARRAY(mn))
        return "msrs";
    JsonArray *ma = json_node_get_array(mn);
    for (guint i = 0; i < json_array_get_length(ma); i++) {
        JsonNode *e = json_array_get_element(ma, i);
        JsonObject *eo = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        struct noop_msr m;
        if (!eo || !get_int(eo, "index", G_MAXUINT32, &v) ||
            noop_parse_hex64(eo, "value", &m.value) < 0)
            return "msrs";
        m.index = (uint32_t)v;
        g_array_append_val(c->msrs, m);
    }
    return NULL;
}

static void state_free(gpointer p)
{
    noop_cpu_state_clear(p);
    g_free(p);
}

int noop_regs_from_json(const char *json, size_t len, const char *path, GArray *ids,
                        GPtrArray *states)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_limited(json, len, NOOP_REGS_JSON_MAX, path, &err);
    if (!root)
        return qv_error_set(QV_ERR_JSON, "%s", err->message);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *an = o ? json_object_get_member(o, "vcpus") : NULL;
    if (!an || !JSON_NODE_HOLDS_ARRAY(an))
        return qv_error_set(QV_ERR_JSON, "%s: $.vcpus: expected an array", path);
    g_ptr_array_set_free_func(states, state_free);
    JsonArray *a = json_node_get_array(an);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        struct noop_cpu_state *c = g_new0(struct noop_cpu_state, 1);
        c->msrs = g_array_new(FALSE, TRUE, sizeof(struct noop_msr));
        g_ptr_array_add(states, c);
        uint32_t id = 0;
        const char *bad =
            JSON_NODE_HOLDS_OBJECT(e) ? parse_state(json_node_get_object(e), &id, c) : "(element)";
        if (bad)
            return qv_error_set(QV_ERR_JSON, "%s: $.vcpus[%u].%s: missing or invalid", path, i,
                                bad);
        g_array_append_val(ids, id);
    }
    return 0;
}
