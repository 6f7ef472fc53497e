/* An <interface>'s <driver name= queues= rx_queue_size=> on its -netdev
 * and -device. vhost (the host kernel's virtio-net) and several queue
 * pairs need a tap, which QEMU opens multi-queue itself (queues=N); the
 * guest side is virtio-net with mq=on and the 2N+2 MSI-X vectors libvirt
 * gives it. User-mode networking (slirp) has one queue and no vhost. */
#include <string.h>
#include <unistd.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

static int refuse(const struct qemu_argv *v, const struct qv_net *n, const char *why)
{
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "VM '%s': the qemu driver cannot honour <interface> %s <driver>: %s",
                        v->def->name, n->mac, why);
}

int qemu_argv_net_driver(struct qemu_argv *v, const struct qv_net *n, GString *netdev,
                         GString *device)
{
    bool vhost = n->driver_name && strcmp(n->driver_name, "vhost") == 0;
    bool multi = n->queues > 1;
    if (!n->driver_name && !n->queues && !n->rx_queue_size)
        return 0;
    bool virtio = !n->model || strcmp(n->model, "virtio") == 0;
    if (!virtio && (vhost || multi || n->rx_queue_size))
        return refuse(v, n, "name='vhost', queues= and rx_queue_size= are virtio-net's");
    /* A start has mapped a network NIC by now; at define it may yet
     * become a bridge's tap. */
    bool starting = v->l->ssh_ports || v->l->tap_names;
    bool tap = g_str_has_prefix(netdev->str, "tap,");
    bool user = g_str_has_prefix(netdev->str, "user,");
    if ((vhost || multi) && user && (starting || n->type == QV_NET_USER))
        return refuse(v, n,
                      "user-mode networking has one queue and no vhost; use a bridge or "
                      "tap NIC");
    if ((vhost || multi) && !tap && !user && starting)
        return refuse(v, n,
                      "qemu-bridge-helper's tap has one queue and no vhost; start the VM "
                      "as root so qv makes the tap");
    /* QEMU 7.2 only warns when it cannot open the kernel's vhost, and with
     * several queues then aborts: refuse it here, naming what is missing. */
    if (vhost && access("/dev/vhost-net", R_OK | W_OK) != 0)
        return refuse(v, n,
                      "name='vhost' needs the host's /dev/vhost-net (modprobe vhost_net), "
                      "which is missing here; name='qemu' is QEMU's own virtio-net");
    if (tap) {
        if (n->driver_name)
            g_string_append_printf(netdev, ",vhost=%s", vhost ? "on" : "off");
        if (multi)
            g_string_append_printf(netdev, ",queues=%u", n->queues);
    }
    if (multi)
        g_string_append_printf(device, ",mq=on,vectors=%u", 2 * n->queues + 2);
    if (n->rx_queue_size)
        g_string_append_printf(device, ",rx_queue_size=%u", n->rx_queue_size);
    return 0;
}
