/* Public entry points for host facts (lib/host does the reading). */
#include <glib.h>
#include <json-glib/json-glib.h>

#include "../../include/qv/host.h"
#include "../host/host.h"
#include "../util/error.h"
#include "trace.h"

char *host_json_text(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}

int qv_host_info(const char *root, char **json)
{
    QV_API("%s", "");
    if (!json)
        return qv_error_set(QV_ERR_INVALID_ARG, "qv_host_info: json is NULL");
    g_autofree char *r = host_root(root);
    g_autoptr(JsonNode) node = host_info_build(r);
    *json = host_json_text(node);
    qv_reset_error();
    return 0;
}
