/* Bases: disk files that copy-on-write clones share read-only. A clone
 * freezes each writable disk of its source as a base, and the source and the
 * clone each get a qcow2 overlay over it. A base lives while a VM reads
 * through it.
 *
 * STATE_DIR/qemu/.bases/ID/base.json records one:
 *   {"file": "/abs/path", "owned": true, "users": [{"name": "a", "uuid": "..."}]}
 * An owned base was a file of a VM's directory; its record's directory holds
 * a second name for it (a hard link, so nothing is copied), which outlives
 * the VM's directory. A base that is a file of the user's stays where it is
 * and is never removed. A VM is a user of every base its disks chain to,
 * and users are only added under the lock while the operation that makes
 * the VM use the base holds it, so a user that does not exist (no VM of
 * that name and UUID) is stale and dropped; a base without users goes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "../../lib/util/lock.h"
#include "qemu_base.h"

#define BASES ".bases"
#define BASES_LOCK ".bases.flock"
#define RECORD "base.json"
#define TMP_PREFIX ".tmp-"

struct base_rec {
    char *dir;
    char *file;
    bool owned;
    GPtrArray *names;
    GPtrArray *uuids;
};

static void rec_free(gpointer p)
{
    struct base_rec *r = p;
    if (!r)
        return;
    g_free(r->dir);
    g_free(r->file);
    g_ptr_array_unref(r->names);
    g_ptr_array_unref(r->uuids);
    g_free(r);
}

static char *bases_dir(const char *state_dir)
{
    return g_build_filename(state_dir, QEMU_KIND, BASES, NULL);
}

int qemu_bases_lock(const char *state_dir, int timeout_ms)
{
    int rc = proc_kind_dir_ensure(state_dir, QEMU_KIND);
    g_autofree char *dir = bases_dir(state_dir);
    if (rc == 0)
        rc = qv_dir_ensure(dir, 0700);
    if (rc < 0)
        return rc;
    g_autofree char *path = g_build_filename(state_dir, QEMU_KIND, BASES_LOCK, NULL);
    return qv_lock_acquire(path, timeout_ms);
}

void qemu_bases_unlock(int fd)
{
    qv_lock_release(fd);
}

static struct base_rec *rec_read(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, RECORD, NULL);
    g_autoptr(JsonNode) root = qv_json_load_file(path);
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    const char *file = qv_json_str(o, "file");
    if (!file) {
        qv_reset_error();
        return NULL;
    }
    struct base_rec *r = g_new0(struct base_rec, 1);
    r->dir = g_strdup(dir);
    r->file = g_strdup(file);
    r->owned = qv_json_bool(o, "owned", FALSE);
    r->names = g_ptr_array_new_with_free_func(g_free);
    r->uuids = g_ptr_array_new_with_free_func(g_free);
    JsonNode *un = json_object_get_member(o, "users");
    JsonArray *a = un && JSON_NODE_HOLDS_ARRAY(un) ? json_node_get_array(un) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *u = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *name = qv_json_str(u, "name");
        if (!name)
            continue;
        g_ptr_array_add(r->names, g_strdup(name));
        g_ptr_array_add(r->uuids, g_strdup(qv_json_str(u, "uuid") ? qv_json_str(u, "uuid") : ""));
    }
    return r;
}

static int rec_write_at(const char *dir, const struct base_rec *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "file");
    json_builder_add_string_value(b, r->file);
    json_builder_set_member_name(b, "owned");
    json_builder_add_boolean_value(b, r->owned);
    json_builder_set_member_name(b, "users");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->names->len; i++) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, g_ptr_array_index(r->names, i));
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, g_ptr_array_index(r->uuids, i));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, TRUE);
    g_autofree char *path = g_build_filename(dir, RECORD, NULL);
    return qv_file_write_atomic(path, text, strlen(text), 0600);
}

/* Every readable record (a damaged one is left alone: never guessed at). */
static GPtrArray *rec_all(const char *state_dir)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(rec_free);
    g_autofree char *dir = bases_dir(state_dir);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        if (e[0] == '.')
            continue;
        g_autofree char *sub = g_build_filename(dir, e, NULL);
        struct base_rec *r = rec_read(sub);
        if (r)
            g_ptr_array_add(out, r);
    }
    return out;
}

static bool has_user(const struct base_rec *r, const char *name)
{
    for (guint i = 0; i < r->names->len; i++)
        if (strcmp(g_ptr_array_index(r->names, i), name) == 0)
            return true;
    return false;
}

int qemu_base_create(const char *state_dir, const char *file, bool owned, const char *const *users,
                     char **base_file)
{
    g_autofree char *bases = bases_dir(state_dir);
    g_autofree char *rnd = g_uuid_string_random();
    g_autofree char *id = g_strndup(rnd, 8);
    g_autofree char *final = g_build_filename(bases, id, NULL);
    g_autofree char *tmp = g_strdup_printf("%s/" TMP_PREFIX "%s", bases, id);
    g_autofree char *abs = g_canonicalize_filename(file, NULL);
    g_autofree char *name = g_path_get_basename(abs);
    struct base_rec r = {.file = owned ? g_build_filename(final, name, NULL) : g_strdup(abs),
                         .owned = owned,
                         .names = g_ptr_array_new_with_free_func(g_free),
                         .uuids = g_ptr_array_new_with_free_func(g_free)};
    for (const char *const *u = users; u[0]; u += 2) {
        g_ptr_array_add(r.names, g_strdup(u[0]));
        g_ptr_array_add(r.uuids, g_strdup(u[1] ? u[1] : ""));
    }
    int rc = 0;
    if (mkdir(tmp, 0700) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot create '%s'", tmp);
    /* Filled under a temporary name: a record appears whole or not at all. */
    if (rc == 0)
        rc = rec_write_at(tmp, &r);
    if (rc == 0 && owned) {
        g_autofree char *link_path = g_build_filename(tmp, name, NULL);
        if (link(abs, link_path) < 0)
            rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot link '%s' to '%s'", abs, link_path);
    }
    if (rc == 0 && rename(tmp, final) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot rename '%s' to '%s'", tmp, final);
    if (rc < 0) {
        qv_dir_remove_tree(tmp);
        qv_error_prefix("cannot make '%s' a shared base", file);
    } else {
        *base_file = g_strdup(r.file);
    }
    g_free(r.file);
    g_ptr_array_unref(r.names);
    g_ptr_array_unref(r.uuids);
    return rc;
}

int qemu_base_inherit(const char *state_dir, const char *from, const char *name, const char *uuid)
{
    g_autoptr(GPtrArray) recs = rec_all(state_dir);
    for (guint i = 0; i < recs->len; i++) {
        struct base_rec *r = g_ptr_array_index(recs, i);
        if (!has_user(r, from) || has_user(r, name))
            continue;
        g_ptr_array_add(r->names, g_strdup(name));
        g_ptr_array_add(r->uuids, g_strdup(uuid ? uuid : ""));
        int rc = rec_write_at(r->dir, r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool vm_exists(const char *state_dir, const char *name, const char *uuid)
{
    g_autofree char *dir = g_build_filename(state_dir, QEMU_KIND, name, NULL);
    g_autofree char *xml = g_build_filename(dir, "domain.xml", NULL);
    if (!g_file_test(xml, G_FILE_TEST_IS_REGULAR))
        return false;
    if (!uuid || !*uuid)
        return true;
    g_autofree char *have = proc_stored_uuid(dir);
    /* An unreadable definition is not taken for a missing VM. */
    return !have || g_ascii_strcasecmp(have, uuid) == 0;
}

/* The bases the writable disks of def chain to; NULL when a chain cannot
 * be read (then no claim is dropped). */
static GHashTable *chain_files(const struct qv_domain *def)
{
    GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (!d->source || d->readonly || d->device == QV_DISK_CDROM)
            continue;
        g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func(g_free);
        const char *top = d->source;
        if (!g_file_test(top, G_FILE_TEST_EXISTS)) {
            /* An overlay made at first start: its chain is the backing's. */
            if (!d->backing)
                continue;
            top = d->backing;
        }
        if (qemu_image_chain(top, chain) < 0) {
            qv_reset_error();
            g_hash_table_unref(set);
            return NULL;
        }
        for (guint j = 0; j < chain->len; j++)
            g_hash_table_add(set, g_strdup(g_ptr_array_index(chain, j)));
    }
    return set;
}

static void rec_remove(const char *state_dir, struct base_rec *r)
{
    /* Renamed away first, so a kill half-way never leaves a record whose
     * file is gone. */
    g_autofree char *bases = bases_dir(state_dir);
    g_autofree char *id = g_path_get_basename(r->dir);
    g_autofree char *trash = g_strdup_printf("%s/" TMP_PREFIX "%s-gone", bases, id);
    if (rename(r->dir, trash) == 0)
        qv_dir_remove_tree(trash);
}

/* A kill while a record was rewritten leaves the temporary file of that
 * write beside it (the record itself is whole, old or new). The caller
 * holds the bases lock, so no write is under way. */
static void rec_sweep_tmp(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d)))
        if (g_str_has_prefix(e, "." RECORD ".")) {
            g_autofree char *p = g_build_filename(dir, e, NULL);
            unlink(p);
        }
}

void qemu_base_prune(const char *state_dir, const char *name, const struct qv_domain *def)
{
    g_autofree char *bases = bases_dir(state_dir);
    g_autoptr(GDir) d = g_dir_open(bases, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(bases, e, NULL);
        if (g_str_has_prefix(e, TMP_PREFIX))
            qv_dir_remove_tree(p);
        else if (e[0] != '.')
            rec_sweep_tmp(p);
    }
    g_autoptr(GHashTable) keep = def ? chain_files(def) : NULL;
    g_autoptr(GPtrArray) recs = rec_all(state_dir);
    for (guint i = 0; i < recs->len; i++) {
        struct base_rec *r = g_ptr_array_index(recs, i);
        bool changed = false;
        for (guint u = r->names->len; u-- > 0;) {
            const char *un = g_ptr_array_index(r->names, u);
            bool gone = !vm_exists(state_dir, un, g_ptr_array_index(r->uuids, u));
            bool unclaimed = keep && strcmp(un, name) == 0 && !g_hash_table_contains(keep, r->file);
            if (gone || unclaimed) {
                g_ptr_array_remove_index(r->names, u);
                g_ptr_array_remove_index(r->uuids, u);
                changed = true;
            }
        }
        if (r->names->len == 0)
            rec_remove(state_dir, r);
        else if (changed && rec_write_at(r->dir, r) < 0) {
            qv_reset_error();
        }
    }
    qv_reset_error();
}

void qemu_base_forget(const char *state_dir, const char *base_file)
{
    g_autoptr(GPtrArray) recs = rec_all(state_dir);
    for (guint i = 0; i < recs->len; i++) {
        struct base_rec *r = g_ptr_array_index(recs, i);
        if (strcmp(r->file, base_file) == 0)
            rec_remove(state_dir, r);
    }
}

static void prune_if_any(const char *state_dir, int timeout_ms)
{
    g_autofree char *bases = bases_dir(state_dir);
    if (!g_file_test(bases, G_FILE_TEST_IS_DIR))
        return;
    int fd = qemu_bases_lock(state_dir, timeout_ms);
    if (fd < 0) {
        qv_reset_error();
        return;
    }
    qemu_base_prune(state_dir, NULL, NULL);
    qemu_bases_unlock(fd);
}

/* ---- chains and tags ---------------------------------------------------- */

/* qemu-img's view of top's whole backing chain: one object per file, top
 * first, each with its name and its internal snapshots. */
static JsonArray *chain_info(const char *top, JsonNode **keep)
{
    const char *argv[] = {"qemu-img",      "info", "-U", "--backing-chain",
                          "--output=json", "--",   top,  NULL};
    g_autofree char *out = NULL;
    *keep = NULL;
    if (qemu_run_tool(argv, &out) < 0)
        return NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_bounded(out, strlen(out), "qemu-img info", &err);
    if (!root || !JSON_NODE_HOLDS_ARRAY(root)) {
        qv_error_set(QV_ERR_PROTOCOL, "qemu-img info --backing-chain on '%s' printed no JSON array",
                     top);
        return NULL;
    }
    JsonArray *a = json_node_get_array(root);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_OBJECT(e) || !qv_json_str(json_node_get_object(e), "filename")) {
            qv_error_set(QV_ERR_PROTOCOL, "qemu-img info on '%s' names no file", top);
            return NULL;
        }
    }
    *keep = g_steal_pointer(&root);
    return a;
}

int qemu_image_chain(const char *top, GPtrArray *files)
{
    g_autoptr(JsonNode) keep = NULL;
    JsonArray *a = chain_info(top, &keep);
    if (!a)
        return qv_error_code();
    for (guint i = 0; i < json_array_get_length(a); i++)
        g_ptr_array_add(files,
                        g_strdup(qv_json_str(json_array_get_object_element(a, i), "filename")));
    return 0;
}

int qemu_image_tags(const char *file, GHashTable *tags)
{
    g_autoptr(JsonNode) root = qemu_image_info(file, true);
    if (!root)
        return qv_error_code();
    JsonObject *o = json_node_get_object(root);
    JsonNode *sn = json_object_get_member(o, "snapshots");
    JsonArray *a = sn && JSON_NODE_HOLDS_ARRAY(sn) ? json_node_get_array(sn) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        const char *name =
            JSON_NODE_HOLDS_OBJECT(e) ? qv_json_str(json_node_get_object(e), "name") : NULL;
        if (name)
            g_hash_table_add(tags, g_strdup(name));
    }
    return 0;
}

static bool is_base(GPtrArray *recs, const char *file)
{
    for (guint i = 0; i < recs->len; i++)
        if (strcmp(((struct base_rec *)g_ptr_array_index(recs, i))->file, file) == 0)
            return true;
    return false;
}

/* top, then the bases under it (a chain ends at the first file that is
 * not one: the user's own base image holds no snapshots of ours). */
static int base_chain(const char *state_dir, const char *top, GPtrArray *out)
{
    g_autoptr(GPtrArray) recs = rec_all(state_dir);
    g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func(g_free);
    if (recs->len == 0) {
        g_ptr_array_add(out, g_strdup(top));
        return 0;
    }
    int rc = qemu_image_chain(top, chain);
    if (rc < 0)
        return rc;
    for (guint i = 0; i < chain->len; i++) {
        const char *f = g_ptr_array_index(chain, i);
        if (i > 0 && !is_base(recs, f))
            break;
        g_ptr_array_add(out, g_strdup(f));
    }
    return 0;
}

int qemu_base_tag_depth(const char *state_dir, const char *top, const char *tag, GPtrArray *chain,
                        int *depth)
{
    *depth = -1;
    int rc = base_chain(state_dir, top, chain);
    if (rc < 0)
        return rc;
    for (guint i = 0; i < chain->len; i++) {
        g_autoptr(GHashTable) tags = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        rc = qemu_image_tags(g_ptr_array_index(chain, i), tags);
        if (rc < 0)
            return rc;
        if (g_hash_table_contains(tags, tag)) {
            *depth = (int)i;
            break;
        }
    }
    return 0;
}

/* Every file under top in its real backing chain counts, whether or not a
 * record names it as a base: a damaged or missing record must not make a
 * snapshot kept in a base look lost (reconcile would drop its record). */
int qemu_base_tags_below(const char *top, GHashTable *tags)
{
    g_autoptr(JsonNode) keep = NULL;
    JsonArray *a = chain_info(top, &keep);
    if (!a)
        return qv_error_code();
    for (guint i = 1; i < json_array_get_length(a); i++) {
        JsonNode *sn = json_object_get_member(json_array_get_object_element(a, i), "snapshots");
        JsonArray *snaps = sn && JSON_NODE_HOLDS_ARRAY(sn) ? json_node_get_array(sn) : NULL;
        for (guint j = 0; snaps && j < json_array_get_length(snaps); j++) {
            JsonNode *e = json_array_get_element(snaps, j);
            const char *name =
                JSON_NODE_HOLDS_OBJECT(e) ? qv_json_str(json_node_get_object(e), "name") : NULL;
            if (name)
                g_hash_table_add(tags, g_strdup(name));
        }
    }
    return 0;
}

void qemu_base_sweep(const char *state_dir)
{
    prune_if_any(state_dir, 0);
}

void qemu_base_release(const char *state_dir)
{
    prune_if_any(state_dir, QEMU_LOCK_WAIT_MS);
}
