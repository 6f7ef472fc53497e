/* Port-I/O and MMIO buses: devices claim address ranges, the run loop
 * dispatches accesses to them and knows nothing else about devices. */
#ifndef QV_KVM_BUS_H
#define QV_KVM_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* offset is relative to the claimed base; size is 1, 2, 4 or 8 and data
 * holds size bytes (little-endian). For a read the handler fills data. A
 * handler must accept any offset within its range at any size. */
typedef void (*kvm_bus_fn)(void *dev, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);

struct kvm_bus_range {
    uint64_t base, len;
    kvm_bus_fn fn;
    void *dev;
    const char *name;
};

struct kvm_bus {
    struct kvm_bus_range *ranges; /* sorted by base, never overlapping */
    uint32_t count;
};

/* Claim [base, base+len). Fails (QV_ERR_EXISTS) on an overlap. */
int kvm_bus_claim(struct kvm_bus *bus, uint64_t base, uint64_t len, kvm_bus_fn fn, void *dev,
                  const char *name);
/* Dispatch one access; false when no device claims addr. An access that
 * straddles the end of a range is split byte by byte. */
bool kvm_bus_dispatch(struct kvm_bus *bus, uint64_t addr, uint8_t *data, uint32_t size,
                      bool is_write);
/* Give up the range claimed at base (a device released while no vCPU
 * runs); nothing when none starts there. */
void kvm_bus_unclaim(struct kvm_bus *bus, uint64_t base);
void kvm_bus_clear(struct kvm_bus *bus);

/* Little-endian helpers for handlers. */
static inline uint64_t kvm_bus_get(const uint8_t *data, uint32_t size)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < size && i < 8; i++)
        v |= (uint64_t)data[i] << (8 * i);
    return v;
}

static inline void kvm_bus_put(uint8_t *data, uint32_t size, uint64_t v)
{
    for (uint32_t i = 0; i < size && i < 8; i++)
        data[i] = (uint8_t)(v >> (8 * i));
}

#endif
