/* Kernel loaders. kvm_load_kernel() reads <os><kernel/initrd/cmdline>,
 * recognises the format and leaves guest memory and the boot vCPU ready.
 *
 * Low memory layout (all below the EBDA at 0x9fc00):
 *   0x0500  boot GDT            0x6000  multiboot info, memory map, modules
 *   0x7000  Linux zero page     0x9000  identity-mapping page tables (to 0xefff)
 *   0x20000 command line        0x80000 initial stack (ELF64, flat), grows down
 */
#ifndef QV_KVM_LOADER_H
#define QV_KVM_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct kvm_machine;
struct kvm_vcpu;

#define BOOT_GDT 0x500ull
#define BOOT_MB_INFO 0x6000ull
#define BOOT_ZERO_PAGE 0x7000ull
#define BOOT_PML4 0x9000ull
#define BOOT_CMDLINE 0x20000ull
#define BOOT_CMDLINE_MAX 0x10000ull
#define BOOT_STACK 0x80000ull
#define BOOT_HIGH 0x100000ull /* where kernels go: 1 MiB */

#define E820_RAM 1
#define E820_RESERVED 2

struct kvm_e820 {
    uint64_t addr, size;
    uint32_t type;
};

int kvm_load_kernel(struct kvm_machine *m);

/* The memory map guests are given; returns the number of entries. */
unsigned kvm_loader_e820(const struct kvm_machine *m, struct kvm_e820 out[8]);
/* Copy len bytes to guest memory, failing with a message naming the file
 * when they do not fit in RAM. */
int kvm_loader_put(struct kvm_machine *m, const char *file, uint64_t gpa, const void *src,
                   size_t len, const char *what);
/* An ELF executable for machine (EM_386: ELF32, EM_X86_64: ELF64): check
 * its headers against the file and copy every PT_LOAD segment to its
 * physical address, bss zeroed. *entry is e_entry, *end the end of the
 * highest segment. */
int kvm_loader_elf(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len,
                   uint16_t machine, uint64_t *entry, uint64_t *end);
/* Read a whole file (kernel or initrd), naming it in errors. */
int kvm_loader_read(const char *path, const char *role, uint8_t **data, size_t *len);

/* boot.c: processor state at entry. */
int kvm_boot_protected32(struct kvm_vcpu *v, uint32_t entry, uint32_t eax, uint32_t ebx);
int kvm_boot_long64(struct kvm_vcpu *v, uint64_t entry, uint64_t rsi);

int kvm_load_multiboot(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len,
                       size_t hdr_off);
/* The offset of a multiboot v1 header in the first 8 KiB, or -1. */
long kvm_multiboot_find(const uint8_t *img, size_t len);
int kvm_load_elf64(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len);
int kvm_load_flat(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len);
int kvm_load_bzimage(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len);

#endif
