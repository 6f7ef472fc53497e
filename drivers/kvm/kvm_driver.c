/* The kvm driver table: kvm:///embed runs machines inside the calling
 * process. Each slot is a thin wrapper over the machine layer (kvm.h). */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/api/stats.h"
#include "../../lib/conf/setting.h"
#include "../../lib/proc/procstat.h"
#include "../../lib/util/error.h"
#include "board/board.h"
#include "devices/chardev.h"
#include "kvm.h"
#include "kvm_conf.h"
#include "session/ksess.h"

#define KVM_DEVICE "/dev/kvm"

struct kvm_conn {
    struct kvm_sys sys;
    GMutex lock;
    GHashTable *machines; /* name -> struct kvm_machine * (a reference) */
};

#define MACHINE(vm) ((struct kvm_machine *)(vm)->priv)
#define KCONN(conn) ((struct kvm_conn *)(conn)->priv)
#define KVCPU(v) ((struct kvm_vcpu *)(v))

static int kvm_open(struct qv_conn *conn)
{
    const char *path = g_uri_get_path(conn->uri);
    /* kvm:///session is a table of its own (session/kvm_session.c): from
     * here on the core dispatches every call of this connection through
     * it, so no slot of this table asks which mode it serves. */
    if (path && strcmp(path, "/session") == 0) {
        conn->driver = &kvm_session_driver;
        return kvm_session_driver.open(conn);
    }
    if (!path || strcmp(path, "/embed") != 0)
        return qv_error_set(QV_ERR_URI,
                            "the kvm driver serves kvm:///embed and kvm:///session, not '%s'",
                            conn->uri_str);
    struct kvm_conn *kc = g_new0(struct kvm_conn, 1);
    if (kvm_probe(KVM_DEVICE, &kc->sys) < 0) {
        g_free(kc);
        return qv_error_code();
    }
    g_mutex_init(&kc->lock);
    kc->machines =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kvm_machine_unref);
    conn->priv = kc;
    return 0;
}

static void kvm_close(struct qv_conn *conn)
{
    struct kvm_conn *kc = KCONN(conn);
    if (!kc)
        return;
    g_hash_table_destroy(kc->machines);
    g_mutex_clear(&kc->lock);
    kvm_sys_close(&kc->sys);
    g_free(kc);
    conn->priv = NULL;
}

/* QV_ERR_EXISTS when def's name or UUID is another VM's here. */
static int name_free(struct kvm_conn *kc, const struct qv_domain *def)
{
    g_mutex_lock(&kc->lock);
    bool exists = g_hash_table_contains(kc->machines, def->name);
    g_autofree char *same_uuid = NULL;
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, kc->machines);
    while (!exists && !same_uuid && g_hash_table_iter_next(&it, &key, &value))
        if (def->uuid[0] &&
            g_ascii_strcasecmp(((struct kvm_machine *)value)->def->uuid, def->uuid) == 0)
            same_uuid = g_strdup(key);
    g_mutex_unlock(&kc->lock);
    if (exists)
        return qv_error_set(QV_ERR_EXISTS, "a VM called '%s' already exists on kvm:///embed",
                            def->name);
    if (same_uuid)
        return qv_error_set(QV_ERR_EXISTS, "cannot define VM '%s': VM '%s' already has UUID %s",
                            def->name, same_uuid, def->uuid);
    return 0;
}

static int kvm_define(struct qv_conn *conn, const struct qv_domain *def, void **priv)
{
    /* First, before anything of the connection is touched: what the VMM
     * would not carry out is refused, not booted without. */
    if (kvm_domain_check(def) < 0)
        return qv_error_code();
    struct kvm_conn *kc = KCONN(conn);
    if (name_free(kc, def) < 0)
        return qv_error_code();
    struct kvm_machine *m = kvm_machine_new(&kc->sys, def);
    if (!m)
        return qv_error_code();
    /* Its state directory (snapshots): named now, made and locked by the
     * first snapshot operation. */
    if (kvm_snap_open(conn->state_dir, m) < 0) {
        kvm_machine_unref(m);
        return qv_error_code();
    }
    g_mutex_lock(&kc->lock);
    g_hash_table_insert(kc->machines, g_strdup(def->name), kvm_machine_ref(m));
    g_mutex_unlock(&kc->lock);
    *priv = m;
    return 0;
}

static int kvm_lookup(struct qv_conn *conn, const char *name, void **priv)
{
    struct kvm_conn *kc = KCONN(conn);
    g_mutex_lock(&kc->lock);
    struct kvm_machine *m = g_hash_table_lookup(kc->machines, name);
    if (m)
        kvm_machine_ref(m);
    g_mutex_unlock(&kc->lock);
    if (!m)
        return qv_error_set(QV_ERR_NOT_FOUND, "no VM called '%s' on kvm:///embed", name);
    *priv = m;
    return 0;
}

static void kvm_release(struct vm *vm)
{
    kvm_machine_unref(MACHINE(vm));
}

static int kvm_list(struct qv_conn *conn, GPtrArray *names)
{
    struct kvm_conn *kc = KCONN(conn);
    g_mutex_lock(&kc->lock);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, kc->machines);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(names, g_strdup(key));
    g_mutex_unlock(&kc->lock);
    return 0;
}

static struct qv_domain *kvm_get_def(struct vm *vm)
{
    struct kvm_machine *m = MACHINE(vm);
    g_mutex_lock(&m->lock);
    struct qv_domain *d = qv_domain_copy(m->def);
    g_mutex_unlock(&m->lock);
    return d;
}

static int kvm_status(struct vm *vm, struct qv_vm_status *st)
{
    kvm_machine_status(MACHINE(vm), st);
    return 0;
}

static int kvm_start(struct vm *vm)
{
    kvm_snapshot_forget(MACHINE(vm)); /* a fresh boot: no increment over older memory */
    /* Never on disks a killed snapshot restore left half written. */
    int rc = kvm_snapshot_finish_restore(MACHINE(vm));
    /* A clone of a running source runs on from the source's state. */
    if (rc == 0)
        rc = kvm_snapshot_resume_pending(MACHINE(vm)) ? kvm_snapshot_resume_clone(MACHINE(vm))
                                                      : kvm_machine_start(MACHINE(vm));
    if (rc < 0 && !strstr(qv_last_error()->message, vm->name))
        qv_error_prefix("cannot start VM '%s'", vm->name);
    return rc;
}

static int kvm_stop(struct vm *vm, unsigned flags, int timeout_ms)
{
    return kvm_machine_stop(MACHINE(vm), (flags & VM_STOP_FORCE) || timeout_ms == 0, timeout_ms);
}

static int kvm_pause(struct vm *vm)
{
    return kvm_machine_pause(MACHINE(vm));
}

static int kvm_resume(struct vm *vm)
{
    return kvm_machine_resume(MACHINE(vm));
}

static int kvm_reset(struct vm *vm)
{
    kvm_snapshot_forget(MACHINE(vm));
    return kvm_machine_reset(MACHINE(vm));
}

/* ---- snapshots (kvm_snapshot.c, snapshot/snap_engine.h) ---- */

static int kvm_snap_create_slot(struct vm *vm, const char *name, unsigned flags)
{
    int rc = kvm_snapshot_create(MACHINE(vm), name, flags);
    if (rc < 0 && !strstr(qv_last_error()->message, vm->name))
        qv_error_prefix("VM '%s'", vm->name);
    return rc;
}

static int kvm_snap_restore_slot(struct vm *vm, const char *name)
{
    int rc = kvm_snapshot_restore(MACHINE(vm), name);
    if (rc < 0 && !strstr(qv_last_error()->message, vm->name))
        qv_error_prefix("VM '%s'", vm->name);
    return rc;
}

static int kvm_snap_delete_slot(struct vm *vm, const char *name)
{
    int rc = kvm_snapshot_delete(MACHINE(vm), name);
    if (rc < 0 && !strstr(qv_last_error()->message, vm->name))
        qv_error_prefix("VM '%s'", vm->name);
    return rc;
}

static int kvm_snap_list_slot(struct vm *vm, struct snapshot_info **list, size_t *count)
{
    return kvm_snapshot_list(MACHINE(vm), list, count);
}

static int kvm_destroy(struct vm *vm)
{
    struct kvm_machine *m = MACHINE(vm);
    struct kvm_conn *kc = KCONN(vm->conn);
    kvm_machine_halt_threads(m);
    g_mutex_lock(&kc->lock);
    if (g_hash_table_lookup(kc->machines, vm->name) == m)
        g_hash_table_remove(kc->machines, vm->name);
    g_mutex_unlock(&kc->lock);
    /* Other handles may keep the struct alive; the VM itself goes now,
     * with its state directory and snapshots. */
    kvm_snap_close(m, true);
    kvm_machine_kill(m);
    return 0;
}

/* kvm_clone.c builds the store; the clone is then defined here like any
 * VM, and given the store's lock. */
static int kvm_clone_slot(struct vm *vm, const struct qv_domain *newdef, void **priv)
{
    struct kvm_conn *kc = KCONN(vm->conn);
    if (kvm_domain_check(newdef) < 0 || name_free(kc, newdef) < 0)
        return qv_error_code();
    g_autoptr(qv_domain) def = qv_domain_copy(newdef);
    int lock = -1;
    bool resume = false;
    int rc = kvm_clone_store(MACHINE(vm), vm->conn->state_dir, def, &lock, &resume);
    if (rc < 0)
        return rc;
    rc = kvm_define(vm->conn, def, priv);
    if (rc < 0) {
        kvm_clone_discard(vm->conn->state_dir, def->name, lock);
        return rc;
    }
    rc = kvm_snap_adopt(*priv, lock, resume);
    if (rc < 0) {
        struct qv_error_saved err;
        qv_error_save(&err);
        struct kvm_machine *m = *priv;
        g_mutex_lock(&kc->lock);
        g_hash_table_remove(kc->machines, def->name);
        g_mutex_unlock(&kc->lock);
        kvm_snap_close(m, true);
        kvm_machine_unref(m);
        *priv = NULL;
        qv_error_restore(&err);
    }
    return rc;
}

static int kvm_wait(struct vm *vm, int timeout_ms)
{
    return kvm_machine_wait(MACHINE(vm), timeout_ms);
}

static int kvm_set(struct vm *vm, const struct qv_setting *set)
{
    struct kvm_machine *m = MACHINE(vm);
    /* Its first start takes the definition captured with the state back
     * (restore rebuilds the machine from it): a change now would be lost. */
    if (kvm_snapshot_resume_pending(m))
        return qv_error_set(QV_ERR_INVALID_STATE,
                            "VM '%s' is a clone whose first start resumes from its source's "
                            "captured state, with the source's settings: start it before "
                            "changing them",
                            vm->name);
    g_mutex_lock(&m->lock);
    bool live = m->state == VM_STATE_RUNNING || m->state == VM_STATE_PAUSED;
    g_mutex_unlock(&m->lock);
    bool plug = set->kind == QV_SET_ATTACH_DISK || set->kind == QV_SET_DETACH_DISK ||
                set->kind == QV_SET_ATTACH_NET || set->kind == QV_SET_DETACH_NET;
    if (live && plug)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s' is running; the kvm driver's disks and NICs are virtio-mmio "
                            "devices, fixed at start (virtio-mmio has no hot-plug): stop the VM "
                            "to add or remove one",
                            vm->name);
    if (live && set->kind != QV_SET_CPU_PIN)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s' is running; the kvm driver changes this setting only while "
                            "it is stopped",
                            vm->name);
    g_mutex_lock(&m->lock);
    g_autoptr(qv_domain) copy = kvm_setting_apply(m->def, set, vm->name);
    g_mutex_unlock(&m->lock);
    if (!copy)
        return qv_error_code();
    /* Pin and publish under the lock a starting vCPU thread reads its pins
     * under, so the thread sees either this pin or its own tid pinned. */
    g_mutex_lock(&m->lock);
    if (live && set->kind == QV_SET_CPU_PIN && kvm_machine_pin(m, set->vcpu, set->pcpu) < 0) {
        g_mutex_unlock(&m->lock);
        return qv_error_code();
    }
    qv_domain_free(m->def);
    m->def = g_steal_pointer(&copy);
    g_mutex_unlock(&m->lock);
    return 0;
}

/* The machine runs in the caller's process, whose CPU time and memory are
 * not the VM's alone: only the vCPU threads a booted machine started are
 * measured. */
static int kvm_stats(struct vm *vm, const struct qv_domain *def, GArray *stats)
{
    (void)def;
    struct kvm_machine *m = MACHINE(vm);
    int rc = 0;
    g_mutex_lock(&m->lock);
    for (uint32_t i = 0; rc == 0 && m->vcpus && i < m->nvcpus; i++) {
        int tid = m->vcpus[i] ? __atomic_load_n(&m->vcpus[i]->tid, __ATOMIC_SEQ_CST) : 0;
        struct proc_usage u;
        if (tid <= 0)
            continue;
        rc = proc_usage_read(getpid(), tid, &u);
        if (rc == QV_ERR_NOT_FOUND) { /* the thread is just ending */
            qv_reset_error();
            rc = 0;
            continue;
        }
        if (rc == 0) {
            qv_stats_uint(stats, 1, "vcpu.%u.state", i);
            qv_stats_uint(stats, u.user_ns + u.system_ns, "vcpu.%u.time", i);
        }
    }
    g_mutex_unlock(&m->lock);
    return rc;
}

/* The CPUs each started vCPU thread may run on now. */
static int kvm_live(struct vm *vm, const struct qv_domain *def, GArray *out)
{
    (void)def;
    struct kvm_machine *m = MACHINE(vm);
    int rc = 0;
    g_mutex_lock(&m->lock);
    for (uint32_t i = 0; rc == 0 && m->vcpus && i < m->nvcpus; i++) {
        int tid = m->vcpus[i] ? __atomic_load_n(&m->vcpus[i]->tid, __ATOMIC_SEQ_CST) : 0;
        if (tid <= 0)
            continue;
        g_autofree char *cpus = proc_affinity_text(tid);
        if (cpus)
            qv_stats_str(out, cpus, "vcpu.%u.cpus", i);
        else if (qv_error_code() == QV_ERR_NOT_FOUND) /* the thread is just ending */
            qv_reset_error();
        else
            rc = qv_error_code();
    }
    g_mutex_unlock(&m->lock);
    return rc;
}

static char *kvm_console(struct vm *vm)
{
    struct kvm_machine *m = MACHINE(vm);
    struct kvm_chardev *console = kvm_board_console(m->board);
    if (console)
        return g_strdup(kvm_chardev_endpoint(console));
    qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no serial console%s", vm->name,
                 m->booted ? " open (start it first)" : "");
    return NULL;
}

static int kvm_add_region(struct vm *vm, uint64_t gpa, uint64_t size, uint32_t flags)
{
    /* Device threads walk the regions without a lock (guest_ram,
     * mark_dirty): the layout of a machine with devices never changes. */
    if (MACHINE(vm)->board)
        return qv_error_set(QV_ERR_INVALID_STATE,
                            "VM '%s' has devices, which read its memory layout from their own "
                            "threads: memory regions cannot be added to it",
                            vm->name);
    return kvm_memory_add(MACHINE(vm), gpa, size, flags);
}

static void *kvm_hva(struct vm *vm, uint64_t gpa)
{
    void *p = kvm_memory_hva(MACHINE(vm), gpa, 1);
    if (p)
        g_atomic_int_set(&MACHINE(vm)->raw_pointers, 1);
    else
        qv_error_set(QV_ERR_OUT_OF_RANGE, "VM '%s': guest address 0x%llx is not guest memory",
                     vm->name, (unsigned long long)gpa);
    return p;
}

static int kvm_read(struct vm *vm, uint64_t gpa, void *buf, size_t len)
{
    return kvm_memory_rw(MACHINE(vm), gpa, buf, len, false);
}

static int kvm_write(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
    return kvm_memory_rw(MACHINE(vm), gpa, (void *)buf, len, true);
}

/* ---- vCPUs ---- */

static struct vcpu *kvm_vcpu_create_slot(struct vm *vm, uint32_t id)
{
    struct kvm_machine *m = MACHINE(vm);
    if (m->booted) {
        qv_error_set(QV_ERR_INVALID_STATE,
                     "VM '%s' boots a kernel: vm_start creates its vCPUs (use vm_get_vcpu); "
                     "vcpu_create is for VMs made by vm_create",
                     vm->name);
        return NULL;
    }
    if (id >= m->def->max_vcpus) {
        qv_error_set(QV_ERR_INVALID_ARG, "VM '%s' has room for vCPUs 0-%u; %u is out of range",
                     vm->name, m->def->max_vcpus - 1, id);
        return NULL;
    }
    if (m->vcpus[id]) {
        qv_error_set(QV_ERR_EXISTS, "VM '%s' already has vCPU %u", vm->name, id);
        return NULL;
    }
    struct kvm_vcpu *v = kvm_vcpu_new(m, id, true);
    if (!v)
        return NULL;
    v->pub.vm = vm;
    m->vcpus[id] = v;
    if (id + 1 > m->nvcpus)
        m->nvcpus = id + 1;
    return &v->pub;
}

static struct vcpu *kvm_vcpu_get_slot(struct vm *vm, uint32_t id)
{
    struct kvm_machine *m = MACHINE(vm);
    if (id >= m->def->max_vcpus || !m->vcpus[id]) {
        qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' has no vCPU %u", vm->name, id);
        return NULL;
    }
    m->vcpus[id]->pub.vm = vm;
    return &m->vcpus[id]->pub;
}

static void kvm_vcpu_destroy_slot(struct vcpu *vcpu)
{
    struct kvm_vcpu *v = KVCPU(vcpu);
    struct kvm_machine *m = v->m;
    if (!v->user_created) {
        qv_error_set(QV_ERR_INVALID_STATE, "vCPU %u of VM '%s' belongs to its booted guest",
                     v->index, vm_get_name(vcpu->vm));
        return;
    }
    m->vcpus[v->index] = NULL;
    kvm_vcpu_free(v);
}

/* Register access on a booted machine's vCPU only while no thread runs it. */
static int check_owned(struct kvm_vcpu *v, const char *op, bool run)
{
    struct kvm_machine *m = v->m;
    if (!m->booted)
        return 0;
    if (run)
        return qv_error_set(QV_ERR_INVALID_STATE,
                            "%s: vCPU %u of VM '%s' is run by the VM's own threads (vm_start)", op,
                            v->index, kvm_machine_name(m));
    g_mutex_lock(&m->lock);
    bool running = m->state == VM_STATE_RUNNING;
    g_mutex_unlock(&m->lock);
    if (running)
        return qv_error_set(QV_ERR_INVALID_STATE, "%s: VM '%s' is running; pause it first", op,
                            kvm_machine_name(m));
    return 0;
}

#define OWNED(v, op, run)                                                                          \
    do {                                                                                           \
        int rc_ = check_owned(v, op, run);                                                         \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)

static int kvm_vcpu_reset_slot(struct vcpu *vcpu, uint64_t boot_ip)
{
    OWNED(KVCPU(vcpu), "vcpu_reset", false);
    return kvm_vcpu_reset_real(KVCPU(vcpu), boot_ip);
}

static int kvm_vcpu_run_slot(struct vcpu *vcpu)
{
    OWNED(KVCPU(vcpu), "vcpu_run", true);
    return kvm_vcpu_run_user(KVCPU(vcpu));
}

static const struct vcpu_exit_info *kvm_vcpu_exit_slot(struct vcpu *vcpu)
{
    return &KVCPU(vcpu)->exit;
}

static void kvm_vcpu_kick_slot(struct vcpu *vcpu)
{
    kvm_vcpu_kick(KVCPU(vcpu));
}

static int kvm_vcpu_step_slot(struct vcpu *vcpu)
{
    struct kvm_vcpu *v = KVCPU(vcpu);
    OWNED(v, "vcpu_step", true);
    if (kvm_vcpu_set_step(v, true) < 0)
        return qv_error_code();
    int rc;
    bool handled;
    do
        rc = kvm_vcpu_enter(v, &handled);
    while (rc >= 0 && handled && rc != VCPU_EXIT_DEBUG);
    int off = kvm_vcpu_set_step(v, false);
    return rc < 0 ? rc : off < 0 ? off : rc;
}

static int kvm_get_regs_slot(struct vcpu *vcpu, struct vcpu_regs *r)
{
    OWNED(KVCPU(vcpu), "vcpu_get_regs", false);
    return kvm_vcpu_get_regs(KVCPU(vcpu), r);
}

static int kvm_set_regs_slot(struct vcpu *vcpu, const struct vcpu_regs *r)
{
    OWNED(KVCPU(vcpu), "vcpu_set_regs", false);
    return kvm_vcpu_set_regs(KVCPU(vcpu), r);
}

static int kvm_get_sregs_slot(struct vcpu *vcpu, struct vcpu_sregs *s)
{
    OWNED(KVCPU(vcpu), "vcpu_get_sregs", false);
    return kvm_vcpu_get_sregs(KVCPU(vcpu), s);
}

static int kvm_set_sregs_slot(struct vcpu *vcpu, const struct vcpu_sregs *s)
{
    OWNED(KVCPU(vcpu), "vcpu_set_sregs", false);
    return kvm_vcpu_set_sregs(KVCPU(vcpu), s);
}

static int kvm_get_msr_slot(struct vcpu *vcpu, uint32_t index, uint64_t *value)
{
    OWNED(KVCPU(vcpu), "vcpu_get_msr", false);
    return kvm_vcpu_get_msr(KVCPU(vcpu), index, value);
}

static int kvm_set_msr_slot(struct vcpu *vcpu, uint32_t index, uint64_t value)
{
    OWNED(KVCPU(vcpu), "vcpu_set_msr", false);
    return kvm_vcpu_set_msr(KVCPU(vcpu), index, value);
}

static int kvm_irq_slot(struct vcpu *vcpu, uint8_t vector)
{
    OWNED(KVCPU(vcpu), "vcpu_queue_interrupt", false);
    return kvm_vcpu_queue_interrupt(KVCPU(vcpu), vector);
}

static int kvm_exc_slot(struct vcpu *vcpu, uint8_t vector, bool has_ec, uint32_t ec)
{
    OWNED(KVCPU(vcpu), "vcpu_queue_exception", false);
    return kvm_vcpu_queue_exception(KVCPU(vcpu), vector, has_ec, ec);
}

static int kvm_nmi_slot(struct vcpu *vcpu)
{
    OWNED(KVCPU(vcpu), "vcpu_queue_nmi", false);
    return kvm_vcpu_queue_nmi(KVCPU(vcpu));
}

const struct qv_driver qv_kvm_driver = {
    .name = "kvm",
    .schemes = (const char *const[]){"kvm", NULL},
    .domain_type = QV_VIRT_KVM,
    .open = kvm_open,
    .close = kvm_close,
    .vm_define = kvm_define,
    .vm_lookup = kvm_lookup,
    .vm_release = kvm_release,
    .vm_list = kvm_list,
    .vm_get_def = kvm_get_def,
    .vm_get_status = kvm_status,
    .vm_start = kvm_start,
    .vm_stop = kvm_stop,
    .vm_pause = kvm_pause,
    .vm_resume = kvm_resume,
    .vm_reset = kvm_reset,
    .vm_destroy = kvm_destroy,
    .vm_wait = kvm_wait,
    .vm_clone = kvm_clone_slot,
    .vm_set = kvm_set,
    .vm_get_stats = kvm_stats,
    .vm_get_live = kvm_live,
    .vm_console_endpoint = kvm_console,
    .vm_add_memory_region = kvm_add_region,
    .vm_gpa_to_hva = kvm_hva,
    .vm_read_memory = kvm_read,
    .vm_write_memory = kvm_write,
    .snapshot_create = kvm_snap_create_slot,
    .snapshot_restore = kvm_snap_restore_slot,
    .snapshot_delete = kvm_snap_delete_slot,
    .snapshot_list = kvm_snap_list_slot,
    .vcpu_create = kvm_vcpu_create_slot,
    .vcpu_get = kvm_vcpu_get_slot,
    .vcpu_destroy = kvm_vcpu_destroy_slot,
    .vcpu_reset = kvm_vcpu_reset_slot,
    .vcpu_run = kvm_vcpu_run_slot,
    .vcpu_exit_info = kvm_vcpu_exit_slot,
    .vcpu_kick = kvm_vcpu_kick_slot,
    .vcpu_step = kvm_vcpu_step_slot,
    .vcpu_get_regs = kvm_get_regs_slot,
    .vcpu_set_regs = kvm_set_regs_slot,
    .vcpu_get_sregs = kvm_get_sregs_slot,
    .vcpu_set_sregs = kvm_set_sregs_slot,
    .vcpu_get_msr = kvm_get_msr_slot,
    .vcpu_set_msr = kvm_set_msr_slot,
    .vcpu_queue_interrupt = kvm_irq_slot,
    .vcpu_queue_exception = kvm_exc_slot,
    .vcpu_queue_nmi = kvm_nmi_slot,
};
