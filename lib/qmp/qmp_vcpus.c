/* query-cpus-fast read into a vCPU -> thread table (qmp_vcpus.h). */
#include "qmp_vcpus.h"

#include <string.h>

#include "../util/error.h"
#include "../util/json.h"

/* Above what any QEMU accepts for -smp maxcpus. */
#define QMP_MAX_CPU_INDEX 8192

GHashTable *qmp_vcpu_threads(struct qmp *m, const char *vm, const char *peer, int timeout_ms)
{
    JsonNode *ret = NULL;
    if (qmp_command(m, "query-cpus-fast", NULL, &ret, timeout_ms) < 0) {
        qv_error_prefix("cannot list the vCPU threads of VM '%s'", vm);
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
        else if (idx < 0 || idx >= QMP_MAX_CPU_INDEX)
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
        qv_error_set(QV_ERR_PROTOCOL, "VM '%s': %s's query-cpus-fast reply is malformed: %s", vm,
                     peer, bad);
        return NULL;
    }
    return t;
}

int qmp_vcpu_thread(GHashTable *threads, uint32_t vcpu)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(threads, GINT_TO_POINTER(vcpu + 1)));
}

pid_t qmp_vcpu_tgid(int tid)
{
    /* /proc/PID/task/TID exists for any TID of PID's thread group, but
     * only the kernel's Tgid says which group a thread belongs to when PID
     * itself may be wrong. */
    g_autofree char *path = g_strdup_printf("/proc/%d/status", tid);
    g_autofree char *text = NULL;
    if (tid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    const char *line = strstr(text, "\nTgid:");
    if (!line)
        return 0;
    char *end;
    gint64 v = g_ascii_strtoll(line + 6, &end, 10);
    return v > 0 && v <= G_MAXINT32 && end != line + 6 ? (pid_t)v : 0;
}

GArray *qmp_vcpu_thread_list(struct qmp *m, const char *vm, const char *peer, pid_t pid,
                             int timeout_ms)
{
    GHashTable *threads = qmp_vcpu_threads(m, vm, peer, timeout_ms);
    if (!threads)
        return NULL;
    GArray *list = g_array_new(FALSE, FALSE, sizeof(struct qmp_vcpu_tid));
    /* In index order; the indices may have gaps (unplugged vCPUs). */
    for (guint idx = 0; list && list->len < g_hash_table_size(threads); idx++) {
        int tid = qmp_vcpu_thread(threads, idx);
        if (!tid)
            continue;
        if (qmp_vcpu_tgid(tid) != pid) {
            qv_error_set(QV_ERR_PROTOCOL,
                         "VM '%s': %s names thread %d for vCPU %u, which is not one of its "
                         "threads",
                         vm, peer, tid, idx);
            g_array_free(list, TRUE);
            list = NULL;
            break;
        }
        struct qmp_vcpu_tid e = {.vcpu = idx, .tid = tid};
        g_array_append_val(list, e);
    }
    g_hash_table_destroy(threads);
    return list;
}
