/* Where devices sit on the QEMU command line. A disk, NIC or kept device
 * with an <address> goes exactly there (bus=pci.N or the root bus,
 * addr=0xS.F; a drive address picks the IDE/SATA port or SCSI target and
 * LUN); two devices at one place, a slot the machine's own devices hold,
 * or a bus no controller adds are refused at define rather than left for
 * QEMU to fail on at start. Devices without an address are placed by QEMU
 * in the first free slot of the root bus as it creates them, so
 * qemu_argv_pci_order() puts every device with a root-bus slot of its
 * own before the first one QEMU places: the slot is then still free. */
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"

static int refuse(const struct qemu_argv *v, const char *what, int line, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static int refuse(const struct qemu_argv *v, const char *what, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *at = line > 0 ? g_strdup_printf(" (line %d)", line) : g_strdup("");
    return qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s': %s <address>%s: %s", v->def->name, what, at,
                        why);
}

void qemu_argv_pci_bus_add(struct qemu_argv *v, unsigned index, bool one_slot)
{
    if (index >= 256)
        return;
    v->pci_buses[index / 32] |= 1u << (index % 32);
    if (one_slot)
        v->one_slot_buses[index / 32] |= 1u << (index % 32);
}

static bool bus_bit(const uint32_t *bits, unsigned index)
{
    return index < 256 && (bits[index / 32] & (1u << (index % 32)));
}

/* The functions the machine itself has on its root bus. */
static const char *builtin(const struct qv_domain *def, unsigned slot, unsigned fn)
{
    static const struct {
        unsigned slot, fn;
        const char *what;
    } pc[] = {{0, 0, "host bridge"},
              {1, 0, "PIIX3 ISA bridge"},
              {1, 1, "IDE controller"},
              {1, 3, "ACPI power management"}},
      q35[] = {{0, 0, "host bridge"},
               {0x1f, 0, "LPC bridge"},
               {0x1f, 2, "SATA controller"},
               {0x1f, 3, "SMBus controller"}};
    bool is_q35 = qemu_is_q35(def);
    for (size_t i = 0; i < 4; i++) {
        unsigned s = is_q35 ? q35[i].slot : pc[i].slot, f = is_q35 ? q35[i].fn : pc[i].fn;
        if (s == slot && f == fn)
            return is_q35 ? q35[i].what : pc[i].what;
    }
    return NULL;
}

/* Record a place; false (with the error set) when something has it. */
static bool take(struct qemu_argv *v, char *key, const char *what, int line)
{
    const char *holder = g_hash_table_lookup(v->taken, key);
    if (holder) {
        refuse(v, what, line, "%s is already %s's place", strchr(key, ':') + 1, holder);
        g_free(key);
        return false;
    }
    g_hash_table_insert(v->taken, key, g_strdup(what));
    return true;
}

int qemu_argv_pci_at(struct qemu_argv *v, const struct qv_addr *a, const char *what, char **out)
{
    *out = NULL;
    if (a->type != QV_ADDR_PCI)
        return refuse(v, what, a->line, "a PCI device takes <address type='pci'>");
    if (a->domain != 0)
        return refuse(v, what, a->line, "QEMU's PC machines have PCI domain 0 only");
    if (a->bus != 0 && !bus_bit(v->pci_buses, a->bus))
        return refuse(v, what, a->line,
                      "no <controller type='pci' index='%u'> adds bus 0x%02x (the qemu driver "
                      "adds pcie-root-port controllers on q35)",
                      a->bus, a->bus);
    if (a->bus != 0 && bus_bit(v->one_slot_buses, a->bus) && a->slot != 0)
        return refuse(v, what, a->line, "bus 0x%02x is a PCIe root port, whose one slot is 0x00",
                      a->bus);
    const char *own = a->bus == 0 ? builtin(v->def, a->slot, a->function) : NULL;
    if (own)
        return refuse(v, what, a->line, "slot 0x%02x function %u of bus 0 is the machine's %s",
                      a->slot, a->function, own);
    if (!take(
            v,
            g_strdup_printf("pci:bus 0x%02x slot 0x%02x function %u", a->bus, a->slot, a->function),
            what, a->line))
        return qv_error_code();
    struct qemu_pci_fn f = {(uint8_t)a->bus,  a->slot, a->function,
                            a->multifunction, a->line, g_strdup(what)};
    g_array_append_val(v->functions, f);
    GString *s = g_string_new(NULL);
    if (a->bus == 0)
        g_string_append(s, qemu_is_q35(v->def) ? ",bus=pcie.0" : ",bus=pci.0");
    else
        g_string_append_printf(s, ",bus=pci.%u", a->bus);
    g_string_append_printf(s, ",addr=0x%x", a->slot);
    if (a->function)
        g_string_append_printf(s, ".0x%x", a->function);
    if (a->multifunction >= 0)
        g_string_append(s, a->multifunction ? ",multifunction=on" : ",multifunction=off");
    *out = g_string_free(s, FALSE);
    return 0;
}

int qemu_argv_device_at(struct qemu_argv *v, const struct qv_addr *a, const char *what, char **out)
{
    if (a->type == QV_ADDR_NONE)
        return qemu_argv_device_bus(v, out);
    return qemu_argv_pci_at(v, a, what, out);
}

int qemu_argv_drive_at(struct qemu_argv *v, const struct qv_disk *d, int idx, char **out)
{
    const char *name = v->def->name;
    g_autofree char *what = g_strdup_printf("<disk> '%s'", d->target);
    const struct qv_addr *a = &d->addr;
    int line = a->line;
    *out = NULL;
    if (a->type == QV_ADDR_PCI)
        return refuse(v, what, line,
                      "an %s disk sits on its controller and takes <address type='drive'>",
                      qv_conf_disk_buses[d->bus]);
    bool given = a->type == QV_ADDR_DRIVE;
    if (given && a->controller != 0 && d->bus != QV_DISK_BUS_SCSI && qemu_is_q35(v->def)) {
        /* A further AHCI controller the definition adds (ich9-ahci,id=sataN). */
        if (a->controller > 255 || !bus_bit(v->sata_added, a->controller))
            return refuse(v, what, line,
                          "no <controller type='sata' index='%u'> adds SATA controller %u",
                          a->controller, a->controller);
        if (a->bus != 0 || a->target != 0 || a->unit > 5)
            return refuse(v, what, line,
                          "a SATA controller has bus='0' target='0' and unit= 0 to 5");
        if (!take(v, g_strdup_printf("sata:SATA controller %u port %u", a->controller, a->unit),
                  what, line))
            return qv_error_code();
        *out = g_strdup_printf(",bus=sata%u.%u", a->controller, a->unit);
        return 0;
    }
    if (given && a->controller != 0)
        return refuse(v, what, line, "the qemu driver has one %s controller, controller='0'",
                      d->bus == QV_DISK_BUS_SCSI ? "SCSI" : "IDE/SATA");
    if (d->bus == QV_DISK_BUS_SCSI) {
        /* virtio-scsi: one bus, targets 0-255, LUNs 0-16383. */
        unsigned target = given ? a->target : (unsigned)idx, lun = given ? a->unit : 0;
        if (given && (a->bus != 0 || a->target > 255 || a->unit > 16383))
            return refuse(v, what, line,
                          "virtio-scsi has bus='0', target= 0 to 255 and unit= 0 to 16383");
        if (!take(v, g_strdup_printf("scsi:SCSI target %u unit %u", target, lun), what, line))
            return qv_error_code();
        *out = g_strdup_printf(",bus=scsi0.0,channel=0,scsi-id=%u,lun=%u", target, lun);
        return 0;
    }
    if (qemu_is_q35(v->def)) {
        /* q35's AHCI: six ports, one disk each (libvirt's unit=). */
        if (given && (a->bus != 0 || a->target != 0 || a->unit > 5))
            return refuse(v, what, line,
                          "q35's SATA controller has bus='0' target='0' and "
                          "unit= 0 to 5");
        if (!given && idx > 5)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': disk %s: q35 has 6 SATA ports (sda-sdf)", name,
                                d->target);
        unsigned port = given ? a->unit : (unsigned)idx;
        if (!take(v, g_strdup_printf("sata:SATA port %u", port), what, line))
            return qv_error_code();
        *out = g_strdup_printf(",bus=ide.%u", port);
        return 0;
    }
    if (d->bus == QV_DISK_BUS_SATA)
        return qemu_argv_unsupported(v, "a SATA disk on machine pc (use q35 or bus='ide')");
    if (given && (a->bus > 1 || a->target != 0 || a->unit > 1))
        return refuse(v, what, line,
                      "the pc machine's IDE controller has bus= 0 or 1, target='0' and unit= 0 "
                      "or 1");
    if (!given && idx > 3)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': disk %s: the pc machine has 4 IDE slots (hda-hdd)", name,
                            d->target);
    unsigned bus = given ? a->bus : (unsigned)idx / 2, unit = given ? a->unit : (unsigned)idx % 2;
    if (!take(v, g_strdup_printf("ide:IDE bus %u unit %u", bus, unit), what, line))
        return qv_error_code();
    *out = g_strdup_printf(",bus=ide.%u,unit=%u", bus, unit);
    return 0;
}

/* The value of "key=" among a -device's properties, or NULL. */
static char *device_prop(const char *dev, const char *key)
{
    g_autofree char *needle = g_strdup_printf(",%s=", key);
    const char *p = strstr(dev, needle);
    if (!p)
        return NULL;
    p += strlen(needle);
    return g_strndup(p, strcspn(p, ","));
}

/* 1: at a root-bus slot of its own; 0: QEMU picks its slot (or it is not
 * a PCI device); -1: on another bus. */
static int root_slot_kind(const char *dev)
{
    g_autofree char *bus = device_prop(dev, "bus");
    g_autofree char *addr = device_prop(dev, "addr");
    bool root = !bus || strcmp(bus, "pci.0") == 0 || strcmp(bus, "pcie.0") == 0;
    if (!root)
        return -1;
    return addr ? 1 : 0;
}

void qemu_argv_pci_order(struct qemu_argv *v)
{
    GPtrArray *a = v->a;
    guint first_auto = a->len;
    for (guint i = 0; i + 1 < a->len; i++)
        if (strcmp(g_ptr_array_index(a, i), "-device") == 0 &&
            root_slot_kind(g_ptr_array_index(a, i + 1)) == 0) {
            first_auto = i;
            break;
        }
    GPtrArray *hoisted = g_ptr_array_new();
    for (guint i = first_auto; i + 1 < a->len;) {
        if (strcmp(g_ptr_array_index(a, i), "-device") == 0 &&
            root_slot_kind(g_ptr_array_index(a, i + 1)) == 1) {
            g_ptr_array_add(hoisted, g_ptr_array_steal_index(a, i));
            g_ptr_array_add(hoisted, g_ptr_array_steal_index(a, i));
        } else {
            i++;
        }
    }
    for (guint i = 0; i < hoisted->len; i++)
        g_ptr_array_insert(a, (gint)(first_auto + i), g_ptr_array_index(hoisted, i));
    g_ptr_array_free(hoisted, TRUE);
}

int qemu_argv_usb_at(struct qemu_argv *v, unsigned port, const char *what, int line)
{
    unsigned n = qemu_usb_ports(v->def);
    if (n == 0)
        return refuse(v, what, line,
                      "a USB device needs a <controller type='usb'> other than model='none'");
    if (port < 1 || port > n)
        return refuse(v, what, line, "port='%u': the USB controller has ports 1 to %u", port, n);
    if (!take(v, g_strdup_printf("usb:USB port %u", port), what, line))
        return qv_error_code();
    return 0;
}

int qemu_argv_check_multifunction(struct qemu_argv *v)
{
    GArray *fns = v->functions;
    for (guint i = 0; i < fns->len; i++) {
        const struct qemu_pci_fn *f = &g_array_index(fns, struct qemu_pci_fn, i);
        if (f->function == 0 || (f->bus == 0 && builtin(v->def, f->slot, 0)))
            continue;
        const struct qemu_pci_fn *zero = NULL;
        for (guint j = 0; j < fns->len && !zero; j++) {
            const struct qemu_pci_fn *o = &g_array_index(fns, struct qemu_pci_fn, j);
            if (o->bus == f->bus && o->slot == f->slot && o->function == 0)
                zero = o;
        }
        if (!zero)
            return refuse(v, f->what, f->line,
                          "function %u of bus 0x%02x slot 0x%02x, whose function 0 nothing holds "
                          "(QEMU and the guest see a slot by its function 0)",
                          f->function, f->bus, f->slot);
        if (zero->multifunction != 1)
            return refuse(v, f->what, f->line,
                          "function %u of bus 0x%02x slot 0x%02x, whose function 0 (%s, line %d) "
                          "does not say multifunction='on'",
                          f->function, f->bus, f->slot, zero->what, zero->line);
    }
    return 0;
}
