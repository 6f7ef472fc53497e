/* Reading members of JSON that comes from outside libqv's control: a QMP
 * peer, an HTTP server, a state file someone may have edited. */
#ifndef QV_UTIL_JSON_H
#define QV_UTIL_JSON_H

#include <json-glib/json-glib.h>

/* A member of the wrong type reads as absent. json-glib's own getters
 * would log a critical, and its string getters return NULL for a number,
 * which callers that supplied a default do not expect. o may be NULL. */
const char *qv_json_str(JsonObject *o, const char *key);
JsonObject *qv_json_obj(JsonObject *o, const char *key);
/* dflt when the member is absent or not a whole number. */
gint64 qv_json_int(JsonObject *o, const char *key, gint64 dflt);
/* dflt when the member is absent or not a boolean. */
gboolean qv_json_bool(JsonObject *o, const char *key, gboolean dflt);

#endif
