/* runtime.json: which process runs a VM, written atomically. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/error.h"
#include "../util/fileio.h"
#include "../util/json.h"
#include "cgroup.h"
#include "proc.h"

int proc_runtime_write(const char *dir, const struct proc_runtime *rt)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "pid");
    json_builder_add_int_value(b, rt->id.pid);
    json_builder_set_member_name(b, "start_time");
    json_builder_add_int_value(b, (gint64)rt->id.start_time);
    json_builder_set_member_name(b, "cmdline");
    json_builder_add_string_value(b, rt->id.cmdline ? rt->id.cmdline : "");
    if (rt->cgroup) {
        json_builder_set_member_name(b, "cgroup");
        json_builder_add_string_value(b, rt->cgroup);
    }
    if (rt->cgroups && rt->cgroups[0]) {
        json_builder_set_member_name(b, "cgroups");
        json_builder_begin_array(b);
        for (char **c = rt->cgroups; *c; c++)
            json_builder_add_string_value(b, *c);
        json_builder_end_array(b);
    }
    if (rt->extra) {
        json_builder_set_member_name(b, "extra");
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);
        json_node_set_object(n, rt->extra);
        json_builder_add_value(b, n);
    }
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, TRUE);
    g_autofree char *path = g_build_filename(dir, "runtime.json", NULL);
    return qv_file_write_atomic(path, text, strlen(text), 0600);
}

int proc_runtime_read(const char *dir, struct proc_runtime *rt)
{
    memset(rt, 0, sizeof(*rt));
    g_autofree char *path = g_build_filename(dir, "runtime.json", NULL);
    g_autoptr(JsonNode) root = qv_json_load_state(path);
    if (!root && qv_error_code() == QV_ERR_NOT_FOUND)
        return qv_error_set(QV_ERR_NOT_FOUND, "'%s' does not exist", path);
    if (!root)
        return qv_error_code();
    if (!JSON_NODE_HOLDS_OBJECT(root))
        return qv_error_set(QV_ERR_JSON, "'%s' is not a JSON object", path);
    JsonObject *o = json_node_get_object(root);
    JsonNode *pid = json_object_get_member(o, "pid");
    JsonNode *st = json_object_get_member(o, "start_time");
    JsonNode *cmd = json_object_get_member(o, "cmdline");
    if (!pid || !JSON_NODE_HOLDS_VALUE(pid) || json_node_get_value_type(pid) != G_TYPE_INT64 ||
        !st || !JSON_NODE_HOLDS_VALUE(st) || json_node_get_value_type(st) != G_TYPE_INT64 || !cmd ||
        !JSON_NODE_HOLDS_VALUE(cmd) || json_node_get_value_type(cmd) != G_TYPE_STRING)
        return qv_error_set(QV_ERR_JSON, "'%s' lacks pid, start_time or cmdline", path);
    gint64 p = json_node_get_int(pid);
    if (p <= 0 || p > G_MAXINT32)
        return qv_error_set(QV_ERR_JSON, "'%s': pid %" G_GINT64_FORMAT " is out of range", path, p);
    rt->id.pid = (pid_t)p;
    rt->id.start_time = (uint64_t)json_node_get_int(st);
    rt->id.cmdline = g_strdup(json_node_get_string(cmd));
    rt->cgroup = g_strdup(qv_json_str(o, "cgroup"));
    JsonNode *more = json_object_get_member(o, "cgroups");
    if (more && JSON_NODE_HOLDS_ARRAY(more)) {
        JsonArray *a = json_node_get_array(more);
        GPtrArray *list = g_ptr_array_new();
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *e = json_array_get_element(a, i);
            if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
                g_ptr_array_add(list, g_strdup(json_node_get_string(e)));
        }
        g_ptr_array_add(list, NULL);
        rt->cgroups = (char **)g_ptr_array_free(list, FALSE);
    }
    JsonNode *extra = json_object_get_member(o, "extra");
    if (extra && JSON_NODE_HOLDS_OBJECT(extra))
        rt->extra = json_object_ref(json_node_get_object(extra));
    return 0;
}

void proc_runtime_clear(struct proc_runtime *rt)
{
    proc_identity_clear(&rt->id);
    g_clear_pointer(&rt->cgroup, g_free);
    g_clear_pointer(&rt->cgroups, g_strfreev);
    g_clear_pointer(&rt->extra, json_object_unref);
}

int proc_runtime_remove(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "runtime.json", NULL);
    if (unlink(path) < 0 && errno != ENOENT)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot remove '%s'", path);
    return 0;
}

int proc_pidfile_read(const char *path, pid_t *pid)
{
    g_autofree char *text = NULL;
    size_t len = 0;
    /* Bounded, and a regular file only: a FIFO or /dev/zero put in its place
     * must not hang or exhaust the reader. */
    int rc = qv_file_read_text(path, 64, &text, &len);
    if (rc < 0) {
        qv_error_prefix("cannot read pidfile");
        return rc;
    }
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    while (*end == '\n' || *end == ' ')
        end++;
    if (errno || end == text || *end || v <= 0 || v > G_MAXINT32)
        return qv_error_set(QV_ERR_PROTOCOL, "pidfile '%s' does not hold a pid: '%.20s'", path,
                            text);
    *pid = (pid_t)v;
    return 0;
}

void proc_runtime_remove_cgroups(const struct proc_runtime *rt, const char *dir)
{
    if (rt->cgroup)
        proc_cgroup_remove(rt->cgroup, dir);
    for (char **c = rt->cgroups; c && *c; c++)
        proc_cgroup_remove(*c, dir);
}
