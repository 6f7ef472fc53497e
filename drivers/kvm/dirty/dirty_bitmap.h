/* Which pages of one guest memory region were written: one bit per 4 KiB
 * page. Incremental snapshots store the pages set here; clone and live
 * migration will use the same piece, fed from KVM_GET_DIRTY_LOG (whose
 * bitmap layout dirty_bitmap_or_kvm takes as is: bit p%64 of u64 word p/64
 * is page p) and from host-side writes KVM does not see (device DMA,
 * vm_write_memory), marked by byte range. A page number out of the region
 * is refused, never written past the bitmap. */
#ifndef QV_KVM_DIRTY_BITMAP_H
#define QV_KVM_DIRTY_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIRTY_PAGE_SHIFT 12
#define DIRTY_PAGE_SIZE (1ull << DIRTY_PAGE_SHIFT)
/* 2^36 pages (256 TiB): keeps word counts and byte sizes far from
 * overflow on any arithmetic done with them. */
#define DIRTY_MAX_PAGES (1ull << 36)

struct dirty_bitmap;

/* All clear. NULL with the qv error set when npages is 0 or over
 * DIRTY_MAX_PAGES. */
struct dirty_bitmap *dirty_bitmap_new(uint64_t npages);
void dirty_bitmap_free(struct dirty_bitmap *b);

uint64_t dirty_bitmap_pages(const struct dirty_bitmap *b);
/* u64 words in the KVM layout for this many pages (npages rounded up to 64,
 * as KVM sizes the buffer KVM_GET_DIRTY_LOG fills). */
size_t dirty_bitmap_words(uint64_t npages);

/* QV_ERR_OUT_OF_RANGE naming the page and the count when page >= pages. */
int dirty_bitmap_set(struct dirty_bitmap *b, uint64_t page);
int dirty_bitmap_clear(struct dirty_bitmap *b, uint64_t page);
/* false for a page out of range. */
bool dirty_bitmap_test(const struct dirty_bitmap *b, uint64_t page);
/* Set every page that [offset, offset + len) touches, offset in bytes from
 * the region's start; refused (nothing set) when the range leaves it.
 * Thread-safe and lock-free (an atomic OR per word), so device I/O
 * threads mark while another thread takes: call it after the write, so a
 * take that misses the mark comes before it and the next take has it. */
int dirty_bitmap_mark(struct dirty_bitmap *b, uint64_t offset, uint64_t len);
/* dst |= src and clear src, each word exchanged atomically: a mark racing
 * with the take lands in this take or stays for the next, never lost.
 * Both must cover the same number of pages; dst is the caller's alone. */
int dirty_bitmap_take(struct dirty_bitmap *dst, struct dirty_bitmap *src);
/* Atomic per word too, but a mark racing with it may be dropped: for a
 * bitmap nobody marks now (use dirty_bitmap_take otherwise). */
void dirty_bitmap_clear_all(struct dirty_bitmap *b);
uint64_t dirty_bitmap_count(const struct dirty_bitmap *b);

/* dst |= src; both must cover the same number of pages. */
int dirty_bitmap_or(struct dirty_bitmap *dst, const struct dirty_bitmap *src);
/* dst |= a KVM-style bitmap of nwords words. nwords must be
 * dirty_bitmap_words(pages) and no bit past the last page may be set
 * (that would be a page outside the region): refused, dst untouched. */
int dirty_bitmap_or_kvm(struct dirty_bitmap *dst, const uint64_t *words, size_t nwords);
/* A new bitmap of npages from a KVM-style one (same checks), or NULL. */
struct dirty_bitmap *dirty_bitmap_from_kvm(uint64_t npages, const uint64_t *words, size_t nwords);

/* Iterate set pages in ascending order: the first set page >= from in
 * *page, or false when there is none.
 *   for (uint64_t p = 0; dirty_bitmap_next(b, p, &p); p++) ... */
bool dirty_bitmap_next(const struct dirty_bitmap *b, uint64_t from, uint64_t *page);

#endif
