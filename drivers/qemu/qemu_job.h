/* QEMU's background jobs (qemu_job.c) and the snapshot jobs of a running
 * VM (qemu_snapshot_job.c). */
#ifndef QV_QEMU_JOB_H
#define QV_QEMU_JOB_H

#include "qemu_vm.h"

/* How often a waiting runner reports progress. */
#define QEMU_JOB_TICK_MS 250

struct qemu_job_progress {
    const char *id;
    const char *status; /* QEMU's JobStatus: "created", "running", ..., "concluded" */
    guint64 current, total;
    gint64 elapsed_ms;
};
typedef void (*qemu_job_progress_fn)(const struct qemu_job_progress *p, void *opaque);

/* Start a job of command type (args: its arguments but the job-id, which
 * is added), wait until it concludes, then dismiss it. fn (may be NULL)
 * hears of it about every QEMU_JOB_TICK_MS and last when it concludes.
 * A failed job gives QV_ERR_BACKEND with the job's own error; one that has
 * not concluded within timeout_ms QV_ERR_TIMEOUT naming the job. */
int qemu_job_run(struct qmp *m, const char *type, JsonObject *args, int timeout_ms,
                 qemu_job_progress_fn fn, void *opaque);
/* Wait (at most timeout_ms) until no job qv started runs, dismissing the
 * concluded ones: a killed caller leaves its job behind. */
int qemu_job_settle(struct qmp *m, int timeout_ms);

/* The node names the running QEMU gives the snapshot disks of def (the
 * writable ones, in definition order; the first takes the VM state), read
 * from query-block by each disk's target: clones and live overlays may
 * rename them, so the definition's index is not trusted. */
int qemu_snapshot_nodes(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def,
                        GPtrArray *nodes);
/* Run QEMU's snapshot-save, snapshot-load or snapshot-delete (type) of tag
 * on nodes; progress goes to vm's caller (vm may be NULL: nobody). */
int qemu_snapshot_job(struct vm *vm, struct qmp *m, const char *type, const char *tag,
                      GPtrArray *nodes, int timeout_ms);
/* qemu_job_settle on q's QEMU if it runs: before the tags are read, a job
 * a killed caller started must have finished changing them. */
int qemu_snapshot_settle(struct qemu_vm *q, int timeout_ms);
/* How many of nodes hold a snapshot called tag (qcow2 allows several). */
int qemu_snapshot_tag_count(struct qmp *m, GPtrArray *nodes, const char *tag, guint *count);

#endif
