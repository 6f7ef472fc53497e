/* PCIe root ports for hot-plug on q35. Devices on q35's root complex
 * (pcie.0) cannot be unplugged and nothing can be plugged there while the
 * VM runs, so, as libvirt does, every virtio disk and every NIC the
 * definition declares gets a root port of its own (so it can be removed
 * live), and QEMU_SPARE_ROOT_PORTS more stay free for devices added live.
 * On pc every slot of pci.0 is hot-pluggable and none of this applies.
 * pcie.0 has 30 free slots at most: as libvirt does, qv's ports are packed
 * eight to a slot (functions 0-7, function 0 multifunction=on), in slots
 * no <address> of the definition and no device of the machine holds,
 * so a VM with many disks and NICs still starts. */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

bool qemu_argv_chassis_take(struct qemu_argv *v, unsigned chassis)
{
    if (chassis >= 256 || (v->chassis_used[chassis / 32] & (1u << (chassis % 32))))
        return false;
    v->chassis_used[chassis / 32] |= 1u << (chassis % 32);
    return true;
}

/* A new root port on pcie.0 with a chassis number no other port has. */
static int add_port(struct qemu_argv *v, char **id)
{
    unsigned chassis = 1;
    while (chassis < 256 && !qemu_argv_chassis_take(v, chassis))
        chassis++;
    if (chassis >= 256)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': no PCIe chassis number is left for another root port (255 "
                            "in use)",
                            v->def->name);
    *id = g_strdup_printf("%s%u", QEMU_ROOT_PORT_PREFIX, v->ports++);
    qemu_argv_add(v, "-device");
    qemu_argv_addf(v, "pcie-root-port,id=%s,chassis=%u,bus=pcie.0", *id, chassis);
    return 0;
}

int qemu_argv_device_bus(struct qemu_argv *v, char **placement)
{
    *placement = NULL;
    if (!qemu_is_q35(v->def)) {
        *placement = g_strdup("");
        return 0;
    }
    g_autofree char *id = NULL;
    int rc = add_port(v, &id);
    if (rc == 0)
        *placement = g_strdup_printf(",bus=%s", id);
    return rc;
}

/* The PCI functions on bus 0 an <address> took, or the machine has. */
static bool slot_used(struct qemu_argv *v, unsigned slot)
{
    if (slot == 0 || slot == 0x1f) /* q35's host bridge; its LPC, SATA and SMBus */
        return true;
    for (unsigned fn = 0; fn < 8; fn++) {
        g_autofree char *key =
            g_strdup_printf("pci:bus 0x%02x slot 0x%02x function %u", 0u, slot, fn);
        if (g_hash_table_contains(v->taken, key))
            return true;
    }
    return false;
}

int qemu_argv_place_ports(struct qemu_argv *v)
{
    static const char prefix[] = "pcie-root-port,id=" QEMU_ROOT_PORT_PREFIX;
    unsigned slot = 0, fn = 8;
    for (guint i = 1; i < v->a->len; i++) {
        char *spec = g_ptr_array_index(v->a, i);
        if (strcmp(g_ptr_array_index(v->a, i - 1), "-device") != 0 ||
            strncmp(spec, prefix, sizeof(prefix) - 1) != 0 || strstr(spec, ",addr="))
            continue;
        if (fn == 8) {
            do
                slot++;
            while (slot < 0x1f && slot_used(v, slot));
            if (slot >= 0x1f)
                return qv_error_set(QV_ERR_UNSUPPORTED,
                                    "VM '%s': no slot of pcie.0 is left for another PCIe root "
                                    "port (%u ports, 8 to a slot, beside the slots the "
                                    "definition's <address>es take)",
                                    v->def->name, v->ports);
            fn = 0;
            /* Held from now on: the QEMU-placed devices come after these. */
            for (unsigned f = 0; f < 8; f++)
                g_hash_table_insert(
                    v->taken, g_strdup_printf("pci:bus 0x00 slot 0x%02x function %u", slot, f),
                    g_strdup("qv's PCIe root ports"));
        }
        char *placed = fn == 0 ? g_strdup_printf("%s,addr=0x%x,multifunction=on", spec, slot)
                               : g_strdup_printf("%s,addr=0x%x.0x%x", spec, slot, fn);
        fn++;
        g_ptr_array_index(v->a, i) = placed;
        g_free(spec);
    }
    return 0;
}

int qemu_argv_add_spare_ports(struct qemu_argv *v)
{
    if (!qemu_is_q35(v->def))
        return 0;
    for (unsigned i = 0; i < QEMU_SPARE_ROOT_PORTS; i++) {
        g_autofree char *id = NULL;
        int rc = add_port(v, &id);
        if (rc < 0)
            return rc;
    }
    return 0;
}
