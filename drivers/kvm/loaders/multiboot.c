/* Multiboot v1, loaded and entered as `qemu-system-x86_64 -kernel` does:
 * an ELF32 (or a.out-kludge image) with a multiboot header, the info
 * structure with memory sizes, memory map, command line ("<kernel path>
 * <cmdline>", as QEMU builds it) and the <initrd> as a module; EAX =
 * 0x2BADB002, EBX = the info's address, 32-bit flat protected mode. */
#include <elf.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "../kvm.h"
#include "loader.h"

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

static int load_aout(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len,
                     size_t hdr, uint64_t *entry, uint64_t *end)
{
    if (hdr + 32 > len)
        return bad(path, "truncated multiboot header");
    uint32_t header_addr = rd32(img + hdr + 12), load_addr = rd32(img + hdr + 16);
    uint32_t load_end = rd32(img + hdr + 20), bss_end = rd32(img + hdr + 24);
    *entry = rd32(img + hdr + 28);
    if (load_addr > header_addr || header_addr - load_addr > hdr)
        return bad(path, "multiboot header addresses are inconsistent");
    size_t file_off = hdr - (header_addr - load_addr);
    uint64_t size = load_end ? (uint64_t)load_end - load_addr : len - file_off;
    if (load_end && load_end < load_addr)
        return bad(path, "multiboot load_end_addr is below load_addr");
    if (size > len - file_off)
        return bad(path, "the image is shorter than its multiboot header says (truncated?)");
    if (kvm_loader_put(m, path, load_addr, img + file_off, size, "the image") < 0)
        return -1;
    *end = (uint64_t)load_addr + size;
    if (bss_end > *end) {
        if (kvm_loader_put(m, path, *end, NULL, bss_end - *end, "the bss") < 0)
            return -1;
        *end = bss_end;
    }
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

int kvm_load_multiboot(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len,
                       size_t hdr)
{
    uint32_t flags = rd32(img + hdr + 4);
    uint64_t entry = 0, end = 0;
    int rc = (flags & MB_AOUT_KLUDGE) ? load_aout(m, path, img, len, hdr, &entry, &end)
                                      : kvm_loader_elf(m, path, img, len, EM_386, &entry, &end);
    if (rc < 0)
        return -1;
    const struct qv_domain *def = m->def;

    /* Command line and loader name go to BOOT_CMDLINE. */
    /* QEMU joins them with a space even when there is no cmdline. */
    g_autofree char *cmdline =
        g_strdup_printf("%s %s", path, def->os.cmdline ? def->os.cmdline : "");
    size_t cl = strlen(cmdline) + 1;
    if (cl > BOOT_CMDLINE_MAX / 2)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "kernel %s: the command line is too long (%zu "
                            "bytes; at most %llu)",
                            path, cl, BOOT_CMDLINE_MAX / 2);
    if (kvm_loader_put(m, path, BOOT_CMDLINE, cmdline, cl, "the command line") < 0)
        return -1;
    uint64_t name_at = BOOT_CMDLINE + cl;
    if (kvm_loader_put(m, path, name_at, "qv", 3, "the loader name") < 0)
        return -1;

    uint8_t info[88] = {0};
    uint32_t iflags = INFO_MEM | INFO_BOOTDEV | INFO_CMDLINE | INFO_MMAP | INFO_LOADER;
    uint64_t low = kvm_memory_low_size(m->ram_size);
    wr32(info + 4, 640);
    wr32(info + 8, (uint32_t)((low - BOOT_HIGH) / 1024));
    wr32(info + 12, 0x8000ffff); /* boot device: first hard disk, as QEMU says */
    wr32(info + 16, (uint32_t)BOOT_CMDLINE);
    wr32(info + 64, (uint32_t)name_at);

    /* The module: the initrd, placed page-aligned after the kernel. */
    if (def->os.initrd) {
        g_autofree uint8_t *mod = NULL;
        size_t mlen = 0;
        if (kvm_loader_read(def->os.initrd, "initrd", &mod, &mlen) < 0)
            return -1;
        uint64_t at = (end + 0xfff) & ~0xfffull;
        if (at + mlen > low)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "initrd %s (%zu bytes) does not fit below the VM's %llu MiB of "
                                "low RAM after the kernel",
                                def->os.initrd, mlen, (unsigned long long)(low >> 20));
        if (kvm_loader_put(m, def->os.initrd, at, mod, mlen, "the module") < 0)
            return -1;
        size_t il = strlen(def->os.initrd) + 1;
        uint64_t mstr = name_at + 3;
        if (mstr + il > BOOT_CMDLINE + BOOT_CMDLINE_MAX ||
            kvm_loader_put(m, path, mstr, def->os.initrd, il, "the module name") < 0)
            return -1;
        uint8_t entry_buf[16] = {0};
        wr32(entry_buf, (uint32_t)at);
        wr32(entry_buf + 4, (uint32_t)(at + mlen));
        wr32(entry_buf + 8, (uint32_t)mstr);
        if (kvm_loader_put(m, path, BOOT_MB_INFO + 0x400, entry_buf, 16, "the module list") < 0)
            return -1;
        iflags |= INFO_MODS;
        wr32(info + 20, 1);
        wr32(info + 24, (uint32_t)(BOOT_MB_INFO + 0x400));
    }

    struct kvm_e820 e[8];
    unsigned n = kvm_loader_e820(m, e);
    uint8_t mmap[8 * 24];
    for (unsigned i = 0; i < n; i++) {
        wr32(mmap + i * 24, 20);
        wr64(mmap + i * 24 + 4, e[i].addr);
        wr64(mmap + i * 24 + 12, e[i].size);
        wr32(mmap + i * 24 + 20, e[i].type);
    }
    if (kvm_loader_put(m, path, BOOT_MB_INFO + 0x100, mmap, n * 24, "the memory map") < 0)
        return -1;
    wr32(info + 44, n * 24);
    wr32(info + 48, (uint32_t)(BOOT_MB_INFO + 0x100));
    wr32(info, iflags);
    if (kvm_loader_put(m, path, BOOT_MB_INFO, info, sizeof(info), "the multiboot info") < 0)
        return -1;
    /* Both an ELF32 e_entry and the header's entry_addr are 32 bits. */
    return kvm_boot_protected32(m->vcpus[0], (uint32_t)entry, MB_BOOT_MAGIC,
                                (uint32_t)BOOT_MB_INFO);
}
