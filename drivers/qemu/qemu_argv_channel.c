/* <channel type='unix|pty'><target type='virtio' name=…>: a port on a
 * virtio-serial bus, the way a guest agent (org.qemu.guest_agent.0) talks
 * to the host; <console><target type='virtio'/>: a virtconsole on it (the
 * guest's hvcN). The bus is the definition's <controller
 * type='virtio-serial' index='0'> when it has one, else one qv adds, as
 * libvirt does. A unix channel without a path gets a socket in the VM's
 * state directory. qv's own console (vm console, console.log) stays the
 * first serial port. */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

/* libvirt's id for the virtio-serial controller of index 0. */
#define VIRTIO_SERIAL_BUS "virtio-serial0"

static bool has_virtio_serial_controller(const struct qv_domain *def)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->name, "controller") == 0 && strcmp(k->parent, "devices") == 0 &&
            strstr(k->xml, "type=\"virtio-serial\""))
            return true;
    }
    return false;
}

static guint virtio_consoles(const struct qv_domain *def)
{
    guint n = 0;
    for (guint i = 0; i < def->consoles->len; i++)
        n += g_strcmp0(((const struct qv_chardev *)g_ptr_array_index(def->consoles, i))->target_type,
                       "virtio") == 0;
    return n;
}

static int add_virtio_console(struct qemu_argv *v, const struct qv_chardev *c, guint i)
{
    g_autofree char *path = c->path ? qemu_opt_escape(c->path) : NULL;
    qemu_argv_add(v, "-chardev");
    switch (c->type) {
    case QV_CHR_PTY: qemu_argv_addf(v, "pty,id=charconsole%u", i); break;
    case QV_CHR_NULL: qemu_argv_addf(v, "null,id=charconsole%u", i); break;
    case QV_CHR_FILE: qemu_argv_addf(v, "file,id=charconsole%u,path=%s", i, path); break;
    case QV_CHR_UNIX:
        qemu_argv_addf(v, "socket,id=charconsole%u,path=%s,server=%s", i, path,
                       c->listen ? "on,wait=off" : "off");
        break;
    default:
        return qemu_argv_unsupported(v, "a virtio <console> of a type other than pty, null, "
                                        "file or unix");
    }
    qemu_argv_add(v, "-device");
    /* QEMU numbers the port: the first virtconsole gets port 0, the one a
     * guest's early console uses. */
    qemu_argv_addf(v, "virtconsole,bus=" VIRTIO_SERIAL_BUS ".0,chardev=charconsole%u,id=console%u",
                   i, i);
    return 0;
}

int qemu_argv_add_channels(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    guint spicevmc = qemu_spicevmc_channels(def);
    if (!def->channels->len && !virtio_consoles(def) && !spicevmc)
        return 0;
    /* A virtio-serial bus has 31 ports; port 0 is kept for a console. */
    if (def->channels->len + spicevmc > 30 ||
        def->channels->len + spicevmc + virtio_consoles(def) > 31)
        return qemu_argv_unsupported(v, "more than 31 <channel>s and virtio <console>s (one "
                                        "virtio-serial bus)");
    if (!has_virtio_serial_controller(def)) {
        g_autofree char *bus = NULL;
        int rc = qemu_argv_device_bus(v, &bus);
        if (rc < 0)
            return rc;
        qemu_argv_add(v, "-device");
        qemu_argv_addf(v, "virtio-serial-pci,id=" VIRTIO_SERIAL_BUS "%s", bus);
    }
    g_autofree char *dir = qemu_opt_escape(v->l->dir);
    for (guint i = 0; i < def->channels->len; i++) {
        const struct qv_channel *c = g_ptr_array_index(def->channels, i);
        if (c->target_type && strcmp(c->target_type, "virtio") != 0)
            return qemu_argv_unsupported(v, "a <channel> target other than virtio");
        qemu_argv_add(v, "-chardev");
        if (c->type == QV_CHR_PTY) {
            qemu_argv_addf(v, "pty,id=charchannel%u", i);
        } else if (c->type == QV_CHR_UNIX) {
            g_autofree char *path = c->path ? qemu_opt_escape(c->path) : NULL;
            if (path)
                qemu_argv_addf(v, "socket,id=charchannel%u,path=%s,server=on,wait=off", i, path);
            else
                qemu_argv_addf(v, "socket,id=charchannel%u,path=%s/channel%u.sock,server=on,"
                               "wait=off", i, dir, i);
        } else {
            return qemu_argv_unsupported(v, "a <channel> type other than unix and pty");
        }
        GString *dev = g_string_new(NULL);
        g_string_printf(dev, "virtserialport,bus=" VIRTIO_SERIAL_BUS ".0,nr=%u,chardev=charchannel%u,"
                        "id=channel%u", i + 1, i, i);
        if (c->target_name) {
            g_autofree char *name = qemu_opt_escape(c->target_name);
            g_string_append_printf(dev, ",name=%s", name);
        }
        qemu_argv_add(v, "-device");
        g_ptr_array_add(v->a, g_string_free(dev, FALSE));
    }
    int rc = qemu_argv_spicevmc_add(v, def->channels->len);
    if (rc < 0)
        return rc;
    for (guint i = 0; i < def->consoles->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->consoles, i);
        rc = g_strcmp0(c->target_type, "virtio") == 0 ? add_virtio_console(v, c, i) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}
