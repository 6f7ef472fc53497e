/* virtio-rng from the guest side: 64 bytes asked for twice, printed in
 * hex; the test checks they are not constant and differ between runs. */
#include "virtio_guest.h"

static struct vg_queue q __attribute__((aligned(4096)));
static uint8_t buf[64];

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    uint32_t base = vg_find(4);
    if (!base) {
        puts_serial("vrng: no virtio-rng device\n");
        return 1;
    }
    if (vg_negotiate(base, 0) < 0 || vg_start(base, &q, 0) < 0) {
        puts_serial("vrng: the device refused the driver\n");
        return 1;
    }
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < sizeof(buf); i++)
            buf[i] = 0;
        void *b[1] = {buf};
        uint32_t l[1] = {sizeof(buf)};
        uint8_t w[1] = {1};
        int64_t got = vg_run(&q, 0, 1, b, l, w);
        puts_serial("vrng: ");
        if (got < 0) {
            puts_serial("NEEDS_RESET\n");
            return 1;
        }
        put_dec((uint32_t)got);
        puts_serial(" bytes ");
        for (unsigned i = 0; i < (uint32_t)got && i < sizeof(buf); i++) {
            static const char hex[] = "0123456789abcdef";
            putc_serial(hex[buf[i] >> 4]);
            putc_serial(hex[buf[i] & 15]);
        }
        puts_serial("\n");
    }
    return 0;
}
