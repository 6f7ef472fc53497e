/* Test hooks of qv-vmm-test (QV_VMM_TEST_HOOKS): not in qv-vmm. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm.h"

void vmm_test_before_loop(void)
{
    /* The start-up window of the hostile review's finding 1: the guest
     * runs and its watcher may report, but the loop does not run yet. */
    const char *ms = getenv("QV_VMM_TEST_LOOP_DELAY_MS");
    if (ms && *ms)
        g_usleep((gulong)g_ascii_strtoull(ms, NULL, 10) * 1000);
}

void vmm_test_job_delay(void)
{
    const char *ms = getenv("QV_VMM_TEST_JOB_DELAY_MS");
    if (ms && *ms)
        g_usleep((gulong)g_ascii_strtoull(ms, NULL, 10) * 1000);
}

/* The Landlock ruleset seen from inside (x-qv-test-open, -rename,
 * -connect): each tries one thing and reports the errno, 0 when it was
 * allowed. Nothing is written: a file opened for writing is closed
 * untouched, one made by "create" is removed again. */
static JsonNode *errno_reply(int e)
{
    JsonObject *o = json_object_new();
    json_object_set_int_member(o, "errno", e);
    json_object_set_string_member(o, "error", e ? g_strerror(e) : "");
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    return n;
}

static const char *opt_str(JsonObject *args, const char *name)
{
    return json_object_has_member(args, name) ? json_object_get_string_member(args, name) : NULL;
}

JsonNode *vmm_test_open(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                        vmm_after_fn *after)
{
    (void)v;
    (void)after;
    const char *path = json_object_get_string_member(args, "path");
    const char *mode = opt_str(args, "mode");
    int flags = O_RDONLY;
    if (g_strcmp0(mode, "write") == 0)
        flags = O_WRONLY | O_APPEND;
    else if (g_strcmp0(mode, "create") == 0)
        flags = O_WRONLY | O_CREAT | O_EXCL;
    else if (mode && strcmp(mode, "read") != 0)
        return vmm_cmd_fail(err, "GenericError", "mode must be read, write or create");
    int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0) {
        close(fd);
        if (flags & O_CREAT)
            unlink(path);
    }
    return errno_reply(e);
}

JsonNode *vmm_test_rename(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                          vmm_after_fn *after)
{
    (void)v;
    (void)err;
    (void)after;
    int rc = rename(json_object_get_string_member(args, "from"),
                    json_object_get_string_member(args, "to"));
    return errno_reply(rc < 0 ? errno : 0);
}

/* port: TCP to 127.0.0.1:port; path: a unix socket, "@name" abstract. */
JsonNode *vmm_test_connect(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                           vmm_after_fn *after)
{
    (void)v;
    (void)after;
    const char *path = opt_str(args, "path");
    int fd, rc;
    if (path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t n = strlen(path);
        if (n == 0 || n >= sizeof(sa.sun_path))
            return vmm_cmd_fail(err, "GenericError", "path must be 1 to %zu bytes",
                                sizeof(sa.sun_path) - 1);
        memcpy(sa.sun_path, path, n);
        if (path[0] == '@')
            sa.sun_path[0] = '\0';
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        rc = fd < 0 ? -1
                    : connect(fd, (struct sockaddr *)&sa,
                              (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    } else if (json_object_has_member(args, "port")) {
        gint64 port = json_object_get_int_member(args, "port");
        if (port < 1 || port > 65535)
            return vmm_cmd_fail(err, "GenericError", "port must be 1 to 65535");
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    } else {
        return vmm_cmd_fail(err, "GenericError", "give path or port");
    }
    int e = rc < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return errno_reply(e);
}
