/* ELF64 kernels: PT_LOAD segments at their physical addresses, entered at
 * e_entry in 64-bit long mode with the first 4 GiB identity-mapped, RSP at
 * BOOT_STACK and RSI = 0. */
#include <elf.h>

#include "../../../lib/util/error.h"
#include "../kvm.h"
#include "loader.h"

int kvm_load_elf64(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len)
{
    uint64_t entry, end;
    if (kvm_loader_elf(m, path, img, len, EM_X86_64, &entry, &end) < 0)
        return -1;
    if (entry >= KVM_4G)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "kernel %s: the entry point lies above 4 GiB, outside the boot "
                            "identity map",
                            path);
    return kvm_boot_long64(m->vcpus[0], entry, 0);
}
