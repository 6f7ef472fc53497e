/* Reading members of JSON that comes from outside libqv's control: a QMP
 * peer, an HTTP server, a state file someone may have edited. */
#ifndef QV_UTIL_JSON_H
#define QV_UTIL_JSON_H

#include <json-glib/json-glib.h>
#include <stddef.h>

/* Limits for every JSON document libqv reads (json_bounded.c). */
#define QV_JSON_MAX_BYTES (4u * 1024 * 1024)
#define QV_JSON_MAX_DEPTH 64
/* At most one value (object, array, string, number, true, false, null)
 * per this many bytes of the size limit: 131072 in 4 MiB. json-glib takes
 * 80 bytes for a number and 300 for an empty object, so a 4 MiB "[0,0,..."
 * would otherwise hold 2 million nodes and 150 MB; QEMU 7.2's
 * query-qmp-schema, the largest reply libqv may read, has 15742 values in
 * 207 KB. */
#define QV_JSON_BYTES_PER_VALUE 32
#define QV_JSON_MAX_VALUES (QV_JSON_MAX_BYTES / QV_JSON_BYTES_PER_VALUE)

/* Parse len bytes of untrusted JSON: the only way libqv turns outside text
 * into a JsonNode. What it accepts is RFC 8259 JSON plus // and slash-star
 * comments, at most QV_JSON_MAX_BYTES long, QV_JSON_MAX_DEPTH deep and
 * QV_JSON_MAX_VALUES values, valid UTF-8; refused are a NUL byte anywhere
 * (nothing after one is silently dropped), \u0000 in a string, unpaired
 * surrogates, whole numbers outside 64 bits signed (json-glib would wrap
 * them), and anything after the root value. what names the document in
 * the error ("x.json", "QMP reply from VM 'web'"); the message reads "WHAT
 * line L, column C: REASON".
 * Returns a new node (json_node_unref) or NULL with *error set in
 * JSON_PARSER_ERROR. */
JsonNode *qv_json_parse_bounded(const char *data, size_t len, const char *what, GError **error);
/* The same with another size limit, for documents libqv writes that grow
 * with the VM (regs.json holds every vCPU); the depth limit stays, the
 * value limit is max / QV_JSON_BYTES_PER_VALUE. */
JsonNode *qv_json_parse_limited(const char *data, size_t len, size_t max, const char *what,
                                GError **error);

/* Read path with qv_file_read_text (at most QV_JSON_MAX_BYTES) and parse it
 * as above, the path naming it. NULL with the qv error set: QV_ERR_NOT_FOUND
 * when absent, QV_ERR_IO when unreadable or too large, QV_ERR_JSON. */
JsonNode *qv_json_load_file(const char *path);
/* The same through qv_file_read_state: a symbolic link is refused. */
JsonNode *qv_json_load_state(const char *path);

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
