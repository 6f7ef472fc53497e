/* The virtio-mmio transport as a driver sees it, through virtio-rng:
 * the register semantics of virtio 1.1 §4.2.2, feature negotiation (a
 * legacy driver refused), requests through direct and indirect chains, and
 * the interrupt line. */
#include <check.h>
#include <string.h>

#include "drivers/kvm/virtio/virtio_rng.h"
#include "lib/util/error.h"
#include "qv/error.h"
#include "unit/virtio_test_driver.h"

#define BASE 0xd0000000ull
#define GSI 5

static struct vtd_host h;
static struct vtd_dev d;

static void setup(void)
{
    vtd_host_init(&h, 1 << 20);
    struct virtio_dev *vd = virtio_rng_new(&h.host, BASE, GSI);
    ck_assert_msg(vd, "%s", qv_last_error()->message);
    vtd_attach(&d, &h, vd, BASE, GSI);
}

static void teardown(void)
{
    virtio_mmio_free(d.vd);
    vtd_detach(&d);
    vtd_host_clear(&h);
}

START_TEST(identity_registers)
{
    ck_assert_uint_eq(vtd_read(&d, VTD_MAGIC), 0x74726976);
    ck_assert_uint_eq(vtd_read(&d, VTD_VERSION), 2);
    ck_assert_uint_eq(vtd_read(&d, VTD_DEVICE_ID), 4);
    ck_assert_uint_eq(vtd_read(&d, VTD_VENDOR_ID), 0x554d4551);
    uint64_t f = vtd_device_features(&d);
    ck_assert(f & VTD_F(VIRTIO_F_VERSION_1));
    ck_assert(f & VTD_F(VIRTIO_F_RING_INDIRECT_DESC));
    ck_assert(f & VTD_F(VIRTIO_F_RING_EVENT_IDX));
    /* Feature words past the second are empty. */
    vtd_write(&d, VTD_DEVICE_FEATURES_SEL, 2);
    ck_assert_uint_eq(vtd_read(&d, VTD_DEVICE_FEATURES), 0);
    ck_assert_uint_eq(vtd_status(&d), 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_INTERRUPT_STATUS), 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_CONFIG_GENERATION), 0);
    /* No shared memory regions: length -1. */
    vtd_write(&d, VTD_SHM_SEL, 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_SHM_LEN_LOW), 0xffffffff);
    ck_assert_uint_eq(vtd_read(&d, VTD_SHM_LEN_HIGH), 0xffffffff);
}
END_TEST

START_TEST(queue_registers)
{
    vtd_write(&d, VTD_QUEUE_SEL, 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_QUEUE_NUM_MAX), 256);
    ck_assert_uint_eq(vtd_read(&d, VTD_QUEUE_READY), 0);
    /* rng has one queue: the next reads as absent and ignores writes. */
    vtd_write(&d, VTD_QUEUE_SEL, 1);
    ck_assert_uint_eq(vtd_read(&d, VTD_QUEUE_NUM_MAX), 0);
    vtd_write(&d, VTD_QUEUE_READY, 1);
    ck_assert_uint_eq(vtd_read(&d, VTD_QUEUE_READY), 0);
    vtd_write(&d, VTD_QUEUE_SEL, 0xffffffff);
    ck_assert_uint_eq(vtd_read(&d, VTD_QUEUE_NUM_MAX), 0);
    /* Queue 0 set up is ready and reads back so. */
    ck_assert(vtd_negotiate(&d, VTD_F(VIRTIO_F_VERSION_1)));
    ck_assert(vtd_queue_setup(&d, 0, 16));
    /* A reset makes it not ready again. */
    vtd_write(&d, VTD_STATUS, 0);
    vtd_write(&d, VTD_QUEUE_SEL, 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_QUEUE_READY), 0);
    ck_assert_uint_eq(vtd_status(&d), 0);
}
END_TEST

START_TEST(odd_accesses_read_zero)
{
    /* Control registers are 32-bit aligned; other accesses read 0 and
     * write nothing. */
    ck_assert_uint_eq(vtd_read_sized(&d, VTD_MAGIC, 1), 0);
    ck_assert_uint_eq(vtd_read_sized(&d, VTD_MAGIC, 2), 0);
    ck_assert_uint_eq(vtd_read_sized(&d, VTD_MAGIC, 8), 0);
    ck_assert_uint_eq(vtd_read_sized(&d, VTD_MAGIC + 1, 4), 0);
    vtd_write_sized(&d, VTD_STATUS, 1, VTD_S_ACKNOWLEDGE);
    vtd_write_sized(&d, VTD_STATUS + 2, 4, VTD_S_ACKNOWLEDGE);
    ck_assert_uint_eq(vtd_status(&d), 0);
    /* Past the window and reserved offsets. */
    ck_assert_uint_eq(vtd_read_sized(&d, 0x1fe, 4), 0);
    ck_assert_uint_eq(vtd_read_sized(&d, 0x200, 4), 0);
    ck_assert_uint_eq(vtd_read_sized(&d, 0xffffffff, 8), 0);
    ck_assert_uint_eq(vtd_read(&d, 0x0c0), 0);
    /* rng has no config space: reads 0. */
    ck_assert_uint_eq(vtd_config_read(&d, 0, 4), 0);
    vtd_config_write(&d, 0, 4, 0x12345678);
    /* Every offset at every size: nothing crashes, the device still
     * identifies itself. */
    for (uint32_t off = 0; off < 0x210; off++)
        for (uint32_t size = 1; size <= 8; size++) {
            vtd_read_sized(&d, off, size);
            if (off != VTD_STATUS && off != VTD_QUEUE_NOTIFY)
                vtd_write_sized(&d, off, size, 0xffffffffffffffffull);
        }
    ck_assert_uint_eq(vtd_read(&d, VTD_MAGIC), 0x74726976);
}
END_TEST

START_TEST(legacy_driver_refused)
{
    /* A driver that does not accept VERSION_1 never gets FEATURES_OK, and
     * DRIVER_OK without it does not start the device. */
    ck_assert(!vtd_negotiate(&d, 0));
    ck_assert_uint_eq(vtd_status(&d), VTD_S_ACKNOWLEDGE | VTD_S_DRIVER);
    ck_assert(vtd_queue_setup(&d, 0, 16));
    vtd_driver_ok(&d);
    ck_assert_uint_eq(vtd_status(&d) & VTD_S_DRIVER_OK, 0);
    uint64_t buf = vtd_alloc(&h, 32, 8);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){buf, 32}, 1, false);
    vtd_kick(&d, 0);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));
    ck_assert_uint_eq(vtd_irq_count(&h, GSI), 0);
}
END_TEST

START_TEST(unoffered_feature_refused)
{
    /* Bit 0 means nothing for rng and was not offered. */
    ck_assert(!vtd_negotiate(&d, VTD_F(VIRTIO_F_VERSION_1) | 1));
    /* The offered ones are accepted. */
    ck_assert(vtd_negotiate(&d, VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_F_RING_EVENT_IDX)));
    /* Once FEATURES_OK is set the features stay as they were. */
    vtd_write(&d, VTD_DRIVER_FEATURES_SEL, 0);
    vtd_write(&d, VTD_DRIVER_FEATURES, 1);
    ck_assert(vtd_status(&d) & VTD_S_FEATURES_OK);
}
END_TEST

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void rng_read(bool indirect, uint8_t *out, uint32_t n)
{
    uint64_t buf = vtd_alloc(&h, n, 8);
    uint16_t head = vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){buf, n}, 1, indirect);
    vtd_kick(&d, 0);
    uint32_t id, len;
    ck_assert(vtd_wait_used(&d, 0, &id, &len, 1000));
    ck_assert_uint_eq(id, head);
    ck_assert_uint_eq(len, n);
    memcpy(out, vtd_ptr(&h, buf), n);
}

START_TEST(rng_bytes_arrive)
{
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 16));
    uint8_t a[64], b[64];
    rng_read(false, a, sizeof(a));
    ck_assert(!all_zero(a, sizeof(a)));
    /* The used buffer raised the line with the vring bit. */
    ck_assert_uint_eq(vtd_irq_count(&h, GSI), 1);
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 1);
    ck_assert_uint_eq(vtd_ack(&d), VTD_INT_VRING);
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 0);
    rng_read(false, b, sizeof(b));
    ck_assert(!all_zero(b, sizeof(b)));
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

START_TEST(rng_through_indirect_and_chains)
{
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_F_RING_INDIRECT_DESC), 1, 8));
    uint8_t a[100];
    rng_read(true, a, sizeof(a));
    ck_assert(!all_zero(a, sizeof(a)));
    /* A chain of three buffers is filled across all of them. */
    uint64_t b[3];
    struct vtd_buf in[3];
    for (int i = 0; i < 3; i++) {
        b[i] = vtd_alloc(&h, 16, 8);
        in[i] = (struct vtd_buf){b[i], 16};
    }
    vtd_add(&d, 0, NULL, 0, in, 3, false);
    vtd_kick(&d, 0);
    uint32_t len;
    ck_assert(vtd_wait_used(&d, 0, NULL, &len, 1000));
    ck_assert_uint_eq(len, 48);
    for (int i = 0; i < 3; i++)
        ck_assert(!all_zero(vtd_ptr(&h, b[i]), 16));
    /* More requests than the queue holds, one at a time, wrap the rings. */
    for (int i = 0; i < 40; i++)
        rng_read(i % 2, a, 8);
}
END_TEST

START_TEST(interrupt_level_and_ack)
{
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 16));
    uint8_t a[8];
    rng_read(false, a, sizeof(a));
    rng_read(false, a, sizeof(a));
    /* Two used buffers, one status bit: the line stays high until the
     * driver acknowledges. */
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 1);
    ck_assert_uint_eq(vtd_read(&d, VTD_INTERRUPT_STATUS), VTD_INT_VRING);
    /* Acknowledging a bit that is not set lowers nothing. */
    vtd_write(&d, VTD_INTERRUPT_ACK, VTD_INT_CONFIG);
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 1);
    vtd_write(&d, VTD_INTERRUPT_ACK, VTD_INT_VRING);
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_INTERRUPT_STATUS), 0);
}
END_TEST

START_TEST(machine_reset)
{
    /* The machine's reset is the driver's: status, queues and the line all
     * go back to power-on, and the device is set up again from scratch. */
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 16));
    uint8_t a[8];
    rng_read(false, a, sizeof(a));
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 1);
    virtio_mmio_reset(d.vd);
    ck_assert_uint_eq(vtd_status(&d), 0);
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_INTERRUPT_STATUS), 0);
    vtd_write(&d, VTD_QUEUE_SEL, 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_QUEUE_READY), 0);
    /* Kicks on the old ring do nothing now. */
    vtd_kick(&d, 0);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 16));
    rng_read(false, a, sizeof(a));
}
END_TEST

START_TEST(kick_before_driver_ok_is_served_at_start)
{
    ck_assert(vtd_negotiate(&d, VTD_F(VIRTIO_F_VERSION_1)));
    ck_assert(vtd_queue_setup(&d, 0, 16));
    uint64_t buf = vtd_alloc(&h, 16, 8);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){buf, 16}, 1, false);
    vtd_kick(&d, 0);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));
    vtd_driver_ok(&d);
    ck_assert(vtd_wait_used(&d, 0, NULL, NULL, 1000));
}
END_TEST

START_TEST(kick_through_ioeventfd)
{
    /* A second device on a host offering ioeventfd: QueueNotify of queue 0
     * is an eventfd, and the transport's thread serves it. */
    struct vtd_host h2;
    vtd_host_init(&h2, 1 << 20);
    vtd_host_use_ioeventfd(&h2);
    struct virtio_dev *vd = virtio_rng_new(&h2.host, BASE + 0x200, GSI + 1);
    ck_assert_ptr_nonnull(vd);
    struct vtd_dev d2;
    vtd_attach(&d2, &h2, vd, BASE + 0x200, GSI + 1);
    ck_assert_int_ge(vtd_host_ioeventfd(&h2, BASE + 0x200 + VTD_QUEUE_NOTIFY, 0), 0);
    ck_assert(vtd_init(&d2, VTD_F(VIRTIO_F_VERSION_1), 1, 16));
    for (int i = 0; i < 20; i++) {
        uint64_t buf = vtd_alloc(&h2, 16, 8);
        uint16_t head = vtd_add(&d2, 0, NULL, 0, &(struct vtd_buf){buf, 16}, 1, false);
        vtd_kick(&d2, 0);
        uint32_t id;
        ck_assert(vtd_wait_used(&d2, 0, &id, NULL, 2000));
        ck_assert_uint_eq(id, head);
        ck_assert(!all_zero(vtd_ptr(&h2, buf), 16));
    }
    ck_assert_uint_ge(vtd_irq_count(&h2, GSI + 1), 1);
    /* Freeing the device releases its eventfds (vtd_host_clear checks). */
    virtio_mmio_free(vd);
    ck_assert_uint_eq(h2.n_efd, 0);
    vtd_detach(&d2);
    vtd_host_clear(&h2);
}
END_TEST

START_TEST(interrupt_through_irqfd)
{
    /* On a host offering irqfd the line is an eventfd: a used buffer
     * writes it, set_irq is never called, and at the guest's EOI the line
     * is raised again only while InterruptStatus is not 0. */
    struct vtd_host h2;
    vtd_host_init(&h2, 1 << 20);
    vtd_host_use_irqfd(&h2);
    struct virtio_dev *vd = virtio_rng_new(&h2.host, BASE, GSI);
    ck_assert_ptr_nonnull(vd);
    struct vtd_dev d2;
    vtd_attach(&d2, &h2, vd, BASE, GSI);
    ck_assert(vtd_init(&d2, VTD_F(VIRTIO_F_VERSION_1), 1, 16));
    uint64_t buf = vtd_alloc(&h2, 16, 8);
    vtd_add(&d2, 0, NULL, 0, &(struct vtd_buf){buf, 16}, 1, false);
    vtd_kick(&d2, 0);
    ck_assert(vtd_wait_used(&d2, 0, NULL, NULL, 1000));
    ck_assert_int_eq(vtd_irqfd_take(&h2, GSI, 1000), 1);
    ck_assert_uint_eq(vtd_irq_count(&h2, GSI), 0);
    /* EOI before the driver acknowledged: raised again. */
    vtd_irqfd_eoi(&h2, GSI);
    ck_assert_int_eq(vtd_irqfd_take(&h2, GSI, 1000), 1);
    /* Acknowledged, then EOI: the line stays down. */
    ck_assert_uint_eq(vtd_ack(&d2), VTD_INT_VRING);
    vtd_irqfd_eoi(&h2, GSI);
    ck_assert_int_eq(vtd_irqfd_take(&h2, GSI, 200), 0);
    /* Freeing the device releases the irqfd (vtd_host_clear checks). */
    virtio_mmio_free(vd);
    vtd_detach(&d2);
    vtd_host_clear(&h2);
}
END_TEST

/* As kvm_dev_host.c does on a KVM without the capability: an error set. */
static int refuse_irqfd(void *opaque, uint32_t gsi, int fd, int resample_fd, bool assign)
{
    (void)opaque, (void)gsi, (void)fd, (void)resample_fd, (void)assign;
    return qv_error_set(QV_ERR_KVM, "KVM here has no irqfd");
}

static int refuse_ioeventfd(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
                            bool assign)
{
    (void)opaque, (void)addr, (void)len, (void)datamatch, (void)fd, (void)assign;
    return qv_error_set(QV_ERR_KVM, "KVM here has no ioeventfd");
}

START_TEST(refused_fds_fall_back_to_exits)
{
    /* A KVM without irqfd or ioeventfd: kicks come through QueueNotify and
     * the line through set_irq. */
    struct vtd_host h2;
    vtd_host_init(&h2, 1 << 20);
    h2.host.irqfd = refuse_irqfd;
    h2.host.ioeventfd = refuse_ioeventfd;
    struct virtio_dev *vd = virtio_rng_new(&h2.host, BASE, GSI);
    ck_assert_ptr_nonnull(vd);
    /* Built: no error left behind for the caller to find. */
    ck_assert_int_eq(qv_last_error()->code, 0);
    struct vtd_dev d2;
    vtd_attach(&d2, &h2, vd, BASE, GSI);
    ck_assert(vtd_init(&d2, VTD_F(VIRTIO_F_VERSION_1), 1, 16));
    uint64_t buf = vtd_alloc(&h2, 16, 8);
    vtd_add(&d2, 0, NULL, 0, &(struct vtd_buf){buf, 16}, 1, false);
    vtd_kick(&d2, 0);
    ck_assert(vtd_used(&d2, 0, NULL, NULL)); /* served in the exit itself */
    ck_assert_uint_eq(vtd_irq_count(&h2, GSI), 1);
    virtio_mmio_free(vd);
    vtd_detach(&d2);
    vtd_host_clear(&h2);
}
END_TEST

static gpointer hammer(gpointer data)
{
    struct vtd_dev *dv = data;
    for (int i = 0; i < 20000; i++) {
        uint32_t isr = vtd_read(dv, VTD_INTERRUPT_STATUS);
        vtd_write(dv, VTD_INTERRUPT_ACK, isr);
        vtd_write(dv, VTD_QUEUE_NOTIFY, 0); /* the exit path, beside the eventfd */
        vtd_read(dv, VTD_CONFIG_GENERATION);
        vtd_read(dv, VTD_STATUS);
    }
    return NULL;
}

START_TEST(concurrent_vcpus)
{
    /* A second vCPU hammers the registers and kicks through the exit path
     * while requests are kicked through the eventfd: every request is
     * answered once (the sanitizer build checks memory). */
    struct vtd_host h2;
    vtd_host_init(&h2, 1 << 20);
    vtd_host_use_ioeventfd(&h2);
    vtd_host_use_irqfd(&h2);
    struct virtio_dev *vd = virtio_rng_new(&h2.host, BASE, GSI);
    ck_assert_ptr_nonnull(vd);
    /* Built: no error left behind for the caller to find. */
    ck_assert_int_eq(qv_last_error()->code, 0);
    struct vtd_dev d2;
    vtd_attach(&d2, &h2, vd, BASE, GSI);
    ck_assert(vtd_init(&d2,
                       VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_F_RING_EVENT_IDX) |
                           VTD_F(VIRTIO_F_RING_INDIRECT_DESC),
                       1, 64));
    GThread *t = g_thread_new("hammer", hammer, &d2);
    for (int i = 0; i < 500; i++) {
        uint64_t buf = vtd_alloc(&h2, 16, 8);
        uint16_t head = vtd_add(&d2, 0, NULL, 0, &(struct vtd_buf){buf, 16}, 1, i % 3 == 0);
        vtd_kick(&d2, 0);
        uint32_t id, len;
        ck_assert_msg(vtd_wait_used(&d2, 0, &id, &len, 5000), "request %d: status 0x%x", i,
                      vtd_status(&d2));
        ck_assert_uint_eq(id, head);
        ck_assert_uint_eq(len, 16);
    }
    g_thread_join(t);
    ck_assert(!vtd_used(&d2, 0, NULL, NULL));
    virtio_mmio_free(vd);
    vtd_detach(&d2);
    vtd_host_clear(&h2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("virtio_mmio");
    TCase *tc = tcase_create("transport");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, identity_registers);
    tcase_add_test(tc, queue_registers);
    tcase_add_test(tc, odd_accesses_read_zero);
    tcase_add_test(tc, legacy_driver_refused);
    tcase_add_test(tc, unoffered_feature_refused);
    tcase_add_test(tc, rng_bytes_arrive);
    tcase_add_test(tc, rng_through_indirect_and_chains);
    tcase_add_test(tc, interrupt_level_and_ack);
    tcase_add_test(tc, machine_reset);
    tcase_add_test(tc, kick_before_driver_ok_is_served_at_start);
    tcase_add_test(tc, kick_through_ioeventfd);
    tcase_add_test(tc, concurrent_vcpus);
    tcase_add_test(tc, interrupt_through_irqfd);
    tcase_add_test(tc, refused_fds_fall_back_to_exits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
