/* Public VM entry points: validate, lock, check the transition table,
 * dispatch to the driver. None of this knows which driver it talks to. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "../conf/conf_check.h"
#include "../conf/domain.h"
#include "../util/error.h"
#include "../util/names.h"
#include "internal.h"
#include "trace.h"

#define DRV(vm) ((vm)->conn->driver)

int qv_unsupported(const struct qv_conn *conn, const char *op)
{
    return qv_error_set(QV_ERR_UNSUPPORTED, "%s is not supported by the %s driver", op,
                        conn->driver->name);
}

/* Take a destroyed VM's handle out of the table, so that its name leads to
 * a new VM (and a new handle) from now on. Called with vm->lock held. */
static void handle_forget(struct vm *vm)
{
    g_atomic_int_set(&vm->destroyed, 1);
    g_rec_mutex_lock(&vm->conn->lock);
    if (g_hash_table_lookup(vm->conn->vms, vm->name) == vm)
        g_hash_table_remove(vm->conn->vms, vm->name);
    g_rec_mutex_unlock(&vm->conn->lock);
}

static int status_of(struct vm *vm, struct qv_vm_status *st)
{
    st->reason = VM_REASON_NONE;
    st->exit_status = -1;
    if (g_atomic_int_get(&vm->destroyed)) {
        st->state = VM_STATE_DESTROYED;
        return 0;
    }
    if (!DRV(vm)->vm_get_status)
        return qv_unsupported(vm->conn, "vm_get_state");
    int rc = DRV(vm)->vm_get_status(vm, st);
    if (rc == QV_ERR_NOT_FOUND) {
        /* Removed behind our back (another process destroyed it). */
        st->state = VM_STATE_DESTROYED;
        handle_forget(vm);
        return 0;
    }
    return rc;
}

int qv_vm_enter(struct vm *vm, enum qv_op op, struct qv_vm_status *st)
{
    qv_reset_error();
    if (!vm)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM handle is NULL");
    g_rec_mutex_lock(&vm->lock);
    struct qv_vm_status local;
    if (!st)
        st = &local;
    int rc = status_of(vm, st);
    if (rc == 0)
        rc = qv_op_check(op, st->state, vm->name);
    if (rc < 0)
        g_rec_mutex_unlock(&vm->lock);
    return rc;
}

void qv_vm_leave(struct vm *vm)
{
    g_rec_mutex_unlock(&vm->lock);
}

/* The one handle per VM per connection, so every caller in the process
 * serialises on the same lock. Takes ownership of priv. */
static struct vm *handle_alloc(struct qv_conn *conn, const char *name, void *priv)
{
    struct vm *vm = g_new0(struct vm, 1);
    vm->refs = 1;
    vm->conn = conn;
    qv_conn_ref(conn);
    vm->name = g_strdup(name);
    vm->priv = priv;
    g_rec_mutex_init(&vm->lock);
    return vm;
}

static struct vm *handle_new(struct qv_conn *conn, const char *name, void *priv)
{
    struct vm *vm = handle_alloc(conn, name, priv);
    g_rec_mutex_lock(&conn->lock);
    g_hash_table_replace(conn->vms, vm->name, vm);
    g_rec_mutex_unlock(&conn->lock);
    return vm;
}

static void handle_free(struct vm *vm)
{
    if (DRV(vm)->vm_release)
        DRV(vm)->vm_release(vm);
    g_rec_mutex_clear(&vm->lock);
    struct qv_conn *conn = vm->conn;
    g_free(vm->name);
    g_free(vm);
    qv_conn_unref(conn);
}

static void handle_unref(struct vm *vm)
{
    struct qv_conn *conn = vm->conn;
    g_rec_mutex_lock(&conn->lock);
    if (!g_atomic_int_dec_and_test(&vm->refs)) {
        g_rec_mutex_unlock(&conn->lock);
        return;
    }
    if (g_hash_table_lookup(conn->vms, vm->name) == vm)
        g_hash_table_remove(conn->vms, vm->name);
    g_rec_mutex_unlock(&conn->lock);
    handle_free(vm);
}

struct vm *vm_ref(struct vm *vm)
{
    if (vm)
        g_atomic_int_inc(&vm->refs);
    return vm;
}

void vm_free(struct vm *vm)
{
    QV_API_VM(vm);
    if (vm)
        handle_unref(vm);
}

/* Validate, fill defaults, let the driver define, wrap in a handle. */
static struct vm *define_def(struct qv_conn *conn, struct qv_domain *def)
{
    if (!conn->driver->vm_define) {
        qv_unsupported(conn, "defining VMs");
        return NULL;
    }
    qv_domain_fill_defaults(def);
    if (qv_domain_validate(def) < 0)
        return NULL;
    qv_trace_set_vm(def->name);
    void *priv = NULL;
    if (conn->driver->vm_define(conn, def, &priv) < 0)
        return NULL;
    return handle_new(conn, def->name, priv);
}

struct vm *vm_create_on(struct qv_conn *conn, const char *name, uint32_t max_vcpus,
                        uint64_t ram_size)
{
    QV_API("VM '%s'", name ? name : "(NULL)");
    if (!conn) {
        qv_error_set(QV_ERR_INVALID_ARG, "connection is NULL");
        return NULL;
    }
    if (!qv_name_check(name, "VM"))
        return NULL;
    if (max_vcpus == 0) {
        qv_error_set(QV_ERR_INVALID_ARG, "cannot create VM '%s': it needs at least one vCPU",
                     name);
        return NULL;
    }
    if (ram_size == 0 || ram_size % 4096) {
        qv_error_set(QV_ERR_INVALID_ARG,
                     "cannot create VM '%s': RAM size %" G_GUINT64_FORMAT
                     " is not a non-zero multiple of 4096 bytes",
                     name, ram_size);
        return NULL;
    }
    g_autoptr(qv_domain) def = qv_domain_new();
    def->type = conn->driver->domain_type;
    def->name = g_strdup(name);
    def->vcpus = def->max_vcpus = max_vcpus;
    def->memory_kib = ram_size / 1024;
    return define_def(conn, def);
}

struct vm *vm_create(const char *name, uint32_t max_vcpus, uint64_t ram_size)
{
    QV_API("VM '%s'", name ? name : "(NULL)");
    struct qv_conn *conn = qv_default_conn();
    if (!conn)
        return NULL;
    return vm_create_on(conn, name, max_vcpus, ram_size);
}

/* Both formats parse into one struct, then take the same path. */
static struct vm *define_text(struct qv_conn *conn, const char *text, const char *func,
                              const char *what, struct qv_domain *(*parse)(const char *))
{
    if (!conn || !text) {
        qv_error_set(QV_ERR_INVALID_ARG, "%s: %s is NULL", func, conn ? what : "conn");
        return NULL;
    }
    g_autoptr(qv_domain) def = parse(text);
    return def ? define_def(conn, def) : NULL;
}

struct vm *vm_define_xml(struct qv_conn *conn, const char *xml)
{
    QV_API("%s", "(VM not yet known)");
    return define_text(conn, xml, __func__, "xml", qv_domain_parse_user_xml);
}

struct vm *vm_define_json(struct qv_conn *conn, const char *json)
{
    QV_API("%s", "(VM not yet known)");
    return define_text(conn, json, __func__, "json", qv_domain_parse_json);
}

struct vm *qv_vm_define_own_xml(struct qv_conn *conn, const char *xml)
{
    QV_API("%s", "(VM not yet known)");
    return define_text(conn, xml, __func__, "xml", qv_domain_parse_xml);
}

struct vm *vm_lookup(struct qv_conn *conn, const char *name)
{
    QV_API("VM '%s'", name ? name : "(NULL)");
    if (!conn) {
        qv_error_set(QV_ERR_INVALID_ARG, "connection is NULL");
        return NULL;
    }
    if (!qv_name_check(name, "VM"))
        return NULL;
    g_rec_mutex_lock(&conn->lock);
    struct vm *vm = g_hash_table_lookup(conn->vms, name);
    if (vm)
        g_atomic_int_inc(&vm->refs);
    g_rec_mutex_unlock(&conn->lock);
    if (vm)
        return vm;
    if (!conn->driver->vm_lookup) {
        qv_unsupported(conn, "vm_lookup");
        return NULL;
    }
    void *priv = NULL;
    if (conn->driver->vm_lookup(conn, name, &priv) < 0)
        return NULL;
    /* Another thread may have looked it up meanwhile; keep the first. The
     * check and the insertion are one critical section, or two threads
     * could both insert and the VM would get two handles (two locks). */
    g_rec_mutex_lock(&conn->lock);
    vm = g_hash_table_lookup(conn->vms, name);
    if (vm) {
        g_atomic_int_inc(&vm->refs);
    } else {
        vm = handle_alloc(conn, name, priv);
        g_hash_table_insert(conn->vms, vm->name, vm);
        priv = NULL;
    }
    g_rec_mutex_unlock(&conn->lock);
    if (priv) {
        struct vm tmp = { .conn = conn, .priv = priv };
        if (conn->driver->vm_release)
            conn->driver->vm_release(&tmp);
    }
    return vm;
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int vm_list(struct qv_conn *conn, char ***names, size_t *count)
{
    QV_API("URI '%s'", conn ? conn->uri_str : "(NULL)");
    if (!conn || !names)
        return qv_error_set(QV_ERR_INVALID_ARG, "vm_list: %s is NULL", conn ? "names" : "conn");
    if (!conn->driver->vm_list)
        return qv_unsupported(conn, "vm_list");
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    int rc = conn->driver->vm_list(conn, out);
    if (rc < 0) {
        g_ptr_array_free(out, TRUE);
        return rc;
    }
    g_ptr_array_sort(out, cmp_str);
    if (count)
        *count = out->len;
    g_ptr_array_set_free_func(out, NULL);
    g_ptr_array_add(out, NULL);
    *names = (char **)g_ptr_array_free(out, FALSE);
    return 0;
}

const char *vm_get_name(struct vm *vm)
{
    return vm ? vm->name : NULL;
}

struct qv_conn *vm_get_conn(struct vm *vm)
{
    return vm ? vm->conn : NULL;
}

/* The definition, for callers that hold the VM lock. */
static struct qv_domain *get_def(struct vm *vm)
{
    if (!DRV(vm)->vm_get_def) {
        qv_unsupported(vm->conn, "reading the definition");
        return NULL;
    }
    return DRV(vm)->vm_get_def(vm);
}

static char *format_def(struct vm *vm, char *(*fmt)(const struct qv_domain *))
{
    if (qv_vm_enter(vm, QV_OP_WAIT, NULL) < 0)
        return NULL;
    g_autoptr(qv_domain) def = get_def(vm);
    qv_vm_leave(vm);
    return def ? fmt(def) : NULL;
}

char *vm_get_xml(struct vm *vm)
{
    QV_API_VM(vm);
    return format_def(vm, qv_domain_format_xml);
}

char *vm_get_json(struct vm *vm)
{
    QV_API_VM(vm);
    return format_def(vm, qv_domain_format_json);
}

enum vm_state vm_get_state(struct vm *vm)
{
    QV_API_VM(vm);
    if (!vm) {
        qv_error_set(QV_ERR_INVALID_ARG, "VM handle is NULL");
        return VM_STATE_DESTROYED;
    }
    struct qv_vm_status st;
    g_rec_mutex_lock(&vm->lock);
    int rc = status_of(vm, &st);
    g_rec_mutex_unlock(&vm->lock);
    return rc < 0 ? VM_STATE_DESTROYED : st.state;
}

int vm_get_info(struct vm *vm, struct vm_info *info)
{
    QV_API_VM(vm);
    struct qv_vm_status st;
    if (!info) {
        return qv_error_set(QV_ERR_INVALID_ARG, "vm_get_info: info is NULL");
    }
    int rc = qv_vm_enter(vm, QV_OP_WAIT, &st);
    if (rc < 0)
        return rc;
    g_autoptr(qv_domain) def = get_def(vm);
    qv_vm_leave(vm);
    if (!def)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    memset(info, 0, sizeof(*info));
    info->state = st.state;
    info->reason = st.reason;
    info->exit_status = st.exit_status;
    info->vcpus = def->vcpus;
    info->max_vcpus = def->max_vcpus;
    info->max_memory = def->memory_kib * 1024;
    info->memory = (def->current_memory_kib ? def->current_memory_kib : def->memory_kib) * 1024;
    g_strlcpy(info->uuid, def->uuid, sizeof(info->uuid));
    return 0;
}

/* ---- Lifecycle ---- */

static int simple_op(struct vm *vm, enum qv_op op, int (*slot)(struct vm *), const char *what)
{
    int rc = qv_vm_enter(vm, op, NULL);
    if (rc < 0)
        return rc;
    rc = slot ? slot(vm) : qv_unsupported(vm->conn, what);
    qv_vm_leave(vm);
    return rc;
}

int vm_start(struct vm *vm)
{
    QV_API_VM(vm);
    return simple_op(vm, QV_OP_START, vm ? DRV(vm)->vm_start : NULL, "vm_start");
}

int vm_pause(struct vm *vm)
{
    QV_API_VM(vm);
    return simple_op(vm, QV_OP_PAUSE, vm ? DRV(vm)->vm_pause : NULL, "vm_pause");
}

int vm_resume(struct vm *vm)
{
    QV_API_VM(vm);
    return simple_op(vm, QV_OP_RESUME, vm ? DRV(vm)->vm_resume : NULL, "vm_resume");
}

int vm_reset(struct vm *vm)
{
    QV_API_VM(vm);
    return simple_op(vm, QV_OP_RESET, vm ? DRV(vm)->vm_reset : NULL, "vm_reset");
}

int vm_stop_flags(struct vm *vm, unsigned flags, int timeout_ms)
{
    QV_API_VM(vm);
    int rc = qv_vm_enter(vm, QV_OP_STOP, NULL);
    if (rc < 0)
        return rc;
    if (flags & ~VM_STOP_FORCE)
        rc = qv_error_set(QV_ERR_INVALID_ARG, "vm_stop_flags: unknown flags 0x%x",
                          flags & ~VM_STOP_FORCE);
    else if (!DRV(vm)->vm_stop)
        rc = qv_unsupported(vm->conn, "vm_stop");
    else
        rc = DRV(vm)->vm_stop(vm, flags, timeout_ms);
    qv_vm_leave(vm);
    return rc;
}

int vm_stop(struct vm *vm)
{
    QV_API_VM(vm);
    return vm_stop_flags(vm, 0, -1);
}

void vm_destroy(struct vm *vm)
{
    QV_API_VM(vm);
    if (!vm)
        return;
    int entered = qv_vm_enter(vm, QV_OP_DESTROY, NULL);
    if (entered == QV_ERR_JSON || entered == QV_ERR_XML || entered == QV_ERR_IO) {
        /* The VM's files are damaged, so its state is unknown; removing
         * them is exactly what the caller asks for, and the driver checks
         * again under its own lock. */
        g_rec_mutex_lock(&vm->lock);
        qv_reset_error();
        entered = 0;
    }
    if (entered == 0) {
        int rc = DRV(vm)->vm_destroy ? DRV(vm)->vm_destroy(vm)
                                     : qv_unsupported(vm->conn, "vm_destroy");
        if (rc == 0)
            handle_forget(vm); /* a new VM may now take the name */
        qv_vm_leave(vm);
    }
    /* The caller's reference goes whatever happened; keep the error. */
    handle_unref(vm);
}

int vm_wait(struct vm *vm, int timeout_ms)
{
    QV_API_VM(vm);
    int rc = qv_vm_enter(vm, QV_OP_WAIT, NULL);
    if (rc < 0)
        return rc;
    int (*slot)(struct vm *, int) = DRV(vm)->vm_wait;
    qv_vm_leave(vm);
    if (!slot)
        return qv_unsupported(vm->conn, "vm_wait");
    return slot(vm, timeout_ms);
}

struct vm *vm_clone(struct vm *vm, const char *new_name)
{
    QV_API_VM(vm);
    if (qv_vm_enter(vm, QV_OP_CLONE, NULL) < 0)
        return NULL;
    struct vm *out = NULL;
    g_autoptr(qv_domain) def = NULL;
    if (!qv_name_check(new_name, "VM"))
        goto out;
    /* Before any driver lock: the clone's would be the source's own. */
    if (strcmp(new_name, vm->name) == 0) {
        qv_error_set(QV_ERR_EXISTS, "cannot clone VM '%s' onto its own name", vm->name);
        goto out;
    }
    if (!DRV(vm)->vm_clone) {
        qv_unsupported(vm->conn, "vm_clone");
        goto out;
    }
    def = get_def(vm);
    if (!def)
        goto out;
    g_free(def->name);
    def->name = g_strdup(new_name);
    qv_domain_regenerate_ids(def);
    if (qv_domain_validate(def) < 0)
        goto out;
    void *priv = NULL;
    if (DRV(vm)->vm_clone(vm, def, &priv) == 0)
        out = handle_new(vm->conn, new_name, priv);
out:
    qv_vm_leave(vm);
    return out;
}

/* ---- Settings ---- */

/* Called with the VM entered for QV_OP_SET. */
static int set_entered(struct vm *vm, const struct qv_setting *set)
{
    return DRV(vm)->vm_set ? DRV(vm)->vm_set(vm, set)
                           : qv_unsupported(vm->conn, "changing settings");
}

static int apply_setting(struct vm *vm, const struct qv_setting *set)
{
    int rc = qv_vm_enter(vm, QV_OP_SET, NULL);
    if (rc < 0)
        return rc;
    rc = set_entered(vm, set);
    qv_vm_leave(vm);
    return rc;
}

int vm_set_cpu_pin(struct vm *vm, uint32_t vcpu, int pcpu)
{
    QV_API_VM(vm);
    if (pcpu >= CPU_SETSIZE)
        return qv_error_set(QV_ERR_INVALID_ARG, "host CPU %d is out of range (0-%d)", pcpu,
                            CPU_SETSIZE - 1);
    struct qv_setting s = { .kind = QV_SET_CPU_PIN, .vcpu = vcpu, .pcpu = pcpu < 0 ? -1 : pcpu };
    return apply_setting(vm, &s);
}

/* Pin vCPU i to cpus[i % n] for every vCPU, or unpin every vCPU when n is
 * 0. One state check for all pins: entering again per vCPU would ask the
 * driver for the state each time (a QMP round trip for qemu). */
static int pin_all(struct vm *vm, const int *cpus, int n)
{
    int rc = qv_vm_enter(vm, QV_OP_SET, NULL);
    if (rc < 0)
        return rc;
    g_autoptr(qv_domain) def = get_def(vm);
    if (!def)
        rc = qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    for (uint32_t i = 0; def && rc == 0 && i < def->max_vcpus; i++) {
        struct qv_setting s = {.kind = QV_SET_CPU_PIN, .vcpu = i, .pcpu = n ? cpus[i % n] : -1};
        rc = set_entered(vm, &s);
    }
    qv_vm_leave(vm);
    return rc;
}

int vm_set_cpu_pin_auto(struct vm *vm)
{
    QV_API_VM(vm);
    return pin_all(vm, NULL, 0);
}

int vm_set_cpu_pin_spread(struct vm *vm)
{
    QV_API_VM(vm);
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot read this process's CPU set");
    int cpus[CPU_SETSIZE], n = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed))
            cpus[n++] = c;
    if (n == 0)
        return qv_error_set(QV_ERR_SYSTEM, "this process may run on no CPU");
    return pin_all(vm, cpus, n);
}

int vm_get_cpu_pin(struct vm *vm, uint32_t vcpu, int *pcpu)
{
    QV_API_VM(vm);
    if (!pcpu)
        return qv_error_set(QV_ERR_INVALID_ARG, "vm_get_cpu_pin: pcpu is NULL");
    int rc = qv_vm_enter(vm, QV_OP_WAIT, NULL);
    if (rc < 0)
        return rc;
    g_autoptr(qv_domain) def = get_def(vm);
    qv_vm_leave(vm);
    if (!def)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    if (vcpu >= def->max_vcpus)
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no vCPU %u (it has %u)", vm->name,
                            vcpu, def->max_vcpus);
    *pcpu = -1;
    for (guint i = 0; i < def->cputune.pins->len; i++) {
        struct qv_vcpupin *p = &g_array_index(def->cputune.pins, struct qv_vcpupin, i);
        if (p->vcpu == vcpu)
            *pcpu = p->pcpu;
    }
    return 0;
}

int vm_set_cpu_weight(struct vm *vm, uint32_t weight)
{
    QV_API_VM(vm);
    const char *why = qv_conf_rule_cpu_weight(weight);
    if (why)
        return qv_error_set(QV_ERR_INVALID_ARG, "CPU weight %u %s", weight, why);
    struct qv_setting s = { .kind = QV_SET_CPU_WEIGHT, .value = weight };
    return apply_setting(vm, &s);
}

int vm_set_cpu_cap(struct vm *vm, uint32_t percent)
{
    QV_API_VM(vm);
    const char *why = qv_conf_rule_cpu_cap(percent);
    if (why)
        return qv_error_set(QV_ERR_INVALID_ARG, "CPU cap %u%% %s", percent, why);
    struct qv_setting s = { .kind = QV_SET_CPU_CAP, .value = percent };
    return apply_setting(vm, &s);
}

int vm_set_vcpus(struct vm *vm, uint32_t vcpus)
{
    QV_API_VM(vm);
    if (vcpus == 0)
        return qv_error_set(QV_ERR_INVALID_ARG, "a VM needs at least one vCPU");
    struct qv_setting s = { .kind = QV_SET_VCPUS, .value = vcpus };
    return apply_setting(vm, &s);
}

int vm_set_memory(struct vm *vm, uint64_t bytes)
{
    QV_API_VM(vm);
    if (bytes < 1024 * 1024)
        return qv_error_set(QV_ERR_INVALID_ARG, "memory of %" G_GUINT64_FORMAT
                            " bytes is too small (at least 1 MiB)", bytes);
    struct qv_setting s = { .kind = QV_SET_MEMORY, .value = bytes };
    return apply_setting(vm, &s);
}

int vm_set_cloud_init(struct vm *vm, const char *user_data, const char *meta_data,
                      const char *network_config)
{
    QV_API_VM(vm);
    if (!user_data && (meta_data || network_config))
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "cloud-init meta-data or network-config without user-data");
    struct qv_cloud_init ci = {(char *)user_data, (char *)meta_data, (char *)network_config};
    if (user_data && qv_conf_check_cloud_init(&ci, vm->name) < 0)
        return qv_error_code();
    struct qv_setting s = {.kind = QV_SET_CLOUD_INIT, .cloud_init = user_data ? &ci : NULL};
    return apply_setting(vm, &s);
}

int vm_set_io_limit(struct vm *vm, const char *disk, uint64_t bytes_per_sec, uint64_t iops)
{
    QV_API_VM(vm);
    struct qv_setting s = {
        .kind = QV_SET_IO_LIMIT, .target = disk, .value = bytes_per_sec, .value2 = iops
    };
    return apply_setting(vm, &s);
}

int vm_set_net_limit(struct vm *vm, const char *mac, uint64_t bits_per_sec)
{
    QV_API_VM(vm);
    struct qv_setting s = { .kind = QV_SET_NET_LIMIT, .target = mac, .value = bits_per_sec };
    return apply_setting(vm, &s);
}

static int device_op(struct vm *vm, const char *xml, bool attach)
{
    if (!xml)
        return qv_error_set(QV_ERR_INVALID_ARG, "device XML is NULL");
    struct qv_disk *disk = NULL;
    struct qv_net *net = NULL;
    struct qv_hostdev *hostdev = NULL;
    int rc = qv_domain_parse_device_xml(xml, &disk, &net, &hostdev);
    if (rc < 0)
        return rc;
    struct qv_setting s = { .disk = disk, .net = net, .hostdev = hostdev };
    if (disk)
        s.kind = attach ? QV_SET_ATTACH_DISK : QV_SET_DETACH_DISK;
    else if (net)
        s.kind = attach ? QV_SET_ATTACH_NET : QV_SET_DETACH_NET;
    else
        s.kind = attach ? QV_SET_ATTACH_HOSTDEV : QV_SET_DETACH_HOSTDEV;
    rc = apply_setting(vm, &s);
    qv_disk_free(disk);
    qv_net_free(net);
    qv_hostdev_free(hostdev);
    return rc;
}

int vm_attach_device(struct vm *vm, const char *device_xml)
{
    QV_API_VM(vm);
    return device_op(vm, device_xml, true);
}

int vm_detach_device(struct vm *vm, const char *device_xml)
{
    QV_API_VM(vm);
    return device_op(vm, device_xml, false);
}

/* ---- Guest access and memory ---- */

char *vm_console_endpoint(struct vm *vm)
{
    QV_API_VM(vm);
    if (qv_vm_enter(vm, QV_OP_CONSOLE, NULL) < 0)
        return NULL;
    char *out = DRV(vm)->vm_console_endpoint ? DRV(vm)->vm_console_endpoint(vm) : NULL;
    if (!DRV(vm)->vm_console_endpoint)
        qv_unsupported(vm->conn, "vm_console_endpoint");
    qv_vm_leave(vm);
    return out;
}

int vm_console_log(struct vm *vm, char **path, uint64_t *start)
{
    QV_API_VM(vm);
    if (!path || !start)
        return qv_error_set(QV_ERR_INVALID_ARG, "vm_console_log: %s is NULL",
                            path ? "start" : "path");
    *path = NULL;
    *start = 0;
    int rc = qv_vm_enter(vm, QV_OP_CONSOLE, NULL);
    if (rc < 0)
        return rc;
    rc = DRV(vm)->vm_console_log ? DRV(vm)->vm_console_log(vm, path, start)
                                 : qv_unsupported(vm->conn, "vm_console_log");
    qv_vm_leave(vm);
    return rc;
}

int vm_guest_ip(struct vm *vm, char **ip, int *port)
{
    QV_API_VM(vm);
    if (!ip || !port)
        return qv_error_set(QV_ERR_INVALID_ARG, "vm_guest_ip: %s is NULL", ip ? "port" : "ip");
    int rc = qv_vm_enter(vm, QV_OP_GUEST_IP, NULL);
    if (rc < 0)
        return rc;
    rc = DRV(vm)->vm_guest_ip ? DRV(vm)->vm_guest_ip(vm, ip, port)
                              : qv_unsupported(vm->conn, "vm_guest_ip");
    qv_vm_leave(vm);
    return rc;
}

int vm_add_memory_region(struct vm *vm, uint64_t gpa_base, uint64_t size, uint32_t flags)
{
    QV_API_VM(vm);
    int rc = qv_vm_enter(vm, QV_OP_MEMORY, NULL);
    if (rc < 0)
        return rc;
    if (size == 0 || gpa_base % 4096 || size % 4096)
        rc = qv_error_set(QV_ERR_INVALID_ARG,
                          "memory region at 0x%" G_GINT64_MODIFIER "x of 0x%" G_GINT64_MODIFIER
                          "x bytes: base and size must be non-zero multiples of 4096",
                          gpa_base, size);
    else if (gpa_base + size < gpa_base)
        rc = qv_error_set(QV_ERR_INVALID_ARG, "memory region wraps around the address space");
    else if (flags & ~(VM_MEM_READ | VM_MEM_WRITE | VM_MEM_EXEC))
        rc = qv_error_set(QV_ERR_INVALID_ARG, "unknown memory region flags 0x%x", flags);
    else
        rc = DRV(vm)->vm_add_memory_region
                 ? DRV(vm)->vm_add_memory_region(vm, gpa_base, size, flags)
                 : qv_unsupported(vm->conn, "vm_add_memory_region");
    qv_vm_leave(vm);
    return rc;
}

void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa)
{
    QV_API_VM(vm);
    if (qv_vm_enter(vm, QV_OP_MEMORY, NULL) < 0)
        return NULL;
    void *p = NULL;
    if (DRV(vm)->vm_gpa_to_hva)
        p = DRV(vm)->vm_gpa_to_hva(vm, gpa);
    else
        qv_unsupported(vm->conn, "vm_gpa_to_hva");
    qv_vm_leave(vm);
    return p;
}

static int memory_rw(struct vm *vm, uint64_t gpa, void *buf, size_t len, bool write)
{
    int rc = qv_vm_enter(vm, QV_OP_MEMORY, NULL);
    if (rc < 0)
        return rc;
    if (!buf && len)
        rc = qv_error_set(QV_ERR_INVALID_ARG, "buffer is NULL");
    else if (gpa + len < gpa)
        rc = qv_error_set(QV_ERR_OUT_OF_RANGE, "guest range wraps around the address space");
    else if (write)
        rc = DRV(vm)->vm_write_memory ? DRV(vm)->vm_write_memory(vm, gpa, buf, len)
                                      : qv_unsupported(vm->conn, "vm_write_memory");
    else
        rc = DRV(vm)->vm_read_memory ? DRV(vm)->vm_read_memory(vm, gpa, buf, len)
                                     : qv_unsupported(vm->conn, "vm_read_memory");
    qv_vm_leave(vm);
    return rc;
}

int vm_read_memory(struct vm *vm, uint64_t gpa, void *buf, size_t len)
{
    QV_API_VM(vm);
    return memory_rw(vm, gpa, buf, len, false);
}

int vm_write_memory(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
    QV_API_VM(vm);
    return memory_rw(vm, gpa, (void *)buf, len, true);
}

int qv_driver_wait_polling(struct vm *vm, int timeout_ms,
                           int (*status)(struct vm *vm, struct qv_vm_status *st))
{
    gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        struct qv_vm_status st;
        g_rec_mutex_lock(&vm->lock);
        bool gone = g_atomic_int_get(&vm->destroyed);
        int rc = gone ? 0 : status(vm, &st);
        g_rec_mutex_unlock(&vm->lock);
        if (gone || rc == QV_ERR_NOT_FOUND) {
            qv_reset_error();
            return 0;
        }
        if (rc < 0)
            return rc;
        if (st.state != VM_STATE_RUNNING && st.state != VM_STATE_PAUSED)
            return 0;
        if (deadline >= 0 && g_get_monotonic_time() >= deadline)
            return qv_error_set(QV_ERR_TIMEOUT, "VM '%s' is still %s after %d ms", vm->name,
                                vm_state_name(st.state), timeout_ms);
        g_usleep(100000);
    }
}
