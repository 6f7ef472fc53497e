/* vm_get_stats(): the core reports what every driver knows from the state
 * and the definition; a driver's slot adds what only a running VM has. */
#include <string.h>

#include "../conf/domain.h"
#include "../util/error.h"
#include "internal.h"
#include "stats.h"
#include "trace.h"

static void stat_clear(gpointer p)
{
    struct vm_stat *s = p;
    g_free(s->key);
    g_free(s->string_value);
}

GArray *qv_stats_new(void)
{
    GArray *a = g_array_new(FALSE, TRUE, sizeof(struct vm_stat));
    g_array_set_clear_func(a, stat_clear);
    return a;
}

/* The entry for key (taking ownership of key), new at the end or the
 * existing one emptied. */
static struct vm_stat *slot_for(GArray *stats, char *key)
{
    for (guint i = 0; i < stats->len; i++) {
        struct vm_stat *s = &g_array_index(stats, struct vm_stat, i);
        if (strcmp(s->key, key) == 0) {
            g_free(key);
            g_clear_pointer(&s->string_value, g_free);
            return s;
        }
    }
    struct vm_stat add = {.key = key};
    g_array_append_val(stats, add);
    return &g_array_index(stats, struct vm_stat, stats->len - 1);
}

void qv_stats_uint(GArray *stats, uint64_t value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct vm_stat *s = slot_for(stats, g_strdup_vprintf(fmt, ap));
    va_end(ap);
    s->type = VM_STAT_UINT;
    s->uint_value = value;
}

void qv_stats_str(GArray *stats, const char *value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct vm_stat *s = slot_for(stats, g_strdup_vprintf(fmt, ap));
    va_end(ap);
    s->type = VM_STAT_STRING;
    s->uint_value = 0;
    s->string_value = g_strdup(value ? value : "");
}

uint64_t qv_stats_get_uint(GArray *stats, const char *key, uint64_t dflt)
{
    for (guint i = 0; i < stats->len; i++) {
        struct vm_stat *s = &g_array_index(stats, struct vm_stat, i);
        if (strcmp(s->key, key) == 0 && s->type == VM_STAT_UINT)
            return s->uint_value;
    }
    return dflt;
}

/* virsh domstats prints its groups in this order; within a group the
 * order in which the driver set the keys stays. */
static int group_rank(const char *key)
{
    static const char *const order[] = {"state.", "cpu.", "balloon.", "vcpu.", "net.", "block."};
    for (size_t i = 0; i < G_N_ELEMENTS(order); i++)
        if (g_str_has_prefix(key, order[i]))
            return (int)i;
    return (int)G_N_ELEMENTS(order);
}

static struct vm_stat *take_sorted(GArray *stats, size_t *count)
{
    struct vm_stat *out = g_new0(struct vm_stat, stats->len + 1);
    size_t n = 0;
    for (int rank = 0; rank <= 6; rank++)
        for (guint i = 0; i < stats->len; i++) {
            struct vm_stat *s = &g_array_index(stats, struct vm_stat, i);
            if (group_rank(s->key) == rank)
                out[n++] = *s;
        }
    /* The members moved to out. */
    g_array_set_clear_func(stats, NULL);
    g_array_free(stats, TRUE);
    *count = n;
    return out;
}

int vm_get_stats(struct vm *vm, struct vm_stat **stats, size_t *count)
{
    QV_API_VM(vm);
    if (!stats || !count)
        return qv_error_set(QV_ERR_INVALID_ARG, "vm_get_stats: %s is NULL",
                            stats ? "count" : "stats");
    *stats = NULL;
    *count = 0;
    struct qv_vm_status st;
    int rc = qv_vm_enter(vm, QV_OP_WAIT, &st);
    if (rc < 0)
        return rc;
    const struct qv_driver *drv = vm->conn->driver;
    if (!drv->vm_get_stats) {
        rc = qv_unsupported(vm->conn, "vm_get_stats");
        qv_vm_leave(vm);
        return rc;
    }
    g_autoptr(qv_domain) def = drv->vm_get_def(vm);
    if (!def) {
        qv_vm_leave(vm);
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    }
    GArray *a = qv_stats_new();
    qv_stats_uint(a, st.state, "state.state");
    qv_stats_uint(a, st.reason, "state.reason");
    uint64_t cur = def->current_memory_kib ? def->current_memory_kib : def->memory_kib;
    qv_stats_uint(a, cur, "balloon.current");
    qv_stats_uint(a, def->memory_kib, "balloon.maximum");
    qv_stats_uint(a, def->vcpus, "vcpu.current");
    qv_stats_uint(a, def->max_vcpus, "vcpu.maximum");
    if (st.state == VM_STATE_RUNNING || st.state == VM_STATE_PAUSED)
        rc = drv->vm_get_stats(vm, def, a);
    qv_vm_leave(vm);
    if (rc < 0) {
        g_array_free(a, TRUE);
        return rc;
    }
    *stats = take_sorted(a, count);
    return 0;
}

int vm_get_live_settings(struct vm *vm, struct vm_stat **settings, size_t *count)
{
    QV_API_VM(vm);
    if (!settings || !count)
        return qv_error_set(QV_ERR_INVALID_ARG, "vm_get_live_settings: %s is NULL",
                            settings ? "count" : "settings");
    *settings = NULL;
    *count = 0;
    struct qv_vm_status st;
    int rc = qv_vm_enter(vm, QV_OP_WAIT, &st);
    if (rc < 0)
        return rc;
    const struct qv_driver *drv = vm->conn->driver;
    g_autoptr(qv_domain) def = NULL;
    if (!drv->vm_get_live)
        rc = qv_unsupported(vm->conn, "vm_get_live_settings");
    else if (st.state != VM_STATE_RUNNING && st.state != VM_STATE_PAUSED)
        rc = qv_error_set(QV_ERR_INVALID_STATE,
                          "VM '%s' is %s: only its definition applies, nothing is in force",
                          vm->name, vm_state_name(st.state));
    else if (!(def = drv->vm_get_def(vm)))
        rc = qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    GArray *a = qv_stats_new();
    if (rc == 0)
        rc = drv->vm_get_live(vm, def, a);
    qv_vm_leave(vm);
    if (rc < 0) {
        g_array_free(a, TRUE);
        return rc;
    }
    *settings = take_sorted(a, count);
    return 0;
}

void vm_stats_free(struct vm_stat *stats, size_t count)
{
    if (!stats)
        return;
    for (size_t i = 0; i < count; i++)
        stat_clear(&stats[i]);
    g_free(stats);
}
