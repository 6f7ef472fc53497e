/* Starting helper processes: posix_spawn, never a shell. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util/error.h"
#include "../util/fileio.h"
#include "proc.h"

extern char **environ;

/* The caller's environment less what injects code into every process it
 * starts (LD_PRELOAD, LD_AUDIT): an application preloading a sanitizer or a
 * profiler into itself must not have QEMU and its tools run under it too
 * (QEMU under a preloaded ASan runtime hangs). */
char **proc_child_environ(void)
{
    GPtrArray *env = g_ptr_array_new();
    for (char **e = environ; e && *e; e++)
        if (!g_str_has_prefix(*e, "LD_PRELOAD=") && !g_str_has_prefix(*e, "LD_AUDIT="))
            g_ptr_array_add(env, g_strdup(*e));
    g_ptr_array_add(env, NULL);
    return (char **)g_ptr_array_free(env, FALSE);
}

int proc_spawn(char *const argv[], const char *log_path, pid_t *pid)
{
    return proc_spawn_env(argv, NULL, log_path, pid);
}

/* environ less the loader's variables, with extra's replacing the same names. */
static char **child_environ_with(char *const extra[])
{
    g_auto(GStrv) base = proc_child_environ();
    GPtrArray *env = g_ptr_array_new();
    for (char **e = base; *e; e++) {
        bool replaced = false;
        for (char *const *x = extra; x && *x && !replaced; x++) {
            const char *eq = strchr(*x, '=');
            size_t n = eq ? (size_t)(eq - *x) + 1 : strlen(*x);
            replaced = strncmp(*e, *x, n) == 0;
        }
        if (!replaced)
            g_ptr_array_add(env, g_strdup(*e));
    }
    for (char *const *x = extra; x && *x; x++)
        g_ptr_array_add(env, g_strdup(*x));
    g_ptr_array_add(env, NULL);
    return (char **)g_ptr_array_free(env, FALSE);
}

int proc_spawn_env(char *const argv[], char *const extra_env[], const char *log_path, pid_t *pid)
{
    if (!argv || !argv[0])
        return qv_error_set(QV_ERR_INVALID_ARG, "nothing to spawn: argv is empty");
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    /* The log is opened here, not by the child: with O_NOFOLLOW and a mode
     * that does not depend on the caller's umask. */
    int log_fd = log_path ? qv_file_open_private(log_path, O_WRONLY | O_APPEND)
                          : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (log_fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open '%s'",
                                  log_path ? log_path : "/dev/null");
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, log_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, log_fd, 2);
    /* A caller that ignores SIGPIPE or blocks signals must not pass that on. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    g_auto(GStrv) envp = child_environ_with(extra_env);
    int err = strchr(argv[0], '/') ? posix_spawn(pid, argv[0], &fa, &attr, argv, envp)
                                   : posix_spawnp(pid, argv[0], &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(log_fd);
    if (err)
        return qv_error_set_errno(QV_ERR_SYSTEM, err, "cannot run '%s'", argv[0]);
    return 0;
}

int proc_child_wait(pid_t pid, int timeout_ms, int *status)
{
    gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    gulong sleep_us = 250;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot wait for process %d", (int)pid);
        if (deadline >= 0 && g_get_monotonic_time() >= deadline)
            return qv_error_set(QV_ERR_TIMEOUT, "process %d did not exit within %d ms", (int)pid,
                                timeout_ms);
        g_usleep(sleep_us);
        if (sleep_us < 2000)
            sleep_us *= 2;
    }
}

int proc_run_tool(const char *const *argv, char **out)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GSubprocessLauncher) l =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_auto(GStrv) envp = proc_child_environ();
    g_subprocess_launcher_set_environ(l, envp);
    g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, argv, &err);
    if (!p)
        return qv_error_set(QV_ERR_SYSTEM, "cannot run %s: %s", argv[0], err->message);
    g_autofree char *o = NULL, *e = NULL;
    if (!g_subprocess_communicate_utf8(p, NULL, NULL, &o, &e, &err))
        return qv_error_set(QV_ERR_IO, "%s failed: %s", argv[0], err->message);
    if (!g_subprocess_get_successful(p)) {
        g_strstrip(e);
        return qv_error_set(QV_ERR_BACKEND, "%s failed: %s", argv[0], *e ? e : "(no message)");
    }
    if (out)
        *out = g_steal_pointer(&o);
    return 0;
}
