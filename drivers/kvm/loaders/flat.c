/* A flat binary: copied to 1 MiB and entered there in 64-bit long mode
 * with the first 4 GiB identity-mapped, RSP at BOOT_STACK. */
#include "image.h"

int kvm_ld_flat(struct kvm_ld *ld, const uint8_t *img, size_t len)
{
    if (kvm_ld_no_boot_info(ld, "a flat binary") < 0 || kvm_ld_reserve(ld, true) < 0 ||
        kvm_ld_place(ld, ld->kernel, BOOT_HIGH, img, len, "the flat binary") < 0)
        return -1;
    return kvm_ld_boot_long64(ld, BOOT_HIGH, 0);
}
