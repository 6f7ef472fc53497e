/* The virtio balloon: <currentMemory> below <memory> is the balloon's
 * target, set once QEMU runs (before the guest does: the guest's driver
 * reads it when it loads) and changed live by vm_set_memory(). QEMU's
 * `balloon` command only sets the target; the guest gives the memory back
 * at its own pace, which query-balloon's "actual" follows. */
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"
#include "qemu_vm.h"

static uint64_t target_bytes(const struct qv_domain *def)
{
    uint64_t kib = def->current_memory_kib ? def->current_memory_kib : def->memory_kib;
    return kib * 1024;
}

static int set_target(struct qemu_vm *q, struct qmp *m, uint64_t bytes)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "value");
    json_builder_add_int_value(b, (gint64)bytes);
    json_builder_end_object(b);
    g_autoptr(JsonNode) args = json_builder_get_root(b);
    int rc = qmp_command(m, "balloon", args, NULL, QEMU_QMP_TIMEOUT_MS);
    if (rc < 0) {
        qv_error_prefix("cannot set the balloon of VM '%s' to %" G_GUINT64_FORMAT " MiB", q->name,
                        bytes >> 20);
        return rc;
    }
    proc_log(q->dir, "balloon target %" G_GUINT64_FORMAT " KiB", bytes / 1024);
    return 0;
}

int qemu_balloon_apply(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def)
{
    if (!def->current_memory_kib || def->current_memory_kib == def->memory_kib)
        return 0;
    return set_target(q, m, target_bytes(def));
}

int qemu_balloon_live(struct qemu_vm *q, const struct qv_domain *def)
{
    if (!qemu_has_balloon(def))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s' has no balloon (<memballoon model='none'/>): its memory "
                            "cannot change while it runs; stop it first",
                            q->name);
    struct qmp *m = qemu_vm_qmp(q, false);
    if (!m)
        return qv_error_code();
    int rc = set_target(q, m, target_bytes(def));
    qmp_close(m);
    return rc;
}
