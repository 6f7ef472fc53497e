/* <video><model type='qxl'>: QEMU's QXL card, the one SPICE guests use:
 * qxl-vga when it is the primary (first) video, else a secondary qxl.
 * libvirt's sizes are KiB: ram= and vram= become ram_size= and vram_size=
 * (bytes), vram64= and vgamem= vram64_size_mb= and vgamem_mb=; heads= is
 * max_outputs=, <resolution x y> xres= yres=. */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

/* A size in KiB up to 1 TiB read into *kib; 0 absent, 1 read, <0 refused. */
static int kib_attr(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *m,
                    const char *attr, uint64_t min_kib, uint64_t *kib)
{
    int rc = qemu_machine_uint(v, k, m, attr, (uint64_t)1 << 30, kib);
    if (rc == 1 && *kib < min_kib)
        return qemu_machine_refuse(v, k, m, "%s= must be at least %" G_GUINT64_FORMAT " KiB", attr,
                                   min_kib);
    return rc;
}

int qemu_kept_video_qxl(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                        const xmlNode *m)
{
    if (qemu_machine_only(v, k, n, "", "model address alias") < 0 ||
        qemu_machine_only(v, k, m, "type ram vram vram64 vgamem heads primary", "resolution") < 0)
        return QV_ERR_UNSUPPORTED;
    /* Its place among the definition's videos: the first is the primary. */
    guint index = 0, nvideo = 0;
    for (guint i = 0; i < v->def->kept->len; i++) {
        const struct qv_kept *o = g_ptr_array_index(v->def->kept, i);
        if (o == k)
            index = nvideo;
        nvideo += strcmp(o->name, "video") == 0 && strcmp(o->parent, "devices") == 0;
    }
    int primary = qemu_machine_onoff(v, k, m, "primary", index == 0);
    if (primary < 0)
        return primary;
    if (primary && index != 0)
        return qemu_machine_refuse(v, k, m, "primary='yes' on a <video> that is not the first");
    GString *dev = g_string_new(NULL);
    g_string_printf(dev, "%s,id=video%u", primary ? "qxl-vga" : "qxl", index);
    static const struct {
        const char *attr, *opt;
        uint64_t min_kib, div;
    } sizes[] = {{"ram", "ram_size", 4096, 0},
                 {"vram", "vram_size", 4096, 0},
                 {"vram64", "vram64_size_mb", 1024, 1024},
                 {"vgamem", "vgamem_mb", 1024, 1024}};
    int rc = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(sizes) && rc == 0; i++) {
        uint64_t kib = 0;
        rc = kib_attr(v, k, m, sizes[i].attr, sizes[i].min_kib, &kib);
        if (rc == 1 && sizes[i].div)
            g_string_append_printf(dev, ",%s=%" G_GUINT64_FORMAT, sizes[i].opt, kib / sizes[i].div);
        else if (rc == 1)
            g_string_append_printf(dev, ",%s=%" G_GUINT64_FORMAT, sizes[i].opt, kib * 1024);
        rc = rc < 0 ? rc : 0;
    }
    uint64_t heads = 0;
    if (rc == 0 && (rc = qemu_machine_uint(v, k, m, "heads", 16, &heads)) == 1) {
        rc = 0;
        if (heads == 0)
            rc = qemu_machine_refuse(v, k, m, "heads= must be 1 to 16");
        else
            g_string_append_printf(dev, ",max_outputs=%" G_GUINT64_FORMAT, heads);
    }
    const xmlNode *r = qemu_xml_child(m, "resolution");
    uint64_t x = 0, y = 0;
    if (rc == 0 && r &&
        (qemu_machine_only(v, k, r, "x y", "") < 0 ||
         qemu_machine_uint(v, k, r, "x", 16384, &x) < 0 ||
         qemu_machine_uint(v, k, r, "y", 16384, &y) < 0))
        rc = QV_ERR_UNSUPPORTED;
    if (rc == 0 && r)
        g_string_append_printf(dev, ",xres=%" G_GUINT64_FORMAT ",yres=%" G_GUINT64_FORMAT, x, y);
    if (rc == 0)
        rc = qemu_kept_add_placed(v, k, n, dev->str);
    g_string_free(dev, TRUE);
    return rc;
}
