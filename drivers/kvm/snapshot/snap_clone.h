/* vm_clone's engine half: a new VM's store built from a machine, and the
 * clone's first start resuming from it. Over the machine interface of
 * snap_engine.h, so it runs over plain memory in tests
 * (tests/unit/kvm_snap_clone.c) and over KVM in kvm_clone.c.
 *
 * A store (a new directory, 0700) holds
 *   FILE ...          a copy (qv_file_clone: shared blocks where the file
 *                     system can, else sparse) of each writable disk of
 *                     the source, under the names the caller gives
 *   resume/origin/    with the source running or paused: a snapshot
 *                     (snap_engine.h's layout) of its memory (a full file,
 *                     whatever increments the source has), vCPUs, irqchip
 *                     and devices, with the clone's definition and no disk
 *                     copies: the store's disks are the ones captured
 * It is made in a hidden sibling, PARENT/.NAME.clone-XXXXXX, flock()ed
 * while it lives, and renamed to PARENT/NAME last (never over anything):
 * a clone killed at any step leaves no NAME, or a whole one, plus perhaps
 * a hidden directory snap_clone_sweep() removes.
 *
 * The source's own snapshots and increments are untouched: the capture
 * goes straight into the store, not through a snapshot of the source's
 * list, and the pages written since the source's last snapshot stay
 * pending for its next increment. */
#ifndef QV_KVM_SNAP_CLONE_H
#define QV_KVM_SNAP_CLONE_H

#include <stdbool.h>
#include <stddef.h>

#include "snap_engine.h"

#define SNAP_CLONE_RESUME_DIR "resume"
#define SNAP_CLONE_ORIGIN "origin"

struct snap_clone {
    const char *store; /* absolute: PARENT/NAME, absent; PARENT exists */
    const char *xml;   /* the clone's definition */
    /* For each image ops->disks gives, in its order: the copy's file name
     * in the store (a plain name, not starting with '.'). */
    const char *const *disks;
    size_t ndisks;
};

/* Build c->store from e's machine. A running machine is paused, settled
 * and quiesced for the capture and the disk copies only, and runs again
 * afterwards whether the clone was made or not; a stopped or created one
 * gives its disks only (no resume/). QV_ERR_EXISTS when the store exists;
 * on any failure nothing of it is left. Steps for the hook (snap_engine.h):
 * "clone mkdir", "clone disk N", the stage's own ("write memory", ...),
 * "clone fsync", "clone rename", "clone fsync dir". */
int snap_engine_clone(struct snap_engine *e, const struct snap_clone *c);

/* Remove PARENT/.NAME.clone-* left by clones that died (a live one holds
 * its flock and is skipped). The caller holds NAME's lock. */
int snap_clone_sweep(const char *parent, const char *name);

/* Whether store holds a state to resume from. */
bool snap_clone_has_resume(const char *store);

/* The clone's first start: restore store/resume/origin into machine m
 * (ops), a created or stopped machine of the clone's definition, which
 * rebuilds for it; its RAM is mapped MAP_PRIVATE from the memory file, so
 * what the clone writes stays its own. Then that state is removed (the
 * mapping keeps its pages). The machine is left as the source was
 * captured: running, or paused. On failure the state stays for the next
 * try, and the machine is as restore leaves it (snap_engine.h). */
int snap_clone_resume(const char *store, const struct snap_machine_ops *ops, void *m);

#endif
