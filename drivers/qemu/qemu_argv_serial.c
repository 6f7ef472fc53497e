/* The <serial> ports as QEMU devices. The first port (or the <console>
 * standing for it) is the VM's console: chardev serial0, with QEMU's
 * logfile= keeping the guest's output in console.log whatever the type.
 * Each port is the device its <target type=> (or <model name=>) names: the
 * 16550s of the ISA bus (COM1-COM4, index = target port), a pci-serial, or
 * a usb-serial on the USB controller. An <address type='isa' iobase= irq=>
 * places an isa-serial at that I/O port and IRQ (else those of COM port+1),
 * an <address type='pci'> a pci-serial. */
#include <stdarg.h>
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"

#define QEMU_ISA_SERIAL_PORTS 4

/* The I/O port an isa-serial answers at: its address's, or COM port+1's. */
static int isa_iobase(const struct qv_chardev *c)
{
    static const int com[QEMU_ISA_SERIAL_PORTS] = {0x3f8, 0x2f8, 0x3e8, 0x2e8};
    if (c->addr.type == QV_ADDR_ISA && c->addr.iobase >= 0)
        return c->addr.iobase;
    return c->port < QEMU_ISA_SERIAL_PORTS ? com[c->port] : -1;
}

static int serial_refuse(const struct qv_domain *def, guint i, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static int serial_refuse(const struct qv_domain *def, guint i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qv_error_set_origin(QV_ERR_UNSUPPORTED, "qemu",
                               "VM '%s': <serial> %u is not supported by the qemu driver: %s",
                               def->name, i + 1, why);
}

/* What QEMU cannot be given: a fifth ISA port, two on one COM port, stdio
 * (the terminal of `qv vm run`) on any port but the console. */
static int check_serials(const struct qv_domain *def)
{
    for (guint i = 0; i < def->serials->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->serials, i);
        if (strcmp(qv_domain_serial_device(c), "isa-serial") != 0)
            continue;
        if (c->port >= QEMU_ISA_SERIAL_PORTS)
            return serial_refuse(
                def, i, "<target type='isa-serial' port='%u'>: the ISA bus has ports 0-3", c->port);
        for (guint j = 0; j < i; j++) {
            const struct qv_chardev *o = g_ptr_array_index(def->serials, j);
            if (strcmp(qv_domain_serial_device(o), "isa-serial") != 0)
                continue;
            if (o->port == c->port)
                return serial_refuse(def, i, "<serial> %u has isa-serial port %u too", j + 1,
                                     c->port);
            if (isa_iobase(o) == isa_iobase(c))
                return serial_refuse(def, i, "<serial> %u answers at I/O port 0x%x too", j + 1,
                                     (unsigned)isa_iobase(c));
        }
    }
    for (guint i = 1; i < def->serials->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->serials, i);
        if (c->type == QV_CHR_STDIO)
            return serial_refuse(def, i, "only the first port (the console) can be type 'stdio'");
    }
    for (guint i = 0; i < def->serials->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->serials, i);
        const char *dev = qv_domain_serial_device(c);
        bool isa = strcmp(dev, "isa-serial") == 0, pci = strcmp(dev, "pci-serial") == 0;
        if ((c->addr.type == QV_ADDR_ISA && !isa) || (c->addr.type == QV_ADDR_PCI && !pci))
            return serial_refuse(def, i, "<address type='%s'> (line %d) on a %s",
                                 c->addr.type == QV_ADDR_ISA ? "isa" : "pci", c->addr.line, dev);
    }
    for (guint i = 0; i < def->consoles->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->consoles, i);
        if (c->addr.type != QV_ADDR_NONE && g_strcmp0(c->target_type, "virtio") != 0)
            return qv_error_set_origin(QV_ERR_UNSUPPORTED, "qemu",
                                       "VM '%s': <console> %u: an <address> (line %d) places a "
                                       "virtio console only",
                                       def->name, i + 1, c->addr.line);
    }
    return 0;
}

int qemu_serial_of(const struct qv_domain *def, const struct qv_chardev **out)
{
    int rc = check_serials(def);
    return rc < 0 ? rc : qv_domain_serial_console(def, "qemu", true, out);
}

char *qemu_console_endpoint_of(const struct qv_domain *def, const char *dir)
{
    const struct qv_chardev *c = NULL;
    if (qemu_serial_of(def, &c) < 0)
        qv_reset_error();
    if (c && c->type == QV_CHR_FILE)
        return g_strdup_printf("file:%s", c->path);
    if (c && c->type == QV_CHR_UNIX)
        return g_strdup_printf("unix:%s", c->path);
    if (c && c->type == QV_CHR_TCP)
        return g_strdup_printf("tcp:%s:%s", c->host, c->service);
    if (!c || c->type == QV_CHR_PTY || c->type == QV_CHR_STDIO)
        return NULL;
    return g_strdup_printf("file:%s/console.log", dir); /* null */
}

/* "-chardev" for port i (id serialI). pty and stdio are a pty: QEMU runs
 * daemonized, so "stdio" is the caller's terminal through `qv vm run`,
 * which relays the pty of the console. */
static int add_chardev(struct qemu_argv *v, const struct qv_chardev *c, guint i, const char *dir)
{
    GString *spec = g_string_new(NULL);
    enum qv_chardev_type type = c ? c->type : QV_CHR_PTY;
    g_autofree char *path = c && c->path ? qemu_opt_escape(c->path) : NULL;
    switch (type) {
    case QV_CHR_PTY:
    case QV_CHR_STDIO:
        /* A pty's <source path> is where libvirt reports the pty it got,
         * not a request: QEMU picks the pty. */
        g_string_printf(spec, "pty,id=serial%u", i);
        break;
    case QV_CHR_FILE: g_string_printf(spec, "file,id=serial%u,path=%s", i, path); break;
    case QV_CHR_UNIX:
        g_string_printf(spec, "socket,id=serial%u,path=%s,server=%s", i, path,
                        c->listen ? "on,wait=off" : "off");
        break;
    case QV_CHR_TCP:
        if (!qemu_plain_word(c->host)) {
            g_string_free(spec, TRUE);
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': <serial> host '%s' is not a host name", v->def->name,
                                c->host);
        }
        g_string_printf(spec, "socket,id=serial%u,host=%s,port=%s,server=%s", i, c->host,
                        c->service, c->listen ? "on,wait=off" : "off");
        break;
    case QV_CHR_NULL: g_string_printf(spec, "null,id=serial%u", i); break;
    default: g_string_free(spec, TRUE); return qemu_argv_unsupported(v, "this <serial> type");
    }
    if (i == 0)
        g_string_append_printf(spec, ",logfile=%s/console.log,logappend=on", dir);
    qemu_argv_add(v, "-chardev");
    g_ptr_array_add(v->a, g_string_free(spec, FALSE));
    return 0;
}

static int add_device(struct qemu_argv *v, const struct qv_chardev *c, guint i)
{
    const char *dev = c ? qv_domain_serial_device(c) : "isa-serial";
    uint32_t port = c ? c->port : 0;
    bool placed = c && c->addr.type != QV_ADDR_NONE;
    if (strcmp(dev, "isa-serial") == 0 && i == 0 && port == 0 && !placed) {
        /* COM1, as the board without -nodefaults would have it. */
        qemu_argv_add2(v, "-serial", "chardev:serial0");
        return 0;
    }
    g_autofree char *at = NULL;
    if (placed && c->addr.type == QV_ADDR_ISA)
        at = g_strdup_printf(",iobase=0x%x,irq=%d", (unsigned)isa_iobase(c),
                             c->addr.irq >= 0 ? c->addr.irq : (port % 2 ? 3 : 4));
    if (placed && c->addr.type == QV_ADDR_PCI) {
        g_autofree char *what = g_strdup_printf("<serial> %u", i + 1);
        if (qemu_argv_pci_at(v, &c->addr, what, &at) < 0)
            return qv_error_code();
    }
    qemu_argv_add(v, "-device");
    if (strcmp(dev, "isa-serial") == 0)
        qemu_argv_addf(v, "isa-serial,chardev=serial%u,id=serial%u,index=%u%s", i, i, port,
                       at ? at : "");
    else if (strcmp(dev, "pci-serial") == 0)
        qemu_argv_addf(v, "pci-serial,chardev=serial%u,id=serial%u%s", i, i, at ? at : "");
    else if (!qemu_has_usb_bus(v->def))
        return serial_refuse(v->def, i,
                             "a usb-serial needs a <controller type='usb'> other "
                             "than model='none'");
    else
        qemu_argv_addf(v, "usb-serial,chardev=serial%u,id=serial%u,bus=usb.0", i, i);
    return 0;
}

int qemu_argv_add_serials(struct qemu_argv *v, const char *dir)
{
    const struct qv_chardev *first = NULL;
    int rc = qemu_serial_of(v->def, &first);
    if (rc < 0)
        return rc;
    /* The console: the first <serial>, or the <console> standing for it,
     * or a pty when the definition names neither. */
    if ((rc = add_chardev(v, first, 0, dir)) < 0 ||
        (rc = add_device(v, v->def->serials->len ? first : NULL, 0)) < 0)
        return rc;
    for (guint i = 1; i < v->def->serials->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(v->def->serials, i);
        if ((rc = add_chardev(v, c, i, dir)) < 0 || (rc = add_device(v, c, i)) < 0)
            return rc;
    }
    return 0;
}
