/* A virtio-mmio device in a snapshot: quiescing it so that no request is
 * in flight, saving its transport state (and the device's own, through
 * ops->save) as one section, and loading it back into a transport built
 * anew over the restored guest RAM.
 *
 * Requests are never recorded half done: a snapshot is taken with the
 * device quiesced, when every request the device took from a ring has been
 * given back as used, and buffers not yet taken stay in the guest's
 * available ring, which is guest RAM and is restored with it; the restored
 * device takes them from there. */
#ifndef QV_KVM_VIRTIO_STATE_H
#define QV_KVM_VIRTIO_STATE_H

#include "virtio.h"

/* The layout virtio_dev_save writes. */
#define VIRTIO_MMIO_STATE_VERSION 1
/* The most bytes a device's own state (ops->save) may take. */
#define VIRTIO_DEV_STATE_MAX (1u << 20)

/* Stop the device taking requests: kicks are held back and
 * virtio_req_pop hands out nothing, then wait until every request already
 * taken has been pushed (a device's I/O thread finishes it, a throttled
 * one included). Counted: each call needs a virtio_dev_unquiesce. 0; or
 * QV_ERR_TIMEOUT naming the device and what is still in flight when
 * timeout_ms (negative: no limit) ran out, and the device is as before the
 * call. Not from a kick or a device's own thread. */
int virtio_dev_quiesce(struct virtio_dev *vd, int timeout_ms);
/* Undo one virtio_dev_quiesce; at the last, kick every ready queue whose
 * driver made buffers available meanwhile (or before a restore). */
void virtio_dev_unquiesce(struct virtio_dev *vd);

/* Append the device's state to o (section layout VIRTIO_MMIO_STATE_VERSION):
 * status, feature selectors and the features agreed, InterruptStatus,
 * config generation, NEEDS_RESET, and per queue its registers, ring
 * indices and notification state; then the device's own (ops->save).
 * QV_ERR_INVALID_STATE when the device runs and is not quiesced, or a
 * request is in flight (o then holds part of the state: discard it). */
int virtio_dev_save(struct virtio_dev *vd, struct snap_out *o);
/* Read a section of that version into vd, a transport for the same kind of
 * device (its ops) whose guest RAM already holds the snapshot's. Every
 * value is checked as a driver's register write is; a ready queue passes
 * QueueReady's checks on its saved layout, and its indices must show no
 * request in flight. Nothing is changed when the section is refused. A
 * valid section resets the device, then gives it its own state
 * (ops->load; when that refuses, the device is left reset, as a driver's
 * reset leaves it), the transport's, drives the interrupt line as
 * InterruptStatus says and starts the device when the driver had. Unless
 * the device is quiesced, queues with buffers are then kicked. */
int virtio_dev_load(struct virtio_dev *vd, struct snap_in *in);

#endif
