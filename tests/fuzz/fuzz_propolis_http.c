/* libFuzzer target for what a propolis-server answers: the first byte picks
 * the HTTP status (200, 201, 204, 400, 404, 500, 503 or an odd one), the
 * rest is the body, which goes through propolis_answer() as an expected
 * answer and as an error answer; a parsed body is walked as the driver's
 * readers would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/propolis/propolis.h"
#include "lib/util/error.h"
#include "lib/util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct propolis_client *c;
    static const guint codes[] = {200, 201, 204, 400, 404, 500, 503, 302};
    if (!c)
        c = propolis_client_new("127.0.0.1", 12400, 1);
    if (size == 0)
        return 0;
    guint code = codes[data[0] % G_N_ELEMENTS(codes)];
    JsonNode *out = NULL;
    int rc = propolis_answer(c, "GET", "/instance", code, 200, data + 1, size - 1, &out);
    if (rc == 0 && out) {
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(out) ? json_node_get_object(out) : NULL;
        JsonObject *inst = qv_json_obj(o, "instance");
        (void)qv_json_str(inst, "state");
        (void)qv_json_int(o, "last_byte_offset", 0);
        json_node_unref(out);
    } else if (rc < 0 && rc != QV_ERR_PROTOCOL && rc != QV_ERR_BACKEND) {
        abort();
    }
    /* The same body as an error answer. */
    rc = propolis_answer(c, "PUT", "/instance/state", 500, 204, data + 1, size - 1, NULL);
    if (rc != QV_ERR_PROTOCOL && rc != QV_ERR_BACKEND)
        abort();
    qv_reset_error();
    return 0;
}
