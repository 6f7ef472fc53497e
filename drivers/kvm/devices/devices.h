/* The legacy PC devices of a booted machine, and the hooks the machine
 * calls at start, stop and teardown. */
#ifndef QV_KVM_DEVICES_H
#define QV_KVM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_machine;
struct kvm_uart;
struct kvm_i8042;
struct kvm_debug_exit;
struct kvm_fw_cfg;
struct kvm_cmos;
struct kvm_chardev;
struct kvm_acpi_pm;

struct kvm_devices {
    struct kvm_uart *uart;
    struct kvm_i8042 *i8042;
    struct kvm_debug_exit *debug_exit;
    struct kvm_fw_cfg *fw_cfg;
    struct kvm_cmos *cmos;
    struct kvm_acpi_pm *pm;
    struct kvm_chardev *console;
};

int kvm_devices_create(struct kvm_machine *m);
void kvm_devices_free(struct kvm_machine *m);
/* Open the console backend and connect it to the UART. */
int kvm_devices_start(struct kvm_machine *m);
/* Called (under the machine lock) when the last vCPU thread ends. */
void kvm_devices_stopped(struct kvm_machine *m);
/* Ask the guest to power off (ACPI power button). false when the guest
 * has no way to hear it. */
bool kvm_devices_request_poweroff(struct kvm_machine *m);

struct kvm_uart *kvm_uart_new(struct kvm_machine *m, uint16_t base, uint32_t irq);
void kvm_uart_free(struct kvm_uart *u);
void kvm_uart_connect(struct kvm_uart *u, struct kvm_chardev *chr);
/* Bytes from the console for the guest. Returns how many fit. */
size_t kvm_uart_receive(struct kvm_uart *u, const uint8_t *buf, size_t len);

struct kvm_i8042 *kvm_i8042_new(struct kvm_machine *m);
void kvm_i8042_free(struct kvm_i8042 *k);

struct kvm_debug_exit *kvm_debug_exit_new(struct kvm_machine *m, uint16_t base, uint16_t size);
void kvm_debug_exit_free(struct kvm_debug_exit *d);

struct kvm_fw_cfg *kvm_fw_cfg_new(struct kvm_machine *m);
void kvm_fw_cfg_free(struct kvm_fw_cfg *f);
/* Add a named file (copied); selectors are given in order from 0x20. */
int kvm_fw_cfg_add_file(struct kvm_fw_cfg *f, const char *name, const void *data, size_t len);

/* Write the MP table into guest memory (at every power-on). */
int kvm_mptable_write(struct kvm_machine *m);

struct kvm_cmos *kvm_cmos_new(struct kvm_machine *m);
void kvm_cmos_free(struct kvm_cmos *c);

#endif
