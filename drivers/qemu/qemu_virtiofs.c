/* virtiofsd for each <filesystem><driver type='virtiofs'><source dir=>:
 * started before QEMU at every start, listening on DIR/virtiofsN.sock
 * (0600, in the 0700 VM directory), logging to DIR/virtiofsdN.log. It
 * accepts the one connection QEMU makes as it starts, then daemonizes, and
 * exits when QEMU closes that connection: it stops with the VM whichever
 * way QEMU ends. Until QEMU has connected it is our child, and a start
 * that fails kills it. A running one is found by its command line, which
 * ends with its socket's path. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/api/stats.h"
#include "../../lib/conf/xml_util.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"
#include "qemu_vm.h"

#define VIRTIOFSD_START_TIMEOUT_MS 10000

typedef int (*each_fn)(struct qemu_vm *q, guint index, const xmlNode *n, void *u);

/* fn for each virtiofs <filesystem> of def, by its index in def->kept. */
static int each_virtiofs(struct qemu_vm *q, const struct qv_domain *def, each_fn fn, void *u)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->name, "filesystem") != 0 || strcmp(k->parent, "devices") != 0 ||
            !strstr(k->xml, "virtiofs"))
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc)
            return qv_error_code();
        const xmlNode *n = xmlDocGetRootElement(doc), *d = qemu_xml_child(n, "driver");
        int rc = d && qemu_xml_prop_is(d, "type", "virtiofs") ? fn(q, i, n, u) : 0;
        xmlFreeDoc(doc);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static char *sock_path(const struct qemu_vm *q, guint index)
{
    g_autofree char *name = g_strdup_printf(QEMU_VIRTIOFS_SOCKET, index);
    return g_build_filename(q->dir, name, NULL);
}

static char *tag_of(const xmlNode *n)
{
    const xmlNode *t = qemu_xml_child(n, "target");
    char *tag = t ? qemu_xml_prop(t, "dir") : NULL;
    return tag ? tag : g_strdup("");
}

void qemu_virtiofs_abort(GArray *children)
{
    struct qv_error_saved e;
    qv_error_save(&e);
    for (guint i = 0; children && i < children->len; i++) {
        pid_t pid = g_array_index(children, pid_t, i);
        int status;
        kill(pid, SIGKILL);
        proc_child_wait(pid, 5000, &status);
    }
    if (children)
        g_array_set_size(children, 0);
    qv_error_restore(&e);
}

/* Until the socket is there, or the child has given up. */
static int wait_listening(struct qemu_vm *q, pid_t pid, const char *sock, const char *log,
                          const char *tag)
{
    gint64 deadline = g_get_monotonic_time() + VIRTIOFSD_START_TIMEOUT_MS * 1000;
    struct stat sb;
    int status = 0;
    while (lstat(sock, &sb) < 0 || !S_ISSOCK(sb.st_mode)) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || g_get_monotonic_time() >= deadline) {
            g_autofree char *text = NULL;
            g_file_get_contents(log, &text, NULL, NULL);
            if (r != pid) {
                kill(pid, SIGKILL);
                proc_child_wait(pid, 5000, &status);
                qv_reset_error();
            }
            return qv_error_set(QV_ERR_BACKEND,
                                "virtiofsd for <filesystem> '%s' could not start for VM '%s'%s: %s",
                                tag, q->name, r == pid ? "" : " (no socket within 10 s)",
                                text && *g_strstrip(text) ? text : "(it printed nothing)");
        }
        g_usleep(5000);
    }
    /* virtiofsd makes it with the umask; only QEMU (the same user) uses it. */
    if (chmod(sock, 0600) < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot make %s private", sock);
    return 0;
}

static int start_one(struct qemu_vm *q, guint index, const xmlNode *n, void *u)
{
    GArray *children = u;
    g_autofree char *sock = sock_path(q, index);
    g_autoptr(GPtrArray) argv = qemu_virtiofsd_argv(n, sock);
    if (!argv)
        return 0; /* <source socket=>: someone else's virtiofsd */
    g_autofree char *name = g_strdup_printf("virtiofsd%u.log", index);
    g_autofree char *log = g_build_filename(q->dir, name, NULL);
    g_autofree char *tag = tag_of(n);
    unlink(sock);
    g_ptr_array_add(argv, NULL);
    proc_log(q->dir, "starting virtiofsd for <filesystem> '%s'", tag);
    pid_t pid;
    int rc = proc_spawn((char *const *)argv->pdata, log, &pid);
    if (rc < 0)
        return rc;
    rc = wait_listening(q, pid, sock, log, tag);
    if (rc == 0)
        g_array_append_val(children, pid);
    return rc;
}

int qemu_virtiofs_start(struct qemu_vm *q, const struct qv_domain *def, GArray *children)
{
    int rc = each_virtiofs(q, def, start_one, children);
    if (rc < 0)
        qemu_virtiofs_abort(children); /* keeps the error */
    return rc;
}

void qemu_virtiofs_started(struct qemu_vm *q, GArray *children)
{
    for (guint i = 0; i < children->len; i++) {
        pid_t pid = g_array_index(children, pid_t, i);
        int status;
        /* Connected, it forks its daemon and exits. */
        if (proc_child_wait(pid, 5000, &status) < 0) {
            proc_log(q->dir, "virtiofsd %d did not daemonize: %s", (int)pid,
                     qv_last_error()->message);
            qv_reset_error();
        }
    }
    g_array_set_size(children, 0);
}

/* The running virtiofsd serving sock, if any. */
static int find_daemon(const char *sock, struct proc_identity *id)
{
    g_autofree char *suffix = g_strdup_printf("--socket-path=%s", sock);
    if (proc_find_by_cmdline_suffix(suffix, id) < 0) {
        qv_reset_error();
        return -1;
    }
    return 0;
}

static int stop_one(struct qemu_vm *q, guint index, const xmlNode *n, void *u)
{
    (void)n, (void)u;
    g_autofree char *sock = sock_path(q, index);
    struct proc_identity id;
    /* The sandbox's parent and its child share the command line. */
    for (int tries = 0; tries < 4 && find_daemon(sock, &id) == 0; tries++) {
        proc_kill(&id, SIGKILL);
        proc_wait_gone(&id, 5000);
        proc_identity_clear(&id);
        qv_reset_error();
    }
    return 0;
}

void qemu_virtiofs_stop(struct qemu_vm *q, const struct qv_domain *def)
{
    struct qv_error_saved e;
    qv_error_save(&e);
    each_virtiofs(q, def, stop_one, NULL);
    qv_error_restore(&e);
}

struct live {
    GArray *out;
    unsigned n;
};

static int check_one(struct qemu_vm *q, guint index, const xmlNode *n, void *u)
{
    struct live *l = u;
    g_autofree char *sock = sock_path(q, index);
    g_autoptr(GPtrArray) argv = qemu_virtiofsd_argv(n, sock);
    if (!argv)
        return 0; /* someone else's */
    struct proc_identity id;
    bool alive = find_daemon(sock, &id) == 0;
    if (alive)
        proc_identity_clear(&id);
    g_autofree char *tag = tag_of(n);
    qv_stats_str(l->out, tag, "virtiofs.%u.tag", l->n);
    qv_stats_str(l->out, alive ? "running" : "exited", "virtiofs.%u.virtiofsd", l->n);
    l->n++;
    if (!alive)
        proc_log(q->dir, "virtiofsd for <filesystem> '%s' is no longer running", tag);
    return 0;
}

void qemu_virtiofs_live(struct qemu_vm *q, const struct qv_domain *def, GArray *out)
{
    struct live l = {out, 0};
    each_virtiofs(q, def, check_one, &l);
    qv_reset_error();
}
