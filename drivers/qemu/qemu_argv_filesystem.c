/* <filesystem type='mount'> with the 9p driver (<driver type='path'>, or
 * none: libvirt's default for QEMU): a host directory shared with the guest
 * as -fsdev local and a virtio-9p-pci device carrying its mount tag.
 * <driver type='virtiofs'> is qemu_argv_virtiofs.c's. */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

static const char *const models[][2] = {
    {"virtio", "virtio-9p-pci"},
    {"virtio-transitional", "virtio-9p-pci-transitional"},
    {"virtio-non-transitional", "virtio-9p-pci-non-transitional"},
};

/* libvirt's accessmode= as QEMU's security_model=. */
static const char *const access_modes[][2] = {
    {"passthrough", "passthrough"}, {"mapped", "mapped-xattr"}, {"squash", "none"}};

static const char *lookup(const char *const (*table)[2], size_t n, const char *key)
{
    for (size_t i = 0; key && i < n; i++)
        if (strcmp(table[i][0], key) == 0)
            return table[i][1];
    return NULL;
}

static bool octal_mode(const char *s)
{
    return s && strlen(s) <= 4 && *s && strspn(s, "01234567") == strlen(s);
}

int qemu_kept_filesystem(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const known[] = {"driver", "source",  "target", "readonly",
                                        "model",  "address", "alias",  NULL};
    static const char *const attrs[] = {"type", "accessmode", "multidevs", "fmode", "dmode", NULL};
    const xmlNode *drv = qemu_xml_child(n, "driver");
    g_autofree char *dtype = drv ? qemu_xml_prop(drv, "type") : NULL;
    guint index = 0;
    while (index < v->def->kept->len && g_ptr_array_index(v->def->kept, index) != k)
        index++;
    if (dtype && strcmp(dtype, "virtiofs") == 0)
        return qemu_kept_virtiofs(v, k, n, index);
    const char *extra = qemu_xml_other_child(n, known);
    if (extra)
        return qemu_kept_refuse(v, k, "<%s> is not passed on to QEMU", extra);
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->ns || !g_strv_contains(attrs, (const char *)a->name))
            return qemu_kept_refuse(v, k, "attribute %s= is not passed on to QEMU", a->name);
    g_autofree char *type = qemu_xml_prop(n, "type");
    if (type && strcmp(type, "mount") != 0)
        return qemu_kept_refuse(v, k, "type='%s': QEMU shares host directories (type='mount')",
                                type);
    if (dtype && strcmp(dtype, "path") != 0)
        return qemu_kept_refuse(v, k, "<driver type='%s'>: QEMU 7.2 has the path (9p) driver",
                                dtype);
    for (const xmlAttr *a = drv ? drv->properties : NULL; a; a = a->next)
        if (a->ns || (strcmp((const char *)a->name, "type") != 0 &&
                      strcmp((const char *)a->name, "wrpolicy") != 0))
            return qemu_kept_refuse(v, k, "<driver %s=> is not passed on to QEMU", a->name);
    g_autofree char *access = qemu_xml_prop(n, "accessmode");
    const char *security =
        lookup(access_modes, G_N_ELEMENTS(access_modes), access ? access : "passthrough");
    if (!security)
        return qemu_kept_refuse(v, k, "accessmode='%s' is not one QEMU has", access);
    const xmlNode *src = qemu_xml_child(n, "source"), *tgt = qemu_xml_child(n, "target");
    g_autofree char *dir = src ? qemu_xml_prop(src, "dir") : NULL;
    g_autofree char *tag = tgt ? qemu_xml_prop(tgt, "dir") : NULL;
    if (!dir || dir[0] != '/')
        return qemu_kept_refuse(v, k, "it needs a <source dir=> with an absolute path");
    if (!tag || !*tag)
        return qemu_kept_refuse(v, k, "it needs a <target dir=> (the guest's mount tag)");
    const xmlNode *m = qemu_xml_child(n, "model");
    g_autofree char *mtype = m ? qemu_xml_prop(m, "type") : NULL;
    const char *dev = lookup(models, G_N_ELEMENTS(models), mtype ? mtype : "virtio");
    if (!dev)
        return qemu_kept_refuse(v, k, "<model type='%s'> is not a 9p device QEMU has", mtype);
    g_autofree char *edir = qemu_opt_escape(dir), *etag = qemu_opt_escape(tag);
    GString *fs = g_string_new(NULL);
    g_string_printf(fs, "local,id=fsdev%u,path=%s,security_model=%s", index, edir, security);
    if (qemu_xml_child(n, "readonly"))
        g_string_append(fs, ",readonly=on");
    g_autofree char *wr = drv ? qemu_xml_prop(drv, "wrpolicy") : NULL;
    if (wr && strcmp(wr, "immediate") != 0) {
        g_string_free(fs, TRUE);
        return qemu_kept_refuse(v, k, "<driver wrpolicy='%s'>: QEMU's is immediate", wr);
    }
    if (wr)
        g_string_append(fs, ",writeout=immediate");
    static const char *const modes[] = {"fmode", "dmode"};
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_autofree char *val = qemu_xml_prop(n, modes[i]);
        if (!val)
            continue;
        /* QEMU keeps these only where it maps ownership into xattrs. */
        if (!octal_mode(val) || strcmp(security, "mapped-xattr") != 0) {
            g_string_free(fs, TRUE);
            return qemu_kept_refuse(v, k, "%s= must be an octal mode, with accessmode='mapped'",
                                    modes[i]);
        }
        g_string_append_printf(fs, ",%s=%s", modes[i], val);
    }
    g_autofree char *multidevs = qemu_xml_prop(n, "multidevs");
    if (multidevs && strcmp(multidevs, "default") != 0) {
        if (strcmp(multidevs, "remap") != 0 && strcmp(multidevs, "forbid") != 0 &&
            strcmp(multidevs, "warn") != 0) {
            g_string_free(fs, TRUE);
            return qemu_kept_refuse(v, k, "multidevs='%s' is not one QEMU has", multidevs);
        }
        g_string_append_printf(fs, ",multidevs=%s", multidevs);
    }
    qemu_argv_add(v, "-fsdev");
    g_ptr_array_add(v->a, g_string_free(fs, FALSE));
    g_autofree char *spec =
        g_strdup_printf("%s,id=fs%u,fsdev=fsdev%u,mount_tag=%s", dev, index, index, etag);
    return qemu_kept_add_placed(v, k, n, spec);
}
