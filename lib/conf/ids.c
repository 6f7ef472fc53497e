/* Identifiers a new or cloned VM receives: UUID and NIC MAC addresses. */
#include <string.h>

#include "domain.h"

static bool mac_in_use(const struct qv_domain *def, const char *mac)
{
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (g_ascii_strcasecmp(n->mac, mac) == 0)
            return true;
    }
    return false;
}

/* 52:54:00 has the locally administered bit set and the multicast bit clear;
 * it is also the prefix QEMU and libvirt use, so tools recognise it. The
 * random tail makes collisions between VMs unlikely; within one domain they
 * are ruled out. */
static void generate_mac(const struct qv_domain *def, char out[18])
{
    /* Build the candidate aside: `out` is usually the NIC's own slot, which
     * mac_in_use would otherwise find and reject forever. */
    char mac[18];
    do {
        guint32 r = g_random_int();
        g_snprintf(mac, sizeof(mac), "52:54:00:%02x:%02x:%02x", (r >> 16) & 0xff,
                   (r >> 8) & 0xff, r & 0xff);
    } while (mac_in_use(def, mac));
    memcpy(out, mac, sizeof(mac));
}

void qv_domain_fill_defaults(struct qv_domain *def)
{
    if (!def->uuid[0]) {
        g_autofree char *u = g_uuid_string_random();
        g_strlcpy(def->uuid, u, sizeof(def->uuid));
    }
    if (def->max_vcpus == 0)
        def->max_vcpus = def->vcpus;
    if (def->vcpus == 0)
        def->vcpus = def->max_vcpus;
    for (guint i = 0; i < def->nets->len; i++) {
        struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (!n->mac[0])
            generate_mac(def, n->mac);
    }
}

void qv_domain_regenerate_ids(struct qv_domain *def)
{
    def->uuid[0] = '\0';
    for (guint i = 0; i < def->nets->len; i++)
        ((struct qv_net *)g_ptr_array_index(def->nets, i))->mac[0] = '\0';
    qv_domain_fill_defaults(def);
}
