/* noop VM objects and their lifecycle. There is no guest: a state change
 * is the whole effect, persisted in directory mode. */
#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/api/state.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/lock.h"
#include "noop.h"

struct noop_vm *noop_vm_new(struct noop_conn *nc, const char *name)
{
    struct noop_vm *v = g_new0(struct noop_vm, 1);
    v->refs = 1;
    pthread_mutex_init(&v->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* g_get_monotonic_time's clock */
    pthread_cond_init(&v->cond, &ca);
    pthread_condattr_destroy(&ca);
    v->nc = nc;
    v->name = g_strdup(name);
    if (nc->dir) {
        v->dir = noop_store_vm_dir(nc, name);
        v->lock_path = g_strdup_printf("%s/.locks/%s.lock", nc->dir, name);
    }
    v->lock_fd = -1;
    v->st.state = VM_STATE_CREATED;
    v->st.reason = VM_REASON_NONE;
    v->st.exit_status = -1;
    v->regions = g_ptr_array_new_with_free_func((GDestroyNotify)noop_region_free);
    v->vcpus =
        g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)noop_vcpu_free);
    v->snaps = g_ptr_array_new_with_free_func((GDestroyNotify)noop_snap_free);
    return v;
}

/* Reference counts change under a lock rather than with atomics: helgrind
 * then sees every release happen before the free. */
static pthread_mutex_t refs_lock = PTHREAD_MUTEX_INITIALIZER;

struct noop_vm *noop_vm_ref(struct noop_vm *v)
{
    pthread_mutex_lock(&refs_lock);
    v->refs++;
    pthread_mutex_unlock(&refs_lock);
    return v;
}

void noop_vm_unref(struct noop_vm *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&refs_lock);
    bool last = --v->refs == 0;
    pthread_mutex_unlock(&refs_lock);
    if (!last)
        return;
    g_ptr_array_free(v->snaps, TRUE);
    g_hash_table_destroy(v->vcpus);
    g_ptr_array_free(v->regions, TRUE);
    qv_domain_free(v->def);
    g_free(v->def_stamp);
    g_free(v->lock_path);
    g_free(v->dir);
    g_free(v->name);
    pthread_cond_destroy(&v->cond);
    pthread_mutex_destroy(&v->lock);
    g_free(v);
}

static int no_vm(struct noop_conn *nc, const char *name)
{
    return qv_error_set(QV_ERR_NOT_FOUND, "no VM named '%s' in %s", name, nc->dir);
}

static int gone(struct noop_vm *v)
{
    return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' no longer exists", v->name);
}

static int begin(struct noop_vm *v, bool full)
{
    pthread_mutex_lock(&v->lock);
    if (v->removed) {
        pthread_mutex_unlock(&v->lock);
        return gone(v);
    }
    if (!v->dir)
        return 0;
    int rc = noop_store_lock(v);
    if (rc == 0) {
        rc = noop_store_load(v, full);
        if (rc < 0)
            noop_store_unlock(v);
    }
    if (rc == QV_ERR_NOT_FOUND) {
        /* Destroyed by another process: let go of its memory now. */
        v->removed = true;
        noop_memory_clear(v);
    }
    if (rc < 0)
        pthread_mutex_unlock(&v->lock);
    return rc;
}

int noop_vm_begin(struct noop_vm *v)
{
    return begin(v, true);
}

int noop_vm_begin_status(struct noop_vm *v)
{
    return begin(v, false);
}

void noop_vm_end(struct noop_vm *v)
{
    if (v->dir)
        noop_store_unlock(v);
    pthread_mutex_unlock(&v->lock);
}

int noop_vm_set_state(struct noop_vm *v, enum vm_state state, enum vm_state_reason reason)
{
    struct qv_vm_status old = v->st;
    v->st.state = state;
    v->st.reason = reason;
    v->st.exit_status = -1;
    if (v->dir && noop_store_save_state(v) < 0) {
        v->st = old;
        return qv_error_code();
    }
    pthread_cond_broadcast(&v->cond);
    return 0;
}

/* ---- Objects ---- */

/* Like libvirt, a UUID names one VM only. */
static int uuid_taken(const struct qv_domain *def, const char *owner)
{
    return qv_error_set(QV_ERR_EXISTS, "cannot define VM '%s': VM '%s' already has UUID %s",
                        def->name, owner, def->uuid);
}

int noop_vm_define(struct qv_conn *conn, const struct qv_domain *def, void **priv)
{
    struct noop_conn *nc = NOOP_CONN(conn);
    if (nc->dir) {
        /* The UUID check and the publication are one step: another
         * process defining the same UUID waits for our names lock. */
        int names_fd = noop_store_names_lock(nc, "define", def->name);
        if (names_fd < 0)
            return names_fd;
        g_autofree char *owner = noop_store_uuid_owner(nc, def->uuid);
        if (owner) {
            qv_lock_release(names_fd);
            return uuid_taken(def, owner);
        }
        g_autofree char *dir = noop_store_vm_dir(nc, def->name);
        g_autofree char *tmp = noop_store_mkdtemp(nc->dir, def->name);
        if (!tmp) {
            qv_lock_release(names_fd);
            return qv_error_code();
        }
        struct qv_vm_status st = {VM_STATE_CREATED, VM_REASON_NONE, -1};
        g_autofree char *instance = g_uuid_string_random();
        int rc = noop_store_write_def(tmp, def);
        if (rc == 0)
            rc = noop_store_write_state(tmp, instance, 0, &st, NULL);
        if (rc == 0)
            rc = noop_store_publish(tmp, dir, "define", def->name);
        if (rc < 0)
            qv_dir_remove_tree(tmp);
        qv_lock_release(names_fd);
        if (rc < 0)
            return rc;
        struct noop_vm *v = noop_vm_new(nc, def->name);
        g_strlcpy(v->instance, instance, sizeof(v->instance));
        *priv = v;
        return 0;
    }

    pthread_mutex_lock(&nc->lock);
    if (g_hash_table_contains(nc->vms, def->name)) {
        pthread_mutex_unlock(&nc->lock);
        return qv_error_set(QV_ERR_EXISTS, "cannot define VM '%s': a VM of that name exists",
                            def->name);
    }
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, nc->vms);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const struct noop_vm *o = value;
        if (strcmp(o->uuid, def->uuid) == 0) {
            pthread_mutex_unlock(&nc->lock);
            return uuid_taken(def, o->name);
        }
    }
    struct noop_vm *v = noop_vm_new(nc, def->name);
    g_strlcpy(v->uuid, def->uuid, sizeof(v->uuid));
    v->def = qv_domain_copy(def);
    int rc = noop_memory_init(v);
    if (rc < 0) {
        pthread_mutex_unlock(&nc->lock);
        noop_vm_unref(v);
        return rc;
    }
    g_hash_table_insert(nc->vms, v->name, noop_vm_ref(v));
    pthread_mutex_unlock(&nc->lock);
    *priv = v;
    return 0;
}

int noop_vm_lookup(struct qv_conn *conn, const char *name, void **priv)
{
    struct noop_conn *nc = NOOP_CONN(conn);
    if (nc->dir) {
        g_autofree char *dir = noop_store_vm_dir(nc, name);
        g_autofree char *xml = g_build_filename(dir, "domain.xml", NULL);
        if (!g_file_test(xml, G_FILE_TEST_IS_REGULAR))
            return no_vm(nc, name);
        struct noop_vm *v = noop_vm_new(nc, name);
        int rc = noop_store_adopt(v);
        if (rc == QV_ERR_NOT_FOUND) {
            noop_vm_unref(v);
            return no_vm(nc, name);
        }
        /* A damaged VM still gets a handle (with no instance id, so it
         * matches what is there): its state and definition then give the
         * error, and vm_destroy can remove it. */
        qv_reset_error();
        (void)rc;
        *priv = v;
        return 0;
    }
    pthread_mutex_lock(&nc->lock);
    struct noop_vm *v = g_hash_table_lookup(nc->vms, name);
    if (v)
        noop_vm_ref(v);
    pthread_mutex_unlock(&nc->lock);
    if (!v)
        return qv_error_set(QV_ERR_NOT_FOUND, "no VM named '%s'", name);
    *priv = v;
    return 0;
}

void noop_vm_release(struct vm *vm)
{
    noop_vm_unref(NOOP_VM(vm));
}

int noop_vm_list(struct qv_conn *conn, GPtrArray *names)
{
    struct noop_conn *nc = NOOP_CONN(conn);
    if (nc->dir)
        return noop_store_list(nc, names);
    pthread_mutex_lock(&nc->lock);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, nc->vms);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(names, g_strdup(key));
    pthread_mutex_unlock(&nc->lock);
    return 0;
}

struct qv_domain *noop_vm_get_def(struct vm *vm)
{
    struct noop_vm *v = NOOP_VM(vm);
    if (noop_vm_begin(v) < 0)
        return NULL;
    struct qv_domain *def = qv_domain_copy(v->def);
    noop_vm_end(v);
    return def;
}

int noop_vm_get_status(struct vm *vm, struct qv_vm_status *st)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin_status(v);
    if (rc < 0)
        return rc;
    *st = v->st;
    noop_vm_end(v);
    return 0;
}

/* ---- Lifecycle ---- */

/* The core checked the transition, but in directory mode another process
 * may have moved the VM since: check again under the flock. */
static int transition(struct vm *vm, enum qv_op op, enum vm_state to, enum vm_state_reason why)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    rc = qv_op_check(op, v->st.state, v->name);
    if (rc == 0)
        rc = noop_vm_set_state(v, to, why);
    noop_vm_end(v);
    return rc;
}

int noop_vm_start(struct vm *vm)
{
    return transition(vm, QV_OP_START, VM_STATE_RUNNING, VM_REASON_NONE);
}

int noop_vm_stop(struct vm *vm, unsigned flags, int timeout_ms)
{
    /* No guest to ask: a graceful stop is as quick as a forced one. */
    (void)flags;
    (void)timeout_ms;
    return transition(vm, QV_OP_STOP, VM_STATE_STOPPED, VM_REASON_USER);
}

int noop_vm_pause(struct vm *vm)
{
    return transition(vm, QV_OP_PAUSE, VM_STATE_PAUSED, VM_REASON_USER);
}

int noop_vm_resume(struct vm *vm)
{
    return transition(vm, QV_OP_RESUME, VM_STATE_RUNNING, VM_REASON_NONE);
}

int noop_vm_reset(struct vm *vm)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    rc = qv_op_check(QV_OP_RESET, v->st.state, v->name);
    if (rc == 0) {
        /* A hardware reset: every vCPU back to its power-on state at the
         * reset vector (CS base 0xffff0, IP 0); memory is kept. */
        GHashTableIter it;
        gpointer val;
        g_hash_table_iter_init(&it, v->vcpus);
        while (g_hash_table_iter_next(&it, NULL, &val)) {
            struct noop_vcpu *vc = val;
            pthread_mutex_lock(&vc->lock);
            noop_cpu_state_reset(&vc->cpu, vc->base.id, 0xffff0);
            g_array_set_size(vc->events, 0);
            pthread_mutex_unlock(&vc->lock);
        }
        pthread_cond_broadcast(&v->cond);
    }
    noop_vm_end(v);
    return rc;
}

/* As noop_vm_begin_status, but a VM whose state.json is damaged is locked
 * all the same: destroying it is how the user gets rid of it. */
static int begin_destroy(struct noop_vm *v)
{
    int rc = noop_vm_begin_status(v);
    if (!v->dir || (rc != QV_ERR_JSON && rc != QV_ERR_IO))
        return rc;
    pthread_mutex_lock(&v->lock);
    rc = v->removed ? gone(v) : noop_store_lock(v);
    if (rc == 0 && !g_file_test(v->dir, G_FILE_TEST_IS_DIR)) {
        noop_store_unlock(v);
        rc = gone(v);
    }
    if (rc < 0)
        pthread_mutex_unlock(&v->lock);
    else
        qv_reset_error();
    return rc;
}

int noop_vm_destroy(struct vm *vm)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = begin_destroy(v);
    if (rc < 0)
        return rc;
    if (v->dir) {
        /* Renaming first makes the VM vanish at once for every reader; the
         * removal of the files can then take its time. */
        g_autofree char *trash = noop_store_mkdtemp(v->nc->dir, v->name);
        if (!trash) {
            noop_vm_end(v);
            return qv_error_code();
        }
        if (rename(v->dir, trash) < 0) {
            int err = errno;
            g_rmdir(trash);
            noop_vm_end(v);
            return qv_error_set_errno(QV_ERR_IO, err, "cannot destroy VM '%s': cannot move '%s'",
                                      v->name, v->dir);
        }
        qv_dir_remove_tree(trash);
    } else {
        pthread_mutex_lock(&v->nc->lock);
        if (g_hash_table_lookup(v->nc->vms, v->name) == v)
            g_hash_table_remove(v->nc->vms, v->name); /* drops the table's reference */
        pthread_mutex_unlock(&v->nc->lock);
    }
    v->removed = true;
    v->st.state = VM_STATE_DESTROYED;
    noop_memory_clear(v);
    g_ptr_array_set_size(v->snaps, 0);
    pthread_cond_broadcast(&v->cond);
    noop_vm_end(v);
    return 0;
}

static bool active(enum vm_state s)
{
    return s == VM_STATE_RUNNING || s == VM_STATE_PAUSED;
}

int noop_vm_wait(struct vm *vm, int timeout_ms)
{
    struct noop_vm *v = NOOP_VM(vm);
    gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    int rc = 0;
    pthread_mutex_lock(&v->lock);
    for (;;) {
        enum vm_state state = v->st.state;
        if (v->dir && !v->removed) {
            /* Another process changes the state: poll the file. Writes are
             * atomic renames, so no flock is needed to read it. */
            struct qv_vm_status st;
            if (noop_store_read_status(v, &st) < 0)
                break; /* gone: not running any more */
            state = st.state;
        }
        if (v->removed || !active(state))
            break;
        gint64 now = g_get_monotonic_time();
        if (deadline >= 0 && now >= deadline) {
            rc = qv_error_set(QV_ERR_TIMEOUT, "VM '%s' is still %s after %d ms", v->name,
                              vm_state_name(state), timeout_ms);
            break;
        }
        gint64 until = deadline;
        if (v->dir && (until < 0 || until > now + 20000))
            until = now + 20000;
        if (until < 0) {
            pthread_cond_wait(&v->cond, &v->lock);
        } else {
            struct timespec ts = {.tv_sec = until / G_USEC_PER_SEC,
                                  .tv_nsec = (until % G_USEC_PER_SEC) * 1000};
            pthread_cond_timedwait(&v->cond, &v->lock, &ts);
        }
    }
    pthread_mutex_unlock(&v->lock);
    if (rc == 0)
        qv_reset_error();
    return rc;
}

int noop_vm_clone(struct vm *src, const struct qv_domain *newdef, void **priv)
{
    struct noop_vm *v = NOOP_VM(src);
    struct noop_conn *nc = v->nc;
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    struct noop_vm *nv = NULL;
    if (nc->dir) {
        g_autofree char *dir = noop_store_vm_dir(nc, newdef->name);
        g_autofree char *tmp = NULL;
        int names_fd = noop_store_names_lock(nc, "clone", v->name);
        if (names_fd < 0) {
            rc = names_fd;
            goto out;
        }
        g_autofree char *owner = noop_store_uuid_owner(nc, newdef->uuid);
        if (owner) {
            rc = uuid_taken(newdef, owner);
            qv_lock_release(names_fd);
            goto out;
        }
        if (g_file_test(dir, G_FILE_TEST_EXISTS)) {
            qv_lock_release(names_fd);
            rc = qv_error_set(QV_ERR_EXISTS, "cannot clone VM '%s': a VM named '%s' exists",
                              v->name, newdef->name);
            goto out;
        }
        tmp = noop_store_mkdtemp(nc->dir, newdef->name);
        if (!tmp) {
            rc = qv_error_code();
            qv_lock_release(names_fd);
            goto out;
        }
        struct qv_vm_status st = {VM_STATE_CREATED, VM_REASON_NONE, -1};
        g_autofree char *instance = g_uuid_string_random();
        rc = noop_store_write_def(tmp, newdef);
        for (guint i = 0; rc == 0 && i < v->regions->len; i++) {
            struct noop_region *r = g_ptr_array_index(v->regions, i);
            g_autofree char *path = noop_region_file(tmp, r->gpa, 0);
            struct noop_region *copy = noop_region_new(r->gpa, r->size, r->flags, path);
            rc = noop_region_copy(copy, r);
            noop_region_free(copy);
        }
        if (rc == 0)
            rc = noop_store_write_state(tmp, instance, 0, &st, v->regions);
        if (rc == 0)
            rc = noop_store_publish(tmp, dir, "clone", newdef->name);
        if (rc < 0)
            qv_dir_remove_tree(tmp);
        if (rc < 0 && rc != QV_ERR_EXISTS)
            qv_error_prefix("cannot clone VM '%s' to '%s'", v->name, newdef->name);
        qv_lock_release(names_fd);
        if (rc == 0)
            nv = noop_vm_new(nc, newdef->name);
        if (nv)
            g_strlcpy(nv->instance, instance, sizeof(nv->instance));
        goto out;
    }

    nv = noop_vm_new(nc, newdef->name);
    g_strlcpy(nv->uuid, newdef->uuid, sizeof(nv->uuid));
    nv->def = qv_domain_copy(newdef);
    for (guint i = 0; rc == 0 && i < v->regions->len; i++) {
        struct noop_region *r = g_ptr_array_index(v->regions, i);
        struct noop_region *copy = noop_region_new(r->gpa, r->size, r->flags, NULL);
        g_ptr_array_add(nv->regions, copy);
        rc = noop_region_copy(copy, r);
    }
    if (rc == 0) {
        pthread_mutex_lock(&nc->lock);
        if (g_hash_table_contains(nc->vms, newdef->name))
            rc = qv_error_set(QV_ERR_EXISTS, "cannot clone VM '%s': a VM named '%s' exists",
                              v->name, newdef->name);
        else
            g_hash_table_insert(nc->vms, nv->name, noop_vm_ref(nv));
        pthread_mutex_unlock(&nc->lock);
    }
    if (rc < 0)
        g_clear_pointer(&nv, noop_vm_unref);
out:
    noop_vm_end(v);
    if (nv)
        *priv = nv;
    return rc;
}

int noop_vm_set(struct vm *vm, const struct qv_setting *set)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    rc = qv_op_check(QV_OP_SET, v->st.state, v->name);
    struct qv_domain *def = rc == 0 ? qv_domain_copy(v->def) : NULL;
    if (def)
        rc = qv_setting_apply(def, set, v->name);
    if (rc == 0)
        rc = qv_domain_validate(def);
    if (rc == 0) {
        struct qv_domain *old = v->def;
        v->def = def;
        def = NULL;
        if (v->dir && (rc = noop_store_save_def(v)) < 0) {
            def = v->def;
            v->def = old;
        } else {
            def = old;
        }
    }
    qv_domain_free(def);
    noop_vm_end(v);
    return rc;
}
