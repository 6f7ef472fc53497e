/* The driver side of one virtio-net device for the tests: post rx buffers,
 * send frames, wait for what the device delivered, read config space, see
 * whether the device failed. */
#ifndef QV_TEST_VIRTIO_NET_HARNESS_H
#define QV_TEST_VIRTIO_NET_HARNESS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/kvm/virtio/virtio_net.h"
#include "net_frames.h"

struct nh;

/* Put n behind a transport and bring it to DRIVER_OK. Kicks run the
 * device on the calling thread. */
struct nh *nh_new(struct virtio_net *n);
/* The same with ioeventfd, as on KVM: the transport's notification thread
 * runs the device's kicks, so they complete after nh_post_rx/nh_send
 * return. */
struct nh *nh_new_notified(struct virtio_net *n);
/* Reset and free the device too. */
void nh_free(struct nh *h);
/* Make count rx buffers of size bytes available and kick queue 0. */
void nh_post_rx(struct nh *h, unsigned count, uint32_t size);
/* Send buf (header included) on queue 1 as one request and kick. */
void nh_send_raw(struct nh *h, const uint8_t *buf, size_t len);
/* Send frame behind a zero virtio-net header (two descriptors). */
void nh_send(struct nh *h, const GByteArray *frame);
/* The next frame the device wrote into an rx buffer that match() accepts
 * (frames it rejects are skipped), without its header; NULL after
 * timeout_ms. *hdr gets the header when hdr is not NULL. Each used buffer
 * is posted again. */
typedef bool (*nh_match_fn)(const struct nf_parsed *p, void *arg);
GBytes *nh_wait_rx(struct nh *h, nh_match_fn match, void *arg, int timeout_ms,
                   uint8_t hdr[VIRTIO_NET_HDR_LEN]);
/* The rx buffers used so far, and the bytes the device said it wrote into
 * the last one. */
unsigned nh_rx_used(struct nh *h, uint32_t *last_written);
/* Whether the device set DEVICE_NEEDS_RESET. */
bool nh_failed(struct nh *h);
void nh_config_read(struct nh *h, uint32_t off, uint8_t *data, uint32_t size);
uint64_t nh_device_features(struct nh *h);

#endif
