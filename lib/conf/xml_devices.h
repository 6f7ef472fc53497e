/* Parsers for the <devices> children of a domain, shared by the full
 * domain parser and hot-plug. Each returns 0 and a new object, or
 * QV_ERR_XML with the line and element named. */
#ifndef QV_CONF_XML_DEVICES_H
#define QV_CONF_XML_DEVICES_H

#include <libxml/tree.h>

#include "domain.h"

int qv_conf_xml_disk(const xmlNode *n, struct qv_disk **out);
int qv_conf_xml_net(const xmlNode *n, struct qv_net **out);
int qv_conf_xml_hostdev(const xmlNode *n, struct qv_hostdev **out);
/* <serial> or <console>. */
int qv_conf_xml_chardev(const xmlNode *n, struct qv_chardev **out);
int qv_conf_xml_channel(const xmlNode *n, struct qv_channel **out);
int qv_conf_xml_graphics(const xmlNode *n, struct qv_graphics **out);
/* <resource> (xml_resource.c): its <partition> into *partition. */
int qv_conf_xml_resource(const xmlNode *n, char **partition);
int qv_conf_xml_rng(const xmlNode *n, struct qv_rng **out);

/* True when n is the un-namespaced element `name`. */
static inline int qv_conf_xml_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && !n->ns && xmlStrEqual(n->name, (const xmlChar *)name);
}

#endif
