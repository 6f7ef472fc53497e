/* The snapshot engine (snap_engine.h): create and list. Restore and
 * delete are in snap_engine_restore.c; what both halves share is in
 * snap_engine_priv.h. */
#define _GNU_SOURCE
#include "snap_engine.h"

#include <errno.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "snap_engine_priv.h"
#include "snap_file.h"

void snap_engine_step(struct snap_engine *e, const char *fmt, ...)
{
    if (!e->hook.fn)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    e->hook.fn(e->hook.opaque, s);
}

bool snap_engine_has_state(struct snap_engine *e)
{
    if (e->ops->has_state)
        return e->ops->has_state(e->m);
    enum vm_state s = e->ops->state(e->m);
    return s == VM_STATE_RUNNING || s == VM_STATE_PAUSED;
}

static void pending_free(struct snap_engine *e)
{
    for (size_t i = 0; i < e->npending; i++)
        dirty_bitmap_free(e->pending[i]);
    g_free(e->pending);
    e->pending = NULL;
    e->npending = 0;
}

struct snap_engine *snap_engine_new(const char *dir, const struct snap_machine_ops *ops, void *m)
{
    struct snap_engine *e = g_new0(struct snap_engine, 1);
    e->dir = g_strdup(dir);
    e->ops = ops;
    e->m = m;
    /* Leftovers of a writer that died (a stage, a half delete, a memory
     * fold's temporary) are removed before anything reads the directory. */
    if (snap_dir_sweep(dir) < 0)
        qv_reset_error();
    struct snap_dir_entry *list = NULL;
    size_t n = 0;
    if (snap_dir_list(dir, &list, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            g_autofree char *mem = snap_dir_file(dir, list[i].name, SNAP_ENGINE_MEMORY);
            if (mem && snap_mem_sweep(mem) < 0)
                qv_reset_error();
        }
        snap_dir_entries_free(list, n);
    } else {
        qv_reset_error();
    }
    int lock = snap_engine_lock(e);
    if (lock >= 0)
        snap_intent_sweep(e);
    else
        qv_reset_error(); /* no store yet */
    snap_engine_unlock(lock);
    /* A restore cut short is finished before anything uses the disks; one
     * that cannot be yet is retried (and reported) by the next restore,
     * create or delete. */
    if (snap_engine_recover(e) < 0) {
        g_warning("%s", qv_last_error()->message);
        qv_reset_error();
    }
    return e;
}

void snap_engine_free(struct snap_engine *e)
{
    if (!e)
        return;
    pending_free(e);
    g_free(e->prev);
    g_free(e->dir);
    g_free(e);
}

void snap_engine_set_hook(struct snap_engine *e, const struct snap_hook *hook)
{
    e->hook = hook ? *hook : (struct snap_hook){0};
}

void snap_engine_forget(struct snap_engine *e)
{
    g_clear_pointer(&e->prev, g_free);
    pending_free(e);
}

/* Take the machine's dirty log into the pending bitmaps (made on first
 * use, and anew when the layout changed). Pages stay pending until a
 * snapshot with memory commits. */
static int pending_take(struct snap_engine *e, const struct snap_mem_ram *ram, size_t n)
{
    bool same = e->npending == n;
    for (size_t i = 0; same && i < n; i++)
        same = dirty_bitmap_pages(e->pending[i]) == ram[i].size / SNAP_MEM_PAGE_SIZE;
    if (!same) {
        pending_free(e);
        g_clear_pointer(&e->prev, g_free); /* an increment needs the same layout */
        e->pending = g_new0(struct dirty_bitmap *, n);
        e->npending = n;
        for (size_t i = 0; i < n; i++)
            if (!(e->pending[i] = dirty_bitmap_new(ram[i].size / SNAP_MEM_PAGE_SIZE)))
                return qv_error_code();
    }
    int rc = e->ops->dirty_start(e->m);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = e->ops->dirty_take(e->m, i, e->pending[i]);
    return rc;
}

/* vCPUs, irqchip, devices, the memory layout and the engine's own record. */
int snap_engine_state_build(struct snap_engine *e, const struct snap_mem_region *table, size_t n,
                            GPtrArray *disks, GPtrArray *devs, GByteArray **out)
{
    g_autoptr(GPtrArray) secs = g_ptr_array_new_with_free_func((GDestroyNotify)snap_section_free);
    uint32_t nv = e->ops->vcpu_count(e->m);
    struct snap_out o;
    snap_out_init(&o);
    snap_put_u32(&o, nv);
    snap_put_u32(&o, disks->len);
    for (guint i = 0; i < disks->len; i++)
        snap_put_blob(&o, disks->pdata[i], (uint32_t)strlen(disks->pdata[i]));
    g_ptr_array_add(secs, snap_section_new(SNAP_ENGINE_SECTION, SNAP_ENGINE_VERSION, &o));
    if (table) {
        snap_mem_table_put(&o, table, n);
        g_ptr_array_add(secs, snap_section_new(SNAP_ENGINE_LAYOUT, SNAP_ENGINE_VERSION, &o));
    }
    snap_out_clear(&o);
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < nv; i++) {
        struct snap_vcpu v;
        memset(&v, 0, sizeof(v));
        rc = e->ops->vcpu_get(e->m, i, &v);
        if (rc == 0)
            g_ptr_array_add(secs, snap_vcpu_section(i, &v));
        snap_vcpu_clear(&v);
    }
    if (rc == 0 && e->ops->vm_get) {
        struct snap_vm s;
        memset(&s, 0, sizeof(s));
        rc = e->ops->vm_get(e->m, &s);
        if (rc == 0)
            g_ptr_array_add(secs, snap_vm_section(&s));
    }
    if (rc < 0)
        return rc;
    /* The device sections move into secs (devs keeps none to free). */
    for (guint i = 0; devs && i < devs->len; i++)
        g_ptr_array_add(secs, g_steal_pointer(&devs->pdata[i]));
    return snap_file_build((struct snap_section *const *)secs->pdata, secs->len, out);
}

static int capture_disks(struct snap_engine *e, struct snap_stage *st, GPtrArray *disks)
{
    for (guint i = 0; i < disks->len; i++) {
        snap_engine_step(e, "clone disk %u", i);
        g_autofree char *file = g_strdup_printf(SNAP_ENGINE_DISK "%u", i);
        g_autofree char *dst = g_build_filename(snap_stage_path(st), file, NULL);
        bool shared = false;
        if (qv_file_clone(disks->pdata[i], dst, &shared) < 0) {
            qv_error_prefix("cannot copy disk '%s'", (const char *)disks->pdata[i]);
            return qv_error_code();
        }
    }
    return 0;
}

static int capture_memory(struct snap_engine *e, struct snap_stage *st, bool incremental,
                          const struct snap_mem_ram *ram, size_t n, struct snap_mem_region *table)
{
    snap_engine_step(e, "write memory");
    g_autofree char *path = g_build_filename(snap_stage_path(st), SNAP_ENGINE_MEMORY, NULL);
    if (!incremental)
        return snap_mem_write_full(path, ram, n, table);
    g_autofree char *parent = snap_dir_file(e->dir, e->prev, SNAP_ENGINE_MEMORY);
    return snap_mem_write_inc(path, parent, ram, n, e->pending, table);
}

/* Whether the previous snapshot is still there and is the one recorded
 * (its memory file's id): an increment over anything else would restore
 * the wrong pages. */
static int check_prev(struct snap_engine *e, const char *name)
{
    if (!e->prev)
        return qv_error_set(QV_ERR_INVALID_STATE,
                            "cannot take incremental snapshot '%s': the VM has no previous "
                            "snapshot with memory since it started (or since its memory layout "
                            "changed); take a full snapshot first",
                            name);
    g_autofree char *path = snap_dir_file(e->dir, e->prev, SNAP_ENGINE_MEMORY);
    struct snap_mem_info info;
    if (!path || snap_mem_info(path, &info) < 0 ||
        memcmp(info.id, e->prev_id, SNAP_MEM_ID_LEN) != 0) {
        qv_reset_error();
        int rc = qv_error_set(QV_ERR_INVALID_STATE,
                              "cannot take incremental snapshot '%s': the previous snapshot '%s' "
                              "is gone or was replaced; take a full snapshot first",
                              name, e->prev);
        g_clear_pointer(&e->prev, g_free);
        return rc;
    }
    return 0;
}

static int create_staged(struct snap_engine *e, const char *name, bool memory, bool incremental,
                         enum vm_state state, GPtrArray *disks)
{
    struct snap_meta meta = {.state = state, .created_us = g_get_real_time()};
    struct snap_stage *st = NULL;
    int rc = snap_stage_begin(e->dir, name, &meta, &e->hook, &st);
    if (rc < 0)
        return rc;
    g_autofree char *xml = e->ops->xml(e->m);
    rc = xml ? snap_stage_write(st, SNAP_ENGINE_XML, xml, strlen(xml)) : qv_error_code();
    if (rc == 0)
        rc = capture_disks(e, st, disks);
    uint8_t id[SNAP_MEM_ID_LEN] = {0};
    if (rc == 0 && memory) {
        struct snap_mem_ram ram[SNAP_MEM_MAX_REGIONS];
        size_t n = e->ops->ram(e->m, ram, SNAP_MEM_MAX_REGIONS);
        struct snap_mem_region table[SNAP_MEM_MAX_REGIONS];
        g_autoptr(GPtrArray) devs = NULL;
        g_autoptr(GByteArray) state_img = NULL;
        rc = pending_take(e, ram, n);
        if (rc == 0 && incremental)
            rc = check_prev(e, name);
        if (rc == 0)
            rc = capture_memory(e, st, incremental, ram, n, table);
        if (rc == 0 && e->ops->devices_save && !(devs = e->ops->devices_save(e->m)))
            rc = qv_error_code();
        if (rc == 0)
            rc = snap_engine_state_build(e, table, n, disks, devs, &state_img);
        if (rc == 0)
            rc = snap_stage_write(st, SNAP_ENGINE_STATE, state_img->data, state_img->len);
        struct snap_mem_info info;
        g_autofree char *mem = g_build_filename(snap_stage_path(st), SNAP_ENGINE_MEMORY, NULL);
        if (rc == 0 && (rc = snap_mem_info(mem, &info)) == 0)
            memcpy(id, info.id, sizeof(id));
    } else if (rc == 0) {
        /* No memory: the engine's record alone (which disks the copies
         * are of), so restore knows where each goes. */
        g_autoptr(GByteArray) state_img = NULL;
        rc = snap_engine_state_build(e, NULL, 0, disks, NULL, &state_img);
        if (rc == 0)
            rc = snap_stage_write(st, SNAP_ENGINE_STATE, state_img->data, state_img->len);
    }
    if (rc < 0) {
        snap_stage_abort(st);
        return rc;
    }
    rc = snap_stage_commit(st);
    if (rc == 0 && memory) {
        /* Committed: the pages so far are in it, the next increment
         * builds on it. */
        g_free(e->prev);
        e->prev = g_strdup(name);
        memcpy(e->prev_id, id, sizeof(id));
        for (size_t i = 0; i < e->npending; i++)
            dirty_bitmap_clear_all(e->pending[i]);
    }
    return rc;
}

int snap_engine_capture(struct snap_engine *e, const char *what,
                        int (*fn)(struct snap_engine *e, void *arg), void *arg)
{
    enum vm_state state = e->ops->state(e->m);
    bool live = state == VM_STATE_RUNNING || state == VM_STATE_PAUSED;
    bool running = state == VM_STATE_RUNNING;
    int rc = running ? e->ops->pause(e->m) : 0;
    if (rc < 0)
        return rc;
    if (live && e->ops->settle && (rc = e->ops->settle(e->m)) < 0) {
        struct qv_error_saved err;
        qv_error_save(&err);
        if (running)
            e->ops->resume(e->m);
        return qv_error_restore(&err);
    }
    /* Devices quiesced and flushed so the disk copies and the device
     * state agree with memory. */
    bool quiesced = false;
    if (live && e->ops->quiesce) {
        rc = e->ops->quiesce(e->m);
        quiesced = rc == 0;
    }
    if (rc == 0)
        rc = fn(e, arg);
    struct qv_error_saved err;
    qv_error_save(&err);
    if (quiesced)
        e->ops->unquiesce(e->m);
    /* Whether the capture was written or not, the VM runs on as before. */
    int rrc = running ? e->ops->resume(e->m) : 0;
    if (rc < 0) {
        qv_error_restore(&err);
        qv_error_prefix("%s", what);
        return rc;
    }
    qv_error_restore(&err);
    return rrc;
}

struct create_args {
    const char *name;
    bool memory, incremental;
    enum vm_state state;
    GPtrArray *disks;
};

static int create_fn(struct snap_engine *e, void *arg)
{
    struct create_args *a = arg;
    return create_staged(e, a->name, a->memory, a->incremental, a->state, a->disks);
}

int snap_engine_create(struct snap_engine *e, const char *name, unsigned flags)
{
    enum vm_state state = e->ops->state(e->m);
    bool live = state == VM_STATE_RUNNING || state == VM_STATE_PAUSED;
    bool memory = snap_engine_has_state(e) && !(flags & SNAPSHOT_DISK_ONLY);
    bool incremental = (flags & SNAPSHOT_INCREMENTAL) != 0;
    if (incremental && !memory)
        return qv_error_set(QV_ERR_INVALID_STATE, "cannot take incremental snapshot '%s': %s", name,
                            live ? "an increment is of memory, and SNAPSHOT_DISK_ONLY takes none"
                                 : "the VM is not running, so there is no memory to take");
    if (incremental && e->ops->can_increment && e->ops->can_increment(e->m) < 0) {
        qv_error_prefix("cannot take incremental snapshot '%s'", name);
        return qv_error_code();
    }
    if (incremental && !e->prev)
        return check_prev(e, name);
    /* Never a snapshot of disks a cut-short restore left mixed. */
    if (snap_engine_recover(e) < 0) {
        qv_error_prefix("cannot take snapshot '%s'", name);
        return qv_error_code();
    }
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);
    if (e->ops->disks && e->ops->disks(e->m, disks) < 0)
        return qv_error_code();
    struct create_args a = {name, memory, incremental, state, disks};
    g_autofree char *what = g_strdup_printf("cannot take snapshot '%s'", name);
    return snap_engine_capture(e, what, create_fn, &a);
}

int snap_engine_list(struct snap_engine *e, struct snapshot_info **list, size_t *count)
{
    struct snap_dir_entry *ents = NULL;
    size_t n = 0;
    *list = NULL;
    *count = 0;
    int rc = snap_dir_list(e->dir, &ents, &n);
    if (rc < 0)
        return rc;
    struct snapshot_info *out = g_new0(struct snapshot_info, n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        out[i].name = g_steal_pointer(&ents[i].name);
        out[i].size = ents[i].bytes;
        /* A snapshot whose info cannot be read is listed, so it can be
         * seen and deleted: no time, and a state no snapshot captures. */
        out[i].created = ents[i].damage ? 0 : ents[i].meta.created_us / G_USEC_PER_SEC;
        out[i].state = ents[i].damage ? VM_STATE_DESTROYED : ents[i].meta.state;
    }
    snap_dir_entries_free(ents, n);
    *list = out;
    *count = n;
    return 0;
}
