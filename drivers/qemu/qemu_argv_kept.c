/* Reading a kept libvirt device (struct qv_kept) for the argv: its
 * attributes and children, and where on the PCI buses it goes. Shared by
 * the handlers of qemu_argv_libvirt.c's kept_device(). */
#include <libxml/tree.h>
#include <stdarg.h>
#include <string.h>

#include "../../lib/conf/address.h"
#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"

int qemu_kept_refuse(const struct qemu_argv *v, const struct qv_kept *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "VM '%s': the qemu driver cannot honour <%s> (line %d): %s", v->def->name,
                        k->name, k->line, why);
}

char *qemu_xml_prop(const xmlNode *n, const char *name)
{
    return qv_conf_xml_attr(n, name);
}

bool qemu_xml_has_prop(const xmlNode *n, const char *name)
{
    return xmlHasProp(n, (const xmlChar *)name) != NULL;
}

bool qemu_xml_prop_is(const xmlNode *n, const char *name, const char *value)
{
    g_autofree char *p = qemu_xml_prop(n, name);
    return value ? p && strcmp(p, value) == 0 : p == NULL;
}

const xmlNode *qemu_xml_child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !c->ns && xmlStrEqual(c->name, (const xmlChar *)name))
            return c;
    return NULL;
}

const char *qemu_xml_other_child(const xmlNode *n, const char *const *known)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE &&
            (c->ns || !g_strv_contains(known, (const char *)c->name)))
            return (const char *)c->name;
    return NULL;
}

bool qemu_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    /* Decimal, as libvirt reads ports, VLAN ids and sizes (a leading zero
     * is not octal: '02000' is port 2000), or hex after 0x, as libvirt
     * writes PCI addresses. */
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    guint64 x;
    if (!g_ascii_string_to_unsigned(hex ? s + 2 : s, hex ? 16 : 10, 0, max, &x, NULL))
        return false;
    *out = x;
    return true;
}

bool qemu_xml_hex(const xmlNode *a, const char *name, uint64_t max, uint64_t *out)
{
    g_autofree char *s = qemu_xml_prop(a, name);
    return s && qemu_parse_uint(s, max, out);
}

/* At its <address> through qemu_argv_pci_at(), which records the slot so
 * no other device takes it, and refuses naming the device and line. */
int qemu_kept_add_placed(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                         const char *device)
{
    const xmlNode *a = qemu_xml_child(n, "address");
    g_autofree char *at = NULL;
    if (a) {
        struct qv_addr addr = {0};
        g_autofree char *what = g_strdup_printf("<%s>", k->name);
        if (qv_conf_xml_address(a, &addr) < 0) {
            qv_reset_error();
            return qemu_kept_refuse(v, k, "only <address type='pci'> is supported");
        }
        addr.line = k->line + (int)xmlGetLineNo(a) - 1; /* the kept XML starts at k->line */
        if (qemu_argv_pci_at(v, &addr, what, &at) < 0)
            return qv_error_code();
    }
    qemu_argv_add(v, "-device");
    qemu_argv_addf(v, "%s%s", device, at ? at : "");
    return 0;
}

bool qemu_has_usb_bus(const struct qv_domain *def)
{
    return qemu_usb_ports(def) > 0;
}

unsigned qemu_usb_ports(const struct qv_domain *def)
{
    unsigned found = 0;
    for (guint i = 0; i < def->kept->len && !found; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->name, "controller") != 0 || strcmp(k->parent, "devices") != 0)
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc) {
            qv_reset_error(); /* the argv refuses it, naming its line */
            continue;
        }
        const xmlNode *n = xmlDocGetRootElement(doc);
        uint64_t idx = 0, ports = 4;
        if (qemu_xml_prop_is(n, "type", "usb") && !qemu_xml_prop_is(n, "model", "none") &&
            (!qemu_xml_has_prop(n, "index") || (qemu_xml_hex(n, "index", 255, &idx) && idx == 0))) {
            /* QEMU 7.2's root hubs: UHCI 2 ports, EHCI 6, xHCI p2= USB 2
             * ports (ports=, default 4). */
            if (qemu_xml_prop_is(n, "model", "piix3-uhci"))
                found = 2;
            else if (qemu_xml_prop_is(n, "model", "ich9-ehci1"))
                found = 6;
            else if (qemu_xml_has_prop(n, "ports") && qemu_xml_hex(n, "ports", 15, &ports) && ports)
                found = (unsigned)ports;
            else
                found = 4;
        }
        xmlFreeDoc(doc);
    }
    return found;
}
