/* Strict reading of libxml2 trees for the domain XML parser. */
#include "xml_util.h"

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <stdarg.h>
#include <string.h>

#include "../../include/qv/vm.h"
#include "../util/error.h"
#include "conf_check.h"

_Static_assert(QV_XML_MAX_BYTES == QV_DEFINITION_MAX_BYTES, "the documented limit");

/* libxml2 must be initialised once before threads share it: two threads
 * whose first libxml2 call races each create its global mutex, and one
 * leaks. A constructor runs before any thread of the program exists (and
 * before any g_once fast path a thread checker cannot see through). */
__attribute__((constructor)) static void init_libxml(void)
{
    xmlInitParser();
}

/* A DOCTYPE is where entities (billion laughs, external files) come from;
 * no domain XML needs one, so parsing stops as soon as one appears. */
static void refuse_subset(void *ctx, const xmlChar *name, const xmlChar *ext_id,
                          const xmlChar *sys_id)
{
    (void)name;
    (void)ext_id;
    (void)sys_id;
    xmlParserCtxt *ctxt = ctx;
    ctxt->_private = (void *)1;
    xmlStopParser(ctxt);
}

static void refuse_entity(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                          const xmlChar *system_id, xmlChar *content)
{
    (void)name;
    (void)type;
    (void)public_id;
    (void)system_id;
    (void)content;
    xmlParserCtxt *ctxt = ctx;
    ctxt->_private = (void *)1;
    xmlStopParser(ctxt);
}

xmlDoc *qv_conf_xml_read(const char *xml, const char *label)
{

    size_t len = strnlen(xml, QV_XML_MAX_BYTES + 1);
    if (len > QV_XML_MAX_BYTES) {
        qv_error_set(QV_ERR_XML, "%s is larger than the limit of %u bytes", label,
                     QV_XML_MAX_BYTES);
        return NULL;
    }
    if (qv_conf_xml_prescan(xml, len, label) < 0)
        return NULL;
    xmlParserCtxt *ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        qv_error_set(QV_ERR_NOMEM, "%s: cannot allocate an XML parser", label);
        return NULL;
    }
    ctxt->sax->internalSubset = refuse_subset;
    ctxt->sax->externalSubset = refuse_subset;
    ctxt->sax->entityDecl = refuse_entity;
    /* No XML_PARSE_NOENT, DTDLOAD or HUGE: entities stay unexpanded, nothing
     * is fetched, and libxml2's depth and size limits stay on. */
    int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_BIG_LINES |
               XML_PARSE_NOCDATA;
    xmlDoc *doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL, opts);
    if (ctxt->_private) {
        qv_error_set(QV_ERR_XML, "%s line %d: DOCTYPE and entity declarations are not allowed",
                     label, ctxt->input ? ctxt->input->line : 1);
        xmlFreeDoc(doc);
        doc = NULL;
    } else if (!doc || !ctxt->wellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        g_autofree char *msg = g_strdup(e && e->message ? e->message : "not well-formed XML");
        g_strchomp(msg);
        qv_error_set(QV_ERR_XML, "%s line %d: %s", label, e && e->line > 0 ? e->line : 1, msg);
        xmlFreeDoc(doc);
        doc = NULL;
    } else if (!xmlDocGetRootElement(doc)) {
        qv_error_set(QV_ERR_XML, "%s is empty", label);
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    if (doc)
        doc->_private = (void *)label; /* for qv_conf_xml_err; label is static */
    return doc;
}

static const char *doc_label(const xmlNode *n)
{
    return n->doc && n->doc->_private ? n->doc->_private : "XML";
}

int qv_conf_xml_err(const xmlNode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qv_error_set(QV_ERR_XML, "%s line %ld: %s", doc_label(n), xmlGetLineNo(n), msg);
}

/* Set by the errors that mean "qv's model has no place for this" rather
 * than "this value breaks one of qv's rules"; the domain parser keeps an
 * optional element failing the first way and refuses one failing the
 * second. Per thread, as the error state is. */
static _Thread_local bool unmodelled;

void qv_conf_xml_unmodelled_reset(void)
{
    unmodelled = false;
}

bool qv_conf_xml_was_unmodelled(void)
{
    return unmodelled;
}

int qv_conf_xml_unmodelled(const xmlNode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    unmodelled = true;
    return qv_error_set(QV_ERR_XML, "%s line %ld: %s", doc_label(n), xmlGetLineNo(n), msg);
}

static char *elem_name(const xmlNode *n)
{
    if (n->ns && n->ns->prefix)
        return g_strdup_printf("<%s:%s>", n->ns->prefix, n->name);
    return g_strdup_printf("<%s>", n->name);
}

int qv_conf_xml_unknown(const xmlNode *n)
{
    g_autofree char *name = elem_name(n);
    if (n->parent && n->parent->type == XML_ELEMENT_NODE) {
        g_autofree char *parent = elem_name(n->parent);
        return qv_conf_xml_unmodelled(n, "unknown element %s in %s", name, parent);
    }
    return qv_conf_xml_unmodelled(n, "unknown element %s", name);
}

int qv_conf_xml_once(const xmlNode *n, const xmlNode **slot)
{
    if (*slot) {
        g_autofree char *name = elem_name(n);
        return qv_conf_xml_err(n, "duplicate element %s (first one is on line %ld)", name,
                               xmlGetLineNo(*slot));
    }
    *slot = n;
    return 0;
}

static bool blank(const xmlChar *s)
{
    for (; s && *s; s++)
        if (!g_ascii_isspace(*s))
            return false;
    return true;
}

int qv_conf_xml_check(const xmlNode *n, enum qv_xml_content content, const char *attrs)
{
    g_autofree char *name = elem_name(n);
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        if (a->ns && a->ns->prefix)
            return qv_conf_xml_unmodelled(n, "unknown attribute '%s:%s' on %s", a->ns->prefix,
                                          a->name, name);
        if (!qv_conf_word_listed((const char *)a->name, attrs))
            return qv_conf_xml_unmodelled(n, "unknown attribute '%s' on %s", a->name, name);
    }
    for (const xmlNode *c = n->children; c; c = c->next) {
        switch (c->type) {
        case XML_ELEMENT_NODE:
            if (content != QV_XML_ELEMS) {
                g_autofree char *cname = elem_name(c);
                return qv_conf_xml_unmodelled(c, "unexpected element %s in %s", cname, name);
            }
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if (content != QV_XML_TEXT && !blank(c->content))
                return qv_conf_xml_err(c, "unexpected text in %s", name);
            break;
        case XML_ENTITY_REF_NODE:
            return qv_conf_xml_err(c, "entity reference '&%s;' in %s is not allowed", c->name,
                                   name);
        default: break;
        }
    }
    return 0;
}

char *qv_conf_xml_attr(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *s = g_strdup((const char *)v);
    xmlFree(v);
    return s;
}

char *qv_conf_xml_text(const xmlNode *n)
{
    xmlChar *v = xmlNodeGetContent(n);
    char *s = g_strdup(v ? (const char *)v : "");
    xmlFree(v);
    return s;
}

int qv_conf_xml_attr_uint(const xmlNode *n, const char *name, uint64_t max, uint64_t *out)
{
    g_autofree char *v = qv_conf_xml_attr(n, name);
    if (!v)
        return 0;
    if (!qv_conf_parse_uint(v, max, out))
        return qv_conf_xml_err(
            n, "attribute %s='%s' on <%s> must be a whole number from 0 to %" G_GUINT64_FORMAT,
            name, v, n->name, max);
    return 1;
}

int qv_conf_xml_attr_yesno(const xmlNode *n, const char *name, bool *out)
{
    static const char *const yesno[] = {"no", "yes", NULL};
    int v;
    int rc = qv_conf_xml_attr_enum(n, name, yesno, &v);
    if (rc == 1)
        *out = v == 1;
    return rc;
}

int qv_conf_xml_attr_enum(const xmlNode *n, const char *name, const char *const *list, int *out)
{
    g_autofree char *v = qv_conf_xml_attr(n, name);
    if (!v)
        return 0;
    int i = qv_conf_lookup(list, v);
    if (i < 0 || !*list[i]) {
        g_autofree char *all = qv_conf_list_join(list);
        return qv_conf_xml_unmodelled(n, "unsupported %s='%s' on <%s> (expected %s)", name, v,
                                      n->name, all);
    }
    *out = i;
    return 1;
}

int qv_conf_xml_need_enum(const xmlNode *n, const char *name, const char *const *list, int *out)
{
    int rc = qv_conf_xml_attr_enum(n, name, list, out);
    if (rc == 0)
        return qv_conf_xml_unmodelled(n, "<%s> needs a %s attribute", n->name, name);
    return rc;
}

int qv_conf_xml_attr_str(const xmlNode *n, const char *name, const char *(*check)(const char *),
                         char **out)
{
    char *v = qv_conf_xml_attr(n, name);
    if (!v)
        return 0;
    const char *why = check(v);
    if (why) {
        int rc = qv_conf_xml_err(n, "attribute %s on <%s> %s", name, n->name, why);
        g_free(v);
        return rc;
    }
    g_free(*out);
    *out = v;
    return 1;
}

int qv_conf_xml_need_str(const xmlNode *n, const char *name, const char *(*check)(const char *),
                         char **out)
{
    int rc = qv_conf_xml_attr_str(n, name, check, out);
    if (rc == 0)
        return qv_conf_xml_unmodelled(n, "<%s> needs a %s attribute", n->name, name);
    return rc;
}

int qv_conf_xml_text_str(const xmlNode *n, const char *(*check)(const char *), char **out)
{
    char *v = qv_conf_xml_text(n);
    const char *why = check(v);
    if (why) {
        int rc = qv_conf_xml_err(n, "<%s> %s", n->name, why);
        g_free(v);
        return rc;
    }
    g_free(*out);
    *out = v;
    return 0;
}

int qv_conf_xml_text_uint(const xmlNode *n, uint64_t max, uint64_t *out)
{
    g_autofree char *v = qv_conf_xml_text(n);
    g_strstrip(v);
    if (!qv_conf_parse_uint(v, max, out))
        return qv_conf_xml_err(
            n, "<%s> value '%s' must be a whole number from 0 to %" G_GUINT64_FORMAT, n->name, v,
            max);
    return 0;
}

int qv_conf_xml_text_kib(const xmlNode *n, uint64_t *kib)
{
    g_autofree char *unit = qv_conf_xml_attr(n, "unit");
    uint64_t scale = 1024;
    if (unit && (scale = qv_conf_unit_bytes(unit)) == 0)
        return qv_conf_xml_err(n, "<%s> has unknown unit '%s' (use b, KiB, MiB, GiB, TiB, ...)",
                               n->name, unit);
    uint64_t v;
    if (qv_conf_xml_text_uint(n, UINT64_MAX, &v) < 0)
        return QV_ERR_XML;
    if (!qv_conf_scale_kib(v, scale, kib))
        return qv_conf_xml_err(n, "<%s> value is too large", n->name);
    return 0;
}
