/* A VM's snapshot directory: one subdirectory per snapshot, written so
 * that no reader ever sees half of one.
 *
 *   DIR/                       mode 0700, given by the caller
 *     NAME/                    a committed snapshot (0700, files 0600)
 *       info                   state and creation time (a snap_file.h file)
 *       state, memory, ...     what the creator wrote
 *     .NAME.partial-XXXXXX/    a snapshot being written (a stage)
 *     .NAME.deleting-XXXXXX/   a snapshot being deleted
 *
 * Creating stages every file in a hidden directory and commits by fsyncing
 * each file and the stage, renaming the stage to NAME (never over an
 * existing one) and fsyncing DIR; a writer killed at any point leaves
 * either no NAME or a complete one, plus perhaps a hidden stage that
 * snap_dir_sweep() removes. Deleting renames NAME to a hidden name first,
 * so a kill mid-delete never leaves a half snapshot under its name.
 * Names starting with '.' are never listed. A stage holds a flock on its
 * directory while it lives, and a delete on the snapshot's from before its
 * rename until it is gone, so a sweep from another process (or thread)
 * leaves a live writer's or deleter's directory alone. The one moment a
 * stage exists unlocked (made, not yet flock()ed) is covered by a shared
 * flock on DIR, which the sweep takes exclusively while it picks each
 * leftover: a sweep never removes a live stage and a create never fails
 * because one ran. Callers still serialize operations on one VM (its
 * lock); this module does not. */
#ifndef QV_KVM_SNAP_DIR_H
#define QV_KVM_SNAP_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "../../../include/qv/vm.h"

/* For tests only: fn is called before each step that changes the disk,
 * with the step's name ("mkdir", "create memory", "write memory",
 * "fsync state", "fsync stage", "rename", "fsync dir", "unlink info",
 * "rmdir"). A test _exit()s from it at step n to kill the writer there and
 * checks what is left. NULL (or fn NULL) in production. */
struct snap_hook {
    void (*fn)(void *opaque, const char *step);
    void *opaque;
};

/* What the creator records about the VM it captured; list reads it back. */
struct snap_meta {
    enum vm_state state;
    int64_t created_us; /* microseconds since the Unix epoch */
};

struct snap_dir_entry {
    char *name;
    struct snap_meta meta; /* zero when damaged */
    uint64_t bytes;        /* allocated blocks of its files (st_blocks * 512) */
    /* NULL, or (listing only) why its info file cannot be used: the error
     * naming the file and the fault ("... checksum mismatch ..."). A
     * damaged snapshot cannot be restored; it can be deleted. */
    char *damage;
};

struct snap_stage;

/* Start snapshot name in dir (created 0700 if missing). QV_ERR_INVALID_ARG
 * for a name a VM could not have (names.h), QV_ERR_EXISTS when name is
 * taken. hook may be NULL; it is copied. */
int snap_stage_begin(const char *dir, const char *name, const struct snap_meta *meta,
                     const struct snap_hook *hook, struct snap_stage **out);
/* Write a whole file into the stage (created 0600, O_EXCL, O_NOFOLLOW).
 * file follows the name rules and is not "info". On failure (ENOSPC, ...)
 * the error names the snapshot, the file and the cause; the stage can then
 * only be aborted. */
int snap_stage_write(struct snap_stage *st, const char *file, const void *data, size_t len);
/* Create a file in the stage for a caller that writes it itself (guest
 * memory, sparse). The fd stays the stage's: do not close it; commit
 * fsyncs it. A caller whose own write fails must abort the stage. */
int snap_stage_open(struct snap_stage *st, const char *file);
/* The stage's directory (dir/.NAME.partial-XXXXXX), for a writer that
 * makes its own files there by tmp + fsync + rename (memory files,
 * cloned disks); commit renames it with them. Valid while the stage is. */
const char *snap_stage_path(struct snap_stage *st);
/* fsync every file and the stage, rename it to its name, fsync dir. The
 * stage is gone afterwards: committed, or on failure removed (then
 * QV_ERR_EXISTS if the name was taken meanwhile). */
int snap_stage_commit(struct snap_stage *st);
/* Remove the stage and everything written into it. NULL is a no-op. */
void snap_stage_abort(struct snap_stage *st);

/* Remove leftover stages and half-deleted snapshots of writers that died;
 * skips ones a live stage still holds. A missing dir is empty. */
int snap_dir_sweep(const char *dir);
/* QV_ERR_NOT_FOUND when there is no snapshot name. */
int snap_dir_delete(const char *dir, const char *name, const struct snap_hook *hook);
/* Committed snapshots, oldest first (then by name), then the damaged ones
 * by name. A missing dir has none. A subdirectory without an info file is
 * not a snapshot and is skipped; one whose info file is damaged, is not a
 * regular file or is larger than a few KiB is listed with damage set
 * rather than failing the listing. Only an unreadable dir fails it. */
int snap_dir_list(const char *dir, struct snap_dir_entry **out, size_t *count);
/* One snapshot, as list gives it; QV_ERR_NOT_FOUND when absent. A damaged
 * one is refused (the error list puts in damage), never returned. */
int snap_dir_stat(const char *dir, const char *name, struct snap_dir_entry *out);
void snap_dir_entry_clear(struct snap_dir_entry *e);
void snap_dir_entries_free(struct snap_dir_entry *list, size_t count);
/* DIR/NAME/FILE of a committed snapshot, names checked (g_free it); NULL
 * with QV_ERR_INVALID_ARG for a bad name. */
char *snap_dir_file(const char *dir, const char *name, const char *file);

#endif
