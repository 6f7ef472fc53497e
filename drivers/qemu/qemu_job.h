/* QEMU's background jobs (lib/qmp/qmp_job.c) and the snapshot jobs of a
 * running VM (qemu_snapshot_job.c). */
#ifndef QV_QEMU_JOB_H
#define QV_QEMU_JOB_H

#include "../../lib/qmp/qmp_job.h"
#include "qemu_vm.h"

/* QEMU's jobs run through lib/qmp/qmp_job.h, errors naming QEMU. */
#define QEMU_JOB_TICK_MS QMP_JOB_TICK_MS
#define qemu_job_progress qmp_job_progress
#define qemu_job_progress_fn qmp_job_progress_fn
#define qemu_job_run(m, type, args, timeout_ms, fn, opaque)                                        \
    qmp_job_run((m), "QEMU", (type), (args), (timeout_ms), (fn), (opaque))
#define qemu_job_settle(m, timeout_ms) qmp_job_settle((m), "QEMU", (timeout_ms))

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
