/* libFuzzer target for what a QMP peer sends. The input is the peer's whole
 * byte stream: each line goes through the message parser and the event
 * queue's bookkeeping, and the stream as a whole is played to a real client
 * over a socketpair (greeting, capabilities, one command, one event wait). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/qmp/qmp.h"
#include "lib/qmp/qmp_limits.h"
#include "lib/util/error.h"
#include "lib/util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lines(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        JsonObject *msg = NULL;
        if (qmp_parse_message("fuzz", p, n, &msg) == 0) {
            /* Whatever parsed must be a tree the getters can walk. */
            (void)qmp_event_is_kept(qv_json_str(msg, "event"));
            (void)qv_json_int(qv_json_obj(msg, "timestamp"), "seconds", 0);
            json_object_unref(msg);
        } else if (qv_error_code() != QV_ERR_PROTOCOL) {
            abort();
        }
        p += n + 1;
    }
}

static void session(const uint8_t *data, size_t size)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    /* Inputs are at most -max_len (64 KiB by default here), which a unix
     * socket buffers whole. */
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (size && send(sv[1], data, size, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)size) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    shutdown(sv[1], SHUT_WR);
    struct qmp *q = qmp_open_fd(sv[0], "fuzz", 50);
    if (q) {
        JsonNode *ret = NULL;
        if (qmp_command(q, "query-status", NULL, &ret, 50) == 0 && ret)
            json_node_unref(ret);
        JsonObject *ev = NULL;
        if (qmp_event_wait(q, "SHUTDOWN", 0, &ev) == 0)
            json_object_unref(ev);
        while ((ev = qmp_event_pop(q)))
            json_object_unref(ev);
        qmp_close(q);
    }
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lines(data, size);
    session(data, size);
    qv_reset_error();
    return 0;
}
