/* QEMU's snapshot jobs (qapi/migration.json snapshot-save, snapshot-load,
 * snapshot-delete; qapi/job.json query-jobs, job-dismiss and the
 * JOB_STATUS_CHANGE event) over the hosted VM's libqv snapshots.
 *
 * QEMU 7.2 creates each as a job with manual dismiss: created, running,
 * then waiting, pending and concluded once it is done (with "error" in
 * query-jobs when it failed), and null when dismissed. Progress goes from
 * 0 of 1 to 1 of 1. Unlike QEMU, which runs the job on its main loop and
 * so answers nothing meanwhile, the work runs here on a worker thread and
 * the loop keeps serving. The worker's handle is the same shared one as
 * v->vm (vm_lookup returns it), and snapshot_create/_restore/_delete hold
 * its lock for the whole operation: so while the job is active the loop
 * touches no VM handle. query-status answers from the state the VM had
 * when the job started, commands that would call libqv on the VM are
 * refused (vmm_qmp.c, uses_vm), query-jobs and the like read only
 * qv-vmm's own tables, and quit waits for the job.
 *
 * The snapshots live in the hosted driver's own state (kvm:///embed's
 * state directory, noop:///DIR), not in the disks: vmstate and devices,
 * which QEMU requires to say which qcow2 images hold them, are optional
 * here; given, devices must name all of this VM's writable disks (the
 * snapshot covers every one; a subset is refused, not ignored). */
#include <string.h>

#include "lib/util/json.h"
#include "vmm.h"

struct vmm_job {
    char *id, *type, *tag;
    char *status; /* QEMU's JobStatus */
    char *error;  /* set when the job concluded with an error */
    unsigned flags;
    struct vmm *v;
    struct vm *vm; /* the worker's reference: the same shared handle as v->vm */
    GThread *thread;
    enum vm_state before; /* the VM's state when the job started */
    int rc;
    char *rc_msg; /* the worker's libqv error */
    gint refs;    /* the job list's, and the worker's until job_done ran */
};

static void job_free(gpointer p)
{
    struct vmm_job *j = p;
    if (!g_atomic_int_dec_and_test(&j->refs))
        return;
    g_free(j->id);
    g_free(j->type);
    g_free(j->tag);
    g_free(j->status);
    g_free(j->error);
    g_free(j->rc_msg);
    g_free(j);
}

static GPtrArray *jobs_of(struct vmm *v)
{
    if (!v->jobs)
        v->jobs = g_ptr_array_new_with_free_func(job_free);
    return v->jobs;
}

static struct vmm_job *job_find(struct vmm *v, const char *id, guint *index)
{
    GPtrArray *a = jobs_of(v);
    for (guint i = 0; i < a->len; i++) {
        struct vmm_job *j = g_ptr_array_index(a, i);
        if (strcmp(j->id, id) == 0) {
            if (index)
                *index = i;
            return j;
        }
    }
    return NULL;
}

static void set_status(struct vmm_job *j, const char *status)
{
    g_free(j->status);
    j->status = g_strdup(status);
    JsonObject *d = json_object_new();
    json_object_set_string_member(d, "id", j->id);
    json_object_set_string_member(d, "status", status);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, d);
    vmm_event(j->v, "JOB_STATUS_CHANGE", n);
}

/* QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'. */
static bool id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0]))
        return false;
    for (const char *p = id + 1; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p))
            return false;
    return true;
}

/* Drop the oldest concluded jobs past VMM_JOBS_KEPT_CONCLUDED (vmm.h).
 * The list is in start order and one job runs at a time, so the first
 * concluded ones are the oldest; the newest, whose caller is most likely
 * still to read it, stay. */
static void prune_concluded(struct vmm *v)
{
    GPtrArray *a = jobs_of(v);
    guint concluded = 0;
    for (guint i = 0; i < a->len; i++)
        concluded += strcmp(((struct vmm_job *)g_ptr_array_index(a, i))->status, "concluded") == 0;
    for (guint i = 0; i < a->len && concluded > VMM_JOBS_KEPT_CONCLUDED;) {
        struct vmm_job *j = g_ptr_array_index(a, i);
        if (strcmp(j->status, "concluded") != 0) {
            i++;
            continue;
        }
        set_status(j, "null");
        g_ptr_array_remove_index(a, i);
        concluded--;
    }
}

/* ---- the worker ---- */

static gboolean job_done(gpointer data);

static gpointer worker(gpointer data)
{
    struct vmm_job *j = data;
    vmm_test_job_delay();
    if (strcmp(j->type, "snapshot-save") == 0)
        j->rc = snapshot_create(j->vm, j->tag, j->flags);
    else if (strcmp(j->type, "snapshot-load") == 0)
        j->rc = snapshot_restore(j->vm, j->tag);
    else
        j->rc = snapshot_delete(j->vm, j->tag);
    if (j->rc < 0)
        j->rc_msg = g_strdup(qv_last_error()->message);
    g_main_context_invoke(NULL, job_done, j);
    return NULL;
}

/* On the loop: the worker is done. */
static gboolean job_done(gpointer data)
{
    struct vmm_job *j = data;
    struct vmm *v = j->v;
    if (!j->thread) {
        job_free(j); /* vmm_jobs_free joined it already, and v is going */
        return G_SOURCE_REMOVE;
    }
    g_thread_join(j->thread);
    j->thread = NULL;
    vm_free(j->vm);
    j->vm = NULL;
    if (v->active == j)
        v->active = NULL;
    if (j->rc < 0)
        j->error = g_strdup(j->rc_msg && *j->rc_msg ? j->rc_msg : "unknown libqv error");
    if (v->stop_deferred) {
        /* The watcher saw the guest stop while the job held the VM: a
         * snapshot-load stops it for a moment. Only a guest still down
         * now has ended; otherwise watch it again. */
        v->stop_deferred = false;
        enum vm_state s = vm_get_state(v->vm);
        if (s != VM_STATE_RUNNING && s != VM_STATE_PAUSED)
            vmm_guest_stopped(v);
        else
            vmm_watch_rearm(v->watch);
    }
    if (strcmp(j->type, "snapshot-load") == 0 && j->rc == 0) {
        /* The guest is back in the state the snapshot captured: tell
         * the clients as QEMU's vm_stop/vm_start around a load do. */
        enum vm_state now = vm_get_state(v->vm);
        if (!v->started && (now == VM_STATE_RUNNING || now == VM_STATE_PAUSED))
            vmm_guest_started(v);
        if (j->before == VM_STATE_RUNNING && now != VM_STATE_RUNNING)
            vmm_event(v, "STOP", NULL);
        else if (j->before != VM_STATE_RUNNING && now == VM_STATE_RUNNING)
            vmm_event(v, "RESUME", NULL);
    }
    set_status(j, "waiting");
    set_status(j, "pending");
    set_status(j, "concluded");
    prune_concluded(v);
    job_free(j); /* the worker's reference */
    return G_SOURCE_REMOVE;
}

/* ---- the commands ---- */

static JsonNode *start_job(struct vmm *v, const char *type, JsonObject *args,
                           struct vmm_cmd_error *err)
{
    const char *id = json_object_get_string_member(args, "job-id");
    const char *tag = json_object_get_string_member(args, "tag");
    /* QEMU would queue a second snapshot job behind the first on its main
     * loop; the hosted driver takes one snapshot operation at a time. And
     * checking vmstate and devices reads the VM's definition, which the
     * running job's lock would make the loop wait for. */
    if (v->active)
        return vmm_cmd_fail(err, "GenericError",
                            "snapshot job '%s' is still running: wait until it concludes",
                            v->active->id);
    if (!id_wellformed(id))
        return vmm_cmd_fail(err, "GenericError", "Invalid job ID '%s'", id);
    if (job_find(v, id, NULL))
        return vmm_cmd_fail(err, "GenericError", "Job ID '%s' already in use", id);
    if (!*tag)
        return vmm_cmd_fail(err, "GenericError", "Parameter 'tag' must not be empty");
    const char *vmstate = qv_json_str(args, "vmstate");
    if (vmstate && !vmm_block_has_node(v, vmstate, "vmstate block device", err))
        return NULL;
    JsonArray *devices = json_object_has_member(args, "devices")
                             ? json_object_get_array_member(args, "devices")
                             : NULL;
    for (guint i = 0; devices && i < json_array_get_length(devices); i++) {
        JsonNode *e = json_array_get_element(devices, i);
        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
            return vmm_cmd_fail(err, "GenericError",
                                "Invalid parameter type for 'devices[%u]', expected: string", i);
        if (!vmm_block_has_node(v, json_node_get_string(e), "block device node", err))
            return NULL;
    }
    /* The hosted driver's snapshot always takes every disk: a subset
     * would be checked and then silently ignored. */
    if (devices && !vmm_block_all_nodes(v, devices, err))
        return NULL;
    unsigned flags = 0;
    if (qv_json_bool(args, "x-qv-incremental", FALSE))
        flags |= SNAPSHOT_INCREMENTAL;
    if (qv_json_bool(args, "x-qv-disk-only", FALSE))
        flags |= SNAPSHOT_DISK_ONLY;
    struct vm *h = vm_lookup(v->conn, vm_get_name(v->vm));
    if (!h)
        return vmm_cmd_fail_qv(err, "cannot start the job");
    struct vmm_job *j = g_new0(struct vmm_job, 1);
    j->id = g_strdup(id);
    j->type = g_strdup(type);
    j->tag = g_strdup(tag);
    j->flags = flags;
    j->v = v;
    j->vm = h;
    j->before = vm_get_state(v->vm);
    j->refs = 2; /* the list's and the worker's */
    g_ptr_array_add(jobs_of(v), j);
    set_status(j, "created");
    set_status(j, "running");
    v->active = j;
    j->thread = g_thread_new("vmm-job", worker, j);
    return vmm_empty_object();
}

JsonNode *vmm_snapshot_save(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                            vmm_after_fn *after)
{
    (void)after;
    return start_job(v, "snapshot-save", args, err);
}

JsonNode *vmm_snapshot_load(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                            vmm_after_fn *after)
{
    (void)after;
    return start_job(v, "snapshot-load", args, err);
}

JsonNode *vmm_snapshot_delete(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                              vmm_after_fn *after)
{
    (void)after;
    return start_job(v, "snapshot-delete", args, err);
}

JsonNode *vmm_query_jobs(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                         vmm_after_fn *after)
{
    (void)args, (void)err, (void)after;
    JsonArray *a = json_array_new();
    GPtrArray *jobs = jobs_of(v);
    for (guint i = 0; i < jobs->len; i++) {
        struct vmm_job *j = g_ptr_array_index(jobs, i);
        bool done = strcmp(j->status, "concluded") == 0;
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "id", j->id);
        json_object_set_string_member(o, "type", j->type);
        json_object_set_string_member(o, "status", j->status);
        json_object_set_int_member(o, "current-progress", done ? 1 : 0);
        json_object_set_int_member(o, "total-progress", 1);
        if (j->error)
            json_object_set_string_member(o, "error", j->error);
        json_array_add_object_element(a, o);
    }
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, a);
    return n;
}

JsonNode *vmm_job_dismiss(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                          vmm_after_fn *after)
{
    (void)after;
    const char *id = json_object_get_string_member(args, "id");
    guint index;
    struct vmm_job *j = job_find(v, id, &index);
    if (!j)
        return vmm_cmd_fail(err, "GenericError", "Job not found");
    if (strcmp(j->status, "concluded") != 0)
        return vmm_cmd_fail(err, "GenericError",
                            "Job '%s' in state '%s' cannot accept command verb 'dismiss'", id,
                            j->status);
    set_status(j, "null");
    g_ptr_array_remove_index(v->jobs, index);
    return vmm_empty_object();
}

JsonNode *vmm_query_snapshots(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                              vmm_after_fn *after)
{
    (void)args, (void)after;
    struct snapshot_info *list = NULL;
    size_t count = 0;
    if (snapshot_list(v->vm, &list, &count) < 0)
        return vmm_cmd_fail_qv(err, "cannot list the VM's snapshots");
    JsonArray *a = json_array_new();
    for (size_t i = 0; i < count; i++) {
        JsonObject *o = json_object_new();
        g_autofree char *sid = g_strdup_printf("%zu", i + 1);
        json_object_set_string_member(o, "id", sid);
        json_object_set_string_member(o, "name", list[i].name);
        json_object_set_int_member(o, "vm-state-size", (gint64)list[i].size);
        json_object_set_int_member(o, "date-sec", list[i].created);
        json_object_set_int_member(o, "date-nsec", 0);
        json_object_set_int_member(o, "vm-clock-sec", 0);
        json_object_set_int_member(o, "vm-clock-nsec", 0);
        json_object_set_string_member(o, "x-qv-state", vm_state_name(list[i].state));
        json_array_add_object_element(a, o);
    }
    snapshot_info_free(list, count);
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, a);
    return n;
}

enum vm_state vmm_job_state_before(struct vmm *v)
{
    return v->active ? v->active->before : VM_STATE_CREATED;
}

const char *vmm_job_id(struct vmm *v)
{
    return v->active ? v->active->id : "";
}

void vmm_jobs_free(struct vmm *v)
{
    if (!v->jobs)
        return;
    for (guint i = 0; i < v->jobs->len; i++) {
        struct vmm_job *j = g_ptr_array_index(v->jobs, i);
        if (j->thread) {
            /* Let the snapshot operation finish: cut short, it would
             * leave only its hidden stage, but waiting is cleaner. */
            g_thread_join(j->thread);
            j->thread = NULL;
            vm_free(j->vm);
            j->vm = NULL;
        }
    }
    v->active = NULL;
    /* A job_done already queued (should anything run the loop again)
     * finds no thread and only drops the worker's reference. */
    g_ptr_array_free(v->jobs, TRUE);
    v->jobs = NULL;
}
