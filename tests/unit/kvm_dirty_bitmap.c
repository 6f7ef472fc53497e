/* The dirty-page bitmap (drivers/kvm/dirty/dirty_bitmap.h): pages set,
 * cleared, counted, merged and iterated as written; KVM-style logs taken
 * word for word; every page or word outside the region refused by name;
 * marks from several threads racing with takes never lost. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "drivers/kvm/dirty/dirty_bitmap.h"
#include "lib/util/error.h"
#include "qv/error.h"

static const char *msg(void)
{
    return qv_last_error()->message;
}

START_TEST(set_test_clear_count)
{
    /* 130 pages: two full words and two bits of a third. */
    struct dirty_bitmap *b = dirty_bitmap_new(130);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(dirty_bitmap_pages(b), 130);
    ck_assert_uint_eq(dirty_bitmap_count(b), 0);
    uint64_t pages[] = {0, 63, 64, 127, 128, 129};
    for (size_t i = 0; i < G_N_ELEMENTS(pages); i++)
        ck_assert_int_eq(dirty_bitmap_set(b, pages[i]), 0);
    ck_assert_int_eq(dirty_bitmap_set(b, 64), 0); /* twice counts once */
    ck_assert_uint_eq(dirty_bitmap_count(b), 6);
    ck_assert(dirty_bitmap_test(b, 63));
    ck_assert(!dirty_bitmap_test(b, 62));
    ck_assert(!dirty_bitmap_test(b, 130));
    ck_assert_int_eq(dirty_bitmap_clear(b, 63), 0);
    ck_assert(!dirty_bitmap_test(b, 63));
    ck_assert_uint_eq(dirty_bitmap_count(b), 5);
    dirty_bitmap_clear_all(b);
    ck_assert_uint_eq(dirty_bitmap_count(b), 0);
    dirty_bitmap_free(b);
}
END_TEST

START_TEST(out_of_range_refused)
{
    struct dirty_bitmap *b = dirty_bitmap_new(100);
    ck_assert_int_eq(dirty_bitmap_set(b, 100), QV_ERR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(msg(), "page 100"));
    ck_assert_ptr_nonnull(strstr(msg(), "100 pages"));
    ck_assert_int_eq(dirty_bitmap_clear(b, UINT64_MAX), QV_ERR_OUT_OF_RANGE);
    ck_assert_uint_eq(dirty_bitmap_count(b), 0);
    /* A byte range: the last page of the region is fine, one byte past
     * is not, and an offset + len that wraps around is not. */
    ck_assert_int_eq(dirty_bitmap_mark(b, 99 * 4096, 4096), 0);
    ck_assert_int_eq(dirty_bitmap_mark(b, 99 * 4096, 4097), QV_ERR_OUT_OF_RANGE);
    ck_assert_int_eq(dirty_bitmap_mark(b, 4096, UINT64_MAX), QV_ERR_OUT_OF_RANGE);
    ck_assert_uint_eq(dirty_bitmap_count(b), 1);
    ck_assert_ptr_null(dirty_bitmap_new(0));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
    ck_assert_ptr_null(dirty_bitmap_new(DIRTY_MAX_PAGES + 1));
    dirty_bitmap_free(b);
}
END_TEST

START_TEST(mark_byte_ranges)
{
    struct dirty_bitmap *b = dirty_bitmap_new(16);
    /* 2 bytes straddling pages 2 and 3; a zero-length write marks none. */
    ck_assert_int_eq(dirty_bitmap_mark(b, 3 * 4096 - 1, 2), 0);
    ck_assert_int_eq(dirty_bitmap_mark(b, 9 * 4096, 0), 0);
    ck_assert_int_eq(dirty_bitmap_mark(b, 10 * 4096 + 5, 1), 0);
    ck_assert_uint_eq(dirty_bitmap_count(b), 3);
    ck_assert(dirty_bitmap_test(b, 2) && dirty_bitmap_test(b, 3) && dirty_bitmap_test(b, 10));
    dirty_bitmap_free(b);
}
END_TEST

START_TEST(iterate_in_order)
{
    struct dirty_bitmap *b = dirty_bitmap_new(1000);
    uint64_t want[] = {1, 2, 63, 64, 200, 511, 512, 999};
    for (int i = (int)G_N_ELEMENTS(want) - 1; i >= 0; i--)
        dirty_bitmap_set(b, want[i]);
    uint64_t got[16], n = 0;
    for (uint64_t p = 0; dirty_bitmap_next(b, p, &p); p++)
        got[n++] = p;
    ck_assert_uint_eq(n, G_N_ELEMENTS(want));
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(got[i], want[i]);
    uint64_t p;
    ck_assert(dirty_bitmap_next(b, 65, &p));
    ck_assert_uint_eq(p, 200);
    ck_assert(!dirty_bitmap_next(b, 1000, &p));
    dirty_bitmap_clear(b, 999);
    ck_assert(!dirty_bitmap_next(b, 513, &p));
    dirty_bitmap_free(b);

    struct dirty_bitmap *e = dirty_bitmap_new(64);
    ck_assert(!dirty_bitmap_next(e, 0, &p));
    dirty_bitmap_free(e);
}
END_TEST

START_TEST(or_merge)
{
    struct dirty_bitmap *a = dirty_bitmap_new(70), *b = dirty_bitmap_new(70);
    dirty_bitmap_set(a, 1);
    dirty_bitmap_set(a, 69);
    dirty_bitmap_set(b, 1);
    dirty_bitmap_set(b, 40);
    ck_assert_int_eq(dirty_bitmap_or(a, b), 0);
    ck_assert_uint_eq(dirty_bitmap_count(a), 3);
    ck_assert(dirty_bitmap_test(a, 40));
    ck_assert_uint_eq(dirty_bitmap_count(b), 2); /* src unchanged */
    struct dirty_bitmap *c = dirty_bitmap_new(71);
    ck_assert_int_eq(dirty_bitmap_or(a, c), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg(), "71 pages"));
    dirty_bitmap_free(a);
    dirty_bitmap_free(b);
    dirty_bitmap_free(c);
}
END_TEST

START_TEST(from_kvm_log)
{
    /* What KVM_GET_DIRTY_LOG hands back for a 100-page slot: 2 words. */
    uint64_t log[2] = {(1ull << 0) | (1ull << 5) | (1ull << 63), (1ull << 35)};
    ck_assert_uint_eq(dirty_bitmap_words(100), 2);
    ck_assert_uint_eq(dirty_bitmap_words(128), 2);
    ck_assert_uint_eq(dirty_bitmap_words(129), 3);
    struct dirty_bitmap *b = dirty_bitmap_from_kvm(100, log, 2);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(dirty_bitmap_count(b), 4);
    ck_assert(dirty_bitmap_test(b, 5) && dirty_bitmap_test(b, 63) && dirty_bitmap_test(b, 99));

    /* OR-ing a second log in keeps the first. */
    uint64_t log2[2] = {1ull << 6, 0};
    ck_assert_int_eq(dirty_bitmap_or_kvm(b, log2, 2), 0);
    ck_assert_uint_eq(dirty_bitmap_count(b), 5);

    /* A bit for page 100 of a 100-page region: refused, b untouched. */
    uint64_t stray[2] = {1ull << 7, 1ull << 36};
    ck_assert_int_eq(dirty_bitmap_or_kvm(b, stray, 2), QV_ERR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(msg(), "page 100"));
    ck_assert(!dirty_bitmap_test(b, 7));
    /* The wrong word count. */
    ck_assert_int_eq(dirty_bitmap_or_kvm(b, log, 1), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg(), "expected 2"));
    ck_assert_int_eq(dirty_bitmap_or_kvm(b, log, 3), QV_ERR_INVALID_ARG);
    ck_assert_ptr_null(dirty_bitmap_from_kvm(100, stray, 2));
    ck_assert_ptr_null(dirty_bitmap_from_kvm(100, NULL, 2));
    ck_assert_uint_eq(dirty_bitmap_count(b), 5);
    dirty_bitmap_free(b);

    /* A region of a whole number of words has no tail to check. */
    uint64_t full[1] = {~0ull};
    struct dirty_bitmap *f = dirty_bitmap_from_kvm(64, full, 1);
    ck_assert_uint_eq(dirty_bitmap_count(f), 64);
    dirty_bitmap_free(f);
}
END_TEST

/* A range over several words: the pages from its first to its last byte,
 * none beside them. */
START_TEST(mark_across_words)
{
    struct dirty_bitmap *b = dirty_bitmap_new(200);
    ck_assert_int_eq(dirty_bitmap_mark(b, 60 * 4096 + 1, 70 * 4096), 0); /* pages 60..130 */
    ck_assert_uint_eq(dirty_bitmap_count(b), 71);
    ck_assert(!dirty_bitmap_test(b, 59) && dirty_bitmap_test(b, 60));
    ck_assert(dirty_bitmap_test(b, 130) && !dirty_bitmap_test(b, 131));
    ck_assert_int_eq(dirty_bitmap_mark(b, 0, 200 * 4096), 0); /* the whole region */
    ck_assert_uint_eq(dirty_bitmap_count(b), 200);
    ck_assert_int_eq(dirty_bitmap_mark(b, 199 * 4096, 4097), QV_ERR_OUT_OF_RANGE);
    dirty_bitmap_free(b);
}
END_TEST

/* dirty_bitmap_take moves the bits and clears them in one step. */
START_TEST(take_moves_and_clears)
{
    struct dirty_bitmap *src = dirty_bitmap_new(200), *dst = dirty_bitmap_new(200);
    ck_assert_int_eq(dirty_bitmap_mark(src, 4096 * 63, 4097), 0); /* pages 63, 64 */
    ck_assert_int_eq(dirty_bitmap_set(dst, 199), 0);
    ck_assert_int_eq(dirty_bitmap_take(dst, src), 0);
    ck_assert_uint_eq(dirty_bitmap_count(src), 0);
    ck_assert_uint_eq(dirty_bitmap_count(dst), 3);
    ck_assert(dirty_bitmap_test(dst, 63) && dirty_bitmap_test(dst, 64) &&
              dirty_bitmap_test(dst, 199));
    struct dirty_bitmap *other = dirty_bitmap_new(201);
    ck_assert_int_eq(dirty_bitmap_take(other, dst), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg(), "200 pages into one of 201"));
    ck_assert_uint_eq(dirty_bitmap_count(dst), 3); /* a refused take leaves it */
    dirty_bitmap_free(other);
    dirty_bitmap_free(src);
    dirty_bitmap_free(dst);
}
END_TEST

/* Two I/O threads mark (each page once, the two interleaved in every
 * word, in a scrambled order) while a third takes over and over: every
 * mark shows up in exactly one take. A take that merged and then cleared
 * would lose the marks landing between the two. */
#define RACE_PAGES (1u << 16)
#define RACE_ROUNDS 20

struct race {
    struct dirty_bitmap *b;
    unsigned parity;
    int done;
};

static gpointer race_marker(gpointer p)
{
    struct race *r = p;
    /* An odd stride visits every page of the parity once. */
    for (uint64_t i = 0; i < RACE_PAGES / 2; i++) {
        uint64_t page = ((i * 40503u) % (RACE_PAGES / 2)) * 2 + r->parity;
        if (dirty_bitmap_mark(r->b, page << DIRTY_PAGE_SHIFT, 1) < 0)
            return GINT_TO_POINTER(1);
        /* Paced, as writes are: the marks spread over many takes. */
        for (volatile int k = 0; k < 100; k++)
            ;
    }
    g_atomic_int_set(&r->done, 1);
    return NULL;
}

START_TEST(marks_racing_takes_are_never_lost)
{
    for (int round = 0; round < RACE_ROUNDS; round++) {
        struct dirty_bitmap *b = dirty_bitmap_new(RACE_PAGES);
        struct dirty_bitmap *seen = dirty_bitmap_new(RACE_PAGES);
        struct dirty_bitmap *one = dirty_bitmap_new(RACE_PAGES);
        struct race r[2] = {{.b = b, .parity = 0}, {.b = b, .parity = 1}};
        GThread *t[2] = {g_thread_new("mark0", race_marker, &r[0]),
                         g_thread_new("mark1", race_marker, &r[1])};
        unsigned takes = 0;
        bool last = false;
        while (!last) {
            /* One more take after both markers finished collects the rest. */
            last = g_atomic_int_get(&r[0].done) && g_atomic_int_get(&r[1].done);
            dirty_bitmap_clear_all(one);
            ck_assert_int_eq(dirty_bitmap_take(one, b), 0);
            takes++;
            for (uint64_t p = 0; dirty_bitmap_next(one, p, &p); p++) {
                ck_assert_msg(!dirty_bitmap_test(seen, p), "page %llu taken twice",
                              (unsigned long long)p);
                dirty_bitmap_set(seen, p);
            }
        }
        for (int i = 0; i < 2; i++)
            ck_assert_ptr_null(g_thread_join(t[i]));
        ck_assert_uint_eq(dirty_bitmap_count(b), 0);
        ck_assert_msg(dirty_bitmap_count(seen) == RACE_PAGES,
                      "round %d: %llu of %u marks seen in %u takes", round,
                      (unsigned long long)dirty_bitmap_count(seen), RACE_PAGES, takes);
        dirty_bitmap_free(one);
        dirty_bitmap_free(seen);
        dirty_bitmap_free(b);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_dirty_bitmap");
    TCase *tc = tcase_create("bitmap");
    tcase_add_test(tc, set_test_clear_count);
    tcase_add_test(tc, out_of_range_refused);
    tcase_add_test(tc, mark_byte_ranges);
    tcase_add_test(tc, iterate_in_order);
    tcase_add_test(tc, or_merge);
    tcase_add_test(tc, from_kvm_log);
    tcase_add_test(tc, mark_across_words);
    tcase_add_test(tc, take_moves_and_clears);
    tcase_add_test(tc, marks_racing_takes_are_never_lost);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
