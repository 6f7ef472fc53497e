/* virtio-blk through the virtio-mmio transport and the test-side driver
 * (guest RAM in a buffer, no /dev/kvm): requests go through the rings and
 * the disk's I/O thread to a real image file, which is checked from the
 * host side; <iotune> slows a burst on that thread. */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "drivers/kvm/virtio/blk_req.h"
#include "drivers/kvm/virtio/virtio_blk.h"
#include "lib/conf/domain.h"
#include "qv/error.h"
#include "unit/virtio_test_driver.h"

#define BASE 0xd0000000ull
#define GSI 5
#define IMG_SECTORS 2048

static struct vtd_host h;
static struct vtd_dev d;
static char *dir, *img;

static void setup(void)
{
    vtd_host_init(&h, 4 << 20);
    dir = g_dir_make_tmp("qv-vblk-XXXXXX", NULL);
    img = g_build_filename(dir, "disk.img", NULL);
    int fd = open(img, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, IMG_SECTORS * 512), 0);
    close(fd);
    memset(&d, 0, sizeof(d));
}

static void teardown(void)
{
    if (d.vd) {
        virtio_mmio_free(d.vd);
        vtd_detach(&d);
    }
    vtd_host_clear(&h);
    g_unlink(img);
    g_rmdir(dir);
    g_free(img);
    g_free(dir);
}

static struct qv_disk *disk_xml(const char *extra)
{
    g_autofree char *xml = g_strdup_printf("<disk type='file' device='disk'><source file='%s'/>"
                                           "<target dev='vdb' bus='virtio'/>%s</disk>",
                                           img, extra);
    struct qv_disk *disk = NULL;
    struct qv_net *n = NULL;
    struct qv_hostdev *hd = NULL;
    ck_assert_msg(qv_domain_parse_device_xml(xml, &disk, &n, &hd) == 0 && disk, "%s: %s", xml,
                  qv_last_error()->message);
    return disk;
}

/* Build the device for a <disk> with `extra` children and bring it up
 * with the given device feature bits accepted. */
static void attach(const char *extra, uint64_t features)
{
    struct qv_disk *disk = disk_xml(extra);
    struct virtio_dev *vd = virtio_blk_new(&h.host, BASE, GSI, disk);
    qv_disk_free(disk);
    ck_assert_msg(vd, "%s", qv_last_error()->message);
    vtd_attach(&d, &h, vd, BASE, GSI);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1) | features, 1, 128));
}

struct req {
    uint64_t hdr, data, status;
    uint32_t len;
    uint16_t head;
};

/* Queue a request: header, then data (device-readable for OUT, DISCARD
 * and WRITE_ZEROES, writable otherwise), then the status byte. */
static struct req submit(uint32_t type, uint64_t sector, uint64_t data, uint32_t len)
{
    struct req r = {.data = data, .len = len};
    r.hdr = vtd_alloc(&h, 16, 8);
    uint8_t *p = vtd_ptr(&h, r.hdr);
    memcpy(p, &type, 4);
    memcpy(p + 8, &sector, 8);
    r.status = vtd_alloc(&h, 1, 1);
    *(uint8_t *)vtd_ptr(&h, r.status) = 0xee;
    bool dev_reads = type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_DISCARD ||
                     type == VIRTIO_BLK_T_WRITE_ZEROES;
    struct vtd_buf out[2] = {{r.hdr, 16}, {data, len}}, in[2] = {{data, len}, {r.status, 1}};
    if (dev_reads)
        r.head = vtd_add(&d, 0, out, len ? 2 : 1, in + 1, 1, false);
    else
        r.head = vtd_add(&d, 0, out, 1, len ? in : in + 1, len ? 2 : 1, false);
    return r;
}

/* Wait for r to come back used; its status. */
static uint8_t complete(const struct req *r)
{
    uint32_t id, len;
    ck_assert_msg(vtd_wait_used(&d, 0, &id, &len, 10000), "request %u never completed", r->head);
    ck_assert_uint_eq(id, r->head);
    return *(uint8_t *)vtd_ptr(&h, r->status);
}

static uint8_t run(uint32_t type, uint64_t sector, uint64_t data, uint32_t len)
{
    struct req r = submit(type, sector, data, len);
    vtd_kick(&d, 0);
    return complete(&r);
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed ^ (i * 13) ^ (i >> 8));
}

static void host_read(uint64_t off, void *buf, size_t len)
{
    int fd = open(img, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

START_TEST(identity_and_config)
{
    attach("<blockio logical_block_size='4096'/><driver name='qemu' discard='unmap'/>", 0);
    ck_assert_uint_eq(vtd_read(&d, VTD_DEVICE_ID), VIRTIO_ID_BLOCK);
    uint64_t f = vtd_device_features(&d);
    ck_assert(f & VTD_F(VIRTIO_BLK_F_FLUSH));
    ck_assert(f & VTD_F(VIRTIO_BLK_F_BLK_SIZE));
    ck_assert(f & VTD_F(VIRTIO_BLK_F_SEG_MAX));
    ck_assert(f & VTD_F(VIRTIO_BLK_F_DISCARD));
    ck_assert(f & VTD_F(VIRTIO_BLK_F_WRITE_ZEROES));
    ck_assert(!(f & VTD_F(VIRTIO_BLK_F_RO)));
    ck_assert_uint_eq(vtd_config_read(&d, 0, 8), IMG_SECTORS);
    ck_assert_uint_eq(vtd_config_read(&d, 12, 4), 254);  /* seg_max */
    ck_assert_uint_eq(vtd_config_read(&d, 20, 4), 4096); /* blk_size */
    ck_assert_uint_eq(vtd_config_read(&d, 40, 4), BLK_MAX_SEGS);
    ck_assert_uint_eq(vtd_config_read(&d, 56, 1), 1); /* write_zeroes_may_unmap */
}
END_TEST

/* A pattern written, flushed and read back through the rings lands in the
 * image; GET_ID returns the <serial>. */
START_TEST(write_flush_read_get_id)
{
    attach("<serial>QV-0042</serial>", VTD_F(VIRTIO_BLK_F_FLUSH));
    uint64_t buf = vtd_alloc(&h, 16384, 4096);
    fill(vtd_ptr(&h, buf), 16384, 0x5a);
    ck_assert_int_eq(run(VIRTIO_BLK_T_OUT, 40, buf, 16384), VIRTIO_BLK_S_OK);
    ck_assert_int_eq(run(VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
    uint8_t want[16384], got[16384];
    fill(want, sizeof(want), 0x5a);
    host_read(40 * 512, got, sizeof(got));
    ck_assert_mem_eq(got, want, sizeof(want));

    uint64_t back = vtd_alloc(&h, 16384, 4096);
    ck_assert_int_eq(run(VIRTIO_BLK_T_IN, 40, back, 16384), VIRTIO_BLK_S_OK);
    ck_assert_mem_eq(vtd_ptr(&h, back), want, sizeof(want));

    uint64_t id = vtd_alloc(&h, 20, 1);
    memset(vtd_ptr(&h, id), 0xff, 20);
    ck_assert_int_eq(run(VIRTIO_BLK_T_GET_ID, 0, id, 20), VIRTIO_BLK_S_OK);
    ck_assert_mem_eq(vtd_ptr(&h, id), "QV-0042\0\0\0\0\0\0\0\0\0\0\0\0", 20);
    ck_assert_uint_gt(vtd_irq_count(&h, GSI), 0);
}
END_TEST

START_TEST(readonly_disk)
{
    attach("<readonly/>", VTD_F(VIRTIO_BLK_F_RO) | VTD_F(VIRTIO_BLK_F_WRITE_ZEROES));
    ck_assert(vtd_device_features(&d) & VTD_F(VIRTIO_BLK_F_RO));
    uint64_t buf = vtd_alloc(&h, 4096, 4096);
    memset(vtd_ptr(&h, buf), 0x11, 4096);
    ck_assert_int_eq(run(VIRTIO_BLK_T_OUT, 0, buf, 4096), VIRTIO_BLK_S_IOERR);
    uint64_t seg = vtd_alloc(&h, 16, 8);
    uint32_t n = 8;
    memcpy((uint8_t *)vtd_ptr(&h, seg) + 8, &n, 4);
    ck_assert_int_eq(run(VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16), VIRTIO_BLK_S_IOERR);
    uint8_t got[4096], zero[4096] = {0};
    host_read(0, got, sizeof(got));
    ck_assert_mem_eq(got, zero, sizeof(got));
    ck_assert_int_eq(run(VIRTIO_BLK_T_IN, 0, buf, 4096), VIRTIO_BLK_S_OK);
    ck_assert_mem_eq(vtd_ptr(&h, buf), zero, 4096);
}
END_TEST

/* A header shorter than 16 bytes: the device needs a reset, and works
 * again after one. */
START_TEST(short_header_needs_reset)
{
    attach("", 0);
    uint64_t hdr = vtd_alloc(&h, 16, 8), st = vtd_alloc(&h, 1, 1);
    vtd_add(&d, 0, &(struct vtd_buf){hdr, 8}, 1, &(struct vtd_buf){st, 1}, 1, false);
    vtd_kick(&d, 0);
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!(vtd_status(&d) & VTD_S_NEEDS_RESET) && g_get_monotonic_time() < end)
        g_usleep(1000);
    ck_assert(vtd_status(&d) & VTD_S_NEEDS_RESET);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));

    vtd_detach(&d);
    vtd_attach(&d, &h, d.vd, BASE, GSI);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 64));
    ck_assert(!(vtd_status(&d) & VTD_S_NEEDS_RESET));
    uint64_t buf = vtd_alloc(&h, 512, 512);
    ck_assert_int_eq(run(VIRTIO_BLK_T_IN, 0, buf, 512), VIRTIO_BLK_S_OK);
    ck_assert_int_eq(run(VIRTIO_BLK_T_IN, IMG_SECTORS, buf, 512), VIRTIO_BLK_S_IOERR);
}
END_TEST

/* <iotune> total_iops_sec 10: 30 requests queued at once take at least 2 s
 * (10 go at once, then one per 100 ms), all waiting on the I/O thread:
 * the kick that queued them returns at once. */
START_TEST(iotune_slows_a_burst)
{
    attach("<iotune><total_iops_sec>10</total_iops_sec></iotune>", 0);
    struct req r[30];
    uint64_t buf = vtd_alloc(&h, 512 * 30, 512);
    for (int i = 0; i < 30; i++)
        r[i] = submit(VIRTIO_BLK_T_IN, (uint64_t)i, buf + 512 * (uint64_t)i, 512);
    gint64 t0 = g_get_monotonic_time();
    vtd_kick(&d, 0);
    gint64 kicked = g_get_monotonic_time();
    for (int i = 0; i < 30; i++)
        ck_assert_int_eq(complete(&r[i]), VIRTIO_BLK_S_OK);
    gint64 t1 = g_get_monotonic_time();
    ck_assert_msg(t1 - t0 >= 2 * G_USEC_PER_SEC,
                  "30 requests at 10 iops took %" G_GINT64_FORMAT " us", t1 - t0);
    /* The kick did not wait for the throttled requests. */
    ck_assert_msg(kicked - t0 < G_USEC_PER_SEC, "kick took %" G_GINT64_FORMAT " us", kicked - t0);
}
END_TEST

/* A reset while requests wait for <iotune> returns without them: they
 * are dropped, not carried out later. */
START_TEST(reset_drops_throttled_requests)
{
    attach("<iotune><total_iops_sec>1</total_iops_sec></iotune>", 0);
    uint64_t buf = vtd_alloc(&h, 512, 512);
    fill(vtd_ptr(&h, buf), 512, 7);
    struct req a = submit(VIRTIO_BLK_T_IN, 0, buf, 512);
    struct req b = submit(VIRTIO_BLK_T_OUT, 1, buf, 512);
    vtd_kick(&d, 0);
    ck_assert_int_eq(complete(&a), VIRTIO_BLK_S_OK);
    gint64 t0 = g_get_monotonic_time();
    vtd_write(&d, VTD_STATUS, 0);
    ck_assert_msg(g_get_monotonic_time() - t0 < G_USEC_PER_SEC / 2,
                  "reset waited for the throttle");
    ck_assert_uint_eq(vtd_status(&d), 0);
    g_usleep(1200 * 1000); /* past when b would have gone */
    uint8_t got[512], zero[512] = {0};
    host_read(512, got, sizeof(got));
    ck_assert_mem_eq(got, zero, sizeof(got));
    (void)b;
}
END_TEST

static unsigned fds_on_image(void)
{
    g_autoptr(GDir) fds = g_dir_open("/proc/self/fd", 0, NULL);
    ck_assert_ptr_nonnull(fds);
    unsigned n = 0;
    const char *e;
    while ((e = g_dir_read_name(fds))) {
        g_autofree char *link = g_strdup_printf("/proc/self/fd/%s", e);
        g_autofree char *target = g_file_read_link(link, NULL);
        n += g_strcmp0(target, img) == 0;
    }
    return n;
}

/* A board that builds the transport itself gets the same device. */
START_TEST(board_builds_the_transport)
{
    struct qv_disk *disk = disk_xml("<readonly/><serial>B</serial>");
    const struct virtio_dev_ops *ops = NULL;
    void *state = virtio_blk_state_new(&h.host, disk, &ops);
    qv_disk_free(disk);
    ck_assert_msg(state && ops, "%s", qv_last_error()->message);
    ck_assert_uint_eq(ops->device_id, VIRTIO_ID_BLOCK);
    ck_assert(ops->features & VTD_F(VIRTIO_BLK_F_RO));
    struct virtio_dev *vd = virtio_mmio_new(&h.host, BASE, GSI, ops, state);
    ck_assert_ptr_nonnull(vd);
    vtd_attach(&d, &h, vd, BASE, GSI);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_BLK_F_RO), 1, 128));
    uint64_t id = vtd_alloc(&h, 20, 1);
    ck_assert_int_eq(run(VIRTIO_BLK_T_GET_ID, 0, id, 20), VIRTIO_BLK_S_OK);
    ck_assert_str_eq(vtd_ptr(&h, id), "B");

    /* A state no transport took is freed through its ops: its image is
     * closed (and its thread ended, or ASan's leak check would say). */
    unsigned before = fds_on_image();
    disk = disk_xml("<readonly/>"); /* read-only disks may share the image */
    void *spare = virtio_blk_state_new(&h.host, disk, &ops);
    qv_disk_free(disk);
    ck_assert_ptr_nonnull(spare);
    ck_assert_uint_eq(fds_on_image(), before + 1);
    ops->free(spare);
    ck_assert_uint_eq(fds_on_image(), before);
}
END_TEST

START_TEST(constructor_refusals)
{
    g_autofree char *missing = g_build_filename(dir, "absent.img", NULL);
    g_autofree char *xml = g_strdup_printf("<disk type='file' device='disk'><source file='%s'/>"
                                           "<target dev='vdc' bus='virtio'/></disk>",
                                           missing);
    struct qv_disk *disk = NULL;
    struct qv_net *n = NULL;
    struct qv_hostdev *hd = NULL;
    ck_assert_int_eq(qv_domain_parse_device_xml(xml, &disk, &n, &hd), 0);
    h.host.vm_name = "blk1";
    ck_assert_ptr_null(virtio_blk_new(&h.host, BASE, GSI, disk));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
    ck_assert_msg(strstr(qv_last_error()->message, "VM 'blk1': disk 'vdc': cannot open"), "%s",
                  qv_last_error()->message);
    qv_disk_free(disk);

    disk = disk_xml("<driver name='qemu' type='qcow2'/>");
    ck_assert_ptr_null(virtio_blk_new(&h.host, BASE, GSI, disk));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(qv_last_error()->message, "VM 'blk1': disk 'vdb': <driver type='qcow2'>"),
                  "%s", qv_last_error()->message);
    qv_disk_free(disk);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_virtio_blk");
    TCase *tc = tcase_create("blk");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, identity_and_config);
    tcase_add_test(tc, write_flush_read_get_id);
    tcase_add_test(tc, readonly_disk);
    tcase_add_test(tc, short_header_needs_reset);
    tcase_add_test(tc, iotune_slows_a_burst);
    tcase_add_test(tc, reset_drops_throttled_requests);
    tcase_add_test(tc, board_builds_the_transport);
    tcase_add_test(tc, constructor_refusals);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
