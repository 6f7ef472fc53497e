/* Snapshots kept inside the VM's qcow2 disks (QEMU's internal snapshots):
 * QMP's snapshot-save/-load/-delete jobs while QEMU runs (qemu_job.h),
 * qemu-img snapshot on the disks while it does not. qv keeps what QEMU does
 * not: when each was taken and in which state, in DIR/snapshots/NAME.json.
 *
 * The record is written before the tags, with a phase ("creating",
 * "deleting"), and marked "ready" only once every disk has the tag, so after
 * a kill anywhere the next operation can decide (reconcile): a record that
 * is not ready, or ready but missing a disk's tag, goes with its tags; a
 * tag without a ready record is deleted. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu_base.h"
#include "qemu_job.h"
#include "qemu_vm.h"

#define SNAP_TIMEOUT_MS 120000

enum snap_phase { SNAP_READY, SNAP_CREATING, SNAP_DELETING };
static const char *const phase_names[] = {"ready", "creating", "deleting"};

struct snap_meta {
    gint64 created_us;
    enum vm_state state;
    bool disk_only;
    enum snap_phase phase;
};

static char *meta_path(struct qemu_vm *q, const char *name)
{
    g_autofree char *base = g_strdup_printf("%s.json", name);
    return g_build_filename(q->dir, "snapshots", base, NULL);
}

/* The files holding snapshots: every writable disk, each of them qcow2. */
static int snapshot_disks(struct qemu_vm *q, const struct qv_domain *def, GPtrArray *files)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (d->readonly || d->device == QV_DISK_CDROM)
            continue;
        const char *fmt = d->backing ? "qcow2" : d->driver_type ? d->driver_type : "raw";
        if (strcmp(fmt, "qcow2") != 0)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s' cannot take snapshots: disk %s is %s, and the qemu "
                                "driver keeps snapshots inside qcow2 disks",
                                q->name, d->target, fmt);
        g_ptr_array_add(files, g_strdup(d->source));
    }
    if (files->len == 0)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s' cannot take snapshots: it has no writable qcow2 disk to keep "
                            "them in",
                            q->name);
    return 0;
}

static int read_meta(struct qemu_vm *q, const char *name, struct snap_meta *m)
{
    g_autofree char *path = meta_path(q, name);
    g_autoptr(JsonNode) root = qv_json_load_file(path);
    if (!root && qv_error_code() == QV_ERR_NOT_FOUND)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no snapshot '%s'", q->name, name);
    if (!root)
        return qv_error_code();
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    if (!o)
        return qv_error_set(QV_ERR_JSON, "'%s' is not a JSON object", path);
    m->created_us = qv_json_int(o, "created_us", 0);
    const char *st = qv_json_str(o, "state");
    m->state = g_strcmp0(st, "running") == 0  ? VM_STATE_RUNNING
               : g_strcmp0(st, "paused") == 0 ? VM_STATE_PAUSED
                                              : VM_STATE_STOPPED;
    m->disk_only = qv_json_bool(o, "disk_only", FALSE);
    /* Records written before phases existed are complete ones. */
    const char *ph = qv_json_str(o, "phase");
    m->phase = !ph || strcmp(ph, "ready") == 0 ? SNAP_READY
               : strcmp(ph, "creating") == 0   ? SNAP_CREATING
                                               : SNAP_DELETING;
    return 0;
}

/* A record that names a snapshot a caller may use. */
static int read_ready_meta(struct qemu_vm *q, const char *name, struct snap_meta *m)
{
    int rc = read_meta(q, name, m);
    if (rc == 0 && m->phase != SNAP_READY)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no snapshot '%s'", q->name, name);
    return rc;
}

static int write_meta(struct qemu_vm *q, const char *name, const struct snap_meta *m)
{
    g_autofree char *dir = g_build_filename(q->dir, "snapshots", NULL);
    int rc = qv_dir_ensure(dir, 0700);
    if (rc < 0)
        return rc;
    g_autofree char *text =
        g_strdup_printf("{\"created_us\": %" G_GINT64_FORMAT
                        ", \"state\": \"%s\", \"disk_only\": %s, \"phase\": \"%s\"}\n",
                        m->created_us, vm_state_name(m->state), m->disk_only ? "true" : "false",
                        phase_names[m->phase]);
    g_autofree char *path = meta_path(q, name);
    return qv_file_write_atomic(path, text, strlen(text), 0600);
}

static int qemu_img_snapshot(GPtrArray *files, const char *op, const char *name)
{
    for (guint i = 0; i < files->len; i++) {
        const char *argv[] = {"qemu-img", "snapshot", op, name, "--", g_ptr_array_index(files, i),
                              NULL};
        int rc = qemu_run_tool(argv, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The files among files that hold tag name: a snapshot taken before a
 * clone is in the shared base instead, which stays as it is (the clone
 * reads it), so deleting it removes its record only. */
static GPtrArray *holding(GPtrArray *files, const char *name)
{
    for (guint i = files->len; i-- > 0;) {
        g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (qemu_image_tags(g_ptr_array_index(files, i), t) == 0 && !g_hash_table_contains(t, name))
            g_ptr_array_remove_index(files, i);
        qv_reset_error();
    }
    return files;
}

/* Remove every tag called name (qcow2 allows duplicates), from QEMU when it
 * runs, else from the files. Errors are left to the next reconcile. */
static void drop_tags(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def,
                      GPtrArray *files, const char *name)
{
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(g_free);
    guint left = 0;
    /* QEMU holds the files while it runs: only it may change them. */
    bool live = m && qemu_snapshot_nodes(q, m, def, nodes) == 0;
    for (int i = 0; live && i < 16; i++)
        if (qemu_snapshot_tag_count(m, nodes, name, &left) < 0 || left == 0 ||
            qemu_snapshot_job(NULL, m, "snapshot-delete", name, nodes, SNAP_TIMEOUT_MS) < 0)
            break;
    for (guint f = 0; !m && f < files->len; f++)
        for (int i = 0; i < 16; i++) {
            const char *argv[] = {
                "qemu-img", "snapshot", "-d", name, "--", g_ptr_array_index(files, f), NULL};
            if (qemu_run_tool(argv, NULL) < 0)
                break;
        }
    qv_reset_error();
}

/* Make records and tags agree after whatever was interrupted (the header
 * comment has the rules). The caller holds the VM's lock. Nothing is
 * decided while a disk cannot be read, nor while a job a killed caller
 * started may still be changing the tags. */
static void reconcile(struct qemu_vm *q, const struct qv_domain *def)
{
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    if (snapshot_disks(q, def, files) < 0 || qemu_snapshot_settle(q, SNAP_TIMEOUT_MS) < 0) {
        qv_reset_error();
        return;
    }
    g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func((GDestroyNotify)g_hash_table_unref);
    g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < files->len; i++) {
        GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_ptr_array_add(tags, t);
        if (qemu_image_tags(g_ptr_array_index(files, i), t) < 0) {
            qv_reset_error();
            return;
        }
        GHashTableIter it;
        gpointer k;
        g_hash_table_iter_init(&it, t);
        while (g_hash_table_iter_next(&it, &k, NULL))
            g_hash_table_add(names, g_strdup(k));
        /* Snapshots taken before a clone are in the shared base under the
         * disk: they count as on it, but a tag there is never dropped. */
        if (qemu_base_tags_below(g_ptr_array_index(files, i), t) < 0) {
            proc_log(q->dir, "snapshots not reconciled: %s", qv_last_error()->message);
            qv_reset_error();
            return;
        }
    }
    g_autofree char *dir = g_build_filename(q->dir, "snapshots", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d)))
        if (g_str_has_suffix(e, ".json") && e[0] != '.')
            g_hash_table_add(names, g_strndup(e, strlen(e) - 5));
    struct qmp *m = NULL;
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, names);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        const char *name = k;
        guint on = 0;
        for (guint i = 0; i < tags->len; i++)
            on += g_hash_table_contains(g_ptr_array_index(tags, i), name);
        struct snap_meta meta;
        g_autofree char *path = meta_path(q, name);
        bool has_meta = g_file_test(path, G_FILE_TEST_EXISTS);
        bool readable = has_meta && read_meta(q, name, &meta) == 0;
        qv_reset_error();
        if (readable && meta.phase == SNAP_READY && on == tags->len)
            continue;
        if (has_meta && !readable)
            continue; /* damaged: listed as such, never guessed at */
        if (on > 0) {
            if (!m && qemu_vm_running(q) && !(m = qemu_vm_qmp(q, false))) {
                qv_reset_error();
                return;
            }
            drop_tags(q, m, def, files, name);
        }
        if (has_meta)
            unlink(path);
        proc_log(q->dir, "snapshot '%s' dropped: %s", name,
                 !has_meta                  ? "a disk tag without a record"
                 : meta.phase != SNAP_READY ? "left half-done by an interrupted operation"
                                            : "a record whose tag a disk lacks");
    }
    qmp_close(m);
}

static int run_state(struct qmp *m, enum vm_state *st)
{
    JsonNode *ret = NULL;
    int rc = qmp_command(m, "query-status", NULL, &ret, QEMU_QMP_TIMEOUT_MS);
    if (rc < 0)
        return rc;
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
    *st = qv_json_bool(o, "running", FALSE) ? VM_STATE_RUNNING : VM_STATE_PAUSED;
    json_node_unref(ret);
    return 0;
}

static int create_locked(struct vm *vm, struct qemu_vm *q, const char *name, unsigned flags)
{
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    if (!def)
        return qv_error_code();
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    int rc = snapshot_disks(q, def, files);
    if (rc < 0)
        return rc;
    /* A tag an interrupted create left must not be taken for this one. */
    reconcile(q, def);
    g_autofree char *path = meta_path(q, name);
    if (g_file_test(path, G_FILE_TEST_EXISTS))
        return qv_error_set(QV_ERR_EXISTS, "VM '%s' already has a snapshot '%s'", q->name, name);
    struct snap_meta meta = {.created_us = g_get_real_time(),
                             .state = VM_STATE_STOPPED,
                             .disk_only = (flags & SNAPSHOT_DISK_ONLY) != 0,
                             .phase = SNAP_CREATING};
    bool running = qemu_vm_running(q);
    if (!running) {
        g_autofree char *state_json = g_build_filename(q->dir, "state.json", NULL);
        meta.disk_only = true; /* no process: there is no memory to save */
        meta.state =
            g_file_test(state_json, G_FILE_TEST_EXISTS) ? VM_STATE_STOPPED : VM_STATE_CREATED;
    }
    rc = write_meta(q, name, &meta);
    if (rc < 0) {
        qv_error_prefix("cannot take snapshot '%s' of VM '%s'", name, q->name);
        return rc;
    }
    struct qmp *m = NULL;
    if (running) {
        m = qemu_vm_qmp(q, false);
        rc = m ? run_state(m, &meta.state) : qv_error_code();
        g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(g_free);
        if (rc == 0)
            rc = qemu_snapshot_nodes(q, m, def, nodes);
        if (rc == 0 && meta.disk_only) {
            for (guint i = 0; rc == 0 && i < nodes->len; i++) {
                g_autofree char *args = g_strdup_printf("{\"device\": \"%s\", \"name\": \"%s\"}",
                                                        (char *)g_ptr_array_index(nodes, i), name);
                rc = qmp_command_json(m, "blockdev-snapshot-internal-sync", args, NULL,
                                      SNAP_TIMEOUT_MS);
            }
        } else if (rc == 0) {
            /* The job stops the vCPUs while it writes and restarts them. */
            rc = qemu_snapshot_job(vm, m, "snapshot-save", name, nodes, SNAP_TIMEOUT_MS);
        }
    } else {
        rc = qemu_img_snapshot(files, "-c", name);
    }
    if (rc == 0) {
        meta.phase = SNAP_READY;
        rc = write_meta(q, name, &meta);
    }
    if (rc < 0) {
        /* Undo what was made; what this cannot undo, reconcile will. */
        struct qv_error_saved e;
        qv_error_save(&e);
        drop_tags(q, m, def, files, name);
        unlink(path);
        qv_error_restore(&e);
    }
    qmp_close(m);
    if (rc == 0)
        proc_log(q->dir, "snapshot '%s' taken (%s, %s)", name, vm_state_name(meta.state),
                 meta.disk_only ? "disks only" : "memory and disks");
    else
        qv_error_prefix("cannot take snapshot '%s' of VM '%s'", name, q->name);
    return rc;
}

static int restore_locked(struct vm *vm, struct qemu_vm *q, const char *name)
{
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    if (!def)
        return qv_error_code();
    reconcile(q, def);
    struct snap_meta meta;
    int rc = read_ready_meta(q, name, &meta);
    if (rc < 0)
        return rc;
    /* One taken before a clone is restored in a private copy of the shared
     * base that holds it (qemu_clone.c). */
    if (!(meta.disk_only && qemu_vm_running(q))) {
        rc = qemu_clone_unshare(vm, q, name);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            qv_domain_free(def);
            if (!(def = qemu_vm_load_def(q)))
                return qv_error_code();
        }
    }
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    rc = snapshot_disks(q, def, files);
    if (rc < 0)
        return rc;
    if (meta.disk_only) {
        if (qemu_vm_running(q))
            return qv_error_set(QV_ERR_INVALID_STATE,
                                "cannot restore disk-only snapshot '%s' of VM '%s' while it runs: "
                                "stop it first",
                                name, q->name);
        rc = qemu_img_snapshot(files, "-a", name);
    } else {
        if (!qemu_vm_running(q)) {
            rc = qemu_vm_start(vm);
            if (rc < 0)
                return rc;
        }
        struct qmp *m = qemu_vm_qmp(q, false);
        if (!m)
            return qv_error_code();
        g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(g_free);
        rc = qemu_snapshot_nodes(q, m, def, nodes);
        if (rc == 0)
            rc = qemu_snapshot_job(vm, m, "snapshot-load", name, nodes, SNAP_TIMEOUT_MS);
        /* Back to the state the snapshot was taken in. */
        if (rc == 0)
            rc = qmp_command(m, meta.state == VM_STATE_RUNNING ? "cont" : "stop", NULL, NULL,
                             QEMU_QMP_TIMEOUT_MS);
        qmp_close(m);
    }
    if (rc == 0)
        proc_log(q->dir, "snapshot '%s' restored", name);
    else
        qv_error_prefix("cannot restore snapshot '%s' of VM '%s'", name, q->name);
    return rc;
}

static int delete_locked(struct vm *vm, struct qemu_vm *q, const char *name)
{
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    if (!def)
        return qv_error_code();
    reconcile(q, def);
    struct snap_meta meta;
    int rc = read_ready_meta(q, name, &meta);
    if (rc < 0)
        return rc;
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    rc = snapshot_disks(q, def, files);
    if (rc < 0)
        return rc;
    /* From here on the snapshot is going: a kill leaves a record the next
     * reconcile finishes deleting. */
    meta.phase = SNAP_DELETING;
    rc = write_meta(q, name, &meta);
    if (rc < 0)
        return rc;
    if (qemu_vm_running(q)) {
        struct qmp *m = qemu_vm_qmp(q, false);
        if (!m)
            return qv_error_code();
        g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(g_free);
        rc = qemu_snapshot_nodes(q, m, def, nodes);
        if (rc == 0)
            rc = qemu_snapshot_job(vm, m, "snapshot-delete", name, nodes, SNAP_TIMEOUT_MS);
        qmp_close(m);
    } else {
        rc = qemu_img_snapshot(holding(files, name), "-d", name);
    }
    if (rc < 0) {
        qv_error_prefix("cannot delete snapshot '%s' of VM '%s'", name, q->name);
        return rc;
    }
    g_autofree char *path = meta_path(q, name);
    if (unlink(path) < 0 && errno != ENOENT)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot remove '%s'", path);
    proc_log(q->dir, "snapshot '%s' deleted", name);
    return 0;
}

int qemu_snapshot_create(struct vm *vm, const char *name, unsigned flags)
{
    /* QEMU's snapshot-save writes whole memory into the qcow2 image; it has
     * no increment over an earlier snapshot's memory. */
    if (flags & SNAPSHOT_INCREMENTAL)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "cannot take snapshot '%s' of VM '%s': the qemu driver's snapshots "
                            "(QEMU's snapshot-save) always hold all of memory; "
                            "SNAPSHOT_INCREMENTAL is for kvm:///embed",
                            name, vm->name);
    struct qemu_vm *q = qemu_vm_of(vm);
    int rc = qemu_vm_lock(q, SNAP_TIMEOUT_MS);
    if (rc < 0)
        return rc;
    rc = create_locked(vm, q, name, flags);
    qemu_vm_unlock(q);
    return rc;
}

int qemu_snapshot_restore(struct vm *vm, const char *name)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    int rc = qemu_vm_lock(q, SNAP_TIMEOUT_MS);
    if (rc < 0)
        return rc;
    rc = restore_locked(vm, q, name);
    qemu_vm_unlock(q);
    return rc;
}

int qemu_snapshot_delete(struct vm *vm, const char *name)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    int rc = qemu_vm_lock(q, SNAP_TIMEOUT_MS);
    if (rc < 0)
        return rc;
    rc = delete_locked(vm, q, name);
    qemu_vm_unlock(q);
    return rc;
}

static gint by_created(gconstpointer a, gconstpointer b)
{
    const struct snapshot_info *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Bytes each snapshot tag takes, over the VM's disks: its saved machine
 * state (vm-state-size in qemu-img info). qcow2 does not say which data
 * clusters a snapshot alone holds, so disk blocks are not counted; the
 * sizes are for people, the list never fails for want of them. */
static GHashTable *tag_sizes(struct qemu_vm *q)
{
    GHashTable *sizes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    if (!def || snapshot_disks(q, def, files) < 0) {
        qv_reset_error();
        return sizes;
    }
    for (guint f = 0; f < files->len; f++) {
        const char *file = g_ptr_array_index(files, f);
        g_autoptr(JsonNode) root = qemu_image_info(file, true);
        if (!root) {
            qv_reset_error();
            continue;
        }
        JsonObject *o = json_node_get_object(root);
        JsonNode *sn = json_object_get_member(o, "snapshots");
        JsonArray *a = sn && JSON_NODE_HOLDS_ARRAY(sn) ? json_node_get_array(sn) : NULL;
        gint64 vsize = qv_json_int(o, "virtual-size", -1);
        guint64 meta = 0;
        bool measured = a && vsize > 0 && qemu_image_meta_bytes((guint64)vsize, &meta) == 0;
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
            JsonNode *e = json_array_get_element(a, i);
            JsonObject *so = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
            const char *name = qv_json_str(so, "name");
            gint64 vm_state = qv_json_int(so, "vm-state-size", 0);
            if (!name)
                continue;
            guint64 data = 0;
            if (measured && qemu_snapshot_disk_bytes(file, name, meta, &data) < 0) {
                proc_log(q->dir, "snapshot '%s' size without its disk data: %s", name,
                         qv_last_error()->message);
                data = 0;
            }
            if (vm_state <= 0 && data == 0)
                continue;
            guint64 *sum = g_hash_table_lookup(sizes, name);
            if (!sum) {
                sum = g_new0(guint64, 1);
                g_hash_table_insert(sizes, g_strdup(name), sum);
            }
            *sum += (guint64)MAX(vm_state, 0) + data;
        }
    }
    qv_reset_error();
    return sizes;
}

int qemu_snapshot_list(struct vm *vm, struct snapshot_info **list, size_t *count)
{
    struct qemu_vm *q = qemu_vm_of(vm);
    /* Reconciled when nobody else is at work on the VM (listing never
     * waits for a lock). */
    if (qemu_vm_lock(q, 0) == 0) {
        g_autoptr(qv_domain) def = qemu_vm_load_def(q);
        if (def)
            reconcile(q, def);
        qemu_vm_unlock(q);
    }
    qv_reset_error();
    g_autofree char *dir = g_build_filename(q->dir, "snapshots", NULL);
    GArray *out = g_array_new(FALSE, TRUE, sizeof(struct snapshot_info));
    g_autoptr(GHashTable) sizes = tag_sizes(q);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        if (!g_str_has_suffix(e, ".json") || e[0] == '.')
            continue;
        g_autofree char *name = g_strndup(e, strlen(e) - 5);
        struct snap_meta m;
        if (read_meta(q, name, &m) < 0) {
            qv_reset_error();
            continue;
        }
        if (m.phase != SNAP_READY)
            continue;
        const guint64 *size = g_hash_table_lookup(sizes, name);
        struct snapshot_info si = {.name = g_strdup(name),
                                   .created = m.created_us,
                                   .size = size ? *size : 0,
                                   .state = m.state};
        g_array_append_val(out, si);
    }
    /* Sort on microseconds, then report seconds. */
    g_array_sort(out, by_created);
    for (guint i = 0; i < out->len; i++)
        g_array_index(out, struct snapshot_info, i).created /= G_USEC_PER_SEC;
    *count = out->len;
    *list = (struct snapshot_info *)g_array_free(out, FALSE);
    return 0;
}
