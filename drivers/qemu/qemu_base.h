/* Shared read-only disk files ("bases") left by copy-on-write clones
 * (qemu_base.c) and the clone itself (qemu_clone.c). */
#ifndef QV_QEMU_BASE_H
#define QV_QEMU_BASE_H

#include "qemu_vm.h"

/* The driver-wide lock every change to the base records happens under;
 * taken after any VM lock. timeout_ms 0: fail at once when held. */
int qemu_bases_lock(const char *state_dir, int timeout_ms);
void qemu_bases_unlock(int fd);

/* Record a new base for file, used by the VMs users[] ("name", "uuid"
 * pairs, NULL-terminated). owned: file is in a VM's directory and is given
 * a second name inside the record's directory, which the base then owns;
 * otherwise the base is the user's file where it is, never removed. The
 * path the overlays must name is returned in *base_file. The caller holds
 * the lock. */
int qemu_base_create(const char *state_dir, const char *file, bool owned, const char *const *users,
                     char **base_file);
/* Add VM name (uuid) to every base that from is a user of (a clone reads
 * through all of its source's bases). The caller holds the lock. */
int qemu_base_inherit(const char *state_dir, const char *from, const char *name, const char *uuid);
/* Drop the users that no longer exist (no VM of that name with that UUID)
 * and, with them, a VM's claim on the bases its disks no longer chain to
 * (only for VM name when def is given), then remove every base without a
 * user. Temporaries of interrupted record writes go too. The caller holds
 * the lock. */
void qemu_base_prune(const char *state_dir, const char *name, const struct qv_domain *def);
/* Remove the record of base_file (a clone that failed before any VM used
 * it). The caller holds the lock. */
void qemu_base_forget(const char *state_dir, const char *base_file);
/* Prune under the lock, when there are bases: taken without waiting
 * (sweep, when a connection opens) or waiting (release, after a VM was
 * destroyed: the bases only it read go with it). */
void qemu_base_sweep(const char *state_dir);
void qemu_base_release(const char *state_dir);

/* The backing chain of top (top first), as qemu-img follows it. */
int qemu_image_chain(const char *top, GPtrArray *files);
/* The snapshot tags of a qcow2 file (qemu-img -U: QEMU may hold it). */
int qemu_image_tags(const char *file, GHashTable *tags);
/* How deep below top the first file holding tag is among top and the
 * bases under it (*depth 0: top, 1: the base just below, ...; -1:
 * nowhere). chain receives top and the bases (a file that is not a base
 * ends it). */
int qemu_base_tag_depth(const char *state_dir, const char *top, const char *tag, GPtrArray *chain,
                        int *depth);
/* Add the tags of every file under top in its backing chain to tags (the
 * snapshots a VM took before it was cloned live there), whatever the base
 * records say; fails when the chain cannot be read. */
int qemu_base_tags_below(const char *top, GHashTable *tags);

/* vm_clone (qemu_clone.c); the caller holds both VMs' locks. */
int qemu_clone_locked(struct qv_conn *conn, struct qemu_vm *src, struct qemu_vm *dst,
                      const struct qv_domain *newdef);
/* Before restoring snapshot name: when it was taken before a clone (its
 * tags are in a shared base), give the VM a private copy of that base to
 * restore in. 1 when the definition changed, 0 when nothing was needed. A
 * memory snapshot's QEMU is stopped first (the restore starts it again). */
int qemu_clone_unshare(struct vm *vm, struct qemu_vm *q, const char *name);

/* Publish tmp as VM q unless def's UUID is taken (qemu_driver.c). */
int qemu_vm_publish(struct qv_conn *conn, struct qemu_vm *q, const char *tmp, const char *uuid);

#endif
