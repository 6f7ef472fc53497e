/* A flat binary: copied to 1 MiB and entered there in 64-bit long mode
 * with the first 4 GiB identity-mapped, RSP at BOOT_STACK. */
#include "../kvm.h"
#include "loader.h"

int kvm_load_flat(struct kvm_machine *m, const char *path, const uint8_t *img, size_t len)
{
    if (kvm_loader_put(m, path, BOOT_HIGH, img, len, "the flat binary") < 0)
        return -1;
    return kvm_boot_long64(m->vcpus[0], BOOT_HIGH, 0);
}
