/* The helper: `qv remote-helper` on the remote host. Each request runs the
 * same public call a local program would make, so the remote side takes
 * the local driver's locks and two hosts driving one VM serialise as two
 * local processes do. A request runs on a worker thread while this one
 * sends heartbeats, so the client can tell a slow call from a dead peer. */
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "../../include/qv/qv.h"
#include "lib/util/error.h"
#include "remote.h"

struct serve {
    struct qv_conn *conn;
    int heartbeat_ms;
    gint cancel; /* atomic: the client hung up during a wait */
};

void remote_vm_free_keep_error(struct vm *vm)
{
    const struct qv_error *e = qv_last_error();
    int code = e->code;
    g_autofree char *origin = code ? g_strdup(e->origin) : NULL;
    g_autofree char *msg = code ? g_strdup(e->message) : NULL;
    vm_free(vm);
    if (code)
        qv_error_set_origin(code, origin, "%s", msg);
}

typedef struct vm serve_vm;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(serve_vm, remote_vm_free_keep_error)

struct job {
    struct serve *sv;
    const char *method;
    JsonObject *params;
    JsonObject *result; /* set on success */
    JsonObject *error;  /* set on failure */
    GMutex lock;
    GCond cond;
    bool done;
};

static const char *str_param(JsonObject *p, const char *key)
{
    const char *v = qv_json_str(p, key);
    if (!v)
        qv_error_set(QV_ERR_PROTOCOL, "the request has no string '%s'", key);
    return v;
}

static guint64 u64_param(JsonObject *p, const char *key)
{
    const char *v = qv_json_str(p, key);
    return v ? g_ascii_strtoull(v, NULL, 10) : 0;
}

static struct vm *vm_param(struct serve *sv, JsonObject *p)
{
    const char *name = str_param(p, "name");
    /* Looked up afresh every time: another process may have destroyed and
     * redefined the VM since the last request. */
    return name ? vm_lookup(sv->conn, name) : NULL;
}

static int m_status(struct serve *sv, JsonObject *p, JsonObject *res)
{
    g_autoptr(serve_vm) vm = vm_param(sv, p);
    if (!vm)
        return qv_error_code();
    struct vm_info info;
    if (vm_get_info(vm, &info) < 0) {
        if (vm_get_state(vm) == VM_STATE_DESTROYED)
            return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' no longer exists", vm_get_name(vm));
        return qv_error_code();
    }
    json_object_set_int_member(res, "state", info.state);
    json_object_set_int_member(res, "reason", info.reason);
    json_object_set_int_member(res, "exit_status", info.exit_status);
    return 0;
}

static int m_simple(struct serve *sv, JsonObject *p, int (*fn)(struct vm *))
{
    g_autoptr(serve_vm) vm = vm_param(sv, p);
    return vm ? fn(vm) : qv_error_code();
}

static int m_destroy(struct serve *sv, JsonObject *p)
{
    struct vm *vm = vm_param(sv, p);
    if (!vm)
        return qv_error_code();
    vm_destroy(vm); /* takes the reference */
    return qv_last_error()->code;
}

static int m_set(struct serve *sv, JsonObject *p)
{
    g_autoptr(serve_vm) vm = vm_param(sv, p);
    if (!vm)
        return qv_error_code();
    const char *kind = str_param(p, "kind");
    if (!kind)
        return qv_error_code();
    guint64 value = u64_param(p, "value"), value2 = u64_param(p, "value2");
    const char *target = qv_json_str(p, "target");
    if (strcmp(kind, "cpu_pin") == 0)
        return vm_set_cpu_pin(vm, (uint32_t)qv_json_int(p, "vcpu", 0),
                              (int)qv_json_int(p, "pcpu", -1));
    if (strcmp(kind, "cpu_weight") == 0)
        return vm_set_cpu_weight(vm, (uint32_t)MIN(value, G_MAXUINT32));
    if (strcmp(kind, "cpu_cap") == 0)
        return vm_set_cpu_cap(vm, (uint32_t)MIN(value, G_MAXUINT32));
    if (strcmp(kind, "vcpus") == 0)
        return vm_set_vcpus(vm, (uint32_t)MIN(value, G_MAXUINT32));
    if (strcmp(kind, "memory") == 0)
        return vm_set_memory(vm, value);
    if (strcmp(kind, "io_limit") == 0)
        return vm_set_io_limit(vm, target, value, value2);
    if (strcmp(kind, "net_limit") == 0)
        return vm_set_net_limit(vm, target, value);
    if (strcmp(kind, "cloud_init") == 0)
        return vm_set_cloud_init(vm, qv_json_str(p, "user_data"), qv_json_str(p, "meta_data"),
                                 qv_json_str(p, "network_config"));
    return qv_error_set(QV_ERR_UNSUPPORTED, "this helper (libqv %s) knows no setting '%s'",
                        QV_VERSION_STRING, kind);
}

static int m_snapshot_list(struct serve *sv, JsonObject *p, JsonObject *res)
{
    g_autoptr(serve_vm) vm = vm_param(sv, p);
    if (!vm)
        return qv_error_code();
    struct snapshot_info *list = NULL;
    size_t n = 0;
    int rc = snapshot_list(vm, &list, &n);
    if (rc < 0)
        return rc;
    JsonArray *a = json_array_new();
    for (size_t i = 0; i < n; i++) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", list[i].name);
        json_object_set_int_member(o, "created", list[i].created);
        json_object_set_int_member(o, "size", (gint64)MIN(list[i].size, G_MAXINT64));
        json_object_set_int_member(o, "state", list[i].state);
        json_array_add_object_element(a, o);
    }
    snapshot_info_free(list, n);
    json_object_set_array_member(res, "snapshots", a);
    return 0;
}

/* vm_get_stats() or vm_get_live_settings(), which return the same list. */
static int m_stats(struct serve *sv, JsonObject *p, JsonObject *res,
                   int (*get)(struct vm *, struct vm_stat **, size_t *))
{
    g_autoptr(serve_vm) vm = vm_param(sv, p);
    if (!vm)
        return qv_error_code();
    struct vm_stat *stats = NULL;
    size_t n = 0;
    int rc = get(vm, &stats, &n);
    if (rc < 0)
        return rc;
    JsonArray *a = json_array_new();
    for (size_t i = 0; i < n; i++) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "key", stats[i].key);
        if (stats[i].type == VM_STAT_STRING)
            json_object_set_string_member(o, "string", stats[i].string_value);
        else
            json_object_set_int_member(o, "uint", (gint64)MIN(stats[i].uint_value, G_MAXINT64));
        json_array_add_object_element(a, o);
    }
    vm_stats_free(stats, n);
    json_object_set_array_member(res, "stats", a);
    return 0;
}

static int m_snapshot(struct serve *sv, JsonObject *p, const char *method)
{
    g_autoptr(serve_vm) vm = vm_param(sv, p);
    const char *snap = vm ? str_param(p, "snapshot") : NULL;
    if (!snap)
        return qv_error_code();
    if (strcmp(method, "snapshot_create") == 0)
        return snapshot_create(vm, snap, (unsigned)qv_json_int(p, "flags", 0));
    if (strcmp(method, "snapshot_restore") == 0)
        return snapshot_restore(vm, snap);
    return snapshot_delete(vm, snap);
}

/* In slices, so that a wait the client hung up on ends (it changes
 * nothing, so there is nothing to finish). */
static int m_wait(struct serve *sv, JsonObject *p)
{
    g_autoptr(serve_vm) vm = vm_param(sv, p);
    if (!vm)
        return qv_error_code();
    gint64 ms = qv_json_int(p, "timeout_ms", -1);
    gint64 deadline = ms < 0 ? -1 : g_get_monotonic_time() + ms * 1000;
    for (;;) {
        int slice = 250;
        if (deadline >= 0)
            slice = (int)CLAMP((deadline - g_get_monotonic_time()) / 1000, 0, slice);
        int rc = vm_wait(vm, slice);
        if (rc != QV_ERR_TIMEOUT)
            return rc;
        if (g_atomic_int_get(&sv->cancel))
            return qv_error_set(QV_ERR_CONNECT, "the client hung up");
        if (deadline >= 0 && g_get_monotonic_time() >= deadline)
            return qv_error_set(QV_ERR_TIMEOUT, "VM '%s' is still %s after %" G_GINT64_FORMAT " ms",
                                vm_get_name(vm), vm_state_name(vm_get_state(vm)), ms);
    }
}

/* One request; the error is this thread's. */
static int dispatch(struct serve *sv, const char *m, JsonObject *p, JsonObject *res)
{
    if (strcmp(m, "define") == 0) {
        const char *xml = str_param(p, "xml");
        g_autoptr(serve_vm) vm = xml ? vm_define_xml(sv->conn, xml) : NULL;
        return vm ? 0 : qv_error_code();
    }
    if (strcmp(m, "lookup") == 0) {
        g_autoptr(serve_vm) vm = vm_param(sv, p);
        return vm ? 0 : qv_error_code();
    }
    if (strcmp(m, "list") == 0) {
        char **names = NULL;
        size_t n = 0;
        if (vm_list(sv->conn, &names, &n) < 0)
            return qv_error_code();
        JsonArray *a = json_array_new();
        for (size_t i = 0; i < n; i++)
            json_array_add_string_element(a, names[i]);
        qv_strv_free(names);
        json_object_set_array_member(res, "names", a);
        return 0;
    }
    if (strcmp(m, "get_def") == 0) {
        g_autoptr(serve_vm) vm = vm_param(sv, p);
        g_autofree char *xml = vm ? vm_get_xml(vm) : NULL;
        if (!xml)
            return qv_error_code();
        json_object_set_string_member(res, "xml", xml);
        return 0;
    }
    if (strcmp(m, "status") == 0)
        return m_status(sv, p, res);
    if (strcmp(m, "start") == 0)
        return m_simple(sv, p, vm_start);
    if (strcmp(m, "pause") == 0)
        return m_simple(sv, p, vm_pause);
    if (strcmp(m, "resume") == 0)
        return m_simple(sv, p, vm_resume);
    if (strcmp(m, "reset") == 0)
        return m_simple(sv, p, vm_reset);
    if (strcmp(m, "destroy") == 0)
        return m_destroy(sv, p);
    if (strcmp(m, "stop") == 0) {
        g_autoptr(serve_vm) vm = vm_param(sv, p);
        return vm ? vm_stop_flags(vm, (unsigned)qv_json_int(p, "flags", 0),
                                  (int)qv_json_int(p, "timeout_ms", -1))
                  : qv_error_code();
    }
    if (strcmp(m, "wait") == 0)
        return m_wait(sv, p);
    if (strcmp(m, "clone") == 0) {
        g_autoptr(serve_vm) vm = vm_param(sv, p);
        const char *to = vm ? str_param(p, "new_name") : NULL;
        g_autoptr(serve_vm) out = to ? vm_clone(vm, to) : NULL;
        return out ? 0 : qv_error_code();
    }
    if (strcmp(m, "set") == 0)
        return m_set(sv, p);
    if (strcmp(m, "attach_device") == 0 || strcmp(m, "detach_device") == 0) {
        g_autoptr(serve_vm) vm = vm_param(sv, p);
        const char *xml = vm ? str_param(p, "xml") : NULL;
        if (!xml)
            return qv_error_code();
        return m[0] == 'a' ? vm_attach_device(vm, xml) : vm_detach_device(vm, xml);
    }
    if (g_str_has_prefix(m, "snapshot_"))
        return strcmp(m, "snapshot_list") == 0 ? m_snapshot_list(sv, p, res) : m_snapshot(sv, p, m);
    if (strcmp(m, "stats") == 0)
        return m_stats(sv, p, res, vm_get_stats);
    if (strcmp(m, "live_settings") == 0)
        return m_stats(sv, p, res, vm_get_live_settings);
    if (strcmp(m, "guest_ip") == 0) {
        g_autoptr(serve_vm) vm = vm_param(sv, p);
        char *ip = NULL;
        int port = 0;
        if (!vm || vm_guest_ip(vm, &ip, &port) < 0)
            return qv_error_code();
        json_object_set_string_member(res, "ip", ip);
        json_object_set_int_member(res, "port", port);
        qv_free(ip);
        return 0;
    }
    return qv_error_set(QV_ERR_UNSUPPORTED, "this helper (libqv %s) has no method '%s'",
                        QV_VERSION_STRING, m);
}

static gpointer job_run(gpointer data)
{
    struct job *j = data;
    qv_reset_error();
    JsonObject *res = json_object_new();
    int rc = dispatch(j->sv, j->method, j->params, res);
    g_mutex_lock(&j->lock);
    if (rc < 0) {
        if (qv_last_error()->code == QV_OK)
            qv_error_set(rc, "%s failed", j->method);
        j->error = remote_error_to_json(qv_last_error());
        json_object_unref(res);
    } else {
        j->result = res;
    }
    j->done = true;
    g_cond_signal(&j->cond);
    g_mutex_unlock(&j->lock);
    return NULL;
}

static int send_reply(struct remote_stream *s, gint64 id, JsonObject *result, JsonObject *error)
{
    g_autoptr(JsonObject) msg = json_object_new();
    json_object_set_int_member(msg, "id", id);
    if (error)
        json_object_set_object_member(msg, "error", error);
    else
        json_object_set_object_member(msg, "result", result ? result : json_object_new());
    return remote_frame_send(s, msg, -1);
}

/* True when the client has hung up: while a request is outstanding it
 * sends nothing, so anything readable is the end of the stream. */
static bool client_gone(int in_fd)
{
    struct pollfd p = {.fd = in_fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* Run a request on a worker and heartbeat until it is done. A call the
 * client gave up on is still finished (a half-done define or snapshot is
 * worse than one nobody hears about); a wait stops (see m_wait). */
static int run_job(struct serve *sv, struct remote_stream *s, int in_fd, gint64 id,
                   const char *method, JsonObject *params)
{
    struct job j = {.sv = sv, .method = method, .params = params};
    g_atomic_int_set(&sv->cancel, 0);
    g_mutex_init(&j.lock);
    g_cond_init(&j.cond);
    GThread *t = g_thread_new("qv-remote-call", job_run, &j);
    bool gone = false;
    int rc = 0;
    g_mutex_lock(&j.lock);
    while (!j.done) {
        gint64 until = g_get_monotonic_time() + (gint64)sv->heartbeat_ms * 1000;
        if (g_cond_wait_until(&j.cond, &j.lock, until) || j.done)
            continue;
        g_mutex_unlock(&j.lock);
        if (!gone && client_gone(in_fd))
            gone = true;
        if (gone)
            g_atomic_int_set(&sv->cancel, 1);
        if (!gone) {
            g_autoptr(JsonObject) hb = json_object_new();
            json_object_set_int_member(hb, "id", id);
            json_object_set_boolean_member(hb, "working", TRUE);
            if (remote_frame_send(s, hb, -1) < 0)
                gone = true;
        }
        g_mutex_lock(&j.lock);
    }
    g_mutex_unlock(&j.lock);
    g_thread_join(t);
    if (!gone) {
        rc = send_reply(s, id, j.result, j.error);
    } else {
        rc = QV_ERR_CONNECT;
        if (j.result)
            json_object_unref(j.result);
        if (j.error)
            json_object_unref(j.error);
    }
    g_mutex_clear(&j.lock);
    g_cond_clear(&j.cond);
    return rc;
}

static int open_conn(struct serve *sv, JsonObject *p, JsonObject *res)
{
    gint64 v = qv_json_int(p, "version", -1);
    if (v != REMOTE_PROTOCOL_VERSION)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "the client speaks %s protocol version %" G_GINT64_FORMAT
                            "; this helper (libqv %s) speaks version %d",
                            REMOTE_PROTOCOL_NAME, v, QV_VERSION_STRING, REMOTE_PROTOCOL_VERSION);
    const char *uri = str_param(p, "uri");
    if (!uri)
        return qv_error_code();
    if (strstr(uri, "+ssh:") || strstr(uri, "+pipe:"))
        return qv_error_set(QV_ERR_URI, "the helper opens local URIs only, not '%s'", uri);
    sv->heartbeat_ms = (int)CLAMP(qv_json_int(p, "heartbeat_ms", 10000), 10, 600000);
    sv->conn = qv_connect(uri);
    if (!sv->conn)
        return qv_error_code();
    json_object_set_string_member(res, "state_dir", qv_conn_get_state_dir(sv->conn));
    return 0;
}

/* The last request on a stream: from the reply on it carries the console's
 * bytes instead of frames. The console is opened only when the client says
 * someone attached (one byte): until then this helper holds nothing that
 * could take bytes from another reader of a pty. -1 when the request was
 * refused and the stream goes on with frames. */
static int serve_console(struct serve *sv, struct remote_stream *s, int in_fd, int out_fd,
                         gint64 id, JsonObject *params)
{
    g_autofree char *log = NULL;
    uint64_t log_start = 0;
    g_autofree char *ep = remote_console_resolve(sv->conn, params, &log, &log_start);
    if (!ep) {
        send_reply(s, id, NULL, remote_error_to_json(qv_last_error()));
        return -1;
    }
    JsonObject *res = json_object_new();
    json_object_set_string_member(res, "endpoint", ep);
    if (send_reply(s, id, res, NULL) < 0)
        return 0;
    char go;
    if (s->ops->recv(s, &go, 1, -1) < 0)
        return 0; /* nobody attached */
    bool readonly = false;
    int cfd = remote_console_open(ep, &readonly);
    if (cfd < 0) {
        g_autofree char *msg =
            g_strdup_printf("\r\nqv remote-helper: %s\r\n", qv_last_error()->message);
        remote_write_fd(out_fd, msg, strlen(msg), -1);
        return 0;
    }
    /* From the log when the driver keeps one: the guest's first bytes
     * went out before anyone attached. */
    if (!log || remote_console_relay_log(log, log_start, cfd, in_fd, out_fd) < 0) {
        qv_reset_error();
        remote_relay(cfd, out_fd, readonly ? -1 : in_fd, cfd, -1);
    }
    close(cfd);
    return 0;
}

int qv_remote_serve(int in_fd, int out_fd)
{
    qv_reset_error();
    struct serve sv = {.heartbeat_ms = 10000};
    struct remote_stream *s = remote_fd_stream(in_fd, out_fd, "the client");
    int rc = 0;
    g_autoptr(JsonObject) hello = json_object_new();
    json_object_set_string_member(hello, "protocol", REMOTE_PROTOCOL_NAME);
    json_object_set_int_member(hello, "version", REMOTE_PROTOCOL_VERSION);
    json_object_set_string_member(hello, "qv", QV_VERSION_STRING);
    if (remote_frame_send(s, hello, -1) < 0)
        goto out;
    for (;;) {
        g_autoptr(JsonObject) req = remote_frame_recv(s, -1, "the client");
        if (!req) {
            if (qv_error_code() == QV_ERR_CONNECT)
                qv_reset_error(); /* the client went away */
            else
                rc = qv_error_code();
            break;
        }
        gint64 id = qv_json_int(req, "id", -1);
        const char *method = qv_json_str(req, "method");
        JsonObject *params = qv_json_obj(req, "params");
        if (id < 0 || !method || !params) {
            rc = qv_error_set(QV_ERR_PROTOCOL, "a request lacks its id, method or params");
            break;
        }
        qv_reset_error();
        if (strcmp(method, "open") == 0 || !sv.conn) {
            JsonObject *res = json_object_new();
            int r = sv.conn ? qv_error_set(QV_ERR_PROTOCOL, "the connection is open already")
                    : strcmp(method, "open")
                        ? qv_error_set(QV_ERR_PROTOCOL, "'%s' before 'open'", method)
                        : open_conn(&sv, params, res);
            if (r < 0) {
                json_object_unref(res);
                send_reply(s, id, NULL, remote_error_to_json(qv_last_error()));
                continue;
            }
            if (send_reply(s, id, res, NULL) < 0)
                break;
            continue;
        }
        if (strcmp(method, "console") == 0) {
            if (serve_console(&sv, s, in_fd, out_fd, id, params) < 0)
                continue;
            break;
        }
        if (run_job(&sv, s, in_fd, id, method, params) < 0)
            break;
    }
out:
    if (sv.conn)
        qv_close(sv.conn);
    s->ops->close(s);
    return rc;
}
