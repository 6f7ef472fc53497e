/* vm_clone on kvm:///embed: the clone's store <state root>/kvm-embed/NEW,
 * built by the snapshot engine (snapshot/snap_clone.h) from the source.
 *
 * The core gives the clone's definition (new name, UUID and MACs). Each
 * writable file disk of the source is copied into the store as
 * disk-TARGET[.EXT] (qv_file_clone: FICLONE where the file system shares
 * blocks, else a sparse copy) and the definition pointed at the copy;
 * read-only disks are shared, being never written. A running or paused
 * source is captured as well (memory, vCPUs, devices), paused only for
 * the capture and the disk copies; the clone is CREATED and its first
 * vm_start resumes from that state (kvm_snapshot_resume_clone).
 *
 * A serial or console written to a file gets its own file in the store
 * (serialN.log, empty): two VMs appending to one log would interleave.
 *
 * Refused: a source made by vm_create or defined without a kernel (its
 * RAM layout and vCPUs are its caller's, made call by call, which a
 * definition cannot make again), a clone not started yet (its state is
 * still in its store), and a writable disk that is not a file. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/stat.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/names.h"
#include "kvm.h"
#include "snapshot/snap_clone.h"

/* What a snapshot of the source copies (kvm_snapshot.c's op_disks), in
 * the same order: the engine pairs them with the names given here. */
static bool copied(const struct qv_disk *d)
{
    return d->source && !d->readonly && (!d->driver_type || strcmp(d->driver_type, "raw") == 0);
}

/* Point def's writable disks at their copies in store; names[] gets the
 * copies' file names (g_free each), in snapshot order. */
static int plan_disks(const char *src_name, struct qv_domain *def, const char *store,
                      GPtrArray *names)
{
    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (!copied(d))
            continue;
        if (d->type != QV_DISK_TYPE_FILE)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "cannot clone VM '%s': disk '%s' (%s) is a writable block device; "
                                "only file disks are copied (make it read-only to share it)",
                                src_name, d->target, d->source);
        struct stat st;
        if (lstat(d->source, &st) == 0 && S_ISLNK(st.st_mode))
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "cannot clone VM '%s': disk '%s' source '%s' is a symbolic link; "
                                "clone copies regular files only",
                                src_name, d->target, d->source);
        char *file = g_strdup_printf("disk-%s%s", d->target, qv_name_plain_extension(d->source));
        if (!qv_name_check(file, "disk file")) {
            g_free(file);
            return qv_error_code();
        }
        g_ptr_array_add(names, file);
        g_free(d->source);
        d->source = g_build_filename(store, file, NULL);
    }
    return 0;
}

int kvm_clone_store(struct kvm_machine *src, const char *state_root, struct qv_domain *def,
                    int *lock_out, bool *resume)
{
    *lock_out = -1;
    *resume = false;
    if (!src->booted)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "cannot clone VM '%s': it is driven register by register (vm_create, "
                            "or no <kernel>), its memory regions and vCPUs made by its caller, "
                            "which a definition cannot make again; take a snapshot and restore it "
                            "into a VM built the same way",
                            src->name);
    if (!src->snap)
        return qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s' has no state directory", src->name);
    /* Its state is in its store, not in its machine: a copy of the
     * definition alone would boot, not go on from that state. */
    if (kvm_snapshot_resume_pending(src))
        return qv_error_set(
            QV_ERR_INVALID_STATE,
            "cannot clone VM '%s': it is a clone not started yet, whose first start "
            "resumes its source's captured state; start it first, or clone the "
            "source",
            src->name);
    g_autofree char *store = proc_vm_dir(state_root, KVM_EMBED_KIND, def->name);
    g_autofree char *parent = g_path_get_dirname(store);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    int rc = plan_disks(src->name, def, store, names);
    if (rc < 0)
        return rc;
    qv_domain_clone_chardevs(def, store);
    /* NEW's lock, held from here to the clone's first snapshot call or
     * its end: no other caller makes or uses NEW's store meanwhile. */
    int lock = proc_lock(state_root, KVM_EMBED_KIND, def->name, 0);
    if (lock < 0) {
        qv_error_prefix("cannot clone VM '%s' to '%s'", src->name, def->name);
        return lock;
    }
    if (snap_clone_sweep(parent, def->name) < 0)
        qv_reset_error(); /* a leftover only costs space */
    struct stat st;
    if (lstat(store, &st) == 0) {
        proc_unlock(lock);
        return qv_error_set(QV_ERR_EXISTS,
                            "cannot clone VM '%s' to '%s': its state directory %s exists (left "
                            "by an earlier VM of that name; remove it or choose another name)",
                            src->name, def->name, store);
    }
    g_autofree char *xml = qv_domain_format_xml(def);
    struct snap_clone c = {
        .store = store,
        .xml = xml,
        .disks = (const char *const *)names->pdata,
        .ndisks = names->len,
    };
    rc = xml ? kvm_snapshot_clone(src, &c) : qv_error_code();
    if (rc < 0) {
        proc_unlock(lock);
        qv_error_prefix("cannot clone VM '%s' to '%s'", src->name, def->name);
        return rc;
    }
    *resume = snap_clone_has_resume(store);
    *lock_out = lock;
    return 0;
}

void kvm_clone_discard(const char *state_root, const char *name, int lock)
{
    g_autofree char *store = proc_vm_dir(state_root, KVM_EMBED_KIND, name);
    struct qv_error_saved err;
    qv_error_save(&err);
    qv_dir_remove_tree(store);
    qv_error_restore(&err);
    if (lock >= 0)
        proc_unlock(lock);
}
