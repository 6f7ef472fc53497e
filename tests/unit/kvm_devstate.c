/* The legacy devices' and the pc board's snapshot state, over recording
 * device hosts (kvm_test_host.h): no /dev/kvm needed. Each device is
 * driven to a state a guest can reach, saved, loaded into a fresh device
 * on another host (the restored machine), and then both are read and
 * driven the same way: the guest must not tell them apart. Damaged
 * sections are refused with the section and the fault named, and the
 * device that refused goes on as before. */
#include <check.h>
#include <string.h>

#include "drivers/kvm/board/board.h"
#include "drivers/kvm/devices/acpi/acpi.h"
#include "drivers/kvm/devices/devices.h"
#include "drivers/kvm/snapshot/snap_buf.h"
#include "drivers/kvm/virtio/virtio_mmio.h"
#include "drivers/kvm/virtio/virtio_rng.h"
#include "kvm_test_host.h"
#include "lib/util/error.h"

/* th: the machine saved; th2: the machine restored. */
static struct test_host th, th2;

static void setup(void)
{
    test_host_init(&th, 1 << 20);
    test_host_init(&th2, 1 << 20);
}

static void teardown(void)
{
    test_host_clear(&th);
    test_host_clear(&th2);
}

/* A saved section's bytes, the caller's. */
static GByteArray *take(struct snap_out *o)
{
    GByteArray *b = snap_out_steal(o);
    snap_out_clear(o);
    return b;
}

static struct snap_in *in_of(struct snap_in *in, const char *name, const GByteArray *b, size_t len)
{
    snap_in_init(in, name, b->data, len);
    return in;
}

/* The error of the last refused load names the section and says what. */
static void assert_refused(int rc, const char *section, const char *what)
{
    ck_assert_int_lt(rc, 0);
    const char *m = qv_last_error()->message;
    ck_assert_msg(strstr(m, section), "error does not name section %s: %s", section, m);
    ck_assert_msg(strstr(m, what), "error does not say '%s': %s", what, m);
}

/* ---- 16550A UART ---- */

enum { RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define UART_IRQ 4
#define UART_SEC "uart@0x3f8"

static uint8_t uin(struct kvm_uart *u, uint32_t reg)
{
    return (uint8_t)test_in(kvm_uart_io, u, reg, 1);
}

static void uout(struct kvm_uart *u, uint32_t reg, uint8_t v)
{
    test_out(kvm_uart_io, u, reg, 1, v);
}

static GByteArray *uart_save(struct kvm_uart *u)
{
    struct snap_out o;
    snap_out_init(&o);
    ck_assert_int_eq(kvm_uart_save(u, &o), 0);
    return take(&o);
}

static int uart_load(struct kvm_uart *u, const GByteArray *b, size_t len)
{
    struct snap_in in;
    return kvm_uart_load(u, in_of(&in, UART_SEC, b, len));
}

/* Read the registers without side effects on either (IIR last: it may
 * acknowledge THR empty, which both must do alike). */
static void uart_same_registers(struct kvm_uart *a, struct kvm_uart *b)
{
    static const uint32_t regs[] = {IER, LCR, MCR, MSR, SCR};
    for (size_t i = 0; i < G_N_ELEMENTS(regs); i++)
        ck_assert_msg(uin(a, regs[i]) == uin(b, regs[i]), "register %u differs", regs[i]);
    uint8_t lcr = uin(a, LCR);
    uout(a, LCR, lcr | 0x80);
    uout(b, LCR, lcr | 0x80);
    ck_assert_uint_eq(uin(a, RBR), uin(b, RBR)); /* DLL */
    ck_assert_uint_eq(uin(a, IER), uin(b, IER)); /* DLM */
    uout(a, LCR, lcr);
    uout(b, LCR, lcr);
}

START_TEST(uart_round_trip)
{
    struct kvm_uart *u = kvm_uart_new(&th.host, UART_IRQ);
    uout(u, LCR, 0x83); /* DLAB: 115200 baud */
    uout(u, RBR, 0x01);
    uout(u, IER, 0x00);
    uout(u, LCR, 0x03);
    uout(u, FCR, 0x01);
    uout(u, SCR, 0x5a);
    uout(u, MCR, 0x0b);
    uout(u, IER, 0x07); /* RDI, THRI, RLSI */
    uout(u, RBR, 'a');  /* transmitted: THR empty pending */
    ck_assert_uint_eq(kvm_uart_receive(u, (const uint8_t *)"hello", 5), 5);
    ck_assert_uint_eq(uin(u, RBR), 'h');
    ck_assert_int_eq(th.level[UART_IRQ], 1);

    g_autoptr(GByteArray) b = uart_save(u);
    th2.level[UART_IRQ] = 0;
    struct kvm_uart *v = kvm_uart_new(&th2.host, UART_IRQ);
    ck_assert_int_eq(uart_load(v, b, b->len), 0);
    /* The restored line is up, as the saved one was. */
    ck_assert_int_eq(th2.level[UART_IRQ], 1);
    uart_same_registers(u, v);
    /* IIR: received data first; the FIFO reads the same bytes; then THR
     * empty, which reading IIR acknowledges, lowering both lines. */
    ck_assert_uint_eq(uin(v, IIR), uin(u, IIR));
    ck_assert_uint_eq(uin(v, IIR) & 0x0f, 0x04);
    for (const char *p = "ello"; *p; p++) {
        ck_assert_uint_eq(uin(u, LSR), uin(v, LSR));
        ck_assert_uint_eq(uin(v, RBR), (uint8_t)*p);
        ck_assert_uint_eq(uin(u, RBR), (uint8_t)*p);
    }
    ck_assert_uint_eq(uin(v, LSR) & 1, 0);
    ck_assert_uint_eq(uin(v, IIR), uin(u, IIR));
    ck_assert_int_eq(th.level[UART_IRQ], 0);
    ck_assert_int_eq(th2.level[UART_IRQ], 0);
    /* The next byte raises both alike. */
    kvm_uart_receive(u, (const uint8_t *)"Z", 1);
    kvm_uart_receive(v, (const uint8_t *)"Z", 1);
    ck_assert_int_eq(th2.level[UART_IRQ], 1);
    ck_assert_uint_eq(uin(v, IIR), uin(u, IIR));
    ck_assert_uint_eq(uin(v, RBR), 'Z');
    kvm_uart_free(u);
    kvm_uart_free(v);
}
END_TEST

START_TEST(uart_overrun_loopback_and_quiet_line)
{
    struct kvm_uart *u = kvm_uart_new(&th.host, UART_IRQ);
    uout(u, MCR, 0x10 | 0x0b); /* loopback */
    for (int i = 0; i < 1025; i++)
        uout(u, RBR, (uint8_t)i);
    g_autoptr(GByteArray) b = uart_save(u);
    /* No interrupt enabled: the restored line must be driven low even if
     * it was high before. */
    th2.level[UART_IRQ] = 1;
    struct kvm_uart *v = kvm_uart_new(&th2.host, UART_IRQ);
    ck_assert_int_eq(uart_load(v, b, b->len), 0);
    ck_assert_int_eq(th2.level[UART_IRQ], 0);
    ck_assert_int_ge(th2.irq_calls, 1);
    uart_same_registers(u, v);
    ck_assert_uint_eq(uin(v, MSR), uin(u, MSR)); /* loopback of MCR */
    /* Overrun, once, then 1024 bytes in order. */
    ck_assert_uint_eq(uin(v, LSR) & 0x03, 0x03);
    ck_assert_uint_eq(uin(u, LSR) & 0x03, 0x03);
    ck_assert_uint_eq(uin(v, LSR) & 0x02, 0);
    for (int i = 0; i < 1024; i++)
        ck_assert_uint_eq(uin(v, RBR), (uint8_t)i);
    ck_assert_uint_eq(uin(v, LSR) & 1, 0);
    kvm_uart_free(u);
    kvm_uart_free(v);
}
END_TEST

START_TEST(uart_damaged_sections)
{
    struct kvm_uart *u = kvm_uart_new(&th.host, UART_IRQ);
    uout(u, SCR, 0x42);
    kvm_uart_receive(u, (const uint8_t *)"xy", 2);
    g_autoptr(GByteArray) good = uart_save(u);
    ck_assert_uint_eq(good->len, 10 + 4 + 2);

    struct kvm_uart *v = kvm_uart_new(&th2.host, UART_IRQ);
    uout(v, SCR, 0x17);
    kvm_uart_receive(v, (const uint8_t *)"q", 1);
    int calls = th2.irq_calls;
    /* Every truncation. */
    for (size_t len = 0; len < good->len; len++)
        assert_refused(uart_load(v, good, len), UART_SEC, "needs");
    /* A byte too many. */
    g_autoptr(GByteArray) longer = g_byte_array_sized_new(good->len + 1);
    g_byte_array_append(longer, good->data, good->len);
    g_byte_array_append(longer, (const guint8 *)"", 1);
    assert_refused(uart_load(v, longer, longer->len), UART_SEC, "left over");
    /* Values no guest write reaches. */
    static const struct {
        size_t off;
        uint8_t v;
        const char *what;
    } bad[] = {
        {0, 0xf0, "IER"}, {2, 0x20, "MCR"}, {3, 0x00, "LSR"},    {3, 0x61, "LSR"},
        {4, 0x00, "MSR"}, {6, 0x30, "FCR"}, {9, 2, "THR-empty"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GByteArray) b = g_byte_array_sized_new(good->len);
        g_byte_array_append(b, good->data, good->len);
        b->data[bad[i].off] = bad[i].v;
        assert_refused(uart_load(v, b, b->len), UART_SEC, bad[i].what);
    }
    /* A FIFO longer than the UART's. */
    g_autoptr(GByteArray) big = g_byte_array_sized_new(good->len);
    g_byte_array_append(big, good->data, 10);
    uint8_t n[4] = {0x01, 0x08, 0, 0}; /* 2049 */
    g_byte_array_append(big, n, 4);
    assert_refused(uart_load(v, big, big->len), UART_SEC, "receive FIFO");
    /* v is untouched and works: its scratch, its byte, its line. */
    ck_assert_int_eq(th2.irq_calls, calls);
    ck_assert_uint_eq(uin(v, SCR), 0x17);
    ck_assert_uint_eq(uin(v, RBR), 'q');
    ck_assert_uint_eq(uin(v, LSR) & 1, 0);
    kvm_uart_free(u);
    kvm_uart_free(v);
}
END_TEST

/* ---- i8042 ---- */

#define I8042_SEC "i8042@0x60"

static int i8042_load(struct kvm_i8042 *k, const GByteArray *b, size_t len)
{
    struct snap_in in;
    return kvm_i8042_load(k, in_of(&in, I8042_SEC, b, len));
}

START_TEST(i8042_round_trip)
{
    struct kvm_i8042 *k = kvm_i8042_new(&th.host);
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0x20); /* read the command byte: OBF */
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0x60); /* write it: waits for data */
    struct snap_out o;
    snap_out_init(&o);
    ck_assert_int_eq(kvm_i8042_save(k, &o), 0);
    g_autoptr(GByteArray) b = take(&o);

    struct kvm_i8042 *l = kvm_i8042_new(&th2.host);
    ck_assert_int_eq(i8042_load(l, b, b->len), 0);
    ck_assert_uint_eq(test_in(kvm_i8042_cmd_io, l, 0, 1), test_in(kvm_i8042_cmd_io, k, 0, 1));
    ck_assert_uint_eq(test_in(kvm_i8042_data_io, l, 0, 1), 0x61);
    ck_assert_uint_eq(test_in(kvm_i8042_data_io, k, 0, 1), 0x61);
    /* The pending command takes the next data byte on both. */
    test_out(kvm_i8042_data_io, k, 0, 1, 0x45);
    test_out(kvm_i8042_data_io, l, 0, 1, 0x45);
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0x20);
    test_out(kvm_i8042_cmd_io, l, 0, 1, 0x20);
    ck_assert_uint_eq(test_in(kvm_i8042_cmd_io, l, 0, 1), test_in(kvm_i8042_cmd_io, k, 0, 1));
    ck_assert_uint_eq(test_in(kvm_i8042_data_io, l, 0, 1), 0x45);
    ck_assert_uint_eq(test_in(kvm_i8042_data_io, k, 0, 1), 0x45);
    ck_assert_uint_eq(test_in(kvm_i8042_cmd_io, l, 0, 1), test_in(kvm_i8042_cmd_io, k, 0, 1));
    ck_assert_int_eq(th2.resets, 0);

    /* Damage: a pending command that takes no data, an unknown status
     * bit, a short section. l goes on as it was. */
    g_autoptr(GByteArray) bad = g_byte_array_sized_new(b->len);
    g_byte_array_append(bad, b->data, b->len);
    bad->data[3] = 0x99;
    assert_refused(i8042_load(l, bad, bad->len), I8042_SEC, "pending command 0x99");
    bad->data[3] = b->data[3];
    bad->data[0] = 0x80 | 0x10;
    assert_refused(i8042_load(l, bad, bad->len), I8042_SEC, "status");
    for (size_t len = 0; len < b->len; len++)
        assert_refused(i8042_load(l, b, len), I8042_SEC, "needs");
    test_out(kvm_i8042_cmd_io, l, 0, 1, 0x20);
    ck_assert_uint_eq(test_in(kvm_i8042_data_io, l, 0, 1), 0x45);
    kvm_i8042_free(k);
    kvm_i8042_free(l);
}
END_TEST

/* ---- CMOS ---- */

#define CMOS_SEC "cmos@0x70"

static uint8_t cmos_read(struct kvm_cmos *c, uint8_t idx)
{
    test_out(kvm_cmos_io, c, 0, 1, idx);
    return (uint8_t)test_in(kvm_cmos_io, c, 1, 1);
}

static int cmos_load(struct kvm_cmos *c, const GByteArray *b, size_t len)
{
    struct snap_in in;
    return kvm_cmos_load(c, in_of(&in, CMOS_SEC, b, len));
}

START_TEST(cmos_round_trip)
{
    struct kvm_cmos *c = kvm_cmos_new(&th.host, 64 << 20, 0, 2);
    test_out(kvm_cmos_io, c, 0, 1, 0x0b);
    test_out(kvm_cmos_io, c, 1, 1, 0x06); /* binary, 24-hour */
    test_out(kvm_cmos_io, c, 0, 1, 0x40);
    test_out(kvm_cmos_io, c, 1, 1, 0xab); /* NVRAM; the index stays at 0x40 */
    struct snap_out o;
    snap_out_init(&o);
    ck_assert_int_eq(kvm_cmos_save(c, &o), 0);
    g_autoptr(GByteArray) b = take(&o);
    ck_assert_uint_eq(b->len, 129);

    /* The restored machine's CMOS was built for other RAM: the guest's
     * NVRAM is what the snapshot holds. */
    struct kvm_cmos *d = kvm_cmos_new(&th2.host, 32 << 20, 0, 2);
    ck_assert_int_eq(cmos_load(d, b, b->len), 0);
    ck_assert_uint_eq(test_in(kvm_cmos_io, d, 1, 1), 0xab); /* index kept */
    for (unsigned i = 0x0a; i < 0x80; i++)
        ck_assert_msg(cmos_read(d, (uint8_t)i) == cmos_read(c, (uint8_t)i), "cell 0x%02x", i);

    /* Damage: index past 127, a read-only cell changed, a short NVRAM. */
    g_autoptr(GByteArray) bad = g_byte_array_sized_new(b->len);
    g_byte_array_append(bad, b->data, b->len);
    bad->data[0] = 0x80;
    assert_refused(cmos_load(d, bad, bad->len), CMOS_SEC, "index 0x80");
    bad->data[0] = 0x10;
    bad->data[1 + 0x0d] = 0x00;
    assert_refused(cmos_load(d, bad, bad->len), CMOS_SEC, "read-only cell 0x0d");
    assert_refused(cmos_load(d, b, 100), CMOS_SEC, "NVRAM");
    ck_assert_uint_eq(cmos_read(d, 0x40), 0xab);
    ck_assert_uint_eq(cmos_read(d, 0x0d), 0x80);
    kvm_cmos_free(c);
    kvm_cmos_free(d);
}
END_TEST

/* ---- fw_cfg ---- */

#define FW_SEC "fw_cfg@0x510"

static struct kvm_fw_cfg *fw_new(struct test_host *t, const char *file)
{
    struct kvm_fw_cfg_info info = {.uuid = "0", .ram_size = 1 << 20, .vcpus = 1, .max_vcpus = 1};
    struct kvm_fw_cfg *f = kvm_fw_cfg_new(&t->host, &info);
    ck_assert_int_eq(kvm_fw_cfg_add_file(f, file, "0123456789abcdef", 16), 0);
    return f;
}

static int fw_load(struct kvm_fw_cfg *f, const GByteArray *b, size_t len)
{
    struct snap_in in;
    return kvm_fw_cfg_load(f, in_of(&in, FW_SEC, b, len));
}

static uint8_t fw_byte(struct kvm_fw_cfg *f)
{
    return (uint8_t)test_in(kvm_fw_cfg_io, f, 1, 1);
}

START_TEST(fw_cfg_round_trip)
{
    struct kvm_fw_cfg *f = fw_new(&th, "etc/test");
    test_out(kvm_fw_cfg_io, f, 0, 2, 0x20);
    for (int i = 0; i < 5; i++)
        fw_byte(f);
    struct snap_out o;
    snap_out_init(&o);
    ck_assert_int_eq(kvm_fw_cfg_save(f, &o), 0);
    g_autoptr(GByteArray) b = take(&o);

    struct kvm_fw_cfg *g = fw_new(&th2, "etc/test");
    ck_assert_int_eq(fw_load(g, b, b->len), 0);
    /* The read goes on at byte 5 of the same file, then zeroes past it. */
    for (int i = 5; i < 18; i++) {
        uint8_t want = i < 16 ? (uint8_t) "0123456789abcdef"[i] : 0;
        ck_assert_uint_eq(fw_byte(f), want);
        ck_assert_uint_eq(fw_byte(g), want);
    }

    /* Another file under that selector: refused, naming both. */
    struct kvm_fw_cfg *h = fw_new(&th2, "etc/other");
    assert_refused(fw_load(h, b, b->len), FW_SEC, "'etc/other' here, 'etc/test'");
    /* A selector past the mask, a file that does not exist, a name for a
     * selector that is no file. */
    g_autoptr(GByteArray) bad = g_byte_array_sized_new(b->len);
    g_byte_array_append(bad, b->data, b->len);
    bad->data[0] = 0x00;
    bad->data[1] = 0x40;
    assert_refused(fw_load(g, bad, bad->len), FW_SEC, "selector 0x4000");
    bad->data[0] = 0x21;
    bad->data[1] = 0x00;
    assert_refused(fw_load(g, bad, bad->len), FW_SEC, "does not have");
    bad->data[0] = 0x02;
    assert_refused(fw_load(g, bad, bad->len), FW_SEC, "not a file");
    for (size_t len = 0; len < b->len; len++)
        assert_refused(fw_load(g, b, len), FW_SEC, "needs");
    /* h and g go on where they were. */
    test_out(kvm_fw_cfg_io, h, 0, 2, 0x00);
    ck_assert_uint_eq(fw_byte(h), 'Q');
    ck_assert_uint_eq(fw_byte(g), 0);
    kvm_fw_cfg_free(f);
    kvm_fw_cfg_free(g);
    kvm_fw_cfg_free(h);
}
END_TEST

/* ---- ACPI PM ---- */

#define PM_SEC "acpi-pm@0x600"
#define SCI 9

static int pm_load(struct kvm_acpi_pm *pm, const GByteArray *b, size_t len)
{
    struct snap_in in;
    return kvm_acpi_pm_load(pm, in_of(&in, PM_SEC, b, len));
}

START_TEST(acpi_pm_round_trip)
{
    struct kvm_acpi_pm *pm = kvm_acpi_pm_new(&th.host, SCI);
    test_out(kvm_acpi_pm_io, pm, 2, 2, 0x100); /* power button enabled */
    ck_assert(kvm_acpi_pm_power_button(pm));
    ck_assert_int_eq(th.level[SCI], 1);
    g_usleep(20 * 1000); /* the timer is past 0 */
    struct snap_out o;
    snap_out_init(&o);
    ck_assert_int_eq(kvm_acpi_pm_save(pm, &o), 0);
    g_autoptr(GByteArray) b = take(&o);
    ck_assert_uint_eq(b->len, 10);
    uint32_t saved = (uint32_t)kvm_bus_get(b->data + 6, 4);
    ck_assert_uint_gt(saved, 3579545 / 100);

    struct kvm_acpi_pm *q = kvm_acpi_pm_new(&th2.host, SCI);
    ck_assert_int_eq(pm_load(q, b, b->len), 0);
    ck_assert_int_eq(th2.level[SCI], 1);
    for (uint64_t off = 0; off < 6; off += 2)
        ck_assert_uint_eq(test_in(kvm_acpi_pm_io, q, off, 2), test_in(kvm_acpi_pm_io, pm, off, 2));
    /* The timer counts on from the saved count, not from 0. */
    uint32_t t1 = (uint32_t)test_in(kvm_acpi_pm_io, q, 8, 4);
    ck_assert_uint_ge(t1, saved);
    ck_assert_uint_lt(t1 - saved, 3579545); /* within a second */
    g_usleep(5 * 1000);
    ck_assert_uint_gt((uint32_t)test_in(kvm_acpi_pm_io, q, 8, 4), t1);
    /* The guest clears the status: the line falls on both alike. */
    test_out(kvm_acpi_pm_io, q, 0, 2, 0x100);
    ck_assert_int_eq(th2.level[SCI], 0);

    g_autoptr(GByteArray) bad = g_byte_array_sized_new(b->len);
    g_byte_array_append(bad, b->data, b->len);
    bad->data[0] = 0x01; /* timer status: never set here */
    assert_refused(pm_load(q, bad, bad->len), PM_SEC, "PM1 status");
    bad->data[0] = b->data[0];
    bad->data[5] = 0x20 | 0x14; /* SLP_EN with S5 */
    assert_refused(pm_load(q, bad, bad->len), PM_SEC, "SLP_EN");
    assert_refused(pm_load(q, b, 9), PM_SEC, "PM timer");
    ck_assert_int_eq(th2.stops, 0);
    ck_assert_uint_eq(test_in(kvm_acpi_pm_io, q, 0, 2), 0);
    kvm_acpi_pm_free(pm);
    kvm_acpi_pm_free(q);
}
END_TEST

/* ---- isa-debug-exit ---- */

START_TEST(debug_exit_keeps_nothing)
{
    struct kvm_debug_exit *d = kvm_debug_exit_new(&th.host);
    struct snap_out o;
    snap_out_init(&o);
    ck_assert_int_eq(kvm_debug_exit_save(d, &o), 0);
    g_autoptr(GByteArray) b = take(&o);
    ck_assert_uint_eq(b->len, 0);
    struct snap_in in;
    ck_assert_int_eq(kvm_debug_exit_load(d, in_of(&in, "debug-exit@0xf4", b, 0)), 0);
    g_byte_array_append(b, (const guint8 *)"x", 1);
    assert_refused(kvm_debug_exit_load(d, in_of(&in, "debug-exit@0xf4", b, 1)), "debug-exit@0xf4",
                   "left over");
    /* Still the device it was. */
    test_out(kvm_debug_exit_io, d, 0, 1, 3);
    ck_assert_int_eq(th.exit_status, 7);
    kvm_debug_exit_free(d);
}
END_TEST

/* ---- the pc board ---- */

#define RAM (32ull << 20)
static const uint32_t apic1[] = {0};

struct machine {
    struct test_host *t;
    struct kvm_bus pio, mmio;
    struct kvm_board *b;
};

/* A pc board with nvirtio virtio-rng devices. */
static void machine_new(struct machine *m, struct test_host *t, int nvirtio)
{
    memset(m, 0, sizeof(*m));
    m->t = t;
    struct kvm_board_config cfg = {
        .ram_size = RAM, .ncpus = 1, .max_cpus = 1, .apic_ids = apic1, .uuid = "1"};
    m->b = kvm_board_pc_new(&t->host, &cfg, &m->pio, &m->mmio);
    ck_assert_ptr_nonnull(m->b);
    for (int i = 0; i < nvirtio; i++)
        ck_assert_int_eq(kvm_board_add_virtio(m->b, &kvm_board_virtio_mmio, &virtio_rng_ops,
                                              virtio_rng_state_new()),
                         0);
}

static void machine_free(struct machine *m)
{
    kvm_board_free(m->b);
    kvm_bus_clear(&m->pio);
    kvm_bus_clear(&m->mmio);
}

static uint64_t mpin(struct machine *m, uint16_t port)
{
    uint8_t d[8] = {0};
    ck_assert(kvm_bus_dispatch(&m->pio, port, d, 1, false));
    return d[0];
}

static void mpout(struct machine *m, uint16_t port, uint8_t v)
{
    ck_assert(kvm_bus_dispatch(&m->pio, port, &v, 1, true));
}

static int load_sections(struct machine *m, GPtrArray *s)
{
    return kvm_board_load(m->b, (struct snap_section *const *)s->pdata, s->len);
}

START_TEST(board_saves_every_device_by_name)
{
    struct machine a, b;
    machine_new(&a, &th, 2);
    mpout(&a, 0x3ff, 0x99); /* UART scratch */
    mpout(&a, 0x70, 0x41);
    mpout(&a, 0x71, 0x77); /* CMOS NVRAM */
    ck_assert_int_eq(kvm_board_quiesce(a.b, 1000), 0);
    g_autoptr(GPtrArray) s = kvm_board_save(a.b);
    kvm_board_unquiesce(a.b);
    ck_assert_ptr_nonnull(s);
    static const char *const names[] = {
        "i8042@0x60",   "cmos@0x70",     "debug-exit@0xf4",        "uart@0x3f8",
        "fw_cfg@0x510", "acpi-pm@0x600", "virtio-mmio@0xe0000000", "virtio-mmio@0xe0000200"};
    ck_assert_uint_eq(s->len, G_N_ELEMENTS(names));
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        const struct snap_section *sec = g_ptr_array_index(s, i);
        ck_assert_str_eq(sec->name, names[i]);
        ck_assert_uint_eq(sec->version, 1);
        ck_assert(kvm_board_is_device_section(sec->name));
    }
    ck_assert(!kvm_board_is_device_section("vcpu0.regs"));
    ck_assert(!kvm_board_is_device_section("uart@3f8"));
    ck_assert(!kvm_board_is_device_section("UART@0x3f8"));

    /* Into a board with the same devices, among sections that are not
     * devices': the guest sees the same values. */
    machine_new(&b, &th2, 2);
    struct snap_out o;
    snap_out_init(&o);
    snap_put_u32(&o, 42);
    g_ptr_array_add(s, snap_section_new("vcpu0.regs", 1, &o));
    snap_out_clear(&o);
    ck_assert_int_eq(load_sections(&b, s), 0);
    ck_assert_uint_eq(mpin(&b, 0x3ff), 0x99);
    ck_assert_uint_eq(mpin(&b, 0x71), 0x77);
    ck_assert_uint_eq(mpin(&b, 0x3fd) & 0x60, 0x60);
    machine_free(&a);
    machine_free(&b);
}
END_TEST

START_TEST(board_refuses_other_devices)
{
    struct machine a, fewer, more;
    machine_new(&a, &th, 1);
    mpout(&a, 0x3ff, 0x99);
    g_autoptr(GPtrArray) s = kvm_board_save(a.b);
    ck_assert_ptr_nonnull(s);

    machine_new(&fewer, &th2, 0);
    mpout(&fewer, 0x3ff, 0x11);
    ck_assert_int_lt(load_sections(&fewer, s), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "virtio-mmio@0xe0000000"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "does not have"));
    ck_assert_uint_eq(mpin(&fewer, 0x3ff), 0x11); /* nothing loaded */
    machine_free(&fewer);

    machine_new(&more, &th2, 2);
    ck_assert_int_lt(load_sections(&more, s), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "virtio-mmio@0xe0000200"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "no state"));
    machine_free(&more);

    /* A device missing from the snapshot, one twice, a version unknown. */
    struct machine same;
    machine_new(&same, &th2, 1);
    mpout(&same, 0x3ff, 0x22);
    ck_assert_str_eq(((struct snap_section *)g_ptr_array_index(s, 3))->name, "uart@0x3f8");
    g_ptr_array_remove_index(s, 3); /* frees it */
    ck_assert_int_lt(load_sections(&same, s), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "no state for device uart@0x3f8"));
    g_autoptr(GPtrArray) s2 = kvm_board_save(a.b);
    struct snap_out o;
    snap_out_init(&o);
    snap_put_u8(&o, 0);
    g_ptr_array_add(s2, snap_section_new("cmos@0x70", 1, &o));
    snap_out_clear(&o);
    ck_assert_int_lt(load_sections(&same, s2), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "cmos@0x70 twice"));
    g_ptr_array_remove_index(s2, s2->len - 1);
    ((struct snap_section *)g_ptr_array_index(s2, 3))->version = 2;
    ck_assert_int_lt(load_sections(&same, s2), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "'uart@0x3f8' is version 2"));
    ck_assert_uint_eq(mpin(&same, 0x3ff), 0x22);
    /* A damaged device section stops the load, naming it. */
    ((struct snap_section *)g_ptr_array_index(s2, 3))->version = 1;
    g_byte_array_set_size(((struct snap_section *)g_ptr_array_index(s2, 3))->data, 3);
    ck_assert_int_lt(load_sections(&same, s2), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "snapshot section 'uart@0x3f8'"));
    ck_assert_uint_eq(mpin(&same, 0x3ff), 0x22);
    machine_free(&same);
    machine_free(&a);
}
END_TEST

START_TEST(board_refused_load_changes_no_device)
{
    /* A snapshot whose last device section is damaged: the devices before
     * it check fine and load first, then the last refuses. Every device
     * must keep the state it had before the load. */
    struct machine a, b;
    machine_new(&a, &th, 1);
    mpout(&a, 0x3ff, 0x99); /* UART scratch */
    mpout(&a, 0x70, 0x41);
    mpout(&a, 0x71, 0x77); /* CMOS NVRAM byte 0x41 */
    ck_assert_int_eq(kvm_board_quiesce(a.b, 1000), 0);
    g_autoptr(GPtrArray) s = kvm_board_save(a.b);
    kvm_board_unquiesce(a.b);
    ck_assert_ptr_nonnull(s);
    struct snap_section *last = g_ptr_array_index(s, s->len - 1);
    ck_assert_str_eq(last->name, "virtio-mmio@0xe0000000");
    g_byte_array_set_size(last->data, 3);

    machine_new(&b, &th2, 1);
    mpout(&b, 0x3ff, 0x22);
    mpout(&b, 0x70, 0x41);
    mpout(&b, 0x71, 0x33);
    ck_assert_int_eq(kvm_board_quiesce(b.b, 1000), 0);
    g_autoptr(GPtrArray) before = kvm_board_save(b.b);
    kvm_board_unquiesce(b.b);
    ck_assert_ptr_nonnull(before);

    ck_assert_int_lt(load_sections(&b, s), 0);
    const char *msg = qv_last_error()->message;
    ck_assert_msg(strstr(msg, "virtio-mmio@0xe0000000") && !strstr(msg, "put back"), "%s", msg);
    /* What the guest sees is what it saw before. */
    ck_assert_uint_eq(mpin(&b, 0x3ff), 0x22);
    mpout(&b, 0x70, 0x41);
    ck_assert_uint_eq(mpin(&b, 0x71), 0x33);
    /* And so is every device's whole state, byte for byte. */
    ck_assert_int_eq(kvm_board_quiesce(b.b, 1000), 0);
    g_autoptr(GPtrArray) after = kvm_board_save(b.b);
    kvm_board_unquiesce(b.b);
    ck_assert_ptr_nonnull(after);
    ck_assert_uint_eq(after->len, before->len);
    for (guint i = 0; i < after->len; i++) {
        const struct snap_section *x = g_ptr_array_index(before, i);
        const struct snap_section *y = g_ptr_array_index(after, i);
        ck_assert_str_eq(x->name, y->name);
        ck_assert_uint_eq(x->data->len, y->data->len);
        /* The PM timer (acpi-pm's last 4 bytes) counts on by itself. */
        size_t cmp = strcmp(x->name, "acpi-pm@0x600") == 0 ? x->data->len - 4 : x->data->len;
        /* An empty GByteArray's data may be NULL. */
        ck_assert_msg(cmp == 0 || memcmp(x->data->data, y->data->data, cmp) == 0,
                      "device %s changed by a refused load", x->name);
    }
    /* The undamaged snapshot still loads whole afterwards. */
    ck_assert_int_eq(kvm_board_quiesce(a.b, 1000), 0);
    g_autoptr(GPtrArray) good2 = kvm_board_save(a.b);
    kvm_board_unquiesce(a.b);
    ck_assert_ptr_nonnull(good2);
    ck_assert_int_eq(load_sections(&b, good2), 0);
    ck_assert_uint_eq(mpin(&b, 0x3ff), 0x99);
    mpout(&b, 0x70, 0x41);
    ck_assert_uint_eq(mpin(&b, 0x71), 0x77);
    machine_free(&a);
    machine_free(&b);
}
END_TEST

START_TEST(board_transport_without_state_refused)
{
    /* A transport that cannot save: the board says which device. */
    static const struct kvm_board_transport plain = {virtio_mmio_new, virtio_mmio_io,
                                                     virtio_mmio_free};
    struct machine a, b;
    machine_new(&a, &th, 0);
    ck_assert_int_eq(kvm_board_add_virtio(a.b, &plain, &virtio_rng_ops, virtio_rng_state_new()), 0);
    ck_assert_ptr_null(kvm_board_save(a.b));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "virtio@0xe0000000 (virtio-rng)"));
    ck_assert_int_lt(kvm_board_quiesce(a.b, 0), 0);
    machine_new(&b, &th2, 1);
    g_autoptr(GPtrArray) s = kvm_board_save(b.b);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_lt(load_sections(&a, s), 0);
    machine_free(&a);
    machine_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_devstate");
    TCase *tc = tcase_create("devstate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, uart_round_trip);
    tcase_add_test(tc, uart_overrun_loopback_and_quiet_line);
    tcase_add_test(tc, uart_damaged_sections);
    tcase_add_test(tc, i8042_round_trip);
    tcase_add_test(tc, cmos_round_trip);
    tcase_add_test(tc, fw_cfg_round_trip);
    tcase_add_test(tc, acpi_pm_round_trip);
    tcase_add_test(tc, debug_exit_keeps_nothing);
    tcase_add_test(tc, board_saves_every_device_by_name);
    tcase_add_test(tc, board_refuses_other_devices);
    tcase_add_test(tc, board_refused_load_changes_no_device);
    tcase_add_test(tc, board_transport_without_state_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
