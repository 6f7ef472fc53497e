/* Which host thread runs which vCPU (lib/qmp/qmp_vcpus.c, shared with
 * kvm:///session) and which devices QEMU reports. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/json.h"
#include "qemu_threads.h"

GHashTable *qemu_vcpu_threads(struct qemu_vm *q, struct qmp *m)
{
    return qmp_vcpu_threads(m, q->name, "QEMU", QEMU_QMP_TIMEOUT_MS);
}

int qemu_vcpu_thread(GHashTable *threads, uint32_t vcpu)
{
    return qmp_vcpu_thread(threads, vcpu);
}

GArray *qemu_vcpu_thread_list(struct qemu_vm *q, struct qmp *m, pid_t pid)
{
    return qmp_vcpu_thread_list(m, q->name, "QEMU", pid, QEMU_QMP_TIMEOUT_MS);
}

int qemu_process_cpus(struct qemu_vm *q, cpu_set_t *set)
{
    struct proc_runtime rt;
    int rc = proc_runtime_read(q->dir, &rt);
    if (rc == 0 && sched_getaffinity(rt.id.pid, sizeof(*set), set) < 0)
        rc = qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot read the CPU set of QEMU process %d",
                                (int)rt.id.pid);
    proc_runtime_clear(&rt);
    if (rc < 0)
        qv_error_prefix("cannot unpin the vCPUs of VM '%s'", q->name);
    return rc;
}

JsonObject *qemu_qdev_entry(JsonArray *a, const char *target)
{
    g_autofree char *exact = g_strdup_printf("/machine/peripheral/%s", target);
    g_autofree char *child = g_strdup_printf("/machine/peripheral/%s/", target);
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *qdev = qv_json_str(o, "qdev");
        /* A device QEMU found by its id reports just that (ide-hd "hda"). */
        if (qdev && (strcmp(qdev, exact) == 0 || g_str_has_prefix(qdev, child) ||
                     strcmp(qdev, target) == 0))
            return o;
    }
    return NULL;
}
