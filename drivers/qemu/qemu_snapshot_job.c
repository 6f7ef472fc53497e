/* The snapshot jobs of a running VM: which block nodes hold the
 * snapshots, and snapshot-save/-load/-delete through qemu_job_run with
 * their progress handed to the caller of snapshot_*_progress(). */
#include <string.h>

#include "../../lib/util/error.h"
#include "../../lib/util/json.h"
#include "qemu_job.h"

int qemu_snapshot_nodes(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def,
                        GPtrArray *nodes)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (d->readonly || d->device == QV_DISK_CDROM)
            continue;
        char *node = qemu_block_lookup(m, d->target, "node-name");
        if (!node) {
            qv_error_prefix("VM '%s'", q->name);
            return qv_error_code();
        }
        g_ptr_array_add(nodes, node);
    }
    if (nodes->len == 0)
        return qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s' has no writable disk to keep snapshots in",
                            q->name);
    return 0;
}

int qemu_snapshot_job(struct vm *vm, struct qmp *m, const char *type, const char *tag,
                      GPtrArray *nodes, int timeout_ms)
{
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "tag", tag);
    if (strcmp(type, "snapshot-delete") != 0)
        json_object_set_string_member(args, "vmstate", g_ptr_array_index(nodes, 0));
    JsonArray *devices = json_array_new();
    for (guint i = 0; i < nodes->len; i++)
        json_array_add_string_element(devices, g_ptr_array_index(nodes, i));
    json_object_set_array_member(args, "devices", devices);
    return qemu_job_run(m, type, args, timeout_ms, vm ? qmp_job_snapshot_progress : NULL, vm);
}

int qemu_snapshot_settle(struct qemu_vm *q, int timeout_ms)
{
    if (!qemu_vm_running(q))
        return 0;
    struct qmp *m = qemu_vm_qmp(q, false);
    if (!m)
        return qv_error_code();
    int rc = qemu_job_settle(m, timeout_ms);
    qmp_close(m);
    return rc;
}

int qemu_snapshot_tag_count(struct qmp *m, GPtrArray *nodes, const char *tag, guint *count)
{
    *count = 0;
    JsonNode *ret = NULL;
    int rc = qmp_command(m, "query-block", NULL, &ret, QEMU_QMP_TIMEOUT_MS);
    if (rc < 0)
        return rc;
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *in =
            qv_json_obj(JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL, "inserted");
        const char *node = qv_json_str(in, "node-name");
        bool ours = false;
        for (guint n = 0; node && n < nodes->len; n++)
            ours |= strcmp(node, g_ptr_array_index(nodes, n)) == 0;
        JsonObject *image = ours ? qv_json_obj(in, "image") : NULL;
        JsonNode *sn = image ? json_object_get_member(image, "snapshots") : NULL;
        JsonArray *snaps = sn && JSON_NODE_HOLDS_ARRAY(sn) ? json_node_get_array(sn) : NULL;
        for (guint k = 0; snaps && k < json_array_get_length(snaps); k++) {
            JsonNode *se = json_array_get_element(snaps, k);
            JsonObject *so = JSON_NODE_HOLDS_OBJECT(se) ? json_node_get_object(se) : NULL;
            *count += g_strcmp0(qv_json_str(so, "name"), tag) == 0;
        }
    }
    json_node_unref(ret);
    return 0;
}
