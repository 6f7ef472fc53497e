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

#endif
