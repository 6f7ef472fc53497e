/* Copies that keep files sparse, clones that share blocks, and copies over
 * an existing file in place. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

enum { PAGE = 4096, CHUNK = 1 << 20 };

static bool page_is_zero(const uint8_t *p)
{
    /* OR the whole page rather than stop at the first non-zero word: it
     * vectorizes, and a page is mostly all zero or not at all. memcpy
     * keeps any alignment of p legal. */
    uint64_t acc = 0;
    for (size_t i = 0; i < PAGE; i += sizeof(uint64_t)) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        acc |= w;
    }
    return acc == 0;
}

int qv_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int qv_pwrite_sparse(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *b = buf;
    size_t k = 0;
    while (k < len) {
        if (len - k >= PAGE && page_is_zero(b + k)) {
            k += PAGE;
            continue;
        }
        size_t run = k;
        while (run < len && !(len - run >= PAGE && page_is_zero(b + run)))
            run += MIN((size_t)PAGE, len - run);
        int err = qv_pwrite_all(fd, b + k, run - k, off + (off_t)k);
        if (err < 0)
            return err;
        k = run;
    }
    return 0;
}

int qv_fd_copy_sparse(int src, int dst, uint64_t size, const char *src_name, const char *dst_name)
{
    /* pread and pwrite, never a mapping: a store into a sparse mapping on a
     * full file system is a SIGBUS where pwrite is ENOSPC, and file systems
     * may report large unwritten ranges as data (ext4 does), which reads
     * cheaply but faults in page by page. */
    g_autofree uint8_t *buf = g_malloc(CHUNK);
    off_t off = 0, end = (off_t)size;
    while (off < end) {
        off_t data = lseek(src, off, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break;
            return qv_error_set_errno(QV_ERR_IO, errno, "cannot scan '%s'", src_name);
        }
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > end)
            hole = end;
        data &= ~(off_t)(PAGE - 1);
        hole = MIN(end, (hole + PAGE - 1) & ~(off_t)(PAGE - 1));
        for (off_t p = data; p < hole;) {
            size_t want = (size_t)MIN((off_t)CHUNK, hole - p);
            ssize_t got = pread(src, buf, want, p);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return qv_error_set_errno(QV_ERR_IO, got < 0 ? errno : EIO, "cannot read '%s'",
                                          src_name);
            int err = qv_pwrite_sparse(dst, buf, (size_t)got, p);
            if (err < 0)
                return qv_error_set_errno(QV_ERR_IO, -err, "cannot write '%s'", dst_name);
            p += got;
        }
        off = hole;
    }
    return 0;
}

int qv_file_clone(const char *src, const char *dst, bool *shared)
{
    *shared = false;
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open '%s'", src);
    struct stat st;
    if (fstat(in, &st) < 0) {
        int err = errno;
        close(in);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot stat '%s'", src);
    }
    if (!S_ISREG(st.st_mode)) {
        close(in);
        return qv_error_set(QV_ERR_IO, "'%s' is not a regular file", src);
    }
    struct stat dst_st;
    if (lstat(dst, &dst_st) == 0) {
        close(in);
        return qv_error_set(QV_ERR_EXISTS, "'%s' exists already", dst);
    }
    g_autofree char *dir = g_path_get_dirname(dst);
    g_autofree char *base = g_path_get_basename(dst);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    int out = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
    if (out < 0) {
        int err = errno;
        close(in);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot create a temporary file for '%s'", dst);
    }
    int rc = 0;
    /* Sharing the blocks costs the same for any size; where the file
     * system cannot (ext4, tmpfs, or src on another), copy the data only. */
    if (ioctl(out, FICLONE, in) == 0) {
        *shared = true;
    } else if (ftruncate(out, st.st_size) < 0) {
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot size '%s'", dst);
    } else {
        rc = qv_fd_copy_sparse(in, out, (uint64_t)st.st_size, src, dst);
    }
    if (rc == 0 && fsync(out) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot write '%s'", dst);
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot write '%s'", dst);
    /* Never over a file that appeared meanwhile: where the file system has
     * no RENAME_NOREPLACE, link() refuses an existing name just as well. */
    if (rc == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) < 0) {
        int err = errno;
        if (err == EINVAL && link(tmp, dst) == 0) {
            unlink(tmp);
        } else {
            err = err == EINVAL ? errno : err;
            rc = err == EEXIST ? qv_error_set(QV_ERR_EXISTS, "'%s' exists already", dst)
                               : qv_error_set_errno(QV_ERR_IO, err, "cannot create '%s'", dst);
        }
    }
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Make [off, off+len) of fd read as zeros: a hole where the file system
 * punches one (it takes no space), else zeros written. */
static int zero_range(int fd, off_t off, off_t len)
{
    if (len <= 0)
        return 0;
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0)
        return 0;
    static const uint8_t zeros[PAGE];
    while (len > 0) {
        size_t n = (size_t)MIN((off_t)PAGE, len);
        int err = qv_pwrite_all(fd, zeros, n, off);
        if (err < 0)
            return err;
        off += (off_t)n;
        len -= (off_t)n;
    }
    return 0;
}

/* Write buf (len bytes, read from the source at off) over dst: non-zero
 * pages written, zero pages made zero (holes where possible), so whatever
 * dst held there before is gone. */
static int overwrite_buf(int dst, const uint8_t *b, size_t len, off_t off)
{
    size_t k = 0;
    while (k < len) {
        bool zero = len - k >= PAGE && page_is_zero(b + k);
        size_t run = k;
        while (run < len && (len - run >= PAGE && page_is_zero(b + run)) == zero)
            run += MIN((size_t)PAGE, len - run);
        int err = zero ? zero_range(dst, off + (off_t)k, (off_t)(run - k))
                       : qv_pwrite_all(dst, b + k, run - k, off + (off_t)k);
        if (err < 0)
            return err;
        k = run;
    }
    return 0;
}

/* Every byte of dst's [0, size) made src's: src's data extents copied,
 * its holes made zero in dst. */
static int overwrite_copy(int src, int dst, off_t size, const char *src_name, const char *dst_name)
{
    g_autofree uint8_t *buf = g_malloc(CHUNK);
    off_t off = 0;
    while (off < size) {
        off_t data = lseek(src, off, SEEK_DATA);
        if (data < 0 && errno != ENXIO)
            return qv_error_set_errno(QV_ERR_IO, errno, "cannot scan '%s'", src_name);
        data = data < 0 ? size : MIN(size, data & ~(off_t)(PAGE - 1));
        int err = zero_range(dst, off, data - off);
        if (err < 0)
            return qv_error_set_errno(QV_ERR_IO, -err, "cannot write '%s'", dst_name);
        if (data >= size)
            break;
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > size)
            hole = size;
        hole = MIN(size, (hole + PAGE - 1) & ~(off_t)(PAGE - 1));
        for (off_t p = data; p < hole;) {
            size_t want = (size_t)MIN((off_t)CHUNK, hole - p);
            ssize_t got = pread(src, buf, want, p);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return qv_error_set_errno(QV_ERR_IO, got < 0 ? errno : EIO, "cannot read '%s'",
                                          src_name);
            err = overwrite_buf(dst, buf, (size_t)got, p);
            if (err < 0)
                return qv_error_set_errno(QV_ERR_IO, -err, "cannot write '%s'", dst_name);
            p += got;
        }
        off = hole;
    }
    return 0;
}

int qv_file_overwrite_fd(const char *src, int out, const char *dst, bool *shared)
{
    *shared = false;
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open '%s'", src);
    struct stat st, dst_st;
    int rc = 0;
    if (fstat(in, &st) < 0 || fstat(out, &dst_st) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot stat '%s' or '%s'", src, dst);
    else if (!S_ISREG(st.st_mode))
        rc = qv_error_set(QV_ERR_IO, "'%s' is not a regular file", src);
    else if (!S_ISREG(dst_st.st_mode))
        rc = qv_error_set(QV_ERR_IO, "'%s' is not a regular file", dst);
    /* Sized first: a whole-file clone must end at both files' ends. */
    else if (ftruncate(out, st.st_size) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot size '%s'", dst);
    /* FICLONE replaces every block of dst with src's, shared; where the
     * file system cannot, every byte is written over. */
    else if (ioctl(out, FICLONE, in) == 0)
        *shared = true;
    else
        rc = overwrite_copy(in, out, st.st_size, src, dst);
    if (rc == 0 && fsync(out) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot write '%s'", dst);
    close(in);
    return rc;
}

int qv_file_open_overwrite(const char *dst)
{
    /* No O_CREAT: only an existing file is written, and never through a
     * link; O_NONBLOCK so a FIFO in its place cannot hang the open. */
    int out = open(dst, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (out < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open '%s' for writing", dst);
    return out;
}

int qv_file_overwrite(const char *src, const char *dst, bool *shared)
{
    *shared = false;
    int out = qv_file_open_overwrite(dst);
    if (out < 0)
        return out;
    int rc = qv_file_overwrite_fd(src, out, dst, shared);
    if (close(out) < 0 && rc == 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot write '%s'", dst);
    return rc;
}
