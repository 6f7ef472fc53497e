/* Snapshots of noop VMs: the definition, the state, every vCPU's registers
 * and the contents of every memory region. In memory they are objects; in
 * directory mode DIR/<vm>/snapshots/<snap>/ holds domain.xml, regs.json,
 * memory-<gpa>.bin (sparse) and meta.json, written into a temporary
 * directory and renamed into place, so a snapshot is complete or absent. */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/api/state.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"
#include "noop.h"

struct noop_snap {
    char *name;
    gint64 created_us;
    struct qv_vm_status st;
    bool disk_only;
    struct qv_domain *def;
    GArray *ids;        /* uint32_t, parallel to cpus */
    GPtrArray *cpus;    /* struct noop_cpu_state * */
    GPtrArray *regions; /* struct noop_region * */
    uint64_t size;
};

static void cpu_state_free(gpointer p)
{
    noop_cpu_state_clear(p);
    g_free(p);
}

static struct noop_snap *snap_new(const char *name)
{
    struct noop_snap *s = g_new0(struct noop_snap, 1);
    s->name = g_strdup(name);
    s->ids = g_array_new(FALSE, TRUE, sizeof(uint32_t));
    s->cpus = g_ptr_array_new_with_free_func(cpu_state_free);
    s->regions = g_ptr_array_new_with_free_func((GDestroyNotify)noop_region_free);
    return s;
}

void noop_snap_free(struct noop_snap *s)
{
    if (!s)
        return;
    g_free(s->name);
    qv_domain_free(s->def);
    g_array_free(s->ids, TRUE);
    g_ptr_array_free(s->cpus, TRUE);
    g_ptr_array_free(s->regions, TRUE);
    g_free(s);
}

static gint cmp_u32(gconstpointer a, gconstpointer b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Every vCPU's state, by ascending id. */
static void capture_cpus(struct noop_vm *v, GArray *ids, GPtrArray *cpus)
{
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, v->vcpus);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        uint32_t id = GPOINTER_TO_UINT(key);
        g_array_append_val(ids, id);
    }
    g_array_sort(ids, cmp_u32);
    for (guint i = 0; i < ids->len; i++) {
        struct noop_vcpu *vc =
            g_hash_table_lookup(v->vcpus, GUINT_TO_POINTER(g_array_index(ids, uint32_t, i)));
        struct noop_cpu_state *c = g_new0(struct noop_cpu_state, 1);
        pthread_mutex_lock(&vc->lock);
        noop_cpu_state_copy(c, &vc->cpu);
        pthread_mutex_unlock(&vc->lock);
        g_ptr_array_add(cpus, c);
    }
}

/* vCPUs the snapshot knows get its registers (missing ones are created);
 * vCPUs created after it go back to their power-on state. */
static void apply_cpus(struct vm *vm, struct noop_vm *v, GArray *ids, GPtrArray *cpus)
{
    GHashTableIter it;
    gpointer key, val;
    g_hash_table_iter_init(&it, v->vcpus);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        struct noop_vcpu *vc = val;
        pthread_mutex_lock(&vc->lock);
        noop_cpu_state_reset(&vc->cpu, vc->base.id, 0xffff0);
        g_array_set_size(vc->events, 0);
        pthread_mutex_unlock(&vc->lock);
    }
    for (guint i = 0; i < ids->len; i++) {
        uint32_t id = g_array_index(ids, uint32_t, i);
        struct noop_vcpu *vc = g_hash_table_lookup(v->vcpus, GUINT_TO_POINTER(id));
        if (!vc) {
            vc = noop_vcpu_new(vm, id);
            g_hash_table_insert(v->vcpus, GUINT_TO_POINTER(id), vc);
        }
        pthread_mutex_lock(&vc->lock);
        noop_cpu_state_copy(&vc->cpu, g_ptr_array_index(cpus, i));
        pthread_mutex_unlock(&vc->lock);
    }
}

static bool overlap(const struct noop_region *a, const struct noop_region *b)
{
    return a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size;
}

static bool overlaps_any(const struct noop_region *r, GPtrArray *set)
{
    for (guint i = 0; i < set->len; i++)
        if (overlap(r, g_ptr_array_index(set, i)))
            return true;
    return false;
}

static gint cmp_gpa(gconstpointer a, gconstpointer b)
{
    const struct noop_region *x = *(struct noop_region *const *)a;
    const struct noop_region *y = *(struct noop_region *const *)b;
    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* The memory after a restore: the snapshot's regions with their contents
 * (a region removed since comes back), and the regions added since, kept
 * as they are. Built in new files (memfds in memory mode) before anything
 * changes: a failure, a full disk included, leaves the VM as it was. */
static GPtrArray *build_memory(struct noop_vm *v, GPtrArray *snap_regions, uint64_t gen)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)noop_region_free);
    int rc = 0;
    for (guint i = 0; rc == 0 && i < snap_regions->len; i++) {
        struct noop_region *src = g_ptr_array_index(snap_regions, i);
        g_autofree char *path = v->dir ? noop_region_file(v->dir, src->gpa, gen) : NULL;
        struct noop_region *fresh = noop_region_new(src->gpa, src->size, src->flags, path);
        g_ptr_array_add(out, fresh);
        if (path)
            unlink(path); /* left by an earlier, interrupted restore */
        rc = noop_region_copy(fresh, src);
    }
    for (guint i = 0; rc == 0 && v->dir && i < v->regions->len; i++) {
        struct noop_region *cur = g_ptr_array_index(v->regions, i);
        if (overlaps_any(cur, snap_regions))
            continue;
        g_autofree char *path = noop_region_file(v->dir, cur->gpa, gen);
        struct noop_region *fresh = noop_region_new(cur->gpa, cur->size, cur->flags, path);
        g_ptr_array_add(out, fresh);
        unlink(path);
        rc = noop_region_copy(fresh, cur);
    }
    if (rc < 0) {
        for (guint i = 0; i < out->len; i++) {
            struct noop_region *r = g_ptr_array_index(out, i);
            if (r->path)
                unlink(r->path);
        }
        g_ptr_array_free(out, TRUE);
        return NULL;
    }
    g_ptr_array_sort(out, cmp_gpa);
    return out;
}

/* Memory mode: the new contents replace the old ones in place. */
static int mem_commit(struct noop_vm *v, GPtrArray *fresh)
{
    for (guint i = 0; i < fresh->len; i++) {
        struct noop_region *f = g_ptr_array_index(fresh, i);
        struct noop_region *dst = noop_memory_find(v, f->gpa, f->size);
        if (dst) {
            int rc = noop_region_swap(dst, f);
            if (rc < 0)
                return rc;
            continue;
        }
        /* Resized or removed since: whatever overlaps it goes. */
        for (guint k = v->regions->len; k-- > 0;)
            if (overlap(g_ptr_array_index(v->regions, k), f))
                g_ptr_array_remove_index(v->regions, k);
        fresh->pdata[i] = NULL; /* now v's */
        g_ptr_array_add(v->regions, f);
    }
    g_ptr_array_sort(v->regions, cmp_gpa);
    return 0;
}

/* Directory mode, after state.json named generation gen: every process
 * maps the new files (noop_memory_regen) and the old generation goes. */
static int dir_adopt(struct noop_vm *v, GPtrArray *fresh, GPtrArray *old_files, uint64_t gen)
{
    g_autoptr(GArray) list = g_array_new(FALSE, TRUE, sizeof(struct noop_region));
    for (guint i = 0; i < fresh->len; i++) {
        struct noop_region *f = g_ptr_array_index(fresh, i);
        struct noop_region r = {.gpa = f->gpa, .size = f->size, .flags = f->flags, .fd = -1};
        g_array_append_val(list, r);
    }
    int rc = noop_memory_regen(v, gen);
    if (rc == 0 && v->regions->len == 0)
        rc = noop_memory_init(v);
    if (rc == 0)
        rc = noop_memory_sync(v, list);
    for (guint i = 0; i < old_files->len; i++)
        unlink(g_ptr_array_index(old_files, i));
    return rc;
}

static void drop_fresh(struct noop_vm *v, GPtrArray *fresh, uint64_t gen)
{
    for (guint i = 0; fresh && i < fresh->len; i++) {
        struct noop_region *r = g_ptr_array_index(fresh, i);
        if (r->path)
            unlink(r->path);
    }
    if (v->dir) {
        g_autofree char *pending = noop_store_pending_def(v->dir, gen);
        unlink(pending);
    }
}

static int no_such(struct noop_vm *v, const char *name)
{
    return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no snapshot '%s'", v->name, name);
}

static int exists(struct noop_vm *v, const char *name)
{
    return qv_error_set(QV_ERR_EXISTS, "VM '%s' already has a snapshot '%s'", v->name, name);
}

/* ---- Memory mode ---- */

static struct noop_snap *mem_find(struct noop_vm *v, const char *name, guint *index)
{
    for (guint i = 0; i < v->snaps->len; i++) {
        struct noop_snap *s = g_ptr_array_index(v->snaps, i);
        if (strcmp(s->name, name) == 0) {
            if (index)
                *index = i;
            return s;
        }
    }
    return NULL;
}

static int mem_create(struct noop_vm *v, const char *name, unsigned flags)
{
    if (mem_find(v, name, NULL))
        return exists(v, name);
    struct noop_snap *s = snap_new(name);
    s->created_us = g_get_real_time();
    s->st = v->st;
    s->disk_only = flags & SNAPSHOT_DISK_ONLY;
    s->def = qv_domain_copy(v->def);
    g_autofree char *xml = qv_domain_format_xml(s->def);
    s->size = xml ? strlen(xml) : 0;
    if (!s->disk_only) {
        capture_cpus(v, s->ids, s->cpus);
        g_autofree char *regs = noop_regs_to_json(s->ids, s->cpus);
        s->size += strlen(regs);
        for (guint i = 0; i < v->regions->len; i++) {
            struct noop_region *r = g_ptr_array_index(v->regions, i);
            struct noop_region *copy = noop_region_new(r->gpa, r->size, r->flags, NULL);
            g_ptr_array_add(s->regions, copy);
            int rc = noop_region_copy(copy, r);
            if (rc < 0) {
                noop_snap_free(s);
                return rc;
            }
            s->size += noop_region_bytes(copy);
        }
    }
    g_ptr_array_add(v->snaps, s);
    return 0;
}

/* Directory mode: the snapshot's memory (generation N+1) and definition
 * (domain.gN+1.xml) are written beside the live ones; replacing state.json
 * with one naming N+1 commits all three at once. A kill before it leaves
 * the VM as it was, after it the next load completes the restore. */
static int restore_common(struct vm *vm, struct noop_vm *v, struct noop_snap *s)
{
    uint64_t gen = v->memgen + 1;
    struct qv_vm_status st = {s->st.state, s->st.reason, -1};
    g_autoptr(GPtrArray) fresh = NULL;
    if (!s->disk_only && !(fresh = build_memory(v, s->regions, gen)))
        return qv_error_code();
    int rc = 0;
    if (v->dir && fresh)
        rc = noop_store_write_pending_def(v->dir, gen, s->def);
    else if (v->dir) /* definition and state only: the definition first */
        rc = noop_store_write_def(v->dir, s->def);
    g_autoptr(GPtrArray) old_files = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; v->dir && i < v->regions->len; i++) {
        struct noop_region *r = g_ptr_array_index(v->regions, i);
        g_ptr_array_add(old_files, noop_region_file(v->dir, r->gpa, v->memgen));
    }
    if (rc == 0 && v->dir && fresh)
        rc = noop_store_write_state(v->dir, v->instance, gen, &st, fresh); /* the commit */
    if (rc < 0) {
        drop_fresh(v, fresh, gen);
        return rc;
    }
    qv_domain_free(v->def);
    v->def = qv_domain_copy(s->def);
    if (v->dir && fresh) {
        v->st = st;
        rc = noop_store_roll_forward(v->dir, gen);
        if (rc == 0)
            rc = dir_adopt(v, fresh, old_files, gen);
    } else if (fresh) {
        rc = mem_commit(v, fresh);
    }
    if (rc < 0)
        return rc;
    if (!s->disk_only)
        apply_cpus(vm, v, s->ids, s->cpus);
    return noop_vm_set_state(v, s->st.state, s->st.reason);
}

/* ---- Directory mode ---- */

static char *snaps_dir(struct noop_vm *v)
{
    return g_build_filename(v->dir, "snapshots", NULL);
}

static uint64_t dir_bytes(const char *dir, bool skip_meta)
{
    uint64_t total = 0;
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        if (skip_meta && strcmp(e, "meta.json") == 0)
            continue;
        g_autofree char *p = g_build_filename(dir, e, NULL);
        struct stat st;
        if (lstat(p, &st) == 0)
            total += (uint64_t)st.st_blocks * 512;
    }
    if (d)
        g_dir_close(d);
    return total;
}

static int write_json(const char *dir, const char *file, JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    gsize len = 0;
    g_autofree char *text = json_generator_to_data(gen, &len);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    return qv_file_write_atomic(path, text, len, 0600);
}

static int dir_write(struct noop_vm *v, const char *tmp, const char *name, unsigned flags)
{
    bool disk_only = flags & SNAPSHOT_DISK_ONLY;
    int rc = noop_store_write_def(tmp, v->def);
    if (rc == 0 && !disk_only) {
        g_autoptr(GArray) ids = g_array_new(FALSE, TRUE, sizeof(uint32_t));
        g_autoptr(GPtrArray) cpus = g_ptr_array_new_with_free_func(cpu_state_free);
        capture_cpus(v, ids, cpus);
        g_autofree char *regs = noop_regs_to_json(ids, cpus);
        g_autofree char *path = g_build_filename(tmp, "regs.json", NULL);
        rc = qv_file_write_atomic(path, regs, strlen(regs), 0600);
    }
    for (guint i = 0; rc == 0 && !disk_only && i < v->regions->len; i++) {
        struct noop_region *r = g_ptr_array_index(v->regions, i);
        g_autofree char *path = noop_region_file(tmp, r->gpa, 0);
        struct noop_region *copy = noop_region_new(r->gpa, r->size, r->flags, path);
        rc = noop_region_copy(copy, r);
        noop_region_free(copy);
    }
    if (rc < 0)
        return rc;
    gint64 now = g_get_real_time();
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "created");
    json_builder_add_int_value(b, now / G_USEC_PER_SEC);
    json_builder_set_member_name(b, "created_us");
    json_builder_add_int_value(b, now);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, (gint64)dir_bytes(tmp, true));
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, vm_state_name(v->st.state));
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, noop_reason_name(v->st.reason));
    json_builder_set_member_name(b, "disk_only");
    json_builder_add_boolean_value(b, disk_only);
    if (!disk_only)
        noop_json_add_regions(b, v->regions, 0);
    json_builder_end_object(b);
    return write_json(tmp, "meta.json", b);
}

static int dir_create(struct noop_vm *v, const char *name, unsigned flags)
{
    g_autofree char *parent = snaps_dir(v);
    g_autofree char *dir = g_build_filename(parent, name, NULL);
    if (g_file_test(dir, G_FILE_TEST_EXISTS))
        return exists(v, name);
    int rc = qv_dir_ensure(parent, 0700);
    if (rc < 0)
        return rc;
    g_autofree char *tmp = noop_store_mkdtemp(parent, name);
    if (!tmp)
        return qv_error_code();
    rc = dir_write(v, tmp, name, flags);
    if (rc == 0)
        rc = noop_store_publish(tmp, dir, "create snapshot", name);
    if (rc < 0)
        qv_dir_remove_tree(tmp);
    if (rc < 0 && rc != QV_ERR_EXISTS)
        qv_error_prefix("cannot take snapshot '%s' of VM '%s'", name, v->name);
    return rc;
}

static struct noop_snap *dir_read_meta(const char *dir, const char *name, bool with_regions)
{
    g_autofree char *path = g_build_filename(dir, "meta.json", NULL);
    g_autoptr(JsonNode) root = qv_json_load_file(path);
    if (!root)
        return NULL;
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    gint64 created_us = 0, size = 0;
    struct noop_snap *s = snap_new(name);
    const char *bad = NULL;
    if (!o)
        bad = "$";
    else if (!noop_json_int(o, "created_us", &created_us))
        bad = "$.created_us";
    else if (!noop_json_int(o, "size", &size) || size < 0)
        bad = "$.size";
    else if (noop_state_from_name(qv_json_str(o, "state"), &s->st.state) < 0 ||
             s->st.state == VM_STATE_DESTROYED)
        bad = "$.state";
    else if (noop_reason_from_name(qv_json_str(o, "reason"), &s->st.reason) < 0)
        bad = "$.reason";
    if (bad) {
        qv_error_set(QV_ERR_JSON, "%s: %s: missing or invalid", path, bad);
        noop_snap_free(s);
        return NULL;
    }
    s->created_us = created_us;
    s->size = (uint64_t)size;
    s->st.exit_status = -1;
    JsonNode *dn = json_object_get_member(o, "disk_only");
    s->disk_only = dn && JSON_NODE_HOLDS_VALUE(dn) &&
                   json_node_get_value_type(dn) == G_TYPE_BOOLEAN && json_node_get_boolean(dn);
    if (with_regions && !s->disk_only) {
        g_autoptr(GArray) regions = g_array_new(FALSE, TRUE, sizeof(struct noop_region));
        if (noop_json_regions(o, path, regions) < 0) {
            noop_snap_free(s);
            return NULL;
        }
        for (guint i = 0; i < regions->len; i++) {
            struct noop_region *r = &g_array_index(regions, struct noop_region, i);
            g_autofree char *file = noop_region_file(dir, r->gpa, 0);
            struct stat st;
            if (stat(file, &st) < 0 || (uint64_t)st.st_size != r->size) {
                qv_error_set(QV_ERR_IO, "%s: missing or of the wrong size", file);
                noop_snap_free(s);
                return NULL;
            }
            g_ptr_array_add(s->regions, noop_region_new(r->gpa, r->size, r->flags, file));
        }
    }
    return s;
}

/* Everything a restore needs, read and checked before anything changes. */
static struct noop_snap *dir_load(struct noop_vm *v, const char *name)
{
    g_autofree char *parent = snaps_dir(v);
    g_autofree char *dir = g_build_filename(parent, name, NULL);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        no_such(v, name);
        return NULL;
    }
    struct noop_snap *s = dir_read_meta(dir, name, true);
    if (!s)
        return NULL;
    g_autofree char *xml_path = g_build_filename(dir, "domain.xml", NULL);
    g_autofree char *xml = NULL;
    if (qv_file_read_text(xml_path, QV_DEFINITION_MAX_BYTES, &xml, NULL) < 0 ||
        !(s->def = qv_domain_parse_xml(xml))) {
        qv_error_prefix("%s", xml_path);
        noop_snap_free(s);
        return NULL;
    }
    if (g_strcmp0(s->def->name, v->name) != 0) {
        qv_error_set(QV_ERR_XML, "%s: names VM '%s', not '%s'", xml_path, s->def->name, v->name);
        noop_snap_free(s);
        return NULL;
    }
    if (!s->disk_only) {
        g_autofree char *regs_path = g_build_filename(dir, "regs.json", NULL);
        g_autofree char *regs = NULL;
        size_t regs_len = 0;
        if (qv_file_read_text(regs_path, NOOP_REGS_JSON_MAX, &regs, &regs_len) < 0 ||
            noop_regs_from_json(regs, regs_len, regs_path, s->ids, s->cpus) < 0) {
            noop_snap_free(s);
            return NULL;
        }
    }
    return s;
}

static gint cmp_snap(gconstpointer a, gconstpointer b)
{
    const struct noop_snap *x = *(struct noop_snap *const *)a, *y = *(struct noop_snap *const *)b;
    if (x->created_us != y->created_us)
        return x->created_us < y->created_us ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int dir_list(struct noop_vm *v, GPtrArray *out)
{
    g_autofree char *parent = snaps_dir(v);
    GDir *d = g_dir_open(parent, 0, NULL);
    if (!d)
        return 0; /* none taken yet */
    const char *e;
    int rc = 0;
    while (rc == 0 && (e = g_dir_read_name(d))) {
        if (e[0] == '.')
            continue; /* one being written */
        g_autofree char *dir = g_build_filename(parent, e, NULL);
        struct noop_snap *s = dir_read_meta(dir, e, false);
        if (!s) {
            rc = qv_error_code();
            break;
        }
        s->size = dir_bytes(dir, false);
        g_ptr_array_add(out, s);
    }
    g_dir_close(d);
    g_ptr_array_sort(out, cmp_snap);
    return rc;
}

/* ---- Slots ---- */

int noop_snapshot_create(struct vm *vm, const char *name, unsigned flags)
{
    /* The noop driver keeps no record of which guest pages were written,
     * so it cannot store an increment; a whole snapshot would silently
     * cost what the caller asked to save. */
    if (flags & SNAPSHOT_INCREMENTAL)
        return qv_error_set(
            QV_ERR_UNSUPPORTED,
            "cannot take snapshot '%s' of VM '%s': the noop driver does not track "
            "written pages, so it has no incremental snapshots (SNAPSHOT_INCREMENTAL "
            "is for kvm:///embed); take a full snapshot",
            name, vm->name);
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    rc = qv_op_check(QV_OP_SNAPSHOT_CREATE, v->st.state, v->name);
    if (rc == 0)
        rc = v->dir ? dir_create(v, name, flags) : mem_create(v, name, flags);
    noop_vm_end(v);
    return rc;
}

int noop_snapshot_restore(struct vm *vm, const char *name)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    rc = qv_op_check(QV_OP_SNAPSHOT_RESTORE, v->st.state, v->name);
    if (rc == 0 && v->dir) {
        struct noop_snap *s = dir_load(v, name);
        rc = s ? restore_common(vm, v, s) : qv_error_code();
        noop_snap_free(s);
    } else if (rc == 0) {
        struct noop_snap *s = mem_find(v, name, NULL);
        rc = s ? restore_common(vm, v, s) : no_such(v, name);
    }
    noop_vm_end(v);
    return rc;
}

int noop_snapshot_delete(struct vm *vm, const char *name)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    if (v->dir) {
        g_autofree char *parent = snaps_dir(v);
        g_autofree char *dir = g_build_filename(parent, name, NULL);
        g_autofree char *tmp = NULL;
        if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
            rc = no_such(v, name);
        } else if (!(tmp = noop_store_mkdtemp(parent, name))) {
            rc = qv_error_code();
        } else if (rename(dir, tmp) < 0) {
            rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot delete snapshot '%s' of VM '%s'",
                                    name, v->name);
            g_rmdir(tmp);
        } else {
            rc = qv_dir_remove_tree(tmp);
        }
    } else {
        guint i;
        if (mem_find(v, name, &i))
            g_ptr_array_remove_index(v->snaps, i);
        else
            rc = no_such(v, name);
    }
    noop_vm_end(v);
    return rc;
}

int noop_snapshot_list(struct vm *vm, struct snapshot_info **list, size_t *count)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    g_autoptr(GPtrArray) dir_snaps = NULL;
    GPtrArray *snaps = v->snaps;
    if (v->dir) {
        dir_snaps = g_ptr_array_new_with_free_func((GDestroyNotify)noop_snap_free);
        rc = dir_list(v, dir_snaps);
        snaps = dir_snaps;
    }
    if (rc == 0) {
        *list = g_new0(struct snapshot_info, MAX(snaps->len, 1));
        *count = snaps->len;
        for (guint i = 0; i < snaps->len; i++) {
            struct noop_snap *s = g_ptr_array_index(snaps, i);
            (*list)[i].name = g_strdup(s->name);
            (*list)[i].created = s->created_us / G_USEC_PER_SEC;
            (*list)[i].size = s->size;
            (*list)[i].state = s->st.state;
        }
    }
    noop_vm_end(v);
    return rc;
}
