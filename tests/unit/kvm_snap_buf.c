/* Snapshot sections as bytes (drivers/kvm/snapshot/snap_buf.h): values come
 * back as put, and a short, long or oversized section is refused naming the
 * section and the field, never read past its end. */
#include <check.h>
#include <string.h>

#include "drivers/kvm/snapshot/snap_buf.h"
#include "lib/util/error.h"
#include "qv/error.h"

START_TEST(round_trip)
{
    struct snap_out o;
    snap_out_init(&o);
    snap_put_u8(&o, 0xab);
    snap_put_u16(&o, 0x1234);
    snap_put_u32(&o, 0xdeadbeef);
    snap_put_u64(&o, 0x0102030405060708ull);
    snap_put_blob(&o, "hello", 5);
    snap_put_bytes(&o, "xy", 2);
    g_autoptr(GByteArray) b = snap_out_steal(&o);
    snap_out_clear(&o);
    ck_assert_uint_eq(b->len, 1 + 2 + 4 + 8 + 4 + 5 + 2);
    /* Little-endian on the wire whatever the host. */
    ck_assert_uint_eq(b->data[1], 0x34);
    ck_assert_uint_eq(b->data[2], 0x12);

    struct snap_in in;
    snap_in_init(&in, "test", b->data, b->len);
    ck_assert_uint_eq(snap_get_u8(&in, "a"), 0xab);
    ck_assert_uint_eq(snap_get_u16(&in, "b"), 0x1234);
    ck_assert_uint_eq(snap_get_u32(&in, "c"), 0xdeadbeef);
    ck_assert_uint_eq(snap_get_u64(&in, "d"), 0x0102030405060708ull);
    uint32_t n;
    const char *s = snap_get_blob(&in, "e", 16, &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(s, "hello", 5), 0);
    char xy[2];
    snap_get_bytes(&in, "f", xy, 2);
    ck_assert_int_eq(memcmp(xy, "xy", 2), 0);
    ck_assert_int_eq(snap_in_finish(&in), 0);
}
END_TEST

START_TEST(short_section_names_field)
{
    uint8_t buf[3] = {1, 2, 3};
    struct snap_in in;
    snap_in_init(&in, "uart@0x3f8", buf, sizeof buf);
    ck_assert_uint_eq(snap_get_u16(&in, "ier"), 0x0201);
    ck_assert_uint_eq(snap_get_u32(&in, "scratch"), 0);
    /* Sticky: later fields read as 0 and the first failure is kept. */
    ck_assert_uint_eq(snap_get_u8(&in, "lsr"), 0);
    ck_assert_int_eq(snap_in_finish(&in), QV_ERR_PROTOCOL);
    const char *msg = qv_last_error() ? qv_last_error()->message : "";
    ck_assert_ptr_nonnull(strstr(msg, "uart@0x3f8"));
    ck_assert_ptr_nonnull(strstr(msg, "scratch"));
}
END_TEST

START_TEST(left_over_bytes_refused)
{
    uint8_t buf[5] = {0};
    struct snap_in in;
    snap_in_init(&in, "pm", buf, sizeof buf);
    (void)snap_get_u32(&in, "x");
    ck_assert_int_eq(snap_in_finish(&in), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "left over"));
}
END_TEST

START_TEST(blob_over_max_refused)
{
    struct snap_out o;
    snap_out_init(&o);
    snap_put_blob(&o, "0123456789", 10);
    /* A length that claims more than the section holds. */
    snap_put_u32(&o, 0xffffffffu);
    struct snap_in in;
    snap_in_init(&in, "fw_cfg", o.bytes->data, o.bytes->len);
    uint32_t n;
    ck_assert_ptr_null(snap_get_blob(&in, "name", 4, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(snap_in_finish(&in), QV_ERR_PROTOCOL);

    snap_in_init(&in, "fw_cfg", o.bytes->data, o.bytes->len);
    ck_assert_ptr_nonnull(snap_get_blob(&in, "name", 64, &n));
    ck_assert_ptr_null(snap_get_blob(&in, "data", G_MAXUINT32, &n));
    ck_assert_int_eq(snap_in_finish(&in), QV_ERR_PROTOCOL);
    snap_out_clear(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_snap_buf");
    TCase *tc = tcase_create("snap_buf");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, short_section_names_field);
    tcase_add_test(tc, left_over_bytes_refused);
    tcase_add_test(tc, blob_over_max_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
