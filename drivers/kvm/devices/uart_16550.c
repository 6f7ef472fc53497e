/* A 16550A UART (the board puts COM1 at 0x3f8, IRQ 4): transmit goes
 * straight to the console backend, so THR is always empty again at once and raises the
 * THR-empty interrupt when enabled; receive is a FIFO the console fills. */
#include <glib.h>
#include <string.h>

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
