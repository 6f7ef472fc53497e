/* Between a board (board_pc.c) and its snapshot code (board_state.c): the
 * devices whose state a snapshot holds. Not for other users. */
#ifndef QV_KVM_BOARD_STATE_H
#define QV_KVM_BOARD_STATE_H

#include "board.h"

struct kvm_board_state_dev {
    char name[48]; /* its section: "uart@0x3f8" */
    uint32_t version;
    /* A legacy device: dev with save and load. */
    void *dev;
    int (*save)(const void *dev, struct snap_out *o);
    int (*load)(void *dev, struct snap_in *in);
    /* A virtio device: vd on transport t (t's save and load); what names
     * the device ("virtio-blk") in errors. */
    struct virtio_dev *vd;
    const struct kvm_board_transport *t;
    const char *what;
};

/* The board's devices with state: its legacy devices in table order, then
 * its virtio windows in slot order (struct kvm_board_state_dev). */
GArray *kvm_board_state_devs(struct kvm_board *b);

#endif
