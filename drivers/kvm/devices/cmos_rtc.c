/* The MC146818 CMOS/RTC (index and data port; 0x70/0x71 on a PC): 128 bytes of NVRAM carrying the
 * memory sizes and CPU count QEMU's pc machine writes there, and a clock
 * that reads the host's UTC time in BCD. */
#include <glib.h>
#include <time.h>

#include "devices.h"

struct kvm_cmos {
    const struct kvm_dev_host *host;
    GMutex lock;
    uint8_t index;
    uint8_t nvram[128];
};

static uint8_t bcd(int v)
{
    return (uint8_t)((v / 10) << 4 | (v % 10));
}

static uint8_t read_cell(struct kvm_cmos *c, uint8_t idx)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    switch (idx) {
    case 0x00: return bcd(tm.tm_sec);
    case 0x02: return bcd(tm.tm_min);
    case 0x04: return bcd(tm.tm_hour);
    case 0x06: return bcd(tm.tm_wday + 1);
    case 0x07: return bcd(tm.tm_mday);
    case 0x08: return bcd(tm.tm_mon + 1);
    case 0x09: return bcd(tm.tm_year % 100);
    case 0x32: return bcd((tm.tm_year + 1900) / 100);
    case 0x0c: {
        uint8_t v = c->nvram[0x0c];
        c->nvram[0x0c] = 0; /* reading C clears the interrupt flags */
        return v;
    }
    default: return c->nvram[idx];
    }
}

void kvm_cmos_io(void *dev, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    struct kvm_cmos *c = dev;
    g_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < size; i++) {
        uint64_t port = offset + i;
        if (port == 0) {
            if (is_write)
                c->index = data[i] & 0x7f; /* bit 7 masks NMIs */
            else
                data[i] = 0xff;
        } else if (is_write) {
            /* Time cells are not settable here; C and D are read-only. */
            if (c->index > 0x0d || c->index == 0x0a || c->index == 0x0b)
                c->nvram[c->index] = data[i];
        } else {
            data[i] = read_cell(c, c->index);
        }
    }
    g_mutex_unlock(&c->lock);
}

struct kvm_cmos *kvm_cmos_new(const struct kvm_dev_host *host, uint64_t below, uint64_t above,
                              uint32_t vcpus)
{
    struct kvm_cmos *c = g_new0(struct kvm_cmos, 1);
    c->host = host;
    g_mutex_init(&c->lock);
    uint8_t *n = c->nvram;
    n[0x0a] = 0x26; /* 32.768 kHz, 1024 Hz periodic rate */
    n[0x0b] = 0x02; /* 24-hour, BCD */
    n[0x0d] = 0x80; /* battery good */
    /* Memory, as pc_cmos_init() writes it. */
    n[0x15] = 640 & 0xff;
    n[0x16] = 640 >> 8;
    uint64_t ext = below / 1024 > 1024 ? below / 1024 - 1024 : 0;
    if (ext > 65535)
        ext = 65535;
    n[0x17] = n[0x30] = (uint8_t)ext;
    n[0x18] = n[0x31] = (uint8_t)(ext >> 8);
    uint64_t hi = below > 16 * 1024 * 1024 ? (below - 16 * 1024 * 1024) / 65536 : 0;
    if (hi > 0xffff)
        hi = 0xffff;
    n[0x34] = (uint8_t)hi;
    n[0x35] = (uint8_t)(hi >> 8);
    uint64_t a = above / 65536;
    n[0x5b] = (uint8_t)a;
    n[0x5c] = (uint8_t)(a >> 8);
    n[0x5d] = (uint8_t)(a >> 16);
    n[0x5f] = (uint8_t)(vcpus - 1);
    return c;
}

void kvm_cmos_free(struct kvm_cmos *c)
{
    if (!c)
        return;
    g_mutex_clear(&c->lock);
    g_free(c);
}
