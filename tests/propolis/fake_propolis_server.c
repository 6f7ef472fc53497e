/* A stand-in for propolis-server (which runs only on illumos), for tests.
 *
 *   fake-propolis-server --openapi propolis-server-5.0.0.json [--step-ms N]
 *
 * Listens on 127.0.0.1 at a port the OS picks and prints it on stdout. It
 * follows Propolis's instance state machine (Creating -> Starting ->
 * Running -> Stopping -> Stopped -> Destroyed, Rebooting, Failed) with a
 * generation number per change, checks the api-version header on every API
 * request, validates every request body against the OpenAPI document's
 * schemas (a mismatch is a 400 and is counted), serves GET
 * /instance/state-monitor as a long poll, streams com1 over a websocket at
 * /instance/serial (binary frames both ways; the fake guest echoes what it
 * reads) and keeps its history for /instance/serial/history.
 *
 * Control endpoints for tests (no version header needed):
 *   GET  /_fake/stats   {requests, invalid, errors[], log[], state, gen, ws_input[]}
 *   POST /_fake/fault   {method, path, mode: fail|hang|garbage|huge|deep|trailing|nul|die,
 *                        status, count}
 *   POST /_fake/serial  raw bytes the guest prints on com1
 *   POST /_fake/guest   {event: poweroff|fail}
 *   POST /_fake/ws_mode "soup" (libsoup's websocket, the default) or "raw": the
 *                       next /instance/serial upgrades get libsoup's handshake
 *                       and nothing else; the test frames every byte, and
 *                       nothing the client sends is read (a hostile server);
 *                       "raw-bad-accept" / "raw-extension": that answer with
 *                       a wrong Sec-WebSocket-Accept / an extension not offered
 *   POST /_fake/ws_raw  raw bytes written once to every raw websocket
 *   POST /_fake/ws_flood raw bytes written to every raw websocket over and
 *                       over until the client goes away
 *   POST /_fake/ws_close a normal close (1000) of every libsoup websocket
 *   POST /_fake/ws_ping  libsoup websockets ping every second; the client's
 *                       pongs are counted in stats (ws_pongs)
 */
#include <libsoup/soup.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_schema.h"

#define API_VERSION_MAJOR 5

struct monitor {
    SoupServerMessage *msg;
    guint64 gen;
};

struct fault {
    char *method, *path, *mode;
    guint status;
    int count;
};

static struct {
    JsonParser *doc;
    JsonObject *schemas;
    SoupServer *server;
    guint step_ms;

    bool has_instance;
    JsonNode *properties;
    JsonNode *spec;
    const char *state;
    guint64 gen;
    guint pending; /* a timed transition is queued */

    GByteArray *serial;
    GByteArray *ws_input;
    GPtrArray *sockets;  /* SoupWebsocketConnection */
    char *ws_mode;       /* NULL (libsoup's websocket), raw, raw-bad-accept, raw-extension */
    GPtrArray *raw; /* GIOStream of raw-mode websockets */
    guint ws_pongs;
    GPtrArray *monitors; /* struct monitor * */
    GPtrArray *hung;     /* SoupServerMessage, never answered */

    guint requests, invalid, request_id;
    GPtrArray *errors;
    GPtrArray *log;
    struct fault fault;
} F;

/* ---- Replies ---- */

/* The fake holds itself to the contract too: an answer that does not
 * match its schema is a bug here, not in the client. */
static void reply_json(SoupServerMessage *msg, guint status, JsonNode *body, const char *schema)
{
    if (schema) {
        g_autofree char *problem = json_schema_check_named(F.schemas, body, schema);
        if (problem) {
            fprintf(stderr, "fake-propolis: BUG: answer does not match %s: %s\n", schema, problem);
            abort();
        }
    }
    g_autofree char *text = json_to_string(body, FALSE);
    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, text, strlen(text));
}

static void reply_error(SoupServerMessage *msg, guint status, const char *code, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static void reply_error(SoupServerMessage *msg, guint status, const char *code, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *rid = g_strdup_printf("fake-req-%u", ++F.request_id);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "request_id");
    json_builder_add_string_value(b, rid);
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, m);
    if (code) {
        json_builder_set_member_name(b, "error_code");
        json_builder_add_string_value(b, code);
    }
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    reply_json(msg, status, root, "Error");
}

static void invalid(SoupServerMessage *msg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A request that breaks the contract: 400, and remembered for the test. */
static void invalid(SoupServerMessage *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    F.invalid++;
    g_ptr_array_add(F.errors, m);
    fprintf(stderr, "fake-propolis: invalid request: %s\n", m);
    reply_error(msg, 400, "InvalidRequest", "%s", m);
}

/* ---- State machine ---- */

static JsonNode *monitor_body(void)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "gen");
    json_builder_add_int_value(b, (gint64)F.gen);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, F.state);
    json_builder_set_member_name(b, "migration");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "migration_in");
    json_builder_add_null_value(b);
    json_builder_set_member_name(b, "migration_out");
    json_builder_add_null_value(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static void wake_monitors(void)
{
    for (guint i = 0; i < F.monitors->len;) {
        struct monitor *m = g_ptr_array_index(F.monitors, i);
        if (m->gen <= F.gen) {
            g_autoptr(JsonNode) body = monitor_body();
            reply_json(m->msg, 200, body, "InstanceStateMonitorResponse");
            soup_server_message_unpause(m->msg);
            g_object_unref(m->msg);
            g_ptr_array_remove_index(F.monitors, i);
        } else {
            i++;
        }
    }
}

static void guest_print(const void *data, gsize len);

static void set_state(const char *state)
{
    F.state = state;
    F.gen++;
    fprintf(stderr, "fake-propolis: state %s gen %" G_GUINT64_FORMAT "\n", state, F.gen);
    if (!strcmp(state, "Running")) {
        static const char banner[] = "fake guest: booted\r\n";
        guest_print(banner, strlen(banner));
    }
    wake_monitors();
}

/* A chain of states, one every step_ms. */
static gboolean step_cb(gpointer data)
{
    const char **chain = data;
    set_state(chain[0]);
    if (chain[1]) {
        F.pending = g_timeout_add(F.step_ms, step_cb, chain + 1);
    } else {
        F.pending = 0;
    }
    return G_SOURCE_REMOVE;
}

static void run_chain(const char **chain)
{
    if (F.pending)
        g_source_remove(F.pending);
    set_state(chain[0]);
    F.pending = chain[1] ? g_timeout_add(F.step_ms, step_cb, chain + 1) : 0;
}

static const char *chain_run[] = {"Starting", "Running", NULL};
static const char *chain_stop[] = {"Stopping", "Stopped", "Destroyed", NULL};
static const char *chain_reboot[] = {"Rebooting", "Running", NULL};
static const char *chain_fail[] = {"Failed", "Destroyed", NULL};

/* ---- Serial ---- */

static void guest_print(const void *data, gsize len)
{
    g_byte_array_append(F.serial, data, (guint)len);
    for (guint i = 0; i < F.sockets->len; i++) {
        SoupWebsocketConnection *ws = g_ptr_array_index(F.sockets, i);
        if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
            soup_websocket_connection_send_binary(ws, data, len);
    }
}

static void ws_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
    (void)ws;
    (void)type;
    (void)data;
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(message, &len);
    g_byte_array_append(F.ws_input, p, (guint)len);
    /* The fake guest echoes, as a terminal in cooked mode would. */
    guest_print(p, len);
}

static void ws_closed(SoupWebsocketConnection *ws, gpointer data)
{
    (void)data;
    g_ptr_array_remove(F.sockets, ws);
}

static void ws_pong(SoupWebsocketConnection *ws, GBytes *message, gpointer data)
{
    (void)ws;
    (void)message;
    (void)data;
    F.ws_pongs++;
}

/* Raw mode: libsoup answered the upgrade; the connection is the test's now. */
static void raw_upgraded(SoupServerMessage *msg, gpointer data)
{
    (void)data;
    GIOStream *io = soup_server_message_steal_connection(msg);
    if (io)
        g_ptr_array_add(F.raw, io);
}

static void raw_write(const void *p, gsize len)
{
    for (guint i = 0; i < F.raw->len; i++)
        g_output_stream_write_all(g_io_stream_get_output_stream(g_ptr_array_index(F.raw, i)), p,
                                  len, NULL, NULL, NULL);
}

struct flood {
    GIOStream *io;
    GBytes *unit;
};

static void flood_next(GObject *out, GAsyncResult *res, gpointer data)
{
    struct flood *f = data;
    if (res && !g_output_stream_write_all_finish(G_OUTPUT_STREAM(out), res, NULL, NULL)) {
        g_object_unref(f->io);
        g_bytes_unref(f->unit);
        g_free(f);
        return;
    }
    gsize len;
    const void *p = g_bytes_get_data(f->unit, &len);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(f->io), p, len,
                                    G_PRIORITY_DEFAULT, NULL, flood_next, f);
}

static void raw_flood(const void *p, gsize len)
{
    for (guint i = 0; i < F.raw->len; i++) {
        struct flood *f = g_new(struct flood, 1);
        f->io = g_object_ref(g_ptr_array_index(F.raw, i));
        f->unit = g_bytes_new(p, len);
        flood_next(NULL, NULL, f);
    }
}

static bool query_u64(GHashTable *q, const char *key, guint64 *out, bool *present)
{
    const char *v = q ? g_hash_table_lookup(q, key) : NULL;
    *present = v != NULL;
    if (!v)
        return true;
    char *end = NULL;
    *out = g_ascii_strtoull(v, &end, 10);
    return *v && !*end && v[0] != '-';
}

/* from_start / most_recent -> start offset, as Propolis reads them. */
static bool serial_offset(SoupServerMessage *msg, GHashTable *q, bool need_one, guint64 *start)
{
    guint64 from = 0, recent = 0;
    bool has_from, has_recent;
    if (!query_u64(q, "from_start", &from, &has_from) ||
        !query_u64(q, "most_recent", &recent, &has_recent)) {
        invalid(msg, "from_start/most_recent must be unsigned integers");
        return false;
    }
    if (has_from && has_recent) {
        invalid(msg, "from_start and most_recent are mutually exclusive");
        return false;
    }
    if (need_one && !has_from && !has_recent) {
        invalid(msg, "one of from_start or most_recent is required");
        return false;
    }
    *start =
        has_from ? MIN(from, F.serial->len) : F.serial->len - MIN(recent, (guint64)F.serial->len);
    return true;
}

static void ws_opened(SoupServer *server, SoupServerMessage *msg, const char *path,
                      SoupWebsocketConnection *ws, gpointer data)
{
    (void)server;
    (void)path;
    (void)data;
    g_autoptr(GHashTable) q = NULL;
    const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
    if (query)
        q = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, NULL);
    g_ptr_array_add(F.sockets, g_object_ref(ws));
    g_signal_connect(ws, "message", G_CALLBACK(ws_message), NULL);
    g_signal_connect(ws, "closed", G_CALLBACK(ws_closed), NULL);
    g_signal_connect(ws, "pong", G_CALLBACK(ws_pong), NULL);
    guint64 from = 0, recent = 0;
    bool has_from = false, has_recent = false;
    query_u64(q, "from_start", &from, &has_from);
    query_u64(q, "most_recent", &recent, &has_recent);
    if (has_from || has_recent) {
        guint64 start = has_from ? MIN(from, F.serial->len)
                                 : F.serial->len - MIN(recent, (guint64)F.serial->len);
        if (start < F.serial->len)
            soup_websocket_connection_send_binary(ws, F.serial->data + start,
                                                  F.serial->len - start);
    }
}

/* ---- API endpoints ---- */

static JsonNode *parse_body(SoupServerMessage *msg, const char *schema, const char *what)
{
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    if (!body || body->length == 0) {
        invalid(msg, "%s: request body is required (%s)", what, schema);
        return NULL;
    }
    const char *ct =
        soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), NULL);
    if (!ct || strcmp(ct, "application/json") != 0) {
        invalid(msg, "%s: content type is %s, not application/json", what, ct ? ct : "absent");
        return NULL;
    }
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;
    if (!json_parser_load_from_data(p, body->data, body->length, &err)) {
        invalid(msg, "%s: body is not JSON: %s", what, err->message);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    g_autofree char *problem = json_schema_check_named(F.schemas, root, schema);
    if (problem) {
        invalid(msg, "%s: body does not match %s: %s", what, schema, problem);
        return NULL;
    }
    return json_node_copy(root);
}

static JsonObject *component_of(JsonObject *components, const char *key, const char **type)
{
    if (!json_object_has_member(components, key))
        return NULL;
    JsonObject *c = json_object_get_object_member(components, key);
    *type = json_object_get_string_member(c, "type");
    return json_object_get_object_member(c, "component");
}

/* What the schema cannot say but Propolis checks: references resolve, PCI
 * slots are distinct. */
static bool spec_consistent(SoupServerMessage *msg, JsonObject *spec)
{
    JsonObject *comps = json_object_get_object_member(spec, "components");
    g_autoptr(GHashTable) slots = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GList) keys = json_object_get_members(comps);
    for (GList *l = keys; l; l = l->next) {
        const char *type = NULL;
        JsonObject *c = component_of(comps, l->data, &type);
        if (json_object_has_member(c, "backend_id")) {
            const char *want =
                !strcmp(type, "virtio_nic") ? "virtio_network_backend" : "file_storage_backend";
            const char *btype = NULL;
            const char *bid = json_object_get_string_member(c, "backend_id");
            if (!component_of(comps, bid, &btype) ||
                (strcmp(btype, want) != 0 && strcmp(type, "virtio_nic") != 0 &&
                 strcmp(btype, "crucible_storage_backend") != 0 &&
                 strcmp(btype, "blob_storage_backend") != 0)) {
                invalid(msg, "component '%s': backend '%s' is missing or of the wrong kind",
                        (char *)l->data, bid);
                return false;
            }
        }
        if (json_object_has_member(c, "pci_path")) {
            JsonObject *p = json_object_get_object_member(c, "pci_path");
            char *slot = g_strdup_printf(
                "%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
                json_object_get_int_member(p, "bus"), json_object_get_int_member(p, "device"),
                json_object_get_int_member(p, "function"));
            if (g_hash_table_contains(slots, slot)) {
                invalid(msg, "component '%s': PCI slot %s is used twice", (char *)l->data, slot);
                g_free(slot);
                return false;
            }
            g_hash_table_add(slots, slot);
        }
        if (!strcmp(type, "boot_settings")) {
            JsonArray *order = json_object_get_array_member(c, "order");
            for (guint i = 0; i < json_array_get_length(order); i++) {
                const char *id =
                    json_object_get_string_member(json_array_get_object_element(order, i), "id");
                const char *t = NULL;
                if (!component_of(comps, id, &t)) {
                    invalid(msg, "boot order names '%s', which is not a component", id);
                    return false;
                }
            }
        }
    }
    JsonObject *board = json_object_get_object_member(spec, "board");
    if (json_object_get_int_member(board, "cpus") < 1 ||
        json_object_get_int_member(board, "memory_mb") < 1) {
        invalid(msg, "board needs at least one CPU and 1 MiB");
        return false;
    }
    return true;
}

static void instance_get(SoupServerMessage *msg)
{
    if (!F.has_instance) {
        reply_error(msg, 404, "NoInstance", "Server not initialized (no instance)");
        return;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "instance");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "properties");
    json_builder_add_value(b, json_node_copy(F.properties));
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, F.state);
    json_builder_end_object(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    reply_json(msg, 200, root, "InstanceGetResponse");
}

static void instance_ensure(SoupServerMessage *msg)
{
    g_autoptr(JsonNode) body = parse_body(msg, "InstanceEnsureRequest", "PUT /instance");
    if (!body)
        return;
    JsonObject *o = json_node_get_object(body);
    JsonObject *init = json_object_get_object_member(o, "init");
    if (strcmp(json_object_get_string_member(init, "method"), "Spec") != 0) {
        reply_error(msg, 400, "Unsupported", "this fake serves only Spec initialisation");
        return;
    }
    JsonObject *spec =
        json_object_get_object_member(json_object_get_object_member(init, "value"), "spec");
    if (!spec_consistent(msg, spec))
        return;
    JsonNode *props = json_object_get_member(o, "properties");
    const char *id = json_object_get_string_member(json_node_get_object(props), "id");
    if (F.has_instance) {
        const char *have = json_object_get_string_member(json_node_get_object(F.properties), "id");
        if (strcmp(have, id) != 0) {
            reply_error(msg, 409, "AlreadyInitialized",
                        "Server already initialized with a different instance (%s)", have);
            return;
        }
    } else {
        F.has_instance = true;
        F.properties = json_node_copy(props);
        F.spec = json_node_copy(json_object_get_member(init, "value"));
        F.state = "Creating";
        F.gen = 1;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "migrate");
    json_builder_add_null_value(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    reply_json(msg, 201, root, "InstanceEnsureResponse");
}

static void instance_state_put(SoupServerMessage *msg)
{
    g_autoptr(JsonNode) body = parse_body(msg, "InstanceStateRequested", "PUT /instance/state");
    if (!body)
        return;
    if (!F.has_instance || !strcmp(F.state, "Destroyed")) {
        reply_error(msg, 404, "NoInstance", "no instance is active");
        return;
    }
    const char *req = json_node_get_string(body);
    const char *s = F.state;
    if (!strcmp(req, "Run")) {
        if (!strcmp(s, "Creating"))
            run_chain(chain_run);
        else if (strcmp(s, "Starting") && strcmp(s, "Running") && strcmp(s, "Rebooting")) {
            reply_error(msg, 400, "InvalidState", "cannot run an instance that is %s", s);
            return;
        }
    } else if (!strcmp(req, "Stop")) {
        if (strcmp(s, "Stopping") && strcmp(s, "Stopped"))
            run_chain(chain_stop);
    } else { /* Reboot */
        if (strcmp(s, "Running") != 0) {
            reply_error(msg, 400, "InvalidState", "cannot reboot an instance that is %s", s);
            return;
        }
        run_chain(chain_reboot);
    }
    soup_server_message_set_status(msg, 204, NULL);
}

static void state_monitor(SoupServerMessage *msg)
{
    g_autoptr(JsonNode) body =
        parse_body(msg, "InstanceStateMonitorRequest", "GET /instance/state-monitor");
    if (!body)
        return;
    if (!F.has_instance) {
        reply_error(msg, 404, "NoInstance", "Server not initialized (no instance)");
        return;
    }
    guint64 gen = (guint64)json_object_get_int_member(json_node_get_object(body), "gen");
    if (gen <= F.gen) {
        g_autoptr(JsonNode) root = monitor_body();
        reply_json(msg, 200, root, "InstanceStateMonitorResponse");
        return;
    }
    struct monitor *m = g_new0(struct monitor, 1);
    m->msg = g_object_ref(msg);
    m->gen = gen;
    g_ptr_array_add(F.monitors, m);
    soup_server_message_pause(msg);
}

static void serial_history(SoupServerMessage *msg, GHashTable *q)
{
    if (!F.has_instance) {
        reply_error(msg, 404, "NoInstance", "Server not initialized (no instance)");
        return;
    }
    guint64 start = 0, max = G_MAXUINT64;
    bool has_max = false;
    if (!serial_offset(msg, q, true, &start))
        return;
    if (!query_u64(q, "max_bytes", &max, &has_max)) {
        invalid(msg, "max_bytes must be an unsigned integer");
        return;
    }
    guint64 end = has_max ? MIN(F.serial->len, start + max) : F.serial->len;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "data");
    json_builder_begin_array(b);
    for (guint64 i = start; i < end; i++)
        json_builder_add_int_value(b, F.serial->data[i]);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "last_byte_offset");
    json_builder_add_int_value(b, (gint64)end);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    reply_json(msg, 200, root, "InstanceSerialConsoleHistoryResponse");
}

/* dropshot's ClientSpecifiesVersionInHeader: required, semver, not newer
 * than the server's. */
static bool version_ok(SoupServerMessage *msg)
{
    const char *v =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "api-version");
    if (!v) {
        invalid(msg, "missing expected header \"api-version\"");
        return false;
    }
    unsigned maj, min, pat;
    char extra;
    if (sscanf(v, "%u.%u.%u%c", &maj, &min, &pat, &extra) != 3) {
        invalid(msg, "bad value for header \"api-version\": '%s' is not a semver", v);
        return false;
    }
    if (maj > API_VERSION_MAJOR || (maj == API_VERSION_MAJOR && (min > 0 || pat > 0))) {
        invalid(msg, "server does not support API version %s (latest is 5.0.0)", v);
        return false;
    }
    return true;
}

/* ---- Fault injection and control ---- */

static bool fault_hits(SoupServerMessage *msg, const char *path)
{
    struct fault *f = &F.fault;
    if (f->count <= 0 || strcmp(f->method, soup_server_message_get_method(msg)) != 0 ||
        strcmp(f->path, path) != 0)
        return false;
    f->count--;
    fprintf(stderr, "fake-propolis: injecting '%s' into %s %s\n", f->mode, f->method, path);
    if (!strcmp(f->mode, "die")) {
        /* Mid-call: the request has been read, no answer will come. */
        _exit(3);
    } else if (!strcmp(f->mode, "hang")) {
        g_ptr_array_add(F.hung, g_object_ref(msg));
        soup_server_message_pause(msg);
    } else if (!strcmp(f->mode, "huge")) {
        /* More than any Propolis answer: a client must cut it off. */
        gsize n = 17u << 20;
        char *big = g_malloc(n);
        memset(big, ' ', n);
        big[0] = '[';
        soup_server_message_set_status(msg, f->status, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, big, n);
    } else if (!strcmp(f->mode, "deep")) {
        /* Small, but nested a million levels: a recursive parser's end. */
        gsize n = 1u << 20;
        char *deep = g_malloc(n);
        memset(deep, '[', n);
        soup_server_message_set_status(msg, f->status, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, deep, n);
    } else if (!strcmp(f->mode, "trailing") || !strcmp(f->mode, "nul")) {
        /* A well-formed value with more after it, plainly or past a NUL
         * (where a C string reader would stop and see nothing wrong). */
        static const char trailing[] = "{\"instance\": {}} {\"instance\": {}}";
        static const char nul[] = "{\"instance\": {}}\0{\"instance\": {}}";
        bool is_nul = !strcmp(f->mode, "nul");
        soup_server_message_set_status(msg, f->status, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC,
                                         is_nul ? nul : trailing,
                                         is_nul ? sizeof(nul) - 1 : sizeof(trailing) - 1);
    } else if (!strcmp(f->mode, "garbage")) {
        static const char junk[] = "{\"instance\": {\"state\": Runn";
        soup_server_message_set_status(msg, f->status, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC, junk,
                                         strlen(junk));
    } else {
        reply_error(msg, f->status, "InjectedFailure", "injected failure for %s %s", f->method,
                    path);
    }
    return true;
}

static void control(SoupServerMessage *msg, const char *path)
{
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    if (!strcmp(path, "/_fake/stats")) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "requests");
        json_builder_add_int_value(b, F.requests);
        json_builder_set_member_name(b, "invalid");
        json_builder_add_int_value(b, F.invalid);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, F.has_instance ? F.state : "None");
        json_builder_set_member_name(b, "gen");
        json_builder_add_int_value(b, (gint64)F.gen);
        json_builder_set_member_name(b, "errors");
        json_builder_begin_array(b);
        for (guint i = 0; i < F.errors->len; i++)
            json_builder_add_string_value(b, g_ptr_array_index(F.errors, i));
        json_builder_end_array(b);
        json_builder_set_member_name(b, "log");
        json_builder_begin_array(b);
        for (guint i = 0; i < F.log->len; i++)
            json_builder_add_string_value(b, g_ptr_array_index(F.log, i));
        json_builder_end_array(b);
        json_builder_set_member_name(b, "ws_input");
        json_builder_begin_array(b);
        for (guint i = 0; i < F.ws_input->len; i++)
            json_builder_add_int_value(b, F.ws_input->data[i]);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "ws_pongs");
        json_builder_add_int_value(b, F.ws_pongs);
        json_builder_set_member_name(b, "spec");
        json_builder_add_value(b, F.spec ? json_node_copy(F.spec) : json_node_new(JSON_NODE_NULL));
        json_builder_end_object(b);
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        reply_json(msg, 200, root, NULL);
        return;
    }
    if (!strcmp(path, "/_fake/serial")) {
        guest_print(body->data, body->length);
        soup_server_message_set_status(msg, 204, NULL);
        return;
    }
    if (!strcmp(path, "/_fake/ws_mode")) {
        g_free(F.ws_mode);
        F.ws_mode = g_str_has_prefix(body->data ? body->data : "", "raw")
                        ? g_strndup(body->data, body->length)
                        : NULL;
        soup_server_message_set_status(msg, 204, NULL);
        return;
    }
    if (!strcmp(path, "/_fake/ws_raw") || !strcmp(path, "/_fake/ws_flood")) {
        if (!strcmp(path, "/_fake/ws_raw"))
            raw_write(body->data, body->length);
        else
            raw_flood(body->data, body->length);
        soup_server_message_set_status(msg, 204, NULL);
        return;
    }
    if (!strcmp(path, "/_fake/ws_close") || !strcmp(path, "/_fake/ws_ping")) {
        for (guint i = 0; i < F.sockets->len; i++) {
            SoupWebsocketConnection *ws = g_ptr_array_index(F.sockets, i);
            if (soup_websocket_connection_get_state(ws) != SOUP_WEBSOCKET_STATE_OPEN)
                continue;
            if (!strcmp(path, "/_fake/ws_close"))
                soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL, "bye");
            else
                soup_websocket_connection_set_keepalive_interval(ws, 1);
        }
        soup_server_message_set_status(msg, 204, NULL);
        return;
    }
    g_autoptr(JsonParser) p = json_parser_new();
    if (!body->length || !json_parser_load_from_data(p, body->data, body->length, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        reply_error(msg, 400, NULL, "control body must be a JSON object");
        return;
    }
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    if (!strcmp(path, "/_fake/fault")) {
        struct fault *f = &F.fault;
        g_free(f->method);
        g_free(f->path);
        g_free(f->mode);
        f->method = g_strdup(json_object_get_string_member_with_default(o, "method", "GET"));
        f->path = g_strdup(json_object_get_string_member_with_default(o, "path", "/instance"));
        f->mode = g_strdup(json_object_get_string_member_with_default(o, "mode", "fail"));
        f->status = (guint)json_object_get_int_member_with_default(o, "status", 500);
        f->count = (int)json_object_get_int_member_with_default(o, "count", 1);
        soup_server_message_set_status(msg, 204, NULL);
    } else if (!strcmp(path, "/_fake/guest")) {
        const char *ev = json_object_get_string_member_with_default(o, "event", "");
        if (!F.has_instance || strcmp(F.state, "Running") != 0) {
            reply_error(msg, 409, NULL, "the guest is not running");
            return;
        }
        if (!strcmp(ev, "poweroff"))
            run_chain(chain_stop);
        else if (!strcmp(ev, "fail"))
            run_chain(chain_fail);
        else {
            reply_error(msg, 400, NULL, "unknown guest event '%s'", ev);
            return;
        }
        soup_server_message_set_status(msg, 204, NULL);
    } else {
        reply_error(msg, 404, NULL, "no control endpoint %s", path);
    }
}

static void handle(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                   gpointer data)
{
    (void)server;
    (void)data;
    const char *method = soup_server_message_get_method(msg);
    if (g_str_has_prefix(path, "/_fake/")) {
        control(msg, path);
        return;
    }
    F.requests++;
    g_ptr_array_add(F.log, g_strdup_printf("%s %s", method, path));
    if (!version_ok(msg))
        return;
    if (fault_hits(msg, path))
        return;
    bool get = !strcmp(method, "GET"), put = !strcmp(method, "PUT");
    if (!strcmp(path, "/instance") && get)
        instance_get(msg);
    else if (!strcmp(path, "/instance") && put)
        instance_ensure(msg);
    else if (!strcmp(path, "/instance/state") && put)
        instance_state_put(msg);
    else if (!strcmp(path, "/instance/state-monitor") && get)
        state_monitor(msg);
    else if (!strcmp(path, "/instance/serial/history") && get)
        serial_history(msg, query);
    else if (!strcmp(path, "/instance/serial") && get) {
        guint64 start;
        /* Leave the status unset: the websocket handler takes over. */
        if (!F.has_instance)
            reply_error(msg, 404, "NoInstance", "Server not initialized (no instance)");
        else if (serial_offset(msg, query, false, &start) && F.ws_mode &&
                 soup_websocket_server_process_handshake(msg, NULL, NULL, NULL, NULL)) {
            SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
            if (!strcmp(F.ws_mode, "raw-bad-accept"))
                soup_message_headers_replace(h, "Sec-WebSocket-Accept", "dGhlIHNhbXBsZSBub25jZQ==");
            else if (!strcmp(F.ws_mode, "raw-extension"))
                soup_message_headers_replace(h, "Sec-WebSocket-Extensions", "permessage-deflate");
            g_signal_connect(msg, "wrote-informational", G_CALLBACK(raw_upgraded), NULL);
        }
    } else
        reply_error(msg, 404, "NotFound", "no endpoint %s %s", method, path);
}

int main(int argc, char **argv)
{
    const char *openapi = NULL;
    F.step_ms = 30;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--openapi") && i + 1 < argc)
            openapi = argv[++i];
        else if (!strcmp(argv[i], "--step-ms") && i + 1 < argc)
            F.step_ms = (guint)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s --openapi FILE [--step-ms N]\n", argv[0]);
            return 2;
        }
    }
    if (!openapi) {
        fprintf(stderr, "%s: --openapi FILE is required\n", argv[0]);
        return 2;
    }
    g_autoptr(GError) err = NULL;
    F.doc = json_parser_new();
    if (!json_parser_load_from_file(F.doc, openapi, &err)) {
        fprintf(stderr, "cannot read %s: %s\n", openapi, err->message);
        return 1;
    }
    JsonObject *root = json_node_get_object(json_parser_get_root(F.doc));
    F.schemas =
        json_object_get_object_member(json_object_get_object_member(root, "components"), "schemas");
    const char *version =
        json_object_get_string_member(json_object_get_object_member(root, "info"), "version");
    if (strcmp(version, "5.0.0") != 0) {
        fprintf(stderr, "%s is API version %s, not 5.0.0\n", openapi, version);
        return 1;
    }
    F.serial = g_byte_array_new();
    F.ws_input = g_byte_array_new();
    F.sockets = g_ptr_array_new_with_free_func(g_object_unref);
    F.raw = g_ptr_array_new_with_free_func(g_object_unref);
    F.monitors = g_ptr_array_new_with_free_func(g_free);
    F.hung = g_ptr_array_new_with_free_func(g_object_unref);
    F.errors = g_ptr_array_new_with_free_func(g_free);
    F.log = g_ptr_array_new_with_free_func(g_free);

    F.server = soup_server_new("server-header", "fake-propolis-server", NULL);
    soup_server_add_handler(F.server, NULL, handle, NULL, NULL);
    soup_server_add_handler(F.server, "/instance/serial", handle, NULL, NULL);
    soup_server_add_websocket_handler(F.server, "/instance/serial", NULL, NULL, ws_opened, NULL,
                                      NULL);
    if (!soup_server_listen_local(F.server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &err)) {
        fprintf(stderr, "cannot listen: %s\n", err->message);
        return 1;
    }
    GSList *uris = soup_server_get_uris(F.server);
    printf("%d\n", g_uri_get_port(uris->data));
    fflush(stdout);
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    g_main_loop_run(loop);
    return 0;
}
