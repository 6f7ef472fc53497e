/* The pc board over plain buses and a recording device host: where every
 * device sits, the virtio-mmio windows and their announcement on the
 * kernel command line, the power-on order and the firmware tables it
 * writes. No /dev/kvm needed. */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/kvm/board/board.h"
#include "drivers/kvm/devices/chardev.h"
#include "drivers/kvm/firmware/firmware.h"
#include "drivers/kvm/loaders/image.h"
#include "drivers/kvm/virtio/virtio_rng.h"
#include "kvm_test_host.h"
#include "lib/util/error.h"

#define RAM (32ull << 20)

static struct test_host th;
static struct kvm_bus pio, mmio;
static const uint32_t apic2[] = {0, 2};

static void reset_records(void);

static void setup(void)
{
    reset_records();
    test_host_init(&th, RAM);
    memset(&pio, 0, sizeof(pio));
    memset(&mmio, 0, sizeof(mmio));
}

static void teardown(void)
{
    kvm_bus_clear(&pio);
    kvm_bus_clear(&mmio);
    test_host_clear(&th);
}

static struct kvm_board *new_board(void)
{
    struct kvm_board_config cfg = {.ram_size = RAM,
                                   .ncpus = 2,
                                   .max_cpus = 4,
                                   .apic_ids = apic2,
                                   .uuid = "00000000-0000-0000-0000-000000000001"};
    return kvm_board_pc_new(&th.host, &cfg, &pio, &mmio);
}

static uint64_t pin(uint16_t port, uint32_t size)
{
    uint8_t d[8] = {0};
    ck_assert_msg(kvm_bus_dispatch(&pio, port, d, size, false), "nothing at port 0x%x", port);
    return kvm_bus_get(d, size);
}

static void pout(uint16_t port, uint32_t size, uint64_t v)
{
    uint8_t d[8];
    kvm_bus_put(d, size, v);
    ck_assert_msg(kvm_bus_dispatch(&pio, port, d, size, true), "nothing at port 0x%x", port);
}

START_TEST(pc_devices_where_qemu_has_them)
{
    struct kvm_board *b = new_board();
    ck_assert_ptr_nonnull(b);
    /* Exactly these ranges, and nothing on the MMIO bus yet. */
    static const struct {
        uint64_t base, len;
        const char *name;
    } want[] = {{0x60, 1, "i8042"},          {0x64, 1, "i8042"},   {0x70, 2, "cmos"},
                {0xf4, 4, "isa-debug-exit"}, {0x3f8, 8, "serial"}, {0x510, 2, "fw_cfg"},
                {0x600, 12, "acpi-pm"}};
    ck_assert_uint_eq(pio.count, G_N_ELEMENTS(want));
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        ck_assert_uint_eq(pio.ranges[i].base, want[i].base);
        ck_assert_uint_eq(pio.ranges[i].len, want[i].len);
        ck_assert_str_eq(pio.ranges[i].name, want[i].name);
    }
    ck_assert_uint_eq(mmio.count, 0);
    /* Each answers as that device: fw_cfg's signature, the CMOS CPU count,
     * the UART's line status, the i8042 self-test, ACPI's SCI_EN. */
    pout(0x510, 2, 0);
    ck_assert_uint_eq(pin(0x511, 1), 'Q');
    pout(0x70, 1, 0x5f);
    ck_assert_uint_eq(pin(0x71, 1), 1);
    ck_assert_uint_eq(pin(0x3fd, 1) & 0x60, 0x60);
    pout(0x64, 1, 0xaa);
    ck_assert_uint_eq(pin(0x60, 1), 0x55);
    ck_assert_uint_eq(pin(0x604, 2) & 1, 1);
    /* The UART drives IRQ 4, the SCI IRQ 9. */
    pout(0x3f9, 1, 0x02);
    ck_assert_int_eq(th.level[4], 1);
    pout(0x602, 2, 0x100);
    ck_assert(kvm_board_power_button(b));
    ck_assert_int_eq(th.level[9], 1);
    /* fw_cfg carries the memory map as etc/e820, at selector 0x20. */
    uint8_t e820[FW_E820_FILE_MAX], got[FW_E820_FILE_MAX];
    size_t len = kvm_fw_e820_file(RAM, e820);
    ck_assert_uint_eq(len, 40); /* below 640 KiB, and from 1 MiB */
    pout(0x510, 2, 0x20);
    for (size_t i = 0; i < len; i++)
        got[i] = (uint8_t)pin(0x511, 1);
    ck_assert(memcmp(e820, got, len) == 0);
    ck_assert_uint_eq(kvm_bus_get(got + 20, 8), 1 << 20);
    ck_assert_uint_eq(kvm_bus_get(got + 28, 8), RAM - (1 << 20));
    pout(0xf4, 1, 0);
    ck_assert_int_eq(th.stops, 1);
    ck_assert_int_eq(th.exit_status, 1);
    kvm_board_free(b);
}
END_TEST

START_TEST(second_board_on_same_buses_refused)
{
    struct kvm_board *b = new_board();
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(new_board());
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "i8042"));
    kvm_board_free(b);
}
END_TEST

/* A transport that records where it was built. */
static int created, freed;
static uint64_t io_at[16];
static int io_dev[16], ios;

struct fake_vd {
    int n;
    uint64_t base;
    uint32_t gsi;
};

static struct virtio_dev *fake_create(const struct kvm_dev_host *host, uint64_t base, uint32_t gsi,
                                      const struct virtio_dev_ops *ops, void *dev)
{
    ck_assert_ptr_eq(host, &th.host);
    ck_assert_ptr_nonnull(ops);
    if (dev == NULL)
        return qv_error_set(QV_ERR_INVALID_ARG, "fake transport refused"), NULL;
    struct fake_vd *f = g_new0(struct fake_vd, 1);
    *f = (struct fake_vd){++created, base, gsi};
    return (struct virtio_dev *)f;
}

static void fake_io(void *vd, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    (void)data;
    (void)size;
    (void)is_write;
    io_at[ios] = offset;
    io_dev[ios++] = ((struct fake_vd *)vd)->n;
}

static void fake_free(struct virtio_dev *vd)
{
    freed++;
    g_free(vd);
}

static const struct kvm_board_transport fake = {fake_create, fake_io, fake_free};
static const struct virtio_dev_ops blk_ops = {.name = "virtio-blk", .device_id = VIRTIO_ID_BLOCK};

static char *announced;
static int load_calls, console_calls;
static char serial_log[256];

static int load_kernel(void *opaque, const char *announce)
{
    ck_assert_ptr_eq(opaque, &th);
    load_calls++;
    announced = g_strdup(announce);
    /* What a kernel image would leave where the tables go: overwritten. */
    memset(th.ram + 0xe0000, 0xcc, 0x20000);
    return 0;
}

static int console_config(void *opaque, const struct qv_chardev **cfg)
{
    ck_assert_ptr_eq(opaque, &th);
    console_calls++;
    /* The tables are in place by now. */
    ck_assert(memcmp(th.ram + 0xf0000, "_MP_", 4) == 0);
    ck_assert(memcmp(th.ram + 0xe0000, "RSD PTR ", 8) == 0);
    static struct qv_chardev c = {.type = QV_CHR_FILE};
    c.path = serial_log;
    *cfg = &c;
    return 0;
}

static const struct kvm_board_boot boot = {load_kernel, console_config, &th};

/* Each case starts from nothing recorded, forked or not (CK_FORK=no). */
static void reset_records(void)
{
    created = freed = ios = load_calls = console_calls = 0;
    g_clear_pointer(&announced, g_free);
}

START_TEST(virtio_rows_placed_and_announced)
{
    struct kvm_board *b = new_board();
    int devs[10];
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(kvm_board_add_virtio(b, &fake, &blk_ops, &devs[i]), 0);
    /* Nine windows from 0xe0000000, 0x200 apart, on free ISA lines. */
    static const uint32_t gsis[] = {5, 10, 11, 12, 7, 3, 6, 14, 15};
    ck_assert_uint_eq(kvm_board_virtio_count(b), 9);
    const struct kvm_board_slot *s = kvm_board_virtio_slots(b);
    for (int i = 0; i < 9; i++) {
        ck_assert_uint_eq(s[i].base, 0xe0000000ull + 0x200ull * (unsigned)i);
        ck_assert_uint_eq(s[i].len, 0x200);
        ck_assert_uint_eq(s[i].gsi, gsis[i]);
    }
    ck_assert_uint_eq(mmio.count, 9);
    /* An access goes to the transport of its window, offset in it. */
    uint8_t d[4] = {0};
    ck_assert(kvm_bus_dispatch(&mmio, 0xe0000200 + 0x70, d, 4, false));
    ck_assert(!kvm_bus_dispatch(&mmio, 0xe0000000 + 9 * 0x200, d, 4, false));
    ck_assert_int_eq(ios, 1);
    ck_assert_int_eq(io_dev[0], 2);
    ck_assert_uint_eq(io_at[0], 0x70);
    /* A tenth has no line left: refused naming the device. */
    ck_assert_int_eq(kvm_board_add_virtio(b, &fake, &blk_ops, &devs[9]), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "virtio-blk"));
    ck_assert_int_eq(created, 9);

    g_autofree char *dir = g_dir_make_tmp("qv-board-XXXXXX", NULL);
    g_snprintf(serial_log, sizeof(serial_log), "%s/serial.log", dir);
    ck_assert_int_eq(kvm_board_power_on(b, &boot), 0);
    ck_assert_int_eq(load_calls, 1);
    ck_assert_int_eq(console_calls, 1);
    ck_assert_ptr_nonnull(strstr(announced, "virtio_mmio.device=0x200@0xe0000000:5 "
                                            "virtio_mmio.device=0x200@0xe0000200:10 "));
    ck_assert_ptr_nonnull(strstr(announced, " virtio_mmio.device=0x200@0xe0001000:15"));
    g_clear_pointer(&announced, g_free);
    /* The console is the UART's: bytes written to COM1 land in the file. */
    struct kvm_chardev *con = kvm_board_console(b);
    ck_assert_ptr_nonnull(con);
    g_autofree char *ep = g_strdup_printf("file:%s", serial_log);
    ck_assert_str_eq(kvm_chardev_endpoint(con), ep);
    pout(0x3f8, 1, 'k');
    kvm_board_stopped(b);
    g_autofree char *got = NULL;
    ck_assert(g_file_get_contents(serial_log, &got, NULL, NULL));
    ck_assert_str_eq(got, "k");
    kvm_board_free(b);
    ck_assert_int_eq(freed, 9);
    unlink(serial_log);
    rmdir(dir);
}
END_TEST

START_TEST(virtio_transport_failure_claims_nothing)
{
    struct kvm_board *b = new_board();
    ck_assert_int_eq(kvm_board_add_virtio(b, &fake, &blk_ops, NULL), QV_ERR_INVALID_ARG);
    ck_assert_uint_eq(kvm_board_virtio_count(b), 0);
    ck_assert_uint_eq(mmio.count, 0);
    /* A window someone else holds: the transport is freed, not leaked. */
    ck_assert_int_eq(kvm_bus_claim(&mmio, 0xe0000000, 0x10, fake_io, NULL, "other"), 0);
    int dev;
    ck_assert_int_eq(kvm_board_add_virtio(b, &fake, &blk_ops, &dev), QV_ERR_EXISTS);
    ck_assert_int_eq(created, 1);
    ck_assert_int_eq(freed, 1);
    ck_assert_uint_eq(kvm_board_virtio_count(b), 0);
    kvm_board_free(b);
}
END_TEST

/* The real transport whose window is taken: the board owns the device
 * state it was given and frees it once (a second free aborted here). */
START_TEST(virtio_window_taken_frees_the_state_once)
{
    struct kvm_board *b = new_board();
    ck_assert_int_eq(kvm_bus_claim(&mmio, 0xe0000000, 0x10, fake_io, NULL, "other"), 0);
    ck_assert_int_eq(
        kvm_board_add_virtio(b, &kvm_board_virtio_mmio, &virtio_rng_ops, virtio_rng_state_new()),
        QV_ERR_EXISTS);
    ck_assert_uint_eq(kvm_board_virtio_count(b), 0);
    kvm_board_free(b);
}
END_TEST

/* The VM stopped: its virtio devices are freed and their windows read as
 * nothing; freeing the board afterwards frees nothing twice. */
START_TEST(virtio_released_at_stop)
{
    struct kvm_board *b = new_board();
    int blk;
    ck_assert_int_eq(kvm_board_add_virtio(b, &fake, &blk_ops, &blk), 0);
    ck_assert_int_eq(
        kvm_board_add_virtio(b, &kvm_board_virtio_mmio, &virtio_rng_ops, virtio_rng_state_new()),
        0);
    ck_assert_uint_eq(mmio.count, 2);
    kvm_board_release_virtio(b);
    ck_assert_int_eq(freed, 1);
    ck_assert_uint_eq(kvm_board_virtio_count(b), 0);
    ck_assert_uint_eq(mmio.count, 0);
    uint8_t d[4];
    ck_assert(!kvm_bus_dispatch(&mmio, 0xe0000200, d, 4, false));
    kvm_board_free(b);
    ck_assert_int_eq(freed, 1);
}
END_TEST

static uint32_t mmio_in(uint64_t addr)
{
    uint8_t d[4] = {0};
    ck_assert_msg(kvm_bus_dispatch(&mmio, addr, d, 4, false), "nothing at 0x%llx",
                  (unsigned long long)addr);
    return (uint32_t)kvm_bus_get(d, 4);
}

/* The real transport in a board window: the guest finds a virtio-mmio
 * Version 2 entropy device where the command line says. */
START_TEST(virtio_rng_in_a_window)
{
    struct kvm_board *b = new_board();
    int blk;
    ck_assert_int_eq(kvm_board_add_virtio(b, &fake, &blk_ops, &blk), 0);
    ck_assert_int_eq(
        kvm_board_add_virtio(b, &kvm_board_virtio_mmio, &virtio_rng_ops, virtio_rng_state_new()),
        0);
    const struct kvm_board_slot *s = kvm_board_virtio_slots(b);
    ck_assert_uint_eq(s[1].base, 0xe0000200);
    ck_assert_uint_eq(s[1].gsi, 10);
    ck_assert_uint_eq(mmio_in(0xe0000200), 0x74726976); /* "virt" */
    ck_assert_uint_eq(mmio_in(0xe0000204), 2);
    ck_assert_uint_eq(mmio_in(0xe0000208), VIRTIO_ID_RNG);
    ck_assert_str_eq(mmio.ranges[1].name, virtio_rng_ops.name);
    kvm_board_free(b);
    ck_assert_int_eq(freed, 1);
}
END_TEST

START_TEST(no_virtio_no_announcement)
{
    ck_assert_ptr_null(kvm_board_announce(NULL, 0));
    struct kvm_board *b = new_board();
    g_autofree char *dir = g_dir_make_tmp("qv-board-XXXXXX", NULL);
    g_snprintf(serial_log, sizeof(serial_log), "%s/serial.log", dir);
    ck_assert_int_eq(kvm_board_power_on(b, &boot), 0);
    ck_assert_ptr_null(announced);
    kvm_board_free(b);
    unlink(serial_log);
    rmdir(dir);
}
END_TEST

static int refuse_console(void *opaque, const struct qv_chardev **cfg)
{
    (void)opaque;
    *cfg = NULL;
    return qv_error_set(QV_ERR_UNSUPPORTED, "no such console here");
}

static int refuse_kernel(void *opaque, const char *announce)
{
    (void)opaque;
    (void)announce;
    load_calls++;
    return qv_error_set(QV_ERR_INVALID_ARG, "kernel /k is empty");
}

START_TEST(power_on_failures_reported)
{
    struct kvm_board *b = new_board();
    struct kvm_board_boot bad = {refuse_kernel, console_config, &th};
    ck_assert_int_eq(kvm_board_power_on(b, &bad), QV_ERR_INVALID_ARG);
    ck_assert_int_eq(console_calls, 0);
    ck_assert(memcmp(th.ram + 0xf0000, "_MP_", 4) != 0); /* nothing after the kernel */
    struct kvm_board_boot bad2 = {load_kernel, refuse_console, &th};
    ck_assert_int_eq(kvm_board_power_on(b, &bad2), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_null(kvm_board_console(b));
    g_clear_pointer(&announced, g_free);
    kvm_board_free(b);
}
END_TEST

/* ---- the firmware tables ---- */

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static uint32_t rd32(uint64_t gpa)
{
    return (uint32_t)kvm_bus_get(th.ram + gpa, 4);
}

START_TEST(mp_table_lists_cpus_and_ioapic)
{
    static const uint32_t apic[] = {0, 2, 5};
    struct kvm_fw_machine fm = {&th.host, RAM, apic, 3, 0x600, 9};
    ck_assert_int_eq(kvm_fw_mptable_write(&fm), 0);
    const uint8_t *fp = th.ram + 0xf0000;
    ck_assert(memcmp(fp, "_MP_", 4) == 0);
    ck_assert_uint_eq(sum(fp, 16), 0);
    uint32_t at = rd32(0xf0004);
    const uint8_t *t = th.ram + at;
    ck_assert(memcmp(t, "PCMP", 4) == 0);
    uint16_t len = (uint16_t)kvm_bus_get(t + 4, 2);
    ck_assert_uint_eq(sum(t, len), 0);
    ck_assert_uint_eq(rd32(at + 36), 0xfee00000);
    const uint8_t *e = t + 44;
    for (int i = 0; i < 3; i++, e += 20) {
        ck_assert_uint_eq(e[0], 0);
        ck_assert_uint_eq(e[1], apic[i]);
        ck_assert_uint_eq(e[3], i == 0 ? 3 : 1); /* enabled; the first is the BSP */
    }
    ck_assert_uint_eq(e[0], 1); /* the ISA bus */
    e += 8;
    ck_assert_uint_eq(e[0], 2);
    ck_assert_uint_eq(e[1], 6); /* IOAPIC ID after the highest APIC ID */
    ck_assert_uint_eq(kvm_bus_get(e + 4, 4), 0xfec00000);
}
END_TEST

START_TEST(acpi_tables_describe_the_board)
{
    static const uint32_t apic[] = {0, 1};
    struct kvm_fw_machine fm = {&th.host, RAM, apic, 2, 0x600, 9};
    ck_assert_int_eq(kvm_fw_acpi_write(&fm), 0);
    const uint8_t *rsdp = th.ram + 0xe0000;
    ck_assert(memcmp(rsdp, "RSD PTR ", 8) == 0);
    ck_assert_uint_eq(sum(rsdp, 20), 0);
    ck_assert_uint_eq(sum(rsdp, 36), 0);
    uint32_t rsdt = rd32(0xe0000 + 16);
    ck_assert(memcmp(th.ram + rsdt, "RSDT", 4) == 0);
    ck_assert_uint_eq(sum(th.ram + rsdt, rd32(rsdt + 4)), 0);
    uint32_t fadt = rd32(rsdt + 36), madt = rd32(rsdt + 40);
    ck_assert(memcmp(th.ram + fadt, "FACP", 4) == 0);
    ck_assert_uint_eq(sum(th.ram + fadt, rd32(fadt + 4)), 0);
    ck_assert_uint_eq(kvm_bus_get(th.ram + fadt + 46, 2), 9);
    ck_assert_uint_eq(rd32(fadt + 56), 0x600);
    ck_assert_uint_eq(rd32(fadt + 64), 0x604);
    ck_assert_uint_eq(rd32(fadt + 76), 0x608);
    uint32_t dsdt = rd32(fadt + 40);
    ck_assert(memcmp(th.ram + dsdt, "DSDT", 4) == 0);
    ck_assert(memmem(th.ram + dsdt, rd32(dsdt + 4), "_S5_", 4));
    ck_assert(memcmp(th.ram + madt, "APIC", 4) == 0);
    ck_assert_uint_eq(sum(th.ram + madt, rd32(madt + 4)), 0);
    ck_assert_uint_eq(th.ram[madt + 44], 0);
    ck_assert_uint_eq(th.ram[madt + 44 + 8 + 3], 1); /* the second CPU's APIC ID */
}
END_TEST

START_TEST(firmware_refusals_name_what)
{
    static const uint32_t wide[] = {0, 255};
    struct kvm_fw_machine fm = {&th.host, RAM, wide, 2, 0x600, 9};
    ck_assert_int_eq(kvm_fw_mptable_write(&fm), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "devtest"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "255"));
    ck_assert_int_eq(kvm_fw_acpi_write(&fm), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "x2APIC"));
    /* RAM ending below the BIOS area: the tables do not fit. */
    test_host_clear(&th);
    test_host_init(&th, 0xe0010);
    static const uint32_t one[] = {0};
    struct kvm_fw_machine small = {&th.host, 0xe0010, one, 1, 0x600, 9};
    ck_assert_int_eq(kvm_fw_acpi_write(&small), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "ACPI tables: the RSDP"));
    ck_assert_int_eq(kvm_fw_mptable_write(&small), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "MP table"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "0xf0000"));
}
END_TEST

/* ---- the command line ---- */

START_TEST(cmdline_join)
{
    static const struct {
        const char *user, *extra, *want;
    } c[] = {
        {NULL, NULL, ""},
        {"console=ttyS0", NULL, "console=ttyS0"},
        {"console=ttyS0", "", "console=ttyS0"},
        {NULL, "v=1", "v=1"},
        {"", "v=1", "v=1"},
        {"a b", "v=1 w=2", "a b v=1 w=2"},
        {"a b ", "v=1", "a b v=1"},
        {"a -- init args", "v=1", "a v=1 -- init args"},
        {"a  --  x", "v=1", "a  v=1 --  x"},
        {"-- x", "v=1", "v=1 -- x"},
        {"a --", "v=1", "a v=1 --"},
        {"a --x -y-- x--", "v=1", "a --x -y-- x-- v=1"},
        {"a \"q -- r\" -- s", "v=1", "a \"q -- r\" v=1 -- s"},
        {"a \"--\" s", "v=1", "a v=1 \"--\" s"},
        {"a\t--\tb", "v=1", "a\tv=1 --\tb"},
        {"a -- b -- c", "v=1", "a v=1 -- b -- c"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(c); i++) {
        g_autofree char *got = kvm_ld_cmdline_join(c[i].user, c[i].extra);
        ck_assert_msg(strcmp(got, c[i].want) == 0, "case %zu: \"%s\", want \"%s\"", i, got,
                      c[i].want);
    }
}
END_TEST

START_TEST(announce_format)
{
    struct kvm_board_slot s[2] = {{0xe0000000, 0x200, 5}, {0xe0000200, 0x200, 10}};
    g_autofree char *one = kvm_board_announce(s, 1);
    ck_assert_str_eq(one, "virtio_mmio.device=0x200@0xe0000000:5");
    g_autofree char *two = kvm_board_announce(s, 2);
    ck_assert_str_eq(
        two, "virtio_mmio.device=0x200@0xe0000000:5 virtio_mmio.device=0x200@0xe0000200:10");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_board");
    TCase *tc = tcase_create("board");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pc_devices_where_qemu_has_them);
    tcase_add_test(tc, second_board_on_same_buses_refused);
    tcase_add_test(tc, virtio_rows_placed_and_announced);
    tcase_add_test(tc, virtio_transport_failure_claims_nothing);
    tcase_add_test(tc, virtio_rng_in_a_window);
    tcase_add_test(tc, virtio_window_taken_frees_the_state_once);
    tcase_add_test(tc, virtio_released_at_stop);
    tcase_add_test(tc, no_virtio_no_announcement);
    tcase_add_test(tc, power_on_failures_reported);
    tcase_add_test(tc, mp_table_lists_cpus_and_ioapic);
    tcase_add_test(tc, acpi_tables_describe_the_board);
    tcase_add_test(tc, firmware_refusals_name_what);
    tcase_add_test(tc, cmdline_join);
    tcase_add_test(tc, announce_format);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
