/* Which host thread runs which vCPU of a QMP peer (QEMU, qv-vmm), from
 * query-cpus-fast. Shared by the qemu driver and kvm:///session, which pin
 * those threads from outside the peer. The reply is peer input: a
 * malformed one is refused as a whole, never half-used.
 * cpu_set_t users need _GNU_SOURCE before the first system header. */
#ifndef QV_QMP_VCPUS_H
#define QV_QMP_VCPUS_H

#include <stdint.h>
#include <sys/types.h>

#include "qmp.h"

/* vCPU index + 1 -> host thread id of the VM behind m; NULL with the
 * error set (QV_ERR_PROTOCOL when the reply is malformed). vm and peer
 * ("QEMU", "qv-vmm") name the VM and the process in messages. */
GHashTable *qmp_vcpu_threads(struct qmp *m, const char *vm, const char *peer, int timeout_ms);
/* vCPU vcpu's thread id in such a table, 0 when it has none. */
int qmp_vcpu_thread(GHashTable *threads, uint32_t vcpu);

struct qmp_vcpu_tid {
    guint vcpu;
    int tid;
};
/* The thread group (process) thread tid belongs to, from its Tgid; 0 when
 * it is gone or unreadable. */
pid_t qmp_vcpu_tgid(int tid);
/* Every vCPU's thread, in vCPU order, each checked to be a thread of
 * process pid by its Tgid (QV_ERR_PROTOCOL naming it otherwise); NULL on
 * error. */
GArray *qmp_vcpu_thread_list(struct qmp *m, const char *vm, const char *peer, pid_t pid,
                             int timeout_ms);

#endif
