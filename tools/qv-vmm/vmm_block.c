/* query-block and block_set_io_throttle. The disks are those of the VM's
 * definition (vm_get_xml), each reported under the qdev path QEMU gives a
 * device whose id is its target ("/machine/peripheral/vda/virtio-backend"),
 * which is what drivers/qemu looks disks up by; limits go through
 * vm_set_io_limit, so a driver that refuses live limits is answered with
 * its own reason. Only total limits exist in libqv: the read/write split
 * and burst parameters must be 0. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#include "vmm.h"

struct vmm_disk {
    char *target, *source, *format, *device;
    bool readonly;
    guint64 bps, iops;
};

static void disk_clear(gpointer p)
{
    struct vmm_disk *d = p;
    g_free(d->target);
    g_free(d->source);
    g_free(d->format);
    g_free(d->device);
}

static xmlNode *child(xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

static char *attr(xmlNode *n, const char *name)
{
    if (!n)
        return NULL;
    xmlChar *x = xmlGetProp(n, (const xmlChar *)name);
    char *s = x ? g_strdup((const char *)x) : NULL;
    xmlFree(x);
    return s;
}

static guint64 number(xmlNode *n)
{
    if (!n)
        return 0;
    xmlChar *x = xmlNodeGetContent(n);
    guint64 v = 0;
    /* libqv validated the definition; a value it kept is a number. */
    if (x && !g_ascii_string_to_unsigned((const char *)x, 10, 0, G_MAXUINT64, &v, NULL))
        v = 0;
    xmlFree(x);
    return v;
}

/* The VM's disks, from its definition. NULL with err set. */
static GArray *load_disks(struct vmm *v, struct vmm_cmd_error *err)
{
    char *xml = vm_get_xml(v->vm);
    if (!xml) {
        vmm_cmd_fail_qv(err, "cannot read the VM's definition");
        return NULL;
    }
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    qv_free(xml);
    if (!doc) {
        vmm_cmd_fail(err, "GenericError", "libqv returned a definition that does not parse");
        return NULL;
    }
    GArray *disks = g_array_new(FALSE, TRUE, sizeof(struct vmm_disk));
    g_array_set_clear_func(disks, disk_clear);
    xmlNode *devices = child(xmlDocGetRootElement(doc), "devices");
    for (xmlNode *n = devices ? devices->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "disk") != 0)
            continue;
        struct vmm_disk d = {0};
        d.target = attr(child(n, "target"), "dev");
        if (!d.target)
            continue;
        xmlNode *src = child(n, "source");
        d.source = attr(src, "file");
        if (!d.source)
            d.source = attr(src, "dev");
        if (!d.source)
            d.source = attr(src, "name");
        d.format = attr(child(n, "driver"), "type");
        d.device = attr(n, "device");
        d.readonly = child(n, "readonly") != NULL;
        xmlNode *io = child(n, "iotune");
        d.bps = number(child(io, "total_bytes_sec"));
        d.iops = number(child(io, "total_iops_sec"));
        g_array_append_val(disks, d);
    }
    xmlFreeDoc(doc);
    return disks;
}

static char *qdev_of(const char *target)
{
    return g_strdup_printf("/machine/peripheral/%s/virtio-backend", target);
}

JsonNode *vmm_query_block(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                          vmm_after_fn *after)
{
    (void)args;
    (void)after;
    GArray *disks = load_disks(v, err);
    if (!disks)
        return NULL;
    JsonArray *a = json_array_new();
    for (guint i = 0; i < disks->len; i++) {
        const struct vmm_disk *d = &g_array_index(disks, struct vmm_disk, i);
        bool removable = g_strcmp0(d->device, "cdrom") == 0 || g_strcmp0(d->device, "floppy") == 0;
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "device", "");
        g_autofree char *qdev = qdev_of(d->target);
        json_object_set_string_member(o, "qdev", qdev);
        json_object_set_boolean_member(o, "locked", FALSE);
        json_object_set_boolean_member(o, "removable", removable);
        json_object_set_string_member(o, "type", "unknown");
        if (d->source) {
            const char *fmt = d->format ? d->format : "raw";
            JsonObject *in = json_object_new();
            json_object_set_string_member(in, "file", d->source);
            g_autofree char *node = g_strdup_printf("drive-%s", d->target);
            json_object_set_string_member(in, "node-name", node);
            json_object_set_boolean_member(in, "ro", d->readonly);
            json_object_set_string_member(in, "drv", fmt);
            json_object_set_int_member(in, "backing_file_depth", 0);
            json_object_set_boolean_member(in, "encrypted", FALSE);
            json_object_set_string_member(in, "detect_zeroes", "off");
            json_object_set_int_member(in, "bps", (gint64)d->bps);
            json_object_set_int_member(in, "bps_rd", 0);
            json_object_set_int_member(in, "bps_wr", 0);
            json_object_set_int_member(in, "iops", (gint64)d->iops);
            json_object_set_int_member(in, "iops_rd", 0);
            json_object_set_int_member(in, "iops_wr", 0);
            json_object_set_int_member(in, "write_threshold", 0);
            JsonObject *image = json_object_new();
            json_object_set_string_member(image, "filename", d->source);
            json_object_set_string_member(image, "format", fmt);
            json_object_set_object_member(in, "image", image);
            json_object_set_object_member(o, "inserted", in);
        }
        json_array_add_object_element(a, o);
    }
    g_array_unref(disks);
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, a);
    return n;
}

/* QEMU's bound on every throttle value (THROTTLE_VALUE_MAX). */
#define VMM_THROTTLE_MAX 1000000000000000LL

/* The disk target the id or device argument names, as QEMU accepts it:
 * the qdev id ("vda"), its QOM path, or the drive name ("drive-vda"). */
static const char *find_target(GArray *disks, const char *id, const char *device)
{
    for (guint i = 0; i < disks->len; i++) {
        const struct vmm_disk *d = &g_array_index(disks, struct vmm_disk, i);
        g_autofree char *qdev = qdev_of(d->target);
        g_autofree char *periph = g_strdup_printf("/machine/peripheral/%s", d->target);
        g_autofree char *drive = g_strdup_printf("drive-%s", d->target);
        if (id && (strcmp(id, d->target) == 0 || strcmp(id, qdev) == 0 || strcmp(id, periph) == 0))
            return d->target;
        if (device && strcmp(device, drive) == 0)
            return d->target;
    }
    return NULL;
}

JsonNode *vmm_block_set_io_throttle(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                    vmm_after_fn *after)
{
    (void)after;
    const char *id =
        json_object_has_member(args, "id") ? json_object_get_string_member(args, "id") : NULL;
    const char *device = json_object_has_member(args, "device")
                             ? json_object_get_string_member(args, "device")
                             : NULL;
    if (!id == !device)
        return vmm_cmd_fail(err, "GenericError", "Need exactly one of 'id' and 'device'");
    g_autoptr(GList) members = json_object_get_members(args);
    for (GList *l = members; l; l = l->next) {
        const char *k = l->data;
        if (strcmp(k, "id") == 0 || strcmp(k, "device") == 0 || strcmp(k, "group") == 0)
            continue;
        gint64 val = json_object_get_int_member(args, k);
        if (val < 0 || val > VMM_THROTTLE_MAX)
            return vmm_cmd_fail(err, "GenericError", "bps/iops/max values must be within [0, %lld]",
                                VMM_THROTTLE_MAX);
        if (val != 0 && strcmp(k, "bps") != 0 && strcmp(k, "iops") != 0)
            return vmm_cmd_fail(err, "GenericError",
                                "'%s' is not supported: qv-vmm (libqv) limits a disk's total "
                                "bytes and operations per second only; give 0",
                                k);
    }
    GArray *disks = load_disks(v, err);
    if (!disks)
        return NULL;
    const char *target = find_target(disks, id, device);
    if (!target) {
        g_array_unref(disks);
        return vmm_cmd_fail(err, "DeviceNotFound", "Device '%s' not found", id ? id : device);
    }
    g_autofree char *t = g_strdup(target);
    g_array_unref(disks);
    guint64 bps = (guint64)json_object_get_int_member(args, "bps");
    guint64 iops = (guint64)json_object_get_int_member(args, "iops");
    if (vm_set_io_limit(v->vm, t, bps, iops) < 0)
        return vmm_cmd_fail_qv(err, "cannot limit the disk's I/O");
    return vmm_empty_object();
}

bool vmm_block_has_node(struct vmm *v, const char *node, const char *what,
                        struct vmm_cmd_error *err)
{
    GArray *disks = load_disks(v, err);
    if (!disks)
        return false;
    bool found = false;
    for (guint i = 0; i < disks->len && !found; i++) {
        const struct vmm_disk *d = &g_array_index(disks, struct vmm_disk, i);
        g_autofree char *name = g_strdup_printf("drive-%s", d->target);
        found = d->source && !d->readonly && g_strcmp0(d->device, "cdrom") != 0 &&
                strcmp(name, node) == 0;
    }
    g_array_unref(disks);
    if (!found)
        vmm_cmd_fail(err, "GenericError",
                     "%s '%s' is not a writable block device node of this VM (query-block "
                     "names them drive-TARGET)",
                     what, node);
    return found;
}

bool vmm_block_all_nodes(struct vmm *v, JsonArray *devices, struct vmm_cmd_error *err)
{
    GArray *disks = load_disks(v, err);
    if (!disks)
        return false;
    g_autoptr(GString) missing = g_string_new(NULL);
    for (guint i = 0; i < disks->len; i++) {
        const struct vmm_disk *d = &g_array_index(disks, struct vmm_disk, i);
        if (!d->source || d->readonly || g_strcmp0(d->device, "cdrom") == 0)
            continue;
        g_autofree char *name = g_strdup_printf("drive-%s", d->target);
        bool named = false;
        for (guint k = 0; k < json_array_get_length(devices) && !named; k++)
            named = g_strcmp0(json_array_get_string_element(devices, k), name) == 0;
        if (!named)
            g_string_append_printf(missing, "%s'%s'", missing->len ? ", " : "", name);
    }
    g_array_unref(disks);
    if (missing->len)
        vmm_cmd_fail(err, "GenericError",
                     "'devices' must name every writable disk of this VM: a snapshot here "
                     "covers them all; missing %s",
                     missing->str);
    return missing->len == 0;
}
