/* The memory map as fw_cfg's etc/e820 file carries it. */
#include "../devices/bus.h"
#include "../loaders/image.h"
#include "firmware.h"

size_t kvm_fw_e820_file(uint64_t ram_size, uint8_t buf[FW_E820_FILE_MAX])
{
    struct kvm_e820 e[8];
    unsigned n = kvm_ld_e820(ram_size, e);
    size_t used = 0;
    for (unsigned i = 0; i < n && used + 20 <= FW_E820_FILE_MAX; i++) {
        /* RAM entries only, as QEMU's pc machine fills the file. */
        if (e[i].type != E820_RAM)
            continue;
        kvm_bus_put(buf + used, 8, e[i].addr);
        kvm_bus_put(buf + used + 8, 8, e[i].size);
        kvm_bus_put(buf + used + 16, 4, e[i].type);
        used += 20;
    }
    return used;
}
