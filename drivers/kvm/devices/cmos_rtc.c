/* The MC146818 CMOS/RTC (index and data port; 0x70/0x71 on a PC): 128 bytes of NVRAM carrying the
 * memory sizes and CPU count QEMU's pc machine writes there, and a clock
 * that reads the host's UTC time in BCD. */
#include <glib.h>
#include <string.h>
#include <time.h>

#include "../snapshot/snap_buf.h"
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

/* Cells a guest may write (kvm_cmos_io): B and A, and the NVRAM from 0x0e.
 * Time cells are not settable here; C and D are read-only. */
static bool guest_writable(uint8_t idx)
{
    return idx > 0x0d || idx == 0x0a || idx == 0x0b;
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
            if (guest_writable(c->index))
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

int kvm_cmos_save(const struct kvm_cmos *c, struct snap_out *o)
{
    GMutex *lock = (GMutex *)&c->lock; /* not the device's state */
    g_mutex_lock(lock);
    snap_put_u8(o, c->index);
    snap_put_bytes(o, c->nvram, sizeof(c->nvram));
    g_mutex_unlock(lock);
    return 0;
}

int kvm_cmos_load(struct kvm_cmos *c, struct snap_in *in)
{
    uint8_t index = snap_get_u8(in, "index");
    uint8_t nvram[128];
    snap_get_bytes(in, "NVRAM", nvram, sizeof(nvram));
    g_mutex_lock(&c->lock);
    if (snap_in_ok(in) && index > 0x7f)
        snap_in_fail(in, "index 0x%02x is past the 128 cells", index);
    /* A cell no guest can write holds what every such device holds; a
     * snapshot that says otherwise is not of this device. */
    for (unsigned i = 0; snap_in_ok(in) && i < sizeof(nvram); i++)
        if (!guest_writable((uint8_t)i) && nvram[i] != c->nvram[i])
            snap_in_fail(in, "read-only cell 0x%02x is 0x%02x; this device holds 0x%02x", i,
                         nvram[i], c->nvram[i]);
    int rc = snap_in_finish(in);
    if (rc == 0) {
        c->index = index;
        memcpy(c->nvram, nvram, sizeof(nvram));
    }
    g_mutex_unlock(&c->lock);
    return rc;
}
