/* A device host for tests without /dev/kvm: it records what devices ask
 * of the machine, and its guest RAM is a malloc'd buffer. */
#ifndef QV_TEST_KVM_TEST_HOST_H
#define QV_TEST_KVM_TEST_HOST_H

#include <check.h>
#include <glib.h>

#include "drivers/kvm/devices/bus.h"
#include "drivers/kvm/devices/dev_host.h"

#define TEST_GSIS 24

struct test_host {
    struct kvm_dev_host host;
    int level[TEST_GSIS]; /* each line's last level */
    int irq_calls;
    int stops, resets;
    enum vm_state_reason reason;
    int exit_status;
    uint8_t *ram;
    uint64_t ram_size;
};

static void th_set_irq(void *o, uint32_t gsi, int level)
{
    struct test_host *t = o;
    ck_assert_uint_lt(gsi, TEST_GSIS);
    ck_assert(level == 0 || level == 1);
    t->level[gsi] = level;
    t->irq_calls++;
}

static void th_request_stop(void *o, enum vm_state_reason reason, int exit_status)
{
    struct test_host *t = o;
    if (t->stops++ == 0) {
        t->reason = reason;
        t->exit_status = exit_status;
    }
}

static void th_request_reset(void *o)
{
    ((struct test_host *)o)->resets++;
}

static void *th_guest_ram(void *o, uint64_t gpa, uint64_t len)
{
    struct test_host *t = o;
    if (len == 0 || gpa >= t->ram_size || len > t->ram_size - gpa)
        return NULL;
    return t->ram + gpa;
}

static inline void test_host_init(struct test_host *t, uint64_t ram_size)
{
    *t = (struct test_host){.ram = g_malloc0(ram_size ? ram_size : 1), .ram_size = ram_size};
    t->host = (struct kvm_dev_host){.opaque = t,
                                    .vm_name = "devtest",
                                    .set_irq = th_set_irq,
                                    .request_stop = th_request_stop,
                                    .request_reset = th_request_reset,
                                    .guest_ram = th_guest_ram};
}

static inline void test_host_clear(struct test_host *t)
{
    g_free(t->ram);
    t->ram = NULL;
}

/* One access through a bus handler, as the run loop makes it. */
static inline void test_out(kvm_bus_fn fn, void *dev, uint64_t off, uint32_t size, uint64_t v)
{
    uint8_t d[8];
    kvm_bus_put(d, size, v);
    fn(dev, off, d, size, true);
}

static inline uint64_t test_in(kvm_bus_fn fn, void *dev, uint64_t off, uint32_t size)
{
    uint8_t d[8] = {0};
    fn(dev, off, d, size, false);
    return kvm_bus_get(d, size);
}

#endif
