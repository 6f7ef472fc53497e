/* Top-level elements the qemu driver does not carry out, each refused with
 * the reason; and <seclabel type='none'>, which it honours: qv applies no
 * security labels to a VM's process or files. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "qemu_argv_machine.h"

int qemu_argv_seclabel(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    g_autofree char *type = qv_conf_xml_attr(n, "type");
    g_autofree char *model = qv_conf_xml_attr(n, "model");
    if (type && strcmp(type, "none") == 0)
        return 0;
    /* What libvirt writes on every running domain: a DAC label its driver
     * picks. qv's QEMU runs as the user who starts it, which is the label
     * qv picks; it opens only what that user may, so nothing needs
     * relabelling. A <label> naming another user is refused. */
    if (type && strcmp(type, "dynamic") == 0 && model && strcmp(model, "dac") == 0 &&
        !qemu_xml_child(n, "label"))
        return 0;
    return qemu_machine_refuse(v, k, n,
                               "qv applies no SELinux, AppArmor or static DAC labels to QEMU; "
                               "type='none' and a dynamic DAC label are honoured");
}

int qemu_argv_unhonoured(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const why[][2] = {
        {"resource", "qv puts a VM in a cgroup of its own (for <cputune>), not in a "
                     "partition or under a fibre channel application id"},
        {"keywrap", "key wrapping is s390 crypto, not an x86 QEMU guest's"},
        {"launchSecurity", "qv does not set up AMD SEV or other confidential guests"},
        {"perf", "qv does not count host perf events for a VM"},
        {"idmap", "user namespace id maps are for containers"},
        {"throttlegroups", "shared I/O limit groups are not supported: use a disk's <iotune>"},
        {"genid", "QEMU's vmgenid device is not added by qv"},
        {"bootloader", "a host-side boot loader is Xen's"},
        {"bootloader_args", "a host-side boot loader is Xen's"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(why); i++)
        if (!n->ns && strcmp((const char *)n->name, why[i][0]) == 0)
            return qemu_machine_refuse(v, k, n, "%s", why[i][1]);
    return qemu_machine_refuse(v, k, n, "%s", k->reason);
}
