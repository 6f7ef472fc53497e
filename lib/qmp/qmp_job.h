/* QEMU's background jobs over QMP (job-id, query-jobs, JOB_STATUS_CHANGE,
 * job-dismiss): start one, follow it until it concludes, dismiss it. Used
 * by the qemu driver on QEMU and by kvm:///session on qv-vmm, which serves
 * the same job commands. */
#ifndef QV_QMP_JOB_H
#define QV_QMP_JOB_H

#include "qmp.h"

/* How often a waiting runner reports progress. */
#define QMP_JOB_TICK_MS 250
/* The limit for each query-jobs and job-dismiss around a job. */
#define QMP_JOB_CMD_TIMEOUT_MS 10000

struct qmp_job_progress {
    const char *id;
    const char *status; /* QEMU's JobStatus: "created", "running", ..., "concluded" */
    guint64 current, total;
    gint64 elapsed_ms;
};
typedef void (*qmp_job_progress_fn)(const struct qmp_job_progress *p, void *opaque);
/* A qmp_job_progress_fn for snapshot jobs: hands each report to the
 * snapshot progress callback of the struct vm * given as opaque. */
void qmp_job_snapshot_progress(const struct qmp_job_progress *p, void *vm);

/* Start a job of command type (args: its arguments but the job-id, which
 * is added) on the peer who ("QEMU", "qv-vmm": named in errors), wait
 * until it concludes, then dismiss it. fn (may be NULL) hears of it about
 * every QMP_JOB_TICK_MS and last when it concludes. A failed job gives
 * QV_ERR_BACKEND with the job's own error; one that has not concluded
 * within timeout_ms QV_ERR_TIMEOUT naming the job. */
int qmp_job_run(struct qmp *m, const char *who, const char *type, JsonObject *args, int timeout_ms,
                qmp_job_progress_fn fn, void *opaque);
/* Wait (at most timeout_ms) until no job qv started runs, dismissing the
 * concluded ones no caller will dismiss: a killed caller leaves its job
 * behind. A concluded job whose caller still runs (another process, or a
 * qmp_job_run of this one) is left to it. */
int qmp_job_settle(struct qmp *m, const char *who, int timeout_ms);

#endif
