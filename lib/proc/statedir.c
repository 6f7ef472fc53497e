/* Where a process-backed VM keeps its state, its lock, and its log. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/error.h"
#include "../util/fileio.h"
#include "../util/lock.h"
#include "cgroup.h"
#include "proc.h"

char *proc_vm_dir(const char *state_dir, const char *kind, const char *name)
{
    return g_build_filename(state_dir, kind, name, NULL);
}

char *proc_runtime_base(void)
{
    const char *xdg = g_getenv("XDG_RUNTIME_DIR");
    if (xdg && g_path_is_absolute(xdg))
        return g_build_filename(xdg, "qv", NULL);
    if (geteuid() == 0)
        return g_strdup("/run/qv");
    return g_build_filename(g_get_user_cache_dir(), "qv", NULL);
}

int proc_kind_dir_ensure(const char *state_dir, const char *kind)
{
    /* The root too: whoever owns it can swap the subdirectories under us.
     * (stat, not lstat: the user may point at it through a symlink.) */
    struct stat st;
    if (stat(state_dir, &st) == 0 && qv_dir_check_owner(state_dir, &st) < 0)
        return qv_error_code();
    g_autofree char *dir = g_build_filename(state_dir, kind, NULL);
    return qv_dir_ensure(dir, 0700);
}

int proc_lock(const char *state_dir, const char *kind, const char *name, int timeout_ms)
{
    int rc = proc_kind_dir_ensure(state_dir, kind);
    if (rc < 0)
        return rc;
    g_autofree char *base = g_strdup_printf(".%s.lock", name);
    g_autofree char *path = g_build_filename(state_dir, kind, base, NULL);
    rc = qv_lock_acquire(path, timeout_ms);
    if (rc == QV_ERR_BUSY)
        qv_error_set(QV_ERR_BUSY, "VM '%s' is busy: another caller holds its lock (%s)", name,
                     path);
    return rc;
}

void proc_unlock(int fd)
{
    qv_lock_release(fd);
}

void proc_log(const char *dir, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format_iso8601(now);
    g_autofree char *line = g_strdup_printf("%s %s\n", stamp, msg);
    g_autofree char *path = g_build_filename(dir, "qv.log", NULL);
    int fd = qv_file_open_private(path, O_WRONLY | O_APPEND);
    if (fd < 0)
        return;
    ssize_t n = write(fd, line, strlen(line));
    (void)n;
    close(fd);
}

void proc_cleanup_runtime(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    if (d) {
        const char *e;
        while ((e = g_dir_read_name(d)))
            if (g_str_has_suffix(e, ".sock")) {
                g_autofree char *p = g_build_filename(dir, e, NULL);
                unlink(p);
            }
    }
    struct proc_runtime rt;
    if (proc_runtime_read(dir, &rt) == 0) {
        proc_runtime_remove_cgroups(&rt, dir);
        proc_runtime_clear(&rt);
    } else {
        qv_reset_error();
    }
    proc_runtime_remove(dir);
}

int proc_list_vms(const char *state_dir, const char *kind, GPtrArray *names)
{
    g_autofree char *dir = g_build_filename(state_dir, kind, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &err);
    if (!d) {
        if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return 0;
        return qv_error_set(QV_ERR_IO, "cannot list '%s': %s", dir, err->message);
    }
    const char *e;
    while ((e = g_dir_read_name(d))) {
        if (e[0] == '.')
            continue;
        g_autofree char *xml = g_build_filename(dir, e, "domain.xml", NULL);
        if (g_file_test(xml, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add(names, g_strdup(e));
    }
    return 0;
}
