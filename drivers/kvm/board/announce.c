/* How a board's virtio-mmio devices are announced to Linux, which finds
 * them no other way on a board without a device tree or ACPI entries for
 * them: the virtio_mmio module's "device" parameter, one per device. */
#include <glib.h>

#include "board.h"

char *kvm_board_announce(const struct kvm_board_slot *slots, uint32_t n)
{
    if (n == 0)
        return NULL;
    GString *s = g_string_new(NULL);
    for (uint32_t i = 0; i < n; i++)
        g_string_append_printf(s, "%svirtio_mmio.device=0x%llx@0x%llx:%u", i ? " " : "",
                               (unsigned long long)slots[i].len, (unsigned long long)slots[i].base,
                               slots[i].gsi);
    return g_string_free(s, FALSE);
}
