/* What snap_engine.c (create, list) and snap_engine_restore.c (restore,
 * delete) share. Not for other users. */
#ifndef QV_KVM_SNAP_ENGINE_PRIV_H
#define QV_KVM_SNAP_ENGINE_PRIV_H

#include "snap_engine.h"

/* The files of a snapshot (snap_engine.h). */
#define SNAP_ENGINE_XML "domain.xml"
#define SNAP_ENGINE_STATE "state"
#define SNAP_ENGINE_MEMORY "memory"
#define SNAP_ENGINE_DISK "disk-"
/* The engine's own sections of the state file. */
#define SNAP_ENGINE_SECTION "snap-engine"
#define SNAP_ENGINE_LAYOUT "memory-layout"
#define SNAP_ENGINE_VERSION 1u
/* A definition larger than this in a snapshot is taken as damage. */
#define SNAP_ENGINE_XML_MAX (4u << 20)
#define SNAP_ENGINE_MAX_DISKS 256u
/* In the store, while a restore writes disks in place (never listed: no
 * snapshot name starts with '.'). */
#define SNAP_ENGINE_INTENT ".restore-intent"

struct snap_engine {
    char *dir;
    const struct snap_machine_ops *ops;
    void *m;
    struct snap_hook hook;
    /* The VM's previous snapshot with memory (taken or restored), which
     * an increment builds on, and its memory file's id; NULL when none. */
    char *prev;
    uint8_t prev_id[SNAP_MEM_ID_LEN];
    /* Per RAM region, pages written since prev. */
    struct dirty_bitmap **pending;
    size_t npending;
};

/* ops->has_state, or RUNNING/PAUSED. */
bool snap_engine_has_state(struct snap_engine *e);
void snap_engine_step(struct snap_engine *e, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* The state file: the engine's record (vCPU count, the disks whose copies
 * the snapshot holds), the memory layout table[0..n) when there is one,
 * every vCPU, the irqchip and the device sections devs (moved out). */
int snap_engine_state_build(struct snap_engine *e, const struct snap_mem_region *table, size_t n,
                            GPtrArray *disks, GPtrArray *devs, GByteArray **out);
/* Run fn with the machine held still for a capture: a running machine
 * paused, a running or paused one's last exits settled and its devices
 * quiesced; then all of it undone, and a machine it paused resumed,
 * whatever fn returned. A failure of the quiesce or of fn is prefixed
 * with what. */
int snap_engine_capture(struct snap_engine *e, const char *what,
                        int (*fn)(struct snap_engine *e, void *arg), void *arg);

/* snap_engine_intent.c. The store's lock, exclusive (waits): held while
 * a restore record is written, redone or removed, so a second engine over
 * the store (another process) never redoes a restore that is running.
 * Returns the fd to pass to unlock, or a negative QV_ERR_*. */
int snap_engine_lock(struct snap_engine *e);
void snap_engine_unlock(int fd);
/* Which file an image is: a redo writes only the file the restore began
 * on, never one put at its path since (a backup moved in, a directory on
 * the path swapped for a link). */
struct snap_intent_id {
    guint64 dev, ino;
};
/* Record, atomically, that snapshot name's disks (the images, in its disk-N
 * order) are being written in place, with each image's identity, which
 * *ids gets (g_array_unref). */
int snap_intent_write(struct snap_engine *e, const char *name, const GPtrArray *disks,
                      GArray **ids);
/* 1 with the record's snapshot, disks (g_free / unref) and, when ids is
 * not NULL, their identities; 0 when there is none, or a negative
 * QV_ERR_* naming the record when it is damaged. */
int snap_intent_read(struct snap_engine *e, char **name, GPtrArray **disks, GArray **ids);
/* Remove what a writer killed while writing a record left (its
 * temporary). Under the lock. */
void snap_intent_sweep(struct snap_engine *e);
/* Remove the record and fsync the store. */
int snap_intent_remove(struct snap_engine *e);

#endif
