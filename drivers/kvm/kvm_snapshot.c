/* Snapshots of kvm:///embed VMs: the VM's state directory and lock, and the
 * snapshot engine's machine interface (snapshot/snap_engine.h) over a
 * kvm_machine: KVM's ioctls for vCPU and irqchip state, the board for
 * devices, memory slots with KVM_MEM_LOG_DIRTY_PAGES and KVM_GET_DIRTY_LOG
 * plus each region's host-write bitmap (vm_write_memory, virtio devices)
 * for increments. The engine's logic is tested over plain memory
 * (tests/unit/kvm_snap_engine.c); this file only translates. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../lib/conf/domain.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "board/board.h"
#include "board/board_state.h"
#include "dirty/dirty_bitmap.h"
#include "kvm.h"
#include "kvm_conf.h"
#include "snapshot/snap_clone.h"
#include "snapshot/snap_engine.h"

#define QUIESCE_TIMEOUT_MS 10000

struct kvm_snap {
    char *root; /* the connection's state root */
    char *dir;  /* root/kvm-embed/NAME */
    char *snapdir;
    int lock_fd;
    struct snap_engine *engine;
    /* A clone made from a running or paused source: its first start
     * resumes from dir/resume (snapshot/snap_clone.h). */
    bool resume;
};

static struct kvm_region *region_at(struct kvm_machine *m, size_t i)
{
    return &g_array_index(m->regions, struct kvm_region, i);
}

/* ---- the machine interface ---- */

#define M(p) ((struct kvm_machine *)(p))

static enum vm_state op_state(void *p)
{
    struct kvm_machine *m = M(p);
    g_mutex_lock(&m->lock);
    enum vm_state s = m->state;
    g_mutex_unlock(&m->lock);
    return s;
}

/* A register-level machine's RAM and vCPUs are its caller's to drive,
 * whatever the state says: they are captured whenever there are any. */
static bool op_has_state(void *p)
{
    struct kvm_machine *m = M(p);
    enum vm_state s = op_state(p);
    if (!m->booted)
        return m->regions->len > 0;
    return s == VM_STATE_RUNNING || s == VM_STATE_PAUSED;
}

/* Every host-side write to RAM is marked (vm_write_memory, and devices
 * through their host's mark_dirty, kvm_dev_host.c), but pointers handed
 * to the caller are written behind everyone's back. */
static int op_can_increment(void *p)
{
    struct kvm_machine *m = M(p);
    if (g_atomic_int_get(&m->raw_pointers))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s' handed out pointers into its memory (vm_gpa_to_hva), whose "
                            "writes no dirty log records; take a full snapshot",
                            kvm_machine_name(m));
    return 0;
}

static int op_pause(void *p)
{
    return kvm_machine_pause(M(p));
}

static int op_resume(void *p)
{
    return kvm_machine_resume(M(p));
}

static int op_quiesce(void *p)
{
    struct kvm_machine *m = M(p);
    return m->board ? kvm_board_quiesce(m->board, QUIESCE_TIMEOUT_MS) : 0;
}

static void op_unquiesce(void *p)
{
    struct kvm_machine *m = M(p);
    if (m->board)
        kvm_board_unquiesce(m->board);
}

static GPtrArray *op_devices_save(void *p)
{
    struct kvm_machine *m = M(p);
    if (!m->board)
        return g_ptr_array_new_with_free_func((GDestroyNotify)snap_section_free);
    return kvm_board_save(m->board);
}

static int op_devices_load(void *p, struct snap_section *const *s, size_t n)
{
    struct kvm_machine *m = M(p);
    if (!m->board)
        return n ? qv_error_set(QV_ERR_INVALID_STATE, "VM '%s' has no devices", kvm_machine_name(m))
                 : 0;
    return kvm_board_load(m->board, s, n);
}

static int op_devices_check(void *p, struct snap_section *const *s, size_t n)
{
    struct kvm_machine *m = M(p);
    g_autoptr(GArray) devs = m->board ? kvm_board_state_devs(m->board) : NULL;
    guint have = devs ? devs->len : 0;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (guint j = 0; j < have && !found; j++) {
            const struct kvm_board_state_dev *d =
                &g_array_index(devs, struct kvm_board_state_dev, j);
            found = strcmp(d->name, s[i]->name) == 0 && d->version == s[i]->version;
        }
        if (!found)
            return qv_error_set(QV_ERR_INVALID_STATE,
                                "the snapshot has device '%s' (version %u), the VM not", s[i]->name,
                                s[i]->version);
    }
    if (n != have)
        return qv_error_set(QV_ERR_INVALID_STATE, "the VM has %u devices, the snapshot %zu", have,
                            n);
    return 0;
}

static uint32_t op_vcpu_count(void *p)
{
    return M(p)->nvcpus;
}

static struct kvm_vcpu *vcpu_of(struct kvm_machine *m, uint32_t i)
{
    if (i >= m->nvcpus || !m->vcpus[i]) {
        qv_error_set(QV_ERR_INVALID_STATE,
                     "VM '%s' has no vCPU %u: a snapshot holds vCPUs 0 to %u without gaps",
                     kvm_machine_name(m), i, m->nvcpus ? m->nvcpus - 1 : 0);
        return NULL;
    }
    return m->vcpus[i];
}

/* A parked vCPU thread may have left an I/O exit that KVM completes only
 * on the vCPU's next entry (an IN's data, an OUT's step past the
 * instruction): enter once with immediate_exit to finish it. Before a
 * save, so the state saved is after that instruction, never one that
 * would run again on restore (a UART byte written twice); before a load,
 * so KVM does not finish the old exit on the restored registers (a
 * restored OUT at the same address skipped). */
static int complete_exit(struct kvm_machine *m, struct kvm_vcpu *c)
{
    if (!c->run)
        return 0;
    c->run->immediate_exit = 1;
    int rc = ioctl(c->fd, KVM_RUN, 0);
    int err = errno;
    c->run->immediate_exit = 0;
    if (rc < 0 && err != EINTR)
        return qv_error_set_errno(QV_ERR_KVM, err,
                                  "VM '%s' vCPU %u: KVM_RUN to complete its last exit",
                                  kvm_machine_name(m), c->index);
    return 0;
}

/* Every vCPU's, once, right after the pause: before memory is captured
 * (its completion may write guest memory) or replaced (the old context's
 * completion would land in the restored RAM). Also for vm_create's
 * machines, whose callers keep no vcpu_run in flight during a snapshot
 * call. */
static int op_settle(void *p)
{
    struct kvm_machine *m = M(p);
    for (uint32_t i = 0; i < m->nvcpus; i++)
        if (m->vcpus[i] && complete_exit(m, m->vcpus[i]) < 0)
            return qv_error_code();
    return 0;
}

static int op_vcpu_get(void *p, uint32_t i, struct snap_vcpu *v)
{
    struct kvm_machine *m = M(p);
    struct kvm_vcpu *c = vcpu_of(m, i);
    if (!c)
        return qv_error_code();
    return kvm_state_vcpu_get(m->sys->fd, m->vm_fd, c->fd, i, m->booted, v);
}

static int op_vcpu_set(void *p, uint32_t i, const struct snap_vcpu *v)
{
    struct kvm_machine *m = M(p);
    struct kvm_vcpu *c = vcpu_of(m, i);
    if (!c)
        return qv_error_code();
    return kvm_state_vcpu_set(m->vm_fd, c->fd, i, m->booted, v);
}

static int op_vm_get(void *p, struct snap_vm *s)
{
    return kvm_state_vm_get(M(p)->vm_fd, s);
}

static int op_vm_set(void *p, const struct snap_vm *s)
{
    return kvm_state_vm_set(M(p)->vm_fd, s);
}

static size_t op_ram(void *p, struct snap_mem_ram *out, size_t max)
{
    struct kvm_machine *m = M(p);
    size_t n = MIN((size_t)m->regions->len, max);
    for (size_t i = 0; i < n; i++) {
        struct kvm_region *r = region_at(m, i);
        out[i] = (struct snap_mem_ram){.hva = r->hva, .gpa = r->gpa, .size = r->size};
    }
    return n;
}

static int op_dirty_start(void *p)
{
    struct kvm_machine *m = M(p);
    for (guint i = 0; i < m->regions->len; i++) {
        struct kvm_region *r = region_at(m, i);
        if (!r->host_dirty) {
            struct dirty_bitmap *b = dirty_bitmap_new(r->size / DIRTY_PAGE_SIZE);
            if (!b)
                return qv_error_code();
            /* Devices' I/O threads mark from this store on (release: they
             * see an initialised bitmap). */
            __atomic_store_n(&r->host_dirty, b, __ATOMIC_RELEASE);
        }
        if (r->log_dirty || r->readonly) /* KVM logs no writes to a read-only slot */
            continue;
        r->log_dirty = true;
        if (kvm_memory_set_slot(m, r) < 0) {
            r->log_dirty = false;
            return qv_error_code();
        }
    }
    return 0;
}

static int op_dirty_take(void *p, size_t i, struct dirty_bitmap *into)
{
    struct kvm_machine *m = M(p);
    if (i >= m->regions->len)
        return qv_error_set(QV_ERR_OUT_OF_RANGE, "VM '%s' has no RAM region %zu",
                            kvm_machine_name(m), i);
    struct kvm_region *r = region_at(m, i);
    int rc = 0;
    if (r->log_dirty) {
        size_t words = dirty_bitmap_words(r->size / DIRTY_PAGE_SIZE);
        g_autofree uint64_t *buf = g_new0(uint64_t, words);
        struct kvm_dirty_log log = {.slot = r->slot, .dirty_bitmap = buf};
        if (ioctl(m->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
            return qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s': KVM_GET_DIRTY_LOG (slot %u)",
                                      kvm_machine_name(m), r->slot);
        rc = dirty_bitmap_or_kvm(into, buf, words);
    }
    /* Word by word exchanged with 0: a device's mark racing with this
     * lands in this take or the next, never between the two. */
    if (rc == 0 && r->host_dirty)
        rc = dirty_bitmap_take(into, r->host_dirty);
    return rc;
}

/* A replaced region's old memory, freed off the restore's path. */
struct old_map {
    void *hva;
    size_t size;
    int memfd;
};

static gpointer release_old_maps(gpointer data)
{
    GArray *maps = data;
    for (guint i = 0; i < maps->len; i++) {
        struct old_map *o = &g_array_index(maps, struct old_map, i);
        munmap(o->hva, o->size);
        if (o->memfd >= 0)
            close(o->memfd);
    }
    g_array_free(maps, TRUE);
    return NULL;
}

/* Freeing the memory a VM has touched costs time in proportion to it
 * (munmap, and the memfd's close frees its pages: 1.5 s of a 2.2 s restore
 * of a 1 GiB guest under nested KVM, bench/kvm_snap_bench), while restore
 * time must not grow with RAM: a thread frees it. Nothing else refers to
 * it by then (the slots are gone, the regions point at the new maps). */
static void release_later(GArray *maps)
{
    if (maps->len == 0) {
        g_array_free(maps, TRUE);
        return;
    }
    GThread *t = g_thread_try_new("qv-ram-free", release_old_maps, maps, NULL);
    if (t)
        g_thread_unref(t);
    else
        release_old_maps(maps);
}

/* The restored mappings replace the regions' memory: each slot is removed
 * and added again at its new address (KVM refuses to move a live slot),
 * with a clean dirty log. */
static int op_ram_replace(void *p, struct snap_mem_ram *ram, size_t n)
{
    struct kvm_machine *m = M(p);
    if (n != m->regions->len)
        return qv_error_set(QV_ERR_INVALID_STATE, "VM '%s' has %u RAM regions, not %zu",
                            kvm_machine_name(m), m->regions->len, n);
    for (size_t i = 0; i < n; i++) {
        struct kvm_region *r = region_at(m, i);
        if (kvm_memory_delete_slot(m, r) < 0)
            return qv_error_code();
    }
    GArray *old = g_array_new(FALSE, FALSE, sizeof(struct old_map));
    for (size_t i = 0; i < n; i++) {
        struct kvm_region *r = region_at(m, i);
        if (r->owns_mapping) {
            struct old_map o = {r->hva, r->map_size, r->memfd};
            g_array_append_val(old, o);
        }
        r->hva = ram[i].hva;
        ram[i].hva = NULL;
        r->owns_mapping = true;
        r->map_size = r->size;
        r->memfd = -1;
        if (r->host_dirty)
            dirty_bitmap_clear_all(r->host_dirty);
    }
    m->ram = region_at(m, 0)->hva;
    release_later(old);
    for (size_t i = 0; i < n; i++)
        if (kvm_memory_set_slot(m, region_at(m, i)) < 0)
            return qv_error_code();
    return 0;
}

static char *op_xml(void *p)
{
    struct kvm_machine *m = M(p);
    g_mutex_lock(&m->lock);
    char *x = qv_domain_format_xml(m->def);
    g_mutex_unlock(&m->lock);
    return x;
}

/* Writable raw image files: what a snapshot copies. Read-only disks are
 * not written by the VM, so the image is the snapshot's as it is. */
static int op_disks(void *p, GPtrArray *paths)
{
    struct kvm_machine *m = M(p);
    g_mutex_lock(&m->lock);
    for (guint i = 0; m->def->disks && i < m->def->disks->len; i++) {
        const struct qv_disk *d = m->def->disks->pdata[i];
        if (d->type == QV_DISK_TYPE_FILE && d->source && !d->readonly &&
            (!d->driver_type || strcmp(d->driver_type, "raw") == 0))
            g_ptr_array_add(paths, g_strdup(d->source));
    }
    g_mutex_unlock(&m->lock);
    return 0;
}

static int op_define(void *p, const char *xml, bool rebuild, bool stopped)
{
    struct kvm_machine *m = M(p);
    g_autoptr(qv_domain) def = qv_domain_parse_xml(xml);
    if (!def)
        return qv_error_code();
    if (strcmp(def->name, m->name) != 0)
        return qv_error_set(QV_ERR_INVALID_STATE, "the snapshot is of VM '%s', not '%s'", def->name,
                            m->name);
    if ((def->os.kernel != NULL) != m->booted)
        return qv_error_set(
            QV_ERR_INVALID_STATE, "the snapshot is of a VM %s a kernel to boot, VM '%s' %s",
            def->os.kernel ? "with" : "without", m->name, m->booted ? "has one" : "has none");
    if (kvm_domain_check(def) < 0)
        return qv_error_code();
    if (rebuild && !m->booted)
        return qv_error_set(QV_ERR_INVALID_STATE,
                            "VM '%s' was made by vm_create: add its memory regions and vCPUs as "
                            "the snapshot had them, then restore",
                            m->name);
    if (stopped || rebuild)
        kvm_machine_halt_threads(m);
    g_mutex_lock(&m->lock);
    /* m->vcpus is sized by the definition, and the machine's teardown
     * frees those below the definition's max_vcpus: free the rest now,
     * or make room. */
    uint32_t old_max = m->def->max_vcpus;
    if (rebuild) {
        for (uint32_t i = def->max_vcpus; i < old_max; i++) {
            kvm_vcpu_free(m->vcpus[i]);
            m->vcpus[i] = NULL;
        }
        if (m->nvcpus > def->max_vcpus)
            m->nvcpus = def->max_vcpus;
    }
    if (def->max_vcpus > old_max) {
        m->vcpus = g_renew(struct kvm_vcpu *, m->vcpus, def->max_vcpus);
        for (uint32_t i = old_max; i < def->max_vcpus; i++)
            m->vcpus[i] = NULL;
    }
    qv_domain_free(m->def);
    m->def = g_steal_pointer(&def);
    if (stopped) {
        if (m->state != VM_STATE_CREATED)
            m->state = VM_STATE_STOPPED;
        m->used = true; /* the next start builds afresh from the definition */
    }
    g_mutex_unlock(&m->lock);
    if (!rebuild)
        return 0;
    /* A fresh machine of the snapshot's shape, powered on with its vCPU
     * threads parked; the engine then loads the state over it. */
    m->used = true;
    return kvm_machine_start_paused(m);
}

static void op_fail(void *p)
{
    struct kvm_machine *m = M(p);
    kvm_machine_stop(m, true, 0);
    g_mutex_lock(&m->lock);
    m->state = VM_STATE_STOPPED;
    m->reason = VM_REASON_FAILED;
    m->used = true;
    g_mutex_unlock(&m->lock);
}

static const struct snap_machine_ops booted_ops = {
    .state = op_state,
    .has_state = op_has_state,
    .can_increment = op_can_increment,
    .pause = op_pause,
    .resume = op_resume,
    .settle = op_settle,
    .quiesce = op_quiesce,
    .unquiesce = op_unquiesce,
    .devices_save = op_devices_save,
    .devices_load = op_devices_load,
    .devices_check = op_devices_check,
    .vcpu_count = op_vcpu_count,
    .vcpu_get = op_vcpu_get,
    .vcpu_set = op_vcpu_set,
    .vm_get = op_vm_get,
    .vm_set = op_vm_set,
    .ram = op_ram,
    .dirty_start = op_dirty_start,
    .dirty_take = op_dirty_take,
    .ram_replace = op_ram_replace,
    .xml = op_xml,
    .disks = op_disks,
    .define = op_define,
    .fail = op_fail,
};

/* vm_create's machines: no irqchip, no devices, no threads to pause (the
 * caller runs each vCPU); memory regions and vCPU state only. */
static const struct snap_machine_ops bare_ops = {
    .state = op_state,
    .has_state = op_has_state,
    .can_increment = op_can_increment,
    .pause = op_pause,
    .resume = op_resume,
    .settle = op_settle,
    .vcpu_count = op_vcpu_count,
    .vcpu_get = op_vcpu_get,
    .vcpu_set = op_vcpu_set,
    .ram = op_ram,
    .dirty_start = op_dirty_start,
    .dirty_take = op_dirty_take,
    .ram_replace = op_ram_replace,
    .xml = op_xml,
    .disks = op_disks,
    .define = op_define,
    .fail = op_fail,
};

/* ---- the state directory ---- */

static char *owner_path(const char *dir)
{
    return g_build_filename(dir, "owner", NULL);
}

/* Only names at define: the directory is made and locked by the first
 * snapshot operation, so a VM that never snapshots needs no writable state
 * root and takes no cross-process lock. */
int kvm_snap_open(const char *state_root, struct kvm_machine *m)
{
    struct kvm_snap *s = g_new0(struct kvm_snap, 1);
    s->lock_fd = -1;
    s->root = g_strdup(state_root);
    s->dir = proc_vm_dir(state_root, KVM_EMBED_KIND, m->name);
    s->snapdir = g_build_filename(s->dir, "snapshots", NULL);
    m->snap = s;
    return 0;
}

/* Two threads may make their first snapshot call at once. */
static GMutex ready_lock;

/* held: the VM's lock, already taken by the caller (a clone handing its
 * store over), or -1 to take it here. */
static int snap_ready_fd(struct kvm_machine *m, struct kvm_snap *s, int held)
{
    g_mutex_lock(&ready_lock);
    int rc = 0;
    if (s->engine) {
        if (held >= 0)
            proc_unlock(held);
        goto out;
    }
    int fd = held >= 0 ? held : proc_lock(s->root, KVM_EMBED_KIND, m->name, 0);
    if (fd < 0) {
        if (fd == QV_ERR_BUSY) {
            g_autofree char *op = owner_path(s->dir);
            g_autofree char *who = NULL;
            if (g_file_get_contents(op, &who, NULL, NULL))
                g_strstrip(who);
            qv_error_set(QV_ERR_BUSY,
                         "cannot use the snapshots of VM '%s' on kvm:///embed: %s uses them (its "
                         "state directory %s is locked)",
                         m->name, who && *who ? who : "another process or connection", s->dir);
        }
        rc = fd;
        goto out;
    }
    rc = qv_dir_ensure(s->dir, 0700);
    if (rc == 0)
        rc = qv_dir_ensure(s->snapdir, 0700);
    if (rc == 0) {
        g_autofree char *op = owner_path(s->dir);
        g_autofree char *who = g_strdup_printf("process %d\n", (int)getpid());
        rc = qv_file_write_atomic(op, who, strlen(who), 0600);
    }
    if (rc < 0) {
        proc_unlock(fd);
        goto out;
    }
    s->lock_fd = fd;
    /* The engine sweeps what a writer that died left there. */
    s->engine = snap_engine_new(s->snapdir, m->booted ? &booted_ops : &bare_ops, m);
out:
    g_mutex_unlock(&ready_lock);
    return rc;
}

static int snap_ready(struct kvm_machine *m, struct kvm_snap *s)
{
    return snap_ready_fd(m, s, -1);
}

int kvm_snap_adopt(struct kvm_machine *m, int lock_fd, bool resume)
{
    if (!m->snap) {
        proc_unlock(lock_fd);
        return qv_error_set(QV_ERR_INTERNAL, "VM '%s' has no state directory", kvm_machine_name(m));
    }
    int rc = snap_ready_fd(m, m->snap, lock_fd);
    if (rc == 0)
        m->snap->resume = resume;
    return rc;
}

void kvm_snap_close(struct kvm_machine *m, bool remove)
{
    struct kvm_snap *s = m->snap;
    if (!s)
        return;
    /* A destroyed VM's snapshots of an earlier process go too: lock the
     * directory to remove it, but make none. */
    if (remove && !s->engine && g_file_test(s->dir, G_FILE_TEST_IS_DIR) && snap_ready(m, s) < 0)
        qv_reset_error();
    m->snap = NULL;
    if (s->engine)
        snap_engine_free(s->engine);
    if (remove && s->lock_fd >= 0 && qv_dir_remove_tree(s->dir) < 0)
        qv_reset_error();
    if (s->lock_fd >= 0)
        proc_unlock(s->lock_fd);
    g_free(s->root);
    g_free(s->dir);
    g_free(s->snapdir);
    g_free(s);
}

static int no_dir(struct kvm_machine *m)
{
    return qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s' has no state directory for snapshots",
                        kvm_machine_name(m));
}

/* The machine's engine, its directory opened and locked on first use. */
static struct snap_engine *engine_of(struct kvm_machine *m)
{
    if (!m->snap) {
        no_dir(m);
        return NULL;
    }
    return snap_ready(m, m->snap) == 0 ? m->snap->engine : NULL;
}

int kvm_snapshot_create(struct kvm_machine *m, const char *name, unsigned flags)
{
    struct snap_engine *e = engine_of(m);
    return e ? snap_engine_create(e, name, flags) : qv_error_code();
}

int kvm_snapshot_restore(struct kvm_machine *m, const char *name)
{
    struct snap_engine *e = engine_of(m);
    return e ? snap_engine_restore(e, name) : qv_error_code();
}

int kvm_snapshot_delete(struct kvm_machine *m, const char *name)
{
    struct snap_engine *e = engine_of(m);
    return e ? snap_engine_delete(e, name) : qv_error_code();
}

int kvm_snapshot_list(struct kvm_machine *m, struct snapshot_info **list, size_t *count)
{
    struct snap_engine *e = engine_of(m);
    return e ? snap_engine_list(e, list, count) : qv_error_code();
}

void kvm_snapshot_forget(struct kvm_machine *m)
{
    if (m->snap && m->snap->engine)
        snap_engine_forget(m->snap->engine);
}

int kvm_snapshot_clone(struct kvm_machine *src, const struct snap_clone *c)
{
    struct snap_engine *e = engine_of(src);
    return e ? snap_engine_clone(e, c) : qv_error_code();
}

int kvm_snapshot_finish_restore(struct kvm_machine *m)
{
    /* Most VMs have no record: their store is not even opened (nor its
     * lock taken) for a start. */
    if (!m->snap || !snap_engine_restore_recorded(m->snap->snapdir))
        return 0;
    struct snap_engine *e = engine_of(m);
    if (!e || snap_engine_recover(e) < 0) {
        qv_error_prefix("its disks are not whole");
        return qv_error_code();
    }
    return 0;
}

bool kvm_snapshot_resume_pending(struct kvm_machine *m)
{
    return m->snap && m->snap->resume;
}

/* The state was captured from a booted machine: restore rebuilds this one
 * (CREATED, never started) for it, then loads RAM, vCPUs and devices. The
 * clone's devices are made from its own definition, and a device's state
 * does not carry what the definition fixes: virtio-net keeps the clone's
 * MAC in its config space (virtio_net.c net_load). */
int kvm_snapshot_resume_clone(struct kvm_machine *m)
{
    struct kvm_snap *s = m->snap;
    int rc = snap_clone_resume(s->dir, &booted_ops, m);
    if (rc < 0)
        return rc;
    s->resume = false;
    /* vm_start asks for a running VM, whichever state the source was
     * captured in. */
    return op_state(m) == VM_STATE_PAUSED ? kvm_machine_resume(m) : 0;
}
