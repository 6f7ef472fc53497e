/* Picking the loader for a kernel file, and what every loader shares:
 * reading files, the memory map, bounds-checked copies into the guest. */
#include "loader.h"

#include <elf.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "../kvm.h"

int kvm_loader_read(const char *path, const char *role, uint8_t **data, size_t *len)
{
    char *buf = NULL;
    if (qv_file_read(path, &buf, len) < 0) {
        qv_error_prefix("cannot read %s", role);
        return qv_error_code();
    }
    *data = (uint8_t *)buf;
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

/* One program header, whichever the ELF class. */
struct phdr {
    uint32_t type;
    uint64_t offset, paddr, filesz, memsz;
};

static void read_phdr(const uint8_t *at, bool is64, struct phdr *ph)
{
    if (is64) {
        Elf64_Phdr p;
        memcpy(&p, at, sizeof(p));
        *ph = (struct phdr){p.p_type, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz};
    } else {
        Elf32_Phdr p;
        memcpy(&p, at, sizeof(p));
        *ph = (struct phdr){p.p_type, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz};
    }
}

int kvm_loader_elf(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len,
                   uint16_t machine, uint64_t *entry, uint64_t *end)
{
    bool is64 = machine == EM_X86_64;
    size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    uint16_t type, mach, phentsize, phnum;
    uint64_t phoff;
    if (len < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
        return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: truncated ELF header", path);
    if (is64) {
        Elf64_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        type = eh.e_type, mach = eh.e_machine, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        phoff = eh.e_phoff;
        *entry = eh.e_entry;
    } else {
        Elf32_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        type = eh.e_type, mach = eh.e_machine, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        phoff = eh.e_phoff;
        *entry = eh.e_entry;
    }
    const char *why = NULL;
    if (img[EI_DATA] != ELFDATA2LSB || mach != machine)
        why = is64 ? "not a little-endian x86-64 ELF" : "not a little-endian i386 ELF";
    else if (type != ET_EXEC)
        why = "not an executable ELF (e_type is not ET_EXEC)";
    else if (phentsize != phsize || phnum == 0)
        why = "no usable program headers";
    else if (phoff > len || (uint64_t)phnum * phsize > len - phoff)
        why = "program headers run past the end of the file (truncated?)";
    if (why)
        return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: %s", path, why);
    *end = 0;
    unsigned loaded = 0;
    for (unsigned i = 0; i < phnum; i++) {
        struct phdr ph;
        read_phdr(img + phoff + i * phsize, is64, &ph);
        if (ph.type != PT_LOAD || ph.memsz == 0)
            continue;
        if (ph.filesz > ph.memsz)
            why = "a segment's file size exceeds its memory size";
        else if (ph.offset > len || ph.filesz > len - ph.offset)
            why = "a segment runs past the end of the file (truncated?)";
        else if (ph.paddr + ph.memsz < ph.paddr)
            why = "a segment wraps around the address space";
        if (why)
            return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: %s", path, why);
        if (kvm_loader_put(m, path, ph.paddr, img + ph.offset, ph.filesz, "a segment") < 0 ||
            kvm_loader_put(m, path, ph.paddr + ph.filesz, NULL, ph.memsz - ph.filesz,
                           "a segment's bss") < 0)
            return -1;
        *end = MAX(*end, ph.paddr + ph.memsz);
        loaded++;
    }
    if (!loaded)
        return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: no loadable segments", path);
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
