/* A disk whose I/O blocks does not block the vCPU: the guest's data buffer
 * is made a userfaultfd page, so the I/O thread's preadv into it stops in
 * the kernel until this test resolves the fault, exactly as on a hung
 * disk. Meanwhile kick() (a vCPU's QueueNotify) and register accesses
 * return, and a reset waits for the request in flight before returning;
 * a quiesce for a snapshot waits for it too, and what the driver queued
 * behind it is carried out by the restored device, never lost.
 * Needs userfaultfd for kernel-mode faults (root, or
 * vm.unprivileged_userfaultfd=1); exits 77 (skipped) without it. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "drivers/kvm/snapshot/snap_buf.h"
#include "drivers/kvm/virtio/blk_req.h"
#include "drivers/kvm/virtio/virtio_blk.h"
#include "drivers/kvm/virtio/virtio_state.h"
#include "lib/conf/domain.h"
#include "qv/error.h"
#include "unit/virtio_test_driver.h"

#define BASE 0xd0000000ull
#define GSI 5
#define PAGE 4096

static int open_uffd(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct uffdio_api api = {.api = UFFD_API};
    if (ioctl(fd, UFFDIO_API, &api) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

struct bg {
    struct vtd_dev *d;
    bool reset; /* else: kick */
    gint done;
    gint resolved_first; /* the fault was resolved before this returned */
    gint *resolved;
};

static gpointer bg_run(gpointer p)
{
    struct bg *b = p;
    if (b->reset)
        vtd_write(b->d, VTD_STATUS, 0);
    else
        vtd_kick(b->d, 0);
    g_atomic_int_set(&b->resolved_first, g_atomic_int_get(b->resolved));
    g_atomic_int_set(&b->done, 1);
    return NULL;
}

static bool wait_done(struct bg *b, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    while (!g_atomic_int_get(&b->done) && g_get_monotonic_time() < end)
        g_usleep(1000);
    return g_atomic_int_get(&b->done);
}

START_TEST(blocked_backend_does_not_block_the_vcpu)
{
    struct vtd_host h;
    struct vtd_dev d;
    vtd_host_init(&h, 4 << 20);
    g_autofree char *dir = g_dir_make_tmp("qv-stall-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "disk.img", NULL);
    uint8_t pattern[PAGE];
    for (int i = 0; i < PAGE; i++)
        pattern[i] = (uint8_t)(i * 31 + 1);
    ck_assert(g_file_set_contents(img, (const char *)pattern, PAGE, NULL));
    g_autofree char *xml =
        g_strdup_printf("<disk type='file' device='disk'><source file='%s'/><target dev='vda'/>"
                        "<serial>S1</serial></disk>",
                        img);
    struct qv_disk *disk = NULL;
    struct qv_net *n = NULL;
    struct qv_hostdev *hd = NULL;
    ck_assert_int_eq(qv_domain_parse_device_xml(xml, &disk, &n, &hd), 0);
    struct virtio_dev *vd = virtio_blk_new(&h.host, BASE, GSI, disk);
    qv_disk_free(disk);
    ck_assert_msg(vd, "%s", qv_last_error()->message);
    vtd_attach(&d, &h, vd, BASE, GSI);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 64));

    /* The data page: page-aligned in host memory, dropped, then watched. */
    uint64_t gpa = vtd_alloc(&h, 3 * PAGE, PAGE);
    uint8_t *host = vtd_ptr(&h, gpa);
    uint8_t *page = (uint8_t *)(((uintptr_t)host + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
    gpa += (uint64_t)(page - host);
    ck_assert_int_eq(madvise(page, PAGE, MADV_DONTNEED), 0);
    int uffd = open_uffd();
    ck_assert_int_ge(uffd, 0);
    struct uffdio_register reg = {.range = {(uintptr_t)page, PAGE},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    ck_assert_int_eq(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);

    uint64_t hdr = vtd_alloc(&h, 16, 8), st = vtd_alloc(&h, 1, 1);
    memset(vtd_ptr(&h, hdr), 0, 16); /* VIRTIO_BLK_T_IN, sector 0 */
    *(uint8_t *)vtd_ptr(&h, st) = 0xee;
    struct vtd_buf in[2] = {{gpa, PAGE}, {st, 1}};
    vtd_add(&d, 0, &(struct vtd_buf){hdr, 16}, 1, in, 2, false);
    vtd_kick(&d, 0);

    /* The I/O thread is now stuck in preadv on the missing page. */
    struct pollfd pfd = {.fd = uffd, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, 10000) == 1, "the I/O thread never touched the page");
    struct uffd_msg msg;
    ck_assert_int_eq(read(uffd, &msg, sizeof(msg)), sizeof(msg));
    ck_assert_int_eq(msg.event, UFFD_EVENT_PAGEFAULT);
    ck_assert_uint_eq(msg.arg.pagefault.address & ~(uint64_t)(PAGE - 1), (uintptr_t)page);

    gint resolved = 0;
    /* A vCPU queues more and kicks: it returns while the disk is stuck. */
    uint64_t hdr2 = vtd_alloc(&h, 16, 8), id = vtd_alloc(&h, 21, 1);
    uint32_t get_id = VIRTIO_BLK_T_GET_ID;
    memcpy(vtd_ptr(&h, hdr2), &get_id, 4);
    vtd_add(&d, 0, &(struct vtd_buf){hdr2, 16}, 1, &(struct vtd_buf){id, 21}, 1, false);
    struct bg kick = {.d = &d, .resolved = &resolved};
    GThread *tk = g_thread_new("kick", bg_run, &kick);
    ck_assert_msg(wait_done(&kick, 5000), "kick() blocked behind a stuck disk");
    g_thread_join(tk);
    ck_assert_uint_eq(vtd_read(&d, VTD_DEVICE_ID), VIRTIO_ID_BLOCK);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));

    /* A reset waits for the request in flight. */
    struct bg rst = {.d = &d, .reset = true, .resolved = &resolved};
    GThread *tr = g_thread_new("reset", bg_run, &rst);
    g_usleep(300 * 1000);
    ck_assert_msg(!g_atomic_int_get(&rst.done), "reset returned with a request in flight");
    g_atomic_int_set(&resolved, 1);
    struct uffdio_zeropage zp = {.range = {(uintptr_t)page, PAGE}};
    ck_assert_int_eq(ioctl(uffd, UFFDIO_ZEROPAGE, &zp), 0);
    ck_assert_msg(wait_done(&rst, 10000), "reset never returned");
    g_thread_join(tr);
    ck_assert(g_atomic_int_get(&rst.resolved_first));
    /* The read finished into the page; the GET_ID behind it was dropped
     * by the reset, never carried out. */
    ck_assert_mem_eq(page, pattern, PAGE);
    ck_assert_uint_eq(*(uint8_t *)vtd_ptr(&h, st), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(*(uint8_t *)vtd_ptr(&h, id), 0);

    close(uffd);
    virtio_mmio_free(d.vd);
    vtd_detach(&d);
    vtd_host_clear(&h);
    g_unlink(img);
    g_rmdir(dir);
}
END_TEST

struct bg_quiesce {
    struct virtio_dev *vd;
    gint done, rc;
};

static gpointer bg_quiesce_run(gpointer p)
{
    struct bg_quiesce *q = p;
    g_atomic_int_set(&q->rc, virtio_dev_quiesce(q->vd, -1));
    g_atomic_int_set(&q->done, 1);
    return NULL;
}

START_TEST(quiesce_waits_for_a_stuck_request)
{
    struct vtd_host h, h2;
    struct vtd_dev d;
    vtd_host_init(&h, 4 << 20);
    g_autofree char *dir = g_dir_make_tmp("qv-stall-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "disk.img", NULL);
    uint8_t pattern[PAGE];
    for (int i = 0; i < PAGE; i++)
        pattern[i] = (uint8_t)(i * 7 + 3);
    ck_assert(g_file_set_contents(img, (const char *)pattern, PAGE, NULL));
    g_autofree char *xml =
        g_strdup_printf("<disk type='file' device='disk'><source file='%s'/><target dev='vda'/>"
                        "<serial>S1</serial></disk>",
                        img);
    struct qv_disk *disk = NULL;
    struct qv_net *n = NULL;
    struct qv_hostdev *hd = NULL;
    ck_assert_int_eq(qv_domain_parse_device_xml(xml, &disk, &n, &hd), 0);
    struct virtio_dev *vd = virtio_blk_new(&h.host, BASE, GSI, disk);
    ck_assert_msg(vd, "%s", qv_last_error()->message);
    vtd_attach(&d, &h, vd, BASE, GSI);
    ck_assert(vtd_init(&d, VTD_F(VIRTIO_F_VERSION_1), 1, 64));

    uint64_t gpa = vtd_alloc(&h, 3 * PAGE, PAGE);
    uint8_t *host = vtd_ptr(&h, gpa);
    uint8_t *page = (uint8_t *)(((uintptr_t)host + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
    gpa += (uint64_t)(page - host);
    ck_assert_int_eq(madvise(page, PAGE, MADV_DONTNEED), 0);
    int uffd = open_uffd();
    ck_assert_int_ge(uffd, 0);
    struct uffdio_register reg = {.range = {(uintptr_t)page, PAGE},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    ck_assert_int_eq(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);

    /* A read stuck in the disk, and a GET_ID queued behind it. */
    uint64_t hdr = vtd_alloc(&h, 16, 8), st = vtd_alloc(&h, 1, 1);
    *(uint8_t *)vtd_ptr(&h, st) = 0xee;
    struct vtd_buf in[2] = {{gpa, PAGE}, {st, 1}};
    uint16_t read_head = vtd_add(&d, 0, &(struct vtd_buf){hdr, 16}, 1, in, 2, false);
    vtd_kick(&d, 0);
    struct pollfd pfd = {.fd = uffd, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, 10000) == 1, "the I/O thread never touched the page");
    struct uffd_msg msg;
    ck_assert_int_eq(read(uffd, &msg, sizeof(msg)), sizeof(msg));
    uint64_t hdr2 = vtd_alloc(&h, 16, 8), id = vtd_alloc(&h, 21, 1), st2 = vtd_alloc(&h, 1, 1);
    uint32_t get_id = VIRTIO_BLK_T_GET_ID;
    memcpy(vtd_ptr(&h, hdr2), &get_id, 4);
    struct vtd_buf in2[2] = {{id, 20}, {st2, 1}};
    uint16_t id_head = vtd_add(&d, 0, &(struct vtd_buf){hdr2, 16}, 1, in2, 2, false);
    vtd_kick(&d, 0);

    /* With a limit, the quiesce gives up naming the device and what is in
     * flight, and leaves the device as it was. */
    ck_assert_int_eq(virtio_dev_quiesce(vd, 200), QV_ERR_TIMEOUT);
    const char *m = qv_last_error()->message;
    ck_assert_msg(strstr(m, "virtio-blk at 0xd0000000") && strstr(m, "1 request in flight"), "%s",
                  m);
    struct snap_out o;
    snap_out_init(&o);
    ck_assert_int_eq(virtio_dev_save(vd, &o), QV_ERR_INVALID_STATE);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "not quiesced"));

    /* Without one, it waits for the disk; a save meanwhile is refused. */
    struct bg_quiesce bq = {.vd = vd};
    GThread *t = g_thread_new("quiesce", bg_quiesce_run, &bq);
    g_usleep(300 * 1000);
    ck_assert_msg(!g_atomic_int_get(&bq.done), "quiesce returned with a request in flight");
    ck_assert_int_eq(virtio_dev_save(vd, &o), QV_ERR_INVALID_STATE);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "1 request in flight"));
    snap_out_clear(&o);
    struct uffdio_zeropage zp = {.range = {(uintptr_t)page, PAGE}};
    ck_assert_int_eq(ioctl(uffd, UFFDIO_ZEROPAGE, &zp), 0);
    g_thread_join(t);
    ck_assert_int_eq(g_atomic_int_get(&bq.rc), 0);

    /* The read completed before the save; the GET_ID was not taken. */
    uint32_t uid, ulen;
    ck_assert(vtd_used(&d, 0, &uid, &ulen));
    ck_assert_uint_eq(uid, read_head);
    ck_assert_mem_eq(page, pattern, PAGE);
    ck_assert_uint_eq(*(uint8_t *)vtd_ptr(&h, st), VIRTIO_BLK_S_OK);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));
    snap_out_init(&o);
    ck_assert_int_eq(virtio_dev_save(vd, &o), 0);
    g_autoptr(GByteArray) saved = snap_out_steal(&o);
    snap_out_clear(&o);

    /* The restored machine: the RAM as saved, a fresh transport. */
    vtd_host_init(&h2, h.ram_size);
    memcpy(h2.ram, h.ram, h.ram_size);
    h2.next_free = h.next_free;
    close(uffd);
    virtio_mmio_free(vd);
    struct virtio_dev *vd2 = virtio_blk_new(&h2.host, BASE, GSI, disk);
    qv_disk_free(disk);
    ck_assert_ptr_nonnull(vd2);
    d.h = &h2;
    d.vd = vd2;
    struct snap_in sin;
    snap_in_init(&sin, "virtio-mmio@0xd0000000", saved->data, saved->len);
    ck_assert_int_eq(virtio_dev_load(vd2, &sin), 0);
    ck_assert(vtd_wait_used(&d, 0, &uid, &ulen, 5000));
    ck_assert_uint_eq(uid, id_head);
    ck_assert_mem_eq(vtd_ptr(&h2, id), "S1", 3);
    ck_assert_uint_eq(*(uint8_t *)vtd_ptr(&h2, st2), VIRTIO_BLK_S_OK);
    ck_assert(!vtd_used(&d, 0, NULL, NULL));
    ck_assert_uint_eq(vtd_used_idx(&d, 0), 2);

    virtio_mmio_free(vd2);
    vtd_detach(&d);
    vtd_host_clear(&h);
    vtd_host_clear(&h2);
    g_unlink(img);
    g_rmdir(dir);
}
END_TEST

int main(void)
{
    int fd = open_uffd();
    if (fd < 0) {
        printf("SKIP: userfaultfd is not available here (%s); it needs root or "
               "vm.unprivileged_userfaultfd=1\n",
               strerror(-fd));
        return 77;
    }
    close(fd);
    Suite *s = suite_create("kvm_virtio_blk_stall");
    TCase *tc = tcase_create("stall");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, blocked_backend_does_not_block_the_vcpu);
    tcase_add_test(tc, quiesce_waits_for_a_stuck_request);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
