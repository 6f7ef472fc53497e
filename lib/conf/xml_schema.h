/* Domain XML a user supplies is checked against libvirt's domain.rng, and
 * what describes a running domain is dropped, before qv reads it. */
#ifndef QV_CONF_XML_SCHEMA_H
#define QV_CONF_XML_SCHEMA_H

#include <libxml/tree.h>

/* 0 when doc is valid against domain.rng ($QV_DOMAIN_RNG overrides the
 * path); else QV_ERR_XML "<label> line N: libvirt's schema refuses it: ..."
 * naming the element or attribute whose removal makes the document valid,
 * with libxml2's first message; *where (if not NULL) gets line N. */
int qv_conf_xml_schema_check(xmlDoc *doc, const char *label, long *where);
/* Free the compiled schema (a few MiB of heap); the next check compiles it
 * again. For a process that checks one definition and then lives on
 * (qv-vmm). */
void qv_conf_xml_schema_release(void);

/* Drop from a schema-valid document what only describes a running domain,
 * as libvirt does on define: <domain id=>, aliases it generated (user
 * aliases start with "ua-"), the labels of dynamic <seclabel>s, disk
 * <source index=>, <console tty=>. */
void qv_conf_xml_drop_live(xmlDoc *doc);

#endif
