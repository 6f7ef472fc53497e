/* virtio-console through the transport: what the guest transmits reaches
 * the sink, console input reaches the guest's receive buffers (held while
 * it has none), and the device presents one port without MULTIPORT. */
#include <check.h>
#include <string.h>

#include "drivers/kvm/virtio/virtio_console.h"
#include "qv/error.h"
#include "unit/virtio_test_driver.h"

#define BASE 0xd0000400ull
#define GSI 7

static struct vtd_host h;
static struct vtd_dev d;
static struct virtio_console *con;
static GString *sink;

static void sink_fn(void *opaque, const uint8_t *buf, size_t len)
{
    g_string_append_len(opaque, (const char *)buf, (gssize)len);
}

static void setup(void)
{
    vtd_host_init(&h, 1 << 20);
    sink = g_string_new(NULL);
    struct virtio_dev *vd = virtio_console_new(&h.host, BASE, GSI, sink_fn, sink, &con);
    ck_assert_msg(vd, "%s", qv_last_error()->message);
    vtd_attach(&d, &h, vd, BASE, GSI);
}

static void teardown(void)
{
    virtio_mmio_free(d.vd);
    vtd_detach(&d);
    vtd_host_clear(&h);
    g_string_free(sink, TRUE);
}

START_TEST(identity)
{
    ck_assert_uint_eq(vtd_read(&d, VTD_DEVICE_ID), 3);
    /* SIZE, MULTIPORT and EMERG_WRITE are not offered. */
    ck_assert_uint_eq(vtd_device_features(&d) & 7, 0);
    ck_assert_uint_eq(vtd_config_read(&d, 0, 2), 0); /* cols */
    ck_assert_uint_eq(vtd_config_read(&d, 2, 2), 0); /* rows */
    ck_assert_uint_eq(vtd_config_read(&d, 4, 4), 0); /* max_nr_ports */
    /* Two queues: receiveq and transmitq. */
    vtd_write(&d, VTD_QUEUE_SEL, 1);
    ck_assert_uint_gt(vtd_read(&d, VTD_QUEUE_NUM_MAX), 0);
    vtd_write(&d, VTD_QUEUE_SEL, 2);
    ck_assert_uint_eq(vtd_read(&d, VTD_QUEUE_NUM_MAX), 0);
}
END_TEST

START_TEST(transmit_reaches_the_sink)
{
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_F_RING_INDIRECT_DESC), 2, 64));
    uint64_t b1 = vtd_alloc(&h, 16, 8), b2 = vtd_alloc(&h, 16, 8);
    memcpy(vtd_ptr(&h, b1), "hello ", 6);
    memcpy(vtd_ptr(&h, b2), "hvc0\n", 5);
    struct vtd_buf out[] = {{b1, 6}, {b2, 5}};
    vtd_add(&d, 1, out, 2, NULL, 0, false);
    vtd_add(&d, 1, out + 1, 1, NULL, 0, true);
    vtd_kick(&d, 1);
    ck_assert_str_eq(sink->str, "hello hvc0\nhvc0\n");
    uint32_t len;
    ck_assert(vtd_used(&d, 1, NULL, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert(vtd_used(&d, 1, NULL, NULL));
    ck_assert_uint_eq(vtd_ack(&d), VTD_INT_VRING);
}
END_TEST

START_TEST(input_reaches_the_guest)
{
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 2, 64));
    /* Input before the driver offers buffers waits. */
    ck_assert_uint_eq(virtio_console_receive(con, (const uint8_t *)"abc", 3), 3);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));
    uint64_t rx = vtd_alloc(&h, 8, 8);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){rx, 8}, 1, false);
    vtd_kick(&d, 0);
    uint32_t len;
    ck_assert(vtd_used(&d, 0, NULL, &len));
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(vtd_ptr(&h, rx), "abc", 3);
    ck_assert_uint_eq(vtd_irq_count(&h, GSI), 1);
    /* With buffers waiting, input goes straight in, split across them. */
    uint64_t r1 = vtd_alloc(&h, 4, 8), r2 = vtd_alloc(&h, 4, 8);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){r1, 4}, 1, false);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){r2, 4}, 1, false);
    vtd_kick(&d, 0);
    ck_assert_uint_eq(virtio_console_receive(con, (const uint8_t *)"0123456789", 10), 10);
    ck_assert(vtd_used(&d, 0, NULL, &len));
    ck_assert_uint_eq(len, 4);
    ck_assert(vtd_used(&d, 0, NULL, &len));
    ck_assert_uint_eq(len, 4);
    ck_assert_mem_eq(vtd_ptr(&h, r1), "01234567", 4);
    ck_assert_mem_eq(vtd_ptr(&h, r2), "4567", 4);
    /* The last two bytes wait for the next buffer. */
    uint64_t r3 = vtd_alloc(&h, 16, 8);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){r3, 16}, 1, false);
    vtd_kick(&d, 0);
    ck_assert(vtd_used(&d, 0, NULL, &len));
    ck_assert_uint_eq(len, 2);
    ck_assert_mem_eq(vtd_ptr(&h, r3), "89", 2);
}
END_TEST

START_TEST(input_is_bounded)
{
    /* No driver at all: input beyond the holding buffer is refused, and
     * what was taken arrives once the driver comes. */
    static uint8_t big[10000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    size_t took = virtio_console_receive(con, big, sizeof(big));
    ck_assert_uint_gt(took, 0);
    ck_assert_uint_lt(took, sizeof(big));
    ck_assert_uint_eq(virtio_console_receive(con, big, 1), 0);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 2, 64));
    uint64_t rx = vtd_alloc(&h, took, 8);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){rx, (uint32_t)took}, 1, false);
    vtd_kick(&d, 0);
    uint32_t len;
    ck_assert(vtd_used(&d, 0, NULL, &len));
    ck_assert_uint_eq(len, took);
    ck_assert_mem_eq(vtd_ptr(&h, rx), big, took);
}
END_TEST

START_TEST(needs_a_sink)
{
    struct virtio_console *c = NULL;
    ck_assert_ptr_null(virtio_console_new(&h.host, BASE + 0x200, GSI + 1, NULL, NULL, &c));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "sink"));
    ck_assert_ptr_null(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("virtio_console");
    TCase *tc = tcase_create("console");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, identity);
    tcase_add_test(tc, transmit_reaches_the_sink);
    tcase_add_test(tc, input_reaches_the_guest);
    tcase_add_test(tc, input_is_bounded);
    tcase_add_test(tc, needs_a_sink);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
