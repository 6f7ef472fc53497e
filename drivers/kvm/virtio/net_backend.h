/* The host side of a virtio-net device: something that carries Ethernet
 * frames between the device and a network (libslirp's user network,
 * net_slirp.c, or a tap, net_tap.c). Frames cross this interface without
 * the virtio-net header: the device adds and strips it, so a backend knows
 * nothing of virtio. */
#ifndef QV_KVM_NET_BACKEND_H
#define QV_KVM_NET_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* The device's side: take one frame from the network. Called from the
 * backend's own thread (or from inside send, when the network answers at
 * once, as slirp does to ARP and DHCP); it must not block and must not
 * call back into the backend. */
typedef void (*net_backend_deliver_fn)(void *opaque, const uint8_t *frame, size_t len);

struct net_backend;

struct net_backend_ops {
    const char *kind; /* "user", "tap": for log lines */
    /* Begin delivering frames (start the backend's thread). Once. */
    int (*start)(struct net_backend *be);
    /* Put one frame on the network. Any thread, never blocking: where the
     * network cannot take it now, the frame is dropped (and counted), as a
     * full NIC queue does. Negative when it was dropped. */
    int (*send)(struct net_backend *be, const uint8_t *frame, size_t len);
    /* Stop the thread (deliver is never called once this begins to
     * return), release everything. */
    void (*free)(struct net_backend *be);
};

/* Every backend's state begins with this. */
struct net_backend {
    const struct net_backend_ops *ops;
    net_backend_deliver_fn deliver;
    void *deliver_opaque;
    char *vm_name;
};

/* Hand frames to fn(opaque, ...) from now on and start the backend. */
static inline int net_backend_start(struct net_backend *be, net_backend_deliver_fn fn, void *opaque)
{
    be->deliver = fn;
    be->deliver_opaque = opaque;
    return be->ops->start(be);
}

static inline int net_backend_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    return be->ops->send(be, frame, len);
}

static inline void net_backend_free(struct net_backend *be)
{
    if (be)
        be->ops->free(be);
}

/* libslirp's user network, as QEMU's -netdev user: 10.0.2.0/24, the host
 * (gateway) 10.0.2.2, DNS 10.0.2.3, DHCP from 10.0.2.15; IPv6 fec0::/64.
 * ssh_port: a host port on 127.0.0.1 forwarded to the guest's TCP port 22,
 * 0 for none. NULL with the error set (a port that cannot be bound). */
struct net_backend *net_slirp_new(const char *vm_name, uint16_t ssh_port);

/* The tap interface ifname, created when it does not exist (which needs
 * CAP_NET_ADMIN); with bridge not NULL it is put on that bridge and
 * brought up. NULL with the error set. */
struct net_backend *net_tap_new(const char *vm_name, const char *ifname, const char *bridge);

#endif
