/* QEMU's background jobs (job-id, query-jobs, JOB_STATUS_CHANGE,
 * job-dismiss), run and waited for. Shared by the qemu driver (QEMU's
 * snapshot-save/-load/-delete) and kvm:///session (qv-vmm serves the same
 * jobs).
 *
 * QEMU 7.2 runs a snapshot job in one piece on its main loop: the reply to
 * the command that starts it, its events and any query-jobs come only once
 * it has finished, and its progress goes from 0 of 1 to 1 of 1. So while
 * the reply is awaited the runner only counts time, in slices, to report
 * elapsed seconds; what it reports otherwise is what QEMU says.
 *
 * Job ids are "qv-TYPE-PID-START-N": the process that started the job
 * (pid and start time, unique until reboot) and its counter. A caller
 * killed before job-dismiss leaves a concluded job behind; settling
 * dismisses such leftovers, but only those whose caller can no longer do
 * it: its process is gone, or it is this process and no qmp_job_run here
 * still follows that id (one that timed out). A concluded job of a live
 * caller is that caller's to read and dismiss: its error would be lost and
 * the caller would see its job vanish. A "qv-" id that does not parse
 * (libqv before this scheme) names no owner and counts as a leftover. */
#include <string.h>
#include <unistd.h>

#include "../api/driver.h"
#include "../proc/proc.h"
#include "../util/error.h"
#include "../util/json.h"
#include "qmp_job.h"

#define JOB_PREFIX "qv-"

static int remaining(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();
    return left <= 0 ? 0 : (int)((left + 999) / 1000);
}

/* Our job's entry in query-jobs, NULL when QEMU lists none of that id. */
static JsonObject *job_entry(JsonNode *jobs, const char *id)
{
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(jobs) ? json_node_get_array(jobs) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        if (o && g_strcmp0(qv_json_str(o, "id"), id) == 0)
            return o;
    }
    return NULL;
}

static int dismiss(struct qmp *m, const char *id)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    json_builder_end_object(b);
    g_autoptr(JsonNode) args = json_builder_get_root(b);
    return qmp_command(m, "job-dismiss", args, NULL, QMP_JOB_CMD_TIMEOUT_MS);
}

/* The ids the qmp_job_run calls of this process are following. */
static GMutex inflight_lock;
static GHashTable *inflight;

static void inflight_set(const char *id, bool on)
{
    g_mutex_lock(&inflight_lock);
    if (!inflight)
        inflight = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (on)
        g_hash_table_add(inflight, g_strdup(id));
    else
        g_hash_table_remove(inflight, id);
    g_mutex_unlock(&inflight_lock);
}

static bool inflight_has(const char *id)
{
    g_mutex_lock(&inflight_lock);
    bool has = inflight && g_hash_table_contains(inflight, id);
    g_mutex_unlock(&inflight_lock);
    return has;
}

/* This process's start time (/proc/self/stat), 0 when unreadable. */
static guint64 self_start(void)
{
    static gsize once;
    static guint64 start;
    if (g_once_init_enter(&once)) {
        struct proc_identity me;
        if (proc_identity_read(getpid(), &me) == 0)
            start = me.start_time;
        else
            qv_reset_error();
        proc_identity_clear(&me);
        g_once_init_leave(&once, 1);
    }
    return start;
}

/* The owner a job id names: its last three '-' fields, PID-START-N, all
 * decimal. False when id does not have them (the id comes from the peer). */
static bool id_owner(const char *id, struct proc_identity *owner)
{
    g_auto(GStrv) f = g_strsplit(id, "-", -1);
    guint n = g_strv_length(f);
    guint64 pid, start, seq;
    if (n < 5 || !g_ascii_string_to_unsigned(f[n - 3], 10, 1, G_MAXINT32, &pid, NULL) ||
        !g_ascii_string_to_unsigned(f[n - 2], 10, 0, G_MAXUINT64, &start, NULL) ||
        !g_ascii_string_to_unsigned(f[n - 1], 10, 0, G_MAXINT32, &seq, NULL))
        return false;
    *owner = (struct proc_identity){.pid = (pid_t)pid, .start_time = start};
    return true;
}

/* Whether settling may dismiss concluded job id (see the top). */
static bool is_leftover(const char *id)
{
    struct proc_identity owner;
    if (!id_owner(id, &owner))
        return true;
    if (owner.pid == getpid() && owner.start_time == self_start())
        return !inflight_has(id);
    return !proc_identity_running(&owner);
}

int qmp_job_settle(struct qmp *m, const char *who, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        /* While a snapshot job runs QEMU answers nothing: the reply to
         * query-jobs is itself the wait. */
        JsonNode *jobs = NULL;
        int rc = qmp_command(m, "query-jobs", NULL, &jobs, MAX(remaining(deadline), 1));
        if (rc < 0)
            return rc;
        JsonArray *a = JSON_NODE_HOLDS_ARRAY(jobs) ? json_node_get_array(jobs) : NULL;
        g_autofree char *busy = NULL;
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
            JsonNode *e = json_array_get_element(a, i);
            JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
            const char *id = qv_json_str(o, "id");
            if (!id || !g_str_has_prefix(id, JOB_PREFIX))
                continue;
            if (g_strcmp0(qv_json_str(o, "status"), "concluded") != 0) {
                g_free(busy);
                busy = g_strdup(id);
            } else if (is_leftover(id) && dismiss(m, id) < 0) {
                json_node_unref(jobs);
                return qv_error_code();
            }
        }
        json_node_unref(jobs);
        if (!busy)
            return 0;
        if (remaining(deadline) == 0)
            return qv_error_set(QV_ERR_TIMEOUT, "%s's job '%s' did not conclude within %d s", who,
                                busy, timeout_ms / 1000);
        g_usleep(100 * 1000);
    }
}

/* Follow the JOB_STATUS_CHANGE events of id that have been read so far. */
static void take_status_events(struct qmp *m, const char *id, char **status)
{
    JsonObject *ev;
    while ((ev = qmp_event_take(m, "JOB_STATUS_CHANGE"))) {
        JsonObject *data = qv_json_obj(ev, "data");
        const char *st = qv_json_str(data, "status");
        if (st && g_strcmp0(qv_json_str(data, "id"), id) == 0) {
            g_free(*status);
            *status = g_strdup(st);
        }
        json_object_unref(ev);
    }
}

struct job_state {
    const char *id;
    char *status;
    guint64 current, total;
    gint64 start_us;
    qmp_job_progress_fn fn;
    void *opaque;
};

static void report(struct job_state *s)
{
    if (!s->fn)
        return;
    struct qmp_job_progress p = {
        .id = s->id,
        .status = s->status,
        .current = s->current,
        .total = s->total,
        .elapsed_ms = (g_get_monotonic_time() - s->start_us) / 1000,
    };
    s->fn(&p, s->opaque);
}

int qmp_job_run(struct qmp *m, const char *who, const char *type, JsonObject *args, int timeout_ms,
                qmp_job_progress_fn fn, void *opaque)
{
    /* A concluded job of a killed caller would keep its id and error. */
    if (qmp_job_settle(m, who, QMP_JOB_CMD_TIMEOUT_MS) < 0)
        qv_reset_error();
    static gint counter;
    g_autofree char *id =
        g_strdup_printf(JOB_PREFIX "%s-%d-%" G_GUINT64_FORMAT "-%d", type, (int)getpid(),
                        self_start(), g_atomic_int_add(&counter, 1));
    /* Before it is sent: a settle elsewhere in this process keeps it. */
    inflight_set(id, true);
    g_autoptr(JsonObject) a = json_object_ref(args);
    json_object_set_string_member(a, "job-id", id);
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), a);
    struct job_state s = {.id = id,
                          .status = g_strdup("created"),
                          .start_us = g_get_monotonic_time(),
                          .fn = fn,
                          .opaque = opaque};
    gint64 deadline = s.start_us + (gint64)timeout_ms * 1000;
    g_autofree char *reply_id = NULL;
    int rc = qmp_send(m, type, node, &reply_id, timeout_ms);
    /* The reply comes once QEMU's main loop is free again (see the top). */
    while (rc == 0) {
        rc = qmp_reply_wait(m, type, reply_id, NULL, MIN(QMP_JOB_TICK_MS, remaining(deadline)));
        take_status_events(m, id, &s.status);
        if (rc != QV_ERR_TIMEOUT)
            break;
        if (remaining(deadline) == 0)
            goto timed_out;
        report(&s);
        rc = 0;
    }
    if (rc < 0)
        goto out;
    for (;;) {
        JsonNode *jobs = NULL;
        rc = qmp_command(m, "query-jobs", NULL, &jobs, QMP_JOB_CMD_TIMEOUT_MS);
        if (rc < 0)
            goto out;
        JsonObject *o = job_entry(jobs, id);
        if (!o) {
            json_node_unref(jobs);
            rc = qv_error_set(QV_ERR_PROTOCOL, "%s's %s job '%s' vanished before it concluded", who,
                              type, id);
            goto out;
        }
        g_free(s.status);
        s.status = g_strdup(qv_json_str(o, "status"));
        s.current = (guint64)MAX(qv_json_int(o, "current-progress", 0), 0);
        s.total = (guint64)MAX(qv_json_int(o, "total-progress", 0), 0);
        bool concluded = g_strcmp0(s.status, "concluded") == 0;
        g_autofree char *error = g_strdup(qv_json_str(o, "error"));
        json_node_unref(jobs);
        report(&s);
        if (concluded) {
            /* Read before the dismiss, which forgets the error. */
            rc = error ? qv_error_set(QV_ERR_BACKEND, "%s's %s job failed: %s", who, type, error)
                       : 0;
            if (dismiss(m, id) < 0 && rc == 0)
                rc = qv_error_code();
            goto out;
        }
        int left = remaining(deadline);
        if (left == 0)
            goto timed_out;
        JsonObject *ev = NULL;
        if (qmp_event_wait(m, "JOB_STATUS_CHANGE", MIN(QMP_JOB_TICK_MS, left), &ev) == 0)
            json_object_unref(ev);
        else if (qv_error_code() != QV_ERR_TIMEOUT) {
            rc = qv_error_code();
            goto out;
        }
        qv_reset_error();
    }
timed_out:
    /* Left to QEMU: the next run dismisses it once it concludes. */
    rc = qv_error_set(QV_ERR_TIMEOUT,
                      "%s's %s job '%s' did not conclude within %d s (last status: %s)", who, type,
                      id, timeout_ms / 1000, s.status);
out:
    inflight_set(id, false);
    g_free(s.status);
    return rc;
}

void qmp_job_snapshot_progress(const struct qmp_job_progress *p, void *vm)
{
    struct snapshot_progress sp = {.job = p->id,
                                   .status = p->status,
                                   .current = p->current,
                                   .total = p->total,
                                   .elapsed_ms = p->elapsed_ms};
    qv_snapshot_progress(vm, &sp);
}
