/* qv-vmm's Landlock ruleset, computed in this one place from what it
 * hosts: the hosted VM's definition, the driver URI and the state
 * directory. docs/architecture.md ("qv-vmm's Landlock ruleset") lists the
 * same paths with the same reasons; keep them together. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/api/driver.h"
#include "lib/conf/domain.h"
#include "lib/proc/landlock.h"
#include "lib/proc/proc.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "vmm.h"

/* A file the driver will create at start (a file console): made now,
 * empty and private, so that a file rule can name it; otherwise only a
 * right to create files in its whole directory would let it be made. */
static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
    if (fd >= 0)
        close(fd);
}

/* Each disk's own file only, never its directory: kvm:///embed's
 * snapshot-load copies a disk back over the image in place
 * (qv_file_overwrite; the write right covers its ftruncate), and its
 * crash record lives in the VM's snapshot store. */
static void add_disks(struct proc_landlock_rules *r, const struct qv_domain *def)
{
    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        const struct qv_disk *d = def->disks->pdata[i];
        if (!d->source)
            continue;
        unsigned a = PROC_LL_READ | (d->readonly ? 0 : PROC_LL_WRITE);
        struct stat st = {0};
        if (stat(d->source, &st) == 0 && S_ISBLK(st.st_mode))
            a |= PROC_LL_IOCTL; /* BLKGETSIZE64 when the disk is reopened */
        proc_landlock_allow(r, d->source, a,
                            d->readonly ? "a read-only disk, reopened on reset and restore"
                                        : "a disk, reopened on reset and restore; its snapshot "
                                          "copy is read from it, and a snapshot-load writes it "
                                          "back over the image in place");
    }
}

/* Whether path is a unix socket nobody listens on: left by an earlier
 * run. A live one (another VM's, say a clone's source's) is left alone;
 * binding it then fails, naming it. */
static bool stale_socket(const char *path)
{
    struct stat st;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || strlen(path) >= sizeof(sa.sun_path))
        return false;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    bool stale = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED;
    close(fd);
    return stale;
}

static void add_chardev(struct proc_landlock_rules *r, enum qv_chardev_type type, const char *path,
                        bool listen)
{
    switch (type) {
    case QV_CHR_PTY:
        proc_landlock_allow(r, "/dev/ptmx", PROC_LL_READ | PROC_LL_WRITE | PROC_LL_IOCTL,
                            "a pty console, made again on reset (posix_openpt, grantpt, "
                            "unlockpt)");
        proc_landlock_allow(r, "/dev/pts", PROC_LL_READ | PROC_LL_WRITE | PROC_LL_IOCTL,
                            "the pty console's terminal, opened and set raw to relay it");
        break;
    case QV_CHR_FILE:
        if (path) {
            touch(path);
            proc_landlock_allow(r, path, PROC_LL_WRITE,
                                "a file console, truncated and written on every start");
        }
        break;
    case QV_CHR_UNIX:
        if (path && listen) {
            /* Landlock's remove right would cover every file under the
             * socket's directory (another VM's sockets and records, the
             * user's files), so only making sockets is allowed there. A
             * socket left by an earlier run (nobody listens) is removed
             * now, before the domain; this run's stays after it exits and
             * is replaced at the next start (docs/architecture.md). Only
             * a dead socket: a live one or a file of another kind at that
             * path is someone else's. */
            if (stale_socket(path))
                unlink(path);
            g_autofree char *dir = g_path_get_dirname(path);
            proc_landlock_allow(r, dir, PROC_LL_MAKE_SOCK,
                                "a listening unix console: its socket is bound at start (one "
                                "left by an earlier run was removed before the domain)");
        }
        break; /* connecting to a unix socket needs no right up to ABI 7 */
    default: break;
    }
}

static void add_nets(struct proc_landlock_rules *r, const struct qv_domain *def)
{
    bool tap = false;
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        const struct qv_net *n = def->nets->pdata[i];
        if (n->type == QV_NET_USER) {
            /* libslirp connects out to whatever the guest asks, as
             * QEMU's user networking: TCP connect stays open. */
            r->connect_any = true;
            if (n->host_port)
                proc_landlock_allow_bind(r, n->host_port);
        } else {
            tap = true;
        }
    }
    if (r->connect_any)
        proc_landlock_allow(r, "/etc/resolv.conf", PROC_LL_READ,
                            "libslirp reads the host's name servers for the guest's DNS "
                            "(10.0.2.3), again when the file changes");
    if (tap)
        proc_landlock_allow(r, "/dev/net/tun", PROC_LL_READ | PROC_LL_WRITE | PROC_LL_IOCTL,
                            "a tap NIC attaches to its interface again on reset (TUNSETIFF)");
}

/* Where the hosted driver keeps the VM between runs, made now if missing
 * (the driver makes the same directories at its first snapshot). */
static void add_store(struct proc_landlock_rules *r, const char *uri, const char *name)
{
    g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_ENCODED_QUERY, NULL);
    const char *scheme = u ? g_uri_get_scheme(u) : NULL;
    if (g_strcmp0(scheme, "kvm") == 0) {
        proc_landlock_allow(r, "/dev/kvm", PROC_LL_READ | PROC_LL_WRITE | PROC_LL_IOCTL,
                            "KVM: the VM is built again on reset and restore");
        g_autofree char *root = NULL;
        const char *query = g_uri_get_query(u);
        if (query) {
            g_autoptr(GHashTable) params =
                g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, NULL);
            const char *p = params ? g_hash_table_lookup(params, "root") : NULL;
            root = p ? g_strdup(p) : NULL;
        }
        if (!root)
            root = qv_conn_default_state_dir();
        g_autofree char *dir = proc_vm_dir(root, "kvm-embed", name);
        g_autofree char *lockname = g_strdup_printf(".%s.lock", name);
        g_autofree char *lock = g_build_filename(root, "kvm-embed", lockname, NULL);
        if (proc_kind_dir_ensure(root, "kvm-embed") == 0 && qv_dir_ensure(dir, 0700) == 0) {
            int fd = qv_file_open_private(lock, O_RDWR);
            if (fd >= 0)
                close(fd);
        }
        qv_reset_error(); /* a store that cannot be made fails at the first snapshot, as before */
        proc_landlock_allow(r, dir, PROC_LL_TREE,
                            "kvm:///embed's state of the VM: its snapshots, written, read, "
                            "listed and deleted by the snapshot jobs");
        proc_landlock_allow(r, lock, PROC_LL_READ | PROC_LL_WRITE,
                            "the lock on that state, taken at the first snapshot job");
    } else if (g_strcmp0(scheme, "noop") == 0 && u && strlen(g_uri_get_path(u)) > 1) {
        const char *store = g_uri_get_path(u);
        g_autofree char *dir = g_build_filename(store, name, NULL);
        g_autofree char *locks = g_build_filename(store, ".locks", NULL);
        proc_landlock_allow(r, dir, PROC_LL_TREE,
                            "a noop:///DIR store's VM: its state and snapshots");
        proc_landlock_allow(r, locks, PROC_LL_READ | PROC_LL_WRITE | PROC_LL_MAKE_REG,
                            "the store's per-VM lock files");
    }
}

struct proc_landlock_rules *vmm_landlock_rules(struct vmm *v)
{
    struct proc_landlock_rules *r = proc_landlock_rules_new("qv-vmm");
    /* The state directory: sockets only. No right to create regular
     * files, write or read there, so nothing can put content of its
     * choosing at runtime.json, state.json or domain.xml, which qv
     * writes and trusts (removing them is possible: qv-vmm removes its
     * sockets). */
    proc_landlock_allow(r, v->dir, PROC_LL_MAKE_SOCK | PROC_LL_REMOVE,
                        "the state directory: console.sock bound (and a stale one replaced) once "
                        "the guest runs, qmp.sock, status.sock and console.sock removed at exit");
    g_autofree char *log = g_build_filename(v->dir, "console.log", NULL);
    proc_landlock_allow(r, log, PROC_LL_WRITE, "console.log, appended to (already open)");
    g_autofree char *exitf = g_build_filename(v->dir, "exit.json", NULL);
    proc_landlock_allow(r, exitf, PROC_LL_WRITE,
                        "exit.json, made empty before and filled in at exit (vmm_main.c)");
    proc_landlock_allow(r, "/proc/self", PROC_LL_READ,
                        "the process's own /proc: query-cpus-fast lists its threads, glibc "
                        "reads its maps, LeakSanitizer its tasks at exit");

    char *xml = vm_get_xml(v->vm);
    g_autoptr(qv_domain) def = xml ? qv_domain_parse_xml(xml) : NULL;
    qv_free(xml);
    if (!def) {
        proc_landlock_rules_free(r);
        qv_error_prefix("cannot read VM '%s''s definition for its Landlock ruleset",
                        vm_get_name(v->vm));
        return NULL;
    }
    if (def->os.kernel)
        proc_landlock_allow(r, def->os.kernel, PROC_LL_READ,
                            "the kernel, loaded again on reset and restore");
    if (def->os.initrd)
        proc_landlock_allow(r, def->os.initrd, PROC_LL_READ,
                            "the initrd, loaded again on reset and restore");
    add_disks(r, def);
    for (guint i = 0; def->serials && i < def->serials->len; i++) {
        const struct qv_chardev *c = def->serials->pdata[i];
        add_chardev(r, c->type, c->path, c->listen);
    }
    for (guint i = 0; def->consoles && i < def->consoles->len; i++) {
        const struct qv_chardev *c = def->consoles->pdata[i];
        add_chardev(r, c->type, c->path, c->listen);
    }
    add_nets(r, def);
    add_store(r, v->uri, vm_get_name(v->vm));
    return r;
}
