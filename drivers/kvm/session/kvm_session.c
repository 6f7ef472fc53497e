/* kvm:///session's table: VM objects are directories under the
 * connection's state root (<root>/kvm/<name>, lib/proc), each VM runs in
 * its own qv-vmm. What qv-vmm cannot do across a process boundary (guest
 * memory and register-level vCPU calls, hot-plug) is refused naming the
 * mode. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/api/stats.h"
#include "../../../lib/proc/proc.h"
#include "../../../lib/proc/procstat.h"
#include "../../../lib/util/error.h"
#include "../../../lib/util/fileio.h"
#include "../../../lib/util/json.h"
#include "../../../lib/util/lock.h"
#include "../../../lib/util/names.h"
#include "../kvm_conf.h"
#include "ksess.h"

#define SESSION "kvm:///session"
#define DEFAULT_VMM_URI "kvm:///embed"
#define UUID_LOCK KSESS_UUID_LOCK

/* ---- finding qv-vmm ---------------------------------------------------- */

static bool is_exec(const char *path)
{
    return g_file_test(path, G_FILE_TEST_IS_REGULAR) && access(path, X_OK) == 0;
}

char *ksess_find_vmm(void)
{
    const char *env = g_getenv("QV_VMM");
    if (env && *env) {
        if (!g_path_is_absolute(env) || !is_exec(env)) {
            qv_error_set(QV_ERR_NOT_FOUND,
                         "$QV_VMM is '%s': it must be the absolute path of an executable "
                         "qv-vmm",
                         env);
            return NULL;
        }
        return g_strdup(env);
    }
    /* Installed, qv-vmm sits in qv's bin directory. */
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *bin = self ? g_path_get_dirname(self) : NULL;
    char *cand = bin ? g_build_filename(bin, "qv-vmm", NULL) : NULL;
    if (cand && is_exec(cand))
        return cand;
    /* A program other than qv using an installed libqv: <prefix>/lib/...
     * beside <prefix>/bin. */
    Dl_info info;
    g_autofree char *alt = NULL;
    if (dladdr((void *)ksess_find_vmm, &info) && info.dli_fname && info.dli_fname[0] == '/') {
        g_autofree char *libdir = g_path_get_dirname(info.dli_fname);
        g_autofree char *prefix = g_path_get_dirname(libdir);
        alt = g_build_filename(prefix, "bin", "qv-vmm", NULL);
        if (is_exec(alt)) {
            g_free(cand);
            return g_steal_pointer(&alt);
        }
    }
    qv_error_set(QV_ERR_NOT_FOUND,
                 SESSION " runs each VM in qv-vmm, which is not at '%s'%s%s; install it beside "
                         "qv or set $QV_VMM to its absolute path",
                 cand ? cand : "(the running program's directory)", alt ? " nor at " : "",
                 alt ? alt : "");
    g_free(cand);
    return NULL;
}

/* ---- the connection ---------------------------------------------------- */

#define TMP_PREFIX ".tmp-"
#define TMP_SUFFIX_LEN 7 /* "-XXXXXX" */

/* Remove what a destroy cut short left (.tmp-NAME-XXXXXX, renamed away
 * under NAME's lock): each under that lock, taken without waiting, since
 * a holder may still be removing it. */
static void sweep(struct qv_conn *conn)
{
    g_autofree char *kind = g_build_filename(conn->state_dir, KSESS_KIND, NULL);
    g_autoptr(GDir) d = g_dir_open(kind, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        size_t n = strlen(e);
        if (!g_str_has_prefix(e, TMP_PREFIX) || n <= strlen(TMP_PREFIX) + TMP_SUFFIX_LEN ||
            e[n - TMP_SUFFIX_LEN] != '-')
            continue;
        g_autofree char *name =
            g_strndup(e + strlen(TMP_PREFIX), n - strlen(TMP_PREFIX) - TMP_SUFFIX_LEN);
        int fd = qv_name_check(name, "VM") ? proc_lock(conn->state_dir, KSESS_KIND, name, 0) : -1;
        if (fd >= 0) {
            g_autofree char *path = g_build_filename(kind, e, NULL);
            qv_dir_remove_tree(path);
            proc_unlock(fd);
        }
        qv_reset_error();
    }
}

/* qv-vmm's inner kvm: connection keeps its state (kvm:///embed's
 * per-name locks and snapshots) under this session's root unless the URI
 * names a root itself: otherwise two session roots, or a session and an
 * embed application, would share the user's default data directory and
 * collide on a VM name. Other drivers are passed as given (noop:/// keeps
 * nothing, noop:///DIR keeps it where the caller said, and refuses
 * parameters it does not know). */
static char *with_root(const char *uri, const char *root)
{
    g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_ENCODED_QUERY, NULL);
    if (!u || g_strcmp0(g_uri_get_scheme(u), "kvm") != 0)
        return g_strdup(uri);
    const char *query = g_uri_get_query(u);
    if (query) {
        g_autoptr(GHashTable) params = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, NULL);
        if (params && g_hash_table_contains(params, "root"))
            return g_strdup(uri);
    }
    g_autofree char *esc = g_uri_escape_string(root, "/", FALSE);
    return g_strdup_printf("%s%sroot=%s", uri, strchr(uri, '?') ? "&" : "?", esc);
}

static int ksess_open(struct qv_conn *conn)
{
    g_autofree char *vmm_uri = qv_conn_get_param(conn, "vmm_uri");
    if (vmm_uri && (strncmp(vmm_uri, "kvm:", 4) == 0 && strstr(vmm_uri, "session")))
        return qv_error_set(QV_ERR_URI,
                            "%s: vmm_uri='%s' would start qv-vmm inside qv-vmm; name an "
                            "in-process driver (kvm:///embed, or noop:/// for tests)",
                            conn->uri_str, vmm_uri);
    char *path = ksess_find_vmm();
    if (!path)
        return qv_error_code();
    struct ksess_conn *kc = g_new0(struct ksess_conn, 1);
    kc->vmm_uri = with_root(vmm_uri && *vmm_uri ? vmm_uri : DEFAULT_VMM_URI, conn->state_dir);
    kc->vmm_path = path;
    conn->priv = kc;
    sweep(conn);
    return 0;
}

static void ksess_close(struct qv_conn *conn)
{
    ksess_reap_children();
    struct ksess_conn *kc = conn->priv;
    if (!kc)
        return;
    g_free(kc->vmm_uri);
    g_free(kc->vmm_path);
    g_free(kc);
    conn->priv = NULL;
}

/* ---- per-VM objects ---------------------------------------------------- */

struct ksess_vm *ksess_vm_new(struct qv_conn *conn, const char *name)
{
    struct ksess_vm *k = g_new0(struct ksess_vm, 1);
    k->name = g_strdup(name);
    k->dir = proc_vm_dir(conn->state_dir, KSESS_KIND, name);
    k->state_dir = g_strdup(conn->state_dir);
    k->lock_fd = -1;
    return k;
}

void ksess_vm_free(struct ksess_vm *k)
{
    if (!k)
        return;
    if (k->lock_fd >= 0)
        proc_unlock(k->lock_fd);
    g_free(k->name);
    g_free(k->dir);
    g_free(k->state_dir);
    g_free(k);
}

int ksess_lock(struct ksess_vm *k, int timeout_ms)
{
    if (k->lock_depth++ > 0)
        return 0;
    int fd = proc_lock(k->state_dir, KSESS_KIND, k->name, timeout_ms);
    if (fd < 0) {
        k->lock_depth = 0;
        if (fd == QV_ERR_BUSY)
            qv_error_prefix("VM '%s' is busy (another caller holds it)", k->name);
        return fd;
    }
    k->lock_fd = fd;
    /* Holding the lock, we know no clone of this VM is running: one that
     * died mid-copy may have left it paused. */
    ksess_clone_recover(k);
    return 0;
}

void ksess_unlock(struct ksess_vm *k)
{
    if (k->lock_depth > 0 && --k->lock_depth == 0) {
        proc_unlock(k->lock_fd);
        k->lock_fd = -1;
    }
}

struct qmp *ksess_qmp(struct ksess_vm *k, bool status_monitor)
{
    g_autofree char *sock =
        g_build_filename(k->dir, status_monitor ? "status.sock" : "qmp.sock", NULL);
    g_autofree char *label = g_strdup_printf("VM '%s' (qv-vmm)", k->name);
    return qmp_connect(sock, label, KSESS_QMP_TIMEOUT_MS);
}

struct qv_domain *ksess_load_def(struct ksess_vm *k)
{
    g_autofree char *path = g_build_filename(k->dir, "domain.xml", NULL);
    g_autofree char *xml = NULL;
    size_t len;
    int rc = qv_file_read_state(path, QV_DEFINITION_MAX_BYTES, &xml, &len);
    if (rc == QV_ERR_NOT_FOUND) {
        qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' does not exist on " SESSION, k->name);
        return NULL;
    }
    if (rc < 0) {
        qv_error_prefix("cannot read the definition of VM '%s'", k->name);
        return NULL;
    }
    struct qv_domain *def = qv_domain_parse_xml(xml);
    if (!def)
        qv_error_prefix("the stored definition of VM '%s' (%s) is damaged", k->name, path);
    return def;
}

static bool has_def(const char *dir)
{
    g_autofree char *xml = g_build_filename(dir, "domain.xml", NULL);
    return g_file_test(xml, G_FILE_TEST_IS_REGULAR);
}

/* The directory is made first and domain.xml appears in it atomically: a
 * define cut short leaves a directory without a definition, which is no
 * VM (list and lookup skip it, the next define reuses it). */
static int define_locked(struct qv_conn *conn, struct ksess_vm *k, const struct qv_domain *def)
{
    if (has_def(k->dir))
        return qv_error_set(QV_ERR_EXISTS, "VM '%s' already exists on %s", def->name,
                            conn->uri_str);
    g_autofree char *xml = qv_domain_format_xml(def);
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    if (mkdir(k->dir, 0700) < 0 && errno != EEXIST)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot create '%s' for VM '%s'", k->dir,
                                  def->name);
    struct stat sb;
    if (lstat(k->dir, &sb) < 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
        return qv_error_set(QV_ERR_IO,
                            "'%s' is not a directory of this user: VM '%s' cannot "
                            "live there",
                            k->dir, def->name);
    chmod(k->dir, 0700);
    g_autofree char *lock_path = g_build_filename(conn->state_dir, KSESS_KIND, UUID_LOCK, NULL);
    int ufd = qv_lock_acquire(lock_path, KSESS_LOCK_WAIT_MS);
    if (ufd < 0)
        return ufd;
    int rc = proc_uuid_check(conn->state_dir, KSESS_KIND, def->uuid, def->name);
    g_autofree char *path = g_build_filename(k->dir, "domain.xml", NULL);
    if (rc == 0)
        rc = qv_file_write_atomic(path, xml, strlen(xml), 0600);
    qv_lock_release(ufd);
    if (rc == 0)
        proc_log(k->dir, "defined");
    return rc;
}

static int ksess_define(struct qv_conn *conn, const struct qv_domain *def, void **priv)
{
    /* The VMM's own define-time checks: what it would not carry out is
     * refused now, not at start in another process. The CPU weight and cap
     * are the session's to enforce (kvm_session_tune.c). */
    if (ksess_domain_check(def) < 0)
        return qv_error_code();
    int rc = proc_kind_dir_ensure(conn->state_dir, KSESS_KIND);
    if (rc < 0)
        return rc;
    struct ksess_vm *k = ksess_vm_new(conn, def->name);
    rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc == 0) {
        rc = define_locked(conn, k, def);
        ksess_unlock(k);
    }
    if (rc < 0) {
        ksess_vm_free(k);
        return rc;
    }
    *priv = k;
    return 0;
}

static int ksess_lookup(struct qv_conn *conn, const char *name, void **priv)
{
    struct ksess_vm *k = ksess_vm_new(conn, name);
    if (!has_def(k->dir)) {
        ksess_vm_free(k);
        return qv_error_set(QV_ERR_NOT_FOUND, "no VM named '%s' on %s", name, conn->uri_str);
    }
    *priv = k;
    return 0;
}

static void ksess_release(struct vm *vm)
{
    ksess_vm_free(vm->priv);
    vm->priv = NULL;
}

static int ksess_list(struct qv_conn *conn, GPtrArray *names)
{
    return proc_list_vms(conn->state_dir, KSESS_KIND, names);
}

static struct qv_domain *ksess_get_def(struct vm *vm)
{
    return ksess_load_def(ksess_of(vm));
}

/* A running VM's console is qv-vmm's console.sock; otherwise its log, the
 * last thing the guest printed. */
static char *ksess_console(struct vm *vm)
{
    struct ksess_vm *k = ksess_of(vm);
    g_autofree char *sock = g_build_filename(k->dir, "console.sock", NULL);
    if (ksess_running(k) && g_file_test(sock, G_FILE_TEST_EXISTS))
        return g_strdup_printf("unix:%s", sock);
    return g_strdup_printf("file:%s/console.log", k->dir);
}

/* qv-vmm appends the guest's console to console.log (docs/qv-vmm.md), also
 * what nobody attached to console.sock saw; this run's part begins where
 * the log ended when qv-vmm was spawned (runtime.json's console_log_start,
 * as for the qemu driver). */
static int ksess_console_log(struct vm *vm, char **path, uint64_t *start)
{
    struct ksess_vm *k = ksess_of(vm);
    struct proc_runtime rt;
    gint64 at = 0;
    if (proc_runtime_read(k->dir, &rt) == 0 && proc_identity_alive(&rt.id))
        at = qv_json_int(rt.extra, "console_log_start", 0);
    proc_runtime_clear(&rt);
    qv_reset_error();
    *start = at > 0 ? (uint64_t)at : 0;
    *path = g_build_filename(k->dir, "console.log", NULL);
    return 0;
}

static int ksess_destroy(struct vm *vm)
{
    struct ksess_vm *k = ksess_of(vm);
    int rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    rc = ksess_kill_locked(k);
    /* The snapshots qv-vmm's driver kept go with the VM: a VM defined
     * later under its name must not find them. */
    if (rc == 0)
        rc = ksess_snap_forget_locked(vm->conn, k);
    if (rc == 0) {
        /* Renamed away first: once renamed no VM of the name exists, and
         * a kill half-way through the removal leaves only a hidden
         * temporary, never a VM missing files. */
        g_autofree char *kind = g_build_filename(k->state_dir, KSESS_KIND, NULL);
        g_autofree char *trash = g_strdup_printf("%s/" TMP_PREFIX "%s-XXXXXX", kind, k->name);
        if (!g_mkdtemp_full(trash, 0700))
            rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot remove VM '%s'", k->name);
        else if (rename(k->dir, trash) < 0) {
            rc = errno == ENOENT
                     ? 0
                     : qv_error_set_errno(QV_ERR_IO, errno, "cannot remove VM '%s' (%s)", k->name,
                                          k->dir);
            rmdir(trash);
        } else {
            rc = qv_dir_remove_tree(trash);
        }
    }
    /* The lock file stays, shared with whoever defines the name next. */
    ksess_unlock(k);
    return rc;
}

static int ksess_set(struct vm *vm, const struct qv_setting *set)
{
    struct ksess_vm *k = ksess_of(vm);
    int rc = ksess_lock(k, KSESS_LOCK_WAIT_MS);
    if (rc < 0)
        return rc;
    int live = ksess_live(k);
    if (live != 0) {
        rc = live < 0 ? live : ksess_set_live(vm, set);
        ksess_unlock(k);
        return rc;
    }
    g_autoptr(qv_domain) def = ksess_load_def(k);
    g_autoptr(qv_domain) copy = def ? ksess_setting_apply(def, set, vm->name) : NULL;
    g_autofree char *xml = copy ? qv_domain_format_xml(copy) : NULL;
    g_autofree char *path = g_build_filename(k->dir, "domain.xml", NULL);
    rc = xml ? qv_file_write_atomic(path, xml, strlen(xml), 0600) : qv_error_code();
    ksess_unlock(k);
    return rc;
}

/* The VM's own process is all qv-vmm: its CPU time and resident memory
 * are the VM's (read as the qemu driver reads QEMU's). A VM that does not
 * run has only what the core filled in. */
static int ksess_stats(struct vm *vm, const struct qv_domain *def, GArray *stats)
{
    (void)def;
    struct proc_runtime rt;
    if (ksess_runtime_verified(ksess_of(vm), &rt) == 0) {
        struct proc_usage u;
        if (proc_usage_read(rt.id.pid, 0, &u) == 0) {
            qv_stats_uint(stats, u.user_ns + u.system_ns, "cpu.time");
            qv_stats_uint(stats, u.user_ns, "cpu.user");
            qv_stats_uint(stats, u.system_ns, "cpu.system");
            qv_stats_uint(stats, u.rss_bytes / 1024, "balloon.rss");
        }
    }
    proc_runtime_clear(&rt);
    qv_reset_error(); /* gone meanwhile: nothing measured */
    return 0;
}

/* ---- what a separate process cannot offer ------------------------------ */

static int refuse(struct vm *vm, const char *op)
{
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "%s: VM '%s' runs in its own qv-vmm process on " SESSION
                        ", which offers no %s; use kvm:///embed for VMs driven from this "
                        "process",
                        op, vm->name,
                        g_str_has_prefix(op, "vcpu") ? "register-level vCPU access"
                                                     : "access to guest memory");
}

static int ksess_add_region(struct vm *vm, uint64_t gpa, uint64_t size, uint32_t flags)
{
    (void)gpa, (void)size, (void)flags;
    return refuse(vm, "vm_add_memory_region");
}

static void *ksess_hva(struct vm *vm, uint64_t gpa)
{
    (void)gpa;
    refuse(vm, "vm_gpa_to_hva");
    return NULL;
}

static int ksess_read(struct vm *vm, uint64_t gpa, void *buf, size_t len)
{
    (void)gpa, (void)buf, (void)len;
    return refuse(vm, "vm_read_memory");
}

static int ksess_write(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
    (void)gpa, (void)buf, (void)len;
    return refuse(vm, "vm_write_memory");
}

static struct vcpu *ksess_vcpu_create(struct vm *vm, uint32_t id)
{
    (void)id;
    refuse(vm, "vcpu_create");
    return NULL;
}

static struct vcpu *ksess_vcpu_get(struct vm *vm, uint32_t id)
{
    (void)id;
    refuse(vm, "vcpu_get");
    return NULL;
}

const struct qv_driver kvm_session_driver = {
    .name = "kvm",
    .schemes = (const char *const[]){"kvm", NULL},
    .domain_type = QV_VIRT_KVM,
    .open = ksess_open,
    .close = ksess_close,
    .vm_define = ksess_define,
    .vm_lookup = ksess_lookup,
    .vm_release = ksess_release,
    .vm_list = ksess_list,
    .vm_get_def = ksess_get_def,
    .vm_get_status = ksess_status,
    .vm_start = ksess_start,
    .vm_stop = ksess_stop,
    .vm_pause = ksess_pause,
    .vm_resume = ksess_resume,
    .vm_reset = ksess_reset,
    .vm_destroy = ksess_destroy,
    .vm_wait = ksess_wait,
    .vm_set = ksess_set,
    .vm_get_stats = ksess_stats,
    .vm_console_endpoint = ksess_console,
    .vm_console_log = ksess_console_log,
    .vm_add_memory_region = ksess_add_region,
    .vm_gpa_to_hva = ksess_hva,
    .vm_read_memory = ksess_read,
    .vm_write_memory = ksess_write,
    .snapshot_create = ksess_snap_create,
    .snapshot_restore = ksess_snap_restore,
    .snapshot_delete = ksess_snap_delete,
    .snapshot_list = ksess_snap_list,
    .vm_clone = ksess_clone,
    .vcpu_create = ksess_vcpu_create,
    .vcpu_get = ksess_vcpu_get,
};
