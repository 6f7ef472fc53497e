/* lib/qmp against a scripted fake peer (recorded and deliberately broken
 * replies) and against a real qemu-system-x86_64. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/proc/proc.h"
#include "lib/qmp/qmp.h"
#include "lib/qmp/qmp_limits.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"
#include <sys/wait.h>

/* Recorded from QEMU 7.2. */
#define GREETING                                                                                   \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "             \
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_OK "{\"return\": {}, \"id\": \"{ID}\"}\r\n"
#define SILENT "(silent)"
#define HANGUP NULL

struct peer {
    int fd;
    const char *greeting;
    const char *const *replies; /* one per command received; HANGUP closes */
    int n;
    GPtrArray *received;
};

static char *read_line(int fd)
{
    GString *s = g_string_new(NULL);
    char c;
    while (read(fd, &c, 1) == 1) {
        if (c == '\n')
            return g_string_free(s, FALSE);
        g_string_append_c(s, c);
    }
    g_string_free(s, TRUE);
    return NULL;
}

static gpointer peer_main(gpointer data)
{
    struct peer *p = data;
    if (p->greeting && write(p->fd, p->greeting, strlen(p->greeting)) < 0)
        goto out;
    for (int i = 0; i < p->n; i++) {
        if (!p->replies[i])
            break;
        char *line = read_line(p->fd);
        if (!line)
            break;
        g_ptr_array_add(p->received, line);
        if (strcmp(p->replies[i], SILENT) == 0) {
            g_usleep(300000);
            continue;
        }
        /* Substitute the command's id so replies match it. */
        g_autoptr(JsonNode) cmd = json_from_string(line, NULL);
        const char *id = json_object_get_string_member(json_node_get_object(cmd), "id");
        g_auto(GStrv) parts = g_strsplit(p->replies[i], "{ID}", -1);
        g_autofree char *out = g_strjoinv(id, parts);
        if (write(p->fd, out, strlen(out)) < 0)
            break;
    }
out:
    shutdown(p->fd, SHUT_RDWR);
    close(p->fd);
    return NULL;
}

struct flood {
    int fd;
    const char *chunk;
};

/* Write chunk until the reader hangs up. */
static gpointer flood_main(gpointer data)
{
    struct flood *f = data;
    size_t n = strlen(f->chunk);
    while (send(f->fd, f->chunk, n, MSG_NOSIGNAL) > 0)
        ;
    return NULL;
}

static GThread *peer_start(struct peer *p, int *client_fd, const char *greeting,
                           const char *const *replies, int n)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    p->fd = sv[1];
    p->greeting = greeting;
    p->replies = replies;
    p->n = n;
    p->received = g_ptr_array_new_with_free_func(g_free);
    *client_fd = sv[0];
    return g_thread_new("peer", peer_main, p);
}

static void peer_finish(GThread *t, struct peer *p)
{
    g_thread_join(t);
    g_ptr_array_free(p->received, TRUE);
}

START_TEST(events_are_queued_not_replies)
{
    const char *replies[] = {
        CAPS_OK,
        /* An event before the reply and one after, as QEMU sends with
         * system_powerdown. */
        "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"POWERDOWN\"}\r\n"
        "{\"return\": {}, \"id\": \"{ID}\"}\r\n",
        "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
        "\"id\": \"{ID}\"}\r\n",
    };
    struct peer p;
    int fd;
    GThread *t = peer_start(&p, &fd, GREETING, replies, 3);
    struct qmp *q = qmp_open_fd(fd, "fake VM", 2000);
    ck_assert_ptr_nonnull(q);
    ck_assert_str_eq(qmp_version(q), "7.2.22");
    ck_assert_int_eq(qmp_command(q, "system_powerdown", NULL, NULL, 2000), 0);
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "query-status", NULL, &ret, 2000), 0);
    ck_assert_str_eq(json_object_get_string_member(json_node_get_object(ret), "status"), "running");
    json_node_unref(ret);
    JsonObject *ev = qmp_event_pop(q);
    ck_assert_ptr_nonnull(ev);
    ck_assert_str_eq(json_object_get_string_member(ev, "event"), "POWERDOWN");
    json_object_unref(ev);
    ck_assert_ptr_null(qmp_event_pop(q));
    qmp_close(q);
    /* What went over the wire: capabilities first, ids distinct. */
    ck_assert_uint_eq(p.received->len, 3);
    ck_assert_ptr_nonnull(strstr(g_ptr_array_index(p.received, 0), "\"qmp_capabilities\""));
    ck_assert_str_ne(g_ptr_array_index(p.received, 1), g_ptr_array_index(p.received, 2));
    peer_finish(t, &p);
}
END_TEST

START_TEST(error_classes_map_to_qv_errors)
{
    const char *replies[] = {
        CAPS_OK,
        "{\"id\": \"{ID}\", \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The "
        "command frobnicate has not been found\"}}\r\n",
        "{\"id\": \"{ID}\", \"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device "
        "'nic9' not found\"}}\r\n",
        "{\"id\": \"{ID}\", \"error\": {\"class\": \"GenericError\", \"desc\": \"boom\"}}\r\n",
        /* Wrong types inside the error: still a clean error. */
        "{\"id\": \"{ID}\", \"error\": {\"class\": 5, \"desc\": {}}}\r\n",
        "{\"return\": {}, \"id\": \"{ID}\"}\r\n",
    };
    struct peer p;
    int fd;
    GThread *t = peer_start(&p, &fd, GREETING, replies, 6);
    struct qmp *q = qmp_open_fd(fd, "fake VM", 2000);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(qmp_command(q, "frobnicate", NULL, NULL, 2000), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "frobnicate has not been found"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "fake VM"));
    ck_assert_int_eq(qmp_command_json(q, "device_del", "{\"id\": \"nic9\"}", NULL, 2000),
                     QV_ERR_NOT_FOUND);
    ck_assert_int_eq(qmp_command(q, "cont", NULL, NULL, 2000), QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "boom (GenericError)"));
    ck_assert_int_eq(qmp_command(q, "stop", NULL, NULL, 2000), QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "(no description)"));
    /* An error reply does not break the connection. */
    ck_assert_int_eq(qmp_command(q, "cont", NULL, NULL, 2000), 0);
    qmp_close(q);
    peer_finish(t, &p);
}
END_TEST

START_TEST(stale_reply_after_timeout_is_skipped)
{
    const char *replies[] = {
        CAPS_OK,
        SILENT, /* the first command times out */
        /* The late reply to the first command, then the real one. */
        "{\"return\": {\"late\": true}, \"id\": \"qv-2\"}\r\n"
        "{\"return\": {\"late\": false}, \"id\": \"{ID}\"}\r\n",
    };
    struct peer p;
    int fd;
    GThread *t = peer_start(&p, &fd, GREETING, replies, 3);
    struct qmp *q = qmp_open_fd(fd, "fake VM", 2000);
    ck_assert_ptr_nonnull(q);
    gint64 t0 = g_get_monotonic_time();
    ck_assert_int_eq(qmp_command(q, "query-status", NULL, NULL, 100), QV_ERR_TIMEOUT);
    ck_assert_int_lt(g_get_monotonic_time() - t0, 1000000);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "did not answer 'query-status'"));
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "query-status", NULL, &ret, 2000), 0);
    ck_assert(!json_object_get_boolean_member(json_node_get_object(ret), "late"));
    json_node_unref(ret);
    qmp_close(q);
    peer_finish(t, &p);
}
END_TEST

START_TEST(malformed_reply_breaks_connection_clearly)
{
    const char *replies[] = {CAPS_OK, "{\"return\": {\"status\": \r\n"};
    struct peer p;
    int fd;
    GThread *t = peer_start(&p, &fd, GREETING, replies, 2);
    struct qmp *q = qmp_open_fd(fd, "fake VM", 2000);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(qmp_command(q, "query-status", NULL, NULL, 2000), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "malformed JSON"));
    /* Later commands fail fast with the same reason. */
    ck_assert_int_eq(qmp_command(q, "cont", NULL, NULL, 2000), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "malformed JSON"));
    qmp_close(q);
    peer_finish(t, &p);
}
END_TEST

START_TEST(non_object_and_unknown_messages)
{
    const char *a[] = {CAPS_OK, "[1, 2, 3]\r\n"};
    const char *b[] = {CAPS_OK, "{\"hello\": 1}\r\n"};
    const char *c[] = {CAPS_OK, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                                "\"JSON parse error\"}}\r\n"};
    const char *const *scripts[] = {a, b, c};
    const char *expect[] = {"not a JSON object", "neither a reply nor an event",
                            "JSON parse error"};
    for (int i = 0; i < 3; i++) {
        struct peer p;
        int fd;
        GThread *t = peer_start(&p, &fd, GREETING, scripts[i], 2);
        struct qmp *q = qmp_open_fd(fd, "fake VM", 2000);
        ck_assert_ptr_nonnull(q);
        ck_assert_int_eq(qmp_command(q, "query-status", NULL, NULL, 2000), QV_ERR_PROTOCOL);
        ck_assert_msg(strstr(qv_last_error()->message, expect[i]), "case %d: %s", i,
                      qv_last_error()->message);
        qmp_close(q);
        peer_finish(t, &p);
    }
}
END_TEST

/* A command that times out part-way through being sent leaves half a line
 * in the stream, and the peer would read the next command glued to it: the
 * connection is reported unusable instead of sending more. */
START_TEST(half_sent_command_breaks_connection)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    /* The peer greets and accepts the capabilities (the first id is qv-1),
     * then never reads again. */
    const char *pre = GREETING "{\"return\": {}, \"id\": \"qv-1\"}\r\n";
    ck_assert_int_eq(write(sv[1], pre, strlen(pre)), (ssize_t)strlen(pre));
    struct qmp *q = qmp_open_fd(sv[0], "fake VM", 2000);
    ck_assert_ptr_nonnull(q);
    /* Far more than a socket buffer holds. */
    g_autofree char *big = g_strnfill(8 << 20, 'x');
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "data");
    json_builder_add_string_value(b, big);
    json_builder_end_object(b);
    g_autoptr(JsonNode) args = json_builder_get_root(b);
    ck_assert_int_eq(qmp_command(q, "ringbuf-write", args, NULL, 200), QV_ERR_TIMEOUT);
    gint64 t0 = g_get_monotonic_time();
    ck_assert_int_eq(qmp_command(q, "query-status", NULL, NULL, 2000), QV_ERR_CONNECT);
    ck_assert_int_lt(g_get_monotonic_time() - t0, 500000);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "half-sent"));
    qmp_close(q);
    close(sv[1]);
}
END_TEST

/* A reply nested a million levels deep crashed json-glib's recursive
 * parser; it is now refused before parsing, naming the peer. */
START_TEST(deep_nesting_is_a_protocol_error)
{
    GString *deep = g_string_new("{\"return\": ");
    for (int i = 0; i < 1000000; i++)
        g_string_append_c(deep, '[');
    g_string_append(deep, "\r\n");
    const char *replies[] = {CAPS_OK, deep->str};
    struct peer p;
    int fd;
    GThread *t = peer_start(&p, &fd, GREETING, replies, 2);
    struct qmp *q = qmp_open_fd(fd, "VM 'deep'", 5000);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(qmp_command(q, "query-status", NULL, NULL, 5000), QV_ERR_PROTOCOL);
    ck_assert_msg(strstr(qv_last_error()->message, "VM 'deep'") &&
                      strstr(qv_last_error()->message, "nesting deeper than"),
                  "%s", qv_last_error()->message);
    qmp_close(q);
    peer_finish(t, &p);
    g_string_free(deep, TRUE);
}
END_TEST

/* Trailing data, NULs and numbers json-glib would wrap are refused, not
 * parsed, truncated or wrapped; brackets in a comment count for nothing. */
START_TEST(odd_replies)
{
    const char *a[] = {CAPS_OK, "{\"return\": {}, \"id\": \"{ID}\"} {\"x\": 1}\r\n"};
    const char *b[] = {CAPS_OK, "{\"return\": {\"s\": \"a\\u0000b\"}, \"id\": \"{ID}\"}\r\n"};
    const char *c[] = {CAPS_OK, "{\"return\": 99999999999999999999, \"id\": \"{ID}\"}\r\n"};
    const char *const *scripts[] = {a, b, c};
    const char *expect[] = {"after the end of the JSON value", "\\u0000", "out of range"};
    for (int i = 0; i < 3; i++) {
        struct peer p;
        int fd;
        GThread *t = peer_start(&p, &fd, GREETING, scripts[i], 2);
        struct qmp *q = qmp_open_fd(fd, "VM 'odd'", 5000);
        ck_assert_ptr_nonnull(q);
        ck_assert_int_eq(qmp_command(q, "query-status", NULL, NULL, 5000), QV_ERR_PROTOCOL);
        ck_assert_msg(strstr(qv_last_error()->message, expect[i]) &&
                          strstr(qv_last_error()->message, "VM 'odd'"),
                      "case %d: %s", i, qv_last_error()->message);
        qmp_close(q);
        peer_finish(t, &p);
    }
}
END_TEST

START_TEST(overlong_line_is_a_protocol_error)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    const char *pre = GREETING "{\"return\": {}, \"id\": \"qv-1\"}\r\n";
    ck_assert_int_eq(write(sv[1], pre, strlen(pre)), (ssize_t)strlen(pre));
    struct qmp *q = qmp_open_fd(sv[0], "VM 'long'", 2000);
    ck_assert_ptr_nonnull(q);
    /* The peer streams a line that never ends. */
    g_autofree char *chunk = g_strnfill(65536, 'x');
    struct flood f = {sv[1], chunk};
    GThread *w = g_thread_new("flood", flood_main, &f);
    ck_assert_int_eq(qmp_command(q, "query-status", NULL, NULL, 10000), QV_ERR_PROTOCOL);
    ck_assert_msg(strstr(qv_last_error()->message, "over 4194304 bytes") &&
                      strstr(qv_last_error()->message, "VM 'long'"),
                  "%s", qv_last_error()->message);
    qmp_close(q);
    g_thread_join(w);
    close(sv[1]);
}
END_TEST

/* An event flood during a command: the queue stays bounded, chatty events
 * are dropped and counted, state changes all survive in order. */
START_TEST(event_flood_keeps_state_changes)
{
    GString *flood = g_string_new(NULL);
    for (int i = 0; i < 5000; i++) {
        g_string_append_printf(flood,
                               "{\"timestamp\": {\"seconds\": 1, \"microseconds\": %d}, "
                               "\"event\": \"RTC_CHANGE\", \"data\": {\"offset\": %d}}\r\n",
                               i, i);
        if (i == 10)
            g_string_append(flood, "{\"event\": \"STOP\"}\r\n");
        if (i == 2500)
            g_string_append(flood, "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": "
                                   "\"nic1\"}}\r\n");
    }
    g_string_append(flood, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true}}\r\n");
    g_string_append(flood, "{\"return\": {}, \"id\": \"{ID}\"}\r\n");
    const char *replies[] = {CAPS_OK, flood->str};
    struct peer p;
    int fd;
    GThread *t = peer_start(&p, &fd, GREETING, replies, 2);
    struct qmp *q = qmp_open_fd(fd, "VM 'flood'", 5000);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(qmp_command(q, "system_powerdown", NULL, NULL, 20000), 0);
    ck_assert_uint_ge(qmp_events_dropped(q), 5000 - QMP_MAX_EVENTS);
    JsonObject *ev = NULL;
    ck_assert_int_eq(qmp_event_wait(q, "DEVICE_DELETED", 0, &ev), 0);
    ck_assert_str_eq(qv_json_str(qv_json_obj(ev, "data"), "device"), "nic1");
    json_object_unref(ev);
    ck_assert_int_eq(qmp_event_wait(q, "SHUTDOWN", 0, &ev), 0);
    json_object_unref(ev);
    /* What is left: STOP first (oldest), then the newest RTC_CHANGEs. */
    unsigned left = 0;
    bool saw_stop = false;
    while ((ev = qmp_event_pop(q))) {
        if (left == 0)
            saw_stop = strcmp(qv_json_str(ev, "event"), "STOP") == 0;
        left++;
        json_object_unref(ev);
    }
    ck_assert(saw_stop);
    ck_assert_uint_le(left, QMP_MAX_EVENTS);
    qmp_close(q);
    peer_finish(t, &p);
    g_string_free(flood, TRUE);
}
END_TEST

/* State changes are never dropped, so a peer sending more of them than fit
 * is a broken peer. */
START_TEST(kept_event_flood_is_a_protocol_error)
{
    GString *flood = g_string_new(NULL);
    for (unsigned i = 0; i <= QMP_MAX_EVENTS; i++)
        g_string_append(flood, "{\"event\": \"STOP\"}\r\n");
    g_string_append(flood, "{\"return\": {}, \"id\": \"{ID}\"}\r\n");
    const char *replies[] = {CAPS_OK, flood->str};
    struct peer p;
    int fd;
    GThread *t = peer_start(&p, &fd, GREETING, replies, 2);
    struct qmp *q = qmp_open_fd(fd, "VM 'stops'", 5000);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(qmp_command(q, "stop", NULL, NULL, 5000), QV_ERR_PROTOCOL);
    ck_assert_msg(strstr(qv_last_error()->message, "VM 'stops'") &&
                      strstr(qv_last_error()->message, "state-change events"),
                  "%s", qv_last_error()->message);
    qmp_close(q);
    peer_finish(t, &p);
    g_string_free(flood, TRUE);
}
END_TEST

START_TEST(lost_connection_is_reported)
{
    const char *replies[] = {CAPS_OK, HANGUP};
    struct peer p;
    int fd;
    GThread *t = peer_start(&p, &fd, GREETING, replies, 2);
    struct qmp *q = qmp_open_fd(fd, "fake VM", 2000);
    ck_assert_ptr_nonnull(q);
    int rc = qmp_command(q, "query-status", NULL, NULL, 2000);
    ck_assert_int_eq(rc, QV_ERR_CONNECT);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "fake VM"));
    qmp_close(q);
    peer_finish(t, &p);
}
END_TEST

START_TEST(bad_greetings)
{
    const char *greetings[] = {
        "{\"return\": {}}\r\n", "{\"QMP\": {\"capabilities\": []}}\r\n", "not json at all\r\n",
        NULL, /* the peer says nothing and hangs up */
    };
    const char *expect[] = {"did not greet", "without a version", "malformed JSON",
                            "closed by the peer"};
    for (int i = 0; i < 4; i++) {
        const char *replies[] = {HANGUP};
        struct peer p;
        int fd;
        GThread *t = peer_start(&p, &fd, greetings[i], replies, 1);
        struct qmp *q = qmp_open_fd(fd, "fake VM", 2000);
        ck_assert_ptr_null(q);
        ck_assert_msg(strstr(qv_last_error()->message, expect[i]), "case %d: %s", i,
                      qv_last_error()->message);
        ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "cannot set up QMP"));
        peer_finish(t, &p);
    }
}
END_TEST

START_TEST(capabilities_refused)
{
    const char *replies[] = {"{\"id\": \"{ID}\", \"error\": {\"class\": \"GenericError\", "
                             "\"desc\": \"Capabilities negotiation is already complete\"}}\r\n"};
    struct peer p;
    int fd;
    GThread *t = peer_start(&p, &fd, GREETING, replies, 1);
    ck_assert_ptr_null(qmp_open_fd(fd, "fake VM", 2000));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "already complete"));
    peer_finish(t, &p);
}
END_TEST

START_TEST(connect_to_missing_socket)
{
    ck_assert_ptr_null(qmp_connect("/nonexistent/qmp.sock", "VM 'x'", 1000));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_CONNECT);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "/nonexistent/qmp.sock"));
    g_autofree char *longp = g_strnfill(200, 'a');
    ck_assert_ptr_null(qmp_connect(longp, "VM 'x'", 1000));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
}
END_TEST

/* The real thing: qemu-system-x86_64 with no machine. */
START_TEST(real_qemu)
{
    g_autofree char *dir = g_dir_make_tmp("qv-qmp-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "qmp.sock", NULL);
    g_autofree char *log = g_build_filename(dir, "qemu.log", NULL);
    g_autofree char *qmparg = g_strdup_printf("unix:%s,server=on,wait=off", sock);
    char *argv[] = {"qemu-system-x86_64",
                    "-machine",
                    "none",
                    "-nodefaults",
                    "-display",
                    "none",
                    "-S",
                    "-qmp",
                    qmparg,
                    NULL};
    pid_t pid;
    ck_assert_int_eq(proc_spawn(argv, log, &pid), 0);
    struct qmp *q = NULL;
    for (int i = 0; i < 500 && !q; i++) {
        q = qmp_connect(sock, "test QEMU", 5000);
        if (!q)
            g_usleep(10000);
    }
    ck_assert_msg(q != NULL, "%s", qv_last_error()->message);
    ck_assert(g_str_has_prefix(qmp_version(q), "7.") || g_str_has_prefix(qmp_version(q), "8.") ||
              g_str_has_prefix(qmp_version(q), "9."));
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "query-status", NULL, &ret, 5000), 0);
    ck_assert_str_eq(json_object_get_string_member(json_node_get_object(ret), "status"),
                     "prelaunch");
    json_node_unref(ret);
    /* The largest reply QEMU sends fits the bounds on a peer's messages. */
    ck_assert_msg(qmp_command(q, "query-qmp-schema", NULL, &ret, 5000) == 0, "%s",
                  qv_last_error()->message);
    ck_assert_uint_gt(json_array_get_length(json_node_get_array(ret)), 100);
    json_node_unref(ret);
    ck_assert_int_eq(qmp_command(q, "no-such-command", NULL, NULL, 5000), QV_ERR_UNSUPPORTED);
    ck_assert_int_eq(
        qmp_command_json(q, "qom-get", "{\"path\": \"/nope\", \"property\": \"x\"}", NULL, 5000),
        QV_ERR_NOT_FOUND);
    ck_assert_int_eq(qmp_command(q, "quit", NULL, NULL, 5000), 0);
    /* QEMU exits; the connection is then reported lost. */
    int rc = qmp_command(q, "query-status", NULL, NULL, 5000);
    ck_assert_int_eq(rc, QV_ERR_CONNECT);
    qmp_close(q);
    int status;
    ck_assert_int_eq(proc_child_wait(pid, 5000, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    qv_dir_remove_tree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qemu_qmp");
    TCase *tc = tcase_create("qmp");
    tcase_add_test(tc, events_are_queued_not_replies);
    tcase_add_test(tc, error_classes_map_to_qv_errors);
    tcase_add_test(tc, stale_reply_after_timeout_is_skipped);
    tcase_add_test(tc, malformed_reply_breaks_connection_clearly);
    tcase_add_test(tc, non_object_and_unknown_messages);
    tcase_add_test(tc, half_sent_command_breaks_connection);
    tcase_add_test(tc, deep_nesting_is_a_protocol_error);
    tcase_add_test(tc, odd_replies);
    tcase_add_test(tc, overlong_line_is_a_protocol_error);
    tcase_add_test(tc, event_flood_keeps_state_changes);
    tcase_add_test(tc, kept_event_flood_is_a_protocol_error);
    tcase_add_test(tc, lost_connection_is_reported);
    tcase_add_test(tc, bad_greetings);
    tcase_add_test(tc, capabilities_refused);
    tcase_add_test(tc, connect_to_missing_socket);
    tcase_add_test(tc, real_qemu);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
