/* ELF64 kernels: PT_LOAD segments at their physical addresses, entered at
 * e_entry in 64-bit long mode with the first 4 GiB identity-mapped, RSP at
 * BOOT_STACK and RSI = 0. */
#include <elf.h>

#include "../../../lib/util/error.h"
#include "image.h"

int kvm_ld_elf64(struct kvm_ld *ld, const uint8_t *img, size_t len)
{
    uint64_t entry, end;
    if (kvm_ld_no_boot_info(ld, "an ELF64") < 0 || kvm_ld_reserve(ld, true) < 0 ||
        kvm_ld_elf(ld, img, len, EM_X86_64, &entry, &end) < 0)
        return -1;
    if (entry >= BOOT_4G)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "kernel %s: the entry point lies above 4 GiB, outside the boot "
                            "identity map",
                            ld->kernel);
    return kvm_ld_boot_long64(ld, entry, 0);
}
