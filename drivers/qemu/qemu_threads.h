/* What a running QEMU reports about its vCPU threads and devices
 * (qemu_threads.c).
 * cpu_set_t needs _GNU_SOURCE before the first system header. */
#ifndef QV_QEMU_THREADS_H
#define QV_QEMU_THREADS_H

#include <sched.h>

#include "../../lib/qmp/qmp_vcpus.h"
#include "qemu_vm.h"

/* vCPU index + 1 -> host thread id of a running QEMU (query-cpus-fast);
 * NULL with QV_ERR_PROTOCOL when the reply is malformed. */
GHashTable *qemu_vcpu_threads(struct qemu_vm *q, struct qmp *m);
/* vCPU vcpu's thread id in such a table, 0 when it has none. */
int qemu_vcpu_thread(GHashTable *threads, uint32_t vcpu);
/* Every vCPU's thread (struct qmp_vcpu_tid), in vCPU order, each checked
 * to be a thread of QEMU process pid (QV_ERR_PROTOCOL naming it
 * otherwise); NULL on error. */
GArray *qemu_vcpu_thread_list(struct qemu_vm *q, struct qmp *m, pid_t pid);
/* The CPUs the VM's QEMU process may run on (its main thread's affinity,
 * which libqv never pins): what an unpinned vCPU thread gets. */
int qemu_process_cpus(struct qemu_vm *q, cpu_set_t *set);
/* The entry of a query-block or query-blockstats reply for disk target:
 * QEMU names its device /machine/peripheral/TARGET, or a child of it for
 * virtio-blk. Borrowed from a; NULL when there is none. */
JsonObject *qemu_qdev_entry(JsonArray *a, const char *target);

#endif
