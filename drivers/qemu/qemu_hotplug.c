/* Disks and NICs added to and removed from a running VM: blockdev-add or
 * netdev_add for the back end, device_add for the guest's device (on q35
 * into a free PCIe root port, qemu_argv_pcie.c), and on
 * removal device_del, then waiting for the guest to let go (DEVICE_DELETED)
 * before the back end goes. A step that fails undoes the earlier ones, so
 * nothing is left half-attached. */
#include <stdlib.h>
#include <string.h>

#include "../../lib/host/host_net.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/json.h"
#include "qemu_argv.h"
#include "qemu_vm.h"

/* How long a guest gets to release a device; QV_QEMU_UNPLUG_TIMEOUT_MS
 * overrides it (the tests use a short one for a guest that never answers). */
#define UNPLUG_TIMEOUT_MS 20000

static int unplug_timeout_ms(void)
{
    const char *env = g_getenv("QV_QEMU_UNPLUG_TIMEOUT_MS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        /* Below the 60 s other callers wait for the VM's lock. */
        if (!*end && v > 0 && v <= 50000)
            return (int)v;
    }
    return UNPLUG_TIMEOUT_MS;
}

static JsonNode *builder_root(JsonBuilder *b)
{
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static int command(struct qmp *m, const char *cmd, JsonBuilder *b)
{
    g_autoptr(JsonNode) args = builder_root(b);
    return qmp_command(m, cmd, args, NULL, QEMU_QMP_TIMEOUT_MS);
}

/* Best effort: the error of the step that failed is what the caller sees. */
static void undo(struct qmp *m, const char *cmd, const char *key, const char *id)
{
    struct qv_error_saved e;
    qv_error_save(&e);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    qemu_json_member_str(b, key, id);
    command(m, cmd, b);
    qv_error_restore(&e);
}

/* The devices the user added (QEMU's /machine/peripheral): id -> type. */
static GHashTable *peripherals(struct qmp *m)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    qemu_json_member_str(b, "path", "/machine/peripheral");
    g_autoptr(JsonNode) args = builder_root(b);
    JsonNode *ret = NULL;
    if (qmp_command(m, "qom-list", args, &ret, QEMU_QMP_TIMEOUT_MS) < 0)
        return NULL;
    GHashTable *ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *name = qv_json_str(o, "name");
        const char *type = qv_json_str(o, "type");
        if (name && type && g_str_has_prefix(type, "child<") && g_str_has_suffix(type, ">"))
            g_hash_table_insert(ids, g_strdup(name),
                                g_strndup(type + strlen("child<"), strlen(type) - 7));
    }
    json_node_unref(ret);
    return ids;
}

/* A string property of a peripheral device, or NULL with the error set. */
static char *device_prop(struct qmp *m, const char *id, const char *prop)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    qemu_json_member_str(b, "path", path);
    qemu_json_member_str(b, "property", prop);
    g_autoptr(JsonNode) args = builder_root(b);
    JsonNode *ret = NULL;
    if (qmp_command(m, "qom-get", args, &ret, QEMU_QMP_TIMEOUT_MS) < 0)
        return NULL;
    char *v = JSON_NODE_HOLDS_VALUE(ret) && json_node_get_value_type(ret) == G_TYPE_STRING
                  ? g_strdup(json_node_get_string(ret))
                  : NULL;
    json_node_unref(ret);
    if (!v)
        qv_error_set(QV_ERR_PROTOCOL, "QEMU's %s of device %s is not a string", prop, id);
    return v;
}

/* device_del, then wait for the guest to release it. A guest that ignores
 * the request keeps the device: the caller changes nothing and says so. */
static int unplug(struct qemu_vm *q, struct qmp *m, const char *id, const char *what)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    qemu_json_member_str(b, "id", id);
    int rc = command(m, "device_del", b);
    if (rc < 0) {
        qv_error_prefix("cannot remove %s from VM '%s'", what, q->name);
        return rc;
    }
    int timeout = unplug_timeout_ms();
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout * 1000;
    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        JsonObject *ev = NULL;
        rc = left > 0 ? qmp_event_wait(m, "DEVICE_DELETED", (int)left, &ev) : QV_ERR_TIMEOUT;
        if (rc < 0 && rc != QV_ERR_TIMEOUT)
            return rc;
        if (rc < 0) {
            proc_log(q->dir, "the guest did not release %s within %d ms", what, timeout);
            return qv_error_set(QV_ERR_TIMEOUT,
                                "the guest of VM '%s' did not release %s within %d s: it stays "
                                "attached (the guest may not support hot-unplug, or may still "
                                "be using it; try again, or stop the VM first)",
                                q->name, what, (timeout + 999) / 1000);
        }
        JsonObject *data = qv_json_obj(ev, "data");
        bool ours = g_strcmp0(qv_json_str(data, "device"), id) == 0;
        json_object_unref(ev);
        if (ours)
            return 0;
    }
}

/* ---- q35: PCIe root ports ---- */

/* The root port bridges on bus 0 of query-pci with no device behind them,
 * in slot order, among ports (ids of pcie-root-port peripherals). */
static void free_ports_on(JsonArray *devices, GHashTable *ports, GPtrArray *out)
{
    for (guint i = 0; devices && i < json_array_get_length(devices); i++) {
        JsonNode *e = json_array_get_element(devices, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *id = qv_json_str(o, "qdev_id");
        JsonObject *bridge = qv_json_obj(o, "pci_bridge");
        JsonNode *behind = bridge ? json_object_get_member(bridge, "devices") : NULL;
        if (!id || !g_hash_table_contains(ports, id))
            continue;
        /* QEMU leaves "devices" out when the bus behind is empty. */
        if (!behind || (JSON_NODE_HOLDS_ARRAY(behind) &&
                        json_array_get_length(json_node_get_array(behind)) == 0))
            g_ptr_array_add(out, g_strdup(id));
    }
}

/* A free PCIe root port of a running q35 VM, for what is to be plugged
 * into it; QV_ERR_UNSUPPORTED naming what when every port is taken. */
static char *free_root_port(struct qemu_vm *q, struct qmp *m, const char *what)
{
    g_autoptr(GHashTable) ids = peripherals(m);
    if (!ids)
        return NULL;
    g_autoptr(GHashTable) ports = g_hash_table_new(g_str_hash, g_str_equal);
    GHashTableIter it;
    gpointer key, type;
    g_hash_table_iter_init(&it, ids);
    while (g_hash_table_iter_next(&it, &key, &type))
        if (strcmp(type, "pcie-root-port") == 0)
            g_hash_table_add(ports, key);
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-pci", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0)
        return NULL;
    g_autoptr(GPtrArray) free_ports = g_ptr_array_new_with_free_func(g_free);
    JsonArray *buses = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;
    for (guint i = 0; buses && i < json_array_get_length(buses); i++) {
        JsonNode *e = json_array_get_element(buses, i);
        JsonObject *bus = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        JsonNode *devs = bus ? json_object_get_member(bus, "devices") : NULL;
        free_ports_on(devs && JSON_NODE_HOLDS_ARRAY(devs) ? json_node_get_array(devs) : NULL, ports,
                      free_ports);
    }
    json_node_unref(ret);
    if (!free_ports->len) {
        qv_error_set(QV_ERR_UNSUPPORTED,
                     "VM '%s' has no free PCIe root port left for %s (%u root port(s), all in "
                     "use; a q35 VM gets %d spare ones at start besides one per disk and NIC): "
                     "remove a device or stop the VM to add it",
                     q->name, what, g_hash_table_size(ports), QEMU_SPARE_ROOT_PORTS);
        return NULL;
    }
    return g_strdup(g_ptr_array_index(free_ports, 0));
}

/* On q35, "bus" for the device_add of what: a free root port. */
static int place_device(struct qemu_vm *q, struct qmp *m, bool q35, JsonBuilder *dev,
                        const char *what)
{
    if (!q35)
        return 0;
    g_autofree char *port = free_root_port(q, m, what);
    if (!port)
        return qv_error_code();
    qemu_json_member_str(dev, "bus", port);
    return 0;
}

/* ---- disks ---- */

static char *disk_node(const char *target)
{
    return g_strdup_printf("hp-%s", target);
}

static int disk_add(struct qemu_vm *q, struct qmp *m, bool q35, const struct qv_disk *d)
{
    if (d->bus != QV_DISK_BUS_VIRTIO || d->device == QV_DISK_CDROM)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "the qemu driver hot-plugs virtio disks only; stop VM '%s' to add "
                            "disk %s on another bus",
                            q->name, d->target);
    if (d->backing)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "disk %s has a <backingStore>: VM '%s' must be stopped to add it (its "
                            "overlay is made at start)",
                            d->target, q->name);
    if (!d->source)
        return qv_error_set(QV_ERR_INVALID_ARG, "disk %s has no source", d->target);
    if (d->iothread)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "disk %s runs in IOThread %u (<driver iothread=>): VM '%s' must be "
                            "stopped to add it",
                            d->target, d->iothread, q->name);
    gboolean direct, no_flush, write_cache;
    int rc = qemu_disk_cache_mode(q->name, d->cache, &direct, &no_flush, &write_cache);
    if (rc < 0)
        return rc;
    const char *format = d->driver_type ? d->driver_type : "raw";
    g_autofree char *node = disk_node(d->target);
    g_autofree char *file_node = g_strdup_printf("%s-file", node);
    gboolean ro = d->readonly;

    g_autoptr(JsonBuilder) f = json_builder_new();
    qemu_blockdev_begin(f, "file", file_node, ro, direct, no_flush, d->discard);
    qemu_json_member_str(f, "filename", d->source);
    if (d->io)
        qemu_json_member_str(f, "aio", d->io);
    rc = command(m, "blockdev-add", f);
    if (rc < 0) {
        qv_error_prefix("cannot open disk %s (%s) for VM '%s'", d->target, d->source, q->name);
        return rc;
    }
    g_autoptr(JsonBuilder) fmt = json_builder_new();
    qemu_blockdev_begin(fmt, format, node, ro, direct, no_flush, d->discard);
    qemu_json_member_str(fmt, "file", file_node);
    rc = command(m, "blockdev-add", fmt);
    if (rc < 0) {
        qv_error_prefix("cannot open disk %s (%s) as %s for VM '%s'", d->target, d->source, format,
                        q->name);
        undo(m, "blockdev-del", "node-name", file_node);
        return rc;
    }
    g_autoptr(JsonBuilder) dev = json_builder_new();
    json_builder_begin_object(dev);
    qemu_json_member_str(dev, "driver", "virtio-blk-pci");
    qemu_json_member_str(dev, "id", d->target);
    qemu_json_member_str(dev, "drive", node);
    qemu_json_member_bool(dev, "write-cache", write_cache);
    g_autofree char *what = g_strdup_printf("disk %s", d->target);
    rc = place_device(q, m, q35, dev, what);
    if (rc == 0)
        rc = command(m, "device_add", dev);
    if (rc < 0) {
        qv_error_prefix("cannot add disk %s to VM '%s'", d->target, q->name);
        undo(m, "blockdev-del", "node-name", node);
        undo(m, "blockdev-del", "node-name", file_node);
        return rc;
    }
    /* Its <iotune>, as a start would apply it. */
    if ((d->total_bytes_sec || d->total_iops_sec) && (rc = qemu_io_throttle(q, m, d)) < 0) {
        struct qv_error_saved e;
        qv_error_save(&e);
        g_autofree char *what = g_strdup_printf("disk %s", d->target);
        if (unplug(q, m, d->target, what) == 0) {
            undo(m, "blockdev-del", "node-name", node);
            undo(m, "blockdev-del", "node-name", file_node);
        }
        return qv_error_restore(&e);
    }
    proc_log(q->dir, "disk %s (%s) added live", d->target, d->source);
    return 0;
}

static int disk_remove(struct qemu_vm *q, struct qmp *m, const char *target)
{
    g_autoptr(GHashTable) ids = peripherals(m);
    if (!ids)
        return qv_error_code();
    g_autofree char *node = qemu_block_lookup(m, target, "node-name");
    qv_reset_error();
    g_autofree char *what = g_strdup_printf("disk %s", target);
    /* A device the guest released after an earlier call timed out is gone
     * already: only its back end and the definition are left to update. */
    if (g_hash_table_contains(ids, target)) {
        int rc = unplug(q, m, target, what);
        if (rc < 0)
            return rc;
    }
    /* A device gone before this call no longer shows its node in
     * query-block: then it is the name a hot-plug gives it. */
    if (!node)
        node = disk_node(target);
    /* Every disk's file node is its format node's name plus "-file", at
     * start (qemu_argv_disk.c) and here. */
    g_autofree char *file_node = g_strdup_printf("%s-file", node);
    undo(m, "blockdev-del", "node-name", node);
    undo(m, "blockdev-del", "node-name", file_node);
    proc_log(q->dir, "disk %s removed live", target);
    return 0;
}

/* ---- NICs ---- */

static char *mac_id(const char *prefix, const char *mac)
{
    g_autofree char *hex = g_strdup(mac);
    char *w = hex;
    for (const char *r = mac; *r; r++)
        if (*r != ':')
            *w++ = g_ascii_tolower(*r);
    *w = '\0';
    return g_strdup_printf("%s-%s", prefix, hex);
}

/* The SSH ports recorded per NIC, checked: runtime.json can be edited by
 * its owner, a bad entry counts as 0 (no forward). */
static GArray *recorded_ports(JsonObject *extra)
{
    GArray *ports = g_array_new(FALSE, TRUE, sizeof(uint16_t));
    JsonNode *node = extra ? json_object_get_member(extra, "ssh_ports") : NULL;
    JsonArray *a = node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        gint64 v = e && JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_INT64
                       ? json_node_get_int(e)
                       : 0;
        uint16_t port = v > 0 && v <= G_MAXUINT16 ? (uint16_t)v : 0;
        g_array_append_val(ports, port);
    }
    return ports;
}

/* Add port as NIC index's SSH port (add_port >= 0), or drop NIC index's. */
static int ssh_ports_edit(struct qemu_vm *q, guint index, int add_port)
{
    struct proc_runtime rt;
    int rc = proc_runtime_read(q->dir, &rt);
    if (rc < 0)
        return rc;
    if (!rt.extra)
        rt.extra = json_object_new();
    g_autoptr(GArray) old = recorded_ports(rt.extra);
    JsonArray *ports = json_array_new();
    for (guint i = 0; i < old->len; i++)
        if (add_port >= 0 || i != index)
            json_array_add_int_element(ports, g_array_index(old, uint16_t, i));
    if (add_port >= 0) {
        for (guint i = old->len; i < index; i++)
            json_array_add_int_element(ports, 0);
        json_array_add_int_element(ports, add_port);
    }
    json_object_set_array_member(rt.extra, "ssh_ports", ports);
    rc = proc_runtime_write(q->dir, &rt);
    proc_runtime_clear(&rt);
    return rc;
}

/* The SSH ports the VM's NICs hold now, so a new one does not pick one. */
static GArray *ports_in_use(struct qemu_vm *q)
{
    struct proc_runtime rt;
    if (proc_runtime_read(q->dir, &rt) < 0) {
        qv_reset_error();
        return g_array_new(FALSE, TRUE, sizeof(uint16_t));
    }
    GArray *ports = recorded_ports(rt.extra);
    proc_runtime_clear(&rt);
    return ports;
}

static int nic_add(struct qemu_vm *q, struct qmp *m, bool q35, const struct qv_net *n, guint index)
{
    g_autofree char *netdev = mac_id("hpnet", n->mac);
    g_autofree char *id = mac_id("hpnic", n->mac);
    const char *model = n->model && strcmp(n->model, "virtio") ? n->model : "virtio-net-pci";
    if (strcmp(model, "virtio-net-pci") && strcmp(model, "e1000") && strcmp(model, "e1000e") &&
        strcmp(model, "rtl8139"))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': NIC model '%s' is not supported (virtio, e1000, e1000e, "
                            "rtl8139)",
                            q->name, n->model);
    /* Queues and vhost are set up at start (qemu_argv_netdrv.c). */
    if (n->driver_name || n->queues || n->rx_queue_size)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': NIC %s has a <driver>; hot-plugging one is not supported "
                            "(add it while the VM is stopped)",
                            q->name, n->mac);
    /* A bridge NIC gets a tap of the name qv gives it, as at start. */
    bool admin = host_net_admin();
    g_autofree char *tap = NULL;
    if (n->type == QV_NET_BRIDGE || n->type == QV_NET_ETHERNET)
        tap = n->type == QV_NET_ETHERNET && n->source ? g_strdup(n->source)
              : admin                                 ? host_tap_name(n->mac)
                                                      : NULL;
    if (qemu_net_has_limit(n) && !tap)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': NIC %s has a <bandwidth>, which qv enforces with tc on the "
                            "host tap: that needs CAP_NET_ADMIN (run as root)",
                            q->name, n->mac);
    uint16_t port = 0;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    qemu_json_member_str(b, "id", netdev);
    switch (n->type) {
    case QV_NET_USER: {
        port = n->host_port;
        g_autoptr(GArray) taken = ports_in_use(q);
        int rc = port ? 0
                      : qemu_ssh_port(q->name, index, (const uint16_t *)(void *)taken->data,
                                      taken->len, &port);
        if (rc < 0)
            return rc;
        qemu_json_member_str(b, "type", "user");
        json_builder_set_member_name(b, "hostfwd");
        json_builder_begin_array(b);
        json_builder_begin_object(b);
        g_autofree char *fwd = g_strdup_printf("tcp:127.0.0.1:%u-:22", port);
        qemu_json_member_str(b, "str", fwd);
        json_builder_end_object(b);
        json_builder_end_array(b);
        break;
    }
    case QV_NET_BRIDGE:
        if (!qemu_plain_word(n->source) || strlen(n->source) > 15)
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a bridge name", q->name,
                                n->source ? n->source : "");
        if (tap) {
            qemu_json_member_str(b, "type", "tap");
            qemu_json_member_str(b, "ifname", tap);
            qemu_json_member_str(b, "script", "no");
            qemu_json_member_str(b, "downscript", "no");
        } else {
            qemu_json_member_str(b, "type", "bridge");
            qemu_json_member_str(b, "br", n->source);
        }
        break;
    case QV_NET_ETHERNET:
        qemu_json_member_str(b, "type", "tap");
        qemu_json_member_str(b, "script", "no");
        qemu_json_member_str(b, "downscript", "no");
        if (n->source) {
            if (!qemu_plain_word(n->source) || strlen(n->source) > 15)
                return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a tap device name",
                                    q->name, n->source);
            qemu_json_member_str(b, "ifname", n->source);
        } else if (tap) {
            qemu_json_member_str(b, "ifname", tap);
        }
        break;
    default:
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "the qemu driver cannot add this kind of interface to VM '%s' (user, "
                            "bridge or ethernet)",
                            q->name);
    }
    int rc = command(m, "netdev_add", b);
    if (rc < 0) {
        qv_error_prefix("cannot add the back end of NIC %s to VM '%s'", n->mac, q->name);
        return rc;
    }
    /* The host side is ready before the guest sees the NIC. */
    if (tap && n->type == QV_NET_BRIDGE)
        rc = qemu_net_bridge_attach(q, tap, n->source);
    if (rc == 0 && tap && qemu_net_has_limit(n))
        rc = qemu_net_shape(q, n, tap);
    if (rc < 0) {
        undo(m, "netdev_del", "id", netdev);
        qemu_net_release(q, n->mac);
        return rc;
    }
    g_autoptr(JsonBuilder) dev = json_builder_new();
    json_builder_begin_object(dev);
    qemu_json_member_str(dev, "driver", model);
    qemu_json_member_str(dev, "id", id);
    qemu_json_member_str(dev, "netdev", netdev);
    qemu_json_member_str(dev, "mac", n->mac);
    g_autofree char *what = g_strdup_printf("NIC %s", n->mac);
    rc = place_device(q, m, q35, dev, what);
    if (rc == 0)
        rc = command(m, "device_add", dev);
    if (rc < 0) {
        qv_error_prefix("cannot add NIC %s to VM '%s'", n->mac, q->name);
        undo(m, "netdev_del", "id", netdev);
        qemu_net_release(q, n->mac);
        return rc;
    }
    if (n->type == QV_NET_USER && (rc = ssh_ports_edit(q, index, port)) < 0) {
        /* The guest has the NIC already: taking it back needs its consent. */
        int code = qv_error_code();
        g_autofree char *why = g_strdup(qv_last_error()->message);
        if (unplug(q, m, id, "the new NIC") == 0)
            undo(m, "netdev_del", "id", netdev);
        qv_reset_error();
        return qv_error_set(code, "cannot record NIC %s of VM '%s': %s", n->mac, q->name, why);
    }
    proc_log(q->dir, "NIC %s added live", n->mac);
    return 0;
}

static bool is_nic_type(const char *type)
{
    static const char *const nics[] = {"virtio-net-pci", "e1000", "e1000e", "rtl8139", NULL};
    return g_strv_contains(nics, type);
}

/* The peripheral NIC whose MAC is mac: 0 with *id set, or NULL when there
 * is none; a failed query is an error, never "not there". */
static int nic_with_mac(struct qmp *m, GHashTable *ids, const char *mac, char **id)
{
    *id = NULL;
    GHashTableIter it;
    gpointer key, type;
    g_hash_table_iter_init(&it, ids);
    while (g_hash_table_iter_next(&it, &key, &type)) {
        if (!is_nic_type(type))
            continue;
        g_autofree char *v = device_prop(m, key, "mac");
        if (!v)
            return qv_error_code();
        if (g_ascii_strcasecmp(v, mac) == 0) {
            *id = g_strdup(key);
            return 0;
        }
    }
    return 0;
}

static int nic_remove(struct qemu_vm *q, struct qmp *m, const char *mac, guint index)
{
    g_autoptr(GHashTable) ids = peripherals(m);
    if (!ids)
        return qv_error_code();
    g_autofree char *id = NULL;
    int rc = nic_with_mac(m, ids, mac, &id);
    if (rc < 0) {
        qv_error_prefix("cannot find NIC %s of VM '%s'", mac, q->name);
        return rc;
    }
    g_autofree char *what = g_strdup_printf("NIC %s", mac);
    if (id) {
        g_autofree char *netdev = device_prop(m, id, "netdev");
        qv_reset_error();
        rc = unplug(q, m, id, what);
        if (rc < 0)
            return rc;
        if (netdev)
            undo(m, "netdev_del", "id", netdev);
    } else {
        /* Released after an earlier call timed out: its back end may be
         * left, under the id a hot-plug gives it (a NIC the VM started
         * with keeps its back end until the VM stops). */
        g_autofree char *netdev = mac_id("hpnet", mac);
        undo(m, "netdev_del", "id", netdev);
        proc_log(q->dir, "NIC %s was released earlier; removed its hot-plug back end if any", mac);
    }
    qemu_net_release(q, mac);
    rc = ssh_ports_edit(q, index, -1);
    if (rc < 0)
        return rc;
    proc_log(q->dir, "NIC %s removed live", mac);
    return 0;
}

int qemu_hotplug(struct qemu_vm *q, const struct qv_domain *before, const struct qv_domain *after,
                 const struct qv_setting *set)
{
    if (set->kind == QV_SET_ATTACH_HOSTDEV || set->kind == QV_SET_DETACH_HOSTDEV)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "the qemu driver cannot add or remove a host device of VM '%s' while "
                            "it runs; stop it first",
                            q->name);
    const struct qv_addr *at = set->kind == QV_SET_ATTACH_DISK  ? &set->disk->addr
                               : set->kind == QV_SET_ATTACH_NET ? &set->net->addr
                                                                : NULL;
    if (at && at->type != QV_ADDR_NONE)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "the qemu driver cannot add a device at a given <address> to VM '%s' "
                            "while it runs; leave the <address> out (a free slot is used) or add "
                            "it while the VM is stopped",
                            q->name);
    bool q35 = qemu_is_q35(after);
    struct qmp *m = qemu_vm_qmp(q, false);
    if (!m)
        return qv_error_code();
    int rc;
    switch (set->kind) {
    case QV_SET_ATTACH_DISK:
        rc = disk_add(q, m, q35, g_ptr_array_index(after->disks, after->disks->len - 1));
        break;
    case QV_SET_DETACH_DISK: {
        /* Named by target or alias: the definition before says which. */
        int i = qv_setting_find_disk(before, set->disk);
        rc = i < 0 ? qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no such disk", q->name)
                   : disk_remove(q, m,
                                 ((struct qv_disk *)g_ptr_array_index(before->disks, i))->target);
        break;
    }
    case QV_SET_ATTACH_NET:
        rc = nic_add(q, m, q35, g_ptr_array_index(after->nets, after->nets->len - 1),
                     after->nets->len - 1);
        break;
    case QV_SET_DETACH_NET: {
        int i = qv_setting_find_net(before, set->net);
        const struct qv_net *n = i < 0 ? NULL : g_ptr_array_index(before->nets, i);
        rc = n ? nic_remove(q, m, n->mac, (guint)i)
               : qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no such NIC", q->name);
        break;
    }
    default:
        rc = qv_error_set(QV_ERR_INTERNAL, "setting %d is not a device change", (int)set->kind);
    }
    qmp_close(m);
    return rc;
}

/* ---- vCPUs ---- */

struct cpu_slot {
    char *type;
    gint64 socket, die, core, thread;
    char *qom_path; /* NULL: not plugged */
};

static void cpu_slot_free(gpointer p)
{
    struct cpu_slot *c = p;
    g_free(c->type);
    g_free(c->qom_path);
    g_free(c);
}

static gint cpu_slot_order(gconstpointer a, gconstpointer b)
{
    const struct cpu_slot *x = *(struct cpu_slot *const *)a, *y = *(struct cpu_slot *const *)b;
    const gint64 kx[] = {x->socket, x->die, x->core, x->thread};
    const gint64 ky[] = {y->socket, y->die, y->core, y->thread};
    for (size_t i = 0; i < G_N_ELEMENTS(kx); i++)
        if (kx[i] != ky[i])
            return kx[i] < ky[i] ? -1 : 1;
    return 0;
}

/* Every vCPU slot of the machine, in topology order. */
static GPtrArray *cpu_slots(struct qmp *m)
{
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-hotpluggable-cpus", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0)
        return NULL;
    GPtrArray *slots = g_ptr_array_new_with_free_func(cpu_slot_free);
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        JsonObject *props = qv_json_obj(o, "props");
        const char *type = qv_json_str(o, "type");
        if (!type || !props)
            continue;
        struct cpu_slot *c = g_new0(struct cpu_slot, 1);
        c->type = g_strdup(type);
        c->socket = qv_json_int(props, "socket-id", -1);
        c->die = qv_json_int(props, "die-id", -1);
        c->core = qv_json_int(props, "core-id", -1);
        c->thread = qv_json_int(props, "thread-id", -1);
        c->qom_path = g_strdup(qv_json_str(o, "qom-path"));
        g_ptr_array_add(slots, c);
    }
    json_node_unref(ret);
    g_ptr_array_sort(slots, cpu_slot_order);
    return slots;
}

static int cpu_add(struct qemu_vm *q, struct qmp *m, const struct cpu_slot *c, guint index)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    qemu_json_member_str(b, "driver", c->type);
    g_autofree char *id = g_strdup_printf("vcpu%u", index);
    qemu_json_member_str(b, "id", id);
    const char *const keys[] = {"socket-id", "die-id", "core-id", "thread-id"};
    const gint64 vals[] = {c->socket, c->die, c->core, c->thread};
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        if (vals[i] < 0)
            continue;
        json_builder_set_member_name(b, keys[i]);
        json_builder_add_int_value(b, vals[i]);
    }
    int rc = command(m, "device_add", b);
    if (rc < 0)
        qv_error_prefix("cannot add vCPU %u to VM '%s'", index, q->name);
    return rc;
}

int qemu_set_vcpus_live(struct qemu_vm *q, uint32_t want)
{
    struct qmp *m = qemu_vm_qmp(q, false);
    if (!m)
        return qv_error_code();
    GPtrArray *slots = cpu_slots(m);
    int rc = slots ? 0 : qv_error_code();
    guint present = 0, hot = 0;
    for (guint i = 0; slots && i < slots->len; i++) {
        const char *path = ((struct cpu_slot *)g_ptr_array_index(slots, i))->qom_path;
        present += path != NULL;
        hot += path && g_str_has_prefix(path, "/machine/peripheral/");
    }
    /* Check first that the whole change can be made, so a refusal leaves
     * QEMU and the definition as they were. */
    if (rc == 0 && want > present && slots->len - present < want - present)
        rc = qv_error_set(QV_ERR_UNSUPPORTED,
                          "QEMU offers %u free vCPU slot(s) for VM '%s', not the %u asked for",
                          slots->len - present, q->name, want - present);
    if (rc == 0 && want < present && hot < present - want)
        rc = qv_error_set(QV_ERR_UNSUPPORTED,
                          "VM '%s' can drop only vCPUs added while it runs (%u of them); its boot "
                          "vCPUs stay until it is stopped",
                          q->name, hot);
    /* Up: the first free slots in topology order. */
    for (guint i = 0; rc == 0 && present < want && i < slots->len; i++) {
        struct cpu_slot *c = g_ptr_array_index(slots, i);
        if (c->qom_path)
            continue;
        rc = cpu_add(q, m, c, i);
        if (rc == 0)
            present++;
    }
    /* Down: the last hot-added ones; the guest must let each go. */
    for (guint i = slots ? slots->len : 0; rc == 0 && present > want && i-- > 0;) {
        struct cpu_slot *c = g_ptr_array_index(slots, i);
        if (!c->qom_path)
            continue;
        if (!g_str_has_prefix(c->qom_path, "/machine/peripheral/"))
            continue;
        g_autofree char *id = g_path_get_basename(c->qom_path);
        g_autofree char *what = g_strdup_printf("vCPU %u", i);
        rc = unplug(q, m, id, what);
        if (rc == 0)
            present--;
    }
    if (rc == 0 && present != want)
        rc = qv_error_set(QV_ERR_BACKEND, "QEMU did not reach %u vCPUs for VM '%s'", want, q->name);
    if (rc == 0)
        proc_log(q->dir, "%u vCPU(s) now present", present);
    else if (slots)
        qv_error_prefix("%u vCPU(s) of VM '%s' are present now", present, q->name);
    if (slots)
        g_ptr_array_free(slots, TRUE);
    qmp_close(m);
    return rc;
}
