/* What a QMP peer may send before it counts as misbehaving, and the
 * internals the fuzz target and tests reach. */
#ifndef QV_QMP_LIMITS_H
#define QV_QMP_LIMITS_H

#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "../util/json.h"

/* One message (line), parsed by qv_json_parse_bounded (lib/util/json.h),
 * which also bounds its nesting to QV_JSON_MAX_DEPTH. The largest QEMU 7.2
 * sends, query-qmp-schema, is about 200 KiB. */
#define QMP_MAX_LINE QV_JSON_MAX_BYTES

/* Events queued while nobody reads them. Beyond either bound the oldest
 * event that is not kept is dropped; kept events (qmp_event_is_kept) are
 * never dropped, and a peer that sends more of those than fit is broken. */
#define QMP_MAX_EVENTS 1024u
#define QMP_MAX_EVENT_BYTES (2u << 20) /* of line text; the trees take up to 40x */

/* Parse one line from the peer labelled label into a message object;
 * QV_ERR_PROTOCOL naming the peer when it is not one. */
int qmp_parse_message(const char *label, const char *line, size_t len, JsonObject **out);

/* Events that report a state change someone may wait for (SHUTDOWN, STOP,
 * DEVICE_DELETED, JOB_STATUS_CHANGE, ...). */
bool qmp_event_is_kept(const char *name);

#endif
