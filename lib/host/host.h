/* Facts about the host machine read from its files (/sys, /proc,
 * /usr/share), and the PCI devices it could pass through. Every path goes
 * through host_path(), so a test can point the whole of it at a fake tree:
 * $QV_SYSFS_ROOT, or a root given to the public calls. */
#ifndef QV_LIB_HOST_H
#define QV_LIB_HOST_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

/* The prefix host files are read under: root when not NULL or empty, else
 * $QV_SYSFS_ROOT, else "" (the real host). Owned by the caller. */
char *host_root(const char *root);
/* root (as host_root returned it) followed by the absolute path fmt. */
char *host_path(const char *root, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* The first line of a small host file, stripped; NULL when it cannot be
 * read (absent, not a regular file, over 64 KiB). */
char *host_read_line(const char *path);
/* The basename of the symlink path's target, or NULL. */
char *host_link_name(const char *path);

/* One PCI function as sysfs shows it. */
struct host_pci_dev {
    char *bdf;       /* "0000:01:00.0" */
    unsigned vendor; /* 0x10de */
    unsigned device;
    unsigned class_code; /* 0x030000 */
    int group;           /* IOMMU group, -1 when none */
    char *driver;        /* bound driver, NULL when none */
};

void host_pci_dev_free(struct host_pci_dev *d);
/* Every PCI function of the host under root, sorted by BDF: a
 * GPtrArray of struct host_pci_dev *. */
GPtrArray *host_pci_list(const char *root);
/* One function, or NULL with QV_ERR_NOT_FOUND naming bdf. */
struct host_pci_dev *host_pci_get(const char *root, const char *bdf);
/* The functions in IOMMU group `group`, sorted by BDF. */
GPtrArray *host_pci_group(const char *root, int group);
/* Whether d is in use by the host: bound to a driver other than the ones
 * that only hold a device for a guest (vfio-pci, pci-stub). */
bool host_pci_in_host_use(const struct host_pci_dev *d);
/* PCI-to-PCI bridges (class 0x0604) and the like, which a guest cannot
 * take: the host needs them for what sits behind them. */
bool host_pci_is_bridge(const struct host_pci_dev *d);
/* "0000:01:00.0" from a canonical or short ("01:00.0") form, lower case;
 * NULL when text is not a PCI address. */
char *host_pci_bdf_normalise(const char *text);

/* Names from the pci.ids database under root (/usr/share/misc/pci.ids,
 * Debian's pci.ids package); NULL when it or the entry is absent. */
struct host_pci_ids;
struct host_pci_ids *host_pci_ids_load(const char *root);
void host_pci_ids_free(struct host_pci_ids *ids);
const char *host_pci_ids_vendor(const struct host_pci_ids *ids, unsigned vendor);
const char *host_pci_ids_device(const struct host_pci_ids *ids, unsigned vendor, unsigned device);

/* Writing sysfs attributes, each write in a helper thread given up after
 * timeout_ms (QV_ERR_TIMEOUT; the thread is left to finish or hang). */
int host_sysfs_write(const char *path, const char *data, int timeout_ms);
/* $QV_SYSFS_WRITE_TIMEOUT_MS, else 10 s. */
int host_sysfs_timeout_ms(void);
/* A kernel driver name safe to put in a path. */
bool host_driver_name_ok(const char *name);

/* A device's state before it went to vfio-pci, for giving it back. */
struct host_vfio_dev {
    char *bdf;
    char *driver;   /* NULL: was bound to none */
    char *override; /* its driver_override, NULL when unset */
};
void host_vfio_dev_free(struct host_vfio_dev *d);
/* Judge hostdev bdf for passthrough and append to plan (struct
 * host_vfio_dev *, skipping devices already in it) every endpoint of its
 * IOMMU group that must move to vfio-pci. managed false: only check that
 * bdf is on vfio-pci already. Refuses, changing nothing, when the device
 * is in no group or the group holds a non-PCI-to-PCI bridge in host use. */
int host_vfio_plan(const char *root, const char *bdf, bool managed, GPtrArray *plan);
/* Move every planned device to vfio-pci (driver_override, unbind,
 * drivers_probe); on failure give back those moved and return the error. */
int host_vfio_bind(const char *root, GPtrArray *plan);
/* Give every planned device back its driver and driver_override, in
 * reverse order; goes on after a failure and returns the first. */
int host_vfio_restore(const char *root, GPtrArray *plan);

/* The host facts `qv system info` shows, one JSON object member each. */
JsonNode *host_info_build(const char *root);
/* node as pretty-printed JSON text (g_free), for the public calls. */
char *host_json_text(JsonNode *node);

#endif
