#include "blk_throttle.h"

#include <glib.h>

static void bucket_init(struct blk_bucket *b, uint64_t rate, int64_t now)
{
    b->rate = rate;
    b->level = (double)rate;
    b->updated = now;
}

void blk_throttle_init(struct blk_throttle *t, const struct blk_iotune *l, int64_t now_ns)
{
    for (int i = 0; i < 3; i++) {
        bucket_init(&t->bytes[i], l->bytes_sec[i], now_ns);
        bucket_init(&t->iops[i], l->iops_sec[i], now_ns);
    }
}

bool blk_throttle_active(const struct blk_throttle *t)
{
    for (int i = 0; i < 3; i++)
        if (t->bytes[i].rate || t->iops[i].rate)
            return true;
    return false;
}

static void refill(struct blk_bucket *b, int64_t now)
{
    if (now > b->updated) {
        b->level += (double)b->rate * (double)(now - b->updated) / 1e9;
        if (b->level > (double)b->rate)
            b->level = (double)b->rate;
    }
    b->updated = now;
}

/* Nanoseconds until b holds what a request costing `cost` needs: the cost,
 * or a full bucket for a request larger than one (it then goes into debt
 * that later requests wait out). */
static int64_t wait_ns(struct blk_bucket *b, uint64_t cost, int64_t now)
{
    if (!b->rate || !cost)
        return 0;
    refill(b, now);
    double need = MIN((double)cost, (double)b->rate);
    if (b->level >= need)
        return 0;
    /* Rounded up, so that asking again after it finds the tokens there. */
    return (int64_t)((need - b->level) * 1e9 / (double)b->rate) + 1;
}

int64_t blk_throttle_take(struct blk_throttle *t, bool write, uint64_t bytes, int64_t now_ns)
{
    int dir = write ? BLK_TB_WRITE : BLK_TB_READ;
    struct blk_bucket *bs[4] = {&t->bytes[BLK_TB_TOTAL], &t->bytes[dir], &t->iops[BLK_TB_TOTAL],
                                &t->iops[dir]};
    uint64_t cost[4] = {bytes, bytes, 1, 1};
    int64_t wait = 0;
    for (int i = 0; i < 4; i++)
        wait = MAX(wait, wait_ns(bs[i], cost[i], now_ns));
    if (wait)
        return wait;
    for (int i = 0; i < 4; i++)
        if (bs[i]->rate)
            bs[i]->level -= (double)cost[i];
    return 0;
}
