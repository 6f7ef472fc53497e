/* The dirty-page bitmap (drivers/kvm/dirty/dirty_bitmap.h): pages set,
 * cleared, counted, merged and iterated as written; KVM-style logs taken
 * word for word; every page or word outside the region refused by name. */
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
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
