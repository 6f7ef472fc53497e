/* A synchronous QMP client (QEMU Machine Protocol, docs/interop/qmp-spec.rst)
 * on a unix socket. Shared by the qemu driver and the kvm session driver,
 * whose qv-vmm speaks the same subset.
 *
 * Events that arrive while a command waits for its reply are queued, never
 * taken for the reply. The queue is bounded: when full, the oldest event
 * that reports no state change is dropped (and counted); a peer that sends
 * more state changes than fit, a line over QMP_MAX_LINE or JSON nested or
 * sized beyond qmp_limits.h gets QV_ERR_PROTOCOL naming it.
 *
 * Every failure sets the qv error: QV_ERR_CONNECT when the peer is
 * unreachable or went away, QV_ERR_TIMEOUT, QV_ERR_PROTOCOL for malformed
 * messages, and for an error reply the code qmp_error_code() maps its class
 * to. */
#ifndef QV_QMP_H
#define QV_QMP_H

#include <json-glib/json-glib.h>

struct qmp;

/* Connect to the socket at path, read the greeting and negotiate
 * capabilities. label names the peer in messages ("VM 'web01'"). */
struct qmp *qmp_connect(const char *path, const char *label, int timeout_ms);
/* The same over an already connected stream socket; takes ownership of fd. */
struct qmp *qmp_open_fd(int fd, const char *label, int timeout_ms);
void qmp_close(struct qmp *q);

/* The server's version from the greeting, e.g. "7.2.22". */
const char *qmp_version(struct qmp *q);

/* Run cmd with args (a JSON object or NULL; not consumed) and wait at most
 * timeout_ms (negative: forever) for its reply. On success *ret (when not
 * NULL) receives the "return" member, owned by the caller. */
int qmp_command(struct qmp *q, const char *cmd, JsonNode *args, JsonNode **ret, int timeout_ms);
/* As qmp_command with args given as a JSON object text ("{\"k\": 1}"). */
int qmp_command_json(struct qmp *q, const char *cmd, const char *args_json, JsonNode **ret,
                     int timeout_ms);

/* The two halves of qmp_command, for a caller that does other work (e.g.
 * reports progress) while a slow command runs: qmp_send sends cmd and gives
 * the id its reply will carry (*id, owned by the caller); qmp_reply_wait
 * waits at most timeout_ms for that reply. A QV_ERR_TIMEOUT from
 * qmp_reply_wait leaves the connection usable and the reply still
 * expected: wait for it again with the same id. Events read meanwhile are
 * queued. */
int qmp_send(struct qmp *q, const char *cmd, JsonNode *args, char **id, int timeout_ms);
int qmp_reply_wait(struct qmp *q, const char *cmd, const char *id, JsonNode **ret, int timeout_ms);

/* The oldest queued event (an object with "event", "data", "timestamp"),
 * owned by the caller, or NULL when none is queued. */
JsonObject *qmp_event_pop(struct qmp *q);
/* How many events were dropped because the queue was full (see
 * lib/qmp/qmp_limits.h: state-change events never are). */
guint64 qmp_events_dropped(struct qmp *q);
/* The oldest queued event named name, owned by the caller, or NULL: reads
 * nothing from the peer (so a reply awaited with qmp_reply_wait is never
 * consumed). */
JsonObject *qmp_event_take(struct qmp *q, const char *name);
/* Wait until an event named name arrives (or is already queued) and return
 * it; events of other names stay queued. QV_ERR_TIMEOUT when none comes. */
int qmp_event_wait(struct qmp *q, const char *name, int timeout_ms, JsonObject **event);

/* The qv error code for a QMP error class ("CommandNotFound", ...). */
int qmp_error_code(const char *qmp_class);

#endif
