/* The ELF segment loader shared by multiboot (ELF32) and ELF64 kernels. */
#include <elf.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "image.h"

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

int kvm_ld_elf(struct kvm_ld *ld, const uint8_t *img, size_t len, uint16_t machine, uint64_t *entry,
               uint64_t *end)
{
    const char *path = ld->kernel;
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
        read_phdr(img + phoff + (size_t)i * phsize, is64, &ph);
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
        /* The whole segment, bss included, is claimed before any byte is
         * copied, so an overlap is refused whole. */
        if (kvm_ld_claim(ld, path, ph.paddr, ph.memsz, "ELF segment %u", i) < 0 ||
            kvm_ld_write(ld, ph.paddr, img + ph.offset, ph.filesz) < 0 ||
            kvm_ld_write(ld, ph.paddr + ph.filesz, NULL, ph.memsz - ph.filesz) < 0)
            return -1;
        *end = MAX(*end, ph.paddr + ph.memsz);
        loaded++;
    }
    if (!loaded)
        return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: no loadable segments", path);
    return 0;
}
