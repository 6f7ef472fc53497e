/* Guest physical memory: memfd-backed mappings registered as KVM memory
 * slots, and every host-side access to guest memory, bounds-checked. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../lib/util/error.h"
#include "dirty/dirty_bitmap.h"
#include "kvm.h"
#include "loaders/image.h"

static bool overlaps(const struct kvm_machine *m, uint64_t gpa, uint64_t size)
{
    for (guint i = 0; i < m->regions->len; i++) {
        const struct kvm_region *r = &g_array_index(m->regions, struct kvm_region, i);
        if (gpa < r->gpa + r->size && r->gpa < gpa + size)
            return true;
    }
    return false;
}

static int set_slot(struct kvm_machine *m, const struct kvm_region *r)
{
    struct kvm_userspace_memory_region kr = {
        .slot = r->slot,
        .flags =
            (r->readonly ? KVM_MEM_READONLY : 0) | (r->log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0),
        .guest_phys_addr = r->gpa,
        .memory_size = r->size,
        .userspace_addr = (uintptr_t)r->hva,
    };
    if (ioctl(m->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0)
        return qv_error_set_errno(
            QV_ERR_KVM, errno, "VM '%s': cannot map 0x%llx bytes of guest memory at 0x%llx",
            kvm_machine_name(m), (unsigned long long)r->size, (unsigned long long)r->gpa);
    return 0;
}

int kvm_memory_set_slot(struct kvm_machine *m, const struct kvm_region *r)
{
    return set_slot(m, r);
}

int kvm_memory_delete_slot(struct kvm_machine *m, const struct kvm_region *r)
{
    struct kvm_userspace_memory_region kr = {.slot = r->slot, .guest_phys_addr = r->gpa};
    if (ioctl(m->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0)
        return qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s': cannot remove memory slot %u",
                                  kvm_machine_name(m), r->slot);
    return 0;
}

static void insert_sorted(struct kvm_machine *m, const struct kvm_region *r)
{
    guint at = 0;
    while (at < m->regions->len && g_array_index(m->regions, struct kvm_region, at).gpa < r->gpa)
        at++;
    g_array_insert_val(m->regions, at, *r);
}

/* A fresh memfd mapping of size bytes. */
static uint8_t *map_new(struct kvm_machine *m, uint64_t size, const char *what, int *memfd)
{
    g_autofree char *label = g_strdup_printf("qv:%s:%s", kvm_machine_name(m), what);
    int fd = memfd_create(label, MFD_CLOEXEC);
    if (fd < 0) {
        qv_error_set_errno(QV_ERR_SYSTEM, errno, "VM '%s': memfd_create for guest memory",
                           kvm_machine_name(m));
        return NULL;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        qv_error_set_errno(QV_ERR_SYSTEM, errno, "VM '%s': cannot size guest memory to %llu bytes",
                           kvm_machine_name(m), (unsigned long long)size);
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        qv_error_set_errno(QV_ERR_NOMEM, errno, "VM '%s': cannot map %llu bytes of guest memory",
                           kvm_machine_name(m), (unsigned long long)size);
        close(fd);
        return NULL;
    }
    *memfd = fd;
    return p;
}

int kvm_memory_add(struct kvm_machine *m, uint64_t gpa, uint64_t size, uint32_t flags)
{
    if (overlaps(m, gpa, size))
        return qv_error_set(
            QV_ERR_EXISTS, "VM '%s': memory region 0x%llx-0x%llx overlaps existing guest memory",
            kvm_machine_name(m), (unsigned long long)gpa, (unsigned long long)(gpa + size - 1));
    struct kvm_region r = {.gpa = gpa,
                           .size = size,
                           .slot = m->next_slot,
                           .readonly = !(flags & VM_MEM_WRITE),
                           .owns_mapping = true,
                           .map_size = size};
    r.hva = map_new(m, size, "region", &r.memfd);
    if (!r.hva)
        return qv_error_code();
    if (set_slot(m, &r) < 0) {
        munmap(r.hva, size);
        close(r.memfd);
        return qv_error_code();
    }
    m->next_slot++;
    insert_sorted(m, &r);
    return 0;
}

int kvm_memory_add_ram(struct kvm_machine *m, uint64_t bytes)
{
    int memfd;
    uint8_t *p = map_new(m, bytes, "ram", &memfd);
    if (!p)
        return qv_error_code();
    /* As on QEMU's pc machine: from 3.5 GiB up, RAM above 3 GiB moves to
     * 4 GiB and leaves the 32-bit PCI hole free. */
    uint64_t low = kvm_ld_low_size(bytes);
    struct kvm_region lo = {.gpa = 0,
                            .size = low,
                            .hva = p,
                            .slot = m->next_slot,
                            .owns_mapping = true,
                            .map_size = bytes,
                            .memfd = memfd};
    if (set_slot(m, &lo) < 0) {
        munmap(p, bytes);
        close(memfd);
        return qv_error_code();
    }
    m->next_slot++;
    insert_sorted(m, &lo);
    if (bytes > low) {
        struct kvm_region hi = {
            .gpa = KVM_4G, .size = bytes - low, .hva = p + low, .slot = m->next_slot, .memfd = -1};
        if (set_slot(m, &hi) < 0)
            return qv_error_code(); /* freed with the machine */
        m->next_slot++;
        insert_sorted(m, &hi);
    }
    m->ram = p;
    m->ram_size = bytes;
    return 0;
}

void kvm_memory_free_all(struct kvm_machine *m)
{
    if (!m->regions)
        return;
    for (guint i = 0; i < m->regions->len; i++) {
        struct kvm_region *r = &g_array_index(m->regions, struct kvm_region, i);
        if (r->owns_mapping) {
            munmap(r->hva, r->map_size);
            if (r->memfd >= 0)
                close(r->memfd);
        }
        dirty_bitmap_free(r->host_dirty);
    }
    g_array_set_size(m->regions, 0);
    m->ram = NULL;
    m->ram_size = 0;
    m->next_slot = 0;
}

static const struct kvm_region *region_of(struct kvm_machine *m, uint64_t gpa)
{
    for (guint i = 0; i < m->regions->len; i++) {
        const struct kvm_region *r = &g_array_index(m->regions, struct kvm_region, i);
        if (gpa >= r->gpa && gpa - r->gpa < r->size)
            return r;
    }
    return NULL;
}

void *kvm_memory_hva(struct kvm_machine *m, uint64_t gpa, uint64_t len)
{
    const struct kvm_region *r = region_of(m, gpa);
    if (!r || len > r->size - (gpa - r->gpa))
        return NULL;
    return r->hva + (gpa - r->gpa);
}

void *kvm_memory_ram(struct kvm_machine *m, uint64_t gpa, uint64_t len)
{
    const struct kvm_region *r = region_of(m, gpa);
    /* ROM is not RAM: a device may write where it is given. */
    if (len == 0 || !r || r->readonly)
        return NULL;
    return kvm_memory_hva(m, gpa, len);
}

void kvm_memory_mark_dirty(struct kvm_machine *m, uint64_t gpa, uint64_t len)
{
    /* The end clamped, so a range running to the top of the address
     * space cannot wrap. */
    uint64_t end = gpa + len < gpa ? UINT64_MAX : gpa + len;
    for (guint i = 0; i < m->regions->len; i++) {
        const struct kvm_region *r = &g_array_index(m->regions, struct kvm_region, i);
        struct dirty_bitmap *b = __atomic_load_n(&r->host_dirty, __ATOMIC_ACQUIRE);
        if (!b || end <= r->gpa || gpa >= r->gpa + r->size)
            continue;
        uint64_t from = MAX(gpa, r->gpa), to = MIN(end, r->gpa + r->size);
        dirty_bitmap_mark(b, from - r->gpa, to - from); /* inside the region: cannot fail */
    }
}

int kvm_memory_rw(struct kvm_machine *m, uint64_t gpa, void *buf, size_t len, bool write)
{
    if (gpa + len < gpa)
        return qv_error_set(QV_ERR_OUT_OF_RANGE, "guest range wraps around the address space");
    /* Check the whole range first, so a failing call copies nothing. */
    for (uint64_t at = gpa; at < gpa + len;) {
        const struct kvm_region *r = region_of(m, at);
        if (!r)
            return qv_error_set(QV_ERR_OUT_OF_RANGE,
                                "VM '%s': guest address 0x%llx (in 0x%llx+%zu) is not guest memory",
                                kvm_machine_name(m), (unsigned long long)at,
                                (unsigned long long)gpa, len);
        at = r->gpa + r->size;
    }
    uint8_t *p = buf;
    for (uint64_t at = gpa; at < gpa + len;) {
        const struct kvm_region *r = region_of(m, at);
        uint64_t n = MIN(r->gpa + r->size - at, gpa + len - at);
        uint8_t *h = r->hva + (at - r->gpa);
        if (write)
            memcpy(h, p, n);
        else
            memcpy(p, h, n);
        p += n;
        at += n;
    }
    /* After the copy, as a device marks (dev_host.h). */
    if (write)
        kvm_memory_mark_dirty(m, gpa, len);
    return 0;
}
