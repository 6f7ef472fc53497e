/* ELF64 kernels: PT_LOAD segments at their physical addresses, entered at
 * e_entry in 64-bit long mode with the first 4 GiB identity-mapped, RSP at
 * BOOT_STACK and RSI = 0. */
#include <elf.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "../kvm.h"
#include "loader.h"

static int bad(const char *path, const char *what)
{
    return qv_error_set(QV_ERR_INVALID_ARG, "kernel %s: %s", path, what);
}

int kvm_load_elf64(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len)
{
    Elf64_Ehdr eh;
    if (len < sizeof(eh))
        return bad(path, "truncated ELF header");
    memcpy(&eh, img, sizeof(eh));
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
        return bad(path, "not a little-endian x86-64 ELF");
    if (eh.e_type != ET_EXEC)
        return bad(path, "not an executable ELF (e_type is not ET_EXEC)");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0)
        return bad(path, "no usable program headers");
    if (eh.e_phoff > len || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
        return bad(path, "program headers run past the end of the file (truncated?)");
    unsigned loaded = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz)
            return bad(path, "a segment's file size exceeds its memory size");
        if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
            return bad(path, "a segment runs past the end of the file (truncated?)");
        if (ph.p_paddr + ph.p_memsz < ph.p_paddr)
            return bad(path, "a segment wraps around the address space");
        if (kvm_loader_put(m, path, ph.p_paddr, img + ph.p_offset, ph.p_filesz, "a segment") < 0 ||
            kvm_loader_put(m, path, ph.p_paddr + ph.p_filesz, NULL, ph.p_memsz - ph.p_filesz,
                           "a segment's bss") < 0)
            return -1;
        loaded++;
    }
    if (!loaded)
        return bad(path, "no loadable segments");
    if (eh.e_entry >= KVM_4G)
        return bad(path, "the entry point lies above 4 GiB, outside the boot identity map");
    return kvm_boot_long64(m->vcpus[0], eh.e_entry, 0);
}
