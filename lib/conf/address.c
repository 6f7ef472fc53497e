/* Device addresses and user aliases of disks and NICs: the JSON config's
 * text form and the rules every driver shares. */
#include <stdio.h>
#include <string.h>

#include "../util/error.h"
#include "address.h"
#include "conf_check.h"

char *qv_conf_addr_string(const struct qv_addr *a)
{
    if (a->type == QV_ADDR_PCI)
        return g_strdup_printf("pci:%04x:%02x:%02x.%x%s", a->domain, a->bus, a->slot, a->function,
                               a->multifunction < 0   ? ""
                               : a->multifunction > 0 ? ",multifunction=on"
                                                      : ",multifunction=off");
    if (a->type == QV_ADDR_DRIVE)
        return g_strdup_printf("drive:%u:%u:%u:%u", a->controller, a->bus, a->target, a->unit);
    if (a->type == QV_ADDR_VIRTIO_SERIAL)
        return g_strdup_printf("virtio-serial:%u:%u:%u", a->controller, a->bus, a->port);
    if (a->type == QV_ADDR_ISA) {
        g_autofree char *io =
            a->iobase >= 0 ? g_strdup_printf("0x%x", (unsigned)a->iobase) : g_strdup("");
        g_autofree char *irq = a->irq >= 0 ? g_strdup_printf("%d", a->irq) : g_strdup("");
        return g_strdup_printf("isa:%s:%s", io, irq);
    }
    return NULL;
}

/* n hex digits exactly, then the separator sep (or the end when 0). */
static bool hex_part(const char **s, int digits, char sep, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < digits; i++) {
        if (!g_ascii_isxdigit((*s)[i]))
            return false;
        v = v * 16 + (unsigned)g_ascii_xdigit_value((*s)[i]);
    }
    *s += digits;
    if (sep && *(*s)++ != sep)
        return false;
    *out = v;
    return true;
}

const char *qv_conf_addr_parse(const char *s, struct qv_addr *out)
{
    struct qv_addr a = {.multifunction = -1};
    if (g_str_has_prefix(s, "pci:")) {
        const char *p = s + 4;
        unsigned dom, bus, slot, fn;
        if (!hex_part(&p, 4, ':', &dom) || !hex_part(&p, 2, ':', &bus) ||
            !hex_part(&p, 2, '.', &slot) || !hex_part(&p, 1, 0, &fn) || slot > 0x1f || fn > 7)
            return "is not a PCI address like \"pci:0000:03:00.0\" (slot up to 1f, function up "
                   "to 7)";
        if (strcmp(p, ",multifunction=on") == 0)
            a.multifunction = 1;
        else if (strcmp(p, ",multifunction=off") == 0)
            a.multifunction = 0;
        else if (*p)
            return "may only end in \",multifunction=on\" or \",multifunction=off\"";
        a.type = QV_ADDR_PCI;
        a.domain = (uint16_t)dom;
        a.bus = bus;
        a.slot = (uint8_t)slot;
        a.function = (uint8_t)fn;
    } else if (g_str_has_prefix(s, "drive:")) {
        g_auto(GStrv) parts = g_strsplit(s + 6, ":", -1);
        uint64_t v[4];
        if (g_strv_length(parts) != 4)
            return "is not a drive address like \"drive:0:0:1:0\" (controller:bus:target:unit)";
        for (int i = 0; i < 4; i++)
            if (!qv_conf_parse_uint(parts[i], UINT32_MAX, &v[i]))
                return "is not a drive address like \"drive:0:0:1:0\" (controller:bus:target:unit)";
        a.type = QV_ADDR_DRIVE;
        a.controller = (uint32_t)v[0];
        a.bus = (uint32_t)v[1];
        a.target = (uint32_t)v[2];
        a.unit = (uint32_t)v[3];
    } else if (g_str_has_prefix(s, "virtio-serial:")) {
        g_auto(GStrv) parts = g_strsplit(s + 14, ":", -1);
        uint64_t v[3];
        static const uint64_t max[3] = {255, 255, 30};
        if (g_strv_length(parts) != 3)
            return "is not a virtio-serial address like \"virtio-serial:0:0:1\" "
                   "(controller:bus:port)";
        for (int i = 0; i < 3; i++)
            if (!qv_conf_parse_uint(parts[i], max[i], &v[i]))
                return "is not a virtio-serial address like \"virtio-serial:0:0:1\" "
                       "(controller and bus up to 255, port up to 30)";
        a.type = QV_ADDR_VIRTIO_SERIAL;
        a.controller = (uint32_t)v[0];
        a.bus = (uint32_t)v[1];
        a.port = (uint32_t)v[2];
    } else if (g_str_has_prefix(s, "isa:")) {
        g_auto(GStrv) parts = g_strsplit(s + 4, ":", -1);
        unsigned io = 0;
        uint64_t irq = 0;
        const char *p = parts[0] ? parts[0] : "";
        bool io_ok = !*p || (g_str_has_prefix(p, "0x") && strlen(p) <= 6 && strlen(p) > 2 &&
                             (p += 2, hex_part(&p, (int)strlen(p), 0, &io)));
        if (g_strv_length(parts) != 2 || !io_ok ||
            (*parts[1] && !qv_conf_parse_uint(parts[1], 15, &irq)))
            return "is not an ISA address like \"isa:0x2f8:3\" (I/O port in hex, IRQ 0-15; "
                   "either may be left empty)";
        a.type = QV_ADDR_ISA;
        a.iobase = *parts[0] ? (int32_t)io : -1;
        a.irq = *parts[1] ? (int32_t)irq : -1;
    } else {
        return "is not an address (\"pci:0000:03:00.0\", \"drive:0:0:1:0\", "
               "\"virtio-serial:0:0:1\" or \"isa:0x2f8:3\")";
    }
    *out = a;
    return NULL;
}

const char *qv_conf_check_alias(const char *s)
{
    if (!g_str_has_prefix(s, "ua-") || !s[3])
        return "is not a user alias (\"ua-\" and a name; libvirt names its own aliases)";
    if (strlen(s) > 64)
        return "is longer than 64 characters";
    for (const char *p = s; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
            return "may only hold letters, digits, '-' and '_'";
    return NULL;
}

/* One disk or NIC, for the checks below. */
struct placed {
    const char *what; /* "disk 'vda'" */
    const struct qv_addr *addr;
    const char *alias;
    int bus; /* enum qv_disk_bus for a disk, -1 for a NIC */
};

static GArray *placed_of(const struct qv_domain *def, GPtrArray *names_out)
{
    GArray *out = g_array_new(FALSE, TRUE, sizeof(struct placed));
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        char *what = g_strdup_printf("<disk> '%s'", d->target ? d->target : "");
        g_ptr_array_add(names_out, what);
        struct placed p = {what, &d->addr, d->alias, (int)d->bus};
        g_array_append_val(out, p);
    }
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        char *what = g_strdup_printf("<interface> %s", n->mac[0] ? n->mac : "(no MAC yet)");
        g_ptr_array_add(names_out, what);
        struct placed p = {what, &n->addr, n->alias, -1};
        g_array_append_val(out, p);
    }
    /* Serials, consoles, channels and rngs have an <address> but no alias. */
    GPtrArray *lists[] = {def->serials, def->consoles, def->channels, def->rngs};
    const char *names[] = {"serial", "console", "channel", "rng"};
    for (size_t l = 0; l < G_N_ELEMENTS(lists); l++)
        for (guint i = 0; i < lists[l]->len; i++) {
            const void *dev = g_ptr_array_index(lists[l], i);
            const struct qv_addr *a = l < 2    ? &((const struct qv_chardev *)dev)->addr
                                      : l == 2 ? &((const struct qv_channel *)dev)->addr
                                               : &((const struct qv_rng *)dev)->addr;
            if (a->type == QV_ADDR_NONE)
                continue;
            char *what = g_strdup_printf("<%s> %u", names[l], i + 1);
            g_ptr_array_add(names_out, what);
            struct placed p = {what, a, NULL, -1};
            g_array_append_val(out, p);
        }
    return out;
}

static bool same_place(const struct placed *x, const struct placed *y)
{
    const struct qv_addr *a = x->addr, *b = y->addr;
    if (a->type != b->type || a->type == QV_ADDR_NONE)
        return false;
    if (a->type == QV_ADDR_PCI)
        return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot &&
               a->function == b->function;
    if (a->type == QV_ADDR_VIRTIO_SERIAL)
        return a->controller == b->controller && a->bus == b->bus && a->port == b->port &&
               a->port != 0; /* port 0 (or none said): the driver numbers it */
    if (a->type == QV_ADDR_ISA)
        return a->iobase >= 0 && a->iobase == b->iobase;
    /* IDE and SATA share the machine's one controller on pc and q35. */
    bool xs = x->bus == QV_DISK_BUS_SCSI, ys = y->bus == QV_DISK_BUS_SCSI;
    return xs == ys && a->controller == b->controller && a->bus == b->bus &&
           a->target == b->target && a->unit == b->unit;
}

int qv_conf_check_addresses(const struct qv_domain *def)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) all = placed_of(def, names);
    const char *vm = def->name ? def->name : "";
    for (guint i = 0; i < all->len; i++) {
        const struct placed *a = &g_array_index(all, struct placed, i);
        for (guint j = 0; j < i; j++) {
            const struct placed *b = &g_array_index(all, struct placed, j);
            if (a->alias && b->alias && strcmp(a->alias, b->alias) == 0)
                return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': %s and %s both have alias '%s'",
                                    vm, b->what, a->what, a->alias);
            if (same_place(a, b)) {
                g_autofree char *where = qv_conf_addr_string(a->addr);
                return qv_error_set(QV_ERR_INVALID_ARG,
                                    "VM '%s': %s and %s are both at <address> %s", vm, b->what,
                                    a->what, where);
            }
        }
    }
    return 0;
}

int qv_domain_refuse_addresses(const struct qv_domain *def, const char *driver, const char *why)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) all = placed_of(def, names);
    for (guint i = 0; i < all->len; i++) {
        const struct placed *p = &g_array_index(all, struct placed, i);
        if (p->addr->type == QV_ADDR_NONE && !p->alias)
            continue;
        const char *elem = p->addr->type != QV_ADDR_NONE ? "address" : "alias";
        g_autofree char *line = p->addr->type != QV_ADDR_NONE && p->addr->line > 0
                                    ? g_strdup_printf(" (line %d)", p->addr->line)
                                    : g_strdup("");
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': the %s driver cannot honour <%s> of %s%s: %s",
                            def->name ? def->name : "", driver, elem, p->what, line, why);
    }
    return 0;
}
