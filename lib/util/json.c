#include "json.h"

static JsonNode *value_of(JsonObject *o, const char *key, GType type)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type ? n : NULL;
}

const char *qv_json_str(JsonObject *o, const char *key)
{
    JsonNode *n = value_of(o, key, G_TYPE_STRING);
    return n ? json_node_get_string(n) : NULL;
}

JsonObject *qv_json_obj(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

gint64 qv_json_int(JsonObject *o, const char *key, gint64 dflt)
{
    JsonNode *n = value_of(o, key, G_TYPE_INT64);
    return n ? json_node_get_int(n) : dflt;
}

gboolean qv_json_bool(JsonObject *o, const char *key, gboolean dflt)
{
    JsonNode *n = value_of(o, key, G_TYPE_BOOLEAN);
    return n ? json_node_get_boolean(n) : dflt;
}
