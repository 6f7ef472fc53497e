#define _GNU_SOURCE
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int qv_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);

    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, mode);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot create a temporary file for '%s'",
                                  path);
    if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot write '%s'", path);
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        int err = errno;
        unlink(tmp);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot replace '%s'", path);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int qv_file_read(const char *path, char **data, size_t *len)
{
    g_autoptr(GError) err = NULL;
    gsize n = 0;
    if (!g_file_get_contents(path, data, &n, &err)) {
        int code = QV_ERR_IO;
        if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            code = QV_ERR_NOT_FOUND;
        else if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_ACCES))
            code = QV_ERR_PERMISSION;
        return qv_error_set(code, "%s", err->message);
    }
    if (len)
        *len = n;
    return 0;
}

/* mkdir with exactly `mode`: the caller's umask must not decide (0277 would
 * leave a directory nobody can create files in). */
static int mkdir_exact(const char *dir, mode_t mode)
{
    if (mkdir(dir, mode) < 0)
        return -1;
    return chmod(dir, mode);
}

static int mkdir_parents(const char *dir, mode_t mode)
{
    struct stat st;
    if (lstat(dir, &st) == 0)
        return 0;
    g_autofree char *parent = g_path_get_dirname(dir);
    if (strcmp(parent, dir) != 0 && mkdir_parents(parent, mode) < 0)
        return -1;
    if (mkdir_exact(dir, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

int qv_dir_check_owner(const char *dir, const struct stat *st)
{
    if (st->st_uid != geteuid())
        return qv_error_set(QV_ERR_PERMISSION,
                            "state directory '%s' belongs to uid %u, not to this user (uid %u); "
                            "use a directory of your own",
                            dir, (unsigned)st->st_uid, (unsigned)geteuid());
    return 0;
}

int qv_dir_ensure(const char *dir, mode_t mode)
{
    struct stat pre;
    if (lstat(dir, &pre) == 0 && !S_ISDIR(pre.st_mode))
        return qv_error_set(QV_ERR_IO, "'%s' exists and is not a directory", dir);
    if (mkdir_parents(dir, mode) < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot create directory '%s'", dir);
    struct stat st;
    if (lstat(dir, &st) < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot stat '%s'", dir);
    if (!S_ISDIR(st.st_mode))
        return qv_error_set(QV_ERR_IO, "'%s' exists and is not a directory", dir);
    /* Another user's directory could be read, or swapped under us. */
    if (qv_dir_check_owner(dir, &st) < 0)
        return qv_error_code();
    if ((st.st_mode & 07777) != mode && chmod(dir, mode) < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot chmod '%s'", dir);
    return 0;
}

int qv_file_open_private(const char *path, int flags)
{
    int fd = open(path, flags | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    /* Created under a strict umask, the file lacks bits a later open needs. */
    if (st.st_uid == geteuid() && (st.st_mode & 0777) != 0600 && fchmod(fd, 0600) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int qv_dir_remove_tree(const char *dir)
{
    if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot remove '%s'", dir);
    return 0;
}
