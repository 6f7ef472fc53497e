/* vm_clone as copy-on-write: each writable disk of the source is frozen
 * as a shared base (qemu_base.c) and the source and the clone each get a
 * qcow2 overlay over it, so nothing is copied. A running or paused source
 * switches to its overlay live (blockdev-snapshot), paused meanwhile.
 *
 * The order, so that a kill anywhere leaves both VMs usable and nothing
 * lost:
 *   1. under the bases lock: record each base, users source and clone
 *      (an owned file gets its second name in the record's directory);
 *   2. create the source's and the clone's overlays (the clone's in its
 *      temporary directory);
 *   3. pause a running source, write its definition naming its overlay,
 *      then switch QEMU to the overlays, then resume: until the switch
 *      QEMU still writes the old file, which the overlay reads through, so
 *      the definition is right at either side of it;
 *   4. publish the clone (only now does a second VM read the base);
 *   5. drop the source directory's old name of an owned base.
 * A kill before 3 leaves the source as it was plus a record with users
 * that the next prune drops when they are gone; before 4, a temporary the
 * next open sweeps; before 5, a harmless second name. */
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
#include "qemu_argv.h"
#include "qemu_base.h"

struct clone_disk {
    guint index;
    const struct qv_disk *disk; /* the source's */
    char *file;                 /* the source's current top, to be the base */
    char *format;
    guint64 size;
    bool owned;
    char *base;
    char *src_overlay;
    char *dst_overlay;
    char *node;     /* live: the active node QEMU has now */
    char *new_node; /* live: the overlay's node */
};

static void clone_disk_free(gpointer p)
{
    struct clone_disk *c = p;
    g_free(c->file);
    g_free(c->format);
    g_free(c->base);
    g_free(c->src_overlay);
    g_free(c->dst_overlay);
    g_free(c->node);
    g_free(c->new_node);
    g_free(c);
}

static char *short_id(void)
{
    g_autofree char *u = g_uuid_string_random();
    return g_strndup(u, 8);
}

static bool inside(const char *dir, const char *file)
{
    g_autofree char *prefix = g_strconcat(dir, "/", NULL);
    return g_str_has_prefix(file, prefix);
}

static int write_def(const char *dir, const struct qv_domain *def)
{
    g_autofree char *xml = qv_domain_format_xml(def);
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    g_autofree char *path = g_build_filename(dir, "domain.xml", NULL);
    return qv_file_write_atomic(path, xml, strlen(xml), 0600);
}

/* Which disks become bases, and what each is now. */
static int plan(struct qemu_vm *src, struct qemu_vm *dst, const struct qv_domain *sdef,
                struct qv_domain *ddef, GPtrArray *out)
{
    for (guint i = 0; i < sdef->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(sdef->disks, i);
        if (!d->source || d->readonly || d->device == QV_DISK_CDROM)
            continue;
        if (d->type != QV_DISK_TYPE_FILE)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "cannot clone VM '%s': disk %s is a block device, and the qemu "
                                "driver clones file disks (as qcow2 overlays)",
                                src->name, d->target);
        if (!g_file_test(d->source, G_FILE_TEST_EXISTS)) {
            if (!d->backing)
                return qv_error_set(QV_ERR_NOT_FOUND,
                                    "cannot clone VM '%s': disk %s ('%s') does not exist",
                                    src->name, d->target, d->source);
            /* An overlay not made yet (never started): the clone gets its
             * own over the same read-only base at its first start. */
            struct qv_disk *dd = g_ptr_array_index(ddef->disks, i);
            g_free(dd->source);
            dd->source = g_strdup_printf("%s/%s.qcow2", dst->dir, d->target);
            continue;
        }
        g_autoptr(JsonNode) info = qemu_image_info(d->source, true);
        if (!info)
            return qv_error_code();
        JsonObject *o = json_node_get_object(info);
        struct clone_disk *c = g_new0(struct clone_disk, 1);
        g_ptr_array_add(out, c);
        c->index = i;
        c->disk = d;
        c->file = g_canonicalize_filename(d->source, NULL);
        c->format = g_strdup(qv_json_str(o, "format"));
        c->size = (guint64)qv_json_int(o, "virtual-size", 0);
        c->owned = inside(src->dir, c->file);
        if (!c->format || c->size == 0 ||
            (strcmp(c->format, "qcow2") != 0 && strcmp(c->format, "raw") != 0))
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "cannot clone VM '%s': disk %s ('%s') is %s, not qcow2 or raw",
                                src->name, d->target, d->source, c->format ? c->format : "unknown");
    }
    return 0;
}

/* ---- the live switch ------------------------------------------------------ */

static int node_add(struct qmp *m, struct qemu_vm *q, const struct clone_disk *c)
{
    const struct qv_disk *d = c->disk;
    gboolean direct, no_flush, write_cache;
    int rc = qemu_disk_cache_mode(q->name, d->cache, &direct, &no_flush, &write_cache);
    if (rc < 0)
        return rc;
    g_autofree char *file_node = g_strdup_printf("%s-file", c->new_node);
    g_autoptr(JsonBuilder) b = json_builder_new();
    qemu_blockdev_begin(b, "file", file_node, FALSE, direct, no_flush, d->discard);
    qemu_json_member_str(b, "filename", c->src_overlay);
    if (d->io)
        qemu_json_member_str(b, "aio", d->io);
    json_builder_end_object(b);
    g_autofree char *file_args = qemu_json_text(b);
    rc = qmp_command_json(m, "blockdev-add", file_args, NULL, QEMU_QMP_TIMEOUT_MS);
    if (rc < 0)
        return rc;
    g_autoptr(JsonBuilder) f = json_builder_new();
    qemu_blockdev_begin(f, "qcow2", c->new_node, FALSE, direct, no_flush, d->discard);
    qemu_json_member_str(f, "file", file_node);
    /* No backing yet: blockdev-snapshot puts the active node under it. */
    json_builder_set_member_name(f, "backing");
    json_builder_add_null_value(f);
    json_builder_end_object(f);
    g_autofree char *fmt_args = qemu_json_text(f);
    rc = qmp_command_json(m, "blockdev-add", fmt_args, NULL, QEMU_QMP_TIMEOUT_MS);
    if (rc < 0) {
        g_autofree char *del = g_strdup_printf("{\"node-name\": \"%s\"}", file_node);
        qmp_command_json(m, "blockdev-del", del, NULL, QEMU_QMP_TIMEOUT_MS);
    }
    return rc;
}

static void node_del(struct qmp *m, const struct clone_disk *c)
{
    g_autofree char *a = g_strdup_printf("{\"node-name\": \"%s\"}", c->new_node);
    g_autofree char *b = g_strdup_printf("{\"node-name\": \"%s-file\"}", c->new_node);
    qmp_command_json(m, "blockdev-del", a, NULL, QEMU_QMP_TIMEOUT_MS);
    qmp_command_json(m, "blockdev-del", b, NULL, QEMU_QMP_TIMEOUT_MS);
}

/* What QEMU has open must be what the definition names, or the base would
 * not be the file QEMU stops writing. */
/* The file a QEMU block node reads: query-block names a node made by
 * blockdev-add (as the live switch does) with a json: pseudo-filename,
 * whose protocol child holds the real one. NULL when it names none. */
static char *open_file_name(const char *file)
{
    if (!g_str_has_prefix(file, "json:"))
        return g_canonicalize_filename(file, NULL);
    const char *text = file + strlen("json:");
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_bounded(text, strlen(text), "query-block", &err);
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    const char *name = qv_json_str(qv_json_obj(o, "file"), "filename");
    return name ? g_canonicalize_filename(name, NULL) : NULL;
}

static int live_check(struct qmp *m, struct qemu_vm *q, GPtrArray *disks)
{
    for (guint i = 0; i < disks->len; i++) {
        struct clone_disk *c = g_ptr_array_index(disks, i);
        c->node = qemu_block_lookup(m, c->disk->target, "node-name");
        g_autofree char *file = c->node ? qemu_block_lookup(m, c->disk->target, "file") : NULL;
        if (!file)
            return qv_error_code();
        g_autofree char *abs = open_file_name(file);
        if (!abs || strcmp(abs, c->file) != 0)
            return qv_error_set(QV_ERR_INVALID_STATE,
                                "cannot clone VM '%s': its QEMU has '%s' open for disk %s but "
                                "its definition names '%s' (an interrupted operation); restart "
                                "the VM first",
                                q->name, file, c->disk->target, c->file);
        g_autofree char *id = short_id();
        c->new_node = g_strdup_printf("%s-o%s", c->disk->target, id);
    }
    return 0;
}

/* All disks at once (one transaction), so the bases are from one instant. */
static int live_switch(struct qmp *m, struct qemu_vm *q, GPtrArray *disks)
{
    guint added = 0;
    int rc = 0;
    for (; rc == 0 && added < disks->len; added++) {
        rc = node_add(m, q, g_ptr_array_index(disks, added));
        if (rc < 0)
            break;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "actions");
    json_builder_begin_array(b);
    for (guint i = 0; i < disks->len; i++) {
        struct clone_disk *c = g_ptr_array_index(disks, i);
        json_builder_begin_object(b);
        qemu_json_member_str(b, "type", "blockdev-snapshot");
        json_builder_set_member_name(b, "data");
        json_builder_begin_object(b);
        qemu_json_member_str(b, "node", c->node);
        qemu_json_member_str(b, "overlay", c->new_node);
        json_builder_end_object(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autofree char *args = qemu_json_text(b);
    if (rc == 0)
        rc = qmp_command_json(m, "transaction", args, NULL, QEMU_QMP_TIMEOUT_MS * 3);
    if (rc < 0) {
        struct qv_error_saved e;
        qv_error_save(&e);
        for (guint i = 0; i < added; i++)
            node_del(m, g_ptr_array_index(disks, i));
        qv_error_restore(&e);
    }
    return rc;
}

static int run_state(struct qmp *m, bool *running)
{
    JsonNode *ret = NULL;
    int rc = qmp_command(m, "query-status", NULL, &ret, QEMU_QMP_TIMEOUT_MS);
    if (rc < 0)
        return rc;
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
    *running = qv_json_bool(o, "running", FALSE);
    json_node_unref(ret);
    return 0;
}

/* ---- the clone's other files ---------------------------------------------- */

/* Its own NVRAM, a copy of the source's (boot entries and variables). */
static int clone_nvram(struct qemu_vm *src, struct qemu_vm *dst, const char *tmp,
                       const struct qv_domain *sdef, struct qv_domain *ddef)
{
    if (!sdef->os.loader || !sdef->os.loader_pflash)
        return 0;
    g_autofree char *from = sdef->os.nvram            ? g_strdup(sdef->os.nvram)
                            : sdef->os.nvram_template ? g_build_filename(src->dir, "nvram.fd", NULL)
                                                      : NULL;
    if (ddef->os.nvram) {
        g_free(ddef->os.nvram);
        ddef->os.nvram = g_build_filename(dst->dir, "nvram.fd", NULL);
    }
    if (!from || !g_file_test(from, G_FILE_TEST_IS_REGULAR))
        return 0; /* made from the template at the clone's first start */
    g_autofree char *to = g_build_filename(tmp, "nvram.fd", NULL);
    return qemu_copy_small(from, to);
}

/* The source's cloud-init data without its instance-id: the clone's is
 * then its own UUID, so cloud-init in the guest runs again as on a new
 * machine. */
static int clone_cloud_init(struct qemu_vm *src, const char *tmp)
{
    g_autofree char *from = g_build_filename(src->dir, "cloud-init.json", NULL);
    if (!g_file_test(from, G_FILE_TEST_IS_REGULAR))
        return 0;
    g_autoptr(JsonNode) root = qv_json_load_file(from);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        qv_error_prefix("cannot read '%s'", from);
        return qv_error_code() ? qv_error_code() : QV_ERR_JSON;
    }
    JsonObject *o = json_node_get_object(root);
    if (json_object_has_member(o, "instance_id"))
        json_object_remove_member(o, "instance_id");
    g_autofree char *text = json_to_string(root, TRUE);
    g_autofree char *to = g_build_filename(tmp, "cloud-init.json", NULL);
    return qv_file_write_atomic(to, text, strlen(text), 0600);
}

/* ---- vm_clone ------------------------------------------------------------- */

static void undo_bases(struct qemu_vm *src, GPtrArray *disks)
{
    for (guint i = 0; i < disks->len; i++) {
        struct clone_disk *c = g_ptr_array_index(disks, i);
        if (c->src_overlay)
            unlink(c->src_overlay);
        if (c->base)
            qemu_base_forget(src->state_dir, c->base);
    }
}

/* Steps 1-4 of the header; the caller holds the bases lock. */
static int clone_disks(struct qv_conn *conn, struct qemu_vm *src, struct qemu_vm *dst,
                       struct qv_domain *sdef, struct qv_domain *ddef, const char *tmp,
                       GPtrArray *disks)
{
    bool live = qemu_vm_running(src);
    struct qmp *m = live ? qemu_vm_qmp(src, false) : NULL;
    int rc = live && !m ? qv_error_code() : 0;
    if (rc == 0 && live)
        rc = live_check(m, src, disks);
    const char *users[] = {src->name, sdef->uuid, dst->name, ddef->uuid, NULL};
    for (guint i = 0; rc == 0 && i < disks->len; i++) {
        struct clone_disk *c = g_ptr_array_index(disks, i);
        rc = qemu_base_create(src->state_dir, c->file, c->owned, users, &c->base);
        g_autofree char *id = short_id();
        if (rc == 0) {
            c->src_overlay = g_strdup_printf("%s/%s-%s.qcow2", src->dir, c->disk->target, id);
            rc = qemu_overlay_create_sized(c->src_overlay, c->base, c->format, c->size);
        }
        g_autofree char *name = g_strdup_printf("%s.qcow2", c->disk->target);
        g_autofree char *at = g_build_filename(tmp, name, NULL);
        c->dst_overlay = g_build_filename(dst->dir, name, NULL);
        if (rc == 0)
            rc = qemu_overlay_create_sized(at, c->base, c->format, c->size);
    }
    if (rc == 0)
        rc = qemu_base_inherit(src->state_dir, src->name, dst->name, ddef->uuid);
    g_autoptr(qv_domain) old = rc == 0 ? qv_domain_copy(sdef) : NULL;
    for (guint i = 0; rc == 0 && i < disks->len; i++) {
        struct clone_disk *c = g_ptr_array_index(disks, i);
        struct qv_disk *sd = g_ptr_array_index(sdef->disks, c->index);
        struct qv_disk *dd = g_ptr_array_index(ddef->disks, c->index);
        const char *tops[] = {c->src_overlay, c->dst_overlay};
        struct qv_disk *ds[] = {sd, dd};
        for (int k = 0; k < 2; k++) {
            g_free(ds[k]->source);
            ds[k]->source = g_strdup(tops[k]);
            g_free(ds[k]->driver_type);
            ds[k]->driver_type = g_strdup("qcow2");
            g_free(ds[k]->backing);
            ds[k]->backing = g_strdup(c->base);
            g_free(ds[k]->backing_format);
            ds[k]->backing_format = g_strdup(c->format);
        }
    }
    bool resume = false;
    if (rc == 0 && live && (rc = run_state(m, &resume)) == 0 && resume)
        rc = qmp_command(m, "stop", NULL, NULL, QEMU_QMP_TIMEOUT_MS);
    if (rc == 0)
        rc = write_def(src->dir, sdef);
    bool switched = rc == 0;
    if (rc == 0 && live) {
        rc = live_switch(m, src, disks);
        if (rc < 0) {
            /* QEMU kept its files: so does the definition. */
            struct qv_error_saved e;
            qv_error_save(&e);
            if (write_def(src->dir, old) == 0)
                switched = false;
            qv_error_restore(&e);
        }
    }
    if (resume && qmp_command(m, "cont", NULL, NULL, QEMU_QMP_TIMEOUT_MS) < 0 && rc == 0)
        rc = qv_error_code();
    qmp_close(m);
    if (rc < 0 && !switched)
        undo_bases(src, disks);
    if (rc < 0)
        return rc;
    proc_log(src->dir, "disks frozen as shared bases for clone %s%s", dst->name,
             live ? " (switched live)" : "");

    rc = clone_nvram(src, dst, tmp, sdef, ddef);
    if (rc == 0)
        rc = clone_cloud_init(src, tmp);
    if (rc == 0)
        rc = write_def(tmp, ddef);
    if (rc == 0)
        rc = qemu_vm_publish(conn, dst, tmp, ddef->uuid);
    return rc;
}

int qemu_clone_locked(struct qv_conn *conn, struct qemu_vm *src, struct qemu_vm *dst,
                      const struct qv_domain *newdef)
{
    g_autofree char *xml_path = g_build_filename(dst->dir, "domain.xml", NULL);
    if (g_file_test(xml_path, G_FILE_TEST_EXISTS))
        return qv_error_set(QV_ERR_EXISTS, "VM '%s' already exists on %s", dst->name,
                            conn->uri_str);
    g_autoptr(qv_domain) sdef = qemu_vm_load_def(src);
    if (!sdef)
        return qv_error_code();
    g_autoptr(qv_domain) ddef = qv_domain_copy(newdef);
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(clone_disk_free);
    int rc = plan(src, dst, sdef, ddef, disks);
    if (rc < 0)
        return rc;
    int lock = qemu_bases_lock(src->state_dir, QEMU_LOCK_WAIT_MS);
    if (lock < 0)
        return lock;
    g_autofree char *tmp = qemu_tmp_dir(dst);
    rc = tmp ? clone_disks(conn, src, dst, sdef, ddef, tmp, disks) : qv_error_code();
    if (rc < 0) {
        struct qv_error_saved e;
        qv_error_save(&e);
        if (tmp)
            qv_dir_remove_tree(tmp);
        /* The clone's claims, if the source kept its overlays. */
        qemu_base_prune(src->state_dir, NULL, NULL);
        qv_error_restore(&e);
    } else {
        for (guint i = 0; i < disks->len; i++) {
            struct clone_disk *c = g_ptr_array_index(disks, i);
            if (!c->owned)
                continue;
            /* The base keeps the data; it is read-only from now on. */
            unlink(c->file);
            chmod(c->base, 0400);
        }
    }
    qemu_bases_unlock(lock);
    if (rc < 0) {
        qv_error_prefix("cannot clone VM '%s' as '%s'", src->name, dst->name);
        return rc;
    }
    proc_log(dst->dir, "cloned from %s (copy-on-write over %u shared base%s)", src->name,
             disks->len, disks->len == 1 ? "" : "s");
    return 0;
}

/* ---- restoring a snapshot taken before a clone ---------------------------- */

struct unshare {
    guint index;
    char *from; /* the base holding the snapshot */
    char *old_top;
};

static void unshare_free(gpointer p)
{
    struct unshare *u = p;
    g_free(u->from);
    g_free(u->old_top);
    g_free(u);
}

/* Snapshots of q's taken after the clone whose base holds name: they live
 * in the files above it, which a private copy of the base leaves behind. */
static int newer_snapshots(struct qemu_vm *q, GPtrArray *chain, int depth, GString *names)
{
    for (int i = 0; i < depth; i++) {
        g_autoptr(GHashTable) tags = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        int rc = qemu_image_tags(g_ptr_array_index(chain, i), tags);
        if (rc < 0)
            return rc;
        GHashTableIter it;
        gpointer k;
        g_hash_table_iter_init(&it, tags);
        while (g_hash_table_iter_next(&it, &k, NULL)) {
            g_autofree char *rec = g_strdup_printf("%s/snapshots/%s.json", q->dir, (char *)k);
            if (g_file_test(rec, G_FILE_TEST_EXISTS) && !strstr(names->str, k))
                g_string_append_printf(names, "%s%s", names->len ? ", " : "", (char *)k);
        }
    }
    return 0;
}

static int private_copy(struct qemu_vm *q, const char *from, const char *to)
{
    g_autofree char *dir = g_path_get_dirname(to);
    g_autofree char *name = g_path_get_basename(to);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, name);
    int fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot create '%s'", to);
    close(fd);
    const char *argv[] = {"cp", "--reflink=auto", "--sparse=always", "--", from, tmp, NULL};
    int rc = qemu_run_tool(argv, NULL);
    /* cp keeps the base's read-only mode. */
    if (rc == 0 && chmod(tmp, 0600) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot chmod '%s'", tmp);
    if (rc == 0 && rename(tmp, to) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot rename '%s' to '%s'", tmp, to);
    if (rc < 0) {
        unlink(tmp);
        qv_error_prefix("VM '%s': cannot copy base '%s'", q->name, from);
    }
    return rc;
}

int qemu_clone_unshare(struct vm *vm, struct qemu_vm *q, const char *name)
{
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    if (!def)
        return qv_error_code();
    g_autoptr(GPtrArray) plan = g_ptr_array_new_with_free_func(unshare_free);
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (!d->source || d->readonly || d->device == QV_DISK_CDROM || !d->backing ||
            !g_file_test(d->source, G_FILE_TEST_EXISTS))
            continue;
        g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func(g_free);
        int depth;
        int rc = qemu_base_tag_depth(q->state_dir, d->source, name, chain, &depth);
        if (rc < 0)
            return rc;
        if (depth <= 0)
            continue;
        g_autoptr(GString) newer = g_string_new(NULL);
        rc = newer_snapshots(q, chain, depth, newer);
        if (rc < 0)
            return rc;
        if (newer->len)
            return qv_error_set(QV_ERR_INVALID_STATE,
                                "cannot restore snapshot '%s' of VM '%s': it was taken before "
                                "the VM was cloned, and snapshots taken since (%s) live over "
                                "the base it is kept in; delete them first",
                                name, q->name, newer->str);
        struct unshare *u = g_new0(struct unshare, 1);
        u->index = i;
        u->from = g_strdup(g_ptr_array_index(chain, depth));
        u->old_top = g_strdup(d->source);
        g_ptr_array_add(plan, u);
    }
    if (plan->len == 0)
        return 0;
    /* The restore starts it again, from the snapshot's memory. */
    if (qemu_vm_running(q)) {
        int rc = qemu_vm_stop(vm, VM_STOP_FORCE, 0);
        if (rc < 0)
            return rc;
    }
    int lock = qemu_bases_lock(q->state_dir, QEMU_LOCK_WAIT_MS);
    if (lock < 0)
        return lock;
    int rc = 0;
    for (guint i = 0; rc == 0 && i < plan->len; i++) {
        struct unshare *u = g_ptr_array_index(plan, i);
        struct qv_disk *d = g_ptr_array_index(def->disks, u->index);
        g_autoptr(JsonNode) info = qemu_image_info(u->from, true);
        if (!info) {
            rc = qv_error_code();
            break;
        }
        JsonObject *o = json_node_get_object(info);
        const char *bf = qv_json_str(o, "full-backing-filename");
        if (!bf)
            bf = qv_json_str(o, "backing-filename");
        const char *bfmt = qv_json_str(o, "backing-filename-format");
        g_autofree char *id = short_id();
        g_autofree char *copy = g_strdup_printf("%s/%s-%s.qcow2", q->dir, d->target, id);
        rc = private_copy(q, u->from, copy);
        if (rc < 0)
            break;
        g_free(d->source);
        d->source = g_steal_pointer(&copy);
        g_free(d->backing);
        d->backing = g_strdup(bf);
        g_free(d->backing_format);
        d->backing_format = bf ? g_strdup(bfmt ? bfmt : "raw") : NULL;
    }
    if (rc == 0)
        rc = write_def(q->dir, def);
    if (rc == 0) {
        for (guint i = 0; i < plan->len; i++) {
            struct unshare *u = g_ptr_array_index(plan, i);
            if (inside(q->dir, u->old_top))
                unlink(u->old_top);
        }
        qemu_base_prune(q->state_dir, q->name, def);
        proc_log(q->dir, "private copy of the shared base made to restore snapshot '%s'", name);
    } else {
        /* Copies the definition does not name are not kept. */
        for (guint i = 0; i < plan->len; i++) {
            struct qv_disk *d = g_ptr_array_index(
                def->disks, ((struct unshare *)g_ptr_array_index(plan, i))->index);
            if (inside(q->dir, d->source) &&
                strcmp(d->source, ((struct unshare *)g_ptr_array_index(plan, i))->old_top))
                unlink(d->source);
        }
    }
    qemu_bases_unlock(lock);
    return rc < 0 ? rc : 1;
}
