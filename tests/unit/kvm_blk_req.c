/* virtio-blk's request handling and raw backend without a transport:
 * requests are built here over plain buffers as the transport would hand
 * them over, carried out against a real image file in a temporary
 * directory, and the image is checked from the host side. Also the
 * <iotune> token buckets with a clock the test drives. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/kvm/virtio/blk_raw.h"
#include "drivers/kvm/virtio/blk_req.h"
#include "drivers/kvm/virtio/blk_throttle.h"
#include "drivers/kvm/virtio/virtio_blk.h"
#include "lib/util/error.h"

#define IMG_SECTORS 2048 /* 1 MiB */
#define ALL_FEATURES                                                                               \
    ((1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) |                               \
     (1ull << VIRTIO_BLK_F_WRITE_ZEROES))

static char *dir, *img;
/* What the file system under the test's directory can do: punch holes
 * that SEEK_DATA sees, and open with O_DIRECT (tmpfs before Linux 6.6
 * cannot). Checks that need one are left out, saying why, without it. */
static bool holes_ok, direct_ok;

static void probe_fs(void)
{
    g_autofree char *probe = g_build_filename(dir, "probe", NULL);
    int fd = open(probe, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    static uint8_t ones[65536];
    memset(ones, 0xff, sizeof(ones));
    ck_assert_int_eq(write(fd, ones, sizeof(ones)), (ssize_t)sizeof(ones));
    off_t d = -1;
    holes_ok = fsync(fd) == 0 &&
               fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, sizeof(ones)) == 0 &&
               ((d = lseek(fd, 0, SEEK_DATA)) < 0 || d >= (off_t)sizeof(ones));
    close(fd);
    fd = open(probe, O_RDONLY | O_DIRECT | O_CLOEXEC);
    direct_ok = fd >= 0;
    if (fd >= 0)
        close(fd);
    g_unlink(probe);
}

static void setup(void)
{
    dir = g_dir_make_tmp("qv-blk-XXXXXX", NULL);
    ck_assert_ptr_nonnull(dir);
    img = g_build_filename(dir, "disk.img", NULL);
    int fd = open(img, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, IMG_SECTORS * 512), 0);
    close(fd);
    probe_fs();
}

static void teardown(void)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, n, NULL);
        g_unlink(p);
    }
    g_rmdir(dir);
    g_free(img);
    g_free(dir);
}

static void open_disk(struct blk_disk *d, bool readonly, bool unmap, enum blk_cache cache)
{
    memset(d, 0, sizeof(*d));
    d->raw = blk_raw_open(img, readonly, cache, "VM 't': disk 'vda'");
    ck_assert_msg(d->raw, "%s", qv_last_error()->message);
    d->capacity = blk_raw_size(d->raw) / 512;
    d->blk_size = 512;
    d->readonly = readonly;
    d->unmap = unmap;
    d->features = ALL_FEATURES | (readonly ? 1ull << VIRTIO_BLK_F_RO : 0);
}

/* A request as the transport hands it over: a 16-byte header, then the
 * given out and in buffers, then the status byte. */
struct rq {
    uint8_t hdr[16];
    uint8_t status;
    struct iovec out[4], in[4];
    struct virtio_req req;
};

static struct virtio_req *mk(struct rq *r, uint32_t type, uint64_t sector, void *out, size_t olen,
                             void *in, size_t ilen)
{
    memset(r, 0, sizeof(*r));
    r->status = 0xee;
    memcpy(r->hdr, &type, 4);
    memcpy(r->hdr + 8, &sector, 8);
    r->out[0] = (struct iovec){r->hdr, 16};
    uint32_t on = 1, in_n = 0;
    if (olen)
        r->out[on++] = (struct iovec){out, olen};
    if (ilen)
        r->in[in_n++] = (struct iovec){in, ilen};
    r->in[in_n++] = (struct iovec){&r->status, 1};
    r->req = (struct virtio_req){.out = r->out,
                                 .in = r->in,
                                 .out_num = on,
                                 .in_num = in_n,
                                 .out_len = 16 + olen,
                                 .in_len = ilen + 1};
    return &r->req;
}

/* Carry out a well-formed request; its status. */
static uint8_t run(struct blk_disk *d, struct rq *r)
{
    uint32_t written = 0;
    char *why = NULL;
    ck_assert_int_eq(blk_req_handle(d, &r->req, &written, &why), 0);
    ck_assert_ptr_null(why);
    ck_assert_uint_eq(written, r->req.in_len);
    return r->status;
}

static void host_read(uint64_t off, void *buf, size_t len)
{
    int fd = open(img, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

/* Bytes allocated to [off, off + len) of the image, from SEEK_DATA. */
static bool has_data(uint64_t off, uint64_t len)
{
    int fd = open(img, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    close(fd);
    return d >= 0 && (uint64_t)d < off + len;
}

/* [off, off + len) is a hole, where the file system can punch one. */
static void assert_hole(uint64_t off, uint64_t len)
{
    if (!holes_ok) {
        printf("kvm_blk_req: the file system under %s punches no holes: hole not checked\n", dir);
        return;
    }
    ck_assert(!has_data(off, len));
}

static void write_pattern(struct blk_disk *d, uint64_t sector, size_t len, uint8_t seed)
{
    g_autofree uint8_t *buf = g_malloc(len);
    fill(buf, len, seed);
    struct rq r;
    mk(&r, VIRTIO_BLK_T_OUT, sector, buf, len, NULL, 0);
    ck_assert_int_eq(run(d, &r), VIRTIO_BLK_S_OK);
}

START_TEST(write_flush_read)
{
    struct blk_disk d;
    open_disk(&d, false, false, BLK_CACHE_WRITEBACK);
    write_pattern(&d, 8, 8192, 3);
    struct rq r;
    mk(&r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_OK);

    uint8_t want[8192], got[8192];
    fill(want, sizeof(want), 3);
    host_read(8 * 512, got, sizeof(got));
    ck_assert_mem_eq(got, want, sizeof(want));

    memset(got, 0, sizeof(got));
    mk(&r, VIRTIO_BLK_T_IN, 8, NULL, 0, got, sizeof(got));
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_OK);
    ck_assert_mem_eq(got, want, sizeof(want));
    /* The neighbours are untouched. */
    uint8_t around[512];
    host_read(7 * 512, around, 512);
    ck_assert(all_zero(around, 512));
    host_read(24 * 512, around, 512);
    ck_assert(all_zero(around, 512));
    blk_raw_close(d.raw);
}
END_TEST

/* The header and the data in many small pieces, as a driver may chain
 * them; more pieces than one preadv takes (IOV_MAX). */
START_TEST(scattered_buffers)
{
    struct blk_disk d;
    open_disk(&d, false, false, BLK_CACHE_WRITEBACK);
    enum { N = 1100, PIECE = 512 };
    g_autofree uint8_t *data = g_malloc(N * PIECE);
    fill(data, N * PIECE, 11);
    uint8_t hdr[16] = {VIRTIO_BLK_T_OUT}, status = 0xee;
    hdr[8] = 4; /* sector 4 */
    g_autofree struct iovec *out = g_new(struct iovec, N + 3);
    out[0] = (struct iovec){hdr, 5};
    out[1] = (struct iovec){hdr + 5, 11};
    for (int i = 0; i < N; i++)
        out[2 + i] = (struct iovec){data + i * PIECE, PIECE};
    struct iovec in = {&status, 1};
    struct virtio_req req = {.out = out,
                             .in = &in,
                             .out_num = N + 2,
                             .in_num = 1,
                             .out_len = 16 + N * PIECE,
                             .in_len = 1};
    uint32_t written;
    char *why = NULL;
    ck_assert_int_eq(blk_req_handle(&d, &req, &written, &why), 0);
    ck_assert_int_eq(status, VIRTIO_BLK_S_OK);
    g_autofree uint8_t *back = g_malloc(N * PIECE);
    host_read(4 * 512, back, N * PIECE);
    ck_assert_mem_eq(back, data, N * PIECE);

    /* Read it back into pieces of 100 bytes with the status in the last
     * one, behind 12 data bytes. */
    size_t total = N * PIECE;
    size_t npieces = total / 100 + 1;
    g_autofree uint8_t *rd = g_malloc0(total + 1);
    g_autofree struct iovec *inv = g_new(struct iovec, npieces);
    for (size_t i = 0; i < npieces; i++)
        inv[i] = (struct iovec){rd + i * 100, MIN((size_t)100, total + 1 - i * 100)};
    hdr[0] = VIRTIO_BLK_T_IN;
    req = (struct virtio_req){.out = out,
                              .in = inv,
                              .out_num = 2,
                              .in_num = (uint32_t)npieces,
                              .out_len = 16,
                              .in_len = total + 1};
    ck_assert_int_eq(blk_req_handle(&d, &req, &written, &why), 0);
    ck_assert_int_eq(rd[total], VIRTIO_BLK_S_OK);
    ck_assert_mem_eq(rd, data, total);
    blk_raw_close(d.raw);
}
END_TEST

/* cache='none' opens with O_DIRECT; guest buffers at odd addresses go
 * through the aligned bounce buffer and still land. */
START_TEST(direct_unaligned)
{
    if (!direct_ok) {
        printf("direct_unaligned: skipped: the file system under %s has no O_DIRECT\n", dir);
        return;
    }
    struct blk_disk d;
    open_disk(&d, false, false, BLK_CACHE_NONE);
    g_autofree uint8_t *raw = g_malloc(4096 * 3 + 1);
    uint8_t *buf = raw + 1;
    fill(buf, 4096 * 3, 5);
    struct rq r;
    mk(&r, VIRTIO_BLK_T_OUT, 16, buf, 4096 * 3, NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_OK);
    uint8_t got[4096 * 3];
    host_read(16 * 512, got, sizeof(got));
    ck_assert_mem_eq(got, buf, sizeof(got));
    memset(buf, 0, 4096 * 3);
    mk(&r, VIRTIO_BLK_T_IN, 16, buf, 4096 * 3, NULL, 0);
    r.req.in = r.out + 1; /* the data buffer is writable: move it to in[] */
    r.in[0] = (struct iovec){buf, 4096 * 3};
    r.in[1] = (struct iovec){&r.status, 1};
    r.req = (struct virtio_req){
        .out = r.out, .in = r.in, .out_num = 1, .in_num = 2, .out_len = 16, .in_len = 4096 * 3 + 1};
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_OK);
    ck_assert_mem_eq(buf, got, sizeof(got));
    blk_raw_close(d.raw);
}
END_TEST

START_TEST(get_id)
{
    struct blk_disk d;
    open_disk(&d, false, false, BLK_CACHE_WRITEBACK);
    memcpy(d.serial, "QV-SERIAL-1", 11);
    uint8_t id[VIRTIO_BLK_ID_BYTES];
    memset(id, 0xaa, sizeof(id));
    struct rq r;
    mk(&r, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, sizeof(id));
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_OK);
    uint8_t want[VIRTIO_BLK_ID_BYTES] = "QV-SERIAL-1"; /* NUL padded */
    ck_assert_mem_eq(id, want, sizeof(want));
    /* A shorter buffer gets what fits, and nothing past it. */
    uint8_t small[6] = {0};
    memset(small, 0xaa, sizeof(small));
    mk(&r, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, small, 4);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_OK);
    ck_assert_mem_eq(small, "QV-S\xaa\xaa", 6);
    blk_raw_close(d.raw);
}
END_TEST

START_TEST(readonly_refuses_writes)
{
    struct blk_disk d;
    open_disk(&d, false, true, BLK_CACHE_WRITEBACK);
    write_pattern(&d, 0, 4096, 9);
    blk_raw_close(d.raw);

    open_disk(&d, true, true, BLK_CACHE_WRITEBACK);
    uint8_t buf[4096], seg[16] = {0};
    memset(buf, 0x55, sizeof(buf));
    seg[8] = 8; /* sectors 0-7 */
    struct rq r;
    mk(&r, VIRTIO_BLK_T_OUT, 0, buf, sizeof(buf), NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    mk(&r, VIRTIO_BLK_T_DISCARD, 0, seg, 16, NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    mk(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    /* Reads still work, and the image is as it was. */
    uint8_t got[4096], want[4096];
    mk(&r, VIRTIO_BLK_T_IN, 0, NULL, 0, got, sizeof(got));
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_OK);
    fill(want, sizeof(want), 9);
    ck_assert_mem_eq(got, want, sizeof(want));
    host_read(0, got, sizeof(got));
    ck_assert_mem_eq(got, want, sizeof(want));
    ck_assert(blk_features(&d) & (1ull << VIRTIO_BLK_F_RO));
    blk_raw_close(d.raw);
}
END_TEST

static uint8_t ranges(struct blk_disk *d, uint32_t type, uint64_t sector, uint32_t num,
                      uint32_t flags)
{
    uint8_t seg[16];
    memcpy(seg, &sector, 8);
    memcpy(seg + 8, &num, 4);
    memcpy(seg + 12, &flags, 4);
    struct rq r;
    mk(&r, type, 0, seg, 16, NULL, 0);
    return run(d, &r);
}

/* The guest owns the request's buffers and may rewrite the header while
 * the request waits for <iotune>: what is carried out is what was read
 * (and charged) first. A discard (charged no bytes) rewritten into a
 * 64 KiB read reads nothing; a read rewritten into a discard discards
 * nothing and reads what was charged. */
START_TEST(header_read_once)
{
    struct blk_disk d;
    open_disk(&d, false, true, BLK_CACHE_WRITEBACK);
    write_pattern(&d, 0, 65536, 9);
    g_autofree uint8_t *want = g_malloc(65536);
    fill(want, 65536, 9);

    uint8_t seg[16] = {0};
    uint32_t num = 128;
    memcpy(seg + 8, &num, 4);
    g_autofree uint8_t *in = g_malloc(65536);
    memset(in, 0xaa, 65536);
    struct rq r;
    mk(&r, VIRTIO_BLK_T_DISCARD, 0, seg, 16, in, 65536);
    struct blk_req_hdr h;
    char *why = NULL;
    ck_assert_int_eq(blk_req_parse(&r.req, &h, &why), 0);
    bool write = false;
    uint64_t bytes = 1;
    ck_assert(blk_req_cost(&r.req, &h, &write, &bytes));
    ck_assert(write);
    ck_assert_uint_eq(bytes, 0);
    r.hdr[0] = VIRTIO_BLK_T_IN; /* the guest's rewrite */
    ck_assert_uint_eq(blk_req_run(&d, &r.req, &h), 65537);
    ck_assert_int_eq(r.status, VIRTIO_BLK_S_OK);
    for (size_t i = 0; i < 65536; i++)
        ck_assert_uint_eq(in[i], 0xaa);
    assert_hole(0, 65536); /* carried out as the discard */

    write_pattern(&d, 0, 65536, 9);
    mk(&r, VIRTIO_BLK_T_IN, 0, NULL, 0, in, 65536);
    ck_assert_int_eq(blk_req_parse(&r.req, &h, &why), 0);
    ck_assert(blk_req_cost(&r.req, &h, &write, &bytes));
    ck_assert(!write);
    ck_assert_uint_eq(bytes, 65536);
    r.hdr[0] = VIRTIO_BLK_T_DISCARD;
    ck_assert_uint_eq(blk_req_run(&d, &r.req, &h), 65537);
    ck_assert_int_eq(r.status, VIRTIO_BLK_S_OK);
    ck_assert_mem_eq(in, want, 65536);
    ck_assert(has_data(0, 65536));
    ck_assert_ptr_null(why);
    blk_raw_close(d.raw);
}
END_TEST

/* <iotune> charges a write-zeroes the bytes of its ranges (the host may
 * write them all) and a discard none. */
START_TEST(write_zeroes_cost)
{
    uint8_t segs[32];
    uint64_t sector = 0;
    uint32_t num = 128, flags = 0;
    for (int i = 0; i < 2; i++) {
        memcpy(segs + 16 * i, &sector, 8);
        memcpy(segs + 16 * i + 8, &num, 4);
        memcpy(segs + 16 * i + 12, &flags, 4);
        sector += 1024;
        num = 8;
    }
    struct rq r;
    struct blk_req_hdr h;
    char *why = NULL;
    bool write = false;
    uint64_t bytes = 0;
    mk(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, sizeof(segs), NULL, 0);
    ck_assert_int_eq(blk_req_parse(&r.req, &h, &why), 0);
    ck_assert(blk_req_cost(&r.req, &h, &write, &bytes));
    ck_assert(write);
    ck_assert_uint_eq(bytes, (128 + 8) * 512);
    mk(&r, VIRTIO_BLK_T_DISCARD, 0, segs, sizeof(segs), NULL, 0);
    ck_assert_int_eq(blk_req_parse(&r.req, &h, &why), 0);
    ck_assert(blk_req_cost(&r.req, &h, &write, &bytes));
    ck_assert(write);
    ck_assert_uint_eq(bytes, 0);
    ck_assert_ptr_null(why);
}
END_TEST

/* 64 KiB at sector 256 written, then discarded: with discard='unmap' the
 * image has a hole there that reads as zeros; with 'ignore' the data
 * stays. */
START_TEST(discard_punches_holes)
{
    struct blk_disk d;
    open_disk(&d, false, false, BLK_CACHE_WRITEBACK);
    write_pattern(&d, 256, 65536, 1);
    ck_assert_int_eq(ranges(&d, VIRTIO_BLK_T_DISCARD, 256, 128, 0), VIRTIO_BLK_S_OK);
    ck_assert(has_data(256 * 512, 65536)); /* 'ignore' */
    blk_raw_close(d.raw);

    open_disk(&d, false, true, BLK_CACHE_WRITEBACK);
    ck_assert_int_eq(ranges(&d, VIRTIO_BLK_T_DISCARD, 256, 128, 0), VIRTIO_BLK_S_OK);
    assert_hole(256 * 512, 65536);
    uint8_t got[65536];
    host_read(256 * 512, got, sizeof(got));
    ck_assert(all_zero(got, sizeof(got)));
    /* The UNMAP flag belongs to write-zeroes only. */
    ck_assert_int_eq(ranges(&d, VIRTIO_BLK_T_DISCARD, 0, 8, 1), VIRTIO_BLK_S_UNSUPP);
    ck_assert_int_eq(ranges(&d, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2), VIRTIO_BLK_S_UNSUPP);
    /* Not negotiated: unsupported. */
    d.features &= ~(1ull << VIRTIO_BLK_F_DISCARD);
    ck_assert_int_eq(ranges(&d, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_UNSUPP);
    blk_raw_close(d.raw);
}
END_TEST

START_TEST(write_zeroes)
{
    struct blk_disk d;
    open_disk(&d, false, true, BLK_CACHE_WRITEBACK);
    write_pattern(&d, 0, 65536 * 2, 2);
    uint8_t got[65536];
    /* Without UNMAP: zeros, still allocated. */
    ck_assert_int_eq(ranges(&d, VIRTIO_BLK_T_WRITE_ZEROES, 0, 128, 0), VIRTIO_BLK_S_OK);
    host_read(0, got, sizeof(got));
    ck_assert(all_zero(got, sizeof(got)));
    ck_assert(has_data(0, 65536));
    /* With UNMAP on a discard='unmap' disk: zeros and a hole. */
    ck_assert_int_eq(
        ranges(&d, VIRTIO_BLK_T_WRITE_ZEROES, 128, 128, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
        VIRTIO_BLK_S_OK);
    host_read(65536, got, sizeof(got));
    ck_assert(all_zero(got, sizeof(got)));
    assert_hole(65536, 65536);
    blk_raw_close(d.raw);
}
END_TEST

START_TEST(out_of_range)
{
    struct blk_disk d;
    open_disk(&d, false, true, BLK_CACHE_WRITEBACK);
    uint8_t buf[1024] = {0};
    struct rq r;
    /* The last two sectors: fine. One further: refused, nothing written. */
    mk(&r, VIRTIO_BLK_T_IN, IMG_SECTORS - 2, NULL, 0, buf, 1024);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_OK);
    memset(buf, 0x77, sizeof(buf));
    mk(&r, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, buf, 1024, NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    mk(&r, VIRTIO_BLK_T_IN, IMG_SECTORS, NULL, 0, buf, 512);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    /* A sector number that wraps when multiplied or added. */
    mk(&r, VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512, NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    mk(&r, VIRTIO_BLK_T_OUT, UINT64_MAX / 512 + 1, buf, 512, NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    ck_assert_int_eq(ranges(&d, VIRTIO_BLK_T_DISCARD, IMG_SECTORS - 4, 8, 0), VIRTIO_BLK_S_IOERR);
    ck_assert_int_eq(ranges(&d, VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX - 2, 8, 0),
                     VIRTIO_BLK_S_IOERR);
    /* Not a whole number of sectors. */
    mk(&r, VIRTIO_BLK_T_OUT, 0, buf, 700, NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    struct stat st;
    ck_assert_int_eq(stat(img, &st), 0);
    ck_assert_int_eq(st.st_size, IMG_SECTORS * 512);
    uint8_t tail[1024];
    host_read((IMG_SECTORS - 2) * 512, tail, sizeof(tail));
    ck_assert(all_zero(tail, sizeof(tail)));
    host_read(0, tail, sizeof(tail));
    ck_assert(all_zero(tail, sizeof(tail)));
    blk_raw_close(d.raw);
}
END_TEST

/* Malformed chains the device detects: it must fail (NEEDS_RESET), with
 * the reason. */
START_TEST(short_header)
{
    struct blk_disk d;
    open_disk(&d, false, false, BLK_CACHE_WRITEBACK);
    struct rq r;
    mk(&r, VIRTIO_BLK_T_IN, 0, NULL, 0, NULL, 0);
    r.out[0].iov_len = 15;
    r.req.out_len = 15;
    uint32_t written = 0;
    char *why = NULL;
    ck_assert_int_eq(blk_req_handle(&d, &r.req, &written, &why), -1);
    ck_assert_msg(why && strstr(why, "header of 15 bytes"), "%s", why);
    g_free(why);
    ck_assert_int_eq(r.status, 0xee);

    mk(&r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0);
    r.req.in_num = 0;
    r.req.in_len = 0;
    why = NULL;
    ck_assert_int_eq(blk_req_handle(&d, &r.req, &written, &why), -1);
    ck_assert_msg(why && strstr(why, "status"), "%s", why);
    g_free(why);
    blk_raw_close(d.raw);
}
END_TEST

START_TEST(unknown_and_unnegotiated)
{
    struct blk_disk d;
    open_disk(&d, false, false, BLK_CACHE_WRITEBACK);
    uint8_t buf[512];
    struct rq r;
    mk(&r, 99, 0, NULL, 0, buf, sizeof(buf));
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_UNSUPP);
    mk(&r, 2 /* the legacy SCSI command */, 0, NULL, 0, buf, sizeof(buf));
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_UNSUPP);
    d.features = 0;
    mk(&r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_UNSUPP);
    /* Writes still go, synchronously. */
    write_pattern(&d, 0, 512, 4);
    blk_raw_close(d.raw);
}
END_TEST

/* An image is locked while a disk has it open: a second read-write open
 * is refused naming the disk and the image, as is a read-write open beside
 * a read-only one; read-only disks share it; closing releases it. */
START_TEST(image_locks)
{
    const char *b = "VM 'u': disk 'vdb'";
    struct blk_raw *rw = blk_raw_open(img, false, BLK_CACHE_WRITEBACK, "VM 't': disk 'vda'");
    ck_assert_ptr_nonnull(rw);
    ck_assert_ptr_null(blk_raw_open(img, false, BLK_CACHE_WRITEBACK, b));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_BUSY);
    ck_assert_msg(strstr(qv_last_error()->message, b) && strstr(qv_last_error()->message, img) &&
                      strstr(qv_last_error()->message, "in use by another VM or process"),
                  "%s", qv_last_error()->message);
    ck_assert_ptr_null(blk_raw_open(img, true, BLK_CACHE_WRITEBACK, b));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_BUSY);
    blk_raw_close(rw);

    struct blk_raw *ro1 = blk_raw_open(img, true, BLK_CACHE_WRITEBACK, "VM 't': disk 'vda'");
    struct blk_raw *ro2 = blk_raw_open(img, true, BLK_CACHE_WRITEBACK, b);
    ck_assert_ptr_nonnull(ro1);
    ck_assert_ptr_nonnull(ro2);
    ck_assert_ptr_null(blk_raw_open(img, false, BLK_CACHE_WRITEBACK, b));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_BUSY);
    blk_raw_close(ro1);
    blk_raw_close(ro2);
    rw = blk_raw_open(img, false, BLK_CACHE_WRITEBACK, b);
    ck_assert_ptr_nonnull(rw);
    blk_raw_close(rw);
}
END_TEST

START_TEST(config_space)
{
    struct blk_disk d;
    open_disk(&d, false, true, BLK_CACHE_WRITEBACK);
    d.blk_size = 4096;
    uint8_t cfg[BLK_CONFIG_SIZE];
    blk_config(&d, cfg);
    uint64_t cap;
    uint32_t v;
    memcpy(&cap, cfg, 8);
    ck_assert_uint_eq(cap, IMG_SECTORS);
    memcpy(&v, cfg + 20, 4);
    ck_assert_uint_eq(v, 4096);
    memcpy(&v, cfg + 44, 4);
    ck_assert_uint_eq(v, 8);       /* discard_sector_alignment */
    ck_assert_uint_eq(cfg[56], 1); /* write_zeroes_may_unmap */
    ck_assert(!(blk_features(&d) & (1ull << VIRTIO_BLK_F_RO)));
    /* A 4 KiB-block disk refuses I/O that is not whole blocks. */
    uint8_t buf[4096] = {0};
    struct rq r;
    mk(&r, VIRTIO_BLK_T_IN, 1, NULL, 0, buf, 4096);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    mk(&r, VIRTIO_BLK_T_IN, 8, NULL, 0, buf, 512);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_IOERR);
    mk(&r, VIRTIO_BLK_T_IN, 8, NULL, 0, buf, 4096);
    ck_assert_int_eq(run(&d, &r), VIRTIO_BLK_S_OK);
    blk_raw_close(d.raw);
}
END_TEST

START_TEST(backend_refusals)
{
    g_autofree char *missing = g_build_filename(dir, "nope.img", NULL);
    ck_assert_ptr_null(blk_raw_open(missing, false, BLK_CACHE_WRITEBACK, "VM 't': disk 'vdb'"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
    ck_assert_msg(strstr(qv_last_error()->message, "VM 't': disk 'vdb': cannot open"), "%s",
                  qv_last_error()->message);
    /* A FIFO is refused at once instead of blocking the open. */
    g_autofree char *fifo = g_build_filename(dir, "fifo", NULL);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_ptr_null(blk_raw_open(fifo, true, BLK_CACHE_WRITEBACK, "VM 't': disk 'vdb'"));
    ck_assert_msg(strstr(qv_last_error()->message, "neither a regular file nor a block device"),
                  "%s", qv_last_error()->message);
    /* A symlink to the image is followed, as libvirt follows it. */
    g_autofree char *link = g_build_filename(dir, "link.img", NULL);
    ck_assert_int_eq(symlink(img, link), 0);
    struct blk_raw *r = blk_raw_open(link, false, BLK_CACHE_WRITEBACK, "VM 't': disk 'vdb'");
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(blk_raw_size(r), IMG_SECTORS * 512);
    blk_raw_close(r);
}
END_TEST

/* The open flags of this process's fd on path, from /proc/self/fdinfo. */
static int flags_of_fd_on(const char *path)
{
    g_autoptr(GDir) fds = g_dir_open("/proc/self/fd", 0, NULL);
    ck_assert_ptr_nonnull(fds);
    const char *n;
    while ((n = g_dir_read_name(fds))) {
        g_autofree char *link = g_strdup_printf("/proc/self/fd/%s", n);
        g_autofree char *target = g_file_read_link(link, NULL);
        if (g_strcmp0(target, path) != 0)
            continue;
        g_autofree char *info_path = g_strdup_printf("/proc/self/fdinfo/%s", n);
        g_autofree char *info = NULL;
        ck_assert(g_file_get_contents(info_path, &info, NULL, NULL));
        const char *f = strstr(info, "flags:");
        ck_assert_ptr_nonnull(f);
        return (int)strtol(f + 6, NULL, 8);
    }
    ck_abort_msg("no fd on %s", path);
    return -1;
}

/* Each cache mode is carried out as its name says: O_DIRECT for none and
 * directsync, O_DSYNC for writethrough and directsync. */
START_TEST(cache_modes_open_flags)
{
    static const struct {
        const char *mode;
        int want, not_want;
    } modes[] = {
        {NULL, 0, O_DIRECT | O_DSYNC},         {"writeback", 0, O_DIRECT | O_DSYNC},
        {"none", O_DIRECT, O_DSYNC},           {"writethrough", O_DSYNC, O_DIRECT},
        {"directsync", O_DIRECT | O_DSYNC, 0}, {"unsafe", 0, O_DIRECT | O_DSYNC},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        if (!direct_ok && (modes[i].want & O_DIRECT)) {
            printf("cache_modes_open_flags: cache='%s' skipped: the file system under %s has no "
                   "O_DIRECT\n",
                   modes[i].mode, dir);
            continue;
        }
        int c = blk_cache_parse(modes[i].mode);
        ck_assert_int_ge(c, 0);
        struct blk_raw *r = blk_raw_open(img, false, (enum blk_cache)c, "VM 't': disk 'vda'");
        ck_assert_ptr_nonnull(r);
        int fl = flags_of_fd_on(img);
        ck_assert_msg((fl & modes[i].want) == modes[i].want && !(fl & modes[i].not_want),
                      "cache='%s': flags 0%o", modes[i].mode, fl);
        ck_assert(fl & O_CLOEXEC);
        ck_assert_int_eq(fl & O_ACCMODE, O_RDWR);
        ck_assert(!(fl & O_NONBLOCK));
        blk_raw_close(r);
    }
    ck_assert_int_eq(blk_cache_parse("bogus"), -1);
}
END_TEST

static struct qv_disk *disk_xml(const char *inner)
{
    g_autofree char *xml = g_strdup_printf("<disk type='file' device='disk'>%s</disk>", inner);
    struct qv_disk *d = NULL;
    struct qv_net *n = NULL;
    struct qv_hostdev *h = NULL;
    ck_assert_msg(qv_domain_parse_device_xml(xml, &d, &n, &h) == 0 && d, "%s: %s", xml,
                  qv_last_error()->message);
    return d;
}

/* Every <disk> the device cannot honour is refused naming the VM, the
 * disk and what. */
START_TEST(check_refusals)
{
    static const struct {
        const char *inner, *what;
    } cases[] = {
        {"<driver name='qemu' type='qcow2'/><source file='/i.qcow2'/><target dev='vda'/>",
         "<driver type='qcow2'> (exporting it through qemu-storage-daemon"},
        {"<driver name='qemu' type='vmdk'/><source file='/i'/><target dev='vda'/>",
         "<driver type='vmdk'> (raw only)"},
        {"<source file='/i'/><target dev='sda' bus='sata'/>", "a <target bus> other than virtio"},
        {"<driver name='qemu' io='native' cache='none'/><source file='/i'/><target dev='vda'/>",
         "<driver io='native'>"},
        {"<driver name='qemu' iothread='1'/><source file='/i'/><target dev='vda'/>",
         "<driver iothread>"},
        {"<source file='/i'/><target dev='vda'/><boot order='1'/>", "<boot order>"},
        {"<source file='/i'/><target dev='vda'/><serial>123456789012345678901</serial>",
         "a <serial> of 21 bytes (virtio-blk carries at most 20)"},
        {"<source file='/i'/><backingStore type='file'><format type='raw'/>"
         "<source file='/b'/></backingStore><target dev='vda'/>",
         "a <backingStore>"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        struct qv_disk *d = disk_xml(cases[i].inner);
        qv_reset_error();
        ck_assert_int_eq(virtio_blk_check("web", d), QV_ERR_UNSUPPORTED);
        const char *msg = qv_last_error()->message;
        g_autofree char *want =
            g_strdup_printf("VM 'web': disk '%s': %s", d->target, cases[i].what);
        ck_assert_msg(g_str_has_prefix(msg, want) && strstr(msg, "not supported by the kvm driver"),
                      "expected '%s...', got '%s'", want, msg);
        qv_disk_free(d);
    }
    struct qv_disk *d = disk_xml("<driver name='qemu' type='raw' cache='none' io='threads' "
                                 "discard='unmap'/><source file='/i'/><target dev='vda'/>"
                                 "<serial>12345678901234567890</serial><readonly/>");
    ck_assert_int_eq(virtio_blk_check("web", d), 0);
    qv_disk_free(d);
}
END_TEST

static int64_t s_ns(double s)
{
    return (int64_t)(s * 1e9);
}

/* iops 10: ten at once (the bucket starts full), then one per 100 ms, so
 * 30 requests need 2 s. */
START_TEST(throttle_iops)
{
    struct blk_iotune lim = {0};
    lim.iops_sec[BLK_TB_TOTAL] = 10;
    struct blk_throttle t;
    blk_throttle_init(&t, &lim, 0);
    ck_assert(blk_throttle_active(&t));
    int64_t now = 0;
    for (int i = 0; i < 30; i++) {
        int64_t w;
        while ((w = blk_throttle_take(&t, i & 1, 4096, now)) > 0)
            now += w;
    }
    ck_assert_int_ge(now, s_ns(2.0));
    ck_assert_int_lt(now, s_ns(2.0) + 1000);
}
END_TEST

/* 1 MiB/s: 4 MiB in 64 KiB reads takes 3 s after the first second's
 * worth; a write limit does not slow reads; a request larger than a
 * second's worth goes and the next waits its debt out. */
START_TEST(throttle_bytes)
{
    struct blk_iotune lim = {0};
    lim.bytes_sec[BLK_TB_TOTAL] = 1 << 20;
    struct blk_throttle t;
    blk_throttle_init(&t, &lim, 0);
    int64_t now = 0;
    for (int i = 0; i < 64; i++) {
        int64_t w;
        while ((w = blk_throttle_take(&t, false, 65536, now)) > 0)
            now += w;
    }
    ck_assert_int_ge(now, s_ns(3.0));
    ck_assert_int_lt(now, s_ns(3.0) + 1000);

    struct blk_iotune wlim = {0};
    wlim.bytes_sec[BLK_TB_WRITE] = 1000;
    blk_throttle_init(&t, &wlim, 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(blk_throttle_take(&t, false, 1 << 20, 0), 0);
    ck_assert_int_eq(blk_throttle_take(&t, true, 3000, 0), 0); /* full bucket: goes, 2000 debt */
    int64_t w = blk_throttle_take(&t, true, 1, 0);
    ck_assert_int_ge(w, s_ns(2.001));
    ck_assert_int_eq(blk_throttle_take(&t, true, 1, w), 0);

    struct blk_iotune none = {0};
    blk_throttle_init(&t, &none, 0);
    ck_assert(!blk_throttle_active(&t));
    ck_assert_int_eq(blk_throttle_take(&t, true, UINT64_MAX, 0), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_blk_req");
    TCase *tc = tcase_create("req");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, write_flush_read);
    tcase_add_test(tc, scattered_buffers);
    tcase_add_test(tc, direct_unaligned);
    tcase_add_test(tc, get_id);
    tcase_add_test(tc, readonly_refuses_writes);
    tcase_add_test(tc, discard_punches_holes);
    tcase_add_test(tc, header_read_once);
    tcase_add_test(tc, write_zeroes_cost);
    tcase_add_test(tc, write_zeroes);
    tcase_add_test(tc, out_of_range);
    tcase_add_test(tc, short_header);
    tcase_add_test(tc, unknown_and_unnegotiated);
    tcase_add_test(tc, config_space);
    tcase_add_test(tc, image_locks);
    tcase_add_test(tc, backend_refusals);
    tcase_add_test(tc, check_refusals);
    tcase_add_test(tc, cache_modes_open_flags);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("throttle");
    tcase_add_test(tt, throttle_iops);
    tcase_add_test(tt, throttle_bytes);
    suite_add_tcase(s, tt);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
