/* Which devices a booted machine has, where they sit, and their lifecycle
 * hooks. Addresses follow QEMU's pc machine so test kernels written for
 * `qemu-system-x86_64 -kernel` run unchanged. */
#include "devices.h"

#include <glib.h>

#include "../../../lib/util/error.h"
#include "../kvm.h"
#include "../loaders/loader.h"
#include "acpi/acpi.h"
#include "chardev.h"

int kvm_devices_create(struct kvm_machine *m)
{
    struct kvm_devices *d = g_new0(struct kvm_devices, 1);
    m->devs = d;
    d->uart = kvm_uart_new(m, 0x3f8, 4);
    d->i8042 = kvm_i8042_new(m);
    d->debug_exit = kvm_debug_exit_new(m, 0xf4, 4);
    d->fw_cfg = kvm_fw_cfg_new(m);
    d->cmos = kvm_cmos_new(m);
    d->pm = kvm_acpi_pm_new(m);
    if (!d->uart || !d->i8042 || !d->debug_exit || !d->fw_cfg || !d->cmos || !d->pm)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    /* etc/e820 as QEMU provides it: the RAM entries, 20 bytes each. */
    struct kvm_e820 e[8];
    unsigned n = kvm_ld_e820(m->ram_size, e);
    uint8_t buf[8 * 20];
    unsigned used = 0;
    for (unsigned i = 0; i < n; i++) {
        if (e[i].type != E820_RAM)
            continue;
        kvm_bus_put(buf + used * 20, 8, e[i].addr);
        kvm_bus_put(buf + used * 20 + 8, 8, e[i].size);
        kvm_bus_put(buf + used * 20 + 16, 4, e[i].type);
        used++;
    }
    return kvm_fw_cfg_add_file(d->fw_cfg, "etc/e820", buf, used * 20);
}

void kvm_devices_free(struct kvm_machine *m)
{
    struct kvm_devices *d = m->devs;
    if (!d)
        return;
    /* The console first: its reader thread feeds the UART. */
    kvm_chardev_close(d->console);
    kvm_uart_free(d->uart);
    kvm_i8042_free(d->i8042);
    kvm_debug_exit_free(d->debug_exit);
    kvm_fw_cfg_free(d->fw_cfg);
    kvm_cmos_free(d->cmos);
    kvm_acpi_pm_free(d->pm);
    g_free(d);
    m->devs = NULL;
}

static void to_uart(void *opaque, const uint8_t *buf, size_t len)
{
    kvm_uart_receive(opaque, buf, len);
}

int kvm_devices_start(struct kvm_machine *m)
{
    struct kvm_devices *d = m->devs;
    if (d->console)
        return 0;
    /* Checked at define time; a definition that got past it some other way
     * is still refused rather than half-honoured. */
    const struct qv_chardev *cfg = NULL;
    int rc = qv_domain_serial_port(m->def, "kvm", &cfg);
    if (rc < 0)
        return rc;
    d->console = kvm_chardev_open(cfg, kvm_machine_name(m));
    if (!d->console)
        return qv_error_code();
    kvm_uart_connect(d->uart, d->console);
    kvm_chardev_start_input(d->console, to_uart, d->uart);
    return 0;
}

void kvm_devices_stopped(struct kvm_machine *m)
{
    if (m->devs && m->devs->console)
        kvm_chardev_flush(m->devs->console);
}

bool kvm_devices_request_poweroff(struct kvm_machine *m)
{
    return m->devs && m->devs->pm && kvm_acpi_pm_power_button(m->devs->pm);
}
