#define _GNU_SOURCE
#include "snap_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "../../../lib/util/names.h"
#include "snap_buf.h"
#include "snap_file.h"

#define INFO_FILE "info"
#define INFO_VERSION 1u
/* Files are written in pieces of this size so that a test hook sees (and
 * can kill the writer between) several writes of a large file. */
#define WRITE_CHUNK (1u << 20)
#define PARTIAL_TAG ".partial-"
#define DELETING_TAG ".deleting-"
#define TAG_RANDOM 6
/* Snapshots are flat; a deeper tree is not one of ours. */
#define MAX_DEPTH 8
/* An info file is a few hundred bytes; anything near this is not one, and
 * refusing it by its size keeps a listing cheap however it was made. */
#define INFO_MAX_BYTES 4096u

struct stage_file {
    char *name;
    int fd;
};

struct snap_stage {
    char *dir;
    char *name;
    char *base; /* ".NAME.partial-XXXXXX" inside dir */
    char *path; /* dir/base, made on demand */
    int dirfd;
    int fd; /* the stage directory, flock()ed while the stage lives */
    struct snap_meta meta;
    struct snap_hook hook;
    GArray *files; /* struct stage_file */
    bool failed;
};

static void step(const struct snap_hook *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void step(const struct snap_hook *h, const char *fmt, ...)
{
    if (!h || !h->fn)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    h->fn(h->opaque, what);
}

static int open_dir(const char *dir)
{
    return open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* flock, waiting through signals. The snapshot directory's own lock is
 * held shared by a writer only while its new stage is not yet locked, and
 * exclusively by a sweep only while it picks one leftover: both are short,
 * so waiting is safe and a create never fails because a sweep ran. */
static int lock_wait(int fd, int op)
{
    int rc;
    while ((rc = flock(fd, op)) < 0 && errno == EINTR)
        ;
    return rc;
}

/* rename that never replaces: RENAME_NOREPLACE, or where the file system
 * lacks it a check first (callers hold the VM's lock, so nothing races
 * it); a directory is never renamed over a non-empty one anyway, and a
 * snapshot always holds its info file. */
static int rename_noreplace(int dfd, const char *from, const char *to)
{
    if (renameat2(dfd, from, dfd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    struct stat st;
    if (fstatat(dfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        errno = EEXIST;
        return -1;
    }
    if (renameat(dfd, from, dfd, to) < 0) {
        if (errno == ENOTEMPTY)
            errno = EEXIST;
        return -1;
    }
    return 0;
}

/* Remove name (a tree) under parent without following symlinks, calling
 * the hook before each unlink. */
static int remove_tree_at(int parent, const char *name, const struct snap_hook *h, int depth)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno != ENOTDIR && errno != ELOOP)
            return -1;
        step(h, "unlink %s", name);
        return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    int rc = 0, err = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_DEPTH) {
                errno = ELOOP;
                rc = -1;
            } else {
                rc = remove_tree_at(dirfd(d), e->d_name, h, depth + 1);
            }
        } else {
            step(h, "unlink %s", e->d_name);
            if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
                rc = -1;
        }
        if (rc < 0) {
            err = errno;
            break;
        }
    }
    closedir(d);
    if (rc < 0) {
        errno = err;
        return -1;
    }
    step(h, "rmdir");
    return unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

static void stage_free(struct snap_stage *st)
{
    for (guint i = 0; st->files && i < st->files->len; i++) {
        struct stage_file *f = &g_array_index(st->files, struct stage_file, i);
        if (f->fd >= 0)
            close(f->fd);
        g_free(f->name);
    }
    if (st->files)
        g_array_free(st->files, TRUE);
    if (st->fd >= 0)
        close(st->fd);
    if (st->dirfd >= 0)
        close(st->dirfd);
    g_free(st->dir);
    g_free(st->name);
    g_free(st->base);
    g_free(st->path);
    g_free(st);
}

void snap_stage_abort(struct snap_stage *st)
{
    if (!st)
        return;
    /* Removed while the flock is still held, so no sweep races it. */
    if (st->base && remove_tree_at(st->dirfd, st->base, NULL, 0) == 0)
        fsync(st->dirfd);
    stage_free(st);
}

static bool meta_ok(const struct snap_meta *m)
{
    return m->state >= VM_STATE_CREATED && m->state <= VM_STATE_DESTROYED && m->created_us >= 0;
}

int snap_stage_begin(const char *dir, const char *name, const struct snap_meta *meta,
                     const struct snap_hook *hook, struct snap_stage **out)
{
    *out = NULL;
    if (!qv_name_check(name, "snapshot"))
        return qv_error_code();
    if (!meta_ok(meta))
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "snapshot '%s': state %d or creation time %" G_GINT64_FORMAT
                            " is out of range",
                            name, (int)meta->state, meta->created_us);
    if (qv_dir_ensure(dir, 0700) < 0)
        return qv_error_code();
    int dfd = open_dir(dir);
    if (dfd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open snapshot directory '%s'", dir);
    struct stat sb;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        close(dfd);
        return qv_error_set(QV_ERR_EXISTS, "snapshot '%s' already exists in '%s'", name, dir);
    }

    struct snap_stage *st = g_new0(struct snap_stage, 1);
    st->dir = g_strdup(dir);
    st->name = g_strdup(name);
    st->dirfd = dfd;
    st->fd = -1;
    st->meta = *meta;
    if (hook)
        st->hook = *hook;
    st->files = g_array_new(FALSE, FALSE, sizeof(struct stage_file));

    /* Between mkdtemp and the stage's own flock the stage is unlocked; a
     * shared lock on dir over that window keeps a sweep (which takes it
     * exclusively to pick a leftover) from taking the stage for dead. */
    if (lock_wait(dfd, LOCK_SH) < 0) {
        int err = errno;
        stage_free(st);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot lock snapshot directory '%s'", dir);
    }
    step(&st->hook, "mkdir");
    g_autofree char *tmpl = g_strdup_printf("%s/.%s" PARTIAL_TAG "XXXXXX", dir, name);
    if (!g_mkdtemp_full(tmpl, 0700)) {
        int err = errno;
        flock(dfd, LOCK_UN);
        stage_free(st);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot create a stage for snapshot '%s' in '%s'",
                                  name, dir);
    }
    st->base = g_path_get_basename(tmpl);
    step(&st->hook, "lock stage");
    st->fd = openat(dfd, st->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    /* The umask may have taken bits 0700 needs. */
    int rc = 0;
    if (st->fd < 0 || fchmod(st->fd, 0700) < 0 || flock(st->fd, LOCK_EX | LOCK_NB) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot create a stage for snapshot '%s' in '%s'",
                                name, dir);
    /* Locked (or failed): the stage speaks for itself from here on. */
    flock(dfd, LOCK_UN);
    if (rc < 0) {
        snap_stage_abort(st);
        return rc;
    }
    *out = st;
    return 0;
}

static int stage_fail(struct snap_stage *st, int err, const char *verb, const char *file)
{
    st->failed = true;
    return qv_error_set_errno(QV_ERR_IO, err, "cannot %s file '%s' of snapshot '%s' in '%s'", verb,
                              file, st->name, st->dir);
}

static int stage_create(struct snap_stage *st, const char *file, bool internal)
{
    if (st->failed)
        return qv_error_set(QV_ERR_INVALID_STATE,
                            "snapshot '%s': an earlier write failed; the stage can only be aborted",
                            st->name);
    if (!qv_name_check(file, "snapshot file"))
        return qv_error_code();
    if (!internal && strcmp(file, INFO_FILE) == 0)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "snapshot '%s': the file name 'info' is the snapshot's own", st->name);
    step(&st->hook, "create %s", file);
    int fd = openat(st->fd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return stage_fail(st, errno, "create", file);
    if (fchmod(fd, 0600) < 0) {
        int err = errno;
        close(fd);
        return stage_fail(st, err, "create", file);
    }
    struct stage_file f = {g_strdup(file), fd};
    g_array_append_val(st->files, f);
    return fd;
}

static int stage_write(struct snap_stage *st, const char *file, const void *data, size_t len,
                       bool internal)
{
    int fd = stage_create(st, file, internal);
    if (fd < 0)
        return fd;
    const uint8_t *p = data;
    while (len) {
        size_t n = len > WRITE_CHUNK ? WRITE_CHUNK : len;
        step(&st->hook, "write %s", file);
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return stage_fail(st, errno, "write", file);
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int snap_stage_write(struct snap_stage *st, const char *file, const void *data, size_t len)
{
    return stage_write(st, file, data, len, false);
}

const char *snap_stage_path(struct snap_stage *st)
{
    if (!st->path)
        st->path = g_build_filename(st->dir, st->base, NULL);
    return st->path;
}

int snap_stage_open(struct snap_stage *st, const char *file)
{
    return stage_create(st, file, false);
}

static int info_build(const struct snap_meta *m, GByteArray **out)
{
    struct snap_out o;
    snap_out_init(&o);
    snap_put_u32(&o, (uint32_t)m->state);
    snap_put_u64(&o, (uint64_t)m->created_us);
    struct snap_section *s = snap_section_new(INFO_FILE, INFO_VERSION, &o);
    snap_out_clear(&o);
    int rc = snap_file_build(&s, 1, out);
    snap_section_free(s);
    return rc;
}

int snap_stage_commit(struct snap_stage *st)
{
    if (st->failed) {
        int rc = qv_error_set(QV_ERR_INVALID_STATE,
                              "snapshot '%s': an earlier write failed; not committed", st->name);
        snap_stage_abort(st);
        return rc;
    }
    GByteArray *info = NULL;
    int rc = info_build(&st->meta, &info);
    if (rc == 0) {
        rc = stage_write(st, INFO_FILE, info->data, info->len, true);
        g_byte_array_unref(info);
    }
    for (guint i = 0; rc == 0 && i < st->files->len; i++) {
        struct stage_file *f = &g_array_index(st->files, struct stage_file, i);
        step(&st->hook, "fsync %s", f->name);
        if (fsync(f->fd) < 0)
            rc = stage_fail(st, errno, "sync", f->name);
    }
    if (rc == 0) {
        step(&st->hook, "fsync stage");
        if (fsync(st->fd) < 0)
            rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot sync snapshot '%s' in '%s'", st->name,
                                    st->dir);
    }
    if (rc == 0) {
        step(&st->hook, "rename");
        if (rename_noreplace(st->dirfd, st->base, st->name) < 0) {
            if (errno == EEXIST)
                rc = qv_error_set(QV_ERR_EXISTS, "snapshot '%s' already exists in '%s'", st->name,
                                  st->dir);
            else
                rc = qv_error_set_errno(QV_ERR_IO, errno,
                                        "cannot move snapshot '%s' into place in '%s'", st->name,
                                        st->dir);
        }
    }
    if (rc < 0) {
        snap_stage_abort(st);
        return rc;
    }
    /* Renamed: the stage is the snapshot now, nothing of it to remove. */
    g_clear_pointer(&st->base, g_free);
    step(&st->hook, "fsync dir");
    if (fsync(st->dirfd) < 0) {
        /* Whether the snapshot survives a crash is unknown: take it back
         * so that an error always means there is no snapshot. */
        int err = errno;
        g_autofree char *name = g_strdup(st->name);
        g_autofree char *dir = g_strdup(st->dir);
        stage_free(st);
        snap_dir_delete(dir, name, NULL);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot sync snapshot directory '%s'", dir);
    }
    stage_free(st);
    return 0;
}

/* ".NAME.partial-XXXXXX" or ".NAME.deleting-XXXXXX": a stage or a
 * snapshot being deleted. No snapshot name starts with '.'. */
static bool is_leftover(const char *n)
{
    static const char *const tags[] = {PARTIAL_TAG, DELETING_TAG};
    size_t len = strlen(n);
    if (n[0] != '.')
        return false;
    for (size_t i = 0; i < G_N_ELEMENTS(tags); i++) {
        size_t tl = strlen(tags[i]);
        if (len >= 2 + tl + TAG_RANDOM && memcmp(n + len - TAG_RANDOM - tl, tags[i], tl) == 0)
            return true;
    }
    return false;
}

/* Entry names of dfd that pass keep(), read before anything is changed. */
static int dir_names(int dfd, const char *dir, bool (*keep)(const char *), GPtrArray **out)
{
    *out = NULL;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot read snapshot directory '%s'", dir);
    }
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    struct dirent *e;
    while ((e = readdir(d)))
        if (keep(e->d_name))
            g_ptr_array_add(names, g_strdup(e->d_name));
    closedir(d);
    *out = names;
    return 0;
}

int snap_dir_sweep(const char *dir)
{
    int dfd = open_dir(dir);
    if (dfd < 0) {
        if (errno == ENOENT)
            return 0;
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open snapshot directory '%s'", dir);
    }
    GPtrArray *names = NULL;
    int rc = dir_names(dfd, dir, is_leftover, &names);
    bool removed = false;
    for (guint i = 0; rc == 0 && i < names->len; i++) {
        const char *n = names->pdata[i];
        /* dir's lock, exclusive: no writer is between creating its stage
         * and locking it, so an unlocked leftover is a dead one. */
        if (lock_wait(dfd, LOCK_EX) < 0) {
            rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot lock snapshot directory '%s'", dir);
            break;
        }
        int fd = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        /* A live stage or deleter holds its lock: leave it to its owner. */
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
            close(fd);
            fd = -1;
        }
        flock(dfd, LOCK_UN);
        if (fd < 0)
            continue; /* gone, live, or not a directory: nothing to do */
        if (remove_tree_at(dfd, n, NULL, 0) < 0)
            rc =
                qv_error_set_errno(QV_ERR_IO, errno, "cannot remove leftover '%s' in '%s'", n, dir);
        else
            removed = true;
        close(fd);
    }
    if (removed)
        fsync(dfd);
    if (names)
        g_ptr_array_unref(names);
    close(dfd);
    return rc;
}

int snap_dir_delete(const char *dir, const char *name, const struct snap_hook *hook)
{
    if (!qv_name_check(name, "snapshot"))
        return qv_error_code();
    int dfd = open_dir(dir);
    struct stat sb;
    if (dfd < 0 || fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
        int err = errno;
        if (dfd >= 0)
            close(dfd);
        if (err == ENOENT)
            return qv_error_set(QV_ERR_NOT_FOUND, "no snapshot '%s' in '%s'", name, dir);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot open snapshot '%s' in '%s'", name, dir);
    }
    if (!S_ISDIR(sb.st_mode)) {
        close(dfd);
        return qv_error_set(QV_ERR_NOT_FOUND, "'%s' in '%s' is not a snapshot", name, dir);
    }
    /* Locked before it is renamed and until it is gone, so a sweep never
     * takes a live delete's hidden directory for a dead one. */
    int sfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0 || lock_wait(sfd, LOCK_EX) < 0) {
        int err = errno;
        if (sfd >= 0)
            close(sfd);
        close(dfd);
        if (err == ENOENT)
            return qv_error_set(QV_ERR_NOT_FOUND, "no snapshot '%s' in '%s'", name, dir);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot open snapshot '%s' in '%s'", name, dir);
    }
    /* Out of sight first: from here on a kill leaves a hidden leftover
     * for the sweep, never a half snapshot under its name. */
    g_autofree char *hidden = NULL;
    int rc = -1, err = EEXIST;
    for (int tries = 0; rc < 0 && err == EEXIST && tries < 100; tries++) {
        char rnd[TAG_RANDOM + 1];
        static const char chars[] =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (int i = 0; i < TAG_RANDOM; i++)
            rnd[i] = chars[g_random_int_range(0, (gint32)sizeof chars - 1)];
        rnd[TAG_RANDOM] = '\0';
        g_free(hidden);
        hidden = g_strdup_printf(".%s" DELETING_TAG "%s", name, rnd);
        step(hook, "rename");
        rc = rename_noreplace(dfd, name, hidden);
        err = errno;
    }
    if (rc < 0) {
        close(sfd);
        close(dfd);
        /* Deleted by someone else while this waited for its lock. */
        if (err == ENOENT)
            return qv_error_set(QV_ERR_NOT_FOUND, "no snapshot '%s' in '%s'", name, dir);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot delete snapshot '%s' in '%s'", name, dir);
    }
    step(hook, "fsync dir");
    fsync(dfd);
    if (remove_tree_at(dfd, hidden, hook, 0) < 0) {
        err = errno;
        close(sfd);
        close(dfd);
        return qv_error_set_errno(QV_ERR_IO, err,
                                  "snapshot '%s' is deleted but its files in '%s/%s' could not all "
                                  "be removed (a sweep retries)",
                                  name, dir, hidden);
    }
    step(hook, "fsync dir");
    fsync(dfd);
    close(sfd);
    close(dfd);
    return 0;
}

static uint64_t bytes_of(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_blocks * 512u;
    }
    closedir(d);
    return sum;
}

/* The info file of snapshot name: 0, 1 when it has none (not a snapshot),
 * or an error naming it. */
static int stat_at(int dfd, const char *dir, const char *name, struct snap_dir_entry *out)
{
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
        return 1;
    g_autofree char *path = g_build_filename(dir, name, INFO_FILE, NULL);
    struct stat ib;
    g_autofree char *rel = g_build_filename(name, INFO_FILE, NULL);
    if (fstatat(dfd, rel, &ib, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
        return 1;
    struct snap_file *f = NULL;
    int rc = snap_file_read_max(path, INFO_MAX_BYTES, &f);
    struct snap_file_section s;
    if (rc == 0)
        rc = snap_file_find(f, INFO_FILE, &s);
    if (rc == 0 && s.version != INFO_VERSION)
        rc = qv_error_set(QV_ERR_PROTOCOL, "'%s': info version %u is not the %u this libqv reads",
                          path, s.version, INFO_VERSION);
    if (rc == 0) {
        struct snap_in in;
        snap_in_init(&in, INFO_FILE, s.data, s.len);
        uint32_t state = snap_get_u32(&in, "state");
        uint64_t created = snap_get_u64(&in, "created");
        if (snap_in_ok(&in) && state > VM_STATE_DESTROYED)
            snap_in_fail(&in, "state %u is not a VM state", state);
        if (snap_in_ok(&in) && created > (uint64_t)G_MAXINT64)
            snap_in_fail(&in, "creation time %" G_GUINT64_FORMAT " is out of range", created);
        rc = snap_in_finish(&in);
        if (rc < 0)
            qv_error_prefix("'%s'", path);
        out->meta.state = (enum vm_state)state;
        out->meta.created_us = (int64_t)created;
    }
    snap_file_free(f);
    if (rc < 0) {
        qv_error_prefix("snapshot '%s' in '%s'", name, dir);
        return rc;
    }
    out->name = g_strdup(name);
    out->bytes = bytes_of(dfd, name);
    return 0;
}

int snap_dir_stat(const char *dir, const char *name, struct snap_dir_entry *out)
{
    memset(out, 0, sizeof *out);
    if (!qv_name_check(name, "snapshot"))
        return qv_error_code();
    int dfd = open_dir(dir);
    if (dfd < 0 && errno != ENOENT)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open snapshot directory '%s'", dir);
    int rc = dfd < 0 ? 1 : stat_at(dfd, dir, name, out);
    if (dfd >= 0)
        close(dfd);
    if (rc == 1)
        return qv_error_set(QV_ERR_NOT_FOUND, "no snapshot '%s' in '%s'", name, dir);
    return rc;
}

static bool not_hidden(const char *n)
{
    return n[0] != '.';
}

static int by_age(gconstpointer a, gconstpointer b)
{
    const struct snap_dir_entry *x = a, *y = b;
    /* A damaged one has no known age: after the others, by name. */
    if (!x->damage != !y->damage)
        return x->damage ? 1 : -1;
    if (x->meta.created_us != y->meta.created_us)
        return x->meta.created_us < y->meta.created_us ? -1 : 1;
    return strcmp(x->name, y->name);
}

int snap_dir_list(const char *dir, struct snap_dir_entry **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    int dfd = open_dir(dir);
    if (dfd < 0) {
        if (errno == ENOENT)
            return 0;
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open snapshot directory '%s'", dir);
    }
    GPtrArray *names = NULL;
    int rc = dir_names(dfd, dir, not_hidden, &names);
    GArray *list = g_array_new(FALSE, TRUE, sizeof(struct snap_dir_entry));
    for (guint i = 0; rc == 0 && i < names->len; i++) {
        struct snap_dir_entry e;
        int r = stat_at(dfd, dir, names->pdata[i], &e);
        if (r < 0) {
            /* One bad snapshot must not hide the others: it is listed,
             * saying why it cannot be used. */
            memset(&e, 0, sizeof e);
            e.name = g_strdup(names->pdata[i]);
            e.damage = g_strdup(qv_last_error()->message);
            e.bytes = bytes_of(dfd, names->pdata[i]);
            qv_reset_error();
        }
        if (r <= 0)
            g_array_append_val(list, e);
    }
    close(dfd);
    if (names)
        g_ptr_array_unref(names);
    if (rc < 0) {
        for (guint i = 0; i < list->len; i++)
            snap_dir_entry_clear(&g_array_index(list, struct snap_dir_entry, i));
        g_array_free(list, TRUE);
        return rc;
    }
    g_array_sort(list, by_age);
    *count = list->len;
    *out = (struct snap_dir_entry *)(void *)g_array_free(list, FALSE);
    return 0;
}

void snap_dir_entry_clear(struct snap_dir_entry *e)
{
    if (!e)
        return;
    g_free(e->name);
    g_free(e->damage);
    memset(e, 0, sizeof *e);
}

void snap_dir_entries_free(struct snap_dir_entry *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        snap_dir_entry_clear(&list[i]);
    g_free(list);
}

char *snap_dir_file(const char *dir, const char *name, const char *file)
{
    if (!qv_name_check(name, "snapshot") || !qv_name_check(file, "snapshot file"))
        return NULL;
    return g_build_filename(dir, name, file, NULL);
}
