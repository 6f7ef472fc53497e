/* Snapshots on kvm:///session. They are the snapshots of the driver qv-vmm
 * hosts the VM on (kvm:///embed's <root>/kvm-embed/NAME/snapshots,
 * noop:///DIR's DIR/NAME/snapshots), which outlive each qv-vmm:
 *  - while qv-vmm runs (guest running or paused), through it: QEMU's
 *    snapshot-save/-load/-delete jobs (lib/qmp/qmp_job.h, progress to the
 *    caller as the qemu driver gives it) and x-qv-query-snapshots;
 *  - otherwise on that driver in this process, under the VM's lock (which
 *    also keeps a qv-vmm from starting meanwhile): the public API on a
 *    connection to qv-vmm's URI. A restore of a snapshot that holds a
 *    running or paused guest starts qv-vmm with --restore, so the guest
 *    resumes from it, as the qemu driver starts QEMU to load one.
 * vmm_uri=noop:/// keeps nothing between qv-vmm runs: there a stopped VM
 * has no snapshots, and taking one is refused. */
#include <string.h>

#include "../../../lib/proc/proc.h"
#include "../../../lib/qmp/qmp_job.h"
#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "../../../lib/util/json.h"
#include "../../../lib/util/names.h"
#include "ksess.h"

#define SESSION "kvm:///session"
/* As the qemu driver's: a snapshot of a large guest takes a while. */
#define SNAP_TIMEOUT_MS (10 * 60 * 1000)

/* ---- the hosted driver, in this process, for a VM without qv-vmm ---- */

/* Whether vmm_uri keeps VMs across processes: noop:/// (no directory)
 * keeps them in memory only. */
static bool keeps_state(const char *uri)
{
    g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_ENCODED_QUERY, NULL);
    if (!u || g_strcmp0(g_uri_get_scheme(u), "noop") != 0)
        return true;
    const char *path = g_uri_get_path(u);
    return path && *path && strcmp(path, "/") != 0;
}

/* For kvm:///embed, whether the VM's snapshot directory
 * (<root>/kvm-embed/NAME, root= of the URI, which the session always
 * sets) is absent: then it has none, and nothing needs /dev/kvm to say so. */
static bool embed_store_absent(const char *uri, const char *name)
{
    g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_ENCODED_QUERY, NULL);
    if (!u || g_strcmp0(g_uri_get_scheme(u), "kvm") != 0 || !g_uri_get_query(u))
        return false;
    g_autoptr(GHashTable) params =
        g_uri_parse_params(g_uri_get_query(u), -1, "&", G_URI_PARAMS_NONE, NULL);
    const char *root = params ? g_hash_table_lookup(params, "root") : NULL;
    if (!root || !*root)
        return false;
    g_autofree char *dir = proc_vm_dir(root, "kvm-embed", name);
    return !g_file_test(dir, G_FILE_TEST_EXISTS);
}

struct inner {
    struct qv_conn *conn;
    struct vm *vm;
};

static void inner_close(struct inner *in)
{
    /* Public calls clear the thread's error: keep the one being returned. */
    struct qv_error_saved e;
    qv_error_save(&e);
    vm_free(in->vm); /* never vm_destroy: that would drop the snapshots */
    qv_close(in->conn);
    qv_error_restore(&e);
    in->vm = NULL;
    in->conn = NULL;
}

/* The VM on qv-vmm's driver. kvm:///embed keeps no VM between processes
 * (only its snapshot directory): it is defined from the stored definition
 * and finds its snapshots there. noop:///DIR keeps the VM qv-vmm defined:
 * it is looked up, and defined only when define is set and it is absent.
 * 1 when there is none (and define is not set), 0, or a QV_ERR_*. */
static int inner_open(struct qv_conn *conn, struct ksess_vm *k, bool define, struct inner *in)
{
    struct ksess_conn *kc = ksess_conn_of(conn);
    *in = (struct inner){0};
    if (!define && embed_store_absent(kc->vmm_uri, k->name))
        return 1;
    in->conn = qv_connect(kc->vmm_uri);
    if (!in->conn) {
        qv_error_prefix("VM '%s': cannot open qv-vmm's driver '%s' for its snapshots", k->name,
                        kc->vmm_uri);
        return qv_error_code();
    }
    in->vm = vm_lookup(in->conn, k->name);
    if (in->vm)
        return 0;
    if (qv_last_error()->code != QV_ERR_NOT_FOUND) {
        int rc = qv_error_code();
        inner_close(in);
        return rc;
    }
    qv_reset_error();
    if (!define && !g_str_has_prefix(kc->vmm_uri, "kvm:")) {
        inner_close(in);
        return 1;
    }
    /* What qv-vmm is given: the definition less what the session itself
     * enforces (kvm_session_tune.c). */
    g_autoptr(qv_domain) def = ksess_load_def(k);
    g_autoptr(qv_domain) vdef = def ? ksess_vmm_def(def) : NULL;
    g_autofree char *xml = vdef ? qv_domain_format_xml(vdef) : NULL;
    int rc = xml ? 0 : (qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL);
    if (rc == 0) {
        in->vm = vm_define_xml(in->conn, xml);
        rc = in->vm ? 0 : qv_error_code();
    }
    if (rc < 0) {
        qv_error_prefix("VM '%s'", k->name);
        inner_close(in);
    }
    return rc;
}

static int no_store(struct vm *vm, const char *name)
{
    struct ksess_conn *kc = ksess_conn_of(vm->conn);
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "cannot take snapshot '%s' of VM '%s': it is not running and its qv-vmm "
                        "driver (vmm_uri=%s) keeps nothing between runs; start the VM, or use "
                        "noop:///DIR or kvm:///embed",
                        name, vm->name, kc->vmm_uri);
}

/* The state vm_state_name gave, as qv-vmm reports it. */
static int state_from_name(const char *s, enum vm_state *out)
{
    static const enum vm_state all[] = {VM_STATE_CREATED, VM_STATE_RUNNING,   VM_STATE_PAUSED,
                                        VM_STATE_STOPPED, VM_STATE_MIGRATING, VM_STATE_DESTROYED};
    for (size_t i = 0; s && i < G_N_ELEMENTS(all); i++)
        if (strcmp(vm_state_name(all[i]), s) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

/* ---- through qv-vmm ---- */

static int run_job(struct vm *vm, struct ksess_vm *k, const char *type, const char *name,
                   unsigned flags)
{
    struct qmp *m = ksess_qmp(k, false);
    if (!m)
        return qv_error_code();
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "tag", name);
    if (flags & SNAPSHOT_INCREMENTAL)
        json_object_set_boolean_member(args, "x-qv-incremental", TRUE);
    if (flags & SNAPSHOT_DISK_ONLY)
        json_object_set_boolean_member(args, "x-qv-disk-only", TRUE);
    int rc = qmp_job_run(m, "qv-vmm", type, args, SNAP_TIMEOUT_MS, qmp_job_snapshot_progress, vm);
    qmp_close(m);
    return rc;
}

/* The snapshots qv-vmm lists, as snapshot_info. */
static int list_live(struct ksess_vm *k, struct snapshot_info **list, size_t *count)
{
    struct qmp *m = ksess_qmp(k, true);
    JsonNode *ret = NULL;
    int rc = m ? qmp_command(m, "x-qv-query-snapshots", NULL, &ret, KSESS_QMP_TIMEOUT_MS)
               : qv_error_code();
    qmp_close(m);
    if (rc < 0)
        return rc;
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;
    guint n = a ? json_array_get_length(a) : 0;
    struct snapshot_info *out = g_new0(struct snapshot_info, n ? n : 1);
    size_t got = 0;
    for (guint i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *name = qv_json_str(o, "name");
        enum vm_state st;
        /* Whatever qv-vmm says is checked: a nameless entry or an unknown
         * state is a protocol fault, not a snapshot. */
        if (!name || !qv_name_check(name, "snapshot") ||
            state_from_name(qv_json_str(o, "x-qv-state"), &st) < 0) {
            snapshot_info_free(out, got);
            json_node_unref(ret);
            return qv_error_set(QV_ERR_PROTOCOL,
                                "VM '%s': qv-vmm's x-qv-query-snapshots entry %u is malformed",
                                k->name, i);
        }
        out[got].name = g_strdup(name);
        out[got].created = qv_json_int(o, "date-sec", 0);
        out[got].size = (uint64_t)MAX(qv_json_int(o, "vm-state-size", 0), 0);
        out[got].state = st;
        got++;
    }
    json_node_unref(ret);
    *list = out;
    *count = got;
    return 0;
}

/* Whether qv-vmm has snapshot name (1) or not (0), and the state it
 * captured: checked before a job, so that the errors are the API's
 * (QV_ERR_EXISTS, QV_ERR_NOT_FOUND), not a failed job's. */
static int live_find(struct ksess_vm *k, const char *name, enum vm_state *state)
{
    struct snapshot_info *list = NULL;
    size_t count = 0;
    int rc = list_live(k, &list, &count);
    if (rc < 0)
        return rc;
    int found = 0;
    for (size_t i = 0; i < count && !found; i++)
        if (strcmp(list[i].name, name) == 0) {
            found = 1;
            if (state)
                *state = list[i].state;
        }
    snapshot_info_free(list, count);
    return found;
}

/* ---- the slots ---- */

static int create_locked(struct vm *vm, struct ksess_vm *k, const char *name, unsigned flags)
{
    if (ksess_running(k)) {
        int found = live_find(k, name, NULL);
        if (found < 0)
            return found;
        if (found)
            return qv_error_set(QV_ERR_EXISTS, "VM '%s' already has a snapshot '%s'", k->name,
                                name);
        return run_job(vm, k, "snapshot-save", name, flags);
    }
    if (!keeps_state(ksess_conn_of(vm->conn)->vmm_uri))
        return no_store(vm, name);
    struct inner in;
    int rc = inner_open(vm->conn, k, true, &in);
    if (rc < 0)
        return rc;
    rc = snapshot_create(in.vm, name, flags);
    inner_close(&in);
    return rc;
}

static int not_found(struct ksess_vm *k, const char *name)
{
    return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no snapshot '%s'", k->name, name);
}

static int restore_locked(struct vm *vm, struct ksess_vm *k, const char *name)
{
    if (ksess_running(k)) {
        enum vm_state st = VM_STATE_CREATED;
        int found = live_find(k, name, &st);
        if (found <= 0)
            return found < 0 ? found : not_found(k, name);
        /* As the qemu driver: one without a guest replaces no running one. */
        if (st != VM_STATE_RUNNING && st != VM_STATE_PAUSED)
            return qv_error_set(QV_ERR_INVALID_STATE,
                                "cannot restore snapshot '%s' of VM '%s' while it runs: it was "
                                "taken while the VM was %s; stop the VM first",
                                name, k->name, vm_state_name(st));
        return run_job(vm, k, "snapshot-load", name, 0);
    }
    struct inner in;
    int rc = inner_open(vm->conn, k, false, &in);
    if (rc < 0)
        return rc;
    if (rc > 0)
        return not_found(k, name);
    /* What the snapshot holds decides: a guest (running or paused) is
     * resumed by a new qv-vmm; a stopped VM's snapshot is restored here
     * and the VM stays stopped. */
    struct snapshot_info *list = NULL;
    size_t count = 0;
    rc = snapshot_list(in.vm, &list, &count);
    const struct snapshot_info *found = NULL;
    for (size_t i = 0; rc == 0 && i < count && !found; i++)
        if (strcmp(list[i].name, name) == 0)
            found = &list[i];
    bool live = found && (found->state == VM_STATE_RUNNING || found->state == VM_STATE_PAUSED);
    if (rc == 0 && !found)
        rc = not_found(k, name);
    else if (rc == 0 && !live)
        rc = snapshot_restore(in.vm, name);
    snapshot_info_free(list, count);
    /* qv-vmm opens the driver itself: ours must be closed first (a
     * kvm:///embed snapshot directory takes one process at a time). */
    inner_close(&in);
    if (rc == 0 && live)
        rc = ksess_start_locked(vm, k, name);
    return rc;
}

static int delete_locked(struct vm *vm, struct ksess_vm *k, const char *name)
{
    if (ksess_running(k)) {
        int found = live_find(k, name, NULL);
        if (found <= 0)
            return found < 0 ? found : not_found(k, name);
        return run_job(vm, k, "snapshot-delete", name, 0);
    }
    struct inner in;
    int rc = inner_open(vm->conn, k, false, &in);
    if (rc < 0)
        return rc;
    if (rc > 0)
        return not_found(k, name);
    rc = snapshot_delete(in.vm, name);
    inner_close(&in);
    return rc;
}

enum snap_op { SNAP_CREATE, SNAP_RESTORE, SNAP_DELETE };

/* Each operation under the VM's lock, logged when done; an error that
 * does not name the snapshot yet gets the VM and the snapshot. */
static int snap_op(struct vm *vm, enum snap_op op, const char *name, unsigned flags)
{
    static const char *const done[] = {"taken", "restored", "deleted"};
    static const char *const verb[] = {"take", "restore", "delete"};
    struct ksess_vm *k = ksess_of(vm);
    ksess_reap_children();
    int rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    rc = op == SNAP_CREATE    ? create_locked(vm, k, name, flags)
         : op == SNAP_RESTORE ? restore_locked(vm, k, name)
                              : delete_locked(vm, k, name);
    if (rc == 0)
        proc_log(k->dir, "snapshot '%s' %s%s", name, done[op],
                 flags & SNAPSHOT_INCREMENTAL ? " (incremental)" : "");
    else if (!strstr(qv_last_error()->message, name))
        qv_error_prefix("cannot %s snapshot '%s' of VM '%s'", verb[op], name, vm->name);
    ksess_unlock(k);
    return rc;
}

int ksess_snap_create(struct vm *vm, const char *name, unsigned flags)
{
    return snap_op(vm, SNAP_CREATE, name, flags);
}

int ksess_snap_restore(struct vm *vm, const char *name)
{
    return snap_op(vm, SNAP_RESTORE, name, 0);
}

int ksess_snap_delete(struct vm *vm, const char *name)
{
    return snap_op(vm, SNAP_DELETE, name, 0);
}

static int list_locked(struct vm *vm, struct ksess_vm *k, struct snapshot_info **list,
                       size_t *count)
{
    if (ksess_running(k))
        return list_live(k, list, count);
    struct inner in;
    int rc = inner_open(vm->conn, k, false, &in);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        *list = g_new0(struct snapshot_info, 1);
        *count = 0;
        return 0;
    }
    rc = snapshot_list(in.vm, list, count);
    inner_close(&in);
    return rc;
}

int ksess_snap_list(struct vm *vm, struct snapshot_info **list, size_t *count)
{
    struct ksess_vm *k = ksess_of(vm);
    ksess_reap_children();
    int rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    rc = list_locked(vm, k, list, count);
    if (rc < 0)
        qv_error_prefix("cannot list the snapshots of VM '%s'", vm->name);
    ksess_unlock(k);
    return rc;
}

int ksess_snap_forget_locked(struct qv_conn *conn, struct ksess_vm *k)
{
    if (!keeps_state(ksess_conn_of(conn)->vmm_uri))
        return 0;
    struct inner in;
    int rc = inner_open(conn, k, false, &in);
    if (rc == 0) {
        qv_reset_error();
        vm_destroy(in.vm); /* takes its snapshots along */
        in.vm = NULL;
        rc = qv_last_error()->code < 0 ? qv_last_error()->code : 0;
        inner_close(&in);
    }
    if (rc < 0) {
        /* The VM goes all the same: a destroy must not be refused over
         * leftovers (a kvm:///embed that cannot open here, without
         * /dev/kvm, took none). */
        proc_log(k->dir, "could not remove the snapshots kept by qv-vmm's driver: %s",
                 qv_last_error()->message);
        qv_reset_error();
    }
    return 0;
}
