/* Linux bzImage through the 64-bit boot protocol (Documentation/arch/x86/
 * boot.rst): the protected-mode kernel at 1 MiB (or its preferred address),
 * a zero page with the setup header, e820 map and command line, the initrd
 * as high as initrd_addr_max allows, entry at startup_64 with RSI = zero
 * page. */
#include <string.h>

#include "../../../lib/util/error.h"
#include "image.h"

/* Offsets in the zero page (struct boot_params). */
enum {
    BP_E820_ENTRIES = 0x1e8,
    BP_SETUP_SECTS = 0x1f1,
    BP_HDR = 0x1f1,
    BP_VERSION = 0x206,
    BP_TYPE_OF_LOADER = 0x210,
    BP_LOADFLAGS = 0x211,
    BP_RAMDISK_IMAGE = 0x218,
    BP_RAMDISK_SIZE = 0x21c,
    BP_HEAP_END_PTR = 0x224,
    BP_CMD_LINE_PTR = 0x228,
    BP_INITRD_ADDR_MAX = 0x22c,
    BP_RELOCATABLE = 0x234,
    BP_XLOADFLAGS = 0x236,
    BP_CMDLINE_SIZE = 0x238,
    BP_PREF_ADDRESS = 0x258,
    BP_INIT_SIZE = 0x260,
    BP_E820_TABLE = 0x2d0,
    BP_EXT_CMD_LINE_PTR = 0x0c8,
    BP_EXT_RAMDISK_IMAGE = 0x0c0,
    BP_EXT_RAMDISK_SIZE = 0x0c4,
};
#define XLF_KERNEL_64 0x1
#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80

static uint32_t rd(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static void wr(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int bad(const char *path, const char *what)
{
    return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: %s", path, what);
}

int kvm_ld_bzimage(struct kvm_ld *ld, const uint8_t *img, size_t len)
{
    const char *path = ld->kernel;
    if (len <= BP_SETUP_SECTS)
        return bad(path, "too short for a bzImage setup header (truncated?)");
    /* The setup sectors (at least 5 of them, 2560 bytes) hold every header
     * field read below, so once the file is longer than they are no field
     * needs its own bounds check. */
    uint32_t setup_sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
    size_t setup_size = (size_t)(setup_sects + 1) * 512;
    if (setup_size >= len)
        return bad(path, "the setup code fills the whole file (truncated?)");
    uint32_t version = rd(img + BP_VERSION, 2);
    if (version < 0x020c)
        return bad(path, "boot protocol older than 2.12 has no 64-bit entry point");
    if (!(rd(img + BP_XLOADFLAGS, 2) & XLF_KERNEL_64))
        return bad(path, "the kernel has no 64-bit entry point (XLF_KERNEL_64 unset)");
    if (!(img[BP_LOADFLAGS] & LOADED_HIGH))
        return bad(path, "a zImage (not loaded high) is not supported; use a bzImage");
    const uint8_t *kernel = img + setup_size;
    size_t klen = len - setup_size;

    /* cmdline_size excludes the NUL; 64-bit arithmetic, as it may be
     * 0xffffffff. */
    g_autofree char *cmdline = kvm_ld_cmdline_join(ld->cmdline, ld->announce);
    uint64_t cl = strlen(cmdline) + 1;
    uint64_t cl_max = MIN((uint64_t)rd(img + BP_CMDLINE_SIZE, 4) + 1, BOOT_CMDLINE_MAX);
    if (cl > cl_max)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "kernel %s accepts a command line of at most %llu bytes; it is %llu",
                            path, (unsigned long long)(cl_max - 1), (unsigned long long)(cl - 1));
    if (kvm_ld_reserve(ld, true) < 0 ||
        kvm_ld_claim(ld, path, BOOT_ZERO_PAGE, 4096, "the zero page") < 0 ||
        kvm_ld_claim(ld, path, BOOT_CMDLINE, cl, "the command line") < 0)
        return -1;

    uint64_t load = BOOT_HIGH;
    uint64_t init_size = rd(img + BP_INIT_SIZE, 4);
    if (init_size < klen)
        init_size = klen;
    uint64_t low = kvm_ld_low_size(ld->ram_size);
    if (load + init_size > low)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "kernel %s needs %llu MiB from 1 MiB up to decompress; the VM has "
                            "%llu MiB",
                            path, (unsigned long long)(init_size >> 20),
                            (unsigned long long)(ld->ram_size >> 20));
    /* All of init_size: the kernel decompresses itself in place. */
    if (kvm_ld_claim(ld, path, load, init_size, "the protected-mode kernel") < 0 ||
        kvm_ld_write(ld, load, kernel, klen) < 0)
        return -1;

    uint8_t zp[4096] = {0};
    /* The setup header, as the kernel file has it (up to 0x202 + the jump
     * at 0x200's offset: at most 0x301, inside the setup sectors). */
    size_t hdr_end = 0x202 + img[0x201];
    memcpy(zp + BP_HDR, img + BP_HDR, hdr_end - BP_HDR);
    zp[BP_TYPE_OF_LOADER] = 0xff; /* no registered loader ID */
    zp[BP_LOADFLAGS] = (uint8_t)((img[BP_LOADFLAGS] | CAN_USE_HEAP) & ~0x20);
    wr(zp + BP_HEAP_END_PTR, 0xfe00, 2);
    if (kvm_ld_write(ld, BOOT_CMDLINE, cmdline, cl) < 0)
        return -1;
    wr(zp + BP_CMD_LINE_PTR, BOOT_CMDLINE, 4);

    if (ld->initrd) {
        size_t rlen = ld->initrd_len;
        uint64_t max = rd(img + BP_INITRD_ADDR_MAX, 4);
        if (max == 0)
            max = 0x37ffffff;
        uint64_t top = MIN(max + 1, low);
        uint64_t kend = load + init_size;
        if (rlen > top || ((top - rlen) & ~0xfffull) < kend)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "initrd %s (%zu bytes) does not fit between the kernel and "
                                "0x%llx",
                                ld->initrd, rlen, (unsigned long long)top);
        uint64_t at = (top - rlen) & ~0xfffull;
        if (kvm_ld_place(ld, ld->initrd, at, ld->initrd_data, rlen, "the initrd") < 0)
            return -1;
        wr(zp + BP_RAMDISK_IMAGE, at, 4);
        wr(zp + BP_RAMDISK_SIZE, rlen, 4);
    }

    struct kvm_e820 e[8];
    unsigned n = kvm_ld_e820(ld->ram_size, e);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = zp + BP_E820_TABLE + i * 20;
        wr(p, e[i].addr, 8);
        wr(p + 8, e[i].size, 8);
        wr(p + 16, e[i].type, 4);
    }
    zp[BP_E820_ENTRIES] = (uint8_t)n;
    if (kvm_ld_write(ld, BOOT_ZERO_PAGE, zp, sizeof(zp)) < 0)
        return -1;
    /* startup_64 is 0x200 past the start of the protected-mode kernel. */
    return kvm_ld_boot_long64(ld, load + 0x200, BOOT_ZERO_PAGE);
}
