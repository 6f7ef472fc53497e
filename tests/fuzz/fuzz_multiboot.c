/* libFuzzer target for the multiboot loader (see fuzz_loader.h). */
#include "drivers/kvm/loaders/image.h"

static int load_multiboot(struct kvm_ld *ld, const uint8_t *img, size_t len)
{
    long off = kvm_multiboot_find(img, len);
    return off < 0 ? 0 : kvm_ld_multiboot(ld, img, len, (size_t)off);
}
#define FUZZ_LOAD load_multiboot
#include "fuzz_loader.h"
