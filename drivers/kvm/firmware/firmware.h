/* Firmware writers: the tables a BIOS would leave in guest memory (MP
 * table, ACPI) and the fw_cfg files derived from the memory map. The board
 * runs them at every power-on, in a fixed order (board/board_pc.c), over
 * guest RAM reached through the device host. They take the machine's
 * shape as plain values, so they run over a malloc'd buffer in tests. */
#ifndef QV_KVM_FIRMWARE_H
#define QV_KVM_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

#include "../devices/dev_host.h"

#define FW_LAPIC_BASE 0xfee00000u
#define FW_IOAPIC_BASE 0xfec00000u

/* The machine as the tables describe it. */
struct kvm_fw_machine {
    const struct kvm_dev_host *host;
    uint64_t ram_size;        /* for messages */
    const uint32_t *apic_ids; /* [ncpus]; index 0 is the BSP */
    uint32_t ncpus;
    uint16_t acpi_pm_base; /* the PM device's ports (devices/acpi) */
    uint32_t sci_irq;
};

/* Copy len bytes to guest RAM (src NULL: zeros), failing with a message
 * naming file and what when they do not fit in RAM. */
int kvm_fw_put(const struct kvm_fw_machine *fm, const char *file, uint64_t gpa, const void *src,
               size_t len, const char *what);

/* The Intel MP table at 0xf0000. */
int kvm_fw_mptable_write(const struct kvm_fw_machine *fm);
/* RSDP at 0xe0000, then RSDT, XSDT, FADT, FACS, DSDT and MADT. */
#define FW_ACPI_TABLES 0xe0000ull
int kvm_fw_acpi_write(const struct kvm_fw_machine *fm);

/* fw_cfg's etc/e820 as QEMU provides it: the RAM entries of the memory map,
 * 20 bytes each, into buf. Returns its length. */
#define FW_E820_FILE_MAX (8 * 20)
size_t kvm_fw_e820_file(uint64_t ram_size, uint8_t buf[FW_E820_FILE_MAX]);

#endif
