/* <filesystem type='mount'><driver type='virtiofs'>: a host directory
 * served by virtiofsd over a vhost-user socket in the VM's directory, and a
 * vhost-user-fs-pci device carrying the guest's mount tag. virtiofsd maps
 * the guest's RAM, so the guest's memory must be shared
 * (<memoryBacking><access mode='shared'/>); without it QEMU would start and
 * the guest's mount would fail, so it is refused. <source socket=> is a
 * virtiofsd someone else runs; <source dir=> gets one qv starts with the VM
 * (qemu_virtiofs.c), with the options <binary> gives it. */
#include <stdarg.h>
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

#define VIRTIOFSD_DEFAULT "/usr/lib/qemu/virtiofsd"

/* virtio options libvirt's schema allows on the <driver>, as QEMU names them. */
static const char *const virtio_opts[][2] = {{"iommu", "iommu_platform"},
                                             {"ats", "ats"},
                                             {"packed", "packed"},
                                             {"page_per_vq", "page-per-vq"}};

/* virtiofsd's -o options are split at commas, and a backslash there
 * escapes what follows: a path with either would name another one. */
static bool plain_path(const char *s)
{
    return s && s[0] == '/' && !strchr(s, ',') && !strchr(s, '\\');
}

static int binary(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *b)
{
    if (qemu_machine_only(v, k, b, "path xattr", "cache sandbox lock thread_pool") < 0 ||
        qemu_machine_onoff(v, k, b, "xattr", 0) < 0)
        return QV_ERR_UNSUPPORTED;
    g_autofree char *path = qemu_xml_prop(b, "path");
    if (path && path[0] != '/')
        return qemu_machine_refuse(v, k, b, "path= must be absolute");
    const xmlNode *c;
    if ((c = qemu_xml_child(b, "cache")) && qemu_machine_only(v, k, c, "mode", "") < 0)
        return QV_ERR_UNSUPPORTED;
    if ((c = qemu_xml_child(b, "sandbox")) && qemu_machine_only(v, k, c, "mode", "") < 0)
        return QV_ERR_UNSUPPORTED;
    if ((c = qemu_xml_child(b, "lock")) && (qemu_machine_only(v, k, c, "posix flock", "") < 0 ||
                                            qemu_machine_onoff(v, k, c, "posix", 0) < 0 ||
                                            qemu_machine_onoff(v, k, c, "flock", 0) < 0))
        return QV_ERR_UNSUPPORTED;
    uint64_t size = 0;
    if ((c = qemu_xml_child(b, "thread_pool")) &&
        (qemu_machine_only(v, k, c, "size", "") < 0 ||
         qemu_machine_uint(v, k, c, "size", 65536, &size) < 0))
        return QV_ERR_UNSUPPORTED;
    static const char *const modes[][3] = {{"cache", "none", "always"},
                                           {"sandbox", "namespace", "chroot"}};
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        c = qemu_xml_child(b, modes[i][0]);
        g_autofree char *m = c ? qemu_xml_prop(c, "mode") : NULL;
        if (m && strcmp(m, modes[i][1]) != 0 && strcmp(m, modes[i][2]) != 0)
            return qemu_machine_refuse(v, k, c, "mode='%s' is not one virtiofsd has", m);
    }
    return 0;
}

int qemu_kept_virtiofs(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, guint index)
{
    static const char *const known[] = {"driver",  "binary", "source", "target",
                                        "address", "alias",  NULL};
    const char *extra = qemu_xml_other_child(n, known);
    if (extra)
        return qemu_kept_refuse(
            v, k, "<%s> is not passed on to QEMU with <driver type='virtiofs'>%s", extra,
            strcmp(extra, "readonly") == 0 ? " (virtiofsd in QEMU 7.2 has no read-only mode)" : "");
    if (qemu_machine_only(v, k, n, "type accessmode", "driver binary source target address alias") <
        0)
        return QV_ERR_UNSUPPORTED;
    g_autofree char *access = qemu_xml_prop(n, "accessmode");
    if (access && strcmp(access, "passthrough") != 0)
        return qemu_kept_refuse(v, k, "accessmode='%s': virtiofsd passes ownership through",
                                access);
    const xmlNode *drv = qemu_xml_child(n, "driver");
    if (qemu_machine_only(v, k, drv, "type queue iommu ats packed page_per_vq", "") < 0)
        return QV_ERR_UNSUPPORTED;
    uint64_t queue = 0;
    int has_queue = qemu_machine_uint(v, k, drv, "queue", 1024, &queue);
    if (has_queue < 0)
        return QV_ERR_UNSUPPORTED;
    /* The virtio queue size QEMU takes: a power of two up to 1024. */
    if (has_queue && (queue == 0 || (queue & (queue - 1))))
        return qemu_machine_refuse(
            v, k, drv, "queue='%" G_GUINT64_FORMAT "' must be a power of two from 1 to 1024",
            queue);
    const xmlNode *b = qemu_xml_child(n, "binary");
    if (b && binary(v, k, b) < 0)
        return QV_ERR_UNSUPPORTED;
    if (!qemu_memory_shared(v->def))
        return qemu_kept_refuse(v, k,
                                "<driver type='virtiofs'> needs the guest's memory shared with "
                                "virtiofsd: add <memoryBacking><source type='memfd'/><access "
                                "mode='shared'/></memoryBacking>");
    const xmlNode *src = qemu_xml_child(n, "source"), *tgt = qemu_xml_child(n, "target");
    g_autofree char *dir = src ? qemu_xml_prop(src, "dir") : NULL;
    g_autofree char *sock = src ? qemu_xml_prop(src, "socket") : NULL;
    g_autofree char *tag = tgt ? qemu_xml_prop(tgt, "dir") : NULL;
    if (!tag || !*tag)
        return qemu_kept_refuse(v, k, "it needs a <target dir=> (the guest's mount tag)");
    /* The guest sees at most 36 bytes of tag (virtio-fs's config space). */
    if (strlen(tag) > 36)
        return qemu_kept_refuse(v, k, "<target dir='%s'>: a virtiofs tag has at most 36 bytes",
                                tag);
    if (sock && sock[0] != '/')
        return qemu_kept_refuse(v, k, "<source socket=> must be an absolute path");
    if (sock && b)
        return qemu_kept_refuse(v, k,
                                "<binary> configures the virtiofsd qv starts; with "
                                "<source socket=> someone else runs it");
    if (!sock && !plain_path(dir))
        return qemu_kept_refuse(v, k,
                                "it needs a <source dir=> with an absolute path without ',' or '\\' "
                                "(virtiofsd's options cannot carry one) or a <source socket=>");
    g_autofree char *binpath = b ? qemu_xml_prop(b, "path") : NULL;
    if (!sock && !binpath && !g_file_test(VIRTIOFSD_DEFAULT, G_FILE_TEST_IS_EXECUTABLE))
        return qemu_kept_refuse(v, k,
                                "virtiofsd is not installed (" VIRTIOFSD_DEFAULT
                                ", Debian package qemu-system-common)");
    g_autofree char *path = sock ? qemu_opt_escape(sock)
                                 : g_strdup_printf("%s/" QEMU_VIRTIOFS_SOCKET, v->l->dir, index);
    g_autofree char *epath = sock ? g_strdup(path) : qemu_opt_escape(path);
    g_autofree char *etag = qemu_opt_escape(tag);
    qemu_argv_add(v, "-chardev");
    qemu_argv_addf(v, "socket,id=chr-vu-fs%u,path=%s", index, epath);
    GString *dev = g_string_new(NULL);
    g_string_printf(dev, "vhost-user-fs-pci,id=fs%u,chardev=chr-vu-fs%u,tag=%s", index, index,
                    etag);
    if (has_queue)
        g_string_append_printf(dev, ",queue-size=%" G_GUINT64_FORMAT, queue);
    for (size_t i = 0; i < G_N_ELEMENTS(virtio_opts); i++) {
        int on = qemu_machine_onoff(v, k, drv, virtio_opts[i][0], -1);
        if (on >= 0)
            g_string_append_printf(dev, ",%s=%s", virtio_opts[i][1], on ? "on" : "off");
    }
    int rc = qemu_kept_add_placed(v, k, n, dev->str);
    g_string_free(dev, TRUE);
    return rc;
}

/* "-o OPT" for virtiofsd. */
static void opt(GPtrArray *a, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void opt(GPtrArray *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_ptr_array_add(a, g_strdup("-o"));
    g_ptr_array_add(a, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/* The value of attr on n's child elem, or NULL. */
static char *child_prop(const xmlNode *n, const char *elem, const char *attr)
{
    const xmlNode *c = n ? qemu_xml_child(n, elem) : NULL;
    return c ? qemu_xml_prop(c, attr) : NULL;
}

GPtrArray *qemu_virtiofsd_argv(const xmlNode *n, const char *sock)
{
    const xmlNode *src = qemu_xml_child(n, "source"), *b = qemu_xml_child(n, "binary");
    g_autofree char *dir = src ? qemu_xml_prop(src, "dir") : NULL;
    if (!dir)
        return NULL; /* <source socket=>: not ours to start */
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *bin = b ? qemu_xml_prop(b, "path") : NULL;
    g_ptr_array_add(a, g_strdup(bin ? bin : VIRTIOFSD_DEFAULT));
    /* It listens, then daemonizes once QEMU has connected. */
    g_ptr_array_add(a, g_strdup("--daemonize"));
    opt(a, "source=%s", dir);
    g_autofree char *xattr = b ? qemu_xml_prop(b, "xattr") : NULL;
    if (xattr)
        opt(a, "%s", strcmp(xattr, "on") == 0 ? "xattr" : "no_xattr");
    g_autofree char *cache = child_prop(b, "cache", "mode");
    if (cache)
        opt(a, "cache=%s", cache);
    g_autofree char *sandbox = child_prop(b, "sandbox", "mode");
    if (sandbox)
        opt(a, "sandbox=%s", sandbox);
    g_autofree char *posix = child_prop(b, "lock", "posix");
    if (posix)
        opt(a, "%s", strcmp(posix, "on") == 0 ? "posix_lock" : "no_posix_lock");
    g_autofree char *flock = child_prop(b, "lock", "flock");
    if (flock)
        opt(a, "%s", strcmp(flock, "on") == 0 ? "flock" : "no_flock");
    g_autofree char *pool = child_prop(b, "thread_pool", "size");
    if (pool) /* read as qemu_machine_uint() checked it */
        g_ptr_array_add(a, g_strdup_printf("--thread-pool-size=%" G_GUINT64_FORMAT,
                                           g_ascii_strtoull(pool, NULL, 0)));
    /* Last: qemu_virtiofs.c finds the daemon by this suffix. */
    g_ptr_array_add(a, g_strdup_printf("--socket-path=%s", sock));
    return a;
}
