/* <redirdev bus='usb' type='tcp'>: a USB device another machine exports
 * over usbredir, as QEMU's usb-redir on the USB controller with a socket
 * chardev; type='spicevmc': a device a SPICE client redirects, over
 * the VM's SPICE server (a spicevmc chardev named usbredir). */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

int qemu_kept_redirdev(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const known[] = {"source", "protocol", "boot", "address", "alias", NULL};
    const char *extra = qemu_xml_other_child(n, known);
    if (extra)
        return qemu_kept_refuse(v, k, "<%s> is not passed on to QEMU", extra);
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->ns || (strcmp((const char *)a->name, "bus") != 0 &&
                      strcmp((const char *)a->name, "type") != 0))
            return qemu_kept_refuse(v, k, "attribute %s= is not passed on to QEMU", a->name);
    g_autofree char *bus = qemu_xml_prop(n, "bus"), *type = qemu_xml_prop(n, "type");
    if (bus && strcmp(bus, "usb") != 0)
        return qemu_kept_refuse(v, k, "bus='%s': QEMU redirects USB devices", bus);
    bool spicevmc = type && strcmp(type, "spicevmc") == 0;
    if (!type || (strcmp(type, "tcp") != 0 && !spicevmc))
        return qemu_kept_refuse(v, k, "type='%s': the qemu driver redirects over tcp and spicevmc",
                                type ? type : "");
    if (spicevmc && !qemu_has_spice(v->def))
        return qemu_kept_refuse(v, k, "type='spicevmc' needs <graphics type='spice'>");
    if (spicevmc && (qemu_xml_child(n, "source") || qemu_xml_child(n, "protocol")))
        return qemu_kept_refuse(v, k, "a spicevmc redirdev has no <source> or <protocol>");
    const xmlNode *p = qemu_xml_child(n, "protocol");
    if (p && !qemu_xml_prop_is(p, "type", "raw"))
        return qemu_kept_refuse(v, k, "<protocol> other than raw");
    const xmlNode *s = qemu_xml_child(n, "source");
    g_autofree char *host = s ? qemu_xml_prop(s, "host") : NULL;
    g_autofree char *mode = s ? qemu_xml_prop(s, "mode") : NULL;
    uint64_t service = 0;
    if (!spicevmc && (!host || !qemu_plain_word(host) ||
                      !qemu_xml_hex(s, "service", 65535, &service) || service == 0))
        return qemu_kept_refuse(v, k,
                                "it needs a <source host= service=> (a host name and a "
                                "port 1-65535)");
    if (mode && strcmp(mode, "connect") != 0 && strcmp(mode, "bind") != 0)
        return qemu_kept_refuse(v, k, "<source mode='%s'>", mode);
    if (!qemu_has_usb_bus(v->def))
        return qemu_kept_refuse(v, k,
                                "it needs a <controller type='usb'> other than "
                                "model='none'");
    const xmlNode *a = qemu_xml_child(n, "address");
    uint64_t port = 0;
    if (a && !(qemu_xml_prop_is(a, "type", "usb") && qemu_xml_prop_is(a, "bus", "0") &&
               qemu_xml_hex(a, "port", 255, &port)))
        return qemu_kept_refuse(v, k, "an <address> must be type='usb' bus='0' with a port=");
    if (a &&
        qemu_argv_usb_at(v, (unsigned)port, "<redirdev>", k->line + (int)xmlGetLineNo(a) - 1) < 0)
        return qv_error_code();
    const xmlNode *b = qemu_xml_child(n, "boot");
    uint64_t order = 0;
    if (b && (!qemu_xml_hex(b, "order", 65535, &order) || order == 0))
        return qemu_kept_refuse(v, k, "<boot order=> must be 1-65535");
    guint index = 0;
    while (index < v->def->kept->len && g_ptr_array_index(v->def->kept, index) != k)
        index++;
    bool bind = mode && strcmp(mode, "bind") == 0;
    qemu_argv_add(v, "-chardev");
    if (spicevmc)
        qemu_argv_addf(v, "spicevmc,id=charredir%u,name=usbredir", index);
    else
        qemu_argv_addf(v, "socket,id=charredir%u,host=%s,port=%" G_GUINT64_FORMAT ",server=%s",
                       index, host, service, bind ? "on,wait=off" : "off");
    GString *dev = g_string_new(NULL);
    g_string_printf(dev, "usb-redir,chardev=charredir%u,id=redir%u,bus=usb.0", index, index);
    if (port)
        g_string_append_printf(dev, ",port=%" G_GUINT64_FORMAT, port);
    if (order)
        g_string_append_printf(dev, ",bootindex=%" G_GUINT64_FORMAT, order);
    qemu_argv_add(v, "-device");
    g_ptr_array_add(v->a, g_string_free(dev, FALSE));
    return 0;
}
