/* virtio-blk from the guest side: the first disk's ID (GET_ID, the
 * definition's <serial>), a 4 KiB pattern written at sector 8, a flush,
 * the same sectors read back and compared, and a read past the end. Each
 * step prints the request's status byte (0 OK, 1 IOERR, 2 UNSUPP), so a
 * read-only disk shows its refused write; the test reads the image. */
#include "virtio_guest.h"

#define T_IN 0u
#define T_OUT 1u
#define T_FLUSH 4u
#define T_GET_ID 8u
#define F_FLUSH (1u << 9)

static struct vg_queue q __attribute__((aligned(4096)));
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} hdr;
static uint8_t wbuf[4096], rbuf[4096], id[20];
static uint8_t status;

static int request(uint32_t type, uint64_t sector, void *data, uint32_t len, int device_writes)
{
    hdr.type = type;
    hdr.reserved = 0;
    hdr.sector = sector;
    status = 0xff;
    void *bufs[3] = {&hdr, data, &status};
    uint32_t lens[3] = {sizeof(hdr), len, 1};
    uint8_t wr[3] = {0, (uint8_t)device_writes, 1};
    if (data) {
        if (vg_run(&q, 0, 3, bufs, lens, wr) < 0)
            return -1;
    } else {
        void *b2[2] = {&hdr, &status};
        uint32_t l2[2] = {sizeof(hdr), 1};
        uint8_t w2[2] = {0, 1};
        if (vg_run(&q, 0, 2, b2, l2, w2) < 0)
            return -1;
    }
    return status;
}

static void report(const char *what, int st)
{
    puts_serial("vblk: ");
    puts_serial(what);
    puts_serial(" status ");
    if (st < 0)
        puts_serial("NEEDS_RESET");
    else
        put_dec((uint32_t)st);
    puts_serial("\n");
}

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    uint32_t base = vg_find(2);
    if (!base) {
        puts_serial("vblk: no virtio-blk device\n");
        return 1;
    }
    int64_t feat = vg_negotiate(base, F_FLUSH);
    if (feat < 0 || vg_start(base, &q, 0) < 0) {
        puts_serial("vblk: the device refused the driver\n");
        return 1;
    }
    uint32_t cap_lo = vg_rd(base, VG_CONFIG), cap_hi = vg_rd(base, VG_CONFIG + 4);
    puts_serial("vblk: capacity ");
    put_dec(cap_lo);
    puts_serial(cap_hi ? " (+high) sectors\n" : " sectors\n");
    puts_serial(feat & F_FLUSH ? "vblk: flush offered\n" : "vblk: no flush\n");

    int st = request(T_GET_ID, 0, id, sizeof(id), 1);
    report("get-id", st);
    puts_serial("vblk: id '");
    for (unsigned i = 0; i < sizeof(id) && id[i]; i++)
        putc_serial((char)id[i]);
    puts_serial("'\n");

    for (unsigned i = 0; i < sizeof(wbuf); i++)
        wbuf[i] = (uint8_t)(i * 7 + i / 512);
    const char *tag = "qv-vblk pattern";
    for (unsigned i = 0; tag[i]; i++)
        wbuf[i] = (uint8_t)tag[i];
    report("write", request(T_OUT, 8, wbuf, sizeof(wbuf), 0));
    if (feat & F_FLUSH)
        report("flush", request(T_FLUSH, 0, 0, 0, 0));
    report("read", request(T_IN, 8, rbuf, sizeof(rbuf), 1));
    unsigned diff = 0;
    while (diff < sizeof(rbuf) && rbuf[diff] == wbuf[diff])
        diff++;
    if (diff == sizeof(rbuf)) {
        puts_serial("vblk: read back what was written\n");
    } else {
        puts_serial("vblk: read back differs at byte ");
        put_dec(diff);
        puts_serial("\n");
    }
    /* One sector past the end: the device must refuse it, not read. */
    report("read past the end", request(T_IN, ((uint64_t)cap_hi << 32 | cap_lo), rbuf, 512, 1));
    puts_serial("vblk: done\n");
    return 0;
}
