/* The small records a process-backed VM's directory keeps besides
 * runtime.json, shared by the qemu driver and kvm:///session: why it last
 * stopped (state.json) and its UUID, unique among the VMs of one kind. */
#include <string.h>

#include "../util/error.h"
#include "../util/fileio.h"
#include "../util/json.h"
#include "proc.h"

bool proc_identity_same(const struct proc_identity *a, const struct proc_identity *b)
{
    return a->pid == b->pid && a->start_time == b->start_time &&
           g_strcmp0(a->cmdline, b->cmdline) == 0;
}

int proc_stopped_write(const char *dir, enum vm_state_reason reason)
{
    g_autofree char *text = g_strdup_printf("{\"reason\": \"%s\"}\n", vm_state_reason_name(reason));
    g_autofree char *path = g_build_filename(dir, "state.json", NULL);
    return qv_file_write_atomic(path, text, strlen(text), 0600);
}

static enum vm_state_reason reason_from_name(const char *s)
{
    static const enum vm_state_reason all[] = {
        VM_REASON_USER, VM_REASON_SHUTDOWN, VM_REASON_CRASHED, VM_REASON_FAILED, VM_REASON_RESET};
    for (size_t i = 0; s && i < G_N_ELEMENTS(all); i++)
        if (strcmp(s, vm_state_reason_name(all[i])) == 0)
            return all[i];
    return VM_REASON_NONE;
}

void proc_stopped_read(const char *dir, enum vm_state *state, enum vm_state_reason *reason)
{
    g_autofree char *path = g_build_filename(dir, "state.json", NULL);
    g_autoptr(JsonNode) root = qv_json_load_state(path);
    *state = VM_STATE_CREATED;
    *reason = VM_REASON_NONE;
    if (!root && qv_error_code() == QV_ERR_NOT_FOUND) {
        qv_reset_error();
        return;
    }
    *state = VM_STATE_STOPPED;
    if (!root) { /* unreadable: stopped, for a reason no longer known */
        qv_reset_error();
        return;
    }
    if (JSON_NODE_HOLDS_OBJECT(root))
        *reason = reason_from_name(qv_json_str(json_node_get_object(root), "reason"));
}

char *proc_stored_uuid(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "domain.xml", NULL);
    g_autofree char *xml = NULL;
    size_t len;
    if (qv_file_read_state(path, QV_DEFINITION_MAX_BYTES, &xml, &len) < 0) {
        qv_reset_error(); /* unreadable: it holds no UUID we could clash with */
        return NULL;
    }
    const char *s = strstr(xml, "<uuid>");
    const char *e = s ? strstr(s, "</uuid>") : NULL;
    if (!e)
        return NULL;
    return g_strstrip(g_strndup(s + 6, e - s - 6));
}

int proc_uuid_check(const char *state_dir, const char *kind, const char *uuid, const char *name)
{
    if (!uuid || !*uuid)
        return 0;
    g_autofree char *kdir = g_build_filename(state_dir, kind, NULL);
    g_autoptr(GDir) d = g_dir_open(kdir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        if (e[0] == '.' || strcmp(e, name) == 0)
            continue;
        g_autofree char *dir = g_build_filename(kdir, e, NULL);
        g_autofree char *other = proc_stored_uuid(dir);
        if (other && g_ascii_strcasecmp(other, uuid) == 0)
            return qv_error_set(QV_ERR_EXISTS, "cannot define VM '%s': VM '%s' already has UUID %s",
                                name, e, uuid);
    }
    return 0;
}
