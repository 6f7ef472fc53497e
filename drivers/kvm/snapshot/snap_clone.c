/* vm_clone's engine half (snap_clone.h): build a clone's store from a
 * machine, and resume the clone from it on its first start. */
#define _GNU_SOURCE
#include "snap_clone.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "../../../lib/util/names.h"
#include "snap_engine_priv.h"

#define CLONE_TAG ".clone-"

struct clone_job {
    const struct snap_clone *c;
    const char *tmp;  /* the hidden directory being filled */
    GPtrArray *disks; /* the source's images, as ops->disks gives them */
    bool memory;
    enum vm_state state;
};

static int copy_disks(struct snap_engine *e, const struct clone_job *j)
{
    for (guint i = 0; i < j->disks->len; i++) {
        snap_engine_step(e, "clone disk %u", i);
        g_autofree char *dst = g_build_filename(j->tmp, j->c->disks[i], NULL);
        bool shared = false;
        if (qv_file_clone(j->disks->pdata[i], dst, &shared) < 0) {
            qv_error_prefix("cannot copy disk '%s'", (const char *)j->disks->pdata[i]);
            return qv_error_code();
        }
    }
    return 0;
}

/* resume/origin: memory in full, vCPUs, irqchip, devices, the clone's
 * definition; no disk copies (the store's disks are the captured state). */
static int write_state(struct snap_engine *e, const struct clone_job *j)
{
    g_autofree char *dir = g_build_filename(j->tmp, SNAP_CLONE_RESUME_DIR, NULL);
    struct snap_meta meta = {.state = j->state, .created_us = g_get_real_time()};
    struct snap_stage *st = NULL;
    int rc = snap_stage_begin(dir, SNAP_CLONE_ORIGIN, &meta, &e->hook, &st);
    if (rc < 0)
        return rc;
    rc = snap_stage_write(st, SNAP_ENGINE_XML, j->c->xml, strlen(j->c->xml));
    struct snap_mem_ram ram[SNAP_MEM_MAX_REGIONS];
    size_t n = e->ops->ram(e->m, ram, SNAP_MEM_MAX_REGIONS);
    struct snap_mem_region table[SNAP_MEM_MAX_REGIONS];
    g_autoptr(GPtrArray) devs = NULL;
    g_autoptr(GByteArray) img = NULL;
    g_autoptr(GPtrArray) none = g_ptr_array_new();
    if (rc == 0) {
        snap_engine_step(e, "write memory");
        g_autofree char *mem = g_build_filename(snap_stage_path(st), SNAP_ENGINE_MEMORY, NULL);
        rc = snap_mem_write_full(mem, ram, n, table);
    }
    if (rc == 0 && e->ops->devices_save && !(devs = e->ops->devices_save(e->m)))
        rc = qv_error_code();
    if (rc == 0)
        rc = snap_engine_state_build(e, table, n, none, devs, &img);
    if (rc == 0)
        rc = snap_stage_write(st, SNAP_ENGINE_STATE, img->data, img->len);
    if (rc < 0) {
        snap_stage_abort(st);
        return rc;
    }
    return snap_stage_commit(st);
}

/* With the machine held still (snap_engine_capture): disks and state
 * are of one instant. */
static int capture_fn(struct snap_engine *e, void *arg)
{
    const struct clone_job *j = arg;
    int rc = copy_disks(e, j);
    if (rc == 0 && j->memory)
        rc = write_state(e, j);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return qv_error_set_errno(QV_ERR_IO, err, "cannot sync directory '%s'", dir);
    }
    close(fd);
    return 0;
}

static int check_spec(struct snap_engine *e, const struct snap_clone *c, GPtrArray *disks)
{
    if (!c->store || !g_path_is_absolute(c->store) || !c->xml)
        return qv_error_set(QV_ERR_INVALID_ARG, "a clone needs an absolute store and a definition");
    if (e->ops->disks && e->ops->disks(e->m, disks) < 0)
        return qv_error_code();
    if (disks->len > SNAP_ENGINE_MAX_DISKS || disks->len != c->ndisks)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "the clone names %zu disk copies; the VM has %u writable disks",
                            c->ndisks, disks->len);
    for (size_t i = 0; i < c->ndisks; i++) {
        const char *f = c->disks[i];
        if (!f)
            return qv_error_set(QV_ERR_INVALID_ARG, "disk %zu has no name for its copy", i);
        if (!qv_name_check(f, "disk file"))
            return qv_error_code();
        if (strcmp(f, SNAP_CLONE_RESUME_DIR) == 0)
            return qv_error_set(QV_ERR_INVALID_ARG, "disk file name '%s' is reserved", f);
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->disks[k], f) == 0)
                return qv_error_set(QV_ERR_INVALID_ARG, "two disks would both be copied to '%s'",
                                    f);
    }
    struct stat sb;
    if (lstat(c->store, &sb) == 0)
        return qv_error_set(QV_ERR_EXISTS, "'%s' exists already", c->store);
    return 0;
}

int snap_engine_clone(struct snap_engine *e, const struct snap_clone *c)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);
    int rc = check_spec(e, c, disks);
    if (rc < 0)
        return rc;
    g_autofree char *parent = g_path_get_dirname(c->store);
    g_autofree char *name = g_path_get_basename(c->store);
    g_autofree char *tmp = g_strdup_printf("%s/.%s" CLONE_TAG "XXXXXX", parent, name);
    g_autofree char *what = g_strdup_printf("cannot clone into '%s'", c->store);
    struct clone_job j = {.c = c, .tmp = tmp, .disks = disks};
    snap_engine_step(e, "clone mkdir");
    if (!g_mkdtemp_full(tmp, 0700))
        return qv_error_set_errno(QV_ERR_IO, errno,
                                  "cannot create a directory for clone '%s' in '%s'", name, parent);
    /* Held until the end: a sweep leaves a live clone's directory alone. */
    int lock = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot lock '%s'", tmp);
        goto out;
    }
    j.state = e->ops->state(e->m);
    j.memory = snap_engine_has_state(e);
    /* A machine without state has nothing in flight: no pause needed. */
    if (j.memory)
        rc = snap_engine_capture(e, what, capture_fn, &j);
    else if ((rc = capture_fn(e, &j)) < 0)
        qv_error_prefix("%s", what);
    if (rc < 0)
        goto out;
    /* Every file was fsynced as it was made (qv_file_clone, the stage's
     * commit); the directory's entries now, then the rename. */
    snap_engine_step(e, "clone fsync");
    if ((rc = fsync_dir(tmp)) < 0)
        goto out;
    snap_engine_step(e, "clone rename");
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, c->store, RENAME_NOREPLACE) < 0) {
        rc = errno == EEXIST ? qv_error_set(QV_ERR_EXISTS, "'%s' exists already", c->store)
                             : qv_error_set_errno(QV_ERR_IO, errno, "cannot rename '%s' to '%s'",
                                                  tmp, c->store);
        goto out;
    }
    snap_engine_step(e, "clone fsync dir");
    rc = fsync_dir(parent);
    if (rc < 0) {
        /* Renamed but perhaps not durable: not a clone to hand out. */
        struct qv_error_saved err;
        qv_error_save(&err);
        qv_dir_remove_tree(c->store);
        qv_error_restore(&err);
    }
out:
    if (rc < 0 && g_file_test(tmp, G_FILE_TEST_IS_DIR)) {
        struct qv_error_saved err;
        qv_error_save(&err);
        qv_dir_remove_tree(tmp);
        qv_error_restore(&err);
    }
    if (lock >= 0)
        close(lock);
    return rc;
}

int snap_clone_sweep(const char *parent, const char *name)
{
    g_autoptr(GDir) d = g_dir_open(parent, 0, NULL);
    if (!d)
        return 0; /* no parent: nothing left there */
    g_autofree char *prefix = g_strdup_printf(".%s" CLONE_TAG, name);
    const char *n;
    int rc = 0;
    while ((n = g_dir_read_name(d))) {
        if (!g_str_has_prefix(n, prefix) || strlen(n) != strlen(prefix) + 6)
            continue;
        g_autofree char *path = g_build_filename(parent, n, NULL);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        /* A live clone holds it: leave it to its owner. */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && qv_dir_remove_tree(path) < 0)
            rc = qv_error_code();
        close(fd);
    }
    return rc;
}

bool snap_clone_has_resume(const char *store)
{
    g_autofree char *dir = g_build_filename(store, SNAP_CLONE_RESUME_DIR, NULL);
    struct snap_dir_entry ent = {0};
    if (snap_dir_stat(dir, SNAP_CLONE_ORIGIN, &ent) < 0) {
        qv_reset_error();
        return false;
    }
    snap_dir_entry_clear(&ent);
    return true;
}

int snap_clone_resume(const char *store, const struct snap_machine_ops *ops, void *m)
{
    g_autofree char *dir = g_build_filename(store, SNAP_CLONE_RESUME_DIR, NULL);
    struct snap_engine *e = snap_engine_new(dir, ops, m);
    int rc = snap_engine_restore(e, SNAP_CLONE_ORIGIN);
    snap_engine_free(e);
    if (rc < 0) {
        qv_error_prefix("cannot resume the clone from its captured state");
        return rc;
    }
    /* The machine holds the memory file mapped; its name can go. A
     * failure here costs disk space only: the state was used. */
    if (snap_dir_delete(dir, SNAP_CLONE_ORIGIN, NULL) < 0 || rmdir(dir) < 0)
        qv_reset_error();
    return 0;
}
