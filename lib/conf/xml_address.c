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

static int virtio_serial_address(const xmlNode *n, struct qv_addr *a)
{
    uint64_t v[3] = {0};
    static const char *const attrs[] = {"controller", "bus", "port"};
    TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "type controller bus port"));
    for (int i = 0; i < 3; i++)
        TRY(pci_number(n, attrs[i], i == 2 ? 30 : 255, &v[i]));
    a->type = QV_ADDR_VIRTIO_SERIAL;
    a->controller = (uint32_t)v[0];
    a->bus = (uint32_t)v[1];
    a->port = (uint32_t)v[2];
    return 0;
}

static int isa_address(const xmlNode *n, struct qv_addr *a)
{
    uint64_t iobase = 0, irq = 0;
    TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "type iobase irq"));
    bool has_io = xmlHasProp(n, (const xmlChar *)"iobase"),
         has_irq = xmlHasProp(n, (const xmlChar *)"irq");
    TRY(pci_number(n, "iobase", 0xffff, &iobase));
    TRY(pci_number(n, "irq", 15, &irq));
    a->type = QV_ADDR_ISA;
    a->iobase = has_io ? (int32_t)iobase : -1;
    a->irq = has_irq ? (int32_t)irq : -1;
    return 0;
}

int qv_conf_xml_address_of(const xmlNode *n, unsigned types, struct qv_addr *out)
{
    static const char *const names[] = {"", "pci", "drive", "virtio-serial", "isa"};
    g_autofree char *type = qv_conf_xml_attr(n, "type");
    struct qv_addr a = {.line = (int)xmlGetLineNo(n), .multifunction = -1};
    int t = 0;
    for (int i = 1; i < (int)G_N_ELEMENTS(names) && type && !t; i++)
        if (strcmp(type, names[i]) == 0 && (types & (1u << i)))
            t = i;
    if (t == QV_ADDR_PCI)
        TRY(pci_address(n, &a));
    else if (t == QV_ADDR_DRIVE)
        TRY(drive_address(n, &a));
    else if (t == QV_ADDR_VIRTIO_SERIAL)
        TRY(virtio_serial_address(n, &a));
    else if (t == QV_ADDR_ISA)
        TRY(isa_address(n, &a));
    else {
        GString *known = g_string_new(NULL);
        for (int i = 1; i < (int)G_N_ELEMENTS(names); i++)
            if (types & (1u << i))
                g_string_append_printf(known, "%s%s", known->len ? " or " : "", names[i]);
        int rc =
            qv_conf_xml_unmodelled(n, "<address type='%s'> (qv places this device by %s address)",
                                   type ? type : "", known->str);
        g_string_free(known, TRUE);
        return rc;
    }
    *out = a;
    return 0;
}

int qv_conf_xml_address(const xmlNode *n, struct qv_addr *out)
{
    return qv_conf_xml_address_of(n, QV_ADDR_MASK(QV_ADDR_PCI) | QV_ADDR_MASK(QV_ADDR_DRIVE), out);
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
    } else if (a->type == QV_ADDR_VIRTIO_SERIAL) {
        xmlTextWriterWriteAttribute(w, (const xmlChar *)"type", (const xmlChar *)"virtio-serial");
        wattr(w, "controller", "%u", a->controller);
        wattr(w, "bus", "%u", a->bus);
        wattr(w, "port", "%u", a->port);
    } else if (a->type == QV_ADDR_ISA) {
        xmlTextWriterWriteAttribute(w, (const xmlChar *)"type", (const xmlChar *)"isa");
        if (a->iobase >= 0)
            wattr(w, "iobase", "0x%x", (unsigned)a->iobase);
        if (a->irq >= 0)
            wattr(w, "irq", "0x%x", (unsigned)a->irq);
    } else {
        xmlTextWriterWriteAttribute(w, (const xmlChar *)"type", (const xmlChar *)"drive");
        wattr(w, "controller", "%u", a->controller);
        wattr(w, "bus", "%u", a->bus);
        wattr(w, "target", "%u", a->target);
        wattr(w, "unit", "%u", a->unit);
    }
    xmlTextWriterEndElement(w);
}
