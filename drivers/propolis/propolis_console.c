/* The serial console: Propolis streams com1 over a websocket at
 * /instance/serial (binary frames both ways) and keeps what the guest
 * printed in a buffer served by /instance/serial/history. */
#include <string.h>

#include "lib/util/error.h"
#include "propolis.h"

char *propolis_console_url(struct propolis_client *c)
{
    return g_strdup_printf("ws://%s/instance/serial", c->authority);
}

int propolis_console_history(struct propolis_client *c, guint64 from_start, guint64 max_bytes,
                             guint8 **data, size_t *len, guint64 *next)
{
    *data = NULL;
    *len = 0;
    /* Each byte is a JSON number in the answer: asking for more than fits
     * the bounded reader's value limit would make a long history unreadable. */
    if (!max_bytes || max_bytes > PROPOLIS_HISTORY_MAX)
        max_bytes = PROPOLIS_HISTORY_MAX;
    g_autofree char *path = g_strdup_printf("/instance/serial/history?from_start=%" G_GUINT64_FORMAT
                                            "&max_bytes=%" G_GUINT64_FORMAT,
                                            from_start, max_bytes);
    g_autoptr(JsonNode) root = NULL;
    int rc = propolis_request(c, "GET", path, NULL, 200, false, 0, NULL, &root);
    if (rc < 0)
        return rc;
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *arr = o ? json_object_get_member(o, "data") : NULL;
    JsonNode *last = o ? json_object_get_member(o, "last_byte_offset") : NULL;
    if (!arr || !JSON_NODE_HOLDS_ARRAY(arr) || !last || !JSON_NODE_HOLDS_VALUE(last) ||
        json_node_get_value_type(last) != G_TYPE_INT64 || json_node_get_int(last) < 0)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "propolis-server at %s answered GET /instance/serial/history "
                            "without data and last_byte_offset",
                            c->authority);
    JsonArray *a = json_node_get_array(arr);
    guint n = json_array_get_length(a);
    if (n > max_bytes)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "propolis-server at %s sent %u bytes of serial history, more than "
                            "the %" G_GUINT64_FORMAT " asked for",
                            c->authority, n, max_bytes);
    g_autofree guint8 *buf = g_malloc(n ? n : 1);
    for (guint i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_INT64 ||
            json_node_get_int(e) < 0 || json_node_get_int(e) > 255)
            return qv_error_set(QV_ERR_PROTOCOL,
                                "propolis-server at %s: serial history byte %u is not 0-255",
                                c->authority, i);
        buf[i] = (guint8)json_node_get_int(e);
    }
    /* Propolis documents last_byte_offset as usable as the next request's
     * offset, i.e. it points just past the data returned. */
    *next = (guint64)json_node_get_int(last);
    *data = g_steal_pointer(&buf);
    *len = n;
    return 0;
}
