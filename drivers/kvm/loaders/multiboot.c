/* Multiboot v1, loaded and entered as `qemu-system-x86_64 -kernel` does:
 * an ELF32 (or a.out-kludge image) with a multiboot header, the info
 * structure with memory sizes, memory map, command line ("<kernel path>
 * <cmdline>", as QEMU builds it) and the <initrd> as a module; EAX =
 * 0x2BADB002, EBX = the info's address, 32-bit flat protected mode. */
#include <elf.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "image.h"

#define MB_MAGIC 0x1BADB002u
#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_SEARCH 8192
#define MB_AOUT_KLUDGE 0x10000u

enum {
    INFO_MEM = 1 << 0,
    INFO_BOOTDEV = 1 << 1,
    INFO_CMDLINE = 1 << 2,
    INFO_MODS = 1 << 3,
    INFO_MMAP = 1 << 6,
    INFO_LOADER = 1 << 9
};

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

long kvm_multiboot_find(const uint8_t *img, size_t len)
{
    for (size_t off = 0; off + 12 <= len && off < MB_SEARCH; off += 4) {
        uint32_t magic = rd32(img + off), flags = rd32(img + off + 4);
        if (magic == MB_MAGIC && (uint32_t)(magic + flags + rd32(img + off + 8)) == 0)
            return (long)off;
    }
    return -1;
}

static int bad(const char *path, const char *what)
{
    return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: %s", path, what);
}

static int load_aout(struct kvm_ld *ld, const uint8_t *img, size_t len, size_t hdr, uint64_t *entry,
                     uint64_t *end)
{
    const char *path = ld->kernel;
    if (len < 32 || hdr > len - 32)
        return bad(path, "truncated multiboot header");
    uint32_t header_addr = rd32(img + hdr + 12), load_addr = rd32(img + hdr + 16);
    uint32_t load_end = rd32(img + hdr + 20), bss_end = rd32(img + hdr + 24);
    *entry = rd32(img + hdr + 28);
    if (load_addr > header_addr || header_addr - load_addr > hdr)
        return bad(path, "multiboot header addresses are inconsistent");
    if (load_end && load_end < load_addr)
        return bad(path, "multiboot load_end_addr is below load_addr");
    size_t file_off = hdr - (header_addr - load_addr);
    uint64_t size = load_end ? (uint64_t)load_end - load_addr : len - file_off;
    if (size > len - file_off)
        return bad(path, "the image is shorter than its multiboot header says (truncated?)");
    *end = (uint64_t)load_addr + size;
    uint64_t bss = bss_end > *end ? bss_end - *end : 0;
    if (kvm_ld_claim(ld, path, load_addr, size + bss, "the multiboot image") < 0 ||
        kvm_ld_write(ld, load_addr, img + file_off, size) < 0 ||
        kvm_ld_write(ld, *end, NULL, bss) < 0)
        return -1;
    *end += bss;
    return 0;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* Where the info's parts go in BOOT_MB_PAGE (the info itself at
 * BOOT_MB_INFO, 0x9500, where QEMU puts it). */
#define MB_MMAP (BOOT_MB_PAGE + 0x100)
#define MB_MODS (BOOT_MB_PAGE + 0x400)
#define MB_INFO_SIZE 0x1000ull

int kvm_ld_multiboot(struct kvm_ld *ld, const uint8_t *img, size_t len, size_t hdr)
{
    const char *path = ld->kernel;
    if (len < 12 || hdr > len - 12)
        return bad(path, "truncated multiboot header");
    /* Command line, loader name and module name go to BOOT_CMDLINE. QEMU
     * joins path and command line with a space even when there is none. */
    g_autofree char *user = kvm_ld_cmdline_join(ld->cmdline, ld->announce);
    g_autofree char *cmdline = g_strdup_printf("%s %s", path, user);
    size_t cl = strlen(cmdline) + 1;
    if (cl > BOOT_CMDLINE_MAX / 2)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "kernel %s: the command line is too long (%zu bytes; at most %llu)",
                            path, cl, BOOT_CMDLINE_MAX / 2);
    size_t il = ld->initrd ? strlen(ld->initrd) + 1 : 0;
    if (il > BOOT_CMDLINE_MAX / 2 - 3)
        return qv_error_set(QV_ERR_INVALID_ARG, "initrd path %s is too long for multiboot",
                            ld->initrd);
    uint64_t name_at = BOOT_CMDLINE + cl, mstr = name_at + 3;
    if (kvm_ld_reserve(ld, false) < 0 ||
        kvm_ld_claim(ld, path, BOOT_MB_PAGE, MB_INFO_SIZE, "the multiboot information") < 0 ||
        kvm_ld_claim(ld, path, BOOT_MB_STACK - BOOT_MB_STACK_SIZE, BOOT_MB_STACK_SIZE,
                     "the multiboot stack") < 0 ||
        kvm_ld_claim(ld, path, BOOT_CMDLINE, cl + 3 + il, "the command line") < 0)
        return -1;

    uint32_t flags = rd32(img + hdr + 4);
    uint64_t entry = 0, end = 0;
    int rc = (flags & MB_AOUT_KLUDGE) ? load_aout(ld, img, len, hdr, &entry, &end)
                                      : kvm_ld_elf(ld, img, len, EM_386, &entry, &end);
    if (rc < 0)
        return -1;
    if (kvm_ld_write(ld, BOOT_CMDLINE, cmdline, cl) < 0 || kvm_ld_write(ld, name_at, "qv", 3) < 0)
        return -1;

    uint8_t info[88] = {0};
    /* Modules are flagged with none, as QEMU does. */
    uint32_t iflags = INFO_MEM | INFO_BOOTDEV | INFO_CMDLINE | INFO_MODS | INFO_MMAP | INFO_LOADER;
    uint64_t low = kvm_ld_low_size(ld->ram_size);
    wr32(info + 4, (uint32_t)(BOOT_HOLE / 1024)); /* 639: the memory map's first region */
    wr32(info + 24, (uint32_t)MB_MODS);
    wr32(info + 8, low > BOOT_HIGH ? (uint32_t)((low - BOOT_HIGH) / 1024) : 0);
    wr32(info + 12, 0x8000ffff); /* boot device: first hard disk, as QEMU says */
    wr32(info + 16, (uint32_t)BOOT_CMDLINE);
    wr32(info + 64, (uint32_t)name_at);

    /* The module: the initrd, page-aligned after the kernel and never below
     * 1 MiB. */
    if (ld->initrd) {
        size_t mlen = ld->initrd_len;
        uint64_t at = (MAX(end, BOOT_HIGH) + 0xfff) & ~0xfffull;
        if (at > low || mlen > low - at)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "initrd %s (%zu bytes) does not fit below the VM's %llu MiB of "
                                "low RAM after the kernel",
                                ld->initrd, mlen, (unsigned long long)(low >> 20));
        if (kvm_ld_place(ld, ld->initrd, at, ld->initrd_data, mlen, "the multiboot module") < 0 ||
            kvm_ld_write(ld, mstr, ld->initrd, il) < 0)
            return -1;
        uint8_t entry_buf[16] = {0};
        wr32(entry_buf, (uint32_t)at);
        wr32(entry_buf + 4, (uint32_t)(at + mlen));
        wr32(entry_buf + 8, (uint32_t)mstr);
        if (kvm_ld_write(ld, MB_MODS, entry_buf, 16) < 0)
            return -1;
        iflags |= INFO_MODS;
        wr32(info + 20, 1);
        wr32(info + 24, (uint32_t)MB_MODS);
    }

    struct kvm_e820 e[8];
    unsigned n = kvm_ld_e820(ld->ram_size, e);
    uint8_t mmap[8 * 24];
    for (unsigned i = 0; i < n; i++) {
        wr32(mmap + i * 24, 20);
        wr64(mmap + i * 24 + 4, e[i].addr);
        wr64(mmap + i * 24 + 12, e[i].size);
        wr32(mmap + i * 24 + 20, e[i].type);
    }
    if (kvm_ld_write(ld, MB_MMAP, mmap, n * 24) < 0)
        return -1;
    wr32(info + 44, n * 24);
    wr32(info + 48, (uint32_t)MB_MMAP);
    wr32(info, iflags);
    if (kvm_ld_write(ld, BOOT_MB_INFO, info, sizeof(info)) < 0)
        return -1;
    /* Both an ELF32 e_entry and the header's entry_addr are 32 bits. */
    return kvm_ld_boot_multiboot(ld, (uint32_t)entry, MB_BOOT_MAGIC, (uint32_t)BOOT_MB_INFO);
}
