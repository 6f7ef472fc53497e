/* <metadata> and qv's own namespace in it. */
#ifndef QV_CONF_XML_METADATA_H
#define QV_CONF_XML_METADATA_H

#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "domain.h"

#define QV_XML_NS "https://libqv.org/xmlns/domain/1.0"
#define QV_XML_PREFIX "qv"

int qv_conf_xml_parse_metadata(const xmlNode *n, struct qv_domain *def);
void qv_conf_xml_format_metadata(xmlTextWriter *w, const struct qv_domain *def);
/* The JSON config's "metadata": other applications' <metadata> children as
 * XML text, read as <metadata> is (qv's own element is refused: the JSON
 * config says that with "cloud_init" and pci_passthrough "type"). On
 * success *out holds them as qv stores them. Sets QV_ERR_XML. */
int qv_conf_metadata_from_text(const char *xml, char **out);

#endif
