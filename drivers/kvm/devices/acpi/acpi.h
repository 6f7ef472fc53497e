/* ACPI fixed hardware (PM1 event and control, PM timer): 12 bytes of ports
 * that the board places (QEMU's PIIX4 address, 0x600, on a PC) and
 * describes in the FADT (firmware/acpi_tables.c). */
#ifndef QV_KVM_ACPI_H
#define QV_KVM_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "../bus.h"
#include "../dev_host.h"

#define ACPI_PM_LEN 12
/* The sleep type of S5 that the DSDT's _S5_ names and the PM device acts on. */
#define ACPI_S5_SLP_TYP 5

struct kvm_acpi_pm;

/* sci: the interrupt line of the SCI (level-triggered, active high). */
struct kvm_acpi_pm *kvm_acpi_pm_new(const struct kvm_dev_host *host, uint32_t sci);
void kvm_acpi_pm_free(struct kvm_acpi_pm *pm);
void kvm_acpi_pm_io(void *pm, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
/* Press the power button. Returns whether the guest listens for it (ACPI
 * enabled and the power-button event enabled). */
bool kvm_acpi_pm_power_button(struct kvm_acpi_pm *pm);

/* Snapshot state (see devices.h): PM1 status, enable and control, and the
 * PM timer's count, which goes on counting from there after a load; the
 * SCI line is driven to the restored level. */
struct snap_out;
struct snap_in;
#define KVM_ACPI_PM_STATE_VERSION 1
int kvm_acpi_pm_save(const struct kvm_acpi_pm *pm, struct snap_out *o);
int kvm_acpi_pm_load(struct kvm_acpi_pm *pm, struct snap_in *in);

#endif
