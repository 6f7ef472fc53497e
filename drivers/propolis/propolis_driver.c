/* propolis://HOST:PORT -- VMs on one propolis-server (Oxide's bhyve VMM)
 * over its REST API, version 5.0.0. One server hosts one instance, created
 * together with its spec: vm_define only stores the definition here, and
 * vm_start sends it (PUT /instance) before asking the instance to run.
 * Operations Propolis lacks (pause, snapshots, memory and register access,
 * settings and hot-plug, clone) are left NULL and reported by the core. */
#include <string.h>
#include <unistd.h>

#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"
#include "propolis.h"

#define PC(conn) ((struct propolis_conn *)(conn)->priv)
#define PV(vm) ((struct propolis_vm *)(vm)->priv)
#define CLIENT(vm) (PC((vm)->conn)->client)

static int propolis_open(struct qv_conn *conn)
{
    const char *host = g_uri_get_host(conn->uri);
    int port = g_uri_get_port(conn->uri);
    const char *path = g_uri_get_path(conn->uri);
    if (!host || !*host || port <= 0)
        return qv_error_set(QV_ERR_URI, "'%s' must name the server as propolis://HOST:PORT",
                            conn->uri_str);
    if (path && *path && strcmp(path, "/") != 0)
        return qv_error_set(QV_ERR_URI, "'%s': a propolis URI has no path (got '%s')",
                            conn->uri_str, path);
    int timeout_s = 0;
    g_autofree char *t = qv_conn_get_param(conn, "timeout");
    if (t) {
        char *end = NULL;
        gint64 v = g_ascii_strtoll(t, &end, 10);
        if (!*t || *end || v < 1 || v > 3600)
            return qv_error_set(QV_ERR_URI, "'%s': timeout=%s is not 1-3600 seconds", conn->uri_str,
                                t);
        timeout_s = (int)v;
    }
    struct propolis_conn *pc = g_new0(struct propolis_conn, 1);
    pc->client = propolis_client_new(host, port, timeout_s);
    /* One directory per server; the host is made safe as a file name. */
    g_autofree char *safe = g_strdup_printf("%s_%d", host, port);
    for (char *p = safe; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
            *p = '_';
    pc->dir = g_build_filename(conn->state_dir, "propolis", safe, NULL);
    conn->priv = pc;
    return 0;
}

static void propolis_close(struct qv_conn *conn)
{
    struct propolis_conn *pc = PC(conn);
    if (!pc)
        return;
    propolis_client_free(pc->client);
    g_free(pc->dir);
    g_free(pc);
    conn->priv = NULL;
}

static int propolis_vm_define(struct qv_conn *conn, const struct qv_domain *def, void **priv)
{
    g_autoptr(JsonNode) ensure = propolis_spec_build(def);
    if (!ensure)
        return qv_error_code();
    struct propolis_vm *pv = NULL;
    int rc = propolis_store_define(PC(conn), def, ensure, &pv);
    if (rc == 0)
        *priv = pv;
    return rc;
}

static int propolis_vm_lookup(struct qv_conn *conn, const char *name, void **priv)
{
    struct propolis_vm *pv = NULL;
    int rc = propolis_store_lookup(PC(conn), name, &pv);
    if (rc == 0)
        *priv = pv;
    return rc;
}

static void propolis_vm_release(struct vm *vm)
{
    propolis_vm_free(PV(vm));
    vm->priv = NULL;
}

static int propolis_vm_list(struct qv_conn *conn, GPtrArray *names)
{
    return propolis_store_list(PC(conn), names);
}

static struct qv_domain *propolis_vm_get_def(struct vm *vm)
{
    struct propolis_vm *pv = PV(vm);
    if (!pv->def) {
        g_autofree char *path = g_build_filename(pv->dir, "domain.xml", NULL);
        g_autofree char *xml = NULL;
        if (qv_file_read_text(path, QV_DEFINITION_MAX_BYTES, &xml, NULL) < 0)
            return NULL;
        pv->def = qv_domain_parse_xml(xml);
        if (!pv->def) {
            qv_error_prefix("VM '%s' (%s)", vm->name, path);
            return NULL;
        }
    }
    return qv_domain_copy(pv->def);
}

/* What the server hosts (perhaps nothing, perhaps another VM's instance:
 * see is_ours), with errors naming the VM. */
static int our_instance(struct vm *vm, struct propolis_status *st)
{
    int rc = propolis_instance_get(CLIENT(vm), st);
    if (rc < 0) {
        qv_error_prefix("VM '%s'", vm->name);
        return rc;
    }
    return 0;
}

static bool is_ours(struct vm *vm, const struct propolis_status *st)
{
    return st->present && g_ascii_strcasecmp(st->id, PV(vm)->uuid) == 0;
}

/* Whether a caller (in any process) asked this instance to stop, kept as a
 * marker file so that a later `qv vm info` reports "user", not "shutdown". */
static bool stop_requested(struct vm *vm)
{
    g_autofree char *marker = g_build_filename(PV(vm)->dir, "stop-requested", NULL);
    return PV(vm)->stop_requested || g_file_test(marker, G_FILE_TEST_EXISTS);
}

static void set_stop_requested(struct vm *vm, bool on)
{
    PV(vm)->stop_requested = on;
    g_autofree char *marker = g_build_filename(PV(vm)->dir, "stop-requested", NULL);
    if (!on) {
        unlink(marker);
        return;
    }
    /* Only the reason shown later depends on it: a failed write must not
     * fail the stop that already happened. */
    if (qv_file_write_atomic(marker, "", 0, 0600) < 0)
        qv_reset_error();
}

static int propolis_vm_get_status(struct vm *vm, struct qv_vm_status *out)
{
    struct propolis_status st;
    int rc = our_instance(vm, &st);
    if (rc < 0)
        return rc;
    out->exit_status = -1;
    if (!is_ours(vm, &st)) {
        /* Defined here, not (yet) sent to the server. */
        out->state = VM_STATE_CREATED;
        out->reason = VM_REASON_NONE;
    } else {
        bool by_user = stop_requested(vm);
        propolis_state_map(st.state, by_user, &out->state, &out->reason);
        /* Propolis destroys an instance as soon as it has stopped; the VM
         * itself lives on here (its definition) until vm_destroy, so to
         * qv it is stopped, not gone. */
        if (out->state == VM_STATE_DESTROYED) {
            out->state = VM_STATE_STOPPED;
            out->reason = by_user ? VM_REASON_USER : VM_REASON_SHUTDOWN;
        }
    }
    propolis_status_clear(&st);
    return 0;
}

static bool is_settled(const char *state)
{
    return strcmp(state, "Creating") != 0 && strcmp(state, "Starting") != 0;
}

static bool is_down(const char *state)
{
    return !strcmp(state, "Stopped") || !strcmp(state, "Destroyed") || !strcmp(state, "Failed");
}

static bool is_not_running(const char *state)
{
    return strcmp(state, "Running") != 0 && strcmp(state, "Rebooting") != 0 &&
           strcmp(state, "Repairing") != 0 && strcmp(state, "Migrating") != 0;
}

static int ensure_instance(struct vm *vm)
{
    struct propolis_client *c = CLIENT(vm);
    const char *json = PV(vm)->ensure_json;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_bounded(json, strlen(json), "instance.json", &err);
    if (!root)
        return qv_error_set(QV_ERR_JSON, "VM '%s': stored %s", vm->name, err->message);
    int rc = propolis_request(c, "PUT", "/instance", root, 201, false, 0, NULL, NULL);
    if (rc < 0)
        qv_error_prefix("cannot create VM '%s' on the server", vm->name);
    return rc;
}

static int propolis_vm_start(struct vm *vm)
{
    struct propolis_client *c = CLIENT(vm);
    struct propolis_status st;
    int rc = our_instance(vm, &st);
    if (rc < 0)
        return rc;
    if (st.present && !is_ours(vm, &st)) {
        rc = qv_error_set(QV_ERR_BUSY,
                          "cannot start VM '%s': propolis-server %s already hosts instance "
                          "'%s' (%s), and a server runs one instance",
                          vm->name, c->authority, st.name ? st.name : "?", st.id);
    } else if (st.present && strcmp(st.state, "Creating") != 0 &&
               strcmp(st.state, "Starting") != 0) {
        rc = qv_error_set(QV_ERR_INVALID_STATE,
                          "cannot start VM '%s': its Propolis instance is %s, and Propolis "
                          "instances cannot run again once stopped; destroy the VM and define "
                          "it again on a fresh propolis-server",
                          vm->name, st.state);
    } else if (!st.present) {
        rc = ensure_instance(vm);
    }
    propolis_status_clear(&st);
    if (rc < 0)
        return rc;
    /* If Run fails the instance waits in Creating; the next start picks it
     * up from there. */
    if ((rc = propolis_state_put(c, "Run")) < 0) {
        qv_error_prefix("cannot start VM '%s'", vm->name);
        return rc;
    }
    set_stop_requested(vm, false);
    rc = propolis_wait_for(c, is_settled, c->timeout_s * 1000, &st);
    if (rc < 0) {
        qv_error_prefix("VM '%s' was asked to run", vm->name);
        return rc;
    }
    if (strcmp(st.state, "Running") != 0)
        rc = qv_error_set(QV_ERR_BACKEND, "VM '%s' did not start: its Propolis instance is %s",
                          vm->name, st.state);
    propolis_status_clear(&st);
    return rc;
}

static int stop_and_wait(struct vm *vm, int timeout_ms)
{
    struct propolis_client *c = CLIENT(vm);
    int rc = propolis_state_put(c, "Stop");
    if (rc < 0) {
        qv_error_prefix("cannot stop VM '%s'", vm->name);
        return rc;
    }
    set_stop_requested(vm, true);
    struct propolis_status st;
    /* Propolis stops at once (there is no graceful phase to bound), so the
     * wait only covers the server tearing the VM down. */
    if (timeout_ms < c->timeout_s * 1000)
        timeout_ms = c->timeout_s * 1000;
    rc = propolis_wait_for(c, is_down, timeout_ms, &st);
    if (rc < 0) {
        qv_error_prefix("VM '%s' was asked to stop", vm->name);
        return rc;
    }
    propolis_status_clear(&st);
    return 0;
}

static int propolis_vm_stop(struct vm *vm, unsigned flags, int timeout_ms)
{
    (void)flags;
    return stop_and_wait(vm, timeout_ms);
}

static int propolis_vm_reset(struct vm *vm)
{
    int rc = propolis_state_put(CLIENT(vm), "Reboot");
    if (rc < 0)
        qv_error_prefix("cannot reset VM '%s'", vm->name);
    return rc;
}

static int propolis_vm_destroy(struct vm *vm)
{
    struct propolis_status st;
    int rc = our_instance(vm, &st);
    if (rc < 0)
        return rc;
    bool live = is_ours(vm, &st) && !is_down(st.state);
    propolis_status_clear(&st);
    /* The server's instance goes first: if it cannot be stopped the
     * definition stays, so nothing is left running without a handle. */
    if (live && (rc = stop_and_wait(vm, -1)) < 0)
        return rc;
    return propolis_store_remove(PC(vm->conn), PV(vm), vm->name);
}

static int propolis_vm_wait(struct vm *vm, int timeout_ms)
{
    struct propolis_status st;
    int rc = our_instance(vm, &st);
    if (rc < 0)
        return rc;
    bool ours = is_ours(vm, &st);
    propolis_status_clear(&st);
    if (!ours)
        return 0;
    rc = propolis_wait_for(CLIENT(vm), is_not_running, timeout_ms, &st);
    if (rc < 0)
        return rc;
    propolis_status_clear(&st);
    return 0;
}

static char *propolis_vm_console_endpoint(struct vm *vm)
{
    return propolis_console_url(CLIENT(vm));
}

const struct qv_driver qv_propolis_driver = {
    .name = "propolis",
    .schemes = (const char *[]){"propolis", NULL},
    .domain_type = QV_VIRT_QEMU,
    .open = propolis_open,
    .close = propolis_close,
    .vm_define = propolis_vm_define,
    .vm_lookup = propolis_vm_lookup,
    .vm_release = propolis_vm_release,
    .vm_list = propolis_vm_list,
    .vm_get_def = propolis_vm_get_def,
    .vm_get_status = propolis_vm_get_status,
    .vm_start = propolis_vm_start,
    .vm_stop = propolis_vm_stop,
    .vm_reset = propolis_vm_reset,
    .vm_destroy = propolis_vm_destroy,
    .vm_wait = propolis_vm_wait,
    .vm_console_endpoint = propolis_vm_console_endpoint,
};
