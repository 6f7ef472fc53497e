/* The legacy devices through their bus handlers and a recording device host
 * (kvm_test_host.h): no /dev/kvm needed, so these run on every host. Each
 * case asserts what a guest or the machine would see: register values,
 * interrupt line levels, stop and reset requests, bytes on the console. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drivers/kvm/devices/acpi/acpi.h"
#include "drivers/kvm/devices/chardev.h"
#include "drivers/kvm/devices/devices.h"
#include "kvm_test_host.h"
#include "lib/util/error.h"

static struct test_host th;

static void setup(void)
{
    test_host_init(&th, 1 << 20);
}

static void teardown(void)
{
    test_host_clear(&th);
}

/* ---- 16550A UART ---- */

enum { RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define UART_IRQ 4

static uint8_t uin(struct kvm_uart *u, uint32_t reg)
{
    return (uint8_t)test_in(kvm_uart_io, u, reg, 1);
}

static void uout(struct kvm_uart *u, uint32_t reg, uint8_t v)
{
    test_out(kvm_uart_io, u, reg, 1, v);
}

START_TEST(uart_thr_to_console)
{
    g_autofree char *dir = g_dir_make_tmp("qv-uart-XXXXXX", NULL);
    g_autofree char *log = g_build_filename(dir, "serial.log", NULL);
    struct qv_chardev cfg = {.type = QV_CHR_FILE, .path = log};
    struct kvm_chardev *chr = kvm_chardev_open(&cfg, "devtest");
    ck_assert_ptr_nonnull(chr);
    struct kvm_uart *u = kvm_uart_new(&th.host, UART_IRQ);
    /* Before a console is connected, output is dropped, not buffered. */
    uout(u, RBR, 'x');
    kvm_uart_connect(u, chr);
    const char *msg = "hello, port\n";
    for (const char *p = msg; *p; p++) {
        ck_assert_uint_eq(uin(u, LSR) & 0x60, 0x60); /* THRE and TEMT: ready */
        uout(u, RBR, (uint8_t)*p);
    }
    /* A 2-byte access at THR writes THR then IER, one byte each. */
    test_out(kvm_uart_io, u, RBR, 2, 0x0000 | '!');
    kvm_chardev_flush(chr);
    g_autofree char *got = NULL;
    ck_assert(g_file_get_contents(log, &got, NULL, NULL));
    ck_assert_str_eq(got, "hello, port\n!");
    /* Loopback: transmitted bytes come back as received, not to the console. */
    uout(u, MCR, 0x10);
    uout(u, RBR, 'L');
    ck_assert_uint_eq(uin(u, LSR) & 0x01, 0x01);
    ck_assert_uint_eq(uin(u, RBR), 'L');
    kvm_chardev_flush(chr);
    g_free(got);
    ck_assert(g_file_get_contents(log, &got, NULL, NULL));
    ck_assert_str_eq(got, "hello, port\n!");
    ck_assert_int_eq(th.irq_calls, 0); /* no interrupt was enabled */
    kvm_uart_free(u);
    kvm_chardev_close(chr);
    unlink(log);
    rmdir(dir);
}
END_TEST

START_TEST(uart_rx_fifo_and_irq)
{
    struct kvm_uart *u = kvm_uart_new(&th.host, UART_IRQ);
    ck_assert_uint_eq(uin(u, IIR), 0x01); /* nothing pending */
    ck_assert_uint_eq(uin(u, LSR) & 0x01, 0);
    ck_assert_uint_eq(uin(u, RBR), 0); /* empty FIFO */
    ck_assert_uint_eq(kvm_uart_receive(u, (const uint8_t *)"abc", 3), 3);
    ck_assert_int_eq(th.irq_calls, 0); /* RDI not enabled yet */
    uout(u, IER, 0x01);
    ck_assert_int_eq(th.level[UART_IRQ], 1);
    ck_assert_uint_eq(uin(u, IIR), 0x04);
    uout(u, FCR, 0x01); /* FIFOs on: IIR's top bits say so */
    ck_assert_uint_eq(uin(u, IIR), 0xc4);
    ck_assert_uint_eq(uin(u, LSR) & 0x01, 0x01);
    ck_assert_uint_eq(uin(u, RBR), 'a');
    ck_assert_uint_eq(uin(u, RBR), 'b');
    ck_assert_int_eq(th.level[UART_IRQ], 1);
    ck_assert_uint_eq(uin(u, RBR), 'c');
    ck_assert_int_eq(th.level[UART_IRQ], 0);
    ck_assert_uint_eq(uin(u, IIR), 0xc1);
    ck_assert_uint_eq(uin(u, LSR) & 0x01, 0);
    /* FCR bit 1 clears the receive FIFO and with it the interrupt. */
    ck_assert_uint_eq(kvm_uart_receive(u, (const uint8_t *)"xy", 2), 2);
    ck_assert_int_eq(th.level[UART_IRQ], 1);
    uout(u, FCR, 0x03);
    ck_assert_int_eq(th.level[UART_IRQ], 0);
    ck_assert_uint_eq(uin(u, LSR) & 0x01, 0);
    /* Disabling the interrupt lowers the line with data still waiting. */
    ck_assert_uint_eq(kvm_uart_receive(u, (const uint8_t *)"z", 1), 1);
    ck_assert_int_eq(th.level[UART_IRQ], 1);
    uout(u, IER, 0x00);
    ck_assert_int_eq(th.level[UART_IRQ], 0);
    ck_assert_uint_eq(uin(u, RBR), 'z');
    kvm_uart_free(u);
}
END_TEST

START_TEST(uart_thr_empty_irq)
{
    struct kvm_uart *u = kvm_uart_new(&th.host, UART_IRQ);
    uout(u, IER, 0x02); /* THR empty: pending at once, the THR is empty */
    ck_assert_int_eq(th.level[UART_IRQ], 1);
    ck_assert_uint_eq(uin(u, IIR), 0x02); /* reading IIR acknowledges it */
    ck_assert_int_eq(th.level[UART_IRQ], 0);
    ck_assert_uint_eq(uin(u, IIR), 0x01);
    uout(u, RBR, 'q'); /* sent at once: empty again */
    ck_assert_int_eq(th.level[UART_IRQ], 1);
    /* Receive data outranks THR empty. */
    uout(u, IER, 0x03);
    kvm_uart_receive(u, (const uint8_t *)"r", 1);
    ck_assert_uint_eq(uin(u, IIR), 0x04);
    ck_assert_uint_eq(uin(u, RBR), 'r');
    ck_assert_uint_eq(uin(u, IIR), 0x02);
    ck_assert_int_eq(th.level[UART_IRQ], 0);
    kvm_uart_free(u);
}
END_TEST

START_TEST(uart_dlab_and_scratch)
{
    struct kvm_uart *u = kvm_uart_new(&th.host, UART_IRQ);
    uout(u, IER, 0x05);
    uout(u, LCR, 0x83);
    ck_assert_uint_eq(uin(u, RBR), 0x0c); /* the divisor: 9600 baud */
    ck_assert_uint_eq(uin(u, IER), 0x00);
    uout(u, RBR, 0x01); /* DLL, not a byte to send */
    uout(u, IER, 0x02); /* DLM, not IER */
    ck_assert_uint_eq(uin(u, RBR), 0x01);
    ck_assert_uint_eq(uin(u, IER), 0x02);
    ck_assert_uint_eq(uin(u, LCR), 0x83);
    uout(u, LCR, 0x03);
    ck_assert_uint_eq(uin(u, IER), 0x05);
    ck_assert_int_eq(th.irq_calls, 0);
    uout(u, SCR, 0x5a);
    ck_assert_uint_eq(uin(u, SCR), 0x5a);
    /* Modem status: carrier, DSR and CTS; in loopback the outputs. */
    ck_assert_uint_eq(uin(u, MSR), 0xb0);
    uout(u, MCR, 0x10 | 0x03);
    ck_assert_uint_eq(uin(u, MSR), 0x30);
    /* Past the 8 registers a wide access reads 0xff and writes nothing. */
    ck_assert_uint_eq(test_in(kvm_uart_io, u, 7, 2), 0xff5a);
    kvm_uart_free(u);
}
END_TEST

START_TEST(uart_overrun)
{
    struct kvm_uart *u = kvm_uart_new(&th.host, UART_IRQ);
    uint8_t buf[1100];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)i;
    /* The FIFO takes what fits; the console holds the rest back. */
    size_t took = kvm_uart_receive(u, buf, sizeof(buf));
    ck_assert_uint_eq(took, 1024);
    ck_assert_uint_eq(uin(u, LSR) & 0x02, 0);
    /* A byte looped back into a full FIFO is lost: overrun. */
    uout(u, IER, 0x04);
    uout(u, MCR, 0x10);
    uout(u, RBR, 0xee);
    ck_assert_int_eq(th.level[UART_IRQ], 1);
    ck_assert_uint_eq(uin(u, IIR), 0x06);
    ck_assert_uint_eq(uin(u, LSR) & 0x03, 0x03); /* reading LSR clears OE */
    ck_assert_uint_eq(uin(u, LSR) & 0x02, 0);
    ck_assert_int_eq(th.level[UART_IRQ], 0);
    for (size_t i = 0; i < took; i++)
        ck_assert_uint_eq(uin(u, RBR), buf[i]);
    ck_assert_uint_eq(uin(u, LSR) & 0x01, 0);
    kvm_uart_free(u);
}
END_TEST

/* ---- i8042 ---- */

START_TEST(i8042_self_test_and_command_byte)
{
    struct kvm_i8042 *k = kvm_i8042_new(&th.host);
    ck_assert_uint_eq(test_in(kvm_i8042_cmd_io, k, 0, 1) & 0x01, 0); /* nothing to read */
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0xaa);
    ck_assert_uint_eq(test_in(kvm_i8042_cmd_io, k, 0, 1) & 0x05, 0x05); /* OBF, SYS */
    ck_assert_uint_eq(test_in(kvm_i8042_data_io, k, 0, 1), 0x55);
    ck_assert_uint_eq(test_in(kvm_i8042_cmd_io, k, 0, 1) & 0x01, 0);
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0x60);
    test_out(kvm_i8042_data_io, k, 0, 1, 0x47);
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0x20);
    ck_assert_uint_eq(test_in(kvm_i8042_data_io, k, 0, 1), 0x47);
    /* Only the first byte of a wide read means anything. */
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0xab);
    ck_assert_uint_eq(test_in(kvm_i8042_data_io, k, 0, 2), 0xff00);
    ck_assert_int_eq(th.resets + th.stops, 0);
    kvm_i8042_free(k);
}
END_TEST

START_TEST(i8042_reset_line)
{
    struct kvm_i8042 *k = kvm_i8042_new(&th.host);
    /* Output port writes keeping bit 0 (the reset line) high do nothing. */
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0xd1);
    test_out(kvm_i8042_data_io, k, 0, 1, 0x03);
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0xd0);
    ck_assert_uint_eq(test_in(kvm_i8042_data_io, k, 0, 1), 0x03);
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0xf1); /* pulse lines other than reset */
    ck_assert_int_eq(th.resets, 0);
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0xfe);
    ck_assert_int_eq(th.resets, 1);
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0xd1);
    test_out(kvm_i8042_data_io, k, 0, 1, 0x02);
    ck_assert_int_eq(th.resets, 2);
    test_out(kvm_i8042_cmd_io, k, 0, 1, 0xf0);
    ck_assert_int_eq(th.resets, 3);
    ck_assert_int_eq(th.stops, 0); /* a reset, which the host turns into a stop */
    kvm_i8042_free(k);
}
END_TEST

/* ---- isa-debug-exit ---- */

START_TEST(debug_exit_status)
{
    struct kvm_debug_exit *d = kvm_debug_exit_new(&th.host);
    ck_assert_uint_eq(test_in(kvm_debug_exit_io, d, 0, 4), 0);
    ck_assert_int_eq(th.stops, 0);
    test_out(kvm_debug_exit_io, d, 0, 4, 0x31);
    ck_assert_int_eq(th.stops, 1);
    ck_assert_int_eq(th.reason, VM_REASON_SHUTDOWN);
    ck_assert_int_eq(th.exit_status, 0x63);
    kvm_debug_exit_free(d);
    /* Only 8 bits of the status survive, as for QEMU's process. */
    test_host_clear(&th);
    test_host_init(&th, 0);
    d = kvm_debug_exit_new(&th.host);
    test_out(kvm_debug_exit_io, d, 0, 1, 0x80);
    ck_assert_int_eq(th.exit_status, 0x01);
    kvm_debug_exit_free(d);
}
END_TEST

/* ---- ACPI PM ---- */

#define SCI 9
enum { PM1_STS = 0, PM1_EN = 2, PM1_CNT = 4, PM_TMR = 8 };

START_TEST(acpi_pm_s5_powers_off)
{
    struct kvm_acpi_pm *pm = kvm_acpi_pm_new(&th.host, SCI);
    ck_assert_uint_eq(test_in(kvm_acpi_pm_io, pm, PM1_CNT, 2) & 1, 1); /* SCI_EN at power-on */
    /* SLP_EN with another sleep type (S1) is not a power-off. */
    test_out(kvm_acpi_pm_io, pm, PM1_CNT, 2, 1 | (1 << 10) | (1 << 13));
    ck_assert_int_eq(th.stops, 0);
    ck_assert_uint_eq(test_in(kvm_acpi_pm_io, pm, PM1_CNT, 2) & (1 << 13), 0); /* self-clearing */
    /* SLP_TYP 5 without SLP_EN: nothing yet. */
    test_out(kvm_acpi_pm_io, pm, PM1_CNT, 2, 1 | (ACPI_S5_SLP_TYP << 10));
    ck_assert_int_eq(th.stops, 0);
    /* SLP_EN written in the high byte alone, as a byte access would. */
    test_out(kvm_acpi_pm_io, pm, PM1_CNT + 1, 1, (ACPI_S5_SLP_TYP << 2) | (1 << 5));
    ck_assert_int_eq(th.stops, 1);
    ck_assert_int_eq(th.reason, VM_REASON_SHUTDOWN);
    ck_assert_int_eq(th.exit_status, 0);
    kvm_acpi_pm_free(pm);
}
END_TEST

START_TEST(acpi_pm_power_button_sci)
{
    struct kvm_acpi_pm *pm = kvm_acpi_pm_new(&th.host, SCI);
    /* A guest that has not enabled the event does not hear the button. */
    ck_assert(!kvm_acpi_pm_power_button(pm));
    ck_assert_int_eq(th.level[SCI], 0);
    ck_assert_uint_eq(test_in(kvm_acpi_pm_io, pm, PM1_STS, 2) & 0x100, 0x100);
    test_out(kvm_acpi_pm_io, pm, PM1_STS, 2, 0x100); /* write 1 to clear */
    ck_assert_uint_eq(test_in(kvm_acpi_pm_io, pm, PM1_STS, 2) & 0x100, 0);
    test_out(kvm_acpi_pm_io, pm, PM1_EN, 2, 0x100);
    ck_assert(kvm_acpi_pm_power_button(pm));
    ck_assert_int_eq(th.level[SCI], 1);
    test_out(kvm_acpi_pm_io, pm, PM1_STS, 2, 0x100);
    ck_assert_int_eq(th.level[SCI], 0);
    /* With SCI_EN cleared the line stays low and the button is unheard. */
    test_out(kvm_acpi_pm_io, pm, PM1_CNT, 2, 0);
    ck_assert(!kvm_acpi_pm_power_button(pm));
    ck_assert_int_eq(th.level[SCI], 0);
    test_out(kvm_acpi_pm_io, pm, PM1_CNT, 2, 1);
    ck_assert_int_eq(th.level[SCI], 1);
    ck_assert_int_eq(th.stops, 0);
    kvm_acpi_pm_free(pm);
}
END_TEST

START_TEST(acpi_pm_timer_runs)
{
    struct kvm_acpi_pm *pm = kvm_acpi_pm_new(&th.host, SCI);
    uint32_t a = (uint32_t)test_in(kvm_acpi_pm_io, pm, PM_TMR, 4);
    g_usleep(20000);
    uint32_t b = (uint32_t)test_in(kvm_acpi_pm_io, pm, PM_TMR, 4);
    /* 3.579545 MHz: 20 ms is about 71590 ticks; allow a loaded host. */
    ck_assert_uint_ge(b - a, 60000);
    ck_assert_uint_le(b - a, 3579545u * 5);
    ck_assert_uint_eq(test_in(kvm_acpi_pm_io, pm, 6, 2), 0xffff); /* no register there */
    kvm_acpi_pm_free(pm);
}
END_TEST

/* ---- fw_cfg ---- */

static void fw_select(struct kvm_fw_cfg *f, uint16_t key)
{
    test_out(kvm_fw_cfg_io, f, 0, 2, key);
}

static void fw_read(struct kvm_fw_cfg *f, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)test_in(kvm_fw_cfg_io, f, 1, 1);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(fw_cfg_items_and_files)
{
    struct kvm_fw_cfg_info info = {.uuid = "6c2c1e4a-96b4-4bd0-8a6e-0e5a3c9a1f01",
                                   .ram_size = 96ull << 20,
                                   .vcpus = 3,
                                   .max_vcpus = 8};
    struct kvm_fw_cfg *f = kvm_fw_cfg_new(&th.host, &info);
    uint8_t b[64];
    fw_select(f, 0x0000);
    fw_read(f, b, 4);
    ck_assert(memcmp(b, "QEMU", 4) == 0);
    fw_select(f, 0x0001);
    ck_assert_uint_eq(test_in(kvm_fw_cfg_io, f, 1, 4), 1); /* traditional interface, no DMA */
    fw_select(f, 0x0002);
    fw_read(f, b, 16);
    static const uint8_t uuid[16] = {0x6c, 0x2c, 0x1e, 0x4a, 0x96, 0xb4, 0x4b, 0xd0,
                                     0x8a, 0x6e, 0x0e, 0x5a, 0x3c, 0x9a, 0x1f, 0x01};
    ck_assert(memcmp(b, uuid, 16) == 0);
    fw_select(f, 0x0003);
    ck_assert_uint_eq(test_in(kvm_fw_cfg_io, f, 1, 8), 96ull << 20);
    fw_select(f, 0x0005);
    ck_assert_uint_eq(test_in(kvm_fw_cfg_io, f, 1, 2), 3);
    fw_select(f, 0x000f);
    ck_assert_uint_eq(test_in(kvm_fw_cfg_io, f, 1, 2), 8);
    /* The key is 14 bits: the write and architecture bits are ignored. */
    fw_select(f, 0xc000);
    fw_read(f, b, 4);
    ck_assert(memcmp(b, "QEMU", 4) == 0);
    /* Past an item's end, and for an unknown key, zeroes. */
    fw_read(f, b, 4);
    ck_assert_uint_eq(be32(b), 0);
    fw_select(f, 0x1234);
    ck_assert_uint_eq(test_in(kvm_fw_cfg_io, f, 1, 8), 0);
    /* The selector port reads 0; writes to the data port are ignored. */
    ck_assert_uint_eq(test_in(kvm_fw_cfg_io, f, 0, 2), 0);

    /* An empty directory, then two files in order from 0x20. */
    fw_select(f, 0x0019);
    fw_read(f, b, 4);
    ck_assert_uint_eq(be32(b), 0);
    ck_assert_int_eq(kvm_fw_cfg_add_file(f, "etc/one", "abc", 3), 0);
    ck_assert_int_eq(kvm_fw_cfg_add_file(f, "opt/qv/two", "defgh", 5), 0);
    char longname[80];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    ck_assert_int_eq(kvm_fw_cfg_add_file(f, longname, "x", 1), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "too long"));
    fw_select(f, 0x0019);
    fw_read(f, b, 4);
    ck_assert_uint_eq(be32(b), 2);
    const char *names[] = {"etc/one", "opt/qv/two"};
    const uint32_t sizes[] = {3, 5};
    for (int i = 0; i < 2; i++) {
        fw_read(f, b, 64);
        ck_assert_uint_eq(be32(b), sizes[i]);
        ck_assert_uint_eq((uint32_t)b[4] << 8 | b[5], 0x20 + i);
        ck_assert_str_eq((const char *)b + 8, names[i]);
    }
    fw_select(f, 0x0021);
    fw_read(f, b, 6);
    ck_assert(memcmp(b, "defgh\0", 6) == 0);
    test_out(kvm_fw_cfg_io, f, 1, 1, 'Z');
    fw_select(f, 0x0021);
    fw_read(f, b, 1);
    ck_assert_uint_eq(b[0], 'd');
    kvm_fw_cfg_free(f);
}
END_TEST

/* ---- CMOS/RTC ---- */

static uint8_t cmos_get(struct kvm_cmos *c, uint8_t idx)
{
    test_out(kvm_cmos_io, c, 0, 1, idx);
    return (uint8_t)test_in(kvm_cmos_io, c, 1, 1);
}

static int from_bcd(uint8_t v)
{
    ck_assert_msg((v & 0x0f) < 10 && (v >> 4) < 10, "0x%02x is not BCD", v);
    return (v >> 4) * 10 + (v & 0x0f);
}

START_TEST(cmos_memory_and_cpus)
{
    /* 3 GiB below 4 GiB and 1 GiB above it, 4 vCPUs. */
    struct kvm_cmos *c = kvm_cmos_new(&th.host, 3ull << 30, 1ull << 30, 4);
    ck_assert_uint_eq(cmos_get(c, 0x15) | cmos_get(c, 0x16) << 8, 640);
    ck_assert_uint_eq(cmos_get(c, 0x17) | cmos_get(c, 0x18) << 8, 0xffff); /* capped */
    ck_assert_uint_eq(cmos_get(c, 0x30) | cmos_get(c, 0x31) << 8, 0xffff);
    ck_assert_uint_eq(cmos_get(c, 0x34) | cmos_get(c, 0x35) << 8, ((3u << 30) - (16u << 20)) >> 16);
    ck_assert_uint_eq(cmos_get(c, 0x5b) | cmos_get(c, 0x5c) << 8 | cmos_get(c, 0x5d) << 16,
                      (1u << 30) >> 16);
    ck_assert_uint_eq(cmos_get(c, 0x5f), 3);
    kvm_cmos_free(c);
    /* 12 MiB: extended memory in KiB above 1 MiB, nothing over 16 MiB. */
    c = kvm_cmos_new(&th.host, 12ull << 20, 0, 1);
    ck_assert_uint_eq(cmos_get(c, 0x17) | cmos_get(c, 0x18) << 8, 11 * 1024);
    ck_assert_uint_eq(cmos_get(c, 0x34) | cmos_get(c, 0x35) << 8, 0);
    ck_assert_uint_eq(cmos_get(c, 0x5b) | cmos_get(c, 0x5c) << 8 | cmos_get(c, 0x5d) << 16, 0);
    ck_assert_uint_eq(cmos_get(c, 0x5f), 0);
    kvm_cmos_free(c);
}
END_TEST

START_TEST(cmos_clock)
{
    struct kvm_cmos *c = kvm_cmos_new(&th.host, 16ull << 20, 0, 1);
    ck_assert_uint_eq(cmos_get(c, 0x0b) & 0x06, 0x02); /* 24-hour, BCD */
    for (int tries = 0;; tries++) {
        time_t before = time(NULL);
        int sec = from_bcd(cmos_get(c, 0x00)), min = from_bcd(cmos_get(c, 0x02));
        int hour = from_bcd(cmos_get(c, 0x04)), wday = from_bcd(cmos_get(c, 0x06));
        int mday = from_bcd(cmos_get(c, 0x07)), mon = from_bcd(cmos_get(c, 0x08));
        int year = from_bcd(cmos_get(c, 0x09)), century = from_bcd(cmos_get(c, 0x32));
        time_t after = time(NULL);
        if (before != after && tries < 5)
            continue; /* a second ticked over while reading */
        struct tm tm;
        gmtime_r(&before, &tm);
        ck_assert_int_eq(sec, tm.tm_sec);
        ck_assert_int_eq(min, tm.tm_min);
        ck_assert_int_eq(hour, tm.tm_hour);
        ck_assert_int_eq(wday, tm.tm_wday + 1);
        ck_assert_int_eq(mday, tm.tm_mday);
        ck_assert_int_eq(mon, tm.tm_mon + 1);
        ck_assert_int_eq(century * 100 + year, tm.tm_year + 1900);
        break;
    }
    /* The clock is not settable: a written second is not read back. */
    test_out(kvm_cmos_io, c, 0, 1, 0x00);
    test_out(kvm_cmos_io, c, 1, 1, 0x99);
    ck_assert_uint_ne(cmos_get(c, 0x00), 0x99);
    kvm_cmos_free(c);
}
END_TEST

START_TEST(cmos_index_nmi_and_status)
{
    struct kvm_cmos *c = kvm_cmos_new(&th.host, 16ull << 20, 0, 1);
    /* Bit 7 of the index is the NMI mask, not part of the index. */
    test_out(kvm_cmos_io, c, 0, 1, 0x80 | 0x40);
    test_out(kvm_cmos_io, c, 1, 1, 0x5a);
    ck_assert_uint_eq(cmos_get(c, 0x40), 0x5a);
    test_out(kvm_cmos_io, c, 0, 1, 0xff);
    test_out(kvm_cmos_io, c, 1, 1, 0xa5);
    ck_assert_uint_eq(cmos_get(c, 0x7f), 0xa5);
    /* The index port reads 0xff. */
    ck_assert_uint_eq(test_in(kvm_cmos_io, c, 0, 1), 0xff);
    /* A 2-byte write sets index and data at once. */
    test_out(kvm_cmos_io, c, 0, 2, 0x3c << 8 | 0x41);
    ck_assert_uint_eq(cmos_get(c, 0x41), 0x3c);
    /* Register D (battery good) and C are read-only; A and B are not. */
    test_out(kvm_cmos_io, c, 0, 2, 0x00 << 8 | 0x0d);
    ck_assert_uint_eq(cmos_get(c, 0x0d), 0x80);
    test_out(kvm_cmos_io, c, 0, 2, 0x26 << 8 | 0x0a);
    ck_assert_uint_eq(cmos_get(c, 0x0a), 0x26);
    test_out(kvm_cmos_io, c, 0, 2, 0xff << 8 | 0x0c);
    ck_assert_uint_eq(cmos_get(c, 0x0c), 0x00);
    ck_assert_int_eq(th.irq_calls, 0);
    kvm_cmos_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_devices");
    TCase *tc = tcase_create("devices");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, uart_thr_to_console);
    tcase_add_test(tc, uart_rx_fifo_and_irq);
    tcase_add_test(tc, uart_thr_empty_irq);
    tcase_add_test(tc, uart_dlab_and_scratch);
    tcase_add_test(tc, uart_overrun);
    tcase_add_test(tc, i8042_self_test_and_command_byte);
    tcase_add_test(tc, i8042_reset_line);
    tcase_add_test(tc, debug_exit_status);
    tcase_add_test(tc, acpi_pm_s5_powers_off);
    tcase_add_test(tc, acpi_pm_power_button_sci);
    tcase_add_test(tc, acpi_pm_timer_runs);
    tcase_add_test(tc, fw_cfg_items_and_files);
    tcase_add_test(tc, cmos_memory_and_cpus);
    tcase_add_test(tc, cmos_clock);
    tcase_add_test(tc, cmos_index_nmi_and_status);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
