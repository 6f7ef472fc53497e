/* The one serial port of the boards the kvm and qemu drivers build: a 16550
 * at 0x3f8 (isa-serial, port 0). libvirt lets a definition name it twice, as
 * <serial> and as a <console> of target type serial; both drivers read the
 * same answer from here, so they agree on what such a definition means. */
#include <string.h>

#include "../util/error.h"
#include "conf_check.h"
#include "domain.h"

static bool chardev_same(const struct qv_chardev *a, const struct qv_chardev *b)
{
    return a->type == b->type && g_strcmp0(a->path, b->path) == 0 &&
           g_strcmp0(a->host, b->host) == 0 && g_strcmp0(a->service, b->service) == 0 &&
           a->listen == b->listen;
}

const char *qv_domain_serial_device(const struct qv_chardev *c)
{
    return c->target_type ? c->target_type : c->target_model ? c->target_model : "isa-serial";
}

/* What the board lacks is the driver's refusal, so it carries the driver's
 * origin; a console contradicting its serial port is the definition's
 * fault wherever it is used. */
int qv_domain_serial_port(const struct qv_domain *def, const char *driver,
                          const struct qv_chardev **out)
{
    const char *name = def->name ? def->name : "";
    *out = NULL;
    if (def->serials->len > 1)
        return qv_error_set_origin(
            QV_ERR_UNSUPPORTED, driver,
            "VM '%s': more than one <serial> port is not supported by the %s "
            "driver (the board has one: isa-serial, port 0)",
            name, driver);
    const struct qv_chardev *serial = def->serials->len ? g_ptr_array_index(def->serials, 0) : NULL;
    if (serial && strcmp(qv_domain_serial_device(serial), "isa-serial") != 0)
        return qv_error_set_origin(QV_ERR_UNSUPPORTED, driver,
                                   "VM '%s': <serial> <target type='%s'> is not supported by the "
                                   "%s driver (the board has one: isa-serial, port 0)",
                                   name, qv_domain_serial_device(serial), driver);
    if (serial && serial->port != 0)
        return qv_error_set_origin(QV_ERR_UNSUPPORTED, driver,
                                   "VM '%s': <serial> <target port='%u'> is not supported by the "
                                   "%s driver (the board has one: isa-serial, port 0)",
                                   name, serial->port, driver);
    return qv_domain_serial_console(def, driver, true, out);
}

int qv_domain_serial_console(const struct qv_domain *def, const char *driver, bool virtio_apart,
                             const struct qv_chardev **out)
{
    const char *name = def->name ? def->name : "";
    const struct qv_chardev *serial = def->serials->len ? g_ptr_array_index(def->serials, 0) : NULL;
    *out = NULL;
    guint nth = 0;
    for (guint i = 0; i < def->consoles->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->consoles, i);
        if (virtio_apart && g_strcmp0(c->target_type, "virtio") == 0)
            continue;
        if (c->target_type && strcmp(c->target_type, "serial") != 0)
            return qv_error_set_origin(
                QV_ERR_UNSUPPORTED, driver,
                "VM '%s': <console> <target type='%s'> is not supported by the "
                "%s driver (only the serial console)",
                name, c->target_type, driver);
        if (nth++ > 0)
            return qv_error_set_origin(QV_ERR_UNSUPPORTED, driver,
                                       "VM '%s': more than one <console> is not supported by the "
                                       "%s driver (the console is the first serial port)",
                                       name, driver);
        if (c->port != 0)
            return qv_error_set_origin(
                QV_ERR_UNSUPPORTED, driver,
                "VM '%s': <console> <target port='%u'> is not supported by "
                "the %s driver (the console is the first serial port, port 0)",
                name, c->port, driver);
        /* Two different backends for one port: one of them would be
         * ignored, so neither is guessed at. */
        if (!serial)
            serial = c;
        else if (!chardev_same(serial, c))
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': <console type='%s'> must repeat the first <serial> "
                                "(type '%s') it stands for",
                                name, qv_conf_chr_types[c->type], qv_conf_chr_types[serial->type]);
    }
    *out = serial;
    return 0;
}
