/* <channel type='unix|pty'><target type='virtio' name=…>: a port on a
 * virtio-serial bus, the way a guest agent (org.qemu.guest_agent.0) talks
 * to the host; <console><target type='virtio'/>: a virtconsole on it (the
 * guest's hvcN). The bus is the definition's <controller
 * type='virtio-serial' index='0'> when it has one, else one qv adds, as
 * libvirt does. An <address type='virtio-serial' controller= port=> puts
 * the port there (controller N is the definition's of index N); the
 * others get the free port numbers from 1 up, as libvirt numbers them.
 * A unix channel without a path gets a socket in the VM's state
 * directory. qv's own console (vm console, console.log) stays the first
 * serial port. */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

/* libvirt's id for the virtio-serial controller of index 0 (N: N). */
#define VIRTIO_SERIAL_BUS_PREFIX "virtio-serial"
#define VIRTIO_SERIAL_BUS VIRTIO_SERIAL_BUS_PREFIX "0"

/* Where an <address type='virtio-serial'> puts a port: ",bus=virtio-serialC.0,nr=P"
 * (P 0: QEMU numbers it). Refused, naming it, when controller C is not
 * there, the bus is not 0, or the port is beyond the controller's. */
static int vserial_at(struct qemu_argv *v, const struct qv_addr *a, const char *what,
                      uint32_t *used, char **out)
{
    *out = NULL;
    g_autofree char *at = a->line > 0 ? g_strdup_printf(" (line %d)", a->line) : g_strdup("");
    if (a->controller > 255 || !v->vserial_ports[a->controller])
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': %s <address>%s: no <controller type='virtio-serial' "
                            "index='%u'> is there",
                            v->def->name, what, at, a->controller);
    if (a->bus != 0)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': %s <address>%s: a virtio-serial controller has bus='0' only",
                            v->def->name, what, at);
    if (a->port >= v->vserial_ports[a->controller])
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': %s <address>%s: port='%u' is beyond the %u ports of "
                            "virtio-serial controller %u",
                            v->def->name, what, at, a->port, v->vserial_ports[a->controller],
                            a->controller);
    if (a->port && a->controller == 0)
        *used |= 1u << a->port;
    *out = a->port ? g_strdup_printf(",bus=" VIRTIO_SERIAL_BUS_PREFIX "%u.0,nr=%u", a->controller,
                                     a->port)
                   : g_strdup_printf(",bus=" VIRTIO_SERIAL_BUS_PREFIX "%u.0", a->controller);
    return 0;
}

static guint virtio_consoles(const struct qv_domain *def)
{
    guint n = 0;
    for (guint i = 0; i < def->consoles->len; i++)
        n += g_strcmp0(((const struct qv_chardev *)g_ptr_array_index(def->consoles, i))->target_type,
                       "virtio") == 0;
    return n;
}

static int add_virtio_console(struct qemu_argv *v, const struct qv_chardev *c, guint i,
                              uint32_t *used)
{
    g_autofree char *what = g_strdup_printf("<console> %u", i + 1);
    g_autofree char *at = NULL;
    if (c->addr.type == QV_ADDR_VIRTIO_SERIAL && vserial_at(v, &c->addr, what, used, &at) < 0)
        return qv_error_code();
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
    qemu_argv_addf(v, "virtconsole%s,chardev=charconsole%u,id=console%u",
                   at ? at : ",bus=" VIRTIO_SERIAL_BUS ".0", i, i);
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
    if (!v->vserial_ports[0]) {
        g_autofree char *bus = NULL;
        int rc = qemu_argv_device_bus(v, &bus);
        if (rc < 0)
            return rc;
        qemu_argv_add(v, "-device");
        qemu_argv_addf(v, "virtio-serial-pci,id=" VIRTIO_SERIAL_BUS "%s", bus);
        v->vserial_ports[0] = 31;
    }
    /* The ports of controller 0 the addresses take, before any is handed out. */
    uint32_t used = 1; /* port 0: a virtconsole's */
    for (guint i = 0; i < def->channels->len; i++) {
        const struct qv_channel *c = g_ptr_array_index(def->channels, i);
        if (c->addr.type == QV_ADDR_VIRTIO_SERIAL && c->addr.controller == 0)
            used |= 1u << c->addr.port;
    }
    for (guint i = 0; i < def->consoles->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->consoles, i);
        if (c->addr.type == QV_ADDR_VIRTIO_SERIAL && c->addr.controller == 0)
            used |= 1u << c->addr.port;
    }
    uint32_t next = 1;
    g_autofree char *dir = qemu_opt_escape(v->l->dir);
    for (guint i = 0; i < def->channels->len; i++) {
        const struct qv_channel *c = g_ptr_array_index(def->channels, i);
        if (c->target_type && strcmp(c->target_type, "virtio") != 0)
            return qemu_argv_unsupported(v, "a <channel> target other than virtio");
        /* The guest finds a port by its name: two would be one. */
        for (guint j = 0; c->target_name && j < i; j++) {
            const struct qv_channel *o = g_ptr_array_index(def->channels, j);
            if (g_strcmp0(o->target_name, c->target_name) == 0)
                return qv_error_set(QV_ERR_INVALID_ARG,
                                    "VM '%s': <channel> %u has <target name='%s'>, as <channel> "
                                    "%u does",
                                    def->name, i + 1, c->target_name, j + 1);
        }
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
        g_autofree char *what = g_strdup_printf("<channel> %u", i + 1);
        g_autofree char *at = NULL;
        if (c->addr.type == QV_ADDR_VIRTIO_SERIAL && c->addr.port &&
            vserial_at(v, &c->addr, what, &used, &at) < 0)
            return qv_error_code();
        if (!at) {
            /* libvirt's numbering: the next port no address has taken. */
            if (c->addr.type == QV_ADDR_VIRTIO_SERIAL && c->addr.controller != 0) {
                /* QEMU numbers the ports of the other controllers. */
                if (vserial_at(v, &c->addr, what, &used, &at) < 0)
                    return qv_error_code();
            } else {
                while (next < 31 && (used & (1u << next)))
                    next++;
                if (next >= v->vserial_ports[0])
                    return qemu_argv_unsupported(v, "more <channel>s than the virtio-serial "
                                                    "controller has ports");
                used |= 1u << next;
                at = g_strdup_printf(",bus=" VIRTIO_SERIAL_BUS ".0,nr=%u", next);
            }
        }
        GString *dev = g_string_new(NULL);
        g_string_printf(dev, "virtserialport%s,chardev=charchannel%u,id=channel%u", at, i, i);
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
        rc = g_strcmp0(c->target_type, "virtio") == 0 ? add_virtio_console(v, c, i, &used) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}
