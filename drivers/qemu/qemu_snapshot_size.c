/* How much disk data an internal snapshot references, as qemu-img
 * measures it: `qemu-img measure -l snapshot.name=TAG` is what a qcow2
 * image of the snapshot's disk state alone would need, and an image of the
 * same virtual size holding no data is the metadata part of that, which is
 * taken off. qcow2 keeps no count of the clusters a snapshot alone holds,
 * so data it shares with the running disk or other snapshots counts for
 * each (docs/drivers.md). */
#include <string.h>

#include "../../lib/util/error.h"
#include "../../lib/util/json.h"
#include "qemu.h"

static int measure(const char *const *argv, const char *what, guint64 *required)
{
    g_autofree char *out = NULL;
    if (qemu_run_tool(argv, &out) < 0)
        return qv_error_code();
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_bounded(out, strlen(out), "qemu-img measure", &err);
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    gint64 v = qv_json_int(o, "required", -1);
    if (v < 0)
        return qv_error_set(QV_ERR_PROTOCOL, "qemu-img measure of %s printed no \"required\" size",
                            what);
    *required = (guint64)v;
    return 0;
}

int qemu_image_meta_bytes(guint64 virtual_size, guint64 *bytes)
{
    g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, virtual_size);
    const char *argv[] = {"qemu-img", "measure", "--output=json", "-O", "qcow2",
                          "--size",   size,      NULL};
    return measure(argv, "an empty image", bytes);
}

int qemu_snapshot_disk_bytes(const char *file, const char *tag, guint64 meta, guint64 *bytes)
{
    g_autofree char *sel = g_strdup_printf("snapshot.name=%s", tag);
    /* -U: a running QEMU holds the image's lock */
    const char *argv[] = {"qemu-img", "measure", "-U",  "--output=json", "-O", "qcow2",
                          "-l",       sel,       "--", file,            NULL};
    g_autofree char *what = g_strdup_printf("snapshot '%s' of '%s'", tag, file);
    guint64 full = 0;
    int rc = measure(argv, what, &full);
    if (rc == 0)
        *bytes = full > meta ? full - meta : 0;
    return rc;
}
