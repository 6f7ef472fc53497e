/* The host's PCI functions as /sys/bus/pci shows them: ids, class, IOMMU
 * group and the driver bound to each. */
#include <stdlib.h>
#include <string.h>

#include "../util/error.h"
#include "host.h"

void host_pci_dev_free(struct host_pci_dev *d)
{
    if (!d)
        return;
    g_free(d->bdf);
    g_free(d->driver);
    g_free(d);
}

/* Whether text[i] is the separator sep for every i listed in seps, and a
 * hex digit everywhere else. */
static bool shaped(const char *text, const char *pattern)
{
    for (size_t i = 0; pattern[i]; i++) {
        if (pattern[i] == 'x' ? !g_ascii_isxdigit(text[i]) : text[i] != pattern[i])
            return false;
    }
    return text[strlen(pattern)] == '\0';
}

char *host_pci_bdf_normalise(const char *text)
{
    if (!text)
        return NULL;
    g_autofree char *full = NULL;
    if (shaped(text, "xx:xx.x"))
        full = g_strconcat("0000:", text, NULL);
    else if (shaped(text, "xxxx:xx:xx.x"))
        full = g_strdup(text);
    else
        return NULL;
    unsigned slot = (unsigned)strtoul(full + 8, NULL, 16);
    unsigned fn = (unsigned)g_ascii_xdigit_value(full[11]);
    if (slot > 0x1f || fn > 7)
        return NULL;
    return g_ascii_strdown(full, -1);
}

static bool read_hex(const char *dir, const char *file, unsigned *out)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autofree char *text = host_read_line(path);
    if (!text)
        return false;
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 16);
    if (end == text || *end || v > 0xffffff)
        return false;
    *out = (unsigned)v;
    return true;
}

static struct host_pci_dev *read_dev(const char *root, const char *bdf)
{
    g_autofree char *dir = host_path(root, "/sys/bus/pci/devices/%s", bdf);
    struct host_pci_dev *d = g_new0(struct host_pci_dev, 1);
    d->bdf = g_strdup(bdf);
    d->group = -1;
    if (!read_hex(dir, "vendor", &d->vendor) || !read_hex(dir, "device", &d->device) ||
        !read_hex(dir, "class", &d->class_code)) {
        host_pci_dev_free(d);
        return NULL;
    }
    g_autofree char *grp_link = g_build_filename(dir, "iommu_group", NULL);
    g_autofree char *grp = host_link_name(grp_link);
    char *end = NULL;
    if (grp && *grp) {
        long g = strtol(grp, &end, 10);
        if (!*end && g >= 0 && g <= INT32_MAX)
            d->group = (int)g;
    }
    g_autofree char *drv_link = g_build_filename(dir, "driver", NULL);
    d->driver = host_link_name(drv_link);
    return d;
}

static gint by_bdf(gconstpointer a, gconstpointer b)
{
    const struct host_pci_dev *x = *(struct host_pci_dev *const *)a;
    const struct host_pci_dev *y = *(struct host_pci_dev *const *)b;
    return strcmp(x->bdf, y->bdf);
}

/* The devices named by the entries of dir (each a canonical BDF), sorted. */
static GPtrArray *devices_in(const char *root, const char *dir)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)host_pci_dev_free);
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return out;
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *bdf = host_pci_bdf_normalise(name);
        if (!bdf || strcmp(bdf, name) != 0)
            continue;
        struct host_pci_dev *dev = read_dev(root, name);
        if (dev)
            g_ptr_array_add(out, dev);
    }
    g_dir_close(d);
    g_ptr_array_sort(out, by_bdf);
    return out;
}

GPtrArray *host_pci_list(const char *root)
{
    g_autofree char *dir = host_path(root, "/sys/bus/pci/devices");
    return devices_in(root, dir);
}

struct host_pci_dev *host_pci_get(const char *root, const char *bdf)
{
    g_autofree char *canon = host_pci_bdf_normalise(bdf);
    if (!canon) {
        qv_error_set(QV_ERR_INVALID_ARG, "'%s' is not a PCI address (DDDD:BB:SS.F)", bdf);
        return NULL;
    }
    struct host_pci_dev *d = read_dev(root, canon);
    if (!d)
        qv_error_set(QV_ERR_NOT_FOUND, "the host has no PCI device %s", canon);
    return d;
}

GPtrArray *host_pci_group(const char *root, int group)
{
    g_autofree char *dir = host_path(root, "/sys/kernel/iommu_groups/%d/devices", group);
    return devices_in(root, dir);
}

bool host_pci_in_host_use(const struct host_pci_dev *d)
{
    return d->driver && strcmp(d->driver, "vfio-pci") != 0 && strcmp(d->driver, "pci-stub") != 0;
}

bool host_pci_is_bridge(const struct host_pci_dev *d)
{
    /* Class 06 is bridges; 0x0600 host bridges and 0x0604/0x0609 PCI
     * bridges are what an IOMMU group commonly shares with endpoints. */
    return (d->class_code >> 16) == 0x06;
}
