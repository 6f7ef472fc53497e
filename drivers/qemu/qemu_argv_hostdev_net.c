/* <interface type='hostdev'>: an SR-IOV virtual function given to the
 * guest whole, as vfio-pci (its IOMMU group bound as for <hostdev>,
 * qemu_vfio.c). The VF's MAC and VLAN are the host's to set, through its
 * physical function: `ip link set PF vf N mac M [vlan V]` once the VF is
 * bound, as libvirt does; a device that is no VF is refused at start. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/host/host.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"
#include "qemu_vm.h"

void qemu_hostdev_net_free(struct qemu_hostdev_net *h)
{
    if (h) {
        g_free(h->bdf);
        g_free(h->mac);
        g_free(h);
    }
}

/* Read one kept <interface type='hostdev'>; v NULL: no refusals (the
 * argv checked it), errors as plain ones. */
static int read_net(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                    struct qemu_hostdev_net *h)
{
    const xmlNode *s = qemu_xml_child(n, "source");
    const xmlNode *a = s ? qemu_xml_child(s, "address") : NULL;
    uint64_t dom = 0, bus = 0, slot = 0, fn = 0;
    if (!a || !qemu_xml_prop_is(a, "type", "pci") || !qemu_xml_hex(a, "domain", 0xffff, &dom) ||
        !qemu_xml_hex(a, "bus", 0xff, &bus) || !qemu_xml_hex(a, "slot", 0x1f, &slot) ||
        !qemu_xml_hex(a, "function", 7, &fn))
        return v ? qemu_kept_refuse(v, k,
                                    "it needs <source><address type='pci' domain= bus= "
                                    "slot= function=>")
                 : QV_ERR_INVALID_ARG;
    h->bdf = g_strdup_printf("%04x:%02x:%02x.%x", (unsigned)dom, (unsigned)bus, (unsigned)slot,
                             (unsigned)fn);
    h->managed = !qemu_xml_prop_is(n, "managed", "no");
    const xmlNode *m = qemu_xml_child(n, "mac");
    h->mac = m ? qemu_xml_prop(m, "address") : NULL;
    h->vlan = -1;
    const xmlNode *vl = qemu_xml_child(n, "vlan");
    const xmlNode *tag = vl ? qemu_xml_child(vl, "tag") : NULL;
    uint64_t id = 0;
    if (tag && qemu_xml_hex(tag, "id", 4095, &id))
        h->vlan = (int)id;
    return 0;
}

int qemu_kept_interface(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (!qemu_xml_prop_is(n, "type", "hostdev"))
        return qemu_kept_refuse(v, k, "%s", k->reason);
    if (qemu_machine_only(v, k, n, "type managed",
                          "source mac driver vlan boot rom address alias") < 0)
        return QV_ERR_UNSUPPORTED;
    const xmlNode *s = qemu_xml_child(n, "source"), *c;
    if (s && qemu_machine_only(v, k, s, "", "address") < 0)
        return QV_ERR_UNSUPPORTED;
    if ((c = qemu_xml_child(n, "driver")) &&
        (qemu_machine_only(v, k, c, "name", "") < 0 ||
         (qemu_xml_has_prop(c, "name") && !qemu_xml_prop_is(c, "name", "vfio"))))
        return c ? qemu_machine_refuse(v, k, c, "QEMU assigns devices with vfio only")
                 : QV_ERR_UNSUPPORTED;
    if ((c = qemu_xml_child(n, "vlan"))) {
        const xmlNode *t = qemu_xml_child(c, "tag");
        uint64_t id;
        if (qemu_machine_only(v, k, c, "", "tag") < 0 || !t ||
            qemu_machine_only(v, k, t, "id", "") < 0 || !qemu_xml_hex(t, "id", 4095, &id))
            return qemu_machine_refuse(v, k, c, "a VF takes one <tag id=> (0-4095), no trunk");
        for (const xmlNode *o = c->children; o; o = o->next)
            if (o != t && o->type == XML_ELEMENT_NODE)
                return qemu_machine_refuse(v, k, c, "a VF takes one VLAN tag");
    }
    struct qemu_hostdev_net h = {0};
    int rc = read_net(v, k, n, &h);
    g_free(h.mac);
    if (rc < 0) {
        g_free(h.bdf);
        return rc;
    }
    guint index = 0;
    while (index < v->def->kept->len && g_ptr_array_index(v->def->kept, index) != k)
        index++;
    GString *dev = g_string_new(NULL);
    g_string_printf(dev, "vfio-pci,host=%s,id=hostdevnet%u", h.bdf, index);
    g_free(h.bdf);
    uint64_t order = 0;
    if ((c = qemu_xml_child(n, "boot")) && (qemu_machine_only(v, k, c, "order", "") < 0 ||
                                            !qemu_xml_hex(c, "order", 65535, &order) || !order))
        rc = qemu_machine_refuse(v, k, c, "order= must be 1-65535");
    if (rc == 0 && order)
        g_string_append_printf(dev, ",bootindex=%" G_GUINT64_FORMAT, order);
    if (rc == 0 && (c = qemu_xml_child(n, "rom"))) {
        int bar = qemu_machine_only(v, k, c, "bar file enabled", "") < 0
                      ? QV_ERR_UNSUPPORTED
                      : qemu_machine_onoff(v, k, c, "bar", -1);
        int enabled = bar < -1 ? bar : qemu_machine_onoff(v, k, c, "enabled", 1);
        g_autofree char *file = qemu_xml_prop(c, "file");
        if (bar < -1 || enabled < 0)
            rc = QV_ERR_UNSUPPORTED;
        else if (file && file[0] != '/')
            rc = qemu_machine_refuse(v, k, c, "file= must be an absolute path");
        else {
            if (bar >= 0)
                g_string_append_printf(dev, ",rombar=%d", bar);
            if (!enabled)
                g_string_append(dev, ",romfile=");
            else if (file) {
                g_autofree char *esc = qemu_opt_escape(file);
                g_string_append_printf(dev, ",romfile=%s", esc);
            }
        }
    }
    if (rc == 0)
        rc = qemu_kept_add_placed(v, k, n, dev->str);
    g_string_free(dev, TRUE);
    return rc;
}

int qemu_hostdev_nets(const struct qv_domain *def, GPtrArray *out)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->name, "interface") != 0 || strcmp(k->parent, "devices") != 0)
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc)
            return qv_error_code();
        const xmlNode *n = xmlDocGetRootElement(doc);
        if (qemu_xml_prop_is(n, "type", "hostdev")) {
            struct qemu_hostdev_net *h = g_new0(struct qemu_hostdev_net, 1);
            if (read_net(NULL, k, n, h) < 0) {
                qemu_hostdev_net_free(h);
                xmlFreeDoc(doc);
                return qv_error_set(QV_ERR_INVALID_ARG,
                                    "<interface type='hostdev'> (line %d) "
                                    "has no PCI source address",
                                    k->line);
            }
            g_ptr_array_add(out, h);
        }
        xmlFreeDoc(doc);
    }
    return 0;
}
