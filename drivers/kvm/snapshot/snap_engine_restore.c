/* The snapshot engine (snap_engine.h): restore and delete.
 *
 * Restore reads and checks everything first (the definition, the state
 * file, every vCPU section, the memory chain, that every disk is one of
 * the VM's and its copy is there) while the machine is unchanged; only
 * then does it copy the disks back and replace RAM, registers and devices.
 * A failure before that leaves the VM as it was; one after (a device
 * refusing its section, a disk copy failing) leaves it stopped, never
 * running half restored.
 *
 * Disks are copied back in place, over the image's own inode
 * (qv_file_overwrite): nothing is created beside an image, so qv-vmm needs
 * write access to the image file only, never to its directory. Such a copy
 * is not atomic; a restore record in the store (snap_engine_intent.c),
 * written before the first image is touched and removed after the last is
 * fsynced, makes it redoable: the next engine over the store, or the next
 * restore, create or delete, finishes a restore that was cut short. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "snap_engine_priv.h"
#include "snap_file.h"

/* What restore has read of a snapshot before it changes anything. */
struct loaded {
    char *xml;
    struct snap_file *file;
    uint32_t nvcpus;
    GPtrArray *disks;   /* recorded image paths */
    GPtrArray *devices; /* struct snap_section *, the devices' */
    struct snap_vcpu *vcpus;
    bool has_vm;
    struct snap_vm vm;
    struct snap_mem_region table[SNAP_MEM_MAX_REGIONS];
    size_t nregions;
};

static void loaded_clear(struct loaded *l)
{
    g_free(l->xml);
    snap_file_free(l->file);
    if (l->disks)
        g_ptr_array_unref(l->disks);
    if (l->devices)
        g_ptr_array_unref(l->devices);
    for (uint32_t i = 0; l->vcpus && i < l->nvcpus; i++)
        snap_vcpu_clear(&l->vcpus[i]);
    g_free(l->vcpus);
}

static int read_xml(struct snap_engine *e, const char *name, char **out)
{
    g_autofree char *path = snap_dir_file(e->dir, name, SNAP_ENGINE_XML);
    if (!path)
        return qv_error_code();
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open '%s'", path);
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uint64_t)st.st_size > SNAP_ENGINE_XML_MAX)
        rc = qv_error_set(QV_ERR_PROTOCOL, "snapshot file '%s': not a definition of 1 to %u bytes",
                          path, SNAP_ENGINE_XML_MAX);
    char *buf = rc == 0 ? g_malloc((size_t)st.st_size + 1) : NULL;
    for (size_t got = 0; rc == 0 && got < (size_t)st.st_size;) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = qv_error_set(QV_ERR_IO, "cannot read '%s': %s", path,
                              r < 0 ? g_strerror(errno) : "it was cut short");
        else
            got += (size_t)r;
    }
    close(fd);
    if (rc < 0) {
        g_free(buf);
        return rc;
    }
    buf[st.st_size] = '\0';
    if (strlen(buf) != (size_t)st.st_size) {
        g_free(buf);
        return qv_error_set(QV_ERR_PROTOCOL, "snapshot file '%s': holds a NUL byte", path);
    }
    *out = buf;
    return 0;
}

static bool engine_section(const char *name)
{
    return strcmp(name, SNAP_ENGINE_SECTION) == 0 || strcmp(name, SNAP_ENGINE_LAYOUT) == 0 ||
           strcmp(name, "kvm-vm") == 0 || g_str_has_prefix(name, "vcpu");
}

static int parse_record(struct loaded *l, const char *path)
{
    struct snap_file_section s;
    if (snap_file_find(l->file, SNAP_ENGINE_SECTION, &s) < 0)
        return qv_error_code();
    if (s.version != SNAP_ENGINE_VERSION)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "snapshot file '%s': section '%s' version %u is not one this libqv "
                            "reads (%u)",
                            path, SNAP_ENGINE_SECTION, s.version, SNAP_ENGINE_VERSION);
    struct snap_in in;
    snap_in_init(&in, SNAP_ENGINE_SECTION, s.data, s.len);
    l->nvcpus = snap_get_u32(&in, "vcpus");
    uint32_t nd = snap_get_u32(&in, "disks");
    if (l->nvcpus > 4096)
        snap_in_fail(&in, "vCPU count %u is out of range", l->nvcpus);
    if (nd > SNAP_ENGINE_MAX_DISKS)
        snap_in_fail(&in, "disk count %u is over %u", nd, SNAP_ENGINE_MAX_DISKS);
    l->disks = g_ptr_array_new_with_free_func(g_free);
    for (uint32_t i = 0; snap_in_ok(&in) && i < nd; i++) {
        uint32_t len = 0;
        const char *p = snap_get_blob(&in, "disk path", 4096, &len);
        if (!p)
            break;
        char *d = g_strndup(p, len);
        if (strlen(d) != len || !g_path_is_absolute(d))
            snap_in_fail(&in, "disk %u: path is not an absolute file name", i);
        g_ptr_array_add(l->disks, d);
    }
    if (snap_in_finish(&in) < 0)
        return qv_error_code();
    if (snap_file_find(l->file, SNAP_ENGINE_LAYOUT, &s) == 0) {
        snap_in_init(&in, SNAP_ENGINE_LAYOUT, s.data, s.len);
        l->nregions = snap_mem_table_get(&in, l->table, SNAP_MEM_MAX_REGIONS);
        if (snap_in_finish(&in) < 0)
            return qv_error_code();
    } else {
        qv_reset_error();
    }
    return 0;
}

/* Every vCPU, the irqchip and the device sections, checked now so that
 * nothing of the machine changes for a damaged file. */
static int parse_state(struct loaded *l)
{
    l->vcpus = g_new0(struct snap_vcpu, l->nvcpus ? l->nvcpus : 1);
    for (uint32_t i = 0; i < l->nvcpus; i++) {
        g_autofree char *nm = g_strdup_printf("vcpu%u", i);
        struct snap_file_section s;
        if (snap_file_find(l->file, nm, &s) < 0 ||
            snap_vcpu_load(&l->vcpus[i], nm, s.version, s.data, s.len) < 0)
            return qv_error_code();
    }
    struct snap_file_section s;
    if (snap_file_find(l->file, "kvm-vm", &s) == 0) {
        l->has_vm = true;
        if (snap_vm_load(&l->vm, s.version, s.data, s.len) < 0)
            return qv_error_code();
    } else {
        qv_reset_error();
    }
    l->devices = g_ptr_array_new_with_free_func((GDestroyNotify)snap_section_free);
    for (size_t i = 0; i < snap_file_count(l->file); i++) {
        const struct snap_file_section *f = snap_file_nth(l->file, i);
        if (engine_section(f->name))
            continue;
        struct snap_section *d = g_new0(struct snap_section, 1);
        d->name = g_strdup(f->name);
        d->version = f->version;
        d->data = g_byte_array_sized_new((guint)f->len);
        g_byte_array_append(d->data, f->data, (guint)f->len);
        g_ptr_array_add(l->devices, d);
    }
    return 0;
}

static int load(struct snap_engine *e, const char *name, bool memory, struct loaded *l)
{
    int rc = read_xml(e, name, &l->xml);
    if (rc < 0)
        return rc;
    g_autofree char *path = snap_dir_file(e->dir, name, SNAP_ENGINE_STATE);
    if ((rc = snap_file_read(path, &l->file)) < 0 || (rc = parse_record(l, path)) < 0)
        return rc;
    if (!memory)
        return 0;
    if (l->nregions == 0)
        return qv_error_set(QV_ERR_PROTOCOL, "snapshot file '%s': no memory layout", path);
    return parse_state(l);
}

/* Why the machine's shape differs from the snapshot's, or NULL. */
static char *shape_differs(struct snap_engine *e, const struct loaded *l)
{
    uint32_t nv = e->ops->vcpu_count(e->m);
    if (nv != l->nvcpus)
        return g_strdup_printf("it has %u vCPUs, the snapshot %u", nv, l->nvcpus);
    struct snap_mem_ram ram[SNAP_MEM_MAX_REGIONS];
    size_t n = e->ops->ram(e->m, ram, SNAP_MEM_MAX_REGIONS);
    if (n != l->nregions)
        return g_strdup_printf("it has %zu RAM regions, the snapshot %zu", n, l->nregions);
    for (size_t i = 0; i < n; i++)
        if (ram[i].gpa != l->table[i].gpa || ram[i].size != l->table[i].size)
            return g_strdup_printf(
                "its RAM region %zu is 0x%llx bytes at 0x%llx, the snapshot's 0x%llx at 0x%llx", i,
                (unsigned long long)ram[i].size, (unsigned long long)ram[i].gpa,
                (unsigned long long)l->table[i].size, (unsigned long long)l->table[i].gpa);
    if ((bool)e->ops->vm_set != l->has_vm)
        return g_strdup(l->has_vm ? "the snapshot has an in-kernel irqchip, the VM none"
                                  : "the VM has an in-kernel irqchip, the snapshot none");
    struct snap_section *const *devs = (struct snap_section *const *)l->devices->pdata;
    if (e->ops->devices_check) {
        if (e->ops->devices_check(e->m, devs, l->devices->len) < 0) {
            char *why = g_strdup(qv_last_error()->message);
            qv_reset_error();
            return why;
        }
    } else if (l->devices->len) {
        return g_strdup_printf("the snapshot has device '%s', the VM no devices", devs[0]->name);
    }
    return NULL;
}

/* The memory files from the chain's full one to name's, found by id. */
static int chain_of(struct snap_engine *e, const char *name, GPtrArray *chain, uint8_t *own_id)
{
    struct snap_dir_entry *ents = NULL;
    size_t n = 0;
    int rc = snap_dir_list(e->dir, &ents, &n);
    if (rc < 0)
        return rc;
    char *path = snap_dir_file(e->dir, name, SNAP_ENGINE_MEMORY);
    struct snap_mem_info info;
    rc = snap_mem_info(path, &info);
    if (rc == 0)
        memcpy(own_id, info.id, SNAP_MEM_ID_LEN);
    g_ptr_array_add(chain, path);
    /* At most one link per snapshot: a loop in damaged files ends. */
    for (size_t hops = 0; rc == 0 && info.kind == SNAP_MEM_INC; hops++) {
        char *parent = NULL;
        for (size_t i = 0; i < n && !parent && hops < n; i++) {
            char *p = snap_dir_file(e->dir, ents[i].name, SNAP_ENGINE_MEMORY);
            struct snap_mem_info pi;
            if (g_file_test(p, G_FILE_TEST_EXISTS) && snap_mem_info(p, &pi) == 0 &&
                memcmp(pi.id, info.parent, SNAP_MEM_ID_LEN) == 0) {
                parent = p;
                info = pi;
            } else {
                qv_reset_error();
                g_free(p);
            }
        }
        if (!parent) {
            rc = qv_error_set(QV_ERR_PROTOCOL,
                              "snapshot '%s': the snapshot its memory builds on is missing", name);
            break;
        }
        g_ptr_array_insert(chain, 0, parent);
    }
    snap_dir_entries_free(ents, n);
    return rc;
}

/* Before anything changes: each disk the snapshot holds is a writable disk
 * of the VM's definition (only those are ever written: the record is a
 * file qv-vmm can write) and its copy is a regular file in the snapshot. */
static int check_disks(struct snap_engine *e, const char *name, const GPtrArray *disks)
{
    g_autoptr(GPtrArray) mine = g_ptr_array_new_with_free_func(g_free);
    if (disks->len && (!e->ops->disks || e->ops->disks(e->m, mine) < 0))
        return e->ops->disks ? qv_error_code()
                             : qv_error_set(QV_ERR_INVALID_STATE, "the VM has no disks");
    for (guint i = 0; i < disks->len; i++) {
        const char *img = disks->pdata[i];
        bool known = false;
        for (guint j = 0; j < mine->len && !known; j++)
            known = strcmp(mine->pdata[j], img) == 0;
        if (!known)
            return qv_error_set(QV_ERR_INVALID_STATE,
                                "snapshot '%s' holds disk '%s', which is not a writable disk of "
                                "the VM's definition",
                                name, img);
        g_autofree char *file = g_strdup_printf(SNAP_ENGINE_DISK "%u", i);
        g_autofree char *src = snap_dir_file(e->dir, name, file);
        struct stat st;
        if (!src || lstat(src, &st) < 0 || !S_ISREG(st.st_mode))
            return qv_error_set(QV_ERR_IO,
                                "cannot restore disk '%s' from snapshot '%s': its copy '%s' is "
                                "missing or not a regular file",
                                img, name, src ? src : file);
    }
    return 0;
}

/* The image a copy goes into, opened: the file the record names (a
 * redo never writes a file put at its path since), and, unless the VM's
 * own devices hold it (live), locked as a running VM's disk backend
 * locks it, so an image another VM or process uses is never rewritten
 * under it. An fd, or a QV_ERR_* with the error set. */
static int open_image(const char *img, const struct snap_intent_id *id, bool live)
{
    int out = qv_file_open_overwrite(img);
    if (out < 0)
        return out;
    struct stat st;
    int rc = 0;
    if (fstat(out, &st) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot stat '%s'", img);
    else if ((guint64)st.st_dev != id->dev || (guint64)st.st_ino != id->ino)
        rc = qv_error_set(QV_ERR_INVALID_STATE,
                          "'%s' is not the file the restore began writing (it was replaced or "
                          "moved since)",
                          img);
    else if (!live) {
        struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(out, F_OFD_SETLK, &lk) < 0)
            rc = errno == EAGAIN || errno == EACCES
                     ? qv_error_set(QV_ERR_BUSY, "'%s' is in use by another VM or process", img)
                     : qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot lock '%s'", img);
    }
    if (rc < 0) {
        close(out);
        return rc;
    }
    return out;
}

/* Copy each disk's copy over its image in place, and drop the record
 * (already written, ids its images' identities) once all are fsynced. A
 * failure leaves the record, so the disks are finished by the next
 * restore or recovery. live: the VM's own (quiesced) devices hold the
 * images open and locked. */
static int put_disks_back(struct snap_engine *e, const char *name, const GPtrArray *disks,
                          const GArray *ids, bool live)
{
    if (!disks->len)
        return 0;
    for (guint i = 0; i < disks->len; i++) {
        const char *img = disks->pdata[i];
        snap_engine_step(e, "restore disk %u", i);
        g_autofree char *file = g_strdup_printf(SNAP_ENGINE_DISK "%u", i);
        g_autofree char *src = snap_dir_file(e->dir, name, file);
        bool shared = false;
        int out = src ? open_image(img, &g_array_index(ids, struct snap_intent_id, i), live)
                      : qv_error_set(QV_ERR_INVALID_ARG, "bad snapshot name");
        int rc = out < 0 ? out : qv_file_overwrite_fd(src, out, img, &shared);
        if (out >= 0 && close(out) < 0 && rc == 0)
            rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot write '%s'", img);
        if (rc < 0) {
            qv_error_prefix("disk '%s' is left partly restored; restore snapshot '%s' again to "
                            "finish it",
                            img, name);
            return qv_error_code();
        }
    }
    return snap_intent_remove(e);
}

/* A restore cut short (killed, or a disk copy failed): redo its copies
 * from the snapshot named, which the record must agree with. Under the
 * store's lock. */
static int recover_locked(struct snap_engine *e)
{
    g_autofree char *name = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    g_autoptr(GArray) ids = NULL;
    int rc = snap_intent_read(e, &name, &disks, &ids);
    if (rc <= 0)
        return rc;
    /* A restore cut short leaves its VM stopped (killed with it, or
     * stopped by the failure): a record seen while the VM runs is another
     * process's restore, whose disks are not this one's to rewrite. */
    enum vm_state state = e->ops->state(e->m);
    if (state == VM_STATE_RUNNING || state == VM_STATE_PAUSED)
        return qv_error_set(QV_ERR_BUSY,
                            "a restore of snapshot '%s' was cut short while this VM runs (another "
                            "process restored it?); stop the VM to finish it, or remove '%s/%s' "
                            "to give up on it",
                            name, e->dir, SNAP_ENGINE_INTENT);
    struct loaded l;
    memset(&l, 0, sizeof(l));
    rc = load(e, name, false, &l);
    if (rc == 0) {
        bool same = l.disks->len == disks->len;
        for (guint i = 0; same && i < disks->len; i++)
            same = strcmp(l.disks->pdata[i], disks->pdata[i]) == 0;
        if (!same)
            rc = qv_error_set(QV_ERR_PROTOCOL,
                              "the restore record names disks the snapshot does not hold");
    }
    if (rc == 0)
        rc = check_disks(e, name, disks);
    if (rc == 0)
        rc = put_disks_back(e, name, disks, ids, false);
    loaded_clear(&l);
    if (rc < 0) {
        /* Said whole: what is wrong, and the way out if it stays so. */
        const char *m = qv_last_error()->message;
        g_autofree char *why = g_strdup(m ? m : "");
        qv_error_set(rc,
                     "a restore of snapshot '%s' was cut short and its disks cannot be finished "
                     "(%s); once that is fixed any restore, create, delete or start finishes it, "
                     "or remove '%s/%s' to give up on it and keep the disks as they are",
                     name, why, e->dir, SNAP_ENGINE_INTENT);
    }
    return rc;
}

int snap_engine_recover(struct snap_engine *e)
{
    /* Most often there is no record (nor perhaps a store yet): nothing to
     * lock for. A record appearing after this look is a restore running
     * now, which the caller's VM lock keeps from racing its own work. */
    if (!snap_engine_restore_recorded(e->dir))
        return 0;
    int fd = snap_engine_lock(e);
    if (fd < 0)
        return fd;
    int rc = recover_locked(e);
    snap_engine_unlock(fd);
    return rc;
}

/* The record, the definition, then the disks: a record that cannot be
 * written and a define that refuses (before it changes anything) leave
 * the VM as it was, and a copy that fails leaves the record for a redo. */
static int restore_stopped(struct snap_engine *e, const char *name, struct loaded *l)
{
    g_autoptr(GArray) ids = NULL;
    int rc = check_disks(e, name, l->disks);
    if (rc == 0 && l->disks->len)
        rc = snap_intent_write(e, name, l->disks, &ids);
    if (rc == 0 && (rc = e->ops->define(e->m, l->xml, false, true)) < 0 && ids) {
        struct qv_error_saved err;
        qv_error_save(&err);
        if (snap_intent_remove(e) < 0)
            qv_reset_error(); /* a leftover record only redoes copies of the same bytes */
        qv_error_restore(&err);
    }
    if (rc == 0)
        rc = put_disks_back(e, name, l->disks, ids, false);
    snap_engine_forget(e); /* memory is not the snapshot's any more */
    return rc;
}

static void refuse_cleanup(struct snap_engine *e, bool quiesced, bool resume)
{
    struct qv_error_saved err;
    qv_error_save(&err);
    if (quiesced)
        e->ops->unquiesce(e->m);
    if (resume)
        e->ops->resume(e->m);
    qv_error_restore(&err);
}

/* The restored memory is the snapshot's: increments build on it from now
 * on. A log that cannot be restarted only loses increments over it (the
 * next one is refused, asking for a full snapshot); the restore stands. */
static void restart_dirty(struct snap_engine *e, const char *name, const uint8_t *id)
{
    snap_engine_forget(e);
    struct snap_mem_ram now_ram[SNAP_MEM_MAX_REGIONS];
    size_t n = e->ops->ram(e->m, now_ram, SNAP_MEM_MAX_REGIONS);
    e->pending = g_new0(struct dirty_bitmap *, n);
    e->npending = n;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!(e->pending[i] = dirty_bitmap_new(now_ram[i].size / SNAP_MEM_PAGE_SIZE)))
            rc = qv_error_code();
    if (rc == 0)
        rc = e->ops->dirty_start(e->m);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = e->ops->dirty_take(e->m, i, e->pending[i]);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            dirty_bitmap_clear_all(e->pending[i]);
        e->prev = g_strdup(name);
        memcpy(e->prev_id, id, SNAP_MEM_ID_LEN);
    } else {
        snap_engine_forget(e);
        qv_reset_error();
    }
}

/* Everything that can be refused (the chain, the memory mapping, the disks
 * and their copies) is checked before the machine changes; past that, a
 * failure stops the machine. Device threads are quiesced from the pause
 * on, so none touches guest memory while it is swapped. */
static int restore_live(struct snap_engine *e, const char *name, struct loaded *l,
                        enum vm_state captured)
{
    enum vm_state now = e->ops->state(e->m);
    bool live = snap_engine_has_state(e);
    if (now == VM_STATE_RUNNING) {
        int rc = e->ops->pause(e->m);
        if (rc < 0)
            return rc;
    }
    bool resume = now == VM_STATE_RUNNING;
    bool quiesced = false;
    int rc = 0;
    /* The old context's pending exits land in the old memory, before it
     * is replaced. */
    if (live && e->ops->settle)
        rc = e->ops->settle(e->m);
    if (rc == 0 && live && e->ops->quiesce) {
        rc = e->ops->quiesce(e->m);
        quiesced = rc == 0;
    }
    g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func(g_free);
    uint8_t id[SNAP_MEM_ID_LEN] = {0};
    if (rc == 0)
        rc = chain_of(e, name, chain, id);
    if (rc == 0)
        rc = check_disks(e, name, l->disks);
    struct snap_mem_ram ram[SNAP_MEM_MAX_REGIONS];
    bool mapped = false;
    if (rc == 0) {
        rc = snap_mem_restore((const char *const *)chain->pdata, chain->len, l->table, l->nregions,
                              ram);
        mapped = rc == 0;
    }
    /* Block backends open their images once, when the devices are made:
     * a VM whose disks are put back is rebuilt after the copies, so no
     * device keeps state (caches, sizes) of the old contents. */
    g_autofree char *why = !live           ? g_strdup("it is not running")
                           : l->disks->len ? g_strdup("its disks are put back")
                                           : shape_differs(e, l);
    if (rc < 0) {
        /* Nothing of the machine changed: it goes on as it was. */
        refuse_cleanup(e, quiesced, resume);
        return rc;
    }
    bool rebuilt = false, touched = false;
    if (why) {
        /* The old devices go with the rebuild; the new ones are quiesced
         * in their turn. With disks to put back the old ones are never
         * unquiesced: they would take requests the guest queued before
         * the pause and write them over the restored images. */
        if (quiesced && !l->disks->len) {
            e->ops->unquiesce(e->m);
            quiesced = false;
        }
        /* Past the record's write the images may change: a failure from
         * there on stops the VM, its old devices discarded as they are. */
        g_autoptr(GArray) ids = NULL;
        if (l->disks->len && (rc = snap_intent_write(e, name, l->disks, &ids)) == 0) {
            touched = true;
            quiesced = false;
            rc = put_disks_back(e, name, l->disks, ids, true);
        }
        if (rc == 0 && (rc = e->ops->define(e->m, l->xml, true, false)) < 0)
            qv_error_prefix("VM differs from the snapshot (%s) and cannot be rebuilt", why);
        rebuilt = rc == 0;
        if (rc < 0 && !touched) {
            /* define refuses before it changes anything: a refusal. */
            snap_mem_unmap(ram, l->nregions);
            refuse_cleanup(e, quiesced, resume);
            return rc;
        }
        g_autofree char *still = rc == 0 ? shape_differs(e, l) : NULL;
        if (still)
            rc = qv_error_set(QV_ERR_INVALID_STATE,
                              "rebuilt VM still differs from the snapshot: %s", still);
        if (rc == 0 && e->ops->quiesce) {
            rc = e->ops->quiesce(e->m);
            quiesced = rc == 0;
        }
    }
    if (rc == 0)
        rc = e->ops->ram_replace(e->m, ram, l->nregions);
    if (rc < 0 && mapped)
        snap_mem_unmap(ram, l->nregions);
    for (uint32_t i = 0; rc == 0 && i < l->nvcpus; i++)
        rc = e->ops->vcpu_set(e->m, i, &l->vcpus[i]);
    if (rc == 0 && l->has_vm)
        rc = e->ops->vm_set(e->m, &l->vm);
    if (rc == 0 && e->ops->devices_load)
        rc = e->ops->devices_load(e->m, (struct snap_section *const *)l->devices->pdata,
                                  l->devices->len);
    if (rc == 0 && !rebuilt)
        rc = e->ops->define(e->m, l->xml, false, false);
    /* The dirty log starts afresh while the devices are still quiesced:
     * woken, they fill buffers the guest posted before the snapshot, and
     * those pages belong in the next increment, not in what is cleared. */
    if (rc == 0)
        restart_dirty(e, name, id);
    if (quiesced)
        e->ops->unquiesce(e->m);
    if (rc < 0) {
        struct qv_error_saved err;
        qv_error_save(&err);
        e->ops->fail(e->m);
        snap_engine_forget(e);
        qv_error_restore(&err);
        qv_error_prefix("VM was stopped: it could not be restored whole");
        return rc;
    }
    if (captured == VM_STATE_RUNNING)
        rc = e->ops->resume(e->m);
    return rc;
}

int snap_engine_restore(struct snap_engine *e, const char *name)
{
    struct snap_dir_entry ent = {0};
    int rc = snap_dir_stat(e->dir, name, &ent);
    if (rc < 0)
        return rc;
    enum vm_state captured = ent.meta.state;
    snap_dir_entry_clear(&ent);
    g_autofree char *mem = snap_dir_file(e->dir, name, SNAP_ENGINE_MEMORY);
    bool memory = mem && g_file_test(mem, G_FILE_TEST_EXISTS);
    struct loaded l;
    memset(&l, 0, sizeof(l));
    /* The store's lock for the whole restore: a second engine's recovery
     * waits rather than redo copies this one is making. A restore cut
     * short earlier is finished first (this one may not rewrite all its
     * disks). */
    int lock = snap_engine_lock(e);
    rc = lock < 0 ? lock : recover_locked(e);
    if (rc == 0)
        rc = load(e, name, memory, &l);
    if (rc == 0)
        rc = memory ? restore_live(e, name, &l, captured) : restore_stopped(e, name, &l);
    snap_engine_unlock(lock);
    loaded_clear(&l);
    if (rc < 0)
        qv_error_prefix("cannot restore snapshot '%s'", name);
    return rc;
}

/* Whether a restore record that cannot be finished names snapshot name
 * (its copies are what would finish it). */
static bool intent_needs(struct snap_engine *e, const char *name)
{
    g_autofree char *rec = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    struct qv_error_saved err;
    qv_error_save(&err);
    bool needs = snap_intent_read(e, &rec, &disks, NULL) != 0 && (!rec || strcmp(rec, name) == 0);
    qv_error_restore(&err);
    return needs;
}

int snap_engine_delete(struct snap_engine *e, const char *name)
{
    /* A damaged snapshot can be deleted too: stat refuses it, stat's
     * QV_ERR_NOT_FOUND is what counts. */
    struct snap_dir_entry ent = {0};
    int rc = snap_dir_stat(e->dir, name, &ent);
    if (rc == QV_ERR_NOT_FOUND || rc == QV_ERR_INVALID_ARG)
        return rc;
    qv_reset_error();
    snap_dir_entry_clear(&ent);
    /* A restore cut short is finished from its snapshot first; while it
     * cannot be, that snapshot stays. */
    int lock = snap_engine_lock(e);
    if (lock < 0)
        return lock;
    int rrc = recover_locked(e);
    bool keep = rrc < 0 && intent_needs(e, name);
    snap_engine_unlock(lock);
    if (keep) {
        qv_error_prefix("cannot delete snapshot '%s'", name);
        return rrc;
    }
    if (rrc < 0)
        qv_reset_error();
    g_autofree char *mem = snap_dir_file(e->dir, name, SNAP_ENGINE_MEMORY);
    struct snap_mem_info info;
    if (mem && g_file_test(mem, G_FILE_TEST_EXISTS)) {
        if ((rc = snap_mem_info(mem, &info)) < 0)
            return rc;
        /* Fold it into every increment built on it first, so theirs stay
         * restorable; a kill after a fold leaves both whole. */
        struct snap_dir_entry *ents = NULL;
        size_t n = 0;
        if ((rc = snap_dir_list(e->dir, &ents, &n)) < 0)
            return rc;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (strcmp(ents[i].name, name) == 0)
                continue;
            g_autofree char *p = snap_dir_file(e->dir, ents[i].name, SNAP_ENGINE_MEMORY);
            struct snap_mem_info ci;
            if (!g_file_test(p, G_FILE_TEST_EXISTS))
                continue;
            /* Another snapshot's damaged memory file does not keep this
             * one from going: it builds on nothing readable. */
            if (snap_mem_info(p, &ci) < 0) {
                qv_reset_error();
                continue;
            }
            if (ci.kind != SNAP_MEM_INC || memcmp(ci.parent, info.id, SNAP_MEM_ID_LEN) != 0)
                continue;
            snap_engine_step(e, "fold into %s", ents[i].name);
            if ((rc = snap_mem_sweep(p)) >= 0)
                rc = info.kind == SNAP_MEM_FULL ? snap_mem_fold_base(mem, p)
                                                : snap_mem_fold_inc(mem, p);
        }
        snap_dir_entries_free(ents, n);
        if (rc < 0) {
            qv_error_prefix("cannot delete snapshot '%s'", name);
            return rc;
        }
    }
    rc = snap_dir_delete(e->dir, name, &e->hook);
    if (rc == 0 && e->prev && strcmp(e->prev, name) == 0)
        g_clear_pointer(&e->prev, g_free);
    return rc;
}
