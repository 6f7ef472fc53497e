/* qv-vmm as a user of it sees it: the real binary on noop:/// in a
 * temporary state directory, driven over its socket by lib/qmp (the
 * client the qemu driver uses, unchanged) and by a raw socket for what a
 * well-behaved client never sends. Also the JSON framing and the console
 * relay (a real pty) on their own. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/proc/proc.h"
#include "lib/qmp/qmp.h"
#include "lib/qmp/qmp_job.h"
#include "lib/qmp/qmp_limits.h"
#include "tools/qv-vmm/vmm.h"
#include "tools/qv-vmm/vmm_stream.h"
#include <qv/qv.h>

#define T_MS 10000

static const char *vmm_bin(void)
{
    const char *p = getenv("QV_VMM");
    ck_assert_msg(p && *p, "QV_VMM must name the qv-vmm binary");
    return p;
}

/* qv-vmm-test: the same program with test-only hooks. */
static const char *test_bin(void)
{
    const char *p = getenv("QV_VMM_TEST");
    ck_assert_msg(p && *p, "QV_VMM_TEST must name the qv-vmm-test binary");
    return p;
}

static const char *const XML_FMT = "<domain type='test'>\n"
                                   "  <name>vmm-test</name>\n"
                                   "  <memory>65536</memory>\n"
                                   "  <vcpu>2</vcpu>\n"
                                   "  <os><type>hvm</type></os>\n"
                                   "  <devices>\n"
                                   "    <disk type='file' device='disk'>\n"
                                   "      <source file='%s/disk.img'/>\n"
                                   "      <target dev='vda' bus='virtio'/>\n"
                                   "    </disk>\n"
                                   "  </devices>\n"
                                   "</domain>\n";

/* Directories a test made, removed by its teardown. */
static GPtrArray *made_dirs;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void setup(void)
{
    made_dirs = g_ptr_array_new_with_free_func(g_free);
}

static void teardown(void)
{
    for (guint i = 0; i < made_dirs->len; i++)
        nftw(g_ptr_array_index(made_dirs, i), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_ptr_array_free(made_dirs, TRUE);
}

/* A fresh 0700 state directory holding domain.xml (xml NULL: the default
 * one) and a disk image. */
static char *make_dir(const char *xml)
{
    char *dir = g_dir_make_tmp("qv-vmm-XXXXXX", NULL);
    ck_assert_ptr_nonnull(dir);
    g_ptr_array_add(made_dirs, g_strdup(dir));
    ck_assert_int_eq(chmod(dir, 0700), 0);
    g_autofree char *img = g_build_filename(dir, "disk.img", NULL);
    ck_assert(g_file_set_contents(img, "", 0, NULL));
    g_autofree char *def = xml ? g_strdup(xml) : g_strdup_printf(XML_FMT, dir);
    g_autofree char *path = g_build_filename(dir, "domain.xml", NULL);
    ck_assert(g_file_set_contents(path, def, -1, NULL));
    return dir;
}

static char *sock_of(const char *dir)
{
    return g_build_filename(dir, "qmp.sock", NULL);
}

static bool is_socket(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* The exit status of pid within timeout_ms, or -1 (still running). */
static int wait_exit(GPid pid, int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    do {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        g_usleep(10000);
    } while (g_get_monotonic_time() < end);
    return -1;
}

/* A test that fails leaves its qv-vmm behind: have the kernel end it. */
static void die_with_parent(gpointer data)
{
    (void)data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* Start qv-vmm on noop:/// and wait for its QMP socket. */
static GPid start_vmm(const char *dir, const char *extra)
{
    const char *argv[] = {vmm_bin(), "--dir", dir, "--uri", "noop:///", extra, NULL};
    GPid pid;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                die_with_parent, NULL, &pid, &err),
                  "spawn: %s", err ? err->message : "?");
    g_autofree char *sock = sock_of(dir);
    gint64 end = g_get_monotonic_time() + (gint64)T_MS * 1000;
    while (!is_socket(sock)) {
        int st;
        ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "qv-vmm exited before serving QMP");
        ck_assert_msg(g_get_monotonic_time() < end, "no %s after %d ms", sock, T_MS);
        g_usleep(10000);
    }
    return pid;
}

/* Run qv-vmm to its end; *err receives its stderr. */
static int run_vmm(const char *const *args, char **err)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (char *)vmm_bin());
    for (; *args; args++)
        g_ptr_array_add(argv, (char *)*args);
    g_ptr_array_add(argv, NULL);
    int status = 0;
    g_autoptr(GError) e = NULL;
    ck_assert(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                           die_with_parent, NULL, NULL, err, &status, &e));
    g_ptr_array_free(argv, TRUE);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static struct qmp *client(const char *dir)
{
    g_autofree char *sock = sock_of(dir);
    struct qmp *q = qmp_connect(sock, "qv-vmm", T_MS);
    ck_assert_msg(q, "qmp_connect: %s", qv_last_error()->message);
    return q;
}

/* ---- raw socket helpers ---- */

static int raw_connect(const char *dir)
{
    g_autofree char *sock = sock_of(dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
                  g_strerror(errno));
    return fd;
}

static void raw_send(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        ck_assert_msg(n > 0, "send: %s", g_strerror(errno));
        s += n;
        len -= (size_t)n;
    }
}

/* One line from the server, or NULL after timeout_ms or at EOF. */
static char *raw_line(int fd, int timeout_ms)
{
    GString *s = g_string_new(NULL);
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        int left = (int)((end - g_get_monotonic_time()) / 1000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        char c;
        if (recv(fd, &c, 1, 0) != 1)
            break;
        if (c == '\n')
            return g_string_free(s, FALSE);
        g_string_append_c(s, c);
    }
    g_string_free(s, TRUE);
    return NULL;
}

/* The next message, parsed; fails the test if none comes. */
static JsonObject *raw_msg(int fd)
{
    g_autofree char *line = raw_line(fd, T_MS);
    ck_assert_msg(line, "no message from qv-vmm");
    /* QEMU's line ending. */
    ck_assert_msg(g_str_has_suffix(line, "\r"), "not CRLF-terminated: %s", line);
    g_autoptr(JsonNode) n = json_from_string(line, NULL);
    ck_assert_msg(n && JSON_NODE_HOLDS_OBJECT(n), "not an object: %s", line);
    return json_object_ref(json_node_get_object(n));
}

/* Send one command text and return the reply. */
static JsonObject *raw_cmd(int fd, const char *text)
{
    raw_send(fd, text, strlen(text));
    return raw_msg(fd);
}

static const char *err_class(JsonObject *m)
{
    JsonObject *e = json_object_get_object_member(m, "error");
    ck_assert_msg(e, "expected an error reply");
    return json_object_get_string_member(e, "class");
}

static const char *err_desc(JsonObject *m)
{
    return json_object_get_string_member(json_object_get_object_member(m, "error"), "desc");
}

static void negotiate(int fd)
{
    JsonObject *g = raw_msg(fd);
    ck_assert(json_object_has_member(g, "QMP"));
    json_object_unref(g);
    JsonObject *r = raw_cmd(fd, "{\"execute\": \"qmp_capabilities\"}\n");
    ck_assert(json_object_has_member(r, "return"));
    json_object_unref(r);
}

static void quit_and_check(const char *dir, GPid pid, struct qmp *q)
{
    ck_assert_int_eq(qmp_command(q, "quit", NULL, NULL, T_MS), 0);
    JsonObject *ev = NULL;
    ck_assert_int_eq(qmp_event_wait(q, "SHUTDOWN", T_MS, &ev), 0);
    JsonObject *d = json_object_get_object_member(ev, "data");
    ck_assert_str_eq(json_object_get_string_member(d, "reason"), "host-qmp-quit");
    ck_assert(!json_object_get_boolean_member(d, "guest"));
    json_object_unref(ev);
    qmp_close(q);
    ck_assert_int_eq(wait_exit(pid, T_MS), 0);
    g_autofree char *sock = sock_of(dir);
    ck_assert_msg(!g_file_test(sock, G_FILE_TEST_EXISTS), "qmp.sock left behind");
}

static char *status_of(struct qmp *q, bool *running)
{
    JsonNode *ret = NULL;
    ck_assert_msg(qmp_command(q, "query-status", NULL, &ret, T_MS) == 0, "%s",
                  qv_last_error()->message);
    JsonObject *o = json_node_get_object(ret);
    char *s = g_strdup(json_object_get_string_member(o, "status"));
    *running = json_object_get_boolean_member(o, "running");
    json_node_unref(ret);
    return s;
}

static void assert_status(struct qmp *q, const char *want, bool want_running)
{
    bool running;
    g_autofree char *s = status_of(q, &running);
    ck_assert_str_eq(s, want);
    ck_assert_int_eq(running, want_running);
}

/* ---- the tests ---- */

START_TEST(test_greeting_and_negotiation)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    int fd = raw_connect(dir);
    JsonObject *g = raw_msg(fd);
    JsonObject *qmp = json_object_get_object_member(g, "QMP");
    ck_assert_ptr_nonnull(qmp);
    JsonObject *ver =
        json_object_get_object_member(json_object_get_object_member(qmp, "version"), "qemu");
    ck_assert_ptr_nonnull(ver);
    ck_assert(json_object_has_member(ver, "major") && json_object_has_member(ver, "micro"));
    ck_assert_int_eq(json_array_get_length(json_object_get_array_member(qmp, "capabilities")), 0);
    json_object_unref(g);

    /* Capabilities negotiation mode: a known command is refused... */
    JsonObject *r = raw_cmd(fd, "{\"execute\": \"query-status\", \"id\": 7}\n");
    ck_assert_str_eq(err_class(r), "CommandNotFound");
    ck_assert_ptr_nonnull(strstr(err_desc(r), "qmp_capabilities"));
    ck_assert_int_eq(json_object_get_int_member(r, "id"), 7);
    json_object_unref(r);
    /* ...an unknown one is unknown, with its id echoed whatever it is. */
    r = raw_cmd(fd, "{\"execute\": \"frobnicate\", \"id\": {\"a\": [1, \"x\"]}}\n");
    ck_assert_str_eq(err_class(r), "CommandNotFound");
    ck_assert_str_eq(err_desc(r), "The command frobnicate has not been found");
    JsonObject *id = json_object_get_object_member(r, "id");
    ck_assert_ptr_nonnull(id);
    ck_assert_str_eq(json_array_get_string_element(json_object_get_array_member(id, "a"), 1), "x");
    json_object_unref(r);
    /* Offering a capability the greeting did not is refused. */
    r = raw_cmd(fd,
                "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}\n");
    ck_assert_str_eq(err_class(r), "GenericError");
    ck_assert_str_eq(err_desc(r), "Capability 'oob' not available");
    json_object_unref(r);
    r = raw_cmd(fd, "{\"execute\": \"qmp_capabilities\", \"id\": \"c1\"}\n");
    ck_assert(json_object_has_member(r, "return"));
    ck_assert_str_eq(json_object_get_string_member(r, "id"), "c1");
    json_object_unref(r);
    r = raw_cmd(fd, "{\"execute\": \"qmp_capabilities\"}\n");
    ck_assert_str_eq(err_class(r), "CommandNotFound");
    ck_assert_ptr_nonnull(strstr(err_desc(r), "already complete"));
    json_object_unref(r);
    r = raw_cmd(fd, "{\"execute\": \"query-status\", \"id\": 8}\n");
    ck_assert_str_eq(
        json_object_get_string_member(json_object_get_object_member(r, "return"), "status"),
        "running");
    json_object_unref(r);
    close(fd);
    kill(pid, SIGTERM);
    ck_assert_int_eq(wait_exit(pid, T_MS), 0);
}
END_TEST

START_TEST(test_lifecycle_and_events)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    struct qmp *q = client(dir);
    ck_assert_str_eq(qmp_version(q), qv_version());
    assert_status(q, "running", true);

    ck_assert_int_eq(qmp_command(q, "stop", NULL, NULL, T_MS), 0);
    JsonObject *ev = NULL;
    ck_assert_int_eq(qmp_event_wait(q, "STOP", T_MS, &ev), 0);
    JsonObject *ts = json_object_get_object_member(ev, "timestamp");
    ck_assert_ptr_nonnull(ts);
    ck_assert_int_gt(json_object_get_int_member(ts, "seconds"), 1600000000);
    ck_assert(json_object_has_member(ts, "microseconds"));
    json_object_unref(ev);
    assert_status(q, "paused", false);
    /* stop on a paused VM: nothing happens, no error, no second event. */
    ck_assert_int_eq(qmp_command(q, "stop", NULL, NULL, T_MS), 0);
    ck_assert_ptr_null(qmp_event_take(q, "STOP"));

    ck_assert_int_eq(qmp_command(q, "cont", NULL, NULL, T_MS), 0);
    ck_assert_int_eq(qmp_event_wait(q, "RESUME", T_MS, &ev), 0);
    json_object_unref(ev);
    assert_status(q, "running", true);

    ck_assert_int_eq(qmp_command(q, "system_reset", NULL, NULL, T_MS), 0);
    ck_assert_int_eq(qmp_event_wait(q, "RESET", T_MS, &ev), 0);
    JsonObject *d = json_object_get_object_member(ev, "data");
    ck_assert_str_eq(json_object_get_string_member(d, "reason"), "host-qmp-system-reset");
    ck_assert(!json_object_get_boolean_member(d, "guest"));
    json_object_unref(ev);
    assert_status(q, "running", true);

    /* Two vCPUs, each with a thread id the qemu driver can pin. */
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "query-cpus-fast", NULL, &ret, T_MS), 0);
    JsonArray *cpus = json_node_get_array(ret);
    ck_assert_int_eq(json_array_get_length(cpus), 2);
    for (guint i = 0; i < 2; i++) {
        JsonObject *c = json_array_get_object_element(cpus, i);
        ck_assert_int_eq(json_object_get_int_member(c, "cpu-index"), i);
        ck_assert_int_gt(json_object_get_int_member(c, "thread-id"), 0);
    }
    json_node_unref(ret);

    /* noop has no console: no serial0, and console.log says why. */
    ck_assert_int_eq(qmp_command(q, "query-chardev", NULL, &ret, T_MS), 0);
    JsonArray *chr = json_node_get_array(ret);
    bool has_qmp = false;
    for (guint i = 0; i < json_array_get_length(chr); i++) {
        const char *label =
            json_object_get_string_member(json_array_get_object_element(chr, i), "label");
        ck_assert_str_ne(label, "serial0");
        has_qmp |= strcmp(label, "qmp") == 0;
    }
    ck_assert(has_qmp);
    json_node_unref(ret);
    g_autofree char *logp = g_build_filename(dir, "console.log", NULL);
    g_autofree char *log = NULL;
    ck_assert(g_file_get_contents(logp, &log, NULL, NULL));
    ck_assert_msg(strstr(log, "no console"), "console.log: %s", log);

    ck_assert_int_eq(qmp_command(q, "query-version", NULL, &ret, T_MS), 0);
    ck_assert(json_object_has_member(json_node_get_object(ret), "qemu"));
    json_node_unref(ret);
    ck_assert_int_eq(qmp_command(q, "query-commands", NULL, &ret, T_MS), 0);
    GString *names = g_string_new(",");
    JsonArray *cmds = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(cmds); i++)
        g_string_append_printf(
            names, "%s,",
            json_object_get_string_member(json_array_get_object_element(cmds, i), "name"));
    json_node_unref(ret);
    static const char *const want[] = {"qmp_capabilities",
                                       "query-status",
                                       "stop",
                                       "cont",
                                       "system_powerdown",
                                       "system_reset",
                                       "quit",
                                       "query-cpus-fast",
                                       "query-chardev",
                                       "query-block",
                                       "block_set_io_throttle",
                                       "query-version",
                                       "query-commands"};
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        g_autofree char *n = g_strdup_printf(",%s,", want[i]);
        ck_assert_msg(strstr(names->str, n), "query-commands lacks %s: %s", want[i], names->str);
    }
    g_string_free(names, TRUE);

    /* Unknown after negotiation: CommandNotFound, which lib/qmp maps. */
    ck_assert_int_eq(qmp_command(q, "human-monitor-command", NULL, NULL, T_MS), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "has not been found"));

    quit_and_check(dir, pid, q);
    ck_assert(g_file_test(logp, G_FILE_TEST_IS_REGULAR));

    /* Run again in the same directory: it works, and console.log is
     * appended to, as the qemu driver's is. */
    pid = start_vmm(dir, NULL);
    q = client(dir);
    g_free(log);
    ck_assert(g_file_get_contents(logp, &log, NULL, NULL));
    char *second = strstr(log, "no console");
    ck_assert(second && strstr(second + 1, "no console"));
    quit_and_check(dir, pid, q);
}
END_TEST

START_TEST(test_block)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    struct qmp *q = client(dir);
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "query-block", NULL, &ret, T_MS), 0);
    JsonArray *a = json_node_get_array(ret);
    ck_assert_int_eq(json_array_get_length(a), 1);
    JsonObject *b = json_array_get_object_element(a, 0);
    ck_assert_str_eq(json_object_get_string_member(b, "qdev"),
                     "/machine/peripheral/vda/virtio-backend");
    JsonObject *in = json_object_get_object_member(b, "inserted");
    g_autofree char *img = g_build_filename(dir, "disk.img", NULL);
    ck_assert_str_eq(json_object_get_string_member(in, "file"), img);
    ck_assert_int_eq(json_object_get_int_member(in, "bps"), 0);
    json_node_unref(ret);

    ck_assert_int_eq(qmp_command_json(q, "block_set_io_throttle",
                                      "{\"id\": \"/machine/peripheral/vda/virtio-backend\", "
                                      "\"bps\": 1048576, \"bps_rd\": 0, \"bps_wr\": 0, "
                                      "\"iops\": 100, \"iops_rd\": 0, \"iops_wr\": 0}",
                                      NULL, T_MS),
                     0);
    ck_assert_int_eq(qmp_command(q, "query-block", NULL, &ret, T_MS), 0);
    in = json_object_get_object_member(json_array_get_object_element(json_node_get_array(ret), 0),
                                       "inserted");
    ck_assert_int_eq(json_object_get_int_member(in, "bps"), 1048576);
    ck_assert_int_eq(json_object_get_int_member(in, "iops"), 100);
    json_node_unref(ret);

    /* What libqv cannot do, what does not exist, what is malformed. */
    ck_assert_int_eq(qmp_command_json(q, "block_set_io_throttle",
                                      "{\"id\": \"vda\", \"bps\": 0, \"bps_rd\": 5, \"bps_wr\": 0, "
                                      "\"iops\": 0, \"iops_rd\": 0, \"iops_wr\": 0}",
                                      NULL, T_MS),
                     QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "'bps_rd' is not supported"));
    ck_assert_int_eq(qmp_command_json(q, "block_set_io_throttle",
                                      "{\"id\": \"vdz\", \"bps\": 0, \"bps_rd\": 0, \"bps_wr\": 0, "
                                      "\"iops\": 0, \"iops_rd\": 0, \"iops_wr\": 0}",
                                      NULL, T_MS),
                     QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "Device 'vdz' not found"));
    ck_assert_int_eq(qmp_command_json(q, "block_set_io_throttle",
                                      "{\"id\": \"vda\", \"bps\": 0, \"bps_rd\": 0, \"bps_wr\": 0, "
                                      "\"iops\": 0, \"iops_rd\": 0}",
                                      NULL, T_MS),
                     QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "Parameter 'iops_wr' is missing"));
    ck_assert_int_eq(qmp_command_json(q, "block_set_io_throttle",
                                      "{\"id\": \"vda\", \"bps\": \"lots\", \"bps_rd\": 0, "
                                      "\"bps_wr\": 0, \"iops\": 0, \"iops_rd\": 0, \"iops_wr\": 0}",
                                      NULL, T_MS),
                     QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(
        strstr(qv_last_error()->message, "Invalid parameter type for 'bps', expected: integer"));
    ck_assert_int_eq(
        qmp_command_json(q, "block_set_io_throttle",
                         "{\"id\": \"vda\", \"bps\": -1, \"bps_rd\": 0, \"bps_wr\": 0, "
                         "\"iops\": 0, \"iops_rd\": 0, \"iops_wr\": 0}",
                         NULL, T_MS),
        QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "must be within"));
    quit_and_check(dir, pid, q);
}
END_TEST

START_TEST(test_malformed_input)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    int fd = raw_connect(dir);
    negotiate(fd);
    struct {
        const char *in, *desc;
    } cases[] = {
        {"not json\n", "JSON parse error"},
        {"[1, 2]\n", "QMP input must be a JSON object"},
        {"{\"id\": 5}\n", "QMP input lacks member 'execute'"},
        {"{\"execute\": 1}\n", "QMP input member 'execute' must be a string"},
        {"{\"execute\": \"stop\", \"arguments\": []}\n",
         "QMP input member 'arguments' must be an object"},
        {"{\"execute\": \"stop\", \"bogus\": 1}\n", "QMP input member 'bogus' is unexpected"},
        {"{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}\n",
         "Parameter 'x' is unexpected"},
        {"{\"execute\": \"query-status\" \"id\": 1}\n", "JSON parse error"},
        {"{\"execute\": \"query-status\", \"id\": 1, \"id\": \"\\u0000\"}\n", "JSON parse error"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        JsonObject *r = raw_cmd(fd, cases[i].in);
        ck_assert_str_eq(err_class(r), "GenericError");
        ck_assert_msg(g_str_has_prefix(err_desc(r), cases[i].desc), "%s -> %s", cases[i].in,
                      err_desc(r));
        json_object_unref(r);
    }
    /* Nesting beyond the bound. */
    GString *deep = g_string_new("{\"execute\": \"stop\", \"id\": ");
    for (int i = 0; i < QV_JSON_MAX_DEPTH + 10; i++)
        g_string_append_c(deep, '[');
    for (int i = 0; i < QV_JSON_MAX_DEPTH + 10; i++)
        g_string_append_c(deep, ']');
    g_string_append(deep, "}\n");
    JsonObject *r = raw_cmd(fd, deep->str);
    ck_assert_str_eq(err_class(r), "GenericError");
    ck_assert_ptr_nonnull(strstr(err_desc(r), "JSON parse error"));
    json_object_unref(r);
    g_string_free(deep, TRUE);

    /* An oversized message: refused once, the rest of its line skipped. */
    size_t big = QMP_MAX_LINE + 4096;
    char *huge = g_malloc(big + 64);
    strcpy(huge, "{\"execute\": \"query-status\", \"id\": \"");
    size_t at = strlen(huge);
    memset(huge + at, 'a', big - at);
    strcpy(huge + big, "\"}\n");
    raw_send(fd, huge, strlen(huge));
    g_free(huge);
    r = raw_msg(fd);
    ck_assert_str_eq(err_class(r), "GenericError");
    ck_assert_ptr_nonnull(strstr(err_desc(r), "JSON token size limit exceeded"));
    ck_assert(!json_object_has_member(r, "id"));
    json_object_unref(r);

    /* Two commands in one write, one split over lines and writes: each
     * answered, in order, with its id. */
    const char *part1 =
        "{\"execute\": \"query-status\", \"id\": 1}{\"execute\": \"query-version\", ";
    const char *part2 = "\n \"id\": 2}\n";
    raw_send(fd, part1, strlen(part1));
    raw_send(fd, part2, strlen(part2));
    r = raw_msg(fd);
    ck_assert_int_eq(json_object_get_int_member(r, "id"), 1);
    ck_assert(json_object_has_member(r, "return"));
    json_object_unref(r);
    r = raw_msg(fd);
    ck_assert_int_eq(json_object_get_int_member(r, "id"), 2);
    ck_assert(json_object_has_member(json_object_get_object_member(r, "return"), "qemu"));
    json_object_unref(r);
    close(fd);

    /* The server survived all of it. */
    struct qmp *q = client(dir);
    assert_status(q, "running", true);
    quit_and_check(dir, pid, q);
}
END_TEST

/* Random streams built from QMP's tokens and bytes that break them (NUL,
 * invalid UTF-8, lone surrogates, huge numbers, deep nesting): every
 * answer is a well-formed message, and the server serves the next client.
 * Commands that end the server are left out of the token set. */
START_TEST(test_random_streams)
{
    static const char *const tokens[] = {"{",
                                         "}",
                                         "[",
                                         "]",
                                         "\"",
                                         "\\",
                                         ":",
                                         ",",
                                         " ",
                                         "\n",
                                         "\r\n",
                                         "\"execute\"",
                                         "\"arguments\"",
                                         "\"id\"",
                                         "\"stop\"",
                                         "\"cont\"",
                                         "\"system_reset\"",
                                         "\"query-status\"",
                                         "\"query-block\"",
                                         "\"block_set_io_throttle\"",
                                         "\"bps\"",
                                         "\"enable\"",
                                         "\"qmp_capabilities\"",
                                         "1",
                                         "-1",
                                         "1e999",
                                         "99999999999999999999",
                                         "null",
                                         "true",
                                         "\"\\u0000\"",
                                         "\"\\ud800\"",
                                         "\xff",
                                         "\xc3",
                                         "//",
                                         "/*",
                                         "*/",
                                         "{\"execute\": \"query-status\"}",
                                         "{\"execute\": \"stop\", \"id\": [",
                                         "{\"execute\": \"qmp_capabilities\"}"};
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    GRand *rng = g_rand_new_with_seed(12);
    for (int round = 0; round < 20; round++) {
        int fd = raw_connect(dir);
        g_autofree char *greeting = raw_line(fd, T_MS);
        ck_assert_ptr_nonnull(greeting);
        GString *in = g_string_new(NULL);
        int n = g_rand_int_range(rng, 1, 200);
        for (int i = 0; i < n; i++) {
            if (g_rand_int_range(rng, 0, 10) == 0)
                g_string_append_c(in, (char)g_rand_int_range(rng, 0, 256));
            else
                g_string_append(in, tokens[g_rand_int_range(rng, 0, G_N_ELEMENTS(tokens))]);
        }
        g_string_append_c(in, '\n');
        raw_send(fd, in->str, in->len);
        g_string_free(in, TRUE);
        /* Whatever comes back is a QMP message. */
        char *line;
        while ((line = raw_line(fd, 200))) {
            g_autoptr(JsonNode) m = json_from_string(line, NULL);
            ck_assert_msg(m && JSON_NODE_HOLDS_OBJECT(m), "round %d: not a message: %s", round,
                          line);
            JsonObject *o = json_node_get_object(m);
            ck_assert_msg(json_object_has_member(o, "return") ||
                              json_object_has_member(o, "error") ||
                              json_object_has_member(o, "event"),
                          "round %d: %s", round, line);
            g_free(line);
        }
        close(fd);
    }
    g_rand_free(rng);
    struct qmp *q = client(dir);
    bool running;
    g_autofree char *st = status_of(q, &running);
    ck_assert(strcmp(st, "running") == 0 || strcmp(st, "paused") == 0);
    quit_and_check(dir, pid, q);
}
END_TEST

START_TEST(test_second_client_waits)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    struct qmp *first = client(dir);
    /* The second connects, but is not served while the first is. */
    int fd = raw_connect(dir);
    char *none = raw_line(fd, 500);
    ck_assert_msg(!none, "second client greeted while the first is connected: %s", none);
    assert_status(first, "running", true);
    /* status.sock, the second monitor, answers meanwhile, and gets the
     * events too. */
    g_autofree char *ssock = g_build_filename(dir, "status.sock", NULL);
    struct qmp *st = qmp_connect(ssock, "qv-vmm status", T_MS);
    ck_assert_msg(st, "%s", qv_last_error()->message);
    struct stat sst;
    ck_assert_int_eq(lstat(ssock, &sst), 0);
    ck_assert_int_eq(sst.st_mode & 0777, 0600);
    assert_status(st, "running", true);
    ck_assert_int_eq(qmp_command(first, "stop", NULL, NULL, T_MS), 0);
    JsonObject *ev = NULL;
    ck_assert_int_eq(qmp_event_wait(st, "STOP", T_MS, &ev), 0);
    json_object_unref(ev);
    assert_status(st, "paused", false);
    qmp_close(st);
    qmp_close(first);
    /* Served once the first leaves, from the start (negotiation mode). */
    JsonObject *g = raw_msg(fd);
    ck_assert(json_object_has_member(g, "QMP"));
    json_object_unref(g);
    JsonObject *r = raw_cmd(fd, "{\"execute\": \"cont\"}\n");
    ck_assert_str_eq(err_class(r), "CommandNotFound");
    json_object_unref(r);
    close(fd);
    struct qmp *q = client(dir);
    quit_and_check(dir, pid, q);
    ck_assert(!g_file_test(ssock, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_socket_mode_and_stale_socket)
{
    g_autofree char *dir = make_dir(NULL);
    g_autofree char *sock = sock_of(dir);
    /* A stale socket, as a killed qv-vmm leaves: bound, nobody listening. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    struct stat before;
    ck_assert_int_eq(lstat(sock, &before), 0);
    GPid pid = start_vmm(dir, NULL);
    struct stat st;
    /* start_vmm returns once a socket is there: wait for the new one. */
    gint64 end = g_get_monotonic_time() + (gint64)T_MS * 1000;
    while (lstat(sock, &st) == 0 && st.st_ino == before.st_ino && g_get_monotonic_time() < end)
        g_usleep(10000);
    ck_assert_int_eq(lstat(sock, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_ne(st.st_ino, before.st_ino);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    struct qmp *q = client(dir);

    /* A second qv-vmm on the same directory is refused. */
    g_autofree char *err = NULL;
    const char *args[] = {"--dir", dir, "--uri", "noop:///", NULL};
    ck_assert_int_eq(run_vmm(args, &err), 2);
    ck_assert_msg(strstr(err, "in use by another qv-vmm"), "%s", err);
    quit_and_check(dir, pid, q);

    /* Something else than a socket at qmp.sock: never replaced. */
    ck_assert_int_eq(symlink("/tmp/elsewhere", sock), 0);
    g_free(err);
    err = NULL;
    ck_assert_int_eq(run_vmm(args, &err), 1);
    ck_assert_msg(strstr(err, "not a socket (a symlink)"), "%s", err);
    ck_assert_int_eq(lstat(sock, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));

    /* A socket some other program serves: left to it. */
    ck_assert_int_eq(unlink(sock), 0);
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(other, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(other, 4), 0);
    g_free(err);
    err = NULL;
    ck_assert_int_eq(run_vmm(args, &err), 1);
    ck_assert_msg(strstr(err, "served by another process"), "%s", err);
    close(other);
}
END_TEST

START_TEST(test_powerdown)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    struct qmp *q = client(dir);
    ck_assert_int_eq(qmp_command(q, "system_powerdown", NULL, NULL, T_MS), 0);
    JsonObject *ev = NULL;
    ck_assert_int_eq(qmp_event_wait(q, "POWERDOWN", T_MS, &ev), 0);
    json_object_unref(ev);
    ck_assert_int_eq(qmp_event_wait(q, "SHUTDOWN", T_MS, &ev), 0);
    /* noop has no guest to ask: its graceful stop forces the VM off, and
     * a forced stop is the host's doing, never guest:true. */
    JsonObject *d = json_object_get_object_member(ev, "data");
    ck_assert_str_eq(json_object_get_string_member(d, "reason"), "host-signal");
    ck_assert(!json_object_get_boolean_member(d, "guest"));
    json_object_unref(ev);
    qmp_close(q);
    ck_assert_int_eq(wait_exit(pid, T_MS), 0);
    g_autofree char *sock = sock_of(dir);
    ck_assert(!g_file_test(sock, G_FILE_TEST_EXISTS));
}
END_TEST

/* Review finding 6: the button pressed on a paused VM is delivered, the VM
 * stays paused; the guest acts on it after cont. It used to be forced off
 * at once and reported as guest-shutdown. */
START_TEST(test_powerdown_paused)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    struct qmp *q = client(dir);
    JsonObject *ev = NULL;
    ck_assert_int_eq(qmp_command(q, "stop", NULL, NULL, T_MS), 0);
    ck_assert_int_eq(qmp_event_wait(q, "STOP", T_MS, &ev), 0);
    json_object_unref(ev);
    ck_assert_int_eq(qmp_command(q, "system_powerdown", NULL, NULL, T_MS), 0);
    ck_assert_int_eq(qmp_event_wait(q, "POWERDOWN", T_MS, &ev), 0);
    json_object_unref(ev);
    /* Pressed twice: still one power-off, still paused. */
    ck_assert_int_eq(qmp_command(q, "system_powerdown", NULL, NULL, T_MS), 0);
    ck_assert_int_eq(qmp_event_wait(q, "POWERDOWN", T_MS, &ev), 0);
    json_object_unref(ev);
    g_usleep(300 * 1000);
    ck_assert_int_eq(qmp_event_wait(q, "SHUTDOWN", 200, &ev), QV_ERR_TIMEOUT);
    assert_status(q, "paused", false);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, WNOHANG), 0);
    /* Running again, the guest gets the button (noop: forced off). */
    ck_assert_int_eq(qmp_command(q, "cont", NULL, NULL, T_MS), 0);
    ck_assert_int_eq(qmp_event_wait(q, "RESUME", T_MS, &ev), 0);
    json_object_unref(ev);
    ck_assert_int_eq(qmp_event_wait(q, "SHUTDOWN", T_MS, &ev), 0);
    JsonObject *d = json_object_get_object_member(ev, "data");
    ck_assert_str_eq(json_object_get_string_member(d, "reason"), "host-signal");
    ck_assert(!json_object_get_boolean_member(d, "guest"));
    json_object_unref(ev);
    qmp_close(q);
    ck_assert_int_eq(wait_exit(pid, T_MS), 0);
}
END_TEST

/* The RESET of system_reset reaches the client every time (the seccomp
 * engineer saw it missing in 2 of 4 runs). */
START_TEST(test_reset_events)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    struct qmp *q = client(dir);
    int got = 0;
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(qmp_command(q, "system_reset", NULL, NULL, T_MS), 0);
        JsonObject *ev = NULL;
        if (qmp_event_wait(q, "RESET", T_MS, &ev) == 0) {
            got++;
            json_object_unref(ev);
        }
    }
    ck_assert_int_eq(got, 200);
    ck_assert_uint_eq(qmp_events_dropped(q), 0);
    quit_and_check(dir, pid, q);
}
END_TEST

/* Review finding 1: the guest stops (here: forced off by another libqv
 * client) after start, before the main loop runs. The watcher's report
 * used to run on its own thread and its quit was lost: qv-vmm lived on
 * and ignored quit and SIGTERM. qv-vmm-test waits between start and loop
 * for QV_VMM_TEST_LOOP_DELAY_MS. */
START_TEST(test_guest_stops_before_loop)
{
    g_autofree char *dir = make_dir(NULL);
    g_autofree char *store = g_dir_make_tmp("qv-vmm-store-XXXXXX", NULL);
    g_ptr_array_add(made_dirs, g_strdup(store));
    g_autofree char *uri = g_strdup_printf("noop://%s", store);
    const char *argv[] = {test_bin(), "--dir", dir, "--uri", uri, NULL};
    g_auto(GStrv) env =
        g_environ_setenv(g_get_environ(), "QV_VMM_TEST_LOOP_DELAY_MS", "2000", TRUE);
    GPid pid;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(g_spawn_async(NULL, (char **)argv, env, G_SPAWN_DO_NOT_REAP_CHILD,
                                die_with_parent, NULL, &pid, &err),
                  "spawn: %s", err ? err->message : "?");
    struct qv_conn *c = qv_connect(uri);
    ck_assert_msg(c, "%s", qv_last_error()->message);
    struct vm *vm = NULL;
    gint64 end = g_get_monotonic_time() + 1500 * 1000;
    while (g_get_monotonic_time() < end) {
        if (!vm)
            vm = vm_lookup(c, "vmm-test");
        if (vm && vm_get_state(vm) == VM_STATE_RUNNING)
            break;
        g_usleep(5000);
    }
    ck_assert_msg(vm && vm_get_state(vm) == VM_STATE_RUNNING, "qv-vmm's VM never ran");
    ck_assert_int_eq(vm_stop_flags(vm, VM_STOP_FORCE, 0), 0);
    /* It notices, ends the VM and exits by itself. */
    int rc = wait_exit(pid, T_MS);
    if (rc < 0)
        kill(pid, SIGKILL);
    ck_assert_int_eq(rc, 0);
    vm_free(vm);
    qv_close(c);
}
END_TEST

/* Review finding 7: a FIFO named domain.xml is refused, not waited on. */
START_TEST(test_fifo_definition)
{
    g_autofree char *dir = make_dir(NULL);
    g_autofree char *def = g_build_filename(dir, "domain.xml", NULL);
    ck_assert_int_eq(unlink(def), 0);
    ck_assert_int_eq(mkfifo(def, 0600), 0);
    const char *argv[] = {vmm_bin(), "--dir", dir, "--uri", "noop:///", NULL};
    GPid pid;
    int errfd = -1;
    g_autoptr(GError) err = NULL;
    ck_assert(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                       die_with_parent, NULL, &pid, NULL, NULL, &errfd, &err));
    int rc = wait_exit(pid, 5000);
    if (rc < 0)
        kill(pid, SIGKILL);
    ck_assert_int_eq(rc, 2);
    char buf[512] = {0};
    ck_assert_int_gt(read(errfd, buf, sizeof(buf) - 1), 0);
    ck_assert_msg(strstr(buf, "domain.xml is not a regular file"), "%s", buf);
    close(errfd);
}
END_TEST

/* The seccomp sandbox: qv-vmm runs filtered (the kernel says so), and a
 * call outside the list, made through qv-vmm-test's hook, kills it with
 * SIGSYS before it can answer or report anything. qv-vmm has no such
 * command. */
START_TEST(test_sandbox)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    int fd = raw_connect(dir);
    negotiate(fd); /* the greeting comes from the loop, after the filter */
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *status = NULL;
    ck_assert(g_file_get_contents(path, &status, NULL, NULL));
    ck_assert_msg(strstr(status, "\nSeccomp:\t2\n"), "qv-vmm is not in a seccomp filter:\n%s",
                  status);
    JsonObject *r = raw_cmd(fd, "{\"execute\": \"x-qv-test-forbidden-syscall\"}\n");
    ck_assert_str_eq(err_class(r), "CommandNotFound");
    json_object_unref(r);
    close(fd);
    struct qmp *q = client(dir);
    quit_and_check(dir, pid, q);

    g_autofree char *dir2 = make_dir(NULL);
    const char *argv[] = {test_bin(), "--dir", dir2, "--uri", "noop:///", NULL};
    int errfd = -1;
    g_autoptr(GError) err = NULL;
    ck_assert(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                       die_with_parent, NULL, &pid, NULL, NULL, &errfd, &err));
    g_autofree char *sock = sock_of(dir2);
    for (int i = 0; i < 1000 && !is_socket(sock); i++)
        g_usleep(10000);
    fd = raw_connect(dir2);
    negotiate(fd);
    const char *bad = "{\"execute\": \"x-qv-test-forbidden-syscall\"}\n";
    raw_send(fd, bad, strlen(bad));
    /* No reply, no event: the connection just ends. */
    g_autofree char *line = raw_line(fd, T_MS);
    ck_assert_msg(!line, "qv-vmm answered: %s", line);
    int rc = wait_exit(pid, T_MS);
    if (rc < 0)
        kill(pid, SIGKILL);
    ck_assert_int_eq(rc, 128 + SIGSYS);
    /* Its last words are the hook's own; nothing ran after the call. */
    char buf[1024] = {0};
    ssize_t n = read(errfd, buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 0);
    ck_assert_msg(g_str_has_suffix(buf, "calling unshare(CLONE_NEWUSER)\n"), "stderr: %s", buf);
    ck_assert_msg(!strstr(buf, "failed") && !strstr(buf, "allowed"), "stderr: %s", buf);
    close(errfd);
    close(fd);
}
END_TEST

START_TEST(test_paused_start_and_sigterm)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, "--paused");
    struct qmp *q = client(dir);
    assert_status(q, "prelaunch", false);
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "query-cpus-fast", NULL, &ret, T_MS), 0);
    ck_assert_int_eq(json_array_get_length(json_node_get_array(ret)), 0);
    json_node_unref(ret);
    /* What libqv refuses comes back as GenericError with libqv's words. */
    ck_assert_int_eq(qmp_command(q, "system_reset", NULL, NULL, T_MS), QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "cannot reset the VM: "));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "(GenericError)"));
    ck_assert_int_eq(qmp_command(q, "system_powerdown", NULL, NULL, T_MS), QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "prelaunch"));
    ck_assert_int_eq(qmp_command(q, "cont", NULL, NULL, T_MS), 0);
    JsonObject *ev = NULL;
    ck_assert_int_eq(qmp_event_wait(q, "RESUME", T_MS, &ev), 0);
    json_object_unref(ev);
    assert_status(q, "running", true);
    /* SIGTERM: SHUTDOWN (host-signal), exit 0, socket removed. */
    kill(pid, SIGTERM);
    ck_assert_int_eq(qmp_event_wait(q, "SHUTDOWN", T_MS, &ev), 0);
    ck_assert_str_eq(
        json_object_get_string_member(json_object_get_object_member(ev, "data"), "reason"),
        "host-signal");
    json_object_unref(ev);
    qmp_close(q);
    ck_assert_int_eq(wait_exit(pid, T_MS), 0);
    g_autofree char *sock = sock_of(dir);
    ck_assert(!g_file_test(sock, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_bad_invocations)
{
    g_autofree char *err = NULL;
    const char *none[] = {NULL};
    ck_assert_int_eq(run_vmm(none, &err), 2);
    ck_assert_msg(strstr(err, "--dir STATE_DIR is required"), "%s", err);

    g_free(err);
    const char *missing[] = {"--dir", "/nonexistent/qv-vmm-dir", NULL};
    ck_assert_int_eq(run_vmm(missing, &err), 2);
    ck_assert_msg(strstr(err, "does not exist"), "%s", err);

    g_free(err);
    g_autofree char *open_dir = make_dir(NULL);
    ck_assert_int_eq(chmod(open_dir, 0755), 0);
    const char *opened[] = {"--dir", open_dir, "--uri", "noop:///", NULL};
    ck_assert_int_eq(run_vmm(opened, &err), 2);
    ck_assert_msg(strstr(err, "mode 0755") && strstr(err, "0700"), "%s", err);

    /* A symlink to a good directory is not one. */
    g_free(err);
    g_autofree char *link = g_strconcat(open_dir, ".link", NULL);
    ck_assert_int_eq(chmod(open_dir, 0700), 0);
    ck_assert_int_eq(symlink(open_dir, link), 0);
    const char *linked[] = {"--dir", link, "--uri", "noop:///", NULL};
    ck_assert_int_eq(run_vmm(linked, &err), 2);
    ck_assert_msg(strstr(err, "symlink"), "%s", err);
    unlink(link);

    /* domain.xml and console.log are never followed through a symlink. */
    g_free(err);
    g_autofree char *def = g_build_filename(open_dir, "domain.xml", NULL);
    g_autofree char *real = g_build_filename(open_dir, "real.xml", NULL);
    ck_assert_int_eq(rename(def, real), 0);
    ck_assert_int_eq(symlink(real, def), 0);
    ck_assert_int_eq(run_vmm(opened, &err), 2);
    ck_assert_msg(strstr(err, "domain.xml: it is a symlink"), "%s", err);
    ck_assert_int_eq(unlink(def), 0);
    ck_assert_int_eq(rename(real, def), 0);
    g_free(err);
    g_autofree char *log = g_build_filename(open_dir, "console.log", NULL);
    ck_assert_int_eq(symlink("/tmp/qv-vmm-nowhere", log), 0);
    ck_assert_int_eq(run_vmm(opened, &err), 1);
    ck_assert_msg(strstr(err, "console.log: it is a symlink"), "%s", err);
    ck_assert(!g_file_test("/tmp/qv-vmm-nowhere", G_FILE_TEST_EXISTS));
    ck_assert_int_eq(unlink(log), 0);
    /* Nor written to a FIFO (whose open would wait for a reader). */
    g_free(err);
    ck_assert_int_eq(mkfifo(log, 0600), 0);
    ck_assert_int_eq(run_vmm(opened, &err), 1);
    ck_assert_msg(strstr(err, "console.log: it is a FIFO, not a regular file"), "%s", err);
    ck_assert_int_eq(unlink(log), 0);

    g_free(err);
    const char *unknown[] = {"--dir", open_dir, "--frobnicate", NULL};
    ck_assert_int_eq(run_vmm(unknown, &err), 2);
    ck_assert_msg(strstr(err, "unknown argument '--frobnicate'"), "%s", err);

    /* Bad XML: libqv's message, with the file and the line. */
    g_free(err);
    g_autofree char *bad = make_dir("<domain type='test'>\n<name>x</name>\n<memory>oops\n");
    const char *badxml[] = {"--dir", bad, "--uri", "noop:///", NULL};
    ck_assert_int_eq(run_vmm(badxml, &err), 1);
    ck_assert_msg(strstr(err, "domain.xml") && strstr(err, "line"), "%s", err);

    /* A driver that does not exist: libqv's message. */
    g_free(err);
    const char *baduri[] = {"--dir", open_dir, "--uri", "nosuch:///", NULL};
    ck_assert_int_eq(run_vmm(baduri, &err), 1);
    ck_assert_msg(strstr(err, "nosuch:///"), "%s", err);

    /* --help and --version exit 0. */
    g_free(err);
    const char *help[] = {"--help", NULL};
    ck_assert_int_eq(run_vmm(help, &err), 0);
}
END_TEST

/* ---- the pieces on their own ---- */

static char *next(struct vmm_stream *s, int *r)
{
    char *m = NULL;
    size_t len = 0;
    *r = vmm_stream_next(s, &m, &len);
    return m;
}

/* ---- snapshot jobs (vmm_jobs.c) ---- */

/* The JOB_STATUS_CHANGE statuses of job id, in order, until "concluded". */
static char *job_statuses(struct qmp *q, const char *id)
{
    GString *s = g_string_new(NULL);
    for (;;) {
        JsonObject *ev = NULL;
        ck_assert_msg(qmp_event_wait(q, "JOB_STATUS_CHANGE", T_MS, &ev) == 0, "after '%s': %s",
                      s->str, qv_last_error()->message);
        JsonObject *d = json_object_get_object_member(ev, "data");
        if (strcmp(json_object_get_string_member(d, "id"), id) == 0) {
            const char *st = json_object_get_string_member(d, "status");
            g_string_append_printf(s, "%s%s", s->len ? "," : "", st);
            if (strcmp(st, "concluded") == 0) {
                json_object_unref(ev);
                return g_string_free(s, FALSE);
            }
        }
        json_object_unref(ev);
    }
}

/* query-jobs' entry for id (a new reference), or NULL. */
static JsonObject *job_entry(struct qmp *q, const char *id)
{
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "query-jobs", NULL, &ret, T_MS), 0);
    JsonArray *a = json_node_get_array(ret);
    JsonObject *found = NULL;
    for (guint i = 0; i < json_array_get_length(a) && !found; i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        if (strcmp(json_object_get_string_member(o, "id"), id) == 0)
            found = json_object_ref(o);
    }
    json_node_unref(ret);
    return found;
}

/* x-qv-query-snapshots as "name:state,..." */
static char *snapshot_names(struct qmp *q)
{
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "x-qv-query-snapshots", NULL, &ret, T_MS), 0);
    JsonArray *a = json_node_get_array(ret);
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_string_append_printf(s, "%s%s:%s", i ? "," : "", json_object_get_string_member(o, "name"),
                               json_object_get_string_member(o, "x-qv-state"));
        ck_assert_int_gt(json_object_get_int_member(o, "date-sec"), 1500000000);
    }
    json_node_unref(ret);
    return g_string_free(s, FALSE);
}

START_TEST(test_snapshot_jobs)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    struct qmp *q = client(dir);

    /* As QEMU 7.2: the reply, then created..concluded; manual dismiss. */
    ck_assert_int_eq(qmp_command_json(q, "snapshot-save",
                                      "{\"job-id\": \"j1\", \"tag\": \"s1\", \"vmstate\": "
                                      "\"drive-vda\", \"devices\": [\"drive-vda\"]}",
                                      NULL, T_MS),
                     0);
    g_autofree char *seen = job_statuses(q, "j1");
    ck_assert_str_eq(seen, "created,running,waiting,pending,concluded");
    JsonObject *e = job_entry(q, "j1");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(json_object_get_string_member(e, "type"), "snapshot-save");
    ck_assert_str_eq(json_object_get_string_member(e, "status"), "concluded");
    ck_assert_int_eq(json_object_get_int_member(e, "current-progress"), 1);
    ck_assert_int_eq(json_object_get_int_member(e, "total-progress"), 1);
    ck_assert(!json_object_has_member(e, "error"));
    json_object_unref(e);
    /* Its id stays taken until dismissed. */
    ck_assert_int_eq(
        qmp_command_json(q, "snapshot-save", "{\"job-id\": \"j1\", \"tag\": \"s9\"}", NULL, T_MS),
        QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "Job ID 'j1' already in use"));
    ck_assert_int_eq(qmp_command_json(q, "job-dismiss", "{\"id\": \"j1\"}", NULL, T_MS), 0);
    JsonObject *ev = NULL;
    ck_assert_int_eq(qmp_event_wait(q, "JOB_STATUS_CHANGE", T_MS, &ev), 0);
    ck_assert_str_eq(
        json_object_get_string_member(json_object_get_object_member(ev, "data"), "status"), "null");
    json_object_unref(ev);
    ck_assert_ptr_null(job_entry(q, "j1"));
    ck_assert_int_eq(qmp_command_json(q, "job-dismiss", "{\"id\": \"j1\"}", NULL, T_MS),
                     QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "Job not found"));
    g_autofree char *names = snapshot_names(q);
    ck_assert_str_eq(names, "s1:running");

    /* lib/qmp's runner, as kvm:///session drives it. */
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "tag", "s2");
    ck_assert_int_eq(qmp_job_run(q, "qv-vmm", "snapshot-save", args, T_MS, NULL, NULL), 0);
    ck_assert_ptr_null(job_entry(q, "j1")); /* and it dismissed its job */
    /* A job that fails concludes with its error. */
    json_object_set_string_member(args, "tag", "nope");
    ck_assert_int_eq(qmp_job_run(q, "qv-vmm", "snapshot-load", args, T_MS, NULL, NULL),
                     QV_ERR_BACKEND);
    ck_assert_msg(strstr(qv_last_error()->message, "qv-vmm's snapshot-load job failed") &&
                      strstr(qv_last_error()->message, "no snapshot 'nope'"),
                  "%s", qv_last_error()->message);
    ck_assert_int_eq(
        qmp_command_json(q, "snapshot-delete", "{\"job-id\": \"d\", \"tag\": \"s9\"}", NULL, T_MS),
        0);
    g_autofree char *failed = job_statuses(q, "d");
    e = job_entry(q, "d");
    ck_assert_msg(strstr(json_object_get_string_member(e, "error"), "no snapshot 's9'"), "%s",
                  json_object_get_string_member(e, "error"));
    json_object_unref(e);

    /* A load puts the guest back in the captured state, with its event. */
    ck_assert_int_eq(qmp_command(q, "stop", NULL, NULL, T_MS), 0);
    json_object_set_string_member(args, "tag", "held");
    ck_assert_int_eq(qmp_job_run(q, "qv-vmm", "snapshot-save", args, T_MS, NULL, NULL), 0);
    ck_assert_int_eq(qmp_command(q, "cont", NULL, NULL, T_MS), 0);
    assert_status(q, "running", true);
    while ((ev = qmp_event_take(q, "STOP")))
        json_object_unref(ev);
    ck_assert_int_eq(qmp_job_run(q, "qv-vmm", "snapshot-load", args, T_MS, NULL, NULL), 0);
    assert_status(q, "paused", false);
    ck_assert_int_eq(qmp_event_wait(q, "STOP", T_MS, &ev), 0);
    json_object_unref(ev);
    json_object_set_string_member(args, "tag", "s1");
    ck_assert_int_eq(qmp_job_run(q, "qv-vmm", "snapshot-load", args, T_MS, NULL, NULL), 0);
    assert_status(q, "running", true);
    json_object_set_string_member(args, "tag", "s2");
    ck_assert_int_eq(qmp_job_run(q, "qv-vmm", "snapshot-delete", args, T_MS, NULL, NULL), 0);
    g_autofree char *left = snapshot_names(q);
    ck_assert_str_eq(left, "s1:running,held:paused");
    quit_and_check(dir, pid, q);
}
END_TEST

/* Start snapshot-save job id (tag tag) and wait until it concluded. */
static void job_to_conclusion(struct qmp *q, const char *id, const char *tag)
{
    g_autofree char *args = g_strdup_printf("{\"job-id\": \"%s\", \"tag\": \"%s\"}", id, tag);
    ck_assert_int_eq(qmp_command_json(q, "snapshot-save", args, NULL, T_MS), 0);
    g_autofree char *seen = job_statuses(q, id);
    ck_assert_str_eq(seen, "created,running,waiting,pending,concluded");
}

/* Low finding 1: settling (before each qmp_job_run, and the qemu driver's
 * reconcile) dismisses only the concluded jobs nobody will dismiss: that
 * of a caller whose process is gone, of this process when no run here
 * follows it, or of a "qv-" id naming no owner. A live caller's concluded
 * job stays for that caller to read its error and dismiss it. */
START_TEST(test_job_settle_spares_live_callers)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    struct qmp *q = client(dir);
    /* Another caller, alive: a process of ours standing in for it. */
    const char *argv[] = {"/bin/sleep", "600", NULL};
    GPid other;
    g_autoptr(GError) err = NULL;
    ck_assert(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent,
                            NULL, &other, &err));
    struct proc_identity oid, me;
    ck_assert_int_eq(proc_identity_read(other, &oid), 0);
    ck_assert_int_eq(proc_identity_read(getpid(), &me), 0);
    g_autofree char *live =
        g_strdup_printf("qv-snapshot-save-%d-%" G_GUINT64_FORMAT "-0", (int)other, oid.start_time);
    g_autofree char *mine = g_strdup_printf("qv-snapshot-save-%d-%" G_GUINT64_FORMAT "-77",
                                            (int)getpid(), me.start_time);
    /* Same pid, another start time: a reused pid is not the caller. */
    g_autofree char *reused = g_strdup_printf("qv-snapshot-save-%d-%" G_GUINT64_FORMAT "-1",
                                              (int)other, oid.start_time + 1);
    job_to_conclusion(q, live, "a");
    job_to_conclusion(q, mine, "b");
    job_to_conclusion(q, reused, "c");
    job_to_conclusion(q, "qv-snapshot-save-123-4", "d"); /* the old id scheme */

    ck_assert_int_eq(qmp_job_settle(q, "qv-vmm", T_MS), 0);
    JsonObject *e = job_entry(q, live);
    ck_assert_msg(e, "the live caller's concluded job was dismissed");
    ck_assert_str_eq(json_object_get_string_member(e, "status"), "concluded");
    json_object_unref(e);
    ck_assert_ptr_null(job_entry(q, mine));
    ck_assert_ptr_null(job_entry(q, reused));
    ck_assert_ptr_null(job_entry(q, "qv-snapshot-save-123-4"));

    /* A run of this process settles first, and spares it too. */
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "tag", "e");
    ck_assert_int_eq(qmp_job_run(q, "qv-vmm", "snapshot-save", args, T_MS, NULL, NULL), 0);
    e = job_entry(q, live);
    ck_assert_ptr_nonnull(e);
    json_object_unref(e);

    /* Once that caller is gone its job is a leftover. */
    ck_assert_int_eq(kill(other, SIGKILL), 0);
    ck_assert_int_eq(wait_exit(other, T_MS), 128 + SIGKILL);
    ck_assert_int_eq(qmp_job_settle(q, "qv-vmm", T_MS), 0);
    ck_assert_ptr_null(job_entry(q, live));
    proc_identity_clear(&oid);
    proc_identity_clear(&me);
    quit_and_check(dir, pid, q);
}
END_TEST

/* Low finding 2: concluded jobs nobody dismisses (callers killed before
 * job-dismiss) do not pile up: qv-vmm keeps the newest
 * VMM_JOBS_KEPT_CONCLUDED, and drops the oldest with the "null" event a
 * dismiss sends. */
START_TEST(test_concluded_jobs_are_capped)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    struct qmp *q = client(dir);
    const int total = VMM_JOBS_KEPT_CONCLUDED + 3;
    GString *seen = g_string_new(";");
    for (int i = 0; i < total; i++) {
        /* A delete of a snapshot there is not: it concludes at once, with
         * its error, and leaves nothing else behind. */
        g_autofree char *args = g_strdup_printf("{\"job-id\": \"j%d\", \"tag\": \"none\"}", i);
        ck_assert_int_eq(qmp_command_json(q, "snapshot-delete", args, NULL, T_MS), 0);
        g_autofree char *done = g_strdup_printf(";j%d:concluded;", i);
        while (!strstr(seen->str, done)) {
            JsonObject *ev = NULL;
            ck_assert_msg(qmp_event_wait(q, "JOB_STATUS_CHANGE", T_MS, &ev) == 0, "%s", seen->str);
            JsonObject *d = json_object_get_object_member(ev, "data");
            g_string_append_printf(seen, "%s:%s;", json_object_get_string_member(d, "id"),
                                   json_object_get_string_member(d, "status"));
            json_object_unref(ev);
        }
    }
    /* The reply comes after the last job's events: they are all read. */
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "query-jobs", NULL, &ret, T_MS), 0);
    JsonObject *ev;
    while ((ev = qmp_event_take(q, "JOB_STATUS_CHANGE"))) {
        JsonObject *d = json_object_get_object_member(ev, "data");
        g_string_append_printf(seen, "%s:%s;", json_object_get_string_member(d, "id"),
                               json_object_get_string_member(d, "status"));
        json_object_unref(ev);
    }
    JsonArray *a = json_node_get_array(ret);
    ck_assert_int_eq(json_array_get_length(a), VMM_JOBS_KEPT_CONCLUDED);
    for (int i = 0; i < total; i++) {
        g_autofree char *id = g_strdup_printf("j%d", i);
        g_autofree char *dropped = g_strdup_printf(";j%d:null;", i);
        bool listed = false;
        for (guint k = 0; k < json_array_get_length(a); k++)
            listed |=
                strcmp(json_object_get_string_member(json_array_get_object_element(a, k), "id"),
                       id) == 0;
        /* The oldest three went, each with its event; the rest stay, with
         * their error for a caller still to read. */
        ck_assert_msg(listed == (i >= 3), "%s listed: %d", id, listed);
        ck_assert_msg((strstr(seen->str, dropped) != NULL) == (i < 3), "%s", seen->str);
    }
    json_node_unref(ret);
    JsonObject *e = job_entry(q, "j3");
    ck_assert_ptr_nonnull(strstr(json_object_get_string_member(e, "error"), "no snapshot 'none'"));
    json_object_unref(e);
    g_string_free(seen, TRUE);
    quit_and_check(dir, pid, q);
}
END_TEST

START_TEST(test_snapshot_job_arguments)
{
    g_autofree char *dir = make_dir(NULL);
    GPid pid = start_vmm(dir, NULL);
    int fd = raw_connect(dir);
    negotiate(fd);
    struct {
        const char *cmd, *want;
    } cases[] = {
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"tag\": \"a\"}}",
         "Parameter 'job-id' is missing"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"j\"}}",
         "Parameter 'tag' is missing"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": 7, \"tag\": \"a\"}}",
         "Invalid parameter type for 'job-id', expected: string"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"1bad\", \"tag\": \"a\"}}",
         "Invalid job ID '1bad'"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"j k\", \"tag\": \"a\"}}",
         "Invalid job ID 'j k'"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"j\", \"tag\": \"\"}}",
         "'tag' must not be empty"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"j\", \"tag\": \"a\", "
         "\"vmstate\": \"drive-vdz\"}}",
         "vmstate block device 'drive-vdz' is not a writable block device node of this VM"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"j\", \"tag\": \"a\", "
         "\"devices\": [\"drive-vda\", \"vdb\"]}}",
         "block device node 'vdb' is not"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"j\", \"tag\": \"a\", "
         "\"devices\": [\"drive-vda\", 3]}}",
         "Invalid parameter type for 'devices[1]', expected: string"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"j\", \"tag\": \"a\", "
         "\"devices\": \"drive-vda\"}}",
         "Invalid parameter type for 'devices', expected: array"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"j\", \"tag\": \"a\", "
         "\"x-qv-incremental\": \"yes\"}}",
         "Invalid parameter type for 'x-qv-incremental', expected: boolean"},
        {"{\"execute\": \"snapshot-load\", \"arguments\": {\"job-id\": \"j\", \"tag\": \"a\", "
         "\"x-qv-incremental\": true}}",
         "Parameter 'x-qv-incremental' is unexpected"},
        {"{\"execute\": \"snapshot-delete\", \"arguments\": {\"job-id\": \"j\", \"tag\": \"a\", "
         "\"vmstate\": \"drive-vda\"}}",
         "Parameter 'vmstate' is unexpected"},
        {"{\"execute\": \"snapshot-save\", \"arguments\": {\"job-id\": \"j\", \"tag\": \"a\", "
         "\"bogus\": 1}}",
         "Parameter 'bogus' is unexpected"},
        {"{\"execute\": \"job-dismiss\"}", "Parameter 'id' is missing"},
        {"{\"execute\": \"job-dismiss\", \"arguments\": {\"id\": [1]}}",
         "Invalid parameter type for 'id', expected: string"},
        {"{\"execute\": \"job-dismiss\", \"arguments\": {\"id\": \"none\"}}", "Job not found"},
        {"{\"execute\": \"query-jobs\", \"arguments\": {\"all\": true}}",
         "Parameter 'all' is unexpected"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *line = g_strdup_printf("%s\n", cases[i].cmd);
        JsonObject *r = raw_cmd(fd, line);
        ck_assert_msg(json_object_has_member(r, "error"), "accepted: %s", cases[i].cmd);
        ck_assert_str_eq(err_class(r), "GenericError");
        ck_assert_msg(strstr(err_desc(r), cases[i].want), "%s: got '%s', want '%s'", cases[i].cmd,
                      err_desc(r), cases[i].want);
        json_object_unref(r);
    }
    /* None of them made a job or a snapshot. */
    JsonObject *r = raw_cmd(fd, "{\"execute\": \"query-jobs\"}\n");
    ck_assert_int_eq(json_array_get_length(json_object_get_array_member(r, "return")), 0);
    json_object_unref(r);
    r = raw_cmd(fd, "{\"execute\": \"x-qv-query-snapshots\"}\n");
    ck_assert_int_eq(json_array_get_length(json_object_get_array_member(r, "return")), 0);
    json_object_unref(r);
    close(fd);
    struct qmp *q = client(dir);
    quit_and_check(dir, pid, q);
}
END_TEST

/* A job that takes a while (qv-vmm-test's delay): the loop serves on, a
 * second job is refused, a running job cannot be dismissed, and quit waits
 * for it. */
START_TEST(test_snapshot_job_while_one_runs)
{
    g_autofree char *dir = make_dir(NULL);
    const char *argv[] = {test_bin(), "--dir", dir, "--uri", "noop:///", NULL};
    g_auto(GStrv) envp = g_environ_setenv(g_get_environ(), "QV_VMM_TEST_JOB_DELAY_MS", "700", TRUE);
    GPid pid;
    g_autoptr(GError) err = NULL;
    ck_assert(g_spawn_async(NULL, (char **)argv, envp, G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent,
                            NULL, &pid, &err));
    g_autofree char *sock = sock_of(dir);
    for (int i = 0; i < 1000 && !is_socket(sock); i++)
        g_usleep(10000);
    struct qmp *q = client(dir);
    gint64 t0 = g_get_monotonic_time();
    ck_assert_int_eq(
        qmp_command_json(q, "snapshot-save", "{\"job-id\": \"slow\", \"tag\": \"a\"}", NULL, T_MS),
        0);
    /* The reply came at once; the loop answers while the job runs. */
    assert_status(q, "running", true);
    JsonObject *e = job_entry(q, "slow");
    ck_assert_str_eq(json_object_get_string_member(e, "status"), "running");
    ck_assert_int_eq(json_object_get_int_member(e, "current-progress"), 0);
    json_object_unref(e);
    ck_assert_int_eq(
        qmp_command_json(q, "snapshot-save", "{\"job-id\": \"other\", \"tag\": \"b\"}", NULL, T_MS),
        QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "snapshot job 'slow' is still running"));
    ck_assert_int_eq(qmp_command_json(q, "job-dismiss", "{\"id\": \"slow\"}", NULL, T_MS),
                     QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message,
                                 "Job 'slow' in state 'running' cannot accept command verb "
                                 "'dismiss'"));
    ck_assert_int_lt(g_get_monotonic_time() - t0, 600 * 1000);
    g_autofree char *seen = job_statuses(q, "slow");
    ck_assert_str_eq(seen, "created,running,waiting,pending,concluded");
    ck_assert_int_ge(g_get_monotonic_time() - t0, 600 * 1000);
    /* quit while a job runs: qv-vmm waits for it, then exits cleanly. */
    ck_assert_int_eq(
        qmp_command_json(q, "snapshot-save", "{\"job-id\": \"last\", \"tag\": \"c\"}", NULL, T_MS),
        0);
    quit_and_check(dir, pid, q);
}
END_TEST

/* Finding 1 of the snapshot review: the job's libqv call holds the VM's
 * lock (its handle is the loop's own), so the loop must not touch the VM
 * while it runs. strace delays every fsync of qv-vmm by 800 ms: with
 * noop:///DIR the snapshot's files are fsynced inside snapshot_create, so
 * the job stays in its libqv call for seconds (no test delay hook here).
 * query-status still answers at once with the state the job started in,
 * and commands that would call libqv on the VM are refused by name. */
START_TEST(test_snapshot_job_loop_stays_live)
{
    g_autofree char *strace = g_find_program_in_path("strace");
    if (!strace)
        return; /* check has no skip: nothing to prove without strace */
    g_autofree char *dir = make_dir(NULL);
    g_autofree char *store = g_build_filename(dir, "store", NULL);
    ck_assert_int_eq(mkdir(store, 0700), 0);
    g_autofree char *uri = g_strdup_printf("noop://%s", store);
    const char *argv[] = {strace,
                          "-qq",
                          "-f",
                          "-o",
                          "/dev/null",
                          "-e",
                          "trace=fsync,fdatasync",
                          "-e",
                          "inject=fsync,fdatasync:delay_exit=800000",
                          test_bin(),
                          "--dir",
                          dir,
                          "--uri",
                          uri,
                          NULL};
    GPid pid;
    g_autoptr(GError) err = NULL;
    /* LeakSanitizer cannot run under ptrace (ASan builds): leaks are
     * checked by the other tests. */
    const char *asan = g_getenv("ASAN_OPTIONS");
    g_autofree char *opts =
        g_strdup_printf("%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
    g_auto(GStrv) envp = g_environ_setenv(g_get_environ(), "ASAN_OPTIONS", opts, TRUE);
    ck_assert(g_spawn_async(NULL, (char **)argv, envp, G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent,
                            NULL, &pid, &err));
    g_autofree char *sock = sock_of(dir);
    for (int i = 0; i < 3000 && !is_socket(sock); i++)
        g_usleep(10000);
    struct qmp *q = client(dir);
    assert_status(q, "running", true);
    ck_assert_int_eq(
        qmp_command_json(q, "snapshot-save", "{\"job-id\": \"slow\", \"tag\": \"a\"}", NULL, T_MS),
        0);
    g_usleep(300 * 1000); /* the worker is inside snapshot_create now */
    gint64 t0 = g_get_monotonic_time();
    assert_status(q, "running", true);
    ck_assert_int_lt(g_get_monotonic_time() - t0, 1000 * 1000);
    const char *refused[] = {"stop",
                             "cont",
                             "system_reset",
                             "system_powerdown",
                             "query-cpus-fast",
                             "query-block",
                             "x-qv-query-snapshots"};
    for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
        t0 = g_get_monotonic_time();
        ck_assert_int_eq(qmp_command(q, refused[i], NULL, NULL, T_MS), QV_ERR_BACKEND);
        ck_assert_msg(strstr(qv_last_error()->message, "snapshot job 'slow' is running"), "%s: %s",
                      refused[i], qv_last_error()->message);
        ck_assert_int_lt(g_get_monotonic_time() - t0, 1000 * 1000);
    }
    /* Commands on qv-vmm's own tables answer too. */
    ck_assert_int_eq(qmp_command(q, "query-chardev", NULL, NULL, T_MS), 0);
    /* All that happened while the libqv call was still in progress. */
    JsonObject *e = job_entry(q, "slow");
    ck_assert_str_eq(json_object_get_string_member(e, "status"), "running");
    json_object_unref(e);
    g_autofree char *seen = job_statuses(q, "slow");
    ck_assert_str_eq(seen, "created,running,waiting,pending,concluded");
    e = job_entry(q, "slow");
    ck_assert(!json_object_has_member(e, "error"));
    json_object_unref(e);
    /* Once the job is over the VM's commands work again. */
    ck_assert_int_eq(qmp_command(q, "stop", NULL, NULL, T_MS), 0);
    assert_status(q, "paused", false);
    quit_and_check(dir, pid, q);
}
END_TEST

/* Finding 3: devices naming only some writable disks was checked, then
 * ignored (the snapshot takes every disk): it is refused, naming what is
 * missing; the full set is accepted. */
START_TEST(test_snapshot_devices_full_set)
{
    g_autofree char *dir = make_dir(NULL);
    g_autofree char *img2 = g_build_filename(dir, "disk2.img", NULL);
    ck_assert(g_file_set_contents(img2, "", 0, NULL));
    g_autofree char *xml = g_strdup_printf(
        "<domain type='test'><name>vmm-test</name><memory>65536</memory><vcpu>1</vcpu>"
        "<os><type>hvm</type></os><devices>"
        "<disk type='file' device='disk'><source file='%s/disk.img'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='disk'><source file='%s/disk2.img'/>"
        "<target dev='vdb' bus='virtio'/></disk>"
        "</devices></domain>\n",
        dir, dir);
    g_autofree char *def = g_build_filename(dir, "domain.xml", NULL);
    ck_assert(g_file_set_contents(def, xml, -1, NULL));
    GPid pid = start_vmm(dir, NULL);
    struct qmp *q = client(dir);
    ck_assert_int_eq(qmp_command_json(q, "snapshot-save",
                                      "{\"job-id\": \"j\", \"tag\": \"a\", \"devices\": "
                                      "[\"drive-vdb\"]}",
                                      NULL, T_MS),
                     QV_ERR_BACKEND);
    ck_assert_msg(strstr(qv_last_error()->message,
                         "'devices' must name every writable disk of this VM: a snapshot here "
                         "covers them all; missing 'drive-vda'"),
                  "%s", qv_last_error()->message);
    g_autofree char *none = snapshot_names(q);
    ck_assert_str_eq(none, "");
    ck_assert_int_eq(qmp_command_json(q, "snapshot-save",
                                      "{\"job-id\": \"j\", \"tag\": \"a\", \"devices\": "
                                      "[\"drive-vdb\", \"drive-vda\"]}",
                                      NULL, T_MS),
                     0);
    g_autofree char *seen = job_statuses(q, "j");
    ck_assert_str_eq(seen, "created,running,waiting,pending,concluded");
    g_autofree char *one = snapshot_names(q);
    ck_assert_str_eq(one, "a:running");
    quit_and_check(dir, pid, q);
}
END_TEST

START_TEST(test_stream_framing)
{
    struct vmm_stream *s = vmm_stream_new(64);
    int r;
    const char *in = "  {\"a\": \"}{\\\"\"} [1,[2]]\n{\"b\":";
    vmm_stream_feed(s, in, strlen(in));
    g_autofree char *m1 = next(s, &r);
    ck_assert_int_eq(r, 1);
    ck_assert_str_eq(m1, "{\"a\": \"}{\\\"\"}");
    g_autofree char *m2 = next(s, &r);
    ck_assert_int_eq(r, 1);
    ck_assert_str_eq(m2, "[1,[2]]");
    ck_assert_ptr_null(next(s, &r));
    ck_assert_int_eq(r, 0);
    vmm_stream_feed(s, " 1}", 3);
    g_autofree char *m3 = next(s, &r);
    ck_assert_str_eq(m3, "{\"b\": 1}");
    /* Garbage comes out as values for the parser to refuse: a line, or
     * up to an object that follows it; a string on its own. */
    const char *junk = "foo } 1\n\"st r\" ]{}";
    vmm_stream_feed(s, junk, strlen(junk));
    g_autofree char *g1 = next(s, &r);
    ck_assert_str_eq(g1, "foo } 1");
    g_autofree char *g2 = next(s, &r);
    ck_assert_str_eq(g2, "\"st r\"");
    g_autofree char *g3 = next(s, &r);
    ck_assert_str_eq(g3, "]");
    g_autofree char *g4 = next(s, &r);
    ck_assert_str_eq(g4, "{}");
    /* Oversized: refused once, its line dropped, then back in step. */
    char big[200];
    memset(big, 'x', sizeof(big));
    big[0] = '[';
    vmm_stream_feed(s, big, sizeof(big));
    ck_assert_ptr_null(next(s, &r));
    ck_assert_int_eq(r, -1);
    ck_assert_ptr_null(next(s, &r)); /* the rest of the line is dropped */
    ck_assert_int_eq(r, 0);
    ck_assert_uint_eq(vmm_stream_pending(s), 0);
    vmm_stream_feed(s, "]]]]\n{}", 7);
    g_autofree char *after = next(s, &r);
    ck_assert_int_eq(r, 1);
    ck_assert_str_eq(after, "{}");
    ck_assert_uint_eq(vmm_stream_pending(s), 0);
    vmm_stream_free(s);
}
END_TEST

/* Review finding 8: many small values in one read cost their length, not
 * its square (each value used to move the rest of the buffer): 512 Ki
 * values in 1 MiB. */
START_TEST(test_stream_many_small)
{
    struct vmm_stream *s = vmm_stream_new(QMP_MAX_LINE);
    size_t n = 512 * 1024;
    char *in = g_malloc(2 * n);
    for (size_t i = 0; i < n; i++)
        memcpy(in + 2 * i, "1\n", 2);
    gint64 t0 = g_get_monotonic_time();
    vmm_stream_feed(s, in, 2 * n);
    size_t got = 0, wrong = 0;
    int r;
    char *m;
    /* No ck_assert per value: each is a write to Check's pipe. */
    while ((m = next(s, &r))) {
        wrong += strcmp(m, "1") != 0;
        g_free(m);
        got++;
    }
    ck_assert_uint_eq(wrong, 0);
    gint64 ms = (g_get_monotonic_time() - t0) / 1000;
    ck_assert_int_eq(r, 0);
    ck_assert_uint_eq(got, n);
    ck_assert_uint_eq(vmm_stream_pending(s), 0);
    /* Quadratic, this is about 128 GiB of memmove: minutes. */
    ck_assert_msg(ms < 5000, "%lld ms for %zu values", (long long)ms, n);
    vmm_stream_free(s);
    g_free(in);
}
END_TEST

static bool log_has(const char *dir, const char *what)
{
    g_autofree char *p = g_build_filename(dir, "console.log", NULL);
    g_autofree char *t = NULL;
    return g_file_get_contents(p, &t, NULL, NULL) && strstr(t, what);
}

static void spin(int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

START_TEST(test_console_relay_pty)
{
    g_autofree char *dir = make_dir(NULL);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    g_autoptr(GError) err = NULL;
    struct vmm_console *c = vmm_console_new(dfd, dir, &err);
    ck_assert_ptr_nonnull(c);
    /* The VM's side of a pty console, as the kvm driver opens it. */
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0);
    g_autofree char *ep = g_strdup_printf("pty:%s", ptsname(m));
    vmm_console_attach(c, ep, NULL);
    ck_assert_str_eq(vmm_console_endpoint(c), ep);
    ck_assert_int_eq(write(m, "hello\n", 6), 6);
    for (int i = 0; i < 500 && !log_has(dir, "hello"); i++)
        spin(10);
    ck_assert(log_has(dir, "hello"));

    g_autofree char *cs = g_build_filename(dir, "console.sock", NULL);
    struct stat st;
    ck_assert_int_eq(lstat(cs, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    g_strlcpy(sa.sun_path, cs, sizeof(sa.sun_path));
    int cl = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
    spin(100);
    /* Output reaches the client and the log; input reaches the guest. */
    ck_assert_int_eq(write(m, "world", 5), 5);
    char buf[16] = {0};
    for (int i = 0; i < 500; i++) {
        spin(10);
        struct pollfd p = {.fd = cl, .events = POLLIN};
        if (poll(&p, 1, 0) == 1)
            break;
    }
    ck_assert_int_eq(recv(cl, buf, sizeof(buf) - 1, MSG_DONTWAIT), 5);
    ck_assert_str_eq(buf, "world");
    ck_assert_int_eq(send(cl, "input", 5, 0), 5);
    memset(buf, 0, sizeof(buf));
    for (int i = 0; i < 500; i++) {
        spin(10);
        struct pollfd p = {.fd = m, .events = POLLIN};
        if (poll(&p, 1, 0) == 1)
            break;
    }
    ck_assert_int_eq(read(m, buf, sizeof(buf) - 1), 5);
    ck_assert_str_eq(buf, "input");
    vmm_console_free(c);
    ck_assert(log_has(dir, "helloworld") || log_has(dir, "hello\nworld"));
    ck_assert(!g_file_test(cs, G_FILE_TEST_EXISTS));
    close(cl);
    close(m);
    close(dfd);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("qv-vmm");
    TCase *tc = tcase_create("qmp");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_greeting_and_negotiation);
    tcase_add_test(tc, test_lifecycle_and_events);
    tcase_add_test(tc, test_block);
    tcase_add_test(tc, test_malformed_input);
    tcase_add_test(tc, test_random_streams);
    tcase_add_test(tc, test_second_client_waits);
    tcase_add_test(tc, test_socket_mode_and_stale_socket);
    tcase_add_test(tc, test_powerdown);
    tcase_add_test(tc, test_powerdown_paused);
    tcase_add_test(tc, test_reset_events);
    tcase_add_test(tc, test_guest_stops_before_loop);
    tcase_add_test(tc, test_fifo_definition);
    tcase_add_test(tc, test_sandbox);
    tcase_add_test(tc, test_paused_start_and_sigterm);
    tcase_add_test(tc, test_bad_invocations);
    tcase_add_test(tc, test_snapshot_jobs);
    tcase_add_test(tc, test_snapshot_job_arguments);
    tcase_add_test(tc, test_job_settle_spares_live_callers);
    tcase_add_test(tc, test_concluded_jobs_are_capped);
    tcase_add_test(tc, test_snapshot_job_while_one_runs);
    tcase_add_test(tc, test_snapshot_job_loop_stays_live);
    tcase_add_test(tc, test_snapshot_devices_full_set);
    suite_add_tcase(s, tc);
    TCase *pieces = tcase_create("pieces");
    tcase_add_checked_fixture(pieces, setup, teardown);
    tcase_add_test(pieces, test_stream_framing);
    tcase_add_test(pieces, test_stream_many_small);
    tcase_add_test(pieces, test_console_relay_pty);
    suite_add_tcase(s, pieces);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
