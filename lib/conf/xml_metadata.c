/* <metadata>: libvirt stores its children for applications and never reads
 * them, and so does qv, with one exception: the children in qv's own
 * namespace carry what libvirt's schema has no element for (cloud-init
 * documents). Everything else is kept as written and given back. */
#include <libxml/tree.h>
#include <string.h>

#include "../util/error.h"
#include "conf_check.h"
#include "domain.h"
#include "xml_devices.h"
#include "xml_metadata.h"
#include "xml_util.h"

static bool in_qv_ns(const xmlNode *n)
{
    return n->ns && n->ns->href && strcmp((const char *)n->ns->href, QV_XML_NS) == 0;
}

/* The element as a document of its own, with the namespaces it uses
 * declared on it, so it can be pasted back anywhere. */
static char *dump_alone(const xmlNode *c)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *copy = xmlDocCopyNode((xmlNode *)c, doc, 1);
    xmlBuffer *buf = xmlBufferCreate();
    char *out = NULL;
    if (copy && buf) {
        xmlDocSetRootElement(doc, copy);
        xmlNodeDump(buf, doc, copy, 0, 0);
        out = g_strdup((const char *)xmlBufferContent(buf));
    }
    if (buf)
        xmlBufferFree(buf);
    xmlFreeDoc(doc);
    return out;
}

static int parse_cloud_init(const xmlNode *n, struct qv_domain *def)
{
    if (def->cloud_init)
        return qv_conf_xml_err(n, "a second <qv:cloud-init> in <metadata>");
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    struct qv_cloud_init *ci = g_new0(struct qv_cloud_init, 1);
    def->cloud_init = ci;
    FOR_EACH_ELEMENT(n, c)
    {
        char **slot = NULL;
        if (in_qv_ns(c) && strcmp((const char *)c->name, "user-data") == 0)
            slot = &ci->user_data;
        else if (in_qv_ns(c) && strcmp((const char *)c->name, "meta-data") == 0)
            slot = &ci->meta_data;
        else if (in_qv_ns(c) && strcmp((const char *)c->name, "network-config") == 0)
            slot = &ci->network_config;
        if (!slot)
            return qv_conf_xml_err(c,
                                   "unknown element <%s> in <qv:cloud-init> (expected "
                                   "<qv:user-data>, <qv:meta-data>, <qv:network-config>)",
                                   c->name);
        if (*slot)
            return qv_conf_xml_err(c, "a second <qv:%s> in <qv:cloud-init>", c->name);
        TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
        *slot = qv_conf_xml_text(c);
    }
    if (!ci->user_data)
        return qv_conf_xml_err(n, "<qv:cloud-init> needs a <qv:user-data>");
    return 0;
}

int qv_conf_xml_parse_metadata(const xmlNode *n, struct qv_domain *def)
{
    if (def->metadata || def->cloud_init)
        return qv_conf_xml_err(n, "a second <metadata>");
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    GString *others = g_string_new(NULL);
    int rc = 0;
    FOR_EACH_ELEMENT(n, c)
    {
        if (in_qv_ns(c) && strcmp((const char *)c->name, "cloud-init") == 0) {
            rc = parse_cloud_init(c, def);
        } else if (in_qv_ns(c)) {
            rc = qv_conf_xml_err(c, "unknown element <%s> in qv's namespace %s (expected "
                                    "<cloud-init>)",
                                 c->name, QV_XML_NS);
        } else {
            g_autofree char *xml = dump_alone(c);
            if (!xml)
                rc = qv_error_set(QV_ERR_NOMEM, "cannot copy <%s> of <metadata>", c->name);
            else
                g_string_append(others, xml);
        }
        if (rc < 0)
            break;
    }
    if (rc == 0 && others->len)
        def->metadata = g_string_free(others, FALSE);
    else
        g_string_free(others, TRUE);
    return rc < 0 ? QV_ERR_XML : 0;
}

static void doc_elem(xmlTextWriter *w, const char *name, const char *text)
{
    if (!text)
        return;
    xmlTextWriterStartElementNS(w, (const xmlChar *)QV_XML_PREFIX, (const xmlChar *)name, NULL);
    xmlTextWriterWriteString(w, (const xmlChar *)text);
    xmlTextWriterEndElement(w);
}

void qv_conf_xml_format_metadata(xmlTextWriter *w, const struct qv_domain *def)
{
    if (!def->metadata && !def->cloud_init)
        return;
    xmlTextWriterStartElement(w, (const xmlChar *)"metadata");
    if (def->metadata)
        xmlTextWriterWriteRaw(w, (const xmlChar *)def->metadata);
    if (def->cloud_init) {
        const struct qv_cloud_init *ci = def->cloud_init;
        xmlTextWriterStartElementNS(w, (const xmlChar *)QV_XML_PREFIX,
                                    (const xmlChar *)"cloud-init", (const xmlChar *)QV_XML_NS);
        doc_elem(w, "user-data", ci->user_data);
        doc_elem(w, "meta-data", ci->meta_data);
        doc_elem(w, "network-config", ci->network_config);
        xmlTextWriterEndElement(w);
    }
    xmlTextWriterEndElement(w);
}
