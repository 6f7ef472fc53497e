/* The remote driver: DRIVER+ssh:// (and DRIVER+pipe:// for tests) forwards
 * every driver slot to `qv remote-helper` on the other end of a byte stream,
 * which runs the local driver there. See docs/architecture.md, "Remote
 * protocol", for the wire format. */
#ifndef QV_REMOTE_H
#define QV_REMOTE_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "lib/api/driver.h"
#include "lib/util/json.h"

/* The one protocol version this libqv speaks; a peer with another is
 * refused naming both (there is no negotiation: both ends ship together). */
#define REMOTE_PROTOCOL_VERSION 1
#define REMOTE_PROTOCOL_NAME "qv-remote"
/* Largest frame either side accepts (a definition or a list is far below). */
#define REMOTE_MAX_FRAME QV_JSON_MAX_BYTES

/* ---- Byte streams (remote_pipe.c, remote_ssh.c) ---- */

struct remote_stream;
struct remote_stream_ops {
    /* Send or receive exactly len bytes before deadline (monotonic µs, -1:
     * none). 0, or a QV_ERR_* with the error set (QV_ERR_TIMEOUT,
     * QV_ERR_CONNECT when the peer went away). */
    int (*send)(struct remote_stream *s, const void *buf, size_t len, gint64 deadline);
    int (*recv)(struct remote_stream *s, void *buf, size_t len, gint64 deadline);
    /* What the peer's process said on stderr and how it ended, for an error
     * message when the stream ends early; NULL when unknown. */
    char *(*describe_end)(struct remote_stream *s);
    /* Relay raw bytes both ways between the stream (turned into a console
     * by a "console" request) and fd, until either side ends or stop_fd
     * becomes readable. */
    void (*pump)(struct remote_stream *s, int fd, int stop_fd);
    void (*close)(struct remote_stream *s);
};

struct remote_stream {
    const struct remote_stream_ops *ops;
};

/* Where the helper runs and how to reach it, from the URI. */
struct remote_target {
    bool ssh;          /* false: the helper is a child of this process */
    char *scheme;      /* "noop+ssh" */
    char *host;        /* NULL for pipe */
    char *user;        /* NULL: ~/.ssh/config or the local user */
    int port;          /* 0: ~/.ssh/config or 22 */
    char *keyfile;     /* NULL: agent and ~/.ssh/config's IdentityFile */
    char *known_hosts; /* NULL: ~/.ssh/known_hosts */
    bool no_verify;
    char *qv;         /* the remote qv binary */
    int timeout_ms;   /* a silent peer is given up after this long */
    char *remote_uri; /* the URI the helper opens, e.g. "noop:///DIR" */
    char *peer;       /* "HOST" or "a local helper", for messages */
};

/* Fill t from conn's URI (remote_uri.c). */
int remote_target_parse(struct qv_conn *conn, struct remote_target *t);
void remote_target_clear(struct remote_target *t);

/* Start a helper for t. NULL with the error set. */
struct remote_stream *remote_pipe_open(const struct remote_target *t);
struct remote_stream *remote_ssh_open(const struct remote_target *t);
/* A stream on fds the caller keeps (the helper's stdin and stdout). */
struct remote_stream *remote_fd_stream(int in_fd, int out_fd, const char *peer);

/* ---- Framing (remote_proto.c) ---- */

/* Write obj as one frame. */
int remote_frame_send(struct remote_stream *s, JsonObject *obj, gint64 deadline);
/* Read one frame into a new object (json_object_unref). what names the
 * peer in errors. NULL with the error set. */
JsonObject *remote_frame_recv(struct remote_stream *s, gint64 deadline, const char *what);

/* An error as the protocol carries it, and back: code, origin, message. */
JsonObject *remote_error_to_json(const struct qv_error *err);
/* Set the thread's error from a protocol error object; returns its code. */
int remote_error_from_json(JsonObject *e, const char *peer);

/* ---- Client (remote_client.c) ---- */

struct remote_tunnels;

struct remote_conn {
    struct remote_target target;
    GMutex lock;                /* one request at a time on main */
    struct remote_stream *main; /* NULL after a drop: the next call reconnects */
    GMutex spare_lock;
    GPtrArray *spares; /* idle streams for long calls */
    char *state_dir;   /* the remote connection's, as its helper reports it */
    gint next_id;
    struct remote_tunnels *tunnels; /* consoles tunnelled to this host, or NULL */
};

#define REMOTE_CONN(conn) ((struct remote_conn *)(conn)->priv)

/* Call method with params (consumed; NULL for none) on the connection's
 * main stream, reconnecting first if it was dropped; the helper's
 * heartbeats keep a long call alive. *result (may be NULL) gets the
 * result object. 0 or a QV_ERR_* with the error set as the remote side set
 * it (code, origin and message). */
int remote_call(struct remote_conn *rc, const char *method, JsonObject *params,
                JsonObject **result);
/* The same on a stream of its own, so that a long call (vm_wait) does not
 * hold up the connection's other calls. */
int remote_call_long(struct remote_conn *rc, const char *method, JsonObject *params,
                     JsonObject **result);
/* A new stream with the remote URI open in its helper, for a console. */
struct remote_stream *remote_stream_open(const struct remote_conn *rc);
/* One request on a stream the caller owns (no reconnecting). */
int remote_stream_request(struct remote_conn *rc, struct remote_stream *s, const char *method,
                          JsonObject *params, JsonObject **result);
/* Open the main stream (at qv_connect, so a bad host fails there). */
int remote_conn_connect(struct remote_conn *rc);
void remote_conn_free(struct remote_conn *rc);

/* ---- Consoles (remote_tunnel.c: this side; remote_console.c: the helper) ---- */

/* "unix:PATH" of a 0600 socket in this process's private runtime directory
 * whose every connection is a stream to the console of VM vm on the remote
 * host. NULL with the error set (as the remote side set it). */
char *remote_tunnel_endpoint(struct remote_conn *rc, const char *vm);
/* Stop every tunnel's threads and remove their sockets. */
void remote_tunnels_free(struct remote_conn *rc);
/* Remove the socket directories of processes that died without closing
 * their connection (killed, or a signal qv does not catch); done at every
 * connect, so they do not wait for the next console. */
void remote_tunnels_sweep(void);
/* Write all of buf to fd (which may be non-blocking) unless stop_fd (-1:
 * none) becomes readable first. 0, or -1 when fd is gone or stopped. */
int remote_write_fd(int fd, const void *buf, size_t len, int stop_fd);
/* Copy a_in to b_out and b_in to a_out until either side ends, a write
 * fails, or stop_fd (-1: none) becomes readable. b_in -1 copies one way. */
void remote_relay(int a_in, int b_out, int b_in, int a_out, int stop_fd);

/* Helper side: where the console of the VM params name is, as the remote
 * host's driver gives it; NULL with the error set, also for a kind of
 * console that cannot be carried. When the driver also logs the console
 * (vm_console_log), *log is that log (g_free) and *log_start where this
 * run's output begins in it; else *log is NULL. */
char *remote_console_resolve(struct qv_conn *conn, JsonObject *params, char **log,
                             uint64_t *log_start);
/* Open a console remote_console_resolve gave; *readonly for a log. An fd
 * or a QV_ERR_* with the error set. The helper relays it with remote_relay. */
int remote_console_open(const char *endpoint, bool *readonly);
/* Relay a pty console whose output is read from its log from start (the
 * pty only takes input) until the pty closes or in_fd ends. 0, or a
 * QV_ERR_* with the error set when the log cannot be opened (nothing was
 * relayed then). */
int remote_console_relay_log(const char *log, uint64_t start, int pty, int in_fd, int out_fd);

/* ---- Helper (remote_serve.c) ---- */
/* vm_free, keeping the thread's error: a handle dropped on the way out of a
 * failed request must not clear what the request reports (vm_free, a
 * public call, starts by clearing it). */
void remote_vm_free_keep_error(struct vm *vm);
/* int qv_remote_serve(int in_fd, int out_fd) is public: include/qv/remote.h */

#endif
