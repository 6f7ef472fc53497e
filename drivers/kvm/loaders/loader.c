/* Picking the loader for a kernel file, and what every loader shares:
 * reading files, the memory map, bounds-checked copies into the guest. */
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "../kvm.h"

int kvm_loader_read(const char *path, const char *role, uint8_t **data, size_t *len)
{
    g_autoptr(GError) err = NULL;
    gchar *buf = NULL;
    gsize n = 0;
    if (!g_file_get_contents(path, &buf, &n, &err)) {
        int code = g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)   ? QV_ERR_NOT_FOUND
                   : g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_ACCES) ? QV_ERR_PERMISSION
                                                                            : QV_ERR_IO;
        return qv_error_set(code, "cannot read %s: %s", role, err->message);
    }
    *data = (uint8_t *)buf;
    *len = n;
    return 0;
}

unsigned kvm_loader_e820(const struct kvm_machine *m, struct kvm_e820 out[8])
{
    uint64_t low = kvm_memory_low_size(m->ram_size);
    unsigned n = 0;
    out[n++] = (struct kvm_e820){0, 0x9fc00, E820_RAM};
    out[n++] = (struct kvm_e820){0x9fc00, 0x400, E820_RESERVED};
    out[n++] = (struct kvm_e820){0xe0000, 0x20000, E820_RESERVED};
    if (low > BOOT_HIGH)
        out[n++] = (struct kvm_e820){BOOT_HIGH, low - BOOT_HIGH, E820_RAM};
    if (m->ram_size > low)
        out[n++] = (struct kvm_e820){KVM_4G, m->ram_size - low, E820_RAM};
    return n;
}

int kvm_loader_put(struct kvm_machine *m, const char *file, uint64_t gpa, const void *src,
                   size_t len, const char *what)
{
    if (len == 0)
        return 0;
    void *dst = kvm_memory_hva(m, gpa, len);
    if (!dst)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "%s: %s (0x%zx bytes at 0x%llx) does not fit in the VM's %llu MiB "
                            "of RAM",
                            file, what, len, (unsigned long long)gpa,
                            (unsigned long long)(m->ram_size >> 20));
    if (src)
        memcpy(dst, src, len);
    else
        memset(dst, 0, len);
    return 0;
}

int kvm_load_kernel(struct kvm_machine *m)
{
    const char *path = m->def->os.kernel;
    g_autofree uint8_t *img = NULL;
    size_t len = 0;
    if (kvm_loader_read(path, "kernel", &img, &len) < 0)
        return qv_error_code();
    if (len == 0)
        return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s is empty", path);
    if (len >= 0x206 && memcmp(img + 0x202, "HdrS", 4) == 0)
        return kvm_load_bzimage(m, path, img, len);
    if (len >= EI_NIDENT && memcmp(img, ELFMAG, SELFMAG) == 0) {
        if (img[EI_CLASS] == ELFCLASS64)
            return kvm_load_elf64(m, path, img, len);
        if (img[EI_CLASS] == ELFCLASS32) {
            long off = kvm_multiboot_find(img, len);
            if (off < 0)
                return qv_error_set(QV_ERR_INVALID_ARG,
                                    "kernel %s is a 32-bit ELF without a multiboot header in "
                                    "its first 8 KiB; 32-bit kernels boot through multiboot",
                                    path);
            return kvm_load_multiboot(m, path, img, len, (size_t)off);
        }
        return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: unknown ELF class %u", path,
                            img[EI_CLASS]);
    }
    long off = kvm_multiboot_find(img, len);
    if (off >= 0)
        return kvm_load_multiboot(m, path, img, len, (size_t)off);
    return kvm_load_flat(m, path, img, len);
}
