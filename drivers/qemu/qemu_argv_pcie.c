/* PCIe root ports for hot-plug on q35. Devices on q35's root complex
 * (pcie.0) cannot be unplugged and nothing can be plugged there while the
 * VM runs, so, as libvirt does, every virtio disk and every NIC the
 * definition declares gets a root port of its own (so it can be removed
 * live), and QEMU_SPARE_ROOT_PORTS more stay free for devices added live.
 * On pc every slot of pci.0 is hot-pluggable and none of this applies. */
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
