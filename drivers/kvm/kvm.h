/* The in-tree VMM's internal interfaces (DESIGN §5).
 *
 * Two layers. A "machine" (struct kvm_machine) is one KVM VM: its fd, guest
 * RAM, vCPUs, buses and devices, and the vCPU threads that run a booted
 * guest. It knows nothing of the core's handles, so tests can drive it
 * directly. kvm_driver.c wraps machines in the driver table.
 *
 * Two kinds of machine, chosen once at creation:
 *  - bare (vm_create, or a definition without <kernel>): no in-kernel
 *    irqchip and no devices. Every port and MMIO access, and every HLT,
 *    returns from vcpu_run() to the caller, who is the device model.
 *    Without the in-kernel irqchip KVM_INTERRUPT injects external
 *    interrupts, and HLT exits even under PVM.
 *  - booted (a definition with <os><kernel>): in-kernel PIC/IOAPIC/LAPIC and
 *    PIT, the legacy devices, a loader, and one thread per vCPU started by
 *    vm_start(). Register-level vcpu_run() is refused on it.
 */
#ifndef QV_KVM_H
#define QV_KVM_H

#include <glib.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../lib/api/driver.h"
#include "devices/bus.h"
#include "devices/dev_host.h"

/* Where QEMU's pc machine puts them: inside the 32-bit PCI hole, never RAM. */
#define KVM_TSS_ADDR 0xfffbd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull
#define KVM_4G 0x100000000ull

/* One open /dev/kvm, shared by a connection's machines. */
struct kvm_sys {
    int fd;
    size_t run_size;
    uint32_t max_vcpus;
    struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID */
};

/* Open and check path (normally /dev/kvm): API version 12 and every
 * extension libqv uses. QV_ERR_KVM (or QV_ERR_PERMISSION) naming what is
 * missing on failure. */
int kvm_probe(const char *path, struct kvm_sys *sys);
void kvm_sys_close(struct kvm_sys *sys);

struct kvm_region {
    uint64_t gpa, size;
    uint8_t *hva;
    uint32_t slot;
    bool readonly;
    /* Regions of one mapping share it; only the owner unmaps. */
    bool owns_mapping;
    size_t map_size;
    int memfd;
    /* Snapshots (kvm_snapshot.c): KVM logs the guest's writes
     * (KVM_MEM_LOG_DIRTY_PAGES); host writes, which KVM does not see
     * (kvm_memory_rw, devices through kvm_memory_mark_dirty), are marked
     * in host_dirty from its first dirty_start on. Device I/O threads read
     * it without a lock: published with an atomic store, freed only with
     * the regions (after the devices). */
    bool log_dirty;
    struct dirty_bitmap *host_dirty;
};

struct kvm_machine;

struct kvm_vcpu {
    struct vcpu pub; /* first: the core's view */
    struct kvm_machine *m;
    uint32_t index;   /* 0..max_vcpus-1 */
    uint32_t apic_id; /* also KVM's vcpu id */
    int fd;
    struct kvm_run *run;
    size_t run_size;
    struct vcpu_exit_info exit;
    bool user_created; /* by vcpu_create(), not by vm_start() */

    /* vcpu_kick() from any thread: who runs it right now. */
    GMutex kick_lock;
    bool in_run;
    pthread_t runner;

    GThread *thread; /* booted machines */
    int tid;         /* its kernel thread id, for live pinning */
};

struct kvm_board;
struct kvm_snap;
struct dirty_bitmap;

struct kvm_machine {
    gint refs;
    struct kvm_sys *sys; /* borrowed from the connection */
    /* Replaced whole by vm_set_* (kvm_set) under lock; vCPU threads read
     * it only under lock, and take the name from name. */
    struct qv_domain *def;
    char *name; /* def->name, which no setting changes */
    int vm_fd;
    bool booted; /* irqchip, PIT, devices, loader; see the top */
    /* vm_gpa_to_hva handed out a pointer into guest memory: writes through
     * it reach no dirty log, so increments are refused (atomic). */
    int raw_pointers;
    GArray *regions; /* struct kvm_region, sorted by gpa */
    uint32_t next_slot;
    uint8_t *ram; /* the main RAM mapping (memory_kib) */
    uint64_t ram_size;
    struct kvm_vcpu **vcpus; /* [def->max_vcpus] */
    uint32_t nvcpus;

    struct kvm_bus pio, mmio;
    /* Port 0x80 writes are coalesced into this ring (in vCPU 0's run
     * mapping) instead of exiting; they mean nothing, so it is just
     * emptied after every exit. NULL when KVM cannot coalesce PIO. */
    struct kvm_coalesced_mmio_ring *pio_ring;
    /* What the devices may ask of this machine (kvm_dev_host.c). */
    struct kvm_dev_host host;
    /* The devices and firmware of a booted machine (board/board.h). */
    struct kvm_board *board;

    /* Lifecycle of booted machines. The vCPU threads never take the core's
     * VM lock, only this one. */
    GMutex lock;
    GCond cond;
    enum vm_state state;
    enum vm_state_reason reason;
    int exit_status;
    bool stop_req, pause_req;
    uint32_t threads_live, threads_parked;
    bool used; /* has run a guest: the next start builds a fresh VM */

    /* The VM's state directory, lock and snapshot engine
     * (kvm_snapshot.c); NULL for a machine made outside the driver. */
    struct kvm_snap *snap;
};

/* kvm_vm.c */
struct kvm_machine *kvm_machine_new(struct kvm_sys *sys, const struct qv_domain *def);
void kvm_machine_unref(struct kvm_machine *m);
struct kvm_machine *kvm_machine_ref(struct kvm_machine *m);
/* Tear down and recreate the KVM VM, RAM, vCPUs and devices of a booted
 * machine, so a restart or reset begins from power-on. */
int kvm_machine_rebuild(struct kvm_machine *m);
const char *kvm_machine_name(const struct kvm_machine *m);
/* vm_destroy: stop the threads and release every fd and mapping now. */
void kvm_machine_kill(struct kvm_machine *m);

/* kvm_memory.c */
int kvm_memory_add(struct kvm_machine *m, uint64_t gpa, uint64_t size, uint32_t flags);
int kvm_memory_add_ram(struct kvm_machine *m, uint64_t bytes);
void kvm_memory_free_all(struct kvm_machine *m);
/* (Re-)register region r's slot with KVM as r says (flags from readonly
 * and log_dirty); delete first when its host address changes, which KVM
 * does not allow on a live slot. */
int kvm_memory_set_slot(struct kvm_machine *m, const struct kvm_region *r);
int kvm_memory_delete_slot(struct kvm_machine *m, const struct kvm_region *r);
void *kvm_memory_hva(struct kvm_machine *m, uint64_t gpa, uint64_t len);
/* As kvm_memory_hva for writable RAM only (not ROM), and NULL for len 0:
 * what a device may be given (dev_host.h's guest_ram). */
void *kvm_memory_ram(struct kvm_machine *m, uint64_t gpa, uint64_t len);
int kvm_memory_rw(struct kvm_machine *m, uint64_t gpa, void *buf, size_t len, bool write);
/* The host wrote guest memory [gpa, gpa + len): mark it in each region's
 * host_dirty (once dirty logging started; before, nothing). What is not
 * guest memory is skipped. Any thread, lock-free (dev_host.h's
 * mark_dirty). */
void kvm_memory_mark_dirty(struct kvm_machine *m, uint64_t gpa, uint64_t len);

/* kvm_cpuid.c: topology from <cpu><topology>, APIC IDs, CPUID per vCPU. */
uint32_t kvm_cpu_apic_id(const struct qv_domain *def, uint32_t index);
int kvm_cpuid_apply(struct kvm_vcpu *v);

/* kvm_vcpu.c */
struct kvm_vcpu *kvm_vcpu_new(struct kvm_machine *m, uint32_t index, bool user);
void kvm_vcpu_free(struct kvm_vcpu *v);
int kvm_vcpu_reset_real(struct kvm_vcpu *v, uint64_t boot_ip);
int kvm_vcpu_get_regs(struct kvm_vcpu *v, struct vcpu_regs *r);
int kvm_vcpu_set_regs(struct kvm_vcpu *v, const struct vcpu_regs *r);
int kvm_vcpu_get_sregs(struct kvm_vcpu *v, struct vcpu_sregs *s);
int kvm_vcpu_set_sregs(struct kvm_vcpu *v, const struct vcpu_sregs *s);
int kvm_vcpu_get_msr(struct kvm_vcpu *v, uint32_t index, uint64_t *value);
int kvm_vcpu_set_msr(struct kvm_vcpu *v, uint32_t index, uint64_t value);
int kvm_vcpu_queue_interrupt(struct kvm_vcpu *v, uint8_t vector);
int kvm_vcpu_queue_exception(struct kvm_vcpu *v, uint8_t vector, bool has_ec, uint32_t ec);
int kvm_vcpu_queue_nmi(struct kvm_vcpu *v);
void kvm_vcpu_kick(struct kvm_vcpu *v);
int kvm_vcpu_set_step(struct kvm_vcpu *v, bool on);

/* kvm_run.c */
/* Enter the guest once and decode the exit into v->exit. Accesses that a
 * device on the machine's buses claims are handled here and *handled is
 * set. Returns an enum vcpu_exit or a negative QV_ERR_*. */
int kvm_vcpu_enter(struct kvm_vcpu *v, bool *handled);
/* Register-level run: loops over handled exits. */
int kvm_vcpu_run_user(struct kvm_vcpu *v);
int kvm_machine_start(struct kvm_machine *m);
/* Power on a fresh machine (rebuilt from m->def if it ran before) with its
 * vCPU threads parked: PAUSED, for a snapshot's state to be loaded. */
int kvm_machine_start_paused(struct kvm_machine *m);
int kvm_machine_stop(struct kvm_machine *m, bool force, int timeout_ms);
int kvm_machine_pause(struct kvm_machine *m);
int kvm_machine_resume(struct kvm_machine *m);
int kvm_machine_reset(struct kvm_machine *m);
int kvm_machine_wait(struct kvm_machine *m, int timeout_ms);
void kvm_machine_status(struct kvm_machine *m, struct qv_vm_status *st);
/* Stop every vCPU thread and join them. */
void kvm_machine_halt_threads(struct kvm_machine *m);
/* A device or exit asks the machine to stop: the first request wins. */
void kvm_machine_request_stop(struct kvm_machine *m, enum vm_state_reason reason, int exit_status);
/* Pin vCPU index to host CPU pcpu (-1: unpin) if its thread runs. Under
 * m->lock, which orders it against a vCPU thread applying its pins. */
int kvm_machine_pin(struct kvm_machine *m, uint32_t index, int pcpu);

/* The kind of proc_vm_dir a kvm:///embed VM's state directory is of. */
#define KVM_EMBED_KIND "kvm-embed"
/* kvm_snapshot.c: the state directory <state root>/kvm-embed/NAME (0700,
 * holding snapshots/). Open only names it; the first snapshot operation
 * makes and locks it until close, and sweeps dead writers' leftovers; it
 * fails QV_ERR_BUSY naming the holder when another process (or
 * connection) uses the VM's snapshots. */
int kvm_snap_open(const char *state_root, struct kvm_machine *m);
/* Release the lock; remove: the directory and its snapshots too (the VM
 * is destroyed). */
void kvm_snap_close(struct kvm_machine *m, bool remove);
int kvm_snapshot_create(struct kvm_machine *m, const char *name, unsigned flags);
int kvm_snapshot_restore(struct kvm_machine *m, const char *name);
int kvm_snapshot_delete(struct kvm_machine *m, const char *name);
int kvm_snapshot_list(struct kvm_machine *m, struct snapshot_info **list, size_t *count);
/* The VM starts afresh (vm_start, reset): no increment builds on a
 * snapshot taken before. */
void kvm_snapshot_forget(struct kvm_machine *m);
/* Before the VM starts on its disks: finish a snapshot restore that a
 * killed process left with disks half written (snap_engine_recover), or
 * fail saying so. 0 when there is none. */
int kvm_snapshot_finish_restore(struct kvm_machine *m);

/* Hand the lock of m's state directory, which a clone holds (lock_fd,
 * consumed), to m, and make its snapshot engine; resume: m's first start
 * resumes from the state captured into it (kvm_snapshot_resume_clone). */
int kvm_snap_adopt(struct kvm_machine *m, int lock_fd, bool resume);
struct snap_clone;
/* Build a clone's store from src (snapshot/snap_clone.h). */
int kvm_snapshot_clone(struct kvm_machine *src, const struct snap_clone *c);
bool kvm_snapshot_resume_pending(struct kvm_machine *m);
/* The clone's first vm_start: restore the captured state into m, which
 * runs on from it. */
int kvm_snapshot_resume_clone(struct kvm_machine *m);
/* kvm_clone.c: build the store of clone def (its name, UUID and MACs set)
 * from src under <state_root>/kvm-embed, pointing def's writable disks at
 * their copies. *lock_out: the clone's lock, for kvm_snap_adopt or
 * kvm_clone_discard; *resume: the source's state was captured. */
int kvm_clone_store(struct kvm_machine *src, const char *state_root, struct qv_domain *def,
                    int *lock_out, bool *resume);
/* Remove the store of clone name and release its lock. */
void kvm_clone_discard(const char *state_root, const char *name, int lock);
/* kvm_dev_host.c: fill m->host for this machine. */
void kvm_dev_host_init(struct kvm_machine *m);

/* kvm_board.c: build a booted machine's board (after its vCPUs), and power
 * it on: kernel, firmware tables, console. */
int kvm_machine_board_new(struct kvm_machine *m);
int kvm_machine_power_on(struct kvm_machine *m);

/* kvm_virtio_devices.c: build the definition's virtio devices and place
 * them on the board (at power-on, before the kernel is loaded). */
int kvm_virtio_devices_add(struct kvm_machine *m);

#endif
