/* noop driver: guest memory backed by real host memory. */
#include <check.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "qv/qv.h"

#define MiB (1u << 20)

static struct qv_conn *conn;
static struct vm *vm;

static void setup(void)
{
    conn = qv_connect("noop:///");
    ck_assert_ptr_nonnull(conn);
    vm = vm_create_on(conn, "mem", 1, 1 * MiB);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
}

static void teardown(void)
{
    vm_destroy(vm);
    qv_close(conn);
}

#define ASSERT_ERR(call, want)                                                                     \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == (want), "%s returned %d (%s), expected %d", #call, rc_,               \
                      qv_last_error()->message, (want));                                           \
    } while (0)
#define ASSERT_OK(call) ASSERT_ERR(call, 0)

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

START_TEST(test_read_write_and_hva)
{
    uint8_t in[300], out[300];
    fill(in, sizeof(in), 1);
    ASSERT_OK(vm_write_memory(vm, 0x1000 - 100, in, sizeof(in)));
    memset(out, 0, sizeof(out));
    ASSERT_OK(vm_read_memory(vm, 0x1000 - 100, out, sizeof(out)));
    ck_assert_mem_eq(in, out, sizeof(in));

    /* The host address is the same memory, both ways. */
    uint8_t *hva = vm_gpa_to_hva(vm, 0x1000 - 100);
    ck_assert_ptr_nonnull(hva);
    ck_assert_mem_eq(hva, in, sizeof(in));
    hva[0] = 0x5a;
    uint8_t b = 0;
    ASSERT_OK(vm_read_memory(vm, 0x1000 - 100, &b, 1));
    ck_assert_uint_eq(b, 0x5a);

    /* The last byte of RAM is reachable; one further is not. */
    uint8_t last = 0xee;
    ASSERT_OK(vm_write_memory(vm, MiB - 1, &last, 1));
    ck_assert_ptr_nonnull(vm_gpa_to_hva(vm, MiB - 1));
    ck_assert_ptr_null(vm_gpa_to_hva(vm, MiB));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_OUT_OF_RANGE);

    /* Untouched memory reads as zero. */
    uint8_t zero[64], z[64] = {0};
    memset(zero, 0xff, sizeof(zero));
    ASSERT_OK(vm_read_memory(vm, 512 * 1024, zero, sizeof(zero)));
    ck_assert_mem_eq(zero, z, sizeof(z));
    ASSERT_OK(vm_read_memory(vm, 0, NULL, 0));
}
END_TEST

START_TEST(test_out_of_range_copies_nothing)
{
    uint8_t in[64], out[64], keep[64];
    fill(in, sizeof(in), 3);
    /* Straddling the end of RAM: fails as a whole. */
    ASSERT_ERR(vm_write_memory(vm, MiB - 32, in, sizeof(in)), QV_ERR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "'mem'"));
    uint8_t tail[32], z[32] = {0};
    ASSERT_OK(vm_read_memory(vm, MiB - 32, tail, sizeof(tail)));
    ck_assert_mem_eq(tail, z, sizeof(z)); /* nothing was written */

    ASSERT_OK(vm_write_memory(vm, MiB - 32, in, 32));
    memset(out, 0xaa, sizeof(out));
    memcpy(keep, out, sizeof(out));
    ASSERT_ERR(vm_read_memory(vm, MiB - 32, out, sizeof(out)), QV_ERR_OUT_OF_RANGE);
    ck_assert_mem_eq(out, keep, sizeof(out)); /* nothing was read */

    ASSERT_ERR(vm_read_memory(vm, 16 * MiB, out, 1), QV_ERR_OUT_OF_RANGE);
    /* Ranges that wrap around 2^64. */
    ASSERT_ERR(vm_read_memory(vm, UINT64_MAX - 7, out, 16), QV_ERR_OUT_OF_RANGE);
    ASSERT_ERR(vm_write_memory(vm, UINT64_MAX, in, 2), QV_ERR_OUT_OF_RANGE);
    ASSERT_ERR(vm_read_memory(vm, 0, NULL, 4), QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_regions)
{
    /* Adjacent to RAM: one access may span both. */
    ASSERT_OK(vm_add_memory_region(vm, MiB, 64 * 1024, VM_MEM_READ | VM_MEM_WRITE));
    uint8_t in[8192], out[8192];
    fill(in, sizeof(in), 9);
    ASSERT_OK(vm_write_memory(vm, MiB - 4096, in, sizeof(in)));
    ASSERT_OK(vm_read_memory(vm, MiB - 4096, out, sizeof(out)));
    ck_assert_mem_eq(in, out, sizeof(in));

    /* Overlaps, misalignment, unknown flags. */
    ASSERT_ERR(vm_add_memory_region(vm, MiB + 60 * 1024, 8192, VM_MEM_READ), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "overlaps"));
    ASSERT_ERR(vm_add_memory_region(vm, 0, 4096, VM_MEM_READ), QV_ERR_INVALID_ARG);
    ASSERT_ERR(vm_add_memory_region(vm, 3 * MiB + 1, 4096, VM_MEM_READ), QV_ERR_INVALID_ARG);
    ASSERT_ERR(vm_add_memory_region(vm, 3 * MiB, 100, VM_MEM_READ), QV_ERR_INVALID_ARG);
    ASSERT_ERR(vm_add_memory_region(vm, 3 * MiB, 0, VM_MEM_READ), QV_ERR_INVALID_ARG);
    ASSERT_ERR(vm_add_memory_region(vm, 3 * MiB, 4096, 0x100), QV_ERR_INVALID_ARG);
    ASSERT_ERR(vm_add_memory_region(vm, UINT64_MAX - 4095 - 4096, 8192 * 2, VM_MEM_READ),
               QV_ERR_INVALID_ARG);

    /* A read-only region (think ROM) refuses writes and keeps its bytes. */
    ASSERT_OK(vm_add_memory_region(vm, 4 * MiB, 4096, VM_MEM_READ | VM_MEM_EXEC));
    ASSERT_ERR(vm_write_memory(vm, 4 * MiB + 10, in, 4), QV_ERR_PERMISSION);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "read-only"));
    uint8_t rom[4] = {1, 1, 1, 1}, z[4] = {0};
    ASSERT_OK(vm_read_memory(vm, 4 * MiB + 10, rom, 4));
    ck_assert_mem_eq(rom, z, 4);

    /* A gap between regions is not memory: a span across it fails. */
    ASSERT_ERR(vm_read_memory(vm, MiB + 60 * 1024, out, 8192), QV_ERR_OUT_OF_RANGE);
    ck_assert_ptr_null(vm_gpa_to_hva(vm, 2 * MiB));

    /* A region far up, beyond 4 GiB. */
    ASSERT_OK(vm_add_memory_region(vm, 1ull << 36, 2 * MiB, VM_MEM_READ | VM_MEM_WRITE));
    ASSERT_OK(vm_write_memory(vm, (1ull << 36) + 2 * MiB - 4, in, 4));
    ASSERT_OK(vm_read_memory(vm, (1ull << 36) + 2 * MiB - 4, out, 4));
    ck_assert_mem_eq(in, out, 4);
}
END_TEST

START_TEST(test_large_vm_is_lazy)
{
    /* 16 GiB of RAM costs nothing until touched. */
    struct vm *big = vm_create_on(conn, "big", 1, 16ull << 30);
    ck_assert_msg(big, "%s", qv_last_error()->message);
    uint64_t v = 0x1122334455667788ull, r = 0;
    ASSERT_OK(vm_write_memory(big, (16ull << 30) - 8, &v, 8));
    ASSERT_OK(vm_read_memory(big, (16ull << 30) - 8, &r, 8));
    ck_assert_uint_eq(r, v);
    vm_destroy(big);
}
END_TEST

START_TEST(test_destroyed_vm_memory)
{
    struct vm *h = vm_lookup(conn, "mem");
    vm_destroy(h);
    uint8_t b;
    ASSERT_ERR(vm_read_memory(vm, 0, &b, 1), QV_ERR_INVALID_STATE);
    vm_free(vm);
    vm = vm_create_on(conn, "mem", 1, MiB); /* for teardown */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("noop_memory");
    TCase *tc = tcase_create("memory");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_read_write_and_hva);
    tcase_add_test(tc, test_out_of_range_copies_nothing);
    tcase_add_test(tc, test_regions);
    tcase_add_test(tc, test_large_vm_is_lazy);
    tcase_add_test(tc, test_destroyed_vm_memory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
