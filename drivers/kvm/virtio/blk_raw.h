/* A raw disk image (a regular file or a block device) as virtio-blk's
 * backend. Every call blocks: they run on the disk's I/O thread, never on a
 * vCPU. */
#ifndef QV_KVM_BLK_RAW_H
#define QV_KVM_BLK_RAW_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* libvirt's <driver cache=> modes, each as QEMU carries it out: O_DIRECT
 * for none and directsync, O_DSYNC for writethrough and directsync, no
 * flush at all for unsafe. */
enum blk_cache {
    BLK_CACHE_WRITEBACK,
    BLK_CACHE_NONE,
    BLK_CACHE_WRITETHROUGH,
    BLK_CACHE_DIRECTSYNC,
    BLK_CACHE_UNSAFE,
};

/* A <driver cache=> value (NULL: writeback) as an enum blk_cache, or -1. */
int blk_cache_parse(const char *s);

struct blk_raw;

/* Open path (following symlinks, as libvirt does for a disk's source).
 * what names the disk in errors ("VM 'web': disk 'vda'"). NULL with the
 * error set when it cannot be opened or is neither a regular file nor a
 * block device. */
struct blk_raw *blk_raw_open(const char *path, bool readonly, enum blk_cache cache,
                             const char *what);
void blk_raw_close(struct blk_raw *r);
/* Size in bytes, as measured at open. */
uint64_t blk_raw_size(const struct blk_raw *r);

/* Whole transfers: 0, or a negative errno (-EIO when the image ended
 * early). */
int blk_raw_readv(struct blk_raw *r, const struct iovec *iov, uint32_t n, uint64_t off);
int blk_raw_writev(struct blk_raw *r, const struct iovec *iov, uint32_t n, uint64_t off);
int blk_raw_flush(struct blk_raw *r);
/* Deallocate [off, off + len): reads return zeros afterwards. */
int blk_raw_discard(struct blk_raw *r, uint64_t off, uint64_t len);
/* Zero [off, off + len), deallocating it when unmap is set. */
int blk_raw_write_zeroes(struct blk_raw *r, uint64_t off, uint64_t len, bool unmap);

#endif
