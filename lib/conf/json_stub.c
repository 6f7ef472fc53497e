/* Placeholder until json_parse.c and json_format.c land. */
#include "../util/error.h"
#include "domain.h"

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
