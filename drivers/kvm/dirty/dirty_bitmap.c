#include "dirty_bitmap.h"

#include <glib.h>

#include "../../../lib/util/error.h"

struct dirty_bitmap {
    uint64_t npages;
    size_t nwords;
    uint64_t words[]; /* KVM layout, so a dirty log ORs in word by word */
};

size_t dirty_bitmap_words(uint64_t npages)
{
    return (size_t)((npages + 63) / 64);
}

struct dirty_bitmap *dirty_bitmap_new(uint64_t npages)
{
    if (npages == 0 || npages > DIRTY_MAX_PAGES) {
        qv_error_set(QV_ERR_INVALID_ARG, "dirty bitmap of %llu pages: must be 1 to %llu",
                     (unsigned long long)npages, (unsigned long long)DIRTY_MAX_PAGES);
        return NULL;
    }
    size_t nwords = dirty_bitmap_words(npages);
    struct dirty_bitmap *b = g_try_malloc0(sizeof(*b) + nwords * sizeof(uint64_t));
    if (!b) {
        qv_error_set(QV_ERR_NOMEM, "dirty bitmap of %llu pages: out of memory",
                     (unsigned long long)npages);
        return NULL;
    }
    b->npages = npages;
    b->nwords = nwords;
    return b;
}

void dirty_bitmap_free(struct dirty_bitmap *b)
{
    g_free(b);
}

uint64_t dirty_bitmap_pages(const struct dirty_bitmap *b)
{
    return b->npages;
}

static int out_of_range(const struct dirty_bitmap *b, uint64_t page)
{
    return qv_error_set(QV_ERR_OUT_OF_RANGE, "page %llu is outside a region of %llu pages",
                        (unsigned long long)page, (unsigned long long)b->npages);
}

int dirty_bitmap_set(struct dirty_bitmap *b, uint64_t page)
{
    if (page >= b->npages)
        return out_of_range(b, page);
    b->words[page / 64] |= 1ull << (page % 64);
    return 0;
}

int dirty_bitmap_clear(struct dirty_bitmap *b, uint64_t page)
{
    if (page >= b->npages)
        return out_of_range(b, page);
    b->words[page / 64] &= ~(1ull << (page % 64));
    return 0;
}

bool dirty_bitmap_test(const struct dirty_bitmap *b, uint64_t page)
{
    return page < b->npages && (b->words[page / 64] >> (page % 64)) & 1;
}

int dirty_bitmap_mark(struct dirty_bitmap *b, uint64_t offset, uint64_t len)
{
    uint64_t bytes = b->npages << DIRTY_PAGE_SHIFT;
    if (offset > bytes || len > bytes - offset)
        return qv_error_set(
            QV_ERR_OUT_OF_RANGE, "bytes 0x%llx+0x%llx are outside a region of 0x%llx bytes",
            (unsigned long long)offset, (unsigned long long)len, (unsigned long long)bytes);
    if (len == 0)
        return 0;
    uint64_t first = offset >> DIRTY_PAGE_SHIFT;
    uint64_t last = (offset + len - 1) >> DIRTY_PAGE_SHIFT;
    /* One atomic OR per word the range touches. Release: whoever takes
     * the bit (acquire) and then reads the page sees the write that came
     * before the mark. */
    for (uint64_t w = first / 64; w <= last / 64; w++) {
        uint64_t lo = w == first / 64 ? first % 64 : 0;
        uint64_t hi = w == last / 64 ? last % 64 : 63;
        uint64_t mask = (~0ull >> (63 - hi)) & (~0ull << lo);
        __atomic_fetch_or(&b->words[w], mask, __ATOMIC_RELEASE);
    }
    return 0;
}

int dirty_bitmap_take(struct dirty_bitmap *dst, struct dirty_bitmap *src)
{
    if (dst->npages != src->npages)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "cannot take a dirty bitmap of %llu pages into one of %llu",
                            (unsigned long long)src->npages, (unsigned long long)dst->npages);
    for (size_t i = 0; i < src->nwords; i++) {
        /* Most words are clear: a load costs less than an exchange, and
         * a mark that lands after it is simply left for the next take. */
        if (__atomic_load_n(&src->words[i], __ATOMIC_RELAXED))
            dst->words[i] |= __atomic_exchange_n(&src->words[i], 0, __ATOMIC_ACQUIRE);
    }
    return 0;
}

void dirty_bitmap_clear_all(struct dirty_bitmap *b)
{
    for (size_t i = 0; i < b->nwords; i++)
        __atomic_store_n(&b->words[i], 0, __ATOMIC_RELAXED);
}

uint64_t dirty_bitmap_count(const struct dirty_bitmap *b)
{
    uint64_t n = 0;
    for (size_t i = 0; i < b->nwords; i++)
        n += (uint64_t)__builtin_popcountll(b->words[i]);
    return n;
}

int dirty_bitmap_or(struct dirty_bitmap *dst, const struct dirty_bitmap *src)
{
    if (dst->npages != src->npages)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "cannot merge a dirty bitmap of %llu pages into one of %llu",
                            (unsigned long long)src->npages, (unsigned long long)dst->npages);
    for (size_t i = 0; i < dst->nwords; i++)
        dst->words[i] |= src->words[i];
    return 0;
}

/* The bits of the last word that name pages past the end. */
static uint64_t tail_mask(uint64_t npages)
{
    unsigned used = (unsigned)(npages % 64);
    return used ? ~((1ull << used) - 1) : 0;
}

static int check_kvm(uint64_t npages, const uint64_t *words, size_t nwords)
{
    if (!words || nwords != dirty_bitmap_words(npages))
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "dirty log of %zu words for a region of %llu pages: expected %zu",
                            nwords, (unsigned long long)npages, dirty_bitmap_words(npages));
    uint64_t stray = words[nwords - 1] & tail_mask(npages);
    if (stray)
        return qv_error_set(
            QV_ERR_OUT_OF_RANGE, "dirty log marks page %llu of a region of %llu pages",
            (unsigned long long)((nwords - 1) * 64 + (size_t)__builtin_ctzll(stray)),
            (unsigned long long)npages);
    return 0;
}

int dirty_bitmap_or_kvm(struct dirty_bitmap *dst, const uint64_t *words, size_t nwords)
{
    int rc = check_kvm(dst->npages, words, nwords);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < nwords; i++)
        dst->words[i] |= words[i];
    return 0;
}

struct dirty_bitmap *dirty_bitmap_from_kvm(uint64_t npages, const uint64_t *words, size_t nwords)
{
    struct dirty_bitmap *b = dirty_bitmap_new(npages);
    if (b && dirty_bitmap_or_kvm(b, words, nwords) < 0) {
        dirty_bitmap_free(b);
        return NULL;
    }
    return b;
}

bool dirty_bitmap_next(const struct dirty_bitmap *b, uint64_t from, uint64_t *page)
{
    if (from >= b->npages)
        return false;
    size_t i = (size_t)(from / 64);
    /* Drop the bits below from in its word, then skip whole clear words. */
    uint64_t w = b->words[i] & (~0ull << (from % 64));
    while (!w) {
        if (++i == b->nwords)
            return false;
        w = b->words[i];
    }
    /* Bits past npages are never set (set and or_kvm refuse them). */
    *page = (uint64_t)i * 64 + (uint64_t)__builtin_ctzll(w);
    return true;
}
