/* virtio-net (virtio 1.1 §5.1) over a net backend (net_backend.h): rx
 * queue 0, tx queue 1, no control queue. Offered: MAC (the definition's),
 * STATUS (link always up) and MTU 1500. Not offered: MRG_RXBUF and every
 * offload, so a frame is at most 1514 bytes and each takes one rx buffer
 * (Linux then posts buffers of 1518 bytes plus the 12-byte header). */
#ifndef QV_KVM_VIRTIO_NET_H
#define QV_KVM_VIRTIO_NET_H

#include <stdint.h>

#include "net_backend.h"
#include "virtio.h"

#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_HDR_LEN 12 /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define VIRTIO_NET_MTU 1500
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
/* Frames from the network that wait for rx buffers; more are dropped. */
#define VIRTIO_NET_RX_BACKLOG 256
/* The largest frame taken from the guest: a 64 KiB IP packet plus an
 * Ethernet header with a VLAN tag. */
#define VIRTIO_NET_MAX_FRAME (65535 + 18)

struct virtio_net;

struct virtio_net_stats {
    uint64_t rx_packets, rx_bytes, rx_dropped; /* to the guest */
    uint64_t tx_packets, tx_bytes, tx_dropped; /* from the guest */
};

extern const struct virtio_dev_ops virtio_net_ops;

/* A device with this MAC over be, which it owns from here on (also when
 * this fails) and starts. NULL with the error set. */
struct virtio_net *virtio_net_new(const uint8_t mac[6], struct net_backend *be);
/* ops->free: stops the backend, then frees both. NULL is a no-op. */
void virtio_net_free(struct virtio_net *n);
void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out);

struct qv_net;
/* Whether the kvm driver can honour n (no host resources touched): 0, or
 * QV_ERR_UNSUPPORTED naming what it cannot, as virtio_net_from_def would. */
int virtio_net_check_def(const char *vm_name, const struct qv_net *n);
/* The device for one <interface> of the definition: user (libslirp; its
 * <portForward> host port, else ssh_port when not 0, forwarded to guest
 * port 22), ethernet (the tap qvtMAC, as the qemu driver names it) or
 * bridge (that tap on the bridge). What the kvm driver cannot honour is
 * refused naming the interface by its MAC: models other than virtio,
 * network and direct types, <bandwidth>, <driver> vhost/queues/
 * rx_queue_size, <boot>, a PCI <address>. */
int virtio_net_from_def(const char *vm_name, const struct qv_net *n, uint16_t ssh_port,
                        struct virtio_net **out);

#endif
