/* Loading a kernel image into plain guest RAM, without KVM: what every
 * loader shares. kvm_load_kernel (loader.c) wraps this for a machine: it
 * reads the files, runs kvm_ld_load over the machine's RAM and puts the boot
 * vCPU into ld.entry's state. Tests and fuzz targets run it over a buffer.
 *
 * Low memory layout (below the EBDA at 0x9fc00):
 *   0x0500  boot GDT            0x5f08  multiboot stack (ESP 0x6f08, as QEMU)
 *   0x7000  Linux zero page     0x9000  identity-mapping page tables (to 0xefff),
 *                                       or multiboot memory map and modules,
 *                                       info at 0x9500 (as QEMU)
 *   0x20000 command line        0x80000 initial stack (ELF64, flat), grows down
 * Every area a loader writes is claimed first: an image segment, initrd or
 * module that would overlap another area, the 0x9fc00-0xfffff hole or the
 * PCI hole is refused with both named. */
#ifndef QV_KVM_LOADERS_IMAGE_H
#define QV_KVM_LOADERS_IMAGE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOOT_GDT 0x500ull
#define BOOT_GDT_SIZE 32ull
#define BOOT_MB_GDT_SIZE 40ull /* the claim: the larger of the two GDTs */
#define BOOT_MB_PAGE 0x9000ull /* multiboot only: no page tables then */
#define BOOT_MB_INFO 0x9500ull
#define BOOT_MB_STACK 0x6f08ull
#define BOOT_MB_STACK_SIZE 0x1000ull
#define BOOT_ZERO_PAGE 0x7000ull
#define BOOT_PML4 0x9000ull
#define BOOT_PT_END 0xf000ull /* PML4, PDPT and four page directories */
#define BOOT_CMDLINE 0x20000ull
#define BOOT_CMDLINE_MAX 0x10000ull
#define BOOT_STACK 0x80000ull
#define BOOT_STACK_SIZE 0x4000ull /* what is kept free below BOOT_STACK */
#define BOOT_HOLE 0x9fc00ull      /* EBDA, VGA, option ROMs, BIOS: to 1 MiB */
#define BOOT_HIGH 0x100000ull     /* where kernels go: 1 MiB */
#define BOOT_PCI_HOLE 0xc0000000ull
#define BOOT_4G 0x100000000ull

#define E820_RAM 1
#define E820_RESERVED 2

struct kvm_e820 {
    uint64_t addr, size;
    uint32_t type;
};

/* The boot vCPU's state at entry: 32-bit flat protected mode, or long mode
 * on the identity map at BOOT_PML4; segments from the GDT at BOOT_GDT,
 * code at selector cs and data at ds, gdt_limit bytes of it. */
struct kvm_ld_entry {
    bool long_mode;
    uint16_t cs, ds, gdt_limit, idt_limit;
    uint64_t rip, rsp, rax, rbx, rcx, rdx, rsi, rdi, rflags;
};

struct kvm_ld_area {
    uint64_t start, end; /* [start, end) */
    char *what;
};

struct kvm_ld {
    /* Guest RAM as the pc machine maps it: ram[0, low) at guest address 0,
     * the rest (when ram_size is over 3.5 GiB) from 4 GiB. */
    uint8_t *ram;
    uint64_t ram_size;
    const char *kernel;  /* its path, for messages */
    const char *cmdline; /* NULL: none */
    /* The board's parameters for the kernel (NULL: none): added to the
     * command line of the formats that carry one (kvm_ld_cmdline_join). */
    const char *announce;
    const char *initrd; /* its path; NULL: none */
    const uint8_t *initrd_data;
    size_t initrd_len;
    GArray *areas; /* struct kvm_ld_area, what is placed so far */
    struct kvm_ld_entry entry;
};

void kvm_ld_init(struct kvm_ld *ld, uint8_t *ram, uint64_t ram_size, const char *kernel);
void kvm_ld_clear(struct kvm_ld *ld);

/* Recognise the format and load it. QV_ERR_INVALID_ARG naming the file and
 * the problem. */
int kvm_ld_load(struct kvm_ld *ld, const uint8_t *img, size_t len);

/* cmdline with extra's words added after the user's and before a "--"
 * word (whose followers go to init). NULL or empty extra: cmdline as it
 * is. Never NULL. */
char *kvm_ld_cmdline_join(const char *cmdline, const char *extra);

/* RAM below 4 GiB for a machine of ram bytes. */
uint64_t kvm_ld_low_size(uint64_t ram);
/* The memory map guests are given; returns the number of entries. */
unsigned kvm_ld_e820(uint64_t ram_size, struct kvm_e820 out[8]);

/* Reserve [gpa, gpa + len) for what (a printf format), refusing an overlap
 * with an earlier area or the holes, and an area outside RAM. file names
 * the file the data comes from. */
int kvm_ld_claim(struct kvm_ld *ld, const char *file, uint64_t gpa, uint64_t len, const char *what,
                 ...) G_GNUC_PRINTF(5, 6);
/* Copy len bytes (src NULL: zeros) into claimed guest RAM. */
int kvm_ld_write(struct kvm_ld *ld, uint64_t gpa, const void *src, uint64_t len);
/* Both: claim, then copy. */
int kvm_ld_place(struct kvm_ld *ld, const char *file, uint64_t gpa, const void *src, uint64_t len,
                 const char *what);

/* An ELF executable for machine (EM_386: ELF32, EM_X86_64: ELF64): check
 * its headers against the file and place every PT_LOAD segment at its
 * physical address, bss zeroed. *entry is e_entry, *end the end of the
 * highest segment. */
int kvm_ld_elf(struct kvm_ld *ld, const uint8_t *img, size_t len, uint16_t machine, uint64_t *entry,
               uint64_t *end);

/* boot.c: claim the GDT (and for long mode the page tables and stack);
 * every loader does this first, so that an image overlapping them is
 * refused naming them. */
int kvm_ld_reserve(struct kvm_ld *ld, bool long_mode);
/* Write what kvm_ld_reserve claimed, and set ld->entry. */
/* A multiboot kernel's entry: 32-bit flat protected mode as QEMU's
 * multiboot option ROM leaves it (docs/drivers.md lists what differs). */
int kvm_ld_boot_multiboot(struct kvm_ld *ld, uint32_t entry, uint32_t eax, uint32_t ebx);
int kvm_ld_boot_long64(struct kvm_ld *ld, uint64_t entry, uint64_t rsi);

/* The offset of a multiboot v1 header in the first 8 KiB, or -1. */
long kvm_multiboot_find(const uint8_t *img, size_t len);
int kvm_ld_multiboot(struct kvm_ld *ld, const uint8_t *img, size_t len, size_t hdr_off);
/* QV_ERR_INVALID_ARG when ld has an initrd or a command line, which a
 * kernel of format ("an ELF64") has no way to receive. */
int kvm_ld_no_boot_info(struct kvm_ld *ld, const char *format);
int kvm_ld_elf64(struct kvm_ld *ld, const uint8_t *img, size_t len);
int kvm_ld_flat(struct kvm_ld *ld, const uint8_t *img, size_t len);
int kvm_ld_bzimage(struct kvm_ld *ld, const uint8_t *img, size_t len);

#endif
