/* A 16550A UART (the board puts COM1 at 0x3f8, IRQ 4): transmit goes
 * straight to the console backend, so THR is always empty again at once and raises the
 * THR-empty interrupt when enabled; receive is a FIFO the console fills. */
#include <glib.h>
#include <string.h>

#include "../snapshot/snap_buf.h"
#include "chardev.h"
#include "devices.h"

enum {
    IER_RDI = 0x01,
    IER_THRI = 0x02,
    IER_RLSI = 0x04,
    IER_MSI = 0x08,
    IIR_NONE = 0x01,
    IIR_THRI = 0x02,
    IIR_RDI = 0x04,
    IIR_RLSI = 0x06,
    IIR_FIFO = 0xc0,
    LCR_DLAB = 0x80,
    MCR_LOOP = 0x10,
    LSR_DR = 0x01,
    LSR_OE = 0x02,
    LSR_BI = 0x10,
    LSR_THRE = 0x20,
    LSR_TEMT = 0x40,
    MSR_CTS = 0x10,
    MSR_DSR = 0x20,
    MSR_RI = 0x40,
    MSR_DCD = 0x80,
};

#define RX_SIZE 1024

struct kvm_uart {
    const struct kvm_dev_host *host;
    uint32_t irq;
    GMutex lock;
    struct kvm_chardev *chr;
    uint8_t ier, iir, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
    bool thr_pending;
    int level;
    uint8_t rx[RX_SIZE];
    uint32_t rx_head, rx_count;
};

/* Under u->lock. */
static void update_irq(struct kvm_uart *u)
{
    uint8_t iir = IIR_NONE;
    if ((u->ier & IER_RLSI) && (u->lsr & (LSR_OE | LSR_BI)))
        iir = IIR_RLSI;
    else if ((u->ier & IER_RDI) && u->rx_count)
        iir = IIR_RDI;
    else if ((u->ier & IER_THRI) && u->thr_pending)
        iir = IIR_THRI;
    else if ((u->ier & IER_MSI) && (u->msr & 0x0f))
        iir = 0;
    u->iir = iir | ((u->fcr & 1) ? IIR_FIFO : 0);
    int level = !(iir & IIR_NONE);
    if (level != u->level) {
        u->level = level;
        u->host->set_irq(u->host->opaque, u->irq, level);
    }
}

static void push_rx(struct kvm_uart *u, uint8_t b)
{
    if (u->rx_count == RX_SIZE) {
        u->lsr |= LSR_OE;
        return;
    }
    u->rx[(u->rx_head + u->rx_count) % RX_SIZE] = b;
    u->rx_count++;
}

static uint8_t read_reg(struct kvm_uart *u, uint32_t reg)
{
    switch (reg) {
    case 0:
        if (u->lcr & LCR_DLAB)
            return u->dll;
        if (!u->rx_count)
            return 0;
        uint8_t b = u->rx[u->rx_head];
        u->rx_head = (u->rx_head + 1) % RX_SIZE;
        u->rx_count--;
        update_irq(u);
        return b;
    case 1: return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
    case 2: {
        uint8_t v = u->iir;
        if ((v & 0x0f) == IIR_THRI) {
            u->thr_pending = false; /* reading IIR acknowledges THR empty */
            update_irq(u);
        }
        return v;
    }
    case 3: return u->lcr;
    case 4: return u->mcr;
    case 5: {
        uint8_t v = u->lsr | (u->rx_count ? LSR_DR : 0);
        u->lsr &= (uint8_t) ~(LSR_OE | LSR_BI);
        update_irq(u);
        return v;
    }
    case 6:
        if (u->mcr & MCR_LOOP) /* modem outputs looped back to inputs */
            return (uint8_t)((u->mcr & 0x0c) << 4 | (u->mcr & 0x02) << 3 | (u->mcr & 0x01) << 5);
        return u->msr;
    default: return u->scr;
    }
}

static void write_reg(struct kvm_uart *u, uint32_t reg, uint8_t v)
{
    switch (reg) {
    case 0:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
            return;
        }
        if (u->mcr & MCR_LOOP)
            push_rx(u, v);
        else
            kvm_chardev_write(u->chr, &v, 1);
        u->lsr |= LSR_THRE | LSR_TEMT;
        u->thr_pending = true;
        update_irq(u);
        return;
    case 1:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
            return;
        }
        if ((v & IER_THRI) && !(u->ier & IER_THRI) && (u->lsr & LSR_THRE))
            u->thr_pending = true;
        u->ier = v & 0x0f;
        update_irq(u);
        return;
    case 2:
        if (v & 0x02) { /* clear the receive FIFO */
            u->rx_head = u->rx_count = 0;
        }
        u->fcr = v & 0xc9;
        update_irq(u);
        return;
    case 3: u->lcr = v; return;
    case 4:
        u->mcr = v & 0x1f;
        update_irq(u);
        return;
    case 5: return; /* LSR is read-only */
    case 6: return;
    default: u->scr = v; return;
    }
}

void kvm_uart_io(void *dev, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    struct kvm_uart *u = dev;
    g_mutex_lock(&u->lock);
    /* A wide access touches consecutive registers, one byte each. */
    for (uint32_t i = 0; i < size; i++) {
        uint32_t reg = (uint32_t)(offset + i);
        if (reg > 7) {
            if (!is_write)
                data[i] = 0xff;
            continue;
        }
        if (is_write)
            write_reg(u, reg, data[i]);
        else
            data[i] = read_reg(u, reg);
    }
    g_mutex_unlock(&u->lock);
}

struct kvm_uart *kvm_uart_new(const struct kvm_dev_host *host, uint32_t irq)
{
    struct kvm_uart *u = g_new0(struct kvm_uart, 1);
    u->host = host;
    u->irq = irq;
    g_mutex_init(&u->lock);
    u->iir = IIR_NONE;
    u->lsr = LSR_THRE | LSR_TEMT;
    u->msr = MSR_DCD | MSR_DSR | MSR_CTS;
    u->dll = 0x0c; /* 9600 baud */
    return u;
}

void kvm_uart_free(struct kvm_uart *u)
{
    if (!u)
        return;
    g_mutex_clear(&u->lock);
    g_free(u);
}

void kvm_uart_connect(struct kvm_uart *u, struct kvm_chardev *chr)
{
    g_mutex_lock(&u->lock);
    u->chr = chr;
    g_mutex_unlock(&u->lock);
}

size_t kvm_uart_receive(struct kvm_uart *u, const uint8_t *buf, size_t len)
{
    g_mutex_lock(&u->lock);
    size_t n = 0;
    for (; n < len && u->rx_count < RX_SIZE; n++)
        push_rx(u, buf[n]);
    update_irq(u);
    g_mutex_unlock(&u->lock);
    return n;
}

/* Locking a device the caller holds as const: the lock is not its state. */
static GMutex *state_lock(const struct kvm_uart *u)
{
    return (GMutex *)&u->lock;
}

int kvm_uart_save(const struct kvm_uart *u, struct snap_out *o)
{
    g_mutex_lock(state_lock(u));
    snap_put_u8(o, u->ier);
    snap_put_u8(o, u->lcr);
    snap_put_u8(o, u->mcr);
    snap_put_u8(o, u->lsr);
    snap_put_u8(o, u->msr);
    snap_put_u8(o, u->scr);
    snap_put_u8(o, u->fcr);
    snap_put_u8(o, u->dll);
    snap_put_u8(o, u->dlm);
    snap_put_u8(o, u->thr_pending);
    /* The FIFO oldest byte first; IIR and the line level follow from the
     * rest and are computed again on load. */
    uint8_t rx[RX_SIZE];
    for (uint32_t i = 0; i < u->rx_count; i++)
        rx[i] = u->rx[(u->rx_head + i) % RX_SIZE];
    snap_put_blob(o, rx, u->rx_count);
    g_mutex_unlock(state_lock(u));
    return 0;
}

/* A register holding bits no guest write and no event can set. */
static void check_bits(struct snap_in *in, const char *reg, uint8_t v, uint8_t allowed)
{
    if (v & ~allowed)
        snap_in_fail(in, "%s 0x%02x has bits 0x%02x set, which this UART never sets", reg, v,
                     v & ~allowed);
}

int kvm_uart_load(struct kvm_uart *u, struct snap_in *in)
{
    struct kvm_uart r = {0};
    r.ier = snap_get_u8(in, "IER");
    r.lcr = snap_get_u8(in, "LCR");
    r.mcr = snap_get_u8(in, "MCR");
    r.lsr = snap_get_u8(in, "LSR");
    r.msr = snap_get_u8(in, "MSR");
    r.scr = snap_get_u8(in, "SCR");
    r.fcr = snap_get_u8(in, "FCR");
    r.dll = snap_get_u8(in, "DLL");
    r.dlm = snap_get_u8(in, "DLM");
    uint8_t thr = snap_get_u8(in, "THR-empty pending");
    uint32_t n = 0;
    const uint8_t *rx = snap_get_blob(in, "receive FIFO", RX_SIZE, &n);
    if (snap_in_ok(in)) {
        check_bits(in, "IER", r.ier, 0x0f);
        check_bits(in, "MCR", r.mcr, 0x1f);
        check_bits(in, "FCR", r.fcr, 0xc9);
        /* DR is computed from the FIFO; THRE and TEMT are always set, as
         * transmit never waits; OE is the only event the LSR records. */
        check_bits(in, "LSR", r.lsr, LSR_THRE | LSR_TEMT | LSR_OE);
        if (!(r.lsr & LSR_THRE) || !(r.lsr & LSR_TEMT))
            snap_in_fail(in, "LSR 0x%02x lacks THRE and TEMT, which this UART always has", r.lsr);
        if (r.msr != (MSR_DCD | MSR_DSR | MSR_CTS))
            snap_in_fail(in, "MSR 0x%02x is not the fixed 0x%02x of this UART", r.msr,
                         MSR_DCD | MSR_DSR | MSR_CTS);
        if (thr > 1)
            snap_in_fail(in, "THR-empty pending is %u, not 0 or 1", thr);
    }
    int rc = snap_in_finish(in);
    if (rc < 0)
        return rc;
    g_mutex_lock(&u->lock);
    u->ier = r.ier;
    u->lcr = r.lcr;
    u->mcr = r.mcr;
    u->lsr = r.lsr;
    u->msr = r.msr;
    u->scr = r.scr;
    u->fcr = r.fcr;
    u->dll = r.dll;
    u->dlm = r.dlm;
    u->thr_pending = thr;
    if (n)
        memcpy(u->rx, rx, n);
    u->rx_head = 0;
    u->rx_count = n;
    /* The line of a machine being restored is in no known state: drive it
     * whatever level the device held before. */
    u->level = -1;
    update_irq(u);
    g_mutex_unlock(&u->lock);
    return 0;
}
