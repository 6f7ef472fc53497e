/* The raw backend: preadv/pwritev at the guest's offsets, fdatasync for a
 * flush, fallocate for discard and write-zeroes. The user's path is opened
 * as given, symlinks followed, since libvirt accepts a disk source that is
 * a symlink (a /dev/disk/by-id name, an LVM link); the path is the user's,
 * not one qv made, so O_NOFOLLOW would protect nothing. */
#define _GNU_SOURCE
#include "blk_raw.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/util/error.h"

/* O_DIRECT bounce buffer: guest buffers need not be aligned as the host's
 * block layer wants, so an unaligned transfer is copied through this in
 * pieces of this size. */
#define BOUNCE_SIZE (1u << 20)
#define BOUNCE_ALIGN 4096

struct blk_raw {
    int fd;
    uint64_t size;
    enum blk_cache cache;
    void *bounce; /* BOUNCE_SIZE, allocated on first need */
};

static const char *const caches[] = {"writeback", "none", "writethrough", "directsync", "unsafe"};

int blk_cache_parse(const char *s)
{
    if (!s)
        return BLK_CACHE_WRITEBACK;
    for (size_t i = 0; i < G_N_ELEMENTS(caches); i++)
        if (strcmp(s, caches[i]) == 0)
            return (int)i;
    return -1;
}

static bool cache_direct(enum blk_cache c)
{
    return c == BLK_CACHE_NONE || c == BLK_CACHE_DIRECTSYNC;
}

static bool cache_dsync(enum blk_cache c)
{
    return c == BLK_CACHE_WRITETHROUGH || c == BLK_CACHE_DIRECTSYNC;
}

struct blk_raw *blk_raw_open(const char *path, bool readonly, enum blk_cache cache,
                             const char *what)
{
    /* O_NONBLOCK so that a FIFO given as the source fails the type check
     * below instead of hanging the open; cleared once the type is known. */
    int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (cache_direct(cache))
        flags |= O_DIRECT;
    if (cache_dsync(cache))
        flags |= O_DSYNC;
    int fd = open(path, flags);
    if (fd < 0 && errno == EINVAL && cache_direct(cache)) {
        qv_error_set(QV_ERR_UNSUPPORTED,
                     "%s: cache='%s' needs O_DIRECT, which the file system of '%s' does not "
                     "support",
                     what, cache == BLK_CACHE_NONE ? "none" : "directsync", path);
        return NULL;
    }
    if (fd < 0) {
        qv_error_set_errno(QV_ERR_IO, errno, "%s: cannot open '%s'%s", what, path,
                           readonly ? " for reading" : " for reading and writing");
        return NULL;
    }
    struct stat st;
    uint64_t size = 0;
    if (fstat(fd, &st) < 0) {
        qv_error_set_errno(QV_ERR_IO, errno, "%s: cannot stat '%s'", what, path);
        goto fail;
    }
    if (S_ISREG(st.st_mode)) {
        size = (uint64_t)st.st_size;
    } else if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
            qv_error_set_errno(QV_ERR_IO, errno, "%s: cannot read the size of '%s'", what, path);
            goto fail;
        }
    } else {
        qv_error_set(QV_ERR_INVALID_ARG, "%s: '%s' is neither a regular file nor a block device",
                     what, path);
        goto fail;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        qv_error_set_errno(QV_ERR_IO, errno, "%s: cannot set the flags of '%s'", what, path);
        goto fail;
    }
    /* Two writers on one image corrupt it, as does a writer under a reader:
     * an open file description lock on the whole file, shared for a
     * read-only disk, exclusive otherwise, held until the fd is closed and
     * seen by every process, including another disk of the same VM. */
    struct flock lk = {.l_type = readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &lk) < 0) {
        if (errno == EAGAIN || errno == EACCES)
            qv_error_set(QV_ERR_BUSY, "%s: '%s' is in use by another VM or process%s", what, path,
                         readonly ? " that writes to it" : "");
        else
            qv_error_set_errno(QV_ERR_SYSTEM, errno, "%s: cannot lock '%s'", what, path);
        goto fail;
    }
    struct blk_raw *r = g_new0(struct blk_raw, 1);
    r->fd = fd;
    r->size = size;
    r->cache = cache;
    return r;
fail:
    close(fd);
    return NULL;
}

void blk_raw_close(struct blk_raw *r)
{
    if (!r)
        return;
    close(r->fd);
    free(r->bounce);
    g_free(r);
}

uint64_t blk_raw_size(const struct blk_raw *r)
{
    return r->size;
}

static void *bounce_buf(struct blk_raw *r)
{
    if (!r->bounce && posix_memalign(&r->bounce, BOUNCE_ALIGN, BOUNCE_SIZE) != 0)
        r->bounce = NULL;
    return r->bounce;
}

/* One whole pread or pwrite of a plain buffer. */
static int rw_buf(struct blk_raw *r, bool write, void *buf, size_t len, uint64_t off)
{
    while (len) {
        ssize_t n =
            write ? pwrite(r->fd, buf, len, (off_t)off) : pread(r->fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        buf = (uint8_t *)buf + n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* The rest of a transfer through the aligned bounce buffer. */
static int rw_bounce(struct blk_raw *r, bool write, const struct iovec *iov, uint32_t n,
                     uint64_t off)
{
    uint8_t *b = bounce_buf(r);
    if (!b)
        return -ENOMEM;
    uint32_t i = 0;
    size_t in_iov = 0; /* bytes of iov[i] done */
    while (i < n) {
        /* Gather (for a write) up to BOUNCE_SIZE bytes of iovecs. */
        size_t fill = 0;
        uint32_t j = i;
        size_t at = in_iov;
        while (j < n && fill < BOUNCE_SIZE) {
            size_t take = MIN(iov[j].iov_len - at, BOUNCE_SIZE - fill);
            if (write)
                memcpy(b + fill, (uint8_t *)iov[j].iov_base + at, take);
            fill += take;
            at += take;
            if (at == iov[j].iov_len) {
                j++;
                at = 0;
            }
        }
        if (!fill)
            break;
        int rc = rw_buf(r, write, b, fill, off);
        if (rc < 0)
            return rc;
        if (!write) {
            size_t done = 0;
            while (done < fill) {
                size_t take = MIN(iov[i].iov_len - in_iov, fill - done);
                memcpy((uint8_t *)iov[i].iov_base + in_iov, b + done, take);
                done += take;
                in_iov += take;
                if (in_iov == iov[i].iov_len) {
                    i++;
                    in_iov = 0;
                }
            }
        }
        i = j;
        in_iov = at;
        off += fill;
    }
    return 0;
}

static int rw(struct blk_raw *r, bool write, const struct iovec *iov0, uint32_t n, uint64_t off)
{
    /* A private copy: a short transfer advances it. */
    struct iovec small[16];
    g_autofree struct iovec *big = n > G_N_ELEMENTS(small) ? g_new(struct iovec, n) : NULL;
    struct iovec *iov = big ? big : small;
    if (n)
        memcpy(iov, iov0, n * sizeof(*iov));
    uint32_t i = 0;
    while (i < n) {
        if (!iov[i].iov_len) {
            i++;
            continue;
        }
        int cnt = (int)MIN(n - i, (uint32_t)IOV_MAX);
        ssize_t got = write ? pwritev(r->fd, iov + i, cnt, (off_t)off)
                            : preadv(r->fd, iov + i, cnt, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EINVAL && cache_direct(r->cache))
            return rw_bounce(r, write, iov + i, n - i, off);
        if (got < 0)
            return -errno;
        if (got == 0)
            return -EIO; /* the image ended (it shrank under the VM) */
        off += (uint64_t)got;
        size_t left = (size_t)got;
        while (left && i < n) {
            size_t take = MIN(left, iov[i].iov_len);
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            left -= take;
            if (!iov[i].iov_len)
                i++;
        }
    }
    return 0;
}

int blk_raw_readv(struct blk_raw *r, const struct iovec *iov, uint32_t n, uint64_t off)
{
    return rw(r, false, iov, n, off);
}

int blk_raw_writev(struct blk_raw *r, const struct iovec *iov, uint32_t n, uint64_t off)
{
    return rw(r, true, iov, n, off);
}

int blk_raw_flush(struct blk_raw *r)
{
    if (r->cache == BLK_CACHE_UNSAFE)
        return 0;
    while (fdatasync(r->fd) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

static int falloc(struct blk_raw *r, int mode, uint64_t off, uint64_t len)
{
    while (fallocate(r->fd, mode, (off_t)off, (off_t)len) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    /* fallocate is not covered by O_DSYNC: make the change as durable as a
     * write would have been. */
    return cache_dsync(r->cache) ? blk_raw_flush(r) : 0;
}

int blk_raw_discard(struct blk_raw *r, uint64_t off, uint64_t len)
{
    int rc = falloc(r, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
    /* A discard is a hint: a file system without holes keeps the data. */
    return rc == -EOPNOTSUPP ? 0 : rc;
}

static int write_zero_bytes(struct blk_raw *r, uint64_t off, uint64_t len)
{
    uint8_t *b = bounce_buf(r);
    if (!b)
        return -ENOMEM;
    memset(b, 0, BOUNCE_SIZE);
    while (len) {
        size_t n = (size_t)MIN(len, (uint64_t)BOUNCE_SIZE);
        int rc = rw_buf(r, true, b, n, off);
        if (rc < 0)
            return rc;
        off += n;
        len -= n;
    }
    return 0;
}

int blk_raw_write_zeroes(struct blk_raw *r, uint64_t off, uint64_t len, bool unmap)
{
    int rc = -EOPNOTSUPP;
    if (unmap)
        rc = falloc(r, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
    if (rc == -EOPNOTSUPP)
        rc = falloc(r, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
    if (rc == -EOPNOTSUPP)
        rc = write_zero_bytes(r, off, len);
    return rc;
}
