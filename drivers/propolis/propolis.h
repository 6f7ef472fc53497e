/* The propolis driver's internals: an HTTP client for one propolis-server,
 * the domain -> instance spec mapping, state mapping and the local store of
 * definitions. */
#ifndef QV_DRIVERS_PROPOLIS_H
#define QV_DRIVERS_PROPOLIS_H

#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "lib/api/driver.h"

/* The API version this driver speaks, sent in PROPOLIS_API_VERSION_HEADER
 * on every request (dropshot rejects requests without it). */
#define PROPOLIS_API_VERSION "5.0.0"
#define PROPOLIS_API_VERSION_HEADER "api-version"

/* Default bound on one request, seconds; URI parameter timeout= overrides. */
#define PROPOLIS_DEFAULT_TIMEOUT_S 30

struct propolis_client {
    char *host; /* as in the URI, without brackets */
    int port;
    char *authority; /* "host:port", with brackets for IPv6 */
    char *base;      /* "http://host:port" */
    int timeout_s;
};

struct propolis_client *propolis_client_new(const char *host, int port, int timeout_s);
void propolis_client_free(struct propolis_client *c);

/* One request. body (may be NULL) is sent as JSON. On an HTTP answer the
 * status goes to *status (may be NULL); a status other than `expect` is an
 * error unless it is 404 and allow_404 is set (then 0 is returned and
 * *status says 404). *out (may be NULL) receives the parsed JSON body of an
 * expected answer (NULL for an empty body). timeout_ms <= 0 means the
 * client's default (URI parameter timeout=, in seconds). Errors: QV_ERR_CONNECT (refused, closed
 * mid-call), QV_ERR_TIMEOUT, QV_ERR_PROTOCOL (malformed answer), QV_ERR_BACKEND (the server's
 * error, with its message, error_code and request_id). */
int propolis_request(struct propolis_client *c, const char *method, const char *path,
                     JsonNode *body, guint expect, bool allow_404, int timeout_ms, guint *status,
                     JsonNode **out);

/* What propolis_request makes of an answer once it is received: status
 * code against expect, the server's error body, the JSON body (bounded)
 * into *out. Separate so the fuzz target can feed it bodies. */
int propolis_answer(struct propolis_client *c, const char *method, const char *path, guint code,
                    guint expect, const guint8 *body, size_t len, JsonNode **out);

/* ---- Instance spec (propolis_spec.c) ---- */

/* The InstanceEnsureRequest body for def, or NULL with QV_ERR_UNSUPPORTED
 * naming the first element Propolis cannot express. Sends nothing. */
JsonNode *propolis_spec_build(const struct qv_domain *def);

/* ---- States (propolis_state.c) ---- */

struct propolis_status {
    bool present; /* the server hosts an instance */
    char *id;     /* its UUID */
    char *name;
    char *state; /* Propolis's InstanceState */
    guint64 gen; /* from the state monitor; 0 when read from GET /instance */
};

void propolis_status_clear(struct propolis_status *st);
/* Map a Propolis InstanceState to a qv state and reason. stop_requested
 * picks the reason for a stopped instance. Returns false for a state name
 * this driver does not know. */
bool propolis_state_map(const char *state, bool stop_requested, enum vm_state *out,
                        enum vm_state_reason *reason);
/* GET /instance. No instance is not an error (present = false). */
int propolis_instance_get(struct propolis_client *c, struct propolis_status *st);
/* GET /instance/state-monitor {gen}: returns once the server's generation
 * reaches gen, or QV_ERR_TIMEOUT after timeout_ms. */
int propolis_state_monitor(struct propolis_client *c, guint64 gen, int timeout_ms,
                           struct propolis_status *st);
/* Poll the state monitor until done(state) is true or timeout_ms (< 0:
 * forever) passes. */
int propolis_wait_for(struct propolis_client *c, bool (*done)(const char *state), int timeout_ms,
                      struct propolis_status *st);
/* PUT /instance/state. */
int propolis_state_put(struct propolis_client *c, const char *requested);

/* ---- Console (propolis_console.c) ---- */

char *propolis_console_url(struct propolis_client *c);
/* GET /instance/serial/history: at most max_bytes (0 or more than
 * PROPOLIS_HISTORY_MAX: that many) starting at from_start. *data is
 * g_malloc'ed; *next is the offset after the last byte returned (use it as
 * from_start next time). */
#define PROPOLIS_HISTORY_MAX (64u << 10)
int propolis_console_history(struct propolis_client *c, guint64 from_start, guint64 max_bytes,
                             guint8 **data, size_t *len, guint64 *next);

/* ---- Local definitions (propolis_store.c) ----
 * Propolis creates an instance together with its spec, so a definition
 * lives on this host until start sends it:
 *   STATE_DIR/propolis/HOST_PORT/NAME/domain.xml     as defined
 *   STATE_DIR/propolis/HOST_PORT/NAME/instance.json  the PUT /instance body
 *   STATE_DIR/propolis/HOST_PORT/NAME/stop-requested while a stop asked for
 *                                                    by a caller is in effect
 * Directories are 0700, files 0600, written atomically. */

struct propolis_conn {
    struct propolis_client *client;
    char *dir; /* STATE_DIR/propolis/HOST_PORT */
};

struct propolis_vm {
    char *dir;
    char uuid[37];
    char *ensure_json;     /* the PUT /instance body */
    struct qv_domain *def; /* NULL until read (lookup defers parsing) */
    bool stop_requested;
};

int propolis_store_define(struct propolis_conn *pc, const struct qv_domain *def, JsonNode *ensure,
                          struct propolis_vm **out);
int propolis_store_lookup(struct propolis_conn *pc, const char *name, struct propolis_vm **out);
int propolis_store_list(struct propolis_conn *pc, GPtrArray *names);
int propolis_store_remove(struct propolis_conn *pc, struct propolis_vm *pv, const char *name);
void propolis_vm_free(struct propolis_vm *pv);

#endif
