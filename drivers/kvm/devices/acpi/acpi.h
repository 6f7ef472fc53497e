/* ACPI: the tables QEMU's pc machine gives a guest (RSDP, RSDT, XSDT, FADT,
 * FACS, MADT, a DSDT with _S5_) and the fixed-hardware PM registers behind
 * them (PM1 event and control, PM timer) at QEMU's PIIX4 addresses. */
#ifndef QV_KVM_ACPI_H
#define QV_KVM_ACPI_H

#include <stdbool.h>
#include <stdint.h>

struct kvm_machine;
struct kvm_acpi_pm;

#define ACPI_PM_BASE 0x600
#define ACPI_SCI_IRQ 9
#define ACPI_S5_SLP_TYP 5
#define ACPI_TABLES 0xe0000ull /* RSDP here; the rest follow */

/* Write the tables into guest memory (at every power-on). */
int kvm_acpi_write_tables(struct kvm_machine *m);

struct kvm_acpi_pm *kvm_acpi_pm_new(struct kvm_machine *m);
void kvm_acpi_pm_free(struct kvm_acpi_pm *pm);
/* Press the power button. Returns whether the guest listens for it (ACPI
 * enabled and the power-button event enabled). */
bool kvm_acpi_pm_power_button(struct kvm_acpi_pm *pm);

#endif
