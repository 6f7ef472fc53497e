/* <iotune> as token buckets: bytes and requests per second, each for
 * reads, writes and both together. A bucket holds at most one second of its
 * rate and starts full, so a burst of one second's worth goes at once and
 * the rest at the rate. Pure: the caller passes the time, so tests need no
 * clock. Not thread-safe (the disk's I/O thread is its only user). */
#ifndef QV_KVM_BLK_THROTTLE_H
#define QV_KVM_BLK_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

enum { BLK_TB_TOTAL, BLK_TB_READ, BLK_TB_WRITE };

/* Limits, 0 for none: [BLK_TB_*] */
struct blk_iotune {
    uint64_t bytes_sec[3];
    uint64_t iops_sec[3];
};

struct blk_bucket {
    uint64_t rate;   /* per second; 0: unlimited */
    double level;    /* may go below 0 after a request larger than a second's worth */
    int64_t updated; /* ns */
};

struct blk_throttle {
    struct blk_bucket bytes[3], iops[3];
};

void blk_throttle_init(struct blk_throttle *t, const struct blk_iotune *limits, int64_t now_ns);
/* Whether any limit is set. */
bool blk_throttle_active(const struct blk_throttle *t);
/* A request of `bytes` (a read unless write) wants to go at now_ns: 0 when
 * it may, having taken its tokens; else the nanoseconds to wait before
 * asking again (nothing is taken). */
int64_t blk_throttle_take(struct blk_throttle *t, bool write, uint64_t bytes, int64_t now_ns);

#endif
