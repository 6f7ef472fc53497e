/* A board: which devices a booted machine has, where each sits (bus, base,
 * length, IRQ) and what runs at power-on. The board builds the devices
 * with the machine's device host, claims their ranges on the machine's
 * buses and owns them; the run loop only dispatches to the buses. It never
 * sees struct kvm_machine: the machine hands it plain values, so a board
 * can be built over a test host and plain buses without /dev/kvm.
 *
 * `pc` (board_pc.c) is QEMU's pc machine's legacy devices at QEMU's
 * addresses, plus virtio-mmio windows in the 32-bit PCI hole. */
#ifndef QV_KVM_BOARD_H
#define QV_KVM_BOARD_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../../lib/conf/domain.h"
#include "../devices/bus.h"
#include "../devices/dev_host.h"
#include "../virtio/virtio.h"

struct kvm_board;
struct kvm_chardev;
struct snap_out;
struct snap_in;
struct snap_section;

struct kvm_board_config {
    uint64_t ram_size;
    uint32_t ncpus, max_cpus;
    const uint32_t *apic_ids; /* [ncpus], copied; index 0 is the BSP */
    const char *uuid;
};

/* Build the pc board's devices over host (which must outlive the board)
 * and claim their ranges on pio and mmio. NULL with the error set. */
struct kvm_board *kvm_board_pc_new(const struct kvm_dev_host *host,
                                   const struct kvm_board_config *cfg, struct kvm_bus *pio,
                                   struct kvm_bus *mmio);
/* Close the console, then free every device. NULL is a no-op. */
void kvm_board_free(struct kvm_board *b);

/* ---- virtio-mmio rows ---- */

/* How to build a transport at a window. */
struct kvm_board_transport {
    struct virtio_dev *(*create)(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi,
                                 const struct virtio_dev_ops *ops, void *dev);
    kvm_bus_fn io;
    void (*free)(struct virtio_dev *vd);
    /* Snapshots (virtio/virtio_state.h); NULL: a board with such a device
     * refuses to save or load. state_kind names its sections
     * ("virtio-mmio@0xe0000000"). */
    const char *state_kind;
    uint32_t state_version;
    int (*quiesce)(struct virtio_dev *vd, int timeout_ms);
    void (*unquiesce)(struct virtio_dev *vd);
    int (*save)(struct virtio_dev *vd, struct snap_out *o);
    int (*load)(struct virtio_dev *vd, struct snap_in *in);
};
/* virtio-mmio's (virtio/virtio_mmio.h). */
extern const struct kvm_board_transport kvm_board_virtio_mmio;

/* Where a virtio-mmio device sits. */
struct kvm_board_slot {
    uint64_t base, len;
    uint32_t gsi;
};

/* In the 32-bit PCI hole above any low RAM (which reaches 0xdfffffff for
 * 3.5 GiB less a byte), below the IOAPIC; the pc machine has no PCI here. */
#define KVM_BOARD_VIRTIO_BASE 0xe0000000ull
#define KVM_BOARD_VIRTIO_STEP 0x200ull
/* One free IOAPIC pin per device (board_pc.c lists them). */
#define KVM_BOARD_VIRTIO_MAX 9

/* Place a virtio device (ops + its state dev) in the next free window with
 * the next free GSI, build its transport there and claim the window. Only
 * before power-on: virtio-mmio has no hot-plug. The board owns dev from
 * this call on, also when it fails (it is freed with ops->free then). */
int kvm_board_add_virtio(struct kvm_board *b, const struct kvm_board_transport *t,
                         const struct virtio_dev_ops *ops, void *dev);
uint32_t kvm_board_virtio_count(const struct kvm_board *b);
const struct kvm_board_slot *kvm_board_virtio_slots(const struct kvm_board *b);

/* Linux's announcement of slots: "virtio_mmio.device=0x200@0xe0000000:5"
 * for each, space-separated; NULL when n is 0. */
char *kvm_board_announce(const struct kvm_board_slot *slots, uint32_t n);

/* ---- power-on and after ---- */

struct kvm_board_boot {
    /* Load the kernel and set up the boot vCPU; announce (NULL: none) is
     * what the kernel's command line must carry besides the user's. */
    int (*load_kernel)(void *opaque, const char *announce);
    /* The console's backend (*cfg NULL: output dropped), asked for only
     * once the kernel and tables are in place. */
    int (*console_config)(void *opaque, const struct qv_chardev **cfg);
    void *opaque;
};

/* In this order: the kernel, the MP table, the ACPI tables, the console. */
int kvm_board_power_on(struct kvm_board *b, const struct kvm_board_boot *boot);
/* The VM has stopped (no vCPU runs): reset and free every virtio device,
 * so its images, taps and forwarded ports are released and its I/O
 * threads end before the stop is reported; their windows are unclaimed.
 * The next start builds a fresh board. */
void kvm_board_release_virtio(struct kvm_board *b);
/* The last vCPU has stopped: flush the console. */
void kvm_board_stopped(struct kvm_board *b);
/* Press the ACPI power button; false when the guest does not listen. */
bool kvm_board_power_button(struct kvm_board *b);
/* The console opened at power-on, or NULL. */
struct kvm_chardev *kvm_board_console(struct kvm_board *b);

/* ---- snapshots (board_state.c) ---- */

/* Every device's state is one section named KIND@0xADDRESS ("uart@0x3f8",
 * "virtio-mmio@0xe0000000"), in the device's own versioned layout. A
 * snapshot is taken with no vCPU running and the virtio devices quiesced:
 *   kvm_board_quiesce, kvm_board_save, guest memory, kvm_board_unquiesce. */

/* Quiesce every virtio device (virtio_dev_quiesce): no request in flight,
 * none taken until kvm_board_unquiesce. QV_ERR_TIMEOUT naming the device
 * when one did not finish in timeout_ms (negative: no limit); then none is
 * left quiesced. */
int kvm_board_quiesce(struct kvm_board *b, int timeout_ms);
void kvm_board_unquiesce(struct kvm_board *b);
/* Save every device the board owns: a new array of struct snap_section *
 * (freeing them with it), or NULL with the error set (a virtio device not
 * quiesced, a transport that cannot be saved). */
GPtrArray *kvm_board_save(struct kvm_board *b);
/* Load the device sections among sections[0..n) (those named as
 * kvm_board_is_device_section says; the others, vCPUs' or memory's, are
 * left to their owners) into the board's devices, guest RAM having been
 * restored already. Refused before any device changes: a device the board
 * has and the snapshot lacks, or the reverse, or two sections for one
 * device (each error names the device), or a section version this libqv
 * does not read. Then each device checks its own section; the first it
 * refuses stops the load with the error naming the section and the field,
 * and every device is put back to the state it had before the call (each
 * is saved first), so a refused load changes no device. Should putting one
 * back fail (it should not: a state a device just saved loads back), the
 * error says so and names it, and the machine must not be resumed. A
 * virtio transport that cannot save is refused. The virtio devices are kept
 * quiesced during the load and afterwards take the buffers the guest had
 * made available. */
int kvm_board_load(struct kvm_board *b, struct snap_section *const *sections, size_t n);
/* KIND@0xHEX, KIND of lowercase letters, digits, '-' and '_'. */
bool kvm_board_is_device_section(const char *name);

#endif
