/* Which host thread runs which vCPU, from QMP query-cpus-fast. The reply is
 * peer input: a malformed one is refused as a whole, never half-used. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/json.h"
#include "qemu_threads.h"

/* Above what any QEMU accepts for -smp maxcpus. */
#define QEMU_MAX_CPU_INDEX 8192

GHashTable *qemu_vcpu_threads(struct qemu_vm *q, struct qmp *m)
{
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-cpus-fast", NULL, &ret, QEMU_QMP_TIMEOUT_MS) < 0) {
        qv_error_prefix("cannot list the vCPU threads of VM '%s'", q->name);
        return NULL;
    }
    GHashTable *t = g_hash_table_new(g_direct_hash, g_direct_equal);
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;
    const char *bad = a ? NULL : "the reply is not an array";
    for (guint i = 0; !bad && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        gint64 idx = qv_json_int(o, "cpu-index", -1);
        gint64 tid = qv_json_int(o, "thread-id", 0);
        if (!o)
            bad = "an entry is not an object";
        else if (idx < 0 || idx >= QEMU_MAX_CPU_INDEX)
            bad = "an entry has no valid cpu-index";
        else if (tid <= 0 || tid > G_MAXINT32)
            bad = "an entry has no valid thread-id";
        else if (g_hash_table_contains(t, GINT_TO_POINTER(idx + 1)))
            bad = "a cpu-index appears twice";
        else
            g_hash_table_insert(t, GINT_TO_POINTER(idx + 1), GINT_TO_POINTER((int)tid));
    }
    json_node_unref(ret);
    if (bad) {
        g_hash_table_destroy(t);
        qv_error_set(QV_ERR_PROTOCOL, "VM '%s': QEMU's query-cpus-fast reply is malformed: %s",
                     q->name, bad);
        return NULL;
    }
    return t;
}

int qemu_vcpu_thread(GHashTable *threads, uint32_t vcpu)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(threads, GINT_TO_POINTER(vcpu + 1)));
}

GArray *qemu_vcpu_thread_list(struct qemu_vm *q, struct qmp *m, pid_t pid)
{
    GHashTable *threads = qemu_vcpu_threads(q, m);
    if (!threads)
        return NULL;
    GArray *list = g_array_new(FALSE, FALSE, sizeof(struct qemu_vcpu_tid));
    /* In index order; the indices may have gaps (unplugged vCPUs). */
    for (guint idx = 0; list && list->len < g_hash_table_size(threads); idx++) {
        int tid = qemu_vcpu_thread(threads, idx);
        if (!tid)
            continue;
        g_autofree char *task = g_strdup_printf("/proc/%d/task/%d", (int)pid, tid);
        if (!g_file_test(task, G_FILE_TEST_IS_DIR)) {
            qv_error_set(QV_ERR_PROTOCOL,
                         "VM '%s': QEMU names thread %d for vCPU %u, which is not one of its "
                         "threads",
                         q->name, tid, idx);
            g_array_free(list, TRUE);
            list = NULL;
            break;
        }
        struct qemu_vcpu_tid e = {.vcpu = idx, .tid = tid};
        g_array_append_val(list, e);
    }
    g_hash_table_destroy(threads);
    return list;
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
