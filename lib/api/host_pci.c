/* qv_host_pci_list: the host's PCI devices and what a guest could take. */
#include <glib.h>
#include <json-glib/json-glib.h>

#include "../../include/qv/host.h"
#include "../host/host.h"
#include "../util/error.h"
#include "trace.h"

static void add_str_or_null(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

/* Groups with a device the host uses: none of their devices can be given
 * to a guest without taking it from the host. */
static GHashTable *busy_groups(GPtrArray *devs)
{
    GHashTable *busy = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (guint i = 0; i < devs->len; i++) {
        const struct host_pci_dev *d = g_ptr_array_index(devs, i);
        if (d->group >= 0 && host_pci_in_host_use(d))
            g_hash_table_add(busy, GINT_TO_POINTER(d->group + 1));
    }
    return busy;
}

int qv_host_pci_list(const char *root, unsigned flags, char **json)
{
    QV_API("%s", "");
    if (!json)
        return qv_error_set(QV_ERR_INVALID_ARG, "qv_host_pci_list: json is NULL");
    if (flags & ~QV_HOST_PCI_AVAILABLE)
        return qv_error_set(QV_ERR_INVALID_ARG, "qv_host_pci_list: unknown flags %#x",
                            flags & ~QV_HOST_PCI_AVAILABLE);
    g_autofree char *r = host_root(root);
    g_autoptr(GPtrArray) devs = host_pci_list(r);
    g_autoptr(GHashTable) busy = busy_groups(devs);
    struct host_pci_ids *ids = host_pci_ids_load(r);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "iommu");
    bool iommu = false;
    for (guint i = 0; i < devs->len && !iommu; i++)
        iommu = ((const struct host_pci_dev *)g_ptr_array_index(devs, i))->group >= 0;
    json_builder_add_boolean_value(b, iommu);
    json_builder_set_member_name(b, "pci_ids");
    json_builder_add_boolean_value(b, ids != NULL);
    json_builder_set_member_name(b, "devices");
    json_builder_begin_array(b);
    for (guint i = 0; i < devs->len; i++) {
        const struct host_pci_dev *d = g_ptr_array_index(devs, i);
        if ((flags & QV_HOST_PCI_AVAILABLE) &&
            (d->group < 0 || g_hash_table_contains(busy, GINT_TO_POINTER(d->group + 1))))
            continue;
        json_builder_begin_object(b);
        add_str_or_null(b, "bdf", d->bdf);
        g_autofree char *vid = g_strdup_printf("%04x", d->vendor);
        g_autofree char *did = g_strdup_printf("%04x", d->device);
        g_autofree char *cls = g_strdup_printf("%06x", d->class_code);
        add_str_or_null(b, "vendor_id", vid);
        add_str_or_null(b, "device_id", did);
        add_str_or_null(b, "vendor", host_pci_ids_vendor(ids, d->vendor));
        add_str_or_null(b, "device", host_pci_ids_device(ids, d->vendor, d->device));
        add_str_or_null(b, "class", cls);
        json_builder_set_member_name(b, "iommu_group");
        if (d->group >= 0)
            json_builder_add_int_value(b, d->group);
        else
            json_builder_add_null_value(b);
        add_str_or_null(b, "driver", d->driver);
        json_builder_set_member_name(b, "in_host_use");
        json_builder_add_boolean_value(b, host_pci_in_host_use(d));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    host_pci_ids_free(ids);
    g_autoptr(JsonNode) node = json_builder_get_root(b);
    *json = host_json_text(node);
    qv_reset_error();
    return 0;
}
