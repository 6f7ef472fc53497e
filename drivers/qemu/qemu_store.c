/* How VM directories appear and disappear so that a kill at any point
 * leaves either the old VM or the new one, never half of either: a new
 * directory is filled under a temporary name and renamed into place; a
 * destroyed one is renamed away before it is removed. Temporaries are
 * named .tmp-NAME-XXXXXX after the VM whose lock their writer holds, so a
 * sweeper that gets that lock knows nobody writes them any more. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/lock.h"
#include "../../lib/util/names.h"
#include "qemu_base.h"

#define TMP_PREFIX ".tmp-"
#define TMP_SUFFIX_LEN 7 /* "-XXXXXX" */

char *qemu_tmp_dir(const struct qemu_vm *q)
{
    g_autofree char *kind = g_path_get_dirname(q->dir);
    char *tmp = g_strdup_printf("%s/" TMP_PREFIX "%s-XXXXXX", kind, q->name);
    if (!g_mkdtemp_full(tmp, 0700)) {
        qv_error_set_errno(QV_ERR_IO, errno, "cannot create a directory for VM '%s' in '%s'",
                           q->name, kind);
        g_free(tmp);
        return NULL;
    }
    return tmp;
}

int qemu_dir_discard(const struct qemu_vm *q, const char *dir)
{
    g_autofree char *kind = g_path_get_dirname(q->dir);
    g_autofree char *trash = g_strdup_printf("%s/" TMP_PREFIX "%s-XXXXXX", kind, q->name);
    /* A name of our own first (mkdtemp), then the directory renamed over
     * that empty one: once renamed, no VM of that name exists any more. */
    if (!g_mkdtemp_full(trash, 0700))
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot remove VM '%s'", q->name);
    if (rename(dir, trash) < 0) {
        int err = errno;
        rmdir(trash);
        if (err == ENOENT)
            return 0;
        return qv_error_set_errno(QV_ERR_IO, err, "cannot remove VM '%s' (%s)", q->name, dir);
    }
    return qv_dir_remove_tree(trash);
}

int qemu_dir_publish(const struct qemu_vm *q, const char *tmp)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, q->dir, RENAME_NOREPLACE) == 0) {
            g_autofree char *kind = g_path_get_dirname(q->dir);
            int dfd = open(kind, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            return 0;
        }
        if (errno != EEXIST && errno != ENOTEMPTY)
            break;
        /* A directory without a definition (the caller checked there is
         * none, under the VM's lock) is what an older, interrupted
         * version left: nothing in it is a VM. */
        int rc = qemu_dir_discard(q, q->dir);
        if (rc < 0)
            return rc;
    }
    return qv_error_set_errno(QV_ERR_IO, errno, "cannot publish VM '%s' as '%s'", q->name, q->dir);
}

/* ---- one UUID, one VM ------------------------------------------------- */

/* Not a VM's lock name (those end in ".lock"). */
#define UUID_LOCK ".uuids.flock"

int qemu_uuid_lock(const char *state_dir)
{
    int rc = proc_kind_dir_ensure(state_dir, QEMU_KIND);
    if (rc < 0)
        return rc;
    g_autofree char *path = g_build_filename(state_dir, QEMU_KIND, UUID_LOCK, NULL);
    return qv_lock_acquire(path, QEMU_LOCK_WAIT_MS);
}

void qemu_uuid_unlock(int fd)
{
    qv_lock_release(fd);
}

int qemu_uuid_check(const char *state_dir, const char *uuid, const char *name)
{
    return proc_uuid_check(state_dir, QEMU_KIND, uuid, name);
}

/* ---- sweeping what interrupted operations left ------------------------- */

/* A hidden ".BASE.XXXXXX" file: qv_file_write_atomic's and the overlay's
 * temporaries. */
static bool is_tmp_file(const char *e)
{
    size_t n = strlen(e);
    return e[0] == '.' && n > 8 && e[n - 7] == '.' && strcmp(e, ".") != 0 && strcmp(e, "..") != 0;
}

static bool dir_has_tmp_files(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d)))
        if (is_tmp_file(e))
            return true;
    return false;
}

static bool has_tmp_files(const char *kind, const char *name)
{
    g_autofree char *dir = g_build_filename(kind, name, NULL);
    g_autofree char *snaps = g_build_filename(dir, "snapshots", NULL);
    return dir_has_tmp_files(dir) || dir_has_tmp_files(snaps);
}

static void sweep_files(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, e, NULL);
        struct stat sb;
        if (is_tmp_file(e) && lstat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            unlink(path);
    }
}

/* Under name's lock, taken without waiting: a holder may still be
 * writing. */
static void sweep_vm(struct qv_conn *conn, const char *kind, const char *name, GPtrArray *tmps)
{
    struct qemu_vm *q = qemu_vm_new(conn, name);
    if (qemu_vm_lock(q, 0) < 0) {
        qv_reset_error();
        qemu_vm_free(q);
        return;
    }
    for (guint i = 0; tmps && i < tmps->len; i++) {
        g_autofree char *path = g_build_filename(kind, g_ptr_array_index(tmps, i), NULL);
        proc_log(q->dir, "removing %s left by an interrupted operation", path);
        qv_dir_remove_tree(path);
    }
    g_autofree char *xml = g_build_filename(q->dir, "domain.xml", NULL);
    if (g_file_test(q->dir, G_FILE_TEST_IS_DIR)) {
        if (!g_file_test(xml, G_FILE_TEST_EXISTS)) {
            qemu_dir_discard(q, q->dir);
        } else {
            sweep_files(q->dir);
            g_autofree char *snaps = g_build_filename(q->dir, "snapshots", NULL);
            sweep_files(snaps);
        }
    }
    qv_reset_error();
    qemu_vm_unlock(q);
    qemu_vm_free(q);
}

static void free_list(gpointer p)
{
    if (p)
        g_ptr_array_unref(p);
}

void qemu_sweep(struct qv_conn *conn)
{
    g_autofree char *kind = g_build_filename(conn->state_dir, QEMU_KIND, NULL);
    g_autoptr(GDir) d = g_dir_open(kind, 0, NULL);
    if (!d)
        return;
    /* name -> its temporaries */
    g_autoptr(GHashTable) vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_list);
    const char *e;
    while ((e = g_dir_read_name(d))) {
        size_t n = strlen(e);
        if (g_str_has_prefix(e, TMP_PREFIX) && n > strlen(TMP_PREFIX) + TMP_SUFFIX_LEN &&
            e[n - TMP_SUFFIX_LEN] == '-') {
            char *name = g_strndup(e + strlen(TMP_PREFIX), n - strlen(TMP_PREFIX) - TMP_SUFFIX_LEN);
            if (!qv_name_check(name, "VM")) {
                qv_reset_error();
                g_free(name);
                continue;
            }
            GPtrArray *list = g_hash_table_lookup(vms, name);
            if (!list) {
                list = g_ptr_array_new_with_free_func(g_free);
                g_hash_table_insert(vms, name, list);
            } else {
                g_free(name);
            }
            g_ptr_array_add(list, g_strdup(e));
        } else if (e[0] != '.' && !g_hash_table_contains(vms, e)) {
            g_hash_table_insert(vms, g_strdup(e), NULL);
        }
    }
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, vms);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        g_autofree char *xml = g_build_filename(kind, k, "domain.xml", NULL);
        /* Only what needs it takes a lock: a healthy VM without hidden
         * files costs two stats. */
        if (!v && g_file_test(xml, G_FILE_TEST_EXISTS) && !has_tmp_files(kind, k))
            continue;
        sweep_vm(conn, kind, k, v);
    }
}
