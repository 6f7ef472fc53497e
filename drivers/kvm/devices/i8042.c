/* The i8042 keyboard controller, as far as guests use it on a VM without a
 * keyboard: status and command byte, self-test, and the CPU reset line
 * (command 0xFE, or an output-port write with bit 0 clear), which asks the
 * host for a reset (a real machine stops with reason "reset"). */
#include <glib.h>

#include "../snapshot/snap_buf.h"
#include "devices.h"

enum { STAT_OBF = 0x01, STAT_SYS = 0x04, STAT_CMD = 0x08, STAT_UNLOCKED = 0x10 };

struct kvm_i8042 {
    const struct kvm_dev_host *host;
    GMutex lock;
    uint8_t status, cmd_byte, out, pending_cmd, outport;
};

static void put_out(struct kvm_i8042 *k, uint8_t v)
{
    k->out = v;
    k->status |= STAT_OBF;
}

static void command(struct kvm_i8042 *k, uint8_t cmd, bool *reset)
{
    k->status |= STAT_CMD;
    switch (cmd) {
    case 0x20: put_out(k, k->cmd_byte); break;
    case 0x60:
    case 0xd1:
    case 0xd2:
    case 0xd3:
    case 0xd4: k->pending_cmd = cmd; break;
    case 0xaa:
        put_out(k, 0x55);
        k->status |= STAT_SYS;
        break;
    case 0xab: put_out(k, 0x00); break;
    case 0xd0: put_out(k, k->outport); break;
    case 0xfe: *reset = true; break;
    default:
        if (cmd >= 0xf0 && !(cmd & 1)) /* pulse output lines: bit 0 is reset */
            *reset = true;
        break;
    }
}

static void data_write(struct kvm_i8042 *k, uint8_t v, bool *reset)
{
    k->status &= (uint8_t)~STAT_CMD;
    uint8_t cmd = k->pending_cmd;
    k->pending_cmd = 0;
    switch (cmd) {
    case 0x60: k->cmd_byte = v; break;
    case 0xd1:
        k->outport = v;
        if (!(v & 1))
            *reset = true;
        break;
    case 0xd2:
    case 0xd3: put_out(k, v); break;
    default: put_out(k, 0xfa); break; /* a keyboard would ACK */
    }
}

static void i8042_io(void *dev, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    struct kvm_i8042 *k = dev;
    bool reset = false;
    g_mutex_lock(&k->lock);
    /* The two ports are claimed separately: offset is 0 for each, and only
     * the first byte of a wider access means anything. */
    bool is_cmd = offset == 4;
    if (is_write) {
        if (is_cmd)
            command(k, data[0], &reset);
        else
            data_write(k, data[0], &reset);
    } else {
        uint8_t v;
        if (is_cmd) {
            v = k->status;
        } else {
            v = k->out;
            k->status &= (uint8_t)~STAT_OBF;
        }
        for (uint32_t i = 0; i < size; i++)
            data[i] = i ? 0xff : v;
    }
    g_mutex_unlock(&k->lock);
    if (reset)
        k->host->request_reset(k->host->opaque);
}

void kvm_i8042_data_io(void *dev, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    (void)offset;
    i8042_io(dev, 0, data, size, is_write);
}

void kvm_i8042_cmd_io(void *dev, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    (void)offset;
    i8042_io(dev, 4, data, size, is_write);
}

struct kvm_i8042 *kvm_i8042_new(const struct kvm_dev_host *host)
{
    struct kvm_i8042 *k = g_new0(struct kvm_i8042, 1);
    k->host = host;
    g_mutex_init(&k->lock);
    k->status = STAT_CMD | STAT_UNLOCKED | STAT_SYS;
    k->cmd_byte = 0x61;
    k->outport = 0x03;
    return k;
}

void kvm_i8042_free(struct kvm_i8042 *k)
{
    if (!k)
        return;
    g_mutex_clear(&k->lock);
    g_free(k);
}

int kvm_i8042_save(const struct kvm_i8042 *k, struct snap_out *o)
{
    GMutex *lock = (GMutex *)&k->lock; /* not the device's state */
    g_mutex_lock(lock);
    snap_put_u8(o, k->status);
    snap_put_u8(o, k->cmd_byte);
    snap_put_u8(o, k->out);
    snap_put_u8(o, k->pending_cmd);
    snap_put_u8(o, k->outport);
    g_mutex_unlock(lock);
    return 0;
}

int kvm_i8042_load(struct kvm_i8042 *k, struct snap_in *in)
{
    uint8_t status = snap_get_u8(in, "status");
    uint8_t cmd_byte = snap_get_u8(in, "command byte");
    uint8_t out = snap_get_u8(in, "output buffer");
    uint8_t pending = snap_get_u8(in, "pending command");
    uint8_t outport = snap_get_u8(in, "output port");
    if (snap_in_ok(in)) {
        uint8_t known = STAT_OBF | STAT_SYS | STAT_CMD | STAT_UNLOCKED;
        if ((status & ~known) || !(status & STAT_UNLOCKED))
            snap_in_fail(in, "status 0x%02x: this controller sets only 0x%02x and always 0x%02x",
                         status, known, STAT_UNLOCKED);
        /* Only the commands that wait for a data byte leave one pending. */
        if (pending && pending != 0x60 && (pending < 0xd1 || pending > 0xd4))
            snap_in_fail(in, "pending command 0x%02x takes no data byte", pending);
    }
    int rc = snap_in_finish(in);
    if (rc < 0)
        return rc;
    g_mutex_lock(&k->lock);
    k->status = status;
    k->cmd_byte = cmd_byte;
    k->out = out;
    k->pending_cmd = pending;
    k->outport = outport;
    g_mutex_unlock(&k->lock);
    return 0;
}
