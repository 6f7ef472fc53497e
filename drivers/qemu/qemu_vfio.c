/* PCI passthrough (<hostdev>): before QEMU starts, the devices' IOMMU
 * groups go to vfio-pci; once it no longer runs they go back. What each
 * device was bound to is written to vfio.json in the VM directory before
 * the first sysfs write, so a caller killed half-way, or a QEMU that
 * crashed, is made good by the next caller that opens the VM. */
#include <string.h>

#include "../../lib/host/host.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu_vm.h"

#define VFIO_RECORD "vfio.json"

static char *record_path(const struct qemu_vm *q)
{
    return g_build_filename(q->dir, VFIO_RECORD, NULL);
}

static void add_str(JsonBuilder *b, const char *key, const char *v)
{
    json_builder_set_member_name(b, key);
    if (v)
        json_builder_add_string_value(b, v);
    else
        json_builder_add_null_value(b);
}

static int record_write(const struct qemu_vm *q, GPtrArray *plan)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "devices");
    json_builder_begin_array(b);
    for (guint i = 0; i < plan->len; i++) {
        const struct host_vfio_dev *v = g_ptr_array_index(plan, i);
        json_builder_begin_object(b);
        add_str(b, "bdf", v->bdf);
        add_str(b, "driver", v->driver);
        add_str(b, "override", v->override);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    gsize len = 0;
    g_autofree char *text = json_generator_to_data(gen, &len);
    g_autofree char *path = record_path(q);
    return qv_file_write_atomic(path, text, len, 0600);
}

/* The record as a plan; NULL with the error when it is damaged. */
static GPtrArray *record_read(const char *path)
{
    g_autoptr(JsonNode) root = qv_json_load_file(path);
    if (!root)
        return NULL;
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *dn = o ? json_object_get_member(o, "devices") : NULL;
    JsonArray *a = dn && JSON_NODE_HOLDS_ARRAY(dn) ? json_node_get_array(dn) : NULL;
    if (!a) {
        qv_error_set(QV_ERR_JSON, "%s: no \"devices\" array", path);
        return NULL;
    }
    GPtrArray *plan = g_ptr_array_new_with_free_func((GDestroyNotify)host_vfio_dev_free);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *d = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        g_autofree char *bdf = host_pci_bdf_normalise(qv_json_str(d, "bdf"));
        const char *driver = qv_json_str(d, "driver");
        const char *override = qv_json_str(d, "override");
        if (!bdf || (driver && !host_driver_name_ok(driver)) ||
            (override && !host_driver_name_ok(override))) {
            qv_error_set(QV_ERR_JSON, "%s: device %u is malformed", path, i);
            g_ptr_array_unref(plan);
            return NULL;
        }
        struct host_vfio_dev *v = g_new0(struct host_vfio_dev, 1);
        v->bdf = g_steal_pointer(&bdf);
        v->driver = g_strdup(driver);
        v->override = g_strdup(override);
        g_ptr_array_add(plan, v);
    }
    return plan;
}

int qemu_vfio_release(struct qemu_vm *q)
{
    g_autofree char *path = record_path(q);
    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return 0;
    g_autoptr(GPtrArray) plan = record_read(path);
    if (!plan) {
        proc_log(q->dir, "dropping an unreadable passthrough record: %s", qv_last_error()->message);
        qv_reset_error();
        unlink(path);
        return 0;
    }
    g_autofree char *root = host_root(NULL);
    int rc = host_vfio_restore(root, plan);
    if (rc < 0) {
        /* Kept: the next caller tries again. */
        proc_log(q->dir, "PCI passthrough: %s", qv_last_error()->message);
        qv_error_prefix("VM '%s'", q->name);
        return rc;
    }
    for (guint i = 0; i < plan->len; i++) {
        const struct host_vfio_dev *v = g_ptr_array_index(plan, i);
        proc_log(q->dir, "PCI device %s given back to %s", v->bdf,
                 v->driver ? v->driver : "no driver");
    }
    unlink(path);
    return 0;
}

void qemu_vfio_settle(struct qemu_vm *q)
{
    g_autofree char *path = record_path(q);
    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return;
    if (qemu_vm_lock(q, 0) == 0) {
        if (!qemu_vm_running(q))
            qemu_vfio_release(q);
        qemu_vm_unlock(q);
    }
    qv_reset_error();
}

/* The VF's physical function's interface and the VF's number on it. */
static int vf_of(const char *root, const char *bdf, char **pf_if, int *vf)
{
    g_autofree char *physfn = host_path(root, "/sys/bus/pci/devices/%s/physfn", bdf);
    g_autofree char *pf_path = g_file_read_link(physfn, NULL);
    g_autofree char *pf = pf_path ? g_path_get_basename(pf_path) : NULL;
    g_autofree char *netdir = pf ? host_path(root, "/sys/bus/pci/devices/%s/net", pf) : NULL;
    g_autoptr(GDir) nets = netdir ? g_dir_open(netdir, 0, NULL) : NULL;
    const char *ifname = nets ? g_dir_read_name(nets) : NULL;
    if (!pf || !ifname)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "PCI device %s is not an SR-IOV virtual function of a host NIC: "
                            "<interface type='hostdev'> needs one (its MAC is set through the "
                            "physical function); use <hostdev> for a whole device",
                            bdf);
    for (int i = 0; i < 4096; i++) {
        g_autofree char *link = host_path(root, "/sys/bus/pci/devices/%s/virtfn%d", pf, i);
        g_autofree char *target = g_file_read_link(link, NULL);
        if (!target)
            break;
        g_autofree char *base = g_path_get_basename(target);
        if (strcmp(base, bdf) == 0) {
            *pf_if = g_strdup(ifname);
            *vf = i;
            return 0;
        }
    }
    return qv_error_set(QV_ERR_NOT_FOUND,
                        "PCI device %s: its physical function %s does not list it", bdf, pf);
}

/* The MAC and VLAN of each VF, set on its physical function. */
static int set_vf_macs(const char *root, GPtrArray *nets)
{
    for (guint i = 0; i < nets->len; i++) {
        const struct qemu_hostdev_net *h = g_ptr_array_index(nets, i);
        if (!h->mac && h->vlan < 0)
            continue;
        g_autofree char *pf = NULL;
        int vf = 0;
        int rc = vf_of(root, h->bdf, &pf, &vf);
        if (rc < 0)
            return rc;
        g_autofree char *vfs = g_strdup_printf("%d", vf);
        g_autofree char *vlan = g_strdup_printf("%d", h->vlan);
        const char *argv[] = {"ip",
                              "link",
                              "set",
                              "dev",
                              pf,
                              "vf",
                              vfs,
                              h->mac ? "mac" : "vlan",
                              h->mac ? h->mac : vlan,
                              h->mac && h->vlan >= 0 ? "vlan" : NULL,
                              vlan,
                              NULL};
        if ((rc = qemu_run_tool(argv, NULL)) < 0)
            return rc;
    }
    return 0;
}

int qemu_vfio_prepare(struct qemu_vm *q, const struct qv_domain *def)
{
    g_autoptr(GPtrArray) nets =
        g_ptr_array_new_with_free_func((GDestroyNotify)qemu_hostdev_net_free);
    int rc = qemu_hostdev_nets(def, nets);
    if (rc < 0)
        return rc;
    if (!def->hostdevs->len && !nets->len)
        return 0;
    g_autofree char *root = host_root(NULL);
    g_autoptr(GPtrArray) plan = g_ptr_array_new_with_free_func((GDestroyNotify)host_vfio_dev_free);
    /* A VF's physical function is judged before anything is bound. */
    for (guint i = 0; i < nets->len; i++) {
        const struct qemu_hostdev_net *h = g_ptr_array_index(nets, i);
        g_autofree char *pf = NULL;
        int vf;
        if ((rc = host_vfio_plan(root, h->bdf, h->managed, plan)) < 0 ||
            ((h->mac || h->vlan >= 0) && (rc = vf_of(root, h->bdf, &pf, &vf)) < 0)) {
            qv_error_prefix("cannot start VM '%s': <interface type='hostdev'>", q->name);
            return rc;
        }
    }
    for (guint i = 0; i < def->hostdevs->len; i++) {
        const struct qv_hostdev *h = g_ptr_array_index(def->hostdevs, i);
        g_autofree char *bdf =
            g_strdup_printf("%04x:%02x:%02x.%x", h->domain, h->bus, h->slot, h->function);
        rc = host_vfio_plan(root, bdf, h->managed, plan);
        if (rc < 0) {
            qv_error_prefix("cannot start VM '%s'", q->name);
            return rc;
        }
    }
    if (!plan->len)
        return 0;
    rc = record_write(q, plan);
    if (rc < 0) {
        qv_error_prefix("cannot start VM '%s': cannot record the PCI devices' drivers", q->name);
        return rc;
    }
    for (guint i = 0; i < plan->len; i++) {
        const struct host_vfio_dev *v = g_ptr_array_index(plan, i);
        proc_log(q->dir, "PCI device %s: moving from %s to vfio-pci", v->bdf,
                 v->driver ? v->driver : "no driver");
    }
    rc = host_vfio_bind(root, plan);
    if (rc == 0)
        rc = set_vf_macs(root, nets); /* a failure gives the devices back below */
    if (rc < 0) {
        proc_log(q->dir, "PCI passthrough failed: %s", qv_last_error()->message);
        /* host_vfio_bind gave everything back; only a failed give-back
         * leaves the record for the next caller. */
        g_autofree char *why = g_strdup(qv_last_error()->message);
        if (qemu_vfio_release(q) < 0)
            proc_log(q->dir, "%s", qv_last_error()->message);
        qv_reset_error();
        return qv_error_set(rc, "cannot start VM '%s': %s", q->name, why);
    }
    return 0;
}
