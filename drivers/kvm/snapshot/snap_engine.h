/* The snapshot engine: create, restore, list and delete a VM's snapshots
 * from the pieces of this directory (snap_dir, snap_file, snap_vcpu,
 * snap_mem, dirty_bitmap) over a small machine interface, so the whole of
 * it runs over plain memory in tests and over KVM in kvm_snapshot.c.
 *
 * A snapshot NAME in the VM's snapshot directory holds
 *   info        the state captured and the creation time (snap_dir.h)
 *   domain.xml  the definition
 *   disk-N      a copy (qv_file_clone) of each writable raw disk
 * and, while a restore writes disks, DIR/.restore-intent: which snapshot's
 * disks go over which images. A restore copies each disk back over the
 * image's own inode (qv_file_overwrite), never creating a file beside it,
 * so the process needs write access to the image file alone, never to
 * its directory (qv-vmm's Landlock rules); the record makes the
 * non-atomic copy redoable after a kill (snap_engine_recover).
 *   state       with memory only: the sections "snap-engine" (vCPU count,
 *               disk paths), "memory-layout" (snap_mem_table), "vcpuN",
 *               "kvm-vm" (when the machine has an irqchip) and the
 *               devices' sections
 *   memory      with memory only: a full or incremental memory file
 * A stopped VM's snapshot (or SNAPSHOT_DISK_ONLY) has no state or memory.
 *
 * Increments: the engine keeps, per RAM region, the pages written since
 * the VM's previous snapshot (the machine's dirty log taken at each
 * snapshot, kept until a snapshot commits so a failed one loses none; on
 * KVM, the guest's writes from KVM's log and the host's, devices'
 * included, from the machine's own marks).
 * An incremental snapshot stores those pages over the previous
 * snapshot's memory file; a restore finds a chain's files by their ids
 * (each increment names its parent's), so folds on delete keep every
 * chain whole. A snapshot may have several increments built on it (taken
 * after each restore of it); a delete folds it into each. */
#ifndef QV_KVM_SNAP_ENGINE_H
#define QV_KVM_SNAP_ENGINE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../../include/qv/snapshot.h"
#include "snap_dir.h"
#include "snap_mem.h"
#include "snap_vcpu.h"

/* What the engine asks of a machine. m is the implementation's. Every
 * int-returning call gives 0 or a negative QV_ERR_* with the error set.
 * Slots marked optional may be NULL. */
struct snap_machine_ops {
    enum vm_state (*state)(void *m);
    /* Whether the machine has RAM and vCPU state to capture now (optional:
     * when RUNNING or PAUSED). A register-level machine has them while
     * CREATED; a snapshot then holds them. */
    bool (*has_state)(void *m);
    /* Whether every write to RAM reaches the dirty log (optional: yes);
     * false (with the error set, saying why) refuses increments. */
    int (*can_increment)(void *m);
    /* Stop the vCPUs of a running machine / let them run again. */
    int (*pause)(void *m);
    int (*resume)(void *m);
    /* Finish what the stopped vCPUs left half done (an I/O exit KVM
     * completes on the next entry, which can write registers and guest
     * memory): called once right after the pause, before anything is
     * captured or replaced (optional). */
    int (*settle)(void *m);
    /* Devices: nothing in flight and flushed to the disks until unquiesce
     * (optional, for machines without devices). */
    int (*quiesce)(void *m);
    void (*unquiesce)(void *m);
    /* The devices' sections (an array of struct snap_section *, freeing
     * them), and loading them back; the load refuses a different device
     * set before changing any device (optional: no devices). */
    GPtrArray *(*devices_save)(void *m);
    int (*devices_load)(void *m, struct snap_section *const *s, size_t n);
    /* Whether the device sections s[0..n) are exactly this machine's
     * devices at versions it reads: 0, or QV_ERR_INVALID_STATE naming the
     * first difference (optional: no devices, then none may be given). */
    int (*devices_check)(void *m, struct snap_section *const *s, size_t n);
    /* The number of vCPUs and each one's state. */
    uint32_t (*vcpu_count)(void *m);
    int (*vcpu_get)(void *m, uint32_t i, struct snap_vcpu *v);
    int (*vcpu_set)(void *m, uint32_t i, const struct snap_vcpu *v);
    /* irqchip, PIT and clock (optional: a bare machine has none). */
    int (*vm_get)(void *m, struct snap_vm *s);
    int (*vm_set)(void *m, const struct snap_vm *s);
    /* The RAM regions (at most max), in gpa order. */
    size_t (*ram)(void *m, struct snap_mem_ram *out, size_t max);
    /* Start logging writes to RAM (idempotent), then OR the pages written
     * to region i since the last take into into, and start afresh. */
    int (*dirty_start)(void *m);
    int (*dirty_take)(void *m, size_t i, struct dirty_bitmap *into);
    /* Run on the n regions restore mapped (same layout as ram gives);
     * the machine owns the mappings afterwards (snap_mem_unmap). */
    int (*ram_replace)(void *m, struct snap_mem_ram *ram, size_t n);
    /* The definition as XML (g_free). */
    char *(*xml)(void *m);
    /* Writable raw disk images to capture, as absolute paths (appended,
     * g_strdup'ed). */
    int (*disks)(void *m, GPtrArray *paths);
    /* Put the definition xml back. rebuild: make the machine's vCPUs, RAM
     * and devices anew from it and leave it paused, ready for state
     * (QV_ERR_INVALID_STATE when it cannot; the old devices may still be
     * quiesced, and are discarded without taking another request: a
     * restore that put disks back keeps them from writing over them);
     * !rebuild: keep the machine,
     * take the definition. stopped: leave it stopped (a snapshot without
     * memory). */
    int (*define)(void *m, const char *xml, bool rebuild, bool stopped);
    /* A restore failed after the machine's state began to change: leave
     * it stopped, never running half restored (its devices, quiesced or
     * not, discarded without taking another request). */
    void (*fail)(void *m);
};

struct snap_engine;

/* An engine for the snapshots in dir (a 0700 directory the caller made)
 * of machine m. Sweeps what dead writers left there. */
struct snap_engine *snap_engine_new(const char *dir, const struct snap_machine_ops *ops, void *m);
void snap_engine_free(struct snap_engine *e);
/* Tests: called before every step that changes the disk (snap_dir.h's
 * steps, plus "clone disk N", "write memory", "write restore intent",
 * "restore disk N", "remove restore intent"). */
void snap_engine_set_hook(struct snap_engine *e, const struct snap_hook *hook);
/* Finish a restore that was cut short (its record .restore-intent is in
 * dir): copy the snapshot's disks over the images again, then drop the
 * record. 0 when there was none or it is done; else the error, and the
 * record stays. new, restore, create and delete call it; a driver calls
 * it before it starts the VM on its disks. */
int snap_engine_recover(struct snap_engine *e);
/* Whether the store dir holds a restore record (a restore running now, or
 * one cut short): cheap, for a driver deciding whether to open the store
 * before a start. */
bool snap_engine_restore_recorded(const char *dir);
/* The VM started afresh: no previous snapshot to build increments on. */
void snap_engine_forget(struct snap_engine *e);

/* flags: SNAPSHOT_DISK_ONLY, SNAPSHOT_INCREMENTAL. A running VM is paused
 * and its devices quiesced for the capture, and runs again afterwards
 * whether the snapshot was written or not. */
int snap_engine_create(struct snap_engine *e, const char *name, unsigned flags);
int snap_engine_restore(struct snap_engine *e, const char *name);
int snap_engine_delete(struct snap_engine *e, const char *name);
int snap_engine_list(struct snap_engine *e, struct snapshot_info **list, size_t *count);

#endif
