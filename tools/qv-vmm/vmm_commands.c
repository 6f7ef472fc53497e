/* The QMP command table: each command mapped onto libqv's public API, with
 * QEMU's reply shapes (the qapi schema files) and events. A command that cannot be
 * carried out answers GenericError with libqv's own message. */
#define _GNU_SOURCE /* unshare, for the test hook */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

JsonNode *vmm_empty_object(void)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, json_object_new());
    return n;
}

static JsonNode *obj_node(JsonObject *o)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    return n;
}

JsonNode *vmm_cmd_fail(struct vmm_cmd_error *err, const char *cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_free(err->desc);
    err->desc = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    err->cls = cls;
    return NULL;
}

JsonNode *vmm_cmd_fail_qv(struct vmm_cmd_error *err, const char *what)
{
    const struct qv_error *e = qv_last_error();
    const char *msg = e && e->message && *e->message ? e->message : "unknown libqv error";
    return vmm_cmd_fail(err, "GenericError", "%s: %s", what, msg);
}

/* ---- argument checks ---- */

static const char *type_name(char t)
{
    switch (t) {
    case 'i': return "integer";
    case 's': return "string";
    case 'b': return "boolean";
    case 'a': return "array";
    default: return "value";
    }
}

static bool has_type(JsonNode *n, char t)
{
    if (t == 'a')
        return JSON_NODE_HOLDS_ARRAY(n);
    if (!JSON_NODE_HOLDS_VALUE(n))
        return false;
    GType g = json_node_get_value_type(n);
    switch (t) {
    case 'i': return g == G_TYPE_INT64;
    case 's': return g == G_TYPE_STRING;
    case 'b': return g == G_TYPE_BOOLEAN;
    default: return false;
    }
}

/* spec "?name:t" -> name, type, optional. */
static void split_spec(const char *spec, char *name, size_t size, char *type, bool *optional)
{
    *optional = spec[0] == '?';
    if (*optional)
        spec++;
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    g_strlcpy(name, spec, MIN(size, n + 1));
    *type = colon ? colon[1] : 0;
}

bool vmm_cmd_check_args(const struct vmm_cmd *cmd, JsonObject *args, struct vmm_cmd_error *err)
{
    g_autoptr(GList) members = json_object_get_members(args);
    for (GList *l = members; l; l = l->next) {
        const char *k = l->data;
        bool known = false;
        for (const char *const *s = cmd->args; s && *s && !known; s++) {
            char name[64], type;
            bool opt;
            split_spec(*s, name, sizeof(name), &type, &opt);
            if (strcmp(name, k) != 0)
                continue;
            known = true;
            if (!has_type(json_object_get_member(args, k), type)) {
                vmm_cmd_fail(err, "GenericError", "Invalid parameter type for '%s', expected: %s",
                             k, type_name(type));
                return false;
            }
        }
        if (!known) {
            vmm_cmd_fail(err, "GenericError", "Parameter '%s' is unexpected", k);
            return false;
        }
    }
    for (const char *const *s = cmd->args; s && *s; s++) {
        char name[64], type;
        bool opt;
        split_spec(*s, name, sizeof(name), &type, &opt);
        if (!opt && !json_object_has_member(args, name)) {
            vmm_cmd_fail(err, "GenericError", "Parameter '%s' is missing", name);
            return false;
        }
    }
    return true;
}

/* ---- run state ---- */

/* QEMU's RunState for a libqv state. */
static const char *run_state(struct vmm *v, enum vm_state s)
{
    switch (s) {
    /* Not started yet (--paused): also a VM the driver kept stopped from
     * an earlier run (noop:///DIR). */
    case VM_STATE_CREATED:
    case VM_STATE_STOPPED:
        if (!v->started)
            return "prelaunch";
        break;
    case VM_STATE_RUNNING: return "running";
    case VM_STATE_PAUSED: return "paused";
    case VM_STATE_MIGRATING: return "inmigrate";
    case VM_STATE_DESTROYED: break;
    }
    return "shutdown";
}

static JsonNode *cmd_capabilities(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                  vmm_after_fn *after)
{
    (void)v;
    (void)after;
    JsonArray *en = json_object_has_member(args, "enable")
                        ? json_object_get_array_member(args, "enable")
                        : NULL;
    /* The greeting offers none (no "oob"). */
    for (guint i = 0; en && i < json_array_get_length(en); i++) {
        JsonNode *e = json_array_get_element(en, i);
        if (!has_type(e, 's'))
            return vmm_cmd_fail(err, "GenericError",
                                "Invalid parameter type for 'enable[%u]', expected: string", i);
        return vmm_cmd_fail(err, "GenericError", "Capability '%s' not available",
                            json_node_get_string(e));
    }
    return vmm_empty_object();
}

static JsonNode *cmd_query_status(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                  vmm_after_fn *after)
{
    (void)args;
    (void)after;
    struct vm_info info = {0};
    if (v->active)
        /* The job's libqv call holds the VM's lock: answer with the state
         * the VM had when the job started, so a client's polls go on. */
        info.state = vmm_job_state_before(v);
    else if (vm_get_info(v->vm, &info) < 0)
        return vmm_cmd_fail_qv(err, "cannot read the VM's state");
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "status", run_state(v, info.state));
    json_object_set_boolean_member(o, "singlestep", FALSE);
    json_object_set_boolean_member(o, "running", info.state == VM_STATE_RUNNING);
    return obj_node(o);
}

static JsonNode *cmd_stop(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                          vmm_after_fn *after)
{
    (void)args;
    (void)after;
    /* QEMU's stop of a VM that does not run changes nothing and succeeds. */
    if (vm_get_state(v->vm) != VM_STATE_RUNNING)
        return vmm_empty_object();
    if (vm_pause(v->vm) < 0)
        return vmm_cmd_fail_qv(err, "cannot pause the VM");
    /* Before the reply, as QEMU: the VM is stopped when stop returns. */
    vmm_event(v, "STOP", NULL);
    return vmm_empty_object();
}

static JsonNode *cmd_cont(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                          vmm_after_fn *after)
{
    (void)args;
    (void)after;
    enum vm_state s = vm_get_state(v->vm);
    if (s == VM_STATE_RUNNING)
        return vmm_empty_object();
    if ((s == VM_STATE_CREATED || s == VM_STATE_STOPPED) && !v->started) {
        /* --paused: the first cont starts the guest, as after QEMU's -S,
         * or with --restore resumes it from the snapshot (-loadvm). */
        if (v->restore) {
            if (vmm_restore_guest(v, v->restore) < 0)
                return vmm_cmd_fail_qv(err, "cannot restore the VM from its snapshot");
            if (vm_get_state(v->vm) != VM_STATE_RUNNING)
                return vmm_empty_object(); /* captured paused: no RESUME */
        } else if (vmm_start_guest(v) < 0) {
            return vmm_cmd_fail_qv(err, "cannot start the VM");
        }
    } else if (s == VM_STATE_PAUSED) {
        if (vm_resume(v->vm) < 0)
            return vmm_cmd_fail_qv(err, "cannot resume the VM");
        /* A button pressed while paused reaches the guest now that it
         * runs again, as QEMU's ACPI event waits for a paused guest. */
        if (v->powerdown_deferred) {
            v->powerdown_deferred = false;
            if (vmm_watch_powerdown(v->watch) < 0) {
                v->powerdown_pending = false;
                fprintf(stderr, "qv-vmm: system_powerdown: %s\n", qv_last_error()->message);
            }
        }
    } else {
        return vmm_cmd_fail(err, "GenericError",
                            "cannot resume the VM: it is %s; its guest has shut down",
                            vm_state_name(s));
    }
    vmm_event(v, "RESUME", NULL);
    return vmm_empty_object();
}

static void after_reset(struct vmm *v)
{
    JsonObject *d = json_object_new();
    json_object_set_boolean_member(d, "guest", FALSE);
    json_object_set_string_member(d, "reason", "host-qmp-system-reset");
    vmm_event(v, "RESET", obj_node(d));
}

static JsonNode *cmd_system_reset(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                  vmm_after_fn *after)
{
    (void)args;
    if (vm_reset(v->vm) < 0)
        return vmm_cmd_fail_qv(err, "cannot reset the VM");
    *after = after_reset;
    return vmm_empty_object();
}

static void after_powerdown(struct vmm *v)
{
    vmm_event(v, "POWERDOWN", NULL);
}

static JsonNode *cmd_system_powerdown(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                      vmm_after_fn *after)
{
    (void)args;
    enum vm_state s = vm_get_state(v->vm);
    if (s != VM_STATE_RUNNING && s != VM_STATE_PAUSED)
        return vmm_cmd_fail(err, "GenericError", "cannot power the VM down: it is %s",
                            v->started ? vm_state_name(s) : "not started (prelaunch)");
    /* Pressing the button again while the guest shuts down is harmless. */
    if (!v->powerdown_pending) {
        if (s == VM_STATE_PAUSED) {
            /* A paused guest cannot see the button: libqv's graceful stop
             * would force it off at once. QEMU delivers the press and the
             * VM stays paused; the guest acts on it after 'cont'. */
            v->powerdown_deferred = true;
        } else if (vmm_watch_powerdown(v->watch) < 0) {
            return vmm_cmd_fail_qv(err, "cannot power the VM down");
        }
    }
    v->powerdown_pending = true;
    *after = after_powerdown;
    return vmm_empty_object();
}

static void after_quit(struct vmm *v)
{
    JsonObject *d = json_object_new();
    json_object_set_boolean_member(d, "guest", FALSE);
    json_object_set_string_member(d, "reason", "host-qmp-quit");
    vmm_event(v, "SHUTDOWN", obj_node(d));
    vmm_exit(v, VMM_EXIT_OK);
}

static JsonNode *cmd_quit(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                          vmm_after_fn *after)
{
    (void)v;
    (void)args;
    (void)err;
    *after = after_quit;
    return vmm_empty_object();
}

static JsonNode *cmd_query_version(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                   vmm_after_fn *after)
{
    (void)v;
    (void)args;
    (void)err;
    (void)after;
    /* The same object as the greeting's, as QEMU gives. */
    return obj_node(vmm_qmp_version());
}

static JsonNode *cmd_query_commands(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                    vmm_after_fn *after)
{
    (void)v;
    (void)args;
    (void)err;
    (void)after;
    JsonArray *a = json_array_new();
    for (const struct vmm_cmd *c = vmm_cmd_table(); c->name; c++) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", c->name);
        json_array_add_object_element(a, o);
    }
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, a);
    return n;
}

/* The thread running vCPU i: the kvm driver names its vCPU threads
 * "qv-vcpuN". A driver without vCPU threads (noop) runs its vCPUs, if at
 * all, on the calling thread: the main thread is reported. */
static gint64 vcpu_thread(guint i)
{
    char want[32];
    snprintf(want, sizeof(want), "qv-vcpu%u", i);
    gint64 tid = getpid();
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return tid;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        g_autofree char *path = g_strdup_printf("/proc/self/task/%s/comm", e->d_name);
        g_autofree char *comm = NULL;
        if (!g_file_get_contents(path, &comm, NULL, NULL))
            continue;
        g_strchomp(comm);
        if (strcmp(comm, want) == 0) {
            tid = g_ascii_strtoll(e->d_name, NULL, 10);
            break;
        }
    }
    closedir(d);
    return tid;
}

static JsonNode *cmd_query_cpus_fast(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                     vmm_after_fn *after)
{
    (void)args;
    (void)after;
    struct vm_info info;
    if (vm_get_info(v->vm, &info) < 0)
        return vmm_cmd_fail_qv(err, "cannot read the VM's vCPUs");
    JsonArray *a = json_array_new();
    bool live = info.state == VM_STATE_RUNNING || info.state == VM_STATE_PAUSED;
    for (guint i = 0; live && i < info.vcpus; i++) {
        JsonObject *props = json_object_new();
        json_object_set_int_member(props, "core-id", 0);
        json_object_set_int_member(props, "thread-id", 0);
        json_object_set_int_member(props, "socket-id", i);
        JsonObject *o = json_object_new();
        json_object_set_int_member(o, "cpu-index", i);
        g_autofree char *qom = g_strdup_printf("/machine/unattached/device[%u]", i);
        json_object_set_string_member(o, "qom-path", qom);
        json_object_set_int_member(o, "thread-id", vcpu_thread(i));
        json_object_set_object_member(o, "props", props);
        json_object_set_string_member(o, "target", "x86_64");
        json_array_add_object_element(a, o);
    }
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, a);
    return n;
}

static void add_chardev(JsonArray *a, const char *label, const char *filename, bool open)
{
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "label", label);
    json_object_set_string_member(o, "filename", filename);
    json_object_set_boolean_member(o, "frontend-open", open);
    json_array_add_object_element(a, o);
}

static JsonNode *cmd_query_chardev(struct vmm *v, JsonObject *args, struct vmm_cmd_error *err,
                                   vmm_after_fn *after)
{
    (void)args;
    (void)err;
    (void)after;
    JsonArray *a = json_array_new();
    /* serial0 as QEMU names the first serial port ("pty:/dev/pts/N"). */
    const char *ep = vmm_console_endpoint(v->console);
    if (ep)
        add_chardev(a, "serial0", ep, true);
    g_autofree char *qmp = g_strdup_printf("unix:%s/qmp.sock,server=on", v->dir);
    add_chardev(a, "qmp", qmp, true);
    if (ep) {
        g_autofree char *con = g_strdup_printf("unix:%s/console.sock,server=on", v->dir);
        add_chardev(a, "console", con, false);
    }
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, a);
    return n;
}

#if QV_VMM_TEST_HOOKS
/* qv-vmm-test only (tests/integration/vmm): a system call outside the
 * seccomp list, so a test can see the filter kill the process.
 * unshare(CLONE_NEWUSER) is refused in every build, sanitized ones
 * included (they allow ptrace for LeakSanitizer). */
static JsonNode *cmd_test_forbidden_syscall(struct vmm *v, JsonObject *args,
                                            struct vmm_cmd_error *err, vmm_after_fn *after)
{
    (void)v;
    (void)args;
    (void)after;
    fprintf(stderr, "qv-vmm: x-qv-test-forbidden-syscall: calling unshare(CLONE_NEWUSER)\n");
    if (unshare(CLONE_NEWUSER) < 0)
        return vmm_cmd_fail(err, "GenericError", "unshare(CLONE_NEWUSER) failed: %s",
                            g_strerror(errno));
    return vmm_cmd_fail(err, "GenericError", "unshare(CLONE_NEWUSER) was allowed: no sandbox");
}
#endif

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct vmm_cmd table[] = {
    {"qmp_capabilities", ARGS("?enable:a"), cmd_capabilities, false},
    {"query-status", NULL, cmd_query_status, false},
    {"stop", NULL, cmd_stop, true},
    {"cont", NULL, cmd_cont, true},
    {"system_powerdown", NULL, cmd_system_powerdown, true},
    {"system_reset", NULL, cmd_system_reset, true},
    {"quit", NULL, cmd_quit, false},
    {"query-cpus-fast", NULL, cmd_query_cpus_fast, true},
    {"query-chardev", NULL, cmd_query_chardev, false},
    {"query-block", NULL, vmm_query_block, true},
    {"block_set_io_throttle",
     ARGS("?device:s", "?id:s", "bps:i", "bps_rd:i", "bps_wr:i", "iops:i", "iops_rd:i", "iops_wr:i",
          "?bps_max:i", "?bps_rd_max:i", "?bps_wr_max:i", "?iops_max:i", "?iops_rd_max:i",
          "?iops_wr_max:i", "?bps_max_length:i", "?bps_rd_max_length:i", "?bps_wr_max_length:i",
          "?iops_max_length:i", "?iops_rd_max_length:i", "?iops_wr_max_length:i", "?iops_size:i",
          "?group:s"),
     vmm_block_set_io_throttle, true},
    /* qapi/migration.json, qapi/job.json (vmm_jobs.c). vmstate and
     * devices are optional here (see there); x-qv-incremental takes an
     * increment over the previous snapshot (SNAPSHOT_INCREMENTAL),
     * x-qv-disk-only no memory or registers (SNAPSHOT_DISK_ONLY). */
    {"snapshot-save",
     ARGS("job-id:s", "tag:s", "?vmstate:s", "?devices:a", "?x-qv-incremental:b",
          "?x-qv-disk-only:b"),
     vmm_snapshot_save, false},
    {"snapshot-load", ARGS("job-id:s", "tag:s", "?vmstate:s", "?devices:a"), vmm_snapshot_load,
     false},
    {"snapshot-delete", ARGS("job-id:s", "tag:s", "?devices:a"), vmm_snapshot_delete, false},
    {"query-jobs", NULL, vmm_query_jobs, false},
    {"job-dismiss", ARGS("id:s"), vmm_job_dismiss, false},
    {"x-qv-query-snapshots", NULL, vmm_query_snapshots, true},
    {"query-version", NULL, cmd_query_version, false},
    {"query-commands", NULL, cmd_query_commands, false},
#if QV_VMM_TEST_HOOKS
    {"x-qv-test-forbidden-syscall", NULL, cmd_test_forbidden_syscall, false},
    {"x-qv-test-open", ARGS("path:s", "?mode:s"), vmm_test_open, false},
    {"x-qv-test-rename", ARGS("from:s", "to:s"), vmm_test_rename, false},
    {"x-qv-test-connect", ARGS("?path:s", "?port:i"), vmm_test_connect, false},
#endif
    {NULL, NULL, NULL, false},
};

const struct vmm_cmd *vmm_cmd_table(void)
{
    return table;
}

const struct vmm_cmd *vmm_cmd_find(const char *name)
{
    for (const struct vmm_cmd *c = table; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}
