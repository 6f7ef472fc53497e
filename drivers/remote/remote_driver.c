/* The remote driver's table: every slot that makes sense over a network
 * becomes one request to the helper, which runs the same public call on
 * the remote host's local driver. */
#include <string.h>

#include "lib/api/stats.h"
#include "lib/util/error.h"
#include "remote.h"

#define RC(vm) REMOTE_CONN((vm)->conn)

static void remote_close(struct qv_conn *conn)
{
    remote_conn_free(REMOTE_CONN(conn));
    conn->priv = NULL;
}

static int remote_open(struct qv_conn *conn)
{
    struct remote_conn *rc = g_new0(struct remote_conn, 1);
    g_mutex_init(&rc->lock);
    g_mutex_init(&rc->spare_lock);
    rc->spares = g_ptr_array_new();
    conn->priv = rc;
    remote_tunnels_sweep();
    int r = remote_target_parse(conn, &rc->target);
    if (r == 0)
        r = remote_conn_connect(rc);
    if (r == 0 && rc->state_dir) {
        /* VMs live where the remote side keeps them, not under a local
         * default (qv_conn_get_state_dir, `qv system info`). */
        g_free(conn->state_dir);
        conn->state_dir = g_strdup(rc->state_dir);
    }
    if (r < 0)
        remote_close(conn);
    return r;
}

static JsonObject *vm_params(struct vm *vm)
{
    JsonObject *p = json_object_new();
    json_object_set_string_member(p, "name", vm->name);
    return p;
}

static int vm_call(struct vm *vm, const char *method)
{
    return remote_call(RC(vm), method, vm_params(vm), NULL);
}

static int remote_vm_define(struct qv_conn *conn, const struct qv_domain *def, void **priv)
{
    g_autofree char *xml = qv_domain_format_xml(def);
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    JsonObject *p = json_object_new();
    json_object_set_string_member(p, "xml", xml);
    *priv = NULL;
    return remote_call(REMOTE_CONN(conn), "define", p, NULL);
}

static int remote_vm_lookup(struct qv_conn *conn, const char *name, void **priv)
{
    JsonObject *p = json_object_new();
    json_object_set_string_member(p, "name", name);
    *priv = NULL;
    return remote_call(REMOTE_CONN(conn), "lookup", p, NULL);
}

static void remote_vm_release(struct vm *vm)
{
    (void)vm; /* nothing per VM on this side */
}

static int remote_vm_list(struct qv_conn *conn, GPtrArray *names)
{
    g_autoptr(JsonObject) res = NULL;
    int r = remote_call(REMOTE_CONN(conn), "list", NULL, &res);
    if (r < 0)
        return r;
    JsonNode *n = json_object_get_member(res, "names");
    if (!n || !JSON_NODE_HOLDS_ARRAY(n))
        return qv_error_set(QV_ERR_PROTOCOL, "%s: the VM list has no names array",
                            REMOTE_CONN(conn)->target.peer);
    JsonArray *a = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
            g_ptr_array_add(names, g_strdup(json_node_get_string(e)));
    }
    return 0;
}

static struct qv_domain *remote_vm_get_def(struct vm *vm)
{
    g_autoptr(JsonObject) res = NULL;
    if (remote_call(RC(vm), "get_def", vm_params(vm), &res) < 0)
        return NULL;
    const char *xml = qv_json_str(res, "xml");
    if (!xml) {
        qv_error_set(QV_ERR_PROTOCOL, "%s sent no definition for VM '%s'", RC(vm)->target.peer,
                     vm->name);
        return NULL;
    }
    return qv_domain_parse_xml(xml);
}

static int remote_vm_get_status(struct vm *vm, struct qv_vm_status *st)
{
    g_autoptr(JsonObject) res = NULL;
    int r = remote_call(RC(vm), "status", vm_params(vm), &res);
    if (r < 0)
        return r;
    gint64 state = qv_json_int(res, "state", -1);
    if (state < VM_STATE_CREATED || state > VM_STATE_DESTROYED)
        return qv_error_set(QV_ERR_PROTOCOL, "%s sent state %" G_GINT64_FORMAT " for VM '%s'",
                            RC(vm)->target.peer, state, vm->name);
    st->state = (enum vm_state)state;
    /* A reason this libqv does not know reads as none. */
    gint64 reason = qv_json_int(res, "reason", VM_REASON_NONE);
    st->reason =
        reason < 0 || reason > VM_REASON_RESET ? VM_REASON_NONE : (enum vm_state_reason)reason;
    st->exit_status = (int)qv_json_int(res, "exit_status", -1);
    return 0;
}

static int remote_vm_start(struct vm *vm)
{
    return vm_call(vm, "start");
}

static int remote_vm_pause(struct vm *vm)
{
    return vm_call(vm, "pause");
}

static int remote_vm_resume(struct vm *vm)
{
    return vm_call(vm, "resume");
}

static int remote_vm_reset(struct vm *vm)
{
    return vm_call(vm, "reset");
}

static int remote_vm_destroy(struct vm *vm)
{
    return vm_call(vm, "destroy");
}

/* A graceful stop can take the guest minutes: it runs on a stream of its
 * own so that other VMs' calls go on meanwhile. */
static int remote_vm_stop(struct vm *vm, unsigned flags, int timeout_ms)
{
    JsonObject *p = vm_params(vm);
    json_object_set_int_member(p, "flags", flags);
    json_object_set_int_member(p, "timeout_ms", timeout_ms);
    return remote_call_long(RC(vm), "stop", p, NULL);
}

/* The core calls this without the VM's lock, so calls on the same VM go on
 * while it waits; it has a stream of its own for the same reason. */
static int remote_vm_wait(struct vm *vm, int timeout_ms)
{
    JsonObject *p = vm_params(vm);
    json_object_set_int_member(p, "timeout_ms", timeout_ms);
    return remote_call_long(RC(vm), "wait", p, NULL);
}

static int remote_vm_clone(struct vm *src, const struct qv_domain *newdef, void **priv)
{
    /* The helper's vm_clone makes its own UUID and MACs from the source's
     * definition there; only the name travels. */
    JsonObject *p = vm_params(src);
    json_object_set_string_member(p, "new_name", newdef->name);
    *priv = NULL;
    return remote_call(RC(src), "clone", p, NULL);
}

/* The device travels as the XML element it was given as (formatted again
 * from what the core parsed), and the helper calls vm_attach_device or
 * vm_detach_device with it, so the remote host's core and driver check it
 * as for a local caller. */
static int device_call(struct vm *vm, const struct qv_setting *set)
{
    bool attach = set->kind == QV_SET_ATTACH_DISK || set->kind == QV_SET_ATTACH_NET ||
                  set->kind == QV_SET_ATTACH_HOSTDEV;
    g_autofree char *xml = qv_domain_format_device_xml(set->disk, set->net, set->hostdev);
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    JsonObject *p = vm_params(vm);
    json_object_set_string_member(p, "xml", xml);
    return remote_call(RC(vm), attach ? "attach_device" : "detach_device", p, NULL);
}

static int remote_vm_set(struct vm *vm, const struct qv_setting *set)
{
    static const char *const kinds[] = {
        [QV_SET_CPU_PIN] = "cpu_pin",     [QV_SET_CPU_WEIGHT] = "cpu_weight",
        [QV_SET_CPU_CAP] = "cpu_cap",     [QV_SET_VCPUS] = "vcpus",
        [QV_SET_MEMORY] = "memory",       [QV_SET_IO_LIMIT] = "io_limit",
        [QV_SET_NET_LIMIT] = "net_limit", [QV_SET_CLOUD_INIT] = "cloud_init",
    };
    if (set->disk || set->net || set->hostdev)
        return device_call(vm, set);
    if ((size_t)set->kind >= G_N_ELEMENTS(kinds) || !kinds[set->kind])
        return qv_error_set(QV_ERR_INTERNAL, "setting %d has no name in the remote protocol",
                            (int)set->kind);
    JsonObject *p = vm_params(vm);
    json_object_set_string_member(p, "kind", kinds[set->kind]);
    json_object_set_int_member(p, "vcpu", set->vcpu);
    json_object_set_int_member(p, "pcpu", set->pcpu);
    /* 64-bit values travel as decimal strings: a JSON number above 2^53
     * is not exact in every reader. */
    g_autofree char *v1 = g_strdup_printf("%" G_GUINT64_FORMAT, set->value);
    g_autofree char *v2 = g_strdup_printf("%" G_GUINT64_FORMAT, set->value2);
    json_object_set_string_member(p, "value", v1);
    json_object_set_string_member(p, "value2", v2);
    if (set->target)
        json_object_set_string_member(p, "target", set->target);
    const struct qv_cloud_init *ci = set->cloud_init;
    if (ci) {
        json_object_set_string_member(p, "user_data", ci->user_data);
        if (ci->meta_data)
            json_object_set_string_member(p, "meta_data", ci->meta_data);
        if (ci->network_config)
            json_object_set_string_member(p, "network_config", ci->network_config);
    }
    return remote_call(RC(vm), "set", p, NULL);
}

/* A unix socket here, tunnelled to the console on the remote host. */
static char *remote_vm_console_endpoint(struct vm *vm)
{
    return remote_tunnel_endpoint(RC(vm), vm->name);
}

static int remote_vm_guest_ip(struct vm *vm, char **ip, int *port)
{
    g_autoptr(JsonObject) res = NULL;
    int r = remote_call(RC(vm), "guest_ip", vm_params(vm), &res);
    if (r < 0)
        return r;
    const char *addr = qv_json_str(res, "ip");
    if (!addr)
        return qv_error_set(QV_ERR_PROTOCOL, "%s sent no address for VM '%s'", RC(vm)->target.peer,
                            vm->name);
    *ip = g_strdup(addr);
    *port = (int)qv_json_int(res, "port", 0);
    return 0;
}

static int snap_call(struct vm *vm, const char *method, const char *name, unsigned flags)
{
    JsonObject *p = vm_params(vm);
    json_object_set_string_member(p, "snapshot", name);
    json_object_set_int_member(p, "flags", flags);
    return remote_call(RC(vm), method, p, NULL);
}

static int remote_snapshot_create(struct vm *vm, const char *name, unsigned flags)
{
    return snap_call(vm, "snapshot_create", name, flags);
}

static int remote_snapshot_restore(struct vm *vm, const char *name)
{
    return snap_call(vm, "snapshot_restore", name, 0);
}

static int remote_snapshot_delete(struct vm *vm, const char *name)
{
    return snap_call(vm, "snapshot_delete", name, 0);
}

static int remote_snapshot_list(struct vm *vm, struct snapshot_info **list, size_t *count)
{
    g_autoptr(JsonObject) res = NULL;
    int r = remote_call(RC(vm), "snapshot_list", vm_params(vm), &res);
    if (r < 0)
        return r;
    JsonNode *n = json_object_get_member(res, "snapshots");
    if (!n || !JSON_NODE_HOLDS_ARRAY(n))
        return qv_error_set(QV_ERR_PROTOCOL, "%s: the snapshot list has no array",
                            RC(vm)->target.peer);
    JsonArray *a = json_node_get_array(n);
    guint len = json_array_get_length(a);
    struct snapshot_info *out = g_new0(struct snapshot_info, len ? len : 1);
    size_t k = 0;
    for (guint i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *name = qv_json_str(o, "name");
        if (!name)
            continue;
        out[k].name = g_strdup(name);
        out[k].created = qv_json_int(o, "created", 0);
        out[k].size = (uint64_t)qv_json_int(o, "size", 0);
        out[k].state = (enum vm_state)CLAMP(qv_json_int(o, "state", VM_STATE_CREATED),
                                            VM_STATE_CREATED, VM_STATE_DESTROYED);
        k++;
    }
    *list = out;
    *count = k;
    return 0;
}

/* Register-level and guest-memory calls are a system call each locally;
 * over a network they would be a round trip per register, and a host
 * pointer means nothing here. The message names the driver the VM runs
 * under there (kvm:///session for kvm+ssh://), without its parameters. */
static int not_remote(struct vm *vm, const char *what)
{
    const struct remote_target *t = &RC(vm)->target;
    g_autofree char *there = g_strndup(t->remote_uri, strcspn(t->remote_uri, "?"));
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "%s is not available over a remote connection (VM '%s' of %s, "
                        "reached through %s): guest memory and vCPU registers are reachable "
                        "only in the process that runs the VM; run the program on that host "
                        "with kvm:///embed",
                        what, vm->name, there, t->peer);
}

static int remote_add_memory_region(struct vm *vm, uint64_t gpa, uint64_t size, uint32_t flags)
{
    (void)gpa, (void)size, (void)flags;
    return not_remote(vm, "vm_add_memory_region");
}

static void *remote_gpa_to_hva(struct vm *vm, uint64_t gpa)
{
    (void)gpa;
    not_remote(vm, "vm_gpa_to_hva");
    return NULL;
}

static int remote_read_memory(struct vm *vm, uint64_t gpa, void *buf, size_t len)
{
    (void)gpa, (void)buf, (void)len;
    return not_remote(vm, "vm_read_memory");
}

static int remote_write_memory(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
    (void)gpa, (void)buf, (void)len;
    return not_remote(vm, "vm_write_memory");
}

static struct vcpu *remote_vcpu_create(struct vm *vm, uint32_t id)
{
    (void)id;
    not_remote(vm, "vcpu_create");
    return NULL;
}

static struct vcpu *remote_vcpu_get(struct vm *vm, uint32_t id)
{
    (void)id;
    not_remote(vm, "vm_get_vcpu");
    return NULL;
}

/* A stat key as libqv names them: lower-case words, digits, '_' and dots. */
static bool stat_key_ok(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_islower(k[i]) && !g_ascii_isdigit(k[i]) && k[i] != '.' && k[i] != '_')
            return false;
    return true;
}

/* A key/value list the remote host's vm_get_stats() or
 * vm_get_live_settings() (method) returned, set into stats. */
static int stats_call(struct vm *vm, const char *method, GArray *stats)
{
    g_autoptr(JsonObject) res = NULL;
    int r = remote_call(RC(vm), method, vm_params(vm), &res);
    if (r < 0)
        return r;
    JsonNode *n = json_object_get_member(res, "stats");
    if (!n || !JSON_NODE_HOLDS_ARRAY(n))
        return qv_error_set(QV_ERR_PROTOCOL, "%s: the statistics have no array",
                            RC(vm)->target.peer);
    JsonArray *a = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *key = qv_json_str(o, "key");
        const char *str = qv_json_str(o, "string");
        gint64 u = qv_json_int(o, "uint", -1);
        if (!stat_key_ok(key) || (!str && u < 0))
            return qv_error_set(QV_ERR_PROTOCOL, "%s: statistic #%u is malformed",
                                RC(vm)->target.peer, i);
        if (str)
            qv_stats_str(stats, str, "%s", key);
        else
            qv_stats_uint(stats, (uint64_t)u, "%s", key);
    }
    return 0;
}

/* The remote host's vm_get_stats(): its values replace the ones the core
 * took from the definition. */
static int remote_vm_stats(struct vm *vm, const struct qv_domain *def, GArray *stats)
{
    (void)def;
    return stats_call(vm, "stats", stats);
}

static int remote_vm_live(struct vm *vm, const struct qv_domain *def, GArray *out)
{
    (void)def;
    return stats_call(vm, "live_settings", out);
}

const struct qv_driver qv_remote_driver = {
    .name = "remote",
    /* vm_create over noop+ssh: the noop driver takes any type; over
     * qemu+ssh: TCG, which every host can run. */
    .domain_type = QV_VIRT_QEMU,
    .schemes = (const char *[]){"noop+ssh", "qemu+ssh", "kvm+ssh", "noop+pipe", "qemu+pipe",
                                "kvm+pipe", NULL},
    .open = remote_open,
    .close = remote_close,

    .vm_define = remote_vm_define,
    .vm_lookup = remote_vm_lookup,
    .vm_release = remote_vm_release,
    .vm_list = remote_vm_list,
    .vm_get_def = remote_vm_get_def,
    .vm_get_status = remote_vm_get_status,

    .vm_start = remote_vm_start,
    .vm_stop = remote_vm_stop,
    .vm_pause = remote_vm_pause,
    .vm_resume = remote_vm_resume,
    .vm_reset = remote_vm_reset,
    .vm_destroy = remote_vm_destroy,
    .vm_wait = remote_vm_wait,
    .vm_clone = remote_vm_clone,
    .vm_set = remote_vm_set,
    .vm_get_stats = remote_vm_stats,
    .vm_get_live = remote_vm_live,

    .vm_console_endpoint = remote_vm_console_endpoint,
    .vm_guest_ip = remote_vm_guest_ip,

    .vm_add_memory_region = remote_add_memory_region,
    .vm_gpa_to_hva = remote_gpa_to_hva,
    .vm_read_memory = remote_read_memory,
    .vm_write_memory = remote_write_memory,

    .snapshot_create = remote_snapshot_create,
    .snapshot_restore = remote_snapshot_restore,
    .snapshot_delete = remote_snapshot_delete,
    .snapshot_list = remote_snapshot_list,

    .vcpu_create = remote_vcpu_create,
    .vcpu_get = remote_vcpu_get,
};
