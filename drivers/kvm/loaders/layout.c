/* Where things go in guest RAM: the pc memory map, and the areas a load has
 * placed, so that no two overlap. */
#include <stdarg.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "image.h"

uint64_t kvm_ld_low_size(uint64_t ram)
{
    /* As on QEMU's pc machine: from 3.5 GiB up, RAM above 3 GiB moves to
     * 4 GiB and leaves the 32-bit PCI hole free. */
    return ram >= 0xe0000000ull ? BOOT_PCI_HOLE : ram;
}

unsigned kvm_ld_e820(uint64_t ram_size, struct kvm_e820 out[8])
{
    uint64_t low = kvm_ld_low_size(ram_size);
    unsigned n = 0;
    out[n++] = (struct kvm_e820){0, BOOT_HOLE, E820_RAM};
    out[n++] = (struct kvm_e820){BOOT_HOLE, 0x400, E820_RESERVED};
    out[n++] = (struct kvm_e820){0xe0000, 0x20000, E820_RESERVED};
    if (low > BOOT_HIGH)
        out[n++] = (struct kvm_e820){BOOT_HIGH, low - BOOT_HIGH, E820_RAM};
    if (ram_size > low)
        out[n++] = (struct kvm_e820){BOOT_4G, ram_size - low, E820_RAM};
    return n;
}

static void area_clear(gpointer p)
{
    g_free(((struct kvm_ld_area *)p)->what);
}

void kvm_ld_init(struct kvm_ld *ld, uint8_t *ram, uint64_t ram_size, const char *kernel)
{
    *ld = (struct kvm_ld){.ram = ram, .ram_size = ram_size, .kernel = kernel};
    ld->areas = g_array_new(FALSE, FALSE, sizeof(struct kvm_ld_area));
    g_array_set_clear_func(ld->areas, area_clear);
    /* The firmware tables (ACPI at 0xe0000, the MP table at 0xf0000) and
     * what a PC keeps there. */
    struct kvm_ld_area hole = {BOOT_HOLE, BOOT_HIGH, g_strdup("the EBDA, VGA and BIOS area")};
    g_array_append_val(ld->areas, hole);
}

void kvm_ld_clear(struct kvm_ld *ld)
{
    if (ld->areas)
        g_array_free(ld->areas, TRUE);
    ld->areas = NULL;
}

/* The host address of [gpa, gpa + len) when it is all RAM, else NULL. */
static uint8_t *host(struct kvm_ld *ld, uint64_t gpa, uint64_t len)
{
    uint64_t low = kvm_ld_low_size(ld->ram_size);
    if (gpa <= low && len <= low - gpa)
        return ld->ram + gpa;
    uint64_t high = ld->ram_size - low;
    if (gpa >= BOOT_4G && gpa - BOOT_4G <= high && len <= high - (gpa - BOOT_4G))
        return ld->ram + low + (gpa - BOOT_4G);
    return NULL;
}

int kvm_ld_claim(struct kvm_ld *ld, const char *file, uint64_t gpa, uint64_t len, const char *what,
                 ...)
{
    va_list ap;
    va_start(ap, what);
    g_autofree char *name = g_strdup_vprintf(what, ap);
    va_end(ap);
    if (len == 0)
        return 0;
    if (gpa + len < gpa || !host(ld, gpa, len))
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "%s: %s (0x%llx bytes at 0x%llx) does not fit in the VM's %llu MiB "
                            "of RAM",
                            file, name, (unsigned long long)len, (unsigned long long)gpa,
                            (unsigned long long)(ld->ram_size >> 20));
    uint64_t end = gpa + len;
    for (guint i = 0; i < ld->areas->len; i++) {
        const struct kvm_ld_area *a = &g_array_index(ld->areas, struct kvm_ld_area, i);
        if (gpa < a->end && a->start < end)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "%s: %s (0x%llx-0x%llx) overlaps %s (0x%llx-0x%llx)", file, name,
                                (unsigned long long)gpa, (unsigned long long)(end - 1), a->what,
                                (unsigned long long)a->start, (unsigned long long)(a->end - 1));
    }
    struct kvm_ld_area a = {gpa, end, g_steal_pointer(&name)};
    g_array_append_val(ld->areas, a);
    return 0;
}

int kvm_ld_write(struct kvm_ld *ld, uint64_t gpa, const void *src, uint64_t len)
{
    if (len == 0)
        return 0;
    uint8_t *dst = host(ld, gpa, len);
    if (!dst)
        return qv_error_set(QV_ERR_INTERNAL, "%s: 0x%llx bytes at 0x%llx are not guest RAM",
                            ld->kernel, (unsigned long long)len, (unsigned long long)gpa);
    if (src)
        memcpy(dst, src, len);
    else
        memset(dst, 0, len);
    return 0;
}

int kvm_ld_place(struct kvm_ld *ld, const char *file, uint64_t gpa, const void *src, uint64_t len,
                 const char *what)
{
    if (kvm_ld_claim(ld, file, gpa, len, "%s", what) < 0)
        return -1;
    return kvm_ld_write(ld, gpa, src, len);
}
