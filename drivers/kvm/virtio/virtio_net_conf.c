/* A virtio-net device from the definition's <interface>: what the in-tree
 * VMM can carry out is built, the rest refused naming the interface. */
#include <stdio.h>
#include <string.h>

#include "../../../lib/conf/domain.h"
#include "../../../lib/host/host_net.h"
#include "../../../lib/util/error.h"
#include "virtio_net.h"

static int refuse(const char *vm_name, const struct qv_net *n, const char *what)
{
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "VM '%s': the kvm driver cannot honour <interface> %s: %s", vm_name, n->mac,
                        what);
}

int virtio_net_check_def(const char *vm_name, const struct qv_net *n)
{
    if (n->model && strcmp(n->model, "virtio") != 0)
        return refuse(vm_name, n,
                      "its <model> is not virtio (the in-tree VMM has virtio-net "
                      "on virtio-mmio only)");
    switch (n->type) {
    case QV_NET_USER:
    case QV_NET_ETHERNET:
    case QV_NET_BRIDGE: break;
    case QV_NET_NETWORK:
        return refuse(vm_name, n,
                      "type='network' (libvirt networks; use type='bridge' on the "
                      "network's bridge)");
    case QV_NET_DIRECT: return refuse(vm_name, n, "type='direct' (macvtap)");
    default: return refuse(vm_name, n, "an unknown type");
    }
    if (n->inbound_kbps || n->outbound_kbps)
        return refuse(vm_name, n, "<bandwidth> (no traffic shaping)");
    if (n->driver_name && strcmp(n->driver_name, "qemu") != 0)
        return refuse(vm_name, n, "<driver name='vhost'> (the device runs in the VMM)");
    if (n->queues > 1)
        return refuse(vm_name, n, "<driver queues> above 1 (one rx/tx queue pair)");
    if (n->rx_queue_size && n->rx_queue_size != 256)
        return refuse(vm_name, n, "<driver rx_queue_size> other than 256");
    if (n->boot_order)
        return refuse(vm_name, n, "<boot order> (no firmware boots from a NIC)");
    if (n->addr.type != QV_ADDR_NONE)
        return refuse(vm_name, n,
                      "an <address> (virtio-mmio devices have none; the board "
                      "places them)");
    if (n->host_port && n->type != QV_NET_USER)
        return refuse(vm_name, n, "<portForward> outside user networking");
    return 0;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    char end;
    if (!s ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) !=
            6 ||
        strlen(s) != 17)
        return false;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return !(mac[0] & 1); /* unicast */
}

int virtio_net_from_def(const char *vm_name, const struct qv_net *n, uint16_t ssh_port,
                        struct virtio_net **out)
{
    *out = NULL;
    int rc = virtio_net_check_def(vm_name, n);
    if (rc < 0)
        return rc;
    uint8_t mac[6];
    if (!parse_mac(n->mac, mac))
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': <interface> has no unicast MAC ('%s'; xx:xx:xx:xx:xx:xx)",
                            vm_name, n->mac);
    struct net_backend *be;
    if (n->type == QV_NET_USER) {
        be = net_slirp_new(vm_name, n->host_port ? n->host_port : ssh_port);
    } else {
        g_autofree char *tap = host_tap_name(n->mac);
        be = net_tap_new(vm_name, tap, n->type == QV_NET_BRIDGE ? n->source : NULL);
    }
    if (!be)
        return qv_error_code(); /* naming the tap (after the MAC) or the port */
    *out = virtio_net_new(mac, be);
    return *out ? 0 : qv_error_code();
}
