/* vm_clone on kvm:///session. The core gives the clone's definition (new
 * name, UUID and NIC MACs); here each writable file disk of the source is
 * copied with qv_file_clone (sharing blocks where the file system can,
 * else a sparse copy) into the clone's directory as TARGET.EXT, and the
 * definition is pointed at the copies. Read-only disks and CD-ROMs are
 * shared, as they are never written. File and listening unix consoles
 * get their own paths in the clone's directory (qv_domain_clone_chardevs),
 * as on kvm:///embed.
 *
 * Everything is made in a hidden temporary directory (.tmp-NEW-XXXXXX,
 * which kvm_session.c's sweep removes under NEW's lock if we are killed)
 * and renamed into place as <root>/kvm/NEW at the end: no half-made VM is
 * ever visible. A running source is paused over QMP while its disks are
 * copied, so the copies are consistent, and resumed after, whatever
 * happened. A clone killed while the source is paused cannot resume it:
 * the marker KSESS_CLONE_MARKER, written before the stop and removed after
 * the cont, lets the next caller that takes the source's lock (no clone
 * holds it then) resume it (ksess_clone_recover). Snapshots are not copied (they belong to the
 * source's driver state; the qemu driver's clone starts without snapshots too).
 *
 * A failed clone leaves NEW's lock file (.NEW.lock), as a destroy does:
 * unlinking it is safe only if every locker re-checks, once it holds the
 * flock, that the path still names the inode it locked; qv_lock_acquire
 * does not, nor would an older libqv, so a caller waiting on the old inode
 * and one locking a new file could both hold "the" lock (docs/drivers.md,
 * kvm:///session clone). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/proc/proc.h"
#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "../../../lib/util/json.h"
#include "../../../lib/util/lock.h"
#include "../../../lib/util/names.h"
#include "ksess.h"

static bool copied(const struct qv_disk *d)
{
    return !d->readonly && d->device != QV_DISK_CDROM && d->source;
}

/* Copy the disks into tmp and point def at their final place in dir. */
static int copy_disks(struct ksess_vm *src, struct qv_domain *def, const char *tmp, const char *dir)
{
    for (guint i = 0; i < def->disks->len; i++) {
        struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (!copied(d))
            continue;
        if (d->type != QV_DISK_TYPE_FILE)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "cannot clone VM '%s': disk '%s' (%s) is not a file; only file "
                                "disks are copied",
                                src->name, d->target, d->source);
        /* qv_file_clone opens with O_NOFOLLOW, which would fail with a
         * bare ELOOP: say what is refused and why. */
        struct stat st;
        if (lstat(d->source, &st) == 0 && S_ISLNK(st.st_mode))
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "cannot clone VM '%s': disk '%s' source '%s' is a symbolic link; "
                                "clone copies regular files only",
                                src->name, d->target, d->source);
        g_autofree char *file =
            g_strdup_printf("%s%s", d->target, qv_name_plain_extension(d->source));
        if (!qv_name_check(file, "disk file"))
            return qv_error_code();
        g_autofree char *to = g_build_filename(tmp, file, NULL);
        bool shared = false;
        int rc = qv_file_clone(d->source, to, &shared);
        if (rc < 0) {
            qv_error_prefix("cannot clone VM '%s': disk '%s'", src->name, d->target);
            return rc;
        }
        proc_log(src->dir, "clone: disk %s copied (%s) from %s", d->target,
                 shared ? "shared blocks" : "sparse copy", d->source);
        g_free(d->source);
        d->source = g_build_filename(dir, file, NULL);
    }
    return 0;
}

static char *marker_path(struct ksess_vm *k)
{
    return g_build_filename(k->dir, KSESS_CLONE_MARKER, NULL);
}

bool ksess_clone_marked(struct ksess_vm *k)
{
    g_autofree char *path = marker_path(k);
    struct stat st;
    return lstat(path, &st) == 0;
}

void ksess_clone_recover(struct ksess_vm *k)
{
    if (!ksess_clone_marked(k))
        return;
    struct qv_error_saved e;
    qv_error_save(&e);
    g_autofree char *path = marker_path(k);
    int rc = 0;
    if (ksess_running(k)) {
        struct qmp *m = ksess_qmp(k, false);
        rc = m ? qmp_command(m, "cont", NULL, NULL, KSESS_QMP_TIMEOUT_MS) : qv_error_code();
        qmp_close(m);
    }
    if (rc == 0) {
        unlink(path);
        proc_log(k->dir, "clone: a clone that did not finish left the VM paused (%s): resumed",
                 KSESS_CLONE_MARKER);
    } else {
        /* Kept: the next caller tries again. */
        proc_log(k->dir, "clone: cannot resume the VM a clone that did not finish paused: %s",
                 qv_last_error()->message);
    }
    qv_error_restore(&e);
}

/* Pause a running source: 1 when we did (resume it after), 0 when it was
 * not running, or a QV_ERR_*. */
static int pause_source(struct ksess_vm *k)
{
    if (!ksess_running(k))
        return 0;
    struct qmp *m = ksess_qmp(k, false);
    JsonNode *ret = NULL;
    int rc = m ? qmp_command(m, "query-status", NULL, &ret, KSESS_QMP_TIMEOUT_MS) : qv_error_code();
    bool running = false;
    if (rc == 0) {
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
        running = qv_json_bool(o, "running", FALSE);
        json_node_unref(ret);
    }
    g_autofree char *marker = marker_path(k);
    /* Before the stop: if we die after it, the marker is what tells the
     * next caller the VM is paused for nobody. */
    if (rc == 0 && running)
        rc = qv_file_write_atomic(marker, "clone\n", 6, 0600);
    if (rc == 0 && running) {
        rc = qmp_command(m, "stop", NULL, NULL, KSESS_QMP_TIMEOUT_MS);
        if (rc < 0)
            unlink(marker);
    }
    qmp_close(m);
    if (rc < 0) {
        qv_error_prefix("cannot clone VM '%s': cannot pause it to copy its disks", k->name);
        return rc;
    }
    if (running)
        proc_log(k->dir, "clone: paused while its disks are copied");
    return running ? 1 : 0;
}

static int resume_source(struct ksess_vm *k)
{
    struct qmp *m = ksess_qmp(k, false);
    int rc = m ? qmp_command(m, "cont", NULL, NULL, KSESS_QMP_TIMEOUT_MS) : qv_error_code();
    qmp_close(m);
    if (rc < 0) {
        /* The marker stays: the next caller under the lock resumes it. */
        qv_error_prefix("VM '%s' was paused for a clone and cannot be resumed", k->name);
    } else {
        g_autofree char *marker = marker_path(k);
        unlink(marker);
        proc_log(k->dir, "clone: resumed");
    }
    return rc;
}

/* Publish tmp as nk's directory, under the UUID lock so one UUID makes one
 * VM; an empty directory a cut-short define left is replaced. */
static int publish(struct qv_conn *conn, struct ksess_vm *nk, const struct qv_domain *def,
                   const char *tmp)
{
    g_autofree char *lock_path =
        g_build_filename(conn->state_dir, KSESS_KIND, KSESS_UUID_LOCK, NULL);
    int ufd = qv_lock_acquire(lock_path, KSESS_LOCK_WAIT_MS);
    if (ufd < 0)
        return ufd;
    int rc = proc_uuid_check(conn->state_dir, KSESS_KIND, def->uuid, def->name);
    g_autofree char *xml = g_build_filename(nk->dir, "domain.xml", NULL);
    if (rc == 0 && g_file_test(xml, G_FILE_TEST_EXISTS))
        rc = qv_error_set(QV_ERR_EXISTS, "cannot clone to '%s': a VM of that name exists on %s",
                          def->name, conn->uri_str);
    if (rc == 0 && g_file_test(nk->dir, G_FILE_TEST_IS_DIR) &&
        !g_file_test(xml, G_FILE_TEST_EXISTS))
        rc = qv_dir_remove_tree(nk->dir);
    if (rc == 0 && rename(tmp, nk->dir) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot clone to '%s': cannot create '%s'",
                                def->name, nk->dir);
    if (rc == 0) {
        g_autofree char *kind = g_build_filename(conn->state_dir, KSESS_KIND, NULL);
        int fd = open(kind, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
    }
    qv_lock_release(ufd);
    return rc;
}

static int clone_locked(struct vm *src, struct ksess_vm *k, struct ksess_vm *nk,
                        const struct qv_domain *newdef)
{
    g_autoptr(qv_domain) def = qv_domain_copy(newdef);
    if (!def)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    g_autofree char *xml_path = g_build_filename(nk->dir, "domain.xml", NULL);
    if (g_file_test(xml_path, G_FILE_TEST_EXISTS))
        return qv_error_set(QV_ERR_EXISTS, "cannot clone VM '%s': a VM named '%s' exists on %s",
                            src->name, def->name, src->conn->uri_str);
    g_autofree char *tmp =
        g_strdup_printf("%s/%s/.tmp-%s-XXXXXX", src->conn->state_dir, KSESS_KIND, def->name);
    if (!g_mkdtemp_full(tmp, 0700))
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot clone VM '%s': cannot create '%s'",
                                  src->name, tmp);
    int paused = pause_source(k);
    int rc = paused < 0 ? paused : copy_disks(k, def, tmp, nk->dir);
    qv_domain_clone_chardevs(def, nk->dir);
    if (paused > 0) {
        /* Resumed whatever happened; a copy that worked stands even if
         * the resume did not (the error says so). */
        struct qv_error_saved e;
        qv_error_save(&e);
        int rrc = resume_source(k);
        if (rc < 0)
            qv_error_restore(&e);
        else
            rc = rrc;
    }
    g_autofree char *xml = rc == 0 ? qv_domain_format_xml(def) : NULL;
    if (rc == 0 && !xml)
        rc = qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    g_autofree char *def_tmp = g_build_filename(tmp, "domain.xml", NULL);
    if (rc == 0)
        rc = qv_file_write_atomic(def_tmp, xml, strlen(xml), 0600);
    if (rc == 0)
        rc = publish(src->conn, nk, def, tmp);
    if (rc < 0) {
        struct qv_error_saved e;
        qv_error_save(&e);
        qv_dir_remove_tree(tmp);
        qv_error_restore(&e);
        return rc;
    }
    proc_log(nk->dir, "cloned from VM '%s'", src->name);
    proc_log(k->dir, "cloned to VM '%s'", def->name);
    return 0;
}

int ksess_clone(struct vm *src, const struct qv_domain *newdef, void **priv)
{
    struct ksess_vm *k = ksess_of(src);
    ksess_reap_children();
    int rc = proc_kind_dir_ensure(src->conn->state_dir, KSESS_KIND);
    if (rc < 0)
        return rc;
    struct ksess_vm *nk = ksess_vm_new(src->conn, newdef->name);
    rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc == 0) {
        rc = ksess_lock(nk, KSESS_LOCK_WAIT_MS);
        if (rc == 0) {
            rc = clone_locked(src, k, nk, newdef);
            ksess_unlock(nk);
        }
        ksess_unlock(k);
    }
    if (rc < 0) {
        ksess_vm_free(nk);
        return rc;
    }
    *priv = nk;
    return 0;
}
