/* The restore intent (snap_engine_priv.h): the record in the snapshot
 * store that says a restore is writing disks in place, kept from before
 * the first image is touched until the last is fsynced, so a restore
 * killed part way is redone rather than leaving mixed disks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "snap_engine_priv.h"

#define GROUP "restore"
/* 256 paths of at most 4 KiB each, escaped, and the rest. */
#define INTENT_MAX (2u << 20)

static char *intent_path(struct snap_engine *e)
{
    return g_build_filename(e->dir, SNAP_ENGINE_INTENT, NULL);
}

static void fsync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

bool snap_engine_restore_recorded(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, SNAP_ENGINE_INTENT, NULL);
    struct stat st;
    return lstat(path, &st) == 0 || errno != ENOENT;
}

int snap_engine_lock(struct snap_engine *e)
{
    int fd = open(e->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open snapshot directory '%s'", e->dir);
    int rc;
    while ((rc = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        int err = errno;
        close(fd);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot lock snapshot directory '%s'", e->dir);
    }
    return fd;
}

void snap_engine_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* drops the flock */
}

/* The identity of the existing image path (never followed if a link). */
static int image_id(const char *path, struct snap_intent_id *id)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot open disk '%s'", path);
    }
    close(fd);
    id->dev = (guint64)st.st_dev;
    id->ino = (guint64)st.st_ino;
    return 0;
}

int snap_intent_write(struct snap_engine *e, const char *name, const GPtrArray *disks, GArray **ids)
{
    *ids = NULL;
    g_autoptr(GArray) got = g_array_new(FALSE, TRUE, sizeof(struct snap_intent_id));
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, GROUP, "snapshot", name);
    g_key_file_set_uint64(kf, GROUP, "disks", disks->len);
    for (guint i = 0; i < disks->len; i++) {
        struct snap_intent_id id;
        if (image_id(disks->pdata[i], &id) < 0) {
            qv_error_prefix("cannot record the restore of snapshot '%s'", name);
            return qv_error_code();
        }
        g_array_append_val(got, id);
        g_autofree char *key = g_strdup_printf("disk%u", i);
        g_key_file_set_string(kf, GROUP, key, disks->pdata[i]);
        g_autofree char *dev = g_strdup_printf("dev%u", i);
        g_autofree char *ino = g_strdup_printf("ino%u", i);
        g_key_file_set_uint64(kf, GROUP, dev, id.dev);
        g_key_file_set_uint64(kf, GROUP, ino, id.ino);
    }
    gsize len = 0;
    g_autofree char *data = g_key_file_to_data(kf, &len, NULL);
    g_autofree char *path = intent_path(e);
    snap_engine_step(e, "write restore intent");
    if (qv_file_write_atomic(path, data, len, 0600) < 0) {
        qv_error_prefix("cannot record the restore of snapshot '%s'", name);
        return qv_error_code();
    }
    *ids = g_steal_pointer(&got);
    return 0;
}

int snap_intent_read(struct snap_engine *e, char **name, GPtrArray **disks, GArray **ids)
{
    *name = NULL;
    *disks = NULL;
    if (ids)
        *ids = NULL;
    g_autofree char *path = intent_path(e);
    g_autofree char *data = NULL;
    size_t len = 0;
    int rc = qv_file_read_state(path, INTENT_MAX, &data, &len);
    if (rc == QV_ERR_NOT_FOUND) {
        qv_reset_error();
        return 0;
    }
    if (rc < 0)
        return rc;
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *snap = NULL;
    guint64 n = 0;
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &err) ||
        !(snap = g_key_file_get_string(kf, GROUP, "snapshot", &err)) ||
        ((n = g_key_file_get_uint64(kf, GROUP, "disks", &err)), err))
        return qv_error_set(QV_ERR_PROTOCOL, "restore record '%s': %s", path, err->message);
    if (n > SNAP_ENGINE_MAX_DISKS)
        return qv_error_set(QV_ERR_PROTOCOL, "restore record '%s': disk count %llu is over %u",
                            path, (unsigned long long)n, SNAP_ENGINE_MAX_DISKS);
    g_autoptr(GPtrArray) d = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) got = g_array_new(FALSE, TRUE, sizeof(struct snap_intent_id));
    for (guint64 i = 0; i < n; i++) {
        g_autofree char *key = g_strdup_printf("disk%llu", (unsigned long long)i);
        g_autofree char *dev = g_strdup_printf("dev%llu", (unsigned long long)i);
        g_autofree char *ino = g_strdup_printf("ino%llu", (unsigned long long)i);
        char *p = g_key_file_get_string(kf, GROUP, key, &err);
        struct snap_intent_id id = {0};
        if (p && g_path_is_absolute(p) && !err)
            id.dev = g_key_file_get_uint64(kf, GROUP, dev, &err);
        if (p && g_path_is_absolute(p) && !err)
            id.ino = g_key_file_get_uint64(kf, GROUP, ino, &err);
        if (!p || !g_path_is_absolute(p) || err) {
            g_free(p);
            return qv_error_set(QV_ERR_PROTOCOL, "restore record '%s': disk %llu: %s", path,
                                (unsigned long long)i,
                                err ? err->message : "not an absolute file name");
        }
        g_ptr_array_add(d, p);
        g_array_append_val(got, id);
    }
    *name = g_steal_pointer(&snap);
    *disks = g_steal_pointer(&d);
    if (ids)
        *ids = g_steal_pointer(&got);
    return 1;
}

void snap_intent_sweep(struct snap_engine *e)
{
    /* qv_file_write_atomic's temporary ("." + the record's own name +
     * ".XXXXXX": ..restore-intent.XXXXXX) of a writer killed while writing
     * the record: no record was made. */
    GDir *d = g_dir_open(e->dir, 0, NULL);
    if (!d)
        return;
    const char *n;
    const char *prefix = "." SNAP_ENGINE_INTENT ".";
    size_t plen = strlen(prefix);
    while ((n = g_dir_read_name(d)))
        if (strncmp(n, prefix, plen) == 0 && strlen(n) == plen + 6) {
            g_autofree char *p = g_build_filename(e->dir, n, NULL);
            unlink(p);
        }
    g_dir_close(d);
}

int snap_intent_remove(struct snap_engine *e)
{
    g_autofree char *path = intent_path(e);
    snap_engine_step(e, "remove restore intent");
    if (unlink(path) < 0 && errno != ENOENT)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot remove restore record '%s'", path);
    fsync_dir(e->dir);
    return 0;
}
