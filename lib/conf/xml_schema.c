/* libvirt's own schema (domain.rng) for domain XML a user supplies. It is
 * compiled once per process, on the first user-supplied document (about
 * 17 ms), and never for definitions qv stored or generated itself. */
#include "xml_schema.h"

#include <glib.h>
#include <libxml/relaxng.h>
#include <libxml/xmlerror.h>

#include "../util/error.h"

#define QV_DEFAULT_DOMAIN_RNG "/usr/share/libvirt/schemas/domain.rng"

static GMutex schema_lock;
static xmlRelaxNGPtr schema;
static char *schema_error;

/* Compiling the schema prints nothing: its messages are not the user's. */
static void quiet(void *ctx, const xmlError *e)
{
    (void)ctx;
    (void)e;
}

static const char *schema_path(void)
{
    const char *env = g_getenv("QV_DOMAIN_RNG");
    return env && *env ? env : QV_DEFAULT_DOMAIN_RNG;
}

/* With schema_lock held. */
static int compile(void)
{
    if (schema)
        return 0;
    if (schema_error)
        return -1;
    const char *path = schema_path();
    xmlRelaxNGParserCtxtPtr p = xmlRelaxNGNewParserCtxt(path);
    if (p) {
        xmlRelaxNGSetParserStructuredErrors(p, (xmlStructuredErrorFunc)quiet, NULL);
        schema = xmlRelaxNGParse(p);
        xmlRelaxNGFreeParserCtxt(p);
    }
    if (!schema) {
        schema_error = g_strdup_printf("cannot check domain XML: libvirt's schema %s is missing "
                                       "or unreadable (Debian package libvirt0)",
                                       path);
        return -1;
    }
    return 0;
}

void qv_conf_xml_schema_release(void)
{
    g_mutex_lock(&schema_lock);
    if (schema)
        xmlRelaxNGFree(schema);
    schema = NULL;
    g_mutex_unlock(&schema_lock);
}

struct collected {
    int line;
    char *first;
    unsigned count;
};

static void collect(void *ctx, const xmlError *e)
{
    struct collected *c = ctx;
    if (c->count++ == 0) {
        c->line = e->line;
        c->first = g_strdup(e->message ? e->message : "invalid");
        g_strchomp(c->first);
    }
}

static void ignore(void *ctx, const xmlError *e)
{
    (void)ctx;
    (void)e;
}

/* With schema_lock held. c NULL: errors are not collected. */
static int validate(xmlDoc *doc, struct collected *c)
{
    xmlRelaxNGValidCtxtPtr v = xmlRelaxNGNewValidCtxt(schema);
    if (!v)
        return -1;
    xmlRelaxNGSetValidStructuredErrors(v, (xmlStructuredErrorFunc)(c ? collect : ignore), c);
    int rc = xmlRelaxNGValidateDoc(v, doc);
    xmlRelaxNGFreeValidCtxt(v);
    return rc;
}

/* libxml2 reports a mismatch inside libvirt's <interleave>s at the
 * interleave, often with no line ("Extra element devices in interleave").
 * Find what the user has to fix instead: the deepest element, then
 * attribute, whose removal makes the document valid. Error path only: each
 * step is one validation. */
static xmlNode *culprit_in(xmlDoc *doc, xmlNode *n)
{
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        xmlNode *prev = c->prev, *parent = c->parent;
        xmlUnlinkNode(c);
        int ok = validate(doc, NULL) == 0;
        if (prev)
            xmlAddNextSibling(prev, c);
        else if (parent->children)
            xmlAddPrevSibling(parent->children, c);
        else
            xmlAddChild(parent, c);
        if (ok) {
            xmlNode *deeper = culprit_in(doc, c);
            return deeper ? deeper : c;
        }
    }
    return NULL;
}

static const xmlAttr *culprit_attr(xmlDoc *doc, xmlNode *n)
{
    for (xmlAttr *a = n->properties; a; a = a->next) {
        xmlAttr *prev = a->prev, *next = a->next;
        /* Detach a in place and put it back: the list order is kept. */
        if (prev)
            prev->next = next;
        else
            n->properties = next;
        if (next)
            next->prev = prev;
        int ok = validate(doc, NULL) == 0;
        if (prev)
            prev->next = a;
        else
            n->properties = a;
        if (next)
            next->prev = a;
        if (ok)
            return a;
    }
    return NULL;
}

static char *node_name(const xmlNode *n)
{
    if (n->ns && n->ns->prefix)
        return g_strdup_printf("<%s:%s>", n->ns->prefix, n->name);
    return g_strdup_printf("<%s>", n->name);
}

int qv_conf_xml_schema_check(xmlDoc *doc, const char *label, long *where)
{
    g_mutex_lock(&schema_lock);
    int rc = compile();
    if (rc < 0) {
        g_mutex_unlock(&schema_lock);
        return qv_error_set(QV_ERR_XML, "%s", schema_error);
    }
    struct collected c = {0};
    rc = validate(doc, &c);
    if (rc == 0) {
        g_mutex_unlock(&schema_lock);
        return 0;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *bad = root ? culprit_in(doc, root) : NULL;
    const xmlAttr *attr = bad ? culprit_attr(doc, bad) : NULL;
    g_autofree char *what = NULL;
    g_autofree char *elem = bad ? node_name(bad) : NULL;
    if (bad && attr)
        what = g_strdup_printf("attribute '%s' on %s is not valid there", (const char *)attr->name,
                               elem);
    else if (bad)
        what = g_strdup_printf("%s does not match it", elem);
    long line = bad ? xmlGetLineNo(bad) : c.line;
    if (where)
        *where = line;
    g_mutex_unlock(&schema_lock);
    if (!c.first)
        c.first = g_strdup("the document does not match it");
    if (what)
        rc = qv_error_set(QV_ERR_XML, "%s line %ld: libvirt's schema refuses it: %s (%s)", label,
                          line, what, c.first);
    else
        rc = qv_error_set(QV_ERR_XML, "%s line %ld: libvirt's schema refuses it: %s", label, line,
                          c.first);
    g_free(c.first);
    return rc;
}
