/* Running-domain output (`virsh dumpxml` of a live domain) defines as the
 * inactive domain it describes: what libvirt writes only for the live VM
 * goes, as libvirt's own define drops it. Everything else stays. */
#include <string.h>

#include "xml_devices.h"
#include "xml_schema.h"

/* libvirt names the aliases it generates itself; a user's start "ua-". */
static bool generated_alias(const xmlNode *n)
{
    if (!qv_conf_xml_is(n, "alias"))
        return false;
    xmlChar *name = xmlGetProp(n, (const xmlChar *)"name");
    bool gen = !name || strncmp((const char *)name, "ua-", 3) != 0;
    xmlFree(name);
    return gen;
}

/* A dynamic label's <label> and <imagelabel> are what libvirt chose at
 * start; the <seclabel> itself (type, model, relabel) is configuration,
 * and libvirt's define keeps it. */
static bool dynamic_seclabel(const xmlNode *n)
{
    if (!qv_conf_xml_is(n, "seclabel"))
        return false;
    xmlChar *type = xmlGetProp(n, (const xmlChar *)"type");
    bool dyn = type && strcmp((const char *)type, "dynamic") == 0;
    xmlFree(type);
    return dyn;
}

static void unset(xmlNode *n, const char *attr)
{
    xmlAttr *a = xmlHasProp(n, (const xmlChar *)attr);
    if (a && !a->ns)
        xmlRemoveProp(a);
}

/* Walk the device subtree: aliases anywhere in a device, the index libvirt
 * numbers a disk's backing chain with, the pty a console got. */
static void drop_in_device(xmlNode *n)
{
    xmlNode *c = n->children;
    while (c) {
        xmlNode *next = c->next;
        if (c->type == XML_ELEMENT_NODE) {
            if (generated_alias(c)) {
                xmlUnlinkNode(c);
                xmlFreeNode(c);
            } else {
                if (qv_conf_xml_is(c, "source") || qv_conf_xml_is(c, "backingStore"))
                    unset(c, "index");
                drop_in_device(c);
            }
        }
        c = next;
    }
}

/* A NIC of a running domain: libvirt writes the tap it made (<target
 * dev='vnet0'>, macvtapN, macvlanN: names its define throws away) and,
 * on type='network', the port it took on the network and the bridge that
 * carries it (<source portid= bridge=>). None is configuration. */
static void drop_in_interface(xmlNode *n)
{
    static const char *const generated[] = {"vnet", "macvtap", "macvlan"};
    xmlChar *type = xmlGetProp(n, (const xmlChar *)"type");
    bool network = type && strcmp((const char *)type, "network") == 0;
    xmlFree(type);
    xmlNode *c = n->children;
    while (c) {
        xmlNode *next = c->next;
        if (c->type == XML_ELEMENT_NODE && network && qv_conf_xml_is(c, "source")) {
            unset(c, "portid");
            unset(c, "bridge");
        } else if (c->type == XML_ELEMENT_NODE && qv_conf_xml_is(c, "target")) {
            xmlChar *dev = xmlGetProp(c, (const xmlChar *)"dev");
            for (size_t i = 0; dev && i < G_N_ELEMENTS(generated); i++)
                if (strncmp((const char *)dev, generated[i], strlen(generated[i])) == 0)
                    unset(c, "dev");
            xmlFree(dev);
            if (!c->properties && !c->children) {
                xmlUnlinkNode(c);
                xmlFreeNode(c);
            }
        }
        c = next;
    }
}

void qv_conf_xml_drop_live(xmlDoc *doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root)
        return;
    unset(root, "id");
    xmlNode *c = root->children;
    while (c) {
        xmlNode *next = c->next;
        if (dynamic_seclabel(c)) {
            xmlNode *l = c->children;
            while (l) {
                xmlNode *lnext = l->next;
                if (qv_conf_xml_is(l, "label") || qv_conf_xml_is(l, "imagelabel")) {
                    xmlUnlinkNode(l);
                    xmlFreeNode(l);
                }
                l = lnext;
            }
        } else if (qv_conf_xml_is(c, "devices")) {
            for (xmlNode *d = c->children; d; d = d->next) {
                if (d->type != XML_ELEMENT_NODE)
                    continue;
                if (qv_conf_xml_is(d, "console"))
                    unset(d, "tty");
                if (qv_conf_xml_is(d, "interface"))
                    drop_in_interface(d);
                drop_in_device(d);
            }
        }
        c = next;
    }
}
