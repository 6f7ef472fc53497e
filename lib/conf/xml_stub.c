/* Placeholder until the XML and JSON parsers land; replaced by xml_parse.c,
 * xml_format.c, json_parse.c and json_format.c. */
#include "../util/error.h"
#include "domain.h"

struct qv_domain *qv_domain_parse_xml(const char *xml)
{
    (void)xml;
    qv_error_set(QV_ERR_UNSUPPORTED, "domain XML parsing is not built yet");
    return NULL;
}

char *qv_domain_format_xml(const struct qv_domain *def)
{
    return g_strdup_printf("<domain type='test'><name>%s</name></domain>\n", def->name);
}

struct qv_domain *qv_domain_parse_json(const char *json)
{
    (void)json;
    qv_error_set(QV_ERR_UNSUPPORTED, "JSON config parsing is not built yet");
    return NULL;
}

char *qv_domain_format_json(const struct qv_domain *def)
{
    return g_strdup_printf("{\"name\":\"%s\"}\n", def->name);
}

int qv_domain_parse_device_xml(const char *xml, struct qv_disk **disk, struct qv_net **net,
                               struct qv_hostdev **hostdev)
{
    (void)xml;
    *disk = NULL;
    *net = NULL;
    *hostdev = NULL;
    return qv_error_set(QV_ERR_UNSUPPORTED, "device XML parsing is not built yet");
}
