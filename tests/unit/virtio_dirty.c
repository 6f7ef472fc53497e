/* What the virtio devices write into guest RAM reaches the host's dirty
 * bitmap (dev_host.h's mark_dirty), so incremental snapshots carry it:
 * each device driven through the transport by the test-side driver, with
 * every ring on a page of its own, and the pages marked compared exactly
 * with the pages written: a request's device-writable buffers and the
 * used ring's page, never the buffers the device only reads, the
 * descriptor table or the driver area, and nothing at all for a request
 * the transport refuses. Marks are read after virtio_dev_quiesce, as the
 * snapshot engine takes them: quiesced means marked. */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/kvm/virtio/blk_req.h"
#include "drivers/kvm/virtio/net_backend.h"
#include "drivers/kvm/virtio/virtio_blk.h"
#include "drivers/kvm/virtio/virtio_console.h"
#include "drivers/kvm/virtio/virtio_net.h"
#include "drivers/kvm/virtio/virtio_rng.h"
#include "drivers/kvm/virtio/virtio_state.h"
#include "lib/conf/domain.h"
#include "qv/error.h"
#include "unit/virtio_test_driver.h"

#define BASE 0xd0000000ull
#define GSI 5
#define RAM (1u << 20)
#define PAGE 4096u

static struct vtd_host h;
static struct vtd_dev d;

static void setup(void)
{
    vtd_host_init(&h, RAM);
    memset(&d, 0, sizeof(d));
}

static void teardown(void)
{
    if (d.vd) {
        virtio_mmio_free(d.vd);
        vtd_detach(&d);
    }
    vtd_host_clear(&h);
}

static uint64_t page_of(uint64_t gpa)
{
    return gpa / PAGE;
}

/* n fresh pages of guest RAM. */
static uint64_t pages(unsigned n)
{
    return vtd_alloc(&h, (uint64_t)n * PAGE, PAGE);
}

/* The pages marked since the last call, after quiescing the device so
 * that every write it finished is marked. */
static char *taken(void)
{
    ck_assert_int_eq(virtio_dev_quiesce(d.vd, 5000), 0);
    char *s = vtd_dirty_take(&h);
    virtio_dev_unquiesce(d.vd);
    return s;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* As vtd_dirty_take writes them: ascending. */
static char *fmt_pages(uint64_t *p, size_t n)
{
    qsort(p, n, sizeof(*p), cmp_u64);
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < n; i++)
        g_string_append_printf(s, "%s%llu", i ? " " : "", (unsigned long long)p[i]);
    return g_string_free(s, FALSE);
}

#define ASSERT_MARKED(...)                                                                         \
    do {                                                                                           \
        uint64_t want_[] = {__VA_ARGS__};                                                          \
        g_autofree char *w_ = fmt_pages(want_, G_N_ELEMENTS(want_));                               \
        g_autofree char *g_ = taken();                                                             \
        ck_assert_str_eq(g_, w_);                                                                  \
    } while (0)

#define ASSERT_NONE_MARKED()                                                                       \
    do {                                                                                           \
        g_autofree char *g_ = taken();                                                             \
        ck_assert_str_eq(g_, "");                                                                  \
    } while (0)

/* Bring d up with nq queues of size entries, each queue's descriptor
 * table, driver area and device area on pages of their own; used[q] is
 * the page of queue q's device area. */
static void bring_up(uint64_t features, uint32_t nq, uint16_t size, uint64_t *used)
{
    ck_assert(vtd_negotiate(&d, VTD_F(VIRTIO_F_VERSION_1) | features));
    for (uint32_t q = 0; q < nq; q++) {
        uint64_t desc = pages(1), avail = pages(1), u = pages(1);
        ck_assert(vtd_queue_setup_at(&d, q, size, desc, avail, u));
        used[q] = page_of(u);
    }
    vtd_driver_ok(&d);
    ck_assert_uint_eq(vtd_status(&d) & (VTD_S_DRIVER_OK | VTD_S_NEEDS_RESET), VTD_S_DRIVER_OK);
}

/* ---- the transport, through virtio-rng ---- */

static void rng_up(uint64_t features, uint64_t *used)
{
    struct virtio_dev *vd = virtio_rng_new(&h.host, BASE, GSI);
    ck_assert_msg(vd, "%s", qv_last_error()->message);
    vtd_attach(&d, &h, vd, BASE, GSI);
    bring_up(features, 1, 16, used);
}

START_TEST(queue_ready_marks_the_used_ring)
{
    uint64_t used;
    rng_up(0, &used);
    /* QueueReady=1 zeroes the device area's header and avail_event. */
    ASSERT_MARKED(used);
    ASSERT_NONE_MARKED(); /* a take clears */
}
END_TEST

START_TEST(rng_marks_its_buffer_and_the_used_ring)
{
    uint64_t used;
    rng_up(0, &used);
    ASSERT_MARKED(used);
    /* 300 bytes across a page boundary, in pages with nothing else. */
    uint64_t two = pages(2), buf = two + PAGE - 100;
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){buf, 300}, 1, false);
    vtd_kick(&d, 0);
    uint32_t len;
    ck_assert(vtd_used(&d, 0, NULL, &len));
    ck_assert_uint_eq(len, 300);
    ASSERT_MARKED(page_of(two), page_of(two) + 1, used);

    /* Through an indirect table: the table is read, never marked. */
    vtd_negotiate(&d, VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_F_RING_INDIRECT_DESC));
    uint64_t desc = pages(1), avail = pages(1), u = pages(1);
    ck_assert(vtd_queue_setup_at(&d, 0, 16, desc, avail, u));
    vtd_driver_ok(&d);
    ASSERT_MARKED(page_of(u));
    uint64_t b1 = pages(1), b2 = pages(1);
    struct vtd_buf in[] = {{b1 + 8, 16}, {b2, 8}};
    vtd_add(&d, 0, NULL, 0, in, 2, true);
    vtd_kick(&d, 0);
    ck_assert(vtd_used(&d, 0, NULL, &len));
    ck_assert_uint_eq(len, 24);
    ASSERT_MARKED(page_of(b1), page_of(b2), page_of(u));
}
END_TEST

/* With EVENT_IDX the device writes avail_event into its area even when
 * there is nothing to take. */
START_TEST(avail_event_marks_the_used_ring)
{
    uint64_t used;
    rng_up(VTD_F(VIRTIO_F_RING_EVENT_IDX), &used);
    ASSERT_MARKED(used);
    vtd_kick(&d, 0); /* an empty ring: the device asks for the next */
    ASSERT_MARKED(used);
    ck_assert_uint_eq(vtd_avail_event(&d, 0), 0);
    uint64_t buf = pages(1);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){buf, 64}, 1, false);
    vtd_kick(&d, 0);
    ck_assert_uint_eq(vtd_avail_event(&d, 0), 1);
    ASSERT_MARKED(page_of(buf), used);
}
END_TEST

/* A buffer outside guest RAM, or running past its end, fails the device
 * before anything is written: nothing is marked. */
START_TEST(refused_requests_mark_nothing)
{
    uint64_t used;
    rng_up(0, &used);
    ASSERT_MARKED(used);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){RAM - 100, 200}, 1, false);
    vtd_kick(&d, 0);
    ck_assert(vtd_status(&d) & VTD_S_NEEDS_RESET);
    ck_assert_uint_eq(vtd_used_idx(&d, 0), 0);
    ASSERT_NONE_MARKED();

    bring_up(0, 1, 16, &used); /* reset and set up anew */
    ASSERT_MARKED(used);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){(uint64_t)RAM + 4 * PAGE, 64}, 1, false);
    vtd_kick(&d, 0);
    ck_assert(vtd_status(&d) & VTD_S_NEEDS_RESET);
    ASSERT_NONE_MARKED();
}
END_TEST

/* ---- virtio-console: input into receive buffers, output read only ---- */

static void sink_fn(void *opaque, const uint8_t *buf, size_t len)
{
    g_string_append_len(opaque, (const char *)buf, (gssize)len);
}

START_TEST(console_marks_input_not_output)
{
    g_autoptr(GString) out = g_string_new(NULL);
    struct virtio_console *con = NULL;
    struct virtio_dev *vd = virtio_console_new(&h.host, BASE, GSI, sink_fn, out, &con);
    ck_assert_msg(vd, "%s", qv_last_error()->message);
    vtd_attach(&d, &h, vd, BASE, GSI);
    uint64_t used[2];
    bring_up(0, 2, 16, used);
    ASSERT_MARKED(used[0], used[1]);

    /* Input lands in the receive buffer (queue 0) when the host sends it. */
    uint64_t rx = pages(1);
    vtd_add(&d, 0, NULL, 0, &(struct vtd_buf){rx, 64}, 1, false);
    vtd_kick(&d, 0);
    ASSERT_NONE_MARKED(); /* offered, not written yet */
    ck_assert_uint_eq(virtio_console_receive(con, (const uint8_t *)"ls\n", 3), 3);
    uint32_t len;
    ck_assert(vtd_used(&d, 0, NULL, &len));
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(vtd_ptr(&h, rx), "ls\n", 3), 0);
    ASSERT_MARKED(page_of(rx), used[0]);

    /* Output (queue 1) is read by the device: only its used ring. */
    uint64_t tx = pages(1);
    memcpy(vtd_ptr(&h, tx), "ok", 2);
    vtd_add(&d, 1, &(struct vtd_buf){tx, 2}, 1, NULL, 0, false);
    vtd_kick(&d, 1);
    ck_assert_str_eq(out->str, "ok");
    ASSERT_MARKED(used[1]);
}
END_TEST

/* ---- virtio-blk: reads land in guest buffers from its I/O thread ---- */

struct blk_env {
    char *dir, *img;
};

static struct blk_env blk_up(uint64_t *used)
{
    struct blk_env e;
    e.dir = g_dir_make_tmp("qv-vdirty-XXXXXX", NULL);
    ck_assert_ptr_nonnull(e.dir);
    e.img = g_build_filename(e.dir, "disk.img", NULL);
    int fd = open(e.img, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    uint8_t sector[512];
    memset(sector, 0xab, sizeof(sector));
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(write(fd, sector, sizeof(sector)), (ssize_t)sizeof(sector));
    close(fd);
    g_autofree char *xml = g_strdup_printf("<disk type='file' device='disk'><source file='%s'/>"
                                           "<target dev='vdb' bus='virtio'/></disk>",
                                           e.img);
    struct qv_disk *disk = NULL;
    struct qv_net *n = NULL;
    struct qv_hostdev *hd = NULL;
    ck_assert_int_eq(qv_domain_parse_device_xml(xml, &disk, &n, &hd), 0);
    struct virtio_dev *vd = virtio_blk_new(&h.host, BASE, GSI, disk);
    qv_disk_free(disk);
    ck_assert_msg(vd, "%s", qv_last_error()->message);
    vtd_attach(&d, &h, vd, BASE, GSI);
    bring_up(0, 1, 16, used);
    return e;
}

static void blk_down(struct blk_env *e)
{
    virtio_mmio_free(d.vd);
    d.vd = NULL;
    vtd_detach(&d);
    g_unlink(e->img);
    g_rmdir(e->dir);
    g_free(e->img);
    g_free(e->dir);
}

/* One request: the header on its own page, then data, then the status
 * byte on its own page; waits for it to be used and returns the status. */
static uint8_t blk_run(uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
                       uint64_t *hdr_page, uint64_t *status_page)
{
    uint64_t hdr = pages(1), status = pages(1);
    memcpy(vtd_ptr(&h, hdr), &type, 4);
    memcpy((uint8_t *)vtd_ptr(&h, hdr) + 8, &sector, 8);
    *(uint8_t *)vtd_ptr(&h, status) = 0xee;
    struct vtd_buf out[2] = {{hdr, 16}, {data, len}}, in[2] = {{data, len}, {status, 1}};
    if (type == VIRTIO_BLK_T_OUT)
        vtd_add(&d, 0, out, 2, in + 1, 1, false);
    else
        vtd_add(&d, 0, out, 1, in, 2, false);
    vtd_kick(&d, 0);
    ck_assert(vtd_wait_used(&d, 0, NULL, NULL, 10000));
    *hdr_page = page_of(hdr);
    *status_page = page_of(status);
    return *(uint8_t *)vtd_ptr(&h, status);
}

START_TEST(blk_read_marks_data_and_status)
{
    uint64_t used, hdr, status;
    struct blk_env e = blk_up(&used);
    ASSERT_MARKED(used);

    /* Two sectors read into a buffer across a page boundary. */
    uint64_t two = pages(2), data = two + PAGE - 512;
    ck_assert_uint_eq(blk_run(VIRTIO_BLK_T_IN, 0, data, 1024, &hdr, &status), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(*(uint8_t *)vtd_ptr(&h, data + 1023), 0xab);
    ASSERT_MARKED(page_of(two), page_of(two) + 1, status, used);
    (void)hdr; /* the header page is read only: not in the list above */

    /* A write reads the guest's data: only the status and the ring. */
    uint64_t w = pages(1);
    memset(vtd_ptr(&h, w), 0x11, 512);
    ck_assert_uint_eq(blk_run(VIRTIO_BLK_T_OUT, 3, w, 512, &hdr, &status), VIRTIO_BLK_S_OK);
    ASSERT_MARKED(status, used);

    /* A read past the end of the disk fails with IOERR: the status is
     * written, and the data buffer, which the device was allowed to write,
     * is marked as well (the transport trusts no device's count). */
    uint64_t far = pages(1);
    ck_assert_uint_eq(blk_run(VIRTIO_BLK_T_IN, 1 << 20, far, 512, &hdr, &status),
                      VIRTIO_BLK_S_IOERR);
    ASSERT_MARKED(page_of(far), status, used);
    blk_down(&e);
}
END_TEST

/* A request whose header is too short fails the device (NEEDS_RESET) and
 * is dropped without being returned (nothing written, nothing marked), so
 * a snapshot's quiesce still finds nothing in flight: a guest cannot
 * refuse every snapshot by leaving one behind. */
START_TEST(blk_bad_header_leaves_nothing_in_flight)
{
    uint64_t used;
    struct blk_env e = blk_up(&used);
    ASSERT_MARKED(used);
    uint64_t hdr = pages(1), status = pages(1);
    vtd_add(&d, 0, &(struct vtd_buf){hdr, 8}, 1, &(struct vtd_buf){status, 1}, 1, false);
    vtd_kick(&d, 0);
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!(vtd_status(&d) & VTD_S_NEEDS_RESET) && g_get_monotonic_time() < end)
        g_usleep(1000);
    ck_assert(vtd_status(&d) & VTD_S_NEEDS_RESET);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));
    /* taken() quiesces first, with a 5 s limit, and asserts it worked. */
    ASSERT_NONE_MARKED();
    blk_down(&e);
}
END_TEST

/* ---- virtio-net: received frames, from the backend's thread ---- */

struct test_backend {
    struct net_backend be;
    int sent;
};

static int tb_start(struct net_backend *be)
{
    (void)be;
    return 0;
}

static int tb_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    (void)frame;
    (void)len;
    __atomic_fetch_add(&((struct test_backend *)be)->sent, 1, __ATOMIC_RELAXED);
    return 0;
}

static void tb_free(struct net_backend *be)
{
    g_free(be->vm_name);
    g_free(be);
}

static const struct net_backend_ops tb_ops = {
    .kind = "test", .start = tb_start, .send = tb_send, .free = tb_free};

static gpointer deliver_thread(gpointer p)
{
    struct net_backend *be = p;
    uint8_t frame[60];
    memset(frame, 0xff, 6); /* broadcast */
    memset(frame + 6, 0x52, 54);
    be->deliver(be->deliver_opaque, frame, sizeof(frame));
    return NULL;
}

START_TEST(net_marks_received_frames)
{
    struct test_backend *tb = g_new0(struct test_backend, 1);
    tb->be.ops = &tb_ops;
    tb->be.vm_name = g_strdup("vdirty");
    static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    struct virtio_net *n = virtio_net_new(mac, &tb->be);
    ck_assert_msg(n, "%s", qv_last_error()->message);
    struct virtio_dev *vd = virtio_mmio_new(&h.host, BASE, GSI, &virtio_net_ops, n);
    ck_assert_ptr_nonnull(vd);
    vtd_attach(&d, &h, vd, BASE, GSI);
    uint64_t used[2];
    bring_up(VTD_F(VIRTIO_NET_F_MAC), 2, 16, used);
    ASSERT_MARKED(used[0], used[1]);

    /* A receive buffer across a page boundary; the frame arrives from
     * another thread, as from slirp's or the tap's. */
    uint64_t two = pages(2), rx = two + PAGE - 20;
    vtd_add(&d, VIRTIO_NET_RXQ, NULL, 0, &(struct vtd_buf){rx, 1526}, 1, false);
    vtd_kick(&d, VIRTIO_NET_RXQ);
    GThread *t = g_thread_new("deliver", deliver_thread, &tb->be);
    g_thread_join(t);
    uint32_t len;
    ck_assert(vtd_wait_used(&d, VIRTIO_NET_RXQ, NULL, &len, 5000));
    ck_assert_uint_eq(len, VIRTIO_NET_HDR_LEN + 60);
    ASSERT_MARKED(page_of(two), page_of(two) + 1, used[VIRTIO_NET_RXQ]);

    /* A frame sent is read: only the transmit queue's used ring. */
    uint64_t tx = pages(1);
    memset(vtd_ptr(&h, tx), 0, VIRTIO_NET_HDR_LEN + 60);
    vtd_add(&d, VIRTIO_NET_TXQ, &(struct vtd_buf){tx, VIRTIO_NET_HDR_LEN + 60}, 1, NULL, 0, false);
    vtd_kick(&d, VIRTIO_NET_TXQ);
    ck_assert(vtd_wait_used(&d, VIRTIO_NET_TXQ, NULL, NULL, 5000));
    ck_assert_int_eq(__atomic_load_n(&tb->sent, __ATOMIC_RELAXED), 1);
    ASSERT_MARKED(used[VIRTIO_NET_TXQ]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("virtio_dirty");
    TCase *tc = tcase_create("dirty");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, queue_ready_marks_the_used_ring);
    tcase_add_test(tc, rng_marks_its_buffer_and_the_used_ring);
    tcase_add_test(tc, avail_event_marks_the_used_ring);
    tcase_add_test(tc, refused_requests_mark_nothing);
    tcase_add_test(tc, console_marks_input_not_output);
    tcase_add_test(tc, blk_read_marks_data_and_status);
    tcase_add_test(tc, blk_bad_header_leaves_nothing_in_flight);
    tcase_add_test(tc, net_marks_received_frames);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
