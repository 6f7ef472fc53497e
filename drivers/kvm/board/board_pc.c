/* The pc board: QEMU's pc machine's legacy devices at QEMU's addresses, so
 * test kernels written for `qemu-system-x86_64 -kernel` run unchanged.
 * Adding a device is its file in devices/ plus one row in pc_rows. */
#include <glib.h>

#include "../../../lib/util/error.h"
#include "../devices/acpi/acpi.h"
#include "../devices/chardev.h"
#include "../devices/devices.h"
#include "../firmware/firmware.h"
#include "../loaders/image.h"
#include "../virtio/virtio_mmio.h"
#include "../virtio/virtio_state.h"
#include "board.h"
#include "board_state.h"

#define NO_IRQ UINT32_MAX

struct kvm_board {
    const struct kvm_dev_host *host;
    struct kvm_bus *pio, *mmio;
    uint64_t ram_size;
    uint32_t ncpus;
    uint32_t *apic_ids;
    void **dev; /* [G_N_ELEMENTS(pc_rows)]: each row's device */
    struct kvm_chardev *console;
    GArray *slots;   /* struct kvm_board_slot */
    GArray *virtios; /* struct virtio_row, one per slot */
};

struct virtio_row {
    const struct kvm_board_transport *t;
    struct virtio_dev *vd;
    const char *name; /* the device's ops->name, for errors */
};

typedef const struct kvm_board_config board_cfg;

/* Adapters from the board's values to each device's constructor. */
static void *new_i8042(struct kvm_board *b, board_cfg *cfg, uint32_t irq)
{
    (void)cfg;
    (void)irq;
    return kvm_i8042_new(b->host);
}

static void free_i8042(void *d)
{
    kvm_i8042_free(d);
}

static int save_i8042(const void *d, struct snap_out *o)
{
    return kvm_i8042_save(d, o);
}

static int load_i8042(void *d, struct snap_in *in)
{
    return kvm_i8042_load(d, in);
}

static void *new_cmos(struct kvm_board *b, board_cfg *cfg, uint32_t irq)
{
    (void)irq;
    uint64_t below = kvm_ld_low_size(cfg->ram_size);
    return kvm_cmos_new(b->host, below, cfg->ram_size - below, cfg->ncpus);
}

static void free_cmos(void *d)
{
    kvm_cmos_free(d);
}

static int save_cmos(const void *d, struct snap_out *o)
{
    return kvm_cmos_save(d, o);
}

static int load_cmos(void *d, struct snap_in *in)
{
    return kvm_cmos_load(d, in);
}

static void *new_debug_exit(struct kvm_board *b, board_cfg *cfg, uint32_t irq)
{
    (void)cfg;
    (void)irq;
    return kvm_debug_exit_new(b->host);
}

static void free_debug_exit(void *d)
{
    kvm_debug_exit_free(d);
}

static int save_debug_exit(const void *d, struct snap_out *o)
{
    return kvm_debug_exit_save(d, o);
}

static int load_debug_exit(void *d, struct snap_in *in)
{
    return kvm_debug_exit_load(d, in);
}

static void *new_uart(struct kvm_board *b, board_cfg *cfg, uint32_t irq)
{
    (void)cfg;
    return kvm_uart_new(b->host, irq);
}

static void free_uart(void *d)
{
    kvm_uart_free(d);
}

static int save_uart(const void *d, struct snap_out *o)
{
    return kvm_uart_save(d, o);
}

static int load_uart(void *d, struct snap_in *in)
{
    return kvm_uart_load(d, in);
}

static void *new_acpi_pm(struct kvm_board *b, board_cfg *cfg, uint32_t irq)
{
    (void)cfg;
    return kvm_acpi_pm_new(b->host, irq);
}

static void free_acpi_pm(void *d)
{
    kvm_acpi_pm_free(d);
}

static int save_acpi_pm(const void *d, struct snap_out *o)
{
    return kvm_acpi_pm_save(d, o);
}

static int load_acpi_pm(void *d, struct snap_in *in)
{
    return kvm_acpi_pm_load(d, in);
}

/* With the memory map as etc/e820. */
static void *new_fw_cfg(struct kvm_board *b, board_cfg *cfg, uint32_t irq)
{
    (void)irq;
    struct kvm_fw_cfg_info info = {.uuid = cfg->uuid,
                                   .ram_size = cfg->ram_size,
                                   .vcpus = (uint16_t)cfg->ncpus,
                                   .max_vcpus = (uint16_t)cfg->max_cpus};
    struct kvm_fw_cfg *f = kvm_fw_cfg_new(b->host, &info);
    uint8_t e820[FW_E820_FILE_MAX];
    size_t len = kvm_fw_e820_file(cfg->ram_size, e820);
    if (kvm_fw_cfg_add_file(f, "etc/e820", e820, len) < 0) {
        kvm_fw_cfg_free(f);
        return NULL;
    }
    return f;
}

static void free_fw_cfg(void *d)
{
    kvm_fw_cfg_free(d);
}

static int save_fw_cfg(const void *d, struct snap_out *o)
{
    return kvm_fw_cfg_save(d, o);
}

static int load_fw_cfg(void *d, struct snap_in *in)
{
    return kvm_fw_cfg_load(d, in);
}

struct pc_row {
    const char *name;
    uint64_t base, len; /* on the port-I/O bus */
    uint32_t irq;       /* ISA IRQ = IOAPIC GSI, or NO_IRQ */
    /* NULL: another range of the device of the row above. */
    void *(*create)(struct kvm_board *b, board_cfg *cfg, uint32_t irq);
    kvm_bus_fn io;
    void (*destroy)(void *dev);
    /* Its snapshot section: "NAME@0xBASE" in layout version (board_state.c);
     * NULL for the rows that share a device. */
    const char *state;
    uint32_t version;
    int (*save)(const void *dev, struct snap_out *o);
    int (*load)(void *dev, struct snap_in *in);
};

enum { ROW_I8042, ROW_I8042_CMD, ROW_CMOS, ROW_DEBUG_EXIT, ROW_UART, ROW_FW_CFG, ROW_ACPI_PM };

static const struct pc_row pc_rows[] = {
    [ROW_I8042] = {"i8042", 0x60, 1, NO_IRQ, new_i8042, kvm_i8042_data_io, free_i8042, "i8042",
                   KVM_I8042_STATE_VERSION, save_i8042, load_i8042},
    [ROW_I8042_CMD] = {"i8042", 0x64, 1, NO_IRQ, NULL, kvm_i8042_cmd_io, NULL},
    /* The RTC's IRQ 8 is not raised: no alarm or periodic interrupt yet. */
    [ROW_CMOS] = {"cmos", 0x70, 2, NO_IRQ, new_cmos, kvm_cmos_io, free_cmos, "cmos",
                  KVM_CMOS_STATE_VERSION, save_cmos, load_cmos},
    [ROW_DEBUG_EXIT] = {"isa-debug-exit", 0xf4, 4, NO_IRQ, new_debug_exit, kvm_debug_exit_io,
                        free_debug_exit, "debug-exit", KVM_DEBUG_EXIT_STATE_VERSION,
                        save_debug_exit, load_debug_exit},
    [ROW_UART] = {"serial", 0x3f8, 8, 4, new_uart, kvm_uart_io, free_uart, "uart",
                  KVM_UART_STATE_VERSION, save_uart, load_uart},
    [ROW_FW_CFG] = {"fw_cfg", 0x510, 2, NO_IRQ, new_fw_cfg, kvm_fw_cfg_io, free_fw_cfg, "fw_cfg",
                    KVM_FW_CFG_STATE_VERSION, save_fw_cfg, load_fw_cfg},
    [ROW_ACPI_PM] = {"acpi-pm", 0x600, ACPI_PM_LEN, 9, new_acpi_pm, kvm_acpi_pm_io, free_acpi_pm,
                     "acpi-pm", KVM_ACPI_PM_STATE_VERSION, save_acpi_pm, load_acpi_pm},
};

/* IOAPIC lines no device of this board drives, in the order virtio-mmio
 * devices get them. ISA lines, so the MP table and MADT already route
 * them (edge-triggered, active high, as for any ISA IRQ). */
static const uint32_t pc_virtio_gsis[] = {5, 10, 11, 12, 7, 3, 6, 14, 15};
G_STATIC_ASSERT(G_N_ELEMENTS(pc_virtio_gsis) == KVM_BOARD_VIRTIO_MAX);

struct kvm_board *kvm_board_pc_new(const struct kvm_dev_host *host,
                                   const struct kvm_board_config *cfg, struct kvm_bus *pio,
                                   struct kvm_bus *mmio)
{
    struct kvm_board *b = g_new0(struct kvm_board, 1);
    b->host = host;
    b->pio = pio;
    b->mmio = mmio;
    b->ram_size = cfg->ram_size;
    b->ncpus = cfg->ncpus;
    b->apic_ids = g_memdup2(cfg->apic_ids, sizeof(uint32_t) * cfg->ncpus);
    b->dev = g_new0(void *, G_N_ELEMENTS(pc_rows));
    b->slots = g_array_new(FALSE, TRUE, sizeof(struct kvm_board_slot));
    b->virtios = g_array_new(FALSE, TRUE, sizeof(struct virtio_row));
    for (size_t i = 0; i < G_N_ELEMENTS(pc_rows); i++) {
        const struct pc_row *r = &pc_rows[i];
        b->dev[i] = r->create ? r->create(b, cfg, r->irq) : b->dev[i - 1];
        if (!b->dev[i]) {
            if (!qv_error_code())
                qv_error_set(QV_ERR_INTERNAL, "VM '%s': cannot build device %s", host->vm_name,
                             r->name);
            goto fail;
        }
        if (kvm_bus_claim(pio, r->base, r->len, r->io, b->dev[i], r->name) < 0)
            goto fail;
    }
    return b;
fail:
    kvm_board_free(b);
    return NULL;
}

void kvm_board_free(struct kvm_board *b)
{
    if (!b)
        return;
    /* The console first: its reader thread feeds the UART. */
    kvm_chardev_close(b->console);
    for (guint i = 0; i < b->virtios->len; i++) {
        const struct virtio_row *v = &g_array_index(b->virtios, struct virtio_row, i);
        v->t->free(v->vd);
    }
    /* Rows without create share the device of a row above. */
    for (size_t i = 0; i < G_N_ELEMENTS(pc_rows); i++)
        if (b->dev[i] && pc_rows[i].create)
            pc_rows[i].destroy(b->dev[i]);
    g_array_free(b->virtios, TRUE);
    g_array_free(b->slots, TRUE);
    g_free(b->dev);
    g_free(b->apic_ids);
    g_free(b);
}

const struct kvm_board_transport kvm_board_virtio_mmio = {
    .create = virtio_mmio_new,
    .io = virtio_mmio_io,
    .free = virtio_mmio_free,
    .state_kind = "virtio-mmio",
    .state_version = VIRTIO_MMIO_STATE_VERSION,
    .quiesce = virtio_dev_quiesce,
    .unquiesce = virtio_dev_unquiesce,
    .save = virtio_dev_save,
    .load = virtio_dev_load,
};

int kvm_board_add_virtio(struct kvm_board *b, const struct kvm_board_transport *t,
                         const struct virtio_dev_ops *ops, void *dev)
{
    uint32_t i = b->slots->len;
    if (i >= G_N_ELEMENTS(pc_virtio_gsis)) {
        qv_error_set(QV_ERR_UNSUPPORTED,
                     "VM '%s': the pc board has room for %zu virtio-mmio devices; %s would be "
                     "number %u",
                     b->host->vm_name, G_N_ELEMENTS(pc_virtio_gsis), ops->name, i + 1);
        if (ops->free)
            ops->free(dev);
        return QV_ERR_UNSUPPORTED;
    }
    struct kvm_board_slot s = {.base = KVM_BOARD_VIRTIO_BASE + i * KVM_BOARD_VIRTIO_STEP,
                               .len = KVM_BOARD_VIRTIO_STEP,
                               .gsi = pc_virtio_gsis[i]};
    struct virtio_dev *vd = t->create(b->host, s.base, s.gsi, ops, dev);
    if (!vd) {
        int rc = qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
        if (ops->free)
            ops->free(dev);
        return rc;
    }
    if (kvm_bus_claim(b->mmio, s.base, s.len, t->io, vd, ops->name) < 0) {
        int rc = qv_error_code();
        t->free(vd); /* and dev with it */
        return rc;
    }
    struct virtio_row row = {t, vd, ops->name};
    g_array_append_val(b->virtios, row);
    g_array_append_val(b->slots, s);
    return 0;
}

uint32_t kvm_board_virtio_count(const struct kvm_board *b)
{
    return b->slots->len;
}

const struct kvm_board_slot *kvm_board_virtio_slots(const struct kvm_board *b)
{
    return (const struct kvm_board_slot *)(const void *)b->slots->data;
}

static void to_uart(void *opaque, const uint8_t *buf, size_t len)
{
    kvm_uart_receive(opaque, buf, len);
}

static int open_console(struct kvm_board *b, const struct kvm_board_boot *boot)
{
    if (b->console)
        return 0;
    const struct qv_chardev *serial = NULL;
    if (boot->console_config(boot->opaque, &serial) < 0)
        return qv_error_code();
    b->console = kvm_chardev_open(serial, b->host->vm_name);
    if (!b->console)
        return qv_error_code();
    kvm_uart_connect(b->dev[ROW_UART], b->console);
    kvm_chardev_start_input(b->console, to_uart, b->dev[ROW_UART]);
    return 0;
}

int kvm_board_power_on(struct kvm_board *b, const struct kvm_board_boot *boot)
{
    struct kvm_fw_machine fm = {.host = b->host,
                                .ram_size = b->ram_size,
                                .apic_ids = b->apic_ids,
                                .ncpus = b->ncpus,
                                .acpi_pm_base = (uint16_t)pc_rows[ROW_ACPI_PM].base,
                                .sci_irq = pc_rows[ROW_ACPI_PM].irq};
    g_autofree char *announce =
        kvm_board_announce(kvm_board_virtio_slots(b), kvm_board_virtio_count(b));
    if (boot->load_kernel(boot->opaque, announce) < 0 || kvm_fw_mptable_write(&fm) < 0 ||
        kvm_fw_acpi_write(&fm) < 0)
        return qv_error_code();
    return open_console(b, boot);
}

void kvm_board_release_virtio(struct kvm_board *b)
{
    if (!b)
        return;
    for (guint i = 0; i < b->virtios->len; i++) {
        const struct virtio_row *v = &g_array_index(b->virtios, struct virtio_row, i);
        kvm_bus_unclaim(b->mmio, g_array_index(b->slots, struct kvm_board_slot, i).base);
        v->t->free(v->vd);
    }
    g_array_set_size(b->virtios, 0);
    g_array_set_size(b->slots, 0);
}

void kvm_board_stopped(struct kvm_board *b)
{
    if (b && b->console)
        kvm_chardev_flush(b->console);
}

bool kvm_board_power_button(struct kvm_board *b)
{
    return b && kvm_acpi_pm_power_button(b->dev[ROW_ACPI_PM]);
}

struct kvm_chardev *kvm_board_console(struct kvm_board *b)
{
    return b ? b->console : NULL;
}

GArray *kvm_board_state_devs(struct kvm_board *b)
{
    GArray *a = g_array_new(FALSE, TRUE, sizeof(struct kvm_board_state_dev));
    for (size_t i = 0; i < G_N_ELEMENTS(pc_rows); i++) {
        const struct pc_row *r = &pc_rows[i];
        if (!r->state)
            continue;
        struct kvm_board_state_dev d = {
            .version = r->version, .dev = b->dev[i], .save = r->save, .load = r->load};
        g_snprintf(d.name, sizeof(d.name), "%s@0x%llx", r->state, (unsigned long long)r->base);
        g_array_append_val(a, d);
    }
    for (guint i = 0; i < b->virtios->len; i++) {
        const struct virtio_row *v = &g_array_index(b->virtios, struct virtio_row, i);
        const struct kvm_board_slot *s = &g_array_index(b->slots, struct kvm_board_slot, i);
        struct kvm_board_state_dev d = {
            .version = v->t->state_version, .vd = v->vd, .t = v->t, .what = v->name};
        g_snprintf(d.name, sizeof(d.name), "%s@0x%llx",
                   v->t->state_kind ? v->t->state_kind : "virtio", (unsigned long long)s->base);
        g_array_append_val(a, d);
    }
    return a;
}
