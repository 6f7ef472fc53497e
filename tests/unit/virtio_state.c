/* A virtio-mmio device through a snapshot (virtio/virtio_state.h), with the
 * test driver (virtio_test_driver.h) as the guest: requests done before
 * the save stay done, buffers the device had not taken are taken after
 * the restore, and new requests complete with the next indices, none lost
 * or repeated. The restored machine is a second host whose RAM is a copy
 * of the first's at the save, as a snapshot's memory file gives it back.
 * Damaged sections are refused naming the section and the fault, and the
 * device they were loaded into stays as it was. */
#include <check.h>
#include <string.h>

#include "drivers/kvm/snapshot/snap_buf.h"
#include "drivers/kvm/virtio/virtio_console.h"
#include "drivers/kvm/virtio/virtio_rng.h"
#include "drivers/kvm/virtio/virtio_state.h"
#include "qv/error.h"
#include "unit/virtio_test_driver.h"

#define BASE 0xd0000000ull
#define GSI 5
#define RAM (1u << 20)
#define SEC "virtio-mmio@0xd0000000"

static GByteArray *save(struct virtio_dev *vd)
{
    struct snap_out o;
    snap_out_init(&o);
    int rc = virtio_dev_save(vd, &o);
    ck_assert_msg(rc == 0, "save: %s", qv_last_error()->message);
    GByteArray *b = snap_out_steal(&o);
    snap_out_clear(&o);
    return b;
}

static int load(struct virtio_dev *vd, const GByteArray *b, size_t len)
{
    struct snap_in in;
    snap_in_init(&in, SEC, b->data, len);
    return virtio_dev_load(vd, &in);
}

/* The restored machine's RAM: what the guest's was at the save. */
static void host_copy(struct vtd_host *to, const struct vtd_host *from)
{
    vtd_host_init(to, from->ram_size);
    memcpy(to->ram, from->ram, from->ram_size);
    to->next_free = from->next_free;
}

/* The guest (its view of the rings is in d) goes on on vd, on host h. */
static void driver_moves(struct vtd_dev *d, struct vtd_host *h, struct virtio_dev *vd)
{
    d->h = h;
    d->vd = vd;
}

static uint16_t add_rng_buf(struct vtd_dev *d)
{
    uint64_t buf = vtd_alloc(d->h, 64, 8);
    return vtd_add(d, 0, NULL, 0, &(struct vtd_buf){buf, 64}, 1, false);
}

/* Collect the next used entry: head want, 64 bytes (a driver reuses a
 * head once it is used, so the order of heads and the count of entries
 * are what shows nothing lost or repeated). */
static void expect_used(struct vtd_dev *d, uint16_t want, unsigned *count)
{
    uint32_t id = 0, len = 0;
    ck_assert_msg(vtd_wait_used(d, 0, &id, &len, 2000), "no used entry for head %u", want);
    ck_assert_uint_eq(id, want);
    ck_assert_uint_eq(len, 64);
    (*count)++;
}

/* What a driver reads of the registers: equal on both devices. */
static void same_registers(struct vtd_dev *a, struct vtd_dev *b, uint32_t nq)
{
    static const uint32_t regs[] = {VTD_MAGIC,  VTD_VERSION,          VTD_DEVICE_ID,
                                    VTD_STATUS, VTD_INTERRUPT_STATUS, VTD_CONFIG_GENERATION};
    for (size_t i = 0; i < G_N_ELEMENTS(regs); i++)
        ck_assert_msg(vtd_read(a, regs[i]) == vtd_read(b, regs[i]), "register 0x%x differs",
                      regs[i]);
    ck_assert_uint_eq(vtd_device_features(a), vtd_device_features(b));
    for (uint32_t q = 0; q < nq; q++) {
        vtd_write(a, VTD_QUEUE_SEL, q);
        vtd_write(b, VTD_QUEUE_SEL, q);
        ck_assert_uint_eq(vtd_read(a, VTD_QUEUE_READY), vtd_read(b, VTD_QUEUE_READY));
        ck_assert_uint_eq(vtd_read(a, VTD_QUEUE_NUM_MAX), vtd_read(b, VTD_QUEUE_NUM_MAX));
    }
}

START_TEST(requests_go_on_after_restore)
{
    struct vtd_host h, h2;
    struct vtd_dev d, old;
    vtd_host_init(&h, RAM);
    struct virtio_dev *vd = virtio_rng_new(&h.host, BASE, GSI);
    vtd_attach(&d, &h, vd, BASE, GSI);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_F_RING_EVENT_IDX), 1, 16));
    unsigned used = 0;
    uint16_t head[7];
    for (int i = 0; i < 3; i++)
        head[i] = add_rng_buf(&d);
    vtd_kick(&d, 0);
    for (int i = 0; i < 3; i++)
        expect_used(&d, head[i], &used);
    /* Two more made available, no kick yet: the device has not taken
     * them. The interrupt for the first three is not acknowledged. */
    head[3] = add_rng_buf(&d);
    head[4] = add_rng_buf(&d);
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 1);

    /* A running device is saved quiesced, or not at all. */
    struct snap_out o;
    snap_out_init(&o);
    ck_assert_int_eq(virtio_dev_save(vd, &o), QV_ERR_INVALID_STATE);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "not quiesced"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "virtio-rng at 0xd0000000"));
    snap_out_clear(&o);
    ck_assert_int_eq(virtio_dev_quiesce(vd, 1000), 0);
    /* Quiesced, a kick takes nothing. */
    vtd_kick(&d, 0);
    ck_assert_uint_eq(vtd_used_idx(&d, 0), 3);
    g_autoptr(GByteArray) b = save(vd);
    ck_assert_uint_eq(b->len, 85);

    host_copy(&h2, &h);
    struct virtio_dev *vd2 = virtio_rng_new(&h2.host, BASE, GSI);
    ck_assert_ptr_nonnull(vd2);
    old = d;
    driver_moves(&d, &h2, vd2);
    ck_assert_int_eq(vtd_irq_level(&h2, GSI), 0);
    ck_assert_int_eq(load(vd2, b, b->len), 0);
    /* The line is up as it was; the registers read the same. */
    ck_assert_int_eq(vtd_irq_level(&h2, GSI), 1);
    same_registers(&old, &d, 1);
    ck_assert_uint_eq(vtd_read(&d, VTD_STATUS),
                      VTD_S_ACKNOWLEDGE | VTD_S_DRIVER | VTD_S_FEATURES_OK | VTD_S_DRIVER_OK);
    /* The two buffers left in the ring were taken at the load, then new
     * ones go on from index 5. */
    expect_used(&d, head[3], &used);
    expect_used(&d, head[4], &used);
    ck_assert_uint_eq(vtd_ack(&d), VTD_INT_VRING);
    ck_assert_int_eq(vtd_irq_level(&h2, GSI), 0);
    /* EVENT_IDX: interrupt once the used index passes 5. */
    vtd_set_used_event(&d, 0, 5);
    head[5] = add_rng_buf(&d);
    head[6] = add_rng_buf(&d);
    vtd_kick(&d, 0);
    expect_used(&d, head[5], &used);
    expect_used(&d, head[6], &used);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));
    ck_assert_uint_eq(vtd_used_idx(&d, 0), 7);
    ck_assert_int_eq(vtd_irq_level(&h2, GSI), 1);
    /* Each request exactly once, and the old machine's RAM untouched by
     * the new device. */
    ck_assert_uint_eq(used, 7);
    ck_assert_uint_eq(vtd_used_idx(&old, 0), 3);

    virtio_mmio_free(vd);
    virtio_mmio_free(vd2);
    vtd_detach(&d);
    vtd_host_clear(&h);
    vtd_host_clear(&h2);
}
END_TEST

START_TEST(quiesced_load_waits_for_unquiesce)
{
    struct vtd_host h, h2;
    struct vtd_dev d;
    vtd_host_init(&h, RAM);
    struct virtio_dev *vd = virtio_rng_new(&h.host, BASE, GSI);
    vtd_attach(&d, &h, vd, BASE, GSI);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 8));
    uint16_t h0 = add_rng_buf(&d);
    ck_assert_int_eq(virtio_dev_quiesce(vd, -1), 0);
    /* Counted: two quiesces need two unquiesces. */
    ck_assert_int_eq(virtio_dev_quiesce(vd, -1), 0);
    virtio_dev_unquiesce(vd);
    g_autoptr(GByteArray) b = save(vd);
    host_copy(&h2, &h);
    /* The old machine goes on: its device takes the buffer there. */
    virtio_dev_unquiesce(vd);
    ck_assert_uint_eq(vtd_used_idx(&d, 0), 1);
    virtio_mmio_free(vd);

    struct virtio_dev *vd2 = virtio_rng_new(&h2.host, BASE, GSI);
    driver_moves(&d, &h2, vd2);
    ck_assert_int_eq(virtio_dev_quiesce(vd2, 0), 0);
    ck_assert_int_eq(load(vd2, b, b->len), 0);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));
    virtio_dev_unquiesce(vd2);
    unsigned used = 0;
    expect_used(&d, h0, &used);
    virtio_mmio_free(vd2);
    vtd_detach(&d);
    vtd_host_clear(&h);
    vtd_host_clear(&h2);
}
END_TEST

/* ---- virtio-console: its own state ---- */

static void sink(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque, (void)buf, (void)len;
}

START_TEST(console_input_not_yet_read_is_kept)
{
    struct vtd_host h, h2;
    struct vtd_dev d;
    vtd_host_init(&h, RAM);
    struct virtio_console *con;
    struct virtio_dev *vd = virtio_console_new(&h.host, BASE, GSI, sink, NULL, &con);
    vtd_attach(&d, &h, vd, BASE, GSI);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 2, 8));
    /* Typed before the guest offered a receive buffer. */
    ck_assert_uint_eq(virtio_console_receive(con, (const uint8_t *)"abc", 3), 3);
    ck_assert_int_eq(virtio_dev_quiesce(vd, 1000), 0);
    g_autoptr(GByteArray) b = save(vd);
    host_copy(&h2, &h);
    virtio_mmio_free(vd);

    struct virtio_console *con2;
    struct virtio_dev *vd2 = virtio_console_new(&h2.host, BASE, GSI, sink, NULL, &con2);
    driver_moves(&d, &h2, vd2);
    ck_assert_int_eq(load(vd2, b, b->len), 0);
    uint64_t buf = vtd_alloc(&h2, 16, 1);
    uint16_t head = vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){buf, 16}, 1, false);
    vtd_kick(&d, 0);
    uint32_t id, len;
    ck_assert(vtd_wait_used(&d, 0, &id, &len, 2000));
    ck_assert_uint_eq(id, head);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(vtd_ptr(&h2, buf), "abc", 3);

    /* Its own state is checked too: more input than the device holds. */
    g_autoptr(GByteArray) bad = g_byte_array_new();
    g_byte_array_append(bad, b->data, b->len - 11); /* up to the device state */
    uint8_t n[8] = {4, 0, 0, 0, 0x01, 0x10, 0, 0};  /* 4 bytes: a length of 4097 */
    g_byte_array_append(bad, n, 8);
    struct virtio_dev *vd3 = virtio_console_new(&h2.host, BASE + 0x200, GSI + 1, sink, NULL, NULL);
    struct snap_in in;
    snap_in_init(&in, SEC, bad->data, bad->len);
    ck_assert_int_lt(virtio_dev_load(vd3, &in), 0);
    ck_assert_msg(strstr(qv_last_error()->message, "'virtio-console input' is 4097"), "%s",
                  qv_last_error()->message);
    virtio_mmio_free(vd3);
    virtio_mmio_free(vd2);
    vtd_detach(&d);
    vtd_host_clear(&h);
    vtd_host_clear(&h2);
}
END_TEST

/* ---- damaged sections ---- */

/* Where the fields of a one-queue section are (virtio_state.c's layout). */
enum {
    OFF_ID = 0,
    OFF_NQ = 4,
    OFF_STATUS = 8,
    OFF_NEEDS_RESET = 12,
    OFF_FEATURES = 25,
    OFF_ISR = 33,
    OFF_Q0 = 41, /* num 4, ready 1, desc 8, avail 8, used 8, last_avail 2, used 2 ... */
    OFF_Q0_NUM = OFF_Q0,
    OFF_Q0_READY = OFF_Q0 + 4,
    OFF_Q0_DESC = OFF_Q0 + 5,
    OFF_Q0_USED = OFF_Q0 + 21,
    OFF_Q0_LAST_AVAIL = OFF_Q0 + 29,
    OFF_DEV_VERSION = 77,
    OFF_DEV_LEN = 81,
    SECTION_LEN = 85,
};

static void put(GByteArray *b, size_t off, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        b->data[off + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const GByteArray *b, size_t off, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b->data[off + i] << (8 * i);
    return v;
}

START_TEST(damaged_sections_refused)
{
    struct vtd_host h, h2;
    struct vtd_dev d;
    vtd_host_init(&h, RAM);
    struct virtio_dev *vd = virtio_rng_new(&h.host, BASE, GSI);
    vtd_attach(&d, &h, vd, BASE, GSI);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 16));
    uint16_t h0 = add_rng_buf(&d);
    ck_assert_int_eq(virtio_dev_quiesce(vd, 1000), 0);
    g_autoptr(GByteArray) good = save(vd);
    ck_assert_uint_eq(good->len, SECTION_LEN);
    ck_assert_uint_eq(get(good, OFF_Q0_NUM, 4), 16);
    host_copy(&h2, &h);
    virtio_mmio_free(vd);

    struct virtio_dev *vd2 = virtio_rng_new(&h2.host, BASE, GSI);
    driver_moves(&d, &h2, vd2);

    static const struct {
        size_t off;
        unsigned n;
        uint64_t v;
        const char *what;
    } bad[] = {
        {OFF_ID, 4, VIRTIO_ID_BLOCK, "virtio type 2; this one is virtio-rng"},
        {OFF_NQ, 4, 2, "holds 2 queues; virtio-rng has 1"},
        {OFF_NQ, 4, 0xffffffff, "holds 4294967295 queues"},
        {OFF_STATUS, 4, 0x4f, "status 0x4f"},
        {OFF_STATUS, 4, 0x07, "DRIVER_OK without FEATURES_OK"},
        {OFF_NEEDS_RESET, 1, 2, "NEEDS_RESET is 2"},
        {OFF_FEATURES, 8, VTD_F(VIRTIO_F_VERSION_1) | VTD_F(40), "never offers"},
        {OFF_FEATURES, 8, 0, "without VIRTIO_F_VERSION_1"},
        {OFF_ISR, 4, 4, "InterruptStatus 0x4"},
        {OFF_Q0_NUM, 4, 3, "queue 0: size 3 is not a power of 2"},
        {OFF_Q0_NUM, 4, 512, "size 512 is not a power of 2 up to 256"},
        {OFF_Q0_READY, 1, 2, "ready 2"},
        {OFF_Q0_DESC, 8, RAM, "descriptor ring at 0x100000 is not inside guest RAM"},
        {OFF_Q0_DESC, 8, 0x1008, "misaligned"},
        {OFF_Q0_USED, 8, RAM - 8, "device ring at 0xffff8 is not inside guest RAM"},
        {OFF_Q0_USED, 8, UINT64_MAX - 3, "not inside guest RAM"},
        {OFF_Q0_LAST_AVAIL, 2, 1, "1 buffers taken but 0 given back"},
        {OFF_DEV_VERSION, 4, 1, "virtio-rng state is version 1"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GByteArray) b = g_byte_array_sized_new(good->len);
        g_byte_array_append(b, good->data, good->len);
        put(b, bad[i].off, bad[i].v, bad[i].n);
        ck_assert_int_lt(load(vd2, b, b->len), 0);
        const char *m = qv_last_error()->message;
        ck_assert_msg(strstr(m, SEC) && strstr(m, bad[i].what), "case %zu: %s", i, m);
    }
    /* Device state for a device that keeps none. */
    g_autoptr(GByteArray) extra = g_byte_array_sized_new(good->len + 1);
    g_byte_array_append(extra, good->data, good->len);
    g_byte_array_append(extra, (const guint8 *)"x", 1);
    put(extra, OFF_DEV_LEN, 1, 4);
    ck_assert_int_lt(load(vd2, extra, extra->len), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "keeps none"));
    put(extra, OFF_DEV_LEN, 0, 4);
    ck_assert_int_lt(load(vd2, extra, extra->len), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "left over"));
    /* Every truncation. */
    for (size_t len = 0; len < good->len; len++) {
        ck_assert_int_lt(load(vd2, good, len), 0);
        ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "needs"));
    }
    /* None of it reached the device: still reset, line low, nothing
     * taken from the ring. */
    ck_assert_uint_eq(vtd_read(&d, VTD_STATUS), 0);
    vtd_write(&d, VTD_QUEUE_SEL, 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_QUEUE_READY), 0);
    ck_assert_int_eq(vtd_irq_level(&h2, GSI), 0);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));
    /* The good section still loads, and the buffer is served. */
    ck_assert_int_eq(load(vd2, good, good->len), 0);
    unsigned used = 0;
    expect_used(&d, h0, &used);
    virtio_mmio_free(vd2);
    vtd_detach(&d);
    vtd_host_clear(&h);
    vtd_host_clear(&h2);
}
END_TEST

START_TEST(idle_device_round_trips_unchanged)
{
    /* A device the driver never touched, and one whose driver left
     * selectors past the end (as a driver may): both come back as they
     * were, byte for byte. */
    struct vtd_host h, h2;
    struct vtd_dev d, d2;
    vtd_host_init(&h, RAM);
    vtd_host_init(&h2, RAM);
    struct virtio_dev *vd = virtio_rng_new(&h.host, BASE, GSI);
    struct virtio_dev *vd2 = virtio_rng_new(&h2.host, BASE, GSI);
    vtd_attach(&d, &h, vd, BASE, GSI);
    vtd_attach(&d2, &h2, vd2, BASE, GSI);
    g_autoptr(GByteArray) idle = save(vd);
    ck_assert_int_eq(load(vd2, idle, idle->len), 0);
    g_autoptr(GByteArray) again = save(vd2);
    ck_assert_uint_eq(again->len, idle->len);
    ck_assert_mem_eq(again->data, idle->data, idle->len);

    vtd_write(&d, VTD_STATUS, VTD_S_ACKNOWLEDGE);
    vtd_write(&d, VTD_QUEUE_SEL, 7);
    vtd_write(&d, VTD_DEVICE_FEATURES_SEL, 5);
    g_autoptr(GByteArray) sel = save(vd);
    ck_assert_int_eq(load(vd2, sel, sel->len), 0);
    /* Past the end, as on the saved device: QueueNumMax and the features
     * read as zero. */
    ck_assert_uint_eq(vtd_read(&d2, VTD_QUEUE_NUM_MAX), 0);
    ck_assert_uint_eq(vtd_read(&d2, VTD_DEVICE_FEATURES), 0);
    same_registers(&d, &d2, 0);
    virtio_mmio_free(vd);
    virtio_mmio_free(vd2);
    vtd_host_clear(&h);
    vtd_host_clear(&h2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("virtio_state");
    TCase *tc = tcase_create("state");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, requests_go_on_after_restore);
    tcase_add_test(tc, quiesced_load_waits_for_unquiesce);
    tcase_add_test(tc, console_input_not_yet_read_is_kept);
    tcase_add_test(tc, damaged_sections_refused);
    tcase_add_test(tc, idle_device_round_trips_unchanged);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
