/* Sockets QEMU listens on at a path the user chose: a <channel type='unix'>
 * with a <source path=> (always a server), and a unix <serial> or
 * <console> with mode='bind'. QEMU's server=on unlinks whatever is at the
 * path before it binds, so a path is refused, naming the element, when it
 * lies in qv's own state (this connection's state directory, qv's default
 * one, its runtime directory: VM definitions, QMP sockets, locks), when
 * something other than a socket is there (a leftover socket is what QEMU
 * replaces), or when two of them would bind one path. QEMU binds them
 * under the umask 027 it sets when it daemonizes (0750: nobody else may
 * connect); once it has, qv makes each 0600. */
#define _GNU_SOURCE /* O_PATH */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "qemu_vm.h"

/* The path with its directory's symlinks resolved when that directory
 * exists, else lexically normalised ("..", "//"). */
static char *canonical(const char *path)
{
    g_autofree char *norm = g_canonicalize_filename(path, "/");
    g_autofree char *parent = g_path_get_dirname(norm);
    g_autofree char *base = g_path_get_basename(norm);
    char buf[PATH_MAX];
    if (realpath(parent, buf))
        return g_build_filename(buf, base, NULL);
    return g_steal_pointer(&norm);
}

static char *canonical_dir(const char *dir)
{
    char buf[PATH_MAX];
    if (realpath(dir, buf))
        return g_strdup(buf);
    return g_canonicalize_filename(dir, "/");
}

static bool inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1) /* "/" itself is no state directory */
        return false;
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static const char *kind_of(mode_t m)
{
    return S_ISREG(m)    ? "regular file"
           : S_ISDIR(m)  ? "directory"
           : S_ISLNK(m)  ? "symbolic link"
           : S_ISFIFO(m) ? "FIFO"
           : S_ISBLK(m)  ? "block device"
           : S_ISCHR(m)  ? "character device"
                         : "file";
}

static int check_one(const char *vm, const char *what, const char *path,
                     const char *const *protected, GHashTable *seen)
{
    g_autofree char *canon = canonical(path);
    for (const char *const *d = protected; *d; d++) {
        g_autofree char *dir = canonical_dir(*d);
        if (inside(canon, dir))
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': %s <source path='%s'> is inside qv's state directory "
                                "%s, where QEMU would replace qv's own files with its socket",
                                vm, what, path, dir);
    }
    const char *other = g_hash_table_lookup(seen, canon);
    if (other)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': %s <source path='%s'>: %s listens there too", vm, what, path,
                            other);
    g_hash_table_insert(seen, g_strdup(canon), g_strdup(what));
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': %s <source path='%s'> is an existing %s, which QEMU would "
                            "delete to put its socket there",
                            vm, what, path, kind_of(st.st_mode));
    return 0;
}

/* Each socket path QEMU binds as the definition says, with what names it. */
static int for_each_bind(const struct qv_domain *def,
                         int (*fn)(const char *what, const char *path, void *arg), void *arg)
{
    for (guint i = 0; i < def->channels->len; i++) {
        const struct qv_channel *c = g_ptr_array_index(def->channels, i);
        if (c->type != QV_CHR_UNIX || !c->path)
            continue;
        g_autofree char *what = g_strdup_printf("<channel> %u", i + 1);
        if (fn(what, c->path, arg) < 0)
            return qv_error_code();
    }
    GPtrArray *lists[] = {def->serials, def->consoles};
    const char *names[] = {"serial", "console"};
    for (size_t l = 0; l < G_N_ELEMENTS(lists); l++)
        for (guint i = 0; i < lists[l]->len; i++) {
            const struct qv_chardev *c = g_ptr_array_index(lists[l], i);
            if (c->type != QV_CHR_UNIX || !c->listen || !c->path)
                continue;
            /* A serial-type <console> repeats the first <serial> (libvirt
             * writes both); alone, it is that port. */
            if (l == 1 && g_strcmp0(c->target_type, "virtio") != 0 && def->serials->len)
                continue;
            g_autofree char *what = g_strdup_printf("<%s> %u", names[l], i + 1);
            if (fn(what, c->path, arg) < 0)
                return qv_error_code();
        }
    return 0;
}

struct check_ctx {
    const char *vm;
    const char *const *protected;
    GHashTable *seen;
};

static int check_cb(const char *what, const char *path, void *arg)
{
    struct check_ctx *x = arg;
    return check_one(x->vm, what, path, x->protected, x->seen);
}

int qemu_check_bind_paths(const struct qv_domain *def, const char *state_dir)
{
    g_autofree char *deflt = qv_conn_default_state_dir();
    g_autofree char *runtime = proc_runtime_base();
    const char *protected[] = {state_dir, deflt, runtime, NULL};
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    struct check_ctx x = {def->name, protected, seen};
    return for_each_bind(def, check_cb, &x);
}

/* chmod through an O_PATH descriptor: the socket QEMU made, not whatever
 * a link someone put at the path since points to. */
static int chmod_cb(const char *what, const char *path, void *arg)
{
    (void)what;
    (void)arg;
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
        g_autofree char *self = g_strdup_printf("/proc/self/fd/%d", fd);
        (void)chmod(self, 0600);
    }
    close(fd);
    return 0;
}

void qemu_chmod_bind_paths(const struct qv_domain *def)
{
    for_each_bind(def, chmod_cb, NULL);
}
