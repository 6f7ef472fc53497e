/* What a <hostdev> given as a gpu or nic (the JSON config's
 * pci_passthrough type, <qv:hostdev type=>) gets at start, from the host's
 * view of the device: the class it must have, and for a GPU the audio
 * function beside it. A GPU's HDMI/DisplayPort audio is a second function
 * of the same slot in the same IOMMU group; the group goes to vfio-pci
 * whole anyway, and a guest whose GPU driver finds no audio function
 * beside it loses sound over the display. */
#include <stdio.h>
#include <string.h>

#include "../../lib/host/host.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "qemu_vm.h"

static bool listed(const struct qv_domain *def, const char *bdf)
{
    for (guint i = 0; i < def->hostdevs->len; i++) {
        const struct qv_hostdev *h = g_ptr_array_index(def->hostdevs, i);
        char b[16];
        g_snprintf(b, sizeof(b), "%04x:%02x:%02x.%x", h->domain, h->bus, h->slot, h->function);
        if (strcmp(b, bdf) == 0)
            return true;
    }
    return false;
}

/* 0000:01:00.1 next to 0000:01:00.0: the same slot, another function. */
static bool same_slot(const char *a, const char *b)
{
    const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
    return da && db && da - a == db - b && strncmp(a, b, (size_t)(da - a)) == 0 && strcmp(a, b);
}

static int companions(struct qemu_vm *q, const char *root, const struct host_pci_dev *gpu,
                      const struct qv_hostdev *h, struct qv_domain *def)
{
    if (gpu->group < 0)
        return 0; /* refused later by the VFIO plan, which names the reason */
    g_autoptr(GPtrArray) group = host_pci_group(root, gpu->group);
    if (!group)
        return qv_error_code();
    for (guint i = 0; i < group->len; i++) {
        const struct host_pci_dev *d = g_ptr_array_index(group, i);
        /* Class 04 subclass 03: HD audio (01, plain audio, on older cards). */
        unsigned sub = d->class_code >> 8;
        if (!same_slot(d->bdf, gpu->bdf) || (sub != 0x0403 && sub != 0x0401) ||
            listed(def, d->bdf))
            continue;
        struct qv_hostdev *a = g_new0(struct qv_hostdev, 1);
        unsigned dom, bus, slot, fn;
        if (sscanf(d->bdf, "%4x:%2x:%2x.%1x", &dom, &bus, &slot, &fn) != 4) {
            g_free(a);
            continue;
        }
        a->domain = (uint16_t)dom;
        a->bus = (uint8_t)bus;
        a->slot = (uint8_t)slot;
        a->function = (uint8_t)fn;
        a->managed = h->managed;
        a->driver = g_strdup("vfio");
        g_ptr_array_add(def->hostdevs, a);
        proc_log(q->dir, "PCI device %s: passed through with GPU %s, its audio function", d->bdf,
                 gpu->bdf);
    }
    return 0;
}

static int check_one(struct qemu_vm *q, const char *root, const struct host_pci_dev *d,
                     const struct qv_hostdev *h, const char *bdf, struct qv_domain *def)
{
    bool gpu = strcmp(h->role, "gpu") == 0;
    unsigned want = gpu ? 0x03 : 0x02;
    if (d->class_code >> 16 != want)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': PCI device %s is given as a %s but its class is 0x%06x, "
                            "not a %s (0x%02xxxxx)",
                            q->name, bdf, h->role, d->class_code,
                            gpu ? "display controller" : "network controller", want);
    return gpu ? companions(q, root, d, h, def) : 0;
}

int qemu_pci_roles_apply(struct qemu_vm *q, struct qv_domain *def)
{
    g_autofree char *root = NULL;
    guint n = def->hostdevs->len; /* companions are appended after these */
    for (guint i = 0; i < n; i++) {
        const struct qv_hostdev *h = g_ptr_array_index(def->hostdevs, i);
        if (!h->role)
            continue;
        if (!root)
            root = host_root(NULL);
        g_autofree char *bdf =
            g_strdup_printf("%04x:%02x:%02x.%x", h->domain, h->bus, h->slot, h->function);
        struct host_pci_dev *d = host_pci_get(root, bdf);
        if (!d)
            return qv_error_code();
        int rc = check_one(q, root, d, h, bdf, def);
        host_pci_dev_free(d);
        if (rc < 0)
            return rc;
    }
    return 0;
}

