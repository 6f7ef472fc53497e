/* Propolis instance states, read with GET /instance and waited for with the
 * GET /instance/state-monitor long poll (which answers once the state
 * generation reaches the one asked for). */
#include <string.h>

#include "lib/util/error.h"
#include "lib/util/json.h"
#include "propolis.h"

void propolis_status_clear(struct propolis_status *st)
{
    g_free(st->id);
    g_free(st->name);
    g_free(st->state);
    memset(st, 0, sizeof(*st));
}

bool propolis_state_map(const char *state, bool stop_requested, enum vm_state *out,
                        enum vm_state_reason *reason)
{
    *reason = VM_REASON_NONE;
    if (!strcmp(state, "Creating") || !strcmp(state, "Starting")) {
        *out = VM_STATE_CREATED;
    } else if (!strcmp(state, "Running") || !strcmp(state, "Rebooting") ||
               !strcmp(state, "Repairing")) {
        *out = VM_STATE_RUNNING;
    } else if (!strcmp(state, "Migrating")) {
        *out = VM_STATE_MIGRATING;
    } else if (!strcmp(state, "Stopping") || !strcmp(state, "Stopped")) {
        *out = VM_STATE_STOPPED;
        *reason = stop_requested ? VM_REASON_USER : VM_REASON_SHUTDOWN;
    } else if (!strcmp(state, "Failed")) {
        *out = VM_STATE_STOPPED;
        *reason = VM_REASON_FAILED;
    } else if (!strcmp(state, "Destroyed")) {
        *out = VM_STATE_DESTROYED;
    } else {
        return false;
    }
    return true;
}

static int malformed(struct propolis_client *c, const char *what)
{
    return qv_error_set(QV_ERR_PROTOCOL, "propolis-server at %s answered %s", c->authority, what);
}

static int check_state(struct propolis_client *c, const char *path, const char *state)
{
    enum vm_state s;
    enum vm_state_reason r;
    if (!state)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "propolis-server at %s answered %s without an instance state",
                            c->authority, path);
    if (!propolis_state_map(state, false, &s, &r))
        return qv_error_set(QV_ERR_PROTOCOL,
                            "propolis-server at %s answered %s with unknown state '%s'",
                            c->authority, path, state);
    return 0;
}

int propolis_instance_get(struct propolis_client *c, struct propolis_status *st)
{
    memset(st, 0, sizeof(*st));
    guint status = 0;
    g_autoptr(JsonNode) root = NULL;
    int rc = propolis_request(c, "GET", "/instance", NULL, 200, true, 0, &status, &root);
    if (rc < 0)
        return rc;
    if (status == 404)
        return 0; /* the server hosts no instance yet */
    JsonObject *top = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonObject *inst = qv_json_obj(top, "instance");
    JsonObject *props = qv_json_obj(inst, "properties");
    const char *id = qv_json_str(props, "id");
    if (!inst || !props || !id)
        return malformed(c, "GET /instance without instance.properties.id");
    const char *state = qv_json_str(inst, "state");
    if ((rc = check_state(c, "GET /instance", state)) < 0)
        return rc;
    st->present = true;
    st->id = g_strdup(id);
    st->name = g_strdup(qv_json_str(props, "name"));
    st->state = g_strdup(state);
    return 0;
}

int propolis_state_monitor(struct propolis_client *c, guint64 gen, int timeout_ms,
                           struct propolis_status *st)
{
    memset(st, 0, sizeof(*st));
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "gen");
    json_builder_add_int_value(b, (gint64)gen);
    json_builder_end_object(b);
    g_autoptr(JsonNode) body = json_builder_get_root(b);
    /* A long poll may wait as long as the caller wants. */
    if (timeout_ms < 0)
        timeout_ms = G_MAXINT;
    else if (timeout_ms == 0)
        timeout_ms = 1;
    g_autoptr(JsonNode) root = NULL;
    int rc = propolis_request(c, "GET", "/instance/state-monitor", body, 200, false, timeout_ms,
                              NULL, &root);
    if (rc < 0)
        return rc;
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *g = o ? json_object_get_member(o, "gen") : NULL;
    if (!g || !JSON_NODE_HOLDS_VALUE(g) || json_node_get_value_type(g) != G_TYPE_INT64 ||
        json_node_get_int(g) < 0)
        return malformed(c, "GET /instance/state-monitor without a valid gen");
    const char *state = qv_json_str(o, "state");
    if ((rc = check_state(c, "GET /instance/state-monitor", state)) < 0)
        return rc;
    st->present = true;
    st->gen = (guint64)json_node_get_int(g);
    st->state = g_strdup(state);
    return 0;
}

static int propolis_state_monitor_now(struct propolis_client *c, struct propolis_status *st)
{
    return propolis_state_monitor(c, 0, c->timeout_s * 1000, st);
}

int propolis_wait_for(struct propolis_client *c, bool (*done)(const char *state), int timeout_ms,
                      struct propolis_status *st)
{
    gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    guint64 gen = 0;
    g_autofree char *last = NULL;
    for (;;) {
        int left = -1;
        if (deadline >= 0) {
            gint64 us = deadline - g_get_monotonic_time();
            left = us > 0 ? (int)((us + 999) / 1000) : 1;
        }
        /* Generation 0 is answered at once: give it the ordinary request
         * timeout, so that even a zero wait learns the current state. */
        int rc =
            gen == 0 ? propolis_state_monitor_now(c, st) : propolis_state_monitor(c, gen, left, st);
        if (rc == QV_ERR_TIMEOUT && last)
            return qv_error_set(QV_ERR_TIMEOUT,
                                "propolis-server at %s: the instance is still %s after %d ms",
                                c->authority, last, timeout_ms);
        if (rc < 0)
            return rc;
        if (done(st->state))
            return 0;
        g_free(last);
        last = g_strdup(st->state);
        if (deadline >= 0 && g_get_monotonic_time() >= deadline) {
            propolis_status_clear(st);
            return qv_error_set(QV_ERR_TIMEOUT,
                                "propolis-server at %s: the instance is still %s after %d ms",
                                c->authority, last, timeout_ms);
        }
        gen = st->gen + 1;
        propolis_status_clear(st);
    }
}

int propolis_state_put(struct propolis_client *c, const char *requested)
{
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(body, requested);
    return propolis_request(c, "PUT", "/instance/state", body, 204, false, 0, NULL, NULL);
}
