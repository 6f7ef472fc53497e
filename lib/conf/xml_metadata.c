/* <metadata>: libvirt stores its children for applications and never reads
 * them, and so does qv, with one exception: <qv:domain> in qv's own
 * namespace carries what libvirt's schema has no element for (cloud-init
 * documents, what kind of device a <hostdev> is). Everything else is kept
 * as written and given back. Parsed after the rest of <domain>, so that a
 * <qv:hostdev> can name a <hostdev> wherever it is in the document. */
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
    if (c->type != XML_ELEMENT_NODE) { /* a comment or PI: no namespaces */
        xmlBuffer *buf = xmlBufferCreate();
        if (!buf)
            return NULL;
        xmlNodeDump(buf, c->doc, (xmlNode *)c, 0, 0);
        char *out = g_strdup((const char *)xmlBufferContent(buf));
        xmlBufferFree(buf);
        return out;
    }
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

/* <qv:hostdev address='0000:01:00.0' type='gpu'/>: what kind of device a
 * <hostdev> of the definition is (the JSON config's pci_passthrough type),
 * which picks the defaults it gets at start. */
static int parse_role(const xmlNode *n, struct qv_domain *def)
{
    static const char *const roles[] = {"gpu", "nic", NULL};
    TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "address type"));
    g_autofree char *addr = NULL;
    int type;
    TRY(qv_conf_xml_need_str(n, "address", qv_conf_check_line, &addr));
    TRY(qv_conf_xml_need_enum(n, "type", roles, &type));
    for (guint i = 0; i < def->hostdevs->len; i++) {
        struct qv_hostdev *h = g_ptr_array_index(def->hostdevs, i);
        char bdf[16];
        g_snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", h->domain, h->bus, h->slot,
                   h->function);
        if (g_ascii_strcasecmp(bdf, addr) != 0)
            continue;
        if (h->role)
            return qv_conf_xml_err(n, "a second <qv:hostdev> for %s", bdf);
        h->role = g_strdup(roles[type]);
        return 0;
    }
    return qv_conf_xml_err(n, "<qv:hostdev address='%s'> names no <hostdev> of <devices> "
                              "(addresses are DDDD:BB:SS.F)",
                           addr);
}

/* <qv:domain>: everything qv keeps in <metadata>, in one element, as
 * libvirt's metadata API expects of an application. */
static int parse_qv(const xmlNode *n, struct qv_domain *def)
{
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        if (in_qv_ns(c) && strcmp((const char *)c->name, "cloud-init") == 0)
            TRY(parse_cloud_init(c, def));
        else if (in_qv_ns(c) && strcmp((const char *)c->name, "hostdev") == 0)
            TRY(parse_role(c, def));
        else
            return qv_conf_xml_err(c,
                                   "unknown element <%s> in <qv:domain> (expected "
                                   "<qv:cloud-init>, <qv:hostdev>)",
                                   c->name);
    }
    return 0;
}

int qv_conf_xml_parse_metadata(const xmlNode *n, struct qv_domain *def)
{
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    GString *others = g_string_new(NULL);
    const xmlNode *qv = NULL;
    int rc = 0;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE) {
            /* Given back as written, as the elements around them are. */
            g_autofree char *xml = dump_alone(c);
            if (xml)
                g_string_append(others, xml);
            continue;
        }
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (in_qv_ns(c) && strcmp((const char *)c->name, "domain") == 0) {
            rc = qv_conf_xml_once(c, &qv);
            if (rc == 0)
                rc = parse_qv(c, def);
        } else if (in_qv_ns(c)) {
            rc = qv_conf_xml_err(c, "unknown element <%s> in qv's namespace %s (expected "
                                    "<domain>)",
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

int qv_conf_metadata_from_text(const char *xml, char **out)
{
    g_autofree char *doc_text = g_strdup_printf("<metadata>%s</metadata>", xml);
    xmlDoc *doc = qv_conf_xml_read(doc_text, "metadata");
    if (!doc)
        return QV_ERR_XML;
    g_autoptr(qv_domain) scratch = qv_domain_new();
    int rc = qv_conf_xml_parse_metadata(xmlDocGetRootElement(doc), scratch);
    xmlFreeDoc(doc);
    if (rc < 0)
        return rc;
    if (scratch->cloud_init)
        return qv_error_set(QV_ERR_XML, "qv's own <qv:domain> goes in \"cloud_init\" here");
    g_free(*out);
    *out = g_steal_pointer(&scratch->metadata);
    return 0;
}

static void doc_elem(xmlTextWriter *w, const char *name, const char *text)
{
    if (!text)
        return;
    xmlTextWriterStartElementNS(w, (const xmlChar *)QV_XML_PREFIX, (const xmlChar *)name, NULL);
    xmlTextWriterWriteString(w, (const xmlChar *)text);
    xmlTextWriterEndElement(w);
}

static bool has_roles(const struct qv_domain *def)
{
    for (guint i = 0; i < def->hostdevs->len; i++)
        if (((const struct qv_hostdev *)g_ptr_array_index(def->hostdevs, i))->role)
            return true;
    return false;
}

void qv_conf_xml_format_metadata(xmlTextWriter *w, const struct qv_domain *def)
{
    bool roles = has_roles(def);
    if (!def->metadata && !def->cloud_init && !roles)
        return;
    xmlTextWriterStartElement(w, (const xmlChar *)"metadata");
    if (def->metadata)
        xmlTextWriterWriteRaw(w, (const xmlChar *)def->metadata);
    if (def->cloud_init || roles) {
        xmlTextWriterStartElementNS(w, (const xmlChar *)QV_XML_PREFIX, (const xmlChar *)"domain",
                                    (const xmlChar *)QV_XML_NS);
        const struct qv_cloud_init *ci = def->cloud_init;
        if (ci) {
            xmlTextWriterStartElementNS(w, (const xmlChar *)QV_XML_PREFIX,
                                        (const xmlChar *)"cloud-init", NULL);
            doc_elem(w, "user-data", ci->user_data);
            doc_elem(w, "meta-data", ci->meta_data);
            doc_elem(w, "network-config", ci->network_config);
            xmlTextWriterEndElement(w);
        }
        for (guint i = 0; i < def->hostdevs->len; i++) {
            const struct qv_hostdev *h = g_ptr_array_index(def->hostdevs, i);
            if (!h->role)
                continue;
            char bdf[16];
            g_snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", h->domain, h->bus, h->slot,
                       h->function);
            xmlTextWriterStartElementNS(w, (const xmlChar *)QV_XML_PREFIX,
                                        (const xmlChar *)"hostdev", NULL);
            xmlTextWriterWriteAttribute(w, (const xmlChar *)"address", (const xmlChar *)bdf);
            xmlTextWriterWriteAttribute(w, (const xmlChar *)"type", (const xmlChar *)h->role);
            xmlTextWriterEndElement(w);
        }
        xmlTextWriterEndElement(w);
    }
    xmlTextWriterEndElement(w);
}
