/* virtio-console from the guest side (hvc0): reads one line from the
 * receiveq, however the host splits it, and answers on the transmitq with
 * it in upper case; the test is at the other end of the console's
 * backend. */
#include "virtio_guest.h"

static struct vg_queue rxq __attribute__((aligned(4096)));
static struct vg_queue txq __attribute__((aligned(4096)));
static uint8_t chunk[64];
static char line[80], out[128];

static int send(const char *s, uint32_t n)
{
    void *b[1] = {(void *)s};
    uint32_t l[1] = {n};
    uint8_t w[1] = {0};
    return vg_run(&txq, 1, 1, b, l, w) < 0 ? -1 : 0;
}

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic, (void)info;
    uint32_t base = vg_find(3);
    if (!base) {
        puts_serial("vcon: no virtio-console device\n");
        return 1;
    }
    if (vg_negotiate(base, 0) < 0 || vg_queue(base, &rxq, 0) < 0 || vg_queue(base, &txq, 1) < 0) {
        puts_serial("vcon: the device refused the driver\n");
        return 1;
    }
    vg_driver_ok(base);
    puts_serial("vcon: waiting for a line on hvc0\n");
    unsigned n = 0;
    for (;;) {
        void *b[1] = {chunk};
        uint32_t l[1] = {sizeof(chunk)};
        uint8_t w[1] = {1};
        int64_t got = vg_run(&rxq, 0, 1, b, l, w);
        if (got < 0) {
            puts_serial("vcon: NEEDS_RESET\n");
            return 1;
        }
        int done = 0;
        for (int64_t i = 0; i < got && i < (int64_t)sizeof(chunk); i++) {
            if (chunk[i] == '\n') {
                done = 1;
                break;
            }
            if (n < sizeof(line) - 1)
                line[n++] = (char)chunk[i];
        }
        if (done)
            break;
    }
    const char *pre = "vcon: got '";
    unsigned k = 0;
    for (unsigned i = 0; pre[i]; i++)
        out[k++] = pre[i];
    for (unsigned i = 0; i < n; i++)
        out[k++] = line[i] >= 'a' && line[i] <= 'z' ? (char)(line[i] - 32) : line[i];
    out[k++] = '\'';
    out[k++] = '\n';
    if (send(out, k) < 0)
        return 1;
    puts_serial("vcon: answered on hvc0\n");
    return 0;
}
