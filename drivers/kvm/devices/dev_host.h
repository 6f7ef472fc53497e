/* What a device may ask of the machine it sits in. A device is built with
 * one of these and includes this header and bus.h, never kvm.h: it cannot
 * reach the run loop, the vCPUs or the definition, so it can be unit-tested
 * with a host made of plain functions and a malloc'd buffer as guest RAM.
 * The board (board.h) fills it in for a real machine. */
#ifndef QV_KVM_DEV_HOST_H
#define QV_KVM_DEV_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "qv/vm.h"

struct kvm_dev_host {
    void *opaque;
    /* The VM's name for log lines and errors; outlives the device. */
    const char *vm_name;

    /* Drive interrupt line gsi to level (0 or 1). Level-triggered devices
     * hold it; an edge is 1 then 0. Safe from any thread. */
    void (*set_irq)(void *opaque, uint32_t gsi, int level);

    /* Ask the machine to stop (the first request wins) or to reset, as a
     * guest's power-off, debug exit or reset line does. Any thread; the
     * machine acts on it after the access that asked returns. */
    void (*request_stop)(void *opaque, enum vm_state_reason reason, int exit_status);
    void (*request_reset)(void *opaque);

    /* The host address of guest RAM [gpa, gpa + len), or NULL unless all of
     * it is RAM in one mapping (so a device never follows a guest address
     * into MMIO, ROM gaps or past the end). len 0 is NULL. */
    void *(*guest_ram)(void *opaque, uint64_t gpa, uint64_t len);
    /* Optional (NULL: nothing tracks writes). A device wrote guest RAM
     * [gpa, gpa + len) through guest_ram's pointers, which KVM's dirty log
     * never sees: the machine records the pages for incremental snapshots
     * (and later clones and migration). Call it after the write, never
     * before (a take between the two would lose the page), and before the
     * device reports the write done (quiesce returning means every write
     * is marked). Any thread; lock-free and cheap (atomic ORs on a
     * bitmap), so it may be called under the device's locks. A range
     * outside RAM is ignored. */
    void (*mark_dirty)(void *opaque, uint64_t gpa, uint64_t len);

    /* Optional; NULL, or a negative QV_ERR_* when KVM lacks it, means the
     * device uses the plain exit path (its bus handler and set_irq).
     * ioeventfd: signal fd when the guest writes len bytes equal to
     * datamatch at MMIO address addr, without an exit to user space.
     * irqfd: writing fd raises gsi; with resample_fd >= 0 the line is level
     * and resample_fd is signalled when the guest's EOI may lower it. */
    int (*ioeventfd)(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
                     bool assign);
    int (*irqfd)(void *opaque, uint32_t gsi, int fd, int resample_fd, bool assign);
};

#endif
