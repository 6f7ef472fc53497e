/* virtio-blk throughput from the guest side, for bench/virtio_blk_bench.sh:
 * 2048 sequential 4 KiB writes from sector 0, a flush, then 2048
 * sequential 4 KiB reads, one request in flight at a time, each phase
 * timed with the TSC. The same payload runs under QEMU's microvm machine
 * (virtio_guest.h finds its virtio-mmio windows too). */
#include "virtio_guest.h"

#define REQS 2048u

static struct vg_queue q __attribute__((aligned(4096)));
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} hdr;
static uint8_t buf[4096];
static uint8_t status;

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static int request(uint32_t type, uint64_t sector, uint32_t len, int device_writes)
{
    hdr.type = type;
    hdr.sector = sector;
    status = 0xff;
    void *bufs[3] = {&hdr, buf, &status};
    uint32_t lens[3] = {sizeof(hdr), len, 1};
    uint8_t wr[3] = {0, (uint8_t)device_writes, 1};
    unsigned n = len ? 3 : 2;
    if (!len)
        bufs[1] = &status, lens[1] = 1, wr[1] = 1;
    return vg_run(&q, 0, n, bufs, lens, wr) < 0 ? -1 : status;
}

static void phase(const char *name, uint32_t type, int device_writes)
{
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < REQS; i++) {
        buf[0] = (uint8_t)i;
        if (request(type, (uint64_t)i * 8, sizeof(buf), device_writes) != 0) {
            puts_serial("vblkbench: request failed\n");
            guest_exit(1);
        }
    }
    uint64_t dt = rdtsc() - t0;
    puts_serial("vblkbench: ");
    puts_serial(name);
    puts_serial(" cycles-per-request ");
    put_dec((uint32_t)(dt / REQS));
    puts_serial("\n");
}

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    uint32_t base = vg_find(2);
    if (!base || vg_negotiate(base, 1u << 9) < 0 || vg_start(base, &q, 0) < 0) {
        puts_serial("vblkbench: no usable virtio-blk device\n");
        return 1;
    }
    uint32_t cap = vg_rd(base, VG_CONFIG);
    if (vg_rd(base, VG_CONFIG + 4) == 0 && cap < REQS * 8) {
        puts_serial("vblkbench: the disk is smaller than 8 MiB\n");
        return 1;
    }
    phase("write", 1, 0);
    request(4, 0, 0, 0);
    phase("read", 0, 1);
    puts_serial("vblkbench: done\n");
    return 0;
}
