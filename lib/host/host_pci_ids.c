/* Vendor and device names from the pci.ids database, when installed. It is
 * optional: without it listings carry the numeric ids only. */
#include <stdlib.h>
#include <string.h>

#include "../util/fileio.h"
#include "host.h"

struct host_pci_ids {
    GHashTable *vendors; /* GUINT_TO_POINTER(vendor) -> name */
    GHashTable *devices; /* GUINT_TO_POINTER(vendor << 16 | device) -> name */
};

/* "1234  Name": the id in hex and the name after two spaces. */
static bool parse_entry(const char *line, unsigned *id, const char **name)
{
    for (int i = 0; i < 4; i++)
        if (!g_ascii_isxdigit(line[i]))
            return false;
    if (line[4] != ' ' || line[5] != ' ' || !line[6])
        return false;
    *id = (unsigned)strtoul(line, NULL, 16) & 0xffff;
    *name = line + 6;
    return true;
}

struct host_pci_ids *host_pci_ids_load(const char *root)
{
    g_autofree char *path = host_path(root, "/usr/share/misc/pci.ids");
    g_autofree char *text = NULL;
    if (qv_file_read_text(path, 16 * 1024 * 1024, &text, NULL) < 0)
        return NULL;
    struct host_pci_ids *ids = g_new0(struct host_pci_ids, 1);
    ids->vendors = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    ids->devices = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    bool in_vendor = false;
    unsigned vendor = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        unsigned id;
        const char *name;
        if (line[0] == '#' || !line[0])
            continue;
        if (line[0] != '\t') {
            /* The class list ("C 03  Display controller") ends the vendors. */
            in_vendor = parse_entry(line, &id, &name);
            if (in_vendor) {
                vendor = id;
                g_hash_table_replace(ids->vendors, GUINT_TO_POINTER(vendor), g_strdup(name));
            }
        } else if (in_vendor && line[1] != '\t' && parse_entry(line + 1, &id, &name)) {
            g_hash_table_replace(ids->devices, GUINT_TO_POINTER(vendor << 16 | id), g_strdup(name));
        }
    }
    return ids;
}

void host_pci_ids_free(struct host_pci_ids *ids)
{
    if (!ids)
        return;
    g_hash_table_unref(ids->vendors);
    g_hash_table_unref(ids->devices);
    g_free(ids);
}

const char *host_pci_ids_vendor(const struct host_pci_ids *ids, unsigned vendor)
{
    return ids ? g_hash_table_lookup(ids->vendors, GUINT_TO_POINTER(vendor)) : NULL;
}

const char *host_pci_ids_device(const struct host_pci_ids *ids, unsigned vendor, unsigned device)
{
    return ids ? g_hash_table_lookup(ids->devices, GUINT_TO_POINTER(vendor << 16 | device)) : NULL;
}
