/* Port-I/O and MMIO buses. Lookups are a binary search over sorted,
 * non-overlapping ranges; the tables are built before any vCPU runs and
 * never change while one does, so dispatch takes no lock. */
#include "bus.h"

#include <glib.h>
#include <string.h>

#include "../../../lib/util/error.h"

int kvm_bus_claim(struct kvm_bus *bus, uint64_t base, uint64_t len, kvm_bus_fn fn, void *dev,
                  const char *name)
{
    if (len == 0 || base + len < base)
        return qv_error_set(QV_ERR_INTERNAL, "device %s claims an empty or wrapping range", name);
    uint32_t at = 0;
    while (at < bus->count && bus->ranges[at].base < base)
        at++;
    if ((at > 0 && bus->ranges[at - 1].base + bus->ranges[at - 1].len > base) ||
        (at < bus->count && base + len > bus->ranges[at].base))
        return qv_error_set(QV_ERR_EXISTS, "device %s overlaps another device at 0x%llx", name,
                            (unsigned long long)base);
    bus->ranges = g_renew(struct kvm_bus_range, bus->ranges, bus->count + 1);
    memmove(&bus->ranges[at + 1], &bus->ranges[at],
            (bus->count - at) * sizeof(struct kvm_bus_range));
    bus->ranges[at] = (struct kvm_bus_range){base, len, fn, dev, name};
    bus->count++;
    return 0;
}

static const struct kvm_bus_range *find(const struct kvm_bus *bus, uint64_t addr)
{
    uint32_t lo = 0, hi = bus->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct kvm_bus_range *r = &bus->ranges[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

bool kvm_bus_dispatch(struct kvm_bus *bus, uint64_t addr, uint8_t *data, uint32_t size,
                      bool is_write)
{
    const struct kvm_bus_range *r = find(bus, addr);
    if (!r)
        return false;
    if (size <= 8 && addr - r->base + size <= r->len) {
        r->fn(r->dev, addr - r->base, data, size, is_write);
        return true;
    }
    /* Straddles the end of the range (or is oversized): one byte at a time,
     * each byte to whoever owns it; unowned bytes read as 0xff. */
    for (uint32_t i = 0; i < size; i++) {
        const struct kvm_bus_range *b = find(bus, addr + i);
        if (b)
            b->fn(b->dev, addr + i - b->base, &data[i], 1, is_write);
        else if (!is_write)
            data[i] = 0xff;
    }
    return true;
}

void kvm_bus_unclaim(struct kvm_bus *bus, uint64_t base)
{
    for (uint32_t i = 0; i < bus->count; i++)
        if (bus->ranges[i].base == base) {
            memmove(&bus->ranges[i], &bus->ranges[i + 1],
                    (bus->count - i - 1) * sizeof(struct kvm_bus_range));
            bus->count--;
            return;
        }
}

void kvm_bus_clear(struct kvm_bus *bus)
{
    g_free(bus->ranges);
    bus->ranges = NULL;
    bus->count = 0;
}
