/* Picking the loader for a kernel image by its content. */
#include <elf.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "image.h"

int kvm_ld_load(struct kvm_ld *ld, const uint8_t *img, size_t len)
{
    const char *path = ld->kernel;
    if (len == 0)
        return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s is empty", path);
    if (len >= 0x206 && memcmp(img + 0x202, "HdrS", 4) == 0)
        return kvm_ld_bzimage(ld, img, len);
    if (len >= EI_NIDENT && memcmp(img, ELFMAG, SELFMAG) == 0) {
        if (img[EI_CLASS] == ELFCLASS64)
            return kvm_ld_elf64(ld, img, len);
        if (img[EI_CLASS] == ELFCLASS32) {
            long off = kvm_multiboot_find(img, len);
            if (off < 0)
                return qv_error_set(QV_ERR_INVALID_ARG,
                                    "kernel %s is a 32-bit ELF without a multiboot header in "
                                    "its first 8 KiB; 32-bit kernels boot through multiboot",
                                    path);
            return kvm_ld_multiboot(ld, img, len, (size_t)off);
        }
        return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: unknown ELF class %u", path,
                            img[EI_CLASS]);
    }
    long off = kvm_multiboot_find(img, len);
    if (off >= 0)
        return kvm_ld_multiboot(ld, img, len, (size_t)off);
    return kvm_ld_flat(ld, img, len);
}

/* ELF64 and flat kernels are entered with nothing to find a command line
 * or an initrd by: refuse them rather than drop them. */
int kvm_ld_no_boot_info(struct kvm_ld *ld, const char *format)
{
    if (ld->initrd)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "kernel %s is %s, which is given no initrd; <initrd> %s needs a "
                            "multiboot or bzImage kernel",
                            ld->kernel, format, ld->initrd);
    if (ld->cmdline && *ld->cmdline)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "kernel %s is %s, which is given no command line; <cmdline> needs a "
                            "multiboot or bzImage kernel",
                            ld->kernel, format);
    return 0;
}
