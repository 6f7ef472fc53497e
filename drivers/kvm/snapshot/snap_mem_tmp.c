/* The files under memory files: a temporary file renamed over its target
 * once complete, and exact reads that name the file they fail on. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "snap_mem_format.h"

int snap_mem_pread(int fd, const char *path, void *p, size_t len, uint64_t off)
{
    uint8_t *b = p;
    while (len) {
        ssize_t n = pread(fd, b, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return qv_error_set_errno(QV_ERR_IO, errno, "cannot read memory file '%s'", path);
        if (n == 0)
            return qv_error_set(QV_ERR_PROTOCOL,
                                "memory file '%s': ends at byte %llu, before the %zu bytes it "
                                "should have there",
                                path, (unsigned long long)off, len);
        b += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* The writer holds an exclusive flock on its temporary file from creation
 * to rename, and snap_mem_sweep removes only a file it can lock, so a live
 * writer's file is never swept. mkstemp and flock are two steps: a sweep
 * in between may lock and remove the new file first, which the writer sees
 * once it has the lock (no links left) and then starts over. */
static int create_locked(struct snap_mem_tmp *t, const char *dir, const char *base)
{
    for (int tries = 0; tries < 16; tries++) {
        t->tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
        /* O_EXCL (mkstemp) never follows a planted symlink. */
        t->fd = g_mkstemp_full(t->tmp, O_RDWR | O_CLOEXEC, 0600);
        if (t->fd < 0) {
            int err = errno;
            g_clear_pointer(&t->tmp, g_free);
            return qv_error_set_errno(QV_ERR_IO, err, "cannot create a temporary file for '%s'",
                                      t->path);
        }
        struct stat st;
        int rc;
        while ((rc = flock(t->fd, LOCK_EX)) < 0 && errno == EINTR)
            ;
        if (rc == 0 && fstat(t->fd, &st) == 0 && st.st_nlink > 0)
            return 0;
        int err = errno;
        close(t->fd);
        t->fd = -1;
        g_clear_pointer(&t->tmp, g_free);
        if (rc < 0)
            return qv_error_set_errno(QV_ERR_IO, err, "cannot lock a temporary file for '%s'",
                                      t->path);
    }
    return qv_error_set(QV_ERR_IO, "cannot create a temporary file for '%s': swept each time",
                        t->path);
}

int snap_mem_tmp_open(struct snap_mem_tmp *t, const char *path, uint64_t size)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    t->path = path;
    t->tmp = NULL;
    t->fd = -1;
    int rc = create_locked(t, dir, base);
    if (rc < 0)
        return rc;
    /* The file's length up front, holes where nothing is written. */
    if (ftruncate(t->fd, (off_t)size) < 0) {
        int err = errno;
        snap_mem_tmp_abort(t);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot size memory file '%s' to %llu bytes",
                                  path, (unsigned long long)size);
    }
    return 0;
}

int snap_mem_tmp_write(struct snap_mem_tmp *t, const void *p, size_t len, uint64_t off)
{
    int err = qv_pwrite_all(t->fd, p, len, (off_t)off);
    if (err < 0)
        return qv_error_set_errno(QV_ERR_IO, -err, "cannot write memory file '%s'", t->path);
    return 0;
}

int snap_mem_tmp_write_sparse(struct snap_mem_tmp *t, const void *p, size_t len, uint64_t off)
{
    int err = qv_pwrite_sparse(t->fd, p, len, (off_t)off);
    if (err < 0)
        return qv_error_set_errno(QV_ERR_IO, -err, "cannot write memory file '%s'", t->path);
    return 0;
}

int snap_mem_tmp_commit(struct snap_mem_tmp *t)
{
    /* fsync before rename: the new name must never point at data that a
     * crash could still lose (and fsync is where some file systems report
     * ENOSPC). */
    if (fsync(t->fd) < 0) {
        int err = errno;
        snap_mem_tmp_abort(t);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot write memory file '%s'", t->path);
    }
    /* Renamed with the lock still held: a sweep that opened the old name
     * before the rename cannot lock the file until it has its new name,
     * and then finds the old name gone. */
    if (rename(t->tmp, t->path) < 0) {
        int err = errno;
        snap_mem_tmp_abort(t);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot replace memory file '%s'", t->path);
    }
    close(t->fd);
    t->fd = -1;
    g_clear_pointer(&t->tmp, g_free);
    g_autofree char *dir = g_path_get_dirname(t->path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

void snap_mem_tmp_abort(struct snap_mem_tmp *t)
{
    /* Unlinked before the close drops the lock, for the same reason. */
    if (t->tmp)
        unlink(t->tmp);
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    g_clear_pointer(&t->tmp, g_free);
}

int snap_mem_sweep(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *prefix = g_strdup_printf(".%s.", base);
    size_t plen = strlen(prefix);
    DIR *d = opendir(dir);
    if (!d)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot read directory '%s'", dir);
    int removed = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* Exactly what snap_mem_tmp_open names: prefix and six more. */
        if (strncmp(e->d_name, prefix, plen) != 0 || strlen(e->d_name) != plen + 6)
            continue;
        /* Only a file no writer holds (snap_mem_tmp_open): one that can
         * be locked, still under this name once locked. */
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
            continue;
        struct stat st, now;
        bool ours = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                    flock(fd, LOCK_EX | LOCK_NB) == 0 &&
                    fstatat(dirfd(d), e->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
                    now.st_dev == st.st_dev && now.st_ino == st.st_ino;
        if (ours && unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
            rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot remove '%s/%s'", dir, e->d_name);
            close(fd);
            break;
        }
        close(fd);
        removed += ours;
    }
    closedir(d);
    return rc < 0 ? rc : removed;
}
