/* Where a clone's file and listening-socket consoles go. Two VMs appending
 * to one log would interleave, and a clone listening on its source's socket
 * path would unlink it and take its clients at start: each gets a name of
 * its own in the clone's directory. */
#include "domain.h"

void qv_domain_clone_chardevs(struct qv_domain *def, const char *dir)
{
    g_autoptr(GHashTable) moved = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GPtrArray *lists[] = {def->serials, def->consoles};
    guint next = 0;
    for (size_t l = 0; l < G_N_ELEMENTS(lists); l++)
        for (guint i = 0; lists[l] && i < lists[l]->len; i++) {
            struct qv_chardev *c = g_ptr_array_index(lists[l], i);
            bool sock = c->type == QV_CHR_UNIX && c->listen;
            if ((c->type != QV_CHR_FILE && !sock) || !c->path)
                continue;
            /* A <console> naming a <serial>'s path (libvirt's mirror of
             * it) follows that serial. */
            const char *to = g_hash_table_lookup(moved, c->path);
            if (!to) {
                g_autofree char *file =
                    g_strdup_printf(sock ? "serial%u.sock" : "serial%u.log", next++);
                to = g_build_filename(dir, file, NULL);
                g_hash_table_insert(moved, g_strdup(c->path), (char *)to);
            }
            g_free(c->path);
            c->path = g_strdup(to);
        }
}
