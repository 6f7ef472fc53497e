/* <address> and <alias> of a disk or NIC in domain XML. libvirt writes both
 * for every device of a domain it has defined; qv models the PCI and drive
 * address types (what its drivers can place a disk or NIC at) and user
 * aliases, so such a device is no longer kept whole. */
#include <string.h>

#include "../util/error.h"
#include "address.h"
#include "xml_util.h"

/* libvirt reads PCI numbers with base 0: "0x1f", "31" and "037" agree. */
static int pci_number(const xmlNode *n, const char *attr, uint64_t max, uint64_t *out)
{
    g_autofree char *v = qv_conf_xml_attr(n, attr);
    *out = 0;
    if (!v)
        return 0;
    char *end = NULL;
    guint64 x = g_ascii_isdigit(v[0]) ? g_ascii_strtoull(v, &end, 0) : 0;
    if (!g_ascii_isdigit(v[0]) || *end || x > max || strlen(v) > 10)
        return qv_conf_xml_err(
            n, "<address> %s='%s' must be a number from 0 to %#" G_GINT64_MODIFIER "x", attr, v,
            (guint64)max);
    *out = x;
    return 0;
}

static int pci_address(const xmlNode *n, struct qv_addr *a)
{
    static const char *const onoff[] = {"off", "on", NULL};
    uint64_t dom, bus, slot, fn;
    TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "type domain bus slot function multifunction"));
    TRY(pci_number(n, "domain", 0xffff, &dom));
    TRY(pci_number(n, "bus", 0xff, &bus));
    TRY(pci_number(n, "slot", 0x1f, &slot));
    TRY(pci_number(n, "function", 7, &fn));
    int mf = -1;
    int rc = qv_conf_xml_attr_enum(n, "multifunction", onoff, &mf);
    TRY(rc);
    a->type = QV_ADDR_PCI;
    a->domain = (uint16_t)dom;
    a->bus = (uint32_t)bus;
    a->slot = (uint8_t)slot;
    a->function = (uint8_t)fn;
    a->multifunction = (int8_t)(rc == 1 ? mf : -1);
    return 0;
}

static int drive_address(const xmlNode *n, struct qv_addr *a)
{
    uint64_t v[4] = {0};
    static const char *const attrs[] = {"controller", "bus", "target", "unit"};
    TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "type controller bus target unit"));
    for (int i = 0; i < 4; i++)
        TRY(qv_conf_xml_attr_uint(n, attrs[i], UINT32_MAX, &v[i]));
    a->type = QV_ADDR_DRIVE;
    a->controller = (uint32_t)v[0];
    a->bus = (uint32_t)v[1];
    a->target = (uint32_t)v[2];
    a->unit = (uint32_t)v[3];
    return 0;
}

int qv_conf_xml_address(const xmlNode *n, struct qv_addr *out)
{
    g_autofree char *type = qv_conf_xml_attr(n, "type");
    struct qv_addr a = {.line = (int)xmlGetLineNo(n), .multifunction = -1};
    if (type && strcmp(type, "pci") == 0)
        TRY(pci_address(n, &a));
    else if (type && strcmp(type, "drive") == 0)
        TRY(drive_address(n, &a));
    else
        return qv_conf_xml_unmodelled(n,
                                      "<address type='%s'> (qv places devices by PCI or "
                                      "drive address)",
                                      type ? type : "");
    *out = a;
    return 0;
}

int qv_conf_xml_alias(const xmlNode *n, char **out)
{
    TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "name"));
    g_autofree char *name = qv_conf_xml_attr(n, "name");
    const char *why = name ? qv_conf_check_alias(name) : "is missing";
    if (why)
        return qv_conf_xml_err(n, "<alias> name='%s' %s", name ? name : "", why);
    g_free(*out);
    *out = g_steal_pointer(&name);
    return 0;
}

static void wattr(xmlTextWriter *w, const char *name, const char *fmt, unsigned v)
{
    xmlTextWriterWriteFormatAttribute(w, (const xmlChar *)name, fmt, v);
}

void qv_conf_format_alias_address(xmlTextWriter *w, const char *alias, const struct qv_addr *a)
{
    if (alias) {
        xmlTextWriterStartElement(w, (const xmlChar *)"alias");
        xmlTextWriterWriteAttribute(w, (const xmlChar *)"name", (const xmlChar *)alias);
        xmlTextWriterEndElement(w);
    }
    if (a->type == QV_ADDR_NONE)
        return;
    xmlTextWriterStartElement(w, (const xmlChar *)"address");
    if (a->type == QV_ADDR_PCI) {
        xmlTextWriterWriteAttribute(w, (const xmlChar *)"type", (const xmlChar *)"pci");
        wattr(w, "domain", "0x%04x", a->domain);
        wattr(w, "bus", "0x%02x", a->bus);
        wattr(w, "slot", "0x%02x", a->slot);
        wattr(w, "function", "0x%x", a->function);
        if (a->multifunction >= 0)
            xmlTextWriterWriteAttribute(w, (const xmlChar *)"multifunction",
                                        (const xmlChar *)(a->multifunction ? "on" : "off"));
    } else {
        xmlTextWriterWriteAttribute(w, (const xmlChar *)"type", (const xmlChar *)"drive");
        wattr(w, "controller", "%u", a->controller);
        wattr(w, "bus", "%u", a->bus);
        wattr(w, "target", "%u", a->target);
        wattr(w, "unit", "%u", a->unit);
    }
    xmlTextWriterEndElement(w);
}
