/* Shared by the handlers of kept elements outside <devices>: refusals that
 * name the element, its line in the user's document and the attribute,
 * and the reading of libvirt's on/off, number and size attributes. */
#include <stdarg.h>
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

/* "<features><hyperv><vpindex>": n's path inside the kept element, under
 * the element that held it. */
static char *kept_path(const struct qv_kept *k, const xmlNode *n)
{
    GString *s = g_string_new(NULL);
    for (const xmlNode *p = n; p && p->type == XML_ELEMENT_NODE; p = p->parent)
        g_string_prepend(s, ">"), g_string_prepend(s, (const char *)p->name),
            g_string_prepend_c(s, '<');
    if (*k->parent)
        g_string_prepend(s, ">"), g_string_prepend(s, k->parent), g_string_prepend_c(s, '<');
    return g_string_free(s, FALSE);
}

int qemu_machine_refuse(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *path = kept_path(k, n);
    /* The stored XML starts at the kept element's own line. */
    long line = k->line + (xmlGetLineNo(n) > 0 ? xmlGetLineNo(n) - 1 : 0);
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "VM '%s': the qemu driver cannot honour %s (line %ld): %s", v->def->name,
                        path, line, why);
}

bool qemu_machine_listed(const char *list, const char *name)
{
    g_auto(GStrv) names = g_strsplit(list, " ", -1);
    return g_strv_contains((const char *const *)names, name);
}

int qemu_machine_only(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                      const char *attrs, const char *children)
{
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->ns || !qemu_machine_listed(attrs, (const char *)a->name))
            return qemu_machine_refuse(v, k, n, "attribute %s= is not passed on", a->name);
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE &&
            (c->ns || !qemu_machine_listed(children, (const char *)c->name)))
            return qemu_machine_refuse(v, k, c, "this element is not passed on");
    return 0;
}

int qemu_machine_onoff(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                       const char *attr, int dflt)
{
    g_autofree char *s = qv_conf_xml_attr(n, attr);
    if (!s)
        return dflt;
    if (strcmp(s, "on") == 0 || strcmp(s, "yes") == 0)
        return 1;
    if (strcmp(s, "off") == 0 || strcmp(s, "no") == 0)
        return 0;
    return qemu_machine_refuse(v, k, n, "%s='%s' is neither on nor off", attr, s);
}

int qemu_machine_uint(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                      const char *attr, uint64_t max, uint64_t *out)
{
    g_autofree char *s = qv_conf_xml_attr(n, attr);
    if (!s)
        return 0;
    uint64_t x;
    if (!qemu_parse_uint(s, max, &x))
        return qemu_machine_refuse(v, k, n, "%s='%s' is not a number from 0 to %" G_GUINT64_FORMAT,
                                   attr, s, max);
    *out = x;
    return 1;
}

int qemu_machine_kib(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                     uint64_t *kib)
{
    if (qv_conf_xml_text_kib(n, kib) < 0) {
        g_autofree char *why = g_strdup(qv_last_error()->message);
        qv_reset_error();
        const char *colon = strstr(why, ": ");
        return qemu_machine_refuse(v, k, n, "%s", colon ? colon + 2 : why);
    }
    return 0;
}

bool qemu_is_tcg(const struct qv_domain *def)
{
    return def->type != QV_VIRT_KVM;
}

/* Index of the value following opt in the argv built so far, or 0. */
static guint value_of(const struct qemu_argv *v, const char *opt)
{
    for (guint i = 0; i + 1 < v->a->len; i++)
        if (strcmp(g_ptr_array_index(v->a, i), opt) == 0)
            return i + 1;
    return 0;
}

static void append_to(struct qemu_argv *v, guint at, const char *fmt, va_list ap)
{
    g_autofree char *add = g_strdup_vprintf(fmt, ap);
    char *old = g_ptr_array_index(v->a, at);
    v->a->pdata[at] = g_strconcat(old, add, NULL);
    g_free(old);
}

void qemu_argv_machine_opt(struct qemu_argv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_to(v, value_of(v, "-machine"), fmt, ap);
    va_end(ap);
}

void qemu_argv_accel_opt(struct qemu_argv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_to(v, value_of(v, "-accel"), fmt, ap);
    va_end(ap);
}

void qemu_argv_cpu_opt(struct qemu_argv *v, const char *fmt, ...)
{
    guint at = value_of(v, "-cpu");
    if (!at) {
        /* QEMU's own default model, so the flag is all that changes. */
        at = value_of(v, "-accel") + 1;
        g_ptr_array_insert(v->a, (gint)at, g_strdup("-cpu"));
        g_ptr_array_insert(v->a, (gint)at + 1, g_strdup("qemu64"));
        at++;
    }
    va_list ap;
    va_start(ap, fmt);
    append_to(v, at, fmt, ap);
    va_end(ap);
}
